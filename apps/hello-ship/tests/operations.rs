//! Operating the server: key rotation without a restart, and `check-config`
//! before a deploy.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::upstream::{FakeUpstream, Reply};
use support::{Server, client, with_test_tenant};

#[tokio::test(flavor = "multi_thread")]
async fn rotated_key_file_is_used_without_restart() {
    let upstream = FakeUpstream::start(vec![
        Reply::openai_completion("Old key accepted.", Duration::ZERO),
        Reply::openai_completion("New key accepted.", Duration::ZERO),
    ])
    .await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_path = key_dir.path().join("openai-key");
    std::fs::write(&key_path, "old-key-value\n").unwrap();
    let config = format!(
        r#"
        [[routes]]
        name = "upstream"
        provider = "openai-compatible"
        model = "fake-model"
        base_url = "{}"
        api_key_file = "{}"
        "#,
        upstream.base_url,
        key_path.display()
    );
    let server = Server::with_config(&config);

    let first = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);

    // Kubernetes updates a mounted secret by swapping the file.
    let staged = key_dir.path().join("openai-key.new");
    std::fs::write(&staged, "new-key-value\n").unwrap();
    std::fs::rename(&staged, &key_path).unwrap();
    server
        .wait_for_log("route_key_reloaded", None, Duration::from_secs(5))
        .expect("the key file was re-read");

    let second = client()
        .post(server.url("/chat"))
        .json(&json!({"message": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let answer: serde_json::Value = second.json().await.unwrap();
    assert_eq!(answer["answer"], "New key accepted.");

    let received = upstream.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].headers["authorization"], "Bearer old-key-value");
    assert_eq!(received[1].headers["authorization"], "Bearer new-key-value");
    for line in server.log_lines() {
        assert!(
            !line.contains("key-value"),
            "a key leaked into the log: {line}"
        );
    }
}

fn check_config(text: &str) -> (bool, String) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_hello-ship"))
        .arg("check-config")
        .arg(file.path())
        .env_remove("MAX_OUTPUT_TOKENS")
        .output()
        .expect("run check-config");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn check_config_accepts_valid_file() {
    let config = with_test_tenant(
        r#"
        [[routes]]
        name = "primary"
        provider = "mock"
        model = "m"
        [[routes]]
        name = "secondary"
        provider = "anthropic"
        model = "claude-3-5-haiku-latest"
        api_key_env = "ANTHROPIC_API_KEY"
        [models.default]
        chain = ["primary", "secondary"]
        "#,
    );
    let (ok, output) = check_config(&config);
    assert!(ok, "{output}");
    assert!(output.contains("is valid"), "{output}");
    assert!(output.contains("2 route(s)"), "{output}");
}

#[test]
fn check_config_lists_every_problem() {
    let config = r#"
        [server]
        listen = "not-an-address"
        [limits]
        max_output_tokens = 0
        [[routes]]
        name = "primary"
        provider = "openai"
        model = "gpt-4o-mini"
        [[routes]]
        name = "claude"
        provider = "anthropic"
        model = "claude-3-5-haiku-latest"
        api_key_env = "ANTHROPIC_API_KEY"
        http2_prior_knowledge = true
        [models.default]
        chain = ["primary", "ghost"]
        [guardrails]
        input_deny_patterns = ["(unclosed"]
        [[tenants]]
        id = "acme"
        key_sha256 = "short"
    "#;
    let (ok, output) = check_config(config);
    assert!(!ok, "{output}");
    for setting in [
        "server.listen",
        "limits.max_output_tokens",
        "api_key_env or api_key_file",
        "\"ghost\"",
        "(unclosed",
        "tenants[0].key_sha256",
        "routes[1].http2_prior_knowledge",
    ] {
        assert!(
            output.contains(setting),
            "{setting} missing from:\n{output}"
        );
    }
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn check_config_rejects_unknown_key() {
    let (ok, output) = check_config("[server]\nlisten = \"127.0.0.1:1\"\nmax_body = 5\n");
    assert!(!ok);
    assert!(output.contains("max_body"), "{output}");
}

#[test]
fn check_config_reports_missing_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_hello-ship"))
        .args(["check-config", "/nonexistent/hello-ship.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/hello-ship.toml"), "{stderr}");
}

