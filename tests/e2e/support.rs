//! Helpers shared by the end-to-end tests.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long any wait in these tests may take before it counts as a failure.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the repository")
        .to_owned()
}

/// The built component of a plugin or fixture crate, e.g. `"split_words"`.
pub fn wasm(name: &str) -> PathBuf {
    let path = repo()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guests first (tests/run does: cargo build --release --target wasm32-wasip2 -p <crate>)",
        path.display()
    );
    path
}

/// A fresh, empty folder for one test.
pub fn scratch(test: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = repo().join("target/e2e-scratch").join(format!(
        "{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The `wasmstream` binary, with a compile cache shared by all tests.
pub fn wasmstream() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmstream"));
    command
        .env("WASMSTREAM_CACHE", repo().join("target/e2e-cache"))
        .current_dir(repo());
    command
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `wasmstream` with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    let out = wasmstream().args(args).output().expect("run wasmstream");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `wasmstream run <manifest>` and expects success.
pub fn run_ok(manifest: &Path) -> Output {
    let out = run(&["run", manifest.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "wasmstream run failed ({}):\n{}",
        out.status,
        out.stderr
    );
    out
}

/// Writes `text` as `dir/manifest.toml`.
pub fn manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("manifest.toml");
    std::fs::write(&path, text).expect("write manifest");
    path
}

/// A TOML string literal for a path.
pub fn toml_path(path: &Path) -> String {
    format!("{:?}", path.to_str().expect("utf-8 path"))
}

/// Each `batch-<id>.txt` file a files sink wrote into `dir`, by batch id,
/// with its text (none if `dir` does not exist yet).
pub fn batch_texts(dir: &Path) -> BTreeMap<u64, String> {
    let mut batches = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_prefix("batch-")
            .and_then(|n| n.strip_suffix(".txt"))
        else {
            continue;
        };
        batches.insert(id.parse().unwrap(), std::fs::read_to_string(&path).unwrap());
    }
    batches
}

/// Every line of every file in `dir` (a files sink), in file name order.
pub fn output_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("dir entry").path())
            .filter(|p| !is_hidden(p))
            .collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read output")
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Each file a files sink wrote in `dir` (named by batch id), with its
/// lines as a set: partitions may write a batch's records in any order.
pub fn batch_files(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| !is_hidden(p))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("read output");
            (name, text.lines().map(str::to_owned).collect())
        })
        .collect()
}

/// The files `batch_files` should find: `(file name, lines)`.
pub fn expected_files(files: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    files
        .iter()
        .map(|(name, lines)| {
            let lines = lines.iter().map(|l| l.to_string()).collect();
            (name.to_string(), lines)
        })
        .collect()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Parses `(key,value)` lines into a map, summing values of repeated keys
/// (a key can appear once per batch).
pub fn counts<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let pair = line
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not a (key,value) line: {line:?}"));
        let (key, value) = pair
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("no comma in {line:?}"));
        *counts.entry(key.to_owned()).or_insert(0) += value
            .parse::<i64>()
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
    counts
}

/// A child's stderr as it arrives, with a signal for each new line.
#[derive(Default)]
struct Log {
    text: Mutex<String>,
    grew: Condvar,
}

/// A `wasmstream` process running in the background, its output collected
/// as it arrives so a test can wait for a log line.
pub struct Running {
    /// The process, until [`Running::finish`] hands it to its waiter.
    child: Option<Child>,
    pid: u32,
    log: Arc<Log>,
    /// What it printed on stdout so far.
    out: Arc<Log>,
    readers: Vec<std::thread::JoinHandle<String>>,
}

