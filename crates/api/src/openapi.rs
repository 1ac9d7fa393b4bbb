//! The OpenAPI 3.1 document of the HTTP API, built from the handlers' `#[utoipa::path]`
//! annotations and the wire types, served at `/openapi.json` and committed as
//! `docs/openapi.json` by `cargo xtask codegen`.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type,
    example::ExampleBuilder,
};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use crate::problem::{ItemProblem, PROBLEM_JSON, ProblemKind};
use crate::routes::{buyer, cards, erp, health, interceptions, keys, orders, settings, windows};

/// The name of the API-key security scheme (`Authorization: Bearer shk_…`).
pub const API_KEY_SCHEME: &str = "api_key";
/// The name of the Standard Webhooks signature scheme of the ERP callback.
pub const WEBHOOK_SCHEME: &str = "webhook_signature";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shiphold API",
        description = "Shiphold stops the shipment of paid orders while refunds are off. Merchants \
            authenticate with an API key (`Authorization: Bearer shk_…`) and see only their own \
            shop: another shop's objects answer 404. Buyers use the card token in their link; \
            ERPs sign their callbacks with Standard Webhooks. Every error is an RFC 9457 \
            problem document (`application/problem+json`) with a stable `type`."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        crate::routes::problem_page,
        serve,
        crate::routes::console::page,
        settings::show,
        settings::set_memo,
        settings::enable,
        settings::disable,
        settings::set_advanced,
        settings::set_erp,
        settings::remove_erp,
        settings::rotate_secret,
        settings::set_template,
        settings::remove_template,
        settings::audit_trail,
        keys::list,
        keys::create,
        keys::revoke,
        windows::list,
        windows::create,
        windows::show,
        windows::update,
        windows::remove,
        orders::list,
        orders::show,
        orders::upsert,
        orders::messages,
        cards::create,
        cards::show,
        cards::revoke,
        interceptions::intercept_order,
        interceptions::list,
        interceptions::show,
        interceptions::release,
        interceptions::risk,
        buyer::page,
        buyer::show,
        buyer::submit,
        erp::callback,
        erp::dead_letters,
        erp::redrive,
    ),
    components(
        schemas(Problem),
        responses(
            MalformedRequest,
            Unauthenticated,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            ValidationFailed,
            Unavailable,
            SetupIncomplete,
            Conflict,
            WindowOverlap,
            StaleUpdate,
            ErpEndpointInvalid,
            CardGone,
            InterceptionClosed,
            InterceptionClosedOrKeyInUse,
            NothingToIntercept,
            NothingToInterceptOrKeyReused,
            ValidationFailedOrKeyReused,
            ReleaseRefused,
        )
    ),
    modifiers(&SecuritySchemes, &Prose, &IdempotencyKeys),
    tags(
        (name = "operations", description = "Health, readiness, metrics and documentation for operators."),
        (name = "console", description = "The merchant console, a page that drives this API with the merchant's key."),
        (name = "settings", description = "The three-step set-up: memo, enable, advanced settings; and the audit trail."),
        (name = "api-keys", description = "The shop's API keys: created (shown once), listed, revoked."),
        (name = "event-windows", description = "When refunds are off, in which time zone, and when they reopen."),
        (name = "orders", description = "Order intake and reading orders back."),
        (name = "cards", description = "Interception cards sent to buyers (method 1)."),
        (name = "interceptions", description = "Direct interception (method 2), release, listing and the risk list."),
        (name = "buyer", description = "The buyer's side of a card; the card token in the path is the credential."),
        (name = "erp", description = "The ERP's signed results callback and the dead letters of undeliverable messages."),
    )
)]
struct ApiDoc;

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as committed in `docs/openapi.json`: pretty, keys sorted, marked as generated.
pub fn document_json() -> String {
    let mut document = serde_json::to_value(openapi()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut document {
        map.insert(
            "x-generated".into(),
            Value::String("generated by `cargo xtask codegen` from crates/api; do not edit".into()),
        );
    }
    let mut text = serde_json::to_string_pretty(&sorted(document)).unwrap_or_default();
    text.push('\n');
    text
}

/// Sorts object keys at every level, so the file changes only when the document does.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// This document, as JSON.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn serve() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| openapi().to_json().unwrap_or_default());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.as_str(),
    )
        .into_response()
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("shk_…")
                    .description(Some(
                        "A shop's API key, shown once when created. Its roles (`admin`, \
                         `agent`, `integration`) decide what it may do; a missing role answers \
                         403.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            WEBHOOK_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "webhook-signature",
                "Standard Webhooks v1: `v1,` + base64(HMAC-SHA256(secret, webhook-id + \".\" + \
                 webhook-timestamp + \".\" + body)) with the shop's signing secret; the \
                 `webhook-id` and `webhook-timestamp` headers are required too. See \
                 docs/erp-protocol.md.",
            ))),
        );
    }
}

