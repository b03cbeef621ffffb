//! Identity and access: principals, their API keys, how a request's credentials resolve
//! to a caller, and the one policy function ([`authorize`]). The HTTP middleware that
//! applies them to every request is `api::auth_layer`, above this module.
//!
//! Credentials. An API key is a public `key_id` (`ak_` + 16 hex digits) and a secret
//! (64 hex digits, 256 random bits) shown once when the key is created. Clients send
//! either HTTP Basic with `key_id` as the user and the secret as the password (what
//! Confluent clients send for `basic.auth.user.info=key_id:secret`) or
//! `Authorization: Bearer key_id.secret`. The database holds only a random per-key salt
//! and `sha256(salt || secret)`; a fast hash is enough because the secret is random and
//! long (nothing to brute-force from a dictionary), and it keeps per-request checks
//! cheap. Hashes are compared in constant time; secrets are zeroized after use where we
//! hold them (not in the HTTP buffers) and never logged.
//!
//! With auth off every request runs as [`ANONYMOUS`] and nothing is checked; `start`
//! refuses to bind a non-loopback address that way unless `insecure` is set.

use crate::audit::{self, ANONYMOUS};
use crate::error::ApiError;
use crate::storage::Store;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, Method};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
    Reader,
}

/// A person or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Reader => "reader",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "reader" => Some(Role::Reader),
            _ => None,
        }
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Service => "service",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "user" => Some(Kind::User),
            "service" => Some(Kind::Service),
            _ => None,
        }
    }
}

/// A stored principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Principal {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// Who is making the request: a principal, or anonymous when auth is off. Handlers
/// take it as an extractor and pass its name to the mutation (for the audit log).
#[derive(Debug, Clone)]
pub enum Actor {
    Anonymous,
    /// Shared with the verified-key cache: a request clones a reference count, not the
    /// principal's strings.
    Principal(std::sync::Arc<Principal>),
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Actor::Anonymous => ANONYMOUS,
            Actor::Principal(p) => &p.name,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        // The middleware always inserts one; its absence means auth is not wired, which
        // must not turn into an open door.
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("No credentials were resolved".to_string()))
    }
}

// ---- the policy ----

/// Paths that never need credentials (load balancers and Prometheus).
pub(crate) fn is_open(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

pub(crate) fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Requests that change nothing although they are not GETs: the Confluent lookup
/// (`POST /subjects/{s}`), compatibility tests and `POST /`.
fn is_read_only_post(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    if path == "/" || under(path, "/compatibility") {
        return true;
    }
    // `/subjects/{s}` with exactly one segment after /subjects.
    path.strip_prefix("/subjects/")
        .is_some_and(|s| !s.is_empty() && !s.contains('/'))
}

/// `%XX` escapes decoded (as axum's `Path` does; `+` stays a plus in a path).
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A change to registry-wide state that only admins may make: the global config or mode
/// (`/config`, `/mode`, also reached as `/config/:.:`, since `:.:` is the default
/// context, which unqualifies to the global scope) and a context's (`/config/:.ctx:`).
/// READONLY or IMPORT set globally freezes every team, so a member may not. Returns the
/// audit action and target of a refusal (`config.denied`, `config` or `config:<scope>`,
/// as `config.put` names its target).
pub fn registry_wide_write(method: &Method, path: &str) -> Option<(&'static str, String)> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    for (resource, action) in [("/config", "config.denied"), ("/mode", "mode.denied")] {
        let Some(rest) = path.strip_prefix(resource) else {
            continue;
        };
        if rest.is_empty() {
            return Some((action, resource[1..].to_string()));
        }
        let Some(segment) = rest.strip_prefix('/') else {
            continue;
        };
        // The handlers percent-decode the segment: decide on what they will see.
        let decoded = percent_decode(segment);
        let scope = decoded.strip_prefix(":.:").unwrap_or(&decoded);
        let context_only = scope.len() > 2
            && scope.starts_with(":.")
            && scope.ends_with(':')
            && !scope[2..scope.len() - 1].contains(':');
        let reserved = scope == "__GLOBAL" || scope.starts_with(":.__GLOBAL:");
        if scope.is_empty() || context_only || reserved {
            return Some((action, format!("{}:{decoded}", &resource[1..])));
        }
    }
    None
}

/// The route of key rotation: the calling key is replaced by a new one.
pub const ROTATE_PATH: &str = "/v1/keys/rotate";

/// What any principal may do about itself, whatever its role: rotate the key it calls
/// with ([`ROTATE_PATH`]), read its own principal (`GET /v1/principals/{self}`, which
/// lists its key ids, so it knows what to revoke) and revoke one of its own keys
/// (`DELETE /v1/principals/{self}/keys/{id}`). The name is compared percent-decoded, as
/// the handlers see it; principal names cannot hold `/`, so a decoded segment is never
/// mistaken for a path.
fn self_service(principal: &Principal, method: &Method, path: &str) -> bool {
    if *method == Method::POST && path == ROTATE_PATH {
        return true;
    }
    let Some(rest) = path.strip_prefix("/v1/principals/") else {
        return false;
    };
    let mut segments = rest.split('/');
    let Some(name) = segments.next() else {
        return false;
    };
    if percent_decode(name) != principal.name {
        return false;
    }
    let rest: Vec<&str> = segments.collect();
    match (method, rest.as_slice()) {
        (&Method::GET, []) => true,
        (&Method::DELETE, ["keys", id]) => !id.is_empty(),
        _ => false,
    }
}

