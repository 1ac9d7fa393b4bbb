//! Interceptions: direct interception of a whole order by customer service (method 2), the
//! shared path that also serves card submissions (method 1), release, listing and the risk list.

use super::{Auth, Table};
use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::interception::{DecideError, check_open};
use shiphold_domain::{
    CardId, DecisionInput, FieldError, Interception, InterceptionId, LineEvent, LineState, Method,
    OrderId, RefusalReason, Requester, ShopId, SubOrderId, Transition, active_at, decide,
};
use shiphold_messaging::{Locale, TemplateKind};
use shiphold_storage::{InterceptionFilter, Tx};
use utoipa::{IntoParams, ToSchema};

use super::{Listing, PageQuery, audit, json, parse_time};
use crate::auth::{Caller, Role};
use crate::extract::MaybeJson;
use crate::problem::{ApiError, ItemProblem, ProblemKind};
use crate::service::{self, MessageContext};
use crate::state::{AppState, Metrics};

pub(super) fn routes(table: Table) -> Table {
    table
        .post(
            "/v1/orders/{order_id}/interceptions",
            Auth::Key,
            intercept_order,
        )
        .get("/v1/interceptions", Auth::Key, list)
        .get("/v1/interceptions/{interception_id}", Auth::Key, show)
        .post(
            "/v1/interceptions/{interception_id}/release",
            Auth::Key,
            release,
        )
        .get("/v1/risk", Auth::Key, risk)
}

/// One intercepted item as read back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LineView {
    #[schema(value_type = String)]
    sub_order_id: SubOrderId,
    quantity: u32,
    #[schema(value_type = crate::openapi::mirror::LineState)]
    state: LineState,
    /// Whether the item is still intercepted.
    active: bool,
    updated_at: DateTime<Utc>,
    /// Every change of the item's state; only when one interception is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::openapi::mirror::Transition>>)]
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
    #[schema(value_type = crate::openapi::mirror::Method)]
    method: Method,
    #[schema(value_type = crate::openapi::mirror::Requester)]
    requested_by: Requester,
    created_at: DateTime<Utc>,
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

/// What an interception request asks for.
pub(crate) struct InterceptRequest {
    pub shop_id: ShopId,
    pub order_id: OrderId,
    pub requester: Requester,
    pub method: Method,
    pub chosen: Option<Vec<SubOrderId>>,
    pub locale: Locale,
    pub actor: String,
}

/// The result: the interception and whether this request created it (a repeated card
/// submission answers with the interception the first one made).
pub(crate) struct InterceptOutcome {
    pub view: InterceptionView,
    pub created: bool,
}

pub(crate) fn decide_error(error: DecideError) -> ApiError {
    match error {
        DecideError::NotEnabled => ApiError::new(
            ProblemKind::InterceptionDisabled,
            "the shop has not enabled interception; an admin enables it in the settings",
        ),
        DecideError::OutsideEventWindow { test_mode: false } => ApiError::new(
            ProblemKind::OutsideEventWindow,
            "cards and interceptions are accepted only while an event window is active",
        ),
        DecideError::OutsideEventWindow { test_mode: true } => ApiError::new(
            ProblemKind::OutsideEventWindow,
            "no event window is active and the buyer is not one of the shop's test buyers",
        ),
        DecideError::NotTheBuyer => ApiError::not_found("card"),
        DecideError::Invalid(v) => v.into(),
        DecideError::NothingToIntercept { refusals } => ApiError::new(
            ProblemKind::NothingToIntercept,
            "none of the items can be intercepted; each item says why",
        )
        .with_items(refusals.iter().map(ItemProblem::from).collect()),
    }
}

