//! The receiving side, for any HTTP framework: verify a signed request from its headers and raw
//! body, then parse the body into a typed message (an ERP receiving from Shiphold) or a results
//! callback (Shiphold receiving from an ERP).

use crate::signature::{
    DEFAULT_TOLERANCE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
    Secret, VerifyError, verify_signature,
};
use crate::wire::{DeliveryResponse, Message, MessageType, ResultsCallback};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Largest body the helpers accept; a real message is a few kilobytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What a successful verification established about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The `webhook-id`: deduplicate on it, redeliveries repeat it.
    pub webhook_id: String,
    /// The `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
}

impl VerifiedRequest {
    /// The timestamp as a date-time (`None` only for timestamps chrono cannot represent).
    pub fn signed_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.timestamp, 0)
    }
}

/// Verifies the Standard Webhooks headers of a request against `secrets` at time `now`, with
/// the default tolerance of five minutes.
///
/// ```
/// use shiphold_erp_adapter::{Secret, SignedHeaders, verify};
/// let secret = Secret::generate();
/// let now = chrono::Utc::now();
/// let body = br#"{"hello":"erp"}"#;
/// let mut headers = http::HeaderMap::new();
/// SignedHeaders::sign(&[secret.clone()], "msg_1", now.timestamp(), body).apply(&mut headers);
/// let verified = verify(&headers, body, &[secret], now).unwrap();
/// assert_eq!(verified.webhook_id, "msg_1");
/// ```
pub fn verify(
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[Secret],
    now: DateTime<Utc>,
) -> Result<VerifiedRequest, VerifyError> {
    verify_with_tolerance(headers, body, secrets, now, DEFAULT_TOLERANCE)
}

/// [`verify`] with the system clock.
pub fn verify_now(
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[Secret],
) -> Result<VerifiedRequest, VerifyError> {
    verify(headers, body, secrets, Utc::now())
}

/// [`verify`] with a chosen timestamp tolerance.
///
/// ```
/// use std::time::Duration;
/// use shiphold_erp_adapter::{Secret, SignedHeaders, VerifyError, verify_with_tolerance};
/// let secret = Secret::generate();
/// let now = chrono::Utc::now();
/// let mut headers = http::HeaderMap::new();
/// SignedHeaders::sign(&[secret.clone()], "msg_1", now.timestamp() - 90, b"{}").apply(&mut headers);
/// let r = verify_with_tolerance(&headers, b"{}", &[secret], now, Duration::from_secs(60));
/// assert!(matches!(r, Err(VerifyError::TimestampTooOld { .. })));
/// ```
pub fn verify_with_tolerance(
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[Secret],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<VerifiedRequest, VerifyError> {
    let id = header(headers, HEADER_WEBHOOK_ID)?;
    let timestamp = header(headers, HEADER_WEBHOOK_TIMESTAMP)?;
    let signature = header(headers, HEADER_WEBHOOK_SIGNATURE)?;
    let timestamp = verify_signature(secrets, id, timestamp, signature, body, now, tolerance)?;
    Ok(VerifiedRequest {
        webhook_id: id.to_owned(),
        timestamp,
    })
}

fn header<'h>(headers: &'h http::HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    value.to_str().map_err(|_| VerifyError::InvalidHeader {
        header: name,
        reason: "not visible ASCII",
    })
}

/// Why a verified body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("body of {0} bytes is larger than the limit")]
    TooLarge(usize),
    /// A message of a type this version does not know. Answer 2xx and ignore it, so that a
    /// newer Shiphold does not retry it forever.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// The body is not the JSON the protocol defines.
    #[error("invalid body: {0}")]
    Invalid(String),
}

/// Parses a message Shiphold sent (the ERP side).
///
/// ```
/// use shiphold_erp_adapter::{ParseError, parse_message};
/// let body = br#"{"type":"interception.released","version":"2026-11-01","id":"msg_1",
///   "occurred_at":"2026-11-11T08:00:00Z","future_field":true,
///   "data":{"shop_id":"s","order_id":"o","interception_id":"i","released_by":"agent","items":[]}}"#;
/// let message = parse_message(body).unwrap();
/// assert_eq!(message.event.interception_id(), "i");
/// let unknown = br#"{"type":"order.created","version":"2026-11-01","id":"m","occurred_at":"2026-11-11T08:00:00Z","data":{}}"#;
/// assert_eq!(parse_message(unknown), Err(ParseError::UnknownType("order.created".into())));
/// ```
pub fn parse_message(body: &[u8]) -> Result<Message, ParseError> {
    check_size(body)?;
    // Read the type first, so an unknown type is told apart from a malformed known one.
    #[derive(serde::Deserialize)]
    struct TypeOnly {
        #[serde(rename = "type")]
        message_type: String,
    }
    let head: TypeOnly =
        serde_json::from_slice(body).map_err(|e| ParseError::Invalid(e.to_string()))?;
    if MessageType::parse(&head.message_type).is_none() {
        return Err(ParseError::UnknownType(head.message_type));
    }
    serde_json::from_slice(body).map_err(|e| ParseError::Invalid(e.to_string()))
}

/// Parses a results callback an ERP sent (the Shiphold side).
///
/// ```
/// let body = br#"{"shop_id":"s","interception_id":"i","reported_at":"2026-11-11T08:00:05Z",
///   "results":[{"sub_order_id":"so-1","outcome":"failed","reason":"picked"}]}"#;
/// let cb = shiphold_erp_adapter::parse_callback(body).unwrap();
/// assert_eq!(cb.results[0].reason.as_deref(), Some("picked"));
/// ```
pub fn parse_callback(body: &[u8]) -> Result<ResultsCallback, ParseError> {
    check_size(body)?;
    let callback: ResultsCallback =
        serde_json::from_slice(body).map_err(|e| ParseError::Invalid(e.to_string()))?;
    if callback.results.is_empty() || callback.results.len() > MAX_CALLBACK_RESULTS {
        return Err(ParseError::Invalid(format!(
            "`results` must hold 1 to {MAX_CALLBACK_RESULTS} item results, not {}",
            callback.results.len()
        )));
    }
    Ok(callback)
}

