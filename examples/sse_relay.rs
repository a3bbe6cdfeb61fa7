//! Decodes a provider's server-sent event stream and re-encodes it, the way a
//! gateway relays a stream to its client.
//!
//! The input is a `.sse` file given on the command line, or by default a recorded
//! OpenAI chat completion stream from the repository's test data. The relayed
//! stream goes to stdout. For the provider transcripts in `testdata/fixtures/`
//! it is the input byte for byte.
//!
//! Run it with `cargo run -p hello-ship-examples --example sse_relay -- [FILE.sse]`.

use std::error::Error;
use std::io::Write;

use futures_util::StreamExt;
use llm_stream::{EventStream, EventStreamError, Frame};

/// A recorded OpenAI stream, used when no file is given.
const DEFAULT_STREAM: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/fixtures/openai-chat-stream-text-usage.sse"
));

/// Size of the reads the file is split into, as small as a slow network's.
const READ_SIZE: usize = 100;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let body = match std::env::args_os().nth(1) {
        Some(path) => std::fs::read(path)?,
        None => DEFAULT_STREAM.to_vec(),
    };

    // An HTTP client hands over the body as a stream of byte chunks that may end
    // anywhere, even inside a character or a line end. Cut the file the same way.
    let reads: Vec<Result<Vec<u8>, std::io::Error>> = body
        .chunks(READ_SIZE)
        .map(|read| Ok(read.to_vec()))
        .collect();
    let mut events = EventStream::new(futures_util::stream::iter(reads));

    let mut stdout = std::io::stdout().lock();
    let mut relayed = 0;
    while let Some(item) = events.next().await {
        let frame = match item {
            // Re-encode each event. `Frame` splits data at its line ends, so no
            // value can break the framing on the way out.
            Ok(event) => {
                let mut frame = Frame::data(event.data);
                if event.event != "message" {
                    frame = frame.event(event.event);
                }
                if !event.id.is_empty() {
                    frame = frame.id(event.id);
                }
                relayed += 1;
                frame
            }
            // A stream cut inside an event ends with a typed error frame, so the
            // client never mistakes it for a complete answer.
            Err(EventStreamError::Decode(error)) => Frame::data(error.to_string()).event("error"),
            Err(EventStreamError::Transport(error)) => return Err(error.into()),
        };
        // Write and flush every frame as it is produced, as a relay must.
        stdout.write_all(&frame.to_bytes())?;
        stdout.flush()?;
    }

    writeln!(std::io::stderr(), "relayed {relayed} events")?;
    Ok(())
}
