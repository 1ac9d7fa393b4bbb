//! A demo of the whole round trip on loopback: start the WMS simulator, hold a document,
//! release it, and see a refusal for a document that has already shipped.
//!
//! ```text
//! cargo run -p shiphold-qimen-adapter --features sim --example hold_and_restore
//! ```

use shiphold_qimen_adapter::sim::{SimConfig, Simulator};
use shiphold_qimen_adapter::{
    Credentials, DEFAULT_TIMEOUT, OrderType, PendingRequest, QimenClient, Secret,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let credentials = Credentials::new("12345678", Secret::new("demo-secret")?, "stub-cust-code")?;
    let sim = Simulator::start(
        SimConfig::new(credentials.clone())
            .with_document("WH-1", "SO-1")
            .with_document("WH-1", "SO-2"),
    )
    .await?;
    sim.ship("WH-1", "SO-2");
    let client = QimenClient::new(&sim.url(), credentials, DEFAULT_TIMEOUT)?;

    let hold = |order: &str| {
        PendingRequest::pending("WH-1", order)
            .with_order_type(OrderType::TradeOutbound)
            .with_reason("买家申请拦截 buyer asked to stop the shipment")
    };
    println!("pending SO-1 -> {:?}", client.send(&hold("SO-1")).await?);
    println!("held: {}", sim.is_held("WH-1", "SO-1"));
    let restore = PendingRequest::restore("WH-1", "SO-1").with_reason("买家要发货 ship after all");
    println!("restore SO-1 -> {:?}", client.send(&restore).await?);
    println!("held: {}", sim.is_held("WH-1", "SO-1"));
    println!("pending SO-2 -> {:?}", client.send(&hold("SO-2")).await?);

    for call in sim.calls() {
        println!(
            "recorded: {} {} -> HTTP {} {:?}",
            call.param("timestamp").unwrap_or_default(),
            String::from_utf8_lossy(&call.body),
            call.status,
            call.answer.map(|a| a.flag)
        );
    }
    sim.shutdown().await;
    Ok(())
}
