//! Multi-hop lineage (issue 19): `GET /v1/lineage`. The walk is [`crate::lineage`].

use super::{Params, State, Vnd};
use crate::error::{ApiError, ErrorBody};
use crate::lineage::{self, Direction, Lineage};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new().route("/v1/lineage", get(stream_lineage))
}

/// The lineage graph around one stream: services that consume a stream and produce
/// another link the two, `depth` hops upstream, downstream or both. Streams' records
/// (owners, producers, consumers) are readable by every principal, and so is this.
#[utoipa::path(get, path = "/v1/lineage", tag = "streams",
    params(("stream" = String, Query, description = "The stream to start from"),
        ("depth" = Option<u32>, Query, description = "Hops each way, 1 to 6 (default 2); one hop is a stream's producer or consumers"),
        ("direction" = Option<String>, Query, description = "up, down or both (default both)")),
    responses((status = 200, body = Lineage),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "missing stream, invalid depth or direction", body = ErrorBody)))]
pub async fn stream_lineage(state: State, params: Params) -> Result<Vnd<Lineage>, ApiError> {
    let stream = params
        .get("stream")
        .ok_or_else(|| ApiError::Unprocessable("Missing query parameter 'stream'".to_string()))?;
    let depth = lineage::parse_depth(params.get("depth"))?;
    let direction = match params.get("direction") {
        None => Direction::Both,
        Some(d) => Direction::parse(d)?,
    };
    lineage::graph(&state.registry.store, stream, depth, direction)
        .await?
        .map(Vnd)
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))
}
