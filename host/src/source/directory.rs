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
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::json_lines::key_and_time;
use super::{MAX_LINE_BYTES, Position, Pull, Segment};
use crate::plan::LineFields;
use crate::record::Batch;

pub struct Directory {
    id: String,
    dir: PathBuf,
    watch: bool,
    /// Where keys and times come from; none for plain lines.
    fields: LineFields,
    /// Files read whole, in the order read.
    done: Vec<String>,
    /// Files found and not yet started, in the order they will be read.
    queue: VecDeque<String>,
    /// Every file name done, queued or current.
    seen: HashSet<String>,
    /// The file being read, and how far.
    current: Option<Current>,
    listed: bool,
    /// The window's bytes, kept from read to read: a new buffer each
    /// time was zeroed (and often faulted in) 4 MiB at a time.
    buffer: Vec<u8>,
}

struct Current {
    name: String,
    /// The file and its length, once opened.
    file: Option<(File, u64)>,
    /// How far it has been read.
    offset: u64,
}

/// The most of a file read into memory at once: files are read a window
/// at a time, never whole. More than [`MAX_LINE_BYTES`], so a window always
/// holds a whole line or the first piece of an over-long one.
const WINDOW: u64 = 4 << 20;

impl Directory {
    pub fn new(id: String, dir: PathBuf, watch: bool, fields: LineFields) -> Self {
        Directory {
            id,
            dir,
            watch,
            fields,
            done: Vec::new(),
            queue: VecDeque::new(),
            seen: HashSet::new(),
            current: None,
            listed: false,
            buffer: Vec::new(),
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

    /// The current file's length (it is opened on first use), and how
    /// many bytes of `buffer` hold a window of its bytes from `at` to at
    /// most `end`: the whole lines in it, or the first [`MAX_LINE_BYTES`] of
    /// a longer line; all of it when it reaches `end` and `end` is the end
    /// of a line.
    fn window(&mut self, at: u64, end: Option<u64>) -> Result<(u64, usize)> {
        let current = self.current.as_mut().expect("a current file");
        let path = || self.dir.join(decode(&current.name));
        let cannot = |e: std::io::Error| {
            anyhow::anyhow!(
                "source `{}`: cannot read {}: {e}",
                self.id,
                path().display()
            )
        };
        if current.file.is_none() {
            let file = File::open(path()).map_err(cannot)?;
            let len = file.metadata().map_err(cannot)?.len();
            current.file = Some((file, len));
        }
        let (file, len) = current.file.as_ref().expect("just opened");
        let end = end.unwrap_or(*len).min(*len);
        let size = (end.saturating_sub(at)).min(WINDOW) as usize;
        if self.buffer.len() < size {
            self.buffer.resize(size, 0);
        }
        let window = &mut self.buffer[..size];
        file.read_exact_at(window, at).map_err(cannot)?;
        if at + (size as u64) < end {
            return match memchr::memrchr(b'\n', window) {
                Some(newline) => Ok((*len, newline + 1)),
                None => Ok((*len, MAX_LINE_BYTES)),
            };
        }
        Ok((*len, size))
    }

    /// Moves on to `name` as the file being read (from `offset`); the one
    /// being read before is done.
    fn start(&mut self, name: String, offset: u64) {
        if let Some(previous) = self.current.take() {
            self.done.push(previous.name);
        }
        self.queue.retain(|queued| *queued != name);
        self.seen.insert(name.clone());
        self.current = Some(Current {
            name,
            file: None,
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

/// A line that does not have the fields its source names: where it
/// starts in the window, and what it lacks.
struct BadLine {
    at: usize,
    why: String,
}

/// Pushes the lines of `text[start..end]` (`end` just past a newline, or
/// the end of the text) into `batch`, a line over [`MAX_LINE_BYTES`] as
/// pieces of that size, stopping early at the limits; returns where it
/// stopped. With `fields`, each line's key and event time come from it.
fn push_lines(
    batch: &mut Batch,
    text: &[u8],
    (start, end): (usize, usize),
    limits: (usize, usize),
    time: i64,
    fields: &LineFields,
) -> Result<usize, BadLine> {
    batch.values.data.reserve(end - start);
    let mut at = start;
    while at < end && batch.len() < limits.0 && batch.byte_size() < limits.1 {
        let rest = &text[at..end];
        let (line, next) = match memchr::memchr(b'\n', &rest[..rest.len().min(MAX_LINE_BYTES + 1)])
        {
            Some(newline) => (&rest[..newline], newline + 1),
            None => {
                let piece = rest.len().min(MAX_LINE_BYTES);
                (&rest[..piece], piece)
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if fields.is_empty() {
            batch.push(None, line, time);
        } else {
            let (key, event_time) =
                key_and_time(fields, line).map_err(|why| BadLine { at, why })?;
            batch.push(key.as_deref(), line, event_time.unwrap_or(time));
        }
        at += next;
    }
    Ok(at)
}

impl Directory {
    /// The error for a bad line of `file`, `offset` bytes in.
    fn bad_line(&self, file: &str, offset: u64, why: String) -> anyhow::Error {
        anyhow::anyhow!(
            "source `{}`: {} at byte {offset}: {why}",
            self.id,
            self.dir.join(decode(file)).display()
        )
    }
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
            let start = self.current.as_ref().expect("a current file").offset;
            let (len, size) = self.window(start, None)?;
            let used = push_lines(
                &mut batch,
                &self.buffer,
                (0, size),
                (max_records, max_bytes),
                time,
                &self.fields,
            );
            let current = self.current.as_ref().expect("a current file");
            let used =
                used.map_err(|bad| self.bad_line(&current.name, start + bad.at as u64, bad.why))?;
            let current = self.current.as_mut().expect("a current file");
            current.offset = start + used as u64;
            // A window's lines continue the previous window's segment.
            match segments.last_mut() {
                Some(Segment::File { file, end, .. }) if *file == current.name && *end == start => {
                    *end = current.offset
                }
                _ if used > 0 => segments.push(Segment::File {
                    file: current.name.clone(),
                    start,
                    end: current.offset,
                }),
                _ => {}
            }
            if current.offset >= len {
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
            current: self.current.as_ref().map(|c| (c.name.clone(), c.offset)),
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
                file: None,
                offset: *offset,
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
                self.start(file.clone(), *start);
            }
            let mut at = *start;
            let mut len = u64::MAX;
            while at < *end {
                let size;
                (len, size) = self.window(at, Some(*end))?;
                if *end > len || size == 0 {
                    bail!(
                        "source `{}`: {file} is shorter than when its bytes {start}..{end} were read; it changed since",
                        self.id
                    );
                }
                let all = (usize::MAX, usize::MAX);
                let used = push_lines(&mut batch, &self.buffer, (0, size), all, time, &self.fields)
                    .map_err(|bad| self.bad_line(file, at + bad.at as u64, bad.why))?;
                at += used as u64;
            }
            self.current.as_mut().expect("a current file").offset = at;
            if at >= len {
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

    fn values(batch: &Batch) -> Vec<Vec<u8>> {
        batch.iter().map(|r| r.value.to_vec()).collect()
    }

    #[test]
    fn a_file_is_read_a_window_at_a_time_and_replays_the_same() {
        let dir = std::env::temp_dir().join(format!("wasmstream-windows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Short lines around one of 2.5 MiB, in a file over two windows.
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let mut text = Vec::new();
        for i in 0..200_000 {
            let line = format!("line {i:06} of a file bigger than a window");
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            expected.push(line.into_bytes());
            if i == 100_000 {
                let long = vec![b'x'; MAX_LINE_BYTES * 5 / 2];
                text.extend_from_slice(&long);
                text.push(b'\n');
                expected.extend(long.chunks(MAX_LINE_BYTES).map(<[u8]>::to_vec));
            }
        }
        assert!(text.len() as u64 > 2 * WINDOW);
        std::fs::write(dir.join("big.txt"), &text).unwrap();

        let mut source = Directory::new("files".into(), dir.clone(), false, LineFields::default());
        let (mut read, mut batches) = (Vec::new(), Vec::new());
        loop {
            let (batch, segments) = source.read(50_000, 1 << 20, 0).unwrap();
            if batch.is_empty() {
                break;
            }
            read.extend(values(&batch));
            batches.push((values(&batch), segments));
        }
        assert!(source.ended());
        assert_eq!(read, expected);

        let mut again = Directory::new("files".into(), dir.clone(), false, LineFields::default());
        for (batch, segments) in batches {
            assert_eq!(values(&again.replay(&segments, 0).unwrap()), batch);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

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
