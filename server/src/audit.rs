//! The audit log: one append-only entry per mutation and per refusal, chained with a
//! keyed HMAC and anchored by exportable checkpoints.
//!
//! Each entry records who (principal name, `anonymous` with auth off), what (an action
//! such as `subject.register` and its target), when (ms since the epoch) and digests of
//! the state before and after. Entries are chained:
//!
//! ```text
//! hash = hex(HMAC-SHA256(audit key, prev_hash || canonical(seq, at, principal, action, target, before, after)))
//! ```
//!
//! where `prev_hash` is the previous entry's `hash` (64 zeros for seq 1) and
//! `canonical` is the compact JSON array `[seq, at, principal, action, target,
//! before, after]` (strings JSON-escaped, absent digests as `null`), so no two different
//! rows share a canonical form. Changing, removing or inserting any row breaks the
//! chain at that row or the next, which [`verify`] reports; without the key, nobody can
//! re-chain the rows after a change.
//!
//! **The key lives outside the database**, or a database-only attacker could re-chain
//! (as one could when the chain was plain SHA-256): `ACCORD_AUDIT_KEY` (64 hex chars),
//! else a key file (`--audit-key-file` / `ACCORD_AUDIT_KEY_FILE`), else a default file:
//! next to a SQLite database (`<database file>.audit-key`), and for PostgreSQL
//! `accord-data/audit.key` in the working directory (the default SQLite database's
//! folder). A missing key file is created (mode 0600) at the server's first start: a
//! PostgreSQL cluster's nodes must all be given the same file, and a node started with
//! another key is refused (below), so a forgotten copy fails loudly rather than forking
//! the chain. The database keeps only the key's SHA-256 fingerprint
//! (`server_secrets.audit_key_fingerprint`); a server started with a key whose
//! fingerprint differs is refused at start. The key is zeroized on drop and never
//! printed (Debug says `<redacted>`).
//!
//! **Existing databases** (chained with plain SHA-256 before the key existed) are
//! re-keyed once, at the first start with a key: the plain chain is verified, every
//! entry's `prev_hash`/`hash` is recomputed with the key, and an `audit.rekey` entry
//! says so (its target names the re-keyed range and whether the plain chain was intact).
//! After that every entry verifies one way, with the key. A re-key is refused when the
//! log already verifies under the key (the fingerprint row alone was removed). An
//! attacker who removes the fingerprint *and* rewrites the whole log in plain SHA-256
//! can get it re-keyed at the next restart, but that leaves an `audit.rekey` entry at the
//! head and fails every checkpoint taken before it.
//!
//! **Checkpoints** anchor the log against truncation (dropping the newest entries leaves
//! a valid chain) and against rewriting by a key holder: `accord audit checkpoint`
//! (or `GET /v1/audit/checkpoint`) prints the head as `SEQ:HASH` for storing elsewhere;
//! [`verify`] with a checkpoint fails when entry SEQ is missing or its hash differs.
//!
//! [`append`] takes the mutation's own [`WriteTx`], so the entry commits or rolls back
//! with the change it describes; appends are serialised by what serialises writers
//! (SQLite's one writer connection, PostgreSQL's advisory lock), so `seq` has no gaps.
//! It finds the key by the database's fingerprint among the keys this process loaded
//! ([`init`]); a keyed database whose key is not loaded refuses the write (500) rather
//! than write an entry that would not verify.

use crate::error::ApiError;
use crate::storage::{ChainHead, Store, WriteTx};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The principal recorded when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

/// The principal of entries the server writes on its own (`audit.rekey`); not a valid
/// principal name, so no principal can be confused with it.
pub const SERVER: &str = "(server)";

/// The environment variable holding the audit key (64 hex chars).
pub const KEY_ENV: &str = "ACCORD_AUDIT_KEY";
/// The environment variable naming the audit key file.
pub const KEY_FILE_ENV: &str = "ACCORD_AUDIT_KEY_FILE";
/// The audit key's SHA-256 fingerprint in `server_secrets`.
pub const KEY_FINGERPRINT: &str = "audit_key_fingerprint";
/// The key file used for PostgreSQL when none is configured (relative to the working
/// directory, like the default SQLite database).
pub const DEFAULT_PG_KEY_FILE: &str = "accord-data/audit.key";

