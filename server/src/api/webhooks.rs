//! `/v1/webhooks`: webhook subscriptions and their delivery status. The logic, storage
//! and delivery worker are in [`crate::webhooks`]; events come from [`crate::outbox`].

use super::paging::{self, Page};
use super::{Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::webhooks::{self, CreatedWebhook, Delivery, Webhook, WebhookInput};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", get(get_one).delete(remove))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .route(
            "/v1/webhooks/{id}/deliveries/{event_seq}/resend",
            post(resend),
        )
}

/// Subscribe a URL to events. The answer carries the signing secret: the only time it
/// is shown (one is generated when none is given).
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookInput,
    responses((status = 200, body = CreatedWebhook),
        (status = 403, description = "40301 readers may not subscribe", body = ErrorBody),
        (status = 422, description = "42230 invalid URL (http/https only), event type or secret", body = ErrorBody)))]
pub async fn create(
    state: State,
    actor: Actor,
    super::Body(input): super::Body<WebhookInput>,
) -> Result<Vnd<CreatedWebhook>, ApiError> {
    Ok(Vnd(webhooks::create(
        &state.registry.store,
        &actor,
        input,
        state.webhook_allow_private,
    )
    .await?))
}

/// List the subscriptions the caller owns (without their secrets): those it created or
/// its team owns; admins see all. Other teams' subscriptions are not listed. Oldest
/// first, a page at a time: `limit` (1 to 1000, default 1000) after `after` (the cursor
/// in the previous page's `Link`); `X-Total-Count` counts the caller's subscriptions.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Subscriptions per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "The cursor from the previous page's Link header: a JSON array [created ms, id]")),
    responses((status = 200, body = [Webhook],
            headers(("X-Total-Count" = i64, description = "The caller's subscriptions in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 422, description = "invalid limit or after", body = ErrorBody)))]
pub async fn list(
    state: State,
    actor: Actor,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<Webhook>>), ApiError> {
    let page = Page::from(&params, paging::MAX)?;
    let bad = || {
        ApiError::Unprocessable(format!(
            "Invalid after '{}': the cursor from the previous page's Link header",
            page.after.as_deref().unwrap_or_default()
        ))
    };
    let after = match page.after_parts(2)? {
        None => None,
        Some(v) => Some((v[0].parse::<i64>().map_err(|_| bad())?, v[1].clone())),
    };
    let (rows, total) = webhooks::list(&state.registry.store, &actor, after, page.fetch()).await?;
    let (rows, next) = page.cut(rows, |(ms, w)| paging::cursor(&[&ms.to_string(), &w.id]));
    let h = paging::headers("/v1/webhooks", &params, &page, Some(total), next.as_deref());
    Ok((h, Vnd(rows.into_iter().map(|(_, w)| w).collect())))
}

/// One subscription (without its secret). Only its creator, members of its owning team
/// and admins may; a refusal is audited.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = Webhook),
        (status = 403, description = "40301 not the subscription's owner (creator, their team, admins)", body = ErrorBody),
        (status = 404, description = "40430 no such subscription", body = ErrorBody)))]
pub async fn get_one(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Webhook>, ApiError> {
    Ok(Vnd(
        webhooks::get_one(&state.registry.store, &actor, &id).await?
    ))
}

/// Delete a subscription; its pending deliveries are dropped. Answers the removed one.
/// Only its creator, members of its owning team and admins may; a refusal is audited.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = Webhook),
        (status = 403, description = "40301 not the subscription's owner (creator, their team, admins)", body = ErrorBody),
        (status = 404, description = "40430 no such subscription", body = ErrorBody)))]
pub async fn remove(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Webhook>, ApiError> {
    Ok(Vnd(
        webhooks::delete(&state.registry.store, &actor, &id).await?
    ))
}

/// The subscription's deliveries, newest event first: status (`pending`, `delivered`,
/// `dead`), attempts, last HTTP status or error, next attempt. Finished deliveries are
/// pruned after the retention (`--webhook-retention-secs`). Only the subscription's
/// creator, members of its owning team and admins may see them (a refusal is audited);
/// the last error in full only to admins, otherwise generic ("connection failed").
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = [Delivery]),
        (status = 403, description = "40301 not the subscription's owner (creator, their team, admins)", body = ErrorBody),
        (status = 404, description = "40430 no such subscription", body = ErrorBody)))]
pub async fn deliveries(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Vec<Delivery>>, ApiError> {
    Ok(Vnd(webhooks::deliveries(
        &state.registry.store,
        &actor,
        &id,
    )
    .await?))
}

/// Re-send one delivery: a `dead` (its retry window ran out) or `delivered` one is pending
/// again, due now, with a fresh retry window. Only the subscription's creator, members of
/// the creator's team and admins may; a refusal is audited.
#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{event_seq}/resend", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id"),
        ("event_seq" = i64, Path, description = "The event's sequence number (`eventSeq` in the listing)")),
    responses((status = 200, body = Delivery, description = "The delivery, pending again"),
        (status = 403, description = "40301 not the subscription's owner (creator, their team, admins)", body = ErrorBody),
        (status = 404, description = "40430 no such subscription; 40431 no such delivery (or pruned)", body = ErrorBody),
        (status = 409, description = "40930 the delivery is pending: it is being retried already", body = ErrorBody)))]
pub async fn resend(
    state: State,
    actor: Actor,
    PathParams((id, event_seq)): PathParams<(String, i64)>,
) -> Result<Vnd<Delivery>, ApiError> {
    Ok(Vnd(webhooks::resend(
        &state.registry.store,
        &actor,
        &id,
        event_seq,
    )
    .await?))
}