/// The one access policy. Reads need any principal; writes to the registry
/// (`/subjects`, subject-level `/config` and `/mode`) and to streams (`/v1/streams`) need
/// admin or member (members are further held to their team's streams by `governance`);
/// `/v1/principals*`, `/v1/audit*`, `/exporters*` (reads too) and registry-wide state
/// ([`registry_wide_write`]) need admin, except what a principal does about itself
/// ([`self_service`]); any other write needs admin.
/// The DEK registry (`/dek-registry`) takes writes from members too, and
/// `POST /v1/entity-keys` from every role; who may create keys or obtain key material
/// is decided per subject by `crate::dek`.
pub fn authorize(principal: &Principal, method: &Method, path: &str) -> Result<(), ApiError> {
    let admin_only = under(path, "/v1/principals")
        || under(path, "/v1/audit")
        // An exporter's config names another registry and its credentials: reads too.
        || under(path, "/exporters")
        || registry_wide_write(method, path).is_some();
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || is_read_only_post(method, path);
    let allowed = match principal.role {
        Role::Admin => true,
        // Every principal manages its own keys: reads itself, revokes and rotates them.
        _ if self_service(principal, method, path) => true,
        _ if admin_only => false,
        _ if read => true,
        // Entity-key lookups (`create: false`) are reads; the handler holds creates to
        // members and admins.
        _ if *method == Method::POST && under(path, "/v1/entity-keys") => true,
        // Which stream a member may change (its owning team's) is decided inside the
        // write transaction, where the stream is read: `governance` for registrations on a
        // stream's subjects, contracts and producers.
        Role::Member => {
            under(path, "/subjects")
                || under(path, "/config")
                || under(path, "/mode")
                || under(path, "/v1/streams")
                || under(path, "/v1/proposals")
                || under(path, "/v1/webhooks")
                || under(path, "/dek-registry")
        }
        Role::Reader => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Principal '{}' (role {}) may not {method} {path}",
            principal.name,
            principal.role.as_str()
        )))
    }
}

// ---- credentials ----

/// A key id and secret as sent by a client.
struct Credentials {
    key_id: String,
    secret: Zeroizing<String>,
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_string())
}

fn parse_credentials(value: Option<&HeaderValue>) -> Result<Credentials, ApiError> {
    let value = value.ok_or_else(|| {
        unauthorized(
            "Authentication required: send HTTP Basic key_id:secret or 'Bearer key_id.secret'",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("Malformed Authorization header"))?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    // Basic's `id:secret` is read as the Bearer form `id.secret` (split at its first
    // dot), so both name the same key the same way; a Bearer value is split in place.
    let basic_pair: Zeroizing<String>;
    let pair: &str = if scheme.eq_ignore_ascii_case("basic") {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| unauthorized("Malformed HTTP Basic credentials"))?,
        );
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| unauthorized("Malformed HTTP Basic credentials"))?;
        let (id, secret) = text
            .split_once(':')
            .ok_or_else(|| unauthorized("Malformed HTTP Basic credentials"))?;
        basic_pair = Zeroizing::new(format!("{id}.{secret}"));
        &basic_pair
    } else if scheme.eq_ignore_ascii_case("bearer") {
        rest
    } else {
        return Err(unauthorized(
            "Unsupported authorization scheme: use Basic or Bearer",
        ));
    };
    let (key_id, secret) = pair
        .split_once('.')
        .ok_or_else(|| unauthorized("Malformed credentials: expected key_id and secret"))?;
    if key_id.is_empty() || secret.is_empty() {
        return Err(unauthorized("Invalid API key"));
    }
    Ok(Credentials {
        key_id: key_id.to_string(),
        secret: Zeroizing::new(secret.to_string()),
    })
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    getrandom::getrandom(&mut buf).map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(hex::encode(&*buf))
}

fn secret_hash(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// A newly created key: the only time the secret exists outside the client.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKey {
    pub principal: String,
    pub key_id: String,
    /// Shown once; only a salted hash is stored.
    #[schema(value_type = String)]
    #[serde(serialize_with = "serialize_secret")]
    pub secret: Zeroizing<String>,
    /// When the key stops working (RFC 3339; null: never).
    pub expires_at: Option<String>,
}

fn serialize_secret<S: serde::Serializer>(
    s: &Zeroizing<String>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

impl IssuedKey {
    /// `key_id:secret`, for HTTP Basic (`basic.auth.user.info`).
    pub fn basic(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}:{}", self.key_id, *self.secret))
    }

    /// `key_id.secret`, for `Authorization: Bearer`.
    pub fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}.{}", self.key_id, *self.secret))
    }
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("principal", &self.principal)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

// ---- storage of principals and keys ----

fn principal_from_row(row: &AnyRow) -> Result<Principal, ApiError> {
    let kind: String = row.try_get("kind")?;
    let role: String = row.try_get("role")?;
    Ok(Principal {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: Kind::parse(&kind)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad kind {kind:?}")))?,
        role: Role::parse(&role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("bad role {role:?}")))?,
        team: row.try_get("team")?,
    })
}

async fn principal_by_name<'e, E: Executor<'e, Database = Any>>(
    e: E,
    name: &str,
) -> Result<Option<Principal>, ApiError> {
    let row = sqlx::query("SELECT id, name, kind, role, team FROM principals WHERE name = $1")
        .bind(name)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(principal_from_row).transpose()
}

/// How often at most a key's `last_used_ms` is written: the auth path reads the key on
/// every request but writes its last use only when the stored one is older than this,
/// off the request (issue 16 measures the hot path).
const LAST_USED_EVERY_MS: i64 = 60_000;

/// The key a request authenticated with, for the handlers that act on it (rotation).
#[derive(Debug, Clone)]
pub struct CallingKey(pub String);

/// A request's resolved credentials.
pub(crate) struct Resolved {
    pub(crate) principal: std::sync::Arc<Principal>,
    pub(crate) key_id: String,
    /// The stored last use is stale: record this one.
    pub(crate) touch: bool,
}

/// Resolves credentials to their principal: 401 when missing or wrong, and also when the
/// key is revoked or expired or its principal disabled. Those are said only after the
/// secret matched, so they tell nothing to someone who does not hold the key.
/// How long a verified key is trusted without the database: the bound on how late a
/// revocation, a disable, a role change or a deletion made on another node (or offline
/// with `accord admin`) takes effect here. Changes made through this node's API clear
/// the cache at once.
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// At most this many keys are remembered; a full cache starts over.
const VERIFIED_MAX: usize = 10_000;

/// API keys verified within [`VERIFIED_TTL`], so a busy client's requests skip the
/// database read and the hash. An entry is found only with the same key id and the same
/// secret: it holds a keyed digest of the secret (SHA-256 under a random per-process
/// pepper, never the secret), compared in constant time, so a wrong secret never
/// matches it. Expiry is checked on every hit.
#[derive(Default)]
pub struct VerifiedKeys {
    map: std::sync::RwLock<std::collections::HashMap<String, Verified>>,
}

