//! Checking a signed call, the receiving side (the simulator uses it; so can anyone who
//! receives TOP-style calls).
//!
//! This module puts the signed bytes together with its own code, not with
//! [`crate::sign::canonical_string`]: the two sides are meant to agree because both follow the
//! published rule, and a test that signs with one and verifies with the other then checks
//! something. The signature is compared in constant time, and `timestamp` must be within a
//! tolerance of the receiver's clock: the platform allows a client clock "最大时间误差为10分钟"
//! (at most ten minutes off), which is [`DEFAULT_TOLERANCE`].
//!
//! A parameter whose value is empty or whitespace only takes no part in the signature, as the
//! platform's SDK signs (its `StringUtils.isEmpty`, whitespace as Java's
//! `Character.isWhitespace` reads it). Such a parameter was not signed, so anyone on the path
//! could have added it: [`VerifiedCall::unsigned`] names them, and a receiver treats them as
//! absent (the simulator does).

use crate::credentials::AppSecret;
use crate::sign::SignMethod;
use crate::time::parse_platform_time;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How far `timestamp` may be from the receiver's clock, either way: the platform's ten minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(10 * 60);

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCall {
    /// `app_key`: whose secret verified the call.
    pub app_key: String,
    /// `method`: the API called.
    pub method: String,
    /// `sign_method`.
    pub sign_method: SignMethod,
    /// `timestamp`, as an instant.
    pub signed_at: DateTime<Utc>,
    /// The parameters, by name, whose value is empty or whitespace only, and so took no part
    /// in the signature. Treat them as absent.
    pub unsigned: Vec<String>,
}

/// Whether a value takes no part in the signature. Written apart from the signing side's
/// predicate: Rust's Unicode whitespace, less what Java's `Character.isWhitespace` does not
/// count (U+0085 and the no-break spaces U+00A0, U+2007, U+202F), plus what it counts and
/// Unicode does not (U+001C–U+001F).
pub(crate) fn is_unsigned_value(value: &[u8]) -> bool {
    std::str::from_utf8(value).is_ok_and(|text| {
        text.chars().all(|c| {
            let java_extra = ('\u{1c}'..='\u{1f}').contains(&c);
            let java_excluded = matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}');
            java_extra || (c.is_whitespace() && !java_excluded)
        })
    })
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A parameter the signature needs is absent or empty.
    #[error("missing parameter `{0}`")]
    Missing(&'static str),
    /// A parameter name appears more than once: which value was signed would be a guess.
    #[error("parameter `{0}` appears more than once")]
    Duplicate(String),
    /// `sign_method` names no method this crate knows.
    #[error("unsupported sign_method `{0}`")]
    UnsupportedSignMethod(String),
    /// `sign` is not hexadecimal.
    #[error("sign is not hexadecimal")]
    MalformedSignature,
    /// The signature does not match the parameters and the secret.
    #[error("the signature does not match")]
    SignatureMismatch,
    /// `timestamp` is not `yyyy-MM-dd HH:mm:ss`.
    #[error("timestamp `{0}` is not yyyy-MM-dd HH:mm:ss")]
    InvalidTimestamp(String),
    /// `timestamp` is further from the receiver's clock than the tolerance.
    #[error(
        "timestamp {timestamp} is {skew_secs} s from the receiver's clock {now}; at most {tolerance_secs} s are allowed"
    )]
    TimestampOutOfRange {
        /// The call's `timestamp`.
        timestamp: DateTime<Utc>,
        /// The receiver's clock.
        now: DateTime<Utc>,
        /// How far apart they are, in seconds (positive: the call is from the past).
        skew_secs: i64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
}

