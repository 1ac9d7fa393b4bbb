//! The outbox seen from the application: the dead letters an admin inspects and sends again,
//! and what a delivery's outcome changes besides the entry (a buyer message's status, an ERP
//! link switched off after 410 Gone).

use chrono::{DateTime, Utc};
use shiphold_domain::ShopId;
use shiphold_storage::{MessageStatus, OutboxEntry, Page, PageOf, SettingsRecord};

use super::{Caller, Role, ServiceError, audit};
use crate::state::AppState;

/// A page of the shop's dead letters (admin).
pub async fn dead_letters(
    app: &AppState,
    caller: &Caller,
    page: Page,
) -> Result<PageOf<OutboxEntry>, ServiceError> {
    caller.require(Role::Admin)?;
    let shop = caller.shop_id.clone();
    Ok(app
        .store()
        .read(move |tx| tx.dead_letters(&shop, None, &page))
        .await?)
}

/// Queues a dead letter for delivery again (admin).
pub async fn redrive(app: &AppState, caller: &Caller, entry_id: i64) -> Result<(), ServiceError> {
    caller.require(Role::Admin)?;
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

/// A 410 means the ERP wants no more messages: stop sending, and say why in the settings.
pub async fn switch_off_erp(app: &AppState, shop: ShopId) -> Result<(), ServiceError> {
    let now = app.now().business;
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            tx.settings_for_update(&shop)?;
            let mut record = tx.settings(&shop)?;
            let before = serde_json::to_value(&record.settings.advanced.erp).unwrap_or_default();
            if let Some(erp) = record.settings.advanced.erp.as_mut() {
                erp.active = false;
                erp.disabled_reason = Some(format!("the ERP answered 410 Gone at {now}"));
            }
            tx.save_settings(&shop, &record, now)?;
            audit(
                tx,
                &shop,
                now,
                "system",
                "settings.erp.switched_off",
                "settings",
                before,
                serde_json::to_value(&record.settings.advanced.erp).unwrap_or_default(),
            )?;
            Ok(())
        })
        .await
}
