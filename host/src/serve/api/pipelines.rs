//! A tenant's pipelines: deploy (a new pipeline starts; a changed one is
//! hot-reloaded), list, status, stop, start, undeploy, and what each has
//! to show: its log, reload events, state on disk and figures.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{App, Caller, Refusal, read_json};
use crate::plan::{Effect, PipelinePlan};
use crate::reload::events::{self, Event};
use crate::serve::registry::PipelineRecord;
use crate::serve::supervisor::Unfit;
use crate::serve::wire::{ApiError, Deploy, Deployed, LogPage, PipelineInfo, StateInfo};
use crate::summary::Figures;

/// The most of a log one request returns.
const LOG_PAGE: u64 = 256 * 1024;

/// The caller's pipeline `name`, or 404.
fn find(app: &App, caller: &Caller, name: &str) -> Result<PipelineRecord, Refusal> {
    let tenant = caller.tenant("pipeline", name)?;
    app.registry
        .pipeline(&tenant.name, name)?
        .ok_or_else(|| Refusal::not_found("pipeline", name))
}

fn info(app: &App, record: &PipelineRecord) -> PipelineInfo {
    app.supervisor
        .info(&record.tenant, &record.name, record.version)
}

/// The caller's pipelines; the admin sees every tenant's.
#[utoipa::path(get, path = "/v1/pipelines", responses((status = 200, body = Vec<PipelineInfo>)))]
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<PipelineInfo>>, Refusal> {
    let tenant = match &caller {
        Caller::Admin { .. } => None,
        Caller::Tenant { tenant, .. } => Some(tenant.name.as_str()),
    };
    let records = app.registry.pipelines(tenant)?;
    Ok(Json(records.iter().map(|r| info(&app, r)).collect()))
}

/// Deploys a plan: a new pipeline starts; a deployed one gets the plan as
/// a hot reload at a batch boundary (the same preparation, refusal and
/// rollback as a local run). An unchanged plan changes nothing.
#[utoipa::path(post, path = "/v1/pipelines", request_body = Deploy, responses(
    (status = 200, body = Deployed),
    (status = 400, body = ApiError, description = "The plan is malformed, reaches outside the tenant's area, names a component not uploaded, or a component does not start"),
    (status = 403, body = ApiError, description = "Past the tenant's quota"),
    (status = 413, body = ApiError),
))]
pub async fn deploy(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Body,
) -> Result<Json<Deployed>, Refusal> {
    let Caller::Tenant { tenant, .. } = caller else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "the admin has no pipelines: deploy with a tenant's token",
        ));
    };
    let request: Deploy = read_json(
        body,
        tenant.quota.upload_bytes,
        &format!("tenant `{}`", tenant.name),
    )
    .await?;
    let plan: PipelinePlan = serde_json::from_value(request.plan)
        .map_err(|e| Refusal::bad(format!("the plan is not a wasmstream plan: {e}")))?;
    crate::serve::area::check_name("pipeline", &plan.name).map_err(Refusal::bad)?;
    let existing = app.registry.pipeline(&tenant.name, &plan.name)?;
    let deployed = app.registry.pipelines(Some(&tenant.name))?.len();
    if existing.is_none() && deployed >= tenant.quota.pipelines as usize {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "tenant `{}` has {deployed} pipelines, its quota (`pipelines`); undeploy one first",
                tenant.name
            ),
        ));
    }
    let (bound, notes) = app
        .supervisor
        .prepare(&tenant, plan.clone())
        .await
        .map_err(|unfit| {
            let status = match unfit {
                Unfit::Quota(_) => StatusCode::FORBIDDEN,
                Unfit::Plan(_) => StatusCode::BAD_REQUEST,
            };
            Refusal::new(status, format!("pipeline `{}`: {unfit}", plan.name))
        })?;
    let before = match &existing {
        Some(record) => app
            .registry
            .plan(&tenant.name, &plan.name, record.version)?,
        None => None,
    };
    let changes = before
        .as_ref()
        .map(|before| crate::plan::diff(before, &plan))
        .unwrap_or_default();
    if let (Some(record), true) = (&existing, before.is_some() && changes.is_empty()) {
        return Ok(Json(Deployed {
            pipeline: info(&app, record),
            changes: Vec::new(),
            unchanged: true,
            reload: false,
            notes,
        }));
    }
    let record = app.registry.deploy(&tenant.name, &plan)?;
    let mut notes = notes;
    let restart: Vec<_> = changes
        .iter()
        .filter(|c| c.effect() == Effect::Restart)
        .map(|c| c.to_string())
        .collect();
    if !restart.is_empty() {
        notes.push(format!(
            "{} cannot change under a running pipeline; it takes effect when the pipeline is stopped and started",
            restart.join(", ")
        ));
    }
    let words: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    let reload = existing.is_some() && app.supervisor.reload(&tenant.name, bound);
    app.supervisor.log(
        &tenant.name,
        &plan.name,
        &match (&existing, reload) {
            (None, _) => format!("deployed version {}", record.version),
            (Some(_), true) => format!(
                "deployed version {}, handed to the running pipeline: {}",
                record.version,
                words.join("; ")
            ),
            (Some(_), false) => {
                format!("deployed version {}: {}", record.version, words.join("; "))
            }
        },
    );
    if !reload {
        app.registry.set_running(&tenant.name, &plan.name, true)?;
        app.supervisor.start(&tenant.name, &plan.name);
    }
    Ok(Json(Deployed {
        pipeline: info(&app, &record),
        changes: words,
        unchanged: false,
        reload,
        notes,
    }))
}

