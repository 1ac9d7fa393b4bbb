//! The Shiphold ERP wire protocol, for both ends of the wire.
//!
//! Shiphold tells a merchant's ERP to stop ("intercept") the shipment of order items, and the
//! ERP answers whether it locked them. This crate holds everything both sides need:
//!
//! - [wire types](crate::wire): [`Message`] (`interception.requested`,
//!   `interception.released`), [`ItemResult`] with its [`Outcome`] (`locked`, `failed`,
//!   `already_shipped`), [`DeliveryResponse`], [`ResultsCallback`] and [`CallbackReceipt`];
//! - [Standard Webhooks v1 signatures](crate::signature): [`Secret`], [`SignedHeaders`],
//!   [`verify_signature`];
//! - a framework-neutral receiver helper: [`verify`], [`receive_message`],
//!   [`receive_callback`];
//! - the [`EndpointPolicy`] that keeps deliveries off private networks;
//! - feature `client`: [`ErpClient`] (Shiphold → ERP) and [`CallbackClient`] (ERP → Shiphold);
//! - feature `axum`: the [`SignedJson`] extractor;
//! - feature `sim`: an ERP simulator ([`sim`]) and the `shiphold-erp-sim` binary.
//! - feature `schema`: JSON Schemas of the wire messages (`schema::documents`).
//!
//! The default features pull in no HTTP framework and no async runtime. The protocol itself is
//! described in `docs/erp-protocol.md` of the Shiphold repository.
//!
//! # Receiving a message in an ERP
//!
//! ```
//! use shiphold_erp_adapter::{receive_message, Event, Secret, SignedHeaders, Message};
//! # use shiphold_erp_adapter::{Actor, InterceptionReleased};
//! # let secret = Secret::generate();
//! # let now = chrono::Utc::now();
//! # let message = Message::new("msg_1", now, Event::InterceptionReleased(InterceptionReleased {
//! #     shop_id: "s".into(), order_id: "o".into(), interception_id: "i".into(),
//! #     released_by: Actor::Agent, items: vec![] }));
//! # let body = message.to_body();
//! # let mut headers = http::HeaderMap::new();
//! # SignedHeaders::sign(&[secret.clone()], "msg_1", now.timestamp(), &body).apply(&mut headers);
//! // `headers` and `body` come from your HTTP framework, `secret` from your configuration.
//! match receive_message(&headers, &body, &[secret], chrono::Utc::now()) {
//!     Ok((request, message)) => {
//!         // Deduplicate on request.webhook_id: redeliveries repeat it.
//!         if let Event::InterceptionReleased(released) = message.event {
//!             assert_eq!(released.order_id, "o");
//!         }
//!     }
//!     Err(e) => panic!("answer {} to the request: {e}", e.status()),
//! }
//! ```

#![warn(missing_docs)]

pub mod endpoint;
pub mod receiver;
pub mod signature;
pub mod wire;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "axum")]
pub mod extract;
#[cfg(feature = "schema")]
pub mod schema;
#[cfg(feature = "sim")]
pub mod sim;

pub use endpoint::{EndpointError, EndpointPolicy, forbidden_kind};
pub use receiver::{
    MAX_BODY_BYTES, MAX_CALLBACK_RESULTS, ParseError, ReceiveError, VerifiedRequest,
    parse_callback, parse_delivery_response, parse_message, receive_callback, receive_message,
    verify, verify_now, verify_with_tolerance,
};
pub use signature::{
    DEFAULT_TOLERANCE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
    MAX_WEBHOOK_ID_LEN, Secret, SecretError, SignedHeaders, VerifyError, check_timestamp,
    new_webhook_id, verify_signature,
};
pub use wire::{
    Actor, CallbackReceipt, DeliveryResponse, Event, Flag, InterceptionReleased,
    InterceptionRequested, Item, ItemResult, Message, MessageType, Outcome, PROTOCOL_VERSION,
    ResultReceipt, ResultStatus, ResultsCallback, UnknownOutcome,
};

#[cfg(feature = "client")]
pub use client::{
    CallbackClient, CallbackError, ClientError, DEFAULT_TIMEOUT, DeliveryOutcome, ErpClient,
    callback_url, parse_retry_after,
};
#[cfg(feature = "axum")]
pub use extract::{SecretSource, SignedJson, SignedJsonRejection, StaticSecrets};
