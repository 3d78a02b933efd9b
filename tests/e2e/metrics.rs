//! Story: a data engineer points Prometheus at a running pipeline
//! (`wasmstream run --metrics`) and reads how many records went through
//! each source, stage and sink, how many batches ran, and how long they
//! took; and feeds its logs to a collector as JSON (`--log-format json`).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;

use crate::support::{
    Running, install, manifest, output_lines, scratch, toml_path, versioned_map, wasm,
};

/// One scrape: each sample by its name and labels (`name{a="x",b="y"}`,
/// labels sorted), with its value.
pub(crate) fn scrape(url: &str) -> BTreeMap<String, f64> {
    let mut response = ureq::get(url).call().expect("scrape /metrics");
    let kind = response.headers().get("content-type").cloned();
    assert_eq!(
        kind.as_ref().and_then(|k| k.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = response.body_mut().read_to_string().expect("a text body");
    assert!(text.ends_with("# EOF\n"), "a whole exposition:\n{text}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => {
                    let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                    labels.sort();
                    (name, format!("{{{}}}", labels.join(",")))
                }
                None => (series, String::new()),
            };
            (format!("{name}{labels}"), value.parse().expect("a number"))
        })
        .collect()
}

/// `wasmstream run --metrics 127.0.0.1:0 <manifest>`, its stdin piped,
/// and the metrics URL it printed.
/// Pipeline `name` in `dir`: lines from stdin into files at `out`, one
/// file a 50 ms batch.
fn stdin_to_files(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "{name}"
batch_interval = "50ms"

[[sources]]
id = "lines"
kind = "stdin"

[[sinks]]
id = "out"
kind = "files"
input = "lines"
path = "out"
"#
        ),
    )
}

pub(crate) fn run_with_metrics(manifest: &std::path::Path) -> (Running, String) {
    let running = Running::start(
        &[
            "run",
            "--metrics",
            "127.0.0.1:0",
            manifest.to_str().unwrap(),
        ],
        Stdio::piped(),
    );
    let url = metrics_url(&running);
    (running, url)
}

/// The metrics URL a `wasmstream run --metrics` printed, once it has.
pub(crate) fn metrics_url(running: &Running) -> String {
    running.wait_for_log("metrics: http://");
    running
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("metrics: "))
        .expect("the address it printed")
        .to_owned()
}

/// The value of `series` in `samples`, which must have it.
fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    match samples.get(series) {
        Some(value) => *value,
        None => panic!("no {series} in the scrape: {samples:#?}"),
    }
}

