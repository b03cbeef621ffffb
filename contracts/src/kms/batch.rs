//! Fewer KMS calls for keys a service wraps and releases in bulk (a shared KEK's
//! per-entity DEKs, which the server makes and releases): [`CachingWrapper`].
//!
//! # Batches: one KMS call, keys wrapped under a batch key
//!
//! AWS KMS (like GCP's and Azure's) has no batch Encrypt: wrapping N new DEKs one by
//! one is N remote calls. [`CachingWrapper::wrap_batch`] makes one fresh random
//! AES-256 *batch key*, wraps it with the KMS (the one call), and wraps each DEK
//! locally under it with AES-256-GCM. Each key's material is self-contained:
//!
//! ```text
//! "\0ACCBK1\0" | len(W) u16 BE | W = KMS-wrapped batch key | nonce(12) | AES-GCM(batch key, DEK) | tag(16)
//! ```
//!
//! with `"\0ACCBK1\0" | len | W` as the associated data. Unwrapping needs the KMS for `W`
//! (as before: whoever cannot reach the KEK cannot read any key), then local AES-GCM.
//!
//! Entity keys stay **independent random keys**, only wrapped under the batch key; they
//! are never *derived* from it (say HKDF(batch key, entity)). Crypto-shredding deletes one
//! entity's row: its wrapped DEK goes with it, while its batch siblings keep `W`. Had the
//! DEK been derived, anyone able to unwrap a sibling's `W` could derive the shredded
//! entity's key again; wrapped, they recover only the batch key, which decrypts nothing
//! that still exists.
//!
//! A local KMS makes no remote call at all; it gets the same layout (one code path, and
//! the counting tests prove the call count on it). Material without the prefix is a
//! plain KMS ciphertext (keys wrapped one by one, and Confluent's DEKs) and is unwrapped
//! as such; a plain ciphertext that happened to start with the 8-byte prefix and not
//! parse as a batch material is unwrapped as plain too.
//!
//! # Cache: releases within a TTL make no KMS call
//!
//! What the KMS unwrapped (a batch key, or a DEK wrapped alone) is kept for a short,
//! configurable TTL, at most `capacity` entries, keyed by the wrapped bytes with the
//! KMS type and key id. So the releases of a batch's keys, and repeated releases of one
//! key, within the TTL cost no KMS call. Keying by the wrapped form means the cache can
//! only serve what a caller presents the wrapped material of: a key whose stored
//! material was destroyed (crypto-shredded) cannot be asked for, from any node. Entries
//! are zeroized when they expire, are evicted or cleared, and when the cache is dropped;
//! `Debug` shows only counts. The TTL is also how long a disabled or revoked KEK keeps
//! serving keys it unwrapped before: keep it short (seconds to a minute); zero turns the
//! cache off.

use super::{Kms, KmsError};
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The first bytes of a batch-wrapped key's material.
pub const BATCH_MAGIC: &[u8; 8] = b"\0ACCBK1\0";
const NONCE: usize = 12;
const TAG: usize = 16;
const BATCH_KEY: usize = 32;

/// Where [`CachingWrapper`] reads the time (the system's monotonic clock unless set).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Wraps new keys a batch at a time with one KMS call, and caches what the KMS unwrapped
/// for a short TTL (see the module doc). Share one per process (it is `Sync`).
pub struct CachingWrapper {
    ttl: Duration,
    capacity: usize,
    clock: Clock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Vec<u8>, Entry>,
    /// Keys by insertion, oldest first, with the insertion time they were stored at (a
    /// key stored again has a newer record; the older one is then stale).
    order: VecDeque<(Vec<u8>, Instant)>,
}

struct Entry {
    material: Zeroizing<Vec<u8>>,
    born: Instant,
}

impl fmt::Debug for CachingWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingWrapper")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("cached", &self.len())
            .finish_non_exhaustive()
    }
}

