//! `cargo xtask bench`: throughput and latency of the release server over HTTP on one machine,
//! against the raw limit of the same writes through the storage crate in the same run.
//!
//! Per backend it seeds orders through the store, starts `target/release/shiphold serve` on a
//! fresh database, drives it with its own closed-loop load generator ([`load`]) and a minimal
//! ERP ([`receiver`]) that verifies every delivery's signature, samples the server's resident
//! memory, then measures the same writes without the server ([`raw`]), and reports a table per
//! backend ([`report`]); `--write-docs` puts it into `docs/benchmarks.md`.

mod load;
mod raw;
mod receiver;
mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use reqwest::Method;
use shiphold_domain::ShopId;
use shiphold_erp_adapter::Secret;
use shiphold_storage::{Store, Topic};

use crate::demo::{Api, ServerProcess, field, link_erp, set_up_shop, shiphold};
use load::{Measured, Plan, Req};
use receiver::Receiver;
use report::{BackendReport, Machine, Report, Row};

/// The database server PostgreSQL runs use (trust authentication); each run creates its own
/// databases on it and drops them at the end.
const POSTGRES_BASE: &str = "postgres://postgres@127.0.0.1:5432";
/// Worker threads of the runtime that runs the load generator and the ERP receiver: the
/// machine's other cores belong to the server.
const GENERATOR_THREADS: usize = 2;
/// How long the outbox may take to drain before the bench gives up waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Order id prefixes: seeded for the interception phase, seeded for the backlog, pushed by the
/// intake phase (and then given cards).
const SEEDED: &str = "SEED";
const BACKLOG: &str = "BACKLOG";
const INTAKE: &str = "INTAKE";
const P99_TARGET: &str = "p99 ≤ 50 ms";

/// Which databases to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

/// The command's options, as given (`None`: the default, or `--quick`'s).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub backend: BackendChoice,
    pub orders: Option<usize>,
    pub duration: Option<u64>,
    pub connections: usize,
    pub backlog: Option<usize>,
    pub growth: bool,
    pub write_docs: bool,
    pub quick: bool,
}

/// The options resolved.
#[derive(Debug, Clone)]
struct Settings {
    orders: usize,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    backlog: usize,
    /// The two sizes `--growth` compares.
    growth: Option<(usize, usize)>,
}

impl Settings {
    fn new(opts: &Options) -> Self {
        let (orders, duration, backlog, warmup, growth) = if opts.quick {
            (500, 2, 500, Duration::from_millis(300), (500, 5_000))
        } else {
            (
                10_000,
                10,
                10_000,
                Duration::from_secs(1),
                (10_000, 1_000_000),
            )
        };
        Self {
            orders: opts.orders.unwrap_or(orders).max(1),
            duration: Duration::from_secs(opts.duration.unwrap_or(duration).max(1)),
            warmup,
            connections: opts.connections.max(1),
            backlog: opts.backlog.unwrap_or(backlog),
            growth: opts.growth.then_some(growth),
        }
    }
}

/// One backend's database and its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Requests per second targeted for intake, and for interceptions and card submissions.
    fn targets(self) -> (f64, f64) {
        match self {
            Backend::Sqlite => (5_000.0, 3_000.0),
            Backend::Postgres => (2_500.0, 2_000.0),
        }
    }
}

fn target(per_sec: f64, p99: bool) -> Option<String> {
    let rate = format!("≥ {}/s", report::thousands(per_sec));
    Some(if p99 {
        format!("{rate}, {P99_TARGET}")
    } else {
        rate
    })
}

/// `cargo xtask bench`. `cargo xtask` runs a debug build, in which the load generator and the
/// raw limit (diesel included) would run unoptimised; so a debug build builds xtask in release
/// and runs that with the same arguments.
pub(crate) fn bench(root: &Path, opts: &Options) -> Result<()> {
    if !cfg!(debug_assertions) {
        return measure(root, opts).map(|_| ());
    }
    step("building xtask in release, so that the load generator and the raw limit run optimised");
    crate::run(root, &["build", "--quiet", "--release", "-p", "xtask"], &[])?;
    let exe = crate::release::target_dir(root).join("release/xtask");
    let status = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start {}", exe.display()))?;
    if !status.success() {
        bail!("the release build of xtask failed the bench ({status})");
    }
    Ok(())
}

