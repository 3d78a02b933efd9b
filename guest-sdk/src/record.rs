//! One record, as an operator author sees it, and the columnar batch it is
//! read from and written back to.

use std::borrow::Cow;

use crate::Error;
use crate::bindings::{Batch, ByteList};

/// One record: an optional key, a value, an event time and headers.
///
/// Parts borrowed from the input batch stay borrowed until the output is
/// written, so passing a key or value through costs no copy.
///
/// ```
/// use wasmstream_guest::Record;
///
/// let record = Record::new("Hello").with_key("greeting");
/// assert_eq!(record.value_str().unwrap(), "Hello");
/// assert_eq!(record.key.as_deref(), Some(&b"greeting"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The key, if the record has one.
    pub key: Option<Cow<'a, [u8]>>,
    /// The value.
    pub value: Cow<'a, [u8]>,
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Headers, in order.
    pub headers: Vec<Header<'a>>,
}

/// A record header: a name and a value.
///
/// ```
/// use wasmstream_guest::{Header, Record};
///
/// let mut record = Record::new("body");
/// record.headers.push(Header::new("content-type", "text/plain"));
/// assert_eq!(record.header("content-type"), Some(&b"text/plain"[..]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's name.
    pub name: Cow<'a, [u8]>,
    /// The header's value.
    pub value: Cow<'a, [u8]>,
}

impl<'a> Header<'a> {
    /// A header from anything that can be viewed as bytes.
    ///
    /// ```
    /// let header = wasmstream_guest::Header::new("trace-id", vec![1, 2, 3]);
    /// assert_eq!(&*header.name, b"trace-id");
    /// ```
    pub fn new(name: impl Into<Bytes<'a>>, value: impl Into<Bytes<'a>>) -> Self {
        Header {
            name: name.into().0,
            value: value.into().0,
        }
    }
}

/// Bytes that are either borrowed or owned; lets constructors take `&str`,
/// `String`, `&[u8]` and `Vec<u8>` alike.
///
/// ```
/// use wasmstream_guest::{Bytes, Record};
///
/// let from_str: Bytes = "text".into();
/// let from_vec: Bytes = vec![0u8, 1].into();
/// let _ = Record::new(from_str);
/// let _ = Record::new(from_vec);
/// ```
#[derive(Debug)]
pub struct Bytes<'a>(pub Cow<'a, [u8]>);

impl<'a> From<&'a str> for Bytes<'a> {
    fn from(text: &'a str) -> Self {
        Bytes(Cow::Borrowed(text.as_bytes()))
    }
}
impl From<String> for Bytes<'_> {
    fn from(text: String) -> Self {
        Bytes(Cow::Owned(text.into_bytes()))
    }
}
impl<'a> From<&'a [u8]> for Bytes<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Bytes(Cow::Borrowed(bytes))
    }
}
impl<'a, const N: usize> From<&'a [u8; N]> for Bytes<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Bytes(Cow::Borrowed(bytes))
    }
}
impl From<Vec<u8>> for Bytes<'_> {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes(Cow::Owned(bytes))
    }
}
impl<'a> From<Cow<'a, [u8]>> for Bytes<'a> {
    fn from(bytes: Cow<'a, [u8]>) -> Self {
        Bytes(bytes)
    }
}

impl<'a> Record<'a> {
    /// A record with this value, no key, no headers and timestamp 0.
    ///
    /// ```
    /// let record = wasmstream_guest::Record::new("42");
    /// assert_eq!(record.key, None);
    /// ```
    pub fn new(value: impl Into<Bytes<'a>>) -> Self {
        Record {
            key: None,
            value: value.into().0,
            timestamp: 0,
            headers: Vec::new(),
        }
    }

    /// This record with its key replaced.
    ///
    /// ```
    /// let record = wasmstream_guest::Record::new("1").with_key("word");
    /// assert_eq!(record.key_str().unwrap(), Some("word"));
    /// ```
    pub fn with_key(mut self, key: impl Into<Bytes<'a>>) -> Self {
        self.key = Some(key.into().0);
        self
    }

