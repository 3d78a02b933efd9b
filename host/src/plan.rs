//! From what the user wrote to what the engine runs.
//!
//! [`resolve`] turns a [`Manifest`] into a [`PipelinePlan`]: paths resolved
//! against the manifest's folder, units parsed, every component loaded
//! (compiled or taken from the cache), its kind checked against the stage
//! and its `init` run once on the stage's params, and the stage graph
//! checked for unknown inputs and cycles. Every problem is reported at once,
//! each naming its line and field. A plan that exists is runnable.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::manifest::Collector;
use crate::manifest::{LimitsSpec, Manifest, ManifestErrors, Spanned, StageSpec, units};
use crate::plugin::{Limits, OperatorKind, Runtime};
use crate::sink::kafka::{CommittedSource, Delivery, KafkaSink, Transactions};
use crate::source::kafka::{KafkaSource, Start};
use crate::stage::Operator;

/// The shortest batch interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// A checked pipeline, ready to run.
#[derive(Debug, Clone)]
pub struct PipelinePlan {
    /// The pipeline's name.
    pub name: String,
    /// How often a batch is cut.
    pub interval: Duration,
    /// What a failed batch does.
    pub on_error: OnError,
    /// Where records come from.
    pub sources: Vec<SourcePlan>,
    /// The operator steps, each after the ones it reads from.
    pub stages: Vec<StagePlan>,
    /// Where results go.
    pub sinks: Vec<SinkPlan>,
    /// Where and how often to checkpoint, if at all.
    pub checkpoint: Option<CheckpointPlan>,
    /// Bytes of per-key state each stateful partition keeps in memory.
    pub state_memory: usize,
    /// Whether the sources' rate adapts to the processing time.
    pub backpressure: bool,
    /// The manifest it was read from.
    pub file: PathBuf,
    /// Hot reload.
    pub reload: ReloadPlan,
}

/// Hot reload, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Whether the manifest and components are watched.
    pub watch: bool,
    /// Batches a new version runs on probation.
    pub probation: u32,
    /// How long a changed file must stay unchanged before it is read.
    pub debounce: Duration,
}

/// Checkpointing, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPlan {
    /// The folder for checkpoints and the intent log.
    pub dir: PathBuf,
    /// Batches between two checkpoints.
    pub every: u64,
}

/// What a failed batch does to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// End the pipeline with the error (the default).
    Stop,
    /// Drop the batch, count it, and go on.
    Skip,
    /// Take each record an operator rejects out of the batch, send it to
    /// the stream [`DEAD_LETTERS`] with the stage and error in its
    /// headers, and run the batch without it. Failures that name no record
    /// (a trap, the CPU budget) stop the pipeline as `Stop` does.
    DeadLetter,
}

/// The stream of records operators rejected, under `on_error =
/// "dead-letter"`; sinks read it like any other.
pub const DEAD_LETTERS: &str = "dead-letters";

/// A source, resolved.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// Its id.
    pub id: String,
    /// What it reads.
    pub kind: SourceKind,
    /// The most records one batch takes from it.
    pub max_batch_records: Option<usize>,
}

/// The kinds of source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Text files in a folder, a record per line (`textFileStream`).
    Directory {
        /// The folder.
        path: PathBuf,
        /// Keep watching for new files, or end once the present ones are read.
        watch: bool,
    },
    /// Lines read from a TCP connection (`socketTextStream`).
    Socket {
        /// `host:port`.
        address: String,
    },
    /// Lines from standard input.
    Stdin,
    /// A Kafka topic, read by offset ranges (Spark's direct stream).
    Kafka(KafkaSource),
    /// Synthetic records, for benchmarks and demos.
    Generator {
        /// How many, if the stream ends.
        records: Option<u64>,
        /// Records per second, if limited.
        rate: Option<u64>,
        /// Bytes per record value.
        record_bytes: usize,
    },
}

/// A stage, resolved.
#[derive(Debug, Clone)]
pub struct StagePlan {
    /// Its id.
    pub id: String,
    /// Ids of the sources or stages it reads, in order.
    pub inputs: Vec<String>,
    /// What it does.
    pub step: Step,
    /// How many partitions it runs over.
    pub parallelism: usize,
    /// A candidate version of its operator, run beside it for comparison.
    pub shadow: Option<Operator>,
}

/// What a stage does with its input.
#[derive(Debug, Clone)]
pub enum Step {
    /// One record in, one out.
    Map(Operator),
    /// Keep or drop.
    Filter(Operator),
    /// One in, zero or more out.
    FlatMap(Operator),
    /// Exchange by key, then fold each key's values.
    ReduceByKey(Operator),
    /// Exchange by key, then update each key's state (kept across batches,
    /// forgotten after `ttl` without records).
    UpdateStateByKey(Operator, Option<Duration>),
    /// Merge the inputs.
    Union,
    /// The records of the last `length` batches, every `slide` batches.
    Window {
        /// Batches the window covers.
        length: u32,
        /// Batches between two emissions.
        slide: u32,
    },
    /// Exchange by key, then fold each key's values over a window.
    ReduceByKeyAndWindow {
        /// Folds values.
        reduce: Operator,
        /// Takes values back out (processing time only).
        inverse: Option<Operator>,
        /// Which records share a window.
        windowing: Windowing,
    },
    /// Count each distinct value over a window.
    CountByValueAndWindow(Windowing),
}

/// How a windowed stage groups records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Windowing {
    /// Processing time: the last `length` batches, emitted every `slide`
    /// batches (when the batch id is a multiple of `slide`).
    Batches {
        /// Batches the window covers.
        length: u32,
        /// Batches between two emissions.
        slide: u32,
    },
    /// Event time: windows over the records' own timestamps.
    EventTime(EventTime),
}

/// Event-time windows, all in milliseconds: windows `[start, start +
/// length)` for every `start` that is a multiple of `slide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// How much time a window covers.
    pub length: i64,
    /// How far apart window starts are (`length` for tumbling windows).
    pub slide: i64,
    /// How far the watermark trails the latest timestamp seen.
    pub delay: i64,
    /// How long after the watermark passes its end a window still takes
    /// records.
    pub lateness: i64,
}

