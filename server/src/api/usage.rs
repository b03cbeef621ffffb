//! Observed usage (issue 18): `GET /v1/streams/{name}/usage` and
//! `GET /v1/schemas/{id}/usage`. The recording and the queries are in [`crate::usage`].

use super::{Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::usage::{self, Invitation, SchemaUsage, StreamUsage, DAY_MS};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/streams/{name}/usage", get(stream_usage))
        .route("/v1/schemas/{id}/usage", get(schema_usage))
        .route(
            "/v1/streams/{name}/consumers/{principal}/invite",
            post(invite),
        )
}

/// Invite a principal seen reading the stream (an undeclared reader) to register as a
/// consumer: the owning team or an admin. Recorded (`invitedAt` in
/// `consumers?include=observed`), audited, and sent as the event `consumer.invited`.
#[utoipa::path(post, path = "/v1/streams/{name}/consumers/{principal}/invite", tag = "usage",
    params(("name" = String, Path, description = "Stream name"),
        ("principal" = String, Path, description = "A principal seen reading the stream")),
    responses((status = 200, body = Invitation),
        (status = 403, description = "40301 not the owning team", body = ErrorBody),
        (status = 404, description = "40420 no such stream, 40440 the principal was not seen reading it", body = ErrorBody)))]
pub async fn invite(
    state: State,
    actor: Actor,
    PathParams((name, principal)): PathParams<(String, String)>,
) -> Result<Vnd<Invitation>, ApiError> {
    Ok(Vnd(usage::invite(
        &state.registry.store,
        &actor,
        &name,
        &principal,
    )
    .await?))
}

/// The window of `days` (default 30).
fn window(params: &Params) -> Result<i64, ApiError> {
    match params.get("days") {
        None => Ok(30 * DAY_MS),
        Some(d) => usage::parse_window(d),
    }
}

/// Who may see a stream's usage: who may read its schemas (a read-restricted stream's
/// readers are its owning team's, its consumers' and admins' business).
pub(super) async fn check_stream_read(
    state: &super::AppState,
    actor: &Actor,
    stream: &str,
) -> Result<(), ApiError> {
    let s = crate::governance::stream_row(state.registry.store.reader(), stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    crate::governance::check_subject_read(&state.registry.store, actor, &s.value_subject).await
}

/// Who read and registered a stream's schemas, per principal and per version, over the
/// last `days`; `unused-for` adds the versions nobody read over that window.
#[utoipa::path(get, path = "/v1/streams/{name}/usage", tag = "usage",
    params(("name" = String, Path, description = "Stream name"),
        ("days" = Option<String>, Query, description = "The window: days ('30', '30d', default 30) or hours ('12h')"),
        ("unused-for" = Option<String>, Query, description = "Also list versions registered before this window and read by nobody within it ('90d')")),
    responses((status = 200, body = StreamUsage),
        (status = 403, description = "40301 the stream restricts reads", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "invalid window", body = ErrorBody)))]
pub async fn stream_usage(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    params: Params,
) -> Result<Vnd<StreamUsage>, ApiError> {
    let window = window(&params)?;
    let unused = params
        .get("unused-for")
        .map(usage::parse_window)
        .transpose()?;
    check_stream_read(&state, &actor, &name).await?;
    Ok(Vnd(usage::stream_usage(
        &state.registry.store,
        &name,
        window,
        unused,
    )
    .await?))
}

/// Who read and registered a schema (by id, and through the versions that hold it) over
/// the last `days`.
#[utoipa::path(get, path = "/v1/schemas/{id}/usage", tag = "usage",
    params(("id" = i64, Path, description = "Global schema id"),
        ("days" = Option<String>, Query, description = "The window: days ('30', '30d', default 30) or hours ('12h')")),
    responses((status = 200, body = SchemaUsage),
        (status = 403, description = "40301 only subjects of streams that restrict reads hold it", body = ErrorBody),
        (status = 404, description = "40403 schema not found", body = ErrorBody),
        (status = 422, description = "invalid window", body = ErrorBody)))]
pub async fn schema_usage(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Vnd<SchemaUsage>, ApiError> {
    let window = window(&params)?;
    let id = super::schemas::parse_id(&id)?;
    state.registry.check_id_read(&actor, id).await?;
    // 404 for an id that was never given out.
    state.registry.schema_by_id(id).await?;
    Ok(Vnd(
        usage::schema_usage(&state.registry.store, id, window).await?
    ))
}
