//! The plan as data: resolved without loading anything, printed and read
//! back unchanged, and compared change by change.

use std::path::{Path, PathBuf};

use super::*;

/// A folder of its own with a manifest and a stand-in component file
/// (resolving only hashes components; binding would load them).
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasmstream-plan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("count.wasm"), b"\0asm stand-in").unwrap();
    std::fs::write(dir.join("lower.wasm"), b"\0asm another").unwrap();
    dir
}

const MANIFEST: &str = r#"
[pipeline]
name = "counts"
batch_interval = "200ms"
on_error = "dead-letter"
checkpoint = { dir = "checkpoints", every = 5 }

[[sources]]
id = "lines"
kind = "directory"
path = "data"

[[stages]]
id = "lower"
kind = "map"
input = "lines"
component = "lower.wasm"

[[stages]]
id = "count"
kind = "update_state_by_key"
input = "lower"
component = "count.wasm"
params = { start = "0" }
ttl = "30s"

[[stages]]
id = "per-second"
kind = "reduce_by_key_and_window"
input = "lower"
component = "count.wasm"
window = "1s"
time = "event"
watermark = "2s"

[[sinks]]
id = "out"
kind = "files"
input = "count"
path = "out"

[[sinks]]
id = "late"
kind = "stdout"
input = "per-second.late"

[[sinks]]
id = "rejected"
kind = "stdout"
input = "dead-letters"
"#;

fn plan(dir: &Path, text: &str) -> PipelinePlan {
    let file = dir.join("manifest.toml");
    let manifest = crate::manifest::parse(&file, text.to_owned()).unwrap();
    resolve(&manifest).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_plan_is_resolved_without_loading_its_components() {
    let dir = folder("resolve");
    let plan = plan(&dir, MANIFEST);
    assert_eq!(plan.interval, std::time::Duration::from_millis(200));
    let ids: Vec<&str> = plan.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["lower", "count", "per-second"]);
    let count = plan.stage("count").unwrap();
    let Step::UpdateStateByKey(component, Some(ttl)) = &count.step else {
        panic!("count is {:?}", count.step);
    };
    assert_eq!(ttl.as_secs(), 30);
    assert_eq!(component.path, dir.join("count.wasm"));
    assert_eq!(
        component.digest,
        crate::plugin::content_hash(b"\0asm stand-in")
    );
    assert_eq!(component.params, [("start".to_owned(), "0".to_owned())]);
    // Side outputs are typed streams, not names.
    let inputs: Vec<&Stream> = plan.sinks.iter().map(|s| &s.input).collect();
    assert_eq!(
        inputs,
        [
            &Stream::Stage(Id::new("count").unwrap()),
            &Stream::Late(Id::new("per-second").unwrap()),
            &Stream::DeadLetters,
        ]
    );
}

#[test]
fn a_plan_round_trips_through_json() {
    let dir = folder("json");
    let plan = plan(&dir, MANIFEST);
    let json = serde_json::to_string_pretty(&plan).unwrap();
    assert!(json.contains("\"interval\": \"200ms\""), "{json}");
    let back: PipelinePlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    assert!(diff(&plan, &back).is_empty());
}

