//! Story: a Kafka-to-Kafka pipeline with per-key state is killed at random
//! moments, again and again, and restarted each time.
//!
//! - With `delivery = "exactly-once"` a `read_committed` reader of the
//!   output topics sees exactly what a run that was never killed writes:
//!   every record once, every running count once. Transactions run against
//!   librdkafka's mock cluster in a process of its own
//!   (`wasmstream-mock-kafka`), as the real broker here has none.
//! - With `delivery = "at-least-once"`, against the real broker, nothing is
//!   lost, and the only duplicates are records of batches a restart
//!   replayed.
//!
//! And an exactly-once pipeline restarted with `--fresh` really starts
//! over: its new batches are not mistaken for the old run's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::kafka::{
    MockKafka, Read, bootstrap, create_topics_at, fresh_topic, produce_at, read_all_at,
    records_in_at,
};
use crate::support::{Jitter, Running, scratch, toml_path, wasm};

/// Records in the input topic.
const RECORDS: usize = 3000;
/// Kills before the run that is left to finish.
const KILLS: usize = 12;
/// Batches between checkpoints.
const EVERY: u64 = 5;
/// Input partitions, and the records each gives one batch (the source's
/// `max_rate_per_partition` times the 50 ms interval).
const PARTITIONS: usize = 2;
const PER_PARTITION: usize = 25;

/// `SEQ-0001`, `SEQ-0002`, ... keyed `k0` to `k6` in turn.
fn input() -> Vec<(String, String)> {
    (1..=RECORDS)
        .map(|i| (format!("k{}", i % 7), format!("SEQ-{i:04}")))
        .collect()
}

/// A checkpointed pipeline in `dir`: each record lowercased into `out`,
/// and a running count per key into `counts`.
fn pipeline(dir: &Path, at: &str, topics: [&str; 3], delivery: &str) -> PathBuf {
    let [input, out, counts] = topics;
    let text = format!(
        r#"
[pipeline]
name = "kafka-crashy"
batch_interval = "50ms"
checkpoint = {{ dir = "checkpoints", every = {EVERY} }}

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{at}"
topic = "{input}"
start = "earliest"
max_rate_per_partition = {rate}

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lower}

[[stages]]
id = "running"
kind = "update_state_by_key"
input = "in"
component = {running}
parallelism = 2

[[sinks]]
id = "out"
kind = "kafka"
input = "lower"
bootstrap = "{at}"
topic = "{out}"
delivery = "{delivery}"

[[sinks]]
id = "counts"
kind = "kafka"
input = "running"
bootstrap = "{at}"
topic = "{counts}"
delivery = "{delivery}"
"#,
        rate = PER_PARTITION * 20,
        lower = toml_path(&wasm("lowercase")),
        running = toml_path(&wasm("running_count")),
    );
    let manifest = dir.join("kafka-crashy.toml");
    std::fs::write(&manifest, text).unwrap();
    manifest
}

/// What the kills left to do again.
#[derive(Default)]
struct Restarts {
    /// Batches a restart may run again, over all kills: for each, those
    /// after the newest checkpoint on disk up to the batch in flight.
    replayable_batches: u64,
    /// Restarts whose sinks skipped batches already committed.
    skipped_committed: usize,
}