    /// This record with its value replaced; key, timestamp and headers stay.
    ///
    /// ```
    /// let record = wasmstream_guest::Record::new("a").with_key("k").with_value("b");
    /// assert_eq!(record.value_str().unwrap(), "b");
    /// assert_eq!(record.key_str().unwrap(), Some("k"));
    /// ```
    pub fn with_value(mut self, value: impl Into<Bytes<'a>>) -> Self {
        self.value = value.into().0;
        self
    }

    /// The value as UTF-8 text, or an error saying it is not.
    ///
    /// ```
    /// let bad = wasmstream_guest::Record::new(vec![0xff]);
    /// assert!(bad.value_str().unwrap_err().to_string().contains("UTF-8"));
    /// ```
    pub fn value_str(&self) -> Result<&str, Error> {
        crate::text::as_str(&self.value).map_err(|e| Error::new(format!("value is {e}")))
    }

    /// The key as UTF-8 text, `None` when the record has no key.
    ///
    /// ```
    /// assert_eq!(wasmstream_guest::Record::new("v").key_str().unwrap(), None);
    /// ```
    pub fn key_str(&self) -> Result<Option<&str>, Error> {
        match &self.key {
            None => Ok(None),
            Some(key) => crate::text::as_str(key)
                .map(Some)
                .map_err(|e| Error::new(format!("key is {e}"))),
        }
    }

    /// The value parsed as JSON into any `serde` type.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Reading { device: String, celsius: f64 }
    ///
    /// let record = wasmstream_guest::Record::new(r#"{"device":"d1","celsius":21.5}"#);
    /// let reading: Reading = record.value_json().unwrap();
    /// assert_eq!(reading.device, "d1");
    /// ```
    pub fn value_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.value)
            .map_err(|e| Error::new(format!("value is not valid JSON: {e}")))
    }

    /// The value of the first header with this name.
    ///
    /// ```
    /// let record = wasmstream_guest::Record::new("v");
    /// assert_eq!(record.header("missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| &*h.name == name.as_bytes())
            .map(|h| &*h.value)
    }
}

/// Reads records out of a columnar batch, one at a time, borrowing from it.
pub(crate) struct BatchReader<'a> {
    batch: &'a Batch,
    next: usize,
    key_start: usize,
    value_start: usize,
    header: usize,
    header_name_start: usize,
    header_value_start: usize,
}

impl<'a> BatchReader<'a> {
    pub(crate) fn new(batch: &'a Batch) -> Self {
        BatchReader {
            batch,
            next: 0,
            key_start: 0,
            value_start: 0,
            header: 0,
            header_name_start: 0,
            header_value_start: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.batch.values.ends.len()
    }
}

fn slice<'a>(list: &'a ByteList, start: &mut usize, index: usize) -> &'a [u8] {
    let end = list.ends[index] as usize;
    let bytes = &list.data[*start..end];
    *start = end;
    bytes
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let b = self.batch;
        let i = self.next;
        if i >= b.values.ends.len() {
            return None;
        }
        self.next += 1;
        let key = slice(&b.keys, &mut self.key_start, i);
        let value = slice(&b.values, &mut self.value_start, i);
        let mut headers = Vec::new();
        while self.header < b.header_owners.len() && b.header_owners[self.header] as usize == i {
            let name = slice(&b.header_names, &mut self.header_name_start, self.header);
            let value = slice(&b.header_values, &mut self.header_value_start, self.header);
            headers.push(Header {
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(value),
            });
            self.header += 1;
        }
        Some(Record {
            key: b.has_key[i].then_some(Cow::Borrowed(key)),
            value: Cow::Borrowed(value),
            timestamp: b.timestamps[i],
            headers,
        })
    }
}

/// Writes records into a columnar batch.
pub(crate) struct BatchWriter {
    batch: Batch,
}

#[inline(always)]
fn push(list: &mut ByteList, bytes: &[u8]) {
    append(&mut list.data, bytes);
    list.ends.push(list.data.len() as u32);
}