/// The name/value pairs of an `application/x-www-form-urlencoded` body (or a query string),
/// decoded, in order, duplicates kept (verification refuses them).
///
/// ```
/// let params = shiphold_marketplace_adapter::parse_form(b"memo=a+b%26c&tid=7");
/// assert_eq!(params, vec![("memo".to_owned(), "a b&c".to_owned()), ("tid".to_owned(), "7".to_owned())]);
/// ```
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The value of parameter `name`, the first if it repeats.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks a received call's signature with `secret` and its `timestamp` against `now`, with
/// the platform's tolerance of ten minutes.
///
/// The receiver finds the secret from the call's `app_key` first ([`param`]).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_marketplace_adapter::*;
/// let creds = Credentials::new("12345678", "helloworld", "s").unwrap();
/// let at = Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 0).unwrap();
/// let call = sign_update(&MemoUpdate::clear(1), &creds, SignMethod::HmacSha256, at).unwrap();
/// let received = parse_form(call.form_body().as_bytes());
/// assert!(verify_call(&received, &creds.app_secret, at).is_ok());
/// let wrong = AppSecret::new("not-the-secret").unwrap();
/// assert_eq!(verify_call(&received, &wrong, at), Err(VerifyError::SignatureMismatch));
/// ```
pub fn verify_call(
    params: &[(String, String)],
    secret: &AppSecret,
    now: DateTime<Utc>,
) -> Result<VerifiedCall, VerifyError> {
    verify_call_with_tolerance(params, secret, now, DEFAULT_TOLERANCE)
}

/// [`verify_call`] with a chosen tolerance.
pub fn verify_call_with_tolerance(
    params: &[(String, String)],
    secret: &AppSecret,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<VerifiedCall, VerifyError> {
    // Keyed by bytes: a BTreeMap iterates in byte order, which is the ASCII order the rule asks
    // for. Duplicates are refused here, before anything else looks at a value.
    let mut by_name: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    for (name, value) in params {
        if by_name.insert(name.as_bytes(), value.as_bytes()).is_some() {
            return Err(VerifyError::Duplicate(name.clone()));
        }
    }
    let required = |name: &'static str| -> Result<&str, VerifyError> {
        match param(params, name) {
            Some(v) if !is_unsigned_value(v.as_bytes()) => Ok(v),
            _ => Err(VerifyError::Missing(name)),
        }
    };
    let app_key = required("app_key")?;
    let method = required("method")?;
    let given_sign = required("sign")?;
    let sign_method_text = required("sign_method")?;
    let timestamp_text = required("timestamp")?;
    let sign_method = SignMethod::parse(sign_method_text)
        .ok_or_else(|| VerifyError::UnsupportedSignMethod(sign_method_text.to_owned()))?;
    let given = hex::decode(given_sign).map_err(|_| VerifyError::MalformedSignature)?;

    let mut digest = Digester::new(sign_method, secret.expose());
    let mut unsigned = Vec::new();
    for (name, value) in &by_name {
        if *name == b"sign".as_slice() || is_unsigned_value(name) {
            continue;
        }
        if is_unsigned_value(value) {
            unsigned.push(String::from_utf8_lossy(name).into_owned());
            continue;
        }
        digest.feed(name);
        digest.feed(value);
    }
    let expected = digest.finish(secret.expose());
    // Different lengths compare unequal without looking at the bytes; equal lengths are
    // compared in constant time.
    if !bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        return Err(VerifyError::SignatureMismatch);
    }

    let signed_at = parse_platform_time(timestamp_text)
        .ok_or_else(|| VerifyError::InvalidTimestamp(timestamp_text.to_owned()))?;
    let skew_secs = now.signed_duration_since(signed_at).num_seconds();
    let tolerance_secs = tolerance.as_secs();
    if skew_secs.unsigned_abs() > tolerance_secs {
        return Err(VerifyError::TimestampOutOfRange {
            timestamp: signed_at,
            now,
            skew_secs,
            tolerance_secs,
        });
    }
    Ok(VerifiedCall {
        app_key: app_key.to_owned(),
        method: method.to_owned(),
        sign_method,
        signed_at,
        unsigned,
    })
}

/// The three digests, fed piece by piece.
enum Digester {
    Md5(Md5),
    HmacMd5(Option<Hmac<Md5>>),
    HmacSha256(Option<Hmac<Sha256>>),
}

