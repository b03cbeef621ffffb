//! The `ENCRYPT` rule: client-side field-level encryption (confluent-compat.md §8.4), plus
//! Accord's per-entity keys and shredding.
//!
//! Register an [`EncryptionExecutor`] in the serde's [`RuleRegistry`](super::RuleRegistry);
//! schemas whose ruleSet holds an `ENCRYPT` rule then have the fields its `tags` select
//! encrypted on write and decrypted on read. Only `string` and `bytes` fields can be
//! encrypted (others fail the rule); a string field carries standard base64 (with padding)
//! of the ciphertext bytes, as in Confluent's clients.
//!
//! # Ciphertext and associated data
//!
//! Each value gets a fresh nonce (AES-GCM, Tink RAW: nonce ‖ ct ‖ tag), preceded by
//! `00 | version` when DEK rotation is on (`encrypt.dek.expiry.days` > 0). By default the
//! associated data binds a ciphertext to where it belongs: `subject + "\0" + field full
//! name`, so a ciphertext copied into another field or another stream does not
//! authenticate. Confluent's clients use empty associated data: rule param
//! `accord.encrypt.aad = none` writes that way (for Confluent readers). Readers try the
//! bound associated data first, then the empty one, so they read both.
//!
//! # Key scopes
//!
//! * **Stream** (a plain Confluent rule): one DEK series per (KEK, schema subject,
//!   algorithm), Confluent's writer flow: look the DEK up, create it (generated and
//!   wrapped here for a non-shared KEK, by the server for a shared one) when missing,
//!   create the KEK from `encrypt.kms.type`/`encrypt.kms.key.id` when missing, rotate
//!   after `encrypt.dek.expiry.days`. Readers never create, and look DEKs up with
//!   `deleted=true` (as Confluent's Java reader does), so data written under a
//!   soft-deleted DEK stays readable; a shredded stream answers 410 (41070).
//! * **Entity** (`accord.encrypt.key.scope = entity`, `accord.encrypt.entity.field = F`):
//!   the top-level field `F` (a string or integer, itself not encrypted) names the entity
//!   the record belongs to, and each entity has its own DEK from
//!   `POST /v1/entity-keys/{kek}/{subject}`. Shredding an entity deletes its key on the
//!   server; its fields can then never be read again, while other entities' stay
//!   readable. Concurrent misses are coalesced: the first miss of a (KEK, subject) opens
//!   a batch that collects the misses of the next [`EncryptionConfig::batch_window`] (or
//!   until [`EncryptionConfig::batch_max`] entities) into one request, and each entity
//!   has at most one lookup and one create in flight (readers share a writer's; a writer
//!   never shares a reader's lookup, which cannot create). Writers look keys up first and
//!   generate and KMS-wrap DEKs only for entities that have none. Producers that know
//!   their entities ahead can [`EncryptionExecutor::prefetch`] them.
//!
//! # Caches and the shred window
//!
//! Unwrapped DEKs are cached for [`EncryptionConfig::dek_ttl`] (default 5 minutes), at
//! most [`EncryptionConfig::cache_capacity`] per cache. Key material is zeroized when
//! dropped and never appears in `Debug` output or logs. Stream keys are cached as their
//! AES-GCM cipher (the key schedule made once per key, not per field); entity keys, one
//! per entity, as the DEK, with the cipher made once per record. (The key schedule is
//! wiped on drop too: accord-contracts turns on the `aes` crate's `zeroize` feature.)
//! **A key shredded on the server
//! stays usable by a client that had cached it for at most the TTL**: that is the shred
//! window; lower the TTL to narrow it.
//!
//! # Undecryptable fields
//!
//! [`OnUndecryptable::Fail`] (the default) fails the record: with
//! [`ClientError::Shredded`] when the key was shredded, else with the rule error.
//! [`OnUndecryptable::PassThrough`] leaves the ciphertext in place and reads the rest,
//! but only when the key is gone or unusable (shredded, missing, refused by the KMS, not
//! unwrapping) or a field does not authenticate or decode: a registry or KMS that cannot
//! be reached ([`ClientError::Unreachable`]) or a misconfigured KMS
//! ([`ClientError::Config`]) still fails the record. Logs and error messages never name
//! the entity of a record (often a user id or an e-mail address); only
//! [`ClientError::Shredded`], which goes to the caller, does.
//!
//! # Soft-deleted KEKs
//!
//! Readers use a soft-deleted KEK (to read data written before); writers refuse it with
//! an error naming it, and never re-create (undelete) it.
//!
//! # Runtime
//!
//! Entity-key requests are batched on tokio tasks and timers: entity-scoped rules must run
//! within a tokio runtime ([`ClientError::Config`] otherwise).

use super::rules::{shadowed_by_same_tag_transform, walk_fields_lent, FieldRef, LendingTransform};
use super::{FieldContext, FieldTransform, FieldType, FieldValue, RuleContext, RuleMessage};
use super::{RuleExecutor, RuleMode};
use crate::error::{ClientError, Result};
use crate::registry::cache::{Cache, Flights};
use crate::registry::{
    CreateDek, CreateKek, DekInfo, EntityKeysRequest, EntityMaterial, Kek, RegistryClient,
};
use accord_contracts::kms::{
    normalize_kms_type, parse_versioned, versioned, Dek, DekAlgorithm, DekCipher, KmsError,
    KmsRegistry, Nonces,
};
use accord_contracts::RuleSet;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::channel::oneshot;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The rule type handled.
pub const ENCRYPT: &str = "ENCRYPT";
/// Rule param: the KEK name.
pub const PARAM_KEK_NAME: &str = "encrypt.kek.name";
/// Rule param: the KMS type used to create a missing KEK.
pub const PARAM_KMS_TYPE: &str = "encrypt.kms.type";
/// Rule param: the KMS key id used to create a missing KEK.
pub const PARAM_KMS_KEY_ID: &str = "encrypt.kms.key.id";
/// Rule param: the DEK algorithm (default `AES256_GCM`).
pub const PARAM_DEK_ALGORITHM: &str = "encrypt.dek.algorithm";
/// Rule param: rotate the stream DEK after this many days (0: no rotation).
pub const PARAM_DEK_EXPIRY_DAYS: &str = "encrypt.dek.expiry.days";
/// Rule param (Accord): `none` writes with empty associated data (for Confluent readers);
/// anything else, or absent, binds ciphertexts to subject and field.
pub const PARAM_AAD: &str = "accord.encrypt.aad";
/// Rule param (Accord): `entity` for one key per entity; `stream` (default) otherwise.
pub const PARAM_KEY_SCOPE: &str = "accord.encrypt.key.scope";
/// Rule param (Accord): the top-level field naming the entity.
pub const PARAM_ENTITY_FIELD: &str = "accord.encrypt.entity.field";

/// Entities per entity-keys request, at most (the server's limit).
const MAX_ENTITIES_PER_REQUEST: usize = 1000;
/// KMS wrap calls in flight at once for one batch of new entity keys.
const KMS_CONCURRENCY: usize = 16;

/// What a reader does with a field it cannot decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUndecryptable {
    /// Fail the record ([`ClientError::Shredded`] for a shredded key).
    #[default]
    Fail,
    /// Leave the ciphertext in place and read the rest of the record.
    PassThrough,
}

