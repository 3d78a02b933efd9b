//! Synthetic records for benchmarks and demos: small JSON objects with a
//! sequence number, an HTTP-like status (`"500"` for one record in ten,
//! else `"200"`) and words of text, padded to a fixed size. The same
//! sequence number always gives the same record.

use anyhow::{Result, bail};

use super::{Position, Pull, Segment};
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

/// A batch of generated records `first .. first + count`, stamped `time`.
pub fn batch(first: u64, count: usize, bytes: usize, time: i64) -> Batch {
    let mut batch = Batch::with_capacity(count, count * bytes);
    let mut value = Vec::with_capacity(bytes);
    for seq in first..first + count as u64 {
        value.clear();
        record(seq, bytes, &mut value);
        batch.push(None, &value, time);
    }
    batch
}

impl Generator {
    /// Starts generating; a rate counts from now.
    pub fn start(self) -> Generating {
        Generating {
            spec: self,
            next: 0,
            started: std::time::Instant::now(),
        }
    }
}

/// A running generator: the next sequence number, and since when it runs.
pub struct Generating {
    spec: Generator,
    next: u64,
    started: std::time::Instant,
}

impl Pull for Generating {
    fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)> {
        let mut until = self.spec.records.unwrap_or(u64::MAX);
        if let Some(rate) = self.spec.rate {
            let due = (self.started.elapsed().as_secs_f64() * rate as f64) as u64;
            until = until.min(due);
        }
        let fit = (max_bytes / self.spec.record_bytes.max(1)).max(1);
        let count = until
            .saturating_sub(self.next)
            .min(max_records as u64)
            .min(fit as u64);
        let start = self.next;
        self.next += count;
        let segments = match count {
            0 => Vec::new(),
            _ => vec![Segment::Seq {
                start,
                end: self.next,
            }],
        };
        let records = batch(start, count as usize, self.spec.record_bytes, time);
        Ok((records, segments))
    }

    fn ended(&self) -> bool {
        self.spec.records.is_some_and(|n| self.next >= n)
    }

    fn position(&self) -> Position {
        Position::Generator { next: self.next }
    }

    fn seek(&mut self, position: &Position) -> Result<()> {
        let Position::Generator { next } = position else {
            bail!("a generator cannot resume from another kind of source's position");
        };
        self.next = *next;
        Ok(())
    }

    fn replay(&mut self, segments: &[Segment], time: i64) -> Result<Batch> {
        let mut records = Batch::default();
        for segment in segments {
            let Segment::Seq { start, end } = segment else {
                bail!("a generator cannot replay another kind of source's input");
            };
            let count = end.saturating_sub(*start) as usize;
            records.extend(&batch(*start, count, self.spec.record_bytes, time));
            self.next = *end;
        }
        Ok(records)
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
