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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::checkpoint::{Header, Intent, Store};
use crate::plan::{DEAD_LETTERS, OnError, PipelinePlan, SourcePlan, StagePlan, late_stream};
use crate::plugin::Runtime;
use crate::rate::{BatchTimes, Gains, RateEstimator};
use crate::record::Batch;
use crate::reload::{Edit, Reloader};
use crate::sink::{self, BatchInfo, Progress, Sink};
use crate::source::{self, Position, Pull, Segment, Started};
use crate::stage::{StageError, StageRunner};
use crate::state::SpillFile;

/// The most bytes one batch takes from the sources; the rest waits for the
/// next batch (and the bounded source channels push back meanwhile).
const MAX_BATCH_BYTES: usize = 256 << 20;

/// What a pipeline did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Batches run (including empty ones).
    pub batches: u64,
    /// Records read from all sources.
    pub records_in: u64,
    /// Records handed to sinks (a record written to two sinks counts twice).
    pub records_out: u64,
    /// Batches dropped under `on_error = "skip"`.
    pub batches_skipped: u64,
    /// Source records in those dropped batches.
    pub records_dropped: u64,
    /// Records event-time stages found too late for their windows (sent to
    /// their side outputs).
    pub records_late: u64,
    /// Records operators rejected, sent to `dead-letters`.
    #[serde(default)]
    pub records_dead_lettered: u64,
}

/// Runs `plan` until its sources end or `stop` becomes true, then finishes
/// the last batch and flushes the sinks. A checkpointed pipeline first
/// resumes from its checkpoint folder, unless `fresh` discards it.
///
/// With `reload` (the runtime to load new versions with), the manifest and
/// the components are watched, and new versions swapped in between batches
/// (see [`crate::reload`]).
pub async fn run(
    plan: PipelinePlan,
    fresh: bool,
    reload: Option<Arc<Runtime>>,
    stop: watch::Receiver<bool>,
) -> Result<Summary> {
    let name = plan.name.clone();
    Scheduler::new(plan, fresh)?
        .run(reload, stop)
        .await
        .with_context(|| format!("pipeline `{name}`"))
}

struct Scheduler {
    plan: PipelinePlan,
    stages: Vec<StageRunner>,
    /// Where stateful stages spill per-key state.
    spill: Arc<SpillFile>,
    sinks: Vec<Box<dyn Sink>>,
    /// How many stages and sinks read each source or stage.
    readers: HashMap<String, usize>,
    summary: Summary,
    /// The checkpoint folder, if the pipeline checkpoints.
    store: Option<Store>,
    /// The batch the newest checkpoint holds.
    checkpointed: u64,
    /// Whether the last batch run was the last of an input that ended.
    input_ended: bool,
    /// This line of checkpoints ([`Header::run`]); new unless resumed.
    run: u64,
    /// Hot reload, when the pipeline's files are watched.
    reloader: Option<Reloader>,
}

/// What woke the scheduler between batches.
enum Woken {
    /// Time for a batch.
    Tick(tokio::time::Instant),
    /// Asked to stop.
    Stop,
    /// A watched file changed, or a manifest was read again.
    Reload(crate::reload::News),
}

/// A batch failed in a stage whose new version is on probation: it is to be
/// rolled back and the batch run again.
#[derive(Debug)]
struct OnProbation(StageError);

impl std::fmt::Display for OnProbation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for OnProbation {}

impl Scheduler {
    fn new(plan: PipelinePlan, fresh: bool) -> Result<Self> {
        let sinks = plan
            .sinks
            .iter()
            .map(sink::open)
            .collect::<Result<Vec<_>>>()?;
        let spill = SpillFile::new(
            plan.checkpoint.as_ref().map(|c| c.dir.as_path()),
            &plan.name,
        );
        let stages = plan
            .stages
            .iter()
            .map(|s| stage_runner(&plan, s, &spill))
            .collect();
        let readers = readers(&plan);
        let store = match &plan.checkpoint {
            Some(c) => Some(Store::open(&c.dir, fresh)?),
            None => None,
        };
        Ok(Scheduler {
            plan,
            stages,
            spill,
            sinks,
            readers,
            summary: Summary::default(),
            store,
            checkpointed: 0,
            input_ended: false,
            run: new_run_id(),
            reloader: None,
        })
    }