impl Step {
    /// The operator, if the step runs one.
    pub fn operator(&self) -> Option<&Operator> {
        match self {
            Step::Map(op)
            | Step::Filter(op)
            | Step::FlatMap(op)
            | Step::ReduceByKey(op)
            | Step::UpdateStateByKey(op, _)
            | Step::ReduceByKeyAndWindow { reduce: op, .. } => Some(op),
            Step::Union | Step::Window { .. } | Step::CountByValueAndWindow(_) => None,
        }
    }

    /// The event-time windowing, if the step windows by event time (and so
    /// has a side output for late records).
    pub fn event_time(&self) -> Option<EventTime> {
        match self {
            Step::ReduceByKeyAndWindow {
                windowing: Windowing::EventTime(e),
                ..
            }
            | Step::CountByValueAndWindow(Windowing::EventTime(e)) => Some(*e),
            _ => None,
        }
    }
}

/// The name of the stream of records that arrived too late for an
/// event-time stage's windows.
pub fn late_stream(stage: &str) -> String {
    format!("{stage}.late")
}

/// A sink, resolved.
#[derive(Debug, Clone)]
pub struct SinkPlan {
    /// Its id.
    pub id: String,
    /// The source or stage it writes out.
    pub input: String,
    /// Where it writes.
    pub kind: SinkKind,
}

/// The kinds of sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// Prints each batch's time and first records (`pprint`).
    Stdout {
        /// Records shown per batch.
        max_records: usize,
    },
    /// One file per non-empty batch (`saveAsTextFiles`).
    Files {
        /// The folder.
        dir: PathBuf,
        /// File name prefix.
        prefix: String,
        /// File name suffix.
        suffix: String,
    },
    /// A Kafka topic.
    Kafka(KafkaSink),
}

/// Has each exactly-once Kafka sink commit, inside its transactions, the
/// offsets of the Kafka sources on its own cluster (a transaction can only
/// commit offsets there); those sources then stop committing their own,
/// so lag tools see exactly what the transactions committed.
fn commit_offsets_in_transactions(sources: &mut [SourcePlan], sinks: &mut [SinkPlan]) {
    for sink in sinks {
        let SinkKind::Kafka(KafkaSink {
            bootstrap,
            delivery: Delivery::ExactlyOnce(transactions),
            ..
        }) = &mut sink.kind
        else {
            continue;
        };
        for source in sources.iter_mut() {
            if let SourceKind::Kafka(kafka) = &mut source.kind
                && kafka.bootstrap == *bootstrap
            {
                kafka.commit_offsets = false;
                transactions.sources.push(CommittedSource {
                    id: source.id.clone(),
                    topic: kafka.topic.clone(),
                    group: kafka.group.clone(),
                });
            }
        }
    }
}

/// `name` with every character Kafka does not allow in a topic name (or a
/// transactional id) replaced by `_`.
fn kafka_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads, resolves and checks the manifest at `file`, reporting every
/// problem at once: shape errors in some entries do not hide the other
/// entries' problems. Blocking (it may compile): call it off the async
/// runtime.
pub fn load(file: &Path, runtime: &Runtime) -> Result<PipelinePlan, ManifestErrors> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ManifestErrors(vec![crate::manifest::ManifestError {
            file: file.to_owned(),
            line: None,
            field: String::new(),
            message: format!("cannot read the manifest: {e}"),
        }])
    })?;
    let (manifest, mut errors) = crate::manifest::parse_lenient(file, text);
    let Some(manifest) = manifest else {
        return Err(ManifestErrors(errors));
    };
    match resolve(&manifest, runtime) {
        Ok(plan) if errors.is_empty() => Ok(plan),
        Ok(_) => Err(ManifestErrors(errors)),
        Err(more) => {
            errors.extend(more.0);
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(ManifestErrors(errors))
        }
    }
}

/// Resolves and checks `manifest`, loading its components with `runtime`.
/// Blocking (it may compile): call it off the async runtime.
pub fn resolve(manifest: &Manifest, runtime: &Runtime) -> Result<PipelinePlan, ManifestErrors> {
    Resolver {
        manifest,
        runtime,
        errors: Collector::new(&manifest.file, &manifest.text),
    }
    .resolve()
}

struct Resolver<'a> {
    manifest: &'a Manifest,
    runtime: &'a Runtime,
    errors: Collector<'a>,
}