/// Options of an [`EncryptionExecutor`].
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// How long an unwrapped DEK (and a KEK description) is cached: the shred window.
    pub dek_ttl: Duration,
    /// Entries per cache, at most.
    pub cache_capacity: usize,
    /// What readers do with fields they cannot decrypt.
    pub on_undecryptable: OnUndecryptable,
    /// How long the first entity-key miss waits for others to share its request.
    pub batch_window: Duration,
    /// Entities per coalesced request, at most (capped at 1000).
    pub batch_max: usize,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            dek_ttl: Duration::from_secs(300),
            cache_capacity: 100_000,
            on_undecryptable: OnUndecryptable::Fail,
            batch_window: Duration::from_millis(2),
            batch_max: 256,
        }
    }
}

impl EncryptionConfig {
    /// Sets the DEK cache TTL.
    pub fn dek_ttl(mut self, ttl: Duration) -> Self {
        self.dek_ttl = ttl;
        self
    }

    /// Sets the cache capacity.
    pub fn cache_capacity(mut self, n: usize) -> Self {
        self.cache_capacity = n;
        self
    }

    /// Sets what readers do with undecryptable fields.
    pub fn on_undecryptable(mut self, o: OnUndecryptable) -> Self {
        self.on_undecryptable = o;
        self
    }

    /// Sets the batching window and size.
    pub fn batching(mut self, window: Duration, max: usize) -> Self {
        self.batch_window = window;
        self.batch_max = max.clamp(1, MAX_ENTITIES_PER_REQUEST);
        self
    }
}

/// The `ENCRYPT` rule executor. Cheap to clone (clones share caches); register it with
/// `RuleRegistry::new().with_executor(executor)`.
#[derive(Clone)]
pub struct EncryptionExecutor {
    inner: Arc<Inner>,
}

/// Cache sizes, for monitoring and the memory estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionCacheStats {
    /// Stream DEKs (by version) cached.
    pub stream_deks: usize,
    /// Entity keys (and shredded markers) cached.
    pub entity_keys: usize,
    /// Entity-key requests sent so far.
    pub entity_key_requests: u64,
}

impl EncryptionCacheStats {
    /// Approximate heap bytes held per cached entity key besides its strings: the cache
    /// slot (three `String` headers, the `Arc`, timestamps), its hash-map bucket and
    /// queue entry, and the `Arc<Dek>` allocation with its 32-byte key.
    pub const ENTITY_ENTRY_OVERHEAD: usize = 3 * 24 // key strings' headers
        + 16 // value (enum with Arc)
        + 16 + 8 // born + used, padding
        + 8 + 24 + 8 // bucket hash, Vec header, queue slot
        + 16 // hash-map control and load factor slack (approx.)
        + 16 + std::mem::size_of::<Dek>() + 32; // Arc counts, Dek, key bytes
}

type DekKey = (String, String, DekAlgorithm, i32);
type LatestKey = (String, String, DekAlgorithm);
type EntityCacheKey = (String, String, String);
/// (KEK, subject, entity, create): a reader's lookup never creates, so writers do not
/// join it (they would get "missing"); readers may join a writer's.
type EntityFlightKey = (String, String, String, bool);
/// (KEK, subject, algorithm, version; `None` = the writers' current one).
type DekFlightKey = (String, String, DekAlgorithm, Option<i32>);

/// What the cache knows about an entity.
#[derive(Clone)]
enum EntitySlot {
    Key(Arc<Dek>),
    Shredded,
}

/// What a batch answers for one entity (`Missing` is never cached).
#[derive(Clone)]
enum EntityAnswer {
    Key(Arc<Dek>),
    Shredded,
    Missing,
}

type EntityOutcome = std::result::Result<EntityAnswer, Arc<ClientError>>;
type EntityFlight = Shared<BoxFuture<'static, EntityOutcome>>;

/// The (KEK, subject, algorithm, create) a batch is for.
type BatchKey = (String, String, DekAlgorithm, bool);

struct Batch {
    generation: u64,
    kek: Arc<Kek>,
    waiting: Vec<(String, oneshot::Sender<EntityOutcome>)>,
}

struct Inner {
    client: RegistryClient,
    kms: KmsRegistry,
    config: EncryptionConfig,
    keks: Cache<String, Arc<Kek>>,
    /// By (name, writer): a reader's lookup never creates, so writers do not join it.
    kek_flights: Arc<Flights<(String, bool), Arc<Kek>>>,
    /// Stream keys are kept as ciphers (the AES key schedule made once per key, not per
    /// field): there are few of them. Entity keys, one per entity, stay plain [`Dek`]s.
    deks: Cache<DekKey, Arc<DekCipher>>,
    latest: Cache<LatestKey, (i32, Arc<DekCipher>)>,
    dek_flights: Arc<Flights<DekFlightKey, (i32, Arc<DekCipher>)>>,
    entities: Cache<EntityCacheKey, EntitySlot>,
    entity_flights: Mutex<HashMap<EntityFlightKey, EntityFlight>>,
    batches: Mutex<HashMap<BatchKey, Batch>>,
    generation: AtomicU64,
    entity_requests: AtomicU64,
}

impl fmt::Debug for EncryptionExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionExecutor")
            .field("registry", &self.inner.client)
            .field("kms", &self.inner.kms)
            .field("config", &self.inner.config)
            .field("cache", &self.cache_stats())
            .finish()
    }
}

impl EncryptionExecutor {
    /// An executor fetching keys through `client` and (un)wrapping them with `kms`, with
    /// the default [`EncryptionConfig`].
    pub fn new(client: RegistryClient, kms: KmsRegistry) -> Self {
        Self::with_config(client, kms, EncryptionConfig::default())
    }

    /// [`Self::new`] with a `local-kms` provider from `LOCAL_SECRET` when that is set.
    pub fn from_env(client: RegistryClient) -> Result<Self> {
        let mut kms = KmsRegistry::new();
        if let Some(local) = accord_contracts::kms::local::LocalKms::from_env().map_err(kms_err)? {
            kms.register(Arc::new(local));
        }
        Ok(Self::new(client, kms))
    }

    /// An executor with explicit options.
    pub fn with_config(client: RegistryClient, kms: KmsRegistry, config: EncryptionConfig) -> Self {
        let cap = config.cache_capacity;
        let ttl = Some(config.dek_ttl);
        EncryptionExecutor {
            inner: Arc::new(Inner {
                client,
                kms,
                keks: Cache::new(cap.min(10_000), ttl),
                kek_flights: Arc::new(Flights::new()),
                deks: Cache::new(cap, ttl),
                latest: Cache::new(cap, ttl),
                dek_flights: Arc::new(Flights::new()),
                entities: Cache::new(cap, ttl),
                entity_flights: Mutex::new(HashMap::new()),
                batches: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                entity_requests: AtomicU64::new(0),
                config,
            }),
        }
    }

    /// Cache sizes and the number of entity-key requests sent.
    pub fn cache_stats(&self) -> EncryptionCacheStats {
        EncryptionCacheStats {
            stream_deks: self.inner.deks.len(),
            entity_keys: self.inner.entities.len(),
            entity_key_requests: self.inner.entity_requests.load(Ordering::Relaxed),
        }
    }

    /// Forgets every cached key.
    pub fn clear_caches(&self) {
        self.inner.keks.clear();
        self.inner.deks.clear();
        self.inner.latest.clear();
        self.inner.entities.clear();
    }

