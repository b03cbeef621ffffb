//! The HTTP surface: one module per resource of the Confluent API (named after the
//! resource, as the API names it), plus what they share here: the state, the request
//! extractors that turn bad input into Confluent's error bodies, the response type with
//! Confluent's media type, and the router that merges the resources.

pub mod audit;
pub mod auth_layer;
pub mod catalog;
pub mod compatibility;
pub mod config;
pub mod context_paths;
pub mod contexts;
pub mod dek_registry;
pub mod entities;
pub mod exporters;
pub mod front;
mod hot;
pub mod jackson;
pub mod lineage;
pub mod mode;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod principals;
pub mod proposals;
pub mod schemas;
pub mod streams;
pub mod subjects;
pub mod usage;
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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

pub use crate::error::{json_response, VND, VND_V1};

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
    /// API keys verified in the last second (see [`crate::auth::VerifiedKeys`]).
    pub verified: crate::auth::VerifiedKeys,
    /// Observed usage, counted per request and flushed in batches (see [`crate::usage`]).
    pub usage: Arc<crate::usage::Usage>,
}

pub type State = axum::extract::State<Arc<AppState>>;

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

/// The route template of a response answered ahead of the router
/// ([`hot`]), where no [`axum::extract::MatchedPath`] is set.
#[derive(Clone, Copy, Debug)]
pub struct Route(pub &'static str);

/// Every request's way out (run by [`front::Front`]): a `/ui` error rendered as a page
/// (`crate::ui::html_errors`), the media type picked from `Accept` ([`negotiate`]), and
/// the request counted and timed under its route template (`crate::metrics`), which
/// [`front::StampRoute`] (or a [`Route`]) puts on the response.
pub async fn outer<F, Fut>(state: &AppState, req: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let ui = crate::ui::is_ui(req.uri().path());
    let mut resp = next(req).await;
    if ui {
        resp = crate::ui::html_errors(resp).await;
    }
    let mut resp = negotiate(accept.as_deref(), resp);
    let matched = resp.extensions_mut().remove::<axum::extract::MatchedPath>();
    let status = resp.status().as_u16();
    let route = match &matched {
        Some(r) => r.as_str(),
        None => resp
            .extensions()
            .get::<Route>()
            .map_or("unmatched", |r| r.0),
    };
    let elapsed = start.elapsed();
    state
        .metrics
        .observe(route, &method, status, elapsed.as_secs_f64());
    if status >= 500 {
        tracing::error!(%method, route, status, latency_ms = elapsed.as_millis() as u64, "request failed");
    } else {
        tracing::debug!(%method, route, status, latency_us = elapsed.as_micros() as u64, "request");
    }
    resp
}

/// Picks the response media type from `Accept` (lower-cased), as Jersey does with
/// Confluent's quality factors: the v1 type unless the client accepts only the
/// unversioned type or plain JSON.
fn negotiate(accept: Option<&str>, mut resp: Response) -> Response {
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

/// The request body media types a state change may carry: Confluent's JSON types,
/// `application/octet-stream` (which some Confluent clients send, see the registry_core
/// test) and the YAML types of `PUT /v1/streams/{name}/contract`. None of them is one a
/// browser may send cross-site without a CORS preflight (which this server never
/// grants): an HTML form can send only `application/x-www-form-urlencoded`,
/// `multipart/form-data` and `text/plain`.
const WRITE_BODY_TYPES: &[&str] = &[
    VND_V1,
    VND,
    "application/json",
    "application/octet-stream",
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// An `Origin` (`scheme://host[:port]`, or `null`) as the `Host` header would name the
/// same server: the authority, lower-cased, without the scheme's default port. `None`
/// for `null` or anything that is not an origin, which then matches no host.
fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, authority) = origin.trim().split_once("://")?;
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    Some(match authority.strip_suffix(default_port) {
        Some(a) if !default_port.is_empty() => a.to_string(),
        _ => authority,
    })
}

/// The `Host` a request was sent to, lower-cased, without a default port (the scheme is
/// unknown behind a TLS proxy, so both `:80` and `:443` are taken as defaults).
fn host_authority(req: &Request) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?
        .trim()
        .to_ascii_lowercase();
    Some(
        host.strip_suffix(":80")
            .or_else(|| host.strip_suffix(":443"))
            .unwrap_or(&host)
            .to_string(),
    )
}

