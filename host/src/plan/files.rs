//! The files a plan names, found in one place so a plan can move to
//! another machine: `wasmstream deploy` makes them relative to the
//! manifest's folder and names each component by its content hash; a
//! server places them in the tenant's area ([`crate::serve::area`]).

use std::path::PathBuf;

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
