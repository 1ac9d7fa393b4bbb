//! Properties over arbitrary input: parsing never panics, rendering leaves nothing unresolved.

use proptest::prelude::*;
use shiphold_messaging::{Locale, Placeholder, Template, TemplateKind};

use crate::{card_context, date};

fn kind() -> impl Strategy<Value = TemplateKind> {
    prop::sample::select(TemplateKind::ALL.to_vec())
}

fn locale() -> impl Strategy<Value = Locale> {
    prop::sample::select(Locale::ALL.to_vec())
}

/// A piece of a generated template.
#[derive(Debug, Clone)]
enum Piece {
    /// Literal text, braces included (they get escaped).
    Text(String),
    Placeholder(Placeholder),
}

fn pieces(kind: TemplateKind) -> impl Strategy<Value = Vec<Piece>> {
    let placeholder =
        prop::sample::select(kind.placeholders().to_vec()).prop_map(Piece::Placeholder);
    let text = "[a-z亲,。 {}()!\n]{1,12}".prop_map(Piece::Text);
    prop::collection::vec(prop_oneof![text, placeholder], 1..12)
}

proptest! {
    #[test]
    fn parse_never_panics(kind in kind(), text in any::<String>()) {
        let _ = Template::parse(kind, &text);
    }

    #[test]
    fn parse_never_panics_on_brace_heavy_input(kind in kind(), text in "[{}a-z_亲]{0,40}") {
        if let Ok(t) = Template::parse(kind, &text) {
            // What parses, round-trips through its stored text.
            prop_assert_eq!(Template::parse(kind, t.as_str()), Ok(t));
        }
    }

    #[test]
    fn errors_point_inside_the_text(kind in kind(), text in "[{}a-z_亲\u{0}]{1,40}") {
        if let Err(e) = Template::parse(kind, &text)
            && let Some(position) = e.position()
        {
            prop_assert!(position < text.chars().count());
        }
    }

    #[test]
    fn render_resolves_every_placeholder(
        (kind, pieces) in kind().prop_flat_map(|k| (Just(k), pieces(k))),
        locale in locale(),
    ) {
        let source: String = pieces.iter().map(|p| match p {
            Piece::Text(t) => shiphold_messaging::escape(t),
            Piece::Placeholder(p) => format!("{{{}}}", p.as_str()),
        }).collect();
        prop_assume!(!source.trim().is_empty());
        let template = Template::parse(kind, &source)
            .map_err(|e| TestCaseError::fail(format!("{source:?}: {e}")))?;

        let ctx = card_context(date(2025, 11, 11), date(2025, 11, 12), "2025-11-12T20:00:00+08:00");
        let rendered = template.render(locale, &ctx);

        // Every placeholder was replaced by its value: the output equals the literal text with
        // each placeholder rendered on its own.
        let expected: String = pieces.iter().map(|p| match p {
            Piece::Text(t) => t.clone(),
            Piece::Placeholder(p) => Template::parse(kind, &format!("{{{}}}", p.as_str()))
                .map(|t| t.render(locale, &ctx))
                .unwrap_or_default(),
        }).collect();
        prop_assert_eq!(&rendered, &expected);

        // And no placeholder syntax survives, unless the literal text itself wrote braces.
        if pieces.iter().all(|p| !matches!(p, Piece::Text(t) if t.contains(['{', '}']))) {
            prop_assert!(!rendered.contains('{') && !rendered.contains('}'), "{}", rendered);
        }
    }
}
