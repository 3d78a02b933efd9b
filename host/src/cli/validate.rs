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
    #[command(flatten)]
    cache: CacheArgs,
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
            Ok((file, plan)) => println!(
                "{}: ok: pipeline `{}`, {} sources, {} stages, {} sinks, batch interval {} ms",
                file.display(),
                plan.name,
                plan.sources.len(),
                plan.stages.len(),
                plan.sinks.len(),
                plan.interval.as_millis()
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
