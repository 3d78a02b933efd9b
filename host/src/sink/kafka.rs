//! A Kafka topic: each batch's records, keys and headers kept, produced
//! and flushed before the batch counts as written. Keys are partitioned
//! with murmur2, as Java clients (and this engine's shuffle) do.
//!
//! Delivery here is at-least-once: the producer is idempotent, so retries
//! never duplicate, but a batch replayed after a crash is produced again.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::{BatchInfo, Sink};
use crate::record::Batch;

/// How long one batch may wait to be acknowledged (the broker may be
/// away meanwhile; the producer keeps retrying) before it fails.
const FLUSH: Duration = Duration::from_secs(300);
/// How often a wait for acknowledgements is reported.
const REPORT: Duration = Duration::from_secs(5);

/// Settings of a Kafka sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSink {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// The topic.
    pub topic: String,
    /// `acks`: `"all"` (default), `"1"` or `"0"`.
    pub acks: String,
    /// `compression.type`: `none` (default), `gzip`, `snappy`, `lz4`, `zstd`.
    pub compression: String,
}

/// Remembers the first delivery failure of a batch.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            let mut failed = self.failed.lock().expect("delivery lock");
            failed.get_or_insert_with(|| error.to_string());
        }
    }
}

pub struct Kafka {
    id: String,
    spec: KafkaSink,
    producer: BaseProducer<Deliveries>,
}

impl Kafka {
    pub fn open(id: &str, spec: &KafkaSink) -> Result<Self> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &spec.bootstrap)
            .set("acks", &spec.acks)
            .set("compression.type", &spec.compression)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("message.timeout.ms", FLUSH.as_millis().to_string())
            .create_with_context(Deliveries::default())
            .with_context(|| {
                format!(
                    "sink `{id}` (topic `{}` at {}): cannot create a Kafka producer",
                    spec.topic, spec.bootstrap
                )
            })?;
        Ok(Kafka {
            id: id.to_owned(),
            spec: spec.clone(),
            producer,
        })
    }

    fn describe(&self) -> String {
        format!(
            "sink `{}` (topic `{}` at {})",
            self.id, self.spec.topic, self.spec.bootstrap
        )
    }

    /// Produces one record, waiting for room in the producer's queue.
    fn produce(&self, batch: &Batch, i: usize) -> Result<()> {
        let record = batch.get(i);
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.iter().count());
        for (name, value) in record.headers.iter() {
            headers = headers.insert(Header {
                key: &String::from_utf8_lossy(name),
                value: Some(value),
            });
        }
        let mut message = BaseRecord::<[u8], [u8]>::to(&self.spec.topic)
            .payload(record.value)
            .timestamp(record.timestamp)
            .headers(headers);
        if let Some(key) = record.key {
            message = message.key(key);
        }
        loop {
            match self.producer.send(message) {
                Ok(()) => return Ok(()),
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    message = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(anyhow!("{}: cannot produce: {e}", self.describe())),
            }
        }
    }
}

impl Sink for Kafka {
    fn write(&mut self, batch: BatchInfo, partitions: &[Batch]) -> Result<()> {
        for part in partitions {
            for i in 0..part.len() {
                self.produce(part, i)
                    .with_context(|| format!("batch {}", batch.id))?;
            }
        }
        let started = std::time::Instant::now();
        while let Err(e) = self.producer.flush(REPORT) {
            if started.elapsed() >= FLUSH {
                return Err(anyhow!(
                    "{}: batch {} was not acknowledged within {} s: {e}",
                    self.describe(),
                    batch.id,
                    FLUSH.as_secs()
                ));
            }
            tracing::warn!(
                sink = %self.id,
                batch = batch.id,
                "the broker has not acknowledged the batch after {} s; still retrying",
                started.elapsed().as_secs()
            );
        }
        let failed = self
            .producer
            .context()
            .failed
            .lock()
            .expect("delivery lock")
            .take();
        if let Some(error) = failed {
            return Err(anyhow!(
                "{}: batch {} was not delivered: {error}",
                self.describe(),
                batch.id
            ));
        }
        Ok(())
    }
}
