//! Reading newline-delimited records from any byte stream, shared by the
//! socket and stdin sources.

use anyhow::Result;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{mpsc, watch};

use super::{CHUNK_RECORDS, MAX_LINE_BYTES, now_millis};
use crate::record::Batch;

/// Reads lines from `reader` until it ends or `stop` is set, sending them in
/// chunks. A chunk goes out when full or when no more input is waiting, so
/// a slow trickle of lines still reaches the next batch. On stop, lines
/// already received (including a final unterminated one) are sent, not
/// dropped.
pub async fn read_lines<R: AsyncRead + Unpin>(
    source: &str,
    mut reader: BufReader<R>,
    tx: &mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut chunk = Batch::default();
    let mut line = Vec::new();
    let mut total = 0u64;
    loop {
        let read = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => None,
            read = reader.read_until(b'\n', &mut line) => Some(read?),
        };
        match read {
            None => {
                // Stopping: keep what was already received.
                let buffered = reader.buffer().to_vec();
                line.extend_from_slice(&buffered);
                for piece in line.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    push_line(&mut chunk, piece);
                }
                break;
            }
            Some(0) => {
                if !line.is_empty() {
                    push_line(&mut chunk, &line);
                }
                break;
            }
            Some(_) => {
                if line.last() == Some(&b'\n') || line.len() >= MAX_LINE_BYTES {
                    push_line(&mut chunk, &line);
                    line.clear();
                }
            }
        }
        if chunk.len() >= CHUNK_RECORDS || (!chunk.is_empty() && reader.buffer().is_empty()) {
            total += chunk.len() as u64;
            tracing::debug!(source, total, "read records");
            if tx.send(std::mem::take(&mut chunk)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        total += chunk.len() as u64;
        tracing::debug!(source, total, "read records");
        let _ = tx.send(chunk).await;
    }
    Ok(())
}

fn push_line(chunk: &mut Batch, line: &[u8]) {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    chunk.push(None, line, now_millis());
}
