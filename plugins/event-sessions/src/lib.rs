//! Keyed process: a session per key over event time (a user's clicks,
//! say), emitted when the key has been idle for `gap` of event time, that
//! is once the stage's watermark passes its last record's time plus the
//! gap, whether or not the key gets more records:
//! `(key, "<events> events from <first> to <last>")`, stamped `last`,
//! times being the records' own in milliseconds. A record further than
//! `gap` from the session starts a new one. When the input ends, open
//! sessions are emitted.
//!
//! Params: `gap`, required, a duration: `"30s"`, `"500ms"`, `"2m"`, `"1h"`.

use wasmstream_guest::keyed_process::{KeyEvents, Timers};
use wasmstream_guest::text::{parse_i64, write_i64};
use wasmstream_guest::{Emitter, Error, KeyedProcess, Params, Record, export_keyed_process};

struct EventSessions {
    gap: i64,
}

/// A session in progress, stored as `events,first,last`.
#[derive(Clone, Copy)]
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
        for (i, n) in [self.events, self.first, self.last].into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_i64(n, &mut out);
        }
        out
    }

    fn emit(&self, key: &[u8], out: &mut Emitter) {
        let summary = format!(
            "{} events from {} to {}",
            self.events, self.first, self.last
        );
        out.emit(Record {
            timestamp: self.last,
            ..Record::new(summary).with_key(key)
        });
    }
}

/// `"30s"` in milliseconds.
fn duration(text: &str) -> Result<i64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("`gap` must be a duration such as \"30s\", not {text:?}"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`gap` {text:?}: the unit is ms, s, m or h")),
    };
    match n.checked_mul(scale) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(format!(
            "`gap` {text:?} must be above zero and below 292 million years"
        )),
    }
}

impl KeyedProcess for EventSessions {
    fn init(params: &Params) -> Result<Self, String> {
        params.only(&["gap"])?;
        let gap = params
            .get("gap")
            .ok_or("`gap` is required: how long a key may be idle, e.g. \"30s\"")?;
        Ok(EventSessions {
            gap: duration(gap)?,
        })
    }

    fn process(
        &mut self,
        key: KeyEvents<'_>,
        timers: &mut Timers,
        out: &mut Emitter,
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut session = key.state.map(Session::decode).transpose()?;
        // The timers fired first: the watermark passed them before any of
        // these records came.
        if let (Some(open), Some(&fired)) = (session, key.fired.last())
            && fired >= open.last + self.gap
        {
            open.emit(key.key, out);
            session = None;
        }
        let mut times: Vec<i64> = key.records.iter().map(|r| r.timestamp).collect();
        times.sort_unstable();
        for time in times {
            session = Some(match session {
                Some(open) if time - open.last < self.gap => Session {
                    events: open.events + 1,
                    first: open.first.min(time),
                    last: open.last.max(time),
                },
                Some(open) => {
                    open.emit(key.key, out);
                    Session {
                        events: 1,
                        first: time,
                        last: time,
                    }
                }
                None => Session {
                    events: 1,
                    first: time,
                    last: time,
                },
            });
        }
        timers.clear();
        Ok(session.map(|open| {
            timers.set(open.last + self.gap);
            open.encode()
        }))
    }
}

export_keyed_process!(EventSessions);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_read_as_durations() {
        assert_eq!(duration("30s"), Ok(30_000));
        assert_eq!(duration("500ms"), Ok(500));
        assert_eq!(duration("2m"), Ok(120_000));
        assert!(duration("2 weeks").is_err());
        assert!(duration("0s").is_err());
    }
}
