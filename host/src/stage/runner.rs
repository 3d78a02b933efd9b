//! A stage as the scheduler sees it: its partitions (of whichever kind),
//! the event-time clock and late count every stage carries, dead letters,
//! errors that name the record, and the operator versions hot reload swaps.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::calls::Calls;
use super::kind::{Context, Keeps};
use super::partitions::Partitions;
use super::{Call, ShadowReport, WasmOperator, Worker};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::operator::Operator;
use crate::plan::StagePlan;
use crate::plugin::{Failure, Instance};
use crate::record::Batch;
use crate::shuffle;
use crate::sink::BatchInfo;
use crate::state::{Logs, SpillFile, StateSize};

/// A stage's partitions, alive across batches.
pub struct StageRunner {
    id: Arc<str>,
    /// The operator's component file, for errors.
    file: Option<PathBuf>,
    /// The candidate the plan runs beside the operator, if any.
    planned_shadow: Option<Arc<WasmOperator>>,
    pub(super) partitions: Box<dyn Partitions>,
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
    /// A worker's join: both sides come as one input, parted by header
    /// ([`StagePlan::sides_in_header`]).
    sides_in_header: bool,
}

/// What a stage made of one batch.
#[derive(Debug, Default)]
pub struct StageOutput {
    /// The stage's output partitions.
    pub records: Vec<Batch>,
    /// Event time: records too late for any open window, for the side
    /// output ([`crate::plan::Stream::Late`]).
    pub late: Vec<Batch>,
    /// Records the operator rejected, with headers naming the stage and
    /// the error, for [`crate::plan::Stream::DeadLetters`].
    pub dead: Vec<Batch>,
    /// A stage fused with the next one ([`super::run_chain`]) hands its
    /// records straight on, so `records` is empty: this counts them, per
    /// partition.
    pub handed_on: Vec<u64>,
}

impl StageOutput {
    /// The records it made, per partition, whether kept or handed on.
    pub fn made(&self) -> Vec<u64> {
        match self.records.is_empty() {
            true => self.handed_on.clone(),
            false => self.records.iter().map(|b| b.len() as u64).collect(),
        }
    }
}

