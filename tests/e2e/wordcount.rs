//! Story: a data engineer runs the bundled wordcount example and gets the
//! exact count of every word in the sample text.

use std::collections::BTreeMap;

use std::process::Stdio;

use crate::support::{
    Running, batch_files, counts, output_lines, repo, run_ok, scratch, toml_path, wasm,
};

/// Counts words the way the example defines them (runs of letters, digits,
/// `'` and `_`, lowercased), written independently of the plugins.
fn independent_count(text: &str) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '\'' || c == '_' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            *counts.entry(std::mem::take(&mut word)).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn wordcount_example_prints_exact_counts() {
    let data = repo().join("examples/wordcount/data");
    let mut text = String::new();
    for file in std::fs::read_dir(&data).unwrap() {
        text.push_str(&std::fs::read_to_string(file.unwrap().path()).unwrap());
        text.push('\n');
    }
    let expected = independent_count(&text);

    let out = run_ok(&repo().join("examples/wordcount/manifest.toml"));
    let printed = counts(out.stdout.lines().filter(|l| l.starts_with('(')));

    assert_eq!(printed, expected);
    assert_eq!(printed["what"], 8, "the sample's most frequent word");
    assert!(
        out.stdout.contains("Time: "),
        "pprint shows each batch's time:\n{}",
        out.stdout
    );
    assert!(!out.stdout.contains("more)"), "every count is printed");
}

/// Story: a data engineer counts a backlog of files with
/// `trigger = "available-now"`. Batches run back to back (the hour-long
/// interval is never waited for), both ways of counting words (the stock
/// `split-words` + `sum` plugins, and the built-in `count_by_value`) fold
/// each partition's words before the exchange, and the counts added up
/// over the batches are exact; then the run stops by itself.
#[test]
fn available_now_counts_a_backlog_in_back_to_back_batches_then_stops() {
    let dir = scratch("available-now");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut text = String::new();
    for f in 0..4 {
        let mut file = String::new();
        for line in 0..250 {
            let words: Vec<String> = (0..7)
                .map(|w| format!("w{}", (f * 31 + line * 7 + w * w) % 53))
                .collect();
            file.push_str(&words.join(" "));
            file.push('\n');
        }
        std::fs::write(data.join(format!("part-{f}.txt")), &file).unwrap();
        text.push_str(&file);
    }
    let expected = independent_count(&text);
    let manifest = dir.join("manifest.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "backlog"
batch_interval = "1h"
trigger = "available-now"

[[sources]]
id = "lines"
kind = "directory"
path = "data"
max_batch_records = 100

[[stages]]
id = "pairs"
kind = "flat_map"
input = "lines"
component = {split}
params = {{ emit = "pairs" }}
parallelism = 2

[[stages]]
id = "sums"
kind = "reduce_by_key"
input = "pairs"
component = {sum}
parallelism = 3

[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {split}
parallelism = 2

[[stages]]
id = "counted"
kind = "count_by_value"
input = "words"
parallelism = 2

[[sinks]]
id = "sums-out"
kind = "files"
input = "sums"
path = "out/sums"

[[sinks]]
id = "counted-out"
kind = "files"
input = "counted"
path = "out/counted"
"#,
            split = toml_path(&wasm("split_words")),
            sum = toml_path(&wasm("sum")),
        ),
    )
    .unwrap();

    let run = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null()).finish();
    assert!(run.status.success(), "{}", run.stderr);
    for sink in ["sums", "counted"] {
        let out = dir.join("out").join(sink);
        assert_eq!(
            batch_files(&out).len(),
            10,
            "{sink}: 1,000 lines at 100 a batch"
        );
        let lines = output_lines(&out);
        assert_eq!(
            counts(lines.iter().map(String::as_str)),
            expected,
            "{sink}: the counts added up over the batches"
        );
    }
}
