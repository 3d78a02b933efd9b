//! The values on every edge of the pipeline: [`Batch`] and [`ByteList`].
//!
//! A batch is columnar, exactly as the WIT contract lays it out (see
//! `wit/operator.wit`), so handing one to a Wasm operator is a handful of
//! bulk copies and no per-record conversion. Sources build batches with
//! [`Batch::push`]; shuffles and sinks read them with [`Batch::get`] and
//! [`Batch::iter`].

mod display;

pub use display::{display, escape, write_display};

use std::borrow::Cow;
use std::ops::Range;

pub use crate::plugin::bindings::{Batch, ByteList};

/// A batch or list whose lengths and offsets break the layout the WIT
/// promises: what it is and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

/// The records of a batch, in order ([`Batch::iter`]).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    batch: &'a Batch,
    /// The next record, and where its key, value and headers start.
    next: usize,
    key_at: usize,
    value_at: usize,
    header_at: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = RecordRef<'a>;

    fn next(&mut self) -> Option<RecordRef<'a>> {
        let b = self.batch;
        let i = self.next;
        let timestamp = *b.timestamps.get(i)?;
        let (key_end, value_end) = (b.keys.ends[i] as usize, b.values.ends[i] as usize);
        let key = b.has_key[i].then(|| &b.keys.data[self.key_at..key_end]);
        let value = &b.values.data[self.value_at..value_end];
        // Header owners ascend (the layout the WIT promises, checked for
        // every guest's output).
        let owners = &b.header_owners;
        let mut first = self.header_at;
        while owners.get(first).is_some_and(|&o| (o as usize) < i) {
            first += 1;
        }
        let mut end = first;
        while owners.get(end).is_some_and(|&o| o as usize == i) {
            end += 1;
        }
        (self.next, self.key_at, self.value_at, self.header_at) = (i + 1, key_end, value_end, end);
        Some(RecordRef {
            key,
            value,
            timestamp,
            headers: match first == end {
                true => Headers::NONE,
                false => Headers {
                    batch: Some(b),
                    range: (first, end),
                },
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batch.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Records<'_> {}

/// One record, borrowed from a batch.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The key, if the record has one.
    pub key: Option<&'a [u8]>,
    /// The value.
    pub value: &'a [u8],
    /// Event time, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `(name, value)` headers, in order.
    pub headers: Headers<'a>,
}

/// The headers of one record, borrowed from its batch.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    batch: Option<&'a Batch>,
    range: (usize, usize),
}

impl<'a> Headers<'a> {
    /// No headers.
    pub const NONE: Headers<'static> = Headers {
        batch: None,
        range: (0, 0),
    };

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let batch = self.batch;
        (self.range.0..self.range.1).map(move |h| {
            let b = batch.expect("a non-empty header range has a batch");
            (b.header_names.get(h), b.header_values.get(h))
        })
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.range.0 == self.range.1
    }
}

