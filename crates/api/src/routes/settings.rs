//! The three-step set-up: memo settings, enable, advanced settings (ERP link, card expiry,
//! single-item choice, test mode, templates), and the audit trail of every change.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shiphold_domain::{
    BuyerId, CardExpiry, FieldError, Flag, MemoText, TERMS_VERSION, ValidationError,
};
use shiphold_messaging::{Locale, TemplateKind};
use utoipa::ToSchema;

use super::{Listing, PageQuery, json, shown_once};
use crate::extract::{JsonBody, Path, Query};
use crate::problem::ApiError;
use crate::service::Caller;
use crate::service::setup::{self, AdvancedChange, Settings, WithSecret};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(show))
        .routes(routes!(set_memo))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(set_advanced))
        .routes(routes!(set_erp, remove_erp))
        .routes(routes!(set_marketplace, remove_marketplace))
        .routes(routes!(set_marketplace_webhook, remove_marketplace_webhook))
        .routes(routes!(set_qimen, remove_qimen))
        .routes(routes!(rotate_secret))
        .routes(routes!(drop_previous_secret))
        .routes(routes!(set_template, remove_template))
        .routes(routes!(audit_trail))
}

/// The shop's settings and what enabling still needs.
#[derive(Debug, Serialize, ToSchema)]
struct SettingsView {
    /// The note written into an intercepted order's seller memo.
    memo_text: Option<String>,
    /// The flag set on intercepted orders.
    #[schema(value_type = crate::schema::mirror::Flag)]
    flag: Flag,
    terms: TermsView,
    /// Whether interception is on.
    enabled: bool,
    /// What enabling still needs; empty when it can be enabled.
    missing: Vec<MissingView>,
    advanced: AdvancedView,
    /// The shop's buyer-message template overrides, by kind and locale.
    #[schema(value_type = Object)]
    templates: Value,
    /// Increases with every change.
    version: i64,
}

