//! The JSON report of an eval run and its summary on stderr.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

/// The outcome of one case on one route.
#[derive(Debug, Serialize)]
pub(crate) struct CaseResult {
    pub(crate) id: String,
    /// The route the case was forced onto; `None` when the server chose.
    pub(crate) route: Option<String>,
    pub(crate) passed: bool,
    /// One reason per failed check; empty when the case passed.
    pub(crate) failures: Vec<String>,
    /// HTTP status; `None` when no response arrived.
    pub(crate) status: Option<u16>,
    pub(crate) latency_ms: u64,
    pub(crate) request_id: Option<String>,
    /// The route that answered, as the server reports it.
    pub(crate) model_route: Option<String>,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: f64,
    pub(crate) degraded: bool,
    pub(crate) incident_id: Option<String>,
    /// The `error.type` of an error response, e.g. `guardrail_blocked`.
    pub(crate) error_type: Option<String>,
}

impl CaseResult {
    /// The group this result counts in: the forced route, else the route
    /// that answered, else `none` (errors and degraded answers).
    fn group(&self) -> &str {
        self.route
            .as_deref()
            .or(self.model_route.as_deref())
            .unwrap_or("none")
    }
}

/// Counts and latency of a set of results.
#[derive(Debug, Serialize)]
pub(crate) struct Totals {
    pub(crate) cases: usize,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    /// Passed cases over all cases, from 0 to 1.
    pub(crate) pass_rate: f64,
    pub(crate) p50_latency_ms: u64,
    pub(crate) p95_latency_ms: u64,
    pub(crate) max_latency_ms: u64,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: f64,
}

impl Totals {
    fn of<'a>(results: impl Iterator<Item = &'a CaseResult>) -> Self {
        let results: Vec<&CaseResult> = results.collect();
        let passed = results.iter().filter(|result| result.passed).count();
        let mut latencies: Vec<u64> = results.iter().map(|result| result.latency_ms).collect();
        latencies.sort_unstable();
        Self {
            cases: results.len(),
            passed,
            failed: results.len() - passed,
            pass_rate: if results.is_empty() {
                0.0
            } else {
                passed as f64 / results.len() as f64
            },
            p50_latency_ms: percentile(&latencies, 50),
            p95_latency_ms: percentile(&latencies, 95),
            max_latency_ms: latencies.last().copied().unwrap_or(0),
            input_tokens: results.iter().map(|result| result.input_tokens).sum(),
            output_tokens: results.iter().map(|result| result.output_tokens).sum(),
            cost_usd: results.iter().map(|result| result.cost_usd).sum(),
        }
    }
}

/// The state of the fallback drill, when one ran.
#[derive(Debug, Serialize)]
pub(crate) struct DrillReport {
    pub(crate) kind: &'static str,
    pub(crate) alias: String,
    /// The route that was disabled during the run.
    pub(crate) disabled_route: String,
    /// The routes that could answer instead, in chain order.
    pub(crate) fallback_routes: Vec<String>,
    /// Whether the disabled route was enabled again afterwards.
    pub(crate) restored: bool,
    pub(crate) interrupted: bool,
}

/// The whole report, as written to `--report`.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) base_url: String,
    pub(crate) cases_file: String,
    /// Unix time the run started, in seconds.
    pub(crate) started_at_unix: u64,
    pub(crate) min_pass_rate: f64,
    /// Whether the pass rate reached `min_pass_rate`.
    pub(crate) passed: bool,
    pub(crate) totals: Totals,
    /// Totals by route: the forced route, else the route that answered.
    pub(crate) routes: BTreeMap<String, Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) drill: Option<DrillReport>,
    pub(crate) cases: Vec<CaseResult>,
}

impl Report {
    pub(crate) fn new(
        base_url: &str,
        cases_file: &Path,
        started_at_unix: u64,
        min_pass_rate: f64,
        cases: Vec<CaseResult>,
        drill: Option<DrillReport>,
    ) -> Self {
        let totals = Totals::of(cases.iter());
        let mut groups: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
        for result in &cases {
            groups.entry(result.group()).or_default().push(result);
        }
        let routes = groups
            .into_iter()
            .map(|(name, results)| (name.to_owned(), Totals::of(results.into_iter())))
            .collect();
        let restored = drill.as_ref().is_none_or(|drill| drill.restored);
        Self {
            base_url: base_url.to_owned(),
            cases_file: cases_file.display().to_string(),
            started_at_unix,
            min_pass_rate,
            passed: totals.cases > 0 && totals.pass_rate >= min_pass_rate && restored,
            totals,
            routes,
            drill,
            cases,
        }
    }

    /// Writes the report as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// Returns the I/O error with the path.
    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("cannot encode the report")?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))
    }

    /// Formats the summary printed at the end of a run: a table by route, the
    /// failed cases and the verdict.
    pub(crate) fn summary(&self) -> String {
        let mut lines = vec![format!(
            "{:<24} {:>6} {:>6} {:>6} {:>8} {:>8}",
            "route", "cases", "passed", "failed", "p50 ms", "p95 ms"
        )];
        for (route, totals) in &self.routes {
            lines.push(format!(
                "{:<24} {:>6} {:>6} {:>6} {:>8} {:>8}",
                route,
                totals.cases,
                totals.passed,
                totals.failed,
                totals.p50_latency_ms,
                totals.p95_latency_ms
            ));
        }
        for result in self.cases.iter().filter(|result| !result.passed) {
            lines.push(format!(
                "FAIL {}{}: {}",
                result.id,
                route_suffix(result.route.as_deref()),
                result.failures.join("; ")
            ));
        }
        if let Some(drill) = &self.drill {
            lines.push(format!(
                "drill {}: route {:?} {}",
                drill.kind,
                drill.disabled_route,
                if drill.restored {
                    "was enabled again"
                } else {
                    "is STILL DISABLED: enable it with POST /admin/routes/{name}/enable"
                }
            ));
        }
        lines.push(format!(
            "pass rate {:.1}% ({}/{}), minimum {:.1}%, p95 latency {} ms: {}",
            self.totals.pass_rate * 100.0,
            self.totals.passed,
            self.totals.cases,
            self.min_pass_rate * 100.0,
            self.totals.p95_latency_ms,
            if self.passed { "PASSED" } else { "FAILED" }
        ));
        lines.join("\n")
    }
}

/// Formats " on route NAME" for a forced route, else nothing.
pub(crate) fn route_suffix(route: Option<&str>) -> String {
    route
        .map(|name| format!(" on route {name}"))
        .unwrap_or_default()
}

/// Returns the nearest-rank percentile of sorted values, or 0 for no values.
fn percentile(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_nearest_rank() {
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 95), 19);
        assert_eq!(percentile(&values, 50), 10);
        assert_eq!(percentile(&[7], 95), 7);
        assert_eq!(percentile(&[], 95), 0);
    }
}