struct Verified {
    digest: [u8; 32],
    principal: std::sync::Arc<Principal>,
    expires_ms: Option<i64>,
    at: std::time::Instant,
}

impl VerifiedKeys {
    fn digest(key_id: &str, secret: &str) -> [u8; 32] {
        static PEPPER: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
        let pepper = PEPPER.get_or_init(|| {
            let mut p = [0u8; 32];
            // Without the OS's randomness the digest stays sound (it only has to tell
            // secrets apart); the pepper only keeps it from being a bare SHA-256.
            let _ = getrandom::getrandom(&mut p);
            p
        });
        let mut h = Sha256::new();
        h.update(pepper);
        h.update((key_id.len() as u64).to_be_bytes());
        h.update(key_id.as_bytes());
        h.update(secret.as_bytes());
        h.finalize().into()
    }

    /// The principal of a key verified within the TTL with this very secret.
    fn get(&self, key_id: &str, digest: &[u8; 32]) -> Option<std::sync::Arc<Principal>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let v = map.get(key_id)?;
        let fresh = v.at.elapsed() < VERIFIED_TTL;
        let same = bool::from(v.digest.ct_eq(digest));
        let live = v.expires_ms.is_none_or(|at| at > crate::registry::now_ms());
        (fresh && same && live).then(|| v.principal.clone())
    }

    fn put(
        &self,
        key_id: &str,
        digest: [u8; 32],
        principal: std::sync::Arc<Principal>,
        expires_ms: Option<i64>,
    ) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= VERIFIED_MAX {
            map.clear();
        }
        map.insert(
            key_id.to_string(),
            Verified {
                digest,
                principal,
                expires_ms,
                at: std::time::Instant::now(),
            },
        );
    }

    /// Forgets every verified key (after a change to principals or keys).
    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub(crate) async fn resolve(
    store: &Store,
    verified: &VerifiedKeys,
    value: Option<&HeaderValue>,
) -> Result<Resolved, ApiError> {
    let creds = parse_credentials(value)?;
    let digest = VerifiedKeys::digest(&creds.key_id, &creds.secret);
    if let Some(principal) = verified.get(&creds.key_id, &digest) {
        return Ok(Resolved {
            principal,
            // Touched when it was verified, within the last second.
            touch: false,
            key_id: creds.key_id,
        });
    }
    let row = sqlx::query(
        "SELECT p.id, p.name, p.kind, p.role, p.team, p.disabled_ms, k.salt, k.secret_hash, \
         k.expires_ms, k.revoked_ms, k.last_used_ms \
         FROM api_keys k JOIN principals p ON p.id = k.principal_id WHERE k.key_id = $1",
    )
    .bind(&creds.key_id)
    .fetch_optional(store.reader())
    .await?;
    let Some(row) = row else {
        return Err(unauthorized("Invalid API key"));
    };
    let salt: String = row.try_get("salt")?;
    let stored: String = row.try_get("secret_hash")?;
    let given = secret_hash(&salt, &creds.secret);
    if !bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
        return Err(unauthorized("Invalid API key"));
    }
    let now = crate::registry::now_ms();
    if row.try_get::<Option<i64>, _>("revoked_ms")?.is_some() {
        return Err(unauthorized("API key revoked"));
    }
    if row
        .try_get::<Option<i64>, _>("expires_ms")?
        .is_some_and(|at| at <= now)
    {
        return Err(unauthorized("API key expired"));
    }
    if row.try_get::<Option<i64>, _>("disabled_ms")?.is_some() {
        return Err(unauthorized("Principal disabled"));
    }
    let last_used: Option<i64> = row.try_get("last_used_ms")?;
    let principal = std::sync::Arc::new(principal_from_row(&row)?);
    verified.put(
        &creds.key_id,
        digest,
        principal.clone(),
        row.try_get::<Option<i64>, _>("expires_ms")?,
    );
    Ok(Resolved {
        principal,
        touch: last_used.is_none_or(|at| now - at >= LAST_USED_EVERY_MS),
        key_id: creds.key_id,
    })
}

/// Records a key's last use, at most once per [`LAST_USED_EVERY_MS`] per key and node:
/// a key used a thousand times a second past its minute would otherwise start a write
/// per request until the first one commits. The write runs in the background, in its
/// own short transaction (a failure only leaves the last use older).
pub(crate) fn touch_last_used(store: &Store, key_id: &str) {
    static STARTED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, i64>>> =
        std::sync::OnceLock::new();
    let now = crate::registry::now_ms();
    {
        let mut started = match STARTED.get_or_init(Default::default).lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if started
            .get(key_id)
            .is_some_and(|at| now - at < LAST_USED_EVERY_MS)
        {
            return;
        }
        // Only keys that authenticated get here; forget the stale ones now and then.
        if started.len() > 10_000 {
            started.retain(|_, at| now - *at < LAST_USED_EVERY_MS);
        }
        started.insert(key_id.to_string(), now);
    }
    let store = store.clone();
    let key_id = key_id.to_string();
    tokio::spawn(async move {
        let written = async {
            let mut w = store.begin_write().await?;
            sqlx::query(
                "UPDATE api_keys SET last_used_ms = $1 WHERE key_id = $2 \
                 AND (last_used_ms IS NULL OR last_used_ms < $1)",
            )
            .bind(now)
            .bind(&key_id)
            .execute(&mut *w.tx)
            .await?;
            w.commit().await
        };
        if let Err(e) = written.await {
            tracing::debug!(key_id = %key_id, error = %e, "could not record a key's last use");
        }
    });
}

/// The audit action of a write refused by [`authorize`] (other than registry-wide state,
/// which keeps `config.denied` / `mode.denied`); its target is `METHOD path`.
pub const REQUEST_DENIED: &str = "request.denied";

/// The longest path kept in a refusal's target (a refusal must stay cheap to record).
const MAX_REFUSED_PATH: usize = 512;

/// A request that would change state: not a GET/HEAD/OPTIONS nor a read-only POST.
pub(crate) fn is_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !is_read_only_post(method, path)
}

