//! Story: an operator presses Ctrl-C. The current batch finishes, the sinks
//! are flushed, and every record that was read is in the output.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Running, manifest, output_lines, scratch, toml_path, wasm};

#[test]
fn ctrl_c_processes_everything_read_and_exits_cleanly() {
    let dir = scratch("ctrl-c");
    // An interval so long that no batch is cut before Ctrl-C: everything
    // read so far is still waiting when the signal arrives.
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "ctrl-c"
batch_interval = "1h"

[[sources]]
id = "in"
kind = "stdin"

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {}
parallelism = 3

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    let mut running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::piped());
    let sent: Vec<String> = (0..10_000).map(|i| format!("Record {i}")).collect();
    let mut text = sent.join("\n");
    text.push('\n');
    running.stdin().write_all(text.as_bytes()).unwrap();
    running.stdin().flush().unwrap();
    running.wait_for_log("total=10000");
    assert!(
        output_lines(&dir.join("out")).is_empty(),
        "no batch ran before Ctrl-C"
    );

    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("stopping: finishing the current batch"),
        "{}",
        result.stderr
    );
    let expected: Vec<String> = sent.iter().map(|l| l.to_lowercase()).collect();
    assert_eq!(output_lines(&dir.join("out")), expected);
    assert!(
        result
            .stderr
            .contains("10000 records in, 10000 records out"),
        "{}",
        result.stderr
    );
}

/// Batches that take longer than the interval leave a tick always ready,
/// and the loop used to pick between it and Ctrl-C at random, so a stop
/// could wait behind several more batches. Now the batch running when
/// Ctrl-C arrives finishes, one last batch takes what the sources offer,
/// and the pipeline stops.
#[test]
fn ctrl_c_stops_a_pipeline_whose_batches_overrun_the_interval() {
    let dir = scratch("ctrl-c-overrun");
    // About a second a batch, against an interval of 50 ms.
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "overrun"
batch_interval = "50ms"

[[sources]]
id = "gen"
kind = "generator"
max_batch_records = 50

[[stages]]
id = "slow"
kind = "map"
input = "gen"
component = {}
params = {{ mode = "slow", spins = "20000000" }}
limits = {{ cpu = "30s" }}

[[sinks]]
id = "out"
kind = "files"
input = "slow"
path = "out"
"#,
            toml_path(&wasm("misbehaving_map"))
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");
    let files = || {
        std::fs::read_dir(&out).map_or(0, |entries| {
            entries
                .filter(|e| {
                    !e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with('.')
                })
                .count()
        })
    };
    // Just after a batch is written the next one begins.
    running.wait_until("a batch is written", || files() >= 1);
    let before = files();
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    // Usually Ctrl-C lands in the running batch: it finishes, and one last
    // batch runs. On a busy machine it can land in the microseconds
    // between two batches: then only the last one runs. Never more.
    let after = files() - before;
    assert!(
        (1..=2).contains(&after),
        "{after} batches written after Ctrl-C; expected the running one (if any) and one last one"
    );
}
