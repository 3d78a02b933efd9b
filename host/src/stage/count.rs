//! `countByValue`: each distinct value of the batch with how many times it
//! came, as `(value, count)` records, counted by the host with no operator.
//! Each partition counts its run of the upstream records before the
//! exchange (a map-side combine), so one record per value per partition
//! crosses it, and the value's owner adds the counts up.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::kind::{Context, Kind, Operators, Ran, Setup};
use crate::plugin::Failure;
use crate::record::Batch;
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
        let values = input.values.iter().zip(&input.timestamps);
        Ok(tally(values.map(|(value, &time)| (value, 1, time))))
    }

    fn run(
        &self,
        _: &mut Operators,
        _: &(),
        inputs: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let mut counts = Vec::with_capacity(inputs[0].len());
        for record in inputs[0].iter() {
            let value = record.key.unwrap_or_default();
            counts.push((value, count_of(record.value), record.timestamp));
        }
        Ok(Ran::records(tally(counts)))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Adds up the counts of each value, in order of first appearance: one
/// record per value, keyed by it, its count in decimal, the latest
/// timestamp.
fn tally<'a>(counts: impl IntoIterator<Item = (&'a [u8], u64, i64)>) -> Batch {
    let mut index: FxHashMap<Short<'_>, usize> = FxHashMap::default();
    let mut totals: Vec<(&[u8], u64, i64)> = Vec::new();
    for (value, n, timestamp) in counts {
        match index.get(&Short(value)) {
            Some(&i) => {
                let total = &mut totals[i];
                total.1 += n;
                total.2 = total.2.max(timestamp);
            }
            None => {
                index.insert(Short(value), totals.len());
                totals.push((value, n, timestamp));
            }
        }
    }
    let bytes = totals.iter().map(|(v, ..)| v.len() + 4).sum();
    let mut out = Batch::with_capacity(totals.len(), bytes);
    for (value, n, timestamp) in totals {
        out.push(Some(value), n.to_string().as_bytes(), timestamp);
    }
    out
}

/// Bytes as a hash key that compares short keys inline: most values
/// counted are a few bytes (words), where a call to `memcmp` costs more
/// than the comparison.
#[derive(Clone, Copy, Hash)]
struct Short<'a>(&'a [u8]);

impl PartialEq for Short<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0, other.0);
        match a.len() == b.len() && a.len() <= 16 {
            true => a.iter().zip(b).fold(true, |same, (x, y)| same & (x == y)),
            false => a == b,
        }
    }
}

impl Eq for Short<'_> {}

/// A count this stage wrote before the exchange.
fn count_of(text: &[u8]) -> u64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("counts come from `tally`")
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
}
