//! Shiphold's buyer messages: templates with their Chinese and English defaults, per-shop
//! overrides, rendering, and the shape in which a message leaves the server.
//!
//! This crate does no I/O and runs no async code. It decides *what* a buyer is told; the api crate
//! stores the message in the outbox and delivers it over a [`Channel`].
//!
//! # The pieces
//! - [`Locale`] — the language of a message (`zh-CN`, `en`).
//! - [`TemplateKind`] — which message it is: the card, the acknowledgement (request received, *not*
//!   success), the lock success, the refund reminder, the release notice.
//! - [`Placeholder`] — the `{name}`s a template may use; [`TemplateKind::placeholders`] lists the
//!   ones each kind allows.
//! - [`Template`] — a parsed, validated template ([`Template::parse`]); rendering a parsed template
//!   with a [`RenderContext`] cannot fail.
//! - [`TemplateSet`] — a shop's overrides, falling back to the built-in defaults
//!   ([`default_text`]); serialised as JSON for storage.
//! - [`BuyerMessage`] — a rendered message addressed to a buyer; [`Channel`] — how it travels.
//! - [`gateway`] — the JSON body a chat gateway receives.
//!
//! # Example
//! ```
//! use chrono::NaiveDate;
//! use shiphold_messaging::{Locale, RenderContext, TemplateKind, TemplateSet};
//!
//! let ctx = RenderContext::new(
//!     "Shop",
//!     "O-1",
//!     NaiveDate::from_ymd_opt(2025, 6, 18).expect("valid date"),
//!     NaiveDate::from_ymd_opt(2025, 6, 19).expect("valid date"),
//!     vec!["Kettle".to_owned()],
//! );
//! let text = TemplateSet::new().render(TemplateKind::Acknowledgement, Locale::En, &ctx);
//! assert!(text.starts_with("Refunds can't be requested on 6.18,"));
//! ```
#![warn(missing_docs)]

mod defaults;
pub mod gateway;
mod kind;
mod locale;
mod message;
mod names;
mod set;
mod template;

pub use defaults::{default_template, default_text};
pub use kind::{Placeholder, TemplateKind};
pub use locale::Locale;
pub use message::{BuyerMessage, Channel, Envelope};
pub use names::UnknownName;
pub use set::{TemplateSet, TemplateSetError};
pub use template::{CardLink, MAX_TEMPLATE_CHARS, RenderContext, Template, TemplateError, escape};
