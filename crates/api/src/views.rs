//! Wire views that more than one resource answers with: an interception with its lines, and a
//! buyer message. Routes build them from the services' outcomes; they are HTTP bodies only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use shiphold_domain::{
    Interception, InterceptionId, LineState, Method, OrderId, Requester, SubOrderId, Transition,
};
use shiphold_storage::MessageRecord;
use utoipa::ToSchema;

use crate::problem::ItemProblem;

/// One intercepted item as read back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineView {
    #[schema(value_type = String)]
    sub_order_id: SubOrderId,
    quantity: u32,
    #[schema(value_type = crate::schema::mirror::LineState)]
    state: LineState,
    /// Whether the item is still intercepted.
    active: bool,
    updated_at: DateTime<Utc>,
    /// Every change of the item's state; only when one interception is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::schema::mirror::Transition>>)]
    history: Option<Vec<Transition>>,
}

/// An interception as read back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InterceptionView {
    #[schema(value_type = String)]
    id: InterceptionId,
    #[schema(value_type = String)]
    order_id: OrderId,
    buyer_id: String,
    #[schema(value_type = crate::schema::mirror::Method)]
    method: Method,
    #[schema(value_type = crate::schema::mirror::Requester)]
    requested_by: Requester,
    created_at: DateTime<Utc>,
    /// Why customer service intercepted it, as they wrote it; `null` for a buyer's card.
    reason: Option<String>,
    active: bool,
    lines: Vec<LineView>,
    /// Items asked for and not intercepted, with why (only in the answer to a request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refused: Vec<ItemProblem>,
}

pub(crate) fn interception_view(
    i: &Interception,
    history: Option<&[(SubOrderId, Transition)]>,
    refused: Vec<ItemProblem>,
) -> InterceptionView {
    InterceptionView {
        id: i.id.clone(),
        order_id: i.order_id.clone(),
        buyer_id: i.buyer_id.to_string(),
        method: i.method.clone(),
        requested_by: i.requested_by.clone(),
        created_at: i.created_at,
        reason: i.reason.clone(),
        active: i.is_active(),
        lines: i
            .lines
            .iter()
            .map(|l| LineView {
                sub_order_id: l.sub_order_id.clone(),
                quantity: l.quantity,
                state: l.state,
                active: l.state.is_active(),
                updated_at: l.updated_at,
                history: history.map(|h| {
                    h.iter()
                        .filter(|(id, _)| id == &l.sub_order_id)
                        .map(|(_, t)| t.clone())
                        .collect()
                }),
            })
            .collect(),
        refused,
    }
}

/// A buyer message as shown in an order's history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageView {
    id: String,
    /// The template kind, e.g. `card`, `acknowledgement`, `release_notice`.
    kind: String,
    locale: String,
    /// `chat_gateway` or the built-in inbox.
    channel: &'static str,
    /// The rendered text.
    text: String,
    /// The card link, for card messages.
    link: Option<String>,
    /// Delivery status: `pending`, `delivered` or `dead`.
    status: &'static str,
    interception_id: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The last delivery error, also while it is still being retried.
    last_error: Option<String>,
    /// Delivery attempts to the chat gateway so far; only in an order's message history.
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<i32>,
}

pub(crate) fn message_view(m: MessageRecord) -> MessageView {
    MessageView {
        id: m.id,
        kind: m.kind,
        locale: m.locale,
        channel: m.channel.as_str(),
        text: m.text,
        link: m.link,
        status: m.status.as_str(),
        interception_id: m.interception_id.map(|i| i.to_string()),
        created_at: m.created_at,
        delivered_at: m.delivered_at,
        last_error: m.last_error,
        attempts: None,
    }
}

/// A message of an order's history, with its delivery attempts.
pub(crate) fn order_message_view(m: crate::service::orders::OrderMessage) -> MessageView {
    MessageView {
        attempts: m.attempts,
        ..message_view(m.record)
    }
}

/// The answer to an interception request: 201 when it created one, 200 when it found the
/// interception an earlier submission made.
pub(crate) fn intercepted(outcome: &crate::service::intercept::Intercepted) -> Response {
    let refused = outcome.refused.iter().map(ItemProblem::from).collect();
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        axum::Json(interception_view(&outcome.interception, None, refused)),
    )
        .into_response()
}
