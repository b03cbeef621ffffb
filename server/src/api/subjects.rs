//! `/subjects`: subjects, their versions, registering, looking up and deleting.

use super::schemas::{body_format, render, SchemaBody, RESOLVED};
use super::{Body, JBody, Params, PathParams, RawSchema, Shaped, State, Vnd};
use crate::auth::Actor;
use crate::error::{ApiError, ErrorBody};
use crate::registry::{
    parse_version, unqualify, ReferenceInput, SchemaInput, TagsInput, VersionSel,
};
use crate::storage::q;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// The body of register, lookup and compatibility requests. Unknown keys are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterSchemaRequest {
    /// The schema text (for Protobuf also base64 of a FileDescriptorProto).
    pub schema: Option<String>,
    /// AVRO (default), PROTOBUF or JSON.
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<ReferenceInput>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub rule_set: Option<serde_json::Value>,
    /// IMPORT mode: the version to register as.
    pub version: Option<i64>,
    /// IMPORT mode: the id to register with.
    pub id: Option<i64>,
}

impl Shaped for RegisterSchemaRequest {
    const SHAPE: super::jackson::Shape = super::jackson::REGISTER_SCHEMA;
}

impl From<RegisterSchemaRequest> for SchemaInput {
    fn from(r: RegisterSchemaRequest) -> Self {
        SchemaInput {
            schema: r.schema,
            schema_type: r.schema_type,
            references: r.references.unwrap_or_default(),
            metadata: r.metadata,
            rule_set: r.rule_set,
            version: r.version,
            id: r.id,
        }
    }
}

/// The route of [`get_version`], also the metrics label of its answers from
/// `super::hot`.
pub(super) const VERSION: &str = "/subjects/{subject}/versions/{version}";

pub fn router() -> Router<Arc<super::AppState>> {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/metadata", get(by_metadata))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(VERSION, get(get_version).delete(delete_version))
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(raw_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/subjects/{subject}/versions/{version}/tags",
            post(modify_tags),
        )
}

/// List subjects.
#[utoipa::path(get, path = "/subjects", tag = "subjects",
    params(("subjectPrefix" = Option<String>, Query, description = "Only subjects with this prefix"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted subjects"),
        ("deletedOnly" = Option<bool>, Query, description = "Only soft-deleted subjects"),
        ("offset" = Option<i64>, Query, description = "Skip this many"), ("limit" = Option<i64>, Query, description = "At most this many")),
    responses((status = 200, body = [String])))]
pub async fn list_subjects(
    state: State,
    actor: Actor,
    params: Params,
) -> Result<Vnd<Vec<String>>, ApiError> {
    // Confluent's default prefix is `:*:`, every context; `:.ctx:` selects one context
    // and an unqualified prefix the default one (`crate::context::prefix_matches`).
    let prefix = params
        .get("subjectPrefix")
        .unwrap_or(crate::context::WILDCARD);
    // Subjects of restricted streams the caller may not read are left out.
    let hidden = crate::governance::unreadable_subjects(&state.registry.store, &actor).await?;
    let subjects: Vec<String> = q::subjects(
        state.registry.store.reader(),
        params.flag("deleted"),
        params.flag("deletedOnly"),
    )
    .await?
    .into_iter()
    .filter(|s| crate::context::prefix_matches(prefix, s))
    .filter(|s| hidden.as_ref().is_none_or(|h| !h.contains(s)))
    .collect();
    Ok(Vnd(params.page(subjects, None, None)?))
}

/// Refuses (403) a request whose references name a subject `actor` may not read:
/// registering, looking up or testing against a restricted stream's schema needs read
/// access to it, which also keeps other teams from pinning its versions (42206).
pub(crate) async fn check_references(
    state: &super::AppState,
    actor: &Actor,
    references: Option<&Vec<ReferenceInput>>,
) -> Result<(), ApiError> {
    for r in references.into_iter().flatten() {
        if let Some(subject) = r.subject.as_deref() {
            crate::governance::check_subject_read(&state.registry.store, actor, subject).await?;
        }
    }
    Ok(())
}

