//! Each kind of source, stage and sink with the settings it takes, as
//! typed structs: a setting a kind does not take has no field to land in.
//!
//! An entry is read in two steps ([`super::parse`]): its `id`, `kind` and
//! the settings every kind of its section shares, then the rest as the
//! settings of the kind it names. A setting that another kind takes is
//! reported as not applying to this one; one that no kind takes as an
//! unknown field. (`toml`'s spans do not survive serde's internally tagged
//! enums, so the `kind` tag is dispatched here rather than by serde.)

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;
use toml::de::ValueDeserializer;

use super::{BuildSpec, LimitsSpec};

/// The settings of one section's kinds.
pub(crate) trait Settings: Sized {
    /// What the section's entries are, as errors name them: `"source"`.
    const WHAT: &'static str;
    /// Each kind, as a manifest names it.
    const KINDS: &'static [&'static str];
    /// The settings `kind` takes, or `None` for no such kind.
    fn fields(kind: &str) -> Option<&'static [&'static str]>;
    /// Reads `kind`'s settings.
    fn read(kind: &str, value: ValueDeserializer<'_>) -> Result<Self, toml::de::Error>;
    /// Why `key`, which another kind takes, is not for `kind`, where there
    /// is more to say than that it does not apply.
    fn misplaced(_kind: &str, _key: &str) -> Option<String> {
        None
    }
}

/// Implements [`Settings`] for an enum with one variant per kind.
macro_rules! settings {
    ($enum:ident, $what:literal, { $($name:literal => $variant:ident($ty:ty)),* $(,)? } $(, misplaced = $misplaced:path)?) => {
        impl Settings for $enum {
            const WHAT: &'static str = $what;
            const KINDS: &'static [&'static str] = &[$($name),*];

            fn fields(kind: &str) -> Option<&'static [&'static str]> {
                match kind {
                    $($name => Some(fields_of::<$ty>()),)*
                    _ => None,
                }
            }

            fn read(kind: &str, value: ValueDeserializer<'_>) -> Result<Self, toml::de::Error> {
                match kind {
                    $($name => <$ty>::deserialize(value).map($enum::$variant),)*
                    other => Err(de::Error::custom(format!("unknown {} kind {other:?}", $what))),
                }
            }

            $(fn misplaced(kind: &str, key: &str) -> Option<String> {
                $misplaced(kind, key)
            })?
        }
    };
}

/// The keys a struct's `Deserialize` reads, asked of the struct itself so
/// no list is kept by hand.
pub(crate) fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields(Option<&'static [&'static str]>);
    impl<'de> Deserializer<'de> for &mut Fields {
        type Error = de::value::Error;
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(fields);
            Err(de::Error::custom("only the fields were wanted"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.unwrap_or(&[])
}

/// A source's settings, by kind.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// Text files in a folder, one record per line.
    Directory(DirectorySettings),
    /// Lines from a TCP server.
    Socket(SocketSettings),
    /// Lines from standard input.
    Stdin(StdinSettings),
    /// Made-up records, for trying things out and benchmarks.
    Generator(GeneratorSettings),
    /// A Kafka topic.
    Kafka(KafkaSourceSettings),
}

settings!(SourceSettings, "source", {
    "directory" => Directory(DirectorySettings),
    "kafka" => Kafka(KafkaSourceSettings),
    "socket" => Socket(SocketSettings),
    "stdin" => Stdin(StdinSettings),
    "generator" => Generator(GeneratorSettings),
});

/// `kind = "directory"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// The folder to read text files from: `path = "data"`.
    pub path: Option<Spanned<String>>,
    /// Keep watching for new files (`true`, default) or read the files
    /// there and end (`false`).
    pub watch: Option<bool>,
    /// The most records one batch takes (like Structured Streaming's
    /// `maxOffsetsPerTrigger`); the rest waits for the next batches.
    /// Default: no limit but the batch size cap (256 MiB).
    pub max_batch_records: Option<Spanned<i64>>,
    /// Lines are JSON objects, and this field of each (dots reach into
    /// nested objects) becomes its record's key.
    pub key_field: Option<Spanned<String>>,
    /// Lines are JSON objects, and this field of each, an integer of
    /// milliseconds since the Unix epoch, becomes its record's event time.
    pub timestamp_field: Option<Spanned<String>>,
}

