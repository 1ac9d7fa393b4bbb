//! The ERP deliverer: signs an ERP message with the shop's secret, POSTs it to the shop's ERP,
//! and applies what the answer reports through the ERP results service.

use std::time::Instant;

use shiphold_domain::InterceptionId;
use shiphold_erp_adapter::{DeliveryOutcome, Event, Secret};
use shiphold_storage::ClaimedEntry;

use super::Clients;
use super::dispatch::{Verdict, attempt, dead, retry_later};
use crate::service::erp_outbox::ErpPayload;
use crate::service::erp_results::{self, Completion};
use crate::service::outbox;
use crate::state::AppState;

pub(super) async fn deliver(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    started: Instant,
) -> Verdict {
    match attempt_delivery(state, clients, entry, started).await {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

async fn attempt_delivery(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    started: Instant,
) -> Result<Verdict, Verdict> {
    let payload: ErpPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let message = payload.message;
    let record = outbox::delivery_settings(state, entry.shop_id.clone())
        .await
        .map_err(retry_later)?;
    let Some(link) = record.settings.advanced.erp.as_ref() else {
        return Err(dead("the shop no longer has an ERP linked"));
    };
    if !link.active {
        // Kept, not lost: it waits until the admin switches the link on again.
        return Err(Verdict::Hold {
            reason: format!(
                "the ERP link is switched off: {}",
                link.disabled_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
        });
    }
    let secrets = signing_secrets(&record);
    if secrets.is_empty() {
        return Err(dead("the shop has no signing secret"));
    }
    let body = message.to_body();
    let outcome = clients
        .erp
        .deliver(
            &link.endpoint,
            &entry.message_id,
            state.now().wall.timestamp(),
            &body,
            &secrets,
        )
        .await
        .map_err(|e| dead(format!("endpoint not allowed: {e}")))?;
    match outcome {
        DeliveryOutcome::Delivered {
            status,
            results,
            note,
        } => {
            if let Some(note) = note {
                tracing::info!(id = entry.id, %note, "ERP answered with a body that is not a result list");
            }
            if let Event::InterceptionRequested(requested) = &message.event
                && let Ok(interception_id) = InterceptionId::parse(&requested.interception_id)
            {
                let completion = Completion {
                    entry_id: entry.id,
                    lease_token: entry.lease_token.clone(),
                    attempt: attempt(state.now().wall, started, "delivered", Some(status), None),
                };
                erp_results::delivered(
                    state,
                    entry.shop_id.clone(),
                    interception_id,
                    results.unwrap_or_default(),
                    erp_results::ERP_ACTOR,
                    completion,
                )
                .await
                .map_err(|e| Verdict::Retry {
                    status: Some(status),
                    error: format!("could not apply the ERP's answer: {e}"),
                    retry_after: None,
                })?;
                return Ok(Verdict::Delivered {
                    status,
                    completed: true,
                });
            }
            Ok(Verdict::Delivered {
                status,
                completed: false,
            })
        }
        DeliveryOutcome::Gone => {
            if let Err(error) = outbox::switch_off_erp(state, entry.shop_id.clone()).await {
                tracing::warn!(%error, "could not switch the ERP link off");
            }
            Err(Verdict::Dead {
                status: Some(410),
                error: "the ERP answered 410 Gone; the ERP link was switched off".into(),
            })
        }
        other => Ok(Verdict::undelivered(other)),
    }
}

/// The secrets a delivery is signed with: the current one, and during a rotation the previous
/// one too, so an ERP still on the old secret keeps verifying until the admin drops it.
pub(crate) fn signing_secrets(record: &shiphold_storage::SettingsRecord) -> Vec<Secret> {
    [&record.erp_secret, &record.erp_secret_previous]
        .into_iter()
        .flatten()
        .filter_map(|s| Secret::parse(s).ok())
        .collect()
}