/// Find the version of a subject that holds a schema.
#[utoipa::path(post, path = "/subjects/{subject}", tag = "subjects", request_body = RegisterSchemaRequest,
    params(("subject" = String, Path, description = "Subject name"),
        ("normalize" = Option<bool>, Query, description = "Normalize before looking up"),
        ("deleted" = Option<bool>, Query, description = "Also find soft-deleted versions")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, description = "40401 subject or 40403 schema not found", body = ErrorBody),
        (status = 422, description = "42201 invalid schema", body = ErrorBody)))]
pub async fn lookup(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
    JBody(req): JBody<RegisterSchemaRequest>,
) -> Result<Vnd<SchemaBody>, ApiError> {
    let subject = unqualify(&subject);
    check_subject_read(&state, &actor, subject).await?;
    check_references(&state, &actor, req.references.as_ref()).await?;
    let input: SchemaInput = req.into();
    let (v, s) = state
        .registry
        .lookup(
            subject,
            &input,
            params.flag("normalize"),
            params.flag("deleted"),
            &actor,
        )
        .await?;
    let text = render(&state, &actor, &s, params.get("format")).await?;
    state
        .usage
        .read_version(&actor, &v.subject, v.version, v.schema_id);
    Ok(Vnd(SchemaBody::for_version(&v, &s, text)))
}

