//! One live operator instance: a store with its limits, and typed calls
//! into the one kind the component exports. Every call runs under the CPU
//! budget; every value it returns is checked before anyone reads it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

pub use super::bindings::update_state::{StateInput, StateOutput};
use super::bindings::{
    Batch, ByteList, OperatorError, filter, flat_map, map, migrate, reduce, update_state,
};
use super::sandbox::bounded;
use super::{EPOCH_TICK, OperatorKind, Plugin, StoreData};

/// What one instance may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The most linear memory the instance may grow to.
    pub memory_bytes: usize,
    /// The longest one call (one batch, one partition) may run, in wall
    /// time measured by the engine's epoch.
    #[serde(with = "humantime_serde")]
    pub cpu: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu: Duration::from_secs(1),
        }
    }
}

pub(crate) enum Indices {
    Map(map::GuestIndices),
    Filter(filter::GuestIndices),
    FlatMap(flat_map::GuestIndices),
    Reduce(reduce::GuestIndices),
    UpdateState(update_state::GuestIndices),
}

impl Indices {
    pub(crate) fn new(pre: &InstancePre<StoreData>, kind: OperatorKind) -> wasmtime::Result<Self> {
        Ok(match kind {
            OperatorKind::Map => Indices::Map(map::GuestIndices::new(pre)?),
            OperatorKind::Filter => Indices::Filter(filter::GuestIndices::new(pre)?),
            OperatorKind::FlatMap => Indices::FlatMap(flat_map::GuestIndices::new(pre)?),
            OperatorKind::Reduce => Indices::Reduce(reduce::GuestIndices::new(pre)?),
            OperatorKind::UpdateState => {
                Indices::UpdateState(update_state::GuestIndices::new(pre)?)
            }
        })
    }
}

enum Exports {
    Map(map::Guest),
    Filter(filter::Guest),
    FlatMap(flat_map::Guest),
    Reduce(reduce::Guest),
    UpdateState(update_state::Guest),
}

/// A live instance of an operator, ready for batches.
pub struct Instance {
    store: Store<StoreData>,
    exports: Exports,
    /// The optional `migrate` interface, if the component exports it.
    migrate: Option<migrate::Guest>,
    limits: Limits,
}

/// Why a call into an operator failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The operator returned an error, for one record or the whole batch.
    Rejected {
        /// Index of the input record it names, if any.
        record: Option<u32>,
        /// The operator's message.
        message: String,
    },
    /// `init` rejected the stage's params.
    InitRejected(String),
    /// The call ran past its CPU budget and was interrupted.
    CpuBudget(Duration),
    /// The instance tried to grow its memory past the limit.
    Memory {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The instance trapped (a panic, `unreachable`, a stack overflow...).
    Trap {
        /// What wasmtime reported.
        trap: String,
        /// The last error the operator logged, usually its panic message.
        logged: Option<String>,
    },
    /// The operator broke the contract: wrong record count, bad offsets.
    BadOutput(String),
    /// The host could not read the stage's state (its spill file).
    State(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Rejected {
                record: Some(i),
                message,
            } => write!(f, "failed on record {i}: {message}"),
            Failure::Rejected {
                record: None,
                message,
            } => write!(f, "failed: {message}"),
            Failure::InitRejected(message) => write!(f, "rejected its params: {message}"),
            Failure::CpuBudget(budget) => write!(
                f,
                "exceeded its CPU budget of {} ms per batch and was stopped",
                budget.as_millis()
            ),
            Failure::Memory { limit } => write!(
                f,
                "exceeded its memory limit of {} and was stopped",
                human_bytes(*limit)
            ),
            Failure::Trap {
                trap,
                logged: Some(logged),
            } => write!(f, "trapped ({trap}): {logged}"),
            Failure::Trap { trap, logged: None } => write!(f, "trapped: {trap}"),
            Failure::BadOutput(problem) => write!(f, "broke the operator contract: {problem}"),
            Failure::State(problem) => write!(f, "could not read its state: {problem}"),
        }
    }
}

