//! The OpenAPI 3.1 document of the HTTP API. Its paths come from the routes themselves: every
//! route is declared once, with its handler's `#[utoipa::path]`, in an `OpenApiRouter`; this
//! module adds what is not a route (info, security schemes, shared responses, tags), serves the
//! document at `/openapi.json`, and `cargo xtask codegen` commits it as `docs/openapi.json`.

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::schema::{
    CallbackRefused, CallbackUnauthenticated, CardGone, Conflict, ErpEndpointInvalid, Forbidden,
    GatewayInvalid, InterceptionClosed, InterceptionClosedOrKeyInUse, InterceptionRefused,
    InterceptionRefusedOrKeyInUse, InvitationInvalid, MalformedRequest, NotFound, OrderConflict,
    PayloadTooLarge, Problem, QimenEndpointInvalid, ReleaseRefused, SetupIncomplete, SignInRefused,
    SignInThrottled, Unauthenticated, Unavailable, UnsupportedMediaType, ValidationFailed,
    ValidationFailedOrKeyReused, WindowOverlap,
};
use crate::state::AppState;

/// The name of the API-key security scheme (`Authorization: Bearer shk_…`).
pub const API_KEY_SCHEME: &str = "api_key";
/// The name of the staff-session scheme (the console's `shiphold_session` cookie).
pub const SESSION_SCHEME: &str = "staff_session";
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
    components(
        // The enums that only path and query parameters use; bodies bring their own.
        schemas(
            Problem,
            crate::schema::mirror::Id,
            crate::schema::mirror::TemplateKind,
            crate::schema::mirror::Locale,
            crate::schema::mirror::TimeZone,
            crate::schema::mirror::Flag,
            crate::schema::mirror::LineState,
            crate::schema::mirror::Role,
        ),
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
            OrderConflict,
            ErpEndpointInvalid,
            GatewayInvalid,
            QimenEndpointInvalid,
            CardGone,
            InterceptionClosed,
            InterceptionClosedOrKeyInUse,
            InterceptionRefused,
            InterceptionRefusedOrKeyInUse,
            ValidationFailedOrKeyReused,
            ReleaseRefused,
            CallbackUnauthenticated,
            CallbackRefused,
            SignInRefused,
            SignInThrottled,
            InvitationInvalid,
        )
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "operations", description = "Health, readiness, metrics and documentation for operators."),
        (name = "console", description = "The merchant console, a page that drives this API with the merchant's key."),
        (name = "settings", description = "The three-step set-up: memo, enable, advanced settings; and the audit trail."),
        (name = "api-keys", description = "The shop's API keys, for systems: created (shown once), listed, revoked."),
        (name = "staff", description = "The shop's people: invited with a role, signed in with a password (a session cookie), removed."),
        (name = "event-windows", description = "When refunds are off, in which time zone, and when they reopen."),
        (name = "orders", description = "Order intake and reading orders back."),
        (name = "cards", description = "Interception cards sent to buyers (method 1)."),
        (name = "interceptions", description = "Direct interception (method 2), release, listing and the risk list."),
        (name = "buyer", description = "The buyer's side of a card; the card token in the path is the credential."),
        (name = "erp", description = "The ERP's signed results callback and the dead letters of undeliverable messages."),
    )
)]
struct ApiDoc;

/// The route that serves the document; the application adds it beside the API's routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(serve))
}

/// Every route of the server with its documentation, declared once.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    crate::routes::api().merge(routes())
}

/// The OpenAPI document: the routes' paths and schemas, then what is not a route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = documented_routes().split_for_parts();
    let mut document = ApiDoc::openapi();
    document.merge(paths);
    // These edit every operation, so they run once the paths are in.
    StaffSessions.modify(&mut document);
    IdempotencyKeys.modify(&mut document);
    RateLimited.modify(&mut document);
    Prose.modify(&mut document);
    document
}

/// The document as committed in `docs/openapi.json`: keys sorted, with a generated-file marker.
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
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "A person signed in to the console (`POST /v1/sign-in`): the session cookie, \
                 with the session's CSRF token in the `X-CSRF-Token` header on every write \
                 (else 403 `csrf-rejected`). An admin account may do what the `admin` and \
                 `agent` roles may; an agent account what `agent` may.",
            ))),
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

/// Runs `edit` on every operation of the document as JSON (its path, method and operation
/// object); for the additions that concern many operations at once.
fn each_operation(
    openapi: &mut utoipa::openapi::OpenApi,
    mut edit: impl FnMut(&str, &str, &mut serde_json::Map<String, Value>),
) {
    let Ok(mut value) = serde_json::to_value(&*openapi) else {
        return;
    };
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    edit(path, method, operation);
                }
            }
        }
    }
    if let Ok(done) = serde_json::from_value(value) {
        *openapi = done;
    }
}

/// Whether an operation declares the security scheme `name`.
fn secured_by(operation: &serde_json::Map<String, Value>, name: &str) -> bool {
    operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|r| r.get(name).is_some()))
}

/// A problem response with `description`.
fn problem(description: &str) -> Value {
    serde_json::json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Every route a shop's API key opens is open to a signed-in person too (the console's
/// session), with the roles of their account: the session is added as the alternative scheme.
struct StaffSessions;

impl Modify for StaffSessions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        each_operation(openapi, |_, _, operation| {
            if !secured_by(operation, API_KEY_SCHEME) {
                return;
            }
            if let Some(Value::Array(security)) = operation.get_mut("security") {
                security.push(serde_json::json!({ SESSION_SCHEME: [] }));
            }
        });
    }
}

/// Every write that a shop's key or a card token makes accepts `Idempotency-Key` (a middleware
/// handles it for all of them), so the header and its two refusals are added to each such
/// operation here rather than repeated on every handler.
struct IdempotencyKeys;

impl Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        each_operation(openapi, |path, method, operation| {
            if !matches!(method, "post" | "put" | "delete") {
                return;
            }
            if !secured_by(operation, API_KEY_SCHEME) && !path.starts_with("/v1/buyer/") {
                return;
            }
            if let Value::Array(parameters) = operation
                .entry("parameters")
                .or_insert_with(|| Value::Array(Vec::new()))
                && !parameters.iter().any(|p| p["name"] == "Idempotency-Key")
            {
                parameters.push(serde_json::json!({
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "Makes the request safe to retry: the same key and body replay the first answer (with `Idempotent-Replayed: true`); the same key with another body answers 422; while the first request runs, 409. Kept at least 24 hours.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"}
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
        });
    }
}

/// The routes reached without an API key (a card token in the path, or the ERP's signature) are
/// rate-limited per client address (`routes::limits`): each may answer 429 with `Retry-After`.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        each_operation(openapi, |path, _, operation| {
            let sign_in = crate::routes::staff::SIGN_IN_ROUTES.contains(&path);
            if !secured_by(operation, WEBHOOK_SCHEME) && !path.contains("{token}") && !sign_in {
                return;
            }
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                responses.entry("429".to_owned()).or_insert_with(|| {
                    let mut response = problem(
                        "Too many requests from this client address; `Retry-After` says in how many seconds to try again. Problem type: `/problems/too-many-requests`.",
                    );
                    response["headers"] = serde_json::json!({
                        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 1}}
                    });
                    response
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_is_stable() {
        let a = document_json();
        assert_eq!(a, document_json());
        let value: Value = serde_json::from_str(&a).expect("JSON");
        assert_eq!(value["openapi"], "3.1.0");
    }
}
