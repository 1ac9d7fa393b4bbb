//! ERP results: what an ERP reports about intercepted sub-orders (locked, failed, already
//! shipped), whether in the answer to a delivery or later through the signed callback.

use axum::body::Bytes;
use axum::http::HeaderMap;
use shiphold_domain::{InterceptionId, LineEvent, LockNews, ShopId, SubOrderId, Transition};
use shiphold_erp_adapter::{
    self as wire, CallbackReceipt, ReceiveError, Secret, VerifyError, receive_callback,
};
use shiphold_messaging::TemplateKind;
use shiphold_storage::{StoreError, Tx};

use super::lines::{Applied, apply_events, refresh_memo};
use super::messages::{MessageContext, Outgoing, interception_locale, send_buyer_message, titles};
use super::{ServiceError, audit};
use crate::state::{AppState, Now};

/// How history rows name the ERP when its report changed an item.
pub const ERP_ACTOR: &str = "erp";

/// How much of an ERP's `failed` reason is kept.
pub const MAX_REASON_CHARS: usize = 500;

/// The line event an ERP outcome means.
pub fn erp_event(result: &wire::ItemResult) -> LineEvent {
    match result.outcome {
        wire::Outcome::Locked => LineEvent::ErpLocked,
        // The protocol keeps at most 500 characters of a reason.
        wire::Outcome::Failed => LineEvent::ErpLockFailed {
            reason: match result.reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => {
                    reason.chars().take(MAX_REASON_CHARS).collect()
                }
                _ => "no reason given".to_owned(),
            },
        },
        wire::Outcome::AlreadyShipped => LineEvent::ErpAlreadyShipped,
    }
}

/// Who reports results, and whether they answer a delivery (whose items are then marked
/// delivered first).
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    /// How the items' history names the reporter (`erp`, `qimen`).
    pub actor: &'a str,
    /// Whether the report answers a delivery.
    pub delivered: bool,
}

