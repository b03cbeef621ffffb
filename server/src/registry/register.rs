//! Registration: Confluent's register algorithm (confluent-compat.md §9.2) and tag edits
//! that make new versions. The candidate is parsed and checked before the writers' lock
//! ([`Prepared`]) and the results reused inside the transaction when nothing they depend
//! on changed.

use super::*;

/// `merge(merge(default, specific), override)` for metadata or ruleSet given as JSON.
fn merge_layers<T>(
    default: Option<&Value>,
    specific: Option<&Value>,
    overrides: Option<&Value>,
    merge: impl Fn(&T, &T) -> T,
) -> Result<Option<Value>, ApiError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Default,
{
    let read = |v: Option<&Value>| -> Result<Option<T>, ApiError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ApiError::InvalidSchema(format!("Invalid metadata or ruleSet: {e}"))),
        }
    };
    let layers = [read(default)?, read(specific)?, read(overrides)?];
    if layers.iter().all(Option::is_none) {
        return Ok(None);
    }
    let merged = layers
        .iter()
        .flatten()
        .fold(T::default(), |acc, layer| merge(&acc, layer));
    serde_json::to_value(merged)
        .map(Some)
        .map_err(ApiError::internal)
}

/// A subject's settings and streams as a registration read them (configs, modes,
/// streams), for its hint.
type HintParts = (
    Vec<(String, Value)>,
    Vec<(String, String)>,
    Vec<(String, Option<String>)>,
);

/// The hint a registration of `subject` leaves ([`crate::cache::Caches::subject_hint`]).
fn hint(
    subject: &str,
    (configs, modes, streams): HintParts,
    versions: Vec<VersionRecord>,
) -> (String, crate::storage::SubjectState) {
    let state = crate::storage::SubjectState {
        configs,
        modes,
        versions,
        streams,
    };
    (subject.to_string(), state)
}

