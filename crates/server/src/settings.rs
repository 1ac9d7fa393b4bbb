//! The server's configuration: embedded defaults → optional file → `SHIPHOLD__…` environment,
//! deserialized into typed sections, then validated so that a bad value stops the process at start
//! with a message naming the key instead of failing later, mid-request.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shiphold_api::{ApiConfig, ChatGatewayConfig, DeliveryConfig, RateLimits, StaffConfig};

/// The commented defaults, also what `docs/configuration.md` describes.
pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "SHIPHOLD";
/// Separates prefix, section and key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// The file read from the working directory when `--config` is not given.
pub const LOCAL_FILE: &str = "shiphold.toml";

/// The mask that replaces secrets in printed configuration.
const MASK: &str = "***";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub jobs: JobsSettings,
    pub erp: ErpSettings,
    pub chat_gateway: ChatGatewaySettings,
    pub rate_limit: RateLimitSettings,
    pub metrics: MetricsSettings,
    pub staff: StaffSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    pub public_base_url: String,
    pub body_limit_bytes: u64,
    pub shutdown_timeout_seconds: u64,
    pub header_read_timeout_seconds: u64,
    pub body_read_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout_seconds: u64,
    pub migrate_on_start: bool,
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Kept as text and checked in [`Settings::validate`], so the error names the key.
    pub format: String,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    pub enabled: bool,
    pub worker_id: String,
    pub poll_interval_ms: u64,
    pub lease_seconds: u64,
    pub batch: u32,
    pub concurrency: u32,
    pub per_shop_concurrency: u32,
    pub timeout_seconds: u64,
    #[serde(deserialize_with = "seconds_list")]
    pub retry_schedule_seconds: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErpSettings {
    pub allow_insecure_endpoints: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub buyer_per_minute: u64,
    pub callback_per_minute: u64,
    pub sign_in_per_minute: u64,
    pub client_ip_header: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSettings {
    pub session_hours: u64,
    pub invitation_days: u64,
    /// Kept as text and checked in [`Settings::validate`], so the error names the key.
    pub secure_cookie: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatGatewaySettings {
    pub url: String,
    pub secret: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration that cannot be used; printed as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as `section.key`, when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    fn at(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> Self {
        Self {
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "invalid configuration: {key}: {}", self.message),
            None => write!(f, "invalid configuration: {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the configuration came from, for the start-up log.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
}

impl Settings {
    /// Loads the layers from the process environment and validates the result.
    pub fn load(explicit_file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::load_from(explicit_file, Path::new("."), None)
    }

    /// Loads the layers; `env` replaces the process environment (tests), `dir` is where
    /// `shiphold.toml` is looked for.
    pub fn load_from(
        explicit_file: Option<&Path>,
        dir: &Path,
        env: Option<Vec<(String, String)>>,
    ) -> Result<Loaded, ConfigError> {
        let file = match explicit_file {
            Some(path) => {
                // Checked here: the config crate's own message does not say which option named it.
                if !path.is_file() {
                    return Err(ConfigError::general(format!(
                        "--config {}: no such file",
                        path.display()
                    )));
                }
                Some(path.to_path_buf())
            }
            None => Some(dir.join(LOCAL_FILE)).filter(|p| p.is_file()),
        };

        let mut environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .try_parsing(true);
        if let Some(vars) = env {
            environment = environment.source(Some(vars.into_iter().collect()));
        }

        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(path) = &file {
            builder = builder.add_source(
                config::File::from(path.as_path())
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let raw = builder
            .add_source(environment)
            .build()
            .map_err(from_config_error)?;
        let settings: Settings = raw.try_deserialize().map_err(from_config_error)?;
        settings.validate()?;
        Ok(Loaded { settings, file })
    }

    /// Checks every value that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        self.listen_addr()?;
        if !s.public_base_url.is_empty() {
            check_url(
                "server.public_base_url",
                &s.public_base_url,
                &["http", "https"],
            )?;
        }
        range(
            "server.body_limit_bytes",
            s.body_limit_bytes,
            1024,
            64 << 20,
        )?;
        range(
            "server.shutdown_timeout_seconds",
            s.shutdown_timeout_seconds,
            1,
            3600,
        )?;
        range(
            "server.header_read_timeout_seconds",
            s.header_read_timeout_seconds,
            1,
            3600,
        )?;
        range(
            "server.body_read_timeout_seconds",
            s.body_read_timeout_seconds,
            1,
            3600,
        )?;

        self.metrics_addr()?;
        let r = &self.rate_limit;
        range(
            "rate_limit.buyer_per_minute",
            r.buyer_per_minute,
            1,
            1_000_000,
        )?;
        range(
            "rate_limit.callback_per_minute",
            r.callback_per_minute,
            1,
            1_000_000,
        )?;
        range(
            "rate_limit.sign_in_per_minute",
            r.sign_in_per_minute,
            1,
            1_000_000,
        )?;
        let st = &self.staff;
        range("staff.session_hours", st.session_hours, 1, 168)?;
        range("staff.invitation_days", st.invitation_days, 1, 30)?;
        if !matches!(st.secure_cookie.as_str(), "auto" | "always" | "never") {
            return Err(ConfigError::at(
                "staff.secure_cookie",
                format!("{:?} is not one of auto, always, never", st.secure_cookie),
            ));
        }
        if !r.client_ip_header.is_empty()
            && axum::http::HeaderName::from_bytes(r.client_ip_header.as_bytes()).is_err()
        {
            return Err(ConfigError::at(
                "rate_limit.client_ip_header",
                format!("{:?} is not a header name", r.client_ip_header),
            ));
        }

        let d = &self.database;
        database_kind(&d.url)?;
        range(
            "database.max_connections",
            u64::from(d.max_connections),
            1,
            1000,
        )?;
        range(
            "database.connect_timeout_seconds",
            d.connect_timeout_seconds,
            1,
            600,
        )?;
        range("database.busy_timeout_ms", d.busy_timeout_ms, 0, 600_000)?;

        self.log_format()?;
        if let Err(err) = tracing_subscriber::EnvFilter::builder().parse(&self.log.filter) {
            return Err(ConfigError::at(
                "log.filter",
                format!("{:?} is not a valid filter: {err}", self.log.filter),
            ));
        }

        let j = &self.jobs;
        if j.worker_id.len() > 128 {
            return Err(ConfigError::at(
                "jobs.worker_id",
                "must be at most 128 bytes",
            ));
        }
        range("jobs.poll_interval_ms", j.poll_interval_ms, 10, 3_600_000)?;
        range("jobs.lease_seconds", j.lease_seconds, 1, 86_400)?;
        range("jobs.batch", u64::from(j.batch), 1, 1000)?;
        range("jobs.concurrency", u64::from(j.concurrency), 1, 1024)?;
        range(
            "jobs.per_shop_concurrency",
            u64::from(j.per_shop_concurrency),
            1,
            1024,
        )?;
        range("jobs.timeout_seconds", j.timeout_seconds, 1, 3600)?;
        // A lease that runs out while the attempt is still in flight lets a second worker send the
        // same message again.
        if j.lease_seconds <= j.timeout_seconds {
            return Err(ConfigError::at(
                "jobs.lease_seconds",
                format!(
                    "{} must be longer than jobs.timeout_seconds ({})",
                    j.lease_seconds, j.timeout_seconds
                ),
            ));
        }
        if j.retry_schedule_seconds.is_empty() {
            return Err(ConfigError::at(
                "jobs.retry_schedule_seconds",
                "must list at least one delay",
            ));
        }
        if j.retry_schedule_seconds.len() > 100 {
            return Err(ConfigError::at(
                "jobs.retry_schedule_seconds",
                "must list at most 100 delays",
            ));
        }
        if let Some(bad) = j.retry_schedule_seconds.iter().find(|d| **d > 30 * 86_400) {
            return Err(ConfigError::at(
                "jobs.retry_schedule_seconds",
                format!("{bad} is longer than 30 days"),
            ));
        }

        let c = &self.chat_gateway;
        if !c.url.is_empty() {
            check_url("chat_gateway.url", &c.url, &["http", "https"])?;
            if c.secret.is_empty() {
                return Err(ConfigError::at(
                    "chat_gateway.secret",
                    "is required when chat_gateway.url is set",
                ));
            }
        }
        Ok(())
    }

    /// The address to bind.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| {
            ConfigError::at(
                "server.listen",
                format!(
                    "{:?} is not a socket address (expected host:port, e.g. 127.0.0.1:8080)",
                    self.server.listen
                ),
            )
        })
    }

    pub fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.log.format.as_str() {
            "pretty" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::at(
                "log.format",
                format!("{other:?} is not one of \"pretty\", \"json\""),
            )),
        }
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.server.shutdown_timeout_seconds)
    }

    /// Where the metrics listener binds; `None` when `metrics.listen` is empty (no metrics).
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let raw = self.metrics.listen.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse().map(Some).map_err(|_| {
            ConfigError::at(
                "metrics.listen",
                format!("{raw:?} is not an address and port such as 127.0.0.1:9464"),
            )
        })
    }

    /// `server.header_read_timeout_seconds`.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.server.header_read_timeout_seconds)
    }

    /// The database URL with any password masked, fit for logs.
    pub fn database_url_masked(&self) -> String {
        mask_url_password(&self.database.url)
    }

    /// The configuration as it may be shown: secrets masked.
    pub fn masked(&self) -> Self {
        let mut shown = self.clone();
        shown.database.url = mask_url_password(&shown.database.url);
        if !shown.chat_gateway.secret.is_empty() {
            shown.chat_gateway.secret = MASK.into();
        }
        shown
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        // Serializing plain structs of strings, numbers and lists cannot fail; the fallback only
        // keeps a future field type from turning into a panic.
        toml::to_string(&self.masked())
            .unwrap_or_else(|err| format!("# could not render the configuration: {err}\n"))
    }

    /// The name this process uses in leases and logs.
    pub fn worker_id(&self) -> String {
        if self.jobs.worker_id.is_empty() {
            format!("{}-{}", hostname(), std::process::id())
        } else {
            self.jobs.worker_id.clone()
        }
    }

    /// The API's share of the configuration. `bound` is the address actually listened on, used
    /// when no public URL is configured (with port 0 only the bound address is known).
    pub fn api_config(&self, bound: Option<SocketAddr>) -> ApiConfig {
        let public_base_url = if self.server.public_base_url.is_empty() {
            let addr = bound.map_or_else(|| self.server.listen.clone(), |a| a.to_string());
            format!("http://{addr}")
        } else {
            self.server.public_base_url.trim_end_matches('/').to_owned()
        };
        let j = &self.jobs;
        let chat_gateway = (!self.chat_gateway.url.is_empty()).then(|| ChatGatewayConfig {
            url: self.chat_gateway.url.clone(),
            secret: self.chat_gateway.secret.clone(),
        });
        let secure_cookie = match self.staff.secure_cookie.as_str() {
            "always" => true,
            "never" => false,
            _ => public_base_url.starts_with("https://"),
        };
        let staff = StaffConfig {
            session_lifetime: Duration::from_secs(self.staff.session_hours.saturating_mul(3600)),
            invitation_lifetime: Duration::from_secs(
                self.staff.invitation_days.saturating_mul(24 * 3600),
            ),
            secure_cookie,
        };
        ApiConfig {
            staff,
            public_base_url,
            body_limit: usize::try_from(self.server.body_limit_bytes).unwrap_or(usize::MAX),
            body_read_timeout: Duration::from_secs(self.server.body_read_timeout_seconds),
            allow_insecure_endpoints: self.erp.allow_insecure_endpoints,
            delivery: DeliveryConfig {
                retry_schedule: j
                    .retry_schedule_seconds
                    .iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect(),
                timeout: Duration::from_secs(j.timeout_seconds),
                lease: Duration::from_secs(j.lease_seconds),
                batch: j.batch,
                poll_interval: Duration::from_millis(j.poll_interval_ms),
                concurrency: usize::try_from(j.concurrency).unwrap_or(1),
                per_shop_concurrency: j.per_shop_concurrency.min(j.concurrency),
            },
            chat_gateway,
            run_jobs: j.enabled,
            worker_id: self.worker_id(),
            rate_limits: self.rate_limit.enabled.then(|| {
                let r = &self.rate_limit;
                RateLimits {
                    buyer_per_minute: u32::try_from(r.buyer_per_minute).unwrap_or(u32::MAX),
                    callback_per_minute: u32::try_from(r.callback_per_minute).unwrap_or(u32::MAX),
                    sign_in_per_minute: u32::try_from(r.sign_in_per_minute).unwrap_or(u32::MAX),
                    client_ip_header: axum::http::HeaderName::from_bytes(
                        r.client_ip_header.as_bytes(),
                    )
                    .ok(),
                }
            }),
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

pub fn database_kind(url: &str) -> Result<DatabaseKind, ConfigError> {
    let key = "database.url";
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("sqlite") => {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or_default();
            if path.is_empty() {
                return Err(ConfigError::at(
                    key,
                    "an sqlite URL needs a file path, e.g. sqlite://data/shiphold.db",
                ));
            }
            Ok(DatabaseKind::Sqlite)
        }
        Some("postgres" | "postgresql") => {
            url::Url::parse(url).map_err(|err| {
                ConfigError::at(
                    key,
                    format!("{:?} is not a valid URL: {err}", mask_url_password(url)),
                )
            })?;
            Ok(DatabaseKind::Postgres)
        }
        _ => Err(ConfigError::at(
            key,
            format!(
                "{:?} must start with sqlite:// or postgres://",
                mask_url_password(url)
            ),
        )),
    }
}

fn check_url(key: &str, raw: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let url = url::Url::parse(raw)
        .map_err(|err| ConfigError::at(key, format!("{raw:?} is not a valid URL: {err}")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(ConfigError::at(
            key,
            format!("{raw:?} must use one of: {}", schemes.join(", ")),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::at(key, format!("{raw:?} has no host")));
    }
    Ok(())
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::at(
            key,
            format!("{value} is out of range ({min} to {max})"),
        ))
    }
}

/// A database URL as it may be shown: every password masked, whichever way it was given — in the
/// user information (`postgres://u:pw@h/db`), as a query parameter (`?password=pw`,
/// `&sslpassword=pw`) or in libpq's key=value form (`host=h password=pw`, quoted or not).
fn mask_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.scheme() != "sqlite" => {
            if url.password().is_some() {
                // Only fails for URLs that cannot have a password, which this one just had.
                let _ = url.set_password(Some(MASK));
            }
            if url.query_pairs().any(|(k, _)| is_password_key(&k)) {
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| {
                        let masked = is_password_key(&k);
                        (
                            k.into_owned(),
                            if masked {
                                MASK.to_owned()
                            } else {
                                v.into_owned()
                            },
                        )
                    })
                    .collect();
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) => mask_key_value_passwords(raw),
    }
}

