//! The outbox seen from the application: the dead letters an admin inspects and sends again,
//! and what a delivery's outcome changes besides the entry (a buyer message's status, an ERP
//! link switched off after 410 Gone).

use chrono::{DateTime, Utc};
use shiphold_domain::ShopId;
use shiphold_storage::{
    AttemptRecord, MessageStatus, OutboxEntry, OutboxStatus, Page, PageOf, SettingsRecord, Topic,
    Tx,
};

use super::{Caller, Role, ServiceError, audit};
use crate::state::AppState;

/// A message Shiphold gave up delivering, with what it belongs to and why it was given up.
#[derive(Debug)]
pub struct DeadLetter {
    /// The outbox entry.
    pub entry: OutboxEntry,
    /// The order the message is about.
    pub order_id: Option<String>,
    /// The interception it is about, if any.
    pub interception_id: Option<String>,
    /// The HTTP status of the last attempt, when there was an answer.
    pub last_status: Option<i32>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// What a payload says it is about: (order, interception).
fn about(entry: &OutboxEntry) -> (Option<String>, Option<String>) {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match entry.topic {
        Topic::Erp => {
            let data = &entry.payload["message"]["data"];
            (text(&data["order_id"]), text(&data["interception_id"]))
        }
        Topic::Chat => {
            let message = &entry.payload["message"];
            (
                text(&message["order_id"]),
                text(&message["interception_id"]),
            )
        }
        Topic::Marketplace => (text(&entry.payload["order_id"]), None),
        Topic::Qimen => (
            text(&entry.payload["order_id"]),
            text(&entry.payload["interception_id"]),
        ),
    }
}

fn dead_letter(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    entry: OutboxEntry,
) -> Result<DeadLetter, ServiceError> {
    let attempts = tx.attempts(shop, entry.id)?;
    let (order_id, interception_id) = about(&entry);
    Ok(DeadLetter {
        order_id,
        interception_id,
        last_status: attempts.last().and_then(|a| a.status_code),
        attempts,
        entry,
    })
}

/// A page of the shop's dead letters (admin or agent: agents re-drive the failures of the
/// interceptions they work on).
pub async fn dead_letters(
    app: &AppState,
    caller: &Caller,
    page: Page,
) -> Result<PageOf<DeadLetter>, ServiceError> {
    caller.require_any(&[Role::Admin, Role::Agent])?;
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| -> Result<_, ServiceError> {
            let page = tx.dead_letters(&shop, None, &page)?;
            let mut items = Vec::with_capacity(page.items.len());
            for entry in page.items {
                items.push(dead_letter(tx, &shop, entry)?);
            }
            Ok(PageOf {
                items,
                next: page.next,
            })
        })
        .await
}

/// One dead letter with every attempt (admin or agent).
pub async fn get_dead_letter(
    app: &AppState,
    caller: &Caller,
    entry_id: i64,
) -> Result<DeadLetter, ServiceError> {
    caller.require_any(&[Role::Admin, Role::Agent])?;
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| -> Result<_, ServiceError> {
            let entry = tx
                .outbox_entry(&shop, entry_id)?
                .filter(|e| e.status == OutboxStatus::Dead)
                .ok_or(ServiceError::NotFound("dead letter"))?;
            dead_letter(tx, &shop, entry)
        })
        .await
}

/// Queues a dead letter for delivery again (admin or agent).
pub async fn redrive(app: &AppState, caller: &Caller, entry_id: i64) -> Result<(), ServiceError> {
    caller.require_any(&[Role::Admin, Role::Agent])?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now());
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            if !tx.redrive(&shop, entry_id, now.wall)? {
                return Err(ServiceError::NotFound("dead letter"));
            }
            audit(
                tx,
                &shop,
                now.business,
                &actor,
                "outbox.redrive",
                &entry_id.to_string(),
                serde_json::Value::Null,
                serde_json::json!({"redriven_at": now.business}),
            )?;
            Ok(())
        })
        .await?;
    app.wake_worker();
    Ok(())
}

/// The settings a delivery needs (the ERP link and its secret).
pub async fn delivery_settings(
    app: &AppState,
    shop: ShopId,
) -> Result<SettingsRecord, ServiceError> {
    Ok(app.store().read(move |tx| tx.settings(&shop)).await?)
}

