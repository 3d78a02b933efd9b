//! Map: takes a record's key, value and event time from fields of its
//! JSON value, e.g. `{"device":"d1","ts":1700000000000,"temp":21.5}` to
//! key `d1`, value `21.5` and timestamp 1700000000000.
//!
//! Params (each optional; what is not named is left as it was). A field
//! inside nested objects is named with dots: `bid.auction`. All are read
//! in one pass over the value.
//! - `key`: the field that becomes the key.
//! - `value`: the field that becomes the value (as written: numbers keep
//!   their digits, strings lose their quotes).
//! - `timestamp`: the field holding the event time, in milliseconds since
//!   the Unix epoch, as an integer.
//!
//! A record that is not a JSON object, or lacks a named field, fails the
//! batch, naming the record.

use wasmstream_guest::text::parse_i64;
use wasmstream_guest::{Error, Map, Params, Record, export_map, json};

struct JsonExtract {
    key: Option<String>,
    value: Option<String>,
    timestamp: Option<String>,
}

impl Map for JsonExtract {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["key", "value", "timestamp"])?;
        let named = |name: &str| params.get(name).map(str::to_owned);
        let extract = JsonExtract {
            key: named("key"),
            value: named("value"),
            timestamp: named("timestamp"),
        };
        if extract.key.is_none() && extract.value.is_none() && extract.timestamp.is_none() {
            return Err("name at least one of `key`, `value` and `timestamp`".into());
        }
        Ok(extract)
    }

    fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
        // One pass over the value for all three; a field not named reads
        // one that is, and is ignored.
        let named = [&self.key, &self.value, &self.timestamp];
        let any = named.iter().find_map(|n| n.as_deref()).unwrap_or_default();
        let paths = named.map(|n| n.as_deref().unwrap_or(any));
        let found = json::fields(&record.value, paths)?;
        let [key, value, timestamp] = std::array::from_fn(|i| {
            named[i]
                .as_ref()
                .map(|name| {
                    found[i]
                        .as_deref()
                        .map(str::to_owned)
                        .ok_or_else(|| Error::new(format!("no field `{name}`")))
                })
                .transpose()
        });
        let (key, value) = (key?, value?);
        let timestamp = match (timestamp?, &self.timestamp) {
            (Some(text), Some(name)) => Some(parse_i64(text.as_bytes()).map_err(|_| {
                Error::new(format!("field `{name}` is not a time in milliseconds"))
            })?),
            _ => None,
        };
        let mut out = record;
        if let Some(key) = key {
            out = out.with_key(key);
        }
        if let Some(value) = value {
            out = out.with_value(value);
        }
        if let Some(timestamp) = timestamp {
            out.timestamp = timestamp;
        }
        Ok(out)
    }
}

export_map!(JsonExtract);