/// Header naming the stage that rejected a dead-lettered record.
pub const DEAD_LETTER_STAGE: &str = "wasmstream-stage";
/// Header holding the error a dead-lettered record was rejected with.
pub const DEAD_LETTER_ERROR: &str = "wasmstream-error";

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
        Self::build(pipeline, plan, Some((&file, budget)))
    }

    fn build(
        pipeline: &str,
        plan: &StagePlan<Operator>,
        spill: Option<(&Arc<SpillFile>, usize)>,
    ) -> Self {
        let label = |p: usize| -> Arc<str> { format!("{pipeline}/{}[{p}]", plan.id).into() };
        StageRunner {
            id: plan.id.as_str().into(),
            file: plan
                .step
                .operator()
                .and_then(|op| op.file())
                .map(|f| f.to_owned()),
            planned_shadow: match &plan.shadow {
                Some(Operator::Wasm(shadow)) => Some(shadow.clone()),
                _ => None,
            },
            partitions: super::partitions(plan, &label, spill),
            max_time: None,
            pending_max_time: None,
            late: 0,
            pending_late: 0,
            dead_letters: false,
            sides_in_header: plan.sides_in_header,
        }
    }

    /// From now on, runs at most as many partitions at once as `calls`
    /// allows; the scheduler gives every stage of a pipeline the same
    /// `calls`, so a pipeline's operator calls take that many threads at
    /// most, whatever its parallelism.
    pub fn bound_calls(&mut self, calls: Calls) {
        self.partitions.bound(calls);
    }

    /// From now on, a record the operator rejects is taken out of the
    /// batch (which runs again without it) and returned in
    /// [`StageOutput::dead`], instead of failing the batch.
    pub fn dead_letter_rejected_records(&mut self) {
        self.dead_letters = true;
    }

    /// The stage's name for the dead letters it takes out, if it takes
    /// them out.
    pub(super) fn dead_letters(&self) -> Option<Arc<str>> {
        self.dead_letters.then(|| self.id.clone())
    }

    /// How far this (event-time) stage's watermark has got, in ms since
    /// the Unix epoch: the latest event time it has seen, less the delay.
    pub fn watermark(&self) -> Option<i64> {
        let delay = self.partitions.watermark_delay()?;
        Some(self.max_time?.saturating_sub(delay))
    }

    /// The per-key state of an update-state stage, over its partitions.
    pub fn state_size(&mut self) -> Option<StateSize> {
        let keyed = self.partitions.keyed();
        (!keyed.is_empty()).then(|| {
            keyed
                .iter()
                .map(|s| s.size())
                .fold(StateSize::default(), |a, b| a + b)
        })
    }

    /// Each partition's state, for a kind a worker's changelog can keep
    /// (empty otherwise).
    pub fn logs(&mut self) -> Vec<&mut dyn Logs> {
        self.partitions.logs()
    }

    /// Records this (event-time) stage has sent to its side output.
    pub fn late_records(&self) -> u64 {
        self.late
    }

    /// Runs the stage for `batch` over `inputs`, each input's partitions in
    /// the plan's order, returning its output partitions. State changes
    /// wait for [`StageRunner::commit`].
    pub async fn run(
        &mut self,
        inputs: Vec<Vec<Batch>>,
        batch: BatchInfo,
    ) -> Result<StageOutput, StageError> {
        let event_time = self.partitions.watermark_delay();
        let watermark = self.watermark();
        let dead_letters = self.dead_letters();
        let at = Context { batch, watermark };
        let inputs = match self.sides_in_header {
            true => self.part_sides(inputs).map_err(|e| *e)?,
            false => inputs,
        };
        match self.partitions.run(inputs, at, dead_letters).await {
            Ok(done) => {
                self.pending_max_time = self.max_time.max(done.max_time);
                self.pending_late = done.late.iter().map(|b| b.len() as u64).sum();
                Ok(StageOutput {
                    records: done.records,
                    late: if event_time.is_some() {
                        done.late
                    } else {
                        Vec::new()
                    },
                    dead: done.dead,
                    handed_on: Vec::new(),
                })
            }
            Err(failed) => {
                self.discard();
                Err(self.error(failed.partition, failed.failure, &failed.input))
            }
        }
    }

    /// Applies the state changes of the batch just run: call it once the
    /// batch's output is written.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.partitions.commit(&self.id)?;
        self.max_time = self.max_time.max(self.pending_max_time);
        self.late += std::mem::take(&mut self.pending_late);
        Ok(())
    }

    /// Forgets the state changes of the batch just run (it failed).
    pub fn discard(&mut self) {
        self.partitions.discard();
        self.pending_max_time = None;
        self.pending_late = 0;
    }

    /// The stage id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.partitions
            .operators()
            .into_iter()
            .filter_map(|ops| ops.main.as_ref())
    }

    fn workers_mut(&mut self) -> impl Iterator<Item = &mut Worker> {
        self.partitions
            .operators_mut()
            .into_iter()
            .filter_map(|ops| ops.main.as_mut())
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
        let mut states = self.partitions.keyed();
        let mut converted = Vec::new();
        for (p, state) in states.iter().enumerate() {
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
        for (state, migrated) in states.iter_mut().zip(converted) {
            keys += migrated.len();
            state
                .apply_migrated(migrated)
                .map_err(|e| format!("cannot store the converted state: {e:#}"))?;
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
    pub fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        let partitions = self.partitions.len() as u64;
        out.put(&(
            self.max_time,
            self.late,
            self.partitions.keeps(),
            partitions,
        ))?;
        self.partitions.save(out)
    }

    /// Reads back what [`StageRunner::save`] wrote.
    pub fn restore(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        let (max_time, late, keeps, saved): (Option<i64>, u64, Keeps, u64) = input.take()?;
        (self.max_time, self.late) = (max_time, late);
        let (now, partitions) = (self.partitions.keeps(), self.partitions.len());
        if keeps == Keeps::Nothing && now == Keeps::Nothing {
            // A stage that keeps nothing may change its parallelism.
            return Ok(());
        }
        if keeps != now {
            return Err(format!(
                "stage `{}` kept another kind of state when it was checkpointed; its kind changed (start over with --fresh)",
                self.id
            ));
        }
        if saved != partitions as u64 {
            return Err(format!(
                "stage `{}` kept state over {saved} partitions and now has {partitions}; a stage that keeps state cannot change its parallelism and resume (start over with --fresh)",
                self.id,
            ));
        }
        (0..partitions).try_for_each(|p| self.partitions.load(p, input))
    }

    /// A worker's join's one input, parted into its two sides.
    fn part_sides(&self, inputs: Vec<Vec<Batch>>) -> Result<Vec<Vec<Batch>>, Box<StageError>> {
        let one = inputs.into_iter().flatten().collect::<Vec<_>>();
        shuffle::split_sides(&one, 2).map_err(|no_side| {
            let failure = Failure::Rejected {
                record: Some(no_side.record),
                message: no_side.problem,
            };
            Box::new(self.error(no_side.partition, failure, &one[no_side.partition]))
        })
    }

    /// The error of partition `partition` failing on `input`.
    pub(super) fn error(&self, partition: usize, failure: Failure, input: &Batch) -> StageError {
        let record = match &failure {
            Failure::Rejected {
                record: Some(i), ..
            } if (*i as usize) < input.len() => Some(preview(input, *i as usize)),
            _ => None,
        };
        StageError {
            stage: self.id.to_string(),
            file: self.file.clone(),
            partition,
            failure,
            record,
        }
    }
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
