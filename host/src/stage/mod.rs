//! Stages: where operators run.
//!
//! A stage runs over `parallelism` partitions. Each partition has its own
//! [`Worker`] (for a Wasm operator, its own instance), and all partitions
//! of a batch run in parallel on the blocking pool: one call into the
//! operator per partition per batch, never one per record.
//!
//! Each kind of stage is one file implementing [`kind::Kind`]: how its
//! inputs reach its partitions (as they are, or exchanged by key hash so
//! that each key lives in exactly one partition, see [`crate::shuffle`]),
//! what a partition keeps across batches, and what one batch does. The
//! runner ([`partitions`]) runs any kind the same way, and
//! [`StageRunner`] is a stage as the scheduler and hot reload see it.
//! [`partitions()`] below is the table from plan steps to kinds.

mod calls;
mod chain;
mod distinct;
mod kind;
mod partitions;
mod runner;
mod shadow;
mod worker;

// The kinds.
mod count;
mod event_time;
mod filter;
mod flat_map;
mod interval_join;
mod join;
mod map;
mod process_by_key;
mod reduce;
mod table_join;
mod union;
mod update_state;
mod window;
mod windowed_reduce;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::plan::{JoinOver, StagePlan, Step, Windowing};
use crate::state::SpillFile;
use kind::Kind;
use partitions::{Partitions, Runner};
use reduce::Fold;

pub use crate::operator::{NativeOperator, Operator, WasmOperator};
pub use calls::Calls;
pub use chain::run_chain;
pub use event_time::{WINDOW_END, WINDOW_START};
pub use runner::{DEAD_LETTER_ERROR, DEAD_LETTER_STAGE, StageError, StageOutput, StageRunner};
pub use shadow::{Call, ShadowReport};
pub(crate) use worker::Worker;

/// The partitions of the stage `plan`: its step's kind, run over its
/// parallelism. `label(p)` names partition `p`; per-key state spills to
/// `spill` beyond its budget, if given.
fn partitions(
    plan: &StagePlan<Operator>,
    label: &dyn Fn(usize) -> Arc<str>,
    spill: Option<(&Arc<SpillFile>, usize)>,
) -> Box<dyn Partitions> {
    let build = Build {
        parallelism: plan.parallelism,
        label,
        stage: plan.id.as_str(),
        spill,
    };
    match plan.step.clone() {
        Step::Map(op) => build.of(map::Map(op)),
        Step::Filter(op) => build.of(filter::Filter(op)),
        Step::FlatMap(op) => build.of(flat_map::FlatMap(op)),
        Step::ReduceByKey(op) => build.of(reduce::ReduceByKey(op)),
        Step::CountByValue => build.of(count::CountByValue),
        Step::UpdateStateByKey(op, ttl) => build.of(update_state::UpdateStateByKey(op, ttl)),
        Step::Union => Box::new(union::Union),
        Step::Window { length, slide } => build.of(window::Window { length, slide }),
        Step::ReduceByKeyAndWindow {
            reduce,
            inverse,
            windowing,
        } => build.windowed(Fold::Reduce { reduce, inverse }, windowing),
        Step::CountByValueAndWindow(windowing) => build.windowed(Fold::Count, windowing),
        Step::ProcessByKey { operator, delay } => {
            build.of(process_by_key::ProcessByKey { operator, delay })
        }
        Step::Join {
            how,
            operator,
            over,
        } => match over {
            JoinOver::Batch => build.of(join::Join { how, operator }),
            JoinOver::Interval(interval) => build.of(interval_join::IntervalJoin {
                how,
                operator,
                interval,
            }),
            JoinOver::Table { global, ttl } => build.of(table_join::TableJoin {
                how,
                operator,
                global,
                ttl,
            }),
        },
    }
}

/// What every kind's partitions are made with.
struct Build<'a> {
    parallelism: usize,
    label: &'a dyn Fn(usize) -> Arc<str>,
    stage: &'a str,
    spill: Option<(&'a Arc<SpillFile>, usize)>,
}

impl Build<'_> {
    fn of<K: Kind>(&self, kind: K) -> Box<dyn Partitions> {
        let runner = Runner::new(kind, self.parallelism, self.label, self.stage, self.spill);
        Box::new(runner)
    }

    fn windowed(&self, fold: Fold, windowing: Windowing) -> Box<dyn Partitions> {
        match windowing {
            Windowing::Batches { length, slide } => self.of(windowed_reduce::WindowedReduce {
                fold,
                length,
                slide,
            }),
            Windowing::EventTime(spec) => self.of(event_time::EventTimeReduce { fold, spec }),
        }
    }
}
