//! Synthetic records for benchmarks and demos: small JSON objects with a
//! sequence number, an HTTP-like status (`"500"` for one record in ten,
//! else `"200"`) and words of text, padded to a fixed size. The same
//! sequence number always gives the same record.

use std::time::Duration;

use anyhow::Result;
use tokio::sync::{mpsc, watch};

use super::{CHUNK_RECORDS, now_millis};
use crate::record::Batch;

const WORDS: [&str; 16] = [
    "stream",
    "batch",
    "window",
    "Kafka",
    "state",
    "operator",
    "Wasm",
    "record",
    "key",
    "value",
    "shuffle",
    "reduce",
    "Spark",
    "sink",
    "source",
    "partition",
];

/// Settings of a generator source.
pub struct Generator {
    /// How many records before the source ends; `None` for no end.
    pub records: Option<u64>,
    /// Records per second; `None` for as fast as the batcher takes them.
    pub rate: Option<u64>,
    /// Size of each value in bytes (at least the JSON frame).
    pub record_bytes: usize,
}

/// Writes record number `seq`, `bytes` long (or the shortest valid record if
/// `bytes` is smaller), into `out`.
pub fn record(seq: u64, bytes: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    let start = out.len();
    let status = if seq.is_multiple_of(10) { "500" } else { "200" };
    write!(out, r#"{{"seq":{seq},"status":"{status}","text":""#).expect("writing to a Vec");
    let mut state = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut first = true;
    // Leave room for the closing `"}`.
    while out.len() - start + 2 < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = WORDS[(state % WORDS.len() as u64) as usize];
        let room = bytes - 2 - (out.len() - start);
        if !first {
            if room < 2 {
                break;
            }
            out.push(b' ');
        }
        let room = bytes - 2 - (out.len() - start);
        out.extend_from_slice(&word.as_bytes()[..word.len().min(room)]);
        first = false;
    }
    out.extend_from_slice(b"\"}");
}

/// A batch of generated records `first .. first + count`.
pub fn batch(first: u64, count: usize, bytes: usize) -> Batch {
    let mut batch = Batch::with_capacity(count, count * bytes);
    let mut value = Vec::with_capacity(bytes);
    for seq in first..first + count as u64 {
        value.clear();
        record(seq, bytes, &mut value);
        batch.push(None, &value, now_millis());
    }
    batch
}

pub async fn run(
    spec: Generator,
    tx: mpsc::Sender<Batch>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut seq = 0u64;
    let started = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let remaining = spec.records.map_or(u64::MAX, |n| n - seq);
        if remaining == 0 {
            return Ok(());
        }
        let mut count = (CHUNK_RECORDS as u64).min(remaining);
        if let Some(rate) = spec.rate {
            // Emit what the rate allows by now, waiting if nothing is due.
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            if due <= seq {
                let next_due = Duration::from_secs_f64((seq + 1) as f64 / rate as f64);
                let wait = next_due.saturating_sub(started.elapsed());
                let mut stop = stop.clone();
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => return Ok(()),
                    _ = tokio::time::sleep(wait.max(Duration::from_millis(1))) => {}
                }
                continue;
            }
            count = count.min(due - seq);
        }
        let chunk = batch(seq, count as usize, spec.record_bytes);
        seq += count;
        if tx.send(chunk).await.is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_have_the_asked_size_and_are_json() {
        for bytes in [40, 100, 257] {
            let mut out = Vec::new();
            super::record(12, bytes, &mut out);
            assert_eq!(out.len(), bytes, "{}", String::from_utf8_lossy(&out));
            let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(json["status"], "200");
        }
    }
}
