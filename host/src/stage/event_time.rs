//! Event-time windows: records folded into windows by their own
//! timestamps, whatever order they arrive in.
//!
//! Windows are `[start, start + length)` for every `start` that is a
//! multiple of `slide`, so a record falls in `length / slide` windows
//! (one, for tumbling windows). The stage's watermark trails the latest
//! timestamp it has seen by the manifest's `watermark` delay; it is
//! computed at the end of each batch over all partitions and used by the
//! next, so it depends only on the batches, and a replay agrees with the
//! first run.
//!
//! A window is emitted once the watermark reaches its end. It then stays
//! open for `allowed_lateness` more: a record arriving for it meanwhile is
//! folded in and the window emitted again with the new value. After that
//! the window is dropped, and a record that has no open window left goes
//! to the stage's side output `<stage>.late`, counted, never silently
//! dropped. When every source has ended, all open windows are emitted.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_bytes::Bytes;

use super::Worker;
use super::kind::{Context, Keeps, Kept, Kind, Operators, Ran, Setup};
use super::reduce::{Fold, fold};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plan::EventTime;
use crate::plugin::Failure;
use crate::record::Batch;

/// A windowed reduce (or count) over event time.
pub(crate) struct EventTimeReduce {
    pub fold: Fold,
    pub spec: EventTime,
}

impl Kind for EventTimeReduce {
    type State = EventWindows;
    type Pending = Delta;

    fn operators(&self, label: &Arc<str>) -> Operators {
        self.fold.operators(label)
    }

    fn state(&self, _: &Setup<'_>) -> EventWindows {
        EventWindows::default()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        self.fold.route(side, partitions)
    }

    const BY_KEY: bool = true;

    fn run(
        &self,
        ops: &mut Operators,
        windows: &EventWindows,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Delta>, Failure> {
        // A count is the same whichever order its values come in, so
        // each slide-long pane is counted first and each pane's counts
        // are added to its windows: a record is looked at once, not once
        // per window it falls in.
        let panes = matches!(self.fold, Fold::Count) && self.spec.length > self.spec.slide;
        let processed = process(
            ops.main(),
            windows,
            &inputs[0],
            self.spec,
            at.watermark,
            at.batch.end_of_input,
            panes,
        )?;
        Ok(Ran {
            records: processed.output,
            late: self.fold.unkeyed(processed.late),
            max_time: processed.max_time,
            pending: Some(processed.delta),
        })
    }

    fn commit(windows: &mut EventWindows, delta: Delta) -> anyhow::Result<()> {
        windows.apply(delta);
        Ok(())
    }

    fn event_time(&self) -> Option<EventTime> {
        Some(self.spec)
    }
}

/// Header naming the start of the window an output record covers, in
/// milliseconds since the Unix epoch.
pub const WINDOW_START: &str = "window_start";
/// Header naming the end (exclusive) of the window an output record covers.
pub const WINDOW_END: &str = "window_end";

/// One partition's open windows.
#[derive(Debug, Default)]
pub(crate) struct EventWindows {
    /// Each open window's value per key, by window start then key.
    open: BTreeMap<i64, Keys<Open>>,
}

/// Something per key, hashed.
type Keys<T> = FxHashMap<Vec<u8>, T>;

/// A key's value in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    value: Vec<u8>,
    /// Changed since it was last emitted.
    unsent: bool,
}

/// What a batch changes, applied when the batch is committed: new values,
/// or `None` for windows dropped, by window start then key.
pub(crate) type Delta = BTreeMap<i64, Keys<Option<Open>>>;

impl EventWindows {
    /// Commits a batch's changes.
    pub(crate) fn apply(&mut self, delta: Delta) {
        for (start, keys) in delta {
            let window = self.open.entry(start).or_default();
            for (key, open) in keys {
                match open {
                    Some(open) => window.insert(key, open),
                    None => window.remove(&key),
                };
            }
            if window.is_empty() {
                self.open.remove(&start);
            }
        }
    }

    /// A key's value in a window, if it is open.
    fn get(&self, start: i64, key: &[u8]) -> Option<&Open> {
        self.open.get(&start)?.get(key)
    }
}

impl Kept for EventWindows {
    const KEEPS: Keeps = Keeps::Events;

    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        let count: usize = self.open.values().map(|keys| keys.len()).sum();
        out.put(&(count as u64))?;
        for (start, keys) in &self.open {
            // In key order, so the same state writes the same bytes.
            let mut sorted: Vec<_> = keys.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, open) in sorted {
                out.put(&(start, Bytes::new(key), Bytes::new(&open.value), open.unsent))?;
            }
        }
        Ok(())
    }

    fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        // A window takes at least four bytes: a start, two lengths, a flag.
        let n = input.count(4)?;
        for _ in 0..n {
            let (start, key, value, unsent): (i64, &Bytes, &Bytes, bool) = input.take()?;
            let open = Open {
                value: value.to_vec(),
                unsent,
            };
            self.open
                .entry(start)
                .or_default()
                .insert(key.to_vec(), open);
        }
        Ok(())
    }
}

