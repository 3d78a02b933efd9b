//! `process_by_key`: per-key state over event time, with timers (Flink's
//! keyed process functions). Records are exchanged by key; each partition
//! calls its operator once a batch with every key that got records or
//! whose timers fired, each with its state, records (timestamps and
//! headers included), fired and pending timers, and the stage's
//! watermark, and keeps the state and timers it returns.
//!
//! The watermark is the latest timestamp the stage has seen less its
//! `watermark` delay, as for event-time windows. A record behind it goes
//! to `<stage>.late`, so a timer that fired is never overtaken by a record
//! for its time. A timer fires once the watermark reaches it, whether or
//! not its key gets records; when the input ends, every timer fires. Each
//! key's state and timers are one entry of per-key state, spilled past
//! `state_memory` and checkpointed, so a timer fires exactly once across
//! crashes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use serde::{Deserialize, Serialize};

use super::distinct::Groups;
use super::kind::{Context, Kind, Operators, Ran, Setup};
use super::update_state::Changes;
use super::{Call, Worker};
use crate::operator::Operator;
use crate::plugin::{Failure, ProcessInput};
use crate::record::{Batch, ByteList};
use crate::shuffle;
use crate::state::{Change, PartitionState};

/// A process-by-key stage: its operator, and its watermark's delay.
pub(crate) struct ProcessByKey {
    pub operator: Operator,
    pub delay: i64,
}

/// What a key keeps: the operator's state, if any, and its timers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    #[serde(with = "serde_bytes")]
    state: Option<Vec<u8>>,
    /// Event times, earliest first, without repeats.
    timers: Vec<i64>,
}

impl Kind for ProcessByKey {
    type State = PartitionState;
    type Pending = Changes;

    fn operators(&self, label: &Arc<str>) -> Operators {
        Operators::one(Worker::new(&self.operator, label.clone()))
    }

