//! The official OpenAI and Anthropic Python SDKs against the real server.
//!
//! Each test starts hello-ship, runs one scenario of `tests/sdk/*.py` with the
//! SDK's base URL on it, and checks what the SDK returned or raised. Tool
//! calls come from a fake OpenAI-compatible upstream that replays recorded
//! transcripts from `testdata/fixtures/` byte for byte.
//!
//! The SDKs live in `target/sdk-venv`, which `scripts/install-test-deps.sh`
//! creates. Without them these tests fail, unless `HELLO_SHIP_SKIP_SDK=1`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, TEST_KEY};

/// The mock route's answer: several sentences, because streamed text is
/// released a sentence at a time.
const ANSWER: &str = "One. Two. Three. Four.";

/// A key whose tenant may send one request per minute.
const LIMITED_KEY: &str = "limited-key-0001";

/// SHA-256 of [`LIMITED_KEY`].
const LIMITED_KEY_SHA256: &str = "1f4b45c691c5c7deff24c01bdcbd98cb8c59d9babc5357a45ed5e1d5728f7566";

/// Longest a scenario may run; each SDK call has its own 20 s timeout.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);

/// Routes for every test: `default` is a mock with fault directives, and
/// `tools` is an OpenAI-compatible server at `upstream`.
fn config(upstream: &Upstream) -> String {
    format!(
        r#"
[retry]
base_delay_ms = 1
max_delay_ms = 5

[[routes]]
name = "mock"
provider = "mock"
model = "mock-1"
mock = {{ answer = "{ANSWER}", directives = true }}

[[routes]]
name = "tools"
provider = "openai-compatible"
model = "gpt-4o-mini"
base_url = "{}"

[models.default]
chain = ["mock"]

[models.tools]
chain = ["tools"]
"#,
        upstream.base_url
    )
}

/// Starts a fake upstream and hello-ship with the test tenant.
fn start() -> (Server, Upstream) {
    let upstream = Upstream::start();
    let server = Server::with_config(&config(&upstream));
    (server, upstream)
}

/// A fake OpenAI-compatible server on 127.0.0.1. It returns a recorded tool
/// call for every chat completion request, streamed or whole as the request
/// sets, and records each request body.
struct Upstream {
    base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Upstream {
    /// Connections served before the accept loop ends; no test needs more.
    const MAX_CONNECTIONS: usize = 32;

    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake upstream");
        let addr = listener.local_addr().expect("fake upstream address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(Self::MAX_CONNECTIONS) {
                let Ok(stream) = stream else { continue };
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let _ = serve_upstream(stream, &recorded);
                });
            }
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            requests,
        }
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("upstream lock").clone()
    }
}

/// Reads one request and replays a fixture, then closes the connection.
fn serve_upstream(mut stream: TcpStream, recorded: &Mutex<Vec<Value>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let streamed = request["stream"] == true;
    recorded.lock().expect("upstream lock").push(request);

    let (content_type, payload) = if streamed {
        (
            "text/event-stream",
            fixture("openai-chat-stream-tool-calls-usage.sse"),
        )
    } else {
        (
            "application/json",
            fixture("openai-chat-nonstream-tool-calls.json"),
        )
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(&payload)?;
    stream.flush()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../testdata/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("read {path}: {error}"))
}

/// Finds the venv's Python, or returns `None` when `HELLO_SHIP_SKIP_SDK=1`.
/// Panics with the fix when the venv is missing.
#[allow(clippy::print_stderr, reason = "a skipped test says so")]
fn sdk_python() -> Option<PathBuf> {
    if std::env::var("HELLO_SHIP_SKIP_SDK").as_deref() == Ok("1") {
        eprintln!("HELLO_SHIP_SKIP_SDK=1: skipping the SDK test");
        return None;
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the SDK tests need the openai and anthropic Python packages; \
         run scripts/install-test-deps.sh, or set HELLO_SHIP_SKIP_SDK=1 to skip these tests",
        python.display()
    );
    Some(python)
}

