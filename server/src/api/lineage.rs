//! Multi-hop lineage (issue 19): `GET /v1/lineage`. The walk is [`crate::lineage`].

use super::{Params, State, Vnd};
use crate::error::{ApiError, ErrorBody};
use crate::lineage::{self, Direction, Lineage};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/lineage", get(stream_lineage))
        .route("/v1/lineage/openlineage", get(openlineage))
}

/// The stream, depth and direction a lineage request names.
fn walk_params(params: &Params) -> Result<(&str, u32, Direction), ApiError> {
    let stream = params
        .get("stream")
        .ok_or_else(|| ApiError::Unprocessable("Missing query parameter 'stream'".to_string()))?;
    let depth = lineage::parse_depth(params.get("depth"))?;
    let direction = match params.get("direction") {
        None => Direction::Both,
        Some(d) => Direction::parse(d)?,
    };
    Ok((stream, depth, direction))
}

async fn walk(state: &super::AppState, params: &Params) -> Result<Lineage, ApiError> {
    let (stream, depth, direction) = walk_params(params)?;
    lineage::graph(&state.registry.store, stream, depth, direction)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))
}

/// The same graph as OpenLineage events (static lineage, no runs): a `DatasetEvent` per
/// stream with its schema, tags, ownership and documentation facets, a `JobEvent` per
/// service with the streams it consumes as inputs and produces as outputs.
#[utoipa::path(get, path = "/v1/lineage/openlineage", tag = "streams",
    params(("stream" = String, Query, description = "The stream to start from"),
        ("depth" = Option<u32>, Query, minimum = 1, maximum = 6, description = "Hops each way, 1 to 6 (default 2)"),
        ("direction" = Option<String>, Query, pattern = "^(up|down|both)$", description = "up, down or both (default both)"),
        ("namespace" = Option<String>, Query, description = "The OpenLineage namespace of datasets and jobs, e.g. kafka://broker:9092 (default accord)")),
    responses((status = 200, body = Vec<Object>, description = "OpenLineage 2-0-2 DatasetEvents and JobEvents"),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "missing stream, invalid depth, direction or namespace", body = ErrorBody)))]
pub async fn openlineage(
    state: State,
    params: Params,
) -> Result<Vnd<Vec<serde_json::Value>>, ApiError> {
    let namespace = params
        .get("namespace")
        .unwrap_or(crate::openlineage::DEFAULT_NAMESPACE)
        .to_string();
    if namespace.trim().is_empty() || namespace.chars().any(char::is_control) {
        return Err(ApiError::Unprocessable(
            "Invalid namespace: give a non-empty name without control characters".to_string(),
        ));
    }
    let graph = walk(&state, &params).await?;
    let now = crate::webhooks::rfc3339(crate::registry::now_ms());
    Ok(Vnd(crate::openlineage::export(
        &state.registry.store,
        &state.registry.work,
        graph,
        namespace,
        now,
    )
    .await?))
}

/// The lineage graph around one stream: services that consume a stream and produce
/// another link the two, `depth` hops upstream, downstream or both. Streams' records
/// (owners, producers, consumers) are readable by every principal, and so is this.
#[utoipa::path(get, path = "/v1/lineage", tag = "streams",
    params(("stream" = String, Query, description = "The stream to start from"),
        ("depth" = Option<u32>, Query, minimum = 1, maximum = 6, description = "Hops each way, 1 to 6 (default 2); one hop is a stream's producer or consumers"),
        ("direction" = Option<String>, Query, pattern = "^(up|down|both)$", description = "up, down or both (default both)")),
    responses((status = 200, body = Lineage),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "missing stream, invalid depth or direction", body = ErrorBody)))]
pub async fn stream_lineage(state: State, params: Params) -> Result<Vnd<Lineage>, ApiError> {
    Ok(Vnd(walk(&state, &params).await?))
}
