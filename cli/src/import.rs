//! `accord import --from URL`: copies a Confluent-compatible registry (Accord included)
//! into the target Accord (`--url`), preserving schema ids and version numbers, and
//! `accord import --verify --from URL`, which compares the two.
//!
//! Both sides are read the same way ([`read_state`]): every subject of every context
//! (soft-deleted ones too), every version with its id and deleted flag, each id's schema
//! (text, type, references, metadata, ruleSet), the global config, each context's and
//! each subject's config and mode. Ids are per context (`:.eu:orders` and `orders` may
//! both use id 1 for different schemas), so a schema is known by its context and id.
//!
//! The import compares the two states id by id and version by version ([`plan`]), so a
//! second run copies nothing and an interrupted one continues where it stopped. Any
//! conflict (an id used in the target by another schema, a version pointing at another
//! id, ...) stops it before anything changes. The copy itself runs with the target in
//! IMPORT mode (registrations with explicit `id` and `version`, references first); since
//! switching to IMPORT hard-deletes soft-deleted versions (confluent-compat.md §9.4), the
//! soft deletes are re-applied at the very end, after every version is in. The target's
//! global mode is restored at the end; it is not copied from the source (it is the
//! deployment's operating state, often READONLY on a source being migrated).

use crate::exit::{CliError, CliResult, Outcome};
use crate::online::{encode, one_line, run, Registry};
use crate::Global;
use accord_client::ClientError;
use accord_server::context;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod dump;

/// How many reads run at the same time against one registry.
const READ_CONCURRENCY: usize = 16;
/// The global mode, set whatever the registry holds (IMPORT on a non-empty one).
const GLOBAL_MODE: &str = "/mode?force=true";
/// How many registrations are in flight at once against the target.
const WRITE_CONCURRENCY: usize = 16;
/// The `subjectPrefix` that lists every context (URL-encoded `:*:`).
const EVERY_CONTEXT: &str = "%3A*%3A";
/// Page size of `GET /schemas` (Confluent's default and maximum).
const PAGE: usize = 1000;
/// The content type of every JSON body sent.
const JSON: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/json";

/// Copy another registry into this one (ids and versions preserved), or compare them.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The source registry URL; several, comma-separated, for fail-over.
    #[arg(
        long,
        env = "ACCORD_IMPORT_FROM",
        required_unless_present = "from_dump"
    )]
    pub from: Option<String>,
    /// Instead of a registry: a dump of Confluent's `_schemas` topic as
    /// `kafka-console-consumer --property print.key=true` prints it (`-`: standard input).
    #[arg(long, conflicts_with_all = ["from", "follow"])]
    pub from_dump: Option<PathBuf>,
    /// Bearer token for the source.
    #[arg(long, env = "ACCORD_IMPORT_FROM_TOKEN", hide_env_values = true)]
    pub from_token: Option<String>,
    /// User for HTTP Basic auth on the source.
    #[arg(long, env = "ACCORD_IMPORT_FROM_USER")]
    pub from_user: Option<String>,
    /// Password for HTTP Basic auth on the source.
    #[arg(long, env = "ACCORD_IMPORT_FROM_PASSWORD", hide_env_values = true)]
    pub from_password: Option<String>,
    /// PEM file of the CA that signs the source's certificate.
    #[arg(long)]
    pub from_ca_cert: Option<PathBuf>,
    /// Print what would be copied, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Compare source and target instead of copying; exit 1 on any difference.
    #[arg(long, conflicts_with_all = ["dry_run", "limit"])]
    pub verify: bool,
    /// Copy at most this many versions in this run (run again to continue).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Keep copying until Ctrl-C or SIGTERM: new versions, soft and permanent deletes,
    /// config and mode changes reach the target within about one interval.
    #[arg(long, conflicts_with_all = ["dry_run", "limit", "verify"])]
    pub follow: bool,
    /// With --follow: milliseconds between two passes.
    #[arg(long, default_value_t = 1000, requires = "follow")]
    pub interval_ms: u64,
}

// ---------------------------------------------------------------------------------------
// The state of one registry
// ---------------------------------------------------------------------------------------

/// A schema reference: the referenced subject version, under the name the schema uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ref {
    name: String,
    subject: String,
    version: i32,
}

/// What an id stands for: the parts that make a schema's identity.
#[derive(Debug, Clone)]
struct Schema {
    schema_type: String,
    text: String,
    references: Vec<Ref>,
    metadata: Option<Value>,
    rule_set: Option<Value>,
}

impl Schema {
    /// Same schema: type, references, metadata, ruleSet and text (exactly, or as equal
    /// JSON documents, so Avro and JSON Schema texts that differ only in whitespace match).
    fn same(&self, other: &Schema) -> bool {
        self.schema_type == other.schema_type
            && self.references == other.references
            && self.metadata == other.metadata
            && self.rule_set == other.rule_set
            && (self.text == other.text
                || matches!(
                    (serde_json::from_str::<Value>(&self.text), serde_json::from_str::<Value>(&other.text)),
                    (Ok(a), Ok(b)) if a == b
                ))
    }

    /// One line for reports: type, references and the start of the text.
    fn describe(&self) -> String {
        let text = one_line(&self.text);
        let short: String = text.chars().take(100).collect();
        let more = if short.len() < text.len() { "..." } else { "" };
        let refs = if self.references.is_empty() {
            String::new()
        } else {
            let r: Vec<String> = self
                .references
                .iter()
                .map(|r| format!("{}={}/{}", r.name, r.subject, r.version))
                .collect();
            format!(" refs [{}]", r.join(", "))
        };
        format!("{}{refs} {short}{more}", self.schema_type)
    }

    /// The register body with an explicit id and version (IMPORT mode).
    fn register_body(&self, id: i32, version: i32) -> Value {
        let refs: Vec<Value> = self
            .references
            .iter()
            .map(|r| json!({"name": r.name, "subject": r.subject, "version": r.version}))
            .collect();
        let mut body = json!({
            "schema": self.text,
            "schemaType": self.schema_type,
            "id": id,
            "version": version,
        });
        if !refs.is_empty() {
            body["references"] = Value::Array(refs);
        }
        if let Some(m) = &self.metadata {
            body["metadata"] = m.clone();
        }
        if let Some(r) = &self.rule_set {
            body["ruleSet"] = r.clone();
        }
        body
    }
}

/// One subject version: its schema id and whether it is soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    id: i32,
    deleted: bool,
}

/// A subject version: the subject as qualified as the registry lists it (`orders`,
/// `:.eu:orders`) and the version number.
type Key = (String, i32);
/// A schema: its context (`.` is the default one) and its id within it.
type Id = (String, i32);

