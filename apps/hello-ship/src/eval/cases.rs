//! The golden case format: one JSON object per line, and the checks each case
//! makes on a `/chat` response.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context as _, bail};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One golden case. Unknown keys are errors, so a misspelt check is reported
/// instead of skipped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Case {
    pub(crate) id: String,
    /// The user message; or `messages`.
    #[serde(default)]
    pub(crate) input: Option<String>,
    #[serde(default)]
    pub(crate) messages: Option<Vec<Message>>,
    /// A model alias; the server's `default` when absent.
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) max_tokens: Option<u32>,
    #[serde(default)]
    pub(crate) expect: Expect,
}

/// A message of a conversation, as `/chat` accepts it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Message {
    pub(crate) role: String,
    pub(crate) content: String,
}

/// The checks of a case. With no key set, the case expects a 200 with a
/// non-empty answer that is not degraded.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// Strings that must each appear in the answer, ignoring case.
    #[serde(default)]
    contains: Vec<String>,
    /// Strings that must not appear in the answer, ignoring case.
    #[serde(default)]
    not_contains: Vec<String>,
    /// A pattern in Rust `regex` syntax that must match the answer.
    #[serde(default)]
    regex: Option<String>,
    #[serde(skip)]
    compiled_regex: Option<Regex>,
    /// Whether the answer must parse as JSON.
    #[serde(default)]
    json: bool,
    /// Slowest acceptable response, in milliseconds.
    #[serde(default)]
    max_latency_ms: Option<u64>,
    /// The expected HTTP status; 200 unless `blocked` is true.
    #[serde(default)]
    status: Option<u16>,
    /// Whether an input guardrail must block the request (422
    /// `guardrail_blocked`).
    #[serde(default)]
    blocked: Option<bool>,
    /// Whether the answer must be the degraded answer; `false` when absent.
    #[serde(default)]
    degraded: Option<bool>,
}

/// The server's response to one case.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) latency_ms: u64,
    pub(crate) body: Value,
}

impl Case {
    /// Builds the `/chat` body. Every request carries `feature: "eval"`, so
    /// eval traffic is labelled in the server's logs and cost records.
    pub(crate) fn request_body(&self) -> Value {
        let mut body = serde_json::json!({"feature": "eval"});
        if let Some(input) = &self.input {
            body["message"] = Value::from(input.as_str());
        }
        if let Some(messages) = &self.messages {
            body["messages"] = serde_json::to_value(messages).unwrap_or_default();
        }
        if let Some(model) = &self.model {
            body["model"] = Value::from(model.as_str());
        }
        if let Some(max_tokens) = self.max_tokens {
            body["max_tokens"] = Value::from(max_tokens);
        }
        body
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        if self.id.trim().is_empty() {
            bail!("id must not be empty");
        }
        match (&self.input, &self.messages) {
            (Some(_), Some(_)) => bail!("set input or messages, not both"),
            (None, None) => bail!("set input (a string) or messages (a list of {{role, content}})"),
            (None, Some(messages)) if messages.is_empty() => bail!("messages must not be empty"),
            _ => {}
        }
        self.expect.validate()
    }
}

impl Expect {
    /// Returns the status the case expects.
    fn expected_status(&self) -> u16 {
        match (self.status, self.blocked) {
            (Some(status), _) => status,
            (None, Some(true)) => 422,
            (None, _) => 200,
        }
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        let status = self.expected_status();
        if !(100..=599).contains(&status) {
            bail!("expect.status: {status} is not an HTTP status");
        }
        if self.blocked == Some(true) && status != 422 {
            bail!("expect.blocked is true, so expect.status must be 422 or absent");
        }
        if let Some(pattern) = &self.regex {
            let compiled = Regex::new(pattern)
                .with_context(|| format!("expect.regex: invalid pattern {pattern:?}"))?;
            self.compiled_regex = Some(compiled);
        }
        let answer_checks = !self.contains.is_empty()
            || !self.not_contains.is_empty()
            || self.regex.is_some()
            || self.json
            || self.degraded.is_some();
        if status != 200 && answer_checks {
            bail!(
                "contains, not_contains, regex, json and degraded check the answer of a 200, but this case expects status {status}"
            );
        }
        Ok(())
    }

