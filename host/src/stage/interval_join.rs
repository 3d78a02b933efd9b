//! Interval joins over event time (Flink's): a left record at `t` meets
//! the right records of its key at `t - before ..= t + after`, whichever
//! batch each came in. Both sides are exchanged by key; each partition
//! keeps its keys' records buffered in per-key state (spilled past
//! `state_memory`, checkpointed like any) for as long as a record still
//! to come could meet them.
//!
//! The stage's watermark (the latest timestamp seen, less `watermark`,
//! as for event-time windows) decides that: a record behind it when it
//! arrives is late and goes to `<stage>.late`; a buffered left record is
//! dropped once the watermark passes `t + after`, a right one once it
//! passes `s + before`, since every record still to come is at or past
//! the watermark. An outer join writes a record's miss (`[left, null]`)
//! when it is dropped without having met any. When the input ends, every
//! buffered record is dropped so.
//!
//! A pair is written when its second record arrives, stamped with the
//! later of the two times. With a cogroup operator, each call's groups
//! are one new record with the records it meets (or a dropped record
//! alone); buffered records keep their key, value and time, not their
//! headers.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::distinct::Groups;
use super::join::{keyed, make, operators};
use super::kind::{Context, Kind, Operators, Ran, Setup, Sides};
use super::update_state::Changes;
use crate::operator::Operator;
use crate::plan::{Interval, JoinHow};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;
use crate::state::{Change, PartitionState};

/// An interval join stage.
pub(crate) struct IntervalJoin {
    pub how: JoinHow,
    pub operator: Option<Operator>,
    pub interval: Interval,
}

/// A record buffered for a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    /// From the right side (else the left).
    right: bool,
    /// Its timestamp.
    time: i64,
    /// Whether it has met a record of the other side.
    matched: bool,
    #[serde(with = "serde_bytes")]
    value: Vec<u8>,
}

impl Held {
    /// When no record still to come can meet it: once the watermark is
    /// past this.
    fn expiry(&self, interval: Interval) -> i64 {
        let reach = if self.right {
            interval.before
        } else {
            interval.after
        };
        self.time.saturating_add(reach)
    }
}

impl Kind for IntervalJoin {
    type State = PartitionState;
    type Pending = Changes;
    const SIDES: Sides = Sides::Apart;

    fn operators(&self, label: &Arc<str>) -> Operators {
        operators(self.operator.as_ref(), label)
    }

    fn state(&self, setup: &Setup<'_>) -> PartitionState {
        setup.keyed_state()
    }

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;

    /// Runs even on an empty partition: buffered records may expire.
    fn run(
        &self,
        ops: &mut Operators,
        state: &PartitionState,
        sides: &[Batch],
        at: &Context,
    ) -> Result<Ran<Changes>, Failure> {
        let [left, right] = sides else {
            unreachable!("a join has a left and a right input")
        };
        keyed(left, right)?;
        let watermark = at.watermark.unwrap_or(i64::MIN);
        // When the input ends, every buffered record goes.
        let expired_before = match at.batch.end_of_input {
            true => i64::MAX,
            false => watermark,
        };
        let max_time = left
            .timestamps
            .iter()
            .chain(&right.timestamps)
            .max()
            .copied();
        let mut late = Batch::default();
        let mut on_time = |side: &Batch| -> Vec<u32> {
            let (kept, behind): (Vec<u32>, Vec<u32>) =
                (0..side.len() as u32).partition(|&i| side.timestamps[i as usize] >= watermark);
            behind
                .iter()
                .for_each(|&i| late.push_record(side.get(i as usize)));
            kept
        };
        let (left_on_time, right_on_time) = (on_time(left), on_time(right));
        let mut pass = Pass {
            interval: self.interval,
            how: self.how,
            expired_before,
            lefts: Batch::default(),
            rights: Batch::default(),
            left_from: Vec::new(),
            right_from: Vec::new(),
            groups: Vec::new(),
            changes: Vec::new(),
        };
        let unreadable = |e: anyhow::Error| Failure::State(format!("{e:#}"));
        let mut seen = FxHashSet::default();
        for (key, new_left, new_right) in by_key(left, &left_on_time, right, &right_on_time) {
            let held = read(state, key).map_err(unreadable)?;
            pass.key(key, held, (left, &new_left), (right, &new_right));
            seen.insert(key);
        }
        // Keys whose soonest record has expired, in key order.
        let expiring = state.idle_since(expired_before).map_err(unreadable)?;
        for key in &expiring {
            if seen.contains(key.as_slice()) {
                continue;
            }
            let held = read(state, key).map_err(unreadable)?;
            pass.key(key, held, (left, &[]), (right, &[]));
        }
        let Pass {
            lefts,
            rights,
            left_from,
            right_from,
            groups,
            changes,
            ..
        } = pass;
        let records = make(ops, self.how, &lefts, &rights, |each| {
            for (key, l, r) in &groups {
                each(key, l, r);
            }
        })
        .map_err(|failure| match failure {
            // Back to the input's numbering, for dead letters; a buffered
            // record is not in it.
            Failure::Rejected {
                record: Some(i),
                message,
            } => {
                let i = i as usize;
                let record = match i < lefts.len() {
                    true => left_from[i],
                    false => right_from
                        .get(i - lefts.len())
                        .copied()
                        .flatten()
                        .map(|r| left.len() as u32 + r),
                };
                Failure::Rejected { record, message }
            }
            other => other,
        })?;
        Ok(Ran {
            records,
            late,
            max_time,
            pending: Some(changes),
        })
    }

