//! Accord's per-entity keys (`/v1/entity-keys/{kek}/{subject}`) and crypto-shredding
//! (`/v1/streams/{name}/entities/shred` with the entity in the body; the deprecated
//! `/v1/streams/{name}/entities/{entity}/shred`; `/v1/streams/{name}/shred`). The logic
//! and storage are in [`crate::dek`].

use super::{Body, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::dek::{self, EntityKeysRequest, EntityKeysResponse, ShredReceipt};
use crate::error::{ApiError, ErrorBody};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/entity-keys/{kek}/{subject}", post(entity_keys))
        // Four segments after the stream, never five: no entity route is shadowed.
        .route(
            "/v1/streams/{name}/entities/shred",
            post(shred_entity_in_body),
        )
        .route(
            "/v1/streams/{name}/entities/{entity}/shred",
            // Deprecated (the entity is logged with the URL), kept for existing callers.
            #[allow(deprecated)]
            post(shred_entity),
        )
        .route("/v1/streams/{name}/shred", post(shred_stream))
}

/// Look up (`create: false`) or create (`create: true`) the DEKs of up to 1000 entities
/// in one request and one transaction. Stored keys win (first writer); shredded entities
/// are listed in `shredded` and never re-created; `keyMaterial` only for shared KEKs.
#[utoipa::path(post, path = "/v1/entity-keys/{kek}/{subject}", tag = "entity-keys",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject (percent-encoded)")),
    request_body = EntityKeysRequest,
    responses((status = 200, body = EntityKeysResponse),
        (status = 403, description = "40301 not allowed to create keys or obtain key material: looking keys up (under any KEK) takes what obtaining key material takes (admins, the owning team, approved consumers' teams); refusals are audited", body = ErrorBody),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 410, description = "41070 the stream was shredded while keys were created", body = ErrorBody),
        (status = 422, description = "42200 more than 1000 entities; 42271 invalid entity, algorithm or material, or a new entity without material under a non-shared KEK", body = ErrorBody)))]
pub async fn entity_keys(
    state: State,
    actor: Actor,
    PathParams((kek, subject)): PathParams<(String, String)>,
    Body(body): Body<EntityKeysRequest>,
) -> Result<Vnd<EntityKeysResponse>, ApiError> {
    Ok(Vnd(dek::entity_keys(
        &state.registry.store,
        &state.keys,
        &actor,
        &kek,
        &subject,
        body,
    )
    .await?))
}

/// The body of an entity shred: the entity travels here, not in the URL, so proxy and
/// access logs never hold it in clear.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShredEntityRequest {
    /// The entity (e.g. a user id): the value of the contract's `entityKeyField`.
    pub entity: String,
}

/// Crypto-shred one entity of a stream: its DEKs under every subject of the stream are
/// overwritten and deleted, a tombstone keeps them from being re-created, the audit log
/// records the entity's keyed hash (never the entity), and `keys.shredded` is emitted.
/// Idempotent (`alreadyShredded`). Owning team or admin. The entity is in the body, so
/// that no proxy or access log records it.
#[utoipa::path(post, path = "/v1/streams/{name}/entities/shred", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = ShredEntityRequest,
    responses((status = 200, body = ShredReceipt),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "422 no body, or the entity is empty or too long", body = ErrorBody),
        (status = 400, description = "400 the body is not {\"entity\": ...}", body = ErrorBody)))]
pub async fn shred_entity_in_body(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    Body(body): Body<ShredEntityRequest>,
) -> Result<Vnd<ShredReceipt>, ApiError> {
    Ok(Vnd(dek::shred(
        &state.registry.store,
        &state.keys,
        &actor,
        &name,
        Some(&body.entity),
    )
    .await?))
}

/// Deprecated: the entity is in the URL, so proxy and access logs hold it in clear; use
/// `POST /v1/streams/{name}/entities/shred` with `{"entity": ...}`. Kept for existing
/// callers; otherwise the same.
#[utoipa::path(post, path = "/v1/streams/{name}/entities/{entity}/shred", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("entity" = String, Path, description = "The entity (e.g. a user id), percent-encoded")),
    responses((status = 200, body = ShredReceipt),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody)))]
#[deprecated(note = "the entity is in the URL: use POST /v1/streams/{name}/entities/shred")]
pub async fn shred_entity(
    state: State,
    actor: Actor,
    PathParams((name, entity)): PathParams<(String, String)>,
) -> Result<Vnd<ShredReceipt>, ApiError> {
    Ok(Vnd(dek::shred(
        &state.registry.store,
        &state.keys,
        &actor,
        &name,
        Some(&entity),
    )
    .await?))
}

/// Crypto-shred a whole stream: every entity DEK and every Confluent DEK of its subjects.
/// Afterwards a DEK GET of its subjects answers 410 (41070). Owning team or admin.
#[utoipa::path(post, path = "/v1/streams/{name}/shred", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses((status = 200, body = ShredReceipt),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody)))]
pub async fn shred_stream(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ShredReceipt>, ApiError> {
    Ok(Vnd(dek::shred(
        &state.registry.store,
        &state.keys,
        &actor,
        &name,
        None,
    )
    .await?))
}
