//! Event windows: when refunds are off, in which time zone, and when they reopen. Cards and
//! interceptions are accepted only inside an active one (or for test buyers in test mode).

use shiphold_domain::{EventWindow, EventWindowId, WindowError};

use super::{Caller, Parsed, Role, ServiceError, audit};
use crate::state::AppState;

fn window_error(e: WindowError) -> ServiceError {
    match e {
        WindowError::Invalid(v) => v.into(),
        WindowError::Overlaps(other) => ServiceError::WindowOverlap(other),
    }
}

/// Creates (`create`) or replaces an event window; refused when it overlaps another.
pub async fn save(
    app: &AppState,
    caller: &Caller,
    window: Parsed<EventWindow>,
    create: bool,
) -> Result<EventWindow, ServiceError> {
    caller.require(Role::Admin)?;
    let window = window?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now().business);
    let saved = window.clone();
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            // The settings row serialises window changes of one shop, so two overlapping windows
            // cannot both pass the check.
            tx.settings_for_update(&shop)?;
            let existing = tx.window(&shop, &window.id)?;
            if !create && existing.is_none() {
                return Err(ServiceError::NotFound("event window"));
            }
            let others = tx.windows(&shop)?;
            window.check_against(&others).map_err(window_error)?;
            tx.upsert_window(&shop, &window)?;
            let before = existing
                .map(|w| serde_json::to_value(w).unwrap_or_default())
                .unwrap_or_default();
            audit(
                tx,
                &shop,
                now,
                &actor,
                if create {
                    "event_window.create"
                } else {
                    "event_window.update"
                },
                window.id.as_str(),
                before,
                serde_json::to_value(&window).unwrap_or_default(),
            )?;
            Ok(())
        })
        .await?;
    Ok(saved)
}

/// Every event window of the shop.
pub async fn list(app: &AppState, caller: &Caller) -> Result<Vec<EventWindow>, ServiceError> {
    let shop = caller.shop_id.clone();
    Ok(app.store().read(move |tx| tx.windows(&shop)).await?)
}

/// One event window.
pub async fn get(
    app: &AppState,
    caller: &Caller,
    id: EventWindowId,
) -> Result<EventWindow, ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| tx.window(&shop, &id))
        .await?
        .ok_or(ServiceError::NotFound("event window"))
}

/// Deletes an event window.
pub async fn delete(
    app: &AppState,
    caller: &Caller,
    id: EventWindowId,
) -> Result<(), ServiceError> {
    caller.require(Role::Admin)?;
    let (shop, actor, now) = (caller.shop_id.clone(), caller.actor(), app.now().business);
    app.store()
        .write(move |tx| -> Result<(), ServiceError> {
            let Some(existing) = tx.window(&shop, &id)? else {
                return Err(ServiceError::NotFound("event window"));
            };
            tx.delete_window(&shop, &id)?;
            audit(
                tx,
                &shop,
                now,
                &actor,
                "event_window.delete",
                id.as_str(),
                serde_json::to_value(existing).unwrap_or_default(),
                serde_json::Value::Null,
            )?;
            Ok(())
        })
        .await
}
