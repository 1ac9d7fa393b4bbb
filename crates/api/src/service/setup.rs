//! The three-step set-up of a shop: memo settings, enable, advanced settings (ERP link, card
//! expiry, single-item choice, test mode, message templates), and the audit trail of changes.

use serde_json::{Value, json};
use shiphold_domain::ShopId;
use shiphold_domain::{
    BuyerId, CardExpiry, ErpLink, FieldError, Flag, MarketplaceLink, MarketplaceSignMethod,
    MarketplaceWebhookLink, MemoText, QimenLink, TERMS_VERSION, TermsAcceptance,
};
use shiphold_erp_adapter::{EndpointPolicy, Secret};
use shiphold_messaging::{Locale, TemplateKind};
use shiphold_storage::{AuditRecord, Page, PageOf, SettingsRecord, Topic, Tx};

use super::messages::template_set;
use super::{Caller, Parsed, Role, ServiceError, audit};
use crate::state::AppState;

/// A shop's settings, and what an admin must know beside them.
#[derive(Debug)]
pub struct Settings {
    /// The settings as stored.
    pub record: SettingsRecord,
    /// ERP messages waiting for the ERP link to be switched on again.
    pub held_erp_messages: i64,
    /// Memo write-backs waiting for the marketplace link to be switched on again.
    pub held_marketplace_writes: i64,
    /// Warehouse calls waiting for the Qimen link to be switched on again.
    pub held_qimen_calls: i64,
}

fn read_in_tx(tx: &mut Tx<'_>, shop: &ShopId) -> Result<Settings, ServiceError> {
    Ok(Settings {
        record: tx.settings(shop)?,
        held_erp_messages: tx.held_count(shop, Topic::Erp)?,
        held_marketplace_writes: tx.held_count(shop, Topic::Marketplace)?,
        held_qimen_calls: tx.held_count(shop, Topic::Qimen)?,
    })
}

/// The settings (admin or agent).
pub async fn get(app: &AppState, caller: &Caller) -> Result<Settings, ServiceError> {
    caller.require_any(&[Role::Admin, Role::Agent])?;
    let shop = caller.shop_id.clone();
    app.store().read(move |tx| read_in_tx(tx, &shop)).await
}

/// What audit entries show of settings: never the secret.
fn audit_view(record: &SettingsRecord) -> Value {
    let mut v = serde_json::to_value(&record.settings).unwrap_or(Value::Null);
    let masked = |secret: &Option<String>| json!(if secret.is_some() { "***" } else { "" });
    v["erp_secret"] = masked(&record.erp_secret);
    v["erp_secret_previous"] = masked(&record.erp_secret_previous);
    v["marketplace_secret"] = masked(&record.marketplace_secret);
    v["marketplace_session"] = masked(&record.marketplace_session);
    v["qimen_secret"] = masked(&record.qimen_secret);
    v["marketplace_webhook_secret"] = masked(&record.marketplace_webhook_secret);
    v["templates"] = record.templates.clone();
    v
}

/// Whether each outbox-fed link is set and delivering.
struct Links {
    erp: (bool, bool),
    marketplace: (bool, bool),
    qimen: (bool, bool),
}

impl Links {
    fn of(record: &SettingsRecord) -> Self {
        let adv = &record.settings.advanced;
        Self {
            erp: (adv.erp.is_some(), adv.active_erp().is_some()),
            // Either link feeds the marketplace topic.
            marketplace: (
                adv.writes_memos_back(),
                adv.marketplace.as_ref().is_some_and(|m| m.active)
                    || adv.marketplace_webhook.as_ref().is_some_and(|m| m.active),
            ),
            qimen: (
                adv.qimen.is_some(),
                adv.qimen.as_ref().is_some_and(|q| q.active),
            ),
        }
    }

