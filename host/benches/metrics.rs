//! What the Prometheus metrics cost.
//!
//! - A pipeline (generator -> lowercase -> JSON filter, 1,000-record
//!   batches, `trigger = "available-now"`) run in this process with its
//!   metrics kept and without, alternating, best of several: the CPU time
//!   of each whole run (getrusage), and the difference as a share of the
//!   run without.
//! - One scrape of 200 pipelines' metrics (as a server with 200 pipelines
//!   answers its admin): the time to write it, and its size.
//! - 200 pipelines running at once in this process, as on one server
//!   (generator at 10,000 records a second -> map -> filter, 100 ms
//!   batches), their metrics served over HTTP and scraped once a second by
//!   a Prometheus stand-in and by an open dashboard: the time the engine
//!   spent keeping the metrics, and serving those requests, as a share of
//!   the batches' processing time (target: under 2%); and the dashboard's
//!   page load (the page, its scripts and styles, the pipeline list and
//!   one pipeline's detail), fetched one after another as a browser's
//!   first load does at worst.
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p lowercase -p json-filter`
//! then `cargo bench -p wasmstream --bench metrics`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let component = |name: &str| repo.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    let (lower, filter) = (component("lowercase"), component("json_filter"));
    let manifest = write_manifest(
        &dir.join("pipeline.toml"),
        "measured",
        "trigger = \"available-now\"",
        &format!("records = {RECORDS}\nmax_batch_records = {BATCH}"),
        (&lower, &filter),
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
    let served = write_manifest(
        &dir.join("served.toml"),
        "served",
        "batch_interval = \"100ms\"",
        "rate = 10000",
        (&lower, &filter),
    )?;
    tokio.block_on(server(&served, &runtime))
}

/// Writes pipeline `name` (its `pipeline` settings, its generator's) as
/// `file`: a generator, `lower`casing, then keeping what `filter` keeps
/// (nothing: no status is 999), into files.
fn write_manifest(
    file: &Path,
    name: &str,
    pipeline: &str,
    generator: &str,
    (lower, filter): (&Path, &Path),
) -> anyhow::Result<PathBuf> {
    std::fs::write(
        file,
        format!(
            r#"
[pipeline]
name = "{name}"
{pipeline}

[[sources]]
id = "gen"
kind = "generator"
{generator}

[[stages]]
id = "lower"
kind = "map"
input = "gen"
component = {lower:?}

[[stages]]
id = "errors"
kind = "filter"
input = "lower"
component = {filter:?}
params = {{ field = "status", equals = "999" }}

[[sinks]]
id = "out"
kind = "files"
input = "errors"
path = "out"
"#,
            lower = lower.display().to_string(),
            filter = filter.display().to_string(),
        ),
    )?;
    Ok(file.to_owned())
}

/// How long the 200 pipelines run, once started.
const SERVED: Duration = Duration::from_secs(20);

/// 200 pipelines at once, their metrics served, scraped and looked at.
async fn server(manifest: &Path, runtime: &Arc<Runtime>) -> anyhow::Result<()> {
    let dir = manifest.parent().expect("in a folder");
    // Started before the pipelines: a browser starting on a busy machine
    // may miss chromedriver's deadline.
    let browser = browser(dir).await?;
    let (stop_all, stop) = tokio::sync::watch::channel(false);
    let mut all = Vec::new();
    let mut running = Vec::new();
    for t in 0..PIPELINES {
        let bound = plan::load(manifest, runtime).map_err(|e| anyhow::anyhow!("{e}"))?;
        let metrics = Arc::new(PipelineMetrics::new(
            &bound.plan,
            Some(&format!("tenant-{t}")),
        ));
        all.push(metrics.clone());
        let options = Options {
            fresh: true,
            metrics: Some(metrics),
            ..Options::new(stop.clone())
        };
        running.push(tokio::spawn(scheduler::run(bound, options)));
    }
    let gather = move || Scrape(all.clone());
    let address = endpoint::start("127.0.0.1:0".parse()?, gather).await?;
    let base = format!("http://{address}");

    // Once a second, as Prometheus and an open dashboard would: the
    // scrape, the pipeline list and one pipeline's detail.
    let started = Instant::now();
    let mut serving = Duration::ZERO;
    let mut loads = Vec::new();
    let mut page_bytes = 0;
    while started.elapsed() < SERVED {
        let second = Instant::now();
        let base = base.clone();
        let (took, load) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let began = Instant::now();
            get(&format!("{base}/metrics"))?;
            get(&format!("{base}/v1/overview?recent=1"))?;
            get(&format!(
                "{base}/v1/overview?recent=300&pipeline=tenant-0/served"
            ))?;
            let took = began.elapsed();
            // The page's first load, now and then.
            let began = Instant::now();
            let mut bytes = 0;
            for path in [
                "/",
                "/dashboard.css",
                "/vendor/uPlot.min.css",
                "/vendor/uPlot.iife.min.js",
                "/dashboard.js",
                "/v1/overview?recent=1",
                "/v1/overview?recent=300&pipeline=tenant-0/served",
            ] {
                bytes += get(&format!("{base}{path}"))?;
            }
            Ok((took, (began.elapsed(), bytes)))
        })
        .await??;
        serving += took;
        loads.push(load.0);
        page_bytes = load.1;
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(second.elapsed())).await;
    }
    let drawn = match &browser {
        Some(browser) => Some(browser_loads(browser, &base).await?),
        None => None,
    };
    drop(browser);
    let scrape = get_text(&format!("{base}/metrics")).await?;
    let _ = stop_all.send(true);
    for run in running {
        run.await??;
    }
    let keeping = sum(&scrape, "wasmstream_metrics_keeping_seconds_total{");
    let processing = sum(&scrape, "wasmstream_batch_processing_seconds_sum{");
    let batches = sum(&scrape, "wasmstream_batches_total{");
    loads.sort();
    println!(
        "  {PIPELINES} pipelines at once for {} s ({batches} batches, {:.1} s of processing):",
        SERVED.as_secs(),
        processing
    );
    println!(
        "    keeping the metrics: {:.3} s ({:.2} us a batch), {:.2}% of the processing time",
        keeping,
        keeping * 1e6 / batches,
        keeping * 100.0 / processing
    );
    println!(
        "    serving a scrape, the list and a detail once a second: {:.3} s in all, {:.2}% of the processing time",
        serving.as_secs_f64(),
        serving.as_secs_f64() * 100.0 / processing
    );
    println!(
        "    together: {:.2}% (target: under 2%)",
        (keeping + serving.as_secs_f64()) * 100.0 / processing
    );
    println!(
        "    the dashboard's page load ({} KB): best {:.1} ms, median {:.1} ms",
        page_bytes / 1024,
        ms(loads[0]),
        ms(loads[loads.len() / 2])
    );
    match drawn {
        Some(mut drawn) => {
            let first = drawn[0];
            drawn.sort();
            println!(
                "    in headless chromium, until it lists all {PIPELINES} and has drawn one's timelines: first (uncached) {:.0} ms, best {:.0} ms, median {:.0} ms",
                ms(first),
                ms(drawn[0]),
                ms(drawn[drawn.len() / 2])
            );
        }
        None => println!("    in a browser: not measured (no chromedriver on this machine)"),
    }
    Ok(())
}

/// A headless chromium session through chromedriver (in a process group
/// of its own, killed with it when dropped).
struct Browser {
    driver: std::process::Child,
    client: fantoccini::Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// A browser, if the machine has chromedriver (and chromium).
async fn browser(dir: &Path) -> anyhow::Result<Option<Browser>> {
    use std::os::unix::process::CommandExt;
    if Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_err()
    {
        return Ok(None);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // Without `..` in it: chromium would not tell chromedriver its port.
    let profile = dir.canonicalize()?.join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,1200", format!("--user-data-dir={}", profile.display()),
        ] }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    loop {
        match fantoccini::ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return Ok(Some(Browser { driver, client })),
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                let group = format!("-{}", driver.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                anyhow::bail!("cannot open a chromium session: {e}")
            }
        }
    }
}

/// The dashboard's load in `browser`: from asking for the page until it
/// lists every pipeline and has drawn the first one's timelines (checked
/// every 5 ms), five times, the first one uncached.
async fn browser_loads(browser: &Browser, base: &str) -> anyhow::Result<Vec<Duration>> {
    let drawn = "return document.querySelectorAll('#pipelines tbody tr').length === arguments[0]
        && typeof state !== 'undefined' && !!state.charts.rate && state.charts.rate.data[0].length > 0;";
    let client = &browser.client;
    let mut loads = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        client.goto(&format!("{base}/")).await?;
        while client.execute(drawn, vec![PIPELINES.into()]).await? != serde_json::Value::Bool(true)
        {
            anyhow::ensure!(
                began.elapsed() < Duration::from_secs(30),
                "the dashboard did not draw within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        loads.push(began.elapsed());
    }
    Ok(loads)
}

/// GETs `url`: the body's size.
fn get(url: &str) -> anyhow::Result<usize> {
    let mut response = ureq::get(url).call()?;
    Ok(response.body_mut().read_to_vec()?.len())
}

async fn get_text(url: &str) -> anyhow::Result<String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        Ok(ureq::get(&url).call()?.body_mut().read_to_string()?)
    })
    .await?
}

/// The sum of every series of `prefix` in `scrape`.
fn sum(scrape: &str, prefix: &str) -> f64 {
    (scrape.lines())
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
