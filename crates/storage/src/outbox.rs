//! The outbox: messages to other systems (ERP, chat), written in the same transaction as the
//! change that causes them and delivered later by workers that claim them by lease.
//!
//! Entries with the same (shop, topic, ordering key) are handed out one at a time in creation
//! order: an entry is claimable only when no earlier entry of its key is still pending (leased
//! or waiting for a retry). A dead-lettered entry no longer holds its key back.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use shiphold_domain::ShopId;

use crate::error::StoreError;
use crate::page::{Page, PageOf, from_ms, from_ms_opt, id_cursor, ms};
use crate::schema::{outbox, outbox_attempts};
use crate::store::{DbConnection, Store, Tx};
use crate::{json_text, parse_id, parse_json};

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for delivery (maybe leased by a worker right now, maybe waiting for a retry).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on; an admin may re-drive it.
    Dead,
    /// Waiting because its peer cannot take it now (the shop's ERP link is switched off);
    /// released, not re-driven, when the link is on again. It holds its key back like a pending
    /// entry, so order per key survives the wait.
    Held,
}

impl OutboxStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Dead => "dead",
            OutboxStatus::Held => "held",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "pending" => Ok(OutboxStatus::Pending),
            "delivered" => Ok(OutboxStatus::Delivered),
            "dead" => Ok(OutboxStatus::Dead),
            "held" => Ok(OutboxStatus::Held),
            other => Err(StoreError::corrupt(format!("outbox.status: '{other}'"))),
        }
    }
}

/// Which kind of delivery an entry is, and so which deliverer takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// A message to the shop's ERP.
    Erp,
    /// A buyer message for the chat gateway.
    Chat,
    /// A memo and flag to write on the marketplace order.
    Marketplace,
    /// A hold or release of the order's document at a Qimen warehouse.
    Qimen,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 4] = [Topic::Erp, Topic::Chat, Topic::Marketplace, Topic::Qimen];

    /// The topic as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Erp => "erp",
            Topic::Chat => "chat",
            Topic::Marketplace => "marketplace",
            Topic::Qimen => "qimen",
        }
    }

    /// Parses a stored topic.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| StoreError::corrupt(format!("outbox.topic: '{raw}'")))
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxEntry {
    /// The shop it belongs to.
    pub shop_id: ShopId,
    /// Which deliverer takes it.
    pub topic: Topic,
    /// Entries with the same shop, topic and key are delivered strictly one after the other,
    /// in creation order (e.g. the order id).
    pub ordering_key: String,
    /// A stable id that every redelivery carries (it becomes the `webhook-id`).
    pub message_id: String,
    /// What to deliver.
    pub payload: serde_json::Value,
    /// Not before this time. Also recorded as the entry's creation time.
    pub available_at: DateTime<Utc>,
}

/// An entry a worker has claimed. Its lease token proves the claim in `complete`, `retry` and
/// `dead_letter`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEntry {
    /// The entry's id.
    pub id: i64,
    /// The shop.
    pub shop_id: ShopId,
    /// The topic.
    pub topic: Topic,
    /// The ordering key.
    pub ordering_key: String,
    /// The stable message id.
    pub message_id: String,
    /// What to deliver.
    pub payload: serde_json::Value,
    /// Delivery attempts including this one (1 on the first claim).
    pub attempts: i32,
    /// The claim's token.
    pub lease_token: String,
    /// When the entry was created.
    pub created_at: DateTime<Utc>,
}