/// Runs `scenario` of `tests/sdk/{script}` against `server` and returns the
/// JSON it printed.
fn run_sdk(
    python: &PathBuf,
    script: &str,
    scenario: &str,
    server: &Server,
    key: &str,
    model: &str,
) -> Value {
    let script_path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(python);
    command
        .arg(&script_path)
        .arg(scenario)
        .env("HELLO_SHIP_BASE_URL", &server.base_url)
        .env("HELLO_SHIP_API_KEY", key)
        .env("HELLO_SHIP_MODEL", model)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    // The SDKs read these; none may point them anywhere but the test server.
    for variable in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
    ] {
        command.env_remove(variable);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", python.display()));

    let deadline = Instant::now() + SCENARIO_TIMEOUT;
    while child.try_wait().expect("poll the SDK script").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{script} {scenario} ran longer than {SCENARIO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect the SDK output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} {scenario} failed with {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let last_line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last_line)
        .unwrap_or_else(|error| panic!("{script} {scenario} printed no JSON ({error}): {stdout}"))
}

fn openai(python: &PathBuf, scenario: &str, server: &Server, model: &str) -> Value {
    run_sdk(
        python,
        "openai_client.py",
        scenario,
        server,
        TEST_KEY,
        model,
    )
}

fn anthropic(python: &PathBuf, scenario: &str, server: &Server, model: &str) -> Value {
    run_sdk(
        python,
        "anthropic_client.py",
        scenario,
        server,
        TEST_KEY,
        model,
    )
}

fn completion_log(server: &Server, request_id: &str) -> Value {
    server
        .wait_for_log(
            "request_completed",
            Some(request_id),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("request_completed logged for {request_id}"))
}

/// Starts hello-ship with only the tenant of [`LIMITED_KEY`], limited to one
/// request per minute.
fn start_limited() -> (Server, Upstream) {
    let upstream = Upstream::start();
    let tenant = format!(
        "\n[[tenants]]\nid = \"limited\"\nkey_sha256 = \"{LIMITED_KEY_SHA256}\"\nrpm = 1\n"
    );
    let server = Server::with_config(&format!("{}{tenant}", config(&upstream)));
    (server, upstream)
}

/// Checks that the upstream got the conversation's earlier tool call and its
/// result, and the tools, in OpenAI's shape.
fn assert_upstream_got_tools(upstream: &Upstream, call_id: &str) {
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request["model"], "gpt-4o-mini");
    assert_eq!(request["tools"][0]["type"], "function");
    assert_eq!(request["tools"][0]["function"]["name"], "multiply");
    assert_eq!(
        request["tools"][0]["function"]["description"],
        "Multiplies two integers"
    );
    assert_eq!(
        request["tools"][0]["function"]["parameters"]["required"],
        json!(["a", "b"])
    );
    let messages = request["messages"].as_array().expect("messages array");
    let assistant = messages
        .iter()
        .find(|message| message["role"] == "assistant")
        .expect("the assistant's tool call reached the upstream");
    assert_eq!(assistant["tool_calls"][0]["id"], call_id);
    assert_eq!(assistant["tool_calls"][0]["type"], "function");
    assert_eq!(assistant["tool_calls"][0]["function"]["name"], "multiply");
    let arguments: Value = serde_json::from_str(
        assistant["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .expect("arguments text"),
    )
    .expect("arguments are JSON");
    assert_eq!(arguments, json!({"a": 2, "b": 3}));
    let result = messages
        .iter()
        .find(|message| message["role"] == "tool")
        .expect("the tool result reached the upstream");
    assert_eq!(result["tool_call_id"], call_id);
    assert_eq!(result["content"], "6");
}

