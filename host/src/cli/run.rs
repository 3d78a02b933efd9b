//! `wasmstream run`: run pipelines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::watch;
use tracing::Instrument;

use super::CacheArgs;
use crate::metrics::{PipelineMetrics, Scrape, endpoint};
use crate::reload::Updates;
use crate::telemetry::{say, say_error};
use crate::{plan, scheduler};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline manifests (TOML) to run.
    #[arg(required = true, value_name = "MANIFEST")]
    manifests: Vec<PathBuf>,
    /// Discard the pipelines' checkpoints and start from nothing, rather
    /// than resume.
    #[arg(long)]
    fresh: bool,
    /// Run as one of several workers sharing each pipeline: its Kafka
    /// sources join their consumer groups, and Kafka spreads the topics'
    /// partitions over the workers started with the same manifest.
    #[arg(long)]
    worker: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while the pipelines
    /// run (say `127.0.0.1:9090`; port 0 picks a free port, printed).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    cache: CacheArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let runtime = args.cache.runtime()?;
    let mut plans = Vec::new();
    for file in &args.manifests {
        let (file, runtime) = (file.clone(), runtime.clone());
        match tokio::task::spawn_blocking(move || plan::load(&file, &runtime)).await? {
            Ok(mut plan) => {
                if args.worker
                    && let Err(errors) = plan.as_worker()
                {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(2));
                }
                plans.push(plan)
            }
            Err(errors) => {
                eprintln!("{errors}");
                return Ok(ExitCode::from(2));
            }
        }
    }

    // Each pipeline's metrics, when they are served.
    let metrics: Vec<Option<Arc<PipelineMetrics>>> = plans
        .iter()
        .map(|bound| {
            (args.metrics.is_some()).then(|| Arc::new(PipelineMetrics::new(&bound.plan, None)))
        })
        .collect();
    if let Some(address) = args.metrics {
        let all: Vec<_> = metrics.iter().flatten().cloned().collect();
        let gather = move || Scrape(all.clone());
        let bound = endpoint::start(address, gather).await?;
        say(&format!("metrics: http://{bound}/metrics"));
    }

    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        super::wait_for_signal().await;
        say(
            "stopping: finishing the current batch and flushing sinks (Ctrl-C again to quit at once)",
        );
        let _ = stop_tx.send(true);
        super::wait_for_signal().await;
        std::process::exit(130);
    });

    // Report each pipeline as it ends, so one failing early is seen at once
    // while the others keep running.
    let mut runs = tokio::task::JoinSet::new();
    for (plan, metrics) in plans.into_iter().zip(metrics) {
        let options = scheduler::Options {
            fresh: args.fresh,
            updates: Some(Updates::Watch(runtime.clone())),
            metrics,
            ..scheduler::Options::new(stop.clone())
        };
        let span = tracing::info_span!("pipeline", pipeline = plan.plan.name);
        runs.spawn(scheduler::run(plan, options).instrument(span));
    }
    let mut failed = false;
    while let Some(run) = runs.join_next().await {
        match run? {
            Ok(summary) => say(&format!(
                "done: {} batches, {} records in, {} records out, {} batches skipped ({} records dropped)",
                summary.batches,
                summary.records_in,
                summary.records_out,
                summary.batches_skipped,
                summary.records_dropped
            )),
            Err(e) => {
                say_error(&format!("{e:#}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
