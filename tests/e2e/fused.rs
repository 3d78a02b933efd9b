//! Story: a data engineer chains narrow stages (maps, filters, flat-maps),
//! and wasmstream runs each chain fused, one task per partition passing
//! the records from one operator to the next. Fusing changes nothing she
//! relies on: `validate` says which stages run fused; a new version of one
//! operator in the chain goes live at a boundary with nothing lost; a
//! record one stage rejects is dead-lettered under that stage's name; a
//! failure names the stage and the record. (Checkpoint recovery through a
//! fused chain is `recovery.rs`: its pipeline starts with one.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{
    Running, batch_texts, install, manifest, output_lines, run, scratch, toml_path, versioned_map,
    wasm,
};

/// `wasmstream validate`'s line for `manifest`.
fn validated(manifest: &Path) -> String {
    let out = run(&["validate", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout
}

/// Generator records keyed by status with their sequence number as the
/// value, then stamped by `dir/tag.wasm`, both over two partitions.
fn reloading(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("tag.wasm"), versioned_map("v00")).unwrap();
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "fused"
batch_interval = "20ms"
reload = {{ probation = 3, debounce = "50ms" }}

[[sources]]
id = "in"
kind = "generator"
rate = 3000

[[stages]]
id = "fields"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "status", value = "seq" }}
parallelism = 2

[[stages]]
id = "tag"
kind = "map"
input = "fields"
component = "tag.wasm"
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "tag"
path = "out"
"#,
            extract = toml_path(&wasm("json_extract")),
        ),
    )
}

/// Each batch file's `(sequence number, version)` pairs, by batch id.
fn stamped(dir: &Path) -> BTreeMap<u64, Vec<(u64, String)>> {
    let stamps = |text: &str| -> Vec<(u64, String)> {
        text.lines()
            .map(|line| {
                // `(status,seq version)`
                let inner = line.trim_start_matches('(').trim_end_matches(')');
                let (_, value) = inner.split_once(',').expect("(key,value)");
                let (seq, version) = value.split_once(' ').expect("a stamped value");
                (seq.parse().unwrap(), version.to_owned())
            })
            .collect()
    };
    batch_texts(&dir.join("out"))
        .into_iter()
        .map(|(id, text)| (id, stamps(&text)))
        .collect()
}

#[test]
fn an_operator_inside_a_fused_chain_is_swapped_at_a_boundary_and_nothing_is_lost() {
    let dir = scratch("fused-reload");
    let manifest = reloading(&dir);
    assert!(
        validated(&manifest).contains("2 stages (fields → tag fused)"),
        "the two maps run fused"
    );
    let manifest = manifest.to_str().unwrap();
    let running = Running::start(&["run", manifest], Stdio::null());
    running.wait_for_log("batch done pipeline=fused batch=5 ");
    for n in 1..=3 {
        install(&dir.join("tag.wasm"), &versioned_map(&format!("v{n:02}")));
        running.wait_for_log_times("reloaded stage `tag`", n);
    }
    running.wait_for_more_lines(5);
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let batches = stamped(&dir);
    // Each batch wholly on one version, the versions in order.
    let mut versions = Vec::new();
    for (batch, lines) in &batches {
        let first = &lines[0].1;
        assert!(
            lines.iter().all(|(_, v)| v == first),
            "batch {batch} ran on more than one version: {lines:?}"
        );
        if versions.last() != Some(first) {
            versions.push(first.clone());
        }
    }
    assert_eq!(versions, ["v00", "v01", "v02", "v03"]);
    // Every record generated, exactly once: the generator numbers them
    // from 0, so the numbers written are 0..n with no gap or repeat.
    let mut seqs: Vec<u64> = batches.values().flatten().map(|(s, _)| *s).collect();
    seqs.sort_unstable();
    let n = seqs.len() as u64;
    assert!(n > 0);
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
}

/// Lines through `check` (rejects the line `bad-1`), `words` (split into
/// words) and `shout` (rejects the word `oops`), all over two partitions,
/// with `on_error` as given; the output and the dead letters each to a
/// files sink.
fn rejecting(dir: &Path, on_error: &str, lines: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/lines.txt"), lines).unwrap();
    let reject = |stage: &str, input: &str, on: &str| {
        format!(
            "[[stages]]\nid = \"{stage}\"\nkind = \"map\"\ninput = \"{input}\"\ncomponent = {}\nparams = {{ mode = \"reject\", on = \"{on}\" }}\nparallelism = 2\n",
            toml_path(&wasm("misbehaving_map"))
        )
    };
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "rejecting"
batch_interval = "20ms"
on_error = "{on_error}"

[[sources]]
id = "in"
kind = "directory"
path = "in"
watch = false

{check}
[[stages]]
id = "words"
kind = "flat_map"
input = "check"
component = {split}
parallelism = 2

{shout}
[[sinks]]
id = "out"
kind = "files"
input = "shout"
path = "out"
{dead}"#,
            check = reject("check", "in", "bad-1"),
            split = toml_path(&wasm("split_words")),
            shout = reject("shout", "words", "oops"),
            dead = match on_error {
                "dead-letter" =>
                    "\n[[sinks]]\nid = \"dead\"\nkind = \"files\"\ninput = \"dead-letters\"\npath = \"dead\"\n",
                _ => "",
            },
        ),
    )
}

#[test]
fn a_record_rejected_inside_a_fused_chain_is_dead_lettered_under_the_stage_that_rejected_it() {
    let dir = scratch("fused-dead-letters");
    let manifest = rejecting(
        &dir,
        "dead-letter",
        "alpha beta\nbad-1\ngamma oops delta\nbad-1 is fine here\noops\n",
    );
    assert!(
        validated(&manifest).contains("3 stages (check → words → shout fused)"),
        "the three stages run fused"
    );
    let out = run(&["run", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);

    let mut words = output_lines(&dir.join("out"));
    words.sort();
    let mut expected = [
        "alpha", "beta", "gamma", "delta", "bad", "1", "is", "fine", "here",
    ];
    expected.sort();
    assert_eq!(words, expected);

    let mut dead = output_lines(&dir.join("dead"));
    dead.sort();
    let rejected = " wasmstream-error=fixture rejects this record";
    assert_eq!(
        dead,
        [
            format!("bad-1 wasmstream-stage=check{rejected}"),
            format!("oops wasmstream-stage=shout{rejected}"),
            format!("oops wasmstream-stage=shout{rejected}"),
        ]
    );
}

#[test]
fn a_failure_inside_a_fused_chain_names_the_stage_and_the_record() {
    for (lines, stage, record) in [
        ("alpha\nbad-1\n", "check", "bad-1"),
        ("alpha\nbeta oops\n", "shout", "oops"),
    ] {
        let dir = scratch(&format!("fused-failure-{stage}"));
        let manifest = rejecting(&dir, "stop", lines);
        let out = run(&["run", manifest.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("stage `{stage}`"))
                && out.stderr.contains("fixture rejects this record")
                && out.stderr.contains(&format!("[record: \"{record}\"]")),
            "{}",
            out.stderr
        );
    }
}
