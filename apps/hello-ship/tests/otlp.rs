//! OTLP trace export (`--features otlp`): a request's span reaches a fake
//! OTLP/HTTP collector on 127.0.0.1 with the caller's trace id, flushed on
//! SIGTERM.

#![cfg(feature = "otlp")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use support::{Server, client};

const CALLER_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// One request the collector received.
#[derive(Debug, Clone)]
struct Export {
    method: String,
    path: String,
    content_type: String,
    body: Bytes,
}

/// Starts a fake OTLP/HTTP collector that records every request and responds
/// 200 with an empty `ExportTraceServiceResponse`.
async fn start_collector() -> (SocketAddr, Arc<Mutex<Vec<Export>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the collector");
    let addr = listener.local_addr().expect("collector address");
    let exports = Arc::new(Mutex::new(Vec::new()));
    let recorded = exports.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let recorded = recorded.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let recorded = recorded.clone();
                    async move {
                        let method = request.method().to_string();
                        let path = request.uri().path().to_owned();
                        let content_type = request
                            .headers()
                            .get("content-type")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = match request.into_body().collect().await {
                            Ok(collected) => collected.to_bytes(),
                            Err(error) => panic!("reading an export body failed: {error}"),
                        };
                        recorded.lock().expect("exports lock").push(Export {
                            method,
                            path,
                            content_type,
                            body,
                        });
                        let response = Response::builder()
                            .status(200)
                            .header("content-type", "application/x-protobuf")
                            .body(Full::new(Bytes::new()))
                            .expect("valid response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, exports)
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&hex[index..index + 2], 16).expect("hex digits"))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn request_span_exported_with_caller_trace_id() {
    let (collector, exports) = start_collector().await;
    let endpoint = format!("http://{collector}");
    let mut server = Server::start(
        &["--demo"],
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            // An empty value counts as unset, so the base endpoint above is
            // used even when the caller's environment sets this one.
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
            ("OTEL_SERVICE_NAME", "hello-ship-otlp-test"),
        ],
    );
    let started = server
        .wait_for_log("otlp_export_started", None, Duration::from_secs(5))
        .expect("otlp_export_started logged");
    assert_eq!(started["endpoint"], format!("{endpoint}/v1/traces"));
    assert_eq!(started["service_name"], "hello-ship-otlp-test");

    let traceparent = format!("00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01");
    let response = client()
        .post(server.url("/chat"))
        .header("traceparent", &traceparent)
        .json(&json!({"message": "trace this"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let completed = server
        .wait_for_log(
            "request_completed",
            Some(&request_id),
            Duration::from_secs(5),
        )
        .expect("request_completed logged");
    assert_eq!(completed["trace_id"], CALLER_TRACE_ID);

    // The batch processor's first scheduled export comes 5 s after start (the
    // SDK's default OTEL_BSP_SCHEDULE_DELAY), so a span that arrives after an
    // immediate SIGTERM was flushed on shutdown.
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("hello-ship exited within 30 s of SIGTERM");
    assert!(status.success(), "exit status {status}");

    let exports = exports.lock().unwrap().clone();
    assert!(!exports.is_empty(), "the collector received no export");
    for export in &exports {
        assert_eq!(export.method, "POST");
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
        assert!(!export.body.is_empty(), "an export body is empty");
    }
    // Protobuf carries the trace id as 16 raw bytes and strings as UTF-8.
    let trace_id = hex_to_bytes(CALLER_TRACE_ID);
    let exported = |needle: &[u8]| exports.iter().any(|e| contains(&e.body, needle));
    assert!(
        exported(&trace_id),
        "no exported span carries the caller's trace id {CALLER_TRACE_ID}"
    );
    assert!(
        exported(b"hello-ship-otlp-test"),
        "the service name is not exported"
    );
    assert!(
        exported(request_id.as_bytes()),
        "the request id attribute is not exported"
    );
}

#[test]
fn invalid_endpoint_logged_and_server_starts() {
    let server = Server::start(
        &["--demo"],
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
        ],
    );
    let failed = server
        .wait_for_log("otlp_export_failed", None, Duration::from_secs(5))
        .expect("otlp_export_failed logged");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        "the error names the variable: {error}"
    );
}

#[test]
fn no_endpoint_means_no_export() {
    let server = Server::start(
        &["--demo"],
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ],
    );
    let logs = server.logs();
    let otlp_lines: Vec<_> = logs
        .iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("otlp_"))
        })
        .collect();
    assert!(otlp_lines.is_empty(), "OTLP lines: {otlp_lines:?}");
}
