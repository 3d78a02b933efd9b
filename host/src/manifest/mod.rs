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
//!                           # count_by_value | window | reduce_by_key_and_window
//!                           # count_by_value_and_window
//! input = "lines"
//! component = "../../target/wasm32-wasip2/release/split_words.wasm"
//!
//! [[sinks]]
//! id = "console"
//! kind = "stdout"           # stdout | files
//! input = "words"
//! ```

mod error;
pub mod kinds;
mod parse;
pub mod units;

use std::path::PathBuf;

use serde::Deserialize;
pub use toml::Spanned;

pub(crate) use error::Collector;
pub use error::{ManifestError, ManifestErrors};
pub use kinds::{SinkSettings, SourceSettings, StageSettings};
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
    /// Entries left out because their shape was wrong (already reported),
    /// so that entries naming them are not reported again and a section
    /// holding only broken entries is not reported as missing.
    pub broken: Vec<Broken>,
}

/// An entry left out of a [`Manifest`] because its shape was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// `sources`, `stages` or `sinks`.
    pub section: &'static str,
    /// Where it is among its section's entries, from 0.
    pub position: usize,
    /// Its id, if it had a readable one.
    pub id: Option<String>,
}

impl Manifest {
    /// Whether section `name` has entries, readable or not.
    pub fn has(&self, section: &str) -> bool {
        let readable = match section {
            "sources" => !self.sources.is_empty(),
            "stages" => !self.stages.is_empty(),
            _ => !self.sinks.is_empty(),
        };
        readable || self.broken.iter().any(|b| b.section == section)
    }

    /// The ids of section `name`'s entries in file order, readable or not.
    pub fn ids_in(&self, section: &str) -> Vec<&str> {
        let readable: Vec<(usize, &str)> = match section {
            "sources" => self
                .sources
                .iter()
                .map(|s| (s.position, s.id.get_ref().as_str()))
                .collect(),
            "stages" => self
                .stages
                .iter()
                .map(|s| (s.position, s.id.get_ref().as_str()))
                .collect(),
            _ => self
                .sinks
                .iter()
                .map(|s| (s.position, s.id.get_ref().as_str()))
                .collect(),
        };
        let broken = self.broken.iter().filter(|b| b.section == section);
        let mut all: Vec<(usize, &str)> = broken
            .filter_map(|b| Some((b.position, b.id.as_deref()?)))
            .chain(readable)
            .collect();
        all.sort_by_key(|(position, _)| *position);
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// Whether `id` names an entry left out as broken.
    pub fn is_broken(&self, id: &str) -> bool {
        self.broken.iter().any(|b| b.id.as_deref() == Some(id))
    }
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
    /// When batches are cut: `trigger = "interval"` (default), one batch
    /// every `batch_interval`; `"available-now"` (Spark's
    /// `Trigger.AvailableNow`), the input there at start in batches as
    /// fast as they run, no waiting for ticks, then stop. Every source
    /// must end: a directory source reads the files there at start.
    pub trigger: Option<Spanned<String>>,
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
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Where this entry is among its section's entries in the file, from 0
    /// (kept when other entries fail to parse, so errors name the right one).
    pub position: usize,
    /// Unique id other entries name as `input`: `id = "lines"`.
    pub id: Spanned<String>,
    /// The kind, as written: `kind = "directory"`.
    pub kind: Spanned<String>,
    /// The kind's own settings.
    pub settings: SourceSettings,
}

/// `[[stages]]`: one operator step.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// Where this entry is among its section's entries in the file.
    pub position: usize,
    /// Unique id: `id = "words"`.
    pub id: Spanned<String>,
    /// The kind, as written: `kind = "flat_map"`.
    pub kind: Spanned<String>,
    /// The source or stage this one reads: `input = "lines"`.
    pub input: Option<Spanned<String>>,
    /// union: the streams to merge: `inputs = ["a", "b"]`.
    pub inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// Partitions this stage runs over: `parallelism = 4`.
    pub parallelism: Option<Spanned<i64>>,
    /// The kind's own settings.
    pub settings: StageSettings,
}

/// How to build a stage's component.
///
/// ```toml
/// build = { command = "cargo build --release --target wasm32-wasip2", workdir = "../my-op" }
/// build = { lang = "python", workdir = "../my-op" }   # app.py, into the stage's `component`
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The operator's language: `"rust"` (the default) runs `command`;
    /// `"python"` builds `app.py` in `workdir` with componentize-py, and
    /// `"js"` builds `app.js` with componentize-js (each installed into the
    /// user's cache the first time), into the stage's `component`.
    pub lang: Option<Lang>,
    /// Rust: shell command to run; default
    /// `cargo build --release --target wasm32-wasip2`.
    pub command: Option<String>,
    /// Directory to run it in, relative to the manifest; default the
    /// manifest's directory.
    pub workdir: Option<String>,
}

/// A language `wasmstream build` builds operators in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// A crate using the Rust SDK (`guest-sdk`).
    Rust,
    /// An `app.py` using the Python SDK (`guest-sdk/python`).
    Python,
    /// An `app.js` using the JavaScript SDK (`guest-sdk/js`).
    Js,
    /// `.c` files using the C SDK (`guest-sdk/c/wasmstream.h`).
    C,
}

/// `[[sinks]]`: where a stream's records go.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// Where this entry is among its section's entries in the file.
    pub position: usize,
    /// Unique id: `id = "console"`.
    pub id: Spanned<String>,
    /// The kind, as written: `kind = "files"`.
    pub kind: Spanned<String>,
    /// The source or stage whose output this writes: `input = "counts"`.
    pub input: Spanned<String>,
    /// The kind's own settings.
    pub settings: SinkSettings,
}
