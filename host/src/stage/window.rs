//! Processing-time windows over batches, like Spark's `window`,
//! `reduceByKeyAndWindow` and `countByValueAndWindow`.
//!
//! A window covers the last `length` batches and is emitted by the batches
//! whose id is a multiple of `slide`, so a replayed batch emits exactly
//! what it emitted the first time. Each partition keeps what each batch in
//! the window contributed: its records for a plain window, one folded
//! value per key for a reduce.
//!
//! A reduce without an inverse folds the whole window again at each
//! emission. With an inverse it keeps a running value per key, folding in
//! the batch that enters and taking out the batch that leaves, so each
//! batch costs those two batches' keys, not the window. A key is dropped
//! when no batch in the window has it, so both ways give the same result.

use std::collections::{BTreeMap, VecDeque};

use std::io::Write;

use super::{Worker, reduce};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plugin::Failure;
use crate::record::{Batch, ByteList};

/// One partition's window: the batches in it, and (with an inverse) each
/// key's running value.
#[derive(Debug, Default)]
pub(crate) struct BatchWindow {
    /// What each of the last `length` batches contributed, oldest first.
    ring: VecDeque<Batch>,
    /// With an inverse: each key's value over the window.
    totals: BTreeMap<Vec<u8>, Total>,
}

/// A key's value over the window, and how many of its batches have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Total {
    value: Vec<u8>,
    batches: u32,
}

/// What a batch changes in a window, applied when the batch is committed.
#[derive(Debug)]
pub(crate) struct Delta {
    /// The batch's contribution.
    enters: Batch,
    /// Batches the window covers.
    length: u32,
    /// New running values; `None` drops the key.
    totals: Vec<(Vec<u8>, Option<Total>)>,
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

    /// Writes the window into a checkpoint.
    pub(crate) fn save<W: Write>(&self, out: &mut Writer<W>) -> std::io::Result<()> {
        out.u64(self.ring.len() as u64)?;
        self.ring.iter().try_for_each(|batch| out.batch(batch))?;
        out.u64(self.totals.len() as u64)?;
        for (key, total) in &self.totals {
            out.bytes(key)?;
            out.bytes(&total.value)?;
            out.u64(u64::from(total.batches))?;
        }
        Ok(())
    }

    /// Reads back what [`BatchWindow::save`] wrote.
    pub(crate) fn load(input: &mut Reader<'_>) -> Result<Self, Bad> {
        let batches = input.count(8)?;
        let ring = (0..batches)
            .map(|_| input.batch())
            .collect::<Result<_, _>>()?;
        let keys = input.count(24)?;
        let mut totals = BTreeMap::new();
        for _ in 0..keys {
            let key = input.bytes()?.to_vec();
            let value = input.bytes()?.to_vec();
            let batches = u32::try_from(input.u64()?).map_err(|_| "a window count is too large")?;
            totals.insert(key, Total { value, batches });
        }
        Ok(BatchWindow { ring, totals })
    }

    /// The earlier batches still in the window once the current one enters.
    fn earlier(&self, length: u32) -> impl Iterator<Item = &Batch> {
        let keep = length as usize - 1;
        self.ring.iter().skip(self.ring.len().saturating_sub(keep))
    }

