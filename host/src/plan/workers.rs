//! One pipeline shared by several workers through Kafka
//! (`wasmstream run --worker`), the way Kafka Streams scales out: every
//! worker runs the same manifest, its Kafka sources join one consumer
//! group per source, and Kafka assigns each worker some of the
//! partitions. A worker's offsets live in the group, committed after each
//! batch its sinks have written, so a partition that moves (a worker
//! joins, leaves or dies) goes on from the last batch written: at least
//! once.
//!
//! A stage that groups records by key (reduce-by-key, update-state) reads
//! them through a **repartition topic**: the records before it are
//! written there, partitioned by the key's murmur2 hash as the in-memory
//! exchange partitions them, and the stage reads that topic as a source
//! of its own, shared by the workers like the others. So every record of a
//! key reaches the one worker that owns the key's partition, a batch or
//! more later. An update-state stage also writes each change of a key's
//! state to a **changelog topic** (same partitions, keyed by the state's
//! key); a worker that is given a partition reads that partition's
//! changelog into the stage's state before it processes any of its
//! records, and one that loses a partition forgets its keys.
//!
//! A reduce-by-key-and-window over event time reads through a repartition
//! topic too, and its changelog keeps each key's value in each open
//! window. The record's Kafka timestamp carries its event time through
//! the topic; each worker's watermark is its own, from the records it
//! reads.
//!
//! A stream-table join (its table partitioned) and an interval join read
//! both sides through one repartition topic, so a key's records of both
//! land in the same partition, in the order they were written: each
//! record carries its side in a header ([`crate::shuffle::SIDE_HEADER`]),
//! and the stage parts them again before it runs. The table's rows and the
//! interval join's buffered records are per-key state, in a changelog.
//!
//! A count by value reads through a repartition topic too, each record
//! written with its value as its key.
//!
//! A process-by-key stage reads through a repartition topic, and its
//! per-key state (the operator's, and its timers) goes to a changelog:
//! a timer fires once the watermark of the worker that owns its key
//! passes it, and a key's timers move with it.
//!
//! A global table is kept whole by every worker, as by every partition on
//! one machine: its Kafka sources (those whose records go, through map,
//! filter and flat-map stages, only to global tables) are not shared but
//! read whole by each worker, from the earliest offset each time it
//! starts, committing nothing. The stream side stays where it is read.
//!
//! What a worker cannot run yet (batch windows, joins per batch,
//! checkpoints, files sinks, exactly-once sinks):
//! [`PipelinePlan::as_worker`] names it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    Bound, Delivery, Id, JoinOver, KafkaSink, KafkaSource, PipelinePlan, SinkKind, SinkPlan,
    SourceKind, SourcePlan, Start, Step, Stream, Trigger, Windowing,
};
use crate::manifest::{ManifestError, ManifestErrors};

/// Where a worker's stateful stage keeps its state's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    /// The stage.
    pub stage: Id,
    /// The repartition source it reads: its partitions are the state's.
    pub source: Id,
    /// The cluster.
    pub bootstrap: String,
    /// The compacted topic, one partition per repartition partition.
    pub topic: String,
}