#[test]
fn a_params_edit_is_a_new_version_of_the_component() {
    let dir = folder("params");
    let running = plan(&dir, MANIFEST);
    let edited = plan(
        &dir,
        &MANIFEST.replace(r#"start = "0""#, r#"start = "100""#),
    );
    let changes = diff(&running, &edited);
    let [
        Change::Component {
            stage,
            role: Role::Operator,
            from: Some(from),
            to: Some(to),
        },
    ] = changes.as_slice()
    else {
        panic!("{changes:?}");
    };
    assert_eq!(stage, "count");
    assert_eq!(from.digest, to.digest);
    assert_eq!(to.params, [("start".to_owned(), "100".to_owned())]);
    assert_eq!(changes[0].effect(), Effect::Version);
}

#[test]
fn a_parallelism_edit_of_a_stateful_stage_waits_for_a_restart() {
    let dir = folder("parallelism");
    let running = plan(&dir, MANIFEST);
    let edited = plan(
        &dir,
        &MANIFEST.replace("ttl = \"30s\"", "ttl = \"30s\"\nparallelism = 4"),
    );
    let changes = diff(&running, &edited);
    let [
        Change::Stage {
            stage,
            stateful: true,
            from,
            to,
        },
    ] = changes.as_slice()
    else {
        panic!("{changes:?}");
    };
    assert_eq!(stage, "count");
    assert_eq!((from.parallelism, to.parallelism), (1, 4));
    assert_eq!(changes[0].effect(), Effect::Restart);
    assert_eq!(
        changes[0].to_string(),
        "stage `count` (update_state_by_key with ttl 30000 ms reading lower, parallelism 1 → update_state_by_key with ttl 30000 ms reading lower, parallelism 4), whose state is laid out for the old one"
    );
}

#[test]
fn stages_and_sinks_added_are_a_new_graph() {
    let dir = folder("graph");
    let running = plan(&dir, MANIFEST);
    let edited = plan(
        &dir,
        &format!(
            "{MANIFEST}\n[[stages]]\nid = \"again\"\nkind = \"map\"\ninput = \"lower\"\ncomponent = \"lower.wasm\"\n\n[[sinks]]\nid = \"more\"\nkind = \"stdout\"\ninput = \"again\"\n"
        ),
    );
    let changes = diff(&running, &edited);
    let said: Vec<String> = changes.iter().map(Change::to_string).collect();
    assert_eq!(said, ["stage `again` added", "sink `more` added"]);
    assert!(changes.iter().all(|c| c.effect() == Effect::Replan));
}

#[test]
fn a_stage_reading_a_late_stream_runs_after_the_stage_making_it() {
    let dir = folder("order");
    let text = MANIFEST.replace(
        "[[stages]]\nid = \"lower\"",
        "[[stages]]\nid = \"first\"\nkind = \"map\"\ninput = \"per-second.late\"\ncomponent = \"lower.wasm\"\n\n[[stages]]\nid = \"lower\"",
    );
    let plan = plan(&dir, &text);
    let ids: Vec<&str> = plan.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["lower", "count", "per-second", "first"]);
}

#[test]
fn available_now_reads_the_folder_once_and_refuses_sources_that_never_end() {
    let dir = folder("available-now");
    let now = MANIFEST.replace(
        "batch_interval = \"200ms\"",
        "batch_interval = \"200ms\"\ntrigger = \"available-now\"",
    );
    let plan = plan(&dir, &now);
    assert_eq!(plan.trigger, Trigger::AvailableNow);
    assert_eq!(
        plan.sources[0].kind,
        SourceKind::Directory {
            path: dir.join("data"),
            watch: false,
            fields: Default::default(),
        },
        "a folder is read as it is at start"
    );

    let never_ends = now.replace(
        "path = \"data\"\n",
        "path = \"data\"\nwatch = true\n\n[[sources]]\nid = \"ticks\"\nkind = \"generator\"\n",
    );
    let file = dir.join("manifest.toml");
    let manifest = crate::manifest::parse(&file, never_ends).unwrap();
    let errors = resolve(&manifest).unwrap_err().to_string();
    assert!(
        errors.contains("sources[0].watch") && errors.contains("a watched folder never ends"),
        "{errors}"
    );
    assert!(
        errors.contains("sources[1].records")
            && errors.contains("a generator without `records` never ends"),
        "{errors}"
    );

    let typo = MANIFEST.replace("batch_interval = \"200ms\"", "trigger = \"once\"");
    let manifest = crate::manifest::parse(&file, typo).unwrap();
    let errors = resolve(&manifest).unwrap_err().to_string();
    assert!(
        errors.contains("pipeline.trigger") && errors.contains("\"once\" is not a trigger"),
        "{errors}"
    );
}

