//! Each tenant's area on the server's disk, and placing an uploaded plan
//! in it.
//!
//! ```text
//! <data>/registry.redb
//! <data>/tenants/<tenant>/components/<sha256>.wasm   uploaded, by content hash
//! <data>/tenants/<tenant>/cache/                     compiled components
//! <data>/tenants/<tenant>/files/                     every file its pipelines read or write
//! <data>/tenants/<tenant>/pipelines/<name>/          log, reload events
//! ```
//!
//! A plan arrives with its paths relative to the manifest's folder; each
//! is placed under the tenant's `files/`, and refused if it is absolute,
//! climbs out with `..`, or passes through a symbolic link. Kafka consumer
//! groups and transactional ids get the tenant's name in front, so two
//! tenants' pipelines of one name never meet.

use std::path::{Component as PathPart, Path, PathBuf};

use crate::plan::{Delivery, PipelinePlan, SinkKind, SourceKind};

/// The server's data folder.
#[derive(Debug, Clone)]
pub struct Area {
    root: PathBuf,
}

impl Area {
    /// The area under `root`, which must exist.
    pub fn new(root: PathBuf) -> Area {
        Area { root }
    }

    /// The registry file.
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry.redb")
    }

    fn tenant(&self, tenant: &str) -> PathBuf {
        self.root.join("tenants").join(tenant)
    }

    /// Where a tenant's component with content hash `digest` is kept.
    pub fn component(&self, tenant: &str, digest: &str) -> PathBuf {
        self.tenant(tenant)
            .join("components")
            .join(format!("{digest}.wasm"))
    }

    /// The tenant's compile cache.
    pub fn cache(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("cache")
    }

    /// The folder every file of the tenant's pipelines is in.
    pub fn files(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("files")
    }

    /// A pipeline's own folder: its log and reload events.
    pub fn pipeline(&self, tenant: &str, name: &str) -> PathBuf {
        self.tenant(tenant).join("pipelines").join(name)
    }

    /// A pipeline's log.
    pub fn log(&self, tenant: &str, name: &str) -> PathBuf {
        self.pipeline(tenant, name).join("log")
    }

    /// Places `plan`, as uploaded by `tenant`, in its area (what the
    /// server binds and runs); or says every way it reaches outside.
    pub fn place(&self, tenant: &str, mut plan: PipelinePlan) -> Result<PipelinePlan, Vec<String>> {
        let mut errors = Vec::new();
        if let Err(e) = check_name("pipeline", &plan.name) {
            return Err(vec![e]);
        }
        let files = self.files(tenant);
        for data in plan.data_paths_mut() {
            match inside(&files, data.path) {
                Ok(placed) => *data.path = placed,
                Err(why) => errors.push(format!(
                    "{} is {}, which {why}; a hosted pipeline's files are relative paths inside the manifest's folder",
                    data.field,
                    data.path.display()
                )),
            }
        }
        for found in plan.components_mut() {
            let digest = found.component.digest.clone();
            let named = found.component.path == Path::new(&format!("{digest}.wasm"));
            let stored = self.component(tenant, &digest);
            if !named || !is_digest(&digest) {
                errors.push(format!(
                    "{} names {}, not an uploaded component (`<sha256>.wasm`)",
                    found.field,
                    found.component.path.display()
                ));
            } else if !stored.is_file() {
                errors.push(format!(
                    "{} names component {digest}, which has not been uploaded",
                    found.field
                ));
            }
            found.component.path = stored;
        }
        for source in &mut plan.sources {
            match &mut source.kind {
                SourceKind::Socket { .. } | SourceKind::Stdin => errors.push(format!(
                    "sources[{}] reads a socket or stdin, which a hosted pipeline cannot; use kafka, directory or generator",
                    source.id
                )),
                SourceKind::Kafka(kafka) => kafka.group = format!("{tenant}.{}", kafka.group),
                SourceKind::Directory { .. } | SourceKind::Generator { .. } => {}
            }
        }
        for sink in &mut plan.sinks {
            match &mut sink.kind {
                SinkKind::Stdout { .. } => errors.push(format!(
                    "sinks[{}] prints to stdout, which a hosted pipeline cannot; use files or kafka",
                    sink.id
                )),
                SinkKind::Kafka(kafka) => {
                    if let Delivery::ExactlyOnce(tx) = &mut kafka.delivery {
                        tx.transactional_id = format!("{tenant}.{}", tx.transactional_id);
                        for source in &mut tx.sources {
                            source.group = format!("{tenant}.{}", source.group);
                        }
                    }
                }
                SinkKind::Files { .. } => {}
            }
        }
        // New versions come from deploys, not from watching files.
        plan.reload.watch = false;
        plan.file = self.pipeline(tenant, &plan.name).join("manifest.toml");
        match errors.is_empty() {
            true => Ok(plan),
            false => Err(errors),
        }
    }
}

/// Checks a tenant's or pipeline's name is a safe folder name.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{what} name `{name}` is not 1 to 64 letters, digits, `-`, `_` or `.` (not first)"
        )),
    }
}

/// Whether `text` is a SHA-256 in lowercase hex, as components are named.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `path` placed under `root`, or why it cannot be.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let mut placed = root.to_path_buf();
    for part in path.components() {
        match part {
            PathPart::Normal(name) => {
                placed.push(name);
                // A link already there could lead anywhere.
                if placed
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
                {
                    return Err("passes through a symbolic link".into());
                }
            }
            PathPart::CurDir => {}
            PathPart::ParentDir => return Err("climbs out with `..`".into()),
            PathPart::RootDir | PathPart::Prefix(_) => return Err("is absolute".into()),
        }
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_placed_under_the_root_or_refused() {
        let root = Path::new("/srv/t/files");
        assert_eq!(
            inside(root, Path::new("out/x")).unwrap(),
            root.join("out/x")
        );
        assert_eq!(inside(root, Path::new("./out")).unwrap(), root.join("out"));
        assert!(
            inside(root, Path::new("../b/files"))
                .unwrap_err()
                .contains("..")
        );
        assert!(
            inside(root, Path::new("a/../../b"))
                .unwrap_err()
                .contains("..")
        );
        assert!(
            inside(root, Path::new("/etc"))
                .unwrap_err()
                .contains("absolute")
        );
    }

    #[test]
    fn a_symbolic_link_in_the_area_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("wasmstream-area-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("out");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/tmp", &link).unwrap();
        assert!(
            inside(&dir, Path::new("out/x"))
                .unwrap_err()
                .contains("symbolic link")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_that_could_be_paths_are_refused() {
        assert!(check_name("tenant", "acme-1").is_ok());
        for bad in ["", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name("tenant", bad).is_err(), "{bad}");
        }
    }
}
