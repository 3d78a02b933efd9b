//! What an operator instance can see: its store data, the imports it is
//! linked against, and the limits that bound it.
//!
//! By default an operator gets logging and a WASI that grants nothing: no
//! files, no sockets, no environment or arguments, closed stdio, a clock
//! frozen at the epoch (whose timers fire at once) and a fixed random seed,
//! so that a batch replayed after a crash produces the same output, and no
//! import blocks the thread. `wasi:http` is linked too, because some
//! toolchains' components import it whether they use it or not
//! (componentize-js's all do), and every request it is asked to send is
//! refused.

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreContextMut};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use super::bindings::log;
use super::budget::Budget;

/// How many log lines one call may emit before the rest are dropped (and
/// counted), so a chatty operator cannot flood the host's log.
const LOG_LINES_PER_CALL: u32 = 100;
/// The most bytes of any text an operator hands the host (a log line, an
/// error message) that reach a log, an event or an API response; the rest
/// is cut, and the cut said.
pub(crate) const GUEST_TEXT_BYTES: usize = 4096;

/// `text` from an operator, cut to [`GUEST_TEXT_BYTES`] at a character
/// boundary, saying how much was cut.
pub(crate) fn bounded(mut text: String) -> String {
    if text.len() <= GUEST_TEXT_BYTES {
        return text;
    }
    let cut = (0..=GUEST_TEXT_BYTES)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let dropped = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!("… ({dropped} more bytes cut)"));
    text
}

/// Everything one operator instance's store holds.
pub struct StoreData {
    /// Names the instance in logs and errors: `pipeline/stage[partition]`.
    pub(crate) label: Arc<str>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    refuse_requests: RefuseRequests,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// The last error the operator logged during the current call; a panic
    /// message arrives this way just before the trap.
    pub(crate) last_error: Option<String>,
    logged: u32,
    /// The running call's CPU budget.
    pub(crate) budget: Budget,
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
            http: WasiHttpCtx::new(),
            refuse_requests: RefuseRequests,
            table: ResourceTable::new(),
            limiter: Limiter::new(memory_bytes),
            last_error: None,
            logged: 0,
            budget: Budget::start(Duration::ZERO),
        }
    }

    /// Clears what the previous call left behind.
    /// A call with a CPU budget of `cpu` starts: returns the epoch ticks
    /// to its deadline.
    pub(crate) fn start_call(&mut self, cpu: Duration) -> u64 {
        self.last_error = None;
        self.logged = 0;
        self.budget = Budget::start(cpu);
        self.budget.first_deadline()
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

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.refuse_requests,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// `wasi:http` hooks that refuse every request.
struct RefuseRequests;

/// What a `wasi:http` response comes back as: the response and a future
/// for its body's end.
type HttpResponse = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
)>;

