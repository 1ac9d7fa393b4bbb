//! The body of `taobao.qimen.order.pending`: which document to hold (`pending`) or release
//! (`restore`), written as the `<request>` XML the WMS reads, and read back from it (for the
//! simulator, and for a WMS that reuses this crate).
//!
//! Fields, which of them are required, and the order-type codes follow the published API page
//! "taobao.qimen.order.pending (单据挂起(恢复)接口)" in Alibaba's document centre, category
//! 奇门仓储API (<http://jaq-doc.alibaba.com/docs/api.htm?apiId=27276>): `actionType`,
//! `warehouseCode` and `orderCode` are required; `ownerCode`, `orderId`, `orderType`, `reason`
//! and `extendProps` are optional.

use crate::xml::{self, DECLARATION, XmlError, is_xml_char, push_element};
use std::collections::BTreeMap;

/// The `Content-Type` of requests and answers. The official Qimen SDKs send
/// `text/xml;charset=utf-8` (`Constants.QM_CONTENT_TYPE` of the Taobao Java and .NET SDKs).
pub const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// The document element of a request body (`Constants.QM_ROOT_TAG` of the SDKs).
pub const REQUEST_ROOT: &str = "request";

/// What the call asks the warehouse to do with the document (`actionType`).
///
/// ```
/// use shiphold_qimen_adapter::Action;
/// assert_eq!(Action::Pending.as_str(), "pending");
/// assert_eq!(Action::parse("restore"), Some(Action::Restore));
/// assert_eq!(Action::parse("close"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `pending` (挂起): hold the document, so the warehouse does not ship it.
    Pending,
    /// `restore` (恢复): release a held document, so it goes on being worked.
    Restore,
}

impl Action {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Restore => "restore",
        }
    }

    /// The action with this wire value (exact, lower case as documented).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "restore" => Some(Self::Restore),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of document (`orderType`). The named variants are the codes the API page lists for
/// this call; [`OrderType::Other`] carries any other code a warehouse uses, such as the ones
/// `taobao.qimen.order.cancel` adds (`SCRK`, `THRK`, `CGTH`…).
///
/// ```
/// use shiphold_qimen_adapter::OrderType;
/// assert_eq!(OrderType::TradeOutbound.code(), "JYCK");
/// assert_eq!(OrderType::from_code("XTRK"), OrderType::SalesReturnInbound);
/// assert_eq!(OrderType::from_code("CGTH"), OrderType::Other("CGTH".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderType {
    /// `JYCK` 一般交易出库单: the outbound document of a trade, which Shiphold holds.
    TradeOutbound,
    /// `HHCK` 换货出库: outbound for an exchange.
    ExchangeOutbound,
    /// `BFCK` 补发出库: outbound of a re-shipment.
    ReshipmentOutbound,
    /// `PTCK` 普通出库单: ordinary outbound.
    GeneralOutbound,
    /// `DBCK` 调拨出库: transfer outbound.
    TransferOutbound,
    /// `QTCK` 其他出库: other outbound.
    OtherOutbound,
    /// `B2BRK` B2B入库: B2B inbound.
    B2bInbound,
    /// `B2BCK` B2B出库: B2B outbound.
    B2bOutbound,
    /// `CGRK` 采购入库: purchase inbound.
    PurchaseInbound,
    /// `DBRK` 调拨入库: transfer inbound.
    TransferInbound,
    /// `QTRK` 其他入库: other inbound.
    OtherInbound,
    /// `XTRK` 销退入库: sales-return inbound.
    SalesReturnInbound,
    /// `HHRK` 换货入库: exchange inbound.
    ExchangeInbound,
    /// `CNJG` 仓内加工单: in-warehouse processing.
    Processing,
    /// Any other code, sent as given. Build it with [`OrderType::from_code`], which maps the
    /// listed codes to their variants.
    Other(String),
}

impl OrderType {
    const NAMED: [(&'static str, OrderType); 14] = [
        ("JYCK", Self::TradeOutbound),
        ("HHCK", Self::ExchangeOutbound),
        ("BFCK", Self::ReshipmentOutbound),
        ("PTCK", Self::GeneralOutbound),
        ("DBCK", Self::TransferOutbound),
        ("QTCK", Self::OtherOutbound),
        ("B2BRK", Self::B2bInbound),
        ("B2BCK", Self::B2bOutbound),
        ("CGRK", Self::PurchaseInbound),
        ("DBRK", Self::TransferInbound),
        ("QTRK", Self::OtherInbound),
        ("XTRK", Self::SalesReturnInbound),
        ("HHRK", Self::ExchangeInbound),
        ("CNJG", Self::Processing),
    ];

    /// The wire code.
    pub fn code(&self) -> &str {
        if let Self::Other(code) = self {
            return code;
        }
        Self::NAMED
            .iter()
            .find(|(_, t)| t == self)
            .map_or("", |(code, _)| code)
    }

    /// The order type of a wire code; codes are case-sensitive, as documented (upper case).
    pub fn from_code(code: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| Self::Other(code.to_owned()), |(_, t)| t.clone())
    }
}

