//! Hot reload: new operator versions take over at a batch boundary while
//! the stream keeps flowing.
//!
//! - [`watch`]: the manifest, every component it names and the control
//!   folder are watched, debounced.
//! - [`prepare`]: a changed component is loaded, kind-checked, `init`ed
//!   and dry-run on the last batch's calls, off the batch path.
//! - [`Reloader`] (here): what changed goes to preparation; between two
//!   batches the scheduler hands over the stages and gets back the edits
//!   due.
//! - [`swap`]: a prepared version goes live in every partition of its
//!   stage at once (state and window contents stay), on probation, and is
//!   rolled back if it fails a batch; a version that converts state does
//!   so first.
//! - [`shadow`]: candidates run beside the live version, their output
//!   compared and reported; `wasmstream promote` makes one live.
//! - [`edit`]: an edited manifest, compared with the running plan
//!   ([`crate::plan::diff`]): new versions, a new interval, a new graph,
//!   or what waits for a restart.
//! - [`events`]: every reload, refusal, rollback and promotion, logged and
//!   kept for `wasmstream status`.

mod edit;
pub mod events;
mod prepare;
mod shadow;
mod swap;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::manifest::ManifestErrors;
use crate::metrics::PipelineMetrics;
use crate::plan::{Bound, Id, PipelinePlan};
use crate::plugin::Runtime;
use crate::stage::{StageRunner, WasmOperator};
use events::{Event, EventLog, What};
use prepare::{Candidate, Prepared, Refusal};
use swap::Probation;

/// The control-folder file that asks a running pipeline to promote a
/// stage's shadow: `promote-<stage>`.
pub const PROMOTE_PREFIX: &str = "promote-";

/// A version hash as events show it.
pub fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// Where a prepared version goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Live, replacing the current version.
    Live,
    /// Live, replacing the current version, which the shadow was.
    Promote,
    /// Beside the live version.
    Shadow,
}

/// What a preparation sends back.
struct Done {
    target: Target,
    /// Which preparation of the stage this was; only the newest counts.
    generation: u64,
    result: Result<Prepared, Refusal>,
}

/// Something the reloader has to act on, found between batches.
pub enum News {
    /// A watched file changed (and has settled).
    Changed(PathBuf),
    /// The manifest, read again.
    Manifest(Box<Result<Bound, ManifestErrors>>),
}

/// Where a running pipeline's new versions come from.
pub enum Updates {
    /// Its manifest and components are watched, and read again when they
    /// change (`wasmstream run`).
    Watch(Arc<Runtime>),
    /// Whole new plans are bound elsewhere and handed over (a server's
    /// deploys); each is taken as an edited manifest, under the same
    /// preparation, refusal and rollback rules. Nothing is watched.
    Pushed(
        Arc<Runtime>,
        mpsc::UnboundedReceiver<Result<Bound, ManifestErrors>>,
    ),
}

/// A manifest edit the scheduler applies between two batches.
pub enum Edit {
    /// Run this plan from now on: stages or sinks added, removed or
    /// rewired (with what changed, in words). Stages whose shape is
    /// unchanged keep their runners and state.
    Replan(Box<Bound>, Vec<String>),
    /// A new batch interval.
    Retime(Retiming),
}

/// A new batch interval, and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiming {
    /// The new batch interval.
    pub interval: Duration,
    /// Each source's new most records per batch (its rate times the new
    /// interval), by source id.
    pub source_caps: Vec<(Id, Option<usize>)>,
}

/// Watches a running pipeline's files and changes its operators' versions
/// between batches.
pub struct Reloader {
    runtime: Arc<Runtime>,
    manifest: PathBuf,
    control: PathBuf,
    probation_batches: u32,
    events: EventLog,
    /// The files watched, unless plans are pushed.
    watcher: Option<watch::Watcher>,
    /// The running pipeline, to tell manifest edits from it.
    running: PipelinePlan,
    done_tx: mpsc::UnboundedSender<Done>,
    done: mpsc::UnboundedReceiver<Done>,
    /// Where a manifest read again is sent; `None` when plans are pushed.
    manifests_tx: Option<mpsc::UnboundedSender<Result<Bound, ManifestErrors>>>,
    manifests: mpsc::UnboundedReceiver<Result<Bound, ManifestErrors>>,
    generation: HashMap<String, u64>,
    probation: HashMap<String, Probation>,
    shadows: HashMap<String, Arc<WasmOperator>>,
    /// A new interval to apply at the next boundary.
    retiming: Option<Retiming>,
    /// A new graph to run from the next boundary, and what changed.
    replan: Option<(Bound, Vec<String>)>,
}

