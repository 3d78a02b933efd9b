//! Workers sharing a pipeline through Kafka (`wasmstream run --worker`),
//! side by side in one run with the broker's own ceiling:
//!
//! - the broker: records/s produced into the input topic, and consumed
//!   back by one plain rdkafka consumer with no engine;
//! - 1, 2 and 3 workers lowering the input topic into an output topic,
//!   records/s from the workers' start to the last record written
//!   (joining the group included), and from the first record written to
//!   the last, by the output topic's end offset asked every 20 ms;
//! - 1, 2 and 3 workers counting each key's records so far (update-state:
//!   the records go through its repartition topic, and each batch's
//!   changed counts to its changelog), records/s from the workers' start
//!   until both groups (the input's and the repartition topic's) have
//!   committed every record, asked every 20 ms;
//! - the pause a SIGKILL causes: two workers read a stream throttled so
//!   that it is still flowing; one is killed, and the pause is the time
//!   from the kill until each input partition whose committed offset
//!   stopped moving moves again (its new owner's first batch committed),
//!   the longest over partitions, by the group's offsets asked every 20 ms.
//!
//! Needs the broker (`tests/kafka-broker`, its address in
//! `WASMSTREAM_KAFKA`, default 127.0.0.1:9092) and the `lowercase` and
//! `running-count` plugins (`cargo build --release --target
//! wasm32-wasip2 -p lowercase -p running-count`). Then
//! `cargo bench -p wasmstream --bench workers`. `WASMSTREAM_BENCH_RECORDS`
//! sets the records (default 200,000).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use common::grouped;

const PARTITIONS: i32 = 6;

