//! The synchronous answer to a call: `<response><flag>success|failure</flag><code/><message/>
//! </response>`, as the API page documents it (response fields `flag`, `code`, `message`;
//! "响应结果:success|failure").

use crate::xml::{self, DECLARATION, XmlError, is_xml_char, push_element};

/// The document element of an answer.
pub const ANSWER_ROOT: &str = "response";

/// The `code` a Qimen endpoint answers, with `flag` `failure`, when the signature does not
/// verify; the matching `message` is `Illegal request`. These are the values Qimen requires
/// of a verifying endpoint (Qimen cloud's "验签" rule: flag failure, sub_code
/// `sign-check-failure`, sub_message `Illegal request`, as reproduced in
/// <https://blog.csdn.net/lxw1844912514/article/details/124802533>).
pub const SIGN_CHECK_FAILURE: &str = "sign-check-failure";

/// The `message` that goes with [`SIGN_CHECK_FAILURE`].
pub const ILLEGAL_REQUEST: &str = "Illegal request";

/// Whether a failure `code` says the signature was refused. The comparison ignores ASCII case
/// and the `isv.` prefix the Taobao Open Platform puts on its sub-codes
/// (`isv.sign-check-failure`), so either spelling of the same refusal is recognised.
///
/// ```
/// use shiphold_qimen_adapter::is_sign_check_failure;
/// assert!(is_sign_check_failure("sign-check-failure"));
/// assert!(is_sign_check_failure(" isv.Sign-Check-Failure "));
/// assert!(!is_sign_check_failure("order-shipped"));
/// ```
pub fn is_sign_check_failure(code: &str) -> bool {
    let code = code.trim();
    let code = code
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("isv."))
        .map_or(code, |_| &code[4..]);
    code.eq_ignore_ascii_case(SIGN_CHECK_FAILURE)
}

/// The `flag` of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `success`: the warehouse did what was asked.
    Success,
    /// `failure`: it did not; `code` and `message` say why.
    Failure,
}

impl Flag {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// A parsed answer.
///
/// ```
/// use shiphold_qimen_adapter::{Answer, Flag};
/// let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response>\n  <flag>failure</flag>\n  \
///     <code>ORDER_SHIPPED</code>\n  <message>已出库 already shipped</message>\n</response>\n";
/// let answer = Answer::parse(body.as_bytes()).unwrap();
/// assert_eq!(answer.flag, Flag::Failure);
/// assert_eq!(answer.message.as_deref(), Some("已出库 already shipped"));
/// assert_eq!(Answer::parse(answer.to_xml().as_bytes()).unwrap(), answer);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `flag`.
    pub flag: Flag,
    /// `code` (响应码), when given and not empty.
    pub code: Option<String>,
    /// `message` (响应信息), when given and not empty.
    pub message: Option<String>,
}

/// Why a body is not a readable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseAnswerError {
    /// Not the XML document expected (wrong root, malformed, too large…).
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// No `flag`, or an empty one.
    #[error("the answer has no <flag>")]
    MissingFlag,
    /// A `flag` other than `success` or `failure`.
    #[error("unknown flag `{0}`")]
    UnknownFlag(String),
}