impl WasiHttpHooks for RefuseRequests {
    fn send_request(
        &mut self,
        _: http::Request<WasiBody>,
        _: Option<RequestOptions>,
        _: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = HttpResponse> + Send> {
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

impl log::Host for StoreData {
    fn log(&mut self, level: log::Level, message: String) {
        self.logged += 1;
        if self.logged > LOG_LINES_PER_CALL {
            if self.logged == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(operator = %self.label, "operator logged more than {LOG_LINES_PER_CALL} lines in one batch; dropping the rest");
            }
            return;
        }
        let message = bounded(message);
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
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
    log::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |data| data)?;
    frozen_timers(linker)?;
    Ok(())
}

/// The WASI version whose monotonic clock [`frozen_timers`] replaces; a
/// component importing an older 0.2 version is linked to it too.
const WASI_CLOCKS: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces WASI's timers with ones that are ready at once. The clock an
/// operator sees is frozen, so no time passes while it waits; and a timer
/// that really waited would hold the thread outside Wasm, where the CPU
/// budget cannot stop it. A sleep returns at once, and an operator that
/// sleeps in a loop spins in Wasm, where the budget stops it.
fn frozen_timers(linker: &mut Linker<StoreData>) -> anyhow::Result<()> {
    fn ready(data: &mut StoreData) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = data.table.push(Ready)?;
        subscribe(&mut data.table, timer)
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance(WASI_CLOCKS)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, StoreData>, (_,): (u64,)| Ok((ready(store.data_mut())?,)),
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, StoreData>, (_,): (u64,)| Ok((ready(store.data_mut())?,)),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A timer that has already fired.
struct Ready;

impl Pollable for Ready {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

/// Caps what an instance holds: its linear memories together (however
/// many core instances a component has, each with its own memory), its
/// tables' elements together, and how many instances, memories and tables
/// it makes. Growing past a cap traps, and the memory cap is remembered so
/// the failure can be reported as what it is.
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    pub(crate) denied: Option<usize>,
    /// The table elements the instance asked for past the cap, if it did.
    pub(crate) tables_denied: Option<usize>,
    /// Bytes of linear memory the instance has, over all its memories.
    memory_used: usize,
    /// Elements the instance's tables hold, over all its tables.
    table_elements: usize,
}

/// The most table elements an instance may hold, over all its tables.
pub(crate) const TABLE_ELEMENTS: usize = 1_000_000;
/// The most core instances, memories and tables one operator may create;
/// toolchains emit a handful, languages with a runtime a few dozen.
const INSTANCES: usize = 1000;
const MEMORIES: usize = 100;
const TABLES: usize = 100;

impl Limiter {
    /// Bytes of linear memory the instance has now.
    pub(crate) fn memory_used(&self) -> usize {
        self.memory_used
    }

    pub(crate) fn new(memory_bytes: usize) -> Self {
        Limiter {
            memory_bytes,
            denied: None,
            tables_denied: None,
            memory_used: 0,
            table_elements: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_bytes {
            self.denied = Some(total);
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_bytes);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_elements - current.min(self.table_elements) + desired;
        if total > TABLE_ELEMENTS {
            self.tables_denied = Some(total);
            wasmtime::bail!("table limit of {TABLE_ELEMENTS} elements reached");
        }
        self.table_elements = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        INSTANCES
    }

    fn memories(&self) -> usize {
        MEMORIES
    }

    fn tables(&self) -> usize {
        TABLES
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_limited_over_all_of_an_instances_memories() {
        const MIB: usize = 1 << 20;
        let mut limiter = Limiter::new(16 * MIB);
        // Three memories of 5 MiB each fit under 16 MiB ...
        for _ in 0..3 {
            assert!(limiter.memory_growing(0, 5 * MIB, None).unwrap());
        }
        // ... a fourth does not, though it alone is under the limit,
        assert!(limiter.memory_growing(0, 5 * MIB, None).is_err());
        assert_eq!(limiter.denied, Some(20 * MIB));
        // and growing one of the three by 1 MiB still fits.
        assert!(limiter.memory_growing(5 * MIB, 6 * MIB, None).unwrap());
        assert!(limiter.memory_growing(6 * MIB, 7 * MIB, None).is_err());
    }

    #[test]
    fn table_elements_are_limited_over_all_tables() {
        let mut limiter = Limiter::new(1 << 20);
        assert!(limiter.table_growing(0, TABLE_ELEMENTS / 2, None).unwrap());
        assert!(limiter.table_growing(0, TABLE_ELEMENTS / 2, None).unwrap());
        assert!(limiter.table_growing(0, 1, None).is_err());
        assert_eq!(limiter.tables_denied, Some(TABLE_ELEMENTS + 1));
    }

    #[test]
    fn guest_text_is_cut_at_a_character_boundary_and_says_so() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(GUEST_TEXT_BYTES);
        let cut = bounded(long.clone());
        let kept = GUEST_TEXT_BYTES / 2 * 2;
        assert!(cut.starts_with(&long[..kept]));
        assert!(
            cut.ends_with(&format!("… ({} more bytes cut)", long.len() - kept)),
            "{}",
            &cut[kept..]
        );
    }
}
