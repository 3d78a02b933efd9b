//! `reduceByKeyAndWindow` and `countByValueAndWindow` over batches: each
//! key's values folded over the last `length` batches, emitted every
//! `slide` batches (see [`super::window`] for the window itself).
//!
//! A reduce without an inverse folds the whole window again at each
//! emission. With an inverse it keeps a running value per key, folding in
//! the batch that enters and taking out the batch that leaves, so each
//! batch costs those two batches' keys, not the window. A key is dropped
//! when no batch in the window has it, so both ways give the same result.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Worker;
use super::kind::{Context, Kind, Operators, Ran, Setup};
use super::reduce::{self, Fold, fold};
use super::window::{BatchWindow, Delta, Span, Total};
use crate::plugin::Failure;
use crate::record::{Batch, ByteList};

/// A windowed reduce (or count) over batches.
pub(crate) struct WindowedReduce {
    pub fold: Fold,
    pub length: u32,
    pub slide: u32,
}

impl Kind for WindowedReduce {
    type State = BatchWindow;
    type Pending = Box<Delta>;

    fn operators(&self, label: &Arc<str>) -> Operators {
        self.fold.operators(label)
    }

    fn state(&self, _: &Setup<'_>) -> BatchWindow {
        BatchWindow::default()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        self.fold.route(side, partitions)
    }

    const BY_KEY: bool = true;

    fn run(
        &self,
        ops: &mut Operators,
        window: &BatchWindow,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Box<Delta>>, Failure> {
        let span = Span::at(self.length, self.slide, at.batch);
        let worker = ops
            .main
            .as_mut()
            .expect("a windowed reduce has an operator");
        let (output, delta) = reduce(worker, ops.inverse.as_mut(), window, &inputs[0], span)?;
        Ok(Ran::keeping(output, Box::new(delta)))
    }

    fn commit(window: &mut BatchWindow, delta: Box<Delta>) -> anyhow::Result<()> {
        window.apply(*delta);
        Ok(())
    }
}

/// `reduceByKeyAndWindow`: each key's values over the window folded by
/// `worker`, taken out again by `inverse` if there is one.
fn reduce(
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

fn keyed<'a>(keys: impl Iterator<Item = &'a [u8]>, values: &ByteList, time: i64) -> Batch {
    let mut output = Batch::with_capacity(values.len(), values.data.len());
    for (g, key) in keys.enumerate() {
        output.push(Some(key), values.get(g), time);
    }
    output
}
