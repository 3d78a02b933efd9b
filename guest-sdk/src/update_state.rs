//! Update-state: per-key state across batches (`updateStateByKey`).

use crate::bindings::update_state::exports::wasmstream::operator::update_state::{
    StateInput, StateOutput,
};
use crate::bindings::{ByteList, OperatorError};
use crate::flat_map::Emitter;
use crate::reduce::Values;
use crate::slot::{Slot, failed};
use crate::{Error, Params};

/// One key's turn in a batch.
pub struct KeyUpdate<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its state after the previous batch; `None` for a key not seen before
    /// (or evicted since).
    pub state: Option<&'a [u8]>,
    /// Its values in this batch, in record order (none when timing out).
    pub values: Values<'a>,
    /// True when the key has been idle past the stage's `ttl` and is being
    /// evicted: the last chance to emit something for it. Its state is
    /// deleted whatever `update` returns.
    pub timing_out: bool,
    /// When the batch was cut, in milliseconds since the Unix epoch. An
    /// operator has no clock of its own; this one is the same on replay.
    pub batch_time: i64,
}

/// An operator that keeps a state per key across batches, like Spark's
/// `updateStateByKey`: each batch it sees each key's previous state and new
/// values, returns the new state (or `None` to delete the key) and may emit
/// records.
///
/// ```
/// use wasmstream_guest::text::{parse_i64, write_i64};
/// use wasmstream_guest::update_state::KeyUpdate;
/// use wasmstream_guest::{Emitter, Error, Params, Record, UpdateState};
///
/// /// Counts records per key, forever, and emits each changed count.
/// struct RunningCount;
///
/// impl UpdateState for RunningCount {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(RunningCount)
///     }
///     fn update(&mut self, key: KeyUpdate<'_>, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
///         let before = key.state.map(parse_i64).transpose()?.unwrap_or(0);
///         let count = before + key.values.len() as i64;
///         let mut state = Vec::new();
///         write_i64(count, &mut state);
///         out.emit(Record::new(state.as_slice()).with_key(key.key));
///         Ok(Some(state))
///     }
/// }
/// # let mut out = Emitter::default();
/// # let values = [&b"x"[..], b"y"];
/// # let key = KeyUpdate { key: b"k", state: Some(b"3"), values: wasmstream_guest::reduce::Values::from_slices(&values), timing_out: false, batch_time: 0 };
/// # assert_eq!(RunningCount.update(key, &mut out).unwrap(), Some(b"5".to_vec()));
/// ```
pub trait UpdateState: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Updates one key. An error fails the batch, naming the key's first
    /// record in it.
    fn update(&mut self, key: KeyUpdate<'_>, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error>;
}

#[doc(hidden)]
pub fn init<T: UpdateState>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

fn item(list: &ByteList, i: usize) -> &[u8] {
    let start = if i == 0 { 0 } else { list.ends[i - 1] as usize };
    &list.data[start..list.ends[i] as usize]
}

#[doc(hidden)]
pub fn run<T: UpdateState>(
    slot: &Slot<T>,
    input: StateInput,
) -> Result<StateOutput, OperatorError> {
    slot.with(|operator| {
        let groups = input.group_ends.len();
        let mut keep = Vec::with_capacity(groups);
        let mut states = ByteList {
            data: Vec::new(),
            ends: Vec::with_capacity(groups),
        };
        let mut out = Emitter::default();
        let mut first = 0usize;
        for (g, &end) in input.group_ends.iter().enumerate() {
            let end = end as usize;
            let update = KeyUpdate {
                key: item(&input.keys, g),
                state: input.has_state[g].then(|| item(&input.states, g)),
                values: Values::packed(&input.values, first, end),
                timing_out: input.timing_out[g],
                batch_time: input.batch_time,
            };
            let new_state = operator
                .update(update, &mut out)
                .map_err(|e| failed(first, e))?;
            keep.push(new_state.is_some());
            states
                .data
                .extend_from_slice(new_state.as_deref().unwrap_or_default());
            states.ends.push(states.data.len() as u32);
            first = end;
        }
        Ok(StateOutput {
            keep,
            states,
            output: out.finish(),
        })
    })
}

