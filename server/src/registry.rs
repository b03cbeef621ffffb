//! The registry's behaviour, between the HTTP handlers and the storage: registering
//! (Confluent's algorithm, confluent-compat.md §9.2), looking up, compatibility tests,
//! deletes, config and mode, and the reading paths with their caches.
//!
//! Every mutation runs in one [`WriteTx`]; the checks that decide whether it may happen
//! (mode, compatibility, references) read inside that same transaction, so two nodes
//! cannot both decide "new version" for the same schema.
//!
//! Parsing and compatibility checks run on blocking threads ([`crate::work`]). Since
//! they may take seconds, a registration does them once *before* taking the writers'
//! lock ([`Prepared`]), and inside the transaction reuses those results when what they
//! depend on (the schema text, its references' texts, the level and the compared
//! versions' schema ids) is unchanged, so other writers do not wait for them.

use crate::audit;
use crate::auth::Actor;
use crate::cache::Caches;
use crate::error::ApiError;
use crate::storage::{
    q, Notice, SchemaRecord, SchemaReference, Store, VersionRecord, WriteTx, GLOBAL,
};
use crate::work::HeavyWork;
use accord_compat::{CompatibilityLevel, ParsedSchema, Reference, Report, SchemaFormat};
use accord_contracts::{Metadata, RuleSet};
use md5::{Digest, Md5};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The mode names Confluent accepts.
pub const MODES: [&str; 5] = [
    "READWRITE",
    "READONLY",
    "READONLY_OVERRIDE",
    "IMPORT",
    "FORWARD",
];

/// How deep references may nest before we call it a cycle.
const MAX_REFERENCE_DEPTH: usize = 64;

pub struct Registry {
    pub store: Store,
    pub cache: Arc<Caches>,
    /// Where parsing and compatibility checks run (see [`crate::work`]).
    pub work: HeavyWork,
}

/// The results of a registration's heavy work, computed before the writers' lock is
/// taken (or, for other callers, not at all). Each is keyed by a digest of everything
/// it depends on; a `Err` holds the "schema too complex" message.
#[derive(Default)]
struct Prepared {
    parse: Option<([u8; 32], Result<ParsedCandidate, String>)>,
    check: Option<([u8; 32], Result<Report, String>)>,
}

/// A candidate's parsed schema and the text stored for it.
type ParsedCandidate = (Arc<ParsedSchema>, String);

/// A reference as a client sends it: every part may be missing.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct ReferenceInput {
    pub name: Option<String>,
    pub subject: Option<String>,
    pub version: Option<i64>,
}

/// The schema part of register, lookup and compatibility requests.
#[derive(Debug, Clone, Default)]
pub struct SchemaInput {
    pub schema: Option<String>,
    pub schema_type: Option<String>,
    pub references: Vec<ReferenceInput>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
    pub version: Option<i64>,
    pub id: Option<i64>,
}

/// The body of `POST /subjects/{s}/versions/{v}/tags`, already validated.
#[derive(Debug, Clone, Default)]
pub struct TagsInput {
    pub new_version: Option<i64>,
    pub tags_to_add: Vec<accord_compat::avro::TagEdit>,
    pub tags_to_remove: Vec<accord_compat::avro::TagEdit>,
    pub metadata: Option<Value>,
    pub rule_set: Option<Value>,
    pub rules_to_merge: Option<Value>,
    pub rules_to_remove: Vec<String>,
}

/// A schema ready to store: canonical text, concrete references, identity.
struct Candidate {
    format: SchemaFormat,
    text: String,
    references: Vec<SchemaReference>,
    metadata: Option<Metadata>,
    rule_set: Option<RuleSet>,
    hash: String,
    guid: String,
    /// `None` only in IMPORT mode, where an unparsable schema is stored as sent.
    parsed: Option<Arc<ParsedSchema>>,
    /// A digest of what the parse depends on (format, normalisation, the text and the
    /// references' texts): the key of [`Prepared::parse`].
    parse_key: [u8; 32],
}

/// A candidate before its parse (see `Registry::unparsed`).
struct Unparsed {
    format: SchemaFormat,
    text: String,
    references: Vec<SchemaReference>,
    /// The references' texts, dependencies first.
    resolved: Vec<Reference>,
}

/// A version a check compares with: its number, its schema row, and the parsed schema
/// (cached) or what parsing it needs (its references resolved).
type ComparedRow = (
    i64,
    Arc<SchemaRecord>,
    Result<Arc<ParsedSchema>, Vec<Reference>>,
);

/// Which version(s) a compatibility test compares against.
#[derive(Debug, Clone, Copy)]
pub enum VersionSel {
    Latest,
    Number(i64),
}

/// Parses a `{version}` path segment: a positive int32, `latest` (any case, trimmed) or
/// `-1`; anything else is 42202.
pub fn parse_version(s: &str) -> Result<VersionSel, ApiError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("latest") || t == "-1" {
        return Ok(VersionSel::Latest);
    }
    match t.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(VersionSel::Number(n as i64)),
        _ => Err(ApiError::InvalidVersion(s.to_string())),
    }
}

/// Rejects subject names Confluent rejects (42208): control characters, the reserved
/// names `__GLOBAL` and `__EMPTY` (in any context), the global context and the `:*:`
/// wildcard. A context-qualified name (`:.ctx:orders`) is a subject like any other.
pub fn validate_subject(subject: &str) -> Result<(), ApiError> {
    let (ctx, name) = crate::context::split(subject);
    if subject.is_empty()
        || name.is_empty()
        || subject.chars().any(char::is_control)
        || name == "__GLOBAL"
        || name == "__EMPTY"
        || ctx == crate::context::GLOBAL_CONTEXT
        || ctx == "*"
    {
        return Err(ApiError::InvalidSubject(subject.to_string()));
    }
    Ok(())
}

/// Validates a config or mode key: a subject, a context (`:.ctx:`) or the global
/// context `:.__GLOBAL:` (where Confluent allows it).
pub fn validate_scope(subject: &str) -> Result<(), ApiError> {
    let (ctx, name) = crate::context::split(subject);
    if subject.starts_with(":.") && name.is_empty() {
        if subject.chars().any(char::is_control) || ctx.len() < 2 && ctx != "." {
            return Err(ApiError::InvalidSubject(subject.to_string()));
        }
        return Ok(());
    }
    if ctx == crate::context::GLOBAL_CONTEXT
        && !subject.chars().any(char::is_control)
        && name != "__GLOBAL"
        && name != "__EMPTY"
    {
        return Ok(());
    }
    validate_subject(subject)
}

/// Strips the default-context qualifier, so `:.:orders` and `orders` are one subject.
pub fn unqualify(subject: &str) -> &str {
    crate::context::canonical(subject)
}

/// The config and mode keys that apply to `key` (a subject, a context `:.ctx:` or the
/// global key), lowest first, as Confluent resolves them: the `:.__GLOBAL:` context,
/// the global config, the subject's context (for a non-default one), the subject.
pub fn scope_keys(key: &str) -> Vec<String> {
    let global_ctx = format!(":{}:", crate::context::GLOBAL_CONTEXT);
    if key == global_ctx {
        return vec![global_ctx];
    }
    let mut keys = vec![global_ctx, GLOBAL.to_string()];
    if key == GLOBAL {
        return keys;
    }
    let (ctx, name) = crate::context::split(key);
    if ctx != crate::context::DEFAULT && ctx != crate::context::GLOBAL_CONTEXT && ctx != "*" {
        keys.push(crate::context::prefix(ctx));
    }
    if !name.is_empty() {
        keys.push(key.to_string());
    }
    keys
}

