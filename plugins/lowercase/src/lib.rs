//! Map: lowercases the value (Unicode-aware); the key, timestamp and
//! headers pass through unchanged. Takes no params.

use std::borrow::Cow;

use wasmstream_guest::{Error, Map, Params, Record, export_map, text};

struct Lowercase;

impl Map for Lowercase {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Lowercase)
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        match text::lowercase(record.value_str()?) {
            Cow::Borrowed(_) => Ok(record),
            Cow::Owned(lower) => Ok(record.with_value(lower)),
        }
    }
}

export_map!(Lowercase);
