//! Order intake (create or update, idempotent and ordered by version) and reading orders back
//! with their memo, flag, each item's interception state and the buyer message history.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use shiphold_domain::{
    BuyerId, FieldError, Flag, Interception, ItemId, LineState, Money, Order, OrderId,
    ShippingStatus, SubOrder, SubOrderId, ValidationError,
};
use utoipa::{IntoParams, ToSchema};

use super::{Listing, PageQuery, json};
use crate::extract::{JsonBody, Path, Query};
use crate::problem::ApiError;
use crate::service::Caller;
use crate::service::marketplace_outbox::MarketplacePayload;
use crate::service::orders::{self, Intake, OrderRead};
use crate::state::AppState;
use crate::views::{MessageView, order_message_view};
use shiphold_storage::{OutboxEntry, OutboxStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list))
        .routes(routes!(show, upsert))
        .routes(routes!(messages))
}

/// An order as the merchant's or marketplace's systems report it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    #[schema(example = "buyer-42", value_type = crate::schema::mirror::Id)]
    buyer_id: String,
    /// Orders updates: one lower than the stored version is refused as stale; the same version
    /// with the same content changes nothing.
    #[schema(example = 1, minimum = 0)]
    #[serde(deserialize_with = "crate::extract::whole::number")]
    version: i64,
    /// The merchant's own seller memo.
    #[serde(default)]
    seller_memo: String,
    /// The merchant's own flag; `none` when absent.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::mirror::Flag>)]
    seller_flag: Option<String>,
    /// 1 to 200 items.
    #[schema(min_items = 1, max_items = 200)]
    sub_orders: Vec<SubOrderBody>,
}

/// One item (sub-order) of an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubOrderBody {
    #[schema(example = "so-1", value_type = crate::schema::mirror::Id)]
    id: String,
    #[schema(example = "sku-9", value_type = crate::schema::mirror::Id)]
    item_id: String,
    /// 1 to 200 characters, not only spaces.
    #[schema(
        example = "Blue kettle",
        min_length = 1,
        max_length = 200,
        pattern = "[^\\s\\u0085]"
    )]
    title: String,
    /// 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "crate::extract::whole::number")]
    quantity: u32,
    /// In minor units (fen, cents), not negative.
    #[schema(example = 12900, minimum = 0)]
    #[serde(deserialize_with = "crate::extract::whole::number")]
    amount: i64,
    #[schema(example = "awaiting_shipment", value_type = crate::schema::mirror::ShippingStatus)]
    shipping_status: String,
}

fn parse_order(order_id: &str, body: OrderBody) -> Result<Order, ValidationError> {
    let mut errors = ValidationError::empty();
    let id = errors.check(OrderId::parse(order_id));
    let buyer = errors.check(BuyerId::parse(&body.buyer_id));
    let flag = match body.seller_flag.as_deref() {
        Some(raw) => errors.check(Flag::parse(raw).map_err(|e| FieldError {
            field: "seller_flag".into(),
            ..e
        })),
        None => Some(Flag::None),
    };
    let mut subs = Vec::new();
    for (i, s) in body.sub_orders.into_iter().enumerate() {
        let at = |e: FieldError| e.under(&format!("sub_orders[{i}]"));
        let id = errors.check(SubOrderId::parse(&s.id).map_err(|e| {
            at(FieldError {
                field: "id".into(),
                ..e
            })
        }));
        let item = errors.check(ItemId::parse(&s.item_id).map_err(at));
        let amount = errors.check(Money::from_minor(s.amount).map_err(at));
        let status = errors.check(ShippingStatus::parse(&s.shipping_status).map_err(at));
        if let (Some(id), Some(item_id), Some(amount), Some(shipping_status)) =
            (id, item, amount, status)
        {
            subs.push(SubOrder {
                id,
                item_id,
                title: s.title.trim().to_owned(),
                quantity: s.quantity,
                amount,
                shipping_status,
            });
        }
    }
    errors.clone().into_result()?;
    let (Some(id), Some(buyer_id), Some(seller_flag)) = (id, buyer, flag) else {
        return Err(errors);
    };
    let order = Order {
        id,
        buyer_id,
        version: body.version,
        sub_orders: subs,
        seller_memo: body.seller_memo,
        seller_flag,
        memo: Default::default(),
    };
    order.validate()?;
    Ok(order)
}

