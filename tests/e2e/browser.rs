//! The buyer's card page and the merchant console in a real headless Chromium, driven over
//! WebDriver against the built server: what a buyer and a merchant actually click.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the tests say they were skipped,
//! except under CI (`CI` set), where that is a failure: CI installs them.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, Utc};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use shiphold_e2e::{Server, TempDir, http, run};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page gets to show what a step should show.
const UI_TIMEOUT: Duration = Duration::from_secs(20);

const MEMO: &str = "买家申请拦截,请勿发货 / Buyer asked to stop: do not ship";

/// False (and a note) when the browser is missing outside CI; a panic when it is missing in CI.
fn browser_installed(test: &str) -> bool {
    if Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {CHROMIUM} or {CHROMEDRIVER} is missing, and CI must run the browser tests: \
         install Debian's chromium and chromium-driver (.ci/run does)"
    );
    eprintln!("{test}: skipped: chromium/chromedriver not installed");
    false
}

/// A chromedriver on a free loopback port with one Chromium session, in a fresh profile.
struct Browser {
    client: Client,
    driver: Driver,
    _profile: TempDir,
}

impl Browser {
    async fn start() -> Self {
        let profile = TempDir::new("chromium");
        let port = free_port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {CHROMEDRIVER}: {err}")),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1280,1500",
                    "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // The page's console, read after every scenario: an error there fails the test.
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .unwrap_or_else(|err| panic!("cannot open a Chromium session: {err}"));
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Runs `scenario` with a handle to the browser, then ends the session whatever happened, so
    /// that a failing test leaves no Chromium behind; the scenario's panic is passed on.
    async fn run<F, Fut>(self, scenario: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(scenario(self.client.clone())).await;
        let errors = if outcome.is_ok() {
            console_errors(&self.client).await
        } else {
            Vec::new()
        };
        let _ = self.client.close().await;
        drop(self.driver);
        if let Err(err) = outcome {
            match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(err) => panic!("the browser scenario did not finish: {err}"),
            }
        }
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    }
}

/// chromedriver's log of the page's console since it was last read.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// The errors the page's scripts logged or threw (severe console entries). A refused request
/// is logged by Chromium as a network entry ("Failed to load resource: … 401"); the tests make
/// such requests on purpose and the page shows their problem, so those are not errors here.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c
        .issue_cmd(BrowserLog)
        .await
        .unwrap_or_else(|err| panic!("cannot read the browser's console log: {err}"));
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE" && entry["source"] != "network")
        .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// axe-core's script, from the npm package `.ci/run` installs into `target/axe`; `None` (and a
/// note) outside CI when it is missing, a panic under CI.
fn axe_source() -> Option<&'static str> {
    static SOURCE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/axe/node_modules/axe-core/axe.min.js");
            match std::fs::read_to_string(&path) {
                Ok(source) => Some(source),
                Err(err) => {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "{}: {err}; CI must check accessibility: install axe-core there \
                         (`npm install --prefix target/axe axe-core`, as .ci/run does)",
                        path.display()
                    );
                    eprintln!(
                        "accessibility checks skipped: {} is missing",
                        path.display()
                    );
                    None
                }
            }
        })
        .as_deref()
}

/// Checks the page as it is now: a screenshot named `name`, and axe-core's WCAG 2 A/AA rules
/// with no critical or serious violation.
async fn check_page(c: &Client, name: &str) {
    screenshot(c, name).await;
    let Some(axe) = axe_source() else {
        return;
    };
    c.execute(axe, vec![])
        .await
        .unwrap_or_else(|err| panic!("{name}: cannot load axe-core: {err}"));
    let result = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))),
                     e => done({error: String(e)}));",
            vec![],
        )
        .await
        .unwrap_or_else(|err| panic!("{name}: axe-core did not run: {err}"));
    assert!(
        result.get("error").is_none(),
        "{name}: axe-core failed: {result}"
    );
    let bad: Vec<&Value> = result
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| matches!(v["impact"].as_str(), Some("critical" | "serious")))
        .collect();
    assert!(
        bad.is_empty(),
        "{name}: accessibility violations (axe-core): {}",
        serde_json::to_string_pretty(&bad).unwrap_or_default()
    );
}

/// The chromedriver process, stopped when dropped (also when starting a session fails).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}

/// Where the screenshots go; kept after the run so that a person can look at them.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join("shiphold-e2e")
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c
        .screenshot()
        .await
        .unwrap_or_else(|err| panic!("screenshot {name}: {err}"));
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    eprintln!("screenshot: {}", path.display());
}

// --- Page helpers --------------------------------------------------------------------------

