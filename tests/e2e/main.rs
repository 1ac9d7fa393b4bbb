//! End-to-end tests: the built `shiphold` binary, started as an operator would start it.

mod cli;
mod serve;
