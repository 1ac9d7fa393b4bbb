//! Pieces the routes share: paging, idempotency, timestamps, and responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shiphold_domain::{FieldError, ShopId, SubOrderId, ValidationError};
use shiphold_messaging::Locale;
use shiphold_storage::{IdemBegin, Page};

use crate::problem::{ApiError, ProblemKind};
use crate::service::{cards, idempotency, keys, staff};
use crate::state::AppState;

/// Query parameters of every list.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// How many items (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(FieldError::new(
                "limit",
                "out_of_range",
                "limit must be between 1 and 200",
            )
            .zh("limit 应在 1 到 200 之间")
            .into());
        }
        Ok(Page {
            // An empty cursor is the first page, as no cursor is.
            after: self.cursor.clone().filter(|c| !c.is_empty()),
            limit,
        })
    }
}

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Listing<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Parses an RFC 3339 timestamp, naming the field.
pub(crate) fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                field,
                "invalid",
                "must be an RFC 3339 timestamp such as 2026-11-11T00:00:00+08:00",
            )
            .zh("应为 RFC 3339 时间,例如 2026-11-11T00:00:00+08:00")
        })
}

/// A JSON response with a status.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, Json(body)).into_response()
}

/// The header that makes a write safe to retry.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Marks an answer that carries a secret shown only once (a new API key, a signing secret, a
/// card link). The idempotency layer never stores such an answer: a replay is refused with a
/// problem that names what was created, never the secret.
#[derive(Debug, Clone)]
pub(crate) struct ShownOnce {
    /// What the first request created, for the replay's problem (`API key key_…`).
    pub created: String,
}

/// Adds [`ShownOnce`] to a response.
pub(crate) fn shown_once(mut response: Response, created: impl Into<String>) -> Response {
    response.extensions_mut().insert(ShownOnce {
        created: created.into(),
    });
    response
}

/// The content type under which a withheld answer's record is stored.
const WITHHELD: &str = "application/vnd.shiphold.withheld+json";

