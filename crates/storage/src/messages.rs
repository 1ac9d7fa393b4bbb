//! Buyer messages: what was said to a buyer about an order, and whether it was delivered.
//! The built-in inbox channel reads them back from here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::{BuyerId, InterceptionId, OrderId, ShopId};

use crate::error::StoreError;
use crate::page::{from_ms, from_ms_opt, ms};
use crate::parse_id;
use crate::schema::messages;
use crate::store::Tx;

/// The channel a buyer message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageChannel {
    /// The platform's chat gateway, through the outbox.
    ChatGateway,
    /// The built-in inbox the card page shows.
    Inbox,
}

impl MessageChannel {
    /// The channel as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageChannel::ChatGateway => "chat_gateway",
            MessageChannel::Inbox => "inbox",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "chat_gateway" => Ok(MessageChannel::ChatGateway),
            "inbox" => Ok(MessageChannel::Inbox),
            other => Err(StoreError::corrupt(format!("messages.channel: '{other}'"))),
        }
    }
}

/// Where a buyer message's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on.
    Dead,
}

impl MessageStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Dead => "dead",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "pending" => Ok(MessageStatus::Pending),
            "delivered" => Ok(MessageStatus::Delivered),
            "dead" => Ok(MessageStatus::Dead),
            other => Err(StoreError::corrupt(format!("messages.status: '{other}'"))),
        }
    }
}

/// One message to a buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The message's id (made by the caller, unique within the shop).
    pub id: String,
    /// The shop.
    pub shop_id: ShopId,
    /// The order it is about.
    pub order_id: OrderId,
    /// The buyer it is for.
    pub buyer_id: BuyerId,
    /// The interception it is about, if any.
    pub interception_id: Option<InterceptionId>,
    /// Which template (`card`, `acknowledgement`, `success`, `refund_reminder`).
    pub kind: String,
    /// The language it was rendered in (`zh-CN`, `en`).
    pub locale: String,
    /// The channel it goes out on.
    pub channel: MessageChannel,
    /// The rendered text.
    pub text: String,
    /// The card link it carries, if any.
    pub link: Option<String>,
    /// Where its delivery stands.
    pub status: MessageStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
struct MessageRow {
    shop_id: String,
    id: String,
    order_id: String,
    buyer_id: String,
    interception_id: Option<String>,
    kind: String,
    locale: String,
    channel: String,
    text: String,
    link: Option<String>,
    status: String,
    created_at: i64,
    delivered_at: Option<i64>,
    last_error: Option<String>,
}

impl MessageRow {
    fn into_record(self) -> Result<MessageRecord, StoreError> {
        Ok(MessageRecord {
            id: self.id,
            shop_id: parse_id(&self.shop_id, "messages.shop_id")?,
            order_id: parse_id(&self.order_id, "messages.order_id")?,
            buyer_id: parse_id(&self.buyer_id, "messages.buyer_id")?,
            interception_id: self
                .interception_id
                .as_deref()
                .map(|id| parse_id(id, "messages.interception_id"))
                .transpose()?,
            kind: self.kind,
            locale: self.locale,
            channel: MessageChannel::parse(&self.channel)?,
            text: self.text,
            link: self.link,
            status: MessageStatus::parse(&self.status)?,
            created_at: from_ms(self.created_at, "messages.created_at")?,
            delivered_at: from_ms_opt(self.delivered_at, "messages.delivered_at")?,
            last_error: self.last_error,
        })
    }
}

impl Tx<'_> {
    /// Stores a message. `Conflict` if the shop already has one with this id.
    pub fn insert_message(&mut self, message: &MessageRecord) -> Result<(), StoreError> {
        diesel::insert_into(messages::table)
            .values(MessageRow {
                shop_id: message.shop_id.as_str().to_owned(),
                id: message.id.clone(),
                order_id: message.order_id.as_str().to_owned(),
                buyer_id: message.buyer_id.as_str().to_owned(),
                interception_id: message
                    .interception_id
                    .as_ref()
                    .map(|i| i.as_str().to_owned()),
                kind: message.kind.clone(),
                locale: message.locale.clone(),
                channel: message.channel.as_str().to_owned(),
                text: message.text.clone(),
                link: message.link.clone(),
                status: message.status.as_str().to_owned(),
                created_at: ms(message.created_at),
                delivered_at: message.delivered_at.map(ms),
                last_error: message.last_error.clone(),
            })
            .execute(self.db())?;
        Ok(())
    }

    /// One message.
    pub fn message(
        &mut self,
        shop: &ShopId,
        id: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        messages::table
            .find((shop.as_str(), id))
            .select(MessageRow::as_select())
            .first(self.db())
            .optional()?
            .map(MessageRow::into_record)
            .transpose()
    }

    /// Records a delivery outcome: the status, when it was delivered and the last error.
    /// `false` if there is no such message.
    pub fn set_message_status(
        &mut self,
        shop: &ShopId,
        id: &str,
        status: MessageStatus,
        delivered_at: Option<DateTime<Utc>>,
        last_error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(messages::table.find((shop.as_str(), id)))
            .set((
                messages::status.eq(status.as_str()),
                messages::delivered_at.eq(delivered_at.map(ms)),
                messages::last_error.eq(last_error),
            ))
            .execute(self.db())?;
        Ok(updated > 0)
    }

    /// The order's messages, oldest first.
    pub fn messages_for_order(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        messages::table
            .filter(messages::shop_id.eq(shop.as_str()))
            .filter(messages::order_id.eq(order.as_str()))
            .order((messages::created_at.asc(), messages::id.asc()))
            .select(MessageRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(MessageRow::into_record)
            .collect()
    }

    /// The messages of one order for one buyer (the inbox a card shows), oldest first.
    pub fn messages_for_buyer(
        &mut self,
        shop: &ShopId,
        order: &OrderId,
        buyer: &BuyerId,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        messages::table
            .filter(messages::shop_id.eq(shop.as_str()))
            .filter(messages::order_id.eq(order.as_str()))
            .filter(messages::buyer_id.eq(buyer.as_str()))
            .order((messages::created_at.asc(), messages::id.asc()))
            .select(MessageRow::as_select())
            .load(self.db())?
            .into_iter()
            .map(MessageRow::into_record)
            .collect()
    }
}
