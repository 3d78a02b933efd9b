//! A worker's membership of its source's consumer group
//! (`wasmstream run --worker`): the consumer subscribes with the
//! cooperative-sticky protocol, so a rebalance moves only the partitions
//! that change hands, and librdkafka tells the source which ones through
//! [`Members`], from inside `poll` on the source's own thread. The source
//! polls only while it reads a batch, so a partition is handed over
//! between batches: before it goes, the offsets of the last batch written
//! are committed, and its next owner goes on from there. A broker may
//! refuse commits while a rebalance is under way: a worker refused reads
//! nothing new until its commit lands (`Kafka::behind`), and tries again
//! as a partition is revoked and before it leaves the group, so at most
//! the one batch written before the refusal can be read again.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use anyhow::{Result, anyhow};
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{LOOKUP, client};
use crate::plan::KafkaSource;
use crate::source::Moved;

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

    /// Whether the group acknowledged every offset written.
    pub(super) fn all_acknowledged(&self) -> bool {
        self.uncommitted
            .lock()
            .expect("offsets poisoned")
            .is_empty()
    }

    /// The offsets written that the group has not acknowledged.
    pub(super) fn unacknowledged(&self) -> BTreeMap<i32, i64> {
        self.uncommitted.lock().expect("offsets poisoned").clone()
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
        let mut offsets = BTreeMap::new();
        {
            let uncommitted = self.uncommitted.lock().expect("offsets poisoned");
            for element in list.elements() {
                if let Some(&offset) = uncommitted.get(&element.partition()) {
                    offsets.insert(element.partition(), offset);
                }
            }
        }
        if offsets.is_empty() {
            return;
        }
        match consumer.commit(&signed(&self.topic, &offsets), CommitMode::Sync) {
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

/// This worker as its commits name it: `<host>:<pid>`, found once.
pub(super) fn worker_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        format!("{host}:{}", std::process::id())
    })
}

/// `offsets` of `topic` to commit, each signed with this worker's name
/// (the commit's metadata), so that `wasmstream status --workers` can say
/// which worker reads which partition.
pub(super) fn signed(topic: &str, offsets: &BTreeMap<i32, i64>) -> TopicPartitionList {
    let name = worker_name();
    let mut list = TopicPartitionList::new();
    for (&p, &offset) in offsets {
        let mut element = list.add_partition(topic, p);
        // An offset, never a logical one: cannot fail.
        let _ = element.set_offset(Offset::Offset(offset));
        element.set_metadata(name);
    }
    list
}

/// How long a worker leaving its group tries to commit what it wrote
/// while the group rebalances: three of librdkafka's mock cluster's
/// rebalance rounds, which wait a second less than the session each.
pub(super) const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

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
        .set("client.id", format!("wasmstream-{}", worker_name()))
        .create_with_context(Members {
            topic: topic.to_owned(),
            ..Members::default()
        })?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Where a shared source stands, as the broker has it: the group's members
/// and, per partition, the worker that last committed it, where, and how
/// far the partition's end is ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStatus {
    /// The group's state (`Stable`, `PreparingRebalance`...) and its
    /// members' client ids, if the broker says.
    pub members: Option<(String, Vec<String>)>,
    pub partitions: Vec<PartitionStatus>,
}

/// One partition of a shared source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The worker (`<host>:<pid>`) that committed last, which reads the
    /// partition unless it moved since.
    pub worker: Option<String>,
    pub committed: Option<i64>,
    pub end: i64,
}

impl PartitionStatus {
    /// Records between what the group committed and the partition's end.
    pub fn lag(&self) -> i64 {
        (self.end - self.committed.unwrap_or(0)).max(0)
    }
}

/// Asks the broker where the workers of a source stand.
pub fn status(spec: &KafkaSource) -> Result<GroupStatus> {
    let consumer: BaseConsumer = client(&spec.bootstrap)
        .set("group.id", &spec.group)
        .set("enable.auto.commit", "false")
        .create()?;
    let cannot = |what: &str, e: rdkafka::error::KafkaError| {
        anyhow!(
            "topic `{}` at {}: cannot read {what}: {e}",
            spec.topic,
            spec.bootstrap
        )
    };
    let metadata = (consumer.fetch_metadata(Some(&spec.topic), LOOKUP))
        .map_err(|e| cannot("its partitions", e))?;
    let mut list = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| t.name() == spec.topic) {
        for p in topic.partitions() {
            list.add_partition(&spec.topic, p.id());
        }
    }
    if list.count() == 0 {
        return Err(anyhow!(
            "topic `{}` at {}: no such topic",
            spec.topic,
            spec.bootstrap
        ));
    }
    let committed = (consumer.committed_offsets(list, LOOKUP))
        .map_err(|e| cannot(&format!("group `{}`'s offsets", spec.group), e))?;
    let mut partitions = Vec::new();
    for element in committed.elements() {
        let p = element.partition();
        let (_, end) = (consumer.fetch_watermarks(&spec.topic, p, LOOKUP))
            .map_err(|e| cannot(&format!("partition {p}'s end"), e))?;
        let committed = match element.offset() {
            Offset::Offset(n) => Some(n),
            _ => None,
        };
        let worker = Some(element.metadata().to_owned()).filter(|m| !m.is_empty());
        partitions.push(PartitionStatus {
            partition: p,
            worker,
            committed,
            end,
        });
    }
    partitions.sort_by_key(|p| p.partition);
    let members = consumer
        .fetch_group_list(Some(&spec.group), LOOKUP)
        .ok()
        .and_then(|list| {
            let group = list.groups().iter().find(|g| g.name() == spec.group)?;
            let members = group
                .members()
                .iter()
                .map(|m| m.client_id().to_owned())
                .collect();
            Some((group.state().to_owned(), members))
        });
    Ok(GroupStatus {
        members,
        partitions,
    })
}
