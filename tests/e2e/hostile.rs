//! Story: a platform team hosts operators written by strangers, some of
//! them hostile. Each hostile operator here runs in one process beside a
//! healthy pipeline. The hostile pipeline fails (or its new version is
//! refused) with a message naming its stage and the limit it hit, within
//! twice its budget; the healthy pipeline keeps every record, and no two
//! of its batches are further apart than [`HEALTHY_GAP`].
//!
//! Fixtures the SDK cannot produce are written against the raw bindings
//! (`contract-breaker`), built with odd linker settings (`large-table`) or
//! written as component text (the multi-memory one).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use crate::support::{
    Running, install, manifest, output_lines, scratch, toml_path, versioned_counter, wasm,
};

/// The hostile operators' CPU budget.
const BUDGET: Duration = Duration::from_secs(4);
/// The healthy pipeline's records beside one hostile pipeline: 100 a
/// second, so it runs for 7 s, across the whole of the hostile run.
const HEALTHY_RECORDS: usize = 700;
/// The longest the healthy pipeline may go between two batches (its
/// interval is 50 ms): half the hostile budget, so a pipeline stalled
/// behind a hostile call fails, while the other tests running beside this
/// one on a 2-core machine (which have delayed a batch by 1.3 s) do not.
const HEALTHY_GAP: Duration = Duration::from_secs(2);

/// The healthy pipeline in `dir/healthy`: generated records at 100 a
/// second through a Wasm map (so it shares the operator machinery with
/// its neighbour) into one file per batch.
fn healthy(dir: &Path, records: usize) -> PathBuf {
    let dir = dir.join("healthy");
    std::fs::create_dir_all(&dir).unwrap();
    manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "healthy"
batch_interval = "50ms"

[[sources]]
id = "gen"
kind = "generator"
records = {records}
rate = 100

[[stages]]
id = "lower"
kind = "map"
input = "gen"
component = {}

[[sinks]]
id = "out"
kind = "files"
input = "lower"
path = "out"
"#,
            toml_path(&wasm("lowercase"))
        ),
    )
}

/// What the healthy pipeline wrote: every generated record once, and no
/// gap between batches longer than [`HEALTHY_GAP`].
fn assert_healthy(dir: &Path, records: usize) {
    let out = dir.join("healthy/out");
    let mut seqs: Vec<usize> = output_lines(&out)
        .iter()
        .map(|line| {
            let digits: String = line["{\"seq\":".len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().expect("a generated record")
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..records).collect::<Vec<_>>());
    let mut written: Vec<SystemTime> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.metadata().unwrap().modified().unwrap())
        .collect();
    written.sort();
    let gap = written
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .max()
        .unwrap_or_default();
    println!("the healthy pipeline's longest gap between batches: {gap:?}");
    assert!(gap <= HEALTHY_GAP, "the healthy pipeline waited {gap:?}");
}

/// Runs the healthy pipeline beside a hostile one (ten generated records
/// through `component` as map stage `bad`, with `settings`), and checks
/// that the hostile one fails saying `expected` within twice the budget,
/// and the healthy one is unharmed.
fn beside_healthy(test: &str, component: &Path, settings: &str, expected: &str) {
    let dir = scratch(test);
    let healthy = healthy(&dir, HEALTHY_RECORDS);
    let hostile = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "hostile"
batch_interval = "50ms"

[[sources]]
id = "gen"
kind = "generator"
records = 10

[[stages]]
id = "bad"
kind = "map"
input = "gen"
component = {}
{settings}

[[sinks]]
id = "out"
kind = "files"
input = "bad"
path = "out"
"#,
            toml_path(component)
        ),
    );
    let running = Running::start(
        &["run", healthy.to_str().unwrap(), hostile.to_str().unwrap()],
        Stdio::null(),
    );
    // Both pipelines are running once the healthy one has written.
    running.wait_until("the healthy pipeline writes", || {
        !output_lines(&dir.join("healthy/out")).is_empty()
    });
    let started = Instant::now();
    let expected = format!(
        "error: pipeline `hostile`: batch 1: stage `bad` (operator {}), partition 0, {expected}",
        component.display()
    );
    running.wait_for_log(&expected);
    let took = started.elapsed();
    assert!(
        took <= 2 * BUDGET,
        "the hostile pipeline was stopped after {took:?}"
    );
    running.wait_until("the healthy pipeline has written every record", || {
        output_lines(&dir.join("healthy/out")).len() >= HEALTHY_RECORDS
    });
    let out = running.finish();
    // One of the two pipelines failed.
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_healthy(&dir, HEALTHY_RECORDS);
}

const CPU: &str = r#"limits = { cpu = "4s" }"#;

#[test]
fn an_operator_that_loops_is_stopped_at_its_cpu_budget_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-loop",
        &wasm("misbehaving_map"),
        &format!("params = {{ mode = \"loop\" }}\n{CPU}"),
        "exceeded its CPU budget of 4000 ms per call and was stopped in a call of 10 records",
    );
}

#[test]
fn an_operator_blocked_in_a_wasi_sleep_is_stopped_at_its_cpu_budget_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-sleep",
        &wasm("misbehaving_map"),
        &format!("params = {{ mode = \"sleep\" }}\n{CPU}"),
        "exceeded its CPU budget of 4000 ms per call and was stopped in a call of 10 records",
    );
}

