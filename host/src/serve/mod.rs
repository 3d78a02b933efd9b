//! `wasmstream serve`: a long-running server that hosts many tenants'
//! pipelines.
//!
//! A tenant ships a plan made from its manifest (`wasmstream deploy`),
//! with its components uploaded by content hash; the server places the
//! plan in the tenant's own area, checks it against the tenant's quota,
//! binds it, and runs it like `wasmstream run` would, restarting it after
//! failures. One file per part:
//!
//! - [`api`]: the HTTP API (axum) and its OpenAPI document.
//! - [`wire`]: the JSON it speaks, shared with the command line.
//! - [`tokens`]: tokens, hashed and compared in constant time.
//! - [`registry`]: tenants, tokens, pipelines and versions, in redb.
//! - [`area`]: each tenant's folder, and placing a plan inside it.
//! - [`quota`]: what a tenant may use.
//! - [`supervisor`]: the running pipelines, restarts and hot reloads.

pub mod api;
pub mod area;
pub mod quota;
pub mod registry;
pub mod supervisor;
pub mod tokens;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use area::Area;
use registry::Registry;
use supervisor::Supervisor;

/// How a server starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The data folder: registry, components, tenants' files.
    pub data: PathBuf,
}

/// What a server says as it starts, for whoever started it.
#[derive(Debug)]
pub struct Started {
    /// The address it listens on (the port chosen, if 0 was asked).
    pub address: SocketAddr,
    /// The admin token, if it was made now: shown this once.
    pub admin_token: Option<String>,
    /// How many pipelines it resumed.
    pub resumed: usize,
}

/// Runs a server until `stop` completes; then stops every pipeline after
/// its running batch (each writing a checkpoint) and returns. `started`
/// hears once it listens.
pub async fn serve(
    config: Config,
    started: impl FnOnce(&Started),
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("cannot create the data folder {}", config.data.display()))?;
    let area = Area::new(config.data.clone());
    let registry = Arc::new(Registry::open(&area.registry())?);
    let admin_token = first_admin_token(&registry)?;
    let supervisor = Supervisor::new(area.clone(), registry.clone());
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let resumed = supervisor.resume_all()?;
    started(&Started {
        address: listener.local_addr()?,
        admin_token,
        resumed,
    });
    let app = Arc::new(api::App {
        registry,
        supervisor: supervisor.clone(),
        area,
    });
    axum::serve(listener, api::router(app))
        .with_graceful_shutdown(stop)
        .await
        .context("the server failed")?;
    supervisor.shutdown().await;
    Ok(())
}

/// Makes the admin token if there is none: the first start.
fn first_admin_token(registry: &Registry) -> Result<Option<String>> {
    if registry.tokens()?.iter().any(|t| t.tenant.is_none()) {
        return Ok(None);
    }
    let (token, record) = tokens::new(None)?;
    registry.put_token(&record)?;
    Ok(Some(token))
}
