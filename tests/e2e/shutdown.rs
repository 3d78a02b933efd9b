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
