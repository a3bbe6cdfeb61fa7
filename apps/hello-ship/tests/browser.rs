//! The chat page at `GET /`: its headers over plain HTTP, and its behaviour in
//! headless Chromium, driven by `tests/browser/chat.mjs` through playwright-core.
//!
//! The browser tests need Debian's `chromium`, Node.js and the npm packages of
//! `tests/browser/`, which `scripts/install-test-deps.sh` installs. A missing
//! one fails the test with the fix, unless `HELLO_SHIP_SKIP_BROWSER=1` is set.
//! Screenshots land in `target/browser-screenshots/`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use support::{Server, TEST_KEY, client};

const CHROMIUM: &str = "/usr/bin/chromium";

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One route whose every call fails before its first token with a
/// `mock:status=503` message, so the response is the degraded answer. Short
/// retry delays keep the test fast.
const ONLY_FAILING_ROUTE: &str = r#"
[retry]
base_delay_ms = 1
max_delay_ms = 5
[[routes]]
name = "only"
provider = "mock"
model = "m"
mock = { directives = true }
"#;

/// The demo provider behind a server that requires an API key.
const KEYED_DEMO_ROUTE: &str = r#"
[[routes]]
name = "demo"
provider = "mock"
model = "m"
mock = { directives = true }
"#;

/// Maximum wait for one message from the driver script. The script stops
/// itself after 90 s.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(100);

/// Serializes the browser tests: one Chromium at a time keeps the timing
/// checks from competing with each other for CPU.
static BROWSER: Mutex<()> = Mutex::new(());

// --- HTTP ------------------------------------------------------------------------

