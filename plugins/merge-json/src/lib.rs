//! Cogroup: what a join makes of two streams of JSON objects, the way a
//! SQL join makes rows: each pair of a key's left and right records
//! becomes one object with the fields of both (the right one's win where
//! both have a field), stamped with the later of their times. A key with
//! records on one side only (an outer join's) gives those records as they
//! are.
//!
//! Params (optional):
//! - `key`: a field of the merged object that becomes the output record's
//!   key (`campaign`, say, to count per campaign next); by default the
//!   join's key stays. A dotted name reads a nested field.
//!
//! A record whose value is not a JSON object, or that lacks the `key`
//! field, fails the batch, naming the record.

use std::borrow::Cow;

use wasmstream_guest::{Cogroup, Emitter, Error, Params, Record, export_cogroup, json};

struct MergeJson {
    key: Option<String>,
}

impl Cogroup for MergeJson {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["key"])?;
        Ok(MergeJson {
            key: params.get("key").map(str::to_owned),
        })
    }

    fn cogroup(
        &mut self,
        key: &[u8],
        left: &[Record<'_>],
        right: &[Record<'_>],
        out: &mut Emitter,
    ) -> Result<(), Error> {
        for record in left.iter().chain(right) {
            json::fields(&record.value, [])?;
        }
        if left.is_empty() || right.is_empty() {
            for record in left.iter().chain(right) {
                let key = self.key_of(key, &record.value)?;
                out.emit_like(record, Some(&key), &record.value);
            }
            return Ok(());
        }
        for l in left {
            for r in right {
                let merged = merge(&l.value, &r.value);
                let key = self.key_of(key, &merged)?;
                let time = l.timestamp.max(r.timestamp);
                out.emit(Record {
                    timestamp: time,
                    ..Record::new(merged.as_slice()).with_key(key.as_ref())
                });
            }
        }
        Ok(())
    }
}

impl MergeJson {
    /// The output key: the `key` field of `object`, or the join's key.
    fn key_of<'a>(&self, join_key: &'a [u8], object: &[u8]) -> Result<Cow<'a, [u8]>, Error> {
        let Some(field) = &self.key else {
            return Ok(Cow::Borrowed(join_key));
        };
        match json::field(object, field)? {
            Some(value) => Ok(Cow::Owned(value.into_owned().into_bytes())),
            None => Err(Error::new(format!(
                "the merged object has no field `{field}`"
            ))),
        }
    }
}

/// The fields of `left` then `right`, two JSON objects (checked), as one.
fn merge(left: &[u8], right: &[u8]) -> Vec<u8> {
    let inner = |object: &[u8]| -> Vec<u8> {
        let object = object.trim_ascii();
        object[1..object.len() - 1].trim_ascii().to_vec()
    };
    let (l, r) = (inner(left), inner(right));
    let mut merged = Vec::with_capacity(l.len() + r.len() + 3);
    merged.push(b'{');
    merged.extend_from_slice(&l);
    if !l.is_empty() && !r.is_empty() {
        merged.push(b',');
    }
    merged.extend_from_slice(&r);
    merged.push(b'}');
    merged
}

export_cogroup!(MergeJson);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_merge_field_by_field() {
        assert_eq!(merge(br#" {"a": 1} "#, br#"{"b":2}"#), br#"{"a": 1,"b":2}"#);
        assert_eq!(merge(b"{}", br#"{"b":2}"#), br#"{"b":2}"#);
        assert_eq!(merge(b"{ }", b"{}"), b"{}");
    }
}
