//! What one batch did, counted as it runs for the metrics: records from
//! each source, into and out of each stage, to each sink. Only a pipeline
//! with metrics counts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::StageTime;

use crate::plan::{SinkPlan, StagePlan, Stream};
use crate::record::Batch;
use crate::stage::StageOutput;

/// What one batch did, by source, stage and sink id.
#[derive(Debug, Default)]
pub(crate) struct BatchCounts {
    /// Records on each stream as it was made.
    pub(super) made: HashMap<Stream, u64>,
    /// Records each source gave it.
    pub(super) sources: Vec<(String, u64)>,
    /// What each stage was given and made.
    pub(super) stages: Vec<StageCount>,
    /// Records handed to each sink.
    pub(super) sinks: Vec<(String, u64)>,
    /// Each stage's time and records, for the overview's batch page.
    pub(super) times: Vec<StageTime>,
    /// Why the batch failed, if it did.
    pub(super) error: Option<String>,
    /// How long counting took, for the metrics' own cost.
    pub(super) took: Duration,
}

/// What one stage was given and made in a batch.
#[derive(Debug, Default)]
pub(super) struct StageCount {
    pub(super) stage: String,
    /// Records into it, and out of it.
    pub(super) into: u64,
    pub(super) out: u64,
    /// Records it rejected to dead letters, and found too late.
    pub(super) dead: u64,
    pub(super) late: u64,
}

/// How many records `parts` hold.
fn records(parts: &[Batch]) -> u64 {
    parts.iter().map(Batch::len).sum::<usize>() as u64
}

impl BatchCounts {
    /// A batch whose sources gave it `inputs`.
    pub(crate) fn read(inputs: &HashMap<Stream, Vec<Batch>>) -> BatchCounts {
        let began = Instant::now();
        let made: HashMap<Stream, u64> = (inputs.iter())
            .map(|(stream, parts)| (stream.clone(), records(parts)))
            .collect();
        let sources = (made.iter())
            .filter_map(|(stream, n)| match stream {
                Stream::Source(id) => Some((id.to_string(), *n)),
                _ => None,
            })
            .collect();
        BatchCounts {
            made,
            sources,
            took: began.elapsed(),
            ..BatchCounts::default()
        }
    }

    /// Stage `plan` made `output` from the streams it reads, in `took`
    /// (its fused chain's time, if it ran fused with stages `fused_with`).
    pub(crate) fn ran<O>(
        &mut self,
        plan: &StagePlan<O>,
        output: &StageOutput,
        took: Duration,
        fused_with: Vec<String>,
    ) {
        let began = Instant::now();
        let into = plan.inputs.iter().filter_map(|s| self.made.get(s)).sum();
        let made = output.made();
        let (out, dead, late) = (
            made.iter().sum(),
            records(&output.dead),
            records(&output.late),
        );
        self.times.push(StageTime {
            stage: plan.id.to_string(),
            ms: took.as_secs_f64() * 1000.0,
            fused_with,
            records_in: into,
            records_out: made,
        });
        self.stages.push(StageCount {
            stage: plan.id.to_string(),
            into,
            out,
            dead,
            late,
        });
        *self.made.entry(Stream::DeadLetters).or_default() += dead;
        self.made.insert(Stream::Stage(plan.id.clone()), out);
        self.made.insert(Stream::Late(plan.id.clone()), late);
        self.took += began.elapsed();
    }

    /// The batch failed: `error` says why.
    pub(crate) fn failed(&mut self, error: &impl std::fmt::Display) {
        self.error = Some(error.to_string());
    }

    /// The sinks `plans` were handed `deliveries`.
    pub(crate) fn delivered(&mut self, plans: &[SinkPlan], deliveries: &[Vec<Batch>]) {
        let began = Instant::now();
        self.sinks = (plans.iter().zip(deliveries))
            .map(|(sink, parts)| (sink.id.to_string(), records(parts)))
            .collect();
        self.took += began.elapsed();
    }
}
