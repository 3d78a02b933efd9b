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
use std::io::Write;

use super::Worker;
use super::window::fold;
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plan::EventTime;
use crate::plugin::Failure;
use crate::record::Batch;

/// Header naming the start of the window an output record covers, in
/// milliseconds since the Unix epoch.
pub const WINDOW_START: &str = "window_start";
/// Header naming the end (exclusive) of the window an output record covers.
pub const WINDOW_END: &str = "window_end";

/// One partition's open windows.
#[derive(Debug, Default)]
pub(crate) struct EventWindows {
    /// Each open window's value per key, by window start then key.
    open: BTreeMap<(i64, Vec<u8>), Open>,
}

/// A key's value in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    value: Vec<u8>,
    /// Changed since it was last emitted.
    unsent: bool,
}

/// What a batch changes, applied when the batch is committed: new values,
/// or `None` for windows dropped.
pub(crate) type Delta = Vec<((i64, Vec<u8>), Option<Open>)>;

impl EventWindows {
    /// Writes the open windows into a checkpoint.
    pub(crate) fn save<W: Write>(&self, out: &mut Writer<W>) -> std::io::Result<()> {
        out.u64(self.open.len() as u64)?;
        for ((start, key), open) in &self.open {
            out.i64(*start)?;
            out.bytes(key)?;
            out.bytes(&open.value)?;
            out.u64(u64::from(open.unsent))?;
        }
        Ok(())
    }

    /// Reads back what [`EventWindows::save`] wrote.
    pub(crate) fn load(input: &mut Reader<'_>) -> Result<Self, Bad> {
        let n = input.count(32)?;
        let mut open = BTreeMap::new();
        for _ in 0..n {
            let start = input.i64()?;
            let key = input.bytes()?.to_vec();
            let value = input.bytes()?.to_vec();
            let unsent = input.u64()? != 0;
            open.insert((start, key), Open { value, unsent });
        }
        Ok(EventWindows { open })
    }

    /// Commits a batch's changes.
    pub(crate) fn apply(&mut self, delta: Delta) {
        for (window, open) in delta {
            match open {
                Some(open) => self.open.insert(window, open),
                None => self.open.remove(&window),
            };
        }
    }
}

/// What one batch does in one partition.
pub(crate) struct Processed {
    /// Windows emitted.
    pub output: Batch,
    /// Records too late for any open window.
    pub late: Batch,
    /// The latest timestamp among the input records.
    pub max_time: Option<i64>,
    /// The changes to commit.
    pub delta: Delta,
}

/// Folds `input` into its windows and emits the windows the watermark has
/// passed (all of them at the end of input).
pub(crate) fn process(
    worker: &mut Worker,
    windows: &EventWindows,
    input: &Batch,
    spec: EventTime,
    watermark: Option<i64>,
    end_of_input: bool,
) -> Result<Processed, Failure> {
    let watermark = watermark.unwrap_or(i64::MIN);
    let closed = |start: i64| start.saturating_add(spec.length + spec.lateness) <= watermark;

    let mut groups: BTreeMap<(i64, &[u8]), Vec<&[u8]>> = BTreeMap::new();
    let mut late = Batch::default();
    let mut max_time = None;
    for record in input.iter() {
        let time = record.timestamp;
        max_time = max_time.max(Some(time));
        let key = record.key.unwrap_or_default();
        let mut taken = false;
        let mut start = time.div_euclid(spec.slide) * spec.slide;
        while start > time - spec.length {
            if !closed(start) {
                groups.entry((start, key)).or_default().push(record.value);
                taken = true;
            }
            start -= spec.slide;
        }
        if !taken {
            late.push_record(record);
        }
    }

    // Fold each window's new values into its value so far, all windows
    // in one call, in (start, key) order.
    let mut folds: Vec<(&[u8], Vec<&[u8]>)> = Vec::with_capacity(groups.len());
    for ((start, key), new) in &groups {
        let mut group = Vec::with_capacity(new.len() + 1);
        if let Some(open) = windows.open.get(&(*start, key.to_vec())) {
            group.push(open.value.as_slice());
        }
        group.extend(new);
        folds.push((key, group));
    }
    let folded = fold(worker, folds.iter().map(|(k, v)| (*k, v)))?;
    let mut changed: BTreeMap<(i64, Vec<u8>), Option<Open>> = BTreeMap::new();
    for (g, (start, key)) in groups.keys().enumerate() {
        let open = Open {
            value: folded.get(g).to_vec(),
            unsent: true,
        };
        changed.insert((*start, key.to_vec()), Some(open));
    }

    // Emit the windows the watermark has passed, and drop those past their
    // lateness.
    let due = |start: i64| end_of_input || start.saturating_add(spec.length) <= watermark;
    let mut candidates: Vec<(i64, Vec<u8>)> = windows
        .open
        .keys()
        .take_while(|(start, _)| due(*start))
        .cloned()
        .collect();
    candidates.extend(changed.keys().filter(|(start, _)| due(*start)).cloned());
    candidates.sort();
    candidates.dedup();
    let mut output = Batch::default();
    for window in candidates {
        let current = match changed.get(&window) {
            Some(open) => open.clone(),
            None => windows.open.get(&window).cloned(),
        };
        let Some(mut open) = current else { continue };
        let (start, key) = &window;
        if open.unsent {
            let end = start + spec.length;
            output.push(Some(key), &open.value, end - 1);
            output.header_owners.push(output.len() as u32 - 1);
            output.header_names.push(WINDOW_START.as_bytes());
            output.header_values.push(start.to_string().as_bytes());
            output.header_owners.push(output.len() as u32 - 1);
            output.header_names.push(WINDOW_END.as_bytes());
            output.header_values.push(end.to_string().as_bytes());
            open.unsent = false;
        }
        let keep = !end_of_input && !closed(*start);
        changed.insert(window, keep.then_some(open));
    }
    Ok(Processed {
        output,
        late,
        max_time,
        delta: changed.into_iter().collect(),
    })
}
