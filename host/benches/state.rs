//! State and windows: how fast per-key state updates, how long checkpoints
//! take as state grows, and what a windowed reduce costs per slide with and
//! without an inverse as the window grows.
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p running-count -p sum -p subtract`
//! then `cargo bench -p wasmstream --bench state`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use common::{grouped, plugin};

use wasmstream::checkpoint::{Header, Store};
use wasmstream::plan::{Id, StagePlan, Step, Windowing};
use wasmstream::plugin::Runtime;
use wasmstream::record::Batch;
use wasmstream::scheduler::Summary;
use wasmstream::sink::BatchInfo;
use wasmstream::stage::{Operator, StageRunner};
use wasmstream::state::{Change, PartitionState};

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = Runtime::new(repo.join("target/bench-cache"))?;
    let wasm = |name: &str| plugin(&runtime, &repo, name, &[]);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()?;

    println!("wasmstream state benchmark, one partition (one core)");
    println!();
    tokio.block_on(state_updates(wasm("running_count")?))?;
    println!();
    checkpoints(&repo.join("target/bench-checkpoints"))?;
    println!();
    tokio.block_on(windows(wasm("sum")?, wasm("subtract")?))?;
    Ok(())
}

fn stage(step: Step<Operator>) -> StageRunner {
    let plan = StagePlan {
        id: Id::new("bench").expect("a plain id"),
        inputs: vec![],
        step,
        parallelism: 1,
        shadow: None,
        sides_in_header: false,
    };
    StageRunner::new("bench", &plan)
}

fn batch_info(id: u64) -> BatchInfo {
    BatchInfo {
        id,
        time_ms: id as i64,
        end_of_input: false,
    }
}

/// `count` records keyed `k<n>` for `n` from `first`, wrapping at `keys`.
fn keyed(first: u64, count: u64, keys: u64) -> Batch {
    let mut batch = Batch::with_capacity(count as usize, count as usize * 9);
    for n in first..first + count {
        batch.push(Some(format!("k{:07}", n % keys).as_bytes()), b"1", 0);
    }
    batch
}

/// Running counts over 1 M distinct keys: first every key is created,
/// then every key is updated again.
async fn state_updates(running_count: Operator) -> anyhow::Result<()> {
    const KEYS: u64 = 1_000_000;
    const BATCH: u64 = 100_000;
    let mut runner = stage(Step::UpdateStateByKey(running_count, None));
    let mut id = 0;
    for phase in ["create 1 M keys", "update 1 M keys"] {
        let start = Instant::now();
        for first in (0..KEYS).step_by(BATCH as usize) {
            id += 1;
            runner
                .run(vec![vec![keyed(first, BATCH, KEYS)]], batch_info(id))
                .await?;
            runner.commit()?;
        }
        let rate = KEYS as f64 / start.elapsed().as_secs_f64();
        println!(
            "updateStateByKey (running-count), {BATCH}-record batches: {phase}: {} updates/s",
            grouped(rate)
        );
    }
    Ok(())
}

/// Writes and reads back checkpoints of one partition's state of about
/// 10 MB, 100 MB and 1 GB (100-byte entries).
fn checkpoints(dir: &Path) -> anyhow::Result<()> {
    println!(
        "{:>10} {:>12} {:>14} {:>14} {:>12}",
        "state", "entries", "write+sync ms", "read+check ms", "MB/s write"
    );
    for (label, entries) in [
        ("10 MB", 100_000u64),
        ("100 MB", 1_000_000),
        ("1 GB", 10_000_000),
    ] {
        let mut state = PartitionState::in_memory();
        let value = [b'v'; 84];
        state.apply((0..entries).map(|n| {
            let change = Change::Put {
                state: value.to_vec(),
                active: 0,
            };
            (format!("key{n:013}").into_bytes(), change)
        }))?;
        let _ = std::fs::remove_dir_all(dir);
        let mut store = Store::open(dir, true)?;
        let header = Header {
            pipeline: "bench".into(),
            batch: 1,
            sources: BTreeMap::new(),
            stages: vec!["bench".into()],
            summary: Summary::default(),
            input_ended: false,
            run: 1,
        };
        let start = Instant::now();
        let bytes = store.write(&header, |out| state.save(out))?;
        let write = start.elapsed();
        drop(state);

        let start = Instant::now();
        let loaded = store.latest("bench")?.expect("just written");
        let mut restored = PartitionState::in_memory();
        restored
            .load(&mut loaded.states())
            .map_err(|why| anyhow::anyhow!("reading the checkpoint back: {why}"))?;
        let read = start.elapsed();
        assert_eq!(restored.len() as u64, entries);
        println!(
            "{label:>10} {:>12} {:>14.0} {:>14.0} {:>12.0}",
            grouped(entries as f64),
            write.as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
            bytes as f64 / 1e6 / write.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// reduceByKeyAndWindow (sum) sliding every batch, over windows of more
/// and more batches, with and without the inverse (subtract).
async fn windows(sum: Operator, subtract: Operator) -> anyhow::Result<()> {
    const BATCH: u64 = 10_000;
    const KEYS: u64 = 10_000;
    const MEASURED: u64 = 20;
    println!("reduceByKeyAndWindow, {BATCH}-record batches over {KEYS} keys, sliding every batch");
    println!(
        "{:>16} {:>18} {:>18} {:>10}",
        "window (batches)", "no inverse ms/slide", "inverse ms/slide", "ratio"
    );
    for length in [4u32, 16, 64] {
        let mut per_slide = Vec::new();
        for inverse in [None, Some(subtract.clone())] {
            let mut runner = stage(Step::ReduceByKeyAndWindow {
                reduce: sum.clone(),
                inverse,
                windowing: Windowing::Batches { length, slide: 1 },
            });
            let mut id = 0;
            let next = |id: &mut u64| {
                *id += 1;
                keyed(*id * 7919, BATCH, KEYS)
            };
            for _ in 0..length {
                let input = next(&mut id);
                runner.run(vec![vec![input]], batch_info(id)).await?;
                runner.commit()?;
            }
            let start = Instant::now();
            for _ in 0..MEASURED {
                let input = next(&mut id);
                runner.run(vec![vec![input]], batch_info(id)).await?;
                runner.commit()?;
            }
            per_slide.push(start.elapsed().as_secs_f64() * 1e3 / MEASURED as f64);
        }
        println!(
            "{length:>16} {:>18.2} {:>18.2} {:>9.1}x",
            per_slide[0],
            per_slide[1],
            per_slide[0] / per_slide[1]
        );
    }
    Ok(())
}
