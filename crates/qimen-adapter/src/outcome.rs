//! What one attempt of a call came to, in the terms an outbox needs: done, refused by the
//! warehouse, worth another attempt, or never worth one until someone changes the
//! configuration. Kept free of any HTTP client so a caller with its own can use [`classify`]
//! (or [`classify_with`], to choose which failure codes are transient).

use crate::answer::{Answer, Flag};
use crate::gateway::GatewayError;
use crate::wire::Action;
use std::time::Duration;

/// The longest wait an [`Outcome::Retry`] asks for. A `Retry-After` header (or anything else
/// that names a wait) beyond it is cut to it: an hour is long enough for any throttling a
/// gateway documents, and a larger value (a misconfigured proxy's, a hostile one's) must not
/// park an interception in the outbox for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The `failure` codes [`RetryableCodes::default`] treats as transient, compared without
/// regard to ASCII case; an entry ending in `*` is a prefix.
///
/// Qimen does not publish the codes of a busy or timed-out warehouse: each WMS chooses its own
/// `code` and `message` (the API page only documents the fields, and `sign-check-failure` for
/// a refused signature). So this list is this crate's choice, of the spellings WMSs use for
/// "the system is busy / failed, try again" (`SYSTEM_ERROR` 系统错误, `SYSTEM_BUSY` 系统繁忙,
/// `SERVICE_BUSY`, `SERVICE_UNAVAILABLE`, `TIMEOUT`), and `isp.*`, the TOP family of
/// platform-side faults ("retry after a while"). Configure a merchant's WMS's own codes with
/// [`RetryableCodes::new`] or [`RetryableCodes::with`].
pub const DEFAULT_RETRYABLE_CODES: &[&str] = &[
    "SYSTEM_ERROR",
    "SYSTEM_BUSY",
    "SERVICE_BUSY",
    "SERVICE_UNAVAILABLE",
    "TIMEOUT",
    "isp.*",
];

/// Which `failure` codes mean "not now" rather than "no": an answer `failure` with one of them
/// is [`Outcome::Retry`], any other `failure` is [`Outcome::Refused`] (and
/// [`SIGN_CHECK_FAILURE`](crate::SIGN_CHECK_FAILURE) is always [`Outcome::Permanent`]).
///
/// Codes are compared trimmed and without regard to ASCII case; an entry ending in `*` matches
/// every code that starts with what comes before it.
///
/// ```
/// use shiphold_qimen_adapter::RetryableCodes;
/// let codes = RetryableCodes::default();
/// assert!(codes.matches("system_error") && codes.matches("isp.top-remote-connection-timeout"));
/// assert!(!codes.matches("order-shipped"));
/// let custom = RetryableCodes::none().with("E1001").with("BUSY-*");
/// assert!(custom.matches("busy-42") && !custom.matches("SYSTEM_ERROR"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryableCodes {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl RetryableCodes {
    /// No code is transient: every `failure` but a signature refusal is [`Outcome::Refused`].
    pub fn none() -> Self {
        Self {
            exact: Vec::new(),
            prefixes: Vec::new(),
        }
    }

    /// Exactly these codes (entries ending in `*` are prefixes).
    pub fn new<I, S>(codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        codes
            .into_iter()
            .fold(Self::none(), |set, code| set.with(code.as_ref()))
    }

    /// The same set and one more code (or prefix, ending in `*`). An empty entry is ignored.
    pub fn with(mut self, code: &str) -> Self {
        let code = code.trim().to_ascii_lowercase();
        match code.strip_suffix('*') {
            Some(prefix) if !prefix.is_empty() => self.prefixes.push(prefix.to_owned()),
            Some(_) => {}
            None if code.is_empty() => {}
            None => self.exact.push(code),
        }
        self
    }

    /// Whether `code` is one of them.
    pub fn matches(&self, code: &str) -> bool {
        let code = code.trim().to_ascii_lowercase();
        !code.is_empty()
            && (self.exact.contains(&code) || self.prefixes.iter().any(|p| code.starts_with(p)))
    }
}

impl Default for RetryableCodes {
    /// [`DEFAULT_RETRYABLE_CODES`].
    fn default() -> Self {
        Self::new(DEFAULT_RETRYABLE_CODES)
    }
}

