//! DEK material and the field cipher (confluent-compat.md §8.3–§8.4).
//!
//! `keyMaterial` is the serialized Tink key proto, not the raw AES key: `1A 20` + 32
//! bytes for AES256_GCM (`AesGcmKey.key_value`, field 3), `1A 10` + 16 for AES128_GCM.
//! Field ciphertext is Tink RAW: nonce(12) ‖ ciphertext ‖ tag(16), optionally preceded by
//! `00 | version int32 BE` when DEK rotation is on.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, AeadInPlace, KeyInit, OsRng, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use std::fmt;
use zeroize::Zeroizing;

/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// `00 | int32 version`.
pub const VERSION_PREFIX_LEN: usize = 5;

/// Why DEK material or a ciphertext was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DekError {
    #[error("unsupported DEK algorithm '{0}' (supported: AES128_GCM, AES256_GCM)")]
    Algorithm(String),
    #[error("malformed DEK material: {0}")]
    Material(String),
    #[error("ciphertext too short ({0} bytes)")]
    Short(usize),
    #[error("ciphertext does not authenticate (tampered, moved to another field, or another key)")]
    Authentication,
}

/// A DEK algorithm (`algorithm` in the DEK registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DekAlgorithm {
    Aes128Gcm,
    #[default]
    Aes256Gcm,
    /// Deterministic; accepted by the registry but not by this cipher.
    Aes256Siv,
}

impl DekAlgorithm {
    /// Confluent's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DekAlgorithm::Aes128Gcm => "AES128_GCM",
            DekAlgorithm::Aes256Gcm => "AES256_GCM",
            DekAlgorithm::Aes256Siv => "AES256_SIV",
        }
    }

    /// Parses Confluent's spelling (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, DekError> {
        match s.to_ascii_uppercase().as_str() {
            "AES128_GCM" => Ok(DekAlgorithm::Aes128Gcm),
            "AES256_GCM" => Ok(DekAlgorithm::Aes256Gcm),
            "AES256_SIV" => Ok(DekAlgorithm::Aes256Siv),
            _ => Err(DekError::Algorithm(s.to_owned())),
        }
    }

    /// Raw AES key length.
    pub fn key_len(self) -> usize {
        match self {
            DekAlgorithm::Aes128Gcm => 16,
            DekAlgorithm::Aes256Gcm => 32,
            DekAlgorithm::Aes256Siv => 64,
        }
    }

    /// The Tink proto field number of `key_value`.
    fn tink_field_tag(self) -> u8 {
        match self {
            DekAlgorithm::Aes256Siv => 0x12,
            _ => 0x1A,
        }
    }
}

impl fmt::Display for DekAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DEK in clear: zeroized on drop, never printed.
#[derive(Clone)]
pub struct Dek {
    algorithm: DekAlgorithm,
    key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dek")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Dek {
    /// A fresh random DEK.
    pub fn generate(algorithm: DekAlgorithm) -> Result<Self, DekError> {
        let key = match algorithm {
            DekAlgorithm::Aes128Gcm => Aes128Gcm::generate_key(OsRng).to_vec(),
            DekAlgorithm::Aes256Gcm => Aes256Gcm::generate_key(OsRng).to_vec(),
            DekAlgorithm::Aes256Siv => return Err(DekError::Algorithm(algorithm.to_string())),
        };
        Ok(Dek {
            algorithm,
            key: Zeroizing::new(key),
        })
    }

