//! `/v1/streams`: streams, their data contracts (ODCS, sent as JSON or YAML), consumers
//! and producer. The logic and storage are in [`crate::governance`].

use super::paging::{self, Page};
use super::{Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::governance::{
    self, Applied, Consumer, ContractVersionInfo, Producer, ServiceInput, StreamConsumer,
    StreamDetail, StreamProducer, StreamSummary,
};
use accord_contracts::Contract;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/v1/streams", get(list))
        .route("/v1/consumers", get(all_consumers))
        .route("/v1/producers", get(all_producers))
        .route("/v1/streams/{name}", get(get_stream))
        .route("/v1/streams/{name}/contract", get(get_contract).put(apply))
        .route("/v1/streams/{name}/contract/versions", get(versions))
        .route(
            "/v1/streams/{name}/consumers",
            get(list_consumers).post(add_consumer),
        )
        .route(
            "/v1/streams/{name}/consumers/{service}",
            delete(remove_consumer),
        )
        .route(
            "/v1/streams/{name}/consumers/{service}/approve",
            post(approve_consumer),
        )
        .route(
            "/v1/streams/{name}/consumers/{service}/reject",
            post(reject_consumer),
        )
        .route(
            "/v1/streams/{name}/producer",
            put(put_producer).get(get_producer),
        )
}

const YAML_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// A contract document from the request body: YAML when the Content-Type says so, JSON
/// otherwise (JSON types or none). Shape errors are 422 listing every problem. Parsed on
/// a blocking thread ([`crate::work`]), after the size and nesting limits
/// ([`accord_contracts::limits`]) that keep the parser's work bounded.
pub struct ContractBody(pub Contract);

impl FromRequest<Arc<super::AppState>> for ContractBody {
    type Rejection = ApiError;

    async fn from_request(
        req: Request,
        state: &Arc<super::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let base = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| {
                let ct = v.to_str().unwrap_or("").to_ascii_lowercase();
                ct.split(';').next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default();
        let yaml = YAML_TYPES.contains(&base.as_str());
        if !yaml
            && !matches!(
                base.as_str(),
                "" | "application/json" | super::VND_V1 | "application/vnd.schemaregistry+json"
            )
        {
            return Err(ApiError::UnsupportedMediaType(base));
        }
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::MalformedBody(e.body_text()),
            })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::MalformedBody("The contract is not UTF-8 text".to_string()))?;
        if text.trim().is_empty() {
            return Err(ApiError::Unprocessable(
                "The request body is missing: send an ODCS contract (JSON or YAML)".to_string(),
            ));
        }
        let parsed = state
            .registry
            .work
            .sized("parsing the contract", text.len(), move || match yaml {
                true => Contract::from_yaml(&text),
                false => Contract::from_json(&text),
            })
            .await?;
        parsed.map(ContractBody).map_err(|e| {
            ApiError::InvalidContract(e.problems().iter().map(ToString::to_string).collect())
        })
    }
}

/// List streams with their subjects, latest value schema, owner and status, by name, a
/// page at a time: `limit` (1 to 1000, default 1000) streams after `after` (the last
/// name of the previous page). `X-Total-Count` gives the number of streams; a `Link`
/// header with `rel="next"` names the next page while there is one. `subject` keeps
/// the streams with that key or value subject.
#[utoipa::path(get, path = "/v1/streams", tag = "streams",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Streams per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this stream name (the previous page's last)"),
        ("subject" = Option<String>, Query, description = "Only the streams with this key or value subject")),
    responses((status = 200, body = [StreamSummary],
            headers(("X-Total-Count" = i64, description = "Streams in all (with the subject filter)"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 422, description = "invalid limit", body = ErrorBody)))]
pub async fn list(
    state: State,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<StreamSummary>>), ApiError> {
    let page = Page::from(&params, governance::STREAM_PAGE_MAX)?;
    let found = governance::list_streams(
        &state.registry.store,
        &governance::StreamPage {
            after: page.after.clone(),
            limit: page.limit,
            subject: params.get("subject").map(str::to_string),
        },
    )
    .await?;
    let next = found
        .streams
        .last()
        .filter(|_| found.more)
        .map(|s| s.name.clone());
    let headers = paging::headers(
        "/v1/streams",
        &params,
        &page,
        Some(found.total),
        next.as_deref(),
    );
    Ok((headers, Vnd(found.streams)))
}

/// A stream with its current contract, consumers and producer.
#[utoipa::path(get, path = "/v1/streams/{name}", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses((status = 200, body = StreamDetail),
        (status = 404, description = "40420 no such stream", body = ErrorBody)))]
