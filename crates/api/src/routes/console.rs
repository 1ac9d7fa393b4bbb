//! The merchant console: one self-contained page that drives the JSON API with the merchant's
//! own API key, so it holds no logic the API does not check again.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

const PAGE: &str = include_str!("../../assets/console.html");

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(page))
}

/// The text between the page's only `<open>` and `</close>` tags.
fn block<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    let start = page.find(open).map_or(0, |i| i + open.len());
    let end = page[start..].find(close).map_or(start, |i| start + i);
    &page[start..end]
}

/// A CSP source for exactly this inline block.
fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's policy. The key sits in the page, so only the page's own script may run and it may
/// talk only to this origin; hashes rather than 'unsafe-inline' keep injected markup inert.
static POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src 'self' {script}; style-src 'self' {style}; \
         connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'",
        script = hash_source(block(PAGE, "<script>", "</script>")),
        style = hash_source(block(PAGE, "<style>", "</style>")),
    )
});

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
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        PAGE,
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(&POLICY) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_hash_is_the_base64_of_sha256() {
        // echo -n 'x' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            hash_source("x"),
            "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"
        );
    }
}