impl Running {
    /// Starts `wasmstream` with `args`, with debug logs on.
    pub fn start(args: &[&str], stdin: Stdio) -> Running {
        let mut child = wasmstream()
            .args(args)
            .env("RUST_LOG", "info,wasmstream=debug")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wasmstream");
        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.text.lock().expect("log lock");
                text.push_str(&line);
                text.push('\n');
                sink.grew.notify_all();
            }
            String::new()
        });
        // Read stdout as it comes too, so a chatty child never blocks on a
        // full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let out = Arc::new(Log::default());
        let sink = out.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.text.lock().expect("stdout lock");
                text.push_str(&line);
                text.push('\n');
                sink.grew.notify_all();
            }
            sink.text.lock().expect("stdout lock").clone()
        });
        Running {
            pid: child.id(),
            child: Some(child),
            log,
            out,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's stdin, if it was piped.
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin was piped")
    }

    /// Closes the child's stdin: its input ends.
    pub fn close_stdin(&mut self) {
        let stdin = self.child.as_mut().and_then(|c| c.stdin.take());
        drop(stdin.expect("stdin was piped"));
    }

    /// Waits until stdout has a line containing `text`; returns that line.
    pub fn wait_for_stdout(&self, text: &str) -> String {
        let start = Instant::now();
        let mut out = self.out.text.lock().expect("stdout lock");
        loop {
            if let Some(line) = out.lines().find(|l| l.contains(text)) {
                return line.to_owned();
            }
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "timed out after {DEADLINE:?} waiting until stdout says {text:?}; it has:\n{out}\nlog:\n{}",
                self.stderr()
            );
            out = self
                .out
                .grew
                .wait_timeout(out, left)
                .expect("stdout lock")
                .0;
        }
    }

    /// What the process has logged so far.
    pub fn stderr(&self) -> String {
        self.log.text.lock().expect("log lock").clone()
    }

    /// Waits until the log contains `text`, woken by each new line.
    pub fn wait_for_log(&self, text: &str) {
        let start = Instant::now();
        let mut log = self.log.text.lock().expect("log lock");
        while !log.contains(text) {
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "timed out after {DEADLINE:?} waiting until the log says {text:?}; it has:\n{log}"
            );
            log = self.log.grew.wait_timeout(log, left).expect("log lock").0;
        }
    }

    /// Waits until `condition` (about files the process writes) holds,
    /// looking again each time the process logs a line: it logs every
    /// batch once the batch's output is written (`batch done`), so a
    /// condition on the output is seen as soon as it holds. Fails the test
    /// with `what` if it does not hold within [`DEADLINE`].
    pub fn wait_until(&self, what: &str, condition: impl FnMut() -> bool) {
        self.wait_until_within(DEADLINE, what, condition);
    }

    /// [`Self::wait_until`] with a deadline of `limit` instead.
    pub fn wait_until_within(
        &self,
        limit: Duration,
        what: &str,
        mut condition: impl FnMut() -> bool,
    ) {
        let start = Instant::now();
        let mut log = self.log.text.lock().expect("log lock");
        loop {
            let seen = log.len();
            drop(log);
            if condition() {
                return;
            }
            log = self.log.text.lock().expect("log lock");
            while log.len() == seen {
                let left = limit.checked_sub(start.elapsed()).unwrap_or_default();
                assert!(
                    !left.is_zero(),
                    "timed out after {limit:?} waiting until {what}; the log has:\n{log}"
                );
                log = self.log.grew.wait_timeout(log, left).expect("log lock").0;
            }
        }
    }

    /// Waits until the log has `lines` more lines than it has now.
    pub fn wait_for_more_lines(&self, lines: usize) {
        let start = Instant::now();
        let mut log = self.log.text.lock().expect("log lock");
        let wanted = log.lines().count() + lines;
        while log.lines().count() < wanted {
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "timed out after {DEADLINE:?} waiting for {lines} more log lines; it has:\n{log}"
            );
            log = self.log.grew.wait_timeout(log, left).expect("log lock").0;
        }
    }

    /// Waits until the log contains `text` at least `times` times.
    pub fn wait_for_log_times(&self, text: &str, times: usize) {
        let start = Instant::now();
        let mut log = self.log.text.lock().expect("log lock");
        while log.matches(text).count() < times {
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
            assert!(
                !left.is_zero(),
                "timed out after {DEADLINE:?} waiting until the log says {text:?} {times} times; it has:\n{log}"
            );
            log = self.log.grew.wait_timeout(log, left).expect("log lock").0;
        }
    }

    /// The most memory the process has held so far (its peak resident
    /// set, `VmHWM`), in bytes.
    pub fn peak_memory(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("read the process's status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in the process's status");
        kib * 1024
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends SIGTERM, as a service manager does to stop a server.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGKILL: the process dies at once, mid-whatever it was doing.
    pub fn kill(self) -> Output {
        self.signal("-KILL");
        self.finish()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits for the process to exit; returns its status, stdout and stderr.
    pub fn finish(mut self) -> Output {
        let mut child = self.child.take().expect("finish is called once");
        let (exited, exit) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = exited.send(child.wait());
        });
        let status = match exit.recv_timeout(DEADLINE) {
            Ok(status) => status.expect("wait for wasmstream"),
            Err(_) => {
                self.signal("-KILL");
                panic!(
                    "wasmstream did not exit within {DEADLINE:?}; log:\n{}",
                    self.stderr()
                );
            }
        };
        let mut outputs = self
            .readers
            .drain(..)
            .map(|r| r.join().expect("output reader"));
        let stdout = outputs.next().expect("stdout reader");
        outputs.for_each(drop);
        Output {
            status,
            stdout,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
    }
}