/// Applies an ERP's results (from a delivery's response or a callback) to one interception,
/// first marking it delivered when `delivered` is set. Tells the buyer "stopped" only when the
/// shop has ERP locking on and this report locked an item: with the product's text when every
/// item of the interception is locked, else naming the stopped items. Returns a receipt per
/// result.
pub fn apply_in_tx(
    tx: &mut Tx<'_>,
    app: &AppState,
    shop_id: &ShopId,
    interception_id: &InterceptionId,
    reporter: Reporter<'_>,
    results: &[wire::ItemResult],
    now: Now,
) -> Result<Vec<wire::ResultReceipt>, StoreError> {
    let Reporter { actor, delivered } = reporter;
    let unknown = |r: &wire::ItemResult| wire::ResultReceipt {
        sub_order_id: r.sub_order_id.clone(),
        status: wire::ResultStatus::Unknown,
    };
    let Some(order_id) = tx.interception_order(shop_id, interception_id)? else {
        return Ok(results.iter().map(unknown).collect());
    };
    // Hold the order for update first, as every writer of its lines does, then read them.
    let Some(order) = tx.order_for_update(shop_id, &order_id)? else {
        return Err(StoreError::Corrupt(format!(
            "interception {interception_id} has no order"
        )));
    };
    let Some(mut interception) = tx.interception(shop_id, interception_id)? else {
        return Err(StoreError::Corrupt(format!(
            "interception {interception_id} vanished under its order's lock"
        )));
    };
    let mut events: Vec<(SubOrderId, LineEvent)> = Vec::new();
    if delivered {
        events.extend(
            interception
                .lines
                .iter()
                .map(|l| (l.sub_order_id.clone(), LineEvent::DeliveredToErp)),
        );
    }
    let mut receipts = Vec::new();
    let mut result_events = Vec::new();
    for result in results {
        let known = SubOrderId::parse(&result.sub_order_id)
            .ok()
            .filter(|id| interception.lines.iter().any(|l| &l.sub_order_id == id));
        match known {
            Some(id) => result_events.push((id, erp_event(result))),
            None => receipts.push(unknown(result)),
        }
    }
    // Receipts are for the results, not for the delivery marks that come first.
    let delivery_marks = events.len();
    events.extend(result_events);
    let (transitions, outcomes) =
        apply_events(tx, shop_id, &mut interception, &events, now.business, actor)?;
    for (outcome, (_, event)) in outcomes
        .iter()
        .skip(delivery_marks)
        .zip(events.iter().skip(delivery_marks))
    {
        let changed = outcome.applied == Applied::Changed;
        if !changed {
            // A late, repeated or contradictory result changes nothing but is kept in the item's
            // history, as the ERP protocol promises.
            if let Some(line) = interception
                .lines
                .iter()
                .find(|l| l.sub_order_id == outcome.sub_order_id)
            {
                let why = match &outcome.applied {
                    Applied::Refused(reason) => reason.as_str(),
                    _ => "repeats the current state",
                };
                let note = Transition {
                    from: line.state,
                    to: line.state,
                    event: event.kind(),
                    detail: Some(match event.detail() {
                        Some(detail) => format!("recorded, state unchanged ({why}): {detail}"),
                        None => format!("recorded, state unchanged ({why})"),
                    }),
                    at: now.business,
                    by: Some(actor.to_owned()),
                };
                tx.update_line(shop_id, &interception.id, line, &note)?;
            }
        }
        receipts.push(wire::ResultReceipt {
            sub_order_id: outcome.sub_order_id.to_string(),
            status: if changed {
                wire::ResultStatus::Applied
            } else {
                wire::ResultStatus::Recorded
            },
        });
    }
    if transitions.is_empty() {
        return Ok(receipts);
    }
    let record = tx.settings(shop_id)?;
    if transitions.iter().any(|t| !t.to.is_active()) {
        refresh_memo(tx, shop_id, &record.settings, &order, now)?;
    }
    if let Some(news) =
        shiphold_domain::lock_news(&record.settings, &transitions, &interception.lines)
    {
        // Every chosen item stopped: the product's text, which names none. Only some: the text
        // that names every item stopped so far.
        let (kind, locked) = match news {
            LockNews::AllLocked => (
                TemplateKind::LockSuccess,
                interception
                    .lines
                    .iter()
                    .map(|l| l.sub_order_id.clone())
                    .collect(),
            ),
            LockNews::SomeLocked(locked) => (TemplateKind::PartialLockSuccess, locked),
        };
        let locale = interception_locale(tx, shop_id, &order, interception_id)?;
        let ctx = MessageContext::load(tx, shop_id, &record, app.message_channel(), now)?;
        send_buyer_message(
            tx,
            &ctx,
            &order,
            Outgoing {
                kind,
                locale,
                interception_id: Some(interception_id.clone()),
                items: titles(&order, locked),
                card: None,
            },
        )?;
    }
    Ok(receipts)
}

/// A signed callback as it arrived: the Standard Webhooks headers and the raw body they sign.
pub struct SignedCallback {
    /// The request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    pub headers: HeaderMap,
    /// The body, exactly as received.
    pub body: Bytes,
}

