//! Prometheus metrics of the chat pipeline.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    status: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    route: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    route: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// What one finished chat request reports to [`Metrics::record_request`].
#[derive(Debug, Clone, Default)]
pub struct RequestRecord<'a> {
    /// The HTTP path, e.g. `/chat/stream`.
    pub endpoint: &'a str,
    /// `ok`, `degraded`, `error`, `rejected` or `client_disconnected`.
    pub status: &'a str,
    /// The route that answered, if any.
    pub route: Option<&'a str>,
    /// `primary`, `fallback` or `static`, if a route was called.
    pub fallback_tier: Option<&'a str>,
    /// Time from the request's arrival to its last byte.
    pub latency: Duration,
    /// Time to the first token, for streams.
    pub time_to_first_token: Option<Duration>,
    /// Latency minus the time spent waiting on providers.
    pub gateway_overhead: Option<Duration>,
    /// Input tokens billed.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

/// Counters, gauges and histograms of the chat pipeline, and their registry.
///
/// Label values are bounded: endpoints and statuses are fixed sets, and routes
/// are the configured route names. Tenant ids are never labels.
///
/// ```
/// use std::time::Duration;
/// use shipped_obs::{Metrics, RequestRecord};
///
/// let metrics = Metrics::new();
/// metrics.record_request(&RequestRecord {
///     endpoint: "/chat",
///     status: "ok",
///     route: Some("primary"),
///     fallback_tier: Some("primary"),
///     latency: Duration::from_millis(820),
///     input_tokens: 12,
///     output_tokens: 40,
///     cost_usd: 0.000026,
///     ..RequestRecord::default()
/// });
/// let text = metrics.encode();
/// assert!(text.contains(r#"hello_ship_requests_total{endpoint="/chat",status="ok",route="primary"} 1"#));
/// ```
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    time_to_first_token: Family<RouteLabels, Histogram>,
    gateway_overhead: Histogram,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<RouteLabels, Counter<f64, AtomicU64>>,
    fallback: Family<TierLabels, Counter>,
    upstream_errors: Family<ErrorLabels, Counter>,
    breaker_state: Family<RouteLabels, Gauge>,
    streams_in_flight: Gauge,
    rejections: Family<ReasonLabels, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn seconds_histogram() -> Histogram {
    // 5 ms to about 41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    /// Creates the metrics and registers them under the `hello_ship_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hello_ship");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        let time_to_first_token = Family::<RouteLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        // 50 µs to about 1.6 s: the gateway's own time is expected well under 1 ms.
        let gateway_overhead = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let tokens = Family::<TokenLabels, Counter>::default();
        let cost = Family::<RouteLabels, Counter<f64, AtomicU64>>::default();
        let fallback = Family::<TierLabels, Counter>::default();
        let upstream_errors = Family::<ErrorLabels, Counter>::default();
        let breaker_state = Family::<RouteLabels, Gauge>::default();
        let streams_in_flight = Gauge::default();
        let rejections = Family::<ReasonLabels, Counter>::default();

        registry.register(
            "requests",
            "Chat requests by endpoint, status and route",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request arrival to the last byte of the response",
            latency.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from request arrival to the first streamed token",
            time_to_first_token.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Request time not spent waiting on providers",
            gateway_overhead.clone(),
        );
        registry.register(
            "tokens",
            "Tokens billed, by route and direction",
            tokens.clone(),
        );
        registry.register("cost_usd", "Cost in US dollars, by route", cost.clone());
        registry.register("fallback", "Answers by fallback tier", fallback.clone());
        registry.register(
            "upstream_errors",
            "Provider call failures by route and error kind",
            upstream_errors.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker state per route: 0 closed, 1 half-open, 2 open",
            breaker_state.clone(),
        );
        registry.register(
            "streams_in_flight",
            "Streams being served",
            streams_in_flight.clone(),
        );
        registry.register(
            "rejections",
            "Requests rejected before any provider call, by reason",
            rejections.clone(),
        );

        Self {
            registry,
            requests,
            latency,
            time_to_first_token,
            gateway_overhead,
            tokens,
            cost,
            fallback,
            upstream_errors,
            breaker_state,
            streams_in_flight,
            rejections,
        }
    }

    /// Records one finished chat request.
    pub fn record_request(&self, record: &RequestRecord<'_>) {
        let route = record.route.unwrap_or("none").to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: record.endpoint.to_owned(),
                status: record.status.to_owned(),
                route: route.clone(),
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: record.endpoint.to_owned(),
            })
            .observe(record.latency.as_secs_f64());
        if let Some(ttft) = record.time_to_first_token {
            self.time_to_first_token
                .get_or_create(&RouteLabels {
                    route: route.clone(),
                })
                .observe(ttft.as_secs_f64());
        }
        if let Some(overhead) = record.gateway_overhead {
            self.gateway_overhead.observe(overhead.as_secs_f64());
        }
        if let Some(tier) = record.fallback_tier {
            self.fallback
                .get_or_create(&TierLabels {
                    tier: tier.to_owned(),
                })
                .inc();
        }
        if record.route.is_some() {
            for (direction, count) in [
                ("input", record.input_tokens),
                ("output", record.output_tokens),
            ] {
                self.tokens
                    .get_or_create(&TokenLabels {
                        route: route.clone(),
                        direction,
                    })
                    .inc_by(count);
            }
            self.cost
                .get_or_create(&RouteLabels { route })
                .inc_by(record.cost_usd);
        }
    }

    /// Counts a failed provider call.
    pub fn record_upstream_error(&self, route: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&ErrorLabels {
                route: route.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Sets a route's breaker state: 0 closed, 1 half-open, 2 open.
    pub fn set_breaker_state(&self, route: &str, state: i64) {
        self.breaker_state
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .set(state);
    }

    /// Counts a request rejected before any provider call, e.g. `rate_limited`.
    pub fn record_rejection(&self, reason: &str) {
        self.rejections
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a stream as in flight until the returned guard drops.
    pub fn stream_started(self: &Arc<Self>) -> StreamInFlight {
        self.streams_in_flight.inc();
        StreamInFlight {
            metrics: Arc::clone(self),
        }
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // NOTE: encoding into a String fails only if a label value fails to
        // format, and every label here is plain text.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Guard that keeps a stream counted in `hello_ship_streams_in_flight`.
#[derive(Debug)]
pub struct StreamInFlight {
    metrics: Arc<Metrics>,
}

impl Drop for StreamInFlight {
    fn drop(&mut self) {
        self.metrics.streams_in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_with_records() {
        let metrics = Arc::new(Metrics::new());
        let record = RequestRecord {
            endpoint: "/chat/stream",
            status: "ok",
            route: Some("primary"),
            fallback_tier: Some("primary"),
            latency: Duration::from_millis(300),
            time_to_first_token: Some(Duration::from_millis(40)),
            gateway_overhead: Some(Duration::from_micros(120)),
            input_tokens: 26,
            output_tokens: 2,
            cost_usd: 0.5,
        };
        metrics.record_request(&record);
        metrics.record_request(&record);
        metrics.record_upstream_error("primary", "overloaded");
        metrics.record_rejection("rate_limited");
        let guard = metrics.stream_started();

        let text = metrics.encode();
        assert!(text.contains(r#"hello_ship_requests_total{endpoint="/chat/stream",status="ok",route="primary"} 2"#), "{text}");
        assert!(
            text.contains(r#"hello_ship_tokens_total{route="primary",direction="input"} 52"#),
            "{text}"
        );
        assert!(
            text.contains(r#"hello_ship_cost_usd_total{route="primary"} 1.0"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"hello_ship_upstream_errors_total{route="primary",kind="overloaded"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"hello_ship_rejections_total{reason="rate_limited"} 1"#),
            "{text}"
        );
        assert!(text.contains("hello_ship_streams_in_flight 1"), "{text}");
        assert!(
            text.contains(r#"hello_ship_time_to_first_token_seconds_count{route="primary"} 2"#),
            "{text}"
        );
        assert!(
            text.contains("hello_ship_gateway_overhead_seconds_count 2"),
            "{text}"
        );

        drop(guard);
        assert!(metrics.encode().contains("hello_ship_streams_in_flight 0"));
    }
}
