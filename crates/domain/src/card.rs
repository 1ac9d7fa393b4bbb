//! Interception cards (method 1): sent to a buyer for one order, valid until they expire or
//! customer service revokes them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BuyerId, CardId, OrderId};
use crate::settings::CardExpiry;

/// An interception card. The token that opens it is not part of the model: only its hash is
/// stored, by the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// The card's id.
    pub id: CardId,
    /// The order it is for.
    pub order_id: OrderId,
    /// The buyer it was sent to.
    pub buyer_id: BuyerId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its link stops working.
    pub expires_at: DateTime<Utc>,
    /// When customer service revoked it, if it did.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a buyer may do with a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAccess {
    /// The card can be opened and submitted.
    Usable,
    /// The card expired after the buyer submitted: its status can be read, nothing submitted.
    StatusOnly,
}

/// Why a card cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The card's link has expired.
    #[error("the card expired")]
    Expired,
    /// Customer service revoked the card.
    #[error("the card was revoked")]
    Revoked,
}

impl Card {
    /// A new card for `order_id`'s buyer, expiring after `expiry`.
    pub fn new(
        id: CardId,
        order_id: OrderId,
        buyer_id: BuyerId,
        now: DateTime<Utc>,
        expiry: CardExpiry,
    ) -> Self {
        Self {
            id,
            order_id,
            buyer_id,
            created_at: now,
            expires_at: now + expiry.duration(),
            revoked_at: None,
        }
    }

    /// Whether the card can be opened and submitted at `now`.
    pub fn check_usable(&self, now: DateTime<Utc>) -> Result<(), CardError> {
        if self.revoked_at.is_some() {
            return Err(CardError::Revoked);
        }
        if now >= self.expires_at {
            return Err(CardError::Expired);
        }
        Ok(())
    }

    /// What a buyer may still do with the card at `now`: everything while it is usable; after it
    /// expired, only read its status, for [`Card::STATUS_KEPT`], and only if the buyer submitted
    /// (so that the later "stopped" message, or a failure, is not lost when refunds reopen). A
    /// revoked card is gone.
    pub fn access(&self, now: DateTime<Utc>, submitted: bool) -> Result<CardAccess, CardError> {
        match self.check_usable(now) {
            Ok(()) => Ok(CardAccess::Usable),
            Err(CardError::Expired) if submitted && now < self.expires_at + Self::STATUS_KEPT => {
                Ok(CardAccess::StatusOnly)
            }
            Err(error) => Err(error),
        }
    }

    /// How long after its expiry a submitted card's status stays readable: longer than any event
    /// window lasts until refunds reopen.
    pub const STATUS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);

    /// Revokes the card; revoking twice keeps the first time.
    pub fn revoke(&mut self, now: DateTime<Utc>) {
        self.revoked_at.get_or_insert(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn an_expired_card_keeps_its_status_readable_for_a_buyer_who_submitted() {
        let now = DateTime::from_timestamp(1_794_326_400, 0).unwrap_or_default();
        let mut card = Card {
            id: CardId::generate(),
            order_id: OrderId::parse("o1").unwrap(),
            buyer_id: BuyerId::parse("b1").unwrap(),
            created_at: now,
            expires_at: now + Duration::hours(1),
            revoked_at: None,
        };
        assert_eq!(card.access(now, false), Ok(CardAccess::Usable));
        let later = now + Duration::hours(2);
        assert_eq!(card.access(later, false), Err(CardError::Expired));
        assert_eq!(card.access(later, true), Ok(CardAccess::StatusOnly));
        let gone = card.expires_at + Card::STATUS_KEPT;
        assert_eq!(card.access(gone, true), Err(CardError::Expired));
        card.revoke(later);
        assert_eq!(card.access(later, true), Err(CardError::Revoked));
    }

    #[test]
    fn a_card_expires_and_can_be_revoked() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let mut card = Card::new(
            CardId::generate(),
            OrderId::parse("o1").unwrap(),
            BuyerId::parse("b1").unwrap(),
            now,
            CardExpiry::default(),
        );
        assert_eq!(card.check_usable(now), Ok(()));
        assert_eq!(
            card.check_usable(now + Duration::hours(24)),
            Err(CardError::Expired)
        );
        card.revoke(now + Duration::minutes(1));
        card.revoke(now + Duration::minutes(2));
        assert_eq!(card.revoked_at, Some(now + Duration::minutes(1)));
        assert_eq!(card.check_usable(now), Err(CardError::Revoked));
    }
}