    /// Creates (or fetches) the keys of `entities` under `subject` ahead of the records, in
    /// requests of up to 1000, using the entity-scoped `ENCRYPT` rule of the subject's
    /// latest schema. Entities already cached are skipped; shredded ones are remembered.
    pub async fn prefetch(&self, subject: &str, entities: &[String]) -> Result<()> {
        let schema = self.inner.client.latest(subject).await?;
        let rule_set = RuleSet::from_json(schema.rule_set.as_ref())
            .map_err(|e| ClientError::Schema(e.0))?
            .unwrap_or_default();
        let metadata = accord_contracts::Metadata::from_json(schema.metadata.as_ref())
            .map_err(|e| ClientError::Schema(e.0))?;
        let rule = rule_set
            .domain_rules
            .iter()
            .find(|r| {
                !r.disabled
                    && r.rule_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(ENCRYPT))
                    && r.params
                        .get(PARAM_KEY_SCOPE)
                        .is_some_and(|s| s.eq_ignore_ascii_case("entity"))
            })
            .ok_or_else(|| {
                ClientError::Config(format!(
                    "the latest schema of subject '{subject}' has no entity-scoped ENCRYPT rule"
                ))
            })?;
        let lookup = |name: &str| {
            rule.params.get(name).map(String::as_str).or_else(|| {
                metadata
                    .as_ref()
                    .and_then(|m| m.properties.get(name))
                    .map(String::as_str)
            })
        };
        let p = Params::parse(lookup, rule.name.as_deref().unwrap_or(""))?;
        let kek = self.inner.kek(&p, true).await?;
        let todo: Vec<String> = entities
            .iter()
            .filter(|e| {
                let probe = (p.kek_name, subject, e.as_str());
                let h = self.inner.entities.hash(&probe);
                self.inner
                    .entities
                    .get(h, |k| k.0 == p.kek_name && k.1 == subject && &k.2 == *e)
                    .is_none()
            })
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in todo.chunks(MAX_ENTITIES_PER_REQUEST) {
            self.inner
                .fetch_entities(&kek, subject, p.algorithm, true, chunk.to_vec())
                .await?;
        }
        Ok(())
    }

    async fn write(
        &self,
        ctx: &RuleContext<'_>,
        p: &Params<'_>,
        msg: &mut RuleMessage<'_>,
    ) -> Result<bool> {
        let inner = &self.inner;
        let kek = inner.kek(p, true).await?;
        let (cipher, version, entity_full_name) = match p.scope {
            Scope::Stream => {
                let (v, cipher) = inner.stream_write_dek(p, &kek, ctx.subject).await?;
                (cipher, p.rotates().then_some(v), None)
            }
            Scope::Entity(field) => {
                let (entity, full_name) = entity_of(msg, field)?;
                match inner
                    .entity_key(&kek, ctx.subject, p.algorithm, &entity, true)
                    .await?
                {
                    EntityAnswer::Key(dek) => (Arc::new(cipher_of(&dek)?), None, Some(full_name)),
                    EntityAnswer::Shredded => {
                        return Err(ClientError::Shredded {
                            subject: ctx.subject.to_owned(),
                            entity: Some(entity),
                        })
                    }
                    EntityAnswer::Missing => {
                        return Err(ClientError::Encryption(format!(
                            "the registry created no key for an entity of subject '{}'",
                            ctx.subject
                        )))
                    }
                }
            }
        };
        let enc = Encryptor {
            cipher: &cipher,
            nonces: Mutex::new(Nonces::new()),
            version,
            bind: p.bind_aad,
            subject: ctx.subject,
            entity_full_name: entity_full_name.as_deref(),
        };
        walk_fields_lent(ctx, msg, &enc)?;
        Ok(true)
    }

    async fn read(
        &self,
        ctx: &RuleContext<'_>,
        p: &Params<'_>,
        msg: &mut RuleMessage<'_>,
    ) -> Result<bool> {
        let pass = self.inner.config.on_undecryptable == OnUndecryptable::PassThrough;
        match self.read_keys(ctx, p, msg).await {
            Ok(keys) => {
                let dec = Decryptor {
                    keys: &keys,
                    rotation: p.rotates() && matches!(p.scope, Scope::Stream),
                    subject: ctx.subject,
                    pass_through: pass,
                };
                walk_fields_lent(ctx, msg, &dec)?;
                Ok(true)
            }
            // Only "this key is gone or unusable": an unreachable registry or KMS must
            // not turn into records that silently carry ciphertext.
            Err(e @ (ClientError::Shredded { .. } | ClientError::Encryption(_))) if pass => {
                // Never the entity (often a user id or an e-mail address) in logs.
                let why = match &e {
                    ClientError::Shredded {
                        entity: Some(_), ..
                    } => "the key of the record's entity was shredded".to_owned(),
                    other => other.to_string(),
                };
                tracing::debug!(subject = ctx.subject, error = %why, "fields left encrypted");
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// The DEKs a record needs, by version.
    async fn read_keys(
        &self,
        ctx: &RuleContext<'_>,
        p: &Params<'_>,
        msg: &mut RuleMessage<'_>,
    ) -> Result<Keys> {
        let inner = &self.inner;
        let kek = inner.kek(p, false).await?;
        let mut keys = Keys::default();
        match p.scope {
            Scope::Stream => {
                if p.rotates() {
                    let probe = VersionProbe::default();
                    walk_fields_lent(ctx, msg, &probe)?;
                    let versions = probe
                        .versions
                        .into_inner()
                        .unwrap_or_else(PoisonError::into_inner);
                    for v in versions {
                        keys.push(v, inner.stream_read_dek(p, &kek, ctx.subject, v).await?);
                    }
                } else {
                    keys.push(1, inner.stream_read_dek(p, &kek, ctx.subject, 1).await?);
                }
            }
            Scope::Entity(field) => {
                let (entity, _) = entity_of(msg, field)?;
                match inner
                    .entity_key(&kek, ctx.subject, p.algorithm, &entity, false)
                    .await?
                {
                    EntityAnswer::Key(dek) => keys.push(1, Arc::new(cipher_of(&dek)?)),
                    EntityAnswer::Shredded => {
                        return Err(ClientError::Shredded {
                            subject: ctx.subject.to_owned(),
                            entity: Some(entity),
                        })
                    }
                    EntityAnswer::Missing => {
                        return Err(ClientError::Encryption(format!(
                            "no key for the record's entity under subject '{}' (readers never \
                             create keys)",
                            ctx.subject
                        )))
                    }
                }
            }
        }
        Ok(keys)
    }
}

impl RuleExecutor for EncryptionExecutor {
    fn rule_type(&self) -> &str {
        ENCRYPT
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if shadowed_by_same_tag_transform(ctx) {
                return Ok(true);
            }
            let rule_name = ctx.rule.name.as_deref().unwrap_or("");
            // Parsed once per rule of a schema (its parameters and the schema's metadata
            // do not change), not per record.
            let parsed = ctx.rule_state(|| {
                Params::parse(|n| ctx.parameter(n), rule_name).map(|p| RuleParams::of(&p))
            });
            let p = match &*parsed {
                Ok(p) => p.params(),
                Err(e) => return Err(e.clone()),
            };
            match ctx.mode {
                RuleMode::Write => self.write(ctx, &p, message).await,
                RuleMode::Read => self.read(ctx, &p, message).await,
                RuleMode::Upgrade | RuleMode::Downgrade => Ok(true),
            }
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Stream,
    /// The entity field.
    Entity(&'a str),
}

/// The rule's parameters.
#[derive(Debug)]
struct Params<'a> {
    kek_name: &'a str,
    kms_type: Option<&'a str>,
    kms_key_id: Option<&'a str>,
    algorithm: DekAlgorithm,
    expiry_days: u32,
    bind_aad: bool,
    scope: Scope<'a>,
}

impl<'a> Params<'a> {
    fn parse(get: impl Fn(&str) -> Option<&'a str>, rule: &str) -> Result<Self> {
        let bad = |m: String| ClientError::Rule {
            rule: rule.to_owned(),
            message: m,
        };
        let kek_name = get(PARAM_KEK_NAME)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(format!("the rule has no '{PARAM_KEK_NAME}' parameter")))?;
        let algorithm = match get(PARAM_DEK_ALGORITHM) {
            Some(a) => DekAlgorithm::parse(a).map_err(|e| bad(e.to_string()))?,
            None => DekAlgorithm::default(),
        };
        let expiry_days = match get(PARAM_DEK_EXPIRY_DAYS) {
            Some(d) => d.trim().parse().map_err(|_| {
                bad(format!(
                    "'{PARAM_DEK_EXPIRY_DAYS}' is not a number of days: {d}"
                ))
            })?,
            None => 0,
        };
        let bind_aad = !get(PARAM_AAD).is_some_and(|a| a.eq_ignore_ascii_case("none"));
        let scope = match get(PARAM_KEY_SCOPE) {
            None => Scope::Stream,
            Some(s) if s.eq_ignore_ascii_case("stream") => Scope::Stream,
            Some(s) if s.eq_ignore_ascii_case("entity") => Scope::Entity(
                get(PARAM_ENTITY_FIELD)
                    .filter(|f| !f.is_empty())
                    .ok_or_else(|| bad(format!("entity key scope needs '{PARAM_ENTITY_FIELD}'")))?,
            ),
            Some(other) => return Err(bad(format!("unknown key scope '{other}'"))),
        };
        Ok(Params {
            kek_name,
            kms_type: get(PARAM_KMS_TYPE).filter(|s| !s.is_empty()),
            kms_key_id: get(PARAM_KMS_KEY_ID).filter(|s| !s.is_empty()),
            algorithm,
            expiry_days,
            bind_aad,
            scope,
        })
    }

    fn rotates(&self) -> bool {
        self.expiry_days > 0
    }
}

/// [`Params`] owned, as kept per rule.
struct RuleParams {
    kek_name: String,
    kms_type: Option<String>,
    kms_key_id: Option<String>,
    algorithm: DekAlgorithm,
    expiry_days: u32,
    bind_aad: bool,
    entity_field: Option<String>,
}

impl RuleParams {
    fn of(p: &Params<'_>) -> Self {
        RuleParams {
            kek_name: p.kek_name.to_owned(),
            kms_type: p.kms_type.map(str::to_owned),
            kms_key_id: p.kms_key_id.map(str::to_owned),
            algorithm: p.algorithm,
            expiry_days: p.expiry_days,
            bind_aad: p.bind_aad,
            entity_field: match p.scope {
                Scope::Stream => None,
                Scope::Entity(f) => Some(f.to_owned()),
            },
        }
    }

    fn params(&self) -> Params<'_> {
        Params {
            kek_name: &self.kek_name,
            kms_type: self.kms_type.as_deref(),
            kms_key_id: self.kms_key_id.as_deref(),
            algorithm: self.algorithm,
            expiry_days: self.expiry_days,
            bind_aad: self.bind_aad,
            scope: match &self.entity_field {
                None => Scope::Stream,
                Some(f) => Scope::Entity(f),
            },
        }
    }
}

/// A KMS failure by cause. Only what says "this key cannot be used" (refused: a
/// disabled, unknown or forbidden key; a wrapped key that does not authenticate) is
/// [`ClientError::Encryption`], which [`OnUndecryptable::PassThrough`] may pass over; a
/// KMS that cannot be reached or throttles is [`ClientError::Unreachable`] and a
/// misconfigured one [`ClientError::Config`], which always fail the record: an outage
/// must not turn into records that silently carry ciphertext.
fn kms_err(e: KmsError) -> ClientError {
    match e {
        KmsError::Unavailable(_) => ClientError::Unreachable(e.to_string()),
        KmsError::Config(_) | KmsError::UnknownType(_) => ClientError::Config(e.to_string()),
        KmsError::Refused(_) | KmsError::Unwrap(_) => ClientError::Encryption(e.to_string()),
    }
}

fn is_404(e: &ClientError) -> bool {
    matches!(e, ClientError::Registry { status: 404, .. })
}

fn is_409(e: &ClientError) -> bool {
    matches!(e, ClientError::Registry { status: 409, .. })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Inner {
    /// The KEK named by the rule; writers create it when missing.
    async fn kek(self: &Arc<Self>, p: &Params<'_>, write: bool) -> Result<Arc<Kek>> {
        let name = p.kek_name;
        let h = self.keks.hash(name);
        let kek = match self.keks.get(h, |k| k == name) {
            Some(k) => k,
            None => {
                let create = if write {
                    p.kms_type
                        .zip(p.kms_key_id)
                        .map(|(t, k)| (t.to_owned(), k.to_owned()))
                } else {
                    None
                };
                let me = Arc::clone(self);
                let owned = name.to_owned();
                // Boxed: misses are rare, and the per-record futures that await this (in
                // a box of their own) stay small.
                Box::pin(self.kek_flights.run(
                    (name.to_owned(), write),
                    || self.keks.get(h, |k| k == name),
                    move || async move { me.fetch_kek(owned, create, h).await }.boxed(),
                ))
                .await?
            }
        };
        if write {
            // The cache is shared with readers, which may hold a soft-deleted KEK (they
            // still read old data with it); writers never encrypt new data under one.
            if kek.deleted {
                return Err(ClientError::Encryption(format!(
                    "KEK '{name}' is soft-deleted: writers do not use it (readers still can, \
                     for data written before); undelete it or name another KEK in the rule"
                )));
            }
            if let Some(t) = p.kms_type.filter(|t| *t != kek.kms_type) {
                if normalize_kms_type(t) != kek.kms_type {
                    return Err(ClientError::Encryption(format!(
                        "KEK '{name}' has kmsType '{}', the rule says '{t}'",
                        kek.kms_type
                    )));
                }
            }
            if let Some(id) = p.kms_key_id {
                if id != kek.kms_key_id {
                    return Err(ClientError::Encryption(format!(
                        "KEK '{name}' has a different kmsKeyId than the rule's"
                    )));
                }
            }
        }
        Ok(kek)
    }

    async fn fetch_kek(
        self: Arc<Self>,
        name: String,
        create: Option<(String, String)>,
        h: u64,
    ) -> Result<Arc<Kek>> {
        // Soft-deleted KEKs too, for writers as well: a writer then refuses it by name
        // (see `kek`) instead of not finding it and re-creating (undeleting) it.
        let kek = match self.client.kek(&name, true).await {
            Ok(k) => k,
            Err(e) if is_404(&e) => {
                let Some((kms_type, kms_key_id)) = create else {
                    return Err(ClientError::Encryption(format!(
                        "KEK '{name}' not found (readers, and rules without '{PARAM_KMS_TYPE}' and '{PARAM_KMS_KEY_ID}', never create one)"
                    )));
                };
                let req = CreateKek {
                    name: name.clone(),
                    kms_type: normalize_kms_type(&kms_type),
                    kms_key_id,
                    kms_props: Default::default(),
                    doc: None,
                    shared: false,
                };
                match self.client.create_kek(&req).await {
                    Ok(k) => k,
                    Err(e) if is_409(&e) => self.client.kek(&name, true).await?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let kek = Arc::new(kek);
        self.keks.insert(h, name, Arc::clone(&kek));
        Ok(kek)
    }

    /// The raw DEK from a registry answer: `keyMaterial` for a shared KEK, else
    /// `encryptedKeyMaterial` unwrapped by our KMS.
    async fn unwrap_dek(&self, kek: &Kek, algorithm: DekAlgorithm, info: &DekInfo) -> Result<Dek> {
        self.material_to_dek(
            kek,
            algorithm,
            info.key_material.as_deref().map(Vec::as_slice),
            info.encrypted_key_material.as_deref(),
        )
        .await
    }

    async fn material_to_dek(
        &self,
        kek: &Kek,
        algorithm: DekAlgorithm,
        raw: Option<&[u8]>,
        wrapped: Option<&[u8]>,
    ) -> Result<Dek> {
        let bad = |e: accord_contracts::kms::DekError| ClientError::Encryption(e.to_string());
        if let Some(raw) = raw {
            return Dek::from_tink(algorithm, raw).map_err(bad);
        }
        let wrapped = wrapped.ok_or_else(|| {
            ClientError::Encryption(format!(
                "the registry returned neither keyMaterial nor encryptedKeyMaterial (KEK '{}')",
                kek.name
            ))
        })?;
        let kms = self.kms.get(&kek.kms_type).map_err(kms_err)?;
        let tink = kms
            .unwrap(&kek.kms_key_id, wrapped)
            .await
            .map_err(kms_err)?;
        Dek::from_tink(algorithm, &tink).map_err(bad)
    }

    /// Generates a DEK and, for a non-shared KEK, wraps it.
    async fn generate(&self, kek: &Kek, algorithm: DekAlgorithm) -> Result<(Dek, Option<Vec<u8>>)> {
        let dek = Dek::generate(algorithm).map_err(|e| ClientError::Encryption(e.to_string()))?;
        if kek.shared {
            return Ok((dek, None));
        }
        let kms = self.kms.get(&kek.kms_type).map_err(kms_err)?;
        let wrapped = kms
            .wrap(&kek.kms_key_id, &dek.to_tink())
            .await
            .map_err(kms_err)?;
        Ok((dek, Some(wrapped)))
    }

    /// The DEK writers of a stream use now (Confluent's flow, with rotation).
    async fn stream_write_dek(
        self: &Arc<Self>,
        p: &Params<'_>,
        kek: &Arc<Kek>,
        subject: &str,
    ) -> Result<(i32, Arc<DekCipher>)> {
        let alg = p.algorithm;
        let probe = (kek.name.as_str(), subject, alg);
        let h = self.latest.hash(&probe);
        let matches = |k: &LatestKey| k.0 == kek.name && k.1 == subject && k.2 == alg;
        if let Some(v) = self.latest.get(h, matches) {
            return Ok(v);
        }
        let me = Arc::clone(self);
        let kek2 = Arc::clone(kek);
        let subject2 = subject.to_owned();
        let expiry = p.expiry_days;
        // Boxed, as in `kek`: misses are rare.
        Box::pin(self.dek_flights.run(
            (kek.name.clone(), subject.to_owned(), alg, None),
            || self.latest.get(h, matches),
            move || async move { me.fetch_write_dek(kek2, subject2, alg, expiry, h).await }.boxed(),
        ))
        .await
    }

    async fn fetch_write_dek(
        self: Arc<Self>,
        kek: Arc<Kek>,
        subject: String,
        alg: DekAlgorithm,
        expiry_days: u32,
        h: u64,
    ) -> Result<(i32, Arc<DekCipher>)> {
        let c = &self.client;
        let wanted = if expiry_days > 0 { None } else { Some(1) };
        let current = match c
            .dek(&kek.name, &subject, wanted, alg.as_str(), false)
            .await
        {
            Ok(d) => Some(d),
            Err(e) if is_404(&e) => None,
            Err(e) => return Err(e),
        };
        let expired =
            |d: &DekInfo| expiry_days > 0 && now_ms() - d.ts > i64::from(expiry_days) * 86_400_000;
        let (info, own) = match current {
            Some(d) if !expired(&d) => (d, None),
            other => {
                let version = other.map_or(1, |d| d.version + 1);
                let (dek, wrapped) = self.generate(&kek, alg).await?;
                let req = CreateDek {
                    subject: subject.clone(),
                    version,
                    algorithm: alg.as_str().to_owned(),
                    encrypted_key_material: wrapped.as_ref().map(|w| B64.encode(w)),
                };
                match c.create_dek(&kek.name, &req).await {
                    // Ours was stored: no KMS round trip to unwrap it again.
                    Ok(d) if wrapped.is_some() && d.encrypted_key_material == wrapped => {
                        (d, Some(dek))
                    }
                    Ok(d) => (d, None),
                    Err(e) if is_409(&e) => (
                        c.dek(&kek.name, &subject, Some(version), alg.as_str(), false)
                            .await?,
                        None,
                    ),
                    Err(e) => return Err(e),
                }
            }
        };
        let dek = Arc::new(cipher_of(&match own {
            Some(dek) => dek,
            None => self.unwrap_dek(&kek, alg, &info).await?,
        })?);
        let version = info.version;
        let dh = self
            .deks
            .hash(&(kek.name.as_str(), subject.as_str(), alg, version));
        self.deks.insert(
            dh,
            (kek.name.clone(), subject.clone(), alg, version),
            Arc::clone(&dek),
        );
        self.latest.insert(
            h,
            (kek.name.clone(), subject, alg),
            (version, Arc::clone(&dek)),
        );
        Ok((version, dek))
    }

    /// The stream DEK of `version` (readers; soft-deleted DEKs included).
    async fn stream_read_dek(
        self: &Arc<Self>,
        p: &Params<'_>,
        kek: &Arc<Kek>,
        subject: &str,
        version: i32,
    ) -> Result<Arc<DekCipher>> {
        let alg = p.algorithm;
        let h = self.deks.hash(&(kek.name.as_str(), subject, alg, version));
        let matches =
            |k: &DekKey| k.0 == kek.name && k.1 == subject && k.2 == alg && k.3 == version;
        if let Some(d) = self.deks.get(h, matches) {
            return Ok(d);
        }
        let me = Arc::clone(self);
        let kek2 = Arc::clone(kek);
        let subject2 = subject.to_owned();
        // Boxed, as in `kek`: misses are rare.
        let (_, dek) = Box::pin(self.dek_flights.run(
            (kek.name.clone(), subject.to_owned(), alg, Some(version)),
            || self.deks.get(h, matches).map(|d| (version, d)),
            move || {
                async move {
                    let info = match me
                        .client
                        .dek(&kek2.name, &subject2, Some(version), alg.as_str(), true)
                        .await
                    {
                        Ok(i) => i,
                        Err(e) if is_404(&e) => {
                            return Err(ClientError::Encryption(format!(
                                "no DEK version {version} of subject '{subject2}' under KEK '{}'",
                                kek2.name
                            )))
                        }
                        Err(e) => return Err(e),
                    };
                    let dek = Arc::new(cipher_of(&me.unwrap_dek(&kek2, alg, &info).await?)?);
                    me.deks.insert(
                        h,
                        (kek2.name.clone(), subject2, alg, version),
                        Arc::clone(&dek),
                    );
                    Ok((version, dek))
                }
                .boxed()
            },
        ))
        .await?;
        Ok(dek)
    }

    /// One entity's key: from the cache, or through the batcher (one request in flight
    /// per entity, misses coalesced per (KEK, subject)).
    async fn entity_key(
        self: &Arc<Self>,
        kek: &Arc<Kek>,
        subject: &str,
        alg: DekAlgorithm,
        entity: &str,
        create: bool,
    ) -> Result<EntityAnswer> {
        let probe = (kek.name.as_str(), subject, entity);
        let h = self.entities.hash(&probe);
        let matches = |k: &EntityCacheKey| k.0 == kek.name && k.1 == subject && k.2 == entity;
        let cached = |s: EntitySlot| match s {
            EntitySlot::Key(d) => EntityAnswer::Key(d),
            EntitySlot::Shredded => EntityAnswer::Shredded,
        };
        if let Some(s) = self.entities.get(h, matches) {
            return Ok(cached(s));
        }
        // Batches wait on tokio timers and run as tokio tasks.
        let rt = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::Config(
                "entity-scoped encryption needs a tokio runtime (its key requests are batched \
                 on tokio tasks); call the serde from within one"
                    .to_owned(),
            )
        })?;
        let key: EntityFlightKey = (
            kek.name.clone(),
            subject.to_owned(),
            entity.to_owned(),
            create,
        );
        let flight = {
            let mut flights = self
                .entity_flights
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = self.entities.get(h, matches) {
                return Ok(cached(s));
            }
            // A reader may share a writer's request (it answers with the key too).
            let writers = (!create)
                .then(|| flights.get(&(key.0.clone(), key.1.clone(), key.2.clone(), true)))
                .flatten();
            match writers.or_else(|| flights.get(&key)) {
                Some(f) => f.clone(),
                None => {
                    let (tx, rx) = oneshot::channel();
                    let f: EntityFlight = rx
                        .map(|r| {
                            r.unwrap_or_else(|_| {
                                Err(Arc::new(ClientError::Encryption(
                                    "the entity-key request was abandoned".to_owned(),
                                )))
                            })
                        })
                        .boxed()
                        .shared();
                    flights.insert(key.clone(), f.clone());
                    drop(flights);
                    self.enqueue(&rt, kek, subject, alg, create, entity.to_owned(), tx);
                    f
                }
            }
        };
        flight.await.map_err(|e| ClientError::clone(&e))
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        kek: &Arc<Kek>,
        subject: &str,
        alg: DekAlgorithm,
        create: bool,
        entity: String,
        tx: oneshot::Sender<EntityOutcome>,
    ) {
        let bk: BatchKey = (kek.name.clone(), subject.to_owned(), alg, create);
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        let batch = batches.entry(bk.clone()).or_insert_with(|| Batch {
            generation: self.generation.fetch_add(1, Ordering::Relaxed),
            kek: Arc::clone(kek),
            waiting: Vec::new(),
        });
        batch.waiting.push((entity, tx));
        let first = batch.waiting.len() == 1;
        let full = batch.waiting.len() >= self.config.batch_max.clamp(1, MAX_ENTITIES_PER_REQUEST);
        if full {
            if let Some(b) = batches.remove(&bk) {
                drop(batches);
                let me = Arc::clone(self);
                rt.spawn(async move { me.run_batch(bk, b).await });
            }
        } else if first {
            let generation = batch.generation;
            let me = Arc::clone(self);
            let window = self.config.batch_window;
            drop(batches);
            rt.spawn(async move {
                tokio::time::sleep(window).await;
                let taken = {
                    let mut batches = me.batches.lock().unwrap_or_else(PoisonError::into_inner);
                    match batches.get(&bk) {
                        Some(b) if b.generation == generation => batches.remove(&bk),
                        _ => None,
                    }
                };
                if let Some(b) = taken {
                    me.run_batch(bk, b).await;
                }
            });
        }
    }

    async fn run_batch(self: Arc<Self>, bk: BatchKey, batch: Batch) {
        let (_, subject, alg, create) = &bk;
        let entities: Vec<String> = batch.waiting.iter().map(|(e, _)| e.clone()).collect();
        let outcome = self
            .fetch_entities(&batch.kek, subject, *alg, *create, entities)
            .await;
        let mut flights = self
            .entity_flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(mut answers) => {
                for (entity, tx) in batch.waiting {
                    let a = answers.remove(&entity).unwrap_or(EntityAnswer::Missing);
                    flights.remove(&(bk.0.clone(), subject.clone(), entity, *create));
                    let _ = tx.send(Ok(a));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (entity, tx) in batch.waiting {
                    flights.remove(&(bk.0.clone(), subject.clone(), entity, *create));
                    let _ = tx.send(Err(Arc::clone(&e)));
                }
            }
        }
    }

    /// The keys of `entities` (at most 1000); caches keys and shredded markers. Writers
    /// under a non-shared KEK first look up (entities the server has need no new DEK),
    /// then generate and wrap DEKs for the missing ones only, a few KMS calls at a time,
    /// and create them in a second request.
    async fn fetch_entities(
        &self,
        kek: &Kek,
        subject: &str,
        alg: DekAlgorithm,
        create: bool,
        entities: Vec<String>,
    ) -> Result<HashMap<String, EntityAnswer>> {
        let lookup = entities
            .iter()
            .map(|entity| EntityMaterial {
                entity: entity.clone(),
                encrypted_key_material: None,
            })
            .collect();
        if !create || kek.shared {
            // Readers, and writers under a shared KEK (the server generates).
            return self
                .entity_request(kek, subject, alg, create, lookup, HashMap::new())
                .await;
        }
        let mut out = self
            .entity_request(kek, subject, alg, false, lookup, HashMap::new())
            .await?;
        let missing: Vec<String> = entities
            .into_iter()
            .filter(|e| matches!(out.get(e), None | Some(EntityAnswer::Missing)))
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let generated: Vec<(String, Dek, Vec<u8>)> = futures::stream::iter(missing)
            .map(|entity| async move {
                let (dek, wrapped) = self.generate(kek, alg).await?;
                let wrapped = wrapped.ok_or_else(|| {
                    ClientError::Encryption("a non-shared KEK wrapped no DEK".to_owned())
                })?;
                Ok::<_, ClientError>((entity, dek, wrapped))
            })
            .buffer_unordered(KMS_CONCURRENCY)
            .try_collect()
            .await?;
        let mut materials = Vec::with_capacity(generated.len());
        let mut own = HashMap::with_capacity(generated.len());
        for (entity, dek, wrapped) in generated {
            materials.push(EntityMaterial {
                entity: entity.clone(),
                encrypted_key_material: Some(B64.encode(&wrapped)),
            });
            own.insert(entity, (dek, wrapped));
        }
        out.extend(
            self.entity_request(kek, subject, alg, true, materials, own)
                .await?,
        );
        Ok(out)
    }

    /// One entity-keys request; `generated` holds the DEKs this client made (and their
    /// wrapped form), used as they are when the server keeps them.
    async fn entity_request(
        &self,
        kek: &Kek,
        subject: &str,
        alg: DekAlgorithm,
        create: bool,
        materials: Vec<EntityMaterial>,
        mut generated: HashMap<String, (Dek, Vec<u8>)>,
    ) -> Result<HashMap<String, EntityAnswer>> {
        let request = EntityKeysRequest {
            algorithm: alg.as_str().to_owned(),
            create,
            entities: materials,
        };
        self.entity_requests.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .client
            .entity_keys(&kek.name, subject, &request)
            .await?;
        let mut out = HashMap::with_capacity(request.entities.len());
        for k in answer.keys {
            // Our own key won (the usual case): no KMS round trip to unwrap it again.
            let dek = match generated.remove(&k.entity) {
                Some((dek, w)) if k.encrypted_key_material.as_deref() == Some(w.as_slice()) => dek,
                _ => {
                    self.material_to_dek(
                        kek,
                        alg,
                        k.key_material.as_deref().map(Vec::as_slice),
                        k.encrypted_key_material.as_deref(),
                    )
                    .await?
                }
            };
            let dek = Arc::new(dek);
            let h = self
                .entities
                .hash(&(kek.name.as_str(), subject, k.entity.as_str()));
            self.entities.insert(
                h,
                (kek.name.clone(), subject.to_owned(), k.entity.clone()),
                EntitySlot::Key(Arc::clone(&dek)),
            );
            out.insert(k.entity, EntityAnswer::Key(dek));
        }
        for e in answer.shredded {
            let h = self
                .entities
                .hash(&(kek.name.as_str(), subject, e.as_str()));
            self.entities.insert(
                h,
                (kek.name.clone(), subject.to_owned(), e.clone()),
                EntitySlot::Shredded,
            );
            out.insert(e, EntityAnswer::Shredded);
        }
        for e in answer.missing {
            out.insert(e, EntityAnswer::Missing);
        }
        Ok(out)
    }
}

/// The entity a record belongs to (the value of top-level field `field`), and that
/// field's full name as the walkers spell it.
fn entity_of(msg: &RuleMessage<'_>, field: &str) -> Result<(String, String)> {
    use apache_avro::types::Value as A;
    let missing = || {
        ClientError::Serialization(format!(
            "the entity field '{field}' is missing or empty (it must be a non-empty string or an integer)"
        ))
    };
    let (entity, full) = match msg {
        RuleMessage::Avro { value, schema } => {
            let full = match schema {
                apache_avro::Schema::Record(r) => format!("{}.{field}", r.name.fullname(None)),
                _ => return Err(missing()),
            };
            let A::Record(fields) = &**value else {
                return Err(missing());
            };
            let mut v = fields.iter().find(|(n, _)| n == field).map(|(_, v)| v);
            if let Some(A::Union(_, inner)) = v {
                v = Some(&**inner);
            }
            let e = match v {
                Some(A::String(s)) => s.clone(),
                Some(A::Int(i)) => i.to_string(),
                Some(A::Long(i)) => i.to_string(),
                _ => return Err(missing()),
            };
            (e, full)
        }
        RuleMessage::Json { value, .. } => {
            let e = match value.get(field) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
                _ => return Err(missing()),
            };
            (e, format!("$.{field}"))
        }
        RuleMessage::Protobuf { message } => {
            use prost_reflect::{ReflectMessage, Value as P};
            let full = format!("{}.{field}", message.descriptor().full_name());
            let e = match message.get_field_by_name(field).as_deref() {
                Some(P::String(s)) => s.clone(),
                Some(P::I32(i)) => i.to_string(),
                Some(P::I64(i)) => i.to_string(),
                Some(P::U32(i)) => i.to_string(),
                Some(P::U64(i)) => i.to_string(),
                _ => return Err(missing()),
            };
            (e, full)
        }
    };
    if entity.is_empty() || entity.chars().count() > 1024 {
        return Err(missing());
    }
    Ok((entity, full))
}

fn bound_aad(subject: &str, full_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(subject.len() + 1 + full_name.len());
    aad.extend_from_slice(subject.as_bytes());
    aad.push(0);
    aad.extend_from_slice(full_name.as_bytes());
    aad
}

/// Calls `f` with [`bound_aad`], built on the stack when it is short (per field, the
/// allocation showed).
fn with_bound_aad<T>(subject: &str, full_name: &str, f: impl FnOnce(&[u8]) -> T) -> T {
    let len = subject.len() + 1 + full_name.len();
    let mut buf = [0u8; 128];
    match buf.get_mut(..len) {
        Some(aad) => {
            let (s, rest) = aad.split_at_mut(subject.len());
            s.copy_from_slice(subject.as_bytes());
            rest[0] = 0;
            rest[1..].copy_from_slice(full_name.as_bytes());
            f(aad)
        }
        None => f(&bound_aad(subject, full_name)),
    }
}

/// Calls `f` with the bytes of standard base64 `s` (`None` when it is not base64),
/// decoded on the stack when they are short (per field, the allocation showed).
fn with_base64_decoded<T>(s: &str, f: impl FnOnce(Option<&[u8]>) -> T) -> T {
    let mut buf = [0u8; 256];
    if base64::decoded_len_estimate(s.len()) <= buf.len() {
        match B64.decode_slice(s.as_bytes(), &mut buf) {
            Ok(n) => f(Some(&buf[..n])),
            Err(_) => f(None),
        }
    } else {
        match B64.decode(s.as_bytes()) {
            Ok(v) => f(Some(&v)),
            Err(_) => f(None),
        }
    }
}

/// A DEK's cipher (fails only for algorithms no DEK is ever made with).
fn cipher_of(dek: &Dek) -> Result<DekCipher> {
    dek.cipher()
        .map_err(|e| ClientError::Encryption(e.to_string()))
}

fn unsupported(ctx: &RuleContext<'_>, field: &FieldContext<'_>) -> ClientError {
    ClientError::Rule {
        rule: ctx.rule.name.clone().unwrap_or_default(),
        message: format!(
            "ENCRYPT handles string and bytes fields only; field {} is {:?}",
            field.full_name, field.field_type
        ),
    }
}

struct Encryptor<'k> {
    cipher: &'k DekCipher,
    /// The record's nonces, drawn from the OS a few at a time.
    nonces: Mutex<Nonces>,
    version: Option<i32>,
    bind: bool,
    subject: &'k str,
    entity_full_name: Option<&'k str>,
}

impl Encryptor<'_> {
    fn seal(&self, field: &FieldContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        let sealed = if self.bind {
            with_bound_aad(self.subject, field.full_name, |aad| {
                self.cipher.encrypt_with(&mut nonces, plaintext, aad)
            })
        } else {
            self.cipher.encrypt_with(&mut nonces, plaintext, &[])
        };
        let ct = sealed
            .map_err(|e| ClientError::Encryption(format!("field {}: {e}", field.full_name)))?;
        Ok(match self.version {
            Some(v) => versioned(v, &ct),
            None => ct,
        })
    }
}

