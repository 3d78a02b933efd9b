//! Story: the pipeline that outgrew one machine closes each user's
//! session once it has been idle for 5 s of event time (the stock
//! `event-sessions`, a process-by-key operator with timers). Started as
//! several workers, each user's clicks reach one worker through the
//! stage's repartition topic, and each user's open session and its timer
//! live in a changelog too: when a worker is killed, the workers that take
//! its partitions over read its sessions back, and every click ends up in
//! a session written out, the last ones by their timers (at least once:
//! a killed worker's last batch may be counted again; on the mock cluster
//! no more than that).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kafka::{fresh_topic, read_all_at};
use crate::support::{Running, scratch, toml_path, wasm};
use crate::workers::{AGAIN_AT_MOST, Cluster, caught_up, stop, worker, worker_manifest};

/// Users clicking.
const USERS: usize = 24;
/// Bursts of clicks, a minute of event time apart.
const BURSTS: usize = 10;
/// Clicks per burst: each user's 10, 2.4 s apart (under the 5 s gap, so a
/// burst is one session per user).
const PER_BURST: usize = 240;
/// When the first click was, in ms since the Unix epoch (2026-01-01): a
/// Kafka timestamp of 0 means "now" to producers.
const FIRST: i64 = 1_767_225_600_000;

/// Click `i`'s user and time: burst `i / 240`, in which click `j` is
/// user `j % 24`'s, 100 ms after the one before.
fn click(i: usize) -> (String, i64) {
    let (burst, j) = (i / PER_BURST, i % PER_BURST);
    let user = format!("user-{:02}", j % USERS);
    (user, FIRST + burst as i64 * 60_000 + j as i64 * 100)
}