#[tokio::test]
async fn usage_reports_spend_and_projection() {
    let dir = tempfile::tempdir().unwrap();
    let config = with_test_tenant(&format!(
        r#"
        [state]
        backend = "sqlite"
        path = "{}"
        [[routes]]
        name = "priced"
        provider = "mock"
        model = "gpt-4o-mini"
        mock = {{ answer = "Four words of answer." }}
        "#,
        dir.path().join("ledger.db").display()
    ));
    {
        let server = Server::with_config(&config);
        for _ in 0..3 {
            let response = client()
                .post(server.url("/chat"))
                .json(&json!({"message": "hello"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }

    let config_path = dir.path().join("hello-ship.toml");
    std::fs::write(&config_path, &config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hello-ship"))
        .args(["usage", "--days", "1", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = stdout
        .lines()
        .find(|line| line.starts_with("test "))
        .unwrap_or_else(|| panic!("no row for tenant test:\n{stdout}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[2], "3", "three requests: {row}");
    assert_eq!(columns[4], "12", "four output tokens each: {row}");
    assert!(
        stdout.contains("Monthly projection at gpt-4o-mini prices"),
        "{stdout}"
    );
    assert!(stdout.contains("with headroom"), "{stdout}");
}

#[test]
fn usage_rejects_memory_store() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(with_test_tenant("").as_bytes()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hello-ship"))
        .args(["usage", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("memory"), "{stderr}");
}

#[tokio::test]
async fn sighup_reloads_valid_config_only() {
    let config = |answer: &str| {
        with_test_tenant(&format!(
            r#"
            [[routes]]
            name = "fixed"
            provider = "mock"
            model = "m"
            mock = {{ answer = "{answer}" }}
            "#
        ))
    };
    let server = Server::with_config(&config("Before the reload."));
    let ask = || async {
        let body: serde_json::Value = client()
            .post(server.url("/chat"))
            .json(&json!({"message": "hi"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["answer"].as_str().unwrap().to_owned()
    };
    assert_eq!(ask().await, "Before the reload.");
    let path = server.config_path().unwrap().to_owned();

    std::fs::write(&path, config("After the reload.")).unwrap();
    server.signal("HUP");
    server
        .wait_for_log("config_reloaded", None, Duration::from_secs(5))
        .expect("the valid file was applied");
    assert_eq!(ask().await, "After the reload.");

    std::fs::write(
        &path,
        "[server]\nheartbeat_secs = 0\n[[routes]]\nname = \"x\"\n",
    )
    .unwrap();
    server.signal("HUP");
    let rejected = server
        .wait_for_log("config_reload_rejected", None, Duration::from_secs(5))
        .expect("the invalid file was rejected");
    assert!(
        rejected["error"].as_str().unwrap().contains("config"),
        "{rejected}"
    );
    assert_eq!(
        ask().await,
        "After the reload.",
        "the old configuration keeps serving"
    );
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn check_config_bounds_durations_and_retries() {
    let config = r#"
        [server]
        heartbeat_secs = 18446744073709551615
        [retry]
        max_attempts = 0
        base_delay_ms = 10000
        max_delay_ms = 1
        deadline_secs = 0
        budget_ratio = -1.0
        [breaker]
        cool_down_secs = 18446744073709551615
        [[routes]]
        name = "a"
        provider = "openai-compatible"
        model = "m"
        base_url = "not a url"
        api_key_env = ""
    "#;
    let (ok, output) = check_config(config);
    assert!(!ok, "{output}");
    for expected in [
        "server.heartbeat_secs: 18446744073709551615 is more than one day",
        "breaker.cool_down_secs",
        "retry.max_attempts",
        "retry.base_delay_ms: 10000 is above retry.max_delay_ms",
        "retry.deadline_secs",
        "retry.budget_ratio: -1",
        "routes[0].base_url: \"not a url\"",
        "routes[0].api_key_env: is empty",
    ] {
        assert!(
            output.contains(expected),
            "{expected} missing from:\n{output}"
        );
    }
}

#[test]
fn check_config_reports_every_bad_entry() {
    let config = format!(
        r#"
        [guardrails]
        input_deny_patterns = ["(first", "fine", "(third"]
        [[routes]]
        name = "a"
        provider = "mock"
        model = "m"
        [[tenants]]
        id = "one"
        key_sha256 = "short"
        [[tenants]]
        id = "two"
        key_sha256 = "{}"
        rpm = 0
        [[tenants]]
        id = "two"
        key_sha256 = "{}"
        "#,
        "a".repeat(64),
        "b".repeat(64)
    );
    let (ok, output) = check_config(&config);
    assert!(!ok, "{output}");
    for expected in [
        "input_deny_patterns[0]",
        "input_deny_patterns[2]",
        "tenants[0].key_sha256",
        "tenants[1].rpm",
        "tenants[2].id",
    ] {
        assert!(
            output.contains(expected),
            "{expected} missing from:\n{output}"
        );
    }
    assert!(!output.contains("input_deny_patterns[1]"), "{output}");
}

#[tokio::test]
async fn ready_needs_tenant_keys_outside_demo() {
    let server = Server::start(
        &[],
        Some(
            "[state]\nbackend = \"memory\"\n[[routes]]\nname = \"m\"\nprovider = \"mock\"\nmodel = \"m\"\n",
        ),
        &[],
    );
    let response = client().get(server.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["reasons"].to_string().contains("[[tenants]]"),
        "{body}"
    );
}
