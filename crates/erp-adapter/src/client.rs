//! HTTP clients for both directions: [`ErpClient`] delivers Shiphold's signed messages to an
//! ERP and classifies the answer for the retry logic; [`CallbackClient`] posts an ERP's signed
//! results back to Shiphold.

use crate::endpoint::{EndpointError, EndpointPolicy};
use crate::receiver::{MAX_BODY_BYTES, parse_delivery_response};
use crate::signature::{Secret, SignedHeaders};
use crate::wire::{CallbackReceipt, ItemResult, ResultsCallback};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Default time allowed for a whole delivery attempt, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

const USER_AGENT: &str = concat!("shiphold-erp-adapter/", env!("CARGO_PKG_VERSION"));

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// reqwest refused the configuration (for example, no TLS backend could start).
    #[error("could not build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// How a delivery attempt ended, as the retry logic needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx: the message is delivered. `results` holds the results the ERP put in the body,
    /// if any; `note` says why a 2xx body was not usable (the delivery still counts).
    Delivered {
        /// The status code.
        status: u16,
        /// Results from the body, if it carried any.
        results: Option<Vec<ItemResult>>,
        /// Why the body was ignored, when it was.
        note: Option<String>,
    },
    /// Try again later: timeout, connection failure, 5xx or 429.
    Retry {
        /// The ERP's `Retry-After`, when it gave a usable one.
        retry_after: Option<Duration>,
        /// What went wrong, for the attempt log.
        reason: String,
    },
    /// 410 Gone: the ERP switched this link off; stop delivering to it.
    Gone,
    /// Another status (4xx, or a 1xx/3xx, since redirects are not followed): never retry.
    Rejected {
        /// The status code.
        status: u16,
        /// The start of the response body, for the attempt log.
        reason: String,
    },
}

impl DeliveryOutcome {
    /// Whether the message reached the ERP.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }
}

/// Delivers Shiphold's signed messages to ERP endpoints.
///
/// Redirects are not followed (a redirect could lead past the endpoint policy) and, under the
/// strict policy, no proxy is used and every address a host resolves to is checked at
/// connection time.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use shiphold_erp_adapter::{EndpointPolicy, ErpClient, Secret, DeliveryOutcome};
/// let client = ErpClient::new(EndpointPolicy::STRICT, std::time::Duration::from_secs(10))?;
/// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let body = br#"{"type":"interception.requested"}"#;
/// let now = chrono::Utc::now().timestamp();
/// match client.deliver("https://erp.example.com/shiphold", "msg_1", now, body, &[secret]).await? {
///     DeliveryOutcome::Delivered { results, .. } => println!("delivered: {results:?}"),
///     other => println!("not yet: {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ErpClient {
    http: reqwest::Client,
    policy: EndpointPolicy,
}

/// Resolves names through the system resolver and refuses forbidden addresses, so the address
/// checked is the address connected to (no window for DNS rebinding).
#[derive(Debug, Clone, Copy)]
struct PolicyResolver {
    policy: EndpointPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let addrs = policy.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Installs the ring crypto provider for rustls once per process; the workspace builds reqwest
/// without a default provider. An already installed provider is kept.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn base_builder(timeout: Duration) -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
}

impl ErpClient {
    /// A client with the given endpoint policy and per-attempt timeout.
    pub fn new(policy: EndpointPolicy, timeout: Duration) -> Result<Self, ClientError> {
        let mut builder = base_builder(timeout);
        if !policy.allow_insecure {
            // A proxy would resolve the name itself, out of the policy's sight.
            builder = builder
                .no_proxy()
                .dns_resolver(Arc::new(PolicyResolver { policy }));
        }
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(Self { http, policy })
    }

    /// The endpoint policy in force.
    pub fn policy(&self) -> EndpointPolicy {
        self.policy
    }

