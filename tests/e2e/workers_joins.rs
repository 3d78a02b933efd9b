//! Story: the clicks pipeline that outgrew one machine joins its clicks
//! with another topic: it names each click's user from a table of users
//! (a stream-table join), or meets each click with the impression it came
//! from a moment before (an interval join over event time). Started as
//! several workers, both sides go through the join's repartition topic,
//! so a key's records of both sides meet on the one worker that owns the
//! key; what the join keeps (the table's rows, the buffered impressions)
//! is per-key state, in a changelog too: when a worker is killed, the
//! workers that take its partitions over read it back, and every click
//! still finds its match (at least once: a killed worker's last batch may
//! be joined again; on the mock cluster no more than that).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::kafka::{create_topics, fresh_topic, produce_at, read_all_at};
use crate::support::{Running, scratch, toml_path, wasm};
use crate::workers::{AGAIN_AT_MOST, Cluster, PARTITIONS, stop, worker, worker_manifest};

/// Users with a row in the table.
const USERS: usize = 24;
/// Clicks in all.
const CLICKS: usize = 2400;
/// Clicks with an impression before them, for the interval join.
const ADS: usize = 600;
/// When the first impression was, in ms since the Unix epoch (2026-01-01):
/// a Kafka timestamp of 0 means "now" to producers.
const FIRST: i64 = 1_767_225_600_000;

/// A join and what goes through it.
struct Join {
    /// The stages, reading the clicks (source `in`) and source `other`,
    /// ending in stage `joined`.
    stages: String,
    /// The records of the other side, all in before any click comes.
    other: Vec<(String, String)>,
    /// The clicks.
    clicks: Vec<(String, String)>,
    /// What the join writes: one record each.
    joined: BTreeSet<String>,
    /// Whether the join keeps the other side in its changelog (else every
    /// worker reads it whole: a global table).
    logged: bool,
}

/// Each click named from a table of users: user `u`'s row is
/// `{"user":"user-07","name":"Name 07"}`, keyed by user; click `i` is
/// `{"user":"user-07","click":7}` by user `i % USERS`, keyed by its own
/// number (so each user's clicks are spread over every partition of the
/// input), and comes out as `[click, "Name 07"]`.
fn naming(at: &str, other: &str) -> Join {
    naming_with(at, other, false)
}

/// [`naming`] with a global table: every worker reads the users' rows
/// whole, and only the clicks are shared.
fn naming_globally(at: &str, other: &str) -> Join {
    naming_with(at, other, true)
}