/// An `Idempotency-Key` as the API documents it: 1 to 255 visible ASCII characters (`!` to `~`,
/// no spaces).
fn valid_idempotency_key(raw: &[u8]) -> Option<String> {
    let valid = (1..=255).contains(&raw.len()) && raw.iter().all(|b| (b'!'..=b'~').contains(b));
    valid.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// What the idempotency middleware needs: the application, and the writes the routes declare
/// (`"POST /v1/orders/{order_id}/cards"`).
#[derive(Clone)]
pub(crate) struct Writes {
    pub(crate) app: AppState,
    pub(crate) routes: std::sync::Arc<std::collections::HashSet<String>>,
}

/// Runs every write under the request's `Idempotency-Key`, if it sent one (the IETF draft's
/// semantics): the same key and body replay the stored response; the same key with another
/// body is refused (422); a key whose first request is still running answers 409.
///
/// A key belongs to the credential that sent it — the API key, the staff session or the card
/// token, by hash — and
/// to the route's template, so another key of the same shop (with other roles) never receives
/// an answer meant for this one, and no token is stored in clear. Requests whose credential is
/// not known pass through, so the route answers them (401, 404) as usual. Answers carrying a
/// secret ([`ShownOnce`]) are not stored: a replay gets a problem instead.
pub(crate) async fn idempotency(
    axum::extract::State(writes): axum::extract::State<Writes>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let state = writes.app;
    let Some(raw_key) = request.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    let Some(template) = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(request).await;
    };
    // Only the writes the routes declare; reads, and methods a path does not have (its 405),
    // go on untouched.
    if !writes
        .routes
        .contains(&format!("{} {template}", request.method()))
    {
        return next.run(request).await;
    }
    let bearer = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let path = request.uri().path().to_owned();
    // The credential first: a request without a known one is answered by its route (401, 403,
    // 404) whatever key it sent.
    let (shop_id, credential) = match owner(&state, bearer, request.headers(), &path).await {
        Ok(Some(found)) => found,
        Ok(None) => return next.run(request).await,
        Err(error) => return error.into_response(),
    };
    let Some(key) = valid_idempotency_key(raw_key.as_bytes()) else {
        return ApiError::field(
            FieldError::new(
                "Idempotency-Key",
                "invalid",
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
            )
            .zh("Idempotency-Key 请求头应为 1 到 255 个可见 ASCII 字符"),
        )
        .into_response();
    };
    let (parts, body) = request.into_parts();
    let limit = state.config().body_limit;
    let bytes = match crate::extract::read_body(body, limit, "the body").await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let scope = format!("{} {template} {credential}", parts.method);
    let fingerprint = hex::encode(Sha256::digest([scope.as_bytes(), b"\n", &bytes].concat()));
    let begin = idempotency::begin(
        &state,
        shop_id.clone(),
        key.clone(),
        scope.clone(),
        fingerprint,
    )
    .await;
    match begin {
        Err(error) => ApiError::from(error).into_response(),
        Ok(IdemBegin::InFlight) => ApiError::new(
            ProblemKind::IdempotencyKeyInUse,
            "a request with this Idempotency-Key is still being processed; retry later",
        )
        .into_response(),
        Ok(IdemBegin::Mismatch) => ApiError::new(
            ProblemKind::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request",
        )
        .into_response(),
        Ok(IdemBegin::Done {
            status,
            body,
            content_type,
        }) if content_type.as_deref() == Some(WITHHELD) => {
            let created = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["created"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "an object".to_owned());
            ApiError::new(
                ProblemKind::ReplayWithheld,
                format!(
                    "the first request with this Idempotency-Key succeeded ({status}) and created \
                     {created}; its answer carried a secret that is shown only once, so it is \
                     not replayed"
                ),
            )
            .into_response()
        }
        Ok(IdemBegin::Done {
            status,
            body,
            content_type,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            let content_type = content_type.unwrap_or_else(|| "application/json".to_owned());
            if let Ok(value) = axum::http::HeaderValue::from_str(&content_type) {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, value);
            }
            response.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            response
        }
        Ok(IdemBegin::New) => {
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            let response = next.run(request).await;
            let status = response.status();
            let (parts, body) = response.into_parts();
            let bytes = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(b) => b,
                Err(error) => return ApiError::internal(error).into_response(),
            };
            let (stored, content_type) = match parts.extensions.get::<ShownOnce>() {
                // The secret is never written down: only that it was shown, and what was made.
                Some(shown) => (
                    serde_json::to_vec(&serde_json::json!({ "created": shown.created }))
                        .unwrap_or_default(),
                    WITHHELD.to_owned(),
                ),
                None => (
                    bytes.to_vec(),
                    parts
                        .headers
                        .get(axum::http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/json")
                        .to_owned(),
                ),
            };
            // A 5xx is not a result: let the retry run the request again.
            let outcome = if status.is_server_error() {
                idempotency::abandon(&state, shop_id, key, scope).await
            } else {
                idempotency::finish(
                    &state,
                    shop_id,
                    key,
                    scope,
                    status.as_u16(),
                    stored,
                    content_type,
                )
                .await
            };
            if let Err(error) = outcome {
                tracing::warn!(%error, "could not record the idempotent response");
            }
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
    }
}

/// The shop a write belongs to and its credential's hash: the API key's, or the card token's
/// for the buyer's routes.
async fn owner(
    state: &AppState,
    bearer: Option<String>,
    headers: &axum::http::HeaderMap,
    path: &str,
) -> Result<Option<(ShopId, String)>, ApiError> {
    let has_bearer = bearer.is_some();
    if let Some(token) = bearer.filter(|t| t.starts_with(crate::auth::KEY_PREFIX)) {
        let caller = keys::authenticate(state, &token).await?;
        return Ok(caller.map(|c| (c.shop_id, crate::auth::hash_secret(&token))));
    }
    // A person's session counts only with its CSRF token: without it the route refuses (403)
    // before anything, a stored answer included, is given out.
    if !has_bearer && let Some(token) = crate::auth::session_cookie(headers) {
        let session = staff::session(state, &token).await?;
        return Ok(session
            .filter(|_| crate::auth::csrf_matches(headers, &token))
            .map(|s| (s.caller.shop_id, crate::auth::hash_secret(&token))));
    }
    let card_token = path
        .strip_prefix("/v1/buyer/cards/")
        .and_then(|rest| rest.split('/').next());
    match card_token {
        Some(token) => Ok(cards::token_shop(state, token)
            .await?
            .map(|shop| (shop, crate::auth::hash_secret(token)))),
        None => Ok(None),
    }
}

/// The buyer's or agent's language from a body field; Chinese when absent.
pub(crate) fn parse_locale(raw: Option<&str>) -> Result<Locale, ValidationError> {
    match raw {
        None => Ok(Locale::default()),
        Some(raw) => Locale::parse(raw)
            .map_err(|e| FieldError::new("locale", "invalid", e.to_string()).into()),
    }
}

/// Sub-order ids from a body list, each failing one named by its index.
pub(crate) fn parse_sub_order_ids(
    raw: &[String],
    field: &str,
) -> Result<Vec<SubOrderId>, ValidationError> {
    let mut errors = ValidationError::empty();
    let ids: Vec<SubOrderId> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            errors.check(SubOrderId::parse(raw).map_err(|e| FieldError {
                field: format!("{field}[{i}]"),
                ..e
            }))
        })
        .collect();
    errors.into_result()?;
    Ok(ids)
}
