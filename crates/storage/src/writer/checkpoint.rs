//! Checkpoints of SQLite's write-ahead log, off the writer thread.
//!
//! By default the connection that commits a transaction which takes the log past 1,000 pages
//! runs the checkpoint itself: it copies the logged pages into the database file and syncs it,
//! inside that commit. With one writer thread that is every request queued behind it waiting
//! for a file sync. So the writer's connection does no checkpoints (`wal_autocheckpoint = 0`),
//! and this thread runs a passive checkpoint on a connection of its own after commits, at most
//! every [`EVERY`]. A passive checkpoint takes no lock that the writer or the readers wait for;
//! pages a reader still needs stay in the log until the next one. Durability does not change:
//! a commit is in the log, and synced there as `synchronous` says, before it is answered.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{Pool, PooledConnection};

use crate::error::StoreError;
use crate::store::Manager;

/// The shortest time between two checkpoints while writes go on.
const EVERY: Duration = Duration::from_millis(250);

/// Tells the checkpoint thread that a transaction committed. The thread ends when this is
/// dropped (the writer thread ended).
pub(crate) struct Nudge {
    tx: mpsc::SyncSender<()>,
}

impl Nudge {
    /// Never blocks: one pending nudge is as good as many.
    pub(crate) fn after_commit(&self) {
        let _ = self.tx.try_send(());
    }
}

/// Turns the writer connection's own checkpoints off.
pub(crate) fn leave_to_the_checkpointer(
    conn: &mut PooledConnection<Manager>,
) -> Result<(), StoreError> {
    conn.batch_execute("PRAGMA wal_autocheckpoint = 0")
        .map_err(StoreError::from)
}

/// Starts the checkpoint thread.
pub(crate) fn start(pool: Pool<Manager>) -> Result<Nudge, StoreError> {
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("shiphold-checkpoint".into())
        .spawn(move || run(&pool, &rx))
        .map_err(|e| StoreError::unavailable_from("cannot start the checkpoint thread", e))?;
    Ok(Nudge { tx })
}

fn run(pool: &Pool<Manager>, nudges: &mpsc::Receiver<()>) {
    let mut last = Instant::now();
    while nudges.recv().is_ok() {
        // Let commits gather for a while: one checkpoint copies each page once however often
        // it was written since the last.
        // (Nudges meanwhile wait in the channel's one slot: the next round takes them.)
        std::thread::sleep(EVERY.saturating_sub(last.elapsed()));
        let done = pool.get().map_err(StoreError::from).and_then(|mut conn| {
            conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                .map_err(StoreError::from)
        });
        if let Err(error) = done {
            // The next commit nudges again; the log meanwhile only grows.
            tracing::warn!(%error, "could not checkpoint the SQLite write-ahead log");
        }
        last = Instant::now();
    }
}
