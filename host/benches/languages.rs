//! Operators in each language against the same operator in Rust, side by
//! side in one run: the stock `split-words` and `running-count` and their
//! ports (`plugins/<name>/{python,js,c}`), each called
//! through the host as a stage calls it (a batch per call).
//!
//! For each: the component's size; compiling it (an empty cache); loading
//! it compiled from the cache (a new process); its first instance and a
//! further one (from the same `InstancePre`); and throughput: words split
//! a second from batches of 10,000 lines of 10 words, and keys updated a
//! second from batches of 10,000 keys with 10 values each.
//!
//! Run: `cargo build --release --target wasm32-wasip2 --workspace --exclude wasmstream`
//! then `cargo bench -p wasmstream --bench languages` (the first run
//! builds the ports, installing componentize-py, componentize-js and the
//! C tools once).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SplitMix, grouped};
use wasmstream::plugin::{Instance, Limits, Runtime, StateInput};
use wasmstream::record::{Batch, ByteList};

/// How long each throughput is measured.
const MEASURE: Duration = Duration::from_secs(2);
const LINES: usize = 10_000;
const KEYS: usize = 10_000;

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = repo.join("target/bench-languages");
    let lines = lines();
    let words: usize = lines
        .iter()
        .map(|r| r.value.split(|&b| b == b' ').count())
        .sum();
    let state = state_input();
    println!(
        "operators by language: split-words over {} lines ({} words) a call, running-count over {} keys a call",
        grouped(LINES as f64),
        grouped(words as f64),
        grouped(KEYS as f64)
    );
    println!(
        "  {:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14}",
        "", "size", "compile", "load", "1st inst", "next inst", "throughput"
    );
    let mut rust_rates = Vec::new();
    for lang in ["rust", "python", "js", "c"] {
        for (plugin, kind) in [
            ("split-words", "flat_map"),
            ("running-count", "update_state_by_key"),
        ] {
            let component = match lang {
                "rust" => repo
                    .join("target/wasm32-wasip2/release")
                    .join(format!("{}.wasm", plugin.replace('-', "_"))),
                _ => build_port(&repo, &root, lang, plugin, kind)?,
            };
            let figures = measure(&root, &component, |instance| match kind {
                "flat_map" => {
                    let out = instance.flat_map(&lines_batch(&lines))?;
                    assert_eq!(out.len(), words, "every word split");
                    Ok(words)
                }
                _ => {
                    let out = instance.update_state(&state)?;
                    assert_eq!(out.keep.len(), KEYS, "every key updated");
                    Ok(KEYS)
                }
            })?;
            let unit = if kind == "flat_map" {
                "words/s"
            } else {
                "keys/s"
            };
            let ratio = match lang {
                "rust" => {
                    rust_rates.push(figures.rate);
                    String::new()
                }
                _ => {
                    let rust = rust_rates[if kind == "flat_map" { 0 } else { 1 }];
                    let slower = rust / figures.rate;
                    match slower >= 1.0 {
                        true => format!("  ({slower:.1}x slower than Rust)"),
                        false => format!("  ({:.1}x faster than Rust)", 1.0 / slower),
                    }
                }
            };
            println!(
                "  {:<28} {:>8.1}M {:>7.0}ms {:>7.1}ms {:>7.1}ms {:>7.2}ms {:>9} {unit}{ratio}",
                format!("{lang} {plugin}"),
                figures.size as f64 / 1e6,
                ms(figures.compile),
                ms(figures.load),
                ms(figures.first),
                ms(figures.next),
                grouped(figures.rate),
            );
        }
    }
    Ok(())
}