/// The terms of use and whether the shop accepted the current version.
#[derive(Debug, Serialize, ToSchema)]
struct TermsView {
    current_version: &'static str,
    /// Where the current terms can be read (`/terms`), before they are accepted.
    #[schema(example = "/terms")]
    url: &'static str,
    accepted: bool,
    accepted_version: Option<String>,
    /// Who accepted them (`staff:<login>` or `api_key:<id>`).
    accepted_by: Option<String>,
    accepted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A precondition of enabling that is not met.
#[derive(Debug, Serialize, ToSchema)]
struct MissingView {
    /// `memo_text` or `terms`.
    field: &'static str,
    message: &'static str,
}

/// Step 3: the ERP link, cards and test mode.
#[derive(Debug, Serialize, ToSchema)]
struct AdvancedView {
    erp: Option<ErpView>,
    marketplace: Option<MarketplaceView>,
    marketplace_webhook: Option<MarketplaceWebhookView>,
    qimen: Option<QimenView>,
    /// How long a card's link stays usable.
    card_expiry_seconds: i64,
    /// Whether buyers may choose single items on a card (else the whole order).
    single_item_choice: bool,
    /// Whether the shop's test buyers may use cards and interceptions outside event windows.
    test_mode: bool,
    #[schema(value_type = Vec<String>)]
    test_buyers: Vec<BuyerId>,
}

/// The shop's ERP link.
#[derive(Debug, Serialize, ToSchema)]
struct ErpView {
    /// Where interception messages are POSTed.
    endpoint: String,
    /// Whether the buyer is told "stopped" only after the ERP reports the item locked.
    locking: bool,
    /// False when the link was switched off (the ERP answered 410); `disabled_reason` says why.
    /// `PUT /v1/settings/erp` switches it on again.
    active: bool,
    disabled_reason: Option<String>,
    /// ERP messages waiting for the link to be switched on again; they are delivered, in order,
    /// once it is.
    waiting_messages: i64,
    /// `***` when a signing secret is set; the secret itself is shown only once.
    signing_secret: &'static str,
    /// `***` while a rotation keeps the previous secret (it still signs deliveries and is
    /// accepted on callbacks); `DELETE /v1/settings/erp/previous-secret` drops it.
    previous_signing_secret: &'static str,
    /// Where the ERP posts its signed results.
    callback_url: String,
}

/// The shop's marketplace link: memos and flags written back to marketplace orders.
#[derive(Debug, Serialize, ToSchema)]
struct MarketplaceView {
    /// The platform's REST gateway calls are posted to.
    #[schema(example = "https://gw.api.taobao.com/router/rest")]
    gateway: String,
    /// The application's key (`app_key`).
    app_key: String,
    /// `md5`, `hmac` or `hmac-sha256`.
    #[schema(example = "hmac-sha256")]
    sign_method: &'static str,
    /// False when the platform refused the link's credentials (wrong secret, expired session,
    /// no permission); `disabled_reason` says why. `PUT /v1/settings/marketplace` switches it
    /// on again.
    active: bool,
    disabled_reason: Option<String>,
    /// Write-backs waiting for the link to be switched on again; they are sent, in order, once
    /// it is.
    waiting_writes: i64,
    /// `***` when the app secret is stored; it is never shown.
    app_secret: &'static str,
    /// `***` when the seller's session is stored; it is never shown.
    session: &'static str,
}

/// The shop's marketplace webhook: memo write-backs POSTed, signed, to the merchant's endpoint.
#[derive(Debug, Serialize, ToSchema)]
struct MarketplaceWebhookView {
    /// Where write-backs are POSTed.
    #[schema(example = "https://shop.example.com/shiphold/memo")]
    endpoint: String,
    /// False when the endpoint answered 410 Gone; `disabled_reason` says why.
    /// `PUT /v1/settings/marketplace-webhook` switches it on again.
    active: bool,
    disabled_reason: Option<String>,
    /// Write-backs waiting for the link to be switched on again.
    waiting_writes: i64,
    /// `***` when a signing secret is set; the secret itself is shown only once.
    signing_secret: &'static str,
}

/// The shop's Qimen warehouse link: interceptions hold the order's whole document there.
#[derive(Debug, Serialize, ToSchema)]
struct QimenView {
    /// Where calls are posted.
    #[schema(example = "https://qimen.api.taobao.com/router/qimen/service")]
    endpoint: String,
    /// The application's key (`app_key`).
    app_key: String,
    /// The merchant's id at the gateway (`customerId`).
    customer_id: String,
    /// The warehouse (`warehouseCode`).
    warehouse_code: String,
    /// The goods owner (`ownerCode`).
    owner_code: Option<String>,
    /// The kind of document held (`orderType`).
    #[schema(example = "JYCK")]
    order_type: String,
    /// False when the warehouse refused the link itself (signature, credentials); see
    /// `disabled_reason`. `PUT /v1/settings/qimen` switches it on again.
    active: bool,
    disabled_reason: Option<String>,
    /// Calls waiting for the link to be switched on again; they are sent, in order, once it is.
    waiting_calls: i64,
    /// `***` when the app secret is stored; it is never shown.
    app_secret: &'static str,
}

fn view(state: &AppState, shop: &shiphold_domain::ShopId, read: &Settings) -> SettingsView {
    let record = &read.record;
    let s = &record.settings;
    let masked = |secret: &Option<String>| if secret.is_some() { "***" } else { "" };
    SettingsView {
        memo_text: s.memo_text.as_ref().map(|m| m.as_str().to_owned()),
        flag: s.flag,
        terms: TermsView {
            current_version: TERMS_VERSION,
            url: "/terms",
            accepted: s.terms.as_ref().is_some_and(|t| t.version == TERMS_VERSION),
            accepted_version: s.terms.as_ref().map(|t| t.version.clone()),
            accepted_by: s.terms.as_ref().map(|t| t.accepted_by.clone()),
            accepted_at: s.terms.as_ref().map(|t| t.accepted_at),
        },
        enabled: s.enabled,
        missing: s
            .missing_for_enable()
            .into_iter()
            .map(|m| MissingView {
                field: m.field(),
                message: m.message(),
            })
            .collect(),
        advanced: AdvancedView {
            erp: s.advanced.erp.as_ref().map(|e| ErpView {
                endpoint: e.endpoint.clone(),
                locking: e.locking,
                active: e.active,
                disabled_reason: e.disabled_reason.clone(),
                waiting_messages: read.held_erp_messages,
                signing_secret: masked(&record.erp_secret),
                previous_signing_secret: masked(&record.erp_secret_previous),
                callback_url: format!(
                    "{}/v1/erp/shops/{}/results",
                    state.config().public_base_url.trim_end_matches('/'),
                    shop
                ),
            }),
            marketplace: s.advanced.marketplace.as_ref().map(|m| MarketplaceView {
                gateway: m.gateway.clone(),
                app_key: m.app_key.clone(),
                sign_method: m.sign_method.as_str(),
                active: m.active,
                disabled_reason: m.disabled_reason.clone(),
                waiting_writes: read.held_marketplace_writes,
                app_secret: masked(&record.marketplace_secret),
                session: masked(&record.marketplace_session),
            }),
            marketplace_webhook: s.advanced.marketplace_webhook.as_ref().map(|h| {
                MarketplaceWebhookView {
                    endpoint: h.endpoint.clone(),
                    active: h.active,
                    disabled_reason: h.disabled_reason.clone(),
                    waiting_writes: read.held_marketplace_writes,
                    signing_secret: masked(&record.marketplace_webhook_secret),
                }
            }),
            qimen: s.advanced.qimen.as_ref().map(|q| QimenView {
                endpoint: q.endpoint.clone(),
                app_key: q.app_key.clone(),
                customer_id: q.customer_id.clone(),
                warehouse_code: q.warehouse_code.clone(),
                owner_code: q.owner_code.clone(),
                order_type: q.order_type.clone(),
                active: q.active,
                disabled_reason: q.disabled_reason.clone(),
                waiting_calls: read.held_qimen_calls,
                app_secret: masked(&record.qimen_secret),
            }),
            card_expiry_seconds: s.advanced.card_expiry.seconds(),
            single_item_choice: s.advanced.single_item_choice,
            test_mode: s.advanced.test_mode,
            test_buyers: s.advanced.test_buyers.clone(),
        },
        templates: record.templates.clone(),
        version: record.version,
    }
}

/// The settings and what enabling still needs (admin or agent).
#[utoipa::path(
    get,
    path = "/v1/settings",
    tag = "settings",
    operation_id = "get_settings",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn show(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let record = setup::get(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

fn settings(state: &AppState, caller: &Caller, record: &Settings) -> Response {
    json(StatusCode::OK, &view(state, &caller.shop_id, record))
}

/// Step 1: the memo settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MemoBody {
    /// The note for the seller memo (required before enabling): not blank, at most 1000 bytes of
    /// UTF-8, no control characters but line breaks; `null` clears it.
    #[schema(
        example = "Intercepted by the buyer: do not ship",
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f\\s][^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$"
    )]
    memo_text: Option<String>,
    /// `none` when absent.
    #[serde(default)]
    #[schema(example = "red", value_type = Option<crate::schema::mirror::Flag>)]
    flag: Option<String>,
    /// Accepts the current terms of use, recorded with the key and the time.
    #[serde(default)]
    accept_terms: bool,
}

