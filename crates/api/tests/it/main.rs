//! Integration tests of the API over real HTTP, on SQLite and (when configured) PostgreSQL.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod erp;
mod fuzz;
mod intercept;
mod marketplace;
mod openapi;
mod qimen;
mod setup;
mod staff;
mod tenancy;
