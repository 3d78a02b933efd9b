//! `reduceByKey`: exchange by key, then, within each partition, group the records by key, hand every
//! group to the operator in one call, and build one record per key.

use std::sync::Arc;

use super::Worker;
use super::distinct::Distinct;
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
    // Each record's group, numbered in order of first appearance.
    let mut groups: Distinct<Group> = Distinct::new(&input.keys);
    let mut group_of = Vec::with_capacity(input.len());
    for (i, &timestamp) in input.timestamps.iter().enumerate() {
        let next = groups.len() as u32;
        let group = groups.entry(i, !input.has_key[i], || Group {
            number: next,
            size: 0,
            latest: i64::MIN,
        });
        group.size += 1;
        group.latest = group.latest.max(timestamp);
        group_of.push(group.number);
    }
    let groups = groups.into_firsts();

    // The records in group order (a counting sort, keeping input order
    // within a group), each group's values together.
    let mut group_ends = Vec::with_capacity(groups.len());
    let mut next_slot = Vec::with_capacity(groups.len());
    let mut end = 0;
    for (_, group) in &groups {
        next_slot.push(end);
        end += group.size;
        group_ends.push(end);
    }
    let mut order = vec![0u32; input.len()];
    for (i, &group) in group_of.iter().enumerate() {
        let slot = &mut next_slot[group as usize];
        order[*slot as usize] = i as u32;
        *slot += 1;
    }
    let mut keys = ByteList::with_capacity(groups.len(), 0);
    for (first, _) in &groups {
        keys.push(input.keys.get(*first));
    }
    let mut values = ByteList::with_capacity(input.len(), input.values.data.len());
    for &i in &order {
        values.push(input.values.get(i as usize));
    }

    let reduced = worker
        .reduce(keys, values, group_ends)
        .map_err(|failure| failure.at_input(&order))?;

    let mut out = Batch::with_capacity(groups.len(), reduced.data.len());
    for (g, (first, group)) in groups.iter().enumerate() {
        let key = input.has_key[*first].then(|| input.keys.get(*first));
        out.push(key, reduced.get(g), group.latest);
    }
    Ok(out)
}

/// One key's group of records.
struct Group {
    /// Groups are numbered in order of first appearance.
    number: u32,
    /// How many records it has.
    size: u32,
    /// The latest of their timestamps.
    latest: i64,
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
