//! The gateway's own refusals: a Qimen gateway is a Taobao Open Platform (TOP) gateway, and a
//! call that fails its checks (signature, app key, call limits, parameters) is answered not by
//! the warehouse's `<response>` but by TOP's error document, in XML since the call says
//! `format=xml`:
//!
//! ```xml
//! <error_response><code>25</code><msg>Invalid signature</msg>
//!   <sub_code>isv.invalid-signature</sub_code><sub_msg>…</sub_msg><request_id>…</request_id>
//! </error_response>
//! ```
//!
//! The codes are the TOP platform codes (API平台错误码). The platform's error-code page sorts
//! them as: codes below 100 other than 15, 40 and 41 are failed platform checks; a `sub_code`
//! starting with `isp.` is a fault on the platform's side, "retry after a while"; one starting
//! with `isv.` is the caller's error. [`GatewayErrorKind`] holds the table this crate applies;
//! it is written here, not shared with Shiphold's marketplace crate, so that this crate stands
//! alone.

use crate::xml;

/// The document element of a gateway error.
pub const GATEWAY_ERROR_ROOT: &str = "error_response";

/// A TOP `<error_response>`.
///
/// ```
/// use shiphold_qimen_adapter::{GatewayError, GatewayErrorKind};
/// let body = b"<?xml version=\"1.0\" encoding=\"utf-8\" ?><error_response><code>7</code>\
///     <msg>App Call Limited</msg><sub_code>accesscontrol.limited-by-app-access-count</sub_code>\
///     <sub_msg>This ban will last for 1 more seconds</sub_msg></error_response>";
/// let error = GatewayError::parse(body).unwrap();
/// assert_eq!(error.code, "7");
/// assert_eq!(error.kind(), GatewayErrorKind::CallLimited);
/// assert!(error.kind().is_retryable());
/// assert!(GatewayError::parse(b"<response><flag>success</flag></response>").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// `code`, as written (a number for every documented code).
    pub code: String,
    /// `msg`, when given.
    pub msg: Option<String>,
    /// `sub_code`, when given: `isp.*` (the platform's side), `isv.*` (the caller's), or another
    /// family.
    pub sub_code: Option<String>,
    /// `sub_msg`, when given.
    pub sub_msg: Option<String>,
    /// `request_id`, when given, for the platform's support.
    pub request_id: Option<String>,
}

/// What a gateway error means for the sender, from the TOP platform codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayErrorKind {
    /// Codes 4–8: a user, session, partner or app call limit, or the call frequency (7 "App
    /// Call Limited"). Retry later. Decided by the code even when a `sub_code` comes with it.
    CallLimited,
    /// Code 10: the service is currently unavailable. Retry later.
    ServiceUnavailable,
    /// A `sub_code` starting with `isp.`: a fault on the platform's side. Retry later.
    PlatformFault,
    /// Codes 11–13: the app, the user or the partner lacks the permission for this API.
    Permissions,
    /// Codes 24, 25: the signature is missing or wrong (wrong secret, or a signing bug).
    Signature,
    /// Codes 28, 29: the app key is missing or unknown.
    AppKey,
    /// Codes 30, 31: the timestamp is missing or refused (a clock far off).
    Timestamp,
    /// Codes 40, 41, 43 without a `sub_code` of a known family: a required parameter is missing
    /// or a parameter is invalid (a wrong `customerId`, for instance).
    Parameters,
    /// Other codes below 100 (but 15): the method, format, version, session… are refused.
    InvalidCall,
    /// A `sub_code` starting with `isv.`: the platform refuses what the caller sent.
    Caller,
    /// Code 15 or a code of 100 and above without a known `sub_code` family, or a code that is
    /// not a number: not documented as either side's fault. Retried: the outbox's retry budget
    /// bounds the cost of being wrong, and both calls of this crate are safe to repeat.
    Unclassified,
}

