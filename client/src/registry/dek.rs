//! DEK-registry calls (confluent-compat.md §8) and Accord's per-entity keys, on the same
//! transport as the schema calls (headers, retries, fail-over).
//!
//! These are plain calls without caching: the `ENCRYPT` rule executor
//! ([`EncryptionExecutor`](crate::serdes::EncryptionExecutor)) caches the keys it
//! unwraps, with a TTL, and decides when to create. Key material is never printed:
//! `Debug` of every type here redacts it, and it is zeroized when dropped.
//!
//! A `410` with `error_code` 41070 (the key material was shredded) becomes
//! [`ClientError::Shredded`].

use super::http::encode;
use super::RegistryClient;
use crate::error::{ClientError, Result};
use base64::Engine;
use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// Accord's error code for "the key material was shredded" (HTTP 410).
pub const SHREDDED_ERROR_CODE: i64 = 41070;

/// A key-encryption key as the DEK registry describes it (the key itself stays in the KMS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kek {
    pub name: String,
    pub kms_type: String,
    pub kms_key_id: String,
    #[serde(default)]
    pub kms_props: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub ts: i64,
    #[serde(default)]
    pub deleted: bool,
}

/// `POST /dek-registry/v1/keks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKek {
    pub name: String,
    pub kms_type: String,
    pub kms_key_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kms_props: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    pub shared: bool,
}

/// `POST /dek-registry/v1/keks/{kek}/deks/{subject}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDek {
    pub subject: String,
    pub version: i32,
    pub algorithm: String,
    /// Base64 of the wrapped DEK; `None` for a shared KEK (the server generates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_key_material: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DekWire {
    kek_name: String,
    subject: String,
    #[serde(default = "one")]
    version: i32,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    encrypted_key_material: Option<String>,
    #[serde(default)]
    key_material: Option<String>,
    #[serde(default)]
    ts: i64,
    #[serde(default)]
    deleted: bool,
}

fn one() -> i32 {
    1
}

/// A DEK as the registry returns it: wrapped material, and the raw material (a Tink key
/// proto) only for a shared KEK.
#[derive(Clone)]
pub struct DekInfo {
    pub kek_name: String,
    pub subject: String,
    pub version: i32,
    pub algorithm: String,
    /// The wrapped key (decoded from base64).
    pub encrypted_key_material: Option<Vec<u8>>,
    /// The raw Tink key proto (decoded), shared KEKs only. Zeroized on drop.
    pub key_material: Option<Zeroizing<Vec<u8>>>,
    pub ts: i64,
    pub deleted: bool,
}

impl fmt::Debug for DekInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DekInfo")
            .field("kek_name", &self.kek_name)
            .field("subject", &self.subject)
            .field("version", &self.version)
            .field("algorithm", &self.algorithm)
            .field(
                "encrypted_key_material",
                &self.encrypted_key_material.as_ref().map(|m| m.len()),
            )
            .field(
                "key_material",
                &self.key_material.as_ref().map(|_| "<redacted>"),
            )
            .field("ts", &self.ts)
            .field("deleted", &self.deleted)
            .finish()
    }
}

impl TryFrom<DekWire> for DekInfo {
    type Error = ClientError;

    fn try_from(w: DekWire) -> Result<Self> {
        let key_material = match w.key_material.map(Zeroizing::new) {
            Some(m) => Some(Zeroizing::new(b64(&m, "keyMaterial")?)),
            None => None,
        };
        let encrypted_key_material = match &w.encrypted_key_material {
            Some(m) => Some(b64(m, "encryptedKeyMaterial")?),
            None => None,
        };
        Ok(DekInfo {
            kek_name: w.kek_name,
            subject: w.subject,
            version: w.version,
            algorithm: w.algorithm.unwrap_or_else(|| "AES256_GCM".to_owned()),
            encrypted_key_material,
            key_material,
            ts: w.ts,
            deleted: w.deleted,
        })
    }
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| ClientError::BadResponse(format!("{what} is not valid base64")))
}

/// One entity of an entity-keys request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityMaterial {
    pub entity: String,
    /// Base64 of a client-generated DEK wrapped by the client's KMS (non-shared KEK,
    /// `create: true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_key_material: Option<String>,
}

/// `POST /v1/entity-keys/{kek}/{subject}` (at most 1000 entities).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityKeysRequest {
    pub algorithm: String,
    /// Create keys for entities without one (writers); `false` looks up only (readers).
    pub create: bool,
    pub entities: Vec<EntityMaterial>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityKeyWire {
    entity: String,
    #[serde(default = "one")]
    version: i32,
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    encrypted_key_material: Option<String>,
    #[serde(default)]
    key_material: Option<String>,
    #[serde(default)]
    ts: i64,
}

#[derive(Deserialize)]
struct EntityKeysWire {
    #[serde(default)]
    keys: Vec<EntityKeyWire>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    shredded: Vec<String>,
}

/// One entity's key.
#[derive(Clone)]
pub struct EntityKey {
    pub entity: String,
    pub version: i32,
    pub algorithm: String,
    pub encrypted_key_material: Option<Vec<u8>>,
    /// Shared KEKs only. Zeroized on drop.
    pub key_material: Option<Zeroizing<Vec<u8>>>,
    pub ts: i64,
}