impl Reloader {
    /// Starts taking `updates` for `plan` (watching its manifest and
    /// components, or waiting for plans pushed), sets up its stages'
    /// shadows, and records the versions starting.
    pub fn start(
        plan: &PipelinePlan,
        updates: Updates,
        stages: &mut [StageRunner],
        metrics: Option<Arc<PipelineMetrics>>,
    ) -> Result<Reloader> {
        let control = events::control_dir(&plan.file, &plan.name);
        let mut events = EventLog::open(&control, &plan.name, metrics)?;
        let (runtime, watcher, manifests_tx, manifests) = match updates {
            Updates::Watch(runtime) => {
                let watcher = watch::Watcher::new(
                    &watched_files(plan),
                    std::slice::from_ref(&control),
                    plan.reload.debounce,
                )?;
                let (tx, rx) = mpsc::unbounded_channel();
                (runtime, Some(watcher), Some(tx), rx)
            }
            Updates::Pushed(runtime, plans) => (runtime, None, None, plans),
        };
        for (stage, runner) in plan.stages.iter().zip(stages.iter()) {
            if let Some(component) = stage.step.operator() {
                let mut started =
                    Event::now(What::Started, Some(&stage.id), "the pipeline started");
                started.version = Some(short(&component.digest));
                started.file = Some(component.path.display().to_string());
                events.record(started);
            }
            debug_assert_eq!(runner.id(), stage.id.as_str());
        }
        let (done_tx, done) = mpsc::unbounded_channel();
        let mut reloader = Reloader {
            runtime,
            manifest: plan.file.clone(),
            control,
            probation_batches: plan.reload.probation,
            events,
            watcher,
            running: plan.clone(),
            done_tx,
            done,
            manifests_tx,
            manifests,
            generation: HashMap::new(),
            probation: HashMap::new(),
            shadows: HashMap::new(),
            retiming: None,
            replan: None,
        };
        reloader.start_shadows(stages, |_| true);
        // What changed between reading the plan and watching (a manifest
        // or component saved during recovery) is found by reading once
        // more; an unchanged manifest changes nothing.
        reloader.read_manifest();
        Ok(reloader)
    }

    /// Reads the manifest again, on the blocking pool (when it is
    /// watched).
    fn read_manifest(&self) {
        let Some(tx) = self.manifests_tx.clone() else {
            return;
        };
        let (file, runtime) = (self.manifest.clone(), self.runtime.clone());
        let worker = self.running.is_worker();
        tokio::task::spawn_blocking(move || {
            let mut read = crate::plan::load(&file, &runtime);
            // A worker's manifest, read again, is a worker's too.
            if worker
                && let Ok(bound) = &mut read
                && let Err(errors) = bound.as_worker()
            {
                read = Err(errors);
            }
            let _ = tx.send(read);
        });
    }

    /// Waits for something to act on: a settled file change, or a
    /// manifest read again. Never returns without a reloader.
    pub async fn news(reloader: Option<&mut Reloader>) -> News {
        let Some(reloader) = reloader else {
            return std::future::pending().await;
        };
        tokio::select! {
            Some(path) = async {
                match reloader.watcher.as_mut() {
                    Some(watcher) => watcher.changes.recv().await,
                    None => std::future::pending().await,
                }
            } => News::Changed(path),
            Some(read) = reloader.manifests.recv() => News::Manifest(Box::new(read)),
            else => std::future::pending().await,
        }
    }

    /// Acts on `news` between batches: starts preparing what changed.
    pub fn take(&mut self, news: News, stages: &mut [StageRunner]) {
        match news {
            News::Changed(path) => self.changed(&path, stages),
            News::Manifest(read) => self.manifest_read(*read, stages),
        }
    }

