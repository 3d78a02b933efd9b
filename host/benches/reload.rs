//! Hot reload: what a swap costs the batches around it, and how long a
//! change takes to go live. Runs the real `wasmstream run` on a generated
//! stream (20 000 records/s through a JSON map and a stateful counter over
//! 2 partitions) and replaces the counter's file again and again:
//!
//! - **Delay from a swap of an already-compiled component**: for the first
//!   batch on each new version, how much longer it waited to start and took
//!   to run than the median batch before the swap. The worst over the
//!   swaps, at batch intervals of 10 ms and 100 ms; the target is < 5 ms.
//!   Beside it, the same measure for ordinary batches with no swap near
//!   them: the machine's own noise.
//! - **File change → first batch on the new version**: from the rename
//!   over the file to the swap, for a component never seen before
//!   (compiled) and for one already compiled (the debounce, 100 ms by
//!   default, is most of it).
//!
//! Needs the guests: `cargo build --release --target wasm32-wasip2 -p
//! json-extract -p versioned-counter`. Then `cargo bench -p wasmstream
//! --bench reload`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Swaps between two already-compiled versions, per interval.
const SWAPS: usize = 12;

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guests = repo.join("target/wasm32-wasip2/release");
    let built = std::fs::read(guests.join("versioned_counter.wasm"))
        .map_err(|e| anyhow::anyhow!("build the guests first (see the bench's docs): {e}"))?;
    println!("hot reload: a stateful counter swapped under 20 000 records/s, 2 partitions");
    println!(
        "{:>10}  {:>12}  {:>12}  {:>16}  {:>16}  {:>16}",
        "interval",
        "worst delay",
        "median delay",
        "worst, no swap",
        "change→live new",
        "change→live known"
    );
    for interval in [10u64, 100] {
        let result = measure(&repo, &guests, &built, interval)?;
        println!(
            "{:>8}ms  {:>9.2} ms  {:>9.2} ms  {:>13.2} ms  {:>13.0} ms  {:>13.0} ms",
            interval,
            result.worst_delay_ms,
            result.median_delay_ms,
            result.worst_control_ms,
            result.new_change_ms,
            result.known_change_ms
        );
        println!(
            "{:>10}  worst delay / 5 ms target = {:.2}",
            "",
            result.worst_delay_ms / 5.0
        );
    }
    Ok(())
}

struct Measured {
    worst_delay_ms: f64,
    median_delay_ms: f64,
    /// The same measure for ordinary batches, no swap near them.
    worst_control_ms: f64,
    new_change_ms: f64,
    known_change_ms: f64,
}