    /// Checks a response and returns one reason per failed check; empty when
    /// the case passed.
    pub(crate) fn check(&self, response: &Response) -> Vec<String> {
        let mut failures = Vec::new();
        let error_type = response.body["error"]["type"].as_str();
        let expected = self.expected_status();
        if response.status != expected {
            let detail = match (error_type, response.body["error"]["message"].as_str()) {
                (Some(kind), Some(message)) => format!(" ({kind}: {message})"),
                _ => String::new(),
            };
            failures.push(format!(
                "status {}{detail}, expected {expected}",
                response.status
            ));
        }
        let blocked = response.status == 422 && error_type == Some("guardrail_blocked");
        match self.blocked {
            Some(true) if !blocked => failures.push(format!(
                "expected a guardrail block (422 guardrail_blocked), got status {} {}",
                response.status,
                error_type.unwrap_or("without an error type")
            )),
            Some(false) if blocked => {
                failures.push("an input guardrail blocked the request".into())
            }
            _ => {}
        }
        if let Some(max) = self.max_latency_ms {
            if response.latency_ms > max {
                failures.push(format!(
                    "latency {} ms is over max_latency_ms {max}",
                    response.latency_ms
                ));
            }
        }
        if response.status == 200 && expected == 200 {
            self.check_answer(&response.body, &mut failures);
        }
        failures
    }

    fn check_answer(&self, body: &Value, failures: &mut Vec<String>) {
        let Some(answer) = body["answer"].as_str() else {
            failures.push("the 200 response has no answer field".into());
            return;
        };
        if answer.trim().is_empty() {
            failures.push("the answer is empty".into());
        }
        let degraded = body["degraded"].as_bool().unwrap_or(false);
        let expected_degraded = self.degraded.unwrap_or(false);
        if degraded != expected_degraded {
            let incident = body["incident_id"]
                .as_str()
                .map(|id| format!(" (incident {id})"))
                .unwrap_or_default();
            failures.push(format!(
                "degraded is {degraded}{incident}, expected {expected_degraded}"
            ));
        }
        let lower = answer.to_lowercase();
        for needle in &self.contains {
            if !lower.contains(&needle.to_lowercase()) {
                failures.push(format!("the answer does not contain {needle:?}"));
            }
        }
        for needle in &self.not_contains {
            if lower.contains(&needle.to_lowercase()) {
                failures.push(format!("the answer contains {needle:?}"));
            }
        }
        if let Some(regex) = &self.compiled_regex {
            if !regex.is_match(answer) {
                failures.push(format!(
                    "the answer does not match regex {:?}",
                    regex.as_str()
                ));
            }
        }
        if self.json {
            if let Err(error) = serde_json::from_str::<Value>(answer.trim()) {
                failures.push(format!("the answer is not JSON: {error}"));
            }
        }
    }
}