/// Lines of three to five words from a small vocabulary, `n` of them
/// from `from` on.
fn lines(from: usize, n: usize) -> Vec<String> {
    let words = ["tick", "tock", "bell", "chime", "gong"];
    (from..from + n)
        .map(|i| {
            (0..3 + i % 3)
                .map(|w| words[(i * 7 + w * 3) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn prometheus_sees_every_record_and_batch_of_a_run_as_it_goes() {
    let dir = scratch("metrics-run");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "clock-words"
batch_interval = "100ms"

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {}

[[stages]]
id = "counts"
kind = "count_by_value"
input = "words"

[[sinks]]
id = "out"
kind = "files"
input = "counts"
path = "out"
"#,
            toml_path(&wasm("split_words"))
        ),
    );
    let (mut running, url) = run_with_metrics(&manifest);
    let pipeline = r#"pipeline="clock-words""#;
    let series = |name: &str, label: &str| {
        let mut labels = [label, pipeline];
        labels.sort();
        format!("{name}{{{}}}", labels.join(","))
    };

    // Before any record: every source, stage and sink is there, at zero.
    let first = scrape(&url);
    for (name, label) in [
        ("wasmstream_source_records_total", r#"source="lines""#),
        ("wasmstream_stage_records_in_total", r#"stage="words""#),
        ("wasmstream_stage_records_out_total", r#"stage="counts""#),
        ("wasmstream_sink_records_total", r#"sink="out""#),
    ] {
        assert_eq!(value(&first, &series(name, label)), 0.0, "{name}");
    }
    assert_eq!(
        value(
            &first,
            &format!("wasmstream_batch_interval_seconds{{{pipeline}}}")
        ),
        0.1
    );

    let out = dir.join("out");
    let mut sent = Vec::new();
    for (from, n) in [(0, 300), (300, 200)] {
        let more = lines(from, n);
        for line in &more {
            writeln!(running.stdin(), "{line}").unwrap();
        }
        running.stdin().flush().unwrap();
        sent.extend(more);

        // During the run: once the sink's count matches the lines the files
        // hold and every line sent is in, each figure is exact.
        let mut samples = BTreeMap::new();
        running.wait_until("the metrics count every record sent", || {
            samples = scrape(&url);
            let written = output_lines(&out).len() as f64;
            samples.get(&series(
                "wasmstream_source_records_total",
                r#"source="lines""#,
            )) == Some(&(sent.len() as f64))
                && samples.get(&series("wasmstream_sink_records_total", r#"sink="out""#))
                    == Some(&written)
        });
        let words: usize = sent.iter().map(|l| l.split(' ').count()).sum();
        let written = output_lines(&out).len() as f64;
        let expect = [
            (
                "wasmstream_stage_records_in_total",
                r#"stage="words""#,
                sent.len() as f64,
            ),
            (
                "wasmstream_stage_records_out_total",
                r#"stage="words""#,
                words as f64,
            ),
            (
                "wasmstream_stage_records_in_total",
                r#"stage="counts""#,
                words as f64,
            ),
            (
                "wasmstream_stage_records_out_total",
                r#"stage="counts""#,
                written,
            ),
        ];
        for (name, label, expected) in expect {
            assert_eq!(
                value(&samples, &series(name, label)),
                expected,
                "{name}{{{label}}}"
            );
        }
        // Every batch run is in each histogram once; each file the sink
        // wrote is a batch (empty batches write none).
        let batches = value(&samples, &format!("wasmstream_batches_total{{{pipeline}}}"));
        for histogram in [
            "wasmstream_batch_processing_seconds",
            "wasmstream_batch_scheduling_delay_seconds",
            "wasmstream_batch_total_delay_seconds",
        ] {
            let count = value(&samples, &format!("{histogram}_count{{{pipeline}}}"));
            assert_eq!(count, batches, "{histogram}");
            let all = value(
                &samples,
                &format!("{histogram}_bucket{{le=\"+Inf\",{pipeline}}}"),
            );
            assert_eq!(all, batches, "{histogram}'s last bucket");
        }
        let files = std::fs::read_dir(&out).unwrap().count() as f64;
        assert!(batches >= files, "{batches} batches, {files} files");
        assert_eq!(
            value(
                &samples,
                &format!("wasmstream_batches_failed_total{{{pipeline}}}")
            ),
            0.0
        );
    }

    // The input ends: the run's own summary agrees with what was scraped.
    running.close_stdin();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let written = output_lines(&out).len();
    assert!(
        result
            .stderr
            .contains(&format!("500 records in, {written} records out")),
        "{}",
        result.stderr
    );
}

#[test]
fn a_metrics_address_already_taken_is_named() {
    let dir = scratch("metrics-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "idle"

[[sources]]
id = "lines"
kind = "stdin"

[[sinks]]
id = "out"
kind = "stdout"
input = "lines"
"#,
    );
    let result = crate::support::run(&["run", "--metrics", &address, manifest.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(
        result
            .stderr
            .contains(&format!("--metrics: cannot listen on {address}")),
        "{}",
        result.stderr
    );
}

#[test]
fn a_trapping_or_looping_operator_is_counted_against_its_stage() {
    let dir = scratch("metrics-operators");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "fragile"
batch_interval = "50ms"
on_error = "skip"

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "panics"
kind = "map"
input = "lines"
component = {map}
params = {{ mode = "panic", on = "boom" }}

[[stages]]
id = "loops"
kind = "map"
input = "panics"
component = {map}
params = {{ mode = "loop", on = "spin" }}
limits = {{ cpu = "50ms" }}

[[sinks]]
id = "out"
kind = "files"
input = "loops"
path = "out"
"#,
            map = toml_path(&wasm("misbehaving_map"))
        ),
    );
    let (mut running, url) = run_with_metrics(&manifest);
    let pipeline = r#"pipeline="fragile""#;
    let plain = |name: &str| format!("{name}{{{pipeline}}}");
    let operator = |name: &str, stage: &str, samples: &BTreeMap<String, f64>| {
        let prefix = format!("{name}{{{pipeline},stage=\"{stage}\",version=");
        let found: Vec<f64> = (samples.iter())
            .filter(|(series, _)| series.starts_with(&prefix))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "one version of {stage}: {samples:#?}");
        found[0]
    };

    // One line a batch: each waits for the one before to be done with.
    let mut samples = BTreeMap::new();
    for (n, line) in ["fine", "boom", "spin", "fine again"].iter().enumerate() {
        writeln!(running.stdin(), "{line}").unwrap();
        running.stdin().flush().unwrap();
        running.wait_until(&format!("line {n} is in the metrics"), || {
            samples = scrape(&url);
            samples
                .get(&plain("wasmstream_batches_skipped_total"))
                .copied()
                .unwrap_or(0.0)
                + samples
                    .get(&format!(
                        "wasmstream_sink_records_total{{{pipeline},sink=\"out\"}}"
                    ))
                    .copied()
                    .unwrap_or(0.0)
                == (n + 1) as f64
        });
    }
    assert_eq!(output_lines(&dir.join("out")), ["fine", "fine again"]);
    assert_eq!(
        value(&samples, &plain("wasmstream_batches_skipped_total")),
        2.0
    );
    assert_eq!(
        value(&samples, &plain("wasmstream_batches_failed_total")),
        2.0
    );
    assert_eq!(
        value(&samples, &plain("wasmstream_records_dropped_total")),
        2.0
    );
    // Each stage was called once per batch that reached it.
    assert_eq!(
        operator("wasmstream_operator_calls_total", "panics", &samples),
        4.0
    );
    assert_eq!(
        operator("wasmstream_operator_traps_total", "panics", &samples),
        1.0
    );
    assert_eq!(
        operator("wasmstream_operator_budget_kills_total", "panics", &samples),
        0.0
    );
    assert_eq!(
        operator("wasmstream_operator_calls_total", "loops", &samples),
        3.0
    );
    assert_eq!(
        operator("wasmstream_operator_traps_total", "loops", &samples),
        0.0
    );
    assert_eq!(
        operator("wasmstream_operator_budget_kills_total", "loops", &samples),
        1.0
    );
    let cpu = operator("wasmstream_operator_cpu_seconds_total", "loops", &samples);
    assert!(cpu >= 0.05, "the loop ran its 50 ms budget: {cpu}");
    assert!(operator("wasmstream_operator_memory_bytes", "loops", &samples) > 0.0);
    running.close_stdin();
    assert!(running.finish().status.success());
}

#[test]
fn hot_reload_events_and_the_new_versions_calls_are_counted() {
    let dir = scratch("metrics-reload");
    std::fs::create_dir_all(&dir).unwrap();
    install(&dir.join("op.wasm"), &versioned_map("v00"));
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "stamping"
batch_interval = "20ms"
reload = { debounce = "50ms" }

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "stamp"
kind = "map"
input = "lines"
component = "op.wasm"

[[sinks]]
id = "out"
kind = "files"
input = "stamp"
path = "out"
"#,
    );
    let (mut running, url) = run_with_metrics(&manifest);
    let event = |what: &str| {
        format!(
            r#"wasmstream_reload_events_total{{event="{what}",pipeline="stamping",stage="stamp"}}"#
        )
    };
    let calls = |samples: &BTreeMap<String, f64>| -> Vec<(String, f64)> {
        (samples.iter())
            .filter(|(series, _)| series.starts_with("wasmstream_operator_calls_total"))
            .map(|(series, v)| (series.clone(), *v))
            .collect()
    };
    let mut samples = BTreeMap::new();
    let send = |running: &mut Running, line: &str, lines: usize| {
        writeln!(running.stdin(), "{line}").unwrap();
        running.stdin().flush().unwrap();
        let out = dir.join("out");
        running.wait_until(&format!("{lines} lines are out"), || {
            output_lines(&out).len() == lines
        });
    };
    send(&mut running, "one", 1);
    send(&mut running, "uno", 2);

    // A new version goes live: counted, and its calls count from zero
    // under its own version.
    install(&dir.join("op.wasm"), &versioned_map("v01"));
    running.wait_until("the reload is counted", || {
        samples = scrape(&url);
        samples.get(&event("reloaded")) == Some(&1.0)
    });
    send(&mut running, "two", 3);
    assert_eq!(
        output_lines(&dir.join("out")),
        ["one v00", "uno v00", "two v01"]
    );
    samples = scrape(&url);
    let live = calls(&samples);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1, 1.0, "the new version's one call: {live:?}");
    assert_eq!(value(&samples, &event("started")), 1.0);

    // A broken one is refused, and counted.
    install(&dir.join("op.wasm"), b"not a component");
    running.wait_until("the refusal is counted", || {
        samples = scrape(&url);
        samples.get(&event("refused")) == Some(&1.0)
    });
    assert_eq!(value(&samples, &event("reloaded")), 1.0);
    running.close_stdin();
    assert!(running.finish().status.success());
}

#[test]
fn per_key_state_and_watermarks_show_as_gauges() {
    let dir = scratch("metrics-state");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "keeping"
batch_interval = "50ms"

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "fields"
kind = "map"
input = "lines"
component = {extract}
params = {{ key = "k", value = "k", timestamp = "t" }}

[[stages]]
id = "running"
kind = "update_state_by_key"
input = "fields"
component = {count}
parallelism = 2

[[stages]]
id = "per-minute"
kind = "count_by_value_and_window"
input = "fields"
time = "event"
window = "60s"
watermark = "5s"

[[sinks]]
id = "totals"
kind = "files"
input = "running"
path = "totals"

[[sinks]]
id = "windows"
kind = "files"
input = "per-minute"
path = "windows"
"#,
            extract = toml_path(&wasm("json_extract")),
            count = toml_path(&wasm("running_count")),
        ),
    );
    let (mut running, url) = run_with_metrics(&manifest);
    // Seven records of three keys; the latest event at 1,700,000,042 s.
    let events = [
        ("a", 1_700_000_000_000i64),
        ("b", 1_700_000_010_000),
        ("a", 1_700_000_042_000),
        ("c", 1_700_000_020_000),
        ("b", 1_700_000_030_000),
        ("a", 1_700_000_001_000),
        ("c", 1_700_000_040_000),
    ];
    for (k, t) in events {
        writeln!(running.stdin(), r#"{{"k":"{k}","t":{t}}}"#).unwrap();
    }
    running.stdin().flush().unwrap();
    let gauge =
        |name: &str, stage: &str| format!(r#"{name}{{pipeline="keeping",stage="{stage}"}}"#);
    let mut samples = BTreeMap::new();
    running.wait_until("every record is counted", || {
        samples = scrape(&url);
        samples.get(r#"wasmstream_stage_records_in_total{pipeline="keeping",stage="running"}"#)
            == Some(&7.0)
    });
    assert_eq!(
        output_lines(&dir.join("totals")),
        ["(a,3)", "(b,2)", "(c,2)"]
    );
    assert_eq!(
        value(&samples, &gauge("wasmstream_state_keys", "running")),
        3.0
    );
    assert_eq!(
        value(&samples, &gauge("wasmstream_state_spilled_keys", "running")),
        0.0
    );
    let held = value(&samples, &gauge("wasmstream_state_memory_bytes", "running"));
    assert!(held >= 3.0, "three keys' states take some bytes: {held}");
    // The latest event time less the 5 s delay, in seconds.
    assert_eq!(
        value(
            &samples,
            &gauge("wasmstream_watermark_seconds", "per-minute")
        ),
        1_700_000_037.0
    );
    assert!(!samples.contains_key(&gauge("wasmstream_watermark_seconds", "running")));
    running.close_stdin();
    assert!(running.finish().status.success());
}

#[test]
fn json_logs_are_one_object_a_line_with_the_pipeline_and_batch_as_fields() {
    let dir = scratch("logs-json");
    let manifest = stdin_to_files(&dir, "logged");
    let mut running = Running::start(
        &["run", "--log-format", "json", manifest.to_str().unwrap()],
        Stdio::piped(),
    );
    writeln!(running.stdin(), "one\ntwo").unwrap();
    running.close_stdin();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let events: Vec<serde_json::Value> = (result.stderr.lines())
        .map(|line| match serde_json::from_str(line) {
            Ok(event) => event,
            Err(e) => panic!("not a JSON line ({e}): {line}"),
        })
        .collect();
    for event in &events {
        for key in ["timestamp", "level", "message"] {
            assert!(event.get(key).is_some(), "no {key}: {event}");
        }
    }
    // The batch that took both lines: its pipeline and batch as fields,
    // and the pipeline's span.
    let done: Vec<&serde_json::Value> = (events.iter())
        .filter(|e| e["message"] == "batch done" && e["records_in"] == 2)
        .collect();
    assert_eq!(done.len(), 1, "{events:#?}");
    assert_eq!(done[0]["pipeline"], "logged");
    assert!(
        done[0]["batch"].as_u64().is_some_and(|b| b >= 1),
        "{}",
        done[0]
    );
    assert_eq!(done[0]["span"]["pipeline"], "logged");
    // What the command says as it ends is an event too.
    let last = events.last().expect("some events");
    let said = last["message"].as_str().unwrap_or_default();
    assert!(said.starts_with("done: "), "{last}");
    assert!(said.contains("2 records in"), "{last}");
}

/// Runs `tmux` on a server of its own (`-L socket`).
fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("run tmux (tests/run installs it)")
}

/// The rows of a `top` screen that mention `name`, each split into its
/// columns (the box drawing left out).
fn rows_of(screen: &str, name: &str) -> Vec<Vec<String>> {
    screen
        .lines()
        .filter(|line| line.contains(name))
        .map(|line| {
            line.replace(['│', '┃', '|'], " ")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn top_shows_a_running_pipelines_figures_in_a_terminal() {
    let dir = scratch("metrics-top");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "clock-words"
batch_interval = "100ms"

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {}

[[sinks]]
id = "out"
kind = "files"
input = "words"
path = "out"
"#,
            toml_path(&wasm("split_words"))
        ),
    );
    let (mut running, url) = run_with_metrics(&manifest);
    let server = url.trim_end_matches("/metrics").to_owned();
    let sent = lines(0, 300);
    for line in &sent {
        writeln!(running.stdin(), "{line}").unwrap();
    }
    running.stdin().flush().unwrap();
    let words: usize = sent.iter().map(|l| l.split(' ').count()).sum();

    // `top` in a terminal of its own, 200 columns by 40 lines.
    let socket = format!("wasmstream-top-{}", std::process::id());
    let top = format!(
        "{} top --server {server} --every 100ms",
        env!("CARGO_BIN_EXE_wasmstream")
    );
    let started = tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "200",
            "-y",
            "40",
            &top,
        ],
    );
    assert!(started.status.success(), "{started:?}");
    let mut screen = String::new();
    running.wait_until("top shows every line and word", || {
        let captured = tmux(&socket, &["capture-pane", "-p", "-t", "top"]);
        screen = String::from_utf8_lossy(&captured.stdout).into_owned();
        let pipeline = rows_of(&screen, "clock-words");
        pipeline
            .first()
            .is_some_and(|row| row.get(2) == Some(&"300".to_owned()))
            && pipeline.iter().any(|row| {
                row.get(1) == Some(&"words".to_owned()) && row.get(3) == Some(&words.to_string())
            })
    });
    let rows = rows_of(&screen, "clock-words");
    // PIPELINE BATCHES IN OUT IN/S SCHED_MS PROC_MS INTERVAL_MS FAILED SKIPPED
    let pipeline = &rows[0];
    assert_eq!(pipeline.len(), 10, "{screen}");
    assert_eq!(pipeline[3], words.to_string(), "records out: {screen}");
    assert_eq!(pipeline[7], "100", "the interval: {screen}");
    assert_eq!(
        (pipeline[8].as_str(), pipeline[9].as_str()),
        ("0", "0"),
        "{screen}"
    );
    let files = std::fs::read_dir(dir.join("out")).unwrap().count();
    let batches: usize = pipeline[1].parse().expect("a batch count");
    assert!(
        batches >= files,
        "{batches} batches, {files} files: {screen}"
    );
    // PIPELINE STAGE IN OUT DEAD VERSION CALLS CPU_S MEM_MIB
    let stage = rows
        .iter()
        .find(|r| r.get(1).map(String::as_str) == Some("words"))
        .unwrap();
    assert_eq!(stage[2], "300", "{screen}");
    assert_eq!(stage[4], "0", "{screen}");
    assert_eq!(stage[5].len(), 12, "a version: {screen}");
    assert_eq!(
        stage[6],
        files.to_string(),
        "a call per batch with lines: {screen}"
    );

    // `q` quits, and the terminal's session with it.
    tmux(&socket, &["send-keys", "-t", "top", "q"]);
    running.wait_until("top quits on q", || {
        !tmux(&socket, &["has-session", "-t", "top"])
            .status
            .success()
    });
    running.close_stdin();
    assert!(running.finish().status.success());
}

#[test]
fn the_dashboard_and_the_overview_it_reads_are_served_beside_the_metrics() {
    let dir = scratch("metrics-dashboard");
    let manifest = stdin_to_files(&dir, "shown");
    let (mut running, url) = run_with_metrics(&manifest);
    let base = url.trim_end_matches("/metrics").to_owned();
    for n in 0..3 {
        writeln!(running.stdin(), "line {n}").unwrap();
        running.stdin().flush().unwrap();
        let out = dir.join("out");
        running.wait_until(&format!("{} lines are out", n + 1), || {
            output_lines(&out).len() == n + 1
        });
    }
    let get = |path: &str| -> (String, String) {
        let mut response = ureq::get(&format!("{base}{path}")).call().expect(path);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (kind, response.body_mut().read_to_string().unwrap())
    };
    // The page, its script and the charting library, built into the binary.
    let (kind, page) = get("/");
    assert!(kind.starts_with("text/html"), "{kind}");
    for id in [
        "pipelines",
        "chart-rate",
        "chart-scheduling",
        "chart-processing",
        "chart-total",
        "batches",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "no #{id} in the page"
        );
    }
    let (kind, script) = get("/dashboard.js");
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(
        script.contains("v1/overview"),
        "the page reads the overview"
    );
    let (_, uplot) = get("/vendor/uPlot.iife.min.js");
    assert!(uplot.len() > 40_000, "uPlot, whole: {} bytes", uplot.len());

    // The overview: the last batches asked for, of the pipeline asked for.
    let (kind, body) = get("/v1/overview?recent=2&pipeline=shown");
    assert!(kind.starts_with("application/json"), "{kind}");
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pipelines = overview.as_array().unwrap();
    assert_eq!(pipelines.len(), 1, "{body}");
    assert_eq!(pipelines[0]["records_in"], 3, "{body}");
    assert_eq!(
        pipelines[0]["recent"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    let (_, none) = get("/v1/overview?pipeline=other");
    assert_eq!(none, "[]");
    running.close_stdin();
    assert!(running.finish().status.success());
}
