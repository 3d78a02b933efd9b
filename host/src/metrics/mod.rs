//! Prometheus metrics: what running pipelines do, for a scraper.
//!
//! Each pipeline has its own [`PipelineMetrics`], which the scheduler
//! updates as each batch ends (counters only once the batch is written).
//! A scrape ([`Scrape`]) is the pipelines its caller may see: all of them
//! for `wasmstream run --metrics`, a tenant's own on a server (the API's
//! token rules). It writes each metric once, with a series per pipeline
//! (and per source, stage or sink), labelled `tenant` (on a server),
//! `pipeline`, and `source`, `stage` or `sink`. [`endpoint`] serves
//! scrapes over HTTP.
//!
//! Names follow Prometheus' conventions: `wasmstream_` first, base units
//! (seconds, bytes), `_total` on counters.

mod counts;
pub mod endpoint;
mod overview;

pub(crate) use counts::BatchCounts;
pub use overview::{BatchRow, BatchStatus, Overview, StageRow};

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::operator::{CallFigures, WasmOperator};
use crate::plan::PipelinePlan;
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
                late: stage.step.event_time().map(|_| Counter::default()),
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
    pub(crate) fn reload_event(&self, stage: Option<&str>, what: &str) {
        let key = format!("{}\0{what}", stage.unwrap_or_default());
        self.reload_events.get(&key).inc();
    }

    /// `stage`'s shadow was given `compared` records, and its output
    /// differed from the live version's on `differing` of them.
    pub(crate) fn shadow_compared(&self, stage: &str, compared: usize, differing: usize) {
        self.shadow_compared.get(stage).inc_by(compared as u64);
        self.shadow_differing.get(stage).inc_by(differing as u64);
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
    pub(crate) fn batch_written(&self, counts: &BatchCounts) {
        for (source, n) in &counts.sources {
            self.sources.get(source).inc_by(*n);
        }
        for (stage, into, out) in &counts.stages {
            let stage = self.stages.get(stage);
            stage.records_in.inc_by(*into);
            stage.records_out.inc_by(*out);
        }
        for (stage, dead, late) in &counts.rejected {
            let stage = self.stages.get(stage);
            stage.dead_letters.inc_by(*dead);
            if let Some(counter) = &stage.late {
                counter.inc_by(*late);
            }
        }
        for (sink, n) in &counts.sinks {
            self.sinks.get(sink).inc_by(*n);
        }
    }

    /// A batch was skipped, with what its sources gave it.
    pub(crate) fn batch_skipped(&self, counts: Option<&BatchCounts>) {
        self.batches_skipped.inc();
        for (source, n) in counts.map_or(&[][..], |c| &c.sources) {
            self.sources.get(source).inc_by(*n);
            self.records_dropped.inc_by(*n);
        }
    }

    /// A batch failed.
    pub(crate) fn batch_failed(&self) {
        self.batches_failed.inc();
    }

    /// A batch ended (written or skipped), `scheduling` after its time,
    /// having run for `processing`: `row` says which.
    pub(crate) fn batch_ended(&self, scheduling: Duration, processing: Duration, row: BatchRow) {
        self.keep(row);
        self.batches.inc();
        self.processing.observe(processing.as_secs_f64());
        self.scheduling_delay.observe(scheduling.as_secs_f64());
        self.total_delay
            .observe((scheduling + processing).as_secs_f64());
    }

    /// The batch interval became `interval`.
    pub(crate) fn retimed(&self, interval: Duration) {
        self.interval.set(interval.as_secs_f64());
    }

    /// A checkpoint of `bytes` bytes took `took` to write.
    pub(crate) fn checkpointed(&self, took: Duration, bytes: u64) {
        self.checkpoints.observe(took.as_secs_f64());
        self.checkpoint_bytes.set(bytes as i64);
    }
}

