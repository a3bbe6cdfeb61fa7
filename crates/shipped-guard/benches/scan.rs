//! Scanner throughput on about 1 MB of chat text, and the added time of checking a
//! typical 50-token streamed answer.
//!
//! Run with `cargo bench -p shipped-guard --bench scan`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shipped_guard::{Detector, OutputGuard, OutputMode, StreamVerdict};

/// Sentences in the style of assistant answers: prose with numbers, prices, dates,
/// versions and code, and three of the twenty contain a synthetic email, phone or card
/// number.
const SENTENCES: [&str; 20] = [
    "Sure, here is a summary of the quarterly report you shared earlier. ",
    "Revenue grew by 12.5% to $1,234,567.89 compared with the same period in 2023. ",
    "The meeting is scheduled for 2024-05-01 at 14:30 in room 4B. ",
    "You can install version v1.2.3 with `cargo add regex@1.10` and restart the service. ",
    "If the server at 10.0.0.1 does not respond, check the firewall rules first. ",
    "For questions, write to jane.doe@example.com and we will reply within a day. ",
    "The order number 20240501-7731 shipped yesterday and should arrive on Friday. ",
    "Pi is roughly 3.14159, which is close enough for most engineering estimates. ",
    "Here is a list of steps:\n1. Open the settings page.\n2. Select the billing tab.\n",
    "The function returns an iterator, so call `collect()` when you need a vector. ",
    "In short, the migration should take about 45 minutes with no downtime. ",
    "Let me know if you want me to rewrite the introduction in a friendlier tone! ",
    "Our support line is +1 415 555 0123 during business hours. ",
    "The invoice lists 3 items at 19.99 each, for a total of 59.97 before tax. ",
    "Do you want the answer as a table, or is a short paragraph enough? ",
    "Most teams see the biggest gains after caching the embeddings of common queries. ",
    "The test card 4111 1111 1111 1111 is accepted by the sandbox only. ",
    "Set the timeout to 30 seconds and the retry budget to 20% of the traffic. ",
    "The error came from line 218 of parser.rs, where the index ran past the end. ",
    "That covers everything in the document; the appendix only repeats the tables. ",
];

/// About 50 tokens in three sentences, split the way an OpenAI stream splits text.
const ANSWER_TOKENS: [&str; 50] = [
    "Sure",
    ",",
    " here",
    " is",
    " how",
    " to",
    " reset",
    " your",
    " password",
    ".",
    " Open",
    " the",
    " account",
    " page",
    ",",
    " choose",
    " Security",
    ",",
    " and",
    " click",
    " Reset",
    " password",
    " to",
    " get",
    " a",
    " link",
    " by",
    " email",
    ".",
    " If",
    " the",
    " link",
    " does",
    " not",
    " arrive",
    " within",
    " ten",
    " minutes",
    ",",
    " check",
    " your",
    " spam",
    " folder",
    " or",
    " ask",
    " support",
    " for",
    " help",
    " again",
    ".",
];

fn chat_text(min_bytes: usize) -> String {
    let mut text = String::with_capacity(min_bytes + 256);
    for sentence in SENTENCES.iter().cycle() {
        if text.len() >= min_bytes {
            break;
        }
        text.push_str(sentence);
    }
    text
}

fn throughput(c: &mut Criterion) {
    let text = chat_text(1 << 20);
    let mut group = c.benchmark_group("output_check_1mb");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    for (label, mode) in [("redact", OutputMode::Redact), ("block", OutputMode::Block)] {
        let guard = OutputGuard::new(mode, &Detector::ALL);
        group.bench_function(label, |b| {
            b.iter(|| guard.check(black_box(&text)).findings().total())
        });
    }
    group.finish();

    let mut group = c.benchmark_group("output_check_1mb_per_detector");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    for detector in Detector::ALL {
        let guard = OutputGuard::new(OutputMode::Redact, &[detector]);
        group.bench_function(detector.name(), |b| {
            b.iter(|| guard.check(black_box(&text)).findings().total())
        });
    }
    group.finish();
}

fn streamed_answer(c: &mut Criterion) {
    let guard = OutputGuard::new(OutputMode::Redact, &Detector::ALL);
    let mut group = c.benchmark_group("stream_50_tokens");
    group.bench_function("guarded", |b| {
        b.iter(|| {
            let mut stream = guard.stream();
            let mut released = 0;
            for token in ANSWER_TOKENS {
                if let StreamVerdict::Release(text) = stream.push(black_box(token)) {
                    released += text.len();
                }
            }
            if let StreamVerdict::Release(text) = stream.finish() {
                released += text.len();
            }
            released
        })
    });
    group.bench_function("unguarded", |b| {
        b.iter(|| {
            let mut released = 0;
            for token in ANSWER_TOKENS {
                released += black_box(token).to_owned().len();
            }
            released
        })
    });
    group.finish();
}

criterion_group!(benches, throughput, streamed_answer);
criterion_main!(benches);
