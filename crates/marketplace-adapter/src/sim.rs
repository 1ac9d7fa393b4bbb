//! A simulator of the marketplace's memo endpoint, for tests and demos: an axum server on
//! 127.0.0.1 that answers `taobao.trade.memo.update` calls the way the platform documents.
//!
//! It knows a set of applications (app key and secret) with the sessions granted to them, and a
//! set of orders (memo, flag, number of writes applied). It checks every call with
//! [`crate::verify`] and refuses what the platform refuses, with the platform's codes:
//!
//! | call | answer |
//! |---|---|
//! | no `method` / another method | 21 Missing Method / 22 Invalid Method |
//! | `format` other than `json` | 23 Invalid Format (the simulator only speaks JSON) |
//! | no `app_key` / an unknown one | 28 Missing App Key / 29 Invalid App Key |
//! | no `sign` | 24 Missing Signature |
//! | wrong signature, unknown `sign_method` | 25 Invalid Signature |
//! | no `timestamp` / malformed or more than the tolerance (10 min) away | 30 Missing Timestamp / 31 Invalid Timestamp |
//! | no `v` / not `2.0` | 32 Missing Version / 34 Unsupported Version |
//! | no `session` / not granted to the app | 26 Missing Session / 27 Invalid Session |
//! | no `tid` | 40 Missing Required Arguments, `isv.missing-parameter:tid` |
//! | a malformed `tid`, `memo` over 1,000 bytes, `flag` outside 0–5, bad `reset`, a repeated parameter | 41 Invalid Arguments, `isv.invalid-parameter:<name>` |
//! | an unknown `tid` | 15 Remote service error, `isv.trade-not-exist` |
//!
//! The `isv.*` sub-codes are the simulator's own spelling: the platform's exact sub-codes for
//! these cases are not published on the API page, and what matters to a client is the `isv.`
//! family. It can also be told to answer the next calls with a platform fault
//! (`isp.top-remote-connection-timeout`) or an HTTP status, before checking them, and to be slow.

use crate::credentials::{AppSecret, Credentials};
use crate::memo::{Flag, MAX_MEMO_BYTES};
use crate::sign::{API_VERSION, FORMAT, METHOD};
use crate::time::timestamp_text;
use crate::verify::{
    DEFAULT_TOLERANCE, VerifyError, is_unsigned_value, param, parse_form,
    verify_call_with_tolerance,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// The path the simulator serves, as the platform's gateway does.
pub const PATH: &str = "/router/rest";

/// An order as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimOrder {
    /// The seller memo (empty: none).
    pub memo: String,
    /// The flag.
    pub flag: Option<Flag>,
    /// How many calls were applied to it.
    pub writes: u32,
    /// When the last applied call changed it.
    pub modified: Option<DateTime<Utc>>,
}

/// What the simulator knows when it starts.
///
/// `Debug` shows the app keys and the orders, not the secrets or the sessions.
#[derive(Clone)]
pub struct SimConfig {
    apps: HashMap<String, AppSecret>,
    sessions: HashMap<String, HashSet<String>>,
    orders: BTreeMap<u64, SimOrder>,
    tolerance: Duration,
    port: u16,
    log: bool,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut apps: Vec<&String> = self.apps.keys().collect();
        apps.sort();
        f.debug_struct("SimConfig")
            .field("apps", &apps)
            .field("orders", &self.orders)
            .field("tolerance", &self.tolerance)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            apps: HashMap::new(),
            sessions: HashMap::new(),
            orders: BTreeMap::new(),
            tolerance: DEFAULT_TOLERANCE,
            port: 0,
            log: false,
        }
    }
}

impl SimConfig {
    /// No applications, no orders, the platform's ten-minute tolerance, a free port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Knows an application and its secret.
    pub fn app(mut self, app_key: impl Into<String>, secret: AppSecret) -> Self {
        self.apps.insert(app_key.into(), secret);
        self
    }

    /// Grants `session` to application `app_key` (a seller authorised the app).
    pub fn session(mut self, app_key: impl Into<String>, session: impl Into<String>) -> Self {
        self.sessions
            .entry(app_key.into())
            .or_default()
            .insert(session.into());
        self
    }

    /// Knows the application of `creds` and grants it the session of `creds`.
    pub fn credentials(self, creds: &Credentials) -> Self {
        self.app(creds.app_key.clone(), creds.app_secret.clone())
            .session(creds.app_key.clone(), creds.session.expose())
    }