/// One entry as stored and as served by `GET /v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub seq: i64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub principal: String,
    pub action: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_digest: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of recomputing the chain (and comparing it with a checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The first entry whose hash, link or sequence number is wrong, or that is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    /// What is wrong, in words (which entry was altered or removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Verification {
    fn bad(entries: i64, seq: i64, problem: String) -> Verification {
        Verification {
            ok: false,
            entries,
            first_bad_seq: Some(seq),
            problem: Some(problem),
        }
    }
}

/// The head of the log, to be stored outside the database: `SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// `SEQ:HASH`, what `accord audit verify --checkpoint` takes.
    pub checkpoint: String,
}

impl Checkpoint {
    pub fn new(seq: i64, hash: String) -> Checkpoint {
        Checkpoint {
            checkpoint: format!("{seq}:{hash}"),
            seq,
            hash,
        }
    }

    /// Parses `SEQ:HASH` (a positive seq, 64 hex chars).
    pub fn parse(s: &str) -> Result<Checkpoint, String> {
        let bad =
            || format!("a checkpoint is SEQ:HASH (as `accord audit checkpoint` prints), got {s:?}");
        let (seq, hash) = s.trim().split_once(':').ok_or_else(bad)?;
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let hash = hash.to_ascii_lowercase();
        if seq < 1 || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Checkpoint::new(seq, hash))
    }
}

// ---- the key ----

/// A configured audit key in hex: zeroized on drop, `<redacted>` in Debug output (it
/// sits in the server's `Debug` config).
#[derive(Clone)]
pub struct SecretHex(Zeroizing<String>);

impl SecretHex {
    pub fn new(hex: impl Into<String>) -> SecretHex {
        SecretHex(Zeroizing::new(hex.into()))
    }
}

impl std::fmt::Debug for SecretHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The audit chain's HMAC key (32 bytes), zeroized on drop; Debug shows only its
/// fingerprint (which the database stores anyway).
pub struct AuditKey {
    key: Zeroizing<[u8; 32]>,
    fingerprint: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("key", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl AuditKey {
    fn from_bytes(key: Zeroizing<[u8; 32]>) -> AuditKey {
        let fingerprint = hex::encode(Sha256::digest(key.as_ref()));
        AuditKey { key, fingerprint }
    }

    /// A key from exactly 64 hex chars (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<AuditKey, String> {
        let text = text.trim();
        let mut key = Zeroizing::new([0u8; 32]);
        if text.len() != 64 || hex::decode_to_slice(text, key.as_mut()).is_err() {
            return Err("an audit key is exactly 64 hex characters (32 bytes)".to_string());
        }
        Ok(AuditKey::from_bytes(key))
    }

    /// A fresh random key.
    pub fn generate() -> anyhow::Result<AuditKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(key.as_mut()).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(AuditKey::from_bytes(key))
    }

    /// `hex(SHA-256(key))`: what the database keeps to recognise the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }
}

/// Where the audit key comes from: a key given directly, else a key file, else the
/// default file for the database (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// The key itself (`ACCORD_AUDIT_KEY`, or set programmatically).
    pub key: Option<SecretHex>,
    /// A file holding the key in hex (`--audit-key-file` / `ACCORD_AUDIT_KEY_FILE`).
    pub file: Option<PathBuf>,
}

impl KeySource {
    /// The configured key and file, with `ACCORD_AUDIT_KEY` and `ACCORD_AUDIT_KEY_FILE`
    /// filling in what is not configured.
    pub fn with_env(key: Option<SecretHex>, file: Option<PathBuf>) -> KeySource {
        KeySource {
            key: key.or_else(|| std::env::var(KEY_ENV).ok().map(SecretHex::new)),
            file: file.or_else(|| std::env::var_os(KEY_FILE_ENV).map(PathBuf::from)),
        }
    }

    /// The file the key is read from (and created in) when no key is given directly.
    pub fn file_for(&self, database_url: &str) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| default_key_file(database_url))
    }

    /// Loads the key; with `create`, a missing key file is created with a fresh key
    /// (the server's first start, `accord admin bootstrap`), otherwise it is an error
    /// (`accord audit verify` must not invent a key).
    pub fn load(&self, database_url: &str, create: bool) -> anyhow::Result<AuditKey> {
        if let Some(hex) = &self.key {
            return AuditKey::from_hex(&hex.0).map_err(|e| anyhow::anyhow!("{KEY_ENV}: {e}"));
        }
        let path = self.file_for(database_url);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                AuditKey::from_hex(&text)
                    .map_err(|e| anyhow::anyhow!("audit key file {}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => create_key_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "no audit key: {} does not exist; pass --audit-key-file FILE or set {KEY_ENV}",
                path.display()
            ),
            Err(e) => anyhow::bail!("cannot read the audit key file {}: {e}", path.display()),
        }
    }
}

