//! The application assembled: every documented route, the OpenAPI document's own route, and the
//! layers they share; and the list of what the server answers, read from the same declaration.

use axum::Router;
use serde_json::Value;

use crate::state::AppState;

/// How a route authenticates its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// None: operator endpoints and documentation.
    Public,
    /// A shop's API key (`Authorization: Bearer shk_…`) or a signed-in person's session.
    Key,
    /// A signed-in person's session only (the console's cookie).
    Session,
    /// A login and password, or an invitation token, in the body (signing in).
    Password,
    /// A card token in the path (the buyer's link).
    Token,
    /// A Standard Webhooks signature with the shop's secret (ERP callbacks).
    Signature,
}

/// One route: its method, path template and authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path template (`/v1/orders/{order_id}`).
    pub path: String,
    /// How callers authenticate.
    pub auth: Auth,
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let (router, _) = crate::openapi::documented_routes().split_for_parts();
    let mut shape = crate::routes::Shape::default();
    for route in route_table() {
        // The writes, as "METHOD /template": the idempotency middleware acts on these only, so
        // another method on the same path gets its 405.
        if route.method != "GET" {
            shape
                .writes
                .insert(format!("{} {}", route.method, route.path));
        }
        // The routes a client reaches without an API key are rate-limited per client address.
        match route.auth {
            Auth::Token => {
                shape
                    .limited
                    .insert(route.path, crate::routes::LimitClass::Buyer);
            }
            Auth::Signature => {
                shape
                    .limited
                    .insert(route.path, crate::routes::LimitClass::Callback);
            }
            Auth::Password => {
                shape
                    .limited
                    .insert(route.path, crate::routes::LimitClass::SignIn);
            }
            Auth::Public | Auth::Key | Auth::Session => {}
        }
    }
    crate::routes::finish(router, state, shape)
}

/// The metrics listener's application: `GET /metrics` only. The server serves it on its own
/// address (`metrics.listen`), so the metrics never reach the public listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(crate::routes::metrics_handler),
        )
        .with_state(state)
}

/// Every route the server answers, read from the declaration that also builds the router, so
/// the list cannot drift from the routes (tests demand a tenancy case for every route). A route's
/// credential is its documented security scheme, or the card token in its path.
pub fn route_table() -> Vec<RouteInfo> {
    let document = serde_json::to_value(crate::openapi::openapi()).unwrap_or(Value::Null);
    let mut routes = Vec::new();
    let Some(paths) = document["paths"].as_object() else {
        return routes;
    };
    for (path, item) in paths {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let operation = &item[method.to_ascii_lowercase()];
            if !operation.is_object() {
                continue;
            }
            let scheme = |name: &str| {
                operation["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get(name).is_some()))
            };
            let auth = if scheme(crate::openapi::API_KEY_SCHEME) {
                Auth::Key
            } else if scheme(crate::openapi::SESSION_SCHEME) {
                Auth::Session
            } else if scheme(crate::openapi::WEBHOOK_SCHEME) {
                Auth::Signature
            } else if crate::routes::staff::SIGN_IN_ROUTES.contains(&path.as_str()) {
                Auth::Password
            } else if path.contains("{token}") {
                Auth::Token
            } else {
                Auth::Public
            };
            routes.push(RouteInfo {
                method,
                path: path.clone(),
                auth,
            });
        }
    }
    routes
}