    /// Knows order `tid`, with no memo and no flag.
    pub fn order(self, tid: u64) -> Self {
        self.order_with(tid, "", None)
    }

    /// Knows order `tid` with a memo and flag already on it (the merchant's own).
    pub fn order_with(mut self, tid: u64, memo: impl Into<String>, flag: Option<Flag>) -> Self {
        self.orders.insert(
            tid,
            SimOrder {
                memo: memo.into(),
                flag,
                writes: 0,
                modified: None,
            },
        );
        self
    }

    /// How far `timestamp` may be from the simulator's clock.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Listens on this port of 127.0.0.1 (0, the default: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Writes one line per call to standard error (never a secret or a session key).
    pub fn log(mut self, log: bool) -> Self {
        self.log = log;
        self
    }
}

/// One call the simulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCall {
    /// The parameters, the `session` value replaced by `…`.
    pub params: Vec<(String, String)>,
    /// The HTTP status answered.
    pub status: u16,
    /// The `error_response.code` answered, if an error.
    pub code: Option<i64>,
    /// The `error_response.sub_code` answered, if any.
    pub sub_code: Option<String>,
    /// Whether the call changed an order.
    pub applied: bool,
    /// When it arrived (the simulator's clock).
    pub received_at: DateTime<Utc>,
}

impl SimCall {
    /// The value of one parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Isp,
    Status(u16),
}

struct SimState {
    orders: BTreeMap<u64, SimOrder>,
    sessions: HashMap<String, HashSet<String>>,
    faults: Option<(u32, Fault)>,
    delay: Duration,
    now: Option<DateTime<Utc>>,
    calls: Vec<SimCall>,
    next_request: u64,
}

struct Shared {
    apps: HashMap<String, AppSecret>,
    tolerance: Duration,
    log: bool,
    state: Mutex<SimState>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while the lock was held leaves whole records behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Shared {
    // The state holds the granted session keys: show only what is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Shared")
            .field("orders", &s.orders)
            .field("calls", &s.calls.len())
            .finish_non_exhaustive()
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running")
    }
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
    /// use shiphold_marketplace_adapter::sim::{SimConfig, Simulator};
    /// let sim = Simulator::start(SimConfig::new().order(7)).await?;
    /// assert!(sim.url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(sim.order(7).map(|o| o.writes), Some(0));
    /// sim.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let shared = Arc::new(Shared {
            apps: config.apps,
            tolerance: config.tolerance,
            log: config.log,
            state: Mutex::new(SimState {
                orders: config.orders,
                sessions: config.sessions,
                faults: None,
                delay: Duration::ZERO,
                now: None,
                calls: Vec::new(),
                next_request: 1,
            }),
            changed: Notify::new(),
        });
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route(PATH, axum::routing::post(receive))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                eprintln!("marketplace-sim: server stopped: {e}");
            }
        });
        Ok(SimHandle {
            addr,
            shared,
            running: Some(Running { stop, task }),
        })
    }
}

/// The running simulator: its address, its state, and its switches.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gateway URL to configure in a client: `http://127.0.0.1:<port>/router/rest`.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Order `tid` as it stands now.
    pub fn order(&self, tid: u64) -> Option<SimOrder> {
        self.shared.lock().orders.get(&tid).cloned()
    }

    /// Every order.
    pub fn orders(&self) -> BTreeMap<u64, SimOrder> {
        self.shared.lock().orders.clone()
    }

    /// Adds (or replaces) order `tid`, with no memo and no flag.
    pub fn add_order(&self, tid: u64) {
        self.shared.lock().orders.insert(tid, SimOrder::default());
    }

    /// Revokes a session: calls with it are answered 27 Invalid Session from now on.
    pub fn revoke_session(&self, app_key: &str, session: &str) {
        if let Some(sessions) = self.shared.lock().sessions.get_mut(app_key) {
            sessions.remove(session);
        }
    }

    /// Every call received so far, in order of arrival.
    pub fn calls(&self) -> Vec<SimCall> {
        self.shared.lock().calls.clone()
    }

    /// How many calls changed an order, over all orders.
    pub fn applied_writes(&self) -> u32 {
        self.shared.lock().orders.values().map(|o| o.writes).sum()
    }

    /// Answers the next `n` calls with a platform fault (HTTP 200, `error_response` code 15,
    /// `sub_code` `isp.top-remote-connection-timeout`), without checking or applying them.
    pub fn fail_next_with_isp(&self, n: u32) {
        self.shared.lock().faults = (n > 0).then_some((n, Fault::Isp));
    }

    /// Answers the next `n` calls with HTTP `status` and no JSON, without checking or
    /// applying them.
    pub fn fail_next_with_status(&self, n: u32, status: u16) {
        self.shared.lock().faults = (n > 0).then_some((n, Fault::Status(status)));
    }

    /// Waits this long before answering each call (zero: answer at once).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Fixes the simulator's clock (`None`: the system clock), against which `timestamp` is
    /// checked and `modified` is set.
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.shared.lock().now = now;
    }

    /// Waits until at least `n` calls were received; `false` if `timeout` passes first.
    pub async fn wait_for_calls(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if self.shared.lock().calls.len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.lock().calls.len() >= n;
            }
        }
    }

    /// Stops the simulator.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let mut task = running.task;
            // Graceful shutdown waits for open connections (a slow call in progress); do not let
            // one keep the simulator up.
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

