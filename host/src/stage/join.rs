//! `join`, `left_outer_join`, `right_outer_join`, `full_outer_join` and
//! `cogroup`: two keyed streams brought together by key, per batch, as
//! Spark's pair DStreams do. Both inputs are exchanged by key hash, so a
//! key's records from either side meet in one partition; there each key's
//! left and right records are matched.
//!
//! With a component (a cogroup operator), the operator gets each key the
//! join keeps with its left and right records, all of a partition's keys
//! in one call, and makes what it likes of them. Without one, what a
//! match makes is fixed (see [`JoinHow`]):
//! one record per pair of values, whose value is the JSON array `[left,
//! right]` (`null` for a side an outer join lacks), or for `cogroup` one
//! record per key, `[[left values], [right values]]`. A value that is JSON
//! goes in as it is; any other is written as a JSON string (bytes that
//! are not UTF-8 replaced by U+FFFD). Over windows, a join reads window
//! stages: `stream1.window(20s).join(stream2.window(60s))` is a join of
//! two `window` stages sliding alike.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::distinct::Groups;
use super::kind::{Context, Kind, Operators, Ran, Setup, Sides};
use super::{Call, Worker};
use crate::operator::Operator;
use crate::plan::JoinHow;
use crate::plugin::{CogroupInput, Failure};
use crate::record::{Batch, ByteList};
use crate::shuffle;

/// A join stage: how it joins, and the cogroup operator that makes each
/// key's records, if it has one.
pub(crate) struct Join {
    pub how: JoinHow,
    pub operator: Option<Operator>,
}

impl Kind for Join {
    type State = ();
    type Pending = ();
    const SIDES: Sides = Sides::Apart;

