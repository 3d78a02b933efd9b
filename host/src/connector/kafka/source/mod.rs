//! A Kafka topic, read in Spark's direct-stream style: no receivers. At
//! each cut the source looks up every partition's end offset and takes a
//! definite offset range per partition (capped by `max_rate_per_partition`
//! times the batch interval, and cut short at the batch's bytes), so a
//! batch can be read again exactly from the same ranges after a crash.
//! With `trigger = "available-now"` it reads only up to the ends the
//! partitions had when it started, then ends. Offsets live in the checkpoint; Kafka's
//! auto-commit is off, and the offsets reached are committed to the
//! consumer group after each batch only so that lag tools see progress.
//!
//! A worker's source ([`KafkaSource::worker`]) reads the same way, but only
//! the partitions Kafka assigns it in its consumer group ([`super::group`]),
//! from the offsets committed there, and commits after each batch written.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::group::{self, Members};
use super::{FETCH, LOOKUP, OUTAGE, client};
use crate::plan::{KafkaSource, Start};
use crate::position::{Position, Segment};
use crate::record::Batch;
use crate::retry::{self, BlockingRetryable as _};
use crate::source::{Moved, PartProgress, Pull};

mod member;

/// Why one attempt at reading a batch failed.
#[derive(Debug, thiserror::Error)]
enum Attempt {
    /// The broker the source had reached went away: worth waiting for.
    #[error("{0:#}")]
    Again(anyhow::Error),
    /// Anything else.
    #[error("{0:#}")]
    Final(anyhow::Error),
}

impl Attempt {
    fn into_error(self) -> anyhow::Error {
        match self {
            Attempt::Again(e) | Attempt::Final(e) => e,
        }
    }
}

pub struct Kafka {
    id: String,
    spec: KafkaSource,
    /// The consumer reading from `next`, assigned once when made (or, for
    /// a worker, a member of its group); to move, the source drops it
    /// ([`Self::reposition`]).
    consumer: Option<BaseConsumer<Members>>,
    /// A second client for end offsets: on the consumer's own connection
    /// such a request would queue behind its long-polling fetches.
    lookup: Option<BaseConsumer>,
    /// The next offset to read, per partition, once known: every partition
    /// of the topic, or a worker's share of them.
    next: BTreeMap<i32, i64>,
    /// What a worker last committed to its group.
    committed: BTreeMap<i32, i64>,
    /// What a worker's group moved since [`Pull::moved`] was last asked.
    moved: Vec<Moved>,
    /// Messages fetched past a batch's range, kept for the next batch.
    early: BTreeMap<i32, VecDeque<OwnedMessage>>,
    /// Whether `next` has been set (from the start setting or a checkpoint).
    placed: bool,
    /// Whether the source has reached the broker once: after that, an
    /// outage is waited out.
    reached: bool,
    /// Where each partition ended when the source first reached the
    /// broker, for a source that reads only that far
    /// ([`KafkaSource::until_start_end`]).
    stop_at: Option<BTreeMap<i32, i64>>,
}

impl Kafka {
    pub fn new(id: String, spec: KafkaSource) -> Self {
        Kafka {
            id,
            spec,
            consumer: None,
            lookup: None,
            next: BTreeMap::new(),
            committed: BTreeMap::new(),
            moved: Vec::new(),
            early: BTreeMap::new(),
            placed: false,
            reached: false,
            stop_at: None,
        }
    }

    fn describe(&self) -> String {
        format!(
            "source `{}` (topic `{}` at {})",
            self.id, self.spec.topic, self.spec.bootstrap
        )
    }

