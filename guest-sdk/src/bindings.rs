//! The raw bindings wit-bindgen generates from `wit/operator.wit`, one
//! module per operator world. Authors never name these; the export macros do.
//!
//! The shared `types` and `log` interfaces are generated once, in `map`, and
//! reused by the other worlds so that one `Batch` type serves every kind.

#![allow(missing_docs, reason = "generated code")]

pub mod map {
    wit_bindgen::generate!({
        path: "../wit",
        world: "map-operator",
        pub_export_macro: true,
        export_macro_name: "export_map_operator",
        default_bindings_module: "wasmstream_guest::bindings::map",
        runtime_path: "wasmstream_guest::bindings::rt",
    });
}

pub mod filter {
    wit_bindgen::generate!({
        path: "../wit",
        world: "filter-operator",
        pub_export_macro: true,
        export_macro_name: "export_filter_operator",
        default_bindings_module: "wasmstream_guest::bindings::filter",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}

pub mod flat_map {
    wit_bindgen::generate!({
        path: "../wit",
        world: "flat-map-operator",
        pub_export_macro: true,
        export_macro_name: "export_flat_map_operator",
        default_bindings_module: "wasmstream_guest::bindings::flat_map",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}

pub mod reduce {
    wit_bindgen::generate!({
        path: "../wit",
        world: "reduce-operator",
        pub_export_macro: true,
        export_macro_name: "export_reduce_operator",
        default_bindings_module: "wasmstream_guest::bindings::reduce",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}

pub use map::wasmstream::operator::types::{Batch, ByteList, OperatorError};
pub mod update_state {
    wit_bindgen::generate!({
        path: "../wit",
        world: "update-state-operator",
        pub_export_macro: true,
        export_macro_name: "export_update_state_operator",
        default_bindings_module: "wasmstream_guest::bindings::update_state",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}

pub use wit_bindgen::rt;

pub mod migrate {
    wit_bindgen::generate!({
        path: "../wit",
        world: "migrate-hook",
        pub_export_macro: true,
        export_macro_name: "export_migrate_hook",
        default_bindings_module: "wasmstream_guest::bindings::migrate",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
        },
    });
}

pub mod cogroup {
    wit_bindgen::generate!({
        path: "../wit",
        world: "cogroup-operator",
        pub_export_macro: true,
        export_macro_name: "export_cogroup_operator",
        default_bindings_module: "wasmstream_guest::bindings::cogroup",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}

pub mod keyed_process {
    wit_bindgen::generate!({
        path: "../wit",
        world: "keyed-process-operator",
        pub_export_macro: true,
        export_macro_name: "export_keyed_process_operator",
        default_bindings_module: "wasmstream_guest::bindings::keyed_process",
        runtime_path: "wasmstream_guest::bindings::rt",
        with: {
            "wasmstream:operator/types@0.1.0": crate::bindings::map::wasmstream::operator::types,
            "wasmstream:operator/log@0.1.0": crate::bindings::map::wasmstream::operator::log,
        },
    });
}
