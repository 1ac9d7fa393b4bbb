//! Documentation types of the HTTP API: the problem document's schema and the reusable problem
//! responses that handlers name, and schema stand-ins for domain types that travel in bodies.
//! Routes use these; the OpenAPI document is assembled from the routes in `openapi.rs`.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::{
    ArrayBuilder, ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Schema, Type,
    example::ExampleBuilder,
};
use utoipa::{PartialSchema, ToResponse, ToSchema};

use crate::problem::{ItemProblem, PROBLEM_JSON, ProblemKind};

/// An RFC 9457 problem document; `type` is one of the stable `/problems/…` URIs.
pub struct Problem;

impl PartialSchema for Problem {
    fn schema() -> RefOr<Schema> {
        let types = ProblemKind::ALL.map(|k| format!("/problems/{}", k.slug()));
        let listed = ProblemKind::ALL
            .iter()
            .map(|k| {
                format!(
                    "`/problems/{}` ({}): {}",
                    k.slug(),
                    k.status().as_u16(),
                    k.title()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some(
                "An error (RFC 9457). `type` is stable and names the kind; `title` is fixed per \
                 kind; `detail` says what happened. Validation errors list the fields in \
                 `errors`; item-level refusals list the items in `items`.",
            ))
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(types))
                    .description(Some(format!(
                        "The kind of problem, a URI relative to the server: {listed}."
                    ))),
            )
            .required("type")
            .property("title", string("A short, fixed title for the kind."))
            .required("title")
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("The HTTP status.")),
            )
            .required("status")
            .property("detail", string("What happened, for people."))
            .required("detail")
            .property(
                "request_id",
                string(
                    "The request's id, as in its `x-request-id` answer header and the server's \
                     log: quote it when reporting a problem.",
                ),
            )
            .property(
                "errors",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(mirror::FieldError::name()))
                    .description(Some("The fields that failed, for validation errors.")),
            )
            .property(
                "items",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(ItemProblem::name()))
                    .description(Some("The items and why, for item-level refusals.")),
            )
            .into()
    }
}

impl ToSchema for Problem {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Problem")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            mirror::FieldError::name().into_owned(),
            mirror::FieldError::schema(),
        ));
        schemas.push((ItemProblem::name().into_owned(), ItemProblem::schema()));
    }
}

/// A problem response of one or more kinds, with an example of each.
fn problem_response(description: &str, kinds: &[ProblemKind]) -> RefOr<utoipa::openapi::Response> {
    let types = kinds
        .iter()
        .map(|k| format!("`/problems/{}`", k.slug()))
        .collect::<Vec<_>>()
        .join(", ");
    let examples = kinds.iter().map(|k| {
        (
            k.slug(),
            ExampleBuilder::new().summary(k.title()).value(Some(json!({
                "type": format!("/problems/{}", k.slug()),
                "title": k.title(),
                "status": k.status().as_u16(),
                "detail": k.title(),
            }))),
        )
    });
    ResponseBuilder::new()
        .description(format!("{description} Problem types: {types}."))
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .examples_from_iter(examples)
                .build(),
        )
        .build()
        .into()
}

/// Declares reusable problem responses (`components/responses`) that handlers name in their
/// `responses(...)`, each listing the problem kinds it stands for.
macro_rules! problem_responses {
    ($($name:ident => [$($kind:ident),+], $description:literal;)*) => {$(
        #[doc = $description]
        pub(crate) struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                (stringify!($name), problem_response($description, &[$(ProblemKind::$kind),+]))
            }
        }
    )*};
}

