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

    /// Folds every value of `key` in this batch (at least one) into one.
    /// The default combines them pairwise with [`Reduce::reduce`]; override
    /// it to fold without building a byte string per step (as `sum` does).
    /// The result must equal the pairwise fold.
    ///
    /// ```
    /// use wasmstream_guest::reduce::Values;
    /// use wasmstream_guest::text::{parse_i64, write_i64};
    /// use wasmstream_guest::{Error, Params, Reduce};
    ///
    /// struct Sum;
    ///
    /// impl Reduce for Sum {
    ///     fn init(_: &Params) -> Result<Self, String> {
    ///         Ok(Sum)
    ///     }
    ///     fn reduce(&mut self, key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
    ///         self.reduce_all(key, &mut Values::from_slices(&[a, b]))
    ///     }
    ///     fn reduce_all(&mut self, _key: &[u8], values: &mut Values<'_>) -> Result<Vec<u8>, Error> {
    ///         let mut total = 0i64;
    ///         for value in values {
    ///             total += parse_i64(value)?;
    ///         }
    ///         let mut out = Vec::new();
    ///         write_i64(total, &mut out);
    ///         Ok(out)
    ///     }
    /// }
    ///
    /// assert_eq!(Sum.reduce(b"k", b"2", b"40").unwrap(), b"42");
    /// ```
    fn reduce_all(&mut self, key: &[u8], values: &mut Values<'_>) -> Result<Vec<u8>, Error> {
        let first = values.next().expect("a group has at least one value");
        let mut acc: Option<Vec<u8>> = None;
        for value in values {
            acc = Some(self.reduce(key, acc.as_deref().unwrap_or(first), value)?);
        }
        Ok(acc.unwrap_or_else(|| first.to_vec()))
    }
}

/// The values of one key, in record order. Remembers how many it has
/// handed out, so an error can name the record being folded.
///
/// ```
/// let mut values = wasmstream_guest::reduce::Values::from_slices(&[b"1", b"2"]);
/// assert_eq!(values.next(), Some(&b"1"[..]));
/// assert_eq!(values.len(), 1);
/// ```
pub struct Values<'a> {
    source: Source<'a>,
    next: usize,
    end: usize,
}

enum Source<'a> {
    Packed(&'a ByteList),
    Slices(&'a [&'a [u8]]),
}

impl<'a> Values<'a> {
    /// Values from a slice (for tests and for calling `reduce_all` from
    /// `reduce`).
    ///
    /// ```
    /// let values = wasmstream_guest::reduce::Values::from_slices(&[b"a"]);
    /// assert_eq!(values.count(), 1);
    /// ```
    pub fn from_slices(values: &'a [&'a [u8]]) -> Self {
        Values {
            source: Source::Slices(values),
            next: 0,
            end: values.len(),
        }
    }

    /// Values `start .. end` of a packed list.
    pub(crate) fn packed(list: &'a ByteList, start: usize, end: usize) -> Self {
        Values {
            source: Source::Packed(list),
            next: start,
            end,
        }
    }

    /// Index of the value last handed out, within the batch's values.
    fn position(&self) -> usize {
        self.next.saturating_sub(1)
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(match &self.source {
            Source::Slices(values) => values[i],
            Source::Packed(list) => {
                let start = if i == 0 { 0 } else { list.ends[i - 1] as usize };
                &list.data[start..list.ends[i] as usize]
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.next, Some(self.end - self.next))
    }
}

impl ExactSizeIterator for Values<'_> {}

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
        let mut key_start = 0;
        let mut first = 0;
        for (group, &end) in group_ends.iter().enumerate() {
            let key_end = keys.ends[group] as usize;
            let key = &keys.data[key_start..key_end];
            key_start = key_end;
            let mut group_values = Values::packed(&values, first, end as usize);
            let folded = operator
                .reduce_all(key, &mut group_values)
                .map_err(|e| failed(group_values.position(), e))?;
            out.data.extend_from_slice(&folded);
            out.ends.push(out.data.len() as u32);
            first = end as usize;
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
