//! Reading interceptions back: a filtered list, one with its items' history, and the risk list
//! of items that are intercepted but neither refunded nor locked.

use chrono::{DateTime, Utc};
use shiphold_domain::{Interception, InterceptionId, LineState, OrderId, SubOrderId, Transition};
use shiphold_storage::{InterceptionFilter, Page, PageOf};

use super::{Caller, ServiceError};
use crate::state::AppState;

/// A page of interceptions, newest first.
pub async fn list(
    app: &AppState,
    caller: &Caller,
    filter: InterceptionFilter,
    page: Page,
) -> Result<PageOf<Interception>, ServiceError> {
    let shop = caller.shop_id.clone();
    Ok(app
        .store()
        .read(move |tx| tx.interceptions(&shop, &filter, &page))
        .await?)
}

/// One interception with every recorded change of its items.
pub async fn get(
    app: &AppState,
    caller: &Caller,
    id: InterceptionId,
) -> Result<(Interception, Vec<(SubOrderId, Transition)>), ServiceError> {
    let shop = caller.shop_id.clone();
    app.store()
        .read(move |tx| -> Result<_, ServiceError> {
            let i = tx
                .interception(&shop, &id)?
                .ok_or(ServiceError::NotFound("interception"))?;
            let history = tx.line_history(&shop, &id)?;
            Ok((i, history))
        })
        .await
}

/// An item at risk of shipping.
#[derive(Debug, Clone)]
pub struct RiskItem {
    /// Its interception.
    pub interception_id: InterceptionId,
    /// Its order.
    pub order_id: OrderId,
    /// The sub-order.
    pub sub_order_id: SubOrderId,
    /// Its state: requested, delivered to the ERP, or lock failed.
    pub state: LineState,
    /// When it was intercepted.
    pub intercepted_at: DateTime<Utc>,
    /// How long ago, in whole hours.
    pub age_hours: i64,
}

/// The most items the risk list holds; past that the oldest are what matters.
const RISK_LIMIT: usize = 10_000;

/// Items intercepted and neither refunded nor locked by the ERP, oldest first.
pub async fn risk(app: &AppState, caller: &Caller) -> Result<Vec<RiskItem>, ServiceError> {
    let shop = caller.shop_id.clone();
    let now = app.now().business;
    app.store()
        .read(move |tx| -> Result<Vec<RiskItem>, ServiceError> {
            let mut items = Vec::new();
            for risky in [
                LineState::Requested,
                LineState::DeliveredToErp,
                LineState::LockFailed,
            ] {
                let mut after = None;
                loop {
                    let filter = InterceptionFilter {
                        state: Some(risky),
                        ..Default::default()
                    };
                    let page = Page {
                        after: after.clone(),
                        limit: 200,
                    };
                    let result = tx.interceptions(&shop, &filter, &page)?;
                    for i in &result.items {
                        for l in i.lines.iter().filter(|l| l.state == risky) {
                            items.push(RiskItem {
                                interception_id: i.id.clone(),
                                order_id: i.order_id.clone(),
                                sub_order_id: l.sub_order_id.clone(),
                                state: l.state,
                                intercepted_at: i.created_at,
                                age_hours: (now - i.created_at).num_hours(),
                            });
                        }
                    }
                    match result.next {
                        Some(next) if items.len() < RISK_LIMIT => after = Some(next),
                        _ => break,
                    }
                }
            }
            items.sort_by_key(|i| i.intercepted_at);
            Ok(items)
        })
        .await
}
