//! Where a pull source stands, and which part of its input one batch read:
//! the two facts that checkpoints, the intent log and exactly-once sinks
//! keep. Their own module, so those need not depend on the sources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a pull source is, as a checkpoint keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// A directory: the files read whole, in the order read, and how far
    /// into the file being read.
    Directory {
        /// File names read whole.
        done: Vec<String>,
        /// The file being read and the byte offset reached.
        current: Option<(String, u64)>,
    },
    /// A generator: the next sequence number.
    Generator {
        /// The next sequence number.
        next: u64,
    },
    /// A Kafka topic: the next offset per partition.
    Kafka {
        /// Partition to next offset.
        offsets: BTreeMap<i32, i64>,
    },
}

/// A range of a pull source's input that one batch read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Bytes `start..end` of a file in a directory source's folder.
    File {
        /// The file's name in the folder.
        file: String,
        /// Byte offset of the first line.
        start: u64,
        /// Byte offset just past the last line's newline.
        end: u64,
    },
    /// Generated records `start..end`.
    Seq {
        /// First sequence number.
        start: u64,
        /// One past the last.
        end: u64,
    },
    /// Offsets `start..end` of a Kafka partition.
    Offsets {
        /// The partition.
        partition: i32,
        /// First offset.
        start: i64,
        /// One past the last.
        end: i64,
    },
}
