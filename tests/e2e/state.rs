//! Story: a data engineer keeps a running count per key across batches, and
//! tracks user sessions that end when a user goes idle (updateStateByKey
//! with a ttl).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;

use crate::support::{Running, manifest, output_lines, scratch, toml_path, wasm};

/// Each batch's output lines (one file per batch), as sets: partitions may
/// emit in any order within a batch.
fn batches(out: &Path) -> Vec<BTreeSet<String>> {
    let mut files: Vec<_> = std::fs::read_dir(out)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.'));
    files.sort();
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

/// A folder-watching pipeline: words as (word, 1) pairs into `plugin`.
fn stateful(
    test: &str,
    plugin: &str,
    keying: &str,
    ttl: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(test);
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let (keying_kind, keying_wasm, keying_params) = match keying {
        "pairs" => ("flat_map", wasm("split_words"), r#"emit = "pairs""#),
        _ => ("map", wasm("count_by_value"), ""),
    };
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

[[stages]]
id = "keyed"
kind = "{keying_kind}"
input = "in"
component = {}
params = {{ {keying_params} }}

[[stages]]
id = "state"
kind = "update_state_by_key"
input = "keyed"
component = {}
parallelism = 2
{ttl}

[[sinks]]
id = "out"
kind = "files"
input = "state"
path = "out"
"#,
            toml_path(&keying_wasm),
            toml_path(&wasm(plugin))
        ),
    );
    (dir, manifest)
}

#[test]
fn running_count_keeps_counting_across_batches() {
    let (dir, manifest) = stateful("running-count", "running_count", "pairs", "");
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");

    std::fs::write(dir.join("in/1.txt"), "a b a\n").unwrap();
    running.wait_until("the first batch is counted", || batches(&out).len() == 1);
    std::fs::write(dir.join("in/2.txt"), "a c\n").unwrap();
    running.wait_until("the second batch is counted", || batches(&out).len() == 2);
    std::fs::write(dir.join("in/3.txt"), "b\n").unwrap();
    running.wait_until("the third batch is counted", || batches(&out).len() == 3);

    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(
        batches(&out),
        [
            set(&["(a,2)", "(b,1)"]),
            set(&["(a,3)", "(c,1)"]),
            set(&["(b,2)"])
        ]
    );
}

#[test]
fn ttl_forgets_idle_keys() {
    let (dir, manifest) = stateful(
        "running-count-ttl",
        "running_count",
        "pairs",
        r#"ttl = "200ms""#,
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");

    std::fs::write(dir.join("in/1.txt"), "a a\n").unwrap();
    running.wait_until("the first batch is counted", || batches(&out).len() == 1);
    running.wait_for_log("keys timed out");
    std::fs::write(dir.join("in/2.txt"), "a\n").unwrap();
    running.wait_until("the key is counted again", || batches(&out).len() == 2);

    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(
        batches(&out),
        [set(&["(a,2)"]), set(&["(a,1)"])],
        "after the ttl, `a` starts again from zero"
    );
}

#[test]
fn session_tracker_reports_a_session_when_it_goes_idle() {
    let (dir, manifest) = stateful(
        "sessions",
        "session_tracker",
        "by-value",
        r#"ttl = "200ms""#,
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let out = dir.join("out");

    std::fs::write(dir.join("in/1.txt"), "alice\nbob\nalice\n").unwrap();
    running.wait_until("both sessions end", || output_lines(&out).len() == 2);
    std::fs::write(dir.join("in/2.txt"), "alice\n").unwrap();
    running.wait_until("alice's second session ends", || {
        output_lines(&out).len() == 3
    });

    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let lines = output_lines(&out);
    let summary = |line: &str| -> (String, String, i64, i64) {
        let (key, text) = line
            .trim_matches(|c| c == '(' || c == ')')
            .split_once(',')
            .unwrap();
        let words: Vec<&str> = text.split(' ').collect();
        assert_eq!(
            (words[1], words[2], words[4]),
            ("events", "from", "to"),
            "{line}"
        );
        (
            key.to_owned(),
            words[0].to_owned(),
            words[3].parse().unwrap(),
            words[5].parse().unwrap(),
        )
    };
    let mut ended: Vec<_> = lines.iter().map(|l| summary(l)).collect();
    ended.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    let counts: Vec<(&str, &str)> = ended
        .iter()
        .map(|(k, n, _, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(counts, [("alice", "2"), ("bob", "1"), ("alice", "1")]);
    for (_, _, first, last) in &ended {
        assert_eq!(first, last, "each session here lies within one batch");
    }
    assert!(
        ended[2].2 > ended[0].3,
        "alice's second session starts after her first ended"
    );
}

#[test]
fn state_larger_than_its_memory_spills_to_disk_and_counts_stay_exact() {
    // 60,000 keys, each seen twice, with 1 MiB of memory per partition:
    // most keys live on disk by the time the second pass updates them.
    let dir = scratch("spill");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let keys: Vec<String> = (0..60_000).map(|i| format!("user{i:05}")).collect();
    let twice = [keys.join("\n"), keys.join("\n")].join("\n") + "\n";
    std::fs::write(dir.join("in/events.txt"), twice).unwrap();
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "spill"
batch_interval = "20ms"
state_memory = "1MiB"

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false
max_batch_records = 20000

[[stages]]
id = "keyed"
kind = "map"
input = "in"
component = {}

[[stages]]
id = "counts"
kind = "update_state_by_key"
input = "keyed"
component = {}
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "counts"
path = "out"
"#,
            toml_path(&wasm("count_by_value")),
            toml_path(&wasm("running_count"))
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("state over its memory budget: spilled the keys idle the longest"),
        "{}",
        result.stderr
    );

    let lines = output_lines(&dir.join("out"));
    let expected: BTreeSet<String> = keys
        .iter()
        .flat_map(|k| [format!("({k},1)"), format!("({k},2)")])
        .collect();
    assert_eq!(lines.len(), expected.len(), "one count per key per pass");
    assert_eq!(lines.into_iter().collect::<BTreeSet<_>>(), expected);
}
