//! Running one stage over one batch.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::update_state::{self, Changes};
use super::{Worker, reduce};
use crate::plan::{StagePlan, Step};
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;
use crate::state::PartitionState;

/// A stage's partitions, alive across batches.
pub struct StageRunner {
    id: Arc<str>,
    step: Step,
    /// One slot per partition; a worker is out of its slot while it runs.
    workers: Vec<Option<Worker>>,
    /// Each partition's per-key state (used by update-state stages); out of
    /// its slot, with the worker, while the partition runs.
    states: Vec<PartitionState>,
    /// Each partition's state changes from the batch just run, waiting for
    /// the batch to be committed.
    pending: Vec<Changes>,
}

/// A stage that failed a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    /// The stage id.
    pub stage: String,
    /// The operator's component file, for Wasm operators.
    pub file: Option<PathBuf>,
    /// The partition that failed.
    pub partition: usize,
    /// What happened.
    pub failure: Failure,
    /// The record the operator named, shortened for display.
    pub record: Option<String>,
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage `{}`", self.stage)?;
        if let Some(file) = &self.file {
            write!(f, " (operator {})", file.display())?;
        }
        write!(f, ", partition {}, {}", self.partition, self.failure)?;
        if let Some(record) = &self.record {
            write!(f, " [record: {record}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for StageError {}

impl StageRunner {
    /// Workers for every partition of `plan`, in pipeline `pipeline`.
    /// Wasm instances are created on first use.
    pub fn new(pipeline: &str, plan: &StagePlan) -> Self {
        let workers = (0..plan.parallelism)
            .map(|p| {
                plan.step
                    .operator()
                    .map(|op| Worker::new(op, format!("{pipeline}/{}[{p}]", plan.id).into()))
            })
            .collect();
        StageRunner {
            id: plan.id.as_str().into(),
            step: plan.step.clone(),
            states: (0..plan.parallelism)
                .map(|_| PartitionState::default())
                .collect(),
            pending: (0..plan.parallelism).map(|_| Vec::new()).collect(),
            workers,
        }
    }

    /// Partitions this stage runs over.
    pub fn parallelism(&self) -> usize {
        self.workers.len()
    }

    /// Runs the stage over its input partitions (all inputs' partitions, in
    /// input order) for the batch cut at `batch_time` (ms), returning its
    /// output partitions. State changes wait for [`StageRunner::commit`].
    pub async fn run(
        &mut self,
        inputs: Vec<Batch>,
        batch_time: i64,
    ) -> Result<Vec<Batch>, StageError> {
        let partitions = self.parallelism();
        let inputs = match &self.step {
            Step::Union => return Ok(inputs),
            Step::ReduceByKey(_) | Step::UpdateStateByKey(..) => {
                shuffle::exchange(inputs, partitions)
            }
            _ => shuffle::rebalance(inputs, partitions),
        };
        let mut tasks = Vec::with_capacity(partitions);
        for (p, input) in inputs.into_iter().enumerate() {
            let mut worker = self.workers[p]
                .take()
                .expect("a worker per partition, returned after each batch");
            let state = std::mem::take(&mut self.states[p]);
            let step = self.step.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                let result = process(&step, &mut worker, &state, &input, batch_time);
                (worker, state, result, input)
            }));
        }
        let mut outputs = Vec::with_capacity(partitions);
        let mut first_error = None;
        for (p, task) in tasks.into_iter().enumerate() {
            let (worker, state, result, input) =
                task.await.expect("operator calls do not panic the host");
            self.workers[p] = Some(worker);
            self.states[p] = state;
            match result {
                Ok((output, changes)) => {
                    outputs.push(output);
                    self.pending[p] = changes;
                }
                Err(failure) if first_error.is_none() => {
                    first_error = Some(self.error(p, failure, &input))
                }
                Err(_) => {}
            }
        }
        match first_error {
            Some(error) => {
                self.discard();
                Err(error)
            }
            None => Ok(outputs),
        }
    }

    /// Applies the state changes of the batch just run: call it once the
    /// batch's output is written.
    pub fn commit(&mut self) {
        for (state, changes) in self.states.iter_mut().zip(&mut self.pending) {
            state.apply(std::mem::take(changes));
        }
    }

    /// Forgets the state changes of the batch just run (it failed).
    pub fn discard(&mut self) {
        self.pending.iter_mut().for_each(Vec::clear);
    }

    fn error(&self, partition: usize, failure: Failure, input: &Batch) -> StageError {
        let record = match &failure {
            Failure::Rejected {
                record: Some(i), ..
            } if (*i as usize) < input.len() => Some(preview(input, *i as usize)),
            _ => None,
        };
        StageError {
            stage: self.id.to_string(),
            file: self
                .step
                .operator()
                .and_then(|op| op.file())
                .map(|f| f.to_owned()),
            partition,
            failure,
            record,
        }
    }
}

fn process(
    step: &Step,
    worker: &mut Worker,
    state: &PartitionState,
    input: &Batch,
    batch_time: i64,
) -> Result<(Batch, Changes), Failure> {
    if let Step::UpdateStateByKey(_, ttl) = step {
        // Runs even on an empty partition: idle keys may time out.
        return update_state::update_state_by_key(worker, state, input, batch_time, *ttl);
    }
    if input.is_empty() {
        return Ok((Batch::default(), Vec::new()));
    }
    let output = match step {
        Step::Map(_) => worker.map(input),
        Step::FlatMap(_) => worker.flat_map(input),
        Step::Filter(_) => {
            let keep = worker.filter(input)?;
            Ok(input.select(keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i)))
        }
        Step::ReduceByKey(_) => reduce::reduce_by_key(worker, input),
        Step::Union | Step::UpdateStateByKey(..) => Ok(input.clone()),
    }?;
    Ok((output, Vec::new()))
}

fn preview(batch: &Batch, i: usize) -> String {
    const MAX: usize = 80;
    let record = batch.get(i);
    let mut text = crate::record::display(&record);
    if text.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|&c| text.is_char_boundary(c))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    format!("{text:?}")
}