/// Whether `key` names a context's (or the global) settings rather than a subject's.
pub fn is_scope_wide(key: &str) -> bool {
    key == GLOBAL || (key.starts_with(":.") && crate::context::split(key).1.is_empty())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// MD5 over the canonical text, references, metadata and ruleSet (confluent-compat.md
/// §6.2); the digest is both the dedup key (hex) and the GUID (as a UUID, no version
/// bits set).
fn fingerprint(
    text: &str,
    refs: &[SchemaReference],
    metadata: Option<&Metadata>,
    rule_set: Option<&RuleSet>,
) -> (String, String) {
    let mut bytes = text.as_bytes().to_vec();
    for r in refs {
        bytes.extend_from_slice(r.name.as_bytes());
        bytes.extend_from_slice(r.subject.as_bytes());
        bytes.extend_from_slice(&(r.version as i32).to_be_bytes());
    }
    if let Some(m) = metadata {
        bytes.push(1);
        m.hash_bytes(&mut bytes);
    }
    if let Some(r) = rule_set {
        bytes.push(1);
        r.hash_bytes(&mut bytes);
    }
    let digest: [u8; 16] = Md5::digest(&bytes).into();
    let hash = hex_lower(&digest);
    let guid = uuid::Uuid::from_bytes(digest).hyphenated().to_string();
    (hash, guid)
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- config documents ----

/// The keys of a stored config, in the order Confluent returns them.
pub const CONFIG_KEYS: [&str; 14] = [
    "compatibilityLevel",
    "compatibilityPolicy",
    "compatibilityGroup",
    "normalize",
    "validateFields",
    "validateNewSchemas",
    "validateRules",
    "alias",
    "aliasForDeks",
    "defaultMetadata",
    "overrideMetadata",
    "defaultRuleSet",
    "overrideRuleSet",
    // Accord's own: refuse schemas Accord's stricter checks warn about (see
    // `accord_compat::Warning`); off by default, as Confluent has no such checks.
    STRICT_SCHEMAS,
];

/// The config key that makes Accord's stricter schema checks refuse a registration.
pub const STRICT_SCHEMAS: &str = "accordStrictSchemas";

/// The stored configs `rows` of `keys` (lowest first, see [`scope_keys`]) merged, each
/// over the ones below it.
fn layered(keys: &[String], rows: Vec<(String, Value)>) -> Map<String, Value> {
    let mut out = Map::new();
    for key in keys {
        if let Some((_, doc)) = rows.iter().find(|(k, _)| k == key) {
            out = merge_config(Some(&Value::Object(out)), Some(doc));
        }
    }
    out
}

/// `subject` overlaid on `global`, key by key.
pub fn merge_config(global: Option<&Value>, subject: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for doc in [global, subject].into_iter().flatten() {
        if let Value::Object(m) = doc {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Puts keys in Confluent's order and fills the default level, for responses.
pub fn present_config(m: &Map<String, Value>, level_key: &str) -> Value {
    let mut out = Map::new();
    for k in CONFIG_KEYS {
        if let Some(v) = m.get(k) {
            let key = if k == "compatibilityLevel" {
                level_key
            } else {
                k
            };
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// What `PUT /config` answers: Confluent returns the request itself, re-serialised by
/// Jackson (its known keys in its order, values as sent, so the client's letter case
/// too; absent, null and empty values left out; `{}` for an empty body).
pub fn echo_config(body: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in CONFIG_KEYS {
        let v = if k == "compatibilityLevel" {
            body.get("compatibility").or_else(|| body.get(k))
        } else {
            body.get(k)
        };
        let empty = match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if let (false, Some(v)) = (empty, v) {
            let key = if k == "compatibilityLevel" {
                "compatibility"
            } else {
                k
            };
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn config_level(cfg: &Map<String, Value>) -> CompatibilityLevel {
    cfg.get("compatibilityLevel")
        .and_then(Value::as_str)
        .and_then(|s| CompatibilityLevel::from_str(s).ok())
        .unwrap_or(CompatibilityLevel::Backward)
}

fn config_bool(cfg: &Map<String, Value>, key: &str) -> bool {
    cfg.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Applies a `PUT /config` body (keyed `compatibility`) to a stored config: absent keys
/// keep their value, JSON null clears. Validates every value it accepts.
pub fn apply_config_update(
    old: Option<&Value>,
    body: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = match old {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in body {
        let key = if k == "compatibility" || k == "compatibilityLevel" {
            "compatibilityLevel"
        } else {
            k.as_str()
        };
        if !CONFIG_KEYS.contains(&key) {
            continue; // unknown keys are ignored, as Jackson with FAIL_ON_UNKNOWN off
        }
        if v.is_null() {
            out.remove(key);
            continue;
        }
        let value = match key {
            "compatibilityLevel" => {
                let s = v.as_str().ok_or(ApiError::InvalidCompatibilityLevel)?;
                let level = CompatibilityLevel::from_str(s)
                    .map_err(|_| ApiError::InvalidCompatibilityLevel)?;
                Value::String(level.as_str().to_string())
            }
            "compatibilityPolicy" => {
                let s = v.as_str().map(str::to_ascii_uppercase);
                match s.as_deref() {
                    Some(p @ ("STRICT" | "LENIENT" | "LOGICAL")) => Value::String(p.to_string()),
                    _ => {
                        return Err(ApiError::Unprocessable(format!(
                            "Invalid compatibilityPolicy {v}: use STRICT, LENIENT or LOGICAL"
                        )))
                    }
                }
            }
            "normalize" | "validateFields" | "validateNewSchemas" | "validateRules"
            | STRICT_SCHEMAS => {
                if !v.is_boolean() {
                    return Err(ApiError::MalformedBody(format!(
                        "Config key '{key}' must be a boolean, got {v}"
                    )));
                }
                v.clone()
            }
            "compatibilityGroup" | "alias" | "aliasForDeks" => {
                if !v.is_string() {
                    return Err(ApiError::MalformedBody(format!(
                        "Config key '{key}' must be a string, got {v}"
                    )));
                }
                v.clone()
            }
            "defaultMetadata" | "overrideMetadata" => {
                Metadata::from_json(Some(v))
                    .map_err(|e| ApiError::Unprocessable(format!("{key}: {e}")))?;
                v.clone()
            }
            _ => {
                if let Some(rs) = RuleSet::from_json(Some(v))
                    .map_err(|e| ApiError::InvalidRuleSet(format!("{key}: {e}")))?
                {
                    rs.validate()
                        .map_err(|e| ApiError::InvalidRuleSet(format!("{key}: {e}")))?;
                }
                v.clone()
            }
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn is_readonly(mode: &str) -> bool {
    mode == "READONLY" || mode == "READONLY_OVERRIDE"
}

/// The outcome of a compatibility test.
pub struct CompatOutcome {
    pub compatible: bool,
    /// Confluent's verbose `messages`, byte for byte (see [`confluent_details`]).
    pub messages: Vec<String>,
    /// The same findings with Accord's structure (kind, path, version, direction).
    pub incompatibilities: Vec<accord_compat::Incompatibility>,
    /// What Accord's stricter checks say about the new schema (never a refusal here).
    pub warnings: Vec<accord_compat::Warning>,
}

/// Refuses (42201) a new schema with warnings from Accord's stricter checks when
/// `strict`, and one with Avro default problems when `normalize` (as Confluent does).
fn strict_check(parsed: &ParsedSchema, strict: bool, normalize: bool) -> Result<(), ApiError> {
    let avro_defaults = |w: &&accord_compat::Warning| {
        parsed.format() == SchemaFormat::Avro
            && matches!(
                w.kind.as_str(),
                "DEFAULT_TYPE_MISMATCH" | "RECURSIVE_DEFAULT"
            )
    };
    let refused: Vec<String> = parsed
        .warnings()
        .iter()
        .filter(|w| strict || (normalize && avro_defaults(w)))
        .map(|w| format!("{} at {}: {}", w.kind, w.path, w.message))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApiError::InvalidSchema(format!(
        "Invalid schema, details: {}",
        refused.join("; ")
    )))
}

/// The largest old schema Confluent quotes whole in `{oldSchema: '..'}`.
const MAX_QUOTED_SCHEMA: usize = 10 * 1024;

/// Confluent's `messages` for a failed check, as its `SchemaValidatorBuilder` and
/// `AbstractSchemaRegistry` write them: per compared version (in check order), the
/// forward findings and then the backward ones, followed by `{oldSchemaVersion: N}` and
/// `{oldSchema: '<text>'}` (after the backward part for FULL, which quotes nothing when
/// only its forward part fails); at the end `{validateFields: '..', compatibility: '..'}`.
/// A change of schema type is Confluent's single line.
pub fn confluent_details(
    report: &accord_compat::Report,
    level: CompatibilityLevel,
    olds: &[(i64, Arc<ParsedSchema>)],
    validate_fields: bool,
) -> Vec<String> {
    use accord_compat::Direction;
    let mut out = Vec::new();
    if report.is_compatible() {
        return out;
    }
    if report
        .incompatibilities
        .iter()
        .any(|i| i.kind == "SCHEMA_TYPE_CHANGED")
    {
        return vec![accord_compat::Report {
            incompatibilities: report
                .incompatibilities
                .iter()
                .filter(|i| i.kind == "SCHEMA_TYPE_CHANGED")
                .take(1)
                .cloned()
                .collect(),
        }
        .confluent_messages()
        .remove(0)];
    }
    let mut versions: Vec<Option<i32>> = Vec::new();
    for i in &report.incompatibilities {
        if !versions.contains(&i.version) {
            versions.push(i.version);
        }
    }
    let full = matches!(
        level,
        CompatibilityLevel::Full | CompatibilityLevel::FullTransitive
    );
    for v in versions {
        let of = |d: Direction| {
            report
                .incompatibilities
                .iter()
                .filter(move |i| i.version == v && i.direction == d)
                .map(accord_compat::Incompatibility::confluent_message)
        };
        let forward: Vec<String> = of(Direction::Forward).collect();
        let backward: Vec<String> = of(Direction::Backward).collect();
        let quote = if full {
            !backward.is_empty()
        } else {
            !forward.is_empty() || !backward.is_empty()
        };
        out.extend(forward);
        out.extend(backward);
        if quote {
            if let Some(v) = v {
                out.push(format!("{{oldSchemaVersion: {v}}}"));
                if let Some((_, old)) = olds.iter().find(|(n, _)| *n == v as i64) {
                    let text = old.canonical();
                    if text.chars().count() <= MAX_QUOTED_SCHEMA {
                        out.push(format!("{{oldSchema: '{text}'}}"));
                    } else {
                        let cut: String = text.chars().take(MAX_QUOTED_SCHEMA).collect();
                        out.push(format!(
                            "{{oldSchema: <truncated to {MAX_QUOTED_SCHEMA} characters> '{cut}'}}"
                        ));
                    }
                }
            }
        }
    }
    out.push(format!(
        "{{validateFields: '{validate_fields}', compatibility: '{level}'}}"
    ));
    out
}

impl Registry {
    pub fn new(store: Store, cache: Caches) -> Self {
        Registry {
            store,
            cache: Arc::new(cache),
            work: HeavyWork::default(),
        }
    }

    /// This registry with `work`'s limits for parsing and compatibility checks.
    pub fn with_work(self, work: HeavyWork) -> Self {
        Registry { work, ..self }
    }

    // ---- reading ----

    /// A live schema by id (some version, soft-deleted or not, still points at it).
    pub async fn schema_by_id(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        let s = self.read_live_schema(id).await?;
        self.cache.put_schema(s.clone());
        Ok(s)
    }

    /// A live schema by id from the database (40403 when there is none).
    async fn read_live_schema(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        Ok(Arc::new(
            q::live_schema(self.store.reader(), id)
                .await?
                .ok_or_else(|| ApiError::SchemaNotFound(id.to_string()))?,
        ))
    }

    /// [`Registry::schema_by_id`] for an answer whose serialised body the caller caches
    /// itself (`GET /schemas/ids/{id}`): a miss is read without filling the record cache
    /// too, so a read of every id once holds each schema once, not twice.
    pub async fn schema_by_id_for_body(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        self.read_live_schema(id).await
    }

    /// The subject versions holding schema `id` and their restricted streams, cached
    /// per id (see [`crate::cache`]).
    pub async fn id_holders(
        &self,
        id: i64,
    ) -> Result<Arc<Vec<crate::governance::IdHolder>>, ApiError> {
        if let Some(h) = self.cache.holders(id) {
            return Ok(h);
        }
        let (gen, at) = (self.cache.holders_generation(), Instant::now());
        let h = Arc::new(crate::governance::id_holders(&self.store, id).await?);
        self.cache.put_holders(id, h.clone(), at, gen);
        Ok(h)
    }

    /// The read rule for schema `id` ([`crate::governance::check_holders_read`]): no
    /// work at all with auth off or for an admin, one cache lookup for an id no
    /// restricted stream holds, and [`crate::governance::check_subject_read`] on the
    /// restricted holders otherwise.
    pub async fn check_id_read(&self, actor: &Actor, id: i64) -> Result<(), ApiError> {
        if crate::governance::reads_everything(actor) {
            return Ok(());
        }
        let holders = self.id_holders(id).await?;
        crate::governance::check_holders_read(&self.store, actor, &format!("schema {id}"), &holders)
            .await
    }

    /// The subjects a schema's `refs` reach (their closure), each checked with
    /// [`crate::governance::check_subject_read`]: what a `format=resolved` answer
    /// inlines must be readable by `actor` too. Nothing is read for those who read
    /// everything.
    pub async fn check_references_read(
        &self,
        actor: &Actor,
        refs: &[SchemaReference],
    ) -> Result<(), ApiError> {
        if crate::governance::reads_everything(actor) || refs.is_empty() {
            return Ok(());
        }
        let mut todo: Vec<SchemaReference> = refs.to_vec();
        let mut seen = HashSet::new();
        while let Some(r) = todo.pop() {
            // Each (subject, version) once: cycles end, and nothing is left unchecked.
            if !seen.insert((r.subject.clone(), r.version)) {
                continue;
            }
            crate::governance::check_subject_read(&self.store, actor, &r.subject).await?;
            if let Some(v) = q::version(self.store.reader(), &r.subject, r.version).await? {
                let row = self.schema_row(v.schema_id).await?;
                todo.extend(row.references.iter().cloned());
            }
        }
        Ok(())
    }

    /// A version's schema for a listing of many (`GET /schemas`): served from the
    /// record cache when there, otherwise read without filling it, so one listing of
    /// every schema does not hold them all in memory afterwards.
    pub async fn schema_of_listed(&self, v: &VersionRecord) -> Result<Arc<SchemaRecord>, ApiError> {
        self.schema_row(v.schema_id).await
    }

    /// A schema row by id, for versions known to exist (no liveness check); a miss is
    /// not cached (the row may belong to soft-deleted versions only).
    async fn schema_row(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        let s = q::schema_row(self.store.reader(), id)
            .await?
            .ok_or_else(|| ApiError::SchemaNotFound(id.to_string()))?;
        Ok(Arc::new(s))
    }

    /// The latest non-deleted version of a subject, cached for a short TTL.
    /// Concurrent misses on one subject share one read (single flight): the first
    /// reads while the others wait on its shard's lock, then find the entry it stored.
    /// An entry past half its TTL is answered while one background read refreshes it,
    /// so a subject read often is not read on the request path at all.
    pub async fn latest(&self, subject: &str) -> Result<Option<VersionRecord>, ApiError> {
        if let Some((v, due)) = self.cache.latest(subject) {
            if due {
                self.refresh_latest(subject);
            }
            return Ok(v);
        }
        let _flight = match self.cache.latest_flight(subject) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        if let Some((v, _)) = self.cache.latest(subject) {
            return Ok(v);
        }
        let (at, gen) = (Instant::now(), self.cache.latest_generation());
        let v = q::latest_version(self.store.reader(), subject, false).await?;
        self.cache.put_latest(subject, v.clone(), at, gen);
        Ok(v)
    }

    /// Reads `subject`'s latest version in the background (bounded like any read) and
    /// stores it, for [`Registry::latest`]'s refresh ahead of expiry.
    fn refresh_latest(&self, subject: &str) {
        let (cache, store, subject) = (self.cache.clone(), self.store.clone(), subject.to_string());
        tokio::spawn(async move {
            let (at, gen) = (Instant::now(), cache.latest_generation());
            match q::latest_version(store.reader(), &subject, false).await {
                Ok(v) => cache.put_latest(&subject, v, at, gen),
                Err(_) => cache.refresh_failed(&subject),
            }
        });
    }

    /// Resolves `{subject}/versions/{version}` for reads: 40401 when the subject has no
    /// (visible) versions, 40402 when the version is not there. An alias is followed
    /// only once `reader` is found to read its target (the caller checked `subject`).
    pub async fn get_version(
        &self,
        subject: &str,
        sel: VersionSel,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<VersionRecord, ApiError> {
        let found = match sel {
            VersionSel::Latest if !include_deleted => self.latest(subject).await?,
            VersionSel::Latest => q::latest_version(self.store.reader(), subject, true).await?,
            VersionSel::Number(n) => q::version(self.store.reader(), subject, n)
                .await?
                .filter(|v| include_deleted || !v.deleted),
        };
        if let Some(v) = found {
            return Ok(v);
        }
        if q::latest_version(self.store.reader(), subject, include_deleted)
            .await?
            .is_none()
        {
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return Box::pin(self.get_version(&target, sel, include_deleted, reader)).await;
            }
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Err(ApiError::VersionNotFound(match sel {
            VersionSel::Latest => "latest".to_string(),
            VersionSel::Number(n) => n.to_string(),
        }))
    }

    /// The subject a subject's `alias` config points reads at (Confluent's subject
    /// aliases), consulted only when the subject itself has no versions, so the hot
    /// read paths pay nothing for it. One level deep: an alias of an alias is not followed.
    /// Whoever follows it checks the reader against the target first (the read
    /// restriction is the target's, not the alias's).
    pub async fn alias_of(&self, subject: &str) -> Result<Option<String>, ApiError> {
        let own = q::config(self.store.reader(), subject).await?;
        Ok(own
            .as_ref()
            .and_then(|c| c.get("alias"))
            .and_then(Value::as_str)
            .map(unqualify)
            .filter(|a| !a.is_empty() && *a != subject)
            .map(str::to_string))
    }

    /// A subject's versions for listing, following an alias when it has none (and
    /// `reader` may read its target).
    pub async fn versions_for_read(
        &self,
        subject: &str,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<Vec<VersionRecord>, ApiError> {
        let versions = q::versions(self.store.reader(), subject, include_deleted).await?;
        if versions.is_empty() {
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return q::versions(self.store.reader(), &target, include_deleted).await;
            }
        }
        Ok(versions)
    }

    pub async fn schema_of(&self, v: &VersionRecord) -> Result<Arc<SchemaRecord>, ApiError> {
        match v.deleted {
            // A live version's schema is live: read through the record cache (the
            // version and latest reads would otherwise read it from the database each
            // time, as `GET /schemas/ids` no longer fills that cache).
            false => self.schema_by_id(v.schema_id).await,
            true => self.schema_row(v.schema_id).await,
        }
    }

    /// The parsed form of a stored schema, cached by id (ids are immutable).
    pub async fn parsed(&self, record: &SchemaRecord) -> Result<Arc<ParsedSchema>, ApiError> {
        if let Some(p) = self.cache.parsed(record.id) {
            return Ok(p);
        }
        // The connection only resolves the references: it is given back before the parse.
        let refs = {
            let mut conn = self.store.reader().acquire().await?;
            Self::stored_refs(&mut conn, record).await?
        };
        self.parse_stored(record, refs).await
    }

    /// The references of a stored schema, resolved (the transitive closure), on a given
    /// connection: inside a write transaction nothing may wait for a second connection
    /// (a writer holding the lock would wait on writers that hold the pool).
    async fn stored_refs(
        conn: &mut sqlx::AnyConnection,
        record: &SchemaRecord,
    ) -> Result<Vec<Reference>, ApiError> {
        let mut refs = Vec::new();
        let mut seen = HashSet::new();
        resolve_closure(conn, &record.references, true, 0, &mut seen, &mut refs).await?;
        Ok(refs)
    }

    /// Parses a stored schema with its resolved references (off the async runtime), and
    /// caches it by id.
    async fn parse_stored(
        &self,
        record: &SchemaRecord,
        refs: Vec<Reference>,
    ) -> Result<Arc<ParsedSchema>, ApiError> {
        // Only a schema stored in IMPORT mode (where validation is skipped) can fail here.
        let (parsed, ()) = self
            .work
            .parse(record.format, record.schema.clone(), refs, |_| ())
            .await?
            .map_err(|e| {
                ApiError::InvalidSchema(format!(
                    "Stored schema {} (imported unvalidated) cannot be parsed: {e}",
                    record.id
                ))
            })?;
        let parsed = Arc::new(parsed);
        self.cache.put_parsed(record.id, parsed.clone());
        Ok(parsed)
    }

    // ---- config and mode ----

    pub async fn effective_config<'e, E>(
        &self,
        e: E,
        subject: &str,
    ) -> Result<Map<String, Value>, ApiError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any> + Copy,
    {
        let keys = scope_keys(subject);
        Ok(layered(&keys, q::configs(e, &keys).await?))
    }

    /// The mode in force for `subject`: its own, else its context's, else the global
    /// one, else `:.__GLOBAL:`'s, else READWRITE. A global READONLY_OVERRIDE wins over
    /// everything below it.
    pub async fn effective_mode(
        conn: &mut sqlx::AnyConnection,
        subject: &str,
    ) -> Result<String, ApiError> {
        let keys = scope_keys(subject);
        let modes = q::modes(&mut *conn, &keys).await?;
        Ok(Self::mode_in(&keys, &modes))
    }

    /// The mode in force for the scope `keys` (from [`scope_keys`]) given their stored
    /// `modes`: see [`Registry::effective_mode`].
    fn mode_in(keys: &[String], modes: &[(String, String)]) -> String {
        let of = |key: &str| modes.iter().find(|(k, _)| k == key).map(|(_, m)| m.clone());
        if let Some(m) = of(GLOBAL).filter(|m| m == "READONLY_OVERRIDE") {
            return m;
        }
        keys.iter()
            .rev()
            .find_map(|k| of(k))
            .unwrap_or_else(|| "READWRITE".to_string())
    }

    // ---- building candidates ----

    /// The first half of turning request input into a candidate, the one that reads the
    /// database: the type, and the references resolved to concrete versions and texts.
    /// An unqualified reference subject is resolved in the context of `referrer`, the
    /// subject the schema is registered, looked up or checked under (as Confluent does).
    async fn unparsed(
        conn: &mut sqlx::AnyConnection,
        input: &SchemaInput,
        allow_deleted_refs: bool,
        referrer: &str,
    ) -> Result<Unparsed, ApiError> {
        let format = match input.schema_type.as_deref() {
            None | Some("") => SchemaFormat::Avro,
            Some(t) => SchemaFormat::from_str(t).map_err(|e| ApiError::InvalidSchema(e.message))?,
        };
        let text = input.schema.clone().unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ApiError::InvalidSchema("Empty schema".to_string()));
        }
        let mut references = Vec::with_capacity(input.references.len());
        for (i, r) in input.references.iter().enumerate() {
            let (Some(name), Some(subject), Some(version)) = (&r.name, &r.subject, r.version)
            else {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid reference at references[{i}]: name, subject and version are all required"
                )));
            };
            let subject = crate::context::qualify(crate::context::of(referrer), subject);
            let version = if version == -1 {
                q::latest_version(&mut *conn, &subject, false)
                    .await?
                    .ok_or_else(|| {
                        ApiError::InvalidSchema(format!(
                            "Invalid reference at references[{i}]: subject '{subject}' has no versions"
                        ))
                    })?
                    .version
            } else {
                version
            };
            references.push(SchemaReference {
                name: name.clone(),
                subject,
                version,
            });
        }
        let mut resolved = Vec::new();
        let mut seen = HashSet::new();
        resolve_closure(
            conn,
            &references,
            allow_deleted_refs,
            0,
            &mut seen,
            &mut resolved,
        )
        .await?;
        Ok(Unparsed {
            format,
            text,
            references,
            resolved,
        })
    }

    /// The second half: metadata/ruleSet validated, text parsed and canonicalised (off
    /// the async runtime, with no connection held). With `prepared`, a parse it holds
    /// for the same inputs is reused, and a new one is kept there.
    async fn candidate(
        &self,
        unparsed: Unparsed,
        input: &SchemaInput,
        normalize: bool,
        lenient_parse: bool,
        prepared: Option<&mut Prepared>,
    ) -> Result<Candidate, ApiError> {
        let Unparsed {
            format,
            text,
            mut references,
            resolved,
        } = unparsed;
        let metadata = Metadata::from_json(input.metadata.as_ref())
            .map_err(|e| ApiError::InvalidSchema(e.0))?;
        let rule_set = RuleSet::from_json(input.rule_set.as_ref())
            .map_err(|e| ApiError::InvalidRuleSet(e.0))?;
        if let Some(rs) = &rule_set {
            rs.validate().map_err(|e| ApiError::InvalidRuleSet(e.0))?;
        }

        let parse_key = {
            let mut h = Sha256::new();
            h.update([u8::from(normalize)]);
            for part in [format.as_str(), text.as_str()].into_iter().chain(
                resolved
                    .iter()
                    .flat_map(|r| [r.name.as_str(), r.schema.as_str()]),
            ) {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
            <[u8; 32]>::from(h.finalize())
        };
        let reused = prepared
            .as_ref()
            .and_then(|p| p.parse.as_ref())
            .filter(|(key, _)| *key == parse_key)
            .map(|(_, result)| result.clone());
        // Ok(Ok(parsed)), Ok(Err(invalid schema)) or Err(too complex).
        let parsed = match reused {
            Some(result) => result.map(Ok),
            None => {
                let result = self
                    .work
                    .parse(format, text.clone(), resolved, move |p| match normalize {
                        true => p.normalized(),
                        false => p.canonical(),
                    })
                    .await
                    .map(|r| r.map(|(p, t)| (Arc::new(p), t)));
                let result = match result {
                    Err(ApiError::SchemaTooComplex(m)) => Err(m),
                    other => Ok(other?),
                };
                if let Some(p) = prepared {
                    match &result {
                        Ok(Ok(done)) => p.parse = Some((parse_key, Ok(done.clone()))),
                        Err(m) => p.parse = Some((parse_key, Err(m.clone()))),
                        Ok(Err(_)) => {}
                    }
                }
                result
            }
        };
        let (parsed, text) = match parsed {
            Ok(Ok((p, t))) => (Some(p), t),
            Err(too_complex) => return Err(ApiError::SchemaTooComplex(too_complex)),
            Ok(Err(_)) if lenient_parse => (None, text),
            Ok(Err(e)) => {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid schema: {}",
                    e.message
                )))
            }
        };
        if normalize {
            references.sort_by(|a, b| {
                (&a.name, &a.subject, a.version).cmp(&(&b.name, &b.subject, b.version))
            });
            references.dedup();
        }
        let (hash, guid) = fingerprint(&text, &references, metadata.as_ref(), rule_set.as_ref());
        Ok(Candidate {
            format,
            text,
            references,
            metadata,
            rule_set,
            hash,
            guid,
            parsed,
            parse_key,
        })
    }

    // ---- register ----

    /// `POST /subjects/{s}/versions`: Confluent's register algorithm. Returns the
    /// version and its schema.
    pub async fn register(
        &self,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        self.register_as(subject, input, normalize, force, actor, "subject.register")
            .await
    }

    /// [`Registry::register`], audited as `action` when a version is created.
    async fn register_as(
        &self,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: &str,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        validate_subject(subject)?;
        let mut prepared = self.prepare(subject, &input, normalize, force).await;
        let mut w = self.store.begin_write().await?;
        let out = self
            .register_with(
                &mut w,
                subject,
                input,
                normalize,
                force,
                actor,
                Some(action),
                Some(&mut prepared),
            )
            .await?;
        self.commit(w).await?;
        Ok(out)
    }

    /// A registration's heavy work (parse, compatibility check) done ahead, outside
    /// the writers' lock, as far as it can be known there. Whatever fails here is left
    /// for the registration to meet (and report) inside its transaction.
    async fn prepare(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        force: bool,
    ) -> Prepared {
        let mut prepared = Prepared::default();
        if input
            .schema
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
        {
            let _ = self
                .prepare_into(subject, input, normalize, force, &mut prepared)
                .await;
        }
        prepared
    }

    async fn prepare_into(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        force: bool,
        prepared: &mut Prepared,
    ) -> Result<(), ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let keys = scope_keys(subject);
        let (configs, modes) = q::settings(&mut *conn, &keys).await?;
        let mode = Self::mode_in(&keys, &modes);
        if is_readonly(&mode) {
            return Ok(());
        }
        let config = layered(&keys, configs);
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(&mut conn, input, false, subject).await?;
        if mode == "IMPORT" {
            // An import is not checked: only its parse is worth doing ahead.
            drop(conn);
            self.candidate(unparsed, input, normalize, true, Some(prepared))
                .await?;
            return Ok(());
        }
        let level = match crate::governance::contract_level(&mut conn, subject).await? {
            Some(level) => level,
            None => config_level(&config),
        };
        let live = q::versions(&mut *conn, subject, false).await?;
        let rows = match force || level == CompatibilityLevel::None {
            true => None,
            false => {
                let group = config.get("compatibilityGroup").and_then(Value::as_str);
                let new_metadata = Metadata::from_json(input.metadata.as_ref()).ok().flatten();
                Some(
                    self.compared_rows(&mut conn, &live, level, group, new_metadata.as_ref())
                        .await?,
                )
            }
        };
        // Everything is read: the parse and the check hold no connection.
        drop(conn);
        let cand = self
            .candidate(unparsed, input, normalize, false, Some(prepared))
            .await?;
        let (Some(new), Some(rows)) = (cand.parsed.clone(), rows) else {
            return Ok(());
        };
        // Registering the schema of a compared version again is answered without a
        // check (as long as the latest is compared, the usual case is caught).
        if rows
            .iter()
            .any(|(_, row, _)| row.schema == cand.text && row.references == cand.references)
        {
            return Ok(());
        }
        let compared = self.parse_compared(rows).await?;
        self.check_parsed(&cand, &new, compared, level, Some(prepared))
            .await?;
        Ok(())
    }

    /// [`Registry::register`] inside the caller's write transaction `w`, which the caller
    /// commits (with [`Registry::commit_write`]). Audited as `action` when a version is
    /// created; `None` leaves the audit entry to the caller (one mutation, one entry).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn register_in(
        &self,
        w: &mut WriteTx,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: Option<&str>,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        self.register_with(w, subject, input, normalize, force, actor, action, None)
            .await
    }

    /// [`Registry::register_in`], reusing what `prepared` holds for the same inputs.
    #[allow(clippy::too_many_arguments)]
    async fn register_with(
        &self,
        w: &mut WriteTx,
        subject: &str,
        mut input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: Option<&str>,
        mut prepared: Option<&mut Prepared>,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        validate_subject(subject)?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        // A subject whose own config names an alias registers under the alias target,
        // checked against the target's versions, as Confluent's alias filter rewrites
        // every `/subjects/{alias}` request.
        let keys = scope_keys(subject);
        let (mut rows, mut modes) = q::settings(&mut *conn, &keys).await?;
        let aliased = rows
            .iter()
            .find(|(k, _)| k == subject)
            .map(|(_, c)| c)
            .and_then(|c| c.get("alias"))
            .and_then(Value::as_str)
            .map(|a| crate::context::qualify(crate::context::of(subject), a))
            .filter(|a| !a.is_empty() && a != subject);
        let subject = match &aliased {
            Some(target) => {
                validate_subject(target)?;
                target.as_str()
            }
            None => subject,
        };
        // The alias target's settings (read again only when there is one).
        let keys = match &aliased {
            Some(_) => {
                let keys = scope_keys(subject);
                (rows, modes) = q::settings(&mut *conn, &keys).await?;
                keys
            }
            None => keys,
        };
        let mode = Self::mode_in(&keys, &modes);
        if is_readonly(&mode) {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {} is in read-only mode",
                crate::context::of(subject)
            )));
        }
        let import = mode == "IMPORT";
        let context = crate::context::of(subject).to_string();
        let config = layered(&keys, rows);
        let context_no = crate::context::ensure(conn, &context).await?;
        // Every version of the subject, soft-deleted ones too, with their schemas'
        // hashes: the latest, the live ones, the highest number and the fast path below
        // all come from this one read.
        let all = q::versions_with_hash(&mut *conn, subject).await?;
        let latest = all
            .iter()
            .rev()
            .find(|(v, _)| !v.deleted)
            .map(|(v, _)| v.clone());
        let latest_schema = match &latest {
            Some(v) => q::schema_row(&mut *conn, v.schema_id).await?,
            None => None,
        };

        // A request without a schema re-uses the latest one (metadata/rules-only
        // versions); without metadata or ruleSet, it inherits the latest's (§7.3).
        if input.schema.as_deref().is_none_or(|s| s.trim().is_empty()) {
            if let Some(prev) = &latest_schema {
                input.schema = Some(prev.schema.clone());
                input.schema_type = Some(prev.format.as_str().to_string());
                input.references = prev
                    .references
                    .iter()
                    .map(|r| ReferenceInput {
                        name: Some(r.name.clone()),
                        subject: Some(r.subject.clone()),
                        version: Some(r.version),
                    })
                    .collect();
            }
        }
        // The streams of this subject, read once (most subjects have none), and the
        // stream contract (imports skip it).
        let streams = crate::governance::streams_of_subject(conn, subject).await?;
        let contract = match import || streams.is_empty() {
            true => None,
            false => crate::governance::subject_contract(conn, subject).await?,
        };
        if !import {
            if let Some(prev) = &latest_schema {
                if input.metadata.is_none() {
                    input.metadata = prev.metadata.clone();
                }
                if input.rule_set.is_none() {
                    input.rule_set = prev.rule_set.clone();
                }
            }
            input.metadata = merge_layers::<Metadata>(
                config.get("defaultMetadata"),
                input.metadata.as_ref(),
                config.get("overrideMetadata"),
                |a, b| a.merge(b),
            )?;
            input.rule_set = merge_layers::<RuleSet>(
                config.get("defaultRuleSet"),
                input.rule_set.as_ref(),
                config.get("overrideRuleSet"),
                |a, b| a.merge(b),
            )?;
            // A stream contract's data-quality rules override like `overrideRuleSet`.
            if let Some(rules) = contract
                .as_ref()
                .map(|c| c.rule_set())
                .transpose()?
                .flatten()
            {
                input.rule_set = merge_layers::<RuleSet>(
                    None,
                    input.rule_set.as_ref(),
                    Some(&rules),
                    |a, b| a.merge(b),
                )?;
            }
        }
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(conn, &input, false, subject).await?;
        let cand = self
            .candidate(unparsed, &input, normalize, import, prepared.as_deref_mut())
            .await?;

        // The stream-owner rule comes before any answer: the fast path below would tell
        // another team a restricted stream's ids and versions (an existence oracle).
        crate::governance::check_subject_owner_of(conn, actor, subject, &streams).await?;
        // Fast path: the same schema is already a live version of this subject.
        let wanted_id = input.id.map(|i| crate::context::stored_id(context_no, i));
        if let Some(v) = all
            .iter()
            .rev()
            .find(|(v, hash)| {
                !v.deleted && *hash == cand.hash && wanted_id.is_none_or(|id| v.schema_id == id)
            })
            .map(|(v, _)| v.clone())
        {
            let s = q::schema_row(&mut *conn, v.schema_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("version points at missing schema"))
                })?;
            return Ok((v, Arc::new(s)));
        }
        // A new schema meets Accord's stricter checks only where asked: the subject's
        // (or its context's, or the global) `accordStrictSchemas`, and Avro defaults
        // under `normalize`, which Confluent validates then (its parser's
        // validateDefaults follows normalize).
        if let (false, Some(parsed)) = (import, cand.parsed.as_deref()) {
            strict_check(parsed, config_bool(&config, STRICT_SCHEMAS), normalize)?;
        }
        // The stream's contract, if any (and valid CEL rules in every case).
        let contract_level = if import {
            // Imports skip the contract, not the stream-owner rule (checked above).
            None
        } else {
            crate::governance::registration_policy(
                conn,
                actor,
                subject,
                contract.as_ref(),
                input.schema.as_deref(),
                cand.parsed.as_deref(),
                cand.rule_set.as_ref(),
            )
            .await?
        };
        let live: Vec<VersionRecord> = all
            .iter()
            .filter(|(v, _)| !v.deleted)
            .map(|(v, _)| v.clone())
            .collect();

        if input.id.is_some() && !import && mode != "FORWARD" {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {context} is not in import mode"
            )));
        }
        if input.id.is_none() && import {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {context} is in import mode: a registration must give the schema's id"
            )));
        }

        // The id: explicit (IMPORT), the one this schema already has in the subject's
        // context, or the context's next one. Ids are per context (`crate::context`).
        let (id, existing_row) = match input.id {
            Some(id) if id < 1 || id > i32::MAX as i64 => {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid id {id}: ids are between 1 and 2^31-1"
                )))
            }
            Some(public) => {
                let id = crate::context::stored_id(context_no, public);
                match q::schema_row(&mut *conn, id).await? {
                    Some(row) if row.hash != cand.hash => {
                        return Err(ApiError::OperationNotPermitted(format!(
                            "Overwrite new schema with id {public} in context {context} is not permitted."
                        )))
                    }
                    Some(row) => (id, Some(row)),
                    None => (id, None),
                }
            }
            None => match q::id_by_hash_and_max(&mut *conn, &cand.hash, context_no).await? {
                (Some(id), _) => (id, q::schema_row(&mut *conn, id).await?),
                (None, max) => {
                    let next = max + 1;
                    if crate::context::public_id(next) == 0 {
                        return Err(ApiError::InvalidSchema(format!(
                            "Context {context} has used every schema id"
                        )));
                    }
                    (next, None)
                }
            },
        };

        // Compatibility with the live versions, at the effective level (the contract's
        // when the subject belongs to a stream with one).
        let level = contract_level.unwrap_or_else(|| config_level(&config));
        if !import && !force && level != CompatibilityLevel::None {
            if let Some(new) = &cand.parsed {
                let group = config.get("compatibilityGroup").and_then(Value::as_str);
                let (report, olds) = self
                    .check_against(conn, &cand, new, &live, level, group, prepared)
                    .await?;
                if !report.is_compatible() {
                    return Err(ApiError::Incompatible {
                        subject: subject.to_string(),
                        details: confluent_details(
                            &report,
                            level,
                            &olds,
                            config_bool(&config, "validateFields"),
                        ),
                    });
                }
            }
        }

        let max_version = all.last().map_or(0, |(v, _)| v.version);
        let version = match input.version {
            Some(v) if import => {
                if v < 1 || v > i32::MAX as i64 {
                    return Err(ApiError::InvalidSchema(format!("Invalid version {v}")));
                }
                if let Some((existing, _)) = all.iter().find(|(o, _)| o.version == v) {
                    if existing.schema_id != id {
                        return Err(ApiError::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists with another schema"
                        )));
                    }
                }
                v
            }
            // Confluent's words (42201); the next version is max + 1.
            Some(v) if v != 0 && v != max_version + 1 => {
                return Err(ApiError::InvalidSchema(
                    "Version is not one more than previous version".to_string(),
                ))
            }
            _ => max_version + 1,
        };

        // Re-registering a schema whose versions here were soft-deleted: those older
        // soft-deleted versions go (unless something references them).
        let mut removed = Vec::new();
        for (old, _) in &all {
            if old.deleted
                && old.schema_id == id
                && q::referrers(&mut *conn, subject, old.version, true, None)
                    .await?
                    .is_empty()
            {
                q::delete_version(&mut *conn, subject, old.version).await?;
                removed.push(old.version);
            }
        }

        let now = now_ms();
        let record = match existing_row {
            Some(row) => row,
            None => {
                let row = SchemaRecord {
                    id,
                    guid: cand.guid.clone(),
                    hash: cand.hash.clone(),
                    format: cand.format,
                    schema: cand.text.clone(),
                    references: cand.references.clone(),
                    metadata: cand
                        .metadata
                        .as_ref()
                        .and_then(|m| serde_json::to_value(m).ok()),
                    rule_set: cand
                        .rule_set
                        .as_ref()
                        .and_then(|r| serde_json::to_value(r).ok()),
                    created_ms: now,
                };
                q::insert_schema(&mut *conn, &row).await?;
                for r in &row.references {
                    q::insert_ref(&mut *conn, id, r).await?;
                }
                row
            }
        };
        let vrec = VersionRecord {
            subject: subject.to_string(),
            version,
            schema_id: id,
            deleted: false,
            ts: now,
        };
        let exists = all
            .iter()
            .any(|(o, _)| o.version == version && !removed.contains(&o.version));
        if !exists {
            q::insert_version(&mut *conn, &vrec).await?;
        }
        if let Some(action) = action {
            let before = latest.as_ref().map(version_state);
            audit::append(
                w,
                actor,
                action,
                &format!("subject:{subject}"),
                before.as_ref(),
                Some(&version_state(&vrec)),
            )
            .await?;
        }
        let stream_names: Vec<&str> = streams.iter().map(|(n, _)| n.as_str()).collect();
        // The new version is the subject's latest unless an import put it below one.
        let is_latest = live.iter().all(|v| v.version < version);
        crate::outbox::emit_schema_registered_in(
            w,
            subject,
            vrec.version,
            vrec.schema_id,
            &stream_names,
            is_latest.then_some((&record, cand.parsed.as_deref())),
        )
        .await?;
        w.notify(Notice::Subject(subject.to_string()));
        Ok((vrec, Arc::new(record)))
    }

    /// `POST /subjects/{s}/versions/{v}/tags`: a new version of the subject from version
    /// `v` with its schema tags, metadata or rules changed. Registered like any version
    /// (compatibility included), so it is one transaction too. The caller must read
    /// the subject (and an alias's target) before anything is answered; the owner rule
    /// comes before the registration's answer, even for an edit that changes nothing.
    pub async fn modify_tags(
        &self,
        subject: &str,
        sel: VersionSel,
        edit: &TagsInput,
        actor: &Actor,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        crate::governance::check_subject_read(&self.store, actor, subject).await?;
        if edit.rule_set.is_some()
            && (edit.rules_to_merge.is_some() || !edit.rules_to_remove.is_empty())
        {
            return Err(ApiError::InvalidRuleSet(
                "ruleSet cannot be given together with rulesToMerge or rulesToRemove".to_string(),
            ));
        }
        let base = self.get_version(subject, sel, false, actor).await?;
        let schema = self.schema_of(&base).await?;
        if let Some(n) = edit.new_version {
            let expected = q::max_version(self.store.reader(), subject).await? + 1;
            if n != expected {
                return Err(ApiError::VersionConflict(format!(
                    "newVersion {n} is not the next version of subject {subject}: expected {expected}"
                )));
            }
        }
        let text = if edit.tags_to_add.is_empty() && edit.tags_to_remove.is_empty() {
            schema.schema.clone()
        } else if schema.format == SchemaFormat::Avro {
            let (text, add, remove) = (
                schema.schema.clone(),
                edit.tags_to_add.clone(),
                edit.tags_to_remove.clone(),
            );
            self.work
                .sized("editing the schema's tags", text.len(), move || {
                    accord_compat::avro::edit_tags(&text, &add, &remove)
                })
                .await?
                .map_err(|e| ApiError::InvalidSchema(e.message))?
        } else {
            return Err(ApiError::InvalidSchema(format!(
                "Editing inline tags of {} schemas is not supported yet; tag fields through metadata.tags",
                schema.format
            )));
        };
        let mut rule_set = match &edit.rule_set {
            Some(v) => RuleSet::from_json(Some(v)).map_err(|e| ApiError::InvalidRuleSet(e.0))?,
            None => RuleSet::from_json(schema.rule_set.as_ref())
                .map_err(|e| ApiError::InvalidRuleSet(e.0))?,
        };
        if let Some(merge) = &edit.rules_to_merge {
            let merge =
                RuleSet::from_json(Some(merge)).map_err(|e| ApiError::InvalidRuleSet(e.0))?;
            if let Some(merge) = merge {
                rule_set = Some(rule_set.unwrap_or_default().merge(&merge));
            }
        }
        if !edit.rules_to_remove.is_empty() {
            if let Some(rs) = &mut rule_set {
                for list in [
                    &mut rs.migration_rules,
                    &mut rs.domain_rules,
                    &mut rs.encoding_rules,
                ] {
                    list.retain(|r| {
                        r.name
                            .as_ref()
                            .is_none_or(|n| !edit.rules_to_remove.contains(n))
                    });
                }
            }
        }
        let input = SchemaInput {
            schema: Some(text),
            schema_type: Some(schema.format.as_str().to_string()),
            references: schema
                .references
                .iter()
                .map(|r| ReferenceInput {
                    name: Some(r.name.clone()),
                    subject: Some(r.subject.clone()),
                    version: Some(r.version),
                })
                .collect(),
            metadata: Some(
                edit.metadata
                    .clone()
                    .or_else(|| schema.metadata.clone())
                    .unwrap_or(Value::Null),
            ),
            rule_set: Some(
                rule_set
                    .filter(|r| !r.is_empty())
                    .map(|r| serde_json::to_value(r).map_err(ApiError::internal))
                    .transpose()?
                    .unwrap_or(Value::Null),
            ),
            version: edit.new_version,
            id: None,
        };
        self.register_as(subject, input, false, false, actor.name(), "subject.tags")
            .await
    }

    /// Runs the compatibility check of `cand` (parsed: `new`) against `live`
    /// (ascending) at `level`. With `prepared`, a check it holds for the same inputs is
    /// reused, and a new one is kept there.
    #[allow(clippy::too_many_arguments)]
    async fn check_against(
        &self,
        conn: &mut sqlx::AnyConnection,
        cand: &Candidate,
        new: &Arc<ParsedSchema>,
        live: &[VersionRecord],
        level: CompatibilityLevel,
        group: Option<&str>,
        prepared: Option<&mut Prepared>,
    ) -> Result<(Report, Vec<(i64, Arc<ParsedSchema>)>), ApiError> {
        let rows = self
            .compared_rows(conn, live, level, group, cand.metadata.as_ref())
            .await?;
        let compared = self.parse_compared(rows).await?;
        let olds: Vec<(i64, Arc<ParsedSchema>)> =
            compared.iter().map(|(v, _, s)| (*v, s.clone())).collect();
        let report = self
            .check_parsed(cand, new, compared, level, prepared)
            .await?;
        Ok((report, olds))
    }

    /// The versions of `live` (ascending) a check at `level` compares with, oldest
    /// first: those of the new schema's `compatibilityGroup` value only, and only the
    /// latest unless the level is transitive. Reads the database; parses nothing.
    async fn compared_rows(
        &self,
        conn: &mut sqlx::AnyConnection,
        live: &[VersionRecord],
        level: CompatibilityLevel,
        group: Option<&str>,
        new_metadata: Option<&Metadata>,
    ) -> Result<Vec<ComparedRow>, ApiError> {
        let group_value =
            |m: Option<&Metadata>| group.and_then(|g| m.and_then(|m| m.properties.get(g).cloned()));
        let new_group = group_value(new_metadata);
        // Only as many versions as the level compares are parsed.
        let transitive = matches!(
            level,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        );
        let mut rows: Vec<ComparedRow> = Vec::new();
        for v in live.iter().rev() {
            let row = match self.cache.schema(v.schema_id) {
                Some(r) => r,
                None => {
                    let row = q::schema_row(&mut *conn, v.schema_id)
                        .await?
                        .ok_or_else(|| {
                            ApiError::internal(anyhow::anyhow!("version points at missing schema"))
                        })?;
                    // Live (a version points at it), so it may serve id lookups too.
                    let row = Arc::new(row);
                    self.cache.put_schema(row.clone());
                    row
                }
            };
            if group.is_some() {
                let meta = Metadata::from_json(row.metadata.as_ref()).ok().flatten();
                if group_value(meta.as_ref()) != new_group {
                    continue;
                }
            }
            let parsed = match self.cache.parsed(row.id) {
                Some(p) => Ok(p),
                None => Err(Self::stored_refs(conn, &row).await?),
            };
            rows.push((v.version, row, parsed));
            if !transitive {
                break;
            }
        }
        rows.reverse();
        Ok(rows)
    }

    /// The parsed schemas of `rows` (cached, or parsed now): (version, id, schema).
    async fn parse_compared(
        &self,
        rows: Vec<ComparedRow>,
    ) -> Result<Vec<(i64, i64, Arc<ParsedSchema>)>, ApiError> {
        let mut parsed = Vec::with_capacity(rows.len());
        for (version, row, schema) in rows {
            let schema = match schema {
                Ok(p) => p,
                Err(refs) => self.parse_stored(&row, refs).await?,
            };
            parsed.push((version, row.id, schema));
        }
        Ok(parsed)
    }

    /// The compatibility check of `cand` (parsed: `new`) against `parsed` (version, id,
    /// schema; oldest first) at `level`, on the heavy-work lanes; with `prepared`, a
    /// check it holds for the same inputs is reused, and a new one is kept there.
    async fn check_parsed(
        &self,
        cand: &Candidate,
        new: &Arc<ParsedSchema>,
        parsed: Vec<(i64, i64, Arc<ParsedSchema>)>,
        level: CompatibilityLevel,
        prepared: Option<&mut Prepared>,
    ) -> Result<Report, ApiError> {
        let key = {
            let mut h = Sha256::new();
            h.update(cand.parse_key);
            h.update(level.as_str().as_bytes());
            for (version, id, _) in &parsed {
                h.update(version.to_be_bytes());
                h.update(id.to_be_bytes());
            }
            <[u8; 32]>::from(h.finalize())
        };
        if let Some((_, done)) = prepared
            .as_ref()
            .and_then(|p| p.check.as_ref())
            .filter(|(k, _)| *k == key)
        {
            return done.clone().map_err(ApiError::SchemaTooComplex);
        }
        let existing = parsed
            .into_iter()
            .map(|(version, _, schema)| (version as i32, schema))
            .collect();
        let result = self.work.check(level, new.clone(), existing).await;
        if let Some(p) = prepared {
            match &result {
                Ok(report) => p.check = Some((key, Ok(report.clone()))),
                Err(ApiError::SchemaTooComplex(m)) => p.check = Some((key, Err(m.clone()))),
                Err(_) => {}
            }
        }
        result
    }

    /// Commits `w` and applies its notices to this node's caches.
    pub(crate) async fn commit_write(&self, w: WriteTx) -> Result<(), ApiError> {
        self.commit(w).await
    }

    async fn commit(&self, w: WriteTx) -> Result<(), ApiError> {
        let notices = w.commit().await?;
        for n in &notices {
            self.cache.apply(n);
        }
        Ok(())
    }

    // ---- lookup and compatibility tests ----

    /// `POST /subjects/{s}`: the version of this subject that holds this schema. An
    /// alias is followed only once `reader` is found to read its target.
    pub async fn lookup(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let versions = q::versions(&mut *conn, subject, include_deleted).await?;
        if versions.is_empty() {
            drop(conn);
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return Box::pin(self.lookup(&target, input, normalize, include_deleted, reader))
                    .await;
            }
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        let config = self.effective_config(self.store.reader(), subject).await?;
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(&mut conn, input, true, subject).await?;
        drop(conn);
        let cand = self
            .candidate(unparsed, input, normalize, false, None)
            .await?;
        let mut loose = None;
        for v in versions.iter().rev() {
            let row = self.schema_row(v.schema_id).await?;
            if row.hash == cand.hash {
                return Ok((v.clone(), row));
            }
            // A request without metadata/ruleSet still finds a version that carries
            // them (Confluent's looser lookup).
            if loose.is_none()
                && input.metadata.is_none()
                && input.rule_set.is_none()
                && row.schema == cand.text
                && row.references == cand.references
            {
                loose = Some((v.clone(), row));
            }
        }
        loose.ok_or(ApiError::SchemaNotFoundUnderSubject)
    }

    /// `POST /compatibility/subjects/{s}/versions[/{v}]`.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        sel: Option<VersionSel>,
        input: &SchemaInput,
        normalize: bool,
        verbose: bool,
    ) -> Result<CompatOutcome, ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let live = q::versions(&mut *conn, subject, false).await?;
        let compared: Vec<VersionRecord> = match sel {
            None => live.clone(),
            Some(VersionSel::Latest) => live.last().cloned().into_iter().collect(),
            Some(VersionSel::Number(n)) => match live.iter().find(|v| v.version == n) {
                Some(v) => vec![v.clone()],
                None => return Err(ApiError::VersionNotFound(n.to_string())),
            },
        };
        let config = self.effective_config(self.store.reader(), subject).await?;
        let normalize = normalize || config_bool(&config, "normalize");
        let invalid = |e: ApiError| match e {
            ApiError::InvalidSchema(msg) if verbose => Ok(CompatOutcome {
                compatible: false,
                messages: vec![msg],
                incompatibilities: Vec::new(),
                warnings: Vec::new(),
            }),
            e => Err(e),
        };
        let unparsed = match Self::unparsed(&mut conn, input, false, subject).await {
            Ok(u) => u,
            Err(e) => return invalid(e),
        };
        // At the stream contract's level when the subject belongs to a stream with one
        // (what registration would apply), else the subject's configured level.
        let level = match crate::governance::contract_level(&mut conn, subject).await? {
            Some(level) => level,
            None => config_level(&config),
        };
        let checked = !compared.is_empty() && level != CompatibilityLevel::None;
        let group = config.get("compatibilityGroup").and_then(Value::as_str);
        let rows = match checked {
            true => {
                let new_metadata = Metadata::from_json(input.metadata.as_ref()).ok().flatten();
                self.compared_rows(&mut conn, &compared, level, group, new_metadata.as_ref())
                    .await?
            }
            false => Vec::new(),
        };
        // Everything is read: the parse and the check hold no connection.
        drop(conn);
        let cand = match self
            .candidate(unparsed, input, normalize, false, None)
            .await
        {
            Ok(c) => c,
            Err(e) => return invalid(e),
        };
        let Some(new) = &cand.parsed else {
            return Err(ApiError::InvalidSchema("Invalid schema".to_string()));
        };
        let warnings = new.warnings().to_vec();
        if !checked {
            return Ok(CompatOutcome {
                compatible: true,
                messages: Vec::new(),
                incompatibilities: Vec::new(),
                warnings,
            });
        }
        let compared = self.parse_compared(rows).await?;
        let olds: Vec<(i64, Arc<ParsedSchema>)> =
            compared.iter().map(|(v, _, s)| (*v, s.clone())).collect();
        let report = self.check_parsed(&cand, new, compared, level, None).await?;
        let messages = confluent_details(
            &report,
            level,
            &olds,
            config_bool(&config, "validateFields"),
        );
        Ok(CompatOutcome {
            compatible: report.is_compatible(),
            messages,
            incompatibilities: report.incompatibilities,
            warnings,
        })
    }

    // ---- deletes ----

    fn readonly_check(mode: &str, subject: &str) -> Result<(), ApiError> {
        if is_readonly(mode) {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {} is in read-only mode",
                crate::context::of(subject)
            )));
        }
        Ok(())
    }

    /// `DELETE /subjects/{s}`: returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
        actor: &str,
    ) -> Result<Vec<i64>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let all = q::versions(&mut *conn, subject, true).await?;
        if all.is_empty() {
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let live: Vec<&VersionRecord> = all.iter().filter(|v| !v.deleted).collect();
        let deleted = if permanent {
            if !live.is_empty() {
                return Err(ApiError::SubjectNotSoftDeleted(subject.to_string()));
            }
            for v in &all {
                ensure_unreferenced(&mut *conn, subject, v.version, true, Some(subject)).await?;
            }
            for v in &all {
                q::delete_version(&mut *conn, subject, v.version).await?;
            }
            q::delete_config(&mut *conn, subject).await?;
            q::delete_mode(&mut *conn, subject).await?;
            w.notify(Notice::Schemas);
            all.iter().map(|v| v.version).collect()
        } else {
            if live.is_empty() {
                return Err(ApiError::SubjectSoftDeleted(subject.to_string()));
            }
            for v in &live {
                ensure_unreferenced(&mut *conn, subject, v.version, false, Some(subject)).await?;
            }
            for v in &live {
                q::set_version_deleted(&mut *conn, subject, v.version).await?;
            }
            live.iter().map(|v| v.version).collect()
        };
        let before = Value::Array(all.iter().map(version_state).collect());
        let after = (!permanent).then(|| {
            Value::Array(
                all.iter()
                    .map(|v| {
                        version_state(&VersionRecord {
                            deleted: true,
                            ..v.clone()
                        })
                    })
                    .collect(),
            )
        });
        let action = if permanent {
            "subject.delete_permanent"
        } else {
            "subject.delete"
        };
        audit::append(
            &mut w,
            actor,
            action,
            &format!("subject:{subject}"),
            Some(&before),
            after.as_ref(),
        )
        .await?;
        // The catalog forgets the deleted versions' fields in the same transaction.
        crate::catalog::on_change(&mut w, None, Some(subject)).await?;
        w.notify(Notice::Subject(subject.to_string()));
        self.commit(w).await?;
        Ok(deleted)
    }

    /// `DELETE /subjects/{s}/versions/{v}`: returns the version deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        sel: VersionSel,
        permanent: bool,
        actor: &str,
    ) -> Result<i64, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        if q::latest_version(&mut *conn, subject, true)
            .await?
            .is_none()
        {
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let target = match sel {
            VersionSel::Latest => q::latest_version(&mut *conn, subject, permanent).await?,
            VersionSel::Number(n) => q::version(&mut *conn, subject, n).await?,
        };
        let label = match sel {
            VersionSel::Latest => "latest".to_string(),
            VersionSel::Number(n) => n.to_string(),
        };
        let v = target.ok_or(ApiError::VersionNotFound(label))?;
        if permanent {
            if !v.deleted {
                return Err(ApiError::VersionNotSoftDeleted(
                    subject.to_string(),
                    v.version,
                ));
            }
            ensure_unreferenced(&mut *conn, subject, v.version, true, None).await?;
            q::delete_version(&mut *conn, subject, v.version).await?;
            w.notify(Notice::Schemas);
        } else {
            if v.deleted {
                return Err(ApiError::VersionSoftDeleted(subject.to_string(), v.version));
            }
            ensure_unreferenced(&mut *conn, subject, v.version, false, None).await?;
            q::set_version_deleted(&mut *conn, subject, v.version).await?;
        }
        let after = (!permanent).then(|| {
            version_state(&VersionRecord {
                deleted: true,
                ..v.clone()
            })
        });
        let action = if permanent {
            "version.delete_permanent"
        } else {
            "version.delete"
        };
        audit::append(
            &mut w,
            actor,
            action,
            &format!("subject:{subject}/version:{}", v.version),
            Some(&version_state(&v)),
            after.as_ref(),
        )
        .await?;
        // The catalog forgets the deleted versions' fields in the same transaction.
        crate::catalog::on_change(&mut w, None, Some(subject)).await?;
        w.notify(Notice::Subject(subject.to_string()));
        self.commit(w).await?;
        Ok(v.version)
    }

    // ---- config and mode writes ----

    /// `PUT /config[/{s}]`: returns the merged config.
    pub async fn put_config(
        &self,
        subject: &str,
        body: &Map<String, Value>,
        actor: &str,
    ) -> Result<Map<String, Value>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        // Confluent checks the mode in scope here, the global mode included (42205).
        Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        let old = q::config(&mut *conn, subject).await?;
        let new = apply_config_update(old.as_ref(), body)?;
        let new_value = Value::Object(new.clone());
        q::put_config(&mut *conn, subject, &new_value).await?;
        audit::append(
            &mut w,
            actor,
            "config.put",
            &scoped("config", subject),
            old.as_ref(),
            Some(&new_value),
        )
        .await?;
        w.notify(if is_scope_wide(subject) {
            Notice::Global
        } else {
            Notice::Subject(subject.to_string())
        });
        self.commit(w).await?;
        Ok(new)
    }

    /// `DELETE /config[/{s}]`: returns the config that was there.
    pub async fn delete_config(
        &self,
        subject: &str,
        actor: &str,
    ) -> Result<Option<Value>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        if subject != GLOBAL {
            Self::readonly_check(&Self::effective_mode(conn, subject).await?, subject)?;
        }
        let old = q::config(&mut *conn, subject).await?;
        q::delete_config(&mut *conn, subject).await?;
        if let Some(old) = &old {
            audit::append(
                &mut w,
                actor,
                "config.delete",
                &scoped("config", subject),
                Some(old),
                None,
            )
            .await?;
        }
        w.notify(Notice::Global);
        self.commit(w).await?;
        Ok(old)
    }

    /// `PUT /mode[/{s}]`.
    pub async fn put_mode(
        &self,
        subject: &str,
        mode: &str,
        force: bool,
        actor: &str,
    ) -> Result<String, ApiError> {
        let mode = mode.trim().to_ascii_uppercase();
        if !MODES.contains(&mode.as_str()) {
            return Err(ApiError::InvalidMode);
        }
        if mode == "FORWARD" && subject != GLOBAL {
            return Err(ApiError::InvalidMode);
        }
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let current = q::mode(&mut *conn, subject).await?;
        let mut purged = false;
        if mode == "IMPORT" && current.as_deref() != Some("IMPORT") {
            // The mode's scope: everything, one context (`:.ctx:`) or one subject.
            let context = crate::context::of(subject).to_string();
            let in_scope = |s: &str| {
                subject == GLOBAL
                    || s == subject
                    || (is_scope_wide(subject) && crate::context::of(s) == context)
            };
            let live = q::subjects(&mut *conn, false, false).await?;
            if !force && live.iter().any(|s| in_scope(s)) {
                return Err(ApiError::OperationNotPermitted(
                    "Cannot import since found existing subjects".to_string(),
                ));
            }
            // Imports bring their own versions: soft-deleted ones in scope go first
            // (confluent-compat.md §9.4), unless something references them.
            let soft: Vec<VersionRecord> = q::all_versions(&mut *conn, true)
                .await?
                .into_iter()
                .filter(|v| v.deleted && in_scope(&v.subject))
                .collect();
            for v in &soft {
                ensure_unreferenced(&mut *conn, &v.subject, v.version, true, None).await?;
                q::delete_version(&mut *conn, &v.subject, v.version).await?;
            }
            purged = !soft.is_empty();
            if purged {
                let before = Value::Array(soft.iter().map(version_state).collect());
                audit::append(
                    &mut w,
                    actor,
                    "mode.import_purge",
                    &scoped("mode", subject),
                    Some(&before),
                    None,
                )
                .await?;
            }
        }
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        q::put_mode(&mut *conn, subject, &mode).await?;
        audit::append(
            &mut w,
            actor,
            "mode.put",
            &scoped("mode", subject),
            current.map(Value::String).as_ref(),
            Some(&Value::String(mode.clone())),
        )
        .await?;
        if purged {
            w.notify(Notice::Schemas);
        }
        w.notify(Notice::Global);
        self.commit(w).await?;
        Ok(mode)
    }

    /// `DELETE /mode[/{s}]`: returns the mode that was there.
    pub async fn delete_mode(
        &self,
        subject: &str,
        recursive: bool,
        actor: &str,
    ) -> Result<Option<String>, ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        crate::governance::check_subject_owner(conn, actor, subject).await?;
        let old = q::mode(&mut *conn, subject).await?;
        let recursive = subject == GLOBAL && recursive;
        if recursive {
            q::delete_all_modes(&mut *conn).await?;
        } else {
            q::delete_mode(&mut *conn, subject).await?;
        }
        if old.is_some() || recursive {
            let target = if recursive {
                "mode (recursive)".to_string()
            } else {
                scoped("mode", subject)
            };
            audit::append(
                &mut w,
                actor,
                "mode.delete",
                &target,
                old.clone().map(Value::String).as_ref(),
                None,
            )
            .await?;
        }
        w.notify(Notice::Global);
        self.commit(w).await?;
        Ok(old)
    }
}

