//! Integration tests of the ERP adapter against real loopback HTTP servers: the clients, the
//! axum extractor, the simulator and its binary, and the examples of `docs/erp-protocol.md`.

mod clients;
mod doc_examples;
mod simulator;
mod support;
