//! `window`: processing-time windows over batches, like Spark's, and the
//! window state that `reduceByKeyAndWindow` and `countByValueAndWindow`
//! over batches keep too ([`super::windowed_reduce`]).
//!
//! A window covers the last `length` batches and is emitted by the batches
//! whose id is a multiple of `slide`, so a replayed batch emits exactly
//! what it emitted the first time. Each partition keeps what each batch in
//! the window contributed: its records for a plain window, one folded
//! value per key for a reduce.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_bytes::Bytes;

use super::kind::{Context, Keeps, Kept, Kind, Operators, Ran, Setup};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;
use crate::sink::BatchInfo;

/// A `window` stage: the records of the last `length` batches, every
/// `slide` batches.
pub(crate) struct Window {
    pub length: u32,
    pub slide: u32,
}

impl Kind for Window {
    type State = BatchWindow;
    type Pending = Box<Delta>;

    fn operators(&self, _: &Arc<str>) -> Operators {
        Operators::default()
    }

    fn state(&self, _: &Setup<'_>) -> BatchWindow {
        BatchWindow::default()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::rebalance(side, partitions)
    }

    fn run(
        &self,
        _: &mut Operators,
        window: &BatchWindow,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Box<Delta>>, Failure> {
        let span = Span::at(self.length, self.slide, at.batch);
        let (output, delta) = records(window, &inputs[0], span);
        Ok(Ran::keeping(output, Box::new(delta)))
    }

    fn commit(window: &mut BatchWindow, delta: Box<Delta>) -> anyhow::Result<()> {
        window.apply(*delta);
        Ok(())
    }
}

/// One partition's window: the batches in it, and (with an inverse) each
/// key's running value.
#[derive(Debug, Default)]
pub(crate) struct BatchWindow {
    /// What each of the last `length` batches contributed, oldest first.
    ring: VecDeque<Batch>,
    /// With an inverse: each key's value over the window.
    pub(crate) totals: BTreeMap<Vec<u8>, Total>,
}

/// A key's value over the window, and how many of its batches have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Total {
    pub value: Vec<u8>,
    pub batches: u32,
}

/// What a batch changes in a window, applied when the batch is committed.
#[derive(Debug)]
pub(crate) struct Delta {
    /// The batch's contribution.
    pub enters: Batch,
    /// Batches the window covers.
    pub length: u32,
    /// New running values; `None` drops the key.
    pub totals: Vec<(Vec<u8>, Option<Total>)>,
}

impl BatchWindow {
    /// Commits a batch's changes.
    pub(crate) fn apply(&mut self, delta: Delta) {
        self.ring.push_back(delta.enters);
        while self.ring.len() > delta.length as usize {
            self.ring.pop_front();
        }
        for (key, total) in delta.totals {
            match total {
                Some(total) => self.totals.insert(key, total),
                None => self.totals.remove(&key),
            };
        }
    }

    /// The earlier batches still in the window once the current one enters.
    pub(crate) fn earlier(&self, length: u32) -> impl Iterator<Item = &Batch> {
        let keep = length as usize - 1;
        self.ring.iter().skip(self.ring.len().saturating_sub(keep))
    }

    /// The batch that leaves the window when the current one enters.
    pub(crate) fn leaving(&self, length: u32) -> Option<&Batch> {
        (self.ring.len() >= length as usize).then(|| &self.ring[self.ring.len() - length as usize])
    }
}

impl Kept for BatchWindow {
    const KEEPS: Keeps = Keeps::Batches;

    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        out.put(&(self.ring.len() as u64))?;
        self.ring.iter().try_for_each(|batch| out.batch(batch))?;
        out.put(&(self.totals.len() as u64))?;
        for (key, total) in &self.totals {
            out.put(&(Bytes::new(key), Bytes::new(&total.value), total.batches))?;
        }
        Ok(())
    }

    fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        // A batch takes at least 11 bytes (a length per column, two per
        // list), a total 3.
        let batches = input.count(11)?;
        self.ring = (0..batches)
            .map(|_| input.batch())
            .collect::<Result<_, _>>()?;
        let keys = input.count(3)?;
        for _ in 0..keys {
            let (key, value, batches): (&Bytes, &Bytes, u32) = input.take()?;
            let total = Total {
                value: value.to_vec(),
                batches,
            };
            self.totals.insert(key.to_vec(), total);
        }
        Ok(())
    }
}

/// How big a window is and when it is emitted, in batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub length: u32,
    pub slide: u32,
    /// The current batch's id and time.
    pub batch: u64,
    pub time: i64,
}

impl Span {
    /// The span of `length` batches every `slide`, as of `batch`.
    pub(crate) fn at(length: u32, slide: u32, batch: BatchInfo) -> Self {
        Span {
            length,
            slide,
            batch: batch.id,
            time: batch.time_ms,
        }
    }

    /// Whether the current batch emits the window.
    pub(crate) fn emits(&self) -> bool {
        self.batch.is_multiple_of(u64::from(self.slide))
    }
}

/// `window`: the window's records, when it is emitted.
pub(crate) fn records(window: &BatchWindow, input: &Batch, span: Span) -> (Batch, Delta) {
    let mut output = Batch::default();
    if span.emits() {
        for batch in window.earlier(span.length) {
            output.extend(batch);
        }
        output.extend(input);
    }
    let delta = Delta {
        enters: input.clone(),
        length: span.length,
        totals: Vec::new(),
    };
    (output, delta)
}
