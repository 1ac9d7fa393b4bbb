//! The one error type of the application layer: what went wrong in a use case, in the domain's
//! words. No HTTP in it; the edge (`problem.rs`) turns each variant into a problem document.

use shiphold_domain::{EventWindowId, Missing, Refusal, ReleaseRefusal, ValidationError};
use shiphold_erp_adapter::ReceiveError;
use shiphold_storage::StoreError;

use super::Role;

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such object in the caller's shop; another shop's objects answer exactly this.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The caller lacks the role the use case needs.
    #[error("this API key or account lacks the '{0}' role")]
    Forbidden(Role),
    /// Values that are invalid, each field named.
    #[error("{0}")]
    Invalid(ValidationError),
    /// Enabling needs these first.
    #[error("interception cannot be enabled until these are set: {}", missing_fields(.0))]
    SetupIncomplete(Vec<Missing>),
    /// The shop has not enabled interception.
    #[error("the shop has not enabled interception; an admin enables it in the settings")]
    InterceptionDisabled,
    /// No event window is active (and, in test mode, the buyer is not a test buyer).
    #[error("{}", if *.test_mode {
        "no event window is active and the buyer is not one of the shop's test buyers"
    } else {
        "cards and interceptions are accepted only while an event window is active"
    })]
    OutsideEventWindow {
        /// Whether the shop is in test mode.
        test_mode: bool,
    },
    /// None of the items asked for can be intercepted.
    #[error("none of the items can be intercepted; each item says why")]
    NothingToIntercept(Vec<Refusal>),
    /// None of the items asked for can be released.
    #[error("no item of the interception can be released")]
    NothingToRelease(Vec<ReleaseRefusal>),
    /// The order update is older than the stored order.
    #[error("the stored order has version {stored_version}; send a higher version to change it")]
    StaleUpdate {
        /// The stored order's version.
        stored_version: i64,
    },
    /// An event window overlaps another.
    #[error("the window overlaps event window {0}")]
    WindowOverlap(EventWindowId),
    /// The card's link has expired.
    #[error("the card's link has expired; ask customer service for a new one")]
    CardExpired,
    /// Customer service revoked the card.
    #[error("customer service has withdrawn this card")]
    CardRevoked,
    /// The ERP endpoint is not allowed by the endpoint policy.
    #[error("{0}")]
    EndpointNotAllowed(String),
    /// The change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The change conflicts with the current state, said to a person: in English and Chinese.
    #[error("{en}")]
    Refused {
        /// In English.
        en: String,
        /// In Chinese.
        zh: String,
    },
    /// An ERP callback whose signature or body was refused.
    #[error(transparent)]
    Callback(ReceiveError),
    /// An ERP callback that verified but does not fit its URL.
    #[error("{0}")]
    CallbackMismatch(&'static str),
    /// The login or the password is wrong (which of the two is not said).
    #[error("the login or the password is wrong")]
    SignInFailed,
    /// The account had too many failed sign-ins; none is tried for a while.
    #[error("too many failed sign-ins to this account; try again in {} seconds", .retry_after.as_secs().max(1))]
    SignInThrottled {
        /// How long until the next try is accepted.
        retry_after: std::time::Duration,
    },
    /// The invitation token is unknown, was used or replaced, or expired.
    #[error(
        "this invitation link is unknown, was already used or replaced, or has expired; ask an admin for a new one"
    )]
    InvitationInvalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The things a use case names when it finds none, in Chinese.
pub(crate) fn thing_zh(what: &str) -> &str {
    match what {
        "interception" => "拦截",
        "card" => "卡片",
        "order" => "订单",
        "shop" => "店铺",
        "staff account" => "员工账号",
        "dead letter" => "死信",
        "API key" => "API 密钥",
        "event window" => "活动窗口",
        other => other,
    }
}

