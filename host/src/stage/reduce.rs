//! `reduceByKey`: exchange by key, then, within each partition, group the records by key, hand every
//! group to the operator in one call, and build one record per key.

use std::sync::Arc;

use super::Worker;
use super::distinct::Groups;
use super::kind::{Context, Kind, Operators, Ran, Setup};
use crate::operator::{NativeOperator, Operator};
use crate::plugin::Failure;
use crate::record::{Batch, ByteList};
use crate::shuffle;

/// A reduce-by-key stage.
pub(crate) struct ReduceByKey(pub Operator);

impl Kind for ReduceByKey {
    type State = ();
    type Pending = ();

    fn operators(&self, label: &Arc<str>) -> Operators {
        Operators::one(Worker::new(&self.0, label.clone()))
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;
    /// With one partition there is no exchange to spare: the records are
    /// folded once, where they are.
    fn combines(partitions: usize) -> bool {
        partitions > 1
    }

    fn combine(&self, ops: &mut Operators, input: &Batch) -> Result<Batch, Failure> {
        reduce_by_key(ops.main(), input)
    }

    fn run(
        &self,
        ops: &mut Operators,
        _: &(),
        inputs: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        Ok(Ran::records(reduce_by_key(ops.main(), &inputs[0])?))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Folds `input` into one record per key, keys in order of first
/// appearance: each partition's run of upstream records before the
/// exchange, then what the exchange brought (so each key lives in this
/// partition only). The timestamp of each output is the latest of its
/// group.
pub(crate) fn reduce_by_key(worker: &mut Worker, input: &Batch) -> Result<Batch, Failure> {
    if input.is_empty() {
        return Ok(Batch::default());
    }
    let groups = Groups::of(&input.keys, |i| !input.has_key[i]);
    let mut keys = ByteList::with_capacity(groups.len(), 0);
    for &first in &groups.firsts {
        keys.push(input.keys.get(first));
    }
    let mut values = ByteList::with_capacity(input.len(), input.values.data.len());
    for &i in &groups.order {
        values.push(input.values.get(i as usize));
    }

    let reduced = worker
        .reduce(keys, values, groups.ends.clone())
        .map_err(|failure| failure.at_input(&groups.order))?;

    let mut out = Batch::with_capacity(groups.len(), reduced.data.len());
    for (g, &first) in groups.firsts.iter().enumerate() {
        let key = input.has_key[first].then(|| input.keys.get(first));
        let times = groups
            .members(g)
            .iter()
            .map(|&i| input.timestamps[i as usize]);
        out.push(key, reduced.get(g), times.max().unwrap_or_default());
    }
    Ok(out)
}

/// Folds each group in one call.
pub(crate) fn fold<'k, 'v, 'd: 'v>(
    worker: &mut Worker,
    groups: impl IntoIterator<Item = (&'k [u8], &'v Vec<&'d [u8]>)>,
) -> Result<ByteList, Failure> {
    let mut keys = ByteList::with_capacity(0, 0);
    let mut values = ByteList::with_capacity(0, 0);
    let mut ends = Vec::new();
    for (key, group) in groups {
        keys.push(key);
        for value in group {
            values.push(value);
        }
        ends.push(values.len() as u32);
    }
    if ends.is_empty() {
        return Ok(keys);
    }
    // The values are folded results, not input records: a failure cannot
    // name an input record.
    worker
        .reduce(keys, values, ends)
        .map_err(|failure| failure.at_input(&[]))
}

/// How a windowed stage folds each key's values.
pub(crate) enum Fold {
    /// With the stage's operator, and an inverse that takes values back
    /// out (processing time only).
    Reduce {
        reduce: Operator,
        inverse: Option<Operator>,
    },
    /// By counting each distinct value: records are keyed by their value,
    /// each worth one, and the counts summed (and subtracted).
    Count,
}

impl Fold {
    /// The operators one partition folds with.
    pub(crate) fn operators(&self, label: &Arc<str>) -> Operators {
        match self {
            Fold::Reduce { reduce, inverse } => Operators {
                main: Some(Worker::new(reduce, label.clone())),
                inverse: inverse.as_ref().map(|op| Worker::new(op, label.clone())),
            },
            Fold::Count => Operators {
                main: Some(Worker::Native(NativeOperator::sum())),
                inverse: Some(Worker::Native(NativeOperator::subtract())),
            },
        }
    }

    /// Exchanges by key (for a count, by value).
    pub(crate) fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        match self {
            Fold::Reduce { .. } => shuffle::exchange(side, partitions),
            Fold::Count => shuffle::exchange(by_value(side), partitions),
        }
    }
}

/// Records keyed by their value, each worth a count of one.
fn by_value(inputs: Vec<Batch>) -> Vec<Batch> {
    inputs
        .into_iter()
        .map(|batch| {
            let mut keyed = Batch::with_capacity(batch.len(), batch.len());
            for record in batch.iter() {
                keyed.push(Some(record.value), b"1", record.timestamp);
            }
            keyed
        })
        .collect()
}
