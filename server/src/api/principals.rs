//! `/v1/principals`: principals (users and service accounts) and their API keys, and
//! `/v1/keys/rotate`. Admin only when auth is on, except what a principal does about
//! itself: read itself, revoke and rotate its own keys (see [`crate::auth::authorize`]).

use super::paging::{self, Page};
use super::{Body, Params, PathParams, State, Vnd};
use crate::auth::{
    self, Actor, CallingKey, IssuedKey, NewKey, NewPrincipal, Principal, PrincipalChange,
    PrincipalInfo,
};
use crate::error::{ApiError, ErrorBody};
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/principals", get(list).post(create))
        .route(
            "/v1/principals/{name}",
            get(show).patch(update).delete(remove),
        )
        .route("/v1/principals/{name}/disable", post(disable))
        .route("/v1/principals/{name}/enable", post(enable))
        .route("/v1/principals/{name}/keys", post(create_key))
        .route("/v1/principals/{name}/keys/{key_id}", delete(delete_key))
        .route("/v1/keys/rotate", post(rotate))
}

/// The most a body of these routes may hold (they are a few fields).
const MAX_SMALL_BODY: usize = 16 * 1024;

/// A JSON body that may be left out (existing clients create keys with an empty POST):
/// absent or blank is `T::default()`, anything else is parsed as [`Body`] does.
pub struct OptionalBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_SMALL_BODY)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let Body(value) = Body::<T>::from_request(req, state).await?;
        Ok(OptionalBody(value))
    }
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

/// List principals with their keys: ids, created, last used, expiry, revocation (never
/// secrets nor hashes).
///
/// By name, a page at a time: `limit` (1 to 1000, default 1000) after principal
/// `after`; `X-Total-Count` and a `Link` to the next page as for `/v1/streams`.
#[utoipa::path(get, path = "/v1/principals", tag = "identity",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Principals per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this principal name (the previous page's last)")),
    responses((status = 200, body = [PrincipalInfo],
            headers(("X-Total-Count" = i64, description = "Principals in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 422, description = "invalid limit", body = ErrorBody)))]
pub async fn list(
    state: State,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<PrincipalInfo>>), ApiError> {
    let page = Page::from(&params, paging::MAX)?;
    let (rows, total) = auth::list_principals(
        &state.registry.store,
        page.after.as_deref().unwrap_or(""),
        page.fetch(),
    )
    .await?;
    let (rows, next) = page.cut(rows, |p| p.principal.name.clone());
    let h = paging::headers(
        "/v1/principals",
        &params,
        &page,
        Some(total),
        next.as_deref(),
    );
    Ok((h, Vnd(rows)))
}

/// One principal with its keys (admins, or the principal itself).
#[utoipa::path(get, path = "/v1/principals/{name}", tag = "identity",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = PrincipalInfo),
        (status = 403, description = "40301 not an admin nor this principal", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody)))]
pub async fn show(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<PrincipalInfo>, ApiError> {
    Ok(Vnd(auth::get_principal(&state.registry.store, &name).await?))
}

/// Change a principal's role and/or team (from its next request on).
#[utoipa::path(patch, path = "/v1/principals/{name}", tag = "identity", request_body = PrincipalChange,
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = Principal),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody),
        (status = 409, description = "40951 the last enabled admin keeps its role", body = ErrorBody),
        (status = 422, description = "a member without a team, or an invalid team", body = ErrorBody)))]
pub async fn update(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    Body(change): Body<PrincipalChange>,
) -> Result<Vnd<Principal>, ApiError> {
    Ok(Vnd(auth::update_principal(
        &state.registry.store,
        actor.name(),
        &name,
        &change,
    )
    .await?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedPrincipal {
    pub name: String,
}

/// Delete a principal and its keys.
#[utoipa::path(delete, path = "/v1/principals/{name}", tag = "identity",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = DeletedPrincipal),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody),
        (status = 409, description = "40951 the last enabled admin", body = ErrorBody)))]
pub async fn remove(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<DeletedPrincipal>, ApiError> {
    auth::delete_principal(&state.registry.store, actor.name(), &name).await?;
    Ok(Vnd(DeletedPrincipal { name }))
}

/// Disable a principal: its keys get 401 until it is enabled again.
#[utoipa::path(post, path = "/v1/principals/{name}/disable", tag = "identity",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = PrincipalInfo),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody),
        (status = 409, description = "40951 the last enabled admin", body = ErrorBody)))]
pub async fn disable(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<PrincipalInfo>, ApiError> {
    Ok(Vnd(auth::set_disabled(
        &state.registry.store,
        actor.name(),
        &name,
        true,
    )
    .await?))
}

/// Enable a disabled principal again.
#[utoipa::path(post, path = "/v1/principals/{name}/enable", tag = "identity",
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = PrincipalInfo),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody)))]
pub async fn enable(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<PrincipalInfo>, ApiError> {
    Ok(Vnd(auth::set_disabled(
        &state.registry.store,
        actor.name(),
        &name,
        false,
    )
    .await?))
}

/// Create an API key; the secret is in this response only. Send it as HTTP Basic
/// `keyId:secret` or `Authorization: Bearer keyId.secret`. The body is optional:
/// `expiresAt` (RFC 3339) or `expiresInDays` makes the key stop working then.
#[utoipa::path(post, path = "/v1/principals/{name}/keys", tag = "identity",
    request_body(content = Option<NewKey>, description = "optional expiry"),
    params(("name" = String, Path, description = "Principal name")),
    responses((status = 200, body = IssuedKey),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40450 no such principal", body = ErrorBody),
        (status = 422, description = "a malformed or past expiry", body = ErrorBody)))]
pub async fn create_key(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    OptionalBody(input): OptionalBody<NewKey>,
) -> Result<Vnd<IssuedKey>, ApiError> {
    Ok(Vnd(auth::create_key(
        &state.registry.store,
        actor.name(),
        &name,
        &input,
    )
    .await?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedKey {
    pub key_id: String,
}

/// Revoke an API key (admins, or the key's own principal): requests with it get 401 at
/// once, on every node. The key stays listed, as revoked.
#[utoipa::path(delete, path = "/v1/principals/{name}/keys/{key_id}", tag = "identity",
    params(("name" = String, Path, description = "Principal name"), ("key_id" = String, Path, description = "Key id")),
    responses((status = 200, body = DeletedKey),
        (status = 403, description = "40301 not an admin nor the key's principal", body = ErrorBody),
        (status = 404, description = "40450 no such principal, 40451 no such key or already revoked", body = ErrorBody)))]
pub async fn delete_key(
    state: State,
    actor: Actor,
    PathParams((name, key_id)): PathParams<(String, String)>,
) -> Result<Vnd<DeletedKey>, ApiError> {
    auth::revoke_key(&state.registry.store, actor.name(), &name, &key_id).await?;
    Ok(Vnd(DeletedKey { key_id }))
}

/// Rotate the calling key (any principal): a new key for the caller, its secret in this
/// response only, with the old key's expiry; the key the request was made with is
/// revoked at once.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "identity",
    responses((status = 200, body = IssuedKey),
        (status = 401, description = "401 no, wrong, revoked or expired key", body = ErrorBody),
        (status = 422, description = "auth is off: no key to rotate", body = ErrorBody)))]
pub async fn rotate(
    state: State,
    actor: Actor,
    key: Option<Extension<CallingKey>>,
) -> Result<Vnd<IssuedKey>, ApiError> {
    let key_id = key.map(|Extension(CallingKey(id))| id);
    Ok(Vnd(auth::rotate_key(
        &state.registry.store,
        &actor,
        key_id.as_deref(),
    )
    .await?))
}
