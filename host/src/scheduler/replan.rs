//! A manifest edited while the pipeline runs: its new graph taken over at
//! a batch boundary, keeping the runners (and so the state) of every
//! stage whose shape did not change.

use std::collections::HashMap;

use anyhow::Result;

use super::feed::Feed;
use super::{Scheduler, stage_runner};
use crate::connector;
use crate::plan::{Bound, Id, Shape, SinkPlan, StagePlan};
use crate::sink::Sink;
use crate::stage::StageRunner;

impl Scheduler {
    /// Opens the sinks `new` adds or changes, before anything else of it
    /// is applied: a sink that cannot open leaves the pipeline as it is.
    pub(super) fn open_new_sinks(&self, new: &Bound) -> Result<HashMap<Id, Box<dyn Sink>>> {
        new.plan
            .sinks
            .iter()
            .filter(|plan| !self.plan.sinks.contains(plan))
            .map(|plan| {
                let sink = connector::open_sink(plan, new.plan.checkpoint.is_some())?;
                Ok((plan.id.clone(), sink))
            })
            .collect()
    }

    /// Runs `new` from the next batch on, with `opened` its new sinks:
    /// stages whose shape is unchanged keep their runners, so their
    /// state; new stages start; removed sinks are flushed and closed. The
    /// batch interval stays as it is (a change of it comes as its own
    /// edit). A checkpoint is written at once, so a restart finds the
    /// stages it holds in the manifest.
    pub(super) async fn replan(
        &mut self,
        new: Bound,
        mut opened: HashMap<Id, Box<dyn Sink>>,
        feeds: &[Feed],
    ) -> Result<()> {
        let Bound {
            plan: mut new,
            stages,
        } = new;
        new.interval = self.plan.interval;
        // A worker's stage that now keeps state (or no longer does).
        if new.changelogs != self.plan.changelogs {
            self.changelogs = super::handover::changelogs(&new)?;
        }
        let mut runners: HashMap<Id, (StagePlan, StageRunner)> = self
            .plan
            .stages
            .iter()
            .cloned()
            .zip(std::mem::take(&mut self.stages))
            .map(|(plan, runner)| (plan.id.clone(), (plan, runner)))
            .collect();
        self.stages = new
            .stages
            .iter()
            .zip(&stages)
            .map(|(plan, bound)| match runners.remove(&plan.id) {
                Some((old, runner)) if same_shape(&old, plan) => runner,
                _ => stage_runner(&new, bound, &self.spill, &self.calls),
            })
            .collect();
        let mut sinks: HashMap<Id, (SinkPlan, Box<dyn Sink>)> = self
            .plan
            .sinks
            .iter()
            .cloned()
            .zip(std::mem::take(&mut self.sinks))
            .map(|(plan, sink)| (plan.id.clone(), (plan, sink)))
            .collect();
        for plan in &new.sinks {
            let sink = match opened.remove(&plan.id) {
                Some(sink) => sink,
                None => sinks.remove(&plan.id).expect("an unchanged sink").1,
            };
            self.sinks.push(sink);
        }
        // Sinks replaced or removed: what they were given is written.
        for (id, (_, mut gone)) in sinks {
            if let Err(e) = gone.flush() {
                tracing::warn!(pipeline = %new.name, sink = %id, "closing the sink: {e:#}");
            }
        }
        self.readers = new.readers();
        self.chains = new.chains();
        self.plan = new;
        if self.store.is_some() {
            self.checkpoint(feeds).await?;
        }
        Ok(())
    }
}

/// Whether a stage's runner can go on under the edited plan: it does the
/// same thing over the same partitions from the same inputs (its
/// operator's version is swapped like a changed file, not here).
fn same_shape(old: &StagePlan, new: &StagePlan) -> bool {
    Shape::of(old) == Shape::of(new)
}
