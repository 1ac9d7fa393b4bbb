//! Building and signing a call, the sending side.
//!
//! The rule, as the Taobao Open Platform's "API调用方法详解" (how to call the API) and its
//! signature section describe it:
//!
//! 1. Take every request parameter, system and business, except `sign` itself and byte-array
//!    (file) parameters, and sort them by name in ASCII order (`bar`, `foo`, `foo_bar`,
//!    `foobar`).
//! 2. Join each name with its value, and all pairs with nothing between them:
//!    `bar2foo1foo_bar3foobar4`. Values are not URL-encoded. A parameter without a value takes
//!    no part: the SDK skips a value that is empty *or whitespace only* (`StringUtils.isEmpty`,
//!    see [`is_blank`]), and does not send it either; this crate does the same.
//! 3. Digest the UTF-8 bytes of that string:
//!    - `sign_method=md5`: MD5 of secret + string + secret;
//!    - `sign_method=hmac`: HMAC-MD5 keyed with the secret, over the string alone;
//!    - `sign_method=hmac-sha256`: HMAC-SHA256 keyed with the secret, over the string alone.
//! 4. Write the digest in upper-case hexadecimal (32 characters for the MD5 methods, 64 for
//!    HMAC-SHA256): that is `sign`.
//!
//! [`crate::verify`] checks signatures with code of its own, so that a mistake here cannot hide
//! by being made twice.

use crate::credentials::{AppSecret, Credentials};
use crate::memo::{MemoUpdate, UpdateError};
use crate::time::timestamp_text;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The API this crate calls.
pub const METHOD: &str = "taobao.trade.memo.update";
/// The protocol version (`v`); the platform documents one value, `2.0`.
pub const API_VERSION: &str = "2.0";
/// The answer format asked for (`format`). The platform's default is XML; this crate reads JSON.
pub const FORMAT: &str = "json";
/// The digest a signature is made with (`sign_method`).
///
/// ```
/// use shiphold_marketplace_adapter::SignMethod;
/// assert_eq!(SignMethod::HmacSha256.as_str(), "hmac-sha256");
/// assert_eq!(SignMethod::parse("hmac"), Some(SignMethod::HmacMd5));
/// assert_eq!(SignMethod::parse("sha1"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignMethod {
    /// `md5`: MD5 over secret + string + secret.
    Md5,
    /// `hmac`: HMAC-MD5 keyed with the secret.
    HmacMd5,
    /// `hmac-sha256`: HMAC-SHA256 keyed with the secret. The default: it is the strongest of the
    /// three, and the platform accepts it for every API.
    #[default]
    HmacSha256,
}

impl SignMethod {
    /// Every method, in the platform's list order.
    pub const ALL: [SignMethod; 3] = [SignMethod::HmacMd5, SignMethod::Md5, SignMethod::HmacSha256];

    /// The value of `sign_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignMethod::Md5 => "md5",
            SignMethod::HmacMd5 => "hmac",
            SignMethod::HmacSha256 => "hmac-sha256",
        }
    }

    /// The method a `sign_method` value names (exactly, lower case); `None` for others.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

impl std::fmt::Display for SignMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the SDK counts a value as empty: `StringUtils.isEmpty` of the TOP SDK, true for an
/// empty string and for one of whitespace only, where whitespace is Java's
/// `Character.isWhitespace`: tab, line feed, vertical tab, form feed, carriage return,
/// U+001C–U+001F, and the Unicode space, line and paragraph separators except the no-break
/// ones (U+00A0, U+2007, U+202F). U+0085 is not whitespace to Java either. Such a parameter is
/// neither signed nor sent.
///
/// ```
/// use shiphold_marketplace_adapter::sign::is_blank;
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

