//! Every kind of bad request gets a JSON error with the right status and a
//! message that names the problem.

mod support;

use serde_json::{Value, json};
use support::{Server, client};

async fn post_raw(
    server: &Server,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = client().post(server.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("ASCII request id")
        .to_owned();
    let body: Value = response.json().await.expect("JSON body");
    if status >= 400 {
        assert_eq!(
            body["error"]["request_id"],
            id.as_str(),
            "error carries the request id"
        );
    }
    (status, body)
}

async fn post_json(server: &Server, body: &str) -> (u16, Value) {
    post_raw(
        server,
        "/chat",
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .expect("error message")
        .to_owned()
}

#[tokio::test]
async fn malformed_json_is_400() {
    let server = Server::demo();
    for path in ["/chat", "/chat/stream"] {
        let (status, body) = post_raw(
            &server,
            path,
            Some("application/json"),
            b"{\"message\": ".to_vec(),
        )
        .await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"]["type"], "invalid_request");
        assert!(message(&body).contains("malformed JSON"), "{body}");
    }
}

#[tokio::test]
async fn missing_message_is_400() {
    let server = Server::demo();
    let (status, body) = post_json(&server, "{}").await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("missing field message"), "{body}");
}

#[tokio::test]
async fn wrong_type_names_field() {
    let server = Server::demo();
    let (status, body) = post_json(&server, r#"{"message": 42}"#).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("message"), "{body}");
    assert!(message(&body).contains("expected a string"), "{body}");

    let (status, body) = post_json(&server, r#"{"message": "hi", "max_tokens": "ten"}"#).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("max_tokens"), "{body}");
}

#[tokio::test]
async fn unknown_field_is_400() {
    let server = Server::demo();
    let (status, body) = post_json(&server, r#"{"message": "hi", "max_token": 5}"#).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("max_token"), "{body}");
}

#[tokio::test]
async fn bad_values_are_400() {
    let server = Server::demo();
    let cases = [
        (r#"{"message": "hi", "messages": []}"#, "not both"),
        (r#"{"messages": []}"#, "at least one message"),
        (
            r#"{"messages": [{"role": "system", "content": "x"}]}"#,
            "user message",
        ),
        (
            r#"{"messages": [{"role": "wizard", "content": "x"}]}"#,
            "wizard",
        ),
        (r#"{"message": "   "}"#, "empty"),
        (r#"{"message": "hi", "max_tokens": 0}"#, "max_tokens"),
        (r#"{"message": "hi", "model": "gpt-9"}"#, "unknown model"),
        (r#"{"message": "hi", "temperature": 7}"#, "temperature"),
        (r#"[1, 2]"#, "JSON object"),
    ];
    for (body, expected) in cases {
        let (status, response) = post_json(&server, body).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            message(&response).contains(expected),
            "{body} -> {response}"
        );
    }
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let server = Server::demo();
    let body = br#"{"message": "hi"}"#.to_vec();
    for content_type in [Some("text/plain"), None] {
        let (status, response) = post_raw(&server, "/chat", content_type, body.clone()).await;
        assert_eq!(status, 415, "{content_type:?}");
        assert_eq!(response["error"]["type"], "unsupported_media_type");
        assert!(message(&response).contains("application/json"));
    }
    let (status, _) = post_raw(
        &server,
        "/chat",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let server = Server::with_config(
        r#"
        [server]
        max_body_bytes = 1000
        [[routes]]
        name = "m"
        provider = "mock"
        model = "m"
        "#,
    );
    let big = json!({"message": "x".repeat(2000)}).to_string();
    let (status, body) = post_json(&server, &big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["type"], "payload_too_large");
    assert!(message(&body).contains("1000 bytes"), "{body}");

    // Chunked bodies carry no Content-Length, so the limit applies while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(big.into_bytes())];
    let response = client()
        .post(server.url("/chat"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn long_message_is_413() {
    let server = Server::demo();
    let (status, body) =
        post_json(&server, &json!({"message": "é".repeat(8001)}).to_string()).await;
    assert_eq!(status, 413);
    assert!(message(&body).contains("8001 characters"), "{body}");
    assert!(message(&body).contains("8000"), "{body}");

    let (status, _) = post_json(&server, &json!({"message": "é".repeat(8000)}).to_string()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn server_survives_bad_input() {
    let server = Server::demo();
    for body in ["\u{0}", "{\"message\": \"\\ud800\"}", "nul\u{0}l", "{{{{"] {
        let _ = post_json(&server, body).await;
    }
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn slow_body_times_out_with_408() {
    use std::io::{Read, Write};

    let server = Server::demo();
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(45)))
        .unwrap();
    // The headers promise 100 bytes; only 10 arrive, then the client stalls.
    let head = format!(
        "POST /chat HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"message\""
    );
    stream.write_all(head.as_bytes()).unwrap();

    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("request_id") {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "connection closed without a response");
        response.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(29));
}
