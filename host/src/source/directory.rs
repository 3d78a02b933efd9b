//! Text files in a folder, one record per line, like Spark's
//! `textFileStream`. Files present at start are read in name order, new
//! ones (in a watched folder) as they appear, each once; files whose names
//! start with `.` or end in `.tmp` are skipped until renamed, so a writer
//! can write a file and move it in atomically. A link is read as the file
//! it names; a folder, or a link to nothing, is skipped with a warning.
//! Names need not be UTF-8.
//!
//! The scheduler pulls from it at each cut, so a batch takes exactly what
//! the folder holds then (up to the batch limits), and says which byte
//! ranges of which files it took.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::{Position, Pull, Segment};
use crate::record::Batch;

pub struct Directory {
    id: String,
    dir: PathBuf,
    watch: bool,
    /// Files read whole, in the order read.
    done: Vec<String>,
    /// Files found and not yet started, in the order they will be read.
    queue: VecDeque<String>,
    /// Every file name done, queued or current.
    seen: HashSet<String>,
    /// The file being read, and how far.
    current: Option<Current>,
    listed: bool,
}

struct Current {
    name: String,
    /// Its bytes, once opened.
    text: Option<Vec<u8>>,
    offset: usize,
}

impl Directory {
    pub fn new(id: String, dir: PathBuf, watch: bool) -> Self {
        Directory {
            id,
            dir,
            watch,
            done: Vec::new(),
            queue: VecDeque::new(),
            seen: HashSet::new(),
            current: None,
            listed: false,
        }
    }

    /// Queues the files that appeared since the last listing, in name order.
    fn list(&mut self) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir).with_context(|| {
            format!(
                "source `{}`: cannot list directory {}",
                self.id,
                self.dir.display()
            )
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry?;
            let raw = entry.file_name();
            let hidden = raw.as_bytes().starts_with(b".") || raw.as_bytes().ends_with(b".tmp");
            let name = encode(&raw);
            if hidden || self.seen.contains(&name) {
                continue;
            }
            // A link is followed to what it names; what is not a file is
            // passed over, once, with the reason.
            let path = entry.path();
            let skip = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => None,
                Ok(meta) if meta.is_dir() => Some("it is a folder".to_owned()),
                Ok(_) => Some("it is not a regular file".to_owned()),
                Err(e) => Some(format!("it cannot be read: {e}")),
            };
            self.seen.insert(name.clone());
            match skip {
                None => found.push(name),
                Some(why) => {
                    tracing::warn!(source = %self.id, "skipping {}: {why}", path.display())
                }
            }
        }
        // In the order of the names' bytes, odd names among the rest.
        found.sort_by_cached_key(|name| decode(name));
        self.queue.extend(found);
        self.listed = true;
        Ok(())
    }

    /// The current file's bytes, read on first use.
    fn text(&mut self) -> Result<(&str, &[u8], &mut usize)> {
        let current = self.current.as_mut().expect("a current file");
        if current.text.is_none() {
            let path = self.dir.join(decode(&current.name));
            let text = std::fs::read(&path)
                .with_context(|| format!("source `{}`: cannot read {}", self.id, path.display()))?;
            current.text = Some(text);
        }
        let text = current.text.as_deref().expect("just read");
        Ok((&current.name, text, &mut current.offset))
    }

    /// Moves on to `name` as the file being read (from `offset`); the one
    /// being read before is done.
    fn start(&mut self, name: String, offset: usize) {
        if let Some(previous) = self.current.take() {
            self.done.push(previous.name);
        }
        self.queue.retain(|queued| *queued != name);
        self.seen.insert(name.clone());
        self.current = Some(Current {
            name,
            text: None,
            offset,
        });
    }
}

/// A file name as positions keep it: itself when it is UTF-8; else a NUL
/// (which no file name holds) and its bytes in hex, so it still names the
/// file exactly.
fn encode(name: &OsStr) -> String {
    match name.to_str() {
        Some(name) => name.to_owned(),
        None => std::iter::once("\0".to_owned())
            .chain(name.as_bytes().iter().map(|b| format!("{b:02x}")))
            .collect(),
    }
}

/// The file name [`encode`] kept as `name`.
fn decode(name: &str) -> OsString {
    let Some(hex) = name.strip_prefix('\0') else {
        return name.into();
    };
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    OsString::from_vec(bytes)
}