#[test]
fn narrow_stages_in_a_row_fuse_into_one_task_and_a_fork_or_an_exchange_ends_the_run() {
    let dir = folder("chains");
    let stage = |id: &str, kind: &str, input: &str, extra: &str| {
        format!(
            "[[stages]]\nid = \"{id}\"\nkind = \"{kind}\"\ninput = \"{input}\"\ncomponent = \"lower.wasm\"\n{extra}\n"
        )
    };
    let text = [
        "[pipeline]\nname = \"chains\"\n\n[[sources]]\nid = \"lines\"\nkind = \"directory\"\npath = \"data\"\n\n".to_owned(),
        stage("lower", "map", "lines", ""),
        stage("keep", "filter", "lower", ""),
        stage("words", "flat_map", "keep", ""),
        // An exchange: a run of its own.
        stage("sums", "reduce_by_key", "words", ""),
        stage("again", "map", "sums", ""),
        // Another parallelism: a new run.
        stage("wide", "map", "again", "parallelism = 2"),
        stage("wider", "filter", "wide", "parallelism = 2"),
        // `wider` is read twice: neither reader joins it.
        stage("left", "map", "wider", "parallelism = 2"),
        stage("right", "map", "wider", "parallelism = 2"),
        "[[sinks]]\nid = \"out\"\nkind = \"stdout\"\ninput = \"left\"\n\n[[sinks]]\nid = \"out2\"\nkind = \"stdout\"\ninput = \"right\"\n".to_owned(),
    ]
    .concat();
    let plan = plan(&dir, &text);
    let runs: Vec<Vec<&str>> = plan
        .chains()
        .into_iter()
        .map(|run| plan.stages[run].iter().map(|s| s.id.as_str()).collect())
        .collect();
    assert_eq!(
        runs,
        [
            vec!["lower", "keep", "words"],
            vec!["sums"],
            vec!["again"],
            vec!["wide", "wider"],
            vec!["left"],
            vec!["right"],
        ]
    );
}

/// A worker's manifest: pipeline `shared` reads Kafka topic `clicks` as
/// source `in`, runs `stages` (TOML blocks) and writes `last` to topic
/// `totals`.
fn worker_manifest(stages: &str, last: &str) -> String {
    format!(
        r#"
[pipeline]
name = "shared"
batch_interval = "1s"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "127.0.0.1:9092"
topic = "clicks"
{stages}
[[sinks]]
id = "out"
kind = "kafka"
input = "{last}"
bootstrap = "127.0.0.1:9092"
topic = "totals"
"#
    )
}

/// [`worker_manifest`]'s plan, made a worker's.
fn worker_plan(name: &str, stages: &str, last: &str) -> PipelinePlan {
    let mut plan = plan(&folder(name), &worker_manifest(stages, last));
    match plan.as_worker() {
        Ok(()) => plan,
        Err(e) => panic!("a worker cannot run {name}: {e}"),
    }
}

#[test]
fn a_stateless_kafka_pipeline_becomes_a_worker_whose_sources_join_their_groups() {
    let plan = worker_plan("worker-ok", "", "in");
    let SourceKind::Kafka(kafka) = &plan.sources[0].kind else {
        panic!("a Kafka source")
    };
    assert!(kafka.worker);
    assert_eq!(kafka.group, "wasmstream-shared-in");
}

#[test]
fn a_worker_reads_a_keyed_stage_through_a_repartition_topic_and_logs_its_state() {
    let stages = r#"
[[stages]]
id = "counts"
kind = "update_state_by_key"
input = "in"
component = "count.wasm"
"#;
    let plan = worker_plan("worker-keyed", stages, "counts");
    // The stage reads the repartition topic, as a shared source...
    assert_eq!(
        plan.stages[0].inputs,
        [Stream::Source(Id::new("counts-repartition").unwrap())]
    );
    let SourceKind::Kafka(source) = &plan.sources[1].kind else {
        panic!("a Kafka source")
    };
    assert_eq!(source.topic, "wasmstream-shared-counts-repartition");
    assert_eq!(source.group, "wasmstream-shared-counts");
    assert!(source.worker);
    // ...which what it read before is written to, by key.
    let sink = &plan.sinks[1];
    assert_eq!(sink.input, Stream::Source(Id::new("in").unwrap()));
    let SinkKind::Kafka(kafka) = &sink.kind else {
        panic!("a Kafka sink")
    };
    assert_eq!(kafka.topic, source.topic);
    assert!(kafka.repartition);
    // Its state's changes go to a changelog following those partitions.
    assert_eq!(plan.changelogs.len(), 1);
    assert_eq!(
        plan.changelogs[0].topic,
        "wasmstream-shared-counts-changelog"
    );
    assert_eq!(
        plan.changelogs[0].source,
        Id::new("counts-repartition").unwrap()
    );
}

