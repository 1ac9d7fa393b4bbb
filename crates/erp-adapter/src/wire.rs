//! The JSON bodies of the protocol: the messages Shiphold sends to an ERP, the results an ERP
//! returns (in the delivery's response or in a callback), and Shiphold's answer to a callback.
//!
//! Forward compatibility: none of the inbound types uses `deny_unknown_fields`. A receiver must
//! ignore fields it does not know, because new optional fields are added without a new protocol
//! version (see `docs/erp-protocol.md`, "Versioning").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks. It is sent in every message's `version` field.
///
/// ```
/// assert_eq!(shiphold_erp_adapter::PROTOCOL_VERSION, "2026-11-01");
/// ```
pub const PROTOCOL_VERSION: &str = "2026-11-01";

/// The `type` of a message sent by Shiphold to an ERP.
///
/// ```
/// use shiphold_erp_adapter::MessageType;
/// assert_eq!(MessageType::InterceptionRequested.as_str(), "interception.requested");
/// assert_eq!(MessageType::parse("interception.released"), Some(MessageType::InterceptionReleased));
/// assert_eq!(MessageType::parse("order.created"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageType {
    /// Items of an order must not ship: lock them and report the outcome.
    #[serde(rename = "interception.requested")]
    InterceptionRequested,
    /// An interception was undone by customer service: the items may ship again.
    #[serde(rename = "interception.released")]
    InterceptionReleased,
}

impl MessageType {
    /// The wire name, e.g. `interception.requested`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InterceptionRequested => "interception.requested",
            Self::InterceptionReleased => "interception.released",
        }
    }

    /// The message type with this wire name, or `None` for a type this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "interception.requested" => Some(Self::InterceptionRequested),
            "interception.released" => Some(Self::InterceptionReleased),
            _ => None,
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seller-memo flag Shiphold puts on an intercepted order (the marketplace's colours;
/// `none` is the grey "no flag").
///
/// ```
/// use shiphold_erp_adapter::Flag;
/// assert_eq!(serde_json::to_string(&Flag::Purple).unwrap(), "\"purple\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Flag {
    /// No flag (grey).
    #[default]
    None,
    /// Red flag.
    Red,
    /// Yellow flag.
    Yellow,
    /// Green flag.
    Green,
    /// Blue flag.
    Blue,
    /// Purple flag.
    Purple,
}

/// Who made a change: the buyer (through the interception card) or a customer-service agent.
///
/// ```
/// use shiphold_erp_adapter::Actor;
/// assert_eq!(serde_json::to_string(&Actor::Agent).unwrap(), "\"agent\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Actor {
    /// The buyer, who chose the items on the interception card.
    Buyer,
    /// A customer-service agent of the merchant.
    Agent,
}

/// One item (sub-order) of an order, as carried in a message.
///
/// ```
/// use shiphold_erp_adapter::Item;
/// let item = Item::new("so-1", "Blue kettle", 2).with_sku_id("SKU-9");
/// assert_eq!(item.quantity, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Item {
    /// The marketplace's sub-order id; results are reported per sub-order id.
    pub sub_order_id: String,
    /// The merchant's SKU id of the item, when the order carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_id: Option<String>,
    /// The item's title as shown to the buyer.
    pub title: String,
    /// How many units of the item the sub-order holds.
    pub quantity: u32,
}

impl Item {
    /// An item without a SKU id.
    pub fn new(sub_order_id: impl Into<String>, title: impl Into<String>, quantity: u32) -> Self {
        Self {
            sub_order_id: sub_order_id.into(),
            sku_id: None,
            title: title.into(),
            quantity,
        }
    }

    /// The same item with a SKU id.
    pub fn with_sku_id(mut self, sku_id: impl Into<String>) -> Self {
        self.sku_id = Some(sku_id.into());
        self
    }
}

/// The `data` of an `interception.requested` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct InterceptionRequested {
    /// The shop (merchant) the order belongs to.
    pub shop_id: String,
    /// The marketplace's order id (the main order).
    pub order_id: String,
    /// Shiphold's id of this interception; quote it in the results callback.
    pub interception_id: String,
    /// Who asked for the interception.
    pub requested_by: Actor,
    /// The items that must not ship.
    pub items: Vec<Item>,
    /// The text of the note Shiphold wrote into the order's seller memo.
    pub memo: String,
    /// The flag Shiphold set on the order (`none` when the shop configured none).
    pub flag: Flag,
}

/// The `data` of an `interception.released` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct InterceptionReleased {
    /// The shop (merchant) the order belongs to.
    pub shop_id: String,
    /// The marketplace's order id (the main order).
    pub order_id: String,
    /// The interception being released (the one named in the earlier `interception.requested`).
    pub interception_id: String,
    /// Who released it (today always a customer-service agent).
    pub released_by: Actor,
    /// The items that may ship again.
    pub items: Vec<Item>,
}

/// The typed payload of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `interception.requested`.
    InterceptionRequested(InterceptionRequested),
    /// `interception.released`.
    InterceptionReleased(InterceptionReleased),
}

