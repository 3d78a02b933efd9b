//! One batch through the dataflow graph: each stage in order gets the
//! streams it reads (moved to its last reader, cloned for the others),
//! then each sink gets its stream; only once every sink has written does
//! any stage's state change count. Narrow stages (in a row: fused) run as
//! one task per partition through all of them ([`stage::run_chain`]).

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};

use super::{OnProbation, Scheduler};
use crate::metrics::BatchCounts;
use crate::plan::{Id, OnError, Stream};
use crate::record::Batch;
use crate::sink::{BatchInfo, Progress};
use crate::stage::{self, StageError, StageRunner};

impl Scheduler {
    /// Runs one batch through the stages and into the sinks.
    /// `progress` holds where the pull sources stand after it.
    pub(super) async fn batch(
        &mut self,
        mut outputs: HashMap<Stream, Vec<Batch>>,
        info: BatchInfo,
        progress: Progress,
    ) -> Result<()> {
        let before = (self.summary.clone(), self.input_ended);
        self.summary.batches = info.id;
        self.input_ended = info.end_of_input;
        let records_in: usize = outputs.values().flatten().map(Batch::len).sum();
        self.summary.records_in += records_in as u64;
        let started = Instant::now();
        let mut counts = self.metrics.as_ref().map(|_| BatchCounts::read(&outputs));

        let mut readers = self.readers.clone();
        let mut failed: Option<StageError> = None;
        let mut dead_lettered = 0u64;
        for chain in self.chains.clone() {
            let head = &self.plan.stages[chain.start];
            let inputs: Vec<Vec<Batch>> = head
                .inputs
                .iter()
                .map(|input| take(&mut outputs, &mut readers, input))
                .collect();
            let began = Instant::now();
            let ran = match head.step.narrow() {
                true => stage::run_chain(&mut self.stages[chain.clone()], inputs, info).await,
                false => self.stages[chain.start]
                    .run(inputs, info)
                    .await
                    .map(|output| vec![output]),
            };
            let ran = match ran {
                Ok(ran) => ran,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            let took = began.elapsed();
            let fused = &self.plan.stages[chain.clone()];
            for (plan, output) in fused.iter().zip(ran) {
                if let Some(counts) = &mut counts {
                    let others = (fused.iter())
                        .filter(|s| s.id != plan.id)
                        .map(|s| s.id.to_string())
                        .collect();
                    counts.ran(plan, &output, took, others);
                }
                let dead: usize = output.dead.iter().map(Batch::len).sum();
                if dead > 0 {
                    tracing::warn!(pipeline = %self.plan.name, batch = info.id, stage = %plan.id, records = dead, "rejected records sent to `{}`", Stream::DeadLetters);
                    dead_lettered += dead as u64;
                }
                outputs
                    .entry(Stream::DeadLetters)
                    .or_default()
                    .extend(output.dead);
                if plan.step.watermark_delay().is_some() {
                    report_late(
                        &self.plan.name,
                        &self.readers,
                        &plan.id,
                        &output.late,
                        info.id,
                    );
                    outputs.insert(Stream::Late(plan.id.clone()), output.late);
                }
                outputs.insert(Stream::Stage(plan.id.clone()), output.records);
            }
        }
        if let Some(error) = failed {
            if self
                .reloader
                .as_ref()
                .is_some_and(|r| r.on_probation(&error.stage))
            {
                if let Some(metrics) = &self.metrics {
                    metrics.batch_failed();
                }
                self.stages.iter_mut().for_each(StageRunner::discard);
                (self.summary, self.input_ended) = before;
                return Err(OnProbation(error).into());
            }
            match self.plan.on_error {
                OnError::Stop | OnError::DeadLetter => {
                    if let Some(metrics) = &self.metrics {
                        metrics.batch_failed();
                    }
                    return Err(anyhow!("batch {}: {error}", info.id));
                }
                OnError::Skip => {
                    if let Some(counts) = &mut counts {
                        counts.failed(&error);
                    }
                    self.counted = counts;
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
        if let Some(counts) = &mut counts {
            counts.delivered(&self.plan.sinks, &deliveries);
        }
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
        self.log_changes()
            .with_context(|| format!("batch {}", info.id))?;
        self.summary.records_late = self.stages.iter().map(StageRunner::late_records).sum();
        self.summary.records_dead_lettered += dead_lettered;
        self.counted = counts;
        tracing::debug!(pipeline = %self.plan.name, batch = info.id, records_in, elapsed_ms = started.elapsed().as_millis() as u64, "batch done");
        Ok(())
    }
}

/// Reports records an event-time stage found too late for its windows.
fn report_late(
    pipeline: &str,
    readers: &HashMap<Stream, usize>,
    stage: &Id,
    late: &[Batch],
    batch: u64,
) {
    let records: usize = late.iter().map(Batch::len).sum();
    if records == 0 {
        return;
    }
    let stream = Stream::Late(stage.clone());
    let read = readers.contains_key(&stream);
    tracing::warn!(
        pipeline,
        batch,
        %stage,
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
    outputs: &mut HashMap<Stream, Vec<Batch>>,
    readers: &mut HashMap<Stream, usize>,
    input: &Stream,
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
