//! Story: a data engineer's pipeline outgrows one machine, so they start
//! the same manifest with `wasmstream run --worker` on several: Kafka
//! spreads the input topic's partitions over the workers, and when one
//! dies, joins or leaves, its partitions move to the others with nothing
//! lost.
//!
//! Each story runs against the real broker that `tests/kafka-broker`
//! starts (tansu) and against librdkafka's mock cluster
//! (`wasmstream-mock-kafka`). On both nothing is lost. Only on the mock are
//! the duplicates checked: tansu 0.6's group coordinator at times gives a
//! partition to a joining worker while its owner, never told to revoke it,
//! still reads it, so on tansu both write that stretch (seen in the
//! workers' assignments; the mock, like Kafka, never does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::kafka::{
    MockKafka, bootstrap, create_topics, fresh_topic, produce_at, read_all_at, records_in_at,
};
use crate::support::{Running, manifest, run, scratch, toml_path, wasm};

/// Partitions of the input topic.
pub(crate) const PARTITIONS: i32 = 6;
/// Records a partition gives one batch at most (`max_rate_per_partition`
/// times the 200 ms interval): a worker killed mid-batch can have written
/// at most this many of each partition it read without committing them.
pub(crate) const PER_BATCH: usize = 20;
/// What a killed worker, or a rebalance, may have a keyed stage go
/// through again on the mock cluster: the last batch of each partition
/// of the input and of the repartition topic (written, but its commit
/// not landed, in each of the worker's two groups).
pub(crate) const AGAIN_AT_MOST: i64 = 2 * PER_BATCH as i64 * PARTITIONS as i64;

/// Input `Record-NNNN` from `from` on, keyed by number, so the
/// partitioner spreads them over every partition.
fn records(from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| (format!("key-{i}"), format!("Record-{i:04}")))
        .collect()
}

/// Where a story runs: the topics, and the mock cluster holding them if
/// it runs on one.
pub(crate) struct Cluster {
    pub at: String,
    pub input: String,
    pub output: String,
    mock: Option<MockKafka>,
}

impl Cluster {
    /// Fresh topics on the broker the tests start.
    pub fn broker(name: &str) -> Cluster {
        let (input, output) = (
            fresh_topic(&format!("{name}-in")),
            fresh_topic(&format!("{name}-out")),
        );
        create_topics(&[&input], PARTITIONS);
        create_topics(&[&output], 1);
        Cluster {
            at: bootstrap(),
            input,
            output,
            mock: None,
        }
    }

    /// A mock cluster of its own.
    pub fn mock() -> Cluster {
        Cluster::mock_with(&[])
    }

    /// A mock cluster of its own, holding `internal` topics too (of
    /// `PARTITIONS` partitions): the mock answers no request to make
    /// topics, so a worker's repartition and changelog topics are made
    /// with it.
    /// A mock cluster of its own for pipeline `pipeline`, holding the
    /// repartition and changelog topics of its stage `stage`, and `more`.
    pub fn mock_for(pipeline: &str, stage: &str, more: &[&str]) -> Cluster {
        let repartition = format!("wasmstream-{pipeline}-{stage}-repartition");
        let changelog = format!("wasmstream-{pipeline}-{stage}-changelog");
        let mut topics = vec![repartition.as_str(), changelog.as_str()];
        topics.extend(more);
        Cluster::mock_with(&topics)
    }

    pub fn mock_with(internal: &[&str]) -> Cluster {
        let mut topics = vec![("in", PARTITIONS as usize), ("out", 1)];
        topics.extend(internal.iter().map(|t| (*t, PARTITIONS as usize)));
        let mock = MockKafka::start(&topics);
        Cluster {
            at: mock.bootstrap.clone(),
            input: "in".into(),
            output: "out".into(),
            mock: Some(mock),
        }
    }

    pub fn produce(&self, records: &[(String, String)]) {
        produce_at(&self.at, &self.input, records);
    }

    /// Records the output topic holds (its offsets).
    fn written(&self) -> i64 {
        records_in_at(&self.at, &self.output)
    }

    /// How many times each value is in the output topic.
    fn copies(&self) -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for record in read_all_at(&self.at, &self.output) {
            *copies.entry(record.value).or_default() += 1;
        }
        copies
    }
}