/// How an attempt ended.
///
/// For Shiphold: [`Outcome::Held`] means the items are locked; [`Outcome::Refused`] on a
/// `pending` call means the lock failed (`lock_failed`, with the message as the reason, for
/// example "已出库 already shipped"); [`Outcome::Retry`] goes back to the outbox with back-off;
/// [`Outcome::Permanent`] goes to the dead letters, because no retry can succeed until the
/// connection's configuration is fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `pending` answered `success`: the document is held.
    Held,
    /// `restore` answered `success`: the document is released.
    Restored,
    /// The warehouse answered `failure` about this document: it will not do it (already
    /// shipped, unknown document…). Retrying the same call will not change its mind.
    Refused {
        /// The answer's `code` (empty when it gave none).
        code: String,
        /// The answer's `message` (empty when it gave none), meant for people.
        message: String,
    },
    /// No usable answer, or one that says "not now": timeout, connection failure, HTTP 5xx,
    /// 429 or 408, a body that is not a readable answer, a `failure` with a transient code
    /// ([`RetryableCodes`]), a gateway call limit or platform fault. The call may or may not
    /// have been applied; send it again (the same call is safe to repeat: holding a held
    /// document holds it).
    Retry {
        /// What went wrong, for the attempt log. Never holds the secret, and `sign=` /
        /// `session=` values of an echoed request are cut out.
        reason: String,
        /// How long the far end asked to wait (`Retry-After`), at most [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// The far end refuses the call itself, whatever the document: the signature (wrong
    /// secret, app key or `customerId`, or a clock far off), a gateway refusal of the
    /// configuration, a redirect (the endpoint moved), or another HTTP 4xx or 1xx.
    Permanent {
        /// What went wrong, for the attempt log.
        reason: String,
    },
}

impl Outcome {
    /// Whether the warehouse did what was asked.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Held | Self::Restored)
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// The wait a [`Outcome::Retry`] asks for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retry { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn retry(reason: String) -> Self {
        Self::Retry {
            reason,
            retry_after: None,
        }
    }
}

/// Classifies a parsed answer to `action`, with the [default](RetryableCodes::default)
/// transient codes; see [`classify_answer_with`].
///
/// ```
/// use shiphold_qimen_adapter::{Action, Answer, Outcome, classify_answer};
/// assert_eq!(classify_answer(Action::Pending, &Answer::success("ok")), Outcome::Held);
/// assert!(matches!(
///     classify_answer(Action::Pending, &Answer::failure("isv.sign-check-failure", "Illegal request")),
///     Outcome::Permanent { .. }
/// ));
/// assert!(classify_answer(Action::Pending, &Answer::failure("SYSTEM_ERROR", "系统繁忙")).is_retryable());
/// ```
pub fn classify_answer(action: Action, answer: &Answer) -> Outcome {
    classify_answer_with(action, answer, &RetryableCodes::default())
}

