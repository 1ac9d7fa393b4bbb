//! Every error that reaches a client is an RFC 9457 problem document with a stable `type`.
//!
//! Library crates report typed errors; this is the one place they become HTTP. Types are
//! relative URIs under `/problems/`, which the server also serves as a human-readable page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shiphold_domain::{FieldError, Refusal, ReleaseRefusal, ValidationError};
use shiphold_storage::StoreError;

use crate::service::ServiceError;

/// The content type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The kinds of problem, each with a stable `type` slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// 400: the body is not JSON, or not the expected shape.
    MalformedRequest,
    /// 422: the body parsed but values are invalid.
    ValidationFailed,
    /// 401: no valid API key, card token or signature.
    Unauthenticated,
    /// 401: a Standard Webhooks header is missing or unreadable.
    SignatureMissing,
    /// 401: no signature matches the shop's secret.
    SignatureMismatch,
    /// 401: the signed timestamp is more than 5 minutes from the server's clock.
    StaleTimestamp,
    /// 400: a callback's `shop_id` is not the shop in its URL.
    ShopMismatch,
    /// 403: the key's role may not do this.
    Forbidden,
    /// 404: no such object in the caller's shop.
    NotFound,
    /// 409: the stored order is newer than the update.
    StaleUpdate,
    /// 409: a conflicting change (optimistic locking, duplicates).
    Conflict,
    /// 409: the same idempotency key is still being processed.
    IdempotencyKeyInUse,
    /// 422: the same idempotency key was used with another body.
    IdempotencyKeyReused,
    /// 409: the first answer carried a secret shown once, so it is not replayed.
    ReplayWithheld,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 408: the body did not arrive (completely) within `server.body_read_timeout_seconds`.
    RequestTimeout,
    /// 429: too many requests from one address to an unauthenticated route; `Retry-After` says
    /// when to try again.
    TooManyRequests,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 409: enabling needs memo text and accepted terms.
    SetupIncomplete,
    /// 409: the feature is not enabled for the shop.
    InterceptionDisabled,
    /// 409: no event window is active (and the buyer is not a test buyer).
    OutsideEventWindow,
    /// 409: no requested item can be intercepted in its current state; each is listed.
    NothingToIntercept,
    /// 409: an event window overlaps another.
    WindowOverlap,
    /// 410: the card expired.
    CardExpired,
    /// 410: the card was revoked.
    CardRevoked,
    /// 409: an item's state does not allow the change.
    InvalidTransition,
    /// 422: the ERP endpoint is not allowed (http, private address).
    EndpointNotAllowed,
    /// 503: the database is unavailable.
    Unavailable,
    /// 500: a bug; details are in the server's log only.
    Internal,
    /// 405.
    MethodNotAllowed,
    /// The login or the password is wrong.
    SignInFailed,
    /// Too many failed sign-ins to this account; wait before trying again.
    SignInThrottled,
    /// The invitation link is unknown, used, replaced or expired.
    InvitationInvalid,
    /// A signed-in write without the session's CSRF token.
    CsrfRejected,
}

