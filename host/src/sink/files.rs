//! One text file per non-empty batch, like Spark's `saveAsTextFiles`:
//! `<dir>/<prefix>-<batch id>.<suffix>`, a record per line, escaped
//! ([`crate::record::escape`]) so that a newline, a carriage return or a
//! byte that is not UTF-8 in a record is written as what it is. Each file is
//! written under a temporary name and renamed into place, so readers never
//! see half a batch and a replayed batch replaces its file. A checkpointed
//! pipeline also waits for each file to reach the disk before renaming it,
//! since a checkpoint will count the batch as written; without checkpoints
//! nothing resumes from a batch after a crash, so the wait (a few
//! milliseconds a batch, with every core idle) buys nothing and is skipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{BatchInfo, Progress, Sink};
use crate::record::{Batch, write_display};

pub struct Files {
    id: String,
    dir: PathBuf,
    prefix: String,
    suffix: String,
    /// Whether each file is synced to disk before it is renamed into place.
    sync: bool,
}

impl Files {
    /// The sink `id` writing into `dir`; `sync`: each file reaches the disk
    /// before it is renamed into place.
    pub fn open(id: &str, dir: &Path, prefix: &str, suffix: &str, sync: bool) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("sink `{id}`: cannot create directory {}", dir.display()))?;
        Ok(Files {
            id: id.to_owned(),
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            sync,
        })
    }
}

impl Sink for Files {
    fn write(&mut self, batch: BatchInfo, partitions: &[Batch], _: &Progress) -> Result<()> {
        if partitions.iter().all(Batch::is_empty) {
            return Ok(());
        }
        let name = format!("{}-{:06}.{}", self.prefix, batch.id, self.suffix);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            for record in partitions.iter().flat_map(|p| p.iter()) {
                write_display(&mut out, &record)?;
                out.write_all(b"\n")?;
            }
            let file = out.into_inner()?;
            if self.sync {
                file.sync_data()?;
            }
            std::fs::rename(&tmp, &path)
        };
        write().with_context(|| format!("sink `{}`: cannot write {}", self.id, path.display()))
    }
}
