//! Exactly-once delivery to Kafka: each batch is one Kafka transaction
//! holding its records, the offsets its Kafka sources reached (for their
//! consumer groups, via `send_offsets_to_transaction`), and a marker
//! naming the batch in the sink's *commit topic*. A restarted pipeline
//! first fences and aborts whatever transaction its previous process left
//! open, reads the newest committed marker, and, while it replays its
//! logged batches to rebuild state, skips producing every batch up to that
//! one. So a `read_committed` consumer sees each batch's output exactly
//! once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::sink::Kafka;
use super::{FLUSH, REQUEST, client};
use crate::plan::{Delivery, Transactions};
use crate::position::Position;
use crate::record::Batch;
use crate::retry::{self, BlockingRetryable as _};
use crate::sink::{BatchInfo, Progress};

/// What each transaction writes to the commit topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    /// [`Progress::run`].
    run: u64,
    /// The batch committed.
    batch: u64,
}

/// An exactly-once sink's standing with the broker.
pub(super) struct Transactional {
    /// The last batch an earlier run of this line committed, if any.
    committed_before: Option<Marker>,
    /// Each committed source's group, as transactions name it.
    groups: Vec<ConsumerGroupMetadata>,
    /// The offsets the last transaction committed, per source.
    last_offsets: Option<Vec<BTreeMap<i32, i64>>>,
    /// Whether the skipping of already-committed batches was reported.
    reported_skip: bool,
}

/// Why committing a batch's transaction failed.
#[derive(Debug, thiserror::Error)]
enum Failed {
    /// Aborted, so the batch can be tried again.
    #[error("{0}")]
    Aborted(KafkaError),
    /// The producer cannot go on (fenced by another copy, say).
    #[error("{0}")]
    ForGood(KafkaError),
    /// Aborting it failed for good.
    #[error("{abort}")]
    Abort {
        abort: Box<KafkaError>,
        error: Box<KafkaError>,
    },
}

/// Whether the producer cannot go on after `error`.
fn fatal(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(t) if t.is_fatal())
}

impl Kafka {
    fn settings(&self) -> &Transactions {
        match &self.spec.delivery {
            Delivery::ExactlyOnce(t) => t,
            Delivery::AtLeastOnce => unreachable!("only exactly-once sinks use transactions"),
        }
    }

    /// Fences any earlier process with this transactional id (aborting its
    /// open transaction), and reads what that run committed last.
    fn begin(&mut self) -> Result<Transactional> {
        let t = self.settings().clone();
        self.producer.init_transactions(REQUEST).map_err(|e| {
            anyhow!(
                "{}: cannot start transactions as `{}`: {e}",
                self.describe(),
                t.transactional_id
            )
        })?;
        self.ensure_commit_topic(&t)?;
        let committed_before = self.last_marker(&t)?;
        let mut groups = Vec::new();
        for source in &t.sources {
            let consumer: BaseConsumer = client(&self.spec.bootstrap)
                .set("group.id", &source.group)
                .create()
                .with_context(|| {
                    format!(
                        "{}: cannot create a client for group `{}`",
                        self.describe(),
                        source.group
                    )
                })?;
            groups.push(consumer.group_metadata().with_context(|| {
                format!(
                    "{}: no metadata for group `{}`",
                    self.describe(),
                    source.group
                )
            })?);
        }
        if let Some(marker) = committed_before {
            tracing::info!(
                sink = %self.id,
                commit_topic = %t.commit_topic,
                "the last batch committed to `{}` was batch {}",
                self.spec.topic,
                marker.batch
            );
        }
        Ok(Transactional {
            committed_before,
            groups,
            last_offsets: None,
            reported_skip: false,
        })
    }

