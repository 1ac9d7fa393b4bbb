//! The HTTP routes. Each module holds one resource's handlers and its wire types; wire types
//! are parsed into domain types here and never travel further as raw strings.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Path;
use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

pub(crate) mod buyer;
pub(crate) mod cards;
pub(crate) mod common;
pub(crate) mod console;
pub(crate) mod erp;
pub(crate) mod health;
pub(crate) mod interceptions;
pub(crate) mod keys;
mod limits;
pub(crate) mod orders;
mod page;
pub(crate) mod settings;
pub(crate) mod staff;
pub(crate) mod windows;

pub(crate) use health::metrics as metrics_handler;
pub(crate) use limits::LimitClass;

pub(crate) use common::*;

/// Every route of the API, each declared once: its handler's `#[utoipa::path]` gives the
/// method and path to both the router and the OpenAPI document.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(problem_page))
        .merge(settings::routes())
        .merge(keys::routes())
        .merge(staff::routes())
        .merge(windows::routes())
        .merge(orders::routes())
        .merge(cards::routes())
        .merge(interceptions::routes())
        .merge(buyer::routes())
        .merge(console::routes())
        .merge(erp::routes())
}

/// Adds what every route shares: the problem answers for unknown routes and methods, the
/// idempotency middleware, status counting, request tracing and the body limit.
/// What the middleware needs to know of the routes, read from their declaration.
#[derive(Default)]
pub(crate) struct Shape {
    /// The writes, as `"POST /v1/orders/{order_id}/cards"`.
    pub(crate) writes: std::collections::HashSet<String>,
    /// The rate-limited route templates and their class.
    pub(crate) limited: std::collections::HashMap<String, LimitClass>,
}

pub(crate) fn finish(router: Router<AppState>, state: AppState, shape: Shape) -> Router {
    let limit = state.config().body_limit;
    let limiter = state.config().rate_limits.as_ref().map(|limits| {
        std::sync::Arc::new(limits::Limiter::new(limits, shape.limited, state.clone()))
    });
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // After routing, so that it knows the route's template (never the raw path, which may
        // hold a card token).
        .route_layer(middleware::from_fn_with_state(
            common::Writes {
                app: state.clone(),
                routes: std::sync::Arc::new(shape.writes),
            },
            common::idempotency,
        ))
        // Before idempotency and every handler: a refused request costs no database work.
        .route_layer(middleware::from_fn_with_state(limiter, limits::limit))
        .route_layer(middleware::from_fn(tag_route))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn(problem_request_id))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!(
                    "request",
                    request_id = %request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                    method = %request.method(),
                    path = %loggable_path(request.uri().path()),
                )
            }),
        )
        // Outermost, so the log line and every answer carry the id: the caller's own, when it
        // sent one, else a new UUID.
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        // Bodies are read by our extractors with their own limit; this guards the rest.
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        // A body that trickles in is cut off (408) rather than holding a connection; a request
        // whose body has arrived runs to its end, so a write is never abandoned halfway.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.config().body_read_timeout,
        ))
        .with_state(state)
}

/// The header that names a request in logs and answers.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds the request's id to every problem document (`request_id`), so that a client quoting an
/// error can be matched with the server's log line; and gives its `title` in the caller's
/// language (`Accept-Language`: Chinese or English, English by default) from the one catalogue
/// of titles, saying which in `Content-Language`.
async fn problem_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let language = crate::problem::Language::from_accept_language(
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == crate::problem::PROBLEM_JSON.as_bytes());
    if !is_problem {
        return response;
    }
    let id = id.unwrap_or_default();
    let chinese = response
        .extensions()
        .get::<crate::problem::Chinese>()
        .cloned()
        .filter(|_| language == crate::problem::Language::Chinese);
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return ApiError::internal("a problem document could not be read back").into_response();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut map)) => {
            if !id.is_empty() {
                map.insert("request_id".into(), serde_json::Value::String(id));
            }
            let kind = map
                .get("type")
                .and_then(|t| t.as_str())
                .and_then(|t| t.strip_prefix("/problems/"))
                .and_then(|slug| ProblemKind::ALL.into_iter().find(|k| k.slug() == slug));
            if let Some(chinese) = chinese {
                if let Some(detail) = chinese.detail {
                    map.insert("detail".into(), detail.into());
                }
                // Every field's message in Chinese: the sentence written for it, else its code's.
                if let Some(serde_json::Value::Array(errors)) = map.get_mut("errors") {
                    for (i, error) in errors.iter_mut().enumerate() {
                        let code = error["code"].as_str().unwrap_or_default().to_owned();
                        let message = chinese
                            .messages
                            .get(i)
                            .cloned()
                            .flatten()
                            .unwrap_or_else(|| crate::problem::generic_zh(&code).to_owned());
                        error["message"] = message.into();
                    }
                }
                if let Some(serde_json::Value::Array(items)) = map.get_mut("items") {
                    for (item, message) in items.iter_mut().zip(chinese.items) {
                        item["message"] = message.into();
                    }
                }
            }
            if let Some(kind) = kind {
                map.insert("title".into(), kind.title_in(language).into());
                parts.headers.insert(
                    header::CONTENT_LANGUAGE,
                    axum::http::HeaderValue::from_static(language.tag()),
                );
            }
            parts.headers.remove(header::CONTENT_LENGTH);
            serde_json::to_vec(&map).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        "this route does not accept that method",
    )
}

/// The route template a response came from, passed from the routed layer to [`observe`].
#[derive(Clone)]
struct RouteTemplate(String);

/// Inside routing: tags the response with its route's template.
async fn tag_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| RouteTemplate(m.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}

/// Outside routing: counts every answer and its latency by method, route template (or
/// `unmatched`) and status.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map(|t| t.0.as_str());
    state.metrics().http(
        method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The human-readable page behind each problem `type`.
#[utoipa::path(
    get,
    path = "/problems/{slug}",
    tag = "operations",
    operation_id = "problem_page",
    params(("slug" = String, Path, description = "The last segment of a problem `type`, e.g. `not-found`.")),
    responses(
        (status = 200, description = "What the problem type means, as plain text.", content_type = "text/plain", body = String),
        (status = 404, response = crate::schema::NotFound),
    ),
)]
pub(crate) async fn problem_page(Path(slug): Path<String>) -> Response {
    match ProblemKind::ALL.iter().find(|k| k.slug() == slug) {
        Some(kind) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "{}\n\nHTTP status: {}\nType: /problems/{}\n\nSee docs/api.md for when Shiphold answers with it.\n",
                kind.title(),
                kind.status().as_u16(),
                kind.slug()
            ),
        )
            .into_response(),
        None => ApiError::not_found("problem type").into_response(),
    }
}

/// A request path as it may appear in logs: a card token is the buyer's credential, so every
/// segment that is one is cut to its prefix, at every log level.
pub(crate) fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with(crate::service::cards::TOKEN_PREFIX) {
                "ct_…"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn card_tokens_never_reach_the_log() {
        let token = "ct_Zk3-abcdefghijklmnopqrstuvwxyz0123456789ABCDE";
        for path in [
            format!("/c/{token}"),
            format!("/v1/buyer/cards/{token}"),
            format!("/v1/buyer/cards/{token}/interceptions"),
        ] {
            let shown = loggable_path(&path);
            assert!(!shown.contains(&token[3..]), "{shown}");
            assert!(shown.contains("ct_…"), "{shown}");
        }
        assert_eq!(loggable_path("/v1/orders/O-1"), "/v1/orders/O-1");
    }
}