/// `METHOD path`, the path cut at [`MAX_REFUSED_PATH`] bytes (on a char boundary).
pub(crate) fn refused_target(method: &Method, path: &str) -> String {
    let mut end = path.len().min(MAX_REFUSED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{method} {}", &path[..end])
}

/// Records a refusal of registry-wide state ([`registry_wide_write`]) in the audit log,
/// as the other refusals are (`kek.<op>.denied`, `keys.release.denied`): an attempt to
/// freeze every team is worth knowing about. Every other refused write is recorded as
/// [`REQUEST_DENIED`] (handlers never run for these, so nothing is recorded twice);
/// refused reads pass through as they are. Returns the error to answer with (the
/// refusal, or why it could not be recorded).
/// The audit action of a refused read of `/exporters`.
const EXPORTER_READ_DENIED: &str = "exporter.read.denied";

/// A path cut to at most 512 bytes (on a character boundary), for audit targets.
fn truncated(path: &str) -> &str {
    let mut end = path.len().min(512);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

pub(crate) async fn audit_refusal(
    store: &Store,
    principal: &Principal,
    method: &Method,
    path: &str,
    refusal: ApiError,
) -> ApiError {
    let (action, target) = match registry_wide_write(method, path) {
        Some((action, target)) => (action.to_string(), target),
        // Every other refused write: the principal, what was attempted and where. Reads
        // are not audited (a refused read changes nothing and would flood the log).
        None if is_write(method, path) => {
            (REQUEST_DENIED.to_string(), refused_target(method, path))
        }
        // Reads of exporters are admin-only (they name other registries): audited.
        None if under(path, "/exporters") => (
            EXPORTER_READ_DENIED.to_string(),
            format!("{method} {}", truncated(path)),
        ),
        None => return refusal,
    };
    match record_refusal(store, &principal.name, &action, &target).await {
        Ok(()) => refusal,
        Err(e) => e,
    }
}

/// Appends one refusal entry in a transaction of its own (nothing else was written).
pub(crate) async fn record_refusal(
    store: &Store,
    principal: &str,
    action: &str,
    target: &str,
) -> Result<(), ApiError> {
    let mut w = store.begin_write().await?;
    audit::append(&mut w, principal, action, target, None, None).await?;
    w.commit().await?;
    Ok(())
}

// ---- mutations (each one transaction, audited) ----

/// The body of `POST /v1/principals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    pub name: String,
    #[serde(default = "default_kind")]
    pub kind: Kind,
    pub role: Role,
    #[serde(default)]
    pub team: Option<String>,
}

fn default_kind() -> Kind {
    Kind::User
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Creates a principal (no keys yet).
pub async fn create_principal(
    store: &Store,
    actor: &str,
    input: &NewPrincipal,
) -> Result<Principal, ApiError> {
    if !valid_name(&input.name) {
        return Err(ApiError::Unprocessable(format!(
            "Invalid principal name '{}': 1-128 characters among letters, digits, '.', '_', '-', '@'",
            input.name
        )));
    }
    // The name that stands for "no principal" (auth off) in ownership checks and the
    // audit log cannot be a principal's.
    if input.name.eq_ignore_ascii_case(crate::audit::ANONYMOUS) {
        return Err(ApiError::Unprocessable(format!(
            "Invalid principal name '{}': reserved for requests without a principal",
            input.name
        )));
    }
    let team = input
        .team
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(t) = team {
        if !valid_name(t) {
            return Err(ApiError::Unprocessable(format!("Invalid team name '{t}'")));
        }
    }
    if input.role == Role::Member && team.is_none() {
        return Err(ApiError::Unprocessable(
            "A member belongs to a team: give 'team'".to_string(),
        ));
    }
    let mut w = store.begin_write().await?;
    if principal_by_name(&mut *w.tx, &input.name).await?.is_some() {
        return Err(ApiError::PrincipalExists(input.name.clone()));
    }
    let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM principals")
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("id")?;
    sqlx::query(
        "INSERT INTO principals (id, name, kind, role, team, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&input.name)
    .bind(input.kind.as_str())
    .bind(input.role.as_str())
    .bind(team)
    .bind(crate::registry::now_ms())
    .execute(&mut *w.tx)
    .await?;
    let p = Principal {
        id,
        name: input.name.clone(),
        kind: input.kind,
        role: input.role,
        team: team.map(str::to_string),
    };
    let after = serde_json::to_value(&p).map_err(ApiError::internal)?;
    audit::append(
        &mut w,
        actor,
        "principal.create",
        &format!("principal:{}", p.name),
        None,
        Some(&after),
    )
    .await?;
    w.commit().await?;
    Ok(p)
}

/// A key as listed: never its secret nor its hash. Times are RFC 3339 (UTC).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub key_id: String,
    pub created_at: String,
    /// The last successful request with it, to within about a minute (null: never used).
    pub last_used_at: Option<String>,
    /// When it stops working (null: never).
    pub expires_at: Option<String>,
    /// When it was revoked (null: not revoked).
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

/// A principal with its keys, for `GET /v1/principals` and `GET /v1/principals/{name}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalInfo {
    #[serde(flatten)]
    pub principal: Principal,
    /// A disabled principal's keys are refused (401) until it is enabled again.
    pub disabled: bool,
    pub created_at: String,
    pub disabled_at: Option<String>,
    /// The ids of `keys` (revoked and expired ones included), as listed before `keys`
    /// existed; kept for the clients that read it.
    pub key_ids: Vec<String>,
    pub keys: Vec<KeyInfo>,
}

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(crate::webhooks::rfc3339)
}

fn key_info(row: &AnyRow, now: i64) -> Result<KeyInfo, ApiError> {
    let expires: Option<i64> = row.try_get("expires_ms")?;
    let revoked: Option<i64> = row.try_get("revoked_ms")?;
    let status = if revoked.is_some() {
        "revoked"
    } else if expires.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    };
    Ok(KeyInfo {
        key_id: row.try_get("key_id")?,
        created_at: crate::webhooks::rfc3339(row.try_get("created_ms")?),
        last_used_at: time(row.try_get("last_used_ms")?),
        expires_at: time(expires),
        revoked_at: time(revoked),
        status: status.to_string(),
    })
}

