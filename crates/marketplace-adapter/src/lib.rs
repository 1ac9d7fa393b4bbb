//! The marketplace memo write-back: Shiphold puts its interception note and flag on the
//! marketplace order itself, where warehouses and ERPs read them, with the Taobao Open Platform
//! (TOP) style call `taobao.trade.memo.update` (修改交易备注).
//!
//! - [`memo`]: [`MemoUpdate`] (the call's business parameters), [`Memo`] (bounded to the
//!   platform's 1,000 bytes, with [`Memo::fit`] to combine a merchant memo and a note), [`Flag`];
//! - [`credentials`]: [`Credentials`], with the [`AppSecret`] and [`SessionKey`] kept out of
//!   `Debug`;
//! - [`sign`]: [`sign_update`] builds and signs a call ([`SignMethod`]: `md5`, `hmac`,
//!   `hmac-sha256`);
//! - [`verify`]: [`verify_call`], written apart from the signing code, checks a received call;
//! - [`answer`]: [`parse_answer`] and [`classify_http`] turn the platform's answer into an
//!   [`Outcome`] for an outbox: written, retry, or permanent;
//! - feature `client`: `MemoClient` posts a call and classifies the answer;
//! - feature `sim`: the `sim` module, a simulator of the marketplace's endpoint for tests and
//!   demos.
//!
//! The crate depends on no other crate of Shiphold, and its default features pull in no HTTP
//! stack or async runtime.
//!
//! # What was checked against the published documentation
//!
//! The Taobao Open Platform documents the protocol on its pages "API调用方法详解" (how to call an
//! API: gateway, system parameters, signature) and the API reference of
//! `taobao.trade.memo.update`; both are mirrored on `developer.alibaba.com` and
//! `api.1688.com`. From them:
//!
//! - gateway `https://gw.api.taobao.com/router/rest` (HTTP POST or GET, UTF-8);
//! - system parameters `method`, `app_key`, `session` (required by this API: it needs the
//!   seller's authorisation), `timestamp` (`yyyy-MM-dd HH:mm:ss`, GMT+8; "the server allows a
//!   client clock at most 10 minutes off"), `format` (`xml` by default, or `json`), `v` (`2.0`),
//!   `sign_method` (`hmac`, `md5`, `hmac-sha256`), `sign`; optional `partner_id`, `simplify`,
//!   `target_app_key`;
//! - the signature rule ([`sign`]), with the platform's example `bar2foo1foo_bar3foobar4` and
//!   upper-case hex;
//! - business parameters `tid` (Number, required), `memo` (String, optional, at most 1,000
//!   bytes), `flag` (Number: 0 grey, 1 red, 2 yellow, 3 green, 4 blue, 5 pink — see [`Flag`]),
//!   `reset` (Boolean, default false: true clears the memo whatever `memo` says; with false an
//!   empty `memo` leaves the memo alone);
//! - the answer `trade_memo_update_response.trade` with `tid` and `modified`, and errors as
//!   `error_response` with `code`, `msg`, `sub_code`, `sub_msg`, `request_id`;
//! - the error families ([`answer`]): codes below 100 (but 15, 40, 41) are platform checks,
//!   `isp.*` sub-codes are server-side faults to retry later, `isv.*` sub-codes are the caller's
//!   business errors.
//!
//! # Writing a memo
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use shiphold_marketplace_adapter::*;
//! let creds = Credentials::new("12345678", "the-app-secret", "the-sellers-session")?;
//! let memo = Memo::fit("送礼品", "拦截发货:请勿发货")?;
//! let update = MemoUpdate::write(4012345678901234567, memo, Some(Flag::Red));
//! let client = MemoClient::new(DEFAULT_GATEWAY, DEFAULT_TIMEOUT)?;
//! match client.update(&creds, &update).await? {
//!     Outcome::Written { modified, .. } => println!("written, order modified at {modified:?}"),
//!     Outcome::Retry { reason, .. } => println!("try again later: {reason}"),
//!     Outcome::Permanent { message, .. } => println!("refused: {message}"),
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod answer;
pub mod credentials;
pub mod memo;
pub mod sign;
pub mod time;
pub mod verify;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "sim")]
pub mod sim;

pub use answer::{
    Answer, AnswerError, ERROR_KEY, ErrorKind, MAX_RETRY_AFTER, MemoWritten, Outcome, RESPONSE_KEY,
    TopError, classify_error, classify_http, error_kind, parse_answer, parse_retry_after,
};
pub use credentials::{AppSecret, Credentials, CredentialsError, SessionKey};
pub use memo::{
    Flag, MAX_MEMO_BYTES, MEMO_SEPARATOR, Memo, MemoError, MemoUpdate, TRUNCATION_MARKER,
    UpdateError,
};
pub use sign::{
    API_VERSION, FORMAT, METHOD, SignMethod, SignedCall, canonical_string, sign_canonical,
    sign_params, sign_update,
};
pub use time::{PLATFORM_TZ, TIMESTAMP_FORMAT, parse_platform_time, timestamp_text};
pub use verify::{
    DEFAULT_TOLERANCE, VerifiedCall, VerifyError, param, parse_form, verify_call,
    verify_call_with_tolerance,
};

/// The platform's documented REST gateway (HTTPS).
pub const DEFAULT_GATEWAY: &str = "https://gw.api.taobao.com/router/rest";

#[cfg(feature = "client")]
pub use client::{ClientError, DEFAULT_TIMEOUT, MemoClient};