#[tokio::test]
async fn page_has_security_headers() {
    let server = Server::demo();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(
            headers["content-security-policy"], CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(headers.contains_key("etag"), "{path}");
        assert!(headers.contains_key("x-request-id"), "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
    }
}

#[tokio::test]
async fn page_loads_script_from_own_origin() {
    let server = Server::demo();
    let html = client()
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<script src="/app.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/style.css">"#));
    assert!(html.contains(r#"<label for="message">"#));
}

#[tokio::test]
async fn page_etag_revalidates_to_304() {
    let server = Server::demo();
    let first = client().get(server.url("/")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    assert!(etag.ends_with('"'), "{etag}");

    let revalidated = client()
        .get(server.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], etag.as_str());
    assert_eq!(
        revalidated.headers()["content-security-policy"],
        CONTENT_SECURITY_POLICY
    );
    assert!(revalidated.text().await.unwrap().is_empty());

    let stale = client()
        .get(server.url("/"))
        .header("if-none-match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn page_head_has_no_body() {
    let server = Server::demo();
    let response = client().head(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(response.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn page_rejects_other_methods() {
    let server = Server::demo();
    for path in ["/", "/app.js", "/style.css"] {
        let response = client().post(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{path}");
    }
}

#[tokio::test]
async fn not_found_lists_page() {
    let server = Server::demo();
    let response = client()
        .get(server.url("/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("the API has /, /health"), "{message}");
}

// --- Browser -----------------------------------------------------------------------

#[test]
fn browser_streams_tokens_before_done() {
    let Some(_browser) = browser() else { return };
    let server = Server::demo();
    let result = Driver::start("stream", &server).finish();
    let request_id = result["request_id"].as_str().unwrap();
    let completed = completion_log(&server, request_id);
    assert_eq!(completed["status"], "ok");
}

#[test]
fn browser_stop_disconnects_upstream() {
    let Some(_browser) = browser() else { return };
    let server = Server::demo();
    let mut driver = Driver::start("stop", &server);

    let stopped = driver.expect("stopped");
    let request_id = stopped["request_id"].as_str().unwrap().to_owned();
    let completed = server.wait_for_log(
        "request_completed",
        Some(&request_id),
        Duration::from_secs(2),
    );
    let disconnected =
        server.wait_for_log("client_disconnected", Some(&request_id), Duration::ZERO);
    driver.reply("ok");

    let completed = completed
        .unwrap_or_else(|| panic!("no request_completed for {request_id} within 2 s of Stop"));
    assert_eq!(completed["status"], "client_disconnected");
    assert_eq!(completed["http_status"], 499);
    assert!(
        disconnected.is_some(),
        "no client_disconnected event for {request_id}"
    );
    let result = driver.finish();
    assert_eq!(result["request_id"], request_id.as_str());
}

#[test]
fn browser_error_frame_keeps_partial() {
    let Some(_browser) = browser() else { return };
    let server = Server::demo();
    let result = Driver::start("error", &server).finish();
    let request_id = result["request_id"].as_str().unwrap();
    let completed = completion_log(&server, request_id);
    assert_eq!(completed["status"], "error");
    assert_eq!(completed["incident_id"], result["incident_id"]);
    let tokens_emitted = completed["tokens_emitted"].as_u64().unwrap_or(0);
    assert!(tokens_emitted > 0, "{completed}");
}

#[test]
fn browser_shows_script_as_text() {
    let Some(_browser) = browser() else { return };
    let server = Server::demo();
    let result = Driver::start("script", &server).finish();
    let request_id = result["request_id"].as_str().unwrap();
    assert_eq!(completion_log(&server, request_id)["status"], "ok");
}

#[test]
fn browser_marks_degraded_answer() {
    let Some(_browser) = browser() else { return };
    let server = Server::with_config(ONLY_FAILING_ROUTE);
    let result = Driver::start("degraded", &server).finish();
    assert_eq!(
        result["text"],
        "The assistant is unavailable right now. Please try again in a few minutes."
    );
    let request_id = result["request_id"].as_str().unwrap();
    let completed = completion_log(&server, request_id);
    assert_eq!(completed["status"], "degraded");
    assert_eq!(completed["incident_id"], result["incident_id"]);
}

#[test]
fn browser_sse_parser_cases() {
    let Some(_browser) = browser() else { return };
    let server = Server::demo();
    let result = Driver::start("parser", &server).finish();
    assert!(result["cases"].as_u64().unwrap() >= 10, "{result}");
}

#[test]
fn browser_asks_for_api_key_on_401() {
    let Some(_browser) = browser() else { return };
    let server = Server::with_config(KEYED_DEMO_ROUTE);
    let result = Driver::start("api-key", &server).finish();
    assert_eq!(result["requests"], 4);

    let request_id = result["rejected_request_id"].as_str().unwrap();
    let rejected = completion_log(&server, request_id);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["http_status"], 401);
    for line in server.log_lines() {
        assert!(
            !line.contains(TEST_KEY),
            "a log line contains the key: {line}"
        );
        assert!(
            !line.contains("wrong-key"),
            "a log line contains a key: {line}"
        );
    }
}

// --- Support -------------------------------------------------------------------------

/// Takes the browser lock, or returns `None` when `HELLO_SHIP_SKIP_BROWSER=1`.
/// Panics with the fix when Chromium, Node.js or playwright-core is missing.
#[allow(
    clippy::print_stderr,
    reason = "a skipped test says why on the test output"
)]
fn browser() -> Option<MutexGuard<'static, ()>> {
    if std::env::var_os("HELLO_SHIP_SKIP_BROWSER").is_some_and(|value| value == "1") {
        eprintln!("browser test skipped: HELLO_SHIP_SKIP_BROWSER=1");
        return None;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium not found at {CHROMIUM}: install it with scripts/install-test-deps.sh \
         (Debian package chromium), or set HELLO_SHIP_SKIP_BROWSER=1 to skip the browser tests"
    );
    let node_version = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let Some(node_version) = node_version else {
        panic!(
            "node not found: install Node.js 20 or later, or set HELLO_SHIP_SKIP_BROWSER=1 to \
             skip the browser tests"
        );
    };
    let node_major: u32 = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0);
    assert!(
        node_major >= 20,
        "node {node_version} is too old: playwright-core needs Node.js 20 or later"
    );
    let playwright = driver_dir().join("node_modules/playwright-core/package.json");
    assert!(
        playwright.exists(),
        "{} not found: run scripts/install-test-deps.sh, which runs `npm ci` in {}, or set \
         HELLO_SHIP_SKIP_BROWSER=1 to skip the browser tests",
        playwright.display(),
        driver_dir().display()
    );
    Some(BROWSER.lock().unwrap_or_else(PoisonError::into_inner))
}

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/browser-screenshots`, beside the test binaries' own temp folder.
fn screenshot_dir() -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    target_tmp
        .parent()
        .unwrap_or(target_tmp)
        .join("browser-screenshots")
}

/// Waits up to 2 s for the `request_completed` log line of `request_id`.
fn completion_log(server: &Server, request_id: &str) -> Value {
    server
        .wait_for_log(
            "request_completed",
            Some(request_id),
            Duration::from_secs(2),
        )
        .unwrap_or_else(|| panic!("no request_completed log line for {request_id}"))
}

/// A running `chat.mjs` scenario: JSON messages from its stdout, replies on
/// its stdin, and its stderr kept for failure messages.
struct Driver {
    scenario: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Driver {
    fn start(scenario: &'static str, server: &Server) -> Self {
        let mut child = Command::new("node")
            .arg(driver_dir().join("chat.mjs"))
            .arg(scenario)
            .arg(&server.base_url)
            .arg(screenshot_dir())
            .env("HELLO_SHIP_TEST_KEY", TEST_KEY)
            .current_dir(driver_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");

        let (sender, messages) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Self {
            scenario,
            stdin: child.stdin.take(),
            child,
            messages,
            stderr: Some(stderr),
        }
    }

    /// Waits for the next message, which must have `"type": kind`.
    fn expect(&mut self, kind: &str) -> Value {
        let line = match self.messages.recv_timeout(DRIVER_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("no {kind:?} message within {DRIVER_TIMEOUT:?}"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.fail(&format!("exited before sending a {kind:?} message"))
            }
        };
        let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            self.fail(&format!("printed a line that is not JSON ({e}): {line}"))
        });
        if message["type"] != kind {
            self.fail(&format!(
                "sent {message} where a {kind:?} message was expected"
            ));
        }
        message
    }

    fn reply(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        let written = writeln!(stdin, "{text}").and_then(|()| stdin.flush());
        if let Err(error) = written {
            self.fail(&format!("reply failed: {error}"));
        }
    }

    /// Waits for the result message and a clean exit, and returns the result.
    fn finish(mut self) -> Value {
        let result = self.expect("result");
        let status = self.child.wait().expect("wait for node");
        if !status.success() {
            self.fail(&format!("exited with {status}"));
        }
        result
    }

    fn fail(&mut self, problem: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        panic!(
            "browser scenario {:?}: chat.mjs {problem}\n--- its stderr ---\n{stderr}",
            self.scenario
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
