//! `/v1/streams/{name}/proposals` and `/v1/proposals/{id}`: breaking-change proposals.
//! The logic and storage are in [`crate::proposals`].

use super::paging::{self, Page};
use super::{Body, Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::proposals::{self, OpenInput, Proposal, ReleaseInput, ReviewInput};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/streams/{name}/proposals", get(list).post(open))
        .route("/v1/proposals/{id}", get(get_one))
        .route("/v1/proposals/{id}/reviews", post(review))
        .route("/v1/proposals/{id}/release", post(release))
        .route("/v1/proposals/{id}/withdraw", post(withdraw))
}

/// The stream's proposals, oldest first, a page at a time: `limit` (1 to 1000, default
/// 1000) after proposal id `after`; `X-Total-Count` and a `Link` to the next page as for
/// `/v1/streams`.
#[utoipa::path(get, path = "/v1/streams/{name}/proposals", tag = "proposals",
    params(("name" = String, Path, description = "Stream name"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Proposals per page, 1 to 1000 (default 1000)"),
        ("after" = Option<i64>, Query, description = "Start after this proposal id (the previous page's last)")),
    responses((status = 200, body = [Proposal],
            headers(("X-Total-Count" = i64, description = "The stream's proposals in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "invalid limit or after", body = ErrorBody)))]
pub async fn list(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<Proposal>>), ApiError> {
    let page = Page::from(&params, paging::MAX)?;
    let after = match &page.after {
        None => 0,
        Some(a) => a.trim().parse::<i64>().map_err(|_| {
            ApiError::Unprocessable(format!(
                "Invalid after '{a}': a proposal id (the previous page's last)"
            ))
        })?,
    };
    let found = proposals::list(&state.registry, &name, None, after, page.fetch()).await?;
    let total = proposals::count(&state.registry, &name).await?;
    let (found, next) = page.cut(found, |p| p.id.to_string());
    let mut out = Vec::with_capacity(found.len());
    for p in found {
        out.push(proposals::visible_to(&state.registry, &actor, p).await?);
    }
    let path = format!("/v1/streams/{}/proposals", crate::ui::seg(&name));
    let h = paging::headers(&path, &params, &page, Some(total), next.as_deref());
    Ok((h, Vnd(out)))
}

/// Open a breaking-change proposal (owning team or admin): the candidate must be
/// incompatible at the contract's level. Stores the compatibility report and the
/// stream's consumers as the impacted consumers.
#[utoipa::path(post, path = "/v1/streams/{name}/proposals", tag = "proposals",
    params(("name" = String, Path, description = "Stream name")),
    request_body = OpenInput,
    responses((status = 201, body = Proposal),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "compatible (register it directly), invalid schema or subject", body = ErrorBody)))]
pub async fn open(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    Body(input): Body<OpenInput>,
) -> Result<Response, ApiError> {
    let p = proposals::open(&state.registry, &actor, &name, input).await?;
    Ok(super::json_response(StatusCode::CREATED, &p).into_response())
}

/// A proposal with its report, impacted consumers, reviews and pending consumers. On a
/// stream whose contract restricts reads, `schema` and `report` are `null` for principals
/// that may not read its schemas.
#[utoipa::path(get, path = "/v1/proposals/{id}", tag = "proposals",
    params(("id" = i64, Path, description = "Proposal id")),
    responses((status = 200, body = Proposal),
        (status = 404, description = "40424 no such proposal", body = ErrorBody)))]
pub async fn get_one(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Proposal>, ApiError> {
    let p = proposals::get(&state.registry, &id).await?;
    Ok(Vnd(proposals::visible_to(&state.registry, &actor, p).await?))
}

/// Approve or reject for an impacted consumer (a member of its team, or an admin). A
/// later decision for the same consumer replaces the earlier one while open.
#[utoipa::path(post, path = "/v1/proposals/{id}/reviews", tag = "proposals",
    params(("id" = i64, Path, description = "Proposal id")),
    request_body = ReviewInput,
    responses((status = 200, body = Proposal),
        (status = 403, description = "40301 not a member of the consumer's team", body = ErrorBody),
        (status = 404, description = "40424 no such proposal", body = ErrorBody),
        (status = 409, description = "40921 the proposal is no longer open", body = ErrorBody),
        (status = 422, description = "not an impacted consumer, or a bad decision", body = ErrorBody)))]
pub async fn review(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    Body(input): Body<ReviewInput>,
) -> Result<Vnd<Proposal>, ApiError> {
    let p = proposals::review(&state.registry, &actor, &id, input).await?;
    Ok(Vnd(proposals::visible_to(&state.registry, &actor, p).await?))
}

/// Release (owning team or admin): when every impacted consumer approved, or with
/// `force` and a written `reason`. `new_version` registers the candidate with the
/// compatibility check overridden once; `successor` creates the successor stream with
/// the candidate as version 1 and deprecates the old stream.
#[utoipa::path(post, path = "/v1/proposals/{id}/release", tag = "proposals",
    params(("id" = i64, Path, description = "Proposal id")),
    request_body = ReleaseInput,
    responses((status = 200, body = Proposal),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40424 no such proposal", body = ErrorBody),
        (status = 409, description = "40921 not open; 40922 not approved by every impacted consumer", body = ErrorBody),
        (status = 422, description = "bad mode, missing reason, successor or sunset date; contract rules", body = ErrorBody)))]
pub async fn release(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    Body(input): Body<ReleaseInput>,
) -> Result<Vnd<Proposal>, ApiError> {
    Ok(Vnd(
        proposals::release(&state.registry, &actor, &id, input).await?
    ))
}

/// Withdraw an open proposal (owning team or admin).
#[utoipa::path(post, path = "/v1/proposals/{id}/withdraw", tag = "proposals",
    params(("id" = i64, Path, description = "Proposal id")),
    responses((status = 200, body = Proposal),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40424 no such proposal", body = ErrorBody),
        (status = 409, description = "40921 the proposal is no longer open", body = ErrorBody)))]
pub async fn withdraw(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Proposal>, ApiError> {
    Ok(Vnd(proposals::withdraw(&state.registry, &actor, &id).await?))
}