/// Pushes the lines of `text[start..end]` (`end` just past a newline, or
/// the end of the text) into `batch`, stopping early at the limits; returns
/// where it stopped.
fn push_lines(
    batch: &mut Batch,
    text: &[u8],
    start: usize,
    end: usize,
    limits: (usize, usize),
    time: i64,
) -> usize {
    let mut at = start;
    while at < end && batch.len() < limits.0 && batch.byte_size() < limits.1 {
        let line_end = text[at..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |i| at + i);
        let line = &text[at..line_end];
        batch.push(None, line.strip_suffix(b"\r").unwrap_or(line), time);
        at = (line_end + 1).min(end);
    }
    at
}

impl Pull for Directory {
    fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        time: i64,
    ) -> Result<(Batch, Vec<Segment>)> {
        let mut batch = Batch::default();
        let mut segments = Vec::new();
        let mut listed_now = false;
        while batch.len() < max_records && batch.byte_size() < max_bytes {
            if self.current.is_none() {
                if self.queue.is_empty() && !listed_now && (self.watch || !self.listed) {
                    self.list()?;
                    listed_now = true;
                }
                match self.queue.pop_front() {
                    Some(next) => self.start(next, 0),
                    None => break,
                }
            }
            let (name, text, offset) = self.text()?;
            let start = *offset;
            *offset = push_lines(
                &mut batch,
                text,
                start,
                text.len(),
                (max_records, max_bytes),
                time,
            );
            if *offset > start {
                segments.push(Segment::File {
                    file: name.to_owned(),
                    start: start as u64,
                    end: *offset as u64,
                });
            }
            if *offset >= text.len() {
                let finished = self.current.take().expect("a current file");
                tracing::debug!(source = %self.id, file = finished.name, "read file");
                self.done.push(finished.name);
            }
        }
        Ok((batch, segments))
    }

    fn ended(&self) -> bool {
        !self.watch && self.listed && self.current.is_none() && self.queue.is_empty()
    }

    fn position(&self) -> Position {
        Position::Directory {
            done: self.done.clone(),
            current: self
                .current
                .as_ref()
                .map(|c| (c.name.clone(), c.offset as u64)),
        }
    }

    fn seek(&mut self, position: &Position) -> Result<()> {
        let Position::Directory { done, current } = position else {
            bail!(
                "source `{}`: the checkpoint holds a position of another kind of source",
                self.id
            );
        };
        self.done = done.clone();
        self.seen = done.iter().cloned().collect();
        self.queue.clear();
        self.current = None;
        self.listed = false;
        if let Some((name, offset)) = current {
            self.seen.insert(name.clone());
            self.current = Some(Current {
                name: name.clone(),
                text: None,
                offset: *offset as usize,
            });
        }
        if !self.watch {
            // The one listing an unwatched folder gets, as at a first start:
            // the files not yet read, in name order.
            self.list()?;
        }
        Ok(())
    }

    fn replay(&mut self, segments: &[Segment], time: i64) -> Result<Batch> {
        let mut batch = Batch::default();
        for segment in segments {
            let Segment::File { file, start, end } = segment else {
                bail!(
                    "source `{}`: the intent log holds input of another kind of source",
                    self.id
                );
            };
            if self.current.as_ref().is_none_or(|c| c.name != *file) {
                self.start(file.clone(), *start as usize);
            }
            let id = self.id.clone();
            let (_, text, offset) = self.text()?;
            let (start, end) = (*start as usize, *end as usize);
            if end > text.len() || start > end {
                bail!(
                    "source `{id}`: {file} is shorter than when its bytes {start}..{end} were read; it changed since",
                );
            }
            *offset = push_lines(&mut batch, text, start, end, (usize::MAX, usize::MAX), time);
            if *offset >= text.len() {
                let finished = self.current.take().expect("a current file");
                self.done.push(finished.name);
            }
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_that_are_not_utf8_are_kept_exactly() {
        let plain = OsStr::new("plain.txt");
        assert_eq!(encode(plain), "plain.txt");
        assert_eq!(decode(&encode(plain)), plain);
        let odd = OsStr::from_bytes(b"caf\xe9.txt");
        assert_eq!(encode(odd), "\x00636166e92e747874");
        assert_eq!(decode(&encode(odd)), odd);
    }
}
