//! Streams one answer from Anthropic's Messages API.
//!
//! Settings come from the environment:
//!
//! - `ANTHROPIC_API_KEY`: the key (required).
//! - `ANTHROPIC_BASE_URL`: another endpoint, e.g. a proxy; unset means Anthropic.
//! - `ANTHROPIC_MODEL`: the model id, `claude-3-5-haiku-20241022` by default.
//!
//! Run it with `cargo run -p hello-ship-examples --example stream_anthropic -- "your question"`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::error::Error;
use std::io::Write;

use futures_util::StreamExt;
use llm_providers::anthropic::AnthropicProvider;
use llm_providers::{Provider, ProviderRequest, SecretString, StreamEvent};
use shipped_core::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello in five words.".to_owned());
    let model =
        std::env::var("ANTHROPIC_MODEL").unwrap_or_else(|_| "claude-3-5-haiku-20241022".to_owned());
    let api_key = std::env::var("ANTHROPIC_API_KEY").map_err(|_| "set ANTHROPIC_API_KEY")?;

    let mut builder = AnthropicProvider::builder().api_key(SecretString::from(api_key));
    if let Ok(base_url) = std::env::var("ANTHROPIC_BASE_URL") {
        builder = builder.base_url(base_url);
    }
    let provider = builder.build()?;

    // A system message becomes Anthropic's top-level `system` field.
    let mut chat = ChatRequest::new(vec![
        ChatMessage::system("Answer in one sentence."),
        ChatMessage::user(question),
    ]);
    chat.max_tokens = Some(256);
    let request = ProviderRequest::new(model, chat);

    // Usage events are cumulative: each one replaces the last, so only the
    // final one is printed.
    let mut stream = provider.stream(&request).await?;
    let mut last_usage = None;
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Text(text) => {
                print!("{text}");
                stdout.flush()?;
            }
            StreamEvent::Usage(usage) => last_usage = Some(usage),
            StreamEvent::ToolCall(_) => {}
            StreamEvent::Finish(reason) => {
                println!();
                println!("finish: {}", reason.as_str());
            }
        }
    }
    if let Some(usage) = last_usage {
        println!(
            "usage: {} in ({} from cache), {} out",
            usage.input_tokens, usage.cached_input_tokens, usage.output_tokens
        );
    }
    Ok(())
}
