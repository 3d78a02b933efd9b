//! Moving batches between partitions.
//!
//! Two kinds of edge connect stages, as timely-dataflow names them:
//! - a **pipeline** edge keeps the partitioning: partition *i* of the
//!   upstream stage feeds partition *i* downstream. When the partition
//!   counts differ, [`rebalance`] concatenates and splits evenly, keeping
//!   record order.
//! - an **exchange** edge routes every record to the partition that owns
//!   its key ([`exchange`]), as reduceByKey needs.
//!
//! The partition of a key is Kafka's default partitioner (murmur2 of the
//! key bytes), so the same key lands in the same partition when an
//! exchange is later replaced by a Kafka repartition topic.

use std::ops::Range;

use crate::record::{Batch, RecordRef};

/// Which partition of `partitions` owns `key`. Records without a key, or
/// with an empty one, all go to partition 0: their state has the empty
/// key, and a worker's repartition topic puts them there too
/// ([`crate::connector::kafka::home`]).
pub fn partition_of(key: Option<&[u8]>, partitions: usize) -> usize {
    match key {
        None | Some([]) => 0,
        Some(key) => (murmur2(key) & 0x7fff_ffff) as usize % partitions,
    }
}

/// Routes every record to the partition that owns its key.
pub fn exchange(inputs: Vec<Batch>, partitions: usize) -> Vec<Batch> {
    exchange_by(inputs, partitions, |record| record.key)
}

/// Routes every record to the partition that owns its value, as if the
/// value were its key (for counts by value), leaving the records as they
/// are.
pub fn exchange_by_value(inputs: Vec<Batch>, partitions: usize) -> Vec<Batch> {
    exchange_by(inputs, partitions, |record| Some(record.value))
}

fn exchange_by(
    inputs: Vec<Batch>,
    partitions: usize,
    key: impl for<'r> Fn(&RecordRef<'r>) -> Option<&'r [u8]>,
) -> Vec<Batch> {
    if partitions == 1 {
        return rebalance(inputs, 1);
    }
    let mut outputs: Vec<Batch> = (0..partitions).map(|_| Batch::default()).collect();
    for input in &inputs {
        for record in input.iter() {
            outputs[partition_of(key(&record), partitions)].push_record(record);
        }
    }
    outputs
}

/// The header in which a worker's join finds each record's side (`0`
/// left, `1` right) when both come through one repartition topic
/// ([`crate::plan::PipelinePlan::as_worker`]).
pub const SIDE_HEADER: &str = "wasmstream-side";

/// A record of a worker's join without a side it knows: which partition
/// of the input, which record of it, and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct NoSide {
    pub partition: usize,
    pub record: u32,
    pub problem: String,
}

/// Parts a worker's join's input, read from one repartition topic, into
/// its `sides` sides by each record's [`SIDE_HEADER`], keeping each side's
/// order and partitions and taking the header off.
pub fn split_sides(inputs: &[Batch], sides: usize) -> Result<Vec<Vec<Batch>>, NoSide> {
    let mut split: Vec<Vec<Batch>> = (0..sides)
        .map(|_| inputs.iter().map(|_| Batch::default()).collect())
        .collect();
    for (p, input) in inputs.iter().enumerate() {
        for (i, record) in input.iter().enumerate() {
            let side = (record.headers.iter())
                .find(|(name, _)| *name == SIDE_HEADER.as_bytes())
                .map(|(_, value)| value);
            let side = side
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
                .filter(|&s| s < sides)
                .ok_or_else(|| NoSide {
                    partition: p,
                    record: i as u32,
                    problem: match side {
                        None => format!("it has no `{SIDE_HEADER}` header, so it was not written by a worker of this pipeline"),
                        Some(v) => format!("its `{SIDE_HEADER}` header is {:?}, not a side from 0 to {}", String::from_utf8_lossy(v), sides - 1),
                    },
                })?;
            split[side][p].push_record_keeping(record, |name| name != SIDE_HEADER.as_bytes());
        }
    }
    Ok(split)
}

/// Spreads the records over `partitions` partitions, keeping their order:
/// unchanged when the count already matches, else concatenated and split
/// into near-equal contiguous runs.
pub fn rebalance(inputs: Vec<Batch>, partitions: usize) -> Vec<Batch> {
    if inputs.len() == partitions {
        return inputs;
    }
    let total: usize = inputs.iter().map(Batch::len).sum();
    if inputs.len() == 1 && partitions == 1 {
        return inputs;
    }
    let mut outputs: Vec<Batch> = (0..partitions).map(|_| Batch::default()).collect();
    let per = total.div_ceil(partitions.max(1)).max(1);
    // Record `n` overall goes to output `n / per`: each input is cut into
    // runs at those boundaries and each run copied a column at a time.
    let mut n = 0usize;
    for input in &inputs {
        let mut at = 0;
        while at < input.len() {
            let output = (n / per).min(partitions - 1);
            let run = match output == partitions - 1 {
                true => input.len() - at,
                false => (per - n % per).min(input.len() - at),
            };
            outputs[output].extend_part(input, at..at + run);
            at += run;
            n += run;
        }
    }
    outputs
}