/// `kind = "socket"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketSettings {
    /// `host:port` to connect to and read lines from:
    /// `address = "127.0.0.1:9999"`. A record per line, sent on as soon as
    /// its newline arrives; a line over 1 MiB is split into records of
    /// 1 MiB. A connection that fails (a reset) is made again, the lines
    /// received on it kept; one the server closes ends the source.
    pub address: Option<Spanned<String>>,
}

/// `kind = "stdin"`: takes no settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinSettings {}

/// `kind = "generator"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSettings {
    /// How many records to make, then end (default: no end).
    pub records: Option<Spanned<i64>>,
    /// Records per second (default: as fast as batches take them).
    pub rate: Option<Spanned<i64>>,
    /// Size of each record's value in bytes (default 100).
    pub record_bytes: Option<Spanned<i64>>,
    /// The most records one batch takes, as for a directory.
    pub max_batch_records: Option<Spanned<i64>>,
}

/// `kind = "kafka"` (a source).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceSettings {
    /// The brokers to connect to: `bootstrap = "127.0.0.1:9092"`.
    pub bootstrap: Option<Spanned<String>>,
    /// The topic to read: `topic = "access-log"`.
    pub topic: Option<Spanned<String>>,
    /// The consumer group progress is committed to, for lag tools (default
    /// `wasmstream-<pipeline>-<source id>`).
    pub group: Option<Spanned<String>>,
    /// Where to start without a checkpoint: `"earliest"`, `"latest"`
    /// (default) or a time in milliseconds since the Unix epoch.
    pub start: Option<Spanned<String>>,
    /// The most records per second one batch takes from each partition
    /// (Spark's `maxRatePerPartition`); default no limit.
    pub max_rate_per_partition: Option<Spanned<i64>>,
}

/// A stage's settings, by kind.
#[derive(Debug, Clone)]
pub enum StageSettings {
    /// One record in, one out.
    Map(OperatorSettings),
    /// Keep or drop.
    Filter(OperatorSettings),
    /// One in, zero or more out.
    FlatMap(OperatorSettings),
    /// Fold each key's values.
    ReduceByKey(OperatorSettings),
    /// Count each value.
    CountByValue(CountSettings),
    /// Per-key state across batches.
    UpdateStateByKey(UpdateStateSettings),
    /// Per-key state over event time, with timers.
    ProcessByKey(ProcessSettings),
    /// Merge streams (`inputs`).
    Union(UnionSettings),
    /// The records of the last batches.
    Window(WindowSettings),
    /// Fold each key's values over a window.
    ReduceByKeyAndWindow(WindowedReduceSettings),
    /// Count each value over a window.
    CountByValueAndWindow(WindowSettings),
    /// Two keyed streams together by key: `join`, `left_outer_join`,
    /// `right_outer_join`, `full_outer_join`, `cogroup`.
    Join(JoinSettings),
}

settings!(StageSettings, "stage", {
    "map" => Map(OperatorSettings),
    "filter" => Filter(OperatorSettings),
    "flat_map" => FlatMap(OperatorSettings),
    "reduce_by_key" => ReduceByKey(OperatorSettings),
    "count_by_value" => CountByValue(CountSettings),
    "update_state_by_key" => UpdateStateByKey(UpdateStateSettings),
    "process_by_key" => ProcessByKey(ProcessSettings),
    "union" => Union(UnionSettings),
    "window" => Window(WindowSettings),
    "reduce_by_key_and_window" => ReduceByKeyAndWindow(WindowedReduceSettings),
    "count_by_value_and_window" => CountByValueAndWindow(WindowSettings),
    "join" => Join(JoinSettings),
    "left_outer_join" => Join(JoinSettings),
    "right_outer_join" => Join(JoinSettings),
    "full_outer_join" => Join(JoinSettings),
    "cogroup" => Join(JoinSettings),
}, misplaced = stage_misplaced);

