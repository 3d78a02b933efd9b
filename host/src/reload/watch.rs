//! Watching files for changes, debounced. Editors write a file in several
//! steps and builds replace it (write elsewhere, rename over), so each
//! file's folder is watched, not the file, and a file counts as changed
//! once it has been quiet for the debounce time.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// Changed files, each once its writes have settled.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
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
        let (raw, raw_changes) = std_mpsc::channel::<PathBuf>();
        let mut inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                let asked = wanted.get(&path).cloned().or_else(|| {
                    let (dir, name) = (path.parent()?, path.file_name()?);
                    whole
                        .iter()
                        .find(|(canonical, _)| canonical == dir)
                        .map(|(_, folder)| folder.join(name))
                });
                if let Some(asked) = asked {
                    let _ = raw.send(asked);
                }
            }
        })
        .context("cannot start watching files")?;
        for dir in &dirs {
            inner
                .watch(dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {}", dir.display()))?;
        }
        let (settled, changes) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("reload-debounce".into())
            .spawn(move || debounce_loop(raw_changes, settled, debounce))
            .context("cannot start the debounce thread")?;
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

/// Passes each path on once no event has come for it for `quiet`; ends
/// when either side is gone.
fn debounce_loop(
    raw: std_mpsc::Receiver<PathBuf>,
    settled: mpsc::UnboundedSender<PathBuf>,
    quiet: Duration,
) {
    let mut pending: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let next = pending.values().min().map(|last| *last + quiet);
        let received = match next {
            None => raw
                .recv()
                .map_err(|_| std_mpsc::RecvTimeoutError::Disconnected),
            Some(at) => raw.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(path) => {
                pending.insert(path, Instant::now());
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let ready: Vec<PathBuf> = pending
            .iter()
            .filter(|(_, last)| now.duration_since(**last) >= quiet)
            .map(|(path, _)| path.clone())
            .collect();
        for path in ready {
            pending.remove(&path);
            if settled.send(path).is_err() {
                return;
            }
        }
    }
}
