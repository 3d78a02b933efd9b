//! The server's HTTP API: axum routes, the token every request must
//! carry, errors as JSON, and the OpenAPI document served at
//! `/openapi.json`, generated from the handlers below.
//!
//! - [`admin`]: who a token is; tenants, quotas and tokens (the admin's).
//! - [`components`]: components uploaded by content hash.
//! - [`pipelines`]: deploy, list, status, stop, start, undeploy, logs,
//!   events, state and figures.
//! - [`watch`]: Prometheus metrics and the overview `wasmstream top` reads.
//!
//! A tenant's requests see only its own pipelines and components: another
//! tenant's are answered exactly as ones that do not exist.

pub mod admin;
pub mod components;
pub mod pipelines;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

use super::area::Area;
use super::registry::{Registry, Tenant};
use super::supervisor::Supervisor;
use super::tokens;
use super::wire;

/// What every handler reaches.
pub struct App {
    /// Tenants, tokens, pipelines and versions.
    pub registry: Arc<Registry>,
    /// The running pipelines.
    pub supervisor: Arc<Supervisor>,
    /// Where each tenant's files are.
    pub area: Area,
}

/// The largest request body of any tenant (each tenant's quota is
/// smaller); a guard in front of every route.
const MOST_BODY: usize = 1 << 30;
/// The longest a request may take (a first deploy compiles components).
const LONGEST_REQUEST: Duration = Duration::from_secs(300);

/// The API's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/openapi.json", routing::get(openapi))
        .route("/metrics", routing::get(watch::metrics))
        .route("/v1/overview", routing::get(watch::overview))
        .route("/v1/whoami", routing::get(admin::whoami))
        .route(
            "/v1/tenants",
            routing::get(admin::tenants).post(admin::create_tenant),
        )
        .route("/v1/tenants/{tenant}/quota", routing::put(admin::set_quota))
        .route("/v1/tokens", routing::post(admin::create_token))
        .route("/v1/tokens/{id}", routing::delete(admin::revoke_token))
        .route(
            "/v1/components/{digest}",
            routing::head(components::has).put(components::upload),
        )
        .route(
            "/v1/pipelines",
            routing::get(pipelines::list).post(pipelines::deploy),
        )
        .route(
            "/v1/pipelines/{name}",
            routing::get(pipelines::status).delete(pipelines::undeploy),
        )
        .route("/v1/pipelines/{name}/stop", routing::post(pipelines::stop))
        .route(
            "/v1/pipelines/{name}/start",
            routing::post(pipelines::start),
        )
        .route("/v1/pipelines/{name}/logs", routing::get(pipelines::logs))
        .route(
            "/v1/pipelines/{name}/events",
            routing::get(pipelines::events),
        )
        .route("/v1/pipelines/{name}/state", routing::get(pipelines::state))
        .route(
            "/v1/pipelines/{name}/metrics",
            routing::get(pipelines::metrics),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MOST_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            LONGEST_REQUEST,
        ))
        .merge(crate::metrics::dashboard::routes())
        .with_state(app)
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "wasmstream serve", description = "Hosted stream pipelines of sandboxed WebAssembly operators."),
    paths(
        watch::metrics,
        watch::overview,
        admin::whoami,
        admin::tenants,
        admin::create_tenant,
        admin::set_quota,
        admin::create_token,
        admin::revoke_token,
        components::has,
        components::upload,
        pipelines::list,
        pipelines::deploy,
        pipelines::status,
        pipelines::undeploy,
        pipelines::stop,
        pipelines::start,
        pipelines::logs,
        pipelines::events,
        pipelines::state,
        pipelines::metrics,
    ),
    modifiers(&BearerToken)
)]
pub struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "token",
            Vec::<String>::new(),
        )]);
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A request refused, with the status and words to say why.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    /// A refusal with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is wrong, as `message` says.
    pub fn bad(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404, the same whether the thing is another tenant's or nobody's.
    pub fn not_found(what: &str, name: &str) -> Refusal {
        Refusal::new(
            StatusCode::NOT_FOUND,
            format!("there is no {what} `{name}`"),
        )
    }

    /// 403: only the admin may.
    pub fn admin_only(what: &str) -> Refusal {
        Refusal::new(
            StatusCode::FORBIDDEN,
            format!("only an admin token may {what}"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = wire::ApiError {
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Refusal {
        tracing::error!("a request failed: {e:#}");
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

/// Who a request comes from: its token, checked.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin.
    Admin {
        /// The token's id.
        token: String,
    },
    /// A tenant.
    Tenant {
        /// The tenant.
        tenant: Tenant,
        /// The token's id.
        token: String,
    },
}

impl Caller {
    /// The tenant, or a 404 for the admin, who has no pipelines.
    pub fn tenant(&self, what: &str, name: &str) -> Result<&Tenant, Refusal> {
        match self {
            Caller::Tenant { tenant, .. } => Ok(tenant),
            Caller::Admin { .. } => Err(Refusal::not_found(what, name)),
        }
    }

    /// Whose pipelines the caller sees: a tenant its own, the admin every
    /// tenant's (`None`).
    pub fn sees(&self) -> Option<&str> {
        match self {
            Caller::Admin { .. } => None,
            Caller::Tenant { tenant, .. } => Some(&tenant.name),
        }
    }

    /// Refuses anyone but the admin.
    pub fn admin(&self, what: &str) -> Result<(), Refusal> {
        match self {
            Caller::Admin { .. } => Ok(()),
            Caller::Tenant { .. } => Err(Refusal::admin_only(what)),
        }
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Caller, Refusal> {
        let refuse = |message: &str| Refusal::new(StatusCode::UNAUTHORIZED, message);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            refuse("this endpoint needs a token: send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| refuse("the Authorization header is not `Bearer <token>`"))?;
        let presented = tokens::parse(token.trim())
            .map_err(|why| refuse(&format!("the token is malformed: {why}")))?;
        let invalid = || refuse("the token is not valid: it was revoked, or never issued here");
        let record = app.registry.token(presented.id)?.ok_or_else(invalid)?;
        if !tokens::matches(&record, presented.secret) {
            return Err(invalid());
        }
        match record.tenant {
            None => Ok(Caller::Admin { token: record.id }),
            Some(name) => {
                let tenant = app.registry.tenant(&name)?.ok_or_else(invalid)?;
                Ok(Caller::Tenant {
                    tenant,
                    token: record.id,
                })
            }
        }
    }
}

/// Reads a JSON request body of at most `limit` bytes, refusing a larger
/// one or one that is not JSON of the shape wanted.
pub async fn read_json<T: DeserializeOwned>(
    body: axum::body::Body,
    limit: u64,
    quota_of: &str,
) -> Result<T, Refusal> {
    let bytes = read_body(body, limit, quota_of).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::bad(format!("the request body is not the JSON expected: {e}")))
}

/// Reads a request body of at most `limit` bytes.
pub async fn read_body(
    body: axum::body::Body,
    limit: u64,
    quota_of: &str,
) -> Result<axum::body::Bytes, Refusal> {
    axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload is larger than {limit} bytes, {quota_of}'s quota (`upload_bytes`)"
                ),
            )
        })
}