fn is_password_key(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

/// Masks the values of password keys in a `key=value key='quoted value'` string.
fn mask_key_value_passwords(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        let key = before
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("");
        out.push_str(before);
        out.push('=');
        let after = &after[1..];
        // The value runs to the next unquoted whitespace, or to the closing quote.
        let end = if let Some(quoted) = after.strip_prefix('\'') {
            quoted.find('\'').map_or(after.len(), |i| i + 2)
        } else {
            after.find(char::is_whitespace).unwrap_or(after.len())
        };
        if is_password_key(key) {
            out.push_str(MASK);
        } else {
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A list of seconds from a TOML array, or from the environment as `0,5,30` (or one number, which
/// the environment layer has already turned into an integer).
fn seconds_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    struct Seconds;

    impl<'de> serde::de::Visitor<'de> for Seconds {
        type Value = Vec<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of whole seconds, e.g. [0, 5, 30] or \"0,5,30\"")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v])
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(|v| vec![v])
                .map_err(|_| E::custom(format!("{v} is negative")))
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| {
                    part.parse::<u64>().map_err(|_| {
                        E::custom(format!("{part:?} is not a whole number of seconds"))
                    })
                })
                .collect()
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<u64>()? {
                out.push(v);
            }
            Ok(out)
        }
    }

    d.deserialize_any(Seconds)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Turns the config crate's errors into one line that names the key where it knows it.
