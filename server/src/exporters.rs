//! Schema exporters (Schema Linking): Confluent's `/exporters` API, and the worker that
//! keeps a destination registry in sync with this one, schema ids and version numbers
//! preserved.
//!
//! # What Confluent defines, and where it was read
//!
//! The exporter itself is part of Confluent's commercial plugins: the public
//! `confluentinc/schema-registry` repository has no `ExporterResource` (its
//! `core/.../rest/resources/` and `core/.../rest/exceptions/Errors.java`, and the client's
//! `client/.../rest/RestService.java`, were read: no exporter there). The API is
//! published in Confluent Cloud's OpenAPI document and its generated client, which were
//! read instead:
//!
//! * `confluentinc/ccloud-sdk-go-v2`, `schema-registry/v1/api/openapi.yaml` (the
//!   `/exporters` paths and their error codes), `schema-registry/v1/docs/ExportersV1Api.md`
//!   and `schema-registry/v1/model_exporter_status_response.go`;
//! * docs.confluent.io, "Creates a new schema exporter", "Update schema exporter by name",
//!   "Reset/Resume ... by name" (the same codes), and the `confluent schema-registry
//!   exporter create` reference (the defaults: subjects `[*]`, subject format
//!   `${subject}`, context type AUTO).
//!
//! The routes: `GET`/`POST /exporters`, `GET`/`PUT`/`DELETE /exporters/{name}`,
//! `PUT /exporters/{name}/pause|resume|reset`, `GET /exporters/{name}/status`,
//! `GET`/`PUT /exporters/{name}/config`. Bodies (`ExporterReference`): `name`, `subjects`,
//! `subjectRenameFormat` (`${subject}` stands for the source subject's name),
//! `contextType` (`AUTO`, the default, `CUSTOM` or `NONE`), `context` (CUSTOM only) and
//! `config`, a map of strings (`schema.registry.url`, `basic.auth.credentials.source`,
//! `basic.auth.user.info`, `bearer.auth.credentials.source`, `bearer.auth.token`). Create,
//! update, pause, resume, reset and the config update answer `{"name": ...}`
//! (`ExporterResponse`); the listing is an array of names; `/status` is
//! `{name, state, offset, ts, trace}` with state STARTING, RUNNING, PAUSED (and ERROR);
//! `DELETE` answers 204. Error codes: 40450 exporter not found (404); 409 for 40950
//! missing or invalid name, 40951 missing or invalid config, 40952 invalid subjects,
//! 40960 already exists, 40961 already running (resume), 40963 not paused (update, config
//! update, reset), 40964 too many exporters.
//!
//! Not published, so chosen here (and said in the README): a pause of a paused exporter
//! is answered 200 and changes nothing (Confluent documents no "already paused" code);
//! an unknown `contextType`, or a CUSTOM one without `context`, is 40951 (the exporter's
//! configuration); a `subjectRenameFormat` without `${subject}` is 40952. `subjects`
//! selects: a subject (`orders-value`, `:.eu:orders-value`), `*` (every subject of the
//! default context), `:.ctx:*` (every subject of context `.ctx`) and `:*:*` (every
//! subject of every context); absent or empty means `["*"]`.
//!
//! Where a subject goes ([`Mapping`]): its name in its context is renamed by
//! `subjectRenameFormat`; the context is, for NONE, the source subject's own (the default
//! context stays the default one); for CUSTOM, `context`, followed by the source context
//! when that is not the default (`.dr` + `.eu` = `.dr.eu`); for AUTO the same with a
//! context named after this registry, `.lsrc-<registry id>` (Confluent names it after the
//! source cluster's id; the registry id is random, made once, in `exporter_settings`).
//!
//! # Secrets
//!
//! `basic.auth.user.info`, `bearer.auth.token`, any key naming a password, secret or
//! token, and the password in a `schema.registry.url` are secrets. Confluent stores them
//! (encrypted with its password encoder) and answers the config as it was set; Accord
//! stores them in clear (the exporter has to send them; webhook secrets are kept the same
//! way) and never answers or logs them: `GET .../config` and `GET /exporters/{name}` show
//! them masked ([`MASK`]), the audit log records masked configs, and error traces name
//! URLs without their user info. A masked value sent back (GET, edit, PUT) keeps the
//! stored secret.
//!
//! # The worker
//!
//! [`run`] looks at the exporters every [`POLL`]. An exporter that is not paused and has
//! something to do is claimed with a lease (`lease_owner`, `lease_until_ms`, [`LEASE`]) in
//! a short write transaction: several nodes on one PostgreSQL run each exporter on one
//! node at a time, and another node takes over when a lease expires. A pass ([`Pass`])
//! compares the selected source versions with what the exporter has pushed
//! (`exporter_versions`), and pushes the difference in registration order, references
//! first (a referenced subject is exported too, even when it is not selected): the
//! destination subject is put in IMPORT mode once (`PUT /mode/{s}?force=true`), then each
//! version is looked up there (`GET /subjects/{s}/versions/{v}?deleted=true`) and
//! registered with its `id` and `version` unless it is there already, soft deletes are
//! repeated, and versions deleted permanently here are deleted there. Each pushed version
//! is recorded in its own transaction, only while the exporter is still of the same
//! generation, not paused and leased to this node, which is also checked before every
//! push: a pause, resume, reset, update or delete on any node takes effect before the
//! next push. A failure sets ERROR with its trace and the pass is retried after an
//! exponential backoff ([`backoff`]). Every wait is bounded: HTTP calls by [`TIMEOUT`], a
//! pass by [`PASS_BUDGET`] (it continues at the next tick), the database by the store's
//! own bounds. An idle exporter costs one small aggregate query a tick (a fingerprint of
//! `subject_versions`); a full comparison runs only when it changed.
//!
//! Destinations may be loopback or private addresses: a destination registry is usually
//! internal, and only admins create exporters. Link-local (cloud metadata), multicast,
//! broadcast and unspecified addresses are refused: literal ones at creation, names at
//! every connection ([`NoLinkLocal`]). No proxy from the environment, no redirects.

use crate::audit;
use crate::auth::Actor;
use crate::context;
use crate::error::ApiError;
use crate::registry::now_ms;
use crate::storage::{q, Store};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use utoipa::ToSchema;

/// How often the worker looks at the exporters.
pub const POLL: Duration = Duration::from_secs(1);
/// How long a node's claim on an exporter lasts; renewed when less than half is left.
pub const LEASE: Duration = Duration::from_secs(20);
/// The HTTP timeout of one call to a destination.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The connect timeout of one call to a destination.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A pass stops pushing after this long (the push under way finishes) and the next tick
/// continues, with a fresh look at the source. The lease does not depend on it: the
/// worker renews the lease of a running pass every tick it needs to.
pub const PASS_BUDGET: Duration = Duration::from_secs(8);
/// The wait after the first failed pass; doubled after each next one.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest wait between two failed passes.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Passes of different exporters running at once on one node.
const CONCURRENT_PASSES: usize = 4;
/// How many exporters may exist (Confluent answers 40964 past its limit).
pub const MAX_EXPORTERS: i64 = 64;
/// The longest error trace kept.
const MAX_TRACE: usize = 2000;
/// The largest response body read from a destination.
const MAX_RESPONSE: usize = 1 << 20;
/// How deep references are followed before a pass calls it a cycle.
const MAX_REFERENCE_DEPTH: usize = 32;
/// What a secret looks like in an answer.
pub const MASK: &str = "********";

type R<T> = Result<T, ExporterError>;

// ---- errors ----

/// What the exporter API answers besides [`ApiError`]: Confluent's exporter codes, in
/// one table ([`ExporterError::status_and_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("Exporter '{0}' not found.")]
    NotFound(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidSubjects(String),
    #[error("Exporter '{0}' already exists.")]
    Exists(String),
    #[error(
        "Exporter '{0}' is already running: only a paused (or failing) exporter can be resumed."
    )]
    AlreadyRunning(String),
    #[error("Exporter '{0}' is not paused: pause it first (PUT /exporters/{0}/pause).")]
    NotPaused(String),
    #[error("Too many exporters: at most {0} may exist; delete one first.")]
    TooMany(i64),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl ExporterError {
    /// The one table: (HTTP status, Confluent `error_code`).
    pub fn status_and_code(&self) -> (StatusCode, u32) {
        use ExporterError::*;
        match self {
            NotFound(_) => (StatusCode::NOT_FOUND, 40450),
            InvalidName(_) => (StatusCode::CONFLICT, 40950),
            InvalidConfig(_) => (StatusCode::CONFLICT, 40951),
            InvalidSubjects(_) => (StatusCode::CONFLICT, 40952),
            Exists(_) => (StatusCode::CONFLICT, 40960),
            AlreadyRunning(_) => (StatusCode::CONFLICT, 40961),
            NotPaused(_) => (StatusCode::CONFLICT, 40963),
            TooMany(_) => (StatusCode::CONFLICT, 40964),
            Api(e) => e.status_and_code(),
        }
    }
}

