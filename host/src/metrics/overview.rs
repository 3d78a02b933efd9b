//! Pipelines at a glance, as JSON (`GET /v1/overview`): what
//! `wasmstream top` shows, from a local run's metrics address or a server.
//! The same figures as the Prometheus metrics, plus the recent batches.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::position::Segment;

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
    /// Why it failed, for a skipped batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What each source gave it, and from where.
    #[serde(default)]
    pub sources: Vec<SourceRead>,
    /// Each stage's part in it, in the order they ran.
    #[serde(default)]
    pub stages: Vec<StageTime>,
}

/// The batch running now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveBatch {
    /// Its id.
    pub id: u64,
    /// Its time (when it was cut), ms since the Unix epoch.
    pub time_ms: i64,
    /// When it started running, ms since the Unix epoch.
    pub started_ms: i64,
}

/// What one source gave a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRead {
    /// The source's id.
    pub source: String,
    /// Its records.
    pub records: u64,
    /// Where they came from: each Kafka partition's offsets, each file's
    /// bytes, or the generated records' numbers (`partition 0: 100..125`).
    pub ranges: Vec<String>,
}

impl SourceRead {
    /// What source `source` gave a batch: `records`, read from `segments`.
    pub(crate) fn new(source: &str, records: u64, segments: &[Segment]) -> SourceRead {
        let ranges = (segments.iter())
            .map(|segment| match segment {
                Segment::Offsets {
                    partition,
                    start,
                    end,
                } => format!("partition {partition}: {start}..{end}"),
                Segment::File { file, start, end } => format!("{file}: bytes {start}..{end}"),
                Segment::Seq { start, end } => format!("records {start}..{end}"),
            })
            .collect();
        SourceRead {
            source: source.to_owned(),
            records,
            ranges,
        }
    }
}

/// One stage's part in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage's id.
    pub stage: String,
    /// How long it ran (wall time). Stages fused into one task per
    /// partition ([`Self::fused_with`]) share their chain's time.
    pub ms: f64,
    /// The other stages of its fused chain, if it ran in one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fused_with: Vec<String>,
    /// Records into it.
    pub records_in: u64,
    /// Records out of it, per partition.
    pub records_out: Vec<u64>,
}

/// A hot-reload event, as the timelines mark it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// When, in ms since the Unix epoch.
    pub time_ms: i64,
    /// What happened: `reloaded`, `refused`, `rolled-back`,
    /// `shadow-differed`, ...
    pub what: String,
    /// The stage, if it concerns one.
    pub stage: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// A checkpoint written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRow {
    /// The batch it holds.
    pub batch: u64,
    /// When it was written, in ms since the Unix epoch.
    pub time_ms: i64,
    /// How long writing it took.
    pub took_ms: f64,
    /// Its size.
    pub bytes: u64,
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
    /// How busy it keeps the pipeline: its time in the recent batches over
    /// the batch intervals they had (1.0: the stage alone takes each whole
    /// interval).
    pub busy: f64,
    /// Its watermark, for an event-time stage that has seen an event (ms
    /// since the Unix epoch).
    pub watermark_ms: Option<i64>,
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
    /// Whether its recent batches took longer than the interval: it falls
    /// behind its input, and the busiest stage holds the rest back.
    pub falling_behind: bool,
    /// Its stages, in the manifest's order.
    pub stages: Vec<StageRow>,
    /// The batch running now, if one is.
    pub active: Option<ActiveBatch>,
    /// The recent batches, oldest first.
    pub recent: Vec<BatchRow>,
    /// Its recent hot-reload events, oldest first.
    pub events: Vec<EventRow>,
    /// Its recent checkpoints, oldest first.
    pub checkpoints: Vec<CheckpointRow>,
}

/// How many recent events and checkpoints each pipeline keeps.
pub const RECENT_EVENTS: usize = 100;