/// Applies an ERP's signed results. The signature is checked before anything is written (an
/// unsigned request never takes the write lock); the replay guard and the changes then share
/// one transaction, so a refused or failed request changes nothing and can be sent again. A
/// shop that does not exist, or has no ERP linked, answers exactly as a wrong signature does,
/// so the callback tells an unsigned caller nothing about which shops exist.
pub async fn callback(
    app: &AppState,
    shop: &str,
    request: SignedCallback,
) -> Result<CallbackReceipt, ServiceError> {
    let now = app.now();
    let no_match =
        || ServiceError::Callback(ReceiveError::Verify(VerifyError::NoMatchingSignature));
    let shop = ShopId::parse(shop).map_err(|_| no_match())?;
    let secrets = {
        let shop = shop.clone();
        let record = app
            .store()
            .read(move |tx| -> Result<_, ServiceError> {
                Ok(match tx.shop(&shop)? {
                    Some(_) => Some(tx.settings(&shop)?),
                    None => None,
                })
            })
            .await?;
        // During a rotation callbacks signed with the previous secret are accepted too.
        let secrets: Vec<Secret> = record
            .iter()
            .flat_map(|r| [&r.erp_secret, &r.erp_secret_previous])
            .flatten()
            .filter_map(|s| Secret::parse(s).ok())
            .collect();
        if secrets.is_empty() {
            return Err(no_match());
        }
        secrets
    };
    let (verified, callback) =
        receive_callback(&request.headers, &request.body, &secrets, now.wall)
            .map_err(ServiceError::Callback)?;
    if callback.shop_id != shop.as_str() {
        return Err(ServiceError::CallbackMismatch(
            "the body's shop_id does not match the shop in the URL",
        ));
    }
    let (app2, woken_shop) = (app.clone(), shop.clone());
    let receipt = app
        .store()
        .write(move |tx| -> Result<CallbackReceipt, ServiceError> {
            if !tx.remember_webhook(&shop, &verified.webhook_id, now.business)? {
                return Ok(CallbackReceipt {
                    replayed: true,
                    results: Vec::new(),
                });
            }
            let interception_id = InterceptionId::parse(&callback.interception_id)
                .map_err(|_| ServiceError::NotFound("interception"))?;
            if tx.interception_order(&shop, &interception_id)?.is_none() {
                return Err(ServiceError::NotFound("interception"));
            }
            let results = apply_in_tx(
                tx,
                &app2,
                &shop,
                &interception_id,
                Reporter {
                    actor: ERP_ACTOR,
                    delivered: false,
                },
                &callback.results,
                now,
            )?;
            audit(
                tx,
                &shop,
                now.business,
                "erp",
                "erp.results",
                interception_id.as_str(),
                serde_json::Value::Null,
                serde_json::to_value(&callback.results).unwrap_or_default(),
            )?;
            Ok(CallbackReceipt {
                replayed: false,
                results,
            })
        })
        .await?;
    // What an answer queues is buyer messages.
    app.wake_for(&woken_shop, &[shiphold_storage::Topic::Chat]);
    Ok(receipt)
}

/// How a delivery's outbox entry is completed, in the same transaction as the answer's effects.
pub struct Completion {
    /// The entry.
    pub entry_id: i64,
    /// The lease token that proves the claim.
    pub lease_token: String,
    /// The attempt to record.
    pub attempt: shiphold_storage::AttemptRecord,
}

/// A peer accepted an interception — an ERP `interception.requested`, a Qimen warehouse a
/// hold — and answered: marks its items delivered, applies the results in the answer (`actor`
/// names the peer in the items' history), and completes the outbox entry, all in one transaction (one commit fewer per
/// message, and no window in which one is recorded without the other). `false` when the lease
/// was lost meanwhile.
pub async fn delivered(
    app: &AppState,
    shop: ShopId,
    interception_id: InterceptionId,
    results: Vec<wire::ItemResult>,
    actor: &'static str,
    completion: Completion,
) -> Result<bool, ServiceError> {
    let (now, app2, woken_shop) = (app.now(), app.clone(), shop.clone());
    let completed = app
        .store()
        .write(move |tx| -> Result<bool, ServiceError> {
            apply_in_tx(
                tx,
                &app2,
                &shop,
                &interception_id,
                Reporter {
                    actor,
                    delivered: true,
                },
                &results,
                now,
            )?;
            Ok(tx.complete(
                completion.entry_id,
                &completion.lease_token,
                now.wall,
                &completion.attempt,
            )?)
        })
        .await?;
    // What an answer queues is buyer messages.
    app.wake_for(&woken_shop, &[shiphold_storage::Topic::Chat]);
    Ok(completed)
}
