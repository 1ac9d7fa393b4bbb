//! Integration tests of the API over real HTTP, on SQLite and (when configured) PostgreSQL.

mod support;

mod erp;
mod fuzz;
mod intercept;
mod openapi;
mod setup;
mod tenancy;
