//! Text files in a folder, one record per line, like Spark's
//! `textFileStream`. Each file is read once, when first seen; files whose
//! names start with `.` or end in `.tmp` are skipped until renamed, so a
//! writer can write a file and move it in atomically. Files present at
//! start are read in name order, new ones as they appear.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch};

use super::{CHUNK_RECORDS, now_millis};
use crate::record::Batch;

/// How often a watched folder is listed.
const POLL: Duration = Duration::from_millis(50);

pub async fn run(
    id: String,
    dir: PathBuf,
    watch: bool,
    tx: mpsc::Sender<Batch>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut seen = HashSet::new();
    loop {
        for file in new_files(&dir, &mut seen).await? {
            let text = tokio::fs::read(&file)
                .await
                .with_context(|| format!("source `{id}`: cannot read {}", file.display()))?;
            let mut chunk = Batch::default();
            let time = now_millis();
            // A final newline ends the last line; it does not start another.
            let body = text.strip_suffix(b"\n").unwrap_or(&text);
            for line in body.split(|&b| b == b'\n').take_while(|_| !text.is_empty()) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                chunk.push(None, line, time);
                if chunk.len() >= CHUNK_RECORDS
                    && tx.send(std::mem::take(&mut chunk)).await.is_err()
                {
                    return Ok(());
                }
            }
            tracing::debug!(source = %id, file = %file.display(), "read file");
            if !chunk.is_empty() && tx.send(chunk).await.is_err() {
                return Ok(());
            }
        }
        if !watch || *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn new_files(dir: &Path, seen: &mut HashSet<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .with_context(|| format!("cannot list directory {}", dir.display()))?;
    let mut found = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") || !entry.file_type().await?.is_file() {
            continue;
        }
        if seen.insert(path.clone()) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
