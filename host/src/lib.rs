//! wasmstream: a micro-batch stream processor whose user operators are
//! sandboxed WebAssembly components.
//!
//! A record's path through the engine, and the module that owns each step:
//!
//! ```text
//!  source ──► batcher ──► stage ──► shuffle ──► stage ... ──► sink
//!  (source)   (scheduler)  (stage,    (shuffle)                (sink)
//!                           plugin)
//! ```
//!
//! - [`manifest`]: the TOML the user wrote, parsed with every error
//!   located. [`plan`]: the same pipeline resolved and checked (components
//!   loaded, kinds matched, graph acyclic): what the engine runs.
//! - [`record`]: [`record::Batch`], the columnar batch on every edge, laid
//!   out exactly as the WIT contract so it crosses into Wasm in bulk.
//! - [`source`]: directories, generators and Kafka topics, pulled at each
//!   cut from a position they can return to; sockets and stdin, pushed
//!   through bounded channels.
//! - [`rate`]: backpressure, Spark's PID rate estimator.
//! - [`scheduler`]: the batch loop. Every interval it cuts a batch from
//!   the sources, runs the stages, writes the sinks; on Ctrl-C it finishes
//!   the last batch with everything read.
//! - [`stage`]: runs an operator over a stage's partitions in parallel,
//!   one call per partition per batch (split when it would not fit the
//!   operator's limits). [`shuffle`]: the edges between
//!   stages, pipeline or exchange-by-key.
//! - [`plugin`]: the Wasm runtime: one engine, a compile cache keyed by
//!   content hash, `InstancePre`, and per-instance memory and CPU limits.
//! - [`state`]: per-key state for update-state stages, partitioned like
//!   the shuffle. Windows keep theirs in [`stage`].
//! - [`sink`]: stdout (`pprint`), one file per batch, and Kafka.
//! - [`connector`]: Kafka in one folder (client settings, source, sink,
//!   transactions). [`retry`]: the one backoff policy for connections.
//! - [`checkpoint`]: the intent log written before each batch and the
//!   checkpoints written after, which make a restart resume exactly.
//! - [`reload`]: hot reload: changed components checked off the batch
//!   path and swapped in between batches, with rollback, shadows and an
//!   event record.
//! - [`serve`]: `wasmstream serve`, hosting many tenants' pipelines
//!   behind an HTTP API, each tenant in its own area under its quota.
//! - [`metrics`]: Prometheus metrics per pipeline, and `/metrics`.
//! - [`cli`] and [`telemetry`]: the command line and logging.
//! - [`fuzz`]: the fuzz targets for every reader of untrusted bytes.

pub mod checkpoint;
pub mod cli;
pub mod connector;
pub mod fuzz;
pub mod manifest;
pub mod metrics;
pub mod operator;
pub mod plan;
pub mod plugin;
pub mod position;
pub mod rate;
pub mod record;
pub mod reload;
pub mod retry;
pub mod scheduler;
pub mod serve;
pub mod shuffle;
pub mod sink;
pub mod source;
pub mod stage;
pub mod state;
pub mod summary;
pub mod telemetry;
