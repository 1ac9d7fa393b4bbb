//! `cargo xtask demo`: the fastest way to see Shiphold work. Builds and starts `shiphold serve` on
//! a fresh SQLite file, runs the ERP, marketplace and Qimen warehouse simulators in this
//! process, sets a demo shop up over HTTP the way a merchant would (linked to all three), and
//! prints what to open and what to paste.
//!
//! `--once` does the same, then intercepts an order, waits until its items are locked, its memo
//! is written on the marketplace simulator's order and its document is held at the warehouse
//! simulator, and stops: the demo's own test, and a quick smoke test of a build.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use shiphold_erp_adapter::Secret;
use shiphold_erp_adapter::sim::{SimConfig, SimHandle, Simulator};
use shiphold_marketplace_adapter::sim as market_sim;
use shiphold_qimen_adapter::sim as qimen_sim;

const SHOP_NAME: &str = "Demo Tea House";
/// The order that gets a card, the one the pasted commands intercept (it has a shipped item),
/// and the one `--once` intercepts.
/// Marketplace order numbers, so that the memo can be written back to them.
const CARD_ORDER: &str = "20261111001";
const PASTE_ORDER: &str = "20261111002";
const CHECK_ORDER: &str = "20261111003";
/// The marketplace application and seller authorisation the simulator knows.
const MARKET_APP_KEY: &str = "12345678";
const MARKET_SECRET: &str = "demo-app-secret";
const MARKET_SESSION: &str = "demo-seller-session";
/// The Qimen application, merchant and warehouse the WMS simulator knows.
const QIMEN_APP_KEY: &str = "23456789";
const QIMEN_SECRET: &str = "demo-qimen-secret";
const QIMEN_CUSTOMER: &str = "demo-customer";
const QIMEN_WAREHOUSE: &str = "WH-HZ-01";
/// The server prints its address within this long of starting (a cold SQLite file included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The server promises to stop within 10 s of SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `--once` waits for the simulator's `locked` to reach the order.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Options {
    /// 0: a free port.
    pub port: u16,
    /// The demo's working directory (emptied first); `<target>/demo` by default.
    pub dir: Option<PathBuf>,
    /// Check, print and stop instead of running until Ctrl-C.
    pub once: bool,
}

/// What the demo prints, for its test to look at.
#[derive(Debug)]
pub(crate) struct Summary {
    pub base_url: String,
    pub api_key: String,
    pub card_link: String,
    pub sim_url: String,
    pub marketplace_url: String,
    pub qimen_url: String,
}

pub(crate) fn demo(root: &Path, opts: &Options) -> Result<Summary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(run(root, opts))
}

/// The simulators of the demo's peers, in this process.
pub(crate) struct Peers {
    /// The ERP.
    pub(crate) erp: SimHandle,
    /// The marketplace's memo endpoint.
    pub(crate) marketplace: market_sim::SimHandle,
    /// The Qimen warehouse.
    pub(crate) qimen: qimen_sim::SimHandle,
}

impl Peers {
    pub(crate) async fn shutdown(self) {
        self.erp.shutdown().await;
        self.marketplace.shutdown().await;
        self.qimen.shutdown().await;
    }
}

/// A demo shop set up on a running server, with its peers' simulators in this process.
pub(crate) struct Running {
    pub(crate) server: ServerProcess,
    pub(crate) sim: Peers,
    pub(crate) summary: Summary,
    pub(crate) shop_id: String,
    pub(crate) dir: PathBuf,
    pub(crate) log_path: PathBuf,
    api: Api,
}

