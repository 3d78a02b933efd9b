//! A stage's partitions, for any kind: each batch runs as one task per
//! partition on the blocking pool, and its state changes wait for the
//! batch's commit. With [`Calls`], a pipeline's partitions take at most so
//! many threads at once, so a pipeline with hundreds of partitions cannot
//! take the threads its neighbours need; once one partition fails the
//! batch, those not yet started are not run.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;

use super::calls::{Calls, Slot};
use super::kind::{Context, Keeps, Kept, Kind, Operators, Ran, Setup, Sides};
use super::{DEAD_LETTER_ERROR, DEAD_LETTER_STAGE};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::state::{Logs, PartitionState, SpillFile};

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
    /// How far the watermark trails the latest timestamp, for a kind
    /// with one.
    fn watermark_delay(&self) -> Option<i64>;
    /// Writes every partition's state.
    fn save(&self, out: &mut Writer<'_>) -> std::io::Result<()>;
    /// Reads partition `p`'s state back.
    fn load(&mut self, p: usize, input: &mut Reader<'_>) -> Result<(), Bad>;
    /// Every partition's operators.
    fn operators(&self) -> Vec<&Operators>;
    fn operators_mut(&mut self) -> Vec<&mut Operators>;
    /// Every partition's per-key state, for a kind that keeps one.
    fn keyed(&mut self) -> Vec<&mut PartitionState>;
    /// Every partition's state, for a kind a worker's changelog can keep.
    fn logs(&mut self) -> Vec<&mut dyn Logs>;
    /// From now on, runs at most as many partitions at once as `calls`
    /// allows (shared by every stage of a pipeline).
    fn bound(&mut self, calls: Calls);
    /// The bound on calls, if any.
    fn calls(&self) -> Option<Calls>;
    /// Spreads the inputs over the partitions as [`Partitions::run`]
    /// would: each partition's sides.
    fn split(&self, inputs: Vec<Vec<Batch>>) -> Vec<Vec<Batch>>;
    /// Partition `p`, out of its slot to run in a task of a fused chain
    /// ([`super::chain`]) until [`Partitions::take_back`]; `None` for a
    /// stage without partitions of its own.
    fn lend(&mut self, p: usize) -> Option<Box<dyn Lent>>;
    /// Puts back partition `p`, which [`Partitions::lend`] gave.
    fn take_back(&mut self, p: usize, lent: Box<dyn Lent>);
}

/// A partition lent to a fused chain's task.
pub(crate) trait Lent: Send + Any {
    /// Runs the partition's share of a batch, one side: what it made and
    /// the dead letters it took out (see [`Partitions::run`]), or the
    /// failure and the input it failed on.
    fn run(
        &mut self,
        input: Batch,
        at: Context,
        dead_letters: Option<&str>,
    ) -> Result<(Batch, Batch), FailedOn>;
}

/// A partition of kind `K`, lent.
struct Lending<K: Kind> {
    kind: Arc<K>,
    partition: Partition<K>,
}

impl<K: Kind> Lent for Lending<K> {
    fn run(
        &mut self,
        input: Batch,
        at: Context,
        dead_letters: Option<&str>,
    ) -> Result<(Batch, Batch), FailedOn> {
        let (ran, dead) = run_partition(
            &*self.kind,
            &mut self.partition,
            vec![input],
            at,
            dead_letters,
        )?;
        Ok((ran.records, dead))
    }
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

    /// The exchange, run by the partitions in parallel: partition `p`
    /// takes the `p`-th run of the upstream partitions, folds it per key
    /// first if the kind combines, and splits it by key; each partition's
    /// side is then its split of every run, in upstream order. Returns
    /// each partition's sides and the dead letters the combine took out.
    async fn exchange(
        &mut self,
        upstream: Vec<Batch>,
        dead_letters: Option<Arc<str>>,
    ) -> Result<(Vec<Vec<Batch>>, Vec<Batch>), Failed> {
        let partitions = self.slots.len();
        let mut runs: Vec<Vec<Batch>> = (0..partitions).map(|_| Vec::new()).collect();
        let count = upstream.len();
        for (i, batch) in upstream.into_iter().enumerate() {
            runs[i * partitions / count.max(1)].push(batch);
        }
        let combines = K::combines(partitions);
        let split = self
            .each_partition(runs, move |kind, partition, run| {
                let mut dead = Batch::default();
                let mut folded = Vec::with_capacity(run.len());
                for input in run {
                    if !combines {
                        folded.push(input);
                        continue;
                    }
                    let combine = |input: &Batch| kind.combine(&mut partition.ops, input);
                    match with_dead_letters(input, dead_letters.as_deref(), &mut dead, combine) {
                        Ok(records) => folded.push(records),
                        Err(failed) => return Err(failed),
                    }
                }
                Ok((kind.route(folded, partitions), dead))
            })
            .await?;
        let mut sides: Vec<Vec<Batch>> = (0..partitions).map(|_| Vec::new()).collect();
        let mut dead = Vec::new();
        for (buckets, run_dead) in split {
            for (side, bucket) in sides.iter_mut().zip(buckets) {
                side.push(bucket);
            }
            dead.push(run_dead);
        }
        let sides = sides.into_iter().map(|side| vec![concat(side)]).collect();
        Ok((sides, dead))
    }

    /// Runs `work` on each partition with its input, one task per
    /// partition on the blocking pool (within the pipeline's bound on
    /// calls), and returns what each made. Once one fails, those not yet
    /// started are not run, the batch's pending changes are forgotten,
    /// and the first failure is returned.
    async fn each_partition<I, T>(
        &mut self,
        inputs: Vec<I>,
        work: impl Fn(&K, &mut Partition<K>, I) -> Result<T, FailedOn> + Clone + Send + 'static,
    ) -> Result<Vec<T>, Failed>
    where
        I: Send + 'static,
        T: Send + 'static,
    {
        let mut tasks = Vec::with_capacity(inputs.len());
        let failed = Arc::new(AtomicBool::new(false));
        for (p, input) in inputs.into_iter().enumerate() {
            let mut partition = self.slots[p]
                .take()
                .expect("a partition per slot, returned after each batch");
            let (kind, work) = (self.kind.clone(), work.clone());
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
                let outcome = work(&kind, &mut partition, input);
                if outcome.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                (partition, Some(outcome))
            }));
        }
        let mut made = Vec::with_capacity(tasks.len());
        let mut first_error = None;
        for (p, task) in tasks.into_iter().enumerate() {
            let (partition, result) = task.await.expect("operator calls do not panic the host");
            self.slots[p] = Some(partition);
            match result {
                // Not run: another partition had failed the batch.
                None => {}
                Some(Ok(output)) => made.push(output),
                Some(Err(failed)) if first_error.is_none() => {
                    let (failure, input) = *failed;
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
            None => Ok(made),
        }
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
        for (s, side) in sides.into_iter().enumerate() {
            let routed = match K::SIDES {
                Sides::Merged => self.kind.route(side, partitions),
                Sides::Apart => self.kind.route_side(s, side, partitions),
            };
            for (p, batch) in routed.into_iter().enumerate() {
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
            let mut done = Done::default();
            let in_parallel = K::SIDES == Sides::Merged
                && K::BY_KEY
                && (K::combines(self.slots.len()) || self.slots.len() > 1);
            let routed = match in_parallel {
                true => {
                    let upstream = inputs.into_iter().flatten().collect();
                    let (routed, dead) = self.exchange(upstream, dead_letters.clone()).await?;
                    done.dead.extend(dead);
                    routed
                }
                false => self.route(inputs),
            };
            let ran = self
                .each_partition(routed, move |kind, partition, sides| {
                    run_partition(kind, partition, sides, at, dead_letters.as_deref())
                })
                .await?;
            for (ran, dead) in ran {
                done.records.push(ran.records);
                done.late.push(ran.late);
                done.dead.push(dead);
                done.max_time = done.max_time.max(ran.max_time);
            }
            Ok(done)
        })
    }

    /// Partitions with changes apply them in parallel, each on a thread
    /// of its own (this one for the first): a big batch's changes to
    /// windows or per-key state would otherwise be applied one partition
    /// after another, between two batches.
    fn commit(&mut self, stage: &str) -> anyhow::Result<()> {
        let mut changes = self.home_mut().enumerate().filter_map(|(p, partition)| {
            let pending = partition.pending.take()?;
            Some((p, &mut partition.state, pending))
        });
        let apply = |(p, state, pending): (usize, &mut K::State, K::Pending)| {
            K::commit(state, pending)
                .with_context(|| format!("stage `{stage}`, partition {p}: cannot store state"))
        };
        let Some(first) = changes.next() else {
            return Ok(());
        };
        std::thread::scope(|scope| {
            let others: Vec<_> = changes.map(|c| scope.spawn(move || apply(c))).collect();
            let first = apply(first);
            others
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .expect("applying state changes does not panic")
                })
                .chain([first])
                .collect()
        })
    }

    fn discard(&mut self) {
        for partition in self.slots.iter_mut().flatten() {
            partition.pending = None;
        }
    }

    fn keeps(&self) -> Keeps {
        K::State::KEEPS
    }

    fn watermark_delay(&self) -> Option<i64> {
        self.kind.watermark_delay()
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

    fn logs(&mut self) -> Vec<&mut dyn Logs> {
        self.home_mut().filter_map(|p| p.state.logs()).collect()
    }

    fn bound(&mut self, calls: Calls) {
        self.calls = Some(calls);
    }

    fn calls(&self) -> Option<Calls> {
        self.calls.clone()
    }

    fn split(&self, inputs: Vec<Vec<Batch>>) -> Vec<Vec<Batch>> {
        self.route(inputs)
    }

    fn lend(&mut self, p: usize) -> Option<Box<dyn Lent>> {
        let partition = self.slots[p]
            .take()
            .expect("between batches, every partition is home");
        Some(Box::new(Lending {
            kind: self.kind.clone(),
            partition,
        }))
    }

    fn take_back(&mut self, p: usize, lent: Box<dyn Lent>) {
        let lent: Box<dyn Any> = lent;
        let lending = lent
            .downcast::<Lending<K>>()
            .expect("a partition goes back to the stage that lent it");
        self.slots[p] = Some(lending.partition);
    }
}

