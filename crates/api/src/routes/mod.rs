//! The HTTP routes. Each module holds one resource's handlers and its wire types; wire types
//! are parsed into domain types here and never travel further as raw strings.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::problem::{ApiError, ProblemKind};
use crate::state::{AppState, Metrics};

mod buyer;
mod cards;
mod common;
mod erp;
mod health;
mod interceptions;
mod keys;
mod orders;
mod settings;
mod windows;

pub(crate) use common::*;
pub(crate) use settings::template_set as template_set_of;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let limit = state.config().body_limit;
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/problems/{slug}", get(problem_page))
        .merge(settings::routes())
        .merge(keys::routes())
        .merge(windows::routes())
        .merge(orders::routes())
        .merge(cards::routes())
        .merge(interceptions::routes())
        .merge(buyer::routes())
        .merge(erp::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
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
async fn problem_page(Path(slug): Path<String>) -> Response {
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
