//! Reading newline-delimited records from any byte stream, shared by the
//! socket and stdin sources.

use anyhow::Result;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

use super::{CHUNK_RECORDS, MAX_LINE_BYTES, now_millis};
use crate::record::Batch;

/// How a stream of lines ended.
#[derive(Debug)]
pub enum Ended {
    /// The stream reached its end.
    Closed,
    /// The pipeline is stopping.
    Stopped,
    /// Reading failed (a connection reset, say).
    Failed(std::io::Error),
    /// Nobody takes the records any more.
    Dropped,
}

/// Reads lines from `reader` until it ends, fails, or `stop` is set,
/// sending them in chunks. A line is sent as soon as it is complete: a
/// chunk goes out when full or when what is buffered holds no other
/// complete line, so lines are never held back behind a partial one. A
/// line longer than [`MAX_LINE_BYTES`] is split into records of that
/// size. However it ends, nothing received is lost: complete lines and a
/// final unterminated one are sent first.
pub async fn read_lines<R: AsyncRead + Unpin>(
    source: &str,
    reader: &mut BufReader<R>,
    tx: &mpsc::Sender<Batch>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut lines = Lines::default();
    let ended = loop {
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break Ended::Stopped,
            read = reader.fill_buf() => read.map(|buffer| lines.take(buffer)),
        };
        let (used, more_waiting) = match read {
            Ok((0, _)) => break Ended::Closed,
            Ok(taken) => taken,
            Err(e) => break Ended::Failed(e),
        };
        reader.consume(used);
        let due = lines.chunk.len() >= CHUNK_RECORDS || !more_waiting;
        if due && lines.send(source, tx).await.is_err() {
            return Ended::Dropped;
        }
    };
    // Whatever was received stays: on stop, the lines already buffered too.
    if let Ended::Stopped = ended {
        let mut rest = reader.buffer();
        while !rest.is_empty() {
            let (used, _) = lines.take(rest);
            rest = &rest[used..];
        }
    }
    lines.finish();
    if lines.send(source, tx).await.is_err() {
        return Ended::Dropped;
    }
    ended
}

/// Lines being cut out of a byte stream.
#[derive(Default)]
struct Lines {
    /// Complete lines not yet sent.
    chunk: Batch,
    /// The line being read.
    line: Vec<u8>,
    /// Records sent so far, for the log.
    total: u64,
}

impl Lines {
    /// Takes what it can of `buffer`: up to and including the next
    /// newline, or as much of a line as fits under the cap. Says how many
    /// bytes it used (0 only for an empty buffer: the end of the stream),
    /// and whether what is left of the buffer holds a complete line.
    fn take(&mut self, buffer: &[u8]) -> (usize, bool) {
        let room = MAX_LINE_BYTES - self.line.len();
        let window = &buffer[..buffer.len().min(room)];
        let used = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                self.line.extend_from_slice(&window[..newline]);
                self.push();
                newline + 1
            }
            None => {
                self.line.extend_from_slice(window);
                if self.line.len() >= MAX_LINE_BYTES {
                    self.push();
                }
                window.len()
            }
        };
        (used, buffer[used..].contains(&b'\n'))
    }

    /// The line read so far becomes a record (without a trailing `\r`).
    fn push(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        self.chunk.push(None, line, now_millis());
        self.line.clear();
    }

    /// A final line with no newline is a record too.
    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.push();
        }
    }

    async fn send(&mut self, source: &str, tx: &mpsc::Sender<Batch>) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.total += self.chunk.len() as u64;
        tracing::debug!(source, total = self.total, "read records");
        tx.send(std::mem::take(&mut self.chunk)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(batch: &Batch) -> Vec<Vec<u8>> {
        batch.iter().map(|r| r.value.to_vec()).collect()
    }

    #[test]
    fn complete_lines_are_taken_before_a_partial_one_and_long_lines_are_split() {
        let mut lines = Lines::default();
        let input = b"a\r\nb\npart";
        let mut at = 0;
        let mut waiting = Vec::new();
        while at < input.len() {
            let (used, more) = lines.take(&input[at..]);
            at += used;
            waiting.push(more);
        }
        assert_eq!(values(&lines.chunk), [b"a".to_vec(), b"b".to_vec()]);
        // After `b\n`, what is left (`part`) holds no complete line: the
        // chunk goes out then, not when `part` is finished.
        assert_eq!(waiting, [true, false, false]);
        lines.finish();
        assert_eq!(values(&lines.chunk).last().unwrap(), b"part");

        let mut lines = Lines::default();
        let long = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
        let mut rest = &long[..];
        while !rest.is_empty() {
            let (used, _) = lines.take(rest);
            rest = &rest[used..];
        }
        lines.finish();
        let sizes: Vec<usize> = lines.chunk.iter().map(|r| r.value.len()).collect();
        assert_eq!(sizes, [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]);
    }
}
