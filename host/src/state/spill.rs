//! Where per-key state goes when it outgrows its memory: a redb database.
//!
//! redb is an embedded, pure-Rust, crash-safe B-tree store, actively kept,
//! with MVCC (readers never block, so partitions look keys up in parallel
//! while nothing writes) and a small build. RocksDB would need a C++ build
//! in CI; fjall is an LSM tree, better for write-heavy loads that state
//! spilling is not (it writes in batches at the boundary and reads keys
//! back one at a time).
//!
//! The spill file is scratch, not the durable copy: checkpoints are. It is
//! recreated at every start, and its writes skip fsync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

/// A pipeline's spill database, opened the first time a key spills.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    /// Removed when dropped (a temporary file, not a checkpoint folder's).
    temporary: bool,
    db: OnceLock<Result<Database, String>>,
}

impl SpillFile {
    /// `dir/spill.redb`, or a temporary file named after `pipeline`.
    pub fn new(dir: Option<&Path>, pipeline: &str) -> Arc<Self> {
        let (path, temporary) = match dir {
            Some(dir) => (dir.join("spill.redb"), false),
            None => {
                let plain: String = pipeline
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                // Unique in this process too: two tenants of a server may
                // each have a pipeline of this name.
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("wasmstream-{plain}-{}-{n}.redb", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        Arc::new(SpillFile {
            path,
            temporary,
            db: OnceLock::new(),
        })
    }

    fn db(&self) -> Result<&Database> {
        let db = self.db.get_or_init(|| {
            // Scratch: whatever an earlier run left is stale.
            let _ = std::fs::remove_file(&self.path);
            redb::Builder::new()
                .set_cache_size(16 << 20)
                .create(&self.path)
                .map_err(|e| e.to_string())
        });
        db.as_ref()
            .map_err(|e| anyhow::anyhow!("cannot create spill file {}: {e}", self.path.display()))
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if self.temporary && self.db.get().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One partition's spilled keys: a table of key → (last active, state),
/// and an index of (last active, key) to find idle keys without a scan.
#[derive(Debug, Clone)]
pub struct Spilled {
    file: Arc<SpillFile>,
    entries: String,
    idle: String,
}

type Table<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

impl Spilled {
    /// The tables of partition `name` (e.g. `stage[0]`) in `file`.
    pub fn new(file: Arc<SpillFile>, name: &str) -> Self {
        Spilled {
            file,
            entries: format!("{name}/entries"),
            idle: format!("{name}/idle"),
        }
    }

    fn entries(&self) -> Table<'_> {
        TableDefinition::new(&self.entries)
    }

    fn idle(&self) -> Table<'_> {
        TableDefinition::new(&self.idle)
    }

    /// The state and last activity of `key`, if it spilled.
    pub fn get(&self, key: &[u8]) -> Result<Option<(Vec<u8>, i64)>> {
        let read = self.file.db()?.begin_read()?;
        let table = match read.open_table(self.entries()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(key)?.map(|v| split(v.value())))
    }

    /// Spilled keys last active before `cutoff`.
    pub fn idle_before(&self, cutoff: i64) -> Result<Vec<Vec<u8>>> {
        let read = self.file.db()?.begin_read()?;
        let table = match read.open_table(self.idle()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let end = sortable(cutoff);
        let mut keys = Vec::new();
        for item in table.range::<&[u8]>(..&end[..])? {
            let (index, _) = item?;
            keys.push(index.value()[8..].to_vec());
        }
        Ok(keys)
    }

    /// In one transaction: removes `remove` and writes `put` (key, state,
    /// last active). Returns how many of `remove` were there.
    pub fn update(&self, remove: &[&[u8]], put: &[(&[u8], &[u8], i64)]) -> Result<usize> {
        let mut write = self.file.db()?.begin_write()?;
        write
            .set_durability(Durability::None)
            .context("spill file: cannot skip fsync")?;
        let mut removed = 0;
        {
            let mut entries = write.open_table(self.entries())?;
            let mut idle = write.open_table(self.idle())?;
            for key in remove {
                if let Some(old) = entries.remove(*key)? {
                    let (_, active) = split(old.value());
                    idle.remove(&index(active, key)[..])?;
                    removed += 1;
                }
            }
            let mut value = Vec::new();
            for (key, state, active) in put {
                value.clear();
                value.extend_from_slice(&active.to_le_bytes());
                value.extend_from_slice(state);
                entries.insert(*key, &value[..])?;
                idle.insert(&index(*active, key)[..], &[][..])?;
            }
        }
        write.commit()?;
        Ok(removed)
    }

    /// Every spilled key with its state and last activity.
    pub fn all(&self) -> Result<Vec<SpilledEntry>> {
        let read = self.file.db()?.begin_read()?;
        let table = match read.open_table(self.entries()) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut all = Vec::new();
        for item in table.iter()? {
            let (key, value) = item?;
            let (state, active) = split(value.value());
            all.push((key.value().to_vec(), state, active));
        }
        Ok(all)
    }
}

/// A spilled key, its state and when it was last active.
pub type SpilledEntry = (Vec<u8>, Vec<u8>, i64);

/// A stored value: 8 bytes of last activity, then the state.
fn split(value: &[u8]) -> (Vec<u8>, i64) {
    let active = i64::from_le_bytes(value[..8].try_into().expect("8 bytes written"));
    (value[8..].to_vec(), active)
}

/// A time as bytes that sort like the times.
fn sortable(time: i64) -> [u8; 8] {
    ((time as u64) ^ (1 << 63)).to_be_bytes()
}

fn index(active: i64, key: &[u8]) -> Vec<u8> {
    let mut index = sortable(active).to_vec();
    index.extend_from_slice(key);
    index
}