impl CachingWrapper {
    /// A wrapper caching unwrapped material for `ttl` (zero: no caching), at most
    /// `capacity` entries.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        CachingWrapper {
            ttl,
            capacity,
            clock: Arc::new(Instant::now),
            state: Mutex::new(State::default()),
        }
    }

    /// Reads the time from `clock` (tests move time forward instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Entries held (expired ones included until they are next looked at or pushed out).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops (and zeroizes) everything cached.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.entries.clear();
        s.order.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wraps each of `plaintexts` (serialized DEKs) under the KEK `key_id` of `kms`, with
    /// one KMS call for all of them (none for an empty list). The batch key is cached,
    /// so releasing these keys within the TTL needs no KMS call either.
    pub async fn wrap_batch(
        &self,
        kms: &dyn Kms,
        key_id: &str,
        plaintexts: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, KmsError> {
        if plaintexts.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch_key = Zeroizing::new([0u8; BATCH_KEY]);
        OsRng.fill_bytes(batch_key.as_mut());
        let wrapped = kms.wrap(key_id, batch_key.as_ref()).await?;
        let header = header(&wrapped)?;
        let cipher = Aes256Gcm::new_from_slice(batch_key.as_ref())
            .map_err(|_| KmsError::Config("batch key length".to_owned()))?;
        let mut out = Vec::with_capacity(plaintexts.len());
        for pt in plaintexts {
            let mut nonce = [0u8; NONCE];
            OsRng.fill_bytes(&mut nonce);
            let ct = cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: pt,
                        aad: &header,
                    },
                )
                .map_err(|_| KmsError::Config("batch key wrapping failed".to_owned()))?;
            let mut m = Vec::with_capacity(header.len() + NONCE + ct.len());
            m.extend_from_slice(&header);
            m.extend_from_slice(&nonce);
            m.extend_from_slice(&ct);
            out.push(m);
        }
        self.insert(
            cache_key(kms, key_id, &wrapped),
            Zeroizing::new(batch_key.to_vec()),
        );
        Ok(out)
    }

    /// Unwraps `material` made by [`Self::wrap_batch`] or by a plain [`Kms::wrap`]: from
    /// the cache when what the KMS would unwrap is there, else with one KMS call (whose
    /// answer is then cached).
    pub async fn unwrap(
        &self,
        kms: &dyn Kms,
        key_id: &str,
        material: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        match parse(material) {
            Some(batch) => {
                let key = self.kms_unwrap(kms, key_id, batch.wrapped).await?;
                let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| {
                    KmsError::Unwrap("the batch key has the wrong length".to_owned())
                })?;
                cipher
                    .decrypt(
                        Nonce::from_slice(batch.nonce),
                        Payload {
                            msg: batch.sealed,
                            aad: batch.header,
                        },
                    )
                    .map(Zeroizing::new)
                    .map_err(|_| {
                        KmsError::Unwrap("the key does not authenticate under its batch key".into())
                    })
            }
            None => self.kms_unwrap(kms, key_id, material).await,
        }
    }

    async fn kms_unwrap(
        &self,
        kms: &dyn Kms,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let key = cache_key(kms, key_id, wrapped);
        if let Some(hit) = self.get(&key) {
            return Ok(hit);
        }
        let clear = kms.unwrap(key_id, wrapped).await?;
        self.insert(key, clear.clone());
        Ok(clear)
    }

    fn get(&self, key: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let now = (self.clock)();
        let mut s = self.lock();
        match s.entries.get(key) {
            Some(e) if now.saturating_duration_since(e.born) < self.ttl => Some(e.material.clone()),
            Some(_) => {
                s.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: Vec<u8>, material: Zeroizing<Vec<u8>>) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = (self.clock)();
        let mut s = self.lock();
        s.order.push_back((key.clone(), now));
        s.entries.insert(
            key,
            Entry {
                material,
                born: now,
            },
        );
        // Oldest first: expired ones, then any beyond the capacity.
        while let Some((k, born)) = s.order.front() {
            let expired = now.saturating_duration_since(*born) >= self.ttl;
            if !expired && s.entries.len() <= self.capacity {
                break;
            }
            let (k, born) = (k.clone(), *born);
            s.order.pop_front();
            // A stale record (the key was stored again since) leaves the entry alone.
            if s.entries.get(&k).is_some_and(|e| e.born == born) {
                s.entries.remove(&k);
            }
        }
    }
}

/// The cache key: KMS type and key id (length-prefixed) and the wrapped bytes.
fn cache_key(kms: &dyn Kms, key_id: &str, wrapped: &[u8]) -> Vec<u8> {
    let t = kms.kms_type().as_bytes();
    let mut k = Vec::with_capacity(8 + t.len() + key_id.len() + wrapped.len());
    k.extend_from_slice(&(t.len() as u32).to_be_bytes());
    k.extend_from_slice(t);
    k.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
    k.extend_from_slice(key_id.as_bytes());
    k.extend_from_slice(wrapped);
    k
}

/// `magic | len(W) | W`: the prefix of every key of a batch, and their associated data.
fn header(wrapped: &[u8]) -> Result<Vec<u8>, KmsError> {
    let len = u16::try_from(wrapped.len()).map_err(|_| {
        KmsError::Config(format!(
            "the KMS wrapped a batch key into {} bytes (at most 65535)",
            wrapped.len()
        ))
    })?;
    let mut h = Vec::with_capacity(BATCH_MAGIC.len() + 2 + wrapped.len());
    h.extend_from_slice(BATCH_MAGIC);
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(wrapped);
    Ok(h)
}

struct BatchMaterial<'a> {
    header: &'a [u8],
    wrapped: &'a [u8],
    nonce: &'a [u8],
    sealed: &'a [u8],
}

/// Splits batch material; `None` for anything else (a plain KMS ciphertext).
fn parse(material: &[u8]) -> Option<BatchMaterial<'_>> {
    let rest = material.strip_prefix(BATCH_MAGIC.as_slice())?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len + NONCE + TAG {
        return None;
    }
    let header_len = BATCH_MAGIC.len() + 2 + len;
    let (wrapped, rest) = rest.split_at(len);
    let (nonce, sealed) = rest.split_at(NONCE);
    Some(BatchMaterial {
        header: &material[..header_len],
        wrapped,
        nonce,
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_material_layout() {
        let h = header(&[9; 62]).unwrap();
        assert_eq!(&h[..8], BATCH_MAGIC);
        assert_eq!(&h[8..10], &[0, 62]);
        let mut m = h.clone();
        m.extend_from_slice(&[1; NONCE]);
        m.extend_from_slice(&[2; 34 + TAG]);
        let p = parse(&m).expect("parses");
        assert_eq!(p.header, h.as_slice());
        assert_eq!(p.wrapped, &[9; 62]);
        assert_eq!(p.nonce, &[1; NONCE]);
        assert_eq!(p.sealed.len(), 34 + TAG);
        // Too short, or without the prefix: a plain KMS ciphertext.
        assert!(parse(&m[..h.len() + NONCE + TAG - 1]).is_none());
        assert!(parse(&[7; 100]).is_none());
        assert!(parse(BATCH_MAGIC).is_none());
    }
}