/// The most item results one callback may carry (§6 of the protocol).
pub const MAX_CALLBACK_RESULTS: usize = 1_000;

/// Parses the body of an ERP's 2xx answer to a delivery. An empty (or all-whitespace) body is
/// the same as `{}`: no results yet.
///
/// ```
/// use shiphold_erp_adapter::parse_delivery_response;
/// assert!(parse_delivery_response(b"").unwrap().results.is_none());
/// assert!(parse_delivery_response(b"not json").is_err());
/// ```
pub fn parse_delivery_response(body: &[u8]) -> Result<DeliveryResponse, ParseError> {
    check_size(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeliveryResponse::default());
    }
    serde_json::from_slice(body).map_err(|e| ParseError::Invalid(e.to_string()))
}

fn check_size(body: &[u8]) -> Result<(), ParseError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ParseError::TooLarge(body.len()));
    }
    Ok(())
}

/// Why a request was refused by [`receive_message`] or [`receive_callback`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The signature or timestamp did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The body could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl ReceiveError {
    /// The HTTP status to answer with: 401 for signature and timestamp problems, 400 for a
    /// malformed body, 413 for one too large, and 200 for a message type this version does not
    /// know (acknowledge and ignore it, so it is not redelivered).
    ///
    /// ```
    /// use shiphold_erp_adapter::{ParseError, ReceiveError, VerifyError};
    /// assert_eq!(ReceiveError::Verify(VerifyError::NoMatchingSignature).status(), 401);
    /// assert_eq!(ReceiveError::Parse(ParseError::Invalid("x".into())).status(), 400);
    /// ```
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Verify(_) => http::StatusCode::UNAUTHORIZED,
            Self::Parse(ParseError::TooLarge(_)) => http::StatusCode::PAYLOAD_TOO_LARGE,
            Self::Parse(ParseError::UnknownType(_)) => http::StatusCode::OK,
            Self::Parse(ParseError::Invalid(_)) => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Verifies and parses a message from Shiphold in one step (the ERP side).
///
/// ```
/// use chrono::Utc;
/// use shiphold_erp_adapter::*;
/// let secret = Secret::generate();
/// let now = Utc::now();
/// let message = Message::new("msg_1", now, Event::InterceptionReleased(InterceptionReleased {
///     shop_id: "s".into(), order_id: "o".into(), interception_id: "i".into(),
///     released_by: Actor::Agent, items: vec![],
/// }));
/// let body = message.to_body();
/// let mut headers = http::HeaderMap::new();
/// SignedHeaders::sign(&[secret.clone()], &message.id, now.timestamp(), &body).apply(&mut headers);
/// let (verified, parsed) = receive_message(&headers, &body, &[secret], now).unwrap();
/// assert_eq!(verified.webhook_id, parsed.id);
/// ```
pub fn receive_message(
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[Secret],
    now: DateTime<Utc>,
) -> Result<(VerifiedRequest, Message), ReceiveError> {
    check_size(body)?;
    let verified = verify(headers, body, secrets, now)?;
    let message = parse_message(body)?;
    Ok((verified, message))
}

/// Verifies and parses a results callback in one step (the Shiphold side). It does not check
/// that the body's `shop_id` is the shop of the URL; the caller knows the URL.
pub fn receive_callback(
    headers: &http::HeaderMap,
    body: &[u8],
    secrets: &[Secret],
    now: DateTime<Utc>,
) -> Result<(VerifiedRequest, ResultsCallback), ReceiveError> {
    check_size(body)?;
    let verified = verify(headers, body, secrets, now)?;
    let callback = parse_callback(body)?;
    Ok((verified, callback))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SignedHeaders;

    fn signed(secret: &Secret, id: &str, ts: i64, body: &[u8]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        SignedHeaders::sign(std::slice::from_ref(secret), id, ts, body).apply(&mut headers);
        headers
    }

    #[test]
    fn missing_headers_are_named() {
        let secret = Secret::generate();
        let now = Utc::now();
        let mut headers = signed(&secret, "msg_1", now.timestamp(), b"{}");
        headers.remove(HEADER_WEBHOOK_SIGNATURE);
        assert_eq!(
            verify(&headers, b"{}", &[secret], now),
            Err(VerifyError::MissingHeader("webhook-signature"))
        );
    }

    #[test]
    fn a_callback_with_a_bad_signature_is_refused_before_parsing() {
        let secret = Secret::generate();
        let other = Secret::generate();
        let now = Utc::now();
        let headers = signed(&other, "msg_1", now.timestamp(), b"garbage");
        let err = receive_callback(&headers, b"garbage", &[secret], now).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let secret = Secret::generate();
        let now = Utc::now();
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let headers = signed(&secret, "msg_1", now.timestamp(), &body);
        let err = receive_message(&headers, &body, &[secret], now).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn malformed_known_messages_are_invalid_not_unknown() {
        let body = br#"{"type":"interception.requested","version":"2026-11-01","id":"m","occurred_at":"2026-11-11T08:00:00Z","data":{"shop_id":1}}"#;
        assert!(matches!(parse_message(body), Err(ParseError::Invalid(_))));
        assert!(matches!(
            parse_message(b"[1,2]"),
            Err(ParseError::Invalid(_))
        ));
        assert!(matches!(parse_callback(b"{}"), Err(ParseError::Invalid(_))));
    }
}