fn naming_with(at: &str, other: &str, global: bool) -> Join {
    let rows = (0..USERS)
        .map(|u| {
            let row = format!(r#"{{"user":"user-{u:02}","name":"Name {u:02}"}}"#);
            (format!("user-{u:02}"), row)
        })
        .collect();
    let clicks: Vec<(String, String)> = (0..CLICKS)
        .map(|i| {
            let click = format!(r#"{{"user":"user-{:02}","click":{i}}}"#, i % USERS);
            (format!("click-{i}"), click)
        })
        .collect();
    let joined = (clicks.iter().enumerate())
        .map(|(i, (_, click))| format!(r#"[{click},"Name {:02}"]"#, i % USERS))
        .collect();
    let stages = format!(
        r#"{source}
[[stages]]
id = "by-user"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "user" }}

[[stages]]
id = "names"
kind = "map"
input = "other"
component = {extract}
params = {{ key = "user", value = "name" }}

[[stages]]
id = "joined"
kind = "join"
left = "by-user"
table = "names"
global = {global}
"#,
        source = other_source(at, other),
        extract = toml_path(&wasm("json_extract")),
    );
    Join {
        stages,
        other: rows,
        clicks,
        joined,
        logged: !global,
    }
}

/// Each click met with its ad's impression, shown 50 ms before it (an
/// interval join over event time: a click at `t` meets the impressions
/// of its ad at `t - 1s ..= t`). Ad `i`'s impression is
/// `{"ad":"ad-7","t":...}`, its click `{"ad":"ad-7","click":7,"t":...}`,
/// keyed by ad; the pair comes out as `[click, impression]`. The watermark
/// trails by an hour, so no record is late and no impression is dropped
/// while the test runs, however far apart the workers read.
fn attributing(at: &str, other: &str) -> Join {
    let time = |i: usize| FIRST + i as i64 * 100;
    let impressions: Vec<(String, String)> = (0..ADS)
        .map(|i| {
            let impression = format!(r#"{{"ad":"ad-{i}","t":{}}}"#, time(i));
            (format!("ad-{i}"), impression)
        })
        .collect();
    let clicks: Vec<(String, String)> = (0..ADS)
        .map(|i| {
            let click = format!(r#"{{"ad":"ad-{i}","click":{i},"t":{}}}"#, time(i) + 50);
            (format!("ad-{i}"), click)
        })
        .collect();
    let joined = (clicks.iter().zip(&impressions))
        .map(|((_, click), (_, impression))| format!("[{click},{impression}]"))
        .collect();
    let stages = format!(
        r#"{source}
[[stages]]
id = "clicks"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "ad", timestamp = "t" }}

[[stages]]
id = "impressions"
kind = "map"
input = "other"
component = {extract}
params = {{ key = "ad", timestamp = "t" }}

[[stages]]
id = "joined"
kind = "join"
left = "clicks"
right = "impressions"
time = "event"
before = "1s"
after = "0s"
watermark = "1h"
"#,
        source = other_source(at, other),
        extract = toml_path(&wasm("json_extract")),
    );
    Join {
        stages,
        other: impressions,
        clicks,
        joined,
        logged: true,
    }
}

/// Source `other`, reading topic `other` from the start.
fn other_source(at: &str, other: &str) -> String {
    format!(
        r#"
[[sources]]
id = "other"
kind = "kafka"
bootstrap = "{at}"
topic = "{other}"
start = "earliest"
"#
    )
}

/// How many times the join wrote each value.
fn written(cluster: &Cluster) -> BTreeMap<String, usize> {
    let mut copies = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        *copies.entry(record.value).or_default() += 1;
    }
    copies
}

/// The keys whose state the join's changelog holds.
fn logged(cluster: &Cluster, changelog: &str) -> BTreeSet<String> {
    (read_all_at(&cluster.at, changelog).into_iter())
        .filter_map(|record| record.key)
        .collect()
}

/// Three workers run `join` as pipeline `pipeline`, its other side in
/// topic `other`; one is killed once the other side is all in the join's
/// state and a third of the clicks are joined, and the other two take its
/// partitions and their state over. Checks every click comes out joined,
/// and nothing else, and says how many came out more than once.
fn kill_one_of_three_joining(
    name: &str,
    (pipeline, other): (&str, &str),
    cluster: &Cluster,
    join: fn(&str, &str) -> Join,
) -> usize {
    let dir = scratch(name);
    let join = join(&cluster.at, other);
    let manifest = worker_manifest(&dir, pipeline, cluster, &join.stages, "joined");
    produce_at(&cluster.at, other, &join.other);

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    // Clicks come once the other side is all in the join's state: a click
    // that came first would find no match (as on one machine). A global
    // table is: a worker's first batch reads it to its end.
    if join.logged {
        let changelog = format!("wasmstream-{pipeline}-joined-changelog");
        let keys: BTreeSet<&String> = join.other.iter().map(|(key, _)| key).collect();
        workers[0].wait_until("the other side all in the join's changelog", || {
            logged(cluster, &changelog).len() == keys.len()
        });
    }
    let half = join.clicks.len() / 2;
    cluster.produce(&join.clicks[..half]);
    let doomed = workers.remove(1);
    workers[0].wait_until("a third of the clicks joined", || {
        written(cluster).len() >= join.clicks.len() / 3
    });
    assert!(!doomed.kill().status.success());
    cluster.produce(&join.clicks[half..]);

    workers[0].wait_until_within(Duration::from_secs(180), "every click joined", || {
        written(cluster).len() >= join.joined.len()
    });
    for w in workers {
        stop(w);
    }
    // Had the killed worker's state not been read back from the
    // changelog, the clicks of its keys that came after would have met
    // nothing, and an inner join writes nothing for those.
    let copies = written(cluster);
    let missing: Vec<&String> = join
        .joined
        .iter()
        .filter(|j| !copies.contains_key(*j))
        .collect();
    assert!(
        missing.is_empty(),
        "{} clicks not joined: {missing:?}",
        missing.len()
    );
    let unknown: Vec<&String> = copies
        .keys()
        .filter(|c| !join.joined.contains(*c))
        .collect();
    assert!(
        unknown.is_empty(),
        "written, but not a click's match: {unknown:?}"
    );
    copies.values().map(|n| n - 1).sum()
}

/// Runs `join` on the broker the tests start.
fn on_the_broker(name: &str, join: fn(&str, &str) -> Join) {
    let cluster = Cluster::broker(name);
    let other = fresh_topic(&format!("{name}-other"));
    create_topics(&[&other], PARTITIONS);
    let pipeline = fresh_topic(name);
    kill_one_of_three_joining(name, (&pipeline, &other), &cluster, join);
}

/// Runs `join` on a mock cluster of its own, and checks the kill repeated
/// at most [`AGAIN_AT_MOST`].
fn on_the_mock(name: &str, join: fn(&str, &str) -> Join) {
    let cluster = Cluster::mock_for(name, "joined", &["other"]);
    let again = kill_one_of_three_joining(name, (name, "other"), &cluster, join);
    assert!(
        again as i64 <= AGAIN_AT_MOST,
        "{again} clicks joined again (at most {AGAIN_AT_MOST})"
    );
}

#[test]
fn a_table_join_on_the_broker_survives_a_killed_worker() {
    on_the_broker("workers-naming", naming);
}

#[test]
fn a_killed_workers_table_rows_move_with_its_partitions_and_repeat_its_last_batch_at_most() {
    on_the_mock("workers-naming-mock", naming);
}

#[test]
fn a_global_table_join_on_the_broker_survives_a_killed_worker() {
    on_the_broker("workers-naming-globally", naming_globally);
}

#[test]
fn every_worker_keeps_a_global_table_whole_and_a_killed_workers_clicks_still_find_their_rows() {
    on_the_mock("workers-naming-globally-mock", naming_globally);
}

#[test]
fn an_interval_join_on_the_broker_survives_a_killed_worker() {
    on_the_broker("workers-attributing", attributing);
}

#[test]
fn a_killed_workers_buffered_impressions_move_with_its_partitions_and_repeat_its_last_batch_at_most()
 {
    on_the_mock("workers-attributing-mock", attributing);
}
