//! The one retry policy for every connection the engine makes (a broker
//! that went away, a socket server not up yet): exponential backoff from
//! `first`, doubling up to `longest`, for at most `total` of waiting, with
//! `backon` doing the counting and sleeping.

use std::time::Duration;

use backon::ExponentialBuilder;
pub use backon::{BlockingRetryable, Retryable};

/// Backoff from `first` to `longest`; gives up once the waits add up to
/// `total` (`None`: never).
pub fn backoff(first: Duration, longest: Duration, total: Option<Duration>) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(longest)
        .with_factor(2.0)
        .without_max_times()
        .with_total_delay(total)
}