impl ProblemKind {
    /// The slug in the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed-request",
            Self::ValidationFailed => "validation-failed",
            Self::Unauthenticated => "unauthenticated",
            Self::SignatureMissing => "signature-missing",
            Self::SignatureMismatch => "signature-mismatch",
            Self::StaleTimestamp => "stale-timestamp",
            Self::ShopMismatch => "shop-mismatch",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::StaleUpdate => "stale-update",
            Self::Conflict => "conflict",
            Self::IdempotencyKeyInUse => "idempotency-key-in-use",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::ReplayWithheld => "replay-withheld",
            Self::PayloadTooLarge => "payload-too-large",
            Self::RequestTimeout => "request-timeout",
            Self::TooManyRequests => "too-many-requests",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::SetupIncomplete => "setup-incomplete",
            Self::InterceptionDisabled => "interception-disabled",
            Self::OutsideEventWindow => "outside-event-window",
            Self::NothingToIntercept => "nothing-to-intercept",
            Self::WindowOverlap => "window-overlap",
            Self::CardExpired => "card-expired",
            Self::CardRevoked => "card-revoked",
            Self::InvalidTransition => "invalid-transition",
            Self::EndpointNotAllowed => "endpoint-not-allowed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::SignInFailed => "sign-in-failed",
            Self::SignInThrottled => "sign-in-throttled",
            Self::InvitationInvalid => "invitation-invalid",
            Self::CsrfRejected => "csrf-rejected",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::ShopMismatch => StatusCode::BAD_REQUEST,
            Self::ValidationFailed | Self::IdempotencyKeyReused | Self::EndpointNotAllowed => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Unauthenticated
            | Self::SignatureMissing
            | Self::SignatureMismatch
            | Self::StaleTimestamp
            | Self::SignInFailed => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::StaleUpdate
            | Self::Conflict
            | Self::IdempotencyKeyInUse
            | Self::ReplayWithheld
            | Self::SetupIncomplete
            | Self::InterceptionDisabled
            | Self::OutsideEventWindow
            | Self::WindowOverlap
            | Self::NothingToIntercept
            | Self::InvalidTransition => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests | Self::SignInThrottled => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::CardExpired | Self::CardRevoked | Self::InvitationInvalid => StatusCode::GONE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// A short, fixed title.
    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedRequest => "The request could not be read",
            Self::ValidationFailed => "Some fields are invalid",
            Self::Unauthenticated => "Authentication is required",
            Self::SignatureMissing => "A signature header is missing",
            Self::SignatureMismatch => "No signature matches",
            Self::StaleTimestamp => "The signed timestamp is too far from the server's clock",
            Self::ShopMismatch => "The body's shop is not the shop in the URL",
            Self::Forbidden => "This key may not do that",
            Self::NotFound => "Not found",
            Self::StaleUpdate => "The update is older than the stored order",
            Self::Conflict => "The change conflicts with the current state",
            Self::IdempotencyKeyInUse => "A request with this idempotency key is still running",
            Self::IdempotencyKeyReused => "The idempotency key was used with a different request",
            Self::ReplayWithheld => "The first answer carried a secret and is not replayed",
            Self::PayloadTooLarge => "The request body is too large",
            Self::RequestTimeout => "The request body did not arrive in time",
            Self::TooManyRequests => "Too many requests",
            Self::UnsupportedMediaType => "The request body must be JSON",
            Self::SetupIncomplete => "Interception cannot be enabled yet",
            Self::InterceptionDisabled => "Interception is not enabled for this shop",
            Self::OutsideEventWindow => "No event window is active",
            Self::NothingToIntercept => "No item can be intercepted",
            Self::WindowOverlap => "The event window overlaps another",
            Self::CardExpired => "The card has expired",
            Self::CardRevoked => "The card was revoked",
            Self::InvalidTransition => "The item's state does not allow this",
            Self::EndpointNotAllowed => "The endpoint is not allowed",
            Self::Unavailable => "The service is temporarily unavailable",
            Self::Internal => "Internal error",
            Self::MethodNotAllowed => "Method not allowed",
            Self::SignInFailed => "The login or password is wrong",
            Self::SignInThrottled => "Too many failed sign-ins",
            Self::InvitationInvalid => "The invitation link cannot be used",
            Self::CsrfRejected => "The request did not come from the console",
        }
    }

    /// Every kind, for documentation and tests.
    pub const ALL: [ProblemKind; 34] = [
        Self::MalformedRequest,
        Self::ValidationFailed,
        Self::Unauthenticated,
        Self::SignatureMissing,
        Self::SignatureMismatch,
        Self::StaleTimestamp,
        Self::ShopMismatch,
        Self::Forbidden,
        Self::NotFound,
        Self::StaleUpdate,
        Self::Conflict,
        Self::IdempotencyKeyInUse,
        Self::IdempotencyKeyReused,
        Self::ReplayWithheld,
        Self::PayloadTooLarge,
        Self::RequestTimeout,
        Self::TooManyRequests,
        Self::UnsupportedMediaType,
        Self::SetupIncomplete,
        Self::InterceptionDisabled,
        Self::OutsideEventWindow,
        Self::NothingToIntercept,
        Self::WindowOverlap,
        Self::CardExpired,
        Self::CardRevoked,
        Self::InvalidTransition,
        Self::EndpointNotAllowed,
        Self::Unavailable,
        Self::Internal,
        Self::MethodNotAllowed,
        Self::SignInFailed,
        Self::SignInThrottled,
        Self::InvitationInvalid,
        Self::CsrfRejected,
    ];
}

/// An item-level reason, in problem documents about items.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ItemProblem {
    /// The sub-order.
    pub sub_order_id: String,
    /// Why (`shipped`, `refunded`, `already_intercepted`, …).
    pub reason: String,
    /// For people.
    pub message: String,
}

impl From<&Refusal> for ItemProblem {
    fn from(r: &Refusal) -> Self {
        Self {
            sub_order_id: r.sub_order_id.to_string(),
            reason: r.reason.as_str().into(),
            message: r.reason.message().into(),
        }
    }
}

impl From<&ReleaseRefusal> for ItemProblem {
    fn from(r: &ReleaseRefusal) -> Self {
        Self {
            sub_order_id: r.sub_order_id.to_string(),
            reason: r.reason.as_str().into(),
            message: r.reason.message(),
        }
    }
}