/// Clicks `from..to` as records `{"user":"user-07","t":...}`, keyed by
/// user: each user's clicks are in one partition of the input, in order
/// (a session's clicks must come in order, as on one machine).
fn clicks(from: usize, to: usize) -> Vec<(String, String)> {
    (from..to)
        .map(|i| {
            let (user, t) = click(i);
            let value = format!(r#"{{"user":"{user}","t":{t}}}"#);
            (user, value)
        })
        .collect()
}

/// Clicks of other keys, two hours after the last: every worker's
/// watermark (an hour behind the latest click it has seen) passes every
/// user's last session, whose timer then fires.
fn closing() -> Vec<(String, String)> {
    let t = FIRST + 2 * 3_600_000 + BURSTS as i64 * 60_000;
    (0..60)
        .map(|n| {
            let key = format!("closing-{n}");
            (key.clone(), format!(r#"{{"user":"{key}","t":{t}}}"#))
        })
        .collect()
}

/// A pipeline `name` closing each user's session after 5 s idle. The
/// watermark trails by an hour: no click is late, however far apart the
/// workers read.
fn sessions(dir: &Path, name: &str, cluster: &Cluster) -> PathBuf {
    let stages = format!(
        r#"
[[stages]]
id = "by-user"
kind = "map"
input = "in"
component = {extract}
params = {{ key = "user", timestamp = "t" }}

[[stages]]
id = "sessions"
kind = "process_by_key"
input = "by-user"
component = {sessions}
params = {{ gap = "5s" }}
watermark = "1h"
"#,
        extract = toml_path(&wasm("json_extract")),
        sessions = toml_path(&wasm("event_sessions")),
    );
    worker_manifest(dir, name, cluster, &stages, "sessions")
}

/// A session written out: its events, first and last click times.
type Session = (i64, i64, i64);

/// Each user's sessions in the output topic.
fn written(cluster: &Cluster) -> BTreeMap<String, Vec<Session>> {
    let mut sessions: BTreeMap<String, Vec<Session>> = BTreeMap::new();
    for record in read_all_at(&cluster.at, &cluster.output) {
        let user = record.key.clone().expect("sessions are keyed");
        // `10 events from <first> to <last>`
        let words: Vec<&str> = record.value.split(' ').collect();
        let number = |i: usize| words.get(i)?.parse::<i64>().ok();
        let session = match (number(0), number(3), number(5)) {
            (Some(events), Some(first), Some(last)) => (events, first, last),
            _ => panic!("not a session: {record:?}"),
        };
        sessions.entry(user).or_default().push(session);
    }
    sessions
}

/// The clicks no session written out holds: `(user, time)`.
fn unsessioned(sessions: &BTreeMap<String, Vec<Session>>) -> Vec<(String, i64)> {
    (0..BURSTS * PER_BURST)
        .map(click)
        .filter(|(user, t)| {
            let held = sessions.get(user).into_iter().flatten();
            !held
                .into_iter()
                .any(|&(_, first, last)| (first..=last).contains(t))
        })
        .collect()
}

/// Three workers close the users' sessions; one is killed mid-stream, and
/// the other two take its users' open sessions over. Checks every click
/// ends up in a session written out, each session between clicks of its
/// user, and says how many events the sessions counted beyond the clicks.
fn kill_one_of_three_sessions(name: &str, pipeline: &str, cluster: &Cluster) -> i64 {
    let dir = scratch(name);
    let manifest = sessions(&dir, pipeline, cluster);
    let half = BURSTS * PER_BURST / 2;
    cluster.produce(&clicks(0, half));

    let mut workers: Vec<Running> = (0..3).map(|_| worker(&manifest)).collect();
    let doomed = workers.remove(1);
    workers[0].wait_until("three bursts' sessions written", || {
        written(cluster).values().map(Vec::len).sum::<usize>() >= 3 * USERS
    });
    assert!(!doomed.kill().status.success());
    cluster.produce(&clicks(half, BURSTS * PER_BURST));
    // The closing clicks come once every click is in: one that came
    // first would put its worker's watermark an hour past the clicks.
    workers[0].wait_until_within(Duration::from_secs(180), "every click read", || {
        caught_up(&manifest)
    });
    cluster.produce(&closing());

    workers[0].wait_until("every click in a session written out", || {
        unsessioned(&written(cluster)).is_empty()
    });
    for w in workers {
        stop(w);
    }
    let mut sessions = written(cluster);
    // Had the killed worker's open sessions not been read back from the
    // changelog, their first clicks would be in no session written out;
    // had the timers not fired, no user's last session would be.
    let missing = unsessioned(&sessions);
    assert!(missing.is_empty(), "clicks in no session: {missing:?}");
    sessions.retain(|user, _| user.starts_with("user-"));
    let times: BTreeMap<&String, Vec<i64>> = sessions
        .keys()
        .map(|user| {
            let times = (0..BURSTS * PER_BURST)
                .map(click)
                .filter(|(u, _)| u == user);
            (user, times.map(|(_, t)| t).collect())
        })
        .collect();
    for (user, held) in &sessions {
        for &(_, first, last) in held {
            assert!(
                times[user].contains(&first) && times[user].contains(&last),
                "{user}'s session from {first} to {last} is not between clicks of theirs"
            );
        }
    }
    let events: i64 = sessions.values().flatten().map(|s| s.0).sum();
    events - (BURSTS * PER_BURST) as i64
}

#[test]
fn sessions_on_the_broker_survive_a_killed_worker() {
    let cluster = Cluster::broker("sessions");
    kill_one_of_three_sessions("workers-sessions", &fresh_topic("sessions"), &cluster);
}

#[test]
fn a_killed_workers_open_sessions_and_timers_move_with_its_partitions() {
    let cluster = Cluster::mock_for("sessions", "sessions", &[]);
    let again = kill_one_of_three_sessions("workers-sessions-mock", "sessions", &cluster);
    assert!(
        again <= AGAIN_AT_MOST,
        "{again} events counted again (at most {AGAIN_AT_MOST})"
    );
}
