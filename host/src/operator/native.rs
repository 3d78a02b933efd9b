//! Operators written as Rust closures, run in the host without a sandbox.
//! They exist so a benchmark can run the very same pipeline natively and
//! compare; untrusted code never takes this path.

use std::sync::Arc;

use crate::plugin::Failure;
use crate::record::{Batch, ByteList, RecordRef};

type MapFn = dyn Fn(RecordRef<'_>, &mut Batch) -> Result<(), String> + Send + Sync;
type FilterFn = dyn Fn(RecordRef<'_>) -> Result<bool, String> + Send + Sync;
type ReduceFn =
    dyn Fn(&[u8], &mut dyn Iterator<Item = &[u8]>) -> Result<Vec<u8>, String> + Send + Sync;

/// A native operator of one kind.
#[derive(Clone)]
pub enum NativeOperator {
    /// Pushes exactly one record into the output per input.
    Map(Arc<MapFn>),
    /// Keeps a record when it returns true.
    Filter(Arc<FilterFn>),
    /// Pushes any number of records into the output per input.
    FlatMap(Arc<MapFn>),
    /// Folds all values of a key (in a batch) into one.
    Reduce(Arc<ReduceFn>),
}

fn rejected(record: usize, message: String) -> Failure {
    Failure::Rejected {
        record: Some(record as u32),
        message,
    }
}

impl NativeOperator {
    /// A reduce adding decimal integers (counts).
    pub fn sum() -> Self {
        NativeOperator::Reduce(Arc::new(|_, values| {
            let mut total = 0i64;
            for value in values {
                total = total
                    .checked_add(decimal(value)?)
                    .ok_or("a count overflows a 64-bit integer")?;
            }
            Ok(total.to_string().into_bytes())
        }))
    }

    /// A reduce taking the rest of the values away from the first: the
    /// inverse of [`NativeOperator::sum`].
    pub fn subtract() -> Self {
        NativeOperator::Reduce(Arc::new(|_, values| {
            let mut total = values.next().map_or(Ok(0), decimal)?;
            for value in values {
                total = total
                    .checked_sub(decimal(value)?)
                    .ok_or("a count overflows a 64-bit integer")?;
            }
            Ok(total.to_string().into_bytes())
        }))
    }

    pub(crate) fn map(&self, input: &Batch) -> Result<Batch, Failure> {
        let (NativeOperator::Map(f) | NativeOperator::FlatMap(f)) = self else {
            return Err(wrong_kind("map"));
        };
        let mut out = Batch::with_capacity(input.len(), input.values.data.len());
        for (i, record) in input.iter().enumerate() {
            f(record, &mut out).map_err(|e| rejected(i, e))?;
        }
        Ok(out)
    }

    pub(crate) fn flat_map(&self, input: &Batch) -> Result<Batch, Failure> {
        self.map(input)
    }

    pub(crate) fn filter(&self, input: &Batch) -> Result<Vec<bool>, Failure> {
        let NativeOperator::Filter(f) = self else {
            return Err(wrong_kind("filter"));
        };
        input
            .iter()
            .enumerate()
            .map(|(i, record)| f(record).map_err(|e| rejected(i, e)))
            .collect()
    }

    pub(crate) fn reduce(
        &self,
        keys: &ByteList,
        values: &ByteList,
        group_ends: &[u32],
    ) -> Result<ByteList, Failure> {
        let NativeOperator::Reduce(f) = self else {
            return Err(wrong_kind("reduce"));
        };
        let mut out = ByteList::with_capacity(group_ends.len(), 0);
        let mut first = 0usize;
        for (group, &end) in group_ends.iter().enumerate() {
            let mut group_values = (first..end as usize).map(|i| values.get(i));
            let folded = f(keys.get(group), &mut group_values).map_err(|e| rejected(first, e))?;
            out.push(&folded);
            first = end as usize;
        }
        Ok(out)
    }
}

fn wrong_kind(call: &str) -> Failure {
    Failure::BadOutput(format!(
        "native operator called as a {call}, which it is not"
    ))
}

fn decimal(value: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "{:?} is not a decimal integer",
                String::from_utf8_lossy(value)
            )
        })
}
