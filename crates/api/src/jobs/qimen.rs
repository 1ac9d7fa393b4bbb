//! The Qimen deliverer: holds (`pending`) or releases (`restore`) the order's outbound document
//! at the shop's Qimen warehouse with a signed `taobao.qimen.order.pending`, and applies the
//! warehouse's answer to a hold: every item of the interception `locked`, or `lock_failed` with
//! the warehouse's message. Refused credentials switch the link off and hold the calls until the
//! admin links again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shiphold_domain::InterceptionId;
use shiphold_erp_adapter::{EndpointPolicy, ItemResult};
use shiphold_qimen_adapter::{
    Credentials, OrderType, Outcome, PendingRequest, QimenClient, Secret,
};
use shiphold_storage::ClaimedEntry;

use super::Clients;
use super::dispatch::{Verdict, attempt, dead, retry_later};
use crate::service::erp_results::{self, Completion};
use crate::service::outbox;
use crate::service::qimen_outbox::{QimenAction, QimenPayload};
use crate::state::AppState;

/// How the items' history names the warehouse.
const ACTOR: &str = "qimen";

/// One HTTP client per endpoint, built on first use; each call takes the shop's credentials.
pub(super) struct QimenClients {
    timeout: Duration,
    policy: EndpointPolicy,
    by_endpoint: Mutex<HashMap<String, QimenClient>>,
}

impl QimenClients {
    pub(super) fn new(policy: EndpointPolicy, timeout: Duration) -> Self {
        Self {
            timeout,
            policy,
            by_endpoint: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `endpoint` with `credentials`, after the endpoint policy accepted where
    /// it resolves to.
    async fn client(
        &self,
        endpoint: &str,
        credentials: Credentials,
    ) -> Result<QimenClient, String> {
        let url = self
            .policy
            .check_url(endpoint)
            .map_err(|e| format!("endpoint not allowed: {e}"))?;
        self.policy
            .check_resolved(&url)
            .await
            .map_err(|e| format!("endpoint not allowed: {e}"))?;
        let mut clients = self
            .by_endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = clients.get(endpoint) {
            return Ok(client.with_credentials(credentials));
        }
        let client =
            QimenClient::new(endpoint, credentials, self.timeout).map_err(|e| e.to_string())?;
        clients.insert(endpoint.to_owned(), client.clone());
        Ok(client)
    }
}

pub(super) async fn deliver(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    started: Instant,
) -> Verdict {
    match attempt_call(state, clients, entry, started).await {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

async fn attempt_call(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    started: Instant,
) -> Result<Verdict, Verdict> {
    let payload: QimenPayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let record = outbox::delivery_settings(state, entry.shop_id.clone())
        .await
        .map_err(retry_later)?;
    let Some(link) = record.settings.advanced.qimen.as_ref() else {
        return Err(dead("the shop no longer has a Qimen warehouse linked"));
    };
    if !link.active {
        return Err(Verdict::Hold {
            reason: format!(
                "the Qimen link is switched off: {}",
                link.disabled_reason
                    .as_deref()
                    .unwrap_or("no reason recorded")
            ),
        });
    }
    let secret = record
        .qimen_secret
        .as_deref()
        .ok_or_else(|| dead("the Qimen link has no app secret"))?;
    let credentials = Secret::new(secret)
        .and_then(|secret| Credentials::new(link.app_key.clone(), secret, link.customer_id.clone()))
        .map_err(|e| dead(format!("the Qimen credentials are unusable: {e}")))?;
    let client = clients
        .qimen
        .client(&link.endpoint, credentials)
        .await
        .map_err(dead)?;
    let request = match payload.action {
        QimenAction::Pending => PendingRequest::pending(&link.warehouse_code, &payload.order_id),
        QimenAction::Restore => PendingRequest::restore(&link.warehouse_code, &payload.order_id),
    }
    .with_owner_code(link.owner_code.clone().unwrap_or_default())
    .with_order_type(OrderType::from_code(&link.order_type))
    .with_reason(payload.reason.clone());
    let outcome = client
        .send_at(&request, state.now().wall)
        .await
        .map_err(|e| dead(format!("the call cannot be written: {e}")))?;
    let answer = match (payload.action, outcome) {
        (
            _,
            Outcome::Retry {
                reason,
                retry_after,
            },
        ) => {
            return Ok(Verdict::Retry {
                status: None,
                error: reason,
                retry_after,
            });
        }
        (_, Outcome::Permanent { reason }) => {
            let reason = format!("the warehouse refused the link: {reason}");
            if let Err(error) =
                outbox::switch_off_qimen(state, entry.shop_id.clone(), reason.clone()).await
            {
                tracing::warn!(%error, "could not switch the Qimen link off");
            }
            return Ok(Verdict::Hold { reason });
        }
        (QimenAction::Restore, Outcome::Refused { code, message }) => {
            return Ok(dead(format!(
                "the warehouse refused to release the document, which stays held: {}",
                words(&code, &message)
            )));
        }
        (QimenAction::Restore, _) => {
            return Ok(Verdict::Delivered {
                status: 200,
                completed: false,
            });
        }
        (QimenAction::Pending, Outcome::Refused { code, message }) => {
            Answer::Failed(words(&code, &message))
        }
        (QimenAction::Pending, _) => Answer::Held,
    };
    let Some(interception_id) = payload
        .interception_id
        .as_deref()
        .and_then(|id| InterceptionId::parse(id).ok())
    else {
        return Ok(dead("a hold without its interception"));
    };
    let results = payload
        .sub_order_ids
        .iter()
        .map(|id| match &answer {
            Answer::Held => ItemResult::locked(id),
            Answer::Failed(reason) => ItemResult::failed(id, reason),
        })
        .collect();
    let completion = Completion {
        entry_id: entry.id,
        lease_token: entry.lease_token.clone(),
        attempt: attempt(state.now().wall, started, "delivered", Some(200), None),
    };
    erp_results::delivered(
        state,
        entry.shop_id.clone(),
        interception_id,
        results,
        ACTOR,
        completion,
    )
    .await
    .map_err(|e| Verdict::Retry {
        status: Some(200),
        error: format!("could not apply the warehouse's answer: {e}"),
        retry_after: None,
    })?;
    Ok(Verdict::Delivered {
        status: 200,
        completed: true,
    })
}

/// What the warehouse answered a hold.
enum Answer {
    Held,
    Failed(String),
}

/// A `failure` answer in words: its message, or its code when it gave none.
fn words(code: &str, message: &str) -> String {
    match (code.trim(), message.trim()) {
        ("", "") => "the warehouse refused without a reason".to_owned(),
        (code, "") => format!("the warehouse refused ({code})"),
        ("", message) => message.to_owned(),
        (code, message) => format!("{message} ({code})"),
    }
}
