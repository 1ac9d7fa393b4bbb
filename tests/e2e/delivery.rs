//! ERP delivery survives crashes and shares work between replicas: `kill -9` in the middle of
//! delivering 1,000 messages loses none, and two servers on one PostgreSQL deliver 1,000
//! messages without delivering any twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shiphold_e2e::{Server, TempDir, TestPostgres, http, run};
use shiphold_erp_adapter::Secret;
use shiphold_erp_adapter::sim::{SimConfig, SimHandle, Simulator};

const MESSAGES: usize = 1000;

fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
}

/// Creates a shop with the CLI; returns its id and key.
fn create_shop(dir: &TempDir, env: &[(&str, &str)]) -> (String, String) {
    let out = run(dir.path(), &["shop", "create", "--name", "Crash Test"], env);
    assert!(out.status.success(), "{out:?}");
    let shop = field(&out.stdout, "shop id:")
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    let key = field(&out.stdout, "api key:")
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    (shop, key)
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http().request(method, server.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Memo, terms, enabled, an event window around now (the server runs on the real clock), and
/// the ERP link; returns the shop's signing secret.
async fn set_up(server: &Server, key: &str) -> Secret {
    use reqwest::Method;
    let (s, b) = call(
        server,
        Method::PUT,
        "/v1/settings/memo",
        key,
        Some(json!({"memo_text": "拦截发货", "flag": "red", "accept_terms": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        call(server, Method::POST, "/v1/settings/enable", key, None)
            .await
            .0,
        200
    );
    let now = chrono::Utc::now();
    let window = json!({
        "name": "crash test",
        "refunds_off_from": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "refunds_off_until": (now + chrono::Duration::hours(3)).to_rfc3339(),
        "time_zone": "Asia/Shanghai",
        "refunds_reopen_at": (now + chrono::Duration::hours(3)).to_rfc3339(),
    });
    let (s, b) = call(server, Method::POST, "/v1/event-windows", key, Some(window)).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(
        server,
        Method::PUT,
        "/v1/settings/erp",
        key,
        Some(json!({"endpoint": "http://127.0.0.1:9/erp", "locking": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    Secret::parse(b["signing_secret"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {b}"))
}

async fn point_erp_at(server: &Server, key: &str, sim: &SimHandle) {
    let body = json!({"endpoint": format!("{}/erp", sim.url()), "locking": true});
    let (s, b) = call(
        server,
        reqwest::Method::PUT,
        "/v1/settings/erp",
        key,
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

/// Pushes `n` orders and intercepts each: `n` ERP messages wait in the outbox.
async fn intercept_many(server: &Server, key: &str, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let base = server.base_url();
    for chunk in (0..n).collect::<Vec<_>>().chunks(n.div_ceil(8)) {
        let (chunk, base, key) = (chunk.to_vec(), base.clone(), key.to_owned());
        tasks.spawn(async move {
            let client = http();
            let mut ids = Vec::new();
            for i in chunk {
                let order = json!({"buyer_id": format!("b{i}"), "version": 1, "sub_orders": [
                    {"id": "s1", "item_id": "sku", "title": "Mug", "quantity": 1, "amount": 100, "shipping_status": "awaiting_shipment"}]});
                let r = client.put(format!("{base}/v1/orders/K-{i}")).bearer_auth(&key).json(&order).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
                let r = client.post(format!("{base}/v1/orders/K-{i}/interceptions")).bearer_auth(&key).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
                let b: Value = r.json().await.unwrap();
                ids.push(b["id"].as_str().unwrap_or_default().to_owned());
            }
            ids
        });
    }
    while let Some(done) = tasks.join_next().await {
        ids.extend(done.unwrap());
    }
    assert_eq!(ids.len(), n);
    ids
}

/// Every request the simulator received, grouped by interception: the webhook ids it came with.
fn webhook_ids_by_interception(sim: &SimHandle) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in sim.received() {
        if let Some(message) = &r.message {
            map.entry(message.event.interception_id().to_owned())
                .or_default()
                .push(r.webhook_id.clone());
        }
    }
    map
}

async fn count_in_state(server: &Server, key: &str, state: &str) -> usize {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/interceptions?state={state}&limit=200&cursor={c}"),
            None => format!("/v1/interceptions?state={state}&limit=200"),
        };
        let (s, b) = call(server, reqwest::Method::GET, &path, key, None).await;
        assert_eq!(s, 200, "{b}");
        total += b["items"].as_array().map_or(0, Vec::len);
        match b["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return total,
        }
    }
}

async fn wait_until_all_locked(server: &Server, key: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let locked = count_in_state(server, key, "locked").await;
        if locked == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {locked} of {n} locked\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn start_sim(secret: Secret) -> SimHandle {
    let mut config = SimConfig::new(secret);
    // Slow enough that a kill lands in the middle of the work.
    config.rules.response_delay = Duration::from_millis(10);
    Simulator::start(config)
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_while_delivering_loses_no_message() {
    let dir = TempDir::new("kill9");
    let (_, key) = create_shop(&dir, &[]);
    // First fill the outbox with the jobs off.
    let server = Server::builder()
        .in_dir(dir)
        .env("SHIPHOLD__JOBS__ENABLED", "false")
        .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
        .start();
    let secret = set_up(&server, &key).await;
    let sim = start_sim(secret).await;
    point_erp_at(&server, &key, &sim).await;
    let ids = intercept_many(&server, &key, MESSAGES).await;
    let dir = server.stop_and_keep_dir();

    // Deliver, and kill the server without warning part-way.
    let server = Server::builder()
        .in_dir(dir)
        .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
        .env("SHIPHOLD__JOBS__LEASE_SECONDS", "4")
        .env("SHIPHOLD__JOBS__TIMEOUT_SECONDS", "2")
        .start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.accepted().len() < MESSAGES / 5 {
        assert!(
            Instant::now() < deadline,
            "deliveries did not start\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dir = server.kill_and_keep_dir();
    let at_kill = sim.accepted().len();
    assert!(
        at_kill < MESSAGES,
        "everything was delivered before the kill; nothing was tested"
    );

    // A restart finishes the work.
    let server = Server::builder()
        .in_dir(dir)
        .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
        .env("SHIPHOLD__JOBS__LEASE_SECONDS", "4")
        .env("SHIPHOLD__JOBS__TIMEOUT_SECONDS", "2")
        .start();
    wait_until_all_locked(&server, &key, MESSAGES, Duration::from_secs(240)).await;

    let by_interception = webhook_ids_by_interception(&sim);
    let delivered: BTreeSet<String> = sim
        .accepted()
        .iter()
        .map(|m| m.event.interception_id().to_owned())
        .collect();
    assert_eq!(delivered, ids, "every message was delivered at least once");
    for (interception, webhook_ids) in &by_interception {
        let distinct: BTreeSet<_> = webhook_ids.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "{interception} was redelivered under another webhook-id: {webhook_ids:?}"
        );
    }
    let redelivered = by_interception.values().filter(|v| v.len() > 1).count();
    eprintln!(
        "killed after {at_kill} of {MESSAGES} messages; {redelivered} were delivered again after the restart"
    );
    for state in ["requested", "delivered_to_erp", "lock_failed", "released"] {
        assert_eq!(
            count_in_state(&server, &key, state).await,
            0,
            "lines left in {state}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_deliver_each_message_once() {
    let Some(db) = TestPostgres::create("replicas") else {
        TestPostgres::report_skipped("two_servers_on_one_postgres_deliver_each_message_once");
        return;
    };
    let env = [("SHIPHOLD__DATABASE__URL", db.url.as_str())];
    let dir = TempDir::new("replicas");
    let (_, key) = create_shop(&dir, &env);
    let filler = Server::builder()
        .postgres(&db)
        .env("SHIPHOLD__JOBS__ENABLED", "false")
        .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
        .start();
    let secret = set_up(&filler, &key).await;
    let sim = start_sim(secret).await;
    point_erp_at(&filler, &key, &sim).await;
    intercept_many(&filler, &key, MESSAGES).await;
    drop(filler.stop_and_keep_dir());

    let replica = |name: &str| {
        Server::builder()
            .postgres(&db)
            .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
            .env("SHIPHOLD__JOBS__WORKER_ID", name)
            .start()
    };
    let (a, b) = (replica("replica-a"), replica("replica-b"));
    wait_until_all_locked(&a, &key, MESSAGES, Duration::from_secs(240)).await;

    let by_webhook: BTreeMap<String, usize> =
        sim.received().iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.webhook_id.clone()).or_default() += 1;
            m
        });
    assert_eq!(by_webhook.len(), MESSAGES);
    let twice: Vec<_> = by_webhook.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    // Both replicas did part of the work.
    for server in [&a, &b] {
        let metrics = http()
            .get(server.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let delivered: u64 = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix("shiphold_deliveries_total{topic=\"erp\",outcome=\"delivered\"} ")
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        eprintln!("{} delivered {delivered}", server.base_url());
        assert!(delivered > 0, "a replica delivered nothing:\n{metrics}");
    }
    sim.shutdown().await;
}

/// Secrets stay out of the logs even at the most talkative level: the card token (the buyer's
/// credential) on the card page and buyer API, API keys and the ERP signing secret.
#[tokio::test]
async fn debug_logs_hold_no_token_key_or_secret() {
    use reqwest::Method;
    use shiphold_marketplace_adapter::sim as market;
    use shiphold_qimen_adapter::sim as qimen;
    const MARKET_SECRET: &str = "market-app-secret-9f3e";
    const SESSION: &str = "seller-session-7c21";
    const QIMEN_SECRET: &str = "qimen-secret-4b8d";
    let dir = TempDir::new("quiet-secrets");
    let (_, key) = create_shop(&dir, &[]);
    let server = Server::builder()
        .in_dir(dir)
        .env("SHIPHOLD__LOG__FILTER", "debug")
        .env("SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS", "true")
        .start();
    let secret = set_up(&server, &key).await;
    // The marketplace and Qimen links, to simulators that know their secrets.
    let marketplace = market::Simulator::start(
        market::SimConfig::new()
            .app(
                "12345678",
                shiphold_marketplace_adapter::AppSecret::new(MARKET_SECRET).unwrap(),
            )
            .session("12345678", SESSION)
            .order(7001),
    )
    .await
    .unwrap();
    let credentials = shiphold_qimen_adapter::Credentials::new(
        "23456789",
        shiphold_qimen_adapter::Secret::new(QIMEN_SECRET).unwrap(),
        "cust-1",
    )
    .unwrap();
    let warehouse =
        qimen::Simulator::start(qimen::SimConfig::new(credentials).with_document("WH-1", "7001"))
            .await
            .unwrap();
    let gateway = format!("http://{}{}", marketplace.addr(), market::PATH);
    let linked = json!({"gateway": gateway, "app_key": "12345678", "app_secret": MARKET_SECRET,
                        "session": SESSION});
    let (s, b) = call(
        &server,
        Method::PUT,
        "/v1/settings/marketplace",
        &key,
        Some(linked),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let linked = json!({"endpoint": warehouse.url(), "app_key": "23456789",
                        "app_secret": QIMEN_SECRET, "customer_id": "cust-1",
                        "warehouse_code": "WH-1"});
    let (s, b) = call(
        &server,
        Method::PUT,
        "/v1/settings/qimen",
        &key,
        Some(linked),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let order = json!({"buyer_id": "b-1", "version": 1, "sub_orders": [
        {"id": "s1", "item_id": "sku-1", "title": "Kettle", "quantity": 1, "amount": 100, "shipping_status": "awaiting_shipment"}
    ]});
    let (s, b) = call(&server, Method::PUT, "/v1/orders/7001", &key, Some(order)).await;
    assert_eq!(s, 201, "{b}");
    let (s, card) = call(&server, Method::POST, "/v1/orders/7001/cards", &key, None).await;
    assert_eq!(s, 201, "{card}");
    let link = card["link"].as_str().unwrap().to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let client = http();
    assert_eq!(client.get(&link).send().await.unwrap().status(), 200);
    let buyer = server.url(&format!("/v1/buyer/cards/{token}"));
    assert_eq!(client.get(&buyer).send().await.unwrap().status(), 200);
    let submit = client
        .post(format!("{buyer}/interceptions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), 201);
    // The memo is written back and the parcel held, signed with the secrets, before the log is
    // read.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while marketplace.applied_writes() == 0 || !warehouse.is_held("WH-1", "7001") {
        assert!(
            std::time::Instant::now() < deadline,
            "no write-back or hold"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = server.logs();
    assert!(logs.contains("ct_…"), "the requests were logged: {logs}");
    for (what, value) in [
        ("the card token", &token[3..]),
        ("the API key", &key[4..]),
        ("the signing secret", &secret.to_whsec()[6..]),
        ("the marketplace app secret", MARKET_SECRET),
        ("the seller's session", SESSION),
        ("the Qimen app secret", QIMEN_SECRET),
    ] {
        assert!(!logs.contains(value), "{what} is in the log");
    }
    // The server first: its kept-alive connections would hold the simulators' shutdown up.
    server.stop_and_keep_dir();
    marketplace.shutdown().await;
    warehouse.shutdown().await;
}
