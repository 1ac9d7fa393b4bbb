//! The API's part of the configuration, filled in by the server from its layered config.

use std::time::Duration;

/// How outbox entries are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Delays before each retry, front-loaded: an interception is worthless once the parcel ships.
    pub retry_schedule: Vec<Duration>,
    /// Timeout of one delivery attempt.
    pub timeout: Duration,
    /// How long a claimed entry stays leased to this process.
    pub lease: Duration,
    /// How many entries one claim takes.
    pub batch: u32,
    /// How often the queue is polled when nothing woke the worker.
    pub poll_interval: Duration,
    /// How many deliveries run at once.
    pub concurrency: usize,
    /// How many deliveries of one shop run at once, per topic (at most `concurrency`).
    pub per_shop_concurrency: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            retry_schedule: vec![
                s(0),
                s(5),
                s(30),
                s(120),
                s(300),
                s(1800),
                s(7200),
                s(18_000),
                s(36_000),
                s(36_000),
            ],
            timeout: s(10),
            lease: s(60),
            batch: 32,
            poll_interval: Duration::from_millis(500),
            concurrency: 32,
            per_shop_concurrency: 8,
        }
    }
}

/// Where buyer messages go when the shop uses the chat gateway channel.
#[derive(Debug, Clone)]
pub struct ChatGatewayConfig {
    /// The gateway's URL; messages are POSTed there, signed.
    pub url: String,
    /// The `whsec_` secret that signs them.
    pub secret: String,
}

/// Rate limits of the routes a client reaches without an API key (the card page, the buyer API,
/// the ERP callback), per client address.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Requests per minute from one address to the card page and the buyer API, all of which
    /// may come at once.
    pub buyer_per_minute: u32,
    /// Requests per minute from one address to the ERP callback.
    pub callback_per_minute: u32,
    /// Sign-ins and invitation acceptances per minute from one address.
    pub sign_in_per_minute: u32,
    /// The header in which a trusted reverse proxy passes the client's address (its last value
    /// counts); `None`: the connection's peer address.
    pub client_ip_header: Option<axum::http::HeaderName>,
}

/// Staff accounts: how long sessions and invitations last, and the cookie's `Secure` flag.
#[derive(Debug, Clone)]
pub struct StaffConfig {
    /// How long a sign-in lasts (a shift); then the person signs in again.
    pub session_lifetime: Duration,
    /// How long an invitation link stays usable.
    pub invitation_lifetime: Duration,
    /// Whether the session cookie is marked `Secure` (sent over HTTPS only).
    pub secure_cookie: bool,
}

impl Default for StaffConfig {
    fn default() -> Self {
        Self {
            session_lifetime: Duration::from_secs(12 * 3600),
            invitation_lifetime: Duration::from_secs(7 * 24 * 3600),
            secure_cookie: false,
        }
    }
}

/// The API's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The URL buyers and ERPs reach this server at (card links, callback URLs).
    pub public_base_url: String,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client has to send a request's body; then it gets 408 and nothing is done.
    pub body_read_timeout: Duration,
    /// Allow ERP and gateway endpoints on loopback/private addresses and plain http (tests, demos).
    pub allow_insecure_endpoints: bool,
    /// Outbox delivery.
    pub delivery: DeliveryConfig,
    /// The chat gateway; without it buyer messages go to the built-in inbox only.
    pub chat_gateway: Option<ChatGatewayConfig>,
    /// Whether this process runs the delivery jobs.
    pub run_jobs: bool,
    /// A name for this process in leases and logs.
    pub worker_id: String,
    /// Rate limits of the unauthenticated routes; `None`: none.
    pub rate_limits: Option<RateLimits>,
    /// Staff accounts and their sessions.
    pub staff: StaffConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8080".into(),
            body_limit: 256 * 1024,
            body_read_timeout: Duration::from_secs(30),
            allow_insecure_endpoints: false,
            delivery: DeliveryConfig::default(),
            chat_gateway: None,
            run_jobs: true,
            worker_id: format!("worker-{}", std::process::id()),
            rate_limits: None,
            staff: StaffConfig::default(),
        }
    }
}
