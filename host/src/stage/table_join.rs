//! Stream-table joins (Kafka Streams' KStream-KTable join): the right
//! side is a table, a keyed stream of upserts in which an empty value
//! deletes its key (a tombstone), kept as per-key state (spilled past
//! `state_memory`, checkpointed like any). Each left record meets its
//! key's row as it stands: a batch's table records are applied first, in
//! order (the last for a key wins), then its stream records looked up. A
//! `join` writes a record only for a key with a row; a `left_outer_join`
//! writes `[left, null]` for one without.
//!
//! With a `ttl`, a row not updated for that long (in batch time) is
//! forgotten at the start of a batch, as if deleted.
//!
//! A table is partitioned by key like the stream, both exchanged; a
//! global one is kept whole by every partition (its records go to all of
//! them) and the stream is not exchanged at all: for small tables, as
//! Kafka Streams' GlobalKTable. A pair takes the later of the stream
//! record's time and the row's.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::distinct::Groups;
use super::join::{keyed, make, operators};
use super::kind::{Context, Kind, Operators, Ran, Setup, Sides};
use super::update_state::Changes;
use crate::operator::Operator;
use crate::plan::JoinHow;
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;
use crate::state::{Change, PartitionState};

/// A stream-table join stage.
pub(crate) struct TableJoin {
    pub how: JoinHow,
    pub operator: Option<Operator>,
    pub global: bool,
    /// How long a row lasts without an update, if not forever.
    pub ttl: Option<Duration>,
}

/// A key's row, as kept.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    time: i64,
    #[serde(with = "serde_bytes")]
    value: Vec<u8>,
}

impl Kind for TableJoin {
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

    /// A global table goes to every partition, and the stream stays where
    /// it is.
    fn route_side(&self, side: usize, batches: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        match (self.global, side) {
            (false, _) => shuffle::exchange(batches, partitions),
            (true, 0) => shuffle::rebalance(batches, partitions),
            (true, _) => {
                let all = Batch::concat(batches);
                vec![all; partitions]
            }
        }
    }

    fn run(
        &self,
        ops: &mut Operators,
        state: &PartitionState,
        sides: &[Batch],
        at: &Context,
    ) -> Result<Ran<Changes>, Failure> {
        let [stream, table] = sides else {
            unreachable!("a stream-table join has a stream and a table")
        };
        keyed(stream, table)?;
        // Rows past their ttl go first, then the batch's table records
        // apply, the last for each key winning.
        let unreadable = |e: anyhow::Error| Failure::State(format!("{e:#}"));
        let expired = match self.ttl {
            Some(ttl) => state
                .idle_since(at.batch.time_ms.saturating_sub(ttl.as_millis() as i64))
                .map_err(unreadable)?,
            None => Vec::new(),
        };
        let updates = Groups::of(&table.keys, |_| false);
        let mut changes: Changes = Vec::with_capacity(updates.len() + expired.len());
        let mut rows: rustc_hash::FxHashMap<&[u8], Option<Row>> = Default::default();
        for key in &expired {
            changes.push((key.clone(), Change::Delete));
            rows.insert(key, None);
        }
        for g in 0..updates.len() {
            let last = *updates.members(g).last().expect("a group has a member") as usize;
            let record = table.get(last);
            let key = record.key.expect("checked: every record has a key");
            let row = (!record.value.is_empty()).then(|| Row {
                time: record.timestamp,
                value: record.value.to_vec(),
            });
            let change = match &row {
                Some(row) => Change::Put {
                    state: postcard::to_allocvec(row).expect("a row encodes"),
                    active: at.batch.time_ms,
                },
                None => Change::Delete,
            };
            changes.push((key.to_vec(), change));
            rows.insert(key, row);
        }
        // Each stream key with its row (one record on the right), if any.
        let keys = Groups::of(&stream.keys, |_| false);
        let mut table_rows = Batch::default();
        let mut groups: Vec<(&[u8], &[u32], Vec<u32>)> = Vec::with_capacity(keys.len());
        for g in 0..keys.len() {
            let key = stream.keys.get(keys.firsts[g]);
            let row = match rows.get(key) {
                Some(row) => row.as_ref().map(|r| (r.time, r.value.clone())),
                None => read(state, key).map_err(unreadable)?,
            };
            let right = match row {
                Some((time, value)) => {
                    table_rows.push(Some(key), &value, time);
                    vec![table_rows.len() as u32 - 1]
                }
                None if self.how == JoinHow::LeftOuter => Vec::new(),
                None => continue,
            };
            groups.push((key, keys.members(g), right));
        }
        let records = make(ops, self.how, stream, &table_rows, |each| {
            for (key, left, right) in &groups {
                each(key, left, right);
            }
        })
        .map_err(|failure| match failure {
            // A row is not a record of this batch's input.
            Failure::Rejected {
                record: Some(i),
                message,
            } if i as usize >= stream.len() => Failure::Rejected {
                record: None,
                message,
            },
            other => other,
        })?;
        Ok(Ran::keeping(records, changes))
    }

    fn commit(state: &mut PartitionState, changes: Changes) -> anyhow::Result<()> {
        state.apply(changes)
    }
}

/// A key's row as kept: its time and value.
fn read(state: &PartitionState, key: &[u8]) -> anyhow::Result<Option<(i64, Vec<u8>)>> {
    match state.get(key)? {
        Some(entry) => {
            let row: Row = postcard::from_bytes(&entry.state)
                .map_err(|e| anyhow::anyhow!("a table row does not read back: {e}"))?;
            Ok(Some((row.time, row.value)))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::BatchInfo;

    fn side(records: &[(&str, &str)]) -> Batch {
        let mut batch = Batch::default();
        for (key, value) in records {
            batch.push(Some(key.as_bytes()), value.as_bytes(), 0);
        }
        batch
    }

    /// Runs one batch cut at `time_ms` and commits it: what it wrote.
    fn batch(
        join: &TableJoin,
        state: &mut PartitionState,
        sides: [Batch; 2],
        time_ms: i64,
    ) -> Vec<String> {
        let at = Context {
            batch: BatchInfo {
                id: 1,
                time_ms,
                end_of_input: false,
            },
            watermark: None,
        };
        let ran = join
            .run(&mut Operators::default(), state, &sides, &at)
            .unwrap_or_else(|f| panic!("{f}"));
        TableJoin::commit(state, ran.pending.expect("changes")).unwrap();
        ran.records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value).into_owned())
            .collect()
    }

    #[test]
    fn a_row_not_updated_within_its_ttl_is_forgotten() {
        let join = TableJoin {
            how: JoinHow::LeftOuter,
            operator: None,
            global: false,
            ttl: Some(Duration::from_millis(100)),
        };
        let mut state = PartitionState::in_memory();
        let rows = side(&[("a", "\"A\""), ("b", "\"B\"")]);
        assert!(batch(&join, &mut state, [side(&[]), rows], 0).is_empty());
        let looked_up = batch(
            &join,
            &mut state,
            [side(&[("a", "1")]), side(&[("b", "\"B2\"")])],
            50,
        );
        assert_eq!(looked_up, ["[1,\"A\"]"]);
        // At 150, `a` (set at 0) is past its ttl; `b` (set at 50) is not.
        let stream = side(&[("a", "2"), ("b", "3")]);
        assert_eq!(
            batch(&join, &mut state, [stream, side(&[])], 150),
            ["[2,null]", "[3,\"B2\"]"]
        );
        assert_eq!(state.len(), 1);
    }
}
