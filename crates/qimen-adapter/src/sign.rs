//! Signing a call: the system parameters that go in the query string, and the `sign` over them
//! and the body.
//!
//! The rule, from Alibaba's page on the Qimen signature (奇门 签名算法,
//! <https://developer.alibaba.com/docs/doc.htm?articleId=118404&docType=1&treeId=780>) and the
//! official SDK that implements it (`TaobaoUtils.signTopRequest`, used by `DefaultQimenClient`
//! through `signTopRequestWithBody`):
//!
//! 1. take every query parameter except `sign`, leaving out those with an empty value
//!    (`StringUtils.areNotEmpty`; the SDK's "empty" includes a value of whitespace only, as
//!    Java's `Character.isWhitespace` reads it, see [`is_blank`]);
//! 2. sort them by name;
//! 3. write each name immediately followed by its value, with no separators;
//! 4. put the secret before and after, and the exact body bytes between the parameters and the
//!    closing secret: `secret + params + body + secret`;
//! 5. MD5 of the UTF-8 bytes, as 32 upper-case hex digits.
//!
//! The page's worked example cannot serve as a test vector: it writes the body as the
//! placeholder `body`, and its digest (`D06D88CB…`) is not the MD5 of its own string. Our
//! vectors are worked out by hand from the rule instead (see the tests).

use crate::credentials::{Credentials, Secret};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};

/// The API method of this crate.
pub const METHOD: &str = "taobao.qimen.order.pending";
/// The `v` parameter: the protocol version Qimen documents.
pub const API_VERSION: &str = "2.0";
/// The `format` parameter: the body and the answer are XML.
pub const FORMAT: &str = "xml";
/// The `sign_method` parameter; md5 is the method Qimen documents for this protocol.
pub const SIGN_METHOD: &str = "md5";

/// How `timestamp` is written (`yyyy-MM-dd HH:mm:ss`), in China Standard Time.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The `timestamp` parameter for an instant: `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (the SDK
/// says `GMT+8`; China has kept that offset without daylight saving since 1991).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let at = Utc.with_ymd_and_hms(2026, 11, 10, 16, 30, 5).unwrap();
/// assert_eq!(shiphold_qimen_adapter::timestamp_text(at), "2026-11-11 00:30:05");
/// ```
pub fn timestamp_text(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Asia::Shanghai)
        .format(TIMESTAMP_FORMAT)
        .to_string()
}

/// Whether the signing rule leaves a value out: the SDK's `StringUtils.isEmpty`, which is true
/// for an empty string and for one of whitespace only, where whitespace is what Java's
/// `Character.isWhitespace` says: tab, line feed, vertical tab, form feed, carriage return,
/// U+001C–U+001F, and the Unicode space, line and paragraph separators except the no-break
/// ones (U+00A0, U+2007, U+202F). U+0085 is not whitespace to Java either.
///
/// Real gateways verify with the SDK's rule, so our signer applies it exactly. This crate's
/// own calls never carry such a value (credentials refuse them, the other values are fixed);
/// the rule matters to [`signature`] over parameters of a caller's choosing.
///
/// ```
/// use shiphold_qimen_adapter::sign::is_blank;
/// assert!(is_blank("") && is_blank(" \t\r\n") && is_blank("\u{3000}") && is_blank("\u{1f}"));
/// assert!(!is_blank("\u{a0}") && !is_blank("\u{85}") && !is_blank(" x "));
/// ```
pub fn is_blank(value: &str) -> bool {
    value.chars().all(|c| {
        matches!(
            c,
            '\u{9}'..='\u{d}'
                | '\u{1c}'..='\u{20}'
                | '\u{1680}'
                | '\u{2000}'..='\u{2006}'
                | '\u{2008}'..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{205f}'
                | '\u{3000}'
        )
    })
}

