//! A fused chain: narrow stages in a row ([`crate::plan::PipelinePlan::chains`])
//! run as one task per partition. Partition `p` of each stage is lent to
//! the task, which runs the partition's records through the stages in
//! order on one thread and hands the last one's output back: no trip
//! through the scheduler, and no wait for the slowest partition, between
//! two stages of the chain.
//!
//! Each stage keeps its own partitions, operators, dead letters and
//! errors: a record one of them rejects is dead-lettered under that
//! stage's name, and a failure names that stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::calls::Slot;
use super::kind::Context;
use super::partitions::{FailedOn, Lent};
use super::{StageError, StageOutput, StageRunner};
use crate::record::Batch;
use crate::sink::BatchInfo;

/// What one partition's task made: the last stage's records and each
/// stage's dead letters, or the stage that failed, with its failure and
/// input.
type Made = Result<(Batch, Vec<Batch>), (usize, FailedOn)>;

/// Runs `batch` through `stages`, a fused chain (narrow stages with the
/// same parallelism, each reading only the one before), over `inputs`,
/// the first stage's inputs. Returns each stage's output: the records of
/// all but the last stay inside the chain, so only the last has records;
/// every stage has its dead letters.
pub async fn run_chain(
    stages: &mut [StageRunner],
    inputs: Vec<Vec<Batch>>,
    batch: BatchInfo,
) -> Result<Vec<StageOutput>, StageError> {
    let at = Context {
        batch,
        watermark: None,
    };
    let head = &stages[0].partitions;
    let calls = head.calls();
    let split = head.split(inputs);
    let dead_letters: Arc<[Option<Arc<str>>]> = stages.iter().map(|s| s.dead_letters()).collect();
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(split.len());
    for (p, mut sides) in split.into_iter().enumerate() {
        let input = sides.pop().unwrap_or_default();
        let mut links: Vec<Box<dyn Lent>> = stages
            .iter_mut()
            .map(|s| {
                s.partitions
                    .lend(p)
                    .expect("the plan fuses only narrow stages, which have partitions")
            })
            .collect();
        let permit = match &calls {
            Some(calls) => Some(calls.acquire().await),
            None => None,
        };
        let (failed, dead_letters) = (failed.clone(), dead_letters.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            let made = run_links(&mut links, input, at, &dead_letters, &failed, permit);
            (links, made)
        }));
    }
    let mut records = Vec::with_capacity(tasks.len());
    let mut dead: Vec<Vec<Batch>> = stages.iter().map(|_| Vec::new()).collect();
    let mut first_error = None;
    for (p, task) in tasks.into_iter().enumerate() {
        let (links, made) = task.await.expect("operator calls do not panic the host");
        for (stage, link) in stages.iter_mut().zip(links) {
            stage.partitions.take_back(p, link);
        }
        match made {
            // Not run: another partition had failed the batch.
            None => {}
            Some(Ok((out, stage_dead))) => {
                records.push(out);
                dead.iter_mut().zip(stage_dead).for_each(|(d, s)| d.push(s));
            }
            Some(Err((stage, failed))) if first_error.is_none() => {
                first_error = Some((stage, p, failed));
            }
            Some(Err(_)) => {}
        }
    }
    if let Some((stage, partition, failed)) = first_error {
        stages.iter_mut().for_each(StageRunner::discard);
        let (failure, input) = *failed;
        return Err(stages[stage].error(partition, failure, &input));
    }
    let last = stages.len() - 1;
    Ok(dead
        .into_iter()
        .enumerate()
        .map(|(i, dead)| StageOutput {
            records: match i == last {
                true => std::mem::take(&mut records),
                false => Vec::new(),
            },
            late: Vec::new(),
            dead,
        })
        .collect())
}

/// One partition's task: its records through each stage's partition in
/// turn. `None` if another partition failed the batch before it started.
fn run_links(
    links: &mut [Box<dyn Lent>],
    mut records: Batch,
    at: Context,
    dead_letters: &[Option<Arc<str>>],
    failed: &AtomicBool,
    permit: Option<Slot>,
) -> Option<Made> {
    let _running = permit.map(Slot::running);
    if failed.load(Ordering::Relaxed) {
        return None;
    }
    let mut dead = Vec::with_capacity(links.len());
    for (i, link) in links.iter_mut().enumerate() {
        match link.run(records, at, dead_letters[i].as_deref()) {
            Ok((out, rejected)) => {
                records = out;
                dead.push(rejected);
            }
            Err(failure) => {
                failed.store(true, Ordering::Relaxed);
                return Some(Err((i, failure)));
            }
        }
    }
    Some(Ok((records, dead)))
}