impl Event {
    /// The message type of this event.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::InterceptionRequested(_) => MessageType::InterceptionRequested,
            Self::InterceptionReleased(_) => MessageType::InterceptionReleased,
        }
    }

    /// The shop named in the payload.
    pub fn shop_id(&self) -> &str {
        match self {
            Self::InterceptionRequested(d) => &d.shop_id,
            Self::InterceptionReleased(d) => &d.shop_id,
        }
    }

    /// The interception named in the payload.
    pub fn interception_id(&self) -> &str {
        match self {
            Self::InterceptionRequested(d) => &d.interception_id,
            Self::InterceptionReleased(d) => &d.interception_id,
        }
    }
}

/// A message Shiphold sends to an ERP: the envelope (`type`, `version`, `id`, `occurred_at`)
/// around a typed `data` payload.
///
/// It serialises to and from the wire envelope
/// `{"type": …, "version": …, "id": …, "occurred_at": …, "data": {…}}`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use shiphold_erp_adapter::{Actor, Event, Flag, InterceptionRequested, Item, Message};
///
/// let message = Message::new(
///     "msg_2f1c",
///     Utc.with_ymd_and_hms(2026, 11, 11, 1, 2, 3).unwrap(),
///     Event::InterceptionRequested(InterceptionRequested {
///         shop_id: "shop-1".into(),
///         order_id: "order-7".into(),
///         interception_id: "icp-3".into(),
///         requested_by: Actor::Buyer,
///         items: vec![Item::new("so-1", "Blue kettle", 1)],
///         memo: "Do not ship: intercepted".into(),
///         flag: Flag::Red,
///     }),
/// );
/// let json = serde_json::to_value(&message).unwrap();
/// assert_eq!(json["type"], "interception.requested");
/// assert_eq!(json["data"]["items"][0]["sub_order_id"], "so-1");
/// let back: Message = serde_json::from_value(json).unwrap();
/// assert_eq!(back, message);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawMessage")]
pub struct Message {
    /// The message id; equal to the `webhook-id` header and kept across redeliveries.
    pub id: String,
    /// The protocol version the message was written in, e.g. [`PROTOCOL_VERSION`].
    pub version: String,
    /// When the change happened in Shiphold (not when this delivery was attempted).
    pub occurred_at: DateTime<Utc>,
    /// The typed payload.
    pub event: Event,
}

impl Message {
    /// A message of the current [`PROTOCOL_VERSION`].
    pub fn new(id: impl Into<String>, occurred_at: DateTime<Utc>, event: Event) -> Self {
        Self {
            id: id.into(),
            version: PROTOCOL_VERSION.to_owned(),
            occurred_at,
            event,
        }
    }

    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        self.event.message_type()
    }

    /// The exact bytes to send (compact JSON). Sign these bytes, not a re-serialisation.
    pub fn to_body(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The envelope as it stands on the wire, before `data` is typed by `type`.
#[derive(Debug, Clone, Deserialize)]
struct RawMessage {
    #[serde(rename = "type")]
    message_type: String,
    version: String,
    id: String,
    occurred_at: DateTime<Utc>,
    data: serde_json::Value,
}

impl TryFrom<RawMessage> for Message {
    type Error = String;

    fn try_from(raw: RawMessage) -> Result<Self, Self::Error> {
        let event = match MessageType::parse(&raw.message_type) {
            Some(MessageType::InterceptionRequested) => Event::InterceptionRequested(
                serde_json::from_value(raw.data).map_err(|e| format!("data: {e}"))?,
            ),
            Some(MessageType::InterceptionReleased) => Event::InterceptionReleased(
                serde_json::from_value(raw.data).map_err(|e| format!("data: {e}"))?,
            ),
            None => return Err(format!("unknown message type `{}`", raw.message_type)),
        };
        Ok(Self {
            id: raw.id,
            version: raw.version,
            occurred_at: raw.occurred_at,
            event,
        })
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Written field by field (not through a JSON value) so the payload keeps the field
        // order of its struct, which makes bodies stable and readable.
        let mut s = serializer.serialize_struct("Message", 5)?;
        s.serialize_field("type", self.event.message_type().as_str())?;
        s.serialize_field("version", &self.version)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("occurred_at", &self.occurred_at)?;
        match &self.event {
            Event::InterceptionRequested(d) => s.serialize_field("data", d)?,
            Event::InterceptionReleased(d) => s.serialize_field("data", d)?,
        }
        s.end()
    }
}

/// What the ERP did with one intercepted item.
///
/// ```
/// use shiphold_erp_adapter::Outcome;
/// assert_eq!(serde_json::to_string(&Outcome::AlreadyShipped).unwrap(), "\"already_shipped\"");
/// assert_eq!("locked".parse::<Outcome>().unwrap(), Outcome::Locked);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// The item is held in the warehouse and will not ship.
    Locked,
    /// The ERP could not lock the item; `reason` says why.
    Failed,
    /// Too late: the item had already left the warehouse.
    AlreadyShipped,
}

