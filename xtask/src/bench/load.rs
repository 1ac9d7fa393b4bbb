//! The bench's own load generator: a closed loop of simulated clients, each on one kept-alive
//! HTTP/1 connection, issuing requests back to back; and the percentiles of what they saw.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// How many failed requests keep their answer for the report.
const KEPT_ERRORS: usize = 5;

/// One request of a phase.
pub(crate) struct Req {
    pub method: http::Method,
    /// Path and query.
    pub path: String,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub body: Option<Vec<u8>>,
    /// The API key, sent as a bearer token.
    pub key: Option<Arc<str>>,
}

/// Where to send a phase's requests, with how many clients, for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub addr: SocketAddr,
    pub connections: usize,
    /// Requests made before the measurement starts are neither timed nor counted.
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one phase measured. Latencies are of the successful (2xx) requests that started in
/// the measured window, sorted, in microseconds.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub latencies_us: Vec<u64>,
    /// Non-2xx answers and transport failures in the measured window.
    pub errors: u64,
    /// The first few failures (also those of the warm-up), with their answers.
    pub first_errors: Vec<String>,
    /// From the start of the measured window until the last measured request ended.
    pub elapsed: Duration,
    /// The window as instants, for counting what else happened meanwhile (deliveries).
    pub window: Option<(Instant, Instant)>,
    /// The phase ran out of work (e.g. every seeded order intercepted) before its duration.
    pub exhausted: bool,
}

impl Measured {
    /// Successful requests per second.
    pub fn per_sec(&self) -> f64 {
        rate(self.latencies_us.len() as u64, self.elapsed)
    }

    /// The `p`-th percentile latency in milliseconds (0 when nothing was measured).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p).map_or(0.0, |us| us as f64 / 1000.0)
    }
}

/// `count` per second of `elapsed` (0 for an empty interval).
pub(crate) fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of `sorted` samples: the smallest sample
/// that at least p % of the samples do not exceed. `None` when there are no samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What the clients of a phase share.
struct Shared {
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    exhausted: AtomicBool,
}

impl Shared {
    fn failed(&self, measured: bool, what: String) {
        if measured {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut kept) = self.first_errors.lock()
            && kept.len() < KEPT_ERRORS
        {
            let when = if measured { "" } else { " (warm-up)" };
            kept.push(format!("{what}{when}"));
        }
    }
}

/// Runs one phase: `plan.connections` clients each take the next request from `next` (until it
/// answers `None`, or the time is up) and send it on their own connection, one at a time.
pub(crate) async fn drive<F>(plan: Plan, next: F) -> Measured
where
    F: Fn() -> Option<Req> + Send + Sync + 'static,
{
    let next = Arc::new(next);
    let shared = Arc::new(Shared {
        errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        exhausted: AtomicBool::new(false),
    });
    let measure_from = Instant::now() + plan.warmup;
    let until = measure_from + plan.duration;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..plan.connections.max(1) {
        let (next, shared) = (next.clone(), shared.clone());
        clients.spawn(client(plan.addr, next, shared, measure_from, until));
    }
    let mut latencies = Vec::new();
    while let Some(done) = clients.join_next().await {
        match done {
            Ok(mut l) => latencies.append(&mut l),
            Err(e) => shared.failed(true, format!("a client task failed: {e}")),
        }
    }
    let ended = Instant::now();
    latencies.sort_unstable();
    Measured {
        latencies_us: latencies,
        errors: shared.errors.load(Ordering::Relaxed),
        first_errors: shared
            .first_errors
            .lock()
            .map(|kept| kept.clone())
            .unwrap_or_default(),
        elapsed: ended.saturating_duration_since(measure_from),
        window: Some((measure_from, ended.max(measure_from))),
        exhausted: shared.exhausted.load(Ordering::Relaxed),
    }
}

/// One simulated client: its latencies.
async fn client<F>(
    addr: SocketAddr,
    next: Arc<F>,
    shared: Arc<Shared>,
    measure_from: Instant,
    until: Instant,
) -> Vec<u64>
where
    F: Fn() -> Option<Req> + Send + Sync + 'static,
{
    let host = addr.to_string();
    let mut latencies = Vec::new();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    while Instant::now() < until {
        let Some(req) = next() else {
            shared.exhausted.store(true, Ordering::Relaxed);
            break;
        };
        let conn = match sender.as_mut() {
            Some(conn) => conn,
            None => match connect(addr).await {
                Ok(conn) => sender.insert(conn),
                Err(e) => {
                    shared.failed(Instant::now() >= measure_from, format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let what = format!("{} {}", req.method, req.path);
        let request = match build(req, &host) {
            Ok(request) => request,
            Err(e) => {
                shared.failed(true, format!("{what}: {e:#}"));
                continue;
            }
        };
        let started = Instant::now();
        let measured = started >= measure_from;
        match send(conn, request).await {
            Ok((status, _)) if status.is_success() => {
                if measured {
                    latencies.push(started.elapsed().as_micros() as u64);
                }
            }
            Ok((status, body)) => {
                let body = String::from_utf8_lossy(&body);
                shared.failed(measured, format!("{what} answered {status}: {body}"));
            }
            Err(e) => {
                // The connection is unusable after a transport error: open a new one.
                sender = None;
                shared.failed(measured, format!("{what}: {e:#}"));
            }
        }
    }
    latencies
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("could not connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the HTTP/1 handshake failed")?;
    tokio::spawn(async move {
        // Ends when the connection closes; a failure shows up in the next request's result.
        let _ = conn.await;
    });
    Ok(sender)
}

fn build(req: Req, host: &str) -> Result<http::Request<Full<Bytes>>> {
    let mut builder = http::Request::builder()
        .method(req.method)
        .uri(req.path)
        .header(http::header::HOST, host);
    if let Some(key) = &req.key {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = match req.body {
        Some(body) => {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(body)
        }
        None => Bytes::new(),
    };
    Ok(builder.body(Full::new(body))?)
}

async fn send(
    conn: &mut SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<(http::StatusCode, Bytes)> {
    conn.ready().await?;
    let response = conn.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 95.0), Some(95));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        // Few samples: p99 of three is the largest, p50 the middle one.
        assert_eq!(percentile(&[10, 20, 30], 99.0), Some(30));
        assert_eq!(percentile(&[10, 20, 30], 50.0), Some(20));
        assert_eq!(percentile(&[7], 0.1), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn rates_and_milliseconds() {
        let m = Measured {
            latencies_us: vec![1_000, 2_000, 3_000, 40_000],
            elapsed: Duration::from_secs(2),
            ..Measured::default()
        };
        assert_eq!(m.per_sec(), 2.0);
        assert_eq!(m.percentile_ms(50.0), 2.0);
        assert_eq!(m.percentile_ms(99.0), 40.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }
}