/// What to say of a stage setting its kind does not take, beyond that it
/// does not apply.
fn stage_misplaced(kind: &str, key: &str) -> Option<String> {
    let runs_nothing = match kind {
        "union" => Some("a union runs no operator"),
        "window" => Some("a window stage runs no operator"),
        "count_by_value" => Some("count_by_value counts by itself"),
        "count_by_value_and_window" => Some("count_by_value_and_window counts by itself"),
        _ => None,
    };
    match (key, runs_nothing) {
        ("component", Some(why)) => Some(format!("{why}; remove `component`")),
        ("shadow", Some(_)) => Some(format!(
            "a {kind} stage runs no operator to shadow; remove `shadow`"
        )),
        ("window" | "slide" | "allowed_lateness", _) => {
            Some(format!("`{key}` applies to window stages only; remove it"))
        }
        ("time", _) => Some(format!(
            "`{key}` applies to window and join stages only; remove it"
        )),
        ("watermark", _) => Some(format!(
            "`{key}` applies to event-time windows, joins and process_by_key only; remove it"
        )),
        ("inverse", _) => {
            Some("only a reduce_by_key_and_window stage takes an `inverse`; remove it".into())
        }
        ("table" | "global" | "before" | "after", _) => {
            Some(format!("`{key}` applies to join stages only; remove it"))
        }
        ("left" | "right", _) => Some(format!(
            "only a join reads `left` and `right`; a {kind} stage reads `input = \"...\"`"
        )),
        ("ttl", _) => Some(
            "only an update_state_by_key stage and a stream-table join forget idle keys; remove `ttl`"
                .into(),
        ),
        _ => None,
    }
}

/// The params a stage hands its operator's `init`.
pub type Params = Spanned<BTreeMap<String, toml::Value>>;

/// A stage that runs one operator: map, filter, flat_map, reduce_by_key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSettings {
    /// The operator's `.wasm` component, relative to the manifest:
    /// `component = "plugins/lowercase.wasm"`.
    pub component: Option<Spanned<String>>,
    /// Parameters handed to the operator's `init`, as strings:
    /// `params = { field = "status", equals = "500" }`.
    pub params: Option<Params>,
    /// A candidate version of `component`, run beside it on the same
    /// batches with the same params; its output is compared with the live
    /// output, reported, and discarded: `shadow = "candidate.wasm"`.
    /// `wasmstream promote` makes it live.
    pub shadow: Option<Spanned<String>>,
    /// Overrides the pipeline's limits for this stage.
    pub limits: Option<LimitsSpec>,
    /// How `wasmstream build` makes the component:
    /// `build = { workdir = "plugins/lowercase" }`.
    pub build: Option<BuildSpec>,
}

/// `kind = "update_state_by_key"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateStateSettings {
    /// As for [`OperatorSettings`].
    pub component: Option<Spanned<String>>,
    pub params: Option<Params>,
    pub shadow: Option<Spanned<String>>,
    pub limits: Option<LimitsSpec>,
    pub build: Option<BuildSpec>,
    /// Forget a key (after one last call with `timing-out`) when it has had
    /// no records for this long, measured in batch time: `ttl = "30s"`.
    /// Default: keys are kept forever.
    pub ttl: Option<Spanned<String>>,
}

/// `kind = "process_by_key"`: a keyed-process operator (per-key state
/// and event-time timers, as Flink's keyed process functions).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSettings {
    /// As for [`OperatorSettings`].
    pub component: Option<Spanned<String>>,
    pub params: Option<Params>,
    pub shadow: Option<Spanned<String>>,
    pub limits: Option<LimitsSpec>,
    pub build: Option<BuildSpec>,
    /// Required: how far out of order records may come; the watermark
    /// trails the latest timestamp seen by this much, timers fire as it
    /// passes them, and records behind it go to `<stage id>.late`:
    /// `watermark = "5s"`.
    pub watermark: Option<Spanned<String>>,
}

/// `kind = "count_by_value"`: the host counts, so it takes no settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSettings {}

/// `kind = "union"`: its streams are the stage's `inputs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnionSettings {}