impl ByteList {
    /// An empty list with room for `items` items of `bytes` bytes in all.
    pub fn with_capacity(items: usize, bytes: usize) -> Self {
        ByteList {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(items),
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The byte range of item `i` in `data`.
    fn range(&self, i: usize) -> Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        start..self.ends[i] as usize
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[self.range(i)]
    }

    /// Appends an item.
    ///
    /// # Panics
    /// If the list would exceed 4 GiB; batches are capped well below that
    /// by the batcher.
    pub fn push(&mut self, item: &[u8]) {
        self.data.extend_from_slice(item);
        self.ends
            .push(u32::try_from(self.data.len()).expect("a batch holds less than 4 GiB"));
    }

    /// Iterates over the items.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let item = &self.data[start..end as usize];
            start = end as usize;
            item
        })
    }

    /// Items `items`: borrowed when that is all of them.
    pub fn part(&self, items: Range<usize>) -> Cow<'_, ByteList> {
        if items == (0..self.len()) {
            return Cow::Borrowed(self);
        }
        let first = if items.start == 0 {
            0
        } else {
            self.ends[items.start - 1]
        };
        let last = if items.is_empty() {
            first
        } else {
            self.ends[items.end - 1]
        };
        Cow::Owned(ByteList {
            data: self.data[first as usize..last as usize].to_vec(),
            ends: self.ends[items].iter().map(|end| end - first).collect(),
        })
    }

    /// Appends every item of `other`: two bulk copies.
    pub fn append(&mut self, other: &ByteList) {
        self.append_part(other, 0..other.len());
    }

    /// Appends items `items` of `other`: two bulk copies.
    ///
    /// # Panics
    /// If the list would exceed 4 GiB, as [`ByteList::push`].
    pub fn append_part(&mut self, other: &ByteList, items: Range<usize>) {
        let first = match items.start {
            0 => 0,
            i => other.ends[i - 1],
        };
        let last = match items.is_empty() {
            true => first,
            false => other.ends[items.end - 1],
        };
        let base = u32::try_from(self.data.len()).expect("a batch holds less than 4 GiB");
        u32::try_from(self.data.len() + (last - first) as usize)
            .expect("a batch holds less than 4 GiB");
        self.data
            .extend_from_slice(&other.data[first as usize..last as usize]);
        self.ends
            .extend(other.ends[items].iter().map(|end| end - first + base));
    }

    /// The items of `lists`, in order.
    pub fn concat(mut lists: Vec<ByteList>) -> ByteList {
        if lists.len() == 1 {
            return lists.pop().expect("one list");
        }
        let mut all = ByteList::with_capacity(0, 0);
        for list in &lists {
            all.append(list);
        }
        all
    }

    /// Checks the layout promised in the WIT: `ends` never decreases and
    /// the last end is the length of `data`. Everything a guest returns is
    /// checked with this before the host reads it.
    pub fn check(&self, what: &str) -> Result<(), Malformed> {
        let mut previous = 0u32;
        for (i, &end) in self.ends.iter().enumerate() {
            if end < previous {
                return Err(Malformed(format!(
                    "{what}: item {i} ends at {end}, before the previous item's end {previous}"
                )));
            }
            previous = end;
        }
        if previous as usize != self.data.len() {
            return Err(Malformed(format!(
                "{what}: items end at byte {previous} but the data holds {} bytes",
                self.data.len()
            )));
        }
        Ok(())
    }
}

impl Default for Batch {
    fn default() -> Self {
        Batch::with_capacity(0, 0)
    }
}

impl Batch {
    /// An empty batch with room for `records` records of `bytes` bytes.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        Batch {
            keys: ByteList::with_capacity(records, 0),
            has_key: Vec::with_capacity(records),
            values: ByteList::with_capacity(records, bytes),
            timestamps: Vec::with_capacity(records),
            header_owners: Vec::new(),
            header_names: ByteList::with_capacity(0, 0),
            header_values: ByteList::with_capacity(0, 0),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Bytes of keys, values and headers: what the batch weighs in memory.
    pub fn byte_size(&self) -> usize {
        self.keys.data.len()
            + self.values.data.len()
            + self.header_names.data.len()
            + self.header_values.data.len()
    }

    /// What record `i`'s key and value weigh.
    pub fn record_bytes(&self, i: usize) -> usize {
        self.keys.get(i).len() + self.values.get(i).len()
    }

