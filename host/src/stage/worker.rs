//! One partition's operator: a Wasm instance (created on first use,
//! replaced after a trap) or a native operator, with what hot reload needs
//! around it: the last call kept for dry runs, and a shadow version.

use std::sync::Arc;

use super::shadow::{Call, CallRef, Returned, Shadow, ShadowReport};
use crate::operator::{NativeOperator, Operator, WasmOperator};
use crate::plugin::{CogroupInput, Failure, Instance, ProcessInput, ProcessOutput, thread_cpu};
use crate::record::{Batch, ByteList};

impl Failure {
    /// A failure naming a position in values the stage grouped by key,
    /// made to name that record's position in the stage's input instead;
    /// `order[i]` is the input position of grouped value `i`.
    pub(crate) fn at_input(self, order: &[u32]) -> Failure {
        match self {
            Failure::Rejected {
                record: Some(i),
                message,
            } => Failure::Rejected {
                record: order.get(i as usize).copied(),
                message,
            },
            other => other,
        }
    }
}

/// The operator of one partition of one stage, alive across batches.
pub(crate) enum Worker {
    Wasm {
        op: Arc<WasmOperator>,
        label: Arc<str>,
        instance: Option<Instance>,
        /// Whether to keep `last`, for dry runs of a new version.
        keep_last: bool,
        /// The last call that succeeded.
        last: Option<Box<Call>>,
        /// A candidate version given every call too, for comparison.
        shadow: Option<Box<Shadow>>,
    },
    Native(NativeOperator),
}

impl Worker {
    pub(crate) fn new(operator: &Operator, label: Arc<str>) -> Self {
        match operator {
            Operator::Wasm(op) => Worker::Wasm {
                op: op.clone(),
                label,
                instance: None,
                keep_last: false,
                last: None,
                shadow: None,
            },
            Operator::Native(native) => Worker::Native(native.clone()),
        }
    }

    /// Names the worker in logs: `pipeline/stage[partition]`.
    pub(crate) fn label(&self) -> &str {
        match self {
            Worker::Wasm { label, .. } => label,
            Worker::Native(_) => "native",
        }
    }

    /// Runs `call` on the live instance, creating it first if needed. A
    /// trap discards the instance; the next batch gets a fresh one.
    fn wasm<R>(
        &mut self,
        call: impl FnOnce(&mut Instance) -> Result<R, crate::plugin::CallError>,
    ) -> Result<R, Failure> {
        let Worker::Wasm {
            op,
            label,
            instance,
            ..
        } = self
        else {
            unreachable!("wasm() on a native worker")
        };
        if instance.is_none() {
            *instance = Some(
                op.plugin
                    .instantiate(label.clone(), op.limits, &op.params)
                    .map_err(|e| e.failure)?,
            );
        }
        let live = instance.as_mut().expect("just created");
        let cpu_at_start = thread_cpu();
        let result = call(live);
        let memory = live.memory_used();
        let cpu = thread_cpu().saturating_sub(cpu_at_start);
        op.stats
            .called(cpu, Some(memory), result.as_ref().err().map(|e| &e.failure));
        result.map_err(|e| {
            if e.poisoned {
                *instance = None;
            }
            e.failure
        })
    }

    /// After a successful call: makes it on the shadow version, if there
    /// is one, to compare.
    fn observe(&mut self, call: CallRef<'_>, live: Returned<'_>) {
        if let Worker::Wasm {
            label,
            shadow: Some(shadow),
            ..
        } = self
        {
            shadow.compare(label, call, live);
        }
    }

    /// Keeps `call`, the arguments of the call that just succeeded, for
    /// dry runs of a new version, if calls are kept. The caller hands over
    /// arguments it has no more use for, so keeping them copies nothing.
    pub(crate) fn remember(&mut self, call: Call) {
        if let Worker::Wasm {
            keep_last: true,
            last,
            ..
        } = self
        {
            *last = Some(Box::new(call));
        }
    }

    pub(crate) fn map(&mut self, input: &Batch) -> Result<Batch, Failure> {
        match self {
            Worker::Native(native) => native.map(input),
            Worker::Wasm { .. } => {
                let output = self.wasm(|i| i.map(input))?;
                self.observe(CallRef::Map(input), Returned::Records(&output));
                Ok(output)
            }
        }
    }

    pub(crate) fn filter(&mut self, input: &Batch) -> Result<Vec<bool>, Failure> {
        match self {
            Worker::Native(native) => native.filter(input),
            Worker::Wasm { .. } => {
                let keep = self.wasm(|i| i.filter(input))?;
                self.observe(CallRef::Filter(input), Returned::Kept(&keep));
                Ok(keep)
            }
        }
    }

