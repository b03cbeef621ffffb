//! `/schemas`: schemas by global id and by GUID, the list of schemas, and the supported
//! types. Also the Schema entity every schema-returning endpoint uses.
//!
//! Read restriction: an id is readable by a principal who may read at least one subject
//! holding it (`Registry::check_id_read`); otherwise 403 (40301) naming the streams (an
//! id says nothing about a schema's content). A GUID is a digest of the content, so an
//! unreadable one answers 404 like an unknown one (a 403 would confirm a guessed
//! schema). Listings leave out what the caller may not read.

use super::{Params, PathParams, RawSchema, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::storage::{q, SchemaRecord, SchemaReference, VersionRecord};
use accord_compat::SchemaFormat;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// Confluent's Schema entity (and, without `id`, its SchemaString). Empty and absent
/// fields are omitted, as Jackson's NON_EMPTY does.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub guid: String,
    pub schema_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rule_set: Option<serde_json::Value>,
    pub schema: String,
    pub ts: i64,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_id: Option<i64>,
}

impl SchemaBody {
    /// The body for a schema as a subject version.
    pub fn for_version(v: &VersionRecord, s: &SchemaRecord, text: String) -> SchemaBody {
        SchemaBody {
            subject: Some(v.subject.clone()),
            version: Some(v.version),
            id: Some(crate::context::public_id(s.id)),
            ts: v.ts,
            deleted: v.deleted,
            ..SchemaBody::for_schema(s, text)
        }
    }

    /// The body for a schema by id (SchemaString: no subject, version or id).
    pub fn for_schema(s: &SchemaRecord, text: String) -> SchemaBody {
        SchemaBody {
            subject: None,
            version: None,
            id: None,
            guid: s.guid.clone(),
            schema_type: s.format.as_str().to_string(),
            references: s.references.clone(),
            metadata: s.metadata.clone(),
            rule_set: s.rule_set.clone(),
            schema: text,
            ts: s.created_ms,
            deleted: false,
            max_id: None,
        }
    }
}

/// The schema text in the requested `format`: Protobuf `serialized` (base64
/// FileDescriptorProto), Avro `resolved` (references inlined); anything else, or a
/// format of another schema type, is the stored text (Confluent ignores unknown ones).
/// A resolved text inlines the referenced schemas, so `actor` must read every subject
/// it reaches (403 otherwise).
/// The `format` parameter as a cached body's key: 0 the text as stored, 1
/// `serialized`, [`RESOLVED`] `resolved` (the one body that depends on the caller).
pub fn body_format(params: &Params) -> u8 {
    match params
        .get("format")
        .map(|f| f.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("serialized") => 1,
        Some("resolved") => RESOLVED,
        _ => 0,
    }
}

/// [`body_format`] of a resolved body.
pub const RESOLVED: u8 = 2;

pub async fn render(
    state: &super::AppState,
    actor: &Actor,
    s: &SchemaRecord,
    format: Option<&str>,
) -> Result<String, ApiError> {
    let format = format.map(|f| f.trim().to_ascii_lowercase());
    let wanted = matches!(
        (s.format, format.as_deref()),
        (SchemaFormat::Protobuf, Some("serialized")) | (SchemaFormat::Avro, Some("resolved"))
    );
    if !wanted {
        return Ok(s.schema.clone());
    }
    if s.format == SchemaFormat::Avro {
        state
            .registry
            .check_references_read(actor, &s.references)
            .await?;
    }
    let parsed = state.registry.parsed(s).await?;
    Ok(match parsed.as_ref() {
        accord_compat::ParsedSchema::Protobuf(p) => p.serialized(),
        accord_compat::ParsedSchema::Avro(a) => a.resolved(),
        accord_compat::ParsedSchema::Json(_) => s.schema.clone(),
    })
}

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(types))
        .route(BY_ID, get(by_id))
        .route("/schemas/ids/{id}/schema", get(raw_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route("/schemas/guids/{guid}", get(by_guid))
        .route("/schemas/guids/{guid}/ids", get(ids_of_guid))
}

/// The route of [`by_id`], also the metrics label of its answers from `super::hot`.
pub(super) const BY_ID: &str = "/schemas/ids/{id}";

/// An `{id}` path segment: Confluent declares it an `Integer`, so text that is not an
/// int32 fails Jersey's conversion (404 with code 404, as an unknown route), and an id
/// of 0 or less is simply not found (40403).
pub(super) fn parse_id(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id as i64),
        Ok(id) => Err(ApiError::SchemaNotFound(id.to_string())),
        Err(_) => Err(ApiError::RouteNotFound),
    }
}

/// The subject filter `?subject=` of the id endpoints (default context qualifier
/// dropped); a bare context (`:.ctx:`, what a context-scoped URL adds) filters nothing.
fn subject_filter(params: &Params) -> Option<String> {
    params
        .get("subject")
        .filter(|s| !crate::context::split(s).1.is_empty())
        .map(|s| crate::registry::unqualify(s).to_string())
}