/// Step 1: sets the memo text, the flag and accepts the terms (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/memo",
    tag = "settings",
    operation_id = "set_memo",
    security(("api_key" = [])),
    request_body = MemoBody,
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::SetupIncomplete),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_memo(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<MemoBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let mut errors = ValidationError::empty();
    let memo = match body.memo_text.as_deref() {
        Some(raw) => errors.check(MemoText::parse(raw)),
        None => None,
    };
    let flag = match body.flag.as_deref() {
        Some(raw) => errors.check(Flag::parse(raw)).unwrap_or_default(),
        None => Flag::None,
    };
    let memo_and_flag = errors.into_result().map(|()| (memo, flag));
    let record = setup::set_memo(&state, &caller, memo_and_flag, body.accept_terms).await?;
    Ok(settings(&state, &caller, &record))
}

/// Step 2: enables interception; refused with every missing precondition listed (admin).
#[utoipa::path(
    post,
    path = "/v1/settings/enable",
    tag = "settings",
    operation_id = "enable",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Interception is enabled.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::SetupIncomplete),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn enable(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let record = setup::enable(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Why interception is being switched off; the body may be left out.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[schema(as = DisableBody)]
#[serde(deny_unknown_fields)]
struct DisableBody {
    /// Why (at most 200 characters), kept in the audit trail.
    #[schema(max_length = 200, example = "Refunds are open again")]
    reason: Option<String>,
}

/// Disables interception (admin).
#[utoipa::path(
    post,
    path = "/v1/settings/disable",
    tag = "settings",
    operation_id = "disable",
    security(("api_key" = [])),
    request_body = Option<DisableBody>,
    responses(
        (status = 200, description = "Interception is disabled.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 422, response = crate::schema::ValidationFailedOrKeyReused),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    body: crate::extract::MaybeJson<DisableBody>,
) -> Result<Response, ApiError> {
    let body = body.value.unwrap_or_default();
    let reason = crate::service::release::parse_reason(body.reason.as_deref()).map_err(Into::into);
    let record = setup::disable(&state, &caller, reason).await?;
    Ok(settings(&state, &caller, &record))
}

/// Step 3: advanced settings; absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AdvancedBody {
    /// How long a card's link stays usable, in seconds: 5 minutes to 7 days.
    #[schema(example = 86400, minimum = 300, maximum = 604_800)]
    #[serde(default, deserialize_with = "crate::extract::whole::optional")]
    card_expiry_seconds: Option<i64>,
    /// Whether buyers may choose single items on a card.
    single_item_choice: Option<bool>,
    /// Whether test buyers may use cards outside event windows.
    test_mode: Option<bool>,
    /// The buyer ids of test buyers, at most 100; replaces the list.
    #[schema(value_type = Option<Vec<crate::schema::mirror::Id>>, max_items = 100)]
    test_buyers: Option<Vec<String>>,
}

/// Step 3: card expiry, single-item choice and test mode (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/advanced",
    tag = "settings",
    operation_id = "set_advanced",
    security(("api_key" = [])),
    request_body = AdvancedBody,
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_advanced(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<AdvancedBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let mut errors = ValidationError::empty();
    let expiry = body
        .card_expiry_seconds
        .and_then(|s| errors.check(CardExpiry::from_seconds(s)));
    let buyers = body.test_buyers.map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(i, raw)| {
                errors.check(BuyerId::parse(raw).map_err(|e| FieldError {
                    field: format!("test_buyers[{i}]"),
                    ..e
                }))
            })
            .collect::<Vec<_>>()
    });
    let change = errors.into_result().map(|()| AdvancedChange {
        card_expiry: expiry,
        single_item_choice: body.single_item_choice,
        test_mode: body.test_mode,
        test_buyers: buyers,
    });
    let record = setup::set_advanced(&state, &caller, change).await?;
    Ok(settings(&state, &caller, &record))
}