/// Which principals [`principal_infos`] reads.
enum Which<'a> {
    /// The one of this name.
    Named(&'a str),
    /// At most `fetch` by name after this one.
    After(&'a str, i64),
}

/// Principals (a page by name, or the one named) with their keys, in name then key-id
/// order.
async fn principal_infos<'e, E: Executor<'e, Database = Any> + Copy>(
    e: E,
    which: Which<'_>,
) -> Result<Vec<PrincipalInfo>, ApiError> {
    let (filter, key) = match which {
        Which::Named(n) => ("WHERE name = $1".to_string(), n),
        Which::After(a, fetch) => (format!("WHERE name > $1 ORDER BY name LIMIT {fetch}"), a),
    };
    let rows = sqlx::query(&format!(
        "SELECT id, name, kind, role, team, created_ms, disabled_ms FROM principals {filter}"
    ))
    .bind(key)
    .fetch_all(e)
    .await?;
    // The keys of the principals read, by their ids (a page's worth).
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let keys = if ids.is_empty() {
        Vec::new()
    } else {
        let kq = format!(
            "SELECT key_id, principal_id, created_ms, expires_ms, revoked_ms, last_used_ms \
             FROM api_keys WHERE principal_id IN ({}) ORDER BY key_id",
            crate::storage::q::placeholders(ids.len())
        );
        let mut kq = sqlx::query(&kq);
        for id in &ids {
            kq = kq.bind(*id);
        }
        kq.fetch_all(e).await?
    };
    let now = crate::registry::now_ms();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let principal = principal_from_row(row)?;
        let mut infos = Vec::new();
        for k in &keys {
            if k.try_get::<i64, _>("principal_id")? == principal.id {
                infos.push(key_info(k, now)?);
            }
        }
        let disabled_ms: Option<i64> = row.try_get("disabled_ms")?;
        out.push(PrincipalInfo {
            principal,
            disabled: disabled_ms.is_some(),
            created_at: crate::webhooks::rfc3339(row.try_get("created_ms")?),
            disabled_at: time(disabled_ms),
            key_ids: infos.iter().map(|k| k.key_id.clone()).collect(),
            keys: infos,
        });
    }
    Ok(out)
}

/// Principals with their keys (no secrets, no hashes), by name: at most `fetch` after
/// `after`, and how many there are in all.
pub async fn list_principals(
    store: &Store,
    after: &str,
    fetch: i64,
) -> Result<(Vec<PrincipalInfo>, i64), ApiError> {
    let page = principal_infos(store.reader(), Which::After(after, fetch)).await?;
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM principals")
        .fetch_one(store.reader())
        .await?
        .try_get("n")?;
    Ok((page, total))
}

/// One principal with its keys (404 when there is none by that name).
pub async fn get_principal(store: &Store, name: &str) -> Result<PrincipalInfo, ApiError> {
    principal_infos(store.reader(), Which::Named(name))
        .await?
        .pop()
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))
}

/// When a new key stops working: `expiresAt` (RFC 3339) or `expiresInDays`, not both.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewKey {
    /// An instant in the future, e.g. `2027-01-31T00:00:00Z`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whole days from now (1 to 3650).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

impl NewKey {
    /// The expiry in ms since the epoch (None: never); 422 when malformed or past.
    fn expires_ms(&self, now: i64) -> Result<Option<i64>, ApiError> {
        let at = match (&self.expires_at, self.expires_in_days) {
            (Some(_), Some(_)) => {
                return Err(ApiError::Unprocessable(
                    "Give either expiresAt or expiresInDays, not both".to_string(),
                ))
            }
            (None, None) => return Ok(None),
            (Some(t), None) => parse_rfc3339_ms(t).ok_or_else(|| {
                ApiError::Unprocessable(format!(
                    "Invalid expiresAt '{t}': expected RFC 3339, e.g. 2027-01-31T00:00:00Z"
                ))
            })?,
            (None, Some(days)) if (1..=3650).contains(&days) => now + days * 86_400_000,
            (None, Some(days)) => {
                return Err(ApiError::Unprocessable(format!(
                    "Invalid expiresInDays {days}: 1 to 3650"
                )))
            }
        };
        if at <= now {
            return Err(ApiError::Unprocessable(
                "expiresAt is not in the future".to_string(),
            ));
        }
        Ok(Some(at))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to ms since the epoch; None when malformed.
/// (No date crate in the server; this is the only timestamp it parses.)
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 2)?,
        num(8, 2)?,
        num(11, 2)?,
        num(14, 2)?,
        num(17, 2)?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > month_days[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        ms = frac.parse::<i64>().ok()? * 10_i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se.min(59) - offset_min * 60;
    Some(secs * 1000 + ms)
}

async fn insert_key(
    w: &mut crate::storage::WriteTx,
    principal: &Principal,
    expires_ms: Option<i64>,
) -> Result<IssuedKey, ApiError> {
    let key_id = format!("ak_{}", random_hex(8)?);
    let secret = Zeroizing::new(random_hex(32)?);
    let salt = random_hex(16)?;
    sqlx::query(
        "INSERT INTO api_keys (key_id, principal_id, salt, secret_hash, created_ms, expires_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key_id)
    .bind(principal.id)
    .bind(&salt)
    .bind(secret_hash(&salt, &secret))
    .bind(crate::registry::now_ms())
    .bind(expires_ms)
    .execute(&mut *w.tx)
    .await?;
    Ok(IssuedKey {
        principal: principal.name.clone(),
        key_id,
        secret,
        expires_at: time(expires_ms),
    })
}

/// Inserts a key and records `key.create`.
async fn insert_key_audited(
    w: &mut crate::storage::WriteTx,
    actor: &str,
    principal: &Principal,
    expires_ms: Option<i64>,
) -> Result<IssuedKey, ApiError> {
    let key = insert_key(w, principal, expires_ms).await?;
    let after = serde_json::json!({
        "principal": principal.name, "keyId": key.key_id, "expiresAt": key.expires_at,
    });
    audit::append(
        w,
        actor,
        "key.create",
        &format!("principal:{}/key:{}", principal.name, key.key_id),
        None,
        Some(&after),
    )
    .await?;
    Ok(key)
}

/// Creates an API key for `name`, expiring as `input` says; the returned secret is never
/// available again.
pub async fn create_key(
    store: &Store,
    actor: &str,
    name: &str,
    input: &NewKey,
) -> Result<IssuedKey, ApiError> {
    let expires_ms = input.expires_ms(crate::registry::now_ms())?;
    let mut w = store.begin_write().await?;
    let principal = principal_by_name(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))?;
    let key = insert_key_audited(&mut w, actor, &principal, expires_ms).await?;
    w.commit().await?;
    Ok(key)
}

/// Marks a live key of `principal` revoked; false when it has no such unrevoked key.
async fn mark_revoked(
    w: &mut crate::storage::WriteTx,
    principal: &Principal,
    key_id: &str,
) -> Result<bool, ApiError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_ms = $1 WHERE key_id = $2 AND principal_id = $3 \
         AND revoked_ms IS NULL",
    )
    .bind(crate::registry::now_ms())
    .bind(key_id)
    .bind(principal.id)
    .execute(&mut *w.tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes a key of `name`: requests with it get 401 from the commit on, on every node
/// (the auth path reads the key from the database on each request; nothing caches it).
/// The row stays, so listings show when it was revoked. 404 when `name` has no such key
/// or it is already revoked.
pub async fn revoke_key(
    store: &Store,
    actor: &str,
    name: &str,
    key_id: &str,
) -> Result<(), ApiError> {
    let mut w = store.begin_write().await?;
    let principal = principal_by_name(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))?;
    if !mark_revoked(&mut w, &principal, key_id).await? {
        return Err(ApiError::KeyNotFound(key_id.to_string()));
    }
    let before = serde_json::json!({"principal": principal.name, "keyId": key_id});
    audit::append(
        &mut w,
        actor,
        "key.revoke",
        &format!("principal:{name}/key:{key_id}"),
        Some(&before),
        None,
    )
    .await?;
    w.commit().await?;
    Ok(())
}