/// A pipeline's state, version and figures.
#[utoipa::path(get, path = "/v1/pipelines/{name}",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = PipelineInfo), (status = 404, body = ApiError)))]
pub async fn status(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PipelineInfo>, Refusal> {
    let record = find(&app, &caller, &name)?;
    Ok(Json(info(&app, &record)))
}

/// Stops a pipeline after its running batch, with a checkpoint; it stays
/// stopped across server restarts until started.
#[utoipa::path(post, path = "/v1/pipelines/{name}/stop",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = PipelineInfo), (status = 404, body = ApiError)))]
pub async fn stop(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PipelineInfo>, Refusal> {
    let record = find(&app, &caller, &name)?;
    app.registry.set_running(&record.tenant, &name, false)?;
    app.supervisor.stop(&record.tenant, &name).await;
    Ok(Json(info(&app, &record)))
}

/// Starts a stopped or failed pipeline, resuming from its checkpoint.
#[utoipa::path(post, path = "/v1/pipelines/{name}/start",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = PipelineInfo), (status = 404, body = ApiError)))]
pub async fn start(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PipelineInfo>, Refusal> {
    let record = find(&app, &caller, &name)?;
    app.registry.set_running(&record.tenant, &name, true)?;
    app.supervisor.start(&record.tenant, &name);
    Ok(Json(info(&app, &record)))
}

/// Stops a pipeline and forgets it: its versions, log and events. Files
/// it wrote stay in the tenant's area.
#[utoipa::path(delete, path = "/v1/pipelines/{name}",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn undeploy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Refusal> {
    let record = find(&app, &caller, &name)?;
    app.supervisor.stop(&record.tenant, &name).await;
    app.registry.undeploy(&record.tenant, &name)?;
    let folder = app.area.pipeline(&record.tenant, &name);
    if folder.exists() {
        std::fs::remove_dir_all(&folder)
            .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", folder.display()))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Where to read a log from.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct From {
    /// The byte offset to read from (a page's `next`).
    #[serde(default)]
    from: u64,
}

/// A pipeline's log: starts, failures, restarts and deploys, from a byte
/// offset.
#[utoipa::path(get, path = "/v1/pipelines/{name}/logs",
    params(("name" = String, Path, description = "The pipeline"), From),
    responses((status = 200, body = LogPage), (status = 404, body = ApiError)))]
pub async fn logs(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(from): Query<From>,
) -> Result<Json<LogPage>, Refusal> {
    let record = find(&app, &caller, &name)?;
    let file = app.area.log(&record.tenant, &name);
    let mut text = String::new();
    let mut next = from.from;
    if let Ok(mut log) = std::fs::File::open(&file) {
        log.seek(SeekFrom::Start(from.from))
            .map_err(|e| anyhow::anyhow!("cannot read the log: {e}"))?;
        let mut bytes = Vec::new();
        log.take(LOG_PAGE)
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow::anyhow!("cannot read the log: {e}"))?;
        // Whole lines only; the rest comes with the next page.
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(whole);
        next += bytes.len() as u64;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(Json(LogPage { text, next }))
}

/// A pipeline's reload events: versions started, swapped, refused and
/// rolled back.
#[utoipa::path(get, path = "/v1/pipelines/{name}/events",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ApiError)))]
pub async fn events(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<Event>>, Refusal> {
    let record = find(&app, &caller, &name)?;
    let manifest = app
        .area
        .pipeline(&record.tenant, &name)
        .join("manifest.toml");
    let control = events::control_dir(&manifest, &name);
    let mut recorded = events::read(&control).unwrap_or_default();
    // Files by name only: where the server keeps them is its own affair.
    for event in &mut recorded {
        event.file = event.file.take().map(|file| {
            let name = std::path::Path::new(&file).file_name();
            name.map_or(file.clone(), |n| n.to_string_lossy().into_owned())
        });
    }
    Ok(Json(recorded))
}

/// How much state a pipeline keeps on disk.
#[utoipa::path(get, path = "/v1/pipelines/{name}/state",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = StateInfo), (status = 404, body = ApiError)))]
pub async fn state(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<StateInfo>, Refusal> {
    let record = find(&app, &caller, &name)?;
    let plan = app
        .registry
        .plan(&record.tenant, &name, record.version)?
        .ok_or_else(|| Refusal::not_found("pipeline", &name))?;
    let placed = app.area.place(&record.tenant, plan).ok();
    let dir = placed.and_then(|p| p.checkpoint.map(|c| c.dir));
    Ok(Json(StateInfo {
        checkpointed: dir.is_some(),
        bytes: dir.map_or(0, |d| size_of(&d)),
    }))
}

fn size_of(path: &std::path::Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0),
        Ok(meta) => meta.len(),
        Err(_) => 0,
    }
}

/// A pipeline's figures: batches, records in and out, the last batch's
/// timing and the longest scheduling delay.
#[utoipa::path(get, path = "/v1/pipelines/{name}/metrics",
    params(("name" = String, Path, description = "The pipeline")),
    responses((status = 200, body = Object), (status = 404, body = ApiError)))]
pub async fn metrics(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Figures>, Refusal> {
    let record = find(&app, &caller, &name)?;
    Ok(Json(info(&app, &record).figures.unwrap_or_default()))
}
