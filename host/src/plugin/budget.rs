//! A call's CPU budget, charged only for the time its thread runs.
//!
//! The engine's epoch advances every [`EPOCH_TICK`] of wall time. When a
//! call reaches its epoch deadline, the host reads how much CPU time the
//! call's thread has used since the call began (the thread's own clock,
//! `CLOCK_THREAD_CPUTIME_ID`): under the budget, the deadline moves on by
//! what is left; at the budget, the call is interrupted. So a call that
//! waited for a core (other tenants' calls running) is not charged for
//! the wait. A call that blocks without using CPU is stopped all the same
//! once [`WALL_FACTOR`] times its budget has passed on the clock.

use std::time::{Duration, Instant};

use super::EPOCH_TICK;

/// How many budgets of wall time a call may take, whatever its CPU time.
pub const WALL_FACTOR: u32 = 4;

/// One call's budget, from its start.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    cpu: Duration,
    cpu_at_start: Duration,
    started: Instant,
}

impl Budget {
    /// A budget of `cpu` for a call starting now on this thread.
    pub fn start(cpu: Duration) -> Budget {
        Budget {
            cpu,
            cpu_at_start: thread_cpu(),
            started: Instant::now(),
        }
    }

    /// The epoch ticks to the first look at the budget.
    pub fn first_deadline(&self) -> u64 {
        ticks(self.cpu)
    }

    /// At a deadline: the ticks to wait before looking again, or `None`
    /// when the call has used its budget (or blocked too long).
    pub fn look_again(&self) -> Option<u64> {
        let used = thread_cpu().saturating_sub(self.cpu_at_start);
        let left = self.cpu.checked_sub(used).filter(|left| !left.is_zero())?;
        if self.started.elapsed() >= self.cpu * WALL_FACTOR {
            return None;
        }
        Some(ticks(left))
    }
}

fn ticks(time: Duration) -> u64 {
    (time.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64
}

/// The CPU time the calling thread has used.
pub fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; the clock id is a
    // constant every Linux has.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    match done {
        0 => Duration::new(now.tv_sec as u64, now.tv_nsec as u32),
        // Never on Linux; charge wall time instead (as if always running).
        _ => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_waits_is_not_charged_but_one_that_spins_is() {
        let budget = Budget::start(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(80));
        assert!(budget.look_again().is_some(), "sleeping used no CPU");
        let spin = thread_cpu();
        while thread_cpu() - spin < Duration::from_millis(60) {
            std::hint::black_box(0u64);
        }
        assert!(budget.look_again().is_none(), "spinning used the budget");
    }

    #[test]
    fn a_call_that_blocks_is_stopped_after_its_wall_allowance() {
        let budget = Budget::start(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(10) * WALL_FACTOR);
        assert!(budget.look_again().is_none());
    }
}
