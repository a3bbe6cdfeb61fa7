//! Runs cases against `/chat` with bounded concurrency and reports progress.

use futures_util::StreamExt as _;
use serde_json::Value;

use super::cases::Case;
use super::client::Target;
use super::report::{CaseResult, route_suffix};

/// Runs every case once per entry of `routes` (`None` lets the server choose
/// the route), at most `concurrency` at a time, and prints one progress line
/// per finished case to stderr. Results come back in case order within each
/// route.
pub(crate) async fn run_cases(
    target: &Target,
    cases: &[Case],
    routes: &[Option<String>],
    concurrency: usize,
) -> Vec<CaseResult> {
    let jobs: Vec<(usize, &Case, Option<&str>)> = routes
        .iter()
        .flat_map(|route| cases.iter().map(move |case| (case, route.as_deref())))
        .enumerate()
        .map(|(index, (case, route))| (index, case, route))
        .collect();
    let total = jobs.len();
    let mut finished = futures_util::stream::iter(jobs)
        .map(|(index, case, route)| async move { (index, run_case(target, case, route).await) })
        .buffer_unordered(concurrency.max(1));

    let mut results = Vec::with_capacity(total);
    while let Some((index, result)) = finished.next().await {
        super::progress(&progress_line(results.len() + 1, total, &result));
        results.push((index, result));
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

fn progress_line(done: usize, total: usize, result: &CaseResult) -> String {
    let verdict = if result.passed { "pass" } else { "FAIL" };
    let status = result
        .status
        .map_or_else(|| "no response".to_owned(), |status| status.to_string());
    let answered_by = result
        .model_route
        .as_deref()
        .map(|route| format!(", answered by {route}"))
        .unwrap_or_default();
    format!(
        "[{done}/{total}] {verdict} {}{} ({status}, {} ms{answered_by})",
        result.id,
        route_suffix(result.route.as_deref()),
        result.latency_ms
    )
}

async fn run_case(target: &Target, case: &Case, route: Option<&str>) -> CaseResult {
    let started = std::time::Instant::now();
    let mut result = CaseResult {
        id: case.id.clone(),
        route: route.map(str::to_owned),
        passed: false,
        failures: Vec::new(),
        status: None,
        latency_ms: 0,
        request_id: None,
        model_route: None,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: 0.0,
        degraded: false,
        incident_id: None,
        error_type: None,
    };
    let response = match target.chat(&case.request_body(), route).await {
        Ok(response) => response,
        Err(error) => {
            result.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            result.failures.push(format!("request failed: {error:#}"));
            return result;
        }
    };
    result.failures = case.expect.check(&response);
    result.passed = result.failures.is_empty();
    result.status = Some(response.status);
    result.latency_ms = response.latency_ms;

    let body = &response.body;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    result.request_id = text(&body["request_id"]).or_else(|| text(&body["error"]["request_id"]));
    result.model_route = text(&body["model_route"]);
    result.input_tokens = body["usage"]["input_tokens"].as_u64().unwrap_or(0);
    result.output_tokens = body["usage"]["output_tokens"].as_u64().unwrap_or(0);
    result.cost_usd = body["cost_usd"].as_f64().unwrap_or(0.0);
    result.degraded = body["degraded"].as_bool().unwrap_or(false);
    result.incident_id = text(&body["incident_id"]);
    result.error_type = text(&body["error"]["type"]);
    result
}
