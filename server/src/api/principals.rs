//! `/v1/principals`: principals (users and service accounts) and their API keys.
//! Admin only when auth is on (see [`crate::auth::authorize`]).

use super::{Body, PathParams, State, Vnd};
use crate::auth::{self, Actor, IssuedKey, NewPrincipal, Principal, PrincipalInfo};
use crate::error::{ApiError, ErrorBody};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/principals", get(list).post(create))
        .route("/v1/principals/{name}/keys", post(create_key))
        .route("/v1/principals/{name}/keys/{key_id}", delete(delete_key))
}

/// Create a principal (no keys yet).
#[utoipa::path(post, path = "/v1/principals", tag = "identity", request_body = NewPrincipal,
    responses((status = 200, body = Principal),
        (status = 401, description = "401 no or wrong credentials", body = ErrorBody),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 409, description = "40950 exists", body = ErrorBody),
        (status = 422, description = "invalid name or team", body = ErrorBody)))]
pub async fn create(
    state: State,
    actor: Actor,
    Body(input): Body<NewPrincipal>,
) -> Result<Vnd<Principal>, ApiError> {
    Ok(Vnd(auth::create_principal(
        &state.registry.store,
        actor.name(),
        &input,
    )
    .await?))
}

/// List principals with the ids of their keys (never secrets).
#[utoipa::path(get, path = "/v1/principals", tag = "identity",
    responses((status = 200, body = [PrincipalInfo]), (status = 403, body = ErrorBody)))]
pub async fn list(state: State) -> Result<Vnd<Vec<PrincipalInfo>>, ApiError> {
    Ok(Vnd(auth::list_principals(&state.registry.store).await?))
}

/// Create an API key; the secret is in this response only. Send it as HTTP Basic
/// `keyId:secret` or `Authorization: Bearer keyId.secret`.
#[utoipa::path(post, path = "/v1/principals/{name}/keys", tag = "identity",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = IssuedKey), (status = 404, description = "40450 no such principal", body = ErrorBody)))]
pub async fn create_key(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<IssuedKey>, ApiError> {
    Ok(Vnd(auth::create_key(
        &state.registry.store,
        actor.name(),
        &name,
    )
    .await?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedKey {
    pub key_id: String,
}

/// Delete (revoke) an API key.
#[utoipa::path(delete, path = "/v1/principals/{name}/keys/{key_id}", tag = "identity",
    params(("name" = String, Path, description = "Principal name"), ("key_id" = String, Path, description = "Key id")),
    responses((status = 200, body = DeletedKey), (status = 404, description = "40450 no such principal, 40451 no such key", body = ErrorBody)))]
pub async fn delete_key(
    state: State,
    actor: Actor,
    PathParams((name, key_id)): PathParams<(String, String)>,
) -> Result<Vnd<DeletedKey>, ApiError> {
    auth::delete_key(&state.registry.store, actor.name(), &name, &key_id).await?;
    Ok(Vnd(DeletedKey { key_id }))
}
