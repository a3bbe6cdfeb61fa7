//! `EventStream` over streams of byte chunks: events as chunks arrive, cut
//! streams, transport errors and limits.

mod support;

use std::error::Error as _;
use std::io;

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _, stream};
use llm_stream::{DecodeError, Decoder, Event, EventStream, EventStreamError};
use support::read_testdata;

type Chunk = Result<Bytes, io::Error>;

fn chunks(parts: &[&'static [u8]]) -> impl futures_util::Stream<Item = Chunk> {
    stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

/// Collects every item of a stream whose items are all ready.
fn collect_ready<S: futures_util::Stream + Unpin>(stream: S) -> Vec<S::Item> {
    stream
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("stream is ready")
}

#[test]
fn yields_events_across_chunks() {
    let items = collect_ready(EventStream::new(chunks(&[
        b"event: delta\r",
        b"\ndata: He",
        b"llo\r\n\r\nid: 5\ndata: [DONE]\n",
        b"\n",
    ])));

    let events: Vec<Event> = items.into_iter().map(|item| item.expect("event")).collect();
    assert_eq!(
        events,
        [
            Event {
                event: "delta".into(),
                data: "Hello".into(),
                id: String::new(),
            },
            Event {
                event: "message".into(),
                data: "[DONE]".into(),
                id: "5".into(),
            },
        ]
    );
}

#[test]
fn cut_stream_ends_with_unterminated_error() {
    let mut events = EventStream::new(chunks(&[b"data: one\n\ndata: {\"tok"]));

    let first = events.next().now_or_never().flatten().expect("an item");
    assert_eq!(first.expect("event").data, "one");

    let error = events
        .next()
        .now_or_never()
        .flatten()
        .expect("an item")
        .unwrap_err();
    // `data: {"tok` is 11 bytes.
    assert!(
        matches!(
            error,
            EventStreamError::Decode(DecodeError::Unterminated { pending_bytes: 11 })
        ),
        "{error:?}"
    );
    assert!(error.source().is_some());
    assert!(events.next().now_or_never().expect("ready").is_none());
}

#[test]
fn clean_end_after_comment_is_not_an_error() {
    let items = collect_ready(EventStream::new(chunks(&[b"data: one\n\n: keep-alive"])));
    assert_eq!(items.len(), 1);
    assert!(items[0].is_ok());
}

#[test]
fn transport_error_ends_the_stream() {
    let body = stream::iter([
        Ok(Bytes::from_static(b"data: one\n\ndata: tw")),
        Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
        Ok(Bytes::from_static(b"o\n\n")),
    ]);
    let items = collect_ready(EventStream::new(body));

    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().expect("event").data, "one");
    let EventStreamError::Transport(error) = items[1].as_ref().unwrap_err() else {
        panic!("expected a transport error, got {:?}", items[1]);
    };
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    let source = items[1].as_ref().unwrap_err().source().expect("a source");
    assert_eq!(source.to_string(), "reset");
}

#[test]
fn too_large_event_ends_the_stream() {
    let body = chunks(&[
        b"data: 0123456789\n",
        b"data: 0123456789\n\n",
        b"data: x\n\n",
    ]);
    let items = collect_ready(EventStream::with_decoder(body, Decoder::with_max_size(20)));

    assert_eq!(items.len(), 1);
    assert!(matches!(
        items[0],
        Err(EventStreamError::Decode(DecodeError::TooLarge {
            limit: 20
        }))
    ));
}

#[test]
fn decoder_carries_id_to_reconnection() {
    let mut first = EventStream::new(chunks(&[b"retry: 1500\nid: 41\ndata: a\n\ndata: cut"]));
    while first.next().now_or_never().flatten().is_some() {}
    let decoder = first.into_decoder();
    assert_eq!(decoder.last_event_id(), "41");

    let second = EventStream::with_decoder(chunks(&[b"data: b\n\n"]), decoder);
    let items = collect_ready(second);
    assert_eq!(items.len(), 1);
    let event = items[0].as_ref().expect("event");
    assert_eq!(event.id, "41");
}

#[test]
fn accepts_any_byte_container() {
    let body = stream::iter([
        Ok::<_, io::Error>(b"data: ".to_vec()),
        Ok(b"vec\n\n".to_vec()),
    ]);
    let items = collect_ready(EventStream::new(body));
    assert_eq!(items[0].as_ref().expect("event").data, "vec");
}

#[test]
fn transcript_in_small_reads_matches_whole() {
    let bytes = Bytes::from(read_testdata(
        "fixtures/anthropic-messages-stream-tool-use.sse",
    ));
    let whole = support::decode_whole(&bytes).events;

    for size in [1, 2, 3, 7, 64, 1000] {
        let reads: Vec<Chunk> = (0..bytes.len())
            .step_by(size)
            .map(|start| Ok(bytes.slice(start..(start + size).min(bytes.len()))))
            .collect();
        let events: Vec<Event> = collect_ready(EventStream::new(stream::iter(reads)))
            .into_iter()
            .map(|item| item.expect("event"))
            .collect();
        assert_eq!(events, whole, "reads of {size} bytes");
    }
}

#[tokio::test]
async fn event_is_ready_before_the_body_ends() {
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let body = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut events = Box::pin(EventStream::new(body));

    tx.send(Ok(Bytes::from_static(b"data: first\n")))
        .await
        .unwrap();
    assert!(events.next().now_or_never().is_none(), "no blank line yet");

    tx.send(Ok(Bytes::from_static(b"\ndata: sec")))
        .await
        .unwrap();
    let first = events.next().await.expect("an item").expect("event");
    assert_eq!(first.data, "first");

    drop(tx);
    let end = events.next().await.expect("an item");
    assert!(matches!(
        end,
        Err(EventStreamError::Decode(DecodeError::Unterminated { .. }))
    ));
    assert!(events.next().await.is_none());
}

#[test]
fn types_can_move_between_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}

    assert_send_sync::<Decoder>();
    assert_send_sync::<Event>();
    assert_send_sync::<DecodeError>();
    assert_send_sync::<EventStream<stream::Iter<std::vec::IntoIter<Chunk>>>>();
    assert_send_sync::<EventStreamError<io::Error>>();
    assert_send_sync::<llm_stream::SentenceBuffer>();
}
