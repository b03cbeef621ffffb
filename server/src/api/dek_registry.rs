//! `/dek-registry/v1/keks`: Confluent's DEK registry (confluent-compat.md §8), for the
//! field-level encryption of Confluent's clients and Accord's. The logic and storage are
//! in [`crate::dek`].

use super::{json_response, Body, Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::dek::{self, CreateDek, CreateKek, DekInfo, KekInfo, VersionSel};
use crate::error::{ApiError, ErrorBody};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::sync::Arc;

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/dek-registry/v1/keks", get(list_keks).post(create_kek))
        .route(
            "/dek-registry/v1/keks/{kek}",
            get(get_kek).put(update_kek).delete(delete_kek),
        )
        .route("/dek-registry/v1/keks/{kek}/undelete", post(undelete_kek))
        .route("/dek-registry/v1/keks/{kek}/test", post(test_kek))
        .route(
            "/dek-registry/v1/keks/{kek}/deks",
            get(list_deks).post(create_dek_in_body),
        )
        .route(
            "/dek-registry/v1/keks/{kek}/deks/{subject}",
            get(get_dek).post(create_dek).delete(delete_dek),
        )
        .route(
            "/dek-registry/v1/keks/{kek}/deks/{subject}/versions",
            get(dek_versions),
        )
        .route(
            "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}",
            get(get_dek_version).delete(delete_dek_version),
        )
        .route(
            "/dek-registry/v1/keks/{kek}/deks/{subject}/undelete",
            post(undelete_dek),
        )
        .route(
            "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}/undelete",
            post(undelete_dek_version),
        )
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn algorithm(params: &Params) -> Result<accord_contracts::kms::DekAlgorithm, ApiError> {
    dek::parse_algorithm(params.get("algorithm"))
}

/// KEK names, sorted; `subjectPrefix` (repeatable) keeps KEKs with DEKs of a matching subject.
#[utoipa::path(get, path = "/dek-registry/v1/keks", tag = "dek-registry",
    params(("subjectPrefix" = Option<Vec<String>>, Query, description = "Only KEKs with DEKs of a subject starting with one of these"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted KEKs"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("limit" = Option<i64>, Query, description = "At most this many")),
    responses((status = 200, body = [String])))]
pub async fn list_keks(state: State, params: Params) -> Result<Vnd<Vec<String>>, ApiError> {
    let prefixes = params.all("subjectPrefix");
    let names = dek::list_keks(&state.registry.store, &prefixes, params.flag("deleted")).await?;
    Ok(Vnd(params.page(names, None, None)?))
}

/// Create a KEK. An equivalent soft-deleted KEK is undeleted. With auth on, members may
/// create non-shared KEKs; a shared KEK (and an undelete) needs an admin.
#[utoipa::path(post, path = "/dek-registry/v1/keks", tag = "dek-registry",
    request_body = CreateKek,
    responses((status = 200, body = KekInfo),
        (status = 403, description = "40301 only admins create shared KEKs or undelete KEKs", body = ErrorBody),
        (status = 409, description = "40971 the KEK exists", body = ErrorBody),
        (status = 422, description = "42271 invalid or missing name, kmsType or kmsKeyId", body = ErrorBody)))]
pub async fn create_kek(
    state: State,
    actor: Actor,
    Body(body): Body<CreateKek>,
) -> Result<Vnd<KekInfo>, ApiError> {
    Ok(Vnd(
        dek::create_kek(&state.registry.store, &actor, body).await?
    ))
}

/// A KEK.
#[utoipa::path(get, path = "/dek-registry/v1/keks/{kek}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("deleted" = Option<bool>, Query, description = "Also a soft-deleted KEK")),
    responses((status = 200, body = KekInfo),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 422, description = "42271 invalid name", body = ErrorBody)))]
pub async fn get_kek(
    state: State,
    params: Params,
    PathParams(kek): PathParams<String>,
) -> Result<Vnd<KekInfo>, ApiError> {
    Ok(Vnd(dek::get_kek(
        &state.registry.store,
        &kek,
        params.flag("deleted"),
    )
    .await?))
}

/// Update a KEK's `kmsProps`, `doc` and `shared` (absent keeps, null clears). Admins only.
#[utoipa::path(put, path = "/dek-registry/v1/keks/{kek}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name")),
    request_body(content = Object, description = "{\"kmsProps\":{..},\"doc\":\"..\",\"shared\":true}"),
    responses((status = 200, body = KekInfo),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 422, description = "42271 invalid value", body = ErrorBody)))]
pub async fn update_kek(
    state: State,
    actor: Actor,
    PathParams(kek): PathParams<String>,
    Body(body): Body<Value>,
) -> Result<Vnd<KekInfo>, ApiError> {
    Ok(Vnd(dek::update_kek(
        &state.registry.store,
        &actor,
        &kek,
        body,
    )
    .await?))
}

/// Delete a KEK: soft, or `permanent=true` after a soft delete. 204. Admins only.
#[utoipa::path(delete, path = "/dek-registry/v1/keks/{kek}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("permanent" = Option<bool>, Query, description = "Delete for good (after a soft delete)")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40470 no such KEK, 40471 not soft-deleted first", body = ErrorBody),
        (status = 422, description = "42272 DEKs under the KEK exist", body = ErrorBody)))]
