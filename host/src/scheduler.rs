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

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::plan::{OnError, PipelinePlan};
use crate::record::Batch;
use crate::sink::{self, BatchInfo, Sink};
use crate::source::{self, RunningSource};
use crate::stage::{StageError, StageRunner};

/// The most bytes one batch takes from the sources; the rest waits for the
/// next batch (and the bounded source channels push back meanwhile).
const MAX_BATCH_BYTES: usize = 256 << 20;

/// What a pipeline did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

/// Runs `plan` until its sources end or `stop` becomes true, then finishes
/// the last batch and flushes the sinks.
pub async fn run(plan: PipelinePlan, stop: watch::Receiver<bool>) -> Result<Summary> {
    let name = plan.name.clone();
    Scheduler::new(plan)?
        .run(stop)
        .await
        .with_context(|| format!("pipeline `{name}`"))
}

struct Scheduler {
    plan: PipelinePlan,
    stages: Vec<StageRunner>,
    sinks: Vec<Box<dyn Sink>>,
    /// How many stages and sinks read each source or stage.
    readers: HashMap<String, usize>,
    summary: Summary,
}

impl Scheduler {
    fn new(plan: PipelinePlan) -> Result<Self> {
        let sinks = plan
            .sinks
            .iter()
            .map(sink::open)
            .collect::<Result<Vec<_>>>()?;
        let stages = plan
            .stages
            .iter()
            .map(|s| StageRunner::new(&plan.name, s))
            .collect();
        let mut readers = HashMap::new();
        for input in plan
            .stages
            .iter()
            .flat_map(|s| &s.inputs)
            .chain(plan.sinks.iter().map(|s| &s.input))
        {
            *readers.entry(input.clone()).or_insert(0) += 1;
        }
        Ok(Scheduler {
            plan,
            stages,
            sinks,
            readers,
            summary: Summary::default(),
        })
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Summary> {
        let (stop_sources, sources_stop) = watch::channel(false);
        let mut feeds: Vec<Feed> = self
            .plan
            .sources
            .iter()
            .map(|s| Feed::new(source::spawn(s, sources_stop.clone())))
            .collect();
        let interval = self.plan.interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);

        let result: Result<()> = async {
            loop {
                let stopping = tokio::select! {
                    _ = ticker.tick() => false,
                    _ = stop.wait_for(|stop| *stop) => true,
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
                let all_ended = feeds.iter().all(|f| f.ended);
                // Normally one batch per tick; at the end, as many as it takes
                // to hand over everything that was read.
                loop {
                    let inputs = cut(&mut feeds);
                    self.batch(inputs).await?;
                    if !all_ended || feeds.iter().all(|f| f.buffer.is_empty()) {
                        break;
                    }
                }
                if all_ended {
                    return Ok(());
                }
            }
        }
        .await;

        let _ = stop_sources.send(true);
        for feed in &feeds {
            if let Some(task) = &feed.task {
                task.abort();
            }
        }
        result?;
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        tracing::info!(
            pipeline = %self.plan.name,
            batches = self.summary.batches,
            records_in = self.summary.records_in,
            records_out = self.summary.records_out,
            batches_skipped = self.summary.batches_skipped,
            "pipeline finished"
        );
        Ok(self.summary)
    }

    /// Runs one batch through the stages and into the sinks.
    async fn batch(&mut self, mut outputs: HashMap<String, Vec<Batch>>) -> Result<()> {
        self.summary.batches += 1;
        let info = BatchInfo {
            id: self.summary.batches,
            time_ms: source::now_millis(),
        };
        let records_in: usize = outputs.values().flatten().map(Batch::len).sum();
        self.summary.records_in += records_in as u64;
        let started = Instant::now();

        let mut readers = self.readers.clone();
        let mut failed: Option<StageError> = None;
        for (plan, runner) in self.plan.stages.iter().zip(&mut self.stages) {
            let inputs: Vec<Batch> = plan
                .inputs
                .iter()
                .flat_map(|input| take(&mut outputs, &mut readers, input))
                .collect();
            match runner.run(inputs, info.time_ms).await {
                Ok(output) => {
                    outputs.insert(plan.id.clone(), output);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(error) = failed {
            match self.plan.on_error {
                OnError::Stop => return Err(anyhow!("batch {}: {error}", info.id)),
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
                .try_for_each(|(sink, parts)| sink.write(info, parts));
            (sinks, written)
        })
        .await
        .context("a sink panicked")?;
        self.sinks = sinks;
        written.with_context(|| format!("batch {}", info.id))?;
        // The batch is out: now, and only now, its state changes count.
        self.stages.iter_mut().for_each(StageRunner::commit);
        tracing::debug!(pipeline = %self.plan.name, batch = info.id, records_in, elapsed_ms = started.elapsed().as_millis() as u64, "batch done");
        Ok(())
    }
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

/// Takes what the sources have read, up to the batch size cap.
fn cut(feeds: &mut [Feed]) -> HashMap<String, Vec<Batch>> {
    let mut inputs = HashMap::new();
    let mut bytes = 0usize;
    for feed in feeds.iter_mut() {
        let mut taken = 0;
        while taken < feed.buffer.len() && (bytes < MAX_BATCH_BYTES || taken == 0) {
            bytes += feed.buffer[taken].byte_size();
            taken += 1;
        }
        inputs.insert(feed.id.clone(), feed.buffer.drain(..taken).collect());
    }
    inputs
}

/// A source as the scheduler tracks it: its channel, what has been
/// received but not yet batched, and whether it has ended.
struct Feed {
    id: String,
    chunks: mpsc::Receiver<Batch>,
    task: Option<JoinHandle<Result<()>>>,
    buffer: Vec<Batch>,
    ended: bool,
}

impl Feed {
    fn new(source: RunningSource) -> Self {
        Feed {
            id: source.id,
            chunks: source.chunks,
            task: Some(source.task),
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// Receives what is waiting, without blocking, up to a batch's worth
    /// (beyond that the source waits: backpressure); notices the end.
    async fn poll(&mut self) -> Result<()> {
        while self.buffer.iter().map(Batch::byte_size).sum::<usize>() < MAX_BATCH_BYTES {
            match self.chunks.try_recv() {
                Ok(chunk) => self.buffer.push(chunk),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return self.end().await,
            }
        }
        Ok(())
    }

    /// Receives everything until the (stopping) source closes its channel.
    async fn receive_rest(&mut self) -> Result<()> {
        while let Some(chunk) = self.chunks.recv().await {
            self.buffer.push(chunk);
        }
        self.end().await
    }

    /// Marks the source ended; reports it if it failed.
    async fn end(&mut self) -> Result<()> {
        self.ended = true;
        let Some(task) = self.task.take() else {
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
