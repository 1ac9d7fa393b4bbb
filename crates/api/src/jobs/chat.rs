//! The chat deliverer: posts a buyer message to the chat gateway, signed, and keeps the
//! message's delivery status in the order's history.

use std::time::Duration;

use shiphold_erp_adapter::{DeliveryOutcome, Secret};
use shiphold_messaging::gateway::GatewayEvent;
use shiphold_storage::{ClaimedEntry, MessageStatus};

use super::Clients;
use super::dispatch::{Verdict, dead};
use crate::service::messages::ChatPayload;
use crate::service::outbox;
use crate::state::AppState;

pub(super) async fn deliver(state: &AppState, clients: &Clients, entry: &ClaimedEntry) -> Verdict {
    match attempt_delivery(state, clients, entry).await {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

async fn attempt_delivery(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
) -> Result<Verdict, Verdict> {
    let Some(gateway) = state.config().chat_gateway.clone() else {
        return Err(Verdict::Retry {
            status: None,
            error: "no chat gateway is configured".into(),
            retry_after: Some(Duration::from_secs(300)),
        });
    };
    let payload: ChatPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let secret = Secret::parse(&gateway.secret)
        .map_err(|e| dead(format!("the chat gateway secret is invalid: {e}")))?;
    let body = GatewayEvent::buyer_message_created(&payload.message)
        .to_body()
        .map_err(|e| dead(format!("cannot encode the gateway body: {e}")))?;
    let outcome = clients
        .gateway
        .deliver(
            &gateway.url,
            &entry.message_id,
            state.now().wall.timestamp(),
            &body,
            &[secret],
        )
        .await
        .map_err(|e| dead(format!("gateway URL not usable: {e}")))?;
    match outcome {
        DeliveryOutcome::Gone => Err(Verdict::Dead {
            status: Some(410),
            error: "the chat gateway answered 410 Gone".into(),
        }),
        other => Ok(Verdict::undelivered(other)),
    }
}

/// Records the buyer message's delivery status; a failure to record is logged, not fatal: the
/// outbox entry's outcome is what decides redelivery.
pub(super) async fn mark(
    state: &AppState,
    entry: &ClaimedEntry,
    status: MessageStatus,
    error: Option<String>,
) {
    let Ok(payload) = serde_json::from_value::<ChatPayload>(entry.payload.clone()) else {
        return;
    };
    let result = outbox::mark_message(
        state,
        entry.shop_id.clone(),
        payload.message_id,
        status,
        error,
    )
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, "could not record the message's delivery status");
    }
}
