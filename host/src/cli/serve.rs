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
            let mut said = format!("listening on {url} (data in {})\n", data.display());
            if let Some(token) = &started.admin_token {
                said += &format!("admin token (shown this once; keep it): {token}\n");
                said += &format!("  wasmstream login --server {url} --token {token}\n");
            }
            said += &format!("resumed {} pipelines\n", started.resumed);
            // Whoever started the server may have stopped listening; it
            // serves on all the same.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), said.as_bytes());
        },
        stop,
    )
    .await?;
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}
