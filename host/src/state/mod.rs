//! Per-key state, partitioned like the shuffle.
//!
//! An update-state stage exchanges records by key, so each key's state
//! lives with exactly one partition, in that partition's [`PartitionState`].
//! The state changes only at the end of a batch that succeeded, so a failed
//! (or skipped) batch leaves it as it was.
//!
//! This is the in-memory store; checkpoints save and load it whole. A
//! memory-bounded store that spills to disk comes next (see the README's
//! status); it keeps this interface: look up, find idle keys, apply a
//! batch's changes, save, load.

use std::collections::HashMap;
use std::io::Write;

use crate::checkpoint::{Bad, Reader, Writer};

/// One key's state and when it was last active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The operator's state bytes.
    pub state: Vec<u8>,
    /// Batch time (ms) of the last batch that had records for the key.
    pub last_active: i64,
}

/// The states of the keys one partition owns.
#[derive(Debug, Default)]
pub struct PartitionState {
    entries: HashMap<Vec<u8>, Entry>,
}

/// A change to one key, decided by a batch.
#[derive(Debug)]
pub enum Change {
    /// Store this state; the key was active at `active` (ms).
    Put {
        /// The new state.
        state: Vec<u8>,
        /// When the key was last active.
        active: i64,
    },
    /// Forget the key.
    Delete,
}

impl PartitionState {
    /// The state of `key`, if it has one.
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Keys idle since before `cutoff` (ms), in key order so replays agree.
    pub fn idle_since(&self, cutoff: i64) -> Vec<Vec<u8>> {
        let mut idle: Vec<Vec<u8>> = self
            .entries
            .iter()
            .filter(|(_, e)| e.last_active < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        idle.sort();
        idle
    }

    /// Applies a batch's changes.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Vec<u8>, Change)>) {
        for (key, change) in changes {
            match change {
                Change::Put { state, active } => {
                    self.entries.insert(
                        key,
                        Entry {
                            state,
                            last_active: active,
                        },
                    );
                }
                Change::Delete => {
                    self.entries.remove(&key);
                }
            }
        }
    }

    /// How many keys have state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key has state.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes every key's state into a checkpoint.
    pub fn save<W: Write>(&self, out: &mut Writer<W>) -> std::io::Result<()> {
        out.u64(self.entries.len() as u64)?;
        for (key, entry) in &self.entries {
            out.bytes(key)?;
            out.bytes(&entry.state)?;
            out.i64(entry.last_active)?;
        }
        Ok(())
    }

    /// Reads back what [`PartitionState::save`] wrote.
    pub fn load(input: &mut Reader<'_>) -> Result<Self, Bad> {
        let n = input.count(24)?;
        let mut entries = HashMap::with_capacity(n);
        for _ in 0..n {
            let key = input.bytes()?.to_vec();
            let state = input.bytes()?.to_vec();
            let last_active = input.i64()?;
            entries.insert(key, Entry { state, last_active });
        }
        Ok(PartitionState { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_keys_are_found_in_order_and_changes_apply() {
        let mut state = PartitionState::default();
        state.apply([
            (
                b"b".to_vec(),
                Change::Put {
                    state: b"1".to_vec(),
                    active: 10,
                },
            ),
            (
                b"a".to_vec(),
                Change::Put {
                    state: b"2".to_vec(),
                    active: 5,
                },
            ),
            (
                b"c".to_vec(),
                Change::Put {
                    state: b"3".to_vec(),
                    active: 50,
                },
            ),
        ]);
        assert_eq!(state.idle_since(20), vec![b"a".to_vec(), b"b".to_vec()]);
        state.apply([(b"a".to_vec(), Change::Delete)]);
        assert_eq!(state.get(b"a"), None);
        assert_eq!(state.get(b"c").map(|e| e.state.as_slice()), Some(&b"3"[..]));
        assert_eq!(state.len(), 2);
    }
}