    /// The topics whose held entries a change from `self` to `now` lets go: switched (back) on,
    /// or removed.
    fn to_release(&self, now: &Links) -> Vec<Topic> {
        let lets_go = |(was_set, was_on): (bool, bool), (set, on): (bool, bool)| {
            (on && !was_on) || (was_set && !set)
        };
        let mut topics = Vec::new();
        if lets_go(self.erp, now.erp) {
            topics.push(Topic::Erp);
        }
        if lets_go(self.marketplace, now.marketplace) {
            topics.push(Topic::Marketplace);
        }
        if lets_go(self.qimen, now.qimen) {
            topics.push(Topic::Qimen);
        }
        topics
    }
}

/// Loads the settings under lock, lets `change` edit them, and saves them with an audit entry.
async fn change<F>(
    app: &AppState,
    caller: &Caller,
    action: &'static str,
    change: F,
) -> Result<Settings, ServiceError>
where
    F: FnOnce(&mut SettingsRecord) -> Result<(), ServiceError> + Send + 'static,
{
    change_saying(app, caller, action, None, change).await
}

/// Like [`change`], with the admin's reason in the audit entry.
async fn change_saying<F>(
    app: &AppState,
    caller: &Caller,
    action: &'static str,
    reason: Option<String>,
    change: F,
) -> Result<Settings, ServiceError>
where
    F: FnOnce(&mut SettingsRecord) -> Result<(), ServiceError> + Send + 'static,
{
    caller.require(Role::Admin)?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now());
    let (settings, released) = app
        .store()
        .write(move |tx| -> Result<(Settings, usize), ServiceError> {
            tx.settings_for_update(&shop)?;
            let mut record = tx.settings(&shop)?;
            let before = audit_view(&record);
            let was = Links::of(&record);
            change(&mut record)?;
            let saved = tx.save_settings(&shop, &record, now.business)?;
            // A link switched (back) on delivers what waited while it was off, in order; a link
            // removed lets the waiting messages go to the dead letters, saying why. Only these
            // two changes touch the outbox.
            let mut released = 0;
            for topic in was.to_release(&Links::of(&saved)) {
                released += tx.release_held(&shop, topic, now.wall)?;
            }
            let mut after = audit_view(&saved);
            if let (Some(reason), serde_json::Value::Object(map)) = (reason, &mut after) {
                map.insert("reason".into(), reason.into());
            }
            audit(
                tx,
                &shop,
                now.business,
                &actor,
                action,
                "settings",
                before,
                after,
            )?;
            Ok((read_in_tx(tx, &shop)?, released))
        })
        .await?;
    if released > 0 {
        app.wake_worker();
    }
    Ok(settings)
}

/// Step 1: sets the memo text and flag, and accepts the current terms when `accept_terms`.
pub async fn set_memo(
    app: &AppState,
    caller: &Caller,
    memo_and_flag: Parsed<(Option<MemoText>, Flag)>,
    accept_terms: bool,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let (memo, flag) = memo_and_flag?;
    let terms = accept_terms.then(|| TermsAcceptance {
        version: TERMS_VERSION.into(),
        accepted_by: caller.actor(),
        accepted_at: app.now().business,
    });
    change(app, caller, "settings.memo", move |record| {
        record
            .settings
            .set_memo(memo, flag, terms)
            .map_err(|e| ServiceError::SetupIncomplete(e.missing))
    })
    .await
}

/// Step 2: enables interception; refused with every missing precondition listed.
pub async fn enable(app: &AppState, caller: &Caller) -> Result<Settings, ServiceError> {
    change(app, caller, "settings.enable", |record| {
        record
            .settings
            .enable()
            .map_err(|e| ServiceError::SetupIncomplete(e.missing))
    })
    .await
}

/// Disables interception; the admin's reason, if given, goes into the audit trail.
pub async fn disable(
    app: &AppState,
    caller: &Caller,
    reason: Parsed<Option<String>>,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let reason = reason?;
    change_saying(app, caller, "settings.disable", reason, |record| {
        record.settings.disable();
        Ok(())
    })
    .await
}

