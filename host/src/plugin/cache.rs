//! Compiled components, cached on disk by content hash so that a restart,
//! a second pipeline or a second stage using the same file never compiles
//! it again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

pub type Digest = [u8; 32];

pub fn digest(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

pub fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Cache {
    dir: PathBuf,
    engine: Engine,
    /// Distinguishes artifacts of different wasmtime versions and engine
    /// settings, which cannot load each other's code.
    engine_tag: String,
}

impl Cache {
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Cache {
            dir,
            engine: engine.clone(),
            engine_tag: format!("{:016x}", hasher.finish()),
        }
    }

    /// The compiled component for `bytes`, from the cache if it is there.
    /// A cache file that cannot be used is replaced, never trusted blindly.
    pub fn compile(&self, digest: &Digest, bytes: &[u8]) -> Result<Component> {
        let file = self
            .dir
            .join(format!("{}-{}.cwasm", hex(digest), self.engine_tag));
        if file.exists() {
            // SAFETY: files in the cache directory are written only by
            // `Component::serialize` below, under a name derived from the
            // engine's compatibility hash; wasmtime checks the header too.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(file = %file.display(), "ignoring unusable compile cache entry: {e:#}")
                }
            }
        }
        check_header(bytes)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(anyhow::Error::from)
            .context("it is not a valid WebAssembly component")?;
        if let Err(e) = self.store(&file, &component) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {e:#}");
        }
        Ok(component)
    }

    fn store(&self, file: &std::path::Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, component.serialize()?)?;
        std::fs::rename(&tmp, file)?;
        Ok(())
    }
}

/// Says plainly what a file is when it is not a component, before wasmtime
/// gives a parser's view of it.
fn check_header(bytes: &[u8]) -> Result<()> {
    const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    match bytes.get(..8) {
        Some(head) if head[..4] == *b"\0asm" => {
            if head[4..] != COMPONENT_LAYER {
                anyhow::bail!(
                    "it is a core WebAssembly module, not a component; build operators for wasm32-wasip2 (or wrap the module with `wasm-tools component new`)"
                );
            }
            Ok(())
        }
        _ => anyhow::bail!(
            "it is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)"
        ),
    }
}
