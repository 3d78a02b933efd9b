//! The pipeline manifest: what the user wrote, as written.
//!
//! This is only the schema and its parser. Nothing here is checked beyond
//! its shape; [`crate::plan`] resolves paths, loads components and checks
//! the graph. Every field keeps its place in the file ([`Spanned`]) so that
//! an error can name the line.
//!
//! ```toml
//! [pipeline]
//! name = "wordcount"
//! batch_interval = "1s"     # 10ms or more; default 1s
//! on_error = "stop"         # or "skip": drop a failed batch and count it;
//!                           # or "dead-letter": rejected records to the stream `dead-letters`
//! parallelism = 1           # default partitions per stage
//!
//! [[sources]]
//! id = "lines"
//! kind = "directory"        # directory | socket | stdin | generator
//! path = "data"
//!
//! [[stages]]
//! id = "words"
//! kind = "flat_map"         # map | filter | flat_map | reduce_by_key | update_state_by_key | union
//!                           # window | reduce_by_key_and_window | count_by_value_and_window
//! input = "lines"
//! component = "../../target/wasm32-wasip2/release/split_words.wasm"
//!
//! [[sinks]]
//! id = "console"
//! kind = "stdout"           # stdout | files
//! input = "words"
//! ```

mod error;
mod parse;
pub mod units;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
pub use toml::Spanned;

pub(crate) use error::Collector;
pub use error::{ManifestError, ManifestErrors};
pub(crate) use parse::parse_lenient;
pub use parse::{load, parse};

/// A whole manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from; relative paths inside resolve against its
    /// directory.
    pub file: PathBuf,
    /// The file's text, to turn spans into line numbers.
    pub text: String,
    /// `[pipeline]`.
    pub pipeline: PipelineSection,
    /// `[[sources]]`.
    pub sources: Vec<SourceSpec>,
    /// `[[stages]]`.
    pub stages: Vec<StageSpec>,
    /// `[[sinks]]`.
    pub sinks: Vec<SinkSpec>,
    /// Ids of entries left out because their shape was wrong (already
    /// reported), so that entries naming them are not reported again.
    pub broken_ids: Vec<String>,
}

/// `[pipeline]`: settings for the whole pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// The pipeline's name, used in logs and errors: `name = "wordcount"`.
    pub name: Spanned<String>,
    /// How often a batch is cut: `batch_interval = "500ms"`. Default `1s`,
    /// at least `10ms`.
    pub batch_interval: Option<Spanned<String>>,
    /// What a failed batch does: `on_error = "stop"` (default) ends the
    /// pipeline with the error; `"skip"` drops the batch and counts it;
    /// `"dead-letter"` takes each record an operator rejects out of the
    /// batch and sends it to the stream `dead-letters` (with the stage and
    /// error as headers), which a sink must read.
    pub on_error: Option<Spanned<String>>,
    /// Default partitions per stage: `parallelism = 4`. Default 1.
    pub parallelism: Option<Spanned<i64>>,
    /// Default limits for every stage: `limits = { memory = "64MiB", cpu = "1s" }`.
    pub limits: Option<LimitsSpec>,
    /// Adapt how many records the pull sources offer each batch to how
    /// fast batches are processed, so the scheduling delay stays bounded
    /// (Spark's `backpressure.enabled`, its PID estimator): `backpressure =
    /// true`. Default false.
    pub backpressure: Option<bool>,
    /// Memory for per-key state, per partition of each stateful stage:
    /// `state_memory = "256MiB"` (default). Beyond it, the keys idle the
    /// longest spill to disk and are read back when needed.
    pub state_memory: Option<Spanned<String>>,
    /// Where and how often to checkpoint, so a restarted run resumes where
    /// it stopped: `checkpoint = { dir = "checkpoints", every = 10 }`.
    /// Default: no checkpoints; every run starts from nothing.
    pub checkpoint: Option<CheckpointSpec>,
    /// Hot reload: `reload = { watch = true, probation = 3, debounce =
    /// "100ms" }` (the defaults). `run` watches the manifest and every
    /// component it names; a changed component is checked, dry-run on the
    /// last batch's input, and swapped in at the next batch boundary. A
    /// new version that fails one of its first `probation` batches is
    /// rolled back and the batch run again on the old one.
    pub reload: Option<ReloadSpec>,
}