/// An entry as stored, for listings (dead letters) and inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The entry's id.
    pub id: i64,
    /// The shop.
    pub shop_id: ShopId,
    /// The topic.
    pub topic: Topic,
    /// The ordering key.
    pub ordering_key: String,
    /// The stable message id.
    pub message_id: String,
    /// What to deliver.
    pub payload: serde_json::Value,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// When it may be claimed (next).
    pub available_at: DateTime<Utc>,
    /// Until when a worker holds it, if one does.
    pub lease_until: Option<DateTime<Utc>>,
    /// Which worker holds or last held it.
    pub leased_by: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up on.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it started.
    pub at: DateTime<Utc>,
    /// What happened (`delivered`, `retry`, `dead`, `timeout`, …; the caller's words).
    pub outcome: String,
    /// The HTTP status, if there was a response.
    pub status_code: Option<i32>,
    /// The error, if any.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// How many entries of a topic are waiting, being delivered, or dead (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxCount {
    /// The topic.
    pub topic: Topic,
    /// The shop.
    pub shop_id: ShopId,
    /// Pending and not leased.
    pub pending: i64,
    /// Pending and leased right now.
    pub leased: i64,
    /// Dead letters.
    pub dead: i64,
    /// Held until their peer can take them again.
    pub held: i64,
    /// When the oldest pending entry (leased or not) was created.
    pub oldest_pending: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct EntryRow {
    id: i64,
    shop_id: String,
    topic: String,
    ordering_key: String,
    message_id: String,
    payload: String,
    status: String,
    attempts: i32,
    available_at: i64,
    lease_until: Option<i64>,
    leased_by: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
    last_error: Option<String>,
}

