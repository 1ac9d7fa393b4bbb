//! Liveness, readiness and metrics for operators.

use std::fmt::Write;
use std::sync::atomic::Ordering;

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

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Counters and gauges in the Prometheus text format.", content_type = "text/plain", body = String)),
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let mut out = String::new();
    let counters = [
        ("shiphold_http_responses_total{class=\"2xx\"}", &m.http_2xx),
        ("shiphold_http_responses_total{class=\"4xx\"}", &m.http_4xx),
        ("shiphold_http_responses_total{class=\"5xx\"}", &m.http_5xx),
        (
            "shiphold_deliveries_total{outcome=\"delivered\"}",
            &m.deliveries_ok,
        ),
        (
            "shiphold_deliveries_total{outcome=\"retry\"}",
            &m.deliveries_retried,
        ),
        (
            "shiphold_deliveries_total{outcome=\"dead\"}",
            &m.deliveries_dead,
        ),
        (
            "shiphold_interceptions_created_total",
            &m.interceptions_created,
        ),
    ];
    let _ = writeln!(out, "# TYPE shiphold_http_responses_total counter");
    let _ = writeln!(out, "# TYPE shiphold_deliveries_total counter");
    let _ = writeln!(out, "# TYPE shiphold_interceptions_created_total counter");
    for (name, counter) in counters {
        let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
    }
    if let Ok(counts) = operations::outbox_counts(&state).await {
        let _ = writeln!(out, "# TYPE shiphold_outbox_entries gauge");
        for c in counts {
            for (status, n) in [
                ("pending", c.pending),
                ("leased", c.leased),
                ("dead", c.dead),
                ("held", c.held),
            ] {
                let _ = writeln!(
                    out,
                    "shiphold_outbox_entries{{topic=\"{}\",status=\"{status}\"}} {n}",
                    c.topic
                );
            }
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}
