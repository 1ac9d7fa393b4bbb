//! The HTTP client: signs a [`PendingRequest`], posts it, and classifies what came back.
//!
//! It logs nothing. The secret lives in [`Credentials`], whose `Debug` hides it, and it never
//! goes on the wire: only the signature does.

use crate::credentials::Credentials;
use crate::outcome::{Outcome, classify, snippet};
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
    /// reqwest refused the configuration (for example, no TLS backend could start).
    #[error("could not build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// Posts signed `taobao.qimen.order.pending` calls to one endpoint with one merchant's
/// credentials. Cheap to clone: clones share the connection pool.
///
/// Redirects are not followed: a redirected call would need signing again, and a redirect is
/// a configuration to fix, so it is reported as [`Outcome::Permanent`].
#[derive(Debug, Clone)]
pub struct QimenClient {
    http: reqwest::Client,
    endpoint: Url,
    credentials: Credentials,
}

/// The workspace builds reqwest with rustls but without a crypto provider: install ring's,
/// once per process. A provider installed earlier (by the application) is kept.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
        let endpoint = Url::parse(endpoint).map_err(|e| ClientError::Url(e.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(ClientError::Url(format!(
                "scheme `{}` is not http or https",
                endpoint.scheme()
            )));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(ClientError::Url(
                "the endpoint must not have a query string or fragment".to_owned(),
            ));
        }
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
        })
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
    /// [`Outcome`].
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
                });
            }
        };
        let status = response.status().as_u16();
        Ok(match read_limited(&mut response).await {
            Ok(body) => classify(request.action, status, &body),
            Err(reason) => Outcome::Retry {
                reason: format!("HTTP {status}: {reason}"),
            },
        })
    }
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
            "http://example.com/x?a=1",
            "not a url",
            "http://example.com/#f",
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
    fn the_client_never_shows_its_secret() {
        let client =
            QimenClient::new("http://127.0.0.1:9/qimen", credentials(), DEFAULT_TIMEOUT).unwrap();
        assert!(!format!("{client:?}").contains("do-not-print-me"));
    }
}
