//! Word count as a new user runs it, against the native limit and `mawk`,
//! side by side in one run.
//!
//! Generates a seeded corpus (Zipf-distributed words over a 10,000-word
//! vocabulary, 10 words a line, 20 files), then counts its words:
//!
//! - natively: one thread with a `HashMap`, and two threads each counting
//!   half the files (the limit a sandboxed engine is measured against);
//! - with `mawk` on one core, if it is installed;
//! - with `wasmstream run` on a manifest of stock plugins (`split-words`,
//!   `sum`) and with the built-in `count_by_value`, at parallelism 1 and
//!   2, whole process, `trigger = "available-now"`; the per-batch counts
//!   it writes are added up and checked against the native count.
//!
//! Then one file of over 1 GB (the corpus again and again), counted with
//! default settings but `trigger = "available-now"`, with the peak resident
//! memory of the process. Then the same for a sliding 60 s / 10 s event-time window count over
//! the corpus as JSON lines with a timestamp each (1,000 lines a second of
//! event time), checked window by window.
//!
//! Run: `cargo build --release --target wasm32-wasip2 --workspace --exclude wasmstream`
//! then `cargo bench -p wasmstream --bench wordcount`. `WORDCOUNT_WORDS`
//! sets the corpus size (default 10,000,000).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{SplitMix, grouped};
use wasmstream_guest::text;

const VOCABULARY: usize = 10_000;
const WORDS_PER_LINE: usize = 10;
const FILES: usize = 20;
/// Event time: lines per second.
const LINES_PER_SECOND: u64 = 1_000;
const WINDOW_MS: i64 = 60_000;
const SLIDE_MS: i64 = 10_000;
/// Runs of each measurement; the best is reported.
const TRIES: usize = 2;

fn main() -> anyhow::Result<()> {
    let words: usize = std::env::var("WORDCOUNT_WORDS")
        .ok()
        .map(|w| w.replace('_', "").parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = repo.join("target/bench-wordcount");
    let corpus = Corpus::generate(&root.join(format!("corpus-{words}")), words)?;
    println!(
        "wordcount: {} words ({} lines, {:.0} MB) in {FILES} files, Zipf over {VOCABULARY} words",
        grouped(words as f64),
        grouped(corpus.lines as f64),
        corpus.bytes as f64 / 1e6
    );

    let expected = native_count(&corpus.plain);
    let expected_words = expected.clone();
    let native_1 = best(|| {
        let started = Instant::now();
        let counts = native_count(&corpus.plain);
        anyhow::ensure!(counts == expected, "native counts differ between runs");
        Ok(started.elapsed())
    })?;
    let native_2 = best(|| {
        let started = Instant::now();
        let counts = native_count_two_threads(&corpus.plain);
        anyhow::ensure!(counts == expected, "two-thread native counts differ");
        Ok(started.elapsed())
    })?;
    let rate = |took: Duration| words as f64 / took.as_secs_f64();
    let mut table = vec![
        ("native hash map, 1 thread".to_owned(), rate(native_1)),
        ("native hash map, 2 threads".to_owned(), rate(native_2)),
    ];
    let mawk = match mawk(&corpus.plain, &expected) {
        Ok(took) => Some(rate(took)),
        Err(e) => {
            println!("mawk: not measured ({e})");
            None
        }
    };
    if let Some(mawk) = mawk {
        table.push(("mawk, 1 core".to_owned(), mawk));
    }

    let cache = root.join("cache");
    let runs = root.join("runs");
    let mut engine = Vec::new();
    for (name, stages) in [
        ("split-words + reduce_by_key(sum)", wordcount_stages(&repo)),
        ("split-words + count_by_value", count_by_value_stages(&repo)),
    ] {
        for parallelism in [1, 2] {
            let took = best(|| {
                let dir = runs.join("wordcount");
                let out = run(&cache, &dir, &corpus.plain, &stages, parallelism)?;
                let counts = batch_totals(&out)?;
                anyhow::ensure!(
                    counts == expected,
                    "{name}, parallelism {parallelism}: counts differ from the native count ({} words against {})",
                    counts.len(),
                    expected.len()
                );
                Ok(out.took)
            })?;
            engine.push((
                format!("wasmstream {name}, parallelism {parallelism}"),
                rate(took),
            ));
        }
    }
    print_table(&table, &engine, mawk);
    let p = |i: usize| engine[i].1;
    println!(
        "parallelism 2 / parallelism 1: {:.2} (reduce_by_key), {:.2} (count_by_value)",
        p(1) / p(0),
        p(3) / p(2)
    );

    // One big file, default settings.
    let copies = (1usize << 30).div_ceil(corpus.bytes as usize);
    let big = root.join(format!("big-{words}"));
    let big_file = big.join("corpus.txt");
    if std::fs::metadata(&big_file).map(|m| m.len()).ok() != Some(corpus.bytes * copies as u64) {
        std::fs::create_dir_all(&big)?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&big_file)?);
        for _ in 0..copies {
            for file in files(&corpus.plain)? {
                std::io::Write::write_all(&mut out, &std::fs::read(file)?)?;
            }
        }
        std::io::Write::flush(&mut out)?;
    }
    let dir = runs.join("big");
    let stages = count_by_value_stages(&repo).replace("parallelism = {P}\n", "");
    let out = run(&cache, &dir, &big, &stages, 1)?;
    let counts = batch_totals(&out)?;
    let scaled: Counts = expected_words
        .iter()
        .map(|(w, n)| (w.clone(), n * copies as u64))
        .collect();
    anyhow::ensure!(
        counts == scaled,
        "one big file: counts differ from the native count"
    );
    println!(
        "one {:.2} GB file, default settings, trigger = \"available-now\": {} words/s, counts exact, peak resident memory {:.0} MB (target: under 300 MB)",
        (corpus.bytes * copies as u64) as f64 / 1e9,
        grouped((words * copies) as f64 / out.took.as_secs_f64()),
        out.peak_rss as f64 / 1e6
    );

    // The sliding event-time window count.
    let expected = native_windows(&corpus.timed_lines()?);
    let native = best(|| {
        let started = Instant::now();
        let counts = native_windows(&corpus.timed_lines()?);
        anyhow::ensure!(counts == expected, "native window counts differ");
        Ok(started.elapsed())
    })?;
    let mut table = vec![("native window count, 1 thread".to_owned(), rate(native))];
    let mut engine = Vec::new();
    for parallelism in [1, 2] {
        let took = best(|| {
            let dir = runs.join("windows");
            let stages = window_stages(&repo);
            let out = run(&cache, &dir, &corpus.timed, &stages, parallelism)?;
            let counts = window_totals(&out)?;
            anyhow::ensure!(
                counts == expected,
                "window count, parallelism {parallelism}: counts differ from the native count ({} (window, word) pairs against {})",
                counts.len(),
                expected.len()
            );
            Ok(out.took)
        })?;
        engine.push((
            format!("wasmstream 60s/10s event-time window count, parallelism {parallelism}"),
            rate(took),
        ));
    }
    table.push(("(Spark 4.3 here, from issue 13)".to_owned(), 810_000.0));
    print_table(&table, &engine, None);
    println!(
        "window count, best / Spark's 0.81 M words/s: {:.1}",
        engine.iter().map(|e| e.1).fold(0.0, f64::max) / 810_000.0
    );
    Ok(())
}