    /// Posts `body` to `endpoint`, signed with every secret given, and classifies the answer.
    ///
    /// `Err` means the endpoint itself is not allowed by the policy (the URL, or every address
    /// its name resolved to): no retry will help until the merchant changes it.
    pub async fn deliver(
        &self,
        endpoint: &str,
        webhook_id: &str,
        timestamp: i64,
        body: &[u8],
        secrets: &[Secret],
    ) -> Result<DeliveryOutcome, EndpointError> {
        let url = self.policy.check_url(endpoint)?;
        let signed = SignedHeaders::sign(secrets, webhook_id, timestamp, body);
        let mut request = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                if let Some(policy_error) = find_endpoint_error(&e) {
                    return Err(policy_error);
                }
                return Ok(DeliveryOutcome::Retry {
                    retry_after: None,
                    reason: describe_transport_error(&e),
                });
            }
        };
        Ok(classify(response, Utc::now()).await)
    }
}

fn find_endpoint_error(e: &reqwest::Error) -> Option<EndpointError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<EndpointError>() {
            return Some(found.clone());
        }
        source = err.source();
    }
    None
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The innermost source usually says the useful part ("Connection refused").
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    format!("{kind}: {detail}")
}

async fn classify(mut response: reqwest::Response, now: DateTime<Utc>) -> DeliveryOutcome {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let body = read_limited(&mut response).await;

    if status.is_success() {
        let body = match body {
            Ok(b) => b,
            Err(note) => {
                return DeliveryOutcome::Delivered {
                    status: status.as_u16(),
                    results: None,
                    note: Some(note),
                };
            }
        };
        return match parse_delivery_response(&body) {
            Ok(r) => DeliveryOutcome::Delivered {
                status: status.as_u16(),
                results: r.results,
                note: None,
            },
            Err(e) => DeliveryOutcome::Delivered {
                status: status.as_u16(),
                results: None,
                note: Some(format!("response body ignored: {e}")),
            },
        };
    }
    let snippet = match &body {
        Ok(b) => snippet(b),
        Err(note) => note.clone(),
    };
    if status == http::StatusCode::GONE {
        DeliveryOutcome::Gone
    } else if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
        DeliveryOutcome::Retry {
            retry_after,
            reason: format!("HTTP {}: {snippet}", status.as_u16()),
        }
    } else {
        DeliveryOutcome::Rejected {
            status: status.as_u16(),
            reason: snippet,
        }
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger or broken body gives a note instead.
async fn read_limited(response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err("response body larger than 1 MiB ignored".to_owned());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(format!("response body unreadable: {e}")),
        }
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Parses a `Retry-After` value: whole seconds, or an HTTP-date (a date in the past is zero).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
/// use shiphold_erp_adapter::parse_retry_after;
/// let now = Utc.with_ymd_and_hms(2026, 11, 11, 8, 0, 0).unwrap();
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 11 Nov 2026 08:00:30 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Why a results callback did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The base URL and shop id do not make a URL.
    #[error("invalid callback URL: {0}")]
    Url(String),
    /// No answer (timeout, connection failure): send again later with the same `webhook-id`.
    #[error("callback not answered: {0}")]
    Transport(String),
    /// Shiphold answered with a status other than 200.
    #[error("callback refused with HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body (an `application/problem+json` document).
        body: String,
    },
    /// Shiphold answered 200 with a body this version cannot read.
    #[error("unreadable receipt: {0}")]
    Receipt(String),
}

impl CallbackError {
    /// Whether sending the same callback again (same `webhook-id`, fresh timestamp) may
    /// succeed: transport failures, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Url(_) | Self::Receipt(_) => false,
        }
    }
}

/// Posts an ERP's signed results to Shiphold's callback endpoint,
/// `POST {base}/v1/erp/shops/{shop_id}/results`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use shiphold_erp_adapter::*;
/// let client = CallbackClient::new("https://shiphold.example.com", std::time::Duration::from_secs(10))?;
/// let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let callback = ResultsCallback::new("shop-1", "icp-3", vec![ItemResult::locked("so-1")], chrono::Utc::now());
/// let receipt = client.send(&secret, &new_webhook_id(), &callback).await?;
/// println!("{receipt:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CallbackClient {
    http: reqwest::Client,
    base: String,
}

