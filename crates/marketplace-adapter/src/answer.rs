//! The platform's answer to a call, and what an outbox should do about it.
//!
//! A JSON answer is one object with one key: `trade_memo_update_response` (the API name with
//! underscores and `_response`) holding `trade.tid` and `trade.modified` on success, or
//! `error_response` holding `code`, `msg`, and usually `sub_code`, `sub_msg` and `request_id`.
//! The platform answers errors with HTTP 200 too, so the body decides, not the status.
//!
//! # Retry or give up
//!
//! The platform's error-code page sorts errors into kinds, and says what to do about each:
//!
//! - *Platform errors* (API平台错误) are (1) the codes below 100 other than 15, 40 and 41: the
//!   call failed the gateway's basic checks (permissions, call frequency, signature, session,
//!   parameters), "check the app's permissions and frequency, then the parameters"; and
//!   (2) any error whose `sub_code` starts with `isp.`: "generally caused by a server-side
//!   exception; retry after a while".
//! - *Business errors* (API业务错误) are codes 15, 40, 41 with a `sub_code` starting with
//!   `isv.`: the business parameters were wrong (an unknown order, an invalid value).
//!
//! So [`error_kind`] decides, and [`ErrorKind::is_retryable`] maps:
//!
//! | answer | kind | outbox |
//! |---|---|---|
//! | code 4, 5, 6, 7, 8 (user, session, partner, app call limits and frequency) | [`ErrorKind::CallLimited`] | retry |
//! | code 10 (service currently unavailable) | [`ErrorKind::ServiceUnavailable`] | retry |
//! | `sub_code` `isp.*` | [`ErrorKind::PlatformFault`] | retry |
//! | code 24, 25 (missing, invalid signature) | [`ErrorKind::InvalidSignature`] | give up |
//! | code 26, 27 (missing, invalid session) | [`ErrorKind::InvalidSession`] | give up |
//! | code 11, 12, 13 (app, user, partner permissions) | [`ErrorKind::InsufficientPermissions`] | give up |
//! | other codes below 100 but 15, 40, 41 (bad method, format, app key, timestamp, version…) | [`ErrorKind::InvalidRequest`] | give up |
//! | `sub_code` `isv.*` (e.g. an unknown `tid`, an invalid parameter) | [`ErrorKind::Business`] | give up |
//! | code 40, 41 without an `isv.`/`isp.` `sub_code` | [`ErrorKind::InvalidRequest`] | give up |
//! | anything else (code 15 or ≥ 100 without a known `sub_code`) | [`ErrorKind::Unclassified`] | retry |
//!
//! Giving up on a call limit or a platform fault would lose a memo that a later call writes;
//! retrying a business error would only repeat it. Unclassified errors are retried because the
//! outbox's retry budget bounds the cost of being wrong, and `taobao.trade.memo.update`
//! overwrites (the memo and flag are set, not appended), so a repeated write is harmless. For
//! the same reason an answer that cannot be read is retried. The call-limit codes are decided by
//! their code even when a `sub_code` comes with them (code 7 comes with `accesscontrol.*`).
//!
//! At the HTTP level: 5xx, 429 and 408 are retried (honouring `Retry-After`), as are timeouts and
//! connection failures; a 3xx is given up (redirects are not followed: the gateway has moved,
//! which is configuration); other non-2xx statuses without an `error_response` body are given
//! up.
//!
//! A wait, from `Retry-After` or from a call-limit ban's text, is cut to [`MAX_RETRY_AFTER`]
//! (one hour). Reasons quote at most 200 characters of a body, with the values of `session=`
//! and `sign=` (of a request a proxy echoed back) cut out.

use crate::time::parse_platform_time;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// The longest wait an [`Outcome::Retry`] asks for. A `Retry-After` header or a ban's text
/// asking for more is cut to it: an hour covers every call limit the platform documents, and a
/// larger value (a misconfigured proxy's, a garbled text's) must not park a memo write for
/// days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The wait a `Retry-After` header asks for, in its delta-seconds form, at most
/// [`MAX_RETRY_AFTER`]; the HTTP-date form and anything else give `None`.
///
/// ```
/// use shiphold_marketplace_adapter::{MAX_RETRY_AFTER, parse_retry_after};
/// use std::time::Duration;
/// assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("604800"), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("tomorrow"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    seconds_capped(value.trim())
}