/// `<database file>.audit-key` for SQLite, [`DEFAULT_PG_KEY_FILE`] otherwise.
pub fn default_key_file(database_url: &str) -> PathBuf {
    if database_url.starts_with("sqlite:") {
        let path = database_url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        PathBuf::from(format!("{path}.audit-key"))
    } else {
        PathBuf::from(DEFAULT_PG_KEY_FILE)
    }
}

/// Creates `path` with a fresh key, atomically: written to a private temporary file
/// and hard-linked into place, so two servers starting at once agree on one key (the
/// loser reads the winner's).
fn create_key_file(path: &Path) -> anyhow::Result<AuditKey> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key = AuditKey::generate()?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp-{}", &key.fingerprint[..16]));
    let tmp = PathBuf::from(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.key.as_ref())));
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::warn!(
                file = %path.display(),
                "created a new audit key; keep this file (and a copy outside the database's \
                 backups): the audit log can be verified only with it"
            );
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = Zeroizing::new(std::fs::read_to_string(path)?);
            AuditKey::from_hex(&text)
                .map_err(|e| anyhow::anyhow!("audit key file {}: {e}", path.display()))
        }
        Err(e) => anyhow::bail!("cannot create the audit key file {}: {e}", path.display()),
    }
}

/// The keys this process loaded, by fingerprint: how [`append`] finds the key of the
/// database it writes to without the key travelling through every mutation.
fn loaded() -> &'static Mutex<HashMap<String, Arc<AuditKey>>> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<AuditKey>>>> = OnceLock::new();
    KEYS.get_or_init(Default::default)
}

fn register(key: Arc<AuditKey>) {
    let mut keys = loaded().lock().unwrap_or_else(|p| p.into_inner());
    keys.insert(key.fingerprint.clone(), key);
}

fn loaded_key(fingerprint: &str) -> Option<Arc<AuditKey>> {
    let keys = loaded().lock().unwrap_or_else(|p| p.into_inner());
    keys.get(fingerprint).cloned()
}

async fn stored_fingerprint<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Option<String>, ApiError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(KEY_FINGERPRINT)
            .fetch_optional(e)
            .await?,
    )
}

/// The audit key fingerprint the database keeps (`None` before its first keyed start).
pub async fn database_fingerprint(pool: &sqlx::AnyPool) -> Result<Option<String>, ApiError> {
    stored_fingerprint(pool).await
}

/// The key the server loaded for this database (by its stored fingerprint), for the
/// HTTP endpoints; `None` when the database has no fingerprint or this process does not
/// hold its key.
pub async fn key_for(pool: &sqlx::AnyPool) -> Result<Option<Arc<AuditKey>>, ApiError> {
    Ok(stored_fingerprint(pool)
        .await?
        .and_then(|fp| loaded_key(&fp)))
}

/// Binds `key` to the database at start: stores its fingerprint the first time (after
/// re-keying a log chained before keys existed), refuses a key with another
/// fingerprint, and loads it for [`append`].
pub async fn init(store: &Store, key: AuditKey) -> anyhow::Result<()> {
    let key = Arc::new(key);
    if let Some(fp) = stored_fingerprint(store.reader()).await? {
        ensure_same_key(&fp, &key)?;
        register(key);
        return Ok(());
    }
    let mut w = store.begin_write().await?;
    // Another node may have done it meanwhile: decide under the writer lock.
    if let Some(fp) = stored_fingerprint(&mut *w.tx).await? {
        drop(w);
        ensure_same_key(&fp, &key)?;
        register(key);
        return Ok(());
    }
    sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2)")
        .bind(KEY_FINGERPRINT)
        .bind(key.fingerprint())
        .execute(&mut *w.tx)
        .await?;
    register(key.clone());
    rekey(&mut w, &key).await?;
    w.commit().await?;
    Ok(())
}