/// Everything the import copies, as one registry holds it.
#[derive(Debug, Default)]
struct State {
    schemas: BTreeMap<Id, Schema>,
    versions: BTreeMap<Key, Version>,
    global_config: Option<Value>,
    global_mode: String,
    /// Configs of subjects and of contexts (a context as `:.ctx:`).
    subject_configs: BTreeMap<String, Value>,
    /// Modes of subjects and of contexts (a context as `:.ctx:`).
    subject_modes: BTreeMap<String, String>,
}

impl State {
    fn subjects(&self) -> BTreeSet<&str> {
        self.versions.keys().map(|(s, _)| s.as_str()).collect()
    }

    /// The schema a version points at.
    fn schema_of(&self, (subject, _): &Key, v: &Version) -> Option<&Schema> {
        self.schemas.get(&id_in(subject, v.id))
    }
}

/// Whether the schema `id` is the same in both registries: the same text, or (Avro
/// names written relative to their namespace, whitespace, ...) the same canonical text
/// once parsed, each with its references resolved in its own registry.
fn same_schema(a_state: &State, b_state: &State, id: &Id, a: &Schema, b: &Schema) -> bool {
    if a.same(b) {
        return true;
    }
    let same_parts = a.schema_type == b.schema_type
        && a.references == b.references
        && a.metadata == b.metadata
        && a.rule_set == b.rule_set;
    same_parts
        && matches!(
            (canonical_text(a_state, id), canonical_text(b_state, id)),
            (Some(x), Some(y)) if x == y
        )
}

/// The canonical text of the schema `id` (what a registry stores for it), its
/// references resolved among the state's versions; None when it cannot be parsed.
fn canonical_text(state: &State, id: &Id) -> Option<String> {
    fn collect(
        state: &State,
        ctx: &str,
        schema: &Schema,
        out: &mut Vec<accord_compat::Reference>,
        seen: &mut BTreeSet<Id>,
    ) -> Option<()> {
        for r in &schema.references {
            let subject = context::qualify(ctx, &r.subject);
            let v = state.versions.get(&(subject.clone(), r.version))?;
            let rid = id_in(&subject, v.id);
            if !seen.insert(rid.clone()) {
                continue;
            }
            let referenced = state.schemas.get(&rid)?;
            // Dependencies before the schemas that use them.
            collect(state, context::of(&subject), referenced, out, seen)?;
            out.push(accord_compat::Reference::new(
                r.name.clone(),
                referenced.text.clone(),
            ));
        }
        Some(())
    }
    let schema = state.schemas.get(id)?;
    let format = match schema.schema_type.as_str() {
        "AVRO" => accord_compat::SchemaFormat::Avro,
        "PROTOBUF" => accord_compat::SchemaFormat::Protobuf,
        "JSON" => accord_compat::SchemaFormat::Json,
        _ => return None,
    };
    let mut refs = Vec::new();
    collect(state, &id.0, schema, &mut refs, &mut BTreeSet::new())?;
    accord_compat::parse(format, &schema.text, &refs)
        .ok()
        .map(|p| p.canonical())
}

/// The id `id` in the context of `subject`.
fn id_in(subject: &str, id: i32) -> Id {
    (context::of(subject).to_string(), id)
}

/// An id for reports: `12`, or `.eu/12` in another context.
fn show_id((ctx, id): &Id) -> String {
    if ctx == context::DEFAULT {
        id.to_string()
    } else {
        format!("{ctx}/{id}")
    }
}

/// An optional JSON object; null and `{}` both mean "none" (Confluent omits empty ones).
fn non_empty(v: Option<&Value>) -> Option<Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(v) => Some(v.clone()),
    }
}

/// A schema body (`/schemas` entry, subject version or `/schemas/ids/{id}`).
fn parse_schema(v: &Value) -> Result<Schema, String> {
    let text = v
        .get("schema")
        .and_then(Value::as_str)
        .ok_or("a schema without its text")?
        .to_string();
    let schema_type = v
        .get("schemaType")
        .and_then(Value::as_str)
        .unwrap_or("AVRO")
        .to_string();
    let mut references = Vec::new();
    for r in v
        .get("references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = r.get("name").and_then(Value::as_str);
        let subject = r.get("subject").and_then(Value::as_str);
        let version = r.get("version").and_then(Value::as_i64);
        match (name, subject, version) {
            (Some(n), Some(s), Some(ver)) => references.push(Ref {
                name: n.to_string(),
                subject: s.to_string(),
                version: i32::try_from(ver).map_err(|_| "a reference version out of range")?,
            }),
            _ => return Err(format!("an invalid reference {r}")),
        }
    }
    Ok(Schema {
        schema_type,
        text,
        references,
        metadata: non_empty(v.get("metadata")),
        rule_set: non_empty(v.get("ruleSet")),
    })
}

