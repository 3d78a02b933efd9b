//! One live operator instance: a store with its limits, and typed calls
//! into the one kind the component exports. Every call runs under the CPU
//! budget; every value it returns is checked before anyone reads it
//! (how a call fails is in [`super::failure`]).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::InstancePre;
use wasmtime::{Store, UpdateDeadline};

pub use super::bindings::cogroup::CogroupInput;
pub use super::bindings::keyed_process::{ProcessInput, ProcessOutput};
pub use super::bindings::update_state::{StateInput, StateOutput};
use super::bindings::{
    Batch, ByteList, OperatorError, cogroup, filter, flat_map, keyed_process, map, migrate, reduce,
    update_state,
};
use super::failure::{CallError, Failure, bad_output, classify, rejected};
use super::pace::{CallSize, Pace};
use super::sandbox::bounded;
use super::{OperatorKind, Plugin, StoreData};

/// What one instance may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The most linear memory the instance may grow to.
    pub memory_bytes: usize,
    /// The most CPU time one call may use: its thread's own CPU time,
    /// looked at on the engine's epoch, so time spent waiting for a core
    /// is not charged (see [`super::budget`]); a call blocked without
    /// using CPU is stopped after four times this on the clock. A batch
    /// is split into calls that fit (see [`Pace`]).
    #[serde(with = "humantime_serde")]
    pub cpu: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu: Duration::from_secs(1),
        }
    }
}

pub(crate) enum Indices {
    Map(map::GuestIndices),
    Filter(filter::GuestIndices),
    FlatMap(flat_map::GuestIndices),
    Reduce(reduce::GuestIndices),
    UpdateState(update_state::GuestIndices),
    Cogroup(cogroup::GuestIndices),
    KeyedProcess(keyed_process::GuestIndices),
}

impl Indices {
    pub(crate) fn new(pre: &InstancePre<StoreData>, kind: OperatorKind) -> wasmtime::Result<Self> {
        Ok(match kind {
            OperatorKind::Map => Indices::Map(map::GuestIndices::new(pre)?),
            OperatorKind::Filter => Indices::Filter(filter::GuestIndices::new(pre)?),
            OperatorKind::FlatMap => Indices::FlatMap(flat_map::GuestIndices::new(pre)?),
            OperatorKind::Reduce => Indices::Reduce(reduce::GuestIndices::new(pre)?),
            OperatorKind::UpdateState => {
                Indices::UpdateState(update_state::GuestIndices::new(pre)?)
            }
            OperatorKind::Cogroup => Indices::Cogroup(cogroup::GuestIndices::new(pre)?),
            OperatorKind::KeyedProcess => {
                Indices::KeyedProcess(keyed_process::GuestIndices::new(pre)?)
            }
        })
    }
}

enum Exports {
    Map(map::Guest),
    Filter(filter::Guest),
    FlatMap(flat_map::Guest),
    Reduce(reduce::Guest),
    UpdateState(update_state::Guest),
    Cogroup(cogroup::Guest),
    KeyedProcess(keyed_process::Guest),
}

/// A live instance of an operator, ready for batches.
pub struct Instance {
    store: Store<StoreData>,
    exports: Exports,
    /// The optional `migrate` interface, if the component exports it.
    migrate: Option<migrate::Guest>,
    limits: Limits,
    pace: Pace,
}