impl Registry {
    /// The first half of turning request input into a candidate, the one that reads the
    /// database: the type, and the references resolved to concrete versions and texts.
    /// An unqualified reference subject is resolved in the context of `referrer`, the
    /// subject the schema is registered, looked up or checked under (as Confluent does).
    pub(super) async fn unparsed(
        conn: &mut sqlx::AnyConnection,
        input: &SchemaInput,
        allow_deleted_refs: bool,
        referrer: &str,
    ) -> Result<Unparsed, ApiError> {
        let format = match input.schema_type.as_deref() {
            None | Some("") => SchemaFormat::Avro,
            Some(t) => SchemaFormat::from_str(t).map_err(|e| ApiError::InvalidSchema(e.message))?,
        };
        let text = input.schema.clone().unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ApiError::InvalidSchema("Empty schema".to_string()));
        }
        let mut references = Vec::with_capacity(input.references.len());
        for (i, r) in input.references.iter().enumerate() {
            let (Some(name), Some(subject), Some(version)) = (&r.name, &r.subject, r.version)
            else {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid reference at references[{i}]: name, subject and version are all required"
                )));
            };
            let subject = crate::context::qualify(crate::context::of(referrer), subject);
            let version = if version == -1 {
                q::latest_version(&mut *conn, &subject, false)
                    .await?
                    .ok_or_else(|| {
                        ApiError::InvalidSchema(format!(
                            "Invalid reference at references[{i}]: subject '{subject}' has no versions"
                        ))
                    })?
                    .version
            } else {
                version
            };
            references.push(SchemaReference {
                name: name.clone(),
                subject,
                version,
            });
        }
        let mut resolved = Vec::new();
        let mut seen = HashSet::new();
        resolve_closure(
            conn,
            &references,
            allow_deleted_refs,
            0,
            &mut seen,
            &mut resolved,
        )
        .await?;
        Ok(Unparsed {
            format,
            text,
            references,
            resolved,
        })
    }

    /// The second half: metadata/ruleSet validated, text parsed and canonicalised (off
    /// the async runtime, with no connection held). With `prepared`, a parse it holds
    /// for the same inputs is reused, and a new one is kept there.
    pub(super) async fn candidate(
        &self,
        unparsed: Unparsed,
        input: &SchemaInput,
        normalize: bool,
        lenient_parse: bool,
        prepared: Option<&mut Prepared>,
    ) -> Result<Candidate, ApiError> {
        let Unparsed {
            format,
            text,
            mut references,
            resolved,
        } = unparsed;
        let metadata = Metadata::from_json(input.metadata.as_ref())
            .map_err(|e| ApiError::InvalidSchema(e.0))?;
        let rule_set = RuleSet::from_json(input.rule_set.as_ref())
            .map_err(|e| ApiError::InvalidRuleSet(e.0))?;
        if let Some(rs) = &rule_set {
            rs.validate().map_err(|e| ApiError::InvalidRuleSet(e.0))?;
        }

        let parse_key = {
            let mut h = Sha256::new();
            h.update([u8::from(normalize)]);
            for part in [format.as_str(), text.as_str()].into_iter().chain(
                resolved
                    .iter()
                    .flat_map(|r| [r.name.as_str(), r.schema.as_str()]),
            ) {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
            <[u8; 32]>::from(h.finalize())
        };
        let reused = prepared
            .as_ref()
            .and_then(|p| p.parse.as_ref())
            .filter(|(key, _)| *key == parse_key)
            .map(|(_, result)| result.clone());
        // Ok(Ok(parsed)), Ok(Err(invalid schema)) or Err(too complex).
        let parsed = match reused {
            Some(result) => result.map(Ok),
            None => {
                let result = self
                    .work
                    .parse(format, text.clone(), resolved, move |p| match normalize {
                        true => p.normalized(),
                        false => p.canonical(),
                    })
                    .await
                    .map(|r| r.map(|(p, t)| (Arc::new(p), t)));
                let result = match result {
                    Err(ApiError::SchemaTooComplex(m)) => Err(m),
                    other => Ok(other?),
                };
                if let Some(p) = prepared {
                    match &result {
                        Ok(Ok(done)) => p.parse = Some((parse_key, Ok(done.clone()))),
                        Err(m) => p.parse = Some((parse_key, Err(m.clone()))),
                        Ok(Err(_)) => {}
                    }
                }
                result
            }
        };
        let (parsed, text) = match parsed {
            Ok(Ok((p, t))) => (Some(p), t),
            Err(too_complex) => return Err(ApiError::SchemaTooComplex(too_complex)),
            Ok(Err(_)) if lenient_parse => (None, text),
            Ok(Err(e)) => {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid schema: {}",
                    e.message
                )))
            }
        };
        if normalize {
            references.sort_by(|a, b| {
                (&a.name, &a.subject, a.version).cmp(&(&b.name, &b.subject, b.version))
            });
            references.dedup();
        }
        let (hash, guid) = fingerprint(&text, &references, metadata.as_ref(), rule_set.as_ref());
        Ok(Candidate {
            format,
            text,
            references,
            metadata,
            rule_set,
            hash,
            guid,
            parsed,
            parse_key,
        })
    }

    /// `POST /subjects/{s}/versions`: Confluent's register algorithm. Returns the
    /// version and its schema.
    pub async fn register(
        &self,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        self.register_as(subject, input, normalize, force, actor, "subject.register")
            .await
    }

    /// [`Registry::register`], audited as `action` when a version is created.
    async fn register_as(
        &self,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: &str,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        validate_subject(subject)?;
        let mut prepared = self.prepare(subject, &input, normalize, force).await;
        let mut w = self.store.begin_write().await?;
        let out = self
            .register_with(
                &mut w,
                subject,
                input,
                normalize,
                force,
                actor,
                Some(action),
                Some(&mut prepared),
            )
            .await?;
        let notices = w.commit().await?;
        // The new version's schema is live: the next registration's check compares
        // with it (schema rows are never removed; a permanent delete in the same
        // group may have left it without a version, so not then).
        if !notices.contains(&Notice::Schemas) {
            self.cache.put_schema(out.1.clone());
        }
        if let Some((subject, state)) = prepared.after.take() {
            self.cache.put_subject_hint(&subject, state);
        }
        Ok(out)
    }

    /// A registration's heavy work (parse, compatibility check) done ahead, outside
    /// the writers' lock, as far as it can be known there. Whatever fails here is left
    /// for the registration to meet (and report) inside its transaction.
    async fn prepare(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        force: bool,
    ) -> Prepared {
        let mut prepared = Prepared::default();
        if input
            .schema
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty())
        {
            let _ = self
                .prepare_into(subject, input, normalize, force, &mut prepared)
                .await;
        }
        prepared
    }

    async fn prepare_into(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        force: bool,
        prepared: &mut Prepared,
    ) -> Result<(), ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let keys = scope_keys(subject);
        // The state this node's last registration of the subject left, or a read: the
        // results are checked against what the transaction reads either way.
        let state = match self.cache.subject_hint(subject) {
            Some(hint) => hint,
            None => Arc::new(q::subject_state(&mut conn, &keys, subject).await?),
        };
        let mode = Self::mode_in(&keys, &state.modes);
        if is_readonly(&mode) {
            return Ok(());
        }
        let config = layered(&keys, state.configs.clone());
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(&mut conn, input, false, subject).await?;
        if mode == "IMPORT" {
            // An import is not checked: only its parse is worth doing ahead.
            drop(conn);
            self.candidate(unparsed, input, normalize, true, Some(prepared))
                .await?;
            return Ok(());
        }
        let contracted = match state.streams.is_empty() {
            true => None,
            false => crate::governance::contract_level(&mut conn, subject).await?,
        };
        let level = contracted.unwrap_or_else(|| config_level(&config));
        let live: Vec<VersionRecord> = state
            .versions
            .iter()
            .filter(|v| !v.deleted)
            .cloned()
            .collect();
        let rows = match force || level == CompatibilityLevel::None {
            true => None,
            false => {
                let group = config.get("compatibilityGroup").and_then(Value::as_str);
                let new_metadata = Metadata::from_json(input.metadata.as_ref()).ok().flatten();
                Some(
                    self.compared_rows(&mut conn, &live, level, group, new_metadata.as_ref())
                        .await?,
                )
            }
        };
        // Everything is read: the parse and the check hold no connection.
        drop(conn);
        let cand = self
            .candidate(unparsed, input, normalize, false, Some(prepared))
            .await?;
        let (Some(new), Some(rows)) = (cand.parsed.clone(), rows) else {
            return Ok(());
        };
        // Registering the schema of a compared version again is answered without a
        // check (as long as the latest is compared, the usual case is caught).
        if rows
            .iter()
            .any(|(_, row, _)| row.schema == cand.text && row.references == cand.references)
        {
            return Ok(());
        }
        let compared = self.parse_compared(rows).await?;
        self.check_parsed(&cand, &new, compared, level, Some(prepared))
            .await?;
        Ok(())
    }

    /// [`Registry::register`] inside the caller's write transaction `w`, which the caller
    /// commits (with [`Registry::commit_write`]). Audited as `action` when a version is
    /// created; `None` leaves the audit entry to the caller (one mutation, one entry).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn register_in(
        &self,
        w: &mut WriteTx,
        subject: &str,
        input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: Option<&str>,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        self.register_with(w, subject, input, normalize, force, actor, action, None)
            .await
    }

    /// [`Registry::register_in`], reusing what `prepared` holds for the same inputs.
    #[allow(clippy::too_many_arguments)]
    async fn register_with(
        &self,
        w: &mut WriteTx,
        subject: &str,
        mut input: SchemaInput,
        normalize: bool,
        force: bool,
        actor: &str,
        action: Option<&str>,
        mut prepared: Option<&mut Prepared>,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        validate_subject(subject)?;
        let conn: &mut sqlx::AnyConnection = &mut w.tx;
        // A subject whose own config names an alias registers under the alias target,
        // checked against the target's versions, as Confluent's alias filter rewrites
        // every `/subjects/{alias}` request.
        let keys = scope_keys(subject);
        let mut state = q::subject_state(conn, &keys, subject).await?;
        let aliased = state
            .configs
            .iter()
            .find(|(k, _)| k == subject)
            .map(|(_, c)| c)
            .and_then(|c| c.get("alias"))
            .and_then(Value::as_str)
            .map(|a| crate::context::qualify(crate::context::of(subject), a))
            .filter(|a| !a.is_empty() && a != subject);
        let subject = match &aliased {
            Some(target) => {
                validate_subject(target)?;
                target.as_str()
            }
            None => subject,
        };
        // The alias target's state (read again only when there is one).
        let keys = match &aliased {
            Some(_) => {
                let keys = scope_keys(subject);
                state = q::subject_state(conn, &keys, subject).await?;
                keys
            }
            None => keys,
        };
        let crate::storage::SubjectState {
            configs: rows,
            modes,
            versions: all,
            streams,
        } = state;
        // What the next registration's hint is made of (kept only with `prepared`).
        let hint_parts: Option<HintParts> = prepared
            .is_some()
            .then(|| (rows.clone(), modes.clone(), streams.clone()));
        let mode = Self::mode_in(&keys, &modes);
        if is_readonly(&mode) {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {} is in read-only mode",
                crate::context::of(subject)
            )));
        }
        let import = mode == "IMPORT";
        let context = crate::context::of(subject).to_string();
        let config = layered(&keys, rows);
        let context_no = crate::context::ensure(conn, &context).await?;
        // Every version of the subject (`all`, read with the settings above), soft-deleted
        // ones too: the latest, the live ones and the highest number come from it.
        let latest = all.iter().rev().find(|v| !v.deleted).cloned();
        // Schemas never change: the node's cache answers for most.
        let latest_schema = match &latest {
            Some(v) => match self.cache.schema(v.schema_id) {
                Some(row) => Some(SchemaRecord::clone(&row)),
                None => q::schema_row(&mut *conn, v.schema_id).await?,
            },
            None => None,
        };

        // A request without a schema re-uses the latest one (metadata/rules-only
        // versions); without metadata or ruleSet, it inherits the latest's (§7.3).
        if input.schema.as_deref().is_none_or(|s| s.trim().is_empty()) {
            if let Some(prev) = &latest_schema {
                input.schema = Some(prev.schema.clone());
                input.schema_type = Some(prev.format.as_str().to_string());
                input.references = prev
                    .references
                    .iter()
                    .map(|r| ReferenceInput {
                        name: Some(r.name.clone()),
                        subject: Some(r.subject.clone()),
                        version: Some(r.version),
                    })
                    .collect();
            }
        }
        // The stream contract of this subject's streams (read above; most subjects have
        // none); imports skip it.
        let contract = match import || streams.is_empty() {
            true => None,
            false => crate::governance::subject_contract(conn, subject).await?,
        };
        if !import {
            if let Some(prev) = &latest_schema {
                if input.metadata.is_none() {
                    input.metadata = prev.metadata.clone();
                }
                if input.rule_set.is_none() {
                    input.rule_set = prev.rule_set.clone();
                }
            }
            input.metadata = merge_layers::<Metadata>(
                config.get("defaultMetadata"),
                input.metadata.as_ref(),
                config.get("overrideMetadata"),
                |a, b| a.merge(b),
            )?;
            input.rule_set = merge_layers::<RuleSet>(
                config.get("defaultRuleSet"),
                input.rule_set.as_ref(),
                config.get("overrideRuleSet"),
                |a, b| a.merge(b),
            )?;
            // A stream contract's data-quality rules override like `overrideRuleSet`.
            if let Some(rules) = contract
                .as_ref()
                .map(|c| c.rule_set())
                .transpose()?
                .flatten()
            {
                input.rule_set = merge_layers::<RuleSet>(
                    None,
                    input.rule_set.as_ref(),
                    Some(&rules),
                    |a, b| a.merge(b),
                )?;
            }
        }
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(conn, &input, false, subject).await?;
        let cand = self
            .candidate(unparsed, &input, normalize, import, prepared.as_deref_mut())
            .await?;

        // The stream-owner rule comes before any answer: the fast path below would tell
        // another team a restricted stream's ids and versions (an existence oracle).
        crate::governance::check_subject_owner_of(conn, actor, subject, &streams).await?;
        // Fast path: the same schema is already a live version of this subject. The
        // same statement finds the id the schema has (or the next one) for below.
        let wanted_id = input.id.map(|i| crate::context::stored_id(context_no, i));
        let lookup =
            q::schema_lookup(&mut *conn, &cand.hash, context_no, subject, wanted_id).await?;
        if let Some(v) = lookup
            .live_version
            .and_then(|n| all.iter().find(|v| v.version == n))
            .cloned()
        {
            let s = match self.cache.schema(v.schema_id) {
                Some(s) => s,
                None => Arc::new(q::schema_row(&mut *conn, v.schema_id).await?.ok_or_else(
                    || ApiError::internal(anyhow::anyhow!("version points at missing schema")),
                )?),
            };
            if let (Some(p), Some(parts)) = (prepared, hint_parts) {
                p.after = Some(hint(subject, parts, all));
            }
            return Ok((v, s));
        }
        // A new schema meets Accord's stricter checks only where asked: the subject's
        // (or its context's, or the global) `accordStrictSchemas`, and Avro defaults
        // under `normalize`, which Confluent validates then (its parser's
        // validateDefaults follows normalize).
        if let (false, Some(parsed)) = (import, cand.parsed.as_deref()) {
            strict_check(parsed, config_bool(&config, STRICT_SCHEMAS), normalize)?;
        }
        // The stream's contract, if any (and valid CEL rules in every case).
        let contract_level = if import {
            // Imports skip the contract, not the stream-owner rule (checked above).
            None
        } else {
            crate::governance::registration_policy(
                conn,
                actor,
                subject,
                contract.as_ref(),
                input.schema.as_deref(),
                cand.parsed.as_deref(),
                cand.rule_set.as_ref(),
            )
            .await?
        };
        let live: Vec<VersionRecord> = all.iter().filter(|v| !v.deleted).cloned().collect();

        if input.id.is_some() && !import && mode != "FORWARD" {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {context} is not in import mode"
            )));
        }
        if input.id.is_none() && import {
            return Err(ApiError::OperationNotPermitted(format!(
                "Subject {subject} in context {context} is in import mode: a registration must give the schema's id"
            )));
        }

        // The id: explicit (IMPORT), the one this schema already has in the subject's
        // context, or the context's next one. Ids are per context (`crate::context`).
        let (id, existing_row) = match input.id {
            Some(id) if id < 1 || id > i32::MAX as i64 => {
                return Err(ApiError::InvalidSchema(format!(
                    "Invalid id {id}: ids are between 1 and 2^31-1"
                )))
            }
            Some(public) => {
                let id = crate::context::stored_id(context_no, public);
                match q::schema_row(&mut *conn, id).await? {
                    Some(row) if row.hash != cand.hash => {
                        return Err(ApiError::OperationNotPermitted(format!(
                            "Overwrite new schema with id {public} in context {context} is not permitted."
                        )))
                    }
                    Some(row) => (id, Some(row)),
                    None => (id, None),
                }
            }
            None => match lookup {
                crate::storage::SchemaLookup { id: Some(id), .. } => match self.cache.schema(id) {
                    Some(row) => (id, Some(SchemaRecord::clone(&row))),
                    None => (id, q::schema_row(&mut *conn, id).await?),
                },
                crate::storage::SchemaLookup { max_id, .. } => {
                    let next = max_id + 1;
                    if crate::context::public_id(next) == 0 {
                        return Err(ApiError::InvalidSchema(format!(
                            "Context {context} has used every schema id"
                        )));
                    }
                    (next, None)
                }
            },
        };

        // Compatibility with the live versions, at the effective level (the contract's
        // when the subject belongs to a stream with one).
        let level = contract_level.unwrap_or_else(|| config_level(&config));
        if !import && !force && level != CompatibilityLevel::None {
            if let Some(new) = &cand.parsed {
                let group = config.get("compatibilityGroup").and_then(Value::as_str);
                let (report, olds) = self
                    .check_against(
                        conn,
                        &cand,
                        new,
                        &live,
                        level,
                        group,
                        prepared.as_deref_mut(),
                    )
                    .await?;
                if !report.is_compatible() {
                    return Err(ApiError::Incompatible {
                        subject: subject.to_string(),
                        details: confluent_details(
                            &report,
                            level,
                            &olds,
                            config_bool(&config, "validateFields"),
                        ),
                    });
                }
            }
        }

        let max_version = all.last().map_or(0, |v| v.version);
        let version = match input.version {
            Some(v) if import => {
                if v < 1 || v > i32::MAX as i64 {
                    return Err(ApiError::InvalidSchema(format!("Invalid version {v}")));
                }
                if let Some(existing) = all.iter().find(|o| o.version == v) {
                    if existing.schema_id != id {
                        return Err(ApiError::OperationNotPermitted(format!(
                            "Version {v} of subject {subject} already exists with another schema"
                        )));
                    }
                }
                v
            }
            // Confluent's words (42201); the next version is max + 1.
            Some(v) if v != 0 && v != max_version + 1 => {
                return Err(ApiError::InvalidSchema(
                    "Version is not one more than previous version".to_string(),
                ))
            }
            _ => max_version + 1,
        };

        // Re-registering a schema whose versions here were soft-deleted: those older
        // soft-deleted versions go (unless something references them).
        let mut removed = Vec::new();
        for old in &all {
            if old.deleted
                && old.schema_id == id
                && q::referrers(&mut *conn, subject, old.version, true, None)
                    .await?
                    .is_empty()
            {
                q::delete_version(&mut *conn, subject, old.version).await?;
                removed.push(old.version);
            }
        }

        let now = now_ms();
        let new_schema = existing_row.is_none();
        let record = match existing_row {
            Some(row) => row,
            None => {
                let row = SchemaRecord {
                    id,
                    guid: cand.guid.clone(),
                    hash: cand.hash.clone(),
                    format: cand.format,
                    schema: cand.text.clone(),
                    references: cand.references.clone(),
                    metadata: cand
                        .metadata
                        .as_ref()
                        .and_then(|m| serde_json::to_value(m).ok()),
                    rule_set: cand
                        .rule_set
                        .as_ref()
                        .and_then(|r| serde_json::to_value(r).ok()),
                    created_ms: now,
                };
                row
            }
        };
        let vrec = VersionRecord {
            subject: subject.to_string(),
            version,
            schema_id: id,
            deleted: false,
            ts: now,
        };
        let exists = all
            .iter()
            .any(|o| o.version == version && !removed.contains(&o.version));
        match (new_schema, exists) {
            (true, false) => q::insert_schema_and_version(&mut *conn, &record, &vrec).await?,
            (true, true) => q::insert_schema(&mut *conn, &record).await?,
            (false, false) => q::insert_version(&mut *conn, &vrec).await?,
            (false, true) => {}
        }
        if new_schema {
            for r in &record.references {
                q::insert_ref(&mut *conn, id, r).await?;
            }
        }
        if let Some(action) = action {
            let before = latest.as_ref().map(version_state);
            audit::append(
                w,
                actor,
                action,
                &format!("subject:{subject}"),
                before.as_ref(),
                Some(&version_state(&vrec)),
            )
            .await?;
        }
        let stream_names: Vec<&str> = streams.iter().map(|(n, _)| n.as_str()).collect();
        // The new version is the subject's latest unless an import put it below one.
        let is_latest = live.iter().all(|v| v.version < version);
        crate::outbox::emit_schema_registered_in(
            w,
            subject,
            vrec.version,
            vrec.schema_id,
            &stream_names,
            is_latest.then_some((&record, cand.parsed.as_deref())),
        )
        .await?;
        w.notify(Notice::Subject(subject.to_string()));
        if let (Some(p), Some(parts)) = (prepared, hint_parts) {
            let mut versions: Vec<VersionRecord> = all
                .into_iter()
                .filter(|o| !removed.contains(&o.version))
                .collect();
            if !exists {
                versions.push(vrec.clone());
                versions.sort_by_key(|v| v.version);
            }
            p.after = Some(hint(subject, parts, versions));
        }
        Ok((vrec, Arc::new(record)))
    }

    /// `POST /subjects/{s}/versions/{v}/tags`: a new version of the subject from version
    /// `v` with its schema tags, metadata or rules changed. Registered like any version
    /// (compatibility included), so it is one transaction too. The caller must read
    /// the subject (and an alias's target) before anything is answered; the owner rule
    /// comes before the registration's answer, even for an edit that changes nothing.
    pub async fn modify_tags(
        &self,
        subject: &str,
        sel: VersionSel,
        edit: &TagsInput,
        actor: &Actor,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        crate::governance::check_subject_read(&self.store, actor, subject).await?;
        if edit.rule_set.is_some()
            && (edit.rules_to_merge.is_some() || !edit.rules_to_remove.is_empty())
        {
            return Err(ApiError::InvalidRuleSet(
                "ruleSet cannot be given together with rulesToMerge or rulesToRemove".to_string(),
            ));
        }
        let base = self.get_version(subject, sel, false, actor).await?;
        let schema = self.schema_of(&base).await?;
        if let Some(n) = edit.new_version {
            let expected = q::max_version(self.store.reader(), subject).await? + 1;
            if n != expected {
                return Err(ApiError::VersionConflict(format!(
                    "newVersion {n} is not the next version of subject {subject}: expected {expected}"
                )));
            }
        }
        let text = if edit.tags_to_add.is_empty() && edit.tags_to_remove.is_empty() {
            schema.schema.clone()
        } else if schema.format == SchemaFormat::Avro {
            let (text, add, remove) = (
                schema.schema.clone(),
                edit.tags_to_add.clone(),
                edit.tags_to_remove.clone(),
            );
            self.work
                .sized("editing the schema's tags", text.len(), move || {
                    accord_compat::avro::edit_tags(&text, &add, &remove)
                })
                .await?
                .map_err(|e| ApiError::InvalidSchema(e.message))?
        } else {
            return Err(ApiError::InvalidSchema(format!(
                "Editing inline tags of {} schemas is not supported yet; tag fields through metadata.tags",
                schema.format
            )));
        };
        let mut rule_set = match &edit.rule_set {
            Some(v) => RuleSet::from_json(Some(v)).map_err(|e| ApiError::InvalidRuleSet(e.0))?,
            None => RuleSet::from_json(schema.rule_set.as_ref())
                .map_err(|e| ApiError::InvalidRuleSet(e.0))?,
        };
        if let Some(merge) = &edit.rules_to_merge {
            let merge =
                RuleSet::from_json(Some(merge)).map_err(|e| ApiError::InvalidRuleSet(e.0))?;
            if let Some(merge) = merge {
                rule_set = Some(rule_set.unwrap_or_default().merge(&merge));
            }
        }
        if !edit.rules_to_remove.is_empty() {
            if let Some(rs) = &mut rule_set {
                for list in [
                    &mut rs.migration_rules,
                    &mut rs.domain_rules,
                    &mut rs.encoding_rules,
                ] {
                    list.retain(|r| {
                        r.name
                            .as_ref()
                            .is_none_or(|n| !edit.rules_to_remove.contains(n))
                    });
                }
            }
        }
        let input = SchemaInput {
            schema: Some(text),
            schema_type: Some(schema.format.as_str().to_string()),
            references: schema
                .references
                .iter()
                .map(|r| ReferenceInput {
                    name: Some(r.name.clone()),
                    subject: Some(r.subject.clone()),
                    version: Some(r.version),
                })
                .collect(),
            metadata: Some(
                edit.metadata
                    .clone()
                    .or_else(|| schema.metadata.clone())
                    .unwrap_or(Value::Null),
            ),
            rule_set: Some(
                rule_set
                    .filter(|r| !r.is_empty())
                    .map(|r| serde_json::to_value(r).map_err(ApiError::internal))
                    .transpose()?
                    .unwrap_or(Value::Null),
            ),
            version: edit.new_version,
            id: None,
        };
        self.register_as(subject, input, false, false, actor.name(), "subject.tags")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Caches;
    use std::time::Duration;

    fn avro(fields: &str) -> SchemaInput {
        SchemaInput {
            schema: Some(format!(
                r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
            )),
            ..SchemaInput::default()
        }
    }

    /// The state kept from a subject's last registration is only a hint for the work
    /// done ahead of the writers' lock: a registration that meets a stale one is still
    /// checked against the versions its transaction reads (SQLite, and PostgreSQL when
    /// `ACCORD_TEST_POSTGRES_URL` is set).
    #[tokio::test]
    async fn a_stale_subject_hint_is_checked_again_in_the_transaction() {
        let urls = crate::storage::test_database_urls("stale-hint");
        for url in urls {
            let store = Store::connect(&url).await.expect("store");
            let registry = Registry::new(store, Caches::new(1000, Duration::from_secs(1)));
            let subject = format!("hint-{}-{}", std::process::id(), now_ms());
            let a = r#"{"name":"a","type":"int"}"#;
            let v1 = avro(a);
            let v2 = avro(&format!(
                r#"{a},{{"name":"b","type":"string","default":""}}"#
            ));
            // Compatible with version 1, not with version 2 (b changes type).
            let v3 = avro(&format!(r#"{a},{{"name":"b","type":"int","default":0}}"#));
            let (first, _) = registry
                .register(&subject, v1, false, false, "t")
                .await
                .expect("version 1");
            assert_eq!(first.version, 1);
            let stale = registry
                .cache
                .subject_hint(&subject)
                .expect("a hint is kept");
            assert_eq!(stale.versions.len(), 1);
            registry
                .register(&subject, v2.clone(), false, false, "t")
                .await
                .expect("version 2");
            assert_eq!(
                registry
                    .cache
                    .subject_hint(&subject)
                    .map(|h| h.versions.len()),
                Some(2),
                "the hint follows the registration"
            );
            // As if another node's version 2 had not reached this node yet.
            registry.cache.apply(&Notice::Subject(subject.clone()));
            registry.cache.put_subject_hint(&subject, (*stale).clone());
            match registry.register(&subject, v3, false, false, "t").await {
                Err(ApiError::Incompatible { .. }) => {}
                other => panic!("{url}: expected 409 against version 2, got {other:?}"),
            }
            // The same schema as version 2 is version 2, whatever the hint says.
            registry.cache.put_subject_hint(&subject, (*stale).clone());
            let (again, _) = registry
                .register(&subject, v2, false, false, "t")
                .await
                .expect("version 2 again");
            assert_eq!(again.version, 2);
            let live = q::versions(registry.store.reader(), &subject, false)
                .await
                .expect("versions");
            assert_eq!(live.len(), 2, "{url}: nothing else was stored");
        }
    }
}