fn print_table(table: &[(String, f64)], engine: &[(String, f64)], mawk: Option<f64>) {
    let native = table[0].1;
    for (name, rate) in table {
        println!("  {name:<62} {:>12} words/s", grouped(*rate));
    }
    for (name, rate) in engine {
        let against_mawk = mawk
            .map(|m| format!(", {:.2}x mawk", rate / m))
            .unwrap_or_default();
        println!(
            "  {name:<62} {:>12} words/s  ({:.2}x native 1 thread{against_mawk})",
            grouped(*rate),
            rate / native
        );
    }
}

/// The best time of [`TRIES`] runs.
fn best(mut measure: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..TRIES {
        best = best.min(measure()?);
    }
    Ok(best)
}

/// The corpus, as plain text and as timestamped JSON lines.
struct Corpus {
    plain: PathBuf,
    timed: PathBuf,
    lines: usize,
    bytes: u64,
}

impl Corpus {
    /// Writes the corpus into `dir`, unless an earlier run did.
    fn generate(dir: &Path, words: usize) -> anyhow::Result<Corpus> {
        let (plain, timed) = (dir.join("plain"), dir.join("timed"));
        let lines = words.div_ceil(WORDS_PER_LINE);
        let done = dir.join("complete");
        if !done.exists() {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(&plain)?;
            std::fs::create_dir_all(&timed)?;
            let vocabulary = vocabulary();
            let zipf = Zipf::new(VOCABULARY);
            let mut random = SplitMix(0x5eed_0fc0_ffee);
            let per_file = lines.div_ceil(FILES);
            let mut line_no = 0u64;
            let mut left = words;
            for f in 0..FILES {
                let mut text = String::new();
                let mut json = String::new();
                for _ in 0..per_file {
                    if left == 0 {
                        break;
                    }
                    let start = text.len();
                    for w in 0..WORDS_PER_LINE.min(left) {
                        if w > 0 {
                            text.push(' ');
                        }
                        text.push_str(&vocabulary[zipf.sample(random.next())]);
                    }
                    left -= WORDS_PER_LINE.min(left);
                    let t = line_no * 1000 / LINES_PER_SECOND;
                    json.push_str(&format!(r#"{{"t":{t},"line":"{}"}}"#, &text[start..]));
                    json.push('\n');
                    text.push('\n');
                    line_no += 1;
                }
                let name = format!("part-{f:02}.txt");
                std::fs::write(plain.join(&name), text)?;
                std::fs::write(timed.join(&name), json)?;
            }
            std::fs::write(&done, "")?;
        }
        let bytes = std::fs::read_dir(&plain)?
            .map(|e| Ok(e?.metadata()?.len()))
            .sum::<std::io::Result<u64>>()?;
        Ok(Corpus {
            plain,
            timed,
            lines,
            bytes,
        })
    }

    /// Each line's timestamp and words, in order.
    fn timed_lines(&self) -> anyhow::Result<Vec<(i64, String)>> {
        let mut lines = Vec::with_capacity(self.lines);
        for file in files(&self.plain)? {
            for line in std::fs::read_to_string(file)?.lines() {
                let t = lines.len() as i64 * 1000 / LINES_PER_SECOND as i64;
                lines.push((t, line.to_owned()));
            }
        }
        Ok(lines)
    }
}

/// Pseudo-words of lowercase letters, all different.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 22] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "do", "fe", "gu", "ha",
        "ji", "bo", "ce", "wy", "xa", "yu", "st",
    ];
    (0..VOCABULARY)
        .map(|mut n| {
            let mut word = String::new();
            loop {
                word.push_str(SYLLABLES[n % SYLLABLES.len()]);
                n /= SYLLABLES.len();
                if n == 0 {
                    break word;
                }
                n -= 1;
            }
        })
        .collect()
}

