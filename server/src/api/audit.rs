//! `/v1/audit`: the HMAC-chained audit log (admin only when auth is on): its entries,
//! a verification of the chain (optionally against a checkpoint) and its checkpoint.

use super::paging::{self, Page};
use super::{Params, State, Vnd};
use crate::audit::{self, AuditEntry, AuditKey, Checkpoint, Verification};
use crate::error::{ApiError, ErrorBody};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const DEFAULT_LIMIT: usize = 100;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/audit", get(list))
        .route("/v1/audit/verify", get(verify))
        .route("/v1/audit/checkpoint", get(checkpoint))
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

/// Entries after `after` (a seq, default 0), oldest first; `limit` 1..1000 (default
/// 100). While more follow, a `Link` header with `rel="next"` names the next page (no
/// total: counting a long log is not cheap).
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(("after" = Option<i64>, Query, description = "Only entries with a greater seq"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many (1-1000, default 100)")),
    responses((status = 200, body = [AuditEntry],
            headers(("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 422, description = "non-integer after, or a limit outside 1-1000", body = ErrorBody)))]
pub async fn list(
    state: State,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<AuditEntry>>), ApiError> {
    let after = int_param(&params, "after")?.unwrap_or(0);
    let limit = params.int_in("limit", 1, paging::MAX, DEFAULT_LIMIT)?;
    let page = Page {
        limit,
        after: Some(after.to_string()),
    };
    let rows = audit::list(state.registry.store.reader(), after, page.fetch()).await?;
    let (rows, next) = page.cut(rows, |e| e.seq.to_string());
    let h = paging::headers("/v1/audit", &params, &page, None, next.as_deref());
    Ok((h, Vnd(rows)))
}

/// The key this server loaded for its database, or the verification that fails because
/// the database's fingerprint was removed or replaced.
async fn server_key(state: &State) -> Result<Result<Arc<AuditKey>, Verification>, ApiError> {
    Ok(audit::key_for(state.registry.store.reader())
        .await?
        .ok_or_else(|| Verification {
            ok: false,
            entries: 0,
            first_bad_seq: None,
            problem: Some(format!(
                "server_secrets.{} is missing or is not this server's audit key: the \
                 database was tampered with",
                audit::KEY_FINGERPRINT
            )),
        }))
}

/// Recompute the HMAC chain: `ok`, the number of entries, and the first bad seq with
/// what is wrong; with `checkpoint=SEQ:HASH` (from `GET /v1/audit/checkpoint`), also
/// fails when entry SEQ is missing (truncation) or its hash differs (a rewrite).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    params(("checkpoint" = Option<String>, Query, description = "SEQ:HASH taken earlier")),
    responses((status = 200, body = Verification), (status = 403, body = ErrorBody),
        (status = 422, description = "malformed checkpoint", body = ErrorBody)))]
pub async fn verify(state: State, params: Params) -> Result<Vnd<Verification>, ApiError> {
    let checkpoint = params
        .get("checkpoint")
        .map(|c| Checkpoint::parse(c).map_err(ApiError::Unprocessable))
        .transpose()?;
    let key = match server_key(&state).await? {
        Ok(k) => k,
        Err(v) => return Ok(Vnd(v)),
    };
    Ok(Vnd(audit::verify(
        state.registry.store.reader(),
        &key,
        checkpoint.as_ref(),
    )
    .await?))
}

/// The head of the log as a checkpoint (`SEQ:HASH`) to store outside the database, once
/// the chain has verified (422 when it does not, or the log is empty).
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 403, body = ErrorBody),
        (status = 422, description = "the chain is broken, or the log is empty", body = ErrorBody)))]
pub async fn checkpoint(state: State) -> Result<Vnd<Checkpoint>, ApiError> {
    let pool = state.registry.store.reader();
    let v = match server_key(&state).await? {
        Ok(key) => audit::verify(pool, &key, None).await?,
        Err(v) => v,
    };
    if !v.ok {
        return Err(ApiError::Unprocessable(format!(
            "the audit log does not verify ({}); no checkpoint",
            v.problem.as_deref().unwrap_or("broken")
        )));
    }
    // The head is read after the walk: an entry appended meanwhile extends the verified
    // chain by one writer's append, which the next verification covers.
    audit::head(pool)
        .await?
        .map(Vnd)
        .ok_or_else(|| ApiError::Unprocessable("the audit log is empty".to_string()))
}
