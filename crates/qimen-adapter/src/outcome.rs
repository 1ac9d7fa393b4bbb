//! What one attempt of a call came to, in the terms an outbox needs: done, refused by the
//! warehouse, worth another attempt, or never worth one until someone changes the
//! configuration. Kept free of any HTTP client so a caller with its own can use [`classify`].

use crate::answer::{Answer, Flag};
use crate::wire::Action;

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
    /// No usable answer: timeout, connection failure, HTTP 5xx, 429 or 408, or a body that is
    /// not a readable answer. The call may or may not have been applied; send it again (the
    /// same call is safe to repeat: holding a held document holds it).
    Retry {
        /// What went wrong, for the attempt log.
        reason: String,
    },
    /// The far end refuses the call itself, whatever the document: the signature (wrong
    /// secret, app key or `customerId`, or a clock far off), or another HTTP 4xx, 3xx or 1xx.
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
}

/// Classifies a parsed answer to `action`.
///
/// A `failure` whose code is [`SIGN_CHECK_FAILURE`](crate::SIGN_CHECK_FAILURE) is
/// [`Outcome::Permanent`], not [`Outcome::Refused`]: it says nothing about the document, only
/// that the credentials (or the clock) are wrong, so it would fail every order of the merchant
/// the same way. Reporting it as a refused lock would tell buyers and agents something false
/// about their order; retrying it would fail identically until someone fixes the
/// configuration, so it belongs with the dead letters, where it is visible.
///
/// ```
/// use shiphold_qimen_adapter::{Action, Answer, Outcome, classify_answer};
/// assert_eq!(classify_answer(Action::Pending, &Answer::success("ok")), Outcome::Held);
/// assert!(matches!(
///     classify_answer(Action::Pending, &Answer::failure("isv.sign-check-failure", "Illegal request")),
///     Outcome::Permanent { .. }
/// ));
/// ```
pub fn classify_answer(action: Action, answer: &Answer) -> Outcome {
    match answer.flag {
        Flag::Success => match action {
            Action::Pending => Outcome::Held,
            Action::Restore => Outcome::Restored,
        },
        Flag::Failure if answer.is_sign_check_failure() => Outcome::Permanent {
            reason: format!(
                "the far end refused the signature ({}: {}); check app_key, secret, customerId and the clock",
                answer.code.as_deref().unwrap_or_default(),
                answer.message.as_deref().unwrap_or_default()
            ),
        },
        Flag::Failure => Outcome::Refused {
            code: answer.code.clone().unwrap_or_default(),
            message: answer.message.clone().unwrap_or_default(),
        },
    }
}

/// Classifies an HTTP answer to `action` from its status code and body.
///
/// - 2xx: the body is read as an [`Answer`] and classified by [`classify_answer`]; a body that
///   cannot be read is [`Outcome::Retry`] (a proxy's error page, a truncated answer: the call
///   may not have been seen).
/// - 5xx, 429 Too Many Requests and 408 Request Timeout: [`Outcome::Retry`].
/// - any other status (4xx, and 3xx since redirects are not followed): [`Outcome::Permanent`].
///
/// ```
/// use shiphold_qimen_adapter::{Action, Outcome, classify};
/// let body = b"<response><flag>failure</flag><code>SHIPPED</code><message>already shipped</message></response>";
/// assert_eq!(classify(Action::Pending, 200, body),
///     Outcome::Refused { code: "SHIPPED".into(), message: "already shipped".into() });
/// assert!(classify(Action::Pending, 503, b"").is_retryable());
/// assert!(matches!(classify(Action::Pending, 404, b"not here"), Outcome::Permanent { .. }));
/// ```
pub fn classify(action: Action, status: u16, body: &[u8]) -> Outcome {
    if (200..300).contains(&status) {
        return match Answer::parse(body) {
            Ok(answer) => classify_answer(action, &answer),
            Err(e) => Outcome::Retry {
                reason: format!(
                    "HTTP {status} with an unreadable answer ({e}): {}",
                    snippet(body)
                ),
            },
        };
    }
    let reason = format!("HTTP {status}: {}", snippet(body));
    if status >= 500 || status == 429 || status == 408 {
        Outcome::Retry { reason }
    } else {
        Outcome::Permanent { reason }
    }
}

/// The start of a body, for a log line: at most 200 characters, cut on a character boundary.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
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
            b"<error_response><code>7</code><msg>App Call Limited</msg></error_response>",
        ] {
            let outcome = classify(Action::Pending, 200, body);
            assert!(outcome.is_retryable(), "{outcome:?}");
        }
    }

    #[test]
    fn snippets_are_short_and_cut_on_characters() {
        let long = "拦".repeat(300);
        assert_eq!(snippet(long.as_bytes()).chars().count(), 201);
        assert_eq!(snippet(b"  short \n"), "short");
    }
}
