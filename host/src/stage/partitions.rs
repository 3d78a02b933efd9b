//! A stage's partitions, for any kind: each batch runs as one task per
//! partition on the blocking pool, and its state changes wait for the
//! batch's commit. With [`Calls`], a pipeline's partitions take at most so
//! many threads at once, so a pipeline with hundreds of partitions cannot
//! take the threads its neighbours need; once one partition fails the
//! batch, those not yet started are not run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

use super::calls::{Calls, Slot};
use super::kind::{Context, Keeps, Kept, Kind, Operators, Ran, Setup, Sides};
use super::{DEAD_LETTER_ERROR, DEAD_LETTER_STAGE};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plan::EventTime;
use crate::plugin::Failure;
use crate::record::Batch;
use crate::state::{PartitionState, SpillFile};

/// What every partition of a stage made of one batch.
#[derive(Default)]
pub(crate) struct Done {
    /// Each partition's output, late records and dead letters.
    pub records: Vec<Batch>,
    pub late: Vec<Batch>,
    pub dead: Vec<Batch>,
    /// Event time: the latest timestamp among the inputs.
    pub max_time: Option<i64>,
}

/// The first partition that failed a batch, and the input it failed on.
pub(crate) struct Failed {
    pub partition: usize,
    pub failure: Failure,
    pub input: Batch,
}

/// A stage's partitions with the kind erased, so one pipeline holds stages
/// of every kind.
pub(crate) trait Partitions: Send {
    /// How many.
    fn len(&self) -> usize;
    /// Runs a batch: `inputs` holds each input's partitions, in the plan's
    /// order. With `dead_letters`, a record an operator rejects is taken
    /// out and the partition runs again without it.
    fn run(
        &mut self,
        inputs: Vec<Vec<Batch>>,
        at: Context,
        dead_letters: Option<Arc<str>>,
    ) -> Pin<Box<dyn Future<Output = Result<Done, Failed>> + Send + '_>>;
    /// Applies the pending changes of the batch just run.
    fn commit(&mut self, stage: &str) -> anyhow::Result<()>;
    /// Forgets them.
    fn discard(&mut self);
    /// What each partition keeps.
    fn keeps(&self) -> Keeps;
    /// Event time, for a kind with a watermark.
    fn event_time(&self) -> Option<EventTime>;
    /// Writes every partition's state.
    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()>;
    /// Reads partition `p`'s state back.
    fn load(&mut self, p: usize, input: &mut Reader<'_>) -> Result<(), Bad>;
    /// Every partition's operators.
    fn operators(&self) -> Vec<&Operators>;
    fn operators_mut(&mut self) -> Vec<&mut Operators>;
    /// Every partition's per-key state, for a kind that keeps one.
    fn keyed(&mut self) -> Vec<&mut PartitionState>;
    /// From now on, runs at most as many partitions at once as `calls`
    /// allows (shared by every stage of a pipeline).
    fn bound(&mut self, calls: Calls);
}

/// One partition: its operators, state, and the pending change.
struct Partition<K: Kind> {
    ops: Operators,
    state: K::State,
    pending: Option<K::Pending>,
}

/// The partitions of a stage of kind `K`.
pub(crate) struct Runner<K: Kind> {
    kind: Arc<K>,
    /// One slot per partition; a partition is out of its slot while it runs.
    slots: Vec<Option<Partition<K>>>,
    /// The pipeline's bound on calls at once, if any.
    calls: Option<Calls>,
}

impl<K: Kind> Runner<K> {
    /// `parallelism` partitions of `kind`; `label(p)` names partition `p`
    /// in logs and errors.
    pub(crate) fn new(
        kind: K,
        parallelism: usize,
        label: impl Fn(usize) -> Arc<str>,
        stage: &str,
        spill: Option<(&Arc<SpillFile>, usize)>,
    ) -> Self {
        let slots = (0..parallelism)
            .map(|partition| {
                let setup = Setup {
                    stage,
                    partition,
                    spill,
                };
                Some(Partition {
                    ops: kind.operators(&label(partition)),
                    state: kind.state(&setup),
                    pending: None,
                })
            })
            .collect();
        Runner {
            kind: Arc::new(kind),
            slots,
            calls: None,
        }
    }

    fn home(&self) -> impl Iterator<Item = &Partition<K>> {
        self.slots.iter().map(|p| {
            p.as_ref()
                .expect("between batches, every partition is home")
        })
    }

    fn home_mut(&mut self) -> impl Iterator<Item = &mut Partition<K>> {
        self.slots.iter_mut().map(|p| {
            p.as_mut()
                .expect("between batches, every partition is home")
        })
    }

