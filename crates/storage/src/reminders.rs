//! Finding the interceptions whose buyers should be reminded to file their refund, once
//! refunds have reopened.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use shiphold_domain::{InterceptionId, ShopId};

use crate::error::StoreError;
use crate::store::Tx;

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    shop_id: String,
    #[diesel(sql_type = Text)]
    id: String,
}

/// The message kind that marks an interception's refund reminder as sent.
pub const REFUND_REMINDER_KIND: &str = "refund_reminder";

/// How long after refunds reopen a reminder is still worth sending.
pub const REMINDER_HORIZON_DAYS: i64 = 30;

impl Tx<'_> {
    /// Interceptions made while a window of their shop had refunds off, whose window has since
    /// reopened refunds (within the last 30 days), that still have an intercepted item and
    /// whose buyer has not been sent a refund reminder for them. Oldest first, at most `limit`.
    pub fn interceptions_due_for_reminder(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ShopId, InterceptionId)>, StoreError> {
        let now_ms = now.timestamp_millis();
        let active = crate::interceptions::ACTIVE_STATES
            .map(|s| format!("'{s}'"))
            .join(", ");
        let since_ms = (now - Duration::days(REMINDER_HORIZON_DAYS)).timestamp_millis();
        // Only integers are spliced in, so the text needs no bind parameters, whose syntax
        // differs between the two backends.
        let sql = format!(
            "SELECT DISTINCT i.shop_id AS shop_id, i.id AS id, i.created_at AS created_at \
             FROM interceptions i \
             JOIN event_windows w ON w.shop_id = i.shop_id \
             WHERE w.refunds_reopen_at <= {now_ms} AND w.refunds_reopen_at > {since_ms} \
               AND i.created_at >= w.refunds_off_from AND i.created_at < w.refunds_reopen_at \
               AND EXISTS (SELECT 1 FROM interception_lines l \
                           WHERE l.shop_id = i.shop_id AND l.interception_id = i.id \
                             AND l.state IN ({active})) \
               AND NOT EXISTS (SELECT 1 FROM messages m \
                               WHERE m.shop_id = i.shop_id AND m.interception_id = i.id \
                                 AND m.kind = '{REFUND_REMINDER_KIND}') \
             ORDER BY created_at, id LIMIT {limit}"
        );
        let rows: Vec<DueRow> = diesel::sql_query(sql).load(self.db())?;
        rows.into_iter()
            .map(|r| {
                let shop =
                    ShopId::parse(&r.shop_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let id =
                    InterceptionId::parse(&r.id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((shop, id))
            })
            .collect()
    }
}
