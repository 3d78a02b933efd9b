//! Joins on one partition (one core), with the default JSON output: a
//! per-batch join, an interval join over event time across 1 M keys (and
//! how much of it stays buffered as the watermark moves on), and a
//! stream-table join against a table of 1 M rows. Records/s counts the
//! input records of both sides.
//!
//! Run: `cargo bench -p wasmstream --bench joins` (no operators to build).

mod common;

use std::time::Instant;

use common::grouped;

use wasmstream::plan::{Id, Interval, JoinHow, JoinOver, StagePlan, Step};
use wasmstream::record::Batch;
use wasmstream::sink::BatchInfo;
use wasmstream::stage::{Operator, StageRunner};
use wasmstream::state::SpillFile;

const KEYS: u64 = 1_000_000;
const BATCH: u64 = 100_000;

fn main() -> anyhow::Result<()> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()?;
    println!("wasmstream joins benchmark, one partition (one core), {BATCH}-record batches a side");
    println!();
    // First, so the peak resident memory it reports is its own.
    println!("resident memory before: {} MiB", peak_rss_mib());
    tokio.block_on(interval())?;
    tokio.block_on(per_batch())?;
    tokio.block_on(table())?;
    Ok(())
}

fn join(over: JoinOver, how: JoinHow) -> StagePlan<Operator> {
    StagePlan {
        id: Id::new("bench").expect("a plain id"),
        inputs: vec![],
        step: Step::Join {
            how,
            operator: None,
            over,
        },
        parallelism: 1,
        shadow: None,
        sides_in_header: false,
    }
}

fn batch_info(id: u64) -> BatchInfo {
    BatchInfo {
        id,
        time_ms: id as i64,
        end_of_input: false,
    }
}

/// `count` records with keys `k<n>` for `n` from `first` (wrapping at
/// `KEYS`), small JSON values, and times from `time` a millisecond apart.
fn records(first: u64, count: u64, time: i64, side: &str) -> Batch {
    let mut batch = Batch::with_capacity(count as usize, count as usize * 24);
    for n in first..first + count {
        let key = format!("k{:07}", n % KEYS);
        let value = format!(r#"{{"{side}":{n}}}"#);
        batch.push(
            Some(key.as_bytes()),
            value.as_bytes(),
            time + (n - first) as i64,
        );
    }
    batch
}

fn output_records(out: &wasmstream::stage::StageOutput) -> usize {
    out.records.iter().map(Batch::len).sum()
}

/// Each batch's two sides over the same 100 k keys: one pair per key.
async fn per_batch() -> anyhow::Result<()> {
    let mut runner = StageRunner::new("bench", &join(JoinOver::Batch, JoinHow::Inner));
    let (batches, mut written) = (10, 0);
    let start = Instant::now();
    for id in 1..=batches {
        let first = id * BATCH;
        let sides = vec![
            vec![records(first, BATCH, 0, "l")],
            vec![records(first, BATCH, 0, "r")],
        ];
        written += output_records(&runner.run(sides, batch_info(id)).await?);
        runner.commit()?;
    }
    let rate = (2 * batches * BATCH) as f64 / start.elapsed().as_secs_f64();
    println!(
        "per-batch join: {} records/s in, {written} pairs written",
        grouped(rate)
    );
    Ok(())
}

/// 1 M keys over event time: each key's left record, then its right one
/// 500 ms later (within `after = 1s`); times run on, so the watermark
/// (1 s behind) drops each key's buffer soon after. State spills past
/// 8 MiB, as a pipeline's `state_memory` makes it.
async fn interval() -> anyhow::Result<()> {
    let spill = SpillFile::new(None, "bench-interval");
    let plan = join(
        JoinOver::Interval(Interval {
            before: 0,
            after: 1_000,
            delay: 1_000,
        }),
        JoinHow::LeftOuter,
    );
    let mut runner = StageRunner::spilling("bench", &plan, spill, 8 << 20);
    let (mut written, mut most_keys, mut id) = (0, 0, 0);
    let start = Instant::now();
    for first in (0..KEYS).step_by(BATCH as usize) {
        id += 1;
        // Left times first + n ms; right ones 500 ms after their left.
        let time = first as i64;
        let sides = vec![
            vec![records(first, BATCH, time, "l")],
            vec![records(first, BATCH, time + 500, "r")],
        ];
        written += output_records(&runner.run(sides, batch_info(id)).await?);
        runner.commit()?;
        let size = runner.state_size().unwrap_or_default();
        most_keys = most_keys.max(size.keys);
    }
    let rate = (2 * KEYS) as f64 / start.elapsed().as_secs_f64();
    let left = runner.state_size().unwrap_or_default();
    println!(
        "interval join (left outer, after = 1s, watermark 1s) over 1 M keys: {} records/s in, {written} pairs written",
        grouped(rate),
    );
    println!(
        "  buffered: at most {} keys; at the end {} ({} bytes in memory, {} keys spilled; state_memory 8 MiB); peak resident memory of the process {} MiB",
        grouped(most_keys as f64),
        grouped(left.keys as f64),
        grouped(left.bytes_in_memory as f64),
        grouped(left.keys_spilled as f64),
        peak_rss_mib()
    );
    Ok(())
}

/// A table of 1 M rows loaded 100 k a batch, then 1 M stream records
/// looked up in it, as a partitioned and as a global table.
async fn table() -> anyhow::Result<()> {
    for global in [false, true] {
        let plan = join(JoinOver::Table { global, ttl: None }, JoinHow::Inner);
        let mut runner = StageRunner::new("bench", &plan);
        let mut id = 0;
        let start = Instant::now();
        for first in (0..KEYS).step_by(BATCH as usize) {
            id += 1;
            let sides = vec![
                vec![Batch::default()],
                vec![records(first, BATCH, 0, "row")],
            ];
            runner.run(sides, batch_info(id)).await?;
            runner.commit()?;
        }
        let load = KEYS as f64 / start.elapsed().as_secs_f64();
        let (mut written, start) = (0, Instant::now());
        for first in (0..KEYS).step_by(BATCH as usize) {
            id += 1;
            // Keys spread over the table: every 7th.
            let sides = vec![
                vec![records(first * 7, BATCH, 0, "s")],
                vec![Batch::default()],
            ];
            written += output_records(&runner.run(sides, batch_info(id)).await?);
            runner.commit()?;
        }
        let lookups = KEYS as f64 / start.elapsed().as_secs_f64();
        let which = if global { "global" } else { "partitioned" };
        println!(
            "stream-table join, {which} table of 1 M rows: rows loaded {} /s; stream {} records/s, {written} written",
            grouped(load),
            grouped(lookups)
        );
    }
    Ok(())
}

/// The process's peak resident memory so far, in MiB (Linux).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    kib / 1024
}
