//! Hot reload: new operator versions take over at a batch boundary while
//! the stream keeps flowing.
//!
//! - [`watch`]: the manifest, every component it names and the control
//!   folder are watched, debounced.
//! - [`prepare`]: a changed component is loaded, kind-checked, `init`ed
//!   and dry-run on the last batch's calls, off the batch path.
//! - [`Reloader`] (here): between two batches the scheduler hands it the
//!   stages; it swaps in what passed, for every partition of the stage at
//!   once (state and window contents stay), keeps the replaced version
//!   while the new one is on probation, and rolls back to it if the new
//!   one fails a batch. Shadow versions and `wasmstream promote` go
//!   through the same path.
//! - [`events`]: every reload, refusal, rollback and promotion, logged and
//!   kept for `wasmstream status`.

pub mod events;
mod prepare;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::manifest::ManifestErrors;
use crate::plan::{PipelinePlan, Step, Windowing};
use crate::plugin::Runtime;
use crate::stage::{Operator, StageError, StageRunner, WasmOperator};
use events::{Event, EventLog, What};
use prepare::{Candidate, Prepared, Refusal};

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
    Manifest(Box<Result<PipelinePlan, ManifestErrors>>),
}

/// A manifest edit the scheduler applies between two batches.
pub enum Edit {
    /// Run this plan from now on: stages or sinks added, removed or
    /// rewired (with what changed, in words). Stages whose shape is
    /// unchanged keep their runners and state.
    Replan(Box<PipelinePlan>, Vec<String>),
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
    pub source_caps: Vec<(String, Option<usize>)>,
}

/// A version gone live, until it has run `left` more batches.
struct Probation {
    previous: Arc<WasmOperator>,
    left: u32,
}

/// Watches a running pipeline's files and changes its operators' versions
/// between batches.
pub struct Reloader {
    runtime: Arc<Runtime>,
    manifest: PathBuf,
    control: PathBuf,
    probation_batches: u32,
    events: EventLog,
    watcher: watch::Watcher,
    /// The running pipeline, to tell manifest edits from it.
    running: PipelinePlan,
    done_tx: mpsc::UnboundedSender<Done>,
    done: mpsc::UnboundedReceiver<Done>,
    manifests_tx: mpsc::UnboundedSender<Result<PipelinePlan, ManifestErrors>>,
    manifests: mpsc::UnboundedReceiver<Result<PipelinePlan, ManifestErrors>>,
    generation: HashMap<String, u64>,
    probation: HashMap<String, Probation>,
    shadows: HashMap<String, Arc<WasmOperator>>,
    /// The running batch interval.
    interval: Duration,
    /// A stage whose windows count batches, which pins the interval.
    counts_batches: Option<String>,
    /// A new interval to apply at the next boundary.
    retiming: Option<Retiming>,
    /// A new graph to run from the next boundary, and what changed.
    replan: Option<(PipelinePlan, Vec<String>)>,
}

impl Reloader {
    /// Starts watching `plan`'s manifest and components, sets up its
    /// stages' shadows, and records the versions starting.
    pub fn start(
        plan: &PipelinePlan,
        runtime: Arc<Runtime>,
        stages: &mut [StageRunner],
    ) -> Result<Reloader> {
        let control = events::control_dir(&plan.file, &plan.name);
        let mut events = EventLog::open(&control, &plan.name)?;
        let watcher = watch::Watcher::new(
            &watched_files(plan),
            std::slice::from_ref(&control),
            plan.reload.debounce,
        )?;
        let mut shadows = HashMap::new();
        for (stage, runner) in plan.stages.iter().zip(stages.iter_mut()) {
            runner.keep_last_calls();
            if let Some(Operator::Wasm(op)) = stage.step.operator() {
                let mut started =
                    Event::now(What::Started, Some(&stage.id), "the pipeline started");
                started.version = Some(short(&op.plugin.digest()));
                started.file = Some(op.plugin.path().display().to_string());
                events.record(started);
            }
            if let Some(Operator::Wasm(shadow)) = &stage.shadow {
                runner.set_shadow(Some(shadow.clone()));
                shadows.insert(stage.id.clone(), shadow.clone());
            }
        }
        let (done_tx, done) = mpsc::unbounded_channel();
        let (manifests_tx, manifests) = mpsc::unbounded_channel();
        let reloader = Reloader {
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
            shadows,
            interval: plan.interval,
            counts_batches: counts_batches(plan),
            retiming: None,
            replan: None,
        };
        // What changed between reading the plan and watching (a manifest
        // or component saved during recovery) is found by reading once
        // more; an unchanged manifest changes nothing.
        reloader.read_manifest();
        Ok(reloader)
    }