impl Registry {
    /// `DELETE /contexts/{ctx}`: forgets a context that holds no subject (soft-deleted
    /// ones included: 42211), with its context-level and subject-level settings. The
    /// default context always exists; deleting it succeeds only while it is empty.
    pub async fn delete_context(&self, context: &str, actor: &str) -> Result<(), ApiError> {
        let mut w = self.store.begin_write().await?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        let prefix = crate::context::prefix(context);
        let subjects = q::subjects(&mut *conn, true, false).await?;
        let held = subjects.iter().any(|s| crate::context::of(s) == context);
        if context == crate::context::DEFAULT {
            if held {
                return Err(ApiError::ContextNotEmpty(context.to_string()));
            }
            return Ok(());
        }
        if crate::context::number(&mut *conn, context).await?.is_none() {
            return Err(ApiError::SubjectNotFound(context.to_string()));
        }
        if held {
            return Err(ApiError::ContextNotEmpty(context.to_string()));
        }
        for table in ["configs", "modes"] {
            let sql = format!(
                "DELETE FROM {table} WHERE substr(subject, 1, {}) = $1",
                prefix.chars().count()
            );
            sqlx::query(&sql).bind(&prefix).execute(&mut *conn).await?;
        }
        crate::context::remove(conn, context).await?;
        audit::append(
            &mut w,
            actor,
            "context.delete",
            &format!("context:{context}"),
            Some(&Value::String(context.to_string())),
            None,
        )
        .await?;
        w.notify(Notice::Global);
        self.commit(w).await?;
        Ok(())
    }
}

