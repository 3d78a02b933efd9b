//! Map: lowercases the value (Unicode-aware); the key, timestamp and
//! headers pass through unchanged. Takes no params.

use wasmstream_guest::{Error, Map, Params, Record, export_map};

struct Lowercase;

impl Map for Lowercase {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Lowercase)
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        let text = record.value_str()?;
        if text
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            let lower = text.to_lowercase();
            return Ok(record.with_value(lower));
        }
        Ok(record)
    }
}

export_map!(Lowercase);