impl ServiceError {
    /// What went wrong, in Chinese, where a person reads it; `None` where only the English
    /// text exists (what an ERP or an operator reads, and a store failure).
    pub fn detail_zh(&self) -> Option<String> {
        Some(match self {
            Self::NotFound(what) => format!("没有这个{}", thing_zh(what)),
            Self::Forbidden(role) => format!("此 API 密钥或账号没有“{role}”角色"),
            Self::Invalid(errors) => invalid_zh(errors),
            Self::SetupIncomplete(missing) => format!(
                "还不能启用拦截,请先完成:{}",
                missing
                    .iter()
                    .map(|m| m.message_zh())
                    .collect::<Vec<_>>()
                    .join(";")
            ),
            Self::InterceptionDisabled => "本店尚未启用拦截发货;请管理员在设置中启用".into(),
            Self::OutsideEventWindow { test_mode: true } => {
                "当前没有进行中的活动窗口,且该买家不是本店的测试买家".into()
            }
            Self::OutsideEventWindow { test_mode: false } => {
                "只有在活动窗口(退款关闭期间)内才能发送卡片和拦截".into()
            }
            Self::NothingToIntercept(_) => "没有可拦截的商品;每件商品的原因见下".into(),
            Self::NothingToRelease(_) => "这次拦截中没有可以撤销的商品".into(),
            Self::StaleUpdate { stored_version } => {
                format!("已保存的订单版本为 {stored_version};要修改请发送更高的版本")
            }
            Self::WindowOverlap(id) => format!("与活动窗口 {id} 时间重叠"),
            Self::CardExpired => "卡片链接已过期;请联系客服获取新链接".into(),
            Self::CardRevoked => "客服已撤回此卡片".into(),
            Self::SignInFailed => "登录名或密码错误".into(),
            Self::SignInThrottled { retry_after } => format!(
                "此账号登录失败次数过多;请 {} 秒后再试",
                retry_after.as_secs().max(1)
            ),
            Self::InvitationInvalid => {
                "此邀请链接未知、已使用、已被替换或已过期;请管理员重新邀请".into()
            }
            Self::Refused { zh, .. } => zh.clone(),
            Self::EndpointNotAllowed(_)
            | Self::Conflict(_)
            | Self::Callback(_)
            | Self::CallbackMismatch(_)
            | Self::Store(_) => return None,
        })
    }
}

/// The Chinese detail of invalid input: each field's Chinese message where it has one.
pub(crate) fn invalid_zh(errors: &ValidationError) -> String {
    let parts: Vec<String> = errors
        .errors
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e.field,
                e.message_zh.as_deref().unwrap_or(&e.message)
            )
        })
        .collect();
    format!("输入无效:{}", parts.join(";"))
}

fn missing_fields(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(|m| m.field())
        .collect::<Vec<_>>()
        .join(", ")
}

impl From<ValidationError> for ServiceError {
    fn from(errors: ValidationError) -> Self {
        Self::Invalid(errors)
    }
}

impl From<shiphold_domain::FieldError> for ServiceError {
    fn from(error: shiphold_domain::FieldError) -> Self {
        Self::Invalid(error.into())
    }
}

impl From<shiphold_domain::DecideError> for ServiceError {
    fn from(error: shiphold_domain::DecideError) -> Self {
        use shiphold_domain::DecideError;
        match error {
            DecideError::NotEnabled => Self::InterceptionDisabled,
            DecideError::OutsideEventWindow { test_mode } => Self::OutsideEventWindow { test_mode },
            // A card token names its buyer; a mismatch is a card that does not exist for them.
            DecideError::NotTheBuyer => Self::NotFound("card"),
            DecideError::Invalid(v) => Self::Invalid(v),
            DecideError::NothingToIntercept { refusals } => Self::NothingToIntercept(refusals),
        }
    }
}

impl From<shiphold_domain::CardError> for ServiceError {
    fn from(error: shiphold_domain::CardError) -> Self {
        match error {
            shiphold_domain::CardError::Expired => Self::CardExpired,
            shiphold_domain::CardError::Revoked => Self::CardRevoked,
        }
    }
}
