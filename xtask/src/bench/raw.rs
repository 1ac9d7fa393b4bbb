//! The raw limit: the writes the server makes for an interception and for order intake, made
//! straight through the storage crate's `Store::write` (no HTTP, no authentication), and the
//! seeding the bench does through the storage crate.
//!
//! The writes are the server's own use cases in their in-transaction form
//! (`service::intercept::in_tx`, `service::orders::put_order_in_tx`), so the rows written, and
//! the reads and decisions before them, are the same as a request's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use shiphold_api::Now;
use shiphold_api::service::intercept::{self, InterceptRequest};
use shiphold_api::service::orders::{self, Intake};
use shiphold_domain::{
    AdvancedSettings, BuyerId, ErpLink, EventWindow, EventWindowId, Flag, InterceptionSettings,
    ItemId, MemoState, MemoText, Method, Money, Order, OrderId, Requester, ShippingStatus, ShopId,
    SubOrder, SubOrderId, TERMS_VERSION, TermsAcceptance,
};
use shiphold_messaging::Locale;
use shiphold_storage::{MessageChannel, ShopRecord, Store, StoreOptions, Tx};

use super::load::Measured;

/// The memo text the bench's shops write on intercepted orders.
pub(crate) const MEMO_TEXT: &str = "拦截发货，请勿发出";
/// How the raw writes name their actor, as an API key would be named.
const ACTOR: &str = "api_key:key_bench";
/// Orders per transaction when seeding.
const SEED_BATCH: usize = 500;

/// The store options the server uses by default (`[database]` in `docs/config.md`).
pub(crate) fn server_store_options() -> StoreOptions {
    StoreOptions {
        max_connections: 8,
        connect_timeout: Duration::from_secs(10),
        busy_timeout: Duration::from_millis(5000),
    }
}

/// Opens (and migrates) a store as the server does.
pub(crate) async fn open(url: &str) -> Result<Store> {
    let store = Store::connect(url, server_store_options())
        .await
        .context("could not open the bench database")?;
    store
        .migrate()
        .await
        .context("could not migrate the bench database")?;
    Ok(store)
}

fn now() -> Now {
    let t = Utc::now();
    Now {
        business: t,
        wall: t,
    }
}

/// The id of the `i`-th order with `prefix`.
pub(crate) fn order_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

/// The two-item order the bench pushes and seeds, as intake's JSON body.
pub(crate) fn order_body(prefix: &str, i: usize) -> serde_json::Value {
    let id = order_id(prefix, i);
    serde_json::json!({
        "buyer_id": format!("buyer-{i}"),
        "version": 1,
        "sub_orders": [
            {"id": format!("{id}-1"), "item_id": "tea-longjing", "title": "Longjing green tea 250 g",
             "quantity": 1, "amount": 12800, "shipping_status": "awaiting_shipment"},
            {"id": format!("{id}-2"), "item_id": "cup-gaiwan", "title": "Gaiwan cup",
             "quantity": 2, "amount": 4600, "shipping_status": "awaiting_shipment"},
        ],
    })
}

/// The same order as the domain type.
fn order(prefix: &str, i: usize) -> Result<Order> {
    let id = order_id(prefix, i);
    let sub = |n: u32, item: &str, title: &str, quantity: u32, amount: i64| -> Result<SubOrder> {
        Ok(SubOrder {
            id: SubOrderId::parse(&format!("{id}-{n}"))?,
            item_id: ItemId::parse(item)?,
            title: title.to_owned(),
            quantity,
            amount: Money::from_minor(amount)?,
            shipping_status: ShippingStatus::AwaitingShipment,
        })
    };
    Ok(Order {
        id: OrderId::parse(&id)?,
        buyer_id: BuyerId::parse(&format!("buyer-{i}"))?,
        version: 1,
        sub_orders: vec![
            sub(1, "tea-longjing", "Longjing green tea 250 g", 1, 12800)?,
            sub(2, "cup-gaiwan", "Gaiwan cup", 2, 4600)?,
        ],
        seller_memo: String::new(),
        seller_flag: Flag::None,
        memo: MemoState::default(),
    })
}

/// Sets a shop up through the store as the console's wizard would (memo, flag and terms;
/// enabled; an ERP link with locking at `erp_endpoint`, signed with `erp_secret`; an event
/// window around now). Creates the shop first when `shop` is `None`.
pub(crate) async fn set_up_shop(
    store: &Store,
    shop: Option<ShopId>,
    erp_endpoint: String,
    erp_secret: String,
) -> Result<ShopId> {
    store
        .write(move |tx| -> Result<ShopId> {
            let at = Utc::now();
            let shop = match shop {
                Some(shop) => shop,
                None => {
                    let id = ShopId::generate();
                    tx.insert_shop(&ShopRecord {
                        id: id.clone(),
                        name: "Bench (raw)".into(),
                        created_at: at,
                    })?;
                    id
                }
            };
            let mut record = tx.settings(&shop)?;
            record.settings = InterceptionSettings {
                memo_text: Some(MemoText::parse(MEMO_TEXT)?),
                flag: Flag::Red,
                terms: Some(TermsAcceptance {
                    version: TERMS_VERSION.into(),
                    accepted_by: ACTOR.into(),
                    accepted_at: at,
                }),
                enabled: true,
                advanced: AdvancedSettings {
                    erp: Some(ErpLink {
                        endpoint: erp_endpoint,
                        locking: true,
                        active: true,
                        disabled_reason: None,
                    }),
                    ..AdvancedSettings::default()
                },
            };
            record.erp_secret = Some(erp_secret);
            tx.save_settings(&shop, &record, at)?;
            let until = at + chrono::Duration::days(1);
            tx.upsert_window(
                &shop,
                &EventWindow {
                    id: EventWindowId::generate(),
                    name: "Double 11 (bench)".into(),
                    refunds_off_from: at - chrono::Duration::hours(1),
                    refunds_off_until: until,
                    time_zone: chrono_tz::Asia::Shanghai,
                    refunds_reopen_at: until,
                },
            )?;
            Ok(shop)
        })
        .await
}

