//! A simulator of a Qimen WMS: a loopback HTTP server that verifies `taobao.qimen.order.pending`
//! calls as a warehouse must, holds and releases its documents, records every call, and can be
//! told to misbehave (refuse, fail, answer garbage, be slow), globally or for one document.
//!
//! Its answers, in order of the checks:
//!
//! | situation | HTTP | flag | code |
//! |---|---|---|---|
//! | a fault set with [`SimHandle::set_fault`] / [`SimHandle::set_fault_for`] | as the fault | | |
//! | bad or missing signature, unknown `app_key`, wrong `customerId`, stale timestamp | 200 | failure | `sign-check-failure` |
//! | `method` is not `taobao.qimen.order.pending` | 200 | failure | `invalid-method` |
//! | body is not a valid `<request>` | 200 | failure | `invalid-request` |
//! | unknown warehouse / document | 200 | failure | `warehouse-not-found` / `order-not-found` |
//! | `pending` on a shipped document | 200 | failure | `order-shipped` (已出库) |
//! | otherwise | 200 | success | `0` |
//!
//! Only `sign-check-failure` is a code of the Qimen documentation; the others are the
//! simulator's own (a real WMS chooses its own codes and messages). Both calls are
//! idempotent, as an at-least-once sender needs: holding a held document, or releasing one
//! that is not held, succeeds without changing it.
//!
//! Every call is handled in a task of its own, as on a real server: a client that gives up (a
//! timeout) closes its connection, but the call it sent is still carried out and recorded.

use crate::answer::Answer;
use crate::credentials::Credentials;
use crate::sign::METHOD;
use crate::verify::{DEFAULT_TOLERANCE, ReceivedQuery};
use crate::wire::{Action, PendingRequest, XML_CONTENT_TYPE};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// How the simulator misbehaves for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `failure` with this code and message (after verifying the call), leaving the
    /// document as it is: a warehouse that says no.
    Refuse {
        /// The `code`.
        code: String,
        /// The `message`, e.g. "已出库 already shipped".
        message: String,
    },
    /// Answer this HTTP status with a short text body, before verifying or applying anything.
    Status(u16),
    /// Answer exactly this, before verifying or applying anything: a gateway's own
    /// `<error_response>`, a throttling answer with a `Retry-After` header, a proxy's page.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header's value, if one is sent.
        retry_after: Option<String>,
        /// The body, sent as it is.
        body: String,
    },
    /// Answer 200 with a body that is not a readable answer, applying nothing.
    Malformed,
    /// Wait this long before handling the call normally, to provoke client timeouts. The call
    /// is still applied (and recorded) when the wait is over, whether or not the client is
    /// still there, as a slow warehouse would: the wait runs in the call's own task, which a
    /// closed connection does not cancel.
    Delay(Duration),
}

impl Fault {
    /// A refusal with the given message and the simulator's `order-refused` code.
    pub fn refuse(message: impl Into<String>) -> Self {
        Self::Refuse {
            code: "order-refused".to_owned(),
            message: message.into(),
        }
    }
}

/// The simulator's configuration.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The app key, secret and `customerId` it accepts.
    pub credentials: Credentials,
    /// The port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// How far a call's timestamp may be from the simulator's clock.
    pub tolerance: Duration,
    /// A frozen clock for timestamp checks; `None` uses the system clock.
    pub now: Option<DateTime<Utc>>,
    /// The documents it knows: (warehouse code, order code).
    pub documents: Vec<(String, String)>,
    /// Whether a call about a document it does not know creates it (in a known or unknown
    /// warehouse) instead of answering `order-not-found`.
    pub accept_unknown_documents: bool,
}

impl SimConfig {
    /// A simulator accepting these credentials, with no documents, the default tolerance, the
    /// system clock and any free port.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            port: 0,
            tolerance: DEFAULT_TOLERANCE,
            now: None,
            documents: Vec::new(),
            accept_unknown_documents: false,
        }
    }

    /// The same configuration knowing one more document.
    pub fn with_document(
        mut self,
        warehouse_code: impl Into<String>,
        order_code: impl Into<String>,
    ) -> Self {
        self.documents
            .push((warehouse_code.into(), order_code.into()));
        self
    }
}