/// Descriptions come from doc comments; the ERP wire types' carry doc-test examples.
struct Prose;

impl Modify for Prose {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Ok(mut value) = serde_json::to_value(&*openapi) else {
            return;
        };
        shiphold_erp_adapter::schema::tidy_descriptions(&mut value);
        if let Ok(tidied) = serde_json::from_value(value) {
            *openapi = tidied;
        }
    }
}

/// Every write that a shop's key or a card token makes accepts `Idempotency-Key` (a middleware
/// handles it for all of them), so the header and its two refusals are added to each such
/// operation here rather than repeated on every handler.
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Ok(mut value) = serde_json::to_value(&*openapi) else {
            return;
        };
        let problem = |description: &str| {
            serde_json::json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            })
        };
        if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
            for (path, item) in paths.iter_mut() {
                let Some(item) = item.as_object_mut() else {
                    continue;
                };
                for (method, operation) in item.iter_mut() {
                    if !matches!(method.as_str(), "post" | "put" | "delete") {
                        continue;
                    }
                    let keyed = operation
                        .get("security")
                        .and_then(Value::as_array)
                        .is_some_and(|s| s.iter().any(|r| r.get(API_KEY_SCHEME).is_some()));
                    if !keyed && !path.starts_with("/v1/buyer/") {
                        continue;
                    }
                    let parameters = operation.as_object_mut().map(|o| {
                        o.entry("parameters")
                            .or_insert_with(|| Value::Array(Vec::new()))
                    });
                    if let Some(Value::Array(parameters)) = parameters
                        && !parameters.iter().any(|p| p["name"] == "Idempotency-Key")
                    {
                        parameters.push(serde_json::json!({
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": false,
                            "description": "Makes the request safe to retry: the same key and body replay the first answer (with `Idempotent-Replayed: true`); the same key with another body answers 422; while the first request runs, 409. Kept at least 24 hours.",
                            "schema": {"type": "string", "maxLength": 255}
                        }));
                    }
                    if let Some(responses) = operation
                        .get_mut("responses")
                        .and_then(Value::as_object_mut)
                    {
                        responses.entry("409").or_insert_with(|| {
                            problem("A request with the same Idempotency-Key is still running.")
                        });
                        responses.entry("422").or_insert_with(|| {
                            problem("Some values are invalid, or the Idempotency-Key was used with another body.")
                        });
                    }
                }
            }
        }
        if let Ok(done) = serde_json::from_value(value) {
            *openapi = done;
        }
    }
}

/// An RFC 9457 problem document; `type` is one of the stable `/problems/…` URIs.
pub struct Problem;

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        let types = ProblemKind::ALL.map(|k| format!("/problems/{}", k.slug()));
        let listed = ProblemKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "`/problems/{}` ({}): {}",
                    k.slug(),
                    k.status().as_u16(),
                    k.title()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some(
                "An error (RFC 9457). `type` is stable and names the kind; `title` is fixed per \
                 kind; `detail` says what happened. Validation errors list the fields in \
                 `errors`; item-level refusals list the items in `items`.",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(types))
                    .description(Some(format!(
                        "The kind of problem, a URI relative to the server: {listed}."
                    ))),
            )
            .required("type")
            .property("title", string("A short, fixed title for the kind."))
            .required("title")
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status.")),
            )
            .required("status")
            .property("detail", string("What happened, for people."))
            .required("detail")
            .property(
                "errors",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(mirror::FieldError::name()))
                    .description(Some("The fields that failed, for validation errors.")),
            )
            .property(
                "items",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(ItemProblem::name()))
                    .description(Some("The items and why, for item-level refusals.")),
            )
            .into()
    }
}

impl ToSchema for Problem {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Problem")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            mirror::FieldError::name().into_owned(),
            mirror::FieldError::schema(),
        ));
        schemas.push((ItemProblem::name().into_owned(), ItemProblem::schema()));
    }
}

