//! `wasmstream validate`: check manifests without running them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::CacheArgs;
use crate::plan;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline manifests (TOML) to check.
    #[arg(required = true, value_name = "MANIFEST")]
    manifests: Vec<PathBuf>,
    /// Print each resolved plan as JSON on stdout (paths resolved,
    /// components named by content hash, the stage graph in order)
    /// instead of a one-line summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

/// The stages that run fused, one task per partition, as `(a → b fused)`.
fn fused(plan: &plan::PipelinePlan) -> String {
    let chains: Vec<String> = plan
        .chains()
        .into_iter()
        .filter(|chain| chain.len() > 1)
        .map(|chain| {
            let ids: Vec<&str> = plan.stages[chain].iter().map(|s| s.id.as_str()).collect();
            ids.join(" → ")
        })
        .collect();
    match chains.is_empty() {
        true => String::new(),
        false => format!(" ({} fused)", chains.join("; ")),
    }
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let runtime = args.cache.runtime()?;
    let mut ok = true;
    for file in args.manifests {
        let runtime = runtime.clone();
        let checked = tokio::task::spawn_blocking(move || {
            plan::load(&file, &runtime).map(|plan| (file, plan))
        })
        .await?;
        match checked {
            Ok((_, bound)) if args.json => {
                println!("{}", serde_json::to_string_pretty(&bound.plan)?);
            }
            Ok((file, plan)) => println!(
                "{}: ok: pipeline `{}`, {} sources, {} stages{}, {} sinks, batch interval {} ms",
                file.display(),
                plan.plan.name,
                plan.plan.sources.len(),
                plan.plan.stages.len(),
                fused(&plan.plan),
                plan.plan.sinks.len(),
                plan.plan.interval.as_millis()
            ),
            Err(errors) => {
                ok = false;
                eprintln!("{errors}");
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
