//! What operators ask of the application: whether the database answers, and how full the
//! outbox is.

use shiphold_storage::{Backend, OutboxCount};

use super::ServiceError;
use crate::state::AppState;

/// The database backend, once it has answered a ping.
pub async fn ready(app: &AppState) -> Result<Backend, ServiceError> {
    app.store().ping().await?;
    Ok(app.store().backend())
}

/// The backend the store was opened on.
pub fn backend(app: &AppState) -> Backend {
    app.store().backend()
}

/// Pending, leased and dead outbox entries per topic.
pub async fn outbox_counts(app: &AppState) -> Result<Vec<OutboxCount>, ServiceError> {
    Ok(app.store().outbox_counts(app.now().wall).await?)
}