/// A worker's manifest: pipeline `name` (its workers' group is named
/// after it) reads the cluster's input as source `in`, a batch of at most
/// [`PER_BATCH`] records a partition every 200 ms, runs `stages` (TOML
/// `[[stages]]` blocks, and any other sources they read) and writes stage
/// `last` to the cluster's output.
pub(crate) fn worker_manifest(
    dir: &Path,
    name: &str,
    cluster: &Cluster,
    stages: &str,
    last: &str,
) -> PathBuf {
    let Cluster {
        at, input, output, ..
    } = cluster;
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "{name}"
batch_interval = "200ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{at}"
topic = "{input}"
start = "earliest"
max_rate_per_partition = {rate}
{stages}
[[sinks]]
id = "out"
kind = "kafka"
input = "{last}"
bootstrap = "{at}"
topic = "{output}"
"#,
            rate = PER_BATCH * 5,
        ),
    )
}

/// A pipeline `name` lowering each record of the cluster's input into its
/// output.
fn pipeline(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = format!(
        r#"
[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lower}
"#,
        lower = toml_path(&wasm("lowercase")),
    );
    worker_manifest(dir, name, cluster, &stages, "lower")
}

pub(crate) fn worker(manifest: &Path) -> Running {
    Running::start(
        &["run", "--worker", manifest.to_str().unwrap()],
        Stdio::null(),
    )
}

/// Checks that `copies` holds the lowered values of records `0..n` and
/// nothing else; says how many copies it holds beyond one of each.
fn every_record_in(copies: &BTreeMap<String, usize>, n: usize) -> usize {
    let expected: Vec<String> = (0..n).map(|i| format!("record-{i:04}")).collect();
    let missing: Vec<&String> = (expected.iter())
        .filter(|v| !copies.contains_key(*v))
        .collect();
    let unknown: Vec<&String> = (copies.keys())
        .filter(|v| expected.binary_search(v).is_err())
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "{} records missing (first {:?}), {} not from the input (first {:?})",
        missing.len(),
        missing.first(),
        unknown.len(),
        unknown.first()
    );
    copies.values().map(|n| n - 1).sum()
}

pub(crate) fn stop(worker: Running) {
    worker.terminate();
    let result = worker.finish();
    assert!(result.status.success(), "{}", result.stderr);
    // Its manifest, read again by hot reload, is still a worker's.
    assert!(
        !result.stderr.contains("needs a restart"),
        "{}",
        result.stderr
    );
}

/// Three workers share the input; one is killed mid-stream and the other
/// two take its partitions over once the group stops hearing from it.
/// Checks nothing is lost and says how many records were written again.
fn kill_one_of_three(name: &str, cluster: &Cluster) -> usize {
    let dir = scratch(name);
    let manifest = pipeline(&dir, name, cluster);
    cluster.produce(&records(0, 1500));

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    for w in &workers {
        w.wait_for_log("assigned, reading from offsets");
    }
    let doomed = workers.remove(1);
    workers[0].wait_until("most of the first half came through", || {
        cluster.written() >= 1200
    });
    let killed = doomed.kill();
    assert!(!killed.status.success());
    cluster.produce(&records(1500, 1500));

    workers[0].wait_until_within(
        std::time::Duration::from_secs(180),
        "every record came through",
        || cluster.copies().len() >= 3000,
    );
    for w in workers {
        stop(w);
    }
    every_record_in(&cluster.copies(), 3000)
}

#[test]
fn three_workers_on_the_broker_lose_nothing_when_one_is_killed() {
    kill_one_of_three("workers-kill", &Cluster::broker("kill"));
}

#[test]
fn a_killed_workers_partitions_move_and_only_its_last_batch_is_written_again() {
    let again = kill_one_of_three("workers-kill-mock", &Cluster::mock());
    // Only what the killed worker wrote but had not committed: at most
    // its last batch of each partition it read. (Had it committed
    // nothing, its share of the first 1,200 would come again.)
    assert!(
        again <= PER_BATCH * PARTITIONS as usize,
        "{again} records written again"
    );
}

/// What a worker joining and one leaving wrote again.
struct Handoff {
    /// Records written more than once by the time the group, four
    /// strong, had caught up.
    joining: usize,
    /// Records written before the first worker left that were written
    /// again after it.
    leaving: usize,
}

