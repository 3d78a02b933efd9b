//! Sources: where records come from, in two shapes.
//!
//! A **pull** source (a directory, a generator) is read by the scheduler at
//! each cut: the batch takes what is there, up to its limits, and the
//! source says exactly which ranges it took ([`Segment`]s). The same files
//! give the same batches, so runs are repeatable.
//!
//! A **push** source (a socket, stdin) runs as its own task, because its
//! bytes arrive whether or not anyone asks, and sends chunks of records
//! into a bounded channel; a full channel pushes back on the source. On
//! shutdown it stops reading, sends what it has already read, and closes
//! its channel, so nothing read is lost.
//!
//! A source that reaches the end of its input (stdin at EOF, a socket the
//! peer closed, a directory that is not watched, a generator with a record
//! count) has ended; the pipeline ends when every source has.
//!
//! [`crate::connector::start_source`] starts the source a plan names.

pub(crate) mod directory;
pub mod generator;
mod json_lines;
mod lines;
pub(crate) mod socket;
pub(crate) mod stdin;

use anyhow::Result;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::record::Batch;

pub use crate::position::{Position, Segment};
pub use lines::lines_of;

/// Records per chunk a push source sends.
pub const CHUNK_RECORDS: usize = 4096;
/// Chunks a source may have in flight before it waits for the batcher.
pub(crate) const CHANNEL_CHUNKS: usize = 64;
/// The longest line a line-based source accepts; longer lines are split.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A running source: the chunks it reads, and its task.
pub struct RunningSource {
    /// The source id.
    pub id: String,
    /// Chunks of records, in order; closed when the source ends.
    pub chunks: mpsc::Receiver<Batch>,
    /// The task; its error, if any, says why the source failed.
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// A source the scheduler reads at each cut.
pub trait Pull: Send + Sync {
    /// Reads what is available now, up to `max_records` records and about
    /// `max_bytes` bytes, stamped `time`, and moves past it; says which
    /// ranges it read. Blocking: call it off the async runtime.
    fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)>;

    /// Whether nothing more will ever be available.
    fn ended(&self) -> bool;

    /// Where the source is: what the next read starts after.
    fn position(&self) -> Position;

    /// Goes back to `position` (from a checkpoint).
    fn seek(&mut self, position: &Position) -> Result<()>;

    /// Reads exactly `segments` again (a batch being replayed), stamped
    /// `time`, and moves past them.
    fn replay(&mut self, segments: &[Segment], time: i64) -> Result<Batch>;

    /// How many parts the source reads in parallel, each capped on its own
    /// (a Kafka topic's partitions); one for most sources.
    fn partitions(&self) -> usize {
        1
    }

    /// Where each part of the source has got, for the metrics: for a Kafka
    /// topic, each partition's next offset and how many records wait
    /// behind it (as the client last heard from the broker). None for
    /// most sources.
    fn progress(&self) -> Vec<PartProgress> {
        Vec::new()
    }
    /// Told when the batch read last has been written and committed, so a
    /// source can report progress outside (Kafka: the consumer group).
    fn committed(&mut self) -> Result<()> {
        Ok(())
    }

    /// The parts given to this worker or taken from it since the last
    /// call, in order (a worker's Kafka source: partitions its group
    /// moved); none for other sources. Stages whose state follows these
    /// parts read or forget it before the batch runs.
    fn moved(&mut self) -> Vec<Moved> {
        Vec::new()
    }
}

/// A part of a source (a Kafka partition) that changed hands between
/// workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The worker was given the part.
    Assigned(i32),
    /// The part was taken away.
    Revoked(i32),
}

/// How far one part of a source (a Kafka partition) has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartProgress {
    /// The part, as the metrics label it (a partition number).
    pub part: String,
    /// The next offset to read.
    pub next: i64,
    /// Records after it, if known.
    pub lag: Option<i64>,
}

/// A started source.
pub enum Started {
    /// Read at each cut.
    Pull(Box<dyn Pull>),
    /// Sends what it reads.
    Push(RunningSource),
}

/// Milliseconds since the Unix epoch: the ingestion time sources stamp on
/// records that carry no time of their own.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
