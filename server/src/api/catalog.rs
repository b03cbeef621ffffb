//! `/v1/catalog/search`: full-text search over streams and free subjects, with filters,
//! facets and highlights. The search itself is [`crate::catalog::search`].

use super::{Params, State, Vnd};
use crate::auth::Actor;
use crate::catalog::{self, SearchQuery, SearchResults};
use crate::error::{ApiError, ErrorBody};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new().route("/v1/catalog/search", get(search))
}

/// The query parameters as a [`SearchQuery`]; 422 for a bad one. A parameter given
/// empty counts as absent (a form's empty select).
pub fn query_from(params: &Params) -> Result<SearchQuery, ApiError> {
    let opt = |key: &str| {
        params
            .get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let number = |key: &str, default: u32| -> Result<u32, ApiError> {
        match opt(key) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().map_err(|_| {
                ApiError::Unprocessable(format!(
                    "{key}: expected a non-negative integer, got '{v}'"
                ))
            }),
        }
    };
    let q = SearchQuery {
        q: params.get("q").unwrap_or("").trim().to_string(),
        format: opt("format"),
        tag: opt("tag"),
        owner: opt("owner"),
        domain: opt("domain"),
        lifecycle: opt("lifecycle"),
        limit: number("limit", 20)?,
        offset: number("offset", 0)?,
    };
    q.check()?;
    Ok(q)
}

/// Search streams and subjects bound to no stream by name, subject, field name, field
/// doc, contract description, tag and owner (words match as prefixes; `order_id` matches
/// the words `order` `id` in order). Exact name first, then names starting with the
/// query, then relevance. Filters combine with AND; facets count the filtered result.
/// Highlights mark matches with U+0001..U+0002. With auth on, streams restricting reads
/// are listed only to admins, their owning team and teams with an active consumer.
#[utoipa::path(get, path = "/v1/catalog/search", tag = "catalog",
    params(("q" = Option<String>, Query, description = "Words (at most 200 characters); empty lists everything, filtered"),
        ("format" = Option<String>, Query, description = "AVRO, PROTOBUF or JSON"),
        ("tag" = Option<String>, Query, description = "A tag (case-insensitive)"),
        ("owner" = Option<String>, Query, description = "The owning team (case-insensitive)"),
        ("domain" = Option<String>, Query, description = "The contract's domain (case-insensitive)"),
        ("lifecycle" = Option<String>, Query, description = "active or deprecated"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Hits per page, 1 to 100 (default 20)"),
        ("offset" = Option<i64>, Query, minimum = 0, maximum = 4294967295u32, description = "Hits to skip (default 0)")),
    responses((status = 200, body = SearchResults),
        (status = 422, description = "422 a bad parameter (named in the message)", body = ErrorBody)))]
pub async fn search(
    state: State,
    actor: Actor,
    params: Params,
) -> Result<Vnd<SearchResults>, ApiError> {
    let q = query_from(&params)?;
    Ok(Vnd(
        catalog::search(&state.registry.store, &actor, &q).await?
    ))
}