impl std::fmt::Display for OrderType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One `taobao.qimen.order.pending` call: hold or release one document of one warehouse.
///
/// An optional field set to an empty string is left out of the XML, and an empty element is
/// read as absent: the protocol does not tell "empty" from "not given" (its signing rule drops
/// empty parameters the same way).
///
/// ```
/// use shiphold_qimen_adapter::{OrderType, PendingRequest};
/// let request = PendingRequest::pending("WH-1", "SO-1")
///     .with_owner_code("OWNER-1")
///     .with_order_type(OrderType::TradeOutbound)
///     .with_reason("buyer asked to stop the shipment");
/// let xml = request.to_xml().unwrap();
/// assert!(xml.starts_with("<?xml"));
/// assert!(xml.contains("<actionType>pending</actionType>"));
/// assert_eq!(PendingRequest::from_xml(xml.as_bytes()).unwrap(), request);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// `actionType`, required.
    pub action: Action,
    /// `warehouseCode`, required: the warehouse's code (the API page says `OTHER` where the
    /// ERP does not choose the warehouse, as in 统仓统配).
    pub warehouse_code: String,
    /// `ownerCode`: the goods owner's code at the warehouse.
    pub owner_code: Option<String>,
    /// `orderCode`, required: the document's code as the ERP created it (for Shiphold, the
    /// outbound document of the paid order).
    pub order_code: String,
    /// `orderId`: the warehouse system's own code of the document, when known.
    pub order_id: Option<String>,
    /// `orderType`: the kind of document.
    pub order_type: Option<OrderType>,
    /// `reason`: why it is held or released (挂起/恢复原因), shown to warehouse staff.
    pub reason: Option<String>,
    /// `extendProps`: extra key/value pairs some warehouses agree on with the ERP.
    pub extend_props: BTreeMap<String, String>,
}

/// Why a request cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    /// A required field is empty or only whitespace.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// A field holds a character XML 1.0 cannot carry (a control character such as U+0000).
    #[error("`{0}` holds a character XML cannot carry")]
    IllegalCharacter(String),
    /// An `extendProps` key is not a plain element name (ASCII letter or `_` first, then
    /// letters, digits, `_`, `-` or `.`).
    #[error("`extendProps` key `{0}` is not a plain XML element name")]
    BadPropName(String),
}

/// Why a received body is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseRequestError {
    /// Not the XML document expected.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A required element is absent or empty.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// `actionType` is neither `pending` nor `restore`.
    #[error("unknown actionType `{0}`")]
    UnknownAction(String),
    /// An `extendProps` key appears twice.
    #[error("`extendProps` key `{0}` appears more than once")]
    DuplicateProp(String),
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn checked<'a>(name: &str, value: &'a str) -> Result<&'a str, InvalidRequest> {
    if value.chars().all(is_xml_char) {
        Ok(value)
    } else {
        Err(InvalidRequest::IllegalCharacter(name.to_owned()))
    }
}

fn required<'a>(name: &'static str, value: &'a str) -> Result<&'a str, InvalidRequest> {
    if value.trim().is_empty() {
        return Err(InvalidRequest::Missing(name));
    }
    checked(name, value)
}

impl PendingRequest {
    /// A request to hold (`pending`) a document.
    pub fn pending(warehouse_code: impl Into<String>, order_code: impl Into<String>) -> Self {
        Self::new(Action::Pending, warehouse_code, order_code)
    }

    /// A request to release (`restore`) a held document.
    pub fn restore(warehouse_code: impl Into<String>, order_code: impl Into<String>) -> Self {
        Self::new(Action::Restore, warehouse_code, order_code)
    }

    /// A request with only the required fields.
    pub fn new(
        action: Action,
        warehouse_code: impl Into<String>,
        order_code: impl Into<String>,
    ) -> Self {
        Self {
            action,
            warehouse_code: warehouse_code.into(),
            owner_code: None,
            order_code: order_code.into(),
            order_id: None,
            order_type: None,
            reason: None,
            extend_props: BTreeMap::new(),
        }
    }

    /// With `ownerCode`.
    pub fn with_owner_code(mut self, owner_code: impl Into<String>) -> Self {
        self.owner_code = Some(owner_code.into());
        self
    }

