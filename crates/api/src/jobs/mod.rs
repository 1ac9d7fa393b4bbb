//! Background jobs that finish what requests began: the dispatcher claims outbox entries and
//! hands each to the deliverer of its topic (ERP messages, chat gateway messages, marketplace
//! memo write-backs, Qimen warehouse holds), with retries
//! and dead letters; housekeeping reminds buyers when refunds reopen and purges expired records.
//!
//! Every replica runs the same loops; outbox leases keep them from doing an entry twice. What a
//! delivery's answer changes in the application goes through the services.

mod chat;
mod dispatch;
mod erp;
mod housekeeping;
mod marketplace;
mod qimen;

use std::sync::Arc;

use shiphold_erp_adapter::{EndpointPolicy, ErpClient};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::state::AppState;

/// Starts the jobs; the handle ends after `shutdown` turns true and in-flight deliveries finish.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !state.config().run_jobs {
            return;
        }
        let clients = match Clients::new(&state) {
            Ok(c) => Arc::new(c),
            Err(error) => {
                tracing::error!(%error, "delivery jobs not started: cannot build the HTTP client");
                return;
            }
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(dispatch::run(state.clone(), clients, shutdown.clone()));
        tasks.spawn(housekeeping::run(state.clone(), shutdown.clone()));
        while tasks.join_next().await.is_some() {}
        tracing::info!("delivery jobs stopped");
    })
}

/// The signed HTTP clients of the deliverers.
struct Clients {
    /// ERP endpoints, under the endpoint policy.
    erp: ErpClient,
    /// The chat gateway is the platform's own service, so the ERP address policy does not apply.
    gateway: ErpClient,
    /// Marketplace gateways, under the endpoint policy.
    marketplace: marketplace::MemoClients,
    /// Qimen warehouses, under the endpoint policy.
    qimen: qimen::QimenClients,
}

impl Clients {
    fn new(state: &AppState) -> Result<Self, shiphold_erp_adapter::ClientError> {
        let timeout = state.config().delivery.timeout;
        let policy = EndpointPolicy {
            allow_insecure: state.config().allow_insecure_endpoints,
        };
        Ok(Self {
            erp: ErpClient::new(policy, timeout)?,
            marketplace: marketplace::MemoClients::new(policy, timeout),
            qimen: qimen::QimenClients::new(policy, timeout),
            gateway: ErpClient::new(
                EndpointPolicy {
                    allow_insecure: true,
                },
                timeout,
            )?,
        })
    }
}
