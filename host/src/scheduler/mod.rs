//! The batch loop: the heart of a running pipeline.
//!
//! Every `batch_interval` the scheduler cuts a batch: it drains what each
//! source has read since the last cut, runs it through the stages in order
//! (each stage's partitions in parallel), and hands each sink its stream's
//! output. The next batch starts only when the last one is written; the
//! boundary between two batches is the one point where everything is
//! consistent.
//!
//! Stopping (Ctrl-C) is a boundary too: the sources stop reading and hand
//! over what they have, one last batch runs over all of it, and the sinks
//! are flushed. A pipeline whose sources have all ended stops the same way.
//!
//! One file per part:
//!
//! - [`batch_loop`]: when batches are cut, and what happens between two.
//! - [`feed`]: the sources as the loop sees them: cutting a batch,
//!   replaying a logged one, throttling under backpressure.
//! - [`dataflow`]: one batch through the stage graph and into the sinks.
//! - [`recovery`]: checkpoints, and resuming from them by replaying the
//!   intent log.
//! - [`replan`]: a manifest edit's new graph, taken over at a boundary.
//! - [`handover`]: a worker's per-key state, following its partitions.

mod batch_loop;
mod dataflow;
mod feed;
mod handover;
mod recovery;
mod replan;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::checkpoint::Store;
use crate::connector;
use crate::connector::kafka::Changelog;
use crate::metrics::{BatchCounts, PipelineMetrics};
use crate::operator::Operator;
use crate::plan::{Bound, OnError, PipelinePlan, StagePlan, Stream};
use crate::reload::{Reloader, Updates};
use crate::sink::Sink;
use crate::stage::{Calls, StageError, StageRunner};
use crate::state::SpillFile;

pub use crate::summary::{BatchFigures, Figures, Summary};

/// How [`run`] runs a pipeline.
pub struct Options {
    /// Discard the pipeline's checkpoints and start from nothing, rather
    /// than resume.
    pub fresh: bool,
    /// Where new versions come from (see [`crate::reload`]); `None`: hot
    /// reload is off.
    pub updates: Option<Updates>,
    /// Becomes `true` to stop: the running batch and one last one over
    /// everything read are finished, and the sinks flushed.
    pub stop: watch::Receiver<bool>,
    /// Where each batch's figures are published as it ends, if anyone
    /// watches.
    pub figures: Option<watch::Sender<Figures>>,
    /// The operator calls it may run at once, shared with other
    /// pipelines (a tenant's, on a server); `None`: as many as there are
    /// cores, its own.
    pub calls: Option<Calls>,
    /// Its Prometheus metrics, if anyone scrapes them.
    pub metrics: Option<Arc<PipelineMetrics>>,
}

impl Options {
    /// Resume, no hot reload, nobody watching: stop when `stop` says.
    pub fn new(stop: watch::Receiver<bool>) -> Options {
        Options {
            fresh: false,
            updates: None,
            stop,
            figures: None,
            calls: None,
            metrics: None,
        }
    }
}

/// Runs `pipeline` until its sources end or it is asked to stop, then
/// finishes the last batch and flushes the sinks. A checkpointed pipeline
/// first resumes from its checkpoint folder, unless `fresh` discards it.
/// New versions from `updates` are swapped in between batches.
pub async fn run(pipeline: Bound, options: Options) -> Result<Summary> {
    let name = pipeline.plan.name.clone();
    let Options {
        fresh,
        updates,
        stop,
        figures,
        calls,
        metrics,
    } = options;
    let calls = calls.unwrap_or_else(|| Calls::new(calls_at_once()));
    let mut scheduler = Scheduler::new(pipeline, fresh, calls)?;
    scheduler.figures = figures;
    scheduler.metrics = metrics;
    scheduler
        .run(updates, stop)
        .await
        .with_context(|| format!("pipeline `{name}`"))
}

/// A running pipeline, between two batches.
struct Scheduler {
    plan: PipelinePlan,
    stages: Vec<StageRunner>,
    /// Where stateful stages spill per-key state.
    spill: Arc<SpillFile>,
    /// The operator calls the pipeline may run at once, over all stages.
    calls: Calls,
    sinks: Vec<Box<dyn Sink>>,
    /// How many stages and sinks read each stream.
    readers: HashMap<Stream, usize>,
    /// The stages as they run: fused chains and single stages
    /// ([`PipelinePlan::chains`]).
    chains: Vec<Range<usize>>,
    summary: Summary,
    /// The checkpoint folder, if the pipeline checkpoints.
    store: Option<Store>,
    /// The batch the newest checkpoint holds.
    checkpointed: u64,
    /// Whether the last batch run was the last of an input that ended.
    input_ended: bool,
    /// This line of checkpoints ([`crate::checkpoint::Header::run`]); new
    /// unless resumed.
    run: u64,
    /// Hot reload, when the pipeline's files are watched.
    reloader: Option<Reloader>,
    /// Where each batch's figures go, if anyone watches.
    figures: Option<watch::Sender<Figures>>,
    /// Its Prometheus metrics, if anyone scrapes them.
    metrics: Option<Arc<PipelineMetrics>>,
    /// What the last batch run counted, for the metrics (with metrics only).
    counted: Option<BatchCounts>,
    /// A worker's changelogs, one per stateful stage ([`handover`]).
    changelogs: Vec<Changelog>,
}

/// A batch failed in a stage whose new version is on probation: it is to be
/// rolled back and the batch run again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct OnProbation(StageError);

impl Scheduler {
    fn new(pipeline: Bound, fresh: bool, calls: Calls) -> Result<Self> {
        let Bound { plan, stages } = pipeline;
        let sinks = plan
            .sinks
            .iter()
            .map(|sink| connector::open_sink(sink, plan.checkpoint.is_some()))
            .collect::<Result<Vec<_>>>()?;
        let spill = SpillFile::new(
            plan.checkpoint.as_ref().map(|c| c.dir.as_path()),
            &plan.name,
        );
        let stages = stages
            .iter()
            .map(|s| stage_runner(&plan, s, &spill, &calls))
            .collect();
        let store = match &plan.checkpoint {
            Some(c) => Some(Store::open(&c.dir, fresh)?),
            None => None,
        };
        let changelogs = handover::changelogs(&plan)?;
        Ok(Scheduler {
            readers: plan.readers(),
            chains: plan.chains(),
            plan,
            stages,
            spill,
            calls,
            sinks,
            summary: Summary::default(),
            store,
            checkpointed: 0,
            input_ended: false,
            run: new_run_id(),
            reloader: None,
            figures: None,
            metrics: None,
            counted: None,
            changelogs,
        })
    }
}

/// How many operator calls one pipeline runs at once: as many as there
/// are cores, so a pipeline of any parallelism keeps the machine busy but
/// takes no more threads than that from the pool its neighbours share.
fn calls_at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A runner for `stage` of `plan`, its calls bounded by `calls`.
fn stage_runner(
    plan: &PipelinePlan,
    stage: &StagePlan<Operator>,
    spill: &Arc<SpillFile>,
    calls: &Calls,
) -> StageRunner {
    let mut runner = StageRunner::spilling(&plan.name, stage, spill.clone(), plan.state_memory);
    runner.bound_calls(calls.clone());
    if plan.on_error == OnError::DeadLetter {
        runner.dead_letter_rejected_records();
    }
    runner
}

/// A new id for a line of checkpoints: distinct from the ids of earlier
/// lines in the same folder, which is all it needs to be.
fn new_run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}
