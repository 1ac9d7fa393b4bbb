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
            Self::NotFound | Self::InvitationInvalid => StatusCode::NOT_FOUND,
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
            Self::CardExpired | Self::CardRevoked => StatusCode::GONE,
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

    /// The title in Chinese: the same catalogue as [`ProblemKind::title`], for callers who ask
    /// for Chinese (`Accept-Language: zh…`).
    pub fn title_zh(self) -> &'static str {
        match self {
            Self::MalformedRequest => "无法读取请求",
            Self::ValidationFailed => "部分字段无效",
            Self::Unauthenticated => "需要登录或凭据",
            Self::SignatureMissing => "缺少签名头",
            Self::SignatureMismatch => "签名不匹配",
            Self::StaleTimestamp => "签名时间与服务器时间相差太大",
            Self::ShopMismatch => "请求体中的店铺与地址中的不一致",
            Self::Forbidden => "没有权限执行此操作",
            Self::NotFound => "未找到",
            Self::StaleUpdate => "更新比已保存的订单旧",
            Self::Conflict => "与当前状态冲突",
            Self::IdempotencyKeyInUse => "使用此幂等键的请求仍在处理中",
            Self::IdempotencyKeyReused => "此幂等键已用于另一个请求",
            Self::ReplayWithheld => "首次应答含有只显示一次的密钥,不再重放",
            Self::PayloadTooLarge => "请求体太大",
            Self::RequestTimeout => "请求体未按时到达",
            Self::TooManyRequests => "请求太多",
            Self::UnsupportedMediaType => "请求体必须是 JSON",
            Self::SetupIncomplete => "尚不能启用拦截",
            Self::InterceptionDisabled => "本店未启用拦截发货",
            Self::OutsideEventWindow => "当前没有进行中的活动窗口",
            Self::NothingToIntercept => "没有可拦截的商品",
            Self::WindowOverlap => "活动窗口与其他窗口重叠",
            Self::CardExpired => "卡片已过期",
            Self::CardRevoked => "卡片已被撤回",
            Self::InvalidTransition => "商品当前状态不允许此操作",
            Self::EndpointNotAllowed => "不允许使用此地址",
            Self::Unavailable => "服务暂时不可用",
            Self::Internal => "内部错误",
            Self::MethodNotAllowed => "不支持此方法",
            Self::SignInFailed => "登录名或密码错误",
            Self::SignInThrottled => "登录失败次数过多",
            Self::InvitationInvalid => "邀请链接无法使用",
            Self::CsrfRejected => "请求不是来自商家后台",
        }
    }

    /// The title in `language`.
    pub fn title_in(self, language: Language) -> &'static str {
        match language {
            Language::Chinese => self.title_zh(),
            Language::English => self.title(),
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

/// The language a person reads problem titles in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `zh…`.
    Chinese,
    /// `en…`, and the default.
    English,
}

impl Language {
    /// The caller's preferred language among the two, from an `Accept-Language` header (RFC
    /// 9110: the tag with the highest `q` that is Chinese or English wins; equal `q`s keep their
    /// order); English when it names neither.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let mut best: Option<(f32, Language)> = None;
        for part in header.unwrap_or_default().split(',') {
            let mut pieces = part.split(';');
            let tag = pieces
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let language = if tag == "zh" || tag.starts_with("zh-") {
                Language::Chinese
            } else if tag == "en" || tag.starts_with("en-") {
                Language::English
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, language));
            }
        }
        best.map_or(Language::English, |(_, l)| l)
    }

    /// Its tag, for `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Chinese => "zh-CN",
            Language::English => "en",
        }
    }
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
    /// For people who read Chinese.
    #[serde(skip)]
    pub message_zh: String,
}

impl From<&Refusal> for ItemProblem {
    fn from(r: &Refusal) -> Self {
        Self {
            sub_order_id: r.sub_order_id.to_string(),
            reason: r.reason.as_str().into(),
            message: r.reason.message().into(),
            message_zh: r.reason.message_zh().into(),
        }
    }
}

