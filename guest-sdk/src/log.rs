//! Logging to the pipeline's log through the host. Operators have no stdout
//! or stderr of their own; these messages appear tagged with the stage.

use crate::bindings::map::wasmstream::operator::log::{Level, log};

/// Logs a message at info level.
///
/// ```no_run
/// wasmstream_guest::log::info("loaded 12 rules");
/// ```
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs a message at warn level.
///
/// ```no_run
/// wasmstream_guest::log::warn("field `user` missing; using anonymous");
/// ```
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs a message at error level.
///
/// ```no_run
/// wasmstream_guest::log::error("lookup table is empty");
/// ```
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Logs a message at debug level.
///
/// ```no_run
/// wasmstream_guest::log::debug("batch started");
/// ```
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Sends panic messages to the host's log before the instance traps, so the
/// user sees why the operator failed.
pub(crate) fn forward_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("operator panicked: {info}"))
        }));
    });
}
