//! Event windows: when refunds are off, in which time zone, and when they reopen.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shiphold_domain::window::parse_time_zone;
use shiphold_domain::{EventWindow, EventWindowId, ValidationError, active_at};
use utoipa::ToSchema;

use super::{json, parse_time};
use crate::extract::{JsonBody, Path};
use crate::problem::ApiError;
use crate::service::{Caller, windows};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
}

/// An event window as written. Times are RFC 3339 with an offset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WindowBody {
    /// 1 to 100 characters, not blank.
    #[schema(
        example = "Double 11",
        min_length = 1,
        max_length = 100,
        pattern = "[^\\s\\u0085]"
    )]
    name: String,
    /// When refunds switch off (RFC 3339).
    #[schema(example = "2026-11-11T00:00:00+08:00", format = DateTime)]
    refunds_off_from: String,
    /// When the window ends; after `refunds_off_from`.
    #[schema(example = "2026-11-12T00:00:00+08:00", format = DateTime)]
    refunds_off_until: String,
    /// The IANA time zone the days are counted in.
    #[schema(example = "Asia/Shanghai", value_type = crate::schema::mirror::TimeZone)]
    time_zone: String,
    /// When buyers may file refunds again; not before `refunds_off_until`.
    #[schema(example = "2026-11-12T00:00:00+08:00", format = DateTime)]
    refunds_reopen_at: String,
}

/// An event window as read back.
#[derive(Debug, Serialize, ToSchema)]
struct WindowView {
    #[schema(value_type = String)]
    id: EventWindowId,
    name: String,
    refunds_off_from: DateTime<Utc>,
    refunds_off_until: DateTime<Utc>,
    time_zone: String,
    refunds_reopen_at: DateTime<Utc>,
    /// The first day refunds are off, in the window's time zone (`YYYY-MM-DD`).
    event_day: String,
    /// The day refunds reopen, in the window's time zone.
    reopen_day: String,
    /// Whether the window is active now.
    active: bool,
}

/// The shop's event windows and the one active now.
#[derive(Debug, Serialize, ToSchema)]
struct WindowList {
    items: Vec<WindowView>,
    #[schema(value_type = Option<String>)]
    active_window_id: Option<EventWindowId>,
}

fn view(w: &EventWindow, now: DateTime<Utc>) -> WindowView {
    WindowView {
        id: w.id.clone(),
        name: w.name.clone(),
        refunds_off_from: w.refunds_off_from,
        refunds_off_until: w.refunds_off_until,
        time_zone: w.time_zone.name().to_owned(),
        refunds_reopen_at: w.refunds_reopen_at,
        event_day: w.event_day().to_string(),
        reopen_day: w.reopen_day().to_string(),
        active: w.is_active(now),
    }
}

fn parse(id: EventWindowId, body: WindowBody) -> Result<EventWindow, ValidationError> {
    let mut errors = ValidationError::empty();
    let from = errors.check(parse_time("refunds_off_from", &body.refunds_off_from));
    let until = errors.check(parse_time("refunds_off_until", &body.refunds_off_until));
    let tz = errors.check(parse_time_zone(&body.time_zone));
    let reopen = errors.check(parse_time("refunds_reopen_at", &body.refunds_reopen_at));
    errors.clone().into_result()?;
    let (Some(from), Some(until), Some(tz), Some(reopen)) = (from, until, tz, reopen) else {
        return Err(errors);
    };
    let window = EventWindow {
        id,
        name: body.name.trim().to_owned(),
        refunds_off_from: from,
        refunds_off_until: until,
        time_zone: tz,
        refunds_reopen_at: reopen,
    };
    window.validate()?;
    Ok(window)
}

async fn save(
    state: &AppState,
    caller: &Caller,
    window: Result<EventWindow, ValidationError>,
    create: bool,
) -> Result<Response, ApiError> {
    let saved = windows::save(state, caller, window, create).await?;
    Ok(json(
        if create {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &view(&saved, state.now().business),
    ))
}

/// Creates an event window (admin).
#[utoipa::path(
    post,
    path = "/v1/event-windows",
    tag = "event-windows",
    operation_id = "create_event_window",
    security(("api_key" = [])),
    request_body = WindowBody,
    responses(
        (status = 201, description = "The window.", body = WindowView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 409, response = crate::schema::WindowOverlap),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<WindowBody>,
) -> Result<Response, ApiError> {
    let window = parse(EventWindowId::generate(), body.value);
    save(&state, &caller, window, true).await
}

/// Replaces an event window (admin).
#[utoipa::path(
    put,
    path = "/v1/event-windows/{window_id}",
    tag = "event-windows",
    operation_id = "update_event_window",
    security(("api_key" = [])),
    params(
        ("window_id" = String, Path, description = "The event window's id."),
    ),
    request_body = WindowBody,
    responses(
        (status = 200, description = "The window.", body = WindowView),
        (status = 400, response = crate::schema::MalformedRequest),
        (status = 413, response = crate::schema::PayloadTooLarge),
        (status = 415, response = crate::schema::UnsupportedMediaType),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 409, response = crate::schema::WindowOverlap),
        (status = 422, response = crate::schema::ValidationFailed),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<WindowBody>,
) -> Result<Response, ApiError> {
    let id = EventWindowId::parse(&id).map_err(|_| ApiError::not_found("event window"))?;
    let window = parse(id, body.value);
    save(&state, &caller, window, false).await
}

/// Lists the event windows and tells which is active now.
#[utoipa::path(
    get,
    path = "/v1/event-windows",
    tag = "event-windows",
    operation_id = "list_event_windows",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Every window of the shop.", body = WindowList),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let now = state.now().business;
    let windows = windows::list(&state, &caller).await?;
    let active = active_at(&windows, now).map(|w| w.id.clone());
    let items: Vec<WindowView> = windows.iter().map(|w| view(w, now)).collect();
    Ok(json(
        StatusCode::OK,
        &WindowList {
            items,
            active_window_id: active,
        },
    ))
}

/// Reads an event window.
#[utoipa::path(
    get,
    path = "/v1/event-windows/{window_id}",
    tag = "event-windows",
    operation_id = "get_event_window",
    security(("api_key" = [])),
    params(
        ("window_id" = String, Path, description = "The event window's id."),
    ),
    responses(
        (status = 200, description = "The window.", body = WindowView),
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
    let id = EventWindowId::parse(&id).map_err(|_| ApiError::not_found("event window"))?;
    let window = windows::get(&state, &caller, id).await?;
    Ok(json(StatusCode::OK, &view(&window, state.now().business)))
}

/// Deletes an event window (admin).
#[utoipa::path(
    delete,
    path = "/v1/event-windows/{window_id}",
    tag = "event-windows",
    operation_id = "delete_event_window",
    security(("api_key" = [])),
    params(
        ("window_id" = String, Path, description = "The event window's id."),
    ),
    responses(
        (status = 204, description = "The window is deleted."),
        (status = 401, response = crate::schema::Unauthenticated),
        (status = 403, response = crate::schema::Forbidden),
        (status = 404, response = crate::schema::NotFound),
        (status = 503, response = crate::schema::Unavailable),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = EventWindowId::parse(&id).map_err(|_| ApiError::not_found("event window"))?;
    windows::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