impl From<sqlx::Error> for ExporterError {
    fn from(e: sqlx::Error) -> Self {
        ExporterError::Api(e.into())
    }
}

// ---- the API's bodies ----

/// `POST /exporters`: Confluent's `ExporterReference`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExporterInput {
    /// The exporter's name: letters, digits, `.`, `_` and `-`, at most 255.
    #[serde(default)]
    pub name: Option<String>,
    /// What to export: subjects, `*` (the default context), `:.ctx:*` (a context) or
    /// `:*:*` (every context). Default `["*"]`.
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    /// The destination subject's name, `${subject}` standing for the source's.
    #[serde(default)]
    pub subject_rename_format: Option<String>,
    /// `AUTO` (default), `CUSTOM` or `NONE`.
    #[serde(default)]
    pub context_type: Option<String>,
    /// The destination context of a CUSTOM exporter.
    #[serde(default)]
    pub context: Option<String>,
    /// The destination: `schema.registry.url` and its credentials.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Map<String, Value>>,
    /// Exporting KEKs and DEKs: not supported (must be absent).
    #[serde(default)]
    pub kek_rename_format: Option<String>,
}

/// `PUT /exporters/{name}`: Confluent's `ExporterUpdateRequest`; what is given changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExporterUpdate {
    /// Accepted when it is the exporter's own name (a GET body sent back).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    #[serde(default)]
    pub subject_rename_format: Option<String>,
    #[serde(default)]
    pub context_type: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    /// Merged into the stored config (a key set to null is removed).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Map<String, Value>>,
    #[serde(default)]
    pub kek_rename_format: Option<String>,
}

/// What create, update, pause, resume, reset and the config update answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExporterName {
    pub name: String,
}

/// `GET /exporters/{name}`: the exporter, its secrets masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExporterInfo {
    pub name: String,
    pub subjects: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_rename_format: Option<String>,
    pub context_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub config: BTreeMap<String, String>,
}

/// `GET /exporters/{name}/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExporterStatus {
    pub name: String,
    /// STARTING, RUNNING, PAUSED or ERROR.
    pub state: String,
    /// How many versions are in sync at the destination.
    pub offset: i64,
    /// When the state last changed, or the last version was pushed (ms since the epoch).
    pub ts: i64,
    /// Why the last pass failed (ERROR only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

// ---- the exporter's definition ----

/// Where the destination's subjects go (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextType {
    Auto,
    Custom,
    None,
}

impl ContextType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContextType::Auto => "AUTO",
            ContextType::Custom => "CUSTOM",
            ContextType::None => "NONE",
        }
    }

    fn parse(s: &str) -> Option<ContextType> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AUTO" => Some(ContextType::Auto),
            "CUSTOM" => Some(ContextType::Custom),
            "NONE" => Some(ContextType::None),
            _ => None,
        }
    }
}

/// An exporter's definition, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub subjects: Vec<String>,
    pub rename: Option<String>,
    pub context_type: ContextType,
    /// The CUSTOM context, normalised (`.dr`).
    pub context: Option<String>,
    /// The stored config, secrets in clear.
    pub config: BTreeMap<String, String>,
}

impl Spec {
    /// The exporter as answered: secrets masked.
    fn info(&self, name: &str) -> ExporterInfo {
        ExporterInfo {
            name: name.to_string(),
            subjects: self.subjects.clone(),
            subject_rename_format: self.rename.clone(),
            context_type: self.context_type.as_str().to_string(),
            context: self.context.clone(),
            config: masked(&self.config),
        }
    }

    /// The audited state: secrets masked.
    fn state(&self, name: &str) -> Value {
        serde_json::to_value(self.info(name)).unwrap_or(Value::Null)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

fn validate_name(name: Option<&str>) -> R<String> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(ExporterError::InvalidName(
            "Missing exporter name: give 'name'".to_string(),
        ));
    };
    if name.len() > 255 || !name.chars().all(is_name_char) {
        return Err(ExporterError::InvalidName(format!(
            "Invalid exporter name '{}': use 1 to 255 letters, digits, '.', '_' or '-'",
            name.escape_debug()
        )));
    }
    Ok(name.to_string())
}

/// One entry of `subjects`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Subject(String),
    Context(String),
    Everything,
}

impl Selector {
    fn parse(raw: &str) -> Result<Selector, String> {
        if raw == "*" {
            return Ok(Selector::Context(context::DEFAULT.to_string()));
        }
        if raw == ":*:*" || raw == ":*:" {
            return Ok(Selector::Everything);
        }
        if let Some(ctx) = raw.strip_suffix(":*").filter(|c| c.starts_with(":.")) {
            let ctx = context::normalize(ctx).map_err(|e| format!("'{raw}': {e}"))?;
            if ctx == context::GLOBAL_CONTEXT || ctx.chars().any(char::is_control) {
                return Err(format!("'{raw}' is not a context one can export"));
            }
            return Ok(Selector::Context(ctx));
        }
        if raw.contains('*') {
            return Err(format!(
                "'{}': the wildcards are '*' (the default context), ':.ctx:*' (one context) and ':*:*' (every context)",
                raw.escape_debug()
            ));
        }
        let subject = context::canonical(raw);
        if raw.len() > 255 || crate::registry::validate_subject(subject).is_err() {
            return Err(format!("'{}' is not a valid subject", raw.escape_debug()));
        }
        Ok(Selector::Subject(subject.to_string()))
    }

    fn selects(&self, subject: &str) -> bool {
        match self {
            Selector::Subject(s) => s == subject,
            Selector::Context(c) => context::of(subject) == c,
            Selector::Everything => true,
        }
    }
}

fn validate_subjects(subjects: Option<Vec<String>>) -> R<Vec<String>> {
    let subjects = subjects
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["*".to_string()]);
    if subjects.len() > 1000 {
        return Err(ExporterError::InvalidSubjects(
            "Invalid exporter subjects: at most 1000 entries".to_string(),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(subjects.len());
    for s in subjects {
        Selector::parse(&s).map_err(|e| {
            ExporterError::InvalidSubjects(format!("Invalid exporter subjects: {e}"))
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn validate_rename(format: Option<String>) -> R<Option<String>> {
    let Some(format) = format.filter(|f| !f.is_empty() && f != "${subject}") else {
        return Ok(None);
    };
    let bad = |why: &str| {
        Err(ExporterError::InvalidSubjects(format!(
            "Invalid subjectRenameFormat '{}': {why}",
            format.escape_debug()
        )))
    };
    if !format.contains("${subject}") {
        return bad("it must contain ${subject}, the source subject's name");
    }
    if format.starts_with(':') {
        return bad("it renames the subject within its context; choose the context with contextType and context");
    }
    let sample = format.replace("${subject}", "x");
    if format.len() > 255 || crate::registry::validate_subject(&sample).is_err() {
        return bad("it does not make valid subject names");
    }
    Ok(Some(format))
}

fn validate_context(
    context_type: Option<&str>,
    raw: Option<&str>,
) -> R<(ContextType, Option<String>)> {
    let ct = match context_type.filter(|t| !t.trim().is_empty()) {
        None => ContextType::Auto,
        Some(t) => ContextType::parse(t).ok_or_else(|| {
            ExporterError::InvalidConfig(format!(
                "Invalid contextType '{}': use AUTO, CUSTOM or NONE",
                t.escape_debug()
            ))
        })?,
    };
    let raw = raw.filter(|c| !c.is_empty());
    match (ct, raw) {
        (ContextType::Custom, None) => Err(ExporterError::InvalidConfig(
            "Missing context: contextType CUSTOM needs 'context', the destination context"
                .to_string(),
        )),
        (ContextType::Custom, Some(c)) => {
            let ctx = context::normalize(c).map_err(|e| {
                ExporterError::InvalidConfig(format!("Invalid context '{}': {e}", c.escape_debug()))
            })?;
            if ctx == context::DEFAULT || ctx == context::GLOBAL_CONTEXT || ctx.len() > 200 {
                return Err(ExporterError::InvalidConfig(format!(
                    "Invalid context '{}': name a context other than the default and global ones (contextType NONE exports to the default context)",
                    c.escape_debug()
                )));
            }
            Ok((ct, Some(ctx)))
        }
        (_, Some(c)) => Err(ExporterError::InvalidConfig(format!(
            "context '{}' is only used with contextType CUSTOM (contextType is {})",
            c.escape_debug(),
            ct.as_str()
        ))),
        (_, None) => Ok((ct, None)),
    }
}

/// A config value as Jackson reads a `Map<String, String>`: scalars become strings.
fn config_value(key: &str, v: &Value) -> R<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(_) | Value::Number(_) => Ok(Some(v.to_string())),
        _ => Err(ExporterError::InvalidConfig(format!(
            "Invalid exporter config: '{}' must be a string",
            key.escape_debug()
        ))),
    }
}

/// `incoming` merged into `stored` (null removes a key; a masked secret sent back keeps
/// the stored one), then checked ([`Destination::parse`]).
fn merge_config(
    stored: &BTreeMap<String, String>,
    incoming: &Map<String, Value>,
) -> R<BTreeMap<String, String>> {
    if incoming.len() > 64 {
        return Err(ExporterError::InvalidConfig(
            "Invalid exporter config: at most 64 keys".to_string(),
        ));
    }
    let old_masked = masked(stored);
    let mut out = stored.clone();
    for (k, v) in incoming {
        if k.is_empty() || k.len() > 255 || k.chars().any(char::is_control) {
            return Err(ExporterError::InvalidConfig(format!(
                "Invalid exporter config: key '{}' is not a config name",
                k.escape_debug()
            )));
        }
        match config_value(k, v)? {
            None => {
                out.remove(k);
            }
            Some(s) if s.contains(MASK) => {
                if old_masked.get(k) == Some(&s) {
                    continue;
                }
                return Err(ExporterError::InvalidConfig(format!(
                    "Invalid exporter config: '{}' holds a masked secret; send the secret itself",
                    k.escape_debug()
                )));
            }
            Some(s) if s.len() > 8192 => {
                return Err(ExporterError::InvalidConfig(format!(
                    "Invalid exporter config: '{}' is longer than 8192 characters",
                    k.escape_debug()
                )))
            }
            Some(s) => {
                out.insert(k.clone(), s);
            }
        }
    }
    Destination::parse(&out)
        .map_err(|e| ExporterError::InvalidConfig(format!("Invalid exporter config: {e}")))?;
    Ok(out)
}

/// Whether a config key holds a secret.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "basic.auth.user.info"
        || k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k.contains("credentials.value")
}

/// A URL with its password masked.
fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(MASK));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) if url.contains('@') => MASK.to_string(),
        Err(_) => url.to_string(),
    }
}