/// Delete a subject (soft, or permanently after a soft delete).
#[utoipa::path(delete, path = "/subjects/{subject}", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"), ("permanent" = Option<bool>, Query, description = "Hard delete"),
        ("force" = Option<bool>, Query, description = "Soft delete even when read in the last --usage-protect-days")),
    responses((status = 200, description = "The versions deleted", body = [i64]), (status = 404, body = ErrorBody), (status = 409, description = "40940 read recently (names the readers): force=true deletes it", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_subject(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Vnd<Vec<i64>>, ApiError> {
    let subject = unqualify(&subject);
    let permanent = params.flag("permanent");
    if !permanent && !params.flag("force") {
        guard_delete(&state, &actor, subject, None).await?;
    }
    Ok(Vnd(state
        .registry
        .delete_subject(subject, permanent, actor.name())
        .await?))
}

/// The deletion guard (issue 18): a soft delete of what was read in the last
/// `--usage-protect-days` (by others than the deleter) is refused (409, 40940, naming
/// the readers) unless `force=true`. The stream-owner rule comes first, so that only
/// who may delete learns who reads. `version`: `None` for the whole subject.
async fn guard_delete(
    state: &super::AppState,
    actor: &Actor,
    subject: &str,
    version: Option<VersionSel>,
) -> Result<(), ApiError> {
    let usage = &state.usage;
    if usage.config().protect_days == 0 {
        return Ok(());
    }
    let store = &state.registry.store;
    {
        let mut conn = store.reader().acquire().await?;
        crate::governance::check_subject_owner(&mut conn, actor.name(), subject).await?;
    }
    let number = match version {
        None => None,
        Some(VersionSel::Number(n)) => Some(n),
        Some(VersionSel::Latest) => {
            match q::latest_version(store.reader(), subject, false).await? {
                Some(v) => Some(v.version),
                // Nothing live: the delete answers for itself.
                None => return Ok(()),
            }
        }
    };
    let except = match actor {
        Actor::Principal(p) => Some(p.id),
        Actor::Anonymous => None,
    };
    let readers = usage.recent_readers(store, subject, number, except).await?;
    if readers.is_empty() {
        return Ok(());
    }
    Err(ApiError::InUse {
        what: match number {
            Some(n) => format!("Version {n} of subject '{subject}'"),
            None => format!("Subject '{subject}'"),
        },
        readers,
        days: usage.config().protect_days,
    })
}

/// The latest version whose metadata properties contain every `key`=`value` pair.
#[utoipa::path(get, path = "/subjects/{subject}/metadata", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"),
        ("key" = Option<Vec<String>>, Query, description = "Property names"), ("value" = Option<Vec<String>>, Query, description = "Property values, paired with key by position"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn by_metadata(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Vnd<SchemaBody>, ApiError> {
    let subject = unqualify(&subject);
    crate::governance::check_subject_read(&state.registry.store, &actor, subject).await?;
    let keys = params.all("key");
    let values = params.all("value");
    let versions = q::versions(
        state.registry.store.reader(),
        subject,
        params.flag("deleted"),
    )
    .await?;
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject.to_string()));
    }
    for v in versions.iter().rev() {
        let s = state.registry.schema_of(v).await?;
        let props = s.metadata.as_ref().and_then(|m| m.get("properties"));
        let all_match = keys.iter().enumerate().all(|(i, k)| {
            let want = values.get(i).copied();
            props.and_then(|p| p.get(*k)).and_then(|x| x.as_str()) == want
        });
        if all_match {
            let text = render(&state, &actor, &s, params.get("format")).await?;
            return Ok(Vnd(SchemaBody::for_version(v, &s, text)));
        }
    }
    Err(ApiError::SchemaNotFoundUnderSubject)
}

/// List a subject's versions.
#[utoipa::path(get, path = "/subjects/{subject}/versions", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions"),
        ("deletedOnly" = Option<bool>, Query, description = "Only soft-deleted versions"),
        ("deletedAsNegative" = Option<bool>, Query, description = "Soft-deleted versions as -n")),
    responses((status = 200, body = [i64]), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
) -> Result<Vnd<Vec<i64>>, ApiError> {
    let subject = unqualify(&subject);
    crate::governance::check_subject_read(&state.registry.store, &actor, subject).await?;
    let deleted_only = params.flag("deletedOnly");
    let negative = params.flag("deletedAsNegative");
    let include_deleted = params.flag("deleted") || deleted_only || negative;
    let versions = state
        .registry
        .versions_for_read(subject, include_deleted, &actor)
        .await?;
    if versions.is_empty() {
        return Err(ApiError::SubjectNotFound(subject.to_string()));
    }
    let list: Vec<i64> = versions
        .iter()
        .filter(|v| !deleted_only || v.deleted)
        .map(|v| {
            if negative && v.deleted {
                -v.version
            } else {
                v.version
            }
        })
        .collect();
    Ok(Vnd(params.page(list, None, None)?))
}

/// The register response: the id plus the stored schema (Confluent 7.5+ shape).
pub type RegisterResponse = SchemaBody;

/// Register a schema under a subject (or get the version it already is).
#[utoipa::path(post, path = "/subjects/{subject}/versions", tag = "subjects", request_body = RegisterSchemaRequest,
    params(("subject" = String, Path, description = "Subject name"),
        ("normalize" = Option<bool>, Query, description = "Normalize before registering"),
        ("force" = Option<bool>, Query, description = "Skip the compatibility check")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 not the owning team of the subject's stream, or a reference to a subject the caller may not read", body = ErrorBody), (status = 409, description = "40901 incompatible", body = ErrorBody),
        (status = 422, description = "42201 invalid schema, 42205 not permitted, 42208 invalid subject, 42210 invalid ruleSet", body = ErrorBody)))]
pub async fn register(
    state: State,
    actor: Actor,
    PathParams(subject): PathParams<String>,
    params: Params,
    JBody(req): JBody<RegisterSchemaRequest>,
) -> Result<Vnd<RegisterResponse>, ApiError> {
    let subject = unqualify(&subject);
    check_references(&state, &actor, req.references.as_ref()).await?;
    let (v, s) = state
        .registry
        .register(
            subject,
            req.into(),
            params.flag("normalize"),
            params.flag("force"),
            actor.name(),
        )
        .await?;
    state
        .usage
        .wrote(&actor, &v.subject, v.version, v.schema_id);
    let text = render(&state, &actor, &s, params.get("format")).await?;
    Ok(Vnd(SchemaBody::for_version(&v, &s, text)))
}

