//! Integration tests of the ERP adapter against real loopback HTTP servers: the clients, the
//! axum extractor, the simulator and its binary, and the examples of `docs/erp-protocol.md`.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod doc_examples;
mod simulator;
mod support;
