//! The two HTML pages the server serves (the merchant console and the buyer's card page): each
//! is one self-contained file with one inline script and one inline style, allowed by hash in a
//! strict content security policy, and served with the headers that keep it from being framed,
//! sniffed or cached.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The text between the page's only `<open>` and `</close>` tags.
pub(crate) fn block<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
    let start = page.find(open).map_or(0, |i| i + open.len());
    let end = page[start..].find(close).map_or(start, |i| start + i);
    &page[start..end]
}

/// A CSP source for exactly this inline block.
pub(crate) fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy of a page: its own script and style by hash, requests to this origin only, and
/// no framing.
pub(crate) fn policy(page: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' {script}; style-src 'self' {style}; \
         connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'",
        script = hash_source(block(page, "<script>", "</script>")),
        style = hash_source(block(page, "<style>", "</style>")),
    )
}

/// The page with its policy and the headers every page gets.
pub(crate) fn serve(page: &'static str, policy: &str) -> Response {
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        page,
    )
        .into_response();
    if let Ok(policy) = HeaderValue::from_str(policy) {
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
    fn a_hash_is_the_base64_of_sha256() {
        // echo -n 'x' | openssl dgst -sha256 -binary | base64
        assert_eq!(
            hash_source("x"),
            "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"
        );
    }
}
