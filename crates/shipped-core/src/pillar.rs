use serde::Serialize;

/// The four properties hello-ship adds to an LLM call. Errors and log events name
/// the pillar they belong to, so a dashboard can group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pillar {
    /// Logs, metrics and traces that explain every request.
    Observable,
    /// Output caps, budgets and rate limits.
    CostControlled,
    /// Retries, fallbacks, circuit breaking and degraded answers.
    GracefullyDegrading,
    /// Golden cases run against deployments and routes.
    Evaluatable,
}
