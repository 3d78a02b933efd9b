//! Loading and running operator components.
//!
//! [`Runtime`] is shared by every pipeline in the process: one wasmtime
//! `Engine`, one `Linker` holding the only imports an operator can see
//! (logging, plus a deny-all WASI), and a compile cache keyed by the
//! component's content hash, on disk and in memory. [`Runtime::load`]
//! turns a `.wasm` file into a [`Plugin`]: compiled once, pre-linked into an
//! `InstancePre`, its operator kind read from its exports.
//! [`Plugin::instantiate`] makes an [`Instance`] per stage partition, with
//! the stage's memory limit and per-call CPU budget attached to its store.

pub mod bindings;
mod budget;
pub use budget::thread_cpu;
mod cache;
mod failure;
mod instance;
mod pace;
mod sandbox;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine};

pub use failure::{CallError, Failure};
pub use instance::{
    CogroupInput, Instance, Limits, ProcessInput, ProcessOutput, StateInput, StateOutput,
};
pub use pace::CallSize;
pub use sandbox::StoreData;

/// The optional interface an update-state operator may export beside its
/// kind, to convert an earlier version's states.
pub const MIGRATE: &str = "wasmstream:operator/migrate@0.1.0";

/// How often the engine's epoch advances; the CPU budget is counted in
/// these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The kind of operator a component is, read from what it exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperatorKind {
    /// One record in, one out.
    Map,
    /// Keep or drop.
    Filter,
    /// One in, zero or more out.
    FlatMap,
    /// Associative combine per key.
    Reduce,
    /// Per-key state across batches.
    UpdateState,
    /// Two keyed streams' records per key, for joins.
    Cogroup,
    /// Per-key state over event time, with timers.
    KeyedProcess,
}

impl OperatorKind {
    /// Every kind, in the order they appear in the WIT.
    pub const ALL: [OperatorKind; 7] = [
        OperatorKind::Map,
        OperatorKind::Filter,
        OperatorKind::FlatMap,
        OperatorKind::Reduce,
        OperatorKind::UpdateState,
        OperatorKind::Cogroup,
        OperatorKind::KeyedProcess,
    ];

    /// The fully qualified name of the interface a component of this kind
    /// exports.
    pub fn interface(self) -> &'static str {
        match self {
            OperatorKind::Map => "wasmstream:operator/map@0.1.0",
            OperatorKind::Filter => "wasmstream:operator/filter@0.1.0",
            OperatorKind::FlatMap => "wasmstream:operator/flat-map@0.1.0",
            OperatorKind::Reduce => "wasmstream:operator/reduce@0.1.0",
            OperatorKind::UpdateState => "wasmstream:operator/update-state@0.1.0",
            OperatorKind::Cogroup => "wasmstream:operator/cogroup@0.1.0",
            OperatorKind::KeyedProcess => "wasmstream:operator/keyed-process@0.1.0",
        }
    }
}

impl fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OperatorKind::Map => "map",
            OperatorKind::Filter => "filter",
            OperatorKind::FlatMap => "flat-map",
            OperatorKind::Reduce => "reduce",
            OperatorKind::UpdateState => "update-state",
            OperatorKind::Cogroup => "cogroup",
            OperatorKind::KeyedProcess => "keyed-process",
        })
    }
}

/// The content hash of a component's bytes, hex-encoded: how plans and
/// reload events name a version.
pub fn content_hash(bytes: &[u8]) -> String {
    cache::hex(&cache::digest(bytes))
}

/// Set (to anything) to write `/tmp/perf-<pid>.map`, so that `perf report`
/// names the functions of compiled operators.
pub const PERFMAP_VAR: &str = "WASMSTREAM_PERFMAP";

/// The engine, linker and compile cache shared by all pipelines.
pub struct Runtime {
    linker: Linker<StoreData>,
    cache: cache::Cache,
    loaded: Mutex<HashMap<cache::Digest, Arc<Plugin>>>,
}

