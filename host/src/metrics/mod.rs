//! Prometheus metrics: what running pipelines do, for a scraper.
//!
//! Each pipeline has its own [`PipelineMetrics`], which the scheduler
//! updates as each batch ends (counters only once the batch is written).
//! A scrape gathers those of the pipelines it may see into a registry,
//! each under its `pipeline` label ([`PipelineMetrics::register`]): all of
//! them for `wasmstream run --metrics`, a tenant's own on a server (the
//! API's token rules). [`endpoint`] serves them over HTTP.
//!
//! Names follow Prometheus' conventions: `wasmstream_` first, base units
//! (seconds, bytes), `_total` on counters.

pub mod endpoint;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::plan::PipelinePlan;

/// A source, stage or sink, by its id in the manifest.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// One pipeline's metrics.
#[derive(Debug)]
pub struct PipelineMetrics {
    pipeline: String,
    source_records: Family<SourceLabel, Counter>,
    stage_records_in: Family<StageLabel, Counter>,
    stage_records_out: Family<StageLabel, Counter>,
    dead_letters: Family<StageLabel, Counter>,
    late_records: Family<StageLabel, Counter>,
    sink_records: Family<SinkLabel, Counter>,
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
}

/// What one batch did, as the metrics count it, by source, stage and
/// sink id.
#[derive(Debug, Default)]
pub(crate) struct BatchCounts {
    /// Records each source gave it.
    pub(crate) sources: Vec<(String, u64)>,
    /// Records into and out of each stage.
    pub(crate) stages: Vec<(String, u64, u64)>,
    /// Records each stage rejected to dead letters, and found late.
    pub(crate) rejected: Vec<(String, u64, u64)>,
    /// Records handed to each sink.
    pub(crate) sinks: Vec<(String, u64)>,
}

/// Batch times, in buckets from 1 ms doubling to about 65 s.
fn time_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl PipelineMetrics {
    /// The metrics of pipeline `plan`, each source, stage and sink at
    /// zero.
    pub fn new(plan: &PipelinePlan) -> PipelineMetrics {
        let metrics = PipelineMetrics {
            pipeline: plan.name.clone(),
            source_records: Family::default(),
            stage_records_in: Family::default(),
            stage_records_out: Family::default(),
            dead_letters: Family::default(),
            late_records: Family::default(),
            sink_records: Family::default(),
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
        };
        for source in &plan.sources {
            metrics.source(source.id.as_str());
        }
        for stage in &plan.stages {
            let label = StageLabel {
                stage: stage.id.to_string(),
            };
            let _ = metrics.stage_records_in.get_or_create(&label);
            let _ = metrics.stage_records_out.get_or_create(&label);
            let _ = metrics.dead_letters.get_or_create(&label);
            if stage.step.event_time().is_some() {
                let _ = metrics.late_records.get_or_create(&label);
            }
        }
        for sink in &plan.sinks {
            metrics.sink(sink.id.as_str());
        }
        metrics.interval.set(plan.interval.as_secs_f64());
        metrics
    }

    /// Adds these metrics to `registry`, labelled with the pipeline's name.
    /// (Cheap: they are shared, not copied, so a registry can be made for
    /// each scrape from the pipelines running then.)
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_label(("pipeline".into(), self.pipeline.clone().into()));
        let m = self;
        r.register(
            "wasmstream_source_records",
            "Records read from each source, in batches run",
            m.source_records.clone(),
        );
        r.register(
            "wasmstream_stage_records_in",
            "Records into each stage, in batches written",
            m.stage_records_in.clone(),
        );
        r.register(
            "wasmstream_stage_records_out",
            "Records out of each stage, in batches written",
            m.stage_records_out.clone(),
        );
        r.register(
            "wasmstream_dead_letters",
            "Records each stage rejected to dead-letters",
            m.dead_letters.clone(),
        );
        r.register(
            "wasmstream_late_records",
            "Records each event-time stage found too late for their windows",
            m.late_records.clone(),
        );
        r.register(
            "wasmstream_sink_records",
            "Records handed to each sink",
            m.sink_records.clone(),
        );
        r.register(
            "wasmstream_batches",
            "Batches run, empty ones included",
            m.batches.clone(),
        );
        r.register(
            "wasmstream_batches_failed",
            "Batches that failed (then stopped the pipeline, were skipped, or ran again after a rollback)",
            m.batches_failed.clone(),
        );
        r.register(
            "wasmstream_batches_skipped",
            "Batches dropped under on_error = \"skip\"",
            m.batches_skipped.clone(),
        );
        r.register(
            "wasmstream_records_dropped",
            "Source records in skipped batches",
            m.records_dropped.clone(),
        );
        r.register(
            "wasmstream_batch_processing_seconds",
            "How long each batch ran",
            m.processing.clone(),
        );
        r.register(
            "wasmstream_batch_scheduling_delay_seconds",
            "How long each batch waited behind its scheduled time",
            m.scheduling_delay.clone(),
        );
        r.register(
            "wasmstream_batch_total_delay_seconds",
            "Scheduling delay plus processing time of each batch",
            m.total_delay.clone(),
        );
        r.register(
            "wasmstream_batch_interval_seconds",
            "The batch interval",
            m.interval.clone(),
        );
        r.register(
            "wasmstream_checkpoint_seconds",
            "How long each checkpoint took to write",
            m.checkpoints.clone(),
        );
        r.register(
            "wasmstream_checkpoint_bytes",
            "The size of the newest checkpoint",
            m.checkpoint_bytes.clone(),
        );
    }

    fn source(&self, id: &str) -> Counter {
        self.source_records
            .get_or_create(&SourceLabel { source: id.into() })
            .clone()
    }

    fn stage_in(&self, id: &str) -> Counter {
        let label = StageLabel { stage: id.into() };
        self.stage_records_in.get_or_create(&label).clone()
    }

    fn stage_out(&self, id: &str) -> Counter {
        let label = StageLabel { stage: id.into() };
        self.stage_records_out.get_or_create(&label).clone()
    }

    fn sink(&self, id: &str) -> Counter {
        self.sink_records
            .get_or_create(&SinkLabel { sink: id.into() })
            .clone()
    }

    /// A batch was written: what it did.
    pub(crate) fn batch_written(&self, counts: &BatchCounts) {
        for (source, n) in &counts.sources {
            self.source(source).inc_by(*n);
        }
        for (stage, into, out) in &counts.stages {
            self.stage_in(stage).inc_by(*into);
            self.stage_out(stage).inc_by(*out);
        }
        for (stage, dead, late) in &counts.rejected {
            let label = StageLabel {
                stage: stage.clone(),
            };
            if *dead > 0 {
                self.dead_letters.get_or_create(&label).inc_by(*dead);
            }
            if *late > 0 {
                self.late_records.get_or_create(&label).inc_by(*late);
            }
        }
        for (sink, n) in &counts.sinks {
            self.sink(sink).inc_by(*n);
        }
    }

    /// A batch was skipped, with what its sources gave it.
    pub(crate) fn batch_skipped(&self, sources: &[(String, u64)]) {
        self.batches_skipped.inc();
        for (source, n) in sources {
            self.source(source).inc_by(*n);
            self.records_dropped.inc_by(*n);
        }
    }

    /// A batch failed.
    pub(crate) fn batch_failed(&self) {
        self.batches_failed.inc();
    }

    /// A batch ended (written or skipped), `scheduling` after its time,
    /// having run for `processing`.
    pub(crate) fn batch_ended(&self, scheduling: Duration, processing: Duration) {
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