    fn commit(state: &mut PartitionState, changes: Changes) -> anyhow::Result<()> {
        state.apply(changes)
    }

    fn watermark_delay(&self) -> Option<i64> {
        Some(self.interval.delay)
    }
}

/// The keys with new records, in order of first appearance (left's
/// first), each with its new left and right records (indices).
fn by_key<'a>(
    left: &'a Batch,
    left_on_time: &[u32],
    right: &'a Batch,
    right_on_time: &[u32],
) -> Vec<(&'a [u8], Vec<u32>, Vec<u32>)> {
    let mut keys: Vec<(&[u8], Vec<u32>, Vec<u32>)> = Vec::new();
    let mut at: FxHashMap<&[u8], usize> = FxHashMap::default();
    for (side, on_time, is_right) in [(left, left_on_time, false), (right, right_on_time, true)] {
        let chosen = side.select(on_time.iter().map(|&i| i as usize));
        let groups = Groups::of(&chosen.keys, |_| false);
        for (g, &first) in groups.firsts.iter().enumerate() {
            let key = side.keys.get(on_time[first] as usize);
            let members = groups.members(g).iter().map(|&i| on_time[i as usize]);
            let slot = *at.entry(key).or_insert_with(|| {
                keys.push((key, Vec::new(), Vec::new()));
                keys.len() - 1
            });
            match is_right {
                false => keys[slot].1.extend(members),
                true => keys[slot].2.extend(members),
            }
        }
    }
    keys
}

/// A key's buffered records.
fn read(state: &PartitionState, key: &[u8]) -> anyhow::Result<Vec<Held>> {
    match state.get(key)? {
        Some(entry) => postcard::from_bytes(&entry.state)
            .map_err(|e| anyhow::anyhow!("a buffered join record does not read back: {e}")),
        None => Ok(Vec::new()),
    }
}

/// One partition's batch, key by key: the records the groups name (a
/// key's buffered ones and its new ones), the groups, and the changes to
/// the buffers.
struct Pass {
    interval: Interval,
    how: JoinHow,
    /// Records whose expiry is before this go.
    expired_before: i64,
    lefts: Batch,
    rights: Batch,
    /// Where each of `lefts` (and `rights`) is in its input, if it is new.
    left_from: Vec<Option<u32>>,
    right_from: Vec<Option<u32>>,
    groups: Vec<(Vec<u8>, Vec<u32>, Vec<u32>)>,
    changes: Changes,
}

/// A record of a key in a pass: where it is in `lefts` or `rights`, its
/// time, and whether it has met one of the other side.
struct Seen {
    at: u32,
    time: i64,
    matched: bool,
    new: bool,
}