fn from_config_error(err: config::ConfigError) -> ConfigError {
    use config::ConfigError as E;
    match err {
        E::Type {
            origin,
            unexpected,
            expected,
            key,
        } => {
            let from = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
            let message = format!("expected {expected}, found {unexpected}{from}");
            match key {
                Some(key) => ConfigError::at(&key, message),
                None => ConfigError::general(message),
            }
        }
        E::NotFound(key) => ConfigError::at(&key, "is missing"),
        E::FileParse { uri, cause } => {
            let from = uri.map(|u| format!(" (in {u})")).unwrap_or_default();
            ConfigError::general(format!("{}{from}", one_line(&cause.to_string())))
        }
        E::At { error, origin, key } => {
            let from = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
            let message = format!("{}{from}", one_line(&error.to_string()));
            match key {
                Some(key) => ConfigError::at(&key, message),
                None => ConfigError::general(message),
            }
        }
        other => ConfigError::general(one_line(&other.to_string())),
    }
}

/// Keeps the first and last lines of a multi-line message (TOML errors draw the offending line
/// between them), so that the error stays on one line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_env(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join("shiphold-settings-test-no-such-dir");
        let env = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(None, &dir, Some(env)).map(|l| l.settings)
    }

    #[test]
    fn defaults_are_valid_and_map_to_the_api_defaults() {
        let s = load_env(&[]).expect("defaults load");
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(s.database.url, "sqlite://data/shiphold.db");
        let api = s.api_config(None);
        let expected = ApiConfig::default();
        assert_eq!(api.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(api.body_limit, expected.body_limit);
        assert_eq!(
            api.delivery.retry_schedule,
            expected.delivery.retry_schedule
        );
        assert_eq!(api.delivery.timeout, expected.delivery.timeout);
        assert_eq!(api.delivery.lease, expected.delivery.lease);
        assert_eq!(api.delivery.batch, expected.delivery.batch);
        assert_eq!(api.delivery.poll_interval, expected.delivery.poll_interval);
        assert_eq!(api.delivery.concurrency, expected.delivery.concurrency);
        assert_eq!(
            api.delivery.per_shop_concurrency,
            expected.delivery.per_shop_concurrency
        );
        assert!(api.chat_gateway.is_none());
        assert!(api.run_jobs);
        assert!(api.worker_id.ends_with(&format!("-{}", std::process::id())));
    }

    #[test]
    fn environment_overrides_with_double_underscores() {
        let s = load_env(&[
            ("SHIPHOLD__SERVER__LISTEN", "0.0.0.0:9000"),
            ("SHIPHOLD__DATABASE__MAX_CONNECTIONS", "3"),
            ("SHIPHOLD__JOBS__ENABLED", "false"),
            ("SHIPHOLD__JOBS__RETRY_SCHEDULE_SECONDS", "1,2,3"),
            ("SHIPHOLD__CHAT_GATEWAY__URL", "https://chat.example/hook"),
            ("SHIPHOLD__CHAT_GATEWAY__SECRET", "whsec_abc"),
            // Single underscore: the test suites' own variable, not configuration.
            ("SHIPHOLD_TEST_POSTGRES_URL", "postgres://x@y/z"),
        ])
        .expect("loads");
        assert_eq!(s.listen_addr().unwrap().port(), 9000);
        assert_eq!(s.database.max_connections, 3);
        assert!(!s.jobs.enabled);
        assert_eq!(s.jobs.retry_schedule_seconds, vec![1, 2, 3]);
        let api = s.api_config(None);
        assert_eq!(api.chat_gateway.unwrap().secret, "whsec_abc");
    }

    #[test]
    fn staff_settings_reach_the_api_and_the_cookie_is_secure_behind_https() {
        let s = load_env(&[]).expect("defaults load");
        let api = s.api_config(None);
        let expected = StaffConfig::default();
        assert_eq!(api.staff.session_lifetime, expected.session_lifetime);
        assert_eq!(api.staff.invitation_lifetime, expected.invitation_lifetime);
        assert!(!api.staff.secure_cookie, "plain http by default");
        let mut https = s.clone();
        https.server.public_base_url = "https://cs.example.com".into();
        assert!(https.api_config(None).staff.secure_cookie);
        let s = load_env(&[
            ("SHIPHOLD__STAFF__SESSION_HOURS", "8"),
            ("SHIPHOLD__STAFF__INVITATION_DAYS", "2"),
            ("SHIPHOLD__STAFF__SECURE_COOKIE", "always"),
            ("SHIPHOLD__RATE_LIMIT__SIGN_IN_PER_MINUTE", "5"),
        ])
        .expect("loads");
        let api = s.api_config(None);
        assert_eq!(api.staff.session_lifetime, Duration::from_secs(8 * 3600));
        assert_eq!(
            api.staff.invitation_lifetime,
            Duration::from_secs(2 * 86400)
        );
        assert!(api.staff.secure_cookie);
        assert_eq!(api.rate_limits.unwrap().sign_in_per_minute, 5);
        let never = load_env(&[
            ("SHIPHOLD__STAFF__SECURE_COOKIE", "never"),
            (
                "SHIPHOLD__SERVER__PUBLIC_BASE_URL",
                "https://cs.example.com",
            ),
        ])
        .expect("loads");
        assert!(!never.api_config(None).staff.secure_cookie);
    }

    #[test]
    fn a_single_delay_from_the_environment_is_a_schedule_of_one() {
        let s = load_env(&[("SHIPHOLD__JOBS__RETRY_SCHEDULE_SECONDS", "7")]);
        assert_eq!(s.expect("loads").jobs.retry_schedule_seconds, vec![7]);
    }

    fn error_of(vars: &[(&str, &str)]) -> String {
        let err = load_env(vars).expect_err("must be refused");
        let text = err.to_string();
        assert!(!text.contains('\n'), "one line: {text}");
        text
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("SHIPHOLD__SERVER__LISTEN", "abc", "server.listen"),
            ("SHIPHOLD__SERVER__LISTEN", "127.0.0.1:abc", "server.listen"),
            (
                "SHIPHOLD__SERVER__BODY_LIMIT_BYTES",
                "lots",
                "server.body_limit_bytes",
            ),
            ("SHIPHOLD__DATABASE__URL", "mysql://x/y", "database.url"),
            (
                "SHIPHOLD__DATABASE__MAX_CONNECTIONS",
                "0",
                "database.max_connections",
            ),
            (
                "SHIPHOLD__DATABASE__MIGRATE_ON_START",
                "maybe",
                "database.migrate_on_start",
            ),
            ("SHIPHOLD__LOG__FORMAT", "xml", "log.format"),
            ("SHIPHOLD__JOBS__LEASE_SECONDS", "5", "jobs.lease_seconds"),
            (
                "SHIPHOLD__JOBS__RETRY_SCHEDULE_SECONDS",
                "1,x",
                "jobs.retry_schedule_seconds",
            ),
            ("SHIPHOLD__CHAT_GATEWAY__URL", "ftp://x", "chat_gateway.url"),
            (
                "SHIPHOLD__CHAT_GATEWAY__URL",
                "https://chat.example",
                "chat_gateway.secret",
            ),
            (
                "SHIPHOLD__SERVER__PUBLIC_BASE_URL",
                "nope",
                "server.public_base_url",
            ),
            ("SHIPHOLD__STAFF__SESSION_HOURS", "0", "staff.session_hours"),
            (
                "SHIPHOLD__STAFF__INVITATION_DAYS",
                "31",
                "staff.invitation_days",
            ),
            (
                "SHIPHOLD__STAFF__SECURE_COOKIE",
                "yes",
                "staff.secure_cookie",
            ),
            (
                "SHIPHOLD__RATE_LIMIT__SIGN_IN_PER_MINUTE",
                "0",
                "rate_limit.sign_in_per_minute",
            ),
        ];
        for (var, value, key) in cases {
            let text = error_of(&[(var, value)]);
            assert!(
                text.starts_with("invalid configuration:") && text.contains(key),
                "{var}={value}: {text}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = error_of(&[("SHIPHOLD__SERVER__LISTN", "127.0.0.1:1")]);
        assert!(text.contains("listn"), "{text}");
        let text = error_of(&[("SHIPHOLD__NOSECTION__X", "1")]);
        assert!(text.contains("nosection"), "{text}");
    }

    #[test]
    fn file_layer_overrides_defaults_and_environment_overrides_file() {
        let dir = std::env::temp_dir().join(format!("shiphold-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(LOCAL_FILE),
            "[server]\nlisten = \"127.0.0.1:7000\"\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let env = vec![("SHIPHOLD__LOG__FORMAT".to_owned(), "pretty".to_owned())];
        let loaded = Settings::load_from(None, &dir, Some(env)).expect("loads");
        assert_eq!(loaded.file, Some(dir.join(LOCAL_FILE)));
        assert_eq!(loaded.settings.server.listen, "127.0.0.1:7000");
        assert_eq!(loaded.settings.log_format().unwrap(), LogFormat::Pretty);

        std::fs::write(dir.join("broken.toml"), "[server]\nlisten = \n").unwrap();
        let err = Settings::load_from(Some(&dir.join("broken.toml")), &dir, Some(vec![]))
            .expect_err("syntax error");
        assert!(!err.to_string().contains('\n'), "{err}");
        let err = Settings::load_from(Some(&dir.join("missing.toml")), &dir, Some(vec![]))
            .expect_err("missing file");
        assert!(err.to_string().contains("--config"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn secrets_are_masked() {
        let s = load_env(&[
            (
                "SHIPHOLD__DATABASE__URL",
                "postgres://app:hunter2@db.internal/shiphold",
            ),
            ("SHIPHOLD__CHAT_GATEWAY__URL", "https://chat.example/hook"),
            ("SHIPHOLD__CHAT_GATEWAY__SECRET", "whsec_topsecret"),
        ])
        .expect("loads");
        let shown = s.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db.internal/shiphold"),
            "{shown}"
        );
        assert!(shown.contains("secret = \"***\""), "{shown}");
        // Every form a PostgreSQL password can take.
        for (url, secret) in [
            ("postgres://app@db/shiphold?password=hunter2", "hunter2"),
            (
                "postgres://app@db/shiphold?sslmode=require&sslpassword=keyphrase",
                "keyphrase",
            ),
            ("postgres://app:pw%40x@db/shiphold", "pw%40x"),
            (
                "host=db user=app password=hunter2 dbname=shiphold",
                "hunter2",
            ),
            ("host=db password='two words' dbname=shiphold", "two words"),
        ] {
            let masked = mask_url_password(url);
            assert!(!masked.contains(secret), "{url} -> {masked}");
            assert!(masked.contains(MASK), "{url} -> {masked}");
        }
        assert_eq!(
            mask_key_value_passwords("host=db password=hunter2 dbname=x"),
            "host=db password=*** dbname=x"
        );
        assert_eq!(
            mask_url_password("sqlite://data/shiphold.db"),
            "sqlite://data/shiphold.db"
        );
        // What is printed must load back (with the masks) as a configuration file.
        let back: Settings = toml::from_str(&shown).expect("round trip");
        assert_eq!(back.server.listen, s.server.listen);
    }
}