/// What the simulator knows about one document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentState {
    /// Whether it is held (after a `pending`, until a `restore`).
    pub held: bool,
    /// Whether it has left the warehouse ([`SimHandle::ship`]); a shipped document cannot be
    /// held.
    pub shipped: bool,
    /// Calls about it answered `success`, repeats included.
    pub applied: u32,
    /// Of those, the calls that changed `held`.
    pub changes: u32,
}

/// One call the simulator received, whatever it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// When it arrived (the simulator's clock).
    pub received_at: DateTime<Utc>,
    /// The raw query string.
    pub query: String,
    /// The `Content-Type` header, when there was a readable one.
    pub content_type: Option<String>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The body read as a request, when it was one.
    pub request: Option<PendingRequest>,
    /// Whether the signature and timestamp verified.
    pub verified: bool,
    /// The parameters of a verified call whose empty value took no part in its signature
    /// ([`Verified::unsigned`](crate::Verified::unsigned)); the simulator treats them as absent.
    pub unsigned: Vec<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The answer, when one was written (not for [`Fault::Status`], [`Fault::Raw`] or
    /// [`Fault::Malformed`]).
    pub answer: Option<Answer>,
}

impl RecordedCall {
    /// A query parameter's decoded value.
    pub fn param(&self, name: &str) -> Option<String> {
        ReceivedQuery::parse(&self.query)
            .ok()
            .and_then(|q| q.get(name).map(str::to_owned))
    }
}

#[derive(Debug)]
struct SimState {
    now: Option<DateTime<Utc>>,
    warehouses: BTreeMap<String, BTreeMap<String, DocumentState>>,
    global_fault: Option<Fault>,
    faults: HashMap<String, Fault>,
    calls: Vec<RecordedCall>,
}

#[derive(Debug)]
struct Shared {
    credentials: Credentials,
    tolerance: Duration,
    accept_unknown: bool,
    state: Mutex<SimState>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread cannot leave the records half-written in a way that matters.
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
    /// use shiphold_qimen_adapter::{Credentials, Secret, sim::{SimConfig, Simulator}};
    /// let credentials = Credentials::new("k", Secret::new("s").unwrap(), "c").unwrap();
    /// let sim = Simulator::start(SimConfig::new(credentials).with_document("W1", "SO-1")).await?;
    /// assert!(sim.url().starts_with("http://127.0.0.1:"));
    /// assert_eq!(sim.document("W1", "SO-1").map(|d| d.held), Some(false));
    /// sim.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let mut warehouses: BTreeMap<String, BTreeMap<String, DocumentState>> = BTreeMap::new();
        for (warehouse, order) in config.documents {
            warehouses
                .entry(warehouse)
                .or_default()
                .insert(order, DocumentState::default());
        }
        let shared = Arc::new(Shared {
            credentials: config.credentials,
            tolerance: config.tolerance,
            accept_unknown: config.accept_unknown_documents,
            state: Mutex::new(SimState {
                now: config.now,
                warehouses,
                global_fault: None,
                faults: HashMap::new(),
                calls: Vec::new(),
            }),
            changed: Notify::new(),
        });
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(axum::routing::post(receive))
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
                eprintln!("qimen-sim: server stopped: {e}");
            }
        });
        Ok(SimHandle {
            addr,
            shared,
            running: Mutex::new(Some(Running { stop, task })),
        })
    }
}