/// The config as answered: secrets masked (`user:********` for basic auth user info).
pub fn masked(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .map(|(k, v)| {
            let shown = if k == URL_KEY {
                v.split(',').map(mask_url).collect::<Vec<_>>().join(",")
            } else if k == "basic.auth.user.info" {
                match v.split_once(':') {
                    Some((user, _)) => format!("{user}:{MASK}"),
                    None => MASK.to_string(),
                }
            } else if is_secret_key(k) {
                MASK.to_string()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect()
}

const URL_KEY: &str = "schema.registry.url";

// ---- the destination ----

/// How the exporter authenticates at the destination.
#[derive(Clone)]
enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// A destination registry: its URLs (tried in order when one cannot be reached) and
/// credentials, from the exporter's config.
#[derive(Clone)]
pub struct Destination {
    urls: Vec<reqwest::Url>,
    auth: Auth,
}

impl Destination {
    /// Reads `schema.registry.url` and the credentials as Confluent's client does
    /// (`basic.auth.credentials.source` USER_INFO or URL, `bearer.auth.credentials.source`
    /// STATIC_TOKEN); a problem is said with the key it is about.
    pub fn parse(config: &BTreeMap<String, String>) -> Result<Destination, String> {
        let raw = config
            .get(URL_KEY)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!("'{URL_KEY}' is missing: give the destination registry's URL")
            })?;
        let mut urls = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let shown = mask_url(part);
            let u = reqwest::Url::parse(part)
                .map_err(|e| format!("'{URL_KEY}': '{shown}' is not a valid absolute URL ({e})"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(format!(
                    "'{URL_KEY}': scheme '{}' is not supported; use http or https",
                    u.scheme()
                ));
            }
            if u.host_str().is_none_or(str::is_empty) {
                return Err(format!("'{URL_KEY}': '{shown}' has no host"));
            }
            if let Some(host) = forbidden_literal(&u) {
                return Err(format!(
                    "'{URL_KEY}': {host} is a link-local, multicast, broadcast or unspecified address"
                ));
            }
            if u.query().is_some() || u.fragment().is_some() {
                return Err(format!(
                    "'{URL_KEY}': '{shown}' must have no query or fragment"
                ));
            }
            urls.push(u);
        }
        if urls.is_empty() || raw.len() > 4000 {
            return Err(format!(
                "'{URL_KEY}' must hold one to a few URLs, comma-separated"
            ));
        }
        let get = |k: &str| config.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
        let basic_source = get("basic.auth.credentials.source").map(str::to_ascii_uppercase);
        let bearer_source = get("bearer.auth.credentials.source").map(str::to_ascii_uppercase);
        let user_info = get("basic.auth.user.info");
        let token = get("bearer.auth.token");
        let from_url = urls.iter().any(|u| !u.username().is_empty());
        let basic = match basic_source.as_deref() {
            Some("USER_INFO") => Some("USER_INFO"),
            Some("URL") => Some("URL"),
            Some(other) => {
                return Err(format!(
                    "'basic.auth.credentials.source' {other} is not supported; use USER_INFO or URL"
                ))
            }
            None if user_info.is_some() => Some("USER_INFO"),
            None if from_url => Some("URL"),
            None => None,
        };
        let bearer = match bearer_source.as_deref() {
            Some("STATIC_TOKEN") => true,
            Some(other) => {
                return Err(format!(
                    "'bearer.auth.credentials.source' {other} is not supported; use STATIC_TOKEN"
                ))
            }
            None => token.is_some(),
        };
        let auth = match (basic, bearer) {
            (Some(_), true) => {
                return Err("give either basic auth or a bearer token, not both".to_string())
            }
            (Some("USER_INFO"), false) => {
                let info = user_info.ok_or_else(|| {
                    "'basic.auth.user.info' is missing: give 'user:password'".to_string()
                })?;
                let (user, pass) = info
                    .split_once(':')
                    .ok_or_else(|| "'basic.auth.user.info' must be 'user:password'".to_string())?;
                Auth::Basic(user.to_string(), pass.to_string())
            }
            (Some(_), false) => {
                let u = urls.iter().find(|u| !u.username().is_empty()).ok_or_else(|| {
                    format!("'basic.auth.credentials.source' URL needs 'user:password@' in '{URL_KEY}'")
                })?;
                let decode = |s: &str| crate::auth::percent_decode(s);
                Auth::Basic(decode(u.username()), decode(u.password().unwrap_or("")))
            }
            (None, true) => Auth::Bearer(
                token
                    .ok_or_else(|| "'bearer.auth.token' is missing".to_string())?
                    .to_string(),
            ),
            (None, false) => Auth::None,
        };
        for u in &mut urls {
            let _ = u.set_username("");
            let _ = u.set_password(None);
        }
        Ok(Destination { urls, auth })
    }
}

/// Whether `ip` is somewhere no exporter may connect: link-local (cloud metadata at
/// 169.254.169.254), multicast, broadcast or unspecified, also as IPv4-mapped IPv6.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The URL's host when it is a literal address [`is_forbidden`] refuses.
fn forbidden_literal(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .filter(|ip| is_forbidden(*ip))
        .map(|_| host.to_string())
}

/// Resolves destination hosts to addresses [`is_forbidden`] allows only, so a name
/// pointing at a metadata service is refused at every connection.
struct NoLinkLocal;

impl reqwest::dns::Resolve for NoLinkLocal {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves only to link-local, multicast, broadcast or unspecified addresses"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
fn enc(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One call's answer: status and JSON body (`Null` when empty or not JSON).
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    /// `HTTP 422 (42205): message` for traces.
    fn describe(&self) -> String {
        let code = self.body.get("error_code").and_then(Value::as_i64);
        let msg = self.body.get("message").and_then(Value::as_str);
        match (code, msg) {
            (Some(c), Some(m)) => format!("HTTP {} ({c}): {m}", self.status),
            (_, Some(m)) => format!("HTTP {}: {m}", self.status),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// Talks to one destination for one pass.
struct Remote<'a> {
    client: &'a reqwest::Client,
    dest: Destination,
    /// Destination subjects known to be in IMPORT mode in this pass.
    importing: HashSet<String>,
}

const JSON_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl Remote<'_> {
    /// Sends one request, trying the next URL when one cannot be reached.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut last = String::new();
        for base in &self.dest.urls {
            let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
            let shown = format!("{method} {url}");
            let mut req = self.client.request(method.clone(), &url).header(
                "Accept",
                "application/vnd.schemaregistry.v1+json, application/json",
            );
            req = match &self.dest.auth {
                Auth::None => req,
                Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
                Auth::Bearer(t) => req.bearer_auth(t),
            };
            if let Some(b) = body {
                req = req.header("Content-Type", JSON_TYPE).body(b.to_string());
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = read_bounded(resp)
                        .await
                        .map_err(|e| format!("{shown}: {e}"))?;
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    return Ok(Answer { status, body });
                }
                Err(e) if e.is_connect() => {
                    last = format!("{shown}: {}", describe_reqwest(&e));
                }
                Err(e) => return Err(format!("{shown}: {}", describe_reqwest(&e))),
            }
        }
        Err(last)
    }

    /// The id and deleted flag of `version` of `subject` at the destination, if it has it.
    async fn version(&self, subject: &str, version: i64) -> Result<Option<(i64, bool)>, String> {
        let path = format!("/subjects/{}/versions/{version}?deleted=true", enc(subject));
        let a = self.call(reqwest::Method::GET, &path, None).await?;
        match a.status {
            200 => {
                let id = a
                    .body
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| format!("GET {path}: the answer has no schema id"))?;
                let deleted = a
                    .body
                    .get("deleted")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Ok(Some((id, deleted)))
            }
            404 => Ok(None),
            _ => Err(format!("GET {path}: {}", a.describe())),
        }
    }

    /// Puts `subject` in IMPORT mode unless it is already (once per pass).
    async fn ensure_import(&mut self, subject: &str) -> Result<(), String> {
        if self.importing.contains(subject) {
            return Ok(());
        }
        let path = format!("/mode/{}", enc(subject));
        let a = self.call(reqwest::Method::GET, &path, None).await?;
        let current = a.body.get("mode").and_then(Value::as_str);
        if !(a.status == 200 && current == Some("IMPORT")) {
            let put = format!("{path}?force=true");
            let a = self
                .call(reqwest::Method::PUT, &put, Some(&json!({"mode": "IMPORT"})))
                .await?;
            if a.status != 200 {
                return Err(format!("PUT {put}: {}", a.describe()));
            }
        }
        self.importing.insert(subject.to_string());
        Ok(())
    }

    async fn register(&self, subject: &str, body: &Value, id: i64) -> Result<(), String> {
        let path = format!("/subjects/{}/versions", enc(subject));
        let a = self.call(reqwest::Method::POST, &path, Some(body)).await?;
        if a.status != 200 {
            return Err(format!("POST {path}: {}", a.describe()));
        }
        match a.body.get("id").and_then(Value::as_i64) {
            Some(got) if got != id => Err(format!(
                "POST {path}: the destination registered schema id {got}, not {id}"
            )),
            _ => Ok(()),
        }
    }

    /// Soft-deletes, or (`permanent`) deletes a soft-deleted version; gone is fine.
    async fn delete(&self, subject: &str, version: i64, permanent: bool) -> Result<(), String> {
        let mut path = format!("/subjects/{}/versions/{version}", enc(subject));
        if permanent {
            path.push_str("?permanent=true");
        }
        let a = self.call(reqwest::Method::DELETE, &path, None).await?;
        match a.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(format!("DELETE {path}: {}", a.describe())),
        }
    }
}