    async fn run(
        mut self,
        reload: Option<Arc<Runtime>>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Summary> {
        let (stop_sources, sources_stop) = watch::channel(false);
        let mut feeds: Vec<Feed> = self
            .plan
            .sources
            .iter()
            .map(|s| Feed::new(s, source::start(s, sources_stop.clone())))
            .collect();
        self.recover(&mut feeds).await?;
        if let Some(runtime) = reload.filter(|_| self.plan.reload.watch) {
            match Reloader::start(&self.plan, runtime, &mut self.stages) {
                Ok(reloader) => self.reloader = Some(reloader),
                // A read-only folder, say: the pipeline runs all the same.
                Err(e) => tracing::warn!(pipeline = %self.plan.name, "hot reload is off: {e:#}"),
            }
        }
        let mut interval = self.plan.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);

        let mut rate = self
            .plan
            .backpressure
            .then(|| RateEstimator::new(interval, Gains::default()));
        let result: Result<()> = async {
            loop {
                let woken = tokio::select! {
                    tick = ticker.tick() => Woken::Tick(tick),
                    _ = stop.wait_for(|stop| *stop) => Woken::Stop,
                    news = Reloader::news(self.reloader.as_mut()) => Woken::Reload(news),
                };
                let (stopping, scheduled) = match woken {
                    Woken::Tick(tick) => (false, tick),
                    Woken::Stop => (true, tokio::time::Instant::now()),
                    Woken::Reload(news) => {
                        // Start preparing now, so what changed is ready to
                        // swap in at the next boundary.
                        let reloader = self.reloader.as_mut().expect("it had news");
                        reloader.take(news, &mut self.stages);
                        continue;
                    }
                };
                if stopping {
                    tracing::info!(pipeline = %self.plan.name, "stopping: finishing the last batch");
                    let _ = stop_sources.send(true);
                    for feed in &mut feeds {
                        feed.receive_rest().await?;
                    }
                }
                for feed in &mut feeds {
                    feed.poll().await?;
                }
                // Normally one batch per tick; when stopping, as many as it
                // takes to hand over everything pushed.
                loop {
                    let next = self.summary.batches + 1;
                    let edits = match &mut self.reloader {
                        Some(reloader) => reloader.between_batches(&mut self.stages, next),
                        None => Vec::new(),
                    };
                    for edit in edits {
                        match edit {
                            Edit::Replan(plan, changes) => match self.open_new_sinks(&plan) {
                                Ok(opened) => {
                                    self.replan(*plan, opened, &feeds).await?;
                                    let reloader = self.reloader.as_mut().expect("it asked");
                                    reloader.replanned(&self.plan, &mut self.stages, &changes, next);
                                }
                                Err(e) => {
                                    let reloader = self.reloader.as_mut().expect("it asked");
                                    reloader.replan_refused(&format!("{e:#}"));
                                }
                            },
                            Edit::Retime(retiming) => {
                                interval = retiming.interval;
                                self.plan.interval = interval;
                                ticker = tokio::time::interval_at(
                                    tokio::time::Instant::now() + interval,
                                    interval,
                                );
                                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                                if let Some(rate) = &mut rate {
                                    *rate = RateEstimator::new(interval, Gains::default());
                                }
                                for feed in &mut feeds {
                                    let cap = retiming.source_caps.iter().find(|(id, _)| *id == feed.id);
                                    if let Some((_, cap)) = cap {
                                        feed.configured_max = cap.unwrap_or(usize::MAX);
                                        feed.max_records = feed.configured_max;
                                    }
                                }
                            }
                        }
                    }
                    let time_ms = source::now_millis();
                    let (inputs, read) = cut(&mut feeds, time_ms).await?;
                    let pushed_more = feeds.iter().any(|f| !f.buffer.is_empty());
                    let all_ended = feeds.iter().all(|f| f.ended);
                    let nothing = inputs.values().flatten().all(Batch::is_empty);
                    if self.input_ended && all_ended && nothing {
                        // Resumed after the input had already ended, and
                        // nothing new came: there is no batch to run.
                        return Ok(());
                    }
                    let info = BatchInfo {
                        id: self.summary.batches + 1,
                        time_ms,
                        end_of_input: all_ended && !pushed_more && !stopping,
                    };
                    if let Some(store) = &mut self.store {
                        store.record(&Intent {
                            batch: info.id,
                            time_ms,
                            end_of_input: info.end_of_input,
                            sources: read,
                        })?;
                    }
                    let records = inputs.values().flatten().map(Batch::len).sum::<usize>();
                    let started = tokio::time::Instant::now();
                    let progress = self.progress(&feeds);
                    // A new version on probation that fails the batch is
                    // rolled back and the batch run again on the old one.
                    let again = self
                        .reloader
                        .as_ref()
                        .is_some_and(Reloader::any_on_probation)
                        .then(|| inputs.clone());
                    match self.batch(inputs, info, progress.clone()).await {
                        Ok(()) => {}
                        Err(e) => match (e.downcast_ref::<OnProbation>(), again) {
                            (Some(OnProbation(failed)), Some(inputs)) => {
                                let reloader = self.reloader.as_mut().expect("on probation");
                                reloader.roll_back(&mut self.stages, failed, info.id);
                                self.batch(inputs, info, progress).await?;
                            }
                            _ => return Err(e),
                        },
                    }
                    if let Some(reloader) = &mut self.reloader {
                        reloader.batch_done(&mut self.stages, info.id);
                    }
                    committed(&mut feeds)?;
                    tracing::debug!(
                        pipeline = %self.plan.name,
                        batch = info.id,
                        scheduling_us = started.duration_since(scheduled).as_micros() as u64,
                        processing_us = started.elapsed().as_micros() as u64,
                        "batch timing"
                    );
                    if let Some(rate) = &mut rate {
                        let measured = BatchTimes {
                            time_ms,
                            records: records as u64,
                            processing: started.elapsed(),
                            scheduling: started.duration_since(scheduled),
                        };
                        if let Some(per_second) = rate.update(measured) {
                            throttle(&mut feeds, per_second, interval);
                        }
                    }
                    self.checkpoint_if_due(&feeds, info).await?;
                    if !pushed_more || !(all_ended || stopping) {
                        break;
                    }
                }
                if stopping || feeds.iter().all(|f| f.ended && f.buffer.is_empty()) {
                    return Ok(());
                }
            }
        }
        .await;

        let _ = stop_sources.send(true);
        for feed in &feeds {
            if let Input::Push {
                task: Some(task), ..
            } = &feed.input
            {
                task.abort();
            }
        }
        result?;
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        if self.store.is_some() && self.checkpointed < self.summary.batches {
            self.checkpoint(&feeds).await?;
        }
        tracing::info!(
            pipeline = %self.plan.name,
            batches = self.summary.batches,
            records_in = self.summary.records_in,
            records_out = self.summary.records_out,
            batches_skipped = self.summary.batches_skipped,
            records_late = self.summary.records_late,
            records_dead_lettered = self.summary.records_dead_lettered,
            "pipeline finished"
        );
        Ok(self.summary)
    }

