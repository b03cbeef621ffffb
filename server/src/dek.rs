//! The DEK registry: Confluent's KEKs and DEKs (`/dek-registry/v1`), Accord's per-entity
//! DEKs (`/v1/entity-keys`) and crypto-shredding (`/v1/streams/{s}/.../shred`).
//!
//! The server stores only wrapped key material (base64 of the KMS-wrapped Tink key
//! proto). For a `shared` KEK the server holds the KMS (its [`KmsRegistry`]): it
//! generates DEKs that are sent without material, and unwraps material for authorised
//! principals (`keyMaterial`). For other KEKs the clients wrap and unwrap with their own
//! KMS access and the server never sees a DEK in clear.
//!
//! Entities are never stored in clear: an entity key row is keyed by
//! `entity_id = hex(HMAC-SHA256(entity hash key, entity))`, with a server key made at
//! first start (table `server_secrets`) or configured; its SHA-256 fingerprint is stored
//! at first start and a different key is refused at start. Shredding deletes rows and
//! leaves a tombstone `(stream, entity_id)` (`entity_id = ''` for a whole stream), so a
//! shredded entity's key is never created again. Before deleting, the rows' material is
//! overwritten. On SQLite (with `secure_delete` on and a WAL checkpoint after the
//! shred) the freed pages are zeroed, so the wrapped material leaves the database file.
//! On PostgreSQL the overwrite and the delete only write new tuple versions: the old
//! ones, with the wrapped material, stay in the table's pages until VACUUM reclaims them,
//! and in the WAL, its archives, replicas and backups. What makes a shredded key
//! unrecoverable there is losing access to the KEK, not the deletion.
//!
//! Under a shared KEK the server makes every DEK and never accepts client-supplied
//! material (it would unwrap what it did not make for whoever passes `release`).
//!
//! Access with auth on: key material is released only to admins, members of the
//! stream's owning team and members of teams with an active consumer of the stream
//! (subjects of no stream: admins and principals of any team); every release and every
//! refusal is in the audit log (never the material). Creating keys: admins and the
//! owning team's members ([`governance::check_subject_owner`]). KEKs: any member may
//! create a non-shared KEK; creating a shared one, and updating, deleting, undeleting or
//! testing any KEK, is for admins (refusals audited as `kek.<op>.denied`).

use crate::audit;
use crate::auth::{Actor, Role};
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::governance;
use crate::outbox;
use crate::registry::now_ms;
use crate::storage::{Backend, Store, WriteTx};
use accord_contracts::kms::{
    check_kms_key_id, normalize_kms_type, CachingWrapper, Dek, DekAlgorithm, KmsError, KmsRegistry,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use utoipa::ToSchema;
use zeroize::Zeroizing;

type R<T> = Result<T, ApiError>;

/// The outbox event of a shred (declared with the other events in [`crate::outbox`]).
pub use crate::outbox::KEYS_SHREDDED;
/// At most this many entities per entity-keys request.
pub const MAX_ENTITIES: usize = 1000;
/// Longest entity value.
pub const MAX_ENTITY_LEN: usize = 1024;

/// How long unwrapped shared-KEK material is kept (`ACCORD_KMS_CACHE_TTL_SECS`; 0 turns
/// the cache off): releases within it make no KMS call.
pub const KMS_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// Unwrapped materials kept at most.
const KMS_CACHE_CAPACITY: usize = 100_000;

/// What the key endpoints need besides the store: KMS providers, the entity hash key,
/// the key limit.
pub struct Keys {
    pub kms: KmsRegistry,
    /// Shared-KEK entity keys are wrapped a request's batch at a time (one KMS call), and
    /// what the KMS unwrapped is cached briefly (see `accord_contracts::kms::CachingWrapper`).
    pub wrapper: CachingWrapper,
    entity_key: Zeroizing<Vec<u8>>,
    pub max_keys: usize,
}

impl Keys {
    /// The KMS providers from the config (or the environment) and the entity hash key
    /// from the config, `ACCORD_ENTITY_HASH_KEY`, or the database (made at first start).
    pub async fn load(store: &Store, config: &ServerConfig) -> anyhow::Result<Keys> {
        let mut kms = KmsRegistry::new();
        let secret = config
            .local_kms_secret
            .clone()
            .or_else(|| std::env::var("ACCORD_LOCAL_KMS_SECRET").ok())
            .or_else(|| std::env::var(accord_contracts::kms::local::LOCAL_SECRET_ENV).ok())
            .map(Zeroizing::new);
        let file = config.local_kms_secret_file.clone().or_else(|| {
            std::env::var("ACCORD_LOCAL_KMS_SECRET_FILE")
                .ok()
                .map(Into::into)
        });
        if let Some(s) = secret {
            kms.register(Arc::new(accord_contracts::kms::local::LocalKms::new(&s)?));
        } else if let Some(path) = file {
            kms.register(Arc::new(accord_contracts::kms::local::LocalKms::from_file(
                &path,
            )?));
        }
        // AWS KMS when credentials are in the environment (AWS_ACCESS_KEY_ID, ...).
        if let Some(aws) = accord_contracts::kms::aws::AwsKms::from_env()? {
            kms.register(Arc::new(aws));
        }
        let configured = config
            .entity_hash_key
            .clone()
            .or_else(|| std::env::var("ACCORD_ENTITY_HASH_KEY").ok())
            .map(Zeroizing::new);
        let entity_key = match configured {
            Some(h) => {
                let k = Zeroizing::new(
                    hex::decode(h.trim())
                        .map_err(|e| anyhow::anyhow!("ACCORD_ENTITY_HASH_KEY is not hex: {e}"))?,
                );
                anyhow::ensure!(
                    k.len() >= 32,
                    "ACCORD_ENTITY_HASH_KEY must be at least 32 bytes (64 hex chars)"
                );
                k
            }
            None => stored_entity_key(store).await?,
        };
        check_entity_key_fingerprint(store, &entity_key).await?;
        let ttl = match std::env::var("ACCORD_KMS_CACHE_TTL_SECS") {
            Ok(v) => std::time::Duration::from_secs(v.trim().parse().map_err(|_| {
                anyhow::anyhow!("ACCORD_KMS_CACHE_TTL_SECS is not a number of seconds: {v}")
            })?),
            Err(_) => KMS_CACHE_TTL,
        };
        Ok(Keys {
            kms,
            wrapper: CachingWrapper::new(ttl, KMS_CACHE_CAPACITY),
            entity_key,
            max_keys: config.max_keys,
        })
    }

    /// `hex(HMAC-SHA256(entity hash key, entity))`: how an entity is stored and audited.
    pub fn entity_id(&self, entity: &str) -> R<String> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.entity_key)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("entity hash key: {e}")))?;
        mac.update(entity.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

/// The name of the entity hash key's fingerprint in `server_secrets`.
pub const ENTITY_KEY_FINGERPRINT: &str = "entity_hash_key_fingerprint";

/// `hex(SHA-256(key))`.
fn entity_key_fingerprint(key: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(key))
}

/// Stores the entity hash key's fingerprint at first start; afterwards refuses a key
/// with another fingerprint (entity keys would all be "missing" and tombstones would stop
/// matching).
async fn check_entity_key_fingerprint(store: &Store, key: &[u8]) -> anyhow::Result<()> {
    let fp = entity_key_fingerprint(key);
    let stored: Option<String> =
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(ENTITY_KEY_FINGERPRINT)
            .fetch_optional(store.reader())
            .await?;
    let stored = match stored {
        Some(s) => s,
        None => {
            // A database from before fingerprints with a generated key: that key is the
            // one its entity keys were made with.
            let generated: Option<String> =
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind("entity_hash_key")
                    .fetch_optional(store.reader())
                    .await?;
            let first = match generated {
                Some(h) => entity_key_fingerprint(&Zeroizing::new(hex::decode(h.trim())?)),
                None => fp.clone(),
            };
            let mut w = store
                .begin_write()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(ENTITY_KEY_FINGERPRINT)
                .bind(&first)
                .execute(&mut *w.tx)
                .await?;
            let s: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(ENTITY_KEY_FINGERPRINT)
                .fetch_one(&mut *w.tx)
                .await?;
            w.commit().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            s
        }
    };
    anyhow::ensure!(
        stored == fp,
        "the entity hash key (ACCORD_ENTITY_HASH_KEY, or entity_hash_key in the config) is not \
         the one this database's entity keys and shred tombstones were made with (its SHA-256 \
         fingerprint differs from server_secrets.{ENTITY_KEY_FINGERPRINT}); configure the \
         original key (or none, if the server generated it at first start)"
    );
    Ok(())
}