    /// With `orderId`, the warehouse's own document code.
    pub fn with_order_id(mut self, order_id: impl Into<String>) -> Self {
        self.order_id = Some(order_id.into());
        self
    }

    /// With `orderType`.
    pub fn with_order_type(mut self, order_type: OrderType) -> Self {
        self.order_type = Some(order_type);
        self
    }

    /// With `reason`.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// With one more `extendProps` entry.
    pub fn with_extend_prop(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extend_props.insert(key.into(), value.into());
        self
    }

    /// The body: an XML declaration and the `<request>` element, UTF-8. Sign exactly these
    /// bytes and send exactly these bytes.
    ///
    /// ```
    /// use shiphold_qimen_adapter::{InvalidRequest, PendingRequest};
    /// let xml = PendingRequest::restore("WH-1", "SO-1").to_xml().unwrap();
    /// assert_eq!(xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><actionType>restore</actionType>\
    ///     <warehouseCode>WH-1</warehouseCode><orderCode>SO-1</orderCode></request>");
    /// assert_eq!(PendingRequest::restore(" ", "SO-1").to_xml(), Err(InvalidRequest::Missing("warehouseCode")));
    /// ```
    pub fn to_xml(&self) -> Result<String, InvalidRequest> {
        let mut out = String::with_capacity(256);
        out.push_str(DECLARATION);
        out.push_str("<request>");
        push_element(&mut out, "actionType", self.action.as_str());
        push_element(
            &mut out,
            "warehouseCode",
            required("warehouseCode", &self.warehouse_code)?,
        );
        if let Some(owner) = non_empty(&self.owner_code) {
            push_element(&mut out, "ownerCode", checked("ownerCode", owner)?);
        }
        push_element(
            &mut out,
            "orderCode",
            required("orderCode", &self.order_code)?,
        );
        if let Some(id) = non_empty(&self.order_id) {
            push_element(&mut out, "orderId", checked("orderId", id)?);
        }
        if let Some(order_type) = &self.order_type {
            let code = order_type.code();
            if !code.is_empty() {
                push_element(&mut out, "orderType", checked("orderType", code)?);
            }
        }
        if let Some(reason) = non_empty(&self.reason) {
            push_element(&mut out, "reason", checked("reason", reason)?);
        }
        if !self.extend_props.is_empty() {
            out.push_str("<extendProps>");
            for (key, value) in &self.extend_props {
                if !is_plain_name(key) {
                    return Err(InvalidRequest::BadPropName(key.clone()));
                }
                push_element(&mut out, key, checked(key, value)?);
            }
            out.push_str("</extendProps>");
        }
        out.push_str("</request>");
        Ok(out)
    }

