//! End-to-end tests: each module is a user story, run against the real
//! `wasmstream` binary and the real stock plugins built for wasm32-wasip2.
//!
//! The guests must be built first; `tests/run` does that, then runs this.

mod support;

mod ad_clicks;
mod conformance;
mod dashboard;
mod fused;
mod fuzz;
mod hardening;
mod hostile;
mod hosting;
mod hot_reload;
mod joins;
mod kafka;
mod kafka_delivery;
mod log_analytics;
mod manifest_errors;
mod metrics;
mod partitions;
mod plan;
mod plugins;
mod polyglot;
mod recovery;
mod sandbox;
mod shutdown;
mod sources;
mod state;
mod temperature;
mod timers;
mod tutorial;
mod windows;
mod wordcount;
mod workers;
mod workers_joins;
mod workers_sessions;
mod workers_state;
mod workers_windows;
