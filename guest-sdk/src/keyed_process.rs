//! Keyed process: per-key state over event time, with timers (Flink's
//! keyed process functions), for a `process_by_key` stage.

use crate::bindings::keyed_process::exports::wasmstream::operator::keyed_process::{
    ProcessInput, ProcessOutput,
};
use crate::bindings::{ByteList, OperatorError};
use crate::flat_map::Emitter;
use crate::record::BatchReader;
use crate::slot::{Slot, failed};
use crate::{Error, Params, Record};

/// One key's turn in a batch.
pub struct KeyEvents<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its state, if it has one.
    pub state: Option<&'a [u8]>,
    /// Its new records, in order, with their timestamps and headers (none
    /// when only timers fired). None is behind [`KeyEvents::watermark`].
    pub records: &'a [Record<'a>],
    /// Its timers the watermark reached, earliest first: each fires once.
    pub fired: &'a [i64],
    /// The stage's watermark (milliseconds since the Unix epoch): every
    /// record still to come is at or after it. `None` before the stage has
    /// seen a timestamp.
    pub watermark: Option<i64>,
    /// When the batch was cut, in milliseconds since the Unix epoch.
    pub batch_time: i64,
}

/// A key's pending timers: event times (milliseconds) at which the key is
/// called again, with or without records, once the watermark reaches them.
///
/// ```
/// use wasmstream_guest::keyed_process::Timers;
///
/// let mut timers = Timers::default();
/// timers.set(5_000);
/// timers.set(2_000);
/// timers.set(5_000);
/// timers.delete(2_000);
/// assert_eq!(timers.pending(), [5_000]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Timers {
    pending: Vec<i64>,
}

impl Timers {
    /// Sets a timer at `at` (once, however often it is set).
    pub fn set(&mut self, at: i64) {
        if let Err(i) = self.pending.binary_search(&at) {
            self.pending.insert(i, at);
        }
    }

    /// Deletes the timer at `at`, if there is one.
    pub fn delete(&mut self, at: i64) {
        self.pending.retain(|&t| t != at);
    }

    /// Deletes every timer.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// The timers set, earliest first.
    pub fn pending(&self) -> &[i64] {
        &self.pending
    }
}

/// An operator with a state and timers per key, over event time: each
/// batch it sees a key's state, its new records and the timers that
/// fired, returns the new state (or `None` to delete it), sets or deletes
/// timers and may emit records.
///
/// ```
/// use wasmstream_guest::keyed_process::{KeyEvents, Timers};
/// use wasmstream_guest::text::{parse_i64, write_i64};
/// use wasmstream_guest::{Emitter, Error, KeyedProcess, Params, Record};
///
/// /// Emits each key's count of records 10 s of event time after its
/// /// last one.
/// struct CountThenQuiet;
///
/// impl KeyedProcess for CountThenQuiet {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(CountThenQuiet)
///     }
///     fn process(&mut self, key: KeyEvents<'_>, timers: &mut Timers, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
///         let mut count = key.state.map(parse_i64).transpose()?.unwrap_or(0);
///         if !key.fired.is_empty() && timers.pending().is_empty() {
///             let mut text = Vec::new();
///             write_i64(count, &mut text);
///             out.emit(Record::new(text).with_key(key.key));
///             return Ok(None);
///         }
///         count += key.records.len() as i64;
///         if let Some(last) = key.records.iter().map(|r| r.timestamp).max() {
///             timers.clear();
///             timers.set(last + 10_000);
///         }
///         let mut state = Vec::new();
///         write_i64(count, &mut state);
///         Ok(Some(state))
///     }
/// }
/// # let mut out = Emitter::default();
/// # let mut timers = Timers::default();
/// # let records = [Record { timestamp: 500, ..Record::new("x") }];
/// # let key = KeyEvents { key: b"k", state: None, records: &records, fired: &[], watermark: None, batch_time: 0 };
/// # assert_eq!(CountThenQuiet.process(key, &mut timers, &mut out).unwrap(), Some(b"1".to_vec()));
/// # assert_eq!(timers.pending(), [10_500]);
/// ```
pub trait KeyedProcess: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Processes one key. `timers` holds its pending timers (those that
    /// fired are gone); what it holds on return is what stays set. An
    /// error fails the batch, naming the key's first record.
    fn process(
        &mut self,
        key: KeyEvents<'_>,
        timers: &mut Timers,
        out: &mut Emitter,
    ) -> Result<Option<Vec<u8>>, Error>;
}

