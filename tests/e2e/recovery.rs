//! Story: a pipeline with state and windows is killed, again and again,
//! and restarted each time. Its output ends up exactly what a run that was
//! never killed writes: no record missing, none twice. A damaged
//! checkpoint is named and passed over; with none usable left, the
//! pipeline refuses to start until told to start over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{kill_again_and_again, repo, run, run_ok, scratch, toml_path, wasm};

/// Readings `{"k":..,"t":..,"n":1}`: 8 keys, times mostly rising with up
/// to 2s of disorder, and every 50th reading 30s late.
fn readings(count: u64) -> String {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::new();
    for i in 0..count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = state % 8;
        let mut t = 60_000 + i as i64 * 100 - (state >> 8) as i64 % 2_000;
        if i % 50 == 49 {
            t -= 30_000;
        }
        text.push_str(&format!("{{\"k\":\"k{key}\",\"t\":{t},\"n\":1}}\n"));
    }
    text
}

/// A checkpointed pipeline in `dir` over `dir/in`: two maps fused into
/// one task per partition, then a running count per key, a
/// processing-time windowed sum with an inverse, and event-time sliding
/// windows with a late side output, each into a files sink.
fn pipeline(dir: &Path, records: u64, per_batch: u64, every: u64) -> PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/readings.json"), readings(records)).unwrap();
    let text = format!(
        r#"
[pipeline]
name = "crashy"
batch_interval = "10ms"
checkpoint = {{ dir = "checkpoints", every = {every} }}

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false
max_batch_records = {per_batch}

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lower}
parallelism = 2

[[stages]]
id = "events"
kind = "map"
input = "lower"
component = {extract}
parallelism = 2
params = {{ key = "k", value = "n", timestamp = "t" }}

[[stages]]
id = "running"
kind = "update_state_by_key"
input = "events"
component = {running}
parallelism = 2

[[stages]]
id = "last-5-batches"
kind = "reduce_by_key_and_window"
input = "events"
component = {sum}
inverse = {subtract}
window = "50ms"
slide = "20ms"
parallelism = 2

[[stages]]
id = "per-10s"
kind = "reduce_by_key_and_window"
input = "events"
component = {sum}
time = "event"
window = "10s"
slide = "5s"
watermark = "3s"
allowed_lateness = "5s"
parallelism = 3

[[sinks]]
id = "running-out"
kind = "files"
input = "running"
path = "out/running"

[[sinks]]
id = "batches-out"
kind = "files"
input = "last-5-batches"
path = "out/batches"

[[sinks]]
id = "windows-out"
kind = "files"
input = "per-10s"
path = "out/windows"

[[sinks]]
id = "late-out"
kind = "files"
input = "per-10s.late"
path = "out/late"
"#,
        lower = toml_path(&wasm("lowercase")),
        extract = toml_path(&wasm("json_extract")),
        running = toml_path(&wasm("running_count")),
        sum = toml_path(&wasm("sum")),
        subtract = toml_path(&wasm("subtract")),
    );
    let manifest = dir.join("crashy.toml");
    std::fs::write(&manifest, text).unwrap();
    manifest
}

/// Every output file under `dir/out`, by path, with its exact contents.
fn outputs(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for sink in ["running", "batches", "windows", "late"] {
        let folder = dir.join("out").join(sink);
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                let text = std::fs::read_to_string(&path).unwrap();
                files.insert(format!("{sink}/{name}"), text);
            }
        }
    }
    files
}

#[test]
fn killed_at_random_moments_and_restarted_the_output_equals_an_uninterrupted_run() {
    let (records, per_batch) = (1000, 10);
    let reference = scratch("crash-reference");
    let manifest = pipeline(&reference, records, per_batch, 3);
    let validated = run(&["validate", manifest.to_str().unwrap()]).stdout;
    assert!(
        validated.contains("(lower → events fused)"),
        "the run goes through a fused chain: {validated}"
    );
    run_ok(&manifest);
    let expected = outputs(&reference);
    assert!(
        expected.len() > 100,
        "the reference run wrote only {} files",
        expected.len()
    );
    assert!(
        expected.keys().any(|f| f.starts_with("late/")),
        "the input has late records"
    );

    let dir = scratch("crash-killed");
    let manifest = pipeline(&dir, records, per_batch, 3);
    let logs = kill_again_and_again(&manifest, "crashy", 25, records / per_batch);
    let replays = logs
        .iter()
        .filter(|log| log.contains("from the intent log"))
        .count();
    assert!(replays > 0, "no restart replayed a logged batch");
    let got = outputs(&dir);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same output files"
    );
    for (file, text) in &expected {
        assert_eq!(&got[file], text, "{file} differs after 25 kills");
    }
}