impl Encryptor<'_> {
    fn check_not_entity(&self, ctx: &RuleContext<'_>, field: &FieldContext<'_>) -> Result<()> {
        if self.entity_full_name == Some(field.full_name) {
            return Err(ClientError::Rule {
                rule: ctx.rule.name.clone().unwrap_or_default(),
                message: format!(
                    "the entity field {} cannot itself be encrypted",
                    field.full_name
                ),
            });
        }
        Ok(())
    }
}

impl LendingTransform for Encryptor<'_> {
    fn transform_lent(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>> {
        self.check_not_entity(ctx, field)?;
        match (field.field_type, value) {
            (FieldType::String, FieldRef::String(s)) => Ok(Some(FieldValue::String(
                B64.encode(self.seal(field, s.as_bytes())?),
            ))),
            (FieldType::Bytes, FieldRef::Bytes(b)) => {
                Ok(Some(FieldValue::Bytes(self.seal(field, b)?)))
            }
            _ => self.transform_field(ctx, field, value.to_owned()).map(Some),
        }
    }
}

impl FieldTransform for Encryptor<'_> {
    fn rule_type(&self) -> &str {
        ENCRYPT
    }

    fn transform_field(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        self.check_not_entity(ctx, field)?;
        match (field.field_type, value) {
            (_, FieldValue::Null) => Ok(FieldValue::Null),
            (FieldType::String, FieldValue::String(s)) => Ok(FieldValue::String(
                B64.encode(self.seal(field, s.as_bytes())?),
            )),
            (FieldType::Bytes, FieldValue::Bytes(b)) => {
                Ok(FieldValue::Bytes(self.seal(field, &b)?))
            }
            _ => Err(unsupported(ctx, field)),
        }
    }
}

