//! Story: the pipeline that outgrew one machine sums each user's clicks
//! per 10 s of event time (a reduce-by-key-and-window over the clicks'
//! own timestamps). Started as several workers, each user's clicks reach
//! one worker through the stage's repartition topic, and the open windows
//! live in a changelog topic too: when a worker is killed, the workers
//! that take its partitions over read its windows back and go on summing
//! them, and every window ends with at least its clicks (at least once:
//! a killed worker's last batch may be summed again; on the mock cluster
//! no more than that).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::read_all_at;
use crate::support::{Running, scratch, toml_path, wasm};
use crate::workers::{AGAIN_AT_MOST, Cluster, worker, worker_manifest};

/// Users clicking.
const USERS: usize = 24;
/// Clicks in all, one every [`EVERY`] ms of event time.
const CLICKS: usize = 2400;
const EVERY: i64 = 25;
/// The windows' length, in ms.
const WINDOW: i64 = 10_000;
/// When the first click was, in ms since the Unix epoch (2026-01-01): a
/// Kafka timestamp of 0 means "now" to producers.
const FIRST: i64 = 1_767_225_600_000;

/// Click `i`: user `user-{i % USERS}` at `FIRST + i * EVERY` ms,
/// `{"user":"user-07","n":1,"t":1767225600175}`, keyed by its own number, so each
/// user's clicks are spread over every partition of the input.
fn clicks(from: usize, n: usize) -> Vec<(String, String)> {
    (from..from + n)
        .map(|i| {
            let (user, t) = (i % USERS, FIRST + i as i64 * EVERY);
            let value = format!(r#"{{"user":"user-{user:02}","n":1,"t":{t}}}"#);
            (format!("click-{i}"), value)
        })
        .collect()
}

/// A click of nothing (`n` 0) per user, a window past the last click:
/// every worker's watermark passes the end of the clicks' windows.
fn closing() -> Vec<(String, String)> {
    let t = FIRST + CLICKS as i64 * EVERY + WINDOW;
    (0..USERS)
        .map(|user| {
            let value = format!(r#"{{"user":"user-{user:02}","n":0,"t":{t}}}"#);
            (format!("closing-{user}"), value)
        })
        .collect()
}

/// Each user's clicks per window start: what the sums should reach.
fn truth() -> BTreeMap<(String, i64), i64> {
    let mut truth = BTreeMap::new();
    for i in 0..CLICKS {
        let start = (FIRST + i as i64 * EVERY) / WINDOW * WINDOW;
        *truth
            .entry((format!("user-{:02}", i % USERS), start))
            .or_default() += 1;
    }
    truth
}

/// A pipeline `name` summing each user's clicks per 10 s window of event
/// time. Windows are emitted once the watermark (1 s behind the latest
/// click a worker has seen) passes their end, and again at each click
/// that comes later, for an hour: so no click is too late, however far
/// apart the workers read.
fn summing_windows(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = format!(
        r#"
[[stages]]
id = "by-user"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "user", value = "n", timestamp = "t" }}

[[stages]]
id = "per-10s"
kind = "reduce_by_key_and_window"
input = "by-user"
component = {sum}
time = "event"
window = "10s"
watermark = "1s"
allowed_lateness = "1h"
"#,
        extract = toml_path(&wasm("json_extract")),
        sum = toml_path(&wasm("sum")),
    );
    worker_manifest(dir, name, cluster, &stages, "per-10s")
}

/// Each user's last sum per window start in the output topic (its one
/// partition keeps the order the sums were written in).
fn last_sums(cluster: &Cluster) -> BTreeMap<(String, i64), i64> {
    let mut last = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        let user = record.key.clone().expect("sums are keyed");
        let start = (record.header("window_start"))
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("a window's sum without its start: {record:?}"));
        let sum = (record.value.parse::<i64>()).unwrap_or_else(|e| panic!("{record:?}: {e}"));
        last.insert((user, start), sum);
    }
    last
}

/// Whether every window of the clicks has a sum of at least its clicks.
fn all_summed(last: &BTreeMap<(String, i64), i64>) -> bool {
    (truth().iter()).all(|(window, &n)| last.get(window).is_some_and(|&sum| sum >= n))
}

/// Three workers sum the clicks per user and window; one is killed once
/// the first windows are out, and the other two take its partitions and
/// their open windows over. Checks every window ends with at least its
/// clicks, and says by how much the sums ran ahead in all.
fn kill_one_of_three_windowing(name: &str, pipeline: &str, cluster: &Cluster) -> i64 {
    let dir = scratch(name);
    let manifest = summing_windows(&dir, pipeline, cluster);
    let half = CLICKS / 2;
    cluster.produce(&clicks(0, half));

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    let doomed = workers.remove(1);
    workers[0].wait_until("every user's first window summed", || {
        let last = last_sums(cluster);
        (0..USERS).all(|u| last.contains_key(&(format!("user-{u:02}"), FIRST)))
    });
    assert!(!doomed.kill().status.success());
    cluster.produce(&clicks(half, CLICKS - half));
    cluster.produce(&closing());

    workers[0].wait_until_within(
        Duration::from_secs(180),
        "every window summed to the end",
        || all_summed(&last_sums(cluster)),
    );
    for w in workers {
        crate::workers::stop(w);
    }
    let last = last_sums(cluster);
    // Had a user's clicks not been brought to one worker, or the moved
    // partitions' open windows not been read back, some window would
    // have ended below its clicks.
    assert!(all_summed(&last), "{last:?}");
    (truth().iter()).map(|(window, n)| last[window] - n).sum()
}

#[test]
fn windows_on_the_broker_survive_a_killed_worker() {
    let cluster = Cluster::broker("windows");
    let topic = crate::kafka::fresh_topic("windowing");
    kill_one_of_three_windowing("workers-windows", &topic, &cluster);
}

#[test]
fn a_killed_workers_windows_move_with_its_partitions_and_run_ahead_by_its_last_batch_at_most() {
    let cluster = Cluster::mock_for("windowing", "per-10s", &[]);
    let ahead = kill_one_of_three_windowing("workers-windows-mock", "windowing", &cluster);
    assert!(
        ahead <= AGAIN_AT_MOST,
        "sums ran ahead by {ahead} (at most {AGAIN_AT_MOST})"
    );
}
