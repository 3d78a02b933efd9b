//! Connectors: where records come from and go to.
//!
//! An external system that pipelines both read and write has a folder of
//! its own here, its client settings beside its source and its sink
//! (Kafka). Files, sockets and stdio, which need no client, live in
//! [`crate::source`] and [`crate::sink`], beside the traits every source
//! and sink implements. This module starts the one a plan names.

pub mod kafka;

use anyhow::Result;
use tokio::sync::{mpsc, watch};

use crate::plan::{SinkKind, SinkPlan, SourceKind, SourcePlan};
use crate::sink::{self, Sink};
use crate::source::{self, RunningSource, Started};
use kafka::{KafkaSink, KafkaSource};

/// Starts `plan`'s source. A push source stops reading when `stop`
/// becomes true.
pub fn start_source(plan: &SourcePlan, stop: watch::Receiver<bool>) -> Started {
    let id = plan.id.to_string();
    match plan.kind.clone() {
        SourceKind::Directory {
            path,
            watch,
            fields,
        } => Started::Pull(Box::new(source::directory::Directory::new(
            id, path, watch, fields,
        ))),
        SourceKind::Generator {
            records,
            rate,
            record_bytes,
        } => Started::Pull(Box::new(
            source::generator::Generator {
                records,
                rate,
                record_bytes,
            }
            .start(),
        )),
        SourceKind::Kafka(spec) => Started::Pull(Box::new(KafkaSource::new(id, spec))),
        SourceKind::Socket { address } => {
            let (tx, rx) = mpsc::channel(source::CHANNEL_CHUNKS);
            let task = tokio::spawn(source::socket::run(id.clone(), address, tx, stop));
            Started::Push(RunningSource {
                id,
                chunks: rx,
                task,
            })
        }
        SourceKind::Stdin => {
            let (tx, rx) = mpsc::channel(source::CHANNEL_CHUNKS);
            let task = tokio::spawn(source::stdin::run(id.clone(), tx, stop));
            Started::Push(RunningSource {
                id,
                chunks: rx,
                task,
            })
        }
    }
}

/// The sink for `plan`, in a pipeline that checkpoints or not (a files
/// sink then syncs each file before renaming it into place).
pub fn open_sink(plan: &SinkPlan, checkpointed: bool) -> Result<Box<dyn Sink>> {
    Ok(match &plan.kind {
        SinkKind::Stdout { max_records } => Box::new(sink::stdout::Stdout::new(*max_records)),
        SinkKind::Files {
            dir,
            prefix,
            suffix,
        } => Box::new(sink::files::Files::open(
            &plan.id,
            dir,
            prefix,
            suffix,
            checkpointed,
        )?),
        SinkKind::Kafka(spec) => Box::new(KafkaSink::open(&plan.id, spec)?),
    })
}