/// Rotation: a new key for the principal calling with `key_id`, which is revoked in the
/// same transaction (no grace period: a client swaps keys in one step, and a stolen key
/// being rotated away must stop at once). The new key keeps the old one's expiry, so
/// rotating never extends a lifetime an admin set. Audited as `key.rotate`.
pub async fn rotate_key(
    store: &Store,
    actor: &Actor,
    key_id: Option<&str>,
) -> Result<IssuedKey, ApiError> {
    let (Actor::Principal(caller), Some(key_id)) = (actor, key_id) else {
        return Err(ApiError::Unprocessable(
            "Rotation replaces the API key the request is made with: it needs --auth and a key"
                .to_string(),
        ));
    };
    let mut w = store.begin_write().await?;
    let principal = principal_by_name(&mut *w.tx, &caller.name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(caller.name.clone()))?;
    let expires_ms: Option<i64> =
        sqlx::query("SELECT expires_ms FROM api_keys WHERE key_id = $1 AND principal_id = $2")
            .bind(key_id)
            .bind(principal.id)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or_else(|| ApiError::KeyNotFound(key_id.to_string()))?
            .try_get("expires_ms")?;
    if !mark_revoked(&mut w, &principal, key_id).await? {
        // Revoked by someone else since this request was authenticated.
        return Err(ApiError::Unauthorized("API key revoked".to_string()));
    }
    let key = insert_key(&mut w, &principal, expires_ms).await?;
    let before = serde_json::json!({"principal": principal.name, "keyId": key_id});
    let after = serde_json::json!({
        "principal": principal.name, "keyId": key.key_id, "expiresAt": key.expires_at,
    });
    audit::append(
        &mut w,
        &caller.name,
        "key.rotate",
        &format!("principal:{}/key:{key_id}", principal.name),
        Some(&before),
        Some(&after),
    )
    .await?;
    w.commit().await?;
    Ok(key)
}

/// The body of `PATCH /v1/principals/{name}`: what is given changes, the rest stays.
/// `"team": null` removes the team.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalChange {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub team: Option<Option<String>>,
}

/// Tells an absent field (`None`, via `default`) from an explicit null (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Enabled admins other than `id`: the registry must keep at least one.
async fn other_enabled_admins(w: &mut crate::storage::WriteTx, id: i64) -> Result<i64, ApiError> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM principals WHERE role = 'admin' AND disabled_ms IS NULL AND id <> $1",
    )
    .bind(id)
    .fetch_one(&mut *w.tx)
    .await?
    .try_get("n")?)
}

/// Refuses (409) a change that would leave no enabled admin, recording the refusal
/// (`principal.<op>.denied`) in the audit log in place of the change.
async fn keep_an_admin(
    mut w: crate::storage::WriteTx,
    actor: &str,
    p: &Principal,
    disabled: bool,
    op: &str,
) -> Result<crate::storage::WriteTx, ApiError> {
    if p.role != Role::Admin || disabled || other_enabled_admins(&mut w, p.id).await? > 0 {
        return Ok(w);
    }
    audit::append(
        &mut w,
        actor,
        &format!("principal.{op}.denied"),
        &format!("principal:{}", p.name),
        None,
        None,
    )
    .await?;
    w.commit().await?;
    Err(ApiError::LastAdmin(p.name.clone()))
}

/// Reads a principal and whether it is disabled, in the write transaction.
async fn principal_for_change(
    w: &mut crate::storage::WriteTx,
    name: &str,
) -> Result<(Principal, bool), ApiError> {
    let row = sqlx::query(
        "SELECT id, name, kind, role, team, disabled_ms FROM principals WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *w.tx)
    .await?
    .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))?;
    let disabled = row.try_get::<Option<i64>, _>("disabled_ms")?.is_some();
    Ok((principal_from_row(&row)?, disabled))
}

