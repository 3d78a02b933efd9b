//! Running one stage over one batch.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::event_time::{self, EventWindows};
use super::update_state::{self, Changes};
use super::window::{self, BatchWindow};
use super::{Call, NativeOperator, ShadowReport, WasmOperator, Worker, reduce};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::operator::Operator;
use crate::plan::{StagePlan, Step, Windowing};
use crate::plugin::{Failure, Instance};
use crate::record::Batch;
use crate::shuffle;
use crate::sink::BatchInfo;
use crate::state::{PartitionState, SpillFile, Spilled};

/// A stage's partitions, alive across batches.
pub struct StageRunner {
    id: Arc<str>,
    step: Step<Operator>,
    /// The candidate the plan runs beside the operator, if any.
    planned_shadow: Option<Arc<WasmOperator>>,
    /// One slot per partition; a partition is out of its slot while it runs.
    partitions: Vec<Option<Partition>>,
    /// Event time: the latest record timestamp committed so far, and the
    /// one the batch just run would make it.
    max_time: Option<i64>,
    pending_max_time: Option<i64>,
    /// Event time: records that came too late, committed so far.
    late: u64,
    pending_late: u64,
    /// Whether a record an operator rejects is taken out of the batch and
    /// sent to the dead letters, rather than failing the batch.
    dead_letters: bool,
}

/// What a stage made of one batch.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// The stage's output partitions.
    pub records: Vec<Batch>,
    /// Event time: records too late for any open window, for the side
    /// output (see [`crate::plan::late_stream`]).
    pub late: Vec<Batch>,
    /// Records the operator rejected, with headers naming the stage and
    /// the error, for [`crate::plan::DEAD_LETTERS`].
    pub dead: Vec<Batch>,
}

/// Header naming the stage that rejected a dead-lettered record.
pub const DEAD_LETTER_STAGE: &str = "wasmstream-stage";
/// Header holding the error a dead-lettered record was rejected with.
pub const DEAD_LETTER_ERROR: &str = "wasmstream-error";

/// One partition of a stage: its operator, and what it keeps across
/// batches.
struct Partition {
    worker: Option<Worker>,
    /// The inverse of a windowed reduce.
    inverse: Option<Worker>,
    state: State,
    /// The changes of the batch just run, until it is committed.
    pending: Option<Pending>,
}

/// What a partition keeps across batches.
enum State {
    None,
    Keyed(PartitionState),
    Batches(BatchWindow),
    Events(EventWindows),
}

enum Pending {
    Keyed(Changes),
    Batches(Box<window::Delta>),
    Events(event_time::Delta),
}

/// What one partition made of one batch.
struct Processed {
    records: Batch,
    late: Batch,
    max_time: Option<i64>,
}