/// What one batch does in one partition.
struct Processed {
    /// Windows emitted.
    pub output: Batch,
    /// Records too late for any open window.
    pub late: Batch,
    /// The latest timestamp among the input records.
    pub max_time: Option<i64>,
    /// The changes to commit.
    pub delta: Delta,
}

/// A pane's or window's start, a key, and its values there.
type Group<'a> = (i64, &'a [u8], Vec<&'a [u8]>);

/// Folds `input` into its windows and emits the windows the watermark has
/// passed (all of them at the end of input). With `panes`, the values of
/// each key in each slide-long pane are folded first, and the pane's value
/// goes into each of its windows (for folds indifferent to order).
fn process(
    worker: &mut Worker,
    windows: &EventWindows,
    input: &Batch,
    spec: EventTime,
    watermark: Option<i64>,
    end_of_input: bool,
    panes: bool,
) -> Result<Processed, Failure> {
    let watermark = watermark.unwrap_or(i64::MIN);
    let closed = |start: i64| start.saturating_add(spec.length + spec.lateness) <= watermark;

    // Each record goes to the pane starting where its newest window does;
    // it is late when even that window is closed (older ones close first).
    let mut late = Batch::default();
    let mut max_time = None;
    let mut by_pane: Vec<(i64, &[u8], &[u8])> = Vec::with_capacity(input.len());
    for record in input.iter() {
        let time = record.timestamp;
        max_time = max_time.max(Some(time));
        let pane = time.div_euclid(spec.slide) * spec.slide;
        if closed(pane) {
            late.push_record(record);
        } else {
            by_pane.push((pane, record.key.unwrap_or_default(), record.value));
        }
    }
    let folded_panes;
    if panes {
        let mut index: FxHashMap<(i64, &[u8]), usize> = FxHashMap::default();
        // Each (pane, key) with its values, in order of first appearance.
        let mut pane_groups: Vec<Group<'_>> = Vec::new();
        for &(pane, key, value) in &by_pane {
            let i = *index.entry((pane, key)).or_insert_with(|| {
                pane_groups.push((pane, key, Vec::new()));
                pane_groups.len() - 1
            });
            pane_groups[i].2.push(value);
        }
        folded_panes = fold(worker, pane_groups.iter().map(|(_, k, v)| (*k, v)))?;
        by_pane = pane_groups
            .iter()
            .enumerate()
            .map(|(g, (pane, key, _))| (*pane, *key, folded_panes.get(g)))
            .collect();
    }
    // Each (window start, key) with its new values, in order of first
    // appearance.
    let mut index: FxHashMap<(i64, &[u8]), usize> = FxHashMap::default();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (pane, key, value) in by_pane {
        let mut start = pane;
        while start > pane - spec.length {
            if !closed(start) {
                let g = *index.entry((start, key)).or_insert_with(|| {
                    // The window's value so far comes first.
                    let so_far = windows.get(start, key).map(|open| open.value.as_slice());
                    groups.push((start, key, so_far.into_iter().collect()));
                    groups.len() - 1
                });
                groups[g].2.push(value);
            }
            start -= spec.slide;
        }
    }

    // Fold each window's new values into its value so far, all windows
    // in one call.
    let folded = fold(worker, groups.iter().map(|(_, key, values)| (*key, values)))?;
    let mut changed = Delta::new();
    for (g, (start, key, _)) in groups.iter().enumerate() {
        let open = Open {
            value: folded.get(g).to_vec(),
            unsent: true,
        };
        changed
            .entry(*start)
            .or_default()
            .insert(key.to_vec(), Some(open));
    }

    // Emit the windows the watermark has passed, each window's keys in
    // order, and drop those past their lateness.
    let due = |start: i64| end_of_input || start.saturating_add(spec.length) <= watermark;
    let mut starts: Vec<i64> = windows
        .open
        .keys()
        .copied()
        .take_while(|start| due(*start))
        .collect();
    starts.extend(changed.keys().copied().filter(|start| due(*start)));
    starts.sort_unstable();
    starts.dedup();
    let mut output = Batch::default();
    for start in starts {
        let now = changed.entry(start).or_default();
        // This batch's values, then those of earlier batches it left alone.
        let mut entries: Vec<(Vec<u8>, Option<Open>)> = now.drain().collect();
        if let Some(was) = windows.open.get(&start) {
            let untouched = was
                .iter()
                .filter(|(key, _)| !index.contains_key(&(start, key.as_slice())));
            entries.extend(untouched.map(|(key, open)| (key.clone(), Some(open.clone()))));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let end = start + spec.length;
        let keep = !end_of_input && !closed(start);
        for (key, current) in entries {
            let Some(mut open) = current else { continue };
            if open.unsent {
                output.push(Some(&key), &open.value, end - 1);
                output.header_owners.push(output.len() as u32 - 1);
                output.header_names.push(WINDOW_START.as_bytes());
                output.header_values.push(start.to_string().as_bytes());
                output.header_owners.push(output.len() as u32 - 1);
                output.header_names.push(WINDOW_END.as_bytes());
                output.header_values.push(end.to_string().as_bytes());
                open.unsent = false;
            }
            now.insert(key, keep.then_some(open));
        }
    }
    Ok(Processed {
        output,
        late,
        max_time,
        delta: changed,
    })
}
