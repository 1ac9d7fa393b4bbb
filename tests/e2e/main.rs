//! End-to-end tests: the built `shiphold` binary, started as an operator would start it.

mod browser;
mod cli;
mod delivery;
mod serve;
