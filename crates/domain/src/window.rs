//! Event windows: the periods when the marketplace has refunds off, and the date they reopen.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, ValidationError};
use crate::ids::EventWindowId;

/// Why an event window is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// It overlaps another window of the same shop.
    #[error("the window overlaps event window {0}")]
    Overlaps(EventWindowId),
}

/// A period when refunds are off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWindow {
    /// The window's id.
    pub id: EventWindowId,
    /// A name for people ("Double 11 2026").
    pub name: String,
    /// When refunds go off (inclusive).
    pub refunds_off_from: DateTime<Utc>,
    /// When the refund-off period ends (exclusive).
    pub refunds_off_until: DateTime<Utc>,
    /// The marketplace's time zone, for the dates buyers read.
    pub time_zone: Tz,
    /// When buyers can request refunds again.
    pub refunds_reopen_at: DateTime<Utc>,
}

/// Parses an IANA time-zone name.
pub fn parse_time_zone(raw: &str) -> Result<Tz, FieldError> {
    raw.parse::<Tz>().map_err(|_| {
        FieldError::new(
            "time_zone",
            "invalid",
            format!("'{raw}' is not an IANA time-zone name"),
        )
        .zh(format!("“{raw}”不是 IANA 时区名称(例如 Asia/Shanghai)"))
    })
}

impl EventWindow {
    /// The longest name accepted, in characters.
    pub const MAX_NAME_CHARS: usize = 100;

    /// Checks the window on its own: end after start, reopening not before the end.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::empty();
        if self.name.trim().is_empty() {
            errors.push(FieldError::new("name", "required", "name is required").zh("请填写名称"));
        } else if self.name.chars().count() > Self::MAX_NAME_CHARS {
            errors.push(
                FieldError::new(
                    "name",
                    "too_long",
                    format!("name must be at most {} characters", Self::MAX_NAME_CHARS),
                )
                .zh(format!("名称最多 {} 个字符", Self::MAX_NAME_CHARS)),
            );
        }
        if self.refunds_off_until <= self.refunds_off_from {
            errors.push(
                FieldError::new(
                    "refunds_off_until",
                    "before_start",
                    "the end must be after refunds_off_from",
                )
                .zh("结束时间必须晚于开始时间"),
            );
        }
        if self.refunds_reopen_at < self.refunds_off_until {
            errors.push(
                FieldError::new(
                    "refunds_reopen_at",
                    "before_end",
                    "refunds cannot reopen before the window ends",
                )
                .zh("退款重开时间不能早于窗口结束时间"),
            );
        }
        errors.into_result()
    }

    /// Checks the window against the shop's other windows (which may include an older copy of
    /// itself, skipped by id).
    pub fn check_against<'a>(
        &self,
        others: impl IntoIterator<Item = &'a EventWindow>,
    ) -> Result<(), WindowError> {
        self.validate()?;
        for other in others {
            if other.id != self.id && self.overlaps(other) {
                return Err(WindowError::Overlaps(other.id.clone()));
            }
        }
        Ok(())
    }

    /// Whether the two refund-off periods share an instant.
    pub fn overlaps(&self, other: &EventWindow) -> bool {
        self.refunds_off_from < other.refunds_off_until
            && other.refunds_off_from < self.refunds_off_until
    }

    /// Whether refunds are off at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.refunds_off_from <= now && now < self.refunds_off_until
    }

    /// The local day refunds go off (what buyers call "11.11").
    pub fn event_day(&self) -> NaiveDate {
        self.refunds_off_from
            .with_timezone(&self.time_zone)
            .date_naive()
    }

    /// The local day refunds reopen (what buyers call "11.12").
    pub fn reopen_day(&self) -> NaiveDate {
        self.refunds_reopen_at
            .with_timezone(&self.time_zone)
            .date_naive()
    }
}

/// The window active at `now`, if any.
pub fn active_at<'a>(
    windows: impl IntoIterator<Item = &'a EventWindow>,
    now: DateTime<Utc>,
) -> Option<&'a EventWindow> {
    windows.into_iter().find(|w| w.is_active(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn double11() -> EventWindow {
        let tz = parse_time_zone("Asia/Shanghai").unwrap();
        EventWindow {
            id: EventWindowId::parse("evw_1").unwrap(),
            name: "Double 11".into(),
            refunds_off_from: tz.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap().to_utc(),
            refunds_off_until: tz.with_ymd_and_hms(2026, 11, 12, 0, 0, 0).unwrap().to_utc(),
            time_zone: tz,
            refunds_reopen_at: tz.with_ymd_and_hms(2026, 11, 12, 0, 0, 0).unwrap().to_utc(),
        }
    }

    #[test]
    fn days_are_local_to_the_time_zone() {
        let w = double11();
        // Midnight in Shanghai is the afternoon before in UTC; buyers still read 11.11.
        assert_eq!(w.refunds_off_from.date_naive().to_string(), "2026-11-10");
        assert_eq!(w.event_day().to_string(), "2026-11-11");
        assert_eq!(w.reopen_day().to_string(), "2026-11-12");
    }

    #[test]
    fn active_is_half_open() {
        let w = double11();
        assert!(w.is_active(w.refunds_off_from));
        assert!(!w.is_active(w.refunds_off_until));
        assert!(!w.is_active(w.refunds_off_from - chrono::Duration::seconds(1)));
        assert_eq!(
            active_at([&w], w.refunds_off_from).map(|w| &w.id),
            Some(&w.id)
        );
    }

    #[test]
    fn validation_and_overlap() {
        let mut w = double11();
        w.refunds_reopen_at = w.refunds_off_from;
        let err = w.validate().unwrap_err();
        assert_eq!(err.errors[0].field, "refunds_reopen_at");
        w.refunds_off_until = w.refunds_off_from;
        w.refunds_reopen_at = w.refunds_off_from - chrono::Duration::seconds(1);
        let fields: Vec<_> = w
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["refunds_off_until", "refunds_reopen_at"]);

        let a = double11();
        let mut b = double11();
        b.id = EventWindowId::parse("evw_2").unwrap();
        assert_eq!(
            b.check_against([&a]),
            Err(WindowError::Overlaps(a.id.clone()))
        );
        // A window does not overlap its own older copy.
        assert!(a.check_against([&a]).is_ok());
        b.refunds_off_from = a.refunds_off_until;
        b.refunds_off_until = b.refunds_off_from + chrono::Duration::days(1);
        b.refunds_reopen_at = b.refunds_off_until;
        assert!(b.check_against([&a]).is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
