//! The HTTP surface: one module per resource of the Confluent API (named after the
//! resource, as the API names it), plus what they share here: the state, the request
//! extractors that turn bad input into Confluent's error bodies, the response type with
//! Confluent's media type, and the router that merges the resources.

pub mod audit;
pub mod catalog;
pub mod compatibility;
pub mod config;
pub mod contexts;
pub mod dek_registry;
pub mod entities;
pub mod mode;
pub mod ops;
pub mod principals;
pub mod proposals;
pub mod schemas;
pub mod streams;
pub mod subjects;
pub mod webhooks;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::registry::Registry;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// Confluent's preferred response media type.
pub const VND_V1: &str = "application/vnd.schemaregistry.v1+json";
const VND: &str = "application/vnd.schemaregistry+json";

pub struct AppState {
    pub registry: Registry,
    pub metrics: Metrics,
    pub started: std::time::Instant,
    /// Whether requests must carry an API key (see [`crate::auth`]).
    pub auth: bool,
    /// KMS providers, the entity hash key and the DEK limit (see [`crate::dek`]).
    pub keys: crate::dek::Keys,
    /// Webhook subscriptions may name internal addresses (`--webhook-allow-private`).
    pub webhook_allow_private: bool,
}

pub type State = axum::extract::State<Arc<AppState>>;

/// Bounds a request's whole run: a handler stuck on a database that stopped answering
/// (a partition that neither side's pool notices) answers 503 after `limit` instead of
/// holding its client, its connection and, for a write, the writers' lock. Dropping the
/// handler's future rolls its transaction back (see `crate::storage::WriteTx`).
pub async fn deadline(
    limit: std::time::Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis(),
                "request exceeded its deadline"
            );
            ApiError::OperationTimeout(limit.as_millis()).into_response()
        }
    }
}

/// A JSON response with Confluent's media type (renegotiated in [`negotiate`]).
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(VND_V1))],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// A 200 response of already serialised JSON.
pub fn json_bytes(body: bytes::Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(VND_V1))],
        body,
    )
        .into_response()
}

/// A 200 JSON body.
pub struct Vnd<T>(pub T);

impl<T: Serialize> IntoResponse for Vnd<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &self.0)
    }
}

/// A raw schema text (the `/schema` endpoints), sent with the JSON media type.
pub struct RawSchema(pub String);

impl IntoResponse for RawSchema {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(VND_V1))],
            self.0,
        )
            .into_response()
    }
}

/// Picks the response media type from `Accept`, as Jersey does with Confluent's quality
/// factors: the v1 type unless the client accepts only the unversioned type or plain JSON.
pub async fn negotiate(req: Request, next: axum::middleware::Next) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let mut resp = next.run(req).await;
    let Some(accept) = accept else { return resp };
    let is_vnd = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == VND_V1.as_bytes());
    if !is_vnd {
        return resp;
    }
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    let chosen = if types
        .iter()
        .any(|t| *t == VND_V1 || *t == "*/*" || *t == "application/*")
    {
        VND_V1
    } else if types.contains(&VND) {
        VND
    } else if types.contains(&"application/json") {
        "application/json"
    } else {
        VND_V1
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(chosen));
    resp
}

/// A JSON request body: Confluent's media types (or none, or octet-stream), parsed into
/// `T`. Wrong type: 415; too large: 413; not JSON or the wrong shape: 400; missing: 422.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            let base = ct.split(';').next().unwrap_or("").trim().to_string();
            if !matches!(
                base.as_str(),
                VND_V1 | VND | "application/json" | "application/octet-stream" | ""
            ) {
                return Err(ApiError::UnsupportedMediaType(base));
            }
        }
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedBody(e.body_text()),
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Unprocessable(
                "The request body is missing: send a JSON object".to_string(),
            ));
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::MalformedBody(format!(
                "Invalid JSON body at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })
    }
}

/// Path parameters, percent-decoded once; a rejection is a Confluent 404.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e: PathRejection| ApiError::MalformedBody(e.body_text()))
    }
}

/// Query parameters as Confluent reads them: repeatable keys, booleans true only for
/// "true" in any case, unknown keys ignored.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Params(
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `offset`/`limit` applied to a list; a limit <= 0 or above `max` means `default`.
    pub fn page<T>(&self, items: Vec<T>, default: Option<usize>, max: Option<usize>) -> Vec<T> {
        let offset = self
            .get("offset")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0)
            .max(0) as usize;
        let limit = self
            .get("limit")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|l| *l > 0 && max.is_none_or(|m| *l as usize <= m))
            .map(|l| l as usize)
            .or(default);
        let it = items.into_iter().skip(offset);
        match limit {
            Some(l) => it.take(l).collect(),
            None => it.collect(),
        }
    }
}

/// The whole application router (without the layers that must wrap routing).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(subjects::router())
        .merge(schemas::router())
        .merge(config::router())
        .merge(mode::router())
        .merge(compatibility::router())
        .merge(contexts::router())
        .merge(ops::router())
        .merge(principals::router())
        .merge(audit::router())
        .merge(streams::router())
        .merge(proposals::router())
        .merge(webhooks::router())
        .merge(dek_registry::router())
        .merge(entities::router())
        .merge(catalog::router())
        .merge(crate::ui::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::middleware,
        ))
        .layer(axum::middleware::from_fn(crate::ui::html_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn(negotiate))
        .with_state(state)
}