#[test]
fn an_operator_that_hoards_memory_is_stopped_at_its_limit_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-hog",
        &wasm("misbehaving_map"),
        "params = { mode = \"hog\" }\nlimits = { memory = \"16MiB\", cpu = \"4s\" }",
        "exceeded its memory limit of 16 MiB and was stopped in a call of 10 records",
    );
}

#[test]
fn an_operator_that_returns_a_30_mb_error_is_cut_to_the_message_cap_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-shout",
        &wasm("misbehaving_map"),
        &format!("params = {{ mode = \"shout\" }}\n{CPU}"),
        &format!(
            "failed on record 0: {}… ({} more bytes cut)",
            "A".repeat(4096),
            30_000_000 - 4096
        ),
    );
}

#[test]
fn an_operator_that_returns_too_few_records_breaks_the_contract_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-count",
        &wasm("contract_breaker"),
        &format!("params = {{ break = \"count\" }}\n{CPU}"),
        "broke the operator contract: a map must return one record per input, but returned 9 for 10",
    );
}

#[test]
fn an_operator_whose_offsets_run_past_its_bytes_breaks_the_contract_beside_a_healthy_pipeline() {
    beside_healthy(
        "hostile-layout",
        &wasm("contract_breaker"),
        &format!("params = {{ break = \"layout\" }}\n{CPU}"),
        "broke the operator contract: values: items end at byte",
    );
}

/// New versions of a running operator that would hurt the process if they
/// went live: each is refused with the reason, naming the stage, within
/// twice the budget; the live version keeps running and loses nothing,
/// and the healthy pipeline beside it is unharmed.
#[test]
fn hostile_new_versions_are_refused_by_their_dry_run_beside_a_healthy_pipeline() {
    // Fifteen seconds of records in both pipelines, across all four cases.
    const RECORDS: usize = 1500;
    let dir = scratch("hostile-reload");
    let healthy = healthy(&dir, RECORDS);
    let op = dir.join("op.wasm");
    std::fs::copy(wasm("versioned_counter"), &op).unwrap();
    let reloading = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "reloading"
batch_interval = "50ms"
reload = {{ debounce = "20ms" }}

[[sources]]
id = "gen"
kind = "generator"
records = {RECORDS}
rate = 100

[[stages]]
id = "fields"
kind = "map"
input = "gen"
component = {}
params = {{ key = "status", value = "seq" }}

[[stages]]
id = "count"
kind = "update_state_by_key"
input = "fields"
component = "op.wasm"
{CPU}

[[sinks]]
id = "out"
kind = "files"
input = "count"
path = "out"
"#,
            toml_path(&wasm("json_extract"))
        ),
    );
    let multi_memory = wat::parse_str(
        r#"(component
            (core module $m (memory 1) (memory 1))
            (core instance (instantiate $m)))"#,
    )
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "two memories in one module",
            multi_memory,
            "declares more than one linear memory (multi-memory), which operators may not use",
        ),
        (
            "a table of two million elements",
            std::fs::read(wasm("large_table")).unwrap(),
            "past the limit of 1000000 elements an operator may hold, and was stopped",
        ),
        (
            "a sleep in init",
            versioned_counter("v01", "sleep-in"),
            "exceeded its CPU budget of 4000 ms per call and was stopped in `init`",
        ),
        (
            "a sleep on every call, met by the dry run",
            versioned_counter("v01", "sleep-up"),
            "exceeded its CPU budget of 4000 ms per call and was stopped in a call of",
        ),
    ];
    let running = Running::start(
        &[
            "run",
            healthy.to_str().unwrap(),
            reloading.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    running.wait_until("both pipelines write", || {
        !output_lines(&dir.join("healthy/out")).is_empty()
            && !output_lines(&dir.join("out")).is_empty()
    });
    for (n, (case, bytes, reason)) in cases.iter().enumerate() {
        let started = Instant::now();
        install(&op, bytes);
        running.wait_for_log_times("refused stage `count`", n + 1);
        let took = started.elapsed();
        let log = running.stderr();
        let refusal = log
            .lines()
            .filter(|l| l.contains("refused stage `count`"))
            .nth(n)
            .unwrap();
        println!("{case}, refused after {took:?}: {refusal}");
        assert!(refusal.contains(reason), "{case}: {refusal}");
        assert!(
            refusal.contains("the live version keeps running"),
            "{case}: {refusal}"
        );
        assert!(took <= 2 * BUDGET, "{case}: refused after {took:?}");
    }
    running.wait_until("both pipelines have written every record", || {
        output_lines(&dir.join("healthy/out")).len() >= RECORDS
            && output_lines(&dir.join("out")).len() >= RECORDS
    });
    let out = running.finish();
    assert!(out.status.success(), "{}", out.stderr);
    assert_healthy(&dir, RECORDS);
    // The live version counted every record, and no other version ran.
    let counted = output_lines(&dir.join("out"));
    assert_eq!(counted.len(), RECORDS);
    let others: Vec<_> = counted.iter().filter(|l| !l.ends_with(" v00)")).collect();
    assert!(others.is_empty(), "counted by another version: {others:?}");
}
