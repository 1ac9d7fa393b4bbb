//! Shiphold's HTTP API: the axum routes, the application services they call, and the
//! background jobs that deliver what a request enqueued.
//!
//! The server binary builds an [`AppState`] from its configuration, serves [`router`] and runs
//! [`jobs::spawn`] until shutdown.

mod app;
pub mod auth;
pub mod config;
pub mod extract;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod problem;
mod routes;
pub mod schema;
pub mod service;
mod state;
mod views;

pub use app::{Auth, RouteInfo, metrics_router, route_table, router};
pub use config::{ApiConfig, ChatGatewayConfig, DeliveryConfig, RateLimits, StaffConfig};
pub use problem::ApiError;
pub use state::{AppState, BusinessClock, Now, WallClock};
