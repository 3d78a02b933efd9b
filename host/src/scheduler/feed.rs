//! The sources as the batch loop sees them: what each has read, and how
//! a batch is cut from them, or cut again from the intent log.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::Intent;
use crate::plan::{Id, SourcePlan, Stream};
use crate::position::{Position, Segment};
use crate::record::Batch;
use crate::source::{Moved, Pull, Started};

/// The most bytes one batch takes from the sources; the rest waits for the
/// next batch (and the bounded source channels push back meanwhile).
pub(super) const MAX_BATCH_BYTES: usize = 256 << 20;
/// The same for `trigger = "available-now"`, which cuts batches as fast as
/// they run: smaller batches keep the memory a backlog takes low, and
/// there is no interval for a bigger one to make the most of.
pub(super) const AVAILABLE_NOW_BATCH_BYTES: usize = 4 << 20;

/// Takes each source's next batch: what a pull source has now, what a
/// push source has sent; up to the batch limits (`max_bytes` over all).
/// Says what each pull source read.
pub(super) async fn cut(
    feeds: &mut [Feed],
    time: i64,
    max_bytes: usize,
) -> Result<(HashMap<Stream, Vec<Batch>>, BTreeMap<String, Vec<Segment>>)> {
    let mut inputs = HashMap::new();
    let mut read = BTreeMap::new();
    let mut bytes = 0usize;
    for feed in feeds.iter_mut() {
        let batch = match &mut feed.input {
            Input::Pull(slot) => {
                let mut source = slot.take().expect("a pull source is back after each read");
                let (max_records, max_bytes) =
                    (feed.max_records, max_bytes.saturating_sub(bytes).max(1));
                let (source, result) = tokio::task::spawn_blocking(move || {
                    let result = source.read(max_records, max_bytes, time);
                    (source, result)
                })
                .await
                .context("a source panicked")?;
                feed.ended = source.ended();
                *slot = Some(source);
                let (batch, segments) = result?;
                read.insert(feed.id.to_string(), segments);
                batch
            }
            Input::Push { .. } => {
                let mut taken = 0;
                let mut batch = Batch::default();
                while taken < feed.buffer.len()
                    && (bytes + batch.byte_size() < max_bytes || taken == 0)
                    && batch.len() < feed.max_records
                {
                    batch.extend(&feed.buffer[taken]);
                    taken += 1;
                }
                feed.buffer.drain(..taken);
                batch
            }
        };
        bytes += batch.byte_size();
        inputs.insert(Stream::Source(feed.id.clone()), vec![batch]);
    }
    Ok((inputs, read))
}

/// Caps what each pull source offers per batch at `per_second` records a
/// second (per partition, for sources with several), never above what the
/// manifest allows.
pub(super) fn throttle(feeds: &mut [Feed], per_second: f64, interval: std::time::Duration) {
    for feed in feeds {
        if let Input::Pull(Some(source)) = &feed.input {
            let per_batch = per_second * interval.as_secs_f64() / source.partitions() as f64;
            let cap = (per_batch.ceil() as usize).max(1).min(feed.configured_max);
            if cap != feed.max_records {
                tracing::debug!(source = %feed.id, records_per_batch = cap, "backpressure: new rate");
            }
            feed.max_records = cap;
        }
    }
}

/// Each pull source's position.
pub(super) fn positions(feeds: &[Feed]) -> BTreeMap<String, Position> {
    feeds
        .iter()
        .filter_map(|f| match &f.input {
            Input::Pull(Some(source)) => Some((f.id.to_string(), source.position())),
            _ => None,
        })
        .collect()
}

/// Tells the pull sources their last batch is written and committed.
pub(super) fn committed(feeds: &mut [Feed]) -> Result<()> {
    for feed in feeds {
        if let Input::Pull(Some(source)) = &mut feed.input {
            source.committed()?;
        }
    }
    Ok(())
}

