//! The HTTP client: signs a [`PendingRequest`], posts it, and classifies what came back.
//!
//! It logs nothing. The secret lives in [`Credentials`], whose `Debug` hides it, and it never
//! goes on the wire: only the signature does.
//!
//! The endpoint must be `https`, or plain `http` to a loopback host (`127.0.0.0/8`, `::1`,
//! `localhost`: a simulator or a local test double). Qimen's pages write the gateway as
//! `http://qimen.api.taobao.com/router/qimen/service`; the same gateway answers on `https`
//! (the official SDK's own tests use `https://qimen.api.taobao.com/router/qimen/service`), and
//! in clear a call would show the merchant's documents, `customerId` and a replayable
//! signature to everyone on the path. The sandbox (`http://qimenapi.tbsandbox.com/…`) and a
//! WMS that only speaks plain HTTP need a TLS-terminating proxy in front.

use crate::credentials::Credentials;
use crate::outcome::{Outcome, RetryableCodes, classify_with, parse_retry_after, snippet};
use crate::sign::SignedQuery;
use crate::wire::{InvalidRequest, PendingRequest, XML_CONTENT_TYPE};
use crate::xml::MAX_DOCUMENT_BYTES;
use chrono::{DateTime, Utc};
use std::time::Duration;
use url::Url;

