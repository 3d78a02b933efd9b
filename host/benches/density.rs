//! Density of `wasmstream serve`: how many idle pipelines one server
//! holds, and how fast it takes a deploy whose components it already has.
//!
//! Starts the real server on loopback, creates a tenant, deploys one idle
//! pipeline with `wasmstream deploy` (which uploads its component), then
//! deploys `WASMSTREAM_DENSITY` (default 200) more of the same plan under
//! other names straight through the API, timing each request. An idle
//! pipeline watches an empty folder and maps what would arrive through
//! the `lowercase` operator into files. Once all run, the server's
//! resident memory (VmRSS) is read again: the growth over the pipelines
//! deployed is the memory per idle pipeline.
//!
//! Targets: under 5 MB per idle pipeline, under 100 ms per deploy.
//!
//! Needs the guests: `cargo build --release --target wasm32-wasip2 -p
//! lowercase`. Then `cargo bench -p wasmstream --bench density`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("WASMSTREAM_DENSITY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lowercase = repo.join("target/wasm32-wasip2/release/lowercase.wasm");
    anyhow::ensure!(
        lowercase.is_file(),
        "build the guests first (see the bench's docs)"
    );
    let dir = std::env::temp_dir().join(format!("wasmstream-density-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(dir.join("in/idle-0"))?;
    let manifest = dir.join("idle.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "idle-0"
batch_interval = "1s"

[[sources]]
id = "in"
kind = "directory"
path = "in/idle-0"

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lowercase:?}

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out/idle-0"
"#
        ),
    )?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let cache = dir.join("cache");
    let mut server = Command::new(env!("CARGO_BIN_EXE_wasmstream"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.join("server"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = server.id();
    let mut admin = String::new();
    let mut said = BufReader::new(server.stdout.take().expect("piped")).lines();
    for line in said.by_ref() {
        let line = line?;
        if let Some(token) = line.strip_prefix("admin token (shown this once; keep it): ") {
            admin = token.to_owned();
            break;
        }
    }
    std::thread::spawn(move || said.for_each(drop));
    let cli = |token: &str, args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_wasmstream"))
            .args(args)
            .args(["--server", &url, "--token", token])
            .env("WASMSTREAM_CACHE", &cache)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "wasmstream {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let pipelines = (count + 1).to_string();
    cli(
        &admin,
        &["tenant", "create", "dense", "--pipelines", &pipelines],
    )?;
    let token = cli(&admin, &["token", "create", "--tenant", "dense"])?;
    cli(&token, &["deploy", manifest.to_str().expect("utf-8")])?;

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let running = |agent: &ureq::Agent| -> anyhow::Result<usize> {
        let list: serde_json::Value = agent
            .get(format!("{url}/v1/pipelines"))
            .header("Authorization", format!("Bearer {token}"))
            .call()?
            .body_mut()
            .read_json()?;
        // Running, and past its first batch.
        let ticking = |p: &&serde_json::Value| {
            p["state"] == "running" && p["figures"]["summary"]["batches"].as_u64() > Some(0)
        };
        Ok(list
            .as_array()
            .map_or(0, |l| l.iter().filter(ticking).count()))
    };
    wait_for(|| running(&agent).map(|n| n == 1))?;
    std::thread::sleep(Duration::from_secs(1));
    let before = rss(pid)?;

    let runtime = wasmstream::plugin::Runtime::new(&cache)?;
    let bound = wasmstream::plan::load(&manifest, &runtime).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (plan, _) = bound.plan.portable(&dir)?;
    let mut took = Vec::with_capacity(count);
    for n in 1..=count {
        let mut plan = plan.clone();
        let name = format!("idle-{n}");
        for data in plan.data_paths_mut() {
            *data.path = data.path.to_string_lossy().replace("idle-0", &name).into();
        }
        plan.name = name;
        let started = Instant::now();
        let mut response = agent
            .post(format!("{url}/v1/pipelines"))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(serde_json::json!({ "plan": plan }))?;
        took.push(started.elapsed());
        anyhow::ensure!(
            response.status() == 200,
            "deploy {n}: {}",
            response.body_mut().read_to_string()?
        );
    }
    wait_for(|| running(&agent).map(|n| n == count + 1))?;
    std::thread::sleep(Duration::from_secs(2));
    let after = rss(pid)?;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(took[took.len() / 2]);
    let p95 = ms(took[took.len() * 95 / 100]);
    let per_pipeline = after.saturating_sub(before) as f64 / count as f64 / 1e6;
    println!("density: {count} idle pipelines deployed to one server, components already stored");
    println!(
        "deploy time: median {median:.1} ms, p95 {p95:.1} ms, worst {:.1} ms; median / 100 ms target = {:.2}",
        ms(*took.last().expect("deploys")),
        median / 100.0
    );
    println!(
        "resident memory: {:.1} MB with one pipeline, {:.1} MB with {}; {per_pipeline:.2} MB per idle pipeline; / 5 MB target = {:.2}",
        before as f64 / 1e6,
        after as f64 / 1e6,
        count + 1,
        per_pipeline / 5.0
    );
    Ok(())
}

/// The process's resident memory, in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))?;
    Ok(kib * 1024)
}

/// Polls `done` until it holds, for at most a minute.
fn wait_for(mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done()? {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(60), "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
