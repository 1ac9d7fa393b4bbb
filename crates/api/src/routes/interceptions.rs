//! Interceptions over HTTP: direct interception of a whole order by customer service (method 2),
//! release, listing, one interception with its history, and the risk list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::{InterceptionId, LineState, OrderId, SubOrderId};
use shiphold_storage::InterceptionFilter;
use utoipa::{IntoParams, ToSchema};

use super::{Listing, PageQuery, json, parse_locale, parse_sub_order_ids, parse_time};
use crate::extract::{MaybeJson, Path, Query};
use crate::problem::{ApiError, ItemProblem};
use crate::service::{Caller, intercept, interceptions, release};
use crate::state::AppState;
use crate::views::{InterceptionView, intercepted, interception_view};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(intercept_order))
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(release))
        .routes(routes!(risk))
}

/// Options of a direct interception; the body may be left out.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct DirectBody {
    /// The language of the acknowledgement to the buyer: `zh-CN` (default) or `en`.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::mirror::Locale>)]
    locale: Option<String>,
    /// Why (at most 200 characters), kept in the interception, each item's first history row and
    /// the audit trail; the buyer is not shown it.
    #[schema(
        max_length = 200,
        example = "The buyer ordered twice by mistake (chat 11:02)"
    )]
    reason: Option<String>,
}

/// Intercepts every item of the order that can be intercepted (agent); the answer lists the items refused and why.
#[utoipa::path(
    post,
    path = "/v1/orders/{order_id}/interceptions",
    tag = "interceptions",
    operation_id = "intercept_order",
    security(("api_key" = [])),
    params(
        ("order_id" = crate::schema::mirror::Id, Path, description = "The marketplace's order id."),
    ),
    request_body = Option<DirectBody>,
    responses(
        (status = 201, description = "The interception.", body = InterceptionView),
        (status = 200, description = "An earlier answer, replayed for the same idempotency key.", body = InterceptionView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::InterceptionRefusedOrKeyInUse),
        (status = 422, response = crate::schema::ValidationFailedOrKeyReused),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn intercept_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(order_id): Path<String>,
    body: MaybeJson<DirectBody>,
) -> Result<Response, ApiError> {
    let order_id = OrderId::parse(&order_id).map_err(|_| ApiError::not_found("order"))?;
    let body = body.value.unwrap_or_default();
    let mut errors = shiphold_domain::ValidationError::empty();
    let locale = parse_locale(body.locale.as_deref()).unwrap_or_else(|e| {
        errors.errors.extend(e.errors);
        shiphold_messaging::Locale::default()
    });
    let reason = errors
        .check(crate::service::release::parse_reason(
            body.reason.as_deref(),
        ))
        .flatten();
    let command = errors
        .into_result()
        .map(|()| intercept::InterceptOrder { locale, reason });
    let outcome = intercept::intercept_order(&state, &caller, order_id, command).await?;
    Ok(intercepted(&outcome))
}

/// Filters and paging of the interception list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only interceptions with an item in this state.
    #[param(value_type = Option<crate::schema::mirror::LineState>)]
    state: Option<String>,
    /// Only this order's interceptions.
    #[param(value_type = Option<crate::schema::mirror::Id>)]
    order_id: Option<String>,
    /// Only those created at or after this RFC 3339 time.
    #[param(format = DateTime)]
    created_after: Option<String>,
    /// Only those created before this RFC 3339 time.
    #[param(format = DateTime)]
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
    let result = interceptions::list(&state, &caller, filter, page).await?;
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = InterceptionId::parse(&id).map_err(|_| ApiError::not_found("interception"))?;
    let (interception, history) = interceptions::get(&state, &caller, id).await?;
    Ok(json(
        StatusCode::OK,
        &interception_view(&interception, Some(&history), Vec::new()),
    ))
}

/// What to release; the body may be left out to release every active item.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    /// The items to release; all active ones when absent.
    #[schema(value_type = Option<Vec<crate::schema::mirror::Id>>, min_items = 1)]
    sub_order_ids: Option<Vec<String>>,
    /// Why (at most 200 characters), kept in each released item's history and in the audit
    /// trail; the buyer is not shown it.
    #[schema(
        max_length = 200,
        example = "The buyer asked in chat to receive it after all"
    )]
    reason: Option<String>,
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
    ),
    request_body = Option<ReleaseBody>,
    responses(
        (status = 200, description = "The interception after the release.", body = InterceptionView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::ReleaseRefused),
        (status = 422, response = crate::schema::ValidationFailedOrKeyReused),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: MaybeJson<ReleaseBody>,
) -> Result<Response, ApiError> {
    let id = InterceptionId::parse(&id).map_err(|_| ApiError::not_found("interception"))?;
    let body = body.value.unwrap_or_default();
    let mut errors = shiphold_domain::ValidationError::empty();
    let chosen = body
        .sub_order_ids
        .as_deref()
        .map(|ids| parse_sub_order_ids(ids, "sub_order_ids"))
        .transpose()
        .unwrap_or_else(|e| {
            errors.errors.extend(e.errors);
            None
        });
    let reason = errors
        .check(release::parse_reason(body.reason.as_deref()))
        .flatten();
    let command = errors
        .into_result()
        .map(|()| release::ReleaseCommand { chosen, reason });
    let released = release::release(&state, &caller, id, command).await?;
    let refused = released.refused.iter().map(ItemProblem::from).collect();
    Ok(json(
        StatusCode::OK,
        &interception_view(&released.interception, Some(&released.history), refused),
    ))
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
    #[schema(value_type = crate::schema::mirror::LineState)]
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
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn risk(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let items = interceptions::risk(&state, &caller)
        .await?
        .into_iter()
        .map(|r| RiskItem {
            interception_id: r.interception_id,
            order_id: r.order_id,
            sub_order_id: r.sub_order_id,
            state: r.state,
            intercepted_at: r.intercepted_at,
            age_hours: r.age_hours,
        })
        .collect();
    Ok(json(StatusCode::OK, &RiskList { items }))
}