/// Get one version of a subject.
#[utoipa::path(get, path = "/subjects/{subject}/versions/{version}", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1"),
        ("deleted" = Option<bool>, Query, description = "Include soft-deleted versions"), ("format" = Option<String>, Query, description = "serialized (Protobuf) or resolved (Avro)")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, description = "42202 invalid version", body = ErrorBody)))]
pub async fn get_version(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
) -> Result<axum::response::Response, ApiError> {
    let subject = unqualify(&subject);
    check_subject_read(&state, &actor, subject).await?;
    let sel = parse_version(&version)?;
    let v = state
        .registry
        .get_version(subject, sel, params.flag("deleted"), &actor)
        .await?;
    state
        .usage
        .read_version(&actor, &v.subject, v.version, v.schema_id);
    // A live version's body is the same for every caller who may read the subject,
    // except a resolved one (it inlines references, read-checked per caller).
    let format_key = Some(body_format(&params)).filter(|f| *f != RESOLVED);
    if let Some(body) = format_key.and_then(|f| state.registry.cache.version_body(&v, f)) {
        return Ok(super::json_bytes(body));
    }
    let s = state.registry.schema_of(&v).await?;
    let text = render(&state, &actor, &s, params.get("format")).await?;
    let body = SchemaBody::for_version(&v, &s, text);
    match format_key {
        Some(f) if !v.deleted => {
            let bytes = bytes::Bytes::from(serde_json::to_vec(&body).map_err(ApiError::internal)?);
            state.registry.cache.put_version_body(&v, f, bytes.clone());
            Ok(super::json_bytes(bytes))
        }
        _ => Ok(Vnd(body).into_response()),
    }
}