/// A problem response of one or more kinds, with an example of each.
fn problem_response(description: &str, kinds: &[ProblemKind]) -> RefOr<utoipa::openapi::Response> {
    let types = kinds
        .iter()
        .map(|k| format!("`/problems/{}`", k.slug()))
        .collect::<Vec<_>>()
        .join(", ");
    let examples = kinds.iter().map(|k| {
        (
            k.slug(),
            ExampleBuilder::new().summary(k.title()).value(Some(json!({
                "type": format!("/problems/{}", k.slug()),
                "title": k.title(),
                "status": k.status().as_u16(),
                "detail": k.title(),
            }))),
        )
    });
    ResponseBuilder::new()
        .description(format!("{description} Problem types: {types}."))
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .examples_from_iter(examples)
                .build(),
        )
        .build()
        .into()
}

/// Declares reusable problem responses (`components/responses`) that handlers name in their
/// `responses(...)`, each listing the problem kinds it stands for.
macro_rules! problem_responses {
    ($($name:ident => [$($kind:ident),+], $description:literal;)*) => {$(
        #[doc = $description]
        pub(crate) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                (stringify!($name), problem_response($description, &[$(ProblemKind::$kind),+]))
            }
        }
    )*};
}

problem_responses! {
    MalformedRequest => [MalformedRequest], "The body is not JSON or not the expected shape.";
    Unauthenticated => [Unauthenticated], "No valid credential: API key, card token or signature.";
    Forbidden => [Forbidden], "The API key lacks the role this needs.";
    NotFound => [NotFound], "No such object in the caller's shop (another shop's objects answer the same).";
    PayloadTooLarge => [PayloadTooLarge], "The body is larger than the server's limit.";
    UnsupportedMediaType => [UnsupportedMediaType], "The body is not sent as JSON.";
    ValidationFailed => [ValidationFailed], "Some values are invalid; `errors` names each field.";
    Unavailable => [Unavailable], "The database is unavailable; retry after the `Retry-After` seconds.";
    SetupIncomplete => [SetupIncomplete], "Enabling needs memo text and accepted terms; `errors` lists what is missing.";
    Conflict => [Conflict], "The change conflicts with the current state.";
    WindowOverlap => [WindowOverlap], "The event window overlaps another of the shop's windows.";
    StaleUpdate => [StaleUpdate], "The stored order has a higher version, or the same version with other content.";
    ErpEndpointInvalid => [ValidationFailed, EndpointNotAllowed], "The body is invalid, or the ERP endpoint is not allowed (not https, or a private address).";
    CardGone => [CardExpired, CardRevoked], "The card expired or was revoked.";
    InterceptionClosed => [InterceptionDisabled, OutsideEventWindow], "The shop has not enabled interception, or no event window is active.";
    InterceptionClosedOrKeyInUse => [InterceptionDisabled, OutsideEventWindow, IdempotencyKeyInUse], "The shop has not enabled interception, no event window is active, or a request with the same idempotency key is still running.";
    NothingToIntercept => [ValidationFailed, NothingToIntercept], "Some values are invalid, or no requested item can be intercepted (`items` says why for each).";
    NothingToInterceptOrKeyReused => [ValidationFailed, NothingToIntercept, IdempotencyKeyReused], "Some values are invalid, no requested item can be intercepted, or the idempotency key was used with another body.";
    ValidationFailedOrKeyReused => [ValidationFailed, IdempotencyKeyReused], "Some values are invalid, or the idempotency key was used with another body.";
    ReleaseRefused => [InvalidTransition, IdempotencyKeyInUse], "No named item can be released (`items` says why), or a request with the same idempotency key is still running.";
}

