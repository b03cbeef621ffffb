//! The reading paths: schemas by id, versions by subject, latest, aliases, lookups, and
//! the parsed forms of stored schemas, each through the node's caches ([`crate::cache`]);
//! plus the read checks a restricted stream's schemas need.

use super::*;
use std::collections::HashMap;

impl Registry {
    /// A live schema by id (some version, soft-deleted or not, still points at it).
    pub async fn schema_by_id(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        let s = self.read_live_schema(id).await?;
        self.cache.put_schema(s.clone());
        Ok(s)
    }

    /// A live schema by id from the database (40403 when there is none).
    async fn read_live_schema(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        Ok(Arc::new(
            q::live_schema(self.store.reader(), id)
                .await?
                .ok_or_else(|| ApiError::SchemaNotFound(id.to_string()))?,
        ))
    }

    /// [`Registry::schema_by_id`] for an answer whose serialised body the caller caches
    /// itself (`GET /schemas/ids/{id}`): a miss is read without filling the record cache
    /// too, so a read of every id once holds each schema once, not twice.
    pub async fn schema_by_id_for_body(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        self.read_live_schema(id).await
    }

    /// The subject versions holding schema `id` and their restricted streams, cached
    /// per id (see [`crate::cache`]).
    pub async fn id_holders(
        &self,
        id: i64,
    ) -> Result<Arc<Vec<crate::governance::IdHolder>>, ApiError> {
        if let Some(h) = self.cache.holders(id) {
            return Ok(h);
        }
        let (gen, at) = (self.cache.holders_generation(), Instant::now());
        let h = Arc::new(crate::governance::id_holders(&self.store, id).await?);
        self.cache.put_holders(id, h.clone(), at, gen);
        Ok(h)
    }

    /// The read rule for schema `id` ([`crate::governance::check_holders_read`]): no
    /// work at all with auth off or for an admin, one cache lookup for an id no
    /// restricted stream holds, and [`crate::governance::check_subject_read`] on the
    /// restricted holders otherwise.
    pub async fn check_id_read(&self, actor: &Actor, id: i64) -> Result<(), ApiError> {
        if crate::governance::reads_everything(actor) {
            return Ok(());
        }
        let holders = self.id_holders(id).await?;
        crate::governance::check_holders_read(&self.store, actor, &format!("schema {id}"), &holders)
            .await
    }

    /// The subjects a schema's `refs` reach (their closure), each checked with
    /// [`crate::governance::check_subject_read`]: what a `format=resolved` answer
    /// inlines must be readable by `actor` too. Nothing is read for those who read
    /// everything.
    pub async fn check_references_read(
        &self,
        actor: &Actor,
        refs: &[SchemaReference],
    ) -> Result<(), ApiError> {
        if crate::governance::reads_everything(actor) || refs.is_empty() {
            return Ok(());
        }
        let mut todo: Vec<SchemaReference> = refs.to_vec();
        let mut seen = HashSet::new();
        while let Some(r) = todo.pop() {
            // Each (subject, version) once: cycles end, and nothing is left unchecked.
            if !seen.insert((r.subject.clone(), r.version)) {
                continue;
            }
            crate::governance::check_subject_read(&self.store, actor, &r.subject).await?;
            if let Some(v) = q::version(self.store.reader(), &r.subject, r.version).await? {
                let row = self.schema_row(v.schema_id).await?;
                todo.extend(row.references.iter().cloned());
            }
        }
        Ok(())
    }

