//! Logging. Everything the engine reports goes through `tracing`, with the
//! pipeline, stage, source and batch as fields; stdout is kept for output
//! meant for the user (the stdout sink, command results).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Sends logs to stderr, at `info` unless `RUST_LOG` says otherwise.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
