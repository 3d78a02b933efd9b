//! Story: the pipeline that outgrew one machine groups by key: a
//! per-batch sum per key (reduce-by-key), and per-key state (a running
//! count per key). Started as several workers, each key's records
//! reach one worker through the pipeline's repartition topic, and its
//! count lives in a changelog topic too: when a worker is killed, the
//! workers that take its partitions over read their counts back, and the
//! final counts are the single-machine run's.
//!
//! At least once: a worker killed after writing a batch but before
//! committing its offsets has that batch counted again by the next owner,
//! so a count may run ahead by at most that batch. On tansu 0.6 more may
//! (its coordinator at times lets two workers read one partition, see
//! `workers.rs`), so there only "nothing lost" is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::{fresh_topic, read_all_at};
use crate::support::{Running, scratch, toml_path, wasm};
use crate::workers::{AGAIN_AT_MOST, Cluster, stop, worker, worker_manifest};

/// Keys in the input: a few per partition.
const KEYS: usize = 24;

/// `n` records of value 1, record `i` keyed `key-{i % KEYS}`.
fn ones(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("key-{:02}", i % KEYS), "1".to_owned()))
        .collect()
}

/// Records `from..from + n`: record `i` is a click of user
/// `key-{i % KEYS}`, `{"user":"key-07"}`, keyed by its own number, so
/// each user's clicks are spread over every partition of the input.
fn clicks(from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let user = format!("key-{:02}", i % KEYS);
            (format!("click-{i}"), format!(r#"{{"user":"{user}"}}"#))
        })
        .collect()
}

/// A pipeline `name` summing each key's values in each batch, writing
/// `(key, sum)`.
fn summing(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = format!(
        r#"
[[stages]]
id = "sums"
kind = "reduce_by_key"
input = "in"
component = {sum}
"#,
        sum = toml_path(&wasm("sum")),
    );
    worker_manifest(dir, name, cluster, &stages, "sums")
}

/// Each key's sums in the output topic, added up.
fn totals(cluster: &Cluster) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        let key = record.key.expect("sums are keyed");
        *totals.entry(key).or_default() += record.value.parse::<i64>().expect("a sum");
    }
    totals
}

/// Makes a worker's manifest: `(dir, pipeline, cluster)`.
type Manifest = fn(&Path, &str, &Cluster) -> PathBuf;

/// Three workers run `pipeline` over `input` (2,400 records of 24 keys or
/// values), writing `(key, n)` records, joining one after the other (so
/// partitions move between them mid-stream), then stop with SIGTERM.
/// Says each key's total: its records' count, if nothing is lost or
/// repeated.
fn three_workers_summing(
    name: &str,
    (pipeline, manifest): (&str, Manifest),
    input: &[(String, String)],
    cluster: &Cluster,
) -> BTreeMap<String, i64> {
    let dir = scratch(name);
    let manifest = manifest(&dir, pipeline, cluster);
    cluster.produce(input);
    let mut workers = vec![worker(&manifest)];
    for _ in 0..2 {
        workers[0].wait_until("part of the input summed", || {
            totals(cluster).values().sum::<i64>() >= 400 * workers.len() as i64
        });
        workers.push(worker(&manifest));
    }
    workers[0].wait_until_within(Duration::from_secs(180), "every key summed", || {
        let totals = totals(cluster);
        totals.len() == KEYS && totals.values().all(|&n| n >= 100)
    });
    for w in workers {
        stop(w);
    }
    totals(cluster)
}

#[test]
fn sums_by_key_on_the_broker_lose_nothing_as_workers_join() {
    let cluster = Cluster::broker("sums");
    let pipeline = fresh_topic("summing");
    let totals = three_workers_summing("workers-sums", (&pipeline, summing), &ones(2400), &cluster);
    assert_eq!(totals.len(), KEYS, "{totals:?}");
    assert!(totals.values().all(|&n| n >= 100), "{totals:?}");
}

#[test]
fn sums_by_key_across_workers_joining_on_the_mock_repeat_at_most_a_batch_per_partition() {
    let cluster = Cluster::mock_for("summing", "sums", &[]);
    let totals = three_workers_summing(
        "workers-sums-mock",
        ("summing", summing),
        &ones(2400),
        &cluster,
    );
    assert_eq!(totals.len(), KEYS, "{totals:?}");
    assert!(totals.values().all(|&n| n >= 100), "{totals:?}");
    // The mock refuses commits while its group rebalances, and each
    // worker is in two groups (the input's and the repartition topic's):
    // a partition moved with its last batch's commit refused has that
    // batch read again by its next owner, once per group at most.
    let again = totals.values().sum::<i64>() - 2400;
    assert!(
        again <= AGAIN_AT_MOST,
        "{again} records summed again (at most {AGAIN_AT_MOST})"
    );
}

