//! Pipelines at a glance, as JSON (`GET /v1/overview`): what
//! `wasmstream top` shows, from a local run's metrics address or a server.
//! The same figures as the Prometheus metrics, plus the recent batches.

use serde::{Deserialize, Serialize};

use super::{PipelineMetrics, Scrape};

/// How many recent batches each pipeline keeps for the overview.
pub const RECENT_BATCHES: usize = 600;

/// What an overview is asked for: `GET /v1/overview?recent=N&pipeline=P`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ask {
    /// The recent batches to include per pipeline (default
    /// [`DEFAULT_RECENT`], at most [`RECENT_BATCHES`]).
    pub recent: Option<usize>,
    /// Only this pipeline (`tenant/name` on a server, as the overview
    /// names it for the admin, or its name).
    pub pipeline: Option<String>,
}

/// Recent batches an overview includes unless asked for another number.
pub const DEFAULT_RECENT: usize = 60;

/// One batch, as the overview shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    /// Its id.
    pub id: u64,
    /// Its time (when it was cut), ms since the Unix epoch.
    pub time_ms: i64,
    /// Records its sources gave it.
    pub records: u64,
    /// How long after its scheduled time it started.
    pub scheduling_ms: f64,
    /// How long it ran.
    pub processing_ms: f64,
    /// Whether it was written or skipped.
    pub status: BatchStatus,
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchStatus {
    /// Written.
    Ok,
    /// Failed, and dropped under `on_error = "skip"`.
    Skipped,
}

/// One stage, as the overview shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRow {
    /// The stage's id.
    pub stage: String,
    /// Records into it and out of it.
    pub records_in: u64,
    pub records_out: u64,
    /// Records it rejected to dead letters.
    pub dead_letters: u64,
    /// Its live operator's version and calls, for a Wasm stage.
    pub version: Option<String>,
    pub calls: u64,
    /// CPU its operator used, in seconds.
    pub cpu_seconds: f64,
    /// The most linear memory one instance held.
    pub memory_bytes: u64,
}

/// One pipeline at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Its tenant, on a server.
    pub tenant: Option<String>,
    /// Its name.
    pub pipeline: String,
    /// The batch interval.
    pub interval_ms: f64,
    /// Batches run, failed and skipped.
    pub batches: u64,
    pub batches_failed: u64,
    pub batches_skipped: u64,
    /// Records read from all sources, and handed to all sinks.
    pub records_in: u64,
    pub records_out: u64,
    /// Records read a second, over the recent batches.
    pub rate: f64,
    /// Its stages, in the manifest's order.
    pub stages: Vec<StageRow>,
    /// The recent batches, oldest first.
    pub recent: Vec<BatchRow>,
}

impl PipelineMetrics {
    /// Keeps `row`, dropping the oldest beyond [`RECENT_BATCHES`].
    pub(super) fn keep(&self, row: BatchRow) {
        let mut recent = self.recent.lock().expect("metrics poisoned");
        if recent.len() == RECENT_BATCHES {
            recent.pop_front();
        }
        recent.push_back(row);
    }

    /// This pipeline at a glance, with its last `recent` batches.
    pub fn overview(&self, recent: usize) -> Overview {
        let _whole = self.whole();
        let label = |name: &str| {
            (self.labels.iter())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        };
        let interval_ms = self.interval.get() * 1000.0;
        let kept = self.recent.lock().expect("metrics poisoned");
        let last = |n: usize| -> Vec<BatchRow> {
            kept.range(kept.len().saturating_sub(n)..)
                .cloned()
                .collect()
        };
        let rate = rate(&last(RATE_BATCHES), interval_ms);
        let recent = last(recent);
        drop(kept);
        let operators = self.operators.read().expect("metrics poisoned");
        let mut order = self.stage_order.clone();
        let known = self.stages.0.read().expect("metrics poisoned");
        order.extend(
            known
                .keys()
                .filter(|id| !self.stage_order.contains(id))
                .cloned(),
        );
        drop(known);
        let stages = (order.iter())
            .map(|id| {
                let counters = self.stages.get(id);
                let op = operators.get(id);
                let figures = op.map(|op| op.stats.figures()).unwrap_or_default();
                StageRow {
                    stage: id.clone(),
                    records_in: counters.records_in.get(),
                    records_out: counters.records_out.get(),
                    dead_letters: counters.dead_letters.get(),
                    version: op.map(|op| short(&op.plugin.digest())),
                    calls: figures.calls,
                    cpu_seconds: figures.cpu.as_secs_f64(),
                    memory_bytes: figures.memory_bytes,
                }
            })
            .collect();
        let sum = |parts: &super::Parts<prometheus_client::metrics::counter::Counter>| -> u64 {
            (parts.0.read().expect("metrics poisoned").values())
                .map(|c| c.get())
                .sum()
        };
        Overview {
            tenant: label("tenant"),
            pipeline: label("pipeline").unwrap_or_default(),
            interval_ms,
            batches: self.batches.get(),
            batches_failed: self.batches_failed.get(),
            batches_skipped: self.batches_skipped.get(),
            records_in: sum(&self.sources),
            records_out: sum(&self.sinks),
            rate,
            stages,
            recent,
        }
    }
}

/// Records a second over the last [`RATE_BATCHES`] of `recent`: their
/// records over the time from the first one's cut to one interval past the
/// last one's (each batch takes what came in an interval).
fn rate(recent: &[BatchRow], interval_ms: f64) -> f64 {
    let last = &recent[recent.len().saturating_sub(RATE_BATCHES)..];
    let (Some(first), Some(latest)) = (last.first(), last.last()) else {
        return 0.0;
    };
    let span_ms = (latest.time_ms - first.time_ms) as f64 + interval_ms;
    if span_ms <= 0.0 {
        return 0.0;
    }
    let records: u64 = last.iter().map(|b| b.records).sum();
    records as f64 * 1000.0 / span_ms
}

/// How many recent batches the rate is worked out over.
const RATE_BATCHES: usize = 10;

/// A version hash as the overview shows it.
fn short(digest: &str) -> String {
    digest[..digest.len().min(12)].to_owned()
}

impl Scrape {
    /// Each pipeline at a glance, as `ask` says.
    pub fn overview(&self, ask: &Ask) -> Vec<Overview> {
        let recent = ask.recent.unwrap_or(DEFAULT_RECENT).min(RECENT_BATCHES);
        (self.0.iter())
            .map(|m| m.overview(recent))
            .filter(|o| {
                ask.pipeline.as_deref().is_none_or(|p| {
                    p == o.pipeline
                        || o.tenant
                            .as_ref()
                            .is_some_and(|t| p == format!("{t}/{}", o.pipeline))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: u64, time_ms: i64, records: u64) -> BatchRow {
        BatchRow {
            id,
            time_ms,
            records,
            scheduling_ms: 0.0,
            processing_ms: 0.0,
            status: BatchStatus::Ok,
        }
    }

    #[test]
    fn the_rate_is_the_last_batches_records_over_the_intervals_they_took() {
        assert_eq!(rate(&[], 100.0), 0.0);
        // One batch of 50 records took what came in its 100 ms.
        assert_eq!(rate(&[batch(1, 1_000, 50)], 100.0), 500.0);
        // Twenty batches 100 ms apart: the last ten, 10 records each, in 1 s.
        let steady: Vec<BatchRow> = (0..20)
            .map(|i| batch(i, 1_000 + 100 * i as i64, 10))
            .collect();
        assert_eq!(rate(&steady, 100.0), 100.0);
    }
}
