//! Compiled components, cached on disk by content hash so that a restart,
//! a second pipeline or a second stage using the same file never compiles
//! it again.
//!
//! An entry is `WSCWASM1`, the SHA-256 of the compiled code, then the code.
//! The checksum is verified before the code is loaded, so a damaged entry
//! (a full disk, a crash mid-write on a file system that reorders writes)
//! is compiled again instead of crashing the process. It does not stop
//! someone who can write the cache folder (created `0700`): the cache is
//! trusted, as the README's security model says.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
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
    /// A cache entry is native code, so it is checked before it is loaded:
    /// one that is damaged or from another engine is compiled again (with
    /// a warning) and replaced, never run.
    pub fn compile(&self, digest: &Digest, bytes: &[u8]) -> Result<Component> {
        let file = self
            .dir
            .join(format!("{}-{}.cwasm", hex(digest), self.engine_tag));
        match std::fs::read(&file) {
            Ok(entry) => match self.load(&entry) {
                Ok(component) => return Ok(component),
                Err(why) => tracing::warn!(
                    "compile cache entry {} is unusable ({why}); compiling the component again",
                    file.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "cannot read compile cache entry {} ({e}); compiling the component again",
                file.display()
            ),
        }
        check_header(bytes)?;
        let component = Component::new(&self.engine, bytes)
            .map_err(anyhow::Error::from)
            .map_err(explain)?;
        if let Err(e) = self.store(&file, &component) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {e:#}");
        }
        Ok(component)
    }

    /// The component in cache entry `entry`, if its checksum holds and
    /// the engine accepts it; else why not.
    fn load(&self, entry: &[u8]) -> Result<Component, String> {
        let payload = entry
            .strip_prefix(ENTRY_MAGIC)
            .ok_or("it is not a wasmstream cache entry")?;
        if payload.len() < 32 {
            return Err("it is cut short".into());
        }
        let (sum, code) = payload.split_at(32);
        if Sha256::digest(code).as_slice() != sum {
            return Err("its checksum does not match: it is damaged".into());
        }
        // SAFETY: the bytes are what `Component::serialize` wrote (the
        // checksum above says they were not changed since), and wasmtime
        // checks that they were compiled by a compatible engine.
        unsafe { Component::deserialize(&self.engine, code) }
            .map_err(|e| format!("the engine refuses it: {e}"))
    }

    /// Writes `component` to `file` whole or not at all: to a new file
    /// beside it, synced, then renamed over it, and the rename synced.
    fn store(&self, file: &Path, component: &Component) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let code = component.serialize()?;
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(ENTRY_MAGIC)?;
        out.write_all(&Sha256::digest(&code))?;
        out.write_all(&code)?;
        out.sync_all()?;
        drop(out);
        std::fs::rename(&tmp, file)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

/// What a cache entry starts with; the number changes with the layout.
const ENTRY_MAGIC: &[u8] = b"WSCWASM1";

/// Wasmtime's reason a component does not compile, with what to do where
/// wasmstream refuses something on purpose.
fn explain(e: anyhow::Error) -> anyhow::Error {
    let text = format!("{e:#}");
    if text.contains("multiple memories") {
        return anyhow::anyhow!(
            "a module in it declares more than one linear memory (multi-memory), which operators may not use: memory is limited per operator, and one memory is what every toolchain emits ({text})"
        );
    }
    e.context("it is not a valid WebAssembly component")
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
