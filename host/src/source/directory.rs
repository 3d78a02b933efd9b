//! Text files in a folder, one record per line, like Spark's
//! `textFileStream`. Files present at start are read in name order, new
//! ones (in a watched folder) as they appear, each once; files whose names
//! start with `.` or end in `.tmp` are skipped until renamed, so a writer
//! can write a file and move it in atomically.
//!
//! The scheduler pulls from it at each cut, so a batch takes exactly what
//! the folder holds then (up to the batch limits), and says which byte
//! ranges of which files it took.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Pull, Segment, now_millis};
use crate::record::Batch;

pub struct Directory {
    id: String,
    dir: PathBuf,
    watch: bool,
    /// File names in the order they are read; those before `current` are
    /// read whole.
    files: Vec<String>,
    seen: HashSet<String>,
    current: usize,
    /// The current file's bytes, once opened, and how far they are read.
    text: Option<Vec<u8>>,
    offset: usize,
    listed: bool,
}

impl Directory {
    pub fn new(id: String, dir: PathBuf, watch: bool) -> Self {
        Directory {
            id,
            dir,
            watch,
            files: Vec::new(),
            seen: HashSet::new(),
            current: 0,
            text: None,
            offset: 0,
            listed: false,
        }
    }

    /// Adds the files that appeared since the last listing, in name order.
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
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with(".tmp") || !entry.file_type()?.is_file() {
                continue;
            }
            if self.seen.insert(name.clone()) {
                found.push(name);
            }
        }
        found.sort();
        self.files.extend(found);
        self.listed = true;
        Ok(())
    }
}

impl Pull for Directory {
    fn read(&mut self, max_records: usize, max_bytes: usize) -> Result<(Batch, Vec<Segment>)> {
        let mut batch = Batch::default();
        let mut segments = Vec::new();
        let time = now_millis();
        let mut listed_now = false;
        while batch.len() < max_records && batch.byte_size() < max_bytes {
            if self.current == self.files.len() {
                if listed_now || (self.listed && !self.watch) {
                    break;
                }
                self.list()?;
                listed_now = true;
                continue;
            }
            let name = self.files[self.current].clone();
            if self.text.is_none() {
                let path = self.dir.join(&name);
                let text = std::fs::read(&path).with_context(|| {
                    format!("source `{}`: cannot read {}", self.id, path.display())
                })?;
                self.text = Some(text);
            }
            let text = self.text.as_deref().expect("just read");
            let start = self.offset;
            while self.offset < text.len()
                && batch.len() < max_records
                && batch.byte_size() < max_bytes
            {
                let end = text[self.offset..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(text.len(), |i| self.offset + i);
                let line = &text[self.offset..end];
                batch.push(None, line.strip_suffix(b"\r").unwrap_or(line), time);
                self.offset = (end + 1).min(text.len());
            }
            if self.offset > start {
                segments.push(Segment::File {
                    file: name,
                    start: start as u64,
                    end: self.offset as u64,
                });
            }
            if self.offset >= text.len() {
                tracing::debug!(source = %self.id, file = %self.files[self.current], "read file");
                self.current += 1;
                self.offset = 0;
                self.text = None;
            }
        }
        Ok((batch, segments))
    }

    fn ended(&self) -> bool {
        !self.watch && self.listed && self.current == self.files.len()
    }
}