    fn state(&self, setup: &Setup<'_>) -> PartitionState {
        setup.keyed_state()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;

    /// Runs even on an empty partition: timers may fire. When the input
    /// ends, the records go first, then every timer left fires.
    fn run(
        &self,
        ops: &mut Operators,
        state: &PartitionState,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Changes>, Failure> {
        let input = &inputs[0];
        let behind = at.watermark.unwrap_or(i64::MIN);
        let max_time = input.timestamps.iter().max().copied();
        let (on_time, late): (Vec<usize>, Vec<usize>) =
            (0..input.len()).partition(|&i| input.timestamps[i] >= behind);
        let late = input.select(late);
        let records = match late.is_empty() {
            true => Cow::Borrowed(input),
            false => Cow::Owned(input.select(on_time.iter().copied())),
        };
        // Where each on-time record is in the input.
        let from = |i: u32| match late.is_empty() {
            true => Some(i),
            false => on_time.get(i as usize).map(|&j| j as u32),
        };
        let unreadable = |e: anyhow::Error| Failure::State(format!("{e:#}"));
        let groups = Groups::of(&records.keys, |_| false);
        let mut keys: Vec<Turn<'_>> = Vec::with_capacity(groups.len());
        for g in 0..groups.len() {
            let key = records.keys.get(groups.firsts[g]);
            let kept = read(state, key).map_err(unreadable)?;
            keys.push((Cow::Borrowed(key), groups.members(g), kept));
        }
        // Keys that got no records and whose earliest timer is due, in key
        // order.
        let due = state
            .idle_since(behind.saturating_add(1))
            .map_err(unreadable)?;
        let seen: FxHashSet<&[u8]> = keys.iter().map(|(k, ..)| k.as_ref()).collect();
        let mut quiet = Vec::new();
        for key in due.into_iter().filter(|k| !seen.contains(k.as_slice())) {
            let kept = read(state, &key).map_err(unreadable)?;
            quiet.push((Cow::Owned(key), &[][..], kept));
        }
        keys.extend(quiet);
        let worker = ops.main();
        // A failure names an on-time record; back to the input's numbering.
        let turn = |keys, fire_to, worker: &mut Worker| {
            call(worker, keys, &records, fire_to, at).map_err(|failure| match failure {
                Failure::Rejected {
                    record: Some(i),
                    message,
                } => Failure::Rejected {
                    record: from(i),
                    message,
                },
                other => other,
            })
        };
        let (mut output, mut changes) = turn(keys, behind, worker)?;
        if at.batch.end_of_input {
            // Every timer left fires: those the records just set, and
            // those of keys this batch did not touch.
            let mut last: Vec<Turn<'_>> = Vec::new();
            let touched: FxHashSet<&[u8]> = changes.iter().map(|(k, _)| k.as_slice()).collect();
            for (key, change) in &changes {
                if let Change::Put { state: kept, .. } = change {
                    let kept = decode(kept).map_err(unreadable)?;
                    last.push((Cow::Borrowed(key.as_slice()), &[][..], kept));
                }
            }
            for key in state.idle_since(i64::MAX).map_err(unreadable)? {
                if !touched.contains(key.as_slice()) {
                    let kept = read(state, &key).map_err(unreadable)?;
                    last.push((Cow::Owned(key), &[][..], kept));
                }
            }
            last.retain(|(_, _, kept)| !kept.timers.is_empty());
            let (more, last_changes) = turn(last, i64::MAX, worker)?;
            output.extend(&more);
            // A key's last change wins.
            let mut merged: BTreeMap<Vec<u8>, Change> = changes.into_iter().collect();
            merged.extend(last_changes);
            changes = merged.into_iter().collect();
        }
        Ok(Ran {
            records: output,
            late,
            max_time,
            pending: Some(changes),
        })
    }

    fn commit(state: &mut PartitionState, changes: Changes) -> anyhow::Result<()> {
        state.apply(changes)
    }

    fn watermark_delay(&self) -> Option<i64> {
        Some(self.delay)
    }
}

/// A key's turn in a call: the key, its records (indices into the
/// batch's on-time records) and what it keeps.
type Turn<'a> = (Cow<'a, [u8]>, &'a [u32], Kept);

/// Calls the operator with `keys`, their timers at or before `fire_to`
/// firing. Returns what it emitted and the changes to the keys. A
/// failure names a record of `records`.
fn call(
    worker: &mut Worker,
    keys: Vec<Turn<'_>>,
    records: &Batch,
    fire_to: i64,
    at: &Context,
) -> Result<(Batch, Changes), Failure> {
    if keys.is_empty() {
        return Ok((Batch::default(), Vec::new()));
    }
    let mut call = ProcessInput {
        keys: ByteList::with_capacity(keys.len(), 0),
        has_state: Vec::with_capacity(keys.len()),
        states: ByteList::with_capacity(keys.len(), 0),
        records: Batch::with_capacity(records.len(), records.byte_size()),
        record_ends: Vec::with_capacity(keys.len()),
        fired: Vec::new(),
        fired_ends: Vec::with_capacity(keys.len()),
        pending: Vec::new(),
        pending_ends: Vec::with_capacity(keys.len()),
        watermark: at.watermark,
        batch_time: at.batch.time_ms,
    };
    let mut order = Vec::with_capacity(records.len());
    for (key, members, kept) in &keys {
        call.keys.push(key);
        call.has_state.push(kept.state.is_some());
        call.states.push(kept.state.as_deref().unwrap_or_default());
        for &i in *members {
            call.records.push_record(records.get(i as usize));
            order.push(i);
        }
        call.record_ends.push(call.records.len() as u32);
        let due = kept.timers.partition_point(|&t| t <= fire_to);
        call.fired.extend_from_slice(&kept.timers[..due]);
        call.fired_ends.push(call.fired.len() as u32);
        call.pending.extend_from_slice(&kept.timers[due..]);
        call.pending_ends.push(call.pending.len() as u32);
    }
    let output = worker
        .process(&call)
        .map_err(|failure| failure.at_input(&order))?;
    let mut changes: Changes = Vec::with_capacity(keys.len());
    let mut timers_from = 0;
    for (g, &timers_end) in output.timer_ends.iter().enumerate() {
        let mut timers = output.timers[timers_from..timers_end as usize].to_vec();
        timers_from = timers_end as usize;
        timers.sort_unstable();
        timers.dedup();
        let state = output.keep[g].then(|| output.states.get(g).to_vec());
        let change = match (&state, timers.first()) {
            (None, None) => Change::Delete,
            (_, soonest) => Change::Put {
                active: soonest.copied().unwrap_or(i64::MAX),
                state: postcard::to_allocvec(&Kept { state, timers })
                    .expect("a key's state encodes"),
            },
        };
        changes.push((call.keys.get(g).to_vec(), change));
    }
    worker.remember(Call::KeyedProcess(Box::new(call)));
    Ok((output.output, changes))
}

/// What `key` keeps.
fn read(state: &PartitionState, key: &[u8]) -> anyhow::Result<Kept> {
    match state.get(key)? {
        Some(entry) => decode(&entry.state),
        None => Ok(Kept::default()),
    }
}

fn decode(bytes: &[u8]) -> anyhow::Result<Kept> {
    postcard::from_bytes(bytes)
        .map_err(|e| anyhow::anyhow!("a key's state and timers do not read back: {e}"))
}
