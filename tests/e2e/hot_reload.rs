//! Story: an operator author ships new versions of an operator into a
//! pipeline that keeps running. Each version takes over at a batch
//! boundary with the stage's state; nothing is lost or counted twice. A
//! version that is broken, of the wrong kind, rejects its params or fails
//! its dry run never goes live; one that fails live is rolled back. A
//! candidate can run in the shadow of the live version, its differences
//! reported, until it is promoted. `wasmstream status` tells the story.
//!
//! Versions are copies of the `versioned-counter` fixture with their stamp
//! rewritten (see the fixture's docs), so no build runs during a test but
//! for the Python, JavaScript and C twins of `migrating-counter` and the C
//! port of `merge-json` (a join's component swapped across languages),
//! built once by `wasmstream build`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{
    Running, batch_texts, fixture_in, install, port, run, scratch, toml_path,
    versioned_counter as version, wasm,
};

/// A pipeline in `dir`: `source` (TOML of one source with id `in`, whose
/// records are JSON objects with fields `k` and `v`), each record keyed by
/// `k`, then counted by `dir/op.wasm` into one file per batch.
fn pipeline(dir: &Path, source: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[pipeline]
name = "reloading"
batch_interval = "20ms"
reload = {{ probation = 3, debounce = "50ms" }}

{source}

[[stages]]
id = "fields"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "k", value = "v" }}

[[stages]]
id = "count"
kind = "update_state_by_key"
input = "fields"
component = "op.wasm"
parallelism = 2
{extra}

[[sinks]]
id = "out"
kind = "files"
input = "count"
path = "out"
"#,
        extract = toml_path(&wasm("json_extract")),
    );
    let manifest = dir.join("reloading.toml");
    std::fs::write(&manifest, text).unwrap();
    manifest
}

/// A directory source over `dir/in`, which the test writes files into.
fn folder_source(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    r#"
[[sources]]
id = "in"
kind = "directory"
path = "in"
"#
    .into()
}

/// Writes `lines` (`(key, value)`) as a new input file, moved in whole.
fn feed(dir: &Path, name: &str, lines: &[(&str, &str)]) {
    let lines: Vec<String> = lines
        .iter()
        .map(|(k, v)| format!("{{\"k\":\"{k}\",\"v\":\"{v}\"}}"))
        .collect();
    feed_json(dir, name, &lines);
}

/// One output line: `(key,value #count version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    key: String,
    value: String,
    count: i64,
    version: String,
}

/// Every batch file's lines, by batch id.
fn outputs(dir: &Path) -> BTreeMap<u64, Vec<Counted>> {
    let counted = |text: &str| -> Vec<Counted> {
        text.lines()
            .map(|line| {
                let inner = line.trim_start_matches('(').trim_end_matches(')');
                let (key, rest) = inner.split_once(',').expect("(key,value)");
                let mut words = rest.rsplitn(3, ' ');
                let version = words.next().unwrap().to_owned();
                let count = words
                    .next()
                    .unwrap()
                    .trim_start_matches('#')
                    .parse()
                    .unwrap();
                let value = words.next().unwrap().to_owned();
                Counted {
                    key: key.to_owned(),
                    value,
                    count,
                    version,
                }
            })
            .collect()
    };
    batch_texts(&dir.join("out"))
        .into_iter()
        .map(|(id, text)| (id, counted(&text)))
        .collect()
}

/// Checks that each key's counts run 1, 2, 3... in batch order: no
/// record lost or counted twice, state carried over every swap.
fn assert_counts_run_on(batches: &BTreeMap<u64, Vec<Counted>>) {
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for (batch, lines) in batches {
        for line in lines {
            let before = last.entry(&line.key).or_default();
            assert_eq!(
                line.count,
                *before + 1,
                "batch {batch}: key {} jumped from {before} to {}",
                line.key,
                line.count
            );
            *before = line.count;
        }
    }
}

