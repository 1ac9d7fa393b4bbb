//! Standard Webhooks v1 signatures: `whsec_` secrets, signing a request, and verifying one with
//! any of several secrets (so a shop's secret can be rotated without downtime).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Header carrying the message id (unique per message, equal across redeliveries).
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
/// Header carrying the signing time in unix seconds.
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying one or more space-separated `v1,<base64>` signatures.
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// How far a `webhook-timestamp` may be from the receiver's clock, either way, by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Longest `webhook-id` accepted; ids are opaque but must not be abused as a payload.
pub const MAX_WEBHOOK_ID_LEN: usize = 256;

type HmacSha256 = Hmac<Sha256>;

/// A shop's signing secret: at least [`Secret::MIN_BYTES`] random bytes, written as
/// `whsec_` + base64.
///
/// `Debug` never shows the key. Use [`Secret::to_whsec`] to show it once to the merchant.
///
/// ```
/// use shiphold_erp_adapter::Secret;
/// let secret = Secret::generate();
/// let text = secret.to_whsec();
/// assert!(text.starts_with("whsec_"));
/// assert_eq!(Secret::parse(&text).unwrap(), secret);
/// assert!(Secret::parse("whsec_c2hvcnQ=").is_err()); // too short
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

/// Why a text is not a valid secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The part after `whsec_` is not standard base64.
    #[error("secret is not valid base64 after the `whsec_` prefix")]
    NotBase64,
    /// The key is shorter than the minimum.
    #[error("secret key has {len} bytes; at least {min} are required")]
    TooShort {
        /// Bytes found.
        len: usize,
        /// Bytes required.
        min: usize,
    },
}

impl Secret {
    /// The prefix of a secret's text form.
    pub const PREFIX: &'static str = "whsec_";
    /// The fewest key bytes accepted (Standard Webhooks recommends 24 to 64).
    pub const MIN_BYTES: usize = 24;
    /// The number of bytes [`Secret::generate`] draws.
    pub const GENERATED_BYTES: usize = 32;

    /// A new random secret from the operating system's generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A new random secret from the given generator (tests pass a seeded one).
    ///
    /// ```
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let a = shiphold_erp_adapter::Secret::generate_with(&mut rng);
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// assert_eq!(a, shiphold_erp_adapter::Secret::generate_with(&mut rng));
    /// ```
    pub fn generate_with<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut key = vec![0u8; Self::GENERATED_BYTES];
        rng.fill_bytes(&mut key);
        Self { key }
    }

    /// Parses `whsec_<base64>`. The prefix may be left off, as the reference libraries allow.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(Self::PREFIX).unwrap_or(text);
        let key = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(key)
    }

    /// A secret from raw key bytes.
    ///
    /// ```
    /// assert!(shiphold_erp_adapter::Secret::from_bytes(vec![7; 24]).is_ok());
    /// assert!(shiphold_erp_adapter::Secret::from_bytes(vec![7; 23]).is_err());
    /// ```
    pub fn from_bytes(key: Vec<u8>) -> Result<Self, SecretError> {
        if key.len() < Self::MIN_BYTES {
            return Err(SecretError::TooShort {
                len: key.len(),
                min: Self::MIN_BYTES,
            });
        }
        Ok(Self { key })
    }

    /// The text form, `whsec_<base64>`: store it, or show it to the merchant once.
    pub fn to_whsec(&self) -> String {
        format!("{}{}", Self::PREFIX, BASE64.encode(&self.key))
    }

    /// The raw HMAC of `{id}.{timestamp}.{body}` under this key.
    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; the fallback is unreachable.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The signature `v1,<base64>` of a request.
    ///
    /// ```
    /// use shiphold_erp_adapter::Secret;
    /// // The Standard Webhooks specification's example.
    /// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    /// assert_eq!(
    ///     secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
    ///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    /// );
    /// ```
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body)))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

