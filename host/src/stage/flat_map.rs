//! `flatMap`: one record in, zero or more out.

use std::sync::Arc;

use super::kind::{Context, Kind, Operators, Ran, Setup};
use super::{Call, Worker};
use crate::operator::Operator;
use crate::plugin::Failure;
use crate::record::Batch;
use crate::shuffle;

/// A flat-map stage.
pub(crate) struct FlatMap(pub Operator);

impl Kind for FlatMap {
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
        Ok(Ran::records(ops.main().flat_map(input)?))
    }

    fn commit(_: &mut (), _: ()) -> anyhow::Result<()> {
        Ok(())
    }

    fn remember(&self, ops: &mut Operators, input: Batch) {
        ops.main().remember(Call::FlatMap(input));
    }
}
