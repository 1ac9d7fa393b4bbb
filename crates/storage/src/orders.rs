//! Orders with their sub-orders, and the memo note and flag Shiphold writes on them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use shiphold_domain::{
    BuyerId, Flag, MemoState, Money, Order, OrderId, ShippingStatus, ShopId, SubOrder,
};

use crate::error::StoreError;
use crate::page::{Page, PageOf, time_id, time_id_cursor};
use crate::parse_id;
use crate::schema::{orders, sub_orders};
use crate::store::{DbConnection, Tx};

/// Which orders to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this buyer's orders.
    pub buyer_id: Option<BuyerId>,
    /// Only orders saved after this time (exclusive).
    pub updated_after: Option<DateTime<Utc>>,
    /// Only orders whose id starts with this (compared exactly, case included, on both
    /// databases).
    pub id_prefix: Option<String>,
}

diesel::define_sql_function! {
    /// SQL `substr(text, start, length)`: the same on SQLite and PostgreSQL (characters, from 1),
    /// unlike `LIKE`, which ignores case on SQLite only.
    fn substr(text: diesel::sql_types::Text, start: diesel::sql_types::Integer, length: diesel::sql_types::Integer) -> diesel::sql_types::Text;
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = orders)]
pub(crate) struct OrderRow {
    id: String,
    buyer_id: String,
    version: i64,
    seller_memo: String,
    seller_flag: String,
    memo_note: Option<String>,
    memo_flag: Option<String>,
    updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = orders)]
struct NewOrderRow<'a> {
    shop_id: &'a str,
    id: &'a str,
    buyer_id: &'a str,
    version: i64,
    seller_memo: &'a str,
    seller_flag: &'a str,
    memo_note: Option<&'a str>,
    memo_flag: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sub_orders)]
struct SubOrderRow {
    shop_id: String,
    order_id: String,
    id: String,
    position: i32,
    item_id: String,
    title: String,
    quantity: i64,
    amount: i64,
    shipping_status: String,
}

fn parse_flag(raw: &str, column: &str) -> Result<Flag, StoreError> {
    Flag::parse(raw).map_err(|e| StoreError::corrupt(format!("{column}: {e}")))
}

impl SubOrderRow {
    fn into_sub_order(self) -> Result<SubOrder, StoreError> {
        Ok(SubOrder {
            id: parse_id(&self.id, "sub_orders.id")?,
            item_id: parse_id(&self.item_id, "sub_orders.item_id")?,
            title: self.title,
            quantity: u32::try_from(self.quantity).map_err(|_| {
                StoreError::corrupt(format!("sub_orders.quantity: {}", self.quantity))
            })?,
            amount: Money::from_minor(self.amount)
                .map_err(|e| StoreError::corrupt(format!("sub_orders.amount: {e}")))?,
            shipping_status: ShippingStatus::parse(&self.shipping_status)
                .map_err(|e| StoreError::corrupt(format!("sub_orders.shipping_status: {e}")))?,
        })
    }
}

impl OrderRow {
    fn into_order(self, subs: Vec<SubOrderRow>) -> Result<Order, StoreError> {
        Ok(Order {
            id: parse_id(&self.id, "orders.id")?,
            buyer_id: parse_id(&self.buyer_id, "orders.buyer_id")?,
            version: self.version,
            sub_orders: subs
                .into_iter()
                .map(SubOrderRow::into_sub_order)
                .collect::<Result<_, _>>()?,
            seller_memo: self.seller_memo,
            seller_flag: parse_flag(&self.seller_flag, "orders.seller_flag")?,
            memo: MemoState {
                note: self.memo_note,
                flag: self
                    .memo_flag
                    .as_deref()
                    .map(|f| parse_flag(f, "orders.memo_flag"))
                    .transpose()?,
            },
        })
    }
}

