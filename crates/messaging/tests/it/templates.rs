//! Parsing shop overrides: what is refused and how the refusal names the problem.

use shiphold_messaging::{
    Locale, MAX_TEMPLATE_CHARS, Placeholder, Template, TemplateError, TemplateKind, TemplateSet,
    escape,
};

use crate::{card_context, context, date};

#[test]
fn unknown_placeholder_is_refused_with_its_name_and_position() {
    let text = "亲,{event_day}当天无法退款,请于{refund_day}起申请";
    // Positions count characters, not bytes, so that an editor can put the cursor there.
    let byte_index = text.find("{refund_day}").expect("in text");
    let char_index = text[..byte_index].chars().count();
    assert_eq!(char_index, 22);
    let mut set = TemplateSet::new();
    let err = set
        .set_text(TemplateKind::Acknowledgement, Locale::ZhCn, text)
        .expect_err("refund_day is not a placeholder");
    match &err {
        TemplateError::UnknownPlaceholder {
            name,
            position,
            kind,
        } => {
            assert_eq!(name, "refund_day");
            assert_eq!(*position, char_index);
            assert_eq!(*kind, TemplateKind::Acknowledgement);
        }
        other => panic!("wrong error: {other:?}"),
    }
    assert!(err.to_string().contains("{refund_day}"));
    assert!(set.is_empty(), "a refused override must not be saved");
}

#[test]
fn the_link_is_only_for_the_card() {
    let err = Template::parse(TemplateKind::RefundReminder, "Refund here: {link}")
        .expect_err("reminder has no link");
    assert_eq!(
        err,
        TemplateError::PlaceholderNotAvailable {
            placeholder: Placeholder::Link,
            position: 13,
            kind: TemplateKind::RefundReminder,
        }
    );
    assert!(Template::parse(TemplateKind::Card, "Open {link} before {expires_at}").is_ok());
}

#[test]
fn every_documented_placeholder_parses_for_its_kinds_only() {
    for kind in TemplateKind::ALL {
        for p in Placeholder::ALL {
            let text = format!("x {{{}}} y", p.as_str());
            let parsed = Template::parse(kind, &text);
            assert_eq!(
                parsed.is_ok(),
                kind.placeholders().contains(&p),
                "{kind} {p}"
            );
        }
    }
}

#[test]
fn braces_are_escaped_by_doubling() {
    let t = Template::parse(
        TemplateKind::Acknowledgement,
        "{{literal}} {{{event_day}}} }}{{",
    )
    .expect("valid");
    let ctx = context(date(2025, 6, 18), date(2025, 6, 19));
    assert_eq!(t.render(Locale::En, &ctx), "{literal} {6.18} }{");

    // escape() makes any text literal.
    let text = "{event_day} } { {{";
    let t = Template::parse(TemplateKind::Acknowledgement, &escape(text)).expect("escaped");
    assert_eq!(t.render(Locale::ZhCn, &ctx), text);
}

#[test]
fn unbalanced_braces_are_refused_at_their_position() {
    let k = TemplateKind::Card;
    assert_eq!(
        Template::parse(k, "打开 {link"),
        Err(TemplateError::UnclosedBrace { position: 3 })
    );
    assert_eq!(
        Template::parse(k, "打开 link}"),
        Err(TemplateError::UnmatchedClosingBrace { position: 7 })
    );
    assert_eq!(
        Template::parse(k, "{}"),
        Err(TemplateError::EmptyPlaceholder { position: 0 })
    );
}

#[test]
fn length_is_bounded() {
    let k = TemplateKind::LockSuccess;
    assert!(Template::parse(k, &"a".repeat(MAX_TEMPLATE_CHARS)).is_ok());
    assert!(matches!(
        Template::parse(k, &"a".repeat(MAX_TEMPLATE_CHARS + 1)),
        Err(TemplateError::TooLong { .. })
    ));
    assert_eq!(Template::parse(k, "   "), Err(TemplateError::Empty));
}

#[test]
fn overrides_render_with_the_shops_values() {
    let mut set = TemplateSet::new();
    set.set_text(
        TemplateKind::Card,
        Locale::En,
        "{shop_name}: order {order_id}, {item_count} items ({items}). Refunds reopen {reopen_date}. {link} (until {expires_at})",
    )
    .expect("valid");
    let ctx = card_context(
        date(2025, 6, 18),
        date(2025, 6, 19),
        "2025-06-19T08:30:00+08:00",
    );
    assert_eq!(
        set.render(TemplateKind::Card, Locale::En, &ctx),
        "Shiphold Test Shop: order T-20251111-0001, 2 items (保温杯, Kettle). Refunds reopen \
         2025-06-19. https://shiphold.example/card/abc123 (until 6.19 08:30)"
    );
    // Chinese keeps its default.
    assert!(
        set.render(TemplateKind::Card, Locale::ZhCn, &ctx)
            .starts_with("亲,6.18当天")
    );
}

#[test]
fn stored_overrides_survive_json() {
    let mut set = TemplateSet::new();
    set.set_text(
        TemplateKind::Acknowledgement,
        Locale::ZhCn,
        "亲,{{注意}} {reopen_day}",
    )
    .expect("valid");
    let json = serde_json::to_string(&set).expect("serialise");
    let back: TemplateSet = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, set);
    let ctx = context(date(2025, 11, 11), date(2025, 11, 12));
    assert_eq!(
        back.render(TemplateKind::Acknowledgement, Locale::ZhCn, &ctx),
        "亲,{注意} 11.12"
    );
}
