//! Per-entity DEKs (`/v1/entity-keys`): one DEK per entity of a stream, keyed by the
//! entity's HMAC (never the entity in clear), created on first request in batches and
//! refused for shredded entities.

use super::*;

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
