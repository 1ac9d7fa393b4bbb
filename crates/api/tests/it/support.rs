//! A running API on a throwaway database, a clock the test controls, and an HTTP client.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use shiphold_api::{ApiConfig, AppState, BusinessClock, WallClock, router};
use shiphold_domain::ManualClock;
use shiphold_storage::{Store, StoreOptions};
use shiphold_testkit::TestDatabase;
use tokio::sync::watch;

/// Runs the delivery jobs, retrying every 100 ms (50 times), so a test sees a retried delivery
/// at once.
pub fn fast(c: &mut ApiConfig) {
    c.run_jobs = true;
    c.delivery.retry_schedule = vec![std::time::Duration::from_millis(100); 50];
}

/// Waits until `check` holds, for up to 20 s; panics naming `what` after that.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// 2026-11-11 10:00 in Shanghai: inside the event window the tests create.
pub fn event_time() -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 11, 10, 0, 0)
        .unwrap()
        .to_utc()
}

pub struct TestApp {
    pub base: String,
    /// `http://…/metrics` of the metrics listener, served apart as the server does.
    pub metrics_url: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    /// The wall clock, when the test controls it too (see [`TestApp::start_with_wall_clock`]).
    pub wall: Option<Arc<ManualClock>>,
    pub http: reqwest::Client,
    shutdown: watch::Sender<bool>,
    jobs: Option<tokio::task::JoinHandle<()>>,
    _db: TestDatabase,
}

impl TestApp {
    /// Starts the API (jobs too, when `config.run_jobs`) on `db`.
    pub async fn start(db: TestDatabase, configure: impl FnOnce(&mut ApiConfig)) -> TestApp {
        Self::start_with(db, configure, None).await
    }

    /// Like [`TestApp::start`], with a wall clock (leases, retries, signature timestamps) that
    /// stands at the real time now and moves only when the test moves it.
    pub async fn start_with_wall_clock(
        db: TestDatabase,
        configure: impl FnOnce(&mut ApiConfig),
    ) -> TestApp {
        Self::start_with(db, configure, Some(Arc::new(ManualClock::new(Utc::now())))).await
    }

