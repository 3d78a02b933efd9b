//! Running a call again on another version of an operator: the last call
//! of each partition is kept so a candidate can be dry-run on it before it
//! goes live, and a shadow version gets every call the live one gets, its
//! output compared with the live output and then thrown away.

use std::sync::Arc;

use crate::plugin::{CallError, CogroupInput, Instance, ProcessInput, StateInput, StateOutput};
use crate::record::{Batch, ByteList};

use super::WasmOperator;

/// Differences kept as examples per batch.
const SAMPLES: usize = 3;
/// The longest rendering of one side of a difference.
const SAMPLE_CHARS: usize = 120;

/// The arguments of one call into an operator.
#[derive(Clone)]
pub enum Call {
    /// `map.map(batch)`.
    Map(Batch),
    /// `filter.filter(batch)`.
    Filter(Batch),
    /// `flat-map.flat-map(batch)`.
    FlatMap(Batch),
    /// `reduce.reduce(keys, values, group-ends)`.
    Reduce {
        /// One key per group.
        keys: ByteList,
        /// The values, group after group.
        values: ByteList,
        /// Where each group's values end.
        group_ends: Vec<u32>,
    },
    /// `update-state.update(input)`.
    UpdateState(StateInput),
    /// `cogroup.cogroup(input)` (boxed: two batches).
    Cogroup(Box<CogroupInput>),
    /// `keyed-process.process(input)` (boxed: big).
    KeyedProcess(Box<ProcessInput>),
}

