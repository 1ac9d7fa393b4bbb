//! Checking a received call: its signature, recomputed from the raw query string and body, and
//! its timestamp. This is the receiving side (a WMS, or the simulator).
//!
//! It is written apart from [`crate::sign`] on purpose, with its own canonical form (a sorted
//! map of the decoded query, fed to MD5 piece by piece), its own time zone handling (a fixed
//! UTC+8 offset, as the SDK's `GMT+8`) and its own timestamp parser, so that a mistake in one
//! cannot hide in both and still pass the round-trip tests.
//!
//! The receiving rule is the one of the official SDK's `SpiUtils` (`checkSign4TextRequest`:
//! "hex(md5(secret+sorted(params)+body+secret))", with `sign` left out), and its
//! `checkTimestamp` refuses requests older than five minutes, hence [`DEFAULT_TOLERANCE`].
//!
//! # Parameters with an empty value
//!
//! The SDK disagrees with itself here. Its signer (`TaobaoUtils.signTopRequest`, which every
//! SDK client and this crate's [`crate::sign`] follow) leaves out a parameter whose value is
//! empty or whitespace only (`StringUtils.isEmpty`), and its clients never send one. Its
//! receiver (`SpiUtils`) writes such a parameter as its bare name. A real sender is one or the
//! other, so [`ReceivedQuery::verify`] accepts both, deliberately:
//!
//! 1. first the signer's rule, empty values left out ([`EmptyValues::LeftOut`]): what gateways
//!    verify and SDK clients produce;
//! 2. only if that does not match and the call has empty-valued parameters, the receiver's
//!    rule, bare names written ([`EmptyValues::BareName`]): what a sender built on `SpiUtils`'s
//!    reading produces.
//!
//! Both digests are compared in constant time. Under the first rule an empty-valued parameter
//! took no part in the signature: anyone on the path could have added it. The verifier does
//! not hide that: [`Verified::unsigned`] names every such parameter, and a receiver must treat
//! them as absent (they carry no value anyway) or refuse the call. The simulator records them.
//!
//! A limit of the protocol, not of this code: names and values are concatenated without
//! separators, so `v=2.0` and `v2=.0` sign the same text. A receiver should therefore check
//! the values it acts on (the simulator checks `method` and `customerId`), not only the
//! signature.

use crate::credentials::Secret;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How far a `timestamp` may be from the receiver's clock, either way, by default: the five
/// minutes of the SDK's `SpiUtils.checkTimestamp`.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a call does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A parameter the check needs is absent.
    #[error("missing query parameter `{0}`")]
    MissingParameter(&'static str),
    /// A parameter appears twice; which value was signed would be a guess.
    #[error("query parameter `{0}` appears more than once")]
    DuplicateParameter(String),
    /// `sign_method` is not `md5`.
    #[error("unsupported sign_method `{0}`")]
    UnsupportedSignMethod(String),
    /// `sign` is not 32 hex digits.
    #[error("`sign` is not 32 hex digits")]
    MalformedSignature,
    /// The signature does not match the query, body and secret.
    #[error("signature does not match")]
    SignatureMismatch,
    /// `timestamp` is not `yyyy-MM-dd HH:mm:ss`.
    #[error("timestamp `{0}` is not yyyy-MM-dd HH:mm:ss")]
    InvalidTimestamp(String),
    /// `timestamp` is older than the tolerance allows.
    #[error("timestamp {timestamp} is more than {tolerance_secs} s old")]
    TimestampTooOld {
        /// The received value.
        timestamp: String,
        /// The tolerance in seconds.
        tolerance_secs: u64,
    },
    /// `timestamp` is further in the future than the tolerance allows.
    #[error("timestamp {timestamp} is more than {tolerance_secs} s in the future")]
    TimestampInFuture {
        /// The received value.
        timestamp: String,
        /// The tolerance in seconds.
        tolerance_secs: u64,
    },
}

/// A received query string, decoded. Read `app_key` from it to find the secret, then
/// [`ReceivedQuery::verify`].
///
/// ```
/// use shiphold_qimen_adapter::ReceivedQuery;
/// let q = ReceivedQuery::parse("app_key=k1&customerId=c%201&sign=x").unwrap();
/// assert_eq!(q.app_key(), Some("k1"));
/// assert_eq!(q.customer_id(), Some("c 1"));
/// assert!(ReceivedQuery::parse("a=1&a=2").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedQuery {
    params: BTreeMap<String, String>,
}