async fn find(c: &Client, css: &str) -> Element {
    c.wait()
        .at_most(UI_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no element {css}: {err}"))
}

async fn click(c: &Client, css: &str) {
    find(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|err| panic!("cannot click {css}: {err}"));
}

async fn type_into(c: &Client, css: &str, text: &str) {
    let field = find(c, css).await;
    field
        .clear()
        .await
        .unwrap_or_else(|err| panic!("cannot clear {css}: {err}"));
    field
        .send_keys(text)
        .await
        .unwrap_or_else(|err| panic!("cannot type into {css}: {err}"));
}

/// Waits until the visible text of `css` satisfies `ready`; returns it. Panics with the last text
/// seen.
async fn wait_text(c: &Client, css: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + UI_TIMEOUT;
    let mut last = String::new();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if ready(&text) {
                return text;
            }
            last = text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {what}; last text: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Accepts the confirmation the page asked for, after checking that it says `what`.
async fn confirm(c: &Client, what: &str) {
    let deadline = Instant::now() + UI_TIMEOUT;
    let text = loop {
        match c.get_alert_text().await {
            Ok(text) => break text,
            Err(_) => {
                assert!(Instant::now() < deadline, "no confirmation was asked");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(text.contains(what), "the confirmation says {text:?}");
    c.accept_alert()
        .await
        .unwrap_or_else(|err| panic!("cannot accept the confirmation: {err}"));
}

/// Switches the console to English (the page reloads; the choice is remembered).
async fn english(c: &Client) {
    let lang = |c: Client| async move {
        c.execute("return document.documentElement.lang;", vec![])
            .await
            .ok()
    };
    if lang(c.clone()).await == Some(json!("en")) {
        return;
    }
    click(c, "#lang-switch").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    while lang(c.clone()).await != Some(json!("en")) {
        assert!(
            Instant::now() < deadline,
            "the console did not switch to English"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs out in the console and waits for the page it loads anew: until then the old page (with
/// its hidden sign-in form) is still there, and typing into it would hit elements about to go.
async fn sign_out(c: &Client) {
    c.execute("window.shipholdOldPage = true;", vec![])
        .await
        .unwrap();
    click(c, "#forget-key").await;
    let deadline = Instant::now() + UI_TIMEOUT;
    loop {
        let old = c
            .execute("return window.shipholdOldPage === true;", vec![])
            .await
            .ok();
        if old == Some(json!(false)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "signing out did not load the page anew"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many times the page has drawn the list `css` (its `data-drawn`), 0 before the first.
async fn drawn(c: &Client, css: &str) -> u64 {
    let value = find(c, css).await.attr("data-drawn").await.ok().flatten();
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css))
        .await
        .map_or(0, |found| found.len())
}

// --- The API, for what the test sets up and checks behind the page ----------------------

#[derive(Clone)]
struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// Step 1 (memo, flag, terms), step 2 (enable) and an event window around now.
    async fn enable_with_window_around_now(&self) {
        use reqwest::Method;
        self.ok(
            Method::PUT,
            "/v1/settings/memo",
            Some(json!({"memo_text": MEMO, "flag": "red", "accept_terms": true})),
        )
        .await;
        self.ok(Method::POST, "/v1/settings/enable", None).await;
        let (from, until, reopen) = window_around_now();
        self.ok(
            Method::POST,
            "/v1/event-windows",
            Some(
                json!({"name": "Double 11", "refunds_off_from": from, "refunds_off_until": until,
                        "time_zone": "Asia/Shanghai", "refunds_reopen_at": reopen}),
            ),
        )
        .await;
    }

    /// An order of `buyer` with two unshipped items, `<order>-1` and `<order>-2`.
    async fn push_order(&self, order: &str, buyer: &str) {
        let body = json!({
            "buyer_id": buyer,
            "version": 1,
            "sub_orders": [
                {"id": format!("{order}-1"), "item_id": "longjing-250g", "title": "西湖龙井 Longjing tea 250g",
                 "quantity": 1, "amount": 12800, "shipping_status": "awaiting_shipment"},
                {"id": format!("{order}-2"), "item_id": "gaiwan-white", "title": "白瓷盖碗 Porcelain gaiwan",
                 "quantity": 2, "amount": 5900, "shipping_status": "awaiting_shipment"},
            ],
        });
        self.ok(
            reqwest::Method::PUT,
            &format!("/v1/orders/{order}"),
            Some(body),
        )
        .await;
    }
}

/// A server with one shop; its admin key.
fn server_with_shop(label: &str) -> (Server, String) {
    server_with_shop_and(label, &[])
}

/// A server with one shop and these settings (`SHIPHOLD__…` variables); its admin key.
fn server_with_shop_and(label: &str, env: &[(&str, &str)]) -> (Server, String) {
    let dir = TempDir::new(label);
    let out = run(dir.path(), &["shop", "create", "--name", "Tea House"], &[]);
    assert!(out.status.success(), "{out:?}");
    let key = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("api key:"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no key: {out:?}"));
    let builder = env
        .iter()
        .fold(Server::builder().in_dir(dir), |b, (k, v)| b.env(k, v));
    (builder.start(), key)
}

/// Refunds off from an hour ago for three hours: the server runs on the real clock.
fn window_around_now() -> (String, String, String) {
    let now = Utc::now();
    let at = |hours: i64| {
        (now + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    (at(-1), at(2), at(3))
}

#[tokio::test]
async fn a_buyer_opens_the_card_chooses_one_item_and_is_told_it_was_received() {
    if !browser_installed("buyer card") {
        return;
    }
    let (server, key) = server_with_shop("browser-card");
    let api = Api {
        base: server.base_url(),
        key,
        http: http(),
    };
    use reqwest::Method;
    api.enable_with_window_around_now().await;
    api.push_order("B-1", "buyer-7").await;
    let card = api
        .ok(
            Method::POST,
            "/v1/orders/B-1/cards",
            Some(json!({"locale": "en"})),
        )
        .await;
    let link = card["link"].as_str().unwrap_or_default().to_owned();
    assert!(
        link.starts_with(&format!("{}/c/ct_", server.base_url())),
        "{card}"
    );

    let browser = Browser::start().await;
    let checks = api.clone();
    browser
        .run(|c| async move {
            c.goto(&link).await.unwrap();
            wait_text(&c, "#subtitle", "the order", |t| t.contains("B-1")).await;
            assert_eq!(count(&c, "input[name=sub_order_ids]").await, 2);
            assert_eq!(count(&c, "input[name=sub_order_ids]:checked").await, 0);
            // One language at a time: the browser's (English here).
            let title = find(&c, "#title").await.text().await.unwrap();
            assert_eq!(title, "Stop shipment");
            // Submitting with nothing chosen says what to do.
            click(&c, "#submit").await;
            wait_text(&c, "#error", "what to do", |t| {
                t.contains("Choose at least one item")
            })
            .await;
            click(&c, "input[name=sub_order_ids][value='B-1-2']").await;
            click(&c, "#submit").await;

            // A confirmation in the buyer's language, announced and focused.
            let done = wait_text(&c, "#done", "the confirmation", |t| {
                t.starts_with("Received.")
            })
            .await;
            assert!(done.contains("may still fail"), "{done}");
            check_page(&c, "card-submitted").await;
            let focused = c
                .execute(
                    "return document.activeElement && document.activeElement.id;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(focused, json!("done"));
            assert_eq!(
                find(&c, "#done")
                    .await
                    .attr("aria-live")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("polite")
            );
            let status = wait_text(&c, "#status", "the chosen item as requested", |t| {
                t.contains("not yet confirmed")
            })
            .await;
            assert!(
                status.contains("Porcelain gaiwan: request received, not yet confirmed"),
                "status: {status}"
            );
            assert_eq!(count(&c, "#status [data-state=requested]").await, 1);
            assert!(!status.contains("Longjing"), "status: {status}");
            // In the browser's language (English here; Chinese is the default).
            wait_text(&c, "#inbox", "the acknowledgement", |t| {
                t.contains("we have tried to stop the shipment (it may fail)")
                    || t.contains("我们已尝试拦截发货(可能拦截失败)")
            })
            .await;
            // The item is taken: the page offers only the other one now.
            assert_eq!(
                count(&c, "input[name=sub_order_ids]:disabled").await,
                1,
                "the intercepted item is still choosable"
            );
            check_page(&c, "card").await;
            // On a 360 px phone the card never scrolls sideways (its long link wraps).
            c.set_window_rect(0, 0, 360, 800).await.unwrap();
            let widths = c
                .execute(
                    "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                widths[0].as_u64().unwrap() <= widths[1].as_u64().unwrap(),
                "the card is {} px wide in {} px",
                widths[0],
                widths[1]
            );
            check_page(&c, "card-phone").await;
            c.set_window_rect(0, 0, 1280, 1500).await.unwrap();

            // Behind the page: exactly that item, and the memo on the order.
            let list = checks
                .ok(Method::GET, "/v1/interceptions?order_id=B-1", None)
                .await;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            assert_eq!(items.len(), 1, "{list}");
            let lines = items[0]["lines"].as_array().cloned().unwrap_or_default();
            assert_eq!(lines.len(), 1, "{list}");
            assert_eq!(lines[0]["sub_order_id"], "B-1-2");
            assert_eq!(lines[0]["state"], "requested");
            assert_eq!(items[0]["method"]["kind"], "card");
            let order = checks.ok(Method::GET, "/v1/orders/B-1", None).await;
            assert!(
                order["sub_orders"][0]["interception_state"].is_null(),
                "{order}"
            );
            assert_eq!(order["sub_orders"][1]["interception_state"], "requested");
            assert!(
                order["seller_memo"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(MEMO),
                "{order}"
            );
        })
        .await;
    drop(server);
}

/// A wall time in Shanghai, as the console's window form takes it.
fn shanghai_wall(offset_hours: i64) -> String {
    let shanghai = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!());
    (Utc::now() + chrono::Duration::hours(offset_hours))
        .with_timezone(&shanghai)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

/// Sets a field's value as a picker would (typing into a date-time picker depends on the
/// browser's locale) and tells the page.
async fn set_value(c: &Client, css: &str, value: &str) {
    find(c, css).await;
    c.execute(
        "const f = document.querySelector(arguments[0]); f.value = arguments[1]; \
         f.dispatchEvent(new Event('input', { bubbles: true }));",
        vec![json!(css), json!(value)],
    )
    .await
    .unwrap_or_else(|err| panic!("cannot set {css}: {err}"));
}

#[tokio::test]
async fn a_merchant_sets_up_intercepts_filters_and_releases_in_the_console() {
    if !browser_installed("console") {
        return;
    }
    let (server, key) = server_with_shop("browser-console");
    let api = Api {
        base: server.base_url(),
        key: key.clone(),
        http: http(),
    };
    use reqwest::Method;

    // The page itself: only its own script, no caching of a page that holds a key.
    let page = api
        .http
        .get(server.url("/console"))
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET /console: {err}"));
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("cache-control"), "no-store");
    let csp = header("content-security-policy");
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    let console = server.url("/console");
    let browser = Browser::start().await;
    let checks = api.clone();
    browser
        .run(|c| async move {
            c.goto(&console).await.unwrap();
            // Chinese by default, one language at a time, the server's words included.
            let h1 = find(&c, "h1").await.text().await.unwrap();
            assert!(h1.contains("商家后台") && !h1.contains("Merchant"), "{h1}");
            type_into(&c, "#api-key", &key).await;
            click(&c, "#connect").await;
            wait_text(&c, "#enabled-state", "the shop's state", |t| t == "未启用").await;
            click(&c, "#enable").await;
            let problem = wait_text(&c, "#enable-form .problem", "the refusal in Chinese", |t| {
                t.contains("尚不能启用拦截")
            })
            .await;
            assert!(problem.contains("备注内容") && problem.contains("请同意《拦截发货条款》"), "{problem}");
            assert!(!problem.contains("memo text") && !problem.contains("accept the"), "{problem}");
            assert!(!problem.contains("memo_text") && !problem.contains("terms_accepted"), "{problem}");
            // The switch to English is remembered; the key stays in this tab.
            english(&c).await;
            wait_text(&c, "#enabled-state", "the shop's state", |t| t == "Not enabled").await;
            let h1 = find(&c, "h1").await.text().await.unwrap();
            assert_eq!(h1, "Shiphold · Merchant console");
            assert!(!find(&c, "#key-form").await.is_displayed().await.unwrap());
            // The key lives in this tab's sessionStorage only; the language, in localStorage.
            let stored = c
                .execute(
                    "return [sessionStorage.getItem('shiphold.console.key'), localStorage.length, localStorage.getItem('shiphold.console.lang'), document.cookie];",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(stored, json!([key, 1, "en", ""]));

            // The tabs are tabs: the arrow keys move between them.
            let first = find(&c, "nav button[data-tab=setup]").await;
            assert_eq!(first.attr("role").await.unwrap().as_deref(), Some("tab"));
            first.send_keys(&fantoccini::key::Key::Right.to_string()).await.unwrap();
            wait_text(&c, "#tab-windows h2", "the windows tab", |t| !t.is_empty()).await;
            let selected = find(&c, "nav button[data-tab=windows]")
                .await
                .attr("aria-selected")
                .await
                .unwrap();
            assert_eq!(selected.as_deref(), Some("true"));
            click(&c, "nav button[data-tab=setup]").await;

            // Step 2 before step 1: refused, naming both missing fields.
            click(&c, "#enable").await;
            let problem = wait_text(&c, "#enable-form .problem", "the refusal", |t| {
                t.contains("the interception terms")
            })
            .await;
            // The fields as people call them, not the API's names.
            assert!(problem.contains("memo text"), "{problem}");
            assert!(!problem.contains("memo_text") && !problem.contains("terms_accepted"), "{problem}");
            assert!(problem.contains("Interception cannot be enabled yet"), "{problem}");
            let beside_memo = find(&c, ".field-error[data-for=memo_text]").await;
            assert!(!beside_memo.text().await.unwrap().is_empty(), "no error beside the memo");
            check_page(&c, "console-setup-refused").await;

            // Step 1, then step 2.
            type_into(&c, "#memo-text", MEMO).await;
            find(&c, "#flag")
                .await
                .select_by_value("purple")
                .await
                .unwrap();
            // The terms can be read before they are accepted: a link to their page, with the
            // version.
            let terms = find(&c, "#terms-link").await;
            assert_eq!(terms.attr("href").await.unwrap().as_deref(), Some("/terms"));
            let text = terms.text().await.unwrap();
            let settings = checks.ok(reqwest::Method::GET, "/v1/settings", None).await;
            let version = settings["terms"]["current_version"].as_str().unwrap();
            assert!(text.contains(version), "{text}");
            click(&c, "#accept-terms").await;
            click(&c, "#save-memo").await;
            wait_text(&c, "#memo-form .result", "saved", |t| t.contains("Saved")).await;
            // Step 1 saved: step 2's earlier refusal is gone.
            assert!(!find(&c, "#enable-form .problem").await.is_displayed().await.unwrap());
            click(&c, "#enable").await;
            wait_text(&c, "#enabled-state", "enabled", |t| t == "Enabled").await;
            assert!(!find(&c, "#enable-form .problem").await.is_displayed().await.unwrap());

            // Step 3: a refused ERP endpoint says why beside the field; card expiry saves.
            // Locking is the ERP's: it cannot be ticked before there is an endpoint.
            assert!(!find(&c, "#erp-locking").await.is_enabled().await.unwrap());
            type_into(&c, "#erp-endpoint", "http://127.0.0.1:9/erp").await;
            assert!(find(&c, "#erp-locking").await.is_enabled().await.unwrap());
            click(&c, "#save-erp").await;
            wait_text(&c, "#erp-form .problem", "the refused endpoint", |t| {
                t.contains("endpoint")
            })
            .await;
            let beside = find(&c, ".field-error[data-for=endpoint]").await;
            assert!(!beside.text().await.unwrap().is_empty());
            // Editing the field takes its error back; emptied, locking cannot be ticked again.
            type_into(&c, "#erp-endpoint", "x").await;
            assert!(beside.text().await.unwrap().is_empty());
            find(&c, "#erp-endpoint")
                .await
                .send_keys(&fantoccini::key::Key::Backspace.to_string())
                .await
                .unwrap();
            assert!(!find(&c, "#erp-locking").await.is_enabled().await.unwrap());
            type_into(&c, "#card-expiry", "120").await;
            click(&c, "#save-advanced").await;
            wait_text(&c, "#advanced-form .result", "saved", |t| t.contains("Saved")).await;
            check_page(&c, "console-setup").await;

            // An event window around now, in Shanghai time.
            click(&c, "nav button[data-tab=windows]").await;
            // The form offers the next 11.11, never one that has passed.
            let prefilled = find(&c, "#window-until").await.prop("value").await.unwrap();
            let prefilled = prefilled.unwrap_or_default();
            let until = chrono::NaiveDateTime::parse_from_str(&prefilled, "%Y-%m-%dT%H:%M")
                .unwrap_or_else(|err| panic!("{prefilled:?}: {err}"));
            assert!(until > Utc::now().naive_utc(), "prefilled {prefilled}");
            type_into(&c, "#window-name", "双11 / Double 11").await;
            type_into(&c, "#window-tz", "Asia/Shanghai").await;
            // One reading of the clock for the start, used again below.
            let from_wall = shanghai_wall(-1);
            set_value(&c, "#window-from", &from_wall).await;
            set_value(&c, "#window-until", &shanghai_wall(2)).await;
            set_value(&c, "#window-reopen", &shanghai_wall(3)).await;
            click(&c, "#create-window").await;
            wait_text(&c, "#window-form .result", "created", |t| t.contains("active")).await;
            wait_text(&c, "#window-list", "the window", |t| t.contains("active")).await;
            // Every time names its zone.
            let list = find(&c, "#window-list").await.text().await.unwrap();
            assert!(list.contains(&format!("{} Asia/Shanghai", from_wall.replace('T', " "))), "{list}");
            check_page(&c, "console-windows").await;

            // Edit it: the form takes its times back in its zone; saving changes it.
            click(&c, ".edit-window").await;
            let from = find(&c, "#window-from").await.prop("value").await.unwrap();
            assert_eq!(from.as_deref(), Some(from_wall.as_str()));
            type_into(&c, "#window-name", "双11 / Double 11 (edited)").await;
            click(&c, "#create-window").await;
            wait_text(&c, "#window-list", "the edited window", |t| t.contains("(edited)")).await;

            // A window that has ended: a warning first; then it can be deleted again.
            type_into(&c, "#window-name", "Old").await;
            set_value(&c, "#window-from", &shanghai_wall(-30)).await;
            set_value(&c, "#window-until", &shanghai_wall(-27)).await;
            set_value(&c, "#window-reopen", &shanghai_wall(-26)).await;
            click(&c, "#create-window").await;
            confirm(&c, "already ended").await;
            wait_text(&c, "#window-list", "the old window", |t| t.contains("Old")).await;
            c.find(Locator::XPath(
                "//tr[td[contains(., 'Old')]]//button[contains(@class, 'delete-window')]",
            ))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
            confirm(&c, "Delete the event window Old").await;
            wait_text(&c, "#window-list", "the old window gone", |t| !t.contains("Old")).await;

            // The merchant's system pushes an order; customer service looks it up.
            checks.push_order("C-1", "buyer-9").await;
            click(&c, "nav button[data-tab=orders]").await;
            // The tab opens on the latest orders; a buyer filter narrows them.
            wait_text(&c, "#recent-list", "the new order", |t| t.contains("C-1 · buyer-9")).await;
            type_into(&c, "#recent-buyer", "nobody").await;
            click(&c, "#recent-orders").await;
            wait_text(&c, "#recent-list", "no order of that buyer", |t| {
                t.contains("No order of this buyer")
            })
            .await;
            type_into(&c, "#recent-buyer", "buyer-9").await;
            click(&c, "#recent-orders").await;
            wait_text(&c, "#recent-list", "the buyer's order", |t| t.contains("C-1 · buyer-9")).await;
            // What the agent types of an order number narrows the list as they type.
            type_into(&c, "#order-id", "Z").await;
            wait_text(&c, "#recent-list", "no order starting with Z", |t| {
                t.contains("No order id starts with Z")
            })
            .await;
            type_into(&c, "#order-id", "C-").await;
            wait_text(&c, "#recent-list", "the order starting with C-", |t| t.contains("C-1 · buyer-9")).await;
            type_into(&c, "#order-id", "C-1").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-items", "both items", |t| {
                t.contains("Longjing") && t.contains("gaiwan")
            })
            .await;

            // Method 1: a card, whose link is shown.
            click(&c, "#send-card").await;
            let sent = wait_text(&c, "#order-actions .result", "the card link", |t| {
                t.contains("/c/ct_")
            })
            .await;
            assert!(sent.contains(&checks.base), "{sent}");
            assert_eq!(count(&c, "#order-actions .copy-link").await, 1);
            // Method 2: the whole order.
            click(&c, "#intercept-order").await;
            confirm(&c, "Intercept every unshipped item of order").await;
            wait_text(&c, "#order-actions .result", "the interception", |t| {
                t.contains("interception requested — not yet confirmed")
            })
            .await;
            wait_text(&c, "#order-items", "both items requested", |t| {
                t.matches("requested").count() == 2
            })
            .await;
            let memo = find(&c, "#order-memo").await.text().await.unwrap();
            assert!(memo.contains(MEMO), "memo: {memo}");
            let messages = wait_text(&c, "#order-messages", "the card and the acknowledgement", |t| {
                t.contains("card") && t.contains("acknowledgement")
            })
            .await;
            // No chat gateway here: the messages wait in the card's inbox, and the page says so
            // rather than "delivered".
            assert!(messages.contains("card inbox only"), "{messages}");
            assert!(!messages.contains("delivered"), "{messages}");

            // The interceptions list, filtered to what is requested, with its history.
            click(&c, "nav button[data-tab=interceptions]").await;
            find(&c, "#filter-state")
                .await
                .select_by_value("requested")
                .await
                .unwrap();
            click(&c, "#apply-filter").await;
            wait_text(&c, "#interception-count", "one interception", |t| {
                t.contains("1 shown")
            })
            .await;
            click(&c, ".interception .expand").await;
            wait_text(&c, ".interception .history-box", "the history", |t| {
                t.contains("C-1-1") && t.contains("C-1-2")
            })
            .await;
            // Drawing the list anew keeps the open history open: wait for the new drawing,
            // since the old one shows the history too.
            let before = drawn(&c, "#interception-list").await;
            click(&c, "#apply-filter").await;
            let deadline = Instant::now() + UI_TIMEOUT;
            while drawn(&c, "#interception-list").await <= before {
                assert!(Instant::now() < deadline, "the list was not drawn anew");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            wait_text(&c, ".interception .history-box", "the history, still open", |t| {
                t.contains("C-1-1") && t.contains("C-1-2")
            })
            .await;
            assert_eq!(
                find(&c, ".interception .expand")
                    .await
                    .attr("aria-expanded")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("true")
            );
            check_page(&c, "console-interceptions").await;

            // Release: the agent chooses the items (both, ticked by default) and says why;
            // both are released, the memo note taken back, the reason kept in the history.
            click(&c, ".interception .release").await;
            assert_eq!(count(&c, ".interception .release-item:checked").await, 2);
            type_into(&c, ".interception .release-reason", "买家改主意 / buyer changed their mind").await;
            click(&c, ".interception .release-confirm").await;
            confirm(&c, "C-1-1, C-1-2 (order C-1)? Its items will ship").await;
            wait_text(&c, ".interception .result", "the release", |t| {
                t.contains("Released")
            })
            .await;
            assert_eq!(count(&c, ".interception .line [data-state=released]").await, 2);
            wait_text(&c, ".interception .history-box", "the reason", |t| {
                t.contains("buyer changed their mind")
            })
            .await;
            assert_eq!(count(&c, ".interception .release").await, 0);
            click(&c, "#apply-filter").await;
            wait_text(&c, "#interception-count", "an empty list", |t| {
                t.contains("No interception matches")
            })
            .await;

            click(&c, "nav button[data-tab=orders]").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-items", "both items released", |t| {
                t.matches("released").count() == 2
            })
            .await;
            let memo = find(&c, "#order-memo").await.text().await.unwrap();
            assert!(!memo.contains(MEMO), "the memo is still there: {memo}");
            assert_eq!(find(&c, "#order-note").await.text().await.unwrap(), "—");
            wait_text(&c, "#order-messages", "the release notice", |t| {
                t.contains("release notice")
            })
            .await;
            check_page(&c, "console-order").await;

            click(&c, "nav button[data-tab=risk]").await;
            wait_text(&c, "#risk-list", "nothing at risk", |t| {
                t.contains("Nothing at risk")
            })
            .await;
            check_page(&c, "console-risk").await;

            // Behind the page.
            let settings = checks.ok(Method::GET, "/v1/settings", None).await;
            assert_eq!(settings["enabled"], true);
            assert_eq!(settings["flag"], "purple");
            assert_eq!(settings["memo_text"], MEMO);
            assert_eq!(settings["advanced"]["card_expiry_seconds"], 7200);
            let order = checks.ok(Method::GET, "/v1/orders/C-1", None).await;
            assert!(
                !order["seller_memo"].as_str().unwrap_or_default().contains(MEMO),
                "{order}"
            );
            assert_eq!(order["sub_orders"][0]["interception_state"], "released");

            // Switching off asks for a confirmation and a reason, which the audit keeps.
            click(&c, "nav button[data-tab=setup]").await;
            click(&c, "#disable").await;
            c.send_alert_text("refunds are open again").await.unwrap();
            confirm(&c, "Switch interception off?").await;
            wait_text(&c, "#enabled-state", "disabled", |t| t == "Not enabled").await;
            let audit = checks.ok(Method::GET, "/v1/audit", None).await;
            assert!(audit.to_string().contains("refunds are open again"), "{audit}");
        })
        .await;
    drop(server);
}

/// chromedriver's bridge to the DevTools protocol: one CDP command in the page's session.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Every request of the page takes at least `latency` from sent to answered (zero: none).
async fn network_latency(c: &Client, latency: Duration) {
    for cmd in [
        Cdp {
            cmd: "Network.enable",
            params: json!({}),
        },
        Cdp {
            cmd: "Network.emulateNetworkConditions",
            params: json!({"offline": false, "latency": latency.as_millis() as u64,
                           "downloadThroughput": -1, "uploadThroughput": -1}),
        },
    ] {
        c.issue_cmd(cmd)
            .await
            .unwrap_or_else(|err| panic!("CDP network conditions: {err}"));
    }
}

/// With 2.5 s of network latency, an agent who looks up another order and clicks at once can
/// never act on the order that was on screen, and an action's answer never shows under another
/// order than the one it was made for.
#[tokio::test]
async fn a_slow_lookup_never_acts_on_the_previous_order() {
    if !browser_installed("slow lookup") {
        return;
    }
    let (server, key) = server_with_shop("browser-slow");
    let api = Api {
        base: server.base_url(),
        key: key.clone(),
        http: http(),
    };
    use reqwest::Method;
    api.enable_with_window_around_now().await;
    api.push_order("TB-1008", "buyer-8").await;
    api.push_order("TB-1009", "buyer-9").await;
    api.push_order("TB-1010", "buyer-10").await;

    let console = server.url("/console");
    let checks = api.clone();
    Browser::start()
        .await
        .run(|c| async move {
            c.goto(&console).await.unwrap();
            english(&c).await;
            type_into(&c, "#api-key", &key).await;
            click(&c, "#connect").await;
            wait_text(&c, "#enabled-state", "the shop's state", |t| {
                t.contains("Enabled")
            })
            .await;
            click(&c, "nav button[data-tab=orders]").await;
            type_into(&c, "#order-id", "TB-1008").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-title", "TB-1008", |t| t == "TB-1008").await;

            // The lookup of TB-1009 is slow; the agent clicks "intercept" at once.
            network_latency(&c, Duration::from_millis(2500)).await;
            type_into(&c, "#order-id", "TB-1009").await;
            click(&c, "#lookup-order").await;
            assert!(
                !find(&c, "#order-view").await.is_displayed().await.unwrap(),
                "TB-1008's actions are still on screen while TB-1009 loads"
            );
            // Even a click the page did not offer (a script's) acts on nothing.
            c.execute(
                "document.getElementById('intercept-order').click();",
                vec![],
            )
            .await
            .unwrap();
            wait_text(&c, "#order-title", "TB-1009", |t| t == "TB-1009").await;
            let (_, none) = checks
                .call(Method::GET, "/v1/interceptions?order_id=TB-1008", None)
                .await;
            assert_eq!(none["items"], json!([]), "TB-1008 was intercepted: {none}");

            // Now the agent intercepts TB-1009, the order on screen, telling its buyer in English.
            find(&c, "#message-locale")
                .await
                .select_by_value("en")
                .await
                .unwrap();
            click(&c, "#intercept-order").await;
            confirm(&c, "Intercept every unshipped item of order").await;
            let said = wait_text(&c, "#order-actions .result", "the request", |t| {
                t.contains("not yet confirmed")
            })
            .await;
            assert!(said.contains("TB-1009"), "{said}");
            let (_, made) = checks
                .call(Method::GET, "/v1/interceptions?order_id=TB-1009", None)
                .await;
            assert_eq!(made["items"].as_array().map(Vec::len), Some(1), "{made}");

            // Nothing of TB-1009 is left to intercept: no card, no second interception.
            wait_text(&c, "#nothing-left", "nothing left", |t| {
                t.contains("Nothing in this order")
            })
            .await;
            assert!(!find(&c, "#send-card").await.is_enabled().await.unwrap());

            // A card is sent for TB-1010, and before its answer comes the agent opens TB-1008:
            // the card's answer must not show under TB-1008.
            type_into(&c, "#order-id", "TB-1010").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-title", "TB-1010", |t| t == "TB-1010").await;
            // Another order, another buyer: the message language is the default again.
            let locale = find(&c, "#message-locale")
                .await
                .prop("value")
                .await
                .unwrap();
            assert_eq!(locale.as_deref(), Some("zh-CN"));
            click(&c, "#send-card").await;
            type_into(&c, "#order-id", "TB-1008").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-title", "TB-1008", |t| t == "TB-1008").await;
            // The card's answer arrived and was dropped (the page counts those).
            let deadline = Instant::now() + UI_TIMEOUT;
            while c
                .execute(
                    "return document.getElementById('order-actions').dataset.dropped || null;",
                    vec![],
                )
                .await
                .unwrap()
                != json!("1")
            {
                assert!(Instant::now() < deadline, "the card's answer never came");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let shown = find(&c, "#order-actions .result").await;
            assert!(
                !shown.is_displayed().await.unwrap(),
                "TB-1008 shows another order's result: {:?}",
                shown.text().await
            );
            network_latency(&c, Duration::ZERO).await;
            check_page(&c, "console-slow-lookup").await;
        })
        .await;
}

/// An ERP that refuses every delivery (401): the order the agent opens says the ERP did not
/// receive its interception and why, and offers the re-drive right there.
#[tokio::test]
async fn erp_failures_show_on_the_order_with_a_redrive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !browser_installed("erp failures") {
        return;
    }
    // The refusing ERP: every request gets 401.
    let erp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let erp_url = format!("http://{}/erp", erp.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = erp.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let (server, key) = server_with_shop_and(
        "browser-erp",
        &[
            ("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true"),
            // One attempt, then a dead letter.
            ("SHIPHOLD__JOBS__RETRY_SCHEDULE_SECONDS", "0"),
        ],
    );
    let api = Api {
        base: server.base_url(),
        key: key.clone(),
        http: http(),
    };
    use reqwest::Method;
    api.enable_with_window_around_now().await;
    api.ok(
        Method::PUT,
        "/v1/settings/erp",
        Some(json!({"endpoint": erp_url, "locking": true})),
    )
    .await;
    api.push_order("TB-2001", "buyer-1").await;
    api.ok(Method::POST, "/v1/orders/TB-2001/interceptions", None)
        .await;
    let deadline = Instant::now() + UI_TIMEOUT;
    let dead_id = loop {
        let dead = api.ok(Method::GET, "/v1/erp/dead-letters", None).await;
        if let Some(id) = dead["items"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no dead letter: {dead}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let console = server.url("/console");
    let checks = api.clone();
    Browser::start()
        .await
        .run(|c| async move {
            c.goto(&console).await.unwrap();
            english(&c).await;
            type_into(&c, "#api-key", &key).await;
            click(&c, "#connect").await;
            wait_text(&c, "#enabled-state", "the shop's state", |t| {
                t.contains("Enabled")
            })
            .await;
            click(&c, "nav button[data-tab=orders]").await;
            type_into(&c, "#order-id", "TB-2001").await;
            click(&c, "#lookup-order").await;
            let said = wait_text(&c, "#order-erp", "the ERP failure", |t| {
                t.contains("did not receive")
            })
            .await;
            assert!(said.contains("check the signing secret"), "{said}");
            click(&c, "#order-erp .redrive").await;
            wait_text(&c, "#order-erp", "the re-drive", |t| {
                t.contains("Queued again")
            })
            .await;
            check_page(&c, "console-erp-failure").await;
            // The re-drive really queued it: its ERP is tried again (and refuses again).
            let deadline = Instant::now() + UI_TIMEOUT;
            let path = format!("/v1/erp/dead-letters/{dead_id}");
            loop {
                let (_, entry) = checks.call(Method::GET, &path, None).await;
                if entry["history"].as_array().is_some_and(|h| h.len() >= 2) {
                    break;
                }
                assert!(Instant::now() < deadline, "not tried again: {entry}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
}

/// An admin links the marketplace in the console (the secret and session are never shown
/// back); an interception's memo and flag reach the marketplace simulator, and the order in the
/// console says the write-back is done.
#[tokio::test]
async fn a_merchant_links_the_marketplace_and_sees_the_memo_written_back() {
    use shiphold_marketplace_adapter::sim::{PATH, SimConfig, Simulator};
    use shiphold_marketplace_adapter::{AppSecret, Flag};
    if !browser_installed("marketplace write-back") {
        return;
    }
    let sim = Simulator::start(
        SimConfig::new()
            .app("12345678", AppSecret::new("the-app-secret").unwrap())
            .session("12345678", "the-sellers-session")
            .order(3001),
    )
    .await
    .unwrap();
    let gateway = format!("http://{}{PATH}", sim.addr());
    let (server, key) = server_with_shop_and(
        "browser-marketplace",
        &[("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")],
    );
    let api = Api {
        base: server.base_url(),
        key: key.clone(),
        http: http(),
    };
    use reqwest::Method;
    api.enable_with_window_around_now().await;
    api.push_order("3001", "buyer-1").await;

    let console = server.url("/console");
    let checks = api.clone();
    Browser::start()
        .await
        .run(|c| async move {
            c.goto(&console).await.unwrap();
            english(&c).await;
            type_into(&c, "#api-key", &key).await;
            click(&c, "#connect").await;
            wait_text(&c, "#marketplace-current", "no link yet", |t| {
                t.contains("No marketplace linked")
            })
            .await;
            // The first link without a session is refused beside the field.
            type_into(&c, "#mkt-gateway", &gateway).await;
            type_into(&c, "#mkt-app-key", "12345678").await;
            type_into(&c, "#mkt-app-secret", "the-app-secret").await;
            find(&c, "#mkt-sign-method")
                .await
                .select_by_value("md5")
                .await
                .unwrap();
            click(&c, "#save-marketplace").await;
            wait_text(
                &c,
                ".field-error[data-for=session]",
                "the missing session",
                |t| !t.is_empty(),
            )
            .await;
            type_into(&c, "#mkt-app-secret", "the-app-secret").await;
            type_into(&c, "#mkt-session", "the-sellers-session").await;
            click(&c, "#save-marketplace").await;
            let linked = wait_text(&c, "#marketplace-current", "the link", |t| {
                t.contains("Linked")
            })
            .await;
            assert!(
                linked.contains("12345678") && linked.contains("switched on"),
                "{linked}"
            );
            // Saved, the secret fields are empty again: nothing of them comes back.
            for field in ["#mkt-app-secret", "#mkt-session"] {
                let value = find(&c, field).await.prop("value").await.unwrap();
                assert_eq!(value.as_deref(), Some(""), "{field}");
            }
            check_page(&c, "console-marketplace-link").await;

            checks
                .ok(Method::POST, "/v1/orders/3001/interceptions", None)
                .await;
            click(&c, "nav button[data-tab=orders]").await;
            type_into(&c, "#order-id", "3001").await;
            let deadline = Instant::now() + UI_TIMEOUT;
            // The write goes out in the background: look the order up until it says written.
            loop {
                click(&c, "#lookup-order").await;
                wait_text(&c, "#order-title", "the order", |t| t == "3001").await;
                let state = find(&c, "#order-writeback-state")
                    .await
                    .text()
                    .await
                    .unwrap();
                if state == "written" {
                    break;
                }
                assert!(Instant::now() < deadline, "write-back still {state:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            check_page(&c, "console-marketplace-written").await;
        })
        .await;
    let written = sim.order(3001).unwrap();
    assert!(written.memo.ends_with("[3001-1, 3001-2]"), "{written:?}");
    assert_eq!((written.flag, written.writes), (Some(Flag::Red), 1));
    sim.shutdown().await;
}

/// The first admin opens the invitation link `shop create` printed, chooses a password and is
/// signed in; invites an agent from the staff tab; the agent opens their link, sees an agent's
/// console (no set-up, no staff), intercepts an order, and the history names them; a reload
/// keeps them signed in (the cookie, which no script can read); a wrong password is refused
/// with a reason; signing out ends it.
#[tokio::test]
async fn staff_sign_in_as_themselves_and_the_history_names_them() {
    if !browser_installed("staff") {
        return;
    }
    let dir = TempDir::new("browser-staff");
    let out = run(
        dir.path(),
        &[
            "shop",
            "create",
            "--name",
            "Tea House",
            "--admin-login",
            "boss@tea.example",
            "--admin-name",
            "王老板",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let field = |label: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label}: {out:?}"))
    };
    let key = field("api key:");
    let link = field("invitation link:");
    let token = link.split("#invitation=").nth(1).unwrap().to_owned();
    let server = Server::builder().in_dir(dir).start();
    let api = Api {
        base: server.base_url(),
        key,
        http: http(),
    };
    api.enable_with_window_around_now().await;
    api.push_order("TB-2001", "buyer-21").await;
    let admin_link = server.url(&format!("/console#invitation={token}"));
    let console = server.url("/console");
    let checks = api.clone();
    Browser::start()
        .await
        .run(|c| async move {
            // The first admin chooses a password from the link.
            c.goto(&admin_link).await.unwrap();
            english(&c).await;
            find(&c, "#new-password").await;
            check_page(&c, "console-invitation").await;
            type_into(&c, "#new-password", "tea house boss 2026").await;
            type_into(&c, "#new-password-again", "tea house boss 2026!").await;
            click(&c, "#accept-invitation").await;
            wait_text(&c, "#invitation-form .problem", "the mismatch", |t| {
                t.contains("The two passwords differ")
            })
            .await;
            type_into(&c, "#new-password-again", "tea house boss 2026").await;
            click(&c, "#accept-invitation").await;
            wait_text(&c, "#who", "the admin's name", |t| {
                t.contains("王老板") && t.contains("admin")
            })
            .await;
            let url = c.current_url().await.unwrap();
            assert!(
                !url.as_str().contains("invitation"),
                "the used link stays in the address bar: {url}"
            );
            let cookies = c.get_all_cookies().await.unwrap();
            let session = cookies
                .iter()
                .find(|k| k.name() == "shiphold_session")
                .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
            assert_eq!(session.http_only(), Some(true));
            assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
            // No script reads it.
            let seen: Value = c.execute("return document.cookie;", vec![]).await.unwrap();
            assert!(
                !seen.as_str().unwrap_or("").contains("shiphold_session"),
                "{seen}"
            );

            // The admin invites an agent.
            click(&c, "nav button[data-tab=staff]").await;
            type_into(&c, "#staff-login", "li.na@tea.example").await;
            type_into(&c, "#staff-name", "李娜").await;
            click(&c, "#invite-staff").await;
            let shown = wait_text(&c, "#staff-form .result", "the invitation link", |t| {
                t.contains("#invitation=shi_")
            })
            .await;
            wait_text(&c, "#staff-list", "the invited agent", |t| {
                t.contains("li.na@tea.example") && t.contains("invited")
            })
            .await;
            check_page(&c, "console-staff").await;
            let agent_token = shown
                .split("#invitation=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap()
                .to_owned();
            sign_out(&c).await;
            find(&c, "#sign-in-form").await;
            wait_text(&c, "#intro", "the sign-in prompt", |t| {
                t.contains("Sign in with the login")
            })
            .await;
            check_page(&c, "console-sign-in").await;

            // The agent opens their link.
            c.goto(&format!("{console}#invitation={agent_token}"))
                .await
                .unwrap();
            type_into(&c, "#new-password", "li na password 1").await;
            type_into(&c, "#new-password-again", "li na password 1").await;
            click(&c, "#accept-invitation").await;
            wait_text(&c, "#who", "the agent's name", |t| {
                t.contains("李娜") && t.contains("agent")
            })
            .await;
            for admin_only in [
                "nav button[data-tab=setup]",
                "nav button[data-tab=staff]",
                "#window-form",
            ] {
                assert!(
                    !find(&c, admin_only).await.is_displayed().await.unwrap(),
                    "an agent sees {admin_only}"
                );
            }
            assert!(find(&c, "#tab-orders").await.is_displayed().await.unwrap());

            // The agent intercepts an order, saying why.
            type_into(&c, "#order-id", "TB-2001").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-title", "TB-2001", |t| t == "TB-2001").await;
            click(&c, "#intercept-order").await;
            c.send_alert_text("买家下错单 / ordered twice by mistake")
                .await
                .unwrap();
            confirm(&c, "Intercept every unshipped item of order").await;
            wait_text(&c, "#order-actions .result", "the interception", |t| {
                t.contains("interception requested — not yet confirmed")
            })
            .await;
            click(&c, "nav button[data-tab=interceptions]").await;
            click(&c, ".interception .expand").await;
            let history = wait_text(&c, ".interception .history-box", "who requested", |t| {
                t.contains("TB-2001-1")
            })
            .await;
            assert!(
                history.contains("li.na@tea.example"),
                "the history does not name the agent: {history}"
            );
            assert!(
                history.contains("ordered twice by mistake"),
                "no reason: {history}"
            );
            wait_text(&c, ".interception .reason", "the reason", |t| {
                t.contains("ordered twice by mistake")
            })
            .await;
            check_page(&c, "console-agent-history").await;

            // A reload keeps the agent signed in.
            c.refresh().await.unwrap();
            wait_text(&c, "#who", "still the agent", |t| t.contains("李娜")).await;

            // Signing out ends the session; a wrong password is refused, the right one works.
            sign_out(&c).await;
            find(&c, "#sign-in-form").await;
            let (status, _) = {
                let r = checks
                    .http
                    .get(format!("{}/v1/session", checks.base))
                    .header("cookie", format!("shiphold_session={}", session.value()))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), ())
            };
            assert_eq!(status, 401, "the admin's first session still opens the API");
            type_into(&c, "#login", "li.na@tea.example").await;
            type_into(&c, "#password", "not the password").await;
            click(&c, "#sign-in").await;
            wait_text(&c, "#key-problem", "the refusal", |t| {
                t.contains("The login or password is wrong")
            })
            .await;
            type_into(&c, "#password", "li na password 1").await;
            click(&c, "#sign-in").await;
            wait_text(&c, "#who", "the agent again", |t| t.contains("李娜")).await;
        })
        .await;
}

/// The terms page passes the accessibility checks; and the check for console errors sees an
/// error a script throws (so that it is not silent when a page breaks).
#[tokio::test]
async fn the_terms_page_is_accessible_and_a_thrown_error_is_caught() {
    if !browser_installed("terms") {
        return;
    }
    let (server, _) = server_with_shop("browser-terms");
    let terms = server.url("/terms");
    let browser = Browser::start().await;
    let c = browser.client.clone();
    c.goto(&terms).await.unwrap();
    wait_text(&c, "h1", "the title", |t| t.contains("Interception terms")).await;
    check_page(&c, "terms").await;
    assert!(console_errors(&c).await.is_empty());
    c.execute(
        "setTimeout(function () { throw new Error('a page that broke'); }, 0);",
        vec![],
    )
    .await
    .unwrap();
    let deadline = Instant::now() + UI_TIMEOUT;
    let mut seen = Vec::new();
    while seen.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the thrown error was never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = console_errors(&c).await;
    }
    assert!(seen[0].contains("a page that broke"), "{seen:?}");
    browser.run(|_| async {}).await;
    drop(server);
}

/// On a 360 px phone the console never scrolls sideways: its tables scroll within themselves.
#[tokio::test]
async fn the_console_fits_a_phone() {
    if !browser_installed("phone") {
        return;
    }
    let (server, key) = server_with_shop("browser-phone");
    let api = Api {
        base: server.base_url(),
        key: key.clone(),
        http: http(),
    };
    api.enable_with_window_around_now().await;
    api.push_order("TB-3601", "buyer-with-a-rather-long-identifier-360")
        .await;
    let console = server.url("/console");
    Browser::start()
        .await
        .run(|c| async move {
            c.set_window_rect(0, 0, 360, 800).await.unwrap();
            c.goto(&console).await.unwrap();
            english(&c).await;
            type_into(&c, "#api-key", &key).await;
            click(&c, "#connect").await;
            wait_text(&c, "#enabled-state", "the shop's state", |t| t == "Enabled").await;
            let fits = |c: Client, what: &'static str| async move {
                let widths = c
                    .execute(
                        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                        vec![],
                    )
                    .await
                    .unwrap();
                let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
                assert!(scroll <= client, "{what}: the page is {scroll} px wide in {client} px");
            };
            fits(c.clone(), "set-up").await;
            click(&c, "nav button[data-tab=orders]").await;
            type_into(&c, "#order-id", "TB-3601").await;
            click(&c, "#lookup-order").await;
            wait_text(&c, "#order-title", "TB-3601", |t| t == "TB-3601").await;
            click(&c, "#intercept-order").await;
            confirm(&c, "Intercept every unshipped item of order").await;
            wait_text(&c, "#order-actions .result", "the interception", |t| {
                t.contains("not yet confirmed")
            })
            .await;
            fits(c.clone(), "an order").await;
            check_page(&c, "console-phone-order").await;
            click(&c, "nav button[data-tab=interceptions]").await;
            click(&c, ".interception .expand").await;
            wait_text(&c, ".interception .history-box", "the history", |t| t.contains("TB-3601-1")).await;
            fits(c.clone(), "interceptions").await;
            click(&c, "nav button[data-tab=windows]").await;
            wait_text(&c, "#window-list", "the window", |t| t.contains("active")).await;
            fits(c.clone(), "windows").await;
        })
        .await;
    drop(server);
}
