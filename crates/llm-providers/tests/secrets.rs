//! Keys never appear in error text, debug output or logs of a failed call.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture or server, which fails the test"
)]

mod support;

use llm_providers::Provider;
use llm_providers::anthropic::AnthropicProvider;
use llm_providers::bedrock::{AwsCredentials, BedrockProvider};
use llm_providers::openai::OpenAiProvider;
use secrecy::SecretString;
use support::{End, FakeProvider, Reply, collect, request};

const KEY: &str = "UPSTREAM_SECRET_PLACEHOLDER_123";

/// Replies that echo the key back, as a careless upstream might.
fn echoing_replies() -> Vec<Reply> {
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
    );
    vec![
        Reply::json(401, body.as_bytes()),
        Reply::json(500, body.as_bytes()),
        Reply::sse(support::whole(
            format!("data: {{\"error\":{{\"message\":\"{KEY}\",\"type\":\"{KEY}\"}}}}\n\n")
                .as_bytes(),
        )),
        Reply::sse(support::whole(
            format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":1{KEY}}}}}]}}\n\n")
                .as_bytes(),
        )),
        Reply::sse(support::whole(b"data: {\"choices\":[]}\n\n")).end(End::Abort),
    ]
}

fn assert_clean(text: &str) {
    assert!(!text.contains(KEY), "key leaked: {text}");
}

async fn exercise(provider: &dyn Provider, server: &FakeProvider, replies: usize) {
    assert_clean(&format!("{provider:?}"));
    for _ in 0..replies {
        match provider.stream(&request("m")).await {
            Err(error) => {
                assert_clean(&error.to_string());
                assert_clean(&format!("{error:?}"));
                assert_clean(&format!("{:?}", std::error::Error::source(&error)));
            }
            Ok(stream) => {
                let collected = collect(stream).await;
                let error = collected.error.expect("each scripted stream fails");
                assert_clean(&error.to_string());
                assert_clean(&format!("{error:?}"));
            }
        }
    }
    assert_eq!(server.requests().len(), replies);
}

#[tokio::test]
async fn openai_key_never_printed() {
    let replies = echoing_replies();
    let count = replies.len();
    let server = FakeProvider::start(replies).await;
    let provider = OpenAiProvider::builder()
        .base_url(server.base_url())
        .api_key(SecretString::from(KEY))
        .build()
        .unwrap();
    exercise(&provider, &server, count).await;
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str()),
        "the key is still sent"
    );
}

#[tokio::test]
async fn anthropic_key_never_printed() {
    let replies = echoing_replies();
    let count = replies.len();
    let server = FakeProvider::start(replies).await;
    let provider = AnthropicProvider::builder()
        .base_url(server.base_url())
        .api_key(SecretString::from(KEY))
        .build()
        .unwrap();
    exercise(&provider, &server, count).await;
    assert_eq!(server.requests()[0].header("x-api-key"), Some(KEY));
}

#[tokio::test]
async fn bedrock_secret_never_printed() {
    let replies = echoing_replies();
    let count = replies.len();
    let server = FakeProvider::start(replies).await;
    let provider = BedrockProvider::builder()
        .region("us-east-1")
        .base_url(server.base_url())
        .credentials(AwsCredentials::new(
            "AKIDEXAMPLE",
            SecretString::from(KEY),
            Some(SecretString::from(KEY)),
        ))
        .build()
        .unwrap();
    exercise(&provider, &server, count).await;
    let authorization = server.requests()[0]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert_clean(&authorization);
}

#[test]
fn builder_errors_hide_keys() {
    let error = OpenAiProvider::builder()
        .api_key(SecretString::from(format!("{KEY}\n")))
        .build()
        .unwrap_err();
    assert_clean(&error.to_string());
    assert_clean(&format!("{error:?}"));

    let builder = AnthropicProvider::builder().api_key(SecretString::from(KEY));
    assert_clean(&format!("{builder:?}"));
}