/// Why a state-changing request is refused as a possible cross-site request forgery, if
/// it is. Browsers keep sending cached HTTP Basic credentials (the catalog asks for
/// them), so a page elsewhere could otherwise make a signed-in user's browser register,
/// delete or shred with a plain HTML form. Browsers say where a request comes from
/// (`Sec-Fetch-Site`, `Origin`); Confluent clients, the CLI and curl send neither and are
/// unaffected. `same-site` is refused too: a sibling subdomain is another application.
fn cross_site_refusal(req: &Request) -> Option<ApiError> {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    if let Some(site) = fetch_site.filter(|s| s == "cross-site" || s == "same-site") {
        return Some(ApiError::Forbidden(format!(
            "Cross-site request refused: a {} {} came from another site (Sec-Fetch-Site: {site}); state changes are accepted only from API clients or this registry's own pages",
            req.method(),
            req.uri().path()
        )));
    }
    let origin = req.headers().get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let matches = origin_authority(&origin)
        .zip(host_authority(req))
        .is_some_and(|(o, h)| o == h);
    if matches {
        return None;
    }
    Some(ApiError::Forbidden(format!(
        "Cross-site request refused: a {} {} came from origin '{origin}', which is not this registry; state changes are accepted only from API clients or this registry's own pages",
        req.method(),
        req.uri().path()
    )))
}

/// The refusal of a state change (POST, PUT, PATCH, DELETE) that a browser could have
/// been made to send from another site: 403 (40301) when `Sec-Fetch-Site` says
/// `cross-site` or `same-site` or an `Origin` names another host ([`cross_site_refusal`]),
/// and 415 when a body comes with a Content-Type outside [`WRITE_BODY_TYPES`] (form
/// encodings and `text/plain` are what cross-site forms send). The auth middleware asks
/// it first, before authentication, so it holds with auth off too (a local registry is
/// reachable from any page the developer opens); it is no middleware of its own because
/// every `from_fn` layer costs each request a boxed future and a service clone.
pub fn write_refusal(req: &Request) -> Option<Response> {
    use axum::http::Method;
    if !matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return None;
    }
    if let Some(refusal) = cross_site_refusal(req) {
        tracing::warn!(
            method = %req.method(),
            path = req.uri().path(),
            "cross-site state change refused"
        );
        return Some(refusal.into_response());
    }
    if crate::http_server::has_body(req.headers()) {
        let base = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| {
                let ct = String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase();
                ct.split(';').next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default();
        // No Content-Type is read as JSON, as Jersey does (Confluent accepts it). It is no
        // opening: what sends a body without one (fetch, sendBeacon) always sends
        // `Origin`, checked above.
        if !base.is_empty() && !WRITE_BODY_TYPES.contains(&base.as_str()) {
            return Some(ApiError::UnsupportedMediaType(base).into_response());
        }
    }
    None
}

/// A JSON request body: Confluent's media types (or none, or octet-stream), parsed into
/// `T`. Wrong type: 415; too large: 413; not JSON or the wrong shape: 400; missing: 422.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut value = read_json(req, state).await?;
        // serde reads a struct from an array of its fields in order, so `[]` passed for
        // a body of optional fields; every body is an object, as Jackson reads a bean.
        if value.is_array() {
            return Err(ApiError::MalformedBody(
                "Invalid JSON body: expected a JSON object, got an array".to_string(),
            ));
        }
        whole_numbers_as_integers(&mut value);
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::MalformedBody(format!("Invalid JSON body: {e}")))
    }
}

