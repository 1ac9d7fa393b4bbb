//! Throughput of the main paths, as ratios to a baseline measured in the same run.
//!
//! `cargo bench -p shiphold-api --bench throughput` runs it on SQLite, and on PostgreSQL too when
//! `SHIPHOLD_TEST_POSTGRES_URL` is set. The machine is shared and noisy, so absolute figures are
//! only context: the ratios to `GET /healthz` (the cost of an HTTP round trip through the same
//! server) and to raw signed POSTs (the cost of delivery without the outbox) are what to compare
//! between runs. `SHIPHOLD_BENCH_N` sets the operations per measurement (default 400).

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use serde_json::json;
use shiphold_api::{ApiConfig, AppState, router};
use shiphold_domain::ManualClock;
use shiphold_erp_adapter::sim::{SimConfig, Simulator};
use shiphold_erp_adapter::{EndpointPolicy, ErpClient, Secret};
use shiphold_storage::{Store, StoreOptions};
use shiphold_testkit::TestDatabase;

struct Measure {
    name: &'static str,
    ops: usize,
    elapsed: Duration,
}

impl Measure {
    fn per_op_us(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.ops as f64
    }
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `n` operations with `concurrency` in flight; returns the wall time.
async fn timed<F, Fut>(n: usize, concurrency: usize, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                op(i).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    start.elapsed()
}

async fn check(response: reqwest::Response, expect: u16) {
    let status = response.status().as_u16();
    if status != expect {
        let body = response.text().await.unwrap_or_default();
        panic!("expected {expect}, got {status}: {body}");
    }
}

async fn bench(db: TestDatabase, n: usize) -> Vec<Measure> {
    let store = Store::connect(db.url(), StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let config = ApiConfig {
        public_base_url: base.clone(),
        allow_insecure_endpoints: true,
        run_jobs: false,
        ..ApiConfig::default()
    };
    let event = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 11, 10, 0, 0)
        .unwrap()
        .to_utc();
    let state = AppState::new(store, Arc::new(ManualClock::new(event)), config);
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let created = shiphold_api::service::shops::create_shop(&state, "Bench")
        .await
        .expect("shop");
    let key = created.api_key;
    let http = reqwest::Client::new();
    let call =
        |m: reqwest::Method, p: &str| http.request(m, format!("{base}{p}")).bearer_auth(&key);
    check(
        call(reqwest::Method::PUT, "/v1/settings/memo")
            .json(&json!({"memo_text": "拦截发货", "flag": "red", "accept_terms": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    check(
        call(reqwest::Method::POST, "/v1/settings/enable")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    check(
        call(reqwest::Method::POST, "/v1/event-windows")
            .json(&json!({"name": "11.11", "refunds_off_from": "2026-11-11T00:00:00+08:00", "refunds_off_until": "2026-11-12T00:00:00+08:00", "time_zone": "Asia/Shanghai", "refunds_reopen_at": "2026-11-12T00:00:00+08:00"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    // The ERP link makes every interception enqueue a message, as in production.
    check(
        call(reqwest::Method::PUT, "/v1/settings/erp")
            .json(&json!({"endpoint": "http://127.0.0.1:9/erp", "locking": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    let mut out = Vec::new();
    let concurrency = 8;
    let ctx = Arc::new((http.clone(), base.clone(), key.clone()));

    let c = ctx.clone();
    let elapsed = timed(n, concurrency, move |_| {
        let c = c.clone();
        async move {
            check(
                c.0.get(format!("{}/healthz", c.1)).send().await.unwrap(),
                200,
            )
            .await
        }
    })
    .await;
    out.push(Measure {
        name: "GET /healthz (baseline)",
        ops: n,
        elapsed,
    });

    let c = ctx.clone();
    let elapsed = timed(n, concurrency, move |i| {
        let c = c.clone();
        async move {
            let body = json!({"buyer_id": format!("b{i}"), "version": 1, "sub_orders": [
                {"id": "s1", "item_id": "sku1", "title": "Mug", "quantity": 1, "amount": 1999, "shipping_status": "awaiting_shipment"},
                {"id": "s2", "item_id": "sku2", "title": "Tea", "quantity": 2, "amount": 999, "shipping_status": "awaiting_shipment"}]});
            check(c.0.put(format!("{}/v1/orders/B{i}", c.1)).bearer_auth(&c.2).json(&body).send().await.unwrap(), 201).await
        }
    })
    .await;
    out.push(Measure {
        name: "PUT /v1/orders/{id} (intake)",
        ops: n,
        elapsed,
    });

    let c = ctx.clone();
    let elapsed = timed(n, concurrency, move |i| {
        let c = c.clone();
        async move {
            check(
                c.0.get(format!("{}/v1/orders/B{i}", c.1))
                    .bearer_auth(&c.2)
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await
        }
    })
    .await;
    out.push(Measure {
        name: "GET /v1/orders/{id}",
        ops: n,
        elapsed,
    });

    let c = ctx.clone();
    let elapsed = timed(n, concurrency, move |i| {
        let c = c.clone();
        async move {
            check(
                c.0.post(format!("{}/v1/orders/B{i}/interceptions", c.1))
                    .bearer_auth(&c.2)
                    .send()
                    .await
                    .unwrap(),
                201,
            )
            .await
        }
    })
    .await;
    out.push(Measure {
        name: "POST …/interceptions (method 2)",
        ops: n,
        elapsed,
    });

    // Delivery: the outbox path (claim, sign, POST, apply the result, complete) against raw signed
    // POSTs of the same bodies to the same simulator.
    let secret = Secret::generate();
    let sim = Simulator::start(SimConfig::new(secret.clone()))
        .await
        .expect("sim");
    let client = ErpClient::new(
        EndpointPolicy {
            allow_insecure: true,
        },
        Duration::from_secs(10),
    )
    .expect("client");
    let body = br#"{"type":"interception.requested","version":"2026-11-01","id":"msg_x","occurred_at":"2026-11-11T02:00:00Z","data":{"shop_id":"s","order_id":"o","interception_id":"i","requested_by":"agent","items":[{"sub_order_id":"s1","title":"Mug","quantity":1}],"memo":"m","flag":"red"}}"#;
    let url = format!("{}/erp", sim.url());
    let (client2, url2, secret2) = (
        Arc::new(client),
        Arc::new(url.clone()),
        Arc::new(secret.clone()),
    );
    let elapsed = timed(n, concurrency, move |i| {
        let (client, url, secret) = (client2.clone(), url2.clone(), secret2.clone());
        async move {
            let outcome = client
                .deliver(
                    &url,
                    &format!("msg_raw_{i}"),
                    chrono::Utc::now().timestamp(),
                    body,
                    &[(*secret).clone()],
                )
                .await
                .unwrap();
            assert!(outcome.is_delivered(), "{outcome:?}");
        }
    })
    .await;
    out.push(Measure {
        name: "raw signed POST to the ERP (baseline)",
        ops: n,
        elapsed,
    });

    // Point the shop at the simulator with its secret and let the jobs drain the outbox.
    let shop = created.shop_id.clone();
    let whsec = secret.to_whsec();
    let endpoint = url.clone();
    state
        .store()
        .write(move |tx| -> Result<(), shiphold_storage::StoreError> {
            let mut record = tx.settings(&shop)?;
            record.erp_secret = Some(whsec);
            if let Some(erp) = record.settings.advanced.erp.as_mut() {
                erp.endpoint = endpoint;
            }
            tx.save_settings(&shop, &record, chrono::Utc::now())
                .map(|_| ())
        })
        .await
        .expect("link the simulator");
    let mut jobs_config = state.config().clone();
    jobs_config.run_jobs = true;
    jobs_config.delivery.poll_interval = Duration::from_millis(20);
    jobs_config.delivery.concurrency = concurrency;
    let jobs_state = AppState::new(
        state.store().clone(),
        Arc::new(ManualClock::new(event)),
        jobs_config,
    );
    let (stop, rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let jobs = shiphold_api::jobs::spawn(jobs_state, rx);
    // Until every entry is completed, which is after its result was applied.
    let done = loop {
        let counts = state
            .store()
            .outbox_counts(chrono::Utc::now())
            .await
            .expect("counts");
        let left: i64 = counts
            .iter()
            .filter(|c| c.topic == shiphold_storage::Topic::Erp)
            .map(|c| c.pending + c.leased + c.dead)
            .sum();
        if left == 0 {
            break true;
        }
        if start.elapsed() > Duration::from_secs(300) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let elapsed = start.elapsed();
    if !done {
        let counts = state.store().outbox_counts(chrono::Utc::now()).await;
        let statuses: std::collections::BTreeMap<u16, usize> =
            sim.received().iter().fold(Default::default(), |mut m, r| {
                *m.entry(r.status).or_default() += 1;
                m
            });
        panic!("the outbox did not drain: {counts:?}; simulator answered {statuses:?}");
    }
    let shop_id = created.shop_id.clone();
    let locked = state
        .store()
        .read(move |tx| {
            tx.interceptions(
                &shop_id,
                &shiphold_storage::InterceptionFilter {
                    state: Some(shiphold_domain::LineState::Locked),
                    ..Default::default()
                },
                &shiphold_storage::Page {
                    after: None,
                    limit: 500,
                },
            )
        })
        .await
        .expect("interceptions");
    assert!(
        locked.items.len() >= n.min(500),
        "results were not applied: {} locked",
        locked.items.len()
    );
    out.push(Measure {
        name: "outbox delivery incl. results",
        ops: n,
        elapsed,
    });
    let _ = stop.send(true);
    let _ = jobs.await;
    sim.shutdown().await;
    drop(db);
    out
}

fn report(backend: &str, measures: &[Measure]) {
    println!(
        "\n{backend}: {} operations per row, 8 in flight",
        measures.first().map_or(0, |m| m.ops)
    );
    println!(
        "{:<40} {:>10} {:>12} {:>8}",
        "operation", "ops/s", "µs/op", "ratio"
    );
    let http_base = measures
        .iter()
        .find(|m| m.name.starts_with("GET /healthz"))
        .map(Measure::per_op_us)
        .unwrap_or(1.0);
    let erp_base = measures
        .iter()
        .find(|m| m.name.starts_with("raw signed"))
        .map(Measure::per_op_us)
        .unwrap_or(1.0);
    for m in measures {
        let base = if m.name.starts_with("raw") || m.name.starts_with("outbox") {
            erp_base
        } else {
            http_base
        };
        println!(
            "{:<40} {:>10.0} {:>12.0} {:>7.1}x",
            m.name,
            m.per_sec(),
            m.per_op_us(),
            m.per_op_us() / base
        );
    }
}

fn main() {
    let n: usize = std::env::var("SHIPHOLD_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sqlite = bench(TestDatabase::sqlite(), n).await;
        report("SQLite", &sqlite);
        match TestDatabase::postgres() {
            Some(db) => {
                let pg = bench(db, n).await;
                report("PostgreSQL", &pg);
            }
            None => println!("\nPostgreSQL: skipped (set SHIPHOLD_TEST_POSTGRES_URL)"),
        }
    });
}