/// An item as read back.
#[derive(Debug, Serialize, ToSchema)]
struct SubOrderView {
    #[schema(value_type = String)]
    id: SubOrderId,
    #[schema(value_type = String)]
    item_id: ItemId,
    title: String,
    quantity: u32,
    /// In minor units.
    amount: i64,
    #[schema(value_type = crate::schema::mirror::ShippingStatus)]
    shipping_status: ShippingStatus,
    /// The state of the item's latest interception line, if it was ever intercepted.
    #[schema(value_type = Option<crate::schema::mirror::LineState>)]
    interception_state: Option<LineState>,
    interception_id: Option<String>,
}

/// An order as read back.
#[derive(Debug, Serialize, ToSchema)]
struct OrderView {
    #[schema(value_type = String)]
    id: OrderId,
    #[schema(value_type = String)]
    buyer_id: BuyerId,
    version: i64,
    /// The memo as the warehouse reads it: the merchant's memo and Shiphold's note.
    seller_memo: String,
    /// The flag as the warehouse sees it.
    #[schema(value_type = crate::schema::mirror::Flag)]
    flag: Flag,
    /// Shiphold's note alone, present while an item is intercepted.
    interception_note: Option<String>,
    /// The merchant's own flag, restored when nothing is intercepted.
    #[schema(value_type = crate::schema::mirror::Flag)]
    seller_flag: Flag,
    sub_orders: Vec<SubOrderView>,
    /// The latest write-back of the memo and flag to the marketplace order; absent while the
    /// shop has no marketplace link or nothing was written for this order.
    marketplace_write_back: Option<WriteBackView>,
}

