//! Keyset paging: an opaque cursor that names the last row seen, and a limit.

use chrono::{DateTime, Utc};

use crate::error::StoreError;

/// Which page to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The cursor from the previous page's `next`; `None` for the first page.
    pub after: Option<String>,
    /// The most items to return; 0 means [`Page::DEFAULT_LIMIT`], and it is capped at
    /// [`Page::MAX_LIMIT`].
    pub limit: u32,
}

impl Page {
    /// The page size when none is given.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 500;

    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }

    /// The page after `cursor`.
    pub fn after(cursor: impl Into<String>, limit: u32) -> Self {
        Self {
            after: Some(cursor.into()),
            limit,
        }
    }

    /// The effective limit.
    pub fn effective_limit(&self) -> usize {
        let limit = if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit.min(Self::MAX_LIMIT)
        };
        limit as usize
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of items and the cursor of the next page, if there are more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Pass this as `Page::after` to read on; `None` at the end.
    pub next: Option<String>,
}

impl<T> PageOf<T> {
    /// Cuts `rows` (fetched with one more than `limit`) to a page, naming the next cursor.
    pub(crate) fn from_rows<R>(
        mut rows: Vec<R>,
        limit: usize,
        cursor: impl Fn(&R) -> String,
        convert: impl FnMut(R) -> Result<T, StoreError>,
    ) -> Result<Self, StoreError> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&cursor) } else { None };
        let items = rows.into_iter().map(convert).collect::<Result<_, _>>()?;
        Ok(PageOf { items, next })
    }
}

/// A cursor that is a row id.
pub(crate) fn id_cursor(page: &Page) -> Result<Option<i64>, StoreError> {
    page.after
        .as_deref()
        .map(|raw| {
            raw.parse::<i64>()
                .map_err(|_| StoreError::InvalidCursor(raw.to_owned()))
        })
        .transpose()
}

/// A cursor that is a time and a text id (`millis:id`), for listings ordered by time.
pub(crate) fn time_id_cursor(page: &Page) -> Result<Option<(i64, String)>, StoreError> {
    page.after
        .as_deref()
        .map(|raw| {
            raw.split_once(':')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| StoreError::InvalidCursor(raw.to_owned()))
        })
        .transpose()
}

/// The cursor text for `time_id_cursor`.
pub(crate) fn time_id(ms: i64, id: &str) -> String {
    format!("{ms}:{id}")
}

/// A time as stored: unix milliseconds.
pub(crate) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time back, or `Corrupt` naming the column.
pub(crate) fn from_ms(value: i64, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(value)
        .ok_or_else(|| StoreError::corrupt(format!("{column}: {value} is not a time")))
}

/// A nullable stored time back.
pub(crate) fn from_ms_opt(
    value: Option<i64>,
    column: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    value.map(|v| from_ms(v, column)).transpose()
}