#[doc(hidden)]
pub fn init<T: KeyedProcess>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

fn item(list: &ByteList, i: usize) -> &[u8] {
    let start = if i == 0 { 0 } else { list.ends[i - 1] as usize };
    &list.data[start..list.ends[i] as usize]
}

#[doc(hidden)]
pub fn run<T: KeyedProcess>(
    slot: &Slot<T>,
    input: ProcessInput,
) -> Result<ProcessOutput, OperatorError> {
    slot.with(|operator| {
        let records: Vec<Record<'_>> = BatchReader::new(&input.records).collect();
        let groups = input.keys.ends.len();
        let mut keep = Vec::with_capacity(groups);
        let mut states = ByteList {
            data: Vec::new(),
            ends: Vec::with_capacity(groups),
        };
        let (mut all_timers, mut timer_ends) = (Vec::new(), Vec::with_capacity(groups));
        let mut out = Emitter::default();
        let (mut r, mut f, mut p) = (0, 0, 0);
        for g in 0..groups {
            let (r_end, f_end, p_end) = (
                input.record_ends[g] as usize,
                input.fired_ends[g] as usize,
                input.pending_ends[g] as usize,
            );
            let mut timers = Timers {
                pending: input.pending[p..p_end].to_vec(),
            };
            timers.pending.sort_unstable();
            let key = KeyEvents {
                key: item(&input.keys, g),
                state: input.has_state[g].then(|| item(&input.states, g)),
                records: &records[r..r_end],
                fired: &input.fired[f..f_end],
                watermark: input.watermark,
                batch_time: input.batch_time,
            };
            let state = operator
                .process(key, &mut timers, &mut out)
                .map_err(|e| failed(r, e))?;
            keep.push(state.is_some());
            states
                .data
                .extend_from_slice(state.as_deref().unwrap_or_default());
            states.ends.push(states.data.len() as u32);
            all_timers.extend_from_slice(&timers.pending);
            timer_ends.push(all_timers.len() as u32);
            (r, f, p) = (r_end, f_end, p_end);
        }
        Ok(ProcessOutput {
            keep,
            states,
            timers: all_timers,
            timer_ends,
            output: out.finish(),
        })
    })
}

/// Exports a [`KeyedProcess`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::keyed_process::{KeyEvents, Timers};
/// use wasmstream_guest::{Emitter, Error, KeyedProcess, Params};
///
/// struct Nothing;
///
/// impl KeyedProcess for Nothing {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Nothing)
///     }
///     fn process(&mut self, _: KeyEvents<'_>, _: &mut Timers, _: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
///         Ok(None)
///     }
/// }
///
/// wasmstream_guest::export_keyed_process!(Nothing);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_keyed_process {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::keyed_process::exports::wasmstream::operator::keyed_process::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::keyed_process::init(&OPERATOR, params)
                }
                fn process(
                    input: $crate::bindings::keyed_process::exports::wasmstream::operator::keyed_process::ProcessInput,
                ) -> ::std::result::Result<
                    $crate::bindings::keyed_process::exports::wasmstream::operator::keyed_process::ProcessOutput,
                    $crate::bindings::OperatorError,
                > {
                    $crate::keyed_process::run(&OPERATOR, input)
                }
            }
            $crate::bindings::keyed_process::export_keyed_process_operator!(Export with_types_in $crate::bindings::keyed_process);
        };
    };
}