/// A response body, at most [`MAX_RESPONSE`] bytes.
async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe_reqwest(&e))? {
        if out.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A transport error in a few words, with its root cause (never a URL's user info:
/// the URLs the client is given carry none).
fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {}s", TIMEOUT.as_secs());
    }
    let mut cause = std::error::Error::source(e);
    let mut root = None;
    while let Some(c) = cause {
        root = Some(c.to_string());
        cause = c.source();
    }
    let what = if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match root {
        Some(r) => format!("{what}: {r}"),
        None => what.to_string(),
    }
}

// ---- where subjects go ----

/// Maps source subjects to destination subjects (see the module docs).
#[derive(Debug, Clone)]
pub struct Mapping {
    rename: Option<String>,
    /// The destination context the source's default context maps to; `None`: each
    /// subject keeps its own context (NONE).
    base: Option<String>,
}

impl Mapping {
    pub fn new(spec: &Spec, registry_id: &str) -> Mapping {
        let base = match spec.context_type {
            ContextType::Auto => Some(auto_context(registry_id)),
            ContextType::Custom => spec.context.clone(),
            ContextType::None => None,
        };
        Mapping {
            rename: spec.rename.clone(),
            base,
        }
    }

    /// The destination subject of source subject `subject`.
    pub fn destination(&self, subject: &str) -> String {
        let (ctx, name) = context::split(subject);
        let name = match &self.rename {
            Some(f) => f.replace("${subject}", name),
            None => name.to_string(),
        };
        let ctx = match &self.base {
            None => ctx.to_string(),
            Some(base) if ctx == context::DEFAULT => base.clone(),
            Some(base) => format!("{base}{ctx}"),
        };
        context::qualify(&ctx, &name)
    }
}

/// The destination context of this registry's AUTO exporters.
pub fn auto_context(registry_id: &str) -> String {
    format!(".lsrc-{registry_id}")
}

/// This registry's identity (made by the migration).
pub async fn registry_id(store: &Store) -> Result<String, ApiError> {
    let row = sqlx::query("SELECT value FROM exporter_settings WHERE key = 'registry_id'")
        .fetch_optional(store.reader())
        .await?;
    Ok(match row {
        Some(r) => r.try_get("value")?,
        None => "accord".to_string(),
    })
}

// ---- storage and the API's operations ----

/// One exporter row.
#[derive(Debug, Clone)]
struct Stored {
    name: String,
    spec: Spec,
    paused: bool,
    state: String,
    state_ms: i64,
    trace: Option<String>,
    exported: i64,
    generation: i64,
    attempts: i64,
    next_attempt_ms: i64,
    lease_owner: Option<String>,
    lease_until_ms: i64,
}

const COLS: &str = "name, subjects, subject_rename_format, context_type, context, config, paused, \
     state, state_ms, trace, exported, generation, attempts, next_attempt_ms, lease_owner, \
     lease_until_ms";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Stored, ApiError> {
    let subjects: String = row.try_get("subjects")?;
    let config: String = row.try_get("config")?;
    let ct: String = row.try_get("context_type")?;
    Ok(Stored {
        name: row.try_get("name")?,
        spec: Spec {
            subjects: serde_json::from_str(&subjects).map_err(ApiError::internal)?,
            rename: row.try_get("subject_rename_format")?,
            context_type: ContextType::parse(&ct).unwrap_or(ContextType::Auto),
            context: row.try_get("context")?,
            config: serde_json::from_str(&config).map_err(ApiError::internal)?,
        },
        paused: row.try_get::<i64, _>("paused")? != 0,
        state: row.try_get("state")?,
        state_ms: row.try_get("state_ms")?,
        trace: row.try_get("trace")?,
        exported: row.try_get("exported")?,
        generation: row.try_get("generation")?,
        attempts: row.try_get("attempts")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until_ms: row.try_get("lease_until_ms")?,
    })
}

async fn load<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    e: E,
    name: &str,
) -> Result<Option<Stored>, ApiError> {
    let sql = format!("SELECT {COLS} FROM exporters WHERE name = $1");
    let row = sqlx::query(&sql).bind(name).fetch_optional(e).await?;
    row.as_ref().map(from_row).transpose()
}

async fn must_load<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(e: E, name: &str) -> R<Stored> {
    load(e, name)
        .await?
        .ok_or_else(|| ExporterError::NotFound(name.to_string()))
}

fn target(name: &str) -> String {
    format!("exporter:{name}")
}

fn json_text<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(ApiError::internal)
}

