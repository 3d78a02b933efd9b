//! Reduce: adds values written as decimal integers (signed, 64-bit), e.g.
//! the counts that `count-by-value` and `split-words` emit. Overflow fails
//! the batch rather than wrapping. Takes no params.

use wasmstream_guest::{Error, Params, Reduce, export_reduce};

struct Sum;

fn parse(bytes: &[u8]) -> Result<i64, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::new("value is not UTF-8"))?;
    text.trim()
        .parse()
        .map_err(|e| Error::new(format!("value {text:?} is not an integer: {e}")))
}

impl Reduce for Sum {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(Sum)
    }

    fn reduce(&mut self, _key: &[u8], a: &[u8], b: &[u8]) -> Result<Vec<u8>, Error> {
        let total = parse(a)?
            .checked_add(parse(b)?)
            .ok_or_else(|| Error::new("sum overflows a 64-bit integer"))?;
        Ok(total.to_string().into_bytes())
    }
}

export_reduce!(Sum);
