//! Streams one answer from OpenAI, or from any OpenAI-compatible server.
//!
//! Settings come from the environment:
//!
//! - `OPENAI_API_KEY`: the key; optional when `OPENAI_BASE_URL` points at a
//!   local server such as vLLM or Ollama.
//! - `OPENAI_BASE_URL`: e.g. `http://127.0.0.1:11434/v1`; unset means OpenAI.
//! - `OPENAI_MODEL`: the model id, `gpt-4o-mini` by default.
//!
//! Run it with `cargo run -p hello-ship-examples --example stream_openai -- "your question"`.
#![allow(clippy::print_stdout, reason = "an example prints its results")]

use std::error::Error;
use std::io::Write;

use futures_util::StreamExt;
use llm_providers::openai::OpenAiProvider;
use llm_providers::{Provider, ProviderRequest, SecretString, StreamEvent, ToolCallAssembler};
use shipped_core::{ChatMessage, ChatRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello in five words.".to_owned());
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let api_key = std::env::var("OPENAI_API_KEY").ok().map(SecretString::from);

    // OpenAI itself needs a key; a compatible server at a base URL may not.
    let provider = match std::env::var("OPENAI_BASE_URL") {
        Ok(base_url) => {
            let mut builder = OpenAiProvider::compatible_builder().base_url(base_url);
            if let Some(key) = api_key {
                builder = builder.api_key(key);
            }
            builder.build()?
        }
        Err(_) => {
            let key = api_key.ok_or("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server")?;
            OpenAiProvider::builder().api_key(key).build()?
        }
    };

    let mut chat = ChatRequest::new(vec![ChatMessage::user(question)]);
    chat.max_tokens = Some(256);
    let request = ProviderRequest::new(model, chat);

    // The stream yields text pieces, tool-call fragments and usage, then one
    // Finish; an Err ends it early, keeping the text already printed.
    let mut stream = provider.stream(&request).await?;
    let mut tool_calls = ToolCallAssembler::new();
    let mut stdout = std::io::stdout();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Text(text) => {
                print!("{text}");
                stdout.flush()?;
            }
            StreamEvent::ToolCall(delta) => tool_calls.push(&delta),
            StreamEvent::Usage(usage) => {
                println!();
                println!(
                    "usage: {} in, {} out",
                    usage.input_tokens, usage.output_tokens
                );
            }
            StreamEvent::Finish(reason) => println!("finish: {}", reason.as_str()),
        }
    }
    for call in tool_calls.finish() {
        println!("tool call {}: {}({})", call.id, call.name, call.arguments);
    }
    Ok(())
}