#[test]
fn a_damaged_checkpoint_is_named_and_passed_over_and_none_usable_refuses_to_start() {
    let dir = scratch("corrupt-checkpoint");
    // 5 batches, a checkpoint every 2: 2, 4 and 5 are kept.
    let manifest = pipeline(&dir, 50, 10, 2);
    let manifest = manifest.to_str().unwrap();
    run_ok(Path::new(manifest));
    let first = outputs(&dir);
    let checkpoints = dir.join("checkpoints");
    let newest = checkpoints.join("checkpoint-0000000005.ckpt");
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();

    let resumed = run_ok(Path::new(manifest));
    assert!(
        resumed.stderr.contains(&format!(
            "checkpoint {} is unusable: its checksum does not match (the file is damaged or was cut short); falling back to the previous checkpoint",
            newest.display()
        )),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed.stderr.contains("replaying batches 5 to 5"),
        "{}",
        resumed.stderr
    );
    assert!(
        checkpoints
            .join("checkpoint-0000000005.ckpt.corrupt")
            .exists()
    );
    assert_eq!(outputs(&dir), first, "the replayed batch wrote the same");

    // Cut every checkpoint short: nothing to resume from.
    for entry in std::fs::read_dir(&checkpoints).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ckpt") {
            let len = std::fs::metadata(&path).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len / 2)
                .unwrap();
        }
    }
    let refused = run(&["run", manifest]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "no usable checkpoint in {}",
            checkpoints.display()
        )) && refused
            .stderr
            .contains("`wasmstream run --fresh` starts over"),
        "{}",
        refused.stderr
    );

    let fresh = run(&["run", "--fresh", manifest]);
    assert!(fresh.status.success(), "{}", fresh.stderr);
    assert_eq!(outputs(&dir), first, "starting over gives the same output");
}

#[test]
fn a_checkpoint_in_an_earlier_format_is_refused_by_name_and_left_as_it_is() {
    // Written by wasmstream 2d06998 (checkpoint format 1) for this very
    // pipeline: 50 readings, 10 a batch, a checkpoint every 2 batches.
    let fixture = repo().join("tests/checkpoints/format-1/checkpoint-0000000005.ckpt");
    let old_bytes = std::fs::read(&fixture).unwrap();
    assert!(old_bytes.starts_with(b"WSCKPT\x00\x01"), "a format 1 file");

    let dir = scratch("checkpoint-format-1");
    let manifest = pipeline(&dir, 50, 10, 2);
    let manifest = manifest.to_str().unwrap();
    let checkpoints = dir.join("checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    let old = checkpoints.join("checkpoint-0000000005.ckpt");
    std::fs::write(&old, &old_bytes).unwrap();

    let refused = run(&["run", manifest]);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "checkpoint {} is in format version 1, written by an earlier wasmstream; this one reads version 2 only",
            old.display()
        )) && refused.stderr.contains("`wasmstream run --fresh`"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read(&old).unwrap(),
        old_bytes,
        "not set aside, not rewritten"
    );
    let written = ["running", "batches", "windows", "late"]
        .iter()
        .filter_map(|sink| std::fs::read_dir(dir.join("out").join(sink)).ok())
        .flatten()
        .count();
    assert_eq!(written, 0, "nothing ran");

    let fresh = run(&["run", "--fresh", manifest]);
    assert!(fresh.status.success(), "{}", fresh.stderr);
    let newest = std::fs::read(&old).unwrap();
    assert!(
        newest.starts_with(b"WSCKPT\x00\x02"),
        "starting over writes format 2"
    );
    let first = outputs(&dir);
    run_ok(Path::new(manifest));
    assert_eq!(outputs(&dir), first, "a format 2 checkpoint reads back");
}