#[test]
fn openai_create() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "create", &server, "default");

    let request_id = out["request_id"]
        .as_str()
        .expect("x-request-id read by the SDK");
    assert!(request_id.starts_with("req_"), "{out}");
    assert_eq!(out["id"], format!("chatcmpl-{request_id}"));
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["model"], "default");
    assert!(out["created"].as_u64().expect("created") > 1_700_000_000);
    assert_eq!(out["role"], "assistant");
    assert_eq!(out["content"], ANSWER);
    assert_eq!(out["finish_reason"], "stop");
    let usage = &out["usage"];
    assert!(
        usage["prompt_tokens"].as_u64().expect("prompt_tokens") > 0,
        "{out}"
    );
    assert!(
        usage["completion_tokens"]
            .as_u64()
            .expect("completion_tokens")
            > 0,
        "{out}"
    );
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    assert_eq!(out["hello_ship"]["request_id"], request_id);
    assert_eq!(out["hello_ship"]["model_route"], "mock");
    assert_eq!(out["hello_ship"]["degraded"], false);

    let log = completion_log(&server, request_id);
    assert_eq!(log["status"], "ok");
    assert_eq!(log["user_id"], "sdk-user", "user becomes user_id: {log}");
    assert_eq!(log["model_route"], "mock");
}

#[test]
fn openai_stream_with_usage() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "stream_usage", &server, "default");

    assert_eq!(out["text"], ANSWER);
    assert_eq!(out["objects"], json!(["chat.completion.chunk"]));
    assert_eq!(out["ids"].as_array().map(Vec::len), Some(1), "{out}");
    assert!(out["ids"][0].as_str().unwrap().starts_with("chatcmpl-req_"));
    assert_eq!(out["first_role"], "assistant");
    assert_eq!(out["finish_reasons"], json!(["stop"]));
    assert_eq!(out["last_choices"], 0, "the usage chunk has no choices");
    let usage = &out["last_usage"];
    assert!(
        usage["prompt_tokens"].as_u64().expect("prompt_tokens") > 0,
        "{out}"
    );
    assert!(
        usage["completion_tokens"]
            .as_u64()
            .expect("completion_tokens")
            > 0,
        "{out}"
    );
    let earlier = out["usage_before_last"].as_array().expect("list");
    assert!(
        earlier.iter().all(|has_usage| has_usage == false),
        "only the last chunk carries usage: {out}"
    );
}

#[test]
fn openai_stream_without_usage_option() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "stream_plain", &server, "default");
    assert!(out["chunks"].as_u64().expect("chunks") >= 3, "{out}");
    assert_eq!(out["with_usage"], 0, "{out}");
    assert_eq!(out["without_choices"], 0, "{out}");
}

#[test]
fn openai_tool_call() {
    let Some(python) = sdk_python() else { return };
    let (server, upstream) = start();
    let out = openai(&python, "tools", &server, "tools");

    assert_eq!(out["finish_reason"], "tool_calls");
    assert_eq!(out["content"], Value::Null);
    assert_eq!(
        out["tool_calls"],
        json!([{"id": "call_TTY8UFNo7rNCaOBUNtlRSvMG", "type": "function",
            "name": "lookup_population", "arguments": "{\"country\":\"Crumpet\"}"}])
    );
    assert_eq!(out["usage"]["prompt_tokens"], 92);
    assert_eq!(out["usage"]["completion_tokens"], 17);
    assert_upstream_got_tools(&upstream, "call_earlier");
}

#[test]
fn openai_streamed_tool_call() {
    let Some(python) = sdk_python() else { return };
    let (server, upstream) = start();
    let out = openai(&python, "tools_stream", &server, "tools");

    assert_eq!(
        out["tool_calls"],
        json!([{"id": "call_1EYWDzueHEp8OsB8jJSEp7WB", "name": "multiply",
            "arguments": "{\"a\":1231,\"b\":2331}"}])
    );
    assert_eq!(out["finish_reasons"], json!(["tool_calls"]));
    assert_eq!(out["usage"]["prompt_tokens"], 54);
    assert_eq!(out["usage"]["completion_tokens"], 20);
    assert_upstream_got_tools(&upstream, "call_earlier");
}

#[test]
fn openai_bad_key() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "bad_key", &server, "default");
    assert_eq!(out["error"], "AuthenticationError", "{out}");
    assert_eq!(out["status"], 401);
    assert_eq!(out["code"], "invalid_api_key");
    assert_eq!(out["type"], "invalid_request_error");
}

