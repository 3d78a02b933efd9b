//! A prepared version going live: in every partition of its stage at
//! once, between two batches, with state and window contents left as they
//! are. The version it replaces is kept while the new one is on
//! probation, and put back if the new one fails a batch.

use std::sync::Arc;

use super::events::{Event, What};
use super::{Done, Reloader, Target, drop_later, short};
use crate::stage::{StageError, StageRunner, WasmOperator};

/// A version gone live, until it has run `left` more batches.
pub(super) struct Probation {
    previous: Arc<WasmOperator>,
    left: u32,
}

impl Reloader {
    /// After batch `id` is written: counts down probations and reports
    /// the shadows' comparisons.
    pub fn batch_done(&mut self, stages: &mut [StageRunner], id: u64) {
        self.probation.retain(|_, p| {
            p.left = p.left.saturating_sub(1);
            p.left > 0
        });
        self.report_shadows(stages, id);
    }

    /// Whether stage `stage` runs a version still on probation.
    pub fn on_probation(&self, stage: &str) -> bool {
        self.probation.contains_key(stage)
    }

    /// Whether any stage does.
    pub fn any_on_probation(&self) -> bool {
        !self.probation.is_empty()
    }

    /// Puts back the version the failed one replaced; the scheduler then
    /// runs batch `batch` again.
    pub fn roll_back(&mut self, stages: &mut [StageRunner], error: &StageError, batch: u64) {
        let Some(probation) = self.probation.remove(&error.stage) else {
            return;
        };
        let Some(runner) = stages.iter_mut().find(|s| s.id() == error.stage) else {
            return;
        };
        let (failed, instances) = runner.swap(probation.previous.clone(), Vec::new());
        drop_later(instances);
        let mut event = Event::now(
            What::RolledBack,
            Some(&error.stage),
            format!("the new version failed batch {batch} on probation: {error}"),
        );
        event.version = Some(short(&probation.previous.plugin.digest()));
        event.previous = failed.map(|f| short(&f.plugin.digest()));
        event.first_batch = Some(batch);
        event.file = Some(probation.previous.plugin.path().display().to_string());
        self.events.record(event);
    }

    /// Swaps in a prepared version, or records why it was refused.
    pub(super) fn apply(&mut self, done: Done, stages: &mut [StageRunner], next: u64) {
        let stage = match &done.result {
            Ok(prepared) => prepared.stage.clone(),
            Err(refusal) => refusal.stage.clone(),
        };
        if self.generation.get(&stage) != Some(&done.generation) {
            // A newer change of the same stage is being prepared.
            return;
        }
        let mut prepared = match done.result {
            Ok(prepared) => prepared,
            Err(refusal) => {
                let mut event = Event::now(
                    What::Refused,
                    Some(&refusal.stage),
                    format!(
                        "{}; the live version keeps running (the next change of the file is tried again)",
                        refusal.reason
                    ),
                );
                event.version = refusal.version;
                event.file = Some(refusal.file.display().to_string());
                self.events.record(event);
                return;
            }
        };
        let Some(runner) = stages.iter_mut().find(|s| s.id() == stage) else {
            return;
        };
        let version = short(&prepared.op.plugin.digest());
        let file = prepared.op.plugin.path().display().to_string();
        if done.target == Target::Shadow {
            runner.set_shadow(Some(prepared.op.clone()));
            self.shadows.insert(stage.clone(), prepared.op);
            let mut event = Event::now(What::ShadowStarted, Some(&stage), prepared.reason);
            event.version = Some(version);
            event.first_batch = Some(next);
            event.file = Some(file);
            self.events.record(event);
            return;
        }
        // A version that converts state does so now, all keys at once,
        // before its first batch; it cannot be rolled back after (the old
        // version could not read what it converted).
        let mut reason = prepared.reason;
        let mut migrated = false;
        if prepared.op.plugin.migrates()
            && let Some(live) = runner.live()
            && live.plugin.digest() != prepared.op.plugin.digest()
        {
            match runner.migrate_state(&live.plugin.digest(), &mut prepared.instances) {
                Ok(keys) => {
                    migrated = true;
                    reason.push_str(&format!(
                        "; migrate-state converted {keys} keys' state from {}",
                        short(&live.plugin.digest())
                    ));
                }
                Err(why) => {
                    let mut event = Event::now(
                        What::Refused,
                        Some(&stage),
                        format!(
                            "its migrate-state failed: {why}; the state is unchanged and the live version keeps running"
                        ),
                    );
                    event.version = Some(version);
                    event.file = Some(file);
                    self.events.record(event);
                    return;
                }
            }
        }
        let (previous, replaced) = runner.swap(prepared.op.clone(), prepared.instances);
        drop_later(replaced);
        if done.target == Target::Promote {
            runner.set_shadow(None);
            self.shadows.remove(&stage);
        }
        let what = match done.target {
            Target::Promote => What::Promoted,
            _ => What::Reloaded,
        };
        let mut event = Event::now(what, Some(&stage), reason);
        event.version = Some(version);
        event.previous = previous.as_ref().map(|p| short(&p.plugin.digest()));
        event.first_batch = Some(next);
        event.file = Some(file);
        self.events.record(event);
        match previous {
            Some(previous) if self.probation_batches > 0 && !migrated => {
                self.probation.insert(
                    stage,
                    Probation {
                        previous,
                        left: self.probation_batches,
                    },
                );
            }
            _ => {}
        }
    }
}