/// Runs the bench in this process and prints its tables; with `write_docs`, writes
/// `docs/bench/latest.json` and the section of `docs/benchmarks.md`.
pub(crate) fn measure(root: &Path, opts: &Options) -> Result<Report> {
    let settings = Settings::new(opts);
    // Before the build, which compiles the tree as it is now.
    let commit = git_commit(root);
    let backends = match opts.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    if backends.contains(&Backend::Postgres) && !crate::postgres_answers() {
        bail!("PostgreSQL does not answer on {}", crate::POSTGRES_ADDR);
    }
    let bin = crate::demo::build_server_profile(root, true)?;
    let work = crate::release::target_dir(root).join("bench");
    std::fs::create_dir_all(&work)
        .with_context(|| format!("could not create {}", work.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(GENERATOR_THREADS)
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    // reqwest is built without a default TLS provider here; a client needs one even for http.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut reports = Vec::new();
    for backend in backends {
        step(&format!("{}: starting", backend.name()));
        // Dropped (databases and files removed) whether the run succeeded or not.
        let mut dbs = Databases::new(backend, work.join(backend.slug()))?;
        let run = Run {
            backend,
            bin: bin.clone(),
            settings: settings.clone(),
        };
        let report = runtime.block_on(run.all(&mut dbs))?;
        println!(
            "\n{} ({} orders seeded, {} s per phase, {} connections)\n\n{}",
            backend.name(),
            report::thousands(settings.orders as f64),
            settings.duration.as_secs(),
            settings.connections,
            report::table(&report)
        );
        reports.push(report);
    }

    let report = Report {
        date: Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit,
        command: command_line(),
        machine: machine(),
        setup: serde_json::json!({
            "orders_seeded": settings.orders,
            "phase_seconds": settings.duration.as_secs(),
            "warmup_seconds": settings.warmup.as_secs_f64(),
            "connections": settings.connections,
            "backlog": settings.backlog,
            "growth": settings.growth,
            "generator": format!(
                "closed loop, one kept-alive HTTP/1 connection per client, tokio runtime with \
                 {GENERATOR_THREADS} worker threads shared with the ERP receiver"
            ),
            "server": "target/release/shiphold serve, default configuration except the database \
                       URL, listen 127.0.0.1:0, rate limits off, insecure ERP endpoints allowed, \
                       log filter warn",
        }),
        backends: reports,
    };
    if opts.write_docs {
        write_docs(root, &report)?;
    }
    Ok(report)
}

/// The bench of one backend.
struct Run {
    backend: Backend,
    bin: PathBuf,
    settings: Settings,
}

impl Run {
    async fn all(&self, dbs: &mut Databases) -> Result<BackendReport> {
        let mut report = BackendReport {
            backend: self.backend.name().to_owned(),
            rows: Vec::new(),
            notes: Vec::new(),
        };
        let server = self.server(dbs, &mut report).await?;
        let raw = self.raw(dbs, &mut report).await?;
        self.ratios(&server, &raw, &mut report);
        if let Some((small, large)) = self.settings.growth {
            self.growth(dbs, small, large, &mut report).await?;
        }
        let peak = server.peak_rss_mib;
        report.rows.push(Row {
            what: "peak server RSS (VmHWM, largest of the runs above)".into(),
            target: Some("≤ 150 MiB".into()),
            mib: Some(peak),
            ..Row::default()
        });
        Ok(report)
    }

    fn plan(&self, addr: SocketAddr) -> Plan {
        Plan {
            addr,
            connections: self.settings.connections,
            warmup: self.settings.warmup,
            duration: self.settings.duration,
        }
    }

    fn server_env(&self, url: &str, jobs: bool) -> Vec<(String, String)> {
        [
            ("SHIPHOLD__DATABASE__URL", url),
            ("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true"),
            ("SHIPHOLD__RATE_LIMIT__ENABLED", "false"),
            // Quiet, but the line with the bound address is needed.
            ("SHIPHOLD__LOG__FILTER", "warn,shiphold::serve=info"),
            (
                "SHIPHOLD__JOBS__ENABLED",
                if jobs { "true" } else { "false" },
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn start_server(&self, dir: &Path, url: &str, jobs: bool, label: &str) -> Result<Started> {
        let log = dir.join(format!("{label}.log"));
        let process =
            ServerProcess::start_with(&self.bin, dir, 0, &log, &self.server_env(url, jobs))?;
        let addr: SocketAddr = process
            .addr()
            .parse()
            .with_context(|| format!("the server listens on {}?", process.addr()))?;
        let rss = RssSampler::start(process.pid());
        Ok(Started {
            process,
            addr,
            rss,
            listening: Instant::now(),
        })
    }

    /// `shiphold shop create` on the database: the shop's id and its API key (all roles).
    fn create_shop(&self, dir: &Path, url: &str) -> Result<(ShopId, String)> {
        let out = shiphold(&self.bin, dir)
            .args(["shop", "create", "--name", "Bench Tea House"])
            .env("SHIPHOLD__DATABASE__URL", url)
            .env("SHIPHOLD__LOG__FILTER", "warn")
            .stdin(Stdio::null())
            .output()
            .context("could not run `shiphold shop create`")?;
        let printed = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "`shiphold shop create` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let shop = field(&printed, "shop id:").context("`shop create` printed no shop id")?;
        let key = field(&printed, "api key:").context("`shop create` printed no api key")?;
        Ok((ShopId::parse(&shop)?, key))
    }

    /// The server's phases: backlog fill (jobs off), backlog drain, intake, interceptions and
    /// card submissions (jobs on, delivering as they go).
    async fn server(
        &self,
        dbs: &mut Databases,
        report: &mut BackendReport,
    ) -> Result<ServerFigures> {
        let s = &self.settings;
        let (intake_target, intercept_target) = self.backend.targets();
        let (url, dir) = dbs.fresh("server")?;
        let (shop, key) = self.create_shop(&dir, &url)?;
        let key: Arc<str> = Arc::from(key);
        let store = raw::open(&url).await?;

        step(&format!(
            "seeding {} + {} orders through the store",
            report::thousands(s.orders as f64),
            report::thousands(s.backlog as f64)
        ));
        let seeding = Instant::now();
        let tasks = self.seed_tasks();
        raw::seed_orders(&store, &shop, SEEDED, s.orders, tasks).await?;
        raw::seed_orders(&store, &shop, BACKLOG, s.backlog, tasks).await?;
        report.notes.push(format!(
            "Orders seeded through the storage crate before the server started (`Tx::save_order`, \
             500 per transaction): {} in {:.1} s.",
            report::thousands((s.orders + s.backlog) as f64),
            seeding.elapsed().as_secs_f64()
        ));

        let receiver = Receiver::start().await?;
        let mut figures = ServerFigures::default();

        // 1. The backlog: interceptions while no process delivers.
        let mut first = self.start_server(&dir, &url, false, "serve-jobs-off")?;
        step(&format!(
            "server on {} (jobs off); setting the shop up over HTTP",
            first.addr
        ));
        let api = Api::new(&format!("http://{}", first.addr), &key)?;
        set_up_shop(&api).await?;
        let secret = link_erp(&api, &receiver.url())
            .await?
            .context("linking the ERP answered no signing secret")?;
        receiver.set_secret(secret);
        if s.backlog > 0 {
            step(&format!(
                "filling a backlog of {} ERP messages (interceptions, jobs off)",
                report::thousands(s.backlog as f64)
            ));
            let plan = Plan {
                warmup: Duration::ZERO,
                duration: Duration::from_secs(3600),
                ..self.plan(first.addr)
            };
            let m = load::drive(plan, intercepts(BACKLOG, s.backlog, key.clone())).await;
            let mut row = Row::measured(
                "direct interceptions, no delivery running (the backlog fill)",
                None,
                &m,
            );
            row.peak_rss_mib = Some(first.rss.take_mib());
            figures.intercept_no_jobs = m.per_sec();
            report.rows.push(row);
        }
        figures.peak(first.rss.hwm_mib());
        first.process.stop()?;

        // 2. The drain of that backlog by a server that delivers.
        let mut second = self.start_server(&dir, &url, true, "serve")?;
        step(&format!(
            "server on {} (jobs on): draining the backlog",
            second.addr
        ));
        if s.backlog > 0 {
            let drained = wait_drained(&store).await?;
            let seconds = drained.duration_since(second.listening).as_secs_f64();
            let got = receiver.received();
            let mut row = Row::rate(
                &format!(
                    "delivery incl. the ERP's results, from a backlog of {}",
                    report::thousands(s.backlog as f64)
                ),
                target(2_000.0, false),
                s.backlog as u64,
                seconds,
            );
            row.errors = Some(dead_erp(&store).await?);
            row.peak_rss_mib = Some(second.rss.take_mib());
            row = row.with_note(format!(
                "{} verified by the receiver; timed from the server's start to an empty outbox",
                report::thousands(got as f64)
            ));
            report.rows.push(row);
        }

        // 3. Intake of new orders.
        step("intake: PUT /v1/orders/{id} of new two-item orders");
        second.rss.take_mib();
        let intake_next = Arc::new(AtomicUsize::new(0));
        let m = load::drive(self.plan(second.addr), {
            let (next, key) = (intake_next.clone(), key.clone());
            move || {
                let i = next.fetch_add(1, Ordering::Relaxed);
                Some(Req {
                    method: http::Method::PUT,
                    path: format!("/v1/orders/{}", raw::order_id(INTAKE, i)),
                    body: serde_json::to_vec(&raw::order_body(INTAKE, i)).ok(),
                    key: Some(key.clone()),
                })
            }
        })
        .await;
        figures.intake = m.per_sec();
        let mut row = Row::measured(
            "intake `PUT /v1/orders/{id}`",
            target(intake_target, true),
            &m,
        );
        row.peak_rss_mib = Some(second.rss.take_mib());
        report.rows.push(row);
        let pushed = intake_next.load(Ordering::Relaxed);

        // 4. Direct interceptions of the seeded orders, delivered as they come.
        step("direct interceptions: POST /v1/orders/{id}/interceptions, each seeded order once");
        let m = load::drive(
            self.plan(second.addr),
            intercepts(SEEDED, s.orders, key.clone()),
        )
        .await;
        figures.intercept = m.per_sec();
        let mut row = Row::measured(
            "direct interceptions `POST /v1/orders/{id}/interceptions`",
            target(intercept_target, true),
            &m,
        );
        row.peak_rss_mib = Some(second.rss.take_mib());
        if m.exhausted {
            row = row.with_note(format!(
                "stopped early: all {} seeded orders intercepted",
                report::thousands(s.orders as f64)
            ));
        }
        report.rows.push(row);
        report.rows.push(
            self.steady(&receiver, &store, &m, "direct interceptions")
                .await?,
        );

        // 5. Card submissions by buyers, on cards made beforehand for the intake's orders.
        let cards = pushed.min(s.orders);
        step(&format!(
            "creating {} cards (not timed)",
            report::thousands(cards as f64)
        ));
        let api = Api::new(&format!("http://{}", second.addr), &key)?;
        let (tokens, failed) = create_cards(Arc::new(api), cards, s.connections).await;
        if !failed.is_empty() {
            report.notes.push(format!(
                "{} of {} cards could not be created; first: {}",
                failed.len(),
                cards,
                failed.first().map_or("", String::as_str)
            ));
        }
        step("card submissions: POST /v1/buyer/cards/{token}/interceptions");
        second.rss.take_mib();
        let tokens = Arc::new(tokens);
        let card_next = Arc::new(AtomicUsize::new(0));
        let m = load::drive(self.plan(second.addr), {
            let (tokens, next) = (tokens.clone(), card_next);
            move || {
                let token = tokens.get(next.fetch_add(1, Ordering::Relaxed))?;
                Some(Req {
                    method: http::Method::POST,
                    path: format!("/v1/buyer/cards/{token}/interceptions"),
                    body: Some(b"{}".to_vec()),
                    key: None,
                })
            }
        })
        .await;
        let mut row = Row::measured(
            "card submissions `POST /v1/buyer/cards/{token}/interceptions`",
            target(intercept_target, true),
            &m,
        );
        row.peak_rss_mib = Some(second.rss.take_mib());
        if m.exhausted {
            row = row.with_note(format!(
                "stopped early: all {} cards submitted",
                report::thousands(tokens.len() as f64)
            ));
        }
        report.rows.push(row);
        report.rows.push(
            self.steady(&receiver, &store, &m, "card submissions")
                .await?,
        );

        figures.peak(second.rss.hwm_mib());
        second.process.stop()?;
        let (refused, reasons) = receiver.refused();
        if refused > 0 {
            report.notes.push(format!(
                "The receiver refused {refused} deliveries (signature or body); first: {}",
                reasons.join(" | ")
            ));
        }
        if receiver.duplicates() > 0 {
            report.notes.push(format!(
                "{} messages arrived again with a webhook id already seen (redeliveries).",
                receiver.duplicates()
            ));
        }
        report.notes.push(format!(
            "The ERP receiver verified {} signed messages in all (Standard Webhooks, with the \
             adapter's `receive_message`) and answered every item `locked` in the response.",
            report::thousands(receiver.received() as f64)
        ));
        Ok(figures)
    }

    /// Deliveries that arrived while `m` was measured, and how long the rest took to drain.
    async fn steady(
        &self,
        receiver: &Receiver,
        store: &Store,
        m: &Measured,
        during: &str,
    ) -> Result<Row> {
        let Some((from, to)) = m.window else {
            bail!("the phase has no measured window");
        };
        let during_phase = receiver.received_between(from, to);
        let before = receiver.received();
        let drained = wait_drained(store).await?;
        let after = receiver.received() - before;
        let mut row = Row::rate(
            &format!("delivery incl. the ERP's results, in steady flow during {during}"),
            target(2_000.0, false),
            during_phase,
            to.duration_since(from).as_secs_f64(),
        );
        row.errors = Some(dead_erp(store).await?);
        Ok(row.with_note(format!(
            "{} more after the phase, drained {:.1} s after it ended",
            report::thousands(after as f64),
            drained.saturating_duration_since(to).as_secs_f64()
        )))
    }

    /// The same writes through the storage crate on a fresh database of the same backend.
    async fn raw(&self, dbs: &mut Databases, report: &mut BackendReport) -> Result<RawFigures> {
        let s = &self.settings;
        let (url, _) = dbs.fresh("raw")?;
        let store = raw::open(&url).await?;
        let shop = raw::set_up_shop(
            &store,
            None,
            "http://127.0.0.1:9/erp".into(),
            Secret::generate().to_whsec(),
        )
        .await?;
        step("raw limit: seeding, then the same writes through the store");
        let tasks = self.seed_tasks();
        raw::seed_orders(&store, &shop, "RAWA", s.orders, tasks).await?;
        raw::seed_orders(&store, &shop, "RAWB", s.orders, tasks).await?;
        let c = s.connections;
        let mut figures = RawFigures::default();
        let forms = [
            (raw::Work::Intake, "RAWI", usize::MAX / 2, 1),
            (raw::Work::Intake, "RAWJ", usize::MAX / 2, 32),
            (raw::Work::Intercept, "RAWA", s.orders, 1),
            (raw::Work::Intercept, "RAWB", s.orders, 32),
        ];
        for (work, prefix, available, per_tx) in forms {
            let m = raw::run(
                &store,
                &shop,
                raw::Job {
                    work,
                    prefix,
                    available,
                    per_tx,
                    tasks: c,
                    duration: s.duration,
                },
            )
            .await?;
            let what = match (work, per_tx) {
                (raw::Work::Intake, 1) => {
                    format!("raw intake, 1 per `Store::write`, {c} tasks")
                }
                (raw::Work::Intake, n) => {
                    format!("raw intake, {n} per `Store::write`, {c} tasks")
                }
                (raw::Work::Intercept, 1) => {
                    format!("raw interceptions, 1 per `Store::write`, {c} tasks")
                }
                (raw::Work::Intercept, n) => {
                    format!("raw interceptions, {n} per `Store::write`, {c} tasks")
                }
            };
            let mut row = Row::measured(&what, None, &m);
            if per_tx > 1 {
                row = row.with_note("latency is the transaction's");
            }
            if m.exhausted {
                row = row.with_note(format!(
                    "stopped early: all {} seeded orders used",
                    report::thousands(available as f64)
                ));
            }
            let rate = m.per_sec();
            match work {
                raw::Work::Intake => figures.intake = figures.intake.max(rate),
                raw::Work::Intercept => figures.intercept = figures.intercept.max(rate),
            }
            report.rows.push(row);
        }
        Ok(figures)
    }

    fn ratios(&self, server: &ServerFigures, raw: &RawFigures, report: &mut BackendReport) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let pairs = [
            (
                "server ÷ fastest raw, direct interceptions (delivery running)",
                server.intercept,
                raw.intercept,
            ),
            (
                "server ÷ fastest raw, direct interceptions (no delivery running)",
                server.intercept_no_jobs,
                raw.intercept,
            ),
            ("server ÷ fastest raw, intake", server.intake, raw.intake),
        ];
        for (what, a, b) in pairs {
            if a > 0.0 {
                report.rows.push(Row::ratio(
                    what,
                    Some("≥ 0.6".into()),
                    ratio(a, b),
                    format!("{}/s ÷ {}/s", report::thousands(a), report::thousands(b)),
                ));
            }
        }
    }

    /// The interception phase at `small` and at `large` seeded orders, each on a database of
    /// its own seeded through the store before the server starts.
    async fn growth(
        &self,
        dbs: &mut Databases,
        small: usize,
        large: usize,
        report: &mut BackendReport,
    ) -> Result<()> {
        let mut p99 = Vec::new();
        for size in [small, large] {
            let (url, dir) = dbs.fresh(&format!("growth-{size}"))?;
            let (shop, key) = self.create_shop(&dir, &url)?;
            let store = raw::open(&url).await?;
            let receiver = Receiver::start().await?;
            let secret = Secret::generate();
            raw::set_up_shop(
                &store,
                Some(shop.clone()),
                receiver.url(),
                secret.to_whsec(),
            )
            .await?;
            receiver.set_secret(secret);
            step(&format!(
                "growth: seeding {} orders through the store",
                report::thousands(size as f64)
            ));
            let seeding = Instant::now();
            raw::seed_orders(&store, &shop, SEEDED, size, self.seed_tasks()).await?;
            let seeded_in = seeding.elapsed().as_secs_f64();
            let mut server = self.start_server(&dir, &url, true, "serve-growth")?;
            step(&format!(
                "growth: direct interceptions with {} orders",
                report::thousands(size as f64)
            ));
            let m = load::drive(
                self.plan(server.addr),
                intercepts(SEEDED, size, Arc::from(key)),
            )
            .await;
            let mut row = Row::measured(
                &format!(
                    "growth: direct interceptions with {} orders",
                    report::thousands(size as f64)
                ),
                None,
                &m,
            );
            row.peak_rss_mib = Some(server.rss.take_mib());
            report.rows.push(row.with_note(format!(
                "seeded through the store in {seeded_in:.0} s before the server started"
            )));
            p99.push(m.percentile_ms(99.0));
            wait_drained(&store).await?;
            server.process.stop()?;
        }
        if let [small_p99, large_p99] = p99[..] {
            report.rows.push(Row::ratio(
                &format!(
                    "growth: p99 at {} ÷ p99 at {} orders",
                    report::thousands(large as f64),
                    report::thousands(small as f64)
                ),
                Some("≤ 1.2".into()),
                if small_p99 > 0.0 {
                    large_p99 / small_p99
                } else {
                    0.0
                },
                format!("{large_p99:.1} ms ÷ {small_p99:.1} ms"),
            ));
        }
        Ok(())
    }

    /// Concurrent seeding transactions: PostgreSQL gains from several, SQLite takes one at a time.
    fn seed_tasks(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        }
    }
}

/// What the server sustained, for the ratios.
#[derive(Debug, Default)]
struct ServerFigures {
    intake: f64,
    intercept: f64,
    intercept_no_jobs: f64,
    peak_rss_mib: f64,
}

impl ServerFigures {
    fn peak(&mut self, mib: f64) {
        self.peak_rss_mib = self.peak_rss_mib.max(mib);
    }
}

/// The fastest raw form of each write.
#[derive(Debug, Default)]
struct RawFigures {
    intake: f64,
    intercept: f64,
}

/// A started server, with its memory sampler.
struct Started {
    process: ServerProcess,
    addr: SocketAddr,
    rss: RssSampler,
    listening: Instant,
}

/// Interceptions of `prefix-0` … `prefix-(count-1)`, each once, then no more work.
fn intercepts(prefix: &str, count: usize, key: Arc<str>) -> impl Fn() -> Option<Req> + Send + Sync {
    let next = AtomicUsize::new(0);
    let prefix = prefix.to_owned();
    move || {
        let i = next.fetch_add(1, Ordering::Relaxed);
        (i < count).then(|| Req {
            method: http::Method::POST,
            path: format!("/v1/orders/{}/interceptions", raw::order_id(&prefix, i)),
            body: None,
            key: Some(key.clone()),
        })
    }
}

/// Creates a card for each of the first `count` intake orders, `connections` at a time; the
/// tokens, and why the others failed.
async fn create_cards(
    api: Arc<Api>,
    count: usize,
    connections: usize,
) -> (Vec<String>, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let (api, next) = (api.clone(), next.clone());
        tasks.spawn(async move {
            let (mut tokens, mut failed) = (Vec::new(), Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let path = format!("/v1/orders/{}/cards", raw::order_id(INTAKE, i));
                match api.call(Method::POST, &path, None).await {
                    Ok(card) => match card["link"].as_str().and_then(|l| l.rsplit_once("/c/")) {
                        Some((_, token)) => tokens.push(token.to_owned()),
                        None => failed.push(format!("{path}: no link in {card}")),
                    },
                    Err(e) => failed.push(format!("{e:#}")),
                }
            }
            (tokens, failed)
        });
    }
    let (mut tokens, mut failed) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((t, f)) => {
                tokens.extend(t);
                failed.extend(f);
            }
            Err(e) => failed.push(format!("a card task failed: {e}")),
        }
    }
    (tokens, failed)
}

