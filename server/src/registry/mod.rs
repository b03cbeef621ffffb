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
//!
//! This module owns the [`Registry`] itself, the inputs it takes, subject and version
//! validation and what its parts share; the `impl Registry` is spread over one file per
//! concern: `reads` (the reading paths and their caches), `register` (registration
//! and tag edits), `compat` (compatibility checks and tests), `deletes` (subjects,
//! versions, contexts) and `settings` (config and mode).

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

mod compat;
mod deletes;
mod reads;
mod register;
mod settings;

use compat::strict_check;
pub use compat::{confluent_details, CompatOutcome};
pub use settings::{
    apply_config_update, echo_config, merge_config, present_config, CONFIG_KEYS, STRICT_SCHEMAS,
};
use settings::{config_bool, config_level, is_readonly, layered};

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
    /// The subject (an alias's target) and its state once the registration's
    /// transaction commits: the next registration's hint ([`crate::cache`]).
    after: Option<(String, crate::storage::SubjectState)>,
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

impl Registry {
    /// The registry over `store`, whose commits (every writer's) apply their notices
    /// to `cache` before the writers answer.
    pub fn new(store: Store, cache: Caches) -> Self {
        let cache = Arc::new(cache);
        let sink = cache.clone();
        store.set_notice_sink(Arc::new(move |n| sink.apply(n)));
        Registry {
            store,
            cache,
            work: HeavyWork::default(),
        }
    }

    /// This registry with `work`'s limits for parsing and compatibility checks.
    pub fn with_work(self, work: HeavyWork) -> Self {
        Registry { work, ..self }
    }

    /// Commits `w`; its notices reach this node's caches through the store's notice
    /// sink (see [`Registry::new`]) before this returns.
    pub(crate) async fn commit_write(&self, w: WriteTx) -> Result<(), ApiError> {
        w.commit().await?;
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