/// `kind = "join"` and the other joins: the two streams it brings
/// together, each keyed, and optionally a cogroup operator that decides
/// what each key's records make (without one, the stage writes JSON
/// pairs: see `Step::Join`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSettings {
    /// The left stream: `left = "impressions"`.
    pub left: Option<Spanned<String>>,
    /// The right stream: `right = "clicks"`.
    pub right: Option<Spanned<String>>,
    /// Instead of `right`, a table: a keyed stream of upserts (an empty
    /// value deletes its key) that each left record is looked up in, as
    /// Kafka Streams joins a KStream with a KTable: `table = "customers"`.
    /// Only `join` and `left_outer_join`.
    pub table: Option<Spanned<String>>,
    /// With `table`: every partition keeps the whole table (a global
    /// table, for small ones), and the left side is not exchanged.
    /// Default `false`: the table is partitioned by key like the stream.
    pub global: Option<Spanned<bool>>,
    /// With `table`: forget a row not updated for this long, measured in
    /// batch time: `ttl = "1h"`. Default: rows are kept until deleted.
    pub ttl: Option<Spanned<String>>,
    /// `"event"` makes an interval join over the records' own timestamps
    /// (Flink's): a left record at `t` meets the right records at
    /// `t - before ..= t + after`. Default: records of the same batch.
    pub time: Option<Spanned<String>>,
    /// Event time: how much earlier than a left record a right record may
    /// be: `before = "5s"`. Default `0s`.
    pub before: Option<Spanned<String>>,
    /// Event time: how much later: `after = "10m"`. Default `0s`.
    pub after: Option<Spanned<String>>,
    /// Event time, required: how far out of order records may come; the
    /// watermark trails the latest timestamp seen by this much, and
    /// decides when a buffered record can no longer meet another (and an
    /// outer join's miss is written). Records behind the watermark go to
    /// `<stage id>.late`: `watermark = "5s"`.
    pub watermark: Option<Spanned<String>>,
    /// As for [`OperatorSettings`]; the component is a cogroup operator.
    pub component: Option<Spanned<String>>,
    pub params: Option<Params>,
    pub shadow: Option<Spanned<String>>,
    pub limits: Option<LimitsSpec>,
    pub build: Option<BuildSpec>,
}

/// `kind = "window"` and `kind = "count_by_value_and_window"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSettings {
    /// How much the window covers: `window = "60s"`. In processing time, a
    /// multiple of the batch interval.
    pub window: Option<Spanned<String>>,
    /// How often the window moves on: `slide = "10s"`. Default: the batch
    /// interval in processing time, the window length in event time
    /// (tumbling windows).
    pub slide: Option<Spanned<String>>,
    /// `"processing"` (default) windows batches as they arrive; `"event"`
    /// windows records by their own timestamps.
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
}

/// `kind = "reduce_by_key_and_window"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowedReduceSettings {
    /// As for [`OperatorSettings`].
    pub component: Option<Spanned<String>>,
    pub params: Option<Params>,
    pub shadow: Option<Spanned<String>>,
    pub limits: Option<LimitsSpec>,
    pub build: Option<BuildSpec>,
    /// As for [`WindowSettings`].
    pub window: Option<Spanned<String>>,
    pub slide: Option<Spanned<String>>,
    pub time: Option<Spanned<String>>,
    pub watermark: Option<Spanned<String>>,
    pub allowed_lateness: Option<Spanned<String>>,
    /// Processing time: a reduce component that takes values back out,
    /// e.g. subtract for sum: `inverse = "plugins/subtract.wasm"`. Each
    /// slide then costs the batches entering and leaving the window, not
    /// the whole window. Gets the stage's `params` too.
    pub inverse: Option<Spanned<String>>,
}

/// What every stage that runs an operator sets, whatever its kind.
#[derive(Debug, Clone, Copy)]
pub struct OperatorFields<'a> {
    pub component: Option<&'a Spanned<String>>,
    pub params: Option<&'a Params>,
    pub shadow: Option<&'a Spanned<String>>,
    pub limits: Option<&'a LimitsSpec>,
    pub build: Option<&'a BuildSpec>,
}

/// What every window stage sets, whatever its kind.
#[derive(Debug, Clone, Copy)]
pub struct WindowFields<'a> {
    pub window: Option<&'a Spanned<String>>,
    pub slide: Option<&'a Spanned<String>>,
    pub time: Option<&'a Spanned<String>>,
    pub watermark: Option<&'a Spanned<String>>,
    pub allowed_lateness: Option<&'a Spanned<String>>,
}

