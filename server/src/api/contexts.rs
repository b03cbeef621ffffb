//! `/contexts`: Accord serves the default context `.` only (see the README); subjects
//! qualified with `:.:` are the same subjects unqualified.

use super::{PathParams, State, Vnd};
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

/// The contexts: the default one.
#[utoipa::path(get, path = "/contexts", tag = "contexts", responses((status = 200, body = [String])))]
pub async fn list() -> Vnd<Vec<&'static str>> {
    Vnd(vec!["."])
}

/// Delete an empty context. The default context cannot be deleted while it has subjects.
#[utoipa::path(delete, path = "/contexts/{context}", tag = "contexts",
    params(("context" = String, Path, description = "Context name")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "40401 unknown context", body = ErrorBody),
        (status = 422, description = "42211 context not empty", body = ErrorBody)))]
pub async fn remove(
    state: State,
    PathParams(context): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    if context != "." {
        return Err(ApiError::SubjectNotFound(context));
    }
    let subjects = crate::storage::q::subjects(state.registry.store.reader(), true, false).await?;
    if subjects.is_empty() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::ContextNotEmpty(context))
    }
}
