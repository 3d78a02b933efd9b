//! The host's one `bindgen!`, generated from `wit/operator.wit`.
//!
//! The `host` world exports every operator kind; a component exports only
//! one, so the runtime loads just that kind's interface (see
//! [`super::Plugin`]).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host",
});

pub use self::exports::wasmstream::operator::{
    cogroup, filter, flat_map, keyed_process, map, migrate, reduce, update_state,
};
pub use self::wasmstream::operator::log;
pub use self::wasmstream::operator::types::{Batch, ByteList, OperatorError};