/// Step 3: what changes of the advanced settings; `None` keeps a value.
#[derive(Debug, Default)]
pub struct AdvancedChange {
    /// How long a card's link stays usable.
    pub card_expiry: Option<CardExpiry>,
    /// Whether buyers may choose single items.
    pub single_item_choice: Option<bool>,
    /// Whether test buyers may use cards outside event windows.
    pub test_mode: Option<bool>,
    /// The test buyers; replaces the list.
    pub test_buyers: Option<Vec<BuyerId>>,
}

/// Step 3: card expiry, single-item choice and test mode.
pub async fn set_advanced(
    app: &AppState,
    caller: &Caller,
    change_to: Parsed<AdvancedChange>,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let change_to = change_to?;
    if change_to
        .test_buyers
        .as_ref()
        .is_some_and(|b| b.len() > shiphold_domain::AdvancedSettings::MAX_TEST_BUYERS)
    {
        return Err(
            FieldError::new("test_buyers", "too_many", "at most 100 test buyers")
                .zh("测试买家最多 100 个")
                .into(),
        );
    }
    change(app, caller, "settings.advanced", move |record| {
        let adv = &mut record.settings.advanced;
        if let Some(e) = change_to.card_expiry {
            adv.card_expiry = e;
        }
        if let Some(v) = change_to.single_item_choice {
            adv.single_item_choice = v;
        }
        if let Some(v) = change_to.test_mode {
            adv.test_mode = v;
        }
        if let Some(b) = change_to.test_buyers {
            adv.test_buyers = b;
        }
        Ok(())
    })
    .await
}

fn policy(app: &AppState) -> EndpointPolicy {
    EndpointPolicy {
        allow_insecure: app.config().allow_insecure_endpoints,
    }
}

/// Settings after a change that may have made a signing secret, shown once.
#[derive(Debug)]
pub struct WithSecret {
    /// The settings.
    pub record: Settings,
    /// The new `whsec_` secret, when one was made.
    pub new_secret: Option<String>,
}

/// Step 3: links the ERP; the first link generates the signing secret.
pub async fn set_erp(
    app: &AppState,
    caller: &Caller,
    endpoint: String,
    locking: bool,
) -> Result<WithSecret, ServiceError> {
    caller.require(Role::Admin)?;
    policy(app)
        .check_url(&endpoint)
        .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    let fresh = Secret::generate().to_whsec();
    let made = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let made_in_tx = made.clone();
    let secret = fresh.clone();
    let record = change(app, caller, "settings.erp", move |record| {
        record.settings.advanced.erp = Some(ErpLink {
            endpoint,
            locking,
            active: true,
            disabled_reason: None,
        });
        if record.erp_secret.is_none() {
            record.erp_secret = Some(secret);
            made_in_tx.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    })
    .await?;
    let new_secret = made
        .load(std::sync::atomic::Ordering::Relaxed)
        .then_some(fresh);
    Ok(WithSecret { record, new_secret })
}

/// Removes the ERP link and its secret.
pub async fn remove_erp(app: &AppState, caller: &Caller) -> Result<Settings, ServiceError> {
    change(app, caller, "settings.erp.remove", |record| {
        record.settings.advanced.erp = None;
        record.erp_secret = None;
        record.erp_secret_previous = None;
        Ok(())
    })
    .await
}

/// Step 3: what linking the marketplace sets. The app secret and the session may be left out
/// when the link is changed: the stored ones stay.
#[derive(Debug)]
pub struct MarketplaceChange {
    /// The platform's REST gateway.
    pub gateway: String,
    /// The application's key.
    pub app_key: String,
    /// The application's secret; required on the first link.
    pub app_secret: Option<String>,
    /// The seller's session (authorisation); required on the first link.
    pub session: Option<String>,
    /// How calls are signed.
    pub sign_method: MarketplaceSignMethod,
}

/// The longest app key, secret, session or code accepted, in characters.
const MAX_CREDENTIAL_CHARS: usize = 512;

fn credential(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(
            FieldError::new(field, "required", format!("{field} must not be empty"))
                .zh(format!("{field} 不能为空")),
        );
    }
    if value.chars().count() > MAX_CREDENTIAL_CHARS {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("{field} must be at most {MAX_CREDENTIAL_CHARS} characters"),
        )
        .zh(format!("{field} 最多 {MAX_CREDENTIAL_CHARS} 个字符")));
    }
    Ok(())
}

