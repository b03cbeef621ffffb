//! The client's caches: bounded maps with an optional time-to-live, read without
//! allocating, plus the single-flight table that makes concurrent misses of one key
//! share one request.
//!
//! Why this shape:
//! - Lookups must not allocate, yet several keys are composite (subject + version,
//!   subject + schema text, subject + metadata pairs) and the caller holds borrowed
//!   parts. So entries are filed under a 64-bit hash of the key's borrowed form and
//!   confirmed with an equality closure on the stored key; a hash collision only
//!   makes a bucket hold two entries.
//! - Reads dominate (every serialized record), so the map sits behind an `RwLock`;
//!   a hit takes the read lock, sets the entry's "used" flag (an atomic, written only
//!   when it was clear) and clones an `Arc`.
//! - Eviction is second chance (CLOCK): buckets queue in insertion order; a full
//!   cache pops the oldest, and if it was read since it was queued it is cleared and
//!   re-queued instead of dropped. Cheap, and hot entries survive.

use crate::error::{ClientError, Result};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

struct Slot<K, V> {
    key: K,
    value: V,
    born: Instant,
    used: AtomicBool,
}

struct State<K, V> {
    buckets: HashMap<u64, Vec<Slot<K, V>>>,
    /// Bucket hashes in eviction order; may hold hashes of buckets already removed
    /// (skipped when popped, and compacted when the queue grows too long).
    queue: VecDeque<u64>,
    len: usize,
}

/// A bounded cache of `K → V` (`V` is cheap to clone: an `Arc`).
pub(crate) struct Cache<K, V> {
    state: RwLock<State<K, V>>,
    capacity: usize,
    ttl: Option<Duration>,
    hasher: RandomState,
}

impl<K: PartialEq, V: Clone> Cache<K, V> {
    /// A cache of at most `capacity` entries (0: stores nothing); with `ttl`, an entry
    /// older than it is a miss.
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Cache {
            state: RwLock::new(State {
                buckets: HashMap::new(),
                queue: VecDeque::new(),
                len: 0,
            }),
            capacity,
            ttl,
            hasher: RandomState::new(),
        }
    }

    /// The hash entries are filed under. Callers hash the same borrowed form of the key
    /// for `get` and `insert`.
    pub fn hash<Q: Hash + ?Sized>(&self, probe: &Q) -> u64 {
        self.hasher.hash_one(probe)
    }

    /// The live value whose key satisfies `matches` in bucket `hash`.
    pub fn get(&self, hash: u64, matches: impl Fn(&K) -> bool) -> Option<V> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let slot = state.buckets.get(&hash)?.iter().find(|s| matches(&s.key))?;
        if let Some(ttl) = self.ttl {
            if slot.born.elapsed() >= ttl {
                return None;
            }
        }
        // Written only when clear, so that hot entries do not bounce a cache line
        // between cores on every read.
        if !slot.used.load(Ordering::Relaxed) {
            slot.used.store(true, Ordering::Relaxed);
        }
        Some(slot.value.clone())
    }

    /// Stores `value` under `key` (replacing an entry with an equal key), evicting as
    /// needed to stay within capacity.
    pub fn insert(&self, hash: u64, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = state
            .buckets
            .get_mut(&hash)
            .and_then(|b| b.iter_mut().find(|s| s.key == key))
        {
            slot.value = value;
            slot.born = Instant::now();
            return;
        }
        while state.len >= self.capacity {
            if !state.evict_one() {
                break;
            }
        }
        let slot = Slot {
            key,
            value,
            born: Instant::now(),
            used: AtomicBool::new(false),
        };
        let state = &mut *state;
        match state.buckets.get_mut(&hash) {
            Some(bucket) => bucket.push(slot),
            None => {
                state.buckets.insert(hash, vec![slot]);
                state.queue.push_back(hash);
            }
        }
        state.len += 1;
        // Removals leave stale hashes behind; keep the queue proportional to the map.
        if state.queue.len() > 2 * self.capacity + 16 {
            let buckets = &state.buckets;
            let mut seen = std::collections::HashSet::with_capacity(buckets.len());
            state
                .queue
                .retain(|h| buckets.contains_key(h) && seen.insert(*h));
        }
    }

    /// Drops every entry whose key satisfies `doomed`.
    pub fn remove_where(&self, doomed: impl Fn(&K) -> bool) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut removed = 0;
        state.buckets.retain(|_, bucket| {
            let before = bucket.len();
            bucket.retain(|s| !doomed(&s.key));
            removed += before - bucket.len();
            !bucket.is_empty()
        });
        state.len -= removed;
    }

    /// Drops everything.
    pub fn clear(&self) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.buckets.clear();
        state.queue.clear();
        state.len = 0;
    }

    /// Makes every entry `by` older, as if that much time had passed (tests of expiry
    /// that cannot wait for it).
    #[cfg(test)]
    pub fn age(&self, by: Duration) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for slot in state.buckets.values_mut().flatten() {
            slot.born = slot.born.checked_sub(by).expect("an earlier instant");
        }
    }

    /// Entries held (expired ones included until they are replaced or evicted).
    pub fn len(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len
    }
}

impl<K, V> State<K, V> {
    /// Evicts one bucket by second chance; false when nothing could be evicted.
    fn evict_one(&mut self) -> bool {
        // Two passes over the queue clear every "used" flag, so this terminates with an
        // eviction whenever the map is not empty.
        let mut budget = 2 * self.queue.len() + 1;
        while budget > 0 {
            budget -= 1;
            let Some(hash) = self.queue.pop_front() else {
                return false;
            };
            let Some(bucket) = self.buckets.get(&hash) else {
                continue;
            };
            let mut was_used = false;
            for slot in bucket {
                was_used |= slot.used.swap(false, Ordering::Relaxed);
            }
            if was_used {
                self.queue.push_back(hash);
                continue;
            }
            if let Some(bucket) = self.buckets.remove(&hash) {
                self.len -= bucket.len();
            }
            return true;
        }
        false
    }
}

