//! Staff accounts, for the people of a shop: an admin invites a person with a role; the person
//! opens the invitation link, chooses a password and is signed in; later they sign in with
//! their login and password. A sign-in is a session (a cookie's token and a CSRF token, both
//! stored hashed) that lasts one shift. Failed sign-ins slow an account down; a removed account
//! and its sessions stop working at once. API keys stay for systems.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shiphold_domain::{FieldError, ShopId, StaffId, ValidationError};
use shiphold_storage::{SessionRecord, StaffRecord};

use super::{Caller, Credential, Parsed, Role, ServiceError, audit};
use crate::auth::{generate_token, hash_password, hash_secret, verify_password};
use crate::state::AppState;

/// The prefix of an invitation token.
pub const INVITATION_PREFIX: &str = "shi_";
/// The prefix of a session token (the cookie's value).
pub const SESSION_PREFIX: &str = "shs_";
/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted, in characters (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Failed sign-ins in a row that are let through before the account is slowed down.
pub const FREE_FAILURES: i32 = 4;
/// The first wait, after the fifth failure in a row; it doubles with each further failure.
pub const FIRST_WAIT: Duration = Duration::from_secs(30);
/// The longest wait between two tries.
pub const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

/// What a staff account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Settings, keys, windows, staff — and everything an agent does.
    Admin,
    /// Customer service: orders, cards, interceptions, releases.
    Agent,
}

impl StaffRole {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
        }
    }

    /// Parses a role name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Admin, Self::Agent]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }

    /// The roles of the use cases it opens: an admin also does an agent's work.
    pub fn roles(self) -> Vec<Role> {
        match self {
            Self::Admin => vec![Role::Admin, Role::Agent],
            Self::Agent => vec![Role::Agent],
        }
    }
}

/// A person to invite, as parsed.
#[derive(Debug, Clone)]
pub struct NewStaff {
    /// Their login, lower case.
    pub login: String,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: StaffRole,
}

/// An account as others see it (no hashes).
#[derive(Debug, Clone)]
pub struct StaffView {
    /// The account.
    pub id: StaffId,
    /// Its login.
    pub login: String,
    /// The person's name.
    pub name: String,
    /// Their role.
    pub role: StaffRole,
    /// `invited` (no password yet), `active` or `removed`.
    pub status: StaffStatus,
    /// When the open invitation expires, if one is open.
    pub invitation_expires_at: Option<DateTime<Utc>>,
    /// When it was made, and by whom.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffStatus {
    /// Invited; no password chosen yet.
    Invited,
    /// Can sign in.
    Active,
    /// Removed; cannot sign in.
    Removed,
}

/// An invitation just made, with its token in clear (only its hash is stored).
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The account.
    pub member: StaffView,
    /// The token (`shi_…`).
    pub token: String,
    /// The console link that opens it: the token rides in the fragment, which browsers do not
    /// send, so it reaches no server log.
    pub url: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// A session just begun, with its tokens in clear (only their hashes are stored).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The person's shop.
    pub shop_id: ShopId,
    /// The person.
    pub member: StaffView,
    /// The session token, for the cookie.
    pub session_token: String,
    /// The CSRF token the console sends with every write.
    pub csrf_token: String,
    /// When the session ends by itself.
    pub expires_at: DateTime<Utc>,
}

/// A session as its cookie finds it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in person, as the caller of use cases.
    pub caller: Caller,
    /// Their account.
    pub member: StaffView,
    /// When it ends by itself.
    pub expires_at: DateTime<Utc>,
}

fn view(r: &StaffRecord, now: DateTime<Utc>) -> StaffView {
    let status = if r.removed_at.is_some() {
        StaffStatus::Removed
    } else if r.password_hash.is_some() {
        StaffStatus::Active
    } else {
        StaffStatus::Invited
    };
    StaffView {
        id: r.id.clone(),
        login: r.login.clone(),
        name: r.name.clone(),
        role: StaffRole::parse(&r.role).unwrap_or(StaffRole::Agent),
        status,
        invitation_expires_at: r
            .invite_expires_at
            .filter(|at| r.invite_hash.is_some() && *at > now && r.removed_at.is_none()),
        created_at: r.created_at,
        created_by: r.created_by.clone(),
    }
}