    /// Records `records`: borrowed when that is all of them.
    pub fn part(&self, records: Range<usize>) -> Cow<'_, Batch> {
        if records == (0..self.len()) {
            Cow::Borrowed(self)
        } else {
            Cow::Owned(self.slice(records))
        }
    }

    /// The records of `batches`, in order.
    pub fn concat(mut batches: Vec<Batch>) -> Batch {
        if batches.len() == 1 {
            return batches.pop().expect("one batch");
        }
        let mut all = Batch::default();
        for batch in &batches {
            all.extend(batch);
        }
        all
    }

    /// Appends a record without headers.
    pub fn push(&mut self, key: Option<&[u8]>, value: &[u8], timestamp: i64) {
        self.keys.push(key.unwrap_or_default());
        self.has_key.push(key.is_some());
        self.values.push(value);
        self.timestamps.push(timestamp);
    }

    /// Appends a record with its headers.
    pub fn push_record(&mut self, record: RecordRef<'_>) {
        self.push_record_keeping(record, |_| true);
    }

    /// Appends a record with those of its headers whose names `keep`
    /// keeps.
    pub fn push_record_keeping(&mut self, record: RecordRef<'_>, keep: impl Fn(&[u8]) -> bool) {
        let index = self.len() as u32;
        self.push(record.key, record.value, record.timestamp);
        for (name, value) in record.headers.iter().filter(|(name, _)| keep(name)) {
            self.header_owners.push(index);
            self.header_names.push(name);
            self.header_values.push(value);
        }
    }

    /// Appends every record of `other`, a column at a time.
    pub fn extend(&mut self, other: &Batch) {
        self.extend_part(other, 0..other.len());
    }

    /// Appends records `records` of `other`, a column at a time.
    pub fn extend_part(&mut self, other: &Batch, records: Range<usize>) {
        let base = self.len() as u32;
        self.keys.append_part(&other.keys, records.clone());
        self.has_key
            .extend_from_slice(&other.has_key[records.clone()]);
        self.values.append_part(&other.values, records.clone());
        self.timestamps
            .extend_from_slice(&other.timestamps[records.clone()]);
        if other.header_owners.is_empty() {
            return;
        }
        let owners = &other.header_owners;
        let first = owners.partition_point(|&o| (o as usize) < records.start);
        let end = owners.partition_point(|&o| (o as usize) < records.end);
        let start = records.start as u32;
        self.header_owners
            .extend(owners[first..end].iter().map(|&o| o - start + base));
        self.header_names
            .append_part(&other.header_names, first..end);
        self.header_values
            .append_part(&other.header_values, first..end);
    }

    /// Records `records`, copied a column at a time.
    pub fn slice(&self, records: Range<usize>) -> Batch {
        let mut out = Batch::with_capacity(0, 0);
        out.extend_part(self, records);
        out
    }

    /// Record `i`. Its headers are found by binary search, since most
    /// records have none.
    pub fn get(&self, i: usize) -> RecordRef<'_> {
        let first = self
            .header_owners
            .partition_point(|&owner| (owner as usize) < i);
        let end = first + self.header_owners[first..].partition_point(|&owner| owner as usize == i);
        RecordRef {
            key: self.has_key[i].then(|| self.keys.get(i)),
            value: self.values.get(i),
            timestamp: self.timestamps[i],
            headers: if first == end {
                Headers::NONE
            } else {
                Headers {
                    batch: Some(self),
                    range: (first, end),
                }
            },
        }
    }

    /// Iterates over the records, walking the columns in step (no search
    /// for each record's headers, as [`Batch::get`] does).
    pub fn iter(&self) -> Records<'_> {
        Records {
            batch: self,
            next: 0,
            key_at: 0,
            value_at: 0,
            header_at: 0,
        }
    }

    /// The records at `indices`, in that order.
    pub fn select(&self, indices: impl IntoIterator<Item = usize>) -> Batch {
        let mut out = Batch::default();
        for i in indices {
            out.push_record(self.get(i));
        }
        out
    }

    /// Checks every length and offset against the layout the WIT promises.
    /// A guest's output goes through this before anything else reads it.
    pub fn check(&self) -> Result<(), Malformed> {
        let n = self.len();
        let per_record = [
            ("keys", self.keys.len()),
            ("has-key", self.has_key.len()),
            ("values", self.values.len()),
        ];
        for (name, len) in per_record {
            if len != n {
                return Err(Malformed(format!(
                    "`{name}` has {len} entries for {n} records"
                )));
            }
        }
        self.keys.check("keys")?;
        self.values.check("values")?;
        self.header_names.check("header-names")?;
        self.header_values.check("header-values")?;
        let headers = self.header_owners.len();
        if self.header_names.len() != headers || self.header_values.len() != headers {
            return Err(Malformed(format!(
                "{headers} header owners but {} names and {} values",
                self.header_names.len(),
                self.header_values.len()
            )));
        }
        let mut previous = 0;
        for &owner in &self.header_owners {
            if owner < previous || owner as usize >= n {
                return Err(Malformed(format!(
                    "header owner {owner} is out of order or past the {n} records"
                )));
            }
            previous = owner;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record as text, headers included.
    fn shown(batch: &Batch) -> Vec<String> {
        batch.iter().map(|r| display(&r)).collect()
    }

    #[test]
    fn a_slice_or_an_extend_copies_columns_and_keeps_each_records_headers() {
        let mut batch = Batch::default();
        for i in 0..6u8 {
            let (key, value) = ([b'k', b'0' + i], [b'v', b'0' + i]);
            let mut one = Batch::default();
            one.push((i % 2 == 0).then_some(&key[..]), &value, i as i64);
            if i == 1 || i == 4 {
                for h in 0..2u8 {
                    one.header_owners.push(0);
                    one.header_names.push(&[b'h', b'0' + h]);
                    one.header_values.push(&[b'0' + i]);
                }
            }
            batch.push_record(one.get(0));
        }
        let one_by_one = |range: Range<usize>| {
            let mut out = Batch::default();
            range.for_each(|i| out.push_record(batch.get(i)));
            out
        };
        for range in [0..6, 0..0, 1..2, 2..4, 3..6, 4..5] {
            assert_eq!(
                shown(&batch.slice(range.clone())),
                shown(&one_by_one(range.clone()))
            );
        }
        let mut joined = batch.slice(0..3);
        joined.extend(&batch.slice(3..6));
        assert_eq!(shown(&joined), shown(&batch));
        // Walking the columns finds the same records as looking each up.
        let looked_up: Vec<String> = (0..6).map(|i| display(&batch.get(i))).collect();
        assert_eq!(shown(&batch), looked_up);
        assert_eq!(batch.iter().len(), 6);
        assert_eq!(joined.header_owners, [1, 1, 4, 4]);
        assert!(joined.check().is_ok());
    }

    #[test]
    fn records_round_trip_with_headers() {
        let mut headers = Batch::default();
        headers.push(Some(b"k"), b"v1", 5);
        headers.header_owners.push(0);
        headers.header_names.push(b"h");
        headers.header_values.push(b"x");
        headers.push(None, b"v2", 6);

        let mut copy = Batch::default();
        copy.extend(&headers);
        assert_eq!(copy.check(), Ok(()));
        let first = copy.get(0);
        assert_eq!(
            (first.key, first.value, first.timestamp),
            (Some(&b"k"[..]), &b"v1"[..], 5)
        );
        assert_eq!(
            first.headers.iter().collect::<Vec<_>>(),
            vec![(&b"h"[..], &b"x"[..])]
        );
        assert!(copy.get(1).headers.is_empty());
        assert_eq!(display(&copy.get(0)), "(k,v1) h=x");
        assert_eq!(display(&copy.get(1)), "v2");
    }

    #[test]
    fn check_rejects_malformed_guest_output() {
        let mut batch = Batch::default();
        batch.push(None, b"abc", 0);
        batch.values.ends[0] = 7;
        assert_eq!(
            batch.check(),
            Err(Malformed(
                "values: items end at byte 7 but the data holds 3 bytes".into()
            ))
        );

        let mut batch = Batch::default();
        batch.push(None, b"abc", 0);
        batch.has_key.clear();
        assert_eq!(
            batch.check(),
            Err(Malformed("`has-key` has 0 entries for 1 records".into()))
        );
    }
}