impl Instance {
    pub(crate) fn new(
        plugin: &Plugin,
        label: Arc<str>,
        limits: Limits,
        params: &[(String, String)],
    ) -> Result<Instance, CallError> {
        let mut store = Store::new(
            plugin.pre.engine(),
            StoreData::new(label, limits.memory_bytes),
        );
        store.limiter(|data| &mut data.limiter);
        // What a call returns is bounded by the instance's memory already;
        // wasmtime's own cap (128 MiB) would fail big outputs for nothing.
        store.set_hostcall_fuel(limits.memory_bytes.saturating_mul(2));
        store.epoch_deadline_callback(|store| {
            Ok(match store.data().budget.look_again() {
                Some(ticks) => UpdateDeadline::Continue(ticks),
                None => UpdateDeadline::Interrupt,
            })
        });
        let ticks = store.data_mut().start_call(limits.cpu);
        store.set_epoch_deadline(ticks);

        let instance = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(&store, limits, None, e))?;
        let exports = match &plugin.indices {
            Indices::Map(i) => i.load(&mut store, &instance).map(Exports::Map),
            Indices::Filter(i) => i.load(&mut store, &instance).map(Exports::Filter),
            Indices::FlatMap(i) => i.load(&mut store, &instance).map(Exports::FlatMap),
            Indices::Reduce(i) => i.load(&mut store, &instance).map(Exports::Reduce),
            Indices::UpdateState(i) => i.load(&mut store, &instance).map(Exports::UpdateState),
            Indices::Cogroup(i) => i.load(&mut store, &instance).map(Exports::Cogroup),
            Indices::KeyedProcess(i) => i.load(&mut store, &instance).map(Exports::KeyedProcess),
        }
        .map_err(|e| bad_output(format!("{e:#}")))?;
        let migrate = match &plugin.migrate {
            Some(i) => Some(
                i.load(&mut store, &instance)
                    .map_err(|e| bad_output(format!("{e:#}")))?,
            ),
            None => None,
        };
        let mut this = Instance {
            store,
            exports,
            migrate,
            limits,
            pace: Pace::new(limits),
        };
        this.call(None, |store, exports| match exports {
            Exports::Map(guest) => guest.call_init(store, params),
            Exports::Filter(guest) => guest.call_init(store, params),
            Exports::FlatMap(guest) => guest.call_init(store, params),
            Exports::Reduce(guest) => guest.call_init(store, params),
            Exports::UpdateState(guest) => guest.call_init(store, params),
            Exports::Cogroup(guest) => guest.call_init(store, params),
            Exports::KeyedProcess(guest) => guest.call_init(store, params),
        })?
        .map_err(|message| CallError {
            failure: Failure::InitRejected(bounded(message)),
            poisoned: false,
        })?;
        Ok(this)
    }

    /// Bytes of linear memory the instance holds, over all its memories.
    pub fn memory_used(&self) -> usize {
        self.store.data().limiter.memory_used()
    }

    /// Runs `f` under the CPU budget, turning a trap into a [`CallError`];
    /// `size` is the call's, for messages (`None` for `init`).
    fn call<R>(
        &mut self,
        size: Option<CallSize>,
        f: impl FnOnce(&mut Store<StoreData>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let ticks = self.store.data_mut().start_call(self.limits.cpu);
        self.store.set_epoch_deadline(ticks);
        f(&mut self.store, &self.exports).map_err(|e| classify(&self.store, self.limits, size, e))
    }

    /// Runs `call` on each run of the `len` items (records, key groups,
    /// states) that fits one call (see [`Pace`]), in order; `weight(i)` is
    /// item `i`'s bytes.
    fn paced(
        &mut self,
        len: usize,
        weight: impl Fn(usize) -> usize,
        mut call: impl FnMut(&mut Self, Range<usize>) -> Result<(), CallError>,
    ) -> Result<(), CallError> {
        let mut start = 0;
        while start < len {
            let items = self.pace.next(start, len, &weight);
            let began = Instant::now();
            call(self, items.clone())?;
            self.pace.took(items.len(), began.elapsed());
            start = items.end;
        }
        Ok(())
    }

    /// Calls the guest on paced runs of `input`'s records (`call` makes the
    /// call); `take` checks and keeps each run's result.
    fn over_records<R>(
        &mut self,
        input: &Batch,
        call: impl Fn(
            &mut Store<StoreData>,
            &Exports,
            &Batch,
        ) -> wasmtime::Result<Result<R, OperatorError>>,
        mut take: impl FnMut(&Batch, R) -> Result<(), CallError>,
    ) -> Result<(), CallError> {
        self.paced(
            input.len(),
            |i| input.record_bytes(i),
            |this, records| {
                let first = records.start;
                let part = input.part(records);
                let output = this
                    .call(Some(size_of(&part)), |store, exports| {
                        call(store, exports, &part)
                    })?
                    .map_err(rejected(first))?;
                take(&part, output)
            },
        )
    }

    /// Maps a batch: exactly one output record per input record.
    pub fn map(&mut self, input: &Batch) -> Result<Batch, CallError> {
        let mut parts = Vec::new();
        self.over_records(
            input,
            |store, exports, part| match exports {
                Exports::Map(guest) => guest.call_map(store, part),
                _ => wasmtime::bail!("not a map operator"),
            },
            |part, output: Batch| {
                output.check().map_err(bad_output)?;
                if output.len() != part.len() {
                    return Err(bad_output(format!(
                        "a map must return one record per input, but returned {} for {}",
                        output.len(),
                        part.len()
                    )));
                }
                parts.push(output);
                Ok(())
            },
        )?;
        Ok(Batch::concat(parts))
    }

    /// Filters a batch: one keep flag per input record.
    pub fn filter(&mut self, input: &Batch) -> Result<Vec<bool>, CallError> {
        let mut keep = Vec::with_capacity(input.len());
        self.over_records(
            input,
            |store, exports, part| match exports {
                Exports::Filter(guest) => guest.call_filter(store, part),
                _ => wasmtime::bail!("not a filter operator"),
            },
            |part, kept: Vec<bool>| {
                if kept.len() != part.len() {
                    return Err(bad_output(format!(
                        "a filter must return one flag per input, but returned {} for {}",
                        kept.len(),
                        part.len()
                    )));
                }
                keep.extend(kept);
                Ok(())
            },
        )?;
        Ok(keep)
    }

    /// Flat-maps a batch.
    pub fn flat_map(&mut self, input: &Batch) -> Result<Batch, CallError> {
        let mut parts = Vec::new();
        self.over_records(
            input,
            |store, exports, part| match exports {
                Exports::FlatMap(guest) => guest.call_flat_map(store, part),
                _ => wasmtime::bail!("not a flat-map operator"),
            },
            |_, output: Batch| {
                output.check().map_err(bad_output)?;
                parts.push(output);
                Ok(())
            },
        )?;
        Ok(Batch::concat(parts))
    }

    /// Folds each group of values into one (see the `reduce` interface).
    pub fn reduce(
        &mut self,
        keys: &ByteList,
        values: &ByteList,
        group_ends: &[u32],
    ) -> Result<ByteList, CallError> {
        let groups = Groups {
            keys,
            values,
            ends: group_ends,
        };
        let mut reduced = Vec::new();
        self.paced(
            group_ends.len(),
            |g| groups.weight(g),
            |this, part| {
                let (first, values) = groups.values(&part);
                let (keys, values, ends) = (
                    groups.keys.part(part.clone()),
                    groups.values.part(values),
                    groups.ends(&part),
                );
                let size = CallSize {
                    records: values.len(),
                    bytes: keys.data.len() + values.data.len(),
                };
                let output = this
                    .call(Some(size), |store, exports| match exports {
                        Exports::Reduce(guest) => guest.call_reduce(store, &keys, &values, &ends),
                        _ => wasmtime::bail!("not a reduce operator"),
                    })?
                    .map_err(rejected(first))?;
                output.check("reduced values").map_err(bad_output)?;
                if output.len() != ends.len() {
                    return Err(bad_output(format!(
                        "a reduce must return one value per key, but returned {} for {}",
                        output.len(),
                        ends.len()
                    )));
                }
                reduced.push(output);
                Ok(())
            },
        )?;
        Ok(ByteList::concat(reduced))
    }
}

