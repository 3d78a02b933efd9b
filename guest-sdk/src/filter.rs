//! Filter: keep or drop each record.

use crate::bindings::{Batch, OperatorError};
use crate::record::BatchReader;
use crate::slot::{Slot, failed};
use crate::{Error, Params, Record};

/// An operator that keeps some records and drops the rest.
///
/// ```
/// use wasmstream_guest::{Error, Filter, Params, Record};
///
/// struct NonEmpty;
///
/// impl Filter for NonEmpty {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(NonEmpty)
///     }
///     fn filter(&mut self, record: &Record<'_>) -> Result<bool, Error> {
///         Ok(!record.value.is_empty())
///     }
/// }
///
/// assert!(!NonEmpty.filter(&Record::new("")).unwrap());
/// // In the operator crate: wasmstream_guest::export_filter!(NonEmpty);
/// ```
pub trait Filter: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Whether to keep this record. An error fails the batch, naming it.
    fn filter(&mut self, record: &Record<'_>) -> Result<bool, Error>;
}

#[doc(hidden)]
pub fn init<T: Filter>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

#[doc(hidden)]
pub fn run<T: Filter>(slot: &Slot<T>, input: Batch) -> Result<Vec<bool>, OperatorError> {
    slot.with(|operator| {
        let records = BatchReader::new(&input);
        let mut keep = Vec::with_capacity(records.len());
        for (index, record) in records.enumerate() {
            keep.push(operator.filter(&record).map_err(|e| failed(index, e))?);
        }
        Ok(keep)
    })
}

/// Exports a [`Filter`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::{Error, Filter, Params, Record};
///
/// struct NonEmpty;
///
/// impl Filter for NonEmpty {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(NonEmpty)
///     }
///     fn filter(&mut self, record: &Record<'_>) -> Result<bool, Error> {
///         Ok(!record.value.is_empty())
///     }
/// }
///
/// wasmstream_guest::export_filter!(NonEmpty);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_filter {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::filter::exports::wasmstream::operator::filter::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::filter::init(&OPERATOR, params)
                }
                fn filter(input: $crate::bindings::Batch) -> ::std::result::Result<::std::vec::Vec<bool>, $crate::bindings::OperatorError> {
                    $crate::filter::run(&OPERATOR, input)
                }
            }
            $crate::bindings::filter::export_filter_operator!(Export with_types_in $crate::bindings::filter);
        };
    };
}
