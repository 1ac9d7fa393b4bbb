//! The three-step set-up: memo settings, enable, advanced settings (ERP link, card expiry,
//! single-item choice, test mode, templates), and the audit trail of every change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shiphold_domain::{
    BuyerId, CardExpiry, ErpLink, FieldError, Flag, MemoText, Missing, TERMS_VERSION,
    TermsAcceptance, ValidationError,
};
use shiphold_erp_adapter::{EndpointPolicy, Secret};
use shiphold_messaging::{Locale, TemplateKind, TemplateSet};
use shiphold_storage::SettingsRecord;

use super::{Auth, Table};
use super::{Listing, PageQuery, audit, json};
use crate::auth::{Caller, Role};
use crate::extract::JsonBody;
use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

pub(super) fn routes(table: Table) -> Table {
    table
        .get("/v1/settings", Auth::Key, show)
        .put("/v1/settings/memo", Auth::Key, set_memo)
        .post("/v1/settings/enable", Auth::Key, enable)
        .post("/v1/settings/disable", Auth::Key, disable)
        .put("/v1/settings/advanced", Auth::Key, set_advanced)
        .put("/v1/settings/erp", Auth::Key, set_erp)
        .delete("/v1/settings/erp", Auth::Key, remove_erp)
        .post("/v1/settings/erp/rotate-secret", Auth::Key, rotate_secret)
        .put(
            "/v1/settings/templates/{kind}/{locale}",
            Auth::Key,
            set_template,
        )
        .delete(
            "/v1/settings/templates/{kind}/{locale}",
            Auth::Key,
            remove_template,
        )
        .get("/v1/audit", Auth::Key, audit_trail)
}

#[derive(Debug, Serialize)]
struct SettingsView {
    memo_text: Option<String>,
    flag: Flag,
    terms: TermsView,
    enabled: bool,
    missing: Vec<MissingView>,
    advanced: AdvancedView,
    templates: Value,
    version: i64,
}

#[derive(Debug, Serialize)]
struct TermsView {
    current_version: &'static str,
    accepted: bool,
    accepted_version: Option<String>,
    accepted_by: Option<String>,
    accepted_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize)]
struct MissingView {
    field: &'static str,
    message: &'static str,
}

#[derive(Debug, Serialize)]
struct AdvancedView {
    erp: Option<ErpView>,
    card_expiry_seconds: i64,
    single_item_choice: bool,
    test_mode: bool,
    test_buyers: Vec<BuyerId>,
}

#[derive(Debug, Serialize)]
struct ErpView {
    endpoint: String,
    locking: bool,
    active: bool,
    disabled_reason: Option<String>,
    signing_secret: &'static str,
    callback_url: String,
}