    /// Reaches the broker: the topic's partitions and, unless a checkpoint
    /// placed them already, where each starts.
    fn place(&mut self) -> Result<()> {
        if self.lookup.is_none() {
            let lookup = self
                .config()
                .create()
                .with_context(|| self.cannot_create())?;
            self.lookup = Some(lookup);
        }
        let lookup = self.lookup.as_ref().expect("just made");
        let metadata = lookup
            .fetch_metadata(Some(&self.spec.topic), LOOKUP)
            .map_err(|e| anyhow!("{}: cannot reach the broker: {e}", self.describe()))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.spec.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            bail!("{}: the topic does not exist", self.describe());
        }
        if self.spec.worker {
            // A worker's partitions come from its group.
            self.reached = true;
            return Ok(());
        }
        if !self.placed {
            let starts = partitions
                .iter()
                .map(|&p| Ok((p, self.start_offset(lookup, p)?)))
                .collect::<Result<Vec<_>>>()?;
            self.next.extend(starts);
            self.placed = true;
        }
        for &p in &partitions {
            self.next.entry(p).or_insert(0);
        }
        if self.spec.until_start_end && self.stop_at.is_none() {
            let ends = partitions
                .iter()
                .map(|&p| Ok((p, self.watermarks(lookup, p)?.1)))
                .collect::<Result<_>>()?;
            tracing::debug!(source = %self.id, ?ends, "reading up to the ends at start");
            self.stop_at = Some(ends);
        }
        self.reached = true;
        Ok(())
    }

    fn config(&self) -> ClientConfig {
        let mut config = client(&self.spec.bootstrap);
        config
            .set("group.id", &self.spec.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false");
        config
    }

    fn cannot_create(&self) -> String {
        format!("{}: cannot create a Kafka consumer", self.describe())
    }

    /// The consumer, assigned every partition from `next` (a worker's
    /// joins its group instead). Each consumer is assigned once: to move,
    /// the source drops it ([`Self::reposition`]).
    fn consumer(&mut self) -> Result<&BaseConsumer<Members>> {
        if self.consumer.is_none() && self.spec.worker {
            self.place()?;
            let consumer = group::join(self.config(), &self.spec.topic).map_err(|e| {
                anyhow!(
                    "{}: cannot join consumer group `{}`: {e}",
                    self.describe(),
                    self.spec.group
                )
            })?;
            self.consumer = Some(consumer);
        }
        if self.consumer.is_none() {
            self.place()?;
            let consumer: BaseConsumer<Members> = (self.config())
                .create_with_context(Members::default())
                .with_context(|| self.cannot_create())?;
            let mut list = TopicPartitionList::new();
            for (&p, &offset) in &self.next {
                list.add_partition_offset(&self.spec.topic, p, Offset::Offset(offset))?;
            }
            consumer
                .assign(&list)
                .map_err(|e| anyhow!("{}: cannot assign partitions: {e}", self.describe()))?;
            self.consumer = Some(consumer);
        }
        Ok(self.consumer.as_ref().expect("just created"))
    }

    /// Makes the next read start from `next`: the consumer is dropped and
    /// the next one is assigned from there. Replacing a consumer's
    /// assignment instead would race in librdkafka 2.12: a second
    /// replacement while the first one's partitions are still stopping
    /// aborts the process (`rd_kafka_assignment_partition_stopped:
    /// Assertion rktp->rktp_started failed`, librdkafka#5573), and a
    /// resume that seeks and replays replaced it three times in a row.
    fn reposition(&mut self) {
        if self.spec.worker {
            self.settle();
        }
        self.consumer = None;
        self.early.clear();
        if self.spec.worker {
            // The new consumer rejoins the group, and its partitions come
            // back from there, at the offsets last committed.
            self.next.clear();
            self.committed.clear();
        }
    }

    /// A partition's first and next offsets, as the broker has them now.
    fn watermarks(
        &self,
        consumer: &BaseConsumer<impl ConsumerContext>,
        partition: i32,
    ) -> Result<(i64, i64)> {
        consumer
            .fetch_watermarks(&self.spec.topic, partition, LOOKUP)
            .map_err(|e| {
                anyhow!(
                    "{}: cannot read partition {partition}'s offsets: {e}",
                    self.describe()
                )
            })
    }

    fn start_offset(
        &self,
        consumer: &BaseConsumer<impl ConsumerContext>,
        partition: i32,
    ) -> Result<i64> {
        let (low, high) = self.watermarks(consumer, partition)?;
        Ok(match self.spec.start {
            Start::Earliest => low,
            Start::Latest => high,
            Start::Timestamp(ms) => {
                // The partition named explicitly: the consumer has no
                // assignment yet to look up.
                let mut wanted = TopicPartitionList::new();
                wanted.add_partition_offset(&self.spec.topic, partition, Offset::Offset(ms))?;
                let found = consumer.offsets_for_times(wanted, LOOKUP).map_err(|e| {
                    anyhow!("{}: cannot look up offsets by time: {e}", self.describe())
                })?;
                match found
                    .find_partition(&self.spec.topic, partition)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(n)) => n,
                    _ => high,
                }
            }
        })
    }

    /// Fetches every partition's records from `next` up to (not including)
    /// `until`, in partition then offset order, and moves `next` there.
    /// Once the records fetched hold `max_bytes`, the fetch stops where it
    /// is and `until` is moved back to there: the rest waits for the next
    /// batch.
    fn fetch(
        &mut self,
        until: &mut BTreeMap<i32, i64>,
        max_bytes: usize,
        time: i64,
    ) -> Result<Batch> {
        let mut parts: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        let mut bytes = 0;
        // First what an earlier fetch got ahead of itself.
        for (p, early) in &mut self.early {
            let end = until.get(p).copied().unwrap_or(0);
            while early.front().is_some_and(|m| m.offset() < end) {
                let message = early.pop_front().expect("just looked");
                if self
                    .next
                    .get(p)
                    .is_some_and(|&next| message.offset() >= next)
                {
                    self.next.insert(*p, message.offset() + 1);
                    bytes += size(&message);
                    parts.entry(*p).or_default().push(message);
                }
            }
        }
        let deadline = Instant::now() + FETCH;
        let short = |next: &BTreeMap<i32, i64>, until: &BTreeMap<i32, i64>| {
            until
                .iter()
                .any(|(p, end)| next.get(p).is_some_and(|n| n < end))
        };
        loop {
            if self.spec.worker {
                for p in self.rebalanced()? {
                    until.remove(&p);
                    if let Some(dropped) = parts.remove(&p) {
                        bytes -= dropped.iter().map(size).sum::<usize>();
                    }
                }
            }
            if !short(&self.next, until) {
                break;
            }
            if bytes >= max_bytes {
                for (p, end) in until.iter_mut() {
                    *end = (*end).min(self.next[p]);
                }
                break;
            }
            if Instant::now() > deadline {
                let missing: Vec<String> = until
                    .iter()
                    .filter(|(p, end)| self.next[p] < **end)
                    .map(|(p, end)| format!("partition {p} offsets {}..{end}", self.next[p]))
                    .collect();
                bail!(
                    "{}: the broker did not deliver {} within {}s",
                    self.describe(),
                    missing.join(", "),
                    FETCH.as_secs()
                );
            }
            let consumer = self.consumer.as_ref().expect("connected");
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let (p, offset) = (message.partition(), message.offset());
                    let Some(&next) = self.next.get(&p) else {
                        continue;
                    };
                    if offset < next {
                        continue;
                    }
                    // A partition this fetch takes nothing from keeps what
                    // arrives for a later one.
                    let end = until.get(&p).copied().unwrap_or(next);
                    if offset >= end {
                        self.early.entry(p).or_default().push_back(message.detach());
                        continue;
                    }
                    self.next.insert(p, offset + 1);
                    let message = message.detach();
                    bytes += size(&message);
                    parts.entry(p).or_default().push(message);
                }
                Some(Err(e)) => {
                    // librdkafka reconnects by itself; a lasting outage
                    // shows as the fetch deadline passing.
                    tracing::debug!(source = %self.id, "Kafka: {e}");
                }
                None => {
                    // Offsets without a record (transaction markers,
                    // compaction) are skipped: the position says so.
                    let position = consumer.position()?;
                    for element in position.elements() {
                        if let (Offset::Offset(at), Some(end)) =
                            (element.offset(), until.get(&element.partition()))
                        {
                            let next = self.next.get_mut(&element.partition()).expect("assigned");
                            if at > *next {
                                *next = at.min(*end);
                            }
                        }
                    }
                }
            }
        }
        let mut batch = Batch::default();
        for message in parts.into_values().flatten() {
            let timestamp = message.timestamp().to_millis().unwrap_or(time);
            batch.push(
                message.key(),
                message.payload().unwrap_or_default(),
                timestamp,
            );
            if let Some(headers) = message.headers() {
                let owner = batch.len() as u32 - 1;
                for header in headers.iter() {
                    batch.header_owners.push(owner);
                    batch.header_names.push(header.key.as_bytes());
                    batch.header_values.push(header.value.unwrap_or_default());
                }
            }
        }
        Ok(batch)
    }
}

