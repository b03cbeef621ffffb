//! `/v1/audit`: the hash-chained audit log (admin only when auth is on).

use super::{Params, State, Vnd};
use crate::audit::{self, AuditEntry, Verification};
use crate::error::{ApiError, ErrorBody};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/audit", get(list))
        .route("/v1/audit/verify", get(verify))
}

fn int_param(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(key)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::Unprocessable(format!("'{key}' must be an integer, got '{v}'"))
            })
        })
        .transpose()
}

/// Entries after `after` (a seq, default 0), oldest first; `limit` 1..1000 (default 100).
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(("after" = Option<i64>, Query, description = "Only entries with a greater seq"),
        ("limit" = Option<i64>, Query, description = "At most this many (1-1000, default 100)")),
    responses((status = 200, body = [AuditEntry]), (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 422, description = "non-integer after or limit", body = ErrorBody)))]
pub async fn list(state: State, params: Params) -> Result<Vnd<Vec<AuditEntry>>, ApiError> {
    let after = int_param(&params, "after")?.unwrap_or(0);
    let limit = int_param(&params, "limit")?
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .unwrap_or(DEFAULT_LIMIT);
    Ok(Vnd(audit::list(
        state.registry.store.reader(),
        after,
        limit,
    )
    .await?))
}

/// Recompute the hash chain: `ok`, the number of entries, and the first bad seq.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification), (status = 403, body = ErrorBody)))]
pub async fn verify(state: State) -> Result<Vnd<Verification>, ApiError> {
    Ok(Vnd(audit::verify(state.registry.store.reader()).await?))
}