/// Step 3: the ERP link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ErpBody {
    /// The https URL interception messages are POSTed to; its host must resolve to public
    /// addresses only.
    #[schema(example = "https://erp.example.com/shiphold", pattern = "^https://")]
    endpoint: String,
    /// Tell the buyer "stopped" only after the ERP reports the item locked.
    #[serde(default)]
    locking: bool,
}

/// The settings with a newly generated signing secret.
#[derive(Debug, Serialize, ToSchema)]
struct ErpSecretView {
    #[schema(value_type = SettingsView)]
    settings: Value,
    /// Shown once (`whsec_…`): Shiphold stores it to sign messages but never shows it again.
    signing_secret: String,
}

/// The answer of linking an ERP: with the new secret when one was generated.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the two shapes `set_erp` answers with
#[serde(untagged)]
enum ErpLinked {
    /// The first link: a signing secret was generated.
    WithSecret(ErpSecretView),
    /// A change of an existing link: the secret stays.
    Settings(SettingsView),
}

/// Step 3: links the ERP; the first link generates the signing secret, shown once (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/erp",
    tag = "settings",
    operation_id = "set_erp",
    security(("api_key" = [])),
    request_body = ErpBody,
    responses(
        (status = 200, description = "The settings; with `signing_secret` when one was generated.", body = ErpLinked),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ErpEndpointInvalid),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_erp(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<ErpBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let linked = setup::set_erp(&state, &caller, body.endpoint, body.locking).await?;
    with_secret(&state, &caller, linked, "a new ERP signing secret")
}