/// A pipeline `name` counting each value in each batch (the clicks'
/// values are their users), writing `(value, count)`.
fn tallying(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = r#"
[[stages]]
id = "tally"
kind = "count_by_value"
input = "in"
"#;
    worker_manifest(dir, name, cluster, stages, "tally")
}

#[test]
fn counts_by_value_across_workers_joining_on_the_mock_repeat_at_most_a_batch_per_partition() {
    let cluster = Cluster::mock_for("tallying", "tally", &[]);
    let totals = three_workers_summing(
        "workers-tally-mock",
        ("tallying", tallying),
        &clicks(0, 2400),
        &cluster,
    );
    // Each value's records went to one partition of the repartition
    // topic, so one worker at a time counted it...
    let mut homes: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for record in read_all_at(&cluster.at, "wasmstream-tallying-tally-repartition") {
        assert_eq!(record.key.as_ref(), Some(&record.value), "keyed by value");
        homes
            .entry(record.value)
            .or_default()
            .insert(record.partition);
    }
    assert_eq!(homes.len(), KEYS, "{homes:?}");
    assert!(homes.values().all(|p| p.len() == 1), "{homes:?}");
    // ...and its counts add up to its clicks, but for a batch read again
    // as for sums.
    assert_eq!(totals.len(), KEYS, "{totals:?}");
    assert!(totals.values().all(|&n| n >= 100), "{totals:?}");
    let again = totals.values().sum::<i64>() - 2400;
    assert!(
        again <= AGAIN_AT_MOST,
        "{again} records counted again (at most {AGAIN_AT_MOST})"
    );
}

/// A pipeline `name` counting each user's clicks so far, writing
/// `(user, count)` each batch a user has clicks: the clicks are keyed by
/// user first, so each user's count needs all of their clicks, read by
/// every worker, on one worker.
fn counting(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = format!(
        r#"
[[stages]]
id = "by-user"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "user" }}

[[stages]]
id = "counts"
kind = "update_state_by_key"
input = "by-user"
component = {count}
"#,
        extract = toml_path(&wasm("json_extract")),
        count = toml_path(&wasm("running_count")),
    );
    worker_manifest(dir, name, cluster, &stages, "counts")
}

/// Each key's last count in the output topic (its one partition keeps
/// the order the counts were written in).
fn last_counts(cluster: &Cluster) -> BTreeMap<String, i64> {
    let mut last = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        let key = record.key.expect("counts are keyed");
        last.insert(key, record.value.parse::<i64>().expect("a count"));
    }
    last
}

/// Three workers count the input; one is killed mid-stream, after every
/// key has been counted for a while, and the other two take its
/// partitions and their counts over. Checks every key's final count is at
/// least its number of records, and says by how much the counts ran
/// ahead in all.
fn kill_one_of_three_counting(name: &str, pipeline: &str, cluster: &Cluster) -> i64 {
    let dir = scratch(name);
    let manifest = counting(&dir, pipeline, cluster);
    let (half, all) = (1200, 2400);
    cluster.produce(&clicks(0, half));

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    let doomed = workers.remove(1);
    workers[0].wait_until("every key counted past its first records", || {
        let last = last_counts(cluster);
        last.len() == KEYS && last.values().all(|&n| n >= 20)
    });
    assert!(!doomed.kill().status.success());
    cluster.produce(&clicks(half, all - half));

    let per_key = (all / KEYS) as i64;
    workers[0].wait_until_within(
        Duration::from_secs(180),
        "every key counted to the end",
        || {
            let last = last_counts(cluster);
            last.len() == KEYS && last.values().all(|&n| n >= per_key)
        },
    );
    for w in workers {
        stop(w);
    }
    let last = last_counts(cluster);
    assert_eq!(last.len(), KEYS, "{last:?}");
    // Had a user's clicks not been brought to one worker, or the moved
    // partitions' counts not been read back, their counts would have
    // ended below `per_key`.
    assert!(last.values().all(|&n| n >= per_key), "{last:?}");
    last.values().map(|n| n - per_key).sum()
}

#[test]
fn counts_on_the_broker_survive_a_killed_worker() {
    // Named afresh: a pipeline's state lives in topics named after it.
    let pipeline = fresh_topic("counting");
    let cluster = Cluster::broker("state-kill");
    kill_one_of_three_counting("workers-state-kill", &pipeline, &cluster);
}

#[test]
fn a_killed_workers_counts_move_with_its_partitions_and_run_ahead_by_its_last_batch_at_most() {
    let cluster = Cluster::mock_for("counting", "counts", &[]);
    let ahead = kill_one_of_three_counting("workers-state-kill-mock", "counting", &cluster);
    assert!(
        ahead <= AGAIN_AT_MOST,
        "counts ran ahead by {ahead} (at most {AGAIN_AT_MOST})"
    );
}
