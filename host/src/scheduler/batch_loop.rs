//! When batches are cut, and what happens between two: the loop waits for
//! the next tick (or a stop, or news from hot reload), applies the edits
//! due at this boundary, cuts a batch from the sources, logs its intent,
//! runs it, and checkpoints when due.

use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::feed::{self, Feed, Input};
use super::{BatchFigures, OnProbation, Scheduler, Summary};
use crate::checkpoint::Intent;
use crate::connector;
use crate::metrics::{BatchRow, BatchStatus};
use crate::plan::Trigger;
use crate::rate::{BatchTimes, Gains, RateEstimator};
use crate::record::Batch;
use crate::reload::{Edit, News, Reloader, Updates};
use crate::sink::BatchInfo;
use crate::source;

/// What woke the scheduler between batches.
enum Woken {
    /// Time for a batch.
    Tick(Instant),
    /// Asked to stop.
    Stop,
    /// A watched file changed, or a manifest was read again.
    Reload(News),
}

/// The batch interval's ticker (none for `available-now`: the next batch
/// is cut as soon as the last is done), backpressure's rate estimator,
/// which follows it, and how many bytes a batch takes.
struct Clock {
    interval: Duration,
    ticker: Option<Interval>,
    rate: Option<RateEstimator>,
    batch_bytes: usize,
}

impl Clock {
    fn new(interval: Duration, trigger: Trigger, backpressure: bool) -> Clock {
        let ticker = (trigger == Trigger::Interval).then(|| {
            let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticker
        });
        Clock {
            interval,
            rate: (backpressure && ticker.is_some())
                .then(|| RateEstimator::new(interval, Gains::default())),
            ticker,
            batch_bytes: match trigger {
                Trigger::Interval => feed::MAX_BATCH_BYTES,
                Trigger::AvailableNow => feed::AVAILABLE_NOW_BATCH_BYTES,
            },
        }
    }

    /// When the next batch is due: the next tick, or now.
    async fn tick(&mut self) -> Instant {
        match &mut self.ticker {
            Some(ticker) => ticker.tick().await,
            None => Instant::now(),
        }
    }
}

