//! Update-state: counts the records of each key across batches (Spark's
//! running word count with `updateStateByKey`). Each batch it emits
//! `(key, count so far)` for every key that had records in it. With a
//! stage `ttl`, a key idle that long is forgotten and starts again from
//! zero. Takes no params.

use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::update_state::KeyUpdate;
use wasmstream_guest::{Emitter, Error, Params, Record, UpdateState, export_update_state};

struct RunningCount;

impl UpdateState for RunningCount {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(RunningCount)
    }

    fn update(&mut self, key: KeyUpdate<'_>, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
        if key.timing_out {
            return Ok(None);
        }
        let before = key.state.map(parse_i64).transpose()?.unwrap_or(0);
        let count = before + key.values.len() as i64;
        let mut state = Vec::with_capacity(8);
        write_i64(count, &mut state);
        out.emit(Record {
            timestamp: key.batch_time,
            ..Record::new(state.as_slice()).with_key(key.key)
        });
        Ok(Some(state))
    }
}

export_update_state!(RunningCount);