#[test]
fn swapping_the_operator_five_times_under_load_loses_nothing_and_keeps_counting() {
    let dir = scratch("hot-swap");
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    let source = r#"
[[sources]]
id = "in"
kind = "generator"
rate = 3000
"#;
    // The generator's records carry `seq` and `status`: key by status.
    let manifest = pipeline(&dir, source, "").to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        r#"key = "k", value = "v""#,
        r#"key = "status", value = "seq""#,
    );
    std::fs::write(&manifest, text).unwrap();

    let running = Running::start(&["run", &manifest], Stdio::null());
    running.wait_for_log("batch done pipeline=reloading batch=5 ");
    for n in 1..=5 {
        let bytes = version(&format!("v{n:02}"), "ok");
        if n % 2 == 0 {
            // As an editor saves: the file rewritten in place.
            std::fs::write(dir.join("op.wasm"), bytes).unwrap();
        } else {
            install(&dir.join("op.wasm"), &bytes);
        }
        running.wait_for_log_times("reloaded stage `count`", n);
    }
    let log = running.stderr();
    let swapped_at = log.matches("reloaded stage `count`").count();
    assert_eq!(swapped_at, 5, "{log}");
    // Let the last version run a little, under load, then stop.
    let last = log
        .lines()
        .filter_map(|l| l.split("batch done pipeline=reloading batch=").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap();
    running.wait_for_log(&format!(
        "batch done pipeline=reloading batch={} ",
        last + 5
    ));
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let batches = outputs(&dir);
    // Every sequence number read appears exactly once.
    let records_in: u64 = result
        .stderr
        .split("records_in=")
        .last()
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .expect("the summary");
    let mut seqs: Vec<u64> = batches
        .values()
        .flatten()
        .map(|c| c.value.parse().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..records_in).collect::<Vec<_>>());
    // Each batch wholly on one version, versions in order, all six seen.
    let mut versions = Vec::new();
    for (batch, lines) in &batches {
        let first = &lines[0].version;
        assert!(
            lines.iter().all(|l| &l.version == first),
            "batch {batch} ran on more than one version: {lines:?}"
        );
        if versions.last() != Some(first) {
            versions.push(first.clone());
        }
    }
    assert_eq!(versions, ["v00", "v01", "v02", "v03", "v04", "v05"]);
    assert_counts_run_on(&batches);
}

#[test]
fn a_bad_version_is_refused_with_its_reason_and_the_live_one_keeps_running() {
    let dir = scratch("hot-refuse");
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    let manifest = pipeline(&dir, &folder_source(&dir), "");
    let manifest = manifest.to_str().unwrap();
    let running = Running::start(&["run", manifest], Stdio::null());
    feed(&dir, "1", &[("a", "x1"), ("b", "y1")]);
    running.wait_for_log("records_in=2 ");

    let op = dir.join("op.wasm");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "a broken file",
            b"not wasm at all".to_vec(),
            "it is not a WebAssembly file",
        ),
        (
            "a component of the wrong kind",
            std::fs::read(wasm("lowercase")).unwrap(),
            "it is a map operator, but stage `count` runs update-state operators",
        ),
        (
            "an init that rejects the params",
            version("v03", "init"),
            "its init rejected the stage's params: version v03 rejects every params",
        ),
        (
            "a trap on the dry run",
            version("v04", "trap"),
            "it failed the dry run on the last batch's input (partition 0): trapped",
        ),
    ];
    for (n, (case, bytes, reason)) in cases.iter().enumerate() {
        install(&op, bytes);
        running.wait_for_log_times("refused stage `count`", n + 1);
        let log = running.stderr();
        let refusal = log
            .lines()
            .filter(|l| l.contains("refused stage `count`"))
            .nth(n)
            .unwrap();
        assert!(refusal.contains(reason), "{case}: {refusal}");
        assert!(
            refusal.contains("the live version keeps running"),
            "{case}: {refusal}"
        );
    }
    // The old version still counts; a good version then goes live.
    feed(&dir, "2", &[("a", "x2")]);
    running.wait_for_log("records_in=1 ");
    install(&op, &version("v05", "ok"));
    running.wait_for_log("reloaded stage `count`");
    feed(&dir, "3", &[("a", "x3")]);
    running.wait_for_log_times("records_in=1 ", 2);
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let batches = outputs(&dir);
    let lines: Vec<(String, i64, String)> = batches
        .values()
        .flatten()
        .map(|c| (c.value.clone(), c.count, c.version.clone()))
        .collect();
    let expected = |v: &str, n: i64, version: &str| (v.to_owned(), n, version.to_owned());
    let mut got = lines.clone();
    got.sort();
    assert_eq!(
        got,
        [
            expected("x1", 1, "v00"),
            expected("x2", 2, "v00"),
            expected("x3", 3, "v05"),
            expected("y1", 1, "v00"),
        ]
    );

    let status = run(&["status", manifest]);
    assert!(status.status.success(), "{}", status.stderr);
    assert_eq!(
        status.stdout.matches("refused stage `count`").count(),
        4,
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("live versions:\n  count: "),
        "{}",
        status.stdout
    );
}

