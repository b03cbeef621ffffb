//! Per-node caches.
//!
//! Schema ids and texts are immutable, so `id -> schema` and `id -> parsed schema`
//! are kept until a permanent delete anywhere in the cluster says otherwise. The latest
//! version of a subject can change, so it is kept for at most `latest_ttl` and dropped
//! as soon as this node, or another one through PostgreSQL `NOTIFY`, changes the subject.
//! A latest entry read past half its TTL is still answered, and one background read
//! refreshes it ([`Caches::latest`]): a subject read often never expires on the request
//! path, and nothing is ever served older than the TTL. A read that began before a
//! change is not stored after it (a generation, as for the holders).
//! Serialised id-lookup bodies live and die with the schemas they show.
//! Which subjects hold an id, and which of them belong to a read-restricted stream (the
//! read rule for ids, [`crate::governance::check_holders_read`]), is kept per id for at
//! most `latest_ttl` (a contract that restricts a stream sends no notice) and dropped
//! on any change to any subject, since a registration may add a holder to any id.
//! A subject's state as this node's last registration there left it (configs, modes,
//! versions, streams) is kept as a *hint* for the next registration's work ahead of the
//! writers' lock ([`Caches::subject_hint`]): nothing is answered from it, since every
//! result computed from it is keyed by what it used and checked again inside the
//! transaction, so a stale hint costs only that work done twice. Hints are few
//! ([`HINT_SUBJECTS`]) and small ([`HINT_MAX_VERSIONS`]): a burst of registrations
//! touches few subjects, and a hint's size grows with its subject's versions.
//! Capacity is bounded: a full map is emptied and refilled (ids are hot in bursts, and
//! a refill costs one query per id).