/// Decides and applies an interception in the caller's transaction: lines, memo and flag,
/// audit, the ERP message and the buyer's acknowledgement, all or nothing.
pub(crate) fn intercept_in_tx(
    tx: &mut Tx<'_>,
    config: &crate::config::ApiConfig,
    request: InterceptRequest,
    now: DateTime<Utc>,
) -> Result<InterceptOutcome, ApiError> {
    let shop = &request.shop_id;
    // Locking the order serialises requests for it, so a double tap creates one interception.
    let mut order = tx
        .lock_order(shop, &request.order_id)?
        .ok_or_else(|| ApiError::not_found("order"))?;
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
        active_window: active_at(&windows, now),
        now,
        requester: request.requester.clone(),
        method: request.method.clone(),
        chosen: request.chosen.clone(),
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
                return Ok(InterceptOutcome {
                    view: interception_view(&existing, None, Vec::new()),
                    created: false,
                });
            }
            return Err(decide_error(DecideError::NothingToIntercept { refusals }));
        }
        Err(other) => return Err(decide_error(other)),
    };
    tx.insert_interception(shop, &decision.interception)?;
    order.memo = decision.memo.clone();
    tx.set_order_memo(shop, &order.id, &order.memo)?;
    if decision.notify_erp {
        service::enqueue_erp_requested(tx, shop, &order, &decision.interception, now)?;
    }
    if decision.acknowledge_buyer {
        let ctx = MessageContext::load(tx, shop, &record, config, now)?;
        let ids = decision
            .interception
            .lines
            .iter()
            .map(|l| l.sub_order_id.clone());
        let titles = service::titles(&order, ids);
        service::send_buyer_message(
            tx,
            &ctx,
            &order,
            service::Outgoing {
                kind: TemplateKind::Acknowledgement,
                locale: request.locale,
                interception_id: Some(decision.interception.id.clone()),
                items: titles,
                card: None,
            },
        )?;
    }
    audit(
        tx,
        shop,
        now,
        &request.actor,
        "interception.create",
        decision.interception.id.as_str(),
        serde_json::Value::Null,
        serde_json::json!({
            "order_id": order.id,
            "items": decision.interception.lines.iter().map(|l| l.sub_order_id.as_str()).collect::<Vec<_>>(),
            "memo_note": order.memo.note,
            "flag": order.memo.flag,
        }),
    )?;
    let refused = decision.refusals.iter().map(ItemProblem::from).collect();
    Ok(InterceptOutcome {
        view: interception_view(&decision.interception, None, refused),
        created: true,
    })
}

fn same_card_interception(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    card_id: &CardId,
    refusals: &[shiphold_domain::Refusal],
    active: &[(InterceptionId, shiphold_domain::Line)],
) -> Result<Option<Interception>, ApiError> {
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

/// Options of a direct interception; the body may be left out.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct DirectBody {
    /// The language of the acknowledgement to the buyer: `zh-CN` (default) or `en`.
    #[serde(default)]
    locale: Option<String>,
}

fn parse_locale(raw: Option<&str>) -> Result<Locale, ApiError> {
    match raw {
        None => Ok(Locale::default()),
        Some(raw) => Locale::parse(raw)
            .map_err(|e| FieldError::new("locale", "invalid", e.to_string()).into()),
    }
}

/// Intercepts every item of the order that can be intercepted (agent); the answer lists the items refused and why.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/interceptions",
    tag = "interceptions",
    operation_id = "intercept_order",
    security(("api_key" = [])),
    params(
        ("order_id" = String, Path, description = "The marketplace's order id."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key and body replay the first answer (with `Idempotent-Replayed: true`)."),
    ),
    request_body = Option<DirectBody>,
    responses(
        (status = 201, description = "The interception.", body = InterceptionView),
        (status = 200, description = "An earlier answer, replayed for the same idempotency key.", body = InterceptionView),
        (status = 400, response = crate::openapi::MalformedRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::InterceptionClosedOrKeyInUse),
        (status = 422, response = crate::openapi::NothingToInterceptOrKeyReused),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn intercept_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: MaybeJson<DirectBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Agent)?;
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let body = body.value.unwrap_or_default();
    let locale = parse_locale(body.locale.as_deref())?;
    let request = InterceptRequest {
        shop_id: caller.shop_id.clone(),
        order_id,
        requester: Requester::Agent(caller.actor()),
        method: Method::Direct,
        chosen: None,
        locale,
        actor: caller.actor(),
    };
    let now = state.now();
    let config = state.config().clone();
    let outcome = state
        .store()
        .write(move |tx| intercept_in_tx(tx, &config, request, now))
        .await?;
    if outcome.created {
        Metrics::inc(&state.metrics().interceptions_created);
        state.wake_worker();
    }
    Ok(json(
        if outcome.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &outcome.view,
    ))
}

/// Filters and paging of the interception list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only interceptions with an item in this state.
    state: Option<String>,
    /// Only this order's interceptions.
    order_id: Option<String>,
    /// Only those created at or after this RFC 3339 time.
    created_after: Option<String>,
    /// Only those created before this RFC 3339 time.
    created_before: Option<String>,
    /// The cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
    /// How many items (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Lists interceptions, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/interceptions",
    tag = "interceptions",
    operation_id = "list_interceptions",
    security(("api_key" = [])),
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "A page of interceptions.", body = Listing<InterceptionView>),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 422, response = crate::openapi::ValidationFailed),
        (status = 503, response = crate::openapi::Unavailable),
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
    let filter = InterceptionFilter {
        order_id: q
            .order_id
            .as_deref()
            .and_then(|o| errors.check(OrderId::parse(o))),
        state: q
            .state
            .as_deref()
            .and_then(|s| errors.check(LineState::parse(s))),
        created_after: q
            .created_after
            .as_deref()
            .and_then(|t| errors.check(parse_time("created_after", t))),
        created_before: q
            .created_before
            .as_deref()
            .and_then(|t| errors.check(parse_time("created_before", t))),
    };
    errors.into_result()?;
    let shop = caller.shop_id.clone();
    let result = state
        .store()
        .read(move |tx| tx.interceptions(&shop, &filter, &page))
        .await?;
    let items = result
        .items
        .iter()
        .map(|i| interception_view(i, None, Vec::new()))
        .collect();
    Ok(json(
        StatusCode::OK,
        &Listing {
            items,
            next_cursor: result.next,
        },
    ))
}

