//! An ERP simulator: a loopback HTTP server that receives Shiphold's messages, verifies them,
//! records them, and answers or calls back by configurable rules, with faults that can be
//! switched on at runtime. Tests embed it; the `shiphold-erp-sim` binary wraps it.

use crate::client::CallbackClient;
use crate::receiver::{ParseError, ReceiveError, parse_message, verify_with_tolerance};
use crate::signature::{DEFAULT_TOLERANCE, Secret, new_webhook_id};
use crate::wire::{DeliveryResponse, Event, ItemResult, Message, Outcome, ResultsCallback};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// How the simulator decides each item's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRules {
    /// The outcome of every item without an override.
    pub default_outcome: Outcome,
    /// Outcomes per sub-order id.
    pub overrides: HashMap<String, Outcome>,
    /// The `reason` given with `failed`.
    pub failure_reason: String,
    /// How long to wait before answering any request (to provoke client timeouts).
    pub response_delay: Duration,
}

impl Default for SimRules {
    fn default() -> Self {
        Self {
            default_outcome: Outcome::Locked,
            overrides: HashMap::new(),
            failure_reason: "the simulator was told to fail this item".to_owned(),
            response_delay: Duration::ZERO,
        }
    }
}

impl SimRules {
    /// The result the rules give for one sub-order.
    ///
    /// ```
    /// use shiphold_erp_adapter::{Outcome, sim::SimRules};
    /// let mut rules = SimRules::default();
    /// rules.overrides.insert("so-2".into(), Outcome::AlreadyShipped);
    /// assert_eq!(rules.result_for("so-1").outcome, Outcome::Locked);
    /// assert_eq!(rules.result_for("so-2").outcome, Outcome::AlreadyShipped);
    /// ```
    pub fn result_for(&self, sub_order_id: &str) -> ItemResult {
        let outcome = self
            .overrides
            .get(sub_order_id)
            .copied()
            .unwrap_or(self.default_outcome);
        match outcome {
            Outcome::Failed => ItemResult::failed(sub_order_id, self.failure_reason.clone()),
            other => ItemResult::new(sub_order_id, other),
        }
    }
}

/// Where the simulator's results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimMode {
    /// In the 200 response to the delivery.
    Sync,
    /// Answer 202 with an empty body, then post the results to Shiphold's callback endpoint
    /// `{shiphold_base}/v1/erp/shops/{shop_id}/results` after `delay`.
    Callback {
        /// Shiphold's base URL, e.g. `http://127.0.0.1:3000`.
        shiphold_base: String,
        /// How long the warehouse "takes" before reporting.
        delay: Duration,
    },
}

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The shop secret: verifies deliveries and signs callbacks.
    pub secret: Secret,
    /// The port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// The outcome rules.
    pub rules: SimRules,
    /// Sync answers or callbacks.
    pub mode: SimMode,
    /// Timestamp tolerance for verification.
    pub tolerance: Duration,
    /// Print one line per request to stderr.
    pub log: bool,
}

impl SimConfig {
    /// Sync mode, everything `locked`, any free port.
    ///
    /// ```
    /// let config = shiphold_erp_adapter::sim::SimConfig::new(shiphold_erp_adapter::Secret::generate());
    /// assert_eq!(config.port, 0);
    /// ```
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            port: 0,
            rules: SimRules::default(),
            mode: SimMode::Sync,
            tolerance: DEFAULT_TOLERANCE,
            log: false,
        }
    }
}

/// One request the simulator received, whatever it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The `webhook-id` header (empty when absent).
    pub webhook_id: String,
    /// The message's `type`, when the body was a verified, parseable message.
    pub message_type: Option<String>,
    /// The parsed message, when it was one.
    pub message: Option<Message>,
    /// The raw body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The status the simulator answered.
    pub status: u16,
}

impl ReceivedMessage {
    /// Whether the simulator accepted it (verified and answered 2xx).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status) && self.message.is_some()
    }
}

/// One attempt to post a results callback to Shiphold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCallback {
    /// The callback's `webhook-id` (the same for every attempt of one callback).
    pub webhook_id: String,
    /// The body that was sent.
    pub callback: ResultsCallback,
    /// Shiphold's answer: the receipt, or the error in words.
    pub result: Result<crate::CallbackReceipt, String>,
}

#[derive(Debug, Default)]
struct Faults {
    /// Answer this status to the next `remaining` requests.
    remaining: u32,
    status: u16,
    retry_after: Option<u64>,
    gone: bool,
}

#[derive(Debug)]
struct State_ {
    rules: SimRules,
    mode: SimMode,
    faults: Faults,
    down: bool,
    received: Vec<ReceivedMessage>,
    seen: HashSet<String>,
    callbacks: Vec<SentCallback>,
}

