//! What a Wasm operator's calls cost, counted over every partition's
//! instance, for the metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::plugin::Failure;

/// Counts of one operator version's calls (one per partition per batch).
#[derive(Debug, Default)]
pub struct CallStats {
    calls: AtomicU64,
    cpu_nanos: AtomicU64,
    traps: AtomicU64,
    budget_kills: AtomicU64,
    memory_bytes: AtomicU64,
}

/// A snapshot of [`CallStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallFigures {
    /// Calls made (a batch's call split to fit the limits counts once).
    pub calls: u64,
    /// CPU time the calls used, on their threads.
    pub cpu: Duration,
    /// Calls that trapped (a panic, an exception, a memory limit).
    pub traps: u64,
    /// Calls stopped by the CPU budget.
    pub budget_kills: u64,
    /// The most linear memory one instance held after a call.
    pub memory_bytes: u64,
}

impl CallStats {
    /// A call used `cpu`, left its instance with `memory` bytes (if it has
    /// one still), and failed with `failure`, if it did.
    pub(crate) fn called(&self, cpu: Duration, memory: Option<usize>, failure: Option<&Failure>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.cpu_nanos.fetch_add(nanos, Ordering::Relaxed);
        match failure {
            Some(Failure::Trap { .. }) => {
                self.traps.fetch_add(1, Ordering::Relaxed);
            }
            Some(Failure::CpuBudget { .. }) => {
                self.budget_kills.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if let Some(bytes) = memory {
            self.memory_bytes.fetch_max(bytes as u64, Ordering::Relaxed);
        }
    }

    /// The counts now.
    pub fn figures(&self) -> CallFigures {
        CallFigures {
            calls: self.calls.load(Ordering::Relaxed),
            cpu: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed)),
            traps: self.traps.load(Ordering::Relaxed),
            budget_kills: self.budget_kills.load(Ordering::Relaxed),
            memory_bytes: self.memory_bytes.load(Ordering::Relaxed),
        }
    }
}
