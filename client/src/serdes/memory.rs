//! [`MemorySource`]: a [`SchemaSource`] over an in-memory map, for byte-level tests,
//! benchmarks, fuzzing and offline unit tests of code that uses the serializers
//! (Confluent ships the same thing as `MockSchemaRegistryClient`).
//!
//! It is not a registry: schema texts are compared as given (no canonical form, no
//! normalization), there is no compatibility checking, and GUIDs are random unless given.
//! Tests of registry behaviour use a real server.

use crate::error::{ClientError, Result};
use crate::types::{RegisteredSchema, SchemaSource, SchemaSpec};
use accord_compat::SchemaFormat;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct State {
    by_id: HashMap<i32, Arc<RegisteredSchema>>,
    by_guid: HashMap<String, i32>,
    /// Subject → schema ids by version (version = index + 1).
    subjects: HashMap<String, Vec<i32>>,
}

/// An in-memory schema source. Every call is counted ([`MemorySource::calls`]), so tests
/// can prove a warm serializer no longer asks.
#[derive(Default)]
pub struct MemorySource {
    state: Mutex<State>,
    calls: AtomicUsize,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `schema` under its own id (and GUID, when set) as the next version of
    /// `subject`; returns it as stored (with subject and version filled in).
    pub fn insert(&self, subject: &str, mut schema: RegisteredSchema) -> Arc<RegisteredSchema> {
        let mut st = self.state();
        let versions = st.subjects.entry(subject.to_owned()).or_default();
        versions.push(schema.id);
        schema.subject = Some(subject.to_owned());
        schema.version = i32::try_from(versions.len()).ok();
        let schema = Arc::new(schema);
        if let Some(g) = &schema.guid {
            st.by_guid.insert(g.to_ascii_lowercase(), schema.id);
        }
        st.by_id.insert(schema.id, schema.clone());
        schema
    }

    /// How many [`SchemaSource`] calls were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn same(a: &RegisteredSchema, spec: &SchemaSpec) -> bool {
        a.schema == spec.schema
            && a.references == spec.references
            && spec.format.unwrap_or(SchemaFormat::Avro) == a.format
            && (spec.metadata.is_none() || spec.metadata == a.metadata)
            && (spec.rule_set.is_none() || spec.rule_set == a.rule_set)
    }

    fn versioned(st: &State, subject: &str, version: usize) -> Option<Arc<RegisteredSchema>> {
        let id = *st.subjects.get(subject)?.get(version.checked_sub(1)?)?;
        let s = st.by_id.get(&id)?;
        let mut s = (**s).clone();
        s.subject = Some(subject.to_owned());
        s.version = i32::try_from(version).ok();
        Some(Arc::new(s))
    }
}

fn not_found(code: i64, what: String) -> ClientError {
    ClientError::Registry {
        status: 404,
        error_code: code,
        message: what,
    }
}

impl SchemaSource for MemorySource {
    async fn schema_by_id(&self, id: i32) -> Result<Arc<RegisteredSchema>> {
        self.count();
        self.state()
            .by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(40403, format!("Schema {id} not found")))
    }

    async fn schema_by_guid(&self, guid: &str) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let st = self.state();
        st.by_guid
            .get(&guid.to_ascii_lowercase())
            .and_then(|id| st.by_id.get(id))
            .cloned()
            .ok_or_else(|| not_found(40403, format!("Schema {guid} not found")))
    }

    async fn register(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        _normalize: bool,
    ) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let mut st = self.state();
        if let Some(versions) = st.subjects.get(subject) {
            for (i, id) in versions.iter().enumerate() {
                if let Some(s) = st.by_id.get(id) {
                    if Self::same(s, spec) {
                        if let Some(found) = Self::versioned(&st, subject, i + 1) {
                            return Ok(found);
                        }
                    }
                }
            }
        }
        let existing = st
            .by_id
            .values()
            .find(|s| Self::same(s, spec))
            .map(|s| (s.id, s.guid.clone()));
        let (id, guid) = match existing {
            Some(e) => e,
            None => {
                let id = st.by_id.keys().copied().max().unwrap_or(0) + 1;
                (id, Some(uuid::Uuid::new_v4().to_string()))
            }
        };
        let stored = RegisteredSchema {
            id,
            guid: guid.clone(),
            format: spec.format.unwrap_or(SchemaFormat::Avro),
            schema: spec.schema.clone(),
            references: spec.references.clone(),
            metadata: spec.metadata.clone(),
            rule_set: spec.rule_set.clone(),
            subject: None,
            version: None,
        };
        st.by_id.entry(id).or_insert_with(|| Arc::new(stored));
        if let Some(g) = guid {
            st.by_guid.insert(g.to_ascii_lowercase(), id);
        }
        let versions = st.subjects.entry(subject.to_owned()).or_default();
        versions.push(id);
        let v = versions.len();
        Self::versioned(&st, subject, v)
            .ok_or_else(|| ClientError::BadResponse("stored schema vanished".into()))
    }

    async fn lookup(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        _normalize: bool,
    ) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let st = self.state();
        let Some(versions) = st.subjects.get(subject) else {
            return Err(not_found(40401, format!("Subject '{subject}' not found.")));
        };
        for (i, id) in versions.iter().enumerate() {
            if st.by_id.get(id).is_some_and(|s| Self::same(s, spec)) {
                if let Some(found) = Self::versioned(&st, subject, i + 1) {
                    return Ok(found);
                }
            }
        }
        Err(not_found(40403, "Schema not found".into()))
    }

    async fn latest(&self, subject: &str) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let st = self.state();
        let n = st.subjects.get(subject).map_or(0, Vec::len);
        Self::versioned(&st, subject, n)
            .ok_or_else(|| not_found(40401, format!("Subject '{subject}' not found.")))
    }

    async fn latest_with_metadata(
        &self,
        subject: &str,
        pairs: &[(String, String)],
    ) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let st = self.state();
        let n = st.subjects.get(subject).map_or(0, Vec::len);
        for v in (1..=n).rev() {
            if let Some(s) = Self::versioned(&st, subject, v) {
                let props = s
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("properties"))
                    .and_then(|p| p.as_object());
                let all = pairs.iter().all(|(k, val)| {
                    props
                        .and_then(|p| p.get(k))
                        .and_then(|x| x.as_str())
                        .is_some_and(|x| x == val)
                });
                if all {
                    return Ok(s);
                }
            }
        }
        Err(not_found(40403, "Schema not found".into()))
    }

    async fn version(&self, subject: &str, version: i32) -> Result<Arc<RegisteredSchema>> {
        self.count();
        let st = self.state();
        let n = st.subjects.get(subject).map_or(0, Vec::len);
        let v = if version == -1 {
            n
        } else {
            usize::try_from(version).unwrap_or(0)
        };
        Self::versioned(&st, subject, v)
            .ok_or_else(|| not_found(40402, format!("Version {version} not found.")))
    }
}
