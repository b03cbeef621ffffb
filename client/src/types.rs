//! The data the registry client and the serializers share, and [`SchemaSource`]: the
//! seam between them. Serializers ask a `SchemaSource` for schemas; the HTTP
//! [`crate::registry::RegistryClient`] is the production implementation.

use crate::error::Result;
use accord_compat::SchemaFormat;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A reference from a schema to a subject version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A schema to register or look up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaSpec {
    pub format: Option<SchemaFormat>,
    pub schema: String,
    pub references: Vec<SchemaReference>,
    pub metadata: Option<serde_json::Value>,
    pub rule_set: Option<serde_json::Value>,
}

/// A schema as the registry stores it. `subject`/`version` are set when it was fetched
/// as a subject version.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredSchema {
    pub id: i32,
    pub guid: Option<String>,
    pub format: SchemaFormat,
    pub schema: String,
    pub references: Vec<SchemaReference>,
    pub metadata: Option<serde_json::Value>,
    pub rule_set: Option<serde_json::Value>,
    pub subject: Option<String>,
    pub version: Option<i32>,
}

/// Where serializers get schemas. Implementations cache: after warm-up, the
/// serialize and deserialize paths must not wait on the network.
#[allow(async_fn_in_trait)]
pub trait SchemaSource: Send + Sync {
    /// The schema with this global id.
    async fn schema_by_id(&self, id: i32) -> Result<Arc<RegisteredSchema>>;
    /// The schema with this GUID.
    async fn schema_by_guid(&self, guid: &str) -> Result<Arc<RegisteredSchema>>;
    /// Registers (or finds) `spec` under `subject`; returns its id.
    async fn register(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Arc<RegisteredSchema>>;
    /// The version of `subject` that holds `spec` (404 when it has none).
    async fn lookup(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Arc<RegisteredSchema>>;
    /// The latest version of `subject` (cached for a TTL).
    async fn latest(&self, subject: &str) -> Result<Arc<RegisteredSchema>>;
    /// The latest version of `subject` whose metadata properties contain all `pairs`.
    async fn latest_with_metadata(
        &self,
        subject: &str,
        pairs: &[(String, String)],
    ) -> Result<Arc<RegisteredSchema>>;
    /// One version of `subject`.
    async fn version(&self, subject: &str, version: i32) -> Result<Arc<RegisteredSchema>>;
}
