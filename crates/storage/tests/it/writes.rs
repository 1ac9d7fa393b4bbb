//! Write transactions under load: many at once, some failing, one panicking. On SQLite they
//! share commits (one writer thread, a savepoint each); on PostgreSQL each has its own. Either
//! way each write is all or nothing, and a write answered `Ok` is stored.

use shiphold_storage::{ShopRecord, Store, StoreError};

use crate::backend_tests;
use crate::support::{shop_id, t0};

fn record(n: usize) -> ShopRecord {
    ShopRecord {
        id: shop_id(&format!("w{n}")),
        name: format!("Shop {n}"),
        created_at: t0(),
    }
}

async fn stored(store: &Store, n: usize) -> bool {
    let id = shop_id(&format!("w{n}"));
    store.read(move |tx| tx.shop(&id)).await.unwrap().is_some()
}

backend_tests! {
    async fn concurrent_writes_are_each_all_or_nothing(db: TestDb) {
        let store = &db.store;
        // Every seventh write inserts two shops and then fails: neither of its shops may stay,
        // whatever else shared its transaction. Every other write keeps both of its shops.
        let writes: Vec<_> = (0..120)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            tx.insert_shop(&record(2 * n))?;
                            tx.insert_shop(&record(2 * n + 1))?;
                            if n % 7 == 0 {
                                return Err(StoreError::Conflict(format!("write {n} changed its mind")));
                            }
                            Ok(n)
                        })
                        .await
                })
            })
            .collect();
        for (n, write) in writes.into_iter().enumerate() {
            let result = write.await.unwrap();
            if n % 7 == 0 {
                assert!(matches!(&result, Err(StoreError::Conflict(m)) if m.contains(&format!("write {n} "))), "{result:?}");
                assert!(!stored(store, 2 * n).await && !stored(store, 2 * n + 1).await, "write {n} left a shop");
            } else {
                assert_eq!(result.unwrap(), n);
                assert!(stored(store, 2 * n).await && stored(store, 2 * n + 1).await, "write {n} lost a shop");
            }
        }
    }

    async fn a_failing_statement_undoes_only_its_own_write(db: TestDb) {
        let store = &db.store;
        store.write(|tx| tx.insert_shop(&record(0))).await.unwrap();
        // Inserting the same shop again violates its primary key: that write fails as a
        // conflict, the writes beside it are kept.
        let writes: Vec<_> = (1..40)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            tx.insert_shop(&record(n))?;
                            if n % 5 == 0 {
                                tx.insert_shop(&record(0))?;
                            }
                            Ok::<_, StoreError>(())
                        })
                        .await
                })
            })
            .collect();
        for (i, write) in writes.into_iter().enumerate() {
            let n = i + 1;
            let result = write.await.unwrap();
            if n % 5 == 0 {
                assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
                assert!(!stored(store, n).await, "write {n} was undone");
            } else {
                result.unwrap();
                assert!(stored(store, n).await, "write {n} is stored");
            }
        }
    }

    async fn a_write_that_panics_fails_alone_in_what_it_acknowledged(db: TestDb) {
        let store = &db.store;
        let writes: Vec<_> = (0..60)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            tx.insert_shop(&record(n))?;
                            if n == 30 {
                                panic!("a bug in write {n}");
                            }
                            Ok::<_, StoreError>(())
                        })
                        .await
                })
            })
            .collect();
        for (n, write) in writes.into_iter().enumerate() {
            // A write beside the panicking one may fail with it (never the other way round):
            // what was answered Ok is stored, what failed is not.
            match write.await {
                Ok(Ok(())) => assert!(stored(store, n).await, "write {n} was acknowledged"),
                Ok(Err(_)) | Err(_) => assert!(!stored(store, n).await, "write {n} failed"),
            }
        }
        assert!(!stored(store, 30).await);
        // And the store goes on writing.
        store.write(|tx| tx.insert_shop(&record(1_000))).await.unwrap();
        assert!(stored(store, 1_000).await);
    }
}

/// SQLite: the writer's commits do not checkpoint the write-ahead log themselves (that would
/// put a file sync in front of every queued request), yet while the store stays open the log's
/// pages reach the database file: a thread beside the writer checkpoints after commits.
#[tokio::test]
async fn sqlite_checkpoints_the_log_while_the_store_stays_open() {
    let db = crate::support::TestDb::sqlite().await;
    let path = std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"));
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    // Enough rows for many pages; each write its own transaction, as requests make them.
    for chunk in 0..40 {
        let writes: Vec<_> = (0..25)
            .map(|i| {
                let store = db.store.clone();
                let n = 10_000 + chunk * 25 + i;
                tokio::spawn(async move { store.write(move |tx| tx.insert_shop(&record(n))).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
    }
    // The database file grows only when a checkpoint copies pages into it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the log was never checkpointed into {}",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stored(&db.store, 10_999).await);
}
