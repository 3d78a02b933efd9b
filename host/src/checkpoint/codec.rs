//! The binary layout of checkpoint files: a magic and a format version,
//! then values encoded with serde through `postcard`, all written through
//! a SHA-256 so the file ends with its own checksum. Reading checks the
//! checksum first, then every value as it is decoded; a damaged file is an
//! error, never a panic or a huge allocation.
//!
//! Version 1 (before the plan became data) laid values out by hand; it is
//! refused by name rather than misread.

use std::borrow::Cow;
use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::record::{Batch, ByteList};

/// What every checkpoint file starts with, before its format version.
const MAGIC: &[u8] = b"WSCKPT\x00";
/// The format this build writes and reads.
pub const VERSION: u8 = 2;

/// Writes values and hashes every byte written.
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    hash: Sha256,
    written: u64,
    /// Reused to encode each value.
    scratch: Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer into `out`, which starts the file with the magic and the
    /// format version.
    pub fn new(out: &'a mut dyn Write) -> std::io::Result<Self> {
        let mut writer = Writer {
            out,
            hash: Sha256::new(),
            written: 0,
            scratch: Vec::new(),
        };
        writer.raw(MAGIC)?;
        writer.raw(&[VERSION])?;
        Ok(writer)
    }

    /// Writes bytes as they are, hashed like the rest (the checkpoint
    /// fuzz target frames its input with this).
    pub fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    /// Writes one value.
    pub fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> std::io::Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let encoded = postcard::to_extend(value, scratch).map_err(std::io::Error::other)?;
        let written = self.raw(&encoded);
        self.scratch = encoded;
        written
    }

    /// Writes a batch, column by column.
    pub fn batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        self.put(&Columns::of(batch))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the checksum of everything before it.
    pub fn finish(mut self) -> std::io::Result<()> {
        let sum = self.hash.finalize_reset();
        self.out.write_all(&sum)
    }
}

/// Reads values back, failing (not panicking) on a short or bad file.
pub struct Reader<'a> {
    data: &'a [u8],
}

/// Why a checkpoint could not be read.
pub type Bad = String;

/// Why a checkpoint file is not read.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// Another format version: not damaged, but not for this build.
    #[error(
        "it is in checkpoint format version {found}, and this wasmstream reads version {VERSION} only"
    )]
    Version {
        /// The file's version.
        found: u8,
    },
    /// Damaged, cut short, or not a checkpoint.
    #[error("{0}")]
    Damaged(Bad),
    /// Whole, but written by another pipeline.
    #[error("it belongs to pipeline `{0}`")]
    Elsewhere(String),
}

impl<'a> Reader<'a> {
    /// A reader over a whole file, once its version and checksum are
    /// checked.
    pub fn checked(file: &'a [u8]) -> Result<Self, Unreadable> {
        let damaged = |why: &str| Unreadable::Damaged(why.to_owned());
        if !file.starts_with(MAGIC) {
            return Err(damaged("it is not a wasmstream checkpoint"));
        }
        match file.get(MAGIC.len()) {
            Some(&VERSION) => {}
            Some(&found) => return Err(Unreadable::Version { found }),
            None => return Err(damaged("it is cut short")),
        }
        let head = MAGIC.len() + 1;
        if file.len() < head + 32 {
            return Err(Unreadable::Damaged(format!(
                "it is cut short ({} bytes)",
                file.len()
            )));
        }
        let (body, sum) = file.split_at(file.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(damaged(
                "its checksum does not match (the file is damaged or was cut short)",
            ));
        }
        Ok(Reader {
            data: &body[head..],
        })
    }

    /// A reader over checksummed `data` (without its checksum).
    pub(super) fn resume(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// Reads one value.
    pub fn take<T: Deserialize<'a>>(&mut self) -> Result<T, Bad> {
        let (value, rest) = postcard::take_from_bytes(self.data)
            .map_err(|e| format!("a value does not read back ({e})"))?;
        self.data = rest;
        Ok(value)
    }

    /// A count of items at least `item` bytes each, checked against what
    /// is left so a bad count cannot make a huge allocation.
    pub fn count(&mut self, item: usize) -> Result<usize, Bad> {
        let n: u64 = self.take()?;
        if n.saturating_mul(item.max(1) as u64) > self.data.len() as u64 {
            return Err("a count is larger than the rest of the file".into());
        }
        Ok(n as usize)
    }