#[test]
fn a_workers_process_by_key_keeps_its_state_and_timers_in_a_changelog() {
    let stages = r#"
[[stages]]
id = "sessions"
kind = "process_by_key"
input = "in"
component = "count.wasm"
watermark = "1s"
"#;
    let worker = worker_plan("worker-process", stages, "sessions");
    assert_eq!(
        worker.stages[0].inputs,
        [Stream::Source(Id::new("sessions-repartition").unwrap())]
    );
    assert_eq!(
        (worker.changelogs.iter())
            .map(|c| c.topic.as_str())
            .collect::<Vec<_>>(),
        ["wasmstream-shared-sessions-changelog"]
    );
}

/// A reduce-by-key-and-window per minute, over `time` (TOML lines).
fn per_minute(time: &str) -> String {
    format!(
        r#"
[[stages]]
id = "per-minute"
kind = "reduce_by_key_and_window"
input = "in"
component = "count.wasm"
window = "60s"
{time}
"#
    )
}

#[test]
fn a_worker_keeps_event_time_windows_in_a_changelog_and_refuses_batch_windows() {
    let events = worker_plan(
        "worker-windows",
        &per_minute("time = \"event\"\nwatermark = \"5s\""),
        "per-minute",
    );
    assert_eq!(
        events.stages[0].inputs,
        [Stream::Source(Id::new("per-minute-repartition").unwrap())]
    );
    assert_eq!(
        (events.changelogs.iter())
            .map(|c| c.topic.as_str())
            .collect::<Vec<_>>(),
        ["wasmstream-shared-per-minute-changelog"]
    );

    let text = worker_manifest(&per_minute(""), "per-minute");
    let mut batches = plan(&folder("worker-batch-windows"), &text);
    let error = batches.as_worker().expect_err("batch windows").to_string();
    assert!(
        error.contains("stage `per-minute` (reduce_by_key_and_window): workers run map"),
        "{error}"
    );
}

#[test]
fn a_workers_count_by_value_writes_its_repartition_topic_keyed_by_value() {
    let stages = r#"
[[stages]]
id = "tally"
kind = "count_by_value"
input = "in"
"#;
    let worker = worker_plan("worker-tally", stages, "tally");
    assert_eq!(
        worker.stages[0].inputs,
        [Stream::Source(Id::new("tally-repartition").unwrap())]
    );
    let SinkKind::Kafka(kafka) = &worker.sinks[1].kind else {
        panic!("a Kafka sink")
    };
    assert!(kafka.repartition && kafka.key_by_value);
    // A count per batch keeps no state.
    assert!(worker.changelogs.is_empty());
}

/// Clicks named from a table of users, partitioned or `global`.
fn named_clicks(global: bool) -> String {
    format!(
        r#"
[[sources]]
id = "users"
kind = "kafka"
bootstrap = "127.0.0.1:9092"
topic = "users"

[[stages]]
id = "named"
kind = "join"
left = "in"
table = "users"
global = {global}
"#
    )
}