/// A loopback port nothing listens on now, for a server of a test's own.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// A small random number generator for kill points. Its seed comes from
/// `WASMSTREAM_TEST_SEED` if set, else from the clock; it is printed (and
/// shown with a failing test's output) so the run can be repeated with
/// `WASMSTREAM_TEST_SEED=<seed>`.
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Jitter {
        let seed = match std::env::var("WASMSTREAM_TEST_SEED") {
            Ok(seed) => seed
                .parse()
                .unwrap_or_else(|_| panic!("WASMSTREAM_TEST_SEED={seed:?} is not a number")),
            Err(_) => SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        println!("kill timing seed: {seed} (repeat with WASMSTREAM_TEST_SEED={seed})");
        // xorshift must not start from 0.
        Jitter(seed | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `manifest` (pipeline `pipeline`) and kills it with SIGKILL
/// `kills` times, restarting it each time, then lets it run to its end,
/// which must be a success. Each kill comes once the run has done a batch
/// no run before it did (its log line `batch done pipeline=<pipeline>
/// batch=<n>`) and a random number of log lines more: the process runs on
/// while the signal is sent, so a kill lands mid-batch, mid-checkpoint or
/// mid-wait. Fails if the input runs out (after `batches` batches) before
/// the last kill. Returns each killed run's log.
pub fn kill_again_and_again(
    manifest: &Path,
    pipeline: &str,
    kills: usize,
    batches: u64,
) -> Vec<String> {
    let done = format!("batch done pipeline={pipeline} batch=");
    let mut jitter = Jitter::new();
    let (mut logs, mut newest_batch) = (Vec::new(), 0);
    while logs.len() < kills {
        let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
        newest_batch += 1;
        running.wait_for_log(&format!("{done}{newest_batch} "));
        running.wait_for_more_lines(jitter.below(6) as usize);
        let log = running.kill().stderr;
        newest_batch = log
            .lines()
            .filter_map(|l| l.split(&done).nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .max()
            .unwrap_or(newest_batch);
        logs.push(log);
        assert!(
            newest_batch < batches,
            "the input ran out after {} kills; make it longer",
            logs.len()
        );
    }
    let last = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null()).finish();
    assert!(last.status.success(), "{}", last.stderr);
    logs
}

/// Example `name` as shipped, its component and data paths made absolute
/// so it runs (and writes its output) in `dir`: the manifest there.
pub fn example_in(name: &str, dir: &Path) -> PathBuf {
    let example = repo().join("examples").join(name);
    let release = repo().join("target/wasm32-wasip2/release/");
    let manifest = std::fs::read_to_string(example.join("manifest.toml"))
        .unwrap()
        .replace(
            "../../target/wasm32-wasip2/release/",
            release.to_str().unwrap(),
        )
        .replace("\"data\"", &format!("{:?}", example.join("data")));
    std::fs::write(dir.join("manifest.toml"), manifest).unwrap();
    dir.join("manifest.toml")
}

/// The `versioned-counter` fixture with its stamp set to `version` and
/// `mode` (see the fixture's docs): a new version without a build.
pub fn versioned_counter(version: &str, mode: &str) -> Vec<u8> {
    stamped("versioned_counter", version, mode)
}

/// The `versioned-map` fixture stamped `version`: a new version of a map
/// without a build.
pub fn versioned_map(version: &str) -> Vec<u8> {
    stamped("versioned_map", version, "ok")
}

/// The built fixture `name` with its stamp set to `version` and `mode`.
fn stamped(name: &str, version: &str, mode: &str) -> Vec<u8> {
    let built = std::fs::read(wasm(name)).unwrap();
    let from = b"wasmstream-test-stamp:v00:ok      ";
    let to = format!("wasmstream-test-stamp:{version}:{mode:<8}");
    assert_eq!(to.len(), from.len());
    let at = built
        .windows(from.len())
        .position(|w| w == from)
        .expect("the fixture holds its stamp");
    let mut bytes = built;
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    bytes
}

/// Replaces `file` the way a build does: written beside it, renamed over.
pub fn install(file: &Path, bytes: &[u8]) {
    let temporary = file.with_extension("wasm.tmp");
    std::fs::write(&temporary, bytes).unwrap();
    std::fs::rename(&temporary, file).unwrap();
}

/// The component `wasmstream build` makes of a stock plugin's port to
/// `lang` (`python` or `js`: `plugins/<plugin>/<lang>/`), built once per
/// test run (the first build also installs the language's toolchain into
/// the tools cache).
pub fn port(lang: &str, plugin: &str) -> PathBuf {
    let kind = match plugin {
        "split-words" => "flat_map",
        "json-filter" => "filter",
        "running-count" => "update_state_by_key",
        "merge-json" => "join",
        "event-sessions" => "process_by_key",
        other => panic!("no port of {other} is known to the tests"),
    };
    let app_dir = repo().join("plugins").join(plugin).join(lang);
    component_of(lang, &format!("{lang}-{plugin}"), &app_dir, kind)
}

/// The component `wasmstream build` makes of the fixture
/// `tests/fixtures/<name>/` in `lang`, a stage of `kind`, once per test
/// run.
pub fn fixture_in(lang: &str, name: &str, kind: &str) -> PathBuf {
    component_of(lang, name, &repo().join("tests/fixtures").join(name), kind)
}

fn component_of(lang: &str, name: &str, app_dir: &Path, kind: &str) -> PathBuf {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("target/e2e-ports").join(name);
    let component = dir.join(format!("{}.wasm", name.replace('-', "_")));
    if built.contains(name) {
        return component;
    }
    std::fs::create_dir_all(&dir).expect("create the build folder");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "build-{name}"

[[sources]]
id = "in"
kind = "directory"
path = "in"

[[stages]]
id = "op"
kind = "{kind}"
input = "in"
component = {}
build = {{ lang = "{lang}", workdir = {} }}

[[sinks]]
id = "out"
kind = "stdout"
input = "op"
"#,
            toml_path(&component),
            toml_path(app_dir),
        ),
    );
    let out = run(&["build", manifest.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success() && component.is_file(),
        "wasmstream build of {name} ({lang}) failed ({}):\n{}",
        out.status,
        out.stderr
    );
    built.insert(name.to_owned());
    component
}
