//! The test harness: a fresh database per test on each backend, dropped afterwards (also when
//! the test fails), and the fixtures the tests share.

use chrono::{DateTime, Utc};
use shiphold_domain::{
    BuyerId, Flag, ItemId, MemoState, Money, Order, OrderId, ShippingStatus, ShopId, SubOrder,
    SubOrderId,
};
use shiphold_storage::{ShopRecord, Store, StoreError, StoreOptions};
use shiphold_testkit::TestDatabase;

/// The variable that points the suite at a PostgreSQL server (any database on it; each test
/// creates and drops its own).
pub const POSTGRES_VAR: &str = shiphold_testkit::POSTGRES_URL_VAR;

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
/// database (both from the workspace's testkit), migrated. Dropping it deletes the folder or
/// drops the database, also when the test fails.
pub struct TestDb {
    /// The store, migrated.
    pub store: Store,
    /// The URL the store was opened with.
    pub url: String,
    /// What the first `migrate` applied.
    pub applied: Vec<String>,
    _database: TestDatabase,
}

impl TestDb {
    /// A new SQLite database in a folder of its own (nested, to prove parents are created).
    pub async fn sqlite() -> TestDb {
        Self::open(TestDatabase::sqlite()).await
    }

    /// A new PostgreSQL database, or `None` when the variable is unset.
    pub async fn postgres() -> Option<TestDb> {
        let database = tokio::task::spawn_blocking(TestDatabase::postgres)
            .await
            .expect("create the test database")?;
        Some(Self::open(database).await)
    }

    async fn open(database: TestDatabase) -> TestDb {
        let options = StoreOptions {
            max_connections: 8,
            ..StoreOptions::default()
        };
        let url = database.url().to_owned();
        // `database` is dropped (and cleaned up) on the panic's unwind too.
        let store = match Store::connect(&url, options).await {
            Ok(store) => store,
            Err(e) => panic!("connect {url}: {e}"),
        };
        let applied = store.migrate().await.expect("migrate");
        TestDb {
            store,
            url,
            applied,
            _database: database,
        }
    }
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

/// One-transaction shorthands the tests use; the application runs these steps inside larger
/// units of work, so the store itself does not offer them.
pub trait StoreExt {
    fn idempotency_begin(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        lock_for: std::time::Duration,
    ) -> impl std::future::Future<Output = Result<shiphold_storage::IdemBegin, StoreError>>;
    fn idempotency_finish(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        status: u16,
        body: Vec<u8>,
        content_type: Option<String>,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>>;
    fn idempotency_abandon(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>>;
    fn remember_webhook(
        &self,
        shop: &ShopId,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>>;
    fn redrive(
        &self,
        shop: &ShopId,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>>;
}

impl StoreExt for Store {
    async fn idempotency_begin(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        lock_for: std::time::Duration,
    ) -> Result<shiphold_storage::IdemBegin, StoreError> {
        let (shop, key, scope, hash) = (
            shop.clone(),
            key.to_owned(),
            scope.to_owned(),
            request_hash.to_owned(),
        );
        self.write(move |tx| tx.idempotency_begin(&shop, &key, &scope, &hash, now, lock_for))
            .await
    }

    async fn idempotency_finish(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
        status: u16,
        body: Vec<u8>,
        content_type: Option<String>,
    ) -> Result<bool, StoreError> {
        let (shop, key, scope) = (shop.clone(), key.to_owned(), scope.to_owned());
        self.write(move |tx| {
            tx.idempotency_finish(&shop, &key, &scope, status, &body, content_type.as_deref())
        })
        .await
    }

    async fn idempotency_abandon(
        &self,
        shop: &ShopId,
        key: &str,
        scope: &str,
    ) -> Result<bool, StoreError> {
        let (shop, key, scope) = (shop.clone(), key.to_owned(), scope.to_owned());
        self.write(move |tx| tx.idempotency_abandon(&shop, &key, &scope))
            .await
    }

    async fn remember_webhook(
        &self,
        shop: &ShopId,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (shop, id) = (shop.clone(), webhook_id.to_owned());
        self.write(move |tx| tx.remember_webhook(&shop, &id, now))
            .await
    }

    async fn redrive(
        &self,
        shop: &ShopId,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let shop = shop.clone();
        self.write(move |tx| tx.redrive(&shop, id, now)).await
    }
}