/// A stage that failed a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    /// The stage id.
    pub stage: String,
    /// The operator's component file, for Wasm operators.
    pub file: Option<PathBuf>,
    /// The partition that failed.
    pub partition: usize,
    /// What happened.
    pub failure: Failure,
    /// The record the operator named, shortened for display.
    pub record: Option<String>,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage `{}`", self.stage)?;
        if let Some(file) = &self.file {
            write!(f, " (operator {})", file.display())?;
        }
        write!(f, ", partition {}, {}", self.partition, self.failure)?;
        if let Some(record) = &self.record {
            write!(f, " [record: {record}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for StageError {}

impl StageRunner {
    /// Workers for every partition of `plan`, in pipeline `pipeline`,
    /// keeping per-key state in memory. Wasm instances are created on first
    /// use.
    pub fn new(pipeline: &str, plan: &StagePlan<Operator>) -> Self {
        Self::build(pipeline, plan, None)
    }

    /// Like [`StageRunner::new`], with each partition's per-key state held
    /// in memory up to `budget` bytes and spilled to `file` beyond that.
    pub fn spilling(
        pipeline: &str,
        plan: &StagePlan<Operator>,
        file: Arc<SpillFile>,
        budget: usize,
    ) -> Self {
        Self::build(pipeline, plan, Some((file, budget)))
    }

    fn build(
        pipeline: &str,
        plan: &StagePlan<Operator>,
        spill: Option<(Arc<SpillFile>, usize)>,
    ) -> Self {
        let partitions = (0..plan.parallelism)
            .map(|p| {
                let label: Arc<str> = format!("{pipeline}/{}[{p}]", plan.id).into();
                let (worker, inverse) = match &plan.step {
                    Step::CountByValueAndWindow(_) => (
                        Some(Worker::Native(NativeOperator::sum())),
                        Some(Worker::Native(NativeOperator::subtract())),
                    ),
                    Step::ReduceByKeyAndWindow { inverse, .. } => (
                        plan.step
                            .operator()
                            .map(|op| Worker::new(op, label.clone())),
                        inverse.as_ref().map(|op| Worker::new(op, label.clone())),
                    ),
                    step => (step.operator().map(|op| Worker::new(op, label)), None),
                };
                let state = match &plan.step {
                    Step::UpdateStateByKey(..) => State::Keyed(match &spill {
                        Some((file, budget)) => PartitionState::spilling(
                            Spilled::new(file.clone(), &format!("{}[{p}]", plan.id)),
                            *budget,
                        ),
                        None => PartitionState::in_memory(),
                    }),
                    Step::Window { .. }
                    | Step::ReduceByKeyAndWindow {
                        windowing: Windowing::Batches { .. },
                        ..
                    }
                    | Step::CountByValueAndWindow(Windowing::Batches { .. }) => {
                        State::Batches(BatchWindow::default())
                    }
                    Step::ReduceByKeyAndWindow {
                        windowing: Windowing::EventTime(_),
                        ..
                    }
                    | Step::CountByValueAndWindow(Windowing::EventTime(_)) => {
                        State::Events(EventWindows::default())
                    }
                    _ => State::None,
                };
                Some(Partition {
                    worker,
                    inverse,
                    state,
                    pending: None,
                })
            })
            .collect();
        StageRunner {
            id: plan.id.as_str().into(),
            step: plan.step.clone(),
            planned_shadow: match &plan.shadow {
                Some(Operator::Wasm(shadow)) => Some(shadow.clone()),
                _ => None,
            },
            partitions,
            max_time: None,
            pending_max_time: None,
            late: 0,
            pending_late: 0,
            dead_letters: false,
        }
    }

    /// From now on, a record the operator rejects is taken out of the
    /// batch (which runs again without it) and returned in
    /// [`StageOutput::dead`], instead of failing the batch.
    pub fn dead_letter_rejected_records(&mut self) {
        self.dead_letters = true;
    }

    /// Partitions this stage runs over.
    pub fn parallelism(&self) -> usize {
        self.partitions.len()
    }

    /// Records this (event-time) stage has sent to its side output.
    pub fn late_records(&self) -> u64 {
        self.late
    }

    /// Runs the stage over its input partitions (all inputs' partitions, in
    /// input order) for `batch`, returning its output partitions. State
    /// changes wait for [`StageRunner::commit`].
    pub async fn run(
        &mut self,
        inputs: Vec<Batch>,
        batch: BatchInfo,
    ) -> Result<StageOutput, StageError> {
        let partitions = self.parallelism();
        let inputs = match &self.step {
            Step::Union => {
                return Ok(StageOutput {
                    records: inputs,
                    ..StageOutput::default()
                });
            }
            Step::CountByValueAndWindow(_) => shuffle::exchange(by_value(inputs), partitions),
            Step::ReduceByKey(_)
            | Step::UpdateStateByKey(..)
            | Step::ReduceByKeyAndWindow { .. } => shuffle::exchange(inputs, partitions),
            _ => shuffle::rebalance(inputs, partitions),
        };
        let watermark = match self.step.event_time() {
            Some(spec) => self.max_time.map(|t| t.saturating_sub(spec.delay)),
            None => None,
        };
        let mut tasks = Vec::with_capacity(partitions);
        for (p, input) in inputs.into_iter().enumerate() {
            let mut partition = self.partitions[p]
                .take()
                .expect("a partition per slot, returned after each batch");
            let step = self.step.clone();
            let (stage, dead_letters) = (self.id.clone(), self.dead_letters);
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut input = input;
                let mut dead = Batch::default();
                let result = loop {
                    match partition.process(&step, &input, batch, watermark) {
                        Err(Failure::Rejected {
                            record: Some(i),
                            message,
                        }) if dead_letters && (i as usize) < input.len() => {
                            // Each pass takes one record out: this ends.
                            let i = i as usize;
                            dead_letter(&mut dead, &input, i, &stage, &message);
                            input = input.select((0..input.len()).filter(|&j| j != i));
                        }
                        other => break other,
                    }
                };
                if result.is_ok() {
                    partition.remember_input(&step, &mut input);
                }
                (partition, result.map(|p| (p, dead)), input)
            }));
        }
        let mut output = StageOutput::default();
        let mut max_time = self.max_time;
        let mut first_error = None;
        for (p, task) in tasks.into_iter().enumerate() {
            let (partition, result, input) =
                task.await.expect("operator calls do not panic the host");
            self.partitions[p] = Some(partition);
            match result {
                Ok((processed, dead)) => {
                    output.records.push(processed.records);
                    output.late.push(processed.late);
                    output.dead.push(dead);
                    max_time = max_time.max(processed.max_time);
                }
                Err(failure) if first_error.is_none() => {
                    first_error = Some(self.error(p, failure, &input))
                }
                Err(_) => {}
            }
        }
        match first_error {
            Some(error) => {
                self.discard();
                Err(error)
            }
            None => {
                self.pending_max_time = max_time;
                self.pending_late = output.late.iter().map(|b| b.len() as u64).sum();
                if self.step.event_time().is_none() {
                    output.late.clear();
                }
                Ok(output)
            }
        }
    }

    /// Applies the state changes of the batch just run: call it once the
    /// batch's output is written.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        for (p, partition) in self.partitions.iter_mut().flatten().enumerate() {
            partition.commit().with_context(|| {
                format!("stage `{}`, partition {p}: cannot store state", self.id)
            })?;
        }
        self.max_time = self.max_time.max(self.pending_max_time);
        self.late += std::mem::take(&mut self.pending_late);
        Ok(())
    }

    /// Forgets the state changes of the batch just run (it failed).
    pub fn discard(&mut self) {
        for partition in self.partitions.iter_mut().flatten() {
            partition.pending = None;
        }
        self.pending_max_time = None;
        self.pending_late = 0;
    }

    /// The stage id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.partitions
            .iter()
            .map(|p| {
                p.as_ref()
                    .expect("between batches, every partition is home")
            })
            .filter_map(|p| p.worker.as_ref())
    }

    fn workers_mut(&mut self) -> impl Iterator<Item = &mut Worker> {
        self.partitions
            .iter_mut()
            .map(|p| {
                p.as_mut()
                    .expect("between batches, every partition is home")
            })
            .filter_map(|p| p.worker.as_mut())
    }

    /// Keeps each partition's last successful call from now on, so a new
    /// version can be dry-run on it.
    pub fn keep_last_calls(&mut self) {
        self.workers_mut().for_each(Worker::keep_last_call);
    }

    /// Each partition's last successful call (none before the first batch).
    pub fn last_calls(&self) -> Vec<Option<Call>> {
        self.workers().map(|w| w.last_call().cloned()).collect()
    }

    /// Each partition's label (`pipeline/stage[partition]`), for a stage
    /// with a Wasm operator.
    pub fn labels(&self) -> Vec<Arc<str>> {
        self.workers()
            .filter_map(|w| w.wasm_label().cloned())
            .collect()
    }

    /// The live version of the stage's Wasm operator, if it has one.
    pub fn live(&self) -> Option<Arc<WasmOperator>> {
        self.workers().next().and_then(|w| w.operator().cloned())
    }

    /// Makes `op` live in every partition, each with its instance from
    /// `ready` (already `init`ed) or, where that has none, a fresh one at
    /// its next call. State and window contents stay as they are. Returns
    /// the version replaced and its instances (dropping them frees their
    /// memory, which takes a moment: best done off the batch path). Call
    /// it between batches.
    pub fn swap(
        &mut self,
        op: Arc<WasmOperator>,
        ready: Vec<Option<Instance>>,
    ) -> (Option<Arc<WasmOperator>>, Vec<Instance>) {
        let old = self.live();
        let mut ready = ready.into_iter();
        let replaced = self
            .workers_mut()
            .filter_map(|worker| worker.replace(op.clone(), ready.next().flatten()))
            .collect();
        (old, replaced)
    }

    /// Converts every key's state with a new version's `migrate-state`,
    /// each partition's with its own instance from `instances` (the new
    /// version's, before it goes live): all partitions or, if any fails,
    /// none. `from` is the content hash of the version that wrote the
    /// states. Returns how many keys were converted. Call it between
    /// batches.
    pub fn migrate_state(
        &mut self,
        from: &str,
        instances: &mut [Option<Instance>],
    ) -> Result<usize, String> {
        let mut converted = Vec::new();
        for (p, partition) in self.partitions.iter().enumerate() {
            let partition = partition
                .as_ref()
                .expect("between batches, every partition is home");
            let State::Keyed(state) = &partition.state else {
                return Ok(0);
            };
            let Some(Some(instance)) = instances.get_mut(p) else {
                return Err(format!("partition {p} has no instance of the new version"));
            };
            let migrated = state.migrated(&mut |states| {
                let mut list = crate::record::ByteList::with_capacity(
                    states.len(),
                    states.iter().map(|s| s.len()).sum(),
                );
                states.iter().for_each(|s| list.push(s));
                let out = instance
                    .migrate_state(from, &list)
                    .map_err(|e| format!("partition {p}: migrate-state {e}"))?;
                Ok((0..out.len()).map(|i| out.get(i).to_vec()).collect())
            })?;
            converted.push(migrated);
        }
        let mut keys = 0;
        for (partition, migrated) in self.partitions.iter_mut().flatten().zip(converted) {
            if let State::Keyed(state) = &mut partition.state {
                keys += migrated.len();
                state
                    .apply_migrated(migrated)
                    .map_err(|e| format!("cannot store the converted state: {e:#}"))?;
            }
        }
        Ok(keys)
    }

    /// The candidate the plan names as the stage's shadow, if any.
    pub fn planned_shadow(&self) -> Option<Arc<WasmOperator>> {
        self.planned_shadow.clone()
    }

    /// Runs `candidate` beside the live version in every partition, its
    /// output compared and discarded (`None`: no shadow).
    pub fn set_shadow(&mut self, candidate: Option<Arc<WasmOperator>>) {
        for worker in self.workers_mut() {
            worker.set_shadow(candidate.clone());
        }
    }

    /// How the shadow's output differed in the batch just run, all
    /// partitions together; `None` without a shadow.
    pub fn take_shadow_report(&mut self) -> Option<ShadowReport> {
        let mut total: Option<ShadowReport> = None;
        for worker in self.workers_mut() {
            if let Some(report) = worker.take_shadow_report() {
                total
                    .get_or_insert_with(ShadowReport::default)
                    .merge(report);
            }
        }
        total
    }

    /// Writes what the stage keeps across batches into a checkpoint.
    pub fn save<W: Write>(&self, out: &mut Writer<W>) -> std::io::Result<()> {
        out.u64(u64::from(self.max_time.is_some()))?;
        out.i64(self.max_time.unwrap_or_default())?;
        out.u64(self.late)?;
        out.u64(self.partitions.len() as u64)?;
        for partition in self.partitions.iter().flatten() {
            match &partition.state {
                State::None => out.u64(0)?,
                State::Keyed(state) => {
                    out.u64(1)?;
                    state.save(out)?;
                }
                State::Batches(window) => {
                    out.u64(2)?;
                    window.save(out)?;
                }
                State::Events(windows) => {
                    out.u64(3)?;
                    windows.save(out)?;
                }
            }
        }
        Ok(())
    }

    /// Reads back what [`StageRunner::save`] wrote.
    pub fn restore(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        let has_max_time = input.u64()? != 0;
        let max_time = input.i64()?;
        self.max_time = has_max_time.then_some(max_time);
        self.late = input.u64()?;
        let saved = input.count(8)?;
        let stateless = self
            .partitions
            .iter()
            .flatten()
            .all(|p| matches!(p.state, State::None));
        if saved != self.partitions.len() {
            // Only a stage that keeps nothing may change its parallelism.
            for _ in 0..saved {
                if input.u64()? != 0 || !stateless {
                    return Err(format!(
                        "stage `{}` kept state over {saved} partitions and now has {}; a stage that keeps state cannot change its parallelism and resume (start over with --fresh)",
                        self.id,
                        self.partitions.len()
                    ));
                }
            }
            return Ok(());
        }
        for partition in self.partitions.iter_mut().flatten() {
            match (input.u64()?, &mut partition.state) {
                (0, State::None) => {}
                (1, State::Keyed(state)) => state.load(input)?,
                (2, State::Batches(window)) => *window = BatchWindow::load(input)?,
                (3, State::Events(windows)) => *windows = EventWindows::load(input)?,
                (0..=3, _) => {
                    return Err(format!(
                        "stage `{}` kept another kind of state when it was checkpointed; its kind changed (start over with --fresh)",
                        self.id
                    ));
                }
                (other, _) => return Err(format!("unknown state kind {other}")),
            }
        }
        Ok(())
    }

    fn error(&self, partition: usize, failure: Failure, input: &Batch) -> StageError {
        let record = match &failure {
            Failure::Rejected {
                record: Some(i), ..
            } if (*i as usize) < input.len() => Some(preview(input, *i as usize)),
            _ => None,
        };
        StageError {
            stage: self.id.to_string(),
            file: self
                .step
                .operator()
                .and_then(|op| op.file())
                .map(|f| f.to_owned()),
            partition,
            failure,
            record,
        }
    }
}