impl EntryRow {
    fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        Ok(OutboxEntry {
            id: self.id,
            shop_id: parse_id(&self.shop_id, "outbox.shop_id")?,
            topic: Topic::parse(&self.topic)?,
            ordering_key: self.ordering_key,
            message_id: self.message_id,
            payload: parse_json(&self.payload, "outbox.payload")?,
            status: OutboxStatus::parse(&self.status)?,
            attempts: self.attempts,
            available_at: from_ms(self.available_at, "outbox.available_at")?,
            lease_until: from_ms_opt(self.lease_until, "outbox.lease_until")?,
            leased_by: self.leased_by,
            created_at: from_ms(self.created_at, "outbox.created_at")?,
            finished_at: from_ms_opt(self.finished_at, "outbox.finished_at")?,
            last_error: self.last_error,
        })
    }

    fn into_claimed(self, lease_token: &str) -> Result<ClaimedEntry, StoreError> {
        let entry = self.into_entry()?;
        Ok(ClaimedEntry {
            id: entry.id,
            shop_id: entry.shop_id,
            topic: entry.topic,
            ordering_key: entry.ordering_key,
            message_id: entry.message_id,
            payload: entry.payload,
            attempts: entry.attempts,
            lease_token: lease_token.to_owned(),
            created_at: entry.created_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
pub(crate) struct NewEntryRow<'a> {
    shop_id: &'a str,
    topic: &'a str,
    ordering_key: &'a str,
    message_id: &'a str,
    payload: String,
    status: &'a str,
    attempts: i32,
    available_at: i64,
    created_at: i64,
}

/// `at, outcome, status_code, error, duration_ms` of an attempt.
type AttemptRow = (i64, String, Option<i32>, Option<String>, i64);

/// The head-of-line rule: the entry is the first open (pending or held) entry of its key. A
/// scalar subquery rather than `NOT EXISTS`, so that no planner can turn it into a join over
/// every open entry: it is one probe of `outbox_open_key` per candidate, on both databases.
const HEAD_OF_LINE: &str = "o.id = (SELECT p.id FROM outbox p
      WHERE p.shop_id = o.shop_id AND p.topic = o.topic AND p.ordering_key = o.ordering_key
        AND p.status IN ('pending', 'held')
      ORDER BY p.id LIMIT 1)";

/// The candidates query of a claim with its binds, in the order `candidates_sql` numbers them,
/// `prefix` put before it (`EXPLAIN` for its plan); one definition for the claim and its plan.
macro_rules! candidates_query {
    ($backend:ty, $postgres:expr, $prefix:expr, $topic:expr, $now_ms:expr, $busy:expr, $scan:expr) => {{
        let mut query = diesel::sql_query(format!(
            "{}{}",
            $prefix,
            candidates_sql($postgres, $busy.len())
        ))
        .into_boxed::<$backend>()
        .bind::<Text, _>($topic.as_str())
        .bind::<BigInt, _>($now_ms)
        .bind::<BigInt, _>($now_ms);
        for shop in $busy.iter() {
            query = query.bind::<Text, _>(*shop);
        }
        query.bind::<BigInt, _>($scan)
    }};
}

/// The entries a claim may lease, in the order they fell due, with their shops. Parameters:
/// topic, now, now, then one shop id per `busy_shops` (shops left out of this claim), then the
/// limit.
///
/// Candidates come from `outbox_claimable` in the order they fell due, so the scan stops after
/// `limit` claimable rows whatever the size of the backlog. On PostgreSQL `SKIP LOCKED` lets
/// concurrent claimers pass each other's rows; the head-of-line subquery still sees a row
/// another claimer has locked, so a key's next entry is never handed out while its predecessor
/// is being claimed.
fn candidates_sql(postgres: bool, busy_shops: usize) -> String {
    let mut n = 0;
    let mut param = || {
        n += 1;
        if postgres {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    };
    let (topic, now1, now2) = (param(), param(), param());
    let busy = if busy_shops == 0 {
        String::new()
    } else {
        let list: Vec<String> = (0..busy_shops).map(|_| param()).collect();
        format!(" AND o.shop_id NOT IN ({})", list.join(", "))
    };
    let limit = param();
    let lock = if postgres {
        " FOR UPDATE OF o SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "SELECT o.id, o.shop_id FROM outbox o
         WHERE o.topic = {topic} AND o.status = 'pending' AND o.available_at <= {now1}
           AND (o.lease_until IS NULL OR o.lease_until <= {now2}){busy}
           AND {HEAD_OF_LINE}
         ORDER BY o.available_at, o.id LIMIT {limit}{lock}"
    )
}

/// How many entries one claim may take, overall and per shop.
///
/// The per-shop part keeps one shop's slow ERP from taking every delivery slot: a shop that
/// already has `per_shop` deliveries in flight gets nothing from this claim, the others get up
/// to `per_shop` each, so their messages go out while the slow one waits for its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLimits {
    /// At most this many entries in all.
    pub total: u32,
    /// At most this many entries of one shop in flight, counting `in_flight`.
    pub per_shop: u32,
    /// The caller's deliveries still running, per shop.
    pub in_flight: HashMap<ShopId, u32>,
}

impl From<u32> for ClaimLimits {
    /// Up to `total` entries, however they fall among shops.
    fn from(total: u32) -> Self {
        ClaimLimits {
            total,
            per_shop: total,
            in_flight: HashMap::new(),
        }
    }
}

/// How far past `total` a claim looks for entries of shops that still have room.
const CANDIDATES_PER_SLOT: u32 = 4;

fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

impl Tx<'_> {
    /// Adds an entry to the outbox, in the caller's transaction; returns its id.
    pub fn enqueue(&mut self, entry: &NewOutboxEntry) -> Result<i64, StoreError> {
        let row = NewEntryRow {
            shop_id: entry.shop_id.as_str(),
            topic: entry.topic.as_str(),
            ordering_key: &entry.ordering_key,
            message_id: &entry.message_id,
            payload: json_text(&entry.payload)?,
            status: OutboxStatus::Pending.as_str(),
            attempts: 0,
            available_at: ms(entry.available_at),
            created_at: ms(entry.available_at),
        };
        crate::store::insert_returning_id!(
            self,
            diesel::insert_into(outbox::table).values(&row),
            outbox::id
        )
    }

    /// Claims due entries of `topic` for `worker`, for `lease`, within `limits`; one lease
    /// token for the batch. Use [`Store::claim`], which runs this in a transaction of its own.
    pub fn claim(
        &mut self,
        topic: Topic,
        worker: &str,
        lease: Duration,
        limits: &ClaimLimits,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedEntry>, StoreError> {
        let total = limits.total.max(1);
        let per_shop = limits.per_shop.max(1);
        // Counts per shop: running now, then taken by this claim.
        let mut taken: HashMap<&str, u32> = limits
            .in_flight
            .iter()
            .map(|(shop, n)| (shop.as_str(), *n))
            .collect();
        let busy: Vec<&str> = taken
            .iter()
            .filter(|(_, n)| **n >= per_shop)
            .map(|(shop, _)| *shop)
            .collect();
        let scan = i64::from(total.saturating_mul(CANDIDATES_PER_SLOT).min(1_000));
        let now_ms = ms(now);
        let candidates = self.candidates(topic, now_ms, &busy, scan)?;
        let mut chosen = Vec::new();
        for (id, shop) in &candidates {
            if chosen.len() >= total as usize {
                break;
            }
            let count = taken.entry(shop.as_str()).or_insert(0);
            if *count < per_shop {
                *count += 1;
                chosen.push(*id);
            }
        }
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        diesel::update(outbox::table.filter(outbox::id.eq_any(&chosen)))
            .set((
                outbox::lease_until.eq(now_ms.saturating_add(lease_millis(lease))),
                outbox::leased_by.eq(worker),
                outbox::lease_token.eq(&token),
                outbox::attempts.eq(outbox::attempts + 1),
            ))
            .execute(self.db())?;
        outbox::table
            .filter(outbox::id.eq_any(&chosen))
            .order(outbox::id.asc())
            .select(EntryRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(|row| row.into_claimed(&token))
            .collect()
    }

    /// Runs the candidates query.
    fn candidates(
        &mut self,
        topic: Topic,
        now_ms: i64,
        busy: &[&str],
        scan: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        #[derive(QueryableByName)]
        struct Candidate {
            #[diesel(sql_type = BigInt)]
            id: i64,
            #[diesel(sql_type = Text)]
            shop_id: String,
        }
        let rows = match &mut *self.conn {
            DbConnection::Pg(c) => {
                candidates_query!(diesel::pg::Pg, true, "", topic, now_ms, busy, scan)
                    .load::<Candidate>(c)?
            }
            DbConnection::Sqlite(c) => {
                candidates_query!(diesel::sqlite::Sqlite, false, "", topic, now_ms, busy, scan)
                    .load::<Candidate>(c)?
            }
        };
        Ok(rows.into_iter().map(|r| (r.id, r.shop_id)).collect())
    }

    /// The claim's query plan as the database would run it now, one line per step: for
    /// diagnosis, and for the test that keeps the claim's cost independent of the backlog.
    /// Plans a claim of `topic` at `now` that leaves out `busy` shops; leases nothing.
    pub fn explain_claim(
        &mut self,
        topic: Topic,
        now: DateTime<Utc>,
        busy: &[ShopId],
    ) -> Result<Vec<String>, StoreError> {
        use crate::explain::{PgLine, SqliteStep};
        let busy: Vec<&str> = busy.iter().map(ShopId::as_str).collect();
        let (now_ms, scan) = (ms(now), 128_i64);
        Ok(match &mut *self.conn {
            DbConnection::Pg(c) => {
                candidates_query!(diesel::pg::Pg, true, "EXPLAIN ", topic, now_ms, busy, scan)
                    .load::<PgLine>(c)?
                    .into_iter()
                    .map(|l| l.line)
                    .collect()
            }
            DbConnection::Sqlite(c) => candidates_query!(
                diesel::sqlite::Sqlite,
                false,
                "EXPLAIN QUERY PLAN ",
                topic,
                now_ms,
                busy,
                scan
            )
            .load::<SqliteStep>(c)?
            .into_iter()
            .map(|l| l.detail)
            .collect(),
        })
    }

    /// Marks a claimed entry delivered and records the attempt. `Ok(false)`, changing nothing,
    /// if the lease token is stale (the lease ran out and another worker claimed it, or the
    /// entry is no longer pending).
    pub fn complete(
        &mut self,
        id: i64,
        lease_token: &str,
        now: DateTime<Utc>,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(Self::leased(id, lease_token))
            .set((
                outbox::status.eq(OutboxStatus::Delivered.as_str()),
                outbox::lease_until.eq(None::<i64>),
                outbox::lease_token.eq(None::<String>),
                outbox::finished_at.eq(Some(ms(now))),
                outbox::last_error.eq(None::<String>),
            ))
            .execute(self.db())?;
        self.finish_attempt(id, updated, attempt)
    }

    /// Gives a claimed entry back for another attempt at `next_at` and records the attempt.
    /// `Ok(false)` if the lease token is stale.
    pub fn retry(
        &mut self,
        id: i64,
        lease_token: &str,
        next_at: DateTime<Utc>,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(Self::leased(id, lease_token))
            .set((
                outbox::available_at.eq(ms(next_at)),
                outbox::lease_until.eq(None::<i64>),
                outbox::lease_token.eq(None::<String>),
                outbox::last_error.eq(attempt.error.as_deref()),
            ))
            .execute(self.db())?;
        self.finish_attempt(id, updated, attempt)
    }

    /// Gives claimed entries back untried: their leases end at once, so any worker may claim
    /// them again, and the claim does not count as an attempt. For entries a worker claimed
    /// ahead of its free slots and will not start (it is shutting down, or an entry waited so
    /// long that its lease could run out mid-delivery). Entries whose token is stale are left
    /// alone. Returns how many were given back.
    pub fn give_back(&mut self, entries: &[(i64, &str)]) -> Result<usize, StoreError> {
        let mut given = 0;
        for (id, lease_token) in entries {
            given += diesel::update(Self::leased(*id, lease_token))
                .set((
                    outbox::attempts.eq(outbox::attempts - 1),
                    outbox::lease_until.eq(None::<i64>),
                    outbox::leased_by.eq(None::<String>),
                    outbox::lease_token.eq(None::<String>),
                ))
                .execute(self.db())?;
        }
        Ok(given)
    }

    /// Holds a claimed entry until [`Tx::release_held`]: its peer cannot take it now. The claim
    /// does not count as an attempt, so the retry schedule is whole when the peer is back.
    /// `Ok(false)` if the lease token is stale.
    pub fn hold(
        &mut self,
        id: i64,
        lease_token: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(Self::leased(id, lease_token))
            .set((
                outbox::status.eq(OutboxStatus::Held.as_str()),
                outbox::attempts.eq(outbox::attempts - 1),
                outbox::lease_until.eq(None::<i64>),
                outbox::lease_token.eq(None::<String>),
                outbox::last_error.eq(attempt.error.as_deref()),
            ))
            .execute(self.db())?;
        self.finish_attempt(id, updated, attempt)
    }

    /// Makes the shop's held entries of `topic` due at `now`, in their order; returns how many.
    pub fn release_held(
        &mut self,
        shop: &ShopId,
        topic: Topic,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(diesel::update(
            outbox::table
                .filter(outbox::shop_id.eq(shop.as_str()))
                .filter(outbox::topic.eq(topic.as_str()))
                .filter(outbox::status.eq(OutboxStatus::Held.as_str())),
        )
        .set((
            outbox::status.eq(OutboxStatus::Pending.as_str()),
            outbox::available_at.eq(ms(now)),
        ))
        .execute(self.db())?)
    }

    /// How many of the shop's entries of `topic` are held.
    pub fn held_count(&mut self, shop: &ShopId, topic: Topic) -> Result<i64, StoreError> {
        Ok(outbox::table
            .filter(outbox::shop_id.eq(shop.as_str()))
            .filter(outbox::topic.eq(topic.as_str()))
            .filter(outbox::status.eq(OutboxStatus::Held.as_str()))
            .select(count_star())
            .first(self.db())?)
    }

    /// Gives up on a claimed entry (dead letter) and records the attempt. `Ok(false)` if the
    /// lease token is stale.
    pub fn dead_letter(
        &mut self,
        id: i64,
        lease_token: &str,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(Self::leased(id, lease_token))
            .set((
                outbox::status.eq(OutboxStatus::Dead.as_str()),
                outbox::lease_until.eq(None::<i64>),
                outbox::lease_token.eq(None::<String>),
                outbox::finished_at.eq(Some(ms(attempt.at))),
                outbox::last_error.eq(attempt.error.as_deref()),
            ))
            .execute(self.db())?;
        self.finish_attempt(id, updated, attempt)
    }

    /// The entry `id` while `lease_token` still holds it.
    #[allow(clippy::type_complexity)] // diesel's query type, spelled out once here
    fn leased(
        id: i64,
        lease_token: &str,
    ) -> diesel::dsl::Filter<
        diesel::dsl::Filter<
            diesel::dsl::Filter<outbox::table, diesel::dsl::Eq<outbox::id, i64>>,
            diesel::dsl::Eq<outbox::lease_token, String>,
        >,
        diesel::dsl::Eq<outbox::status, &'static str>,
    > {
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::lease_token.eq(lease_token.to_owned()))
            .filter(outbox::status.eq(OutboxStatus::Pending.as_str()))
    }

    fn finish_attempt(
        &mut self,
        id: i64,
        updated: usize,
        attempt: &AttemptRecord,
    ) -> Result<bool, StoreError> {
        if updated == 0 {
            return Ok(false);
        }
        let shop: String = outbox::table
            .find(id)
            .select(outbox::shop_id)
            .first(self.db())?;
        diesel::insert_into(outbox_attempts::table)
            .values((
                outbox_attempts::shop_id.eq(shop),
                outbox_attempts::outbox_id.eq(id),
                outbox_attempts::at.eq(ms(attempt.at)),
                outbox_attempts::outcome.eq(&attempt.outcome),
                outbox_attempts::status_code.eq(attempt.status_code),
                outbox_attempts::error.eq(attempt.error.as_deref()),
                outbox_attempts::duration_ms.eq(attempt.duration_ms),
            ))
            .execute(self.db())?;
        Ok(true)
    }

    /// One entry of the shop.
    pub fn outbox_entry(
        &mut self,
        shop: &ShopId,
        id: i64,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        outbox::table
            .filter(outbox::shop_id.eq(shop.as_str()))
            .filter(outbox::id.eq(id))
            .select(EntryRow::as_select())
            .first(self.db())
            .optional()?
            .map(EntryRow::into_entry)
            .transpose()
    }

    /// The newest entry of the shop's `topic` with `ordering_key` (an order's latest write to
    /// its marketplace, say), whatever its status; `None` when there is none or it was purged.
    pub fn latest_outbox_entry(
        &mut self,
        shop: &ShopId,
        topic: Topic,
        ordering_key: &str,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        outbox::table
            .filter(outbox::shop_id.eq(shop.as_str()))
            .filter(outbox::topic.eq(topic.as_str()))
            .filter(outbox::ordering_key.eq(ordering_key))
            .order(outbox::id.desc())
            .select(EntryRow::as_select())
            .first(self.db())
            .optional()?
            .map(EntryRow::into_entry)
            .transpose()
    }

    /// How many delivery attempts the shop's entries of `topic` with these message ids have had,
    /// by message id (ids without an entry, or whose entry was purged, are left out).
    pub fn attempts_by_message(
        &mut self,
        shop: &ShopId,
        topic: Topic,
        message_ids: &[String],
    ) -> Result<Vec<(String, i32)>, StoreError> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(outbox::table
            .filter(outbox::shop_id.eq(shop.as_str()))
            .filter(outbox::topic.eq(topic.as_str()))
            .filter(outbox::message_id.eq_any(message_ids))
            .select((outbox::message_id, outbox::attempts))
            .load(self.db())?)
    }

    /// The shop's dead letters (of one topic, or all), oldest first.
    pub fn dead_letters(
        &mut self,
        shop: &ShopId,
        topic: Option<Topic>,
        page: &Page,
    ) -> Result<PageOf<OutboxEntry>, StoreError> {
        let limit = page.effective_limit();
        let mut query = outbox::table
            .filter(outbox::shop_id.eq(shop.as_str()))
            .filter(outbox::status.eq(OutboxStatus::Dead.as_str()))
            .select(EntryRow::as_select())
            .order(outbox::id.asc())
            .limit(limit as i64 + 1)
            .into_boxed();
        if let Some(topic) = topic {
            query = query.filter(outbox::topic.eq(topic.as_str()));
        }
        if let Some(after) = id_cursor(page)? {
            query = query.filter(outbox::id.gt(after));
        }
        let rows = query.load(self.db())?;
        PageOf::from_rows(rows, limit, |r| r.id.to_string(), EntryRow::into_entry)
    }

    /// Puts a dead letter back in line: pending at `now`, attempts reset, same message id.
    /// `false` if the shop has no such dead letter.
    pub fn redrive(
        &mut self,
        shop: &ShopId,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(
            outbox::table
                .filter(outbox::shop_id.eq(shop.as_str()))
                .filter(outbox::id.eq(id))
                .filter(outbox::status.eq(OutboxStatus::Dead.as_str())),
        )
        .set((
            outbox::status.eq(OutboxStatus::Pending.as_str()),
            outbox::attempts.eq(0),
            outbox::available_at.eq(ms(now)),
            outbox::lease_until.eq(None::<i64>),
            outbox::leased_by.eq(None::<String>),
            outbox::lease_token.eq(None::<String>),
            outbox::finished_at.eq(None::<i64>),
        ))
        .execute(self.db())?;
        Ok(updated > 0)
    }

    /// The recorded attempts of one of the shop's entries, oldest first.
    pub fn attempts(&mut self, shop: &ShopId, id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows: Vec<AttemptRow> = outbox_attempts::table
            .filter(outbox_attempts::shop_id.eq(shop.as_str()))
            .filter(outbox_attempts::outbox_id.eq(id))
            .order(outbox_attempts::id.asc())
            .select((
                outbox_attempts::at,
                outbox_attempts::outcome,
                outbox_attempts::status_code,
                outbox_attempts::error,
                outbox_attempts::duration_ms,
            ))
            .load(self.db())?;
        rows.into_iter()
            .map(|(at, outcome, status_code, error, duration_ms)| {
                Ok(AttemptRecord {
                    at: from_ms(at, "outbox_attempts.at")?,
                    outcome,
                    status_code,
                    error,
                    duration_ms,
                })
            })
            .collect()
    }

    /// Counts per topic and shop of pending, leased, dead and held entries, with the time the
    /// oldest pending entry was created (for "how long has the oldest message waited").
    pub fn outbox_counts(&mut self, now: DateTime<Utc>) -> Result<Vec<OutboxCount>, StoreError> {
        use diesel::dsl::min;
        let by_status: Vec<(String, String, String, i64, Option<i64>)> = outbox::table
            .filter(outbox::status.ne(OutboxStatus::Delivered.as_str()))
            .group_by((outbox::topic, outbox::shop_id, outbox::status))
            .select((
                outbox::topic,
                outbox::shop_id,
                outbox::status,
                count_star(),
                min(outbox::created_at),
            ))
            .load(self.db())?;
        let leased: Vec<(String, String, i64)> = outbox::table
            .filter(outbox::status.eq(OutboxStatus::Pending.as_str()))
            .filter(outbox::lease_until.gt(ms(now)))
            .group_by((outbox::topic, outbox::shop_id))
            .select((outbox::topic, outbox::shop_id, count_star()))
            .load(self.db())?;
        let mut counts: Vec<OutboxCount> = Vec::new();
        let mut slot = |topic: &str, shop: &str| -> Result<usize, StoreError> {
            let topic = Topic::parse(topic)?;
            let shop_id = ShopId::parse(shop)
                .map_err(|e| StoreError::Corrupt(format!("outbox.shop_id {shop:?}: {e}")))?;
            Ok(
                match counts
                    .iter()
                    .position(|c| c.topic == topic && c.shop_id == shop_id)
                {
                    Some(i) => i,
                    None => {
                        counts.push(OutboxCount {
                            topic,
                            shop_id,
                            pending: 0,
                            leased: 0,
                            dead: 0,
                            held: 0,
                            oldest_pending: None,
                        });
                        counts.len() - 1
                    }
                },
            )
        };
        let mut updates = Vec::new();
        for (topic, shop, status, n, oldest) in by_status {
            updates.push((slot(&topic, &shop)?, status, n, oldest));
        }
        let mut leased_updates = Vec::new();
        for (topic, shop, n) in leased {
            leased_updates.push((slot(&topic, &shop)?, n));
        }
        for (i, status, n, oldest) in updates {
            match OutboxStatus::parse(&status)? {
                OutboxStatus::Pending => {
                    counts[i].pending += n;
                    counts[i].oldest_pending = from_ms_opt(oldest, "outbox.created_at")?;
                }
                OutboxStatus::Dead => counts[i].dead += n,
                OutboxStatus::Held => counts[i].held += n,
                OutboxStatus::Delivered => {}
            }
        }
        for (i, n) in leased_updates {
            counts[i].leased += n;
            counts[i].pending -= n;
        }
        counts.sort_by(|a, b| (a.topic, &a.shop_id).cmp(&(b.topic, &b.shop_id)));
        Ok(counts)
    }

    /// Deletes delivered entries (and their attempts) finished before `before`; returns how many.
    pub fn purge_outbox(&mut self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let done = outbox::table
            .filter(outbox::status.eq(OutboxStatus::Delivered.as_str()))
            .filter(outbox::finished_at.lt(ms(before)))
            .select(outbox::id);
        diesel::delete(outbox_attempts::table.filter(outbox_attempts::outbox_id.eq_any(done)))
            .execute(self.db())?;
        let deleted = diesel::delete(
            outbox::table
                .filter(outbox::status.eq(OutboxStatus::Delivered.as_str()))
                .filter(outbox::finished_at.lt(ms(before))),
        )
        .execute(self.db())?;
        Ok(deleted)
    }
}

