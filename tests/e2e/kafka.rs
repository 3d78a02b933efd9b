//! Story: a data engineer counts words flowing through Kafka: records in a
//! topic, through Wasm operators, into another topic, read back by an
//! ordinary Kafka client. Runs against the real broker that
//! `tests/kafka-broker` starts (its address in `WASMSTREAM_KAFKA`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::metrics::{metrics_url, scrape};
use crate::support::{Running, manifest, repo, scratch, toml_path, wasm};

/// The broker the tests use; `tests/run` starts it and says where.
pub(crate) fn bootstrap() -> String {
    std::env::var("WASMSTREAM_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A topic name no other run uses.
pub(crate) fn fresh_topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

pub(crate) fn create_topics(topics: &[&str], partitions: i32) {
    create_topics_at(&bootstrap(), topics, partitions);
}

pub(crate) fn create_topics_at(at: &str, topics: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", at)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .unwrap_or_else(|e| {
            panic!("cannot create topics at {at}: {e}; start the broker with tests/kafka-broker")
        });
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("cannot create topic {topic}: {e}"));
    }
}

fn produce(topic: &str, records: &[(impl AsRef<str>, impl AsRef<str>)]) {
    produce_at(&bootstrap(), topic, records);
}

/// Produces `(key, value)` records to `topic` at `at`, and waits for them.
pub(crate) fn produce_at(at: &str, topic: &str, records: &[(impl AsRef<str>, impl AsRef<str>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", at)
        .create()
        .expect("producer");
    for (key, value) in records {
        let record = BaseRecord::to(topic)
            .key(key.as_ref())
            .payload(value.as_ref());
        producer.send(record).expect("queue a record");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// A mock Kafka cluster in its own process, gone when dropped.
pub(crate) struct MockKafka {
    child: Child,
    pub bootstrap: String,
}

impl MockKafka {
    /// A cluster holding `topics`, each with its number of partitions.
    pub(crate) fn start(topics: &[(&str, usize)]) -> MockKafka {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasmstream-mock-kafka"))
            .args(topics.iter().map(|(t, n)| format!("{t}:{n}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start wasmstream-mock-kafka");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("read the bootstrap address");
        assert!(line.contains(':'), "the mock cluster printed {line:?}");
        MockKafka {
            child,
            bootstrap: line.trim().to_owned(),
        }
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A record as a client reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Read {
    pub key: Option<String>,
    pub value: String,
    pub headers: Vec<(String, String)>,
    /// The partition it was in.
    pub partition: i32,
}

impl Read {
    /// The value of header `name`, if the record has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.0 == name)
            .map(|h| h.1.as_str())
    }
}

/// Every record in `topic` from the start to its current end, read as a
/// `read_committed` consumer would: records of aborted transactions are
/// not seen, and an open transaction is waited for.
pub(crate) fn read_all(topic: &str) -> Vec<Read> {
    read_all_at(&bootstrap(), topic)
}

pub(crate) fn read_all_at(at: &str, topic: &str) -> Vec<Read> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", at)
        .set("group.id", fresh_topic("reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .expect("metadata");
    let mut ends = BTreeMap::new();
    for partition in metadata.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(30))
            .expect("watermarks");
        ends.insert(partition.id(), high);
    }
    let mut all = rdkafka::TopicPartitionList::new();
    for &partition in ends.keys() {
        all.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&all).expect("assign");
    let mut next: BTreeMap<i32, i64> = ends.keys().map(|&p| (p, 0)).collect();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while next.iter().any(|(p, n)| *n < ends[p]) {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            // Offsets that hold no record (transaction markers) are
            // passed over: the position says how far reading got.
            for element in consumer.position().expect("position").elements() {
                if let rdkafka::Offset::Offset(at) = element.offset() {
                    let next = next.entry(element.partition()).or_default();
                    *next = (*next).max(at);
                }
            }
            continue;
        };
        let message = message.expect("a record");
        if message.offset() >= ends[&message.partition()] {
            continue;
        }
        next.insert(message.partition(), message.offset() + 1);
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), text(h.value).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        records.push(Read {
            key: text(message.key()),
            value: text(message.payload()).unwrap_or_default(),
            headers,
            partition: message.partition(),
        });
    }
    records
}

/// How many offsets `topic` holds, over all partitions: an upper bound
/// on the records a reader sees (transaction markers take offsets too),
/// and much cheaper to ask than [`read_all`].
pub(crate) fn records_in(topic: &str) -> i64 {
    records_in_at(&bootstrap(), topic)
}

pub(crate) fn records_in_at(at: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", at)
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(30);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("watermarks");
            high - low
        })
        .sum()
}

#[test]
fn words_from_a_topic_are_counted_into_another_topic_exactly() {
    let (input, output) = (fresh_topic("lines"), fresh_topic("counts"));
    create_topics(&[&input, &output], 2);
    let lines = [
        ("a", "the quick brown fox"),
        ("b", "jumps over the lazy dog"),
        ("c", "the dog sleeps"),
        ("a", "a fox runs"),
    ];
    produce(&input, &lines);

    let dir = scratch("kafka-wordcount");
    let manifest = wordcount_manifest(
        &dir,
        "batch_interval = \"100ms\"",
        "max_rate_per_partition = 10",
        &input,
        &output,
    );
    let running = Running::start(
        &[
            "run",
            "--metrics",
            "127.0.0.1:0",
            manifest.to_str().unwrap(),
        ],
        Stdio::null(),
    );

    let expected = word_counts(lines.iter().map(|(_, line)| *line));
    let total: i64 = expected.values().sum();
    running.wait_until(&format!("all {total} words are counted"), || {
        counted(&read_all(&output)).values().sum::<i64>() >= total
    });
    // Prometheus sees each partition's offset reached, and nothing left.
    let url = metrics_url(&running);
    let of = |samples: &BTreeMap<String, f64>, name: &str| -> (usize, f64) {
        let parts: Vec<f64> = (samples.iter())
            .filter(|(series, _)| series.starts_with(name))
            .map(|(_, v)| *v)
            .collect();
        (parts.len(), parts.iter().sum())
    };
    running.wait_until("the offsets reach every record", || {
        let samples = scrape(&url);
        of(&samples, "wasmstream_source_offset{") == (2, lines.len() as f64)
            && of(&samples, "wasmstream_source_lag_records{") == (2, 0.0)
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert_eq!(counted(&read_all(&output)), expected);
}

/// A word count from topic `input` into topic `output` (split-words with
/// `emit = "pairs"`, then `sum` over two partitions), with `pipeline`
/// and `source` lines added to those sections.
fn wordcount_manifest(
    dir: &std::path::Path,
    pipeline: &str,
    source: &str,
    input: &str,
    output: &str,
) -> PathBuf {
    manifest(
        dir,
        &format!(
            r#"
[pipeline]
name = "kafka-wordcount"
{pipeline}

[[sources]]
id = "lines"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "earliest"
{source}

[[stages]]
id = "words"
kind = "flat_map"
input = "lines"
component = {split}
params = {{ emit = "pairs" }}

[[stages]]
id = "counts"
kind = "reduce_by_key"
input = "words"
component = {sum}
parallelism = 2

[[sinks]]
id = "out"
kind = "kafka"
input = "counts"
bootstrap = "{bootstrap}"
topic = "{output}"
compression = "lz4"
"#,
            bootstrap = bootstrap(),
            split = toml_path(&wasm("split_words")),
            sum = toml_path(&wasm("sum")),
        ),
    )
}

/// Every word of `lines`, counted independently of the plugins.
fn word_counts<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// The counts in a topic of partial counts keyed by word, added up.
fn counted(records: &[Read]) -> BTreeMap<String, i64> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for record in records {
        let key = record.key.clone().expect("counts are keyed by word");
        *counts.entry(key).or_default() += record.value.parse::<i64>().expect("a count");
    }
    counts
}

/// Spark's `Trigger.AvailableNow` on a topic: the pipeline counts what
/// the topic holds when it starts, in batches back to back, and exits by
/// itself.
#[test]
fn available_now_counts_what_a_topic_holds_and_stops() {
    let (input, output) = (fresh_topic("backlog"), fresh_topic("backlog-counts"));
    create_topics(&[&input, &output], 2);
    let words = ["ant", "bee", "cat", "dog", "eel"];
    let lines: Vec<(String, String)> = (0..3000)
        .map(|i| {
            let line = (0..4)
                .map(|j| words[(i * 7 + j * 3) % 5])
                .collect::<Vec<_>>();
            (format!("k{}", i % 13), line.join(" "))
        })
        .collect();
    produce(&input, &lines);

    let dir = scratch("kafka-available-now");
    let manifest = wordcount_manifest(&dir, "trigger = \"available-now\"", "", &input, &output);
    // Ends by itself: no interrupt.
    let result = crate::support::run_ok(&manifest);
    assert!(
        result.stderr.contains("records_in=3000 "),
        "every line was read: {}",
        result.stderr
    );
    let expected = word_counts(lines.iter().map(|(_, line)| line.as_str()));
    assert_eq!(counted(&read_all(&output)), expected);
}

#[test]
fn an_unreachable_broker_is_named_in_the_error() {
    let dir = scratch("kafka-unreachable");
    // Nothing listens on port 1.
    let manifest = manifest(
        &dir,
        r#"
[pipeline]
name = "unreachable"
batch_interval = "50ms"

[[sources]]
id = "lines"
kind = "kafka"
bootstrap = "127.0.0.1:1"
topic = "anything"

[[sinks]]
id = "out"
kind = "files"
input = "lines"
path = "out"
"#,
    );
    let result = crate::support::run(&["run", manifest.to_str().unwrap()]);
    assert_eq!(result.status.code(), Some(1), "{}", result.stderr);
    assert!(
        result
            .stderr
            .contains("source `lines` (topic `anything` at 127.0.0.1:1): cannot reach the broker"),
        "{}",
        result.stderr
    );
    assert!(
        !dir.join("out").read_dir().unwrap().any(|_| true),
        "nothing written"
    );
}

#[test]
fn records_an_operator_rejects_land_in_the_dead_letter_topic_with_stage_and_error() {
    let (input, output, dead) = (
        fresh_topic("requests"),
        fresh_topic("errors"),
        fresh_topic("dlq"),
    );
    create_topics(&[&input, &output, &dead], 1);
    let records = [
        ("1", r#"{"status":"500","path":"/a"}"#),
        ("2", "not json"),
        ("3", r#"{"status":"200","path":"/b"}"#),
        ("4", "}{"),
        ("5", r#"{"status":"500","path":"/c"}"#),
    ];
    produce(&input, &records);

    let dir = scratch("kafka-dead-letters");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "dead-letters"
batch_interval = "100ms"
on_error = "dead-letter"

[[sources]]
id = "requests"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "earliest"

[[stages]]
id = "server-errors"
kind = "filter"
input = "requests"
component = {filter}
params = {{ field = "status", equals = "500" }}

[[sinks]]
id = "out"
kind = "kafka"
input = "server-errors"
bootstrap = "{bootstrap}"
topic = "{output}"

[[sinks]]
id = "dlq"
kind = "kafka"
input = "dead-letters"
bootstrap = "{bootstrap}"
topic = "{dead}"
"#,
            bootstrap = bootstrap(),
            filter = toml_path(&wasm("json_filter")),
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    running.wait_for_log("rejected records sent to `dead-letters`");
    running.wait_until("both topics have their two records", || {
        read_all(&output).len() >= 2 && read_all(&dead).len() >= 2
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    assert!(
        result.stderr.contains("records_dead_lettered=2"),
        "{}",
        result.stderr
    );

    let kept: Vec<(Option<String>, String)> = read_all(&output)
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    assert_eq!(
        kept,
        [
            (Some("1".into()), records[0].1.into()),
            (Some("5".into()), records[4].1.into())
        ]
    );
    let rejected = read_all(&dead);
    let summary: Vec<(Option<String>, String, String)> = rejected
        .iter()
        .map(|r| {
            let stage = r
                .headers
                .iter()
                .find(|h| h.0 == "wasmstream-stage")
                .map(|h| h.1.clone());
            assert!(
                r.headers
                    .iter()
                    .any(|h| h.0 == "wasmstream-error" && h.1.contains("JSON")),
                "{r:?}"
            );
            (r.key.clone(), r.value.clone(), stage.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some("2".into()), "not json".into(), "server-errors".into()),
            (Some("4".into()), "}{".into(), "server-errors".into())
        ]
    );
}

/// A broker of one test's own (its own port and data), started and
/// stopped with `tests/kafka-broker`, so stopping it harms no other test.
struct PrivateBroker {
    port: u16,
    data: PathBuf,
}

impl PrivateBroker {
    fn script(&self, action: &str) -> String {
        let out = std::process::Command::new(repo().join("tests/kafka-broker"))
            .arg(action)
            .env("WASMSTREAM_KAFKA_PORT", self.port.to_string())
            .env("WASMSTREAM_KAFKA_DATA", &self.data)
            .output()
            .expect("run tests/kafka-broker");
        assert!(
            out.status.success(),
            "tests/kafka-broker {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.script("stop");
    }
}

#[test]
fn a_broker_that_stops_and_starts_again_mid_stream_loses_nothing() {
    let dir = scratch("kafka-outage");
    let broker = PrivateBroker {
        port: crate::support::free_port(),
        data: dir.join("broker"),
    };
    let at = broker.script("start");
    let (input, output) = (fresh_topic("before-after"), fresh_topic("lowered"));
    create_topics_at(&at, &[&input, &output], 1);
    let first: Vec<String> = (0..50).map(|i| format!("Before-{i:02}")).collect();
    let second: Vec<String> = (0..50).map(|i| format!("After-{i:02}")).collect();
    let records = |values: &[String]| -> Vec<(String, String)> {
        values.iter().map(|v| (v.clone(), v.clone())).collect()
    };
    let produce_all = |values: &[String]| produce_at(&at, &input, &records(values));
    produce_all(&first);

    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "outage"
batch_interval = "100ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{at}"
topic = "{input}"
start = "earliest"

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lower}

[[sinks]]
id = "out"
kind = "kafka"
input = "lower"
bootstrap = "{at}"
topic = "{output}"
"#,
            lower = toml_path(&wasm("lowercase")),
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    running.wait_until("the first half came through", || {
        read_all_at(&at, &output).len() >= first.len()
    });

    broker.script("stop");
    running.wait_for_log("retrying in");
    broker.script("start");
    running.wait_for_log("the broker is back");
    produce_all(&second);
    let all = first.len() + second.len();
    // The client backs off while the broker is away: give it longer.
    running.wait_until_within(
        Duration::from_secs(180),
        "the second half came through",
        || read_all_at(&at, &output).len() >= all,
    );
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let expected: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|v| v.to_lowercase())
        .collect();
    let got: Vec<String> = read_all_at(&at, &output)
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(got, expected, "every record once, in order");
}

#[test]
fn a_source_can_start_from_a_point_in_time() {
    let (input, output) = (fresh_topic("timed"), fresh_topic("timed-out"));
    create_topics(&[&input, &output], 1);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    // Two records an hour apart in record time; start between them.
    let (early, late) = (1_700_000_000_000_i64, 1_700_003_600_000_i64);
    for (value, time) in [("early", early), ("late", late)] {
        producer
            .send(
                BaseRecord::<(), _>::to(&input)
                    .payload(value)
                    .timestamp(time),
            )
            .expect("queue a record");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let dir = scratch("kafka-start-time");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "start-time"
batch_interval = "100ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "{start}"

[[sinks]]
id = "out"
kind = "kafka"
input = "in"
bootstrap = "{bootstrap}"
topic = "{output}"
"#,
            bootstrap = bootstrap(),
            start = early + 1_800_000,
        ),
    );
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    running.wait_until("a record came through", || !read_all(&output).is_empty());
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);
    let values: Vec<String> = read_all(&output).into_iter().map(|r| r.value).collect();
    assert_eq!(values, ["late"]);
}

#[test]
fn backpressure_shrinks_the_batches_a_slow_operator_cannot_keep_up_with() {
    let (input, output) = (fresh_topic("backlog"), fresh_topic("slowly"));
    create_topics(&[&input, &output], 1);
    let records: Vec<(String, String)> = (0..6000)
        .map(|i| (format!("k{}", i % 10), format!("r-{i:05}")))
        .collect();
    produce(&input, &records);

    // The source may take 2000 records a batch; the operator needs about
    // 2 ms for each, so such a batch takes 8 intervals. (The interval is
    // long enough for the broker's round trips, which take the same time
    // whatever the batch size.)
    let dir = scratch("kafka-backpressure");
    let manifest = manifest(
        &dir,
        &format!(
            r#"
[pipeline]
name = "backpressure"
batch_interval = "500ms"
backpressure = true

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "earliest"
max_rate_per_partition = 4000

[[stages]]
id = "slow"
kind = "map"
input = "in"
component = {slow}
params = {{ mode = "slow", spins = "2000000" }}
limits = {{ cpu = "60s" }}

[[sinks]]
id = "out"
kind = "kafka"
input = "slow"
bootstrap = "{bootstrap}"
topic = "{output}"
"#,
            bootstrap = bootstrap(),
            slow = toml_path(&wasm("misbehaving_map")),
        ),
    );
    // Each batch's size, in order, leaving out batches that read nothing
    // (a broker slow to show a new topic's records gives one at the start).
    let sizes = |log: &str| -> Vec<usize> {
        log.lines()
            .filter(|l| l.contains("batch done"))
            .filter_map(|l| l.split("records_in=").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .filter(|&n| n > 0)
            .collect()
    };
    let running = Running::start(&["run", manifest.to_str().unwrap()], Stdio::null());
    // Under load the estimator may go as low as 50 records a batch, two
    // minutes for the backlog: allow for it.
    let written = "the whole backlog is written";
    running.wait_until_within(Duration::from_secs(180), written, || {
        records_in(&output) >= records.len() as i64 && read_all(&output).len() >= records.len()
    });
    running.interrupt();
    let result = running.finish();
    assert!(result.status.success(), "{}", result.stderr);

    let sizes = sizes(&result.stderr);
    println!("batch sizes: {sizes:?}");
    assert_eq!(sizes.first(), Some(&2000), "the first batch takes the cap");
    assert!(
        result.stderr.contains("backpressure: new rate"),
        "{}",
        result.stderr
    );
    // Once the estimator has two batches to go on, batches are sized to
    // what the operator manages in about one interval (some 200 records
    // here): well below the cap.
    assert!(sizes.len() > 3, "{sizes:?}");
    assert!(
        sizes[2..].iter().all(|&n| n <= 1000),
        "batches after the second should shrink well below 2000: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 6000);
    let mut got: Vec<String> = read_all(&output).into_iter().map(|r| r.value).collect();
    got.sort();
    let expected: Vec<String> = records.into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, expected, "every record once");
}
