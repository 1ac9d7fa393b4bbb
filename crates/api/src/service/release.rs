//! Release: customer service undoes an interception for chosen items (or all still active),
//! because the buyer wants the goods after all. The items may ship again, the memo note comes
//! off, and the ERP and the buyer are told.

use shiphold_domain::{
    Interception, InterceptionId, ReleaseRefusal, SubOrderId, Transition, decide_release,
};
use shiphold_messaging::TemplateKind;

use super::lines::{apply_events, refresh_memo};
use super::messages::{MessageContext, Outgoing, interception_locale, send_buyer_message, titles};
use super::{Caller, Parsed, Role, ServiceError, audit, erp_outbox};
use crate::state::AppState;

/// An interception after a release, with its items' history.
#[derive(Debug)]
pub struct Released {
    /// The interception.
    pub interception: Interception,
    /// Every recorded change of its items.
    pub history: Vec<(SubOrderId, Transition)>,
    /// Items asked for and not released, with why.
    pub refused: Vec<ReleaseRefusal>,
}

/// What to release: the chosen items (every active one when `None`) and why.
#[derive(Debug, Clone, Default)]
pub struct ReleaseCommand {
    /// The items; `None` for every active one.
    pub chosen: Option<Vec<SubOrderId>>,
    /// Why, as the agent wrote it (kept in each item's history and the audit trail).
    pub reason: Option<String>,
}

/// The longest release reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Checks a release's reason: absent, or 1 to 200 characters once trimmed (an empty one is
/// absent).
pub fn parse_reason(raw: Option<&str>) -> Result<Option<String>, shiphold_domain::FieldError> {
    let Some(reason) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(shiphold_domain::FieldError::new(
            "reason",
            "too_long",
            format!("a reason is at most {MAX_REASON_CHARS} characters"),
        )
        .zh(format!("原因最多 {MAX_REASON_CHARS} 个字符")));
    }
    Ok(Some(reason.to_owned()))
}

/// Releases the chosen items of an interception, or every active one.
pub async fn release(
    app: &AppState,
    caller: &Caller,
    id: InterceptionId,
    command: Parsed<ReleaseCommand>,
) -> Result<Released, ServiceError> {
    caller.require(Role::Agent)?;
    let ReleaseCommand { chosen, reason } = command?;
    let (shop, actor, now, app2) = (
        caller.shop_id.clone(),
        caller.actor(),
        app.now(),
        app.clone(),
    );
    let released = app
        .store()
        .write(move |tx| -> Result<Released, ServiceError> {
            let first = tx
                .interception(&shop, &id)?
                .ok_or(ServiceError::NotFound("interception"))?;
            let order = tx
                .order_for_update(&shop, &first.order_id)?
                .ok_or(ServiceError::NotFound("order"))?;
            // Reload with the order held for update: a result may have changed a line meanwhile.
            let mut interception = tx
                .interception(&shop, &id)?
                .ok_or(ServiceError::NotFound("interception"))?;
            let decision = decide_release(&interception, chosen.as_deref()).map_err(|e| match e {
                shiphold_domain::ReleaseError::NoneChosen => ServiceError::from(
                    shiphold_domain::FieldError::new(
                        "sub_order_ids",
                        "required",
                        "name at least one item, or leave the field out to release all",
                    )
.zh("请至少指定一件商品,或不填以撤销全部"),
                ),
                shiphold_domain::ReleaseError::NothingToRelease { refused } => {
                    ServiceError::NothingToRelease(refused)
                }
            })?;
            let (transitions, _) =
                apply_events(
                    tx,
                    &shop,
                    &mut interception,
                    &decision.events(reason.as_deref()),
                    now.business,
                    &actor,
                )?;
            let record = tx.settings(&shop)?;
            let memo = refresh_memo(tx, &shop, &record.settings, &order, now)?;
            // While the link is switched off the message waits (held), as every ERP message does.
            if record.settings.advanced.erp.is_some() {
                let mut order_now = order.clone();
                order_now.memo = memo.clone();
                erp_outbox::released(tx, &shop, &order_now, &id, &decision.release, now)?;
            }
            let locale = interception_locale(tx, &shop, &order, &id)?;
            let ctx = MessageContext::load(tx, &shop, &record, app2.message_channel(), now)?;
            send_buyer_message(
                tx,
                &ctx,
                &order,
                Outgoing {
                    kind: TemplateKind::ReleaseNotice,
                    locale,
                    interception_id: Some(id.clone()),
                    items: titles(&order, decision.release.clone()),
                    card: None,
                },
            )?;
            audit(
                tx,
                &shop,
                now.business,
                &actor,
                "interception.release",
                id.as_str(),
                serde_json::Value::Null,
                serde_json::json!({ "items": decision.release, "reason": reason, "memo_note": memo.note, "flag": memo.flag, "transitions": transitions.len() }),
            )?;
            let history = tx.line_history(&shop, &id)?;
            Ok(Released {
                interception,
                history,
                refused: decision.refused,
            })
        })
        .await?;
    app.wake_worker();
    Ok(released)
}
