//! The files a plan names, found in one place so a plan can move to
//! another machine: `wasmstream deploy` makes them relative to the
//! manifest's folder and names each component by its content hash; a
//! server places them in the tenant's area ([`crate::serve::area`]).

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path, PathBuf};

use super::{Component, PipelinePlan, SinkKind, SourceKind};

/// A file or folder a plan reads or writes, and the field that names it.
#[derive(Debug)]
pub struct DataPath<'a> {
    /// The field, as a user would find it: `sources[lines].path`.
    pub field: String,
    /// The path.
    pub path: &'a mut PathBuf,
}

/// A component a plan runs, and the field that names it.
#[derive(Debug)]
pub struct ComponentRef<'a> {
    /// The field: `stages[count].component`.
    pub field: String,
    /// The component.
    pub component: &'a mut Component,
}

impl PipelinePlan {
    /// The plan as a server takes it (`wasmstream deploy`): its files
    /// relative to `folder` (the manifest's, absolute), its components
    /// named `<sha256>.wasm`; and each component's file here, by hash.
    pub fn portable(
        mut self,
        folder: &Path,
    ) -> std::io::Result<(PipelinePlan, BTreeMap<String, PathBuf>)> {
        for data in self.data_paths_mut() {
            *data.path = relative(folder, &std::path::absolute(&*data.path)?);
        }
        let mut files = BTreeMap::new();
        for found in self.components_mut() {
            let component = found.component;
            files.insert(component.digest.clone(), component.path.clone());
            component.path = PathBuf::from(format!("{}.wasm", component.digest));
        }
        self.file = PathBuf::from(self.file.file_name().unwrap_or_default());
        Ok((self, files))
    }

    /// The files and folders the pipeline reads and writes: directory
    /// sources, file sinks and the checkpoint folder (not its
    /// components, nor the manifest).
    pub fn data_paths_mut(&mut self) -> Vec<DataPath<'_>> {
        let mut found = Vec::new();
        for source in &mut self.sources {
            if let SourceKind::Directory { path, .. } = &mut source.kind {
                let field = format!("sources[{}].path", source.id);
                found.push(DataPath { field, path });
            }
        }
        for sink in &mut self.sinks {
            if let SinkKind::Files { dir, .. } = &mut sink.kind {
                let field = format!("sinks[{}].path", sink.id);
                found.push(DataPath { field, path: dir });
            }
        }
        if let Some(checkpoint) = &mut self.checkpoint {
            found.push(DataPath {
                field: "checkpoint.dir".into(),
                path: &mut checkpoint.dir,
            });
        }
        found
    }

    /// Every component the pipeline runs, in every role.
    pub fn components_mut(&mut self) -> Vec<ComponentRef<'_>> {
        let mut found = Vec::new();
        for stage in &mut self.stages {
            let id = stage.id.clone();
            for (role, component) in stage.components_mut() {
                let field = format!("stages[{id}].{}", role.field());
                found.push(ComponentRef { field, component });
            }
        }
        found
    }
}

/// `path` relative to `folder`, both absolute: with `..` where it lies
/// outside (which a server refuses, saying so).
fn relative(folder: &Path, path: &Path) -> PathBuf {
    let (a, b): (Vec<_>, Vec<_>) = (folder.components().collect(), path.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push(PathPart::ParentDir);
    }
    for part in &b[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_to_the_manifest_folder() {
        let folder = Path::new("/home/u/pipe");
        assert_eq!(
            relative(folder, Path::new("/home/u/pipe/out")),
            Path::new("out")
        );
        assert_eq!(relative(folder, Path::new("/home/u/pipe")), Path::new("."));
        assert_eq!(
            relative(folder, Path::new("/home/u/data/in")),
            Path::new("../data/in")
        );
    }
}
