//! Shops, their API keys, their interception settings with the audit trail, and event windows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::{ApiKeyId, EventWindow, EventWindowId, InterceptionSettings, ShopId};

use crate::error::StoreError;
use crate::page::{Page, PageOf, from_ms, from_ms_opt, id_cursor, ms};
use crate::schema::{api_keys, audit_log, event_windows, shop_settings, shops};
use crate::store::{DbConnection, Tx};
use crate::{json_text, parse_id, parse_json};

/// A shop (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopRecord {
    /// The shop's id.
    pub id: ShopId,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An API key of a shop. Only the secret's hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: ApiKeyId,
    /// The shop it belongs to.
    pub shop_id: ShopId,
    /// A name for people ("warehouse ERP").
    pub label: String,
    /// The roles it grants (`admin`, `agent`, …); the api crate gives them meaning.
    pub roles: Vec<String>,
    /// The hash of the secret; unique across all shops.
    pub secret_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A shop's settings as stored, with what the domain type does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsRecord {
    /// The interception settings.
    pub settings: InterceptionSettings,
    /// The shop's signing secret for ERP messages and callbacks, if one was made.
    pub erp_secret: Option<String>,
    /// The secret being rotated out, still signing deliveries and accepted on callbacks until
    /// the admin drops it.
    pub erp_secret_previous: Option<String>,
    /// The marketplace link's app secret (`app_secret`), if a marketplace is linked.
    pub marketplace_secret: Option<String>,
    /// The seller's authorisation (`session`) the marketplace link calls with.
    pub marketplace_session: Option<String>,
    /// The Qimen warehouse link's app secret, if a warehouse is linked.
    pub qimen_secret: Option<String>,
    /// The `whsec_` secret that signs memo write-backs to the marketplace webhook, if one is
    /// linked.
    pub marketplace_webhook_secret: Option<String>,
    /// The shop's message-template overrides (the messaging crate's format).
    pub templates: serde_json::Value,
    /// Bumped on every save; 0 while nothing is stored. Saves check it (optimistic lock).
    pub version: i64,
    /// When it was last saved; `None` while nothing is stored.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for SettingsRecord {
    fn default() -> Self {
        Self {
            settings: InterceptionSettings::default(),
            erp_secret: None,
            erp_secret_previous: None,
            marketplace_secret: None,
            marketplace_session: None,
            qimen_secret: None,
            marketplace_webhook_secret: None,
            templates: serde_json::Value::Object(serde_json::Map::new()),
            version: 0,
            updated_at: None,
        }
    }
}

/// One entry of a shop's audit trail: who changed what, from what, to what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Assigned by the store on insert (the value passed in is ignored); increases with time.
    pub id: i64,
    /// The shop.
    pub shop_id: ShopId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (an API key id, an agent's name, `system`).
    pub actor: String,
    /// What was done (`settings.memo`, `settings.enable`, `interception.create`, …).
    pub action: String,
    /// What it was done to (an id).
    pub target: String,
    /// The state before.
    pub before: serde_json::Value,
    /// The state after.
    pub after: serde_json::Value,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = shops)]
struct ShopRow {
    id: String,
    name: String,
    created_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    shop_id: String,
    id: String,
    label: String,
    roles: String,
    secret_hash: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_record(self) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            id: parse_id(&self.id, "api_keys.id")?,
            shop_id: parse_id(&self.shop_id, "api_keys.shop_id")?,
            label: self.label,
            roles: parse_json(&self.roles, "api_keys.roles")?,
            secret_hash: self.secret_hash,
            created_at: from_ms(self.created_at, "api_keys.created_at")?,
            revoked_at: from_ms_opt(self.revoked_at, "api_keys.revoked_at")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = shop_settings)]
