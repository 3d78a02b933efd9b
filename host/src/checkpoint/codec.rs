//! The binary layout of checkpoint files: little-endian integers and
//! length-prefixed byte strings, written through a SHA-256 so the file can
//! end with its own checksum, and read back with every length checked.

use std::io::Write;

use sha2::{Digest as _, Sha256};

use crate::record::{Batch, ByteList};

/// Writes values and hashes every byte written.
pub struct Writer<W: Write> {
    out: W,
    hash: Sha256,
    written: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer {
            out,
            hash: Sha256::new(),
            written: 0,
        }
    }

    pub fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    pub fn u64(&mut self, value: u64) -> std::io::Result<()> {
        self.raw(&value.to_le_bytes())
    }

    pub fn i64(&mut self, value: i64) -> std::io::Result<()> {
        self.raw(&value.to_le_bytes())
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.u64(bytes.len() as u64)?;
        self.raw(bytes)
    }

    pub fn byte_list(&mut self, list: &ByteList) -> std::io::Result<()> {
        self.bytes(&list.data)?;
        self.u64(list.ends.len() as u64)?;
        list.ends
            .iter()
            .try_for_each(|&e| self.raw(&e.to_le_bytes()))
    }

    pub fn batch(&mut self, batch: &Batch) -> std::io::Result<()> {
        self.byte_list(&batch.keys)?;
        let has_key: Vec<u8> = batch.has_key.iter().map(|&h| h as u8).collect();
        self.bytes(&has_key)?;
        self.byte_list(&batch.values)?;
        self.u64(batch.timestamps.len() as u64)?;
        batch.timestamps.iter().try_for_each(|&t| self.i64(t))?;
        self.u64(batch.header_owners.len() as u64)?;
        batch
            .header_owners
            .iter()
            .try_for_each(|&o| self.raw(&o.to_le_bytes()))?;
        self.byte_list(&batch.header_names)?;
        self.byte_list(&batch.header_values)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the checksum of everything before it; returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        let sum = self.hash.finalize_reset();
        self.out.write_all(&sum)?;
        Ok(self.out)
    }
}

/// Reads values back, failing (not panicking) on a short or bad file.
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

/// Why a checkpoint could not be read.
pub type Bad = String;

impl<'a> Reader<'a> {
    /// A reader over a whole file, once its checksum is verified.
    pub fn checked(file: &'a [u8], magic: &[u8]) -> Result<Self, Bad> {
        if file.len() < magic.len() + 32 {
            return Err(format!("it is cut short ({} bytes)", file.len()));
        }
        if !file.starts_with(magic) {
            return Err("it is not a wasmstream checkpoint".into());
        }
        let (body, sum) = file.split_at(file.len() - 32);
        if Sha256::digest(body).as_slice() != sum {
            return Err(
                "its checksum does not match (the file is damaged or was cut short)".into(),
            );
        }
        Ok(Reader {
            data: body,
            at: magic.len(),
        })
    }

    /// A reader over checksummed `data` (without its checksum), from `at`.
    pub(super) fn resume(data: &'a [u8], at: usize) -> Self {
        Reader { data, at }
    }

    pub fn raw(&mut self, len: usize) -> Result<&'a [u8], Bad> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.data.len())
            .ok_or("it ends in the middle of a value")?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    pub fn u64(&mut self) -> Result<u64, Bad> {
        Ok(u64::from_le_bytes(
            self.raw(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn i64(&mut self) -> Result<i64, Bad> {
        Ok(i64::from_le_bytes(
            self.raw(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A count of items at least `item` bytes each, checked against what
    /// is left so a bad count cannot make a huge allocation.
    pub fn count(&mut self, item: usize) -> Result<usize, Bad> {
        let n = self.u64()?;
        let left = (self.data.len() - self.at) as u64;
        if n.saturating_mul(item.max(1) as u64) > left {
            return Err("a count is larger than the rest of the file".into());
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], Bad> {
        let len = self.count(1)?;
        self.raw(len)
    }

    fn u32s(&mut self) -> Result<Vec<u32>, Bad> {
        let n = self.count(4)?;
        let raw = self.raw(n * 4)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    pub fn byte_list(&mut self) -> Result<ByteList, Bad> {
        let data = self.bytes()?.to_vec();
        let ends = self.u32s()?;
        let list = ByteList { data, ends };
        list.check("a list")?;
        Ok(list)
    }

    pub fn batch(&mut self) -> Result<Batch, Bad> {
        let keys = self.byte_list()?;
        let has_key = self.bytes()?.iter().map(|&b| b != 0).collect();
        let values = self.byte_list()?;
        let n = self.count(8)?;
        let timestamps = (0..n).map(|_| self.i64()).collect::<Result<_, _>>()?;
        let header_owners = self.u32s()?;
        let header_names = self.byte_list()?;
        let header_values = self.byte_list()?;
        let batch = Batch {
            keys,
            has_key,
            values,
            timestamps,
            header_owners,
            header_names,
            header_values,
        };
        batch.check()?;
        Ok(batch)
    }

    /// Whether everything has been read.
    pub fn at_end(&self) -> bool {
        self.at == self.data.len()
    }

    /// Bytes not yet read (before the checksum).
    pub fn left(&self) -> usize {
        self.data.len() - self.at
    }
}
