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
//!
//! A count (`count_by_value_and_window`) counts each value per slide-long
//! pane first and adds each pane's count to its windows, so a record is
//! looked at once however many windows it falls in; its windows keep
//! counts as numbers. A reduce folds each record into each of its windows
//! with the stage's operator, all windows of a batch in one call.

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
use crate::record::{Batch, RecordRef};
use crate::shuffle;
use crate::state::{LogRecord, Logs};

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
        EventWindows {
            counts: matches!(self.fold, Fold::Count),
            open: BTreeMap::new(),
            logged: None,
        }
    }

    /// A count goes by each record's value, left as it is (so late
    /// records go to the side output as they came).
    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        match self.fold {
            Fold::Count => shuffle::exchange_by_value(side, partitions),
            Fold::Reduce { .. } => shuffle::exchange(side, partitions),
        }
    }

    const BY_KEY: bool = true;

    fn run(
        &self,
        ops: &mut Operators,
        windows: &EventWindows,
        inputs: &[Batch],
        at: &Context,
    ) -> Result<Ran<Delta>, Failure> {
        let (input, spec) = (&inputs[0], self.spec);
        let watermark = at.watermark.unwrap_or(i64::MIN);
        let (late, max_time, mut changed) = match self.fold {
            Fold::Count => {
                let mut panes = FxHashMap::default();
                let (late, max_time) = assign(input, spec, watermark, |pane, record| {
                    *panes.entry((pane, record.value)).or_default() += 1;
                });
                (late, max_time, count(windows, &panes, spec, watermark))
            }
            Fold::Reduce { .. } => {
                let mut by_pane = Vec::new();
                let (late, max_time) = assign(input, spec, watermark, |pane, record| {
                    by_pane.push((pane, record.key.unwrap_or_default(), record.value));
                });
                let changed = fold_in(ops.main(), windows, &by_pane, spec, watermark)?;
                (late, max_time, changed)
            }
        };
        let records = emit(
            windows,
            &mut changed,
            spec,
            watermark,
            at.batch.end_of_input,
        );
        Ok(Ran {
            records,
            late,
            max_time,
            pending: Some(changed),
        })
    }

    fn commit(windows: &mut EventWindows, delta: Delta) -> anyhow::Result<()> {
        windows.apply(delta);
        Ok(())
    }

    fn watermark_delay(&self) -> Option<i64> {
        Some(self.spec.delay)
    }
}

/// Header naming the start of the window an output record covers, in
/// milliseconds since the Unix epoch.
pub const WINDOW_START: &str = "window_start";
/// Header naming the end (exclusive) of the window an output record covers.
pub const WINDOW_END: &str = "window_end";

/// One partition's open windows.
#[derive(Debug)]
pub(crate) struct EventWindows {
    /// Whether the values are counts.
    counts: bool,
    /// Each open window's value per key, by window start then key.
    open: BTreeMap<i64, Keys<Open>>,
    /// Changes kept for a worker's changelog, once it asks
    /// ([`Logs::start_logging`]).
    logged: Option<Vec<LogRecord>>,
}

/// Something per key, hashed. A key's bytes are shared by every window
/// it is open in.
type Keys<T> = FxHashMap<Arc<[u8]>, T>;

/// A key's value in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    value: Value,
    /// Changed since it was last emitted.
    unsent: bool,
}

/// A window's value for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// A count (written in decimal).
    Count(i64),
    /// What the stage's reduce made.
    Folded(Vec<u8>),
}

impl Value {
    /// The value as written out: a count in decimal, into `text`.
    fn bytes<'a>(&'a self, text: &'a mut String) -> &'a [u8] {
        match self {
            Value::Count(n) => {
                use std::fmt::Write;
                text.clear();
                write!(text, "{n}").expect("writing to a string");
                text.as_bytes()
            }
            Value::Folded(bytes) => bytes,
        }
    }
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
                if let Some(logged) = &mut self.logged {
                    logged.push(LogRecord {
                        key: [&key[..], &start.to_be_bytes()].concat(),
                        value: open.as_ref().map(Open::logged),
                    });
                }
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

    /// A key and its value in a window, if it is open.
    fn get(&self, start: i64, key: &[u8]) -> Option<(&Arc<[u8]>, &Open)> {
        self.open.get(&start)?.get_key_value(key)
    }
}

impl Kept for EventWindows {
    const KEEPS: Keeps = Keeps::Events;

    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        let count: usize = self.open.values().map(|keys| keys.len()).sum();
        out.put(&(count as u64))?;
        let mut text = String::new();
        for (start, keys) in &self.open {
            // In key order, so the same state writes the same bytes.
            let mut sorted: Vec<_> = keys.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (key, open) in sorted {
                let value = open.value.bytes(&mut text);
                out.put(&(start, Bytes::new(key), Bytes::new(value), open.unsent))?;
            }
        }
        Ok(())
    }

    fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        // A window takes at least four bytes: a start, two lengths, a flag.
        let n = input.count(4)?;
        for _ in 0..n {
            let (start, key, value, unsent): (i64, &Bytes, &Bytes, bool) = input.take()?;
            let value = self.value_of(value, start)?;
            let open = Open { value, unsent };
            self.open
                .entry(start)
                .or_default()
                .insert(Arc::from(&**key), open);
        }
        Ok(())
    }

    fn logs(&mut self) -> Option<&mut dyn Logs> {
        Some(self)
    }
}