/// Three workers share the input, a fourth joins mid-stream and the group
/// catches up, then the first leaves with SIGTERM. Checks nothing is lost
/// and says what the join and the leave wrote again.
fn join_a_fourth_and_stop_one(name: &str, cluster: &Cluster) -> Handoff {
    let dir = scratch(name);
    let manifest = pipeline(&dir, name, cluster);
    cluster.produce(&records(0, 1000));

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    workers[0].wait_until("part of the input came through", || {
        cluster.written() >= 200
    });
    // A fourth joins mid-stream: partitions move to it between batches.
    let fourth = worker(&manifest);
    fourth.wait_for_log("assigned, reading from offsets");
    workers.push(fourth);
    cluster.produce(&records(1000, 1000));
    shows_who_reads_what(cluster, &manifest, &workers);
    let before = cluster.copies();
    let joining = every_record_in(&before, 2000);

    // The first leaves: it finishes its batch, commits and leaves the
    // group, and the others go on from there.
    stop(workers.remove(0));
    cluster.produce(&records(2000, 1000));
    workers[0].wait_until_within(
        std::time::Duration::from_secs(180),
        "every record came through",
        || cluster.copies().len() >= 3000,
    );
    shows_who_reads_what(cluster, &manifest, &workers);
    for w in workers {
        stop(w);
    }
    let after = cluster.copies();
    every_record_in(&after, 3000);
    let leaving = (before.iter()).map(|(value, n)| after[value] - n).sum();
    Handoff { joining, leaving }
}

#[test]
fn workers_joining_and_leaving_on_the_broker_lose_nothing() {
    join_a_fourth_and_stop_one("workers-handoff", &Cluster::broker("handoff"));
}

#[test]
fn a_fourth_worker_joining_repeats_at_most_a_batch_per_partition_and_one_leaving_with_sigterm_nothing()
 {
    let handoff = join_a_fourth_and_stop_one("workers-handoff-mock", &Cluster::mock());
    // The mock refuses every commit while its group rebalances (seconds,
    // each round), so a worker giving a partition up to the newcomer may
    // find the batch it wrote last refused: the newcomer writes that
    // batch again. A worker refused reads nothing more until its commit
    // lands, so no more than that batch repeats.
    assert!(
        handoff.joining <= PER_BATCH * PARTITIONS as usize,
        "{} records written again as the fourth worker joined",
        handoff.joining
    );
    // One leaving waits for its last commit before it goes.
    assert_eq!(
        handoff.leaving, 0,
        "records written again after the first worker left"
    );
}

/// Whether `wasmstream status --workers` shows every partition of every
/// shared source (the repartition topics' too) caught up: its lag 0.
pub(crate) fn caught_up(manifest: &Path) -> bool {
    let out = run(&["status", "--workers", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", out.stderr);
    // `partition worker committed end lag` rows, under each source.
    let lags: Vec<&str> = (out.stdout.lines())
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|row| row.len() == 5 && row[0].parse::<i32>().is_ok())
        .map(|row| row[4])
        .collect();
    !lags.is_empty() && lags.iter().all(|&lag| lag == "0")
}

/// `wasmstream status --workers` shows every partition caught up, and
/// names one of `readers` (by process id) as each partition's reader, each
/// of them at least once. (tansu 0.6 keeps no commit metadata, where the
/// names come from: there status shows offsets and lag only.)
fn shows_who_reads_what(cluster: &Cluster, manifest: &Path, readers: &[Running]) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    readers[0].wait_until("status shows every partition caught up", || {
        let out = run(&["status", "--workers", manifest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", out.stderr);
        // `partition worker committed end lag`, under the header.
        rows = (out.stdout.lines())
            .skip_while(|l| !l.trim_start().starts_with("partition"))
            .skip(1)
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .collect();
        rows.len() == PARTITIONS as usize && rows.iter().all(|r| r[4] == "0")
    });
    if cluster.mock.is_none() {
        return;
    }
    let names: Vec<String> = readers.iter().map(|r| format!(":{}", r.pid())).collect();
    for row in &rows {
        assert!(
            names.iter().any(|n| row[1].ends_with(n.as_str())),
            "partition {} read by {}, not one of {names:?}",
            row[0],
            row[1]
        );
    }
    for name in &names {
        assert!(
            rows.iter().any(|r| r[1].ends_with(name.as_str())),
            "{name} reads no partition: {rows:?}"
        );
    }
}

#[test]
fn what_a_worker_cannot_share_yet_is_refused_naming_it() {
    let dir = scratch("workers-refused");
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "counting"
batch_interval = "1s"

[[sources]]
id = "lines"
kind = "directory"
path = "in"

[[stages]]
id = "counts"
kind = "count_by_value_and_window"
input = "lines"
window = "2s"

[[sinks]]
id = "shown"
kind = "stdout"
input = "counts"
"#,
    );
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let out = run(&["run", "--worker", manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("source `lines` (directory): workers share only Kafka sources"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "stage `counts` (count_by_value_and_window): workers run map, filter, flat-map, union, reduce-by-key, count-by-value, update-state, process-by-key, event-time reduce-by-key-and-window, interval join and stream-table join stages"
        ),
        "{}",
        out.stderr
    );
}
