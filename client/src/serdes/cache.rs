//! The serializers' own caches: parsed schemas by id and GUID, and the writer state of
//! each (topic, record) pair.
//!
//! The registry client already caches what the registry said; these cache what the
//! serializers *made* of it (an apache-avro schema with its name table, a compiled
//! descriptor pool, a compiled JSON Schema validator, the frame prefix bytes), so that
//! after warm-up a record costs a read lock and a hash lookup, not a parse. Entries are
//! immutable (schemas behind an id never change), so no invalidation is needed; the
//! capacity bound evicts an arbitrary entry when full, which only costs a re-parse.

use super::rules::SchemaRules;
use super::{expect_format, writer_schema, Prefix, SerdeConfig};
use crate::framing::SchemaId;
use crate::{RegisteredSchema, Result, SchemaSource, SchemaSpec};
use accord_compat::SchemaFormat;
use std::borrow::Cow;
use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use uuid::Uuid;

/// FNV-1a: the keys here are short (ids, topic and type names) and come from the
/// application or from ids the registry has confirmed (an unknown id is an error
/// before anything is cached), so SipHash's flooding resistance buys nothing and its
/// cost shows on the per-record path.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A hash map with [`Fnv`] hashing.
pub(crate) type HashMap<K, V> = StdHashMap<K, V, BuildHasherDefault<Fnv>>;

/// A lock whose poisoning is ignored: every critical section here is a single map
/// operation, so a panic elsewhere cannot leave a map half-updated.
pub(crate) struct Lock<T>(RwLock<T>);

