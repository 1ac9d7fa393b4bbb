//! Which buyer message a template is for, and the placeholders each kind may use.

use crate::names::{UnknownName, string_name};

/// Which buyer message a template produces.
///
/// Text form (`as_str`, serde, `Display`): `card`, `acknowledgement`, `lock_success`,
/// `partial_lock_success`, `refund_reminder`, `release_notice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKind {
    /// Carries the interception card link to the buyer (method 1).
    Card,
    /// The interception request was received. This is *not* success: the shipment may still leave.
    Acknowledgement,
    /// The ERP reported that it locked every item of the interception. Sent only when the shop
    /// uses ERP locking.
    LockSuccess,
    /// The ERP reported that it locked some of the items: the message names the stopped ones
    /// (`{items}`), as the others may still ship. Sent only when the shop uses ERP locking.
    PartialLockSuccess,
    /// Refunds have reopened: reminds a buyer whose items were intercepted and not yet refunded.
    RefundReminder,
    /// Customer service released the interception; the goods will ship.
    ReleaseNotice,
}

string_name!(TemplateKind);

/// Placeholders every kind may use.
const COMMON: [Placeholder; 7] = [
    Placeholder::ShopName,
    Placeholder::OrderId,
    Placeholder::Items,
    Placeholder::ItemCount,
    Placeholder::EventDay,
    Placeholder::ReopenDay,
    Placeholder::ReopenDate,
];

/// The card message additionally has the link and its expiry.
const CARD: [Placeholder; 9] = [
    Placeholder::ShopName,
    Placeholder::OrderId,
    Placeholder::Items,
    Placeholder::ItemCount,
    Placeholder::EventDay,
    Placeholder::ReopenDay,
    Placeholder::ReopenDate,
    Placeholder::Link,
    Placeholder::ExpiresAt,
];

impl TemplateKind {
    /// Every kind, in a stable order.
    pub const ALL: [TemplateKind; 6] = [
        TemplateKind::Card,
        TemplateKind::Acknowledgement,
        TemplateKind::LockSuccess,
        TemplateKind::PartialLockSuccess,
        TemplateKind::RefundReminder,
        TemplateKind::ReleaseNotice,
    ];

    const EXPECTED: &'static str = "card, acknowledgement, lock_success, partial_lock_success, \
         refund_reminder, release_notice";

    /// Parses the text form (exact, lower case).
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownName::new("template kind", s, Self::EXPECTED))
    }

    /// The text form.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Card => "card",
            TemplateKind::Acknowledgement => "acknowledgement",
            TemplateKind::LockSuccess => "lock_success",
            TemplateKind::PartialLockSuccess => "partial_lock_success",
            TemplateKind::RefundReminder => "refund_reminder",
            TemplateKind::ReleaseNotice => "release_notice",
        }
    }

    /// The placeholders a template of this kind may use.
    ///
    /// Every kind: `shop_name`, `order_id`, `items`, `item_count`, `event_day`, `reopen_day`,
    /// `reopen_date`. The card adds `link` and `expires_at`: only the card message has a link.
    pub const fn placeholders(self) -> &'static [Placeholder] {
        match self {
            TemplateKind::Card => &CARD,
            TemplateKind::Acknowledgement
            | TemplateKind::LockSuccess
            | TemplateKind::PartialLockSuccess
            | TemplateKind::RefundReminder
            | TemplateKind::ReleaseNotice => &COMMON,
        }
    }

    /// Whether a template of this kind may use `placeholder`.
    pub fn allows(self, placeholder: Placeholder) -> bool {
        self.placeholders().contains(&placeholder)
    }
}

/// A value a template can insert with `{name}`.
///
/// Text form (the `name` inside the braces): see [`Placeholder::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{shop_name}`: the shop's display name.
    ShopName,
    /// `{order_id}`: the order number as the buyer knows it.
    OrderId,
    /// `{items}`: the titles of the items concerned, joined with the locale's list separator
    /// (`、` in Chinese, `, ` in English).
    Items,
    /// `{item_count}`: how many items are concerned, in decimal digits.
    ItemCount,
    /// `{event_day}`: the day refunds are off, as month.day without leading zeros (`11.11`).
    EventDay,
    /// `{reopen_day}`: the day refunds reopen, as month.day without leading zeros (`11.12`).
    ReopenDay,
    /// `{reopen_date}`: the day refunds reopen as an ISO 8601 date (`2025-11-12`).
    ReopenDate,
    /// `{link}`: the card's URL. Card only.
    Link,
    /// `{expires_at}`: when the card link expires, in the shop's time, as `M.D HH:MM`
    /// (`11.12 20:00`). Card only.
    ExpiresAt,
}

string_name!(Placeholder);

impl Placeholder {
    /// Every placeholder, in a stable order.
    pub const ALL: [Placeholder; 9] = CARD;

    const EXPECTED: &'static str = "shop_name, order_id, items, item_count, event_day, reopen_day, \
                                    reopen_date, link, expires_at";

    /// Parses a placeholder name (exact, lower case, no braces).
    pub fn parse(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName::new("placeholder", s, Self::EXPECTED))
    }

    /// The name written between the braces.
    pub const fn as_str(self) -> &'static str {
        match self {
            Placeholder::ShopName => "shop_name",
            Placeholder::OrderId => "order_id",
            Placeholder::Items => "items",
            Placeholder::ItemCount => "item_count",
            Placeholder::EventDay => "event_day",
            Placeholder::ReopenDay => "reopen_day",
            Placeholder::ReopenDate => "reopen_date",
            Placeholder::Link => "link",
            Placeholder::ExpiresAt => "expires_at",
        }
    }

    /// One line for the template editor: what the placeholder becomes.
    pub const fn description(self) -> &'static str {
        match self {
            Placeholder::ShopName => "the shop's name",
            Placeholder::OrderId => "the order number",
            Placeholder::Items => "the item titles, as a list",
            Placeholder::ItemCount => "the number of items",
            Placeholder::EventDay => "the day refunds are off, like 11.11",
            Placeholder::ReopenDay => "the day refunds reopen, like 11.12",
            Placeholder::ReopenDate => "the day refunds reopen, like 2025-11-12",
            Placeholder::Link => "the interception card's link",
            Placeholder::ExpiresAt => "when the card link expires, like 11.12 20:00",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in TemplateKind::ALL {
            assert_eq!(TemplateKind::parse(kind.as_str()), Ok(kind));
            assert!(TemplateKind::EXPECTED.contains(kind.as_str()));
        }
        assert!(TemplateKind::parse("Card").is_err());
        assert!(TemplateKind::parse("success").is_err());
    }

    #[test]
    fn placeholders_round_trip_and_are_all_listed() {
        for p in Placeholder::ALL {
            assert_eq!(Placeholder::parse(p.as_str()), Ok(p));
            assert!(Placeholder::EXPECTED.contains(p.as_str()));
            assert!(!p.description().is_empty());
        }
        let mut names: Vec<_> = Placeholder::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Placeholder::ALL.len());
    }

    #[test]
    fn only_the_card_has_the_link() {
        for kind in TemplateKind::ALL {
            let card = kind == TemplateKind::Card;
            assert_eq!(kind.allows(Placeholder::Link), card, "{kind}");
            assert_eq!(kind.allows(Placeholder::ExpiresAt), card, "{kind}");
            assert!(kind.allows(Placeholder::EventDay));
            assert!(kind.allows(Placeholder::Items));
        }
    }
}