impl Tx<'_> {
    /// The order with its sub-orders (in the order they were saved) and memo state.
    pub fn order(&mut self, shop: &ShopId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let row = orders::table
            .find((shop.as_str(), id.as_str()))
            .select(OrderRow::as_select())
            .first(self.db())
            .optional()?;
        match row {
            None => Ok(None),
            Some(row) => {
                let subs = self.sub_order_rows(shop, std::slice::from_ref(&row.id))?;
                let subs = subs.into_values().next().unwrap_or_default();
                row.into_order(subs).map(Some)
            }
        }
    }

    /// Like [`Tx::order`], and holds the order's row for update until the transaction ends (PostgreSQL:
    /// `FOR UPDATE`), so that concurrent requests on one order run one after the other and
    /// each sees what the previous one committed. On SQLite the write transaction already
    /// holds the database's write lock. Call it first in a `write`, before reading anything
    /// that depends on the order (its lines, its memo).
    pub fn order_for_update(
        &mut self,
        shop: &ShopId,
        id: &OrderId,
    ) -> Result<Option<Order>, StoreError> {
        if let DbConnection::Pg(c) = &mut *self.conn {
            let found = orders::table
                .find((shop.as_str(), id.as_str()))
                .select(orders::id)
                .for_update()
                .first::<String>(c)
                .optional()?;
            if found.is_none() {
                return Ok(None);
            }
        }
        self.order(shop, id)
    }

    /// Inserts the order or replaces it (row and all sub-orders, keeping their order).
    /// `now` becomes its `updated_at` (and `created_at` on insert).
    pub fn save_order(
        &mut self,
        shop: &ShopId,
        order: &Order,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now_ms = crate::page::ms(now);
        let key = (shop.as_str(), order.id.as_str());
        let updated = diesel::update(orders::table.find(key))
            .set((
                orders::buyer_id.eq(order.buyer_id.as_str()),
                orders::version.eq(order.version),
                orders::seller_memo.eq(&order.seller_memo),
                orders::seller_flag.eq(order.seller_flag.as_str()),
                orders::memo_note.eq(order.memo.note.as_deref()),
                orders::memo_flag.eq(order.memo.flag.map(Flag::as_str)),
                orders::updated_at.eq(now_ms),
            ))
            .execute(self.db())?;
        if updated == 0 {
            diesel::insert_into(orders::table)
                .values(NewOrderRow {
                    shop_id: shop.as_str(),
                    id: order.id.as_str(),
                    buyer_id: order.buyer_id.as_str(),
                    version: order.version,
                    seller_memo: &order.seller_memo,
                    seller_flag: order.seller_flag.as_str(),
                    memo_note: order.memo.note.as_deref(),
                    memo_flag: order.memo.flag.map(Flag::as_str),
                    created_at: now_ms,
                    updated_at: now_ms,
                })
                .execute(self.db())?;
        } else {
            diesel::delete(
                sub_orders::table
                    .filter(sub_orders::shop_id.eq(shop.as_str()))
                    .filter(sub_orders::order_id.eq(order.id.as_str())),
            )
            .execute(self.db())?;
        }
        let rows = order
            .sub_orders
            .iter()
            .enumerate()
            .map(|(position, sub)| {
                Ok(SubOrderRow {
                    shop_id: shop.as_str().to_owned(),
                    order_id: order.id.as_str().to_owned(),
                    id: sub.id.as_str().to_owned(),
                    position: i32::try_from(position)
                        .map_err(|_| StoreError::database("too many sub-orders"))?,
                    item_id: sub.item_id.as_str().to_owned(),
                    title: sub.title.clone(),
                    quantity: i64::from(sub.quantity),
                    amount: sub.amount.minor(),
                    shipping_status: sub.shipping_status.as_str().to_owned(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // One statement for all rows: at most MAX_SUB_ORDERS x 9 parameters, far below the
        // bundled SQLite's limit of 32,766 (and PostgreSQL's 65,535).
        self.insert_rows(diesel::insert_into(sub_orders::table).values(&rows))
    }

    /// Sets Shiphold's memo note and flag on an order; `false` if there is no such order.
    pub fn set_order_memo(
        &mut self,
        shop: &ShopId,
        id: &OrderId,
        memo: &MemoState,
    ) -> Result<bool, StoreError> {
        let updated = diesel::update(orders::table.find((shop.as_str(), id.as_str())))
            .set((
                orders::memo_note.eq(memo.note.as_deref()),
                orders::memo_flag.eq(memo.flag.map(Flag::as_str)),
            ))
            .execute(self.db())?;
        Ok(updated > 0)
    }

    /// The shop's orders, most recently saved first.
    pub fn orders(
        &mut self,
        shop: &ShopId,
        filter: &OrderFilter,
        page: &Page,
    ) -> Result<PageOf<Order>, StoreError> {
        let limit = page.effective_limit();
        let mut query = orders::table
            .filter(orders::shop_id.eq(shop.as_str()))
            .select(OrderRow::as_select())
            .order((orders::updated_at.desc(), orders::id.desc()))
            .limit(limit as i64 + 1)
            .into_boxed();
        if let Some(buyer) = &filter.buyer_id {
            query = query.filter(orders::buyer_id.eq(buyer.as_str().to_owned()));
        }
        if let Some(after) = filter.updated_after {
            query = query.filter(orders::updated_at.gt(crate::page::ms(after)));
        }
        if let Some(prefix) = &filter.id_prefix {
            let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
            query = query.filter(substr(orders::id, 1, length).eq(prefix.clone()));
        }
        if let Some((at, id)) = time_id_cursor(page)? {
            query = query.filter(
                orders::updated_at
                    .lt(at)
                    .or(orders::updated_at.eq(at).and(orders::id.lt(id))),
            );
        }
        let rows: Vec<OrderRow> = query.load(self.db())?;
        let ids: Vec<String> = rows.iter().take(limit).map(|r| r.id.clone()).collect();
        let mut subs = self.sub_order_rows(shop, &ids)?;
        PageOf::from_rows(
            rows,
            limit,
            |r| time_id(r.updated_at, &r.id),
            |r| {
                let mine = subs.remove(&r.id).unwrap_or_default();
                r.into_order(mine)
            },
        )
    }

    /// The sub-order rows of `order_ids`, grouped by order, each group in saved order.
    fn sub_order_rows(
        &mut self,
        shop: &ShopId,
        order_ids: &[String],
    ) -> Result<HashMap<String, Vec<SubOrderRow>>, StoreError> {
        let mut grouped: HashMap<String, Vec<SubOrderRow>> = HashMap::new();
        if order_ids.is_empty() {
            return Ok(grouped);
        }
        let rows = sub_orders::table
            .filter(sub_orders::shop_id.eq(shop.as_str()))
            .filter(sub_orders::order_id.eq_any(order_ids))
            .order((sub_orders::order_id.asc(), sub_orders::position.asc()))
            .select(SubOrderRow::as_select())
            .load(self.db())?;
        for row in rows {
            grouped.entry(row.order_id.clone()).or_default().push(row);
        }
        Ok(grouped)
    }
}