impl<T> Lock<T> {
    pub(crate) fn new(v: T) -> Self {
        Lock(RwLock::new(v))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A hash map behind a lock, bounded by `capacity`.
pub(crate) struct BoundedMap<K, V> {
    map: Lock<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> BoundedMap<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedMap {
            map: Lock::new(HashMap::default()),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get<Q>(&self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.read().get(k).cloned()
    }

    pub(crate) fn insert(&self, k: K, v: V) {
        let mut map = self.map.write();
        if map.len() >= self.capacity && !map.contains_key(&k) {
            // Evict whichever entries iterate first: arbitrary, and cheap to redo.
            let mut evict = map.len() + 1 - self.capacity;
            map.retain(|_, _| {
                if evict > 0 {
                    evict -= 1;
                    false
                } else {
                    true
                }
            });
        }
        map.insert(k, v);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }
}

/// Parsed schemas of one format, by id and by GUID.
pub(crate) struct SchemaCache<E> {
    /// The first schema parsed, by id, readable without a lock or a reference count:
    /// most consumers read one schema for long stretches. Kept beside the bounded maps.
    first: OnceLock<(i32, Arc<E>)>,
    by_id: BoundedMap<i32, Arc<E>>,
    by_guid: BoundedMap<Uuid, Arc<E>>,
}

impl<E> SchemaCache<E> {
    pub(crate) fn new(capacity: usize) -> Self {
        SchemaCache {
            first: OnceLock::new(),
            by_id: BoundedMap::new(capacity),
            by_guid: BoundedMap::new(capacity),
        }
    }

    /// The entry of `id` when it is the first one parsed: no lock, no reference count.
    pub(crate) fn first(&self, id: &SchemaId) -> Option<&Arc<E>> {
        match (id, self.first.get()) {
            (SchemaId::Id(i), Some((first, e))) if first == i => Some(e),
            _ => None,
        }
    }

    pub(crate) fn get(&self, id: &SchemaId) -> Option<Arc<E>> {
        match id {
            SchemaId::Id(i) => self.by_id.get(i),
            SchemaId::Guid(g) => self.by_guid.get(g),
        }
    }

    pub(crate) fn get_id(&self, id: i32) -> Option<Arc<E>> {
        self.by_id.get(&id)
    }

    pub(crate) fn insert(&self, id: i32, guid: Option<Uuid>, entry: &Arc<E>) {
        let _ = self.first.set((id, entry.clone()));
        self.by_id.insert(id, entry.clone());
        if let Some(g) = guid {
            self.by_guid.insert(g, entry.clone());
        }
    }
}

/// A format's parsed form of a registered schema, made once per id and cached: what the
/// shared steps ([`SchemaCache`], [`resolve_writer`]) need to know of each format.
pub(crate) trait ParsedEntry: Sized {
    /// The format whose schemas this parses.
    const FORMAT: SchemaFormat;

    async fn parse<S: SchemaSource>(source: &S, registered: Arc<RegisteredSchema>) -> Result<Self>;

    /// The registered schema with its rules.
    fn rules(&self) -> &SchemaRules;

    /// Work a writer must finish before its first record (e.g. compiling a validator), so
    /// that a schema that cannot be used fails the first record, not a later one.
    fn ready(&self) -> Result<()> {
        Ok(())
    }
}

impl<E: ParsedEntry> SchemaCache<E> {
    /// The parsed schema with this id or GUID, fetched and parsed on first use.
    pub(crate) async fn by_id<S: SchemaSource>(&self, source: &S, id: SchemaId) -> Result<Arc<E>> {
        if let Some(e) = self.get(&id) {
            return Ok(e);
        }
        // Misses run out of line, so the per-record futures that await this stay small.
        Box::pin(async move {
            let registered = match id {
                SchemaId::Id(i) => source.schema_by_id(i).await?,
                SchemaId::Guid(g) => source.schema_by_guid(&g.to_string()).await?,
            };
            self.entry(source, registered).await
        })
        .await
    }

    /// The parsed form of `registered`, parsed on first use.
    pub(crate) async fn entry<S: SchemaSource>(
        &self,
        source: &S,
        registered: Arc<RegisteredSchema>,
    ) -> Result<Arc<E>> {
        if let Some(e) = self.get_id(registered.id) {
            return Ok(e);
        }
        let guid = match registered.guid.as_deref() {
            Some(g) => Some(super::parse_guid(g)?),
            None => None,
        };
        let id = registered.id;
        let e = Arc::new(Box::pin(E::parse(source, registered)).await?);
        self.insert(id, guid, &e);
        Ok(e)
    }
}

/// Writer state by topic, then by record (its name, `""` when a serializer has one fixed
/// schema, or the Rust type of a generated message). Two levels so a lookup borrows the
/// topic and the record key and allocates nothing.
pub(crate) struct WriterCache<V, R = String> {
    /// The first (topic, record) pair's writer, readable without a lock or a reference
    /// count: most serializers write one type to one topic. Kept beside the map.
    first: OnceLock<(String, R, V)>,
    map: Lock<HashMap<String, HashMap<R, V>>>,
    capacity: usize,
}

impl<V: Clone, R: Hash + Eq + Clone> WriterCache<V, R> {
    pub(crate) fn new(capacity: usize) -> Self {
        WriterCache {
            first: OnceLock::new(),
            map: Lock::new(HashMap::default()),
            capacity: capacity.max(1),
        }
    }

    /// The writer of (`topic`, `record`) when it is the first pair cached.
    pub(crate) fn first<Q>(&self, topic: &str, record: &Q) -> Option<&V>
    where
        R: std::borrow::Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.first.get() {
            Some((t, r, v)) if t == topic && r.borrow() == record => Some(v),
            _ => None,
        }
    }

    pub(crate) fn get<Q>(&self, topic: &str, record: &Q) -> Option<V>
    where
        R: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.read().get(topic)?.get(record).cloned()
    }

    pub(crate) fn insert(&self, topic: &str, record: R, v: V) {
        if self.first.get().is_none() {
            let _ = self
                .first
                .set((topic.to_owned(), record.clone(), v.clone()));
        }
        let mut map = self.map.write();
        let total: usize = map.values().map(HashMap::len).sum();
        if total >= self.capacity {
            map.clear();
        }
        map.entry(topic.to_owned()).or_default().insert(record, v);
    }
}

/// What [`resolve_writer`] found for a (topic, record) pair.
pub(crate) enum Resolved<W, E> {
    /// The writer cached for the pair already holds the subject's latest schema
    /// (use-latest): keep it.
    Current(Arc<W>),
    /// A writer schema to build the format's writer state from.
    New { subject: String, entry: Arc<E> },
}

/// The one writer-resolution step of every serializer (Avro, JSON Schema, Protobuf):
///
/// 1. the subject, by the config's naming strategy from the topic and `record` (the
///    Avro record's full name, the JSON Schema's `title`, the Protobuf message's name);
/// 2. the writer schema under it, per the config: the latest version (use-latest, or
///    latest with metadata), else `spec` registered (auto-register) or looked up;
/// 3. with use-latest, `current(id)` gives back the writer cached for this topic and
///    record when it already holds schema `id`, which is then kept as is;
/// 4. otherwise the schema's format is checked and its parsed entry made (or taken from
///    `schemas`) and readied, so that a schema that cannot be used fails here.
///
/// `spec` is awaited only when the writer schema is not the latest: Protobuf registers a
/// file's imports while making its spec, which use-latest must not do. The format's
/// own writer state (frame prefix; Protobuf's message and its indexes) is the caller's.
pub(crate) async fn resolve_writer<'s, S, E, W, F>(
    source: &S,
    config: &SerdeConfig,
    schemas: &SchemaCache<E>,
    topic: &str,
    record: Option<&str>,
    spec: F,
    current: impl FnOnce(i32) -> Option<Arc<W>>,
) -> Result<Resolved<W, E>>
where
    S: SchemaSource,
    E: ParsedEntry,
    F: std::future::Future<Output = Result<Option<Cow<'s, SchemaSpec>>>>,
{
    let subject = config
        .subject_name_strategy
        .subject(topic, config.serde_type, record)?;
    let registered = if config.uses_latest() {
        let latest = writer_schema(source, config, &subject, None).await?;
        if let Some(w) = current(latest.id) {
            return Ok(Resolved::Current(w));
        }
        latest
    } else {
        let spec = spec.await?;
        writer_schema(source, config, &subject, spec.as_deref()).await?
    };
    expect_format(&registered, E::FORMAT)?;
    let entry = schemas.entry(source, registered).await?;
    entry.ready()?;
    Ok(Resolved::New { subject, entry })
}

