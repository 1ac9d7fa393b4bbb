//! The storage suite. Every test runs on SQLite (a fresh file) and, when
//! `SHIPHOLD_TEST_POSTGRES_URL` is set, on PostgreSQL (a fresh database): see `support`.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod basics;
mod idempotency;
mod interceptions;
mod orders;
mod outbox;
mod writes;

/// Tells in the test output whether the PostgreSQL half ran; named so that a skipped run is
/// visible in the list of test names.
#[test]
#[allow(non_snake_case)]
fn postgres_backend_skipped_if_SHIPHOLD_TEST_POSTGRES_URL_is_unset() {
    match std::env::var(support::POSTGRES_VAR) {
        Ok(url) if !url.is_empty() => {
            eprintln!("PostgreSQL half of the storage suite RAN against {url}");
        }
        _ => eprintln!(
            "PostgreSQL half of the storage suite was SKIPPED: set {} \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it",
            support::POSTGRES_VAR
        ),
    }
}

/// A database that cannot be reached is reported as unavailable (a 503 at the edge), quickly.
#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let options = shiphold_storage::StoreOptions {
        connect_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    // Port 1 is reserved and closed on test machines.
    let result =
        shiphold_storage::Store::connect("postgres://postgres@127.0.0.1:1/x", options).await;
    assert!(
        matches!(
            result,
            Err(shiphold_storage::StoreError::Unavailable { .. })
        ),
        "{result:?}"
    );
    let result = shiphold_storage::Store::connect("mysql://h/db", Default::default()).await;
    assert!(matches!(
        result,
        Err(shiphold_storage::StoreError::Unavailable { .. })
    ));
}