    /// Between two batches, before batch `next` is cut: starts preparing
    /// what changed, and swaps in what is ready. Never waits. Returns the
    /// manifest edits for the scheduler to apply from this batch.
    pub fn between_batches(&mut self, stages: &mut [StageRunner], next: u64) -> Vec<Edit> {
        while let Some(Ok(path)) = self.watcher.as_mut().map(|w| w.changes.try_recv()) {
            self.changed(&path, stages);
        }
        while let Ok(read) = self.manifests.try_recv() {
            self.manifest_read(read, stages);
        }
        while let Ok(done) = self.done.try_recv() {
            self.apply(done, stages, next);
        }
        let mut edits = Vec::new();
        if let Some((plan, changes)) = self.replan.take() {
            edits.push(Edit::Replan(Box::new(plan), changes));
        }
        if let Some(retiming) = self.retiming.take() {
            let mut event = Event::now(
                What::Changed,
                None,
                format!(
                    "the batch interval is now {} ms (was {} ms)",
                    retiming.interval.as_millis(),
                    self.running.interval.as_millis()
                ),
            );
            event.first_batch = Some(next);
            event.file = Some(self.manifest.display().to_string());
            self.events.record(event);
            self.running.interval = retiming.interval;
            edits.push(Edit::Retime(retiming));
        }
        edits
    }

    /// A watched file changed.
    fn changed(&mut self, path: &Path, stages: &[StageRunner]) {
        if path == self.manifest {
            self.read_manifest();
            return;
        }
        if path.parent() == Some(self.control.as_path()) {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if let Some(stage) = name.as_deref().and_then(|n| n.strip_prefix(PROMOTE_PREFIX))
                && path.exists()
            {
                let _ = std::fs::remove_file(path);
                self.promote(stage, stages);
            }
            return;
        }
        for runner in stages {
            let Some(live) = runner.live() else { continue };
            if live.plugin.path() == path {
                let candidate = self.candidate(runner, &live, None, "its file changed");
                self.spawn(candidate, Target::Live);
            }
            if let Some(shadow) = self.shadows.get(runner.id()).cloned()
                && shadow.plugin.path() == path
            {
                let candidate = self.candidate(runner, &shadow, None, "the shadow's file changed");
                self.spawn(candidate, Target::Shadow);
            }
        }
    }

    fn candidate(
        &self,
        runner: &StageRunner,
        version: &WasmOperator,
        plugin: Option<Arc<crate::plugin::Plugin>>,
        reason: &str,
    ) -> Candidate {
        let kind = runner
            .live()
            .map_or(version.plugin.kind(), |live| live.plugin.kind());
        Candidate {
            stage: runner.id().to_owned(),
            file: version.plugin.path().to_owned(),
            plugin,
            kind,
            params: version.params.clone(),
            limits: version.limits,
            labels: runner.labels(),
            last_calls: runner.last_calls(),
            from_version: runner.live().map(|live| live.plugin.digest()),
            reason: reason.to_owned(),
        }
    }

    /// Prepares `candidate` on the blocking pool.
    fn spawn(&mut self, candidate: Candidate, target: Target) {
        let generation = self.generation.entry(candidate.stage.clone()).or_default();
        *generation += 1;
        let (generation, runtime, tx) = (*generation, self.runtime.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let result = prepare::prepare(&runtime, candidate);
            let _ = tx.send(Done {
                target,
                generation,
                result,
            });
        });
    }
}

/// Drops replaced instances on the blocking pool: freeing an instance's
/// memory is not free, and the next batch is waiting.
fn drop_later(instances: Vec<crate::plugin::Instance>) {
    if !instances.is_empty() {
        tokio::task::spawn_blocking(move || drop(instances));
    }
}

fn same_version(a: &WasmOperator, b: &WasmOperator) -> bool {
    a.plugin.digest() == b.plugin.digest() && a.params == b.params && a.limits == b.limits
}

/// The manifest and every component (and shadow) it names.
fn watched_files(plan: &PipelinePlan) -> Vec<PathBuf> {
    let mut files = vec![plan.file.clone()];
    files.extend(plan.components().map(|(_, _, c)| c.path.clone()));
    files
}