/// The exact bytes the MD5 is taken over. Kept apart so tests can compare it with a string
/// written out by hand.
fn signing_input(secret: &Secret, params: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(name, value)| *name != "sign" && !is_blank(name) && !is_blank(value))
        .collect();
    // Byte order of UTF-8 names; the SDK sorts Java strings, which is the same order for the
    // ASCII names the protocol uses.
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut input = Vec::with_capacity(body.len() + 256);
    input.extend_from_slice(secret.as_bytes());
    for (name, value) in kept {
        input.extend_from_slice(name.as_bytes());
        input.extend_from_slice(value.as_bytes());
    }
    input.extend_from_slice(body);
    input.extend_from_slice(secret.as_bytes());
    input
}

/// The `sign` of a call with these query parameters and this body.
///
/// ```
/// use shiphold_qimen_adapter::{Secret, signature};
/// let secret = Secret::new("test").unwrap();
/// // The string construction of Alibaba's example, with the literal text `body` as the body.
/// let params = [("method", "taobao.qimen.itemlack.report"), ("timestamp", "2015-04-26 00:00:07"),
///     ("format", "xml"), ("app_key", "testerp_appkey"), ("v", "2.0"), ("sign", "abc"),
///     ("sign_method", "md5"), ("customerId", "stub-cust-code")];
/// assert_eq!(signature(&secret, &params, b"body"), "E4E83589F1454C1B677DDF0B59026C6A");
/// ```
pub fn signature(secret: &Secret, params: &[(&str, &str)], body: &[u8]) -> String {
    hex::encode_upper(Md5::digest(signing_input(secret, params, body)))
}

/// The query parameters of one signed call, in the order the documentation's URLs show them.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_qimen_adapter::{Credentials, Secret, SignedQuery};
/// let credentials = Credentials::new("12345678", Secret::new("s").unwrap(), "stub-cust-code").unwrap();
/// let at = Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap();
/// let query = SignedQuery::new(&credentials, at, b"<request/>");
/// assert_eq!(query.get("timestamp"), Some("2026-11-11 08:00:00"));
/// assert_eq!(query.sign().len(), 32);
/// assert!(query.to_query_string().starts_with("method=taobao.qimen.order.pending&timestamp=2026-11-11+08%3A00%3A00&"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedQuery {
    params: Vec<(&'static str, String)>,
}

impl SignedQuery {
    /// Signs a `taobao.qimen.order.pending` call made at `at` with this body.
    pub fn new(credentials: &Credentials, at: DateTime<Utc>, body: &[u8]) -> Self {
        Self::for_method(credentials, METHOD, at, body)
    }

    /// Signs a call of another Qimen method; the rule is the same for all of them.
    pub fn for_method(
        credentials: &Credentials,
        method: &str,
        at: DateTime<Utc>,
        body: &[u8],
    ) -> Self {
        let timestamp = timestamp_text(at);
        let mut params: Vec<(&'static str, String)> = vec![
            ("method", method.to_owned()),
            ("timestamp", timestamp),
            ("format", FORMAT.to_owned()),
            ("app_key", credentials.app_key().to_owned()),
            ("v", API_VERSION.to_owned()),
            ("sign_method", SIGN_METHOD.to_owned()),
            ("customerId", credentials.customer_id().to_owned()),
        ];
        let borrowed: Vec<(&str, &str)> = params.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let sign = signature(credentials.secret(), &borrowed, body);
        params.insert(5, ("sign", sign));
        Self { params }
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `sign` parameter.
    pub fn sign(&self) -> &str {
        self.get("sign").unwrap_or_default()
    }

    /// Every parameter, `sign` included.
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.params.iter().map(|(n, v)| (*n, v.as_str()))
    }