impl Instance {
    /// Updates the keys of one batch (see the `update-state` interface).
    pub fn update_state(&mut self, input: &StateInput) -> Result<StateOutput, CallError> {
        let groups = Groups {
            keys: &input.keys,
            values: &input.values,
            ends: &input.group_ends,
        };
        let weight = |g: usize| groups.weight(g) + input.states.get(g).len();
        let mut parts = Vec::new();
        self.paced(input.group_ends.len(), weight, |this, part| {
            let (first, values) = groups.values(&part);
            let call = if part.len() == input.group_ends.len() {
                Cow::Borrowed(input)
            } else {
                Cow::Owned(StateInput {
                    keys: input.keys.part(part.clone()).into_owned(),
                    has_state: input.has_state[part.clone()].to_vec(),
                    states: input.states.part(part.clone()).into_owned(),
                    timing_out: input.timing_out[part.clone()].to_vec(),
                    values: input.values.part(values).into_owned(),
                    group_ends: groups.ends(&part).into_owned(),
                    batch_time: input.batch_time,
                })
            };
            let size = CallSize {
                records: call.values.len(),
                bytes: call.keys.data.len() + call.states.data.len() + call.values.data.len(),
            };
            let output = this
                .call(Some(size), |store, exports| match exports {
                    Exports::UpdateState(guest) => guest.call_update(store, &call),
                    _ => wasmtime::bail!("not an update-state operator"),
                })?
                .map_err(rejected(first))?;
            let keys = part.len();
            output.states.check("states").map_err(bad_output)?;
            output.output.check().map_err(bad_output)?;
            if output.keep.len() != keys || output.states.len() != keys {
                return Err(bad_output(format!(
                    "an update-state must return one state per key, but returned {} flags and {} states for {keys} keys",
                    output.keep.len(),
                    output.states.len()
                )));
            }
            parts.push(output);
            Ok(())
        })?;
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one part"));
        }
        let mut whole = StateOutput {
            keep: Vec::new(),
            states: ByteList::with_capacity(0, 0),
            output: Batch::default(),
        };
        for part in parts {
            whole.keep.extend(part.keep);
            whole.states.append(&part.states);
            whole.output.extend(&part.output);
        }
        Ok(whole)
    }
}

