//! Decoding throughput on real provider transcripts, side by side with the
//! `eventsource-stream` crate on the same input and the same reads.
//!
//! Each transcript is repeated to about 1 MiB and fed as a stream of reads of a
//! fixed size. Run with:
//!
//! ```text
//! cargo bench -p llm-stream --bench decode -- --warm-up-time 1 --measurement-time 3
//! ```

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource as _;
use futures_util::{FutureExt as _, Stream, StreamExt as _, stream};
use llm_stream::{Decoder, EventStream};

const TRANSCRIPTS: [&str; 2] = [
    "openai-chat-stream-text-usage.sse",
    "anthropic-messages-stream-text.sse",
];

/// Read sizes: a small network read, and a large one.
const READ_SIZES: [usize; 2] = [256, 16 * 1024];

const INPUT_SIZE: usize = 1024 * 1024;

/// Returns the transcript repeated until it is at least [`INPUT_SIZE`] bytes.
fn load(name: &str) -> Bytes {
    let path = format!(
        "{}/../../testdata/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let once = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let copies = INPUT_SIZE.div_ceil(once.len());
    Bytes::from(once.repeat(copies))
}

/// Splits `input` into reads of `size` bytes without copying.
fn reads(input: &Bytes, size: usize) -> Vec<Bytes> {
    (0..input.len())
        .step_by(size)
        .map(|start| input.slice(start..(start + size).min(input.len())))
        .collect()
}

fn body(reads: &[Bytes]) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
    stream::iter(reads.to_vec()).map(Ok)
}

/// Drains a stream whose items are all ready, returning how many it yielded.
fn drain<S: Stream + Unpin>(mut events: S) -> usize {
    let mut count = 0;
    while let Some(item) = events.next().now_or_never().expect("ready stream") {
        black_box(item);
        count += 1;
    }
    count
}

fn llm_stream_events(reads: &[Bytes]) -> usize {
    drain(EventStream::new(body(reads)))
}

fn eventsource_stream_events(reads: &[Bytes]) -> usize {
    drain(body(reads).eventsource())
}

fn decoder_events(reads: &[Bytes]) -> usize {
    let mut decoder = Decoder::new();
    let mut count = 0;
    for read in reads {
        decoder.push(read);
        while let Some(event) = decoder.next_event() {
            black_box(event.expect("valid event"));
            count += 1;
        }
    }
    decoder.finish().expect("complete stream");
    count
}

fn decode(c: &mut Criterion) {
    for name in TRANSCRIPTS {
        let input = load(name);
        let mut group = c.benchmark_group(format!("decode/{}", name.trim_end_matches(".sse")));
        group.throughput(Throughput::Bytes(input.len() as u64));

        for size in READ_SIZES {
            let reads = reads(&input, size);
            let expected = decoder_events(&reads);
            assert_eq!(llm_stream_events(&reads), expected, "{name}");
            assert_eq!(eventsource_stream_events(&reads), expected, "{name}");

            group.bench_with_input(BenchmarkId::new("llm-stream", size), &reads, |b, reads| {
                b.iter(|| llm_stream_events(reads));
            });
            group.bench_with_input(
                BenchmarkId::new("eventsource-stream", size),
                &reads,
                |b, reads| b.iter(|| eventsource_stream_events(reads)),
            );
            group.bench_with_input(BenchmarkId::new("Decoder", size), &reads, |b, reads| {
                b.iter(|| decoder_events(reads));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
