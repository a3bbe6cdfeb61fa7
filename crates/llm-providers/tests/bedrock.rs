//! Bedrock Converse and ConverseStream against the fake provider.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

mod support;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use llm_providers::Provider;
use llm_providers::bedrock::{AwsCredentials, BedrockProvider};
use secrecy::SecretString;
use shipped_core::{FinishReason, UpstreamErrorKind};
use support::{End, FakeProvider, Reply, collect, fixture, replays, request};

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn bedrock(server: &FakeProvider) -> BedrockProvider {
    BedrockProvider::builder()
        .region("us-east-1")
        .base_url(server.base_url())
        .credentials(AwsCredentials::new(
            "AKIDEXAMPLE",
            SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            Some(SecretString::from("SESSION_TOKEN_PLACEHOLDER")),
        ))
        .build()
        .unwrap()
}

fn frames() -> serde_json::Value {
    let text = std::fs::read_to_string(support::testdata(
        "fixtures/bedrock-converse-stream.frames.json",
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Joins the text of every contentBlockDelta in the decoded frame list.
fn expected_text() -> String {
    frames()["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|frame| frame["headers"][":event-type"] == "contentBlockDelta")
        .map(|frame| {
            let payload: serde_json::Value =
                serde_json::from_str(frame["payload"].as_str().unwrap()).unwrap();
            payload["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn base64_chunks(attempt: &serde_json::Value) -> Vec<Bytes> {
    attempt["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(chunk.as_str().unwrap())
                .unwrap();
            Bytes::from(bytes)
        })
        .collect()
}

#[tokio::test]
async fn converse_stream_replays_in_every_split() {
    let body = fixture("bedrock-converse-stream.bin");
    let text = expected_text();
    assert!(text.starts_with("The capital of France is Paris."));
    for (split, reply) in replays(&body) {
        let server = FakeProvider::single(reply).await;
        let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

        assert!(collected.error.is_none(), "{split}: {:?}", collected.error);
        assert_eq!(collected.text(), text, "{split}");
        assert_eq!(collected.finish(), Some(FinishReason::Stop), "{split}");
        let usages = collected.usages();
        assert_eq!(usages.len(), 1, "{split}");
        assert_eq!(usages[0].input_tokens, 13, "{split}");
        assert_eq!(usages[0].output_tokens, 82, "{split}");
    }
}

#[tokio::test]
async fn cut_stream_is_truncated_at_every_frame() {
    let body = fixture("bedrock-converse-stream.bin");
    let frames = frames();
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 33);
    let last_end = {
        let last = frames.last().unwrap();
        last["offset"].as_u64().unwrap() + last["total_length"].as_u64().unwrap()
    };
    assert_eq!(last_end as usize, body.len());
    // Every frame start is a cut point, and so is a cut inside the last frame.
    let mut cuts: Vec<usize> = frames
        .iter()
        .map(|frame| frame["offset"].as_u64().unwrap() as usize)
        .collect();
    cuts.push(body.len() - 1);
    for cut in cuts {
        if cut == 0 {
            continue;
        }
        for end in [End::Close, End::Abort] {
            let reply = Reply::eventstream(support::whole(&body[..cut])).end(end);
            let server = FakeProvider::single(reply).await;
            let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

            let error = collected
                .error
                .as_ref()
                .unwrap_or_else(|| panic!("cut at {cut} ({end:?}) ended cleanly"));
            assert_eq!(
                error.kind(),
                UpstreamErrorKind::StreamTruncated,
                "cut at {cut}"
            );
            assert_eq!(collected.finish(), None, "cut at {cut}");
        }
    }
}

#[tokio::test]
async fn throttling_inside_stream_is_rate_limited() {
    // B16: a throttlingException frame after HTTP 200, read boundaries inside frames.
    let case = support::case("B16");
    let server = FakeProvider::single(Reply::eventstream(base64_chunks(&case["upstream"]))).await;
    let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

    assert_eq!(collected.text(), "");
    assert_eq!(collected.finish(), None);
    let error = collected.error.unwrap();
    assert_eq!(error.kind(), UpstreamErrorKind::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.provider_code(), Some("throttlingException"));

    // The retry in the case's script then succeeds, with usage from metadata.
    let retry = &case["upstream"]["subsequent_attempts"][0];
    let server = FakeProvider::single(Reply::eventstream(base64_chunks(retry))).await;
    let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;
    assert!(collected.error.is_none(), "{:?}", collected.error);
    assert_eq!(collected.text(), "Hello there.");
    assert_eq!(collected.finish(), Some(FinishReason::Stop));
    let usages = collected.usages();
    assert_eq!(usages.len(), 1);
    assert_eq!(usages[0].input_tokens, 20);
    assert_eq!(usages[0].output_tokens, 3);
}

#[tokio::test]
async fn exception_frames_are_classified() {
    let table = [
        (
            "bedrock-eventstream-exception-throttling.bin",
            UpstreamErrorKind::RateLimited,
            "throttlingException",
        ),
        (
            "bedrock-eventstream-exception-model-stream-error.bin",
            UpstreamErrorKind::ServerError,
            "modelStreamErrorException",
        ),
    ];
    for (file, kind, code) in table {
        let server =
            FakeProvider::single(Reply::eventstream(support::bytewise(&fixture(file)))).await;
        let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

        let error = collected.error.unwrap();
        assert_eq!(error.kind(), kind, "{file}");
        assert_eq!(error.provider_code(), Some(code), "{file}");
        assert!(error.is_retryable(), "{file}");
    }
}

#[tokio::test]
async fn exception_after_text_keeps_partial_text() {
    let body = fixture("bedrock-converse-stream-midstream-exception.bin");
    let server = FakeProvider::single(Reply::eventstream(support::random_splits(&body, 7))).await;
    let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

    assert_eq!(collected.text(), "The capital of France is Paris.");
    assert_eq!(collected.finish(), None);
    let error = collected.error.unwrap();
    assert_eq!(error.kind(), UpstreamErrorKind::ServerError);
    assert_eq!(error.provider_code(), Some("modelStreamErrorException"));
}

#[tokio::test]
async fn exception_types_map_to_kinds() {
    let table = [
        (
            "throttlingException",
            "Too many requests",
            UpstreamErrorKind::RateLimited,
        ),
        (
            "serviceUnavailableException",
            "Service unavailable",
            UpstreamErrorKind::Overloaded,
        ),
        (
            "internalServerException",
            "Internal error",
            UpstreamErrorKind::ServerError,
        ),
        (
            "modelStreamErrorException",
            "Model failed",
            UpstreamErrorKind::ServerError,
        ),
        (
            "validationException",
            "Malformed input request",
            UpstreamErrorKind::InvalidRequest,
        ),
        (
            "validationException",
            "Input is too long for requested model.",
            UpstreamErrorKind::ContextLengthExceeded,
        ),
        (
            "validationException",
            "The model returned the following errors: too many input tokens",
            UpstreamErrorKind::ContextLengthExceeded,
        ),
    ];
    for (exception, message, kind) in table {
        let frame = exception_frame(exception, message);
        let server = FakeProvider::single(Reply::eventstream(support::whole(&frame))).await;
        let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

        let error = collected.error.unwrap();
        assert_eq!(error.kind(), kind, "{exception}: {message}");
        assert_eq!(error.provider_code(), Some(exception));
        assert!(
            !error.to_string().contains(message),
            "{exception}: message leaked"
        );
    }
}

/// Encodes one exception frame with string headers and both CRCs.
fn exception_frame(exception: &str, message: &str) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let payload = serde_json::json!({ "message": message }).to_string();
    let message = Message::new(Bytes::from(payload))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("exception".into()),
        ))
        .add_header(Header::new(
            ":exception-type",
            HeaderValue::String(exception.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut buffer = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut buffer).unwrap();
    buffer
}

#[tokio::test]
async fn corrupted_crc_is_malformed() {
    let mut body = fixture("bedrock-converse-stream.bin");
    // The last byte of the first frame's message CRC.
    body[142] ^= 0xff;
    let server = FakeProvider::single(Reply::eventstream(support::whole(&body))).await;
    let collected = collect(bedrock(&server).stream(&request(MODEL)).await.unwrap()).await;

    assert_eq!(
        collected.error.map(|error| error.kind()),
        Some(UpstreamErrorKind::MalformedResponse)
    );
    assert!(collected.events.is_empty());
}

#[test]
fn eventstream_vectors_decode() {
    let text = std::fs::read_to_string(support::testdata(
        "fixtures/aws-eventstream-test-vectors.json",
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    for vector in vectors["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let bytes = hex(vector["hex"].as_str().unwrap());
        let expect = &vector["expect"];
        assert_eq!(
            bytes.len() as u64,
            expect["total_length"].as_u64().unwrap(),
            "{name}"
        );

        // Fed one byte at a time, the frame completes only with its last byte.
        let mut decoder = MessageFrameDecoder::new();
        let mut buffer = BytesMut::new();
        let mut message = None;
        for (position, byte) in bytes.iter().enumerate() {
            buffer.extend_from_slice(&[*byte]);
            match decoder.decode_frame(&mut buffer).unwrap() {
                DecodedFrame::Complete(decoded) => {
                    assert_eq!(position, bytes.len() - 1, "{name}: completed early");
                    message = Some(decoded);
                }
                DecodedFrame::Incomplete => {}
            }
        }
        let message = message.unwrap_or_else(|| panic!("{name}: no frame"));
        assert_eq!(
            message.payload().as_ref(),
            expect["payload"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        let headers = expect["headers"].as_object().cloned().unwrap_or_default();
        assert_eq!(message.headers().len(), headers.len(), "{name}");
        for (header, value) in headers {
            let found = message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == header)
                .and_then(|h| h.value().as_string().ok().map(|v| v.as_str().to_owned()));
            assert_eq!(found.as_deref(), value.as_str(), "{name}: {header}");
        }

        // A flipped message CRC is rejected.
        let mut corrupted = bytes.clone();
        let last = corrupted.len() - 1;
        corrupted[last] ^= 1;
        let mut decoder = MessageFrameDecoder::new();
        assert!(
            decoder
                .decode_frame(&mut BytesMut::from(&corrupted[..]))
                .is_err(),
            "{name}"
        );
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn request_is_signed_and_encoded() {
    let body = fixture("bedrock-converse-stream.bin");
    let server = FakeProvider::single(Reply::eventstream(support::whole(&body))).await;
    let mut chat = shipped_core::ChatRequest::new(vec![
        shipped_core::ChatMessage::system("be brief"),
        shipped_core::ChatMessage::user("hi"),
    ]);
    chat.max_tokens = Some(128);
    let provider_request = llm_providers::ProviderRequest::new(MODEL, chat);
    collect(bedrock(&server).stream(&provider_request).await.unwrap()).await;

    let sent = &server.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    let authorization = sent.header("authorization").unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert!(authorization.contains("/us-east-1/bedrock/aws4_request"));
    assert!(
        authorization
            .contains("SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token")
    );
    assert!(sent.header("x-amz-date").is_some());
    assert_eq!(
        sent.header("x-amz-security-token"),
        Some("SESSION_TOKEN_PLACEHOLDER")
    );
    let json = sent.json();
    assert_eq!(json["system"][0]["text"], "be brief");
    assert_eq!(json["messages"][0]["role"], "user");
    assert_eq!(json["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(json["inferenceConfig"]["maxTokens"], 128);
}

#[tokio::test]
async fn converse_reads_complete_answer() {
    let body = fixture("bedrock-converse.json");
    let server = FakeProvider::single(Reply::json(200, &body)).await;
    let completion = bedrock(&server).complete(&request(MODEL)).await.unwrap();

    assert!(
        completion
            .text
            .starts_with("Hello! How can I assist you today?")
    );
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage.input_tokens, 7);
    assert_eq!(completion.usage.output_tokens, 30);
    assert_eq!(completion.model, MODEL);
    assert_eq!(
        server.requests()[0].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
}

#[tokio::test]
async fn converse_errors_use_error_type_header() {
    let table = [
        (
            400,
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            r#"{"message":"The provided model identifier is invalid."}"#,
            UpstreamErrorKind::InvalidRequest,
        ),
        (
            400,
            "ValidationException",
            r#"{"message":"Input is too long for requested model."}"#,
            UpstreamErrorKind::ContextLengthExceeded,
        ),
        (
            429,
            "ThrottlingException",
            r#"{"message":"Too many requests, please wait before trying again."}"#,
            UpstreamErrorKind::RateLimited,
        ),
        (
            503,
            "ServiceUnavailableException",
            r#"{"message":"Service unavailable"}"#,
            UpstreamErrorKind::Overloaded,
        ),
        (
            403,
            "AccessDeniedException",
            r#"{"message":"denied"}"#,
            UpstreamErrorKind::Authentication,
        ),
    ];
    for (status, error_type, body, kind) in table {
        let reply = Reply::json(status, body.as_bytes()).header("x-amzn-errortype", error_type);
        let server = FakeProvider::single(reply).await;
        let error = bedrock(&server)
            .complete(&request(MODEL))
            .await
            .unwrap_err();

        assert_eq!(error.kind(), kind, "{error_type}");
        assert_eq!(error.status(), Some(status));
        let code = error_type.split(':').next().unwrap();
        assert_eq!(error.provider_code(), Some(code));
    }

    let body = fixture("bedrock-converse-error-400-validation.json");
    let server = FakeProvider::single(Reply::json(400, &body)).await;
    let error = bedrock(&server)
        .complete(&request(MODEL))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), UpstreamErrorKind::InvalidRequest);
}

#[test]
fn builder_checks_region() {
    let credentials = AwsCredentials::new("AKID", SecretString::from("secret"), None);
    let missing = BedrockProvider::builder()
        .credentials(credentials.clone())
        .build()
        .unwrap_err();
    assert!(missing.to_string().contains("region"));

    let invalid = BedrockProvider::builder()
        .region("us-east-1/../evil")
        .credentials(credentials.clone())
        .build()
        .unwrap_err();
    assert!(invalid.to_string().contains("region"));

    let valid = BedrockProvider::builder()
        .region("eu-central-1")
        .credentials(credentials)
        .build();
    assert!(valid.is_ok());
}
