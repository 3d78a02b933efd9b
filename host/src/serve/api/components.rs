//! Components, uploaded by content hash into the tenant's area: an
//! unchanged component is never sent twice. An upload is checked before
//! it is kept: its hash, its size against the quota, and that it loads
//! (a component, exporting one operator kind, importing only what the
//! host grants).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{App, Caller, Refusal, read_body};
use crate::plugin::{Runtime, content_hash};
use crate::serve::area::is_digest;

/// Whether the tenant has the component with this SHA-256.
#[utoipa::path(head, path = "/v1/components/{digest}",
    params(("digest" = String, Path, description = "SHA-256 of the component, hex")),
    responses((status = 200), (status = 404)))]
pub async fn has(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(digest): Path<String>,
) -> Result<StatusCode, Refusal> {
    let tenant = caller.tenant("component", &digest)?;
    match is_digest(&digest) && app.area.component(&tenant.name, &digest).is_file() {
        true => Ok(StatusCode::OK),
        false => Err(Refusal::not_found("component", &digest)),
    }
}

/// Uploads a component; its SHA-256 must be the one in the path.
#[utoipa::path(put, path = "/v1/components/{digest}",
    params(("digest" = String, Path, description = "SHA-256 of the component, hex")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 201, description = "Stored"),
        (status = 400, body = super::wire::ApiError, description = "Not this hash, not a component, or one that imports what the host does not grant"),
        (status = 413, body = super::wire::ApiError, description = "Past the tenant's quota"),
    ))]
pub async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(digest): Path<String>,
    body: Body,
) -> Result<StatusCode, Refusal> {
    let tenant = caller.tenant("component", &digest)?.clone();
    if !is_digest(&digest) {
        return Err(Refusal::bad(format!(
            "`{digest}` is not a SHA-256 in lowercase hex"
        )));
    }
    let quota = &tenant.quota;
    let limit = quota.upload_bytes.min(quota.component_bytes);
    let bytes = read_body(body, limit, &format!("tenant `{}`", tenant.name)).await?;
    let found = content_hash(&bytes);
    if found != digest {
        return Err(Refusal::bad(format!(
            "the upload's SHA-256 is {found}, not the {digest} it was sent as"
        )));
    }
    let file = app.area.component(&tenant.name, &digest);
    let runtime = app.supervisor.runtime(&tenant)?;
    let checked = tokio::task::spawn_blocking(move || check(&file, &runtime, &bytes))
        .await
        .map_err(|e| anyhow::anyhow!("checking the upload failed: {e}"))?;
    checked.map_err(|reason| Refusal::bad(format!("component {digest}: {reason}")))?;
    Ok(StatusCode::CREATED)
}

/// Stores the component (written beside its place and moved in whole)
/// and loads it; nothing is left if it does not load.
fn check(file: &std::path::Path, runtime: &Runtime, bytes: &[u8]) -> Result<(), String> {
    let folder = file.parent().expect("components are in a folder");
    let partial = file.with_extension("partial");
    std::fs::create_dir_all(folder)
        .and_then(|()| std::fs::write(&partial, bytes))
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|e| format!("cannot store it: {e}"))?;
    runtime.load(file).map(drop).map_err(|e| {
        let _ = std::fs::remove_file(file);
        e.reason
    })
}
