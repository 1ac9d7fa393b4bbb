//! Integration tests of the marketplace adapter: signing and verification through the public
//! API, and the client against the simulator on loopback.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod signing;
mod support;
