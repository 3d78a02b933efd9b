//! Reduce: the first value minus all the others, as decimal integers
//! (signed, 64-bit). It is `sum`'s inverse for a windowed reduce: the host
//! hands it a key's value over the window followed by the values leaving
//! it. Overflow fails the batch rather than wrapping. Takes no params.

use wasmstream_guest::reduce::Values;
use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::{Error, Params, Reduce, export_reduce};

struct Subtract;

impl Reduce for Subtract {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Subtract)
    }

    fn reduce(&mut self, key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        self.reduce_all(key, &mut Values::from_slices(&[a, b]))
    }

    fn reduce_all(&mut self, _key: &[u8], values: &mut Values<'_>) -> Result<Vec<u8>, Error> {
        let mut total = match values.next() {
            Some(first) => parse_i64(first)?,
            None => 0,
        };
        for value in values {
            total = total
                .checked_sub(parse_i64(value)?)
                .ok_or_else(|| Error::new("subtract overflows a 64-bit integer"))?;
        }
        let mut out = Vec::with_capacity(8);
        write_i64(total, &mut out);
        Ok(out)
    }
}

export_reduce!(Subtract);
