//! Prometheus metrics: what running pipelines do, for a scraper.
//!
//! Each pipeline has its own [`PipelineMetrics`], which the scheduler
//! updates as each batch ends (counters only once the batch is written).
//! A scrape ([`Scrape`]) is the pipelines its caller may see: all of them
//! for `wasmstream run --metrics`, a tenant's own on a server (the API's
//! token rules). It writes each metric once, with a series per pipeline
//! (and per source, stage or sink), labelled `tenant` (on a server),
//! `pipeline`, and `source`, `stage` or `sink`. [`endpoint`] serves
//! scrapes over HTTP, with the overview (JSON) and the [`dashboard`].
//!
//! Names follow Prometheus' conventions: `wasmstream_` first, base units
//! (seconds, bytes), `_total` on counters.

mod counts;
pub mod dashboard;
pub mod endpoint;
mod overview;
mod scrape;

pub(crate) use counts::BatchCounts;
pub use overview::{
    ActiveBatch, Ask, BatchRow, BatchStatus, CheckpointRow, EventRow, Overview, SourceRead,
    StageRow, StageTime,
};
pub use scrape::Scrape;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::operator::WasmOperator;
use crate::plan::{PipelinePlan, Stream};
use crate::position::Segment;
use crate::record::Batch;
use crate::reload::events::Event;
use crate::source::PartProgress;
use crate::stage::StageRunner;