/// Hot reload settings of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadSpec {
    /// Whether `run` watches the files at all (default true).
    pub watch: Option<bool>,
    /// Batches a new version must run without failing before it is kept
    /// (default 3).
    pub probation: Option<Spanned<i64>>,
    /// How long a file must stay unchanged before it is read, so editors'
    /// and builds' several writes count as one change (default `100ms`).
    pub debounce: Option<Spanned<String>>,
}

/// Checkpointing of a pipeline.
///
/// ```toml
/// checkpoint = { dir = "checkpoints", every = 10 }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSpec {
    /// The folder for checkpoints and the intent log, relative to the
    /// manifest. One pipeline per folder.
    pub dir: Spanned<String>,
    /// Batches between two checkpoints (default 10). A crash replays at
    /// most this many batches.
    pub every: Option<Spanned<i64>>,
}

/// Per-call resource limits of an operator.
///
/// ```toml
/// limits = { memory = "32MiB", cpu = "200ms" }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Most linear memory an instance may use: `"64MiB"` (default).
    pub memory: Option<Spanned<String>>,
    /// Longest one batch may run in one partition: `"1s"` (default).
    pub cpu: Option<Spanned<String>>,
}

/// `[[sources]]`: where records come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Where this entry is among its section's entries in the file, from 0
    /// (kept when other entries fail to parse, so errors name the right one).
    #[serde(skip)]
    pub position: usize,
    /// Unique id other entries name as `input`: `id = "lines"`.
    pub id: Spanned<String>,
    /// `"directory"`, `"socket"`, `"stdin"` or `"generator"`.
    pub kind: Spanned<String>,
    /// directory: the folder to read text files from, one record per line:
    /// `path = "data"`.
    pub path: Option<Spanned<String>>,
    /// directory: keep watching for new files (`true`, default) or read the
    /// files there and end (`false`).
    pub watch: Option<bool>,
    /// socket: `host:port` to connect to and read lines from:
    /// `address = "127.0.0.1:9999"`.
    pub address: Option<Spanned<String>>,
    /// generator: how many records to make, then end (default: no end).
    pub records: Option<Spanned<i64>>,
    /// generator: records per second (default: as fast as batches take them).
    pub rate: Option<Spanned<i64>>,
    /// generator: size of each record's value in bytes (default 100).
    pub record_bytes: Option<Spanned<i64>>,
    /// kafka: the brokers to connect to: `bootstrap = "127.0.0.1:9092"`.
    pub bootstrap: Option<Spanned<String>>,
    /// kafka: the topic to read: `topic = "access-log"`.
    pub topic: Option<Spanned<String>>,
    /// kafka: the consumer group progress is committed to, for lag tools
    /// (default `wasmstream-<pipeline>-<source id>`).
    pub group: Option<Spanned<String>>,
    /// kafka: where to start without a checkpoint: `"earliest"`,
    /// `"latest"` (default) or a time in milliseconds since the Unix epoch.
    pub start: Option<Spanned<String>>,
    /// kafka: the most records per second one batch takes from each
    /// partition (Spark's `maxRatePerPartition`); default no limit.
    pub max_rate_per_partition: Option<Spanned<i64>>,
    /// directory, generator: the most records one batch takes from this
    /// source (like Structured Streaming's `maxOffsetsPerTrigger`); the
    /// rest waits for the next batches. Default: no limit but the batch
    /// size cap (256 MiB).
    pub max_batch_records: Option<Spanned<i64>>,
}