/// Checks a login: 3 to 100 characters of ASCII letters, digits and `. _ - + @`, compared
/// without case (it is stored lower case).
pub fn parse_login(raw: &str) -> Result<String, FieldError> {
    let login = raw.to_ascii_lowercase();
    let fits = (3..=100).contains(&login.chars().count())
        && login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+@".contains(c));
    if fits {
        Ok(login)
    } else {
        Err(FieldError::new(
            "login",
            "invalid",
            "a login is 3 to 100 letters, digits and . _ - + @ (an email address will do)",
        )
        .zh("登录名应为 3 到 100 个英文字母、数字或 . _ - + @(可用邮箱地址)"))
    }
}

/// Checks a person to invite, each failing field named.
pub fn parse_new_staff(login: &str, name: &str, role: &str) -> Result<NewStaff, ValidationError> {
    let mut errors = ValidationError::empty();
    let login = errors.check(parse_login(login));
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(
            FieldError::new("name", "invalid", "a name is 1 to 100 characters")
                .zh("姓名应为 1 到 100 个字符"),
        );
    }
    let role = StaffRole::parse(role);
    if role.is_none() {
        errors.push(
            FieldError::new("role", "invalid", "the role is 'admin' or 'agent'")
                .zh("角色应为 admin(管理员)或 agent(客服)"),
        );
    }
    errors.into_result()?;
    match (login, role) {
        (Some(login), Some(role)) => Ok(NewStaff { login, name, role }),
        _ => Err(ValidationError::empty()),
    }
}

/// Checks a new password.
pub fn check_password(password: &str, login: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(FieldError::new(
            "password",
            "invalid",
            format!("a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        )
        .zh(format!(
            "密码应为 {MIN_PASSWORD_CHARS} 到 {MAX_PASSWORD_CHARS} 个字符"
        )));
    }
    if password.trim().to_lowercase() == login {
        return Err(
            FieldError::new("password", "invalid", "the password must not be the login")
                .zh("密码不能与登录名相同"),
        );
    }
    Ok(())
}

/// How long an account must wait after `failures` failed sign-ins in a row: nothing for the
/// first [`FREE_FAILURES`], then [`FIRST_WAIT`], doubling, at most [`LONGEST_WAIT`].
pub fn wait_after(failures: i32) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES + 1)?;
    let factor = 1u32
        .checked_shl(u32::try_from(over).ok()?)
        .unwrap_or(u32::MAX);
    Some(FIRST_WAIT.saturating_mul(factor).min(LONGEST_WAIT))
}

fn invitation_url(app: &AppState, token: &str) -> String {
    format!(
        "{}/console#invitation={token}",
        app.config().public_base_url.trim_end_matches('/')
    )
}

fn chrono_after(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Invites a person to the caller's shop.
pub async fn invite(
    app: &AppState,
    caller: &Caller,
    new: Parsed<NewStaff>,
) -> Result<Invitation, ServiceError> {
    caller.require(Role::Admin)?;
    let new = new?;
    insert_invited(app, caller.shop_id.clone(), caller.actor(), new, false).await
}

/// Invites a person to `shop` for an operator at the command line (the first admin, or the way
/// back into a shop whose admins are gone).
pub async fn invite_for_operator(
    app: &AppState,
    shop: ShopId,
    new: NewStaff,
) -> Result<Invitation, ServiceError> {
    insert_invited(app, shop, "operator".into(), new, true).await
}

async fn insert_invited(
    app: &AppState,
    shop: ShopId,
    actor: String,
    new: NewStaff,
    check_shop: bool,
) -> Result<Invitation, ServiceError> {
    let now = app.now();
    let token = generate_token(INVITATION_PREFIX);
    let expires_at = chrono_after(now.wall, app.config().staff.invitation_lifetime);
    let record = StaffRecord {
        shop_id: shop.clone(),
        id: StaffId::generate(),
        login: new.login,
        name: new.name,
        role: new.role.as_str().to_owned(),
        password_hash: None,
        invite_hash: Some(hash_secret(&token)),
        invite_expires_at: Some(expires_at),
        failed_sign_ins: 0,
        throttled_until: None,
        created_at: now.business,
        created_by: actor.clone(),
        removed_at: None,
    };
    let stored = record.clone();
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            if check_shop && tx.shop(&shop)?.is_none() {
                return Err(ServiceError::NotFound("shop"));
            }
            if tx.staff_by_login(&stored.login)?.is_some() {
                return Err(ServiceError::Refused {
                    en: format!(
                        "the login '{}' is taken; choose another (logins are unique across all \
                         shops, and a removed account keeps its login)",
                        stored.login
                    ),
                    zh: format!(
                        "登录名“{}”已被使用;请换一个(登录名在所有店铺中唯一,已移除的账号也保留其登录名)",
                        stored.login
                    ),
                });
            }
            tx.insert_staff(&stored)?;
            let after = serde_json::json!({
                "id": stored.id, "login": stored.login, "name": stored.name, "role": stored.role,
            });
            audit(
                tx,
                &shop,
                now.business,
                &actor,
                "staff.invite",
                stored.id.as_str(),
                serde_json::Value::Null,
                after,
            )?;
            Ok(())
        })
        .await?;
    Ok(Invitation {
        member: view(&record, now.wall),
        url: invitation_url(app, &token),
        token,
        expires_at,
    })
}