    /// Reads a batch, checked whole.
    pub fn batch(&mut self) -> Result<Batch, Bad> {
        let batch = self.take::<Columns<'_>>()?.into_batch();
        batch.check().map_err(|e| e.to_string())?;
        Ok(batch)
    }

    /// Whether everything has been read.
    pub fn at_end(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.data.len()
    }
}

/// A batch as a checkpoint lays it out: its columns.
#[derive(Serialize, Deserialize)]
struct Columns<'a> {
    #[serde(borrow)]
    keys: List<'a>,
    has_key: Cow<'a, [bool]>,
    #[serde(borrow)]
    values: List<'a>,
    timestamps: Cow<'a, [i64]>,
    header_owners: Cow<'a, [u32]>,
    #[serde(borrow)]
    header_names: List<'a>,
    #[serde(borrow)]
    header_values: List<'a>,
}

/// A [`ByteList`] as a checkpoint lays it out.
#[derive(Serialize, Deserialize)]
struct List<'a> {
    #[serde(borrow, with = "serde_bytes")]
    data: Cow<'a, [u8]>,
    ends: Cow<'a, [u32]>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a Batch) -> Self {
        let list = |l: &'a ByteList| List {
            data: Cow::Borrowed(&l.data),
            ends: Cow::Borrowed(&l.ends),
        };
        Columns {
            keys: list(&batch.keys),
            has_key: Cow::Borrowed(&batch.has_key),
            values: list(&batch.values),
            timestamps: Cow::Borrowed(&batch.timestamps),
            header_owners: Cow::Borrowed(&batch.header_owners),
            header_names: list(&batch.header_names),
            header_values: list(&batch.header_values),
        }
    }

    fn into_batch(self) -> Batch {
        let list = |l: List<'_>| ByteList {
            data: l.data.into_owned(),
            ends: l.ends.into_owned(),
        };
        Batch {
            keys: list(self.keys),
            has_key: self.has_key.into_owned(),
            values: list(self.values),
            timestamps: self.timestamps.into_owned(),
            header_owners: self.header_owners.into_owned(),
            header_names: list(self.header_names),
            header_values: list(self.header_values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(values: impl FnOnce(&mut Writer<'_>) -> std::io::Result<()>) -> Vec<u8> {
        let mut file = Vec::new();
        let mut out = Writer::new(&mut file).unwrap();
        values(&mut out).unwrap();
        out.finish().unwrap();
        file
    }

    #[test]
    fn values_read_back_as_written() {
        let file = written(|out| {
            out.put(&7u64)?;
            out.put(&(-3i64, serde_bytes::Bytes::new(b"k\xff"), Some(9i64)))?;
            out.put("text")
        });
        let mut input = Reader::checked(&file).unwrap();
        assert_eq!(input.take::<u64>().unwrap(), 7);
        let (n, bytes, time): (i64, &serde_bytes::Bytes, Option<i64>) = input.take().unwrap();
        assert_eq!((n, bytes.as_ref(), time), (-3, &b"k\xff"[..], Some(9)));
        assert_eq!(input.take::<&str>().unwrap(), "text");
        assert!(input.at_end());
    }

    #[test]
    fn a_batch_reads_back_whole() {
        let mut batch = Batch::default();
        batch.push(Some(b"k"), b"v\x00", 5);
        batch.push(None, b"", -1);
        batch.header_owners.push(1);
        batch.header_names.push(b"h");
        batch.header_values.push(b"\xff");
        let file = written(|out| out.batch(&batch));
        let read = Reader::checked(&file).unwrap().batch().unwrap();
        assert_eq!(format!("{read:?}"), format!("{batch:?}"));
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let mut file = written(|out| out.put(&42u64));
        file[9] ^= 1;
        let error = Reader::checked(&file).err().unwrap();
        assert!(error.to_string().contains("checksum"), "{error}");
    }

    #[test]
    fn another_format_version_is_named() {
        let mut file = written(|out| out.put(&42u64));
        file[MAGIC.len()] = 1;
        let error = Reader::checked(&file).err().unwrap();
        assert!(matches!(error, Unreadable::Version { found: 1 }));
        assert_eq!(
            error.to_string(),
            "it is in checkpoint format version 1, and this wasmstream reads version 2 only"
        );
    }

    #[test]
    fn a_huge_count_is_refused_without_allocating() {
        let file = written(|out| out.put(&u64::MAX));
        let mut input = Reader::checked(&file).unwrap();
        assert!(input.count(1).unwrap_err().contains("larger than the rest"));
    }
}
