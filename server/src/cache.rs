//! Per-node caches.
//!
//! Schema ids and texts are immutable, so `id -> schema` and `id -> parsed schema`
//! are kept until a permanent delete anywhere in the cluster says otherwise. The latest
//! version of a subject can change, so it is kept for at most `latest_ttl` and dropped
//! as soon as this node, or another one through PostgreSQL `NOTIFY`, changes the subject.
//! Serialised id-lookup bodies live and die with the schemas they show.
//! Capacity is bounded: a full map is emptied and refilled (ids are hot in bursts, and
//! a refill costs one query per id).

use crate::storage::{Notice, SchemaRecord, VersionRecord};
use accord_compat::ParsedSchema;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

struct Bounded<K, V> {
    map: RwLock<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(k)
            .cloned()
    }

    fn put(&self, k: K, v: V) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(k, v);
    }

    fn remove(&self, k: &K) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(k);
    }

    fn clear(&self) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

pub struct Caches {
    schemas: Bounded<i64, Arc<SchemaRecord>>,
    parsed: Bounded<i64, Arc<ParsedSchema>>,
    latest: Bounded<String, (Instant, Option<VersionRecord>)>,
    /// Serialised `GET /schemas/ids/{id}` bodies by (id, format): the hottest read,
    /// answered without building or serialising anything.
    bodies: Bounded<(i64, u8), bytes::Bytes>,
    latest_ttl: Duration,
}

impl Caches {
    pub fn new(capacity: usize, latest_ttl: Duration) -> Self {
        Caches {
            schemas: Bounded::new(capacity),
            parsed: Bounded::new(capacity),
            latest: Bounded::new(capacity),
            bodies: Bounded::new(capacity),
            latest_ttl,
        }
    }

    pub fn schema(&self, id: i64) -> Option<Arc<SchemaRecord>> {
        self.schemas.get(&id)
    }

    pub fn put_schema(&self, s: Arc<SchemaRecord>) {
        self.schemas.put(s.id, s);
    }

    pub fn parsed(&self, id: i64) -> Option<Arc<ParsedSchema>> {
        self.parsed.get(&id)
    }

    pub fn put_parsed(&self, id: i64, p: Arc<ParsedSchema>) {
        self.parsed.put(id, p);
    }

    pub fn body(&self, id: i64, format: u8) -> Option<bytes::Bytes> {
        self.bodies.get(&(id, format))
    }

    pub fn put_body(&self, id: i64, format: u8, body: bytes::Bytes) {
        self.bodies.put((id, format), body);
    }

    /// The cached latest non-deleted version of a subject (`Some(None)`: known to have
    /// none), if fresh.
    pub fn latest(&self, subject: &str) -> Option<Option<VersionRecord>> {
        let (at, v) = self.latest.get(&subject.to_string())?;
        (at.elapsed() < self.latest_ttl).then_some(v)
    }

    pub fn put_latest(&self, subject: &str, v: Option<VersionRecord>, read_at: Instant) {
        self.latest.put(subject.to_string(), (read_at, v));
    }

    /// Applies a change notice from this node or another.
    pub fn apply(&self, notice: &Notice) {
        match notice {
            Notice::Subject(s) => self.latest.remove(s),
            Notice::Global => {}
            Notice::Schemas => {
                self.schemas.clear();
                self.bodies.clear();
                self.latest.clear();
            }
        }
    }

    /// Forgets everything that can change (after losing the notification channel).
    pub fn clear_mutable(&self) {
        self.latest.clear();
        self.schemas.clear();
        self.bodies.clear();
    }
}
