//! Story: a data engineer aggregates over windows. Over the last few
//! batches (processing time, like Spark's reduceByKeyAndWindow and
//! countByValueAndWindow), and over the records' own timestamps (event
//! time), with out-of-order records, a watermark, allowed lateness and a
//! side output for records too late to count.
//!
//! Each source takes two records per batch (`max_batch_records = 2`) from
//! files present at start, so every run cuts the same batches and each
//! output file (named by batch id) has exactly known contents.

use std::path::{Path, PathBuf};

use crate::support::{batch_files, expected_files, run_ok, scratch, toml_path, wasm};

/// A folder `in` holding one file with `lines`, under a fresh test folder.
fn input(test: &str, lines: &[&str]) -> PathBuf {
    let dir = scratch(test);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/input.txt"), lines.join("\n") + "\n").unwrap();
    dir
}

/// A pipeline `dir/<name>.toml` reading `dir/in` two lines per batch,
/// through `stages`, into one files sink per `(sink folder, stream)`.
fn pipeline(dir: &Path, name: &str, stages: &str, sinks: &[(&str, &str)]) -> PathBuf {
    let sinks: String = sinks
        .iter()
        .map(|(folder, stream)| {
            format!(
                "\n[[sinks]]\nid = \"{folder}\"\nkind = \"files\"\ninput = \"{stream}\"\npath = \"{folder}\"\n"
            )
        })
        .collect();
    let text = format!(
        r#"
[pipeline]
name = "{name}"
batch_interval = "20ms"

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false
max_batch_records = 2
{stages}
{sinks}"#
    );
    let manifest = dir.join(format!("{name}.toml"));
    std::fs::write(&manifest, text).unwrap();
    manifest
}

#[test]
fn reduce_by_key_and_window_gives_the_same_counts_with_and_without_an_inverse() {
    // Two lines per batch: five batches.
    let dir = input(
        "reduce-window",
        &["a b", "a", "b c", "a", "c c", "d", "a", "d", "a", "a"],
    );
    let words = format!(
        r#"
[[stages]]
id = "words"
kind = "flat_map"
input = "in"
component = {}
params = {{ emit = "pairs" }}
"#,
        toml_path(&wasm("split_words"))
    );
    let windowed = |inverse: &str| {
        format!(
            r#"{words}
[[stages]]
id = "counts"
kind = "reduce_by_key_and_window"
input = "words"
component = {}
{inverse}
window = "60ms"
parallelism = 2
"#,
            toml_path(&wasm("sum"))
        )
    };
    let inverse = format!("inverse = {}", toml_path(&wasm("subtract")));
    run_ok(&pipeline(
        &dir,
        "plain",
        &windowed(""),
        &[("plain", "counts")],
    ));
    run_ok(&pipeline(
        &dir,
        "inverse",
        &windowed(&inverse),
        &[("inverse", "counts")],
    ));

    // A window of three batches, emitted every batch (the default slide).
    let expected = expected_files(&[
        ("batch-000001.txt", &["(a,2)", "(b,1)"]),
        ("batch-000002.txt", &["(a,3)", "(b,2)", "(c,1)"]),
        ("batch-000003.txt", &["(a,3)", "(b,2)", "(c,3)", "(d,1)"]),
        ("batch-000004.txt", &["(a,2)", "(b,1)", "(c,3)", "(d,2)"]),
        // `b` was only in the first two batches: gone from the window.
        ("batch-000005.txt", &["(a,3)", "(c,2)", "(d,2)"]),
    ]);
    assert_eq!(
        batch_files(&dir.join("plain")),
        expected,
        "without an inverse"
    );
    assert_eq!(
        batch_files(&dir.join("inverse")),
        expected,
        "with an inverse"
    );
}

#[test]
fn count_by_value_and_window_and_window_emit_every_slide() {
    let dir = input(
        "count-window",
        &["x", "y", "x", "x", "z", "y", "x", "z", "y"],
    );
    let stages = r#"
[[stages]]
id = "counts"
kind = "count_by_value_and_window"
input = "in"
window = "80ms"
slide = "40ms"
parallelism = 3

[[stages]]
id = "pairs-of-batches"
kind = "window"
input = "in"
window = "40ms"
slide = "40ms"
"#;
    let manifest = pipeline(
        &dir,
        "count-window",
        stages,
        &[("counted", "counts"), ("windows", "pairs-of-batches")],
    );
    run_ok(&manifest);

    // Batches: x y | x x | z y | x z | y. Windows of four batches, every
    // second batch; the fifth batch is not a slide, so emits nothing.
    assert_eq!(
        batch_files(&dir.join("counted")),
        expected_files(&[
            ("batch-000002.txt", &["(x,3)", "(y,1)"]),
            ("batch-000004.txt", &["(x,4)", "(y,2)", "(z,2)"]),
        ])
    );
    assert_eq!(
        batch_files(&dir.join("windows")),
        expected_files(&[
            ("batch-000002.txt", &["x", "y"]),
            ("batch-000004.txt", &["z", "y", "x"]),
        ])
    );
}

