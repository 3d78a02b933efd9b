//! Cogroup: two keyed streams' records, key by key, for joins. A `join`,
//! outer join or `cogroup` stage with a `component` calls it with each
//! key the stage keeps (for `join`, the keys both sides have; for
//! `left_outer_join`, those the left side has; and so on) and writes what
//! it emits.

use crate::bindings::cogroup::exports::wasmstream::operator::cogroup::CogroupInput;
use crate::bindings::{Batch, OperatorError};
use crate::flat_map::Emitter;
use crate::record::BatchReader;
use crate::slot::{Slot, failed};
use crate::{Error, Params, Record};

/// An operator that decides what each key's records of two streams make:
/// Spark's `cogroup`, with the output up to the author.
///
/// ```
/// use wasmstream_guest::{Cogroup, Emitter, Error, Params, Record};
///
/// /// Each click with the campaign of the ad's impression.
/// struct Attribute;
///
/// impl Cogroup for Attribute {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Attribute)
///     }
///     fn cogroup(
///         &mut self,
///         key: &[u8],
///         impressions: &[Record<'_>],
///         clicks: &[Record<'_>],
///         out: &mut Emitter,
///     ) -> Result<(), Error> {
///         let Some(shown) = impressions.first() else { return Ok(()) };
///         for click in clicks {
///             out.emit_like(click, Some(&shown.value), key);
///         }
///         Ok(())
///     }
/// }
///
/// let shown = [Record::new("campaign-7")];
/// let clicks = [Record::new("c1"), Record::new("c2")];
/// let mut out = Emitter::default();
/// Attribute.cogroup(b"ad-1", &shown, &clicks, &mut out).unwrap();
/// assert_eq!(out.len(), 2);
/// // In the operator crate: wasmstream_guest::export_cogroup!(Attribute);
/// ```
pub trait Cogroup: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Emits what one key's records make: `left` and `right` are its
    /// records from each side, in order; one of them may be empty. An
    /// error fails the batch, naming the key's first record.
    fn cogroup(
        &mut self,
        key: &[u8],
        left: &[Record<'_>],
        right: &[Record<'_>],
        out: &mut Emitter,
    ) -> Result<(), Error>;
}

#[doc(hidden)]
pub fn init<T: Cogroup>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

#[doc(hidden)]
pub fn run<T: Cogroup>(slot: &Slot<T>, input: CogroupInput) -> Result<Batch, OperatorError> {
    slot.with(|operator| {
        let left: Vec<Record<'_>> = BatchReader::new(&input.left).collect();
        let right: Vec<Record<'_>> = BatchReader::new(&input.right).collect();
        let mut out = Emitter::default();
        let (mut l, mut r, mut key_start) = (0, 0, 0);
        for (g, (&l_end, &r_end)) in input.left_ends.iter().zip(&input.right_ends).enumerate() {
            let (l_end, r_end) = (l_end as usize, r_end as usize);
            let key_end = input.keys.ends[g] as usize;
            let key = &input.keys.data[key_start..key_end];
            // The key's first record: its first left one, else its first right one.
            let first = if l < l_end { l } else { left.len() + r };
            operator
                .cogroup(key, &left[l..l_end], &right[r..r_end], &mut out)
                .map_err(|e| failed(first, e))?;
            (l, r, key_start) = (l_end, r_end, key_end);
        }
        Ok(out.finish())
    })
}

/// Exports a [`Cogroup`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::{Cogroup, Emitter, Error, Params, Record};
///
/// struct Counts;
///
/// impl Cogroup for Counts {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Counts)
///     }
///     fn cogroup(&mut self, key: &[u8], left: &[Record<'_>], right: &[Record<'_>], out: &mut Emitter) -> Result<(), Error> {
///         out.emit(Record::new(format!("{} {}", left.len(), right.len())).with_key(key));
///         Ok(())
///     }
/// }
///
/// wasmstream_guest::export_cogroup!(Counts);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_cogroup {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::cogroup::exports::wasmstream::operator::cogroup::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::cogroup::init(&OPERATOR, params)
                }
                fn cogroup(
                    input: $crate::bindings::cogroup::exports::wasmstream::operator::cogroup::CogroupInput,
                ) -> ::std::result::Result<$crate::bindings::Batch, $crate::bindings::OperatorError> {
                    $crate::cogroup::run(&OPERATOR, input)
                }
            }
            $crate::bindings::cogroup::export_cogroup_operator!(Export with_types_in $crate::bindings::cogroup);
        };
    };
}