impl Partition {
    fn worker(&mut self) -> &mut Worker {
        self.worker
            .as_mut()
            .expect("the plan gives this step an operator")
    }

    /// Hands a map, filter or flat-map operator the batch it just ran on
    /// (and the stage has no more use for), as its last call. The other
    /// kinds keep the arguments they built themselves.
    fn remember_input(&mut self, step: &Step<Operator>, input: &mut Batch) {
        let call: fn(Batch) -> Call = match step {
            _ if input.is_empty() => return,
            Step::Map(_) => Call::Map,
            Step::Filter(_) => Call::Filter,
            Step::FlatMap(_) => Call::FlatMap,
            _ => return,
        };
        if let Some(worker) = &mut self.worker {
            worker.remember(call(std::mem::take(input)));
        }
    }

    /// Runs `step` over this partition's `input`, keeping the state
    /// changes pending.
    fn process(
        &mut self,
        step: &Step<Operator>,
        input: &Batch,
        batch: BatchInfo,
        watermark: Option<i64>,
    ) -> Result<Processed, Failure> {
        let mut late = Batch::default();
        let mut max_time = None;
        let records = match (step, &self.state) {
            (Step::UpdateStateByKey(_, ttl), State::Keyed(state)) => {
                // Runs even on an empty partition: idle keys may time out.
                let worker = self.worker.as_mut().expect("update-state has an operator");
                let (output, changes) =
                    update_state::update_state_by_key(worker, state, input, batch.time_ms, *ttl)?;
                self.pending = Some(Pending::Keyed(changes));
                output
            }
            (Step::Window { length, slide }, State::Batches(window)) => {
                let span = span(*length, *slide, batch);
                let (output, delta) = window::records(window, input, span);
                self.pending = Some(Pending::Batches(Box::new(delta)));
                output
            }
            (
                Step::ReduceByKeyAndWindow {
                    windowing: Windowing::Batches { length, slide },
                    ..
                }
                | Step::CountByValueAndWindow(Windowing::Batches { length, slide }),
                State::Batches(window),
            ) => {
                let span = span(*length, *slide, batch);
                let worker = self
                    .worker
                    .as_mut()
                    .expect("a windowed reduce has an operator");
                let (output, delta) =
                    window::reduce(worker, self.inverse.as_mut(), window, input, span)?;
                self.pending = Some(Pending::Batches(Box::new(delta)));
                output
            }
            (
                Step::ReduceByKeyAndWindow {
                    windowing: Windowing::EventTime(spec),
                    ..
                }
                | Step::CountByValueAndWindow(Windowing::EventTime(spec)),
                State::Events(windows),
            ) => {
                let worker = self
                    .worker
                    .as_mut()
                    .expect("a windowed reduce has an operator");
                let processed = event_time::process(
                    worker,
                    windows,
                    input,
                    *spec,
                    watermark,
                    batch.end_of_input,
                )?;
                self.pending = Some(Pending::Events(processed.delta));
                late = match step {
                    // Counting keyed each record by its value: give it back.
                    Step::CountByValueAndWindow(_) => unkeyed(&processed.late),
                    _ => processed.late,
                };
                max_time = processed.max_time;
                processed.output
            }
            _ if input.is_empty() => Batch::default(),
            (Step::Map(_), _) => self.worker().map(input)?,
            (Step::FlatMap(_), _) => self.worker().flat_map(input)?,
            (Step::Filter(_), _) => {
                let keep = self.worker().filter(input)?;
                input.select(keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i))
            }
            (Step::ReduceByKey(_), _) => reduce::reduce_by_key(self.worker(), input)?,
            (step, _) => unreachable!("stage state does not fit its step: {step:?}"),
        };
        Ok(Processed {
            records,
            late,
            max_time,
        })
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        match (self.pending.take(), &mut self.state) {
            (None, _) => {}
            (Some(Pending::Keyed(changes)), State::Keyed(state)) => state.apply(changes)?,
            (Some(Pending::Batches(delta)), State::Batches(window)) => window.apply(*delta),
            (Some(Pending::Events(delta)), State::Events(windows)) => windows.apply(delta),
            _ => unreachable!("pending changes fit their state"),
        }
        Ok(())
    }
}

