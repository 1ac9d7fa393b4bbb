//! A shop's interception settings and the three-step set-up: memo settings (memo text, flag,
//! terms), enable, and the optional advanced settings.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, ValidationError};
use crate::ids::BuyerId;

/// The version of the interception terms that a merchant accepts today. Accepting an older
/// version does not count once this changes.
pub const TERMS_VERSION: &str = "2026-11-01";

/// The marketplace's seller memo holds at most this many bytes; Shiphold's note must fit in it.
pub const MAX_MEMO_BYTES: usize = 1000;

/// The text that Shiphold writes on an intercepted order for the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MemoText(String);

impl MemoText {
    /// Parses memo text: required (not blank), at most [`MAX_MEMO_BYTES`] bytes, no control
    /// characters other than line breaks.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(
                FieldError::new("memo_text", "required", "memo text is required")
                    .zh("请填写备注内容"),
            );
        }
        if text.len() > MAX_MEMO_BYTES {
            return Err(FieldError::new(
                "memo_text",
                "too_long",
                format!(
                    "memo text must be at most {MAX_MEMO_BYTES} bytes, got {}",
                    text.len()
                ),
            )
            .zh(format!(
                "备注内容最多 {MAX_MEMO_BYTES} 字节,当前 {} 字节",
                text.len()
            )));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(FieldError::new(
                "memo_text",
                "invalid",
                "memo text may not contain control characters",
            )
            .zh("备注内容不能包含控制字符"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MemoText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The marketplace's seller-memo flags. `None` is the grey, unset flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// No flag (grey).
    #[default]
    None,
    /// Red.
    Red,
    /// Yellow.
    Yellow,
    /// Green.
    Green,
    /// Blue.
    Blue,
    /// Purple.
    Purple,
}

impl Flag {
    /// Every flag, in the marketplace's order.
    pub const ALL: [Flag; 6] = [
        Flag::None,
        Flag::Red,
        Flag::Yellow,
        Flag::Green,
        Flag::Blue,
        Flag::Purple,
    ];

    /// The flag's name as clients spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::None => "none",
            Flag::Red => "red",
            Flag::Yellow => "yellow",
            Flag::Green => "green",
            Flag::Blue => "blue",
            Flag::Purple => "purple",
        }
    }

    /// Parses a flag name (`grey` is accepted for `none`).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "none" | "grey" | "gray" => Ok(Flag::None),
            "red" => Ok(Flag::Red),
            "yellow" => Ok(Flag::Yellow),
            "green" => Ok(Flag::Green),
            "blue" => Ok(Flag::Blue),
            "purple" => Ok(Flag::Purple),
            other => Err(FieldError::new(
                "flag",
                "invalid",
                format!(
                    "unknown flag '{other}'; expected none, red, yellow, green, blue or purple"
                ),
            )
            .zh(format!(
                "未知的旗子“{other}”;应为 none、red、yellow、green、blue 或 purple"
            ))),
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who accepted the interception terms, which version, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsAcceptance {
    /// The version of the terms accepted.
    pub version: String,
    /// Who accepted them (an API key id or a person's name, as the edge records it).
    pub accepted_by: String,
    /// When.
    pub accepted_at: DateTime<Utc>,
}

/// How long an interception card's link stays valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct CardExpiry(i64);

impl CardExpiry {
    /// The default: 24 hours.
    pub const DEFAULT_SECONDS: i64 = 24 * 3600;
    /// The ceiling: 7 days.
    pub const MAX_SECONDS: i64 = 7 * 24 * 3600;
    /// The floor: 5 minutes (a buyer needs time to open the chat).
    pub const MIN_SECONDS: i64 = 5 * 60;

    /// Parses a card expiry in seconds.
    pub fn from_seconds(seconds: i64) -> Result<Self, FieldError> {
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&seconds) {
            return Err(FieldError::new(
                "card_expiry_seconds",
                "out_of_range",
                format!(
                    "card expiry must be between {} and {} seconds",
                    Self::MIN_SECONDS,
                    Self::MAX_SECONDS
                ),
            )
            .zh(format!(
                "卡片有效期应在 {} 到 {} 秒之间",
                Self::MIN_SECONDS,
                Self::MAX_SECONDS
            )));
        }
        Ok(Self(seconds))
    }

    /// The expiry in seconds.
    pub fn seconds(self) -> i64 {
        self.0
    }

    /// The expiry as a duration.
    pub fn duration(self) -> Duration {
        Duration::seconds(self.0)
    }
}

impl Default for CardExpiry {
    fn default() -> Self {
        Self(Self::DEFAULT_SECONDS)
    }
}

