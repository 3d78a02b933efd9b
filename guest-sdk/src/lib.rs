//! Write wasmstream operators in Rust.
//!
//! An operator is a WebAssembly component that the wasmstream host calls
//! once per micro-batch. This crate hides the component plumbing: implement
//! one trait for your operator's kind, see one [`Record`] at a time, and
//! export it with one macro.
//!
//! | kind | trait | macro | contract |
//! |---|---|---|---|
//! | map | [`Map`] | [`export_map!`] | one record in, one out |
//! | filter | [`Filter`] | [`export_filter!`] | keep or drop |
//! | flat-map | [`FlatMap`] | [`export_flat_map!`] | one in, zero or more out |
//! | reduce | [`Reduce`] | [`export_reduce!`] | associative combine per key |
//! | update-state | [`UpdateState`] | [`export_update_state!`] | per-key state across batches |
//! | keyed-process | [`KeyedProcess`] | [`export_keyed_process!`] | per-key state and event-time timers |
//! | cogroup | [`Cogroup`] | [`export_cogroup!`] | two streams' records per key, for joins |
//!
//! Each kind gets its stage's manifest `params` once, in `init`. The first
//! error a record causes stops the batch; the host reports the stage, the
//! batch and the record. [`Record::value_str`], [`Record::value_json`] and
//! [`json::field`] read UTF-8 and JSON values.
//!
//! ```
//! use wasmstream_guest::{Error, Map, Params, Record};
//!
//! struct Lowercase;
//!
//! impl Map for Lowercase {
//!     fn init(params: &Params) -> Result<Self, String> {
//!         params.only(&[])?;
//!         Ok(Lowercase)
//!     }
//!     fn map<'a>(&mut self, record: Record<'a>) -> Result<Record<'a>, Error> {
//!         let lower = record.value_str()?.to_lowercase();
//!         Ok(record.with_value(lower))
//!     }
//! }
//! // wasmstream_guest::export_map!(Lowercase);
//! # assert_eq!(Lowercase.map(Record::new("Hi")).unwrap().value_str().unwrap(), "hi");
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm`
//! file is the component a manifest names.
//!
//! Under the hood a batch crosses the boundary as a few flat lists (see
//! `wit/operator.wit`), not one value per record; that is what makes the
//! per-record cost small.

#![deny(missing_docs)]

// The generated bindings name this crate by its public name.
extern crate self as wasmstream_guest;

#[doc(hidden)]
pub mod bindings;
pub mod cogroup;
mod error;
pub mod filter;
pub mod flat_map;
pub mod json;
pub mod keyed_process;
pub mod log;
pub mod map;
mod params;
mod record;
pub mod reduce;
mod slot;
pub mod text;
pub mod update_state;

pub use cogroup::Cogroup;
pub use error::Error;
pub use filter::Filter;
pub use flat_map::{Emitter, FlatMap};
pub use keyed_process::KeyedProcess;
pub use map::Map;
pub use params::Params;
pub use record::{Bytes, Header, Record};
pub use reduce::Reduce;
pub use update_state::UpdateState;

#[doc(hidden)]
pub mod __private {
    pub use crate::slot::Slot;
}
