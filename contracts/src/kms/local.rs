//! `local-kms`: Confluent's development KMS (confluent-compat.md §8.3). The KEK is
//! HKDF-SHA256(salt = none, ikm = secret, info = empty, 16 bytes), and wrapping is Tink
//! AES-128-GCM RAW with empty associated data: IV(12) ‖ ciphertext ‖ tag(16). The same
//! secret therefore unwraps what Confluent's Java, Python and Go clients wrapped.

use super::{Kms, KmsError};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes128Gcm, Nonce};
use futures::future::BoxFuture;
use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// The environment variable Confluent's clients read the secret from.
pub const LOCAL_SECRET_ENV: &str = "LOCAL_SECRET";

/// The `local-kms` provider.
pub struct LocalKms {
    key: Zeroizing<[u8; 16]>,
}

impl fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKms")
            .field("key", &"<redacted>")
            .finish()
    }
}

impl LocalKms {
    /// A provider whose KEK derives from `secret`.
    pub fn new(secret: &str) -> Result<Self, KmsError> {
        if secret.is_empty() {
            return Err(KmsError::Config("local-kms secret is empty".to_owned()));
        }
        let mut key = Zeroizing::new([0u8; 16]);
        Hkdf::<Sha256>::new(None, secret.as_bytes())
            .expand(&[], key.as_mut())
            .map_err(|e| KmsError::Config(format!("local-kms key derivation: {e}")))?;
        Ok(LocalKms { key })
    }

    /// The secret from `LOCAL_SECRET`, if set.
    pub fn from_env() -> Result<Option<Self>, KmsError> {
        match std::env::var(LOCAL_SECRET_ENV) {
            Ok(s) => Self::new(&s).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The secret from a file (surrounding whitespace trimmed).
    pub fn from_file(path: &std::path::Path) -> Result<Self, KmsError> {
        let s = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            KmsError::Config(format!("local-kms secret file {}: {e}", path.display()))
        })?);
        Self::new(s.trim())
    }

    fn cipher(&self) -> Aes128Gcm {
        Aes128Gcm::new_from_slice(self.key.as_ref()).expect("16-byte key")
    }

    /// Synchronous wrap (the trait's future is ready at once).
    pub fn wrap_now(&self, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
        let nonce = Aes128Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher()
            .encrypt(&nonce, plaintext)
            .map_err(|_| KmsError::Config("local-kms encryption failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Synchronous unwrap.
    pub fn unwrap_now(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        if wrapped.len() < 12 + 16 {
            return Err(KmsError::Unwrap(format!(
                "{} bytes is shorter than IV and tag",
                wrapped.len()
            )));
        }
        let (iv, ct) = wrapped.split_at(12);
        self.cipher()
            .decrypt(Nonce::from_slice(iv), ct)
            .map(Zeroizing::new)
            .map_err(|_| {
                KmsError::Unwrap("does not authenticate under this local-kms secret".to_owned())
            })
    }
}

impl Kms for LocalKms {
    fn kms_type(&self) -> &str {
        "local-kms"
    }

    fn wrap<'a>(
        &'a self,
        _key_id: &'a str,
        plaintext: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, KmsError>> {
        let r = self.wrap_now(plaintext);
        Box::pin(async move { r })
    }

    fn unwrap<'a>(
        &'a self,
        _key_id: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, KmsError>> {
        let r = self.unwrap_now(wrapped);
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_a_dek_to_62_bytes_and_back() {
        let kms = LocalKms::new("mysecret").unwrap();
        let dek = [0x1Au8; 34];
        let w = kms.wrap_now(&dek).unwrap();
        assert_eq!(w.len(), 62);
        assert_eq!(kms.unwrap_now(&w).unwrap().as_slice(), &dek);
        let other = LocalKms::new("othersecret").unwrap();
        assert!(matches!(other.unwrap_now(&w), Err(KmsError::Unwrap(_))));
        // Neither the secret nor the key derived from it shows in Debug output.
        let shown = format!("{kms:?}");
        assert!(!shown.contains("mysecret"));
        let key = kms.key.as_ref();
        assert!(!shown.contains(&hex::encode(key)));
        assert!(!shown.contains(&format!("{key:?}")));
    }
}