#[derive(Debug)]
struct Shared {
    secret: Secret,
    tolerance: Duration,
    log: bool,
    state: Mutex<State_>,
    changed: Notify,
    callback_client: Option<CallbackClient>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State_> {
        // A panic while holding the lock cannot leave the records half-written in a way that
        // matters to a test; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The simulator's entry point.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Starts the simulator on 127.0.0.1 and returns its handle.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use shiphold_erp_adapter::{Secret, sim::{SimConfig, Simulator}};
    /// let sim = Simulator::start(SimConfig::new(Secret::generate())).await?;
    /// assert!(sim.url().starts_with("http://127.0.0.1:"));
    /// sim.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let callback_client = CallbackClient::new("http://127.0.0.1", Duration::from_secs(10)).ok();
        let shared = Arc::new(Shared {
            secret: config.secret,
            tolerance: config.tolerance,
            log: config.log,
            state: Mutex::new(State_ {
                rules: config.rules,
                mode: config.mode,
                faults: Faults::default(),
                down: false,
                received: Vec::new(),
                seen: HashSet::new(),
                callbacks: Vec::new(),
            }),
            changed: Notify::new(),
            callback_client,
        });
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let addr = listener.local_addr()?;
        let running = serve(listener, shared.clone());
        Ok(SimHandle {
            addr,
            shared,
            running: tokio::sync::Mutex::new(Some(running)),
        })
    }
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Running {
    let app = Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("erp-sim: server stopped: {e}");
        }
    });
    Running { stop, task }
}

/// The running simulator: its address, its records, and its runtime switches.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running")
    }
}

impl SimHandle {
    /// The address it listens on (kept across [`SimHandle::go_down`] / [`SimHandle::come_up`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL to configure in Shiphold (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/erp", self.addr)
    }

    /// Every request received so far, in order of arrival.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        self.shared.lock().received.clone()
    }

    /// The accepted messages (verified and answered 2xx), redeliveries included.
    pub fn accepted(&self) -> Vec<Message> {
        self.shared
            .lock()
            .received
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.message.clone())
            .collect()
    }

    /// The distinct `webhook-id`s accepted so far.
    pub fn accepted_ids(&self) -> HashSet<String> {
        self.shared.lock().seen.clone()
    }

    /// Every callback attempt so far.
    pub fn callbacks(&self) -> Vec<SentCallback> {
        self.shared.lock().callbacks.clone()
    }

    /// Replaces the outcome rules.
    pub fn set_rules(&self, rules: SimRules) {
        self.shared.lock().rules = rules;
    }

    /// Switches between sync answers and callbacks.
    pub fn set_mode(&self, mode: SimMode) {
        self.shared.lock().mode = mode;
    }

    /// Answers 503 to the next `n` requests.
    pub fn fail_next(&self, n: u32) {
        self.fail_next_with(n, 503, None);
    }

    /// Answers `status` (with `Retry-After: retry_after` seconds, if given) to the next `n`
    /// requests, before verifying them.
    pub fn fail_next_with(&self, n: u32, status: u16, retry_after: Option<u64>) {
        let mut s = self.shared.lock();
        s.faults.remaining = n;
        s.faults.status = status;
        s.faults.retry_after = retry_after;
    }

    /// Answers 410 Gone to every request while set.
    pub fn set_gone(&self, gone: bool) {
        self.shared.lock().faults.gone = gone;
    }

    /// Whether the listener is closed.
    pub fn is_down(&self) -> bool {
        self.shared.lock().down
    }

    /// Closes the listener: connections are refused until [`SimHandle::come_up`].
    pub async fn go_down(&self) {
        self.shared.lock().down = true;
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            stop(running).await;
        }
    }

    /// Listens again on the same address.
    pub async fn come_up(&self) -> std::io::Result<()> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let mut attempt = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                // The old socket may take a moment to be released.
                Err(e) if attempt < 50 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        };
        *running = Some(serve(listener, self.shared.clone()));
        self.shared.lock().down = false;
        Ok(())
    }

    /// Waits until at least `n` distinct messages were accepted; `false` on timeout.
    pub async fn wait_for_accepted(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.seen.len() >= n).await
    }

    /// Waits until at least `n` callback attempts were made; `false` on timeout.
    pub async fn wait_for_callbacks(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.callbacks.len() >= n).await
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn(&State_) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if done(&self.shared.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(&self.shared.lock());
            }
        }
    }

    /// Stops the simulator.
    pub async fn shutdown(self) {
        self.go_down().await;
    }
}

