//! Send a result back: post a signed results callback to Shiphold, as an ERP does when it
//! learns later whether it could lock the items.
//!
//! ```text
//! SHIPHOLD_SECRET=whsec_... cargo run -p shiphold-erp-adapter --features client \
//!     --example send_result -- http://127.0.0.1:3000 shop-1 icp-3 so-1=locked so-2=failed
//! ```

use shiphold_erp_adapter::{
    CallbackClient, ItemResult, Outcome, ResultsCallback, Secret, new_webhook_id,
};
use std::time::Duration;

fn usage() -> String {
    "usage: send_result SHIPHOLD_BASE SHOP_ID INTERCEPTION_ID SUB_ORDER_ID=OUTCOME...".to_owned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, shop_id, interception_id, items @ ..] = args.as_slice() else {
        return Err(usage().into());
    };
    if items.is_empty() {
        return Err(usage().into());
    }
    let secret =
        Secret::parse(&std::env::var("SHIPHOLD_SECRET").map_err(|_| "set SHIPHOLD_SECRET")?)?;

    let mut results = Vec::new();
    for item in items {
        let (sub_order_id, outcome) = item.split_once('=').ok_or_else(usage)?;
        let outcome: Outcome = outcome.parse()?;
        results.push(match outcome {
            Outcome::Failed => ItemResult::failed(sub_order_id, "could not stop the picking"),
            other => ItemResult::new(sub_order_id, other),
        });
    }
    let callback = ResultsCallback::new(shop_id, interception_id, results, chrono::Utc::now());

    let client = CallbackClient::new(base.as_str(), Duration::from_secs(10))?;
    // Keep the id: if the callback must be sent again, send it with the same id, so Shiphold
    // applies it only once.
    let webhook_id = new_webhook_id();
    let mut attempt = 0;
    loop {
        match client.send(&secret, &webhook_id, &callback).await {
            Ok(receipt) => {
                println!("{webhook_id}: {receipt:?}");
                return Ok(());
            }
            Err(e) if e.is_retryable() && attempt < 3 => {
                attempt += 1;
                eprintln!("{e}; trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
