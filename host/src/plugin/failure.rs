//! How a call into an operator fails: the operator's own error, its
//! limits (CPU, memory, tables), a trap, or output that breaks the
//! contract; each told in words that name what happened.

use std::fmt;
use std::time::Duration;

use wasmtime::{Store, Trap};

use super::StoreData;
use super::bindings::OperatorError;
use super::instance::Limits;
use super::pace::CallSize;
use super::sandbox::bounded;

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
    CpuBudget {
        /// The budget.
        budget: Duration,
        /// The call, unless it was `init`.
        call: Option<CallSize>,
    },
    /// The instance tried to grow its memory past the limit.
    Memory {
        /// The limit, in bytes.
        limit: usize,
        /// The call, unless it was `init`.
        call: Option<CallSize>,
    },
    /// The instance asked for more table elements than an operator may
    /// hold.
    Tables {
        /// What it asked for, over all its tables.
        wanted: usize,
        /// The cap.
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
            Failure::CpuBudget { budget, call } => {
                write!(
                    f,
                    "exceeded its CPU budget of {} ms per call and was stopped",
                    budget.as_millis()
                )?;
                match call {
                    Some(call) => write!(f, " in {call}"),
                    None => f.write_str(" in `init`"),
                }?;
                f.write_str("; if it needs longer, raise the stage's `limits.cpu`")
            }
            Failure::Memory { limit, call } => {
                write!(
                    f,
                    "exceeded its memory limit of {} and was stopped",
                    human_bytes(*limit)
                )?;
                match call {
                    Some(call) => write!(f, " in {call}"),
                    None => f.write_str(" in `init`"),
                }?;
                f.write_str("; if it needs more, raise the stage's `limits.memory`")
            }
            Failure::Tables { wanted, limit } => write!(
                f,
                "asked for tables of {wanted} elements, past the limit of {limit} elements an operator may hold, and was stopped"
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

/// An operator's error, its record counted from `first`, where the call
/// began in the batch.
pub(super) fn rejected(first: usize) -> impl Fn(OperatorError) -> CallError {
    move |e| CallError {
        failure: Failure::Rejected {
            record: e.record.map(|i| i.saturating_add(first as u32)),
            message: bounded(e.message),
        },
        poisoned: false,
    }
}

pub(super) fn bad_output(problem: impl std::fmt::Display) -> CallError {
    CallError {
        failure: Failure::BadOutput(problem.to_string()),
        poisoned: true,
    }
}

/// What a failed call's `error` means, given what the store saw.
pub(super) fn classify(
    store: &Store<StoreData>,
    limits: Limits,
    call: Option<CallSize>,
    error: wasmtime::Error,
) -> CallError {
    let data = store.data();
    let failure = if let Some(wanted) = data.limiter.tables_denied {
        Failure::Tables {
            wanted,
            limit: super::sandbox::TABLE_ELEMENTS,
        }
    } else if data.limiter.denied.is_some() {
        Failure::Memory {
            limit: limits.memory_bytes,
            call,
        }
    } else if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        Failure::CpuBudget {
            budget: limits.cpu,
            call,
        }
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
