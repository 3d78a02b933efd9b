//! The code behind a stage: a sandboxed Wasm component, loaded and
//! ready to instantiate, or (for benchmarks and the engine's own counting
//! steps) a native Rust closure.

mod native;
mod stats;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::plugin::{Limits, Plugin};

pub use native::NativeOperator;
pub use stats::{CallFigures, CallStats};

/// The code behind a stage: a Wasm component, or a native closure (used by
/// benchmarks for comparison, and by built-in steps).
#[derive(Clone)]
pub enum Operator {
    /// A sandboxed component, its params and its limits.
    Wasm(Arc<WasmOperator>),
    /// Trusted Rust code.
    Native(NativeOperator),
}

/// A component as a stage uses it.
pub struct WasmOperator {
    /// The compiled component.
    pub plugin: Arc<Plugin>,
    /// The stage's params, handed to `init`.
    pub params: Vec<(String, String)>,
    /// Memory and CPU per call.
    pub limits: Limits,
    /// What its calls cost, over all partitions.
    pub stats: CallStats,
}

impl Operator {
    /// A Wasm operator.
    pub fn wasm(plugin: Arc<Plugin>, params: Vec<(String, String)>, limits: Limits) -> Self {
        Operator::Wasm(Arc::new(WasmOperator {
            plugin,
            params,
            limits,
            stats: CallStats::default(),
        }))
    }

    /// The component file, if this is a Wasm operator.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Operator::Wasm(op) => Some(op.plugin.path()),
            Operator::Native(_) => None,
        }
    }
}

impl fmt::Debug for WasmOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmOperator")
            .field("file", &self.plugin.path())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Wasm(op) => write!(f, "Wasm({})", op.plugin.path().display()),
            Operator::Native(_) => f.write_str("Native"),
        }
    }
}
