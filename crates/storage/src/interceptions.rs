//! Interception cards, interceptions, their lines and each line's state history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::{
    Card, CardId, EventKind, Interception, InterceptionId, Line, LineState, Method, OrderId,
    Requester, ShopId, SubOrderId, Transition,
};

use crate::error::StoreError;
use crate::page::{Page, PageOf, from_ms, from_ms_opt, ms, time_id, time_id_cursor};
use crate::parse_id;
use crate::schema::{cards, interception_lines, interceptions, line_transitions};
use crate::store::{DbConnection, Tx};

/// The active lines of one order, by interception and position. A macro, so that the read and
/// its plan ([`Tx::explain_order_reads`]) are the same query.
macro_rules! active_lines_query {
    ($shop:expr, $order:expr) => {
        interception_lines::table
            .filter(interception_lines::shop_id.eq($shop))
            .filter(interception_lines::order_id.eq($order))
            .filter(interception_lines::state.eq_any(ACTIVE_STATES))
            .order((
                interception_lines::interception_id.asc(),
                interception_lines::position.asc(),
            ))
            .select(LineRow::as_select())
    };
}

/// The interceptions of one order, oldest first (see [`active_lines_query`]).
macro_rules! order_interceptions_query {
    ($shop:expr, $order:expr) => {
        interceptions::table
            .filter(interceptions::shop_id.eq($shop))
            .filter(interceptions::order_id.eq($order))
            .order((interceptions::created_at.asc(), interceptions::id.asc()))
            .select(InterceptionRow::as_select())
    };
}

/// Which interceptions to list. Every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterceptionFilter {
    /// Only this order's.
    pub order_id: Option<OrderId>,
    /// Only those with at least one line in this state.
    pub state: Option<LineState>,
    /// Only those created before this time (exclusive).
    pub created_before: Option<DateTime<Utc>>,
    /// Only those created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cards)]
struct CardRow {
    shop_id: String,
    id: String,
    order_id: String,
    buyer_id: String,
    token_hash: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl CardRow {
    fn into_card(self) -> Result<Card, StoreError> {
        Ok(Card {
            id: parse_id(&self.id, "cards.id")?,
            order_id: parse_id(&self.order_id, "cards.order_id")?,
            buyer_id: parse_id(&self.buyer_id, "cards.buyer_id")?,
            created_at: from_ms(self.created_at, "cards.created_at")?,
            expires_at: from_ms(self.expires_at, "cards.expires_at")?,
            revoked_at: from_ms_opt(self.revoked_at, "cards.revoked_at")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = interceptions)]
struct InterceptionRow {
    shop_id: String,
    id: String,
    order_id: String,
    buyer_id: String,
    method: String,
    card_id: Option<String>,
    requester_kind: String,
    requester_id: String,
    created_at: i64,
    reason: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = interception_lines)]
struct LineRow {
    shop_id: String,
    interception_id: String,
    sub_order_id: String,
    order_id: String,
    position: i32,
    quantity: i64,
    state: String,
    updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = line_transitions)]
struct TransitionRow {
    sub_order_id: String,
    from_state: String,
    to_state: String,
    event: String,
    detail: Option<String>,
    at: i64,
    actor: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = line_transitions)]
// NULL for `None`, not the column's DEFAULT: SQLite's multi-row insert has no DEFAULT keyword.
#[diesel(treat_none_as_default_value = false)]
struct NewTransitionRow<'a> {
    shop_id: &'a str,
    interception_id: &'a str,
    sub_order_id: &'a str,
    from_state: &'a str,
    to_state: &'a str,
    event: &'a str,
    detail: Option<&'a str>,
    at: i64,
    actor: Option<&'a str>,
}

fn parse_state(raw: &str, column: &str) -> Result<LineState, StoreError> {
    LineState::parse(raw).map_err(|e| StoreError::corrupt(format!("{column}: {e}")))
}

/// The stored names of the states in which a line is active (see `LineState::is_active`).
pub(crate) const ACTIVE_STATES: [&str; 4] =
    ["requested", "delivered_to_erp", "locked", "lock_failed"];

impl LineRow {
    fn into_line(self) -> Result<Line, StoreError> {
        Ok(Line {
            sub_order_id: parse_id(&self.sub_order_id, "interception_lines.sub_order_id")?,
            quantity: u32::try_from(self.quantity).map_err(|_| {
                StoreError::corrupt(format!("interception_lines.quantity: {}", self.quantity))
            })?,
            state: parse_state(&self.state, "interception_lines.state")?,
            updated_at: from_ms(self.updated_at, "interception_lines.updated_at")?,
        })
    }
}

