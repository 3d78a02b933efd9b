//! Watching files for changes, debounced. Editors write a file in several
//! steps and builds replace it (write elsewhere, rename over), so each
//! file's folder is watched, not the file, and a file counts as changed
//! once it has been quiet for the debounce time (`notify-debouncer-full`,
//! which also folds a rename over the file into one change).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

/// Changed files, each once its writes have settled.
pub struct Watcher {
    _inner: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    /// Each changed file's path, as given to [`Watcher::new`].
    pub changes: mpsc::UnboundedReceiver<PathBuf>,
}

impl Watcher {
    /// Watches `files` (which need not exist yet) and every file that
    /// appears in `folders`.
    pub fn new(files: &[PathBuf], folders: &[PathBuf], debounce: Duration) -> Result<Watcher> {
        // Events name the folder as watched (canonical) joined with the
        // file name; map those back to the paths asked for.
        let mut wanted: HashMap<PathBuf, PathBuf> = HashMap::new();
        let mut dirs = BTreeSet::new();
        for file in files {
            let dir = canonical(file.parent().unwrap_or(Path::new(".")))?;
            let name = file.file_name().context("a file to watch has no name")?;
            wanted.insert(dir.join(name), file.clone());
            dirs.insert(dir);
        }
        let mut whole = Vec::new();
        for folder in folders {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
            let dir = canonical(folder)?;
            whole.push((dir.clone(), folder.clone()));
            dirs.insert(dir);
        }
        let (settled, changes) = mpsc::unbounded_channel();
        let handler = move |events: DebounceEventResult| {
            let Ok(events) = events else { return };
            let mut changed = BTreeSet::new();
            for event in events {
                if matches!(event.kind, EventKind::Access(_)) {
                    continue;
                }
                for path in &event.paths {
                    let asked = wanted.get(path).cloned().or_else(|| {
                        let (dir, name) = (path.parent()?, path.file_name()?);
                        whole
                            .iter()
                            .find(|(canonical, _)| canonical == dir)
                            .map(|(_, folder)| folder.join(name))
                    });
                    changed.extend(asked);
                }
            }
            for path in changed {
                let _ = settled.send(path);
            }
        };
        let mut inner =
            new_debouncer(debounce, None, handler).context("cannot start watching files")?;
        for dir in &dirs {
            inner
                .watch(dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {}", dir.display()))?;
        }
        Ok(Watcher {
            _inner: inner,
            changes,
        })
    }
}

fn canonical(dir: &Path) -> Result<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    dir.canonicalize()
        .with_context(|| format!("cannot watch {}", dir.display()))
}