impl Instance {
    /// Runs the groups of one batch (see the `cogroup` interface) and
    /// returns the records they make. A rejection numbers `input`'s left
    /// records first, then its right ones, whichever call of a split
    /// batch it came from.
    pub fn cogroup(&mut self, input: &CogroupInput) -> Result<Batch, CallError> {
        let groups = input.keys.len();
        let records = |ends: &[u32], part: &Range<usize>| -> Range<usize> {
            let start = match part.start {
                0 => 0,
                g => ends[g - 1] as usize,
            };
            let end = match part.end {
                0 => 0,
                g => ends[g - 1] as usize,
            };
            start..end.max(start)
        };
        let bytes = |batch: &Batch, records: Range<usize>| -> usize {
            records.map(|i| batch.record_bytes(i)).sum()
        };
        let weight = |g: usize| {
            let one = g..g + 1;
            input.keys.get(g).len()
                + bytes(&input.left, records(&input.left_ends, &one))
                + bytes(&input.right, records(&input.right_ends, &one))
        };
        let mut parts = Vec::new();
        self.paced(groups, weight, |this, part| {
            let (left, right) = (
                records(&input.left_ends, &part),
                records(&input.right_ends, &part),
            );
            let call = if part.len() == groups {
                Cow::Borrowed(input)
            } else {
                let rebase = |ends: &[u32], first: usize| -> Vec<u32> {
                    ends[part.clone()]
                        .iter()
                        .map(|e| e - first as u32)
                        .collect()
                };
                Cow::Owned(CogroupInput {
                    keys: input.keys.part(part.clone()).into_owned(),
                    left: input.left.slice(left.clone()),
                    left_ends: rebase(&input.left_ends, left.start),
                    right: input.right.slice(right.clone()),
                    right_ends: rebase(&input.right_ends, right.start),
                })
            };
            let size = CallSize {
                records: call.left.len() + call.right.len(),
                bytes: call.keys.data.len() + call.left.byte_size() + call.right.byte_size(),
            };
            let lefts = call.left.len();
            let output = this
                .call(Some(size), |store, exports| match exports {
                    Exports::Cogroup(guest) => guest.call_cogroup(store, &call),
                    _ => wasmtime::bail!("not a cogroup operator"),
                })?
                .map_err(|mut e| {
                    // Back to the whole input's numbering.
                    e.record = e.record.map(|i| match (i as usize) < lefts {
                        true => (left.start + i as usize) as u32,
                        false => (input.left.len() + right.start + i as usize - lefts) as u32,
                    });
                    rejected(0)(e)
                })?;
            output.check().map_err(bad_output)?;
            parts.push(output);
            Ok(())
        })?;
        Ok(Batch::concat(parts))
    }
}