/// The settings, with the once-shown secret when one was made.
fn with_secret(
    state: &AppState,
    caller: &Caller,
    linked: WithSecret,
    what: &str,
) -> Result<Response, ApiError> {
    let view = view(state, &caller.shop_id, &linked.record);
    let Some(secret) = linked.new_secret else {
        return Ok(json(StatusCode::OK, &view));
    };
    Ok(shown_once(
        json(
            StatusCode::OK,
            &ErpSecretView {
                settings: serde_json::to_value(&view).map_err(ApiError::internal)?,
                signing_secret: secret,
            },
        ),
        what,
    ))
}

/// Step 3: the marketplace link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MarketplaceBody {
    /// The platform's REST gateway; the Taobao Open Platform's when left out. https, and its
    /// host must resolve to public addresses only.
    #[schema(
        example = "https://gw.api.taobao.com/router/rest",
        pattern = "^https://"
    )]
    gateway: Option<String>,
    /// The application's key (`app_key`).
    #[schema(example = "12345678", min_length = 1, max_length = 512)]
    app_key: String,
    /// The application's secret. Required on the first link; left out, the stored one stays.
    /// Never shown again.
    #[schema(min_length = 1, max_length = 512)]
    app_secret: Option<String>,
    /// The seller's authorisation (`session`, the access token the seller granted the
    /// application). Required on the first link; left out, the stored one stays. Never shown
    /// again.
    #[schema(min_length = 1, max_length = 512)]
    session: Option<String>,
    /// `md5`, `hmac` or `hmac-sha256` (the default).
    #[schema(example = "hmac-sha256")]
    sign_method: Option<String>,
}

