//! Update-state: tracks each key's session (a user's activity, say) and
//! emits one record when the session goes idle, that is when the stage's
//! `ttl` passes without a record for the key:
//! `(key, "<events> events from <first> to <last>")`, times being batch
//! times in milliseconds. The next record for the key starts a new session.
//! Takes no params; the stage must set `ttl`.

use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::update_state::KeyUpdate;
use wasmstream_guest::{Emitter, Error, Params, Record, UpdateState, export_update_state};

struct SessionTracker;

/// A session in progress, stored as `events,first,last`.
struct Session {
    events: i64,
    first: i64,
    last: i64,
}

impl Session {
    fn decode(bytes: &[u8]) -> Result<Session, Error> {
        let mut parts = bytes.split(|&b| b == b',').map(parse_i64);
        let mut next = || {
            parts
                .next()
                .unwrap_or_else(|| Err(Error::new("session state has too few fields")))
        };
        Ok(Session {
            events: next()?,
            first: next()?,
            last: next()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        write_i64(self.events, &mut out);
        out.push(b',');
        write_i64(self.first, &mut out);
        out.push(b',');
        write_i64(self.last, &mut out);
        out
    }
}

impl UpdateState for SessionTracker {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&[])?;
        Ok(SessionTracker)
    }

    fn update(&mut self, key: KeyUpdate<'_>, out: &mut Emitter) -> Result<Option<Vec<u8>>, Error> {
        let previous = key.state.map(Session::decode).transpose()?;
        if key.timing_out {
            if let Some(session) = previous {
                let summary = format!(
                    "{} events from {} to {}",
                    session.events, session.first, session.last
                );
                out.emit(Record {
                    timestamp: session.last,
                    ..Record::new(summary).with_key(key.key)
                });
            }
            return Ok(None);
        }
        let mut session = previous.unwrap_or(Session {
            events: 0,
            first: key.batch_time,
            last: key.batch_time,
        });
        session.events += key.values.len() as i64;
        session.last = key.batch_time;
        Ok(Some(session.encode()))
    }
}

export_update_state!(SessionTracker);
