//! A worker's side of the source ([`KafkaSource::worker`]): taking in what
//! its group's rebalances moved, serving them before each read, and
//! committing each batch's offsets to the group.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::Kafka;
use crate::connector::kafka::LOOKUP;
use crate::connector::kafka::group;
#[cfg(doc)]
use crate::plan::KafkaSource;
use crate::source::Moved;

impl Kafka {
    /// A worker takes in what its group's rebalances moved: a partition
    /// taken away is dropped, with what was read of it ahead of the
    /// batches; one given is read from the offset the group committed
    /// (or, new to the group, from the start setting). A partition taken
    /// away and given back in between counts as both. Says which were
    /// taken away.
    pub(super) fn rebalanced(&mut self) -> Result<Vec<i32>> {
        let Some(consumer) = &self.consumer else {
            return Ok(Vec::new());
        };
        let (mut assigned, mut revoked) = (Vec::new(), Vec::new());
        let moved = consumer.context().take();
        self.moved.extend(&moved);
        for moved in moved {
            match moved {
                Moved::Assigned(p) => assigned.push(p),
                Moved::Revoked(p) => {
                    assigned.retain(|&a| a != p);
                    revoked.push(p);
                }
            }
        }
        for p in &revoked {
            self.next.remove(p);
            self.committed.remove(p);
            self.early.remove(p);
        }
        if !revoked.is_empty() {
            tracing::info!(source = %self.id, group = %self.spec.group, "partitions {revoked:?} moved to another worker");
        }
        if assigned.is_empty() {
            return Ok(revoked);
        }
        let mut list = TopicPartitionList::new();
        for &p in &assigned {
            list.add_partition(&self.spec.topic, p);
        }
        let committed = consumer.committed_offsets(list, LOOKUP).map_err(|e| {
            anyhow!(
                "{}: cannot read group `{}`'s offsets: {e}",
                self.describe(),
                self.spec.group
            )
        })?;
        let lookup = self.lookup.as_ref().expect("placed before joining");
        let mut starts = BTreeMap::new();
        for &p in &assigned {
            let at = committed
                .find_partition(&self.spec.topic, p)
                .map(|e| e.offset());
            let start = match at {
                Some(Offset::Offset(n)) => n,
                _ => self.start_offset(lookup, p)?,
            };
            starts.insert(p, start);
        }
        tracing::info!(source = %self.id, group = %self.spec.group, "partitions {assigned:?} assigned, reading from offsets {starts:?}");
        self.committed.extend(&starts);
        self.next.extend(starts);
        Ok(revoked)
    }

    /// A worker polls its consumer once before each read, so that the
    /// group's rebalances are served even when nothing waits to be read,
    /// and takes in what they moved. A record the poll brings waits for
    /// the fetch.
    pub(super) fn serve_group(&mut self) -> Result<()> {
        let consumer = self.consumer.as_ref().expect("joined");
        match consumer.poll(Duration::ZERO) {
            Some(Ok(message)) => {
                let message = message.detach();
                let partition = message.partition();
                self.early.entry(partition).or_default().push_back(message);
            }
            Some(Err(e)) => tracing::debug!(source = %self.id, "Kafka: {e}"),
            None => {}
        }
        self.rebalanced()?;
        Ok(())
    }

    /// Whether a worker is behind its group: offsets it wrote are not
    /// acknowledged yet (the broker refuses commits while the group
    /// rebalances). Their commit is tried again first; while it is
    /// refused, the worker reads nothing new, so what a partition's next
    /// owner may read again stays within one batch.
    pub(super) fn behind(&mut self) -> Result<bool> {
        let consumer = self.consumer.as_ref().expect("joined");
        if consumer.context().all_acknowledged() {
            return Ok(false);
        }
        self.worker_committed()?;
        let consumer = self.consumer.as_ref().expect("joined");
        Ok(!consumer.context().all_acknowledged())
    }

    /// Before a worker leaves its group: serves the group and tries the
    /// offsets not yet acknowledged again until they are, for at most
    /// [`group::SETTLE`], so its partitions' next owners go on after the
    /// last batch written.
    pub(super) fn settle(&mut self) {
        let deadline = std::time::Instant::now() + group::SETTLE;
        loop {
            let Some(consumer) = self.consumer.as_ref() else {
                return;
            };
            if consumer.context().all_acknowledged() {
                return;
            }
            if std::time::Instant::now() > deadline {
                tracing::warn!(
                    source = %self.id,
                    "offsets {:?} not committed to group `{}` before leaving it; their partitions' next owners read from the last offsets committed",
                    consumer.context().unacknowledged(),
                    self.spec.group
                );
                return;
            }
            // What the poll brings is read by the partition's next owner.
            let _ = consumer.poll(Duration::from_millis(100));
            if let Err(e) = self.rebalanced().and_then(|_| self.worker_committed()) {
                tracing::warn!(source = %self.id, "before leaving group `{}`: {e:#}", self.spec.group);
                return;
            }
        }
    }

    /// A worker commits each batch's offsets to its group once written.
    /// While the group rebalances the broker may refuse: the offsets wait
    /// for the next try ([`Self::behind`]), or for the moment their
    /// partition is taken away ([`group::Members`]), so its next owner
    /// goes on after the last batch written. Only a worker that dies with
    /// offsets unacknowledged has its last batch read again: at least
    /// once.
    pub(super) fn worker_committed(&mut self) -> Result<()> {
        let consumer = self.consumer.as_ref().expect("joined");
        let changed: BTreeMap<i32, i64> = (self.next.iter())
            .filter(|(p, next)| self.committed.get(p) != Some(next))
            .map(|(&p, &next)| (p, next))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        consumer.context().written(&changed);
        let list = group::signed(&self.spec.topic, &changed);
        match consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => {
                consumer.context().acknowledged(&changed);
                self.committed.extend(changed);
            }
            Err(e) => tracing::debug!(
                source = %self.id,
                "offsets {changed:?} not committed to group `{}` yet: {e}",
                self.spec.group
            ),
        }
        Ok(())
    }
}

impl Drop for Kafka {
    /// A worker leaves its group having committed what it wrote, if the
    /// group lets it in time.
    fn drop(&mut self) {
        if self.spec.worker {
            self.settle();
        }
    }
}