async fn stop(running: Running) {
    let _ = running.stop.send(());
    let mut task = running.task;
    // Graceful shutdown waits for open connections; a client holding one open must not keep
    // the simulator "up".
    if tokio::time::timeout(Duration::from_secs(2), &mut task)
        .await
        .is_err()
    {
        task.abort();
        let _ = task.await;
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Utc::now();
    let webhook_id = headers
        .get(crate::HEADER_WEBHOOK_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let delay = shared.lock().rules.response_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let (status, response_body, message, retry_after, callback) =
        decide(&shared, &headers, &body, received_at);

    {
        let mut s = shared.lock();
        s.received.push(ReceivedMessage {
            webhook_id: webhook_id.clone(),
            message_type: message.as_ref().map(|m| m.message_type().to_string()),
            message,
            body: body.to_vec(),
            received_at,
            status,
        });
    }
    shared.changed.notify_waiters();
    if shared.log {
        eprintln!("erp-sim: {received_at} {webhook_id} -> {status}");
    }
    if let Some((base, delay, callback)) = callback {
        tokio::spawn(send_callback(shared.clone(), base, delay, callback));
    }

    let mut response = (
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        [(http::header::CONTENT_TYPE, "application/json")],
        response_body,
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    response
}

type Decision = (
    u16,
    String,
    Option<Message>,
    Option<u64>,
    Option<(String, Duration, ResultsCallback)>,
);

fn decide(shared: &Shared, headers: &http::HeaderMap, body: &[u8], now: DateTime<Utc>) -> Decision {
    let mut s = shared.lock();
    if s.down {
        // A request on a connection opened before the listener closed.
        return (503, String::new(), None, None, None);
    }
    if s.faults.gone {
        return (410, String::new(), None, None, None);
    }
    if s.faults.remaining > 0 {
        s.faults.remaining -= 1;
        return (
            s.faults.status,
            String::new(),
            None,
            s.faults.retry_after,
            None,
        );
    }
    let received = verify_with_tolerance(
        headers,
        body,
        std::slice::from_ref(&shared.secret),
        now,
        shared.tolerance,
    )
    .map_err(ReceiveError::from)
    .and_then(|_| parse_message(body).map_err(ReceiveError::from));
    let message = match received {
        Ok(m) => m,
        Err(ReceiveError::Parse(ParseError::UnknownType(_))) => {
            return (200, "{}".to_owned(), None, None, None);
        }
        Err(e) => {
            let problem = serde_json::json!({"title": e.to_string()}).to_string();
            return (e.status().as_u16(), problem, None, None, None);
        }
    };
    // Marked seen under the same lock as the check below, so two concurrent deliveries of one
    // message cannot both trigger a callback.
    let first_delivery = s.seen.insert(message.id.clone());
    let Event::InterceptionRequested(requested) = &message.event else {
        return (200, "{}".to_owned(), Some(message), None, None);
    };
    let results: Vec<ItemResult> = requested
        .items
        .iter()
        .map(|i| s.rules.result_for(&i.sub_order_id))
        .collect();
    match &s.mode {
        SimMode::Sync => {
            let body = serde_json::to_string(&DeliveryResponse {
                results: Some(results),
            })
            .unwrap_or_else(|_| "{}".to_owned());
            (200, body, Some(message), None, None)
        }
        SimMode::Callback {
            shiphold_base,
            delay,
        } => {
            // A redelivery of a message already accepted must not report twice.
            let callback = first_delivery.then(|| {
                (
                    shiphold_base.clone(),
                    *delay,
                    ResultsCallback::new(
                        requested.shop_id.clone(),
                        requested.interception_id.clone(),
                        results,
                        now,
                    ),
                )
            });
            (202, String::new(), Some(message), None, callback)
        }
    }
}

/// Posts a callback after `delay`, retrying a few times on failures worth retrying.
async fn send_callback(
    shared: Arc<Shared>,
    base: String,
    delay: Duration,
    mut callback: ResultsCallback,
) {
    tokio::time::sleep(delay).await;
    callback.reported_at = Utc::now();
    let webhook_id = new_webhook_id();
    let Some(client) = shared.callback_client.clone() else {
        record_callback(
            &shared,
            &webhook_id,
            &callback,
            Err("no HTTP client".to_owned()),
        );
        return;
    };
    let client = client.with_base(base);
    for attempt in 0..5u32 {
        let result = client.send(&shared.secret, &webhook_id, &callback).await;
        let retry = result.as_ref().err().is_some_and(|e| e.is_retryable());
        record_callback(
            &shared,
            &webhook_id,
            &callback,
            result.map_err(|e| e.to_string()),
        );
        if !retry {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}

fn record_callback(
    shared: &Shared,
    webhook_id: &str,
    callback: &ResultsCallback,
    result: Result<crate::CallbackReceipt, String>,
) {
    if shared.log {
        eprintln!("erp-sim: callback {webhook_id} -> {result:?}");
    }
    shared.lock().callbacks.push(SentCallback {
        webhook_id: webhook_id.to_owned(),
        callback: callback.clone(),
        result,
    });
    shared.changed.notify_waiters();
}
