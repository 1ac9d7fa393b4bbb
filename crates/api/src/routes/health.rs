//! Liveness and readiness for operators, and the metrics of the metrics listener.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::operations;
use crate::state::AppState;

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    status: &'static str,
    /// The database backend: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    database: &'static str,
}

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The process runs.", body = Health)),
)]
pub(super) async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(Health { status: "ok" })).into_response()
}

/// 200 when the database answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "The database answers.", body = Readiness),
        (status = 503, description = "The database does not answer (`status` is `unavailable`).", body = Readiness),
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let database = operations::backend(&state).as_str();
    match operations::ready(&state).await {
        Ok(_) => (
            StatusCode::OK,
            axum::Json(Readiness {
                status: "ready",
                database,
            }),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(Readiness {
                    status: "unavailable",
                    database,
                }),
            )
                .into_response()
        }
    }
}

/// The metrics in the OpenMetrics text format, with the outbox read at this moment. Served on
/// the metrics listener only (see [`crate::metrics_router`]), never on the public one.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let outbox = match operations::outbox_counts(&state).await {
        Ok(outbox) => outbox,
        Err(error) => {
            tracing::warn!(%error, "metrics: the outbox could not be read");
            Vec::new()
        }
    };
    let text = state.metrics().encode(&outbox, state.now().wall);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}
