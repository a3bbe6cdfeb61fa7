use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::LogSink;

/// A message to the writing thread.
enum Message {
    Line(Vec<u8>),
    /// Write out what is queued and stop.
    Finish,
}

/// A [`LogSink`] whose lines a thread of its own writes, so that the thread
/// that logs does not wait for the output.
///
/// Lines wait in a queue of a fixed number of lines. When it is full, the
/// thread that logs waits for room, so no line is dropped. The writing thread
/// writes everything it finds queued with one call and flushes before it
/// waits again, so a line is out as soon as that thread has run.
///
/// Dropping the [`BackgroundGuard`] writes out every queued line and waits for
/// it, however long the output takes. Lines logged after that are dropped.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use shipped_obs::{BackgroundWriter, LogSink};
///
/// #[derive(Clone, Default)]
/// struct Shared(Arc<Mutex<Vec<u8>>>);
///
/// impl std::io::Write for Shared {
///     fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(bytes);
///         Ok(bytes.len())
///     }
///
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let output = Shared::default();
/// let (sink, guard) = BackgroundWriter::spawn(output.clone(), 1024)?;
/// sink.write_line(b"{\"message\":\"started\"}\n");
/// drop(guard);
/// assert_eq!(output.0.lock().unwrap().as_slice(), b"{\"message\":\"started\"}\n");
/// # Ok::<_, std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BackgroundWriter {
    sender: SyncSender<Message>,
}

/// Stops a [`BackgroundWriter`]'s thread when dropped, after it has written
/// every queued line.
#[derive(Debug)]
pub struct BackgroundGuard {
    sender: SyncSender<Message>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundWriter {
    /// Starts the writing thread over `output`, with room for `queue_lines`
    /// lines, and returns the sink with the guard that stops it.
    ///
    /// # Errors
    ///
    /// Fails when the thread cannot be started.
    pub fn spawn<W: Write + Send + 'static>(
        output: W,
        queue_lines: usize,
    ) -> std::io::Result<(Self, BackgroundGuard)> {
        let (sender, receiver) = sync_channel(queue_lines);
        let thread = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || write_until_finished(output, &receiver))?;
        let guard = BackgroundGuard {
            sender: sender.clone(),
            thread: Some(thread),
        };
        Ok((Self { sender }, guard))
    }
}

impl LogSink for BackgroundWriter {
    fn write_line(&self, line: &[u8]) {
        // `send` fails only after the guard's drop has stopped the writing
        // thread, which drops the receiver. The line is then dropped.
        let _ = self.sender.send(Message::Line(line.to_vec()));
    }
}

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        // Queued behind every line already sent, so those are written first.
        if self.sender.send(Message::Finish).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// Writes each batch of queued lines with one call and flushes it, until a
/// [`Message::Finish`] arrives or every sender is gone.
fn write_until_finished<W: Write>(output: W, receiver: &Receiver<Message>) {
    let mut output = std::io::BufWriter::with_capacity(64 * 1024, output);
    while let Ok(mut message) = receiver.recv() {
        loop {
            match message {
                Message::Line(line) => {
                    // NOTE: a failed write (a closed pipe) cannot be logged
                    // anywhere else, so the line is dropped.
                    let _ = output.write_all(&line);
                }
                Message::Finish => {
                    let _ = output.flush();
                    return;
                }
            }
            match receiver.try_recv() {
                Ok(next) => message = next,
                Err(_) => break,
            }
        }
        let _ = output.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// An output that takes `delay` for every write, like a slow log reader.
    #[derive(Clone)]
    struct SlowOutput {
        written: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        delay: Duration,
    }

    impl SlowOutput {
        fn new(delay: Duration) -> Self {
            Self {
                written: Arc::default(),
                writes: Arc::default(),
                delay,
            }
        }

        fn text(&self) -> String {
            String::from_utf8(self.written.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for SlowOutput {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.delay);
            self.written.lock().unwrap().extend_from_slice(bytes);
            *self.writes.lock().unwrap() += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn guard_waits_for_a_slow_output() {
        // About 75 batches of 30 ms, well over a second of writes: the guard
        // must wait for all of them.
        let output = SlowOutput::new(Duration::from_millis(30));
        let (sink, guard) = BackgroundWriter::spawn(output.clone(), 4).unwrap();
        let lines: Vec<String> = (0..300).map(|i| format!("line {i}\n")).collect();

        for line in &lines {
            sink.write_line(line.as_bytes());
        }
        drop(guard);

        assert_eq!(output.text(), lines.concat());
    }

    #[test]
    fn full_queue_makes_the_sender_wait() {
        let output = SlowOutput::new(Duration::from_millis(20));
        let (sink, guard) = BackgroundWriter::spawn(output.clone(), 1).unwrap();

        let started = std::time::Instant::now();
        for i in 0..10 {
            sink.write_line(format!("{i}\n").as_bytes());
        }

        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(guard);
        assert_eq!(output.text().lines().count(), 10);
    }

    #[test]
    fn queued_lines_are_written_in_batches() {
        let output = SlowOutput::new(Duration::from_millis(50));
        let (sink, guard) = BackgroundWriter::spawn(output.clone(), 1_000).unwrap();

        for i in 0..500 {
            sink.write_line(format!("{i}\n").as_bytes());
        }
        drop(guard);

        assert_eq!(output.text().lines().count(), 500);
        assert!(*output.writes.lock().unwrap() < 50);
    }

    #[test]
    fn line_after_the_guard_is_dropped() {
        let output = SlowOutput::new(Duration::ZERO);
        let (sink, guard) = BackgroundWriter::spawn(output.clone(), 8).unwrap();
        sink.write_line(b"kept\n");
        drop(guard);

        sink.write_line(b"late\n");

        assert_eq!(output.text(), "kept\n");
    }
}
