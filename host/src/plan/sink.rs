//! Sinks, resolved.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Id, Stream};

/// A sink, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkPlan {
    /// Its id.
    pub id: Id,
    /// The stream it writes out.
    pub input: Stream,
    /// Where it writes.
    pub kind: SinkKind,
}

/// The kinds of sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// Settings of a Kafka sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSink {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// `acks`: `"all"` (default), `"1"` or `"0"`.
    pub acks: String,
    /// `compression.type`: `none` (default), `gzip`, `snappy`, `lz4`, `zstd`.
    pub compression: String,
    /// What a crash may do to the output.
    pub delivery: Delivery,
    /// A worker's repartition topic ([`super::workers`]): a record without
    /// a key (or with an empty one) goes to partition 0, as the in-memory
    /// exchange sends it, rather than to a random partition, so every
    /// record of a key (and its state) has one home.
    #[serde(default)]
    pub repartition: bool,
    /// A worker's join reads both its sides from one repartition topic:
    /// the side (0 left, 1 right) this sink's records are, written in
    /// header [`crate::shuffle::SIDE_HEADER`].
    #[serde(default)]
    pub side: Option<u8>,
    /// A worker's count by value reads its repartition topic: each record
    /// is written with its value as its key, so a value's records share a
    /// partition as a key's do.
    #[serde(default)]
    pub key_by_value: bool,
}

/// A Kafka sink's delivery guarantee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// A batch replayed after a crash is produced again.
    AtLeastOnce,
    /// Each batch commits in one transaction with its input offsets.
    ExactlyOnce(Transactions),
}

/// How an exactly-once sink commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transactions {
    /// The producer's `transactional.id`, one per pipeline and sink, so a
    /// restarted pipeline fences the process it replaces.
    pub transactional_id: String,
    /// The one-partition topic where each transaction records its batch.
    pub commit_topic: String,
    /// The Kafka sources (on this cluster) whose offsets each transaction
    /// commits to their consumer groups.
    pub sources: Vec<CommittedSource>,
}

/// A source whose offsets an exactly-once sink commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedSource {
    /// The source id, as in [`crate::sink::Progress::sources`].
    pub id: String,
    /// Its topic.
    pub topic: String,
    /// Its consumer group.
    pub group: String,
}