/// The caller's shop's accounts, oldest first, removed ones included.
pub async fn list(app: &AppState, caller: &Caller) -> Result<Vec<StaffView>, ServiceError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    let now = app.now().wall;
    let records = app.store().read(move |tx| tx.staff_of_shop(&shop)).await?;
    Ok(records.iter().map(|r| view(r, now)).collect())
}

/// Makes a new invitation link for an account (a person who lost theirs, or forgot their
/// password); the old link stops working. The old password keeps working until the new link is
/// used.
pub async fn reinvite(
    app: &AppState,
    caller: &Caller,
    id: StaffId,
) -> Result<Invitation, ServiceError> {
    caller.require(Role::Admin)?;
    let now = app.now();
    let token = generate_token(INVITATION_PREFIX);
    let hash = hash_secret(&token);
    let expires_at = chrono_after(now.wall, app.config().staff.invitation_lifetime);
    let (shop, actor) = (caller.shop_id.clone(), caller.actor());
    let record = app
        .store()
        .write(move |tx| -> Result<StaffRecord, ServiceError> {
            let mut member = tx
                .staff_member(&shop, &id)?
                .ok_or(ServiceError::NotFound("staff account"))?;
            if member.removed_at.is_some() {
                return Err(ServiceError::Refused {
                    en: "this account was removed; invite the person again under a new login"
                        .into(),
                    zh: "此账号已被移除;请用新的登录名重新邀请".into(),
                });
            }
            member.invite_hash = Some(hash);
            member.invite_expires_at = Some(expires_at);
            tx.update_staff(&member)?;
            audit(
                tx,
                &shop,
                now.business,
                &actor,
                "staff.reinvite",
                member.id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({ "invitation_expires_at": expires_at }),
            )?;
            Ok(member)
        })
        .await?;
    Ok(Invitation {
        member: view(&record, now.wall),
        url: invitation_url(app, &token),
        token,
        expires_at,
    })
}

/// Removes an account: it cannot sign in from now on and its sessions end. Nobody removes
/// themselves (another admin does), so a shop is never left without the admin who could undo
/// it.
pub async fn remove(
    app: &AppState,
    caller: &Caller,
    id: StaffId,
) -> Result<StaffView, ServiceError> {
    caller.require(Role::Admin)?;
    if caller.staff_id() == Some(&id) {
        return Err(ServiceError::Refused {
            en: "you cannot remove your own account; another admin can".into(),
            zh: "不能移除自己的账号;请另一位管理员操作".into(),
        });
    }
    let now = app.now();
    let (shop, actor) = (caller.shop_id.clone(), caller.actor());
    let record = app
        .store()
        .write(move |tx| -> Result<StaffRecord, ServiceError> {
            let mut member = tx
                .staff_member(&shop, &id)?
                .ok_or(ServiceError::NotFound("staff account"))?;
            if member.removed_at.is_none() {
                member.removed_at = Some(now.wall);
                member.invite_hash = None;
                member.invite_expires_at = None;
                tx.update_staff(&member)?;
                let ended = tx.end_sessions_of(&shop, &member.id, now.wall)?;
                audit(
                    tx,
                    &shop,
                    now.business,
                    &actor,
                    "staff.remove",
                    member.id.as_str(),
                    serde_json::json!({ "login": member.login, "role": member.role }),
                    serde_json::json!({ "sessions_ended": ended }),
                )?;
            }
            Ok(member)
        })
        .await?;
    Ok(view(&record, now.wall))
}

