//! Shared pieces: credentials, a fixed instant, a simulator that knows them, a client for it.

use chrono::{DateTime, TimeZone, Utc};
use shiphold_marketplace_adapter::sim::{SimConfig, SimHandle, Simulator};
use shiphold_marketplace_adapter::*;
use std::time::Duration;

pub const TID: u64 = 4012345678901234567;
pub const OTHER_TID: u64 = 2231958349;
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const SESSION: &str = "6100a3sessionkey";

pub fn creds() -> Credentials {
    Credentials::new("21600001", SECRET, SESSION).unwrap()
}

/// 2026-11-11 08:30:00 in GMT+8.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 0, 30, 0).unwrap()
}

/// A simulator that knows `creds()` and the orders given, its clock fixed at `t0()`.
pub async fn sim_with(config: SimConfig) -> SimHandle {
    let sim = Simulator::start(config.credentials(&creds()))
        .await
        .unwrap();
    sim.set_now(Some(t0()));
    sim
}

pub async fn sim() -> SimHandle {
    sim_with(SimConfig::new().order(TID).order(OTHER_TID)).await
}

pub fn client(sim: &SimHandle) -> MemoClient {
    client_with_timeout(sim, Duration::from_secs(5))
}

pub fn client_with_timeout(sim: &SimHandle, timeout: Duration) -> MemoClient {
    MemoClient::new(&sim.url(), timeout).unwrap()
}

pub fn memo(text: &str) -> Memo {
    Memo::parse(text).unwrap()
}