/// Reads a case file. Blank lines are skipped.
///
/// # Errors
///
/// Returns the first invalid line with its number: bad JSON, an unknown key, a
/// missing `input`, an invalid regex, a duplicate id or contradicting checks.
pub(crate) fn load(path: &Path) -> anyhow::Result<Vec<Case>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the case file {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid case file {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut case: Case =
            serde_json::from_str(line).with_context(|| format!("line {number}"))?;
        case.validate()
            .with_context(|| format!("line {number} (case {:?})", case.id))?;
        if !ids.insert(case.id.clone()) {
            bail!(
                "line {number}: the id {:?} is used by an earlier case",
                case.id
            );
        }
        cases.push(case);
    }
    if cases.is_empty() {
        bail!("no cases: the file has no JSON lines");
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("the text is invalid"))
    }

    fn response(status: u16, body: Value) -> Response {
        Response {
            status,
            latency_ms: 10,
            body,
        }
    }

    #[test]
    fn unknown_key_names_line() {
        let text = "{\"id\": \"a\", \"input\": \"x\"}\n{\"id\": \"b\", \"input\": \"x\", \"expect\": {\"contain\": [\"y\"]}}\n";
        let error = error_of(text);
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("contain"), "{error}");
    }

    #[test]
    fn duplicate_id_is_rejected() {
        let error =
            error_of("{\"id\": \"a\", \"input\": \"x\"}\n\n{\"id\": \"a\", \"input\": \"y\"}");
        assert!(error.contains("line 3"), "{error}");
        assert!(error.contains("earlier case"), "{error}");
    }

    #[test]
    fn input_or_messages_is_required() {
        let error = error_of("{\"id\": \"a\"}");
        assert!(error.contains("set input"), "{error}");
    }

    #[test]
    fn answer_check_on_error_status_is_rejected() {
        let error = error_of(
            "{\"id\": \"a\", \"input\": \"x\", \"expect\": {\"status\": 413, \"contains\": [\"y\"]}}",
        );
        assert!(error.contains("expects status 413"), "{error}");
    }

    #[test]
    fn invalid_regex_is_rejected() {
        let error = error_of("{\"id\": \"a\", \"input\": \"x\", \"expect\": {\"regex\": \"(\"}}");
        assert!(error.contains("expect.regex"), "{error}");
    }

    #[test]
    fn checks_report_each_failure() {
        let cases = parse(
            "{\"id\": \"a\", \"input\": \"x\", \"expect\": {\"contains\": [\"HELLO\"], \"not_contains\": [\"4111\"], \"regex\": \"^You\", \"json\": true, \"max_latency_ms\": 5}}",
        )
        .unwrap();
        let expect = &cases[0].expect;

        let passing = response(
            200,
            serde_json::json!({"answer": "hello", "degraded": false}),
        );
        let failures = expect.check(&passing);
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures.iter().any(|f| f.contains("regex")), "{failures:?}");
        assert!(
            failures.iter().any(|f| f.contains("not JSON")),
            "{failures:?}"
        );
        assert!(
            failures.iter().any(|f| f.contains("latency")),
            "{failures:?}"
        );

        let leaking = response(
            200,
            serde_json::json!({"answer": "card 4111", "degraded": false}),
        );
        let failures = expect.check(&leaking);
        assert!(
            failures.iter().any(|f| f.contains("\"4111\"")),
            "{failures:?}"
        );
        assert!(
            failures.iter().any(|f| f.contains("\"HELLO\"")),
            "{failures:?}"
        );
    }

    #[test]
    fn blocked_expects_guardrail_error() {
        let cases =
            parse("{\"id\": \"a\", \"input\": \"x\", \"expect\": {\"blocked\": true}}").unwrap();
        let expect = &cases[0].expect;
        let blocked = response(
            422,
            serde_json::json!({"error": {"type": "guardrail_blocked", "message": "blocked"}}),
        );
        assert!(expect.check(&blocked).is_empty());

        let answered = response(200, serde_json::json!({"answer": "ok", "degraded": false}));
        let failures = expect.check(&answered);
        assert!(
            failures.iter().any(|f| f.contains("expected 422")),
            "{failures:?}"
        );
        assert!(
            failures.iter().any(|f| f.contains("guardrail block")),
            "{failures:?}"
        );
    }

    #[test]
    fn degraded_answer_fails_by_default() {
        let cases = parse("{\"id\": \"a\", \"input\": \"x\"}").unwrap();
        let degraded = response(
            200,
            serde_json::json!({"answer": "unavailable", "degraded": true, "incident_id": "INC-1"}),
        );
        let failures = cases[0].expect.check(&degraded);
        assert_eq!(
            failures,
            ["degraded is true (incident INC-1), expected false"]
        );
    }
}
