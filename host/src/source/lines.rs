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
    read_lines_capped(source, reader, tx, stop, MAX_LINE_BYTES).await
}

/// [`read_lines`] with lines split at `cap` bytes (the fuzz target's
/// small caps reach the split often).
pub async fn read_lines_capped<R: AsyncRead + Unpin>(
    source: &str,
    reader: &mut BufReader<R>,
    tx: &mpsc::Sender<Batch>,
    stop: &mut watch::Receiver<bool>,
    cap: usize,
) -> Ended {
    let mut lines = Lines::new(cap);
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

/// The records `stream` becomes when it arrives `read` bytes at a time
/// and lines are cut at `cap` bytes (for the `socket_lines` fuzz target).
pub fn lines_of(stream: &[u8], read: usize, cap: usize) -> Vec<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime on this thread");
    runtime.block_on(async {
        // Room for every chunk: each holds at least one record.
        let (tx, mut rx) = mpsc::channel(stream.len() + 2);
        let (_stop, mut stopped) = watch::channel(false);
        let mut reader = BufReader::with_capacity(read.max(1), stream);
        read_lines_capped("fuzz", &mut reader, &tx, &mut stopped, cap).await;
        drop(tx);
        let mut records = Vec::new();
        while let Some(chunk) = rx.recv().await {
            records.extend(chunk.iter().map(|r| r.value.to_vec()));
        }
        records
    })
}

/// Lines being cut out of a byte stream. A line (without its `\n` or
/// `\r\n`) becomes records of at most `cap` bytes: one, or several when
/// it is longer.
struct Lines {
    /// The longest record.
    cap: usize,
    /// Complete lines not yet sent.
    chunk: Batch,
    /// The line being read: at most `cap + 1` bytes, since the first
    /// `cap` bytes go out as a record as soon as two more follow (they
    /// cannot be the line's `\r\n` then).
    line: Vec<u8>,
    /// Records sent so far, for the log.
    total: u64,
}

impl Lines {
    fn new(cap: usize) -> Self {
        Lines {
            cap: cap.max(1),
            chunk: Batch::default(),
            line: Vec::new(),
            total: 0,
        }
    }

    /// Takes what it can of `buffer`: up to and including the next
    /// newline, or as much of a line as may be held. Says how many bytes
    /// it used (0 only for an empty buffer: the end of the stream), and
    /// whether what is left of the buffer holds a complete line.
    fn take(&mut self, buffer: &[u8]) -> (usize, bool) {
        let room = self.cap + 2 - self.line.len();
        let window = &buffer[..buffer.len().min(room)];
        let used = match window.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                self.line.extend_from_slice(&window[..newline]);
                self.end_line();
                newline + 1
            }
            None => {
                self.line.extend_from_slice(window);
                if self.line.len() == self.cap + 2 {
                    let piece: Vec<u8> = self.line.drain(..self.cap).collect();
                    self.chunk.push(None, &piece, now_millis());
                }
                window.len()
            }
        };
        (used, buffer[used..].contains(&b'\n'))
    }

    /// The line read so far, without a trailing `\r`, becomes records.
    fn end_line(&mut self) {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let time = now_millis();
        if self.line.len() > self.cap {
            self.chunk.push(None, &self.line[..self.cap], time);
            self.line.drain(..self.cap);
        }
        self.chunk.push(None, &self.line, time);
        self.line.clear();
    }

    /// A final line with no newline is a record too.
    fn finish(&mut self) {
        if !self.line.is_empty() {
            self.end_line();
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
        let mut lines = Lines::new(MAX_LINE_BYTES);
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

        let mut lines = Lines::new(MAX_LINE_BYTES);
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

    /// Found while writing the `socket_lines` fuzz target: a line exactly
    /// as long as the cap was cut at the cap, and its newline (or `\r\n`)
    /// then ended an empty record of its own.
    #[test]
    fn a_line_exactly_as_long_as_the_cap_is_one_record() {
        let mut lines = Lines::new(4);
        let mut rest = &b"abcd\nefgh\r\nij"[..];
        while !rest.is_empty() {
            let (used, _) = lines.take(rest);
            rest = &rest[used..];
        }
        lines.finish();
        assert_eq!(
            values(&lines.chunk),
            [b"abcd".to_vec(), b"efgh".to_vec(), b"ij".to_vec()]
        );
    }
}