/// `digits` (ASCII digits only, at least one) as seconds, at most [`MAX_RETRY_AFTER`]; a
/// number too large for `u64` is far beyond the cap anyway.
fn seconds_capped(digits: &str) -> Option<Duration> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wait = digits
        .parse::<u64>()
        .map_or(MAX_RETRY_AFTER, Duration::from_secs);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The root key of a successful answer of `taobao.trade.memo.update`.
pub const RESPONSE_KEY: &str = "trade_memo_update_response";
/// The root key of an error answer.
pub const ERROR_KEY: &str = "error_response";

/// An `error_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopError {
    /// `code`: the top-level error code.
    pub code: i64,
    /// `msg`.
    pub msg: String,
    /// `sub_code`: `isp.*` (platform side), `isv.*` (caller side), or another family.
    pub sub_code: Option<String>,
    /// `sub_msg`.
    pub sub_msg: Option<String>,
    /// `request_id`, for the platform's support.
    pub request_id: Option<String>,
}

impl TopError {
    /// What kind of error this is ([`error_kind`]).
    pub fn kind(&self) -> ErrorKind {
        error_kind(self.code, self.sub_code.as_deref())
    }

    /// A one-line description: code, message, sub-code and sub-message, request id.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.code, self.msg);
        if let Some(sub_code) = &self.sub_code {
            text.push_str(&format!(" ({sub_code}"));
            if let Some(sub_msg) = &self.sub_msg {
                text.push_str(&format!(": {sub_msg}"));
            }
            text.push(')');
        } else if let Some(sub_msg) = &self.sub_msg {
            text.push_str(&format!(" ({sub_msg})"));
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!(" [request_id {id}]"));
        }
        text
    }
}

/// The kinds of error the platform documents, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Codes 4–8: a call limit or frequency limit was hit. Retry later.
    CallLimited,
    /// Code 10: the service is unavailable. Retry later.
    ServiceUnavailable,
    /// `sub_code` `isp.*`: a fault on the platform's side. Retry later.
    PlatformFault,
    /// Codes 24, 25: the signature is missing or wrong (wrong secret, or a signing bug).
    InvalidSignature,
    /// Codes 26, 27: the seller's session key is missing, expired or revoked; the seller must
    /// authorise the application again.
    InvalidSession,
    /// Codes 11–13: the application, seller or partner may not call this API.
    InsufficientPermissions,
    /// Other platform codes below 100 (and 40, 41 without a sub-code): the call is malformed.
    InvalidRequest,
    /// `sub_code` `isv.*`: the business parameters were refused (an unknown order…).
    Business,
    /// Not documented as either side's fault.
    Unclassified,
}

impl ErrorKind {
    /// Whether calling again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::CallLimited
                | ErrorKind::ServiceUnavailable
                | ErrorKind::PlatformFault
                | ErrorKind::Unclassified
        )
    }
}

/// The kind of an error from its `code` and `sub_code` (see the module's table).
///
/// ```
/// use shiphold_marketplace_adapter::{error_kind, ErrorKind};
/// assert_eq!(error_kind(7, Some("accesscontrol.limited-by-app-access-count")), ErrorKind::CallLimited);
/// assert_eq!(error_kind(15, Some("isp.top-remote-connection-timeout")), ErrorKind::PlatformFault);
/// assert_eq!(error_kind(15, Some("isv.invalid-parameter:tid")), ErrorKind::Business);
/// assert_eq!(error_kind(25, None), ErrorKind::InvalidSignature);
/// assert!(!error_kind(27, Some("invalid-sessionkey")).is_retryable());
/// ```
pub fn error_kind(code: i64, sub_code: Option<&str>) -> ErrorKind {
    match code {
        4..=8 => return ErrorKind::CallLimited,
        10 => return ErrorKind::ServiceUnavailable,
        _ => {}
    }
    // isp/isv decide wherever they appear: the platform defines them by the sub-code alone.
    if let Some(sub) = sub_code {
        if sub.starts_with("isp.") {
            return ErrorKind::PlatformFault;
        }
        if sub.starts_with("isv.") {
            return ErrorKind::Business;
        }
    }
    match code {
        24 | 25 => ErrorKind::InvalidSignature,
        26 | 27 => ErrorKind::InvalidSession,
        11..=13 => ErrorKind::InsufficientPermissions,
        40 | 41 => ErrorKind::InvalidRequest,
        15 => ErrorKind::Unclassified,
        c if c < 100 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Unclassified,
    }
}