/// Get only the schema text of a version.
#[utoipa::path(get, path = "/subjects/{subject}/versions/{version}/schema", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1")),
    responses((status = 200, description = "The raw schema text", body = String), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn raw_version(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
) -> Result<RawSchema, ApiError> {
    let subject = unqualify(&subject);
    check_subject_read(&state, &actor, subject).await?;
    let v = state
        .registry
        .get_version(
            subject,
            parse_version(&version)?,
            params.flag("deleted"),
            &actor,
        )
        .await?;
    let s = state.registry.schema_of(&v).await?;
    let text = render(&state, &actor, &s, params.get("format")).await?;
    state
        .usage
        .read_version(&actor, &v.subject, v.version, v.schema_id);
    Ok(RawSchema(text))
}

/// [`crate::governance::check_subject_read`], a refusal counted as an attempt (see
/// [`crate::usage`]).
async fn check_subject_read(
    state: &super::AppState,
    actor: &Actor,
    subject: &str,
) -> Result<(), ApiError> {
    let checked =
        crate::governance::check_subject_read(&state.registry.store, actor, subject).await;
    if let Err(ApiError::Forbidden(_)) = &checked {
        state.usage.refused_subject(actor, subject);
    }
    checked
}

/// Ids of the schemas that reference this version.
#[utoipa::path(get, path = "/subjects/{subject}/versions/{version}/referencedby", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1")),
    responses((status = 200, body = [i64]), (status = 403, description = "40301 the stream restricts reads (accord.access.read)", body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn referenced_by(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
) -> Result<Vnd<Vec<i64>>, ApiError> {
    let subject = unqualify(&subject);
    crate::governance::check_subject_read(&state.registry.store, &actor, subject).await?;
    let v = state
        .registry
        .get_version(
            subject,
            parse_version(&version)?,
            params.flag("deleted"),
            &actor,
        )
        .await?;
    let all = q::referrers(
        state.registry.store.reader(),
        &v.subject,
        v.version,
        params.flag("deleted"),
        None,
    )
    .await?;
    // Referrers the caller may not read are left out, not refused.
    let mut ids = Vec::with_capacity(all.len());
    for id in all {
        if state.registry.check_id_read(&actor, id).await.is_ok() {
            ids.push(crate::context::public_id(id));
        }
    }
    Ok(Vnd(params.page(ids, Some(1000), Some(1000))?))
}

/// Delete one version (soft, or permanently after a soft delete).
#[utoipa::path(delete, path = "/subjects/{subject}/versions/{version}", tag = "subjects",
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1"),
        ("permanent" = Option<bool>, Query, description = "Hard delete"),
        ("force" = Option<bool>, Query, description = "Soft delete even when read in the last --usage-protect-days")),
    responses((status = 200, description = "The version deleted", body = i64), (status = 404, body = ErrorBody), (status = 409, description = "40940 read recently (names the readers): force=true deletes it", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_version(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    params: Params,
) -> Result<Vnd<i64>, ApiError> {
    let subject = unqualify(&subject);
    let sel = parse_version(&version)?;
    let permanent = params.flag("permanent");
    if !permanent && !params.flag("force") {
        guard_delete(&state, &actor, subject, Some(sel)).await?;
    }
    Ok(Vnd(state
        .registry
        .delete_version(subject, sel, permanent, actor.name())
        .await?))
}

/// The entity a schema tag is attached to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaEntity {
    /// Record full name (`SR_RECORD`) or record full name + "." + field (`SR_FIELD`).
    pub entity_path: String,
    pub entity_type: String,
}

/// Tags for one entity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaTags {
    pub schema_entity: SchemaEntity,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The body of `POST /subjects/{s}/versions/{v}/tags`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagSchemaRequest {
    /// The version to create; must be the next one when given.
    pub new_version: Option<i64>,
    #[serde(default)]
    pub tags_to_add: Vec<SchemaTags>,
    #[serde(default)]
    pub tags_to_remove: Vec<SchemaTags>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub rule_set: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub rules_to_merge: Option<serde_json::Value>,
    #[serde(default)]
    pub rules_to_remove: Vec<String>,
}

fn tag_edits(list: Vec<SchemaTags>) -> Vec<accord_compat::avro::TagEdit> {
    list.into_iter()
        .map(|t| accord_compat::avro::TagEdit {
            entity_type: t.schema_entity.entity_type,
            entity_path: t.schema_entity.entity_path,
            tags: t.tags,
        })
        .collect()
}

/// Create a new version from version `v` with schema tags, metadata or rules changed.
#[utoipa::path(post, path = "/subjects/{subject}/versions/{version}/tags", tag = "subjects", request_body = TagSchemaRequest,
    params(("subject" = String, Path, description = "Subject name"), ("version" = String, Path, description = "A version number, latest or -1")),
    responses((status = 200, body = SchemaBody), (status = 403, description = "40301 the stream restricts reads, or the caller is not its owning team", body = ErrorBody), (status = 404, description = "40401, 40402", body = ErrorBody),
        (status = 409, description = "incompatible, or newVersion is not the next version", body = ErrorBody),
        (status = 422, description = "42201 unknown tag entity, 42210 ruleSet with rulesToMerge/rulesToRemove", body = ErrorBody)))]
pub async fn modify_tags(
    state: State,
    actor: Actor,
    PathParams((subject, version)): PathParams<(String, String)>,
    Body(req): Body<TagSchemaRequest>,
) -> Result<Vnd<SchemaBody>, ApiError> {
    let subject = unqualify(&subject);
    let sel = parse_version(&version)?;
    let input = TagsInput {
        new_version: req.new_version,
        tags_to_add: tag_edits(req.tags_to_add),
        tags_to_remove: tag_edits(req.tags_to_remove),
        metadata: req.metadata,
        rule_set: req.rule_set,
        rules_to_merge: req.rules_to_merge,
        rules_to_remove: req.rules_to_remove,
    };
    let (v, s) = state
        .registry
        .modify_tags(subject, sel, &input, &actor)
        .await?;
    Ok(Vnd(SchemaBody::for_version(&v, &s, s.schema.clone())))
}
