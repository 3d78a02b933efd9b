//! State as a worker's changelog holds it (`scheduler::handover`): each
//! change to a partition's state is one record, keyed so that compaction
//! keeps the last change of each piece of state, and partitioned by the
//! state's key, so that a changelog partition holds exactly the state of
//! the repartition partition of the same number.
//!
//! Each kind of state says how its changes become records and back: per-key
//! state ([`PartitionState`]) here, open event-time windows beside their
//! stage (`stage::event_time`).

use anyhow::{Result, bail};

use super::{Change, PartitionState};

/// One changelog record: its Kafka key (beginning with the state's key,
/// see [`Logs::state_key`]) and its value, or `None` once that state is
/// gone (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A partition's state that a changelog keeps.
pub trait Logs: Send {
    /// The state's key in a record's key: which partition the record
    /// belongs to.
    fn state_key<'k>(&self, key: &'k [u8]) -> &'k [u8];

    /// From now on, keeps each change committed, for [`Logs::logged`].
    fn start_logging(&mut self);

    /// The changes committed since the last call, as records, in order.
    fn logged(&mut self) -> Vec<LogRecord>;

    /// Forgets the state of every key `gone` says moved away (its
    /// partition went to another worker): not a change to log. Says how
    /// many pieces of state went.
    fn forget_moved(&mut self, gone: &dyn Fn(&[u8]) -> bool) -> Result<usize>;

    /// Takes in records read back from a changelog (each key's last): not
    /// logged again.
    fn take_in(&mut self, records: Vec<LogRecord>) -> Result<()>;
}

/// Per-key state: the record's key is the state's key, its value the last
/// activity (8 bytes, little-endian) then the state.
impl Logs for PartitionState {
    fn state_key<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        key
    }

    fn start_logging(&mut self) {
        self.log_changes();
    }

    fn logged(&mut self) -> Vec<LogRecord> {
        let changes = self.take_logged();
        (changes.into_iter())
            .map(|(key, entry)| LogRecord {
                key,
                value: entry.map(|entry| {
                    let mut value = Vec::with_capacity(8 + entry.state.len());
                    value.extend_from_slice(&entry.last_active.to_le_bytes());
                    value.extend_from_slice(&entry.state);
                    value
                }),
            })
            .collect()
    }

    fn forget_moved(&mut self, gone: &dyn Fn(&[u8]) -> bool) -> Result<usize> {
        self.forget(gone)
    }

    fn take_in(&mut self, records: Vec<LogRecord>) -> Result<()> {
        let mut changes = Vec::with_capacity(records.len());
        for LogRecord { key, value } in records {
            let change = match value {
                None => Change::Delete,
                Some(value) if value.len() >= 8 => Change::Put {
                    active: i64::from_le_bytes(value[..8].try_into().expect("8 bytes")),
                    state: value[8..].to_vec(),
                },
                Some(_) => bail!(
                    "the record of key {:?} is not a key's state (under 8 bytes); was the topic written by something else?",
                    String::from_utf8_lossy(&key)
                ),
            };
            changes.push((key, change));
        }
        self.restore(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_key_state_goes_through_its_records_and_back() {
        let mut state = PartitionState::in_memory();
        state.start_logging();
        let put = |state: &str, active| Change::Put {
            state: state.as_bytes().to_vec(),
            active,
        };
        state
            .apply([
                (b"a".to_vec(), put("1", 5)),
                (b"b".to_vec(), put("2", 6)),
                (b"a".to_vec(), Change::Delete),
            ])
            .unwrap();
        let records = state.logged();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].key, b"b");
        assert_eq!(
            records[1].value.as_deref(),
            Some(&[6, 0, 0, 0, 0, 0, 0, 0, b'2'][..])
        );
        assert_eq!(records[2].value, None);

        let mut back = PartitionState::in_memory();
        back.take_in(records).unwrap();
        assert_eq!(back.len(), 1);
        let b = back.get(b"b").unwrap().unwrap();
        assert_eq!((b.state.as_slice(), b.last_active), (&b"2"[..], 6));

        let short = LogRecord {
            key: b"k".to_vec(),
            value: Some(vec![1, 2]),
        };
        let error = back.take_in(vec![short]).unwrap_err().to_string();
        assert!(error.contains("key \"k\" is not a key's state"), "{error}");
    }
}