/// Zipf's law (s = 1) over `n` ranks, sampled by inverting the CDF.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf(cdf)
    }

    fn sample(&self, uniform: f64) -> usize {
        self.0
            .partition_point(|&c| c < uniform)
            .min(self.0.len() - 1)
    }
}

fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| Ok(e?.path()))
        .collect::<std::io::Result<_>>()?;
    files.sort();
    Ok(files)
}

type Counts = HashMap<String, u64>;

/// Counts the words of the files in `dir` on one thread, as a plain Rust
/// program would: read, split, count in a `HashMap`.
fn native_count(dir: &Path) -> Counts {
    count_files(&files(dir).expect("corpus files"))
}

fn count_files(files: &[PathBuf]) -> Counts {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("corpus file");
        for word in text::words(&text) {
            match counts.get_mut(word) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(word.to_owned(), 1);
                }
            }
        }
    }
    counts
}

fn native_count_two_threads(dir: &Path) -> Counts {
    let files = files(dir).expect("corpus files");
    let (a, b) = files.split_at(files.len() / 2);
    let (mut left, right) = std::thread::scope(|s| {
        let other = s.spawn(|| count_files(b));
        (count_files(a), other.join().expect("counting thread"))
    });
    for (word, n) in right {
        *left.entry(word).or_default() += n;
    }
    left
}

/// Counts with `mawk`, and checks its counts.
fn mawk(dir: &Path, expected: &Counts) -> anyhow::Result<Duration> {
    let files = files(dir)?;
    best(|| {
        let started = Instant::now();
        let out = Command::new("mawk")
            .arg("{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print w, c[w] }")
            .args(&files)
            .output()?;
        let took = started.elapsed();
        anyhow::ensure!(out.status.success(), "mawk failed");
        let mut counts = Counts::new();
        for line in String::from_utf8(out.stdout)?.lines() {
            let (word, n) = line.split_once(' ').unwrap_or((line, ""));
            counts.insert(word.to_owned(), n.parse()?);
        }
        anyhow::ensure!(&counts == expected, "mawk's counts differ");
        Ok(took)
    })
}

/// Event time: each (window start, word) and its count, every word
/// counted in each of the windows its line falls in.
fn native_windows(lines: &[(i64, String)]) -> HashMap<(i64, String), u64> {
    let mut counts: HashMap<(i64, String), u64> = HashMap::new();
    for (t, line) in lines {
        let last = t - t.rem_euclid(SLIDE_MS);
        for word in text::words(line) {
            let mut start = last;
            while start > t - WINDOW_MS {
                *counts.entry((start, word.to_owned())).or_default() += 1;
                start -= SLIDE_MS;
            }
        }
    }
    counts
}

fn component(repo: &Path, name: &str) -> String {
    let path = repo
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (see the top of this file)",
        path.display()
    );
    format!("{:?}", path.canonicalize().expect("exists"))
}

