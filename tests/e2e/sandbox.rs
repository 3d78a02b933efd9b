//! Story: a platform team runs an operator that misbehaves. The sandbox
//! stops it within its budget, the error names the pipeline, stage and
//! operator file, and other pipelines in the same process carry on.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{Running, manifest, output_lines, scratch, toml_path, wasm};

fn misbehaving(dir: &Path, name: &str, params: &str, limits: &str, on_error: &str) -> PathBuf {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "{name}"
batch_interval = "50ms"
on_error = "{on_error}"

[[sources]]
id = "gen"
kind = "generator"
records = 100
rate = 1000

[[stages]]
id = "bad"
kind = "map"
input = "gen"
component = {}
params = {{ {params} }}
limits = {{ {limits} }}

[[sinks]]
id = "out"
kind = "files"
input = "bad"
path = "out"
"#,
            toml_path(&wasm("misbehaving_map"))
        ),
    )
}

#[test]
fn looping_and_memory_hungry_operators_are_stopped_while_other_pipelines_keep_running() {
    let dir = scratch("sandbox");
    // The healthy pipeline reads files the test drops in, so it has work
    // both before and after the others fail, however long compiling takes.
    let healthy_dir = dir.join("healthy");
    let healthy_in = healthy_dir.join("in");
    std::fs::create_dir_all(&healthy_in).unwrap();
    let lines = |from: usize| -> String {
        (from..from + 20000)
            .map(|i| format!("LINE-{i:05}\n"))
            .collect()
    };
    std::fs::write(healthy_in.join("1.txt"), lines(0)).unwrap();
    let healthy = manifest(
        &healthy_dir,
        &format!(
            r#"
[pipeline]
name = "healthy"
batch_interval = "50ms"

[[sources]]
id = "files"
kind = "directory"
path = "in"

[[stages]]
id = "lower"
kind = "map"
input = "files"
component = {}

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    let looping = misbehaving(
        &dir,
        "looping",
        r#"mode = "loop""#,
        r#"cpu = "100ms""#,
        "stop",
    );
    let hog = misbehaving(
        &dir,
        "hog",
        r#"mode = "hog""#,
        r#"memory = "16MiB""#,
        "stop",
    );

    let running = Running::start(
        &[
            "run",
            healthy.to_str().unwrap(),
            looping.to_str().unwrap(),
            hog.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let component = wasm("misbehaving_map");
    running.wait_for_log(&format!(
        "error: pipeline `looping`: batch 1: stage `bad` (operator {}), partition 0, exceeded its CPU budget of 100 ms per call and was stopped in a call of",
        component.display()
    ));
    running.wait_for_log(&format!(
        "error: pipeline `hog`: batch 1: stage `bad` (operator {}), partition 0, exceeded its memory limit of 16 MiB and was stopped in a call of",
        component.display()
    ));
    // After both failed, the healthy pipeline still takes new input.
    let healthy_out = healthy_dir.join("out");
    // Written aside and renamed in, so the source never sees half a file.
    std::fs::write(healthy_dir.join("2.txt"), lines(20000)).unwrap();
    std::fs::rename(healthy_dir.join("2.txt"), healthy_in.join("2.txt")).unwrap();
    running.wait_until("the healthy pipeline has written both files", || {
        output_lines(&healthy_out).len() == 40000
    });
    running.interrupt();

    let result = running.finish();
    assert_eq!(
        result.status.code(),
        Some(1),
        "two pipelines failed:\n{}",
        result.stderr
    );
    let mut lines = output_lines(&healthy_out);
    lines.sort();
    let expected: Vec<String> = (0..40000).map(|i| format!("line-{i:05}")).collect();
    assert_eq!(lines, expected, "the healthy pipeline lost nothing");
    assert!(result.stderr.contains("done: "), "{}", result.stderr);
}

#[test]
fn a_panic_reports_its_message_and_skip_drops_only_that_batch() {
    let dir = scratch("panic-skip");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/1.txt"), "ok\nboom\nok\n").unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "panicky"
batch_interval = "50ms"
on_error = "skip"

[[sources]]
id = "in"
kind = "directory"
path = "in"

[[stages]]
id = "fragile"
kind = "map"
input = "in"
component = {}
params = {{ mode = "panic", on = "boom" }}

[[sinks]]
id = "out"
kind = "files"
input = "fragile"
path = "out"
"#,
            toml_path(&wasm("misbehaving_map"))
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    running
        .wait_for_log("operator panicked: panicked at tests/fixtures/misbehaving-map/src/lib.rs");
    running.wait_for_log("fixture asked to panic on \"boom\"");
    running.wait_for_log("batch skipped (on_error = \"skip\")");

    // The next batch gets a fresh instance and goes through.
    std::fs::write(dir.join("in/2.txt"), "fine\nstill fine\n").unwrap();
    running.wait_until("the next batch is written", || {
        output_lines(&dir.join("out")).len() == 2
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(output_lines(&dir.join("out")), ["fine", "still fine"]);
    assert!(
        result
            .stderr
            .contains("1 batches skipped (3 records dropped)"),
        "{}",
        result.stderr
    );
}