impl StageSettings {
    /// The operator settings, for a kind that runs an operator.
    pub fn operator(&self) -> Option<OperatorFields<'_>> {
        macro_rules! fields {
            ($s:expr) => {
                OperatorFields {
                    component: $s.component.as_ref(),
                    params: $s.params.as_ref(),
                    shadow: $s.shadow.as_ref(),
                    limits: $s.limits.as_ref(),
                    build: $s.build.as_ref(),
                }
            };
        }
        match self {
            StageSettings::Map(s)
            | StageSettings::Filter(s)
            | StageSettings::FlatMap(s)
            | StageSettings::ReduceByKey(s) => Some(fields!(s)),
            StageSettings::UpdateStateByKey(s) => Some(fields!(s)),
            StageSettings::ProcessByKey(s) => Some(fields!(s)),
            StageSettings::ReduceByKeyAndWindow(s) => Some(fields!(s)),
            StageSettings::Join(s) => Some(fields!(s)),
            StageSettings::Union(_)
            | StageSettings::CountByValue(_)
            | StageSettings::Window(_)
            | StageSettings::CountByValueAndWindow(_) => None,
        }
    }

    /// The window settings, for a window kind.
    pub fn window(&self) -> Option<WindowFields<'_>> {
        macro_rules! fields {
            ($s:expr) => {
                WindowFields {
                    window: $s.window.as_ref(),
                    slide: $s.slide.as_ref(),
                    time: $s.time.as_ref(),
                    watermark: $s.watermark.as_ref(),
                    allowed_lateness: $s.allowed_lateness.as_ref(),
                }
            };
        }
        match self {
            StageSettings::Window(s) | StageSettings::CountByValueAndWindow(s) => Some(fields!(s)),
            StageSettings::ReduceByKeyAndWindow(s) => Some(fields!(s)),
            _ => None,
        }
    }
}

/// A sink's settings, by kind.
#[derive(Debug, Clone)]
pub enum SinkSettings {
    /// Printed, like Spark's `pprint`.
    Stdout(StdoutSettings),
    /// One file per batch.
    Files(FilesSettings),
    /// A Kafka topic.
    Kafka(KafkaSinkSettings),
}

settings!(SinkSettings, "sink", {
    "stdout" => Stdout(StdoutSettings),
    "files" => Files(FilesSettings),
    "kafka" => Kafka(KafkaSinkSettings),
});

/// `kind = "stdout"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSettings {
    /// Records printed per batch (default 10, like Spark's `pprint`).
    pub max_records: Option<Spanned<i64>>,
}

/// `kind = "files"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSettings {
    /// The directory to write one file per batch into: `path = "out"`.
    pub path: Option<Spanned<String>>,
    /// File name prefix (default `"batch"`); files are named
    /// `<prefix>-<batch id>.<suffix>`.
    pub prefix: Option<Spanned<String>>,
    /// File name suffix (default `"txt"`).
    pub suffix: Option<Spanned<String>>,
}

/// `kind = "kafka"` (a sink).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkSettings {
    /// The brokers to connect to: `bootstrap = "127.0.0.1:9092"`.
    pub bootstrap: Option<Spanned<String>>,
    /// The topic to write: `topic = "counts"`.
    pub topic: Option<Spanned<String>>,
    /// `acks = "all"` (default), `"1"` or `"0"`.
    pub acks: Option<Spanned<String>>,
    /// `compression = "none"` (default), `"gzip"`, `"snappy"`, `"lz4"` or
    /// `"zstd"`.
    pub compression: Option<Spanned<String>>,
    /// `delivery = "at-least-once"` (default: fast; a batch replayed after
    /// a crash is written again) or `"exactly-once"` (each batch's output
    /// and input offsets commit in one Kafka transaction, so
    /// `read_committed` consumers never see a record twice; needs the
    /// pipeline's `checkpoint`).
    pub delivery: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_the_settings_it_takes() {
        assert_eq!(
            SourceSettings::fields("directory"),
            Some(
                &[
                    "path",
                    "watch",
                    "max_batch_records",
                    "key_field",
                    "timestamp_field"
                ][..]
            )
        );
        assert_eq!(SourceSettings::fields("stdin"), Some(&[][..]));
        assert_eq!(SourceSettings::fields("pigeon"), None);
        let count = StageSettings::fields("count_by_value_and_window").unwrap();
        assert!(count.contains(&"window") && !count.contains(&"component"));
    }
}
