//! What the server measures, for Prometheus: HTTP requests and their latency per route, outbox
//! deliveries and their latency per topic, interceptions created, requests refused by a rate
//! limit, and — read from the database at each scrape — the outbox per topic and shop: entries by
//! status and how long the oldest pending one has waited. Encoded in the OpenMetrics text format
//! (`prometheus-client`), served on the separate metrics listener (`metrics.listen`), never on
//! the public one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use shiphold_storage::{OutboxCount, Topic};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The route template (`/v1/orders/{order_id}`), or `unmatched`: never a raw path.
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// How one delivery attempt ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The peer took it.
    Delivered,
    /// It will be tried again.
    Retry,
    /// The retries are used up, or the peer refused it for good.
    Dead,
    /// Held until its peer can take it again.
    Held,
}

impl DeliveryOutcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::Dead => "dead",
            Self::Held => "held",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    topic: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    topic: String,
    shop: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxShopLabels {
    topic: String,
    shop: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 1 ms to about 65 s, doubling.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics; one per process, shared by every request and job.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_duration: HistogramFamily<TopicLabels>,
    interceptions: Counter,
    rate_limited: Family<LimitLabels, Counter>,
    outbox_entries: Family<OutboxLabels, Gauge>,
    outbox_oldest: Family<OutboxShopLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric of the server.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shiphold");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer, by method and route template",
            Unit::Seconds,
            http_duration.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Outbox delivery attempts, by topic and outcome",
            deliveries.clone(),
        );
        let delivery_duration: HistogramFamily<TopicLabels> = Family::new_with_constructor(latency);
        registry.register_with_unit(
            "delivery_duration",
            "Time one delivery attempt took, by topic",
            Unit::Seconds,
            delivery_duration.clone(),
        );
        let interceptions = Counter::default();
        registry.register(
            "interceptions_created",
            "Interceptions created",
            interceptions.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by a rate limit, by class (buyer, callback)",
            rate_limited.clone(),
        );
        let outbox_entries = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "outbox_entries",
            "Outbox entries not delivered yet, by topic, shop and status (pending, leased, dead, held)",
            outbox_entries.clone(),
        );
        let outbox_oldest = Family::<OutboxShopLabels, Gauge<f64, _>>::default();
        registry.register_with_unit(
            "outbox_oldest_pending_age",
            "How long the oldest pending outbox entry has waited, by topic and shop",
            Unit::Seconds,
            outbox_oldest.clone(),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            deliveries,
            delivery_duration,
            interceptions,
            rate_limited,
            outbox_entries,
            outbox_oldest,
        }
    }

    /// One answered request. `route` is the route's template, or `None` for no route.
    pub fn http(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let route = route.unwrap_or("unmatched").to_owned();
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.clone(),
                status: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route,
            })
            .observe(took.as_secs_f64());
    }

    /// One delivery attempt of `topic` that ended as `outcome` after `took`.
    pub fn delivery(&self, topic: Topic, outcome: DeliveryOutcome, took: Duration) {
        let topic = topic.as_str().to_owned();
        self.deliveries
            .get_or_create(&DeliveryLabels {
                topic: topic.clone(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
        self.delivery_duration
            .get_or_create(&TopicLabels { topic })
            .observe(took.as_secs_f64());
    }

    /// One interception created.
    pub fn intercepted(&self) {
        self.interceptions.inc();
    }

    /// One request refused by the rate limit of `class`.
    pub fn rate_limited(&self, class: &str) {
        self.rate_limited
            .get_or_create(&LimitLabels {
                class: class.to_owned(),
            })
            .inc();
    }

    /// The text of a scrape: every metric, with the outbox as `outbox` says at `now`.
    pub fn encode(&self, outbox: &[OutboxCount], now: DateTime<Utc>) -> String {
        // Shops and statuses that emptied since the last scrape disappear rather than linger.
        self.outbox_entries.clear();
        self.outbox_oldest.clear();
        for count in outbox {
            let (topic, shop) = (count.topic.as_str(), count.shop_id.as_str());
            for (status, n) in [
                ("pending", count.pending),
                ("leased", count.leased),
                ("dead", count.dead),
                ("held", count.held),
            ] {
                self.outbox_entries
                    .get_or_create(&OutboxLabels {
                        topic: topic.to_owned(),
                        shop: shop.to_owned(),
                        status: status.to_owned(),
                    })
                    .set(n);
            }
            if let Some(oldest) = count.oldest_pending {
                let waited = (now - oldest).num_milliseconds().max(0) as f64 / 1000.0;
                self.outbox_oldest
                    .get_or_create(&OutboxShopLabels {
                        topic: topic.to_owned(),
                        shop: shop.to_owned(),
                    })
                    .set(waited);
            }
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_shows_routes_outcomes_and_the_outbox_per_shop() {
        let m = Metrics::new();
        m.http(
            "GET",
            Some("/v1/orders/{order_id}"),
            200,
            Duration::from_millis(3),
        );
        m.http("GET", None, 404, Duration::from_millis(1));
        m.delivery(
            Topic::Erp,
            DeliveryOutcome::Delivered,
            Duration::from_millis(20),
        );
        m.intercepted();
        let now = Utc::now();
        let shop = shiphold_domain::ShopId::parse("shp_1").unwrap();
        let counts = [OutboxCount {
            topic: Topic::Erp,
            shop_id: shop,
            pending: 2,
            leased: 1,
            dead: 0,
            held: 0,
            oldest_pending: Some(now - chrono::Duration::seconds(90)),
        }];
        let text = m.encode(&counts, now);
        for line in [
            r#"shiphold_http_requests_total{method="GET",route="/v1/orders/{order_id}",status="200"} 1"#,
            r#"shiphold_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"shiphold_http_request_duration_seconds_count{method="GET",route="/v1/orders/{order_id}"} 1"#,
            r#"shiphold_deliveries_total{topic="erp",outcome="delivered"} 1"#,
            r#"shiphold_delivery_duration_seconds_count{topic="erp"} 1"#,
            "shiphold_interceptions_created_total 1",
            r#"shiphold_outbox_entries{topic="erp",shop="shp_1",status="pending"} 2"#,
            r#"shiphold_outbox_oldest_pending_age_seconds{topic="erp",shop="shp_1"} 90.0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        // An emptied shop disappears at the next scrape.
        let text = m.encode(&[], now);
        assert!(!text.contains("shp_1"), "{text}");
    }
}