fn ensure_same_key(stored: &str, key: &AuditKey) -> anyhow::Result<()> {
    anyhow::ensure!(
        stored == key.fingerprint(),
        "the audit key (ACCORD_AUDIT_KEY, --audit-key-file, or the default key file) is not the \
         one this database's audit log is chained with (its SHA-256 fingerprint differs from \
         server_secrets.{KEY_FINGERPRINT}); configure the original key file"
    );
    Ok(())
}

/// Re-chains the entries written before the database had a key (plain SHA-256) with
/// `key`, in one transaction, and appends `audit.rekey` saying what was re-keyed.
async fn rekey(w: &mut WriteTx, key: &AuditKey) -> anyhow::Result<()> {
    let conn: &mut sqlx::AnyConnection = &mut w.tx;
    let sql = format!("SELECT {COLS} FROM audit_log ORDER BY seq");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let entries = rows
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = entries.first() else {
        return Ok(());
    };
    if first.hash == entry_hash(key, first) {
        anyhow::bail!(
            "the audit log is already chained with this audit key, but its fingerprint is \
             missing from server_secrets: the database was tampered with; run `accord audit \
             verify` and restore server_secrets.{KEY_FINGERPRINT} = {}",
            key.fingerprint()
        );
    }
    let plain = check_chain(&entries, |e| plain_entry_hash(e) == e.hash);
    let mut prev = GENESIS.to_string();
    for e in &entries {
        let mut k = e.clone();
        k.prev_hash = prev;
        k.hash = entry_hash(key, &k);
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&k.prev_hash)
            .bind(&k.hash)
            .bind(k.seq)
            .execute(&mut *conn)
            .await?;
        prev = k.hash;
    }
    let last = entries.last().map_or(0, |e| e.seq);
    let state = match &plain.problem {
        None => "plain chain intact".to_string(),
        Some(p) => {
            tracing::warn!(problem = %p, "the audit log's plain SHA-256 chain was broken before re-keying");
            format!("plain chain broken: {p}")
        }
    };
    append(
        w,
        SERVER,
        "audit.rekey",
        &format!("audit:1..{last} ({state})"),
        None,
        None,
    )
    .await?;
    tracing::warn!(
        entries = last,
        "re-keyed the audit log with the audit key (HMAC-SHA256)"
    );
    Ok(())
}

/// sha256 (hex) of a state's JSON text: what `before_digest`/`after_digest` hold.
pub fn digest(state: &Value) -> String {
    hex::encode(Sha256::digest(state.to_string().as_bytes()))
}

/// The canonical bytes of an entry's content (everything but the hashes).
fn canonical(e: &AuditEntry) -> Vec<u8> {
    serde_json::json!([
        e.seq,
        e.at,
        e.principal,
        e.action,
        e.target,
        e.before_digest,
        e.after_digest
    ])
    .to_string()
    .into_bytes()
}

/// The hash an entry must carry, given its content and `prev_hash`:
/// `hex(HMAC-SHA256(key, prev_hash || canonical))`.
pub fn entry_hash(key: &AuditKey, e: &AuditEntry) -> String {
    let mut mac = key.mac();
    mac.update(e.prev_hash.as_bytes());
    mac.update(&canonical(e));
    hex::encode(mac.finalize().into_bytes())
}

/// The unkeyed hash of databases that have no key yet (`hex(sha256(prev_hash ||
/// canonical))`): anyone can compute it, which is why keyed databases never use it.
pub fn plain_entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(canonical(e));
    hex::encode(h.finalize())
}

tokio::task_local! {
    /// Set for the run of an authenticated write (see [`tracking_refusals`]): whether
    /// it appended a refusal (an action ending in `.denied`).
    static REFUSAL_AUDITED: std::cell::Cell<bool>;
}

/// Runs `f`, a request's handling, and says whether it audited a refusal itself. The
/// auth middleware audits every 403 of a write that was not (`request.denied`), so a
/// refusal decided deep in a handler (a stream's owning team, a contract's claim) is in
/// the log as surely as one decided by the access policy, and none is recorded twice.
pub async fn tracking_refusals<F: std::future::Future>(f: F) -> (F::Output, bool) {
    REFUSAL_AUDITED
        .scope(std::cell::Cell::new(false), async move {
            let out = f.await;
            (out, REFUSAL_AUDITED.with(|c| c.get()))
        })
        .await
}