pub async fn get_stream(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<StreamDetail>, ApiError> {
    Ok(Vnd(
        governance::get_stream(&state.registry.store, &name).await?
    ))
}

/// Create or update the stream's contract (ODCS v3.1, JSON or YAML by Content-Type).
/// Idempotent: the same document (same digest) answers `changed: false`.
#[utoipa::path(put, path = "/v1/streams/{name}/contract", tag = "streams",
    params(("name" = String, Path, description = "Stream name; must match the contract's accord.stream name when given")),
    request_body(description = "ODCS v3.1 data contract, as JSON or YAML", content((Object = "application/json"), (String = "application/yaml"))),
    responses((status = 200, body = Applied),
        (status = 403, description = "40301 not the owning team or an admin; or a subject the contract names already has versions or keys registered by another principal (only an admin or its registrant may claim it)", body = ErrorBody),
        (status = 415, description = "neither JSON nor YAML", body = ErrorBody),
        (status = 422, description = "42220 invalid contract: every problem as `path: message`", body = ErrorBody)))]
pub async fn apply(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    ContractBody(contract): ContractBody,
) -> Result<Vnd<Applied>, ApiError> {
    let applied =
        governance::apply_contract(&state.registry.store, &actor, &name, contract).await?;
    Ok(Vnd(applied))
}

/// The stream's contract document: the latest, or `?version=N`. JSON, or YAML with
/// `Accept: application/yaml`. Headers `X-Accord-Contract-Version` and `ETag` (digest).
#[utoipa::path(get, path = "/v1/streams/{name}/contract", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("version" = Option<i64>, Query, minimum = 1, description = "Contract version (default: latest)")),
    responses((status = 200, description = "The ODCS document: YAML when Accept names a YAML type, else JSON", content((Object = "application/json"), (String = "application/yaml"))),
        (status = 404, description = "40420 no such stream, 40421 no such version", body = ErrorBody),
        (status = 422, description = "42202 version is not a positive integer", body = ErrorBody)))]
pub async fn get_contract(
    state: State,
    headers: HeaderMap,
    params: Params,
    PathParams(name): PathParams<String>,
) -> Result<Response, ApiError> {
    let version = match params.get("version") {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => return Err(ApiError::InvalidVersion(v.to_string())),
        },
    };
    let (info, contract) = governance::get_contract(&state.registry.store, &name, version).await?;
    let wants_yaml = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',')
                .map(|t| {
                    t.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .any(|t| YAML_TYPES.contains(&t.as_str()))
        });
    let (ct, body) = if wants_yaml {
        ("application/yaml", contract.to_yaml())
    } else {
        ("application/json", contract.to_json())
    };
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&info.version.to_string()) {
        h.insert("x-accord-contract-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", info.digest)) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The stream's contract history, oldest first.
#[utoipa::path(get, path = "/v1/streams/{name}/contract/versions", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses((status = 200, body = [ContractVersionInfo]),
        (status = 404, description = "40420 no such stream", body = ErrorBody)))]
