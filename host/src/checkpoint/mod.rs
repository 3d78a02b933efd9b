//! Checkpoints and the intent log: how a pipeline picks up after a crash
//! and writes exactly what a run without the crash would have written.
//!
//! Two kinds of file live in the pipeline's checkpoint folder:
//!
//! - **The intent log** (`intents-<batch>.log`): before a batch runs, one
//!   JSON line says what it is: its id, its time, and exactly which input
//!   it takes (file byte ranges, generated sequence numbers). The line is
//!   on disk (fsync) before the batch starts, so every batch whose output
//!   may have been written can be cut again identically.
//! - **Checkpoints** (`checkpoint-<batch>.ckpt`): every N batches, after
//!   the batch's output is written, one file holds the id of that last
//!   committed batch, every source's position and every stage's state. It
//!   is written under a temporary name, synced and renamed, so it is
//!   whole or absent; it ends with a SHA-256 of its contents, so damage is
//!   found rather than loaded.
//!
//! Recovery loads the newest checkpoint that reads back whole, falling
//! back to older ones (each refused one is named and set aside as
//! `.corrupt`), then replays the logged intents after it, in order, each
//! from its recorded input with its recorded time. Sinks write by batch
//! id, so a replayed batch replaces its own output. With no usable
//! checkpoint left it refuses to start: `--fresh` starts over on purpose.

mod codec;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

pub use codec::{Bad, Reader, Unreadable, VERSION, Writer};

use crate::position::{Position, Segment};

/// Checkpoints kept; older ones, and the intents only they need, go.
const KEEP: usize = 3;

/// What one batch is, logged before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The batch id.
    pub batch: u64,
    /// The batch time (ms since the Unix epoch).
    pub time_ms: i64,
    /// Whether it was the last batch of an input that ended.
    pub end_of_input: bool,
    /// Each pull source's input for the batch.
    pub sources: BTreeMap<String, Vec<Segment>>,
}

/// The readable part at the head of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    /// The pipeline's name.
    pub pipeline: String,
    /// The last batch whose output was written and whose state is here.
    pub batch: u64,
    /// Each pull source's position after that batch.
    pub sources: BTreeMap<String, Position>,
    /// The stage ids, in the order their states follow.
    pub stages: Vec<String>,
    /// Counters, so the final summary covers the whole run.
    pub summary: crate::summary::Summary,
    /// Whether that batch was the last of an input that ended: a restart
    /// with nothing new to read then has no batch to run.
    pub input_ended: bool,
    /// Names this line of checkpoints, from its first (batch 0) to its
    /// last; a `--fresh` start begins a new line with a new id. Exactly-once
    /// sinks tag their commits with it ([`crate::sink::Progress::run`]).
    #[serde(default)]
    pub run: u64,
}

/// A checkpoint that read back whole: its header, and a reader positioned
/// at the stage states.
pub struct Loaded {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: Header,
    bytes: Vec<u8>,
    /// Where the stage states start in `bytes`.
    body: usize,
}

impl Loaded {
    /// A reader over the stage states that follow the header.
    pub fn states(&self) -> Reader<'_> {
        Reader::resume(&self.bytes[self.body..self.bytes.len() - 32])
    }
}

/// A pipeline's checkpoint folder.
pub struct Store {
    dir: PathBuf,
    /// The intent log being appended to.
    log: Option<(PathBuf, File)>,
}

