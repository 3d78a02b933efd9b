//! What an operator instance can see: its store data, the imports it is
//! linked against, and the limits that bound it.
//!
//! By default an operator gets logging and a WASI that grants nothing: no
//! files, no sockets, no environment or arguments, closed stdio, a clock
//! frozen at the epoch and a fixed random seed, so that a batch replayed
//! after a crash produces the same output.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::log;

/// How many log lines one call may emit before the rest are dropped (and
/// counted), so a chatty operator cannot flood the host's log.
const LOG_LINES_PER_CALL: u32 = 100;
/// The longest log line kept; longer ones are cut.
const LOG_LINE_BYTES: usize = 4096;

/// Everything one operator instance's store holds.
pub struct StoreData {
    /// Names the instance in logs and errors: `pipeline/stage[partition]`.
    pub(crate) label: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// The last error the operator logged during the current call; a panic
    /// message arrives this way just before the trap.
    pub(crate) last_error: Option<String>,
    logged: u32,
}

impl StoreData {
    pub(crate) fn new(label: Arc<str>, memory_bytes: usize) -> Self {
        let wasi = WasiCtx::builder()
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::random::Deterministic::new(vec![
                7, 42, 99, 3,
            ]))
            .insecure_random(wasmtime_wasi::random::Deterministic::new(vec![1, 2, 3, 4]))
            .insecure_random_seed(0)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        StoreData {
            label,
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes,
                denied: None,
            },
            last_error: None,
            logged: 0,
        }
    }

    /// Clears what the previous call left behind.
    pub(crate) fn start_call(&mut self) {
        self.last_error = None;
        self.logged = 0;
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for StoreData {
    fn log(&mut self, level: log::Level, mut message: String) {
        self.logged += 1;
        if self.logged > LOG_LINES_PER_CALL {
            if self.logged == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(operator = %self.label, "operator logged more than {LOG_LINES_PER_CALL} lines in one batch; dropping the rest");
            }
            return;
        }
        if message.len() > LOG_LINE_BYTES {
            let cut = (0..=LOG_LINE_BYTES)
                .rev()
                .find(|&i| message.is_char_boundary(i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push('…');
        }
        let operator = &*self.label;
        match level {
            log::Level::Trace => tracing::trace!(operator, "{message}"),
            log::Level::Debug => tracing::debug!(operator, "{message}"),
            log::Level::Info => tracing::info!(operator, "{message}"),
            log::Level::Warn => tracing::warn!(operator, "{message}"),
            log::Level::Error => {
                tracing::error!(operator, "{message}");
                self.last_error = Some(message);
            }
        }
    }
}

/// Links the only imports an operator may use.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    log::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |data| data)?;
    Ok(())
}

/// Caps an instance's linear memory. Growing past the cap traps, and the
/// cap is remembered so the failure can be reported as what it is.
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    pub(crate) denied: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.denied = Some(desired);
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_bytes);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A clock that always reads zero: operators see no time unless granted.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