/// Where the latest write-back of an order's memo and flag to the marketplace stands.
#[derive(Debug, Serialize, ToSchema)]
struct WriteBackView {
    /// `pending` (not sent yet), `retrying` (sent, failed, will be sent again), `written`,
    /// `held` (the marketplace link is switched off) or `failed` (a dead letter; see
    /// `last_error`).
    #[schema(example = "written")]
    state: &'static str,
    /// The memo it writes; absent when it clears the memo.
    memo: Option<String>,
    /// The flag it sets, in the platform's numbers (0 grey, 1 red, 2 yellow, 3 green, 4 blue,
    /// 5 purple).
    flag: Option<u8>,
    attempts: i32,
    last_error: Option<String>,
    queued_at: chrono::DateTime<chrono::Utc>,
    /// When it was written or given up on.
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The outbox entry (a dead letter's id, to re-drive it).
    entry_id: i64,
}

fn write_back_view(entry: &OutboxEntry) -> WriteBackView {
    let payload: Option<MarketplacePayload> = serde_json::from_value(entry.payload.clone()).ok();
    WriteBackView {
        state: match entry.status {
            OutboxStatus::Pending if entry.attempts > 0 => "retrying",
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "written",
            OutboxStatus::Held => "held",
            OutboxStatus::Dead => "failed",
        },
        memo: payload.as_ref().and_then(|p| p.memo.clone()),
        flag: payload.map(|p| p.flag),
        attempts: entry.attempts,
        last_error: entry.last_error.clone(),
        queued_at: entry.created_at,
        finished_at: entry.finished_at,
        entry_id: entry.id,
    }
}

fn order_view(read: &OrderRead) -> OrderView {
    let (order, interceptions): (&Order, &[Interception]) = (&read.order, &read.interceptions);
    let latest = |id: &SubOrderId| {
        interceptions
            .iter()
            .flat_map(|i| i.lines.iter().map(move |l| (i, l)))
            .filter(|(_, l)| &l.sub_order_id == id)
            .max_by_key(|(i, l)| (l.state.is_active(), i.created_at))
            .map(|(i, l)| (l.state, i.id.to_string()))
    };
    OrderView {
        id: order.id.clone(),
        buyer_id: order.buyer_id.clone(),
        version: order.version,
        seller_memo: order.effective_memo(),
        flag: order.effective_flag(),
        interception_note: order.memo.note.clone(),
        seller_flag: order.seller_flag,
        sub_orders: order
            .sub_orders
            .iter()
            .map(|s| {
                let state = latest(&s.id);
                SubOrderView {
                    id: s.id.clone(),
                    item_id: s.item_id.clone(),
                    title: s.title.clone(),
                    quantity: s.quantity,
                    amount: s.amount.minor(),
                    shipping_status: s.shipping_status,
                    interception_state: state.as_ref().map(|(st, _)| *st),
                    interception_id: state.map(|(_, id)| id),
                }
            })
            .collect(),
        marketplace_write_back: read.marketplace_write.as_ref().map(write_back_view),
    }
}

/// Creates or updates an order (integration). Idempotent, and ordered by `version`.
#[utoipa::path(
    put,
    path = "/v1/orders/{order_id}",
    tag = "orders",
    operation_id = "put_order",
    security(("api_key" = [])),
    params(
        ("order_id" = crate::schema::mirror::Id, Path, description = "The marketplace's order id."),
    ),
    request_body = OrderBody,
    responses(
        (status = 201, description = "The order was created.", body = OrderView),
        (status = 200, description = "The order was updated, or the same body was sent again.", body = OrderView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::OrderConflict),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn upsert(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: JsonBody<OrderBody>,
) -> Result<Response, ApiError> {
    let incoming = parse_order(&order_id, body.value);
    let (intake, read) = orders::put_order(&state, &caller, incoming).await?;
    let status = match intake {
        Intake::Created => StatusCode::CREATED,
        Intake::Updated | Intake::Replayed => StatusCode::OK,
    };
    Ok(json(status, &order_view(&read)))
}

/// Reads an order with its memo, flag and each item's interception state.
#[utoipa::path(
    get,
    path = "/v1/orders/{order_id}",
    tag = "orders",
    operation_id = "get_order",
    security(("api_key" = [])),
    params(
        ("order_id" = crate::schema::mirror::Id, Path, description = "The marketplace's order id."),
    ),
    responses(
        (status = 200, description = "The order.", body = OrderView),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let read = orders::get_order(&state, &caller, order_id).await?;
    Ok(json(StatusCode::OK, &order_view(&read)))
}

/// Filters and paging of the order list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this buyer's orders.
    #[param(value_type = Option<crate::schema::mirror::Id>)]
    buyer_id: Option<String>,
    /// Only orders whose id starts with this (exactly, case included): what an agent types of
    /// an order number.
    #[param(min_length = 1, max_length = 64, example = "TB-10")]
    order_id_prefix: Option<String>,
    /// The cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
    /// How many items (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists orders, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = "orders",
    operation_id = "list_orders",
    security(("api_key" = [])),
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "A page of orders.", body = Listing<OrderView>),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page()?;
    let mut errors = shiphold_domain::ValidationError::empty();
    let buyer_id = q
        .buyer_id
        .as_deref()
        .and_then(|raw| errors.check(BuyerId::parse(raw)));
    let id_prefix = q.order_id_prefix.as_deref().map(str::trim);
    if let Some(prefix) = id_prefix
        && !(1..=shiphold_domain::MAX_ID_LEN).contains(&prefix.chars().count())
    {
        errors.push(
            shiphold_domain::FieldError::new(
                "order_id_prefix",
                "invalid",
                format!(
                    "the start of an order id is 1 to {} characters; leave the parameter out for \
                 every order",
                    shiphold_domain::MAX_ID_LEN
                ),
            )
            .zh(format!(
                "订单号开头应为 1 到 {} 个字符;不填则列出全部订单",
                shiphold_domain::MAX_ID_LEN
            )),
        );
    }
    errors.into_result()?;
    let filter = shiphold_storage::OrderFilter {
        buyer_id,
        id_prefix: id_prefix.map(str::to_owned),
        ..Default::default()
    };
    let (items, next_cursor) = orders::list_orders(&state, &caller, filter, page).await?;
    Ok(json(
        StatusCode::OK,
        &Listing {
            items: items.iter().map(order_view).collect(),
            next_cursor,
        },
    ))
}

/// The messages of an order.
#[derive(Debug, Serialize, ToSchema)]
struct MessageList {
    items: Vec<MessageView>,
}

/// The messages sent to the order's buyer, with their delivery status.
#[utoipa::path(
    get,
    path = "/v1/orders/{order_id}/messages",
    tag = "orders",
    operation_id = "list_order_messages",
    security(("api_key" = [])),
    params(
        ("order_id" = crate::schema::mirror::Id, Path, description = "The marketplace's order id."),
    ),
    responses(
        (status = 200, description = "Every message of the order.", body = MessageList),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
) -> Result<Response, ApiError> {
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let items = orders::order_messages(&state, &caller, order_id)
        .await?
        .into_iter()
        .map(order_message_view)
        .collect();
    Ok(json(StatusCode::OK, &MessageList { items }))
}