/// Reads an interception with each item's history.
#[utoipa::path(
    get,
    path = "/v1/interceptions/{interception_id}",
    tag = "interceptions",
    operation_id = "get_interception",
    security(("api_key" = [])),
    params(
        ("interception_id" = String, Path, description = "The interception's id."),
    ),
    responses(
        (status = 200, description = "The interception.", body = InterceptionView),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = InterceptionId::parse(&id).map_err(|_| ApiError::not_found("interception"))?;
    let shop = caller.shop_id.clone();
    let view = state
        .store()
        .read(move |tx| -> Result<InterceptionView, ApiError> {
            let i = tx
                .interception(&shop, &id)?
                .ok_or_else(|| ApiError::not_found("interception"))?;
            let history = tx.line_history(&shop, &id)?;
            Ok(interception_view(&i, Some(&history), Vec::new()))
        })
        .await?;
    Ok(json(StatusCode::OK, &view))
}

/// What to release; the body may be left out to release every active item.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    /// The items to release; all active ones when absent.
    sub_order_ids: Option<Vec<String>>,
}

/// Releases intercepted items: they may ship again; the ERP and the buyer are told (agent).
#[utoipa::path(
    post,
    path = "/v1/interceptions/{interception_id}/release",
    tag = "interceptions",
    operation_id = "release_interception",
    security(("api_key" = [])),
    params(
        ("interception_id" = String, Path, description = "The interception's id."),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key and body replay the first answer (with `Idempotent-Replayed: true`)."),
    ),
    request_body = Option<ReleaseBody>,
    responses(
        (status = 200, description = "The interception after the release.", body = InterceptionView),
        (status = 400, response = crate::openapi::MalformedRequest),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 409, response = crate::openapi::ReleaseRefused),
        (status = 422, response = crate::openapi::ValidationFailedOrKeyReused),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: MaybeJson<ReleaseBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Agent)?;
    let id = InterceptionId::parse(&id).map_err(|_| ApiError::not_found("interception"))?;
    let body = body.value.unwrap_or_default();
    let chosen = body
        .sub_order_ids
        .map(|ids| {
            ids.iter()
                .enumerate()
                .map(|(i, raw)| {
                    SubOrderId::parse(raw).map_err(|e| FieldError {
                        field: format!("sub_order_ids[{i}]"),
                        ..e
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let (shop, actor, now, config) = (
        caller.shop_id.clone(),
        caller.actor(),
        state.now(),
        state.config().clone(),
    );
    let view = state
        .store()
        .write(move |tx| release_in_tx(tx, &config, &shop, &id, chosen, &actor, now))
        .await?;
    state.wake_worker();
    Ok(json(StatusCode::OK, &view))
}

fn release_in_tx(
    tx: &mut Tx<'_>,
    config: &crate::config::ApiConfig,
    shop: &ShopId,
    id: &InterceptionId,
    chosen: Option<Vec<SubOrderId>>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<InterceptionView, ApiError> {
    let first = tx
        .interception(shop, id)?
        .ok_or_else(|| ApiError::not_found("interception"))?;
    let order = tx
        .lock_order(shop, &first.order_id)?
        .ok_or_else(|| ApiError::not_found("order"))?;
    // Reload under the order's lock: a result may have changed a line meanwhile.
    let mut interception = tx
        .interception(shop, id)?
        .ok_or_else(|| ApiError::not_found("interception"))?;
    let targets: Vec<SubOrderId> = match chosen {
        Some(ids) if ids.is_empty() => {
            return Err(FieldError::new(
                "sub_order_ids",
                "required",
                "name at least one item, or leave the field out to release all",
            )
            .into());
        }
        Some(ids) => ids,
        None => interception
            .lines
            .iter()
            .filter(|l| l.state.is_active())
            .map(|l| l.sub_order_id.clone())
            .collect(),
    };
    let mut problems = Vec::new();
    let mut events = Vec::new();
    for target in &targets {
        match interception
            .lines
            .iter()
            .find(|l| &l.sub_order_id == target)
        {
            None => problems.push(ItemProblem {
                sub_order_id: target.to_string(),
                reason: "unknown_item".into(),
                message: "the interception has no such item".into(),
            }),
            Some(line) if !line.state.is_active() => problems.push(ItemProblem {
                sub_order_id: target.to_string(),
                reason: line.state.as_str().into(),
                message: format!("the item is {} and closed", line.state),
            }),
            Some(_) => events.push((target.clone(), LineEvent::Released)),
        }
    }
    if events.is_empty() {
        return Err(ApiError::new(
            ProblemKind::InvalidTransition,
            "no item of the interception can be released",
        )
        .with_items(problems));
    }
    let (transitions, _) = service::apply_events(tx, shop, &mut interception, &events, now)?;
    let record = tx.settings(shop)?;
    let memo = service::refresh_memo(tx, shop, &record.settings, &order.id)?;
    let released: Vec<SubOrderId> = events.iter().map(|(id, _)| id.clone()).collect();
    if record.settings.advanced.active_erp().is_some() {
        let mut order_now = order.clone();
        order_now.memo = memo.clone();
        service::enqueue_erp_released(tx, shop, &order_now, id, &released, true, now)?;
    }
    let locale = service::interception_locale(tx, shop, &order, id)?;
    let ctx = MessageContext::load(tx, shop, &record, config, now)?;
    service::send_buyer_message(
        tx,
        &ctx,
        &order,
        service::Outgoing {
            kind: TemplateKind::ReleaseNotice,
            locale,
            interception_id: Some(id.clone()),
            items: service::titles(&order, released.clone()),
            card: None,
        },
    )?;
    audit(
        tx,
        shop,
        now,
        actor,
        "interception.release",
        id.as_str(),
        serde_json::Value::Null,
        serde_json::json!({ "items": released, "memo_note": memo.note, "flag": memo.flag, "transitions": transitions.len() }),
    )?;
    let history = tx.line_history(shop, id)?;
    Ok(interception_view(&interception, Some(&history), problems))
}

/// An item at risk: intercepted, not refunded, and not locked by the ERP.
#[derive(Debug, Serialize, ToSchema)]
struct RiskItem {
    #[schema(value_type = String)]
    interception_id: InterceptionId,
    #[schema(value_type = String)]
    order_id: OrderId,
    #[schema(value_type = String)]
    sub_order_id: SubOrderId,
    #[schema(value_type = crate::openapi::mirror::LineState)]
    state: LineState,
    intercepted_at: DateTime<Utc>,
    age_hours: i64,
}

/// The items at risk, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct RiskList {
    items: Vec<RiskItem>,
}

/// Items at risk of shipping: intercepted, not refunded, and not locked by the ERP; oldest first.
#[utoipa::path(
    get,
    path = "/v1/risk",
    tag = "interceptions",
    operation_id = "list_risk",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every item at risk.", body = RiskList),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 503, response = crate::openapi::Unavailable),
    ),
)]
async fn risk(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let shop = caller.shop_id.clone();
    let now = state.now();
    let items = state
        .store()
        .read(move |tx| -> Result<Vec<RiskItem>, ApiError> {
            let mut items = Vec::new();
            for risky in [
                LineState::Requested,
                LineState::DeliveredToErp,
                LineState::LockFailed,
            ] {
                let mut after = None;
                loop {
                    let filter = InterceptionFilter {
                        state: Some(risky),
                        ..Default::default()
                    };
                    let page = shiphold_storage::Page {
                        after: after.clone(),
                        limit: 200,
                    };
                    let result = tx.interceptions(&shop, &filter, &page)?;
                    for i in &result.items {
                        for l in i.lines.iter().filter(|l| l.state == risky) {
                            items.push(RiskItem {
                                interception_id: i.id.clone(),
                                order_id: i.order_id.clone(),
                                sub_order_id: l.sub_order_id.clone(),
                                state: l.state,
                                intercepted_at: i.created_at,
                                age_hours: (now - i.created_at).num_hours(),
                            });
                        }
                    }
                    match result.next {
                        Some(next) if items.len() < 10_000 => after = Some(next),
                        _ => break,
                    }
                }
            }
            items.sort_by_key(|i| i.intercepted_at);
            Ok(items)
        })
        .await?;
    Ok(json(StatusCode::OK, &RiskList { items }))
}

/// Whether cards may be sent for the order now (used by card creation).
pub(crate) fn check_card_allowed(
    tx: &mut Tx<'_>,
    shop: &ShopId,
    order: &shiphold_domain::Order,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let record = tx.settings(shop)?;
    let windows = tx.windows(shop)?;
    check_open(&record.settings, order, active_at(&windows, now)).map_err(decide_error)
}