    pub(crate) fn flat_map(&mut self, input: &Batch) -> Result<Batch, Failure> {
        match self {
            Worker::Native(native) => native.flat_map(input),
            Worker::Wasm { .. } => {
                let output = self.wasm(|i| i.flat_map(input))?;
                self.observe(CallRef::FlatMap(input), Returned::Records(&output));
                Ok(output)
            }
        }
    }

    /// The caller keeps `input` for [`Worker::remember`].
    pub(crate) fn update_state(
        &mut self,
        input: &crate::plugin::StateInput,
    ) -> Result<crate::plugin::StateOutput, Failure> {
        match self {
            Worker::Native(_) => Err(Failure::BadOutput(
                "native update-state operators are not supported".into(),
            )),
            Worker::Wasm { .. } => {
                let output = self.wasm(|i| i.update_state(input))?;
                self.observe(CallRef::UpdateState(input), Returned::States(&output));
                Ok(output)
            }
        }
    }

    /// The caller keeps `input` for [`Worker::remember`].
    pub(crate) fn cogroup(&mut self, input: &CogroupInput) -> Result<Batch, Failure> {
        match self {
            Worker::Native(_) => Err(Failure::BadOutput(
                "native cogroup operators are not supported".into(),
            )),
            Worker::Wasm { .. } => {
                let output = self.wasm(|i| i.cogroup(input))?;
                self.observe(CallRef::Cogroup(input), Returned::Records(&output));
                Ok(output)
            }
        }
    }

    /// The caller keeps `input` for [`Worker::remember`].
    pub(crate) fn process(&mut self, input: &ProcessInput) -> Result<ProcessOutput, Failure> {
        match self {
            Worker::Native(_) => Err(Failure::BadOutput(
                "native keyed-process operators are not supported".into(),
            )),
            Worker::Wasm { .. } => {
                let output = self.wasm(|i| i.process(input))?;
                self.observe(
                    CallRef::KeyedProcess(input),
                    Returned::Records(&output.output),
                );
                Ok(output)
            }
        }
    }

    /// Takes the groups whole: they are kept for dry runs.
    pub(crate) fn reduce(
        &mut self,
        keys: ByteList,
        values: ByteList,
        group_ends: Vec<u32>,
    ) -> Result<ByteList, Failure> {
        match self {
            Worker::Native(native) => native.reduce(&keys, &values, &group_ends),
            Worker::Wasm { .. } => {
                let reduced = self.wasm(|i| i.reduce(&keys, &values, &group_ends))?;
                let call = CallRef::Reduce {
                    keys: &keys,
                    values: &values,
                    group_ends: &group_ends,
                };
                self.observe(call, Returned::Values(&reduced));
                self.remember(Call::Reduce {
                    keys,
                    values,
                    group_ends,
                });
                Ok(reduced)
            }
        }
    }

    /// Keeps each successful call from now on, for dry runs.
    pub(crate) fn keep_last_call(&mut self) {
        if let Worker::Wasm { keep_last, .. } = self {
            *keep_last = true;
        }
    }

    /// The last successful call, if kept.
    pub(crate) fn last_call(&self) -> Option<&Call> {
        match self {
            Worker::Wasm { last, .. } => last.as_deref(),
            Worker::Native(_) => None,
        }
    }

    /// The label, for a Wasm worker.
    pub(crate) fn wasm_label(&self) -> Option<&Arc<str>> {
        match self {
            Worker::Wasm { label, .. } => Some(label),
            Worker::Native(_) => None,
        }
    }

    /// The live version, for a Wasm worker.
    pub(crate) fn operator(&self) -> Option<&Arc<WasmOperator>> {
        match self {
            Worker::Wasm { op, .. } => Some(op),
            Worker::Native(_) => None,
        }
    }

    /// Makes `op` live, with `instance` (already made and `init`ed) if
    /// given, else a fresh instance on first use. Returns the instance
    /// replaced, for the caller to drop off the batch path.
    pub(crate) fn replace(
        &mut self,
        new: Arc<WasmOperator>,
        ready: Option<Instance>,
    ) -> Option<Instance> {
        match self {
            Worker::Wasm { op, instance, .. } => {
                *op = new;
                std::mem::replace(instance, ready)
            }
            Worker::Native(_) => None,
        }
    }

    /// Runs `candidate` beside the live version from now on (`None`: stop).
    pub(crate) fn set_shadow(&mut self, candidate: Option<Arc<WasmOperator>>) {
        if let Worker::Wasm { shadow, .. } = self {
            *shadow = candidate.map(|op| Box::new(Shadow::new(op)));
        }
    }

    /// The shadow's comparison since the last call of this.
    pub(crate) fn take_shadow_report(&mut self) -> Option<ShadowReport> {
        match self {
            Worker::Wasm {
                shadow: Some(shadow),
                ..
            } => Some(std::mem::take(&mut shadow.report)),
            _ => None,
        }
    }
}
