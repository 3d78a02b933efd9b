//! What a pipeline did: the counters reported when it stops and kept in
//! each checkpoint, so a resumed run reports the whole run.

use serde::{Deserialize, Serialize};

/// What a pipeline did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Batches run (including empty ones).
    pub batches: u64,
    /// Records read from all sources.
    pub records_in: u64,
    /// Records handed to sinks (a record written to two sinks counts twice).
    pub records_out: u64,
    /// Batches dropped under `on_error = "skip"`.
    pub batches_skipped: u64,
    /// Source records in those dropped batches.
    pub records_dropped: u64,
    /// Records event-time stages found too late for their windows (sent to
    /// their side outputs).
    pub records_late: u64,
    /// Records operators rejected, sent to `dead-letters`.
    #[serde(default)]
    pub records_dead_lettered: u64,
}
