//! Watching the pipelines: Prometheus metrics, and the overview that
//! `wasmstream top` and the dashboard read. A tenant's token sees its own
//! pipelines, the admin's every tenant's. (The dashboard's files are
//! public: they hold no data.)

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;

use super::{App, Caller, wire};
use crate::metrics::{Ask, Overview, Scrape, endpoint};

/// Prometheus metrics of the caller's pipelines.
#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
        (status = 401, body = wire::ApiError)))]
pub async fn metrics(State(app): State<Arc<App>>, caller: Caller) -> Response {
    endpoint::render(Scrape(app.supervisor.metrics(caller.sees())))
}

/// The caller's pipelines at a glance.
#[utoipa::path(get, path = "/v1/overview",
    responses((status = 200, body = Object), (status = 401, body = wire::ApiError)))]
pub async fn overview(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(ask): Query<Ask>,
) -> Json<Vec<Overview>> {
    Json(Scrape(app.supervisor.metrics(caller.sees())).overview(&ask))
}
