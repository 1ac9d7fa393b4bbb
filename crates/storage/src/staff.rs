//! Staff accounts of a shop and their signed-in sessions. Passwords, invitation tokens and
//! session tokens are stored only as hashes; the api crate makes and checks them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::{ShopId, StaffId};

use crate::error::StoreError;
use crate::page::{from_ms, from_ms_opt, ms};
use crate::parse_id;
use crate::schema::{staff, staff_sessions};
use crate::store::Tx;

/// A person of a shop who signs in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    /// The shop.
    pub shop_id: ShopId,
    /// The account's id.
    pub id: StaffId,
    /// What the person signs in with; unique across all shops, lower case, never reused.
    pub login: String,
    /// How the console and the history name the person.
    pub name: String,
    /// `admin` or `agent`; the api crate gives it meaning.
    pub role: String,
    /// The password's hash (a PHC string), once the person chose one.
    pub password_hash: Option<String>,
    /// The hash of the open invitation's token, if one is open.
    pub invite_hash: Option<String>,
    /// When the open invitation expires.
    pub invite_expires_at: Option<DateTime<Utc>>,
    /// Failed sign-ins since the last successful one.
    pub failed_sign_ins: i32,
    /// No sign-in is tried before this time (after repeated failures).
    pub throttled_until: Option<DateTime<Utc>>,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// Who made it (an actor, as in the audit trail).
    pub created_by: String,
    /// When it was removed; a removed account cannot sign in and its login stays taken.
    pub removed_at: Option<DateTime<Utc>>,
}

/// A signed-in session of a staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The hash of the session cookie's token.
    pub token_hash: String,
    /// The shop.
    pub shop_id: ShopId,
    /// The account.
    pub staff_id: StaffId,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was ended (signed out, or the account removed).
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = staff)]
#[diesel(treat_none_as_null = true)]
struct StaffRow {
    shop_id: String,
    id: String,
    login: String,
    name: String,
    role: String,
    password_hash: Option<String>,
    invite_hash: Option<String>,
    invite_expires_at: Option<i64>,
    failed_sign_ins: i32,
    throttled_until: Option<i64>,
    created_at: i64,
    created_by: String,
    removed_at: Option<i64>,
}

impl StaffRow {
    fn from_record(r: &StaffRecord) -> Self {
        Self {
            shop_id: r.shop_id.as_str().to_owned(),
            id: r.id.as_str().to_owned(),
            login: r.login.clone(),
            name: r.name.clone(),
            role: r.role.clone(),
            password_hash: r.password_hash.clone(),
            invite_hash: r.invite_hash.clone(),
            invite_expires_at: r.invite_expires_at.map(ms),
            failed_sign_ins: r.failed_sign_ins,
            throttled_until: r.throttled_until.map(ms),
            created_at: ms(r.created_at),
            created_by: r.created_by.clone(),
            removed_at: r.removed_at.map(ms),
        }
    }

    fn into_record(self) -> Result<StaffRecord, StoreError> {
        Ok(StaffRecord {
            shop_id: parse_id(&self.shop_id, "staff.shop_id")?,
            id: parse_id(&self.id, "staff.id")?,
            login: self.login,
            name: self.name,
            role: self.role,
            password_hash: self.password_hash,
            invite_hash: self.invite_hash,
            invite_expires_at: from_ms_opt(self.invite_expires_at, "staff.invite_expires_at")?,
            failed_sign_ins: self.failed_sign_ins,
            throttled_until: from_ms_opt(self.throttled_until, "staff.throttled_until")?,
            created_at: from_ms(self.created_at, "staff.created_at")?,
            created_by: self.created_by,
            removed_at: from_ms_opt(self.removed_at, "staff.removed_at")?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_sessions)]
struct SessionRow {
    token_hash: String,
    shop_id: String,
    staff_id: String,
    created_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            token_hash: self.token_hash,
            shop_id: parse_id(&self.shop_id, "staff_sessions.shop_id")?,
            staff_id: parse_id(&self.staff_id, "staff_sessions.staff_id")?,
            created_at: from_ms(self.created_at, "staff_sessions.created_at")?,
            expires_at: from_ms(self.expires_at, "staff_sessions.expires_at")?,
            ended_at: from_ms_opt(self.ended_at, "staff_sessions.ended_at")?,
        })
    }
}