/// What a call returned, borrowed from whoever holds it.
pub(crate) enum Returned<'a> {
    Records(&'a Batch),
    Kept(&'a [bool]),
    Values(&'a ByteList),
    States(&'a StateOutput),
}

/// What a call returned, owned.
enum Outcome {
    Records(Batch),
    Kept(Vec<bool>),
    Values(ByteList),
    States(StateOutput),
}

/// The arguments of one call, borrowed: what a shadow gets, so the live
/// call's arguments need not be copied for it.
#[derive(Clone, Copy)]
pub(crate) enum CallRef<'a> {
    Map(&'a Batch),
    Filter(&'a Batch),
    FlatMap(&'a Batch),
    Reduce {
        keys: &'a ByteList,
        values: &'a ByteList,
        group_ends: &'a [u32],
    },
    UpdateState(&'a StateInput),
    Cogroup(&'a CogroupInput),
    KeyedProcess(&'a ProcessInput),
}

impl Call {
    /// Makes this call on `instance`, which must be of the same kind.
    pub fn on(&self, instance: &mut Instance) -> Result<(), CallError> {
        self.borrowed().outcome(instance).map(drop)
    }

    fn borrowed(&self) -> CallRef<'_> {
        match self {
            Call::Map(input) => CallRef::Map(input),
            Call::Filter(input) => CallRef::Filter(input),
            Call::FlatMap(input) => CallRef::FlatMap(input),
            Call::Reduce {
                keys,
                values,
                group_ends,
            } => CallRef::Reduce {
                keys,
                values,
                group_ends,
            },
            Call::UpdateState(input) => CallRef::UpdateState(input),
            Call::Cogroup(input) => CallRef::Cogroup(input),
            Call::KeyedProcess(input) => CallRef::KeyedProcess(input),
        }
    }
}

impl CallRef<'_> {
    fn outcome(self, instance: &mut Instance) -> Result<Outcome, CallError> {
        Ok(match self {
            CallRef::Map(input) => Outcome::Records(instance.map(input)?),
            CallRef::Filter(input) => Outcome::Kept(instance.filter(input)?),
            CallRef::FlatMap(input) => Outcome::Records(instance.flat_map(input)?),
            CallRef::Reduce {
                keys,
                values,
                group_ends,
            } => Outcome::Values(instance.reduce(keys, values, group_ends)?),
            CallRef::UpdateState(input) => Outcome::States(instance.update_state(input)?),
            CallRef::Cogroup(input) => Outcome::Records(instance.cogroup(input)?),
            // Compared by what it emits.
            CallRef::KeyedProcess(input) => Outcome::Records(instance.process(input)?.output),
        })
    }
}

/// A candidate version running beside the live one.
pub(crate) struct Shadow {
    pub(crate) op: Arc<WasmOperator>,
    instance: Option<Instance>,
    /// This batch's comparison so far.
    pub(crate) report: ShadowReport,
}

/// How a shadow version's output differed from the live version's in one
/// batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShadowReport {
    /// Records (or keep flags, or reduced values) the live version output.
    pub compared: usize,
    /// How many of them the shadow output differently (a record only one
    /// side output counts too).
    pub differing: usize,
    /// A few differences, `live → shadow`.
    pub samples: Vec<String>,
    /// Why the shadow failed the batch, if it did.
    pub failed: Option<String>,
}

impl ShadowReport {
    /// Adds another partition's report.
    pub fn merge(&mut self, other: ShadowReport) {
        self.compared += other.compared;
        self.differing += other.differing;
        for sample in other.samples {
            if self.samples.len() < SAMPLES {
                self.samples.push(sample);
            }
        }
        if self.failed.is_none() {
            self.failed = other.failed;
        }
    }
}

impl Shadow {
    pub(crate) fn new(op: Arc<WasmOperator>) -> Self {
        Shadow {
            op,
            instance: None,
            report: ShadowReport::default(),
        }
    }

    /// Makes `call` on the shadow and compares what it returns with what
    /// the live version returned. A shadow that fails is reported, never
    /// fails the batch.
    pub(crate) fn compare(&mut self, label: &Arc<str>, call: CallRef<'_>, live: Returned<'_>) {
        if self.instance.is_none() {
            match self
                .op
                .plugin
                .instantiate(label.clone(), self.op.limits, &self.op.params)
            {
                Ok(instance) => self.instance = Some(instance),
                Err(e) => {
                    self.report.failed = Some(e.to_string());
                    return;
                }
            }
        }
        let instance = self.instance.as_mut().expect("just made");
        let shadow = match call.outcome(instance) {
            Ok(outcome) => outcome,
            Err(e) => {
                if e.poisoned {
                    self.instance = None;
                }
                self.report.failed = Some(e.to_string());
                return;
            }
        };
        let report = &mut self.report;
        let mut differ = |live: String, shadow: String| {
            report.differing += 1;
            if report.samples.len() < SAMPLES {
                report
                    .samples
                    .push(format!("{} → {}", clip(&live), clip(&shadow)));
            }
        };
        match (live, shadow) {
            (Returned::Records(live), Outcome::Records(shadow)) => {
                report_records(live, &shadow, &mut report.compared, &mut differ)
            }
            (Returned::States(live), Outcome::States(shadow)) => report_records(
                &live.output,
                &shadow.output,
                &mut report.compared,
                &mut differ,
            ),
            (Returned::Kept(live), Outcome::Kept(shadow)) => {
                report.compared += live.len();
                for i in 0..live.len().max(shadow.len()) {
                    let (a, b) = (live.get(i), shadow.get(i));
                    if a != b {
                        differ(format!("record {i} kept: {a:?}"), format!("{b:?}"));
                    }
                }
            }
            (Returned::Values(live), Outcome::Values(shadow)) => {
                let count = live.ends.len();
                report.compared += count;
                for i in 0..count.max(shadow.ends.len()) {
                    let (a, b) = (item(live, i), item(&shadow, i));
                    if a != b {
                        differ(text(a), text(b));
                    }
                }
            }
            _ => unreachable!("a shadow is of the live version's kind"),
        }
    }
}

fn report_records(
    live: &Batch,
    shadow: &Batch,
    compared: &mut usize,
    differ: &mut impl FnMut(String, String),
) {
    *compared += live.len();
    for i in 0..live.len().max(shadow.len()) {
        let render =
            |batch: &Batch| (i < batch.len()).then(|| crate::record::display(&batch.get(i)));
        let (a, b) = (render(live), render(shadow));
        if a != b {
            let none = || "(nothing)".to_owned();
            differ(a.unwrap_or_else(none), b.unwrap_or_else(none));
        }
    }
}

fn item(list: &ByteList, i: usize) -> Option<&[u8]> {
    let end = *list.ends.get(i)? as usize;
    let start = if i == 0 { 0 } else { list.ends[i - 1] as usize };
    list.data.get(start..end)
}

fn text(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || "(nothing)".to_owned(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(SAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