/// Step 3: links the marketplace, so memos and flags are written back to marketplace orders;
/// also changes the link, or switches back on a link the platform refused (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/marketplace",
    tag = "settings",
    operation_id = "set_marketplace",
    security(("api_key" = [])),
    request_body = MarketplaceBody,
    responses(
        (status = 200, description = "The settings after the change; the secret and session show as `***`.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::Conflict),
        (status = 422, response = crate::schema::GatewayInvalid),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_marketplace(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<MarketplaceBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let sign_method = match body.sign_method.as_deref() {
        None => Ok(shiphold_domain::MarketplaceSignMethod::default()),
        Some(raw) => shiphold_domain::MarketplaceSignMethod::parse(raw),
    };
    let change = sign_method
        .map_err(ValidationError::from)
        .map(|sign_method| setup::MarketplaceChange {
            gateway: body
                .gateway
                .unwrap_or_else(|| shiphold_marketplace_adapter::DEFAULT_GATEWAY.to_owned()),
            app_key: body.app_key,
            app_secret: body.app_secret,
            session: body.session,
            sign_method,
        });
    let record = setup::set_marketplace(&state, &caller, change).await?;
    Ok(settings(&state, &caller, &record))
}

/// Removes the marketplace link with its secret and session; write-backs still waiting become
/// dead letters (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/marketplace",
    tag = "settings",
    operation_id = "remove_marketplace",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove_marketplace(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let record = setup::remove_marketplace(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Step 3: the marketplace webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MarketplaceWebhookBody {
    /// The https URL write-backs are POSTed to; its host must resolve to public addresses only.
    #[schema(
        example = "https://shop.example.com/shiphold/memo",
        pattern = "^https://"
    )]
    endpoint: String,
}

/// Step 3: links a marketplace webhook, for a marketplace without the open platform: memo
/// write-backs are POSTed to the endpoint, signed like ERP messages; the first link generates
/// the signing secret, shown once (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/marketplace-webhook",
    tag = "settings",
    operation_id = "set_marketplace_webhook",
    security(("api_key" = [])),
    request_body = MarketplaceWebhookBody,
    responses(
        (status = 200, description = "The settings; with `signing_secret` when one was generated.", body = ErpLinked),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::Conflict),
        (status = 422, response = crate::schema::ErpEndpointInvalid),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_marketplace_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<MarketplaceWebhookBody>,
) -> Result<Response, ApiError> {
    let linked = setup::set_marketplace_webhook(&state, &caller, body.value.endpoint).await?;
    with_secret(
        &state,
        &caller,
        linked,
        "a new marketplace webhook signing secret",
    )
}

/// Removes the marketplace webhook and its secret; write-backs still waiting become dead
/// letters (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/marketplace-webhook",
    tag = "settings",
    operation_id = "remove_marketplace_webhook",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove_marketplace_webhook(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let record = setup::remove_marketplace_webhook(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Step 3: the Qimen warehouse link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct QimenBody {
    /// Where calls are posted: the Qimen gateway, or a WMS that takes calls directly. https,
    /// no query string, and its host must resolve to public addresses only.
    #[schema(
        example = "https://qimen.api.taobao.com/router/qimen/service",
        pattern = "^https://"
    )]
    endpoint: String,
    /// The application's key (`app_key`).
    #[schema(example = "23456789", min_length = 1, max_length = 512)]
    app_key: String,
    /// The application's secret. Required on the first link; left out, the stored one stays.
    /// Never shown again.
    #[schema(min_length = 1, max_length = 512)]
    app_secret: Option<String>,
    /// The merchant's id at the gateway (`customerId`).
    #[schema(example = "stub-cust-code", min_length = 1, max_length = 512)]
    customer_id: String,
    /// The warehouse (`warehouseCode`).
    #[schema(example = "WH-HZ-01", min_length = 1, max_length = 512)]
    warehouse_code: String,
    /// The goods owner (`ownerCode`), when the warehouse needs one.
    #[schema(max_length = 512)]
    owner_code: Option<String>,
    /// The kind of document held (`orderType`): `JYCK` (a trade's outbound document) unless
    /// set.
    #[schema(example = "JYCK", min_length = 1, max_length = 512)]
    order_type: Option<String>,
}

/// Step 3: links a Qimen warehouse, so interceptions hold the order's document there; also
/// changes the link, or switches back on a link the warehouse refused (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/qimen",
    tag = "settings",
    operation_id = "set_qimen",
    security(("api_key" = [])),
    request_body = QimenBody,
    responses(
        (status = 200, description = "The settings after the change; the secret shows as `***`.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::QimenEndpointInvalid),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_qimen(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<QimenBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    let change = Ok(setup::QimenChange {
        endpoint: body.endpoint,
        app_key: body.app_key,
        app_secret: body.app_secret,
        customer_id: body.customer_id,
        warehouse_code: body.warehouse_code,
        owner_code: body.owner_code.filter(|o| !o.trim().is_empty()),
        order_type: body
            .order_type
            .unwrap_or_else(|| shiphold_domain::QimenLink::DEFAULT_ORDER_TYPE.to_owned()),
    });
    let record = setup::set_qimen(&state, &caller, change).await?;
    Ok(settings(&state, &caller, &record))
}

