//! `countByValue`: each distinct value of the batch with how many times it
//! came, as `(value, count)` records, counted by the host with no operator.
//! Each partition counts its run of the upstream records before the
//! exchange (a map-side combine), so one record per value per partition
//! crosses it, and the value's owner adds the counts up.

use std::sync::Arc;

use super::distinct::Distinct;
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
struct Tally<'a> {
    values: &'a ByteList,
    totals: Distinct<'a, Total>,
}

/// One value's count.
struct Total {
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
        Tally {
            values,
            totals: Distinct::new(values),
        }
    }

    /// Adds `n` to the count of item `i`'s value, seen at `timestamp`.
    fn add(&mut self, i: usize, n: u64, timestamp: i64) {
        let total = self.totals.entry(i, false, || Total {
            count: 0,
            latest: i64::MIN,
        });
        total.count += n;
        total.latest = total.latest.max(timestamp);
    }

    /// One record per value, in order of first appearance, keyed by the
    /// value, its count as the value, its latest timestamp as the time.
    fn into_batch(self, counts: Counts) -> Batch {
        let totals = self.totals.into_firsts();
        let bytes = totals
            .iter()
            .map(|(first, _)| self.values.get(*first).len() + 8)
            .sum();
        let mut out = Batch::with_capacity(totals.len(), bytes);
        let mut digits = itoa::Buffer::new();
        for (first, total) in totals {
            let binary = total.count.to_le_bytes();
            let count = match counts {
                Counts::Partial => &binary[..],
                Counts::Decimal => digits.format(total.count).as_bytes(),
            };
            out.push(Some(self.values.get(first)), count, total.latest);
        }
        out
    }
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