async fn stored_entity_key(store: &Store) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    const NAME: &str = "entity_hash_key";
    let read = |pool: sqlx::AnyPool| async move {
        sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(NAME)
            .fetch_optional(&pool)
            .await
    };
    if read(store.reader().clone()).await?.is_none() {
        let mut fresh = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(fresh.as_mut()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut w = store
            .begin_write()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(NAME)
            .bind(hex::encode(fresh.as_ref()))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let row = read(store.reader().clone())
        .await?
        .ok_or_else(|| anyhow::anyhow!("entity hash key missing"))?;
    let v: Zeroizing<String> = Zeroizing::new(row.try_get("value")?);
    Ok(Zeroizing::new(hex::decode(v.as_str())?))
}

// ---- shapes (Confluent's, `NON_NULL`) ----

/// A KEK as Confluent returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KekInfo {
    pub name: String,
    pub kms_type: String,
    pub kms_key_id: String,
    pub kms_props: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    pub shared: bool,
    pub ts: i64,
    pub deleted: bool,
}

/// Key material (base64 of the Tink key proto) on its way to a client: serialized as
/// that string, zeroized on drop, `<redacted>` in Debug output.
#[derive(Clone)]
pub struct KeyMaterial(Zeroizing<String>);

impl KeyMaterial {
    fn new(b64: Zeroizing<String>) -> Self {
        KeyMaterial(b64)
    }
}

impl Serialize for KeyMaterial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A DEK as Confluent returns it; `keyMaterial` only for shared KEKs.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DekInfo {
    pub kek_name: String,
    pub subject: String,
    pub version: i64,
    pub algorithm: String,
    pub encrypted_key_material: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_material: Option<KeyMaterial>,
    pub ts: i64,
    pub deleted: bool,
}

/// `POST /dek-registry/v1/keks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateKek {
    pub name: Option<String>,
    pub kms_type: Option<String>,
    pub kms_key_id: Option<String>,
    pub kms_props: Option<BTreeMap<String, String>>,
    pub doc: Option<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub deleted: bool,
}

/// `POST /dek-registry/v1/keks/{kek}/deks[/{subject}]`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDek {
    pub subject: Option<String>,
    pub version: Option<i64>,
    pub algorithm: Option<String>,
    pub encrypted_key_material: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

/// Which version of a DEK: a number, or the highest (`latest` / `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    Exact(i64),
    Latest,
}

impl VersionSel {
    /// Confluent's version parameter: 1..2^31-1, `latest` or `-1`; else 42202.
    pub fn parse(s: &str) -> R<VersionSel> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSel::Latest);
        }
        match t.parse::<i64>() {
            Ok(-1) => Ok(VersionSel::Latest),
            Ok(n) if (1..=i32::MAX as i64).contains(&n) => Ok(VersionSel::Exact(n)),
            _ => Err(ApiError::InvalidVersion(s.to_string())),
        }
    }
}

// ---- validation ----

fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
    ApiError::DekInvalidKey {
        field: field.to_string(),
        detail: detail.into(),
    }
}

/// KEK names: 1-256 chars, a letter or `_` first, then letters, digits, `_` or `-`.
pub fn check_kek_name(name: &str) -> R<()> {
    let mut chars = name.chars();
    let ok = !name.is_empty()
        && name.len() <= 256
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!("'{name}' must be 1-256 characters, start with a letter or '_', then letters, digits, '_' or '-'"),
        ))
    }
}

/// DEK subjects: not empty, no control characters.
pub fn check_subject(subject: &str) -> R<()> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        Err(invalid(
            "subject",
            "the subject must be non-empty and contain no control characters",
        ))
    } else {
        Ok(())
    }
}

/// `algorithm`, `AES256_GCM` when absent.
pub fn parse_algorithm(alg: Option<&str>) -> R<DekAlgorithm> {
    match alg {
        None => Ok(DekAlgorithm::Aes256Gcm),
        Some(a) => DekAlgorithm::parse(a.trim()).map_err(|_| {
            invalid(
                "algorithm",
                format!("'{a}' is not one of AES128_GCM, AES256_GCM, AES256_SIV"),
            )
        }),
    }
}

fn check_material(field: &str, m: &str) -> R<Vec<u8>> {
    match B64.decode(m.trim()) {
        Ok(b) if !b.is_empty() => Ok(b),
        Ok(_) => Err(invalid(field, "empty key material")),
        Err(e) => Err(invalid(field, format!("not standard base64: {e}"))),
    }
}

/// A KMS failure for the client: the KEK and the kind of error, never the provider's
/// text (ARNs, account ids), which goes to the log.
fn kms_error(kek: &KekInfo, e: KmsError) -> ApiError {
    tracing::warn!(kek = %kek.name, kms_type = %kek.kms_type, error = %e, "KMS call failed");
    let (name, kms) = (&kek.name, &kek.kms_type);
    match e {
        KmsError::Refused(_) => ApiError::KmsAccessDenied(format!(
            "The KMS ({kms}) refused access for KEK '{name}'; the server log has the details"
        )),
        KmsError::UnknownType(t) => ApiError::DekGeneration(format!(
            "KEK '{name}': this server has no KMS provider for kmsType '{t}'"
        )),
        KmsError::Unwrap(_) => ApiError::DekGeneration(format!(
            "KEK '{name}': the key material cannot be unwrapped with this KEK ({kms})"
        )),
        KmsError::Unavailable(_) | KmsError::Config(_) => ApiError::DekGeneration(format!(
            "KEK '{name}': the KMS ({kms}) is unavailable or misconfigured; the server log has the details"
        )),
    }
}

// ---- rows ----

