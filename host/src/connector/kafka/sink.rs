//! A Kafka topic: each batch's records, keys and headers kept, produced
//! and acknowledged before the batch counts as written. Keys are
//! partitioned with murmur2, as Java clients (and this engine's shuffle) do.
//!
//! Two deliveries:
//!
//! - **At-least-once** (the default). The producer is idempotent, so its
//!   own retries never duplicate, but a batch replayed after a crash is
//!   produced again.
//! - **Exactly-once**: each batch one Kafka transaction
//!   ([`super::transactions`]).

use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::ClientContext;
use rdkafka::error::KafkaResult;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::transactions::Transactional;
use super::{FLUSH, REPORT, client};
use crate::plan::{Delivery, KafkaSink};
use crate::record::Batch;
use crate::sink::{BatchInfo, Progress, Sink};

/// Remembers the first delivery failure of a batch.
#[derive(Default)]
pub(super) struct Deliveries {
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

impl Deliveries {
    /// The first delivery failure since the last call, if any.
    pub(super) fn take_failure(&self) -> Option<String> {
        self.failed.lock().expect("delivery lock").take()
    }
}

pub struct Kafka {
    pub(super) id: String,
    pub(super) spec: KafkaSink,
    pub(super) producer: BaseProducer<Deliveries>,
    /// For an exactly-once sink, once its transactions have begun.
    pub(super) transactions: Option<Transactional>,
}

impl Kafka {
    pub fn open(id: &str, spec: &KafkaSink) -> Result<Self> {
        let mut config = client(&spec.bootstrap);
        config
            .set("acks", &spec.acks)
            .set("compression.type", &spec.compression)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("message.timeout.ms", FLUSH.as_millis().to_string());
        if let Delivery::ExactlyOnce(t) = &spec.delivery {
            config
                .set("transactional.id", &t.transactional_id)
                .set("transaction.timeout.ms", FLUSH.as_millis().to_string());
        }
        let producer = config
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
            transactions: None,
        })
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "sink `{}` (topic `{}` at {})",
            self.id, self.spec.topic, self.spec.bootstrap
        )
    }

    /// Queues one record, waiting for room in the producer's queue.
    fn produce(&self, topic: &str, batch: &Batch, i: usize) -> KafkaResult<()> {
        let record = batch.get(i);
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.iter().count());
        for (name, value) in record.headers.iter() {
            headers = headers.insert(Header {
                key: &String::from_utf8_lossy(name),
                value: Some(value),
            });
        }
        let side = self.spec.side.map(|side| side.to_string());
        if let Some(side) = &side {
            // A worker's join: which side the record is (see `split_sides`).
            headers = headers.insert(Header {
                key: crate::shuffle::SIDE_HEADER,
                value: Some(side.as_bytes()),
            });
        }
        let mut message = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(record.value)
            .timestamp(record.timestamp)
            .headers(headers);
        let key = match self.spec.key_by_value {
            true => Some(record.value),
            false => record.key,
        };
        if let Some(key) = key {
            message = message.key(key);
        }
        if self.spec.repartition && key.is_none_or(<[u8]>::is_empty) {
            // A worker's repartition topic: where keyless records' state is.
            message = message.partition(0);
        }
        self.send(message)
    }

    pub(super) fn send(&self, message: BaseRecord<'_, [u8], [u8]>) -> KafkaResult<()> {
        super::send(&self.producer, message)
    }

    pub(super) fn produce_all(&self, partitions: &[Batch]) -> KafkaResult<()> {
        for part in partitions {
            for i in 0..part.len() {
                self.produce(&self.spec.topic, part, i)?;
            }
        }
        Ok(())
    }

    /// The first delivery failure since the last call, if any.
    fn take_failure(&self) -> Option<String> {
        self.producer.context().take_failure()
    }

    /// At-least-once: produce, then wait until every record is
    /// acknowledged.
    fn write_at_least_once(&mut self, batch: BatchInfo, partitions: &[Batch]) -> Result<()> {
        self.produce_all(partitions)
            .map_err(|e| anyhow!("{}: cannot produce: {e}", self.describe()))
            .with_context(|| format!("batch {}", batch.id))?;
        let started = Instant::now();
        while let Err(e) = self.producer.flush(REPORT) {
            if started.elapsed() >= FLUSH {
                bail!(
                    "{}: batch {} was not acknowledged within {} s: {e}",
                    self.describe(),
                    batch.id,
                    FLUSH.as_secs()
                );
            }
            tracing::warn!(
                sink = %self.id,
                batch = batch.id,
                "the broker has not acknowledged the batch after {} s; still retrying",
                started.elapsed().as_secs()
            );
        }
        if let Some(error) = self.take_failure() {
            bail!(
                "{}: batch {} was not delivered: {error}",
                self.describe(),
                batch.id
            );
        }
        Ok(())
    }
}

impl Sink for Kafka {
    fn write(&mut self, batch: BatchInfo, partitions: &[Batch], progress: &Progress) -> Result<()> {
        match self.spec.delivery {
            Delivery::AtLeastOnce => self.write_at_least_once(batch, partitions),
            Delivery::ExactlyOnce(_) => self.write_exactly_once(batch, partitions, progress),
        }
    }
}
