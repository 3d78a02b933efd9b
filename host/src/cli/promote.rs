//! `wasmstream promote`: make a stage's shadow version live in the running
//! pipeline, at its next batch boundary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::reload::{PROMOTE_PREFIX, events};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline's manifest (TOML).
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,
    /// The stage whose shadow becomes live.
    #[arg(value_name = "STAGE")]
    stage: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let name = super::pipeline_name(&args.manifest)?;
    let dir = events::control_dir(&args.manifest, &name);
    if !dir.is_dir() {
        bail!(
            "pipeline `{name}` has no control folder {}: it has not been run here",
            dir.display()
        );
    }
    if args.stage.contains(['/', '\\']) || args.stage.is_empty() {
        bail!("{:?} is not a stage id", args.stage);
    }
    let request = dir.join(format!("{PROMOTE_PREFIX}{}", args.stage));
    std::fs::write(&request, b"promote\n")
        .with_context(|| format!("cannot write {}", request.display()))?;
    println!(
        "asked pipeline `{name}` to promote stage `{}`'s shadow at its next batch; `wasmstream status {}` shows when it has",
        args.stage,
        args.manifest.display()
    );
    Ok(ExitCode::SUCCESS)
}