#[test]
fn openai_rate_limit() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start_limited();
    let out = run_sdk(
        &python,
        "openai_client.py",
        "rate_limit",
        &server,
        LIMITED_KEY,
        "default",
    );
    assert_eq!(out["first"], ANSWER, "{out}");
    assert_eq!(out["error"], "RateLimitError", "{out}");
    assert_eq!(out["status"], 429);
    assert_eq!(out["code"], "rate_limit_exceeded");
    let retry_after: u64 = out["retry_after"]
        .as_str()
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&retry_after), "{out}");
}

#[test]
fn openai_unknown_model_is_404() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "unknown_model", &server, "default");
    assert_eq!(out["error"], "NotFoundError", "{out}");
    assert_eq!(out["status"], 404);
    assert_eq!(out["code"], "model_not_found");
    let message = out["message"].as_str().expect("message");
    assert!(message.contains("default"), "lists the aliases: {message}");
}

#[test]
fn openai_n_above_one_is_rejected() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "n_two", &server, "default");
    assert_eq!(out["error"], "BadRequestError", "{out}");
    assert_eq!(out["status"], 400);
    assert!(
        out["message"].as_str().expect("message").contains("n = 2"),
        "{out}"
    );
}

#[test]
fn openai_guardrail_block_is_400() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "blocked", &server, "default");
    assert_eq!(out["error"], "BadRequestError", "{out}");
    assert_eq!(out["status"], 400);
    assert_eq!(out["code"], "content_filter");
    assert_eq!(out["type"], "invalid_request_error");
}

#[test]
fn openai_broken_stream_raises() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "broken_stream", &server, "default");

    assert_eq!(out["error"], "APIError", "the SDK raises: {out}");
    assert_eq!(out["code"], "upstream_overloaded");
    assert_eq!(out["type"], "server_error");
    let text = out["text"].as_str().expect("text");
    assert!(
        text.starts_with("One."),
        "partial text arrived first: {out}"
    );
    assert_ne!(text, ANSWER, "the answer is cut: {out}");
    let log = server
        .wait_for_log("request_completed", None, Duration::from_secs(5))
        .expect("request_completed");
    assert_eq!(log["status"], "error");
}

#[test]
fn openai_degraded_answer() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "degraded", &server, "default");
    assert_eq!(
        out["content"],
        "The assistant is unavailable right now. Please try again in a few minutes."
    );
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["hello_ship"]["degraded"], true);
    assert_eq!(out["hello_ship"]["model_route"], Value::Null);
    let incident = out["hello_ship"]["incident_id"]
        .as_str()
        .expect("incident_id");
    assert!(incident.starts_with("INC-"), "{out}");
}

#[test]
fn openai_models_lists_aliases() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = openai(&python, "models", &server, "default");
    assert_eq!(out["ids"], json!(["default", "tools"]));
}

#[test]
fn anthropic_create() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "create", &server, "default");

    let id = out["id"].as_str().expect("id");
    let request_id = id.strip_prefix("msg_").expect("msg_ prefix");
    assert!(request_id.starts_with("req_"), "{out}");
    assert_eq!(out["type"], "message");
    assert_eq!(out["role"], "assistant");
    assert_eq!(out["model"], "default");
    assert_eq!(out["content"], json!([{"type": "text", "text": ANSWER}]));
    assert_eq!(out["stop_reason"], "end_turn");
    assert!(
        out["usage"]["input_tokens"].as_u64().expect("input_tokens") > 0,
        "{out}"
    );
    assert!(
        out["usage"]["output_tokens"]
            .as_u64()
            .expect("output_tokens")
            > 0,
        "{out}"
    );
    assert_eq!(out["hello_ship"]["model_route"], "mock");

    let log = completion_log(&server, request_id);
    assert_eq!(log["status"], "ok");
    assert_eq!(
        log["user_id"], "sdk-user",
        "metadata.user_id becomes user_id: {log}"
    );
}

#[test]
fn anthropic_stream() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "stream", &server, "default");

    let events: Vec<&str> = out["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(events.first(), Some(&"message_start"), "{out}");
    assert_eq!(events.last(), Some(&"message_stop"), "{out}");
    for name in [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
    ] {
        assert!(events.contains(&name), "{name} missing: {out}");
    }
    assert_eq!(out["text"], ANSWER);
    assert_eq!(out["stop_reason"], "end_turn");
    assert!(
        out["usage"]["input_tokens"].as_u64().expect("input_tokens") > 0,
        "{out}"
    );
    assert!(
        out["usage"]["output_tokens"]
            .as_u64()
            .expect("output_tokens")
            > 0,
        "{out}"
    );
    assert!(out["id"].as_str().expect("id").starts_with("msg_req_"));
}

