//! One pipeline shared by several workers through Kafka
//! (`wasmstream run --worker`), the way Kafka Streams scales out: every
//! worker runs the same manifest, its Kafka sources join one consumer
//! group per source, and Kafka assigns each worker some of the
//! partitions. A worker's offsets live in the group, committed after each
//! batch its sinks have written, so a partition that moves (a worker
//! joins, leaves or dies) goes on from the last batch written: at least
//! once.
//!
//! What a worker can run today: Kafka sources, stages that keep each
//! record in its partition and nothing across batches (map, filter,
//! flat-map, union), and at-least-once Kafka or stdout sinks. Stages that
//! regroup by key need repartition topics, and state needs changelog
//! topics: [`PipelinePlan::as_worker`] names what stands in the way.

use super::{Delivery, PipelinePlan, SinkKind, SourceKind, Step, Trigger};
use crate::manifest::{ManifestError, ManifestErrors};

impl PipelinePlan {
    /// Makes this plan one worker's: each Kafka source becomes a member of
    /// its consumer group. Fails, naming each source, stage, sink or
    /// setting a worker cannot run yet, all at once.
    pub fn as_worker(&mut self) -> Result<(), ManifestErrors> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: String| {
            problems.push(ManifestError {
                file: self.file.clone(),
                line: None,
                field,
                message,
            })
        };
        if self.sources.is_empty() {
            problem(
                String::new(),
                "a worker needs a Kafka source to share".into(),
            );
        }
        for (i, source) in self.sources.iter_mut().enumerate() {
            match &mut source.kind {
                SourceKind::Kafka(kafka) => kafka.worker = true,
                other => problem(
                    format!("sources[{i}]"),
                    format!(
                        "source `{}` ({}): workers share only Kafka sources; every worker would read this one whole",
                        source.id,
                        other.kind_name()
                    ),
                ),
            }
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let shares = matches!(
                stage.step,
                Step::Map(_) | Step::Filter(_) | Step::FlatMap(_) | Step::Union
            );
            if !shares {
                problem(
                    format!("stages[{i}]"),
                    format!(
                        "stage `{}` ({}) groups records by key or keeps them across batches: across workers that needs repartition and changelog topics, which are not built yet",
                        stage.id,
                        stage.step.kind_name()
                    ),
                );
            }
        }
        for (i, sink) in self.sinks.iter().enumerate() {
            let field = format!("sinks[{i}]");
            match &sink.kind {
                SinkKind::Files { .. } => problem(
                    field,
                    format!(
                        "sink `{}` (files): workers would write files of the same names; use a Kafka sink",
                        sink.id
                    ),
                ),
                SinkKind::Kafka(kafka) if matches!(kafka.delivery, Delivery::ExactlyOnce(_)) => {
                    problem(
                        field,
                        format!(
                            "sink `{}`: exactly-once delivery across workers is not built yet; use `delivery = \"at-least-once\"`",
                            sink.id
                        ),
                    )
                }
                SinkKind::Kafka(_) | SinkKind::Stdout { .. } => {}
            }
        }
        if self.checkpoint.is_some() {
            problem(
                "pipeline.checkpoint".into(),
                "a worker keeps its offsets in the consumer group, not a checkpoint; remove it"
                    .into(),
            );
        }
        if self.trigger == Trigger::AvailableNow {
            problem(
                "pipeline.trigger".into(),
                "workers run until stopped; remove `trigger = \"available-now\"`".into(),
            );
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(ManifestErrors(problems)),
        }
    }

    /// Whether this plan is one worker's ([`Self::as_worker`]).
    pub fn is_worker(&self) -> bool {
        (self.sources.iter()).any(|s| matches!(&s.kind, SourceKind::Kafka(k) if k.worker))
    }
}