fn main() -> anyhow::Result<()> {
    let records: usize = std::env::var("WASMSTREAM_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let bootstrap = std::env::var("WASMSTREAM_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = repo.join("target/bench-workers");
    std::fs::create_dir_all(&dir)?;
    let run = std::process::id();
    let topic = |name: &str| format!("bench-workers-{name}-{run}");
    let input = topic("in");
    create(&bootstrap, &input, PARTITIONS)?;
    println!(
        "wasmstream workers benchmark: {} records, {PARTITIONS} partitions, broker {bootstrap} \
         (tansu with sqlite storage: a few thousand acknowledged records a second one by one, more batched; its own figures below bound the engine's)",
        grouped(records as f64)
    );

    let started = Instant::now();
    produce(&bootstrap, &input, 0, records)?;
    let produced = records as f64 / started.elapsed().as_secs_f64();
    let consumed = consume_all(&bootstrap, &input, records)?;
    println!("{:<48} {:>12} rec/s", "broker: produce", grouped(produced));
    println!(
        "{:<48} {:>12} rec/s",
        "broker: consume (one plain consumer)",
        grouped(consumed)
    );

    for workers in 1..=3 {
        let output = topic(&format!("out{workers}"));
        create(&bootstrap, &output, 1)?;
        let name = format!("bench-{workers}-{run}");
        let manifest = pipeline(&dir, &name, &bootstrap, (&input, &output), None, LOWER)?;
        let watch = Watch::new(&bootstrap, &format!("wasmstream-{name}-in"))?;
        let start = Instant::now();
        let children = Workers(
            (0..workers)
                .map(|_| worker(&manifest))
                .collect::<Result<_, _>>()?,
        );
        let mut first = None;
        loop {
            let written = watch.written(&output);
            if written > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if written >= records as i64 {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(600),
                "{workers} workers: timed out"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (whole, flowing) = (start.elapsed(), first.map(|f| f.elapsed()));
        drop(children);
        println!(
            "{:<48} {:>12} rec/s  ({} rec/s from the start, joining included)",
            format!("wasmstream: {workers} worker(s), Kafka -> Wasm map -> Kafka"),
            grouped(records as f64 / flowing.unwrap_or(whole).as_secs_f64()),
            grouped(records as f64 / whole.as_secs_f64())
        );
    }

    for workers in 1..=3 {
        let output = topic(&format!("counts{workers}"));
        create(&bootstrap, &output, 1)?;
        let name = format!("bench-count-{workers}-{run}");
        let manifest = pipeline(&dir, &name, &bootstrap, (&input, &output), None, COUNT)?;
        let read = Watch::new(&bootstrap, &format!("wasmstream-{name}-in"))?;
        let counted = Watch::new(&bootstrap, &format!("wasmstream-{name}-counts"))?;
        let repartition = format!("wasmstream-{name}-counts-repartition");
        let start = Instant::now();
        let children = Workers(
            (0..workers)
                .map(|_| worker(&manifest))
                .collect::<Result<_, _>>()?,
        );
        while read.committed_in_all(&input)? < records as i64
            || counted.committed_in_all(&repartition)? < records as i64
        {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(900),
                "{workers} workers counting: timed out"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let whole = start.elapsed();
        drop(children);
        println!(
            "{:<48} {:>12} rec/s  (from the start, joining included)",
            format!("wasmstream: {workers} worker(s), running count per key"),
            grouped(records as f64 / whole.as_secs_f64()),
        );
    }

    // The pause: a throttled stream still flowing when one of two dies.
    let (input, output) = (topic("pause-in"), topic("pause-out"));
    create(&bootstrap, &input, PARTITIONS)?;
    create(&bootstrap, &output, 1)?;
    produce(&bootstrap, &input, 0, 6_000)?;
    let name = format!("bench-pause-{run}");
    let manifest = pipeline(&dir, &name, &bootstrap, (&input, &output), Some(100), LOWER)?;
    let watch = Watch::new(&bootstrap, &format!("wasmstream-{name}-in"))?;
    let mut children = Workers(
        (0..2)
            .map(|_| worker(&manifest))
            .collect::<Result<_, _>>()?,
    );
    let began = Instant::now();
    while watch.written(&output) < 1_500 {
        anyhow::ensure!(
            began.elapsed() < Duration::from_secs(120),
            "the throttled stream did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut doomed = children.0.remove(1);
    let signalled = doomed.kill();
    let killed = Instant::now();
    doomed.wait()?;
    signalled?;
    let at_kill = watch.committed(&input)?;
    // Two seconds on, the partitions whose offsets have not moved since
    // the kill are the killed worker's; each resumes when its offset moves.
    while killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = watch.committed(&input)?;
    let stalled: Vec<i32> = (at_kill.keys())
        .filter(|p| now.get(p) == at_kill.get(p))
        .copied()
        .collect();
    let mut resumed: BTreeMap<i32, Duration> = BTreeMap::new();
    while resumed.len() < stalled.len() {
        anyhow::ensure!(
            killed.elapsed() < Duration::from_secs(120),
            "partitions {stalled:?} never moved"
        );
        let now = watch.committed(&input)?;
        for p in &stalled {
            if now.get(p) != at_kill.get(p) {
                resumed.entry(*p).or_insert_with(|| killed.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(children);
    let pause = resumed.values().max().copied().unwrap_or_default();
    println!(
        "{:<48} {:>12.1} s    (partitions {stalled:?}; session timeout 10 s)",
        "rebalance pause: SIGKILL to the moved partitions' first batch",
        pause.as_secs_f64()
    );
    Ok(())
}

/// Asks the broker how far a pipeline's workers got: the output topic's
/// end offset, and the offsets one of their groups committed.
struct Watch {
    lookup: BaseConsumer,
    group: BaseConsumer,
}

impl Watch {
    /// `group`: the workers' (`wasmstream-<pipeline>-<source or stage>`),
    /// never joined.
    fn new(bootstrap: &str, group: &str) -> anyhow::Result<Watch> {
        let lookup = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()?;
        let group = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Watch { lookup, group })
    }

    /// Records in `topic` (one partition).
    fn written(&self, topic: &str) -> i64 {
        (self.lookup)
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .map_or(0, |(_, high)| high)
    }

    /// The group's committed offsets of `topic`, over its partitions.
    fn committed_in_all(&self, topic: &str) -> anyhow::Result<i64> {
        Ok(self.committed(topic)?.values().map(|&n| n.max(0)).sum())
    }

    /// The group's committed offset of each partition of `topic`.
    fn committed(&self, topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
        let mut list = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            list.add_partition(topic, p);
        }
        let committed = self
            .group
            .committed_offsets(list, Duration::from_secs(10))?;
        Ok((committed.elements().iter())
            .map(|e| {
                (
                    e.partition(),
                    match e.offset() {
                        Offset::Offset(n) => n,
                        _ => -1,
                    },
                )
            })
            .collect())
    }
}

fn create(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let new = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
    for created in tokio.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        created.map_err(|(t, e)| {
            anyhow::anyhow!("cannot create {t} at {bootstrap}: {e}; start tests/kafka-broker")
        })?;
    }
    Ok(())
}

/// Records `from..from + n`, `p<partition>-<number>`, round the partitions,
/// keyed by one of 1,000 keys.
fn produce(bootstrap: &str, topic: &str, from: usize, n: usize) -> anyhow::Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()?;
    for i in from..from + n {
        let p = (i % PARTITIONS as usize) as i32;
        let (key, value) = (format!("k{}", i % 1000), format!("P{p}-{i:08}"));
        let mut record = BaseRecord::<str, str>::to(topic)
            .partition(p)
            .key(&key)
            .payload(&value);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(5));
        }
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(())
}

/// Records/s of one consumer reading `n` records of `topic` from the start.
fn consume_all(bootstrap: &str, topic: &str, n: usize) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-raw-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let start = Instant::now();
    let mut seen = 0;
    while seen < n {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message?;
            seen += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The one stage of a bench pipeline: its id, kind and plugin.
type Stage = (&'static str, &'static str, &'static str);
/// Lowers each record.
const LOWER: Stage = ("lower", "map", "lowercase");
/// Counts each key's records so far.
const COUNT: Stage = ("counts", "update_state_by_key", "running_count");

/// A pipeline `name` running `stage` over `input` into `output`.
fn pipeline(
    dir: &Path,
    name: &str,
    bootstrap: &str,
    (input, output): (&str, &str),
    per_partition: Option<usize>,
    (stage, kind, plugin): Stage,
) -> anyhow::Result<PathBuf> {
    let component = dir.join(format!("../wasm32-wasip2/release/{plugin}.wasm"));
    let rate = per_partition.map_or(String::new(), |r| format!("max_rate_per_partition = {r}"));
    let manifest = dir.join(format!("{name}.toml"));
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "{name}"
batch_interval = "50ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "earliest"
{rate}

[[stages]]
id = "{stage}"
kind = "{kind}"
input = "in"
component = {component:?}

[[sinks]]
id = "out"
kind = "kafka"
input = "{stage}"
bootstrap = "{bootstrap}"
topic = "{output}"
"#
        ),
    )?;
    Ok(manifest)
}

fn worker(manifest: &Path) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_wasmstream"))
        .args(["run", "--worker"])
        .arg(manifest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Running workers, stopped when dropped (also when the bench fails on
/// the way): SIGTERM, then a wait while each finishes its batch and
/// leaves its group.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}
