//! Backpressure: how many records per second the sources should offer so
//! that batches finish within their interval. This is Spark Streaming's
//! PID rate estimator: after each batch it compares the rate it allowed
//! with the rate the pipeline actually processed at, and corrects for the
//! error (proportional), for the backlog the scheduling delay shows
//! (integral) and, if asked, for how fast the error changes (derivative).

use std::time::Duration;

/// The gains and floor of the estimator (Spark's defaults).
#[derive(Debug, Clone, Copy)]
pub struct Gains {
    pub proportional: f64,
    pub integral: f64,
    pub derivative: f64,
    /// The rate never goes below this (records/s), so a pipeline keeps
    /// making progress.
    pub min_rate: f64,
}

impl Default for Gains {
    fn default() -> Self {
        Gains {
            proportional: 1.0,
            integral: 0.2,
            derivative: 0.0,
            min_rate: 100.0,
        }
    }
}

/// Estimates the rate (records/s) the sources should offer.
#[derive(Debug)]
pub struct RateEstimator {
    interval: Duration,
    gains: Gains,
    /// Time (ms) of the last batch used, and its rate and error.
    latest: Option<(i64, f64, f64)>,
}

/// What one finished batch measured.
#[derive(Debug, Clone, Copy)]
pub struct BatchTimes {
    /// When the batch was cut (ms).
    pub time_ms: i64,
    /// Records it took in.
    pub records: u64,
    /// How long it ran.
    pub processing: Duration,
    /// How late it started after its tick.
    pub scheduling: Duration,
}

impl RateEstimator {
    pub fn new(interval: Duration, gains: Gains) -> Self {
        RateEstimator {
            interval,
            gains,
            latest: None,
        }
    }

    /// Feeds one batch's measurements; returns a new rate when there is
    /// one (not after the first batch, which only sets the baseline).
    pub fn update(&mut self, batch: BatchTimes) -> Option<f64> {
        let processing_ms = batch.processing.as_secs_f64() * 1e3;
        if batch.records == 0 || processing_ms <= 0.0 {
            return None;
        }
        let processing_rate = batch.records as f64 / processing_ms * 1e3;
        let Some((latest_time, latest_rate, latest_error)) = self.latest else {
            self.latest = Some((batch.time_ms, processing_rate, 0.0));
            return None;
        };
        if batch.time_ms <= latest_time {
            return None;
        }
        let since = (batch.time_ms - latest_time) as f64 / 1e3;
        let error = latest_rate - processing_rate;
        // The backlog, as a rate: records waiting because batches started
        // late, spread over one interval.
        let historical_error = batch.scheduling.as_secs_f64() * 1e3 * processing_rate
            / (self.interval.as_secs_f64() * 1e3);
        let d_error = (error - latest_error) / since;
        let g = self.gains;
        let rate = (latest_rate
            - g.proportional * error
            - g.integral * historical_error
            - g.derivative * d_error)
            .max(g.min_rate);
        self.latest = Some((batch.time_ms, rate, error));
        Some(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(time_ms: i64, records: u64, processing_ms: u64, scheduling_ms: u64) -> BatchTimes {
        BatchTimes {
            time_ms,
            records,
            processing: Duration::from_millis(processing_ms),
            scheduling: Duration::from_millis(scheduling_ms),
        }
    }

    #[test]
    fn the_first_batch_sets_the_baseline_only() {
        let mut rates = RateEstimator::new(Duration::from_secs(1), Gains::default());
        assert_eq!(rates.update(batch(1000, 1000, 500, 0)), None);
    }

    #[test]
    fn a_steady_pipeline_keeps_its_rate() {
        let mut rates = RateEstimator::new(Duration::from_secs(1), Gains::default());
        rates.update(batch(1000, 1000, 500, 0));
        // Processes 2,000 records/s, as before, and nothing waits.
        assert_eq!(rates.update(batch(2000, 1000, 500, 0)), Some(2000.0));
    }

    #[test]
    fn a_slower_pipeline_gets_a_lower_rate_and_a_backlog_lowers_it_more() {
        let mut rates = RateEstimator::new(Duration::from_secs(1), Gains::default());
        rates.update(batch(1000, 1000, 500, 0));
        // Now 1,000 records take a whole second: 1,000 records/s.
        let slower = rates.update(batch(2000, 1000, 1000, 0)).unwrap();
        assert_eq!(slower, 1000.0);
        let mut backlogged = RateEstimator::new(Duration::from_secs(1), Gains::default());
        backlogged.update(batch(1000, 1000, 500, 0));
        // The same, with batches starting half an interval late.
        let lower = backlogged.update(batch(2000, 1000, 1000, 500)).unwrap();
        assert_eq!(lower, 1000.0 - 0.2 * 500.0);
    }

    #[test]
    fn the_rate_never_drops_below_the_floor() {
        let mut rates = RateEstimator::new(Duration::from_secs(1), Gains::default());
        rates.update(batch(1000, 1000, 500, 0));
        assert_eq!(rates.update(batch(2000, 10, 10_000, 60_000)), Some(100.0));
    }
}