#[diesel(treat_none_as_null = true)]
struct SettingsRow {
    shop_id: String,
    settings: String,
    erp_secret: Option<String>,
    templates: String,
    version: i64,
    updated_at: i64,
    erp_secret_previous: Option<String>,
    marketplace_secret: Option<String>,
    marketplace_session: Option<String>,
    qimen_secret: Option<String>,
    marketplace_webhook_secret: Option<String>,
}

impl SettingsRow {
    fn into_record(self) -> Result<SettingsRecord, StoreError> {
        Ok(SettingsRecord {
            settings: parse_json(&self.settings, "shop_settings.settings")?,
            erp_secret: self.erp_secret,
            erp_secret_previous: self.erp_secret_previous,
            marketplace_secret: self.marketplace_secret,
            marketplace_session: self.marketplace_session,
            qimen_secret: self.qimen_secret,
            marketplace_webhook_secret: self.marketplace_webhook_secret,
            templates: parse_json(&self.templates, "shop_settings.templates")?,
            version: self.version,
            updated_at: Some(from_ms(self.updated_at, "shop_settings.updated_at")?),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    id: i64,
    shop_id: String,
    at: i64,
    actor: String,
    action: String,
    target: String,
    before_json: String,
    after_json: String,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditRow<'a> {
    shop_id: &'a str,
    at: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    before_json: String,
    after_json: String,
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord, StoreError> {
        Ok(AuditRecord {
            id: self.id,
            shop_id: parse_id(&self.shop_id, "audit_log.shop_id")?,
            at: from_ms(self.at, "audit_log.at")?,
            actor: self.actor,
            action: self.action,
            target: self.target,
            before: parse_json(&self.before_json, "audit_log.before_json")?,
            after: parse_json(&self.after_json, "audit_log.after_json")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = event_windows)]
struct WindowRow {
    shop_id: String,
    id: String,
    name: String,
    refunds_off_from: i64,
    refunds_off_until: i64,
    time_zone: String,
    refunds_reopen_at: i64,
}

impl WindowRow {
    fn new(shop: &ShopId, w: &EventWindow) -> Self {
        WindowRow {
            shop_id: shop.as_str().to_owned(),
            id: w.id.as_str().to_owned(),
            name: w.name.clone(),
            refunds_off_from: ms(w.refunds_off_from),
            refunds_off_until: ms(w.refunds_off_until),
            time_zone: w.time_zone.name().to_owned(),
            refunds_reopen_at: ms(w.refunds_reopen_at),
        }
    }

    fn into_window(self) -> Result<EventWindow, StoreError> {
        Ok(EventWindow {
            id: parse_id(&self.id, "event_windows.id")?,
            name: self.name,
            refunds_off_from: from_ms(self.refunds_off_from, "event_windows.refunds_off_from")?,
            refunds_off_until: from_ms(self.refunds_off_until, "event_windows.refunds_off_until")?,
            time_zone: shiphold_domain::parse_time_zone(&self.time_zone)
                .map_err(|e| StoreError::corrupt(format!("event_windows.time_zone: {e}")))?,
            refunds_reopen_at: from_ms(self.refunds_reopen_at, "event_windows.refunds_reopen_at")?,
        })
    }
}

impl Tx<'_> {
    /// Creates a shop. `Conflict` if the id is taken.
    pub fn insert_shop(&mut self, shop: &ShopRecord) -> Result<(), StoreError> {
        diesel::insert_into(shops::table)
            .values(ShopRow {
                id: shop.id.as_str().to_owned(),
                name: shop.name.clone(),
                created_at: ms(shop.created_at),
            })
            .execute(self.db())?;
        Ok(())
    }

    /// The shop with `id`.
    pub fn shop(&mut self, id: &ShopId) -> Result<Option<ShopRecord>, StoreError> {
        let row = shops::table
            .find(id.as_str())
            .select(ShopRow::as_select())
            .first(self.db())
            .optional()?;
        row.map(|r| {
            Ok(ShopRecord {
                id: parse_id(&r.id, "shops.id")?,
                name: r.name,
                created_at: from_ms(r.created_at, "shops.created_at")?,
            })
        })
        .transpose()
    }

    /// Stores an API key. `Conflict` if its id or secret hash is taken.
    pub fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        diesel::insert_into(api_keys::table)
            .values(ApiKeyRow {
                shop_id: key.shop_id.as_str().to_owned(),
                id: key.id.as_str().to_owned(),
                label: key.label.clone(),
                roles: json_text(&key.roles)?,
                secret_hash: key.secret_hash.clone(),
                created_at: ms(key.created_at),
                revoked_at: key.revoked_at.map(ms),
            })
            .execute(self.db())?;
        Ok(())
    }

    /// The key whose secret hashes to `secret_hash`, across all shops (revoked ones too: the
    /// caller decides).
    pub fn api_key_by_hash(
        &mut self,
        secret_hash: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        api_keys::table
            .filter(api_keys::secret_hash.eq(secret_hash))
            .select(ApiKeyRow::as_select())
            .first(self.db())
            .optional()?
            .map(ApiKeyRow::into_record)
            .transpose()
    }

    /// A shop's keys, oldest first.
    pub fn api_keys(&mut self, shop: &ShopId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        api_keys::table
            .filter(api_keys::shop_id.eq(shop.as_str()))
            .order((api_keys::created_at.asc(), api_keys::id.asc()))
            .select(ApiKeyRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(ApiKeyRow::into_record)
            .collect()
    }

    /// Revokes a key. `false` if the shop has no such key; revoking twice keeps the first time.
    pub fn revoke_api_key(
        &mut self,
        shop: &ShopId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = api_keys::table.find((shop.as_str(), id.as_str()));
        let exists = key
            .select(api_keys::id)
            .first::<String>(self.db())
            .optional()?
            .is_some();
        if exists {
            diesel::update(key.filter(api_keys::revoked_at.is_null()))
                .set(api_keys::revoked_at.eq(ms(at)))
                .execute(self.db())?;
        }
        Ok(exists)
    }

    /// The shop's settings, or the default record (version 0) if none were saved.
    pub fn settings(&mut self, shop: &ShopId) -> Result<SettingsRecord, StoreError> {
        let row = shop_settings::table
            .find(shop.as_str())
            .select(SettingsRow::as_select())
            .first(self.db())
            .optional()?;
        row.map_or_else(|| Ok(SettingsRecord::default()), SettingsRow::into_record)
    }

    /// Holds the shop's row for update until the transaction ends, so that concurrent settings changes
    /// of one shop run one after the other. On SQLite the write transaction already holds the
    /// database's write lock, so this only checks that the shop exists. `NotFound` if it
    /// does not.
    pub fn settings_for_update(&mut self, shop: &ShopId) -> Result<(), StoreError> {
        let query = shops::table.find(shop.as_str()).select(shops::id);
        let found = match &mut *self.conn {
            DbConnection::Pg(c) => query.for_update().first::<String>(c).optional()?,
            DbConnection::Sqlite(c) => query.first::<String>(c).optional()?,
        };
        found.map(|_| ()).ok_or(StoreError::NotFound)
    }

    /// Saves the settings and returns them as stored, with the version bumped.
    /// `record.version` must be the version that was read (0 for none): if someone saved in
    /// between, this is a `Conflict` and nothing is written.
    pub fn save_settings(
        &mut self,
        shop: &ShopId,
        record: &SettingsRecord,
        now: DateTime<Utc>,
    ) -> Result<SettingsRecord, StoreError> {
        let next = SettingsRecord {
            version: record.version + 1,
            updated_at: Some(now),
            ..record.clone()
        };
        let row = SettingsRow {
            shop_id: shop.as_str().to_owned(),
            settings: json_text(&next.settings)?,
            erp_secret: next.erp_secret.clone(),
            templates: json_text(&next.templates)?,
            version: next.version,
            updated_at: ms(now),
            erp_secret_previous: next.erp_secret_previous.clone(),
            marketplace_secret: next.marketplace_secret.clone(),
            marketplace_session: next.marketplace_session.clone(),
            qimen_secret: next.qimen_secret.clone(),
            marketplace_webhook_secret: next.marketplace_webhook_secret.clone(),
        };
        if record.version == 0 {
            // A concurrent first save loses on the primary key: also a Conflict.
            diesel::insert_into(shop_settings::table)
                .values(&row)
                .execute(self.db())?;
        } else {
            let updated = diesel::update(
                shop_settings::table
                    .find(shop.as_str())
                    .filter(shop_settings::version.eq(record.version)),
            )
            .set(&row)
            .execute(self.db())?;
            if updated == 0 {
                return Err(StoreError::Conflict(format!(
                    "the settings of shop {shop} changed since version {}",
                    record.version
                )));
            }
        }
        Ok(next)
    }

    /// Appends to the audit trail and returns the entry's id (`entry.id` is ignored).
    pub fn insert_audit(&mut self, entry: &AuditRecord) -> Result<i64, StoreError> {
        let row = NewAuditRow {
            shop_id: entry.shop_id.as_str(),
            at: ms(entry.at),
            actor: &entry.actor,
            action: &entry.action,
            target: &entry.target,
            before_json: json_text(&entry.before)?,
            after_json: json_text(&entry.after)?,
        };
        crate::store::insert_returning_id!(
            self,
            diesel::insert_into(audit_log::table).values(&row),
            audit_log::id
        )
    }

    /// The shop's audit trail, newest first.
    pub fn audit(&mut self, shop: &ShopId, page: &Page) -> Result<PageOf<AuditRecord>, StoreError> {
        let limit = page.effective_limit();
        let mut query = audit_log::table
            .filter(audit_log::shop_id.eq(shop.as_str()))
            .select(AuditRow::as_select())
            .order(audit_log::id.desc())
            .limit(limit as i64 + 1)
            .into_boxed();
        if let Some(after) = id_cursor(page)? {
            query = query.filter(audit_log::id.lt(after));
        }
        let rows = query.load(self.db())?;
        PageOf::from_rows(rows, limit, |r| r.id.to_string(), AuditRow::into_record)
    }

    /// The shop's event windows, earliest first.
    pub fn windows(&mut self, shop: &ShopId) -> Result<Vec<EventWindow>, StoreError> {
        event_windows::table
            .filter(event_windows::shop_id.eq(shop.as_str()))
            .order((
                event_windows::refunds_off_from.asc(),
                event_windows::id.asc(),
            ))
            .select(WindowRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(WindowRow::into_window)
            .collect()
    }

    /// One event window.
    pub fn window(
        &mut self,
        shop: &ShopId,
        id: &EventWindowId,
    ) -> Result<Option<EventWindow>, StoreError> {
        event_windows::table
            .find((shop.as_str(), id.as_str()))
            .select(WindowRow::as_select())
            .first(self.db())
            .optional()?
            .map(WindowRow::into_window)
            .transpose()
    }

    /// Creates or replaces an event window (by id).
    pub fn upsert_window(&mut self, shop: &ShopId, window: &EventWindow) -> Result<(), StoreError> {
        let row = WindowRow::new(shop, window);
        let updated =
            diesel::update(event_windows::table.find((shop.as_str(), window.id.as_str())))
                .set(&row)
                .execute(self.db())?;
        if updated == 0 {
            diesel::insert_into(event_windows::table)
                .values(&row)
                .execute(self.db())?;
        }
        Ok(())
    }

    /// Deletes an event window; `false` if there was none.
    pub fn delete_window(&mut self, shop: &ShopId, id: &EventWindowId) -> Result<bool, StoreError> {
        let deleted = diesel::delete(event_windows::table.find((shop.as_str(), id.as_str())))
            .execute(self.db())?;
        Ok(deleted > 0)
    }
}