/// An answer being decided: status, JSON body, and what to record.
struct Decision {
    status: u16,
    body: String,
    code: Option<i64>,
    sub_code: Option<String>,
    applied: bool,
    tid: Option<u64>,
}

impl Decision {
    fn error(
        request_id: &str,
        code: i64,
        msg: &str,
        sub_code: Option<&str>,
        sub_msg: Option<&str>,
    ) -> Self {
        let mut error = serde_json::json!({ "code": code, "msg": msg, "request_id": request_id });
        if let Some(sub_code) = sub_code {
            error["sub_code"] = sub_code.into();
        }
        if let Some(sub_msg) = sub_msg {
            error["sub_msg"] = sub_msg.into();
        }
        Self {
            status: 200,
            body: serde_json::json!({ "error_response": error }).to_string(),
            code: Some(code),
            sub_code: sub_code.map(str::to_owned),
            applied: false,
            tid: None,
        }
    }

    fn invalid(request_id: &str, name: &str, why: &str) -> Self {
        Self::error(
            request_id,
            41,
            "Invalid Arguments",
            Some(&format!("isv.invalid-parameter:{name}")),
            Some(why),
        )
    }
}

async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    // The call runs in a task of its own, as on a real server: a client that gives up (a
    // timeout) closes the connection, but the call it sent is still carried out.
    let work = tokio::spawn(handle(shared, body));
    let (status, content_type, body) = match work.await {
        Ok(answer) => answer,
        Err(_) => (500, "text/plain;charset=UTF-8", String::new()),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn handle(shared: Arc<Shared>, body: Bytes) -> (u16, &'static str, String) {
    let delay = shared.lock().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let params = parse_form(&body);
    let decision = decide(&shared, &params);
    let received_at = clock(&shared);
    let recorded: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "session" { "…".to_owned() } else { v };
            (k, v)
        })
        .collect();
    if shared.log {
        eprintln!(
            "marketplace-sim: tid {:?} -> HTTP {} code {:?} {:?}",
            decision.tid, decision.status, decision.code, decision.sub_code
        );
    }
    shared.lock().calls.push(SimCall {
        params: recorded,
        status: decision.status,
        code: decision.code,
        sub_code: decision.sub_code,
        applied: decision.applied,
        received_at,
    });
    shared.changed.notify_waiters();
    let content_type = if decision.status == 200 {
        "application/json;charset=UTF-8"
    } else {
        "text/plain;charset=UTF-8"
    };
    (decision.status, content_type, decision.body)
}

fn clock(shared: &Shared) -> DateTime<Utc> {
    shared.lock().now.unwrap_or_else(Utc::now)
}

