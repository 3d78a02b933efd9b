//! The `wasmstream` command line: one file per subcommand.

mod build;
mod new;
mod promote;
mod run;
mod status;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// wasmstream: micro-batch stream processing with sandboxed WebAssembly
/// operators.
#[derive(Debug, Parser)]
#[command(name = "wasmstream", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run pipelines until their sources end or Ctrl-C.
    ///
    /// Several manifests run side by side in one process; a pipeline that
    /// fails does not stop the others.
    Run(run::Args),
    /// Check manifests and report every problem, with its line and field.
    Validate(validate::Args),
    /// Create a new operator crate, ready to build.
    New(new::Args),
    /// Build the components a manifest's stages name (their `build` settings).
    Build(build::Args),
    /// Show a pipeline's live operator versions and its reload events.
    Status(status::Args),
    /// Make a stage's shadow version live in the running pipeline.
    Promote(promote::Args),
}

/// The pipeline name a manifest gives, read without resolving the rest.
fn pipeline_name(manifest: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", manifest.display()))?;
    let parsed = crate::manifest::parse(manifest, text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(parsed.pipeline.name.get_ref().clone())
}

/// Where compiled components are cached, shared by the subcommands.
#[derive(Debug, clap::Args)]
struct CacheArgs {
    /// Directory for compiled components [default: $WASMSTREAM_CACHE or ~/.cache/wasmstream]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    fn runtime(&self) -> anyhow::Result<std::sync::Arc<crate::plugin::Runtime>> {
        let dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(crate::plugin::Runtime::default_cache_dir);
        crate::plugin::Runtime::new(dir)
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Status(args) => status::run(args),
        Command::Promote(args) => promote::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