/// Appends an entry inside the mutation's transaction; returns its seq.
pub async fn append(
    w: &mut WriteTx,
    principal: &str,
    action: &str,
    target: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Result<i64, ApiError> {
    if action.ends_with(".denied") {
        // Outside a tracked request (start-up, workers) there is nothing to tell.
        let _ = REFUSAL_AUDITED.try_with(|c| c.set(true));
    }
    let entry = |seq: i64, prev_hash: String, key: Option<&AuditKey>| {
        let mut entry = AuditEntry {
            seq,
            at: crate::registry::now_ms(),
            principal: principal.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            before_digest: before.map(digest),
            after_digest: after.map(digest),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = match key {
            Some(k) => entry_hash(k, &entry),
            None => plain_entry_hash(&entry),
        };
        entry
    };
    // The head this node appended last, if any, saves reading it first: the entry
    // is inserted only if the table's head (and key) are still that.
    if let Some(hint) = w.chain_head() {
        let key = match &hint.key_fingerprint {
            None => None,
            Some(fp) => loaded_key(fp),
        };
        if hint.key_fingerprint.is_none() || key.is_some() {
            let e = entry(hint.seq + 1, hint.hash.clone(), key.as_deref());
            let inserted = bind_entry(sqlx::query(
                "INSERT INTO audit_log (seq, at, principal, action, target, before_digest, after_digest, prev_hash, hash) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
                 WHERE (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) = $8 \
                 AND (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1) = $10 \
                 AND COALESCE((SELECT value FROM server_secrets WHERE name = $11), '') = $12",
            ), &e)
            .bind(hint.seq)
            .bind(KEY_FINGERPRINT)
            .bind(hint.key_fingerprint.as_deref().unwrap_or_default())
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                w.set_chain_head(Some(ChainHead {
                    key_fingerprint: hint.key_fingerprint,
                    seq: e.seq,
                    hash: e.hash,
                }));
                return Ok(e.seq);
            }
        }
    }
    let conn: &mut sqlx::AnyConnection = &mut w.tx;
    // The key fingerprint and the chain's last entry, in one statement.
    let head = sqlx::query(
        "SELECT (SELECT value FROM server_secrets WHERE name = $1) AS fp, \
         (SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1) AS seq, \
         (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS hash",
    )
    .bind(KEY_FINGERPRINT)
    .fetch_one(&mut *conn)
    .await?;
    // A database without a fingerprint has not been started with a key yet (it is
    // re-keyed at its first keyed start); one with a fingerprint needs its key.
    let fingerprint = head.try_get::<Option<String>, _>("fp")?;
    let key = match &fingerprint {
        None => None,
        Some(fp) => Some(loaded_key(fp).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "the audit key of this database (fingerprint {fp}) is not loaded in this \
                 process; the change was not made"
            ))
        })?),
    };
    let (seq, prev_hash) = match (
        head.try_get::<Option<i64>, _>("seq")?,
        head.try_get::<Option<String>, _>("hash")?,
    ) {
        (Some(seq), Some(hash)) => (seq + 1, hash),
        _ => (1, GENESIS.to_string()),
    };
    let entry = entry(seq, prev_hash, key.as_deref());
    bind_entry(
        sqlx::query(
            "INSERT INTO audit_log (seq, at, principal, action, target, before_digest, after_digest, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ),
        &entry,
    )
    .execute(&mut *conn)
    .await?;
    w.set_chain_head(Some(ChainHead {
        key_fingerprint: fingerprint,
        seq,
        hash: entry.hash,
    }));
    Ok(seq)
}

/// `query` with an entry's nine columns bound as `$1..$9`, in [`COLS`] order.
fn bind_entry<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    e: &'q AuditEntry,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(e.seq)
        .bind(e.at)
        .bind(&e.principal)
        .bind(&e.action)
        .bind(&e.target)
        .bind(e.before_digest.as_deref())
        .bind(e.after_digest.as_deref())
        .bind(&e.prev_hash)
        .bind(&e.hash)
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, ApiError> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        principal: row.try_get("principal")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        before_digest: row.try_get("before_digest")?,
        after_digest: row.try_get("after_digest")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const COLS: &str =
    "seq, at, principal, action, target, before_digest, after_digest, prev_hash, hash";