fn kek_from_row(row: &AnyRow) -> R<KekInfo> {
    let props: String = row.try_get("kms_props")?;
    Ok(KekInfo {
        name: row.try_get("name")?,
        kms_type: row.try_get("kms_type")?,
        kms_key_id: row.try_get("kms_key_id")?,
        kms_props: serde_json::from_str(&props).map_err(ApiError::internal)?,
        doc: row.try_get("doc")?,
        shared: row.try_get::<i64, _>("shared")? != 0,
        ts: row.try_get("ts")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

fn dek_from_row(row: &AnyRow) -> R<DekInfo> {
    Ok(DekInfo {
        kek_name: row.try_get("kek_name")?,
        subject: row.try_get("subject")?,
        version: row.try_get("version")?,
        algorithm: row.try_get("algorithm")?,
        encrypted_key_material: row.try_get("material")?,
        key_material: None,
        ts: row.try_get("ts")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

async fn kek_row<'e, E: Executor<'e, Database = Any>>(e: E, name: &str) -> R<Option<KekInfo>> {
    sqlx::query("SELECT name, kms_type, kms_key_id, kms_props, doc, shared, ts, deleted FROM keks WHERE name = $1")
        .bind(name)
        .fetch_optional(e)
        .await?
        .as_ref()
        .map(kek_from_row)
        .transpose()
}

/// A live KEK (or a soft-deleted one with `deleted`), else 40470.
async fn live_kek<'e, E: Executor<'e, Database = Any>>(
    e: E,
    name: &str,
    deleted: bool,
) -> R<KekInfo> {
    check_kek_name(name)?;
    match kek_row(e, name).await? {
        Some(k) if deleted || !k.deleted => Ok(k),
        _ => Err(ApiError::DekKeyNotFound(name.to_string())),
    }
}

const DEK_COLS: &str = "kek_name, subject, algorithm, version, material, ts, deleted";

async fn dek_rows<'e, E: Executor<'e, Database = Any>>(
    e: E,
    kek: &str,
    subject: &str,
    alg: DekAlgorithm,
) -> R<Vec<DekInfo>> {
    let sql = format!(
        "SELECT {DEK_COLS} FROM deks WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 ORDER BY version"
    );
    sqlx::query(&sql)
        .bind(kek)
        .bind(subject)
        .bind(alg.as_str())
        .fetch_all(e)
        .await?
        .iter()
        .map(dek_from_row)
        .collect()
}

/// The stream `subject` belongs to and whether the whole stream was shredded.
async fn subject_stream<'e, E: Executor<'e, Database = Any>>(
    e: E,
    subject: &str,
) -> R<Option<(String, bool)>> {
    let row = sqlx::query(
        "SELECT s.name, (SELECT COUNT(*) FROM shredded t WHERE t.stream = s.name AND t.entity_id = '') AS gone \
         FROM streams s WHERE s.key_subject = $1 OR s.value_subject = $1 ORDER BY s.name LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(e)
    .await?;
    row.map(|r| -> R<(String, bool)> { Ok((r.try_get("name")?, r.try_get::<i64, _>("gone")? > 0)) })
        .transpose()
}

async fn check_not_shredded(store: &Store, kek: &str, subject: &str) -> R<Option<String>> {
    match subject_stream(store.reader(), subject).await? {
        Some((stream, true)) => Err(ApiError::KeyShredded(format!(
            "subject '{subject}' under KEK '{kek}' (stream '{stream}')"
        ))),
        other => Ok(other.map(|(s, _)| s)),
    }
}

// ---- access to key material ----

/// Whether `actor` may obtain key material of `subject`'s keys (or, for entity keys,
/// learn which entities have keys): admins and anyone with auth off; the owning team
/// and teams of approved (`active`) consumers of the subject's stream; for a subject of
/// no stream, any principal with a team. No audit entry: see [`release`].
async fn may_release(store: &Store, actor: &Actor, subject: &str) -> R<bool> {
    Ok(match actor {
        _ if is_admin(actor) => true,
        Actor::Anonymous => true,
        Actor::Principal(p) => {
            match governance::team_access(store, subject, p.team.as_deref(), false).await? {
                // A subject of no stream: any principal with a team.
                None => p.team.as_deref().is_some_and(|t| !t.is_empty()),
                Some(access) => access.allowed,
            }
        }
    })
}

/// Audits a release of `target` (`keys.release`) or its refusal (`keys.release.denied`).
async fn audit_release(store: &Store, actor: &Actor, allowed: bool, target: &str) -> R<()> {
    let mut w = store.begin_write().await?;
    let action = if allowed {
        "keys.release"
    } else {
        "keys.release.denied"
    };
    audit::append(&mut w, actor.name(), action, target, None, None).await?;
    w.commit().await?;
    Ok(())
}

/// The 403 (40301) every refused key release answers, once the refusal is audited.
async fn refuse_release(store: &Store, actor: &Actor, subject: &str, target: &str) -> ApiError {
    if let Err(e) = audit_release(store, actor, false, target).await {
        return e;
    }
    ApiError::Forbidden(format!(
        "Principal '{}' may not obtain key material of subject '{subject}': only admins, its stream's owning team and teams of its approved consumers may",
        actor.name()
    ))
}

/// Whether `actor` may obtain key material of `subject`'s keys; the refusal is audited
/// (and 403), the release too.
pub async fn release(store: &Store, actor: &Actor, subject: &str, target: &str) -> R<()> {
    if may_release(store, actor, subject).await? {
        audit_release(store, actor, true, target).await
    } else {
        Err(refuse_release(store, actor, subject, target).await)
    }
}

fn is_admin(actor: &Actor) -> bool {
    match actor {
        Actor::Anonymous => true,
        Actor::Principal(p) => p.role == Role::Admin,
    }
}

/// The refusal of a KEK operation reserved to admins (`op`: `create-shared`, `update`,
/// `delete`, `undelete`, `test`): audited as `kek.{op}.denied`, then 403.
async fn kek_refusal(store: &Store, actor: &Actor, op: &str, name: &str) -> ApiError {
    let audited = async {
        let mut w = store.begin_write().await?;
        audit::append(
            &mut w,
            actor.name(),
            &format!("kek.{op}.denied"),
            &format!("kek:{name}"),
            None,
            None,
        )
        .await?;
        w.commit().await
    };
    if let Err(e) = audited.await {
        return e;
    }
    let what = match op {
        "create-shared" => "create a shared KEK",
        "update" => "update a KEK",
        "delete" => "delete a KEK",
        "undelete" => "undelete a KEK",
        _ => "test a KEK",
    };
    ApiError::Forbidden(format!(
        "Principal '{}' may not {what} ('{name}'): only admins may; members may create non-shared KEKs",
        actor.name()
    ))
}

/// Admins (and anyone with auth off) pass; others get [`kek_refusal`].
async fn require_kek_admin(store: &Store, actor: &Actor, op: &str, name: &str) -> R<()> {
    if is_admin(actor) {
        Ok(())
    } else {
        Err(kek_refusal(store, actor, op, name).await)
    }
}

/// Unwraps `material` (base64) with the KEK's KMS, or from the cache of what it
/// unwrapped within the TTL: the Tink key proto, base64.
async fn unwrap_b64(keys: &Keys, kek: &KekInfo, material: &str) -> R<Zeroizing<String>> {
    let kms = keys.kms.get(&kek.kms_type).map_err(|e| kms_error(kek, e))?;
    let wrapped = B64
        .decode(material)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored key material: {e}")))?;
    let pt = keys
        .wrapper
        .unwrap(&*kms, &kek.kms_key_id, &wrapped)
        .await
        .map_err(|e| kms_error(kek, e))?;
    Ok(Zeroizing::new(B64.encode(pt.as_slice())))
}

/// A fresh DEK wrapped by the KEK: (wrapped base64, Tink proto base64).
async fn generate_wrapped(
    keys: &Keys,
    kek: &KekInfo,
    alg: DekAlgorithm,
) -> R<(String, Zeroizing<String>)> {
    let kms = keys.kms.get(&kek.kms_type).map_err(|e| kms_error(kek, e))?;
    let dek = Dek::generate(alg).map_err(|_| {
        invalid(
            "algorithm",
            format!("the server cannot generate {alg} keys; send encryptedKeyMaterial"),
        )
    })?;
    let tink = dek.to_tink();
    let wrapped = kms
        .wrap(&kek.kms_key_id, &tink)
        .await
        .map_err(|e| kms_error(kek, e))?;
    Ok((
        B64.encode(wrapped),
        Zeroizing::new(B64.encode(tink.as_slice())),
    ))
}

/// `n` fresh DEKs wrapped under the KEK with one KMS call (see
/// `accord_contracts::kms::CachingWrapper::wrap_batch`): (wrapped base64, Tink proto
/// base64) each.
async fn generate_batch(
    keys: &Keys,
    kek: &KekInfo,
    alg: DekAlgorithm,
    n: usize,
) -> R<Vec<(String, Zeroizing<String>)>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let kms = keys.kms.get(&kek.kms_type).map_err(|e| kms_error(kek, e))?;
    let tinks = (0..n)
        .map(|_| {
            Dek::generate(alg).map(|d| d.to_tink()).map_err(|_| {
                invalid(
                    "algorithm",
                    format!("the server cannot generate {alg} keys; send encryptedKeyMaterial"),
                )
            })
        })
        .collect::<R<Vec<_>>>()?;
    let plain: Vec<&[u8]> = tinks.iter().map(|t| t.as_slice()).collect();
    let wrapped = keys
        .wrapper
        .wrap_batch(&*kms, &kek.kms_key_id, &plain)
        .await
        .map_err(|e| kms_error(kek, e))?;
    Ok(wrapped
        .into_iter()
        .zip(&tinks)
        .map(|(w, t)| (B64.encode(w), Zeroizing::new(B64.encode(t.as_slice()))))
        .collect())
}

// ---- KEKs ----

/// `POST /keks`. An equivalent soft-deleted KEK is undeleted; any other existing one is 40971.
pub async fn create_kek(store: &Store, actor: &Actor, body: CreateKek) -> R<KekInfo> {
    let name = body.name.as_deref().ok_or_else(|| invalid("name", ""))?;
    check_kek_name(name)?;
    let kms_type = body
        .kms_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("kmsType", ""))?;
    let kms_type = normalize_kms_type(kms_type);
    let key_id = body
        .kms_key_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("kmsKeyId", ""))?;
    check_kms_key_id(&kms_type, key_id).map_err(|e| invalid("kmsKeyId", e))?;
    let props = body.kms_props.clone().unwrap_or_default();
    if body.shared {
        require_kek_admin(store, actor, "create-shared", name).await?;
    }
    let mut w = store.begin_write().await?;
    if let Some(existing) = kek_row(&mut *w.tx, name).await? {
        let equivalent = existing.kms_type == kms_type
            && existing.kms_key_id == key_id
            && existing.shared == body.shared;
        if existing.deleted && !body.deleted && equivalent {
            if !is_admin(actor) {
                // This create is an undelete.
                drop(w);
                return Err(kek_refusal(store, actor, "undelete", name).await);
            }
            undelete_kek_in(&mut w, actor, name).await?;
            w.commit().await?;
            return Ok(KekInfo {
                deleted: false,
                ..existing
            });
        }
        return Err(ApiError::DekKeyExists(name.to_string()));
    }
    let kek = KekInfo {
        name: name.to_string(),
        kms_type,
        kms_key_id: key_id.to_string(),
        kms_props: props,
        doc: body.doc,
        shared: body.shared,
        ts: now_ms(),
        deleted: body.deleted,
    };
    sqlx::query("INSERT INTO keks (name, kms_type, kms_key_id, kms_props, doc, shared, ts, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(&kek.name)
        .bind(&kek.kms_type)
        .bind(&kek.kms_key_id)
        .bind(serde_json::to_string(&kek.kms_props).map_err(ApiError::internal)?)
        .bind(kek.doc.as_deref())
        .bind(kek.shared as i64)
        .bind(kek.ts)
        .bind(kek.deleted as i64)
        .execute(&mut *w.tx)
        .await?;
    let after = serde_json::to_value(&kek).map_err(ApiError::internal)?;
    audit::append(
        &mut w,
        actor.name(),
        "kek.create",
        &format!("kek:{name}"),
        None,
        Some(&after),
    )
    .await?;
    w.commit().await?;
    Ok(kek)
}

pub async fn get_kek(store: &Store, name: &str, deleted: bool) -> R<KekInfo> {
    live_kek(store.reader(), name, deleted).await
}

/// `PUT /keks/{kek}`: `kmsProps`, `doc`, `shared`; absent keeps, `null` clears.
pub async fn update_kek(store: &Store, actor: &Actor, name: &str, body: Value) -> R<KekInfo> {
    let Value::Object(m) = body else {
        return Err(ApiError::MalformedBody(
            "The body of PUT /dek-registry/v1/keks/{kek} must be a JSON object".to_string(),
        ));
    };
    check_kek_name(name)?;
    require_kek_admin(store, actor, "update", name).await?;
    let mut w = store.begin_write().await?;
    let mut kek = live_kek(&mut *w.tx, name, false).await?;
    let before = serde_json::to_value(&kek).map_err(ApiError::internal)?;
    if let Some(v) = m.get("kmsProps") {
        kek.kms_props = match v {
            Value::Null => BTreeMap::new(),
            v => serde_json::from_value(v.clone())
                .map_err(|e| invalid("kmsProps", format!("expected an object of strings: {e}")))?,
        };
    }
    if let Some(v) = m.get("doc") {
        kek.doc = match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(invalid("doc", "expected a string")),
        };
    }
    if let Some(v) = m.get("shared") {
        kek.shared = match v {
            Value::Bool(b) => *b,
            Value::Null => false,
            _ => return Err(invalid("shared", "expected true or false")),
        };
    }
    kek.ts = now_ms();
    sqlx::query("UPDATE keks SET kms_props = $2, doc = $3, shared = $4, ts = $5 WHERE name = $1")
        .bind(name)
        .bind(serde_json::to_string(&kek.kms_props).map_err(ApiError::internal)?)
        .bind(kek.doc.as_deref())
        .bind(kek.shared as i64)
        .bind(kek.ts)
        .execute(&mut *w.tx)
        .await?;
    let after = serde_json::to_value(&kek).map_err(ApiError::internal)?;
    audit::append(
        &mut w,
        actor.name(),
        "kek.update",
        &format!("kek:{name}"),
        Some(&before),
        Some(&after),
    )
    .await?;
    w.commit().await?;
    Ok(kek)
}

/// `DELETE /keks/{kek}`: soft (no live DEKs may remain) or permanent (after a soft
/// delete, and no DEK at all).
pub async fn delete_kek(store: &Store, actor: &Actor, name: &str, permanent: bool) -> R<()> {
    check_kek_name(name)?;
    require_kek_admin(store, actor, "delete", name).await?;
    let mut w = store.begin_write().await?;
    let kek = kek_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::DekKeyNotFound(name.to_string()))?;
    let filter = if permanent { "" } else { " AND deleted = 0" };
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM deks WHERE kek_name = $1{filter}"
    ))
    .bind(name)
    .fetch_one(&mut *w.tx)
    .await?;
    let e: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entity_deks WHERE kek_name = $1")
        .bind(name)
        .fetch_one(&mut *w.tx)
        .await?;
    if n + e > 0 {
        return Err(ApiError::DekReferencesExist(format!(
            "Key '{name}' still wraps {n} DEK version(s) and {e} entity key(s); delete them first"
        )));
    }
    if permanent {
        if !kek.deleted {
            return Err(ApiError::DekKeyNotSoftDeleted(name.to_string()));
        }
        sqlx::query("DELETE FROM keks WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
    } else {
        if kek.deleted {
            return Err(ApiError::DekKeyNotFound(name.to_string()));
        }
        sqlx::query("UPDATE keks SET deleted = 1 WHERE name = $1")
            .bind(name)
            .execute(&mut *w.tx)
            .await?;
    }
    let action = if permanent {
        "kek.delete.permanent"
    } else {
        "kek.delete"
    };
    audit::append(
        &mut w,
        actor.name(),
        action,
        &format!("kek:{name}"),
        None,
        None,
    )
    .await?;
    w.commit().await?;
    Ok(())
}

pub async fn undelete_kek(store: &Store, actor: &Actor, name: &str) -> R<()> {
    check_kek_name(name)?;
    require_kek_admin(store, actor, "undelete", name).await?;
    let mut w = store.begin_write().await?;
    kek_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::DekKeyNotFound(name.to_string()))?;
    undelete_kek_in(&mut w, actor, name).await?;
    w.commit().await?;
    Ok(())
}

/// Clears a KEK's soft delete and audits it, in the caller's transaction (an explicit
/// undelete, or a create equivalent to the soft-deleted KEK).
async fn undelete_kek_in(w: &mut WriteTx, actor: &Actor, name: &str) -> R<()> {
    sqlx::query("UPDATE keks SET deleted = 0 WHERE name = $1")
        .bind(name)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        w,
        actor.name(),
        "kek.undelete",
        &format!("kek:{name}"),
        None,
        None,
    )
    .await?;
    Ok(())
}