pub async fn versions(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<Vec<ContractVersionInfo>>, ApiError> {
    Ok(Vnd(governance::contract_versions(
        &state.registry.store,
        &name,
    )
    .await?))
}

/// The stream's consumers by service, a page at a time: `limit` (1 to 1000, default
/// 1000) after service `after`; `X-Total-Count` and a `Link` to the next page as for
/// `/v1/streams`. With `include=observed`, each consumer says when it was seen reading,
/// and the undeclared readers are listed among them by name (status `undeclared`).
#[utoipa::path(get, path = "/v1/streams/{name}/consumers", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("include" = Option<String>, Query, description = "observed: when each consumer was seen reading, and the undeclared readers (status undeclared)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Consumers per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this service (the previous page's last); with include=observed, the cursor from the previous page's Link header")),
    responses((status = 200, body = [Consumer],
            headers(("X-Total-Count" = i64, description = "The stream's consumers in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 422, description = "invalid include, limit or after", body = ErrorBody)))]
pub async fn list_consumers(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<Consumer>>), ApiError> {
    let store = &state.registry.store;
    let page = Page::from(&params, paging::MAX)?;
    let observed = match params.get("include").map(str::trim) {
        None | Some("") => false,
        Some("observed") => true,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "Invalid include '{other}': the only one is 'observed'"
            )))
        }
    };
    let path = format!("/v1/streams/{}/consumers", crate::ui::seg(&name));
    if observed {
        // Who reads a read-restricted stream is for who may read it. Whether a reader
        // is declared depends on every consumer, so the list is built whole (a stream's
        // consumers and readers, not the catalog) and then cut.
        super::usage::check_stream_read(&state, &actor, &name).await?;
        let all = governance::list_consumers(store, &name).await?;
        let mut all = crate::usage::with_observed(store, &name, all).await?;
        // By (service, status): an undeclared reader's service is its principal's name,
        // which a consumer not yet active may share; the pair is unique.
        all.sort_by(|a, b| (&a.service, &a.status).cmp(&(&b.service, &b.status)));
        let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let after = page.after_parts(2)?;
        let rest: Vec<Consumer> = all
            .into_iter()
            .filter(|c| {
                after
                    .as_ref()
                    .is_none_or(|a| (&c.service, &c.status) > (&a[0], &a[1]))
            })
            .take(page.limit + 1)
            .collect();
        let (shown, next) = page.cut(rest, |c| paging::cursor(&[&c.service, &c.status]));
        let h = paging::headers(&path, &params, &page, Some(total), next.as_deref());
        return Ok((h, Vnd(shown)));
    }
    governance::stream_exists(store, &name).await?;
    let only = governance::Registrations {
        stream: Some(name.clone()),
        ..Default::default()
    };
    let after = page.after.clone().map(|svc| (name.clone(), svc));
    let (rows, total) = governance::consumers_page(store, &only, after, page.fetch()).await?;
    let (shown, next) = page.cut(rows, |c| c.consumer.service.clone());
    let h = paging::headers(&path, &params, &page, Some(total), next.as_deref());
    Ok((h, Vnd(shown.into_iter().map(|c| c.consumer).collect())))
}

/// Every consumer registration, by stream then service, a page at a time, kept to a
/// `team`, a `service` and/or a `stream` when given: `limit` (1 to 1000, default 1000)
/// after `after` (the cursor in the previous page's `Link`). `X-Total-Count` counts the
/// matching registrations.
#[utoipa::path(get, path = "/v1/consumers", tag = "streams",
    params(("team" = Option<String>, Query, description = "Only this team's consumers"),
        ("service" = Option<String>, Query, description = "Only this service's registrations"),
        ("stream" = Option<String>, Query, description = "Only this stream's consumers"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Registrations per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "The cursor from the previous page's Link header: a JSON array [stream, service]")),
    responses((status = 200, body = [StreamConsumer],
            headers(("X-Total-Count" = i64, description = "Matching registrations in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 422, description = "invalid limit or after", body = ErrorBody)))]
pub async fn all_consumers(
    state: State,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<StreamConsumer>>), ApiError> {
    let page = Page::from(&params, paging::MAX)?;
    let after = page.after_parts(2)?.map(|mut v| (v.remove(0), v.remove(0)));
    let (rows, total) = governance::consumers_page(
        &state.registry.store,
        &registrations(&params),
        after,
        page.fetch(),
    )
    .await?;
    let (shown, next) = page.cut(rows, |c| paging::cursor(&[&c.stream, &c.consumer.service]));
    let h = paging::headers(
        "/v1/consumers",
        &params,
        &page,
        Some(total),
        next.as_deref(),
    );
    Ok((h, Vnd(shown)))
}

/// Every producer registration, by stream, a page at a time, kept to a `team`, a
/// `service` and/or a `stream` when given: `limit` (1 to 1000, default 1000) after
/// stream `after`. `X-Total-Count` counts the matching registrations.
#[utoipa::path(get, path = "/v1/producers", tag = "streams",
    params(("team" = Option<String>, Query, description = "Only this team's producers"),
        ("service" = Option<String>, Query, description = "Only this service's registrations"),
        ("stream" = Option<String>, Query, description = "Only this stream's producer"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Registrations per page, 1 to 1000 (default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this stream (the previous page's last)")),
    responses((status = 200, body = [StreamProducer],
            headers(("X-Total-Count" = i64, description = "Matching registrations in all"),
                ("Link" = String, description = "rel=\"next\": the next page, while there is one"))),
        (status = 422, description = "invalid limit", body = ErrorBody)))]
pub async fn all_producers(
    state: State,
    params: Params,
) -> Result<(HeaderMap, Vnd<Vec<StreamProducer>>), ApiError> {
    let page = Page::from(&params, paging::MAX)?;
    let (rows, total) = governance::producers_page(
        &state.registry.store,
        &registrations(&params),
        page.after.clone(),
        page.fetch(),
    )
    .await?;
    let (shown, next) = page.cut(rows, |p| p.stream.clone());
    let h = paging::headers(
        "/v1/producers",
        &params,
        &page,
        Some(total),
        next.as_deref(),
    );
    Ok((h, Vnd(shown)))
}

/// The `team`, `service` and `stream` filters of a registration list.
fn registrations(params: &Params) -> governance::Registrations {
    let get = |k: &str| params.get(k).map(str::to_string);
    governance::Registrations {
        team: get("team"),
        service: get("service"),
        stream: get("stream"),
    }
}

/// Register a consuming service. `pending` when the owner must approve (PII streams,
/// read-restricted streams, `consumers: approval`). A service stays the team's that
/// registered it: another team registering the same name gets 409 (40923); only the
/// owning team or an admin moves it to another team.
#[utoipa::path(post, path = "/v1/streams/{name}/consumers", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = ServiceInput,
    responses((status = 200, body = Consumer),
        (status = 403, description = "40320 the contract's allow-list excludes the team; 40301 a member registering for another team", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody),
        (status = 409, description = "40920 the stream is deprecated (the message names its successor); 40923 the service is registered by another team", body = ErrorBody),
        (status = 422, description = "empty service or team", body = ErrorBody)))]
pub async fn add_consumer(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    super::Body(input): super::Body<ServiceInput>,
) -> Result<Vnd<Consumer>, ApiError> {
    Ok(Vnd(governance::add_consumer(
        &state.registry.store,
        &actor,
        &name,
        &input,
    )
    .await?))
}

/// Remove a consumer; answers the removed record.
#[utoipa::path(delete, path = "/v1/streams/{name}/consumers/{service}", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("service" = String, Path, description = "Consuming service")),
    responses((status = 200, body = Consumer),
        (status = 403, description = "40301 not the owning team, the consumer's team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream, 40422 no such consumer", body = ErrorBody)))]
pub async fn remove_consumer(
    state: State,
    actor: Actor,
    PathParams((name, service)): PathParams<(String, String)>,
) -> Result<Vnd<Consumer>, ApiError> {
    Ok(Vnd(governance::remove_consumer(
        &state.registry.store,
        &actor,
        &name,
        &service,
    )
    .await?))
}

/// Approve a consumer (owning team or admin): `pending` or `rejected` becomes `active`.
#[utoipa::path(post, path = "/v1/streams/{name}/consumers/{service}/approve", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("service" = String, Path, description = "Consuming service")),
    responses((status = 200, body = Consumer),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream, 40422 no such consumer", body = ErrorBody)))]
pub async fn approve_consumer(
    state: State,
    actor: Actor,
    PathParams((name, service)): PathParams<(String, String)>,
) -> Result<Vnd<Consumer>, ApiError> {
    Ok(Vnd(governance::decide_consumer(
        &state.registry.store,
        &actor,
        &name,
        &service,
        true,
    )
    .await?))
}

/// Reject a consumer (owning team or admin): `pending` or `active` becomes `rejected`
/// (the record stays until it is removed or approved).
#[utoipa::path(post, path = "/v1/streams/{name}/consumers/{service}/reject", tag = "streams",
    params(("name" = String, Path, description = "Stream name"),
        ("service" = String, Path, description = "Consuming service")),
    responses((status = 200, body = Consumer),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream, 40422 no such consumer", body = ErrorBody)))]
pub async fn reject_consumer(
    state: State,
    actor: Actor,
    PathParams((name, service)): PathParams<(String, String)>,
) -> Result<Vnd<Consumer>, ApiError> {
    Ok(Vnd(governance::decide_consumer(
        &state.registry.store,
        &actor,
        &name,
        &service,
        false,
    )
    .await?))
}

/// Set the stream's single producer (owning team or admin).
#[utoipa::path(put, path = "/v1/streams/{name}/producer", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    request_body = ServiceInput,
    responses((status = 200, body = Producer),
        (status = 403, description = "40301 not the owning team or an admin", body = ErrorBody),
        (status = 404, description = "40420 no such stream", body = ErrorBody)))]
pub async fn put_producer(
    state: State,
    actor: Actor,
    PathParams(name): PathParams<String>,
    super::Body(input): super::Body<ServiceInput>,
) -> Result<Vnd<Producer>, ApiError> {
    Ok(Vnd(governance::put_producer(
        &state.registry.store,
        &actor,
        &name,
        &input,
    )
    .await?))
}

/// The stream's producer.
#[utoipa::path(get, path = "/v1/streams/{name}/producer", tag = "streams",
    params(("name" = String, Path, description = "Stream name")),
    responses((status = 200, body = Producer),
        (status = 404, description = "40420 no such stream, 40423 no producer", body = ErrorBody)))]
pub async fn get_producer(
    state: State,
    PathParams(name): PathParams<String>,
) -> Result<Vnd<Producer>, ApiError> {
    Ok(Vnd(
        governance::get_producer(&state.registry.store, &name).await?
    ))
}
