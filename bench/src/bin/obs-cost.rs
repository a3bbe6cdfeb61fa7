//! Time and heap allocations of hello-ship's per-request observability: the
//! request span with the fields hello-ship records on it, the
//! `request_started` and `request_completed` JSON lines, and one
//! `Metrics::record_request`. Lines go to a sink that drops them, so only the
//! formatting is measured.
//!
//! ```text
//! cargo run --release --manifest-path bench/Cargo.toml --bin obs-cost
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shipped_obs::{JsonLayer, LogSink, Metrics, RequestRecord};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Drops every line.
struct Discard;

impl LogSink for Discard {
    fn write_line(&self, line: &[u8]) {
        std::hint::black_box(line);
    }
}

/// Logs what hello-ship logs for one successful `/chat` request.
fn log_request() {
    let span = tracing::info_span!(
        "request",
        request_id = "req_4f1c2a9b7d3e",
        path = "/chat",
        tenant_id = Empty,
        user_id = Empty,
        feature = Empty,
        model = Empty,
        prompt_version = Empty,
        trace_id = Empty,
    );
    let _entered = span.enter();
    span.record("tenant_id", "bench");
    span.record("model", "default");
    tracing::info!(
        input_tokens_est = 7_u64,
        requested_max_tokens = Option::<u32>::None,
        messages = 1_usize,
        stream = false,
        "request_started"
    );
    tracing::info!(
        status = "ok",
        http_status = 200_u16,
        model_route = Some("primary"),
        fallback_tier = Some("primary"),
        attempts = 1_u32,
        input_tokens = 12_u64,
        output_tokens = 6_u64,
        cached_input_tokens = 0_u64,
        usage_estimated = false,
        cost_usd = 0.000_026,
        latency_ms = 1_u64,
        ttft_ms = Option::<u64>::None,
        overhead_us = Some(140_u64),
        stream = false,
        tokens_emitted = Option::<u64>::None,
        finish_reason = Some("stop"),
        incident_id = Option::<&str>::None,
        error_kind = Option::<&str>::None,
        "request_completed"
    );
}

fn record_metrics(metrics: &Metrics) {
    metrics.record_request(&RequestRecord {
        endpoint: "/chat",
        status: "ok",
        route: Some("primary"),
        fallback_tier: Some("primary"),
        latency: Duration::from_micros(900),
        time_to_first_token: None,
        gateway_overhead: Some(Duration::from_micros(140)),
        input_tokens: 12,
        output_tokens: 6,
        cost_usd: 0.000_026,
    });
}

/// Runs `work` in 5 batches of `iterations` after a warm-up batch and prints the
/// median time and the allocations per call.
fn measure(name: &str, iterations: u32, mut work: impl FnMut()) {
    for _ in 0..iterations {
        work();
    }
    let mut nanos = Vec::new();
    let mut allocations = Vec::new();
    for _ in 0..5 {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let started = Instant::now();
        for _ in 0..iterations {
            work();
        }
        nanos.push(started.elapsed().as_nanos() / u128::from(iterations));
        allocations.push((ALLOCATIONS.load(Ordering::Relaxed) - before) / u64::from(iterations));
    }
    nanos.sort_unstable();
    allocations.sort_unstable();
    println!(
        "{name}: {} ns, {} allocations per call (median of 5 batches of {iterations})",
        nanos[2], allocations[2]
    );
}

fn main() {
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(Discard));
    tracing::subscriber::with_default(subscriber, || {
        measure("log lines of one request", 50_000, log_request);
    });
    let metrics = Metrics::new();
    measure("metrics of one request", 200_000, || {
        record_metrics(&metrics)
    });
}
