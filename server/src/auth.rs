//! Identity and access: principals, their API keys, the one middleware that resolves
//! the caller, and the one policy function ([`authorize`]).
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

use crate::api::AppState;
use crate::audit::{self, ANONYMOUS};
use crate::error::ApiError;
use crate::storage::Store;
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use std::sync::Arc;
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
    Principal(Principal),
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
fn is_open(path: &str) -> bool {
    path.starts_with("/health/") || path == "/metrics"
}

fn under(path: &str, prefix: &str) -> bool {
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
fn percent_decode(segment: &str) -> String {
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

/// The one access policy. Reads need any principal; writes to the registry
/// (`/subjects`, subject-level `/config` and `/mode`) and to streams (`/v1/streams`) need
/// admin or member (members are further held to their team's streams by `governance`);
/// `/v1/principals*`, `/v1/audit*` and registry-wide state ([`registry_wide_write`]) need
/// admin; any other write needs admin.
/// The DEK registry (`/dek-registry`) takes writes from members too, and
/// `POST /v1/entity-keys` from every role; who may create keys or obtain key material
/// is decided per subject by `crate::dek`.
pub fn authorize(principal: &Principal, method: &Method, path: &str) -> Result<(), ApiError> {
    let admin_only = under(path, "/v1/principals")
        || under(path, "/v1/audit")
        || registry_wide_write(method, path).is_some();
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || is_read_only_post(method, path);
    let allowed = match principal.role {
        Role::Admin => true,
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
    let pair: Zeroizing<String> = if scheme.eq_ignore_ascii_case("basic") {
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
        Zeroizing::new(format!("{id}.{secret}"))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Zeroizing::new(rest.to_string())
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

/// Resolves credentials to their principal (401 when missing or wrong).
async fn resolve(store: &Store, value: Option<&HeaderValue>) -> Result<Principal, ApiError> {
    let creds = parse_credentials(value)?;
    let row = sqlx::query(
        "SELECT p.id, p.name, p.kind, p.role, p.team, k.salt, k.secret_hash \
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
    if bool::from(given.as_bytes().ct_eq(stored.as_bytes())) {
        principal_from_row(&row)
    } else {
        Err(unauthorized("Invalid API key"))
    }
}

/// The audit action of a write refused by [`authorize`] (other than registry-wide state,
/// which keeps `config.denied` / `mode.denied`); its target is `METHOD path`.
pub const REQUEST_DENIED: &str = "request.denied";

/// The longest path kept in a refusal's target (a refusal must stay cheap to record).
const MAX_REFUSED_PATH: usize = 512;

/// A request that would change state: not a GET/HEAD/OPTIONS nor a read-only POST.
fn is_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !is_read_only_post(method, path)
}

/// `METHOD path`, the path cut at [`MAX_REFUSED_PATH`] bytes (on a char boundary).
fn refused_target(method: &Method, path: &str) -> String {
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
async fn audit_refusal(
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
        None => return refusal,
    };
    let audited = async {
        let mut w = store.begin_write().await?;
        audit::append(&mut w, &principal.name, &action, &target, None, None).await?;
        w.commit().await
    };
    match audited.await {
        Ok(_) => refusal,
        Err(e) => e,
    }
}

/// The middleware: resolves the caller, applies [`authorize`], and hands the [`Actor`]
/// to the handlers. A 401 carries `WWW-Authenticate: Basic`.
pub async fn middleware(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    if !state.auth || is_open(req.uri().path()) {
        req.extensions_mut().insert(Actor::Anonymous);
        return next.run(req).await;
    }
    let store = &state.registry.store;
    let resolved = match resolve(store, req.headers().get(header::AUTHORIZATION)).await {
        Ok(p) => match authorize(&p, req.method(), req.uri().path()) {
            Ok(()) => Ok(p),
            Err(refusal) => {
                Err(audit_refusal(store, &p, req.method(), req.uri().path(), refusal).await)
            }
        },
        Err(e) => {
            // No principal acted: not audited (anyone could fill the log), only traced,
            // without the credentials.
            tracing::info!(method = %req.method(), path = %req.uri().path(), reason = %e, "request refused: not authenticated");
            Err(e)
        }
    };
    match resolved {
        Ok(p) => {
            req.extensions_mut().insert(Actor::Principal(p));
            next.run(req).await
        }
        Err(e) => {
            let challenge = matches!(e, ApiError::Unauthorized(_));
            let mut resp = e.into_response();
            if challenge {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"accord\""),
                );
            }
            resp
        }
    }
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

/// A principal with the ids of its keys, for `GET /v1/principals`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalInfo {
    #[serde(flatten)]
    pub principal: Principal,
    pub key_ids: Vec<String>,
}

pub async fn list_principals(store: &Store) -> Result<Vec<PrincipalInfo>, ApiError> {
    let rows = sqlx::query("SELECT id, name, kind, role, team FROM principals ORDER BY name")
        .fetch_all(store.reader())
        .await?;
    let keys = sqlx::query("SELECT key_id, principal_id FROM api_keys ORDER BY key_id")
        .fetch_all(store.reader())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let principal = principal_from_row(row)?;
        let mut key_ids = Vec::new();
        for k in &keys {
            if k.try_get::<i64, _>("principal_id")? == principal.id {
                key_ids.push(k.try_get::<String, _>("key_id")?);
            }
        }
        out.push(PrincipalInfo { principal, key_ids });
    }
    Ok(out)
}

async fn insert_key(
    w: &mut crate::storage::WriteTx,
    actor: &str,
    principal: &Principal,
) -> Result<IssuedKey, ApiError> {
    let key_id = format!("ak_{}", random_hex(8)?);
    let secret = Zeroizing::new(random_hex(32)?);
    let salt = random_hex(16)?;
    sqlx::query(
        "INSERT INTO api_keys (key_id, principal_id, salt, secret_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&key_id)
    .bind(principal.id)
    .bind(&salt)
    .bind(secret_hash(&salt, &secret))
    .bind(crate::registry::now_ms())
    .execute(&mut *w.tx)
    .await?;
    let after = serde_json::json!({"principal": principal.name, "keyId": key_id});
    audit::append(
        w,
        actor,
        "key.create",
        &format!("principal:{}/key:{key_id}", principal.name),
        None,
        Some(&after),
    )
    .await?;
    Ok(IssuedKey {
        principal: principal.name.clone(),
        key_id,
        secret,
    })
}

/// Creates an API key for `name`; the returned secret is never available again.
pub async fn create_key(store: &Store, actor: &str, name: &str) -> Result<IssuedKey, ApiError> {
    let mut w = store.begin_write().await?;
    let principal = principal_by_name(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))?;
    let key = insert_key(&mut w, actor, &principal).await?;
    w.commit().await?;
    Ok(key)
}

/// Deletes (revokes) a key of `name`; requests with it fail from the commit on.
pub async fn delete_key(
    store: &Store,
    actor: &str,
    name: &str,
    key_id: &str,
) -> Result<(), ApiError> {
    let mut w = store.begin_write().await?;
    let principal = principal_by_name(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_string()))?;
    let done = sqlx::query("DELETE FROM api_keys WHERE key_id = $1 AND principal_id = $2")
        .bind(key_id)
        .bind(principal.id)
        .execute(&mut *w.tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::KeyNotFound(key_id.to_string()));
    }
    let before = serde_json::json!({"principal": principal.name, "keyId": key_id});
    audit::append(
        &mut w,
        actor,
        "key.delete",
        &format!("principal:{name}/key:{key_id}"),
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
    let admins: i64 = sqlx::query("SELECT COUNT(*) AS n FROM principals WHERE role = 'admin'")
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("n")?;
    if admins > 0 && !force {
        return Ok(None);
    }
    let principal = match principal_by_name(&mut *w.tx, name).await? {
        Some(p) if p.role == Role::Admin => p,
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
    let key = insert_key(&mut w, BOOTSTRAP_ACTOR, &principal).await?;
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
