//! Interception: the one path that both methods take — a buyer's card submission (method 1)
//! and customer service intercepting a whole order (method 2). The domain decides; this applies
//! the decision in one transaction: lines, memo and flag, the ERP message, the buyer's
//! acknowledgement and the audit entry, all or nothing.

use std::collections::BTreeSet;

use shiphold_domain::{
    CardId, DecideError, DecisionInput, Interception, InterceptionId, Line, Method, OrderId,
    Refusal, RefusalReason, Requester, ShopId, SubOrderId, active_at, decide,
};
use shiphold_messaging::{Locale, TemplateKind};
use shiphold_storage::{MessageChannel, Tx};

use super::messages::{MessageContext, Outgoing, send_buyer_message, titles};
use super::{
    Caller, Parsed, Role, ServiceError, audit, erp_outbox, marketplace_outbox, qimen_outbox,
};
use crate::state::{AppState, Now};

/// What an interception request asks for, once its caller is known.
pub struct InterceptRequest {
    /// The shop.
    pub shop_id: ShopId,
    /// The order.
    pub order_id: OrderId,
    /// Who asks.
    pub requester: Requester,
    /// Card (method 1) or direct (method 2).
    pub method: Method,
    /// The items chosen; `None`: every item that can be intercepted.
    pub chosen: Option<Vec<SubOrderId>>,
    /// Why, as given.
    pub reason: Option<String>,
    /// The language of the buyer's acknowledgement.
    pub locale: Locale,
    /// Who acts, as the history records it.
    pub actor: String,
}

/// Method 2's command: the buyer messages' language, and why (kept in the history).
#[derive(Debug, Clone)]
pub struct InterceptOrder {
    /// The language of the acknowledgement to the buyer.
    pub locale: Locale,
    /// Why, as the agent wrote it.
    pub reason: Option<String>,
}

/// An interception, and whether this request created it (a repeated card submission answers
/// with the interception the first one made).
#[derive(Debug)]
pub struct Intercepted {
    /// The shop.
    pub shop_id: ShopId,
    /// The interception.
    pub interception: Interception,
    /// Items asked for and not intercepted, with why.
    pub refused: Vec<Refusal>,
    /// Whether this request created it.
    pub created: bool,
}

/// Method 2: customer service intercepts every item of the order that can be intercepted.
pub async fn intercept_order(
    app: &AppState,
    caller: &Caller,
    order_id: OrderId,
    command: Parsed<InterceptOrder>,
) -> Result<Intercepted, ServiceError> {
    caller.require(Role::Agent)?;
    let InterceptOrder { locale, reason } = command?;
    let request = InterceptRequest {
        shop_id: caller.shop_id.clone(),
        order_id,
        requester: Requester::Agent(caller.actor()),
        method: Method::Direct,
        chosen: None,
        reason,
        locale,
        actor: caller.actor(),
    };
    let (now, channel) = (app.now(), app.message_channel());
    let outcome = app
        .store()
        .write(move |tx| in_tx(tx, channel, request, now))
        .await?;
    app.intercepted(&outcome);
    Ok(outcome)
}