/// The string that is signed: the parameters other than `sign` and those with empty or
/// whitespace-only values ([`is_blank`]), sorted by name, each name followed by its value,
/// with no separators.
///
/// ```
/// // The platform documentation's example.
/// let params = [("foo", "1"), ("bar", "2"), ("foo_bar", "3"), ("foobar", "4")];
/// assert_eq!(shiphold_marketplace_adapter::canonical_string(&params), "bar2foo1foo_bar3foobar4");
/// ```
pub fn canonical_string<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut signed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, v)| *k != "sign" && !is_blank(k) && !is_blank(v))
        .collect();
    // `str` orders by bytes, which for ASCII names is ASCII order.
    signed.sort_unstable();
    let mut text = String::with_capacity(signed.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (name, value) in signed {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

/// Signs a canonical string: the upper-case hex digest `sign_method` asks for.
///
/// ```
/// use shiphold_marketplace_adapter::{AppSecret, SignMethod, sign_canonical};
/// let secret = AppSecret::new("test").unwrap();
/// // md5("test" + "a1" + "test"), computed independently.
/// assert_eq!(sign_canonical("a1", &secret, SignMethod::Md5), "777B38ADAC29B91424381DB9DFBB50D6");
/// ```
pub fn sign_canonical(canonical: &str, secret: &AppSecret, method: SignMethod) -> String {
    let key = secret.expose();
    let digest: Vec<u8> = match method {
        SignMethod::Md5 => {
            let mut md5 = Md5::new();
            md5.update(key);
            md5.update(canonical.as_bytes());
            md5.update(key);
            md5.finalize().to_vec()
        }
        SignMethod::HmacMd5 => match Hmac::<Md5>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(canonical.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            // HMAC takes keys of any length, so this cannot happen; an empty signature would
            // only be refused.
            Err(_) => Vec::new(),
        },
        SignMethod::HmacSha256 => match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(canonical.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    };
    hex::encode_upper(digest)
}

/// Signs a parameter list: [`sign_canonical`] of its [`canonical_string`].
pub fn sign_params<K: AsRef<str>, V: AsRef<str>>(
    params: &[(K, V)],
    secret: &AppSecret,
    method: SignMethod,
) -> String {
    sign_canonical(&canonical_string(params), secret, method)
}

/// A signed call, ready to post: every parameter, `sign` last.
///
/// `Debug` shows the parameters with the session key left out.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedCall {
    params: Vec<(String, String)>,
}

impl SignedCall {
    /// Every parameter, in the order they are sent.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The value of one parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The signature (`sign`).
    pub fn sign(&self) -> &str {
        self.get("sign").unwrap_or_default()
    }

    /// The parameters as an `application/x-www-form-urlencoded` body (UTF-8).
    ///
    /// The call is posted rather than put in the URL so that the session key is not in a URL,
    /// where proxies and error messages would show it.
    pub fn form_body(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.params.iter())
            .finish()
    }
}

impl std::fmt::Debug for SignedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                let v = if k == "session" { "…" } else { v.as_str() };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("SignedCall")
            .field("params", &shown)
            .finish()
    }
}

