//! `CachingWrapper` on a real `local-kms` provider wrapped to count its calls: a batch of
//! N new keys costs one KMS call, releases within the TTL none, a release after the TTL
//! one again, and a shredded key (its stored material destroyed) cannot be had from the
//! cache or from its batch siblings. Time is moved by hand, never slept.

use accord_contracts::kms::local::LocalKms;
use accord_contracts::kms::{CachingWrapper, Dek, DekAlgorithm, Kms, KmsError, BATCH_MAGIC};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// `local-kms` counting its calls.
#[derive(Debug)]
struct Counting {
    inner: LocalKms,
    wraps: AtomicUsize,
    unwraps: AtomicUsize,
}

impl Counting {
    fn new(secret: &str) -> Self {
        Counting {
            inner: LocalKms::new(secret).expect("local kms"),
            wraps: AtomicUsize::new(0),
            unwraps: AtomicUsize::new(0),
        }
    }

    /// (wraps, unwraps) since the last look.
    fn take(&self) -> (usize, usize) {
        (
            self.wraps.swap(0, Ordering::SeqCst),
            self.unwraps.swap(0, Ordering::SeqCst),
        )
    }
}

impl Kms for Counting {
    fn kms_type(&self) -> &str {
        "local-kms"
    }

    fn wrap<'a>(
        &'a self,
        key_id: &'a str,
        plaintext: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, KmsError>> {
        self.wraps.fetch_add(1, Ordering::SeqCst);
        self.inner.wrap(key_id, plaintext)
    }

    fn unwrap<'a>(
        &'a self,
        key_id: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, KmsError>> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(key_id, wrapped)
    }
}

/// A clock the test moves.
struct Time(Arc<Mutex<Instant>>);

impl Time {
    fn new() -> Self {
        Time(Arc::new(Mutex::new(Instant::now())))
    }

    fn clock(&self) -> accord_contracts::kms::Clock {
        let t = Arc::clone(&self.0);
        Arc::new(move || *t.lock().expect("clock"))
    }

    fn advance(&self, d: Duration) {
        *self.0.lock().expect("clock") += d;
    }
}

const TTL: Duration = Duration::from_secs(30);

fn deks(n: usize) -> Vec<Zeroizing<Vec<u8>>> {
    (0..n)
        .map(|_| {
            Dek::generate(DekAlgorithm::Aes256Gcm)
                .expect("dek")
                .to_tink()
        })
        .collect()
}

fn slices(keys: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
    keys.iter().map(|k| k.as_slice()).collect()
}

#[tokio::test]
async fn a_batch_of_new_keys_costs_one_kms_call_and_its_releases_none() {
    let kms = Counting::new("batch-secret");
    let time = Time::new();
    let w = CachingWrapper::new(TTL, 1000).with_clock(time.clock());
    let keys = deks(50);
    let wrapped = w.wrap_batch(&kms, "k", &slices(&keys)).await.expect("wrap");
    assert_eq!(kms.take(), (1, 0), "50 new keys, one KMS call");
    assert_eq!(wrapped.len(), 50);
    for m in &wrapped {
        assert_eq!(&m[..8], BATCH_MAGIC);
    }
    // Independent keys: no two materials alike, none holding its key in clear.
    for (i, m) in wrapped.iter().enumerate() {
        assert!(!m.windows(32).any(|x| x == &keys[i][2..]));
        assert!(wrapped[i + 1..].iter().all(|o| o != m));
    }
    // Released within the TTL: the batch key is cached, no KMS call.
    for (m, k) in wrapped.iter().zip(&keys) {
        assert_eq!(w.unwrap(&kms, "k", m).await.expect("unwrap"), *k);
    }
    assert_eq!(kms.take(), (0, 0));
    // After the TTL: one call for the batch, then cached again.
    time.advance(TTL);
    for (m, k) in wrapped.iter().zip(&keys) {
        assert_eq!(w.unwrap(&kms, "k", m).await.expect("unwrap"), *k);
    }
    assert_eq!(kms.take(), (0, 1), "one unwrap for the 50 keys of a batch");
    // Another process (a cold cache) with the same KMS: one call for the whole batch.
    let cold = CachingWrapper::new(TTL, 1000);
    for (m, k) in wrapped.iter().zip(&keys) {
        assert_eq!(cold.unwrap(&kms, "k", m).await.expect("unwrap"), *k);
    }
    assert_eq!(kms.take(), (0, 1));
    // No keys, no call.
    assert!(w
        .wrap_batch(&kms, "k", &[])
        .await
        .expect("empty")
        .is_empty());
    assert_eq!(kms.take(), (0, 0));
}