/// Decides and applies an interception in the caller's transaction, with buyer messages sent
/// through `channel`. Public for callers that put several in one transaction (the benchmark's
/// raw limit of the same writes); requests go through [`intercept_order`] or the card service.
pub fn in_tx(
    tx: &mut Tx<'_>,
    channel: MessageChannel,
    request: InterceptRequest,
    now: Now,
) -> Result<Intercepted, ServiceError> {
    let shop = &request.shop_id;
    // Holding the order for update serialises requests for it: a double tap makes one interception.
    let mut order = tx
        .order_for_update(shop, &request.order_id)?
        .ok_or(ServiceError::NotFound("order"))?;
    let record = tx.settings(shop)?;
    let windows = tx.windows(shop)?;
    let active_lines = tx.active_lines_for_order(shop, &order.id)?;
    let active_set: BTreeSet<SubOrderId> = active_lines
        .iter()
        .map(|(_, l)| l.sub_order_id.clone())
        .collect();
    let input = DecisionInput {
        settings: &record.settings,
        order: &order,
        active_window: active_at(&windows, now.business),
        now: now.business,
        requester: request.requester.clone(),
        method: request.method.clone(),
        chosen: request.chosen.clone(),
        reason: request.reason.clone(),
        active_lines: active_set,
        new_id: InterceptionId::generate(),
    };
    let decision = match decide(input) {
        Ok(d) => d,
        Err(DecideError::NothingToIntercept { refusals }) => {
            // A card submitted again (a double tap, a retry after a lost answer) finds its own
            // items intercepted: answer with that interception instead of an error.
            if let Method::Card { card_id } = &request.method
                && let Some(existing) =
                    same_card_interception(tx, shop, card_id, &refusals, &active_lines)?
            {
                return Ok(Intercepted {
                    shop_id: shop.clone(),
                    interception: existing,
                    refused: Vec::new(),
                    created: false,
                });
            }
            return Err(ServiceError::NothingToIntercept(refusals));
        }
        Err(other) => return Err(other.into()),
    };
    tx.insert_interception(shop, &decision.interception)?;
    let before = std::mem::replace(&mut order.memo, decision.memo.clone());
    tx.set_order_memo(shop, &order.id, &order.memo)?;
    marketplace_outbox::memo_changed(
        tx,
        shop,
        record.settings.advanced.writes_memos_back(),
        &before,
        &order,
        now,
    )?;
    if decision.notify_erp {
        erp_outbox::requested(tx, shop, &order, &decision.interception, now)?;
    }
    if record.settings.advanced.qimen.is_some() {
        qimen_outbox::hold(tx, shop, &order, &decision.interception, now)?;
    }
    if decision.acknowledge_buyer {
        let ctx = MessageContext::with_windows(tx, shop, &record, windows, channel, now)?;
        let ids = decision
            .interception
            .lines
            .iter()
            .map(|l| l.sub_order_id.clone());
        send_buyer_message(
            tx,
            &ctx,
            &order,
            Outgoing {
                kind: TemplateKind::Acknowledgement,
                locale: request.locale,
                interception_id: Some(decision.interception.id.clone()),
                items: titles(&order, ids),
                card: None,
            },
        )?;
    }
    audit(
        tx,
        shop,
        now.business,
        &request.actor,
        "interception.create",
        decision.interception.id.as_str(),
        serde_json::Value::Null,
        serde_json::json!({
            "order_id": order.id,
            "reason": decision.interception.reason,
            "items": decision.interception.lines.iter().map(|l| l.sub_order_id.as_str()).collect::<Vec<_>>(),
            "memo_note": order.memo.note,
            "flag": order.memo.flag,
        }),
    )?;
    Ok(Intercepted {
        shop_id: shop.clone(),
        interception: decision.interception,
        refused: decision.refusals,
        created: true,
    })
}

fn same_card_interception(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    card_id: &CardId,
    refusals: &[Refusal],
    active: &[(InterceptionId, Line)],
) -> Result<Option<Interception>, ServiceError> {
    if refusals.is_empty()
        || refusals
            .iter()
            .any(|r| r.reason != RefusalReason::AlreadyIntercepted)
    {
        return Ok(None);
    }
    let mut ids: Vec<&InterceptionId> = refusals
        .iter()
        .filter_map(|r| {
            active
                .iter()
                .find(|(_, l)| l.sub_order_id == r.sub_order_id)
                .map(|(id, _)| id)
        })
        .collect();
    ids.dedup();
    let [only] = ids.as_slice() else {
        return Ok(None);
    };
    let Some(existing) = tx.interception(shop, only)? else {
        return Ok(None);
    };
    Ok(matches!(&existing.method, Method::Card { card_id: c } if c == card_id).then_some(existing))
}
