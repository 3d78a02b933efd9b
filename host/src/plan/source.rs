//! Sources, resolved.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Id;

/// A source, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePlan {
    /// Its id.
    pub id: Id,
    /// What it reads.
    pub kind: SourceKind,
    /// The most records one batch takes from it.
    pub max_batch_records: Option<usize>,
}

/// Which fields of a line, read as a JSON object, give its record's key
/// and event time; none for plain text lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFields {
    /// The field whose text becomes the key (dots reach into nested
    /// objects).
    pub key: Option<String>,
    /// The field holding the event time, in milliseconds since the Unix
    /// epoch.
    pub timestamp: Option<String>,
}

impl LineFields {
    /// Whether lines are plain text.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.timestamp.is_none()
    }
}

/// The kinds of source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Text files in a folder, a record per line (`textFileStream`).
    Directory {
        /// The folder.
        path: PathBuf,
        /// Keep watching for new files, or end once the present ones are read.
        watch: bool,
        /// Fields of JSON lines that give records their keys and times.
        #[serde(default, skip_serializing_if = "LineFields::is_empty")]
        fields: LineFields,
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

impl SourceKind {
    /// The kind as a manifest names it: `directory`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            SourceKind::Directory { .. } => "directory",
            SourceKind::Socket { .. } => "socket",
            SourceKind::Stdin => "stdin",
            SourceKind::Kafka(_) => "kafka",
            SourceKind::Generator { .. } => "generator",
        }
    }

    /// Whether the source can read a batch's input again after a crash
    /// (it is pulled from a position), so a checkpointed pipeline may use
    /// it.
    pub fn replayable(&self) -> bool {
        !matches!(self, SourceKind::Socket { .. } | SourceKind::Stdin)
    }
}

/// Where a Kafka source with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Each partition's first offset still kept.
    Earliest,
    /// Only records written after the pipeline starts.
    Latest,
    /// The first record at or after this time (ms since the Unix epoch).
    Timestamp(i64),
}

/// Settings of a Kafka source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSource {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// The consumer group offsets are committed to.
    pub group: String,
    /// Where to start without a checkpoint.
    pub start: Start,
    /// Whether the source commits the offsets it reached to `group` after
    /// each batch; not when an exactly-once sink commits them in its
    /// transactions.
    pub commit_offsets: bool,
    /// With `trigger = "available-now"`: the source reads up to each
    /// partition's end as it was when the source started, then ends
    /// (Spark's `Trigger.AvailableNow`); records written later wait for
    /// the next run.
    #[serde(default)]
    pub until_start_end: bool,
    /// The source is one worker's share of the topic
    /// (`wasmstream run --worker`): it joins `group`, reads the partitions
    /// Kafka assigns it from the offsets committed there, and commits
    /// after each batch written ([`super::workers`]).
    #[serde(default)]
    pub worker: bool,
}