/// Builds the server, empties `dir`, creates the demo shop, starts `shiphold serve` on `port`
/// and sets the shop up over HTTP.
pub(crate) async fn start(root: &Path, dir: PathBuf, port: u16) -> Result<Running> {
    let bin = build_server(root)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("could not empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;

    let created = shiphold(&bin, &dir)
        .args(["shop", "create", "--name", SHOP_NAME])
        .stdin(Stdio::null())
        .output()
        .context("could not run `shiphold shop create`")?;
    let printed = String::from_utf8_lossy(&created.stdout);
    if !created.status.success() {
        bail!(
            "`shiphold shop create` failed ({}): {}",
            created.status,
            String::from_utf8_lossy(&created.stderr).trim()
        );
    }
    let shop_id = field(&printed, "shop id:").context("`shop create` printed no shop id")?;
    let api_key = field(&printed, "api key:").context("`shop create` printed no api key")?;

    let log_path = dir.join("shiphold.log");
    let server = ServerProcess::start(&bin, &dir, port, &log_path)?;
    let base_url = format!("http://{}", server.addr);
    step(&format!("shiphold serve is listening on {base_url}"));

    let api = Api::new(&base_url, &api_key)?;
    let (sim, card_link) = set_up(&api).await?;
    let summary = Summary {
        base_url,
        api_key,
        card_link,
        sim_url: sim.erp.url(),
        marketplace_url: sim.marketplace.url(),
        qimen_url: sim.qimen.url(),
    };
    Ok(Running {
        server,
        sim,
        summary,
        shop_id,
        dir,
        log_path,
        api,
    })
}

/// The orders the demo pushes.
pub(crate) const ORDERS: [&str; 3] = [CARD_ORDER, PASTE_ORDER, CHECK_ORDER];

async fn run(root: &Path, opts: &Options) -> Result<Summary> {
    let dir = opts
        .dir
        .clone()
        .unwrap_or_else(|| crate::release::target_dir(root).join("demo"));
    let Running {
        mut server,
        sim,
        summary,
        shop_id,
        dir,
        log_path,
        api,
    } = start(root, dir, opts.port).await?;

    let outcome = if opts.once {
        check(&api, &sim).await
    } else {
        print_summary(&summary, &shop_id, &dir, &log_path);
        wait_for_stop(&mut server).await
    };
    step("stopping the server and the simulators");
    let stopped = server.stop();
    sim.shutdown().await;
    outcome?;
    stopped?;
    if opts.once {
        print_summary(&summary, &shop_id, &dir, &log_path);
        println!(
            "Checked: {CHECK_ORDER} was intercepted, every item reached `locked`, its memo was \
             written on the marketplace simulator and its document held at the warehouse \
             simulator. Stopped."
        );
    }
    Ok(summary)
}

pub(crate) fn step(line: &str) {
    eprintln!("xtask demo: {line}");
}

/// `cargo build` of the `shiphold` binary (debug); its path.
fn build_server(root: &Path) -> Result<PathBuf> {
    build_server_profile(root, false)
}

/// `cargo build` of the `shiphold` binary, with `--release` when `release`; its path.
pub(crate) fn build_server_profile(root: &Path, release: bool) -> Result<PathBuf> {
    let profile = if release { " --release" } else { "" };
    step(&format!(
        "building shiphold (cargo build{profile} -p shiphold-server --bin shiphold)"
    ));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "build",
        "--quiet",
        "-p",
        "shiphold-server",
        "--bin",
        "shiphold",
        "--message-format=json-render-diagnostics",
    ];
    if release {
        args.push("--release");
    }
    let out = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("could not start cargo")?;
    if !out.status.success() {
        bail!("building shiphold failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "shiphold")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .context("cargo built shiphold but named no executable")
}

/// `shiphold` in `dir`, deaf to the developer's own `SHIPHOLD__…` and `RUST_LOG` settings.
pub(crate) fn shiphold(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHIPHOLD__") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// The trimmed text after `label` on the first line that starts with it.
pub(crate) fn field(text: &str, label: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A running `shiphold serve`, killed if dropped while running.
pub(crate) struct ServerProcess {
    child: Child,
    addr: String,
    log_path: PathBuf,
}

impl ServerProcess {
    fn start(bin: &Path, dir: &Path, port: u16, log_path: &Path) -> Result<Self> {
        Self::start_with(bin, dir, port, log_path, &[])
    }

    /// Starts `shiphold serve` as the demo does, with `extra` environment variables on top
    /// (they win over the demo's own).
    pub(crate) fn start_with(
        bin: &Path,
        dir: &Path,
        port: u16,
        log_path: &Path,
        extra: &[(String, String)],
    ) -> Result<Self> {
        let mut cmd = shiphold(bin, dir);
        cmd.arg("serve")
            .env("SHIPHOLD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            // Its metrics on a free port too, so a demo runs beside another server.
            .env("SHIPHOLD__METRICS__LISTEN", "127.0.0.1:0")
            // The simulator listens on plain http on loopback.
            .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
            .env("SHIPHOLD__LOG__FORMAT", "pretty")
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: Ctrl-C reaches only xtask, which then stops the server once,
        // with SIGTERM (a second signal would make it skip the graceful stop).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().context("could not start `shiphold serve`")?;

        let log = std::fs::File::create(log_path)
            .with_context(|| format!("could not create {}", log_path.display()))?;
        let (found_tx, found_rx) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            copy_log(stderr, log.try_clone()?, Some(found_tx));
        }
        if let Some(stdout) = child.stdout.take() {
            copy_log(stdout, log, None);
        }
        let mut server = Self {
            child,
            addr: String::new(),
            log_path: log_path.to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(addr) = found_rx.recv_timeout(Duration::from_millis(100)) {
                server.addr = addr;
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                std::thread::sleep(Duration::from_millis(100));
                bail!(
                    "shiphold serve exited ({status}) before listening:\n{}",
                    server.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "shiphold serve did not listen within {START_TIMEOUT:?}:\n{}",
                    server.log_tail()
                );
            }
        }
    }

    /// The `host:port` it listens on.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The process id, for reading its memory use from /proc.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM (through kill(1): the workspace forbids the unsafe code `libc::kill` needs), then
    /// waits for a clean exit.
    pub(crate) fn stop(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("shiphold serve had stopped already ({status})");
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("could not run kill")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.child.id());
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("shiphold serve exited with {status}:\n{}", self.log_tail());
                }
                step("shiphold serve stopped cleanly");
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("shiphold serve did not stop within {STOP_TIMEOUT:?}; killed it");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies a stream of the server into the log file; sends the address of `listening on`.
fn copy_log(
    stream: impl Read + Send + 'static,
    mut log: std::fs::File,
    found: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut found = found;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &found
                && let Some(addr) = listening_address(&line)
            {
                let _ = tx.send(addr.to_owned());
                found = None;
            }
            let _ = writeln!(log, "{line}");
        }
    });
}

/// The `host:port` of the server's `listening on http://host:port` line.
fn listening_address(line: &str) -> Option<&str> {
    const MARK: &str = "listening on http://";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '/')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The demo shop's side of the HTTP API.
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub(crate) fn new(base: &str, key: &str) -> Result<Self> {
        // reqwest is built without a default TLS provider here; a client needs one even for http.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.to_owned(),
            key: key.to_owned(),
        })
    }

    /// Calls the API and fails, with the problem document, on anything but a 2xx.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let what = format!("{method} {path}");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.with_context(|| what.clone())?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Set-up as the console's wizard does it, the ERP link to a simulator that knows the shop's