struct Figures {
    size: u64,
    compile: Duration,
    load: Duration,
    first: Duration,
    next: Duration,
    rate: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Compiles `component` into an empty cache, loads it again from that
/// cache in a new runtime, times two instances, then calls `call` for
/// [`MEASURE`] and reports items a second.
fn measure(
    root: &Path,
    component: &Path,
    mut call: impl FnMut(&mut Instance) -> anyhow::Result<usize>,
) -> anyhow::Result<Figures> {
    let cache = root.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let started = Instant::now();
    Runtime::new(&cache)?
        .load(component)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let compile = started.elapsed();
    let runtime = Runtime::new(&cache)?;
    let started = Instant::now();
    let plugin = runtime
        .load(component)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let load = started.elapsed();
    let limits = Limits {
        memory_bytes: 512 << 20,
        cpu: Duration::from_secs(60),
    };
    let label: Arc<str> = "bench".into();
    let started = Instant::now();
    let mut instance = plugin.instantiate(label.clone(), limits, &[])?;
    let first = started.elapsed();
    let started = Instant::now();
    drop(plugin.instantiate(label, limits, &[])?);
    let next = started.elapsed();
    // One call to warm up, then as many as fit.
    call(&mut instance)?;
    let started = Instant::now();
    let mut items = 0;
    while started.elapsed() < MEASURE {
        items += call(&mut instance)?;
    }
    Ok(Figures {
        size: std::fs::metadata(component)?.len(),
        compile,
        load,
        first,
        next,
        rate: items as f64 / started.elapsed().as_secs_f64(),
    })
}

/// Builds a plugin's port to `lang` with `wasmstream build`.
fn build_port(
    repo: &Path,
    root: &Path,
    lang: &str,
    plugin: &str,
    kind: &str,
) -> anyhow::Result<PathBuf> {
    let dir = root.join(lang).join(plugin);
    std::fs::create_dir_all(&dir)?;
    let component = dir.join(format!("{}.wasm", plugin.replace('-', "_")));
    let manifest = dir.join("manifest.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "bench-{plugin}"

[[sources]]
id = "in"
kind = "stdin"

[[stages]]
id = "op"
kind = "{kind}"
input = "in"
component = {:?}
build = {{ lang = "{lang}", workdir = {:?} }}

[[sinks]]
id = "out"
kind = "stdout"
input = "op"
"#,
            component.display().to_string(),
            repo.join("plugins")
                .join(plugin)
                .join(lang)
                .display()
                .to_string(),
        ),
    )?;
    let status = Command::new(env!("CARGO_BIN_EXE_wasmstream"))
        .arg("build")
        .arg(&manifest)
        .status()?;
    anyhow::ensure!(status.success(), "building the {lang} {plugin} failed");
    Ok(component)
}

struct Line {
    value: Vec<u8>,
}

/// Lines of 10 words from a small vocabulary, seeded.
fn lines() -> Vec<Line> {
    let vocabulary = [
        "the",
        "stream",
        "of",
        "records",
        "flows",
        "through",
        "operators",
        "in",
        "batches",
        "quickly",
        "café",
        "42",
        "it's",
        "data_set",
    ];
    let mut random = SplitMix(7);
    (0..LINES)
        .map(|_| {
            let words: Vec<&str> = (0..10)
                .map(|_| vocabulary[random.below(vocabulary.len())])
                .collect();
            Line {
                value: words.join(" ").into_bytes(),
            }
        })
        .collect()
}

fn lines_batch(lines: &[Line]) -> Batch {
    let mut batch = Batch::with_capacity(lines.len(), lines.len() * 64);
    for (i, line) in lines.iter().enumerate() {
        batch.push(None, &line.value, i as i64);
    }
    batch
}

/// 10,000 keys, each with a count so far and 10 new values.
fn state_input() -> StateInput {
    let mut keys = ByteList::with_capacity(KEYS, KEYS * 8);
    let mut states = ByteList::with_capacity(KEYS, KEYS * 4);
    let mut values = ByteList::with_capacity(KEYS * 10, KEYS * 10);
    let mut group_ends = Vec::with_capacity(KEYS);
    for k in 0..KEYS {
        keys.push(format!("key{k}").as_bytes());
        states.push(format!("{}", k % 100).as_bytes());
        for _ in 0..10 {
            values.push(b"1");
        }
        group_ends.push(values.len() as u32);
    }
    StateInput {
        keys,
        has_state: vec![true; KEYS],
        states,
        timing_out: vec![false; KEYS],
        values,
        group_ends,
        batch_time: 0,
    }
}
