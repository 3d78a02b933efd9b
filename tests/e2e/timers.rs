//! Story: a data engineer closes each user's session once it has been
//! idle for 5 s of event time, with a keyed-process operator (the stock
//! `event-sessions`) whose timers fire as the watermark passes them:
//! also for users who send nothing more, exactly once, through crashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{
    batch_texts, kill_again_and_again, manifest, run_ok, scratch, toml_path, wasm,
};

const GAP: i64 = 5_000;

/// Clicks `(user, time)`: one every 200 ms of event time with up to
/// 800 ms of disorder (under the 1 s watermark, so none is late), from
/// users `u0`..`u4`, and from `u5` only among the first 100.
fn clicks(count: usize) -> Vec<(String, i64)> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..count)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let users = if i < 100 { 6 } else { 5 };
            let user = format!("u{}", state % users);
            let time = 1_000_000 + i as i64 * 200 - (state >> 20) as i64 % 800;
            (user, time)
        })
        .collect()
}

/// How clicks, JSON lines, get their users as keys and their event times.
#[derive(Clone, Copy, PartialEq)]
enum Keyed {
    /// By the stock json-extract, in a map stage.
    ByMap,
    /// By the directory source itself (`key_field`, `timestamp_field`).
    AtSource,
}

/// A pipeline in `dir` over `clicks`, ten a batch, sessions into
/// `out/sessions`; checkpointed when `checkpoint`.
fn sessions_pipeline(
    dir: &Path,
    clicks: &[(String, i64)],
    checkpoint: bool,
    keyed: Keyed,
) -> PathBuf {
    std::fs::create_dir_all(dir.join("in")).unwrap();
    let lines: Vec<String> = clicks
        .iter()
        .map(|(user, t)| format!(r#"{{"user":"{user}","t":{t}}}"#))
        .collect();
    std::fs::write(dir.join("in/clicks.json"), lines.join("\n") + "\n").unwrap();
    let checkpoint = match checkpoint {
        true => "checkpoint = { dir = \"checkpoints\", every = 3 }",
        false => "",
    };
    let (at_source, by_map) = match keyed {
        Keyed::AtSource => (
            "key_field = \"user\"\ntimestamp_field = \"t\"",
            String::new(),
        ),
        Keyed::ByMap => (
            "",
            format!(
                r#"
[[stages]]
id = "clicks"
kind = "map"
input = "lines"
component = {}
params = {{ key = "user", timestamp = "t" }}
"#,
                toml_path(&wasm("json_extract"))
            ),
        ),
    };
    let input = match keyed {
        Keyed::AtSource => "lines",
        Keyed::ByMap => "clicks",
    };
    let text = format!(
        r#"[pipeline]
name = "sessions"
batch_interval = "10ms"
{checkpoint}

[[sources]]
id = "lines"
kind = "directory"
path = "in"
watch = false
max_batch_records = 10
{at_source}
{by_map}
[[stages]]
id = "sessions"
kind = "process_by_key"
input = "{input}"
component = {sessions}
params = {{ gap = "5s" }}
watermark = "1s"
parallelism = 2

[[sinks]]
id = "out"
kind = "files"
input = "sessions"
path = "out/sessions"

[[sinks]]
id = "late"
kind = "files"
input = "sessions.late"
path = "out/late"
"#,
        sessions = toml_path(&wasm("event_sessions")),
    );
    manifest(dir, &text)
}

/// Each user's sessions by hand: their click times in order, split where
/// two are `GAP` or more apart.
fn sessions_by_hand(clicks: &[(String, i64)]) -> Vec<String> {
    let mut times: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (user, t) in clicks {
        times.entry(user).or_default().push(*t);
    }
    let mut sessions = Vec::new();
    for (user, mut ts) in times {
        ts.sort();
        let mut start = 0;
        for i in 1..=ts.len() {
            if i == ts.len() || ts[i] - ts[i - 1] >= GAP {
                let (first, last) = (ts[start], ts[i - 1]);
                sessions.push(format!(
                    "({user},{} events from {first} to {last})",
                    i - start
                ));
                start = i;
            }
        }
    }
    sessions.sort();
    sessions
}

#[test]
fn a_session_closes_when_the_watermark_passes_its_gap_even_for_a_user_who_went_quiet() {
    sessions_close_as_the_watermark_passes("timers-sessions", Keyed::ByMap);
}

#[test]
fn the_same_sessions_when_the_source_reads_users_and_times_from_its_json_lines() {
    sessions_close_as_the_watermark_passes("timers-sessions-at-source", Keyed::AtSource);
}

fn sessions_close_as_the_watermark_passes(name: &str, keyed: Keyed) {
    let dir = scratch(name);
    let clicks = clicks(1000);
    run_ok(&sessions_pipeline(&dir, &clicks, false, keyed));
    let written = batch_texts(&dir.join("out/sessions"));
    let mut lines: Vec<String> = written
        .values()
        .flat_map(|text| text.lines().map(str::to_owned))
        .collect();
    lines.sort();
    let expected = sessions_by_hand(&clicks);
    assert!(expected.len() > 6, "users have several sessions each");
    assert_eq!(lines, expected, "every session, once");
    assert!(
        batch_texts(&dir.join("out/late")).is_empty(),
        "no click is late"
    );

    // u5's last click is among the first 100 (batch 10): its timer fires
    // once the others' clicks carry the watermark 5 s past it, long
    // before the input ends (batch 100).
    let quiet = written
        .iter()
        .find(|(_, text)| text.contains("(u5,"))
        .map(|(batch, _)| *batch)
        .expect("u5's session is written");
    assert!(
        (11..40).contains(&quiet),
        "u5's session closed in batch {quiet}, not as the watermark passed"
    );
}

#[test]
fn timers_fire_exactly_once_across_crashes_and_restarts() {
    let clicks = clicks(1000);
    let reference = scratch("timers-reference");
    // Keyed at the source, so replayed batches read their fields again.
    run_ok(&sessions_pipeline(
        &reference,
        &clicks,
        true,
        Keyed::AtSource,
    ));
    let expected = batch_texts(&reference.join("out/sessions"));

    let dir = scratch("timers-killed");
    let manifest = sessions_pipeline(&dir, &clicks, true, Keyed::AtSource);
    kill_again_and_again(&manifest, "sessions", 10, 100);
    assert_eq!(
        batch_texts(&dir.join("out/sessions")),
        expected,
        "the same sessions in the same batches after 10 kills"
    );
}