/// Schemas of domain types that travel in responses. The domain crate stays free of
/// documentation concerns; the tests below hold each stand-in to the domain type's serde form.
pub(crate) mod mirror {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// One field that failed validation, and why.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct FieldError {
        /// The field as clients spell it (`memo_text`, `sub_orders[2].quantity`).
        pub field: String,
        /// A stable machine-readable code (`required`, `too_long`, `invalid`, …).
        pub code: String,
        /// A sentence for people.
        pub message: String,
    }

    /// The marketplace's seller-memo flag; `none` is the grey, unset flag.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Flag {
        None,
        Red,
        Yellow,
        Green,
        Blue,
        Purple,
    }

    /// A sub-order's shipping status, as order intake reports it.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ShippingStatus {
        AwaitingShipment,
        Shipped,
        Refunded,
        Closed,
    }

    /// Where one intercepted item stands. `requested`, `delivered_to_erp`, `locked` and
    /// `lock_failed` are active; the others are closed.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum LineState {
        Requested,
        DeliveredToErp,
        Locked,
        LockFailed,
        AlreadyShipped,
        Released,
        Refunded,
        ShippedAnyway,
    }

    /// How an interception was started: by the buyer on a card, or directly by customer service.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    pub enum Method {
        Card { card_id: String },
        Direct,
    }

    /// Who asked for an interception: the buyer (their id) or an agent (the API key).
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(tag = "kind", content = "id", rename_all = "snake_case")]
    pub enum Requester {
        Buyer(String),
        Agent(String),
    }

    /// One recorded change of an item's state.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Transition {
        /// The state before.
        pub from: LineState,
        /// The state after.
        pub to: LineState,
        /// The event's name (`erp_locked`, `released`, …).
        pub event: String,
        /// The event's detail (an ERP's reason), if any.
        pub detail: Option<String>,
        /// When.
        pub at: DateTime<Utc>,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Utc;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use shiphold_domain as d;

    use super::*;

    fn enum_values<T: ToSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("schema");
        schema["enum"]
            .as_array()
            .expect("an enum schema")
            .iter()
            .map(|v| v.as_str().expect("text").to_owned())
            .collect()
    }

    fn spelled<T: Serialize>(values: &[T]) -> BTreeSet<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .expect("serialises")
                    .as_str()
                    .expect("text")
                    .to_owned()
            })
            .collect()
    }

    /// The domain value reads as the stand-in and writes back unchanged.
    fn same_shape<D: Serialize, M: Serialize + DeserializeOwned>(value: &D) {
        let json = serde_json::to_value(value).expect("serialises");
        let mirrored: M = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{json} does not fit the documented schema: {e}"));
        assert_eq!(serde_json::to_value(mirrored).expect("serialises"), json);
    }

    #[test]
    fn enum_stand_ins_list_every_domain_value() {
        assert_eq!(enum_values::<mirror::Flag>(), spelled(&d::Flag::ALL));
        assert_eq!(
            enum_values::<mirror::LineState>(),
            spelled(&d::LineState::ALL)
        );
        let statuses = [
            d::ShippingStatus::AwaitingShipment,
            d::ShippingStatus::Shipped,
            d::ShippingStatus::Refunded,
            d::ShippingStatus::Closed,
        ];
        // Fails to compile when a status is added, so the list above stays complete.
        for s in statuses {
            match s {
                d::ShippingStatus::AwaitingShipment
                | d::ShippingStatus::Shipped
                | d::ShippingStatus::Refunded
                | d::ShippingStatus::Closed => {}
            }
        }
        assert_eq!(enum_values::<mirror::ShippingStatus>(), spelled(&statuses));
    }

    #[test]
    fn object_stand_ins_match_the_domain_serialisation() {
        let card = d::CardId::generate();
        for method in [d::Method::Direct, d::Method::Card { card_id: card }] {
            same_shape::<_, mirror::Method>(&method);
        }
        let buyer = d::BuyerId::parse("buyer-1").expect("id");
        for requester in [
            d::Requester::Buyer(buyer),
            d::Requester::Agent("api_key:k".into()),
        ] {
            same_shape::<_, mirror::Requester>(&requester);
        }
        for detail in [None, Some("picked already".to_owned())] {
            same_shape::<_, mirror::Transition>(&d::Transition {
                from: d::LineState::Requested,
                to: d::LineState::LockFailed,
                event: "erp_lock_failed".into(),
                detail,
                at: Utc::now(),
            });
        }
        same_shape::<_, mirror::FieldError>(&d::FieldError::new("memo_text", "required", "x"));
    }

    #[test]
    fn problem_lists_every_type() {
        let schema = serde_json::to_value(Problem::schema()).expect("schema");
        let types = schema["properties"]["type"]["enum"]
            .as_array()
            .expect("enum");
        assert_eq!(types.len(), ProblemKind::ALL.len());
        for kind in ProblemKind::ALL {
            let body = crate::ApiError::new(kind, "x").body();
            assert!(types.contains(&body["type"]), "{kind:?}");
        }
    }

    #[test]
    fn document_is_stable() {
        let a = document_json();
        assert_eq!(a, document_json());
        let value: Value = serde_json::from_str(&a).expect("JSON");
        assert_eq!(value["openapi"], "3.1.0");
    }
}