#[test]
fn a_version_that_fails_live_data_is_rolled_back_and_the_batch_runs_again_on_the_old_one() {
    let dir = scratch("hot-rollback");
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    let manifest = pipeline(&dir, &folder_source(&dir), "");
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    feed(&dir, "1", &[("a", "one")]);
    running.wait_for_log("records_in=1 ");
    // Passes its dry run (no `boom` in the last batch), then meets one.
    install(&dir.join("op.wasm"), &version("v01", "boom"));
    running.wait_for_log("reloaded stage `count`");
    feed(&dir, "2", &[("a", "two"), ("a", "boom"), ("b", "three")]);
    running.wait_for_log("rolled back stage `count`");
    running.wait_for_log("records_in=3 ");
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let rollback = result
        .stderr
        .lines()
        .find(|l| l.contains("rolled back stage `count`"))
        .unwrap()
        .to_owned();
    assert!(
        rollback.contains("the new version failed batch")
            && rollback.contains("on probation")
            && rollback.contains("traps on boom"),
        "{rollback}"
    );
    let batches = outputs(&dir);
    let mut lines: Vec<(String, String, i64, String)> = batches
        .values()
        .flatten()
        .map(|c| (c.key.clone(), c.value.clone(), c.count, c.version.clone()))
        .collect();
    lines.sort();
    let line = |k: &str, v: &str, n: i64| (k.to_owned(), v.to_owned(), n, "v00".to_owned());
    assert_eq!(
        lines,
        [
            line("a", "boom", 3),
            line("a", "one", 1),
            line("a", "two", 2),
            line("b", "three", 1)
        ],
        "the failed batch ran again, wholly on the old version"
    );
}

