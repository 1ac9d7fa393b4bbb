//! Integration tests of shiphold-messaging through its public API only.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod defaults;
mod gateway;
mod properties;
mod templates;

use chrono::{DateTime, FixedOffset, NaiveDate};
use shiphold_messaging::{CardLink, RenderContext};

/// A date the tests know to be valid.
pub fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
}

/// A fixed-offset time the tests know to be valid.
pub fn time(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).expect("valid test time")
}

/// A context for an event on `event` with refunds reopening on `reopen`.
pub fn context(event: NaiveDate, reopen: NaiveDate) -> RenderContext {
    RenderContext::new(
        "Shiphold Test Shop",
        "T-20251111-0001",
        event,
        reopen,
        vec!["保温杯".to_owned(), "Kettle".to_owned()],
    )
}

/// The same with a card link expiring at `expires_at`.
pub fn card_context(event: NaiveDate, reopen: NaiveDate, expires_at: &str) -> RenderContext {
    context(event, reopen).with_card(CardLink {
        url: "https://shiphold.example/card/abc123".to_owned(),
        expires_at: time(expires_at),
    })
}
