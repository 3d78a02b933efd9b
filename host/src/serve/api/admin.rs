//! Who a token is; tenants, their quotas, and tokens.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{App, Caller, Refusal, read_json};
use crate::serve::area::check_name;
use crate::serve::quota::Quota;
use crate::serve::registry::Tenant;
use crate::serve::tokens;
use crate::serve::wire::{ApiError, NewTenant, NewToken, TenantInfo, TokenCreated, Whoami};

/// The most an admin request body may be.
const ADMIN_BODY: u64 = 64 * 1024;

/// Who the token speaks for.
#[utoipa::path(get, path = "/v1/whoami", responses(
    (status = 200, body = Whoami),
    (status = 401, body = ApiError, description = "No token, or a malformed or revoked one"),
))]
pub async fn whoami(caller: Caller) -> Json<Whoami> {
    Json(match caller {
        Caller::Admin { token } => Whoami {
            tenant: None,
            token,
        },
        Caller::Tenant { tenant, token } => Whoami {
            tenant: Some(tenant.name),
            token,
        },
    })
}

fn info(app: &App, tenant: Tenant) -> Result<TenantInfo, Refusal> {
    let pipelines = app.registry.pipelines(Some(&tenant.name))?.len();
    Ok(TenantInfo {
        name: tenant.name,
        quota: tenant.quota,
        pipelines,
    })
}

/// Every tenant (the admin's).
#[utoipa::path(get, path = "/v1/tenants", responses(
    (status = 200, body = Vec<TenantInfo>),
    (status = 403, body = ApiError),
))]
pub async fn tenants(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<TenantInfo>>, Refusal> {
    caller.admin("list tenants")?;
    let tenants = app.registry.tenants()?;
    Ok(Json(
        tenants
            .into_iter()
            .map(|t| info(&app, t))
            .collect::<Result<_, _>>()?,
    ))
}

/// Creates a tenant (the admin's).
#[utoipa::path(post, path = "/v1/tenants", request_body = NewTenant, responses(
    (status = 201, body = TenantInfo),
    (status = 400, body = ApiError),
    (status = 403, body = ApiError),
    (status = 409, body = ApiError, description = "The tenant exists"),
))]
pub async fn create_tenant(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<TenantInfo>), Refusal> {
    caller.admin("create tenants")?;
    let new: NewTenant = read_json(body, ADMIN_BODY, "the admin").await?;
    check_name("tenant", &new.name).map_err(Refusal::bad)?;
    if app.registry.tenant(&new.name)?.is_some() {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!("tenant `{}` exists already", new.name),
        ));
    }
    let tenant = Tenant {
        name: new.name,
        quota: new.quota.unwrap_or_default(),
    };
    app.registry.put_tenant(&tenant)?;
    Ok((StatusCode::CREATED, Json(info(&app, tenant)?)))
}

/// Sets a tenant's quota (the admin's). Pipelines started from now on
/// run under it.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/quota", request_body = Quota,
    params(("tenant" = String, Path, description = "The tenant")),
    responses(
        (status = 200, body = TenantInfo),
        (status = 403, body = ApiError),
        (status = 404, body = ApiError),
    ))]
pub async fn set_quota(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<TenantInfo>, Refusal> {
    caller.admin("set quotas")?;
    let quota: Quota = read_json(body, ADMIN_BODY, "the admin").await?;
    let mut tenant = app
        .registry
        .tenant(&name)?
        .ok_or_else(|| Refusal::not_found("tenant", &name))?;
    tenant.quota = quota;
    app.registry.put_tenant(&tenant)?;
    Ok(Json(info(&app, tenant)?))
}

/// Makes a token for a tenant, or another admin token (the admin's). The
/// token is in this response only.
#[utoipa::path(post, path = "/v1/tokens", request_body = NewToken, responses(
    (status = 201, body = TokenCreated),
    (status = 403, body = ApiError),
    (status = 404, body = ApiError, description = "No such tenant"),
))]
pub async fn create_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<TokenCreated>), Refusal> {
    caller.admin("create tokens")?;
    let new: NewToken = read_json(body, ADMIN_BODY, "the admin").await?;
    if let Some(tenant) = &new.tenant
        && app.registry.tenant(tenant)?.is_none()
    {
        return Err(Refusal::not_found("tenant", tenant));
    }
    let (token, record) = tokens::new(new.tenant.clone())?;
    app.registry.put_token(&record)?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: record.id,
            token,
            tenant: new.tenant,
        }),
    ))
}

/// Revokes a token: the admin any, a tenant its own.
#[utoipa::path(delete, path = "/v1/tokens/{id}",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204),
        (status = 404, body = ApiError),
    ))]
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Refusal> {
    let record = app.registry.token(&id)?;
    let allowed = match (&caller, &record) {
        (Caller::Admin { .. }, Some(_)) => true,
        (Caller::Tenant { tenant, .. }, Some(record)) => {
            record.tenant.as_deref() == Some(tenant.name.as_str())
        }
        (_, None) => false,
    };
    if !allowed {
        return Err(Refusal::not_found("token", &id));
    }
    app.registry.remove_token(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