impl From<&ReleaseRefusal> for ItemProblem {
    fn from(r: &ReleaseRefusal) -> Self {
        Self {
            sub_order_id: r.sub_order_id.to_string(),
            reason: r.reason.as_str().into(),
            message: r.reason.message(),
            message_zh: r.reason.message_zh(),
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
    /// The detail in Chinese, where one was written.
    pub detail_zh: Option<String>,
}

/// The Chinese texts of a problem, riding with its response (not in its body) to the layer
/// that knows the caller's language.
#[derive(Debug, Clone)]
pub(crate) struct Chinese {
    /// The detail.
    pub detail: Option<String>,
    /// Each field error's message, in the body's order.
    pub messages: Vec<Option<String>>,
    /// Each item's message, in the body's order.
    pub items: Vec<String>,
}

/// A field error's message in Chinese when no sentence was written for it: by its code.
pub(crate) fn generic_zh(code: &str) -> &'static str {
    match code {
        "required" => "必填",
        "too_long" => "太长",
        "too_many" => "太多",
        "out_of_range" => "超出允许的范围",
        "duplicate" => "重复",
        "before_start" => "必须晚于开始时间",
        "before_end" => "不能早于结束时间",
        _ => "格式或取值无效",
    }
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
            detail_zh: None,
        }
    }

    /// 404 for `what`. Another shop's objects answer exactly this, as if they did not exist.
    pub fn not_found(what: &str) -> Self {
        Self {
            detail_zh: Some(format!("没有这个{}", crate::service::error::thing_zh(what))),
            ..Self::new(ProblemKind::NotFound, format!("no such {what}"))
        }
    }

    /// 422 listing the fields.
    pub fn validation(errors: ValidationError) -> Self {
        let detail = errors.to_string();
        let detail_zh = Some(crate::service::error::invalid_zh(&errors));
        Self {
            errors: errors.errors,
            detail_zh,
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
        response.extensions_mut().insert(Chinese {
            detail: self.detail_zh.clone(),
            messages: self.errors.iter().map(|e| e.message_zh.clone()).collect(),
            items: self.items.iter().map(|i| i.message_zh.clone()).collect(),
        });
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
            StoreError::InvalidCursor(_) => Self::field(
                FieldError::new(
                    "cursor",
                    "invalid",
                    "not a cursor of this list: pass the `next_cursor` of the previous page",
                )
                .zh("不是此列表的游标;请传入上一页的 next_cursor"),
            ),
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
        let detail_zh = error.detail_zh();
        let mut problem = match error {
            ServiceError::NotFound(what) => Self::not_found(what),
            ServiceError::Forbidden(_) => Self::new(ProblemKind::Forbidden, detail),
            ServiceError::Invalid(errors) => Self::validation(errors),
            ServiceError::SetupIncomplete(missing) => {
                let mut problem = Self::new(ProblemKind::SetupIncomplete, detail);
                problem.errors = missing
                    .iter()
                    .map(|m| FieldError::new(m.field(), "required", m.message()).zh(m.message_zh()))
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
            ServiceError::Conflict(_) | ServiceError::Refused { .. } => {
                Self::new(ProblemKind::Conflict, detail)
            }
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
        };
        if problem.detail_zh.is_none() {
            problem.detail_zh = detail_zh;
        }
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_preferred_of_chinese_and_english() {
        let of = |h: Option<&str>| Language::from_accept_language(h);
        assert_eq!(of(None), Language::English);
        assert_eq!(of(Some("")), Language::English);
        assert_eq!(of(Some("zh-CN,zh;q=0.9,en;q=0.8")), Language::Chinese);
        assert_eq!(of(Some("en-US,en;q=0.9,zh-CN;q=0.8")), Language::English);
        assert_eq!(of(Some("fr-FR, zh-TW;q=0.5, en;q=0.4")), Language::Chinese);
        assert_eq!(of(Some("en;q=0.2, zh;q=0.7")), Language::Chinese);
        assert_eq!(of(Some("zh;q=0, en")), Language::English);
        assert_eq!(of(Some("de, fr")), Language::English);
        assert_eq!(of(Some("ZH-hans")), Language::Chinese);
        assert_eq!(of(Some("zhx, english")), Language::English);
    }

    #[test]
    fn every_kind_has_a_title_in_both_languages() {
        let mut zh = std::collections::HashSet::new();
        for kind in ProblemKind::ALL {
            assert!(!kind.title().is_empty() && !kind.title_zh().is_empty());
            assert!(
                kind.title_zh()
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{kind:?}"
            );
            assert!(
                zh.insert(kind.title_zh()),
                "{kind:?}: the same Chinese title twice"
            );
        }
    }
}
