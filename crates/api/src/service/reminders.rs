//! Refund reminders: when refunds reopen, every buyer whose items are still intercepted (not
//! refunded) is reminded to file the refund, once per interception.

use shiphold_messaging::TemplateKind;
use shiphold_storage::REFUND_REMINDER_KIND;

use super::ServiceError;
use super::messages::{MessageContext, Outgoing, interception_locale, send_buyer_message, titles};
use crate::state::AppState;

/// How many interceptions one pass reminds at most; the next pass takes the rest.
const BATCH: u32 = 500;

/// Sends the reminders that are due; returns how many were sent.
pub async fn remind_refunds(app: &AppState) -> Result<usize, ServiceError> {
    let (now, app2) = (app.now(), app.clone());
    let sent = app
        .store()
        .write(move |tx| -> Result<usize, ServiceError> {
            let due = tx.interceptions_due_for_reminder(now.business, BATCH)?;
            let mut sent = 0;
            for (shop, interception_id) in due {
                let Some(interception) = tx.interception(&shop, &interception_id)? else {
                    continue;
                };
                let Some(order) = tx.order(&shop, &interception.order_id)? else {
                    continue;
                };
                let messages = tx.messages_for_order(&shop, &order.id)?;
                if messages.iter().any(|m| {
                    m.kind == REFUND_REMINDER_KIND
                        && m.interception_id.as_ref() == Some(&interception_id)
                }) {
                    continue;
                }
                let active: Vec<_> = interception
                    .lines
                    .iter()
                    .filter(|l| l.state.is_active())
                    .map(|l| l.sub_order_id.clone())
                    .collect();
                if active.is_empty() {
                    continue;
                }
                let record = tx.settings(&shop)?;
                let locale = interception_locale(tx, &shop, &order, &interception_id)?;
                let ctx = MessageContext::load(tx, &shop, &record, app2.message_channel(), now)?;
                send_buyer_message(
                    tx,
                    &ctx,
                    &order,
                    Outgoing {
                        kind: TemplateKind::RefundReminder,
                        locale,
                        interception_id: Some(interception_id.clone()),
                        items: titles(&order, active),
                        card: None,
                    },
                )?;
                sent += 1;
            }
            Ok(sent)
        })
        .await?;
    if sent > 0 {
        app.wake_worker();
    }
    Ok(sent)
}