impl PipelinePlan {
    /// Makes this plan one worker's: each Kafka source becomes a member of
    /// its consumer group, and each stage that groups by key reads through
    /// a repartition topic (and keeps its state in a changelog). Fails,
    /// naming each source, stage, sink or setting a worker cannot run yet,
    /// all at once.
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
        let whole = self.global_tables();
        for (i, source) in self.sources.iter_mut().enumerate() {
            match &mut source.kind {
                // Every worker keeps the whole table: from the start, each
                // time it starts, and in no group.
                SourceKind::Kafka(kafka) if whole.contains(&source.id) => {
                    kafka.start = Start::Earliest;
                    kafka.commit_offsets = false;
                }
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
            let global = matches!(
                stage.step,
                Step::Join {
                    over: JoinOver::Table { global: true, .. },
                    ..
                }
            );
            if global && !from_whole(&self.stages, &stage.inputs[1], &whole) {
                problem(
                    format!("stages[{i}]"),
                    format!(
                        "stage `{}`: every worker keeps a global table whole, so it must come (through map, filter or flat-map stages) from Kafka sources nothing else reads",
                        stage.id
                    ),
                );
            }
            let shares = global
                || matches!(
                    stage.step,
                    Step::Map(_) | Step::Filter(_) | Step::FlatMap(_) | Step::Union
                )
                || repartitions(&stage.step);
            if !shares {
                problem(
                    format!("stages[{i}]"),
                    format!(
                        "stage `{}` ({}): workers run map, filter, flat-map, union, reduce-by-key, count-by-value, update-state, process-by-key, event-time reduce-by-key-and-window, interval join and stream-table join stages; this kind across workers is not built yet",
                        stage.id,
                        stage.step.kind_name()
                    ),
                );
            }
            let taken = |id: &str| self.sources.iter().any(|s| s.id == id);
            if repartitions(&stage.step) && taken(&repartition_id(&stage.id)) {
                problem(
                    format!("stages[{i}]"),
                    format!(
                        "stage `{}`: a worker reads it through a source named `{}`, which the manifest already has; rename that source",
                        stage.id,
                        repartition_id(&stage.id)
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
        if !problems.is_empty() {
            return Err(ManifestErrors(problems));
        }
        self.repartition();
        Ok(())
    }

    /// Puts a repartition topic in front of each stage that groups by key
    /// (see the module's notes), and a changelog behind each that keeps
    /// state. The topics are made when the worker starts
    /// ([`crate::connector::kafka::make_worker_topics`]).
    fn repartition(&mut self) {
        let bootstrap = match self.sources.first().map(|s| &s.kind) {
            Some(SourceKind::Kafka(kafka)) => kafka.bootstrap.clone(),
            _ => return,
        };
        let prefix = format!("wasmstream-{}", self.name);
        for stage in &mut self.stages {
            if !repartitions(&stage.step) {
                continue;
            }
            let source = Id::new(&repartition_id(&stage.id)).expect("made of an id");
            let topic = format!("{prefix}-{}-repartition", stage.id);
            let inputs = std::mem::replace(&mut stage.inputs, vec![Stream::Source(source.clone())]);
            let several = inputs.len() > 1;
            // A join's two sides share the topic, each record marked with
            // its side; a union's inputs just mix.
            stage.sides_in_header = matches!(stage.step, Step::Join { .. });
            for (n, input) in inputs.into_iter().enumerate() {
                let id = match several {
                    true => format!("{source}-{n}"),
                    false => source.to_string(),
                };
                self.sinks.push(SinkPlan {
                    id: Id::new(&id).expect("made of an id"),
                    input,
                    kind: SinkKind::Kafka(KafkaSink {
                        bootstrap: bootstrap.clone(),
                        topic: topic.clone(),
                        acks: "all".into(),
                        compression: "none".into(),
                        delivery: Delivery::AtLeastOnce,
                        repartition: true,
                        side: stage.sides_in_header.then_some(n as u8),
                        key_by_value: matches!(stage.step, Step::CountByValue),
                    }),
                });
            }
            self.sources.push(SourcePlan {
                id: source.clone(),
                kind: SourceKind::Kafka(KafkaSource {
                    bootstrap: bootstrap.clone(),
                    topic,
                    group: format!("{prefix}-{}", stage.id),
                    start: Start::Earliest,
                    commit_offsets: true,
                    until_start_end: false,
                    worker: true,
                }),
                max_batch_records: None,
            });
            if stage.step.stateful() {
                self.changelogs.push(Changelog {
                    stage: stage.id.clone(),
                    source,
                    bootstrap: bootstrap.clone(),
                    topic: format!("{prefix}-{}-changelog", stage.id),
                });
            }
        }
    }

    /// The Kafka sources every worker reads whole: those whose records go
    /// (through map, filter and flat-map stages) only to the table side of
    /// global stream-table joins.
    fn global_tables(&self) -> BTreeSet<Id> {
        (self.sources.iter())
            .filter(|s| matches!(s.kind, SourceKind::Kafka(_)))
            .filter(|s| only_to_global_tables(self, &Stream::Source(s.id.clone())))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Whether this plan is one worker's ([`Self::as_worker`]).
    pub fn is_worker(&self) -> bool {
        (self.sources.iter()).any(|s| matches!(&s.kind, SourceKind::Kafka(k) if k.worker))
    }
}

impl Bound {
    /// [`PipelinePlan::as_worker`] for a plan already bound: its stages
    /// then read what the worker's plan has them read.
    pub fn as_worker(&mut self) -> Result<(), ManifestErrors> {
        self.plan.as_worker()?;
        for (bound, planned) in self.stages.iter_mut().zip(&self.plan.stages) {
            bound.inputs = planned.inputs.clone();
            bound.sides_in_header = planned.sides_in_header;
        }
        Ok(())
    }
}

/// Whether a worker reads this stage through a repartition topic: the
/// kinds that group records by key, and a count by value, whose records
/// the topic keys by value. (Batch windows keep whole batches, which a
/// changelog would copy; a join per batch would need both sides' records
/// of a batch to reach the worker in one batch, which reading a topic
/// does not promise; a global table is read whole by every worker, not
/// shared.)
fn repartitions(step: &Step) -> bool {
    matches!(
        step,
        Step::ReduceByKey(_)
            | Step::CountByValue
            | Step::UpdateStateByKey(..)
            | Step::ProcessByKey { .. }
            | Step::ReduceByKeyAndWindow {
                windowing: Windowing::EventTime(_),
                ..
            }
            | Step::Join {
                over: JoinOver::Table { global: false, .. } | JoinOver::Interval(_),
                ..
            }
    )
}

/// Whether everything that reads `stream` is, through map, filter and
/// flat-map stages, the table side of a global stream-table join (and
/// something does).
fn only_to_global_tables(plan: &PipelinePlan, stream: &Stream) -> bool {
    if plan.sinks.iter().any(|sink| &sink.input == stream) {
        return false;
    }
    let mut read = false;
    for stage in &plan.stages {
        for (side, input) in stage.inputs.iter().enumerate() {
            if input != stream {
                continue;
            }
            read = true;
            let ok = match &stage.step {
                Step::Join {
                    over: JoinOver::Table { global: true, .. },
                    ..
                } => side == 1,
                step if step.narrow() => {
                    only_to_global_tables(plan, &Stream::Stage(stage.id.clone()))
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    read
}

/// Whether `stream` comes, through map, filter and flat-map stages, from
/// the sources in `whole` alone.
fn from_whole(stages: &[super::StagePlan], stream: &Stream, whole: &BTreeSet<Id>) -> bool {
    match stream {
        Stream::Source(id) => whole.contains(id),
        Stream::Stage(id) => (stages.iter().find(|s| &s.id == id)).is_some_and(|s| {
            s.step.narrow() && (s.inputs.iter()).all(|input| from_whole(stages, input, whole))
        }),
        Stream::Late(_) | Stream::DeadLetters => false,
    }
}

/// The id of the source a worker reads stage `stage`'s input from.
fn repartition_id(stage: &Id) -> String {
    format!("{stage}-repartition")
}