/// `POST /exporters`: validated, stored (STARTING), audited as `exporter.create`.
pub async fn create(store: &Store, actor: &Actor, input: ExporterInput) -> R<ExporterName> {
    let name = validate_name(input.name.as_deref())?;
    if input
        .kek_rename_format
        .as_deref()
        .is_some_and(|f| !f.is_empty())
    {
        return Err(ExporterError::InvalidConfig(
            "kekRenameFormat: exporting KEKs and DEKs is not supported".to_string(),
        ));
    }
    let subjects = validate_subjects(input.subjects)?;
    let rename = validate_rename(input.subject_rename_format)?;
    let (context_type, context) =
        validate_context(input.context_type.as_deref(), input.context.as_deref())?;
    let Some(config) = input.config.filter(|c| !c.is_empty()) else {
        return Err(ExporterError::InvalidConfig(format!(
            "Missing exporter config: give 'config' with at least '{URL_KEY}'"
        )));
    };
    let config = merge_config(&BTreeMap::new(), &config)?;
    let spec = Spec {
        subjects,
        rename,
        context_type,
        context,
        config,
    };
    let mut w = store.begin_write().await?;
    if load(&mut *w.tx, &name).await?.is_some() {
        return Err(ExporterError::Exists(name));
    }
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM exporters")
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("n")?;
    if count >= MAX_EXPORTERS {
        return Err(ExporterError::TooMany(MAX_EXPORTERS));
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO exporters (name, subjects, subject_rename_format, context_type, context, config, \
         paused, state, state_ms, created_ms, created_by, updated_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 'STARTING', $7, $7, $8, $7)",
    )
    .bind(&name)
    .bind(json_text(&spec.subjects)?)
    .bind(spec.rename.as_deref())
    .bind(spec.context_type.as_str())
    .bind(spec.context.as_deref())
    .bind(json_text(&spec.config)?)
    .bind(now)
    .bind(actor.name())
    .execute(&mut *w.tx)
    .await?;
    audit::append(
        &mut w,
        actor.name(),
        "exporter.create",
        &target(&name),
        None,
        Some(&spec.state(&name)),
    )
    .await?;
    w.commit().await?;
    Ok(ExporterName { name })
}

/// `GET /exporters`: the names, sorted.
pub async fn list(store: &Store) -> R<Vec<String>> {
    let rows = sqlx::query("SELECT name FROM exporters ORDER BY name")
        .fetch_all(store.reader())
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?)
}

/// `GET /exporters/{name}`.
pub async fn info(store: &Store, name: &str) -> R<ExporterInfo> {
    Ok(must_load(store.reader(), name).await?.spec.info(name))
}

/// `GET /exporters/{name}/config`: secrets masked.
pub async fn config(store: &Store, name: &str) -> R<BTreeMap<String, String>> {
    Ok(masked(&must_load(store.reader(), name).await?.spec.config))
}

/// `GET /exporters/{name}/status`.
pub async fn status(store: &Store, name: &str) -> R<ExporterStatus> {
    let s = must_load(store.reader(), name).await?;
    let state = if s.paused {
        "PAUSED".to_string()
    } else {
        s.state
    };
    Ok(ExporterStatus {
        name: s.name,
        trace: s.trace.filter(|_| state == "ERROR"),
        state,
        offset: s.exported,
        ts: s.state_ms,
    })
}

/// Stores a changed definition of a paused exporter: a new generation whose progress
/// starts from nothing (everything selected is pushed again, where it now goes).
async fn store_spec(
    store: &Store,
    actor: &Actor,
    name: &str,
    action: &str,
    change: impl FnOnce(&Spec) -> R<Spec>,
) -> R<ExporterName> {
    let mut w = store.begin_write().await?;
    let old = must_load(&mut *w.tx, name).await?;
    if !old.paused {
        return Err(ExporterError::NotPaused(name.to_string()));
    }
    let spec = change(&old.spec)?;
    let now = now_ms();
    sqlx::query(
        "UPDATE exporters SET subjects = $1, subject_rename_format = $2, context_type = $3, \
         context = $4, config = $5, generation = generation + 1, exported = 0, trace = NULL, \
         state_ms = $6, updated_ms = $6 WHERE name = $7",
    )
    .bind(json_text(&spec.subjects)?)
    .bind(spec.rename.as_deref())
    .bind(spec.context_type.as_str())
    .bind(spec.context.as_deref())
    .bind(json_text(&spec.config)?)
    .bind(now)
    .bind(name)
    .execute(&mut *w.tx)
    .await?;
    sqlx::query("DELETE FROM exporter_versions WHERE exporter = $1")
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        &mut w,
        actor.name(),
        action,
        &target(name),
        Some(&old.spec.state(name)),
        Some(&spec.state(name)),
    )
    .await?;
    w.commit().await?;
    Ok(ExporterName {
        name: name.to_string(),
    })
}

/// `PUT /exporters/{name}`: a paused exporter's definition; what is given changes.
pub async fn update(
    store: &Store,
    actor: &Actor,
    name: &str,
    upd: ExporterUpdate,
) -> R<ExporterName> {
    if let Some(n) = upd.name.as_deref().filter(|n| *n != name) {
        return Err(ExporterError::InvalidName(format!(
            "Exporter '{name}' cannot be renamed to '{}': create a new exporter instead",
            n.escape_debug()
        )));
    }
    if upd
        .kek_rename_format
        .as_deref()
        .is_some_and(|f| !f.is_empty())
    {
        return Err(ExporterError::InvalidConfig(
            "kekRenameFormat: exporting KEKs and DEKs is not supported".to_string(),
        ));
    }
    store_spec(store, actor, name, "exporter.update", |old| {
        let subjects = match upd.subjects {
            Some(s) => validate_subjects(Some(s))?,
            None => old.subjects.clone(),
        };
        let rename = match upd.subject_rename_format {
            Some(f) => validate_rename(Some(f))?,
            None => old.rename.clone(),
        };
        let ct = upd
            .context_type
            .clone()
            .unwrap_or_else(|| old.context_type.as_str().to_string());
        let parsed = ContextType::parse(&ct);
        // A context given alone changes the CUSTOM context; a type other than CUSTOM
        // drops the stored one.
        let ctx = match (&upd.context, parsed) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(ContextType::Custom)) => old.context.clone(),
            (None, _) => None,
        };
        let (context_type, context) = validate_context(Some(&ct), ctx.as_deref())?;
        let config = match &upd.config {
            Some(c) => merge_config(&old.config, c)?,
            None => old.config.clone(),
        };
        Ok(Spec {
            subjects,
            rename,
            context_type,
            context,
            config,
        })
    })
    .await
}

/// `PUT /exporters/{name}/config`: merged into a paused exporter's config.
pub async fn update_config(
    store: &Store,
    actor: &Actor,
    name: &str,
    config: Map<String, Value>,
) -> R<ExporterName> {
    store_spec(store, actor, name, "exporter.config", |old| {
        Ok(Spec {
            config: merge_config(&old.config, &config)?,
            ..old.clone()
        })
    })
    .await
}

/// Applies a state change to an exporter in one audited transaction. `change` sees the
/// stored exporter and returns the `SET` clause (its `$1` is the time), or `None` when
/// nothing is to change.
async fn change_state(
    store: &Store,
    actor: &Actor,
    name: &str,
    action: &str,
    change: impl FnOnce(&Stored) -> R<Option<&'static str>>,
) -> R<ExporterName> {
    let mut w = store.begin_write().await?;
    let old = must_load(&mut *w.tx, name).await?;
    if let Some(set) = change(&old)? {
        let sql = format!("UPDATE exporters SET {set} WHERE name = $2");
        sqlx::query(&sql)
            .bind(now_ms())
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
        if action == "exporter.reset" {
            sqlx::query("DELETE FROM exporter_versions WHERE exporter = $1")
                .bind(name)
                .execute(&mut *w.tx)
                .await?;
        }
        let new = must_load(&mut *w.tx, name).await?;
        let brief = |s: &Stored| json!({"paused": s.paused, "state": s.state, "offset": s.exported, "generation": s.generation});
        audit::append(
            &mut w,
            actor.name(),
            action,
            &target(name),
            Some(&brief(&old)),
            Some(&brief(&new)),
        )
        .await?;
        w.commit().await?;
    }
    Ok(ExporterName {
        name: name.to_string(),
    })
}

/// `PUT /exporters/{name}/pause`: PAUSED at once; the runner stops before its next push.
/// Pausing a paused exporter changes nothing.
pub async fn pause(store: &Store, actor: &Actor, name: &str) -> R<ExporterName> {
    change_state(store, actor, name, "exporter.pause", |s| {
        Ok((!s.paused).then_some(
            "paused = 1, state = 'PAUSED', state_ms = $1, trace = NULL, attempts = 0, \
             next_attempt_ms = 0",
        ))
    })
    .await
}

/// `PUT /exporters/{name}/resume`: a paused exporter starts again; a failing one is
/// retried at once. A running one is 40961.
pub async fn resume(store: &Store, actor: &Actor, name: &str) -> R<ExporterName> {
    change_state(store, actor, name, "exporter.resume", |s| {
        if !s.paused && s.state != "ERROR" {
            return Err(ExporterError::AlreadyRunning(name.to_string()));
        }
        // The lease goes too, so whichever node looks first takes the exporter.
        Ok(Some(
            "paused = 0, state = 'STARTING', state_ms = $1, trace = NULL, attempts = 0, \
             next_attempt_ms = 0, lease_owner = NULL, lease_until_ms = 0",
        ))
    })
    .await
}

