//! `wasmstream serve`: host many tenants' pipelines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::plugin::Runtime;
use crate::serve::{self, Config};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// The data folder: registry, components and tenants' files [default: $WASMSTREAM_CACHE/server, else ~/.cache/wasmstream/server]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let data = args
        .data
        .unwrap_or_else(|| Runtime::default_cache_dir().join("server"));
    let config = Config {
        listen: args.listen,
        data: data.clone(),
    };
    let stop = async {
        super::wait_for_signal().await;
        eprintln!(
            "stopping: every pipeline finishes its batch and checkpoints (Ctrl-C again to quit at once)"
        );
        tokio::spawn(async {
            super::wait_for_signal().await;
            std::process::exit(130);
        });
    };
    serve::serve(
        config,
        |started| {
            let url = format!("http://{}", started.address);
            println!("listening on {url} (data in {})", data.display());
            if let Some(token) = &started.admin_token {
                println!("admin token (shown this once; keep it): {token}");
                println!("  wasmstream login --server {url} --token {token}");
            }
            println!("resumed {} pipelines", started.resumed);
        },
        stop,
    )
    .await?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}
