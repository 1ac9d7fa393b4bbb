//! A connector to a Qimen (奇门) WMS, Taobao's ERP↔WMS protocol, for one call:
//! `taobao.qimen.order.pending`, which holds (`pending`, 挂起) or releases (`restore`, 恢复) a
//! document the warehouse has been given, such as the outbound document of a paid order.
//! Shiphold uses it to stop a shipment before it leaves the warehouse; it depends on no other
//! Shiphold crate, so a WMS or ERP integrator can use it alone.
//!
//! - [wire types](crate::wire): [`PendingRequest`] with its [`Action`] and [`OrderType`], as
//!   the `<request>` XML body;
//! - [`Credentials`] (app key, [`Secret`], `customerId`);
//! - [signing](crate::sign): [`SignedQuery`] (the query string of a call) and [`signature`];
//! - [verification](mod@crate::verify), written separately: [`ReceivedQuery`], [`verify()`];
//! - [answers](crate::answer): [`Answer`] (`<response>` with `flag`, `code`, `message`);
//! - [gateway errors](crate::gateway): [`GatewayError`], the TOP `<error_response>` a Qimen
//!   gateway answers when a call fails its own checks;
//! - [outcomes](crate::outcome): [`Outcome`] and [`classify`] (with [`RetryableCodes`], the
//!   `failure` codes that mean "not now"), for an outbox's retry logic;
//! - feature `client`: `QimenClient` (reqwest);
//! - feature `sim`: a simulator of a Qimen WMS (module `sim`).
//!
//! The default features pull in no HTTP framework and no async runtime.
//!
//! # The wire, in short
//!
//! ```text
//! POST {gateway}?method=taobao.qimen.order.pending&timestamp=2026-11-11+08%3A00%3A00&format=xml
//!     &app_key=…&v=2.0&sign=…&sign_method=md5&customerId=…
//! Content-Type: text/xml;charset=utf-8
//!
//! <?xml version="1.0" encoding="utf-8"?><request><actionType>pending</actionType>
//! <warehouseCode>…</warehouseCode><ownerCode>…</ownerCode><orderCode>…</orderCode>
//! <orderType>JYCK</orderType><reason>…</reason></request>
//!
//! 200 <response><flag>success|failure</flag><code>…</code><message>…</message></response>
//! ```
//!
//! `sign` = upper-case hex MD5 of `secret + sorted(name + value, without sign) + body + secret`.
//! What was confirmed where is noted on each module; the crate's README has the whole picture.
//!
//! # Holding a document
//!
//! With feature `client`:
//!
//! ```no_run
//! # #[cfg(feature = "client")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use shiphold_qimen_adapter::*;
//! let credentials = Credentials::new("12345678", Secret::new("…")?, "stub-cust-code")?;
//! let client = QimenClient::new(
//!     "https://qimen.api.taobao.com/router/qimen/service",
//!     credentials,
//!     DEFAULT_TIMEOUT,
//! )?;
//! let request = PendingRequest::pending("WH-1", "SO-20261111-0001")
//!     .with_owner_code("OWNER-1")
//!     .with_order_type(OrderType::TradeOutbound)
//!     .with_reason("买家申请拦截 buyer asked to stop the shipment");
//! match client.send(&request).await? {
//!     Outcome::Held => println!("locked"),
//!     Outcome::Refused { message, .. } => println!("lock failed: {message}"),
//!     Outcome::Retry { reason, .. } => println!("try again later: {reason}"),
//!     other => println!("fix the configuration: {other:?}"),
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod answer;
pub mod credentials;
pub mod gateway;
pub mod outcome;
pub mod sign;
pub mod verify;
pub mod wire;
mod xml;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "sim")]
pub mod sim;

pub use answer::{
    ANSWER_ROOT, Answer, Flag, ILLEGAL_REQUEST, ParseAnswerError, SIGN_CHECK_FAILURE,
    is_sign_check_failure,
};
pub use credentials::{Credentials, CredentialsError, Secret};
pub use gateway::{GATEWAY_ERROR_ROOT, GatewayError, GatewayErrorKind, gateway_error_kind};
pub use outcome::{
    DEFAULT_RETRYABLE_CODES, MAX_RETRY_AFTER, Outcome, RetryableCodes, classify, classify_answer,
    classify_answer_with, classify_gateway_error, classify_with, parse_retry_after,
};
pub use sign::{
    API_VERSION, FORMAT, METHOD, SIGN_METHOD, SignedQuery, TIMESTAMP_FORMAT, signature,
    timestamp_text,
};
pub use verify::{DEFAULT_TOLERANCE, ReceivedQuery, Verified, VerifyError, verify};
pub use wire::{
    Action, InvalidRequest, OrderType, ParseRequestError, PendingRequest, REQUEST_ROOT,
    XML_CONTENT_TYPE,
};
pub use xml::{MAX_DOCUMENT_BYTES, XmlError};

#[cfg(feature = "client")]
pub use client::{ClientError, DEFAULT_TIMEOUT, QimenClient, check_endpoint};

// The README's example is compiled as a doctest, so it cannot drift from the API.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