/// `POST /keks/{kek}/test`: a shared KEK's KMS wraps and unwraps a fresh key.
pub async fn test_kek(store: &Store, keys: &Keys, actor: &Actor, name: &str) -> R<KekInfo> {
    check_kek_name(name)?;
    require_kek_admin(store, actor, "test", name).await?;
    let kek = live_kek(store.reader(), name, false).await?;
    if !kek.shared {
        return Err(invalid("shared", format!("KEK '{name}' is not shared")));
    }
    let (wrapped, tink) = generate_wrapped(keys, &kek, DekAlgorithm::Aes256Gcm).await?;
    let back = unwrap_b64(keys, &kek, &wrapped).await?;
    if back.as_str() != tink.as_str() {
        return Err(ApiError::DekGeneration(
            "the KMS did not return the wrapped key".to_string(),
        ));
    }
    Ok(kek)
}

/// `GET /keks`: names, sorted; with prefixes, only KEKs with DEKs of a matching subject.
pub async fn list_keks(store: &Store, prefixes: &[&str], deleted: bool) -> R<Vec<String>> {
    let live = if deleted { "" } else { " AND deleted = 0" };
    let mut sql = format!("SELECT name FROM keks k WHERE 1 = 1{live}");
    if !prefixes.is_empty() {
        let any: Vec<String> = (1..=prefixes.len())
            .map(|n| format!("substr(d.subject, 1, length(${n})) = ${n}"))
            .collect();
        let live = if deleted { "" } else { " AND d.deleted = 0" };
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM deks d WHERE d.kek_name = k.name{live} AND ({}))",
            any.join(" OR ")
        ));
    }
    sql.push_str(" ORDER BY name");
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for p in prefixes {
        q = q.bind(*p);
    }
    Ok(q.fetch_all(store.reader()).await?)
}