/// How the signature of a verified call wrote its empty-valued parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmptyValues {
    /// Left out, as the SDK's signer and this crate's do. Also the rule of every call that has
    /// no empty-valued parameter.
    LeftOut,
    /// Written as their bare names, as the SDK's `SpiUtils` reads them.
    BareName,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `app_key`.
    pub app_key: String,
    /// `method`.
    pub method: String,
    /// `customerId`, when present.
    pub customer_id: Option<String>,
    /// `timestamp`, as an instant.
    pub signed_at: DateTime<Utc>,
    /// Which rule for empty values the signature matched.
    pub empty_values: EmptyValues,
    /// The parameters, by name, whose value is empty (or whitespace only) and so took no part
    /// in the signature: always empty under [`EmptyValues::BareName`]. They were not signed;
    /// treat them as absent.
    pub unsigned: Vec<String>,
}

/// Whether a value counts as empty: empty, or whitespace only as Java's
/// `Character.isWhitespace` reads it (the SDK's `StringUtils.isEmpty`). Written here apart
/// from the signing side's: Rust's Unicode whitespace, less the four characters Java does not
/// count (U+0085 and the no-break spaces U+00A0, U+2007, U+202F), plus the four it does that
/// Unicode does not (the separators U+001C–U+001F).
fn is_empty_value(value: &str) -> bool {
    value.chars().all(|c| {
        let java_extra = ('\u{1c}'..='\u{1f}').contains(&c);
        let java_excluded = matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}');
        java_extra || (c.is_whitespace() && !java_excluded)
    })
}

impl ReceivedQuery {
    /// Decodes a raw query string (without the `?`): percent-escapes, and `+` as a space, as a
    /// Java servlet's `URLDecoder` does.
    pub fn parse(query: &str) -> Result<Self, VerifyError> {
        let mut params = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let name = name.into_owned();
            if params.contains_key(&name) {
                return Err(VerifyError::DuplicateParameter(name));
            }
            params.insert(name, value.into_owned());
        }
        Ok(Self { params })
    }

    /// A parameter's decoded value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// `app_key`: whose secret verifies the call.
    pub fn app_key(&self) -> Option<&str> {
        self.get("app_key")
    }

    /// `customerId`.
    pub fn customer_id(&self) -> Option<&str> {
        self.get("customerId")
    }

    /// `method`.
    pub fn method(&self) -> Option<&str> {
        self.get("method")
    }

    /// Checks the signature over this query and `body` with `secret`, then the timestamp
    /// against `now`. The comparison of signatures takes the same time wherever they differ.
    pub fn verify(
        &self,
        body: &[u8],
        secret: &Secret,
        now: DateTime<Utc>,
        tolerance: Duration,
    ) -> Result<Verified, VerifyError> {
        let required = |name: &'static str| {
            self.get(name)
                .filter(|v| !v.is_empty())
                .ok_or(VerifyError::MissingParameter(name))
        };
        let given = required("sign")?;
        let app_key = required("app_key")?;
        let method = required("method")?;
        let timestamp = required("timestamp")?;
        match self.get("sign_method") {
            None | Some("md5") => {}
            Some(other) => return Err(VerifyError::UnsupportedSignMethod(other.to_owned())),
        }
        let mut given_bytes = [0u8; 16];
        hex::decode_to_slice(given, &mut given_bytes)
            .map_err(|_| VerifyError::MalformedSignature)?;

        let empty: Vec<String> = self
            .params
            .iter()
            .filter(|(name, value)| *name != "sign" && !name.is_empty() && is_empty_value(value))
            .map(|(name, _)| name.clone())
            .collect();
        let (empty_values, unsigned) = if bool::from(
            self.digest(body, secret, EmptyValues::LeftOut)
                .ct_eq(&given_bytes),
        ) {
            (EmptyValues::LeftOut, empty)
        } else if !empty.is_empty()
            && bool::from(
                self.digest(body, secret, EmptyValues::BareName)
                    .ct_eq(&given_bytes),
            )
        {
            (EmptyValues::BareName, Vec::new())
        } else {
            return Err(VerifyError::SignatureMismatch);
        };

        let signed_at = parse_timestamp(timestamp)?;
        check_timestamp(timestamp, signed_at, now, tolerance)?;
        Ok(Verified {
            app_key: app_key.to_owned(),
            method: method.to_owned(),
            customer_id: self.customer_id().map(str::to_owned),
            signed_at,
            empty_values,
            unsigned,
        })
    }

    /// The MD5 of `secret + sorted(name + value) + body + secret`, empty values written as
    /// `rule` says.
    fn digest(&self, body: &[u8], secret: &Secret, rule: EmptyValues) -> [u8; 16] {
        let mut md5 = Md5::new();
        md5.update(secret.as_bytes());
        // The map iterates in byte order of the names: the sorted order of the rule.
        for (name, value) in &self.params {
            if name == "sign" || name.is_empty() {
                continue;
            }
            match (is_empty_value(value), rule) {
                (true, EmptyValues::LeftOut) => {}
                (true, EmptyValues::BareName) => md5.update(name.as_bytes()),
                (false, _) => {
                    md5.update(name.as_bytes());
                    md5.update(value.as_bytes());
                }
            }
        }
        md5.update(body);
        md5.update(secret.as_bytes());
        md5.finalize().into()
    }
}