    /// Reads `keyMaterial` (the serialized Tink key proto).
    pub fn from_tink(algorithm: DekAlgorithm, material: &[u8]) -> Result<Self, DekError> {
        if algorithm == DekAlgorithm::Aes256Siv {
            return Err(DekError::Algorithm(algorithm.to_string()));
        }
        let mut rest = material;
        let mut key: Option<Zeroizing<Vec<u8>>> = None;
        // version (field 1, varint) may be present; key_value is length-delimited.
        while let Some((&tag, tail)) = rest.split_first() {
            match tag {
                0x08 => {
                    let n = tail
                        .iter()
                        .position(|b| b & 0x80 == 0)
                        .ok_or_else(|| DekError::Material("truncated version varint".to_owned()))?;
                    rest = &tail[n + 1..];
                }
                t if t == algorithm.tink_field_tag() => {
                    let (&len, tail) = tail
                        .split_first()
                        .ok_or_else(|| DekError::Material("truncated key length".to_owned()))?;
                    let len = len as usize;
                    if len >= 0x80 || tail.len() < len {
                        return Err(DekError::Material("truncated key value".to_owned()));
                    }
                    key = Some(Zeroizing::new(tail[..len].to_vec()));
                    rest = &tail[len..];
                }
                other => {
                    return Err(DekError::Material(format!(
                        "unexpected field tag 0x{other:02x} in {algorithm} key proto"
                    )))
                }
            }
        }
        let key = key.ok_or_else(|| DekError::Material("no key_value".to_owned()))?;
        if key.len() != algorithm.key_len() {
            return Err(DekError::Material(format!(
                "{algorithm} key must be {} bytes, got {}",
                algorithm.key_len(),
                key.len()
            )));
        }
        Ok(Dek { algorithm, key })
    }

    /// `keyMaterial`: the serialized Tink key proto (proto3 omits `version = 0`).
    pub fn to_tink(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(2 + self.key.len()));
        out.push(self.algorithm.tink_field_tag());
        out.push(self.key.len() as u8);
        out.extend_from_slice(&self.key);
        out
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DekAlgorithm {
        self.algorithm
    }

    /// Encrypts with a fresh random nonce: nonce ‖ ciphertext ‖ tag. `aad` is the
    /// associated data (empty in Confluent's clients).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, DekError> {
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let (nonce, ct) = match self.algorithm {
            DekAlgorithm::Aes128Gcm => {
                let c = Aes128Gcm::new_from_slice(&self.key)
                    .map_err(|_| DekError::Material("key length".to_owned()))?;
                let n = Aes128Gcm::generate_nonce(&mut OsRng);
                (n, c.encrypt(&n, payload))
            }
            DekAlgorithm::Aes256Gcm => {
                let c = Aes256Gcm::new_from_slice(&self.key)
                    .map_err(|_| DekError::Material("key length".to_owned()))?;
                let n = Aes256Gcm::generate_nonce(&mut OsRng);
                (n, c.encrypt(&n, payload))
            }
            DekAlgorithm::Aes256Siv => return Err(DekError::Algorithm(self.algorithm.to_string())),
        };
        let ct = ct.map_err(|_| DekError::Authentication)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts nonce ‖ ciphertext ‖ tag.
    pub fn decrypt(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, DekError> {
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(DekError::Short(data.len()));
        }
        let (nonce, ct) = data.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        let payload = Payload { msg: ct, aad };
        let out = match self.algorithm {
            DekAlgorithm::Aes128Gcm => Aes128Gcm::new_from_slice(&self.key)
                .map_err(|_| DekError::Material("key length".to_owned()))?
                .decrypt(nonce, payload),
            DekAlgorithm::Aes256Gcm => Aes256Gcm::new_from_slice(&self.key)
                .map_err(|_| DekError::Material("key length".to_owned()))?
                .decrypt(nonce, payload),
            DekAlgorithm::Aes256Siv => return Err(DekError::Algorithm(self.algorithm.to_string())),
        };
        out.map_err(|_| DekError::Authentication)
    }
}

/// A [`Dek`]'s AES-GCM cipher, its key schedule computed once: for sealing and opening
/// many values with one key, each then costing the AEAD alone. Same layout, nonces and
/// errors as [`Dek::encrypt`] and [`Dek::decrypt`]. Never printed.
#[derive(Clone)]
pub struct DekCipher(Cipher);

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl fmt::Debug for DekCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DekCipher(<redacted>)")
    }
}

