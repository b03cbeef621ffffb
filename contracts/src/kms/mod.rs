//! Key management for field-level encryption (confluent-compat.md §8.3, design.md Keys).
//!
//! * A KEK (key-encryption key) lives in a KMS and never leaves it; Accord only knows its
//!   `kmsType` and `kmsKeyId`. A [`Kms`] wraps and unwraps DEKs with it.
//! * A DEK (data-encryption key, [`Dek`]) encrypts field values. It is stored wrapped
//!   (`encryptedKeyMaterial`) and, in clear, exists only in memory, zeroized on drop and
//!   redacted from `Debug`.
//!
//! [`CachingWrapper`] makes bulk wrapping and releasing cheap: one KMS call per batch of
//! new keys, and a short-lived cache of what the KMS unwrapped.
//!
//! Providers: [`local::LocalKms`] (Confluent's `local-kms`: a secret from configuration,
//! the `LOCAL_SECRET` environment variable or a file) and [`aws::AwsKms`] (the AWS KMS
//! JSON API, signed with SigV4). The trait is two calls so that Vault Transit, GCP and
//! Azure providers can follow without touching callers.

pub mod aws;
mod batch;
mod dek;
pub mod local;

pub use batch::{CachingWrapper, Clock, BATCH_MAGIC};

pub use dek::{
    parse_versioned, versioned, Dek, DekAlgorithm, DekCipher, DekError, Nonces, NONCE_LEN, TAG_LEN,
    VERSION_PREFIX_LEN,
};

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why a KMS call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The provider is misconfigured or the key id is malformed.
    #[error("KMS configuration: {0}")]
    Config(String),
    /// No provider is registered for this `kmsType`.
    #[error("no KMS provider for kmsType '{0}'")]
    UnknownType(String),
    /// The KMS could not be reached or answered with a server error.
    #[error("KMS unavailable: {0}")]
    Unavailable(String),
    /// The KMS refused: credentials, permissions, or a disabled/unknown key.
    #[error("KMS refused: {0}")]
    Refused(String),
    /// The wrapped key did not authenticate under this KEK.
    #[error("wrapped key material could not be unwrapped: {0}")]
    Unwrap(String),
}

/// One KMS provider: wraps and unwraps DEK material with the KEK named by `key_id`
/// (the `kmsKeyId` of a KEK, e.g. `arn:aws:kms:...` for `aws-kms`).
pub trait Kms: Send + Sync + fmt::Debug {
    /// The `kmsType` served, normalized (`local-kms`, `aws-kms`, ...).
    fn kms_type(&self) -> &str;

    /// Encrypts `plaintext` (a serialized DEK) under the KEK `key_id`.
    fn wrap<'a>(
        &'a self,
        key_id: &'a str,
        plaintext: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, KmsError>>;

    /// Decrypts what [`Kms::wrap`] returned.
    fn unwrap<'a>(
        &'a self,
        key_id: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, KmsError>>;
}

/// Confluent's `kmsType` normalization: values starting with `aws`, `azure` or `gcp`
/// (any case) become `aws-kms`, `azure-kms`, `gcp-kms`; others are kept as given.
pub fn normalize_kms_type(kms_type: &str) -> String {
    let lower = kms_type.to_ascii_lowercase();
    for p in ["aws", "azure", "gcp"] {
        if lower.starts_with(p) {
            return format!("{p}-kms");
        }
    }
    kms_type.to_owned()
}

/// Confluent's minimal `kmsKeyId` check for a normalized `kmsType`; `Err` says what is wrong.
pub fn check_kms_key_id(kms_type: &str, key_id: &str) -> Result<(), String> {
    let ok = match kms_type {
        "aws-kms" => key_id.starts_with("arn:aws:kms:"),
        "azure-kms" => key_id.starts_with("https://"),
        "gcp-kms" => key_id.starts_with("projects/"),
        "hcvault" => key_id.starts_with("http://") || key_id.starts_with("https://"),
        _ => !key_id.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "kmsKeyId '{key_id}' is not a valid key id for kmsType '{kms_type}'"
        ))
    }
}

/// The providers a process can use, by normalized `kmsType`.
#[derive(Clone, Default)]
pub struct KmsRegistry {
    providers: HashMap<String, Arc<dyn Kms>>,
}

impl fmt::Debug for KmsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<&String> = self.providers.keys().collect();
        types.sort();
        f.debug_struct("KmsRegistry")
            .field("types", &types)
            .finish()
    }
}

impl KmsRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the provider for its `kmsType`.
    pub fn with(mut self, kms: Arc<dyn Kms>) -> Self {
        self.register(kms);
        self
    }

    /// Adds (or replaces) the provider for its `kmsType`.
    pub fn register(&mut self, kms: Arc<dyn Kms>) {
        self.providers
            .insert(normalize_kms_type(kms.kms_type()), kms);
    }

    /// The provider for `kms_type` (normalized first).
    pub fn get(&self, kms_type: &str) -> Result<Arc<dyn Kms>, KmsError> {
        let t = normalize_kms_type(kms_type);
        self.providers
            .get(&t)
            .cloned()
            .ok_or(KmsError::UnknownType(t))
    }

    /// Whether no provider is registered.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}
