//! Helpers shared by the end-to-end tests.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Polls `condition` every few milliseconds until it holds; fails the test
/// with `what` if it does not within [`DEADLINE`].
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    wait_or_explain(condition, || what.to_owned());
}

/// Like [`wait_until`], with the failure message made at the moment of
/// failure, so it can show the latest state.
fn wait_or_explain(mut condition: impl FnMut() -> bool, explain: impl Fn() -> String) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting until {}",
            explain()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `wasmstream` process running in the background, its stderr collected
/// as it arrives so a test can wait for a log line.
pub struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
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
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut all = sink.lock().expect("stderr lock");
                all.push_str(&line);
                all.push('\n');
            }
        });
        Running {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// The child's stdin, if it was piped.
    pub fn stdin(&mut self) -> &mut std::process::ChildStdin {
        self.child.stdin.as_mut().expect("stdin was piped")
    }

    /// What the process has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Waits until the log contains `text`.
    pub fn wait_for_log(&self, text: &str) {
        wait_or_explain(
            || self.stderr().contains(text),
            || format!("the log says {text:?}; it has:\n{}", self.stderr()),
        );
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits for the process to exit; returns its status, stdout and stderr.
    pub fn finish(mut self) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for wasmstream") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!(
                    "wasmstream did not exit within {DEADLINE:?}; log:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stdout).expect("read stdout");
        }
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        Output {
            status,
            stdout,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