pub async fn delete_kek(
    state: State,
    actor: Actor,
    params: Params,
    PathParams(kek): PathParams<String>,
) -> Result<Response, ApiError> {
    dek::delete_kek(
        &state.registry.store,
        &actor,
        &kek,
        params.flag("permanent"),
    )
    .await?;
    Ok(no_content())
}

/// Undelete a soft-deleted KEK. 204. Admins only.
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/undelete", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name")),
    responses((status = 204, description = "Undeleted"),
        (status = 403, description = "40301 not an admin", body = ErrorBody),
        (status = 404, description = "40470 no such KEK", body = ErrorBody)))]
pub async fn undelete_kek(
    state: State,
    actor: Actor,
    PathParams(kek): PathParams<String>,
) -> Result<Response, ApiError> {
    dek::undelete_kek(&state.registry.store, &actor, &kek).await?;
    Ok(no_content())
}

/// Check that the server's KMS wraps and unwraps with a shared KEK. Admins only.
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/test", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name")),
    responses((status = 200, body = KekInfo),
        (status = 403, description = "40301 not an admin; 40370 the KMS refused", body = ErrorBody),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 422, description = "42271 the KEK is not shared", body = ErrorBody),
        (status = 500, description = "50070 the KMS failed", body = ErrorBody)))]
pub async fn test_kek(
    state: State,
    actor: Actor,
    PathParams(kek): PathParams<String>,
) -> Result<Vnd<KekInfo>, ApiError> {
    Ok(Vnd(dek::test_kek(
        &state.registry.store,
        &state.keys,
        &actor,
        &kek,
    )
    .await?))
}

/// The subjects with DEKs under a KEK.
#[utoipa::path(get, path = "/dek-registry/v1/keks/{kek}/deks", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted DEKs"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("limit" = Option<i64>, Query, description = "At most this many")),
    responses((status = 200, body = [String]),
        (status = 404, description = "40470 no such KEK", body = ErrorBody)))]
pub async fn list_deks(
    state: State,
    params: Params,
    PathParams(kek): PathParams<String>,
) -> Result<Vnd<Vec<String>>, ApiError> {
    let s = dek::list_dek_subjects(&state.registry.store, &kek, params.flag("deleted")).await?;
    Ok(Vnd(params.page(s, None, None)?))
}

/// Create a DEK with the subject in the body (deprecated; Python's client falls back to it).
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/deks", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name")),
    request_body = CreateDek,
    responses((status = 200, body = DekInfo),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 409, description = "40971 the DEK exists, 40972 too many keys", body = ErrorBody),
        (status = 422, description = "42271 invalid or missing subject, algorithm, version or encryptedKeyMaterial, or encryptedKeyMaterial under a shared KEK", body = ErrorBody)))]
pub async fn create_dek_in_body(
    state: State,
    actor: Actor,
    params: Params,
    PathParams(kek): PathParams<String>,
    Body(body): Body<CreateDek>,
) -> Result<Response, ApiError> {
    let subject = body.subject.clone().unwrap_or_default();
    created(
        dek::create_dek(
            &state.registry.store,
            &state.keys,
            &actor,
            &kek,
            &subject,
            body,
            params.flag("rewrap"),
        )
        .await?,
    )
}

fn created(d: DekInfo) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &d))
}

/// Create a DEK (version 1 unless given). For a shared KEK the server generates and
/// wraps it and returns `keyMaterial` (`encryptedKeyMaterial` is refused, 42271: the
/// server never unwraps material it did not make); `rewrap=true` re-wraps an existing one.
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/deks/{subject}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("rewrap" = Option<bool>, Query, description = "Re-wrap the existing DEK with the KEK")),
    request_body = CreateDek,
    responses((status = 200, body = DekInfo),
        (status = 403, description = "40301 not allowed to create keys or obtain key material of the subject", body = ErrorBody),
        (status = 404, description = "40470 no such KEK", body = ErrorBody),
        (status = 409, description = "40971 the DEK exists, 40972 too many keys", body = ErrorBody),
        (status = 410, description = "41070 (Accord) the subject's stream was crypto-shredded", body = ErrorBody),
        (status = 422, description = "42271 invalid or missing algorithm, version or encryptedKeyMaterial, or encryptedKeyMaterial under a shared KEK", body = ErrorBody),
        (status = 500, description = "50070 the KMS failed", body = ErrorBody)))]
pub async fn create_dek(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject)): PathParams<(String, String)>,
    Body(body): Body<CreateDek>,
) -> Result<Response, ApiError> {
    created(
        dek::create_dek(
            &state.registry.store,
            &state.keys,
            &actor,
            &kek,
            &subject,
            body,
            params.flag("rewrap"),
        )
        .await?,
    )
}

