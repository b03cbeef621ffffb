//! Public types of the registry API that are not schemas: compatibility checks, the
//! compatibility configuration and the version a check runs against. (Schemas
//! themselves are the crate's shared [`crate::RegisteredSchema`] and
//! [`crate::SchemaSpec`].)

use accord_compat::CompatibilityLevel;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which existing versions a compatibility test compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompatibilityTarget {
    /// The latest version (`POST /compatibility/subjects/{s}/versions/latest`); a
    /// subject without versions is compatible.
    #[default]
    Latest,
    /// One version (`.../versions/{n}`).
    Version(i32),
    /// Every version the subject's level compares with (`.../versions`).
    AllVersions,
}

/// The verdict of a compatibility test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatibilityCheck {
    pub is_compatible: bool,
    /// Why not (and, from Confluent 7+, the compared version and level); only filled
    /// when the test ran with `verbose`.
    pub messages: Vec<String>,
    /// Accord's structured findings (kind, path, version, direction) beside Confluent's
    /// strings; empty from a Confluent registry.
    pub incompatibilities: Vec<accord_compat::Incompatibility>,
    /// What Accord's stricter checks say about the schema; empty from Confluent.
    pub warnings: Vec<accord_compat::Warning>,
}

/// The `/config` resource, global or per subject. Reading accepts both of Confluent's
/// spellings of the level (`compatibilityLevel` from GET, `compatibility` from PUT);
/// writing is a partial update: only the fields that are `Some` (and those in `other`)
/// change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompatibilityConfig {
    #[serde(alias = "compatibility", skip_serializing_if = "Option::is_none")]
    pub compatibility_level: Option<CompatibilityLevel>,
    /// `STRICT`, `LENIENT` (JSON Schema) or `LOGICAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility_policy: Option<String>,
    /// The metadata property that partitions versions into compatibility groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibility_group: Option<String>,
    /// Normalize every schema registered under this config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate_fields: Option<bool>,
    /// Another subject this one is an alias of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_rule_set: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_rule_set: Option<Value>,
    /// Every other key the registry sends (`validateRules`, `aliasForDeks`, ...), kept
    /// as is and sent back on update.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl CompatibilityConfig {
    /// An update that sets only the compatibility level.
    pub fn level(level: CompatibilityLevel) -> Self {
        CompatibilityConfig {
            compatibility_level: Some(level),
            ..Default::default()
        }
    }
}