impl TryFrom<i64> for CardExpiry {
    type Error = String;
    fn try_from(seconds: i64) -> Result<Self, String> {
        Self::from_seconds(seconds).map_err(|e| e.message)
    }
}

impl From<CardExpiry> for i64 {
    fn from(value: CardExpiry) -> i64 {
        value.0
    }
}

/// The link to the merchant's ERP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErpLink {
    /// Where interception messages are delivered (checked by the edge: https, public address).
    pub endpoint: String,
    /// Whether the ERP locks orders and reports back. Only then is success told to the buyer.
    pub locking: bool,
    /// Whether messages are delivered. Switched off when the ERP answers 410 Gone.
    pub active: bool,
    /// Why the link was switched off, for the admin to see.
    pub disabled_reason: Option<String>,
}

/// How calls to the marketplace's open platform are signed (its `sign_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MarketplaceSignMethod {
    /// `md5`: upper-case hex MD5 of secret + parameters + secret.
    #[serde(rename = "md5")]
    Md5,
    /// `hmac`: HMAC-MD5 keyed with the secret.
    #[serde(rename = "hmac")]
    Hmac,
    /// `hmac-sha256`: HMAC-SHA256 keyed with the secret; the default.
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl MarketplaceSignMethod {
    /// Every method.
    pub const ALL: [Self; 3] = [Self::Md5, Self::Hmac, Self::HmacSha256];

    /// The method as the platform names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Hmac => "hmac",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    /// Parses `md5`, `hmac` or `hmac-sha256`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| {
                FieldError::new(
                    "sign_method",
                    "invalid_sign_method",
                    "sign_method must be md5, hmac or hmac-sha256",
                )
                .zh("sign_method 只能是 md5、hmac 或 hmac-sha256")
            })
    }
}

/// The link to the marketplace's open platform, through which Shiphold writes its memo and flag
/// on the marketplace order itself. The app secret and the seller's session are stored beside
/// the settings, never in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplaceLink {
    /// The platform's REST gateway (checked by the edge: https, public address).
    pub gateway: String,
    /// The application's key (`app_key`).
    pub app_key: String,
    /// How calls are signed.
    pub sign_method: MarketplaceSignMethod,
    /// Whether writes are sent. Switched off when the platform refuses the credentials.
    pub active: bool,
    /// Why the link was switched off, for the admin to see.
    pub disabled_reason: Option<String>,
}

/// The link to a Qimen (奇门) warehouse: on interception Shiphold holds the order's outbound
/// document there (`taobao.qimen.order.pending`, `actionType=pending`), and releases it
/// (`restore`) when nothing of the order is intercepted any more. A Qimen warehouse holds whole
/// documents, so intercepting some items of an order holds its whole parcel. The app secret is
/// stored beside the settings, never in them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QimenLink {
    /// Where calls are posted: the Qimen gateway, or a WMS that takes them directly (checked by
    /// the edge: https, public address).
    pub endpoint: String,
    /// The application's key (`app_key`).
    pub app_key: String,
    /// The merchant's id at the gateway (`customerId`).
    pub customer_id: String,
    /// The warehouse (`warehouseCode`).
    pub warehouse_code: String,
    /// The goods owner (`ownerCode`), when the warehouse needs one.
    pub owner_code: Option<String>,
    /// The kind of document held (`orderType`), `JYCK` (trade outbound) unless set.
    pub order_type: String,
    /// Whether calls are sent. Switched off when the warehouse refuses the link's credentials.
    pub active: bool,
    /// Why the link was switched off, for the admin to see.
    pub disabled_reason: Option<String>,
}

impl QimenLink {
    /// The document kind Shiphold holds unless told otherwise: a trade's outbound document.
    pub const DEFAULT_ORDER_TYPE: &'static str = "JYCK";
}

/// Memo write-backs to a marketplace without the open platform: each is POSTed, signed like
/// ERP messages (Standard Webhooks), to an endpoint of the merchant's, which writes it on the
/// marketplace order. The signing secret is stored beside the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplaceWebhookLink {
    /// Where write-backs are POSTed (checked by the edge: https, public address).
    pub endpoint: String,
    /// Whether write-backs are sent. Switched off when the endpoint answers 410 Gone.
    pub active: bool,
    /// Why the link was switched off, for the admin to see.
    pub disabled_reason: Option<String>,
}

