//! Stages driven by native operators, so no Wasm build is needed: what
//! each kind emits batch by batch, what it keeps through a checkpoint, and
//! that a kind may read its inputs apart.

use std::sync::Arc;

use super::kind::{Context, Kept, Kind, Operators, Ran, Setup, Sides};
use super::partitions::{Partitions, Runner};
use super::{NativeOperator, Operator, StageRunner};
use crate::checkpoint::{Reader, Writer};
use crate::plan::{EventTime, Id, StagePlan, Step, Windowing};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;
use crate::sink::BatchInfo;
use crate::state::LogRecord;

fn stage(step: Step<Operator>, parallelism: usize) -> StageRunner {
    let plan = StagePlan {
        id: Id::new("s").unwrap(),
        inputs: Vec::new(),
        step,
        parallelism,
        shadow: None,
        sides_in_header: false,
    };
    StageRunner::new("test", &plan)
}

fn batch(id: u64) -> BatchInfo {
    BatchInfo {
        id,
        time_ms: 1_000 * id as i64,
        end_of_input: false,
    }
}

/// Records of `(key, value, timestamp)`, split over two partitions.
fn input(records: &[(&str, &str, i64)]) -> Vec<Vec<Batch>> {
    let mut parts = vec![Batch::default(), Batch::default()];
    for (i, (key, value, time)) in records.iter().enumerate() {
        let key = (!key.is_empty()).then_some(key.as_bytes());
        parts[i % 2].push(key, value.as_bytes(), *time);
    }
    vec![parts]
}

/// Values alone, for a count by value.
fn values(values: &[&str]) -> Vec<Vec<Batch>> {
    let records: Vec<_> = values.iter().map(|v| ("", *v, 0)).collect();
    input(&records)
}

/// Every output record as `key=value`, sorted.
fn sorted(parts: &[Batch]) -> Vec<String> {
    let mut all: Vec<String> = parts
        .iter()
        .flat_map(|b| b.iter())
        .map(|r| {
            let key = String::from_utf8_lossy(r.key.unwrap_or_default());
            format!("{key}={}", String::from_utf8_lossy(r.value))
        })
        .collect();
    all.sort();
    all
}

async fn run(stage: &mut StageRunner, inputs: Vec<Vec<Batch>>, info: BatchInfo) -> Vec<String> {
    let output = stage.run(inputs, info).await.expect("the batch runs");
    stage.commit().expect("the batch commits");
    sorted(&output.records)
}

fn sum() -> Operator {
    Operator::Native(NativeOperator::sum())
}

fn windowed(length: u32, slide: u32, inverse: bool) -> Step<Operator> {
    Step::ReduceByKeyAndWindow {
        reduce: sum(),
        inverse: inverse.then(|| Operator::Native(NativeOperator::subtract())),
        windowing: Windowing::Batches { length, slide },
    }
}

fn checkpointed(stage: &StageRunner) -> Vec<u8> {
    let mut file = Vec::new();
    let mut out = Writer::new(&mut file).unwrap();
    stage.save(&mut out).unwrap();
    out.finish().unwrap();
    file
}

fn restored(file: &[u8], into: &mut StageRunner) -> Result<(), String> {
    let mut input = Reader::checked(file).map_err(|e| e.to_string())?;
    into.restore(&mut input)?;
    assert!(input.at_end(), "the stage read all it wrote");
    Ok(())
}

#[tokio::test]
async fn reduce_by_key_folds_each_key_once_over_partitions() {
    let mut stage = stage(Step::ReduceByKey(sum()), 2);
    let records = [("a", "1", 0), ("b", "2", 0), ("a", "3", 0), ("a", "4", 0)];
    let output = run(&mut stage, input(&records), batch(1)).await;
    assert_eq!(output, ["a=8", "b=2"]);
}

#[tokio::test]
async fn a_window_over_batches_emits_every_slide() {
    let mut stage = stage(
        Step::Window {
            length: 2,
            slide: 2,
        },
        1,
    );
    let first = run(&mut stage, values(&["x"]), batch(1)).await;
    let second = run(&mut stage, values(&["y"]), batch(2)).await;
    let third = run(&mut stage, values(&["z"]), batch(3)).await;
    let fourth = run(&mut stage, values(&["w"]), batch(4)).await;
    assert!(first.is_empty() && third.is_empty(), "{first:?} {third:?}");
    assert_eq!(second, ["=x", "=y"]);
    assert_eq!(fourth, ["=w", "=z"]);
}

#[tokio::test]
async fn a_windowed_reduce_gives_the_same_with_or_without_an_inverse() {
    let batches = [
        vec![("a", "1", 0), ("b", "1", 0)],
        vec![("a", "2", 0)],
        vec![("b", "5", 0)],
        vec![],
        vec![("a", "1", 0)],
    ];
    let mut folding = stage(windowed(3, 1, false), 2);
    let mut sliding = stage(windowed(3, 1, true), 2);
    let mut emitted = Vec::new();
    for (i, records) in batches.iter().enumerate() {
        let info = batch(i as u64 + 1);
        let folded = run(&mut folding, input(records), info).await;
        let slid = run(&mut sliding, input(records), info).await;
        assert_eq!(folded, slid, "batch {}", info.id);
        emitted.push(folded);
    }
    assert_eq!(emitted[2], ["a=3", "b=6"]);
    // Batch 5's window holds batches 3 to 5: `a` from batch 1 and 2 left.
    assert_eq!(emitted[4], ["a=1", "b=5"]);
}