/// The audited state of one version.
fn version_state(v: &VersionRecord) -> Value {
    serde_json::json!({
        "subject": v.subject,
        "version": v.version,
        "id": crate::context::public_id(v.schema_id),
        "deleted": v.deleted,
    })
}

/// An audit target for global (`kind`) or subject-level (`kind:subject`) settings.
fn scoped(kind: &str, subject: &str) -> String {
    if subject == GLOBAL {
        kind.to_string()
    } else {
        format!("{kind}:{subject}")
    }
}

/// 42206 unless no schema (used by a live version, or by any version when
/// `include_deleted`) outside `except_subject` references `subject` `version`.
async fn ensure_unreferenced(
    conn: &mut sqlx::AnyConnection,
    subject: &str,
    version: i64,
    include_deleted: bool,
    except_subject: Option<&str>,
) -> Result<(), ApiError> {
    if q::referrers(conn, subject, version, include_deleted, except_subject)
        .await?
        .is_empty()
    {
        Ok(())
    } else {
        Err(ApiError::ReferenceExists {
            subject: subject.to_string(),
            version,
        })
    }
}

/// `merge(merge(default, specific), override)` for metadata or ruleSet given as JSON.
fn merge_layers<T>(
    default: Option<&Value>,
    specific: Option<&Value>,
    overrides: Option<&Value>,
    merge: impl Fn(&T, &T) -> T,
) -> Result<Option<Value>, ApiError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Default,
{
    let read = |v: Option<&Value>| -> Result<Option<T>, ApiError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ApiError::InvalidSchema(format!("Invalid metadata or ruleSet: {e}"))),
        }
    };
    let layers = [read(default)?, read(specific)?, read(overrides)?];
    if layers.iter().all(Option::is_none) {
        return Ok(None);
    }
    let merged = layers
        .iter()
        .flatten()
        .fold(T::default(), |acc, layer| merge(&acc, layer));
    serde_json::to_value(merged)
        .map(Some)
        .map_err(ApiError::internal)
}