    /// The schemas of a listing of many versions (`GET /schemas`), by id: served from
    /// the record cache when there, the others read together (not one query each) and
    /// without filling the cache, so one listing of every schema does not hold them all
    /// in memory afterwards.
    pub async fn schemas_of_listed(
        &self,
        versions: &[VersionRecord],
    ) -> Result<HashMap<i64, Arc<SchemaRecord>>, ApiError> {
        let mut found = HashMap::with_capacity(versions.len());
        let mut missing = Vec::new();
        for v in versions {
            if found.contains_key(&v.schema_id) {
                continue;
            }
            match self.cache.schema(v.schema_id) {
                Some(s) => {
                    found.insert(v.schema_id, s);
                }
                None => missing.push(v.schema_id),
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let mut conn = self.store.reader().acquire().await?;
            for row in q::schema_rows(&mut conn, &missing).await? {
                found.insert(row.id, Arc::new(row));
            }
        }
        Ok(found)
    }

    /// A schema row by id, for versions known to exist (no liveness check); a miss is
    /// not cached (the row may belong to soft-deleted versions only).
    async fn schema_row(&self, id: i64) -> Result<Arc<SchemaRecord>, ApiError> {
        if let Some(s) = self.cache.schema(id) {
            return Ok(s);
        }
        let s = q::schema_row(self.store.reader(), id)
            .await?
            .ok_or_else(|| ApiError::SchemaNotFound(id.to_string()))?;
        Ok(Arc::new(s))
    }

    /// The latest non-deleted version of a subject, cached for a short TTL.
    /// Concurrent misses on one subject share one read (single flight): the first
    /// reads while the others wait on its shard's lock, then find the entry it stored.
    /// An entry past half its TTL is answered while one background read refreshes it,
    /// so a subject read often is not read on the request path at all.
    pub async fn latest(&self, subject: &str) -> Result<Option<VersionRecord>, ApiError> {
        if let Some(v) = self.latest_cached(subject) {
            return Ok(v);
        }
        let _flight = match self.cache.latest_flight(subject) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        if let Some((v, _)) = self.cache.latest(subject) {
            return Ok(v);
        }
        let (at, gen) = (Instant::now(), self.cache.latest_generation());
        let v = q::latest_version(self.store.reader(), subject, false).await?;
        self.cache.put_latest(subject, v.clone(), at, gen);
        Ok(v)
    }

    /// `subject`'s latest version if the cache holds a fresh one (`Some(None)`: it has
    /// none), refreshed in the background once half its TTL has passed; what
    /// [`Registry::latest`] answers without the database.
    pub fn latest_cached(&self, subject: &str) -> Option<Option<VersionRecord>> {
        let (v, due) = self.cache.latest(subject)?;
        if due {
            self.refresh_latest(subject);
        }
        Some(v)
    }

    /// Refreshes `subject`'s latest version in the background, for [`Registry::latest`]'s
    /// refresh ahead of expiry: queued, and read with the other subjects that come due
    /// within [`Caches::refresh_window`] in statements of up to [`q::LATEST_BATCH`]
    /// (bounded like any read). A failed read stores nothing; the entry then expires
    /// and the next request reads it.
    fn refresh_latest(&self, subject: &str) {
        if !self.cache.queue_refresh(subject) {
            return;
        }
        let (cache, store) = (self.cache.clone(), self.store.clone());
        tokio::spawn(async move {
            tokio::time::sleep(cache.refresh_window()).await;
            loop {
                let batch = cache.take_refreshes(q::LATEST_BATCH);
                if batch.is_empty() {
                    break;
                }
                let (at, gen) = (Instant::now(), cache.latest_generation());
                match q::latest_versions(store.reader(), &batch).await {
                    Ok(found) => {
                        let mut found: HashMap<String, VersionRecord> =
                            found.into_iter().map(|v| (v.subject.clone(), v)).collect();
                        for subject in &batch {
                            cache.put_latest(subject, found.remove(subject), at, gen);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "refreshing latest versions failed");
                        for subject in &batch {
                            cache.end_refresh(subject);
                        }
                    }
                }
            }
        });
    }

    /// Resolves `{subject}/versions/{version}` for reads: 40401 when the subject has no
    /// (visible) versions, 40402 when the version is not there. An alias is followed
    /// only once `reader` is found to read its target (the caller checked `subject`).
    pub async fn get_version(
        &self,
        subject: &str,
        sel: VersionSel,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<VersionRecord, ApiError> {
        let found = match sel {
            VersionSel::Latest if !include_deleted => self.latest(subject).await?,
            VersionSel::Latest => q::latest_version(self.store.reader(), subject, true).await?,
            VersionSel::Number(n) => q::version(self.store.reader(), subject, n)
                .await?
                .filter(|v| include_deleted || !v.deleted),
        };
        if let Some(v) = found {
            return Ok(v);
        }
        if q::latest_version(self.store.reader(), subject, include_deleted)
            .await?
            .is_none()
        {
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return Box::pin(self.get_version(&target, sel, include_deleted, reader)).await;
            }
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        Err(ApiError::VersionNotFound(match sel {
            VersionSel::Latest => "latest".to_string(),
            VersionSel::Number(n) => n.to_string(),
        }))
    }

    /// The subject a subject's `alias` config points reads at (Confluent's subject
    /// aliases), consulted only when the subject itself has no versions, so the hot
    /// read paths pay nothing for it. One level deep: an alias of an alias is not followed.
    /// Whoever follows it checks the reader against the target first (the read
    /// restriction is the target's, not the alias's).
    pub async fn alias_of(&self, subject: &str) -> Result<Option<String>, ApiError> {
        let own = q::config(self.store.reader(), subject).await?;
        Ok(own
            .as_ref()
            .and_then(|c| c.get("alias"))
            .and_then(Value::as_str)
            .map(unqualify)
            .filter(|a| !a.is_empty() && *a != subject)
            .map(str::to_string))
    }

    /// A subject's versions for listing, following an alias when it has none (and
    /// `reader` may read its target).
    pub async fn versions_for_read(
        &self,
        subject: &str,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<Vec<VersionRecord>, ApiError> {
        let versions = q::versions(self.store.reader(), subject, include_deleted).await?;
        if versions.is_empty() {
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return q::versions(self.store.reader(), &target, include_deleted).await;
            }
        }
        Ok(versions)
    }

    pub async fn schema_of(&self, v: &VersionRecord) -> Result<Arc<SchemaRecord>, ApiError> {
        match v.deleted {
            // A live version's schema is live: read through the record cache (the
            // version and latest reads would otherwise read it from the database each
            // time, as `GET /schemas/ids` no longer fills that cache).
            false => self.schema_by_id(v.schema_id).await,
            true => self.schema_row(v.schema_id).await,
        }
    }

    /// The parsed form of a stored schema, cached by id (ids are immutable).
    pub async fn parsed(&self, record: &SchemaRecord) -> Result<Arc<ParsedSchema>, ApiError> {
        if let Some(p) = self.cache.parsed(record.id) {
            return Ok(p);
        }
        // The connection only resolves the references: it is given back before the parse.
        let refs = {
            let mut conn = self.store.reader().acquire().await?;
            Self::stored_refs(&mut conn, record).await?
        };
        self.parse_stored(record, refs).await
    }

    /// The references of a stored schema, resolved (the transitive closure), on a given
    /// connection: inside a write transaction nothing may wait for a second connection
    /// (a writer holding the lock would wait on writers that hold the pool).
    pub(super) async fn stored_refs(
        conn: &mut sqlx::AnyConnection,
        record: &SchemaRecord,
    ) -> Result<Vec<Reference>, ApiError> {
        let mut refs = Vec::new();
        let mut seen = HashSet::new();
        resolve_closure(conn, &record.references, true, 0, &mut seen, &mut refs).await?;
        Ok(refs)
    }

    /// Parses a stored schema with its resolved references (off the async runtime), and
    /// caches it by id.
    pub(super) async fn parse_stored(
        &self,
        record: &SchemaRecord,
        refs: Vec<Reference>,
    ) -> Result<Arc<ParsedSchema>, ApiError> {
        // Only a schema stored in IMPORT mode (where validation is skipped) can fail here.
        let (parsed, ()) = self
            .work
            .parse(record.format, record.schema.clone(), refs, |_| ())
            .await?
            .map_err(|e| {
                ApiError::InvalidSchema(format!(
                    "Stored schema {} (imported unvalidated) cannot be parsed: {e}",
                    record.id
                ))
            })?;
        let parsed = Arc::new(parsed);
        self.cache.put_parsed(record.id, parsed.clone());
        Ok(parsed)
    }

    /// `POST /subjects/{s}`: the version of this subject that holds this schema. An
    /// alias is followed only once `reader` is found to read its target.
    pub async fn lookup(
        &self,
        subject: &str,
        input: &SchemaInput,
        normalize: bool,
        include_deleted: bool,
        reader: &Actor,
    ) -> Result<(VersionRecord, Arc<SchemaRecord>), ApiError> {
        let mut conn = self.store.reader().acquire().await?;
        let versions = q::versions(&mut *conn, subject, include_deleted).await?;
        if versions.is_empty() {
            drop(conn);
            if let Some(target) = self.alias_of(subject).await? {
                crate::governance::check_subject_read(&self.store, reader, &target).await?;
                return Box::pin(self.lookup(&target, input, normalize, include_deleted, reader))
                    .await;
            }
            return Err(ApiError::SubjectNotFound(subject.to_string()));
        }
        let config = self.effective_config(self.store.reader(), subject).await?;
        let normalize = normalize || config_bool(&config, "normalize");
        let unparsed = Self::unparsed(&mut conn, input, true, subject).await?;
        drop(conn);
        let cand = self
            .candidate(unparsed, input, normalize, false, None)
            .await?;
        let mut loose = None;
        for v in versions.iter().rev() {
            let row = self.schema_row(v.schema_id).await?;
            if row.hash == cand.hash {
                return Ok((v.clone(), row));
            }
            // A request without metadata/ruleSet still finds a version that carries
            // them (Confluent's looser lookup).
            if loose.is_none()
                && input.metadata.is_none()
                && input.rule_set.is_none()
                && row.schema == cand.text
                && row.references == cand.references
            {
                loose = Some((v.clone(), row));
            }
        }
        loose.ok_or(ApiError::SchemaNotFoundUnderSubject)
    }
}
