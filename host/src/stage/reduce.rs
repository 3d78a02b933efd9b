//! reduceByKey within one partition: group the records by key, hand every
//! group to the operator in one call, and build one record per key.

use std::collections::HashMap;

use super::Worker;
use crate::plugin::Failure;
use crate::record::{Batch, ByteList};

/// Folds `input` (already exchanged, so each key lives in this partition
/// only) into one record per key, keys in order of first appearance. The
/// timestamp of each output is the latest of its group.
pub(crate) fn reduce_by_key(worker: &mut Worker, input: &Batch) -> Result<Batch, Failure> {
    if input.is_empty() {
        return Ok(Batch::default());
    }
    let mut group_of: HashMap<Option<&[u8]>, usize> = HashMap::new();
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
