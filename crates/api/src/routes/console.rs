//! The merchant console: one self-contained page that drives the JSON API with the merchant's
//! own API key, so it holds no logic the API does not check again.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

const PAGE: &str = include_str!("../../assets/console.html");
/// The interception terms, in both languages, of the version merchants accept today.
const TERMS: &str = include_str!("../../assets/terms.html");

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(page))
        .routes(routes!(home))
        .routes(routes!(favicon))
        .routes(routes!(terms))
}

static TERMS_POLICY: LazyLock<String> = LazyLock::new(|| super::page::policy(TERMS));

/// The interception terms (《拦截发货条款》) that an admin accepts in set-up step 1, readable
/// before they are accepted; the page names its version, the one `GET /v1/settings` calls
/// `terms.current_version`.
#[utoipa::path(
    get,
    path = "/terms",
    tag = "console",
    operation_id = "terms_page",
    responses(
        (status = 200, description = "The terms, in Chinese and English (HTML).", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn terms() -> Response {
    super::page::serve(TERMS, &TERMS_POLICY)
}

/// The site's root leads to the console.
#[utoipa::path(
    get,
    path = "/",
    tag = "console",
    operation_id = "home",
    responses(
        (status = 303, description = "See the console at `/console`.", headers(("location" = String, description = "`/console`"))),
    ),
)]
pub(crate) async fn home() -> Response {
    axum::response::Redirect::to("/console").into_response()
}

/// The icon of the console and the card page.
#[utoipa::path(
    get,
    path = "/favicon.svg",
    tag = "console",
    operation_id = "favicon",
    responses(
        (status = 200, description = "The icon, as SVG.", content_type = "image/svg+xml", body = String),
    ),
)]
pub(crate) async fn favicon() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        ICON,
    )
        .into_response()
}

/// A parcel with a stop bar, in the console's accent colour.
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\">\
<rect x=\"3\" y=\"8\" width=\"26\" height=\"20\" rx=\"3\" fill=\"#c81e1e\"/>\
<path d=\"M3 12h26\" stroke=\"#fff\" stroke-width=\"2\"/>\
<rect x=\"9\" y=\"17\" width=\"14\" height=\"4\" rx=\"1\" fill=\"#fff\"/></svg>";

/// The page's policy. The key sits in the page, so only the page's own script may run and it may
/// talk only to this origin; hashes rather than 'unsafe-inline' keep injected markup inert.
static POLICY: LazyLock<String> = LazyLock::new(|| super::page::policy(PAGE));

/// The merchant console (HTML). It asks for an API key and keeps it in the tab's sessionStorage.
#[utoipa::path(
    get,
    path = "/console",
    tag = "console",
    operation_id = "console_page",
    responses(
        (status = 200, description = "The merchant console page.", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn page() -> Response {
    super::page::serve(PAGE, &POLICY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::page::{block, hash_source};

    #[test]
    fn the_page_has_one_script_and_one_style_and_the_policy_names_both() {
        // A second block would run unhashed (and so be refused by the browser).
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        let script = block(PAGE, "<script>", "</script>");
        assert!(
            script.contains("sessionStorage"),
            "not the console's script"
        );
        assert!(POLICY.contains(&hash_source(script)));
        assert!(POLICY.contains(&hash_source(block(PAGE, "<style>", "</style>"))));
        assert!(!POLICY.contains("unsafe-inline"));
        assert!(POLICY.contains("connect-src 'self'"));
    }

    #[test]
    fn the_terms_page_is_of_the_version_merchants_accept() {
        let version = shiphold_domain::TERMS_VERSION;
        assert!(
            TERMS.contains(&format!("Version {version}")),
            "assets/terms.html is not of version {version}: change its text with the version"
        );
        assert!(!TERMS.contains("<script"), "the terms page runs no script");
    }

    #[test]
    fn the_page_writes_no_data_as_markup() {
        for risky in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!PAGE.contains(risky), "the console uses {risky}");
        }
        // Inline handlers and style attributes would be refused by the policy.
        assert!(!PAGE.contains(" onclick="), "inline handler");
        assert!(!PAGE.contains(" style=\""), "style attribute");
    }
}