    /// Resumes a checkpointed pipeline: loads its newest usable
    /// checkpoint (or writes a first, empty one) and replays the batches
    /// logged since, each from its recorded input.
    async fn recover(&mut self, feeds: &mut [Feed]) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let Some(loaded) = store.latest(&self.plan.name)? else {
            // Batch 0: nothing read, nothing kept.
            return self.checkpoint(feeds).await;
        };
        let header = &loaded.header;
        let ids: Vec<&str> = self.plan.stages.iter().map(|s| s.id.as_str()).collect();
        if header.stages != ids {
            bail!(
                "checkpoint {} holds stages [{}] but the manifest has [{}]; a changed pipeline cannot resume from it (start over with --fresh)",
                loaded.path.display(),
                header.stages.join(", "),
                ids.join(", ")
            );
        }
        let mut states = loaded.states();
        for runner in &mut self.stages {
            runner
                .restore(&mut states)
                .map_err(|why| anyhow!("checkpoint {}: {why}", loaded.path.display()))?;
        }
        for feed in feeds.iter_mut() {
            let Input::Pull(Some(source)) = &mut feed.input else {
                continue;
            };
            let position = header.sources.get(&feed.id).with_context(|| {
                format!(
                    "checkpoint {} has no position for source `{}`",
                    loaded.path.display(),
                    feed.id
                )
            })?;
            source.seek(position)?;
        }
        self.summary = header.summary.clone();
        self.checkpointed = header.batch;
        self.input_ended = header.input_ended;
        self.run = header.run;
        tracing::info!(
            pipeline = %self.plan.name,
            checkpoint = %loaded.path.display(),
            batch = header.batch,
            "resuming from checkpoint"
        );
        drop(loaded);