impl GatewayErrorKind {
    /// Whether another attempt may succeed. Every other kind needs someone to change the
    /// connection's configuration (credentials, permissions, clock, parameters) first.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::CallLimited | Self::ServiceUnavailable | Self::PlatformFault | Self::Unclassified
        )
    }

    /// What to look at, for a permanent kind; what happened, for a retryable one.
    pub fn hint(self) -> &'static str {
        match self {
            Self::CallLimited => "a call limit of the gateway",
            Self::ServiceUnavailable => "the gateway is unavailable",
            Self::PlatformFault => "a fault on the platform's side",
            Self::Permissions => "check that the app is allowed to call this API for this merchant",
            Self::Signature => "check the app secret (and the signing)",
            Self::AppKey => "check the app key",
            Self::Timestamp => "check the clock of the sending machine",
            Self::Parameters => "check the connection's parameters (customerId, method)",
            Self::InvalidCall => "check the connection's configuration",
            Self::Caller => "the gateway refused what was sent; check the configuration",
            Self::Unclassified => "not documented as either side's fault",
        }
    }
}

/// The kind of a gateway error from its `code` and `sub_code`.
///
/// | `code` / `sub_code` | kind | outbox |
/// |---|---|---|
/// | 4–8 (call limits, 7 App Call Limited) | [`GatewayErrorKind::CallLimited`] | retry |
/// | 10 (service unavailable) | [`GatewayErrorKind::ServiceUnavailable`] | retry |
/// | `sub_code` `isp.*` | [`GatewayErrorKind::PlatformFault`] | retry |
/// | `sub_code` `isv.*` | [`GatewayErrorKind::Caller`] | permanent |
/// | 11–13 (permissions) | [`GatewayErrorKind::Permissions`] | permanent |
/// | 24, 25 (signature) | [`GatewayErrorKind::Signature`] | permanent |
/// | 28, 29 (app key) | [`GatewayErrorKind::AppKey`] | permanent |
/// | 30, 31 (timestamp) | [`GatewayErrorKind::Timestamp`] | permanent |
/// | 40, 41, 43 (missing, invalid parameters) | [`GatewayErrorKind::Parameters`] | permanent |
/// | other codes below 100 but 15 | [`GatewayErrorKind::InvalidCall`] | permanent |
/// | 15, ≥ 100, not a number | [`GatewayErrorKind::Unclassified`] | retry |
///
/// ```
/// use shiphold_qimen_adapter::{GatewayErrorKind, gateway_error_kind};
/// assert_eq!(gateway_error_kind("25", None), GatewayErrorKind::Signature);
/// assert_eq!(gateway_error_kind("15", Some("isp.top-remote-connection-timeout")), GatewayErrorKind::PlatformFault);
/// assert!(!gateway_error_kind("15", Some("isv.invalid-parameter")).is_retryable());
/// ```
pub fn gateway_error_kind(code: &str, sub_code: Option<&str>) -> GatewayErrorKind {
    let code: Option<i64> = code.trim().parse().ok();
    match code {
        Some(4..=8) => return GatewayErrorKind::CallLimited,
        Some(10) => return GatewayErrorKind::ServiceUnavailable,
        _ => {}
    }
    if let Some(sub) = sub_code.map(str::trim) {
        let family = |prefix: &str| {
            sub.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        if family("isp.") {
            return GatewayErrorKind::PlatformFault;
        }
        if family("isv.") {
            return GatewayErrorKind::Caller;
        }
    }
    match code {
        Some(11..=13) => GatewayErrorKind::Permissions,
        Some(24 | 25) => GatewayErrorKind::Signature,
        Some(28 | 29) => GatewayErrorKind::AppKey,
        Some(30 | 31) => GatewayErrorKind::Timestamp,
        Some(40 | 41 | 43) => GatewayErrorKind::Parameters,
        Some(15) | None => GatewayErrorKind::Unclassified,
        Some(c) if c < 100 => GatewayErrorKind::InvalidCall,
        Some(_) => GatewayErrorKind::Unclassified,
    }
}

impl GatewayError {
    /// Reads an `<error_response>`; `None` when the body is not one, or has no `code`. The
    /// same tolerance as [`Answer::parse`](crate::Answer::parse): a declaration, whitespace,
    /// comments and unknown elements are fine.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let mut doc = xml::read_flat(body, GATEWAY_ERROR_ROOT).ok()?;
        let mut take = |name: &str| doc.fields.remove(name).filter(|v| !v.is_empty());
        Some(Self {
            code: take("code")?,
            msg: take("msg"),
            sub_code: take("sub_code"),
            sub_msg: take("sub_msg"),
            request_id: take("request_id"),
        })
    }

    /// What kind of error this is ([`gateway_error_kind`]).
    pub fn kind(&self) -> GatewayErrorKind {
        gateway_error_kind(&self.code, self.sub_code.as_deref())
    }

    /// A one-line description: code, message, sub-code and sub-message, request id.
    pub fn describe(&self) -> String {
        let mut text = self.code.clone();
        if let Some(msg) = &self.msg {
            text.push(' ');
            text.push_str(msg);
        }
        match (&self.sub_code, &self.sub_msg) {
            (Some(sub_code), Some(sub_msg)) => text.push_str(&format!(" ({sub_code}: {sub_msg})")),
            (Some(only), None) | (None, Some(only)) => text.push_str(&format!(" ({only})")),
            (None, None) => {}
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!(" [request_id {id}]"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_sorts_the_documented_codes() {
        use GatewayErrorKind::*;
        let cases: &[(&str, Option<&str>, GatewayErrorKind)] = &[
            (
                "7",
                Some("accesscontrol.limited-by-app-access-count"),
                CallLimited,
            ),
            ("4", None, CallLimited),
            ("8", None, CallLimited),
            ("10", None, ServiceUnavailable),
            (
                "15",
                Some("isp.top-remote-connection-timeout"),
                PlatformFault,
            ),
            ("520", Some("ISP.remote-service-error"), PlatformFault),
            ("15", Some("isv.invalid-parameter"), Caller),
            ("41", Some("isv.missing-parameter:customerId"), Caller),
            ("11", None, Permissions),
            ("13", None, Permissions),
            ("24", None, Signature),
            ("25", None, Signature),
            ("28", None, AppKey),
            ("29", None, AppKey),
            ("30", None, Timestamp),
            ("31", None, Timestamp),
            ("40", None, Parameters),
            ("41", None, Parameters),
            ("43", None, Parameters),
            ("22", None, InvalidCall),
            ("27", Some("invalid-sessionkey"), InvalidCall),
            ("15", None, Unclassified),
            ("700", None, Unclassified),
            ("SYSTEM_ERROR", None, Unclassified),
        ];
        for (code, sub, kind) in cases {
            assert_eq!(gateway_error_kind(code, *sub), *kind, "{code} {sub:?}");
        }
        for kind in [CallLimited, ServiceUnavailable, PlatformFault, Unclassified] {
            assert!(kind.is_retryable(), "{kind:?}");
        }
        for kind in [
            Permissions,
            Signature,
            AppKey,
            Timestamp,
            Parameters,
            InvalidCall,
            Caller,
        ] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
    }

    #[test]
    fn error_responses_are_read_and_described() {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<error_response>\n  <code>25</code>\n  \
            <msg>Invalid signature</msg>\n  <sub_code>isv.invalid-signature</sub_code>\n  \
            <sub_msg>签名无效</sub_msg>\n  <request_id>15rtv4bkzoe2x</request_id>\n</error_response>\n";
        let error = GatewayError::parse(body.as_bytes()).unwrap();
        assert_eq!(
            error,
            GatewayError {
                code: "25".into(),
                msg: Some("Invalid signature".into()),
                sub_code: Some("isv.invalid-signature".into()),
                sub_msg: Some("签名无效".into()),
                request_id: Some("15rtv4bkzoe2x".into()),
            }
        );
        assert_eq!(
            error.describe(),
            "25 Invalid signature (isv.invalid-signature: 签名无效) [request_id 15rtv4bkzoe2x]"
        );
        assert_eq!(error.kind(), GatewayErrorKind::Caller);
    }

    #[test]
    fn other_documents_are_not_gateway_errors() {
        for body in [
            &b"<error_response><msg>no code</msg></error_response>"[..],
            b"<response><flag>failure</flag><code>25</code></response>",
            b"{\"error_response\":{\"code\":25}}",
            b"<error_response><code>25</code>",
            b"",
        ] {
            assert_eq!(
                GatewayError::parse(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
