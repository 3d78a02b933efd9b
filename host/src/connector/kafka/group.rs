//! A worker's membership of its source's consumer group
//! (`wasmstream run --worker`): the consumer subscribes with the
//! cooperative-sticky protocol, so a rebalance moves only the partitions
//! that change hands, and librdkafka tells the source which ones through
//! [`Members`], from inside `poll` on the source's own thread. The source
//! polls only while it reads a batch, so a partition is handed over
//! between batches: before it goes, the offsets of the last batch written
//! are committed (a broker refuses commits while a rebalance is under way,
//! so the revocation is the moment that surely takes them), and its next
//! owner goes on from there.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A partition that changed hands in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moved {
    /// Kafka gave this worker the partition.
    Assigned(i32),
    /// Kafka took the partition away.
    Revoked(i32),
}

/// The consumer's context: collects what rebalances moved until the source
/// takes it ([`Members::take`]), and commits a partition's last written
/// offset as it is taken away.
#[derive(Debug, Default)]
pub(super) struct Members {
    topic: String,
    moved: Mutex<Vec<Moved>>,
    /// Per partition, where the last batch written ended, while the group
    /// has not acknowledged it.
    uncommitted: Mutex<BTreeMap<i32, i64>>,
}

impl Members {
    /// What moved since the last call, in order.
    pub(super) fn take(&self) -> Vec<Moved> {
        std::mem::take(&mut *self.moved.lock().expect("rebalances poisoned"))
    }

    /// A batch ending at `offsets` was written; the group has yet to
    /// acknowledge it.
    pub(super) fn written(&self, offsets: &BTreeMap<i32, i64>) {
        self.uncommitted
            .lock()
            .expect("offsets poisoned")
            .extend(offsets);
    }

    /// The group acknowledged `offsets`.
    pub(super) fn acknowledged(&self, offsets: &BTreeMap<i32, i64>) {
        let mut uncommitted = self.uncommitted.lock().expect("offsets poisoned");
        for (p, offset) in offsets {
            if uncommitted.get(p) == Some(offset) {
                uncommitted.remove(p);
            }
        }
    }
}

impl ClientContext for Members {}

impl ConsumerContext for Members {
    /// Before partitions go, commits what was written of them and not yet
    /// acknowledged: the group lets a member that is giving partitions up
    /// commit, where commits between batches may have been refused while
    /// the rebalance was under way.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let mut going = TopicPartitionList::new();
        let mut offsets = BTreeMap::new();
        {
            let uncommitted = self.uncommitted.lock().expect("offsets poisoned");
            for element in list.elements() {
                if let Some(&offset) = uncommitted.get(&element.partition()) {
                    offsets.insert(element.partition(), offset);
                    // A partition number from the list itself: cannot fail.
                    let _ = going.add_partition_offset(
                        &self.topic,
                        element.partition(),
                        Offset::Offset(offset),
                    );
                }
            }
        }
        if offsets.is_empty() {
            return;
        }
        match consumer.commit(&going, CommitMode::Sync) {
            Ok(()) => tracing::debug!(?offsets, "committed the partitions going to another worker"),
            Err(e) => tracing::warn!(
                "cannot commit offsets {offsets:?} of partitions going to another worker: {e}; their next owner reads the last batch again"
            ),
        }
        let mut uncommitted = self.uncommitted.lock().expect("offsets poisoned");
        for p in offsets.keys() {
            uncommitted.remove(p);
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let moved: Vec<Moved> = match rebalance {
            Rebalance::Assign(list) => partitions(list).into_iter().map(Moved::Assigned).collect(),
            Rebalance::Revoke(list) => partitions(list).into_iter().map(Moved::Revoked).collect(),
            Rebalance::Error(e) => {
                tracing::warn!("consumer group rebalance failed: {e}");
                Vec::new()
            }
        };
        self.moved
            .lock()
            .expect("rebalances poisoned")
            .extend(moved);
    }
}

/// How long the group waits to hear from a worker before its partitions
/// move to the others (librdkafka's default is 45 s; Kafka Streams' too).
const SESSION: &str = "10000";

/// A consumer made from `config` that joins its group for `topic`. Where
/// the group has no committed offset for a partition, librdkafka starts at
/// the earliest: the source skips what lies before its own start.
pub(super) fn join(
    mut config: ClientConfig,
    topic: &str,
) -> rdkafka::error::KafkaResult<BaseConsumer<Members>> {
    let consumer: BaseConsumer<Members> = config
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", SESSION)
        .set("heartbeat.interval.ms", "1000")
        .create_with_context(Members {
            topic: topic.to_owned(),
            ..Members::default()
        })?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}