#[tokio::test]
async fn an_event_time_count_emits_windows_the_watermark_passed_and_sends_late_records_aside() {
    let spec = EventTime {
        length: 10,
        slide: 10,
        delay: 0,
        lateness: 0,
    };
    let mut stage = stage(Step::CountByValueAndWindow(Windowing::EventTime(spec)), 2);
    let first = [("", "x", 1), ("", "x", 5), ("", "y", 12)];
    assert!(run(&mut stage, input(&first), batch(1)).await.is_empty());
    // The watermark is now 12: window [0, 10) is due.
    let output = stage
        .run(input(&[("", "x", 25), ("", "x", 3)]), batch(2))
        .await
        .unwrap();
    stage.commit().unwrap();
    assert_eq!(sorted(&output.records), ["x=2"]);
    assert_eq!(
        sorted(&output.late),
        ["=x"],
        "the record at 3 came too late"
    );
    assert_eq!(stage.late_records(), 1);
    let end = BatchInfo {
        end_of_input: true,
        ..batch(3)
    };
    assert_eq!(run(&mut stage, values(&[]), end).await, ["x=1", "y=1"]);
}

#[tokio::test]
async fn a_window_resumes_from_a_checkpoint_as_if_never_stopped() {
    let batches = [
        vec![("a", "1", 0), ("b", "1", 0)],
        vec![("a", "2", 0)],
        vec![("b", "5", 0), ("a", "1", 0)],
    ];
    let mut uninterrupted = stage(windowed(2, 1, true), 2);
    let mut before = stage(windowed(2, 1, true), 2);
    for (i, records) in batches[..2].iter().enumerate() {
        let info = batch(i as u64 + 1);
        run(&mut uninterrupted, input(records), info).await;
        run(&mut before, input(records), info).await;
    }
    let mut after = stage(windowed(2, 1, true), 2);
    restored(&checkpointed(&before), &mut after).unwrap();
    let expected = run(&mut uninterrupted, input(&batches[2]), batch(3)).await;
    assert_eq!(
        run(&mut after, input(&batches[2]), batch(3)).await,
        expected
    );
    assert_eq!(expected, ["a=3", "b=5"]);
}

#[tokio::test]
async fn open_event_time_windows_and_the_clock_survive_a_checkpoint() {
    let spec = EventTime {
        length: 10,
        slide: 5,
        delay: 2,
        lateness: 5,
    };
    let step = || Step::CountByValueAndWindow(Windowing::EventTime(spec));
    let mut before = stage(step(), 2);
    run(&mut before, input(&[("", "x", 3), ("", "y", 8)]), batch(1)).await;
    let mut after = stage(step(), 2);
    restored(&checkpointed(&before), &mut after).unwrap();
    let next = input(&[("", "x", 14)]);
    let expected = run(&mut before, next.clone(), batch(2)).await;
    assert_eq!(run(&mut after, next, batch(2)).await, expected);
    // The watermark was 8 - 2: window [-5, 5) is due, [0, 10) is not.
    assert_eq!(expected, ["x=1"]);
}

#[tokio::test]
async fn a_checkpoint_is_not_read_into_another_kind_or_parallelism() {
    let mut window = stage(windowed(2, 1, false), 2);
    run(&mut window, input(&[("a", "1", 0)]), batch(1)).await;
    let file = checkpointed(&window);

    let mut other_kind = stage(Step::ReduceByKey(sum()), 2);
    let error = restored(&file, &mut other_kind).unwrap_err();
    assert!(
        error.contains("stage `s` kept another kind of state"),
        "{error}"
    );

    let mut wider = stage(windowed(2, 1, false), 3);
    let error = restored(&file, &mut wider).unwrap_err();
    assert!(
        error.contains("stage `s` kept state over 2 partitions and now has 3"),
        "{error}"
    );

    // A stage that keeps nothing may change its parallelism.
    let stateless = stage(Step::ReduceByKey(sum()), 2);
    restored(
        &checkpointed(&stateless),
        &mut stage(Step::ReduceByKey(sum()), 4),
    )
    .unwrap();
}

/// Every change `stage` logged since the last call, over its partitions.
fn logged(stage: &mut StageRunner) -> Vec<LogRecord> {
    stage.logs().into_iter().flat_map(|s| s.logged()).collect()
}

