//! Open-loop load generator for the gateway benchmark, with results as JSON lines.
//!
//! ```text
//! loadgen rate   --url URL --rps N --secs S [--body JSON] [--header 'K: V']...
//!                [--stream --first-marker TEXT --end-marker TEXT] [--pid PID] [--label NAME]
//! loadgen hold   --url URL --count N --secs S [--body JSON] [--header 'K: V']... --pid PID
//! loadgen slow   --url URL --count N --secs S [--body JSON] [--header 'K: V']... --pid PID
//! ```
//!
//! `rate` sends N requests per second for S seconds after a one-second warm-up
//! at the same rate that is not recorded. Requests start on a fixed schedule
//! whatever the responses do, each on a pooled keep-alive connection or a new
//! one. Latency runs from the moment a request starts sending to its last body
//! byte. `dispatch_lag` is how late requests started against the schedule, so a
//! generator that fell behind is visible. Tokio's timer has a resolution of
//! 1 ms, so a lag of about 1 ms is normal. With `--stream`, `ttft` is the
//! time to the first body byte sequence equal to `--first-marker`, and a
//! response without `--end-marker` counts as an error.
//!
//! `hold` opens N streams, reads what they send (heartbeats), and reports the
//! resident memory of process PID before, with all streams open, and after
//! they close. `slow` opens N streams and reads nothing for S seconds, then
//! reports the same memory figures, to show that a stalled client does not make
//! the gateway buffer the upstream's response.
//!
//! Every run stops by itself: each request has a 10 s timeout and each mode
//! ends after its seconds. Only loopback URLs are accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::sync::Mutex;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(1);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[derive(Debug, Clone, Default)]
struct Options {
    mode: String,
    url: String,
    rps: u64,
    secs: u64,
    count: u64,
    body: String,
    headers: Vec<(String, String)>,
    stream: bool,
    first_marker: String,
    end_marker: String,
    pid: Option<u32>,
    clock_ticks: u64,
    label: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = Arc::new(parse_args()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        match options.mode.as_str() {
            "rate" => run_rate(options.clone()).await,
            "hold" => run_hold(options.clone(), true).await,
            "slow" => run_hold(options.clone(), false).await,
            other => Err(format!("unknown mode {other:?}; use rate, hold or slow").into()),
        }
    })?;
    println!("{report}");
    Ok(())
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        mode: args.next().ok_or("missing mode; use rate, hold or slow")?,
        body: r#"{"message":"Say hello to the benchmark."}"#.to_owned(),
        clock_ticks: 100,
        secs: 10,
        ..Options::default()
    };
    while let Some(flag) = args.next() {
        if flag == "--stream" {
            options.stream = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|error| format!("invalid {flag} {value:?}: {error}"))
        };
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--rps" => options.rps = number()?,
            "--secs" => options.secs = number()?,
            "--count" => options.count = number()?,
            "--body" => options.body = value.clone(),
            "--header" => {
                let (name, header_value) = value
                    .split_once(':')
                    .ok_or_else(|| format!("invalid --header {value:?}: expected 'name: value'"))?;
                options
                    .headers
                    .push((name.trim().to_owned(), header_value.trim().to_owned()));
            }
            "--first-marker" => options.first_marker = value.clone(),
            "--end-marker" => options.end_marker = value.clone(),
            "--pid" => options.pid = Some(u32::try_from(number()?).map_err(|e| e.to_string())?),
            "--clock-ticks" => options.clock_ticks = number()?,
            "--label" => options.label = value.clone(),
            _ => {
                return Err(format!(
                    "unknown option {flag}; see the header of loadgen.rs"
                ));
            }
        }
    }
    let uri: hyper::Uri = options
        .url
        .parse()
        .map_err(|error| format!("invalid --url {:?}: {error}", options.url))?;
    if !matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]")) {
        return Err(format!(
            "--url {} is not a loopback address; the benchmark stays on 127.0.0.1",
            options.url
        ));
    }
    if options.mode == "rate" && options.rps == 0 {
        return Err("rate needs --rps of at least 1".to_owned());
    }
    if options.stream && (options.first_marker.is_empty() || options.end_marker.is_empty()) {
        return Err("--stream needs --first-marker and --end-marker".to_owned());
    }
    Ok(options)
}

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