impl Store {
    /// Claims up to `limit` due entries of `topic` in a transaction of its own (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`, so replicas share the work; SQLite: an immediate transaction).
    /// Each claimed entry gets a fresh lease token, `lease` long, and its attempts go up by one.
    pub async fn claim(
        &self,
        topic: Topic,
        worker: &str,
        lease: Duration,
        limits: impl Into<ClaimLimits>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedEntry>, StoreError> {
        let worker = worker.to_owned();
        let limits = limits.into();
        self.write(move |tx| tx.claim(topic, &worker, lease, &limits, now))
            .await
    }

    /// See [`Tx::complete`].
    pub async fn complete(
        &self,
        id: i64,
        lease_token: &str,
        now: DateTime<Utc>,
        attempt: AttemptRecord,
    ) -> Result<bool, StoreError> {
        let token = lease_token.to_owned();
        self.write(move |tx| tx.complete(id, &token, now, &attempt))
            .await
    }

    /// See [`Tx::retry`].
    pub async fn retry(
        &self,
        id: i64,
        lease_token: &str,
        next_at: DateTime<Utc>,
        attempt: AttemptRecord,
    ) -> Result<bool, StoreError> {
        let token = lease_token.to_owned();
        self.write(move |tx| tx.retry(id, &token, next_at, &attempt))
            .await
    }

    /// See [`Tx::give_back`].
    pub async fn give_back(&self, entries: Vec<(i64, String)>) -> Result<usize, StoreError> {
        self.write(move |tx| {
            let entries: Vec<(i64, &str)> =
                entries.iter().map(|(id, t)| (*id, t.as_str())).collect();
            tx.give_back(&entries)
        })
        .await
    }

    /// See [`Tx::hold`].
    pub async fn hold(
        &self,
        id: i64,
        lease_token: &str,
        attempt: AttemptRecord,
    ) -> Result<bool, StoreError> {
        let token = lease_token.to_owned();
        self.write(move |tx| tx.hold(id, &token, &attempt)).await
    }

    /// See [`Tx::dead_letter`].
    pub async fn dead_letter(
        &self,
        id: i64,
        lease_token: &str,
        attempt: AttemptRecord,
    ) -> Result<bool, StoreError> {
        let token = lease_token.to_owned();
        self.write(move |tx| tx.dead_letter(id, &token, &attempt))
            .await
    }

    /// See [`Tx::outbox_counts`].
    pub async fn outbox_counts(&self, now: DateTime<Utc>) -> Result<Vec<OutboxCount>, StoreError> {
        self.read(move |tx| tx.outbox_counts(now)).await
    }

    /// See [`Tx::purge_outbox`].
    pub async fn purge_outbox(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |tx| tx.purge_outbox(before)).await
    }
}
