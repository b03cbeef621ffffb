//! The parts of an Open Data Contract Standard (ODCS) v3.1.0 document that Accord reads,
//! as plain serde types.
//!
//! Every object keeps the keys it does not model in `other`, so a contract written for
//! another ODCS tool (with `servers`, `price`, `relationships`, `authoritativeDefinitions`
//! and so on) survives a round trip through Accord unchanged. ODCS itself forbids keys
//! outside the standard (`additionalProperties: false`), so [`Contract::validate`]
//! reports a key of `other` that is not an ODCS key of that object: usually a typo such as
//! `slaProperty`. Each type lists the ODCS keys it leaves in `other` in `ODCS_OTHER_KEYS`.
//!
//! Field names follow the standard (camelCase on the wire). Booleans that ODCS defaults to
//! `false` are omitted when false, so an exported document stays as short as the input.
//!
//! [`Contract::validate`]: crate::Contract::validate

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Keys of an object that Accord keeps but does not interpret.
pub type Other = Map<String, Value>;

/// The `apiVersion` Accord writes.
pub const ODCS_API_VERSION: &str = "v3.1.0";

/// The `apiVersion` values Accord reads: the v3 line, whose shape it models.
pub const ODCS_READABLE_API_VERSIONS: &[&str] = &["v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0"];

/// `description` at the document root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl Description {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] =
        &["authoritativeDefinitions", "customProperties"];
}

/// A generic ODCS custom property (`{property, value}`) anywhere but Accord's own
/// `accord.*` entries at the root, which [`crate::AccordProperties`] types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomProperty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub property: String,
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl CustomProperty {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &[];
}

/// One element of `schema[]`: a table, topic or other dataset (ODCS `SchemaObject`).
/// For Accord, usually the record carried by a stream's value subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Required by ODCS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Always `object` for a schema object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_type: Option<String>,
    /// e.g. `topic`, `table`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<SchemaProperty>,
    /// ODCS data-quality checks, kept as written (Accord runs Confluent `ruleSet` rules,
    /// see `accord.ruleSet`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_properties: Vec<CustomProperty>,
    #[serde(flatten)]
    pub other: Other,
}

impl SchemaObject {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &[
        "dataGranularityDescription",
        "relationships",
        "authoritativeDefinitions",
    ];
}

/// A field of a schema object (ODCS `SchemaProperty`); nested objects have `properties`,
/// arrays have `items`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaProperty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Required by ODCS (except on `items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One of [`LOGICAL_TYPES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_name: Option<String>,
    /// Free classification (`public`, `restricted`, `confidential`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Field tags such as `PII`; the same names as Confluent's `confluent:tags`, which
    /// `accord.encryption` selects fields by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary_key: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<SchemaProperty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<SchemaProperty>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_properties: Vec<CustomProperty>,
    #[serde(flatten)]
    pub other: Other,
}

impl SchemaProperty {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &[
        "primaryKeyPosition",
        "logicalTypeOptions",
        "partitioned",
        "partitionKeyPosition",
        "encryptedName",
        "transformSourceObjects",
        "transformLogic",
        "transformDescription",
        "examples",
        "criticalDataElement",
        "relationships",
        "authoritativeDefinitions",
    ];
}

/// ODCS v3.1 `logicalType` values of a property.
pub const LOGICAL_TYPES: &[&str] = &[
    "string",
    "date",
    "timestamp",
    "time",
    "number",
    "integer",
    "object",
    "array",
    "boolean",
];

/// `team` (ODCS v3.1 object form). The deprecated v3.0 form, a bare list of members, is
/// read into `members` and written back in the v3.1 form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The owning team: Accord's authorisation unit for writes to the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<TeamMember>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_properties: Vec<CustomProperty>,
    #[serde(flatten)]
    pub other: Other,
}

impl Team {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &["authoritativeDefinitions"];
}

/// A member of `team.members`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamMember {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// User name or e-mail address; required by ODCS.
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// e.g. `owner`, `data steward`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_out: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl TeamMember {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &[
        "replacedByUsername",
        "tags",
        "customProperties",
        "authoritativeDefinitions",
    ];
}

/// An element of `roles[]`: an access role and who approves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// e.g. `read`, `write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_level_approvers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_level_approvers: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl Role {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &["customProperties"];
}

/// An element of `support[]`: how to reach the owners (the contract's contact).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportChannel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub channel: String,
    /// `https:`, `mailto:`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `email`, `slack`, `teams`, `discord`, `ticket`, `googlechat` or `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `interactive`, `announcements`, `issues` or `notifications`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl SupportChannel {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &["invitationUrl", "customProperties"];
}

/// An element of `slaProperties[]`. Accord reads the SLOs it knows from these
/// (see [`crate::slo`]); others are kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaProperty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub property: String,
    /// A scalar (string, number, boolean or null) in ODCS.
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_ext: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The element (`object.field`) the SLO is measured on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// `regulatory`, `analytics` or `operational`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl SlaProperty {
    pub const ODCS_OTHER_KEYS: &'static [&'static str] = &["scheduler", "schedule"];
}
