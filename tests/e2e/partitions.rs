//! Story: a data engineer scales a stage out over partitions and merges
//! streams, and the results do not change.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{counts, manifest, output_lines, run_ok, scratch, toml_path, wasm};

/// Writes `lines` lines of deterministic words (a few thousand distinct).
fn words_file(path: &Path, lines: usize) -> BTreeMap<String, i64> {
    let mut expected = BTreeMap::new();
    let mut text = String::new();
    let mut state = 12345u64;
    for _ in 0..lines {
        for _ in 0..8 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = format!("w{}", (state >> 33) % 3000);
            *expected.entry(word.clone()).or_insert(0) += 1;
            text.push_str(&word);
            text.push(' ');
        }
        text.push('\n');
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    expected
}

/// What a wordcount run printed, and what it should have.
struct Counted {
    /// The counts the pipeline wrote, summed over batches.
    counts: BTreeMap<String, i64>,
    /// The counts of the input, computed here.
    expected: BTreeMap<String, i64>,
    /// Each batch's output lines.
    batches: Vec<Vec<String>>,
}

fn wordcount(test: &str, parallelism: usize) -> Counted {
    let dir = scratch(test);
    let expected = words_file(&dir.join("in/words.txt"), 5000);
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "{test}"
batch_interval = "100ms"

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
parallelism = {parallelism}

[[stages]]
id = "counts"
kind = "reduce_by_key"
input = "pairs"
component = {}
parallelism = {parallelism}

[[sinks]]
id = "out"
kind = "files"
input = "counts"
path = "out"
"#,
            toml_path(&wasm("split_words")),
            toml_path(&wasm("sum"))
        ),
    );
    run_ok(&manifest);
    let lines = output_lines(&dir.join("out"));
    let mut per_batch = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        per_batch.push(
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect(),
        );
    }
    Counted {
        counts: counts(lines.iter().map(String::as_str)),
        expected,
        batches: per_batch,
    }
}

#[test]
fn reduce_by_key_over_4_partitions_counts_exactly() {
    let four = wordcount("reduce-4", 4);
    assert_eq!(four.counts, four.expected);
    // The exchange sends each key to one partition: within a batch no key
    // is reported twice.
    for batch in &four.batches {
        let keys: std::collections::HashSet<_> = batch
            .iter()
            .map(|l| l.rsplit_once(',').unwrap().0)
            .collect();
        assert_eq!(keys.len(), batch.len(), "a key appears twice in one batch");
    }
    let one = wordcount("reduce-1", 1);
    assert_eq!(
        four.counts, one.counts,
        "4 partitions give the same counts as 1"
    );
}

#[test]
fn union_merges_two_streams() {
    let dir = scratch("union");
    for (folder, lines) in [("a", "A1\nA2\nA3\n"), ("b", "B1\nB2\n")] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        std::fs::write(dir.join(folder).join("in.txt"), lines).unwrap();
    }
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "union"
batch_interval = "100ms"

[[sources]]
id = "a"
kind = "directory"
path = "a"
watch = false

[[sources]]
id = "b"
kind = "directory"
path = "b"
watch = false

[[stages]]
id = "both"
kind = "union"
inputs = ["a", "b"]

[[stages]]
id = "lower"
kind = "map"
input = "both"
component = {}
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    );
    run_ok(&manifest);
    let mut lines = output_lines(&dir.join("out"));
    lines.sort();
    assert_eq!(lines, ["a1", "a2", "a3", "b1", "b2"]);
}