/// Optional settings; none is required to enable the feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdvancedSettings {
    /// The ERP link, if an ERP is connected.
    pub erp: Option<ErpLink>,
    /// The marketplace link, if memos are written back to the marketplace order through the
    /// open platform.
    pub marketplace: Option<MarketplaceLink>,
    /// The marketplace webhook link, if memos are written back through an endpoint of the
    /// merchant's instead. At most one of the two is set.
    pub marketplace_webhook: Option<MarketplaceWebhookLink>,
    /// The Qimen warehouse link, if shipments are held at a Qimen WMS.
    pub qimen: Option<QimenLink>,
    /// How long a card's link stays valid.
    pub card_expiry: CardExpiry,
    /// Whether buyers may choose single items on a card; if not, a card intercepts the order.
    pub single_item_choice: bool,
    /// Test mode: cards and interceptions outside an event window, for test buyers only.
    pub test_mode: bool,
    /// The buyers that test mode accepts.
    pub test_buyers: Vec<BuyerId>,
}

impl Default for AdvancedSettings {
    fn default() -> Self {
        Self {
            erp: None,
            marketplace: None,
            marketplace_webhook: None,
            qimen: None,
            card_expiry: CardExpiry::default(),
            single_item_choice: true,
            test_mode: false,
            test_buyers: Vec::new(),
        }
    }
}

impl AdvancedSettings {
    /// The most test buyers a shop may list.
    pub const MAX_TEST_BUYERS: usize = 100;

    /// Checks the parts that can be wrong together.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::empty();
        if self.test_buyers.len() > Self::MAX_TEST_BUYERS {
            errors.push(
                FieldError::new(
                    "test_buyers",
                    "too_many",
                    format!("at most {} test buyers", Self::MAX_TEST_BUYERS),
                )
                .zh(format!("测试买家最多 {} 个", Self::MAX_TEST_BUYERS)),
            );
        }
        errors.into_result()
    }

    /// Whether ERP results can ever make the buyer hear "stopped".
    pub fn erp_locking(&self) -> bool {
        self.erp.as_ref().is_some_and(|erp| erp.locking)
    }

    /// Whether memos are written back to the marketplace order (by either link, switched off or
    /// not: a write waits, held, while its link is off).
    pub fn writes_memos_back(&self) -> bool {
        self.marketplace.is_some() || self.marketplace_webhook.is_some()
    }

    /// Whether a lock report can make the buyer hear "stopped": the ERP's with locking on, or a
    /// Qimen warehouse's answer (a warehouse that holds the parcel has stopped it).
    pub fn reports_locks(&self) -> bool {
        self.erp_locking() || self.qimen.is_some()
    }

    /// The ERP link, when messages can be delivered to it now.
    pub fn active_erp(&self) -> Option<&ErpLink> {
        self.erp.as_ref().filter(|erp| erp.active)
    }
}

/// A precondition of enabling that is not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// No memo text is set.
    MemoText,
    /// The current terms have not been accepted.
    TermsAccepted,
}

impl Missing {
    /// The settings field a client must set.
    pub fn field(self) -> &'static str {
        match self {
            Missing::MemoText => "memo_text",
            Missing::TermsAccepted => "terms_accepted",
        }
    }

    /// Why it is needed, for people.
    pub fn message(self) -> &'static str {
        match self {
            Missing::MemoText => "set the memo text that is written on intercepted orders",
            Missing::TermsAccepted => "accept the interception terms",
        }
    }

    /// Why it is needed, in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            Missing::MemoText => "请设置写在被拦截订单上的备注内容",
            Missing::TermsAccepted => "请同意《拦截发货条款》",
        }
    }
}

/// Enabling was refused; every missing precondition is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interception cannot be enabled yet: {}", .missing.iter().map(|m| m.field()).collect::<Vec<_>>().join(", "))]
pub struct EnableError {
    /// What is missing, memo text first.
    pub missing: Vec<Missing>,
}

/// A shop's interception settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InterceptionSettings {
    /// Step 1: the memo text (required before enabling).
    pub memo_text: Option<MemoText>,
    /// Step 1: the flag put on intercepted orders (optional).
    pub flag: Flag,
    /// Step 1: acceptance of the terms (required before enabling).
    pub terms: Option<TermsAcceptance>,
    /// Step 2: whether the feature is live.
    pub enabled: bool,
    /// Step 3: advanced settings.
    pub advanced: AdvancedSettings,
}

impl InterceptionSettings {
    /// What still stops the feature from being enabled.
    pub fn missing_for_enable(&self) -> Vec<Missing> {
        let mut missing = Vec::new();
        if self.memo_text.is_none() {
            missing.push(Missing::MemoText);
        }
        if self
            .terms
            .as_ref()
            .is_none_or(|t| t.version != TERMS_VERSION)
        {
            missing.push(Missing::TermsAccepted);
        }
        missing
    }

