//! What a kind of stage is: the one trait each kind implements, in a file
//! of its own beside this one.
//!
//! A kind says how its inputs reach its partitions, which operators each
//! partition runs, what a partition keeps across batches (its state) and
//! what one batch changes in it (its pending change, applied only once the
//! batch's output is written). The runner ([`super::partitions`]) does the
//! rest the same way for every kind: one task per partition per batch,
//! dead letters, commit and discard, checkpoints.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Worker;
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::sink::BatchInfo;
use crate::state::{Logs, PartitionState, SpillFile, Spilled};

/// One kind of stage.
pub(crate) trait Kind: Send + Sync + 'static {
    /// What one partition keeps across batches (`()` for nothing).
    type State: Kept;
    /// What one batch changes in a partition's state.
    type Pending: Send + 'static;

    /// Whether the stage reads its inputs as one stream (most kinds) or
    /// each apart (a join).
    const SIDES: Sides = Sides::Merged;

    /// The operators one partition runs.
    fn operators(&self, label: &Arc<str>) -> Operators;

    /// A partition's state before the first batch.
    fn state(&self, setup: &Setup<'_>) -> Self::State;

    /// Spreads one side's partitions (from upstream) over the stage's
    /// `partitions`: by key for a stage that keeps or folds keys, else
    /// evenly ([`crate::shuffle`]).
    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch>;

    /// For a kind reading its inputs apart, spreads side `side` (0 for
    /// the first input): as [`Kind::route`] unless the sides differ.
    fn route_side(&self, _side: usize, batches: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        self.route(batches, partitions)
    }

    /// Whether [`Kind::route`] sends each record by its key alone (an
    /// exchange), so that runs of upstream partitions may be routed each
    /// apart, by the stage's partitions in parallel, and put back together
    /// in order.
    const BY_KEY: bool = false;

    /// Whether, over `partitions` partitions, each partition folds its run
    /// of upstream records per key before the exchange, with
    /// [`Kind::combine`], as Spark's `reduceByKey` does (a map-side
    /// combine): then one record per key per partition crosses the
    /// exchange, and [`Kind::run`] folds those. Only for a
    /// [`Kind::BY_KEY`] kind reading one side.
    fn combines(_partitions: usize) -> bool {
        false
    }

    /// Folds `input` per key, before the exchange (see
    /// [`Kind::combines`]). A failure names a record of `input`.
    fn combine(&self, _ops: &mut Operators, input: &Batch) -> Result<Batch, Failure> {
        Ok(input.clone())
    }

    /// Runs one partition's share of a batch: `inputs` holds one batch per
    /// side. The state is read, not changed: the changes come back in
    /// [`Ran::pending`].
    fn run(
        &self,
        ops: &mut Operators,
        state: &Self::State,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Self::Pending>, Failure>;

    /// Applies a batch's changes, once its output is written.
    fn commit(state: &mut Self::State, pending: Self::Pending) -> anyhow::Result<()>;

    /// Hands the operator the input a call just succeeded on (and the
    /// stage has no more use for), for dry runs of a new version. Kinds
    /// whose operator takes something other than the records keep their
    /// own arguments as they call.
    fn remember(&self, _ops: &mut Operators, _input: Batch) {}

    /// How far the watermark trails the latest timestamp seen, for a kind
    /// with one (and so a side output for late records).
    fn watermark_delay(&self) -> Option<i64> {
        None
    }
}

/// How a stage reads its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sides {
    /// All inputs as one stream: one side.
    Merged,
    /// Each input apart: one side per input, in the plan's order (a
    /// join's left and right).
    Apart,
}

/// The operators of one partition.
#[derive(Default)]
pub(crate) struct Operators {
    /// The stage's operator.
    pub main: Option<Worker>,
    /// A windowed reduce's inverse.
    pub inverse: Option<Worker>,
}

impl Operators {
    /// Just the stage's operator.
    pub fn one(worker: Worker) -> Self {
        Operators {
            main: Some(worker),
            inverse: None,
        }
    }

    /// The stage's operator, which the kind's [`Kind::operators`] gave it.
    pub fn main(&mut self) -> &mut Worker {
        self.main
            .as_mut()
            .expect("the kind gives this stage an operator")
    }
}

/// Where a partition's state is made.
pub(crate) struct Setup<'a> {
    /// The stage id.
    pub stage: &'a str,
    /// The partition.
    pub partition: usize,
    /// Where per-key state beyond `budget` bytes spills, if anywhere.
    pub spill: Option<(&'a Arc<SpillFile>, usize)>,
}

impl Setup<'_> {
    /// Per-key state for this partition: in memory up to its budget, the
    /// rest spilled, when there is somewhere to spill.
    pub fn keyed_state(&self) -> PartitionState {
        match self.spill {
            Some((file, budget)) => PartitionState::spilling(
                Spilled::new(file.clone(), &format!("{}[{}]", self.stage, self.partition)),
                budget,
            ),
            None => PartitionState::in_memory(),
        }
    }
}

/// The batch being run, as a partition sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    /// Its id and time.
    pub batch: BatchInfo,
    /// Event time: how far the stage's watermark had got before it.
    pub watermark: Option<i64>,
}

/// What one partition made of one batch.
pub(crate) struct Ran<P> {
    /// Its output records.
    pub records: Batch,
    /// Event time: records too late for any open window.
    pub late: Batch,
    /// Event time: the latest timestamp among the inputs.
    pub max_time: Option<i64>,
    /// The change to the state, if any.
    pub pending: Option<P>,
}

impl<P> Ran<P> {
    /// Records out, nothing kept.
    pub fn records(records: Batch) -> Self {
        Ran {
            records,
            late: Batch::default(),
            max_time: None,
            pending: None,
        }
    }

    /// Records out, and a change to keep.
    pub fn keeping(records: Batch, pending: P) -> Self {
        Ran {
            pending: Some(pending),
            ..Ran::records(records)
        }
    }
}

/// What a partition's state is, as a checkpoint names it: a checkpoint
/// taken with one kind of state is not read into another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Keeps {
    /// Nothing.
    Nothing,
    /// Each key's state ([`PartitionState`]).
    Keyed,
    /// The last batches ([`super::window::BatchWindow`]).
    Batches,
    /// Open event-time windows ([`super::event_time::EventWindows`]).
    Events,
}

/// A partition's state: what it is, and how it goes into a checkpoint.
pub(crate) trait Kept: Send + 'static {
    /// What it is.
    const KEEPS: Keeps;
    /// Writes it into a checkpoint.
    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()>;
    /// Reads back what `save` wrote, into a fresh state.
    fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad>;
    /// Per-key state, which a new operator version may migrate.
    fn keyed(&mut self) -> Option<&mut PartitionState> {
        None
    }
    /// State a worker's changelog can keep.
    fn logs(&mut self) -> Option<&mut dyn Logs> {
        None
    }
}

impl Kept for () {
    const KEEPS: Keeps = Keeps::Nothing;
    fn save(&self, _: &mut Writer<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn load(&mut self, _: &mut Reader<'_>) -> Result<(), Bad> {
        Ok(())
    }
}

impl Kept for PartitionState {
    const KEEPS: Keeps = Keeps::Keyed;
    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        PartitionState::save(self, out)
    }
    fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        PartitionState::load(self, input)
    }
    fn keyed(&mut self) -> Option<&mut PartitionState> {
        Some(self)
    }
    fn logs(&mut self) -> Option<&mut dyn Logs> {
        Some(self)
    }
}