/// Renders a byte count the way the manifest accepts it: `64 MiB`.
pub fn human_bytes(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A failed call, and whether the instance can still be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// What went wrong.
    pub failure: Failure,
    /// True when the instance trapped or broke the contract: it must be
    /// replaced before the next batch.
    pub poisoned: bool,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure.fmt(f)
    }
}

impl std::error::Error for CallError {}

fn rejected(e: OperatorError) -> CallError {
    CallError {
        failure: Failure::Rejected {
            record: e.record,
            message: bounded(e.message),
        },
        poisoned: false,
    }
}

fn bad_output(problem: impl std::fmt::Display) -> CallError {
    CallError {
        failure: Failure::BadOutput(problem.to_string()),
        poisoned: true,
    }
}

impl Instance {
    pub(crate) fn new(
        plugin: &Plugin,
        label: Arc<str>,
        limits: Limits,
        params: &[(String, String)],
    ) -> Result<Instance, CallError> {
        let mut store = Store::new(
            plugin.pre.engine(),
            StoreData::new(label, limits.memory_bytes),
        );
        store.limiter(|data| &mut data.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(budget_ticks(limits.cpu));
        store.data_mut().start_call();

        let instance = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(&store, limits, e))?;
        let exports = match &plugin.indices {
            Indices::Map(i) => i.load(&mut store, &instance).map(Exports::Map),
            Indices::Filter(i) => i.load(&mut store, &instance).map(Exports::Filter),
            Indices::FlatMap(i) => i.load(&mut store, &instance).map(Exports::FlatMap),
            Indices::Reduce(i) => i.load(&mut store, &instance).map(Exports::Reduce),
            Indices::UpdateState(i) => i.load(&mut store, &instance).map(Exports::UpdateState),
        }
        .map_err(|e| bad_output(format!("{e:#}")))?;
        let migrate = match &plugin.migrate {
            Some(i) => Some(
                i.load(&mut store, &instance)
                    .map_err(|e| bad_output(format!("{e:#}")))?,
            ),
            None => None,
        };
        let mut this = Instance {
            store,
            exports,
            migrate,
            limits,
        };
        this.call(|store, exports| match exports {
            Exports::Map(guest) => guest.call_init(store, params),
            Exports::Filter(guest) => guest.call_init(store, params),
            Exports::FlatMap(guest) => guest.call_init(store, params),
            Exports::Reduce(guest) => guest.call_init(store, params),
            Exports::UpdateState(guest) => guest.call_init(store, params),
        })?
        .map_err(|message| CallError {
            failure: Failure::InitRejected(bounded(message)),
            poisoned: false,
        })?;
        Ok(this)
    }

    /// Runs `f` under the CPU budget, turning a trap into a [`CallError`].
    fn call<R>(
        &mut self,
        f: impl FnOnce(&mut Store<StoreData>, &Exports) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.store.set_epoch_deadline(budget_ticks(self.limits.cpu));
        self.store.data_mut().start_call();
        f(&mut self.store, &self.exports).map_err(|e| classify(&self.store, self.limits, e))
    }

    /// Maps a batch: exactly one output record per input record.
    pub fn map(&mut self, input: &Batch) -> Result<Batch, CallError> {
        let output = self
            .call(|store, exports| match exports {
                Exports::Map(guest) => guest.call_map(store, input),
                _ => wasmtime::bail!("not a map operator"),
            })?
            .map_err(rejected)?;
        output.check().map_err(bad_output)?;
        if output.len() != input.len() {
            return Err(bad_output(format!(
                "a map must return one record per input, but returned {} for {}",
                output.len(),
                input.len()
            )));
        }
        Ok(output)
    }