    /// Step 2: enables the feature, or lists every missing precondition.
    pub fn enable(&mut self) -> Result<(), EnableError> {
        let missing = self.missing_for_enable();
        if !missing.is_empty() {
            return Err(EnableError { missing });
        }
        self.enabled = true;
        Ok(())
    }

    /// Switches the feature off. Existing interceptions stay as they are.
    pub fn disable(&mut self) {
        self.enabled = false;
    }

    /// Step 1: sets the memo settings. Clearing the memo text of an enabled shop is refused,
    /// because the base function (writing the memo) would have nothing to write.
    pub fn set_memo(
        &mut self,
        memo_text: Option<MemoText>,
        flag: Flag,
        terms: Option<TermsAcceptance>,
    ) -> Result<(), EnableError> {
        let mut next = self.clone();
        next.memo_text = memo_text;
        next.flag = flag;
        if terms.is_some() {
            next.terms = terms;
        }
        if next.enabled {
            let missing = next.missing_for_enable();
            if !missing.is_empty() {
                return Err(EnableError { missing });
            }
        }
        *self = next;
        Ok(())
    }

    /// Whether `buyer` may receive cards outside an event window (test mode).
    pub fn is_test_buyer(&self, buyer: &BuyerId) -> bool {
        self.advanced.test_mode && self.advanced.test_buyers.contains(buyer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted() -> TermsAcceptance {
        TermsAcceptance {
            version: TERMS_VERSION.into(),
            accepted_by: "key_admin".into(),
            accepted_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn memo_text_is_required_and_bounded() {
        assert_eq!(MemoText::parse("  ").unwrap_err().code, "required");
        let long = "拦".repeat(334); // 1002 bytes
        let err = MemoText::parse(&long).unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("memo_text", "too_long"));
        assert!(MemoText::parse(&"拦".repeat(333)).is_ok());
        assert_eq!(MemoText::parse("a\u{7}b").unwrap_err().code, "invalid");
        assert_eq!(
            MemoText::parse(" 拦截，不要发货 ").map(|m| m.0),
            Ok("拦截，不要发货".into())
        );
    }

    #[test]
    fn enabling_lists_every_missing_precondition() {
        let mut settings = InterceptionSettings::default();
        let err = settings.enable().unwrap_err();
        assert_eq!(err.missing, vec![Missing::MemoText, Missing::TermsAccepted]);
        assert!(!settings.enabled);

        settings.memo_text = MemoText::parse("do not ship").ok();
        assert_eq!(
            settings.enable().unwrap_err().missing,
            vec![Missing::TermsAccepted]
        );

        settings.terms = Some(TermsAcceptance {
            version: "2020-01-01".into(),
            ..accepted()
        });
        assert_eq!(
            settings.enable().unwrap_err().missing,
            vec![Missing::TermsAccepted]
        );

        settings.terms = Some(accepted());
        assert!(settings.enable().is_ok());
        assert!(settings.enabled);
    }

    #[test]
    fn an_enabled_shop_cannot_clear_its_memo() {
        let mut settings = InterceptionSettings::default();
        settings
            .set_memo(MemoText::parse("stop").ok(), Flag::Red, Some(accepted()))
            .unwrap();
        settings.enable().unwrap();
        let err = settings.set_memo(None, Flag::Red, None).unwrap_err();
        assert_eq!(err.missing, vec![Missing::MemoText]);
        assert!(settings.memo_text.is_some());
        // The flag stays optional.
        settings
            .set_memo(MemoText::parse("stop").ok(), Flag::None, None)
            .unwrap();
        assert_eq!(settings.flag, Flag::None);
    }

    #[test]
    fn flags_parse_by_name() {
        for flag in Flag::ALL {
            assert_eq!(Flag::parse(flag.as_str()), Ok(flag));
        }
        assert_eq!(Flag::parse("grey"), Ok(Flag::None));
        assert_eq!(Flag::parse("orange").unwrap_err().field, "flag");
    }

    #[test]
    fn card_expiry_has_a_floor_and_a_ceiling() {
        assert_eq!(CardExpiry::default().seconds(), 86_400);
        assert!(CardExpiry::from_seconds(7 * 86_400).is_ok());
        assert!(CardExpiry::from_seconds(7 * 86_400 + 1).is_err());
        assert!(CardExpiry::from_seconds(10).is_err());
    }

    #[test]
    fn test_buyers_count_only_in_test_mode() {
        let buyer = BuyerId::parse("tester").unwrap();
        let mut settings = InterceptionSettings::default();
        settings.advanced.test_buyers.push(buyer.clone());
        assert!(!settings.is_test_buyer(&buyer));
        settings.advanced.test_mode = true;
        assert!(settings.is_test_buyer(&buyer));
    }
}