impl Resolver<'_> {
    fn resolve(mut self) -> Result<PipelinePlan, ManifestErrors> {
        let m = self.manifest;
        let p = &m.pipeline;
        let interval = match &p.batch_interval {
            None => Duration::from_secs(1),
            Some(text) => match units::duration(text.get_ref()) {
                Ok(d) if d >= MIN_INTERVAL => d,
                Ok(d) => {
                    self.error(
                        text,
                        "pipeline.batch_interval",
                        format!(
                            "{} ms is below the minimum of {} ms",
                            d.as_millis(),
                            MIN_INTERVAL.as_millis()
                        ),
                    );
                    MIN_INTERVAL
                }
                Err(e) => {
                    self.error(text, "pipeline.batch_interval", e);
                    MIN_INTERVAL
                }
            },
        };
        let on_error = match p.on_error.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "stop")) => OnError::Stop,
            Some((_, "skip")) => OnError::Skip,
            Some((span, "dead-letter")) => {
                let m = self.manifest;
                let read = m
                    .sinks
                    .iter()
                    .map(|s| &s.input)
                    .chain(m.stages.iter().filter_map(|s| s.input.as_ref()));
                if !read.clone().any(|input| input.get_ref() == DEAD_LETTERS) {
                    self.error(
                        span,
                        "pipeline.on_error",
                        format!("rejected records go to the stream `{DEAD_LETTERS}`, but no sink reads it; add a sink with `input = \"{DEAD_LETTERS}\"`"),
                    );
                }
                OnError::DeadLetter
            }
            Some((span, other)) => {
                self.error(
                    span,
                    "pipeline.on_error",
                    format!("{other:?} is not a policy; use \"stop\", \"skip\" or \"dead-letter\""),
                );
                OnError::Stop
            }
        };
        let parallelism = self
            .parallelism(p.parallelism.as_ref(), "pipeline.parallelism")
            .unwrap_or(1);
        let limits = self.limits(p.limits.as_ref(), Limits::default(), "pipeline.limits");

        self.check_ids();
        let checkpoint = p.checkpoint.as_ref().and_then(|c| self.checkpoint(c));
        let reload = self.reload(p.reload.as_ref());
        let state_memory = match &p.state_memory {
            None => 256 << 20,
            Some(text) => match units::bytes(text.get_ref()) {
                Ok(b) if b >= 1 << 20 => b,
                Ok(_) => {
                    self.error(text, "pipeline.state_memory", "must be at least 1MiB");
                    256 << 20
                }
                Err(e) => {
                    self.error(text, "pipeline.state_memory", e);
                    256 << 20
                }
            },
        };
        let sources = m
            .sources
            .iter()
            .filter_map(|s| self.source(s.position, s, interval))
            .collect();
        let stages = self.stages(parallelism, limits, interval);
        let mut sources: Vec<SourcePlan> = sources;
        let mut sinks: Vec<SinkPlan> = m
            .sinks
            .iter()
            .filter_map(|s| self.sink(s.position, s))
            .collect();
        commit_offsets_in_transactions(&mut sources, &mut sinks);
        if m.sources.is_empty() {
            self.errors
                .push(None, "sources", "the pipeline has no [[sources]]");
        }
        if m.sinks.is_empty() {
            self.errors.push(
                None,
                "sinks",
                "the pipeline has no [[sinks]]; its results would go nowhere",
            );
        }
        self.errors.finish()?;
        Ok(PipelinePlan {
            name: p.name.get_ref().clone(),
            interval,
            on_error,
            sources,
            stages,
            sinks,
            checkpoint,
            state_memory,
            backpressure: p.backpressure.unwrap_or(false),
            file: m.file.clone(),
            reload,
        })
    }

    /// Resolves `delivery = "exactly-once"` on sink `i`. The pipeline must
    /// be checkpointed, so a restart rebuilds exactly the batches it had
    /// run and can tell which of them it already committed; and every
    /// write must wait for all replicas (`acks = "all"`), as transactions
    /// require. Which sources' offsets commit with each batch is settled
    /// once the sources are resolved ([`commit_offsets_in_transactions`]).
    fn exactly_once(
        &mut self,
        at: &Spanned<String>,
        spec: &crate::manifest::SinkSpec,
        i: usize,
    ) -> Option<Delivery> {
        let m = self.manifest;
        if m.pipeline.checkpoint.is_none() {
            self.error(
                at,
                format!("sinks[{i}].delivery"),
                "exactly-once delivery needs checkpoints: after a crash the pipeline replays its logged batches, skipping those already committed; add `checkpoint = { dir = \"checkpoints\" }` to [pipeline] or use `delivery = \"at-least-once\"`",
            );
            return None;
        }
        if let Some(acks) = spec.acks.as_ref().filter(|a| a.get_ref() != "all") {
            self.error(
                acks,
                format!("sinks[{i}].acks"),
                format!(
                    "exactly-once delivery writes in transactions, which need `acks = \"all\"`, not {:?}",
                    acks.get_ref()
                ),
            );
            return None;
        }
        let name = kafka_name(&format!(
            "wasmstream-{}-{}",
            m.pipeline.name.get_ref(),
            spec.id.get_ref()
        ));
        Some(Delivery::ExactlyOnce(Transactions {
            commit_topic: format!("{name}-commits"),
            transactional_id: name,
            sources: Vec::new(),
        }))
    }

    fn reload(&mut self, spec: Option<&crate::manifest::ReloadSpec>) -> ReloadPlan {
        let mut plan = ReloadPlan {
            watch: true,
            probation: 3,
            debounce: Duration::from_millis(100),
        };
        let Some(spec) = spec else { return plan };
        plan.watch = spec.watch.unwrap_or(true);
        if let Some(n) = &spec.probation {
            match u32::try_from(*n.get_ref()) {
                Ok(n) => plan.probation = n,
                Err(_) => self.error(
                    n,
                    "pipeline.reload.probation",
                    "must be a number of batches, 0 or more",
                ),
            }
        }
        if let Some(text) = &spec.debounce {
            match units::duration(text.get_ref()) {
                Ok(d) => plan.debounce = d,
                Err(e) => self.error(text, "pipeline.reload.debounce", e),
            }
        }
        plan
    }

    fn checkpoint(&mut self, spec: &crate::manifest::CheckpointSpec) -> Option<CheckpointPlan> {
        let every = match &spec.every {
            None => 10,
            Some(n) if *n.get_ref() < 1 => {
                self.error(n, "pipeline.checkpoint.every", "must be at least 1 batch");
                return None;
            }
            Some(n) => *n.get_ref() as u64,
        };
        // Replay after a crash re-reads each batch's input: a source that
        // cannot read its input again cannot be checkpointed honestly.
        for s in &self.manifest.sources {
            if let kind @ ("socket" | "stdin") = s.kind.get_ref().as_str() {
                self.error(
                    &s.kind,
                    format!("sources[{}].kind", s.position),
                    format!("a {kind} source cannot read its input again after a crash, so a pipeline with `checkpoint` cannot use it; use a directory (or generator) source, or remove `checkpoint`"),
                );
            }
        }
        Some(CheckpointPlan {
            dir: self.path(spec.dir.get_ref()),
            every,
        })
    }

    fn error<T>(&mut self, at: &Spanned<T>, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Some(at.span()), field, message);
    }

    /// `relative` resolved against the manifest's folder, without `..`
    /// detours, so messages show the path a user would type.
    fn path(&self, relative: &str) -> PathBuf {
        let base = self.manifest.file.parent().unwrap_or(Path::new("."));
        let mut clean = PathBuf::new();
        for part in base.join(relative).components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir
                    if matches!(
                        clean.components().next_back(),
                        Some(std::path::Component::Normal(_))
                    ) =>
                {
                    clean.pop();
                }
                other => clean.push(other),
            }
        }
        clean
    }

    fn parallelism(&mut self, value: Option<&Spanned<i64>>, field: &str) -> Option<usize> {
        let value = value?;
        match *value.get_ref() {
            n @ 1..=1024 => Some(n as usize),
            n => {
                self.error(value, field, format!("{n} is out of range; use 1 to 1024"));
                None
            }
        }
    }

    fn limits(&mut self, spec: Option<&LimitsSpec>, default: Limits, field: &str) -> Limits {
        let mut limits = default;
        let Some(spec) = spec else { return limits };
        if let Some(memory) = &spec.memory {
            match units::bytes(memory.get_ref()) {
                Ok(b) if b >= 1 << 20 => limits.memory_bytes = b,
                Ok(_) => self.error(memory, format!("{field}.memory"), "must be at least 1MiB"),
                Err(e) => self.error(memory, format!("{field}.memory"), e),
            }
        }
        if let Some(cpu) = &spec.cpu {
            match units::duration(cpu.get_ref()) {
                Ok(d) if d >= Duration::from_millis(1) => limits.cpu = d,
                Ok(_) => self.error(cpu, format!("{field}.cpu"), "must be at least 1ms"),
                Err(e) => self.error(cpu, format!("{field}.cpu"), e),
            }
        }
        limits
    }

    /// Ids are unique across sources, stages and sinks, and plain.
    fn check_ids(&mut self) {
        let m = self.manifest;
        let ids = m
            .sources
            .iter()
            .map(|s| ("sources", &s.id))
            .chain(m.stages.iter().map(|s| ("stages", &s.id)))
            .chain(m.sinks.iter().map(|s| ("sinks", &s.id)));
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut problems = Vec::new();
        for (section, id) in ids {
            let text = id.get_ref().as_str();
            if text.is_empty()
                || !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                problems.push((
                    id.span(),
                    format!("{section}.id"),
                    format!("{text:?} is not a valid id; use letters, digits, `_` and `-`"),
                ));
            }
            if let Some(first) = seen.insert(text, section) {
                problems.push((
                    id.span(),
                    format!("{section}.id"),
                    format!("id {text:?} is already used in [[{first}]]"),
                ));
            }
        }
        for (span, field, message) in problems {
            self.errors.push(Some(span), field, message);
        }
    }

    /// The value of a setting a kind requires, or an error at `kind`.
    fn required(
        &mut self,
        value: &Option<Spanned<String>>,
        kind: &Spanned<String>,
        field: String,
        missing: &str,
    ) -> Option<String> {
        match value {
            Some(v) if !v.get_ref().is_empty() => Some(v.get_ref().clone()),
            Some(v) => {
                self.error(v, field, "must not be empty");
                None
            }
            None => {
                self.error(kind, field, missing);
                None
            }
        }
    }

    fn source(
        &mut self,
        i: usize,
        spec: &crate::manifest::SourceSpec,
        interval: Duration,
    ) -> Option<SourcePlan> {
        let field = |name: &str| format!("sources[{i}].{name}");
        let set = [
            ("path", spec.path.as_ref().map(Spanned::span)),
            ("watch", spec.watch.map(|_| spec.kind.span())),
            ("address", spec.address.as_ref().map(Spanned::span)),
            ("records", spec.records.as_ref().map(Spanned::span)),
            ("rate", spec.rate.as_ref().map(Spanned::span)),
            (
                "record_bytes",
                spec.record_bytes.as_ref().map(Spanned::span),
            ),
            (
                "max_batch_records",
                spec.max_batch_records.as_ref().map(Spanned::span),
            ),
            ("bootstrap", spec.bootstrap.as_ref().map(Spanned::span)),
            ("topic", spec.topic.as_ref().map(Spanned::span)),
            ("group", spec.group.as_ref().map(Spanned::span)),
            ("start", spec.start.as_ref().map(Spanned::span)),
            (
                "max_rate_per_partition",
                spec.max_rate_per_partition.as_ref().map(Spanned::span),
            ),
        ];
        let applies: Option<&[&str]> = match spec.kind.get_ref().as_str() {
            "directory" => Some(&["path", "watch", "max_batch_records"]),
            "socket" => Some(&["address"]),
            "stdin" => Some(&[]),
            "generator" => Some(&["records", "rate", "record_bytes", "max_batch_records"]),
            "kafka" => Some(&[
                "bootstrap",
                "topic",
                "group",
                "start",
                "max_rate_per_partition",
            ]),
            _ => None,
        };
        self.inapplicable(&set, applies, spec.kind.get_ref(), "source", &field);
        let kind = match spec.kind.get_ref().as_str() {
            "directory" => match &spec.path {
                Some(path) if !self.path(path.get_ref()).is_dir() => {
                    let resolved = self.path(path.get_ref());
                    self.error(
                        path,
                        field("path"),
                        format!("no such directory: {}", resolved.display()),
                    );
                    return None;
                }
                Some(path) => SourceKind::Directory {
                    path: self.path(path.get_ref()),
                    watch: spec.watch.unwrap_or(true),
                },
                None => {
                    self.error(
                        &spec.kind,
                        field("path"),
                        "a directory source needs `path = \"folder\"`",
                    );
                    return None;
                }
            },
            "socket" => match &spec.address {
                Some(address) if address.get_ref().contains(':') => SourceKind::Socket {
                    address: address.get_ref().clone(),
                },
                Some(address) => {
                    self.error(
                        address,
                        field("address"),
                        format!("{:?} is not host:port", address.get_ref()),
                    );
                    return None;
                }
                None => {
                    self.error(
                        &spec.kind,
                        field("address"),
                        "a socket source needs `address = \"host:port\"`",
                    );
                    return None;
                }
            },
            "stdin" => SourceKind::Stdin,
            "kafka" => {
                let bootstrap = self.required(
                    &spec.bootstrap,
                    &spec.kind,
                    field("bootstrap"),
                    "a kafka source needs `bootstrap = \"host:port\"`",
                );
                let topic = self.required(
                    &spec.topic,
                    &spec.kind,
                    field("topic"),
                    "a kafka source needs `topic = \"name\"`",
                );
                let start = match spec.start.as_ref().map(|s| (s, s.get_ref().as_str())) {
                    None | Some((_, "latest")) => Start::Latest,
                    Some((_, "earliest")) => Start::Earliest,
                    Some((at, text)) => match text.parse::<i64>() {
                        Ok(ms) if ms >= 0 => Start::Timestamp(ms),
                        _ => {
                            self.error(at, field("start"), format!("{text:?} is not a start; use \"earliest\", \"latest\" or a time in milliseconds since the Unix epoch"));
                            Start::Latest
                        }
                    },
                };
                let group = spec.group.as_ref().map_or_else(
                    || {
                        format!(
                            "wasmstream-{}-{}",
                            self.manifest.pipeline.name.get_ref(),
                            spec.id.get_ref()
                        )
                    },
                    |g| g.get_ref().clone(),
                );
                SourceKind::Kafka(KafkaSource {
                    bootstrap: bootstrap?,
                    topic: topic?,
                    group,
                    start,
                    commit_offsets: true,
                })
            }
            "generator" => {
                let positive =
                    |this: &mut Self, value: &Option<Spanned<i64>>, name: &str| match value {
                        Some(v) if *v.get_ref() < 1 => {
                            this.error(v, field(name), "must be at least 1");
                            None
                        }
                        Some(v) => Some(*v.get_ref() as u64),
                        None => None,
                    };
                let records = positive(self, &spec.records, "records");
                let rate = positive(self, &spec.rate, "rate");
                let record_bytes =
                    positive(self, &spec.record_bytes, "record_bytes").unwrap_or(100) as usize;
                SourceKind::Generator {
                    records,
                    rate,
                    record_bytes,
                }
            }
            other => {
                self.error(
                    &spec.kind,
                    field("kind"),
                    format!(
                        "unknown source kind {other:?}; use directory, kafka, socket, stdin or generator"
                    ),
                );
                return None;
            }
        };
        let max_batch_records = match (&spec.max_batch_records, &spec.max_rate_per_partition) {
            (Some(n), _) | (_, Some(n)) if *n.get_ref() < 1 => {
                let name = match spec.max_batch_records {
                    Some(_) => "max_batch_records",
                    None => "max_rate_per_partition",
                };
                self.error(n, field(name), "must be at least 1");
                None
            }
            (Some(n), _) => Some(*n.get_ref() as usize),
            // Per partition per batch: the rate over one batch interval.
            (None, Some(rate)) => {
                let per_batch = *rate.get_ref() as f64 * interval.as_secs_f64();
                Some((per_batch.ceil() as usize).max(1))
            }
            (None, None) => None,
        };
        Some(SourcePlan {
            id: spec.id.get_ref().clone(),
            kind,
            max_batch_records,
        })
    }

    fn sink(&mut self, i: usize, spec: &crate::manifest::SinkSpec) -> Option<SinkPlan> {
        let field = |name: &str| format!("sinks[{i}].{name}");
        let set = [
            ("max_records", spec.max_records.as_ref().map(Spanned::span)),
            ("path", spec.path.as_ref().map(Spanned::span)),
            ("prefix", spec.prefix.as_ref().map(Spanned::span)),
            ("suffix", spec.suffix.as_ref().map(Spanned::span)),
            ("bootstrap", spec.bootstrap.as_ref().map(Spanned::span)),
            ("topic", spec.topic.as_ref().map(Spanned::span)),
            ("acks", spec.acks.as_ref().map(Spanned::span)),
            ("compression", spec.compression.as_ref().map(Spanned::span)),
            ("delivery", spec.delivery.as_ref().map(Spanned::span)),
        ];
        let applies: Option<&[&str]> = match spec.kind.get_ref().as_str() {
            "stdout" => Some(&["max_records"]),
            "files" => Some(&["path", "prefix", "suffix"]),
            "kafka" => Some(&["bootstrap", "topic", "acks", "compression", "delivery"]),
            _ => None,
        };
        self.inapplicable(&set, applies, spec.kind.get_ref(), "sink", &field);
        self.check_input(&spec.input, field("input"));
        let kind = match spec.kind.get_ref().as_str() {
            "stdout" => {
                let max_records = match &spec.max_records {
                    Some(n) if *n.get_ref() < 0 => {
                        self.error(n, field("max_records"), "must not be negative");
                        10
                    }
                    Some(n) => *n.get_ref() as usize,
                    None => 10,
                };
                SinkKind::Stdout { max_records }
            }
            "files" => {
                let Some(path) = &spec.path else {
                    self.error(
                        &spec.kind,
                        field("path"),
                        "a files sink needs `path = \"folder\"`",
                    );
                    return None;
                };
                let text = |v: &Option<Spanned<String>>, default: &str| {
                    v.as_ref()
                        .map_or(default.to_owned(), |v| v.get_ref().clone())
                };
                SinkKind::Files {
                    dir: self.path(path.get_ref()),
                    prefix: text(&spec.prefix, "batch"),
                    suffix: text(&spec.suffix, "txt"),
                }
            }
            "kafka" => {
                let bootstrap = self.required(
                    &spec.bootstrap,
                    &spec.kind,
                    field("bootstrap"),
                    "a kafka sink needs `bootstrap = \"host:port\"`",
                );
                let topic = self.required(
                    &spec.topic,
                    &spec.kind,
                    field("topic"),
                    "a kafka sink needs `topic = \"name\"`",
                );
                let mut choice = |value: &Option<Spanned<String>>,
                                  name: &str,
                                  default: &str,
                                  allowed: &[&str]| match value {
                    None => default.to_owned(),
                    Some(v) if allowed.contains(&v.get_ref().as_str()) => v.get_ref().clone(),
                    Some(v) => {
                        self.error(
                            v,
                            field(name),
                            format!("{:?} is not one of {}", v.get_ref(), allowed.join(", ")),
                        );
                        default.to_owned()
                    }
                };
                let acks = choice(&spec.acks, "acks", "all", &["all", "1", "0"]);
                let compression = choice(
                    &spec.compression,
                    "compression",
                    "none",
                    &["none", "gzip", "snappy", "lz4", "zstd"],
                );
                let delivery = match spec.delivery.as_ref().map(|d| (d, d.get_ref().as_str())) {
                    None | Some((_, "at-least-once")) => Delivery::AtLeastOnce,
                    Some((at, "exactly-once")) => self.exactly_once(at, spec, i)?,
                    Some((at, other)) => {
                        self.error(
                            at,
                            field("delivery"),
                            format!("{other:?} is not one of at-least-once, exactly-once"),
                        );
                        Delivery::AtLeastOnce
                    }
                };
                SinkKind::Kafka(KafkaSink {
                    bootstrap: bootstrap?,
                    topic: topic?,
                    acks,
                    compression,
                    delivery,
                })
            }
            other => {
                self.error(
                    &spec.kind,
                    field("kind"),
                    format!("unknown sink kind {other:?}; use stdout, files or kafka"),
                );
                return None;
            }
        };
        Some(SinkPlan {
            id: spec.id.get_ref().clone(),
            input: spec.input.get_ref().clone(),
            kind,
        })
    }

    /// Reports settings given that do nothing for this kind of source or
    /// sink, rather than silently ignoring them. `applies` is `None` for an
    /// unknown kind, which is reported on its own.
    fn inapplicable(
        &mut self,
        set: &[(&str, Option<Range<usize>>)],
        applies: Option<&[&str]>,
        kind: &str,
        what: &str,
        field: &dyn Fn(&str) -> String,
    ) {
        let Some(applies) = applies else { return };
        for (name, span) in set {
            if let Some(span) = span
                && !applies.contains(name)
            {
                self.errors.push(
                    Some(span.clone()),
                    field(name),
                    format!("`{name}` does not apply to a {kind} {what}; remove it"),
                );
            }
        }
    }

    fn check_input(&mut self, input: &Spanned<String>, field: String) {
        let m = self.manifest;
        let name = input.get_ref();
        let mut late_streams: Vec<String> = m
            .stages
            .iter()
            .filter(|s| s.time.as_ref().is_some_and(|t| t.get_ref() == "event"))
            .map(|s| late_stream(s.id.get_ref()))
            .collect();
        if m.pipeline
            .on_error
            .as_ref()
            .is_some_and(|e| e.get_ref() == "dead-letter")
        {
            late_streams.push(DEAD_LETTERS.to_owned());
        }
        let known: Vec<&str> = m
            .sources
            .iter()
            .map(|s| s.id.get_ref().as_str())
            .chain(m.stages.iter().map(|s| s.id.get_ref().as_str()))
            .chain(late_streams.iter().map(String::as_str))
            .collect();
        let broken = m.broken_ids.iter().map(String::as_str);
        if !known.iter().copied().chain(broken).any(|id| id == name) {
            self.error(
                input,
                field,
                format!(
                    "unknown input {name:?}; the sources and stages are: {}",
                    known.join(", ")
                ),
            );
        }
    }

    fn stages(
        &mut self,
        default_parallelism: usize,
        default_limits: Limits,
        interval: Duration,
    ) -> Vec<StagePlan> {
        let mut plans = Vec::new();
        for spec in &self.manifest.stages {
            let defaults = (default_parallelism, default_limits, interval);
            if let Some(plan) = self.stage(spec.position, spec, defaults) {
                plans.push(plan);
            }
        }
        self.order(plans)
    }

    fn stage(
        &mut self,
        i: usize,
        spec: &StageSpec,
        (default_parallelism, default_limits, interval): (usize, Limits, Duration),
    ) -> Option<StagePlan> {
        let field = |name: &str| format!("stages[{i}].{name}");
        let id = spec.id.get_ref().clone();
        let kind = spec.kind.get_ref().as_str();
        let inputs: Vec<&Spanned<String>> = match (kind, &spec.input, &spec.inputs) {
            ("union", None, Some(inputs)) if inputs.get_ref().len() >= 2 => {
                inputs.get_ref().iter().collect()
            }
            ("union", _, _) => {
                self.error(
                    &spec.kind,
                    field("inputs"),
                    "a union needs `inputs = [\"a\", \"b\"]` with two or more streams",
                );
                return None;
            }
            (_, Some(input), None) => vec![input],
            (_, _, Some(inputs)) => {
                self.error(
                    inputs,
                    field("inputs"),
                    "only a union takes `inputs`; use `input = \"...\"`",
                );
                return None;
            }
            (_, None, None) => {
                self.error(
                    &spec.id,
                    field("input"),
                    "missing `input = \"...\"` naming a source or stage",
                );
                return None;
            }
        };
        for input in &inputs {
            self.check_input(input, field("input"));
        }
        let parallelism = self
            .parallelism(spec.parallelism.as_ref(), &field("parallelism"))
            .unwrap_or(default_parallelism);
        let limits = self.limits(spec.limits.as_ref(), default_limits, &field("limits"));
        let ttl = match (&spec.ttl, kind) {
            (None, _) => None,
            (Some(ttl), "update_state_by_key") => match units::duration(ttl.get_ref()) {
                Ok(d) if d > Duration::ZERO => Some(d),
                Ok(_) => {
                    self.error(ttl, field("ttl"), "must be longer than 0ms");
                    None
                }
                Err(e) => {
                    self.error(ttl, field("ttl"), e);
                    None
                }
            },
            (Some(ttl), _) => {
                self.error(
                    ttl,
                    field("ttl"),
                    "only an update_state_by_key stage forgets idle keys; remove `ttl`",
                );
                None
            }
        };
        let windowed = matches!(
            kind,
            "window" | "reduce_by_key_and_window" | "count_by_value_and_window"
        );
        let window_fields = [
            ("window", spec.window.as_ref()),
            ("slide", spec.slide.as_ref()),
            ("time", spec.time.as_ref()),
            ("watermark", spec.watermark.as_ref()),
            ("allowed_lateness", spec.allowed_lateness.as_ref()),
        ];
        if !windowed {
            for (name, value) in window_fields {
                if let Some(value) = value {
                    self.error(
                        value,
                        field(name),
                        format!("`{name}` applies to window stages only; remove it"),
                    );
                }
            }
        }
        if let Some(inverse) = &spec.inverse
            && kind != "reduce_by_key_and_window"
        {
            self.error(
                inverse,
                field("inverse"),
                "only a reduce_by_key_and_window stage takes an `inverse`; remove it",
            );
        }
        let windowing = match windowed {
            true => Some(self.windowing(i, spec, interval)?),
            false => None,
        };
        let step = match kind {
            "union" => {
                self.no_component(i, spec, "a union runs no operator");
                Step::Union
            }
            "window" => {
                self.no_component(i, spec, "a window stage runs no operator");
                match windowing? {
                    Windowing::Batches { length, slide } => Step::Window { length, slide },
                    Windowing::EventTime(_) => {
                        let time = spec.time.as_ref().expect("event time is chosen by `time`");
                        self.error(
                            time,
                            field("time"),
                            "a window stage windows batches (processing time); for event time use reduce_by_key_and_window or count_by_value_and_window",
                        );
                        return None;
                    }
                }
            }
            "count_by_value_and_window" => {
                self.no_component(i, spec, "count_by_value_and_window counts by itself");
                Step::CountByValueAndWindow(windowing?)
            }
            _ => {
                let expected = match kind {
                    "map" => OperatorKind::Map,
                    "filter" => OperatorKind::Filter,
                    "flat_map" => OperatorKind::FlatMap,
                    "reduce_by_key" | "reduce_by_key_and_window" => OperatorKind::Reduce,
                    "update_state_by_key" => OperatorKind::UpdateState,
                    other => {
                        self.error(&spec.kind, field("kind"), format!("unknown stage kind {other:?}; use map, filter, flat_map, reduce_by_key, update_state_by_key, union, window, reduce_by_key_and_window or count_by_value_and_window"));
                        return None;
                    }
                };
                let Some(component) = &spec.component else {
                    self.error(
                        &spec.id,
                        field("component"),
                        format!("a {kind} stage needs `component = \"path/to/operator.wasm\"`"),
                    );
                    return None;
                };
                let operator = self.operator(i, spec, component, "component", expected, limits);
                let inverse = spec.inverse.as_ref().map(|inverse| {
                    self.operator(i, spec, inverse, "inverse", OperatorKind::Reduce, limits)
                });
                let operator = operator?;
                match expected {
                    OperatorKind::Map => Step::Map(operator),
                    OperatorKind::Filter => Step::Filter(operator),
                    OperatorKind::FlatMap => Step::FlatMap(operator),
                    OperatorKind::Reduce if kind == "reduce_by_key" => Step::ReduceByKey(operator),
                    OperatorKind::Reduce => Step::ReduceByKeyAndWindow {
                        reduce: operator,
                        inverse: match inverse {
                            Some(inverse) => Some(inverse?),
                            None => None,
                        },
                        windowing: windowing?,
                    },
                    OperatorKind::UpdateState => Step::UpdateStateByKey(operator, ttl),
                }
            }
        };
        let shadow = match (&spec.shadow, step.operator()) {
            (None, _) => None,
            (Some(shadow), Some(Operator::Wasm(live))) => {
                let kind = live.plugin.kind();
                self.operator(i, spec, shadow, "shadow", kind, live.limits)
            }
            (Some(shadow), _) => {
                self.error(
                    shadow,
                    format!("stages[{i}].shadow"),
                    format!("a {kind} stage runs no operator to shadow; remove `shadow`"),
                );
                None
            }
        };
        Some(StagePlan {
            id,
            inputs: inputs.iter().map(|s| s.get_ref().clone()).collect(),
            step,
            parallelism,
            shadow,
        })
    }

    /// Reports a `component` or `inverse` on a stage that runs no operator.
    fn no_component(&mut self, i: usize, spec: &StageSpec, why: &str) {
        if let Some(component) = &spec.component {
            self.error(
                component,
                format!("stages[{i}].component"),
                format!("{why}; remove `component`"),
            );
        }
    }

    /// The windowing of a window stage: lengths checked against the batch
    /// interval (processing time) or each other (event time).
    fn windowing(&mut self, i: usize, spec: &StageSpec, interval: Duration) -> Option<Windowing> {
        let field = |f: &str| format!("stages[{i}].{f}");
        let Some(window) = &spec.window else {
            self.error(
                &spec.kind,
                field("window"),
                format!("a {} stage needs `window = \"60s\"`", spec.kind.get_ref()),
            );
            return None;
        };
        let length = self.positive_duration(window, field("window"));
        let slide = spec
            .slide
            .as_ref()
            .map(|slide| (slide, self.positive_duration(slide, field("slide"))));
        let event = match spec.time.as_ref().map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "processing")) => false,
            Some((_, "event")) => true,
            Some((time, other)) => {
                self.error(
                    time,
                    field("time"),
                    format!("{other:?} is not a time; use \"processing\" or \"event\""),
                );
                return None;
            }
        };
        let length = length?;
        let show = units::show_duration;
        if !event {
            for (name, value) in [
                ("watermark", &spec.watermark),
                ("allowed_lateness", &spec.allowed_lateness),
            ] {
                if let Some(value) = value {
                    self.error(
                        value,
                        field(name),
                        format!("`{name}` applies to event-time windows; set `time = \"event\"` or remove it"),
                    );
                }
            }
            let slide = match slide {
                Some((at, slide)) => (at, slide?),
                None => (window, interval),
            };
            let mut whole = true;
            for (name, at, d) in [("window", window, length), ("slide", slide.0, slide.1)] {
                if d.as_millis() % interval.as_millis() != 0 {
                    whole = false;
                    let below = d.as_millis() / interval.as_millis() * interval.as_millis();
                    let above = below + interval.as_millis();
                    let nearest = match below {
                        0 => show(Duration::from_millis(above as u64)),
                        _ => format!(
                            "{} or {}",
                            show(Duration::from_millis(below as u64)),
                            show(Duration::from_millis(above as u64))
                        ),
                    };
                    self.error(
                        at,
                        field(name),
                        format!(
                            "{} is not a multiple of the batch interval {}; a processing-time window covers whole batches (try {nearest})",
                            show(d),
                            show(interval)
                        ),
                    );
                }
            }
            if slide.1 > length {
                self.error(
                    slide.0,
                    field("slide"),
                    format!(
                        "the slide {} is longer than the window {}; records between two windows would be in none",
                        show(slide.1),
                        show(length)
                    ),
                );
                return None;
            }
            if !whole {
                return None;
            }
            let batches = |d: Duration| (d.as_millis() / interval.as_millis()) as u32;
            return Some(Windowing::Batches {
                length: batches(length),
                slide: batches(slide.1),
            });
        }
        if let Some(inverse) = &spec.inverse {
            self.error(
                inverse,
                field("inverse"),
                "an inverse applies to processing-time windows only; each event-time window is folded on its own",
            );
        }
        let slide = match slide {
            Some((at, slide)) => (at, slide?),
            None => (window, length),
        };
        if slide.1 > length || length.as_millis() % slide.1.as_millis() != 0 {
            self.error(
                slide.0,
                field("slide"),
                format!(
                    "the window {} is not a multiple of the slide {}; every record must fall in the same number of windows",
                    show(length),
                    show(slide.1)
                ),
            );
            return None;
        }
        let mut at_least_zero = |value: &Option<Spanned<String>>, name: &str| match value {
            None => Some(0),
            Some(text) => match units::duration(text.get_ref()) {
                Ok(d) => Some(d.as_millis() as i64),
                Err(e) => {
                    self.error(text, field(name), e);
                    None
                }
            },
        };
        let delay = at_least_zero(&spec.watermark, "watermark");
        let lateness = at_least_zero(&spec.allowed_lateness, "allowed_lateness");
        Some(Windowing::EventTime(EventTime {
            length: length.as_millis() as i64,
            slide: slide.1.as_millis() as i64,
            delay: delay?,
            lateness: lateness?,
        }))
    }

    fn positive_duration(&mut self, text: &Spanned<String>, field: String) -> Option<Duration> {
        match units::duration(text.get_ref()) {
            Ok(d) if d > Duration::ZERO => Some(d),
            Ok(_) => {
                self.error(text, field, "must be longer than 0ms");
                None
            }
            Err(e) => {
                self.error(text, field, e);
                None
            }
        }
    }

    /// Loads the component at `component` (the stage's field `name`),
    /// checks its kind and runs its `init` on the stage's params.
    fn operator(
        &mut self,
        i: usize,
        spec: &StageSpec,
        component: &Spanned<String>,
        name: &str,
        expected: OperatorKind,
        limits: Limits,
    ) -> Option<Operator> {
        let field = |f: &str| format!("stages[{i}].{f}");
        let params = self.params(i, spec.params.as_ref())?;
        let path = self.path(component.get_ref());
        if !path.is_file() {
            let hint = if spec.build.is_some() {
                "; run `wasmstream build` on this manifest to build it"
            } else {
                ""
            };
            self.error(
                component,
                field(name),
                format!("no such file: {}{hint}", path.display()),
            );
            return None;
        }
        let plugin = match self.runtime.load(&path) {
            Ok(plugin) => plugin,
            Err(e) => {
                self.error(component, field(name), e.to_string());
                return None;
            }
        };
        if plugin.kind() != expected {
            let file = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
            self.error(
                component,
                field(name),
                match name {
                    "component" => format!("{file} is a {} operator, but the stage's kind is {:?}, which needs a {expected} operator", plugin.kind(), spec.kind.get_ref()),
                    "shadow" => format!("{file} is a {} operator, but it shadows a {expected} operator", plugin.kind()),
                    _ => format!("{file} is a {} operator, but an inverse must be a {expected} operator", plugin.kind()),
                },
            );
            return None;
        }
        let label: Arc<str> = format!(
            "{}/{}",
            self.manifest.pipeline.name.get_ref(),
            spec.id.get_ref()
        )
        .into();
        if let Err(e) = plugin.instantiate(label, limits, &params) {
            let at: Range<usize> = spec.params.as_ref().map_or(component.span(), |p| p.span());
            self.errors.push(
                Some(at),
                field("params"),
                format!("operator {} {e}", path.display()),
            );
            return None;
        }
        Some(Operator::wasm(plugin, params, limits))
    }

    fn params(
        &mut self,
        i: usize,
        params: Option<&Spanned<BTreeMap<String, toml::Value>>>,
    ) -> Option<Vec<(String, String)>> {
        let Some(params) = params else {
            return Some(Vec::new());
        };
        let mut pairs = Vec::new();
        for (name, value) in params.get_ref() {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(x) => x.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    self.error(
                        params,
                        format!("stages[{i}].params.{name}"),
                        "params are strings, numbers or booleans",
                    );
                    return None;
                }
            };
            pairs.push((name.clone(), text));
        }
        Some(pairs)
    }

    /// Sorts stages so each comes after its inputs; reports cycles.
    fn order(&mut self, mut pending: Vec<StagePlan>) -> Vec<StagePlan> {
        let mut done: Vec<StagePlan> = Vec::new();
        // A stage is ready when none of its inputs is a stage still waiting.
        while let Some(i) = pending.iter().position(|stage| {
            stage
                .inputs
                .iter()
                .all(|input| pending.iter().all(|p| &p.id != input))
        }) {
            done.push(pending.remove(i));
        }
        if !pending.is_empty() {
            let ids: Vec<_> = pending.iter().map(|s| s.id.as_str()).collect();
            let spec = self
                .manifest
                .stages
                .iter()
                .find(|s| s.id.get_ref() == ids[0])
                .expect("a pending stage has a spec");
            let index = spec.position;
            let cycle = format!(
                "stages {} form a cycle; a stage cannot read its own output",
                ids.iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.error(&spec.id, format!("stages[{index}].input"), cycle);
        }
        done
    }
}
