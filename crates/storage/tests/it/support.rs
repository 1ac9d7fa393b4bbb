//! The test harness: a fresh database per test on each backend, dropped afterwards (also when
//! the test fails), and the fixtures the tests share.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use shiphold_domain::{
    BuyerId, Flag, ItemId, MemoState, Money, Order, OrderId, ShippingStatus, ShopId, SubOrder,
    SubOrderId,
};
use shiphold_storage::{ShopRecord, Store, StoreOptions};

/// The variable that points the suite at a PostgreSQL server (any database on it; each test
/// creates and drops its own).
pub const POSTGRES_VAR: &str = "SHIPHOLD_TEST_POSTGRES_URL";

/// Generates, from each test body `async fn name(db: TestDb)`, a `sqlite::name` test and a
/// `postgres::name` test, so that the backend shows in the test's name.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident: TestDb) $body:block)*) => {
        $(
            async fn $name($db: $crate::support::TestDb) $body
        )*

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    super::$name(db).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres().await else {
                        $crate::support::say_postgres_skipped(stringify!($name));
                        return;
                    };
                    super::$name(db).await;
                }
            )*
        }
    };
}

/// One test's database: a SQLite file in a fresh temporary folder, or a fresh PostgreSQL
/// database. Dropping it deletes the folder or drops the database.
pub struct TestDb {
    /// The store, migrated.
    pub store: Store,
    /// The URL the store was opened with.
    pub url: String,
    /// What the first `migrate` applied.
    pub applied: Vec<String>,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    /// A new SQLite database in a folder of its own (nested, to prove parents are created).
    pub async fn sqlite() -> TestDb {
        let dir = std::env::temp_dir().join(format!(
            "shiphold-storage-it-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", dir.join("data/shiphold.db").display());
        let cleanup = Cleanup::Dir(dir);
        Self::open(url, cleanup).await
    }

    /// A new PostgreSQL database, or `None` when the variable is unset.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var(POSTGRES_VAR).ok().filter(|v| !v.is_empty())?;
        let name = format!("shiphold_it_{}", uuid::Uuid::new_v4().simple());
        let create = {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            tokio::task::spawn_blocking(move || {
                let mut conn = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("{POSTGRES_VAR}={admin_url}: cannot connect: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
            })
        };
        create.await.expect("create task");
        let url = with_database(&admin_url, &name);
        Some(Self::open(url, Cleanup::Database { admin_url, name }).await)
    }

    async fn open(url: String, cleanup: Cleanup) -> TestDb {
        let options = StoreOptions {
            max_connections: 8,
            ..StoreOptions::default()
        };
        // The guard exists before anything can fail, so a failing connect still cleans up.
        let mut db = TestDb {
            store: match Store::connect(&url, options).await {
                Ok(store) => store,
                Err(e) => {
                    drop(Guard(cleanup));
                    panic!("connect {url}: {e}");
                }
            },
            url,
            applied: Vec::new(),
            cleanup,
        };
        db.applied = db.store.migrate().await.expect("migrate");
        db
    }
}

/// Runs a cleanup when dropped.
struct Guard(Cleanup);

impl Drop for Guard {
    fn drop(&mut self) {
        run_cleanup(&self.0);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        run_cleanup(&self.cleanup);
    }
}

fn run_cleanup(cleanup: &Cleanup) {
    match cleanup {
        Cleanup::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::Database { admin_url, name } => {
            // FORCE ends the pool's connections, which are still open at this point.
            let dropped = PgConnection::establish(admin_url).map(|mut conn| {
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
            });
            if !matches!(dropped, Ok(Ok(_))) {
                eprintln!("warning: could not drop test database {name}");
            }
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    let mut out = format!("{scheme}://{host}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Says, where `cargo test` shows it, that a PostgreSQL test did not run.
pub fn say_postgres_skipped(test: &str) {
    eprintln!(
        "SKIPPED postgres::{test}: the PostgreSQL half of the storage suite needs {POSTGRES_VAR} \
         (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
    );
}

/// A fixed instant with whole milliseconds (the store keeps milliseconds).
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_123).expect("a valid instant")
}

/// Parses a test id, which is always valid.
pub fn shop_id(raw: &str) -> ShopId {
    ShopId::parse(raw).expect("valid shop id")
}

/// Creates a shop and returns its id.
pub async fn new_shop(store: &Store, raw: &str) -> ShopId {
    let id = shop_id(raw);
    let record = ShopRecord {
        id: id.clone(),
        name: format!("Shop {raw}"),
        created_at: t0(),
    };
    store
        .write(move |tx| tx.insert_shop(&record))
        .await
        .expect("insert shop");
    id
}

/// A sub-order awaiting shipment.
pub fn sub(id: &str, quantity: u32) -> SubOrder {
    SubOrder {
        id: SubOrderId::parse(id).expect("valid sub-order id"),
        item_id: ItemId::parse(&format!("sku-{id}")).expect("valid item id"),
        title: format!("Item {id}"),
        quantity,
        amount: Money::from_minor(1999).expect("valid amount"),
        shipping_status: ShippingStatus::AwaitingShipment,
    }
}

/// An order of buyer `b1` with the given sub-orders.
pub fn order(id: &str, subs: Vec<SubOrder>) -> Order {
    Order {
        id: OrderId::parse(id).expect("valid order id"),
        buyer_id: BuyerId::parse("b1").expect("valid buyer id"),
        version: 1,
        sub_orders: subs,
        seller_memo: "gift wrap".into(),
        seller_flag: Flag::None,
        memo: MemoState::default(),
    }
}

/// Saves an order.
pub async fn save_order(store: &Store, shop: &ShopId, order: &Order) {
    let (shop, order) = (shop.clone(), order.clone());
    store
        .write(move |tx| tx.save_order(&shop, &order, t0()))
        .await
        .expect("save order");
}