impl Tx<'_> {
    /// Stores a new account. `Conflict` if its login (in any shop) or id is taken.
    pub fn insert_staff(&mut self, member: &StaffRecord) -> Result<(), StoreError> {
        // Checked first: on PostgreSQL a failed insert would abort the whole transaction.
        if self.staff_by_login(&member.login)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "the login '{}' is taken",
                member.login
            )));
        }
        diesel::insert_into(staff::table)
            .values(StaffRow::from_record(member))
            .execute(self.db())?;
        Ok(())
    }

    /// Saves every column of an existing account. `NotFound` if the shop has no such account.
    pub fn update_staff(&mut self, member: &StaffRecord) -> Result<(), StoreError> {
        let changed =
            diesel::update(staff::table.find((member.shop_id.as_str(), member.id.as_str())))
                .set(StaffRow::from_record(member))
                .execute(self.db())?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The account with this login, in any shop (removed ones too: the caller decides).
    pub fn staff_by_login(&mut self, login: &str) -> Result<Option<StaffRecord>, StoreError> {
        staff::table
            .filter(staff::login.eq(login))
            .select(StaffRow::as_select())
            .first(self.db())
            .optional()?
            .map(StaffRow::into_record)
            .transpose()
    }

    /// The account whose open invitation's token hashes to `invite_hash`, in any shop.
    pub fn staff_by_invite(
        &mut self,
        invite_hash: &str,
    ) -> Result<Option<StaffRecord>, StoreError> {
        staff::table
            .filter(staff::invite_hash.eq(invite_hash))
            .select(StaffRow::as_select())
            .first(self.db())
            .optional()?
            .map(StaffRow::into_record)
            .transpose()
    }

    /// One account of a shop.
    pub fn staff_member(
        &mut self,
        shop: &ShopId,
        id: &StaffId,
    ) -> Result<Option<StaffRecord>, StoreError> {
        staff::table
            .find((shop.as_str(), id.as_str()))
            .select(StaffRow::as_select())
            .first(self.db())
            .optional()?
            .map(StaffRow::into_record)
            .transpose()
    }

    /// A shop's accounts, oldest first, removed ones included.
    pub fn staff_of_shop(&mut self, shop: &ShopId) -> Result<Vec<StaffRecord>, StoreError> {
        staff::table
            .filter(staff::shop_id.eq(shop.as_str()))
            .order((staff::created_at.asc(), staff::id.asc()))
            .select(StaffRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(StaffRow::into_record)
            .collect()
    }

    /// Stores a new session.
    pub fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        diesel::insert_into(staff_sessions::table)
            .values(SessionRow {
                token_hash: session.token_hash.clone(),
                shop_id: session.shop_id.as_str().to_owned(),
                staff_id: session.staff_id.as_str().to_owned(),
                created_at: ms(session.created_at),
                expires_at: ms(session.expires_at),
                ended_at: session.ended_at.map(ms),
            })
            .execute(self.db())?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, with its account (ended and expired
    /// ones too: the caller decides).
    pub fn session_by_token(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<(SessionRecord, StaffRecord)>, StoreError> {
        let Some(session) = staff_sessions::table
            .find(token_hash)
            .select(SessionRow::as_select())
            .first(self.db())
            .optional()?
            .map(SessionRow::into_record)
            .transpose()?
        else {
            return Ok(None);
        };
        let member = self
            .staff_member(&session.shop_id, &session.staff_id)?
            .ok_or_else(|| StoreError::corrupt("staff_sessions: the account is missing"))?;
        Ok(Some((session, member)))
    }

    /// Ends one session; ending it twice keeps the first time.
    pub fn end_session(&mut self, token_hash: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        diesel::update(
            staff_sessions::table
                .find(token_hash)
                .filter(staff_sessions::ended_at.is_null()),
        )
        .set(staff_sessions::ended_at.eq(ms(at)))
        .execute(self.db())?;
        Ok(())
    }

    /// Ends every open session of an account; returns how many were open.
    pub fn end_sessions_of(
        &mut self,
        shop: &ShopId,
        id: &StaffId,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Ok(diesel::update(
            staff_sessions::table
                .filter(staff_sessions::shop_id.eq(shop.as_str()))
                .filter(staff_sessions::staff_id.eq(id.as_str()))
                .filter(staff_sessions::ended_at.is_null()),
        )
        .set(staff_sessions::ended_at.eq(ms(at)))
        .execute(self.db())?)
    }
}