/// secret, the marketplace and Qimen links to theirs, three orders, and a card; the simulators
/// and the card's link.
async fn set_up(api: &Api) -> Result<(Peers, String)> {
    step("setting the demo shop up: memo, flag and terms; enable; event window; ERP link");
    set_up_shop(api).await?;

    // The first link generates the shop's signing secret, which the simulator must have before
    // it listens; so link a placeholder, start the simulator, then point the link at it (the
    // secret stays).
    let secret = link_erp(api, "http://127.0.0.1:9/erp")
        .await?
        .context("linking the ERP answered no signing secret")?;
    let mut config = SimConfig::new(secret);
    config.log = true;
    let sim = Simulator::start(config)
        .await
        .context("could not start the ERP simulator")?;
    link_erp(api, &sim.url()).await?;
    step(&format!(
        "ERP simulator on {} (answers `locked`)",
        sim.url()
    ));
    let marketplace = link_marketplace(api).await?;
    let qimen = link_qimen(api).await?;

    step("pushing three orders");
    for (id, buyer, items) in demo_orders() {
        api.call(
            Method::PUT,
            &format!("/v1/orders/{id}"),
            Some(json!({"buyer_id": buyer, "version": 1, "sub_orders": items,
                        "seller_memo": merchant_memo(id)})),
        )
        .await?;
    }
    let card = api
        .call(
            Method::POST,
            &format!("/v1/orders/{CARD_ORDER}/cards"),
            None,
        )
        .await?;
    let link = card["link"]
        .as_str()
        .context("creating the card answered no link")?
        .to_owned();
    let peers = Peers {
        erp: sim,
        marketplace,
        qimen,
    };
    Ok((peers, link))
}

