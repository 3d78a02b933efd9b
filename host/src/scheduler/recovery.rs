//! Checkpoints, and resuming from them: the newest usable checkpoint is
//! loaded, then the batches logged after it are replayed from their
//! recorded input, so the output is what an uninterrupted run writes.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use super::Scheduler;
use super::feed::{self, Feed, Input};
use crate::checkpoint::Header;
use crate::sink::{BatchInfo, Progress};

impl Scheduler {
    /// Resumes a checkpointed pipeline: loads its newest usable
    /// checkpoint (or writes a first, empty one) and replays the batches
    /// logged since, each from its recorded input.
    pub(super) async fn recover(&mut self, feeds: &mut [Feed]) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let Some(loaded) = store.latest(&self.plan.name)? else {
            // Batch 0: nothing read, nothing kept.
            return self.checkpoint(feeds).await;
        };
        let header = &loaded.header;
        let ids: Vec<&str> = self.plan.stages.iter().map(|s| s.id.as_str()).collect();
        if header.stages != ids {
            bail!(
                "checkpoint {} holds stages [{}] but the manifest has [{}]; a changed pipeline cannot resume from it (start over with --fresh)",
                loaded.path.display(),
                header.stages.join(", "),
                ids.join(", ")
            );
        }
        let mut states = loaded.states();
        for runner in &mut self.stages {
            runner
                .restore(&mut states)
                .map_err(|why| anyhow!("checkpoint {}: {why}", loaded.path.display()))?;
        }
        for feed in feeds.iter_mut() {
            let Input::Pull(Some(source)) = &mut feed.input else {
                continue;
            };
            let position = header.sources.get(feed.id.as_str()).with_context(|| {
                format!(
                    "checkpoint {} has no position for source `{}`",
                    loaded.path.display(),
                    feed.id
                )
            })?;
            source.seek(position)?;
        }
        self.summary = header.summary.clone();
        self.checkpointed = header.batch;
        self.input_ended = header.input_ended;
        self.run = header.run;
        tracing::info!(
            pipeline = %self.plan.name,
            checkpoint = %loaded.path.display(),
            batch = header.batch,
            "resuming from checkpoint"
        );
        drop(loaded);

        let intents = store.intents_after(self.checkpointed)?;
        if let (Some(first), Some(last)) = (intents.first(), intents.last()) {
            tracing::info!(
                pipeline = %self.plan.name,
                "replaying batches {} to {} from the intent log",
                first.batch,
                last.batch
            );
        }
        for intent in intents {
            let inputs = feed::replay(feeds, &intent).await?;
            let info = BatchInfo {
                id: intent.batch,
                time_ms: intent.time_ms,
                end_of_input: intent.end_of_input,
            };
            let progress = self.progress(feeds);
            self.batch(inputs, info, progress).await?;
            feed::committed(feeds)?;
            self.checkpoint_if_due(feeds, info).await?;
        }
        Ok(())
    }

    /// Where the pull sources stand now, for the sinks.
    pub(super) fn progress(&self, feeds: &[Feed]) -> Progress {
        Progress {
            run: self.run,
            sources: feed::positions(feeds),
        }
    }

    /// Checkpoints after `batch` if it is time to.
    pub(super) async fn checkpoint_if_due(
        &mut self,
        feeds: &[Feed],
        batch: BatchInfo,
    ) -> Result<()> {
        let Some(plan) = &self.plan.checkpoint else {
            return Ok(());
        };
        if batch.id >= self.checkpointed + plan.every || batch.end_of_input {
            self.checkpoint(feeds).await?;
        }
        Ok(())
    }

    /// Writes a checkpoint of the batch just committed.
    pub(super) async fn checkpoint(&mut self, feeds: &[Feed]) -> Result<()> {
        let store = self.store.as_mut().expect("a checkpointed pipeline");
        let started = Instant::now();
        let header = Header {
            pipeline: self.plan.name.clone(),
            batch: self.summary.batches,
            sources: feed::positions(feeds),
            stages: self.plan.stages.iter().map(|s| s.id.to_string()).collect(),
            summary: self.summary.clone(),
            input_ended: self.input_ended,
            run: self.run,
        };
        let stages = &self.stages;
        let bytes = tokio::task::block_in_place(|| {
            store.write(&header, |out| stages.iter().try_for_each(|s| s.save(out)))
        })?;
        self.checkpointed = header.batch;
        if let Some(metrics) = &self.metrics {
            metrics.checkpointed(header.batch, started.elapsed(), bytes);
        }
        tracing::debug!(
            pipeline = %self.plan.name,
            batch = header.batch,
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }
}