/// An error on its way to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {detail}")]
pub struct ApiError {
    /// What kind.
    pub kind: ProblemKind,
    /// What happened, for people.
    pub detail: String,
    /// The fields that failed, for validation errors.
    pub errors: Vec<FieldError>,
    /// Items and why, for item-level refusals.
    pub items: Vec<ItemProblem>,
    /// Seconds to wait before retrying, where that helps.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            items: Vec::new(),
            retry_after: None,
        }
    }

    /// 404 for `what`. Another shop's objects answer exactly this, as if they did not exist.
    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemKind::NotFound, format!("no such {what}"))
    }

    /// 422 listing the fields.
    pub fn validation(errors: ValidationError) -> Self {
        let detail = errors.to_string();
        Self {
            errors: errors.errors,
            ..Self::new(ProblemKind::ValidationFailed, detail)
        }
    }

    /// 422 for one field.
    pub fn field(error: FieldError) -> Self {
        Self::validation(error.into())
    }

    /// 500; the detail is logged, not shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            ProblemKind::Internal,
            "an internal error occurred; it has been logged",
        )
    }

    /// Adds the items.
    #[must_use]
    pub fn with_items(mut self, items: Vec<ItemProblem>) -> Self {
        self.items = items;
        self
    }

    /// The problem document.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": format!("/problems/{}", self.kind.slug()),
            "title": self.kind.title(),
            "status": self.kind.status().as_u16(),
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        if !self.items.is_empty() {
            body["items"] = serde_json::to_value(&self.items).unwrap_or_default();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::not_found("object"),
            StoreError::Conflict(detail) => Self::new(ProblemKind::Conflict, detail),
            StoreError::InvalidCursor(_) => Self::field(FieldError::new(
                "cursor",
                "invalid",
                "not a cursor of this list: pass the `next_cursor` of the previous page",
            )),
            StoreError::Unavailable { message, source } => {
                tracing::warn!(error = %message, source = ?source, "database unavailable");
                Self {
                    retry_after: Some(1),
                    ..Self::new(
                        ProblemKind::Unavailable,
                        "the database is unavailable; retry shortly",
                    )
                }
            }
            other => {
                // The driver's error rides along as the source; the log gets the whole chain.
                let source = std::error::Error::source(&other).map(ToString::to_string);
                Self::internal(match source {
                    Some(source) => format!("{other}: {source}"),
                    None => other.to_string(),
                })
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(errors: ValidationError) -> Self {
        Self::validation(errors)
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::field(error)
    }
}

/// The one place a use case's error becomes HTTP.
impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let detail = error.to_string();
        match error {
            ServiceError::NotFound(what) => Self::not_found(what),
            ServiceError::Forbidden(_) => Self::new(ProblemKind::Forbidden, detail),
            ServiceError::Invalid(errors) => Self::validation(errors),
            ServiceError::SetupIncomplete(missing) => {
                let mut problem = Self::new(ProblemKind::SetupIncomplete, detail);
                problem.errors = missing
                    .iter()
                    .map(|m| FieldError::new(m.field(), "required", m.message()))
                    .collect();
                problem
            }
            ServiceError::InterceptionDisabled => {
                Self::new(ProblemKind::InterceptionDisabled, detail)
            }
            ServiceError::OutsideEventWindow { .. } => {
                Self::new(ProblemKind::OutsideEventWindow, detail)
            }
            ServiceError::NothingToIntercept(refusals) => {
                Self::new(ProblemKind::NothingToIntercept, detail)
                    .with_items(refusals.iter().map(ItemProblem::from).collect())
            }
            ServiceError::NothingToRelease(refused) => {
                Self::new(ProblemKind::InvalidTransition, detail)
                    .with_items(refused.iter().map(ItemProblem::from).collect())
            }
            ServiceError::StaleUpdate { .. } => Self::new(ProblemKind::StaleUpdate, detail),
            ServiceError::WindowOverlap(_) => Self::new(ProblemKind::WindowOverlap, detail),
            ServiceError::CardExpired => Self::new(ProblemKind::CardExpired, detail),
            ServiceError::CardRevoked => Self::new(ProblemKind::CardRevoked, detail),
            ServiceError::EndpointNotAllowed(why) => {
                let mut problem = Self::new(ProblemKind::EndpointNotAllowed, detail);
                problem.errors = vec![FieldError::new("endpoint", "not_allowed", why)];
                problem
            }
            ServiceError::Conflict(_) => Self::new(ProblemKind::Conflict, detail),
            ServiceError::Callback(receive) => {
                use shiphold_erp_adapter::{ParseError, ReceiveError, VerifyError};
                let kind = match receive {
                    ReceiveError::Verify(
                        VerifyError::MissingHeader(_) | VerifyError::InvalidHeader { .. },
                    ) => ProblemKind::SignatureMissing,
                    ReceiveError::Verify(
                        VerifyError::TimestampTooOld { .. } | VerifyError::TimestampInFuture { .. },
                    ) => ProblemKind::StaleTimestamp,
                    ReceiveError::Verify(
                        VerifyError::NoMatchingSignature | VerifyError::NoSecrets,
                    ) => ProblemKind::SignatureMismatch,
                    ReceiveError::Parse(ParseError::TooLarge(_)) => ProblemKind::PayloadTooLarge,
                    ReceiveError::Parse(_) => ProblemKind::MalformedRequest,
                };
                Self::new(kind, detail)
            }
            ServiceError::CallbackMismatch(_) => Self::new(ProblemKind::ShopMismatch, detail),
            ServiceError::SignInFailed => Self::new(ProblemKind::SignInFailed, detail),
            ServiceError::SignInThrottled { retry_after } => Self {
                retry_after: Some(retry_after.as_secs().max(1)),
                ..Self::new(ProblemKind::SignInThrottled, detail)
            },
            ServiceError::InvitationInvalid => Self::new(ProblemKind::InvitationInvalid, detail),
            ServiceError::Store(store) => store.into(),
        }
    }
}
