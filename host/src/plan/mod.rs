//! From what the user wrote to what the engine runs.
//!
//! A [`PipelinePlan`] is plain data: every path resolved, every unit
//! parsed, every component named by its path and content hash with its
//! params and limits, the stage graph checked and in order, and the side
//! outputs (late records, dead letters) typed [`Stream`]s rather than
//! names. It can be printed (`wasmstream validate --json`), stored,
//! shipped and compared with `==`; [`diff`] says what changed between two.
//!
//! Three steps lead from a manifest to a running pipeline:
//!
//! 1. [`crate::manifest`] parses the TOML, keeping each field's place.
//! 2. [`resolve`] checks it and makes the plan, without running anything
//!    (it only reads the component files to hash them).
//! 3. [`bind`] loads each component (compiled once, cached by content
//!    hash), checks it exports the stage's kind and runs its `init` on
//!    the stage's params: a [`Bound`] plan is runnable.
//!
//! [`load`] does all three and reports every problem at once, each naming
//! its line and field.

pub mod bind;
mod chains;
pub mod diff;
pub mod files;
mod ids;
pub mod resolve;
mod sink;
mod source;
mod stage;
mod workers;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use bind::{Bound, bind};
pub use diff::{Change, Effect, Shape, diff};
pub use ids::{Id, Stream};
pub use resolve::{MIN_INTERVAL, load, resolve};
pub use sink::{CommittedSource, Delivery, KafkaSink, SinkKind, SinkPlan, Transactions};
pub use source::{KafkaSource, LineFields, SourceKind, SourcePlan, Start};
pub use stage::{
    Component, EventTime, Interval, JoinHow, JoinOver, Role, StagePlan, Step, Windowing,
};
pub use workers::Changelog;

/// A checked pipeline: what the engine runs once its components are
/// bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelinePlan {
    /// The pipeline's name.
    pub name: String,
    /// The manifest it was read from.
    pub file: PathBuf,
    /// How often a batch is cut.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// When batches are cut.
    #[serde(default)]
    pub trigger: Trigger,
    /// What a failed batch does.
    pub on_error: OnError,
    /// Where records come from.
    pub sources: Vec<SourcePlan>,
    /// The operator steps, each after the ones it reads from.
    pub stages: Vec<StagePlan>,
    /// Where results go.
    pub sinks: Vec<SinkPlan>,
    /// Where and how often to checkpoint, if at all.
    pub checkpoint: Option<CheckpointPlan>,
    /// Bytes of per-key state each stateful partition keeps in memory.
    pub state_memory: usize,
    /// Whether the sources' rate adapts to the processing time.
    pub backpressure: bool,
    /// Hot reload.
    pub reload: ReloadPlan,
    /// A worker's stateful stages: where each keeps its state's changes,
    /// so the state follows its partitions to other workers
    /// ([`workers`]). Empty outside workers.
    #[serde(default)]
    pub changelogs: Vec<Changelog>,
}

/// When batches are cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// One batch every interval.
    #[default]
    Interval,
    /// What the sources hold at start, in batches as fast as they run,
    /// then stop (every source ends).
    AvailableNow,
}

/// Hot reload, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadPlan {
    /// Whether the manifest and components are watched.
    pub watch: bool,
    /// Batches a new version runs on probation.
    pub probation: u32,
    /// How long a changed file must stay unchanged before it is read.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
}

impl Default for ReloadPlan {
    fn default() -> Self {
        ReloadPlan {
            watch: true,
            probation: 3,
            debounce: Duration::from_millis(100),
        }
    }
}

/// Checkpointing, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPlan {
    /// The folder for checkpoints and the intent log.
    pub dir: PathBuf,
    /// Batches between two checkpoints.
    pub every: u64,
}

/// What a failed batch does to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// End the pipeline with the error (the default).
    Stop,
    /// Drop the batch, count it, and go on.
    Skip,
    /// Take each record an operator rejects out of the batch, send it to
    /// [`Stream::DeadLetters`] with the stage and error in its headers,
    /// and run the batch without it. Failures that name no record (a
    /// trap, the CPU budget) stop the pipeline as `Stop` does.
    DeadLetter,
}

impl PipelinePlan {
    /// The stage with id `id`.
    pub fn stage(&self, id: &str) -> Option<&StagePlan> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// How many stages and sinks read each stream.
    pub fn readers(&self) -> std::collections::HashMap<Stream, usize> {
        let mut readers = std::collections::HashMap::new();
        for input in self
            .stages
            .iter()
            .flat_map(|s| &s.inputs)
            .chain(self.sinks.iter().map(|s| &s.input))
        {
            *readers.entry(input.clone()).or_insert(0) += 1;
        }
        readers
    }

    /// The first stage whose windows count batches, which pins the batch
    /// interval: a new interval would change what its windows cover.
    pub fn counts_batches(&self) -> Option<&StagePlan> {
        self.stages.iter().find(|s| s.step.counts_batches())
    }

    /// Every component the plan names, with the stage and role it has.
    pub fn components(&self) -> impl Iterator<Item = (&StagePlan, Role, &Component)> {
        self.stages
            .iter()
            .flat_map(|stage| stage.components().map(move |(role, c)| (stage, role, c)))
    }
}

#[cfg(test)]
mod tests;