        let intents = store.intents_after(self.checkpointed)?;
        if let (Some(first), Some(last)) = (intents.first(), intents.last()) {
            tracing::info!(
                pipeline = %self.plan.name,
                "replaying batches {} to {} from the intent log",
                first.batch,
                last.batch
            );
        }
        for intent in intents {
            let inputs = replay(feeds, &intent).await?;
            let info = BatchInfo {
                id: intent.batch,
                time_ms: intent.time_ms,
                end_of_input: intent.end_of_input,
            };
            let progress = self.progress(feeds);
            self.batch(inputs, info, progress).await?;
            committed(feeds)?;
            self.checkpoint_if_due(feeds, info).await?;
        }
        Ok(())
    }

    /// Opens the sinks `new` adds or changes, before anything else of it
    /// is applied: a sink that cannot open leaves the pipeline as it is.
    fn open_new_sinks(&self, new: &PipelinePlan) -> Result<HashMap<String, Box<dyn Sink>>> {
        new.sinks
            .iter()
            .filter(|plan| {
                !self.plan.sinks.iter().any(|old| {
                    old.id == plan.id && old.input == plan.input && old.kind == plan.kind
                })
            })
            .map(|plan| Ok((plan.id.clone(), sink::open(plan)?)))
            .collect()
    }

    /// Runs `new` from the next batch on (a manifest edited while
    /// running), with `opened` its new sinks: stages whose shape is
    /// unchanged keep their runners, so their state; new stages start;
    /// removed sinks are flushed and closed. The batch interval stays as
    /// it is (a change of it comes as its own edit). A checkpoint is
    /// written at once, so a restart finds the stages it holds in the
    /// manifest.
    async fn replan(
        &mut self,
        mut new: PipelinePlan,
        mut opened: HashMap<String, Box<dyn Sink>>,
        feeds: &[Feed],
    ) -> Result<()> {
        new.interval = self.plan.interval;
        let mut runners: HashMap<String, (String, StageRunner)> = self
            .plan
            .stages
            .iter()
            .map(|s| (s.id.clone(), crate::reload::stage_shape(s)))
            .zip(std::mem::take(&mut self.stages))
            .map(|((id, shape), runner)| (id, (shape, runner)))
            .collect();
        self.stages = new
            .stages
            .iter()
            .map(|s| match runners.remove(&s.id) {
                Some((shape, runner)) if shape == crate::reload::stage_shape(s) => runner,
                _ => stage_runner(&new, s, &self.spill),
            })
            .collect();
        let mut sinks: HashMap<String, (crate::plan::SinkPlan, Box<dyn Sink>)> = self
            .plan
            .sinks
            .iter()
            .cloned()
            .zip(std::mem::take(&mut self.sinks))
            .map(|(plan, sink)| (plan.id.clone(), (plan, sink)))
            .collect();
        for plan in &new.sinks {
            let sink = match opened.remove(&plan.id) {
                Some(sink) => sink,
                None => sinks.remove(&plan.id).expect("an unchanged sink").1,
            };
            self.sinks.push(sink);
        }
        // Sinks replaced or removed: what they were given is written.
        for (id, (_, mut gone)) in sinks {
            if let Err(e) = gone.flush() {
                tracing::warn!(pipeline = %new.name, sink = %id, "closing the sink: {e:#}");
            }
        }
        self.readers = readers(&new);
        self.plan = new;
        if self.store.is_some() {
            self.checkpoint(feeds).await?;
        }
        Ok(())
    }

    /// Where the pull sources stand now, for the sinks.
    fn progress(&self, feeds: &[Feed]) -> Progress {
        Progress {
            run: self.run,
            sources: positions(feeds),
        }
    }

    /// Checkpoints after `batch` if it is time to.
    async fn checkpoint_if_due(&mut self, feeds: &[Feed], batch: BatchInfo) -> Result<()> {
        let Some(plan) = &self.plan.checkpoint else {
            return Ok(());
        };
        if batch.id >= self.checkpointed + plan.every || batch.end_of_input {
            self.checkpoint(feeds).await?;
        }
        Ok(())
    }

    /// Writes a checkpoint of the batch just committed.
    async fn checkpoint(&mut self, feeds: &[Feed]) -> Result<()> {
        let store = self.store.as_mut().expect("a checkpointed pipeline");
        let started = Instant::now();
        let header = Header {
            pipeline: self.plan.name.clone(),
            batch: self.summary.batches,
            sources: positions(feeds),
            stages: self.plan.stages.iter().map(|s| s.id.clone()).collect(),
            summary: self.summary.clone(),
            input_ended: self.input_ended,
            run: self.run,
        };
        let stages = &self.stages;
        let bytes = tokio::task::block_in_place(|| {
            store.write(&header, |out| stages.iter().try_for_each(|s| s.save(out)))
        })?;
        self.checkpointed = header.batch;
        tracing::debug!(
            pipeline = %self.plan.name,
            batch = header.batch,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }

    /// Runs one batch through the stages and into the sinks.
    /// `progress` holds where the pull sources stand after it.
    async fn batch(
        &mut self,
        mut outputs: HashMap<String, Vec<Batch>>,
        info: BatchInfo,
        progress: Progress,
    ) -> Result<()> {
        let before = (self.summary.clone(), self.input_ended);
        self.summary.batches = info.id;
        self.input_ended = info.end_of_input;
        let records_in: usize = outputs.values().flatten().map(Batch::len).sum();
        self.summary.records_in += records_in as u64;
        let started = Instant::now();

        let mut readers = self.readers.clone();
        let mut failed: Option<StageError> = None;
        let mut dead_lettered = 0u64;
        for (plan, runner) in self.plan.stages.iter().zip(&mut self.stages) {
            let inputs: Vec<Batch> = plan
                .inputs
                .iter()
                .flat_map(|input| take(&mut outputs, &mut readers, input))
                .collect();
            match runner.run(inputs, info).await {
                Ok(output) => {
                    let dead: usize = output.dead.iter().map(Batch::len).sum();
                    if dead > 0 {
                        tracing::warn!(pipeline = %self.plan.name, batch = info.id, stage = %plan.id, records = dead, "rejected records sent to `{DEAD_LETTERS}`");
                        dead_lettered += dead as u64;
                    }
                    outputs
                        .entry(DEAD_LETTERS.to_owned())
                        .or_default()
                        .extend(output.dead);
                    if plan.step.event_time().is_some() {
                        report_late(
                            &self.plan.name,
                            &self.readers,
                            &plan.id,
                            &output.late,
                            info.id,
                        );
                        outputs.insert(late_stream(&plan.id), output.late);
                    }
                    outputs.insert(plan.id.clone(), output.records);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(error) = failed {
            if self
                .reloader
                .as_ref()
                .is_some_and(|r| r.on_probation(&error.stage))
            {
                self.stages.iter_mut().for_each(StageRunner::discard);
                (self.summary, self.input_ended) = before;
                return Err(OnProbation(error).into());
            }
            match self.plan.on_error {
                OnError::Stop | OnError::DeadLetter => {
                    return Err(anyhow!("batch {}: {error}", info.id));
                }
                OnError::Skip => {
                    self.stages.iter_mut().for_each(StageRunner::discard);
                    self.summary.batches_skipped += 1;
                    self.summary.records_dropped += records_in as u64;
                    tracing::warn!(
                        pipeline = %self.plan.name,
                        batch = info.id,
                        dropped_records = records_in,
                        skipped_batches = self.summary.batches_skipped,
                        "batch skipped (on_error = \"skip\"): {error}"
                    );
                    return Ok(());
                }
            }
        }

        let deliveries: Vec<Vec<Batch>> = self
            .plan
            .sinks
            .iter()
            .map(|s| take(&mut outputs, &mut readers, &s.input))
            .collect();
        self.summary.records_out +=
            deliveries.iter().flatten().map(Batch::len).sum::<usize>() as u64;
        let mut sinks = std::mem::take(&mut self.sinks);
        let (sinks, written) = tokio::task::spawn_blocking(move || {
            let written = sinks
                .iter_mut()
                .zip(&deliveries)
                .try_for_each(|(sink, parts)| sink.write(info, parts, &progress));
            (sinks, written)
        })
        .await
        .context("a sink panicked")?;
        self.sinks = sinks;
        written.with_context(|| format!("batch {}", info.id))?;
        // The batch is out: now, and only now, its state changes count.
        for stage in &mut self.stages {
            stage
                .commit()
                .with_context(|| format!("batch {}", info.id))?;
        }
        self.summary.records_late = self.stages.iter().map(StageRunner::late_records).sum();
        self.summary.records_dead_lettered += dead_lettered;
        tracing::debug!(pipeline = %self.plan.name, batch = info.id, records_in, elapsed_ms = started.elapsed().as_millis() as u64, "batch done");
        Ok(())
    }
}

/// Reports records an event-time stage found too late for its windows.
fn report_late(
    pipeline: &str,
    readers: &HashMap<String, usize>,
    stage: &str,
    late: &[Batch],
    batch: u64,
) {
    let records: usize = late.iter().map(Batch::len).sum();
    if records == 0 {
        return;
    }
    let stream = late_stream(stage);
    let read = readers.contains_key(&stream);
    tracing::warn!(
        pipeline,
        batch,
        stage,
        records,
        "late records (older than the watermark minus allowed_lateness) {}",
        match read {
            true => format!("sent to `{stream}`"),
            false => format!("counted; nothing reads `{stream}`, so they go no further"),
        }
    );
}

/// The partitions of `input` for one reader: moved out for its last
/// reader, cloned for the others.
fn take(
    outputs: &mut HashMap<String, Vec<Batch>>,
    readers: &mut HashMap<String, usize>,
    input: &str,
) -> Vec<Batch> {
    let left = readers.get_mut(input).map(|n| {
        *n -= 1;
        *n
    });
    match left {
        Some(0) => outputs.remove(input).unwrap_or_default(),
        _ => outputs.get(input).cloned().unwrap_or_default(),
    }
}

/// Takes each source's next batch: what a pull source has now, what a
/// push source has sent; up to the batch limits. Says what each pull
/// source read.
async fn cut(
    feeds: &mut [Feed],
    time: i64,
) -> Result<(HashMap<String, Vec<Batch>>, BTreeMap<String, Vec<Segment>>)> {
    let mut inputs = HashMap::new();
    let mut read = BTreeMap::new();
    let mut bytes = 0usize;
    for feed in feeds.iter_mut() {
        let batch = match &mut feed.input {
            Input::Pull(slot) => {
                let mut source = slot.take().expect("a pull source is back after each read");
                let (max_records, max_bytes) = (
                    feed.max_records,
                    MAX_BATCH_BYTES.saturating_sub(bytes).max(1),
                );
                let (source, result) = tokio::task::spawn_blocking(move || {
                    let result = source.read(max_records, max_bytes, time);
                    (source, result)
                })
                .await
                .context("a source panicked")?;
                feed.ended = source.ended();
                *slot = Some(source);
                let (batch, segments) = result?;
                read.insert(feed.id.clone(), segments);
                batch
            }
            Input::Push { .. } => {
                let mut taken = 0;
                let mut batch = Batch::default();
                while taken < feed.buffer.len()
                    && (bytes + batch.byte_size() < MAX_BATCH_BYTES || taken == 0)
                    && batch.len() < feed.max_records
                {
                    batch.extend(&feed.buffer[taken]);
                    taken += 1;
                }
                feed.buffer.drain(..taken);
                batch
            }
        };
        bytes += batch.byte_size();
        inputs.insert(feed.id.clone(), vec![batch]);
    }
    Ok((inputs, read))
}

/// Caps what each pull source offers per batch at `per_second` records a
/// second (per partition, for sources with several), never above what the
/// manifest allows.
fn throttle(feeds: &mut [Feed], per_second: f64, interval: std::time::Duration) {
    for feed in feeds {
        if let Input::Pull(Some(source)) = &feed.input {
            let per_batch = per_second * interval.as_secs_f64() / source.partitions() as f64;
            let cap = (per_batch.ceil() as usize).max(1).min(feed.configured_max);
            if cap != feed.max_records {
                tracing::debug!(source = %feed.id, records_per_batch = cap, "backpressure: new rate");
            }
            feed.max_records = cap;
        }
    }
}

/// A runner for `stage` of `plan`.
fn stage_runner(plan: &PipelinePlan, stage: &StagePlan, spill: &Arc<SpillFile>) -> StageRunner {
    let mut runner = StageRunner::spilling(&plan.name, stage, spill.clone(), plan.state_memory);
    if plan.on_error == OnError::DeadLetter {
        runner.dead_letter_rejected_records();
    }
    runner
}

/// How many stages and sinks read each source or stage.
fn readers(plan: &PipelinePlan) -> HashMap<String, usize> {
    let mut readers = HashMap::new();
    for input in plan
        .stages
        .iter()
        .flat_map(|s| &s.inputs)
        .chain(plan.sinks.iter().map(|s| &s.input))
    {
        *readers.entry(input.clone()).or_insert(0) += 1;
    }
    readers
}

/// Each pull source's position.
fn positions(feeds: &[Feed]) -> BTreeMap<String, Position> {
    feeds
        .iter()
        .filter_map(|f| match &f.input {
            Input::Pull(Some(source)) => Some((f.id.clone(), source.position())),
            _ => None,
        })
        .collect()
}

/// A new id for a line of checkpoints: distinct from the ids of earlier
/// lines in the same folder, which is all it needs to be.
fn new_run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 40)
}

/// Tells the pull sources their last batch is written and committed.
fn committed(feeds: &mut [Feed]) -> Result<()> {
    for feed in feeds {
        if let Input::Pull(Some(source)) = &mut feed.input {
            source.committed()?;
        }
    }
    Ok(())
}

/// Each pull source's input for a logged batch, read again.
async fn replay(feeds: &mut [Feed], intent: &Intent) -> Result<HashMap<String, Vec<Batch>>> {
    let mut inputs = HashMap::new();
    for feed in feeds.iter_mut() {
        let Input::Pull(slot) = &mut feed.input else {
            continue;
        };
        let segments = intent.sources.get(&feed.id).cloned().unwrap_or_default();
        let mut source = slot.take().expect("a pull source is back after each read");
        let time = intent.time_ms;
        let (source, result) = tokio::task::spawn_blocking(move || {
            let result = source.replay(&segments, time);
            (source, result)
        })
        .await
        .context("a source panicked")?;
        *slot = Some(source);
        let batch = result.with_context(|| format!("replaying batch {}", intent.batch))?;
        inputs.insert(feed.id.clone(), vec![batch]);
    }
    Ok(inputs)
}

/// A source as the scheduler tracks it.
struct Feed {
    id: String,
    /// The most records one batch takes from it (per partition, for a
    /// source with several): the manifest's limit, lowered by backpressure.
    max_records: usize,
    /// The manifest's limit.
    configured_max: usize,
    input: Input,
    /// Push: chunks received but not yet batched.
    buffer: Vec<Batch>,
    ended: bool,
}

enum Input {
    /// Out of its slot only while it reads.
    Pull(Option<Box<dyn Pull>>),
    Push {
        chunks: mpsc::Receiver<Batch>,
        task: Option<JoinHandle<Result<()>>>,
    },
}

impl Feed {
    fn new(plan: &SourcePlan, started: Started) -> Self {
        let input = match started {
            Started::Pull(source) => Input::Pull(Some(source)),
            Started::Push(running) => Input::Push {
                chunks: running.chunks,
                task: Some(running.task),
            },
        };
        Feed {
            id: plan.id.clone(),
            max_records: plan.max_batch_records.unwrap_or(usize::MAX),
            configured_max: plan.max_batch_records.unwrap_or(usize::MAX),
            input,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// Push: receives what is waiting, without blocking, up to a batch's
    /// worth (beyond that the source waits: backpressure); notices the end.
    async fn poll(&mut self) -> Result<()> {
        while self.buffer.iter().map(Batch::byte_size).sum::<usize>() < MAX_BATCH_BYTES {
            let Input::Push { chunks, .. } = &mut self.input else {
                return Ok(());
            };
            match chunks.try_recv() {
                Ok(chunk) => self.buffer.push(chunk),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return self.end().await,
            }
        }
        Ok(())
    }

    /// Push: receives everything until the (stopping) source closes its
    /// channel.
    async fn receive_rest(&mut self) -> Result<()> {
        let Input::Push { chunks, .. } = &mut self.input else {
            return Ok(());
        };
        while let Some(chunk) = chunks.recv().await {
            self.buffer.push(chunk);
        }
        self.end().await
    }

    /// Push: marks the source ended; reports it if it failed.
    async fn end(&mut self) -> Result<()> {
        self.ended = true;
        let Input::Push { task, .. } = &mut self.input else {
            return Ok(());
        };
        let Some(task) = task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(())) => {
                tracing::info!(source = %self.id, "source ended");
                Ok(())
            }
            Ok(Err(e)) => Err(e.context(format!("source `{}` failed", self.id))),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(anyhow!("source `{}` panicked: {e}", self.id)),
        }
    }
}