/// A successful answer: the memo and flag are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoWritten {
    /// `trade.tid`.
    pub tid: u64,
    /// `trade.modified`: when the order was last changed, if the answer said (and it parsed).
    pub modified: Option<DateTime<Utc>>,
    /// `request_id`.
    pub request_id: Option<String>,
}

/// A parsed answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `trade_memo_update_response`.
    Written(MemoWritten),
    /// `error_response`.
    Error(TopError),
}

/// Why an answer body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Not JSON (an XML answer, an HTML error page…).
    #[error("the answer is not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither a response nor an error.
    #[error("the answer has neither `trade_memo_update_response` nor `error_response`")]
    Unrecognised,
    /// A field is missing or has the wrong type.
    #[error("the answer's `{0}` is missing or malformed")]
    Field(&'static str),
}

/// Reads an answer body.
///
/// Numbers are accepted as JSON numbers or as strings of digits, since TOP's JSON renders some
/// fields either way.
///
/// ```
/// use shiphold_marketplace_adapter::{parse_answer, Answer};
/// let body = br#"{"trade_memo_update_response":{"trade":{"tid":2231958349,"modified":"2000-01-01 00:00:00"},"request_id":"r1"}}"#;
/// let Ok(Answer::Written(written)) = parse_answer(body) else { panic!() };
/// assert_eq!(written.tid, 2231958349);
///
/// let body = r#"{"error_response":{"code":50,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"非法参数"}}"#;
/// let Ok(Answer::Error(e)) = parse_answer(body.as_bytes()) else { panic!() };
/// assert_eq!(e.sub_code.as_deref(), Some("isv.invalid-parameter"));
/// ```
pub fn parse_answer(body: &[u8]) -> Result<Answer, AnswerError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| AnswerError::NotJson(e.to_string()))?;
    if let Some(error) = value.get(ERROR_KEY) {
        let code = error
            .get("code")
            .and_then(integer)
            .ok_or(AnswerError::Field("error_response.code"))?;
        return Ok(Answer::Error(TopError {
            code,
            msg: text(error.get("msg")).unwrap_or_default(),
            sub_code: text(error.get("sub_code")),
            sub_msg: text(error.get("sub_msg")),
            request_id: text(error.get("request_id")),
        }));
    }
    if let Some(response) = value.get(RESPONSE_KEY) {
        let trade = response
            .get("trade")
            .ok_or(AnswerError::Field("trade_memo_update_response.trade"))?;
        let tid = trade
            .get("tid")
            .and_then(integer)
            .and_then(|t| u64::try_from(t).ok())
            .ok_or(AnswerError::Field("trade.tid"))?;
        let modified = text(trade.get("modified")).and_then(|t| parse_platform_time(&t));
        return Ok(Answer::Written(MemoWritten {
            tid,
            modified,
            request_id: text(response.get("request_id")),
        }));
    }
    Err(AnswerError::Unrecognised)
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// How a call ended, for an outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The memo and flag are on the order.
    Written {
        /// The order.
        tid: u64,
        /// `trade.modified`, when given.
        modified: Option<DateTime<Utc>>,
        /// `request_id`, when given.
        request_id: Option<String>,
    },
    /// Try again later: a platform-side or transport failure.
    Retry {
        /// What went wrong, for the attempt log. Never holds the secret or the session key.
        reason: String,
        /// How long the platform asked to wait (`Retry-After`, or a call-limit ban's text), when
        /// it said; at most [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// Calling again will not help until something is changed (credentials, authorisation,
    /// the order, the parameters).
    Permanent {
        /// The platform's `code`; `None` when the refusal was an HTTP status without one.
        code: Option<i64>,
        /// The platform's `sub_code`, when given.
        sub_code: Option<String>,
        /// What was refused, in words, for the attempt log and the merchant.
        message: String,
    },
}