/// Records a buyer message's delivery status after the chat gateway answered (or gave up).
pub async fn mark_message(
    app: &AppState,
    shop: ShopId,
    message_id: String,
    status: MessageStatus,
    error: Option<String>,
) -> Result<(), ServiceError> {
    let now = app.now().business;
    let delivered_at: Option<DateTime<Utc>> = (status == MessageStatus::Delivered).then_some(now);
    app.store()
        .write(move |tx| {
            tx.set_message_status(&shop, &message_id, status, delivered_at, error.as_deref())
        })
        .await?;
    Ok(())
}

/// Switches a link off in the settings with an audit entry by the system, under the settings
/// lock: `edit` turns the link off and says what the audit records of it (before, after), or
/// `None` when there is nothing to switch off.
async fn switch_off<F>(
    app: &AppState,
    shop: ShopId,
    action: &'static str,
    edit: F,
) -> Result<(), ServiceError>
where
    F: FnOnce(
            &mut shiphold_domain::AdvancedSettings,
            DateTime<Utc>,
        ) -> Option<(serde_json::Value, serde_json::Value)>
        + Send
        + 'static,
{
    let now = app.now().business;
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            tx.settings_for_update(&shop)?;
            let mut record = tx.settings(&shop)?;
            let Some((before, after)) = edit(&mut record.settings.advanced, now) else {
                return Ok(());
            };
            tx.save_settings(&shop, &record, now)?;
            audit(tx, &shop, now, "system", action, "settings", before, after)?;
            Ok(())
        })
        .await
}

/// A 410 means the ERP wants no more messages: stop sending, and say why in the settings.
pub async fn switch_off_erp(app: &AppState, shop: ShopId) -> Result<(), ServiceError> {
    switch_off(app, shop, "settings.erp.switched_off", |adv, now| {
        let before = serde_json::to_value(&adv.erp).unwrap_or_default();
        if let Some(erp) = adv.erp.as_mut() {
            erp.active = false;
            erp.disabled_reason = Some(format!("the ERP answered 410 Gone at {now}"));
        }
        Some((before, serde_json::to_value(&adv.erp).unwrap_or_default()))
    })
    .await
}

/// The marketplace refused the link's credentials (signature, session, permissions), or the
/// marketplace webhook answered 410 Gone: stop writing — the writes wait, held — and say why in
/// the settings, until the admin links again. A link already off keeps its first reason.
pub async fn switch_off_marketplace(
    app: &AppState,
    shop: ShopId,
    reason: String,
) -> Result<(), ServiceError> {
    switch_off(app, shop, "settings.marketplace.switched_off", move |adv, now| {
        let before = serde_json::json!({"marketplace": adv.marketplace, "marketplace_webhook": adv.marketplace_webhook});
        let (active, disabled_reason) = match (&mut adv.marketplace, &mut adv.marketplace_webhook) {
            (Some(link), _) => (&mut link.active, &mut link.disabled_reason),
            (None, Some(hook)) => (&mut hook.active, &mut hook.disabled_reason),
            (None, None) => return None,
        };
        if !*active {
            return None;
        }
        *active = false;
        *disabled_reason = Some(format!("{reason} (at {now})"));
        let after = serde_json::json!({"marketplace": adv.marketplace, "marketplace_webhook": adv.marketplace_webhook});
        Some((before, after))
    })
    .await
}

/// The Qimen warehouse refused the link itself (signature, credentials, configuration): stop
/// calling — the calls wait, held — and say why in the settings, until the admin links again.
/// A link already off keeps its first reason.
pub async fn switch_off_qimen(
    app: &AppState,
    shop: ShopId,
    reason: String,
) -> Result<(), ServiceError> {
    switch_off(app, shop, "settings.qimen.switched_off", move |adv, now| {
        let before = serde_json::to_value(&adv.qimen).unwrap_or_default();
        let link = adv.qimen.as_mut().filter(|link| link.active)?;
        link.active = false;
        link.disabled_reason = Some(format!("{reason} (at {now})"));
        Some((before, serde_json::to_value(&adv.qimen).unwrap_or_default()))
    })
    .await
}
