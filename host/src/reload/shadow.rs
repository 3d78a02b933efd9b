//! Shadows: a candidate version runs beside the live one on the same
//! calls, its output compared and discarded, the differences reported as
//! events; `wasmstream promote` (a file in the control folder) makes it
//! live through the same path as any new version.

use super::events::{Event, What};
use super::{Reloader, Target, short};
use crate::stage::StageRunner;

impl Reloader {
    /// Runs, beside the live version, the shadow each stage `wanted` was
    /// bound with.
    pub(super) fn start_shadows(
        &mut self,
        stages: &mut [StageRunner],
        wanted: impl Fn(&str) -> bool,
    ) {
        for runner in stages.iter_mut() {
            runner.keep_last_calls();
            if !wanted(runner.id()) {
                continue;
            }
            if let Some(shadow) = runner.planned_shadow() {
                runner.set_shadow(Some(shadow.clone()));
                self.shadows.insert(runner.id().to_owned(), shadow);
            }
        }
    }

    /// Reports how each stage's shadow's output differed in batch `id`.
    pub(super) fn report_shadows(&mut self, stages: &mut [StageRunner], id: u64) {
        for runner in stages.iter_mut() {
            let Some(report) = runner.take_shadow_report() else {
                continue;
            };
            if report.compared == 0 && report.differing == 0 && report.failed.is_none() {
                // Nothing reached the stage: nothing to compare.
                continue;
            }
            let reason = match &report.failed {
                Some(failure) => format!("batch {id}: the shadow failed: {failure}"),
                None if report.differing == 0 => {
                    format!("batch {id}: 0 of {} records differ", report.compared)
                }
                None => format!(
                    "batch {id}: {} of {} records differ; e.g. {}",
                    report.differing,
                    report.compared,
                    report.samples.join("; ")
                ),
            };
            if let Some(metrics) = &self.events.metrics {
                metrics.shadow_compared(runner.id(), report.compared, report.differing);
            }
            let mut event = Event::now(What::Shadow, Some(runner.id()), reason);
            event.version = self
                .shadows
                .get(runner.id())
                .map(|s| short(&s.plugin.digest()));
            self.events.record(event);
        }
    }

    /// `wasmstream promote`: the stage's shadow becomes its live version.
    pub(super) fn promote(&mut self, stage: &str, stages: &[StageRunner]) {
        let Some(runner) = stages.iter().find(|s| s.id() == stage) else {
            self.events.record(Event::now(
                What::Refused,
                Some(stage),
                "cannot promote: the pipeline has no such stage",
            ));
            return;
        };
        let Some(shadow) = self.shadows.get(stage).cloned() else {
            self.events.record(Event::now(
                What::Refused,
                Some(stage),
                "cannot promote: the stage has no shadow version",
            ));
            return;
        };
        let candidate = self.candidate(
            runner,
            &shadow,
            Some(shadow.plugin.clone()),
            "promoted from shadow (update the manifest's `component` to keep it after a restart)",
        );
        self.spawn(candidate, Target::Promote);
    }
}
