//! Per-key state, partitioned like the shuffle.
//!
//! An update-state stage exchanges records by key, so each key's state
//! lives with exactly one partition, in that partition's [`PartitionState`].
//! The state changes only at the end of a batch that succeeded, so a failed
//! (or skipped) batch leaves it as it was.
//!
//! Memory is bounded: a partition keeps its keys in memory up to its
//! budget (`state_memory` in the manifest); beyond it, the keys idle the
//! longest spill to an embedded database ([`spill`]) and are read back
//! from there when a batch needs them. Checkpoints save both tiers.

pub mod logs;
pub mod spill;

use anyhow::Result;
use serde_bytes::Bytes;
use std::borrow::Cow;
use std::collections::HashMap;

use crate::checkpoint::{Bad, Reader, Writer};
pub use logs::{LogRecord, Logs};
pub use spill::{SpillFile, Spilled};

/// Bytes an entry costs beyond its key and state (map slot, two vectors).
const ENTRY_OVERHEAD: usize = 64;

/// How much per-key state a partition (or a stage) holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Keys with state.
    pub keys: u64,
    /// Bytes of the keys kept in memory (keys, states and bookkeeping).
    pub bytes_in_memory: u64,
    /// Keys spilled to disk.
    pub keys_spilled: u64,
}

impl std::ops::Add for StateSize {
    type Output = StateSize;
    fn add(self, other: StateSize) -> StateSize {
        StateSize {
            keys: self.keys + other.keys,
            bytes_in_memory: self.bytes_in_memory + other.bytes_in_memory,
            keys_spilled: self.keys_spilled + other.keys_spilled,
        }
    }
}

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
    /// Keys in memory.
    hot: HashMap<Vec<u8>, Entry>,
    hot_bytes: usize,
    /// Keys spilled to disk, and how many.
    cold: Option<Spilled>,
    cold_keys: usize,
    /// Most bytes of keys in memory; `usize::MAX` without a spill file.
    budget: usize,
    /// Changes kept for a changelog, once [`PartitionState::log_changes`]
    /// asks for them.
    logged: Option<Vec<Logged>>,
}

/// A change as a changelog records it: the key's new state and last
/// activity, or `None` once it has none.
pub type Logged = (Vec<u8>, Option<Entry>);

/// Turns a chunk of states into one new state each (a new version's
/// `migrate-state`).
pub type Convert<'a> = dyn FnMut(&[&[u8]]) -> Result<Vec<Vec<u8>>, String> + 'a;

/// Every key's state converted by a new operator version, ready to apply.
#[derive(Debug)]
pub struct Migrated {
    hot: Vec<(Vec<u8>, Vec<u8>)>,
    cold: Vec<(Vec<u8>, Vec<u8>, i64)>,
}

impl Migrated {
    /// How many keys were converted.
    pub fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }

    /// Whether no key was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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

impl Change {
    /// The entry the key has after this change, if any.
    fn entry(&self) -> Option<Entry> {
        match self {
            Change::Put { state, active } => Some(Entry {
                state: state.clone(),
                last_active: *active,
            }),
            Change::Delete => None,
        }
    }
}

fn cost(key: &[u8], entry: &Entry) -> usize {
    key.len() + entry.state.len() + ENTRY_OVERHEAD
}

impl PartitionState {
    /// State kept in memory up to `budget` bytes, the rest in `spill`.
    pub fn spilling(spill: Spilled, budget: usize) -> Self {
        PartitionState {
            cold: Some(spill),
            budget,
            ..PartitionState::default()
        }
    }

    /// State kept in memory only, however large.
    pub fn in_memory() -> Self {
        PartitionState {
            budget: usize::MAX,
            ..PartitionState::default()
        }
    }

