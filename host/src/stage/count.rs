//! `countByValue`: each distinct value of the batch with how many times it
//! came, as `(value, count)` records, counted by the host with no operator.
//! Each partition counts its run of the upstream records before the
//! exchange (a map-side combine), so one record per value per partition
//! crosses it, and the value's owner adds the counts up.

use std::hash::Hasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::kind::{Context, Kind, Operators, Ran, Setup};
use crate::plugin::Failure;
use crate::record::{Batch, ByteList};
use crate::shuffle;

/// A count-by-value stage.
pub(crate) struct CountByValue;

impl Kind for CountByValue {
    type State = ();
    type Pending = ();

    fn operators(&self, _: &Arc<str>) -> Operators {
        Operators::default()
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;
    /// Always: [`Kind::run`] adds up counts.
    fn combines(_: usize) -> bool {
        true
    }

    fn combine(&self, _: &mut Operators, input: &Batch) -> Result<Batch, Failure> {
        let mut tally = Tally::new(&input.values);
        for (i, &time) in input.timestamps.iter().enumerate() {
            tally.add(i, 1, time);
        }
        Ok(tally.into_batch(Counts::Partial))
    }

    fn run(
        &self,
        _: &mut Operators,
        _: &(),
        inputs: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let input = &inputs[0];
        let mut tally = Tally::new(&input.keys);
        for (i, &time) in input.timestamps.iter().enumerate() {
            tally.add(i, partial_count(input.values.get(i)), time);
        }
        Ok(Ran::records(tally.into_batch(Counts::Decimal)))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The counts of the values in one list, each with its latest timestamp.
///
/// Each value's count lives in the hash table's own entry, which holds
/// the value's first 16 bytes too: most values counted are words, which
/// then hash, compare and count with one random memory access per record
/// (the entry), not three (entry, value bytes, count).
struct Tally<'a> {
    values: &'a ByteList,
    table: HashTable<Total>,
}

/// One value's count.
struct Total {
    /// The value's first 16 bytes, zero past its end.
    head: u128,
    /// The value's length.
    len: u32,
    /// The item of the list where the value came first.
    first: u32,
    count: u64,
    latest: i64,
}

/// How [`Tally::into_batch`] writes counts.
enum Counts {
    /// As 8 little-endian bytes: partial counts the exchange takes to
    /// each value's owner.
    Partial,
    /// In decimal, for the stage's output.
    Decimal,
}

impl<'a> Tally<'a> {
    fn new(values: &'a ByteList) -> Self {
        // Most batches repeat their values: start small, grow as needed.
        let guess = values.len().min(1 << 12);
        Tally {
            values,
            table: HashTable::with_capacity(guess),
        }
    }

    /// Adds `n` to the count of item `i`'s value, seen at `timestamp`.
    fn add(&mut self, i: usize, n: u64, timestamp: i64) {
        let values = self.values;
        let start = match i {
            0 => 0,
            _ => values.ends[i - 1] as usize,
        };
        let bytes = &values.data[start..values.ends[i] as usize];
        let head = head(&values.data, start, bytes);
        let len = bytes.len() as u32;
        let same = |total: &Total| {
            total.head == head
                && total.len == len
                && (len <= 16 || values.get(total.first as usize)[16..] == bytes[16..])
        };
        let hashed = hash(head, bytes);
        match self.table.find_mut(hashed, same) {
            Some(total) => {
                total.count += n;
                total.latest = total.latest.max(timestamp);
            }
            None => {
                let total = Total {
                    head,
                    len,
                    first: i as u32,
                    count: n,
                    latest: timestamp,
                };
                let rehash = |t: &Total| hash(t.head, values.get(t.first as usize));
                self.table.insert_unique(hashed, total, rehash);
            }
        }
    }

    /// One record per value, in order of first appearance, keyed by the
    /// value, its count as the value, its latest timestamp as the time.
    fn into_batch(self, counts: Counts) -> Batch {
        let mut totals: Vec<Total> = self.table.into_iter().collect();
        totals.sort_unstable_by_key(|t| t.first);
        let bytes = totals.iter().map(|t| t.len as usize + 8).sum();
        let mut out = Batch::with_capacity(totals.len(), bytes);
        let mut digits = itoa::Buffer::new();
        for total in totals {
            let binary = total.count.to_le_bytes();
            let count = match counts {
                Counts::Partial => &binary[..],
                Counts::Decimal => digits.format(total.count).as_bytes(),
            };
            let value = self.values.get(total.first as usize);
            out.push(Some(value), count, total.latest);
        }
        out
    }
}

/// The first 16 bytes of `bytes`, which start at `start` in `data`, zero
/// past their end: read as one block where `data` has 16 bytes from
/// there, with what follows the value masked off.
fn head(data: &[u8], start: usize, bytes: &[u8]) -> u128 {
    match data.get(start..start + 16) {
        Some(block) => {
            let block = u128::from_le_bytes(block.try_into().expect("16 bytes"));
            match bytes.len() {
                16.. => block,
                n => block & ((1u128 << (8 * n)) - 1),
            }
        }
        None => {
            let mut block = [0u8; 16];
            let n = bytes.len().min(16);
            block[..n].copy_from_slice(&bytes[..n]);
            u128::from_le_bytes(block)
        }
    }
}

fn hash(head: u128, bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write_u128(head);
    hasher.write_usize(bytes.len());
    if let Some(rest) = bytes.get(16..) {
        hasher.write(rest);
    }
    hasher.finish()
}

/// A count [`Counts::Partial`] wrote before the exchange.
fn partial_count(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("partial counts are 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::display;

    fn words(words: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for (t, word) in words.iter().enumerate() {
            batch.push(None, word.as_bytes(), t as i64);
        }
        batch
    }

    #[test]
    fn each_partition_counts_its_run_and_the_owner_adds_the_counts_up() {
        let kind = CountByValue;
        let mut ops = Operators::default();
        let a = kind.combine(&mut ops, &words(&["x", "y", "x"])).unwrap();
        let b = kind
            .combine(&mut ops, &words(&["y", "x", "z", "y"]))
            .unwrap();
        assert_eq!(a.len() + b.len(), 5, "one record per value per run");
        let mut exchanged = a.clone();
        exchanged.extend(&b);
        let at = Context {
            batch: crate::sink::BatchInfo {
                id: 1,
                time_ms: 0,
                end_of_input: false,
            },
            watermark: None,
        };
        let out = kind.run(&mut ops, &(), &[exchanged], &at).unwrap().records;
        let shown: Vec<String> = out.iter().map(|r| display(&r)).collect();
        assert_eq!(shown, ["(x,3)", "(y,3)", "(z,1)"]);
        let latest: Vec<i64> = out.iter().map(|r| r.timestamp).collect();
        assert_eq!(latest, [2, 3, 2]);
    }

    #[test]
    fn values_count_apart_whatever_their_length_and_place_in_the_batch() {
        // Sixteen bytes and more share heads; short values end near the
        // batch's end, where no 16-byte block follows them; empty values
        // and bytes that are not UTF-8 count like any other.
        let long = "a value of more than sixteen bytes";
        let longer = "a value of more than sixteen bytes!";
        let sixteen = "0123456789abcdef";
        let values = [
            long, sixteen, longer, long, "", "x", sixteen, "", "x", "xy", "x",
        ];
        let mut batch = words(&values);
        batch.push(None, b"\xffz", 11);
        batch.push(None, b"\xff", 12);
        batch.push(None, b"\xffz", 13);
        let kind = CountByValue;
        let mut ops = Operators::default();
        let partial = kind.combine(&mut ops, &batch).unwrap();
        let at = Context {
            batch: crate::sink::BatchInfo {
                id: 1,
                time_ms: 0,
                end_of_input: false,
            },
            watermark: None,
        };
        let out = kind.run(&mut ops, &(), &[partial], &at).unwrap().records;
        let shown: Vec<String> = out.iter().map(|r| display(&r)).collect();
        assert_eq!(
            shown,
            [
                format!("({long},2)"),
                format!("({sixteen},2)"),
                format!("({longer},1)"),
                "(,2)".to_owned(),
                "(x,3)".to_owned(),
                "(xy,1)".to_owned(),
                "(\\xffz,2)".to_owned(),
                "(\\xff,1)".to_owned(),
            ]
        );
    }
}
