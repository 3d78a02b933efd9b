//! Fused chains: runs of narrow stages (map, filter, flat-map) that the
//! engine runs as one task per partition, each partition's records passed
//! from one operator to the next on the same thread instead of back
//! through the scheduler between stages, as Flink chains operators and
//! Spark pipelines narrow dependencies within a stage.
//!
//! Fusing changes where operators run, not what they see: each stage keeps
//! its partitions, its operator versions (hot reload swaps them one stage
//! at a time), its dead letters and its name in errors.

use std::collections::HashMap;
use std::ops::Range;

use super::{PipelinePlan, StagePlan, Stream};

impl PipelinePlan {
    /// The stages as the engine runs them: runs of consecutive stages, in
    /// plan order, each run a range of indexes into
    /// [`PipelinePlan::stages`]. A stage joins the run of the stage just
    /// before it when both are narrow, it reads that stage alone, nothing
    /// else reads that stage, and both have the same parallelism; every
    /// other stage is a run of its own.
    pub fn chains(&self) -> Vec<Range<usize>> {
        let readers = self.readers();
        let mut chains: Vec<Range<usize>> = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let joins = i > 0 && fuses(&self.stages[i - 1], stage, &readers);
            match chains.last_mut() {
                Some(chain) if joins => chain.end = i + 1,
                _ => chains.push(i..i + 1),
            }
        }
        chains
    }
}

/// Whether `stage` can run in the same task as `before`, the stage just
/// before it.
fn fuses<Op>(
    before: &StagePlan<Op>,
    stage: &StagePlan<Op>,
    readers: &HashMap<Stream, usize>,
) -> bool {
    let upstream = Stream::Stage(before.id.clone());
    before.step.narrow()
        && stage.step.narrow()
        && before.parallelism == stage.parallelism
        && stage.inputs == [upstream.clone()]
        && readers.get(&upstream) == Some(&1)
}
