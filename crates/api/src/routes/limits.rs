//! Rate limits of the routes a client reaches without an API key: the card page and the buyer
//! API (a card token is the credential, so guessing one must be slow), the ERP callback
//! (signatures are checked on every request) and signing in (passwords must not be guessed from
//! one address at speed; each account also slows itself down). Each client address gets its own allowance per
//! class (GCRA, from the `governor` crate); a refused request answers 429 with `Retry-After`
//! before any other work is done.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimits;
use crate::problem::{ApiError, ProblemKind};
use crate::state::AppState;

/// Which allowance a rate-limited route draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitClass {
    /// The card page and the buyer API.
    Buyer,
    /// The signed ERP callback.
    Callback,
    /// Signing in with a password, and accepting an invitation.
    SignIn,
}

/// The allowances, one per class, keyed by client address.
pub(crate) struct Limiter {
    buyer: DefaultKeyedRateLimiter<IpAddr>,
    callback: DefaultKeyedRateLimiter<IpAddr>,
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    routes: HashMap<String, LimitClass>,
    client_ip_header: Option<HeaderName>,
    clock: DefaultClock,
    checks: AtomicU64,
    metrics: AppState,
}

/// A quota of `per_minute` requests, all of which may come at once.
fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}

impl Limiter {
    pub(crate) fn new(
        limits: &RateLimits,
        routes: HashMap<String, LimitClass>,
        metrics: AppState,
    ) -> Self {
        Self {
            buyer: RateLimiter::keyed(quota(limits.buyer_per_minute)),
            callback: RateLimiter::keyed(quota(limits.callback_per_minute)),
            sign_in: RateLimiter::keyed(quota(limits.sign_in_per_minute)),
            routes,
            client_ip_header: limits.client_ip_header.clone(),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
            metrics,
        }
    }

    /// The client's address: the last value of the trusted proxy's header when one is
    /// configured (the address the proxy saw), else the peer of the connection. A server that
    /// does not pass the peer on (`ConnectInfo`) counts every client as one.
    fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        if let Some(name) = &self.client_ip_header {
            let forwarded = headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|v| v.trim().parse::<IpAddr>().ok())
                .next_back();
            if let Some(forwarded) = forwarded {
                return forwarded;
            }
        }
        peer.map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |p| p.ip())
    }

    fn refused(&self, class: LimitClass) {
        self.metrics.metrics().rate_limited(match class {
            LimitClass::Buyer => "buyer",
            LimitClass::Callback => "callback",
            LimitClass::SignIn => "sign_in",
        });
    }

    /// `Ok` when the request may go on, else how many seconds until it may.
    fn check(&self, class: LimitClass, client: IpAddr) -> Result<(), u64> {
        // Forget addresses that are back to a full allowance now and then, so the table stays
        // as small as the set of recent clients.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.buyer.retain_recent();
            self.callback.retain_recent();
            self.sign_in.retain_recent();
        }
        let limiter = match class {
            LimitClass::Buyer => &self.buyer,
            LimitClass::Callback => &self.callback,
            LimitClass::SignIn => &self.sign_in,
        };
        limiter.check_key(&client).map_err(|not_until| {
            not_until
                .wait_time_from(self.clock.now())
                .as_secs()
                .saturating_add(1)
        })
    }
}

/// The middleware: classifies the request by its route template and checks its allowance.
pub(crate) async fn limit(
    State(limiter): State<Option<Arc<Limiter>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(limiter) = limiter else {
        return next.run(request).await;
    };
    let class = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| limiter.routes.get(m.as_str()))
        .copied();
    let Some(class) = class else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = limiter.client(request.headers(), peer);
    match limiter.check(class, client) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => {
            tracing::info!(%client, ?class, "rate limit reached");
            limiter.refused(class);
            let mut error = ApiError::new(
                ProblemKind::TooManyRequests,
                format!("too many requests from this address; try again in {retry_after} s"),
            );
            error.retry_after = Some(retry_after);
            error.into_response()
        }
    }
}