/// Changes a principal's role and/or team; it applies from the next request (every
/// request reads the principal). A member keeps a team; the last enabled admin keeps its
/// role (409). Audited as `principal.update` with before and after.
pub async fn update_principal(
    store: &Store,
    actor: &str,
    name: &str,
    change: &PrincipalChange,
) -> Result<Principal, ApiError> {
    let new_team = match &change.team {
        Some(Some(t)) => {
            let t = t.trim();
            if !t.is_empty() && !valid_name(t) {
                return Err(ApiError::Unprocessable(format!("Invalid team name '{t}'")));
            }
            Some((!t.is_empty()).then(|| t.to_string()))
        }
        Some(None) => Some(None),
        None => None,
    };
    let mut w = store.begin_write().await?;
    let (before, disabled) = principal_for_change(&mut w, name).await?;
    let mut after = before.clone();
    if let Some(role) = change.role {
        after.role = role;
    }
    if let Some(team) = new_team {
        after.team = team;
    }
    if after.role == Role::Member && after.team.is_none() {
        return Err(ApiError::Unprocessable(
            "A member belongs to a team: give 'team'".to_string(),
        ));
    }
    if after.role != Role::Admin {
        w = keep_an_admin(w, actor, &before, disabled, "update").await?;
    }
    sqlx::query("UPDATE principals SET role = $1, team = $2 WHERE id = $3")
        .bind(after.role.as_str())
        .bind(after.team.as_deref())
        .bind(after.id)
        .execute(&mut *w.tx)
        .await?;
    let b = serde_json::to_value(&before).map_err(ApiError::internal)?;
    let a = serde_json::to_value(&after).map_err(ApiError::internal)?;
    audit::append(
        &mut w,
        actor,
        "principal.update",
        &format!("principal:{name}"),
        Some(&b),
        Some(&a),
    )
    .await?;
    w.commit().await?;
    Ok(after)
}

/// Disables (`disable`) or enables a principal. A disabled principal's keys get 401 from
/// the commit on; they work again once it is enabled (revoke them to end them for good).
/// The last enabled admin cannot be disabled (409). Setting the state it already has
/// changes nothing and records nothing.
pub async fn set_disabled(
    store: &Store,
    actor: &str,
    name: &str,
    disable: bool,
) -> Result<PrincipalInfo, ApiError> {
    let mut w = store.begin_write().await?;
    let (p, disabled) = principal_for_change(&mut w, name).await?;
    if disabled != disable {
        let op = if disable { "disable" } else { "enable" };
        if disable {
            w = keep_an_admin(w, actor, &p, disabled, op).await?;
        }
        sqlx::query("UPDATE principals SET disabled_ms = $1 WHERE id = $2")
            .bind(disable.then(crate::registry::now_ms))
            .bind(p.id)
            .execute(&mut *w.tx)
            .await?;
        audit::append(
            &mut w,
            actor,
            &format!("principal.{op}"),
            &format!("principal:{name}"),
            Some(&serde_json::json!({"disabled": disabled})),
            Some(&serde_json::json!({"disabled": disable})),
        )
        .await?;
        w.commit().await?;
    } else {
        drop(w);
    }
    get_principal(store, name).await
}

/// Deletes a principal and its keys (their rows go; the audit log keeps the history).
/// The last enabled admin cannot be deleted (409). Audited as `principal.delete`.
pub async fn delete_principal(store: &Store, actor: &str, name: &str) -> Result<(), ApiError> {
    let mut w = store.begin_write().await?;
    let (p, disabled) = principal_for_change(&mut w, name).await?;
    w = keep_an_admin(w, actor, &p, disabled, "delete").await?;
    let key_ids: Vec<String> =
        sqlx::query("SELECT key_id FROM api_keys WHERE principal_id = $1 ORDER BY key_id")
            .bind(p.id)
            .fetch_all(&mut *w.tx)
            .await?
            .iter()
            .map(|r| r.try_get("key_id"))
            .collect::<Result<_, _>>()?;
    sqlx::query("DELETE FROM api_keys WHERE principal_id = $1")
        .bind(p.id)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("DELETE FROM principals WHERE id = $1")
        .bind(p.id)
        .execute(&mut *w.tx)
        .await?;
    let mut before = serde_json::to_value(&p).map_err(ApiError::internal)?;
    before["keyIds"] = serde_json::json!(key_ids);
    audit::append(
        &mut w,
        actor,
        "principal.delete",
        &format!("principal:{name}"),
        Some(&before),
        None,
    )
    .await?;
    w.commit().await?;
    Ok(())
}

/// The principal that bootstraps records in the audit log.
pub const BOOTSTRAP_ACTOR: &str = "bootstrap";

