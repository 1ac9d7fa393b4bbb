//! Group commit for SQLite: one writer thread owns one connection and runs every write
//! transaction of the process. Writes that arrive while it is busy wait in a queue; it takes
//! them together, runs each in a savepoint of one `BEGIN IMMEDIATE` transaction, commits once,
//! and only then answers each of them.
//!
//! SQLite allows one writer at a time anyway, so nothing is lost by the single thread; what is
//! gained is that a burst of N requests costs one commit (and one write of each page they share)
//! instead of N, and that writers no longer hand the file lock to each other one by one. Each
//! write is still all or nothing: a closure that fails, or a statement in it, rolls back to its
//! own savepoint and the others go on. A write is answered only after the commit that holds it,
//! so nothing is acknowledged before it is stored; if the commit fails, every write in it gets
//! the error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{Pool, PooledConnection};

use crate::error::StoreError;
use crate::store::{Backend, DbConnection, Manager, Tx};

/// The writer connection's page cache: 64 MiB instead of SQLite's 2 MB. Every write passes
/// through this one connection; with the default cache its pages (the outbox, the lines, their
/// indexes) fell out as the database grew, and each statement and commit read them again from
/// the file, so a backlog of 30,000 drained at half the rate of one of 10,000. Reads on the
/// pool keep the default.
const WRITER_CACHE: &str = "PRAGMA cache_size = -65536";

mod checkpoint;

/// The most writes one transaction takes. Each is short; the cap bounds how long the first of a
/// batch waits for the last.
const MAX_BATCH: usize = 64;

/// What the writer does with a queued write: run it inside the open transaction, or tell it
/// that its transaction could not be had.
pub(crate) enum Call<'a, 'b> {
    Run(&'a mut Tx<'b>),
    Fail(&'a StoreError),
}

/// How a write that ran is answered: `None` when its transaction committed, else the error.
pub(crate) type Answer = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A write that ran: whether it wants its changes kept, and how to answer it once the
/// transaction's fate is known (`None`: committed; `Some`: the batch failed with this).
pub(crate) struct Ran {
    pub(crate) ok: bool,
    pub(crate) answer: Answer,
}

/// A queued write. Given `Call::Fail` it answers at once and returns `None`.
pub(crate) type Job = Box<dyn FnOnce(Call<'_, '_>) -> Option<Ran> + Send>;

/// The queue in front of the writer thread. The thread ends when the last sender is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over connections from `pool`, and on SQLite the thread that
    /// checkpoints the write-ahead log beside it.
    pub(crate) fn start(pool: Pool<Manager>, backend: Backend) -> Result<Writer, StoreError> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let nudge = match backend {
            Backend::Sqlite => Some(checkpoint::start(pool.clone())?),
            Backend::Postgres => None,
        };
        std::thread::Builder::new()
            .name("shiphold-writer".into())
            .spawn(move || run(&pool, backend, &jobs, nudge.as_ref()))
            .map_err(|e| StoreError::unavailable_from("cannot start the writer thread", e))?;
        Ok(Writer { queue })
    }

    /// Queues a write; the job answers through its own channel.
    pub(crate) fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.queue
            .send(job)
            .map_err(|_| StoreError::unavailable("the writer thread has stopped"))
    }
}

fn run(
    pool: &Pool<Manager>,
    backend: Backend,
    jobs: &mpsc::Receiver<Job>,
    checkpoints: Option<&checkpoint::Nudge>,
) {
    let mut conn: Option<PooledConnection<Manager>> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pooled = match conn.take() {
            Some(c) => c,
            None => match pool.get().map_err(StoreError::from).and_then(|mut c| {
                c.batch_execute(WRITER_CACHE)?;
                if checkpoints.is_some() {
                    checkpoint::leave_to_the_checkpointer(&mut c)?;
                }
                Ok(c)
            }) {
                Ok(c) => c,
                Err(error) => {
                    fail_all(batch, &error);
                    continue;
                }
            },
        };
        let mut pooled = pooled;
        if run_batch(&mut pooled, backend, batch) {
            conn = Some(pooled);
        }
        if let Some(nudge) = checkpoints {
            nudge.after_commit();
        }
        // Otherwise the connection is dropped: r2d2 discards it if its transaction state is
        // broken, and the next batch takes a fresh one.
    }
}

fn fail_all(jobs: impl IntoIterator<Item = Job>, error: &StoreError) {
    for job in jobs {
        job(Call::Fail(error));
    }
}

fn answer_all(answers: Vec<Answer>, error: Option<&StoreError>) {
    for answer in answers {
        answer(error);
    }
}

/// The transaction manager's step on whichever connection this is.
macro_rules! manager {
    ($conn:expr, $step:ident $(, $arg:expr)?) => {
        match &mut *$conn {
            DbConnection::Sqlite(c) => AnsiTransactionManager::$step(c $(, $arg)?),
            DbConnection::Pg(c) => AnsiTransactionManager::$step(c $(, $arg)?),
        }
    };
}

/// Runs one batch in one transaction; returns whether the connection may be used again.
fn run_batch(conn: &mut DbConnection, backend: Backend, jobs: Vec<Job>) -> bool {
    let begun = match backend {
        Backend::Sqlite => manager!(conn, begin_transaction_sql, "BEGIN IMMEDIATE"),
        Backend::Postgres => manager!(conn, begin_transaction),
    };
    if let Err(e) = begun {
        fail_all(jobs, &StoreError::from(e));
        return false;
    }
    let mut answers = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    while let Some(job) = jobs.next() {
        // Nested inside the open transaction, the manager makes this a savepoint.
        if let Err(e) = manager!(conn, begin_transaction) {
            give_up(
                conn,
                answers,
                std::iter::once(job).chain(jobs),
                &StoreError::from(e),
            );
            return false;
        }
        let ran = catch_unwind(AssertUnwindSafe(|| {
            job(Call::Run(&mut Tx {
                conn: &mut *conn,
                backend,
            }))
        }));
        let Ok(Some(ran)) = ran else {
            // A panic (its job's answer went with it) leaves the nesting of savepoints unknown:
            // give the whole batch up and the connection with it.
            let error = StoreError::database("a write in the same transaction failed unexpectedly");
            give_up(conn, answers, jobs, &error);
            return false;
        };
        let settled = if ran.ok {
            manager!(conn, commit_transaction)
        } else {
            manager!(conn, rollback_transaction)
        };
        answers.push(ran.answer);
        if let Err(e) = settled {
            // SQLite may have rolled the whole transaction back (a full disk, an I/O error).
            give_up(conn, answers, jobs, &StoreError::from(e));
            return false;
        }
    }
    match manager!(conn, commit_transaction) {
        Ok(()) => {
            answer_all(answers, None);
            true
        }
        Err(e) => {
            let error = StoreError::from(e);
            let rolled_back = manager!(conn, rollback_transaction);
            answer_all(answers, Some(&error));
            rolled_back.is_ok()
        }
    }
}

/// Gives up the batch: the writes that ran so far are rolled back and answered with `error`,
/// and those that had not run yet fail with it.
fn give_up(
    conn: &mut DbConnection,
    answers: Vec<Answer>,
    rest: impl Iterator<Item = Job>,
    error: &StoreError,
) {
    let _ = manager!(conn, rollback_transaction);
    answer_all(answers, Some(error));
    fail_all(rest, error);
}