/// `{"k":..,"t":..,"n":1}` for each `(key, seconds)`.
fn readings(events: &[(&str, i64)]) -> Vec<String> {
    events
        .iter()
        .map(|(k, t)| format!(r#"{{"k":"{k}","t":{},"n":1}}"#, t * 1000))
        .collect()
}

#[test]
fn event_time_tumbling_windows_take_late_records_until_allowed_lateness_then_side_output_them() {
    // Two records per batch; the watermark trails the latest time seen in
    // earlier batches by 2s.
    let events = readings(&[
        ("a", 1),
        ("a", 4), // batch 1
        ("b", 12),
        ("a", 9), // batch 2: watermark 2s
        ("a", 7),
        ("b", 23), // batch 3: watermark 10s; [0s,10s) is emitted
        ("a", 8),
        ("b", 25), // batch 4: watermark 21s; a@8s is late but allowed: [0s,10s) again
        ("a", 31),
        ("b", 40), // batch 5: watermark 23s
        ("a", 3),
        ("a", 45), // batch 6: watermark 38s; a@3s is past [0s,10s)'s lateness
    ]);
    let lines: Vec<&str> = events.iter().map(String::as_str).collect();
    let dir = input("event-tumbling", &lines);
    let stages = format!(
        r#"
[[stages]]
id = "events"
kind = "map"
input = "in"
component = {}
params = {{ key = "k", value = "n", timestamp = "t" }}

[[stages]]
id = "per-10s"
kind = "reduce_by_key_and_window"
input = "events"
component = {}
time = "event"
window = "10s"
watermark = "2s"
allowed_lateness = "15s"
parallelism = 2
"#,
        toml_path(&wasm("json_extract")),
        toml_path(&wasm("sum"))
    );
    let manifest = pipeline(
        &dir,
        "event-tumbling",
        &stages,
        &[("windows", "per-10s"), ("late", "per-10s.late")],
    );
    let output = run_ok(&manifest);

    assert_eq!(
        batch_files(&dir.join("windows")),
        expected_files(&[
            (
                "batch-000003.txt",
                &["(a,4) window_start=0 window_end=10000"]
            ),
            (
                "batch-000004.txt",
                &[
                    "(a,5) window_start=0 window_end=10000",
                    "(b,1) window_start=10000 window_end=20000",
                ]
            ),
            // The last batch (every source ended) emits every open window.
            (
                "batch-000006.txt",
                &[
                    "(b,2) window_start=20000 window_end=30000",
                    "(a,1) window_start=30000 window_end=40000",
                    "(a,1) window_start=40000 window_end=50000",
                    "(b,1) window_start=40000 window_end=50000",
                ]
            ),
        ])
    );
    assert_eq!(
        batch_files(&dir.join("late")),
        expected_files(&[("batch-000006.txt", &["(a,1)"])])
    );
    assert!(
        output.stderr.contains("records_late=1"),
        "{}",
        output.stderr
    );
}

#[test]
fn event_time_sliding_windows_count_out_of_order_records_once_per_window() {
    let events = readings(&[
        ("x", 1),
        ("y", 6), // batch 1
        ("x", 7),
        ("x", 12), // batch 2: watermark 6s; [-5s,5s) is emitted
        ("y", 3),
        ("x", 21), // batch 3: watermark 12s; y@3s is too late for both its windows
    ]);
    let lines: Vec<&str> = events.iter().map(String::as_str).collect();
    let dir = input("event-sliding", &lines);
    let stages = format!(
        r#"
[[stages]]
id = "events"
kind = "map"
input = "in"
component = {}
params = {{ value = "k", timestamp = "t" }}

[[stages]]
id = "per-10s"
kind = "count_by_value_and_window"
input = "events"
time = "event"
window = "10s"
slide = "5s"
"#,
        toml_path(&wasm("json_extract"))
    );
    let manifest = pipeline(
        &dir,
        "event-sliding",
        &stages,
        &[("windows", "per-10s"), ("late", "per-10s.late")],
    );
    run_ok(&manifest);

    assert_eq!(
        batch_files(&dir.join("windows")),
        expected_files(&[
            (
                "batch-000002.txt",
                &["(x,1) window_start=-5000 window_end=5000"]
            ),
            (
                "batch-000003.txt",
                &[
                    "(x,2) window_start=0 window_end=10000",
                    "(y,1) window_start=0 window_end=10000",
                    "(x,2) window_start=5000 window_end=15000",
                    "(y,1) window_start=5000 window_end=15000",
                    "(x,1) window_start=10000 window_end=20000",
                    "(x,1) window_start=15000 window_end=25000",
                    "(x,1) window_start=20000 window_end=30000",
                ]
            ),
        ])
    );
    assert_eq!(
        batch_files(&dir.join("late")),
        expected_files(&[("batch-000003.txt", &["y"])])
    );
}
