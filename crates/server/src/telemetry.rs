//! Logging: readable lines on a terminal, JSON for log collectors, filtered like RUST_LOG.
//!
//! Logs go to stderr so that what a command prints on stdout (a new API key, the configuration)
//! can be piped on its own.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::settings::{ConfigError, LogFormat, Settings};

/// Installs the global subscriber. `RUST_LOG`, when set, replaces `log.filter`.
pub fn init(settings: &Settings) -> Result<(), ConfigError> {
    let (source, directives) = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => ("RUST_LOG", value),
        _ => ("log.filter", settings.log.filter.clone()),
    };
    let filter = EnvFilter::builder()
        .parse(&directives)
        .map_err(|err| ConfigError {
            key: Some(source.into()),
            message: format!("{directives:?} is not a valid filter: {err}"),
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second subscriber (tests) is not worth a panic.
    let _ = match settings.log_format()? {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .flatten_event(true)
            .try_init(),
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    Ok(())
}