impl CallbackClient {
    /// A client for the Shiphold server at `base` (e.g. `https://shiphold.example.com`).
    pub fn new(base: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        let http = base_builder(timeout).build().map_err(ClientError::Build)?;
        Ok(Self {
            http,
            base: base.into(),
        })
    }

    /// The same client, sharing its connection pool, for another Shiphold base URL.
    pub fn with_base(&self, base: impl Into<String>) -> Self {
        Self {
            http: self.http.clone(),
            base: base.into(),
        }
    }

    /// The callback URL for a shop.
    ///
    /// ```
    /// let c = shiphold_erp_adapter::CallbackClient::new("https://s.example.com/", std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!(c.url_for("shop 1").unwrap().as_str(), "https://s.example.com/v1/erp/shops/shop%201/results");
    /// ```
    pub fn url_for(&self, shop_id: &str) -> Result<Url, CallbackError> {
        callback_url(&self.base, shop_id)
    }

    /// Signs and posts a callback now, with the system clock.
    pub async fn send(
        &self,
        secret: &Secret,
        webhook_id: &str,
        callback: &ResultsCallback,
    ) -> Result<CallbackReceipt, CallbackError> {
        self.send_at(secret, webhook_id, Utc::now().timestamp(), callback)
            .await
    }

    /// Signs and posts a callback with the given `webhook-timestamp`.
    pub async fn send_at(
        &self,
        secret: &Secret,
        webhook_id: &str,
        timestamp: i64,
        callback: &ResultsCallback,
    ) -> Result<CallbackReceipt, CallbackError> {
        let url = self.url_for(&callback.shop_id)?;
        let body = callback.to_body();
        let signed =
            SignedHeaders::sign(std::slice::from_ref(secret), webhook_id, timestamp, &body);
        let mut request = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| CallbackError::Transport(describe_transport_error(&e)))?;
        let status = response.status();
        let body = read_limited(&mut response)
            .await
            .map_err(CallbackError::Transport)?;
        if status != http::StatusCode::OK {
            return Err(CallbackError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(CallbackReceipt::default());
        }
        serde_json::from_slice(&body).map_err(|e| CallbackError::Receipt(e.to_string()))
    }
}

/// `{base}/v1/erp/shops/{shop_id}/results`, with the shop id percent-encoded as one segment.
///
/// ```
/// let url = shiphold_erp_adapter::callback_url("http://127.0.0.1:3000", "shop-1").unwrap();
/// assert_eq!(url.as_str(), "http://127.0.0.1:3000/v1/erp/shops/shop-1/results");
/// ```
pub fn callback_url(base: &str, shop_id: &str) -> Result<Url, CallbackError> {
    let mut url = Url::parse(base).map_err(|e| CallbackError::Url(e.to_string()))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| CallbackError::Url("base cannot hold a path".to_owned()))?;
        segments
            .pop_if_empty()
            .extend(["v1", "erp", "shops", shop_id, "results"]);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_dates_in_the_past_mean_now() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 11, 8, 0, 0)
            .single()
            .expect("time");
        assert_eq!(
            parse_retry_after("Wed, 11 Nov 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn callback_urls_keep_a_base_path() {
        let url = callback_url("https://s.example.com/shiphold/", "a/b").expect("url");
        assert_eq!(
            url.as_str(),
            "https://s.example.com/shiphold/v1/erp/shops/a%2Fb/results"
        );
        assert!(callback_url("mailto:x@example.com", "s").is_err());
    }

    #[test]
    fn snippets_are_cut_on_character_boundaries() {
        let long = "拦".repeat(400);
        let s = snippet(long.as_bytes());
        assert_eq!(s.chars().count(), 301);
    }
}
