//! `reduceByKey`: exchange by key, then, within each partition, group the records by key, hand every
//! group to the operator in one call, and build one record per key.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Worker;
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
    let mut group_of: FxHashMap<Option<&[u8]>, usize> = FxHashMap::default();
    let mut members: Vec<Vec<u32>> = Vec::new();
    for (i, record) in input.iter().enumerate() {
        let group = *group_of.entry(record.key).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[group].push(i as u32);
    }

    let mut keys = ByteList::with_capacity(members.len(), 0);
    let mut values = ByteList::with_capacity(input.len(), input.values.data.len());
    let mut group_ends = Vec::with_capacity(members.len());
    let mut order = Vec::with_capacity(input.len());
    for group in &members {
        let first = input.get(group[0] as usize);
        keys.push(first.key.unwrap_or_default());
        for &i in group {
            values.push(input.values.get(i as usize));
            order.push(i);
        }
        group_ends.push(values.len() as u32);
    }

    let reduced = worker
        .reduce(keys, values, group_ends)
        .map_err(|failure| failure.at_input(&order))?;

    let mut out = Batch::with_capacity(members.len(), reduced.data.len());
    for (g, group) in members.iter().enumerate() {
        let first = input.get(group[0] as usize);
        let latest = group
            .iter()
            .map(|&i| input.timestamps[i as usize])
            .max()
            .unwrap_or_default();
        out.push(first.key, reduced.get(g), latest);
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
