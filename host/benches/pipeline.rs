//! Wasm operators against the same operators as native Rust closures.
//!
//! Runs map (lowercase) -> filter (JSON `status` = 200) -> flat-map (words
//! as (word, 1) pairs) -> reduceByKey (sum) over generated 100-byte JSON
//! records, through the engine's own stage runners, once with the stock
//! Wasm plugins and once with native closures doing the same work. Also
//! runs the map -> filter chain alone. One partition per stage, so the
//! operators use one core at a time.
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p lowercase -p json-filter -p split-words -p sum`
//! then `cargo bench -p wasmstream --bench pipeline`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{grouped, plugin};

use wasmstream::plan::{Id, StagePlan, Step};
use wasmstream::plugin::Runtime;
use wasmstream::record::Batch;
use wasmstream::sink::BatchInfo;
use wasmstream::source::generator;
use wasmstream::stage::{NativeOperator, Operator, StageRunner};
use wasmstream_guest::text;

/// The batch every run is, as far as the stages know.
const BATCH: BatchInfo = BatchInfo {
    id: 1,
    time_ms: 0,
    end_of_input: false,
};

const RECORD_BYTES: usize = 100;
/// Records pushed through per measurement (at least three batches).
const RECORDS_PER_RUN: usize = 500_000;
/// Measurements per configuration, alternating Wasm and native; the best of
/// each is reported, which filters out a noisy neighbour on a shared machine.
const TRIES: usize = 10;

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = Runtime::new(repo.join("target/bench-cache"))?;
    let wasm = |name: &str, params: &[(&str, &str)]| plugin(&runtime, &repo, name, params);
    let wasm_ops = [
        wasm("lowercase", &[])?,
        wasm("json_filter", &[("field", "status"), ("equals", "200")])?,
        wasm("split_words", &[("emit", "pairs")])?,
        wasm("sum", &[])?,
    ];
    let native_ops = native_operators();

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .enable_all()
        .build()?;
    println!("wasmstream pipeline benchmark: {RECORD_BYTES}-byte records, one partition per stage");
    println!();
    for (title, stages) in [
        ("map -> filter -> flat-map -> reduceByKey", 4),
        ("map -> filter", 2),
    ] {
        println!("{title}");
        println!(
            "{:>8} {:>16} {:>16} {:>14}",
            "batch", "wasm rec/s", "native rec/s", "native/wasm"
        );
        let mut breakdown = None;
        for batch_size in [1_000, 10_000, 100_000] {
            let input = generator::batch(0, batch_size, RECORD_BYTES, 0);
            let mut wasm = Measured::default();
            let mut native = Measured::default();
            for _ in 0..TRIES {
                wasm = wasm.best(tokio.block_on(measure(&wasm_ops[..stages], &input))?);
                native = native.best(tokio.block_on(measure(&native_ops[..stages], &input))?);
            }
            println!(
                "{batch_size:>8} {:>16} {:>16} {:>13.2}x",
                grouped(wasm.rate),
                grouped(native.rate),
                native.rate / wasm.rate
            );
            if batch_size == 10_000 {
                breakdown = Some((wasm.stage_ns, native.stage_ns));
            }
        }
        if let Some((wasm, native)) = breakdown {
            let names = ["map", "filter", "flat-map", "reduceByKey"];
            let stages: Vec<String> = names
                .iter()
                .zip(wasm.iter().zip(&native))
                .map(|(n, (w, v))| format!("{n} {w:.0}/{v:.0}"))
                .collect();
            println!(
                "  ns per input record at 10k, wasm/native: {}",
                stages.join(", ")
            );
        }
        println!();
    }
    Ok(())
}

/// Throughput of a chain of operators.
#[derive(Default)]
struct Measured {
    /// Input records per second through the whole chain.
    rate: f64,
    /// Time each stage took, in nanoseconds per input record of the chain.
    stage_ns: Vec<f64>,
}

impl Measured {
    /// The faster of two measurements.
    fn best(self, other: Measured) -> Measured {
        if other.rate > self.rate { other } else { self }
    }
}

/// Runs `input` through a chain of `operators` (map, filter, flat-map,
/// reduce, in that order) repeatedly, after a warm-up batch.
async fn measure(operators: &[Operator], input: &Batch) -> anyhow::Result<Measured> {
    let steps: [fn(Operator) -> Step<Operator>; 4] =
        [Step::Map, Step::Filter, Step::FlatMap, Step::ReduceByKey];
    let mut runners: Vec<StageRunner> = operators
        .iter()
        .zip(steps)
        .enumerate()
        .map(|(i, (op, step))| {
            let plan = StagePlan {
                id: Id::new(&format!("s{i}")).expect("a plain id"),
                inputs: vec![],
                step: step(op.clone()),
                parallelism: 1,
                shadow: None,
                sides_in_header: false,
            };
            StageRunner::new("bench", &plan)
        })
        .collect();
    let mut stage_time = vec![Duration::ZERO; runners.len()];
    let mut run_once = async |runners: &mut Vec<StageRunner>| -> anyhow::Result<usize> {
        let mut data = vec![input.clone()];
        for (runner, time) in runners.iter_mut().zip(stage_time.iter_mut()) {
            let start = Instant::now();
            data = runner.run(vec![data], BATCH).await?.records;
            *time += start.elapsed();
        }
        Ok(data.iter().map(Batch::len).sum())
    };
    run_once(&mut runners).await?;
    let rounds = (RECORDS_PER_RUN / input.len()).max(3);
    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(run_once(&mut runners).await?);
    }
    let elapsed = start.elapsed();
    let records = (rounds * input.len()) as f64;
    // Subtract the warm-up round from the per-stage times.
    let warm = 1.0 + 1.0 / rounds as f64;
    let stage_ns = stage_time
        .iter()
        .map(|t| t.as_nanos() as f64 / warm / records)
        .collect();
    Ok(Measured {
        rate: records / elapsed.as_secs_f64(),
        stage_ns,
    })
}

/// The same four operators as the stock plugins, as native closures using
/// the same SDK helpers, compiled natively.
fn native_operators() -> [Operator; 4] {
    let lowercase = NativeOperator::Map(Arc::new(|r, out: &mut Batch| {
        let value = text::lowercase(text::as_str(r.value).map_err(|e| e.to_string())?);
        out.push(r.key, value.as_bytes(), r.timestamp);
        Ok(())
    }));
    let filter = NativeOperator::Filter(Arc::new(|r| {
        let found = wasmstream_guest::json::field(r.value, "status").map_err(|e| e.to_string())?;
        Ok(found.is_some_and(|v| v == "200"))
    }));
    let split = NativeOperator::FlatMap(Arc::new(|r, out: &mut Batch| {
        for word in text::words(text::as_str(r.value).map_err(|e| e.to_string())?) {
            out.push(Some(word.as_bytes()), b"1", r.timestamp);
        }
        Ok(())
    }));
    let sum = NativeOperator::Reduce(Arc::new(|_key, values| {
        let mut total = 0i64;
        for value in values {
            total = total
                .checked_add(text::parse_i64(value).map_err(|e| e.to_string())?)
                .ok_or("sum overflows")?;
        }
        let mut out = Vec::with_capacity(8);
        text::write_i64(total, &mut out);
        Ok(out)
    }));
    [lowercase, filter, split, sum].map(Operator::Native)
}
