//! `/v1/webhooks`: webhook subscriptions and their delivery status. The logic, storage
//! and delivery worker are in [`crate::webhooks`]; events come from [`crate::outbox`].

use super::{PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::webhooks::{self, CreatedWebhook, Delivery, Webhook, WebhookInput};
use axum::routing::{delete, get};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/webhooks", get(list).post(create))
        .route("/v1/webhooks/{id}", delete(remove))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
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

/// List subscriptions (without their secrets).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = [Webhook])))]
pub async fn list(state: State) -> Result<Vnd<Vec<Webhook>>, ApiError> {
    Ok(Vnd(webhooks::list(&state.registry.store).await?))
}

/// Delete a subscription; its pending deliveries are dropped. Answers the removed one.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = Webhook),
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
/// `failed`), attempts, last HTTP status or error, next attempt.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, body = [Delivery]),
        (status = 404, description = "40430 no such subscription", body = ErrorBody)))]
pub async fn deliveries(
    state: State,
    PathParams(id): PathParams<String>,
) -> Result<Vnd<Vec<Delivery>>, ApiError> {
    Ok(Vnd(webhooks::deliveries(&state.registry.store, &id).await?))
}
