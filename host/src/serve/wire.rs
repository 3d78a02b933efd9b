//! What the server's API sends and receives, as JSON: shared by the
//! server ([`super::api`]) and the command line's client
//! ([`crate::cli`]), and described in the OpenAPI document.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::quota::Quota;
use crate::summary::Figures;

/// An error, as every endpoint reports one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What is wrong, naming the field, stage, pipeline or tenant.
    pub error: String,
}

/// Who a token speaks for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    /// The tenant, or none for the admin.
    pub tenant: Option<String>,
    /// The token's id.
    pub token: String,
}

/// `POST /v1/tenants`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewTenant {
    /// Its name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Its quota; the defaults where left out.
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantInfo {
    /// Its name.
    pub name: String,
    /// What it may use.
    pub quota: Quota,
    /// How many pipelines it has deployed.
    pub pipelines: usize,
}

/// `POST /v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// The tenant it speaks for; none for another admin token.
    pub tenant: Option<String>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// Its id, to revoke it by.
    pub id: String,
    /// The token itself, to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The tenant it speaks for; none for the admin.
    pub tenant: Option<String>,
}

/// `POST /v1/pipelines`: a plan made by `wasmstream deploy`, its paths
/// relative to the manifest's folder and its components named
/// `<sha256>.wasm`, uploaded before.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deploy {
    /// The plan ([`crate::plan::PipelinePlan`] as JSON).
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deployed {
    /// The pipeline.
    pub pipeline: PipelineInfo,
    /// What changed from the version before, in words; empty for a new
    /// pipeline or an unchanged plan.
    pub changes: Vec<String>,
    /// Whether the plan was the one deployed last, so nothing happened.
    pub unchanged: bool,
    /// Whether the changes go to the running pipeline as a hot reload
    /// (at a batch boundary, once prepared), rather than a start.
    pub reload: bool,
    /// What the server changed in the plan (a source capped by the
    /// tenant's quota, say).
    pub notes: Vec<String>,
}

/// A pipeline as `ls` and `status` show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PipelineInfo {
    /// Its tenant.
    pub tenant: String,
    /// Its name, unique within the tenant: its id.
    pub name: String,
    /// The version deployed last (from 1).
    pub version: u32,
    /// What it is doing.
    pub state: State,
    /// Why it failed, if it did.
    pub reason: Option<String>,
    /// Restarts after failures since it was last deployed or started.
    pub restarts: u32,
    /// Its figures so far, if it has run a batch.
    #[schema(value_type = Option<Object>)]
    pub figures: Option<Figures>,
}

/// What a pipeline is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Loading its components and resuming from its checkpoint.
    Starting,
    /// Running batches.
    Running,
    /// Failed, and waiting to be restarted.
    BackingOff,
    /// Failed, and restarted as often as it may be; `start` tries again.
    Failed,
    /// Stopped by its tenant.
    Stopped,
    /// Its sources ended, and it ran everything they had.
    Finished,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_value(self).ok();
        f.write_str(text.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// A piece of a pipeline's log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// The lines, each ending in a newline.
    pub text: String,
    /// Where to read on from (`?from=`).
    pub next: u64,
}

/// A pipeline's state on disk.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StateInfo {
    /// Whether it checkpoints.
    pub checkpointed: bool,
    /// Bytes its checkpoints and state take on disk.
    pub bytes: u64,
}
