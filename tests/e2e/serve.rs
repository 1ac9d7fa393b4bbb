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

    let metrics = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);

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