use crate::governance::IdHolder;
use crate::storage::{Notice, SchemaRecord, SubjectState, VersionRecord};
use accord_compat::ParsedSchema;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Per-process seeded and much cheaper than SipHash on an id (the cache sits on every
/// id lookup); the keys are bounded in number by `capacity`.
type Fast = foldhash::fast::RandomState;

struct Bounded<K, V> {
    map: RwLock<HashMap<K, V, Fast>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Self {
        Bounded {
            map: RwLock::new(HashMap::default()),
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
    /// Serialised `GET /subjects/{s}/versions/{v}` bodies by (schema id, version,
    /// format), each with the subject and version timestamp it was made for: a version
    /// number can be used again after a permanent delete, so a body is served only for
    /// the same subject, id and timestamp ([`Caches::version_body`]).
    version_bodies: Bounded<(i64, i64, u8), (String, i64, bytes::Bytes)>,
    /// An id's holders (subjects, restricted streams), read at the `Instant`.
    holders: Bounded<i64, (Instant, Arc<Vec<IdHolder>>)>,
    /// Bumped whenever `holders` is emptied, so an answer read before a change is not
    /// stored after it (see [`Caches::put_holders`]).
    holders_gen: AtomicU64,
    /// Bumped whenever a latest entry is dropped by a change, so a read begun before the
    /// change is not stored after it (see [`Caches::put_latest`]).
    latest_gen: AtomicU64,
    /// Registration hints by subject (see the module documentation).
    subject_hints: Bounded<String, Arc<SubjectState>>,
    /// Subjects whose latest entry a background read is refreshing (one at a time).
    refreshing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Refreshes claimed but not read yet, and whether a batch that will read them is
    /// pending ([`Caches::queue_refresh`]).
    refresh_queue: std::sync::Mutex<(Vec<String>, bool)>,
    latest_ttl: Duration,
    /// One lock per shard of subjects: concurrent misses on a subject's latest version
    /// wait for the first one's read instead of all reading the database.
    latest_flights: Box<[tokio::sync::Mutex<()>]>,
}

/// Most subjects with a registration hint kept (a full map is emptied and refilled).
pub const HINT_SUBJECTS: usize = 256;
/// Largest subject (in versions) whose registration hint is kept.
pub const HINT_MAX_VERSIONS: usize = 1_000;

/// Shards of [`Caches::latest_flight`].
const LATEST_FLIGHTS: usize = 64;

impl Caches {
    pub fn new(capacity: usize, latest_ttl: Duration) -> Self {
        Caches {
            schemas: Bounded::new(capacity),
            parsed: Bounded::new(capacity),
            latest: Bounded::new(capacity),
            bodies: Bounded::new(capacity),
            version_bodies: Bounded::new(capacity),
            holders: Bounded::new(capacity),
            subject_hints: Bounded::new(capacity.min(HINT_SUBJECTS)),
            holders_gen: AtomicU64::new(0),
            latest_gen: AtomicU64::new(0),
            refreshing: Default::default(),
            refresh_queue: Default::default(),
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

    /// The serialised body of live version `v` in `format`, if one was kept for it.
    pub fn version_body(&self, v: &VersionRecord, format: u8) -> Option<bytes::Bytes> {
        if v.deleted {
            return None;
        }
        let (subject, ts, body) = self.version_bodies.get(&(v.schema_id, v.version, format))?;
        (subject == v.subject && ts == v.ts).then_some(body)
    }

    pub fn put_version_body(&self, v: &VersionRecord, format: u8, body: bytes::Bytes) {
        if !v.deleted {
            self.version_bodies.put(
                (v.schema_id, v.version, format),
                (v.subject.clone(), v.ts, body),
            );
        }
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
    /// none), if fresh, and whether the caller should refresh it now: an entry past half
    /// its TTL is due, and only the first caller to see it so is told (until
    /// [`Caches::put_latest`] or [`Caches::end_refresh`]).
    pub fn latest(&self, subject: &str) -> Option<(Option<VersionRecord>, bool)> {
        let (at, v) = self.latest.get(subject)?;
        let age = at.elapsed();
        if age >= self.latest_ttl {
            return None;
        }
        let due = age >= self.latest_ttl / 2 && {
            // Every hit until the refresh lands gets here: no allocation for those.
            let mut refreshing = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
            !refreshing.contains(subject) && refreshing.insert(subject.to_string())
        };
        Some((v, due))
    }

    /// Queues a refresh that [`Caches::latest`] claimed. True when no batch is pending:
    /// the caller then starts one, which reads the queue after [`Caches::refresh_window`]
    /// ([`Caches::take_refreshes`]). Hot subjects come due at a steady rate (with 1,000
    /// subjects and a 1 s TTL, 2,000 a second), so one read per batch, not per subject,
    /// keeps that background work from taking the request path's CPU.
    pub fn queue_refresh(&self, subject: &str) -> bool {
        let mut queue = self.refresh_queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.0.push(subject.to_string());
        !std::mem::replace(&mut queue.1, true)
    }

    /// Up to `n` queued refreshes. An empty answer ends the pending batch: the next
    /// queued refresh starts another.
    pub fn take_refreshes(&self, n: usize) -> Vec<String> {
        let mut queue = self.refresh_queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.0.is_empty() {
            queue.1 = false;
            return Vec::new();
        }
        let keep = queue.0.len().saturating_sub(n);
        queue.0.split_off(keep)
    }

    /// How long a batch of refreshes waits for more to share its read: a sixteenth of
    /// the TTL (refreshes start at half of it), between 1 and 20 ms.
    pub fn refresh_window(&self) -> Duration {
        (self.latest_ttl / 16).clamp(Duration::from_millis(1), Duration::from_millis(20))
    }

    /// The generation to pass to [`Caches::put_latest`], taken before reading.
    pub fn latest_generation(&self) -> u64 {
        self.latest_gen.load(Ordering::Acquire)
    }

    /// A refresh claimed by [`Caches::latest`] is over (stored or not): the next caller
    /// past half the TTL may start another.
    pub fn end_refresh(&self, subject: &str) {
        self.refreshing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
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

    /// Keeps `v`, read at `read_at`, unless a change dropped latest entries since
    /// generation `gen` was taken; ends a refresh of `subject` either way.
    pub fn put_latest(&self, subject: &str, v: Option<VersionRecord>, read_at: Instant, gen: u64) {
        if self.latest_generation() == gen {
            self.latest.put(subject.to_string(), (read_at, v));
        }
        self.end_refresh(subject);
    }

    fn drop_latest(&self, subject: Option<&str>) {
        self.latest_gen.fetch_add(1, Ordering::AcqRel);
        match subject {
            Some(s) => self.latest.remove(s),
            None => self.latest.clear(),
        }
    }

    /// The state a registration of `subject` on this node last left, if kept: a hint
    /// only (see the module documentation).
    pub fn subject_hint(&self, subject: &str) -> Option<Arc<SubjectState>> {
        self.subject_hints.get(subject)
    }

    /// Keeps `state` as `subject`'s hint, unless the hint kept already knows a higher
    /// version (a concurrent registration of the same subject stored its state first)
    /// or the subject has more than [`HINT_MAX_VERSIONS`] versions.
    pub fn put_subject_hint(&self, subject: &str, state: SubjectState) {
        let top = |s: &SubjectState| s.versions.last().map_or(0, |v| v.version);
        if state.versions.len() > HINT_MAX_VERSIONS {
            self.subject_hints.remove(subject);
            return;
        }
        if self
            .subject_hints
            .get(subject)
            .is_some_and(|kept| top(&kept) > top(&state))
        {
            return;
        }
        self.subject_hints.put(subject.to_string(), Arc::new(state));
    }

    /// Applies a change notice from this node or another.
    pub fn apply(&self, notice: &Notice) {
        match notice {
            Notice::Subject(s) => {
                self.drop_latest(Some(s));
                self.subject_hints.remove(s.as_str());
                self.clear_holders();
            }
            Notice::Global => {
                self.subject_hints.clear();
                self.clear_holders();
            }
            Notice::Schemas => {
                self.subject_hints.clear();
                self.schemas.clear();
                self.parsed.clear();
                self.bodies.clear();
                self.version_bodies.clear();
                self.drop_latest(None);
                self.clear_holders();
            }
        }
    }

    /// Forgets everything that can change (after losing the notification channel).
    pub fn clear_mutable(&self) {
        self.drop_latest(None);
        self.subject_hints.clear();
        self.schemas.clear();
        self.bodies.clear();
        self.version_bodies.clear();
        self.clear_holders();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(subject: &str, version: i64, schema_id: i64, ts: i64) -> VersionRecord {
        VersionRecord {
            subject: subject.to_string(),
            version,
            schema_id,
            deleted: false,
            ts,
        }
    }

    #[test]
    fn a_latest_entry_past_half_its_ttl_is_served_and_refreshed_by_one_caller() {
        let ttl = Duration::from_millis(400);
        let c = Caches::new(100, ttl);
        let gen = c.latest_generation();
        c.put_latest("s", Some(version("s", 1, 1, 1)), Instant::now(), gen);
        let (v, due) = c.latest("s").expect("fresh");
        assert_eq!(v.map(|v| v.version), Some(1));
        assert!(!due, "a fresh entry is not due");
        std::thread::sleep(ttl / 2 + Duration::from_millis(20));
        let (_, due) = c.latest("s").expect("still served past half the TTL");
        assert!(due, "the first caller past half the TTL refreshes");
        let (_, again) = c.latest("s").expect("served");
        assert!(!again, "only one caller is told to refresh");
        // The refresh stores a newer read: fresh again, and a later refresh can start.
        c.put_latest("s", Some(version("s", 2, 2, 2)), Instant::now(), gen);
        let (v, due) = c.latest("s").expect("fresh");
        assert_eq!(v.map(|v| v.version), Some(2));
        assert!(!due);
        // Never served past the TTL.
        std::thread::sleep(ttl + Duration::from_millis(20));
        assert!(c.latest("s").is_none());
    }

    #[test]
    fn queued_refreshes_are_read_in_batches_by_one_pending_reader() {
        let c = Caches::new(100, Duration::from_secs(1));
        assert!(c.queue_refresh("a"), "the first refresh starts a batch");
        assert!(
            !c.queue_refresh("b"),
            "a batch is pending: it reads this one too"
        );
        assert!(!c.queue_refresh("c"));
        let mut first = c.take_refreshes(2);
        first.sort();
        assert_eq!(first.len(), 2, "at most n at a time");
        let rest = c.take_refreshes(2);
        assert_eq!(rest.len(), 1);
        let mut all = [first, rest].concat();
        all.sort();
        assert_eq!(all, ["a", "b", "c"], "each queued refresh read once");
        assert!(
            !c.queue_refresh("d"),
            "still pending until a take finds nothing"
        );
        assert_eq!(c.take_refreshes(2), ["d"]);
        assert!(c.take_refreshes(2).is_empty(), "the batch ends");
        assert!(c.queue_refresh("e"), "the next refresh starts a new batch");
        assert_eq!(c.refresh_window(), Duration::from_millis(20));
        assert_eq!(
            Caches::new(1, Duration::from_millis(80)).refresh_window(),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn a_latest_read_begun_before_a_change_is_not_stored_after_it() {
        let c = Caches::new(100, Duration::from_secs(60));
        let gen = c.latest_generation();
        let read_at = Instant::now();
        c.apply(&Notice::Subject("s".to_string()));
        c.put_latest("s", Some(version("s", 1, 1, 1)), read_at, gen);
        assert!(c.latest("s").is_none(), "the stale read was dropped");
        let gen = c.latest_generation();
        c.put_latest("s", Some(version("s", 2, 2, 2)), Instant::now(), gen);
        assert_eq!(
            c.latest("s").and_then(|(v, _)| v).map(|v| v.version),
            Some(2)
        );
    }

    fn state(subject: &str, versions: i64) -> SubjectState {
        SubjectState {
            versions: (1..=versions).map(|v| version(subject, v, v, v)).collect(),
            ..SubjectState::default()
        }
    }

    #[test]
    fn subject_hints_are_bounded_and_never_go_back_a_version() {
        let c = Caches::new(100_000, Duration::from_secs(1));
        c.put_subject_hint("s", state("s", 3));
        c.put_subject_hint("s", state("s", 2));
        assert_eq!(
            c.subject_hint("s").map(|h| h.versions.len()),
            Some(3),
            "an older state does not replace a newer one"
        );
        c.put_subject_hint("s", state("s", 4));
        assert_eq!(c.subject_hint("s").map(|h| h.versions.len()), Some(4));
        c.apply(&Notice::Subject("s".to_string()));
        assert!(c.subject_hint("s").is_none(), "a change drops it");
        c.put_subject_hint("big", state("big", HINT_MAX_VERSIONS as i64 + 1));
        assert!(c.subject_hint("big").is_none(), "too many versions to keep");
        for i in 0..=HINT_SUBJECTS {
            c.put_subject_hint(&format!("s{i}"), state("x", 1));
        }
        let kept = (0..=HINT_SUBJECTS)
            .filter(|i| c.subject_hint(&format!("s{i}")).is_some())
            .count();
        assert!(
            kept <= HINT_SUBJECTS,
            "at most {HINT_SUBJECTS} kept, {kept}"
        );
        c.apply(&Notice::Global);
        assert!(c.subject_hint(&format!("s{HINT_SUBJECTS}")).is_none());
    }

    #[test]
    fn a_version_body_is_served_only_for_the_same_subject_id_and_timestamp() {
        let c = Caches::new(100, Duration::from_secs(1));
        let v = version("s", 1, 7, 100);
        c.put_version_body(&v, 0, bytes::Bytes::from_static(b"body"));
        assert_eq!(c.version_body(&v, 0).as_deref(), Some(&b"body"[..]));
        assert!(c.version_body(&v, 1).is_none(), "another format");
        // Version 1 of `s` again after a permanent delete: another timestamp.
        assert!(c.version_body(&version("s", 1, 7, 200), 0).is_none());
        assert!(c.version_body(&version("t", 1, 7, 100), 0).is_none());
        let mut deleted = v.clone();
        deleted.deleted = true;
        assert!(
            c.version_body(&deleted, 0).is_none(),
            "never for a deleted version"
        );
        c.apply(&Notice::Schemas);
        assert!(
            c.version_body(&v, 0).is_none(),
            "a permanent delete drops them"
        );
    }
}
