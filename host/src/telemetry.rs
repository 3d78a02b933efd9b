//! Logging. Everything the engine reports goes through `tracing`, with the
//! tenant, pipeline, stage, source and batch as fields; stdout is kept for
//! output meant for the user (the stdout sink, command results).

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// A line of text per event, for people.
    Text,
    /// A JSON object per line: `timestamp`, `level`, `message`, each field
    /// of the event as its own key, and the fields of the span it ran in
    /// (a hosted pipeline's `tenant` and `pipeline`) under `span`.
    Json,
}

/// The format [`init`] chose.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Tells the user `line` on stderr: as a line of text, or, when logs are
/// JSON, as a log event (so that every line on stderr is JSON).
pub fn say(line: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::info!("{line}"),
        _ => eprintln!("{line}"),
    }
}

/// [`say`] for an error: `error: <line>`, or an event at `error` level.
pub fn say_error(line: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::error!("{line}"),
        _ => eprintln!("error: {line}"),
    }
}

/// Sends logs to stderr in `format`, at `info` unless `RUST_LOG` says
/// otherwise.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