// ---- DEKs ----

/// `GET /keks/{kek}/deks`: the subjects with DEKs, sorted.
pub async fn list_dek_subjects(store: &Store, kek: &str, deleted: bool) -> R<Vec<String>> {
    live_kek(store.reader(), kek, deleted).await?;
    let filter = if deleted { "" } else { " AND deleted = 0" };
    Ok(sqlx::query_scalar(&format!(
        "SELECT DISTINCT subject FROM deks WHERE kek_name = $1{filter} ORDER BY subject"
    ))
    .bind(kek)
    .fetch_all(store.reader())
    .await?)
}

/// Adds `keyMaterial` to a DEK of a shared KEK, deleted or not, after the release check.
async fn with_material(
    store: &Store,
    keys: &Keys,
    actor: &Actor,
    kek: &KekInfo,
    mut dek: DekInfo,
) -> R<DekInfo> {
    if kek.shared {
        let target = format!(
            "dek:{}/{}/{}/{}",
            dek.kek_name, dek.subject, dek.algorithm, dek.version
        );
        release(store, actor, &dek.subject, &target).await?;
        dek.key_material = Some(KeyMaterial::new(
            unwrap_b64(keys, kek, &dek.encrypted_key_material).await?,
        ));
    }
    Ok(dek)
}

/// `POST /keks/{kek}/deks/{subject}` (and the deprecated form with the subject in the body).
pub async fn create_dek(
    store: &Store,
    keys: &Keys,
    actor: &Actor,
    kek_name: &str,
    subject: &str,
    body: CreateDek,
    rewrap: bool,
) -> R<DekInfo> {
    check_kek_name(kek_name)?;
    check_subject(subject)?;
    let alg = parse_algorithm(body.algorithm.as_deref())?;
    let version = body.version.unwrap_or(1);
    if !(1..=i32::MAX as i64).contains(&version) {
        return Err(invalid(
            "version",
            format!("{version} is not between 1 and 2^31-1"),
        ));
    }
    if let Some(m) = &body.encrypted_key_material {
        check_material("encryptedKeyMaterial", m)?;
    }
    let kek = live_kek(store.reader(), kek_name, false).await?;
    check_not_shredded(store, kek_name, subject).await?;
    let supplied = body.encrypted_key_material.as_deref().map(str::trim);
    if supplied.is_some() && kek.shared {
        // The server unwraps a shared KEK's DEKs for whoever passes `release` on the
        // DEK's subject: accepting material would let a caller launder another subject's
        // wrapped key through a subject of its own. It never unwraps what it did not make.
        return Err(invalid(
            "encryptedKeyMaterial",
            format!(
                "KEK '{kek_name}' is shared: the server generates its DEKs and never accepts \
                 (or unwraps) client-supplied key material; send the request without encryptedKeyMaterial"
            ),
        ));
    }
    let generated = match supplied {
        Some(_) => None,
        None if kek.shared && !rewrap => Some(generate_wrapped(keys, &kek, alg).await?),
        None if rewrap => None,
        None => {
            return Err(invalid(
                "encryptedKeyMaterial",
                format!("KEK '{kek_name}' is not shared: the client wraps the DEK and sends it"),
            ))
        }
    };
    let mut w = store.begin_write().await?;
    governance::check_subject_owner(&mut w.tx, actor.name(), subject).await?;
    // A shred may have committed since the check above.
    if let Some((stream, true)) = subject_stream(&mut *w.tx, subject).await? {
        return Err(ApiError::KeyShredded(format!(
            "subject '{subject}' under KEK '{kek_name}' (stream '{stream}')"
        )));
    }
    let existing = dek_rows(&mut *w.tx, kek_name, subject, alg)
        .await?
        .into_iter()
        .find(|d| d.version == version);
    let target = format!("dek:{kek_name}/{subject}/{}/{version}", alg.as_str());
    let dek = match existing {
        Some(mut d) if rewrap => {
            if !kek.shared {
                return Err(invalid(
                    "shared",
                    format!("KEK '{kek_name}' is not shared: the server cannot rewrap"),
                ));
            }
            let tink = B64
                .decode(
                    unwrap_b64(keys, &kek, &d.encrypted_key_material)
                        .await?
                        .as_bytes(),
                )
                .map_err(ApiError::internal)?;
            let tink = Zeroizing::new(tink);
            let kms = keys
                .kms
                .get(&kek.kms_type)
                .map_err(|e| kms_error(&kek, e))?;
            let wrapped = kms
                .wrap(&kek.kms_key_id, &tink)
                .await
                .map_err(|e| kms_error(&kek, e))?;
            d.encrypted_key_material = B64.encode(wrapped);
            d.ts = now_ms();
            sqlx::query("UPDATE deks SET material = $5, ts = $6 WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND version = $4")
                .bind(kek_name).bind(subject).bind(alg.as_str()).bind(version)
                .bind(&d.encrypted_key_material).bind(d.ts)
                .execute(&mut *w.tx).await?;
            audit::append(&mut w, actor.name(), "dek.rewrap", &target, None, None).await?;
            d
        }
        Some(mut d)
            if d.deleted
                && !body.deleted
                && supplied.is_none_or(|m| m == d.encrypted_key_material) =>
        {
            sqlx::query("UPDATE deks SET deleted = 0 WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND version = $4")
                .bind(kek_name).bind(subject).bind(alg.as_str()).bind(version)
                .execute(&mut *w.tx).await?;
            audit::append(&mut w, actor.name(), "dek.undelete", &target, None, None).await?;
            d.deleted = false;
            d
        }
        Some(_) => {
            return Err(ApiError::DekKeyExists(format!(
                "{kek_name}/{subject}/{}/{version}",
                alg.as_str()
            )))
        }
        None if rewrap => return Err(ApiError::DekKeyNotFound(format!("{kek_name}/{subject}"))),
        None => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deks")
                .fetch_one(&mut *w.tx)
                .await?;
            if n as usize >= keys.max_keys {
                return Err(ApiError::DekTooManyKeys(keys.max_keys));
            }
            let material = match (&generated, supplied) {
                (Some((wrapped, _)), _) => wrapped.clone(),
                (None, Some(m)) => m.to_string(),
                (None, None) => return Err(invalid("encryptedKeyMaterial", "")),
            };
            let d = DekInfo {
                kek_name: kek_name.to_string(),
                subject: subject.to_string(),
                version,
                algorithm: alg.as_str().to_string(),
                encrypted_key_material: material,
                key_material: None,
                ts: now_ms(),
                deleted: body.deleted,
            };
            sqlx::query("INSERT INTO deks (kek_name, subject, algorithm, version, material, ts, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(kek_name).bind(subject).bind(alg.as_str()).bind(version)
                .bind(&d.encrypted_key_material).bind(d.ts).bind(d.deleted as i64)
                .execute(&mut *w.tx).await?;
            audit::append(&mut w, actor.name(), "dek.create", &target, None, None).await?;
            d
        }
    };
    w.commit().await?;
    with_material(store, keys, actor, &kek, dek).await
}

