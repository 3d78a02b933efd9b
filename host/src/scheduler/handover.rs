//! A worker's stateful stages ([`crate::plan::PipelinePlan::as_worker`]):
//! their per-key state follows the partitions of the repartition topic
//! they read. Before a batch runs, the state of each partition the
//! worker's group gave it is read from the stage's changelog, and the
//! state of each partition taken away is forgotten; once a batch is
//! written, its state changes go to the changelog, acknowledged before the
//! batch's input offsets are committed.

use anyhow::{Context, Result};

use super::Scheduler;
use super::feed::{self, Feed};
use crate::connector::kafka::{self, Changelog};
use crate::plan::{Id, PipelinePlan};
use crate::source::Moved;
use crate::stage::StageRunner;
use crate::state::{LogRecord, Logs};

/// What a worker of `plan` needs before it runs: its repartition and
/// changelog topics made, and its changelogs open. Nothing outside
/// workers; blocks the thread (see [`Scheduler::hand_over`]) inside them.
pub(super) fn changelogs(plan: &PipelinePlan) -> Result<Vec<Changelog>> {
    if !plan.is_worker() {
        return Ok(Vec::new());
    }
    tokio::task::block_in_place(|| {
        kafka::make_worker_topics(plan)?;
        plan.changelogs.iter().map(Changelog::open).collect()
    })
}

impl Scheduler {
    /// Takes in what the sources' groups moved since the last batch: each
    /// partition given has its state read back, each taken away its state
    /// forgotten, in the order they moved. Blocks the thread (a
    /// multi-threaded runtime's, as `wasmstream run` has) only in a worker
    /// with changelogs.
    pub(super) fn hand_over(&mut self, feeds: &mut [Feed]) -> Result<()> {
        let moved = feed::moved(feeds);
        if self.changelogs.is_empty() {
            return Ok(());
        }
        tokio::task::block_in_place(|| self.take_in(&moved))
    }

    fn take_in(&mut self, moved: &[(Id, Vec<Moved>)]) -> Result<()> {
        for log in &self.changelogs {
            let stage = stage(&mut self.stages, log);
            let mut states = stage.logs();
            states.iter_mut().for_each(|s| s.start_logging());
            let moves = (moved.iter())
                .filter(|(source, _)| source.as_str() == log.source())
                .flat_map(|(_, moves)| moves);
            for &moved in moves {
                match moved {
                    Moved::Revoked(p) => forget(&mut states, log, p)?,
                    Moved::Assigned(p) => restore(&mut states, log, p)?,
                }
            }
        }
        Ok(())
    }

    /// Writes the state changes of the batch just committed to each
    /// changelog and waits for them to be acknowledged (blocking, as
    /// [`Scheduler::hand_over`]).
    pub(super) fn log_changes(&mut self) -> Result<()> {
        if self.changelogs.is_empty() {
            return Ok(());
        }
        tokio::task::block_in_place(|| self.write_changes())
    }

    fn write_changes(&mut self) -> Result<()> {
        for log in &self.changelogs {
            for state in stage(&mut self.stages, log).logs() {
                let records = state.logged();
                log.write(&records, |key| state.state_key(key))?;
            }
            log.flush()?;
        }
        Ok(())
    }
}

/// The stage whose state `log` keeps.
fn stage<'a>(stages: &'a mut [StageRunner], log: &Changelog) -> &'a mut StageRunner {
    stages
        .iter_mut()
        .find(|s| s.id() == log.stage())
        .expect("a changelog's stage is in the plan")
}

/// Forgets the state of partition `p`, which went to another worker.
fn forget(states: &mut [&mut dyn Logs], log: &Changelog, p: i32) -> Result<()> {
    let mut forgotten = 0;
    for state in states {
        forgotten += (state.forget_moved(&|key| log.owns(p, key))).with_context(|| {
            format!(
                "stage `{}`: cannot forget partition {p}'s state",
                log.stage()
            )
        })?;
    }
    tracing::info!(
        stage = log.stage(),
        partition = p,
        forgotten,
        "state of a partition moved to another worker forgotten"
    );
    Ok(())
}

/// Reads partition `p`'s state, given to this worker, from its changelog
/// into the stage's partitions (by the in-memory exchange's hash of each
/// state's key).
fn restore(states: &mut [&mut dyn Logs], log: &Changelog, p: i32) -> Result<()> {
    let records = log.read(p)?;
    let (read, n) = (records.len(), states.len());
    let mut routed: Vec<Vec<LogRecord>> = (0..n).map(|_| Vec::new()).collect();
    for record in records {
        let home = match states.first() {
            Some(state) => kafka::home(state.state_key(&record.key), n),
            None => break,
        };
        routed[home].push(record);
    }
    for (state, records) in states.iter_mut().zip(routed) {
        state.take_in(records).with_context(|| {
            format!(
                "stage `{}`: cannot restore partition {p}'s state from changelog `{}`",
                log.stage(),
                log.topic()
            )
        })?;
    }
    tracing::info!(
        stage = log.stage(),
        partition = p,
        records = read,
        "state of a partition given to this worker read from its changelog"
    );
    Ok(())
}