#[test]
fn anthropic_tool_use() {
    let Some(python) = sdk_python() else { return };
    let (server, upstream) = start();
    let out = anthropic(&python, "tools", &server, "tools");

    assert_eq!(
        out["content"],
        json!([{"type": "tool_use", "id": "call_TTY8UFNo7rNCaOBUNtlRSvMG",
            "name": "lookup_population", "input": {"country": "Crumpet"}}])
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["usage"]["input_tokens"], 92);
    assert_eq!(out["usage"]["output_tokens"], 17);
    assert_upstream_got_tools(&upstream, "toolu_earlier");
    let request = &upstream.requests()[0];
    let assistant = request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|message| message["role"] == "assistant")
        .cloned()
        .expect("assistant message");
    assert_eq!(assistant["content"], "Let me multiply.");
}

#[test]
fn anthropic_streamed_tool_use() {
    let Some(python) = sdk_python() else { return };
    let (server, upstream) = start();
    let out = anthropic(&python, "tools_stream", &server, "tools");

    assert_eq!(
        out["content"],
        json!([{"type": "tool_use", "id": "call_1EYWDzueHEp8OsB8jJSEp7WB",
            "name": "multiply", "input": {"a": 1231, "b": 2331}}])
    );
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(out["usage"]["input_tokens"], 54);
    assert_eq!(out["usage"]["output_tokens"], 20);
    assert_upstream_got_tools(&upstream, "toolu_earlier");
}

#[test]
fn anthropic_bad_key() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "bad_key", &server, "default");
    assert_eq!(out["error"], "AuthenticationError", "{out}");
    assert_eq!(out["status"], 401);
    assert_eq!(out["body_type"], "error");
    assert_eq!(out["error_type"], "authentication_error");
}

#[test]
fn anthropic_rate_limit() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start_limited();
    let out = run_sdk(
        &python,
        "anthropic_client.py",
        "rate_limit",
        &server,
        LIMITED_KEY,
        "default",
    );
    assert_eq!(
        out["first"],
        json!([{"type": "text", "text": ANSWER}]),
        "{out}"
    );
    assert_eq!(out["error"], "RateLimitError", "{out}");
    assert_eq!(out["status"], 429);
    assert_eq!(out["error_type"], "rate_limit_error");
    let retry_after: u64 = out["retry_after"]
        .as_str()
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&retry_after), "{out}");
}

#[test]
fn anthropic_missing_max_tokens() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "missing_max_tokens", &server, "default");
    assert_eq!(out["error"], "BadRequestError", "{out}");
    assert_eq!(out["status"], 400);
    assert_eq!(out["error_type"], "invalid_request_error");
    assert!(
        out["message"]
            .as_str()
            .expect("message")
            .contains("max_tokens"),
        "{out}"
    );
}

#[test]
fn anthropic_guardrail_block_is_400() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "blocked", &server, "default");
    assert_eq!(out["error"], "BadRequestError", "{out}");
    assert_eq!(out["status"], 400);
    assert_eq!(out["error_type"], "invalid_request_error");
}

#[test]
fn anthropic_models_lists_aliases() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "models", &server, "default");
    assert_eq!(out["ids"], json!(["default", "tools"]));
}

#[test]
fn anthropic_broken_stream_raises() {
    let Some(python) = sdk_python() else { return };
    let (server, _upstream) = start();
    let out = anthropic(&python, "broken_stream", &server, "default");

    assert_eq!(out["error"], "APIStatusError", "the SDK raises: {out}");
    assert_eq!(out["error_type"], "overloaded_error");
    let text = out["text"].as_str().expect("text");
    assert!(
        text.starts_with("One."),
        "partial text arrived first: {out}"
    );
    assert_ne!(text, ANSWER, "the answer is cut: {out}");
}
