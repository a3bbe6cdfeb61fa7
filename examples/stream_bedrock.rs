//! Streams one answer from AWS Bedrock's ConverseStream API.
//!
//! Settings come from the environment:
//!
//! - `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for temporary
//!   credentials, `AWS_SESSION_TOKEN` (no other credential source is read).
//! - `AWS_REGION`: the region, `us-east-1` by default.
//! - `BEDROCK_BASE_URL`: another endpoint, e.g. a VPC endpoint; unset means
//!   `https://bedrock-runtime.{region}.amazonaws.com`.
//! - `BEDROCK_MODEL`: the model id, `anthropic.claude-3-haiku-20240307-v1:0`
//!   by default.
//!
//! Run it with `cargo run -p hello-ship-examples --example stream_bedrock -- "your question"`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::error::Error;
use std::io::Write;

use futures_util::StreamExt;
use llm_providers::bedrock::{AwsCredentials, BedrockProvider};
use llm_providers::{Provider, ProviderRequest, StreamEvent};
use shipped_core::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello in five words.".to_owned());
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let model = std::env::var("BEDROCK_MODEL")
        .unwrap_or_else(|_| "anthropic.claude-3-haiku-20240307-v1:0".to_owned());

    let mut builder = BedrockProvider::builder()
        .region(region)
        .credentials(AwsCredentials::from_env()?);
    if let Ok(base_url) = std::env::var("BEDROCK_BASE_URL") {
        builder = builder.base_url(base_url);
    }
    let provider = builder.build()?;

    let mut chat = ChatRequest::new(vec![ChatMessage::user(question)]);
    chat.max_tokens = Some(256);
    let request = ProviderRequest::new(model, chat);

    // A throttle inside the event stream arrives as an Err with kind
    // RateLimited and provider code `throttlingException`.
    let mut stream = provider.stream(&request).await?;
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Text(text)) => {
                print!("{text}");
                stdout.flush()?;
            }
            Ok(StreamEvent::Usage(usage)) => {
                println!();
                println!(
                    "usage: {} in, {} out",
                    usage.input_tokens, usage.output_tokens
                );
            }
            Ok(StreamEvent::ToolCall(_)) => {}
            Ok(StreamEvent::Finish(reason)) => println!("finish: {}", reason.as_str()),
            Err(error) => {
                println!();
                println!(
                    "stream failed: {error} (retryable: {})",
                    error.is_retryable()
                );
                return Err(error.into());
            }
        }
    }
    Ok(())
}
