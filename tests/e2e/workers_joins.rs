//! Story: the clicks pipeline that outgrew one machine names each click's
//! user from a table of users (a topic of upserts, keyed by user), with a
//! stream-table join. Started as several workers, the clicks and the
//! users' rows both go through the join's repartition topic, so a user's
//! clicks meet their row on the one worker that owns the user; the rows
//! are state, kept in a changelog too: when a worker is killed, the
//! workers that take its partitions over read its rows back, and every
//! click still finds its user's name (at least once: a killed worker's
//! last batch may be joined again; on the mock cluster no more than that).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::{create_topics, fresh_topic, produce_at, read_all_at};
use crate::support::{Running, scratch, toml_path, wasm};
use crate::workers::{Cluster, PARTITIONS, PER_BATCH, stop, worker, worker_manifest};

/// Users with a row in the table.
const USERS: usize = 24;
/// Clicks in all.
const CLICKS: usize = 2400;

/// User `u`'s row: `{"user":"user-07","name":"Name 07"}`, keyed by user.
fn rows() -> Vec<(String, String)> {
    (0..USERS)
        .map(|u| {
            let value = format!(r#"{{"user":"user-{u:02}","name":"Name {u:02}"}}"#);
            (format!("user-{u:02}"), value)
        })
        .collect()
}

/// Click `i`: `{"user":"user-07","click":7}`, by user `i % USERS`, keyed
/// by its own number, so each user's clicks are spread over every
/// partition of the input.
fn clicks(from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let value = format!(r#"{{"user":"user-{:02}","click":{i}}}"#, i % USERS);
            (format!("click-{i}"), value)
        })
        .collect()
}

/// A pipeline `name` keying the clicks (source `in`) and the rows (topic
/// `users`) by user and joining them: `[click, name]` for each click
/// whose user has a row.
fn naming(dir: &Path, name: &str, cluster: &Cluster, users: &str) -> PathBuf {
    let stages = format!(
        r#"
[[sources]]
id = "users"
kind = "kafka"
bootstrap = "{at}"
topic = "{users}"
start = "earliest"

[[stages]]
id = "by-user"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "user" }}

[[stages]]
id = "names"
kind = "map"
input = "users"
component = {extract}
params = {{ key = "user", value = "name" }}

[[stages]]
id = "named"
kind = "join"
left = "by-user"
table = "names"
"#,
        at = cluster.at,
        extract = toml_path(&wasm("json_extract")),
    );
    worker_manifest(dir, name, cluster, &stages, "named")
}

/// How many times each click came out of the join; checks each came out
/// with its own user's name.
fn named(cluster: &Cluster) -> BTreeMap<usize, usize> {
    let mut copies = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        let user = record.key.clone().expect("joined clicks are keyed");
        let click = (record.value.split(r#""click":"#).nth(1))
            .and_then(|rest| rest.split('}').next()?.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("not a joined click: {record:?}"));
        let expected = format!(
            r#"[{{"user":"{user}","click":{click}}},"Name {}"]"#,
            &user["user-".len()..]
        );
        assert_eq!(record.value, expected, "click {click} named wrong");
        assert_eq!(user, format!("user-{:02}", click % USERS));
        *copies.entry(click).or_default() += 1;
    }
    copies
}

/// The users whose rows the join's changelog holds.
fn rows_logged(cluster: &Cluster, changelog: &str) -> BTreeSet<String> {
    (read_all_at(&cluster.at, changelog).into_iter())
        .filter_map(|record| record.key)
        .collect()
}

/// Three workers join the clicks with the users' rows; one is killed once
/// every row is in and the first clicks are named, and the other two
/// take its partitions and their rows over. Checks every click comes out
/// named, and says how many came out more than once.
fn kill_one_of_three_joining(name: &str, pipeline: &str, cluster: &Cluster, users: &str) -> usize {
    let dir = scratch(name);
    let manifest = naming(&dir, pipeline, cluster, users);
    produce_at(&cluster.at, users, &rows());

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    // Clicks come once every row is in the table: a click that reached
    // the join before its user's row would find none (as on one machine).
    let changelog = format!("wasmstream-{pipeline}-named-changelog");
    workers[0].wait_until("every user's row in the join's changelog", || {
        rows_logged(cluster, &changelog).len() == USERS
    });
    let half = CLICKS / 2;
    cluster.produce(&clicks(0, half));
    let doomed = workers.remove(1);
    workers[0].wait_until("a third of the clicks named", || {
        named(cluster).len() >= CLICKS / 3
    });
    assert!(!doomed.kill().status.success());
    cluster.produce(&clicks(half, CLICKS - half));

    workers[0].wait_until_within(Duration::from_secs(180), "every click named", || {
        named(cluster).len() >= CLICKS
    });
    for w in workers {
        stop(w);
    }
    // Had the rows of the killed worker's partitions not been read back
    // from the changelog, their users' later clicks would have found no
    // row, and an inner join writes nothing for those.
    let copies = named(cluster);
    let missing: Vec<usize> = (0..CLICKS).filter(|c| !copies.contains_key(c)).collect();
    assert!(missing.is_empty(), "clicks not named: {missing:?}");
    assert_eq!(copies.len(), CLICKS, "clicks that were never produced");
    copies.values().map(|n| n - 1).sum()
}

#[test]
fn a_table_join_on_the_broker_survives_a_killed_worker() {
    let cluster = Cluster::broker("joining");
    let users = fresh_topic("joining-users");
    create_topics(&[&users], PARTITIONS);
    let pipeline = fresh_topic("joining");
    kill_one_of_three_joining("workers-joins", &pipeline, &cluster, &users);
}

#[test]
fn a_killed_workers_table_rows_move_with_its_partitions_and_repeat_its_last_batch_at_most() {
    let cluster = Cluster::mock_with(&[
        "users",
        "wasmstream-joining-named-repartition",
        "wasmstream-joining-named-changelog",
    ]);
    let again = kill_one_of_three_joining("workers-joins-mock", "joining", &cluster, "users");
    // As for counts (`workers_state.rs`): the killed worker's last batch
    // of each partition, of the input and of the repartition topic.
    let bound = 2 * PER_BATCH * PARTITIONS as usize;
    assert!(
        again <= bound,
        "{again} clicks named again (at most {bound})"
    );
}