/// `PUT /exporters/{name}/reset`: a paused exporter forgets what it pushed (offset 0);
/// resumed, it pushes everything selected again (what the destination has already is
/// left as it is).
pub async fn reset(store: &Store, actor: &Actor, name: &str) -> R<ExporterName> {
    change_state(store, actor, name, "exporter.reset", |s| {
        if !s.paused {
            return Err(ExporterError::NotPaused(name.to_string()));
        }
        Ok(Some(
            "generation = generation + 1, exported = 0, state_ms = $1, trace = NULL",
        ))
    })
    .await
}

/// `DELETE /exporters/{name}`: the exporter and its progress go (the destination keeps
/// what it received); the runner stops before its next push.
pub async fn delete(store: &Store, actor: &Actor, name: &str) -> R<()> {
    let mut w = store.begin_write().await?;
    let old = must_load(&mut *w.tx, name).await?;
    sqlx::query("DELETE FROM exporter_versions WHERE exporter = $1")
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("DELETE FROM exporters WHERE name = $1")
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        &mut w,
        actor.name(),
        "exporter.delete",
        &target(name),
        Some(&old.spec.state(name)),
        None,
    )
    .await?;
    w.commit().await?;
    Ok(())
}

// ---- the worker ----

/// The wait before pass `attempts + 1`, after `attempts` failed ones.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

/// What changes in `subject_versions` leave a trace in: the row count, the newest
/// registration and the number of soft-deleted versions. A pass that found everything in
/// sync is not repeated until this (or the exporter's generation) changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint(i64, i64, i64);

async fn fingerprint(store: &Store) -> Result<Fingerprint, ApiError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COALESCE(MAX(ts), 0) AS t, \
         CAST(COALESCE(SUM(deleted), 0) AS BIGINT) AS d FROM subject_versions",
    )
    .fetch_one(store.reader())
    .await?;
    Ok(Fingerprint(
        row.try_get("n")?,
        row.try_get("t")?,
        row.try_get("d")?,
    ))
}

/// What the worker shares with its passes.
struct Env {
    store: Store,
    client: reqwest::Client,
    /// This process's lease owner id.
    node: String,
}

/// How a pass ended.
#[derive(Debug)]
enum End {
    /// Everything selected is in sync (as of `Fingerprint`, for `generation`).
    InSync(Fingerprint, i64),
    /// Stopped for now: out of budget, failed (ERROR recorded), or the exporter changed
    /// under it.
    NotDone,
}

/// Runs until `stop` turns true: claims and runs due exporters (see the module docs).
pub async fn run(store: Store, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .dns_resolver(Arc::new(NoLinkLocal))
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("accord-exporter/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the exporters' HTTP client; exporters do not run");
            return;
        }
    };
    let env = Arc::new(Env {
        store,
        client,
        node: uuid::Uuid::new_v4().to_string(),
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_PASSES));
    let mut passes: HashMap<String, tokio::task::JoinHandle<End>> = HashMap::new();
    let mut in_sync: HashMap<String, (Fingerprint, i64)> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // A tick cut short by the stop is safe: an open transaction rolls back.
        tokio::select! {
            _ = stop.changed() => break,
            r = tick(&env, &permits, &mut passes, &mut in_sync) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "exporters: cannot look at the exporters");
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    // A pass cut short is safe: its transaction rolls back, and the next owner compares
    // again. The leases go, so another node need not wait for them to expire.
    for (_, pass) in passes.drain() {
        pass.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), pass).await;
    }
    let release = async {
        let mut w = env.store.begin_write().await?;
        sqlx::query(
            "UPDATE exporters SET lease_owner = NULL, lease_until_ms = 0 WHERE lease_owner = $1",
        )
        .bind(&env.node)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok::<_, ApiError>(())
    };
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(2), release).await {
        tracing::warn!(error = %e, "exporters: cannot release the leases");
    }
}

/// One look at the exporters: reap finished passes, renew held leases, start due passes.
async fn tick(
    env: &Arc<Env>,
    permits: &Arc<tokio::sync::Semaphore>,
    passes: &mut HashMap<String, tokio::task::JoinHandle<End>>,
    in_sync: &mut HashMap<String, (Fingerprint, i64)>,
) -> Result<(), ApiError> {
    let finished: Vec<String> = passes
        .iter()
        .filter(|(_, p)| p.is_finished())
        .map(|(n, _)| n.clone())
        .collect();
    for name in finished {
        if let Some(pass) = passes.remove(&name) {
            match pass.await {
                Ok(End::InSync(fp, generation)) => {
                    in_sync.insert(name, (fp, generation));
                }
                Ok(End::NotDone) => {
                    in_sync.remove(&name);
                }
                Err(e) => {
                    tracing::warn!(exporter = %name, error = %e, "exporter pass ended abnormally");
                    in_sync.remove(&name);
                }
            }
        }
    }
    let sql = format!("SELECT {COLS} FROM exporters ORDER BY name");
    let rows = sqlx::query(&sql).fetch_all(env.store.reader()).await?;
    let exporters: Vec<Stored> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    in_sync.retain(|n, _| exporters.iter().any(|e| &e.name == n));
    if exporters.iter().all(|e| e.paused) {
        return Ok(());
    }
    let fp = fingerprint(&env.store).await?;
    let now = now_ms();
    let renew_below = (LEASE / 2).as_millis() as i64;
    for ex in exporters.iter().filter(|e| !e.paused) {
        let mine = ex.lease_owner.as_deref() == Some(env.node.as_str());
        let held = mine && ex.lease_until_ms > now;
        if passes.contains_key(&ex.name) {
            // A running pass keeps its lease (even one that ran out while the database
            // was slow, unless another node took it since).
            if mine && ex.lease_until_ms - now < renew_below {
                claim(env, &ex.name).await?;
            }
            continue;
        }
        if ex.state == "ERROR" && now < ex.next_attempt_ms {
            continue;
        }
        let settled = ex.state == "RUNNING" && in_sync.get(&ex.name) == Some(&(fp, ex.generation));
        let free = ex.lease_owner.is_none() || ex.lease_until_ms <= now;
        if settled {
            // Nothing to do; keep the lease while this node holds it.
            if held && ex.lease_until_ms - now < renew_below {
                claim(env, &ex.name).await?;
            }
            continue;
        }
        if !(mine || free) {
            continue; // another node runs it
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue; // busy: next tick
        };
        if !claim(env, &ex.name).await? {
            continue;
        }
        let env = env.clone();
        let name = ex.name.clone();
        passes.insert(
            ex.name.clone(),
            tokio::spawn(async move {
                let _permit = permit;
                Pass::run(&env, &name, fp).await
            }),
        );
    }
    Ok(())
}

/// Takes or renews this node's lease on `name` (not paused, free, expired or already
/// this node's); whether it is this node's now.
async fn claim(env: &Env, name: &str) -> Result<bool, ApiError> {
    let now = now_ms();
    let mut w = env.store.begin_write().await?;
    let n = sqlx::query(
        "UPDATE exporters SET lease_owner = $1, lease_until_ms = $2 \
         WHERE name = $3 AND paused = 0 \
         AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until_ms <= $4)",
    )
    .bind(&env.node)
    .bind(now + LEASE.as_millis() as i64)
    .bind(name)
    .bind(now)
    .execute(&mut *w.tx)
    .await?
    .rows_affected();
    w.commit().await?;
    Ok(n == 1)
}

/// One source version.
#[derive(Debug, Clone, Copy)]
struct Source {
    schema_id: i64,
    deleted: bool,
    ts: i64,
}

type Key = (String, i64);

/// One pass of one exporter (see the module docs).
struct Pass<'a> {
    env: &'a Env,
    name: &'a str,
    generation: i64,
    mapping: Mapping,
    remote: Remote<'a>,
    source: HashMap<Key, Source>,
    /// What the exporter has pushed: stored schema id and deleted flag.
    done: HashMap<Key, (i64, bool)>,
}

impl<'a> Pass<'a> {
    async fn run(env: &'a Env, name: &'a str, fp: Fingerprint) -> End {
        let ex = match load(env.store.reader(), name).await {
            Ok(Some(ex)) if !ex.paused => ex,
            Ok(_) => return End::NotDone,
            Err(e) => {
                tracing::warn!(exporter = %name, error = %e, "exporter pass cannot read its exporter");
                return End::NotDone;
            }
        };
        let generation = ex.generation;
        let outcome = match Pass::prepare(env, name, &ex).await {
            Ok(mut pass) => pass.sync(&ex, fp).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(end) => end,
            Err(trace) => {
                if let Err(e) = fail(&env.store, &ex, generation, &trace).await {
                    tracing::warn!(exporter = %name, error = %e, "cannot record an exporter failure");
                }
                tracing::info!(exporter = %name, trace = %trace, "exporter pass failed");
                End::NotDone
            }
        }
    }