problem_responses! {
    MalformedRequest => [MalformedRequest], "The body is not JSON or not the expected shape.";
    Unauthenticated => [Unauthenticated], "No valid credential: API key, staff session, card token or signature.";
    Forbidden => [Forbidden, CsrfRejected], "The API key or signed-in account lacks the role this needs (`forbidden`), or a signed-in write came without the session's CSRF token (`csrf-rejected`).";
    SignInRefused => [SignInFailed], "The login or the password is wrong (which one is not said).";
    SignInThrottled => [SignInThrottled, TooManyRequests], "Too many failed sign-ins to this account, or too many sign-in requests from this address; `Retry-After` says in how many seconds to try again.";
    InvitationInvalid => [InvitationInvalid], "The invitation link is unknown, was used or replaced, or has expired.";
    NotFound => [NotFound], "No such object in the caller's shop (another shop's objects answer the same).";
    PayloadTooLarge => [PayloadTooLarge], "The body is larger than the server's limit.";
    UnsupportedMediaType => [UnsupportedMediaType], "The body is not sent as JSON.";
    ValidationFailed => [ValidationFailed], "Some values are invalid; `errors` names each field.";
    Unavailable => [Unavailable], "The database is unavailable; retry after the `Retry-After` seconds.";
    SetupIncomplete => [SetupIncomplete], "Enabling needs memo text and accepted terms; `errors` lists what is missing.";
    Conflict => [Conflict], "The change conflicts with the current state.";
    WindowOverlap => [WindowOverlap], "The event window overlaps another of the shop's windows.";
    OrderConflict => [StaleUpdate, Conflict, IdempotencyKeyInUse], "The stored order has a higher version, or the same version with other content (`stale-update`); the push changes the order's buyer or drops an intercepted item (`conflict`); or a request with the same idempotency key is still running.";
    ErpEndpointInvalid => [ValidationFailed, EndpointNotAllowed], "The body is invalid, or the ERP endpoint is not allowed (not https, or a private address).";
    QimenEndpointInvalid => [ValidationFailed, EndpointNotAllowed], "The body is invalid (the app secret missing on the first link, an empty or too long value), or the endpoint is not allowed (not https, a query string, or a private address).";
    GatewayInvalid => [ValidationFailed, EndpointNotAllowed], "The body is invalid (a credential missing on the first link, empty or too long, an unknown `sign_method`), or the gateway is not allowed (not https, or a private address).";
    CardGone => [CardExpired, CardRevoked], "The card expired or was revoked.";
    InterceptionClosed => [InterceptionDisabled, OutsideEventWindow], "The shop has not enabled interception, or no event window is active.";
    InterceptionClosedOrKeyInUse => [InterceptionDisabled, OutsideEventWindow, IdempotencyKeyInUse], "The shop has not enabled interception, no event window is active, or a request with the same idempotency key is still running.";
    InterceptionRefused => [InterceptionDisabled, OutsideEventWindow, NothingToIntercept], "The shop has not enabled interception, no event window is active, or no requested item can be intercepted in its current state (`items` says why for each).";
    InterceptionRefusedOrKeyInUse => [InterceptionDisabled, OutsideEventWindow, NothingToIntercept, IdempotencyKeyInUse], "The shop has not enabled interception, no event window is active, no item can be intercepted in its current state (`items` says why for each), or a request with the same idempotency key is still running.";
    ValidationFailedOrKeyReused => [ValidationFailed, IdempotencyKeyReused], "Some values are invalid, or the idempotency key was used with another body.";
    CallbackUnauthenticated => [SignatureMissing, SignatureMismatch, StaleTimestamp], "A signature header is missing, no signature matches the shop's secret (also for an unknown shop or one with no ERP linked), or the timestamp is more than 5 minutes from the server's clock.";
    CallbackRefused => [MalformedRequest, ShopMismatch], "The body is not a results callback (1 to 1,000 results), or its `shop_id` is not the shop in the URL.";
    ReleaseRefused => [InvalidTransition, IdempotencyKeyInUse], "No named item can be released (`items` says why), or a request with the same idempotency key is still running.";
}

/// Schemas of domain types that travel in responses. The domain crate stays free of
/// documentation concerns; the tests below hold each stand-in to the domain type's serde form.
pub(crate) mod mirror {
    use std::borrow::Cow;

    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
    use utoipa::{PartialSchema, ToSchema};