/// The pipelines one scrape shows.
#[derive(Debug)]
pub struct Scrape(pub Vec<Arc<PipelineMetrics>>);

/// Writes one series of a metric, with its own labels (`stage = "words"`,
/// say) if it has any.
type Emit<'a, M> = dyn FnMut(&[(&'static str, &str)], &M) -> fmt::Result + 'a;

/// How a metric's series are found in one pipeline's metrics.
type Series<M> = fn(&PipelineMetrics, &mut Emit<'_, M>) -> fmt::Result;

impl Scrape {
    /// Writes metric `name`: its description, then each pipeline's series.
    fn metric<M: EncodeMetric>(
        &self,
        encoder: &mut DescriptorEncoder,
        (name, help, kind): (&str, &str, MetricType),
        series: Series<M>,
    ) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
        for pipeline in &self.0 {
            series(pipeline, &mut |own, value| {
                let mut labels = pipeline.labels.clone();
                labels.extend(own.iter().map(|(k, v)| (*k, (*v).to_owned())));
                value.encode(metric.encode_family(&labels)?)
            })?;
        }
        Ok(())
    }
}

/// A part that is itself the metric (for [`each`]).
fn itself<T>(part: &T) -> Option<&T> {
    Some(part)
}

/// Each part's `metric`, labelled `label = <id>`.
fn each<T, M>(
    parts: &Parts<T>,
    label: &'static str,
    metric: impl Fn(&T) -> Option<&M>,
    emit: &mut Emit<'_, M>,
) -> fmt::Result {
    for (id, part) in parts.0.read().expect("metrics poisoned").iter() {
        if let Some(metric) = metric(part) {
            emit(&[(label, id)], metric)?;
        }
    }
    Ok(())
}

/// Each Wasm stage's live operator's figures, as `what` makes them into a
/// metric, labelled with the stage and the operator's version.
fn each_operator<M>(
    m: &PipelineMetrics,
    what: impl Fn(&CallFigures) -> M,
    emit: &mut Emit<'_, M>,
) -> fmt::Result {
    for (stage, op) in m.operators.read().expect("metrics poisoned").iter() {
        let digest = op.plugin.digest();
        let version = &digest[..digest.len().min(12)];
        emit(
            &[("stage", stage), ("version", version)],
            &what(&op.stats.figures()),
        )?;
    }
    Ok(())
}

/// Each hot-reload event count, labelled with its stage (if it has one)
/// and kind.
fn each_reload_event(m: &PipelineMetrics, emit: &mut Emit<'_, Counter>) -> fmt::Result {
    for (key, counter) in m.reload_events.0.read().expect("metrics poisoned").iter() {
        let (stage, what) = key.split_once('\0').expect("stage\0event");
        match stage {
            "" => emit(&[("event", what)], counter)?,
            _ => emit(&[("stage", stage), ("event", what)], counter)?,
        }
    }
    Ok(())
}

/// Each source part's gauge, labelled with its source and part.
fn each_part(parts: &Parts<Gauge>, emit: &mut Emit<'_, Gauge>) -> fmt::Result {
    for (key, gauge) in parts.0.read().expect("metrics poisoned").iter() {
        let (source, part) = key.split_once('\0').expect("source\0part");
        emit(&[("source", source), ("partition", part)], gauge)?;
    }
    Ok(())
}