/// Opens an invitation: sets the person's password (replacing any old one) and signs them in.
/// The link works once.
pub async fn accept_invitation(
    app: &AppState,
    token: &str,
    password: &str,
) -> Result<SignedIn, ServiceError> {
    let invite_hash = hash_secret(token);
    let now = app.now().wall;
    let open = move |m: &StaffRecord| {
        m.removed_at.is_none() && m.invite_expires_at.is_some_and(|at| at > now)
    };
    // Looked up first, so that a bad link or password costs no password hashing.
    let lookup = invite_hash.clone();
    let found = app
        .store()
        .read(move |tx| tx.staff_by_invite(&lookup))
        .await?
        .filter(open)
        .ok_or(ServiceError::InvitationInvalid)?;
    check_password(password, &found.login)?;
    let password_hash = blocking_hash(password.to_owned()).await?;
    let app2 = app.clone();
    let begun = app
        .store()
        .write(move |tx| -> Result<SignedIn, ServiceError> {
            // Read again under the write: a second use of the same link finds it gone.
            let mut member = tx
                .staff_by_invite(&invite_hash)?
                .filter(open)
                .ok_or(ServiceError::InvitationInvalid)?;
            member.password_hash = Some(password_hash);
            member.invite_hash = None;
            member.invite_expires_at = None;
            member.failed_sign_ins = 0;
            member.throttled_until = None;
            tx.update_staff(&member)?;
            // A new password ends the sessions begun with the old one.
            tx.end_sessions_of(&member.shop_id, &member.id, now)?;
            let begun = begin_session(&app2, tx, &member, now)?;
            audit(
                tx,
                &member.shop_id,
                app2.now().business,
                &format!("staff:{}", member.login),
                "staff.accept_invitation",
                member.id.as_str(),
                serde_json::Value::Null,
                serde_json::Value::Null,
            )?;
            Ok(begun)
        })
        .await?;
    Ok(begun)
}

/// Signs a person in with their login and password. A wrong login and a wrong password get the
/// same answer in about the same time. Each try is counted as a failure before the password is
/// checked (so tries sent at once are all counted) and cleared when it was right; after
/// [`FREE_FAILURES`] failures in a row the account waits before the next try.
pub async fn sign_in(
    app: &AppState,
    login: &str,
    password: &str,
) -> Result<SignedIn, ServiceError> {
    let Ok(login) = parse_login(login.trim()) else {
        dummy_verify(password.to_owned()).await;
        return Err(ServiceError::SignInFailed);
    };
    let now = app.now().wall;
    let counted_login = login.clone();
    let counted = app
        .store()
        .write(move |tx| -> Result<Option<StaffRecord>, ServiceError> {
            let Some(mut member) = tx.staff_by_login(&counted_login)? else {
                return Ok(None);
            };
            if member.removed_at.is_some() || member.password_hash.is_none() {
                return Ok(None);
            }
            if let Some(until) = member.throttled_until.filter(|until| *until > now) {
                return Err(ServiceError::SignInThrottled {
                    retry_after: (until - now).to_std().unwrap_or(FIRST_WAIT),
                });
            }
            member.failed_sign_ins = member.failed_sign_ins.saturating_add(1);
            member.throttled_until =
                wait_after(member.failed_sign_ins).map(|wait| chrono_after(now, wait));
            tx.update_staff(&member)?;
            Ok(Some(member))
        })
        .await?;
    let Some(member) = counted else {
        dummy_verify(password.to_owned()).await;
        return Err(ServiceError::SignInFailed);
    };
    let stored = member.password_hash.clone().unwrap_or_default();
    let password = password.to_owned();
    let right = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false);
    if !right {
        return Err(ServiceError::SignInFailed);
    }
    let app2 = app.clone();
    let (shop, id) = (member.shop_id.clone(), member.id.clone());
    app.store()
        .write(move |tx| -> Result<SignedIn, ServiceError> {
            let mut member = tx
                .staff_member(&shop, &id)?
                .filter(|m| m.removed_at.is_none())
                .ok_or(ServiceError::SignInFailed)?;
            member.failed_sign_ins = 0;
            member.throttled_until = None;
            tx.update_staff(&member)?;
            begin_session(&app2, tx, &member, now)
        })
        .await
}