/// Builds and signs the call that carries `update`, as made at instant `at`.
///
/// The system parameters are `method`, `app_key`, `session`, `timestamp`, `format=json`,
/// `v=2.0` and `sign_method`. `partner_id` (an SDK vendor's identity) and `simplify` (a
/// shorter JSON shape, which [`crate::answer`] does not read) are not sent.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_marketplace_adapter::*;
/// let creds = Credentials::new("12345678", "helloworld", "seller-session").unwrap();
/// let update = MemoUpdate::clear(4012345678901234567);
/// let at = Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 0).unwrap();
/// let call = sign_update(&update, &creds, SignMethod::Md5, at).unwrap();
/// assert_eq!(call.get("timestamp"), Some("2026-11-11 08:30:00"));
/// assert_eq!(call.get("reset"), Some("true"));
/// assert_eq!(call.sign().len(), 32);
/// ```
pub fn sign_update(
    update: &MemoUpdate,
    creds: &Credentials,
    method: SignMethod,
    at: DateTime<Utc>,
) -> Result<SignedCall, UpdateError> {
    update.check()?;
    let mut params: Vec<(String, String)> = vec![
        ("method".into(), METHOD.into()),
        ("app_key".into(), creds.app_key.clone()),
        ("session".into(), creds.session.expose().to_owned()),
        ("timestamp".into(), timestamp_text(at)),
        ("format".into(), FORMAT.into()),
        ("v".into(), API_VERSION.into()),
        ("sign_method".into(), method.as_str().into()),
    ];
    params.extend(
        update
            .business_params()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
    );
    // As the SDK's parameter map does: a blank value is not sent, so what is sent is what is
    // signed. (Credentials and memos refuse blanks, so this only guards.)
    params.retain(|(_, v)| !is_blank(v));
    let sign = sign_params(&params, &creds.app_secret, method);
    params.push(("sign".into(), sign));
    Ok(SignedCall { params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::{Flag, Memo};
    use chrono::TimeZone;

    fn secret(text: &str) -> AppSecret {
        AppSecret::new(text).expect("secret")
    }

    /// The platform's own worked example: `taobao.user.seller.get` with app key and secret
    /// `test`, quoted with its signature in "淘宝API签名" (segmentfault.com/q/1010000002569107).
    #[test]
    fn the_published_md5_example_signs_as_published() {
        let params = [
            ("method", "taobao.user.seller.get"),
            ("timestamp", "2013-05-06 13:52:03"),
            ("format", "xml"),
            ("app_key", "test"),
            ("v", "2.0"),
            ("fields", "nick"),
            ("sign_method", "md5"),
            ("session", "test"),
        ];
        assert_eq!(
            canonical_string(&params),
            "app_keytestfieldsnickformatxmlmethodtaobao.user.seller.getsessiontestsign_methodmd5timestamp2013-05-06 13:52:03v2.0"
        );
        assert_eq!(
            sign_params(&params, &secret("test"), SignMethod::Md5),
            "72CB4D809B375A54502C09360D879C64"
        );
    }

    /// The `taobao.item.seller.get` example of the API-call page (app key 12345678, secret
    /// helloworld), its digest recomputed with `python3 hashlib.md5`.
    #[test]
    fn the_item_seller_get_example_signs_as_documented() {
        let params = [
            ("method", "taobao.item.seller.get"),
            ("app_key", "12345678"),
            ("session", "test"),
            ("timestamp", "2016-01-01 12:00:00"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", "md5"),
            ("fields", "num_iid,title,nick,price,num"),
            ("num_iid", "11223344"),
        ];
        assert_eq!(
            canonical_string(&params),
            "app_key12345678fieldsnum_iid,title,nick,price,numformatjsonmethodtaobao.item.seller.getnum_iid11223344sessiontestsign_methodmd5timestamp2016-01-01 12:00:00v2.0"
        );
        assert_eq!(
            sign_params(&params, &secret("helloworld"), SignMethod::Md5),
            "66987CB115214E59E6EC978214934FB8"
        );
    }

    /// A memo write worked out by hand. The digests were computed outside Rust, twice:
    /// `python3` (`hashlib.md5(k + s + k)`, `hmac.new(k, s, hashlib.md5 | hashlib.sha256)`) and
    /// `printf … | md5sum` / `openssl dgst -md5 -hmac k` / `openssl dgst -sha256 -hmac k`.
    #[test]
    fn a_memo_write_signs_to_the_hand_computed_digests() {
        let creds = Credentials::new(
            "21600001",
            "0123456789abcdef0123456789abcdef",
            "6100a3sessionkey",
        )
        .expect("creds");
        let update = MemoUpdate::write(
            4012345678901234567,
            Memo::parse("拦截发货:请勿发货").expect("memo"),
            Some(Flag::Red),
        );
        let at = Utc
            .with_ymd_and_hms(2026, 11, 11, 0, 30, 0)
            .single()
            .expect("time");
        let expected = [
            (
                SignMethod::Md5,
                "app_key21600001flag1formatjsonmemo拦截发货:请勿发货methodtaobao.trade.memo.updatesession6100a3sessionkeysign_methodmd5tid4012345678901234567timestamp2026-11-11 08:30:00v2.0",
                "6E39220FA1E244C43EE32206822D56A7",
            ),
            (
                SignMethod::HmacMd5,
                "app_key21600001flag1formatjsonmemo拦截发货:请勿发货methodtaobao.trade.memo.updatesession6100a3sessionkeysign_methodhmactid4012345678901234567timestamp2026-11-11 08:30:00v2.0",
                "0C130475F4C5D9AFC9672E289588BF30",
            ),
            (
                SignMethod::HmacSha256,
                "app_key21600001flag1formatjsonmemo拦截发货:请勿发货methodtaobao.trade.memo.updatesession6100a3sessionkeysign_methodhmac-sha256tid4012345678901234567timestamp2026-11-11 08:30:00v2.0",
                "933BEDD0C9F9754C74F06E48F2ACF3E07D2E5D7312C728E14B8E45FD204726C9",
            ),
        ];
        for (method, canonical, digest) in expected {
            let call = sign_update(&update, &creds, method, at).expect("signs");
            let unsigned: Vec<(String, String)> = call
                .params()
                .iter()
                .filter(|(k, _)| k != "sign")
                .cloned()
                .collect();
            assert_eq!(canonical_string(&unsigned), canonical, "{method}");
            assert_eq!(call.sign(), digest, "{method}");
        }
    }

    /// A reset worked out by hand: no memo and no flag are sent, `reset=true` is.
    #[test]
    fn a_reset_signs_to_the_hand_computed_digest() {
        let creds = Credentials::new("12345678", "helloworld", "test").expect("creds");
        let at = Utc
            .with_ymd_and_hms(2016, 1, 1, 4, 0, 0)
            .single()
            .expect("time");
        let call = sign_update(&MemoUpdate::clear(2231958349), &creds, SignMethod::Md5, at)
            .expect("signs");
        assert_eq!(call.get("memo"), None);
        assert_eq!(call.get("flag"), None);
        assert_eq!(
            canonical_string(call.params()),
            "app_key12345678formatjsonmethodtaobao.trade.memo.updateresettruesessiontestsign_methodmd5tid2231958349timestamp2016-01-01 12:00:00v2.0"
        );
        assert_eq!(call.sign(), "6C08C77F24705F029D59157E44D0EAA9");
    }

    #[test]
    fn sign_and_empty_values_take_no_part() {
        let with = [("a", "1"), ("sign", "XYZ"), ("b", ""), ("c", "3")];
        assert_eq!(canonical_string(&with), "a1c3");
    }

    /// Whitespace-only values are left out as the SDK leaves them out; a no-break space, which
    /// Java does not count as whitespace, is signed. The digest of the second was computed
    /// outside Rust: `printf 'testa1b\xc2\xa0c3test' | md5sum`.
    #[test]
    fn whitespace_only_values_take_no_part_but_a_no_break_space_does() {
        let blank = [
            ("a", "1"),
            ("b", " \t"),
            ("c", "3"),
            ("d", "\u{3000}\u{2028}\u{1f}"),
        ];
        assert_eq!(canonical_string(&blank), "a1c3");
        assert_eq!(
            sign_params(&blank, &secret("test"), SignMethod::Md5),
            sign_params(&[("a", "1"), ("c", "3")], &secret("test"), SignMethod::Md5)
        );
        let nbsp = [("a", "1"), ("b", "\u{a0}"), ("c", "3")];
        assert_eq!(canonical_string(&nbsp), "a1b\u{a0}c3");
        assert_eq!(
            sign_params(&nbsp, &secret("test"), SignMethod::Md5),
            "7BDEDECEA02E7E945192BAA4A2C96076"
        );
    }

    #[test]
    fn names_sort_by_ascii_so_upper_case_and_underscore_come_first() {
        let params = [("b", "1"), ("B", "2"), ("a_b", "3"), ("ab", "4")];
        // 'B' (0x42) < '_' (0x5F) < 'a' (0x61) < 'b' (0x62).
        assert_eq!(canonical_string(&params), "B2a_b3ab4b1");
    }

    #[test]
    fn the_session_key_is_not_in_debug_and_the_body_is_form_encoded() {
        let creds = Credentials::new("k", "s", "very-secret-session").expect("creds");
        let update = MemoUpdate::write(1, Memo::parse("a b&c=d").expect("memo"), None);
        let call = sign_update(&update, &creds, SignMethod::HmacSha256, Utc::now()).expect("ok");
        assert!(!format!("{call:?}").contains("very-secret-session"));
        let body = call.form_body();
        assert!(body.contains("memo=a+b%26c%3Dd"), "{body}");
        assert!(body.ends_with(&format!("sign={}", call.sign())));
    }

    #[test]
    fn contradictory_updates_are_not_signed() {
        let creds = Credentials::new("k", "s", "t").expect("creds");
        let mut update = MemoUpdate::clear(1);
        update.memo = Some(Memo::parse("x").expect("memo"));
        assert_eq!(
            sign_update(&update, &creds, SignMethod::Md5, Utc::now()),
            Err(UpdateError::MemoWithReset)
        );
    }
}