/// The keys of a record's ciphertexts by DEK version: almost always one (kept without
/// allocating), several only while a rotated stream's old data is read.
#[derive(Default)]
struct Keys {
    first: Option<(i32, Arc<DekCipher>)>,
    rest: Vec<(i32, Arc<DekCipher>)>,
}

impl Keys {
    fn push(&mut self, version: i32, cipher: Arc<DekCipher>) {
        if self.first.is_none() {
            self.first = Some((version, cipher));
        } else {
            self.rest.push((version, cipher));
        }
    }

    fn get(&self, version: i32) -> Option<&DekCipher> {
        self.first
            .iter()
            .chain(&self.rest)
            .find(|(v, _)| *v == version)
            .map(|(_, c)| &**c)
    }
}

struct Decryptor<'k> {
    keys: &'k Keys,
    rotation: bool,
    subject: &'k str,
    pass_through: bool,
}

impl Decryptor<'_> {
    /// A string field's plaintext: base64, then the ciphertext, then UTF-8.
    fn open_string(&self, field: &FieldContext<'_>, s: &str) -> Result<FieldValue> {
        with_base64_decoded(s, |ct| match ct {
            Some(ct) => self.open(field, ct),
            None => Err(ClientError::Encryption(format!(
                "field {}: not base64",
                field.full_name
            ))),
        })
        .and_then(|pt| {
            String::from_utf8(pt).map(FieldValue::String).map_err(|_| {
                ClientError::Encryption(format!(
                    "field {}: plaintext is not UTF-8",
                    field.full_name
                ))
            })
        })
    }

    fn open(&self, field: &FieldContext<'_>, data: &[u8]) -> Result<Vec<u8>> {
        let fail = |m: String| ClientError::Encryption(format!("field {}: {m}", field.full_name));
        let (version, ct) = if self.rotation {
            parse_versioned(data).ok_or_else(|| fail("no DEK version prefix".to_owned()))?
        } else {
            (1, data)
        };
        let cipher = self
            .keys
            .get(version)
            .ok_or_else(|| fail(format!("no DEK version {version}")))?;
        match with_bound_aad(self.subject, field.full_name, |aad| cipher.decrypt(ct, aad)) {
            Ok(pt) => Ok(pt),
            Err(_) => cipher.decrypt(ct, &[]).map_err(|e| fail(e.to_string())),
        }
    }
}

