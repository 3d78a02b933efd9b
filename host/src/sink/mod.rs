//! Sinks: where each batch's results go.
//!
//! A sink receives a stream's output partitions for a batch, in partition
//! order, together with the batch's id and time, and writes them before the
//! next batch starts. Writes are named by batch id so that a batch written
//! twice (after a crash and replay) replaces rather than duplicates.
//!
//! [`crate::connector::open_sink`] opens the sink a plan names.

pub(crate) mod files;
pub(crate) mod stdout;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::position::Position;
use crate::record::Batch;

/// Which batch a sink is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Increases by one per batch, from 1.
    pub id: u64,
    /// When the batch was cut, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Whether this is the last batch because every source has ended (not
    /// because the pipeline was stopped): event-time windows still open
    /// are emitted, as no record can arrive for them any more.
    pub end_of_input: bool,
}

/// Where the pipeline's input stands once a batch is written: what an
/// exactly-once sink commits together with the batch's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Names this line of checkpoints. A `--fresh` start begins a new one,
    /// so batch ids an earlier line committed are never taken for this
    /// line's.
    pub run: u64,
    /// Each pull source's position after the batch.
    pub sources: BTreeMap<String, Position>,
}

/// Something that writes out batches.
pub trait Sink: Send {
    /// Writes one batch's output; `progress` says how far the input has
    /// been read once this batch is done.
    fn write(&mut self, batch: BatchInfo, partitions: &[Batch], progress: &Progress) -> Result<()>;

    /// Makes everything written so far durable or visible.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
