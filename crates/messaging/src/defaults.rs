//! The built-in texts of every message, in Chinese and English, used when a shop has no override.
//!
//! The acknowledgement and lock-success texts are the product's defaults, character for character
//! (the Chinese ones mix ASCII `,()!` with the full-width `。` exactly as the product writes them);
//! only the dates became placeholders. The others are written in the same voice; the partial
//! lock-success text is the lock-success text for the case the product's wording does not fit
//! (only some of the chosen items were stopped), so it names them.

use std::sync::LazyLock;

use crate::{Locale, Template, TemplateKind};

/// The built-in template text for `kind` in `locale`.
pub const fn default_text(kind: TemplateKind, locale: Locale) -> &'static str {
    match (kind, locale) {
        (TemplateKind::Card, Locale::ZhCn) => {
            "亲,{event_day}当天无法申请退款。如果订单中有不想要的商品,请在{expires_at}前打开链接,\
             选择不需要发货的商品,我们会尝试为您拦截发货:{link}"
        }
        (TemplateKind::Card, Locale::En) => {
            "Refunds can't be requested on {event_day}. If there are items in your order you no \
             longer want, open this link before {expires_at} and choose the items that should not \
             ship; we will try to stop their shipment: {link}"
        }
        (TemplateKind::Acknowledgement, Locale::ZhCn) => {
            "亲,{event_day}当天无法申请退款,但我们已尝试拦截发货(可能拦截失败),\
             请于{reopen_day}起尽快申请退款,如果需要继续发货,请及时联系我们!"
        }
        (TemplateKind::Acknowledgement, Locale::En) => {
            "Refunds can't be requested on {event_day}, but we have tried to stop the shipment \
             (it may fail). Please request a refund from {reopen_day} as soon as possible. If you \
             want the order shipped after all, contact us."
        }
        (TemplateKind::LockSuccess, Locale::ZhCn) => {
            "亲,您选择的商品已拦截成功,暂时不发货。请及时申请退款,如未退款有可能继续发货。"
        }
        (TemplateKind::LockSuccess, Locale::En) => {
            "The items you chose have been stopped and won't ship for now. Please request a \
             refund promptly: without a refund they may still ship."
        }
        (TemplateKind::PartialLockSuccess, Locale::ZhCn) => {
            "亲,您选择的商品中,{items}已拦截成功,暂时不发货。请及时申请退款,如未退款有可能继续发货。\
             其余商品暂未拦截成功,可能继续发货。"
        }
        (TemplateKind::PartialLockSuccess, Locale::En) => {
            "Of the items you chose, these have been stopped and won't ship for now: {items}. \
             Please request a refund promptly: without a refund they may still ship. The other \
             items have not been stopped and may ship."
        }
        (TemplateKind::RefundReminder, Locale::ZhCn) => {
            "亲,现在可以申请退款了。您已拦截的商品({items})还未退款,请尽快申请退款,\
             如未退款有可能继续发货。"
        }
        (TemplateKind::RefundReminder, Locale::En) => {
            "Refunds can be requested again. The items we stopped ({items}) have not been \
             refunded yet. Please request a refund as soon as possible: without a refund they may \
             still ship."
        }
        (TemplateKind::ReleaseNotice, Locale::ZhCn) => {
            "亲,您的商品({items})已取消拦截,将正常发货。如有疑问,请及时联系我们!"
        }
        (TemplateKind::ReleaseNotice, Locale::En) => {
            "We are no longer stopping the shipment: your items ({items}) will ship as usual. If \
             anything is wrong, contact us."
        }
    }
}

/// The built-in templates, parsed once. Indexed by [`slot`].
static DEFAULTS: LazyLock<Vec<Template>> = LazyLock::new(|| {
    TemplateKind::ALL
        .iter()
        .flat_map(|&kind| Locale::ALL.iter().map(move |&locale| (kind, locale)))
        .map(|(kind, locale)| {
            // The texts are constants of this file and a unit test parses every one of them, so a
            // failure here is a bug in this file, never bad input.
            Template::parse(kind, default_text(kind, locale))
                .unwrap_or_else(|e| panic!("built-in {kind} template for {locale} is invalid: {e}"))
        })
        .collect()
});

fn slot(kind: TemplateKind, locale: Locale) -> usize {
    // `ALL` lists the variants in declaration order, which is what `as usize` numbers.
    kind as usize * Locale::ALL.len() + locale as usize
}

/// The built-in template for `kind` in `locale`, parsed.
pub fn default_template(kind: TemplateKind, locale: Locale) -> &'static Template {
    &DEFAULTS[slot(kind, locale)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_for_its_kind() {
        for kind in TemplateKind::ALL {
            for locale in Locale::ALL {
                let t = Template::parse(kind, default_text(kind, locale))
                    .unwrap_or_else(|e| panic!("{kind}/{locale}: {e}"));
                assert_eq!(default_template(kind, locale), &t);
                assert_eq!(t.kind(), kind);
            }
        }
    }

    #[test]
    fn the_card_carries_its_link_and_the_others_name_the_dates_or_items() {
        use crate::Placeholder as P;
        for locale in Locale::ALL {
            let uses = |kind| {
                default_template(kind, locale)
                    .placeholders()
                    .collect::<Vec<_>>()
            };
            assert!(uses(TemplateKind::Card).contains(&P::Link), "{locale}");
            assert!(uses(TemplateKind::Card).contains(&P::ExpiresAt), "{locale}");
            assert_eq!(
                uses(TemplateKind::Acknowledgement),
                [P::EventDay, P::ReopenDay],
                "{locale}"
            );
            assert!(uses(TemplateKind::LockSuccess).is_empty(), "{locale}");
            assert_eq!(
                uses(TemplateKind::PartialLockSuccess),
                [P::Items],
                "{locale}"
            );
            assert!(
                uses(TemplateKind::RefundReminder).contains(&P::Items),
                "{locale}"
            );
            assert!(
                uses(TemplateKind::ReleaseNotice).contains(&P::Items),
                "{locale}"
            );
        }
    }

    #[test]
    fn chinese_defaults_use_the_products_punctuation() {
        // The product writes ASCII commas, parentheses and '!' inside Chinese, and a full-width
        // '。'; full-width commas, parentheses, '!' or ':' would make a different text.
        for kind in TemplateKind::ALL {
            let text = default_text(kind, Locale::ZhCn);
            for wrong in ['\u{ff0c}', '\u{ff08}', '\u{ff09}', '\u{ff01}', '\u{ff1a}'] {
                assert!(!text.contains(wrong), "{kind} contains {wrong}");
            }
            assert!(text.starts_with("亲,"), "{kind}");
        }
    }

    #[test]
    fn slots_are_distinct() {
        for (i, kind) in TemplateKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
        for (i, locale) in Locale::ALL.into_iter().enumerate() {
            assert_eq!(locale as usize, i);
        }
        let mut seen = std::collections::BTreeSet::new();
        for kind in TemplateKind::ALL {
            for locale in Locale::ALL {
                assert!(seen.insert(slot(kind, locale)));
            }
        }
        assert_eq!(seen.len(), DEFAULTS.len());
    }
}
