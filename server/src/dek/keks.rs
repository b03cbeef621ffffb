//! KEKs (`/dek-registry/v1/keks`): creating, reading, updating, soft and permanent
//! deletes, undeletes and the KMS round-trip test, with the rule that only admins touch
//! a shared KEK (or any KEK other than by creating a non-shared one).

use super::*;

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
