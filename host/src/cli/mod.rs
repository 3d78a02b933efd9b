//! The `wasmstream` command line: one file per subcommand.

mod admin;
mod build;
pub mod client;
mod deploy;
mod new;
mod promote;
mod remote;
mod run;
mod serve;
mod status;
mod top;
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
    /// How logs on stderr look: `text` for people, `json` (one object a
    /// line, each field its own key) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

pub use crate::telemetry::LogFormat;

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
    /// Show a pipeline's state: a local run's versions and reload events
    /// (given its manifest), or a deployed pipeline's (given its name).
    Status(status::Args),
    /// Make a stage's shadow version live in the running pipeline.
    Promote(promote::Args),
    /// Host many tenants' pipelines behind an HTTP API.
    Serve(serve::Args),
    /// Save a server's address and token for the commands below.
    Login(admin::LoginArgs),
    /// Ship a pipeline to a server: a new one starts, a changed one is
    /// hot-reloaded.
    Deploy(deploy::Args),
    /// List the pipelines deployed on a server.
    Ls(remote::ListArgs),
    /// A live view of pipelines' figures, from a local run's `--metrics`
    /// address or a server.
    Top(top::Args),
    /// Print a deployed pipeline's log.
    Logs(remote::LogsArgs),
    /// Stop a deployed pipeline after its running batch.
    Stop(remote::PipelineArgs),
    /// Start a stopped or failed deployed pipeline.
    Start(remote::PipelineArgs),
    /// Stop a deployed pipeline and remove it from the server.
    Undeploy(remote::PipelineArgs),
    /// Tenants on a server (the admin's).
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// API tokens on a server.
    #[command(subcommand)]
    Token(admin::TokenCommand),
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

/// Runs a command that blocks (on the network, say) off the async
/// runtime.
async fn blocking(
    command: impl FnOnce() -> anyhow::Result<ExitCode> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(command).await?
}

/// Waits for Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Status(args) => blocking(move || status::run(args)).await,
        Command::Promote(args) => promote::run(args),
        Command::Serve(args) => serve::run(args).await,
        Command::Login(args) => admin::login(args),
        Command::Deploy(args) => blocking(move || deploy::run(args)).await,
        Command::Ls(args) => blocking(move || remote::list(args)).await,
        Command::Top(args) => blocking(move || top::run(args)).await,
        Command::Logs(args) => blocking(move || remote::logs(args)).await,
        Command::Stop(args) => blocking(move || remote::act(args, "stop")).await,
        Command::Start(args) => blocking(move || remote::act(args, "start")).await,
        Command::Undeploy(args) => blocking(move || remote::undeploy(args)).await,
        Command::Tenant(command) => blocking(move || admin::tenant(command)).await,
        Command::Token(command) => blocking(move || admin::token(command)).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