impl Dek {
    /// The cipher of this key, to keep for many values.
    pub fn cipher(&self) -> Result<DekCipher, DekError> {
        let bad = |_| DekError::Material("key length".to_owned());
        Ok(DekCipher(match self.algorithm {
            DekAlgorithm::Aes128Gcm => {
                Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(&self.key).map_err(bad)?))
            }
            DekAlgorithm::Aes256Gcm => {
                Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(&self.key).map_err(bad)?))
            }
            DekAlgorithm::Aes256Siv => return Err(DekError::Algorithm(self.algorithm.to_string())),
        }))
    }
}

/// Random nonces drawn from the operating system several at a time (one system call for
/// the fields of a record instead of one per field), each handed out once. Keep one per
/// record (or task); never share or copy it, never persist it.
pub struct Nonces {
    buf: [u8; NONCE_LEN * Nonces::BATCH],
    next: usize,
}

impl Nonces {
    const BATCH: usize = 8;

    /// An empty batch: the first nonce taken draws the batch.
    pub fn new() -> Self {
        Nonces {
            buf: [0; NONCE_LEN * Nonces::BATCH],
            next: Nonces::BATCH,
        }
    }

    fn take(&mut self) -> [u8; NONCE_LEN] {
        if self.next == Nonces::BATCH {
            OsRng.fill_bytes(&mut self.buf);
            self.next = 0;
        }
        let mut n = [0; NONCE_LEN];
        let at = self.next * NONCE_LEN;
        n.copy_from_slice(&self.buf[at..at + NONCE_LEN]);
        self.next += 1;
        n
    }
}

impl Default for Nonces {
    fn default() -> Self {
        Self::new()
    }
}

impl DekCipher {
    /// [`Dek::encrypt`]: nonce ‖ ciphertext ‖ tag, with a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, DekError> {
        self.encrypt_with(&mut Nonces::new(), plaintext, aad)
    }

    /// [`Self::encrypt`], with the nonce taken from `nonces`.
    pub fn encrypt_with(
        &self,
        nonces: &mut Nonces,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, DekError> {
        let nonce = nonces.take();
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let n = Nonce::from_slice(&nonce);
        let body = &mut out[NONCE_LEN..];
        let tag = match &self.0 {
            Cipher::Aes128(c) => c.encrypt_in_place_detached(n, aad, body),
            Cipher::Aes256(c) => c.encrypt_in_place_detached(n, aad, body),
        }
        .map_err(|_| DekError::Authentication)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// [`Dek::decrypt`]: opens nonce ‖ ciphertext ‖ tag.
    pub fn decrypt(&self, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, DekError> {
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(DekError::Short(data.len()));
        }
        let (nonce, rest) = data.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = Nonce::from_slice(nonce);
        let tag = Tag::from_slice(tag);
        let mut out = ct.to_vec();
        match &self.0 {
            Cipher::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, &mut out, tag),
            Cipher::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, &mut out, tag),
        }
        .map_err(|_| DekError::Authentication)?;
        Ok(out)
    }
}

/// Prefixes `00 | version int32 BE` (DEK rotation on).
pub fn versioned(version: i32, ciphertext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VERSION_PREFIX_LEN + ciphertext.len());
    out.push(0);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(ciphertext);
    out
}