    /// Reads the manifest again, on the blocking pool.
    fn read_manifest(&self) {
        let (file, runtime, tx) = (
            self.manifest.clone(),
            self.runtime.clone(),
            self.manifests_tx.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(crate::plan::load(&file, &runtime));
        });
    }

    /// Waits for something to act on: a settled file change, or a
    /// manifest read again. Never returns without a reloader.
    pub async fn news(reloader: Option<&mut Reloader>) -> News {
        let Some(reloader) = reloader else {
            return std::future::pending().await;
        };
        tokio::select! {
            Some(path) = reloader.watcher.changes.recv() => News::Changed(path),
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
        while let Ok(path) = self.watcher.changes.try_recv() {
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
                    self.interval.as_millis()
                ),
            );
            event.first_batch = Some(next);
            event.file = Some(self.manifest.display().to_string());
            self.events.record(event);
            self.interval = retiming.interval;
            edits.push(Edit::Retime(retiming));
        }
        edits
    }

    /// The scheduler could not apply an [`Edit::Replan`] (a new sink would
    /// not open); it runs on as it was.
    pub fn replan_refused(&mut self, why: &str) {
        let mut event = Event::now(
            What::Refused,
            None,
            format!("the manifest's edit cannot go live: {why}; the pipeline runs on as it was"),
        );
        event.file = Some(self.manifest.display().to_string());
        self.events.record(event);
    }

    /// The scheduler now runs `plan` (an [`Edit::Replan`]) with `stages`,
    /// from batch `next`: watch its files, run its new stages' shadows,
    /// forget the stages gone.
    pub fn replanned(
        &mut self,
        plan: &PipelinePlan,
        stages: &mut [StageRunner],
        changes: &[String],
        next: u64,
    ) {
        let before: Vec<&str> = self.running.stages.iter().map(|s| s.id.as_str()).collect();
        for (stage, runner) in plan.stages.iter().zip(stages.iter_mut()) {
            runner.keep_last_calls();
            if !before.contains(&stage.id.as_str())
                && let Some(Operator::Wasm(shadow)) = &stage.shadow
            {
                runner.set_shadow(Some(shadow.clone()));
                self.shadows.insert(stage.id.clone(), shadow.clone());
            }
        }
        let present = |id: &String| plan.stages.iter().any(|s| &s.id == id);
        self.shadows.retain(|id, _| present(id));
        self.probation.retain(|id, _| present(id));
        self.generation.retain(|id, _| present(id));
        match watch::Watcher::new(
            &watched_files(plan),
            std::slice::from_ref(&self.control),
            plan.reload.debounce,
        ) {
            Ok(watcher) => self.watcher = watcher,
            Err(e) => {
                tracing::warn!(pipeline = %plan.name, "cannot watch the new stages' files: {e:#}")
            }
        }
        self.counts_batches = counts_batches(plan);
        self.running = plan.clone();
        let mut event = Event::now(
            What::Changed,
            None,
            format!("the manifest's edit is live: {}", changes.join("; ")),
        );
        event.first_batch = Some(next);
        event.file = Some(self.manifest.display().to_string());
        self.events.record(event);
    }

    /// After batch `id` is written: counts down probations and reports
    /// the shadows' comparisons.
    pub fn batch_done(&mut self, stages: &mut [StageRunner], id: u64) {
        self.probation.retain(|_, p| {
            p.left = p.left.saturating_sub(1);
            p.left > 0
        });
        for runner in stages.iter_mut() {
            let Some(report) = runner.take_shadow_report() else {
                continue;
            };
            if report.compared == 0 && report.differing == 0 && report.failed.is_none() {
                // Nothing reached the stage: nothing to compare.
                continue;
            }
            let reason = match &report.failed {
                Some(failure) => format!("batch {id}: the shadow failed: {failure}"),
                None if report.differing == 0 => {
                    format!("batch {id}: 0 of {} records differ", report.compared)
                }
                None => format!(
                    "batch {id}: {} of {} records differ; e.g. {}",
                    report.differing,
                    report.compared,
                    report.samples.join("; ")
                ),
            };
            let mut event = Event::now(What::Shadow, Some(runner.id()), reason);
            event.version = self
                .shadows
                .get(runner.id())
                .map(|s| short(&s.plugin.digest()));
            self.events.record(event);
        }
    }

    /// Whether stage `stage` runs a version still on probation.
    pub fn on_probation(&self, stage: &str) -> bool {
        self.probation.contains_key(stage)
    }

    /// Whether any stage does.
    pub fn any_on_probation(&self) -> bool {
        !self.probation.is_empty()
    }

    /// Puts back the version the failed one replaced; the scheduler then
    /// runs batch `batch` again.
    pub fn roll_back(&mut self, stages: &mut [StageRunner], error: &StageError, batch: u64) {
        let Some(probation) = self.probation.remove(&error.stage) else {
            return;
        };
        let Some(runner) = stages.iter_mut().find(|s| s.id() == error.stage) else {
            return;
        };
        let (failed, instances) = runner.swap(probation.previous.clone(), Vec::new());
        drop_later(instances);
        let mut event = Event::now(
            What::RolledBack,
            Some(&error.stage),
            format!("the new version failed batch {batch} on probation: {error}"),
        );
        event.version = Some(short(&probation.previous.plugin.digest()));
        event.previous = failed.map(|f| short(&f.plugin.digest()));
        event.first_batch = Some(batch);
        event.file = Some(probation.previous.plugin.path().display().to_string());
        self.events.record(event);
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

    /// `wasmstream promote`: the stage's shadow becomes its live version.
    fn promote(&mut self, stage: &str, stages: &[StageRunner]) {
        let Some(runner) = stages.iter().find(|s| s.id() == stage) else {
            self.events.record(Event::now(
                What::Refused,
                Some(stage),
                "cannot promote: the pipeline has no such stage",
            ));
            return;
        };
        let Some(shadow) = self.shadows.get(stage).cloned() else {
            self.events.record(Event::now(
                What::Refused,
                Some(stage),
                "cannot promote: the stage has no shadow version",
            ));
            return;
        };
        let candidate = self.candidate(
            runner,
            &shadow,
            Some(shadow.plugin.clone()),
            "promoted from shadow (update the manifest's `component` to keep it after a restart)",
        );
        self.spawn(candidate, Target::Promote);
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

    /// Swaps in a prepared version, or records why it was refused.
    fn apply(&mut self, done: Done, stages: &mut [StageRunner], next: u64) {
        let stage = match &done.result {
            Ok(prepared) => prepared.stage.clone(),
            Err(refusal) => refusal.stage.clone(),
        };
        if self.generation.get(&stage) != Some(&done.generation) {
            // A newer change of the same stage is being prepared.
            return;
        }
        let mut prepared = match done.result {
            Ok(prepared) => prepared,
            Err(refusal) => {
                let mut event = Event::now(
                    What::Refused,
                    Some(&refusal.stage),
                    format!(
                        "{}; the live version keeps running (the next change of the file is tried again)",
                        refusal.reason
                    ),
                );
                event.version = refusal.version;
                event.file = Some(refusal.file.display().to_string());
                self.events.record(event);
                return;
            }
        };
        let Some(runner) = stages.iter_mut().find(|s| s.id() == stage) else {
            return;
        };
        let version = short(&prepared.op.plugin.digest());
        let file = prepared.op.plugin.path().display().to_string();
        if done.target == Target::Shadow {
            runner.set_shadow(Some(prepared.op.clone()));
            self.shadows.insert(stage.clone(), prepared.op);
            let mut event = Event::now(What::ShadowStarted, Some(&stage), prepared.reason);
            event.version = Some(version);
            event.first_batch = Some(next);
            event.file = Some(file);
            self.events.record(event);
            return;
        }
        // A version that converts state does so now, all keys at once,
        // before its first batch; it cannot be rolled back after (the old
        // version could not read what it converted).
        let mut reason = prepared.reason;
        let mut migrated = false;
        if prepared.op.plugin.migrates()
            && let Some(live) = runner.live()
            && live.plugin.digest() != prepared.op.plugin.digest()
        {
            match runner.migrate_state(&live.plugin.digest(), &mut prepared.instances) {
                Ok(keys) => {
                    migrated = true;
                    reason.push_str(&format!(
                        "; migrate-state converted {keys} keys' state from {}",
                        short(&live.plugin.digest())
                    ));
                }
                Err(why) => {
                    let mut event = Event::now(
                        What::Refused,
                        Some(&stage),
                        format!(
                            "its migrate-state failed: {why}; the state is unchanged and the live version keeps running"
                        ),
                    );
                    event.version = Some(version);
                    event.file = Some(file);
                    self.events.record(event);
                    return;
                }
            }
        }
        let (previous, replaced) = runner.swap(prepared.op.clone(), prepared.instances);
        drop_later(replaced);
        if done.target == Target::Promote {
            runner.set_shadow(None);
            self.shadows.remove(&stage);
        }
        let what = match done.target {
            Target::Promote => What::Promoted,
            _ => What::Reloaded,
        };
        let mut event = Event::now(what, Some(&stage), reason);
        event.version = Some(version);
        event.previous = previous.as_ref().map(|p| short(&p.plugin.digest()));
        event.first_batch = Some(next);
        event.file = Some(file);
        self.events.record(event);
        match previous {
            Some(previous) if self.probation_batches > 0 && !migrated => {
                self.probation.insert(
                    stage,
                    Probation {
                        previous,
                        left: self.probation_batches,
                    },
                );
            }
            _ => {}
        }
    }

    /// The manifest was read again: operator changes (a component, its
    /// params or limits, a shadow) are prepared like a changed file; any
    /// other change is reported as needing a restart.
    fn manifest_read(
        &mut self,
        read: Result<PipelinePlan, ManifestErrors>,
        stages: &mut [StageRunner],
    ) {
        let plan = match read {
            Ok(plan) => plan,
            Err(errors) => {
                let mut event = Event::now(
                    What::Refused,
                    None,
                    format!(
                        "the edited manifest has errors; nothing changes: {}",
                        errors.to_string().lines().collect::<Vec<_>>().join("; ")
                    ),
                );
                event.file = Some(self.manifest.display().to_string());
                self.events.record(event);
                return;
            }
        };
        if plan.interval != self.interval {
            match &self.counts_batches {
                Some(stage) => {
                    let mut event = Event::now(
                        What::NeedsRestart,
                        None,
                        format!(
                            "the manifest changed the batch interval ({} ms → {} ms), but stage `{stage}` counts its window in batches of the old interval; the change waits for a restart",
                            self.interval.as_millis(),
                            plan.interval.as_millis()
                        ),
                    );
                    event.file = Some(self.manifest.display().to_string());
                    self.events.record(event);
                }
                None => {
                    self.retiming = Some(Retiming {
                        interval: plan.interval,
                        source_caps: plan
                            .sources
                            .iter()
                            .map(|s| (s.id.clone(), s.max_batch_records))
                            .collect(),
                    })
                }
            }
        }
        let (restart, live) = compare(&self.running, &plan);
        if !restart.is_empty() {
            let mut event = Event::now(
                What::NeedsRestart,
                None,
                format!(
                    "the manifest changed {}; that cannot change under a running pipeline, so the edit waits for a restart (state resumes from the checkpoint)",
                    restart.join(", ")
                ),
            );
            event.file = Some(self.manifest.display().to_string());
            self.events.record(event);
        } else if !live.is_empty() {
            self.replan = Some((plan.clone(), live));
        }
        for stage in &plan.stages {
            let Some(runner) = stages.iter().find(|s| s.id() == stage.id) else {
                continue;
            };
            if let (Some(Operator::Wasm(new)), Some(live)) = (stage.step.operator(), runner.live())
                && !same_version(new, &live)
            {
                let reason = if new.plugin.digest() == live.plugin.digest() {
                    "the manifest changed its params or limits"
                } else {
                    "the manifest names another component"
                };
                let candidate = self.candidate(runner, new, Some(new.plugin.clone()), reason);
                self.spawn(candidate, Target::Live);
            }
            let shadow = match &stage.shadow {
                Some(Operator::Wasm(shadow)) => Some(shadow.clone()),
                _ => None,
            };
            match (shadow, self.shadows.get(&stage.id).cloned()) {
                (Some(new), Some(old)) if same_version(&new, &old) => {}
                (Some(new), _) => {
                    let candidate = self.candidate(
                        runner,
                        &new,
                        Some(new.plugin.clone()),
                        "the manifest names a shadow",
                    );
                    self.spawn(candidate, Target::Shadow);
                }
                (None, Some(_)) => {
                    self.shadows.remove(&stage.id);
                    if let Some(runner) = stages.iter_mut().find(|s| s.id() == stage.id) {
                        runner.set_shadow(None);
                    }
                    self.events.record(Event::now(
                        What::ShadowStopped,
                        Some(&stage.id),
                        "the manifest no longer names a shadow",
                    ));
                }
                (None, None) => {}
            }
        }
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

/// How `new` differs from `running`, leaving out operator versions (swapped
/// like changed files) and the interval (applied where it can be): what
/// needs a restart, and what can change at a batch boundary.
fn compare(running: &PipelinePlan, new: &PipelinePlan) -> (Vec<String>, Vec<String>) {
    let mut restart = Vec::new();
    let mut live = Vec::new();
    // Sources hold positions in their input; the per-batch caps follow
    // from the interval and are left out.
    let sources = |p: &PipelinePlan| {
        let kinds: Vec<_> = p.sources.iter().map(|s| (&s.id, &s.kind)).collect();
        format!("{kinds:?}")
    };
    let fixed = [
        ("the sources", sources(running), sources(new)),
        (
            "the checkpoints",
            format!("{:?}", running.checkpoint),
            format!("{:?}", new.checkpoint),
        ),
        (
            "on_error",
            format!("{:?}", running.on_error),
            format!("{:?}", new.on_error),
        ),
        (
            "state_memory",
            running.state_memory.to_string(),
            new.state_memory.to_string(),
        ),
        (
            "backpressure",
            running.backpressure.to_string(),
            new.backpressure.to_string(),
        ),
    ];
    for (aspect, old, now) in fixed {
        if old != now {
            restart.push(format!("{aspect} ({old} → {now})"));
        }
    }
    for old in &running.stages {
        match new.stages.iter().find(|s| s.id == old.id) {
            None if stateful(&old.step) => {
                live.push(format!("stage `{}` removed, and its state dropped", old.id))
            }
            None => live.push(format!("stage `{}` removed", old.id)),
            Some(now) if stage_shape(now) == stage_shape(old) => {}
            Some(now) if stateful(&old.step) => restart.push(format!(
                "stage `{}` ({} → {}), whose state is laid out for the old one",
                old.id,
                stage_shape(old),
                stage_shape(now)
            )),
            Some(now) => live.push(format!(
                "stage `{}` ({} → {})",
                old.id,
                stage_shape(old),
                stage_shape(now)
            )),
        }
    }
    for now in &new.stages {
        if !running.stages.iter().any(|s| s.id == now.id) {
            live.push(format!("stage `{}` added", now.id));
        }
    }
    for old in &running.sinks {
        match new.sinks.iter().find(|s| s.id == old.id) {
            None => live.push(format!("sink `{}` removed", old.id)),
            Some(now) if now.input == old.input && now.kind == old.kind => {}
            Some(_) => live.push(format!("sink `{}` changed", old.id)),
        }
    }
    for now in &new.sinks {
        if !running.sinks.iter().any(|s| s.id == now.id) {
            live.push(format!("sink `{}` added", now.id));
        }
    }
    (restart, live)
}

/// Whether a step keeps anything across batches.
fn stateful(step: &Step) -> bool {
    matches!(
        step,
        Step::UpdateStateByKey(..)
            | Step::Window { .. }
            | Step::ReduceByKeyAndWindow { .. }
            | Step::CountByValueAndWindow(_)
    )
}

/// A stage without its operator's version: what it does, what it reads,
/// over how many partitions.
pub fn stage_shape(stage: &crate::plan::StagePlan) -> String {
    format!(
        "{} reading {}, parallelism {}",
        step_shape(&stage.step),
        stage.inputs.join(", "),
        stage.parallelism
    )
}

/// The first stage whose windows count batches (which pins the interval).
fn counts_batches(plan: &PipelinePlan) -> Option<String> {
    plan.stages
        .iter()
        .find(|s| {
            matches!(
                s.step,
                Step::Window { .. }
                    | Step::ReduceByKeyAndWindow {
                        windowing: Windowing::Batches { .. },
                        ..
                    }
                    | Step::CountByValueAndWindow(Windowing::Batches { .. })
            )
        })
        .map(|s| s.id.clone())
}

/// The manifest and every component (and shadow) it names.
fn watched_files(plan: &PipelinePlan) -> Vec<PathBuf> {
    let mut files = vec![plan.file.clone()];
    for stage in &plan.stages {
        for op in [stage.step.operator(), stage.shadow.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Some(file) = op.file() {
                files.push(file.to_owned());
            }
        }
    }
    files
}

/// A step without its operator's version.
fn step_shape(step: &Step) -> String {
    let windowing = |w: &Windowing| format!("{w:?}");
    match step {
        Step::Map(_) => "map".into(),
        Step::Filter(_) => "filter".into(),
        Step::FlatMap(_) => "flat_map".into(),
        Step::ReduceByKey(_) => "reduce_by_key".into(),
        Step::UpdateStateByKey(_, None) => "update_state_by_key".into(),
        Step::UpdateStateByKey(_, Some(ttl)) => {
            format!("update_state_by_key with ttl {} ms", ttl.as_millis())
        }
        Step::Union => "union".into(),
        Step::Window { length, slide } => format!("window of {length} batches every {slide}"),
        Step::ReduceByKeyAndWindow {
            inverse,
            windowing: w,
            ..
        } => format!(
            "reduce_by_key_and_window {}, inverse {:?}",
            windowing(w),
            inverse.as_ref().and_then(Operator::file)
        ),
        Step::CountByValueAndWindow(w) => format!("count_by_value_and_window {}", windowing(w)),
    }
}
