//! Shared pieces: the credentials, a frozen instant, and a simulator with a client for it.

use chrono::{DateTime, TimeZone, Utc};
use shiphold_qimen_adapter::sim::{SimConfig, SimHandle, Simulator};
use shiphold_qimen_adapter::*;
use std::time::Duration;

pub const WAREHOUSE: &str = "WH-HZ-01";
pub const OWNER: &str = "OWNER-7";

pub fn credentials() -> Credentials {
    Credentials::new(
        "12345678",
        Secret::new("qimen-test-secret").unwrap(),
        "stub-cust-code",
    )
    .unwrap()
}

/// 2026-11-11 08:00:00 in Shanghai: every call is stamped with it and the simulator's clock is
/// frozen there, so no test depends on the time it runs at.
pub fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
}

/// A simulator that knows these documents of [`WAREHOUSE`], its clock frozen at [`at`].
pub async fn start(orders: &[&str]) -> SimHandle {
    let mut config = SimConfig::new(credentials());
    config.now = Some(at());
    for order in orders {
        config = config.with_document(WAREHOUSE, *order);
    }
    Simulator::start(config).await.expect("simulator starts")
}

pub fn client_for(sim: &SimHandle, credentials: Credentials) -> QimenClient {
    QimenClient::new(&sim.url(), credentials, Duration::from_secs(5)).expect("client")
}

pub fn client(sim: &SimHandle) -> QimenClient {
    client_for(sim, credentials())
}

pub fn hold(order: &str) -> PendingRequest {
    PendingRequest::pending(WAREHOUSE, order)
        .with_owner_code(OWNER)
        .with_order_type(OrderType::TradeOutbound)
        .with_reason("买家申请拦截 buyer asked to stop the shipment")
}

pub fn release(order: &str) -> PendingRequest {
    PendingRequest::restore(WAREHOUSE, order)
        .with_owner_code(OWNER)
        .with_order_type(OrderType::TradeOutbound)
        .with_reason("买家要求继续发货 ship after all")
}

pub async fn send(client: &QimenClient, request: &PendingRequest) -> Outcome {
    client
        .send_at(request, at())
        .await
        .expect("a valid request")
}