impl fmt::Debug for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityKey")
            .field("entity", &self.entity)
            .field("version", &self.version)
            .field("algorithm", &self.algorithm)
            .field(
                "key_material",
                &self.key_material.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The answer to an entity-keys request.
#[derive(Debug, Clone, Default)]
pub struct EntityKeys {
    pub keys: Vec<EntityKey>,
    /// Entities without a key (lookup only).
    pub missing: Vec<String>,
    /// Entities whose key was shredded (never re-created).
    pub shredded: Vec<String>,
}

impl RegistryClient {
    /// `GET /dek-registry/v1/keks/{name}` (with `deleted`, soft-deleted KEKs too).
    pub async fn kek(&self, name: &str, deleted: bool) -> Result<Kek> {
        let path = format!("/dek-registry/v1/keks/{}?deleted={deleted}", encode(name));
        self.inner.http.call_json(Method::GET, &path, None).await
    }

    /// `POST /dek-registry/v1/keks`.
    pub async fn create_kek(&self, kek: &CreateKek) -> Result<Kek> {
        let body = json_body(kek)?;
        self.inner
            .http
            .call_json(Method::POST, "/dek-registry/v1/keks", Some(body))
            .await
    }

    /// `GET /dek-registry/v1/keks/{kek}/deks/{subject}/versions/{version}`; `version`
    /// `None` is the latest (`-1`). With `deleted`, soft-deleted DEKs too (readers).
    pub async fn dek(
        &self,
        kek: &str,
        subject: &str,
        version: Option<i32>,
        algorithm: &str,
        deleted: bool,
    ) -> Result<DekInfo> {
        let path = format!(
            "/dek-registry/v1/keks/{}/deks/{}/versions/{}?algorithm={}&deleted={deleted}",
            encode(kek),
            encode(subject),
            version.unwrap_or(-1),
            encode(algorithm)
        );
        let wire: DekWire = self
            .inner
            .http
            .call_json(Method::GET, &path, None)
            .await
            .map_err(|e| shredded(e, subject))?;
        wire.try_into()
    }

    /// `POST /dek-registry/v1/keks/{kek}/deks/{subject}`.
    pub async fn create_dek(&self, kek: &str, dek: &CreateDek) -> Result<DekInfo> {
        let path = format!(
            "/dek-registry/v1/keks/{}/deks/{}",
            encode(kek),
            encode(&dek.subject)
        );
        let body = json_body(dek)?;
        let wire: DekWire = self
            .inner
            .http
            .call_json(Method::POST, &path, Some(body))
            .await
            .map_err(|e| shredded(e, &dek.subject))?;
        wire.try_into()
    }

    /// `POST /v1/entity-keys/{kek}/{subject}`: the per-entity keys of `subject` under
    /// `kek` (Accord only), created for the entities that have none when
    /// `request.create`.
    pub async fn entity_keys(
        &self,
        kek: &str,
        subject: &str,
        request: &EntityKeysRequest,
    ) -> Result<EntityKeys> {
        let path = format!("/v1/entity-keys/{}/{}", encode(kek), encode(subject));
        let body = json_body(request)?;
        let wire: EntityKeysWire = self
            .inner
            .http
            .call_json(Method::POST, &path, Some(body))
            .await
            .map_err(|e| shredded(e, subject))?;
        let mut keys = Vec::with_capacity(wire.keys.len());
        for k in wire.keys {
            let key_material = match k.key_material.map(Zeroizing::new) {
                Some(m) => Some(Zeroizing::new(b64(&m, "keyMaterial")?)),
                None => None,
            };
            let encrypted_key_material = match &k.encrypted_key_material {
                Some(m) => Some(b64(m, "encryptedKeyMaterial")?),
                None => None,
            };
            keys.push(EntityKey {
                entity: k.entity,
                version: k.version,
                algorithm: k.algorithm.unwrap_or_else(|| request.algorithm.clone()),
                encrypted_key_material,
                key_material,
                ts: k.ts,
            });
        }
        Ok(EntityKeys {
            keys,
            missing: wire.missing,
            shredded: wire.shredded,
        })
    }
}

fn json_body<T: Serialize>(value: &T) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| ClientError::Serialization(format!("request body: {e}")))
}

/// 410/41070 as [`ClientError::Shredded`] (of the whole subject: the server answers
/// shredded entities in the body of an entity-keys answer, not with a 410).
fn shredded(e: ClientError, subject: &str) -> ClientError {
    match e {
        ClientError::Registry {
            status: 410,
            error_code: SHREDDED_ERROR_CODE,
            ..
        } => ClientError::Shredded {
            subject: subject.to_owned(),
            entity: None,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dek_debug_redacts_material() {
        let w: DekWire = serde_json::from_str(
            r#"{"kekName":"k","subject":"s","version":2,"algorithm":"AES256_GCM",
                "encryptedKeyMaterial":"AAEC","keyMaterial":"c2VjcmV0c2VjcmV0","ts":5}"#,
        )
        .unwrap();
        let d = DekInfo::try_from(w).unwrap();
        assert_eq!(
            d.key_material.as_deref().map(Vec::as_slice),
            Some(&b"secretsecret"[..])
        );
        let dbg = format!("{d:?}");
        assert!(!dbg.contains("secret") && !dbg.contains("c2Vj"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn gone_41070_is_shredded() {
        let e = super::super::http::registry_error(
            410,
            br#"{"error_code":41070,"message":"Key material for s was shredded"}"#,
        );
        let e = shredded(e, "s");
        assert!(e.is_shredded(), "{e:?}");
        let e = super::super::http::registry_error(404, br#"{"error_code":40470,"message":"x"}"#);
        assert!(!shredded(e, "s").is_shredded());
    }
}