/// The merchant's own memo on a demo order: the check order has one, which the write-back keeps
/// before Shiphold's note.
fn merchant_memo(order: &str) -> &'static str {
    if order == CHECK_ORDER {
        "送礼品 gift wrap"
    } else {
        ""
    }
}

/// Starts the marketplace simulator, knowing the demo orders (with a merchant's memo on one),
/// and links the shop to it.
async fn link_marketplace(api: &Api) -> Result<market_sim::SimHandle> {
    let mut config = market_sim::SimConfig::new()
        .app(
            MARKET_APP_KEY,
            shiphold_marketplace_adapter::AppSecret::new(MARKET_SECRET)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )
        .session(MARKET_APP_KEY, MARKET_SESSION)
        .log(true);
    for order in ORDERS {
        let tid: u64 = order.parse().context("a demo order id is a number")?;
        config = config.order_with(tid, merchant_memo(order), None);
    }
    let sim = market_sim::Simulator::start(config)
        .await
        .context("could not start the marketplace simulator")?;
    api.call(
        Method::PUT,
        "/v1/settings/marketplace",
        Some(
            json!({"gateway": format!("http://{}{}", sim.addr(), market_sim::PATH),
                    "app_key": MARKET_APP_KEY, "app_secret": MARKET_SECRET,
                    "session": MARKET_SESSION}),
        ),
    )
    .await?;
    step(&format!(
        "marketplace simulator on {} (checks each memo write's signature)",
        sim.url()
    ));
    Ok(sim)
}

/// Starts the Qimen WMS simulator, knowing the demo orders' documents, and links the shop to it.
async fn link_qimen(api: &Api) -> Result<qimen_sim::SimHandle> {
    let secret =
        shiphold_qimen_adapter::Secret::new(QIMEN_SECRET).map_err(|e| anyhow::anyhow!("{e}"))?;
    let credentials =
        shiphold_qimen_adapter::Credentials::new(QIMEN_APP_KEY, secret, QIMEN_CUSTOMER)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = ORDERS
        .iter()
        .fold(qimen_sim::SimConfig::new(credentials), |c, order| {
            c.with_document(QIMEN_WAREHOUSE, *order)
        });
    let sim = qimen_sim::Simulator::start(config)
        .await
        .context("could not start the Qimen warehouse simulator")?;
    api.call(
        Method::PUT,
        "/v1/settings/qimen",
        Some(json!({"endpoint": sim.url(), "app_key": QIMEN_APP_KEY,
                    "app_secret": QIMEN_SECRET, "customer_id": QIMEN_CUSTOMER,
                    "warehouse_code": QIMEN_WAREHOUSE})),
    )
    .await?;
    step(&format!(
        "Qimen warehouse simulator on {} (holds and restores the orders' documents)",
        sim.url()
    ));
    Ok(sim)
}

/// Set-up steps 1 and 2 (memo, flag and terms; enable) and an event window from an hour ago
/// until tomorrow, as the console's wizard does them.
pub(crate) async fn set_up_shop(api: &Api) -> Result<()> {
    api.call(
        Method::PUT,
        "/v1/settings/memo",
        Some(json!({"memo_text": "拦截发货，请勿发出 / Intercepted: do not ship", "flag": "red", "accept_terms": true})),
    )
    .await?;
    api.call(Method::POST, "/v1/settings/enable", None).await?;
    let now = chrono::Utc::now();
    let until = (now + chrono::Duration::days(1)).to_rfc3339();
    api.call(
        Method::POST,
        "/v1/event-windows",
        Some(json!({
            "name": "Double 11 (demo)",
            "refunds_off_from": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "refunds_off_until": until,
            "time_zone": "Asia/Shanghai",
            "refunds_reopen_at": until,
        })),
    )
    .await?;
    Ok(())
}