/// A failure and the input it failed on (boxed: big, and rare).
pub(crate) type FailedOn = Box<(Failure, Batch)>;

/// Runs one partition's share of a batch, taking rejected records out
/// while `dead_letters` names the stage. Returns what it made and the dead
/// letters it took out, or the failure and the input it failed on.
fn run_partition<K: Kind>(
    kind: &K,
    partition: &mut Partition<K>,
    mut sides: Vec<Batch>,
    at: Context,
    dead_letters: Option<&str>,
) -> Result<(Ran<K::Pending>, Batch), FailedOn> {
    let mut dead = Batch::default();
    let (ops, state) = (&mut partition.ops, &partition.state);
    let (mut ran, merged) = match K::SIDES {
        Sides::Merged => {
            let input = sides.pop().unwrap_or_default();
            let run = |input: &Batch| kind.run(ops, state, std::slice::from_ref(input), &at);
            let mut kept = input;
            let ran = with_dead_letters_keeping(&mut kept, dead_letters, &mut dead, run)?;
            (ran, kept)
        }
        Sides::Apart => {
            let run = |sides: &[Batch]| kind.run(ops, state, sides, &at);
            let ran = apart_with_dead_letters(&mut sides, dead_letters, &mut dead, run)?;
            (ran, Batch::default())
        }
    };
    partition.pending = ran.pending.take();
    if !merged.is_empty() {
        kind.remember(&mut partition.ops, merged);
    }
    Ok((ran, dead))
}

