//! A worker's internal topics ([`crate::plan::PipelinePlan::as_worker`]):
//! made when the worker starts, and the changelog through which a stage's
//! per-key state follows its partitions from worker to worker.
//!
//! A changelog record is one key's state after a batch: the state's key as
//! the record's key, its last activity (8 bytes, little-endian ms) then
//! the state as the value, or no value once the key has no state (a
//! tombstone, which compaction removes). It goes to the partition of the
//! repartition topic the key's records are in ([`home`]), so a worker
//! given partition *p* of the one reads partition *p* of the other.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::sink::Deliveries;
use super::{FETCH, FLUSH, REQUEST, client};
use crate::plan::{self, PipelinePlan, SinkKind, SourceKind};
use crate::shuffle;
use crate::state::LogRecord;

/// Which of `partitions` partitions holds `key`'s records and state: the
/// key's murmur2 hash, as the in-memory exchange and Kafka's producers
/// partition; a record without a key (whose state has the empty key) is
/// in partition 0.
pub fn home(key: &[u8], partitions: usize) -> usize {
    shuffle::partition_of(Some(key), partitions)
}

/// Makes the repartition and changelog topics a worker of `plan` uses, if
/// they are not there yet: as many partitions as the most any of the
/// pipeline's own Kafka topics has; changelogs compacted. Topics already
/// there keep their partitions, and a changelog must have as many as its
/// repartition topic.
pub fn make_worker_topics(plan: &PipelinePlan) -> Result<()> {
    let repartitions: Vec<(&str, &str)> = (plan.sinks.iter())
        .filter_map(|s| match &s.kind {
            SinkKind::Kafka(k) if k.repartition => Some((k.bootstrap.as_str(), k.topic.as_str())),
            _ => None,
        })
        .collect();
    if repartitions.is_empty() {
        return Ok(());
    }
    let inputs = (plan.sources.iter()).filter_map(|s| match &s.kind {
        SourceKind::Kafka(k) if !repartitions.iter().any(|(_, t)| *t == k.topic) => {
            Some((s.id.as_str(), k))
        }
        _ => None,
    });
    let mut most = 1;
    for (id, kafka) in inputs {
        let found = partitions(&kafka.bootstrap, &kafka.topic)
            .with_context(|| format!("source `{id}`"))?
            .ok_or_else(|| {
                anyhow!(
                    "source `{id}`: topic `{}` at {} does not exist; a worker sizes its repartition topics by it",
                    kafka.topic,
                    kafka.bootstrap
                )
            })?;
        most = most.max(found);
    }
    let mut made = HashMap::new();
    for (bootstrap, topic) in repartitions {
        let n = make(bootstrap, topic, most, false)?;
        made.insert(topic, n);
    }
    for log in &plan.changelogs {
        let source = (plan.sources.iter()).find(|s| s.id == log.source);
        let Some(SourceKind::Kafka(kafka)) = source.map(|s| &s.kind) else {
            bail!("stage `{}`: its repartition source is missing", log.stage);
        };
        let wanted = made.get(kafka.topic.as_str()).copied().unwrap_or(most);
        let n = make(&log.bootstrap, &log.topic, wanted, true)?;
        if n != wanted {
            bail!(
                "stage `{}`: changelog topic `{}` has {n} partitions but repartition topic `{}` has {wanted}; they must match (delete both to start the stage's state afresh)",
                log.stage,
                log.topic,
                kafka.topic
            );
        }
    }
    Ok(())
}