/// Runs `manifest`, killing it [`KILLS`] times, each at a random point
/// after it has run a batch it had not run before (see the loop for
/// where); then lets a last run
/// write the whole input's results (to the `out` and `counts` topics at
/// `at`) and stops it.
fn run_with_kills(manifest: &Path, at: &str, out: &str, counts: &str) -> Restarts {
    let checkpoints = manifest.parent().unwrap().join("checkpoints");
    let manifest = manifest.to_str().unwrap();
    let mut jitter = Jitter::new();
    let mut restarts = Restarts::default();
    let mut newest_batch = 0;
    for kill in 0..=KILLS {
        let running = Running::start(&["run", manifest], Stdio::null());
        if kill == KILLS {
            wait_for_everything(&running, at, out, counts);
            running.interrupt();
            let result = running.finish();
            assert!(result.status.success(), "{}", result.stderr);
            count_skips(&result.stderr, &mut restarts);
            break;
        }
        // A random number of log lines after a batch it had not run
        // before: the process runs on while the signal is sent, so the kill
        // lands mid-wait, mid-checkpoint or mid-batch.
        //
        // Not mid-transaction: librdkafka 2.12's mock cluster, where the
        // exactly-once run happens, writes no commit or abort markers and
        // hides no aborted records from `read_committed` readers, so a
        // killed transaction's records stay visible where a real broker
        // hides them. When the next transaction has begun by the time of
        // the kill, the kill waits for the batch after.
        let log = loop {
            newest_batch += 1;
            let done = format!("batch done pipeline=kafka-crashy batch={newest_batch} ");
            running.wait_for_log(&done);
            running.wait_for_more_lines(jitter.below(6) as usize);
            let since = running
                .stderr()
                .split_once(&done)
                .map(|(_, after)| after.to_owned());
            if since.is_some_and(|after| !after.contains("transaction begins")) {
                break running.kill().stderr;
            }
        };
        count_skips(&log, &mut restarts);
        newest_batch = log
            .lines()
            .filter_map(|l| l.split("batch done pipeline=kafka-crashy batch=").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .max()
            .unwrap_or(newest_batch);
        // The restart resumes from the newest checkpoint on disk and runs
        // again every batch after it, the one in flight included.
        let resumes_after = newest_checkpoint(&checkpoints);
        let replayable = newest_batch + 1 - resumes_after;
        assert!(
            replayable <= EVERY + 1,
            "killed after batch {newest_batch}, but the newest checkpoint is of batch {resumes_after}: more than one checkpoint interval ({EVERY} batches) behind"
        );
        restarts.replayable_batches += replayable;
        let per_batch = (PARTITIONS * PER_PARTITION) as u64;
        assert!(
            newest_batch * per_batch < RECORDS as u64,
            "the input ran out after {kill} kills; make it longer"
        );
    }
    restarts
}

/// Waits until what `running` writes at `at` holds every input record in
/// `out` and each key's total as its last count in `counts`, as a reader
/// sees them.
fn wait_for_everything(running: &Running, at: &str, out: &str, counts: &str) {
    let totals = totals();
    running.wait_until("every record and every key's total are written", || {
        // Reading a topic is slow on the test broker: count first.
        if records_in_at(at, out) < RECORDS as i64 {
            return false;
        }
        let values: BTreeSet<String> = read_all_at(at, out).into_iter().map(|r| r.value).collect();
        let last = counts_by_key(&read_all_at(at, counts));
        values.len() == RECORDS
            && totals
                .iter()
                .all(|(key, total)| last.get(key).and_then(|c| c.last()) == Some(total))
    });
}

/// The batch of the newest checkpoint in `dir`, 0 if there is none.
fn newest_checkpoint(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("checkpoint-")?
                .strip_suffix(".ckpt")?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

fn count_skips(log: &str, restarts: &mut Restarts) {
    restarts.skipped_committed +=
        usize::from(log.contains("replaying them without writing them again"));
}

/// The running counts read back, per key, in the order written.
fn counts_by_key(records: &[Read]) -> BTreeMap<String, Vec<i64>> {
    let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in records {
        by_key
            .entry(r.key.clone().expect("a keyed count"))
            .or_default()
            .push(r.value.parse().expect("a count"));
    }
    by_key
}

/// How many records of the input each key has.
fn totals() -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for (key, _) in input() {
        *totals.entry(key).or_default() += 1;
    }
    totals
}

fn produce_input(at: &str, topic: &str) {
    produce_at(at, topic, &input());
}

#[test]
fn killed_again_and_again_exactly_once_output_holds_every_record_once() {
    let (input, out, counts) = ("lines", "lowered", "counts");
    let kafka = MockKafka::start(&[(input, PARTITIONS), (out, 2), (counts, 2)]);
    let at = &kafka.bootstrap;
    produce_input(at, input);
    let dir = scratch("kafka-exactly-once");
    let manifest = pipeline(&dir, at, [input, out, counts], "exactly-once");

    let restarts = run_with_kills(&manifest, at, out, counts);
    assert!(
        restarts.skipped_committed > 0,
        "no restart found batches already committed; the test did not test exactly-once"
    );

    let mut got: Vec<String> = read_all_at(at, out).into_iter().map(|r| r.value).collect();
    got.sort();
    let mut expected: Vec<String> = self::input()
        .into_iter()
        .map(|(_, v)| v.to_lowercase())
        .collect();
    expected.sort();
    assert_eq!(got.len(), RECORDS, "every record exactly once");
    assert_eq!(got, expected, "every record exactly once");

    // A crash-free run emits, for each key, a strictly rising count per
    // batch that had the key, ending at the key's total: a batch written
    // twice would repeat a count.
    let by_key = counts_by_key(&read_all_at(at, counts));
    for (key, total) in totals() {
        let seen = &by_key[&key];
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "key {key}: counts {seen:?} repeat or fall"
        );
        assert_eq!(seen.last(), Some(&total), "key {key}: the last count");
    }
}

