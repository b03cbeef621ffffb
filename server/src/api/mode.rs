//! `/mode`: READWRITE, READONLY, IMPORT (explicit ids) and FORWARD, globally or per subject.

use super::{JBody, ModeUpdate, Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::registry::{unqualify, validate_scope};
use crate::storage::{q, GLOBAL};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Mode {
    pub mode: String,
}

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route(
            "/mode",
            get(get_global).put(put_global).delete(delete_global),
        )
        .route(
            "/mode/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
}

fn mode_of(body: &serde_json::Value) -> Result<String, ApiError> {
    body.get("mode")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .ok_or(ApiError::InvalidMode)
}

/// What `PUT /mode` answers: Confluent returns the request, so the mode as the client
/// wrote it (`readonly` stays lower-case).
fn echo_mode(body: &serde_json::Value) -> Mode {
    Mode {
        mode: body
            .get("mode")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

/// The global mode.
#[utoipa::path(get, path = "/mode", tag = "mode", responses((status = 200, body = Mode)))]
pub async fn get_global(state: State) -> Result<Vnd<Mode>, ApiError> {
    let mode = q::mode(state.registry.store.reader(), GLOBAL).await?;
    Ok(Vnd(Mode {
        mode: mode.unwrap_or_else(|| "READWRITE".to_string()),
    }))
}

/// Set the global mode; IMPORT needs no live subjects unless `force`.
#[utoipa::path(put, path = "/mode", tag = "mode", request_body = Mode,
    params(("force" = Option<bool>, Query, description = "Switch to IMPORT even if subjects exist")),
    responses((status = 200, body = Mode), (status = 422, description = "42204 invalid mode, 42205 not permitted", body = ErrorBody)))]
pub async fn put_global(
    state: State,
    actor: Actor,
    params: Params,
    JBody(ModeUpdate(body)): JBody<ModeUpdate>,
) -> Result<Vnd<Mode>, ApiError> {
    let body = serde_json::Value::Object(body);
    state
        .registry
        .put_mode(GLOBAL, &mode_of(&body)?, params.flag("force"), actor.name())
        .await?;
    Ok(Vnd(echo_mode(&body)))
}

/// Reset the global mode to READWRITE; answers with what it was.
#[utoipa::path(delete, path = "/mode", tag = "mode",
    params(("recursive" = Option<bool>, Query, description = "Also remove every subject-level mode")),
    responses((status = 200, body = Mode)))]
pub async fn delete_global(
    state: State,
    actor: Actor,
    params: Params,
) -> Result<Vnd<Mode>, ApiError> {
    let old = state
        .registry
        .delete_mode(GLOBAL, params.flag("recursive"), actor.name())
        .await?;
    Ok(Vnd(Mode {
        mode: old.unwrap_or_else(|| "READWRITE".to_string()),
    }))
}

/// A subject's mode; with `defaultToGlobal`, the global one when it has none.
#[utoipa::path(get, path = "/mode/{subject}", tag = "mode",
    params(("subject" = String, Path, description = "Subject name"), ("defaultToGlobal" = Option<bool>, Query, description = "Fall back to the global mode")),
    responses((status = 200, body = Mode), (status = 404, description = "40409 no subject-level mode", body = ErrorBody)))]
pub async fn get_subject(
    state: State,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Vnd<Mode>, ApiError> {
    let subject = unqualify(&subject);
    let reader = state.registry.store.reader();
    if let Some(mode) = q::mode(reader, subject).await? {
        return Ok(Vnd(Mode { mode }));
    }
    if params.flag("defaultToGlobal") {
        // Its context's mode, else the global one (`scope_keys`).
        let mut conn = reader.acquire().await?;
        let mode = crate::registry::Registry::effective_mode(&mut conn, subject).await?;
        return Ok(Vnd(Mode { mode }));
    }
    Err(ApiError::SubjectModeNotFound(subject.to_string()))
}

/// Set a subject's mode.
#[utoipa::path(put, path = "/mode/{subject}", tag = "mode", request_body = Mode,
    params(("subject" = String, Path, description = "Subject name"), ("force" = Option<bool>, Query, description = "Switch to IMPORT even if the subject has versions")),
    responses((status = 200, body = Mode), (status = 422, body = ErrorBody)))]
pub async fn put_subject(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
    JBody(ModeUpdate(body)): JBody<ModeUpdate>,
) -> Result<Vnd<Mode>, ApiError> {
    let body = serde_json::Value::Object(body);
    let subject = unqualify(&subject);
    validate_scope(subject)?;
    state
        .registry
        .put_mode(
            subject,
            &mode_of(&body)?,
            params.flag("force"),
            actor.name(),
        )
        .await?;
    Ok(Vnd(echo_mode(&body)))
}

/// Remove a subject's mode; answers with what it was.
#[utoipa::path(delete, path = "/mode/{subject}", tag = "mode",
    params(("subject" = String, Path, description = "Subject name")),
    responses((status = 200, body = Mode), (status = 404, description = "40401", body = ErrorBody)))]
pub async fn delete_subject(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
) -> Result<Vnd<Mode>, ApiError> {
    let subject = unqualify(&subject);
    match state
        .registry
        .delete_mode(subject, false, actor.name())
        .await?
    {
        Some(mode) => Ok(Vnd(Mode { mode })),
        None => Err(ApiError::SubjectNotFound(subject.to_string())),
    }
}