impl Digester {
    fn new(method: SignMethod, key: &[u8]) -> Self {
        match method {
            SignMethod::Md5 => {
                let mut md5 = Md5::new();
                md5.update(key);
                Self::Md5(md5)
            }
            // Any key length is valid for HMAC; `None` (never) would fail every comparison.
            SignMethod::HmacMd5 => Self::HmacMd5(Hmac::<Md5>::new_from_slice(key).ok()),
            SignMethod::HmacSha256 => Self::HmacSha256(Hmac::<Sha256>::new_from_slice(key).ok()),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        match self {
            Self::Md5(md5) => md5.update(bytes),
            Self::HmacMd5(Some(mac)) => mac.update(bytes),
            Self::HmacSha256(Some(mac)) => mac.update(bytes),
            Self::HmacMd5(None) | Self::HmacSha256(None) => {}
        }
    }

    fn finish(self, key: &[u8]) -> Vec<u8> {
        match self {
            Self::Md5(mut md5) => {
                md5.update(key);
                md5.finalize().to_vec()
            }
            Self::HmacMd5(Some(mac)) => mac.finalize().into_bytes().to_vec(),
            Self::HmacSha256(Some(mac)) => mac.finalize().into_bytes().to_vec(),
            Self::HmacMd5(None) | Self::HmacSha256(None) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid time")
    }

    /// The platform's published example (secret `test`), verified without the signing code.
    fn published() -> Vec<(String, String)> {
        pairs(&[
            ("method", "taobao.user.seller.get"),
            ("timestamp", "2013-05-06 13:52:03"),
            ("format", "xml"),
            ("app_key", "test"),
            ("v", "2.0"),
            ("fields", "nick"),
            ("sign_method", "md5"),
            ("session", "test"),
            ("sign", "72CB4D809B375A54502C09360D879C64"),
        ])
    }

    fn published_now() -> DateTime<Utc> {
        // 2013-05-06 13:52:03 in GMT+8.
        at(2013, 5, 6, 5, 52, 3)
    }

    fn secret(text: &str) -> AppSecret {
        AppSecret::new(text).expect("secret")
    }

    #[test]
    fn the_published_example_verifies() {
        let verified = verify_call(&published(), &secret("test"), published_now()).expect("ok");
        assert_eq!(verified.app_key, "test");
        assert_eq!(verified.method, "taobao.user.seller.get");
        assert_eq!(verified.sign_method, SignMethod::Md5);
        assert_eq!(verified.signed_at, published_now());
    }

    #[test]
    fn a_lower_case_signature_is_the_same_signature() {
        let mut params = published();
        if let Some((_, v)) = params.iter_mut().find(|(k, _)| k == "sign") {
            *v = v.to_lowercase();
        }
        assert!(verify_call(&params, &secret("test"), published_now()).is_ok());
    }

    #[test]
    fn a_tampered_parameter_is_refused() {
        for (name, value) in [
            ("fields", "nick,mobile"),
            ("session", "other"),
            ("timestamp", "2013-05-06 13:52:04"),
            ("sign_method", "hmac"),
        ] {
            let mut params = published();
            if let Some((_, v)) = params.iter_mut().find(|(k, _)| k == name) {
                *v = value.to_owned();
            }
            assert_eq!(
                verify_call(&params, &secret("test"), published_now()),
                Err(VerifyError::SignatureMismatch),
                "{name}"
            );
        }
        // An added parameter is signed too.
        let mut params = published();
        params.push(("memo".into(), "x".into()));
        assert_eq!(
            verify_call(&params, &secret("test"), published_now()),
            Err(VerifyError::SignatureMismatch)
        );
        // An added parameter with an empty or whitespace-only value takes no part, as on the
        // signing side, and is named as unsigned.
        for blank in ["", " ", "\t\u{3000}"] {
            let mut params = published();
            params.push(("memo".into(), blank.into()));
            let verified = verify_call(&params, &secret("test"), published_now()).expect("ok");
            assert_eq!(verified.unsigned, ["memo"], "{blank:?}");
        }
        assert!(
            verify_call(&published(), &secret("test"), published_now())
                .expect("ok")
                .unsigned
                .is_empty()
        );
        // A no-break space is a value to the platform's SDK: signed, so adding it breaks the
        // signature.
        let mut params = published();
        params.push(("memo".into(), "\u{a0}".into()));
        assert_eq!(
            verify_call(&params, &secret("test"), published_now()),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn blank_means_what_the_signing_side_means() {
        // Written apart, the two predicates must agree on every character.
        let mut buffer = [0u8; 4];
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            let text = c.encode_utf8(&mut buffer);
            assert_eq!(
                is_unsigned_value(text.as_bytes()),
                crate::sign::is_blank(text),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    /// A value of one no-break space is signed like any value; the digest was computed outside
    /// Rust: `printf 'testa1app_keykb\xc2\xa0c3methodmsign_methodmd5timestamp2013-05-06 13:52:03test' | md5sum`.
    #[test]
    fn a_no_break_space_value_verifies_as_signed() {
        let params = pairs(&[
            ("a", "1"),
            ("b", "\u{a0}"),
            ("c", "3"),
            ("app_key", "k"),
            ("method", "m"),
            ("sign_method", "md5"),
            ("timestamp", "2013-05-06 13:52:03"),
            ("sign", "E4F9DFED2793E57CFE1BEEAE11952BE9"),
        ]);
        let verified = verify_call(&params, &secret("test"), published_now()).expect("ok");
        assert!(verified.unsigned.is_empty());
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        assert_eq!(
            verify_call(&published(), &secret("tesT"), published_now()),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused_at_ten_minutes() {
        let ten = chrono::Duration::minutes(10);
        let one = chrono::Duration::seconds(1);
        let s = secret("test");
        assert!(verify_call(&published(), &s, published_now() + ten).is_ok());
        assert!(verify_call(&published(), &s, published_now() - ten).is_ok());
        assert!(matches!(
            verify_call(&published(), &s, published_now() + ten + one),
            Err(VerifyError::TimestampOutOfRange { skew_secs: 601, .. })
        ));
        assert!(matches!(
            verify_call(&published(), &s, published_now() - ten - one),
            Err(VerifyError::TimestampOutOfRange {
                skew_secs: -601,
                ..
            })
        ));
    }

    #[test]
    fn hmac_methods_verify_the_hand_computed_vectors() {
        // The same vectors as the signing tests, checked here without the signing code.
        let common = [
            ("app_key", "21600001"),
            ("flag", "1"),
            ("format", "json"),
            ("memo", "拦截发货:请勿发货"),
            ("method", "taobao.trade.memo.update"),
            ("session", "6100a3sessionkey"),
            ("tid", "4012345678901234567"),
            ("timestamp", "2026-11-11 08:30:00"),
            ("v", "2.0"),
        ];
        let key = secret("0123456789abcdef0123456789abcdef");
        let now = at(2026, 11, 11, 0, 30, 0);
        for (method, sign) in [
            ("md5", "6E39220FA1E244C43EE32206822D56A7"),
            ("hmac", "0C130475F4C5D9AFC9672E289588BF30"),
            (
                "hmac-sha256",
                "933BEDD0C9F9754C74F06E48F2ACF3E07D2E5D7312C728E14B8E45FD204726C9",
            ),
        ] {
            let mut params = pairs(&common);
            params.push(("sign_method".into(), method.into()));
            params.push(("sign".into(), sign.into()));
            assert!(verify_call(&params, &key, now).is_ok(), "{method}");
        }
    }

    #[test]
    fn malformed_calls_are_typed_errors() {
        let s = secret("test");
        let now = published_now();
        let mut dup = published();
        dup.push(("fields".into(), "nick".into()));
        assert_eq!(
            verify_call(&dup, &s, now),
            Err(VerifyError::Duplicate("fields".into()))
        );
        for name in ["app_key", "method", "sign", "sign_method", "timestamp"] {
            let params: Vec<_> = published().into_iter().filter(|(k, _)| k != name).collect();
            assert_eq!(
                verify_call(&params, &s, now),
                Err(VerifyError::Missing(name))
            );
        }
        let with = |name: &str, value: &str| {
            let mut p = published();
            if let Some((_, v)) = p.iter_mut().find(|(k, _)| k == name) {
                *v = value.to_owned();
            }
            p
        };
        assert_eq!(
            verify_call(&with("sign_method", "sha1"), &s, now),
            Err(VerifyError::UnsupportedSignMethod("sha1".into()))
        );
        assert_eq!(
            verify_call(&with("sign", "not-hex"), &s, now),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            verify_call(&with("sign", "72CB"), &s, now),
            Err(VerifyError::SignatureMismatch)
        );
    }
}