/// A version of the counter: its stamp set to `tag` (three characters).
fn version(built: &[u8], tag: &str) -> Vec<u8> {
    let from = b"wasmstream-test-stamp:v00:ok      ";
    let to = format!("wasmstream-test-stamp:{tag}:ok      ");
    let at = built
        .windows(from.len())
        .position(|w| w == from)
        .expect("the fixture holds its stamp");
    let mut bytes = built.to_vec();
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    bytes
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One batch's timing, from the `batch timing` log.
#[derive(Clone, Copy)]
struct Timing {
    scheduling_us: u64,
    processing_us: u64,
}

fn field(line: &str, name: &str) -> Option<u64> {
    line.split(&format!("{name}="))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn measure(repo: &Path, guests: &Path, built: &[u8], interval: u64) -> anyhow::Result<Measured> {
    let dir = repo.join(format!("target/bench-reload-{interval}ms"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let op = dir.join("op.wasm");
    let (a, b) = (version(built, "vaa"), version(built, "vbb"));
    std::fs::write(&op, &a)?;
    let manifest = dir.join("reload.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "reload-bench"
batch_interval = "{interval}ms"
reload = {{ probation = 0 }}

[[sources]]
id = "in"
kind = "generator"
rate = 20000

[[stages]]
id = "fields"
kind = "map"
input = "in"
component = "{extract}"
params = {{ key = "status", value = "seq" }}

[[stages]]
id = "count"
kind = "update_state_by_key"
input = "fields"
component = "op.wasm"
parallelism = 2

[[sinks]]
id = "out"
kind = "stdout"
input = "count"
max_records = 0
"#,
            extract = guests.join("json_extract.wasm").display()
        ),
    )?;
    // Compile `b` ahead, so swaps between `a` and `b` find it compiled.
    let cache = dir.join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmstream"))
        .args(["run", manifest.to_str().unwrap(), "--cache-dir"])
        .arg(&cache)
        .env("RUST_LOG", "info,wasmstream=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Log {
        lines,
        timings: HashMap::new(),
        last_batch: 0,
    };

    // Warm up, then a never-seen version (compiled on the way).
    log.follow(|line| line.contains("batch done") && field(line, "batch") >= Some(30))?;
    let changed = now_ms();
    install(&op, &b)?;
    let (live, _) = log.next_reload()?;
    let new_change_ms = (live - changed) as f64;

    let mut delays = Vec::new();
    let mut controls = Vec::new();
    let mut known = Vec::new();
    for swap in 0..SWAPS {
        // Some ordinary batches first, for the baseline.
        let from = log.last_batch;
        log.follow(|line| line.contains("batch done") && field(line, "batch") >= Some(from + 20))?;
        let changed = now_ms();
        install(&op, if swap % 2 == 0 { &a } else { &b })?;
        let (live, first) = log.next_reload()?;
        known.push((live - changed) as f64);
        log.follow(|line| line.contains("batch timing") && field(line, "batch") >= Some(first))?;
        let before: Vec<Timing> = (first.saturating_sub(20)..first)
            .filter_map(|b| log.timings.get(&b).copied())
            .collect();
        let median = |f: fn(&Timing) -> u64| {
            let mut v: Vec<u64> = before.iter().map(f).collect();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let extra = |t: Timing| {
            t.scheduling_us.saturating_sub(median(|t| t.scheduling_us))
                + t.processing_us.saturating_sub(median(|t| t.processing_us))
        };
        delays.push(extra(log.timings[&first]) as f64 / 1000.0);
        // The same measure for an ordinary batch a little later: the
        // machine's own noise, which the swap's delay is to be read against.
        log.follow(|line| {
            line.contains("batch timing") && field(line, "batch") >= Some(first + 10)
        })?;
        controls.push(extra(log.timings[&(first + 10)]) as f64 / 1000.0);
    }
    let _ = child.kill();
    let _ = child.wait();
    delays.sort_by(f64::total_cmp);
    controls.sort_by(f64::total_cmp);
    known.sort_by(f64::total_cmp);
    Ok(Measured {
        worst_delay_ms: *delays.last().unwrap(),
        median_delay_ms: delays[delays.len() / 2],
        worst_control_ms: *controls.last().unwrap(),
        new_change_ms,
        known_change_ms: known[known.len() / 2],
    })
}

/// The pipeline's log as it comes, with the batch timings read so far.
struct Log {
    lines: mpsc::Receiver<String>,
    timings: HashMap<u64, Timing>,
    last_batch: u64,
}

impl Log {
    /// Reads lines until `until` holds for one, which it returns.
    fn follow(&mut self, mut until: impl FnMut(&str) -> bool) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow::anyhow!("the pipeline went quiet"))?;
            if line.contains("batch timing")
                && let (Some(batch), Some(s), Some(p)) = (
                    field(&line, "batch"),
                    field(&line, "scheduling_us"),
                    field(&line, "processing_us"),
                )
            {
                let timing = Timing {
                    scheduling_us: s,
                    processing_us: p,
                };
                self.timings.insert(batch, timing);
                self.last_batch = self.last_batch.max(batch);
            }
            if line.contains("ERROR") || line.contains("refused") {
                anyhow::bail!("the pipeline reported: {line}");
            }
            if until(&line) {
                return Ok(line);
            }
        }
    }

    /// Waits for the next reload of `count`: its time (ms since the
    /// epoch) and first batch.
    fn next_reload(&mut self) -> anyhow::Result<(i64, u64)> {
        let line = self.follow(|line| line.contains("reloaded stage `count`"))?;
        let batch = line
            .split("from batch ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no first batch in {line}"))?;
        Ok((event_time(&line), batch))
    }
}

/// The log line's own time, `2026-11-21T11:35:50.363994Z ...`, in ms
/// since the epoch.
fn event_time(line: &str) -> i64 {
    let stamp = line.split_whitespace().next().unwrap_or_default();
    let parse = |range: std::ops::Range<usize>| -> i64 {
        stamp.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let (year, month, day) = (parse(0..4), parse(5..7), parse(8..10));
    let (hour, minute, second, micros) =
        (parse(11..13), parse(14..16), parse(17..19), parse(20..26));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + micros / 1000
}

fn install(file: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = file.with_extension("wasm.tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, file)
}