#[test]
fn a_workers_table_join_reads_both_sides_from_one_repartition_topic_marked_by_side() {
    let worker = worker_plan("worker-join", &named_clicks(false), "named");
    let repartition = Id::new("named-repartition").unwrap();
    assert_eq!(
        worker.stages[0].inputs,
        [Stream::Source(repartition.clone())]
    );
    assert!(worker.stages[0].sides_in_header);
    // Each side is written to the one topic, with its side.
    let sides: Vec<(String, Option<u8>)> = (worker.sinks.iter())
        .filter_map(|sink| match &sink.kind {
            SinkKind::Kafka(k) if k.repartition => Some((sink.input.to_string(), k.side)),
            _ => None,
        })
        .collect();
    assert_eq!(sides, [("in".into(), Some(0)), ("users".into(), Some(1))]);
    // The table's rows are state, kept in a changelog.
    assert_eq!(
        (worker.changelogs.iter())
            .map(|c| (c.topic.as_str(), &c.source))
            .collect::<Vec<_>>(),
        [("wasmstream-shared-named-changelog", &repartition)]
    );
}

#[test]
fn every_worker_reads_a_global_tables_source_whole_and_shares_only_its_stream() {
    let worker = worker_plan("worker-global-join", &named_clicks(true), "named");
    let kafka = |id: &str| match &worker
        .sources
        .iter()
        .find(|s| s.id.as_str() == id)
        .unwrap()
        .kind
    {
        SourceKind::Kafka(kafka) => kafka.clone(),
        _ => panic!("a Kafka source"),
    };
    let (clicks, users) = (kafka("in"), kafka("users"));
    assert!(clicks.worker && clicks.commit_offsets);
    assert!(!users.worker && !users.commit_offsets);
    assert_eq!(users.start, crate::plan::Start::Earliest);
    // Nothing is repartitioned, and nothing needs a changelog.
    assert_eq!(worker.stages[0].inputs.len(), 2);
    assert!(worker.changelogs.is_empty());

    // A table source something else reads too would be shared, and each
    // worker would keep only its share of the table.
    let text = worker_manifest(&named_clicks(true), "named")
        + "\n[[sinks]]\nid = \"rows\"\nkind = \"stdout\"\ninput = \"users\"\n";
    let mut shared = plan(&folder("worker-global-shared"), &text);
    let error = shared.as_worker().expect_err("a shared table").to_string();
    assert!(
        error.contains("stage `named`: every worker keeps a global table whole"),
        "{error}"
    );
}

#[test]
fn a_workers_interval_join_parts_its_sides_by_header_and_logs_its_buffers() {
    let stages = r#"
[[sources]]
id = "impressions"
kind = "kafka"
bootstrap = "127.0.0.1:9092"
topic = "impressions"

[[stages]]
id = "attributed"
kind = "join"
left = "in"
right = "impressions"
time = "event"
before = "1s"
after = "0s"
watermark = "5s"
"#;
    let worker = worker_plan("worker-interval-join", stages, "attributed");
    assert!(worker.stages[0].sides_in_header);
    assert_eq!(
        (worker.changelogs.iter())
            .map(|c| c.topic.as_str())
            .collect::<Vec<_>>(),
        ["wasmstream-shared-attributed-changelog"]
    );
}

#[test]
fn what_a_worker_cannot_run_yet_is_named_each_at_once() {
    let mut plan = plan(
        &folder("worker-refused"),
        r#"
[pipeline]
name = "shared"
batch_interval = "1s"

[[sources]]
id = "lines"
kind = "stdin"

[[stages]]
id = "counts"
kind = "count_by_value_and_window"
input = "lines"
window = "2s"

[[sinks]]
id = "files"
kind = "files"
input = "counts"
path = "out"
"#,
    );
    let errors = plan.as_worker().expect_err("nothing here is shared");
    let text = errors.to_string();
    assert_eq!(errors.0.len(), 3, "{text}");
    assert!(
        text.contains(
            "manifest.toml: sources[0]: source `lines` (stdin): workers share only Kafka sources"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "stages[0]: stage `counts` (count_by_value_and_window): workers run map, filter"
        ),
        "{text}"
    );
    assert!(
        text.contains("sinks[0]: sink `files` (files): workers would write files"),
        "{text}"
    );
}