fn span(length: u32, slide: u32, batch: BatchInfo) -> window::Span {
    window::Span {
        length,
        slide,
        batch: batch.id,
        time: batch.time_ms,
    }
}

/// Adds record `i` of `input` to `dead`, with headers naming the stage
/// that rejected it and why.
fn dead_letter(dead: &mut Batch, input: &Batch, i: usize, stage: &str, error: &str) {
    dead.push_record(input.get(i));
    let owner = dead.len() as u32 - 1;
    for (name, value) in [(DEAD_LETTER_STAGE, stage), (DEAD_LETTER_ERROR, error)] {
        dead.header_owners.push(owner);
        dead.header_names.push(name.as_bytes());
        dead.header_values.push(value.as_bytes());
    }
}

/// `by_value` undone: the values counted, as they came in.
fn unkeyed(counted: &Batch) -> Batch {
    let mut values = Batch::with_capacity(counted.len(), counted.keys.data.len());
    for record in counted.iter() {
        values.push(None, record.key.unwrap_or_default(), record.timestamp);
    }
    values
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

fn preview(batch: &Batch, i: usize) -> String {
    const MAX: usize = 80;
    let record = batch.get(i);
    let mut text = crate::record::display(&record);
    if text.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|&c| text.is_char_boundary(c))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    format!("{text:?}")
}