/// The stored id a request's `{id}` names, and the subject holding it that the
/// request's `?subject=` names, as Confluent finds them: ids are per context, so the
/// id is looked up in the subject's context (the default one without a subject); a
/// named subject must hold it; an unqualified subject that does not is tried in each
/// other context in turn. Not found is 40403.
async fn resolve_id(
    state: &super::AppState,
    raw: &str,
    params: &Params,
) -> Result<(i64, Option<String>), ApiError> {
    let id = parse_id(raw)?;
    let subject = params.get("subject").unwrap_or("");
    let (ctx, name) = crate::context::split(subject);
    let reader = state.registry.store.reader();
    let holds = |stored: i64, subject: Option<String>| async move {
        if q::live_schema(reader, stored).await?.is_none() {
            return Ok::<_, ApiError>(None);
        }
        match subject {
            None => Ok(Some((stored, None))),
            Some(s) => Ok(q::versions_of_schema(reader, stored, true)
                .await?
                .iter()
                .any(|v| v.subject == s)
                .then_some((stored, Some(s)))),
        }
    };
    let named = (!name.is_empty()).then(|| crate::registry::unqualify(subject).to_string());
    if ctx != "*" {
        if let Some(no) = crate::context::number(reader, ctx).await? {
            if let Some(found) = holds(crate::context::stored_id(no, id), named.clone()).await? {
                return Ok(found);
            }
        }
    }
    if !name.is_empty() && (!subject.starts_with(':') || ctx == "*") {
        for (i, other) in crate::context::all(reader).await?.iter().enumerate() {
            if i == 0 && ctx != "*" {
                continue;
            }
            let Some(no) = crate::context::number(reader, other).await? else {
                continue;
            };
            let qualified = crate::context::qualify(other, name);
            if let Some(found) = holds(crate::context::stored_id(no, id), Some(qualified)).await? {
                return Ok(found);
            }
        }
    }
    Err(ApiError::SchemaNotFound(id.to_string()))
}