const COUNTER: MetricType = MetricType::Counter;
const GAUGE: MetricType = MetricType::Gauge;
const HISTOGRAM: MetricType = MetricType::Histogram;

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let source_records = (
            "wasmstream_source_records",
            "Records read from each source, in batches run",
            COUNTER,
        );
        self.metric::<Counter>(e, source_records, |m, emit| {
            each(&m.sources, "source", itself, emit)
        })?;
        let stage_in = (
            "wasmstream_stage_records_in",
            "Records into each stage, in batches written",
            COUNTER,
        );
        self.metric::<Counter>(e, stage_in, |m, emit| {
            each(&m.stages, "stage", |s| Some(&s.records_in), emit)
        })?;
        let stage_out = (
            "wasmstream_stage_records_out",
            "Records out of each stage, in batches written",
            COUNTER,
        );
        self.metric::<Counter>(e, stage_out, |m, emit| {
            each(&m.stages, "stage", |s| Some(&s.records_out), emit)
        })?;
        let dead = (
            "wasmstream_dead_letters",
            "Records each stage rejected to dead-letters",
            COUNTER,
        );
        self.metric::<Counter>(e, dead, |m, emit| {
            each(&m.stages, "stage", |s| Some(&s.dead_letters), emit)
        })?;
        let late = (
            "wasmstream_late_records",
            "Records each event-time stage found too late for their windows",
            COUNTER,
        );
        self.metric::<Counter>(e, late, |m, emit| {
            each(&m.stages, "stage", |s| s.late.as_ref(), emit)
        })?;
        let sink_records = (
            "wasmstream_sink_records",
            "Records handed to each sink",
            COUNTER,
        );
        self.metric::<Counter>(e, sink_records, |m, emit| {
            each(&m.sinks, "sink", itself, emit)
        })?;

        let batches = (
            "wasmstream_batches",
            "Batches run, empty ones included",
            COUNTER,
        );
        self.metric::<Counter>(e, batches, |m, emit| emit(&[], &m.batches))?;
        let failed = (
            "wasmstream_batches_failed",
            "Batches that failed (then stopped the pipeline, were skipped, or ran again after a rollback)",
            COUNTER,
        );
        self.metric::<Counter>(e, failed, |m, emit| emit(&[], &m.batches_failed))?;
        let skipped = (
            "wasmstream_batches_skipped",
            "Batches dropped under on_error = \"skip\"",
            COUNTER,
        );
        self.metric::<Counter>(e, skipped, |m, emit| emit(&[], &m.batches_skipped))?;
        let dropped = (
            "wasmstream_records_dropped",
            "Source records in skipped batches",
            COUNTER,
        );
        self.metric::<Counter>(e, dropped, |m, emit| emit(&[], &m.records_dropped))?;

        let processing = (
            "wasmstream_batch_processing_seconds",
            "How long each batch ran",
            HISTOGRAM,
        );
        self.metric::<Histogram>(e, processing, |m, emit| emit(&[], &m.processing))?;
        let scheduling = (
            "wasmstream_batch_scheduling_delay_seconds",
            "How long each batch waited behind its scheduled time",
            HISTOGRAM,
        );
        self.metric::<Histogram>(e, scheduling, |m, emit| emit(&[], &m.scheduling_delay))?;
        let total = (
            "wasmstream_batch_total_delay_seconds",
            "Scheduling delay plus processing time of each batch",
            HISTOGRAM,
        );
        self.metric::<Histogram>(e, total, |m, emit| emit(&[], &m.total_delay))?;
        let interval = (
            "wasmstream_batch_interval_seconds",
            "The batch interval",
            GAUGE,
        );
        self.metric::<Gauge<f64, AtomicU64>>(e, interval, |m, emit| emit(&[], &m.interval))?;
        let checkpoints = (
            "wasmstream_checkpoint_seconds",
            "How long each checkpoint took to write",
            HISTOGRAM,
        );
        self.metric::<Histogram>(e, checkpoints, |m, emit| emit(&[], &m.checkpoints))?;
        let calls = (
            "wasmstream_operator_calls",
            "Calls into each Wasm stage's operator (a partition's batch is one call)",
            COUNTER,
        );
        self.metric(e, calls, |m, emit| {
            each_operator(m, |f| ConstCounter::new(f.calls), emit)
        })?;
        let cpu = (
            "wasmstream_operator_cpu_seconds",
            "CPU time each Wasm stage's operator used, on its threads",
            COUNTER,
        );
        self.metric(e, cpu, |m, emit| {
            each_operator(m, |f| ConstCounter::new(f.cpu.as_secs_f64()), emit)
        })?;
        let traps = (
            "wasmstream_operator_traps",
            "Calls that trapped (a panic, an exception, a memory limit)",
            COUNTER,
        );
        self.metric(e, traps, |m, emit| {
            each_operator(m, |f| ConstCounter::new(f.traps), emit)
        })?;
        let kills = (
            "wasmstream_operator_budget_kills",
            "Calls stopped by the CPU budget",
            COUNTER,
        );
        self.metric(e, kills, |m, emit| {
            each_operator(m, |f| ConstCounter::new(f.budget_kills), emit)
        })?;
        let memory = (
            "wasmstream_operator_memory_bytes",
            "The most linear memory one instance held after a call",
            GAUGE,
        );
        self.metric(e, memory, |m, emit| {
            each_operator(m, |f| ConstGauge::new(f.memory_bytes as i64), emit)
        })?;
        let reloads = (
            "wasmstream_reload_events",
            "Hot reload's events: started, reloaded, refused, rolled-back, promoted, shadow...",
            COUNTER,
        );
        self.metric(e, reloads, each_reload_event)?;
        let compared = (
            "wasmstream_shadow_records_compared",
            "Records each stage's shadow version was given beside the live one",
            COUNTER,
        );
        self.metric::<Counter>(e, compared, |m, emit| {
            each(&m.shadow_compared, "stage", itself, emit)
        })?;
        let differing = (
            "wasmstream_shadow_records_differing",
            "Records on which a shadow's output differed from the live version's",
            COUNTER,
        );
        self.metric::<Counter>(e, differing, |m, emit| {
            each(&m.shadow_differing, "stage", itself, emit)
        })?;
        let watermarks = (
            "wasmstream_watermark_seconds",
            "Each event-time stage's watermark: the latest event time seen, less the delay",
            GAUGE,
        );
        self.metric::<Gauge<f64, AtomicU64>>(e, watermarks, |m, emit| {
            each(&m.watermarks, "stage", itself, emit)
        })?;
        let keys = (
            "wasmstream_state_keys",
            "Keys with state in each update-state stage",
            GAUGE,
        );
        self.metric::<Gauge>(e, keys, |m, emit| {
            each(&m.state_keys, "stage", itself, emit)
        })?;
        let bytes_held = (
            "wasmstream_state_memory_bytes",
            "Bytes of per-key state each update-state stage keeps in memory",
            GAUGE,
        );
        self.metric::<Gauge>(e, bytes_held, |m, emit| {
            each(&m.state_bytes, "stage", itself, emit)
        })?;
        let spilled = (
            "wasmstream_state_spilled_keys",
            "Keys each update-state stage has spilled to disk",
            GAUGE,
        );
        self.metric::<Gauge>(e, spilled, |m, emit| {
            each(&m.state_spilled, "stage", itself, emit)
        })?;
        let offsets = (
            "wasmstream_source_offset",
            "The next offset each Kafka source reads from each partition",
            GAUGE,
        );
        self.metric(e, offsets, |m, emit| each_part(&m.offsets, emit))?;
        let lags = (
            "wasmstream_source_lag_records",
            "Records waiting in each partition behind where its Kafka source has got",
            GAUGE,
        );
        self.metric(e, lags, |m, emit| each_part(&m.lags, emit))?;
        let bytes = (
            "wasmstream_checkpoint_bytes",
            "The size of the newest checkpoint",
            GAUGE,
        );
        self.metric::<Gauge>(e, bytes, |m, emit| emit(&[], &m.checkpoint_bytes))
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
            stages: vec![("up".into(), n, 2 * n)],
            ..BatchCounts::default()
        };
        a.batch_written(&counts(3));
        b.batch_written(&counts(5));
        b.batch_written(&counts(1));
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
}
