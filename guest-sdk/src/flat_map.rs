//! Flat-map: one record in, zero or more out.

use crate::bindings::{Batch, OperatorError};
use crate::record::{BatchReader, BatchWriter};
use crate::slot::{Slot, failed};
use crate::{Error, Params, Record};

/// Where a [`FlatMap`] puts its output records. Each record is copied into
/// the output batch at once, so it may borrow from anything.
///
/// ```
/// use wasmstream_guest::{Emitter, Record};
///
/// let mut out = Emitter::default();
/// out.emit(Record::new("one"));
/// out.emit(Record::new("two"));
/// assert_eq!(out.len(), 2);
/// ```
pub struct Emitter {
    writer: BatchWriter,
    count: usize,
}

impl Default for Emitter {
    fn default() -> Self {
        Emitter {
            writer: BatchWriter::with_capacity(0, 0),
            count: 0,
        }
    }
}

impl Emitter {
    /// Adds one output record.
    ///
    /// ```
    /// let mut out = wasmstream_guest::Emitter::default();
    /// out.emit(wasmstream_guest::Record::new("word").with_key("k"));
    /// assert!(!out.is_empty());
    /// ```
    pub fn emit(&mut self, record: Record<'_>) {
        self.writer.push(&record);
        self.count += 1;
    }

    /// Adds a copy of `like` with `key` and `value` in place of its own
    /// (its timestamp and headers kept), without building a record: the
    /// cheap way to emit many records made from one input.
    ///
    /// ```
    /// use wasmstream_guest::{Emitter, Record};
    ///
    /// let line = Record::new("to be or not").with_key("hamlet");
    /// let mut out = Emitter::default();
    /// out.emit_like(&line, line.key.as_deref(), b"to");
    /// out.emit_like(&line, Some(b"be"), b"1");
    /// assert_eq!(out.len(), 2);
    /// ```
    pub fn emit_like(&mut self, like: &Record<'_>, key: Option<&[u8]>, value: &[u8]) {
        self.writer
            .push_parts(key, value, like.timestamp, &like.headers);
        self.count += 1;
    }

    /// How many records have been emitted so far in this batch.
    ///
    /// ```
    /// assert_eq!(wasmstream_guest::Emitter::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn finish(self) -> crate::bindings::Batch {
        self.writer.finish()
    }

    /// Whether nothing has been emitted yet in this batch.
    ///
    /// ```
    /// assert!(wasmstream_guest::Emitter::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// An operator that turns each record into zero or more records.
///
/// ```
/// use wasmstream_guest::{Emitter, Error, FlatMap, Params, Record};
///
/// struct Lines;
///
/// impl FlatMap for Lines {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Lines)
///     }
///     fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error> {
///         for line in record.value_str()?.lines() {
///             out.emit(Record { value: line.as_bytes().into(), ..record.clone() });
///         }
///         Ok(())
///     }
/// }
///
/// let mut out = Emitter::default();
/// Lines.flat_map(Record::new("a\nb"), &mut out).unwrap();
/// assert_eq!(out.len(), 2);
/// // In the operator crate: wasmstream_guest::export_flat_map!(Lines);
/// ```
pub trait FlatMap: Sized + 'static {
    /// Builds the operator from the stage's manifest `params`.
    fn init(params: &Params) -> Result<Self, String>;

    /// Emits the records this one becomes. An error fails the batch,
    /// naming this record.
    fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error>;
}

#[doc(hidden)]
pub fn init<T: FlatMap>(slot: &Slot<T>, params: Vec<(String, String)>) -> Result<(), String> {
    slot.init(params, T::init)
}

#[doc(hidden)]
pub fn run<T: FlatMap>(slot: &Slot<T>, input: Batch) -> Result<Batch, OperatorError> {
    slot.with(|operator| {
        let records = BatchReader::new(&input);
        let mut out = Emitter {
            writer: BatchWriter::with_capacity(records.len() * 4, input.values.data.len()),
            count: 0,
        };
        for (index, record) in records.enumerate() {
            operator
                .flat_map(record, &mut out)
                .map_err(|e| failed(index, e))?;
        }
        Ok(out.writer.finish())
    })
}

/// Exports a [`FlatMap`] implementation as the component's operator.
///
/// ```no_run
/// use wasmstream_guest::{Emitter, Error, FlatMap, Params, Record};
///
/// struct Words;
///
/// impl FlatMap for Words {
///     fn init(_: &Params) -> Result<Self, String> {
///         Ok(Words)
///     }
///     fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error> {
///         for word in record.value_str()?.split_whitespace() {
///             out.emit(Record::new(word));
///         }
///         Ok(())
///     }
/// }
///
/// wasmstream_guest::export_flat_map!(Words);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_flat_map {
    ($operator:ty) => {
        const _: () = {
            static OPERATOR: $crate::__private::Slot<$operator> = $crate::__private::Slot::new();
            struct Export;
            impl $crate::bindings::flat_map::exports::wasmstream::operator::flat_map::Guest for Export {
                fn init(params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::flat_map::init(&OPERATOR, params)
                }
                fn flat_map(input: $crate::bindings::Batch) -> ::std::result::Result<$crate::bindings::Batch, $crate::bindings::OperatorError> {
                    $crate::flat_map::run(&OPERATOR, input)
                }
            }
            $crate::bindings::flat_map::export_flat_map_operator!(Export with_types_in $crate::bindings::flat_map);
        };
    };
}