/// `GET /keks/{kek}/deks/{subject}[/versions/{v}]`.
#[allow(clippy::too_many_arguments)]
pub async fn get_dek(
    store: &Store,
    keys: &Keys,
    actor: &Actor,
    kek_name: &str,
    subject: &str,
    alg: DekAlgorithm,
    version: VersionSel,
    deleted: bool,
) -> R<DekInfo> {
    check_subject(subject)?;
    let kek = live_kek(store.reader(), kek_name, deleted).await?;
    check_not_shredded(store, kek_name, subject).await?;
    let rows = dek_rows(store.reader(), kek_name, subject, alg).await?;
    let found = rows
        .into_iter()
        .filter(|d| deleted || !d.deleted)
        .filter(|d| match version {
            VersionSel::Exact(v) => d.version == v,
            VersionSel::Latest => true,
        })
        .max_by_key(|d| d.version)
        .ok_or_else(|| ApiError::DekKeyNotFound(format!("{kek_name}/{subject}")))?;
    with_material(store, keys, actor, &kek, found).await
}

/// `GET /keks/{kek}/deks/{subject}/versions`.
pub async fn dek_versions(
    store: &Store,
    kek_name: &str,
    subject: &str,
    alg: DekAlgorithm,
    deleted: bool,
) -> R<Vec<i64>> {
    check_subject(subject)?;
    live_kek(store.reader(), kek_name, deleted).await?;
    check_not_shredded(store, kek_name, subject).await?;
    let v: Vec<i64> = dek_rows(store.reader(), kek_name, subject, alg)
        .await?
        .into_iter()
        .filter(|d| deleted || !d.deleted)
        .map(|d| d.version)
        .collect();
    if v.is_empty() {
        return Err(ApiError::DekKeyNotFound(format!("{kek_name}/{subject}")));
    }
    Ok(v)
}

/// The rows a delete or undelete of `version` (`None`: every version) applies to;
/// `latest` is the highest version among the live ones (`live_latest`) or among all.
fn select_versions(
    rows: &[DekInfo],
    version: Option<VersionSel>,
    live_latest: bool,
) -> Vec<&DekInfo> {
    let latest = rows
        .iter()
        .filter(|d| !live_latest || !d.deleted)
        .map(|d| d.version)
        .max();
    rows.iter()
        .filter(|d| match version {
            None => true,
            Some(VersionSel::Exact(v)) => d.version == v,
            Some(VersionSel::Latest) => Some(d.version) == latest,
        })
        .collect()
}

/// `DELETE /keks/{kek}/deks/{subject}[/versions/{v}]`: soft, or permanent after soft.
pub async fn delete_dek(
    store: &Store,
    actor: &Actor,
    kek_name: &str,
    subject: &str,
    alg: DekAlgorithm,
    version: Option<VersionSel>,
    permanent: bool,
) -> R<()> {
    check_subject(subject)?;
    let mut w = store.begin_write().await?;
    live_kek(&mut *w.tx, kek_name, true).await?;
    governance::check_subject_owner(&mut w.tx, actor.name(), subject).await?;
    let rows = dek_rows(&mut *w.tx, kek_name, subject, alg).await?;
    // A soft delete's `latest` is the highest live version; a permanent delete's (which
    // needs a soft-deleted version) the highest of all.
    let targets = select_versions(&rows, version, !permanent);
    let key = format!("{kek_name}/{subject}");
    if targets.is_empty() {
        return Err(ApiError::DekKeyNotFound(key));
    }
    if permanent {
        if targets.iter().any(|d| !d.deleted) {
            return Err(ApiError::DekKeyNotSoftDeleted(key));
        }
    } else if targets.iter().all(|d| d.deleted) {
        return Err(ApiError::DekKeyNotFound(key));
    }
    for d in &targets {
        let sql = if permanent {
            "DELETE FROM deks WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND version = $4"
        } else {
            "UPDATE deks SET deleted = 1 WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND version = $4"
        };
        sqlx::query(sql)
            .bind(kek_name)
            .bind(subject)
            .bind(alg.as_str())
            .bind(d.version)
            .execute(&mut *w.tx)
            .await?;
    }
    let action = if permanent {
        "dek.delete.permanent"
    } else {
        "dek.delete"
    };
    let target = match version {
        None => format!("dek:{kek_name}/{subject}/{}", alg.as_str()),
        Some(_) => format!(
            "dek:{kek_name}/{subject}/{}/{}",
            alg.as_str(),
            targets[0].version
        ),
    };
    audit::append(&mut w, actor.name(), action, &target, None, None).await?;
    w.commit().await?;
    Ok(())
}

/// `POST /keks/{kek}/deks/{subject}[/versions/{v}]/undelete`.
pub async fn undelete_dek(
    store: &Store,
    actor: &Actor,
    kek_name: &str,
    subject: &str,
    alg: DekAlgorithm,
    version: Option<VersionSel>,
) -> R<()> {
    check_subject(subject)?;
    let mut w = store.begin_write().await?;
    let kek = live_kek(&mut *w.tx, kek_name, true).await?;
    governance::check_subject_owner(&mut w.tx, actor.name(), subject).await?;
    let rows = dek_rows(&mut *w.tx, kek_name, subject, alg).await?;
    let targets: Vec<i64> = select_versions(&rows, version, false)
        .iter()
        .map(|d| d.version)
        .collect();
    if targets.is_empty() {
        return Err(ApiError::DekKeyNotFound(format!("{kek_name}/{subject}")));
    }
    if kek.deleted {
        return Err(ApiError::DekKeyMustUndelete(kek_name.to_string()));
    }
    for v in &targets {
        sqlx::query("UPDATE deks SET deleted = 0 WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND version = $4")
            .bind(kek_name).bind(subject).bind(alg.as_str()).bind(v)
            .execute(&mut *w.tx).await?;
    }
    audit::append(
        &mut w,
        actor.name(),
        "dek.undelete",
        &format!("dek:{kek_name}/{subject}/{}", alg.as_str()),
        None,
        None,
    )
    .await?;
    w.commit().await?;
    Ok(())
}

// ---- entity keys ----

/// `POST /v1/entity-keys/{kek}/{subject}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityKeysRequest {
    pub algorithm: Option<String>,
    #[serde(default)]
    pub create: bool,
    pub entities: Vec<EntityKeyInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityKeyInput {
    pub entity: String,
    pub encrypted_key_material: Option<String>,
}

/// One entity's key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityKey {
    pub entity: String,
    pub version: i64,
    pub algorithm: String,
    pub encrypted_key_material: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_material: Option<KeyMaterial>,
    pub ts: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityKeysResponse {
    pub keys: Vec<EntityKey>,
    pub missing: Vec<String>,
    pub shredded: Vec<String>,
}

/// The entities of `ids` with a tombstone in `stream`.
async fn tombstones<'e, E: Executor<'e, Database = Any>>(
    e: E,
    stream: &str,
    ids: &[String],
) -> R<HashSet<String>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT entity_id FROM shredded WHERE stream = $1 AND entity_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql).bind(stream);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.fetch_all(e).await?.into_iter().collect())
}

async fn entity_rows<'e, E: Executor<'e, Database = Any>>(
    e: E,
    kek: &str,
    subject: &str,
    alg: DekAlgorithm,
    ids: &[String],
) -> R<HashMap<String, (String, i64, i64)>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT entity_id, material, version, ts FROM entity_deks WHERE kek_name = $1 AND subject = $2 AND algorithm = $3 AND entity_id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(kek).bind(subject).bind(alg.as_str());
    for id in ids {
        q = q.bind(id);
    }
    let mut out = HashMap::new();
    for r in q.fetch_all(e).await? {
        out.insert(
            r.try_get("entity_id")?,
            (
                r.try_get("material")?,
                r.try_get("version")?,
                r.try_get("ts")?,
            ),
        );
    }
    Ok(out)
}