/// How many partitions `topic` has, if it exists.
fn partitions(bootstrap: &str, topic: &str) -> Result<Option<usize>> {
    let consumer: BaseConsumer = client(bootstrap)
        .create()
        .with_context(|| format!("cannot create a Kafka client for {bootstrap}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), REQUEST)
        .map_err(|e| anyhow!("topic `{topic}` at {bootstrap}: cannot read its metadata: {e}"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Makes `topic` with `n` partitions unless it exists; says how many it
/// has.
fn make(bootstrap: &str, topic: &str, n: usize, compacted: bool) -> Result<usize> {
    if let Some(found) = partitions(bootstrap, topic)? {
        return Ok(found);
    }
    let admin: AdminClient<DefaultClientContext> = client(bootstrap)
        .create()
        .with_context(|| format!("cannot create a Kafka admin client for {bootstrap}"))?;
    let mut new = NewTopic::new(topic, n as i32, TopicReplication::Fixed(-1));
    if compacted {
        new = new.set("cleanup.policy", "compact");
    }
    let options = AdminOptions::new().request_timeout(Some(Timeout::After(REQUEST)));
    let created = futures_executor::block_on(admin.create_topics([&new], &options));
    match created.as_deref() {
        Ok([Ok(_)] | [Err((_, RDKafkaErrorCode::TopicAlreadyExists))]) => {}
        Ok(results) => bail!("cannot create topic `{topic}` at {bootstrap}: {results:?}"),
        Err(e) => bail!("cannot create topic `{topic}` at {bootstrap}: {e}"),
    }
    tracing::info!(topic, partitions = n, compacted, "made a worker's topic");
    // The broker may take a moment to serve the new topic's metadata.
    let deadline = Instant::now() + REQUEST;
    loop {
        if let Some(found) = partitions(bootstrap, topic)? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            bail!("topic `{topic}` at {bootstrap} was made but its metadata never came");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A stateful stage's changelog, written after each batch and read back
/// for each partition a worker is given.
pub struct Changelog {
    plan: plan::Changelog,
    producer: BaseProducer<Deliveries>,
    /// The topic's partitions (its repartition topic's).
    partitions: usize,
}

impl Changelog {
    /// Opens the changelog `plan` names (made by [`make_worker_topics`]).
    pub fn open(plan: &plan::Changelog) -> Result<Self> {
        let describe = || format!("stage `{}`: changelog `{}`", plan.stage, plan.topic);
        let partitions = partitions(&plan.bootstrap, &plan.topic)
            .with_context(describe)?
            .ok_or_else(|| anyhow!("{}: the topic does not exist", describe()))?;
        let producer = client(&plan.bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", FLUSH.as_millis().to_string())
            .create_with_context(Deliveries::default())
            .with_context(|| format!("{}: cannot create a producer", describe()))?;
        Ok(Changelog {
            plan: plan.clone(),
            producer,
            partitions,
        })
    }

    /// The stage whose state this is.
    pub fn stage(&self) -> &str {
        &self.plan.stage
    }

    /// The repartition source whose partitions the state follows.
    pub fn source(&self) -> &str {
        &self.plan.source
    }

    fn describe(&self) -> String {
        format!(
            "stage `{}`: changelog `{}` at {}",
            self.plan.stage, self.plan.topic, self.plan.bootstrap
        )
    }

    /// Whether the state of `key` (a state's key, see
    /// [`crate::state::Logs::state_key`]) belongs to partition `p`.
    pub fn owns(&self, p: i32, key: &[u8]) -> bool {
        home(key, self.partitions) == p as usize
    }

    /// Queues `records` (a batch's state changes) for the changelog, each
    /// in the partition of its state's key (`state_key` of its key).
    pub fn write(&self, records: &[LogRecord], state_key: impl Fn(&[u8]) -> &[u8]) -> Result<()> {
        for LogRecord { key, value } in records {
            let partition = home(state_key(key), self.partitions) as i32;
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.plan.topic)
                .key(key)
                .partition(partition);
            if let Some(value) = value {
                record = record.payload(value);
            }
            super::send(&self.producer, record)
                .map_err(|e| anyhow!("{}: cannot produce: {e}", self.describe()))?;
        }
        Ok(())
    }

    /// Waits until every change queued is acknowledged: called before the
    /// batch's input offsets are committed, so a worker that takes the
    /// partitions over finds the state the committed offsets left.
    pub fn flush(&self) -> Result<()> {
        self.producer
            .flush(FLUSH)
            .map_err(|e| anyhow!("{}: changes not acknowledged: {e}", self.describe()))?;
        match self.producer.context().take_failure() {
            Some(error) => bail!("{}: changes not delivered: {error}", self.describe()),
            None => Ok(()),
        }
    }

    /// Partition `p`'s records, read from the start to the end it has
    /// now: each key's last.
    pub fn read(&self, p: i32) -> Result<Vec<LogRecord>> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            anyhow!("{}, partition {p}: cannot {what}: {e}", self.describe())
        };
        let consumer: BaseConsumer = client(&self.plan.bootstrap)
            .set("enable.auto.commit", "false")
            .set("group.id", format!("{}-restore", self.plan.topic))
            .create()
            .map_err(|e| fail("create a client", &e))?;
        let (low, high) = consumer
            .fetch_watermarks(&self.plan.topic, p, REQUEST)
            .map_err(|e| fail("read its offsets", &e))?;
        let mut last: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        if high > low {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&self.plan.topic, p, Offset::Offset(low))
                .map_err(|e| fail("start reading", &e))?;
            consumer
                .assign(&list)
                .map_err(|e| fail("start reading", &e))?;
            let mut waited = Instant::now();
            loop {
                let message = match consumer.poll(Duration::from_millis(200)) {
                    Some(message) => message.map_err(|e| fail("read it", &e))?,
                    None if waited.elapsed() >= FETCH => {
                        bail!(
                            "{}, partition {p}: nothing came within {} s of offsets {low}..{high}",
                            self.describe(),
                            FETCH.as_secs()
                        )
                    }
                    None => continue,
                };
                waited = Instant::now();
                let key = message.key().unwrap_or_default().to_vec();
                last.insert(key, message.payload().map(<[u8]>::to_vec));
                if message.offset() + 1 >= high {
                    break;
                }
            }
        }
        Ok((last.into_iter())
            .map(|(key, value)| LogRecord { key, value })
            .collect())
    }

    /// The topic, as errors name it.
    pub fn topic(&self) -> &str {
        &self.plan.topic
    }
}