/// Runs `call` on `input`; while `dead_letters` names the stage and the
/// call rejects one of the records, takes that record out (into `dead`)
/// and runs it again. Returns what the call made, or the failure and the
/// input it failed on.
fn with_dead_letters<T>(
    mut input: Batch,
    dead_letters: Option<&str>,
    dead: &mut Batch,
    call: impl FnMut(&Batch) -> Result<T, Failure>,
) -> Result<T, FailedOn> {
    with_dead_letters_keeping(&mut input, dead_letters, dead, call)
}

/// [`with_dead_letters`], leaving in `input` the records the call
/// succeeded on.
fn with_dead_letters_keeping<T>(
    input: &mut Batch,
    dead_letters: Option<&str>,
    dead: &mut Batch,
    mut call: impl FnMut(&Batch) -> Result<T, Failure>,
) -> Result<T, FailedOn> {
    loop {
        match call(input) {
            Ok(made) => return Ok(made),
            Err(Failure::Rejected {
                record: Some(i),
                message,
            }) if (i as usize) < input.len() && dead_letters.is_some() => {
                // Each pass takes one record out: this ends.
                let (i, stage) = (i as usize, dead_letters.expect("checked"));
                dead_letter(dead, input, i, stage, &message);
                *input = input.select((0..input.len()).filter(|&j| j != i));
            }
            Err(failure) => return Err(Box::new((failure, std::mem::take(input)))),
        }
    }
}

/// [`with_dead_letters_keeping`] for a kind that reads its sides apart:
/// the call numbers the records of all sides in turn (the first side's,
/// then the second's), and the failure's input is all of them so.
fn apart_with_dead_letters<T>(
    sides: &mut [Batch],
    dead_letters: Option<&str>,
    dead: &mut Batch,
    mut call: impl FnMut(&[Batch]) -> Result<T, Failure>,
) -> Result<T, FailedOn> {
    loop {
        let failure = match call(sides) {
            Ok(made) => return Ok(made),
            Err(failure) => failure,
        };
        let found = match (&failure, dead_letters) {
            (
                Failure::Rejected {
                    record: Some(i),
                    message,
                },
                Some(stage),
            ) => side_of(sides, *i as usize).map(|at| (at, stage, message)),
            _ => None,
        };
        let Some(((s, i), stage, message)) = found else {
            return Err(Box::new((failure, concat(sides.to_vec()))));
        };
        // Each pass takes one record out: this ends.
        dead_letter(dead, &sides[s], i, stage, message);
        sides[s] = sides[s].select((0..sides[s].len()).filter(|&j| j != i));
    }
}

/// Which side record `i` of all `sides` in turn is, and its index there.
fn side_of(sides: &[Batch], mut i: usize) -> Option<(usize, usize)> {
    for (s, side) in sides.iter().enumerate() {
        if i < side.len() {
            return Some((s, i));
        }
        i -= side.len();
    }
    None
}

/// One batch of `batches`, in order (moved, not copied, when there is
/// only one with records).
fn concat(mut batches: Vec<Batch>) -> Batch {
    batches.retain(|b| !b.is_empty());
    match batches.len() {
        0 => Batch::default(),
        1 => batches.pop().expect("one"),
        _ => {
            let records = batches.iter().map(Batch::len).sum();
            let bytes = batches.iter().map(Batch::byte_size).sum();
            let mut all = Batch::with_capacity(records, bytes);
            batches.iter().for_each(|b| all.extend(b));
            all
        }
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
