use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::*;

const PARTITIONS: i32 = 4;
const PER_PARTITION: i64 = 50;

/// A source `in` on an in-process mock cluster whose topic `t` holds
/// 50 records in each of 4 partitions (value: `<partition>:<offset>`).
fn source_on(cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>) -> Kafka {
    cluster.create_topic("t", PARTITIONS, 1).expect("topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for p in 0..PARTITIONS {
        for offset in 0..PER_PARTITION {
            let value = format!("{p}:{offset}");
            producer
                .send(BaseRecord::<(), _>::to("t").payload(&value).partition(p))
                .expect("send");
        }
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    Kafka::new(
        "in".into(),
        KafkaSource {
            bootstrap: cluster.bootstrap_servers(),
            topic: "t".into(),
            group: "g".into(),
            start: Start::Earliest,
            commit_offsets: true,
            until_start_end: false,
            worker: false,
        },
    )
}

fn values(batch: &Batch) -> Vec<String> {
    (0..batch.len())
        .map(|i| String::from_utf8_lossy(batch.values.get(i)).into_owned())
        .collect()
}

/// Hole 14: librdkafka aborted the process right after an exactly-once
/// pipeline resumed and replayed. A resume seeks to the checkpoint and
/// replays the intent logs' ranges, and each step replaced the
/// consumer's assignment; a third replacement while the second one's
/// partitions were still stopping trips librdkafka's assertion
/// (librdkafka#5573), killing the test process. Resuming again and
/// again now reads exactly the ranges asked for, every time.
#[test]
fn resuming_and_replaying_again_and_again_reads_the_ranges_and_keeps_the_process() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let mut source = source_on(&cluster);
    let checkpoint = Position::Kafka {
        offsets: (0..PARTITIONS).map(|p| (p, 10)).collect(),
    };
    let range = |start, end| -> Vec<Segment> {
        (0..PARTITIONS)
            .map(|partition| Segment::Offsets {
                partition,
                start,
                end,
            })
            .collect()
    };
    for round in 0..20 {
        source.seek(&checkpoint).expect("seek");
        let first = source.replay(&range(10, 20), 0).expect("replay");
        let second = source.replay(&range(20, 30), 0).expect("replay");
        assert_eq!(first.len(), 40, "round {round}");
        assert_eq!(second.len(), 40, "round {round}");
        assert!(values(&first).contains(&"3:19".to_owned()));
        assert!(values(&second).contains(&"0:20".to_owned()));
        let (rest, segments) = source.read(1000, usize::MAX, 0).expect("read");
        assert_eq!(rest.len(), 80, "round {round}");
        assert_eq!(segments, range(30, PER_PARTITION));
    }
}

/// The metrics' view: after a batch of 30 records a partition, each
/// partition's next offset is 30 and 20 records wait behind it, as the
/// consumer heard in its fetches.
#[test]
fn progress_is_each_partitions_next_offset_and_what_waits_behind_it() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let mut source = source_on(&cluster);
    assert!(
        source.progress().is_empty(),
        "nothing is known before a read"
    );
    let (first, _) = source.read(30, usize::MAX, 0).expect("read");
    assert_eq!(first.len(), 30 * PARTITIONS as usize);
    let expected: Vec<PartProgress> = (0..PARTITIONS)
        .map(|p| PartProgress {
            part: p.to_string(),
            next: 30,
            lag: Some(PER_PARTITION - 30),
        })
        .collect();
    assert_eq!(source.progress(), expected);
}

/// `trigger = "available-now"`: what the topic held when the source
/// started is read, in batches, and then the source has ended; records
/// written meanwhile wait for the next run.
#[test]
fn a_source_reading_up_to_the_ends_at_start_ends_there() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let mut source = source_on(&cluster);
    source.spec.until_start_end = true;
    assert!(!source.ended(), "nothing is known before the first read");
    let (first, _) = source.read(30, usize::MAX, 0).expect("read");
    assert_eq!(first.len(), 30 * PARTITIONS as usize);
    assert!(!source.ended(), "20 records a partition are left");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for p in 0..PARTITIONS {
        producer
            .send(BaseRecord::<(), _>::to("t").payload("later").partition(p))
            .expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
    let (rest, _) = source.read(1000, usize::MAX, 0).expect("read");
    assert_eq!(rest.len(), 20 * PARTITIONS as usize);
    assert!(!values(&rest).contains(&"later".to_owned()));
    assert!(source.ended(), "every partition is at its end at start");
    let (after, segments) = source.read(1000, usize::MAX, 0).expect("read");
    assert_eq!((after.len(), segments.len()), (0, 0));
}

/// A batch takes about `max_bytes` of records (4 MiB with
/// `trigger = "available-now"`), whatever the backlog; the next read
/// goes on from where it stopped, and its ranges say exactly what it
/// read.
#[test]
fn a_read_stops_at_its_bytes_and_the_next_goes_on_from_there() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let mut source = source_on(&cluster);
    let mut seen = std::collections::BTreeSet::new();
    let mut reads = 0;
    loop {
        let (batch, segments) = source.read(1000, 100, 0).expect("read");
        if batch.is_empty() {
            break;
        }
        reads += 1;
        assert!(batch.byte_size() < 100 + 8, "{} bytes", batch.byte_size());
        let ranged: i64 = segments
            .iter()
            .map(|s| match s {
                Segment::Offsets { start, end, .. } => end - start,
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(ranged, batch.len() as i64, "the ranges are what was read");
        for value in values(&batch) {
            assert!(seen.insert(value.clone()), "{value} read twice");
        }
    }
    assert_eq!(seen.len(), (PARTITIONS as i64 * PER_PARTITION) as usize);
    assert!(reads > 5, "{reads} reads");
}
