//! `/compatibility`: test a schema against a subject's versions without registering it.

use super::subjects::RegisterSchemaRequest;
use super::{JBody, Params, PathParams, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::registry::{parse_version, unqualify, VersionSel};
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct CompatibilityCheckResponse {
    pub is_compatible: bool,
    /// Present (possibly empty) whenever `verbose=true`: Confluent's strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
    /// Accord's additions (Confluent clients ignore them): with `verbose=true`, the
    /// findings with their kind, path, version and direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub incompatibilities: Option<Vec<accord_compat::Incompatibility>>,
    /// What Accord's stricter checks say about the new schema (a schema Confluent
    /// accepts is never refused for them unless the subject opts in).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<accord_compat::Warning>,
}

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_version),
        )
}

async fn run(
    state: State,
    actor: &Actor,
    subject: &str,
    sel: Option<VersionSel>,
    params: Params,
    req: RegisterSchemaRequest,
) -> Result<Vnd<CompatibilityCheckResponse>, ApiError> {
    // Verbose answers quote the stored schemas: a restricted stream's are not for all.
    crate::governance::check_subject_read(&state.registry.store, actor, unqualify(subject)).await?;
    // So do the referenced schemas a test parses (and may quote).
    super::subjects::check_references(&state, actor, req.references.as_ref()).await?;
    let verbose = params.flag("verbose");
    let outcome = state
        .registry
        .test_compatibility(
            unqualify(subject),
            sel,
            &req.into(),
            params.flag("normalize"),
            verbose,
        )
        .await?;
    Ok(Vnd(CompatibilityCheckResponse {
        is_compatible: outcome.compatible,
        messages: verbose.then_some(outcome.messages),
        incompatibilities: verbose
            .then_some(outcome.incompatibilities)
            .filter(|i| !i.is_empty()),
        warnings: outcome.warnings,
    }))
}

/// Test against the versions the subject's level compares with.
#[utoipa::path(post, path = "/compatibility/subjects/{subject}/versions", tag = "compatibility", request_body = RegisterSchemaRequest,
    params(("subject" = String, Path, description = "Subject name"), ("verbose" = Option<bool>, Query, description = "Explain incompatibilities"),
        ("normalize" = Option<bool>, Query, description = "Normalize first")),
    responses((status = 200, body = CompatibilityCheckResponse), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 422, description = "42201 invalid schema (unless verbose)", body = ErrorBody)))]
pub async fn check_all(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
    JBody(req): JBody<RegisterSchemaRequest>,
) -> Result<Vnd<CompatibilityCheckResponse>, ApiError> {
    run(state, &actor, &subject, None, params, req).await
}

/// Test against one version (`latest` on an unknown subject is compatible).
#[utoipa::path(post, path = "/compatibility/subjects/{subject}/versions/{version}", tag = "compatibility", request_body = RegisterSchemaRequest,
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1"),
        ("verbose" = Option<bool>, Query, description = "Explain incompatibilities"), ("normalize" = Option<bool>, Query, description = "Normalize first")),
    responses((status = 200, body = CompatibilityCheckResponse), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, description = "40402 version not found", body = ErrorBody),
        (status = 422, description = "42201 invalid schema, 42202 invalid version", body = ErrorBody)))]
pub async fn check_version(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
    JBody(req): JBody<RegisterSchemaRequest>,
) -> Result<Vnd<CompatibilityCheckResponse>, ApiError> {
    let sel = parse_version(&version)?;
    run(state, &actor, &subject, Some(sel), params, req).await
}
