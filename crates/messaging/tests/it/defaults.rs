//! The built-in texts: the product's wording, with the shop's dates filled in.

use shiphold_messaging::{Locale, TemplateKind, TemplateSet, default_text};

use crate::{card_context, context, date};

/// The product's texts, copied from product.md ("How the feature works", steps 2 and 3).
const ACK_ZH_11_11: &str = "亲,11.11当天无法申请退款,但我们已尝试拦截发货(可能拦截失败),请于11.12起尽快申请退款,如果需要继续发货,请及时联系我们!";
const ACK_EN_11_11: &str = "Refunds can't be requested on 11.11, but we have tried to stop the shipment (it may fail). Please request a refund from 11.12 as soon as possible. If you want the order shipped after all, contact us.";
const SUCCESS_ZH: &str =
    "亲,您选择的商品已拦截成功,暂时不发货。请及时申请退款,如未退款有可能继续发货。";
const SUCCESS_EN: &str = "The items you chose have been stopped and won't ship for now. Please request a refund promptly: without a refund they may still ship.";

#[test]
fn acknowledgement_reproduces_the_product_text_for_11_11() {
    let ctx = context(date(2025, 11, 11), date(2025, 11, 12));
    let set = TemplateSet::new();
    let zh = set.render(TemplateKind::Acknowledgement, Locale::ZhCn, &ctx);
    let en = set.render(TemplateKind::Acknowledgement, Locale::En, &ctx);
    assert_eq!(zh.as_bytes(), ACK_ZH_11_11.as_bytes());
    assert_eq!(en.as_bytes(), ACK_EN_11_11.as_bytes());
}

#[test]
fn lock_success_reproduces_the_product_text() {
    let ctx = context(date(2025, 11, 11), date(2025, 11, 12));
    let set = TemplateSet::new();
    assert_eq!(
        set.render(TemplateKind::LockSuccess, Locale::ZhCn, &ctx),
        SUCCESS_ZH
    );
    assert_eq!(
        set.render(TemplateKind::LockSuccess, Locale::En, &ctx),
        SUCCESS_EN
    );
    assert_eq!(
        default_text(TemplateKind::LockSuccess, Locale::ZhCn),
        SUCCESS_ZH
    );
}

#[test]
fn acknowledgement_says_the_shops_real_dates() {
    let ctx = context(date(2025, 6, 18), date(2025, 6, 19));
    let set = TemplateSet::new();
    let zh = set.render(TemplateKind::Acknowledgement, Locale::ZhCn, &ctx);
    let en = set.render(TemplateKind::Acknowledgement, Locale::En, &ctx);
    assert_eq!(
        zh,
        ACK_ZH_11_11
            .replace("11.11", "6.18")
            .replace("11.12", "6.19")
    );
    assert_eq!(
        en,
        ACK_EN_11_11
            .replace("11.11", "6.18")
            .replace("11.12", "6.19")
    );
    assert!(!zh.contains("11.1") && !en.contains("11.1"));
}

#[test]
fn refunds_reopening_after_a_gap_and_across_a_year() {
    // The event day and the reopen day are configured separately; nothing assumes "the next day".
    let ctx = context(date(2025, 12, 31), date(2026, 1, 2));
    let en = TemplateSet::new().render(TemplateKind::Acknowledgement, Locale::En, &ctx);
    assert!(
        en.starts_with("Refunds can't be requested on 12.31,"),
        "{en}"
    );
    assert!(en.contains("from 1.2 as soon"), "{en}");
}

#[test]
fn other_defaults_fill_items_and_link() {
    let ctx = card_context(
        date(2025, 11, 11),
        date(2025, 11, 12),
        "2025-11-12T20:00:00+08:00",
    );
    let set = TemplateSet::new();

    let card_zh = set.render(TemplateKind::Card, Locale::ZhCn, &ctx);
    assert!(
        card_zh.starts_with("亲,11.11当天无法申请退款。"),
        "{card_zh}"
    );
    assert!(card_zh.contains("11.12 20:00前"), "{card_zh}");
    assert!(
        card_zh.ends_with(":https://shiphold.example/card/abc123"),
        "{card_zh}"
    );
    let card_en = set.render(TemplateKind::Card, Locale::En, &ctx);
    assert!(card_en.contains("before 11.12 20:00"), "{card_en}");
    assert!(
        card_en.ends_with(": https://shiphold.example/card/abc123"),
        "{card_en}"
    );

    let reminder_zh = set.render(TemplateKind::RefundReminder, Locale::ZhCn, &ctx);
    assert!(reminder_zh.contains("(保温杯、Kettle)"), "{reminder_zh}");
    let reminder_en = set.render(TemplateKind::RefundReminder, Locale::En, &ctx);
    assert!(reminder_en.contains("(保温杯, Kettle)"), "{reminder_en}");

    let release_zh = set.render(TemplateKind::ReleaseNotice, Locale::ZhCn, &ctx);
    assert!(
        release_zh.contains("取消拦截") && release_zh.contains("将正常发货"),
        "{release_zh}"
    );
    let release_en = set.render(TemplateKind::ReleaseNotice, Locale::En, &ctx);
    assert!(release_en.contains("will ship as usual"), "{release_en}");
    // Customer service releases, not always at the buyer's request: the notice says neither.
    let release_zh = set.render(TemplateKind::ReleaseNotice, Locale::ZhCn, &ctx);
    assert!(!release_en.contains("you asked"), "{release_en}");
    assert!(!release_zh.contains("您的要求"), "{release_zh}");
}

#[test]
fn no_default_claims_success_except_lock_success() {
    // The acknowledgement is not success (product.md): only the lock-success texts may say so.
    let ctx = card_context(
        date(2025, 11, 11),
        date(2025, 11, 12),
        "2025-11-12T20:00:00+08:00",
    );
    let set = TemplateSet::new();
    for kind in TemplateKind::ALL {
        for locale in Locale::ALL {
            let text = set.render(kind, locale, &ctx);
            let claims = text.contains("拦截成功") || text.contains("have been stopped");
            assert_eq!(
                claims,
                matches!(
                    kind,
                    TemplateKind::LockSuccess | TemplateKind::PartialLockSuccess
                ),
                "{kind}/{locale}: {text}"
            );
            assert!(
                !text.contains('{') && !text.contains('}'),
                "{kind}/{locale}: {text}"
            );
        }
    }
}