/// The runs [`rebalance`] cuts one batch of `records` records into, one
/// per partition, in order.
pub fn even_runs(records: usize, partitions: usize) -> Vec<Range<usize>> {
    let per = records.div_ceil(partitions.max(1)).max(1);
    (0..partitions)
        .map(|p| match p + 1 == partitions {
            true => (p * per).min(records)..records,
            false => (p * per).min(records)..((p + 1) * per).min(records),
        })
        .collect()
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().expect("chunks of four"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record keyed `key` with headers `headers`.
    fn record(batch: &mut Batch, key: &str, headers: &[(&str, &str)]) {
        let mut one = Batch::default();
        one.push(Some(key.as_bytes()), b"v", 0);
        for (name, value) in headers {
            one.header_owners.push(0);
            one.header_names.push(name.as_bytes());
            one.header_values.push(value.as_bytes());
        }
        batch.extend(&one);
    }

    #[test]
    fn a_workers_join_parts_its_sides_by_header_in_order_and_drops_the_header() {
        let mut input = Batch::default();
        record(&mut input, "a", &[(SIDE_HEADER, "1"), ("trace", "t1")]);
        record(&mut input, "b", &[(SIDE_HEADER, "0")]);
        record(&mut input, "c", &[("trace", "t2"), (SIDE_HEADER, "1")]);
        let sides = split_sides(&[Batch::default(), input], 2).unwrap();
        let shown = |b: &Batch| {
            b.iter()
                .map(|r| crate::record::display(&r))
                .collect::<Vec<_>>()
        };
        assert!(sides[0][0].is_empty() && sides[1][0].is_empty());
        assert_eq!(shown(&sides[0][1]), ["(b,v)"]);
        assert_eq!(shown(&sides[1][1]), ["(a,v) trace=t1", "(c,v) trace=t2"]);

        let mut stray = Batch::default();
        record(&mut stray, "a", &[(SIDE_HEADER, "0")]);
        record(&mut stray, "b", &[]);
        record(&mut stray, "c", &[(SIDE_HEADER, "2")]);
        let error = split_sides(std::slice::from_ref(&stray), 2).unwrap_err();
        assert_eq!((error.partition, error.record), (0, 1));
        assert!(
            error.problem.contains("has no `wasmstream-side` header"),
            "{}",
            error.problem
        );
        let error = split_sides(&[stray.slice(2..3)], 2).unwrap_err();
        assert_eq!(
            error.problem,
            "its `wasmstream-side` header is \"2\", not a side from 0 to 1"
        );
    }

    #[test]
    fn a_record_with_an_empty_key_goes_where_one_without_a_key_does() {
        assert_eq!(partition_of(Some(b""), 7), 0);
        assert_eq!(partition_of(None, 7), 0);
        // Any other key by its hash, as Kafka's producers partition.
        assert_eq!(
            partition_of(Some(b"21"), 7),
            (murmur2(b"21") & 0x7fff_ffff) as usize % 7
        );
    }

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn exchange_puts_each_key_in_one_partition() {
        let mut a = Batch::default();
        let mut b = Batch::default();
        for word in ["x", "y", "z", "x"] {
            a.push(Some(word.as_bytes()), b"1", 0);
            b.push(Some(word.as_bytes()), b"1", 0);
        }
        let parts = exchange(vec![a, b], 4);
        assert_eq!(parts.iter().map(Batch::len).sum::<usize>(), 8);
        for (p, part) in parts.iter().enumerate() {
            for record in part.iter() {
                assert_eq!(partition_of(record.key, 4), p);
            }
        }
    }

    #[test]
    fn rebalance_keeps_order() {
        let mut a = Batch::default();
        for i in 0..10u8 {
            a.push(None, &[i], 0);
        }
        let parts = rebalance(vec![a], 3);
        let flat: Vec<u8> = parts
            .iter()
            .flat_map(|p| p.iter().map(|r| r.value[0]))
            .collect();
        assert_eq!(flat, (0..10).collect::<Vec<_>>());
        assert_eq!(
            parts.iter().map(Batch::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        // The runs a partition cuts out for itself are the same.
        assert_eq!(even_runs(10, 3), [0..4, 4..8, 8..10]);
        assert_eq!(even_runs(2, 3), [0..1, 1..2, 2..2]);
        assert_eq!(even_runs(0, 2), [0..0, 0..0]);
    }
}