    /// The URL-encoded query string (`application/x-www-form-urlencoded` rules, so the space
    /// in `timestamp` is a `+`; receivers decode `+` and `%20` alike).
    pub fn to_query_string(&self) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs() {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><actionType>pending</actionType><warehouseCode>WH-HZ-01</warehouseCode><ownerCode>OWNER-7</ownerCode><orderCode>SO-20261111-0001</orderCode><orderType>JYCK</orderType><reason>拦截发货</reason></request>";

    fn credentials() -> Credentials {
        Credentials::new(
            "12345678",
            Secret::new("qimen-test-secret").unwrap(),
            "stub-cust-code",
        )
        .unwrap()
    }

    fn at() -> DateTime<Utc> {
        // 08:00:00 in Shanghai.
        Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_signed_text_is_the_documented_concatenation() {
        let query = SignedQuery::new(&credentials(), at(), BODY.as_bytes());
        let params: Vec<(&str, &str)> = query.pairs().collect();
        let input = signing_input(credentials().secret(), &params, BODY.as_bytes());
        // Written out by hand: secret, sorted name+value pairs without `sign`, body, secret.
        let expected = "qimen-test-secret\
            app_key12345678customerIdstub-cust-codeformatxmlmethodtaobao.qimen.order.pending\
            sign_methodmd5timestamp2026-11-11 08:00:00v2.0\
            <?xml version=\"1.0\" encoding=\"utf-8\"?><request><actionType>pending</actionType><warehouseCode>WH-HZ-01</warehouseCode><ownerCode>OWNER-7</ownerCode><orderCode>SO-20261111-0001</orderCode><orderType>JYCK</orderType><reason>拦截发货</reason></request>\
            qimen-test-secret";
        assert_eq!(String::from_utf8(input).unwrap(), expected);
    }

    #[test]
    fn signing_reproduces_the_hand_computed_vector() {
        // `printf '%s' '<expected above>' | md5sum` and Python's hashlib both give this.
        let query = SignedQuery::new(&credentials(), at(), BODY.as_bytes());
        assert_eq!(query.sign(), "06B62AE8C3D52160ECC1AC7B7C7D9CC1");
    }

    #[test]
    fn the_query_carries_the_eight_documented_parameters() {
        let query = SignedQuery::new(&credentials(), at(), BODY.as_bytes());
        let names: Vec<&str> = query.pairs().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "method",
                "timestamp",
                "format",
                "app_key",
                "v",
                "sign",
                "sign_method",
                "customerId"
            ]
        );
        assert_eq!(
            query.to_query_string(),
            "method=taobao.qimen.order.pending&timestamp=2026-11-11+08%3A00%3A00&format=xml\
             &app_key=12345678&v=2.0&sign=06B62AE8C3D52160ECC1AC7B7C7D9CC1&sign_method=md5\
             &customerId=stub-cust-code"
        );
    }

    #[test]
    fn empty_values_and_the_sign_itself_are_not_signed() {
        let secret = Secret::new("k").unwrap();
        let with_extras = signature(
            &secret,
            &[("b", "2"), ("sign", "X"), ("empty", ""), ("a", "1")],
            b"B",
        );
        let plain = signature(&secret, &[("a", "1"), ("b", "2")], b"B");
        assert_eq!(with_extras, plain);
        // `printf %s ka1b2Bk | md5sum`
        assert_eq!(plain, "814D64B722B95002E421CE970A02499D");
    }

    #[test]
    fn whitespace_only_values_are_left_out_as_the_sdk_leaves_them_out() {
        let secret = Secret::new("k").unwrap();
        let plain = signature(&secret, &[("a", "1"), ("b", "2")], b"B");
        // Java's whitespace: spaces, tabs, line ends, U+001F, the ideographic space.
        let blank = signature(
            &secret,
            &[
                ("a", "1"),
                ("b", "2"),
                ("c", " \t\r\n"),
                ("d", "\u{1f}\u{3000}"),
            ],
            b"B",
        );
        assert_eq!(blank, plain);
        // A no-break space is not whitespace to Java: it is signed, as `c` + U+00A0.
        // `printf 'ka1b2c\xc2\xa0Bk' | md5sum`
        let nbsp = signature(&secret, &[("a", "1"), ("b", "2"), ("c", "\u{a0}")], b"B");
        assert_eq!(nbsp, "886A3BAE6042FA68919BAC43DAC53080");
    }

    #[test]
    fn every_byte_of_the_body_counts() {
        let c = credentials();
        let a = SignedQuery::new(&c, at(), b"<request/>");
        let b = SignedQuery::new(&c, at(), b"<request/> ");
        assert_ne!(a.sign(), b.sign());
    }

    #[test]
    fn timestamps_are_shanghai_wall_clock_time() {
        let late = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        assert_eq!(timestamp_text(late), "2027-01-01 00:00:00");
    }
}