impl Outcome {
    /// The wire name, e.g. `already_shipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locked => "locked",
            Self::Failed => "failed",
            Self::AlreadyShipped => "already_shipped",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`Outcome`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown outcome `{0}` (expected locked, failed or already_shipped)")]
pub struct UnknownOutcome(pub String);

impl std::str::FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "locked" => Ok(Self::Locked),
            "failed" => Ok(Self::Failed),
            "already_shipped" => Ok(Self::AlreadyShipped),
            other => Err(UnknownOutcome(other.to_owned())),
        }
    }
}

/// The result for one item, as an ERP reports it.
///
/// ```
/// use shiphold_erp_adapter::{ItemResult, Outcome};
/// let r = ItemResult::failed("so-2", "picked already");
/// assert_eq!(r.outcome, Outcome::Failed);
/// assert_eq!(
///     serde_json::to_string(&ItemResult::locked("so-1")).unwrap(),
///     r#"{"sub_order_id":"so-1","outcome":"locked"}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ItemResult {
    /// The sub-order the result is for.
    pub sub_order_id: String,
    /// What happened to it.
    pub outcome: Outcome,
    /// Why, in words for the merchant; expected with `failed`, optional otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ItemResult {
    /// A result with the given outcome and no reason.
    pub fn new(sub_order_id: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            sub_order_id: sub_order_id.into(),
            outcome,
            reason: None,
        }
    }

    /// `locked`.
    pub fn locked(sub_order_id: impl Into<String>) -> Self {
        Self::new(sub_order_id, Outcome::Locked)
    }

    /// `failed` with a reason.
    pub fn failed(sub_order_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::new(sub_order_id, Outcome::Failed)
        }
    }

    /// `already_shipped`.
    pub fn already_shipped(sub_order_id: impl Into<String>) -> Self {
        Self::new(sub_order_id, Outcome::AlreadyShipped)
    }
}

/// The optional body of an ERP's 2xx answer to an `interception.requested` delivery.
///
/// An empty body or `{}` means "accepted, results will come by callback"; that is
/// `results: None`. Items missing from a present list are also still pending.
///
/// ```
/// use shiphold_erp_adapter::DeliveryResponse;
/// let r: DeliveryResponse = serde_json::from_str("{}").unwrap();
/// assert!(r.results.is_none());
/// let r: DeliveryResponse =
///     serde_json::from_str(r#"{"results":[{"sub_order_id":"so-1","outcome":"locked"}]}"#).unwrap();
/// assert_eq!(r.results.unwrap().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DeliveryResponse {
    /// Results the ERP already knows, per item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<ItemResult>>,
}

/// The body of the results callback an ERP posts to
/// `POST {shiphold_base}/v1/erp/shops/{shop_id}/results`.
///
/// ```
/// use chrono::Utc;
/// use shiphold_erp_adapter::{ItemResult, ResultsCallback};
/// let cb = ResultsCallback::new("shop-1", "icp-3", vec![ItemResult::locked("so-1")], Utc::now());
/// assert_eq!(cb.results.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ResultsCallback {
    /// The shop; must equal the `{shop_id}` of the URL.
    pub shop_id: String,
    /// The interception the results are for (from the `interception.requested` message).
    pub interception_id: String,
    /// One result per item the ERP reports on.
    pub results: Vec<ItemResult>,
    /// When the ERP established the results.
    pub reported_at: DateTime<Utc>,
}

impl ResultsCallback {
    /// A callback body.
    pub fn new(
        shop_id: impl Into<String>,
        interception_id: impl Into<String>,
        results: Vec<ItemResult>,
        reported_at: DateTime<Utc>,
    ) -> Self {
        Self {
            shop_id: shop_id.into(),
            interception_id: interception_id.into(),
            results,
            reported_at,
        }
    }

    /// The exact bytes to send (compact JSON). Sign these bytes, not a re-serialisation.
    pub fn to_body(&self) -> Vec<u8> {
        // Plain structs of strings serialise infallibly.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// What Shiphold did with one result of a callback.
///
/// ```
/// use shiphold_erp_adapter::ResultStatus;
/// assert_eq!(serde_json::to_string(&ResultStatus::Unknown).unwrap(), "\"unknown\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ResultStatus {
    /// The result changed the item's interception state.
    Applied,
    /// The result was late or contradictory (for example `locked` after the interception was
    /// released, or a second different outcome): written to the item's history, state unchanged.
    Recorded,
    /// The interception has no such item: ignored.
    Unknown,
}

/// Shiphold's receipt for one result of a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ResultReceipt {
    /// The sub-order id as sent.
    pub sub_order_id: String,
    /// What Shiphold did with it.
    pub status: ResultStatus,
}

/// The 200 body of the callback endpoint.
///
/// ```
/// use shiphold_erp_adapter::CallbackReceipt;
/// let r: CallbackReceipt = serde_json::from_str(r#"{"replayed":true,"results":[]}"#).unwrap();
/// assert!(r.replayed);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CallbackReceipt {
    /// `true` when this `webhook-id` was received before: nothing was changed this time and
    /// `results` is empty.
    #[serde(default)]
    pub replayed: bool,
    /// One receipt per result of the callback, in the callback's order.
    #[serde(default)]
    pub results: Vec<ResultReceipt>,
}
