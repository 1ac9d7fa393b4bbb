//! The HTTP routes. Each module holds one resource's handlers and its wire types; wire types
//! are parsed into domain types here and never travel further as raw strings.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::extract::Path;
use crate::problem::{ApiError, ProblemKind};
use crate::state::{AppState, Metrics};

pub(crate) mod buyer;
pub(crate) mod cards;
mod common;
pub(crate) mod console;
pub(crate) mod erp;
pub(crate) mod health;
pub(crate) mod interceptions;
pub(crate) mod keys;
pub(crate) mod orders;
pub(crate) mod settings;
pub(crate) mod windows;

pub(crate) use common::*;

/// How a route authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None: operator endpoints and documentation.
    Public,
    /// A shop's API key (`Authorization: Bearer shk_…`).
    Key,
    /// A card token in the path (the buyer's link).
    Token,
    /// A Standard Webhooks signature with the shop's secret (ERP callbacks).
    Signature,
}

/// One route: its method, path template and authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path template (`/v1/orders/{order_id}`).
    pub path: &'static str,
    /// How callers authenticate.
    pub auth: Auth,
}

/// The router being built and the list of what it serves, kept together so the list cannot
/// drift from the routes (tests use it to demand a tenancy case for every route).
pub(crate) struct Table {
    router: Router<AppState>,
    entries: Vec<RouteInfo>,
}

macro_rules! method {
    ($name:ident, $axum:ident, $verb:literal) => {
        pub(crate) fn $name<H, T>(mut self, path: &'static str, auth: Auth, handler: H) -> Self
        where
            H: axum::handler::Handler<T, AppState>,
            T: 'static,
        {
            self.router = self.router.route(path, axum::routing::$axum(handler));
            self.entries.push(RouteInfo {
                method: $verb,
                path,
                auth,
            });
            self
        }
    };
}

impl Table {
    fn new() -> Self {
        Self {
            router: Router::new(),
            entries: Vec::new(),
        }
    }
    method!(get, get, "GET");
    method!(post, post, "POST");
    method!(put, put, "PUT");
    method!(delete, delete, "DELETE");
}

fn table() -> Table {
    let table = Table::new()
        .get("/healthz", Auth::Public, health::healthz)
        .get("/readyz", Auth::Public, health::readyz)
        .get("/metrics", Auth::Public, health::metrics)
        .get("/problems/{slug}", Auth::Public, problem_page)
        .get("/openapi.json", Auth::Public, crate::openapi::serve);
    let table = settings::routes(table);
    let table = keys::routes(table);
    let table = windows::routes(table);
    let table = orders::routes(table);
    let table = cards::routes(table);
    let table = interceptions::routes(table);
    let table = buyer::routes(table);
    let table = console::routes(table);
    erp::routes(table)
}

/// Every route the server answers, in the order they are registered.
pub fn route_table() -> Vec<RouteInfo> {
    table().entries
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let limit = state.config().body_limit;
    table()
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::idempotency,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), count_status))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Bodies are read by our extractors with their own limit; this guards the rest.
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
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

async fn count_status(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let metrics = state.metrics();
    match response.status().as_u16() {
        200..=399 => Metrics::inc(&metrics.http_2xx),
        400..=499 => Metrics::inc(&metrics.http_4xx),
        _ => Metrics::inc(&metrics.http_5xx),
    }
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
        (status = 404, response = crate::openapi::NotFound),
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
