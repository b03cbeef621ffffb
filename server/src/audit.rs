//! The audit log: one append-only, hash-chained entry per mutation.
//!
//! Each entry records who (principal name, `anonymous` with auth off), what (an action
//! such as `subject.register` and its target), when (ms since the epoch) and digests of
//! the state before and after. Entries are chained:
//!
//! ```text
//! hash = hex(sha256(prev_hash || canonical(seq, at, principal, action, target, before, after)))
//! ```
//!
//! where `prev_hash` is the previous entry's `hash` (64 zeros for seq 1) and
//! `canonical` is the compact JSON array `[seq, at, principal, action, target,
//! before, after]` (strings JSON-escaped, absent digests as `null`), so no two different
//! rows share a canonical form. Changing, removing or inserting any row breaks the
//! chain at that row or the next, which [`verify`] reports.
//!
//! [`append`] takes the mutation's own [`WriteTx`], so the entry commits or rolls back
//! with the change it describes; appends are serialised by what serialises writers
//! (SQLite's one writer connection, PostgreSQL's advisory lock), so `seq` has no gaps.

use crate::error::ApiError;
use crate::storage::WriteTx;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The principal recorded when authentication is off.
pub const ANONYMOUS: &str = "anonymous";

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

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The first entry whose hash, link or sequence number is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
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

/// The hash an entry must carry, given its content and `prev_hash`.
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(canonical(e));
    hex::encode(h.finalize())
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
    let conn: &mut sqlx::AnyConnection = &mut w.tx;
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(row) => (
            row.try_get::<i64, _>("seq")? + 1,
            row.try_get::<String, _>("hash")?,
        ),
        None => (1, GENESIS.to_string()),
    };
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
    entry.hash = entry_hash(&entry);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, principal, action, target, before_digest, after_digest, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(entry.seq)
    .bind(entry.at)
    .bind(&entry.principal)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.before_digest.as_deref())
    .bind(entry.after_digest.as_deref())
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
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

/// Recomputes the whole chain, page by page, from a pool (reads only).
pub async fn verify(pool: &sqlx::AnyPool) -> Result<Verification, ApiError> {
    const PAGE: i64 = 1000;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    let mut entries = 0;
    let mut after = 0;
    loop {
        let page = list(pool, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            entries += 1;
            if e.seq != expected_seq || e.prev_hash != prev || entry_hash(e) != e.hash {
                // A missing row shows up at the next seq present.
                return Ok(Verification {
                    ok: false,
                    entries,
                    first_bad_seq: Some(e.seq.min(expected_seq)),
                });
            }
            prev = e.hash.clone();
            expected_seq += 1;
        }
    }
    Ok(Verification {
        ok: true,
        entries,
        first_bad_seq: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        e.hash = entry_hash(&e);
        e
    }

    #[test]
    fn hash_covers_every_field_and_the_link() {
        let a = entry(1, GENESIS);
        let mut b = a.clone();
        b.action = "config.delete".into();
        assert_ne!(entry_hash(&a), entry_hash(&b));
        let mut c = a.clone();
        c.prev_hash = "1".repeat(64);
        assert_ne!(entry_hash(&a), entry_hash(&c));
        // Field boundaries cannot be shifted: ("ab","c") and ("a","bc") differ.
        let mut d = a.clone();
        d.principal = "alicec".into();
        d.action = "onfig.put".into();
        assert_ne!(entry_hash(&a), entry_hash(&d));
        assert_eq!(a.hash.len(), 64);
    }
}