impl Answer {
    /// `flag` `success`, `code` `0` (the API page's example code) and a message.
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            flag: Flag::Success,
            code: Some("0".to_owned()),
            message: Some(message.into()),
        }
    }

    /// `flag` `failure` with a code and a message.
    pub fn failure(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            flag: Flag::Failure,
            code: Some(code.into()),
            message: Some(message.into()),
        }
    }

    /// The answer to a request whose signature does not verify: `sign-check-failure`,
    /// `Illegal request`, optionally followed by a detail for the caller's logs.
    ///
    /// ```
    /// let a = shiphold_qimen_adapter::Answer::sign_check_failure(None);
    /// assert_eq!(a.message.as_deref(), Some("Illegal request"));
    /// ```
    pub fn sign_check_failure(detail: Option<&str>) -> Self {
        let message = match detail {
            Some(detail) => format!("{ILLEGAL_REQUEST}: {detail}"),
            None => ILLEGAL_REQUEST.to_owned(),
        };
        Self::failure(SIGN_CHECK_FAILURE, message)
    }

    /// Whether `flag` is `success`.
    pub fn is_success(&self) -> bool {
        self.flag == Flag::Success
    }

    /// Whether this is a refusal of the signature (see [`is_sign_check_failure`]).
    pub fn is_sign_check_failure(&self) -> bool {
        self.flag == Flag::Failure && self.code.as_deref().is_some_and(is_sign_check_failure)
    }

    /// Reads an answer. An XML declaration, whitespace, comments and unknown elements are
    /// tolerated; `flag` is compared without regard to ASCII case. At most
    /// [`MAX_DOCUMENT_BYTES`](crate::MAX_DOCUMENT_BYTES) are accepted.
    pub fn parse(body: &[u8]) -> Result<Self, ParseAnswerError> {
        let mut doc = xml::read_flat(body, ANSWER_ROOT)?;
        let flag = doc
            .fields
            .remove("flag")
            .filter(|f| !f.is_empty())
            .ok_or(ParseAnswerError::MissingFlag)?;
        let flag = if flag.eq_ignore_ascii_case("success") {
            Flag::Success
        } else if flag.eq_ignore_ascii_case("failure") {
            Flag::Failure
        } else {
            return Err(ParseAnswerError::UnknownFlag(flag));
        };
        let mut take = |name: &str| doc.fields.remove(name).filter(|v| !v.is_empty());
        Ok(Self {
            flag,
            code: take("code"),
            message: take("message"),
        })
    }

    /// The answer as a body. Characters XML cannot carry are replaced by U+FFFD: an answer
    /// is information for people, and must always be writable.
    pub fn to_xml(&self) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect()
        };
        let mut out = String::with_capacity(128);
        out.push_str(DECLARATION);
        out.push_str("<response>");
        push_element(&mut out, "flag", self.flag.as_str());
        if let Some(code) = &self.code {
            push_element(&mut out, "code", &clean(code));
        }
        if let Some(message) = &self.message {
            push_element(&mut out, "message", &clean(message));
        }
        out.push_str("</response>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_whatever_the_decoration() {
        let bodies: [&[u8]; 4] = [
            b"<response><flag>success</flag><code>0</code><message>ok</message></response>",
            b"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<response>\r\n\t<flag> SUCCESS </flag>\r\n\t<code>0</code>\r\n\t<message>ok</message>\r\n</response>\r\n",
            b"<response><requestId>r-1</requestId><flag>success</flag><items><item>x</item></items><code>0</code><message><![CDATA[ok]]></message></response>",
            b"<!-- from the gateway --><response><flag>success</flag><code>&#48;</code><message>o&#x6b;</message></response>",
        ];
        for body in bodies {
            assert_eq!(
                Answer::parse(body),
                Ok(Answer::success("ok")),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn failures_keep_code_and_message_and_may_lack_both() {
        assert_eq!(
            Answer::parse(b"<response><flag>failure</flag></response>"),
            Ok(Answer {
                flag: Flag::Failure,
                code: None,
                message: None
            })
        );
        let a = Answer::parse(
            b"<response><flag>failure</flag><code>sign-check-failure</code><message>Illegal request</message></response>",
        )
        .unwrap();
        assert!(a.is_sign_check_failure());
        assert_eq!(a, Answer::sign_check_failure(None));
    }

    #[test]
    fn unreadable_answers_are_typed_errors() {
        assert_eq!(
            Answer::parse(b"<response><code>0</code></response>"),
            Err(ParseAnswerError::MissingFlag)
        );
        assert_eq!(
            Answer::parse(b"<response><flag>ok</flag></response>"),
            Err(ParseAnswerError::UnknownFlag("ok".into()))
        );
        assert!(matches!(
            Answer::parse(b"<error_response><code>25</code></error_response>"),
            Err(ParseAnswerError::Xml(XmlError::UnexpectedRoot { .. }))
        ));
        assert!(matches!(
            Answer::parse(b"<html><body>502 Bad Gateway</body></html>"),
            Err(ParseAnswerError::Xml(_))
        ));
        assert!(matches!(
            Answer::parse(b"{\"flag\":\"success\"}"),
            Err(ParseAnswerError::Xml(_))
        ));
        assert!(matches!(
            Answer::parse(b"<response><flag>success</flag><flag>failure</flag></response>"),
            Err(ParseAnswerError::Xml(XmlError::Duplicate(_)))
        ));
    }

    #[test]
    fn unwritable_characters_are_replaced_not_fatal() {
        let xml = Answer::failure("E\u{0}", "bad \u{1}byte").to_xml();
        let back = Answer::parse(xml.as_bytes()).unwrap();
        assert_eq!(back.code.as_deref(), Some("E\u{FFFD}"));
        assert_eq!(back.message.as_deref(), Some("bad \u{FFFD}byte"));
    }
}
