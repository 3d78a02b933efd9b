//! A tenant's pipelines on a server: `ls`, `status <pipeline>`, `logs`,
//! `stop`, `start` and `undeploy`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::client::Connection;
use crate::serve::wire::{LogPage, PipelineInfo};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// The pipeline's name.
    #[arg(value_name = "PIPELINE")]
    pipeline: String,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The pipeline's name.
    #[arg(value_name = "PIPELINE")]
    pipeline: String,
    /// Keep printing new lines as they are written, until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    #[command(flatten)]
    connection: Connection,
}

/// How often `logs --follow` asks for more.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

fn line(p: &PipelineInfo) -> String {
    let figures = p.figures.as_ref().map_or(String::new(), |f| {
        format!(
            "  {} batches, {} in, {} out",
            f.summary.batches, f.summary.records_in, f.summary.records_out
        )
    });
    let reason = p
        .reason
        .as_ref()
        .map_or(String::new(), |r| format!("  ({r})"));
    format!(
        "{:<12} {:<24} v{:<4} {:<12}{figures}{reason}",
        p.tenant, p.name, p.version, p.state
    )
}

pub fn list(args: ListArgs) -> Result<ExitCode> {
    let pipelines: Vec<PipelineInfo> = args.connection.client()?.get("/v1/pipelines")?;
    println!(
        "{:<12} {:<24} {:<5} {:<12}",
        "TENANT", "PIPELINE", "VER", "STATE"
    );
    for p in &pipelines {
        println!("{}", line(p));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(pipeline: &str, connection: &Connection) -> Result<ExitCode> {
    let p: PipelineInfo = connection
        .client()?
        .get(&format!("/v1/pipelines/{pipeline}"))?;
    println!("pipeline `{}` (tenant `{}`)", p.name, p.tenant);
    println!("version:  {}", p.version);
    println!("state:    {}", p.state);
    if let Some(reason) = &p.reason {
        println!("reason:   {reason}");
    }
    println!("restarts: {}", p.restarts);
    if let Some(f) = &p.figures {
        let s = &f.summary;
        println!(
            "batches:  {} ({} skipped); records {} in, {} out, {} late, {} dead-lettered",
            s.batches,
            s.batches_skipped,
            s.records_in,
            s.records_out,
            s.records_late,
            s.records_dead_lettered
        );
        if let Some(b) = &f.last_batch {
            println!(
                "last batch: {} with {} records, {} ms late, {} ms to run; most late {} ms",
                b.id, b.records, b.scheduling_ms, b.processing_ms, f.max_scheduling_ms
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logs(args: LogsArgs) -> Result<ExitCode> {
    let client = args.connection.client()?;
    let mut from = 0;
    loop {
        let page: LogPage =
            client.get(&format!("/v1/pipelines/{}/logs?from={from}", args.pipeline))?;
        print!("{}", page.text);
        let more = page.next > from;
        from = page.next;
        if !args.follow && !more {
            return Ok(ExitCode::SUCCESS);
        }
        if !more {
            std::thread::sleep(FOLLOW_EVERY);
        }
    }
}

/// `stop`, `start`.
pub fn act(args: PipelineArgs, action: &str) -> Result<ExitCode> {
    let client = args.connection.client()?;
    let p: PipelineInfo = client.post(
        &format!("/v1/pipelines/{}/{action}", args.pipeline),
        &serde_json::json!({}),
    )?;
    println!("pipeline `{}`: {}", p.name, p.state);
    Ok(ExitCode::SUCCESS)
}

pub fn undeploy(args: PipelineArgs) -> Result<ExitCode> {
    args.connection
        .client()?
        .delete(&format!("/v1/pipelines/{}", args.pipeline))?;
    println!("pipeline `{}` undeployed", args.pipeline);
    Ok(ExitCode::SUCCESS)
}