/// Lines to (word, "1") pairs, summed per word: the stock plugins.
fn wordcount_stages(repo: &Path) -> String {
    format!(
        r#"
[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {split}
params = {{ emit = "pairs" }}
parallelism = {{P}}

[[stages]]
id = "counts"
kind = "reduce_by_key"
input = "words"
component = {sum}
parallelism = {{P}}
"#,
        split = component(repo, "split_words"),
        sum = component(repo, "sum"),
    )
}

/// Lines to words, counted by the built-in kind.
fn count_by_value_stages(repo: &Path) -> String {
    format!(
        r#"
[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {split}
parallelism = {{P}}

[[stages]]
id = "counts"
kind = "count_by_value"
input = "words"
parallelism = {{P}}
"#,
        split = component(repo, "split_words"),
    )
}

/// JSON lines to timestamped words, counted per sliding window.
fn window_stages(repo: &Path) -> String {
    format!(
        r#"
[[stages]]
id = "text"
kind = "map"
input = "lines"
component = {extract}
params = {{ value = "line", timestamp = "t" }}
parallelism = {{P}}

[[stages]]
id = "words"
kind = "flat_map"
input = "text"
component = {split}
parallelism = {{P}}

[[stages]]
id = "counts"
kind = "count_by_value_and_window"
input = "words"
time = "event"
window = "60s"
slide = "10s"
parallelism = {{P}}
"#,
        extract = component(repo, "json_extract"),
        split = component(repo, "split_words"),
    )
}

/// What a run wrote, how long the whole process took and its peak
/// resident memory.
struct Run {
    out: PathBuf,
    took: Duration,
    peak_rss: u64,
}

/// Runs `wasmstream run` over `input` with `stages` (`{P}` replaced by
/// `parallelism`), as a user would.
fn run(
    cache: &Path,
    dir: &Path,
    input: &Path,
    stages: &str,
    parallelism: usize,
) -> anyhow::Result<Run> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let out = dir.join("out");
    let manifest = dir.join("manifest.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "wordcount"
trigger = "available-now"

[[sources]]
id = "lines"
kind = "directory"
path = {input:?}
watch = false
{stages}
[[sinks]]
id = "out"
kind = "files"
input = "counts"
path = {out:?}
"#,
            stages = stages.replace("{P}", &parallelism.to_string()),
        ),
    )?;
    let log = dir.join("stderr.log");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_wasmstream"))
        .arg("run")
        .arg(&manifest)
        .env("WASMSTREAM_CACHE", cache)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let (status, peak_rss) = wait_measured(child.id())?;
    let took = started.elapsed();
    anyhow::ensure!(
        status == 0,
        "wasmstream run {} exited with status {status}: {}",
        manifest.display(),
        std::fs::read_to_string(&log)?
    );
    Ok(Run {
        out,
        took,
        peak_rss,
    })
}

/// Waits for process `pid`: its exit status and its peak resident memory
/// in bytes, as the kernel counted them.
fn wait_measured(pid: u32) -> anyhow::Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not waited for yet; both pointers are
    // valid for writes.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        waited == pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    let code = match libc::WIFEXITED(status) {
        true => libc::WEXITSTATUS(status),
        false => -1,
    };
    Ok((code, usage.ru_maxrss as u64 * 1024))
}

/// The `(key,value)` lines of every batch file a run wrote.
fn output_lines(run: &Run, mut each: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    for file in files(&run.out)? {
        for line in std::fs::read_to_string(&file)?.lines() {
            each(line).map_err(|e| anyhow::anyhow!("{}: {line:?}: {e}", file.display()))?;
        }
    }
    Ok(())
}

/// `(word,count)` -> word, count.
fn pair(line: &str) -> anyhow::Result<(&str, u64)> {
    let inner = line
        .strip_prefix('(')
        .and_then(|l| l.split_once(')'))
        .ok_or_else(|| anyhow::anyhow!("not a (key,value) line"))?
        .0;
    let (word, n) = inner
        .rsplit_once(',')
        .ok_or_else(|| anyhow::anyhow!("no comma"))?;
    Ok((word, n.parse()?))
}

/// Per-batch counts added up over the batches.
fn batch_totals(run: &Run) -> anyhow::Result<Counts> {
    let mut counts = Counts::new();
    output_lines(run, |line| {
        let (word, n) = pair(line)?;
        *counts.entry(word.to_owned()).or_default() += n;
        Ok(())
    })?;
    Ok(counts)
}

/// Each window's counts (a window is emitted once).
fn window_totals(run: &Run) -> anyhow::Result<HashMap<(i64, String), u64>> {
    let mut counts = HashMap::new();
    output_lines(run, |line| {
        let (word, n) = pair(line)?;
        let start: i64 = line
            .split_once(" window_start=")
            .and_then(|(_, rest)| rest.split(' ').next())
            .ok_or_else(|| anyhow::anyhow!("no window_start"))?
            .parse()?;
        anyhow::ensure!(
            counts.insert((start, word.to_owned()), n).is_none(),
            "window {start} counted `{word}` twice"
        );
        Ok(())
    })?;
    Ok(counts)
}
