//! Kafka → Wasm map → Kafka through the engine, against the raw rdkafka
//! consume-then-produce loop with no operator: the physical limit of the
//! broker and client on this machine. Prints both rates and their ratio.
//!
//! Needs the broker: `tests/kafka-broker` (its address in
//! `WASMSTREAM_KAFKA`, default 127.0.0.1:9092), and the `lowercase`
//! plugin: `cargo build --release --target wasm32-wasip2 -p lowercase`.
//! Then `cargo bench -p wasmstream --bench kafka`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use common::grouped;
use wasmstream::plugin::Runtime;
use wasmstream::source::generator;

/// Records through each side; `WASMSTREAM_BENCH_RECORDS` overrides.
const RECORDS: usize = 20_000;
const RECORD_BYTES: usize = 100;
const PARTITIONS: i32 = 2;

fn records() -> usize {
    std::env::var("WASMSTREAM_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RECORDS)
}

fn main() -> anyhow::Result<()> {
    let bootstrap = std::env::var("WASMSTREAM_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tokio = tokio::runtime::Runtime::new()?;
    let run = std::process::id();
    let topic = |name: &str| format!("bench-{name}-{run}");
    let (input, raw_out, engine_out) = (topic("in"), topic("raw"), topic("engine"));

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;
    let new: Vec<NewTopic> = [&input, &raw_out, &engine_out]
        .iter()
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    for created in tokio.block_on(admin.create_topics(&new, &AdminOptions::new()))? {
        created.map_err(|(t, e)| {
            anyhow::anyhow!("cannot create {t} at {bootstrap}: {e}; start tests/kafka-broker")
        })?;
    }

    println!(
        "wasmstream Kafka benchmark: {} records of {RECORD_BYTES} bytes, {PARTITIONS} partitions, broker {bootstrap}",
        records()
    );
    let producer = producer(&bootstrap)?;
    let values = generator::batch(0, records(), RECORD_BYTES, 0);
    for (i, value) in values.values.iter().enumerate() {
        let key = (i % 1000).to_string();
        send(&producer, BaseRecord::to(&input).key(&key).payload(value));
    }
    producer.flush(Duration::from_secs(120))?;

    let raw = raw_loop(&bootstrap, &input, &raw_out)?;
    let engine = tokio.block_on(through_the_engine(&repo, &bootstrap, &input, &engine_out))?;
    println!(
        "{:<44} {:>14} rec/s",
        "raw rdkafka consume -> produce (no operator)",
        grouped(raw)
    );
    println!(
        "{:<44} {:>14} rec/s",
        "wasmstream: Kafka -> Wasm map -> Kafka",
        grouped(engine)
    );
    println!("{:<44} {:>14.2}", "ratio (target >= 0.8)", engine / raw);
    Ok(())
}

fn producer(bootstrap: &str) -> anyhow::Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .create()?)
}

/// Queues a record, waiting for room.
fn send(producer: &BaseProducer, mut record: BaseRecord<'_, String, [u8]>) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
        }
    }
}

/// Records/s of a plain consume-then-produce loop over the whole topic.
fn raw_loop(bootstrap: &str, input: &str, output: &str) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-raw-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(input, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let producer = producer(bootstrap)?;
    let start = Instant::now();
    let mut seen = 0;
    while seen < records() {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            send(
                &producer,
                BaseRecord::to(output)
                    .key(&key)
                    .payload(message.payload().unwrap_or_default()),
            );
            seen += 1;
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(records() as f64 / start.elapsed().as_secs_f64())
}

/// Records/s of the engine running lowercase over the topic, from start
/// until the output topic holds every record.
async fn through_the_engine(
    repo: &Path,
    bootstrap: &str,
    input: &str,
    output: &str,
) -> anyhow::Result<f64> {
    let dir = repo.join("target/bench-kafka");
    std::fs::create_dir_all(&dir)?;
    let manifest = dir.join("manifest.toml");
    let lowercase = repo.join("target/wasm32-wasip2/release/lowercase.wasm");
    std::fs::write(
        &manifest,
        format!(
            r#"
[pipeline]
name = "bench-kafka"
batch_interval = "20ms"

[[sources]]
id = "in"
kind = "kafka"
bootstrap = "{bootstrap}"
topic = "{input}"
start = "earliest"

[[stages]]
id = "lower"
kind = "map"
input = "in"
component = {lowercase:?}

[[sinks]]
id = "out"
kind = "kafka"
input = "lower"
bootstrap = "{bootstrap}"
topic = "{output}"
"#
        ),
    )?;
    let runtime = Runtime::new(repo.join("target/bench-cache"))?;
    let plan = wasmstream::plan::load(&manifest, &runtime).map_err(|e| anyhow::anyhow!("{e}"))?;
    let watermarks: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let running = tokio::spawn(wasmstream::scheduler::run(
        plan,
        wasmstream::scheduler::Options::new(stop),
    ));
    let written = |c: &BaseConsumer| -> i64 {
        (0..PARTITIONS)
            .map(|p| {
                c.fetch_watermarks(output, p, Duration::from_secs(10))
                    .map_or(0, |w| w.1)
            })
            .sum()
    };
    while written(&watermarks) < records() as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    running.await??;
    Ok(records() as f64 / elapsed.as_secs_f64())
}