/// Get a schema by its global id.
#[utoipa::path(get, path = "/schemas/ids/{id}", tag = "schemas",
    params(("id" = i64, Path, description = "Global schema id"),
        ("subject" = Option<String>, Query, description = "Include subject and version of this subject"),
        ("format" = Option<String>, Query, description = "serialized (Protobuf) or resolved (Avro)"),
        ("fetchMaxId" = Option<bool>, Query, description = "Add the highest id in use")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 only subjects of streams that restrict reads hold it", body = ErrorBody), (status = 404, description = "40403 schema not found", body = ErrorBody)))]
pub async fn by_id(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let (id, holder) = match params.get("subject") {
        // What deserializers ask for: an id of the default context.
        None => (parse_id(&id)?, None),
        Some(_) => resolve_id(&state, &id, &params).await?,
    };
    // Before any cached body: one cache lookup unless a restricted stream holds it.
    check_id_read(&state, &actor, id).await?;
    // What deserializers ask for (no subject, no maxId) is served from serialised bytes.
    let cacheable = holder.is_none() && !params.flag("fetchMaxId");
    let format_key = body_format(&params);
    // A resolved body inlines references: checked per caller, whatever is cached.
    let shared = format_key != RESOLVED || crate::governance::reads_everything(&actor);
    if cacheable && shared {
        if let Some(bytes) = state.registry.cache.body(id, format_key) {
            state.usage.read_id(&actor, id);
            return Ok(super::json_bytes(bytes));
        }
    }
    let s = match cacheable && shared {
        true => state.registry.schema_by_id_for_body(id).await?,
        false => state.registry.schema_by_id(id).await?,
    };
    let text = render(&state, &actor, &s, params.get("format")).await?;
    let mut body = SchemaBody::for_schema(&s, text);
    if let Some(subject) = holder {
        // A subject the caller may not read is answered as one that does not hold it.
        let readable =
            crate::governance::check_subject_read(&state.registry.store, &actor, &subject)
                .await
                .is_ok();
        let versions = q::versions_of_schema(state.registry.store.reader(), id, true).await?;
        if let Some(v) = versions
            .iter()
            .rev()
            .find(|v| readable && v.subject == subject)
        {
            body.subject = Some(v.subject.clone());
            body.version = Some(v.version);
        } else {
            return Err(ApiError::SchemaNotFound(id.to_string()));
        }
    }
    if params.flag("fetchMaxId") {
        let context = crate::context::context_no_of(id);
        let max = q::max_schema_id(state.registry.store.reader(), context).await?;
        body.max_id = Some(crate::context::public_id(max));
    }
    state.usage.read_id(&actor, id);
    if cacheable {
        let bytes = bytes::Bytes::from(serde_json::to_vec(&body).map_err(ApiError::internal)?);
        state.registry.cache.put_body(id, format_key, bytes.clone());
        return Ok(super::json_bytes(bytes));
    }
    Ok(Vnd(body).into_response())
}

/// [`crate::registry::Registry::check_id_read`], a refusal counted as an attempt (see
/// [`crate::usage`]).
async fn check_id_read(state: &super::AppState, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let checked = state.registry.check_id_read(actor, id).await;
    if let Err(ApiError::Forbidden(_)) = &checked {
        state.usage.refused_id(actor, id);
    }
    checked
}

/// Get only the text of a schema by id.
#[utoipa::path(get, path = "/schemas/ids/{id}/schema", tag = "schemas",
    params(("id" = i64, Path, description = "Global schema id")),
    responses((status = 200, description = "The raw schema text", body = String), (status = 403, description = "40301 only subjects of streams that restrict reads hold it", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn raw_by_id(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<RawSchema, ApiError> {
    let (id, _) = resolve_id(&state, &id, &params).await?;
    check_id_read(&state, &actor, id).await?;
    let s = state.registry.schema_by_id(id).await?;
    let text = render(&state, &actor, &s, params.get("format")).await?;
    state.usage.read_id(&actor, id);
    Ok(RawSchema(text))
}

/// Subjects that use a schema.
#[utoipa::path(get, path = "/schemas/ids/{id}/subjects", tag = "schemas",
    params(("id" = i64, Path, description = "Global schema id"), ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions")),
    responses((status = 200, body = [String]), (status = 403, description = "40301 only subjects of streams that restrict reads hold it", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn subjects_of_id(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Vnd<Vec<String>>, ApiError> {
    let (id, _) = resolve_id(&state, &id, &params).await?;
    state.registry.check_id_read(&actor, id).await?;
    state.registry.schema_by_id(id).await?;
    let filter = subject_filter(&params);
    let hidden = crate::governance::unreadable_subjects(&state.registry.store, &actor).await?;
    let mut subjects: Vec<String> =
        q::versions_of_schema(state.registry.store.reader(), id, params.flag("deleted"))
            .await?
            .into_iter()
            .map(|v| v.subject)
            .filter(|s| filter.as_ref().is_none_or(|f| f == s))
            .filter(|s| hidden.as_ref().is_none_or(|h| !h.contains(s)))
            .collect();
    subjects.dedup();
    Ok(Vnd(params.page(subjects, None, None)?))
}

/// A subject and version.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i64,
}

/// Subject versions that use a schema.
#[utoipa::path(get, path = "/schemas/ids/{id}/versions", tag = "schemas",
    params(("id" = i64, Path, description = "Global schema id"), ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions")),
    responses((status = 200, body = [SubjectVersion]), (status = 403, description = "40301 only subjects of streams that restrict reads hold it", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions_of_id(
    state: State,
    actor: Actor,
    PathParams(id): PathParams<String>,
    params: Params,
) -> Result<Vnd<Vec<SubjectVersion>>, ApiError> {
    let (id, _) = resolve_id(&state, &id, &params).await?;
    state.registry.check_id_read(&actor, id).await?;
    state.registry.schema_by_id(id).await?;
    let filter = subject_filter(&params);
    let hidden = crate::governance::unreadable_subjects(&state.registry.store, &actor).await?;
    let list = q::versions_of_schema(state.registry.store.reader(), id, params.flag("deleted"))
        .await?
        .into_iter()
        .filter(|v| filter.as_ref().is_none_or(|f| *f == v.subject))
        .filter(|v| hidden.as_ref().is_none_or(|h| !h.contains(&v.subject)))
        .map(|v| SubjectVersion {
            subject: v.subject,
            version: v.version,
        })
        .collect();
    Ok(Vnd(params.page(list, None, None)?))
}

/// Get a schema by its GUID.
#[utoipa::path(get, path = "/schemas/guids/{guid}", tag = "schemas",
    params(("guid" = String, Path, description = "Schema GUID")),
    responses((status = 200, body = SchemaBody), (status = 404, body = ErrorBody)))]
pub async fn by_guid(
    state: State,
    actor: Actor,
    PathParams(guid): PathParams<String>,
    params: Params,
) -> Result<Vnd<SchemaBody>, ApiError> {
    let guid = guid.trim().to_ascii_lowercase();
    let id = readable_ids(&state, &actor, &guid)
        .await?
        .first()
        .copied()
        .ok_or_else(|| ApiError::SchemaNotFound(guid.clone()))?;
    let s = state.registry.schema_by_id(id).await?;
    let text = render(&state, &actor, &s, params.get("format")).await?;
    state.usage.read_id(&actor, id);
    Ok(Vnd(SchemaBody::for_schema(&s, text)))
}

/// A context and an id in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextId {
    pub context: String,
    pub id: i64,
}

/// The ids a GUID has (one per context; more after IMPORT).
#[utoipa::path(get, path = "/schemas/guids/{guid}/ids", tag = "schemas",
    params(("guid" = String, Path, description = "Schema GUID")),
    responses((status = 200, body = [ContextId])))]
pub async fn ids_of_guid(
    state: State,
    actor: Actor,
    PathParams(guid): PathParams<String>,
) -> Result<Vnd<Vec<ContextId>>, ApiError> {
    let ids = readable_ids(&state, &actor, &guid.trim().to_ascii_lowercase()).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let no = crate::context::context_no_of(id);
        out.push(ContextId {
            context: crate::context::name(state.registry.store.reader(), no).await?,
            id: crate::context::public_id(id),
        });
    }
    Ok(Vnd(out))
}

/// The ids of `guid` that `actor` may read (an unreadable one is as good as absent:
/// the GUID is a digest of the content, so refusing would confirm a guess).
async fn readable_ids(
    state: &super::AppState,
    actor: &Actor,
    guid: &str,
) -> Result<Vec<i64>, ApiError> {
    let ids = q::ids_by_guid(state.registry.store.reader(), guid).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match state.registry.check_id_read(actor, id).await {
            Ok(()) => out.push(id),
            Err(ApiError::Forbidden(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The schema types this registry supports.
#[utoipa::path(get, path = "/schemas/types", tag = "schemas", responses((status = 200, body = [String])))]
pub async fn types() -> Vnd<Vec<&'static str>> {
    Vnd(SchemaFormat::ALL.iter().map(|f| f.as_str()).collect())
}

/// List schemas (each as a subject version).
#[utoipa::path(get, path = "/schemas", tag = "schemas",
    params(("subjectPrefix" = Option<String>, Query, description = "Only subjects with this prefix"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions"),
        ("latestOnly" = Option<bool>, Query, description = "Only each subject's latest version"),
        ("ruleType" = Option<String>, Query, description = "Only schemas with a rule of this type"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
        ("limit" = Option<i64>, Query, description = "At most this many (default 1000)")),
    responses((status = 200, body = [SchemaBody])))]
pub async fn list_schemas(
    state: State,
    actor: Actor,
    params: Params,
) -> Result<Vnd<Vec<SchemaBody>>, ApiError> {
    // Confluent's default prefix here is "": the default context's subjects; `:*:`
    // selects every context and `:.ctx:` one (see `crate::context::prefix_matches`).
    let prefix = params.get("subjectPrefix").unwrap_or("");
    // Subjects of restricted streams the caller may not read are left out.
    let hidden = crate::governance::unreadable_subjects(&state.registry.store, &actor).await?;
    let mut versions: Vec<VersionRecord> =
        q::all_versions(state.registry.store.reader(), params.flag("deleted"))
            .await?
            .into_iter()
            .filter(|v| crate::context::prefix_matches(prefix, &v.subject))
            .filter(|v| hidden.as_ref().is_none_or(|h| !h.contains(&v.subject)))
            .collect();
    if params.flag("latestOnly") {
        let mut latest: Vec<VersionRecord> = Vec::new();
        for v in versions {
            match latest.last_mut() {
                Some(last) if last.subject == v.subject => *last = v,
                _ => latest.push(v),
            }
        }
        versions = latest;
    }
    // `ruleType` keeps schemas with a rule of that type; it filters before paging.
    // Without it the page is cut first, so only its schemas are looked up.
    let rule_type = params.get("ruleType").filter(|t| !t.is_empty());
    if rule_type.is_none() {
        versions = params.page(versions, Some(1000), Some(1000))?;
    }
    let schemas = state.registry.schemas_of_listed(&versions).await?;
    let mut out = Vec::with_capacity(versions.len());
    for v in &versions {
        let s = schemas
            .get(&v.schema_id)
            .ok_or_else(|| ApiError::SchemaNotFound(v.schema_id.to_string()))?;
        if rule_type.is_some_and(|t| !has_rule_type(s.rule_set.as_ref(), t)) {
            continue;
        }
        out.push(SchemaBody::for_version(v, s, s.schema.clone()));
    }
    if rule_type.is_some() {
        out = params.page(out, Some(1000), Some(1000))?;
    }
    Ok(Vnd(out))
}

fn has_rule_type(rule_set: Option<&serde_json::Value>, rule_type: &str) -> bool {
    let Some(rs) = rule_set else { return false };
    ["migrationRules", "domainRules", "encodingRules"]
        .iter()
        .any(|list| {
            rs.get(list)
                .and_then(|l| l.as_array())
                .is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| r.get("type").and_then(|t| t.as_str()) == Some(rule_type))
                })
        })
}