#[test]
fn killed_again_and_again_at_least_once_output_loses_nothing_and_repeats_only_replayed_batches() {
    let at = bootstrap();
    let (input, out, counts) = (
        fresh_topic("crash-lines"),
        fresh_topic("crash-lowered"),
        fresh_topic("crash-counts"),
    );
    create_topics_at(&at, &[&input], PARTITIONS as i32);
    create_topics_at(&at, &[&out, &counts], 2);
    produce_input(&at, &input);
    let dir = scratch("kafka-at-least-once");
    let manifest = pipeline(&dir, &at, [&input, &out, &counts], "at-least-once");

    let restarts = run_with_kills(&manifest, &at, &out, &counts);

    // Every record at least once; more only from replayed batches, each of
    // which holds at most one batch's worth of records.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in read_all_at(&at, &out) {
        *seen.entry(r.value).or_default() += 1;
    }
    for (_, value) in self::input() {
        assert!(
            seen.contains_key(&value.to_lowercase()),
            "{value} is missing from the output"
        );
    }
    assert_eq!(seen.len(), RECORDS, "nothing but the input's records");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let allowed = restarts.replayable_batches as usize * PARTITIONS * PER_PARTITION;
    println!(
        "{duplicates} duplicate records after {KILLS} kills; at most {} batches could run again, allowing {allowed}",
        restarts.replayable_batches
    );
    assert!(
        duplicates <= allowed,
        "{duplicates} duplicates, but the batches a restart could run again hold at most {allowed} records"
    );

    // Counts: a replayed batch writes its counts again, but every key's
    // counts still end at the key's total.
    let by_key = counts_by_key(&read_all_at(&at, &counts));
    for (key, total) in totals() {
        let seen = &by_key[&key];
        assert_eq!(
            seen.iter().max(),
            Some(&total),
            "key {key}: the highest count"
        );
        assert_eq!(seen.last(), Some(&total), "key {key}: the last count");
    }
}

#[test]
fn exactly_once_after_a_fresh_start_writes_everything_again() {
    let (input, out, counts) = ("lines", "lowered", "counts");
    let kafka = MockKafka::start(&[(input, PARTITIONS), (out, 2), (counts, 2)]);
    let at = &kafka.bootstrap;
    produce_input(at, input);
    let dir = scratch("kafka-exactly-once-fresh");
    let manifest = pipeline(&dir, at, [input, out, counts], "exactly-once");
    let manifest = manifest.to_str().unwrap();
    // Runs until `out` holds `records` records, then stops.
    let run_until = |args: &[&str], records: usize| {
        let running = Running::start(args, Stdio::null());
        running.wait_until(&format!("`{out}` holds {records} records"), || {
            read_all_at(at, out).len() >= records
        });
        running.interrupt();
        let result = running.finish();
        assert!(result.status.success(), "{}", result.stderr);
    };

    run_until(&["run", manifest], RECORDS);
    // Resumed: of the input, only a record added since is new, and only it
    // is written.
    produce_at(at, input, &[("k0", "SEQ-LAST")]);
    run_until(&["run", manifest], RECORDS + 1);
    assert_eq!(read_all_at(at, out).len(), RECORDS + 1);
    // Started over: every batch is new, and written, though batch ids repeat.
    run_until(&["run", "--fresh", manifest], 2 * (RECORDS + 1));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in read_all_at(at, out) {
        *seen.entry(r.value).or_default() += 1;
    }
    assert_eq!(seen.len(), RECORDS + 1);
    assert!(
        seen.values().all(|&n| n == 2),
        "every record twice: once per start"
    );
}