/// Parses and verifies in one step, for a receiver with a single secret.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_qimen_adapter::{DEFAULT_TOLERANCE, Secret, VerifyError, verify};
/// let secret = Secret::new("秘钥-42").unwrap();
/// let query = "method=taobao.qimen.order.pending&timestamp=2026-11-11+08%3A00%3A00&format=xml\
///     &app_key=app%201&v=2.0&sign=E5F4460DF804DE051A9302E406D2F228&sign_method=md5\
///     &customerId=C%26D&partner_id=top-sdk-java-20240101";
/// let body = "<request><actionType>restore</actionType><warehouseCode>W1</warehouseCode>\
///     <orderCode>SO-2</orderCode><reason>&lt;&amp;&gt; 恢复发货</reason></request>";
/// let now = Utc.with_ymd_and_hms(2026, 11, 11, 0, 1, 0).unwrap();
/// assert!(verify(query, body.as_bytes(), &secret, now, DEFAULT_TOLERANCE).is_ok());
/// let tampered = body.replace("SO-2", "SO-3");
/// assert_eq!(verify(query, tampered.as_bytes(), &secret, now, DEFAULT_TOLERANCE),
///     Err(VerifyError::SignatureMismatch));
/// ```
pub fn verify(
    query: &str,
    body: &[u8],
    secret: &Secret,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Verified, VerifyError> {
    ReceivedQuery::parse(query)?.verify(body, secret, now, tolerance)
}

/// `yyyy-MM-dd HH:mm:ss`, exactly (two-digit fields, zero-padded), as UTC+8.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, VerifyError> {
    let invalid = || VerifyError::InvalidTimestamp(text.to_owned());
    let shape_ok = text.len() == 19
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(invalid());
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map_err(|_| invalid())?;
    let china = FixedOffset::east_opt(8 * 3600).ok_or_else(invalid)?;
    china
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(invalid)
}