/// Links the shop's ERP at `endpoint` with locking on. The first link generates the shop's
/// signing secret and answers it (shown once); later links keep it and answer `None`.
pub(crate) async fn link_erp(api: &Api, endpoint: &str) -> Result<Option<Secret>> {
    let linked = api
        .call(
            Method::PUT,
            "/v1/settings/erp",
            Some(json!({"endpoint": endpoint, "locking": true})),
        )
        .await?;
    linked["signing_secret"]
        .as_str()
        .map(|secret| Secret::parse(secret).map_err(|e| anyhow::anyhow!("the signing secret: {e}")))
        .transpose()
}

fn demo_orders() -> [(&'static str, &'static str, Value); 3] {
    let item = |id: &str, item: &str, title: &str, quantity: u32, amount: u32, status: &str| {
        json!({"id": id, "item_id": item, "title": title, "quantity": quantity,
               "amount": amount, "shipping_status": status})
    };
    [
        (
            CARD_ORDER,
            "buyer-ming",
            json!([
                item(
                    "20261111001-1",
                    "tea-longjing",
                    "Longjing green tea 250 g",
                    1,
                    12800,
                    "awaiting_shipment"
                ),
                item(
                    "20261111001-2",
                    "cup-gaiwan",
                    "Gaiwan cup",
                    2,
                    4600,
                    "awaiting_shipment"
                ),
            ]),
        ),
        (
            PASTE_ORDER,
            "buyer-li",
            json!([
                item(
                    "20261111002-1",
                    "tea-puer",
                    "Pu'er cake 357 g",
                    1,
                    26800,
                    "shipped"
                ),
                item(
                    "20261111002-2",
                    "tray-bamboo",
                    "Bamboo tea tray",
                    1,
                    9900,
                    "awaiting_shipment"
                ),
                item(
                    "20261111002-3",
                    "kettle-clay",
                    "Clay kettle",
                    1,
                    15800,
                    "awaiting_shipment"
                ),
            ]),
        ),
        (
            CHECK_ORDER,
            "buyer-wang",
            json!([
                item(
                    "20261111003-1",
                    "tea-oolong",
                    "Tieguanyin oolong 125 g",
                    2,
                    8800,
                    "awaiting_shipment"
                ),
                item(
                    "20261111003-2",
                    "cups-set",
                    "Tasting cups, set of 6",
                    1,
                    5200,
                    "awaiting_shipment"
                ),
            ]),
        ),
    ]
}

