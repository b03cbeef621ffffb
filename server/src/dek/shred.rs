//! Crypto-shredding: destroying an entity's (or a whole stream's) keys, overwriting their
//! material before the delete, leaving a tombstone so they are never created again, and
//! emitting the `keys.shredded` event.

use super::*;

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