pub async fn entity_keys(
    store: &Store,
    keys: &Keys,
    actor: &Actor,
    kek_name: &str,
    subject: &str,
    body: EntityKeysRequest,
) -> R<EntityKeysResponse> {
    check_kek_name(kek_name)?;
    check_subject(subject)?;
    let alg = parse_algorithm(body.algorithm.as_deref())?;
    if body.entities.len() > MAX_ENTITIES {
        return Err(ApiError::BatchTooLarge(format!(
            "At most {MAX_ENTITIES} entities per request; got {}",
            body.entities.len()
        )));
    }
    for (i, e) in body.entities.iter().enumerate() {
        let n = e.entity.chars().count();
        if n == 0 || n > MAX_ENTITY_LEN {
            return Err(invalid(
                &format!("entities[{i}].entity"),
                format!("an entity is 1..={MAX_ENTITY_LEN} characters; got {n}"),
            ));
        }
        if let Some(m) = &e.encrypted_key_material {
            check_material(&format!("entities[{i}].encryptedKeyMaterial"), m)?;
        }
    }
    if body.create {
        if let Actor::Principal(p) = actor {
            if p.role == Role::Reader {
                return Err(ApiError::Forbidden(format!(
                    "Principal '{}' (role reader) may not create entity keys; send \"create\": false to look keys up",
                    p.name
                )));
            }
        }
    }
    let kek = live_kek(store.reader(), kek_name, false).await?;
    // Which entities have keys (or were shredded) and their wrapped material are as
    // sensitive as the key material itself, whatever the KEK: before anything is looked
    // up, the caller must pass the release check (audited when refused). A writer that
    // may change the subject passes too when creating: it makes (and so may see) them.
    let target = format!("entity-keys:{kek_name}/{subject}");
    let mut allowed = may_release(store, actor, subject).await?;
    if !allowed && body.create {
        let mut conn = store.reader().acquire().await?;
        allowed = governance::check_subject_owner(&mut conn, actor.name(), subject)
            .await
            .is_ok();
    }
    if !allowed {
        return Err(refuse_release(store, actor, subject, &target).await);
    }
    let stream = subject_stream(store.reader(), subject).await?;
    // Request order, each entity once.
    let mut order: Vec<(usize, String)> = Vec::new();
    let mut seen = HashSet::new();
    for (i, e) in body.entities.iter().enumerate() {
        let id = keys.entity_id(&e.entity)?;
        if seen.insert(id.clone()) {
            order.push((i, id));
        }
    }
    let ids: Vec<String> = order.iter().map(|(_, id)| id.clone()).collect();
    let mut shredded_ids: HashSet<String> = match &stream {
        Some((_, true)) => ids.iter().cloned().collect(),
        Some((s, false)) => tombstones(store.reader(), s, &ids).await?,
        None => HashSet::new(),
    };
    let live: Vec<String> = ids
        .iter()
        .filter(|i| !shredded_ids.contains(*i))
        .cloned()
        .collect();
    let mut stored = entity_rows(store.reader(), kek_name, subject, alg, &live).await?;
    // Clear keys the server made in this request, so they are not unwrapped again.
    let mut clear: HashMap<String, Zeroizing<String>> = HashMap::new();
    if body.create {
        let mut new_rows: Vec<(String, String)> = Vec::new();
        // Under a shared KEK the server makes every key (supplied material is ignored),
        // all of this request's new ones wrapped with one KMS call.
        let mut batch = if kek.shared {
            let new = order
                .iter()
                .filter(|(_, id)| !shredded_ids.contains(id) && !stored.contains_key(id))
                .count();
            generate_batch(keys, &kek, alg, new).await?.into_iter()
        } else {
            Vec::new().into_iter()
        };
        for (i, id) in &order {
            if shredded_ids.contains(id) || stored.contains_key(id) {
                continue;
            }
            let material = match &body.entities[*i].encrypted_key_material {
                _ if kek.shared => {
                    let (wrapped, tink) = batch.next().ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("a batch key short"))
                    })?;
                    clear.insert(wrapped.clone(), tink);
                    wrapped
                }
                Some(m) => m.trim().to_string(),
                None => {
                    return Err(invalid(
                        &format!("entities[{i}].encryptedKeyMaterial"),
                        format!("entity {i} has no key yet and KEK '{kek_name}' is not shared: the client wraps the DEK and sends it"),
                    ))
                }
            };
            new_rows.push((id.clone(), material));
        }
        if !new_rows.is_empty() {
            let mut w = store.begin_write().await?;
            governance::check_subject_owner(&mut w.tx, actor.name(), subject).await?;
            if let Some((s, _)) = &stream {
                // A shred may have committed since the read above.
                let gone: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM shredded WHERE stream = $1 AND entity_id = ''",
                )
                .bind(s)
                .fetch_one(&mut *w.tx)
                .await?;
                if gone > 0 {
                    return Err(ApiError::KeyShredded(format!("stream '{s}'")));
                }
            }
            if let Some((s, _)) = &stream {
                let ids: Vec<String> = new_rows.iter().map(|(id, _)| id.clone()).collect();
                shredded_ids.extend(tombstones(&mut *w.tx, s, &ids).await?);
            }
            let ts = now_ms();
            let fresh: Vec<&(String, String)> = new_rows
                .iter()
                .filter(|(id, _)| !shredded_ids.contains(id))
                .collect();
            let mut created = 0;
            // Multi-row inserts, 100 rows (500 parameters) a statement.
            for chunk in fresh.chunks(100) {
                let values: Vec<String> = (0..chunk.len())
                    .map(|r| {
                        let b = 5 + r * 2;
                        format!("($1, $2, $3, ${b}, 1, ${}, $4)", b + 1)
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO entity_deks (kek_name, subject, algorithm, entity_id, version, material, ts) \
                     VALUES {} ON CONFLICT (kek_name, subject, algorithm, entity_id) DO NOTHING",
                    values.join(", ")
                );
                let mut q = sqlx::query(&sql)
                    .bind(kek_name)
                    .bind(subject)
                    .bind(alg.as_str())
                    .bind(ts);
                for (id, material) in chunk {
                    q = q.bind(id).bind(material);
                }
                created += q.execute(&mut *w.tx).await?.rows_affected();
            }
            if created > 0 {
                let after = json!({"created": created});
                audit::append(
                    &mut w,
                    actor.name(),
                    "entity-keys.create",
                    &format!("entity-keys:{kek_name}/{subject}"),
                    None,
                    Some(&after),
                )
                .await?;
            }
            let new_ids: Vec<String> = new_rows.iter().map(|(id, _)| id.clone()).collect();
            stored.extend(entity_rows(&mut *w.tx, kek_name, subject, alg, &new_ids).await?);
            w.commit().await?;
        }
    }
    let mut out = EntityKeysResponse {
        keys: Vec::new(),
        missing: Vec::new(),
        shredded: Vec::new(),
    };
    for (i, id) in &order {
        let entity = body.entities[*i].entity.clone();
        if shredded_ids.contains(id) {
            out.shredded.push(entity);
        } else if let Some((material, version, ts)) = stored.get(id) {
            out.keys.push(EntityKey {
                entity,
                version: *version,
                algorithm: alg.as_str().to_string(),
                encrypted_key_material: material.clone(),
                key_material: None,
                ts: *ts,
            });
        } else {
            out.missing.push(entity);
        }
    }
    if kek.shared && !out.keys.is_empty() {
        let target = format!("{target} ({} entities)", out.keys.len());
        audit_release(store, actor, true, &target).await?;
        for k in &mut out.keys {
            k.key_material = Some(KeyMaterial::new(
                match clear.get(&k.encrypted_key_material) {
                    Some(t) => t.clone(),
                    None => unwrap_b64(keys, &kek, &k.encrypted_key_material).await?,
                },
            ));
        }
    }
    Ok(out)
}

// ---- shredding ----

/// What a shred did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShredReceipt {
    pub stream: String,
    /// `entity` or `stream`.
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    pub deks_destroyed: i64,
    pub shredded_at: i64,
    pub already_shredded: bool,
}