/// The running simulator: its address, its records and state, and its switches.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint to give a client (any path is accepted).
    pub fn url(&self) -> String {
        format!("http://{}/router/qimen/service", self.addr)
    }

    /// Every call handled so far, in the order their handling ended (a call is recorded when it
    /// has been decided, after any [`Fault::Delay`], even if its client has gone).
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    /// How many calls were handled so far.
    pub fn call_count(&self) -> usize {
        self.shared.lock().calls.len()
    }

    /// What it knows about a document, if it knows it.
    pub fn document(&self, warehouse_code: &str, order_code: &str) -> Option<DocumentState> {
        self.shared
            .lock()
            .warehouses
            .get(warehouse_code)
            .and_then(|w| w.get(order_code))
            .copied()
    }

    /// Whether a document is held (`false` for one it does not know).
    pub fn is_held(&self, warehouse_code: &str, order_code: &str) -> bool {
        self.document(warehouse_code, order_code)
            .is_some_and(|d| d.held)
    }

    /// Adds a document (not held); an existing one is left as it is.
    pub fn add_document(&self, warehouse_code: &str, order_code: &str) {
        self.shared
            .lock()
            .warehouses
            .entry(warehouse_code.to_owned())
            .or_default()
            .entry(order_code.to_owned())
            .or_default();
    }

    /// Marks a document as shipped (adding it if needed): `pending` is refused from now on
    /// with `order-shipped`, as a warehouse refuses to hold what has left.
    pub fn ship(&self, warehouse_code: &str, order_code: &str) {
        let mut state = self.shared.lock();
        let document = state
            .warehouses
            .entry(warehouse_code.to_owned())
            .or_default()
            .entry(order_code.to_owned())
            .or_default();
        document.shipped = true;
        document.held = false;
    }

    /// Sets (or, with `None`, clears) the fault for every call without a fault of its own.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.shared.lock().global_fault = fault;
    }

    /// Sets (or clears) the fault for calls about one `orderCode`; it takes precedence over
    /// the global one.
    pub fn set_fault_for(&self, order_code: &str, fault: Option<Fault>) {
        let mut state = self.shared.lock();
        match fault {
            Some(fault) => state.faults.insert(order_code.to_owned(), fault),
            None => state.faults.remove(order_code),
        };
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        let mut state = self.shared.lock();
        state.global_fault = None;
        state.faults.clear();
    }

    /// Freezes the simulator's clock at `now`, or (with `None`) returns it to the system clock.
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.shared.lock().now = now;
    }

    /// Waits until at least `n` calls were handled; `false` on timeout. It wakes on the
    /// simulator's notification of each call, it does not poll.
    pub async fn wait_for_calls(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a call answered in between is not missed.
            notified.as_mut().enable();
            if self.call_count() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.call_count() >= n;
            }
        }
    }

    /// Stops the simulator: it stops accepting connections and waits a moment for open ones.
    /// A call still being handled (a [`Fault::Delay`]) goes on in its task until the runtime
    /// ends.
    pub async fn shutdown(self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let mut task = running.task;
            if tokio::time::timeout(Duration::from_millis(500), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

/// What the handler decided: the status, the answer written (if any) and the raw body.
struct Reply {
    status: u16,
    answer: Option<Answer>,
    body: String,
    retry_after: Option<String>,
}

impl Reply {
    fn answer(answer: Answer) -> Self {
        Self {
            status: 200,
            body: answer.to_xml(),
            answer: Some(answer),
            retry_after: None,
        }
    }
}

/// What the check of a call found: whether it verified, and which parameters it did not sign.
struct Checked {
    verified: bool,
    unsigned: Vec<String>,
}

impl Checked {
    const REFUSED: Self = Self {
        verified: false,
        unsigned: Vec::new(),
    };
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or_default().to_owned();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The call runs in a task of its own, as on a real server: when a client gives up (a
    // timeout), hyper drops this future with the connection, but not the task, so the call it
    // sent is still carried out and recorded.
    let work = tokio::spawn(handle(shared, query, content_type, body));
    let Ok(reply) = work.await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, XML_CONTENT_TYPE)],
        reply.body,
    )
        .into_response();
    if let Some(value) = reply
        .retry_after
        .and_then(|v| header::HeaderValue::from_str(&v).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Handles one call to the end: the fault, the checks, the change, the record.
async fn handle(
    shared: Arc<Shared>,
    query: String,
    content_type: Option<String>,
    body: Bytes,
) -> Reply {
    let request = PendingRequest::from_xml(&body).ok();
    let fault = {
        let state = shared.lock();
        request
            .as_ref()
            .and_then(|r| state.faults.get(&r.order_code))
            .or(state.global_fault.as_ref())
            .cloned()
    };
    if let Some(Fault::Delay(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }

    let (reply, checked) = match fault {
        Some(Fault::Status(status)) => (
            Reply {
                status,
                answer: None,
                body: format!("simulated HTTP {status}"),
                retry_after: None,
            },
            Checked::REFUSED,
        ),
        Some(Fault::Raw {
            status,
            retry_after,
            body,
        }) => (
            Reply {
                status,
                answer: None,
                body,
                retry_after,
            },
            Checked::REFUSED,
        ),
        Some(Fault::Malformed) => (
            Reply {
                status: 200,
                answer: None,
                body: "<response><flag>succ".to_owned(),
                retry_after: None,
            },
            Checked::REFUSED,
        ),
        other => decide(&shared, &query, &body, request.as_ref(), other),
    };

    {
        let mut state = shared.lock();
        let received_at = state.now.unwrap_or_else(Utc::now);
        state.calls.push(RecordedCall {
            received_at,
            query,
            content_type,
            body: body.to_vec(),
            request,
            verified: checked.verified,
            unsigned: checked.unsigned,
            status: reply.status,
            answer: reply.answer.clone(),
        });
    }
    shared.changed.notify_waiters();
    reply
}

/// Verifies and applies a call; returns the reply and what the check found.
fn decide(
    shared: &Shared,
    query: &str,
    body: &[u8],
    request: Option<&PendingRequest>,
    fault: Option<Fault>,
) -> (Reply, Checked) {
    let mut state = shared.lock();
    let now = state.now.unwrap_or_else(Utc::now);
    let credentials = &shared.credentials;
    let refuse_signature =
        |detail: String| Reply::answer(Answer::sign_check_failure(Some(&detail)));

    let received = match ReceivedQuery::parse(query) {
        Ok(q) => q,
        Err(e) => return (refuse_signature(e.to_string()), Checked::REFUSED),
    };
    if received.app_key() != Some(credentials.app_key()) {
        return (
            refuse_signature("unknown app_key".to_owned()),
            Checked::REFUSED,
        );
    }
    let verified = match received.verify(body, credentials.secret(), now, shared.tolerance) {
        Ok(verified) => verified,
        Err(e) => return (refuse_signature(e.to_string()), Checked::REFUSED),
    };
    // Every parameter the simulator acts on is non-empty, so the unsigned (empty) ones are
    // absent to it; they are recorded, so a test can see them.
    let checked = || Checked {
        verified: true,
        unsigned: verified.unsigned.clone(),
    };
    // `customerId` is signed, so checking it after the signature is enough.
    if received.customer_id() != Some(credentials.customer_id()) {
        return (refuse_signature("unknown customerId".to_owned()), checked());
    }
    if received.method() != Some(METHOD) {
        let method = received.method().unwrap_or_default();
        let answer = Answer::failure("invalid-method", format!("method `{method}` is not served"));
        return (Reply::answer(answer), checked());
    }
    let request = match request {
        Some(r) => r,
        None => {
            let why = PendingRequest::from_xml(body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let answer = Answer::failure("invalid-request", format!("请求报文错误 {why}"));
            return (Reply::answer(answer), checked());
        }
    };
    if let Some(Fault::Refuse { code, message }) = fault {
        return (Reply::answer(Answer::failure(code, message)), checked());
    }

    let accept_unknown = shared.accept_unknown;
    let Some(warehouse) = (if accept_unknown {
        Some(
            state
                .warehouses
                .entry(request.warehouse_code.clone())
                .or_default(),
        )
    } else {
        state.warehouses.get_mut(&request.warehouse_code)
    }) else {
        let answer = Answer::failure(
            "warehouse-not-found",
            format!("仓库不存在 unknown warehouse {}", request.warehouse_code),
        );
        return (Reply::answer(answer), checked());
    };
    let Some(document) = (if accept_unknown {
        Some(warehouse.entry(request.order_code.clone()).or_default())
    } else {
        warehouse.get_mut(&request.order_code)
    }) else {
        let answer = Answer::failure(
            "order-not-found",
            format!("单据不存在 unknown document {}", request.order_code),
        );
        return (Reply::answer(answer), checked());
    };
    let answer = match request.action {
        Action::Pending if document.shipped => {
            Answer::failure("order-shipped", "已出库 already shipped")
        }
        Action::Pending => {
            if !document.held {
                document.held = true;
                document.changes += 1;
            }
            document.applied += 1;
            Answer::success("挂起成功 held")
        }
        Action::Restore => {
            if document.held {
                document.held = false;
                document.changes += 1;
            }
            document.applied += 1;
            Answer::success("恢复成功 restored")
        }
    };
    (Reply::answer(answer), checked())
}