fn int(v: &Value, field: &str) -> Option<i32> {
    v.get(field)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

/// A GET that may answer "not found" (any 404): None then.
async fn get_opt(reg: &Registry, path: &str) -> Result<Option<Value>, CliError> {
    match reg.get_json::<Value>(path).await {
        Ok(v) => Ok(Some(v)),
        Err(ClientError::Registry { status: 404, .. }) => Ok(None),
        Err(e) => Err(reg.error(e, None)),
    }
}

/// Reads everything [`State`] holds from one registry. Versions come from
/// `GET /schemas?deleted=true` (paged); a subject that listing misses, or a registry
/// whose entries carry no `deleted` flag (7.x), is read subject by subject. A registry
/// answers `GET /schemas/ids/{id}` only while some version, soft-deleted or not, holds
/// the id (Accord's `live_schema`; Confluent drops an id from its lookup cache with its
/// last version's tombstone), so these versions name every id it holds: no id needs
/// probing one by one.
async fn read_state(reg: &Registry) -> Result<State, CliError> {
    let mut state = State::default();
    let all: Vec<String> = reg
        .get_json(&format!(
            "/subjects?deleted=true&subjectPrefix={EVERY_CONTEXT}"
        ))
        .await
        .map_err(|e| reg.error(e, None))?;
    let subjects: BTreeSet<String> = all
        .iter()
        .map(|s| context::canonical(s).to_string())
        .collect();
    // Every version of every context in pages of PAGE.
    let mut flagged = true;
    let mut offset = 0;
    loop {
        let page: Vec<Value> = reg
            .get_json(&format!(
                "/schemas?deleted=true&subjectPrefix={EVERY_CONTEXT}&offset={offset}&limit={PAGE}"
            ))
            .await
            .map_err(|e| reg.error(e, None))?;
        let n = page.len();
        for entry in page {
            let (Some(subject), Some(version), Some(id)) = (
                entry.get("subject").and_then(Value::as_str),
                int(&entry, "version"),
                int(&entry, "id"),
            ) else {
                continue;
            };
            let subject = context::canonical(subject);
            if !subjects.contains(subject) {
                continue;
            }
            let deleted = match entry.get("deleted").and_then(Value::as_bool) {
                Some(d) => d,
                None => {
                    flagged = false;
                    false
                }
            };
            let schema = parse_schema(&entry)
                .map_err(|m| CliError::Unreachable(format!("{subject} version {version}: {m}")))?;
            state.schemas.entry(id_in(subject, id)).or_insert(schema);
            state
                .versions
                .insert((subject.to_string(), version), Version { id, deleted });
        }
        if n < PAGE {
            break;
        }
        offset += n;
    }
    let listed = state.subjects().into_iter().map(str::to_string).collect();
    let missing: Vec<String> = match flagged {
        true => subjects.difference(&listed).cloned().collect(),
        false => subjects.iter().cloned().collect(),
    };
    let per_subject: Vec<Vec<(Key, Version, Schema)>> = stream::iter(missing)
        .map(|s| async move { read_subject(reg, &s).await })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (key, version, schema) in per_subject.into_iter().flatten() {
        state
            .schemas
            .entry(id_in(&key.0, version.id))
            .or_insert(schema);
        state.versions.insert(key, version);
    }
    // Configs and modes: global, then each context's and each subject's own.
    state.global_config = get_opt(reg, "/config").await?;
    state.global_mode = get_opt(reg, "/mode")
        .await?
        .and_then(|m| m.get("mode").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "READWRITE".to_string());
    let mut scopes: BTreeSet<String> = subjects;
    scopes.extend(
        contexts(reg)
            .await?
            .into_iter()
            .filter(|c| c != context::DEFAULT)
            .map(|c| context::prefix(&c)),
    );
    let settings: Vec<(String, Option<Value>, Option<Value>)> = stream::iter(scopes)
        .map(|s| async move {
            let (config_path, mode_path) = (
                format!("/config/{}", encode(&s)),
                format!("/mode/{}", encode(&s)),
            );
            let (config, mode) =
                tokio::try_join!(get_opt(reg, &config_path), get_opt(reg, &mode_path))?;
            Ok::<_, CliError>((s, config, mode))
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (s, config, mode) in settings {
        if let Some(c) = config {
            state.subject_configs.insert(s.clone(), c);
        }
        if let Some(m) =
            mode.and_then(|m| m.get("mode").and_then(Value::as_str).map(str::to_string))
        {
            state.subject_modes.insert(s, m);
        }
    }
    Ok(state)
}

/// The registry's contexts (`.` only for a registry without contexts).
async fn contexts(reg: &Registry) -> Result<Vec<String>, CliError> {
    let Some(v) = get_opt(reg, "/contexts").await? else {
        return Ok(vec![context::DEFAULT.to_string()]);
    };
    Ok(serde_json::from_value(v).unwrap_or_else(|_| vec![context::DEFAULT.to_string()]))
}

/// One subject read version by version (deleted ones included).
async fn read_subject(
    reg: &Registry,
    subject: &str,
) -> Result<Vec<(Key, Version, Schema)>, CliError> {
    let path = encode(subject);
    let all: Vec<i32> =
        match get_opt(reg, &format!("/subjects/{path}/versions?deleted=true")).await? {
            Some(v) => serde_json::from_value(v).map_err(|e| {
                CliError::Unreachable(format!("versions of {subject}: unexpected answer: {e}"))
            })?,
            None => return Ok(Vec::new()),
        };
    let live: BTreeSet<i32> = match get_opt(reg, &format!("/subjects/{path}/versions")).await? {
        Some(v) => serde_json::from_value(v).unwrap_or_default(),
        None => BTreeSet::new(),
    };
    let mut out = Vec::with_capacity(all.len());
    for v in all {
        let Some(body) =
            get_opt(reg, &format!("/subjects/{path}/versions/{v}?deleted=true")).await?
        else {
            continue;
        };
        let id = int(&body, "id").ok_or_else(|| {
            CliError::Unreachable(format!("{subject} version {v}: an answer without an id"))
        })?;
        let schema = parse_schema(&body)
            .map_err(|m| CliError::Unreachable(format!("{subject} version {v}: {m}")))?;
        out.push((
            (subject.to_string(), v),
            Version {
                id,
                deleted: !live.contains(&v),
            },
            schema,
        ));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------

/// What an import run does, in order.
#[derive(Debug, Default)]
struct Plan {
    /// Versions to register, references first.
    register: Vec<Key>,
    /// Ids the target does not have yet.
    new_schemas: BTreeSet<Id>,
    /// Versions to soft-delete at the end, referrers first.
    soft_delete: Vec<Key>,
    /// Configs to set: None is the global one.
    configs: Vec<(Option<String>, Value)>,
    /// Subject and context modes to set.
    modes: Vec<(String, String)>,
    /// `--follow`: versions to delete permanently (and whether live in the target),
    /// referrers first.
    delete: Vec<(Key, bool)>,
    /// `--follow`: configs the source removed (None is the global one).
    drop_configs: Vec<Option<String>>,
    /// `--follow`: subject and context modes the source removed.
    drop_modes: Vec<String>,
    /// Reasons the import cannot run, each one line.
    conflicts: Vec<String>,
}

impl Plan {
    fn subjects(&self) -> usize {
        self.register
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn is_empty(&self) -> bool {
        self.register.is_empty()
            && self.soft_delete.is_empty()
            && self.configs.is_empty()
            && self.modes.is_empty()
            && self.delete.is_empty()
            && self.drop_configs.is_empty()
            && self.drop_modes.is_empty()
    }

    fn summary(&self) -> String {
        if self.is_empty() {
            return "0 to copy: the target already holds everything".to_string();
        }
        format!(
            "to copy: {} subject(s), {} version(s), {} schema(s), {} soft delete(s), {} config(s), {} mode(s)",
            self.subjects(),
            self.register.len(),
            self.new_schemas.len(),
            self.soft_delete.len(),
            self.configs.len(),
            self.modes.len()
        )
    }
}

/// Every source version, each after the versions its schema references (depth first;
/// a reference cycle, which no registry accepts, is broken where it is found).
fn dependency_order(src: &State) -> Vec<Key> {
    fn visit(key: &Key, src: &State, seen: &mut BTreeSet<Key>, out: &mut Vec<Key>) {
        if !seen.insert(key.clone()) {
            return;
        }
        if let Some(v) = src.versions.get(key) {
            if let Some(s) = src.schema_of(key, v) {
                // An unqualified reference names a subject of the referrer's context.
                let ctx = context::of(&key.0);
                for r in &s.references {
                    let dep = (context::qualify(ctx, &r.subject), r.version);
                    if src.versions.contains_key(&dep) {
                        visit(&dep, src, seen, out);
                    }
                }
            }
        }
        out.push(key.clone());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(src.versions.len());
    for key in src.versions.keys() {
        visit(key, src, &mut seen, &mut out);
    }
    out
}

/// Where an id is used, for reports: `subject/version` pairs.
fn uses(state: &State, id: &Id) -> String {
    let list: Vec<String> = state
        .versions
        .iter()
        .filter(|((s, _), v)| v.id == id.1 && context::of(s) == id.0)
        .map(|((s, n), v)| format!("{s}/{n}{}", if v.deleted { " (deleted)" } else { "" }))
        .collect();
    if list.is_empty() {
        "no version".to_string()
    } else {
        list.join(", ")
    }
}

/// Compares the two states: what to copy, or why it cannot be.
fn plan(src: &State, tgt: &State) -> Plan {
    let mut plan = Plan::default();
    for (id, s) in &src.schemas {
        match tgt.schemas.get(id) {
            Some(t) if !same_schema(src, tgt, id, s, t) => plan.conflicts.push(format!(
                "id {} is another schema in the target: source {} [{}] vs target {} [{}]",
                show_id(id),
                s.describe(),
                uses(src, id),
                t.describe(),
                uses(tgt, id)
            )),
            Some(_) => {}
            None => {
                plan.new_schemas.insert(id.clone());
            }
        }
    }
    for ((subject, n), v) in &src.versions {
        match tgt.versions.get(&(subject.clone(), *n)) {
            Some(t) if t.id != v.id => plan.conflicts.push(format!(
                "subject {subject} version {n} is id {} in the source but id {} in the target",
                v.id, t.id
            )),
            Some(t) if t.deleted && !v.deleted => plan.conflicts.push(format!(
                "subject {subject} version {n} (id {}) is soft-deleted in the target but live in the source (a soft delete cannot be undone)",
                v.id
            )),
            _ => {}
        }
    }
    // Switching to IMPORT hard-deletes the target's soft-deleted versions: refuse when
    // that would destroy versions the source does not hold.
    for ((subject, n), v) in &tgt.versions {
        if v.deleted && !src.versions.contains_key(&(subject.clone(), *n)) {
            plan.conflicts.push(format!(
                "subject {subject} version {n} (id {}) is soft-deleted in the target and not in the source: switching the target to IMPORT would hard-delete it",
                v.id
            ));
        }
    }
    let order = dependency_order(src);
    for key in &order {
        if !tgt.versions.contains_key(key) {
            plan.register.push(key.clone());
        }
    }
    for key in order.iter().rev() {
        let deleted_in_src = src.versions.get(key).is_some_and(|v| v.deleted);
        let live_in_tgt = tgt.versions.get(key).is_none_or(|v| !v.deleted);
        if deleted_in_src && live_in_tgt {
            plan.soft_delete.push(key.clone());
        }
    }
    if let Some(c) = &src.global_config {
        if tgt.global_config.as_ref() != Some(c) {
            plan.configs.push((None, c.clone()));
        }
    }
    for (s, c) in &src.subject_configs {
        if tgt.subject_configs.get(s) != Some(c) {
            plan.configs.push((Some(s.clone()), c.clone()));
        }
    }
    for (s, m) in &src.subject_modes {
        if tgt.subject_modes.get(s) != Some(m) {
            plan.modes.push((s.clone(), m.clone()));
        }
    }
    plan
}

// ---------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------

/// `accord import`: the source connection from the `--from*` flags, the target from the
/// global ones.
pub fn import(global: &Global, args: ImportArgs) -> CliResult {
    let target = Registry::connect(global)?;
    // The source: a `_schemas` dump, or a registry.
    let (source, from) = match (&args.from_dump, &args.from) {
        (Some(path), _) => (None, path.display().to_string()),
        (None, Some(url)) => {
            let source_global = Global {
                url: url.clone(),
                token: args.from_token.clone(),
                user: args.from_user.clone(),
                password: args.from_password.clone(),
                ca_cert: args.from_ca_cert.clone(),
                // `--context` places what is imported; the source is read whole.
                context: None,
                ..global.clone()
            };
            (Some(Registry::connect(&source_global)?), url.clone())
        }
        (None, None) => return Err(CliError::usage("give --from URL or --from-dump FILE")),
    };
    run(async {
        let started = Instant::now();
        let src = match (&source, &args.from_dump) {
            (Some(source), _) if args.follow => {
                let interval = Duration::from_millis(args.interval_ms.max(10));
                return follow(source, &target, &from, interval).await;
            }
            (Some(source), _) => read_state(source).await?,
            (None, Some(path)) => {
                let (state, replay) = dump::read(path)?;
                report_replay(&replay);
                state
            }
            (None, None) => unreachable!("a source was required above"),
        };
        let tgt = read_state(&target).await?;
        let read_secs = started.elapsed().as_secs_f64();
        if args.verify {
            return Ok(verify(&src, &tgt, &from, &global.url));
        }
        let plan = plan(&src, &tgt);
        if !plan.conflicts.is_empty() {
            report_conflicts(&plan);
            return Ok(Outcome::Failed);
        }
        println!(
            "source: {} subject(s), {} version(s), {} schema(s) (read in {read_secs:.1}s)",
            src.subjects().len(),
            src.versions.len(),
            src.schemas.len()
        );
        println!("{}", plan.summary());
        if args.dry_run || plan.is_empty() {
            return Ok(Outcome::Ok);
        }
        execute(&target, &src, tgt, plan, args.limit).await
    })
}

/// What a `_schemas` replay met besides registry state.
fn report_replay(replay: &dump::Replay) {
    println!(
        "dump: {} record(s), {} tombstone(s)",
        replay.records, replay.tombstones
    );
    for (keytype, n) in &replay.unknown {
        eprintln!("accord: warning: {n} record(s) of key type {keytype}, which this import does not know, were skipped");
    }
    if !replay.duplicate_ids.is_empty() {
        eprintln!(
            "accord: warning: {} SCHEMA record(s) reuse an id that holds another schema and were skipped, as Confluent's reader skips them: {}",
            replay.duplicate_ids.len(),
            replay.duplicate_ids.join(", ")
        );
    }
}

fn report_conflicts(plan: &Plan) {
    println!(
        "CONFLICT: {} conflict(s); nothing was changed",
        plan.conflicts.len()
    );
    for c in &plan.conflicts {
        println!("  {c}");
    }
    eprintln!(
        "accord: import refused: {} conflict(s) between source and target; nothing was changed",
        plan.conflicts.len()
    );
}

/// A write to the target; its error mapped like any other.
async fn write(
    target: &Registry,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ClientError> {
    let bytes = target
        .send(
            method,
            path,
            ACCEPT,
            body.map(|b| (JSON, b.to_string().into_bytes())),
        )
        .await?;
    Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The modes the target had before the run; restored at the end.
#[derive(Default)]
struct ModeRestore {
    global: Option<String>,
    /// Subjects and contexts (`:.ctx:`) set to IMPORT, with the mode to set back.
    subjects: BTreeMap<String, String>,
}

impl ModeRestore {
    /// Sets every mode back; the last error, if any.
    async fn apply(&mut self, target: &Registry) -> Result<(), CliError> {
        let mut restored = Ok(());
        for (s, m) in std::mem::take(&mut self.subjects) {
            if let Err(e) = put_mode(target, &s, &m).await {
                restored = Err(e);
            }
        }
        if let Some(m) = self.global.take() {
            if let Err(e) = put_mode_at(target, GLOBAL_MODE, &m, None).await {
                restored = Err(e);
            }
        }
        restored
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Switches the target to IMPORT, copies, restores the modes whatever happened.
async fn execute(
    target: &Registry,
    src: &State,
    tgt: State,
    plan: Plan,
    limit: Option<usize>,
) -> CliResult {
    let mut restore = ModeRestore::default();
    let left_in_import = tgt.global_mode == "IMPORT";
    // Ctrl-C or SIGTERM stops the copy between two requests and still restores the
    // modes; the next run continues from what the target holds.
    let result = tokio::select! {
        r = copy(target, src, tgt, plan, limit, &mut restore) => r,
        _ = stop_signal() => Err(CliError::Refused(
            "interrupted; the modes are restored, run again to continue".to_string(),
        )),
    };
    if left_in_import {
        eprintln!(
            "accord: warning: the target's global mode was IMPORT before this run (an interrupted import?) and stays IMPORT; set it with `accord mode set READWRITE`"
        );
    }
    let restored = restore.apply(target).await;
    let outcome = result?;
    restored?;
    Ok(outcome)
}

/// Puts the target in IMPORT for `plan`'s registrations: globally, and on each subject
/// or context whose own mode would override it. Since the switch hard-deletes the
/// target's soft-deleted versions, the target is read and planned again then; the new
/// plan is returned (None: a conflict, reported).
async fn enter_import(
    target: &Registry,
    src: &State,
    tgt: &mut State,
    mut plan: Plan,
    restore: &mut ModeRestore,
) -> Result<Option<Plan>, CliError> {
    if plan.register.is_empty() {
        return Ok(Some(plan));
    }
    let mut switched = false;
    if tgt.global_mode != "IMPORT" && restore.global.is_none() {
        put_mode_at(target, GLOBAL_MODE, "IMPORT", None).await?;
        restore.global = Some(tgt.global_mode.clone());
        tgt.global_mode = "IMPORT".to_string();
        switched = true;
    }
    let touched: BTreeSet<String> = plan
        .register
        .iter()
        .flat_map(|(s, _)| [s.clone(), context::prefix(context::of(s))])
        .filter(|s| !s.is_empty())
        .collect();
    for s in &touched {
        let Some(m) = tgt.subject_modes.get(s).filter(|m| *m != "IMPORT").cloned() else {
            continue;
        };
        put_mode(target, s, "IMPORT").await?;
        switched = true;
        tgt.subject_modes.insert(s.clone(), "IMPORT".to_string());
        // Set back at the end unless the mode phase sets the source's.
        if !plan.modes.iter().any(|(p, _)| p == s) {
            restore.subjects.entry(s.clone()).or_insert(m);
        }
    }
    if switched && tgt.versions.values().any(|v| v.deleted) {
        *tgt = read_state(target).await?;
        // What `--follow` planned to delete stays planned.
        let (delete, drop_configs, drop_modes) = (
            std::mem::take(&mut plan.delete),
            std::mem::take(&mut plan.drop_configs),
            std::mem::take(&mut plan.drop_modes),
        );
        plan = self::plan(src, tgt);
        plan.delete = delete;
        plan.drop_configs = drop_configs;
        plan.drop_modes = drop_modes;
        if !plan.conflicts.is_empty() {
            report_conflicts(&plan);
            return Ok(None);
        }
    }
    Ok(Some(plan))
}

/// The registrations in rounds: every version after the versions its schema
/// references and after the subject's earlier versions; the versions of one round do
/// not depend on each other, so they are sent concurrently.
fn rounds(src: &State, register: &[Key]) -> Vec<Vec<Key>> {
    let wanted: BTreeSet<&Key> = register.iter().collect();
    let mut previous: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (s, n) in register {
        previous.entry(s.as_str()).or_default().push(*n);
    }
    for list in previous.values_mut() {
        list.sort_unstable();
    }
    // What each version waits for: the subject's version before it, and the versions
    // its schema references, among those to register.
    let deps = |key: &Key| -> Vec<Key> {
        let mut deps = Vec::new();
        // The sorted list's last number below this version's (a binary search).
        if let Some(before) = previous.get(key.0.as_str()).and_then(|l| {
            let below = l.partition_point(|n| *n < key.1);
            below.checked_sub(1).map(|i| l[i])
        }) {
            deps.push((key.0.clone(), before));
        }
        if let Some(schema) = src.versions.get(key).and_then(|v| src.schema_of(key, v)) {
            let ctx = context::of(&key.0);
            for r in &schema.references {
                let dep = (context::qualify(ctx, &r.subject), r.version);
                if wanted.contains(&dep) {
                    deps.push(dep);
                }
            }
        }
        deps
    };
    // Each version's round: one more than its latest dependency's, computed depth first
    // with an explicit stack (a long chain of versions must not exhaust the thread's
    // stack); a cycle, which no registry accepts, is broken where it is found.
    let mut level: BTreeMap<Key, usize> = BTreeMap::new();
    let mut visiting: BTreeSet<Key> = BTreeSet::new();
    for key in register {
        if level.contains_key(key) {
            continue;
        }
        let mut stack: Vec<(Key, Vec<Key>)> = vec![(key.clone(), deps(key))];
        visiting.insert(key.clone());
        while let Some((current, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(dep) if !level.contains_key(&dep) && !visiting.contains(&dep) => {
                    visiting.insert(dep.clone());
                    let d = deps(&dep);
                    stack.push((dep, d));
                }
                Some(_) => {}
                None => {
                    let l = deps(current)
                        .iter()
                        .filter_map(|d| level.get(d).map(|l| l + 1))
                        .max()
                        .unwrap_or(0);
                    let done = current.clone();
                    visiting.remove(&done);
                    level.insert(done, l);
                    stack.pop();
                }
            }
        }
    }
    let mut out: Vec<Vec<Key>> = Vec::new();
    for key in register {
        let l = level.get(key).copied().unwrap_or(0);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(key.clone());
    }
    out
}

/// Registers one version with its id and version number; anything else is an error.
async fn register(target: &Registry, src: &State, key: &Key) -> Result<(), CliError> {
    let (subject, version) = key;
    let Some(v) = src.versions.get(key) else {
        return Ok(());
    };
    let Some(schema) = src.schema_of(key, v) else {
        return Ok(());
    };
    let body = schema.register_body(v.id, *version);
    let answer = write(
        target,
        reqwest::Method::POST,
        &format!("/subjects/{}/versions", encode(subject)),
        Some(&body),
    )
    .await
    .map_err(|e| match target.error(e, Some(subject)) {
        CliError::Refused(m) => {
            CliError::Refused(format!("{subject} version {version} (id {}): {m}", v.id))
        }
        other => other,
    })?;
    let (got_id, got_version) = (int(&answer, "id"), int(&answer, "version"));
    if got_id != Some(v.id) || got_version.is_some_and(|g| g != *version) {
        return Err(CliError::Refused(format!(
            "{subject} version {version}: the target registered it as id {} version {} instead of id {} version {version}",
            got_id.map_or("?".into(), |i| i.to_string()),
            got_version.map_or("?".into(), |i| i.to_string()),
            v.id
        )));
    }
    Ok(())
}

/// Registers the first `todo` versions of `plan.register` (in rounds), with a progress
/// line on a terminal; how many were registered.
async fn register_all(
    target: &Registry,
    src: &State,
    plan: &Plan,
    todo: usize,
    progress: bool,
) -> Result<usize, CliError> {
    let started = Instant::now();
    let mut registered = 0usize;
    let mut last_tick = Instant::now();
    let mut left = todo;
    for round in rounds(src, &plan.register) {
        if left == 0 {
            break;
        }
        let batch: Vec<&Key> = round.iter().take(left).collect();
        left -= batch.len();
        let mut sent = stream::iter(batch)
            .map(|key| register(target, src, key))
            .buffer_unordered(WRITE_CONCURRENCY);
        while let Some(r) = sent.next().await {
            r?;
            registered += 1;
            if progress && last_tick.elapsed().as_millis() >= 200 {
                last_tick = Instant::now();
                let rate = registered as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprint!("\r  {registered}/{todo} versions copied ({rate:.0}/s)   ");
                let _ = std::io::stderr().flush();
            }
        }
    }
    if progress && registered > 0 {
        eprintln!();
    }
    Ok(registered)
}

async fn copy(
    target: &Registry,
    src: &State,
    mut tgt: State,
    plan: Plan,
    limit: Option<usize>,
    restore: &mut ModeRestore,
) -> CliResult {
    let started = Instant::now();
    let Some(plan) = enter_import(target, src, &mut tgt, plan, restore).await? else {
        return Ok(Outcome::Failed);
    };
    let total = plan.register.len();
    let todo = limit.map_or(total, |l| l.min(total));
    let registered =
        register_all(target, src, &plan, todo, std::io::stderr().is_terminal()).await?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if todo < total {
        println!(
            "stopped after {registered} of {total} version(s) (--limit); run again to continue"
        );
        println!(
            "copied {registered} version(s) in {secs:.1}s ({:.0} versions/s)",
            registered as f64 / secs
        );
        return Ok(Outcome::Ok);
    }
    let soft_deleted = finish(target, &tgt, &plan).await?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "imported: {registered} version(s), {} schema(s), {soft_deleted} soft delete(s), {} config(s), {} mode(s) in {secs:.1}s ({:.0} schemas/s)",
        plan.new_schemas.len(),
        plan.configs.len(),
        plan.modes.len(),
        plan.new_schemas.len() as f64 / secs
    );
    Ok(Outcome::Ok)
}

/// What follows the registrations: IMPORT subject modes, soft deletes, (with `--follow`)
/// permanent deletes and removed configs and modes, configs, the other modes. How many
/// versions were soft-deleted.
async fn finish(target: &Registry, tgt: &State, plan: &Plan) -> Result<usize, CliError> {
    let fail = |e: ClientError, s: Option<&str>| target.error(e, s);
    // The subject modes that are IMPORT go before the soft deletes (setting IMPORT
    // would hard-delete them), the others after (READONLY refuses deletes and configs).
    let (import_modes, other_modes): (Vec<_>, Vec<_>) =
        plan.modes.iter().partition(|(_, m)| m == "IMPORT");
    for (s, m) in &import_modes {
        put_mode(target, s, m).await?;
    }
    let mut soft_deleted = 0;
    for (subject, version) in &plan.soft_delete {
        match write(
            target,
            reqwest::Method::DELETE,
            &format!("/subjects/{}/versions/{version}", encode(subject)),
            None,
        )
        .await
        {
            Ok(_) => soft_deleted += 1,
            Err(e) if e.error_code() == Some(40406) => {}
            Err(e) => return Err(fail(e, Some(subject))),
        }
    }
    // Permanent deletes (a live version is soft-deleted first, as the API requires).
    for ((subject, version), live) in &plan.delete {
        let path = format!("/subjects/{}/versions/{version}", encode(subject));
        if *live {
            match write(target, reqwest::Method::DELETE, &path, None).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.error_code() == Some(40406) => {}
                Err(e) => return Err(fail(e, Some(subject))),
            }
        }
        match write(
            target,
            reqwest::Method::DELETE,
            &format!("{path}?permanent=true"),
            None,
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(fail(e, Some(subject))),
        }
    }
    for scope in &plan.drop_configs {
        let path = match scope {
            Some(s) => format!("/config/{}", encode(s)),
            None => "/config".to_string(),
        };
        match write(target, reqwest::Method::DELETE, &path, None).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(fail(e, scope.as_deref())),
        }
    }
    for subject in &plan.drop_modes {
        match write(
            target,
            reqwest::Method::DELETE,
            &format!("/mode/{}", encode(subject)),
            None,
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(fail(e, Some(subject))),
        }
    }
    for (subject, config) in &plan.configs {
        put_config(target, tgt, subject.as_deref(), config).await?;
    }
    for (s, m) in &other_modes {
        put_mode(target, s, m).await?;
    }
    Ok(soft_deleted)
}

// ---------------------------------------------------------------------------------------
// --follow
// ---------------------------------------------------------------------------------------

/// What `--follow` adds to a plan: the source is authoritative for what it holds or
/// held. A version the target holds and the source does not is deleted permanently
/// when the source held it at the previous pass or still holds its subject; a config
/// or mode the source held at the previous pass and no longer holds is removed.
fn plan_deletes(prev: Option<&State>, src: &State, tgt: &State, plan: &mut Plan) {
    let src_subjects = src.subjects();
    let was = |key: &Key| prev.is_some_and(|p| p.versions.contains_key(key));
    // Referrers first: the reverse of the target's dependency order.
    for key in dependency_order(tgt).iter().rev() {
        if src.versions.contains_key(key) {
            continue;
        }
        if was(key) || src_subjects.contains(key.0.as_str()) {
            let live = tgt.versions.get(key).is_some_and(|v| !v.deleted);
            plan.delete.push((key.clone(), live));
        }
    }
    let Some(prev) = prev else { return };
    if prev.global_config.is_some() && src.global_config.is_none() && tgt.global_config.is_some() {
        plan.drop_configs.push(None);
    }
    for s in prev.subject_configs.keys() {
        if !src.subject_configs.contains_key(s) && tgt.subject_configs.contains_key(s) {
            plan.drop_configs.push(Some(s.clone()));
        }
    }
    for s in prev.subject_modes.keys() {
        if !src.subject_modes.contains_key(s) && tgt.subject_modes.contains_key(s) {
            plan.drop_modes.push(s.clone());
        }
    }
}

/// `--follow`: passes of read, plan and copy every `interval` until Ctrl-C or SIGTERM.
/// The target stays in IMPORT (set once: every switch would hard-delete its
/// soft-deleted versions) and its modes are restored at the end.
async fn follow(source: &Registry, target: &Registry, from: &str, interval: Duration) -> CliResult {
    let mut restore = ModeRestore::default();
    let result = tokio::select! {
        r = follow_passes(source, target, from, interval, &mut restore) => r,
        _ = stop_signal() => {
            println!("stopping: the modes are restored; run again to resume");
            Ok(Outcome::Ok)
        }
    };
    let restored = restore.apply(target).await;
    let outcome = result?;
    restored?;
    Ok(outcome)
}

async fn follow_passes(
    source: &Registry,
    target: &Registry,
    from: &str,
    interval: Duration,
    restore: &mut ModeRestore,
) -> CliResult {
    let mut prev: Option<State> = None;
    let progress = std::io::stderr().is_terminal();
    loop {
        let started = Instant::now();
        let (src, tgt) = tokio::try_join!(read_state(source), read_state(target))?;
        let mut tgt = tgt;
        // The deletes first: what they remove is planned as gone (a soft-deleted
        // version the source no longer holds is no conflict here).
        let mut deletes = Plan::default();
        plan_deletes(prev.as_ref(), &src, &tgt, &mut deletes);
        for (key, _) in &deletes.delete {
            tgt.versions.remove(key);
        }
        let mut plan = plan(&src, &tgt);
        plan.delete = deletes.delete;
        plan.drop_configs = deletes.drop_configs;
        plan.drop_modes = deletes.drop_modes;
        if !plan.conflicts.is_empty() {
            report_conflicts(&plan);
            return Ok(Outcome::Failed);
        }
        if prev.is_none() {
            println!(
                "following {}: {} subject(s), {} version(s), {} schema(s); Ctrl-C or SIGTERM stops",
                from,
                src.subjects().len(),
                src.versions.len(),
                src.schemas.len()
            );
        }
        if !plan.is_empty() {
            let Some(plan) = enter_import(target, &src, &mut tgt, plan, restore).await? else {
                return Ok(Outcome::Failed);
            };
            let registered =
                register_all(target, &src, &plan, plan.register.len(), progress).await?;
            let soft = finish(target, &tgt, &plan).await?;
            println!(
                "synced in {:.2}s: {registered} version(s), {soft} soft delete(s), {} permanent delete(s), {} config(s), {} mode(s)",
                started.elapsed().as_secs_f64(),
                plan.delete.len(),
                plan.configs.len() + plan.drop_configs.len(),
                plan.modes.len() + plan.drop_modes.len()
            );
        }
        prev = Some(src);
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
}

async fn put_mode(target: &Registry, subject: &str, mode: &str) -> Result<(), CliError> {
    put_mode_at(
        target,
        &format!("/mode/{}?force=true", encode(subject)),
        mode,
        Some(subject),
    )
    .await
}

async fn put_mode_at(
    target: &Registry,
    path: &str,
    mode: &str,
    subject: Option<&str>,
) -> Result<(), CliError> {
    write(
        target,
        reqwest::Method::PUT,
        path,
        Some(&json!({ "mode": mode })),
    )
    .await
    .map_err(|e| target.error(e, subject))?;
    Ok(())
}

/// Sets a config exactly as the source has it: the target's own is removed first (a PUT
/// merges into what is there), and the GET shape's `compatibilityLevel` is sent as the
/// PUT shape's `compatibility`.
async fn put_config(
    target: &Registry,
    tgt: &State,
    subject: Option<&str>,
    config: &Value,
) -> Result<(), CliError> {
    let path = match subject {
        Some(s) => format!("/config/{}", encode(s)),
        None => "/config".to_string(),
    };
    let had = match subject {
        Some(s) => tgt.subject_configs.contains_key(s),
        None => tgt.global_config.is_some(),
    };
    if had {
        match write(target, reqwest::Method::DELETE, &path, None).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(target.error(e, subject)),
        }
    }
    let mut body = config.clone();
    if let Some(map) = body.as_object_mut() {
        if let Some(level) = map.remove("compatibilityLevel") {
            map.insert("compatibility".to_string(), level);
        }
    }
    write(target, reqwest::Method::PUT, &path, Some(&body))
        .await
        .map_err(|e| target.error(e, subject))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// --verify
// ---------------------------------------------------------------------------------------

fn show(v: Option<&Value>) -> String {
    v.map_or("none".to_string(), Value::to_string)
}

/// Compares the two states in full (target-only items are differences too) and prints
/// the verdict; Failed on any difference.
fn verify(src: &State, tgt: &State, from: &str, to: &str) -> Outcome {
    let mut diffs = Vec::new();
    let ids: BTreeSet<&Id> = src.schemas.keys().chain(tgt.schemas.keys()).collect();
    // Ids the target holds without versions (only probed for source ids) count only
    // when the source has them.
    let tgt_used: BTreeSet<Id> = tgt
        .versions
        .iter()
        .map(|((s, _), v)| id_in(s, v.id))
        .collect();
    for id in ids {
        let shown = show_id(id);
        match (src.schemas.get(id), tgt.schemas.get(id)) {
            (Some(s), Some(t)) if !same_schema(src, tgt, id, s, t) => diffs.push(format!(
                "id {shown}: source {} vs target {}",
                s.describe(),
                t.describe()
            )),
            (Some(_), None) => diffs.push(format!("id {shown}: missing in the target")),
            (None, Some(_)) if tgt_used.contains(id) => diffs.push(format!(
                "id {shown}: only in the target ({})",
                uses(tgt, id)
            )),
            _ => {}
        }
    }
    let keys: BTreeSet<&Key> = src.versions.keys().chain(tgt.versions.keys()).collect();
    for key @ (s, n) in keys {
        let flag = |v: &Version| if v.deleted { "soft-deleted" } else { "live" };
        match (src.versions.get(key), tgt.versions.get(key)) {
            (Some(a), Some(b)) if a != b => diffs.push(format!(
                "subject {s} version {n}: source id {} ({}) vs target id {} ({})",
                a.id,
                flag(a),
                b.id,
                flag(b)
            )),
            (Some(a), None) => diffs.push(format!(
                "subject {s} version {n}: missing in the target (source id {}, {})",
                a.id,
                flag(a)
            )),
            (None, Some(b)) => diffs.push(format!(
                "subject {s} version {n}: only in the target (id {}, {})",
                b.id,
                flag(b)
            )),
            _ => {}
        }
    }
    if src.global_config != tgt.global_config {
        diffs.push(format!(
            "global config: source {} vs target {}",
            show(src.global_config.as_ref()),
            show(tgt.global_config.as_ref())
        ));
    }
    let subjects: BTreeSet<&String> = src
        .subject_configs
        .keys()
        .chain(tgt.subject_configs.keys())
        .collect();
    for s in subjects {
        let (a, b) = (src.subject_configs.get(s), tgt.subject_configs.get(s));
        if a != b {
            diffs.push(format!(
                "config of subject {s}: source {} vs target {}",
                show(a),
                show(b)
            ));
        }
    }
    let subjects: BTreeSet<&String> = src
        .subject_modes
        .keys()
        .chain(tgt.subject_modes.keys())
        .collect();
    for s in subjects {
        let (a, b) = (src.subject_modes.get(s), tgt.subject_modes.get(s));
        if a != b {
            diffs.push(format!(
                "mode of subject {s}: source {} vs target {}",
                a.map_or("none", String::as_str),
                b.map_or("none", String::as_str)
            ));
        }
    }
    if diffs.is_empty() {
        let deleted = src.versions.values().filter(|v| v.deleted).count();
        println!(
            "IDENTICAL: {} schema(s), {} version(s) ({deleted} soft-deleted) in {} subject(s), {} config(s), {} mode(s)",
            src.schemas.len(),
            src.versions.len(),
            src.subjects().len(),
            src.subject_configs.len() + usize::from(src.global_config.is_some()),
            src.subject_modes.len()
        );
    } else {
        println!(
            "DIFFERENT: {} difference(s) between {from} (source) and {to} (target)",
            diffs.len()
        );
        for d in &diffs {
            println!("  {d}");
        }
    }
    if src.global_mode != tgt.global_mode {
        println!(
            "note: global mode {} in the source, {} in the target (not copied)",
            src.global_mode, tgt.global_mode
        );
    }
    if diffs.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version for [`state`]: subject, version, id, references (subject, version).
    type Row<'a> = (&'a str, i32, i32, &'a [(&'a str, i32)]);

    fn state(versions: &[Row<'_>]) -> State {
        let mut st = State::default();
        for (subject, version, id, refs) in versions {
            st.versions.insert(
                (subject.to_string(), *version),
                Version {
                    id: *id,
                    deleted: false,
                },
            );
            st.schemas.insert(
                id_in(subject, *id),
                Schema {
                    schema_type: "AVRO".into(),
                    text: format!("\"s{id}\""),
                    references: refs
                        .iter()
                        .map(|(s, v)| Ref {
                            name: format!("{s}{v}"),
                            subject: s.to_string(),
                            version: *v,
                        })
                        .collect(),
                    metadata: None,
                    rule_set: None,
                },
            );
        }
        st
    }

    #[test]
    fn rounds_put_references_and_earlier_versions_first() {
        let src = state(&[
            ("a", 1, 1, &[]),
            ("a", 2, 2, &[("b", 1)]),
            ("b", 1, 3, &[]),
            ("c", 1, 4, &[]),
            (":.eu:d", 1, 1, &[("a", 1)]),
            (":.eu:a", 1, 2, &[]),
        ]);
        let register: Vec<Key> = dependency_order(&src);
        let rounds = rounds(&src, &register);
        let round_of = |s: &str, v: i32| {
            rounds
                .iter()
                .position(|r| r.contains(&(s.to_string(), v)))
                .expect("planned")
        };
        assert!(round_of("a", 1) < round_of("a", 2));
        assert!(round_of("b", 1) < round_of("a", 2));
        assert_eq!(round_of("c", 1), 0);
        // An unqualified reference names the referrer's context.
        assert!(round_of(":.eu:a", 1) < round_of(":.eu:d", 1));
        assert_eq!(rounds.iter().map(Vec::len).sum::<usize>(), 6);
    }

    #[test]
    fn a_long_chain_of_versions_does_not_exhaust_the_stack() {
        let n = 100_000;
        let mut src = State::default();
        for v in 1..=n {
            src.versions.insert(
                ("s".to_string(), v),
                Version {
                    id: v,
                    deleted: false,
                },
            );
        }
        // Registered newest first: every version waits for the one before it.
        let register: Vec<Key> = (1..=n).rev().map(|v| ("s".to_string(), v)).collect();
        let rounds = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || rounds(&src, &register).len())
            .expect("thread")
            .join()
            .expect("no overflow");
        assert_eq!(rounds, n as usize);
    }
}
