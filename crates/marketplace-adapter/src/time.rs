//! The platform's clock: `timestamp` and the dates in answers are `yyyy-MM-dd HH:mm:ss` in
//! GMT+8 (China Standard Time), with no zone written.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// How `timestamp` is written: `yyyy-MM-dd HH:mm:ss`, for example `2016-01-01 12:00:00`.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The time zone of `timestamp` and of the dates in answers: GMT+8. Asia/Shanghai has kept
/// +08:00 without daylight saving since 1991, so its local times map to instants one to one.
pub const PLATFORM_TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// `at` as a `timestamp` value.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 0).unwrap();
/// assert_eq!(shiphold_marketplace_adapter::timestamp_text(at), "2026-11-11 08:30:00");
/// ```
pub fn timestamp_text(at: DateTime<Utc>) -> String {
    at.with_timezone(&PLATFORM_TZ)
        .format(TIMESTAMP_FORMAT)
        .to_string()
}

/// A platform date-time as an instant; `None` if it is not `yyyy-MM-dd HH:mm:ss`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let at = shiphold_marketplace_adapter::parse_platform_time("2026-11-11 08:30:00").unwrap();
/// assert_eq!(at, Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 0).unwrap());
/// assert!(shiphold_marketplace_adapter::parse_platform_time("2026-11-11T08:30:00Z").is_none());
/// ```
pub fn parse_platform_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, TIMESTAMP_FORMAT).ok()?;
    PLATFORM_TZ
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}