fn begin_session(
    app: &AppState,
    tx: &mut shiphold_storage::Tx<'_>,
    member: &StaffRecord,
    now: DateTime<Utc>,
) -> Result<SignedIn, ServiceError> {
    let session_token = generate_token(SESSION_PREFIX);
    let csrf_token = crate::auth::csrf_token_for(&session_token);
    let expires_at = chrono_after(now, app.config().staff.session_lifetime);
    tx.insert_session(&SessionRecord {
        token_hash: hash_secret(&session_token),
        shop_id: member.shop_id.clone(),
        staff_id: member.id.clone(),
        created_at: now,
        expires_at,
        ended_at: None,
    })?;
    Ok(SignedIn {
        shop_id: member.shop_id.clone(),
        member: view(member, now),
        session_token,
        csrf_token,
        expires_at,
    })
}

/// The session a cookie's token opens, if it is open: not ended, not expired, its account not
/// removed.
pub async fn session(app: &AppState, token: &str) -> Result<Option<Session>, ServiceError> {
    if !token.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    let hash = hash_secret(token);
    let now = app.now().wall;
    let found = app
        .store()
        .read(move |tx| tx.session_by_token(&hash))
        .await?;
    Ok(found
        .filter(|(s, m)| s.ended_at.is_none() && s.expires_at > now && m.removed_at.is_none())
        .map(|(s, m)| {
            let role = StaffRole::parse(&m.role).unwrap_or(StaffRole::Agent);
            Session {
                caller: Caller {
                    shop_id: m.shop_id.clone(),
                    credential: Credential::Staff {
                        id: m.id.clone(),
                        login: m.login.clone(),
                    },
                    roles: role.roles(),
                },
                member: view(&m, now),
                expires_at: s.expires_at,
            }
        }))
}

/// Ends the session of a cookie's token (signing out); an unknown or ended one is fine.
pub async fn sign_out(app: &AppState, token: &str) -> Result<(), ServiceError> {
    let hash = hash_secret(token);
    let now = app.now().wall;
    app.store()
        .write(move |tx| tx.end_session(&hash, now))
        .await?;
    Ok(())
}

async fn blocking_hash(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ServiceError::Store(shiphold_storage::StoreError::database(e.to_string())))?
        .map_err(|e| {
            ServiceError::Store(shiphold_storage::StoreError::database(format!(
                "cannot hash a password: {e}"
            )))
        })
}

/// Spends the time a real check would, so that an unknown login is not told apart by speed.
async fn dummy_verify(password: String) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let _ = tokio::task::spawn_blocking(move || {
        let stored =
            DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
        verify_password(&password, stored)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_double_and_stop_growing() {
        for free in 0..=FREE_FAILURES {
            assert_eq!(wait_after(free), None, "{free}");
        }
        assert_eq!(wait_after(FREE_FAILURES + 1), Some(FIRST_WAIT));
        assert_eq!(wait_after(FREE_FAILURES + 2), Some(FIRST_WAIT * 2));
        assert_eq!(wait_after(FREE_FAILURES + 3), Some(FIRST_WAIT * 4));
        assert_eq!(wait_after(FREE_FAILURES + 40), Some(LONGEST_WAIT));
        assert_eq!(wait_after(i32::MAX), Some(LONGEST_WAIT));
        let mut last = Duration::ZERO;
        for n in 0..200 {
            let wait = wait_after(n).unwrap_or_default();
            assert!(wait >= last && wait <= LONGEST_WAIT, "{n}");
            last = wait;
        }
    }

    #[test]
    fn logins_are_compared_without_case_and_checked() {
        assert_eq!(parse_login("Li.Na@Shop.CN").unwrap(), "li.na@shop.cn");
        for bad in [
            "",
            " li.na",
            "ǅab",
            "ab",
            "has space",
            "semi;colon",
            &"x".repeat(101),
            "名字abc",
        ] {
            assert!(parse_login(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_length_and_are_not_the_login() {
        assert!(check_password("short", "li").is_err());
        assert!(check_password(&"x".repeat(129), "li").is_err());
        assert!(check_password("li.na@shop", "li.na@shop").is_err());
        assert!(check_password("correct horse battery", "li").is_ok());
        // Characters, not bytes: ten Chinese characters are enough.
        assert!(check_password("拦截发货拦截发货拦截", "li").is_ok());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterY", &stored));
        assert!(!verify_password("anything", "not a phc string"));
        assert_ne!(stored, hash_password("correct horse battery").unwrap());
    }
}