/// `[[stages]]`: one operator step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Where this entry is among its section's entries in the file, from 0
    /// (kept when other entries fail to parse, so errors name the right one).
    #[serde(skip)]
    pub position: usize,
    /// Unique id: `id = "words"`.
    pub id: Spanned<String>,
    /// `"map"`, `"filter"`, `"flat_map"`, `"reduce_by_key"`,
    /// `"update_state_by_key"`, `"union"`, `"window"`,
    /// `"reduce_by_key_and_window"` or `"count_by_value_and_window"`.
    pub kind: Spanned<String>,
    /// The source or stage this one reads: `input = "lines"`.
    pub input: Option<Spanned<String>>,
    /// union: the streams to merge: `inputs = ["a", "b"]`.
    pub inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// The operator's `.wasm` component, relative to the manifest:
    /// `component = "plugins/lowercase.wasm"`. Not used by `union`.
    pub component: Option<Spanned<String>>,
    /// Parameters handed to the operator's `init`, as strings:
    /// `params = { field = "status", equals = "500" }`.
    pub params: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// Partitions this stage runs over: `parallelism = 4`.
    pub parallelism: Option<Spanned<i64>>,
    /// update_state_by_key: forget a key (after one last call with
    /// `timing-out`) when it has had no records for this long, measured in
    /// batch time: `ttl = "30s"`. Default: keys are kept forever.
    pub ttl: Option<Spanned<String>>,
    /// Window kinds: how much the window covers: `window = "60s"`. In
    /// processing time, a multiple of the batch interval.
    pub window: Option<Spanned<String>>,
    /// Window kinds: how often the window moves on: `slide = "10s"`.
    /// Default: the batch interval in processing time, the window length in
    /// event time (tumbling windows).
    pub slide: Option<Spanned<String>>,
    /// reduce_by_key_and_window (processing time): a reduce component that
    /// takes values back out, e.g. subtract for sum:
    /// `inverse = "plugins/subtract.wasm"`. Each slide then costs the
    /// batches entering and leaving the window, not the whole window. Gets
    /// the stage's `params` too.
    pub inverse: Option<Spanned<String>>,
    /// A candidate version of `component`, run beside it on the same
    /// batches with the same params; its output is compared with the live
    /// output, reported, and discarded: `shadow = "candidate.wasm"`.
    /// `wasmstream promote` makes it live.
    pub shadow: Option<Spanned<String>>,
    /// Window kinds: `"processing"` (default) windows batches as they
    /// arrive; `"event"` windows records by their own timestamps.
    pub time: Option<Spanned<String>>,
    /// Event time: how far out of order records may arrive; the watermark
    /// trails the latest timestamp seen by this much: `watermark = "5s"`.
    /// Default `0s`.
    pub watermark: Option<Spanned<String>>,
    /// Event time: how long after the watermark passes a window's end
    /// records for it are still taken (and the window emitted again);
    /// later records go to the side output `<stage id>.late`:
    /// `allowed_lateness = "30s"`. Default `0s`.
    pub allowed_lateness: Option<Spanned<String>>,
    /// Overrides the pipeline's limits for this stage.
    pub limits: Option<LimitsSpec>,
    /// How `wasmstream build` makes the component:
    /// `build = { workdir = "plugins/lowercase" }`.
    pub build: Option<BuildSpec>,
}

/// How to build a stage's component.
///
/// ```toml
/// build = { command = "cargo build --release --target wasm32-wasip2", workdir = "../my-op" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Shell command to run; default
    /// `cargo build --release --target wasm32-wasip2`.
    pub command: Option<String>,
    /// Directory to run it in, relative to the manifest; default the
    /// manifest's directory.
    pub workdir: Option<String>,
}

/// `[[sinks]]`: where a stream's records go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// Where this entry is among its section's entries in the file, from 0
    /// (kept when other entries fail to parse, so errors name the right one).
    #[serde(skip)]
    pub position: usize,
    /// Unique id: `id = "console"`.
    pub id: Spanned<String>,
    /// `"stdout"` or `"files"`.
    pub kind: Spanned<String>,
    /// The source or stage whose output this writes: `input = "counts"`.
    pub input: Spanned<String>,
    /// stdout: records printed per batch (default 10, like Spark's `pprint`).
    pub max_records: Option<Spanned<i64>>,
    /// files: the directory to write one file per batch into:
    /// `path = "out"`.
    pub path: Option<Spanned<String>>,
    /// files: file name prefix (default `"batch"`); files are named
    /// `<prefix>-<batch id>.<suffix>`.
    pub prefix: Option<Spanned<String>>,
    /// files: file name suffix (default `"txt"`).
    pub suffix: Option<Spanned<String>>,
    /// kafka: the brokers to connect to: `bootstrap = "127.0.0.1:9092"`.
    pub bootstrap: Option<Spanned<String>>,
    /// kafka: the topic to write: `topic = "counts"`.
    pub topic: Option<Spanned<String>>,
    /// kafka: `acks = "all"` (default), `"1"` or `"0"`.
    pub acks: Option<Spanned<String>>,
    /// kafka: `compression = "none"` (default), `"gzip"`, `"snappy"`,
    /// `"lz4"` or `"zstd"`.
    pub compression: Option<Spanned<String>>,
    /// kafka: `delivery = "at-least-once"` (default: fast; a batch replayed
    /// after a crash is written again) or `"exactly-once"` (each batch's
    /// output and input offsets commit in one Kafka transaction, so
    /// `read_committed` consumers never see a record twice; needs the
    /// pipeline's `checkpoint`).
    pub delivery: Option<Spanned<String>>,
}
