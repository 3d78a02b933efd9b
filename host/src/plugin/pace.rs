//! How much of a batch one call takes.
//!
//! A batch can be any size (the first batch of a backlog is the whole
//! backlog unless `max_batch_records` says otherwise), but an operator has
//! a memory limit and a CPU budget per call. So an instance splits each
//! batch into calls that fit: a call's input weighs at most a quarter of
//! the memory limit (the guest holds the input, its own view of it and its
//! output at once), and the records per call follow how long the last
//! calls took, aiming at an eighth of the CPU budget. The first call is
//! small; later ones grow, at most eightfold a call, while calls stay
//! quick, and shrink when they slow down. Splitting is invisible to an
//! operator: every kind's calls are per record or per key group, and a
//! group is never split.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use super::Limits;
use super::failure::human_bytes;

/// Records (or key groups) in an instance's first call.
const FIRST_CALL: usize = 64;

/// What a record costs the guest beyond its bytes: offsets, flags, the
/// SDK's view of it and its output's.
const OVERHEAD_BYTES: usize = 128;

/// The most a call's size grows from one call to the next.
const GROWTH: usize = 8;

/// How one instance sizes its calls.
#[derive(Debug)]
pub(crate) struct Pace {
    /// Items the next call may take.
    items: usize,
    /// The most bytes a call's input may weigh.
    bytes: usize,
    /// How long a call should take.
    target: Duration,
}

impl Pace {
    pub(crate) fn new(limits: Limits) -> Self {
        Pace {
            items: FIRST_CALL,
            bytes: limits.memory_bytes / 4,
            target: limits.cpu / 8,
        }
    }

    /// The items of the next call, from `start` on of `len` items, where
    /// `weight(i)` is item `i`'s bytes: always at least one item.
    pub(crate) fn next(
        &self,
        start: usize,
        len: usize,
        weight: impl Fn(usize) -> usize,
    ) -> Range<usize> {
        let last = start.saturating_add(self.items).min(len);
        let mut end = start;
        let mut bytes = 0usize;
        while end < last {
            bytes = bytes.saturating_add(weight(end).saturating_add(OVERHEAD_BYTES));
            if end > start && bytes > self.bytes {
                break;
            }
            end += 1;
        }
        start..end
    }

    /// Learns from a call of `items` items that took `took`.
    pub(crate) fn took(&mut self, items: usize, took: Duration) {
        let fits = if took.is_zero() {
            usize::MAX
        } else {
            (items as f64 * self.target.as_secs_f64() / took.as_secs_f64()) as usize
        };
        self.items = fits.min(self.items.saturating_mul(GROWTH)).max(1);
    }
}

/// How big the call that failed was, so a message can say what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSize {
    /// Records (or, for reduce and update-state, values) it carried.
    pub records: usize,
    /// What its input weighed.
    pub bytes: usize,
}

impl fmt::Display for CallSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.records == 1 { "" } else { "s" };
        write!(f, "a call of {} record{s} (", self.records)?;
        // A call's weight is rarely round; one decimal is enough to judge
        // it against a limit.
        match self.bytes {
            b if b >= 1 << 20 && b % (1 << 20) != 0 => {
                write!(f, "{:.1} MiB)", b as f64 / (1 << 20) as f64)
            }
            b if b >= 1 << 10 && b % (1 << 10) != 0 => {
                write!(f, "{:.1} KiB)", b as f64 / (1 << 10) as f64)
            }
            b => write!(f, "{})", human_bytes(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory_bytes: usize, cpu_ms: u64) -> Limits {
        Limits {
            memory_bytes,
            cpu: Duration::from_millis(cpu_ms),
        }
    }

    #[test]
    fn a_call_weighs_at_most_a_quarter_of_the_memory_limit() {
        let pace = Pace::new(limits(4 << 20, 1000));
        // 1,000 records of 100 KiB (and 128 bytes of overhead each): a
        // quarter of 4 MiB holds 10 of them.
        let call = pace.next(0, 1000, |_| 100 << 10);
        assert_eq!(call, 0..10);
        let call = pace.next(10, 1000, |_| 100 << 10);
        assert_eq!(call, 10..20);
    }

    #[test]
    fn a_record_bigger_than_the_share_still_gets_a_call_of_its_own() {
        let pace = Pace::new(limits(4 << 20, 1000));
        assert_eq!(pace.next(3, 10, |_| 8 << 20), 3..4);
    }

    #[test]
    fn calls_grow_while_quick_and_shrink_when_slow() {
        let mut pace = Pace::new(limits(1 << 30, 800));
        assert_eq!(pace.next(0, 1_000_000, |_| 10), 0..FIRST_CALL);
        pace.took(FIRST_CALL, Duration::from_micros(100));
        assert_eq!(pace.items, FIRST_CALL * GROWTH);
        // 2,048 records in 200 ms: 100 ms (an eighth of 800) fits 1,024.
        pace.took(2048, Duration::from_millis(200));
        assert_eq!(pace.items, 1024);
        pace.took(1024, Duration::from_secs(5));
        assert_eq!(pace.items, 20);
        pace.took(1, Duration::from_secs(5));
        assert_eq!(pace.items, 1);
    }

    #[test]
    fn the_failed_call_says_its_size() {
        let one = CallSize {
            records: 1,
            bytes: 3 << 20,
        };
        assert_eq!(one.to_string(), "a call of 1 record (3 MiB)");
        let many = CallSize {
            records: 500,
            bytes: 1000,
        };
        assert_eq!(many.to_string(), "a call of 500 records (1000 bytes)");
        let odd = CallSize {
            records: 2,
            bytes: (5 << 20) + (1 << 19) + 7,
        };
        assert_eq!(odd.to_string(), "a call of 2 records (5.5 MiB)");
    }
}
