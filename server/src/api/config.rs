//! `/config`: global and per-subject compatibility configuration.
//!
//! GET and DELETE answer with the key `compatibilityLevel`; PUT takes and answers with
//! `compatibility` (Confluent's two shapes), and is a partial update.

use super::{ConfigUpdate, JBody, Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::registry::{echo_config, present_config, unqualify, validate_scope};
use crate::storage::{q, GLOBAL};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route(
            "/config",
            get(get_global).put(put_global).delete(delete_global),
        )
        .route(
            "/config/{subject}",
            get(get_subject).put(put_subject).delete(delete_subject),
        )
}

fn default_config() -> Value {
    json!({"compatibilityLevel": "BACKWARD"})
}

/// The global config.
#[utoipa::path(get, path = "/config", tag = "config",
    responses((status = 200, description = "Config (key compatibilityLevel)", body = Object)))]
pub async fn get_global(state: State) -> Result<Vnd<Value>, ApiError> {
    Ok(Vnd(
        match q::config(state.registry.store.reader(), GLOBAL).await? {
            Some(Value::Object(m)) if m.contains_key("compatibilityLevel") => {
                present_config(&m, "compatibilityLevel")
            }
            Some(Value::Object(m)) => {
                let mut m = m.clone();
                m.insert("compatibilityLevel".into(), json!("BACKWARD"));
                present_config(&m, "compatibilityLevel")
            }
            _ => default_config(),
        },
    ))
}

/// Update the global config (partial: absent keys stay, null clears). Answers with the
/// request, as Confluent does.
#[utoipa::path(put, path = "/config", tag = "config", request_body = Object,
    responses((status = 200, description = "The request's config (key compatibility)", body = Object),
        (status = 422, description = "42203 invalid level", body = ErrorBody)))]
pub async fn put_global(
    state: State,
    actor: Actor,
    JBody(ConfigUpdate(body)): JBody<ConfigUpdate>,
) -> Result<Vnd<Value>, ApiError> {
    state
        .registry
        .put_config(GLOBAL, &body, actor.name())
        .await?;
    Ok(Vnd(echo_config(&body)))
}

/// Delete the global config; answers with what it was.
#[utoipa::path(delete, path = "/config", tag = "config", responses((status = 200, body = Object)))]
pub async fn delete_global(state: State, actor: Actor) -> Result<Vnd<Value>, ApiError> {
    let old = state.registry.delete_config(GLOBAL, actor.name()).await?;
    Ok(Vnd(match old {
        Some(Value::Object(m)) => present_config(&m, "compatibilityLevel"),
        _ => default_config(),
    }))
}

/// A subject's config; with `defaultToGlobal`, merged over the global one.
#[utoipa::path(get, path = "/config/{subject}", tag = "config",
    params(("subject" = String, Path, description = "Subject name"), ("defaultToGlobal" = Option<bool>, Query, description = "Fall back to the global config")),
    responses((status = 200, body = Object), (status = 404, description = "40408 no subject-level config", body = ErrorBody)))]
pub async fn get_subject(
    state: State,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Vnd<Value>, ApiError> {
    let subject = unqualify(&subject);
    let reader = state.registry.store.reader();
    let own = q::config(reader, subject).await?;
    if params.flag("defaultToGlobal") {
        // Subject over its context over the global config (`scope_keys`).
        let mut merged = state.registry.effective_config(reader, subject).await?;
        merged
            .entry("compatibilityLevel")
            .or_insert(json!("BACKWARD"));
        return Ok(Vnd(present_config(&merged, "compatibilityLevel")));
    }
    match own {
        Some(Value::Object(m)) => Ok(Vnd(present_config(&m, "compatibilityLevel"))),
        _ => Err(ApiError::SubjectConfigNotFound(subject.to_string())),
    }
}

/// Update a subject's config (partial).
#[utoipa::path(put, path = "/config/{subject}", tag = "config", request_body = Object,
    params(("subject" = String, Path, description = "Subject name")),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub async fn put_subject(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    JBody(ConfigUpdate(body)): JBody<ConfigUpdate>,
) -> Result<Vnd<Value>, ApiError> {
    let subject = unqualify(&subject);
    validate_scope(subject)?;
    state
        .registry
        .put_config(subject, &body, actor.name())
        .await?;
    Ok(Vnd(echo_config(&body)))
}

/// Delete a subject's config; answers with what it was.
#[utoipa::path(delete, path = "/config/{subject}", tag = "config",
    params(("subject" = String, Path, description = "Subject name")),
    responses((status = 200, body = Object), (status = 404, description = "40401 no subject-level config", body = ErrorBody)))]
pub async fn delete_subject(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
) -> Result<Vnd<Value>, ApiError> {
    let subject = unqualify(&subject);
    match state.registry.delete_config(subject, actor.name()).await? {
        Some(Value::Object(m)) => Ok(Vnd(present_config(&m, "compatibilityLevel"))),
        _ => Err(ApiError::SubjectNotFound(subject.to_string())),
    }
}
