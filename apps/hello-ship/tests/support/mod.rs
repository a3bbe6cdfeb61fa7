//! Starts the real hello-ship binary on an ephemeral 127.0.0.1 port and
//! collects its JSON log lines.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support code"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) mod redis;
pub(crate) mod upstream;

/// A running hello-ship process.
pub(crate) struct Server {
    child: Child,
    pub(crate) base_url: String,
    logs: Arc<Mutex<Vec<String>>>,
    _config: Option<tempfile::NamedTempFile>,
}

impl Server {
    /// Starts `hello-ship --demo`.
    pub(crate) fn demo() -> Self {
        Self::start(&["--demo"], None, &[])
    }

    /// Starts hello-ship with `config` (TOML text) as its configuration file.
    /// Unless the text configures them itself, a tenant with the key
    /// [`TEST_KEY`] and an in-memory state store are added, so every request of
    /// [`client`] is authenticated and nothing is written to disk.
    pub(crate) fn with_config(config: &str) -> Self {
        Self::start(&[], Some(&with_test_tenant(config)), &[])
    }

    /// Starts hello-ship with extra arguments, an optional config file and
    /// environment variables. Provider keys in the caller's environment are
    /// removed so every test starts from the same state.
    pub(crate) fn start(args: &[&str], config: Option<&str>, env: &[(&str, &str)]) -> Self {
        let config_file = config.map(|text| {
            let mut file = tempfile::NamedTempFile::new().expect("temp config file");
            file.write_all(text.as_bytes()).expect("write config");
            file
        });
        let mut command = Command::new(env!("CARGO_BIN_EXE_hello-ship"));
        command.args(args).args(["--listen", "127.0.0.1:0"]);
        if let Some(file) = &config_file {
            command.arg("--config").arg(file.path());
        }
        for variable in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "HELLO_SHIP_CONFIG",
            "HELLO_SHIP_LISTEN",
            "MAX_OUTPUT_TOKENS",
            "LLM_PROVIDER",
            "PRIMARY_MODEL",
            "FALLBACK_MODEL",
        ] {
            command.env_remove(variable);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hello-ship");

        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let collected = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    if value["message"] == "server_started" {
                        let _ = addr_tx.send(value["listen"].as_str().unwrap_or("").to_owned());
                    }
                }
                collected.lock().expect("log lock").push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("hello-ship logged server_started within 30 s");
        Self {
            child,
            base_url: format!("http://{addr}"),
            logs,
            _config: config_file,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Returns the configuration file the server was started with, if any.
    pub(crate) fn config_path(&self) -> Option<&std::path::Path> {
        self._config.as_ref().map(|file| file.path())
    }

    /// Returns every line the server has logged so far.
    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.logs.lock().expect("log lock").clone()
    }

    /// Log lines parsed as JSON; panics on a line that is not JSON.
    pub(crate) fn logs(&self) -> Vec<Value> {
        self.log_lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// Waits until a log line with `message` appears for `request_id` (or any
    /// request when `None`), up to `timeout`.
    pub(crate) fn wait_for_log(
        &self,
        message: &str,
        request_id: Option<&str>,
        timeout: Duration,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.logs().into_iter().find(|line| {
                line["message"] == message && request_id.is_none_or(|id| line["request_id"] == id)
            });
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (e.g. "TERM") to the server process.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bearer key of the tenant that [`Server::with_config`] adds.
pub(crate) const TEST_KEY: &str = "test-key-0001";

/// SHA-256 of [`TEST_KEY`], as the configuration stores it.
pub(crate) const TEST_KEY_SHA256: &str =
    "d79a134e830cca9feba8d8769d611a158467f6a5ad5a099de8c4489a16e08a2c";

/// Appends the test tenant and a memory store to `config` where it sets none.
pub(crate) fn with_test_tenant(config: &str) -> String {
    let mut text = config.to_owned();
    if !text.contains("[state]") {
        text.push_str("\n[state]\nbackend = \"memory\"\n");
    }
    if !text.contains("[[tenants]]") {
        text.push_str(&format!(
            "\n[[tenants]]\nid = \"test\"\nkey_sha256 = \"{TEST_KEY_SHA256}\"\n"
        ));
    }
    text
}

/// Builds a client with no proxy, so requests to 127.0.0.1 never leave the machine,
/// that sends [`TEST_KEY`] as its bearer key.
pub(crate) fn client() -> reqwest::Client {
    client_with_key(TEST_KEY)
}

/// Builds a client like [`client`] that sends `key` as its bearer key.
pub(crate) fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).expect("ASCII key"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build client")
}

/// One parsed server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sse {
    /// A `data:` frame without an event name, parsed as JSON.
    Data(Value),
    /// A named event (`done`, `error`) with its JSON data.
    Event(String, Value),
    /// A comment line such as `: heartbeat`.
    Comment(String),
}

/// Splits an SSE body into frames. The server writes only LF line ends and
/// single-line data, so a plain split is exact here.
pub(crate) fn parse_sse(body: &str) -> Vec<Sse> {
    assert!(
        body.ends_with("\n\n"),
        "SSE body must end with a blank line: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(": ") {
                    return Sse::Comment(comment.to_owned());
                } else if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(json) = line.strip_prefix("data: ") {
                    assert!(
                        data.is_none(),
                        "server frames carry one data line: {block:?}"
                    );
                    data = Some(serde_json::from_str(json).expect("data is JSON"));
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            let data = data.expect("frame has data");
            match event {
                Some(name) => Sse::Event(name, data),
                None => Sse::Data(data),
            }
        })
        .collect()
}

/// Concatenates the token frames of an SSE body.
pub(crate) fn tokens_text(frames: &[Sse]) -> String {
    frames
        .iter()
        .filter_map(|frame| match frame {
            Sse::Data(data) => data["token"].as_str(),
            _ => None,
        })
        .collect()
}