impl std::str::FromStr for Secret {
    type Err = SecretError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The three headers of a signed request.
///
/// ```
/// use shiphold_erp_adapter::{Secret, SignedHeaders};
/// let old = Secret::generate();
/// let new = Secret::generate();
/// // During a rotation, sign with both secrets: either one verifies.
/// let headers = SignedHeaders::sign(&[old, new], "msg_1", 1_700_000_000, b"{}");
/// assert_eq!(headers.signature.split(' ').count(), 2);
/// let mut map = http::HeaderMap::new();
/// headers.apply(&mut map);
/// assert_eq!(map["webhook-timestamp"], "1700000000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`: one `v1,<base64>` per secret, space-separated.
    pub signature: String,
}

impl SignedHeaders {
    /// Signs `body` with every secret given.
    pub fn sign(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> Self {
        let signature = secrets
            .iter()
            .map(|s| s.sign(id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            id: id.to_owned(),
            timestamp,
            signature,
        }
    }

    /// The headers as name/value pairs, for any HTTP client.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_WEBHOOK_ID, self.id.clone()),
            (HEADER_WEBHOOK_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_WEBHOOK_SIGNATURE, self.signature.clone()),
        ]
    }

    /// Sets the three headers on a header map. A value that is not a legal header value (an id
    /// with control characters) is left out, and the receiver will refuse the request.
    pub fn apply(&self, headers: &mut http::HeaderMap) {
        for (name, value) in self.pairs() {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

/// Why a signed request was refused. Every variant maps to HTTP 401, except that a receiver may
/// answer 400 for [`VerifyError::MissingHeader`] and [`VerifyError::InvalidHeader`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("invalid header `{header}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is older than the tolerance allows.
    #[error("timestamp {timestamp} is too old (now {now}, tolerance {tolerance_secs} s)")]
    TimestampTooOld {
        /// The request's `webhook-timestamp`.
        timestamp: i64,
        /// The receiver's clock, unix seconds.
        now: i64,
        /// The tolerance in seconds.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the tolerance allows.
    #[error("timestamp {timestamp} is in the future (now {now}, tolerance {tolerance_secs} s)")]
    TimestampInFuture {
        /// The request's `webhook-timestamp`.
        timestamp: i64,
        /// The receiver's clock, unix seconds.
        now: i64,
        /// The tolerance in seconds.
        tolerance_secs: u64,
    },
    /// No `v1` signature in the header matches any of the secrets.
    #[error("no signature matches")]
    NoMatchingSignature,
    /// The receiver has no secret to verify with.
    #[error("no secret configured to verify with")]
    NoSecrets,
}

/// Checks a signature header against the given secrets and the timestamp against `now`.
///
/// Signatures of other versions than `v1` are skipped; the request is accepted when any `v1`
/// signature matches any secret. The comparison is constant-time.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_erp_adapter::{DEFAULT_TOLERANCE, Secret, VerifyError, verify_signature};
/// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let now = Utc.timestamp_opt(1614265330, 0).unwrap();
/// let sig = "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/// let body = br#"{"test": 2432232314}"#;
/// let ok = verify_signature(&[secret.clone()], "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, body, now, DEFAULT_TOLERANCE);
/// assert_eq!(ok, Ok(1614265330));
/// let late = now + chrono::Duration::minutes(10);
/// let err = verify_signature(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, body, late, DEFAULT_TOLERANCE);
/// assert!(matches!(err, Err(VerifyError::TimestampTooOld { .. })));
/// ```
pub fn verify_signature(
    secrets: &[Secret],
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<i64, VerifyError> {
    if id.is_empty() {
        return Err(VerifyError::InvalidHeader {
            header: HEADER_WEBHOOK_ID,
            reason: "empty",
        });
    }
    if id.len() > MAX_WEBHOOK_ID_LEN {
        return Err(VerifyError::InvalidHeader {
            header: HEADER_WEBHOOK_ID,
            reason: "longer than 256 bytes",
        });
    }
    let ts = parse_timestamp(timestamp)?;
    check_timestamp(ts, now, tolerance)?;
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }

    let expected: Vec<[u8; 32]> = secrets.iter().map(|s| s.mac(id, ts, body)).collect();
    // Every candidate is compared with every secret, so the time taken does not reveal which
    // (if any) of them came close.
    let mut matched = subtle::Choice::from(0u8);
    for candidate in signature_header.split(' ').filter(|s| !s.is_empty()) {
        let Some((version, encoded)) = candidate.split_once(',') else {
            continue;
        };
        if version != "v1" {
            continue;
        }
        let Ok(given) = BASE64.decode(encoded) else {
            continue;
        };
        for mac in &expected {
            matched |= mac.as_slice().ct_eq(given.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(ts)
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    let invalid = VerifyError::InvalidHeader {
        header: HEADER_WEBHOOK_TIMESTAMP,
        reason: "not a whole number of unix seconds",
    };
    // `i64::from_str` accepts a leading `+`; the specification's integer does not.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(invalid);
    }
    text.parse::<i64>().map_err(|_| invalid)
}

/// Refuses a timestamp more than `tolerance` away from `now`, in either direction.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
/// let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
/// assert!(shiphold_erp_adapter::check_timestamp(1_000_000 - 300, now, Duration::from_secs(300)).is_ok());
/// assert!(shiphold_erp_adapter::check_timestamp(1_000_000 + 301, now, Duration::from_secs(300)).is_err());
/// ```
pub fn check_timestamp(
    timestamp: i64,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let now_s = now.timestamp();
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let tolerance_secs = tolerance.as_secs();
    if timestamp < now_s.saturating_sub(tol) {
        return Err(VerifyError::TimestampTooOld {
            timestamp,
            now: now_s,
            tolerance_secs,
        });
    }
    if timestamp > now_s.saturating_add(tol) {
        return Err(VerifyError::TimestampInFuture {
            timestamp,
            now: now_s,
            tolerance_secs,
        });
    }
    Ok(())
}

/// A fresh, unguessable message id of the form `msg_<22 base64url characters>`, for senders
/// (an ERP's callbacks, or tests). Shiphold's own ids come from its outbox.
///
/// ```
/// let id = shiphold_erp_adapter::new_webhook_id();
/// assert!(id.starts_with("msg_") && id.len() == 26);
/// ```
pub fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "msg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn at(ts: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(ts, 0).single().expect("valid time")
    }

    fn spec_secret() -> Secret {
        Secret::parse(SPEC_SECRET).expect("spec secret parses")
    }

    #[test]
    fn signing_reproduces_the_specification_vector() {
        // A round trip through our own verifier would pass with the wrong delimiter or base64
        // alphabet too; only the published vector proves other libraries agree with us.
        assert_eq!(spec_secret().sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
    }

    #[test]
    fn the_specification_vector_verifies_and_a_tampered_body_does_not() {
        let s = [spec_secret()];
        let ok = verify_signature(
            &s,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            at(SPEC_TS),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(ok, Ok(SPEC_TS));
        let bad = verify_signature(
            &s,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            br#"{"test": 2432232315}"#,
            at(SPEC_TS),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(bad, Err(VerifyError::NoMatchingSignature));
        let other_id = verify_signature(
            &s,
            "msg_other",
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            at(SPEC_TS),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(other_id, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn the_secret_prefix_is_optional() {
        let bare = Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("bare key");
        assert_eq!(bare, spec_secret());
        assert_eq!(spec_secret().to_whsec(), SPEC_SECRET);
    }

    #[test]
    fn bad_secrets_are_refused_with_a_reason() {
        assert_eq!(Secret::parse("whsec_%%%"), Err(SecretError::NotBase64));
        assert_eq!(
            Secret::parse("whsec_AAAA"),
            Err(SecretError::TooShort { len: 3, min: 24 })
        );
    }

    #[test]
    fn any_signature_matching_any_secret_is_enough() {
        let old = Secret::generate();
        let new = Secret::generate();
        let signed = SignedHeaders::sign(std::slice::from_ref(&new), "msg_1", SPEC_TS, b"{}");
        let header = format!("v1,AAAA v2,whatever {}", signed.signature);
        let r = verify_signature(
            &[old.clone(), new],
            "msg_1",
            &SPEC_TS.to_string(),
            &header,
            b"{}",
            at(SPEC_TS),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(r, Ok(SPEC_TS));
        let r = verify_signature(
            &[old],
            "msg_1",
            &SPEC_TS.to_string(),
            &header,
            b"{}",
            at(SPEC_TS),
            DEFAULT_TOLERANCE,
        );
        assert_eq!(r, Err(VerifyError::NoMatchingSignature));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_at_the_tolerance() {
        let s = [spec_secret()];
        let verify_at = |now: i64, tol: u64| {
            verify_signature(
                &s,
                SPEC_ID,
                "1614265330",
                SPEC_SIG,
                SPEC_BODY,
                at(now),
                Duration::from_secs(tol),
            )
        };
        assert!(verify_at(SPEC_TS + 300, 300).is_ok());
        assert!(matches!(
            verify_at(SPEC_TS + 301, 300),
            Err(VerifyError::TimestampTooOld { .. })
        ));
        assert!(verify_at(SPEC_TS - 300, 300).is_ok());
        assert!(matches!(
            verify_at(SPEC_TS - 301, 300),
            Err(VerifyError::TimestampInFuture { .. })
        ));
        assert!(verify_at(SPEC_TS + 3000, 3600).is_ok());
    }

    #[test]
    fn malformed_headers_are_typed_errors_not_panics() {
        let s = [spec_secret()];
        for ts in ["", "abc", "+1614265330", "1.5", "99999999999999999999999"] {
            let r = verify_signature(
                &s,
                SPEC_ID,
                ts,
                SPEC_SIG,
                SPEC_BODY,
                at(SPEC_TS),
                DEFAULT_TOLERANCE,
            );
            assert!(
                matches!(
                    r,
                    Err(VerifyError::InvalidHeader {
                        header: HEADER_WEBHOOK_TIMESTAMP,
                        ..
                    })
                ),
                "{ts}: {r:?}"
            );
        }
        for sig in ["", "v1", "v1,", "v1,***", ",", "   "] {
            let r = verify_signature(
                &s,
                SPEC_ID,
                "1614265330",
                sig,
                SPEC_BODY,
                at(SPEC_TS),
                DEFAULT_TOLERANCE,
            );
            assert_eq!(r, Err(VerifyError::NoMatchingSignature), "{sig:?}");
        }
        assert_eq!(
            verify_signature(
                &[],
                SPEC_ID,
                "1614265330",
                SPEC_SIG,
                SPEC_BODY,
                at(SPEC_TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::NoSecrets)
        );
        let long_id = "x".repeat(300);
        assert!(matches!(
            verify_signature(
                &s,
                &long_id,
                "1614265330",
                SPEC_SIG,
                SPEC_BODY,
                at(SPEC_TS),
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::InvalidHeader {
                header: HEADER_WEBHOOK_ID,
                ..
            })
        ));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        assert!(check_timestamp(i64::MIN, at(SPEC_TS), Duration::from_secs(u64::MAX)).is_err());
        assert!(check_timestamp(i64::MIN, at(SPEC_TS), DEFAULT_TOLERANCE).is_err());
        assert!(check_timestamp(i64::MAX, at(SPEC_TS), DEFAULT_TOLERANCE).is_err());
    }

    #[test]
    fn generated_secrets_are_long_enough_and_differ() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a, b);
        assert!(Secret::parse(&a.to_whsec()).is_ok());
        assert_eq!(format!("{a:?}"), "Secret(whsec_…)");
    }
}