/// Entries with `seq > after`, oldest first, at most `limit`.
pub async fn list<'e, E: Executor<'e, Database = Any>>(
    e: E,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, ApiError> {
    let sql = format!("SELECT {COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(entry_from_row).collect()
}

/// The newest entry as a checkpoint (`None` for an empty log).
pub async fn head(pool: &sqlx::AnyPool) -> Result<Option<Checkpoint>, ApiError> {
    let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(pool)
        .await?;
    row.map(|r| Ok(Checkpoint::new(r.try_get("seq")?, r.try_get("hash")?)))
        .transpose()
}

/// The chain walk shared by [`verify`] and the re-key: seq numbering, links and
/// `hash_ok` on each entry, in order.
struct Walk {
    expected_seq: i64,
    prev: String,
    entries: i64,
    /// The last entry checked (seq, hash).
    last: Option<(i64, String)>,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            expected_seq: 1,
            prev: GENESIS.to_string(),
            entries: 0,
            last: None,
        }
    }

    /// Checks the next entry; the problem, if any.
    fn step(
        &mut self,
        e: &AuditEntry,
        hash_ok: impl Fn(&AuditEntry) -> bool,
    ) -> Option<Verification> {
        self.entries += 1;
        let problem = if e.seq > self.expected_seq {
            // A missing row shows up at the next seq present.
            Some((
                self.expected_seq,
                format!(
                    "entry {} was removed (the next entry present is {})",
                    self.expected_seq, e.seq
                ),
            ))
        } else if e.seq != self.expected_seq {
            Some((
                e.seq.min(self.expected_seq),
                format!(
                    "entry {} is out of sequence (expected {})",
                    e.seq, self.expected_seq
                ),
            ))
        } else if e.prev_hash != self.prev {
            Some((
                e.seq,
                format!(
                    "entry {} does not link to entry {} (one of them was altered, or rows were \
                     inserted or removed)",
                    e.seq,
                    e.seq - 1
                ),
            ))
        } else if !hash_ok(e) {
            Some((
                e.seq,
                format!(
                    "entry {} was altered (its hash does not match its content)",
                    e.seq
                ),
            ))
        } else {
            None
        };
        if let Some((seq, p)) = problem {
            return Some(Verification::bad(self.entries, seq, p));
        }
        self.prev = e.hash.clone();
        self.expected_seq += 1;
        self.last = Some((e.seq, e.hash.clone()));
        None
    }

    fn ok(&self) -> Verification {
        Verification {
            ok: true,
            entries: self.entries,
            first_bad_seq: None,
            problem: None,
        }
    }
}

fn check_chain(entries: &[AuditEntry], hash_ok: impl Fn(&AuditEntry) -> bool) -> Verification {
    let mut walk = Walk::new();
    for e in entries {
        if let Some(bad) = walk.step(e, &hash_ok) {
            return bad;
        }
    }
    walk.ok()
}