impl Runtime {
    /// A runtime that caches compiled components in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Arc<Runtime>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // `perf` names the operators' functions when asked (see the
        // README's "Profiling operators").
        if std::env::var_os(PERFMAP_VAR).is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        config.wasm_component_model(true);
        // Memory is limited per operator; several memories in one module
        // are a way around per-memory accounting that no toolchain needs.
        config.wasm_multi_memory(false);
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("failed to configure the Wasm engine")?;

        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker)?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("failed to start the epoch thread")?;

        Ok(Arc::new(Runtime {
            cache: cache::Cache::new(cache_dir.into(), &engine),
            linker,
            loaded: Mutex::new(HashMap::new()),
        }))
    }

    /// The default compile cache: `$WASMSTREAM_CACHE`, else
    /// `$XDG_CACHE_HOME/wasmstream`, else `~/.cache/wasmstream`.
    pub fn default_cache_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("WASMSTREAM_CACHE") {
            return dir.into();
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Path::new(&dir).join("wasmstream");
        }
        match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".cache/wasmstream"),
            None => std::env::temp_dir().join("wasmstream-cache"),
        }
    }

    /// Loads the component at `path`: compiled at most once per content
    /// hash (reused from disk across restarts), pre-linked, and its kind
    /// found. Blocking: call it off the async runtime.
    pub fn load(&self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let fail = |reason: String| LoadError {
            path: path.to_owned(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let digest = cache::digest(&bytes);
        if let Some(plugin) = self
            .loaded
            .lock()
            .expect("plugin table poisoned")
            .get(&digest)
        {
            return Ok(plugin.clone());
        }
        let component = self
            .cache
            .compile(&digest, &bytes)
            .map_err(|e| fail(format!("{e:#}")))?;
        let plugin = Arc::new(self.link(path, digest, component).map_err(fail)?);
        self.loaded
            .lock()
            .expect("plugin table poisoned")
            .insert(digest, plugin.clone());
        Ok(plugin)
    }

    fn link(
        &self,
        path: &Path,
        digest: cache::Digest,
        component: Component,
    ) -> Result<Plugin, String> {
        let exported = |name: &str| component.get_export_index(None, name).is_some();
        let kinds: Vec<_> = OperatorKind::ALL
            .into_iter()
            .filter(|k| exported(k.interface()))
            .collect();
        let kind = match kinds.as_slice() {
            [kind] => *kind,
            [] => {
                return Err(format!(
                    "it is not a wasmstream operator: it exports none of {}",
                    OperatorKind::ALL.map(|k| k.interface()).join(", ")
                ));
            }
            many => {
                return Err(format!(
                    "it exports several operator kinds ({many:?}); an operator has exactly one"
                ));
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            format!("it needs an import wasmstream does not grant ({e}); operators may only import logging and WASI")
        })?;
        let indices = instance::Indices::new(&pre, kind)
            .map_err(|e| format!("its exports do not match the contract: {e:#}"))?;
        let migrate = match exported(MIGRATE) {
            true if kind == OperatorKind::UpdateState => Some(
                bindings::migrate::GuestIndices::new(&pre)
                    .map_err(|e| format!("its migrate-state does not match the contract: {e:#}"))?,
            ),
            true => {
                return Err(format!(
                    "it exports {MIGRATE}, which only an update-state operator may"
                ));
            }
            false => None,
        };
        Ok(Plugin {
            path: path.to_owned(),
            digest,
            kind,
            pre,
            indices,
            migrate,
        })
    }
}

/// A component that could not be loaded, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot load operator {}: {reason}", path.display())]
pub struct LoadError {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// A compiled, pre-linked operator component.
pub struct Plugin {
    path: PathBuf,
    digest: cache::Digest,
    kind: OperatorKind,
    pre: InstancePre<StoreData>,
    indices: instance::Indices,
    /// The optional `migrate` interface.
    migrate: Option<bindings::migrate::GuestIndices>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Plugin {
    /// What kind of operator the component exports.
    pub fn kind(&self) -> OperatorKind {
        self.kind
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it converts earlier versions' states (exports `migrate`).
    pub fn migrates(&self) -> bool {
        self.migrate.is_some()
    }

    /// The component's content hash, hex-encoded.
    pub fn digest(&self) -> String {
        cache::hex(&self.digest)
    }

    /// A fresh instance with `limits`, its `init` called with `params`.
    /// Blocking: call it off the async runtime.
    pub fn instantiate(
        &self,
        label: Arc<str>,
        limits: Limits,
        params: &[(String, String)],
    ) -> Result<Instance, CallError> {
        Instance::new(self, label, limits, params)
    }
}