fn view(state: &AppState, shop: &shiphold_domain::ShopId, record: &SettingsRecord) -> SettingsView {
    let s = &record.settings;
    SettingsView {
        memo_text: s.memo_text.as_ref().map(|m| m.as_str().to_owned()),
        flag: s.flag,
        terms: TermsView {
            current_version: TERMS_VERSION,
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
                signing_secret: if record.erp_secret.is_some() {
                    "***"
                } else {
                    ""
                },
                callback_url: format!(
                    "{}/v1/erp/shops/{}/results",
                    state.config().public_base_url.trim_end_matches('/'),
                    shop
                ),
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

/// What audit entries show of settings: never the secret.
fn audit_view(record: &SettingsRecord) -> Value {
    let mut v = serde_json::to_value(&record.settings).unwrap_or(Value::Null);
    v["erp_secret"] = json!(if record.erp_secret.is_some() {
        "***"
    } else {
        ""
    });
    v["templates"] = record.templates.clone();
    v
}

async fn show(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller
        .require(Role::Admin)
        .or_else(|_| caller.require(Role::Agent))?;
    let shop = caller.shop_id.clone();
    let record = state.store().read(move |tx| tx.settings(&shop)).await?;
    Ok(json(
        StatusCode::OK,
        &view(&state, &caller.shop_id, &record),
    ))
}

/// Loads the settings under lock, lets `change` edit them, saves with an audit entry, and
/// answers with the new view.
async fn change<F>(
    state: &AppState,
    caller: &Caller,
    action: &'static str,
    change: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&mut SettingsRecord) -> Result<(), ApiError> + Send + 'static,
{
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    let actor = caller.actor();
    let now = state.now();
    let record = state
        .store()
        .write(move |tx| -> Result<SettingsRecord, ApiError> {
            tx.lock_settings(&shop)?;
            let mut record = tx.settings(&shop)?;
            let before = audit_view(&record);
            change(&mut record)?;
            let saved = tx.save_settings(&shop, &record, now)?;
            audit(
                tx,
                &shop,
                now,
                &actor,
                action,
                "settings",
                before,
                audit_view(&saved),
            )?;
            Ok(saved)
        })
        .await?;
    Ok(json(StatusCode::OK, &view(state, &caller.shop_id, &record)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemoBody {
    memo_text: Option<String>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    accept_terms: bool,
}

fn setup_incomplete(missing: &[Missing]) -> ApiError {
    let mut error = ApiError::new(
        ProblemKind::SetupIncomplete,
        format!(
            "interception cannot be enabled until these are set: {}",
            missing
                .iter()
                .map(|m| m.field())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    error.errors = missing
        .iter()
        .map(|m| FieldError::new(m.field(), "required", m.message()))
        .collect();
    error
}

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
    errors.into_result()?;
    let terms = body.accept_terms.then(|| TermsAcceptance {
        version: TERMS_VERSION.into(),
        accepted_by: caller.actor(),
        accepted_at: state.now(),
    });
    change(&state, &caller, "settings.memo", move |record| {
        record
            .settings
            .set_memo(memo, flag, terms)
            .map_err(|e| setup_incomplete(&e.missing))
    })
    .await
}

async fn enable(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    change(&state, &caller, "settings.enable", |record| {
        record
            .settings
            .enable()
            .map_err(|e| setup_incomplete(&e.missing))
    })
    .await
}

async fn disable(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    change(&state, &caller, "settings.disable", |record| {
        record.settings.disable();
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvancedBody {
    card_expiry_seconds: Option<i64>,
    single_item_choice: Option<bool>,
    test_mode: Option<bool>,
    test_buyers: Option<Vec<String>>,
}

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
    if buyers
        .as_ref()
        .is_some_and(|b| b.len() > shiphold_domain::AdvancedSettings::MAX_TEST_BUYERS)
    {
        errors.push(FieldError::new(
            "test_buyers",
            "too_many",
            "at most 100 test buyers",
        ));
    }
    errors.into_result()?;
    change(&state, &caller, "settings.advanced", move |record| {
        let adv = &mut record.settings.advanced;
        if let Some(e) = expiry {
            adv.card_expiry = e;
        }
        if let Some(v) = body.single_item_choice {
            adv.single_item_choice = v;
        }
        if let Some(v) = body.test_mode {
            adv.test_mode = v;
        }
        if let Some(b) = buyers {
            adv.test_buyers = b;
        }
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErpBody {
    endpoint: String,
    #[serde(default)]
    locking: bool,
}

#[derive(Debug, Serialize)]
struct ErpSecretView {
    settings: Value,
    /// Shown once: Shiphold stores it to sign messages but never shows it again.
    signing_secret: String,
}

fn policy(state: &AppState) -> EndpointPolicy {
    EndpointPolicy {
        allow_insecure: state.config().allow_insecure_endpoints,
    }
}

async fn set_erp(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<ErpBody>,
) -> Result<Response, ApiError> {
    let body = body.value;
    policy(&state).check_url(&body.endpoint).map_err(|e| {
        let mut err = ApiError::new(ProblemKind::EndpointNotAllowed, e.to_string());
        err.errors = vec![FieldError::new("endpoint", "not_allowed", e.to_string())];
        err
    })?;
    let secret_slot = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let slot = secret_slot.clone();
    let response = change(&state, &caller, "settings.erp", move |record| {
        record.settings.advanced.erp = Some(ErpLink {
            endpoint: body.endpoint,
            locking: body.locking,
            active: true,
            disabled_reason: None,
        });
        if record.erp_secret.is_none() {
            let secret = Secret::generate().to_whsec();
            record.erp_secret = Some(secret.clone());
            if let Ok(mut s) = slot.lock() {
                *s = Some(secret);
            }
        }
        Ok(())
    })
    .await?;
    let new_secret = secret_slot.lock().ok().and_then(|s| s.clone());
    with_secret(response, new_secret).await
}

/// Adds the once-shown secret to a settings response.
async fn with_secret(response: Response, secret: Option<String>) -> Result<Response, ApiError> {
    let Some(secret) = secret else {
        return Ok(response);
    };
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(ApiError::internal)?;
    let settings: Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok(json(
        StatusCode::OK,
        &ErpSecretView {
            settings,
            signing_secret: secret,
        },
    ))
}

async fn remove_erp(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    change(&state, &caller, "settings.erp.remove", |record| {
        record.settings.advanced.erp = None;
        record.erp_secret = None;
        Ok(())
    })
    .await
}

async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let secret = Secret::generate().to_whsec();
    let stored = secret.clone();
    let response = change(
        &state,
        &caller,
        "settings.erp.rotate_secret",
        move |record| {
            if record.settings.advanced.erp.is_none() {
                return Err(ApiError::new(ProblemKind::Conflict, "no ERP is linked"));
            }
            record.erp_secret = Some(stored);
            Ok(())
        },
    )
    .await?;
    with_secret(response, Some(secret)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    text: String,
}

fn template_path(kind: &str, locale: &str) -> Result<(TemplateKind, Locale), ApiError> {
    let mut errors = ValidationError::empty();
    let kind = errors.check(
        TemplateKind::parse(kind).map_err(|e| FieldError::new("kind", "invalid", e.to_string())),
    );
    let locale = errors.check(
        Locale::parse(locale).map_err(|e| FieldError::new("locale", "invalid", e.to_string())),
    );
    errors.into_result()?;
    match (kind, locale) {
        (Some(k), Some(l)) => Ok((k, l)),
        _ => Err(ApiError::new(
            ProblemKind::ValidationFailed,
            "invalid template path",
        )),
    }
}

pub(crate) fn template_set(record: &SettingsRecord) -> TemplateSet {
    // Overrides were checked when saved; a set that no longer parses falls back to defaults.
    serde_json::from_value(record.templates.clone()).unwrap_or_default()
}

async fn set_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, locale)): Path<(String, String)>,
    body: JsonBody<TemplateBody>,
) -> Result<Response, ApiError> {
    let (kind, locale) = template_path(&kind, &locale)?;
    let text = body.value.text;
    change(&state, &caller, "settings.template", move |record| {
        let mut set = template_set(record);
        set.set_text(kind, locale, &text).map_err(|e| {
            ApiError::field(FieldError::new("text", "invalid_template", e.to_string()))
        })?;
        record.templates = serde_json::to_value(&set).map_err(ApiError::internal)?;
        Ok(())
    })
    .await
}

async fn remove_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, locale)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (kind, locale) = template_path(&kind, &locale)?;
    change(&state, &caller, "settings.template.remove", move |record| {
        let mut set = template_set(record);
        set.remove(kind, locale);
        record.templates = serde_json::to_value(&set).map_err(ApiError::internal)?;
        Ok(())
    })
    .await
}

#[derive(Debug, Serialize)]
struct AuditView {
    at: chrono::DateTime<chrono::Utc>,
    actor: String,
    action: String,
    target: String,
    before: Value,
    after: Value,
}

async fn audit_trail(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let page = q.page()?;
    let shop = caller.shop_id.clone();
    let result = state.store().read(move |tx| tx.audit(&shop, &page)).await?;
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