/// The outcome a flight hands to everyone waiting on it.
type Outcome<V> = std::result::Result<V, Arc<ClientError>>;

/// Requests in flight, by key: the first caller of a key starts the request, later
/// callers await the same shared future, and the request removes itself when done.
pub(crate) struct Flights<K, V: Clone> {
    running: Mutex<HashMap<K, Shared<BoxFuture<'static, Outcome<V>>>>>,
}

impl<K, V> Flights<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Flights {
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Joins the flight for `key`, or starts one with `start`, whose future must cache
    /// its result before it ends. `cached` is consulted under the table's lock: a
    /// flight caches its result before it leaves the table, so a caller that finds no
    /// flight finds the cached value instead of starting a second request.
    pub async fn run<F>(
        self: &Arc<Self>,
        key: K,
        cached: impl FnOnce() -> Option<V>,
        start: F,
    ) -> Result<V>
    where
        F: FnOnce() -> BoxFuture<'static, Result<V>>,
    {
        let flight = {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(v) = cached() {
                return Ok(v);
            }
            match running.get(&key) {
                Some(f) => f.clone(),
                None => {
                    let work = start();
                    let table = Arc::clone(self);
                    let own_key = key.clone();
                    let task = async move {
                        let outcome = work.await.map_err(Arc::new);
                        table
                            .running
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&own_key);
                        outcome
                    };
                    let flight = detach(task);
                    running.insert(key, flight.clone());
                    flight
                }
            }
        };
        flight.await.map_err(|e| ClientError::clone(&e))
    }
}

/// Runs `task` on the runtime (so that it completes, and leaves the flight table, even
/// when every caller awaiting it is cancelled); inline when there is no runtime.
fn detach<V: Clone + Send + Sync + 'static>(
    task: impl std::future::Future<Output = Outcome<V>> + Send + 'static,
) -> Shared<BoxFuture<'static, Outcome<V>>> {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            let handle = rt.spawn(task);
            async move {
                handle.await.unwrap_or_else(|e| {
                    Err(Arc::new(ClientError::Unreachable(format!(
                        "the registry request was abandoned: {e}"
                    ))))
                })
            }
            .boxed()
            .shared()
        }
        Err(_) => task.boxed().shared(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn put(c: &Cache<i32, Arc<str>>, k: i32) {
        let h = c.hash(&k);
        c.insert(h, k, Arc::from(k.to_string()));
    }

    fn has(c: &Cache<i32, Arc<str>>, k: i32) -> bool {
        c.get(c.hash(&k), |x| *x == k).is_some()
    }

    #[test]
    fn full_cache_evicts_unused_entries_first() {
        let c = Cache::new(3, None);
        put(&c, 1);
        put(&c, 2);
        put(&c, 3);
        assert!(has(&c, 1)); // 1 is hot: it gets a second chance
        put(&c, 4); // evicts 2, the oldest unused
        assert_eq!(c.len(), 3);
        assert!(has(&c, 1) && !has(&c, 2) && has(&c, 3) && has(&c, 4));
    }

    #[test]
    fn capacity_holds_even_when_everything_is_hot() {
        let c = Cache::new(2, None);
        for k in 0..50 {
            put(&c, k);
            assert!(has(&c, k));
            assert!(c.len() <= 2);
        }
    }

    #[test]
    fn zero_capacity_stores_nothing() {
        let c = Cache::new(0, None);
        put(&c, 1);
        assert!(!has(&c, 1));
    }

    #[test]
    fn ttl_expires_and_reinsert_refreshes() {
        let c = Cache::new(4, Some(Duration::from_millis(30)));
        put(&c, 1);
        assert!(has(&c, 1));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!has(&c, 1));
        put(&c, 1);
        assert!(has(&c, 1));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn colliding_hashes_share_a_bucket() {
        let c: Cache<i32, Arc<str>> = Cache::new(4, None);
        c.insert(7, 1, Arc::from("one"));
        c.insert(7, 2, Arc::from("two"));
        assert_eq!(c.get(7, |x| *x == 1).as_deref(), Some("one"));
        assert_eq!(c.get(7, |x| *x == 2).as_deref(), Some("two"));
        c.remove_where(|k| *k == 1);
        assert_eq!(c.get(7, |x| *x == 1), None);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn removals_and_churn_keep_the_queue_bounded() {
        let c = Cache::new(4, None);
        for k in 0..1000 {
            put(&c, k);
            c.remove_where(|x| *x == k);
        }
        let state = c.state.read().unwrap();
        assert!(state.queue.len() <= 2 * 4 + 17, "{}", state.queue.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_one_flight_and_errors_are_not_kept() {
        let flights: Arc<Flights<i32, i32>> = Arc::new(Flights::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (f, calls) = (flights.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                f.run(
                    1,
                    || None,
                    || {
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Err(ClientError::Registry {
                                status: 404,
                                error_code: 40403,
                                message: "Schema 1 not found".into(),
                            })
                        }
                        .boxed()
                    },
                )
                .await
            }));
        }
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.error_code(), Some(40403));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The failed flight left the table: the next call tries again.
        let v = flights
            .run(1, || None, || async { Ok(5) }.boxed())
            .await
            .unwrap();
        assert_eq!(v, 5);
        assert!(flights.running.lock().unwrap().is_empty());
    }
}