/// Splits `00 | version | rest`; `None` if the first byte is not 0 or the data is short.
pub fn parse_versioned(data: &[u8]) -> Option<(i32, &[u8])> {
    if data.len() < VERSION_PREFIX_LEN || data[0] != 0 {
        return None;
    }
    let v = i32::from_be_bytes([data[1], data[2], data[3], data[4]]);
    Some((v, &data[VERSION_PREFIX_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tink_material_round_trips_and_matches_confluent_layout() {
        let dek = Dek::generate(DekAlgorithm::Aes256Gcm).unwrap();
        let m = dek.to_tink();
        assert_eq!(&m[..2], &[0x1A, 0x20]);
        assert_eq!(m.len(), 34);
        let back = Dek::from_tink(DekAlgorithm::Aes256Gcm, &m).unwrap();
        assert_eq!(back.to_tink().as_slice(), m.as_slice());
        // A version field (08 00) is tolerated.
        let mut with_version = vec![0x08, 0x00];
        with_version.extend_from_slice(&m);
        assert!(Dek::from_tink(DekAlgorithm::Aes256Gcm, &with_version).is_ok());
        assert!(Dek::from_tink(DekAlgorithm::Aes128Gcm, &m).is_err());
        assert!(format!("{dek:?}").contains("redacted"));
    }

    #[test]
    fn field_cipher_layout_aad_and_tamper() {
        let dek = Dek::generate(DekAlgorithm::Aes256Gcm).unwrap();
        let a = dek.encrypt(b"123-45-6789", b"").unwrap();
        let b = dek.encrypt(b"123-45-6789", b"").unwrap();
        assert_eq!(a.len(), 11 + NONCE_LEN + TAG_LEN);
        assert_ne!(a, b, "fresh nonce each time");
        assert_eq!(dek.decrypt(&a, b"").unwrap(), b"123-45-6789");
        let bound = dek.encrypt(b"x", b"orders-value\0ssn").unwrap();
        assert_eq!(
            dek.decrypt(&bound, b"orders-value\0email"),
            Err(DekError::Authentication)
        );
        for i in 0..a.len() {
            let mut t = a.clone();
            t[i] ^= 1;
            assert_eq!(
                dek.decrypt(&t, b""),
                Err(DekError::Authentication),
                "byte {i}"
            );
        }
        let v = versioned(2, &a);
        assert_eq!(&v[..5], &[0, 0, 0, 0, 2]);
        assert_eq!(parse_versioned(&v), Some((2, a.as_slice())));
    }

    /// A cipher made once seals and opens as the DEK does, both ways.
    #[test]
    fn cipher_matches_the_dek() {
        for alg in [DekAlgorithm::Aes128Gcm, DekAlgorithm::Aes256Gcm] {
            let dek = Dek::generate(alg).unwrap();
            let c = dek.cipher().unwrap();
            let mut nonces = Nonces::new();
            let mut seen = std::collections::HashSet::new();
            for (pt, aad) in [
                (&b""[..], &b""[..]),
                (&b"123-45-6789"[..], &b"s\0f"[..]),
                (&[7u8; 100][..], &b""[..]),
            ] {
                for _ in 0..10 {
                    let ct = c.encrypt_with(&mut nonces, pt, aad).unwrap();
                    assert_eq!(ct.len(), NONCE_LEN + pt.len() + TAG_LEN);
                    assert!(seen.insert(ct[..NONCE_LEN].to_vec()), "a nonce used twice");
                    assert_eq!(dek.decrypt(&ct, aad).unwrap(), pt);
                    assert_eq!(c.decrypt(&ct, aad).unwrap(), pt);
                    assert_eq!(c.decrypt(&ct, b"other"), Err(DekError::Authentication));
                }
                let ct = dek.encrypt(pt, aad).unwrap();
                assert_eq!(c.decrypt(&ct, aad).unwrap(), pt);
                assert_eq!(c.encrypt(pt, aad).map(|v| v.len()), Ok(ct.len()));
            }
            let ct = c.encrypt(b"x", b"").unwrap();
            for i in 0..ct.len() {
                let mut t = ct.clone();
                t[i] ^= 1;
                assert_eq!(
                    c.decrypt(&t, b""),
                    Err(DekError::Authentication),
                    "byte {i}"
                );
            }
            assert_eq!(c.decrypt(&ct[..27], b""), Err(DekError::Short(27)));
            assert!(format!("{c:?}").contains("redacted"));
        }
    }
}