    async fn prepare(env: &'a Env, name: &'a str, ex: &Stored) -> Result<Pass<'a>, String> {
        let dest = Destination::parse(&ex.spec.config)
            .map_err(|e| format!("Invalid exporter config: {e}"))?;
        let registry_id = registry_id(&env.store).await.map_err(|e| e.to_string())?;
        let db = |e: ApiError| format!("reading this registry: {e}");
        let rows =
            sqlx::query("SELECT subject, version, schema_id, deleted, ts FROM subject_versions")
                .fetch_all(env.store.reader())
                .await
                .map_err(|e| db(e.into()))?;
        let mut source = HashMap::with_capacity(rows.len());
        for r in &rows {
            let get = || -> Result<(Key, Source), sqlx::Error> {
                Ok((
                    (r.try_get("subject")?, r.try_get("version")?),
                    Source {
                        schema_id: r.try_get("schema_id")?,
                        deleted: r.try_get::<i64, _>("deleted")? != 0,
                        ts: r.try_get("ts")?,
                    },
                ))
            };
            let (k, v) = get().map_err(|e| db(e.into()))?;
            source.insert(k, v);
        }
        let rows = sqlx::query(
            "SELECT subject, version, schema_id, deleted FROM exporter_versions WHERE exporter = $1",
        )
        .bind(&ex.name)
        .fetch_all(env.store.reader())
        .await
        .map_err(|e| db(e.into()))?;
        let mut done = HashMap::with_capacity(rows.len());
        for r in &rows {
            let get = || -> Result<(Key, (i64, bool)), sqlx::Error> {
                Ok((
                    (r.try_get("subject")?, r.try_get("version")?),
                    (
                        r.try_get("schema_id")?,
                        r.try_get::<i64, _>("deleted")? != 0,
                    ),
                ))
            };
            let (k, v) = get().map_err(|e| db(e.into()))?;
            done.insert(k, v);
        }
        Ok(Pass {
            env,
            name,
            generation: ex.generation,
            mapping: Mapping::new(&ex.spec, &registry_id),
            remote: Remote {
                client: &env.client,
                dest,
                importing: HashSet::new(),
            },
            source,
            done,
        })
    }

    /// Pushes what differs, in registration order, then repeats permanent deletes.
    async fn sync(&mut self, ex: &Stored, fp: Fingerprint) -> Result<End, String> {
        let selectors: Vec<Selector> = ex
            .spec
            .subjects
            .iter()
            .filter_map(|s| Selector::parse(s).ok())
            .collect();
        let mut todo: Vec<(&Key, &Source)> = self
            .source
            .iter()
            .filter(|(k, _)| selectors.iter().any(|s| s.selects(&k.0)))
            .filter(|(k, v)| self.done.get(*k) != Some(&(v.schema_id, v.deleted)))
            .collect();
        todo.sort_by(|a, b| (a.1.ts, a.1.schema_id, a.0).cmp(&(b.1.ts, b.1.schema_id, b.0)));
        let todo: Vec<Key> = todo.into_iter().map(|(k, _)| k.clone()).collect();
        let mut gone: Vec<Key> = self
            .done
            .keys()
            .filter(|k| !self.source.contains_key(*k))
            .cloned()
            .collect();
        // Newest first: a referrer usually has a later version than what it refers to.
        gone.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if todo.is_empty() && gone.is_empty() {
            if ex.state != "RUNNING" {
                self.settle()
                    .await
                    .map_err(|e| format!("recording progress: {e}"))?;
            }
            return Ok(End::InSync(fp, self.generation));
        }
        let started = Instant::now();
        for key in &todo {
            if started.elapsed() > PASS_BUDGET {
                return Ok(End::NotDone);
            }
            if !self.ensure(key, 0).await? {
                return Ok(End::NotDone);
            }
        }
        for key in &gone {
            if started.elapsed() > PASS_BUDGET || !self.still_mine().await? {
                return Ok(End::NotDone);
            }
            let dest = self.mapping.destination(&key.0);
            let deleted = self.done.get(key).is_some_and(|d| d.1);
            if !deleted {
                self.remote.delete(&dest, key.1, false).await?;
            }
            self.remote.delete(&dest, key.1, true).await?;
            if !self.forget(key).await? {
                return Ok(End::NotDone);
            }
        }
        // `fp` was read before this pass read the source: a change since shows in the
        // next fingerprint and brings another pass.
        Ok(End::InSync(fp, self.generation))
    }

    /// Brings `key` to the destination, its references first; `false` when the exporter
    /// changed under the pass (paused, reset, updated, deleted, taken over).
    fn ensure<'b>(
        &'b mut self,
        key: &'b Key,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send + 'b>>
    {
        Box::pin(async move {
            let Some(src) = self.source.get(key).copied() else {
                return Err(format!(
                    "subject '{}' version {} is referenced but no longer exists in this registry",
                    key.0, key.1
                ));
            };
            if self.done.get(key) == Some(&(src.schema_id, src.deleted)) {
                return Ok(true);
            }
            if depth > MAX_REFERENCE_DEPTH {
                return Err(format!(
                    "references nest deeper than {MAX_REFERENCE_DEPTH} levels at subject '{}' version {}",
                    key.0, key.1
                ));
            }
            let schema = q::schema_row(self.env.store.reader(), src.schema_id)
                .await
                .map_err(|e| format!("reading this registry: {e}"))?
                .ok_or_else(|| {
                    format!(
                        "schema {} of subject '{}' version {} is missing in this registry",
                        context::public_id(src.schema_id),
                        key.0,
                        key.1
                    )
                })?;
            for r in &schema.references {
                let rk: Key = (r.subject.clone(), r.version);
                if !self.ensure(&rk, depth + 1).await? {
                    return Ok(false);
                }
            }
            if !self.still_mine().await? {
                return Ok(false);
            }
            self.push(key, src, &schema).await?;
            self.record(key, src).await
        })
    }

    /// Makes the destination hold `key` as it is here: registered with its id and
    /// version (IMPORT mode), soft-deleted or not.
    async fn push(
        &mut self,
        key: &Key,
        src: Source,
        schema: &crate::storage::SchemaRecord,
    ) -> Result<(), String> {
        let dest = self.mapping.destination(&key.0);
        let id = context::public_id(src.schema_id);
        let version = key.1;
        self.remote.ensure_import(&dest).await?;
        let there = self.remote.version(&dest, version).await?;
        let register = match there {
            Some((got, _)) if got != id => {
                return Err(format!(
                    "the destination's subject '{dest}' version {version} holds schema id {got}, \
                     not {id} (subject '{}' here): that subject is not this exporter's to fill",
                    key.0
                ))
            }
            Some((_, deleted)) if deleted == src.deleted => false,
            // Deleted there, live here: registering it again revives it.
            Some((_, true)) => true,
            Some((_, false)) => {
                return self.remote.delete(&dest, version, false).await;
            }
            None => true,
        };
        if register {
            let mut body = json!({
                "schema": schema.schema,
                "schemaType": schema.format.as_str(),
                "id": id,
                "version": version,
            });
            if !schema.references.is_empty() {
                body["references"] = Value::Array(
                    schema
                        .references
                        .iter()
                        .map(|r| {
                            json!({
                                "name": r.name,
                                "subject": self.mapping.destination(&r.subject),
                                "version": r.version,
                            })
                        })
                        .collect(),
                );
            }
            if let Some(m) = &schema.metadata {
                body["metadata"] = m.clone();
            }
            if let Some(r) = &schema.rule_set {
                body["ruleSet"] = r.clone();
            }
            self.remote.register(&dest, &body, id).await?;
            if src.deleted {
                self.remote.delete(&dest, version, false).await?;
            }
        }
        Ok(())
    }

    /// Whether the exporter is still this pass's: same generation, not paused, leased to
    /// this node.
    async fn still_mine(&self) -> Result<bool, String> {
        let row =
            sqlx::query("SELECT paused, generation, lease_owner FROM exporters WHERE name = $1")
                .bind(self.name)
                .fetch_optional(self.env.store.reader())
                .await
                .map_err(|e| format!("reading this registry: {}", ApiError::from(e)))?;
        let Some(row) = row else { return Ok(false) };
        let read = || -> Result<bool, sqlx::Error> {
            Ok(row.try_get::<i64, _>("paused")? == 0
                && row.try_get::<i64, _>("generation")? == self.generation
                && row.try_get::<Option<String>, _>("lease_owner")?.as_deref()
                    == Some(self.env.node.as_str()))
        };
        read().map_err(|e| format!("reading this registry: {}", ApiError::from(e)))
    }

    /// The `UPDATE` that marks progress, only while the exporter is still this pass's.
    const PROGRESS: &'static str = "UPDATE exporters SET state = 'RUNNING', state_ms = $1, \
         trace = NULL, attempts = 0, next_attempt_ms = 0 \
         WHERE name = $2 AND generation = $3 AND paused = 0 AND lease_owner = $4";

    /// Records `key` as pushed, in one transaction with the exporter's progress.
    async fn record(&mut self, key: &Key, src: Source) -> Result<bool, String> {
        let res = async {
            let mut w = self.env.store.begin_write().await?;
            let n = sqlx::query(Self::PROGRESS)
                .bind(now_ms())
                .bind(self.name)
                .bind(self.generation)
                .bind(&self.env.node)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO exporter_versions (exporter, subject, version, schema_id, deleted) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (exporter, subject, version) \
                 DO UPDATE SET schema_id = excluded.schema_id, deleted = excluded.deleted",
            )
            .bind(self.name)
            .bind(&key.0)
            .bind(key.1)
            .bind(src.schema_id)
            .bind(i64::from(src.deleted))
            .execute(&mut *w.tx)
            .await?;
            Self::count(&mut w, self.name).await?;
            w.commit().await?;
            Ok::<_, ApiError>(true)
        }
        .await
        .map_err(|e| format!("recording progress: {e}"))?;
        if res {
            self.done.insert(key.clone(), (src.schema_id, src.deleted));
        }
        Ok(res)
    }

    /// Forgets `key` (deleted permanently here and there).
    async fn forget(&mut self, key: &Key) -> Result<bool, String> {
        let res = async {
            let mut w = self.env.store.begin_write().await?;
            let n = sqlx::query(Self::PROGRESS)
                .bind(now_ms())
                .bind(self.name)
                .bind(self.generation)
                .bind(&self.env.node)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(
                "DELETE FROM exporter_versions WHERE exporter = $1 AND subject = $2 AND version = $3",
            )
            .bind(self.name)
            .bind(&key.0)
            .bind(key.1)
            .execute(&mut *w.tx)
            .await?;
            Self::count(&mut w, self.name).await?;
            w.commit().await?;
            Ok::<_, ApiError>(true)
        }
        .await
        .map_err(|e| format!("recording progress: {e}"))?;
        if res {
            self.done.remove(key);
        }
        Ok(res)
    }

    async fn count(w: &mut crate::storage::WriteTx, name: &str) -> Result<(), ApiError> {
        sqlx::query(
            "UPDATE exporters SET exported = \
             (SELECT COUNT(*) FROM exporter_versions WHERE exporter = $1) WHERE name = $1",
        )
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
        Ok(())
    }

    /// RUNNING (from STARTING or ERROR) when everything is in sync already.
    async fn settle(&self) -> Result<(), ApiError> {
        let mut w = self.env.store.begin_write().await?;
        sqlx::query(&format!("{} AND state <> 'RUNNING'", Self::PROGRESS))
            .bind(now_ms())
            .bind(self.name)
            .bind(self.generation)
            .bind(&self.env.node)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(())
    }
}