/// Step 3: links the marketplace (or changes the link, or switches a link the platform
/// refused back on): memos and flags are written back to marketplace orders from now on.
pub async fn set_marketplace(
    app: &AppState,
    caller: &Caller,
    change_to: Parsed<MarketplaceChange>,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let change_to = change_to?;
    policy(app)
        .check_url(&change_to.gateway)
        .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    // The client's own rule besides: plain http only to a loopback simulator.
    shiphold_marketplace_adapter::MemoClient::new(
        &change_to.gateway,
        shiphold_marketplace_adapter::DEFAULT_TIMEOUT,
    )
    .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    let mut errors = shiphold_domain::ValidationError::empty();
    let given = [
        ("app_key", Some(&change_to.app_key)),
        ("app_secret", change_to.app_secret.as_ref()),
        ("session", change_to.session.as_ref()),
    ];
    for (field, value) in given {
        if let Some(Err(e)) = value.map(|v| credential(field, v)) {
            errors.push(e);
        }
    }
    errors.into_result()?;
    change(app, caller, "settings.marketplace", move |record| {
        let MarketplaceChange {
            gateway,
            app_key,
            app_secret,
            session,
            sign_method,
        } = change_to;
        let mut missing = shiphold_domain::ValidationError::empty();
        if app_secret.is_none() && record.marketplace_secret.is_none() {
            missing.push(
                FieldError::new(
                    "app_secret",
                    "required",
                    "the first link needs the app secret",
                )
                .zh("首次连接需要填写 app_secret"),
            );
        }
        if session.is_none() && record.marketplace_session.is_none() {
            missing.push(
                FieldError::new(
                    "session",
                    "required",
                    "the first link needs the seller's session",
                )
                .zh("首次连接需要填写卖家授权 session"),
            );
        }
        missing.into_result()?;
        if record.settings.advanced.marketplace_webhook.is_some() {
            return Err(one_way_back("webhook"));
        }
        record.settings.advanced.marketplace = Some(MarketplaceLink {
            gateway,
            app_key,
            sign_method,
            active: true,
            disabled_reason: None,
        });
        if let Some(secret) = app_secret {
            record.marketplace_secret = Some(secret);
        }
        if let Some(session) = session {
            record.marketplace_session = Some(session);
        }
        Ok(())
    })
    .await
}

/// A shop writes its memos back one way: the refusal of linking the other.
fn one_way_back(linked: &str) -> ServiceError {
    let (en, zh) = match linked {
        "webhook" => (
            "memos are written back through the marketplace webhook: remove it first (DELETE /v1/settings/marketplace-webhook)",
            "备注已通过平台 Webhook 回写:请先断开它(DELETE /v1/settings/marketplace-webhook)",
        ),
        _ => (
            "memos are written back through the marketplace link: remove it first (DELETE /v1/settings/marketplace)",
            "备注已通过平台连接回写:请先断开它(DELETE /v1/settings/marketplace)",
        ),
    };
    ServiceError::Refused {
        en: en.into(),
        zh: zh.into(),
    }
}

