//! The marketplace deliverer: writes an order's memo and flag on the marketplace order with a
//! signed `taobao.trade.memo.update`, with the shop's app key, secret and session.
//!
//! A write is an overwrite, so repeating one after a lost answer is harmless, and entries of one
//! order go one at a time in order: the last write is the order's current memo. Refused
//! credentials switch the link off and hold the writes until the admin links again; other
//! refusals are dead letters an admin may re-drive.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use shiphold_domain::MarketplaceSignMethod;
use shiphold_erp_adapter::{DeliveryOutcome, EndpointPolicy, Secret};
use shiphold_marketplace_adapter::{
    Credentials, ErrorKind, Flag, Memo, MemoClient, MemoUpdate, Outcome, SignMethod, error_kind,
};
use shiphold_storage::ClaimedEntry;

use super::Clients;
use super::dispatch::{Verdict, dead, retry_later};
use crate::service::marketplace_outbox::{MarketplacePayload, webhook_body};
use crate::service::outbox;
use crate::state::AppState;

/// One HTTP client per gateway (the platform's, in production: one), built on first use.
pub(super) struct MemoClients {
    timeout: Duration,
    policy: EndpointPolicy,
    by_gateway: Mutex<HashMap<String, MemoClient>>,
}

impl MemoClients {
    pub(super) fn new(policy: EndpointPolicy, timeout: Duration) -> Self {
        Self {
            timeout,
            policy,
            by_gateway: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `gateway`, after the endpoint policy accepted where it resolves to.
    async fn client(&self, gateway: &str, method: SignMethod) -> Result<MemoClient, String> {
        let url = self
            .policy
            .check_url(gateway)
            .map_err(|e| format!("gateway not allowed: {e}"))?;
        self.policy
            .check_resolved(&url)
            .await
            .map_err(|e| format!("gateway not allowed: {e}"))?;
        let mut clients = self
            .by_gateway
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let client = match clients.get(gateway) {
            Some(c) => c.clone(),
            None => {
                let c = MemoClient::new(gateway, self.timeout).map_err(|e| e.to_string())?;
                clients.insert(gateway.to_owned(), c.clone());
                c
            }
        };
        Ok(client.with_sign_method(method))
    }
}

fn sign_method(method: MarketplaceSignMethod) -> SignMethod {
    match method {
        MarketplaceSignMethod::Md5 => SignMethod::Md5,
        MarketplaceSignMethod::Hmac => SignMethod::HmacMd5,
        MarketplaceSignMethod::HmacSha256 => SignMethod::HmacSha256,
    }
}

pub(super) async fn deliver(state: &AppState, clients: &Clients, entry: &ClaimedEntry) -> Verdict {
    match attempt_write(state, clients, entry).await {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

/// The call a payload stands for.
fn update_for(payload: &MarketplacePayload) -> Result<MemoUpdate, Verdict> {
    let tid: u64 = payload.order_id.parse().map_err(|_| {
        dead(format!(
            "order id '{}' is not a marketplace order number (tid): the marketplace cannot be written",
            payload.order_id
        ))
    })?;
    let flag = Flag::from_number(payload.flag.into())
        .ok_or_else(|| dead(format!("unknown flag {}", payload.flag)))?;
    Ok(match &payload.memo {
        Some(memo) => MemoUpdate::write(
            tid,
            Memo::parse(memo.clone()).map_err(|e| dead(format!("memo not writable: {e}")))?,
            Some(flag),
        ),
        None => MemoUpdate::clear(tid).with_flag(flag),
    })
}

async fn attempt_write(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
) -> Result<Verdict, Verdict> {
    let payload: MarketplacePayload = serde_json::from_value(entry.payload.clone())
        .map_err(|e| dead(format!("unreadable payload: {e}")))?;
    let record = outbox::delivery_settings(state, entry.shop_id.clone())
        .await
        .map_err(retry_later)?;
    if let Some(hook) = record.settings.advanced.marketplace_webhook.as_ref() {
        return post_to_webhook(state, clients, entry, &payload, hook, &record).await;
    }
    let update = update_for(&payload)?;
    let Some(link) = record.settings.advanced.marketplace.as_ref() else {
        return Err(dead("the shop no longer has a marketplace linked"));
    };
    if !link.active {
        return Err(switched_off(link.disabled_reason.as_deref()));
    }
    let (Some(secret), Some(session)) = (&record.marketplace_secret, &record.marketplace_session)
    else {
        return Err(dead("the marketplace link has no app secret or session"));
    };
    let creds = Credentials::new(link.app_key.clone(), secret.clone(), session.clone())
        .map_err(|e| dead(format!("the marketplace credentials are unusable: {e}")))?;
    let client = clients
        .marketplace
        .client(&link.gateway, sign_method(link.sign_method))
        .await
        .map_err(dead)?;
    let outcome = client
        .update_at(&creds, &update, state.now().wall)
        .await
        .map_err(|e| dead(format!("the write cannot be sent: {e}")))?;
    Ok(match outcome {
        Outcome::Written { .. } => Verdict::Delivered {
            status: 200,
            completed: false,
        },
        Outcome::Retry {
            reason,
            retry_after,
        } => Verdict::Retry {
            status: None,
            error: reason,
            retry_after,
        },
        Outcome::Permanent {
            code: Some(code),
            sub_code,
            message,
        } if refuses_the_link(error_kind(code, sub_code.as_deref())) => {
            let reason = format!("the marketplace refused the link's credentials: {message}");
            if let Err(error) =
                outbox::switch_off_marketplace(state, entry.shop_id.clone(), reason.clone()).await
            {
                tracing::warn!(%error, "could not switch the marketplace link off");
            }
            Verdict::Hold { reason }
        }
        Outcome::Permanent { message, .. } => dead(message),
    })
}

/// The verdict for a write whose link is switched off: it waits.
fn switched_off(reason: Option<&str>) -> Verdict {
    Verdict::Hold {
        reason: format!(
            "the marketplace link is switched off: {}",
            reason.unwrap_or("no reason recorded")
        ),
    }
}

/// A write-back to the merchant's marketplace webhook: `order.memo_updated`, signed like ERP
/// messages with the link's secret.
async fn post_to_webhook(
    state: &AppState,
    clients: &Clients,
    entry: &ClaimedEntry,
    payload: &MarketplacePayload,
    hook: &shiphold_domain::MarketplaceWebhookLink,
    record: &shiphold_storage::SettingsRecord,
) -> Result<Verdict, Verdict> {
    if !hook.active {
        return Err(switched_off(hook.disabled_reason.as_deref()));
    }
    let secret = record
        .marketplace_webhook_secret
        .as_deref()
        .and_then(|s| Secret::parse(s).ok())
        .ok_or_else(|| dead("the marketplace webhook has no signing secret"))?;
    let now = state.now().wall;
    let body = webhook_body(&entry.shop_id, payload, now);
    let outcome = clients
        .erp
        .deliver(
            &hook.endpoint,
            &entry.message_id,
            now.timestamp(),
            &body,
            &[secret],
        )
        .await
        .map_err(|e| dead(format!("endpoint not allowed: {e}")))?;
    Ok(match outcome {
        DeliveryOutcome::Delivered { status, .. } => Verdict::Delivered {
            status,
            completed: false,
        },
        DeliveryOutcome::Gone => {
            let reason = "the marketplace webhook answered 410 Gone".to_owned();
            if let Err(error) =
                outbox::switch_off_marketplace(state, entry.shop_id.clone(), reason.clone()).await
            {
                tracing::warn!(%error, "could not switch the marketplace webhook off");
            }
            Verdict::Hold { reason }
        }
        other => Verdict::undelivered(other),
    })
}

/// Refusals that every write of the shop would get until the admin changes the link: a wrong
/// secret, an expired or revoked session, an application without the permission.
fn refuses_the_link(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidSession
            | ErrorKind::InsufficientPermissions
    )
}