/// Appends `bytes` to `data`. In a guest, a copy of a length not known in
/// advance is a call into the runtime (`memory.copy`), which costs more
/// than copying a word or a count: up to 16 bytes are copied as two
/// fixed-size (possibly overlapping) moves instead, and nothing at all
/// for a missing key.
#[inline(always)]
fn append(data: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > 16 {
        data.extend_from_slice(bytes);
        return;
    }
    data.reserve(n);
    let at = data.len();
    let src = bytes.as_ptr();
    // SAFETY: `reserve` made room for `n` bytes at `at`; each move below
    // reads and writes within the first `n` bytes of `bytes` and of that
    // room (the two halves overlap when `n` is not a power of two), and
    // `set_len` then covers exactly the bytes written.
    unsafe {
        let dst = data.as_mut_ptr().add(at);
        match n {
            0 => {}
            1 => *dst = *src,
            2..=3 => {
                let (head, tail) = (
                    src.cast::<[u8; 2]>().read_unaligned(),
                    src.add(n - 2).cast::<[u8; 2]>().read_unaligned(),
                );
                dst.cast::<[u8; 2]>().write_unaligned(head);
                dst.add(n - 2).cast::<[u8; 2]>().write_unaligned(tail);
            }
            4..=7 => {
                let (head, tail) = (
                    src.cast::<[u8; 4]>().read_unaligned(),
                    src.add(n - 4).cast::<[u8; 4]>().read_unaligned(),
                );
                dst.cast::<[u8; 4]>().write_unaligned(head);
                dst.add(n - 4).cast::<[u8; 4]>().write_unaligned(tail);
            }
            _ => {
                let (head, tail) = (
                    src.cast::<[u8; 8]>().read_unaligned(),
                    src.add(n - 8).cast::<[u8; 8]>().read_unaligned(),
                );
                dst.cast::<[u8; 8]>().write_unaligned(head);
                dst.add(n - 8).cast::<[u8; 8]>().write_unaligned(tail);
            }
        }
        data.set_len(at + n);
    }
}

fn byte_list(items: usize, bytes: usize) -> ByteList {
    ByteList {
        data: Vec::with_capacity(bytes),
        ends: Vec::with_capacity(items),
    }
}

impl BatchWriter {
    /// A writer sized for about `records` records of `bytes` value bytes.
    pub(crate) fn with_capacity(records: usize, bytes: usize) -> Self {
        BatchWriter {
            batch: Batch {
                keys: byte_list(records, 0),
                has_key: Vec::with_capacity(records),
                values: byte_list(records, bytes),
                timestamps: Vec::with_capacity(records),
                header_owners: Vec::new(),
                header_names: byte_list(0, 0),
                header_values: byte_list(0, 0),
            },
        }
    }

    pub(crate) fn push(&mut self, record: &Record<'_>) {
        self.push_parts(
            record.key.as_deref(),
            &record.value,
            record.timestamp,
            &record.headers,
        );
    }

    /// Appends a record given by its parts.
    #[inline]
    pub(crate) fn push_parts(
        &mut self,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp: i64,
        headers: &[Header<'_>],
    ) {
        let b = &mut self.batch;
        let index = b.timestamps.len() as u32;
        push(&mut b.keys, key.unwrap_or_default());
        b.has_key.push(key.is_some());
        push(&mut b.values, value);
        b.timestamps.push(timestamp);
        for header in headers {
            b.header_owners.push(index);
            push(&mut b.header_names, &header.name);
            push(&mut b.header_values, &header.value);
        }
    }

    pub(crate) fn finish(self) -> Batch {
        self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::append;

    #[test]
    fn appending_copies_every_length_exactly() {
        let source: Vec<u8> = (0..40u8).collect();
        for n in 0..=source.len() {
            let mut data = b"head".to_vec();
            append(&mut data, &source[..n]);
            assert_eq!(data[..4], *b"head");
            assert_eq!(data[4..], source[..n], "{n} bytes");
        }
    }
}
