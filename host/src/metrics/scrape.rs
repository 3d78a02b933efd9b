//! One scrape: the pipelines a caller may see, written as Prometheus
//! metrics, each metric once with a series per pipeline (and per source,
//! stage, sink, partition or operator version).

use std::fmt;
use std::sync::atomic::AtomicU64;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use std::sync::Arc;

use super::{Parts, PipelineMetrics};
use crate::operator::CallFigures;

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
        // Each pipeline's batch figures held still, taken in one order
        // (by address) whatever the caller's, so two scrapes never wait
        // on each other behind a batch's end.
        let mut pipelines: Vec<_> = self.0.iter().collect();
        pipelines.sort_by_key(|p| Arc::as_ptr(p));
        let _whole: Vec<_> = pipelines.iter().map(|p| p.whole()).collect();
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
        let keeping = (
            "wasmstream_metrics_keeping_seconds",
            "Time the engine spent keeping these metrics (counting each batch's records, times and state)",
            COUNTER,
        );
        self.metric::<Counter<f64, AtomicU64>>(e, keeping, |m, emit| emit(&[], &m.keeping))?;
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