impl Instance {
    /// Processes the keys of one batch (see the `keyed-process`
    /// interface).
    pub fn process(&mut self, input: &ProcessInput) -> Result<ProcessOutput, CallError> {
        let groups = input.keys.len();
        let weight = |g: usize| {
            let records = items(&input.record_ends, &(g..g + 1));
            let bytes: usize = records.map(|i| input.records.record_bytes(i)).sum();
            input.keys.get(g).len() + input.states.get(g).len() + bytes
        };
        let mut parts = Vec::new();
        self.paced(groups, weight, |this, part| {
            let records = items(&input.record_ends, &part);
            let call = if part.len() == groups {
                Cow::Borrowed(input)
            } else {
                let fired = items(&input.fired_ends, &part);
                let pending = items(&input.pending_ends, &part);
                Cow::Owned(ProcessInput {
                    keys: input.keys.part(part.clone()).into_owned(),
                    has_state: input.has_state[part.clone()].to_vec(),
                    states: input.states.part(part.clone()).into_owned(),
                    records: input.records.slice(records.clone()),
                    record_ends: rebased(&input.record_ends, &part),
                    fired: input.fired[fired].to_vec(),
                    fired_ends: rebased(&input.fired_ends, &part),
                    pending: input.pending[pending].to_vec(),
                    pending_ends: rebased(&input.pending_ends, &part),
                    watermark: input.watermark,
                    batch_time: input.batch_time,
                })
            };
            let size = CallSize {
                records: call.records.len(),
                bytes: call.keys.data.len() + call.states.data.len() + call.records.byte_size(),
            };
            let output = this
                .call(Some(size), |store, exports| match exports {
                    Exports::KeyedProcess(guest) => guest.call_process(store, &call),
                    _ => wasmtime::bail!("not a keyed-process operator"),
                })?
                .map_err(rejected(records.start))?;
            let keys = part.len();
            output.states.check("states").map_err(bad_output)?;
            output.output.check().map_err(bad_output)?;
            let ends_fit = output.timer_ends.windows(2).all(|w| w[0] <= w[1])
                && output.timer_ends.last().map_or(0, |&e| e as usize) == output.timers.len();
            if output.keep.len() != keys
                || output.states.len() != keys
                || output.timer_ends.len() != keys
                || !ends_fit
            {
                return Err(bad_output(format!(
                    "a keyed process must return one state and one run of timers per key, but returned {} flags, {} states and {} timer ends (for {} timers) for {keys} keys",
                    output.keep.len(),
                    output.states.len(),
                    output.timer_ends.len(),
                    output.timers.len()
                )));
            }
            parts.push(output);
            Ok(())
        })?;
        if parts.len() == 1 {
            return Ok(parts.pop().expect("one part"));
        }
        let mut whole = ProcessOutput {
            keep: Vec::new(),
            states: ByteList::with_capacity(0, 0),
            timers: Vec::new(),
            timer_ends: Vec::new(),
            output: Batch::default(),
        };
        for part in parts {
            let base = whole.timers.len() as u32;
            whole.keep.extend(part.keep);
            whole.states.append(&part.states);
            whole.timers.extend(part.timers);
            whole
                .timer_ends
                .extend(part.timer_ends.iter().map(|e| e + base));
            whole.output.extend(&part.output);
        }
        Ok(whole)
    }
}