impl Scheduler {
    /// Resumes, then runs batches until the sources end or `stop`; then
    /// flushes the sinks and writes a last checkpoint.
    pub(super) async fn run(
        mut self,
        updates: Option<Updates>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Summary> {
        let (stop_sources, sources_stop) = watch::channel(false);
        let mut feeds: Vec<Feed> = self
            .plan
            .sources
            .iter()
            .map(|s| Feed::new(s, connector::start_source(s, sources_stop.clone())))
            .collect();
        self.recover(&mut feeds).await?;
        let updates =
            updates.filter(|u| self.plan.reload.watch || matches!(u, Updates::Pushed(..)));
        if let Some(updates) = updates {
            let metrics = self.metrics.clone();
            match Reloader::start(&self.plan, updates, &mut self.stages, metrics) {
                Ok(reloader) => self.reloader = Some(reloader),
                // A read-only folder, say: the pipeline runs all the same.
                Err(e) => tracing::warn!(pipeline = %self.plan.name, "hot reload is off: {e:#}"),
            }
        }
        let mut clock = Clock::new(
            self.plan.interval,
            self.plan.trigger,
            self.plan.backpressure,
        );
        let result: Result<()> = async {
            loop {
                // In this order: when batches take longer than the interval
                // a tick is always ready, and an unbiased pick let a stop
                // wait behind several more batches.
                let woken = tokio::select! {
                    biased;
                    _ = stop.wait_for(|stop| *stop) => Woken::Stop,
                    news = Reloader::news(self.reloader.as_mut()) => Woken::Reload(news),
                    tick = clock.tick() => Woken::Tick(tick),
                };
                let (stopping, scheduled) = match woken {
                    Woken::Tick(tick) => (false, tick),
                    Woken::Stop => (true, Instant::now()),
                    Woken::Reload(news) => {
                        // Start preparing now, so what changed is ready to
                        // swap in at the next boundary.
                        let reloader = self.reloader.as_mut().expect("it had news");
                        reloader.take(news, &mut self.stages);
                        continue;
                    }
                };
                if stopping {
                    tracing::info!(pipeline = %self.plan.name, "stopping: finishing the last batch");
                    let _ = stop_sources.send(true);
                    for feed in &mut feeds {
                        feed.receive_rest().await?;
                    }
                }
                for feed in &mut feeds {
                    feed.poll().await?;
                }
                // Normally one batch per tick; when stopping, as many as it
                // takes to hand over everything pushed.
                loop {
                    match self.next_batch(&mut feeds, &mut clock, stopping, scheduled).await? {
                        Next::Done => return Ok(()),
                        Next::Wait => break,
                        Next::Again => {}
                    }
                }
                if stopping || feeds.iter().all(|f| f.ended && f.buffer.is_empty()) {
                    return Ok(());
                }
            }
        }
        .await;

        let _ = stop_sources.send(true);
        for feed in &feeds {
            if let Input::Push {
                task: Some(task), ..
            } = &feed.input
            {
                task.abort();
            }
        }
        result?;
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        if self.store.is_some() && self.checkpointed < self.summary.batches {
            self.checkpoint(&feeds).await?;
        }
        let s = &self.summary;
        tracing::info!(
            pipeline = %self.plan.name,
            batches = s.batches,
            records_in = s.records_in,
            records_out = s.records_out,
            batches_skipped = s.batches_skipped,
            records_late = s.records_late,
            records_dead_lettered = s.records_dead_lettered,
            "pipeline finished"
        );
        Ok(self.summary)
    }

    /// Applies the edits due at this boundary, then cuts and runs one
    /// batch.
    async fn next_batch(
        &mut self,
        feeds: &mut [Feed],
        clock: &mut Clock,
        stopping: bool,
        scheduled: Instant,
    ) -> Result<Next> {
        let next = self.summary.batches + 1;
        let edits = match &mut self.reloader {
            Some(reloader) => reloader.between_batches(&mut self.stages, next),
            None => Vec::new(),
        };
        for edit in edits {
            self.apply(edit, feeds, clock, next).await?;
        }
        let time_ms = source::now_millis();
        let (inputs, read) = feed::cut(feeds, time_ms, clock.batch_bytes).await?;
        self.hand_over(feeds)?;
        let pushed_more = feeds.iter().any(|f| !f.buffer.is_empty());
        let all_ended = feeds.iter().all(|f| f.ended);
        let nothing = inputs.values().flatten().all(Batch::is_empty);
        if self.input_ended && all_ended && nothing {
            // Resumed after the input had already ended, and nothing new
            // came: there is no batch to run.
            return Ok(Next::Done);
        }
        let info = BatchInfo {
            id: next,
            time_ms,
            end_of_input: all_ended && !pushed_more && !stopping,
        };
        let sources = match &self.metrics {
            Some(metrics) => metrics.batch_started(info.id, time_ms, &inputs, &read),
            None => Vec::new(),
        };
        if let Some(store) = &mut self.store {
            store.record(&Intent {
                batch: info.id,
                time_ms,
                end_of_input: info.end_of_input,
                sources: read,
            })?;
        }
        let records = inputs.values().flatten().map(Batch::len).sum::<usize>();
        let started = Instant::now();
        let progress = self.progress(feeds);
        // A new version on probation that fails the batch is rolled back
        // and the batch run again on the old one.
        let again = self
            .reloader
            .as_ref()
            .is_some_and(Reloader::any_on_probation)
            .then(|| inputs.clone());
        let skipped_before = self.summary.batches_skipped;
        if let Err(e) = self.batch(inputs, info, progress.clone()).await {
            match (e.downcast_ref::<OnProbation>(), again) {
                (Some(OnProbation(failed)), Some(inputs)) => {
                    let reloader = self.reloader.as_mut().expect("on probation");
                    reloader.roll_back(&mut self.stages, failed, info.id);
                    self.batch(inputs, info, progress).await?;
                }
                _ => return Err(e),
            }
        }
        if let Some(reloader) = &mut self.reloader {
            reloader.batch_done(&mut self.stages, info.id);
        }
        feed::committed(feeds)?;
        let scheduling = started.duration_since(scheduled);
        if self.metrics.is_some() {
            let processing = started.elapsed();
            let row = BatchRow {
                id: info.id,
                time_ms,
                records: records as u64,
                scheduling_ms: scheduling.as_secs_f64() * 1000.0,
                processing_ms: processing.as_secs_f64() * 1000.0,
                status: match self.summary.batches_skipped > skipped_before {
                    true => BatchStatus::Skipped,
                    false => BatchStatus::Ok,
                },
                error: None,
                sources,
                stages: Vec::new(),
            };
            self.measured(feeds, scheduling, processing, row);
        }
        if let Some(figures) = &self.figures {
            let batch = BatchFigures {
                id: info.id,
                time_ms,
                records: records as u64,
                scheduling_ms: scheduling.as_millis() as u64,
                processing_ms: started.elapsed().as_millis() as u64,
            };
            let summary = self.summary.clone();
            figures.send_modify(|f| f.batch_done(summary, batch));
        }
        tracing::debug!(
            pipeline = %self.plan.name,
            batch = info.id,
            scheduling_us = scheduling.as_micros() as u64,
            processing_us = started.elapsed().as_micros() as u64,
            "batch timing"
        );
        if let Some(rate) = &mut clock.rate {
            let measured = BatchTimes {
                time_ms,
                records: records as u64,
                processing: started.elapsed(),
                scheduling,
            };
            if let Some(per_second) = rate.update(measured) {
                feed::throttle(feeds, per_second, clock.interval);
            }
        }
        self.checkpoint_if_due(feeds, info).await?;
        Ok(match pushed_more && (all_ended || stopping) {
            true => Next::Again,
            false => Next::Wait,
        })
    }

    /// Tells the metrics a batch ended: its times, and where the stages
    /// (operators, state, watermarks) and the pull sources now stand.
    fn measured(
        &mut self,
        feeds: &[Feed],
        scheduling: Duration,
        processing: Duration,
        row: BatchRow,
    ) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let stages = &mut self.stages;
        let counted = self.counted.take();
        metrics.batch_ended(counted, scheduling, processing, row, |metrics| {
            metrics.operators(stages.iter().filter_map(|s| Some((s.id(), s.live()?))));
            metrics.stages_kept(stages);
            for feed in feeds {
                if let Input::Pull(Some(source)) = &feed.input {
                    metrics.source_progress(feed.id.as_str(), &source.progress());
                }
            }
        });
    }

