//! Kafka, through `rdkafka` (librdkafka): a topic read in Spark's
//! direct-stream style ([`source`]), alone or as one worker of a consumer
//! group ([`group`]), and written at least once or exactly
//! once ([`sink`], [`transactions`]); a worker's repartition and
//! changelog topics ([`changelog`]). What a pipeline names (topics,
//! groups, delivery) is plan data in [`crate::plan`]; this folder holds
//! how the clients are set up and how long they wait.

mod changelog;
mod group;
mod sink;
mod source;
mod transactions;

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, ProducerContext};

pub use changelog::{Changelog, home, make_worker_topics};
pub use group::{GroupStatus, PartitionStatus, status as group_status};
pub use sink::Kafka as KafkaSink;
pub use source::Kafka as KafkaSource;

/// How long a metadata or offset lookup on the read path may take before
/// the source fails the batch, naming the broker.
const LOOKUP: Duration = Duration::from_secs(10);
/// How long fetching a batch's known range may take.
const FETCH: Duration = Duration::from_secs(30);
/// How long a broker that went away mid-stream is waited for before the
/// pipeline fails.
const OUTAGE: Duration = Duration::from_secs(300);
/// How long one batch may wait to be acknowledged (the broker may be away
/// meanwhile; the producer keeps retrying) before it fails.
const FLUSH: Duration = Duration::from_secs(300);
/// How often a wait for acknowledgements is reported.
const REPORT: Duration = Duration::from_secs(5);
/// How long a metadata, offset or transaction-control request on the write
/// path may take.
const REQUEST: Duration = Duration::from_secs(30);

/// Queues `record` on `producer`, waiting (serving the producer's
/// callbacks) while its queue is full.
fn send<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> KafkaResult<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// A client of the brokers at `bootstrap`, for the caller to set up.
fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}
