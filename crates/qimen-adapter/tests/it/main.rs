//! Integration tests of the Qimen adapter: the real client against the WMS simulator on
//! loopback, for the happy path, the wire format as received, and every fault an outbox must
//! tell apart.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod round_trips;
mod support;
