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

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::calls::Slot;
use super::kind::Context;
use super::partitions::{FailedOn, Lent, Partitions};
use super::{StageError, StageOutput, StageRunner};
use crate::record::Batch;
use crate::shuffle;
use crate::sink::BatchInfo;

/// What one partition's task made: the last stage's records and each
/// stage's dead letters, or the stage that failed, with its failure and
/// input.
/// A partition's run through the chain: the last stage's records, each
/// stage's dead letters and the records each stage made.
type Made = Result<(Batch, Vec<Batch>, Vec<u64>), (usize, FailedOn)>;

/// Runs `batch` through `stages`, a fused chain (narrow stages with the
/// same parallelism, each reading only the one before; or one narrow
/// stage), over `inputs`, the first stage's inputs. Returns each stage's
/// output: the records of all but the last stay inside the chain, so only
/// the last has records; every stage has its dead letters.
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
    let shares = share(head.as_ref(), inputs);
    let dead_letters: Arc<[Option<Arc<str>>]> = stages.iter().map(|s| s.dead_letters()).collect();
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(shares.len());
    for (p, input) in shares.into_iter().enumerate() {
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
            let input = input.take();
            let made = run_links(&mut links, input, at, &dead_letters, &failed, permit);
            (links, made)
        }));
    }
    let mut records = Vec::with_capacity(tasks.len());
    let mut dead: Vec<Vec<Batch>> = stages.iter().map(|_| Vec::new()).collect();
    let mut made_by: Vec<Vec<u64>> = stages.iter().map(|_| Vec::new()).collect();
    let mut first_error = None;
    for (p, task) in tasks.into_iter().enumerate() {
        let (links, made) = task.await.expect("operator calls do not panic the host");
        for (stage, link) in stages.iter_mut().zip(links) {
            stage.partitions.take_back(p, link);
        }
        match made {
            // Not run: another partition had failed the batch.
            None => {}
            Some(Ok((out, stage_dead, made))) => {
                records.push(out);
                dead.iter_mut().zip(stage_dead).for_each(|(d, s)| d.push(s));
                made_by.iter_mut().zip(made).for_each(|(m, n)| m.push(n));
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
        .zip(made_by)
        .enumerate()
        .map(|(i, (dead, made))| StageOutput {
            records: match i == last {
                true => std::mem::take(&mut records),
                false => Vec::new(),
            },
            late: Vec::new(),
            dead,
            handed_on: match i == last {
                true => Vec::new(),
                false => made,
            },
        })
        .collect())
}

/// A partition's input: its run of a batch, which it may share with
/// other partitions, cut out in the partition's own task (so a big batch
/// from upstream is spread over the partitions in parallel, not copied
/// apart on the scheduler's thread first).
struct Share {
    batch: Arc<Batch>,
    run: Range<usize>,
}

impl Share {
    /// A batch of its own.
    fn own(batch: Batch) -> Share {
        let run = 0..batch.len();
        Share {
            batch: Arc::new(batch),
            run,
        }
    }

    fn take(self) -> Batch {
        match self.run == (0..self.batch.len()) {
            true => Arc::try_unwrap(self.batch).unwrap_or_else(|all| all.slice(self.run)),
            false => self.batch.slice(self.run),
        }
    }
}

/// Each partition's input from the chain's: spread as the head stage
/// would (a rebalance, for the narrow stages a chain has).
fn share(head: &dyn Partitions, mut inputs: Vec<Vec<Batch>>) -> Vec<Share> {
    let partitions = head.len();
    if partitions > 1 && inputs.len() == 1 && inputs[0].len() == 1 {
        let batch = Arc::new(
            inputs
                .pop()
                .and_then(|mut side| side.pop())
                .unwrap_or_default(),
        );
        let runs = shuffle::even_runs(batch.len(), partitions);
        return runs
            .into_iter()
            .map(|run| Share {
                batch: batch.clone(),
                run,
            })
            .collect();
    }
    head.split(inputs)
        .into_iter()
        .map(|mut sides| Share::own(sides.pop().unwrap_or_default()))
        .collect()
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
    let mut made = Vec::with_capacity(links.len());
    for (i, link) in links.iter_mut().enumerate() {
        match link.run(records, at, dead_letters[i].as_deref()) {
            Ok((out, rejected)) => {
                made.push(out.len() as u64);
                records = out;
                dead.push(rejected);
            }
            Err(failure) => {
                failed.store(true, Ordering::Relaxed);
                return Some(Err((i, failure)));
            }
        }
    }
    Some(Ok((records, dead, made)))
}
