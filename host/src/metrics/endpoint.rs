//! `GET /metrics`: a registry in the OpenMetrics text format, which
//! Prometheus scrapes.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;

use super::{Ask, Scrape, dashboard};

/// The media type of what [`render`] writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `scrape` as a response.
pub fn render(scrape: Scrape) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}"),
        )
            .into_response(),
    }
}

/// Listens on `address` and serves the pipelines `gather` gives: their
/// metrics at `/metrics`, at a glance at `/v1/overview` (JSON, for
/// `wasmstream top`), and the dashboard at `/`, in a task of its own, for
/// as long as the process runs.
/// Returns the address it listens on (the port chosen, for port 0).
pub async fn start(
    address: SocketAddr,
    gather: impl Fn() -> Scrape + Clone + Send + Sync + 'static,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--metrics: cannot listen on {address}"))?;
    let bound = listener.local_addr()?;
    let overview = gather.clone();
    let app = Router::new()
        .route("/metrics", get(move || async move { render(gather()) }))
        .route(
            "/v1/overview",
            get(move |Query(ask): Query<Ask>| async move { Json(overview().overview(&ask)) }),
        )
        .merge(dashboard::routes());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(bound)
}
