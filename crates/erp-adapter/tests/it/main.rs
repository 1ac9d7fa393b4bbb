//! Integration tests of the ERP adapter against real loopback HTTP servers.