    /// What the domain's ids accept (`shiphold_domain::ids`): 1 to 64 ASCII letters, digits, `-`,
    /// `_`, `.` and `:`.
    pub const ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,64}$";

    /// An id (an order's, a sub-order's, a buyer's, or one that Shiphold made).
    pub struct Id;

    impl PartialSchema for Id {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(
                    "1 to 64 ASCII letters, digits, `-`, `_`, `.` and `:`.",
                ))
                .min_length(Some(1))
                .max_length(Some(shiphold_domain::MAX_ID_LEN))
                .pattern(Some(ID_PATTERN))
                .into()
        }
    }

    impl ToSchema for Id {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Id")
        }
    }

    /// An IANA time-zone name, as the server knows them.
    pub struct TimeZone;

    impl PartialSchema for TimeZone {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("An IANA time-zone name, such as `Asia/Shanghai`."))
                .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
                .into()
        }
    }

    impl ToSchema for TimeZone {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("TimeZone")
        }
    }

    /// One field that failed validation, and why.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct FieldError {
        /// The field as clients spell it (`memo_text`, `sub_orders[2].quantity`).
        pub field: String,
        /// A stable machine-readable code (`required`, `too_long`, `invalid`, …).
        pub code: String,
        /// A sentence for people.
        pub message: String,
    }

    /// What happened to an intercepted sub-order.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum EventKind {
        Requested,
        DeliveredToErp,
        ErpLocked,
        ErpLockFailed,
        ErpAlreadyShipped,
        Released,
        Refunded,
        Shipped,
    }

    /// The marketplace's seller-memo flag; `none` is the grey, unset flag.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Flag {
        None,
        Red,
        Yellow,
        Green,
        Blue,
        Purple,
    }

    /// Which buyer message a template is for (see docs/api.md, "Buyer messages").
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum TemplateKind {
        Card,
        Acknowledgement,
        LockSuccess,
        PartialLockSuccess,
        RefundReminder,
        ReleaseNotice,
    }

    /// A buyer message's language.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    pub enum Locale {
        #[serde(rename = "zh-CN")]
        ZhCn,
        #[serde(rename = "en")]
        En,
    }

    /// What an API key may do.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Role {
        Admin,
        Agent,
        Integration,
    }

    /// A sub-order's shipping status, as order intake reports it.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ShippingStatus {
        AwaitingShipment,
        Shipped,
        Refunded,
        Closed,
    }

    /// Where one intercepted item stands. `requested`, `delivered_to_erp`, `locked` and
    /// `lock_failed` are active; the others are closed.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum LineState {
        Requested,
        DeliveredToErp,
        Locked,
        LockFailed,
        AlreadyShipped,
        Released,
        Refunded,
        ShippedAnyway,
    }

    /// How an interception was started: by the buyer on a card, or directly by customer service.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
    pub enum Method {
        Card { card_id: String },
        Direct,
    }

    /// Who asked for an interception: the buyer (their id) or an agent (the API key).
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(tag = "kind", content = "id", rename_all = "snake_case")]
    pub enum Requester {
        Buyer(String),
        Agent(String),
    }

    /// One recorded change of an item's state.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Transition {
        /// The state before.
        pub from: LineState,
        /// The state after.
        pub to: LineState,
        /// What happened.
        pub event: EventKind,
        /// The event's detail (an ERP's reason), if any.
        pub detail: Option<String>,
        /// When.
        pub at: DateTime<Utc>,
        /// Who made the change: `staff:<login>` (a person in the console), `api_key:<id>` (a
        /// system), `buyer:<id>` (on the card) or `erp`; `null` for changes recorded before
        /// Shiphold kept it.
        pub by: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Utc;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use shiphold_domain as d;

    use super::*;

    fn enum_values<T: ToSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).expect("schema");
        schema["enum"]
            .as_array()
            .expect("an enum schema")
            .iter()
            .map(|v| v.as_str().expect("text").to_owned())
            .collect()
    }

    fn spelled<T: Serialize>(values: &[T]) -> BTreeSet<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .expect("serialises")
                    .as_str()
                    .expect("text")
                    .to_owned()
            })
            .collect()
    }

    /// The domain value reads as the stand-in and writes back unchanged.
    fn same_shape<D: Serialize, M: Serialize + DeserializeOwned>(value: &D) {
        let json = serde_json::to_value(value).expect("serialises");
        let mirrored: M = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{json} does not fit the documented schema: {e}"));
        assert_eq!(serde_json::to_value(mirrored).expect("serialises"), json);
    }

    #[test]
    fn enum_stand_ins_list_every_domain_value() {
        assert_eq!(enum_values::<mirror::Flag>(), spelled(&d::Flag::ALL));
        assert_eq!(
            enum_values::<mirror::LineState>(),
            spelled(&d::LineState::ALL)
        );
        let statuses = [
            d::ShippingStatus::AwaitingShipment,
            d::ShippingStatus::Shipped,
            d::ShippingStatus::Refunded,
            d::ShippingStatus::Closed,
        ];
        // Fails to compile when a status is added, so the list above stays complete.
        for s in statuses {
            match s {
                d::ShippingStatus::AwaitingShipment
                | d::ShippingStatus::Shipped
                | d::ShippingStatus::Refunded
                | d::ShippingStatus::Closed => {}
            }
        }
        assert_eq!(enum_values::<mirror::ShippingStatus>(), spelled(&statuses));
    }

    #[test]
    fn the_id_pattern_is_the_domains_rule() {
        // Every single byte, and the length limits, against the domain's parser; the pattern's
        // character class is spelled out here once more to compare with.
        assert_eq!(mirror::ID_PATTERN, "^[A-Za-z0-9._:-]{1,64}$");
        for b in 0u8..=255 {
            let s = String::from_utf8_lossy(&[b]).into_owned();
            let in_class = b.is_ascii_alphanumeric() || b"._:-".contains(&b);
            assert_eq!(d::OrderId::parse(&s).is_ok(), in_class, "{b:#x}");
        }
        assert!(d::OrderId::parse(&"a".repeat(64)).is_ok());
        assert!(d::OrderId::parse(&"a".repeat(65)).is_err());
        assert!(d::OrderId::parse("").is_err());
    }

    #[test]
    fn every_time_zone_listed_is_accepted() {
        for tz in chrono_tz::TZ_VARIANTS {
            assert!(d::parse_time_zone(tz.name()).is_ok(), "{}", tz.name());
        }
    }

    #[test]
    fn template_kinds_locales_and_roles_match_the_server() {
        let names = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<BTreeSet<_>>();
        assert_eq!(
            enum_values::<mirror::TemplateKind>(),
            names(
                shiphold_messaging::TemplateKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect()
            )
        );
        assert_eq!(
            enum_values::<mirror::Locale>(),
            names(
                shiphold_messaging::Locale::ALL
                    .iter()
                    .map(|l| l.as_str())
                    .collect()
            )
        );
        assert_eq!(
            enum_values::<mirror::Role>(),
            names(
                crate::service::Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect()
            )
        );
    }

    #[test]
    fn event_kinds_match_the_domain() {
        assert_eq!(
            enum_values::<mirror::EventKind>(),
            spelled(&d::EventKind::ALL)
        );
    }

    #[test]
    fn object_stand_ins_match_the_domain_serialisation() {
        let card = d::CardId::generate();
        for method in [d::Method::Direct, d::Method::Card { card_id: card }] {
            same_shape::<_, mirror::Method>(&method);
        }
        let buyer = d::BuyerId::parse("buyer-1").expect("id");
        for requester in [
            d::Requester::Buyer(buyer),
            d::Requester::Agent("api_key:k".into()),
        ] {
            same_shape::<_, mirror::Requester>(&requester);
        }
        for detail in [None, Some("picked already".to_owned())] {
            same_shape::<_, mirror::Transition>(&d::Transition {
                from: d::LineState::Requested,
                to: d::LineState::LockFailed,
                event: shiphold_domain::EventKind::ErpLockFailed,
                detail,
                at: Utc::now(),
                by: Some("staff:li.na@example.com".into()),
            });
        }
        same_shape::<_, mirror::FieldError>(&d::FieldError::new("memo_text", "required", "x"));
    }

    #[test]
    fn problem_lists_every_type() {
        let schema = serde_json::to_value(Problem::schema()).expect("schema");
        let types = schema["properties"]["type"]["enum"]
            .as_array()
            .expect("enum");
        assert_eq!(types.len(), ProblemKind::ALL.len());
        for kind in ProblemKind::ALL {
            let body = crate::ApiError::new(kind, "x").body();
            assert!(types.contains(&body["type"]), "{kind:?}");
        }
    }
}