impl InterceptionRow {
    fn into_interception(self, lines: Vec<LineRow>) -> Result<Interception, StoreError> {
        let method = match (self.method.as_str(), &self.card_id) {
            ("direct", _) => Method::Direct,
            ("card", Some(card)) => Method::Card {
                card_id: parse_id(card, "interceptions.card_id")?,
            },
            (other, _) => {
                return Err(StoreError::corrupt(format!(
                    "interceptions.method: '{other}' (card id {:?})",
                    self.card_id
                )));
            }
        };
        let requested_by = match self.requester_kind.as_str() {
            "buyer" => {
                Requester::Buyer(parse_id(&self.requester_id, "interceptions.requester_id")?)
            }
            "agent" => Requester::Agent(self.requester_id),
            other => {
                return Err(StoreError::corrupt(format!(
                    "interceptions.requester_kind: '{other}'"
                )));
            }
        };
        Ok(Interception {
            id: parse_id(&self.id, "interceptions.id")?,
            order_id: parse_id(&self.order_id, "interceptions.order_id")?,
            buyer_id: parse_id(&self.buyer_id, "interceptions.buyer_id")?,
            method,
            requested_by,
            created_at: from_ms(self.created_at, "interceptions.created_at")?,
            reason: self.reason,
            lines: lines
                .into_iter()
                .map(LineRow::into_line)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Tx<'_> {
    /// Stores a new card with the hash of its link's token. `Conflict` if the id or the hash
    /// is taken.
    pub fn insert_card(
        &mut self,
        shop: &ShopId,
        card: &Card,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        diesel::insert_into(cards::table)
            .values(CardRow {
                shop_id: shop.as_str().to_owned(),
                id: card.id.as_str().to_owned(),
                order_id: card.order_id.as_str().to_owned(),
                buyer_id: card.buyer_id.as_str().to_owned(),
                token_hash: token_hash.to_owned(),
                created_at: ms(card.created_at),
                expires_at: ms(card.expires_at),
                revoked_at: card.revoked_at.map(ms),
            })
            .execute(self.db())?;
        Ok(())
    }

    /// The card whose token hashes to `token_hash`, with its shop (the token alone names it).
    pub fn card_by_token_hash(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<(ShopId, Card)>, StoreError> {
        let row = cards::table
            .filter(cards::token_hash.eq(token_hash))
            .select(CardRow::as_select())
            .first(self.db())
            .optional()?;
        row.map(|r| {
            let shop = parse_id(&r.shop_id, "cards.shop_id")?;
            Ok((shop, r.into_card()?))
        })
        .transpose()
    }

    /// One card.
    pub fn card(&mut self, shop: &ShopId, id: &CardId) -> Result<Option<Card>, StoreError> {
        cards::table
            .find((shop.as_str(), id.as_str()))
            .select(CardRow::as_select())
            .first(self.db())
            .optional()?
            .map(CardRow::into_card)
            .transpose()
    }

    /// Revokes a card. `false` if the shop has no such card; revoking twice keeps the first
    /// time.
    pub fn revoke_card(
        &mut self,
        shop: &ShopId,
        id: &CardId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = cards::table.find((shop.as_str(), id.as_str()));
        let exists = key
            .select(cards::id)
            .first::<String>(self.db())
            .optional()?
            .is_some();
        if exists {
            diesel::update(key.filter(cards::revoked_at.is_null()))
                .set(cards::revoked_at.eq(ms(at)))
                .execute(self.db())?;
        }
        Ok(exists)
    }

    /// The order's cards, oldest first.
    pub fn cards_for_order(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
    ) -> Result<Vec<Card>, StoreError> {
        cards::table
            .filter(cards::shop_id.eq(shop.as_str()))
            .filter(cards::order_id.eq(order.as_str()))
            .order((cards::created_at.asc(), cards::id.asc()))
            .select(CardRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(CardRow::into_card)
            .collect()
    }

    /// Stores a new interception with its lines, and records each line's first transition
    /// (`requested` → `requested`, event `requested`, at the line's `updated_at`).
    pub fn insert_interception(
        &mut self,
        shop: &ShopId,
        interception: &Interception,
    ) -> Result<(), StoreError> {
        let (method, card_id) = match &interception.method {
            Method::Direct => ("direct", None),
            Method::Card { card_id } => ("card", Some(card_id.as_str().to_owned())),
        };
        let (requester_kind, requester_id) = match &interception.requested_by {
            Requester::Buyer(buyer) => ("buyer", buyer.as_str().to_owned()),
            Requester::Agent(agent) => ("agent", agent.clone()),
        };
        diesel::insert_into(interceptions::table)
            .values(InterceptionRow {
                shop_id: shop.as_str().to_owned(),
                id: interception.id.as_str().to_owned(),
                order_id: interception.order_id.as_str().to_owned(),
                buyer_id: interception.buyer_id.as_str().to_owned(),
                method: method.to_owned(),
                card_id,
                requester_kind: requester_kind.to_owned(),
                requester_id,
                created_at: ms(interception.created_at),
                reason: interception.reason.clone(),
            })
            .execute(self.db())?;
        let mut lines = Vec::with_capacity(interception.lines.len());
        let mut firsts = Vec::with_capacity(interception.lines.len());
        for (position, line) in interception.lines.iter().enumerate() {
            lines.push(LineRow {
                shop_id: shop.as_str().to_owned(),
                interception_id: interception.id.as_str().to_owned(),
                sub_order_id: line.sub_order_id.as_str().to_owned(),
                order_id: interception.order_id.as_str().to_owned(),
                position: i32::try_from(position)
                    .map_err(|_| StoreError::database("too many lines"))?,
                quantity: i64::from(line.quantity),
                state: line.state.as_str().to_owned(),
                updated_at: ms(line.updated_at),
            });
        }
        let by = Some(interception.requested_by.actor());
        for line in &interception.lines {
            firsts.push((
                line.sub_order_id.clone(),
                Transition {
                    from: LineState::Requested,
                    to: line.state,
                    event: EventKind::Requested,
                    detail: interception.reason.clone(),
                    at: line.updated_at,
                    by: by.clone(),
                },
            ));
        }
        // The lines and their first transitions, one statement each: at most MAX_SUB_ORDERS
        // rows of 9 parameters, far below either database's limit.
        self.insert_rows(diesel::insert_into(interception_lines::table).values(&lines))?;
        self.insert_transitions(shop, &interception.id, &firsts)?;
        Ok(())
    }

    /// Appends transitions of an interception's lines, in the order given, in one statement.
    fn insert_transitions(
        &mut self,
        shop: &ShopId,
        interception: &InterceptionId,
        transitions: &[(SubOrderId, Transition)],
    ) -> Result<(), StoreError> {
        if transitions.is_empty() {
            return Ok(());
        }
        let rows: Vec<NewTransitionRow<'_>> = transitions
            .iter()
            .map(|(sub_order, t)| NewTransitionRow {
                shop_id: shop.as_str(),
                interception_id: interception.as_str(),
                sub_order_id: sub_order.as_str(),
                from_state: t.from.as_str(),
                to_state: t.to.as_str(),
                event: t.event.as_str(),
                detail: t.detail.as_deref(),
                at: ms(t.at),
                actor: t.by.as_deref(),
            })
            .collect();
        self.insert_rows(diesel::insert_into(line_transitions::table).values(&rows))
    }

    /// The order an interception belongs to, without its lines: what a writer needs to lock
    /// the order before it reads the interception.
    pub fn interception_order(
        &mut self,
        shop: &ShopId,
        id: &InterceptionId,
    ) -> Result<Option<OrderId>, StoreError> {
        interceptions::table
            .find((shop.as_str(), id.as_str()))
            .select(interceptions::order_id)
            .first::<String>(self.db())
            .optional()?
            .map(|raw| parse_id(&raw, "interceptions.order_id"))
            .transpose()
    }

    /// One interception with its lines (in the order they were stored).
    pub fn interception(
        &mut self,
        shop: &ShopId,
        id: &InterceptionId,
    ) -> Result<Option<Interception>, StoreError> {
        let row = interceptions::table
            .find((shop.as_str(), id.as_str()))
            .select(InterceptionRow::as_select())
            .first(self.db())
            .optional()?;
        match row {
            None => Ok(None),
            Some(row) => {
                let mut lines = self.line_rows(shop, std::slice::from_ref(&row.id))?;
                let mine = lines.remove(&row.id).unwrap_or_default();
                row.into_interception(mine).map(Some)
            }
        }
    }

    /// Every recorded transition of the interception's lines, oldest first.
    pub fn line_history(
        &mut self,
        shop: &ShopId,
        id: &InterceptionId,
    ) -> Result<Vec<(SubOrderId, Transition)>, StoreError> {
        line_transitions::table
            .filter(line_transitions::shop_id.eq(shop.as_str()))
            .filter(line_transitions::interception_id.eq(id.as_str()))
            .order(line_transitions::id.asc())
            .select(TransitionRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(|r| {
                Ok((
                    parse_id(&r.sub_order_id, "line_transitions.sub_order_id")?,
                    Transition {
                        from: parse_state(&r.from_state, "line_transitions.from_state")?,
                        to: parse_state(&r.to_state, "line_transitions.to_state")?,
                        event: EventKind::parse(&r.event).map_err(|e| {
                            StoreError::corrupt(format!("line_transitions.event: {e}"))
                        })?,
                        detail: r.detail,
                        at: from_ms(r.at, "line_transitions.at")?,
                        by: r.actor,
                    },
                ))
            })
            .collect()
    }

    /// The order's lines that are still active (the item is intercepted), with their
    /// interception, ordered by interception id and then line.
    pub fn active_lines_for_order(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
    ) -> Result<Vec<(InterceptionId, Line)>, StoreError> {
        active_lines_query!(shop.as_str(), order.as_str())
            .load(self.db())?
            .into_iter()
            .map(|r| {
                let id = parse_id(&r.interception_id, "interception_lines.interception_id")?;
                Ok((id, r.into_line()?))
            })
            .collect()
    }

    /// The query plans of the two reads every intake, interception and order page makes of one
    /// order (its active lines, its interceptions), one line per step, as the database would
    /// run them now: for diagnosis, and for the test that keeps their cost independent of the
    /// shop's history.
    pub fn explain_order_reads(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
    ) -> Result<Vec<String>, StoreError> {
        use crate::explain::{PgLine, SqliteStep};
        use diesel::sql_types::{Array, Text};
        // The SQL as diesel renders it for the backend, without the binds it prints after it.
        macro_rules! sql_of {
            ($backend:ty, $query:expr) => {{
                let text = diesel::debug_query::<$backend, _>(&$query).to_string();
                text.split(" -- binds:")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            }};
        }
        let (s, o) = (shop.as_str(), order.as_str());
        let states: Vec<&str> = ACTIVE_STATES.to_vec();
        Ok(match &mut *self.conn {
            DbConnection::Pg(c) => {
                use diesel::pg::Pg;
                let lines = sql_of!(Pg, active_lines_query!(s, o));
                let heads = sql_of!(Pg, order_interceptions_query!(s, o));
                let mut plan: Vec<PgLine> = diesel::sql_query(format!("EXPLAIN {lines}"))
                    .bind::<Text, _>(s)
                    .bind::<Text, _>(o)
                    .bind::<Array<Text>, _>(&states)
                    .load(c)?;
                plan.extend(
                    diesel::sql_query(format!("EXPLAIN {heads}"))
                        .bind::<Text, _>(s)
                        .bind::<Text, _>(o)
                        .load::<PgLine>(c)?,
                );
                plan.into_iter().map(|l| l.line).collect()
            }
            DbConnection::Sqlite(c) => {
                use diesel::sqlite::Sqlite;
                let mut plan = Vec::new();
                for sql in [
                    sql_of!(Sqlite, active_lines_query!(s, o)),
                    sql_of!(Sqlite, order_interceptions_query!(s, o)),
                ] {
                    // Unbound parameters are NULL to EXPLAIN QUERY PLAN; the plan is the same.
                    plan.extend(
                        diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                            .load::<SqliteStep>(c)?
                            .into_iter()
                            .map(|l| l.detail),
                    );
                }
                plan
            }
        })
    }

    /// Stores a line's new state and appends `transition` to its history. `NotFound` if the
    /// interception has no such line.
    pub fn update_line(
        &mut self,
        shop: &ShopId,
        interception: &InterceptionId,
        line: &Line,
        transition: &Transition,
    ) -> Result<(), StoreError> {
        self.update_lines(
            shop,
            interception,
            &[line],
            &[(line.sub_order_id.clone(), transition.clone())],
        )
    }

    /// Stores the new states of several lines of one interception and appends their
    /// transitions, in the order given, in one statement: one change of many lines (an ERP's
    /// answer that marks every item delivered and locked) costs a statement per line and one
    /// more, not two per transition. `NotFound` if the interception lacks one of the lines.
    pub fn update_lines(
        &mut self,
        shop: &ShopId,
        interception: &InterceptionId,
        lines: &[&Line],
        transitions: &[(SubOrderId, Transition)],
    ) -> Result<(), StoreError> {
        for line in lines {
            let updated = diesel::update(interception_lines::table.find((
                shop.as_str(),
                interception.as_str(),
                line.sub_order_id.as_str(),
            )))
            .set((
                interception_lines::state.eq(line.state.as_str()),
                interception_lines::updated_at.eq(ms(line.updated_at)),
            ))
            .execute(self.db())?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
        }
        self.insert_transitions(shop, interception, transitions)
    }

    /// The shop's interceptions, newest first.
    pub fn interceptions(
        &mut self,
        shop: &ShopId,
        filter: &InterceptionFilter,
        page: &Page,
    ) -> Result<PageOf<Interception>, StoreError> {
        let limit = page.effective_limit();
        let mut query = interceptions::table
            .filter(interceptions::shop_id.eq(shop.as_str()))
            .select(InterceptionRow::as_select())
            .order((interceptions::created_at.desc(), interceptions::id.desc()))
            .limit(limit as i64 + 1)
            .into_boxed();
        if let Some(order) = &filter.order_id {
            query = query.filter(interceptions::order_id.eq(order.as_str().to_owned()));
        }
        if let Some(state) = filter.state {
            let with_state = interception_lines::table
                .filter(interception_lines::shop_id.eq(shop.as_str().to_owned()))
                .filter(interception_lines::state.eq(state.as_str()))
                .select(interception_lines::interception_id);
            query = query.filter(interceptions::id.eq_any(with_state));
        }
        if let Some(before) = filter.created_before {
            query = query.filter(interceptions::created_at.lt(ms(before)));
        }
        if let Some(after) = filter.created_after {
            query = query.filter(interceptions::created_at.ge(ms(after)));
        }
        if let Some((at, id)) = time_id_cursor(page)? {
            query = query.filter(
                interceptions::created_at
                    .lt(at)
                    .or(interceptions::created_at
                        .eq(at)
                        .and(interceptions::id.lt(id))),
            );
        }
        let rows: Vec<InterceptionRow> = query.load(self.db())?;
        let ids: Vec<String> = rows.iter().take(limit).map(|r| r.id.clone()).collect();
        let mut lines = self.line_rows(shop, &ids)?;
        PageOf::from_rows(
            rows,
            limit,
            |r| time_id(r.created_at, &r.id),
            |r| {
                let mine = lines.remove(&r.id).unwrap_or_default();
                r.into_interception(mine)
            },
        )
    }

    /// Every interception of an order, oldest first.
    pub fn interceptions_for_order(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
    ) -> Result<Vec<Interception>, StoreError> {
        let rows: Vec<InterceptionRow> =
            order_interceptions_query!(shop.as_str(), order.as_str()).load(self.db())?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut lines = self.line_rows(shop, &ids)?;
        rows.into_iter()
            .map(|r| {
                let mine = lines.remove(&r.id).unwrap_or_default();
                r.into_interception(mine)
            })
            .collect()
    }

    fn line_rows(
        &mut self,
        shop: &ShopId,
        interception_ids: &[String],
    ) -> Result<HashMap<String, Vec<LineRow>>, StoreError> {
        let mut grouped: HashMap<String, Vec<LineRow>> = HashMap::new();
        if interception_ids.is_empty() {
            return Ok(grouped);
        }
        let rows = interception_lines::table
            .filter(interception_lines::shop_id.eq(shop.as_str()))
            .filter(interception_lines::interception_id.eq_any(interception_ids))
            .order((
                interception_lines::interception_id.asc(),
                interception_lines::position.asc(),
            ))
            .select(LineRow::as_select())
            .load(self.db())?;
        for row in rows {
            grouped
                .entry(row.interception_id.clone())
                .or_default()
                .push(row);
        }
        Ok(grouped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_states_match_the_domain() {
        let domain: Vec<&str> = LineState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .map(LineState::as_str)
            .collect();
        assert_eq!(domain, ACTIVE_STATES);
    }
}