impl Kafka {
    /// One attempt at reading a batch: the end offsets, then the records.
    /// A failed attempt leaves the source where the attempt started, so the
    /// next one takes the same ranges (on a first read, from where the
    /// start setting placed it).
    fn try_read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)> {
        self.consumer()?;
        if self.spec.worker {
            self.serve_group()?;
            if self.behind()? {
                return Ok((Batch::default(), Vec::new()));
            }
        }
        let starts = self.next.clone();
        let read = self.read_ranges(&starts, max_records, max_bytes, time);
        if read.is_err() {
            // Back to where the attempt started, for the partitions the
            // source still reads.
            for (p, start) in starts {
                if let Some(next) = self.next.get_mut(&p) {
                    *next = start;
                }
            }
        }
        read
    }

    fn read_ranges(
        &mut self,
        starts: &BTreeMap<i32, i64>,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)> {
        let lookup = self.lookup.as_ref().expect("connected");
        let mut ends = BTreeMap::new();
        for &p in self.next.keys() {
            ends.insert(p, self.watermarks(lookup, p)?.1);
        }
        let mut until: BTreeMap<i32, i64> = ends
            .iter()
            .map(|(&p, &high)| {
                let from = self.next[&p];
                let most = i64::try_from(max_records).unwrap_or(i64::MAX);
                // A partition that appeared since the start is not read.
                let high = match &self.stop_at {
                    Some(stop) => high.min(stop.get(&p).copied().unwrap_or(from)),
                    None => high,
                };
                (p, high.min(from.saturating_add(most)).max(from))
            })
            .collect();
        tracing::trace!(source = %self.id, ?starts, ?until, "taking offset ranges");
        let batch = self.fetch(&mut until, max_bytes, time)?;
        let segments = until
            .iter()
            .filter(|(p, end)| starts[*p] < **end)
            .map(|(&partition, &end)| Segment::Offsets {
                partition,
                start: starts[&partition],
                end,
            })
            .collect();
        Ok((batch, segments))
    }
}