#[test]
fn a_shadow_version_reports_its_differences_and_is_promoted_on_command() {
    let dir = scratch("hot-shadow");
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    // Stamped like the live version: its only difference is the counts
    // of key 500.
    std::fs::write(dir.join("candidate.wasm"), version("v00", "differ")).unwrap();
    let manifest = pipeline(&dir, &folder_source(&dir), r#"shadow = "candidate.wasm""#);
    let manifest = manifest.to_str().unwrap();
    let running = Running::start(&["run", manifest], Stdio::null());
    feed(&dir, "1", &[("200", "a"), ("500", "b"), ("200", "c")]);
    running.wait_for_log("records_in=3 ");
    running.wait_for_log("of 3 records differ");
    let log = running.stderr();
    let report = log
        .lines()
        .find(|l| l.contains("of 3 records differ"))
        .unwrap();
    assert!(
        report.contains("shadow stage `count`")
            && report.contains(": 1 of 3 records differ; e.g. (500,b #1 v00) → (500,b #1001 v00)"),
        "{report}"
    );

    let promoted = run(&["promote", manifest, "count"]);
    assert!(promoted.status.success(), "{}", promoted.stderr);
    running.wait_for_log("promoted stage `count`");
    feed(&dir, "2", &[("500", "d")]);
    running.wait_for_log("records_in=1 ");
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let batches = outputs(&dir);
    let last = batches.values().last().unwrap();
    assert_eq!(
        last,
        &[Counted {
            key: "500".into(),
            value: "d".into(),
            count: 1002,
            version: "v00".into()
        }],
        "the promoted version counts on from the live state"
    );
    let status = run(&["status", manifest]);
    assert!(
        status.stdout.contains("promoted stage `count`"),
        "{}",
        status.stdout
    );
}

/// Rewrites the manifest at `path` with `edit`, as a user saving it does.
fn edit(path: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changes the manifest");
    std::fs::write(path, edited).unwrap();
}

#[test]
fn manifest_edits_apply_at_a_boundary_where_safe_and_otherwise_say_why_not() {
    let dir = scratch("hot-manifest");
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    let manifest = pipeline(&dir, &folder_source(&dir), "");
    edit(&manifest, |t| {
        t.replace(
            "[pipeline]\n",
            "[pipeline]\ncheckpoint = { dir = \"checkpoints\", every = 1000 }\n",
        )
    });
    let args = ["run", manifest.to_str().unwrap()];
    let running = Running::start(&args, Stdio::null());
    feed(&dir, "1", &[("a", "x1")]);
    running.wait_for_log("records_in=1 ");

    // New params for `fields`: the value now comes from field `k`.
    edit(&manifest, |t| {
        t.replace(r#"key = "k", value = "v""#, r#"key = "k", value = "k""#)
    });
    running.wait_for_log("reloaded stage `fields`");
    assert!(
        running
            .stderr()
            .contains("the manifest changed its params or limits"),
        "{}",
        running.stderr()
    );
    feed(&dir, "2", &[("a", "x2")]);
    running.wait_for_log_times("records_in=1 ", 2);

    // A new batch interval is taken on at the next batch (no window here
    // counts batches of the old one).
    edit(&manifest, |t| t.replace(r#""20ms""#, r#""40ms""#));
    running.wait_for_log("the batch interval is now 40 ms (was 20 ms)");

    // A new stage and a sink for it start at the next batch; the others
    // keep running, their state with them.
    edit(&manifest, |t| {
        format!(
            "{t}\n[[stages]]\nid = \"lower\"\nkind = \"map\"\ninput = \"fields\"\ncomponent = {}\n\n[[sinks]]\nid = \"lowered\"\nkind = \"files\"\ninput = \"lower\"\npath = \"lowered\"\n",
            toml_path(&wasm("lowercase"))
        )
    });
    running.wait_for_log("the manifest's edit is live: stage `lower` added; sink `lowered` added");
    feed(&dir, "3", &[("MiXeD", "x3")]);
    running.wait_for_log_times("records_in=1 ", 3);
    // Killed right after: the checkpoint written with the edit lets the
    // edited pipeline resume.
    let killed = running.kill();
    assert!(!killed.stderr.contains("ERROR"), "{}", killed.stderr);

    let running = Running::start(&args, Stdio::null());
    running.wait_for_log("resuming from checkpoint");
    running.wait_for_log("started stage `count`");
    // A stage's parallelism cannot change under its state.
    edit(&manifest, |t| {
        t.replace("parallelism = 2", "parallelism = 3")
    });
    running.wait_for_log("needs a restart");
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert!(
        result.stderr.contains(
            "the manifest changed stage `count` (update_state_by_key reading fields, parallelism 2 → update_state_by_key reading fields, parallelism 3), whose state is laid out for the old one; that cannot change under a running pipeline"
        ),
        "{}",
        result.stderr
    );

    let counted: Vec<(String, i64)> = outputs(&dir)
        .values()
        .flatten()
        .map(|c| (c.value.clone(), c.count))
        .collect();
    let expected = [("x1", 1), ("a", 2), ("MiXeD", 1)].map(|(v, n)| (v.to_owned(), n));
    assert_eq!(counted, expected, "batch 2 ran with the new params");
    let lowered = std::fs::read_dir(dir.join("lowered"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert_eq!(
        lowered, "(MiXeD,mixed)\n",
        "the new stage ran on the batch after the edit"
    );
}

#[test]
fn a_version_that_changes_its_state_format_converts_the_old_states_and_counts_on() {
    migrates_to("hot-migrate", &wasm("migrating_counter"), "");
}

#[test]
fn a_python_javascript_or_c_version_converts_the_old_states_too() {
    for lang in ["python", "js", "c"] {
        let name = format!("{lang}-migrating-counter");
        let component = fixture_in(lang, &name, "update_state_by_key");
        // SpiderMonkey starts at about 64 MiB, the default limit.
        let limits = match lang {
            "js" => r#"limits = { memory = "128MiB" }"#,
            _ => "",
        };
        migrates_to(&format!("hot-migrate-{lang}"), &component, limits);
    }
}

/// A running count (`versioned-counter` v00, decimal states) replaced by
/// `component`, which keeps binary states and converts the old ones.
fn migrates_to(test: &str, component: &Path, extra: &str) {
    let dir = scratch(test);
    std::fs::write(dir.join("op.wasm"), version("v00", "ok")).unwrap();
    let manifest = pipeline(&dir, &folder_source(&dir), extra);
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    feed(&dir, "1", &[("a", "x1"), ("b", "y1"), ("a", "x2")]);
    running.wait_for_log("records_in=3 ");
    // Keeps binary counts where v00 kept decimal text; converts them.
    install(&dir.join("op.wasm"), &std::fs::read(component).unwrap());
    running.wait_for_log("reloaded stage `count`");
    feed(&dir, "2", &[("a", "x3"), ("b", "y2")]);
    running.wait_for_log("records_in=2 ");
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let reload = result
        .stderr
        .lines()
        .find(|l| l.contains("reloaded stage `count`"))
        .unwrap()
        .to_owned();
    assert!(
        reload.contains("migrate-state converted 2 keys' state from"),
        "{test}: {reload}"
    );
    let batches = outputs(&dir);
    assert_counts_run_on(&batches);
    let last: Vec<(String, i64, String)> = batches
        .values()
        .last()
        .unwrap()
        .iter()
        .map(|c| (c.value.clone(), c.count, c.version.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        last,
        [
            ("x3".to_owned(), 3, "m01".to_owned()),
            ("y2".to_owned(), 2, "m01".to_owned())
        ]
    );
}

/// Writes `lines` (JSON objects, one a line) as a new input file of `dir`,
/// moved in whole.
fn feed_json(dir: &Path, name: &str, lines: &[String]) {
    let staging = dir.join(format!("{name}.staging"));
    std::fs::write(&staging, lines.join("\n") + "\n").unwrap();
    std::fs::rename(&staging, dir.join("in").join(format!("{name}.json"))).unwrap();
}

/// Round `round`'s events: for each of ads `a0`..`a4`, an impression and
/// two clicks, in one file so that both sides land in one batch.
fn ad_events(round: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for ad in 0..5 {
        lines.push(format!(r#"{{"ad":"a{ad}","side":"imp","round":{round}}}"#));
        for click in 0..2 {
            lines.push(format!(r#"{{"ad":"a{ad}","side":"click","c":{click}}}"#));
        }
    }
    lines
}

/// What merge-json makes of `ad_events(round)`: each impression merged
/// with each of its clicks.
fn ad_pairs(round: u32) -> Vec<String> {
    let mut pairs = Vec::new();
    for ad in 0..5 {
        for click in 0..2 {
            pairs.push(format!(
                r#"(a{ad},{{"ad":"a{ad}","side":"imp","round":{round},"ad":"a{ad}","side":"click","c":{click}}})"#
            ));
        }
    }
    pairs
}

#[test]
fn a_running_join_swaps_its_rust_cogroup_for_the_c_port_and_matches_every_pair_once() {
    let dir = scratch("hot-swap-join");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    install(
        &dir.join("op.wasm"),
        &std::fs::read(wasm("merge_json")).unwrap(),
    );
    let filter = toml_path(&wasm("json_filter"));
    let text = format!(
        r#"
[pipeline]
name = "joining"
batch_interval = "20ms"
reload = {{ probation = 1, debounce = "50ms" }}

[[sources]]
id = "events"
kind = "directory"
path = "in"
key_field = "ad"

[[stages]]
id = "impressions"
kind = "filter"
input = "events"
component = {filter}
params = {{ field = "side", equals = "imp" }}

[[stages]]
id = "clicks"
kind = "filter"
input = "events"
component = {filter}
params = {{ field = "side", equals = "click" }}

[[stages]]
id = "joined"
kind = "join"
left = "impressions"
right = "clicks"
component = "op.wasm"
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "joined"
path = "out"
"#
    );
    let manifest = dir.join("joining.toml");
    std::fs::write(&manifest, text).unwrap();
    let written = |dir: &Path| -> Vec<String> {
        let mut lines: Vec<String> = batch_texts(&dir.join("out"))
            .values()
            .flat_map(|text| text.lines().map(str::to_owned))
            .collect();
        lines.sort();
        lines
    };

    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    feed_json(&dir, "round-1", &ad_events(1));
    running.wait_until("round 1's pairs are written", || written(&dir).len() == 10);
    install(
        &dir.join("op.wasm"),
        &std::fs::read(port("c", "merge-json")).unwrap(),
    );
    running.wait_for_log("reloaded stage `joined`");
    feed_json(&dir, "round-2", &ad_events(2));
    running.wait_until("round 2's pairs are written", || written(&dir).len() == 20);
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let mut expected = [ad_pairs(1), ad_pairs(2)].concat();
    expected.sort();
    assert_eq!(
        written(&dir),
        expected,
        "every pair once, before and after the swap"
    );
    // The second round ran on the C port: the reload came before it.
    let log = &result.stderr;
    let swapped = log.find("reloaded stage `joined`").expect("the swap");
    let round_two = log.find("round-2").expect("round 2 read");
    assert!(swapped < round_two, "round 2 was read before the swap");
}