    /// Filters a batch: one keep flag per input record.
    pub fn filter(&mut self, input: &Batch) -> Result<Vec<bool>, CallError> {
        let keep = self
            .call(|store, exports| match exports {
                Exports::Filter(guest) => guest.call_filter(store, input),
                _ => wasmtime::bail!("not a filter operator"),
            })?
            .map_err(rejected)?;
        if keep.len() != input.len() {
            return Err(bad_output(format!(
                "a filter must return one flag per input, but returned {} for {}",
                keep.len(),
                input.len()
            )));
        }
        Ok(keep)
    }

    /// Flat-maps a batch.
    pub fn flat_map(&mut self, input: &Batch) -> Result<Batch, CallError> {
        let output = self
            .call(|store, exports| match exports {
                Exports::FlatMap(guest) => guest.call_flat_map(store, input),
                _ => wasmtime::bail!("not a flat-map operator"),
            })?
            .map_err(rejected)?;
        output.check().map_err(bad_output)?;
        Ok(output)
    }

    /// Folds each group of values into one (see the `reduce` interface).
    pub fn reduce(
        &mut self,
        keys: &ByteList,
        values: &ByteList,
        group_ends: &[u32],
    ) -> Result<ByteList, CallError> {
        let output = self
            .call(|store, exports| match exports {
                Exports::Reduce(guest) => guest.call_reduce(store, keys, values, group_ends),
                _ => wasmtime::bail!("not a reduce operator"),
            })?
            .map_err(rejected)?;
        output.check("reduced values").map_err(bad_output)?;
        if output.len() != group_ends.len() {
            return Err(bad_output(format!(
                "a reduce must return one value per key, but returned {} for {}",
                output.len(),
                group_ends.len()
            )));
        }
        Ok(output)
    }
}

impl Instance {
    /// Updates the keys of one batch (see the `update-state` interface).
    pub fn update_state(&mut self, input: &StateInput) -> Result<StateOutput, CallError> {
        let output = self
            .call(|store, exports| match exports {
                Exports::UpdateState(guest) => guest.call_update(store, input),
                _ => wasmtime::bail!("not an update-state operator"),
            })?
            .map_err(rejected)?;
        let groups = input.group_ends.len();
        output.states.check("states").map_err(bad_output)?;
        output.output.check().map_err(bad_output)?;
        if output.keep.len() != groups || output.states.len() != groups {
            return Err(bad_output(format!(
                "an update-state must return one state per key, but returned {} flags and {} states for {groups} keys",
                output.keep.len(),
                output.states.len()
            )));
        }
        Ok(output)
    }
}

impl Instance {
    /// Whether the component converts earlier versions' states.
    pub fn migrates(&self) -> bool {
        self.migrate.is_some()
    }

    /// Converts `states` written by version `from` (see the `migrate`
    /// interface): one new state per old one.
    pub fn migrate_state(&mut self, from: &str, states: &ByteList) -> Result<ByteList, CallError> {
        let Some(guest) = self.migrate.take() else {
            return Err(bad_output("it does not export migrate-state"));
        };
        let result = self.call(|store, _| guest.call_migrate_state(store, from, states));
        self.migrate = Some(guest);
        let output = result?.map_err(|message| CallError {
            failure: Failure::Rejected {
                record: None,
                message: bounded(message),
            },
            poisoned: false,
        })?;
        output.check("states").map_err(bad_output)?;
        if output.len() != states.len() {
            return Err(bad_output(format!(
                "migrate-state must return one state per state, but returned {} for {}",
                output.len(),
                states.len()
            )));
        }
        Ok(output)
    }
}

fn budget_ticks(cpu: Duration) -> u64 {
    (cpu.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64
}

fn classify(store: &Store<StoreData>, limits: Limits, error: wasmtime::Error) -> CallError {
    let data = store.data();
    let failure = if data.limiter.denied.is_some() {
        Failure::Memory {
            limit: limits.memory_bytes,
        }
    } else if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        Failure::CpuBudget(limits.cpu)
    } else {
        let trap = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        Failure::Trap {
            trap,
            logged: data.last_error.clone(),
        }
    };
    CallError {
        failure,
        poisoned: true,
    }
}