/// The items groups `part` hold, where `ends[g]` is where group `g`'s end.
fn items(ends: &[u32], part: &Range<usize>) -> Range<usize> {
    let at = |g: usize| if g == 0 { 0 } else { ends[g - 1] as usize };
    at(part.start)..at(part.end).max(at(part.start))
}

/// The ends of groups `part`, counted from their first item.
fn rebased(ends: &[u32], part: &Range<usize>) -> Vec<u32> {
    let first = if part.start == 0 {
        0
    } else {
        ends[part.start - 1]
    };
    ends[part.clone()].iter().map(|e| e - first).collect()
}

/// The size of a call of `records`.
fn size_of(records: &Batch) -> CallSize {
    CallSize {
        records: records.len(),
        bytes: records.byte_size(),
    }
}

/// Values grouped by key, as reduce and update-state take them: `ends[g]`
/// is where group `g`'s values end.
struct Groups<'a> {
    keys: &'a ByteList,
    values: &'a ByteList,
    ends: &'a [u32],
}

impl Groups<'_> {
    /// Group `g`'s values, by index.
    fn value_range(&self, g: usize) -> Range<usize> {
        let start = if g == 0 { 0 } else { self.ends[g - 1] as usize };
        start..self.ends[g] as usize
    }

    /// What group `g` weighs: its key and its values.
    fn weight(&self, g: usize) -> usize {
        let values = self.value_range(g);
        let bytes = match (values.start, values.end) {
            (_, 0) => 0,
            (0, end) => self.values.ends[end - 1] as usize,
            (start, end) => (self.values.ends[end - 1] - self.values.ends[start - 1]) as usize,
        };
        self.keys.get(g).len() + bytes
    }

    /// The values of `groups`: the first one's index, and their range.
    fn values(&self, groups: &Range<usize>) -> (usize, Range<usize>) {
        let first = self.value_range(groups.start).start;
        let end = if groups.is_empty() {
            first
        } else {
            self.value_range(groups.end - 1).end
        };
        (first, first..end)
    }

    /// The group ends of `groups`, counted from their first value.
    fn ends(&self, groups: &Range<usize>) -> Cow<'_, [u32]> {
        if groups.start == 0 {
            return Cow::Borrowed(&self.ends[groups.clone()]);
        }
        let first = self.ends[groups.start - 1];
        Cow::Owned(
            self.ends[groups.clone()]
                .iter()
                .map(|end| end - first)
                .collect(),
        )
    }
}

impl Instance {
    /// Whether the component converts earlier versions' states.
    pub fn migrates(&self) -> bool {
        self.migrate.is_some()
    }

    /// Converts `states` written by version `from` (see the `migrate`
    /// interface): one new state per old one.
    pub fn migrate_state(&mut self, from: &str, states: &ByteList) -> Result<ByteList, CallError> {
        let Some(guest) = self.migrate.take() else {
            return Err(bad_output("it does not export migrate-state"));
        };
        let mut parts = Vec::new();
        let result = self.paced(
            states.len(),
            |i| states.get(i).len(),
            |this, items| {
                let part = states.part(items);
                let size = CallSize {
                    records: part.len(),
                    bytes: part.data.len(),
                };
                let output = this
                    .call(Some(size), |store, _| {
                        guest.call_migrate_state(store, from, &part)
                    })?
                    .map_err(|message| CallError {
                        failure: Failure::Rejected {
                            record: None,
                            message: bounded(message),
                        },
                        poisoned: false,
                    })?;
                output.check("states").map_err(bad_output)?;
                if output.len() != part.len() {
                    return Err(bad_output(format!(
                        "migrate-state must return one state per state, but returned {} for {}",
                        output.len(),
                        part.len()
                    )));
                }
                parts.push(output);
                Ok(())
            },
        );
        self.migrate = Some(guest);
        result?;
        Ok(ByteList::concat(parts))
    }
}