/// Creates an admin principal `name` (if it does not exist) with a new key, in one
/// transaction. Refuses (returns `Ok(None)`) when some admin already exists, unless
/// `force`. Used at first start with auth on and by `accord admin bootstrap`.
pub async fn bootstrap_admin(
    store: &Store,
    name: &str,
    force: bool,
) -> Result<Option<IssuedKey>, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::Unprocessable(format!(
            "Invalid principal name '{name}'"
        )));
    }
    let mut w = store.begin_write().await?;
    // A disabled admin does not count: bootstrap is the way back in.
    let admins: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM principals WHERE role = 'admin' AND disabled_ms IS NULL",
    )
    .fetch_one(&mut *w.tx)
    .await?
    .try_get("n")?;
    if admins > 0 && !force {
        return Ok(None);
    }
    let existing = match principal_by_name(&mut *w.tx, name).await? {
        Some(_) => Some(principal_for_change(&mut w, name).await?),
        None => None,
    };
    let principal = match existing {
        Some((p, disabled)) if p.role == Role::Admin => {
            if disabled {
                // Its new key must work: enable it again, as an admin would.
                sqlx::query("UPDATE principals SET disabled_ms = NULL WHERE id = $1")
                    .bind(p.id)
                    .execute(&mut *w.tx)
                    .await?;
                audit::append(
                    &mut w,
                    BOOTSTRAP_ACTOR,
                    "principal.enable",
                    &format!("principal:{name}"),
                    Some(&serde_json::json!({"disabled": true})),
                    Some(&serde_json::json!({"disabled": false})),
                )
                .await?;
            }
            p
        }
        Some(_) => {
            return Err(ApiError::Unprocessable(format!(
                "Principal '{name}' exists and is not an admin; choose another name"
            )))
        }
        None => {
            let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM principals")
                .fetch_one(&mut *w.tx)
                .await?
                .try_get("id")?;
            sqlx::query(
                "INSERT INTO principals (id, name, kind, role, team, created_ms) VALUES ($1, $2, 'user', 'admin', NULL, $3)",
            )
            .bind(id)
            .bind(name)
            .bind(crate::registry::now_ms())
            .execute(&mut *w.tx)
            .await?;
            let p = Principal {
                id,
                name: name.to_string(),
                kind: Kind::User,
                role: Role::Admin,
                team: None,
            };
            let after = serde_json::to_value(&p).map_err(ApiError::internal)?;
            audit::append(
                &mut w,
                BOOTSTRAP_ACTOR,
                "principal.create",
                &format!("principal:{name}"),
                None,
                Some(&after),
            )
            .await?;
            p
        }
    };
    let key = insert_key_audited(&mut w, BOOTSTRAP_ACTOR, &principal, None).await?;
    w.commit().await?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role) -> Principal {
        Principal {
            id: 1,
            name: "x".into(),
            kind: Kind::User,
            role,
            team: Some("t".into()),
        }
    }

    #[test]
    fn policy_table() {
        use Role::*;
        let cases: &[(Role, Method, &str, bool)] = &[
            (Reader, Method::GET, "/subjects", true),
            (Reader, Method::POST, "/subjects/s", true), // lookup
            (
                Reader,
                Method::POST,
                "/compatibility/subjects/s/versions",
                true,
            ),
            (Reader, Method::POST, "/subjects/s/versions", false),
            (Reader, Method::PUT, "/config", false),
            (Reader, Method::GET, "/v1/audit", false),
            (Member, Method::POST, "/subjects/s/versions", true),
            (Member, Method::DELETE, "/subjects/s", true),
            (Member, Method::PUT, "/mode/s", true),
            (Member, Method::PUT, "/config", false),
            (Member, Method::DELETE, "/config", false),
            (Member, Method::PUT, "/mode", false),
            (Member, Method::DELETE, "/mode", false),
            (Member, Method::PUT, "/config/:.:", false),
            (Member, Method::DELETE, "/mode/%3A.%3A", false),
            (Member, Method::PUT, "/config/:.other:", false),
            (Member, Method::PUT, "/config/:.:orders-value", true),
            (Member, Method::PUT, "/config/orders-value", true),
            (Member, Method::DELETE, "/mode/orders-value", true),
            (Member, Method::GET, "/config", true),
            (Member, Method::GET, "/mode", true),
            (Member, Method::PUT, "/configs", false),
            (Admin, Method::PUT, "/mode", true),
            (Admin, Method::DELETE, "/config", true),
            (Member, Method::DELETE, "/contexts/.x", false),
            (Member, Method::POST, "/v1/principals", false),
            (Member, Method::GET, "/v1/principals", false),
            (Member, Method::GET, "/v1/audit/verify", false),
            (Member, Method::POST, "/subjectsX/a", false),
            (Admin, Method::POST, "/v1/principals/a/keys", true),
            (Admin, Method::GET, "/v1/audit", true),
            (Admin, Method::PATCH, "/v1/principals/a", true),
            (Admin, Method::DELETE, "/v1/principals/x/keys/k", true),
            // Self-service (the principal in these cases is named "x").
            (Reader, Method::POST, "/v1/keys/rotate", true),
            (Member, Method::POST, "/v1/keys/rotate", true),
            (Reader, Method::GET, "/v1/principals/x", true),
            (Reader, Method::GET, "/v1/principals/%78", true),
            (Member, Method::DELETE, "/v1/principals/x/keys/k", true),
            (Member, Method::DELETE, "/v1/principals/x/keys/", false),
            (
                Member,
                Method::DELETE,
                "/v1/principals/x/keys/k/more",
                false,
            ),
            (Member, Method::DELETE, "/v1/principals/y/keys/k", false),
            (Member, Method::GET, "/v1/principals/y", false),
            (Member, Method::GET, "/v1/principals/x/keys", false),
            (Member, Method::POST, "/v1/principals/x/keys", false),
            (Member, Method::PATCH, "/v1/principals/x", false),
            (Member, Method::DELETE, "/v1/principals/x", false),
            (Member, Method::POST, "/v1/principals/x/enable", false),
            (Member, Method::GET, "/v1/keys/rotate", true),
            (Member, Method::POST, "/v1/keys/rotate/x", false),
        ];
        for (role, method, path, ok) in cases {
            assert_eq!(
                authorize(&p(*role), method, path).is_ok(),
                *ok,
                "{role:?} {method} {path}"
            );
        }
    }

    #[test]
    fn rfc3339_parsing() {
        for (text, ms) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2023-11-14T22:13:20.123Z", Some(1_700_000_000_123)),
            ("2023-11-14T23:13:20.1234+01:00", Some(1_700_000_000_123)),
            ("2023-11-14t21:13:20-01:00", Some(1_700_000_000_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("2001-02-29T00:00:00Z", None),
            ("2023-11-14T22:13:20", None),
            ("2023-11-14T22:13:20.Z", None),
            ("2023-11-14T24:00:00Z", None),
            ("2023-13-01T00:00:00Z", None),
            ("2023-11-14T22:13:20+1:00", None),
            ("2023-11-14T22:13:20Zjunk", None),
            ("tomorrow", None),
            ("", None),
        ] {
            assert_eq!(parse_rfc3339_ms(text), ms, "{text}");
        }
    }

    #[test]
    fn credentials_basic_and_bearer() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("ak_1:s3cret");
        let c = parse_credentials(Some(
            &HeaderValue::from_str(&format!("Basic {b64}")).unwrap(),
        ))
        .unwrap();
        assert_eq!((c.key_id.as_str(), c.secret.as_str()), ("ak_1", "s3cret"));
        let c = parse_credentials(Some(&HeaderValue::from_static("Bearer ak_1.s3cret"))).unwrap();
        assert_eq!((c.key_id.as_str(), c.secret.as_str()), ("ak_1", "s3cret"));
        for bad in ["Bearer nodot", "Basic !!!", "Digest x", "Bearer .x"] {
            assert!(parse_credentials(Some(&HeaderValue::from_static(bad))).is_err());
        }
        assert!(parse_credentials(None).is_err());
    }
}