/// Seeds orders `prefix-0` … `prefix-(count-1)` through `Tx::save_order`, many per
/// transaction, with `tasks` writers at once (PostgreSQL gains from several; SQLite takes
/// them in turn).
pub(crate) async fn seed_orders(
    store: &Store,
    shop: &ShopId,
    prefix: &str,
    count: usize,
    tasks: usize,
) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (store, shop, prefix, next) =
            (store.clone(), shop.clone(), prefix.to_owned(), next.clone());
        writers.spawn(async move {
            loop {
                let start = next.fetch_add(SEED_BATCH, Ordering::Relaxed);
                if start >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let end = (start + SEED_BATCH).min(count);
                let orders = (start..end)
                    .map(|i| order(&prefix, i))
                    .collect::<Result<Vec<_>>>()?;
                let shop = shop.clone();
                store
                    .write(move |tx| -> Result<()> {
                        let at = Utc::now();
                        for order in &orders {
                            tx.save_order(&shop, order, at)?;
                        }
                        Ok(())
                    })
                    .await?;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.context("a seeding task failed")??;
    }
    Ok(())
}

/// A direct interception of every item of `order_id`, by the server's own use case.
fn intercept_in_tx(tx: &mut Tx<'_>, shop: &ShopId, order_id: &OrderId, now: Now) -> Result<()> {
    let request = InterceptRequest {
        shop_id: shop.clone(),
        order_id: order_id.clone(),
        requester: Requester::Agent(ACTOR.into()),
        method: Method::Direct,
        chosen: None,
        reason: None,
        locale: Locale::default(),
        actor: ACTOR.into(),
    };
    intercept::in_tx(tx, MessageChannel::Inbox, request, now)
        .map_err(|e| anyhow!("{order_id}: {e}"))?;
    Ok(())
}

/// Intake of a new order, by the server's own use case (read back included).
fn put_order_in_tx(tx: &mut Tx<'_>, shop: &ShopId, incoming: Order) -> Result<()> {
    let id = incoming.id.clone();
    match orders::put_order_in_tx(tx, shop, ACTOR, incoming, now()) {
        Ok((Intake::Created, _)) => Ok(()),
        Ok((other, _)) => Err(anyhow!("{id}: intake answered {other:?}, not a new order")),
        Err(e) => Err(anyhow!("{id}: {e}")),
    }
}

/// Which writes a raw run makes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// Direct interceptions of seeded orders.
    Intercept,
    /// Intake of new orders.
    Intake,
}

/// One raw run: `per_tx` writes of `work` per `Store::write`, `tasks` transactions at once,
/// for `duration` or until the `available` orders `prefix-0`, `prefix-1`, … are used up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job<'a> {
    pub work: Work,
    pub prefix: &'a str,
    pub available: usize,
    pub per_tx: usize,
    pub tasks: usize,
    pub duration: Duration,
}

/// Runs `job`, timing each transaction (a batch's latency counts once per write in it).
pub(crate) async fn run(store: &Store, shop: &ShopId, job: Job<'_>) -> Result<Measured> {
    let Job {
        work,
        prefix,
        available,
        per_tx,
        tasks,
        duration,
    } = job;
    let per_tx = per_tx.max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let until = started + duration;
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (store, shop, prefix) = (store.clone(), shop.clone(), prefix.to_owned());
        let (next, exhausted) = (next.clone(), exhausted.clone());
        writers.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let start = next.fetch_add(per_tx, Ordering::Relaxed);
                if start >= available {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                }
                let end = (start + per_tx).min(available);
                let shop = shop.clone();
                let orders = match work {
                    Work::Intercept => Vec::new(),
                    Work::Intake => (start..end)
                        .map(|i| order(&prefix, i))
                        .collect::<Result<Vec<_>>>()?,
                };
                let ids = (start..end)
                    .map(|i| OrderId::parse(&order_id(&prefix, i)))
                    .collect::<Result<Vec<_>, _>>()?;
                let t0 = Instant::now();
                store
                    .write(move |tx| -> Result<()> {
                        match work {
                            Work::Intercept => {
                                let at = now();
                                for id in &ids {
                                    intercept_in_tx(tx, &shop, id, at)?;
                                }
                            }
                            Work::Intake => {
                                for order in orders {
                                    put_order_in_tx(tx, &shop, order)?;
                                }
                            }
                        }
                        Ok(())
                    })
                    .await?;
                let us = t0.elapsed().as_micros() as u64;
                latencies.extend(std::iter::repeat_n(us, end - start));
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = Vec::new();
    let mut first_error = None;
    while let Some(done) = writers.join_next().await {
        match done.context("a raw writer task failed")? {
            Ok(mut l) => latencies.append(&mut l),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    if let Some(e) = first_error {
        return Err(e.context("a raw write failed"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Measured {
        latencies_us: latencies,
        errors: 0,
        first_errors: Vec::new(),
        elapsed,
        window: None,
        exhausted: exhausted.load(Ordering::Relaxed),
    })
}
