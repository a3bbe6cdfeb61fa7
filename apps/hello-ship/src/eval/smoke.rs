//! `hello-ship smoke`: the check to run right after a deploy.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::client::Target;

/// Checks that `GET /ready` returns 200 and that one `/chat` request gets a
/// 200 with a non-empty, non-degraded answer and a request id. Returns a
/// one-line description of the passing check.
///
/// # Errors
///
/// Returns the first check that failed, with what the server returned.
pub(crate) async fn smoke(target: &Target) -> anyhow::Result<String> {
    let (status, body) = target.get("/ready").await.context("GET /ready failed")?;
    if status != 200 {
        let reasons = body["reasons"]
            .as_array()
            .map(|reasons| {
                reasons
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|reasons| !reasons.is_empty())
            .unwrap_or_else(|| "no reasons given".to_owned());
        bail!("GET /ready returned {status}, expected 200: {reasons}");
    }

    let body = json!({"message": "Reply with one word: ping", "feature": "smoke"});
    let response = target
        .chat(&body, None)
        .await
        .context("POST /chat failed")?;
    let body = &response.body;
    if response.status != 200 {
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("no error message");
        bail!(
            "POST /chat returned {}, expected 200: {message}",
            response.status
        );
    }
    let request_id = body["request_id"].as_str().unwrap_or_default();
    if request_id.is_empty() {
        bail!("POST /chat returned 200 without a request_id");
    }
    if body["answer"]
        .as_str()
        .is_none_or(|answer| answer.trim().is_empty())
    {
        bail!("POST /chat returned 200 with an empty answer (request {request_id})");
    }
    if body["degraded"].as_bool() == Some(true) {
        let incident = body["incident_id"].as_str().unwrap_or("none");
        bail!(
            "POST /chat returned the degraded answer: every route failed (request {request_id}, incident {incident})"
        );
    }
    let route = body["model_route"].as_str().unwrap_or("unknown");
    Ok(format!(
        "smoke passed: {} is ready and /chat answered from route {route} in {} ms (request {request_id})",
        target.base_url(),
        response.latency_ms
    ))
}
