//! What the Prometheus metrics cost.
//!
//! - A pipeline (generator -> lowercase -> JSON filter, 1,000-record
//!   batches, `trigger = "available-now"`) run in this process with its
//!   metrics kept and without, alternating, best of several: the CPU time
//!   of each whole run (getrusage), and the difference as a share of the
//!   run without.
//! - One scrape of 200 pipelines' metrics (as a server with 200 pipelines
//!   answers its admin): the time to write it, and its size.
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p lowercase -p json-filter`
//! then `cargo bench -p wasmstream --bench metrics`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmstream::metrics::{PipelineMetrics, Scrape, endpoint};
use wasmstream::plan;
use wasmstream::plugin::Runtime;
use wasmstream::scheduler::{self, Options};

/// Records per run, in batches of [`BATCH`].
const RECORDS: u64 = 300_000;
const BATCH: u64 = 1_000;
/// Runs of each kind, alternating; the best of each is reported.
const TRIES: usize = 7;
/// Pipelines in one scrape.
const PIPELINES: usize = 200;

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = Runtime::new(repo.join("target/bench-cache"))?;
    let dir = repo.join("target/bench-metrics");
    std::fs::create_dir_all(&dir)?;
    let manifest = dir.join("pipeline.toml");
    let component = |name: &str| {
        let path = repo.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
        format!("{:?}", path.display().to_string())
    };
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "measured"
trigger = "available-now"

[[sources]]
id = "gen"
kind = "generator"
records = {RECORDS}
max_batch_records = {BATCH}

[[stages]]
id = "lower"
kind = "map"
input = "gen"
component = {lower}

[[stages]]
id = "errors"
kind = "filter"
input = "lower"
component = {filter}
params = {{ field = "status", equals = "999" }}

[[sinks]]
id = "out"
kind = "files"
input = "errors"
path = "out"
"#,
            lower = component("lowercase"),
            filter = component("json_filter"),
        ),
    )?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    println!(
        "wasmstream metrics benchmark: {RECORDS} records in {}-record batches (map -> filter), best of {TRIES}",
        BATCH
    );
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..TRIES {
        without.push(tokio.block_on(run(&manifest, &runtime, false))?);
        with.push(tokio.block_on(run(&manifest, &runtime, true))?);
    }
    with.sort();
    without.sort();
    let batches = (RECORDS / BATCH) as f64;
    for (what, runs) in [("without metrics", &without), ("with metrics   ", &with)] {
        println!(
            "  CPU {what}: best {:>7.1} ms ({:.1} us a batch), median {:>7.1} ms",
            ms(runs[0]),
            ms(runs[0]) * 1000.0 / batches,
            ms(runs[TRIES / 2]),
        );
    }
    let share = |a: Duration, b: Duration| (ms(a) - ms(b)) * 100.0 / ms(b);
    println!(
        "  metrics' share of the CPU: {:+.2}% of the best, {:+.2}% of the medians (target: under 2%; \
         the runs without metrics alone spread {:.1}% from best to median)",
        share(with[0], without[0]),
        share(with[TRIES / 2], without[TRIES / 2]),
        share(without[TRIES / 2], without[0]),
    );

    let bound = plan::load(&manifest, &runtime).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pipelines: Vec<Arc<PipelineMetrics>> = (0..PIPELINES)
        .map(|t| {
            Arc::new(PipelineMetrics::new(
                &bound.plan,
                Some(&format!("tenant-{t}")),
            ))
        })
        .collect();
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..TRIES {
        let started = Instant::now();
        let response = endpoint::render(Scrape(pipelines.clone()));
        let body = tokio.block_on(axum::body::to_bytes(response.into_body(), usize::MAX))?;
        best = best.min(started.elapsed());
        bytes = body.len();
    }
    println!(
        "  one scrape of {PIPELINES} pipelines: {:.2} ms, {} KB",
        ms(best),
        bytes / 1024
    );
    Ok(())
}

/// Runs the pipeline once, with its metrics kept or not: the process's
/// CPU time (user and system) it took.
async fn run(manifest: &Path, runtime: &Arc<Runtime>, metrics: bool) -> anyhow::Result<Duration> {
    let bound = plan::load(manifest, runtime).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let options = Options {
        fresh: true,
        metrics: metrics.then(|| Arc::new(PipelineMetrics::new(&bound.plan, None))),
        ..Options::new(stop)
    };
    let before = cpu();
    let summary = scheduler::run(bound, options).await?;
    let took = cpu().saturating_sub(before);
    anyhow::ensure!(
        summary.records_in == RECORDS,
        "read {} records, not {RECORDS}",
        summary.records_in
    );
    Ok(took)
}

/// This process's CPU time so far, user and system.
fn cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for writes.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