/// ERROR with `trace`, and the next pass after the backoff (unless the exporter changed
/// meanwhile).
async fn fail(store: &Store, ex: &Stored, generation: i64, trace: &str) -> Result<(), ApiError> {
    let mut end = trace.len().min(MAX_TRACE);
    while !trace.is_char_boundary(end) {
        end -= 1;
    }
    let now = now_ms();
    let wait = i64::try_from(backoff(ex.attempts + 1).as_millis()).unwrap_or(i64::MAX);
    let mut w = store.begin_write().await?;
    sqlx::query(
        "UPDATE exporters SET state = 'ERROR', trace = $1, state_ms = $2, attempts = attempts + 1, \
         next_attempt_ms = $3 WHERE name = $4 AND generation = $5 AND paused = 0",
    )
    .bind(&trace[..end])
    .bind(now)
    .bind(now.saturating_add(wait))
    .bind(&ex.name)
    .bind(generation)
    .execute(&mut *w.tx)
    .await?;
    w.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ct: ContextType, context: Option<&str>, rename: Option<&str>) -> Spec {
        Spec {
            subjects: vec!["*".to_string()],
            rename: rename.map(str::to_string),
            context_type: ct,
            context: context.map(str::to_string),
            config: BTreeMap::new(),
        }
    }

    #[test]
    fn subjects_map_to_their_destination() {
        let none = Mapping::new(&spec(ContextType::None, None, None), "abc");
        assert_eq!(none.destination("orders"), "orders");
        assert_eq!(none.destination(":.eu:orders"), ":.eu:orders");
        let custom = Mapping::new(
            &spec(ContextType::Custom, Some(".dr"), Some("dc_${subject}")),
            "abc",
        );
        assert_eq!(custom.destination("orders"), ":.dr:dc_orders");
        assert_eq!(custom.destination(":.eu:orders"), ":.dr.eu:dc_orders");
        let auto = Mapping::new(&spec(ContextType::Auto, None, None), "abc");
        assert_eq!(auto.destination("orders"), ":.lsrc-abc:orders");
        let renamed = Mapping::new(
            &spec(ContextType::None, None, Some("${subject}-copy")),
            "abc",
        );
        assert_eq!(renamed.destination(":.eu:a"), ":.eu:a-copy");
    }

    #[test]
    fn selectors() {
        let p = |s: &str| Selector::parse(s);
        assert!(p("*").unwrap().selects("orders"));
        assert!(!p("*").unwrap().selects(":.eu:orders"));
        assert!(p(":.eu:*").unwrap().selects(":.eu:orders"));
        assert!(p("eu:*").is_err());
        assert!(p(":*:*").unwrap().selects(":.eu:orders"));
        assert!(p(":.:orders").unwrap().selects("orders"));
        assert!(p("ord*").is_err());
        assert!(p("").is_err());
        assert!(p("a\u{1}").is_err());
    }

    #[test]
    fn configs_are_checked_and_masked() {
        let cfg = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(Destination::parse(&cfg(&[])).is_err());
        assert!(Destination::parse(&cfg(&[(URL_KEY, "ftp://x")])).is_err());
        assert!(Destination::parse(&cfg(&[(URL_KEY, "http://169.254.169.254/")])).is_err());
        assert!(Destination::parse(&cfg(&[(URL_KEY, "http://[fe80::1]:8081")])).is_err());
        assert!(Destination::parse(&cfg(&[(URL_KEY, "http://127.0.0.1:8081")])).is_ok());
        assert!(Destination::parse(&cfg(&[
            (URL_KEY, "http://h"),
            ("basic.auth.credentials.source", "USER_INFO")
        ]))
        .is_err());
        assert!(Destination::parse(&cfg(&[
            (URL_KEY, "http://h"),
            ("basic.auth.user.info", "u:p"),
            ("bearer.auth.token", "t")
        ]))
        .is_err());
        let c = cfg(&[
            (URL_KEY, "https://u:pw@h:1,http://h2"),
            ("basic.auth.user.info", "key:sec"),
            ("bearer.auth.token", "tok"),
            ("ssl.key.password", "x"),
            ("other", "plain"),
        ]);
        let m = masked(&c);
        assert_eq!(m[URL_KEY], format!("https://u:{MASK}@h:1/,http://h2"));
        assert_eq!(m["basic.auth.user.info"], format!("key:{MASK}"));
        assert_eq!(m["bearer.auth.token"], MASK);
        assert_eq!(m["ssl.key.password"], MASK);
        assert_eq!(m["other"], "plain");
        // A masked value sent back keeps the secret; a new one replaces it.
        let mut back = Map::new();
        back.insert("basic.auth.user.info".into(), json!(format!("key:{MASK}")));
        back.insert(URL_KEY.into(), json!("http://h3"));
        let merged = merge_config(
            &cfg(&[(URL_KEY, "http://h"), ("basic.auth.user.info", "key:sec")]),
            &back,
        )
        .unwrap();
        assert_eq!(merged["basic.auth.user.info"], "key:sec");
        assert_eq!(merged[URL_KEY], "http://h3");
        back.insert(
            "basic.auth.user.info".into(),
            json!(format!("other:{MASK}")),
        );
        assert!(merge_config(
            &cfg(&[(URL_KEY, "http://h"), ("basic.auth.user.info", "key:sec")]),
            &back
        )
        .is_err());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn forbidden_addresses() {
        for ip in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "::",
            "::ffff:169.254.1.1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "8.8.8.8"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }
}
