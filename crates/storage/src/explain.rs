//! Rows of query plans, for the `explain_…` diagnostics of hot queries.

use diesel::QueryableByName;
use diesel::sql_types::Text;

/// One line of PostgreSQL's `EXPLAIN`.
#[derive(QueryableByName)]
pub(crate) struct PgLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    pub(crate) line: String,
}

/// One step of SQLite's `EXPLAIN QUERY PLAN` (id, parent, notused, detail): the detail.
#[derive(QueryableByName)]
pub(crate) struct SqliteStep {
    #[diesel(sql_type = Text)]
    pub(crate) detail: String,
}
