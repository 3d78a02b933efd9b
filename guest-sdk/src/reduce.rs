//! Reduce: an associative combine of two values of one key.

use crate::bindings::{ByteList, OperatorError};
use crate::slot::{Slot, failed};
use crate::{Error, Params};

/// An associative combine of two values that share a key. The host folds
/// each key's values with it (reduceByKey), possibly in several rounds, so
/// `reduce(reduce(a, b), c)` must equal `reduce(a, reduce(b, c))`.
///
/// ```
/// use wasmstream_guest::{Error, Params, Reduce};
///
/// struct Max;
///
/// impl Reduce for Max {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Max)
///     }
///     fn reduce(&mut self, _key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
///         Ok(a.max(b).to_vec())
///     }
/// }
///
/// assert_eq!(Max.reduce(b"k", b"3", b"7").unwrap(), b"7");
/// // In the operator crate: wasmstream_guest::export_reduce!(Max);
/// ```
pub trait Reduce: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Combines two values of `key`. An error fails the batch, naming the
    /// record whose value was being combined.
    fn reduce(&mut self, key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error>;
}

#[doc(hidden)]
pub fn init<T: Reduce>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

#[doc(hidden)]
pub fn run<T: Reduce>(
    slot: &Slot<T>,
    keys: ByteList,
    values: ByteList,
    group_ends: Vec<u32>,
) -> Result<ByteList, OperatorError> {
    slot.with(|operator| {
        let mut out = ByteList {
            data: Vec::new(),
            ends: Vec::with_capacity(group_ends.len()),
        };
        let value = |i: usize| {
            let start = if i == 0 {
                0
            } else {
                values.ends[i - 1] as usize
            };
            &values.data[start..values.ends[i] as usize]
        };
        let mut key_start = 0;
        let mut first = 0;
        for (group, &end) in group_ends.iter().enumerate() {
            let key_end = keys.ends[group] as usize;
            let key = &keys.data[key_start..key_end];
            key_start = key_end;
            let end = end as usize;
            let mut acc: Option<Vec<u8>> = None;
            for i in first + 1..end {
                let left = acc.as_deref().unwrap_or_else(|| value(first));
                acc = Some(
                    operator
                        .reduce(key, left, value(i))
                        .map_err(|e| failed(i, e))?,
                );
            }
            out.data
                .extend_from_slice(acc.as_deref().unwrap_or_else(|| value(first)));
            out.ends.push(out.data.len() as u32);
            first = end;
        }
        Ok(out)
    })
}

/// Exports a [`Reduce`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::{Error, Params, Reduce};
///
/// struct Max;
///
/// impl Reduce for Max {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Max)
///     }
///     fn reduce(&mut self, _key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
///         Ok(a.max(b).to_vec())
///     }
/// }
///
/// wasmstream_guest::export_reduce!(Max);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_reduce {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::reduce::exports::wasmstream::operator::reduce::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::reduce::init(&OPERATOR, params)
                }
                fn reduce(
                    keys: $crate::bindings::ByteList,
                    values: $crate::bindings::ByteList,
                    group_ends: ::std::vec::Vec<u32>,
                ) -> ::std::result::Result<$crate::bindings::ByteList, $crate::bindings::OperatorError> {
                    $crate::reduce::run(&OPERATOR, keys, values, group_ends)
                }
            }
            $crate::bindings::reduce::export_reduce_operator!(Export with_types_in $crate::bindings::reduce);
        };
    };
}
