//! Reduce: adds values written as decimal integers (signed, 64-bit), e.g.
//! the counts that `count-by-value` and `split-words` emit. Overflow fails
//! the batch rather than wrapping. Takes no params.

use wasmstream_guest::reduce::Values;
use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::{Error, Params, Reduce, export_reduce};

struct Sum;

impl Reduce for Sum {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Sum)
    }

    fn reduce(&mut self, key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        self.reduce_all(key, &mut Values::from_slices(&[a, b]))
    }

    /// Adds the whole group at once: one parse per value, one format per key.
    fn reduce_all(&mut self, _key: &[u8], values: &mut Values<'_>) -> Result<Vec<u8>, Error> {
        let mut total = 0i64;
        for value in values {
            total = total
                .checked_add(parse_i64(value)?)
                .ok_or_else(|| Error::new("sum overflows a 64-bit integer"))?;
        }
        let mut out = Vec::with_capacity(8);
        write_i64(total, &mut out);
        Ok(out)
    }
}

export_reduce!(Sum);