/// Keeps `row` at the end of `kept`, dropping the oldest beyond `most`.
pub(super) fn keep<T>(kept: &Mutex<VecDeque<T>>, row: T, most: usize) {
    let mut kept = kept.lock().expect("metrics poisoned");
    if kept.len() == most {
        kept.pop_front();
    }
    kept.push_back(row);
}

impl PipelineMetrics {
    /// Whether `name` names it: its name, or `tenant/name` on a server.
    fn is_named(&self, name: &str) -> bool {
        let label = |key: &str| {
            (self.labels.iter())
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str())
        };
        let pipeline = label("pipeline").unwrap_or_default();
        name == pipeline || label("tenant").is_some_and(|t| name == format!("{t}/{pipeline}"))
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
        let latest = last(RATE_BATCHES);
        let rate = rate(&latest, interval_ms);
        let recent = last(recent);
        drop(kept);
        let busy = |stage: &str| busy(&latest, stage, interval_ms);
        let falling_behind = !latest.is_empty()
            && latest.iter().map(|b| b.processing_ms).sum::<f64>()
                > interval_ms * latest.len() as f64;
        let watermarks = self.watermarks.0.read().expect("metrics poisoned");
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
                    busy: busy(id),
                    watermark_ms: (watermarks.get(id)).map(|w| (w.get() * 1000.0).round() as i64),
                }
            })
            .collect();
        drop(watermarks);
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
            falling_behind,
            stages,
            active: self.active.lock().expect("metrics poisoned").clone(),
            recent,
            events: copy(&self.events),
            checkpoints: copy(&self.recent_checkpoints),
        }
    }
}

/// What `kept` holds now, oldest first.
fn copy<T: Clone>(kept: &Mutex<VecDeque<T>>) -> Vec<T> {
    kept.lock()
        .expect("metrics poisoned")
        .iter()
        .cloned()
        .collect()
}

/// How busy `stage` kept the batches `recent`: its time in them over the
/// intervals they had.
fn busy(recent: &[BatchRow], stage: &str, interval_ms: f64) -> f64 {
    if recent.is_empty() || interval_ms <= 0.0 {
        return 0.0;
    }
    let ms: f64 = (recent.iter())
        .flat_map(|b| b.stages.iter().filter(|s| s.stage == stage))
        .map(|s| s.ms)
        .sum();
    ms / (interval_ms * recent.len() as f64)
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
            .filter(|m| ask.pipeline.as_deref().is_none_or(|p| m.is_named(p)))
            .map(|m| m.overview(recent))
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
            error: None,
            sources: Vec::new(),
            stages: Vec::new(),
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

    #[test]
    fn a_stage_is_as_busy_as_its_share_of_the_intervals() {
        let mut recent: Vec<BatchRow> = (0..4).map(|i| batch(i, 100 * i as i64, 10)).collect();
        for (b, ms) in recent.iter_mut().zip([50.0, 30.0, 10.0, 10.0]) {
            b.stages.push(StageTime {
                stage: "slow".into(),
                ms,
                fused_with: Vec::new(),
                records_in: 10,
                records_out: vec![10],
            });
        }
        // 100 ms of 400 ms of intervals.
        assert_eq!(busy(&recent, "slow", 100.0), 0.25);
        assert_eq!(busy(&recent, "other", 100.0), 0.0);
        assert_eq!(busy(&[], "slow", 100.0), 0.0);
    }

    #[test]
    fn a_sources_ranges_read_as_its_kind_says() {
        let read = SourceRead::new(
            "in",
            30,
            &[
                Segment::Offsets {
                    partition: 0,
                    start: 100,
                    end: 125,
                },
                Segment::File {
                    file: "a.log".into(),
                    start: 0,
                    end: 4096,
                },
                Segment::Seq { start: 7, end: 12 },
            ],
        );
        assert_eq!(
            read.ranges,
            [
                "partition 0: 100..125",
                "a.log: bytes 0..4096",
                "records 7..12"
            ]
        );
    }
}
