//! Story: an operator author uses each stock plugin and gets exactly what
//! its documentation promises.

use std::path::PathBuf;

use crate::support::{manifest, output_lines, run, run_ok, scratch, toml_path, wasm};

/// A one-stage pipeline: the lines of `input` through `plugin`, into files.
struct OneStage {
    dir: PathBuf,
    manifest: PathBuf,
}

fn one_stage(test: &str, kind: &str, plugin: &str, params: &str, input: &str) -> OneStage {
    let dir = scratch(test);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/input.txt"), input).unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "{test}"
batch_interval = "50ms"

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false

[[stages]]
id = "op"
kind = "{kind}"
input = "in"
component = {}
params = {{ {params} }}

[[sinks]]
id = "out"
kind = "files"
input = "op"
path = "out"
"#,
            toml_path(&wasm(plugin))
        ),
    );
    OneStage { dir, manifest }
}

impl OneStage {
    fn run(&self) -> Vec<String> {
        run_ok(&self.manifest);
        output_lines(&self.dir.join("out"))
    }
}

#[test]
fn split_words_emits_each_word_in_order() {
    let stage = one_stage(
        "split-words",
        "flat_map",
        "split_words",
        "",
        "Hello, wide  world!\n\nIt's snake_case 42\n",
    );
    assert_eq!(
        stage.run(),
        ["Hello", "wide", "world", "It's", "snake_case", "42"]
    );
}

#[test]
fn split_words_in_pairs_mode_keys_each_word_with_one() {
    let stage = one_stage(
        "split-words-pairs",
        "flat_map",
        "split_words",
        r#"emit = "pairs""#,
        "to be or\nnot to be\n",
    );
    assert_eq!(
        stage.run(),
        ["(to,1)", "(be,1)", "(or,1)", "(not,1)", "(to,1)", "(be,1)"]
    );
}

#[test]
fn lowercase_handles_ascii_and_unicode() {
    let stage = one_stage(
        "lowercase",
        "map",
        "lowercase",
        "",
        "MiXeD CaSe\nÜBER ÇA\nalready lower\n",
    );
    assert_eq!(stage.run(), ["mixed case", "über ça", "already lower"]);
}

#[test]
fn json_filter_keeps_records_whose_field_equals_the_value() {
    let input = [
        r#"{"status": 500, "path": "/a"}"#,
        r#"{"status": "500", "path": "/b"}"#,
        r#"{"status": 200, "path": "/c"}"#,
        r#"{"path": "/d"}"#,
        r#"{"nested": {"status": 500}, "status": 404}"#,
    ]
    .join("\n");
    let stage = one_stage(
        "json-filter",
        "filter",
        "json_filter",
        r#"field = "status", equals = "500""#,
        &input,
    );
    assert_eq!(
        stage.run(),
        [
            r#"{"status": 500, "path": "/a"}"#,
            r#"{"status": "500", "path": "/b"}"#
        ]
    );
}

#[test]
fn json_filter_fails_the_batch_naming_the_record_that_is_not_json() {
    let input = "{\"status\": 500}\nnot json at all\n";
    let stage = one_stage(
        "json-filter-bad",
        "filter",
        "json_filter",
        r#"field = "status", equals = "500""#,
        input,
    );
    let out = run(&["run", stage.manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let expected = format!(
        "error: pipeline `json-filter-bad`: batch 1: stage `op` (operator {}), partition 0, failed on record 1: value is not a JSON object: expected `{{` at byte 0, found `n` [record: \"not json at all\"]",
        wasm("json_filter").display()
    );
    assert!(
        out.stderr.contains(&expected),
        "expected:\n{expected}\ngot:\n{}",
        out.stderr
    );
    assert!(
        output_lines(&stage.dir.join("out")).is_empty(),
        "a failed batch writes nothing"
    );
}

#[test]
fn json_filter_can_drop_records_that_are_not_json() {
    let input = "{\"status\": 500}\nnot json at all\n{\"status\": 200}\n";
    let params = r#"field = "status", equals = "500", on_invalid = "drop""#;
    let stage = one_stage("json-filter-drop", "filter", "json_filter", params, input);
    assert_eq!(stage.run(), ["{\"status\": 500}"]);
}

#[test]
fn count_by_value_pairs_each_value_with_one() {
    let stage = one_stage("count-by-value", "map", "count_by_value", "", "x\ny\nx\n");
    assert_eq!(stage.run(), ["(x,1)", "(y,1)", "(x,1)"]);
}

#[test]
fn sum_adds_the_values_of_each_key() {
    let dir = scratch("sum");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/input.txt"), "b a b\nc b a\n").unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "sum"
batch_interval = "50ms"

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false

[[stages]]
id = "pairs"
kind = "flat_map"
input = "in"
component = {}
params = {{ emit = "pairs" }}

[[stages]]
id = "sum"
kind = "reduce_by_key"
input = "pairs"
component = {}

[[sinks]]
id = "out"
kind = "files"
input = "sum"
path = "out"
"#,
            toml_path(&wasm("split_words")),
            toml_path(&wasm("sum"))
        ),
    );
    run_ok(&manifest);
    assert_eq!(
        output_lines(&dir.join("out")),
        ["(b,3)", "(a,2)", "(c,1)"],
        "keys in order of first appearance"
    );
}

#[test]
fn json_extract_reads_fields_inside_nested_objects() {
    let input = [
        r#"{"bid": {"auction": 7, "price": {"cents": 4200}}, "ts": 1000}"#,
        r#"{"ts": 2000, "bid": {"price": {"cents": 99}, "auction": "a\"8"}}"#,
    ]
    .join("\n");
    let stage = one_stage(
        "json-extract-nested",
        "map",
        "json_extract",
        r#"key = "bid.auction", value = "bid.price.cents", timestamp = "ts""#,
        &input,
    );
    assert_eq!(stage.run(), ["(7,4200)", "(a\"8,99)"]);

    let missing = one_stage(
        "json-extract-nested-missing",
        "map",
        "json_extract",
        r#"key = "bid.bidder""#,
        &input,
    );
    let out = run(&["run", missing.manifest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("no field `bid.bidder`"),
        "{}",
        out.stderr
    );
}