/// Classifies a parsed answer to `action`.
///
/// - `success`: [`Outcome::Held`] or [`Outcome::Restored`], by the action.
/// - `failure` with [`SIGN_CHECK_FAILURE`](crate::SIGN_CHECK_FAILURE): [`Outcome::Permanent`],
///   not [`Outcome::Refused`]. It says nothing about the document, only that the credentials
///   (or the clock) are wrong, so it would fail every order of the merchant the same way.
///   Reporting it as a refused lock would tell buyers and agents something false about their
///   order; retrying it would fail identically until someone fixes the configuration, so it
///   belongs with the dead letters, where it is visible.
/// - `failure` with a code of `retryable`: [`Outcome::Retry`]. A busy or timed-out warehouse
///   has not refused the document, and marking the lines `lock_failed` would let the parcel
///   ship.
/// - any other `failure`: [`Outcome::Refused`].
pub fn classify_answer_with(
    action: Action,
    answer: &Answer,
    retryable: &RetryableCodes,
) -> Outcome {
    let code = answer.code.as_deref().unwrap_or_default();
    let message = answer.message.as_deref().unwrap_or_default();
    match answer.flag {
        Flag::Success => match action {
            Action::Pending => Outcome::Held,
            Action::Restore => Outcome::Restored,
        },
        Flag::Failure if answer.is_sign_check_failure() => Outcome::Permanent {
            reason: format!(
                "the far end refused the signature ({code}: {message}); check app_key, secret, customerId and the clock"
            ),
        },
        Flag::Failure if retryable.matches(code) => Outcome::retry(format!(
            "the warehouse answered failure with the transient code {code}: {message}"
        )),
        Flag::Failure => Outcome::Refused {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    }
}

/// The outcome a gateway's `<error_response>` calls for ([`crate::gateway`]).
pub fn classify_gateway_error(error: &GatewayError) -> Outcome {
    let kind = error.kind();
    if kind.is_retryable() {
        Outcome::retry(format!(
            "the Qimen gateway answered {} ({})",
            error.describe(),
            kind.hint()
        ))
    } else {
        Outcome::Permanent {
            reason: format!(
                "the Qimen gateway refused the call: {}; {}",
                error.describe(),
                kind.hint()
            ),
        }
    }
}

/// Classifies an HTTP answer to `action` from its status code and body, with the
/// [default](RetryableCodes::default) transient codes; see [`classify_with`].
///
/// ```
/// use shiphold_qimen_adapter::{Action, Outcome, classify};
/// let body = b"<response><flag>failure</flag><code>SHIPPED</code><message>already shipped</message></response>";
/// assert_eq!(classify(Action::Pending, 200, body),
///     Outcome::Refused { code: "SHIPPED".into(), message: "already shipped".into() });
/// assert!(classify(Action::Pending, 503, b"").is_retryable());
/// assert!(matches!(classify(Action::Pending, 404, b"not here"), Outcome::Permanent { .. }));
/// let limited = b"<error_response><code>7</code><msg>App Call Limited</msg></error_response>";
/// assert!(classify(Action::Pending, 200, limited).is_retryable());
/// ```
pub fn classify(action: Action, status: u16, body: &[u8]) -> Outcome {
    classify_with(action, status, body, &RetryableCodes::default())
}

/// Classifies an HTTP answer to `action` from its status code and body.
///
/// - 2xx: the body is read as an [`Answer`] and classified by [`classify_answer_with`]; a
///   gateway's `<error_response>` by [`classify_gateway_error`]; a body that is neither is
///   [`Outcome::Retry`] (a proxy's error page, a truncated answer: the call may not have been
///   seen).
/// - 5xx, 429 Too Many Requests and 408 Request Timeout: [`Outcome::Retry`].
/// - 3xx: [`Outcome::Permanent`]. Redirects are not followed (a redirected call would have to
///   be signed again for somewhere nobody configured): the endpoint has moved, and the
///   connection's endpoint must be changed.
/// - any other status (4xx, 1xx): the gateway's `<error_response>` if the body is one,
///   else [`Outcome::Permanent`].
///
/// The `retry_after` of a [`Outcome::Retry`] is `None`: the status and body do not carry it;
/// the client fills it in from `Retry-After` ([`parse_retry_after`]).
pub fn classify_with(
    action: Action,
    status: u16,
    body: &[u8],
    retryable: &RetryableCodes,
) -> Outcome {
    if (200..300).contains(&status) {
        return match Answer::parse(body) {
            Ok(answer) => classify_answer_with(action, &answer, retryable),
            Err(e) => match GatewayError::parse(body) {
                Some(error) => classify_gateway_error(&error),
                None => Outcome::retry(format!(
                    "HTTP {status} with an unreadable answer ({e}): {}",
                    snippet(body)
                )),
            },
        };
    }
    if status >= 500 || status == 429 || status == 408 {
        return Outcome::retry(format!("HTTP {status}: {}", snippet(body)));
    }
    if (300..400).contains(&status) {
        return Outcome::Permanent {
            reason: format!(
                "HTTP {status}, a redirect (not followed): the endpoint has moved; configure the new endpoint for this connection: {}",
                snippet(body)
            ),
        };
    }
    match GatewayError::parse(body) {
        Some(error) => classify_gateway_error(&error),
        None => Outcome::Permanent {
            reason: format!("HTTP {status}: {}", snippet(body)),
        },
    }
}

/// The wait a `Retry-After` header asks for, in its delta-seconds form, at most
/// [`MAX_RETRY_AFTER`]. The HTTP-date form (and anything else) gives `None`: the outbox's own
/// back-off applies.
///
/// ```
/// use shiphold_qimen_adapter::{MAX_RETRY_AFTER, parse_retry_after};
/// use std::time::Duration;
/// assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
/// ```
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: a number too large for u64 is far beyond the cap anyway.
    let wait = digits
        .parse::<u64>()
        .map_or(MAX_RETRY_AFTER, Duration::from_secs);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The start of a body, for a log line: at most 200 characters, cut on a character boundary,
/// with the values of `sign=` and `session=` (of a request a proxy echoed back) cut out.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = redact(String::from_utf8_lossy(body).trim());
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `text` with the value after every `sign=` and `session=` (ASCII case ignored) replaced by
/// `…`, up to the next `&`, whitespace, quote or angle bracket.
fn redact(text: &str) -> String {
    const KEYS: [&str; 2] = ["sign=", "session="];
    // ASCII lower-casing keeps every byte where it is, so offsets into `lower` are offsets
    // into `text`, on character boundaries since the keys and the stops are ASCII.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some((found, key_len)) = KEYS
        .iter()
        .filter_map(|key| lower[at..].find(key).map(|p| (at + p, key.len())))
        .min()
    {
        let value = found + key_len;
        let end = text[value..]
            .find(|c: char| c == '&' || c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .map_or(text.len(), |p| value + p);
        out.push_str(&text[at..value]);
        if end > value {
            out.push('…');
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: &[u8] = b"<response><flag>success</flag><code>0</code></response>";
    const SIGN: &[u8] = b"<response><flag>failure</flag><code>sign-check-failure</code><message>Illegal request</message></response>";

    #[test]
    fn success_depends_on_the_action() {
        assert_eq!(classify(Action::Pending, 200, SUCCESS), Outcome::Held);
        assert_eq!(classify(Action::Restore, 200, SUCCESS), Outcome::Restored);
        assert_eq!(classify(Action::Restore, 204, SUCCESS), Outcome::Restored);
    }

    #[test]
    fn refusals_keep_what_the_warehouse_said() {
        let body =
            "<response><flag>failure</flag><message>已出库 already shipped</message></response>";
        assert_eq!(
            classify(Action::Pending, 200, body.as_bytes()),
            Outcome::Refused {
                code: String::new(),
                message: "已出库 already shipped".into()
            }
        );
    }

    #[test]
    fn a_refused_signature_is_permanent_in_any_status() {
        for status in [200, 400, 401, 403] {
            let outcome = classify(Action::Pending, status, SIGN);
            assert!(
                matches!(outcome, Outcome::Permanent { .. }),
                "{status}: {outcome:?}"
            );
        }
        // …except where the status itself says "try again".
        assert!(classify(Action::Pending, 502, SIGN).is_retryable());
    }

    #[test]
    fn statuses_are_sorted_into_retry_and_permanent() {
        for status in [500, 502, 503, 504, 429, 408] {
            assert!(
                classify(Action::Pending, status, b"").is_retryable(),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 413, 301, 302, 101] {
            assert!(
                matches!(
                    classify(Action::Pending, status, b""),
                    Outcome::Permanent { .. }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn unreadable_2xx_answers_are_retried() {
        for body in [
            &b""[..],
            b"<response><flag>succ",
            b"<html>gateway</html>",
            b"OK",
            b"<error_response><msg>no code</msg></error_response>",
        ] {
            let outcome = classify(Action::Pending, 200, body);
            assert!(
                matches!(&outcome, Outcome::Retry { reason, .. } if reason.contains("unreadable answer")),
                "{outcome:?}"
            );
        }
    }

    fn gateway(code: &str, sub_code: Option<&str>) -> Vec<u8> {
        let sub = sub_code
            .map(|s| format!("<sub_code>{s}</sub_code><sub_msg>detail</sub_msg>"))
            .unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\" ?><error_response><code>{code}</code><msg>m</msg>{sub}<request_id>r1</request_id></error_response>"
        )
        .into_bytes()
    }

    #[test]
    fn gateway_refusals_of_the_configuration_are_permanent() {
        for (code, sub) in [
            ("25", None),
            ("24", None),
            ("29", None),
            ("28", None),
            ("40", None),
            ("41", None),
            ("11", None),
            ("12", None),
            ("31", None),
            ("22", None),
            ("15", Some("isv.invalid-parameter")),
            ("41", Some("isv.missing-parameter:customerId")),
        ] {
            for status in [200, 400, 403] {
                let outcome = classify(Action::Pending, status, &gateway(code, sub));
                assert!(
                    matches!(&outcome, Outcome::Permanent { reason }
                        if reason.starts_with(&format!("the Qimen gateway refused the call: {code} m"))
                            && reason.contains("[request_id r1]")),
                    "{code} {sub:?} {status}: {outcome:?}"
                );
            }
        }
        let Outcome::Permanent { reason } = classify(Action::Pending, 200, &gateway("25", None))
        else {
            panic!("permanent")
        };
        assert!(reason.contains("app secret"), "{reason}");
    }

    #[test]
    fn gateway_call_limits_and_platform_faults_are_retried() {
        for (code, sub) in [
            ("7", Some("accesscontrol.limited-by-app-access-count")),
            ("4", None),
            ("8", None),
            ("10", None),
            ("15", Some("isp.top-remote-connection-timeout")),
            ("520", Some("isp.remote-service-error")),
            ("15", None),
        ] {
            for status in [200, 400] {
                let outcome = classify(Action::Restore, status, &gateway(code, sub));
                assert!(
                    matches!(&outcome, Outcome::Retry { reason, retry_after: None }
                        if reason.starts_with(&format!("the Qimen gateway answered {code} m"))),
                    "{code} {sub:?} {status}: {outcome:?}"
                );
            }
        }
    }

    #[test]
    fn transient_failure_codes_are_retried_and_others_refused() {
        let failure = |code: &str| {
            format!(
                "<response><flag>failure</flag><code>{code}</code><message>系统繁忙</message></response>"
            )
        };
        for code in [
            "SYSTEM_ERROR",
            "system_busy",
            " TIMEOUT ",
            "isp.wms-timeout",
        ] {
            let outcome = classify(Action::Pending, 200, failure(code).as_bytes());
            assert!(
                matches!(&outcome, Outcome::Retry { reason, .. } if reason.contains("transient code")),
                "{code}: {outcome:?}"
            );
        }
        assert_eq!(
            classify(Action::Pending, 200, failure("order-shipped").as_bytes()),
            Outcome::Refused {
                code: "order-shipped".into(),
                message: "系统繁忙".into()
            }
        );
        // A merchant's WMS with codes of its own.
        let custom = RetryableCodes::none().with("E-BUSY").with("TMP-*");
        for (code, retry) in [
            ("e-busy", true),
            ("TMP-7", true),
            ("SYSTEM_ERROR", false),
            ("TMP", false),
        ] {
            let outcome = classify_with(Action::Pending, 200, failure(code).as_bytes(), &custom);
            assert_eq!(outcome.is_retryable(), retry, "{code}: {outcome:?}");
            if !retry {
                assert!(matches!(outcome, Outcome::Refused { .. }), "{code}");
            }
        }
        // Nothing retryable: every failure is a refusal, and a refused signature stays permanent.
        let none = RetryableCodes::none();
        assert!(matches!(
            classify_with(
                Action::Pending,
                200,
                failure("SYSTEM_ERROR").as_bytes(),
                &none
            ),
            Outcome::Refused { .. }
        ));
        let everything = RetryableCodes::new(["*", "sign-*"]);
        assert!(matches!(
            classify_with(Action::Pending, 200, SIGN, &everything),
            Outcome::Permanent { .. }
        ));
        // An empty code matches nothing, even a catch-all prefix of nothing.
        assert!(!RetryableCodes::new(["", "*"]).matches(""));
    }

    #[test]
    fn redirects_are_permanent_and_say_the_endpoint_moved() {
        for status in [301, 302, 307, 308] {
            let outcome = classify(Action::Pending, status, &gateway("7", None));
            assert!(
                matches!(&outcome, Outcome::Permanent { reason }
                    if reason.starts_with(&format!("HTTP {status}, a redirect")) && reason.contains("endpoint has moved")),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("3601"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        for bad in [
            "",
            " ",
            "-1",
            "1.5",
            "soon",
            "Fri, 31 Dec 1999 23:59:59 GMT",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn echoed_signatures_and_sessions_are_cut_from_reasons() {
        let echoed = b"<html>bad request: POST /router/qimen/service?method=taobao.qimen.order.pending&SIGN=06B62AE8C3D52160ECC1AC7B7C7D9CC1&sign_method=md5&session=6100a3secret&customerId=c</html>";
        for status in [200, 400, 502] {
            let outcome = classify(Action::Pending, status, echoed);
            let shown = format!("{outcome:?}");
            assert!(
                !shown.contains("06B62AE8") && !shown.contains("6100a3secret"),
                "{shown}"
            );
            assert!(
                shown.contains("SIGN=…&sign_method=md5&session=…&customerId=c"),
                "{shown}"
            );
        }
        assert_eq!(redact("sign=&x=1 session=abc"), "sign=&x=1 session=…");
        assert_eq!(redact("拦截 sign=签名值"), "拦截 sign=…");
    }

    #[test]
    fn snippets_are_short_and_cut_on_characters() {
        let long = "拦".repeat(300);
        assert_eq!(snippet(long.as_bytes()).chars().count(), 201);
        assert_eq!(snippet(b"  short \n"), "short");
    }
}