/// JSON does not tell `836` from `836.0` (and JSON Schema's `integer` admits both): a
/// whole number written with a fraction is read as the integer it is, where serde alone
/// would refuse it for an integer field. Beyond 2^53 a float is no exact integer and
/// stays as it is.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The body of a request as JSON: media type checked (415), size bounded (413), not
/// JSON 400, absent or JSON `null` 422 (Confluent's `@NotNull` request entity).
async fn read_json<S: Send + Sync>(req: Request, state: &S) -> Result<Value, ApiError> {
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
    let bytes =
        bytes::Bytes::from_request(req, state)
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
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::MalformedBody(format!(
            "Invalid JSON body at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    if value.is_null() {
        return Err(ApiError::Unprocessable(
            "The request body is null: send a JSON object".to_string(),
        ));
    }
    Ok(value)
}

/// A request type whose body Jackson reads in Confluent: its fields' [`jackson::Shape`].
pub trait Shaped {
    const SHAPE: jackson::Shape;
}

/// A JSON request body read as Confluent's Jackson reads it: scalars coerced to the
/// type's [`Shaped::SHAPE`] first (see `jackson`), then deserialised like [`Body`].
pub struct JBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Shaped> FromRequest<S> for JBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = jackson::coerce(read_json(req, state).await?, &T::SHAPE, "")?;
        serde_json::from_value(value)
            .map(JBody)
            .map_err(|e| ApiError::MalformedBody(format!("Invalid JSON body: {e}")))
    }
}

/// `PUT /config` bodies: Confluent's `ConfigUpdateRequest`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ConfigUpdate(pub serde_json::Map<String, Value>);

impl Shaped for ConfigUpdate {
    const SHAPE: jackson::Shape = jackson::CONFIG_UPDATE;
}

/// `PUT /mode` bodies: Confluent's `ModeUpdateRequest`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ModeUpdate(pub serde_json::Map<String, Value>);

impl Shaped for ModeUpdate {
    const SHAPE: jackson::Shape = jackson::MODE_UPDATE;
}

/// `POST /` bodies: a `Map<String, String>`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RootPost(pub serde_json::Map<String, Value>);

impl Shaped for RootPost {
    const SHAPE: jackson::Shape = jackson::ROOT;
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

    /// The whole number `key` names, from `min` to `max`, or `default` when absent:
    /// anything else is a 422 that says which parameter and what it takes.
    pub fn int_in(
        &self,
        key: &str,
        min: usize,
        max: usize,
        default: usize,
    ) -> Result<usize, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::Unprocessable(format!(
                    "Invalid {key} '{v}': a whole number from {min} to {max}"
                ))),
            },
        }
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `offset`/`limit` applied to a list; a limit <= 0 or above `max` means `default`.
    /// Confluent declares both `int` query parameters, so text that is not an int32
    /// fails Jersey's conversion: 404 with code 404, as an unknown route.
    pub fn page<T>(
        &self,
        items: Vec<T>,
        default: Option<usize>,
        max: Option<usize>,
    ) -> Result<Vec<T>, ApiError> {
        let int = |key: &str| -> Result<Option<i64>, ApiError> {
            match self.get(key).map(str::trim) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<i32>()
                    .map(|n| Some(n as i64))
                    .map_err(|_| ApiError::RouteNotFound),
            }
        };
        let offset = int("offset")?.unwrap_or(0).max(0) as usize;
        let limit = int("limit")?
            .filter(|l| *l > 0 && max.is_none_or(|m| *l as usize <= m))
            .map(|l| l as usize)
            .or(default);
        let it = items.into_iter().skip(offset);
        Ok(match limit {
            Some(l) => it.take(l).collect(),
            None => it.collect(),
        })
    }
}

/// The whole application router; [`front::Front`] wraps it with what every request
/// crosses (edges, authentication, metrics).
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
        .merge(exporters::router())
        .merge(usage::router())
        .merge(lineage::router())
        .merge(crate::ui::router())
        .route_layer(front::StampRouteLayer)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_as_hosts() {
        assert_eq!(
            origin_authority("https://Evil.Example").as_deref(),
            Some("evil.example")
        );
        assert_eq!(
            origin_authority("http://127.0.0.1:8081").as_deref(),
            Some("127.0.0.1:8081")
        );
        assert_eq!(
            origin_authority("http://reg.acme:80").as_deref(),
            Some("reg.acme")
        );
        assert_eq!(
            origin_authority("https://reg.acme:443").as_deref(),
            Some("reg.acme")
        );
        for bad in ["null", "", "https://", "https://a@b", "https://a/b"] {
            assert_eq!(origin_authority(bad), None, "{bad}");
        }
    }
}