/// Recomputes the whole chain with `key`, page by page, from a pool (reads only); with
/// a `checkpoint`, also fails when its entry is missing (truncation) or its hash differs
/// (a rewrite at or before it).
pub async fn verify(
    pool: &sqlx::AnyPool,
    key: &AuditKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<Verification, ApiError> {
    const PAGE: i64 = 1000;
    let mut walk = Walk::new();
    let mut after = 0;
    let mut at_checkpoint: Option<String> = None;
    loop {
        let page = list(pool, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if let Some(bad) = walk.step(e, |e| entry_hash(key, e) == e.hash) {
                return Ok(bad);
            }
            if checkpoint.is_some_and(|c| c.seq == e.seq) {
                at_checkpoint = Some(e.hash.clone());
            }
        }
    }
    if let Some(c) = checkpoint {
        let head = walk.last.as_ref().map_or(0, |(seq, _)| *seq);
        match at_checkpoint {
            None => {
                return Ok(Verification::bad(
                    walk.entries,
                    head + 1,
                    format!(
                        "the log ends at entry {head}, before the checkpoint's entry {}: \
                         entries {}..{} were removed (truncated)",
                        c.seq,
                        head + 1,
                        c.seq
                    ),
                ))
            }
            Some(h) if h != c.hash => {
                return Ok(Verification::bad(
                    walk.entries,
                    c.seq,
                    format!(
                        "entry {}'s hash differs from the checkpoint's: the log was rewritten \
                         at or before entry {} (and re-chained with the key)",
                        c.seq, c.seq
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(walk.ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    /// Two nodes on one database, and a rolled-back append: each node's head hint goes
    /// stale, and every append still links to the table's real head.
    #[tokio::test]
    async fn appends_from_a_stale_head_hint_keep_the_chain() {
        let dir = std::env::temp_dir().join(format!("accord-audit-hint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}/db.sqlite", dir.display());
        let a = Store::connect(&url).await.unwrap();
        let b = Store::connect(&url).await.unwrap();
        init(&a, key()).await.unwrap();
        init(&b, key()).await.unwrap();
        let add = |s: Store, target: &'static str, commit: bool| async move {
            let mut w = s.begin_write().await.unwrap();
            append(&mut w, "tester", "test.put", target, None, None)
                .await
                .unwrap();
            if commit {
                w.commit().await.unwrap();
            }
        };
        add(a.clone(), "1", true).await;
        add(b.clone(), "2", true).await; // a's hint is behind the table now
        add(a.clone(), "3", true).await;
        add(a.clone(), "rolled back", false).await; // a's hint is ahead of it
        add(a.clone(), "4", true).await;
        add(b.clone(), "5", true).await;
        let entries = list(a.reader(), 0, 100).await.unwrap();
        let targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["1", "2", "3", "4", "5"]);
        let v = verify(a.reader(), &key(), None).await.unwrap();
        assert!(v.ok, "{v:?}");
        assert_eq!(v.entries, 5);
        a.close().await;
        b.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn entry(seq: i64, prev: &str) -> AuditEntry {
        let mut e = AuditEntry {
            seq,
            at: 1,
            principal: "alice".into(),
            action: "config.put".into(),
            target: "config:".into(),
            before_digest: None,
            after_digest: Some(digest(&serde_json::json!({"compatibility": "FULL"}))),
            prev_hash: prev.into(),
            hash: String::new(),
        };
        e.hash = entry_hash(&key(), &e);
        e
    }

    #[test]
    fn hash_covers_every_field_and_the_link() {
        let k = key();
        let a = entry(1, GENESIS);
        let mut b = a.clone();
        b.action = "config.delete".into();
        assert_ne!(entry_hash(&k, &a), entry_hash(&k, &b));
        let mut c = a.clone();
        c.prev_hash = "1".repeat(64);
        assert_ne!(entry_hash(&k, &a), entry_hash(&k, &c));
        // Field boundaries cannot be shifted: ("ab","c") and ("a","bc") differ.
        let mut d = a.clone();
        d.principal = "alicec".into();
        d.action = "onfig.put".into();
        assert_ne!(entry_hash(&k, &a), entry_hash(&k, &d));
        assert_eq!(a.hash.len(), 64);
    }

    #[test]
    fn the_hash_is_keyed() {
        let a = entry(1, GENESIS);
        // Plain SHA-256 (what an attacker without the key can compute) does not verify,
        // nor does another key.
        assert_ne!(plain_entry_hash(&a), a.hash);
        let other = AuditKey::from_hex(&"cd".repeat(32)).unwrap();
        assert_ne!(entry_hash(&other, &a), a.hash);
        let chain = [a.clone(), entry(2, &a.hash)];
        assert!(check_chain(&chain, |e| entry_hash(&key(), e) == e.hash).ok);
        let v = check_chain(&chain, |e| entry_hash(&other, e) == e.hash);
        assert_eq!(v.first_bad_seq, Some(1));
    }

    #[test]
    fn keys_and_checkpoints_parse_strictly() {
        assert!(AuditKey::from_hex("ab").is_err());
        assert!(AuditKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(AuditKey::from_hex(&format!("{}\n", "0a".repeat(32))).is_ok());
        let k = key();
        assert!(!format!("{k:?}").contains(&"ab".repeat(32)));
        assert_eq!(
            format!("{:?}", SecretHex::new("ab".repeat(32))),
            "<redacted>"
        );
        let c = Checkpoint::parse(&format!("12:{}", "AB".repeat(32))).unwrap();
        assert_eq!((c.seq, c.hash.as_str()), (12, "ab".repeat(32).as_str()));
        assert_eq!(c.checkpoint, format!("12:{}", "ab".repeat(32)));
        for bad in [
            "12",
            "x:ab",
            "0:",
            "-1:00",
            &format!("12:{}", "a".repeat(63)),
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_key_files() {
        assert_eq!(
            default_key_file("sqlite:///var/lib/accord/accord.db?mode=rwc"),
            PathBuf::from("/var/lib/accord/accord.db.audit-key")
        );
        assert_eq!(
            default_key_file("postgres://h/db"),
            PathBuf::from(DEFAULT_PG_KEY_FILE)
        );
    }
}