/// Removes the Qimen warehouse link with its secret; calls still waiting become dead letters
/// (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/qimen",
    tag = "settings",
    operation_id = "remove_qimen",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove_qimen(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let record = setup::remove_qimen(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Removes the ERP link and its secret (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/erp",
    tag = "settings",
    operation_id = "remove_erp",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove_erp(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let record = setup::remove_erp(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Ends a secret rotation: the previous signing secret stops signing deliveries and callbacks
/// signed with it are refused (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/erp/previous-secret",
    tag = "settings",
    operation_id = "drop_previous_erp_secret",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::Conflict),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn drop_previous_secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let record = setup::drop_previous_secret(&state, &caller).await?;
    Ok(settings(&state, &caller, &record))
}

/// Rotates the ERP signing secret; the new one is shown once, the old one is kept until
/// dropped (admin).
#[utoipa::path(
    post,
    path = "/v1/settings/erp/rotate-secret",
    tag = "settings",
    operation_id = "rotate_erp_secret",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The settings and the new secret.", body = ErpSecretView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::Conflict),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let rotated = setup::rotate_secret(&state, &caller).await?;
    with_secret(&state, &caller, rotated, "a new ERP signing secret")
}

/// A buyer-message template override.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    /// The template text with its `{placeholders}` (those of its kind only): not blank.
    #[schema(
        min_length = 1,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f\\s][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    text: String,
}

fn template_path(kind: &str, locale: &str) -> Result<(TemplateKind, Locale), ValidationError> {
    let mut errors = ValidationError::empty();
    let kind = errors.check(
        TemplateKind::parse(kind).map_err(|e| FieldError::new("kind", "invalid", e.to_string())),
    );
    let locale = errors.check(
        Locale::parse(locale).map_err(|e| FieldError::new("locale", "invalid", e.to_string())),
    );
    errors.clone().into_result()?;
    match (kind, locale) {
        (Some(k), Some(l)) => Ok((k, l)),
        _ => Err(errors),
    }
}

/// Overrides one buyer-message template (admin).
#[utoipa::path(
    put,
    path = "/v1/settings/templates/{kind}/{locale}",
    tag = "settings",
    operation_id = "set_template",
    security(("api_key" = [])),
    params(
        ("kind" = crate::schema::mirror::TemplateKind, Path, description = "The message kind."),
        ("locale" = crate::schema::mirror::Locale, Path, description = "The message language."),
    ),
    request_body = TemplateBody,
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn set_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, locale)): Path<(String, String)>,
    body: JsonBody<TemplateBody>,
) -> Result<Response, ApiError> {
    let template = template_path(&kind, &locale);
    let record = setup::set_template(&state, &caller, template, body.value.text).await?;
    Ok(settings(&state, &caller, &record))
}

/// Removes a template override; the default applies again (admin).
#[utoipa::path(
    delete,
    path = "/v1/settings/templates/{kind}/{locale}",
    tag = "settings",
    operation_id = "remove_template",
    security(("api_key" = [])),
    params(
        ("kind" = crate::schema::mirror::TemplateKind, Path, description = "The message kind."),
        ("locale" = crate::schema::mirror::Locale, Path, description = "The message language."),
    ),
    responses(
        (status = 200, description = "The settings after the change.", body = SettingsView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, locale)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let template = template_path(&kind, &locale);
    let record = setup::remove_template(&state, &caller, template).await?;
    Ok(settings(&state, &caller, &record))
}

/// One change in the audit trail; secrets are masked.
#[derive(Debug, Serialize, ToSchema)]
struct AuditView {
    at: chrono::DateTime<chrono::Utc>,
    /// Who: `api_key:…`, `buyer:…` or `erp`.
    actor: String,
    /// What, e.g. `settings.memo`, `event_window.create`.
    action: String,
    /// The object changed.
    target: String,
    /// The object before the change; `null` when it was created.
    #[schema(value_type = Option<Object>)]
    before: Value,
    /// The object after the change; `null` when it was removed.
    #[schema(value_type = Option<Object>)]
    after: Value,
}

/// The audit trail of every change, newest first (admin).
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "settings",
    operation_id = "list_audit",
    security(("api_key" = [])),
    params(
        PageQuery,
    ),
    responses(
        (status = 200, description = "A page of audit entries.", body = Listing<AuditView>),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn audit_trail(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let page = q.page()?;
    let result = setup::audit_trail(&state, &caller, page).await?;
    let items = result
        .items
        .into_iter()
        .map(|a| AuditView {
            at: a.at,
            actor: a.actor,
            action: a.action,
            target: a.target,
            before: a.before,
            after: a.after,
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &Listing {
            items,
            next_cursor: result.next,
        },
    ))
}