impl FieldTransform for Decryptor<'_> {
    fn rule_type(&self) -> &str {
        ENCRYPT
    }

    fn transform_field(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        let out = match (field.field_type, &value) {
            (_, FieldValue::Null) => return Ok(FieldValue::Null),
            (FieldType::String, FieldValue::String(s)) => self.open_string(field, s),
            (FieldType::Bytes, FieldValue::Bytes(b)) => self.open(field, b).map(FieldValue::Bytes),
            _ => return Err(unsupported(ctx, field)),
        };
        match out {
            Ok(v) => Ok(v),
            Err(_) if self.pass_through => Ok(value),
            Err(e) => Err(e),
        }
    }
}

impl LendingTransform for Decryptor<'_> {
    fn transform_lent(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>> {
        let out = match (field.field_type, value) {
            (FieldType::String, FieldRef::String(s)) => self.open_string(field, s),
            (FieldType::Bytes, FieldRef::Bytes(b)) => self.open(field, b).map(FieldValue::Bytes),
            _ => return self.transform_field(ctx, field, value.to_owned()).map(Some),
        };
        match out {
            Ok(v) => Ok(Some(v)),
            // `transform_field` hands the value back: the field is left as it is.
            Err(_) if self.pass_through => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Collects the DEK versions a record's ciphertexts name (rotation on), reading only the
/// 5-byte prefix (8 base64 characters of a string field).
#[derive(Default)]
struct VersionProbe {
    versions: Mutex<BTreeSet<i32>>,
}

impl FieldTransform for VersionProbe {
    fn rule_type(&self) -> &str {
        ENCRYPT
    }

    fn transform_field(
        &self,
        _ctx: &RuleContext<'_>,
        _field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        match &value {
            FieldValue::String(s) => self.probe(FieldRef::String(s)),
            FieldValue::Bytes(b) => self.probe(FieldRef::Bytes(b)),
            _ => {}
        }
        Ok(value)
    }
}

impl LendingTransform for VersionProbe {
    fn transform_lent(
        &self,
        _ctx: &RuleContext<'_>,
        _field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>> {
        self.probe(value);
        Ok(None)
    }
}

impl VersionProbe {
    fn probe(&self, value: FieldRef<'_>) {
        let head: Option<Vec<u8>> = match value {
            FieldRef::String(s) => s.get(..8).and_then(|h| B64.decode(h).ok()),
            FieldRef::Bytes(b) => Some(b.iter().take(5).copied().collect()),
        };
        if let Some((v, _)) = head.as_deref().and_then(parse_versioned) {
            self.versions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_binds_subject_and_field() {
        assert_eq!(bound_aad("s", "a.b"), b"s\0a.b");
        assert_ne!(bound_aad("s", "a.b"), bound_aad("s", "a.c"));
        for text in [
            "",
            "AAEC",
            "AAECAw==",
            "AAECAw",
            "AAE=C",
            "!!!!",
            &B64.encode([7u8; 400]),
        ] {
            let stacked = with_base64_decoded(text, |b| b.map(<[u8]>::to_vec));
            assert_eq!(stacked, B64.decode(text).ok(), "{text}");
        }
        let long = "x".repeat(300);
        for (s, f) in [("s", "a.b"), ("", ""), ("orders-value", long.as_str())] {
            assert_eq!(with_bound_aad(s, f, <[u8]>::to_vec), bound_aad(s, f));
        }
    }

    #[test]
    fn params_parse() {
        let m: HashMap<&str, &str> = HashMap::from([
            (PARAM_KEK_NAME, "k"),
            (PARAM_KEY_SCOPE, "entity"),
            (PARAM_ENTITY_FIELD, "user_id"),
            (PARAM_AAD, "NONE"),
            (PARAM_DEK_EXPIRY_DAYS, "7"),
        ]);
        let p = Params::parse(|n| m.get(n).copied(), "r").unwrap();
        let kept = RuleParams::of(&p);
        assert_eq!(format!("{:?}", kept.params()), format!("{p:?}"));
        assert_eq!(p.kek_name, "k");
        assert!(!p.bind_aad && p.rotates());
        assert!(matches!(p.scope, Scope::Entity("user_id")));
        let empty: HashMap<&str, &str> = HashMap::new();
        assert!(Params::parse(|n| empty.get(n).copied(), "r").is_err());
    }

    /// Entity keys are batched on tokio tasks: outside a runtime, a clear configuration
    /// error (no thread running tokio timers without a reactor, no hang).
    #[test]
    fn entity_keys_outside_a_tokio_runtime_are_a_config_error() {
        let client =
            RegistryClient::new(crate::registry::RegistryConfig::new("http://127.0.0.1:9"))
                .unwrap();
        let ex = EncryptionExecutor::new(client, KmsRegistry::new());
        let kek = Arc::new(Kek {
            name: "k".into(),
            kms_type: "local-kms".into(),
            kms_key_id: "id".into(),
            kms_props: Default::default(),
            doc: None,
            shared: false,
            ts: 0,
            deleted: false,
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = futures::executor::block_on(ex.inner.entity_key(
                &kek,
                "s",
                DekAlgorithm::default(),
                "e",
                true,
            ));
            let _ = tx.send(r.map(|_| ()));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Err(ClientError::Config(m))) => assert!(m.contains("tokio runtime"), "{m}"),
            Ok(other) => panic!("outside a runtime: {other:?}"),
            Err(_) => panic!("outside a runtime: no answer (hangs)"),
        }
    }
}