fn decide(shared: &Shared, params: &[(String, String)]) -> Decision {
    let now = clock(shared);
    let mut s = shared.lock();
    let request_id = format!("sim{:06}", s.next_request);
    s.next_request += 1;

    if let Some((remaining, fault)) = s.faults {
        s.faults = (remaining > 1).then_some((remaining - 1, fault));
        return match fault {
            Fault::Isp => Decision::error(
                &request_id,
                15,
                "Remote service error",
                Some("isp.top-remote-connection-timeout"),
                Some("the simulator was told to fail"),
            ),
            Fault::Status(status) => Decision {
                status,
                body: "the simulator was told to fail".to_owned(),
                code: None,
                sub_code: None,
                applied: false,
                tid: None,
            },
        };
    }

    // A parameter whose value is empty or whitespace only is absent: the signature does not
    // cover it (see `crate::verify`), so anyone could have added it.
    let value = |name: &str| param(params, name).filter(|v| !is_unsigned_value(v.as_bytes()));
    let has = |name: &str| value(name).is_some();
    let Some(method) = value("method") else {
        return Decision::error(&request_id, 21, "Missing Method", None, None);
    };
    if method != METHOD {
        return Decision::error(&request_id, 22, "Invalid Method", None, Some(method));
    }
    if param(params, "format") != Some(FORMAT) {
        return Decision::error(
            &request_id,
            23,
            "Invalid Format",
            None,
            Some("the simulator answers format=json only"),
        );
    }
    let Some(app_key) = value("app_key") else {
        return Decision::error(&request_id, 28, "Missing App Key", None, None);
    };
    let Some(secret) = shared.apps.get(app_key) else {
        return Decision::error(&request_id, 29, "Invalid App Key", None, None);
    };
    if !has("sign") {
        return Decision::error(&request_id, 24, "Missing Signature", None, None);
    }
    if let Err(e) = verify_call_with_tolerance(params, secret, now, shared.tolerance) {
        let why = e.to_string();
        return match e {
            VerifyError::Missing("timestamp") => {
                Decision::error(&request_id, 30, "Missing Timestamp", None, None)
            }
            VerifyError::InvalidTimestamp(_) | VerifyError::TimestampOutOfRange { .. } => {
                Decision::error(&request_id, 31, "Invalid Timestamp", None, Some(&why))
            }
            VerifyError::Duplicate(name) => Decision::invalid(&request_id, &name, &why),
            VerifyError::Missing(_)
            | VerifyError::UnsupportedSignMethod(_)
            | VerifyError::MalformedSignature
            | VerifyError::SignatureMismatch => {
                Decision::error(&request_id, 25, "Invalid Signature", None, Some(&why))
            }
        };
    }
    match value("v") {
        None => return Decision::error(&request_id, 32, "Missing Version", None, None),
        Some(API_VERSION) => {}
        Some(_) => return Decision::error(&request_id, 34, "Unsupported Version", None, None),
    }
    let Some(session) = value("session") else {
        return Decision::error(&request_id, 26, "Missing Session", None, None);
    };
    if !s
        .sessions
        .get(app_key)
        .is_some_and(|granted| granted.contains(session))
    {
        return Decision::error(
            &request_id,
            27,
            "Invalid session",
            Some("invalid-sessionkey"),
            Some("SessionKey非法"),
        );
    }

    let Some(tid_text) = value("tid") else {
        return Decision::error(
            &request_id,
            40,
            "Missing Required Arguments",
            Some("isv.missing-parameter:tid"),
            Some("tid is required"),
        );
    };
    let Ok(tid) = tid_text.parse::<u64>() else {
        return Decision::invalid(&request_id, "tid", "tid is not a number");
    };
    let memo = value("memo").unwrap_or_default();
    if memo.len() > MAX_MEMO_BYTES {
        return Decision::invalid(&request_id, "memo", "memo is longer than 1000 bytes");
    }
    let flag = match value("flag") {
        None => None,
        Some(text) => match text.parse::<u64>().ok().and_then(Flag::from_number) {
            Some(flag) => Some(flag),
            None => return Decision::invalid(&request_id, "flag", "flag must be 0 to 5"),
        },
    };
    let reset = match value("reset") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Decision::invalid(&request_id, "reset", "reset must be true or false"),
    };
    let Some(order) = s.orders.get_mut(&tid) else {
        let mut d = Decision::error(
            &request_id,
            15,
            "Remote service error",
            Some("isv.trade-not-exist"),
            Some("交易不存在"),
        );
        d.tid = Some(tid);
        return d;
    };
    // The documented semantics: reset clears whatever memo says; otherwise an empty memo
    // leaves the memo alone and a non-empty one replaces it.
    if reset {
        order.memo.clear();
    } else if !memo.is_empty() {
        order.memo = memo.to_owned();
    }
    if let Some(flag) = flag {
        order.flag = Some(flag);
    }
    order.writes += 1;
    order.modified = Some(now);
    let body = serde_json::json!({
        "trade_memo_update_response": {
            "trade": { "tid": tid, "modified": timestamp_text(now) },
            "request_id": request_id,
        }
    });
    Decision {
        status: 200,
        body: body.to_string(),
        code: None,
        sub_code: None,
        applied: true,
        tid: Some(tid),
    }
}