/// A window's value for a key as a worker's changelog holds it: the
/// record's key is the state's key then the window's start (8 bytes,
/// big-endian), so compaction keeps each window's last value; its value
/// whether the window is unsent (1 byte) then the value as emitted.
impl Logs for EventWindows {
    fn state_key<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        &key[..key.len().saturating_sub(8)]
    }

    fn start_logging(&mut self) {
        self.logged.get_or_insert_with(Vec::new);
    }

    fn logged(&mut self) -> Vec<LogRecord> {
        self.logged.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn forget_moved(&mut self, gone: &dyn Fn(&[u8]) -> bool) -> anyhow::Result<usize> {
        let mut forgotten = 0;
        self.open.retain(|_, keys| {
            let before = keys.len();
            keys.retain(|key, _| !gone(key));
            forgotten += before - keys.len();
            !keys.is_empty()
        });
        Ok(forgotten)
    }

    fn take_in(&mut self, records: Vec<LogRecord>) -> anyhow::Result<()> {
        for LogRecord { key, value } in records {
            let Some(start) = key.len().checked_sub(8) else {
                anyhow::bail!(
                    "the record of key {:?} names no window (under 8 bytes); was the topic written by something else?",
                    String::from_utf8_lossy(&key)
                );
            };
            let at = i64::from_be_bytes(key[start..].try_into().expect("8 bytes"));
            let state_key: Arc<[u8]> = Arc::from(&key[..start]);
            let Some(value) = value else {
                if let Some(keys) = self.open.get_mut(&at) {
                    keys.remove(&state_key);
                    if keys.is_empty() {
                        self.open.remove(&at);
                    }
                }
                continue;
            };
            let open = match value.split_first() {
                Some((&unsent, value)) if unsent <= 1 => {
                    (self.value_of(value, at)).map(|value| Open {
                        value,
                        unsent: unsent == 1,
                    })
                }
                _ => Err(format!("window {at}: not a window's value")),
            };
            let open = open.map_err(|e| {
                anyhow::anyhow!("key {:?}: {e}", String::from_utf8_lossy(&state_key))
            })?;
            self.open.entry(at).or_default().insert(state_key, open);
        }
        Ok(())
    }
}

impl EventWindows {
    /// A window's value as written out, read back.
    fn value_of(&self, value: &[u8], start: i64) -> Result<Value, String> {
        match self.counts {
            true => std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.parse().ok())
                .map(Value::Count)
                .ok_or_else(|| format!("window {start}: a count that is not a number")),
            false => Ok(Value::Folded(value.to_vec())),
        }
    }
}

impl Open {
    /// As a changelog record's value.
    fn logged(&self) -> Vec<u8> {
        let mut text = String::new();
        [&[u8::from(self.unsent)][..], self.value.bytes(&mut text)].concat()
    }
}

/// Whether the window starting at `start` is closed: past its end and its
/// allowed lateness.
fn closed(spec: EventTime, watermark: i64, start: i64) -> bool {
    start.saturating_add(spec.length + spec.lateness) <= watermark
}

/// Gives `each` every record with its pane (the start of the newest
/// window it falls in), unless it is late: too late even for that window
/// (older ones close first). Returns the late records, as they came, and
/// the latest timestamp of all.
fn assign<'a>(
    input: &'a Batch,
    spec: EventTime,
    watermark: i64,
    mut each: impl FnMut(i64, RecordRef<'a>),
) -> (Batch, Option<i64>) {
    let mut late = Batch::default();
    let mut max_time = None;
    for record in input.iter() {
        let time = record.timestamp;
        max_time = max_time.max(Some(time));
        let pane = time.div_euclid(spec.slide) * spec.slide;
        match closed(spec, watermark, pane) {
            true => late.push_record(record),
            false => each(pane, record),
        }
    }
    (late, max_time)
}

/// The windows a pane's records fall in that are still open, newest
/// first.
fn windows_of(pane: i64, spec: EventTime, watermark: i64) -> impl Iterator<Item = i64> {
    let oldest = pane - spec.length;
    std::iter::successors(Some(pane), move |start| Some(start - spec.slide))
        .take_while(move |start| *start > oldest)
        .filter(move |start| !closed(spec, watermark, *start))
}