impl Store {
    /// Opens (creating) `dir`; with `fresh`, first discards the checkpoints
    /// and intents there.
    pub fn open(dir: &Path, fresh: bool) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create checkpoint folder {}", dir.display()))?;
        if fresh {
            for (_, path) in list(dir, "checkpoint-", ".ckpt")?
                .into_iter()
                .chain(list(dir, "intents-", ".log")?)
            {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(Store {
            dir: dir.to_owned(),
            log: None,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest checkpoint that reads back whole. Unusable ones are
    /// reported, renamed `.corrupt` and passed over. `Ok(None)` when there
    /// has never been one; an error when there were some but none is
    /// usable.
    pub fn latest(&self, pipeline: &str) -> Result<Option<Loaded>> {
        let found = list(&self.dir, "checkpoint-", ".ckpt")?;
        let mut refused = Vec::new();
        for (_, path) in found.iter().rev() {
            match load(path, pipeline) {
                Err(Unreadable::Version { found }) => bail!(
                    "checkpoint {} is in format version {found}, written by an earlier wasmstream; \
                     this one reads version {VERSION} only. Finish the run with the wasmstream that \
                     started it, or start over with `wasmstream run --fresh` (which discards the \
                     checkpoints)",
                    path.display()
                ),
                Err(Unreadable::Elsewhere(owner)) => bail!(
                    "checkpoint folder {} holds the checkpoints of pipeline `{owner}` ({}), not of \
                     `{pipeline}`; give each pipeline a checkpoint folder of its own",
                    self.dir.display(),
                    path.display()
                ),
                Ok(loaded) => {
                    if !refused.is_empty() {
                        tracing::warn!(
                            checkpoint = %path.display(),
                            "recovering from an older checkpoint"
                        );
                    }
                    return Ok(Some(loaded));
                }
                Err(why) => {
                    tracing::error!(
                        "checkpoint {} is unusable: {why}; falling back to the previous checkpoint",
                        path.display()
                    );
                    let aside = path.with_extension("ckpt.corrupt");
                    std::fs::rename(path, &aside)
                        .with_context(|| format!("cannot set aside {}", path.display()))?;
                    refused.push(format!("{}: {why}", path.display()));
                }
            }
        }
        if refused.is_empty() {
            // A run checkpoints batch 0 before it logs any intent, so
            // intents without a checkpoint mean checkpoints were removed:
            // starting from nothing would run those batches on empty state.
            if let Some((_, log)) = list(&self.dir, "intents-", ".log")?.first() {
                bail!(
                    "checkpoint folder {} has intent logs ({} and on) but no checkpoint: the \
                     checkpoints were removed. Put them back, or start over with \
                     `wasmstream run --fresh` (which discards the intent logs too)",
                    self.dir.display(),
                    log.display()
                );
            }
            return Ok(None);
        }
        bail!(
            "no usable checkpoint in {}: {}; the pipeline will not start from nothing by itself \
             (`wasmstream run --fresh` starts over, discarding them)",
            self.dir.display(),
            refused.join("; ")
        )
    }

    /// The intents logged after batch `after`, in order, checked to follow
    /// on one from another. A last line cut short by a crash is dropped
    /// (that batch never ran) and cut from the file.
    pub fn intents_after(&mut self, after: u64) -> Result<Vec<Intent>> {
        let logs = list(&self.dir, "intents-", ".log")?;
        let mut intents = Vec::new();
        for (from, path) in &logs {
            let next_from = logs.iter().find(|(f, _)| f > from).map(|(f, _)| *f);
            if next_from.is_some_and(|next| next <= after) {
                continue;
            }
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read intent log {}", path.display()))?;
            let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole < text.len() {
                tracing::warn!(log = %path.display(), "dropping a half-written intent (its batch never ran)");
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(whole as u64)?;
                file.sync_all()?;
            }
            let logged = parse_intents(&text[..whole]).map_err(|(line, e)| {
                anyhow!("intent log {} line {line} is damaged: {e}", path.display())
            })?;
            for (line, intent) in logged {
                if intent.batch > after {
                    intents.push((path.clone(), line, intent));
                }
            }
        }
        for (expected, (path, line, intent)) in (after + 1..).zip(&intents) {
            if intent.batch != expected {
                bail!(
                    "intent log {} line {line} is batch {}, but batch {expected} was expected; the log is damaged",
                    path.display(),
                    intent.batch
                );
            }
        }
        Ok(intents.into_iter().map(|(_, _, i)| i).collect())
    }

    /// Logs `intent` durably before its batch runs.
    pub fn record(&mut self, intent: &Intent) -> Result<()> {
        if self.log.is_none() {
            let from = list(&self.dir, "intents-", ".log")?
                .last()
                .map_or(intent.batch - 1, |(from, _)| *from);
            self.start_log(from)?;
        }
        let (path, file) = self.log.as_mut().expect("just opened");
        let mut line = serde_json::to_vec(intent).expect("intents serialize");
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write intent log {}", path.display()))
    }

    fn start_log(&mut self, from: u64) -> Result<()> {
        let path = self.dir.join(format!("intents-{from:010}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open intent log {}", path.display()))?;
        self.log = Some((path, file));
        Ok(())
    }

    /// Writes a checkpoint of `header` with the stage states `write_states`
    /// writes, atomically; starts a new intent log after it and drops what
    /// is no longer needed. Returns its size in bytes.
    pub fn write(
        &mut self,
        header: &Header,
        write_states: impl FnOnce(&mut Writer<'_>) -> std::io::Result<()>,
    ) -> Result<u64> {
        let name = format!("checkpoint-{:010}.ckpt", header.batch);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<u64> {
            let mut file = BufWriter::new(File::create(&tmp)?);
            let mut out = Writer::new(&mut file)?;
            let json = serde_json::to_vec(header).expect("headers serialize");
            out.put(serde_bytes::Bytes::new(&json))?;
            write_states(&mut out)?;
            let size = out.written() + 32;
            out.finish()?;
            file.into_inner()?.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()?;
            Ok(size)
        };
        let size =
            write().with_context(|| format!("cannot write checkpoint {}", path.display()))?;
        self.start_log(header.batch)?;
        self.prune()?;
        Ok(size)
    }

    /// Keeps the newest checkpoints and the intents they need.
    fn prune(&self) -> Result<()> {
        let checkpoints = list(&self.dir, "checkpoint-", ".ckpt")?;
        let Some(&(oldest_kept, _)) = checkpoints.iter().rev().nth(KEEP - 1) else {
            return Ok(());
        };
        let old_checkpoints = checkpoints.iter().filter(|(b, _)| *b < oldest_kept);
        let old_logs = list(&self.dir, "intents-", ".log")?;
        let old_logs = old_logs.iter().filter(|(b, _)| *b < oldest_kept);
        for (_, path) in old_checkpoints.chain(old_logs) {
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        Ok(())
    }
}

/// Reads and checks one checkpoint file.
fn load(path: &Path, pipeline: &str) -> Result<Loaded, Unreadable> {
    let bytes =
        std::fs::read(path).map_err(|e| Unreadable::Damaged(format!("cannot read it: {e}")))?;
    decode(path, bytes, pipeline)
}

/// Checks a checkpoint file's bytes and reads its header; the states are
/// read as the stages restore (see [`Loaded::states`]).
pub fn decode(path: &Path, bytes: Vec<u8>, pipeline: &str) -> Result<Loaded, Unreadable> {
    let mut reader = Reader::checked(&bytes)?;
    let json: &serde_bytes::Bytes = reader.take().map_err(Unreadable::Damaged)?;
    let header: Header = serde_json::from_slice(json)
        .map_err(|e| Unreadable::Damaged(format!("its header is damaged: {e}")))?;
    if header.pipeline != pipeline {
        return Err(Unreadable::Elsewhere(header.pipeline));
    }
    let body = bytes.len() - 32 - reader.left();
    Ok(Loaded {
        path: path.to_owned(),
        header,
        bytes,
        body,
    })
}

/// The intents in an intent log's complete lines (`text` up to its last
/// newline), each with its line number; the error names the first
/// damaged line.
pub fn parse_intents(text: &[u8]) -> Result<Vec<(usize, Intent)>, (usize, serde_json::Error)> {
    let mut intents = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let intent: Intent = serde_json::from_slice(line).map_err(|e| (n + 1, e))?;
        intents.push((n + 1, intent));
    }
    Ok(intents)
}

/// `(batch, path)` of the files `<prefix><batch><suffix>` in `dir`, by batch.
fn list(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let batch = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|n| n.parse().ok());
        if let Some(batch) = batch {
            found.push((batch, path));
        }
    }
    found.sort();
    Ok(found)
}
