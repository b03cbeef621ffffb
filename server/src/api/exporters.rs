//! `/exporters`: Confluent's schema exporters (Schema Linking). The definitions, their
//! validation and the worker that pushes to the destination are in
//! [`crate::exporters`]; here are the routes and the mapping of [`ExporterError`] to
//! Confluent's error body. Access (admins only, reads included) is decided with every
//! other route's in `crate::auth::authorize`.

use super::{json_response, Body, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::ErrorBody;
use crate::exporters::{
    self, ExporterError, ExporterInfo, ExporterInput, ExporterName, ExporterStatus, ExporterUpdate,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/exporters", get(list).post(create))
        .route("/exporters/{name}", get(get_one).put(update).delete(remove))
        .route("/exporters/{name}/status", get(status))
        .route("/exporters/{name}/config", get(config).put(update_config))
        .route("/exporters/{name}/pause", put(pause))
        .route("/exporters/{name}/resume", put(resume))
        .route("/exporters/{name}/reset", put(reset))
}

impl IntoResponse for ExporterError {
    fn into_response(self) -> Response {
        match self {
            ExporterError::Api(e) => e.into_response(),
            other => {
                let (status, error_code) = other.status_and_code();
                json_response(
                    status,
                    &ErrorBody {
                        error_code,
                        message: other.to_string(),
                    },
                )
            }
        }
    }
}

/// The exporters' names.
#[utoipa::path(get, path = "/exporters", tag = "exporters",
    responses((status = 200, body = [String]),
        (status = 403, description = "40301 admins only", body = ErrorBody)))]
pub async fn list(state: State) -> Result<Vnd<Vec<String>>, ExporterError> {
    Ok(Vnd(exporters::list(&state.registry.store).await?))
}

/// Create an exporter: it starts at once (STARTING, then RUNNING) and keeps the
/// destination in sync, schema ids and versions preserved.
#[utoipa::path(post, path = "/exporters", tag = "exporters",
    request_body = ExporterInput,
    responses((status = 200, body = ExporterName),
        (status = 400, description = "not JSON, a field of the wrong type or an unknown field", body = ErrorBody),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 409, description = "40950 missing or invalid name; 40951 missing or invalid config (schema.registry.url, credentials, contextType, context); 40952 invalid subjects or subjectRenameFormat; 40960 already exists; 40964 too many exporters", body = ErrorBody)))]
pub async fn create(
    state: State,
    actor: Actor,
    Body(input): Body<ExporterInput>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(
        exporters::create(&state.registry.store, &actor, input).await?
    ))
}

/// One exporter, its config's secrets masked.
#[utoipa::path(get, path = "/exporters/{name}", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterInfo),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody)))]
pub async fn get_one(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ExporterInfo>, ExporterError> {
    Ok(Vnd(exporters::info(&state.registry.store, &name).await?))
}

/// Change a paused exporter (what is given changes; `config` is merged). It then
/// pushes everything it selects again, where it now goes, once resumed.
#[utoipa::path(put, path = "/exporters/{name}", tag = "exporters",
    request_body = ExporterUpdate,
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterName),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody),
        (status = 409, description = "40963 not paused; 40950, 40951, 40952 invalid fields", body = ErrorBody)))]
pub async fn update(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    Body(upd): Body<ExporterUpdate>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(exporters::update(
        &state.registry.store,
        &actor,
        &name,
        upd,
    )
    .await?))
}

/// Delete an exporter; the destination keeps what it received.
#[utoipa::path(delete, path = "/exporters/{name}", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody)))]
pub async fn remove(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ExporterError> {
    exporters::delete(&state.registry.store, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// State (STARTING, RUNNING, PAUSED, ERROR), offset (versions in sync), ts and, in
/// ERROR, the trace of the last failure.
#[utoipa::path(get, path = "/exporters/{name}/status", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterStatus),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody)))]
pub async fn status(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ExporterStatus>, ExporterError> {
    Ok(Vnd(exporters::status(&state.registry.store, &name).await?))
}

/// The exporter's config, secrets masked (`********`).
#[utoipa::path(get, path = "/exporters/{name}/config", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = BTreeMap<String, String>),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody)))]
pub async fn config(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<BTreeMap<String, String>>, ExporterError> {
    Ok(Vnd(exporters::config(&state.registry.store, &name).await?))
}

/// Merge into a paused exporter's config (a key set to null is removed; a masked secret
/// sent back keeps the stored one).
#[utoipa::path(put, path = "/exporters/{name}/config", tag = "exporters",
    request_body = Object,
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterName),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody),
        (status = 409, description = "40963 not paused; 40951 invalid config", body = ErrorBody)))]
pub async fn update_config(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    Body(config): Body<Map<String, Value>>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(exporters::update_config(
        &state.registry.store,
        &actor,
        &name,
        config,
    )
    .await?))
}

/// Pause: PAUSED at once; the worker stops before its next push. Pausing a paused
/// exporter changes nothing.
#[utoipa::path(put, path = "/exporters/{name}/pause", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterName),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody)))]
pub async fn pause(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(
        exporters::pause(&state.registry.store, &actor, &name).await?
    ))
}

/// Resume a paused exporter (or retry a failing one now).
#[utoipa::path(put, path = "/exporters/{name}/resume", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterName),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody),
        (status = 409, description = "40961 already running", body = ErrorBody)))]
pub async fn resume(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(
        exporters::resume(&state.registry.store, &actor, &name).await?
    ))
}

/// Reset a paused exporter: offset 0; resumed, it pushes everything it selects again.
#[utoipa::path(put, path = "/exporters/{name}/reset", tag = "exporters",
    params(("name" = String, Path, description = "Exporter name")),
    responses((status = 200, body = ExporterName),
        (status = 403, description = "40301 admins only", body = ErrorBody),
        (status = 404, description = "40450 no such exporter", body = ErrorBody),
        (status = 409, description = "40963 not paused", body = ErrorBody)))]
pub async fn reset(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<ExporterName>, ExporterError> {
    Ok(Vnd(
        exporters::reset(&state.registry.store, &actor, &name).await?
    ))
}
