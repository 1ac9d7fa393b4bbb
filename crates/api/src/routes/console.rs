//! The merchant console: one self-contained page that drives the JSON API with the merchant's
//! own API key, so it holds no logic the API does not check again.

use std::sync::LazyLock;

use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

const PAGE: &str = include_str!("../../assets/console.html");

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(page))
}

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