/// The DEK, version 1.
#[utoipa::path(get, path = "/dek-registry/v1/keks/{kek}/deks/{subject}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV"),
        ("deleted" = Option<bool>, Query, description = "Also a soft-deleted DEK")),
    responses((status = 200, body = DekInfo),
        (status = 403, description = "40301 not allowed to obtain the key material", body = ErrorBody),
        (status = 404, description = "40470 no such KEK or DEK", body = ErrorBody),
        (status = 410, description = "41070 (Accord) the subject's stream was crypto-shredded", body = ErrorBody)))]
pub async fn get_dek(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject)): PathParams<(String, String)>,
) -> Result<Vnd<DekInfo>, ApiError> {
    Ok(Vnd(dek::get_dek(
        &state.registry.store,
        &state.keys,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        VersionSel::Exact(1),
        params.flag("deleted"),
    )
    .await?))
}

/// The versions of a DEK.
#[utoipa::path(get, path = "/dek-registry/v1/keks/{kek}/deks/{subject}/versions", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("limit" = Option<i64>, Query, description = "At most this many")),
    responses((status = 200, body = [i64]),
        (status = 404, description = "40470 no such KEK or DEK", body = ErrorBody)))]
pub async fn dek_versions(
    state: State,
    params: Params,
    PathParams((kek, subject)): PathParams<(String, String)>,
) -> Result<Vnd<Vec<i64>>, ApiError> {
    let v = dek::dek_versions(
        &state.registry.store,
        &kek,
        &subject,
        algorithm(&params)?,
        params.flag("deleted"),
    )
    .await?;
    Ok(Vnd(params.page(v, None, None)?))
}

/// One version of a DEK (`latest` or `-1`: the highest).
#[utoipa::path(get, path = "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("version" = String, Path, description = "1..2^31-1, latest or -1"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV"),
        ("deleted" = Option<bool>, Query, description = "Also a soft-deleted version")),
    responses((status = 200, body = DekInfo),
        (status = 403, description = "40301 not allowed to obtain the key material", body = ErrorBody),
        (status = 404, description = "40470 no such KEK or DEK", body = ErrorBody),
        (status = 410, description = "41070 (Accord) the subject's stream was crypto-shredded", body = ErrorBody),
        (status = 422, description = "42202 invalid version", body = ErrorBody)))]
pub async fn get_dek_version(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject, version)): PathParams<(String, String, String)>,
) -> Result<Vnd<DekInfo>, ApiError> {
    Ok(Vnd(dek::get_dek(
        &state.registry.store,
        &state.keys,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        VersionSel::parse(&version)?,
        params.flag("deleted"),
    )
    .await?))
}

/// Delete every version of a DEK: soft, or `permanent=true` after a soft delete. 204.
#[utoipa::path(delete, path = "/dek-registry/v1/keks/{kek}/deks/{subject}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV"),
        ("permanent" = Option<bool>, Query, description = "Delete for good (after a soft delete)")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "40470 no such DEK, 40471 not soft-deleted first", body = ErrorBody)))]
pub async fn delete_dek(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    dek::delete_dek(
        &state.registry.store,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        None,
        params.flag("permanent"),
    )
    .await?;
    Ok(no_content())
}

/// Delete one version of a DEK: soft, or `permanent=true` after a soft delete. 204.
#[utoipa::path(delete, path = "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("version" = String, Path, description = "1..2^31-1, latest or -1"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV"),
        ("permanent" = Option<bool>, Query, description = "Delete for good (after a soft delete)")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "40470 no such DEK, 40471 not soft-deleted first", body = ErrorBody),
        (status = 422, description = "42202 invalid version", body = ErrorBody)))]
pub async fn delete_dek_version(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject, version)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    dek::delete_dek(
        &state.registry.store,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        Some(VersionSel::parse(&version)?),
        params.flag("permanent"),
    )
    .await?;
    Ok(no_content())
}

/// Undelete every version of a DEK. 204.
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/deks/{subject}/undelete", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV")),
    responses((status = 204, description = "Undeleted"),
        (status = 404, description = "40470 no such DEK, 40472 undelete the KEK first", body = ErrorBody)))]
pub async fn undelete_dek(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    dek::undelete_dek(
        &state.registry.store,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        None,
    )
    .await?;
    Ok(no_content())
}

/// Undelete one version of a DEK. 204.
#[utoipa::path(post, path = "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}/undelete", tag = "dek-registry",
    params(("kek" = String, Path, description = "KEK name"),
        ("subject" = String, Path, description = "Subject"),
        ("version" = String, Path, description = "1..2^31-1, latest or -1"),
        ("algorithm" = Option<String>, Query, description = "AES128_GCM, AES256_GCM (default), AES256_SIV")),
    responses((status = 204, description = "Undeleted"),
        (status = 404, description = "40470 no such DEK, 40472 undelete the KEK first", body = ErrorBody),
        (status = 422, description = "42202 invalid version", body = ErrorBody)))]
pub async fn undelete_dek_version(
    state: State,
    actor: Actor,
    params: Params,
    PathParams((kek, subject, version)): PathParams<(String, String, String)>,
) -> Result<Response, ApiError> {
    dek::undelete_dek(
        &state.registry.store,
        &actor,
        &kek,
        &subject,
        algorithm(&params)?,
        Some(VersionSel::parse(&version)?),
    )
    .await?;
    Ok(no_content())
}
