//! The HTTP client: signs a [`MemoUpdate`], posts it to the gateway, and classifies the answer
//! into an [`Outcome`] for the outbox.

use crate::answer::{Outcome, classify_http, parse_retry_after, snippet};
use crate::credentials::Credentials;
use crate::memo::{MemoUpdate, UpdateError};
use crate::sign::{SignMethod, sign_update};
use chrono::{DateTime, Utc};
use std::time::Duration;
use url::Url;

/// Default time allowed for one call, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read; a memo answer is a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

const USER_AGENT: &str = concat!("shiphold-marketplace-adapter/", env!("CARGO_PKG_VERSION"));

/// The content type the platform's SDKs post with.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The gateway is not a URL.
    #[error("invalid gateway URL: {0}")]
    InvalidGateway(String),
    /// The gateway is plain HTTP on a host other than a loopback address: the session key
    /// would cross the network in clear. The URL shown has any user name and password removed.
    #[error(
        "the gateway must use https (plain http is accepted for loopback simulators only): {0}"
    )]
    InsecureGateway(String),
    /// reqwest refused the configuration (for example, no TLS backend could start).
    #[error("could not build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Posts `taobao.trade.memo.update` calls to one gateway.
///
/// Redirects are not followed: a redirected POST would carry the session key somewhere
/// unconfigured. Nothing this client logs or returns holds the secret or the session key (the
/// call is posted, so they are not in the URL that transport errors show).
///
/// ```
/// use shiphold_marketplace_adapter::{MemoClient, SignMethod, DEFAULT_GATEWAY, DEFAULT_TIMEOUT};
/// let client = MemoClient::new(DEFAULT_GATEWAY, DEFAULT_TIMEOUT).unwrap();
/// assert_eq!(client.sign_method(), SignMethod::HmacSha256);
/// assert!(MemoClient::new("http://gw.api.taobao.com/router/rest", DEFAULT_TIMEOUT).is_err());
/// assert!(MemoClient::new("http://127.0.0.1:9000/router/rest", DEFAULT_TIMEOUT).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct MemoClient {
    http: reqwest::Client,
    gateway: Url,
    sign_method: SignMethod,
}

/// Installs the ring crypto provider for rustls once per process: the workspace builds reqwest
/// with rustls but without a provider. A provider already installed is kept.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn check_gateway(gateway: &str) -> Result<Url, ClientError> {
    let url = Url::parse(gateway).map_err(|e| ClientError::InvalidGateway(e.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ClientError::InsecureGateway(without_userinfo(&url))),
        other => Err(ClientError::InvalidGateway(format!(
            "scheme `{other}` is not http(s)"
        ))),
    }
}

/// The URL without its user name and password, for an error message.
fn without_userinfo(url: &Url) -> String {
    let mut shown = url.clone();
    // Both only fail for URLs that cannot have userinfo, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl MemoClient {
    /// A client for `gateway` ([`crate::DEFAULT_GATEWAY`] in production) with a per-call
    /// timeout, signing with [`SignMethod::HmacSha256`].
    pub fn new(gateway: &str, timeout: Duration) -> Result<Self, ClientError> {
        let gateway = check_gateway(gateway)?;
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            http,
            gateway,
            sign_method: SignMethod::default(),
        })
    }

    /// The same client signing with `method`.
    pub fn with_sign_method(mut self, method: SignMethod) -> Self {
        self.sign_method = method;
        self
    }

    /// The method calls are signed with.
    pub fn sign_method(&self) -> SignMethod {
        self.sign_method
    }

    /// The gateway calls go to.
    pub fn gateway(&self) -> &Url {
        &self.gateway
    }

    /// Signs `update` now (system clock) and posts it.
    ///
    /// `Err` only when the update itself cannot be sent ([`UpdateError`]); everything the
    /// network or the platform does is an [`Outcome`].
    pub async fn update(
        &self,
        creds: &Credentials,
        update: &MemoUpdate,
    ) -> Result<Outcome, UpdateError> {
        self.update_at(creds, update, Utc::now()).await
    }

    /// Signs `update` as made at `at` and posts it. Tests pass a fixed instant; the platform
    /// refuses one more than ten minutes from its clock.
    pub async fn update_at(
        &self,
        creds: &Credentials,
        update: &MemoUpdate,
        at: DateTime<Utc>,
    ) -> Result<Outcome, UpdateError> {
        let call = sign_update(update, creds, self.sign_method, at)?;
        let request = self
            .http
            .post(self.gateway.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::ACCEPT, "application/json")
            .body(call.form_body());
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Outcome::Retry {
                    reason: describe_transport_error(&e),
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match read_limited(&mut response).await {
            Ok(body) => body,
            Err(reason) => {
                // A 2xx whose body broke off may or may not have written; an overwrite can be
                // repeated safely.
                return Ok(Outcome::Retry {
                    reason: format!("HTTP {status}: {reason}"),
                    retry_after,
                });
            }
        };
        Ok(classify_http(status, retry_after, &body, update.tid))
    }
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The innermost cause says the useful part ("Connection refused"). reqwest's own message
    // names the URL, which may hold a user name and password: it is left out.
    let mut detail = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = Some(s.to_string());
        source = s.source();
    }
    match detail {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_owned(),
    }
}

async fn read_limited(response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(format!(
                        "answer larger than {MAX_ANSWER_BYTES} bytes: {}",
                        snippet(&body)
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(format!(
                    "answer unreadable: {}",
                    describe_transport_error(&e)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_must_be_https_except_on_loopback() {
        assert!(check_gateway("https://gw.api.taobao.com/router/rest").is_ok());
        assert!(check_gateway("http://127.0.0.1:8080/router/rest").is_ok());
        assert!(check_gateway("http://[::1]:8080/router/rest").is_ok());
        assert!(check_gateway("http://localhost/router/rest").is_ok());
        assert!(matches!(
            check_gateway("http://gw.api.taobao.com/router/rest"),
            Err(ClientError::InsecureGateway(_))
        ));
        assert!(matches!(
            check_gateway("http://10.0.0.1/router/rest"),
            Err(ClientError::InsecureGateway(_))
        ));
        let Err(ClientError::InsecureGateway(shown)) =
            check_gateway("http://app:s3cr3t@gw.example.com/router/rest")
        else {
            panic!("refused")
        };
        assert_eq!(shown, "http://gw.example.com/router/rest");
        assert!(matches!(
            check_gateway("ftp://example.com/"),
            Err(ClientError::InvalidGateway(_))
        ));
        assert!(matches!(
            check_gateway("not a url"),
            Err(ClientError::InvalidGateway(_))
        ));
    }
}