/// A count: each pane's count of each value (`panes`, counted as the
/// records were assigned) added to its open windows' counts so far, so a
/// record is looked at once, not once per window it falls in.
fn count(
    windows: &EventWindows,
    panes: &FxHashMap<(i64, &[u8]), i64>,
    spec: EventTime,
    watermark: i64,
) -> Delta {
    let mut added: FxHashMap<(i64, &[u8]), i64> = FxHashMap::default();
    added.reserve(panes.len() * (spec.length / spec.slide) as usize);
    for (&(pane, key), &n) in panes {
        for start in windows_of(pane, spec, watermark) {
            *added.entry((start, key)).or_default() += n;
        }
    }
    let mut shared = Shared::default();
    let mut changed = Delta::new();
    for ((start, key), n) in added {
        let (key, so_far) = match windows.get(start, key) {
            Some((key, open)) => (key.clone(), open.value.clone()),
            None => (shared.key(key), Value::Count(0)),
        };
        let Value::Count(so_far) = so_far else {
            unreachable!("a count stage keeps counts")
        };
        let open = Open {
            value: Value::Count(so_far + n),
            unsent: true,
        };
        changed.entry(start).or_default().insert(key, Some(open));
    }
    changed
}

/// Keys new to the state, each allocated once for all its windows.
#[derive(Default)]
struct Shared<'a>(FxHashMap<&'a [u8], Arc<[u8]>>);

impl<'a> Shared<'a> {
    fn key(&mut self, key: &'a [u8]) -> Arc<[u8]> {
        self.0.entry(key).or_insert_with(|| Arc::from(key)).clone()
    }
}

/// A window's start, a key, and its values there.
type Group<'a> = (i64, &'a [u8], Vec<&'a [u8]>);

/// A reduce: each window's new values folded into its value so far with
/// the stage's operator, all windows in one call.
fn fold_in(
    worker: &mut Worker,
    windows: &EventWindows,
    by_pane: &[(i64, &[u8], &[u8])],
    spec: EventTime,
    watermark: i64,
) -> Result<Delta, Failure> {
    // Each (window start, key) with its values (the value so far first),
    // in order of first appearance.
    let mut index: FxHashMap<(i64, &[u8]), usize> = FxHashMap::default();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for &(pane, key, value) in by_pane {
        for start in windows_of(pane, spec, watermark) {
            let g = *index.entry((start, key)).or_insert_with(|| {
                let so_far = windows.get(start, key).map(|(_, open)| match &open.value {
                    Value::Folded(bytes) => bytes.as_slice(),
                    Value::Count(_) => unreachable!("a reduce stage keeps what it folded"),
                });
                groups.push((start, key, so_far.into_iter().collect()));
                groups.len() - 1
            });
            groups[g].2.push(value);
        }
    }
    let folded = fold(worker, groups.iter().map(|(_, key, values)| (*key, values)))?;
    let mut shared = Shared::default();
    let mut changed = Delta::new();
    for (g, (start, key, _)) in groups.iter().enumerate() {
        let open = Open {
            value: Value::Folded(folded.get(g).to_vec()),
            unsent: true,
        };
        changed
            .entry(*start)
            .or_default()
            .insert(shared.key(key), Some(open));
    }
    Ok(changed)
}

/// Emits the windows the watermark has passed (all of them at the end of
/// input): each window's keys changed since it was last emitted, in key
/// order. Marks them sent in `changed`, and drops the windows past their
/// lateness.
fn emit(
    windows: &EventWindows,
    changed: &mut Delta,
    spec: EventTime,
    watermark: i64,
    end_of_input: bool,
) -> Batch {
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
    let mut text = String::new();
    for start in starts {
        let mut now = changed.remove(&start).unwrap_or_default();
        let was = windows.open.get(&start);
        // What this batch changed, and what earlier batches left unsent.
        let untouched = |key: &Arc<[u8]>| !now.contains_key(key);
        let mut unsent: Vec<(&[u8], &Value)> = now
            .iter()
            .filter_map(|(key, open)| Some((&**key, open.as_ref()?)))
            .chain(
                was.into_iter()
                    .flatten()
                    .filter(|(k, _)| untouched(k))
                    .map(|(k, o)| (&**k, o)),
            )
            .filter(|(_, open)| open.unsent)
            .map(|(key, open)| (key, &open.value))
            .collect();
        unsent.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let end = start + spec.length;
        let (start_text, end_text) = (start.to_string(), end.to_string());
        for (key, value) in unsent {
            output.push(Some(key), value.bytes(&mut text), end - 1);
            let owner = output.len() as u32 - 1;
            for (name, text) in [(WINDOW_START, &start_text), (WINDOW_END, &end_text)] {
                output.header_owners.push(owner);
                output.header_names.push(name.as_bytes());
                output.header_values.push(text.as_bytes());
            }
        }
        let keep = !end_of_input && !closed(spec, watermark, start);
        // Earlier batches' keys change only if they were unsent or the
        // window goes.
        let earlier: Vec<(Arc<[u8]>, Option<Open>)> = was
            .into_iter()
            .flatten()
            .filter(|(key, open)| untouched(key) && (open.unsent || !keep))
            .map(|(key, open)| {
                let sent = Open {
                    value: open.value.clone(),
                    unsent: false,
                };
                (key.clone(), keep.then_some(sent))
            })
            .collect();
        for open in now.values_mut() {
            match (keep, open.as_mut()) {
                (true, Some(open)) => open.unsent = false,
                _ => *open = None,
            }
        }
        now.extend(earlier);
        changed.insert(start, now);
    }
    output
}