impl Pull for Kafka {
    /// Reads a batch. If the broker goes away after the source has reached
    /// it once, the batch is taken again from where it started, with
    /// backoff, until the broker is back or [`OUTAGE`] has passed.
    fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)> {
        let id = self.id.clone();
        let mut attempts = 0;
        let read = || {
            attempts += 1;
            if attempts > 1 {
                self.reposition();
            }
            match self.try_read(max_records, max_bytes, time) {
                Ok(read) => Ok((read, attempts > 1)),
                // Until the source has reached the broker once, a failure
                // is a setup error, reported at once.
                Err(e) if self.reached => Err(Attempt::Again(e)),
                Err(e) => Err(Attempt::Final(e)),
            }
        };
        let outage = retry::backoff(
            Duration::from_millis(500),
            Duration::from_secs(10),
            Some(OUTAGE),
        );
        let (read, retried) = read
            .retry(outage)
            .sleep(std::thread::sleep)
            .when(|e| matches!(e, Attempt::Again(_)))
            .notify(|e, wait| {
                tracing::warn!(
                    source = %id,
                    "{e}; retrying in {} ms (gives up after {} s)",
                    wait.as_millis(),
                    OUTAGE.as_secs()
                );
            })
            .call()
            .map_err(Attempt::into_error)?;
        if retried {
            tracing::warn!(source = %self.id, "the broker is back; reading again");
        }
        Ok(read)
    }

    /// Only a source reading up to the ends at start ends: once every
    /// partition has been read that far.
    fn ended(&self) -> bool {
        self.stop_at.as_ref().is_some_and(|stop| {
            self.next
                .iter()
                .all(|(p, next)| stop.get(p).is_none_or(|end| next >= end))
        })
    }

    fn partitions(&self) -> usize {
        self.next.len().max(1)
    }

    /// Each partition's next offset, and its lag behind the end offset the
    /// consumer last heard of in a fetch (cached: no request to the broker).
    fn progress(&self) -> Vec<PartProgress> {
        let consumer = self.consumer.as_ref();
        (self.next.iter())
            .map(|(&partition, &next)| {
                let end = consumer.and_then(|c| cached_end(c, &self.spec.topic, partition));
                PartProgress {
                    part: partition.to_string(),
                    next,
                    lag: end.map(|end| (end - next).max(0)),
                }
            })
            .collect()
    }

    fn position(&self) -> Position {
        Position::Kafka {
            offsets: self.next.clone(),
        }
    }

    fn seek(&mut self, position: &Position) -> Result<()> {
        if self.spec.worker {
            bail!(
                "{}: a worker's offsets live in group `{}`, not in a checkpoint",
                self.describe(),
                self.spec.group
            );
        }
        let Position::Kafka { offsets } = position else {
            bail!(
                "{}: the checkpoint holds a position of another kind of source",
                self.describe()
            );
        };
        self.next = offsets.clone();
        self.placed = true;
        self.reposition();
        Ok(())
    }

    fn replay(&mut self, segments: &[Segment], time: i64) -> Result<Batch> {
        self.place()?;
        let (mut starts, mut until) = (BTreeMap::new(), BTreeMap::new());
        for segment in segments {
            let Segment::Offsets {
                partition,
                start,
                end,
            } = segment
            else {
                bail!(
                    "{}: the intent log holds input of another kind of source",
                    self.describe()
                );
            };
            starts.insert(*partition, *start);
            until.insert(*partition, *end);
        }
        // Batches replayed one after another read on where the last one
        // ended: the consumer is already there. (A new one costs the
        // broker's first fetch, seconds on a busy tansu.)
        let moved = (starts.iter()).any(|(p, start)| self.next.get(p) != Some(start));
        self.next.extend(starts);
        for (&p, &next) in &self.next {
            until.entry(p).or_insert(next);
        }
        if moved {
            self.reposition();
        }
        self.consumer()?;
        // Exactly the ranges the batch read, however many bytes they hold.
        self.fetch(&mut until, usize::MAX, time)
    }

    fn moved(&mut self) -> Vec<Moved> {
        std::mem::take(&mut self.moved)
    }

    fn committed(&mut self) -> Result<()> {
        let Some(consumer) = self.consumer.as_ref().filter(|_| self.spec.commit_offsets) else {
            return Ok(());
        };
        if self.spec.worker {
            return self.worker_committed();
        }
        let mut list = TopicPartitionList::new();
        for (&p, &offset) in &self.next {
            list.add_partition_offset(&self.spec.topic, p, Offset::Offset(offset))?;
        }
        if let Err(e) = consumer.commit(&list, CommitMode::Async) {
            // Only lag tools read these; the checkpoint holds the truth.
            tracing::warn!(source = %self.id, "cannot commit offsets to group `{}`: {e}", self.spec.group);
        }
        Ok(())
    }
}

/// The end offset of `partition` of `topic` that `consumer` last heard of
/// in a fetch response: librdkafka keeps it (`rd_kafka_get_watermark_offsets`),
/// so asking sends no request, unlike [`Consumer::fetch_watermarks`].
/// rdkafka does not wrap that call.
fn cached_end(
    consumer: &BaseConsumer<impl ConsumerContext>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client is alive for the borrow of `consumer`, `topic` is
    // a NUL-terminated string that outlives the call, and both out-params
    // point to live i64s. librdkafka documents the call as thread-safe.
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

/// A record's bytes, as a batch counts them.
fn size(message: &OwnedMessage) -> usize {
    let headers = message.headers().map_or(0, |h| {
        h.iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum()
    });
    message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len) + headers
}

#[cfg(test)]
mod tests;