/// Labels of a series: `(name, value)`.
type Labels = Vec<(&'static str, String)>;

/// One pipeline's metrics.
#[derive(Debug)]
pub struct PipelineMetrics {
    /// `tenant` (on a server) and `pipeline`.
    labels: Labels,
    /// The stages in the manifest's order (for the overview).
    stage_order: Vec<String>,
    /// The recent batches (for the overview), oldest first.
    recent: Mutex<VecDeque<BatchRow>>,
    /// A batch's figures change together: its end holds this to write, a
    /// scrape or an overview to read, so neither sees half a batch (its
    /// records at the sink but not the batch itself, say).
    whole: RwLock<()>,
    /// The batch running now, if one is (for the overview).
    active: Mutex<Option<ActiveBatch>>,
    /// The recent hot-reload events and checkpoints (for the overview).
    events: Mutex<VecDeque<EventRow>>,
    recent_checkpoints: Mutex<VecDeque<CheckpointRow>>,
    sources: Parts<Counter>,
    stages: Parts<StageCounters>,
    sinks: Parts<Counter>,
    batches: Counter,
    batches_failed: Counter,
    batches_skipped: Counter,
    records_dropped: Counter,
    processing: Histogram,
    scheduling_delay: Histogram,
    total_delay: Histogram,
    interval: Gauge<f64, AtomicU64>,
    /// Seconds spent keeping these metrics, for their cost.
    keeping: Counter<f64, AtomicU64>,
    checkpoints: Histogram,
    checkpoint_bytes: Gauge,
    /// Each Wasm stage's live operator, whose calls it counts.
    operators: RwLock<BTreeMap<String, Arc<WasmOperator>>>,
    /// Hot reload's events by stage (empty: the whole pipeline) and kind.
    reload_events: Parts<Counter>,
    /// Records each stage's shadow version was compared on, and differed.
    shadow_compared: Parts<Counter>,
    shadow_differing: Parts<Counter>,
    /// Each event-time stage's watermark, in seconds since the epoch.
    watermarks: Parts<Gauge<f64, AtomicU64>>,
    /// Each update-state stage's keys, bytes in memory, keys spilled.
    state_keys: Parts<Gauge>,
    state_bytes: Parts<Gauge>,
    state_spilled: Parts<Gauge>,
    /// Each source part's next offset and lag, keyed `source\0part`.
    offsets: Parts<Gauge>,
    lags: Parts<Gauge>,
}

/// Something counted per source, stage or sink, by id; a new id (a stage a
/// manifest edit added) gets its own as it comes.
#[derive(Debug, Default)]
struct Parts<T>(RwLock<BTreeMap<String, T>>);

impl<T: Default + Clone> Parts<T> {
    /// Calls `f` on `id`'s part (made at zero if new), without a copy of
    /// the handle: what each batch's counting does, for every part.
    fn with(&self, id: &str, f: impl FnOnce(&T)) {
        if let Some(part) = self.0.read().expect("metrics poisoned").get(id) {
            return f(part);
        }
        let mut parts = self.0.write().expect("metrics poisoned");
        f(parts.entry(id.to_owned()).or_default())
    }

    fn get(&self, id: &str) -> T {
        if let Some(part) = self.0.read().expect("metrics poisoned").get(id) {
            return part.clone();
        }
        let mut parts = self.0.write().expect("metrics poisoned");
        parts.entry(id.to_owned()).or_default().clone()
    }
}

/// A stage's counters (each a shared handle).
#[derive(Debug, Default, Clone)]
struct StageCounters {
    records_in: Counter,
    records_out: Counter,
    dead_letters: Counter,
    /// Event-time stages only.
    late: Option<Counter>,
}

/// Batch times, in buckets from 1 ms doubling to about 65 s.
fn time_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl PipelineMetrics {
    /// The metrics of pipeline `plan` (of `tenant`, on a server), each
    /// source, stage and sink at zero.
    pub fn new(plan: &PipelinePlan, tenant: Option<&str>) -> PipelineMetrics {
        let mut metrics = PipelineMetrics::named(&plan.name, tenant);
        metrics.stage_order = plan.stages.iter().map(|s| s.id.to_string()).collect();
        for source in &plan.sources {
            metrics.sources.get(source.id.as_str());
        }
        for stage in &plan.stages {
            let counters = StageCounters {
                late: stage.step.watermark_delay().map(|_| Counter::default()),
                ..StageCounters::default()
            };
            let mut stages = metrics.stages.0.write().expect("metrics poisoned");
            stages.insert(stage.id.to_string(), counters);
        }
        for sink in &plan.sinks {
            metrics.sinks.get(sink.id.as_str());
        }
        metrics.interval.set(plan.interval.as_secs_f64());
        metrics
    }

    /// The metrics of pipeline `name` (of `tenant`), with no parts yet.
    fn named(name: &str, tenant: Option<&str>) -> PipelineMetrics {
        let mut labels = Labels::new();
        if let Some(tenant) = tenant {
            labels.push(("tenant", tenant.to_owned()));
        }
        labels.push(("pipeline", name.to_owned()));
        PipelineMetrics {
            labels,
            stage_order: Vec::new(),
            recent: Mutex::default(),
            whole: RwLock::default(),
            active: Mutex::default(),
            events: Mutex::default(),
            recent_checkpoints: Mutex::default(),
            sources: Parts::default(),
            stages: Parts::default(),
            sinks: Parts::default(),
            batches: Counter::default(),
            batches_failed: Counter::default(),
            batches_skipped: Counter::default(),
            records_dropped: Counter::default(),
            processing: time_buckets(),
            scheduling_delay: time_buckets(),
            total_delay: time_buckets(),
            interval: Gauge::default(),
            keeping: Counter::default(),
            checkpoints: time_buckets(),
            checkpoint_bytes: Gauge::default(),
            operators: RwLock::default(),
            reload_events: Parts::default(),
            shadow_compared: Parts::default(),
            shadow_differing: Parts::default(),
            watermarks: Parts::default(),
            state_keys: Parts::default(),
            state_bytes: Parts::default(),
            state_spilled: Parts::default(),
            offsets: Parts::default(),
            lags: Parts::default(),
        }
    }

    /// Where `source`'s parts have got after a batch.
    pub(crate) fn source_progress(&self, source: &str, parts: &[PartProgress]) {
        for part in parts {
            let key = format!("{source}\0{}", part.part);
            self.offsets.get(&key).set(part.next);
            if let Some(lag) = part.lag {
                self.lags.get(&key).set(lag);
            }
        }
    }

    /// After a batch: what each stage keeps, its watermark (for an
    /// event-time stage, once it has seen an event) and its per-key state
    /// (for an update-state stage).
    pub(crate) fn stages_kept(&self, stages: &mut [StageRunner]) {
        for stage in stages {
            if let Some(watermark) = stage.watermark() {
                self.watermarks
                    .get(stage.id())
                    .set(watermark as f64 / 1000.0);
            }
            if let Some(size) = stage.state_size() {
                self.state_keys.get(stage.id()).set(size.keys as i64);
                self.state_bytes
                    .get(stage.id())
                    .set(size.bytes_in_memory as i64);
                self.state_spilled
                    .get(stage.id())
                    .set(size.keys_spilled as i64);
            }
        }
    }

    /// Hot reload recorded an event `what` about `stage` (or the whole
    /// pipeline).
    pub(crate) fn reload_event(&self, event: &Event) {
        let what = event.what.name();
        let key = format!("{}\0{what}", event.stage.as_deref().unwrap_or_default());
        self.reload_events.get(&key).inc();
        let row = EventRow {
            time_ms: event.time_ms,
            what: what.to_owned(),
            stage: event.stage.clone(),
            reason: event.reason.clone(),
        };
        overview::keep(&self.events, row, overview::RECENT_EVENTS);
    }

    /// `stage`'s shadow was given `compared` records, and its output
    /// differed from the live version's on `differing` of them.
    /// Differences are marked on the timelines too.
    pub(crate) fn shadow_compared(&self, stage: &str, compared: usize, differing: usize) {
        self.shadow_compared.get(stage).inc_by(compared as u64);
        self.shadow_differing.get(stage).inc_by(differing as u64);
        if differing > 0 {
            let row = EventRow {
                time_ms: crate::source::now_millis(),
                what: "shadow-differed".to_owned(),
                stage: Some(stage.to_owned()),
                reason: format!(
                    "the shadow's output differed on {differing} of {compared} records"
                ),
            };
            overview::keep(&self.events, row, overview::RECENT_EVENTS);
        }
    }

    /// The operators running each Wasm stage now (after a reload, the new
    /// version's, counted from zero under its own `version` label).
    pub(crate) fn operators<'a>(&self, live: impl Iterator<Item = (&'a str, Arc<WasmOperator>)>) {
        for (stage, op) in live {
            let known = self.operators.read().expect("metrics poisoned");
            if known.get(stage).is_some_and(|k| Arc::ptr_eq(k, &op)) {
                continue;
            }
            drop(known);
            let mut operators = self.operators.write().expect("metrics poisoned");
            operators.insert(stage.to_owned(), op);
        }
    }

    /// A batch was written: what it did.
    /// Batch `id`, cut at `time_ms`, starts running on `inputs`, which
    /// the sources read from `read`: what each source gave it, for its row.
    pub(crate) fn batch_started(
        &self,
        id: u64,
        time_ms: i64,
        inputs: &HashMap<Stream, Vec<Batch>>,
        read: &BTreeMap<String, Vec<Segment>>,
    ) -> Vec<SourceRead> {
        let began = Instant::now();
        *self.active.lock().expect("metrics poisoned") = Some(ActiveBatch {
            id,
            time_ms,
            started_ms: crate::source::now_millis(),
        });
        let mut sources: Vec<SourceRead> = (inputs.iter())
            .filter_map(|(stream, parts)| {
                let Stream::Source(id) = stream else {
                    return None;
                };
                let records = parts.iter().map(Batch::len).sum::<usize>() as u64;
                let segments = read.get(id.as_str()).map_or(&[][..], Vec::as_slice);
                Some(SourceRead::new(id.as_str(), records, segments))
            })
            .collect();
        sources.sort_by(|a, b| a.source.cmp(&b.source));
        self.kept_for(began.elapsed());
        sources
    }

    /// A batch ended, written or skipped as `row` says, `scheduling` after
    /// its time, having run for `processing`; `counts` are what it read,
    /// ran and wrote, and `kept` records where the stages and sources now
    /// stand. Everything it changes changes at once: a scrape sees the
    /// batch's counts together with the watermarks and state they led to.
    pub(crate) fn batch_ended(
        &self,
        counts: Option<BatchCounts>,
        scheduling: Duration,
        processing: Duration,
        mut row: BatchRow,
        kept: impl FnOnce(&Self),
    ) {
        let began = Instant::now();
        let _whole = self.whole.write().expect("metrics poisoned");
        match (row.status, &counts) {
            (BatchStatus::Ok, Some(counts)) => self.written(counts),
            (BatchStatus::Ok, None) => {}
            (BatchStatus::Skipped, counts) => self.skipped(counts.as_ref()),
        }
        let mut took = Duration::ZERO;
        if let Some(counts) = counts {
            took = counts.took;
            row.stages = counts.times;
            row.error = counts.error;
        }
        *self.active.lock().expect("metrics poisoned") = None;
        overview::keep(&self.recent, row, overview::RECENT_BATCHES);
        self.batches.inc();
        self.processing.observe(processing.as_secs_f64());
        self.scheduling_delay.observe(scheduling.as_secs_f64());
        self.total_delay
            .observe((scheduling + processing).as_secs_f64());
        kept(self);
        self.kept_for(took + began.elapsed());
    }

    /// Keeping these metrics took `took` more.
    pub(crate) fn kept_for(&self, took: Duration) {
        self.keeping.inc_by(took.as_secs_f64());
    }

    /// A batch was written: what its sources, stages and sinks counted.
    fn written(&self, counts: &BatchCounts) {
        for (source, n) in &counts.sources {
            self.sources.with(source, |c| {
                c.inc_by(*n);
            });
        }
        for count in &counts.stages {
            self.stages.with(&count.stage, |s| {
                s.records_in.inc_by(count.into);
                s.records_out.inc_by(count.out);
                s.dead_letters.inc_by(count.dead);
                if let Some(counter) = &s.late {
                    counter.inc_by(count.late);
                }
            });
        }
        for (sink, n) in &counts.sinks {
            self.sinks.with(sink, |c| {
                c.inc_by(*n);
            });
        }
    }

    /// A batch failed and was skipped, with what its sources gave it.
    fn skipped(&self, counts: Option<&BatchCounts>) {
        self.batches_failed.inc();
        self.batches_skipped.inc();
        for (source, n) in counts.map_or(&[][..], |c| &c.sources) {
            self.sources.get(source).inc_by(*n);
            self.records_dropped.inc_by(*n);
        }
    }

    /// A batch failed (and stopped the pipeline, or is to be run again).
    pub(crate) fn batch_failed(&self) {
        self.batches_failed.inc();
    }

    /// Holds the batch figures still while they are read.
    pub(super) fn whole(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.whole.read().expect("metrics poisoned")
    }

    /// The batch interval became `interval`.
    pub(crate) fn retimed(&self, interval: Duration) {
        self.interval.set(interval.as_secs_f64());
    }

    /// A checkpoint of `bytes` bytes took `took` to write.
    pub(crate) fn checkpointed(&self, batch: u64, took: Duration, bytes: u64) {
        self.checkpoints.observe(took.as_secs_f64());
        self.checkpoint_bytes.set(bytes as i64);
        let row = CheckpointRow {
            batch,
            time_ms: crate::source::now_millis(),
            took_ms: took.as_secs_f64() * 1000.0,
            bytes,
        };
        overview::keep(&self.recent_checkpoints, row, overview::RECENT_EVENTS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(scrape: Scrape) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn each_metric_is_written_once_with_a_series_per_pipeline() {
        let a = Arc::new(PipelineMetrics::named("a", Some("acme")));
        let b = Arc::new(PipelineMetrics::named("b", Some("zeta")));
        let counts = |n| BatchCounts {
            sources: vec![("in".into(), n)],
            stages: vec![counts::StageCount {
                stage: "up".into(),
                into: n,
                out: 2 * n,
                ..Default::default()
            }],
            ..BatchCounts::default()
        };
        a.written(&counts(3));
        b.written(&counts(5));
        b.written(&counts(1));
        let text = text(Scrape(vec![a, b]));
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(types.len(), unique.len(), "{text}");
        for line in [
            r#"wasmstream_source_records_total{tenant="acme",pipeline="a",source="in"} 3"#,
            r#"wasmstream_source_records_total{tenant="zeta",pipeline="b",source="in"} 6"#,
            r#"wasmstream_stage_records_out_total{tenant="acme",pipeline="a",stage="up"} 6"#,
            r#"wasmstream_stage_records_out_total{tenant="zeta",pipeline="b",stage="up"} 12"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }

    fn row(id: u64, status: BatchStatus) -> BatchRow {
        BatchRow {
            id,
            time_ms: 1_000 * id as i64,
            records: 4,
            scheduling_ms: 1.0,
            processing_ms: 2.0,
            status,
            error: None,
            sources: Vec::new(),
            stages: Vec::new(),
        }
    }

    #[test]
    fn a_batchs_stage_times_and_error_reach_its_row_and_its_counts_the_totals() {
        let m = PipelineMetrics::named("p", None);
        let mut counts = BatchCounts {
            sources: vec![("in".into(), 4)],
            ..BatchCounts::default()
        };
        counts.times.push(StageTime {
            stage: "up".into(),
            ms: 1.5,
            fused_with: Vec::new(),
            records_in: 4,
            records_out: vec![3, 1],
        });
        m.batch_started(1, 1_000, &HashMap::new(), &BTreeMap::new());
        assert_eq!(m.overview(10).active.map(|a| a.id), Some(1));
        m.batch_ended(
            Some(counts),
            Duration::ZERO,
            Duration::ZERO,
            row(1, BatchStatus::Ok),
            |_| {},
        );
        let mut failed = BatchCounts {
            sources: vec![("in".into(), 2)],
            ..BatchCounts::default()
        };
        failed.failed(&"stage `up`: it trapped");
        m.batch_ended(
            Some(failed),
            Duration::ZERO,
            Duration::ZERO,
            row(2, BatchStatus::Skipped),
            |_| {},
        );

        let o = m.overview(10);
        assert_eq!(o.active, None);
        assert_eq!(o.recent[0].stages[0].records_out, [3, 1]);
        assert_eq!(o.recent[1].error.as_deref(), Some("stage `up`: it trapped"));
        assert_eq!(
            (o.records_in, o.batches, o.batches_failed, o.batches_skipped),
            (6, 2, 1, 1)
        );
        assert!(m.keeping.get() > 0.0, "keeping the metrics takes some time");
    }

    #[test]
    fn events_and_checkpoints_are_kept_up_to_a_hundred_newest_last() {
        let m = PipelineMetrics::named("p", None);
        for batch in 1..=150 {
            m.checkpointed(batch, Duration::from_millis(2), 100);
        }
        m.shadow_compared("up", 10, 0);
        m.shadow_compared("up", 10, 3);
        let o = m.overview(0);
        assert_eq!(o.checkpoints.len(), 100);
        assert_eq!(o.checkpoints.last().unwrap().batch, 150);
        let events: Vec<(&str, Option<&str>)> = (o.events.iter())
            .map(|e| (e.what.as_str(), e.stage.as_deref()))
            .collect();
        assert_eq!(events, [("shadow-differed", Some("up"))]);
        assert!(
            o.events[0].reason.contains("3 of 10"),
            "{}",
            o.events[0].reason
        );
    }
}