    /// Applies one manifest edit before batch `next`.
    async fn apply(
        &mut self,
        edit: Edit,
        feeds: &mut [Feed],
        clock: &mut Clock,
        next: u64,
    ) -> Result<()> {
        match edit {
            Edit::Replan(new, changes) => match self.open_new_sinks(&new) {
                Ok(opened) => {
                    self.replan(*new, opened, feeds).await?;
                    let reloader = self.reloader.as_mut().expect("it asked");
                    reloader.replanned(&self.plan, &mut self.stages, &changes, next);
                }
                Err(e) => {
                    let reloader = self.reloader.as_mut().expect("it asked");
                    reloader.replan_refused(&format!("{e:#}"));
                }
            },
            Edit::Retime(retiming) => {
                self.plan.interval = retiming.interval;
                if let Some(metrics) = &self.metrics {
                    metrics.retimed(retiming.interval);
                }
                *clock = Clock::new(retiming.interval, self.plan.trigger, clock.rate.is_some());
                for feed in feeds.iter_mut() {
                    let cap = retiming.source_caps.iter().find(|(id, _)| *id == feed.id);
                    if let Some((_, cap)) = cap {
                        feed.configured_max = cap.unwrap_or(usize::MAX);
                        feed.max_records = feed.configured_max;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the loop does after a batch.
enum Next {
    /// Wait for the next tick.
    Wait,
    /// Cut another batch at once: a stopping or ended push source has
    /// more than one batch could take.
    Again,
    /// Stop: there is nothing left to run.
    Done,
}