    /// Reads a received body. Unknown elements are ignored; `actionType`, `warehouseCode`
    /// and `orderCode` must be present and not empty.
    ///
    /// ```
    /// use shiphold_qimen_adapter::{Action, PendingRequest};
    /// let body = "<request>\n  <actionType>pending</actionType>\n  <warehouseCode>W1</warehouseCode>\n  \
    ///     <orderCode>O1</orderCode>\n  <newField>ignored</newField>\n  \
    ///     <extendProps><channel>tmall</channel></extendProps>\n</request>";
    /// let request = PendingRequest::from_xml(body.as_bytes()).unwrap();
    /// assert_eq!(request.action, Action::Pending);
    /// assert_eq!(request.extend_props["channel"], "tmall");
    /// ```
    pub fn from_xml(body: &[u8]) -> Result<Self, ParseRequestError> {
        let mut doc = xml::read_flat(body, REQUEST_ROOT)?;
        let mut take = |name: &'static str| doc.fields.remove(name).filter(|v| !v.is_empty());
        let action = take("actionType").ok_or(ParseRequestError::Missing("actionType"))?;
        let action = Action::parse(&action).ok_or(ParseRequestError::UnknownAction(action))?;
        let warehouse_code =
            take("warehouseCode").ok_or(ParseRequestError::Missing("warehouseCode"))?;
        let order_code = take("orderCode").ok_or(ParseRequestError::Missing("orderCode"))?;
        let owner_code = take("ownerCode");
        let order_id = take("orderId");
        let order_type = take("orderType").map(|code| OrderType::from_code(&code));
        let reason = take("reason");
        let mut extend_props = BTreeMap::new();
        for (key, value) in doc.groups.remove("extendProps").unwrap_or_default() {
            if extend_props.insert(key.clone(), value).is_some() {
                return Err(ParseRequestError::DuplicateProp(key));
            }
        }
        Ok(Self {
            action,
            warehouse_code,
            owner_code,
            order_code,
            order_id,
            order_type,
            reason,
            extend_props,
        })
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> PendingRequest {
        PendingRequest::pending("WH-HZ-01", "SO-20261111-0001")
            .with_owner_code("OWNER-7")
            .with_order_id("WMS-889")
            .with_order_type(OrderType::TradeOutbound)
            .with_reason("拦截发货")
            .with_extend_prop("source", "shiphold")
    }

    #[test]
    fn the_body_has_the_documented_elements_in_the_documented_order() {
        assert_eq!(
            full().to_xml().unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><request>\
             <actionType>pending</actionType><warehouseCode>WH-HZ-01</warehouseCode>\
             <ownerCode>OWNER-7</ownerCode><orderCode>SO-20261111-0001</orderCode>\
             <orderId>WMS-889</orderId><orderType>JYCK</orderType><reason>拦截发货</reason>\
             <extendProps><source>shiphold</source></extendProps></request>"
        );
    }

    #[test]
    fn special_characters_and_chinese_text_are_escaped_and_read_back() {
        let request = full().with_reason("<&>\"' 买家要求拦截 & 退款");
        let xml = request.to_xml().unwrap();
        assert!(
            xml.contains("<reason>&lt;&amp;&gt;&quot;&apos; 买家要求拦截 &amp; 退款</reason>"),
            "{xml}"
        );
        assert_eq!(PendingRequest::from_xml(xml.as_bytes()).unwrap(), request);
        // Markup inside a value stays text: it cannot add or replace elements.
        let sneaky = PendingRequest::pending("W", "O</orderCode><orderCode>X");
        let xml = sneaky.to_xml().unwrap();
        assert_eq!(
            PendingRequest::from_xml(xml.as_bytes()).unwrap().order_code,
            "O</orderCode><orderCode>X"
        );
    }

    #[test]
    fn invalid_requests_are_refused_before_anything_is_sent() {
        assert_eq!(
            PendingRequest::pending("W", "").to_xml(),
            Err(InvalidRequest::Missing("orderCode"))
        );
        assert_eq!(
            full().with_reason("bell \u{7}").to_xml(),
            Err(InvalidRequest::IllegalCharacter("reason".into()))
        );
        assert_eq!(
            full().with_extend_prop("1x", "v").to_xml(),
            Err(InvalidRequest::BadPropName("1x".into()))
        );
        assert_eq!(
            full().with_extend_prop("a b", "v").to_xml(),
            Err(InvalidRequest::BadPropName("a b".into()))
        );
    }

    #[test]
    fn empty_optional_values_are_left_out() {
        let mut request = PendingRequest::pending("W", "O");
        request.owner_code = Some(String::new());
        request.order_type = Some(OrderType::Other(String::new()));
        let xml = request.to_xml().unwrap();
        assert!(
            !xml.contains("ownerCode") && !xml.contains("orderType"),
            "{xml}"
        );
        let read = PendingRequest::from_xml(
            b"<request><actionType>restore</actionType><warehouseCode>W</warehouseCode>\
              <orderCode>O</orderCode><ownerCode/><reason>  </reason></request>",
        )
        .unwrap();
        assert_eq!(read, PendingRequest::restore("W", "O"));
    }

    #[test]
    fn received_bodies_without_required_fields_are_refused() {
        let cases: [(&[u8], ParseRequestError); 4] = [
            (
                b"<request><warehouseCode>W</warehouseCode><orderCode>O</orderCode></request>",
                ParseRequestError::Missing("actionType"),
            ),
            (
                b"<request><actionType>close</actionType></request>",
                ParseRequestError::UnknownAction("close".into()),
            ),
            (
                b"<request><actionType>pending</actionType><orderCode>O</orderCode></request>",
                ParseRequestError::Missing("warehouseCode"),
            ),
            (
                b"<request><actionType>pending</actionType><warehouseCode>W</warehouseCode>\
                  <orderCode>O</orderCode><extendProps><a>1</a><a>2</a></extendProps></request>",
                ParseRequestError::DuplicateProp("a".into()),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(PendingRequest::from_xml(body), Err(expected));
        }
        assert!(matches!(
            PendingRequest::from_xml(b"<response/>"),
            Err(ParseRequestError::Xml(XmlError::UnexpectedRoot { .. }))
        ));
    }

    #[test]
    fn every_listed_order_type_code_round_trips() {
        for (code, order_type) in OrderType::NAMED {
            assert_eq!(order_type.code(), code);
            assert_eq!(OrderType::from_code(code), order_type);
        }
        assert_eq!(
            OrderType::from_code("jyck"),
            OrderType::Other("jyck".into())
        );
        assert_eq!(OrderType::Other("SCRK".into()).to_string(), "SCRK");
    }
}