/// The writer of a serializer with one schema (Avro, JSON Schema) for one topic: the
/// parsed registered schema, its subject and the frame prefix.
pub(crate) struct FixedWriter<E> {
    pub(crate) entry: Arc<E>,
    pub(crate) subject: String,
    pub(crate) prefix: Prefix,
}

/// How a serializer with one schema (the one it was given, or the subject's latest with
/// use-latest) finds its writer per topic: through [`resolve_writer`] once, then from its
/// cache; with use-latest, re-checked against the latest version on every record (which
/// the source caches).
pub(crate) struct FixedSchema<E> {
    spec: Option<SchemaSpec>,
    record_name: Option<String>,
    writers: WriterCache<Arc<FixedWriter<E>>>,
}

impl<E: ParsedEntry> FixedSchema<E> {
    pub(crate) fn new(
        spec: Option<SchemaSpec>,
        record_name: Option<String>,
        capacity: usize,
    ) -> Self {
        FixedSchema {
            spec,
            record_name,
            writers: WriterCache::new(capacity),
        }
    }

    pub(crate) async fn writer<S: SchemaSource>(
        &self,
        source: &S,
        config: &SerdeConfig,
        schemas: &SchemaCache<E>,
        topic: &str,
    ) -> Result<Arc<FixedWriter<E>>> {
        if !config.uses_latest() {
            if let Some(w) = self.writers.get(topic, "") {
                return Ok(w);
            }
        }
        // Out of line, so the per-record futures that await this stay small.
        Box::pin(self.resolve(source, config, schemas, topic)).await
    }

    async fn resolve<S: SchemaSource>(
        &self,
        source: &S,
        config: &SerdeConfig,
        schemas: &SchemaCache<E>,
        topic: &str,
    ) -> Result<Arc<FixedWriter<E>>> {
        let resolved = resolve_writer(
            source,
            config,
            schemas,
            topic,
            self.record_name.as_deref(),
            async { Ok(self.spec.as_ref().map(Cow::Borrowed)) },
            |id| {
                self.writers
                    .get(topic, "")
                    .filter(|w| w.entry.rules().registered.id == id)
            },
        )
        .await?;
        let (subject, entry) = match resolved {
            Resolved::Current(w) => return Ok(w),
            Resolved::New { subject, entry } => (subject, entry),
        };
        let prefix = Prefix::new(config, &entry.rules().registered, None)?;
        let w = Arc::new(FixedWriter {
            entry,
            subject,
            prefix,
        });
        self.writers.insert(topic, String::new(), w.clone());
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_stays_bounded() {
        let m = BoundedMap::new(3);
        for i in 0..10 {
            m.insert(i, i * 2);
            assert!(m.len() <= 3);
            assert_eq!(m.get(&i), Some(i * 2), "the newest entry is kept");
        }
    }

    #[test]
    fn writer_cache_borrows_keys() {
        let c = WriterCache::new(2);
        c.insert("t", "", 1);
        c.insert("t", "r", 2);
        assert_eq!(c.get("t", ""), Some(1));
        assert_eq!(c.get("t", "r"), Some(2));
        c.insert("u", "", 3);
        assert_eq!(c.get("u", ""), Some(3));
        assert!(c.get("x", "").is_none());
    }
}
