//! `union`: the inputs' records, merged, as they come. A union runs no
//! operator and keeps nothing: it hands on its inputs' partitions as its
//! own, so it is a stage without partitions of its own rather than a
//! [`super::kind::Kind`].

use std::future::Future;
use std::pin::Pin;

use super::kind::{Context, Keeps, Operators};
use super::partitions::{Done, Failed, Lent, Partitions};
use crate::checkpoint::{Bad, Reader, Writer};
use crate::record::Batch;
use crate::state::{Logs, PartitionState};

/// A union stage.
pub(crate) struct Union;

impl Partitions for Union {
    fn len(&self) -> usize {
        0
    }

    fn run(
        &mut self,
        inputs: Vec<Vec<Batch>>,
        _: Context,
        _: Option<std::sync::Arc<str>>,
    ) -> Pin<Box<dyn Future<Output = Result<Done, Failed>> + Send + '_>> {
        let records: Vec<Batch> = inputs.into_iter().flatten().collect();
        Box::pin(std::future::ready(Ok(Done {
            records,
            ..Done::default()
        })))
    }

    fn commit(&mut self, _: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn discard(&mut self) {}

    fn keeps(&self) -> Keeps {
        Keeps::Nothing
    }

    fn watermark_delay(&self) -> Option<i64> {
        None
    }

    fn save(&self, _: &mut Writer<'_>) -> std::io::Result<()> {
        Ok(())
    }

    fn load(&mut self, p: usize, _: &mut Reader<'_>) -> Result<(), Bad> {
        Err(format!("a union has no partition {p}"))
    }

    fn operators(&self) -> Vec<&Operators> {
        Vec::new()
    }

    fn operators_mut(&mut self) -> Vec<&mut Operators> {
        Vec::new()
    }

    fn keyed(&mut self) -> Vec<&mut PartitionState> {
        Vec::new()
    }

    fn logs(&mut self) -> Vec<&mut dyn Logs> {
        Vec::new()
    }

    /// A union calls no operator.
    fn bound(&mut self, _: super::Calls) {}

    fn calls(&self) -> Option<super::Calls> {
        None
    }

    fn split(&self, inputs: Vec<Vec<Batch>>) -> Vec<Vec<Batch>> {
        inputs
    }

    /// A union has no partitions to lend (and is never fused).
    fn lend(&mut self, _: usize) -> Option<Box<dyn Lent>> {
        None
    }

    fn take_back(&mut self, _: usize, _: Box<dyn Lent>) {}
}