#[tokio::test]
async fn keys_wrapped_one_by_one_are_cached_per_key() {
    let kms = Counting::new("plain-secret");
    let time = Time::new();
    let w = CachingWrapper::new(TTL, 1000).with_clock(time.clock());
    let keys = deks(3);
    let mut plain = Vec::new();
    for k in &keys {
        plain.push(kms.wrap("k", k).await.expect("wrap"));
    }
    kms.take();
    for _ in 0..3 {
        for (m, k) in plain.iter().zip(&keys) {
            assert_eq!(w.unwrap(&kms, "k", m).await.expect("unwrap"), *k);
        }
    }
    assert_eq!(
        kms.take(),
        (0, 3),
        "one call per key, then none within the TTL"
    );
    time.advance(TTL - Duration::from_millis(1));
    w.unwrap(&kms, "k", &plain[0]).await.expect("unwrap");
    assert_eq!(kms.take(), (0, 0));
    time.advance(Duration::from_millis(1));
    w.unwrap(&kms, "k", &plain[0]).await.expect("unwrap");
    assert_eq!(kms.take(), (0, 1), "expired: the KMS again");
    // Another key id is another KEK: never answered from this one's entries.
    w.unwrap(&kms, "other", &plain[0])
        .await
        .expect("local-kms ignores key ids");
    assert_eq!(kms.take(), (0, 1));
    // A TTL of zero caches nothing.
    let off = CachingWrapper::new(Duration::ZERO, 1000);
    let batch = off
        .wrap_batch(&kms, "k", &slices(&keys))
        .await
        .expect("wrap");
    for m in batch.iter().chain(&plain) {
        off.unwrap(&kms, "k", m).await.expect("unwrap");
    }
    assert_eq!(kms.take(), (1, 6));
    assert!(off.is_empty());
}

#[tokio::test]
async fn the_cache_is_bounded_and_clears() {
    let kms = Counting::new("bounded-secret");
    let w = CachingWrapper::new(TTL, 2);
    let keys = deks(5);
    for k in &keys {
        let m = kms.wrap("k", k).await.expect("wrap");
        w.unwrap(&kms, "k", &m).await.expect("unwrap");
        assert!(w.len() <= 2);
    }
    assert_eq!(w.len(), 2);
    w.clear();
    assert!(w.is_empty());
    // Expired entries leave when new ones come in.
    let time = Time::new();
    let w = CachingWrapper::new(TTL, 100).with_clock(time.clock());
    for k in &keys[..3] {
        let m = kms.wrap("k", k).await.expect("wrap");
        w.unwrap(&kms, "k", &m).await.expect("unwrap");
    }
    time.advance(TTL * 2);
    w.wrap_batch(&kms, "k", &slices(&keys[3..]))
        .await
        .expect("wrap");
    assert_eq!(w.len(), 1, "only the new batch key");
}

/// A shredded entity's stored material is deleted: neither the cache (warm with its
/// batch key) nor its batch siblings' materials give its key back, while the siblings
/// stay readable.
#[tokio::test]
async fn a_shredded_key_cannot_be_had_from_the_cache_or_its_siblings() {
    let kms = Counting::new("shred-secret");
    let w = CachingWrapper::new(TTL, 1000);
    let keys = deks(5);
    let wrapped = w.wrap_batch(&kms, "k", &slices(&keys)).await.expect("wrap");
    // The server's rows: entity -> stored material.
    let mut rows: BTreeMap<String, Vec<u8>> = wrapped
        .into_iter()
        .enumerate()
        .map(|(i, m)| (format!("user-{i}"), m))
        .collect();
    for m in rows.values() {
        w.unwrap(&kms, "k", m).await.expect("warm");
    }
    rows.remove("user-3");
    let shredded = &keys[3];
    for (entity, m) in &rows {
        let k = w.unwrap(&kms, "k", m).await.expect("sibling");
        assert_ne!(&k, shredded, "{entity}");
        assert!(!k.windows(32).any(|x| x == &shredded[2..]));
    }
    // Every other material's parts put together (a sibling's header and nonce with
    // another's sealed key) authenticate to nothing.
    let ms: Vec<&Vec<u8>> = rows.values().collect();
    let mut spliced = ms[0][..ms[0].len() - 50].to_vec();
    spliced.extend_from_slice(&ms[1][ms[1].len() - 50..]);
    assert!(matches!(
        w.unwrap(&kms, "k", &spliced).await,
        Err(KmsError::Unwrap(_))
    ));
    assert_eq!(kms.take(), (1, 0), "all from the cache");
}

#[tokio::test]
async fn tampered_or_foreign_material_is_refused() {
    let kms = Counting::new("tamper-secret");
    let w = CachingWrapper::new(TTL, 1000);
    let keys = deks(2);
    let wrapped = w.wrap_batch(&kms, "k", &slices(&keys)).await.expect("wrap");
    for i in 8..wrapped[0].len() {
        let mut t = wrapped[0].clone();
        t[i] ^= 1;
        let r = CachingWrapper::new(TTL, 10).unwrap(&kms, "k", &t).await;
        assert!(matches!(r, Err(KmsError::Unwrap(_))), "byte {i}: {r:?}");
    }
    // Another secret (another KEK) cannot unwrap the batch key.
    let other = Counting::new("another-secret");
    let r = CachingWrapper::new(TTL, 10)
        .unwrap(&other, "k", &wrapped[1])
        .await;
    assert!(matches!(r, Err(KmsError::Unwrap(_))), "{r:?}");
    // Nothing of the material shows in Debug output.
    let shown = format!("{w:?}");
    assert!(shown.contains("cached: 1"), "{shown}");
    assert!(!shown.contains(&format!("{:?}", &keys[0][2..6])), "{shown}");
}