/// Waits until no ERP message is pending or leased; when that was seen.
async fn wait_drained(store: &Store) -> Result<Instant> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let counts = store.outbox_counts(Utc::now()).await?;
        let left: i64 = counts
            .iter()
            .filter(|c| c.topic == Topic::Erp)
            .map(|c| c.pending + c.leased)
            .sum();
        if left == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{left} ERP messages were still pending after {DRAIN_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Dead-lettered ERP messages: deliveries that failed for good.
async fn dead_erp(store: &Store) -> Result<u64> {
    let counts = store.outbox_counts(Utc::now()).await?;
    Ok(counts
        .iter()
        .filter(|c| c.topic == Topic::Erp)
        .map(|c| c.dead.max(0) as u64)
        .sum())
}

/// Samples a process's resident memory (`VmRSS`) every 100 ms, keeping the largest value since
/// it was last taken.
struct RssSampler {
    pid: u32,
    max_kb: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let max_kb = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let max_kb = max_kb.clone();
            async move {
                loop {
                    if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
                        max_kb.fetch_max(kb, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Self { pid, max_kb, task }
    }

    /// The largest VmRSS since the last call, in MiB; starts a new period.
    fn take_mib(&self) -> f64 {
        if let Some(kb) = proc_status_kb(self.pid, "VmRSS:") {
            self.max_kb.fetch_max(kb, Ordering::Relaxed);
        }
        self.max_kb.swap(0, Ordering::Relaxed) as f64 / 1024.0
    }

    /// The process's peak resident set since it started (`VmHWM`), in MiB.
    fn hwm_mib(&self) -> f64 {
        proc_status_kb(self.pid, "VmHWM:").map_or(0.0, |kb| kb as f64 / 1024.0)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The databases and files of one backend's run, removed when dropped (also after an error).
struct Databases {
    backend: Backend,
    dir: PathBuf,
    postgres: Vec<String>,
    files: Vec<PathBuf>,
}

impl Databases {
    fn new(backend: Backend, dir: PathBuf) -> Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("could not empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        Ok(Self {
            backend,
            dir,
            postgres: Vec::new(),
            files: Vec::new(),
        })
    }

    /// A new, empty database: its URL and a working directory for the server's log.
    fn fresh(&mut self, label: &str) -> Result<(String, PathBuf)> {
        let dir = self.dir.join(label);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let url = match self.backend {
            Backend::Sqlite => {
                let file = dir.join("bench.db");
                self.files.push(file.clone());
                format!("sqlite://{}", file.display())
            }
            Backend::Postgres => {
                let name = format!(
                    "shiphold_bench_{}_{}",
                    std::process::id(),
                    label.replace('-', "_")
                );
                postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
                postgres_admin(&format!("CREATE DATABASE {name}"))?;
                self.postgres.push(name.clone());
                format!("{POSTGRES_BASE}/{name}")
            }
        };
        Ok((url, dir))
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        for name in &self.postgres {
            if let Err(e) = postgres_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            {
                eprintln!("xtask bench: could not drop the database {name}: {e:#}");
            }
        }
        for file in &self.files {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// Runs one statement on the PostgreSQL server's `postgres` database.
fn postgres_admin(sql: &str) -> Result<()> {
    use diesel::{Connection, RunQueryDsl};
    let url = format!("{POSTGRES_BASE}/postgres");
    let mut conn = diesel::PgConnection::establish(&url)
        .with_context(|| format!("could not connect to {url}"))?;
    diesel::sql_query(sql)
        .execute(&mut conn)
        .with_context(|| format!("`{sql}` failed"))?;
    Ok(())
}

fn step(line: &str) {
    eprintln!("xtask bench: {line}");
}

/// The command as it was typed.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

fn git_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} + uncommitted changes")
    } else {
        commit
    }
}

fn machine() -> Machine {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown CPU".to_owned(),
            |(_, name)| name.trim().to_owned(),
        );
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_mib: memory_kb / 1024,
        cpu,
    }
}

/// Writes `docs/bench/latest.json` and the marked section of `docs/benchmarks.md`.
fn write_docs(root: &Path, report: &Report) -> Result<()> {
    let json_path = root.join("docs/bench/latest.json");
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(&json_path, format!("{json}\n"))
        .with_context(|| format!("could not write {}", json_path.display()))?;
    let page_path = root.join("docs/benchmarks.md");
    let page = std::fs::read_to_string(&page_path)
        .with_context(|| format!("could not read {}", page_path.display()))?;
    let page = report::replace_section(&page, &report::section(report))
        .with_context(|| format!("in {}", page_path.display()))?;
    std::fs::write(&page_path, page)
        .with_context(|| format!("could not write {}", page_path.display()))?;
    step(&format!(
        "wrote {} and {}",
        json_path.display(),
        page_path.display()
    ));
    Ok(())
}
