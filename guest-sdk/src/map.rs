//! Map: one record in, one record out.

use crate::bindings::{Batch, OperatorError};
use crate::record::{BatchReader, BatchWriter};
use crate::slot::{Slot, failed};
use crate::{Error, Params, Record};

/// An operator that turns each record into exactly one record.
///
/// ```
/// use wasmstream_guest::{Error, Map, Params, Record};
///
/// struct Uppercase;
///
/// impl Map for Uppercase {
///     fn init(params: &Params) -> Result<Self, String> {
///         params.only(&[])?;
///         Ok(Uppercase)
///     }
///     fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
///         let upper = record.value_str()?.to_uppercase();
///         Ok(record.with_value(upper))
///     }
/// }
///
/// let out = Uppercase.map(Record::new("hi")).unwrap();
/// assert_eq!(out.value_str().unwrap(), "HI");
/// // In the operator crate: wasmstream_guest::export_map!(Uppercase);
/// ```
pub trait Map: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`; an error
    /// rejects them and is shown to the user.
    fn init(params: &Params) -> Result<Self, String>;

    /// Maps one record. An error fails the batch, naming this record.
    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error>;
}

#[doc(hidden)]
pub fn init<T: Map>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

#[doc(hidden)]
pub fn run<T: Map>(slot: &Slot<T>, input: Batch) -> Result<Batch, OperatorError> {
    slot.with(|operator| {
        let records = BatchReader::new(&input);
        let mut out = BatchWriter::with_capacity(records.len(), input.values.data.len());
        for (index, record) in records.enumerate() {
            let mapped = operator.map(record).map_err(|e| failed(index, e))?;
            out.push(&mapped);
        }
        Ok(out.finish())
    })
}

/// Exports a [`Map`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::{Error, Map, Params, Record};
///
/// struct Lowercase;
///
/// impl Map for Lowercase {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Lowercase)
///     }
///     fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
///         let lower = record.value_str()?.to_lowercase();
///         Ok(record.with_value(lower))
///     }
/// }
///
/// wasmstream_guest::export_map!(Lowercase);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_map {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::map::exports::wasmstream::operator::map::Guest for Export {
                fn init(
                    params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::map::init(&OPERATOR, params)
                }
                fn map(
                    input: $crate::bindings::Batch,
                ) -> ::std::result::Result<$crate::bindings::Batch, $crate::bindings::OperatorError>
                {
                    $crate::map::run(&OPERATOR, input)
                }
            }
    $crate::bindings::map::export_map_operator!(Export with_types_in $crate::bindings::map);
        };
    };
}
