//! Per-node caches.
//!
//! Schema ids and texts are immutable, so `id -> schema` and `id -> parsed schema`
//! are kept until a permanent delete anywhere in the cluster says otherwise. The latest
//! version of a subject can change, so it is kept for at most `latest_ttl` and dropped
//! as soon as this node, or another one through PostgreSQL `NOTIFY`, changes the subject.
//! Serialised id-lookup bodies live and die with the schemas they show.
//! Which subjects hold an id, and which of them belong to a read-restricted stream (the
//! read rule for ids, [`crate::governance::check_holders_read`]), is kept per id for at
//! most `latest_ttl` (a contract that restricts a stream sends no notice) and dropped
//! on any change to any subject, since a registration may add a holder to any id.
//! Capacity is bounded: a full map is emptied and refilled (ids are hot in bursts, and
//! a refill costs one query per id).

use crate::governance::IdHolder;
use crate::storage::{Notice, SchemaRecord, VersionRecord};
use accord_compat::ParsedSchema;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
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

    fn get<Q>(&self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
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

    fn remove<Q>(&self, k: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
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
    /// An id's holders (subjects, restricted streams), read at the `Instant`.
    holders: Bounded<i64, (Instant, Arc<Vec<IdHolder>>)>,
    /// Bumped whenever `holders` is emptied, so an answer read before a change is not
    /// stored after it (see [`Caches::put_holders`]).
    holders_gen: AtomicU64,
    latest_ttl: Duration,
    /// One lock per shard of subjects: concurrent misses on a subject's latest version
    /// wait for the first one's read instead of all reading the database.
    latest_flights: Box<[tokio::sync::Mutex<()>]>,
}

/// Shards of [`Caches::latest_flight`].
const LATEST_FLIGHTS: usize = 64;

impl Caches {
    pub fn new(capacity: usize, latest_ttl: Duration) -> Self {
        Caches {
            schemas: Bounded::new(capacity),
            parsed: Bounded::new(capacity),
            latest: Bounded::new(capacity),
            bodies: Bounded::new(capacity),
            holders: Bounded::new(capacity),
            holders_gen: AtomicU64::new(0),
            latest_ttl,
            latest_flights: (0..LATEST_FLIGHTS)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
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

    /// The cached holders of schema `id`, if fresh.
    pub fn holders(&self, id: i64) -> Option<Arc<Vec<IdHolder>>> {
        let (at, h) = self.holders.get(&id)?;
        (at.elapsed() < self.latest_ttl).then_some(h)
    }

    /// The generation to pass to [`Caches::put_holders`], taken before reading.
    pub fn holders_generation(&self) -> u64 {
        self.holders_gen.load(Ordering::Acquire)
    }

    /// Keeps `h` unless the holders were dropped since generation `gen` was taken.
    pub fn put_holders(&self, id: i64, h: Arc<Vec<IdHolder>>, read_at: Instant, gen: u64) {
        if self.holders_generation() == gen {
            self.holders.put(id, (read_at, h));
        }
    }

    fn clear_holders(&self) {
        self.holders_gen.fetch_add(1, Ordering::AcqRel);
        self.holders.clear();
    }

    /// The cached latest non-deleted version of a subject (`Some(None)`: known to have
    /// none), if fresh.
    pub fn latest(&self, subject: &str) -> Option<Option<VersionRecord>> {
        let (at, v) = self.latest.get(subject)?;
        (at.elapsed() < self.latest_ttl).then_some(v)
    }

    /// The lock a miss on `subject`'s latest version holds while it reads (single
    /// flight: see [`crate::registry::Registry::latest`]); none when nothing is cached.
    pub fn latest_flight(&self, subject: &str) -> Option<&tokio::sync::Mutex<()>> {
        if self.latest_ttl.is_zero() {
            return None;
        }
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(subject);
        Some(&self.latest_flights[(h as usize) % self.latest_flights.len()])
    }

    pub fn put_latest(&self, subject: &str, v: Option<VersionRecord>, read_at: Instant) {
        self.latest.put(subject.to_string(), (read_at, v));
    }

    /// Applies a change notice from this node or another.
    pub fn apply(&self, notice: &Notice) {
        match notice {
            Notice::Subject(s) => {
                self.latest.remove(s);
                self.clear_holders();
            }
            Notice::Global => self.clear_holders(),
            Notice::Schemas => {
                self.schemas.clear();
                self.bodies.clear();
                self.latest.clear();
                self.clear_holders();
            }
        }
    }

    /// Forgets everything that can change (after losing the notification channel).
    pub fn clear_mutable(&self) {
        self.latest.clear();
        self.schemas.clear();
        self.bodies.clear();
        self.clear_holders();
    }
}
