//! `updateStateByKey`: exchange by key, then, within each partition, group the batch by key, add the
//! keys whose state has gone idle past the ttl, hand all of them to the
//! operator in one call, and apply the states it returns.

use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashSet;

use super::distinct::Groups;
use super::kind::{Context, Kind, Operators, Ran, Setup};
use super::{Call, Worker};
use crate::operator::Operator;
use crate::plugin::{Failure, StateInput};
use crate::record::{Batch, ByteList};
use crate::shuffle;
use crate::state::{Change, PartitionState};

/// An update-state-by-key stage: its operator, and how long a key's state
/// lasts without records.
pub(crate) struct UpdateStateByKey(pub Operator, pub Option<Duration>);

impl Kind for UpdateStateByKey {
    type State = PartitionState;
    type Pending = Changes;

    fn operators(&self, label: &Arc<str>) -> Operators {
        Operators::one(Worker::new(&self.0, label.clone()))
    }

    fn state(&self, setup: &Setup<'_>) -> PartitionState {
        setup.keyed_state()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;

    /// Runs even on an empty partition: idle keys may time out.
    fn run(
        &self,
        ops: &mut Operators,
        state: &PartitionState,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Changes>, Failure> {
        let (output, changes) =
            update_state_by_key(ops.main(), state, &inputs[0], at.batch.time_ms, self.1)?;
        Ok(Ran::keeping(output, changes))
    }

    fn commit(state: &mut PartitionState, changes: Changes) -> anyhow::Result<()> {
        state.apply(changes)
    }
}

/// The changes a batch makes to a partition's state, applied only when the
/// whole batch has been written.
pub(crate) type Changes = Vec<(Vec<u8>, Change)>;

/// Runs one batch's update for the keys `state` owns, returning the output
/// and the state changes to apply once the batch is committed.
pub(crate) fn update_state_by_key(
    worker: &mut Worker,
    state: &PartitionState,
    input: &Batch,
    batch_time: i64,
    ttl: Option<Duration>,
) -> Result<(Batch, Changes), Failure> {
    // A record without a key has the empty key's state.
    let groups = Groups::of(&input.keys, |_| false);
    let unreadable = |e: anyhow::Error| Failure::State(format!("{e:#}"));
    let idle = match ttl {
        Some(ttl) => state
            .idle_since(batch_time - ttl.as_millis() as i64)
            .map_err(unreadable)?,
        None => Vec::new(),
    };
    let seen: FxHashSet<&[u8]> = match idle.is_empty() {
        true => FxHashSet::default(),
        false => groups.firsts.iter().map(|&i| input.keys.get(i)).collect(),
    };
    let idle: Vec<&[u8]> = idle
        .iter()
        .map(Vec::as_slice)
        .filter(|k| !seen.contains(k))
        .collect();
    if !idle.is_empty() {
        tracing::debug!(
            operator = worker.label(),
            timed_out = idle.len(),
            "keys timed out"
        );
    }
    if groups.len() == 0 && idle.is_empty() {
        return Ok((Batch::default(), Vec::new()));
    }

    let calls = groups.len() + idle.len();
    let mut call = StateInput {
        keys: ByteList::with_capacity(calls, 0),
        has_state: Vec::with_capacity(calls),
        states: ByteList::with_capacity(calls, 0),
        timing_out: Vec::with_capacity(calls),
        values: ByteList::with_capacity(input.len(), input.values.data.len()),
        group_ends: Vec::with_capacity(calls),
        batch_time,
    };
    let mut order = Vec::with_capacity(input.len());
    let keys = (0..groups.len())
        .map(|g| (input.keys.get(groups.firsts[g]), groups.members(g), false))
        .chain(idle.iter().map(|k| (*k, &[][..], true)));
    for (key, records, timing_out) in keys {
        let previous = state.get(key).map_err(unreadable)?;
        call.keys.push(key);
        call.has_state.push(previous.is_some());
        call.states.push(
            previous
                .as_ref()
                .map(|e| e.state.as_slice())
                .unwrap_or_default(),
        );
        call.timing_out.push(timing_out);
        for &i in records {
            call.values.push(input.values.get(i as usize));
            order.push(i);
        }
        call.group_ends.push(call.values.len() as u32);
    }

    let result = worker
        .update_state(&call)
        .map_err(|failure| failure.at_input(&order))?;

    let changes: Vec<(Vec<u8>, Change)> = (0..calls)
        .map(|g| {
            let key = call.keys.get(g).to_vec();
            let change = if result.keep[g] && !call.timing_out[g] {
                Change::Put {
                    state: result.states.get(g).to_vec(),
                    active: batch_time,
                }
            } else {
                Change::Delete
            };
            (key, change)
        })
        .collect();
    worker.remember(Call::UpdateState(call));
    Ok((result.output, changes))
}
