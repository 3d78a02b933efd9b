//! `wasmstream build`: build the components a manifest names.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::manifest;

/// What builds a component when the stage does not say.
pub const DEFAULT_BUILD: &str = "cargo build --release --target wasm32-wasip2";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline manifest (TOML) whose stages to build.
    #[arg(value_name = "MANIFEST")]
    manifest: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let manifest = match manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let base = manifest
        .file
        .parent()
        .map(|p| p.to_owned())
        .unwrap_or_default();
    let mut done = Vec::new();
    for stage in &manifest.stages {
        let Some(build) = stage.settings.operator().and_then(|op| op.build) else {
            continue;
        };
        let command = build.command.as_deref().unwrap_or(DEFAULT_BUILD);
        let workdir = base.join(build.workdir.as_deref().unwrap_or("."));
        if done.contains(&(command, workdir.clone())) {
            continue;
        }
        eprintln!(
            "building stage `{}`: {command} (in {})",
            stage.id.get_ref(),
            workdir.display()
        );
        let status = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&workdir)
            .status()
            .with_context(|| {
                format!(
                    "stage `{}`: cannot run `{command}` in {}",
                    stage.id.get_ref(),
                    workdir.display()
                )
            })?;
        if !status.success() {
            bail!(
                "stage `{}`: `{command}` failed in {} ({status})",
                stage.id.get_ref(),
                workdir.display()
            );
        }
        done.push((command, workdir));
    }
    if done.is_empty() {
        eprintln!(
            "no stage in {} has a `build` setting; nothing to build",
            args.manifest.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
