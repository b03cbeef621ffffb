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
//!
//! This module owns the server's key configuration ([`Keys`]: KMS providers, the entity
//! hash key and its fingerprint), Confluent's shapes, validation, row mapping, the
//! release checks and the KMS helpers every part shares. The operations live in one
//! file per concern: `keks` (KEKs), `deks` (Confluent's DEKs), `entities` (per-entity
//! DEKs) and `shred` (crypto-shredding).

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

mod deks;
mod entities;
mod keks;
mod shred;

pub use deks::{create_dek, dek_versions, delete_dek, get_dek, list_dek_subjects, undelete_dek};
pub use entities::{entity_keys, EntityKey, EntityKeyInput, EntityKeysRequest, EntityKeysResponse};
pub use keks::{create_kek, delete_kek, get_kek, list_keks, test_kek, undelete_kek, update_kek};
pub use shred::{shred, ShredReceipt};

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
