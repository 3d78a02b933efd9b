//! How many operator calls may run at once, and how much CPU they may use
//! a second: one pipeline's bound under `wasmstream run`, or one tenant's
//! over all its pipelines under `wasmstream serve`.
//!
//! Each call takes a slot (a thread) for as long as it runs. Under a CPU
//! rate, each call's CPU time (its thread's own clock) is charged to a
//! bucket that refills at the rate and holds at most one second of it;
//! while the bucket is in debt, new calls wait. So a tenant that spends
//! its CPU is slowed down, by its own waits, not its neighbours'.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::plugin::thread_cpu;

/// A bound on calls: slots, and optionally a CPU rate.
#[derive(Debug, Clone)]
pub struct Calls {
    slots: Arc<Semaphore>,
    cpu: Option<Arc<CpuRate>>,
}

impl Calls {
    /// At most `at_once` calls at once (at least one), any CPU.
    pub fn new(at_once: usize) -> Calls {
        Calls {
            slots: Arc::new(Semaphore::new(at_once.max(1))),
            cpu: None,
        }
    }

    /// The same, also limited to `per_second` of CPU time a second.
    pub fn with_cpu_rate(self, per_second: Duration) -> Calls {
        Calls {
            cpu: Some(Arc::new(CpuRate::new(per_second))),
            ..self
        }
    }

    /// Waits for a slot, and until the CPU rate allows another call.
    pub async fn acquire(&self) -> Slot {
        if let Some(rate) = &self.cpu {
            rate.wait().await;
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        Slot {
            _permit: permit,
            cpu: self.cpu.clone(),
        }
    }
}

/// A call's slot, taken until the call ends.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    cpu: Option<Arc<CpuRate>>,
}

impl Slot {
    /// The call starts, on this thread: its CPU time is charged when the
    /// returned guard drops, on the same thread.
    pub fn running(self) -> Running {
        Running {
            cpu_at_start: thread_cpu(),
            slot: self,
        }
    }
}

/// A call running on the thread that holds this.
#[derive(Debug)]
pub struct Running {
    slot: Slot,
    cpu_at_start: Duration,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(rate) = &self.slot.cpu {
            rate.charge(thread_cpu().saturating_sub(self.cpu_at_start));
        }
    }
}

/// CPU time a second, as a bucket of at most one second's worth.
#[derive(Debug)]
struct CpuRate {
    per_second: Duration,
    /// Seconds of CPU time in the bucket (negative: in debt), and when
    /// it was last filled.
    bucket: Mutex<(f64, Instant)>,
}

impl CpuRate {
    fn new(per_second: Duration) -> CpuRate {
        CpuRate {
            per_second,
            bucket: Mutex::new((per_second.as_secs_f64(), Instant::now())),
        }
    }

    /// The bucket now, refilled for the time since it was last.
    fn fill(&self) -> std::sync::MutexGuard<'_, (f64, Instant)> {
        let mut bucket = self.bucket.lock().expect("cpu bucket poisoned");
        let now = Instant::now();
        let rate = self.per_second.as_secs_f64();
        bucket.0 = (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(rate);
        bucket.1 = now;
        bucket
    }

    fn charge(&self, used: Duration) {
        self.fill().0 -= used.as_secs_f64();
    }

    /// Waits until the bucket is out of debt.
    async fn wait(&self) {
        loop {
            let debt = -self.fill().0;
            if debt <= 0.0 {
                return;
            }
            let rate = self.per_second.as_secs_f64().max(1e-6);
            tokio::time::sleep(Duration::from_secs_f64(debt / rate)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_wait_while_the_cpu_spent_is_past_the_rate() {
        let rate = CpuRate::new(Duration::from_millis(100));
        let start = Instant::now();
        rate.wait().await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a full bucket lets a call in"
        );
        // 300 ms of CPU on a rate of 100 ms a second: 0.1 s in the bucket,
        // 0.2 s of debt, paid off in two seconds.
        rate.charge(Duration::from_millis(300));
        rate.wait().await;
        let waited = start.elapsed();
        assert!(
            (Duration::from_millis(1990)..=Duration::from_millis(2010)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tenant_saves_at_most_a_second_of_cpu() {
        let rate = CpuRate::new(Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(60)).await;
        rate.charge(Duration::from_millis(150));
        let start = Instant::now();
        rate.wait().await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(490), "{waited:?}");
    }
}