/// Default time allowed for a whole attempt, connection included. The SDK allows 15 s to
/// connect and 30 s to read; an outbox is better served by failing sooner and retrying.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("shiphold-qimen-adapter/", env!("CARGO_PKG_VERSION"));

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not an `http`/`https` URL without a query string (the query string is
    /// the signed system parameters; anything already in it would go unsigned or be signed in
    /// ways a gateway does not expect).
    #[error("invalid Qimen endpoint: {0}")]
    Url(String),
    /// The endpoint is plain `http` to a host that is not loopback: the call would cross the
    /// network in clear. The URL shown has any user name and password removed.
    #[error("the Qimen endpoint must use https (plain http is accepted for loopback only): {0}")]
    Insecure(String),
    /// reqwest refused the configuration (for example, no TLS backend could start).
    #[error("could not build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Posts signed `taobao.qimen.order.pending` calls to one endpoint with one merchant's
/// credentials. Cheap to clone: clones share the connection pool.
///
/// Redirects are not followed: a redirected call would need signing again, and a redirect is
/// a configuration to fix, so it is reported as [`Outcome::Permanent`].
///
/// ```
/// use shiphold_qimen_adapter::{ClientError, Credentials, DEFAULT_TIMEOUT, QimenClient, Secret};
/// let c = Credentials::new("k", Secret::new("s").unwrap(), "c").unwrap();
/// assert!(QimenClient::new("https://qimen.api.taobao.com/router/qimen/service", c.clone(), DEFAULT_TIMEOUT).is_ok());
/// assert!(QimenClient::new("http://127.0.0.1:9000/router/qimen/service", c.clone(), DEFAULT_TIMEOUT).is_ok());
/// assert!(matches!(
///     QimenClient::new("http://qimen.api.taobao.com/router/qimen/service", c, DEFAULT_TIMEOUT),
///     Err(ClientError::Insecure(_))
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct QimenClient {
    http: reqwest::Client,
    endpoint: Url,
    credentials: Credentials,
    retryable: RetryableCodes,
}

/// The workspace builds reqwest with rustls but without a crypto provider: install ring's,
/// once per process. A provider installed earlier (by the application) is kept.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Checks an endpoint as [`QimenClient::new`] does, without building a client: a URL, `https`
/// (plain `http` only to a loopback address, for a simulator), no query string or fragment.
///
/// ```
/// use shiphold_qimen_adapter::check_endpoint;
/// assert!(check_endpoint("https://qimen.api.taobao.com/router/qimen/service").is_ok());
/// assert!(check_endpoint("http://127.0.0.1:9000/qimen").is_ok());
/// assert!(check_endpoint("http://wms.example.com/qimen").is_err());
/// assert!(check_endpoint("https://wms.example.com/qimen?x=1").is_err());
/// ```
pub fn check_endpoint(endpoint: &str) -> Result<Url, ClientError> {
    let endpoint = Url::parse(endpoint).map_err(|e| ClientError::Url(e.to_string()))?;
    match endpoint.scheme() {
        "https" => {}
        "http" if is_loopback(&endpoint) => {}
        "http" => return Err(ClientError::Insecure(without_userinfo(&endpoint))),
        other => {
            return Err(ClientError::Url(format!(
                "scheme `{other}` is not http or https"
            )));
        }
    }
    if endpoint.query().is_some() || endpoint.fragment().is_some() {
        return Err(ClientError::Url(
            "the endpoint must not have a query string or fragment".to_owned(),
        ));
    }
    Ok(endpoint)
}

impl QimenClient {
    /// A client for `endpoint` (the Qimen gateway, e.g.
    /// `http://qimen.api.taobao.com/router/qimen/service`, or a WMS that takes calls directly),
    /// with a per-attempt timeout.
    pub fn new(
        endpoint: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let endpoint = check_endpoint(endpoint)?;
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(ClientError::Build)?;
        Ok(Self {
            http,
            endpoint,
            credentials,
            retryable: RetryableCodes::default(),
        })
    }

    /// The same client, treating the `failure` codes of `codes` as transient
    /// ([`Outcome::Retry`]) instead of [`RetryableCodes::default`]: for a merchant whose WMS
    /// names "busy" in its own words.
    pub fn with_retryable_codes(mut self, codes: RetryableCodes) -> Self {
        self.retryable = codes;
        self
    }

    /// The `failure` codes treated as transient.
    pub fn retryable_codes(&self) -> &RetryableCodes {
        &self.retryable
    }

    /// The endpoint calls are posted to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The same client, sharing its connection pool, for another merchant's credentials.
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self {
            credentials,
            ..self.clone()
        }
    }

    /// Sends `request` stamped with the system clock.
    pub async fn send(&self, request: &PendingRequest) -> Result<Outcome, InvalidRequest> {
        self.send_at(request, Utc::now()).await
    }

    /// Sends `request` with `timestamp` set from `at`, and classifies the answer.
    ///
    /// `Err` means the request cannot be written (a required field empty, a character XML
    /// cannot carry) and nothing was sent; every network or far-end problem is an
    /// [`Outcome`]. A [`Outcome::Retry`] carries the answer's `Retry-After`, in seconds, at
    /// most [`MAX_RETRY_AFTER`](crate::MAX_RETRY_AFTER).
    pub async fn send_at(
        &self,
        request: &PendingRequest,
        at: DateTime<Utc>,
    ) -> Result<Outcome, InvalidRequest> {
        let body = request.to_xml()?;
        let query = SignedQuery::new(&self.credentials, at, body.as_bytes());
        let mut url = self.endpoint.clone();
        url.set_query(Some(&query.to_query_string()));
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, XML_CONTENT_TYPE)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Ok(Outcome::Retry {
                    reason: describe_transport_error(&e),
                    retry_after: None,
                });
            }
        };
        let status = response.status().as_u16();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let outcome = match read_limited(&mut response).await {
            Ok(body) => classify_with(request.action, status, &body, &self.retryable),
            Err(reason) => Outcome::Retry {
                reason: format!("HTTP {status}: {reason}"),
                retry_after: None,
            },
        };
        Ok(match outcome {
            Outcome::Retry {
                reason,
                retry_after,
            } => Outcome::Retry {
                reason,
                retry_after: retry_after.or(wait),
            },
            other => other,
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
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

/// Reads at most [`MAX_DOCUMENT_BYTES`] of the answer.
async fn read_limited(response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                    return Err(format!(
                        "answer larger than {MAX_DOCUMENT_BYTES} bytes: {}",
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

/// A short description of a transport error. It names the kind and the innermost cause
/// ("Connection refused"); the URL, which holds the signed query, is left out.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "answer body failed"
    } else {
        "request failed"
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;

    fn credentials() -> Credentials {
        Credentials::new("k", Secret::new("do-not-print-me").unwrap(), "c").unwrap()
    }

    #[test]
    fn endpoints_with_a_query_or_another_scheme_are_refused() {
        for bad in [
            "ftp://example.com/x",
            "https://example.com/x?a=1",
            "not a url",
            "http://127.0.0.1/#f",
        ] {
            assert!(
                matches!(
                    QimenClient::new(bad, credentials(), DEFAULT_TIMEOUT),
                    Err(ClientError::Url(_))
                ),
                "{bad}"
            );
        }
        assert!(
            QimenClient::new(
                "https://qimen.api.taobao.com/router/qimen/service",
                credentials(),
                DEFAULT_TIMEOUT
            )
            .is_ok()
        );
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        for ok in [
            "http://127.0.0.1:8080/router/qimen/service",
            "http://127.9.9.9/x",
            "http://[::1]:8080/x",
            "http://LOCALHOST/x",
            "https://10.0.0.1/x",
        ] {
            assert!(
                QimenClient::new(ok, credentials(), DEFAULT_TIMEOUT).is_ok(),
                "{ok}"
            );
        }
        for insecure in [
            "http://qimen.api.taobao.com/router/qimen/service",
            "http://qimenapi.tbsandbox.com/router/qimen/service",
            "http://10.0.0.1/x",
            "http://localhost.example.com/x",
        ] {
            assert!(
                matches!(
                    QimenClient::new(insecure, credentials(), DEFAULT_TIMEOUT),
                    Err(ClientError::Insecure(_))
                ),
                "{insecure}"
            );
        }
        let Err(e) = QimenClient::new(
            "http://erp:hunter2@wms.example.com/qimen",
            credentials(),
            DEFAULT_TIMEOUT,
        ) else {
            panic!("refused")
        };
        let shown = e.to_string();
        assert!(
            !shown.contains("hunter2") && !shown.contains("erp@"),
            "{shown}"
        );
        assert!(shown.ends_with("http://wms.example.com/qimen"), "{shown}");
    }

    #[test]
    fn the_client_never_shows_its_secret() {
        let client =
            QimenClient::new("http://127.0.0.1:9/qimen", credentials(), DEFAULT_TIMEOUT).unwrap();
        assert!(!format!("{client:?}").contains("do-not-print-me"));
    }
}