/// Material written over a row before it is deleted.
const ZEROS: &str =
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// Shreds one entity (`Some(entity)`) or the whole stream (`None`) in one transaction.
pub async fn shred(
    store: &Store,
    keys: &Keys,
    actor: &Actor,
    stream: &str,
    entity: Option<&str>,
) -> R<ShredReceipt> {
    governance::check_stream_name(stream)?;
    if let Some(e) = entity {
        let n = e.chars().count();
        if n == 0 || n > MAX_ENTITY_LEN {
            return Err(ApiError::Unprocessable(format!(
                "The entity must be 1..={MAX_ENTITY_LEN} characters; got {n}"
            )));
        }
    }
    let entity_id = entity.map(|e| keys.entity_id(e)).transpose()?;
    let mut w = store.begin_write().await?;
    if store.backend() == Backend::Sqlite {
        // Freed pages are zeroed, so deleted key material does not linger in the file.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *w.tx)
            .await?;
    }
    let row =
        sqlx::query("SELECT key_subject, value_subject, owner_team FROM streams WHERE name = $1")
            .bind(stream)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    let key_subject: String = row.try_get("key_subject")?;
    let value_subject: String = row.try_get("value_subject")?;
    let owner: Option<String> = row.try_get("owner_team")?;
    governance::check_stream_owner(actor, stream, owner.as_deref(), None)?;
    let tomb_id = entity_id.clone().unwrap_or_default();
    let already: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM shredded WHERE stream = $1 AND entity_id = $2")
            .bind(stream)
            .bind(&tomb_id)
            .fetch_one(&mut *w.tx)
            .await?;
    let subjects = [key_subject.as_str(), value_subject.as_str()];
    let mut destroyed = destroy(&mut w.tx, "entity_deks", subjects, entity_id.as_deref()).await?;
    if entity_id.is_none() {
        destroyed += destroy(&mut w.tx, "deks", subjects, None).await?;
    }
    if already > 0 && destroyed == 0 {
        // Nothing changed: no second audit entry or event.
        let shredded_at: i64 = sqlx::query_scalar(
            "SELECT shredded_ms FROM shredded WHERE stream = $1 AND entity_id = $2",
        )
        .bind(stream)
        .bind(&tomb_id)
        .fetch_one(&mut *w.tx)
        .await?;
        w.commit().await?;
        return Ok(ShredReceipt {
            stream: stream.to_string(),
            scope: if entity.is_some() { "entity" } else { "stream" }.to_string(),
            entity_id,
            deks_destroyed: 0,
            shredded_at,
            already_shredded: true,
        });
    }
    let now = now_ms();
    let shredded_at = if already > 0 {
        sqlx::query_scalar("SELECT shredded_ms FROM shredded WHERE stream = $1 AND entity_id = $2")
            .bind(stream)
            .bind(&tomb_id)
            .fetch_one(&mut *w.tx)
            .await?
    } else {
        sqlx::query(
            "INSERT INTO shredded (stream, entity_id, shredded_ms, actor) VALUES ($1, $2, $3, $4)",
        )
        .bind(stream)
        .bind(&tomb_id)
        .bind(now)
        .bind(actor.name())
        .execute(&mut *w.tx)
        .await?;
        now
    };
    let receipt = ShredReceipt {
        stream: stream.to_string(),
        scope: if entity.is_some() { "entity" } else { "stream" }.to_string(),
        entity_id,
        deks_destroyed: destroyed,
        shredded_at,
        already_shredded: already > 0,
    };
    let payload = serde_json::to_value(&receipt).map_err(ApiError::internal)?;
    let target = match &receipt.entity_id {
        Some(id) => format!("stream:{stream}/entity:{id}"),
        None => format!("stream:{stream}"),
    };
    let action = if entity.is_some() {
        "entity.shred"
    } else {
        "stream.shred"
    };
    audit::append(&mut w, actor.name(), action, &target, None, Some(&payload)).await?;
    outbox::emit(&mut w, KEYS_SHREDDED, stream, &payload).await?;
    w.commit().await?;
    // The cache answers only for stored material a request presents, which a shred
    // deleted; clearing it also drops the shredded keys' batch keys from memory now.
    keys.wrapper.clear();
    // SQLite's WAL still holds the pages as they were before; move them into the
    // (secure-deleted) database and empty the WAL. Best effort: a reader may hold old
    // pages a little longer, and the next checkpoint finishes the job.
    store.checkpoint_wal().await;
    Ok(receipt)
}

/// Overwrites, then deletes, the key rows of `table` (`entity_deks` or `deks`) of the
/// subjects (of one entity when given); returns how many were deleted.
async fn destroy(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    subjects: [&str; 2],
    entity_id: Option<&str>,
) -> R<i64> {
    let filter = if entity_id.is_some() {
        " AND entity_id = $3"
    } else {
        ""
    };
    let overwrite =
        format!("UPDATE {table} SET material = '{ZEROS}' WHERE subject IN ($1, $2){filter}");
    let delete = format!("DELETE FROM {table} WHERE subject IN ($1, $2){filter}");
    let mut deleted = 0;
    for sql in [overwrite, delete] {
        let mut q = sqlx::query(&sql).bind(subjects[0]).bind(subjects[1]);
        if let Some(id) = entity_id {
            q = q.bind(id);
        }
        deleted = q.execute(&mut *conn).await?.rows_affected() as i64;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert!(check_kek_name("kek1").is_ok());
        assert!(check_kek_name("_k-1").is_ok());
        assert!(check_kek_name("1kek").is_err());
        assert!(check_kek_name("").is_err());
        assert!(check_kek_name("a b").is_err());
        assert!(check_kek_name(&"a".repeat(257)).is_err());
        assert!(check_subject("orders-value").is_ok());
        assert!(check_subject("a\nb").is_err());
        assert_eq!(VersionSel::parse("latest").unwrap(), VersionSel::Latest);
        assert_eq!(VersionSel::parse("-1").unwrap(), VersionSel::Latest);
        assert_eq!(VersionSel::parse("2").unwrap(), VersionSel::Exact(2));
        assert!(VersionSel::parse("0").is_err());
        assert!(VersionSel::parse("x").is_err());
        assert!(parse_algorithm(Some("nope")).is_err());
        assert_eq!(parse_algorithm(None).unwrap(), DekAlgorithm::Aes256Gcm);
    }

    #[test]
    fn kms_errors_name_the_kek_not_the_provider_text() {
        let kek = KekInfo {
            name: "orders-kek".into(),
            kms_type: "aws-kms".into(),
            kms_key_id: "arn:aws:kms:eu-west-1:123456789012:key/k".into(),
            kms_props: BTreeMap::new(),
            doc: None,
            shared: true,
            ts: 0,
            deleted: false,
        };
        let raw = "User: arn:aws:iam::123456789012:role/accord is not authorized";
        for e in [
            KmsError::Refused(raw.into()),
            KmsError::Unavailable(raw.into()),
            KmsError::Unwrap(raw.into()),
            KmsError::Config(raw.into()),
        ] {
            let msg = kms_error(&kek, e).to_string();
            assert!(msg.contains("'orders-kek'"), "{msg}");
            assert!(!msg.contains("123456789012"), "{msg}");
        }
        assert!(matches!(
            kms_error(&kek, KmsError::Refused(raw.into())),
            ApiError::KmsAccessDenied(_)
        ));
        assert!(kms_error(&kek, KmsError::Unwrap(raw.into()))
            .to_string()
            .contains("cannot be unwrapped"));
    }

    #[test]
    fn entity_key_fingerprint_is_sha256_hex() {
        assert_eq!(
            entity_key_fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_material_is_serialized_but_never_debug_printed() {
        let d = DekInfo {
            kek_name: "k".into(),
            subject: "s".into(),
            version: 1,
            algorithm: "AES256_GCM".into(),
            encrypted_key_material: "d3JhcHBlZA==".into(),
            key_material: Some(KeyMaterial::new(Zeroizing::new("R1pUT1BTRUNSRVQ=".into()))),
            ts: 0,
            deleted: false,
        };
        assert!(!format!("{d:?}").contains("R1pUT1BTRUNSRVQ="));
        assert!(format!("{d:?}").contains("<redacted>"));
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["keyMaterial"], "R1pUT1BTRUNSRVQ=");
    }
}