fn check_timestamp(
    text: &str,
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let tolerance_secs = tolerance.as_secs();
    let tolerance = chrono::Duration::from_std(tolerance).unwrap_or(chrono::Duration::MAX);
    let age = now.signed_duration_since(signed_at);
    if age > tolerance {
        return Err(VerifyError::TimestampTooOld {
            timestamp: text.to_owned(),
            tolerance_secs,
        });
    }
    if -age > tolerance {
        return Err(VerifyError::TimestampInFuture {
            timestamp: text.to_owned(),
            tolerance_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A call written by hand, not by `crate::sign`: parameters in another order, an SDK's
    // extra `partner_id`, and both `+` and `%20` for spaces. Its sign is
    // `printf '%s' '秘钥-42app_keyapp 1customerIdC&Dformatxmlmethodtaobao.qimen.order.pendingpartner_idtop-sdk-java-20240101sign_methodmd5timestamp2026-11-11 08:00:00v2.0<body>秘钥-42' | md5sum`.
    const QUERY: &str = "method=taobao.qimen.order.pending&timestamp=2026-11-11+08%3A00%3A00&format=xml&app_key=app%201&v=2.0&sign=E5F4460DF804DE051A9302E406D2F228&sign_method=md5&customerId=C%26D&partner_id=top-sdk-java-20240101";
    const BODY: &str = "<request><actionType>restore</actionType><warehouseCode>W1</warehouseCode><orderCode>SO-2</orderCode><reason>&lt;&amp;&gt; 恢复发货</reason></request>";

    fn secret() -> Secret {
        Secret::new("秘钥-42").unwrap()
    }

    fn now() -> DateTime<Utc> {
        // 2026-11-11 08:00:00 in Shanghai.
        Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
    }

    fn check(
        query: &str,
        body: &str,
        secret: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        verify(query, body.as_bytes(), secret, now, DEFAULT_TOLERANCE)
    }

    #[test]
    fn the_hand_computed_vector_verifies() {
        let verified = check(QUERY, BODY, &secret(), now()).unwrap();
        assert_eq!(verified.app_key, "app 1");
        assert_eq!(verified.customer_id.as_deref(), Some("C&D"));
        assert_eq!(verified.method, "taobao.qimen.order.pending");
        assert_eq!(verified.signed_at, now());
        // Lower-case hex and %20 for the space are the same signature and the same value.
        let relaxed = QUERY
            .replace(
                "E5F4460DF804DE051A9302E406D2F228",
                "e5f4460df804de051a9302e406d2f228",
            )
            .replace("2026-11-11+08", "2026-11-11%2008");
        assert!(check(&relaxed, BODY, &secret(), now()).is_ok());
    }

    #[test]
    fn a_tampered_body_is_refused() {
        for body in [
            BODY.replace("restore", "pending"),
            format!("{BODY}\n"),
            BODY.replace("恢复", "恢複"),
        ] {
            assert_eq!(
                check(QUERY, &body, &secret(), now()),
                Err(VerifyError::SignatureMismatch),
                "{body}"
            );
        }
    }

    #[test]
    fn a_tampered_parameter_is_refused() {
        for query in [
            QUERY.replace("customerId=C%26D", "customerId=C%26E"),
            QUERY.replace("app_key=app%201", "app_key=app%202"),
            QUERY.replace("partner_id=top", "partner_id=tap"),
            format!("{QUERY}&extra=1"),
            QUERY.replace("&partner_id=top-sdk-java-20240101", ""),
            QUERY.replace(
                "timestamp=2026-11-11+08%3A00%3A00",
                "timestamp=2026-11-11+08%3A00%3A01",
            ),
        ] {
            assert_eq!(
                check(&query, BODY, &secret(), now()),
                Err(VerifyError::SignatureMismatch),
                "{query}"
            );
        }
        // An empty parameter added on the way still verifies under the signer's rule (it takes
        // no part in the signature), but not silently: it is named as unsigned.
        for added in ["&session=", "&session=+%09", "&session=%E3%80%80"] {
            let verified = check(&format!("{QUERY}{added}"), BODY, &secret(), now()).unwrap();
            assert_eq!(verified.empty_values, EmptyValues::LeftOut, "{added}");
            assert_eq!(verified.unsigned, ["session"], "{added}");
        }
        let plain = check(QUERY, BODY, &secret(), now()).unwrap();
        assert_eq!(
            (plain.empty_values, plain.unsigned),
            (EmptyValues::LeftOut, vec![])
        );
        // A no-break space is a value to Java, so it is signed: adding it breaks the signature.
        assert_eq!(
            check(&format!("{QUERY}&session=%C2%A0"), BODY, &secret(), now()),
            Err(VerifyError::SignatureMismatch)
        );
    }

    // The same call with `&session=` signed by `SpiUtils`'s reading, the bare name written:
    // `printf '%s' '秘钥-42app_keyapp 1customerIdC&Dformatxmlmethodtaobao.qimen.order.pendingpartner_idtop-sdk-java-20240101sessionsign_methodmd5timestamp2026-11-11 08:00:00v2.0<body>秘钥-42' | md5sum`.
    const BARE_SIGN: &str = "3DD6F0CA7CDC1C4776EEAE7F96302EEF";

    fn bare_query() -> String {
        format!(
            "{}&session=",
            QUERY.replace("E5F4460DF804DE051A9302E406D2F228", BARE_SIGN)
        )
    }

    #[test]
    fn a_sender_that_signs_empty_values_as_bare_names_is_accepted() {
        let verified = check(&bare_query(), BODY, &secret(), now()).unwrap();
        assert_eq!(verified.empty_values, EmptyValues::BareName);
        // The empty parameter was signed, as its name.
        assert!(verified.unsigned.is_empty());
        // Without the parameter it signed, or with a value for it, the signature fails.
        for query in [
            bare_query().replace("&session=", ""),
            bare_query().replace("&session=", "&session=x"),
            bare_query().replace("&session=", "&sessio="),
            format!("{}&extra=", bare_query()),
        ] {
            assert_eq!(
                check(&query, BODY, &secret(), now()),
                Err(VerifyError::SignatureMismatch),
                "{query}"
            );
        }
        // Whitespace only reads as empty under both rules.
        let blank = bare_query().replace("&session=", "&session=%20");
        assert_eq!(
            check(&blank, BODY, &secret(), now()).map(|v| v.empty_values),
            Ok(EmptyValues::BareName)
        );
    }

    #[test]
    fn empty_means_what_the_signing_side_means() {
        // Written apart, the two predicates must agree on every character.
        let mut buffer = [0u8; 4];
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            let text = c.encode_utf8(&mut buffer);
            assert_eq!(
                is_empty_value(text),
                crate::sign::is_blank(text),
                "U+{:04X}",
                u32::from(c)
            );
        }
        assert!(is_empty_value(""));
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        for wrong in ["秘钥-43", "秘钥-4", "秘钥-42x", "test"] {
            assert_eq!(
                check(QUERY, BODY, &Secret::new(wrong).unwrap(), now()),
                Err(VerifyError::SignatureMismatch),
                "{wrong}"
            );
        }
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let tolerance = DEFAULT_TOLERANCE.as_secs() as i64;
        let edge_late = now() + chrono::Duration::seconds(tolerance);
        let edge_early = now() - chrono::Duration::seconds(tolerance);
        assert!(check(QUERY, BODY, &secret(), edge_late).is_ok());
        assert!(check(QUERY, BODY, &secret(), edge_early).is_ok());
        assert!(matches!(
            check(
                QUERY,
                BODY,
                &secret(),
                edge_late + chrono::Duration::seconds(1)
            ),
            Err(VerifyError::TimestampTooOld {
                tolerance_secs: 300,
                ..
            })
        ));
        assert!(matches!(
            check(
                QUERY,
                BODY,
                &secret(),
                edge_early - chrono::Duration::seconds(1)
            ),
            Err(VerifyError::TimestampInFuture { .. })
        ));
        // A zone mix-up (reading the time as UTC) would be eight hours off.
        assert!(check(QUERY, BODY, &secret(), now() + chrono::Duration::hours(8)).is_err());
    }

    #[test]
    fn missing_duplicate_and_malformed_parameters_are_typed_errors() {
        let without = |name: &str| {
            QUERY
                .split('&')
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect::<Vec<_>>()
                .join("&")
        };
        for (name, expected) in [
            ("sign", "sign"),
            ("app_key", "app_key"),
            ("method", "method"),
            ("timestamp", "timestamp"),
        ] {
            assert_eq!(
                check(&without(name), BODY, &secret(), now()),
                Err(VerifyError::MissingParameter(expected))
            );
        }
        assert_eq!(
            check(&format!("{QUERY}&v=2.0"), BODY, &secret(), now()),
            Err(VerifyError::DuplicateParameter("v".into()))
        );
        assert_eq!(
            check(
                &QUERY.replace("sign_method=md5", "sign_method=hmac"),
                BODY,
                &secret(),
                now()
            ),
            Err(VerifyError::UnsupportedSignMethod("hmac".into()))
        );
        assert_eq!(
            check(
                &QUERY.replace("sign=E5F4", "sign=Z5F4"),
                BODY,
                &secret(),
                now()
            ),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(&QUERY.replace("F228", ""), BODY, &secret(), now()),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn timestamps_must_have_the_exact_documented_shape() {
        for bad in [
            "2026-11-11T08:00:00",
            "2026-11-11 8:00:00",
            "2026-1-11 08:00:00",
            "2026-11-11 08:00:00Z",
            "2026-13-11 08:00:00",
            "2026-02-30 08:00:00",
            "１０２６-11-11 08:00:00",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(VerifyError::InvalidTimestamp(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(parse_timestamp("2026-11-11 08:00:00"), Ok(now()));
    }
}