impl Outcome {
    /// Whether the memo is written.
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written { .. })
    }

    /// Whether the call should be made again later.
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry { .. })
    }

    /// Whether the call was refused for good.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Outcome::Permanent { .. })
    }

    fn retry(reason: impl Into<String>) -> Self {
        Outcome::Retry {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// The outcome an `error_response` calls for.
///
/// ```
/// use shiphold_marketplace_adapter::{classify_error, Outcome, TopError};
/// let e = TopError { code: 27, msg: "Invalid session".into(), sub_code: None, sub_msg: None, request_id: None };
/// assert!(matches!(classify_error(&e), Outcome::Permanent { code: Some(27), .. }));
/// ```
pub fn classify_error(error: &TopError) -> Outcome {
    if error.kind().is_retryable() {
        Outcome::Retry {
            reason: error.describe(),
            retry_after: ban_duration(error),
        }
    } else {
        Outcome::Permanent {
            code: Some(error.code),
            sub_code: error.sub_code.clone(),
            message: error.describe(),
        }
    }
}

/// A call-limit answer's wait, from a `sub_msg` such as "This ban will last for 27 more
/// seconds", at most [`MAX_RETRY_AFTER`]. The wording is not documented; when it differs, no
/// wait is given.
fn ban_duration(error: &TopError) -> Option<Duration> {
    if error.kind() != ErrorKind::CallLimited {
        return None;
    }
    let sub_msg = error.sub_msg.as_deref()?;
    let rest = &sub_msg[sub_msg.find("last for ")? + "last for ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    rest[digits.len()..]
        .trim_start()
        .starts_with("more second")
        .then(|| seconds_capped(&digits))
        .flatten()
}

/// The outcome of an HTTP answer: its status, its `Retry-After` (if any, already parsed; cut to
/// [`MAX_RETRY_AFTER`] here too) and its body. A `trade.tid` other than `expected_tid` is
/// retried: the answer is not for this call. A 3xx is permanent: redirects are not followed,
/// and a gateway that moved is a configuration to change.
///
/// ```
/// use shiphold_marketplace_adapter::{classify_http, Outcome};
/// let ok = br#"{"trade_memo_update_response":{"trade":{"tid":7,"modified":"2026-11-11 08:30:00"}}}"#;
/// assert!(classify_http(200, None, ok, 7).is_written());
/// assert!(classify_http(200, None, ok, 8).is_retry());
/// assert!(classify_http(503, None, b"", 7).is_retry());
/// assert!(classify_http(404, None, b"not here", 7).is_permanent());
/// ```
pub fn classify_http(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    expected_tid: u64,
) -> Outcome {
    let retry_after = retry_after.map(|wait| wait.min(MAX_RETRY_AFTER));
    if status >= 500 || status == 429 || status == 408 {
        return Outcome::Retry {
            reason: format!("HTTP {status}: {}", snippet(body)),
            retry_after,
        };
    }
    if (300..400).contains(&status) {
        return Outcome::Permanent {
            code: None,
            sub_code: None,
            message: format!(
                "HTTP {status}, a redirect (not followed): the gateway has moved; configure the new gateway URL: {}",
                snippet(body)
            ),
        };
    }
    let parsed = parse_answer(body);
    if (200..300).contains(&status) {
        return match parsed {
            Ok(Answer::Written(w)) if w.tid == expected_tid => Outcome::Written {
                tid: w.tid,
                modified: w.modified,
                request_id: w.request_id,
            },
            Ok(Answer::Written(w)) => Outcome::retry(format!(
                "the answer is for order {}, not {expected_tid}",
                w.tid
            )),
            Ok(Answer::Error(e)) => classify_error(&e),
            Err(e) => Outcome::retry(format!("HTTP {status}, unreadable answer: {e}")),
        };
    }
    match parsed {
        Ok(Answer::Error(e)) => classify_error(&e),
        _ => Outcome::Permanent {
            code: None,
            sub_code: None,
            message: format!("HTTP {status}: {}", snippet(body)),
        },
    }
}

/// The start of a body, for logs: at most 200 characters, cut on a character boundary, with
/// the values of `session=` and `sign=` cut out (a proxy's error page may echo the request).
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = redact(String::from_utf8_lossy(body).trim());
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `text` with the value after every `session=` and `sign=` (ASCII case ignored) replaced by
/// `…`, up to the next `&`, whitespace, quote or angle bracket.
fn redact(text: &str) -> String {
    const SECRET_KEYS: [&str; 2] = ["session=", "sign="];
    // Lower-casing ASCII moves no byte, so a position in `folded` is one in `text`, and a
    // character boundary there: the keys and the stop characters are ASCII.
    let folded = text.to_ascii_lowercase();
    let mut redacted = String::with_capacity(text.len());
    let mut done = 0;
    loop {
        let next = SECRET_KEYS
            .iter()
            .filter_map(|key| folded[done..].find(key).map(|at| done + at + key.len()))
            .min();
        let Some(value_start) = next else { break };
        let value_end = text[value_start..]
            .char_indices()
            .find(|(_, c)| *c == '&' || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .map_or(text.len(), |(at, _)| value_start + at);
        redacted.push_str(&text[done..value_start]);
        if value_end > value_start {
            redacted.push('…');
        }
        done = value_end;
    }
    redacted.push_str(&text[done..]);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn error(code: i64, sub_code: Option<&str>) -> TopError {
        TopError {
            code,
            msg: "m".into(),
            sub_code: sub_code.map(str::to_owned),
            sub_msg: None,
            request_id: None,
        }
    }

    #[test]
    fn the_documented_codes_map_as_the_table_says() {
        let cases: &[(i64, Option<&str>, ErrorKind)] = &[
            (
                7,
                Some("accesscontrol.limited-by-app-access-count"),
                ErrorKind::CallLimited,
            ),
            (4, None, ErrorKind::CallLimited),
            (8, None, ErrorKind::CallLimited),
            (10, None, ErrorKind::ServiceUnavailable),
            (
                15,
                Some("isp.top-remote-unknown-error"),
                ErrorKind::PlatformFault,
            ),
            (
                520,
                Some("isp.remote-service-timeout"),
                ErrorKind::PlatformFault,
            ),
            (15, Some("isv.invalid-parameter:tid"), ErrorKind::Business),
            (41, Some("isv.invalid-parameter"), ErrorKind::Business),
            (25, None, ErrorKind::InvalidSignature),
            (24, None, ErrorKind::InvalidSignature),
            (26, None, ErrorKind::InvalidSession),
            (27, Some("invalid-sessionkey"), ErrorKind::InvalidSession),
            (11, None, ErrorKind::InsufficientPermissions),
            (12, None, ErrorKind::InsufficientPermissions),
            (22, None, ErrorKind::InvalidRequest),
            (31, None, ErrorKind::InvalidRequest),
            (40, None, ErrorKind::InvalidRequest),
            (15, None, ErrorKind::Unclassified),
            (15, Some("other.family"), ErrorKind::Unclassified),
            (700, None, ErrorKind::Unclassified),
        ];
        for (code, sub, kind) in cases {
            assert_eq!(error_kind(*code, *sub), *kind, "{code} {sub:?}");
        }
    }

    #[test]
    fn retryable_kinds_retry_and_the_others_are_permanent() {
        assert!(classify_error(&error(7, None)).is_retry());
        assert!(classify_error(&error(15, Some("isp.x"))).is_retry());
        assert!(classify_error(&error(15, None)).is_retry());
        for (code, sub) in [
            (25, None),
            (26, None),
            (27, None),
            (11, None),
            (15, Some("isv.x")),
        ] {
            match classify_error(&error(code, sub)) {
                Outcome::Permanent {
                    code: c,
                    sub_code: s,
                    ..
                } => {
                    assert_eq!(c, Some(code));
                    assert_eq!(s.as_deref(), sub);
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_call_limit_ban_gives_its_wait() {
        let mut e = error(7, Some("accesscontrol.limited-by-app-access-count"));
        e.sub_msg = Some("This ban will last for 27 more seconds".into());
        assert_eq!(
            classify_error(&e),
            Outcome::Retry {
                reason: "7 m (accesscontrol.limited-by-app-access-count: This ban will last for 27 more seconds)".into(),
                retry_after: Some(Duration::from_secs(27)),
            }
        );
        // A ban longer than the cap is cut to it, however it is written.
        for long in ["7200", "99999999999999999999999"] {
            e.sub_msg = Some(format!("This ban will last for {long} more seconds"));
            assert!(
                matches!(classify_error(&e), Outcome::Retry { retry_after: Some(wait), .. } if wait == MAX_RETRY_AFTER),
                "{long}"
            );
        }
        e.sub_msg = Some("ban lasts a while".into());
        assert!(matches!(
            classify_error(&e),
            Outcome::Retry {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn retry_after_headers_are_seconds_and_capped() {
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("3601"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["", "-5", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn echoed_session_keys_and_signatures_are_cut_from_reasons() {
        let echoed = b"<html>400 Bad Request: method=taobao.trade.memo.update&Session=6100a3secretsession&sign_method=md5&sign=72CB4D809B375A54502C09360D879C64&tid=1</html>";
        // A 200 quotes no body; a 503 (retry) and a 400 (permanent) quote it, redacted.
        for status in [200, 400, 503] {
            let shown = format!("{:?}", classify_http(status, None, echoed, 1));
            assert!(
                !shown.contains("6100a3secretsession") && !shown.contains("72CB4D80"),
                "{shown}"
            );
            assert_eq!(
                shown.contains("Session=…&sign_method=md5&sign=…&tid=1"),
                status != 200,
                "{shown}"
            );
        }
        assert_eq!(redact("session="), "session=");
        assert_eq!(
            redact("备注 session=密钥 sign=x\"y"),
            "备注 session=… sign=…\"y"
        );
    }

    #[test]
    fn answers_parse_with_numbers_as_numbers_or_strings() {
        let body = br#"{"trade_memo_update_response":{"trade":{"tid":"4012345678901234567","modified":"2026-11-11 08:30:05"},"request_id":"abc"}}"#;
        let Ok(Answer::Written(w)) = parse_answer(body) else {
            panic!("written")
        };
        assert_eq!(w.tid, 4012345678901234567);
        assert_eq!(
            w.modified,
            Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 5).single()
        );
        assert_eq!(w.request_id.as_deref(), Some("abc"));

        let body = br#"{"error_response":{"code":"27","msg":"Invalid session","sub_code":"invalid-sessionkey","request_id":"r"}}"#;
        assert_eq!(
            parse_answer(body),
            Ok(Answer::Error(TopError {
                code: 27,
                msg: "Invalid session".into(),
                sub_code: Some("invalid-sessionkey".into()),
                sub_msg: None,
                request_id: Some("r".into()),
            }))
        );
    }

    #[test]
    fn unreadable_answers_are_typed_errors() {
        assert!(matches!(
            parse_answer(b"<error_response/>"),
            Err(AnswerError::NotJson(_))
        ));
        assert_eq!(parse_answer(br#"{"x":1}"#), Err(AnswerError::Unrecognised));
        assert_eq!(
            parse_answer(br#"{"error_response":{"msg":"no code"}}"#),
            Err(AnswerError::Field("error_response.code"))
        );
        assert_eq!(
            parse_answer(br#"{"trade_memo_update_response":{"trade":{"tid":-1}}}"#),
            Err(AnswerError::Field("trade.tid"))
        );
    }

    #[test]
    fn http_statuses_and_bodies_combine_as_documented() {
        let isv = br#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isv.trade-not-exist"}}"#;
        // The body decides a 200.
        assert!(matches!(
            classify_http(200, None, isv, 1),
            Outcome::Permanent { code: Some(15), .. }
        ));
        // An unreadable 200 is retried: the write may or may not have happened, and repeating
        // an overwrite is harmless.
        assert!(classify_http(200, None, b"<html>", 1).is_retry());
        // 5xx, 429, 408 retry whatever the body says, with the wait given.
        assert_eq!(
            classify_http(429, Some(Duration::from_secs(3)), b"", 1),
            Outcome::Retry {
                reason: "HTTP 429: ".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert!(classify_http(502, None, isv, 1).is_retry());
        // A wait beyond the cap is cut to it.
        assert_eq!(
            classify_http(503, Some(Duration::from_secs(86_400)), b"", 1),
            Outcome::Retry {
                reason: "HTTP 503: ".into(),
                retry_after: Some(MAX_RETRY_AFTER),
            }
        );
        // A redirect is the gateway moving: permanent, and said so, whatever the body.
        for status in [301, 302, 307, 308] {
            assert!(
                matches!(classify_http(status, None, isv, 1), Outcome::Permanent { code: None, message, .. }
                    if message.starts_with(&format!("HTTP {status}, a redirect")) && message.contains("gateway has moved")),
                "{status}"
            );
        }
        assert!(classify_http(408, None, b"", 1).is_retry());
        // Another status: its error body if it has one, else permanent.
        assert!(matches!(
            classify_http(403, None, isv, 1),
            Outcome::Permanent { code: Some(15), .. }
        ));
        assert_eq!(
            classify_http(404, None, b"no such path", 1),
            Outcome::Permanent {
                code: None,
                sub_code: None,
                message: "HTTP 404: no such path".into(),
            }
        );
    }
}