    fn operators(&self, label: &Arc<str>) -> Operators {
        operators(self.operator.as_ref(), label)
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;

    fn run(
        &self,
        ops: &mut Operators,
        _: &(),
        sides: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let [left, right] = sides else {
            unreachable!("a join has a left and a right input")
        };
        keyed(left, right)?;
        let how = self.how;
        let records = make(ops, how, left, right, |each| by_key(how, left, right, each))?;
        Ok(Ran::records(records))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A join's operators: its cogroup operator, if it has one.
pub(crate) fn operators(operator: Option<&Operator>, label: &Arc<str>) -> Operators {
    match operator {
        Some(op) => Operators::one(Worker::new(op, label.clone())),
        None => Operators::default(),
    }
}

/// Fails on the first record of either side without a key, numbering the
/// records left first, then right.
pub(crate) fn keyed(left: &Batch, right: &Batch) -> Result<(), Failure> {
    for (side, name, first) in [(left, "left", 0), (right, "right", left.len())] {
        if let Some(i) = side.has_key.iter().position(|has| !has) {
            return Err(Failure::Rejected {
                record: Some((first + i) as u32),
                message: format!(
                    "a record of the {name} input has no key, and a join matches records by key; \
                     key them upstream (the stock json-extract takes the key from a JSON field)"
                ),
            });
        }
    }
    Ok(())
}

/// Calls `each(key, left records, right records)` for each key `how`
/// keeps, keys in order of first appearance (left's first, then keys only
/// the right has), records in order.
fn by_key(how: JoinHow, left: &Batch, right: &Batch, each: Visit<'_>) {
    let left_groups = Groups::of(&left.keys, |_| false);
    let right_groups = Groups::of(&right.keys, |_| false);
    let mut right_of: FxHashMap<&[u8], usize> = FxHashMap::default();
    right_of.reserve(right_groups.len());
    for (g, &first) in right_groups.firsts.iter().enumerate() {
        right_of.insert(right.keys.get(first), g);
    }
    let mut matched = vec![false; right_groups.len()];
    for (g, &first) in left_groups.firsts.iter().enumerate() {
        let key = left.keys.get(first);
        match right_of.get(key) {
            Some(&r) => {
                matched[r] = true;
                each(key, left_groups.members(g), right_groups.members(r));
            }
            None if how.keeps_left_only() => each(key, left_groups.members(g), &[]),
            None => {}
        }
    }
    if how.keeps_right_only() {
        for (r, &first) in right_groups.firsts.iter().enumerate() {
            if !matched[r] {
                each(right.keys.get(first), &[], right_groups.members(r));
            }
        }
    }
}

/// Hands on groups of records, each a key with records of the left and
/// the right side (indices into them; one side may have none).
pub(crate) type Visit<'v> = &'v mut dyn FnMut(&[u8], &[u32], &[u32]);

/// What a join makes of the groups `groups` hands on: through its cogroup
/// operator if it has one, else the records of the module's comment. A
/// failure names a record of `left`, or record `j` of `right` as
/// `left.len() + j`.
pub(crate) fn make(
    ops: &mut Operators,
    how: JoinHow,
    left: &Batch,
    right: &Batch,
    groups: impl FnOnce(Visit<'_>),
) -> Result<Batch, Failure> {
    match &mut ops.main {
        Some(worker) => cogroup(worker, left, right, groups),
        None => Ok(join(how, left, right, groups)),
    }
}

/// What a join without an operator writes: see the module's comment.
fn join(how: JoinHow, left: &Batch, right: &Batch, groups: impl FnOnce(Visit<'_>)) -> Batch {
    let mut out = Output {
        how,
        left: Encoded::new(left),
        right: Encoded::new(right),
        batch: Batch::default(),
    };
    groups(&mut |key, l, r| out.key(key, l, r));
    out.batch
}

/// What the cogroup operator makes of the groups.
fn cogroup(
    worker: &mut Worker,
    left: &Batch,
    right: &Batch,
    groups: impl FnOnce(Visit<'_>),
) -> Result<Batch, Failure> {
    let mut call = CogroupInput {
        keys: ByteList::with_capacity(0, 0),
        left: Batch::with_capacity(left.len(), left.byte_size()),
        left_ends: Vec::new(),
        right: Batch::with_capacity(right.len(), right.byte_size()),
        right_ends: Vec::new(),
    };
    // Where each record of the call is in its side.
    let (mut left_order, mut right_order) = (Vec::new(), Vec::new());
    groups(&mut |key, l, r| {
        call.keys.push(key);
        for (records, side, into, ends, order) in [
            (
                l,
                left,
                &mut call.left,
                &mut call.left_ends,
                &mut left_order,
            ),
            (
                r,
                right,
                &mut call.right,
                &mut call.right_ends,
                &mut right_order,
            ),
        ] {
            for &i in records {
                into.push_record(side.get(i as usize));
            }
            order.extend_from_slice(records);
            ends.push(into.len() as u32);
        }
    });
    if call.keys.is_empty() {
        return Ok(Batch::default());
    }
    let output = worker.cogroup(&call).map_err(|failure| match failure {
        Failure::Rejected {
            record: Some(i),
            message,
        } => {
            let i = i as usize;
            let record = match left_order.get(i) {
                Some(&l) => Some(l),
                None => right_order
                    .get(i - left_order.len())
                    .map(|&r| (left.len() + r as usize) as u32),
            };
            Failure::Rejected { record, message }
        }
        other => other,
    })?;
    worker.remember(Call::Cogroup(Box::new(call)));
    Ok(output)
}

/// What one partition's join writes, and how.
struct Output<'a> {
    how: JoinHow,
    left: Encoded<'a>,
    right: Encoded<'a>,
    batch: Batch,
}

impl Output<'_> {
    /// Writes what key `key` makes with these records of each side (one
    /// side may have none).
    fn key(&mut self, key: &[u8], left: &[u32], right: &[u32]) {
        let mut value = Vec::new();
        let left_time = |i: &u32| self.left.batch.timestamps[*i as usize];
        let right_time = |i: &u32| self.right.batch.timestamps[*i as usize];
        if self.how == JoinHow::Cogroup {
            let time = left.iter().map(left_time);
            let time = time.chain(right.iter().map(right_time)).max();
            value.push(b'[');
            self.left.array(left, &mut value);
            value.push(b',');
            self.right.array(right, &mut value);
            value.push(b']');
            let time = time.expect("a key has a record");
            self.batch.push(Some(key), &value, time);
            return;
        }
        let lefts = left.iter().map(|&l| (Some(l), left_time(&l)));
        let lefts: Vec<_> = match left.is_empty() {
            true => vec![(None, i64::MIN)],
            false => lefts.collect(),
        };
        let rights = right.iter().map(|&r| (Some(r), right_time(&r)));
        let rights: Vec<_> = match right.is_empty() {
            true => vec![(None, i64::MIN)],
            false => rights.collect(),
        };
        for &(l, l_time) in &lefts {
            for &(r, r_time) in &rights {
                value.clear();
                self.pair(l, r, &mut value);
                self.batch.push(Some(key), &value, l_time.max(r_time));
            }
        }
    }

    /// `[left, right]`, `null` for a side missing.
    fn pair(&mut self, left: Option<u32>, right: Option<u32>, out: &mut Vec<u8>) {
        out.push(b'[');
        match left {
            Some(l) => out.extend_from_slice(self.left.get(l as usize)),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
        match right {
            Some(r) => out.extend_from_slice(self.right.get(r as usize)),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b']');
    }
}

/// One side's values as JSON, each written once, when first needed.
struct Encoded<'a> {
    batch: &'a Batch,
    json: Vec<u8>,
    /// Where each record's JSON is in `json`, once written.
    at: Vec<Option<(u32, u32)>>,
}

impl<'a> Encoded<'a> {
    fn new(batch: &'a Batch) -> Self {
        Encoded {
            batch,
            json: Vec::new(),
            at: vec![None; batch.len()],
        }
    }

    /// Record `i`'s value as JSON.
    fn get(&mut self, i: usize) -> &[u8] {
        let (start, end) = match self.at[i] {
            Some(at) => at,
            None => {
                let start = self.json.len() as u32;
                json_value(self.batch.values.get(i), &mut self.json);
                let at = (start, self.json.len() as u32);
                self.at[i] = Some(at);
                at
            }
        };
        &self.json[start as usize..end as usize]
    }

    /// `[v1,v2,...]` of these records' values.
    fn array(&mut self, records: &[u32], out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, &i) in records.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.get(i as usize));
        }
        out.push(b']');
    }
}

/// Writes `value` as JSON: as it is if it is JSON, else as a JSON string.
fn json_value(value: &[u8], out: &mut Vec<u8>) {
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok();
    if is_json {
        out.extend_from_slice(value.trim_ascii());
    } else {
        serde_json::to_writer(out, &String::from_utf8_lossy(value))
            .expect("writing to a Vec does not fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(how: JoinHow, left: &Batch, right: &Batch) -> Batch {
        super::join(how, left, right, |each| by_key(how, left, right, each))
    }

    fn batch(records: &[(&str, &str)]) -> Batch {
        let mut batch = Batch::default();
        for (i, (key, value)) in records.iter().enumerate() {
            batch.push(Some(key.as_bytes()), value.as_bytes(), i as i64);
        }
        batch
    }

    fn lines(batch: &Batch) -> Vec<String> {
        batch
            .iter()
            .map(|r| {
                let key = String::from_utf8_lossy(r.key.unwrap());
                format!("{key} {}", String::from_utf8_lossy(r.value))
            })
            .collect()
    }

    #[test]
    fn each_variant_matches_as_spark_does() {
        let left = batch(&[("a", "1"), ("b", "2"), ("a", "3")]);
        let right = batch(&[("a", "x"), ("c", "y")]);
        let joined = |how| lines(&join(how, &left, &right));
        assert_eq!(joined(JoinHow::Inner), ["a [1,\"x\"]", "a [3,\"x\"]"]);
        assert_eq!(
            joined(JoinHow::LeftOuter),
            ["a [1,\"x\"]", "a [3,\"x\"]", "b [2,null]"]
        );
        assert_eq!(
            joined(JoinHow::RightOuter),
            ["a [1,\"x\"]", "a [3,\"x\"]", "c [null,\"y\"]"]
        );
        assert_eq!(
            joined(JoinHow::FullOuter),
            ["a [1,\"x\"]", "a [3,\"x\"]", "b [2,null]", "c [null,\"y\"]"]
        );
        assert_eq!(
            joined(JoinHow::Cogroup),
            ["a [[1,3],[\"x\"]]", "b [[2],[]]", "c [[],[\"y\"]]"]
        );
    }

    #[test]
    fn values_that_are_not_json_become_strings() {
        let left = batch(&[("k", r#"{"n": 1}"#)]);
        let mut right = Batch::default();
        right.push(Some(b"k"), b"say \"hi\"\xff", 0);
        assert_eq!(
            lines(&join(JoinHow::Inner, &left, &right)),
            ["k [{\"n\": 1},\"say \\\"hi\\\"\u{fffd}\"]"]
        );
    }

    #[test]
    fn a_pair_takes_the_later_time() {
        let left = batch(&[("k", "1"), ("k", "2")]);
        let right = batch(&[("j", "0"), ("k", "3")]);
        let joined = join(JoinHow::Inner, &left, &right);
        assert_eq!(joined.timestamps, [1, 1]);
    }

    #[test]
    fn a_record_without_a_key_is_named() {
        let left = batch(&[("a", "1")]);
        let mut right = batch(&[("a", "2")]);
        right.push(None, b"loose", 0);
        match keyed(&left, &right) {
            Err(Failure::Rejected { record, message }) => {
                assert_eq!(record, Some(2));
                assert!(message.contains("right input has no key"), "{message}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}
