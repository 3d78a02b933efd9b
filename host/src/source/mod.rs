//! Sources: tasks that read records and hand them to the batcher.
//!
//! Each source runs as its own task and sends chunks of records into a
//! bounded channel; a full channel pushes back on the source. On shutdown a
//! source stops reading, sends what it has already read, and closes its
//! channel, so nothing read is lost. A source that reaches the end of its
//! input (stdin at EOF, a socket the peer closed, a directory that is not
//! watched, a generator with a record count) closes its channel too; the
//! pipeline ends when every source has.

mod directory;
pub mod generator;
mod lines;
mod socket;
mod stdin;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::plan::{SourceKind, SourcePlan};
use crate::record::Batch;

/// Records per chunk a source sends.
pub const CHUNK_RECORDS: usize = 4096;
/// Chunks a source may have in flight before it waits for the batcher.
const CHANNEL_CHUNKS: usize = 64;
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

/// Starts `plan`'s source. It stops reading when `stop` becomes true.
pub fn spawn(plan: &SourcePlan, stop: watch::Receiver<bool>) -> RunningSource {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let id = plan.id.clone();
    let task = match plan.kind.clone() {
        SourceKind::Directory { path, watch } => {
            tokio::spawn(directory::run(id.clone(), path, watch, tx, stop))
        }
        SourceKind::Socket { address } => tokio::spawn(socket::run(id.clone(), address, tx, stop)),
        SourceKind::Stdin => tokio::spawn(stdin::run(id.clone(), tx, stop)),
        SourceKind::Generator {
            records,
            rate,
            record_bytes,
        } => tokio::spawn(generator::run(
            generator::Generator {
                records,
                rate,
                record_bytes,
            },
            tx,
            stop,
        )),
    };
    RunningSource {
        id,
        chunks: rx,
        task,
    }
}

/// Milliseconds since the Unix epoch: the ingestion time sources stamp on
/// records that carry no time of their own.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