impl Pass {
    /// Meets the new records of `key` with each other and with `held`,
    /// then drops what has expired and keeps the rest.
    fn key(
        &mut self,
        key: &[u8],
        held: Vec<Held>,
        (left, new_left): (&Batch, &[u32]),
        (right, new_right): (&Batch, &[u32]),
    ) {
        let (mut ls, mut rs) = (Vec::new(), Vec::new());
        for h in &held {
            let (batch, from, seen) = match h.right {
                false => (&mut self.lefts, &mut self.left_from, &mut ls),
                true => (&mut self.rights, &mut self.right_from, &mut rs),
            };
            seen.push(Seen {
                at: batch.len() as u32,
                time: h.time,
                matched: h.matched,
                new: false,
            });
            batch.push(Some(key), &h.value, h.time);
            from.push(None);
        }
        for (side, new, batch, from, seen) in [
            (
                left,
                new_left,
                &mut self.lefts,
                &mut self.left_from,
                &mut ls,
            ),
            (
                right,
                new_right,
                &mut self.rights,
                &mut self.right_from,
                &mut rs,
            ),
        ] {
            for &i in new {
                let record = side.get(i as usize);
                seen.push(Seen {
                    at: batch.len() as u32,
                    time: record.timestamp,
                    matched: false,
                    new: true,
                });
                batch.push(Some(key), record.value, record.timestamp);
                from.push(Some(i));
            }
        }
        // Each new left record with every right record it meets, then each
        // new right record with the buffered left records it meets (the
        // new ones met it already); both sides in time order, so each
        // record finds the other side's in its bounds by bisection.
        let Interval { before, after, .. } = self.interval;
        ls.sort_by_key(|s| s.time);
        rs.sort_by_key(|s| s.time);
        let within = |seen: &[Seen], from: i64, to: i64| {
            seen.partition_point(|s| s.time < from)..seen.partition_point(|s| s.time <= to)
        };
        for l in ls.iter_mut().filter(|l| l.new) {
            let range = within(
                &rs,
                l.time.saturating_sub(before),
                l.time.saturating_add(after),
            );
            let met = &mut rs[range];
            if met.is_empty() {
                continue;
            }
            l.matched = true;
            met.iter_mut().for_each(|r| r.matched = true);
            let met = met.iter().map(|r| r.at).collect();
            self.groups.push((key.to_vec(), vec![l.at], met));
        }
        for r in rs.iter_mut().filter(|r| r.new) {
            let range = within(
                &ls,
                r.time.saturating_sub(after),
                r.time.saturating_add(before),
            );
            let mut met: Vec<u32> = Vec::new();
            for l in ls[range].iter_mut().filter(|l| !l.new) {
                l.matched = true;
                met.push(l.at);
            }
            if met.is_empty() {
                continue;
            }
            r.matched = true;
            self.groups.push((key.to_vec(), met, vec![r.at]));
        }
        // What has expired goes (an outer join writing its misses); the
        // rest stays.
        let mut kept = Vec::new();
        let mut soonest = i64::MAX;
        for (seen, is_right) in ls
            .iter()
            .map(|s| (s, false))
            .chain(rs.iter().map(|s| (s, true)))
        {
            let held = Held {
                right: is_right,
                time: seen.time,
                matched: seen.matched,
                value: Vec::new(),
            };
            let expiry = held.expiry(self.interval);
            if expiry < self.expired_before {
                let alone = match is_right {
                    false => self.how.keeps_left_only(),
                    true => self.how.keeps_right_only(),
                };
                if alone && !seen.matched {
                    let (l, r) = match is_right {
                        false => (vec![seen.at], Vec::new()),
                        true => (Vec::new(), vec![seen.at]),
                    };
                    self.groups.push((key.to_vec(), l, r));
                }
                continue;
            }
            soonest = soonest.min(expiry);
            let batch = if is_right { &self.rights } else { &self.lefts };
            kept.push(Held {
                value: batch.values.get(seen.at as usize).to_vec(),
                ..held
            });
        }
        let change = match kept.is_empty() {
            true => Change::Delete,
            false => Change::Put {
                state: postcard::to_allocvec(&kept).expect("buffered records encode"),
                active: soonest,
            },
        };
        if !kept.is_empty() || !held.is_empty() {
            self.changes.push((key.to_vec(), change));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::BatchInfo;

    fn side(records: &[(&str, i64)]) -> Batch {
        let mut batch = Batch::default();
        for (key, time) in records {
            batch.push(Some(key.as_bytes()), b"{}", *time);
        }
        batch
    }

    /// Runs one batch on `state` with the watermark at `watermark` and
    /// commits it: what it wrote and sent aside.
    fn batch(
        join: &IntervalJoin,
        state: &mut PartitionState,
        sides: [Batch; 2],
        watermark: Option<i64>,
    ) -> (usize, usize) {
        let at = Context {
            batch: BatchInfo {
                id: 1,
                time_ms: 0,
                end_of_input: false,
            },
            watermark,
        };
        let ran = join
            .run(&mut Operators::default(), state, &sides, &at)
            .unwrap_or_else(|f| panic!("{f}"));
        IntervalJoin::commit(state, ran.pending.expect("changes")).unwrap();
        (ran.records.len(), ran.late.len())
    }

    #[test]
    fn buffers_are_dropped_as_the_watermark_passes_them() {
        let join = IntervalJoin {
            how: JoinHow::LeftOuter,
            operator: None,
            interval: Interval {
                before: 0,
                after: 1_000,
                delay: 0,
            },
        };
        let mut state = PartitionState::in_memory();
        let lefts = side(&[("a", 1_000), ("b", 2_000), ("c", 5_000)]);
        assert_eq!(batch(&join, &mut state, [lefts, side(&[])], None), (0, 0));
        assert_eq!(state.len(), 3, "each left record waits for its match");

        // `a` meets its right record; at 2 500 nothing expires yet.
        let rights = side(&[("a", 1_500)]);
        assert_eq!(
            batch(&join, &mut state, [side(&[]), rights], Some(1_500)),
            (1, 0)
        );
        assert_eq!(state.len(), 3);

        // Past 3 000, `a` (matched) and `b` (a miss, written) go; `c`
        // stays until 6 000; a record behind the watermark is late.
        let late = side(&[("c", 100)]);
        assert_eq!(
            batch(&join, &mut state, [late, side(&[])], Some(3_001)),
            (1, 1)
        );
        assert_eq!(state.len(), 1);
        assert_eq!(
            batch(&join, &mut state, [side(&[]), side(&[])], Some(6_001)),
            (1, 0)
        );
        assert!(
            state.is_empty(),
            "nothing is kept once the watermark has passed it all"
        );
    }
}