fn request(options: &Options) -> Request<Full<Bytes>> {
    let mut builder = Request::post(&options.url).header("content-type", "application/json");
    for (name, value) in &options.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(options.body.clone())))
        .expect("the method, URL and headers were checked when parsed")
}

/// Latency histograms and error counts of one `rate` run, in microseconds.
struct Samples {
    latency: Histogram<u64>,
    ttft: Histogram<u64>,
    lag: Histogram<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        Self {
            latency: histogram(),
            ttft: histogram(),
            lag: histogram(),
            ok: 0,
            errors: 0,
            first_error: None,
        }
    }
}

enum Outcome {
    Ok {
        latency: Duration,
        ttft: Option<Duration>,
    },
    Error(String),
}

async fn run_rate(options: Arc<Options>) -> Result<String, Box<dyn std::error::Error>> {
    let client = client();
    let samples = Arc::new(Mutex::new(Samples::new()));
    let interval_ns = 1_000_000_000 / options.rps;
    let warm_up = options.rps * WARM_UP.as_secs();
    let total = warm_up + options.rps * options.secs;
    let cpu_before = options.pid.and_then(cpu_ticks);
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let start = tokio::time::Instant::now();
    let mut measured_start = None;

    for index in 0..total {
        let scheduled = start + Duration::from_nanos(index * interval_ns);
        tokio::time::sleep_until(scheduled).await;
        if index == warm_up {
            measured_start = Some(Instant::now());
        }
        let recorded = index >= warm_up;
        let client = client.clone();
        let options = options.clone();
        let samples = samples.clone();
        tasks.push(tokio::spawn(async move {
            let lag = scheduled.elapsed();
            let outcome = send_one(&client, &options).await;
            if !recorded {
                return;
            }
            let mut samples = samples.lock().await;
            let _ = samples.lag.record(micros(lag));
            match outcome {
                Outcome::Ok { latency, ttft } => {
                    samples.ok += 1;
                    let _ = samples.latency.record(micros(latency));
                    if let Some(ttft) = ttft {
                        let _ = samples.ttft.record(micros(ttft));
                    }
                }
                Outcome::Error(error) => {
                    samples.errors += 1;
                    samples.first_error.get_or_insert(error);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = measured_start.map_or(Duration::ZERO, |started| started.elapsed());
    let cpu_after = options.pid.and_then(cpu_ticks);
    let samples = samples.lock().await;

    let mut report = json!({
        "mode": "rate",
        "label": options.label,
        "rps_target": options.rps,
        "secs": options.secs,
        "ok": samples.ok,
        "errors": samples.errors,
        "first_error": samples.first_error,
        "throughput_rps": samples.ok as f64 / elapsed.as_secs_f64().max(1e-9),
        "latency_us": percentiles(&samples.latency),
        "dispatch_lag_us": percentiles(&samples.lag),
    });
    if options.stream {
        report["ttft_us"] = percentiles(&samples.ttft);
    }
    if let (Some(pid), Some(before), Some(after)) = (options.pid, cpu_before, cpu_after) {
        // Process CPU over the whole run, warm-up included, per 1,000 requests sent.
        let cpu_ms = (after - before) as f64 * 1000.0 / options.clock_ticks as f64;
        report["cpu_ms_per_1000"] = json!(cpu_ms * 1000.0 / total as f64);
        report["rss_kib"] = json!(status_kib(pid, "VmRSS:"));
        report["hwm_kib"] = json!(status_kib(pid, "VmHWM:"));
    }
    Ok(report.to_string())
}

async fn send_one(client: &HttpClient, options: &Options) -> Outcome {
    let started = Instant::now();
    let exchange = async {
        let response = client
            .request(request(options))
            .await
            .map_err(|error| format!("request failed: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        if options.stream {
            read_stream(response.into_body(), options, started).await
        } else {
            response
                .into_body()
                .collect()
                .await
                .map_err(|error| format!("body read failed: {error}"))?;
            Ok(None)
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(Ok(ttft)) => Outcome::Ok {
            latency: started.elapsed(),
            ttft,
        },
        Ok(Err(error)) => Outcome::Error(error),
        Err(_) => Outcome::Error(format!("timed out after {REQUEST_TIMEOUT:?}")),
    }
}

/// Reads a streamed body to its end; returns the time to the first marker, or
/// an error when the end marker never came.
async fn read_stream(
    mut body: Incoming,
    options: &Options,
    started: Instant,
) -> Result<Option<Duration>, String> {
    let first = options.first_marker.as_bytes();
    let end = options.end_marker.as_bytes();
    let mut seen = Vec::with_capacity(8 * 1024);
    let mut ttft = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| format!("body read failed: {error}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        // Search only the new bytes and a marker's length before them.
        let from = seen.len().saturating_sub(first.len().max(end.len()));
        seen.extend_from_slice(data);
        if ttft.is_none() && contains(&seen[from..], first) {
            ttft = Some(started.elapsed());
        }
    }
    if !contains(&seen, end) {
        return Err(format!(
            "stream ended without {:?} after {} bytes",
            options.end_marker,
            seen.len()
        ));
    }
    Ok(ttft)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Opens `count` streams and measures the memory of process `--pid` with them
/// open. With `read` the streams are read (heartbeats are consumed); without,
/// nothing is read after the response head.
async fn run_hold(options: Arc<Options>, read: bool) -> Result<String, Box<dyn std::error::Error>> {
    let pid = options.pid.ok_or("hold and slow need --pid")?;
    let client = client();
    let rss_before = status_kib(pid, "VmRSS:");
    let opened = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let bytes_read = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let deadline = Instant::now() + Duration::from_secs(options.secs);

    let mut tasks = Vec::new();
    for index in 0..options.count {
        // Open at most 1,000 streams per second, to keep the server's accept
        // queue short.
        if index % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let client = client.clone();
        let options = options.clone();
        let opened = opened.clone();
        let failed = failed.clone();
        let bytes_read = bytes_read.clone();
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let response = match tokio::time::timeout(
                REQUEST_TIMEOUT,
                client.request(request(&options)),
            )
            .await
            {
                Ok(Ok(response)) if response.status().is_success() => response,
                _ => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            opened.fetch_add(1, Ordering::Relaxed);
            let mut body = response.into_body();
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    frame = body.frame(), if read => match frame {
                        Some(Ok(frame)) => {
                            let size = frame.data_ref().map_or(0, Bytes::len);
                            bytes_read.fetch_add(size as u64, Ordering::Relaxed);
                        }
                        _ => return,
                    },
                }
            }
        }));
    }
    // Wait until every stream is open or failed, then let memory settle.
    while opened.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < options.count
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open_after = Instant::now();
    let settle = deadline
        .saturating_duration_since(open_after)
        .min(Duration::from_secs(3));
    tokio::time::sleep(settle).await;
    let rss_open = status_kib(pid, "VmRSS:");
    let streams_open = opened.load(Ordering::Relaxed);
    // Hold until the deadline, then sample again. Growth here would mean
    // buffering that grows with time, e.g. upstream tokens piling up.
    tokio::time::sleep_until(deadline.into()).await;
    let rss_end = status_kib(pid, "VmRSS:");
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    drop(client);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_closed = status_kib(pid, "VmRSS:");

    let per_stream = match (rss_before, rss_open) {
        (Some(before), Some(open)) if streams_open > 0 => {
            Some(open.saturating_sub(before) as f64 * 1024.0 / streams_open as f64)
        }
        _ => None,
    };
    Ok(json!({
        "mode": if read { "hold" } else { "slow" },
        "label": options.label,
        "streams_requested": options.count,
        "streams_open": streams_open,
        "errors": failed.load(Ordering::Relaxed),
        "secs": options.secs,
        "bytes_read": bytes_read.load(Ordering::Relaxed),
        "rss_before_kib": rss_before,
        "rss_open_kib": rss_open,
        "rss_end_kib": rss_end,
        "rss_closed_kib": rss_closed,
        "hwm_kib": status_kib(pid, "VmHWM:"),
        "bytes_per_stream": per_stream,
    })
    .to_string())
}

fn percentiles(histogram: &Histogram<u64>) -> serde_json::Value {
    if histogram.is_empty() {
        return serde_json::Value::Null;
    }
    json!({
        "p50": histogram.value_at_quantile(0.5),
        "p99": histogram.value_at_quantile(0.99),
        "p999": histogram.value_at_quantile(0.999),
        "max": histogram.max(),
    })
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Reads a `/proc/PID/status` value in KiB, e.g. `VmRSS:`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time of a process, in clock ticks, from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields are counted after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15, so 12 and 13 after the state field.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}
