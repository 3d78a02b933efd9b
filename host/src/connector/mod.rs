//! Connectors: an external system that pipelines both read and write, in
//! one folder each, its client settings beside its source and its sink.
//! Files, sockets and stdio, which need no client, stay in
//! [`crate::source`] and [`crate::sink`].

pub mod kafka;