/// Converts the states an earlier version of this operator wrote, when
/// this version takes over in a running pipeline (a hot reload): implement
/// it beside [`UpdateState`] and export with
/// `export_update_state!(MyOperator, migrate)`. Without it, a new version
/// gets the old states unchanged.
///
/// ```no_run
/// use wasmstream_guest::update_state::{KeyUpdate, MigrateState};
/// use wasmstream_guest::text::{parse_i64, write_i64};
/// use wasmstream_guest::{Emitter, Error, Params, UpdateState};
///
/// /// Version 2 keeps counts as 8 bytes, little-endian; version 1 kept
/// /// decimal text.
/// struct Count;
///
/// impl UpdateState for Count {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Count)
///     }
///     fn update(&mut self, key: KeyUpdate<'_>, _out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
///         let before = key.state.map_or(0, |s| i64::from_le_bytes(s.try_into().unwrap_or([0; 8])));
///         Ok(Some((before + key.values.len() as i64).to_le_bytes().to_vec()))
///     }
/// }
///
/// impl MigrateState for Count {
///     fn migrate_state(&mut self, _from_version: &str, state: &[u8]) -> Result<Vec<u8>, String> {
///         let count = parse_i64(state).map_err(|e| e.to_string())?;
///         Ok(count.to_le_bytes().to_vec())
///     }
/// }
///
/// wasmstream_guest::export_update_state!(Count, migrate);
/// # fn main() {}
/// ```
pub trait MigrateState: UpdateState {
    /// One key's state as version `from_version` (its content hash, hex)
    /// wrote it, in this version's form.
    fn migrate_state(&mut self, from_version: &str, state: &[u8]) -> Result<Vec<u8>, String>;
}

#[doc(hidden)]
pub fn migrate<T: MigrateState>(
    slot: &Slot<T>,
    from_version: String,
    states: ByteList,
) -> Result<ByteList, String> {
    slot.with(|operator| {
        let mut out = ByteList {
            data: Vec::with_capacity(states.data.len()),
            ends: Vec::with_capacity(states.ends.len()),
        };
        for i in 0..states.ends.len() {
            let new = operator
                .migrate_state(&from_version, item(&states, i))
                .map_err(|message| OperatorError {
                    record: None,
                    message,
                })?;
            out.data.extend_from_slice(&new);
            out.ends.push(out.data.len() as u32);
        }
        Ok(out)
    })
    .map_err(|e| e.message)
}

/// Exports an [`UpdateState`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::update_state::KeyUpdate;
/// use wasmstream_guest::{Emitter, Error, Params, UpdateState};
///
/// struct Remember;
///
/// impl UpdateState for Remember {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Remember)
///     }
///     fn update(&mut self, mut key: KeyUpdate<'_>, _out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
///         Ok(key.values.last().or(key.state).map(<[u8]>::to_vec))
///     }
/// }
///
/// wasmstream_guest::export_update_state!(Remember);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_update_state {
    ($operator:ty) => {
        $crate::export_update_state!(@export $operator;);
    };
    ($operator:ty, migrate) => {
        $crate::export_update_state!(@export $operator;
            impl $crate::bindings::migrate::exports::wasmstream::operator::migrate::Guest for Export {
                fn migrate_state(
                    from_version: ::std::string::String,
                    states: $crate::bindings::ByteList,
                ) -> ::std::result::Result<$crate::bindings::ByteList, ::std::string::String> {
                    $crate::update_state::migrate(&OPERATOR, from_version, states)
                }
            }
            $crate::bindings::migrate::export_migrate_hook!(Export with_types_in $crate::bindings::migrate);
        );
    };
    (@export $operator:ty; $($extra:tt)*) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::update_state::exports::wasmstream::operator::update_state::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::update_state::init(&OPERATOR, params)
                }
                fn update(
                    input: $crate::bindings::update_state::exports::wasmstream::operator::update_state::StateInput,
                ) -> ::std::result::Result<
                    $crate::bindings::update_state::exports::wasmstream::operator::update_state::StateOutput,
                    $crate::bindings::OperatorError,
                > {
                    $crate::update_state::run(&OPERATOR, input)
                }
            }
            $crate::bindings::update_state::export_update_state_operator!(Export with_types_in $crate::bindings::update_state);
            $($extra)*
        };
    };
}