#[tokio::test]
async fn open_event_time_windows_move_to_another_worker_through_their_changelog_records() {
    let spec = EventTime {
        length: 10,
        slide: 10,
        delay: 0,
        lateness: 100,
    };
    let step = || Step::ReduceByKeyAndWindow {
        reduce: sum(),
        inverse: None,
        windowing: Windowing::EventTime(spec),
    };
    let mut before = stage(step(), 2);
    before.logs().iter_mut().for_each(|s| s.start_logging());
    let first = [("a", "1", 1), ("b", "2", 2), ("a", "3", 15)];
    assert!(run(&mut before, input(&first), batch(1)).await.is_empty());
    // The watermark is now 15: window [0, 10) goes out, [10, 20) waits.
    let second = run(&mut before, input(&[("a", "4", 25)]), batch(2)).await;
    assert_eq!(second, ["a=1", "b=2"]);
    let records = logged(&mut before);
    assert_eq!(records.len(), 6, "three windows at first, then three");
    assert!(logged(&mut before).is_empty(), "taken once");

    // Another worker reads them back, each into the partition of its key.
    let mut after = stage(step(), 2);
    let mut states = after.logs();
    let mut routed: Vec<Vec<LogRecord>> = vec![Vec::new(), Vec::new()];
    for record in records {
        let home = crate::connector::kafka::home(states[0].state_key(&record.key), 2);
        routed[home].push(record);
    }
    for (state, records) in states.iter_mut().zip(routed) {
        state.take_in(records).unwrap();
    }
    // At the end both emit the windows not yet sent, and only those.
    let end = BatchInfo {
        end_of_input: true,
        ..batch(3)
    };
    let expected = run(&mut before, values(&[]), end).await;
    assert_eq!(expected, ["a=3", "a=4"]);
    assert_eq!(run(&mut after, values(&[]), end).await, expected);

    // Taking the moved keys' windows away is not a change to log.
    let mut moved = stage(step(), 2);
    run(&mut moved, input(&first), batch(1)).await;
    moved.logs().iter_mut().for_each(|s| s.start_logging());
    let forgotten: usize = (moved.logs().into_iter())
        .map(|s| s.forget_moved(&|key| key == b"a").unwrap())
        .sum();
    assert_eq!(forgotten, 2, "`a`'s two windows");
    assert!(logged(&mut moved).is_empty());
    assert_eq!(run(&mut moved, values(&[]), end).await, ["b=2"]);
}

#[tokio::test]
async fn a_rejected_record_goes_to_the_dead_letters_with_its_stage_and_error() {
    let map = NativeOperator::Map(Arc::new(|record, out| match record.value {
        b"bad" => Err("not a number".into()),
        value => {
            out.push(record.key, value, record.timestamp);
            Ok(())
        }
    }));
    let mut stage = stage(Step::Map(Operator::Native(map)), 1);
    let error = stage
        .run(values(&["1", "bad"]), batch(1))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "stage `s`, partition 0, failed on record 1: not a number [record: \"bad\"]"
    );

    stage.dead_letter_rejected_records();
    let output = stage
        .run(values(&["1", "bad", "2"]), batch(2))
        .await
        .unwrap();
    assert_eq!(sorted(&output.records), ["=1", "=2"]);
    let dead = &output.dead[0];
    assert_eq!(dead.len(), 1);
    assert_eq!(dead.get(0).value, b"bad");
    let headers: Vec<_> = (0..dead.header_names.len())
        .map(|h| {
            let name = String::from_utf8_lossy(dead.header_names.get(h)).into_owned();
            (
                name,
                String::from_utf8_lossy(dead.header_values.get(h)).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        headers,
        [
            ("wasmstream-stage".to_owned(), "s".to_owned()),
            ("wasmstream-error".to_owned(), "not a number".to_owned())
        ]
    );
}

/// A kind that reads its two inputs apart and reports how many records
/// each side brought to each partition.
struct Sizes;

impl Kind for Sizes {
    type State = ();
    type Pending = ();
    const SIDES: Sides = Sides::Apart;

    fn operators(&self, _: &Arc<str>) -> Operators {
        Operators::default()
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::exchange(side, partitions)
    }

    fn run(
        &self,
        _: &mut Operators,
        _: &(),
        sides: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let mut out = Batch::default();
        for (s, side) in sides.iter().enumerate() {
            for record in side.iter() {
                out.push(record.key, format!("side {s}").as_bytes(), 0);
            }
        }
        Ok(Ran::records(out))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_kind_may_read_its_inputs_apart_each_exchanged_by_key() {
    let mut runner = Runner::new(Sizes, 2, |_| "t".into(), "join", None);
    assert_eq!(<() as Kept>::KEEPS, runner.keeps());
    let left = input(&[("a", "1", 0), ("b", "1", 0)]).remove(0);
    let right = input(&[("a", "2", 0), ("a", "3", 0)]).remove(0);
    let at = Context {
        batch: batch(1),
        watermark: None,
    };
    let done = runner
        .run(vec![left, right], at, None)
        .await
        .unwrap_or_else(|f| panic!("{}", f.failure));
    assert_eq!(
        sorted(&done.records),
        ["a=side 0", "a=side 1", "a=side 1", "b=side 0"]
    );
    let partition_of_a = done
        .records
        .iter()
        .position(|b| b.iter().any(|r| r.key == Some(b"a")))
        .unwrap();
    assert_eq!(
        done.records[partition_of_a]
            .iter()
            .filter(|r| r.key == Some(b"a"))
            .count(),
        3,
        "both sides' `a` records meet in one partition"
    );
}