/// Step 3: links a marketplace webhook — memo write-backs POSTed, signed, to an endpoint of the
/// merchant's — for a marketplace without the open platform; the first link generates the
/// signing secret, shown once. Also changes the endpoint, or switches a link that answered 410
/// back on.
pub async fn set_marketplace_webhook(
    app: &AppState,
    caller: &Caller,
    endpoint: String,
) -> Result<WithSecret, ServiceError> {
    caller.require(Role::Admin)?;
    policy(app)
        .check_url(&endpoint)
        .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    let fresh = Secret::generate().to_whsec();
    let made = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let made_in_tx = made.clone();
    let secret = fresh.clone();
    let record = change(app, caller, "settings.marketplace_webhook", move |record| {
        if record.settings.advanced.marketplace.is_some() {
            return Err(one_way_back("top"));
        }
        record.settings.advanced.marketplace_webhook = Some(MarketplaceWebhookLink {
            endpoint,
            active: true,
            disabled_reason: None,
        });
        if record.marketplace_webhook_secret.is_none() {
            record.marketplace_webhook_secret = Some(secret);
            made_in_tx.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    })
    .await?;
    let new_secret = made
        .load(std::sync::atomic::Ordering::Relaxed)
        .then_some(fresh);
    Ok(WithSecret { record, new_secret })
}

/// Removes the marketplace webhook link and its secret; write-backs still waiting go to the
/// dead letters.
pub async fn remove_marketplace_webhook(
    app: &AppState,
    caller: &Caller,
) -> Result<Settings, ServiceError> {
    change(
        app,
        caller,
        "settings.marketplace_webhook.remove",
        |record| {
            record.settings.advanced.marketplace_webhook = None;
            record.marketplace_webhook_secret = None;
            Ok(())
        },
    )
    .await
}

/// Removes the marketplace link with its secret and session; writes still waiting go to the
/// dead letters.
pub async fn remove_marketplace(app: &AppState, caller: &Caller) -> Result<Settings, ServiceError> {
    change(app, caller, "settings.marketplace.remove", |record| {
        record.settings.advanced.marketplace = None;
        record.marketplace_secret = None;
        record.marketplace_session = None;
        Ok(())
    })
    .await
}

/// Step 3: what linking a Qimen warehouse sets. The app secret may be left out when the link
/// is changed: the stored one stays.
#[derive(Debug)]
pub struct QimenChange {
    /// Where calls are posted.
    pub endpoint: String,
    /// The application's key.
    pub app_key: String,
    /// The application's secret; required on the first link.
    pub app_secret: Option<String>,
    /// The merchant's id at the gateway (`customerId`).
    pub customer_id: String,
    /// The warehouse (`warehouseCode`).
    pub warehouse_code: String,
    /// The goods owner (`ownerCode`), if the warehouse needs one.
    pub owner_code: Option<String>,
    /// The document kind (`orderType`).
    pub order_type: String,
}

/// Step 3: links a Qimen warehouse (or changes the link, or switches a link the warehouse
/// refused back on): interceptions hold the order's document there from now on.
pub async fn set_qimen(
    app: &AppState,
    caller: &Caller,
    change_to: Parsed<QimenChange>,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let change_to = change_to?;
    policy(app)
        .check_url(&change_to.endpoint)
        .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    // The client's own rules besides: plain http only to a loopback simulator, no query.
    shiphold_qimen_adapter::check_endpoint(&change_to.endpoint)
        .map_err(|e| ServiceError::EndpointNotAllowed(e.to_string()))?;
    let mut errors = shiphold_domain::ValidationError::empty();
    let given = [
        ("app_key", Some(&change_to.app_key)),
        ("app_secret", change_to.app_secret.as_ref()),
        ("customer_id", Some(&change_to.customer_id)),
        ("warehouse_code", Some(&change_to.warehouse_code)),
        ("owner_code", change_to.owner_code.as_ref()),
        ("order_type", Some(&change_to.order_type)),
    ];
    for (field, value) in given {
        if let Some(Err(e)) = value.map(|v| credential(field, v)) {
            errors.push(e);
        }
    }
    errors.into_result()?;
    change(app, caller, "settings.qimen", move |record| {
        let QimenChange {
            endpoint,
            app_key,
            app_secret,
            customer_id,
            warehouse_code,
            owner_code,
            order_type,
        } = change_to;
        if app_secret.is_none() && record.qimen_secret.is_none() {
            return Err(FieldError::new(
                "app_secret",
                "required",
                "the first link needs the app secret",
            )
            .zh("首次连接需要填写 app_secret")
            .into());
        }
        record.settings.advanced.qimen = Some(QimenLink {
            endpoint,
            app_key,
            customer_id,
            warehouse_code,
            owner_code,
            order_type,
            active: true,
            disabled_reason: None,
        });
        if let Some(secret) = app_secret {
            record.qimen_secret = Some(secret);
        }
        Ok(())
    })
    .await
}

/// Removes the Qimen warehouse link with its secret; calls still waiting go to the dead
/// letters.
pub async fn remove_qimen(app: &AppState, caller: &Caller) -> Result<Settings, ServiceError> {
    change(app, caller, "settings.qimen.remove", |record| {
        record.settings.advanced.qimen = None;
        record.qimen_secret = None;
        Ok(())
    })
    .await
}

/// Rotates the ERP signing secret without downtime: the new one (shown once) becomes current,
/// the current one is kept as the previous secret — deliveries carry a signature with each and
/// callbacks signed with either are accepted — until the admin drops it
/// ([`drop_previous_secret`]). Rotating again replaces the previous secret.
pub async fn rotate_secret(app: &AppState, caller: &Caller) -> Result<WithSecret, ServiceError> {
    let secret = Secret::generate().to_whsec();
    let stored = secret.clone();
    let record = change(app, caller, "settings.erp.rotate_secret", move |record| {
        if record.settings.advanced.erp.is_none() {
            return Err(ServiceError::Refused {
                en: "no ERP is linked".into(),
                zh: "尚未连接 ERP".into(),
            });
        }
        record.erp_secret_previous = record.erp_secret.replace(stored);
        Ok(())
    })
    .await?;
    Ok(WithSecret {
        record,
        new_secret: Some(secret),
    })
}

/// Ends a rotation: the previous signing secret no longer signs deliveries, and callbacks signed
/// with it are refused.
pub async fn drop_previous_secret(
    app: &AppState,
    caller: &Caller,
) -> Result<Settings, ServiceError> {
    change(app, caller, "settings.erp.drop_previous_secret", |record| {
        if record.erp_secret_previous.take().is_none() {
            return Err(ServiceError::Refused {
                en: "no previous signing secret is kept: no rotation is in progress".into(),
                zh: "没有保留旧的签名密钥:当前没有正在进行的更换".into(),
            });
        }
        Ok(())
    })
    .await
}

/// Overrides one buyer-message template; checked against its placeholders when saved.
pub async fn set_template(
    app: &AppState,
    caller: &Caller,
    template: Parsed<(TemplateKind, Locale)>,
    text: String,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let (kind, locale) = template?;
    change(app, caller, "settings.template", move |record| {
        let mut set = template_set(record);
        set.set_text(kind, locale, &text)
            .map_err(|e| FieldError::new("text", "invalid_template", e.to_string()))?;
        record.templates = serde_json::to_value(&set)
            .map_err(|e| shiphold_storage::StoreError::Corrupt(e.to_string()))?;
        Ok(())
    })
    .await
}

/// Removes a template override; the default applies again.
pub async fn remove_template(
    app: &AppState,
    caller: &Caller,
    template: Parsed<(TemplateKind, Locale)>,
) -> Result<Settings, ServiceError> {
    caller.require(Role::Admin)?;
    let (kind, locale) = template?;
    change(app, caller, "settings.template.remove", move |record| {
        let mut set = template_set(record);
        set.remove(kind, locale);
        record.templates = serde_json::to_value(&set)
            .map_err(|e| shiphold_storage::StoreError::Corrupt(e.to_string()))?;
        Ok(())
    })
    .await
}

/// A page of the audit trail, newest first (admin).
pub async fn audit_trail(
    app: &AppState,
    caller: &Caller,
    page: Page,
) -> Result<PageOf<AuditRecord>, ServiceError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    Ok(app.store().read(move |tx| tx.audit(&shop, &page)).await?)
}