/// What each pull source says moved since it was last asked (a worker's
/// partitions), by source.
pub(super) fn moved(feeds: &mut [Feed]) -> Vec<(Id, Vec<Moved>)> {
    (feeds.iter_mut())
        .filter_map(|f| match &mut f.input {
            Input::Pull(Some(source)) => Some((f.id.clone(), source.moved())),
            _ => None,
        })
        .filter(|(_, moved)| !moved.is_empty())
        .collect()
}

/// Each pull source's input for a logged batch, read again.
pub(super) async fn replay(
    feeds: &mut [Feed],
    intent: &Intent,
) -> Result<HashMap<Stream, Vec<Batch>>> {
    let mut inputs = HashMap::new();
    for feed in feeds.iter_mut() {
        let Input::Pull(slot) = &mut feed.input else {
            continue;
        };
        let segments = intent
            .sources
            .get(feed.id.as_str())
            .cloned()
            .unwrap_or_default();
        let mut source = slot.take().expect("a pull source is back after each read");
        let time = intent.time_ms;
        let (source, result) = tokio::task::spawn_blocking(move || {
            let result = source.replay(&segments, time);
            (source, result)
        })
        .await
        .context("a source panicked")?;
        *slot = Some(source);
        let batch = result.with_context(|| format!("replaying batch {}", intent.batch))?;
        inputs.insert(Stream::Source(feed.id.clone()), vec![batch]);
    }
    Ok(inputs)
}

/// A source as the scheduler tracks it.
pub(super) struct Feed {
    pub(super) id: Id,
    /// The most records one batch takes from it (per partition, for a
    /// source with several): the manifest's limit, lowered by backpressure.
    pub(super) max_records: usize,
    /// The manifest's limit.
    pub(super) configured_max: usize,
    pub(super) input: Input,
    /// Push: chunks received but not yet batched.
    pub(super) buffer: Vec<Batch>,
    pub(super) ended: bool,
}

pub(super) enum Input {
    /// Out of its slot only while it reads.
    Pull(Option<Box<dyn Pull>>),
    Push {
        chunks: mpsc::Receiver<Batch>,
        task: Option<JoinHandle<Result<()>>>,
    },
}

impl Feed {
    pub(super) fn new(plan: &SourcePlan, started: Started) -> Self {
        let input = match started {
            Started::Pull(source) => Input::Pull(Some(source)),
            Started::Push(running) => Input::Push {
                chunks: running.chunks,
                task: Some(running.task),
            },
        };
        Feed {
            id: plan.id.clone(),
            max_records: plan.max_batch_records.unwrap_or(usize::MAX),
            configured_max: plan.max_batch_records.unwrap_or(usize::MAX),
            input,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// Push: receives what is waiting, without blocking, up to a batch's
    /// worth (beyond that the source waits: backpressure); notices the end.
    pub(super) async fn poll(&mut self) -> Result<()> {
        while self.buffer.iter().map(Batch::byte_size).sum::<usize>() < MAX_BATCH_BYTES {
            let Input::Push { chunks, .. } = &mut self.input else {
                return Ok(());
            };
            match chunks.try_recv() {
                Ok(chunk) => self.buffer.push(chunk),
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return self.end().await,
            }
        }
        Ok(())
    }

    /// Push: receives everything until the (stopping) source closes its
    /// channel.
    pub(super) async fn receive_rest(&mut self) -> Result<()> {
        let Input::Push { chunks, .. } = &mut self.input else {
            return Ok(());
        };
        while let Some(chunk) = chunks.recv().await {
            self.buffer.push(chunk);
        }
        self.end().await
    }

    /// Push: marks the source ended; reports it if it failed.
    async fn end(&mut self) -> Result<()> {
        self.ended = true;
        let Input::Push { task, .. } = &mut self.input else {
            return Ok(());
        };
        let Some(task) = task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(Ok(())) => {
                tracing::info!(source = %self.id, "source ended");
                Ok(())
            }
            Ok(Err(e)) => Err(e.context(format!("source `{}` failed", self.id))),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(anyhow!("source `{}` panicked: {e}", self.id)),
        }
    }
}
