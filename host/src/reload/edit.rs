//! An edited manifest: read and bound again off the batch path, compared
//! with the running plan ([`crate::plan::diff`]), and each change sorted
//! by what it asks: a new operator version or shadow is prepared like a
//! changed file; a new interval or graph is handed to the scheduler at
//! the next boundary; what positions or state were laid out for waits for
//! a restart, and says so.

use super::events::{Event, What};
use super::{Reloader, Retiming, Target, same_version, watch, watched_files};
use crate::manifest::ManifestErrors;
use crate::operator::Operator;
use crate::plan::{Bound, Change, Effect, PipelinePlan};
use crate::stage::StageRunner;

impl Reloader {
    /// The manifest was read again: acts on each way it differs from the
    /// running plan.
    pub(super) fn manifest_read(
        &mut self,
        read: Result<Bound, ManifestErrors>,
        stages: &mut [StageRunner],
    ) {
        let bound = match read {
            Ok(bound) => bound,
            Err(errors) => {
                let message = format!(
                    "the edited manifest has errors; nothing changes: {}",
                    errors.to_string().lines().collect::<Vec<_>>().join("; ")
                );
                self.record_edit(Event::now(What::Refused, None, message));
                return;
            }
        };
        let changes = crate::plan::diff(&self.running, &bound.plan);
        let of = |effect: Effect| -> Vec<&Change> {
            changes.iter().filter(|c| c.effect() == effect).collect()
        };
        if let Some(Change::Interval { from, to }) = of(Effect::Retime).first() {
            self.retime(&bound.plan, *from, *to);
        }
        let restart = of(Effect::Restart);
        let replan = of(Effect::Replan);
        if !restart.is_empty() {
            let message = format!(
                "the manifest changed {}; that cannot change under a running pipeline, so the edit waits for a restart (state resumes from the checkpoint)",
                words(&restart)
            );
            self.record_edit(Event::now(What::NeedsRestart, None, message));
        } else if !replan.is_empty() {
            let said = replan.iter().map(|c| c.to_string()).collect();
            self.replan = Some((bound.clone(), said));
        }
        self.new_versions(&bound, stages);
    }

    /// A new interval, unless a stage's windows count batches of the old
    /// one.
    fn retime(&mut self, plan: &PipelinePlan, from: std::time::Duration, to: std::time::Duration) {
        match self.running.counts_batches() {
            Some(stage) => {
                let message = format!(
                    "the manifest changed the batch interval ({} ms → {} ms), but stage `{}` counts its window in batches of the old interval; the change waits for a restart",
                    from.as_millis(),
                    to.as_millis(),
                    stage.id
                );
                self.record_edit(Event::now(What::NeedsRestart, None, message));
            }
            None => {
                self.retiming = Some(Retiming {
                    interval: to,
                    source_caps: plan
                        .sources
                        .iter()
                        .map(|s| (s.id.clone(), s.max_batch_records))
                        .collect(),
                })
            }
        }
    }

    /// Prepares each operator or shadow the edited manifest runs that is
    /// not what runs now. Compared with the live versions, not the running
    /// plan: a file changed since the plan was made is live already.
    fn new_versions(&mut self, bound: &Bound, stages: &mut [StageRunner]) {
        for stage in &bound.stages {
            let Some(runner) = stages.iter().find(|s| s.id() == stage.id.as_str()) else {
                continue;
            };
            if let (Some(Operator::Wasm(new)), Some(live)) = (stage.step.operator(), runner.live())
                && !same_version(new, &live)
            {
                let reason = if new.plugin.digest() == live.plugin.digest() {
                    "the manifest changed its params or limits"
                } else {
                    "the manifest names another component"
                };
                let candidate = self.candidate(runner, new, Some(new.plugin.clone()), reason);
                self.spawn(candidate, Target::Live);
            }
            let shadow = match &stage.shadow {
                Some(Operator::Wasm(shadow)) => Some(shadow.clone()),
                _ => None,
            };
            match (shadow, self.shadows.get(stage.id.as_str()).cloned()) {
                (Some(new), Some(old)) if same_version(&new, &old) => {}
                (Some(new), _) => {
                    let plugin = Some(new.plugin.clone());
                    let candidate =
                        self.candidate(runner, &new, plugin, "the manifest names a shadow");
                    self.spawn(candidate, Target::Shadow);
                }
                (None, Some(_)) => {
                    self.shadows.remove(stage.id.as_str());
                    if let Some(runner) = stages.iter_mut().find(|s| s.id() == stage.id.as_str()) {
                        runner.set_shadow(None);
                    }
                    self.events.record(Event::now(
                        What::ShadowStopped,
                        Some(&stage.id),
                        "the manifest no longer names a shadow",
                    ));
                }
                (None, None) => {}
            }
        }
    }

    /// The scheduler could not apply an [`Edit::Replan`] (a new sink would
    /// not open); it runs on as it was.
    pub fn replan_refused(&mut self, why: &str) {
        let message =
            format!("the manifest's edit cannot go live: {why}; the pipeline runs on as it was");
        self.record_edit(Event::now(What::Refused, None, message));
    }

    /// The scheduler now runs `plan` (an [`Edit::Replan`]) with `stages`,
    /// from batch `next`: watch its files, run its new stages' shadows,
    /// forget the stages gone.
    pub fn replanned(
        &mut self,
        plan: &PipelinePlan,
        stages: &mut [StageRunner],
        changes: &[String],
        next: u64,
    ) {
        let before = self.running.clone();
        self.start_shadows(stages, |id| before.stage(id).is_none());
        let present = |id: &String| plan.stage(id).is_some();
        self.shadows.retain(|id, _| present(id));
        self.probation.retain(|id, _| present(id));
        self.generation.retain(|id, _| present(id));
        if self.watcher.is_some() {
            match watch::Watcher::new(
                &watched_files(plan),
                std::slice::from_ref(&self.control),
                plan.reload.debounce,
            ) {
                Ok(watcher) => self.watcher = Some(watcher),
                Err(e) => {
                    tracing::warn!(pipeline = %plan.name, "cannot watch the new stages' files: {e:#}")
                }
            }
        }
        self.running = plan.clone();
        let mut event = Event::now(
            What::Changed,
            None,
            format!("the manifest's edit is live: {}", changes.join("; ")),
        );
        event.first_batch = Some(next);
        self.record_edit(event);
    }

    /// Records an event about the manifest.
    fn record_edit(&mut self, mut event: Event) {
        event.file = Some(self.manifest.display().to_string());
        self.events.record(event);
    }
}

/// Changes in words, for an event.
fn words(changes: &[&Change]) -> String {
    changes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
