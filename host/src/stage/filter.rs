//! `filter`: keep or drop each record.

use std::sync::Arc;

use super::kind::{Context, Kind, Operators, Ran, Setup};
use super::{Call, Worker};
use crate::operator::Operator;
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;

/// A filter stage.
pub(crate) struct Filter(pub Operator);

impl Kind for Filter {
    type State = ();
    type Pending = ();

    fn operators(&self, label: &Arc<str>) -> Operators {
        Operators::one(Worker::new(&self.0, label.clone()))
    }

    fn state(&self, _: &Setup<'_>) {}

    fn route(&self, side: Vec<Batch>, partitions: usize) -> Vec<Batch> {
        shuffle::rebalance(side, partitions)
    }

    fn run(
        &self,
        ops: &mut Operators,
        _: &(),
        inputs: &[Batch],
        _: &Context,
    ) -> Result<Ran<()>, Failure> {
        let input = &inputs[0];
        if input.is_empty() {
            return Ok(Ran::records(Batch::default()));
        }
        let keep = ops.main().filter(input)?;
        let kept = keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i);
        Ok(Ran::records(input.select(kept)))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }

    fn remember(&self, ops: &mut Operators, input: Batch) {
        ops.main().remember(Call::Filter(input));
    }
}