    /// Each partition's sides: one batch per side.
    fn route(&self, inputs: Vec<Vec<Batch>>) -> Vec<Vec<Batch>> {
        let partitions = self.slots.len();
        let sides = match K::SIDES {
            Sides::Merged => vec![inputs.into_iter().flatten().collect()],
            Sides::Apart => inputs,
        };
        let mut per_partition: Vec<Vec<Batch>> = (0..partitions)
            .map(|_| Vec::with_capacity(sides.len()))
            .collect();
        for side in sides {
            for (p, batch) in self.kind.route(side, partitions).into_iter().enumerate() {
                per_partition[p].push(batch);
            }
        }
        per_partition
    }
}

impl<K: Kind> Partitions for Runner<K> {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn run(
        &mut self,
        inputs: Vec<Vec<Batch>>,
        at: Context,
        dead_letters: Option<Arc<str>>,
    ) -> Pin<Box<dyn Future<Output = Result<Done, Failed>> + Send + '_>> {
        Box::pin(async move {
            let routed = self.route(inputs);
            let mut tasks = Vec::with_capacity(routed.len());
            let failed = Arc::new(AtomicBool::new(false));
            for (p, sides) in routed.into_iter().enumerate() {
                let partition = self.slots[p]
                    .take()
                    .expect("a partition per slot, returned after each batch");
                let (kind, dead_letters) = (self.kind.clone(), dead_letters.clone());
                let permit = match &self.calls {
                    Some(calls) => Some(calls.acquire().await),
                    None => None,
                };
                let failed = failed.clone();
                tasks.push(tokio::task::spawn_blocking(move || {
                    let _running = permit.map(Slot::running);
                    if failed.load(Ordering::Relaxed) {
                        return (partition, None);
                    }
                    let (partition, outcome) =
                        run_partition(&*kind, partition, sides, at, dead_letters.as_deref());
                    if outcome.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    (partition, Some(outcome))
                }));
            }
            let mut done = Done::default();
            let mut first_error = None;
            for (p, task) in tasks.into_iter().enumerate() {
                let (partition, result) = task.await.expect("operator calls do not panic the host");
                self.slots[p] = Some(partition);
                match result {
                    // Not run: another partition had failed the batch.
                    None => {}
                    Some(Ok((ran, dead))) => {
                        done.records.push(ran.records);
                        done.late.push(ran.late);
                        done.dead.push(dead);
                        done.max_time = done.max_time.max(ran.max_time);
                    }
                    Some(Err((failure, input))) if first_error.is_none() => {
                        first_error = Some(Failed {
                            partition: p,
                            failure,
                            input,
                        })
                    }
                    Some(Err(_)) => {}
                }
            }
            match first_error {
                Some(failed) => {
                    self.discard();
                    Err(failed)
                }
                None => Ok(done),
            }
        })
    }

    fn commit(&mut self, stage: &str) -> anyhow::Result<()> {
        for (p, partition) in self.home_mut().enumerate() {
            if let Some(pending) = partition.pending.take() {
                K::commit(&mut partition.state, pending).with_context(|| {
                    format!("stage `{stage}`, partition {p}: cannot store state")
                })?;
            }
        }
        Ok(())
    }

    fn discard(&mut self) {
        for partition in self.slots.iter_mut().flatten() {
            partition.pending = None;
        }
    }

    fn keeps(&self) -> Keeps {
        K::State::KEEPS
    }

    fn event_time(&self) -> Option<EventTime> {
        self.kind.event_time()
    }

    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()> {
        self.home().try_for_each(|p| p.state.save(out))
    }

    fn load(&mut self, p: usize, input: &mut Reader<'_>) -> Result<(), Bad> {
        let partition = self.slots[p]
            .as_mut()
            .expect("between batches, every partition is home");
        partition.state.load(input)
    }

    fn operators(&self) -> Vec<&Operators> {
        self.home().map(|p| &p.ops).collect()
    }

    fn operators_mut(&mut self) -> Vec<&mut Operators> {
        self.home_mut().map(|p| &mut p.ops).collect()
    }

    fn keyed(&mut self) -> Vec<&mut PartitionState> {
        self.home_mut().filter_map(|p| p.state.keyed()).collect()
    }

    fn bound(&mut self, calls: Calls) {
        self.calls = Some(calls);
    }
}

/// A partition's result: what it made and the dead letters it took out,
/// or the failure and the input it failed on.
type Outcome<P> = Result<(Ran<P>, Batch), (Failure, Batch)>;

/// Runs one partition's share of a batch, taking rejected records out
/// while `dead_letters` names the stage.
fn run_partition<K: Kind>(
    kind: &K,
    mut partition: Partition<K>,
    mut sides: Vec<Batch>,
    at: Context,
    dead_letters: Option<&str>,
) -> (Partition<K>, Outcome<K::Pending>) {
    let mut dead = Batch::default();
    let result = loop {
        match kind.run(&mut partition.ops, &partition.state, &sides, &at) {
            Err(Failure::Rejected {
                record: Some(i),
                message,
            }) if K::SIDES == Sides::Merged
                && dead_letters.is_some()
                && (i as usize) < sides[0].len() =>
            {
                // Each pass takes one record out: this ends.
                let (i, input) = (i as usize, &sides[0]);
                let stage = dead_letters.expect("checked");
                dead_letter(&mut dead, input, i, stage, &message);
                sides[0] = input.select((0..input.len()).filter(|&j| j != i));
            }
            other => break other,
        }
    };
    let merged = match K::SIDES {
        Sides::Merged => sides.pop().unwrap_or_default(),
        Sides::Apart => Batch::default(),
    };
    match result {
        Ok(mut ran) => {
            partition.pending = ran.pending.take();
            if !merged.is_empty() {
                kind.remember(&mut partition.ops, merged);
            }
            (partition, Ok((ran, dead)))
        }
        Err(failure) => (partition, Err((failure, merged))),
    }
}

/// Adds record `i` of `input` to `dead`, with headers naming the stage
/// that rejected it and why.
fn dead_letter(dead: &mut Batch, input: &Batch, i: usize, stage: &str, error: &str) {
    dead.push_record(input.get(i));
    let owner = dead.len() as u32 - 1;
    for (name, value) in [(DEAD_LETTER_STAGE, stage), (DEAD_LETTER_ERROR, error)] {
        dead.header_owners.push(owner);
        dead.header_names.push(name.as_bytes());
        dead.header_values.push(value.as_bytes());
    }
}
