//! Operations and discovery: `/`, `/health/*`, `/metrics`, `/openapi.json` and
//! Confluent's `/v1/metadata/*`.

use super::{State, Vnd};
use crate::error::ApiError;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/", get(root).post(root_post))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/metadata/id", get(metadata_id))
        .route("/v1/metadata/version", get(metadata_version))
}

/// Confluent answers `{}` at the root (clients use it as a ping).
#[utoipa::path(get, path = "/", tag = "ops", responses((status = 200, body = Object)))]
pub async fn root() -> Vnd<Value> {
    Vnd(json!({}))
}

/// `POST /`: Confluent's root resource takes a JSON `Map<String, String>` and answers
/// `{}`; a body that is not one is 400.
#[utoipa::path(post, path = "/", tag = "ops", request_body = Object, responses((status = 200, body = Object), (status = 400, description = "not a JSON object of strings", body = crate::error::ErrorBody)))]
pub async fn root_post(_body: super::JBody<super::RootPost>) -> Vnd<Value> {
    Vnd(json!({}))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "ops", responses((status = 200, body = Object)))]
pub async fn live() -> Vnd<Value> {
    Vnd(json!({"status": "UP"}))
}

/// The process can serve: the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "ops",
    responses((status = 200, body = Object), (status = 503, description = "database unreachable", body = crate::error::ErrorBody)))]
pub async fn ready(state: State) -> Result<Vnd<Value>, ApiError> {
    state.registry.store.ping().await?;
    Ok(Vnd(json!({"status": "UP"})))
}

/// Prometheus metrics: requests and latency per route, schema and subject counts.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(state: State) -> impl IntoResponse {
    let counts = crate::storage::q::counts(state.registry.store.reader())
        .await
        .ok();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state
            .metrics
            .render(counts, state.registry.store.commit_counts()),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, body = Object)))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

/// Cluster ids, in Confluent's shape.
#[utoipa::path(get, path = "/v1/metadata/id", tag = "ops", responses((status = 200, body = Object)))]
pub async fn metadata_id() -> Vnd<Value> {
    Vnd(json!({"scope": {"path": [], "clusters": {"schema-registry-cluster": "accord"}}}))
}

/// This server's version.
#[utoipa::path(get, path = "/v1/metadata/version", tag = "ops", responses((status = 200, body = Object)))]
pub async fn metadata_version() -> Vnd<Value> {
    Vnd(
        json!({"version": env!("CARGO_PKG_VERSION"), "commitId": option_env!("ACCORD_COMMIT").unwrap_or("unknown")}),
    )
}