    /// The batch that leaves the window when the current one enters.
    fn leaving(&self, length: u32) -> Option<&Batch> {
        (self.ring.len() >= length as usize).then(|| &self.ring[self.ring.len() - length as usize])
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
    fn emits(&self) -> bool {
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

/// `reduceByKeyAndWindow`: each key's values over the window folded by
/// `worker`, taken out again by `inverse` if there is one.
pub(crate) fn reduce(
    worker: &mut Worker,
    inverse: Option<&mut Worker>,
    window: &BatchWindow,
    input: &Batch,
    span: Span,
) -> Result<(Batch, Delta), Failure> {
    let enters = reduce::reduce_by_key(worker, input)?;
    let (output, totals) = match inverse {
        None => {
            let output = match span.emits() {
                true => {
                    let mut groups: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
                    for batch in window.earlier(span.length).chain([&enters]) {
                        for record in batch.iter() {
                            let key = record.key.unwrap_or_default();
                            groups.entry(key).or_default().push(record.value);
                        }
                    }
                    let folded = fold(worker, groups.iter().map(|(k, v)| (*k, v)))?;
                    keyed(groups.keys().copied(), &folded, span.time)
                }
                false => Batch::default(),
            };
            (output, Vec::new())
        }
        Some(inverse) => {
            let changed = slide(worker, inverse, window, &enters, span.length)?;
            let output = match span.emits() {
                true => {
                    let mut view: BTreeMap<&[u8], &[u8]> = window
                        .totals
                        .iter()
                        .map(|(k, t)| (k.as_slice(), t.value.as_slice()))
                        .collect();
                    for (key, total) in &changed {
                        match total {
                            Some(total) => view.insert(key, &total.value),
                            None => view.remove(key.as_slice()),
                        };
                    }
                    let mut output = Batch::with_capacity(view.len(), 0);
                    for (key, value) in view {
                        output.push(Some(key), value, span.time);
                    }
                    output
                }
                false => Batch::default(),
            };
            (output, changed.into_iter().collect())
        }
    };
    let delta = Delta {
        enters,
        length: span.length,
        totals,
    };
    Ok((output, delta))
}

/// The running values after `enters` joins the window and the oldest batch
/// (if the window is full) leaves it.
fn slide(
    worker: &mut Worker,
    inverse: &mut Worker,
    window: &BatchWindow,
    enters: &Batch,
    length: u32,
) -> Result<BTreeMap<Vec<u8>, Option<Total>>, Failure> {
    let mut changed: BTreeMap<Vec<u8>, Option<Total>> = BTreeMap::new();
    let mut adding: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for record in enters.iter() {
        let key = record.key.unwrap_or_default();
        let values = adding.entry(key).or_default();
        if let Some(total) = window.totals.get(key) {
            values.push(&total.value);
        }
        values.push(record.value);
    }
    let added = fold(worker, adding.iter().map(|(k, v)| (*k, v)))?;
    for (g, key) in adding.keys().enumerate() {
        let batches = window.totals.get(*key).map_or(0, |t| t.batches) + 1;
        let value = added.get(g).to_vec();
        changed.insert(key.to_vec(), Some(Total { value, batches }));
    }

    let Some(leaving) = window.leaving(length) else {
        return Ok(changed);
    };
    let mut removing: Vec<Leaving> = Vec::new();
    for record in leaving.iter() {
        let key = record.key.unwrap_or_default();
        let current = match changed.get(key) {
            Some(Some(total)) => total,
            _ => window.totals.get(key).ok_or_else(|| {
                Failure::BadOutput("a window lost track of a key it holds".into())
            })?,
        };
        match current.batches {
            0 | 1 => {
                changed.insert(key.to_vec(), None);
            }
            n => removing.push(Leaving {
                key,
                batches: n - 1,
                now: current.value.clone(),
                leaving: record.value,
            }),
        }
    }
    removing.sort_by_key(|r| r.key);
    let groups: Vec<Vec<&[u8]>> = removing
        .iter()
        .map(|r| vec![r.now.as_slice(), r.leaving])
        .collect();
    let taken = fold(inverse, removing.iter().map(|r| r.key).zip(&groups))?;
    for (g, r) in removing.iter().enumerate() {
        let total = Total {
            value: taken.get(g).to_vec(),
            batches: r.batches,
        };
        changed.insert(r.key.to_vec(), Some(total));
    }
    Ok(changed)
}

/// A key whose value a leaving batch takes something out of.
struct Leaving<'a> {
    key: &'a [u8],
    /// Batches in the window with the key, once this one has left.
    batches: u32,
    /// The key's value over the window before.
    now: Vec<u8>,
    /// What the leaving batch contributed.
    leaving: &'a [u8],
}

/// Folds each group in one call.
pub(crate) fn fold<'k, 'v, 'd: 'v>(
    worker: &mut Worker,
    groups: impl IntoIterator<Item = (&'k [u8], &'v Vec<&'d [u8]>)>,
) -> Result<ByteList, Failure> {
    let mut keys = ByteList::with_capacity(0, 0);
    let mut values = ByteList::with_capacity(0, 0);
    let mut ends = Vec::new();
    for (key, group) in groups {
        keys.push(key);
        for value in group {
            values.push(value);
        }
        ends.push(values.len() as u32);
    }
    if ends.is_empty() {
        return Ok(keys);
    }
    // The values are folded results, not input records: a failure cannot
    // name an input record.
    worker
        .reduce(keys, values, ends)
        .map_err(|failure| failure.at_input(&[]))
}

fn keyed<'a>(keys: impl Iterator<Item = &'a [u8]>, values: &ByteList, time: i64) -> Batch {
    let mut output = Batch::with_capacity(values.len(), values.data.len());
    for (g, key) in keys.enumerate() {
        output.push(Some(key), values.get(g), time);
    }
    output
}
