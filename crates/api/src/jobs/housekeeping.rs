//! Housekeeping: refund reminders when refunds reopen, and purging of records past their keep
//! time.

use std::time::Duration;

use tokio::sync::watch;

use crate::service::reminders;
use crate::state::AppState;

pub(super) async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_secs(30);
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(error) = reminders::remind_refunds(&state).await {
            tracing::warn!(%error, "refund reminders failed; will try again");
        }
        // Idempotency keys are kept at least 24 hours, webhook ids as long as the ERP protocol
        // promises to recognise a replay (30 days). Both are stamped by the clock named here.
        let now = state.now();
        if let Err(error) = state
            .store()
            .purge_idempotency(now.wall - chrono::Duration::hours(48))
            .await
        {
            tracing::warn!(%error, "could not purge idempotency keys");
        }
        if let Err(error) = state
            .store()
            .purge_webhooks(now.business - chrono::Duration::days(30))
            .await
        {
            tracing::warn!(%error, "could not purge the webhook replay guard");
        }
        // Delivered entries are kept a week for inspection (attempts, timing); dead letters stay
        // until an admin re-drives them.
        if let Err(error) = state
            .store()
            .purge_outbox(now.wall - chrono::Duration::days(7))
            .await
        {
            tracing::warn!(%error, "could not purge delivered outbox entries");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}
