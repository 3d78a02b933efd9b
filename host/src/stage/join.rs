//! `join`, `left_outer_join`, `right_outer_join`, `full_outer_join` and
//! `cogroup`: two keyed streams brought together by key, per batch, as
//! Spark's pair DStreams do. Both inputs are exchanged by key hash, so a
//! key's records from either side meet in one partition; there each key's
//! left and right records are matched.
//!
//! Without a component, what a match makes is fixed (see [`JoinHow`]):
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
use crate::plan::JoinHow;
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;

/// A join stage.
pub(crate) struct Join(pub JoinHow);

impl Kind for Join {
    type State = ();
    type Pending = ();
    const SIDES: Sides = Sides::Apart;

    fn operators(&self, _: &Arc<str>) -> Operators {
        Operators::default()
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    const BY_KEY: bool = true;

    fn run(
        &self,
        _: &mut Operators,
        _: &(),
        sides: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let [left, right] = sides else {
            unreachable!("a join has a left and a right input")
        };
        keyed(left, right)?;
        Ok(Ran::records(join(self.0, left, right)))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Fails on the first record of either side without a key, numbering the
/// records left first, then right.
fn keyed(left: &Batch, right: &Batch) -> Result<(), Failure> {
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

/// Each key's left and right records matched as `how` says, keys in order
/// of first appearance (left's first, then keys only the right has),
/// pairs in record order.
pub(crate) fn join(how: JoinHow, left: &Batch, right: &Batch) -> Batch {
    let left_groups = Groups::of(&left.keys, |_| false);
    let right_groups = Groups::of(&right.keys, |_| false);
    let mut right_of: FxHashMap<&[u8], usize> = FxHashMap::default();
    right_of.reserve(right_groups.len());
    for (g, &first) in right_groups.firsts.iter().enumerate() {
        right_of.insert(right.keys.get(first), g);
    }
    let mut out = Output {
        how,
        left: Encoded::new(left),
        right: Encoded::new(right),
        batch: Batch::default(),
    };
    let mut matched = vec![false; right_groups.len()];
    for (g, &first) in left_groups.firsts.iter().enumerate() {
        let key = left.keys.get(first);
        let theirs = right_of.get(key).map(|&r| {
            matched[r] = true;
            right_groups.members(r)
        });
        out.key(key, left_groups.members(g), theirs.unwrap_or_default());
    }
    if how.keeps_right_only() {
        for (r, &first) in right_groups.firsts.iter().enumerate() {
            if !matched[r] {
                out.key(right.keys.get(first), &[], right_groups.members(r));
            }
        }
    }
    out.batch
}

/// What one partition's join writes, and how.
struct Output<'a> {
    how: JoinHow,
    left: Encoded<'a>,
    right: Encoded<'a>,
    batch: Batch,
}

impl Output<'_> {
    /// Writes what key `key` makes with these records of each side.
    fn key(&mut self, key: &[u8], left: &[u32], right: &[u32]) {
        let mut value = Vec::new();
        let both = !left.is_empty() && !right.is_empty();
        let left_time = |i: &u32| self.left.batch.timestamps[*i as usize];
        let right_time = |i: &u32| self.right.batch.timestamps[*i as usize];
        match self.how {
            JoinHow::Cogroup => {
                let time = left.iter().map(left_time);
                let time = time.chain(right.iter().map(right_time)).max();
                value.push(b'[');
                self.left.array(left, &mut value);
                value.push(b',');
                self.right.array(right, &mut value);
                value.push(b']');
                self.batch
                    .push(Some(key), &value, time.expect("a key has a record"));
            }
            _ if both => {
                for l in left {
                    for r in right {
                        value.clear();
                        self.pair(Some(*l), Some(*r), &mut value);
                        let time = left_time(l).max(right_time(r));
                        self.batch.push(Some(key), &value, time);
                    }
                }
            }
            how if !left.is_empty() && how.keeps_left_only() => {
                for l in left {
                    value.clear();
                    self.pair(Some(*l), None, &mut value);
                    self.batch.push(Some(key), &value, left_time(l));
                }
            }
            how if !right.is_empty() && how.keeps_right_only() => {
                for r in right {
                    value.clear();
                    self.pair(None, Some(*r), &mut value);
                    self.batch.push(Some(key), &value, right_time(r));
                }
            }
            _ => {}
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
