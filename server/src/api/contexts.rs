//! `/contexts`: the schema contexts (see `crate::context`). A context exists from its
//! first registration until it is deleted; the default context `.` always exists.
//! Every subject, schema, config and mode route is also served under
//! `/contexts/{context}/...` (see `context_paths`).

use super::{Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/contexts", get(list))
        .route("/contexts/{context}", delete(remove))
}

/// The contexts: the default one first, then the others by name.
#[utoipa::path(get, path = "/contexts", tag = "contexts",
    params(("contextPrefix" = Option<String>, Query, description = "Only contexts whose name starts with this"),
        ("offset" = Option<i64>, Query, description = "Skip this many"), ("limit" = Option<i64>, Query, description = "At most this many")),
    responses((status = 200, body = [String])))]
pub async fn list(state: State, params: Params) -> Result<Vnd<Vec<String>>, ApiError> {
    let prefix = params.get("contextPrefix").unwrap_or("");
    let contexts: Vec<String> = crate::context::all(state.registry.store.reader())
        .await?
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .collect();
    Ok(Vnd(params.page(contexts, None, None)?))
}

/// Delete a context that holds no subject (soft-deleted ones included); its ids are
/// never given out again.
#[utoipa::path(delete, path = "/contexts/{context}", tag = "contexts",
    params(("context" = String, Path, description = "Context name (`.ctx`, `ctx` or `:.ctx:`)")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "a context name with a colon", body = ErrorBody),
        (status = 404, description = "40401 unknown context", body = ErrorBody),
        (status = 422, description = "42211 context not empty", body = ErrorBody)))]
pub async fn remove(
    state: State,
    actor: Actor,
    PathParams(context): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let context = crate::context::normalize(&context)?;
    state
        .registry
        .delete_context(&context, actor.name())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
