//! Shiphold's domain model and its rules: shops' interception settings, orders and sub-orders,
//! event windows, interception cards, interceptions and the per-item state machine.
//!
//! Nothing here does I/O or knows about HTTP, databases or async runtimes: every function takes
//! what it needs (including the current time) and answers with a decision or a typed error.

pub mod card;
pub mod clock;
pub mod error;
pub mod ids;
pub mod intake;
pub mod interception;
pub mod order;
pub mod release;
pub mod settings;
pub mod window;

pub use card::{Card, CardAccess, CardError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{FieldError, ValidationError};
pub use ids::{
    ApiKeyId, BuyerId, CardId, EventWindowId, InterceptionId, ItemId, MAX_ID_LEN, OrderId, ShopId,
    StaffId, SubOrderId,
};
pub use intake::{IntakeDecision, IntakeError, decide_intake};
pub use interception::{
    DecideError, Decision, DecisionInput, EventKind, Interception, Line, LineEvent, LineState,
    LockNews, MemoState, Method, Refusal, RefusalReason, Requester, Transition, TransitionError,
    check_item, check_open, decide, lock_news, memo_after,
};
pub use order::{Money, Order, OrderVersion, ShippingStatus, SubOrder};
pub use release::{
    ReleaseDecision, ReleaseError, ReleaseRefusal, ReleaseRefusalReason, decide_release,
};
pub use settings::{
    AdvancedSettings, CardExpiry, EnableError, ErpLink, Flag, InterceptionSettings,
    MarketplaceLink, MarketplaceSignMethod, MarketplaceWebhookLink, MemoText, Missing, QimenLink,
    TERMS_VERSION, TermsAcceptance,
};
pub use window::{EventWindow, WindowError, active_at, parse_time_zone};