/// Depth-first closure of references, dependencies before dependents, each name once.
fn resolve_closure<'a>(
    conn: &'a mut sqlx::AnyConnection,
    refs: &'a [SchemaReference],
    allow_deleted: bool,
    depth: usize,
    seen: &'a mut HashSet<String>,
    out: &'a mut Vec<Reference>,
) -> futures::future::BoxFuture<'a, Result<(), ApiError>> {
    Box::pin(async move {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(ApiError::InvalidSchema(format!(
                "Invalid reference: references nest deeper than {MAX_REFERENCE_DEPTH} levels (a cycle?)"
            )));
        }
        for r in refs {
            if seen.contains(&r.name) {
                continue;
            }
            let v = q::version(&mut *conn, &r.subject, r.version)
                .await?
                .filter(|v| allow_deleted || !v.deleted)
                .ok_or_else(|| {
                    ApiError::InvalidSchema(format!(
                        "Invalid reference {}: subject '{}' version {} not found",
                        r.name, r.subject, r.version
                    ))
                })?;
            let row = q::schema_row(&mut *conn, v.schema_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("version points at missing schema"))
                })?;
            seen.insert(r.name.clone());
            resolve_closure(conn, &row.references, allow_deleted, depth + 1, seen, out).await?;
            out.push(Reference::new(r.name.clone(), row.schema.clone()));
        }
        Ok(())
    })
}
