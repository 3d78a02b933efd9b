//! Flat-map: one record per word of the value, in order. A word is a run of
//! letters, digits, `'` or `_`; everything else separates words.
//!
//! Params:
//! - `emit = "words"` (default): each word becomes the value; the input's
//!   key, timestamp and headers are kept.
//! - `emit = "pairs"`: each word becomes the key and the value is `1`, ready
//!   for `sum` (Spark's `flatMap(split).map((_, 1))` in one step).

use wasmstream_guest::{Emitter, Error, FlatMap, Params, Record, export_flat_map, text};

struct SplitWords {
    pairs: bool,
}

impl FlatMap for SplitWords {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["emit"])?;
        let pairs = match params.get("emit").unwrap_or("words") {
            "words" => false,
            "pairs" => true,
            other => {
                return Err(format!(
                    "param `emit` = {other:?}: expected \"words\" or \"pairs\""
                ));
            }
        };
        Ok(SplitWords { pairs })
    }

    fn flat_map(&mut self, record: Record<'_>, out: &mut Emitter) -> Result<(), Error> {
        let key = record.key.as_deref();
        for word in text::words(record.value_str()?) {
            let word = word.as_bytes();
            match self.pairs {
                true => out.emit_like(&record, Some(word), b"1"),
                false => out.emit_like(&record, key, word),
            }
        }
        Ok(())
    }
}

export_flat_map!(SplitWords);