/// Intercepts the check order and waits until each of its items is `locked`, which takes the
/// whole path: outbox, signed delivery, the simulator's verification and answer, the result.
async fn check(api: &Api, peers: &Peers) -> Result<()> {
    let sim = &peers.erp;
    step(&format!("checking: intercepting {CHECK_ORDER}"));
    api.call(
        Method::POST,
        &format!("/v1/orders/{CHECK_ORDER}/interceptions"),
        None,
    )
    .await?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        let order = api
            .call(Method::GET, &format!("/v1/orders/{CHECK_ORDER}"), None)
            .await?;
        let states: Vec<String> = order["sub_orders"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        i["interception_state"]
                            .as_str()
                            .unwrap_or("none")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !states.is_empty() && states.iter().all(|s| s == "locked") {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{CHECK_ORDER}'s items did not reach `locked` within {LOCK_TIMEOUT:?}: {states:?}; \
                 the simulator accepted {} message(s)",
                sim.accepted().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if sim.accepted().is_empty() {
        bail!("the items are locked but the simulator accepted no message");
    }
    step(&format!(
        "{CHECK_ORDER} is locked; the simulator verified and accepted {} message(s)",
        sim.accepted().len()
    ));
    let tid: u64 = CHECK_ORDER
        .parse()
        .context("the check order id is a number")?;
    loop {
        let memo = peers
            .marketplace
            .order(tid)
            .map(|o| o.memo)
            .unwrap_or_default();
        let held = peers.qimen.is_held(QIMEN_WAREHOUSE, CHECK_ORDER);
        if memo.starts_with(&format!("{}\n", merchant_memo(CHECK_ORDER))) && held {
            step(&format!(
                "the marketplace order now reads {memo:?}; the warehouse holds its document"
            ));
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{CHECK_ORDER}: the marketplace memo is {memo:?} and the warehouse holds the \
                 document: {held}, after {LOCK_TIMEOUT:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until Ctrl-C (or the server ends on its own, which is an error).
async fn wait_for_stop(server: &mut ServerProcess) -> Result<()> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            signal = &mut ctrl_c => {
                signal.context("could not wait for Ctrl-C")?;
                eprintln!();
                return Ok(());
            }
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(status) = server.child.try_wait()? {
                    bail!("shiphold serve stopped by itself ({status}):\n{}", server.log_tail());
                }
            }
        }
    }
}

fn print_summary(s: &Summary, shop_id: &str, dir: &Path, log: &Path) {
    let Summary {
        base_url: b,
        api_key: key,
        card_link,
        sim_url,
        marketplace_url,
        qimen_url,
    } = s;
    println!(
        "\n\
Shiphold demo — shop \"{SHOP_NAME}\" ({shop_id})

  base URL       {b}
  API key        {key}
  console        {b}/console  (paste the API key)
  buyer card     {card_link}
                 (order {CARD_ORDER}: open it, pick an item, submit)
  ERP simulator  {sim_url}  (verifies each message with the shop's secret, answers `locked`)
  marketplace    {marketplace_url}  (the memo and flag written back on each order)
  Qimen WMS      {qimen_url}  (holds an intercepted order's whole parcel)
  data, log      {db}, {log}

Orders: {CARD_ORDER} (2 items, card sent), {PASTE_ORDER} (3 items, one already shipped), \
{CHECK_ORDER} (2 items).

Paste into bash:

  B={b}; KEY={key}
  # Intercept a whole order: the shipped item is refused, the others go to the ERP simulator,
  # the memo to the marketplace simulator and the hold to the warehouse simulator.
  curl -sS -X POST \"$B/v1/orders/{PASTE_ORDER}/interceptions\" -H \"Authorization: Bearer $KEY\"
  # Read it back: the memo and flag the warehouse sees and each item's interception state.
  curl -sS \"$B/v1/orders/{PASTE_ORDER}\" -H \"Authorization: Bearer $KEY\"
  # Every interception, and those the ERP has locked.
  curl -sS \"$B/v1/interceptions\" -H \"Authorization: Bearer $KEY\"
  curl -sS \"$B/v1/interceptions?state=locked\" -H \"Authorization: Bearer $KEY\"
",
        db = dir.join("data/shiphold.db").display(),
        log = log.display(),
    );
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole demo in `--once` mode: builds and starts the real server, sets the shop up over
    /// HTTP, and fails unless an intercepted order's items reach `locked` through the simulator.
    #[test]
    fn the_demo_runs_and_an_intercepted_order_locks() {
        let dir = std::env::temp_dir().join(format!("shiphold-xtask-demo-{}", std::process::id()));
        let opts = Options {
            port: 0,
            dir: Some(dir.clone()),
            once: true,
        };
        let summary = demo(&crate::workspace_root(), &opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(summary.api_key.starts_with("shk_"), "{summary:?}");
        assert!(
            summary
                .card_link
                .starts_with(&format!("{}/c/", summary.base_url)),
            "{summary:?}"
        );
        for url in [
            &summary.sim_url,
            &summary.marketplace_url,
            &summary.qimen_url,
        ] {
            assert!(url.starts_with("http://127.0.0.1:"), "{summary:?}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn reads_the_fields_shop_create_prints() {
        let out = "shop created\nshop id: shop_1\napi key id: k1\napi key: shk_abc\n";
        assert_eq!(field(out, "shop id:").as_deref(), Some("shop_1"));
        assert_eq!(field(out, "api key:").as_deref(), Some("shk_abc"));
        assert_eq!(field(out, "secret:"), None);
        assert_eq!(
            listening_address("INFO shiphold::serve: listening on http://127.0.0.1:4321"),
            Some("127.0.0.1:4321")
        );
    }
}