    async fn start_with(
        db: TestDatabase,
        configure: impl FnOnce(&mut ApiConfig),
        wall: Option<Arc<ManualClock>>,
    ) -> TestApp {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = Store::connect(db.url(), StoreOptions::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = ApiConfig {
            public_base_url: base.clone(),
            allow_insecure_endpoints: true,
            run_jobs: false,
            worker_id: "test".into(),
            ..ApiConfig::default()
        };
        config.delivery.poll_interval = std::time::Duration::from_millis(50);
        configure(&mut config);
        let clock = Arc::new(ManualClock::new(event_time()));
        let state = match &wall {
            None => AppState::new(store, clock.clone(), config),
            Some(wall) => AppState::with_clocks(
                store,
                BusinessClock::new(clock.clone()),
                WallClock::new(wall.clone()),
                11,
                config,
            ),
        };
        let app = router(state.clone());
        tokio::spawn(async move {
            let _ = axum_serve(listener, app).await;
        });
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let metrics_url = format!(
            "http://{}/metrics",
            metrics_listener.local_addr().expect("addr")
        );
        let metrics_app = shiphold_api::metrics_router(state.clone());
        tokio::spawn(async move {
            let _ = axum_serve(metrics_listener, metrics_app).await;
        });
        let (shutdown, rx) = watch::channel(false);
        let jobs = state
            .config()
            .run_jobs
            .then(|| shiphold_api::jobs::spawn(state.clone(), rx));
        TestApp {
            base,
            metrics_url,
            state,
            clock,
            wall,
            http: reqwest::Client::new(),
            shutdown,
            jobs,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }

    /// Sends `body` (or nothing) and returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.req(method, path, key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request")).await
    }

    /// Invites a person with `key` (an admin's); returns the account's id and the invitation
    /// token.
    pub async fn invite(&self, key: &str, login: &str, role: &str) -> (String, String) {
        let (s, b) = self
            .call(
                Method::POST,
                "/v1/staff",
                key,
                Some(json!({"login": login, "name": format!("Name of {login}"), "role": role})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        (
            b["staff"]["id"].as_str().unwrap().to_owned(),
            b["invitation_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Invites a person and accepts the invitation with a password: they are signed in.
    pub async fn staff(&self, key: &str, login: &str, role: &str) -> StaffLogin {
        let (id, token) = self.invite(key, login, role).await;
        let password = format!("pw of {login} 123");
        let response = self
            .http
            .post(self.url("/v1/invitations/accept"))
            .json(&json!({"token": token, "password": password}))
            .send()
            .await
            .unwrap();
        StaffLogin::from_response(response, id, login, &password).await
    }

    /// A request made with a person's session: the cookie, and the CSRF token.
    pub fn as_staff(&self, method: Method, path: &str, who: &StaffLogin) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("cookie", &who.cookie)
            .header("x-csrf-token", &who.csrf)
    }

    /// Like [`TestApp::call`], with a person's session.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        who: &StaffLogin,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.as_staff(method, path, who);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request")).await
    }

    /// Creates a shop; returns its id and an all-roles key.
    pub async fn shop(&self, name: &str) -> (String, String) {
        let created = shiphold_api::service::shops::create_shop(&self.state, name)
            .await
            .expect("create shop");
        (created.shop_id.to_string(), created.api_key)
    }

    /// Creates a shop that is set up (memo, flag, terms, enabled) with an active event window.
    pub async fn ready_shop(&self) -> (String, String) {
        let (shop, key) = self.shop("Acme").await;
        let (s, b) = self
            .call(
                Method::PUT,
                "/v1/settings/memo",
                &key,
                Some(
                    json!({"memo_text": "拦截发货，请勿发出", "flag": "red", "accept_terms": true}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = self
            .call(Method::POST, "/v1/settings/enable", &key, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (s, b) = self
            .call(
                Method::POST,
                "/v1/event-windows",
                &key,
                Some(json!({
                    "name": "Double 11",
                    "refunds_off_from": "2026-11-11T00:00:00+08:00",
                    "refunds_off_until": "2026-11-12T00:00:00+08:00",
                    "time_zone": "Asia/Shanghai",
                    "refunds_reopen_at": "2026-11-12T00:00:00+08:00"
                })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        (shop, key)
    }

    /// Pushes an order with `items` as (sub-order id, shipping status).
    pub async fn order(
        &self,
        key: &str,
        order_id: &str,
        buyer: &str,
        items: &[(&str, &str)],
    ) -> Value {
        let subs: Vec<Value> = items
            .iter()
            .map(|(id, status)| json!({"id": id, "item_id": format!("sku-{id}"), "title": format!("Item {id}"), "quantity": 1, "amount": 1999, "shipping_status": status}))
            .collect();
        let (s, b) = self
            .call(
                Method::PUT,
                &format!("/v1/orders/{order_id}"),
                key,
                Some(json!({"buyer_id": buyer, "version": 1, "sub_orders": subs})),
            )
            .await;
        assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s} {b}");
        b
    }

    /// Tells the jobs to stop, without waiting for them (deliveries in flight may hang).
    pub fn stop_jobs(&self) {
        let _ = self.shutdown.send(true);
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(jobs) = self.jobs.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), jobs).await;
        }
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, app).await
}

/// A signed-in person: their account, password and session.
#[derive(Debug, Clone)]
pub struct StaffLogin {
    pub id: String,
    pub login: String,
    pub password: String,
    /// `shiphold_session=…`, as a `Cookie` header sends it.
    pub cookie: String,
    /// The full `Set-Cookie` header that began the session.
    pub set_cookie: String,
    pub csrf: String,
}

impl StaffLogin {
    /// Reads a sign-in's answer (201, the cookie, the CSRF token).
    pub async fn from_response(
        response: Response,
        id: String,
        login: &str,
        password: &str,
    ) -> Self {
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let (s, b) = read(response).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("shiphold_session=shs_"), "{set_cookie}");
        StaffLogin {
            id,
            login: login.to_owned(),
            password: password.to_owned(),
            cookie,
            set_cookie,
            csrf: b["csrf_token"].as_str().unwrap().to_owned(),
        }
    }
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let is_problem = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let text = response.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_client_error() || status.is_server_error() {
        assert!(
            is_problem,
            "error without application/problem+json: {status} {value}"
        );
    }
    (status, value)
}

/// Runs `scenario` on every backend available (SQLite always; PostgreSQL when configured).
#[macro_export]
macro_rules! on_every_backend {
    ($configure:expr, |$app:ident| $body:block) => {{
        for db in shiphold_testkit::TestDatabase::all() {
            let backend = db.backend();
            eprintln!("-- running on {backend:?}");
            let $app = $crate::support::TestApp::start(db, $configure).await;
            $body
            $app.stop().await;
        }
    }};
}
