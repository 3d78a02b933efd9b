//! Map: the first half of Spark's `countByValue`. Each record becomes
//! `(key = its value, value = 1)`; a following `reduce_by_key` stage with the
//! `sum` operator finishes the count. Takes no params.

use wasmstream_guest::{Error, Map, Params, Record, export_map};

struct CountByValue;

impl Map for CountByValue {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(CountByValue)
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        Ok(Record {
            key: Some(record.value),
            value: b"1".into(),
            ..record
        })
    }
}

export_map!(CountByValue);