    /// The state of `key`, if it has one.
    pub fn get(&self, key: &[u8]) -> Result<Option<Cow<'_, Entry>>> {
        if let Some(entry) = self.hot.get(key) {
            return Ok(Some(Cow::Borrowed(entry)));
        }
        match &self.cold {
            Some(cold) if self.cold_keys > 0 => Ok(cold
                .get(key)?
                .map(|(state, last_active)| Cow::Owned(Entry { state, last_active }))),
            _ => Ok(None),
        }
    }

    /// Keys idle since before `cutoff` (ms), in key order so replays agree.
    pub fn idle_since(&self, cutoff: i64) -> Result<Vec<Vec<u8>>> {
        let mut idle: Vec<Vec<u8>> = self
            .hot
            .iter()
            .filter(|(_, e)| e.last_active < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(cold) = &self.cold
            && self.cold_keys > 0
        {
            idle.extend(cold.idle_before(cutoff)?);
        }
        idle.sort();
        Ok(idle)
    }

    /// From now on, keeps each change applied ([`PartitionState::apply`],
    /// [`PartitionState::apply_migrated`]) for [`PartitionState::take_logged`]:
    /// a worker's changelog writes them out.
    pub fn log_changes(&mut self) {
        self.logged.get_or_insert_with(Vec::new);
    }

    /// The changes applied since the last call, in order.
    pub fn take_logged(&mut self) -> Vec<Logged> {
        self.logged.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Applies a batch's changes, then spills the keys idle the longest if
    /// memory is over budget.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Vec<u8>, Change)>) -> Result<()> {
        let mut logged = self.logged.take();
        let result = self.apply_unlogged(changes.into_iter().inspect(|(key, change)| {
            if let Some(logged) = &mut logged {
                logged.push((key.clone(), change.entry()));
            }
        }));
        self.logged = logged;
        result
    }

    /// Applies changes read back from a changelog: they are not logged
    /// again.
    pub fn restore(&mut self, changes: impl IntoIterator<Item = (Vec<u8>, Change)>) -> Result<()> {
        self.apply_unlogged(changes)
    }

    /// Forgets every key `gone` says has moved away (its partition went to
    /// another worker, whose changelog now has it): not a change to log.
    /// Says how many keys went.
    pub fn forget(&mut self, gone: impl Fn(&[u8]) -> bool) -> Result<usize> {
        let before = self.hot.len();
        let mut freed = 0;
        self.hot.retain(|key, entry| {
            let keep = !gone(key);
            if !keep {
                freed += cost(key, entry);
            }
            keep
        });
        self.hot_bytes -= freed;
        let mut forgotten = before - self.hot.len();
        if let Some(cold) = self.cold.as_ref().filter(|_| self.cold_keys > 0) {
            let spilled = cold.all()?;
            let keys: Vec<&[u8]> = (spilled.iter())
                .map(|(key, _, _)| key.as_slice())
                .filter(|key| gone(key))
                .collect();
            let removed = cold.update(&keys, &[])?;
            self.cold_keys -= removed;
            forgotten += removed;
        }
        Ok(forgotten)
    }

    fn apply_unlogged(
        &mut self,
        changes: impl IntoIterator<Item = (Vec<u8>, Change)>,
    ) -> Result<()> {
        let mut leave_disk: Vec<Vec<u8>> = Vec::new();
        for (key, change) in changes {
            if self.cold_keys > 0 && !self.hot.contains_key(&key) {
                leave_disk.push(key.clone());
            }
            let key_len = key.len();
            let old = match change {
                Change::Put { state, active } => {
                    self.hot_bytes += key_len + state.len() + ENTRY_OVERHEAD;
                    let entry = Entry {
                        state,
                        last_active: active,
                    };
                    self.hot.insert(key, entry)
                }
                Change::Delete => self.hot.remove(&key),
            };
            if let Some(old) = old {
                self.hot_bytes -= key_len + old.state.len() + ENTRY_OVERHEAD;
            }
        }
        if let Some(cold) = &self.cold {
            let mut removed = 0;
            if !leave_disk.is_empty() {
                let keys: Vec<&[u8]> = leave_disk.iter().map(Vec::as_slice).collect();
                removed = cold.update(&keys, &[])?;
            }
            self.cold_keys -= removed;
            if self.hot_bytes > self.budget {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Moves the keys idle the longest to disk until memory is at three
    /// quarters of the budget, so spills come in batches, not per key.
    fn spill(&mut self) -> Result<()> {
        let cold = self.cold.as_ref().expect("spilling needs a spill file");
        let target = self.budget / 4 * 3;
        let mut by_age: Vec<(&Vec<u8>, &Entry)> = self.hot.iter().collect();
        by_age.sort_by(|a, b| (a.1.last_active, a.0).cmp(&(b.1.last_active, b.0)));
        let mut bytes = self.hot_bytes;
        let mut out = Vec::new();
        for (key, entry) in by_age {
            if bytes <= target {
                break;
            }
            bytes -= cost(key, entry);
            out.push((key.as_slice(), entry.state.as_slice(), entry.last_active));
        }
        cold.update(&[], &out)?;
        let moved: Vec<Vec<u8>> = out.iter().map(|(k, _, _)| k.to_vec()).collect();
        for key in &moved {
            self.hot.remove(key);
        }
        self.cold_keys += moved.len();
        self.hot_bytes = bytes;
        tracing::debug!(
            keys = moved.len(),
            in_memory = self.hot.len(),
            on_disk = self.cold_keys,
            "state over its memory budget: spilled the keys idle the longest"
        );
        Ok(())
    }

    /// Every key's state converted by `convert` (which gets a chunk of
    /// states and returns one new state per old one), not yet applied:
    /// [`PartitionState::apply_migrated`] does that, so a conversion that
    /// fails part-way changes nothing. Reads the spilled keys too.
    pub fn migrated(&self, convert: &mut Convert<'_>) -> Result<Migrated, String> {
        const CHUNK: usize = 4096;
        let mut keys: Vec<&[u8]> = self.hot.keys().map(Vec::as_slice).collect();
        keys.sort_unstable();
        let mut hot = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let states: Vec<&[u8]> = chunk
                .iter()
                .map(|k| self.hot[*k].state.as_slice())
                .collect();
            let new = convert(&states)?;
            hot.extend(chunk.iter().map(|k| k.to_vec()).zip(new));
        }
        let mut cold = Vec::new();
        if let Some(spilled) = self.cold.as_ref().filter(|_| self.cold_keys > 0) {
            let all = spilled
                .all()
                .map_err(|e| format!("cannot read the spilled state: {e:#}"))?;
            for chunk in all.chunks(CHUNK) {
                let states: Vec<&[u8]> = chunk.iter().map(|(_, s, _)| s.as_slice()).collect();
                let new = convert(&states)?;
                cold.extend(
                    chunk
                        .iter()
                        .zip(new)
                        .map(|((key, _, active), state)| (key.clone(), state, *active)),
                );
            }
        }
        Ok(Migrated { hot, cold })
    }

    /// Stores what [`PartitionState::migrated`] converted.
    pub fn apply_migrated(&mut self, migrated: Migrated) -> Result<()> {
        if let Some(logged) = &mut self.logged {
            let hot =
                (migrated.hot.iter()).map(|(key, state)| (key, state, self.hot[key].last_active));
            let cold = (migrated.cold.iter()).map(|(key, state, active)| (key, state, *active));
            logged.extend(hot.chain(cold).map(|(key, state, last_active)| {
                let entry = Entry {
                    state: state.clone(),
                    last_active,
                };
                (key.clone(), Some(entry))
            }));
        }
        for (key, state) in migrated.hot {
            let entry = self
                .hot
                .get_mut(&key)
                .expect("migrated keys are the partition's");
            self.hot_bytes = self.hot_bytes - entry.state.len() + state.len();
            entry.state = state;
        }
        if let Some(cold) = &self.cold
            && !migrated.cold.is_empty()
        {
            let puts: Vec<(&[u8], &[u8], i64)> = migrated
                .cold
                .iter()
                .map(|(k, s, a)| (k.as_slice(), s.as_slice(), *a))
                .collect();
            cold.update(&[], &puts)?;
        }
        if self.cold.is_some() && self.hot_bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// How many keys have state.
    pub fn len(&self) -> usize {
        self.hot.len() + self.cold_keys
    }

    /// How much state there is, and where.
    pub fn size(&self) -> StateSize {
        StateSize {
            keys: self.len() as u64,
            bytes_in_memory: self.hot_bytes as u64,
            keys_spilled: self.cold_keys as u64,
        }
    }

    /// Whether no key has state.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every key's state into a checkpoint.
    pub fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        let cold = match &self.cold {
            Some(cold) if self.cold_keys > 0 => cold.all().map_err(std::io::Error::other)?,
            _ => Vec::new(),
        };
        out.put(&((self.hot.len() + cold.len()) as u64))?;
        let hot = self
            .hot
            .iter()
            .map(|(key, entry)| (key, &entry.state, entry.last_active));
        let cold = cold
            .iter()
            .map(|(key, state, active)| (key, state, *active));
        for (key, state, active) in hot.chain(cold) {
            out.put(&(Bytes::new(key), Bytes::new(state), active))?;
        }
        Ok(())
    }

    /// Reads back what [`PartitionState::save`] wrote into `self` (empty),
    /// spilling as it goes if it is over budget.
    pub fn load(&mut self, input: &mut Reader<'_>) -> Result<(), Bad> {
        // An entry takes at least three bytes: two lengths and a time.
        let n = input.count(3)?;
        let mut changes = Vec::new();
        for i in 0..n {
            let (key, state, active): (&Bytes, &Bytes, i64) = input.take()?;
            let (key, state) = (key.to_vec(), state.to_vec());
            changes.push((key, Change::Put { state, active }));
            if changes.len() == 100_000 || i + 1 == n {
                self.restore(std::mem::take(&mut changes))
                    .map_err(|e| format!("cannot spill state while loading it: {e:#}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, state: &str, active: i64) -> (Vec<u8>, Change) {
        let change = Change::Put {
            state: state.as_bytes().to_vec(),
            active,
        };
        (key.as_bytes().to_vec(), change)
    }

    fn state_of(state: &PartitionState, key: &str) -> Option<(String, i64)> {
        let entry = state.get(key.as_bytes()).unwrap()?;
        Some((
            String::from_utf8(entry.state.clone()).unwrap(),
            entry.last_active,
        ))
    }

    #[test]
    fn idle_keys_are_found_in_order_and_changes_apply() {
        let mut state = PartitionState::in_memory();
        state
            .apply([put("b", "1", 10), put("a", "2", 5), put("c", "3", 50)])
            .unwrap();
        assert_eq!(
            state.idle_since(20).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        state.apply([(b"a".to_vec(), Change::Delete)]).unwrap();
        assert_eq!(state_of(&state, "a"), None);
        assert_eq!(state_of(&state, "c"), Some(("3".into(), 50)));
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn keys_over_the_budget_spill_and_read_back_the_same() {
        let file = SpillFile::new(None, "state-unit-test");
        // Room for about ten keys.
        let mut state = PartitionState::spilling(Spilled::new(file, "p0"), 10 * 80);
        let keys: Vec<String> = (0..100).map(|i| format!("key{i:03}")).collect();
        state
            .apply(
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| put(k, &i.to_string(), i as i64)),
            )
            .unwrap();
        assert_eq!(state.len(), 100);
        assert!(state.cold_keys >= 90, "{} keys on disk", state.cold_keys);
        assert_eq!(state_of(&state, "key000"), Some(("0".into(), 0)));
        assert_eq!(state_of(&state, "key099"), Some(("99".into(), 99)));

        // Updating and deleting spilled keys; idle keys come from both tiers.
        state
            .apply([
                put("key000", "updated", 200),
                (b"key001".to_vec(), Change::Delete),
            ])
            .unwrap();
        assert_eq!(state_of(&state, "key000"), Some(("updated".into(), 200)));
        assert_eq!(state_of(&state, "key001"), None);
        assert_eq!(state.len(), 99);
        let idle = state.idle_since(5).unwrap();
        let expected: Vec<Vec<u8>> = ["key002", "key003", "key004"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        assert_eq!(idle, expected);
    }

    #[test]
    fn a_workers_changes_are_logged_and_moved_keys_forgotten_from_both_tiers() {
        let file = SpillFile::new(None, "state-changelog-test");
        let mut state = PartitionState::spilling(Spilled::new(file, "p0"), 10 * 80);
        state.log_changes();
        let keys: Vec<String> = (0..40).map(|i| format!("key{i:03}")).collect();
        state.apply(keys.iter().map(|k| put(k, "1", 0))).unwrap();
        state.apply([(b"key000".to_vec(), Change::Delete)]).unwrap();
        let logged = state.take_logged();
        assert_eq!(logged.len(), 41, "every change, in order");
        assert_eq!(
            logged[39].1.as_ref().map(|e| e.state.as_slice()),
            Some(&b"1"[..])
        );
        assert_eq!(logged[40], (b"key000".to_vec(), None));
        assert!(state.take_logged().is_empty(), "taken once");

        // State read back from a changelog is not logged again.
        state.restore([put("restored", "7", 3)]).unwrap();
        assert!(state.take_logged().is_empty());
        assert_eq!(state_of(&state, "restored"), Some(("7".into(), 3)));

        // Keys whose partition moved away go, in memory and on disk alike.
        assert!(state.cold_keys > 0, "some keys spilled");
        let odd = |key: &[u8]| key.last().is_some_and(|b| b % 2 == 1);
        let forgotten = state.forget(odd).unwrap();
        assert_eq!(forgotten, 20);
        assert_eq!(state.len(), 20, "39 keys and `restored`, less the odd ones");
        assert_eq!(state_of(&state, "key001"), None);
        assert_eq!(state_of(&state, "key002"), Some(("1".into(), 0)));
        assert!(state.take_logged().is_empty(), "moving is not a change");
    }

    #[test]
    fn every_key_in_memory_and_on_disk_survives_a_checkpoint() {
        let file = SpillFile::new(None, "state-checkpoint-test");
        let mut state = PartitionState::spilling(Spilled::new(file, "p0"), 10 * 80);
        let keys: Vec<String> = (0..50).map(|i| format!("key{i:03}")).collect();
        let states = keys
            .iter()
            .enumerate()
            .map(|(i, k)| put(k, &i.to_string(), i as i64));
        state
            .apply(states.chain([put("\u{0}\u{ff}", "", -7)]))
            .unwrap();
        assert!(state.cold_keys > 0 && !state.hot.is_empty());

        let mut checkpoint = Vec::new();
        let mut out = Writer::new(&mut checkpoint).unwrap();
        state.save(&mut out).unwrap();
        out.finish().unwrap();

        let mut restored = PartitionState::in_memory();
        let mut input = Reader::checked(&checkpoint).unwrap();
        restored.load(&mut input).unwrap();
        assert!(input.at_end());
        assert_eq!(restored.len(), 51);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(state_of(&restored, key), Some((i.to_string(), i as i64)));
        }
        assert_eq!(
            state_of(&restored, "\u{0}\u{ff}"),
            Some((String::new(), -7))
        );
    }
}
