//! End-to-end tests: the built `shiphold` binary, started as an operator would start it.

// A panic in a test is a failed assertion with its message; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod cli;
mod delivery;
mod serve;
