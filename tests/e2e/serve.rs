//! `shiphold serve`: it comes up, answers health and readiness, keeps its data where the README
//! says, and stops cleanly on a signal.

use std::time::Duration;

use shiphold_e2e::{Server, TestPostgres, http, run};

async fn assert_up(server: &Server) {
    let client = http();
    for path in ["/healthz", "/readyz"] {
        let res = client
            .get(server.url(path))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        assert_eq!(res.status(), 200, "GET {path}");
    }
}

#[tokio::test]
async fn serves_health_and_readiness_on_a_fresh_sqlite_file() {
    let mut server = Server::start();
    assert_up(&server).await;

    let db = server.dir().join("data/shiphold.db");
    let size = std::fs::metadata(&db)
        .unwrap_or_else(|err| panic!("{} missing: {err}", db.display()))
        .len();
    assert!(size > 0, "the SQLite file is empty");
    let logs = server.logs();
    assert!(logs.contains("database opened"), "{logs}");

    // The metrics are on their own listener, not on the public one.
    let metrics = http().get(server.metrics_url()).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"shiphold_http_requests_total{method="GET",route="/readyz",status="200"}"#),
        "{text}"
    );
    let public = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);

    let (status, took) = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn the_schema_is_in_place_after_start() {
    let server = Server::start();
    assert_up(&server).await;
    let dir = server.stop_and_keep_dir();
    // Everything start-up migrated: a second run has nothing left to do.
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("no migration pending"), "{out:?}");
}

#[tokio::test]
async fn sigterm_after_traffic_exits_zero() {
    let mut server = Server::start();
    let client = http();
    // Keep-alive connections left open by the client must not hold the shutdown up.
    for _ in 0..5 {
        let res = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    let (status, took) = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let logs = server.logs();
    assert!(logs.contains("SIGTERM"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn sigint_exits_zero() {
    let mut server = Server::start();
    assert_up(&server).await;
    server.signal("INT");
    let status = server
        .wait_timeout(shiphold_e2e::STOP_TIMEOUT)
        .expect("stops on SIGINT");
    assert_eq!(status.code(), Some(0), "{}", server.logs());
}

#[tokio::test]
async fn serves_on_postgres() {
    let Some(db) = TestPostgres::create("serve") else {
        TestPostgres::report_skipped("serves_on_postgres");
        return;
    };
    let mut server = Server::builder().postgres(&db).start();
    assert_up(&server).await;
    assert!(server.logs().contains("postgres://"), "{}", server.logs());
    let (status, _) = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.logs());

    // A second replica against the same, already migrated database.
    let mut second = Server::builder().postgres(&db).start();
    assert_up(&second).await;
    let (status, _) = second.terminate();
    assert_eq!(status.code(), Some(0), "{}", second.logs());
}

#[tokio::test]
async fn readiness_fails_when_the_database_goes_away() {
    let Some(db) = TestPostgres::create("readiness") else {
        TestPostgres::report_skipped("readiness_fails_when_the_database_goes_away");
        return;
    };
    let server = Server::builder().postgres(&db).start();
    assert_up(&server).await;
    db.drop_database();
    let res = http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503, "{}", server.logs());
    // The process itself is still up.
    let res = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// `shiphold key create` is the way back into a shop whose keys were lost: the key it prints
/// works against the running server with the roles asked for; an unknown shop is refused.
#[tokio::test]
async fn key_create_gives_an_existing_shop_a_working_key() {
    let server = Server::start();
    assert_up(&server).await;
    let made = run(
        server.dir(),
        &["shop", "create", "--name", "Lost Keys"],
        &[],
    );
    assert!(made.status.success(), "{made:?}");
    let shop = made
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("shop id: "))
        .expect("shop id")
        .trim()
        .to_owned();
    let out = run(
        server.dir(),
        &["key", "create", "--shop", &shop, "--roles", "agent"],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let key = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("api key: "))
        .expect("the key")
        .trim()
        .to_owned();
    assert!(out.stdout.contains("roles: agent"), "{out:?}");
    let client = http();
    let settings = client
        .get(server.url("/v1/settings"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200, "an agent may read the settings");
    let keys = client
        .get(server.url("/v1/api-keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.status(),
        403,
        "but not manage keys: it has only the agent role"
    );

    let unknown = run(
        server.dir(),
        &["key", "create", "--shop", "shop_unknown"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert!(unknown.stderr.contains("no such shop"), "{unknown:?}");
    assert!(!unknown.stdout.contains("api key:"), "{unknown:?}");
}

/// A client that connects and never finishes its headers is disconnected after
/// `server.header_read_timeout_seconds`; one whose body never arrives gets 408 after
/// `server.body_read_timeout_seconds`, as a problem document. (The waits below only bound how
/// long the test waits for the server; the server's own timeouts are 1 s.)
#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::builder()
        .env("SHIPHOLD__SERVER__HEADER_READ_TIMEOUT_SECONDS", "1")
        .env("SHIPHOLD__SERVER__BODY_READ_TIMEOUT_SECONDS", "1")
        .start();
    assert_up(&server).await;

    // Half a request line, then silence: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // 20 s: far above the 1 s configured, and below the 30 s hyper would use by itself.
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was still open after 20 s");

    // Headers that promise a body, and 10 of its 100 bytes. (The ERP callback reads its body
    // before it checks the signature, so no credential is needed to get this far.)
    let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(
        b"POST /v1/erp/shops/shp_x/results HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"shop_id\"",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer after 60 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("/problems/request-timeout"), "{answer}");
}

/// The `rate_limit.*` settings reach the server: over `buyer_per_minute` the card page answers
/// 429 with `Retry-After`, and the metrics count it.
#[tokio::test]
async fn the_buyer_rate_limit_is_configured_and_counted() {
    let server = Server::builder()
        .env("SHIPHOLD__RATE_LIMIT__BUYER_PER_MINUTE", "1")
        .start();
    assert_up(&server).await;
    let client = http();
    let first = client.get(server.url("/c/ct_nope")).send().await.unwrap();
    assert_ne!(first.status(), 429);
    let second = client.get(server.url("/c/ct_nope")).send().await.unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let text = client
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"shiphold_rate_limited_requests_total{class="buyer"} 1"#),
        "{text}"
    );
}