    /// Makes sure the commit topic exists, with one partition: created
    /// through the admin API, or by a broker that creates topics on first
    /// use.
    fn ensure_commit_topic(&self, t: &Transactions) -> Result<()> {
        let topic = &t.commit_topic;
        let exists = || -> Result<bool> {
            let metadata = self
                .producer
                .client()
                .fetch_metadata(Some(topic), REQUEST)
                .map_err(|e| anyhow!("{}: cannot reach the broker: {e}", self.describe()))?;
            Ok(metadata
                .topics()
                .iter()
                .any(|m| m.name() == topic && m.error().is_none() && !m.partitions().is_empty()))
        };
        if exists()? {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = client(&self.spec.bootstrap)
            .create()
            .with_context(|| format!("{}: cannot create an admin client", self.describe()))?;
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1));
        let created = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()));
        let why = match created.as_deref() {
            Ok([Ok(_)]) => return Ok(()),
            Ok([Err((_, RDKafkaErrorCode::TopicAlreadyExists))]) => return Ok(()),
            Ok(results) => format!("{results:?}"),
            Err(e) => e.to_string(),
        };
        // Some brokers refuse the admin API but create a topic once asked
        // for its metadata.
        if exists()? {
            return Ok(());
        }
        bail!(
            "{}: cannot create the commit topic `{topic}`, where each transaction records its batch: {why}; create it with one partition",
            self.describe()
        )
    }

    /// The newest marker in the commit topic, read as a `read_committed`
    /// consumer (aborted markers are invisible). Looks back from the end
    /// in growing steps: transaction markers and aborted batches take
    /// offsets too.
    fn last_marker(&self, t: &Transactions) -> Result<Option<Marker>> {
        let topic = &t.commit_topic;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            anyhow!(
                "{}: cannot read the commit topic `{topic}` ({what}): {e}",
                self.describe()
            )
        };
        let consumer = || -> Result<BaseConsumer> {
            client(&self.spec.bootstrap)
                .set("group.id", &t.transactional_id)
                .set("enable.auto.commit", "false")
                .set("isolation.level", "read_committed")
                .set("enable.partition.eof", "true")
                .create()
                .map_err(|e| fail("client", &e))
        };
        let (low, high) = consumer()?
            .fetch_watermarks(topic, 0, REQUEST)
            .map_err(|e| fail("offsets", &e))?;
        let mut back = 16;
        let mut end = high;
        while end > low {
            let from = end.saturating_sub(back).max(low);
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, 0, Offset::Offset(from))
                .map_err(|e| fail("assign", &e))?;
            // A fresh consumer per step, assigned once: replacing an
            // assignment again and again can abort the process in
            // librdkafka 2.12 (see the source's `reposition`).
            let consumer = consumer()?;
            consumer.assign(&list).map_err(|e| fail("assign", &e))?;
            let mut newest: Option<Marker> = None;
            let deadline = Instant::now() + REQUEST;
            loop {
                if Instant::now() > deadline {
                    return Err(fail(
                        "reading",
                        &format!(
                            "offsets {from}..{end} did not arrive within {} s",
                            REQUEST.as_secs()
                        ),
                    ));
                }
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        if message.offset() >= end {
                            break;
                        }
                        let marker: Marker = message
                            .payload()
                            .and_then(|p| serde_json::from_slice(p).ok())
                            .ok_or_else(|| {
                                fail(
                                    "a marker",
                                    &format!(
                                        "offset {} is not a wasmstream commit marker",
                                        message.offset()
                                    ),
                                )
                            })?;
                        newest = Some(marker);
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => break,
                    Some(Err(e)) => tracing::debug!(sink = %self.id, "reading `{topic}`: {e}"),
                    None => {
                        let at = consumer.position().map_err(|e| fail("position", &e))?;
                        if at
                            .find_partition(topic, 0)
                            .is_some_and(|p| matches!(p.offset(), Offset::Offset(n) if n >= end))
                        {
                            break;
                        }
                    }
                }
            }
            if newest.is_some() {
                return Ok(newest);
            }
            end = from;
            back *= 4;
        }
        Ok(None)
    }

    /// Exactly-once: skip a batch an earlier run committed; otherwise
    /// commit this one in a transaction, aborting and retrying it whole
    /// (with backoff) while the broker is away.
    pub(super) fn write_exactly_once(
        &mut self,
        batch: BatchInfo,
        partitions: &[Batch],
        progress: &Progress,
    ) -> Result<()> {
        if self.transactions.is_none() {
            self.transactions = Some(self.begin()?);
        }
        let settings = self.settings().clone();
        let offsets = settings
            .sources
            .iter()
            .map(|source| match progress.sources.get(&source.id) {
                Some(Position::Kafka { offsets }) => Ok(offsets.clone()),
                _ => Err(anyhow!(
                    "{}: batch {}: no Kafka offsets for source `{}`",
                    self.describe(),
                    batch.id,
                    source.id
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let state = self.transactions.as_mut().expect("begun");
        if let Some(before) = state.committed_before
            && before.run == progress.run
            && batch.id <= before.batch
        {
            if !state.reported_skip {
                state.reported_skip = true;
                tracing::info!(
                    sink = %self.id,
                    "batches up to {} were committed to `{}` before the restart; replaying them without writing them again",
                    before.batch,
                    self.spec.topic
                );
            }
            return Ok(());
        }
        let empty = partitions.iter().all(Batch::is_empty);
        if empty && state.last_offsets.as_ref() == Some(&offsets) {
            return Ok(());
        }
        let marker = Marker {
            run: progress.run,
            batch: batch.id,
        };
        let commit = || {
            let error = match self.transaction(&settings, marker, partitions, &offsets) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if fatal(&error) {
                return Err(Failed::ForGood(error));
            }
            match self.producer.abort_transaction(REQUEST) {
                Err(abort) if fatal(&abort) => Err(Failed::Abort {
                    abort: Box::new(abort),
                    error: Box::new(error),
                }),
                _ => Err(Failed::Aborted(error)),
            }
        };
        let id = self.id.clone();
        commit
            .retry(retry::backoff(Duration::from_millis(500), Duration::from_secs(10), Some(FLUSH)))
            .sleep(std::thread::sleep)
            .when(|failed| matches!(failed, Failed::Aborted(_)))
            .notify(|failed, wait| {
                tracing::warn!(
                    sink = %id,
                    batch = batch.id,
                    "the transaction failed and was aborted ({failed}); retrying the batch in {} ms",
                    wait.as_millis()
                );
            })
            .call()
            .map_err(|failed| match failed {
                Failed::ForGood(error) => anyhow!(
                    "{}: batch {}: the transaction failed for good: {error}; is another copy of this pipeline running as `{}`?",
                    self.describe(),
                    batch.id,
                    settings.transactional_id
                ),
                Failed::Abort { abort, error } => anyhow!(
                    "{}: batch {}: cannot abort the failed transaction: {abort} (it failed with: {error})",
                    self.describe(),
                    batch.id
                ),
                Failed::Aborted(error) => anyhow!(
                    "{}: batch {} could not be committed within {} s: {error}",
                    self.describe(),
                    batch.id,
                    FLUSH.as_secs()
                ),
            })?;
        self.transactions.as_mut().expect("begun").last_offsets = Some(offsets);
        Ok(())
    }

    /// One attempt at committing a batch.
    fn transaction(
        &self,
        settings: &Transactions,
        marker: Marker,
        partitions: &[Batch],
        offsets: &[BTreeMap<i32, i64>],
    ) -> KafkaResult<()> {
        tracing::debug!(sink = %self.id, batch = marker.batch, "transaction begins");
        self.producer.begin_transaction()?;
        self.produce_all(partitions)?;
        let groups = &self.transactions.as_ref().expect("begun").groups;
        for ((source, offsets), group) in settings.sources.iter().zip(offsets).zip(groups) {
            let mut list = TopicPartitionList::new();
            for (&partition, &offset) in offsets {
                list.add_partition_offset(&source.topic, partition, Offset::Offset(offset))?;
            }
            self.producer
                .send_offsets_to_transaction(&list, group, REQUEST)?;
        }
        let payload = serde_json::to_vec(&marker).expect("a marker serializes");
        self.send(
            BaseRecord::<[u8], [u8]>::to(&settings.commit_topic)
                .key(self.id.as_bytes())
                .payload(&payload),
        )?;
        // Fails, abortably, if any record of the batch was not delivered.
        self.producer.commit_transaction(FLUSH)?;
        tracing::debug!(sink = %self.id, batch = marker.batch, "transaction committed");
        Ok(())
    }
}
