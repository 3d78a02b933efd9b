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

/// A running pipeline's figures, published after each batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// What it did so far.
    pub summary: Summary,
    /// The last batch run.
    pub last_batch: Option<BatchFigures>,
    /// The longest a batch waited behind its scheduled time, over the
    /// run.
    pub max_scheduling_ms: u64,
}

impl Figures {
    /// Batch `batch` ended, after which the pipeline had done `summary`.
    pub fn batch_done(&mut self, summary: Summary, batch: BatchFigures) {
        self.summary = summary;
        self.max_scheduling_ms = self.max_scheduling_ms.max(batch.scheduling_ms);
        self.last_batch = Some(batch);
    }
}

/// One batch's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchFigures {
    /// Its id.
    pub id: u64,
    /// Its time (when it was cut), ms since the Unix epoch.
    pub time_ms: i64,
    /// Records read from the sources.
    pub records: u64,
    /// How long after its scheduled time it started.
    pub scheduling_ms: u64,
    /// How long it ran.
    pub processing_ms: u64,
}
