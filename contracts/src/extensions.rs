//! Accord's own contract fields, carried as ODCS root `customProperties` so that the
//! document stays valid ODCS. Each is one entry `{property: "accord.<name>", value: {...}}`;
//! every one is optional and has the default shown.
//!
//! | property | type | default when absent |
//! | --- | --- | --- |
//! | `accord.stream` | [`StreamBinding`]: the governed stream (Kafka topic) and its subjects | none: the server names the stream (e.g. from the URL) |
//! | `accord.evolution` | [`EvolutionPolicy`]: compatibility level and lint rules | `FULL_TRANSITIVE`, no lint rules |
//! | `accord.ruleSet` | Confluent [`RuleSet`]: data-quality rules (CEL `CONDITION`s) and others | none |
//! | `accord.encryption` | [`EncryptionPolicy`]: which tagged fields are encrypted, key scope | nothing encrypted |
//! | `accord.access` | [`AccessPolicy`]: who may read and consume | everyone authenticated reads; consumers register freely, except on PII streams and read-restricted streams (owner approval) |
//! | `accord.lifecycle` | [`LifecyclePolicy`]: sunset date and successor; the state itself is ODCS `status` | none |
//!
//! ```yaml
//! customProperties:
//!   - property: accord.stream
//!     value: { name: orders }          # subjects orders-key / orders-value unless named
//!   - property: accord.evolution
//!     value:
//!       compatibility: FULL_TRANSITIVE
//!       lint: { doc-required: error, field-naming: { level: error, style: snake_case } }
//!   - property: accord.ruleSet
//!     value:
//!       domainRules:
//!         - { name: adult, kind: CONDITION, type: CEL, mode: WRITE, expr: "message.age >= 18", onFailure: DLQ }
//!   - property: accord.encryption
//!     value: { tags: [PII], keyScope: entity, entityKeyField: user_id }
//!   - property: accord.access
//!     value: { consumers: approval, piiRequiresOwnerApproval: true }
//!   - property: accord.lifecycle
//!     value: { sunsetDate: 2027-01-31, successor: orders-v2 }
//! ```
//!
//! Lint rules and their settings are the ones `accord lint` takes in `accord.yaml`
//! (`doc-required`, `field-naming`, `record-naming`, `pii-names`, `union-width`; each
//! `off`, `warning`, `error`, or a map with `level` and the rule's options), so a team
//! moves a rule from its CI manifest into its contract without rewriting it. In a contract
//! an `error` rule refuses a registration (422) and a `warning` is reported only.
//!
//! Unknown keys inside these values are errors (they are Accord's, so a typo would
//! silently weaken a policy); a root custom property named `accord.*` that is not in the
//! table is an error too.

use crate::collect::Shape;
use crate::schema_meta::RuleSet;
use accord_compat::CompatibilityLevel;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// `accord.stream`: the stream this contract governs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamBinding {
    /// The stream (Kafka topic) name.
    pub name: String,
    /// The key subject; `<name>-key` when absent (Confluent's TopicNameStrategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_subject: Option<String>,
    /// The value subject; `<name>-value` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_subject: Option<String>,
}

impl StreamBinding {
    pub fn key_subject(&self) -> String {
        self.key_subject
            .clone()
            .unwrap_or_else(|| format!("{}-key", self.name))
    }

    pub fn value_subject(&self) -> String {
        self.value_subject
            .clone()
            .unwrap_or_else(|| format!("{}-value", self.name))
    }
}

/// `accord.evolution`: how the stream's schemas may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvolutionPolicy {
    /// Checked on every registration to the stream's subjects.
    #[serde(default = "default_compatibility")]
    pub compatibility: CompatibilityLevel,
    /// Lint rules by id; a rule not named is off.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lint: BTreeMap<LintRule, LintSetting>,
}

fn default_compatibility() -> CompatibilityLevel {
    CompatibilityLevel::FullTransitive
}

/// The policy of a contract without `accord.evolution`.
pub static DEFAULT_EVOLUTION: EvolutionPolicy = EvolutionPolicy {
    compatibility: CompatibilityLevel::FullTransitive,
    lint: BTreeMap::new(),
};

impl Default for EvolutionPolicy {
    fn default() -> Self {
        DEFAULT_EVOLUTION.clone()
    }
}

/// A lint rule id, as `accord lint` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum LintRule {
    /// A non-empty doc on every record/message and field.
    DocRequired,
    /// Field names in `snake_case` (default) or `camelCase` (option `style`).
    FieldNaming,
    /// `PascalCase` type names.
    RecordNaming,
    /// No field that looks like personal data unless tagged `PII` (option `patterns`).
    PiiNames,
    /// No union wider than `max` (default 3).
    UnionWidth,
}

impl TryFrom<String> for LintRule {
    type Error = String;

    /// Read as a string (not an enum) so that an error's path names the key.
    fn try_from(s: String) -> Result<LintRule, String> {
        LintRule::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = LintRule::ALL.iter().map(|r| r.as_str()).collect();
                format!(
                    "unknown lint rule '{s}' (expected one of {})",
                    all.join(", ")
                )
            })
    }
}

impl LintRule {
    pub const ALL: &'static [LintRule] = &[
        LintRule::DocRequired,
        LintRule::FieldNaming,
        LintRule::RecordNaming,
        LintRule::PiiNames,
        LintRule::UnionWidth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LintRule::DocRequired => "doc-required",
            LintRule::FieldNaming => "field-naming",
            LintRule::RecordNaming => "record-naming",
            LintRule::PiiNames => "pii-names",
            LintRule::UnionWidth => "union-width",
        }
    }

    /// The options this rule takes besides `level`.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            LintRule::DocRequired | LintRule::RecordNaming => &[],
            LintRule::FieldNaming => &["style"],
            LintRule::PiiNames => &["patterns"],
            LintRule::UnionWidth => &["max"],
        }
    }
}

/// How a lint finding is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LintLevel {
    Off,
    Warning,
    Error,
}

/// Field-name style for `field-naming`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FieldStyle {
    #[serde(rename = "snake_case")]
    SnakeCase,
    #[serde(rename = "camelCase")]
    CamelCase,
}

/// One lint rule's setting: a bare level (`error`) or a map with `level` (default
/// `warning`, as in `accord.yaml`) and the rule's options. Which options a rule takes is
/// checked by [`crate::Contract::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintSetting {
    pub level: LintLevel,
    /// `field-naming` only.
    pub style: Option<FieldStyle>,
    /// `pii-names` only: names added to the built-in patterns.
    pub patterns: Vec<String>,
    /// `union-width` only: the widest union allowed (at least 1).
    pub max: Option<u32>,
}

impl LintSetting {
    pub fn level(level: LintLevel) -> LintSetting {
        LintSetting {
            level,
            style: None,
            patterns: Vec::new(),
            max: None,
        }
    }

    fn has_options(&self) -> bool {
        self.style.is_some() || !self.patterns.is_empty() || self.max.is_some()
    }

    /// The option names set, for the per-rule check.
    pub fn options_set(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.style.is_some() {
            out.push("style");
        }
        if !self.patterns.is_empty() {
            out.push("patterns");
        }
        if self.max.is_some() {
            out.push("max");
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LintSettingMap {
    #[serde(default)]
    level: Option<LintLevel>,
    #[serde(default)]
    style: Option<FieldStyle>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    max: Option<u32>,
}

impl<'de> Deserialize<'de> for LintSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LintSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("off, warning, error, or a map with level and the rule's options")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<LintSetting, E> {
                LintLevel::deserialize(de::value::StrDeserializer::<E>::new(s))
                    .map(LintSetting::level)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LintSetting, A::Error> {
                let m = LintSettingMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(LintSetting {
                    level: m.level.unwrap_or(LintLevel::Warning),
                    style: m.style,
                    patterns: m.patterns,
                    max: m.max,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for LintSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !self.has_options() {
            return self.level.serialize(s);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("level", &self.level)?;
        if let Some(style) = &self.style {
            m.serialize_entry("style", style)?;
        }
        if !self.patterns.is_empty() {
            m.serialize_entry("patterns", &self.patterns)?;
        }
        if let Some(max) = &self.max {
            m.serialize_entry("max", max)?;
        }
        m.end()
    }
}

/// `accord.encryption`: client-side field-level encryption of tagged fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionPolicy {
    /// Fields carrying any of these tags (contract `tags` on schema properties, or
    /// `confluent:tags` in the schema) are encrypted. Not empty.
    pub tags: BTreeSet<String>,
    /// Which DEK encrypts a record's fields.
    pub key_scope: KeyScope,
    /// With `keyScope: entity`: the field whose value names the entity (e.g. `user_id`);
    /// it must not be encrypted itself, since readers need it to find the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_key_field: Option<String>,
    /// The KEK that wraps the DEKs; the server's default KEK when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_name: Option<String>,
}

/// Key scope of [`EncryptionPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyScope {
    /// One DEK (with rotation) for the whole stream.
    Stream,
    /// One DEK per entity (user, account, ...), so destroying it crypto-shreds exactly
    /// that entity's encrypted fields.
    Entity,
}

/// `accord.access`: who may read the stream's contract and schemas, and who may consume.
///
/// An approved consumer's team reads a restricted stream's schemas and obtains its keys,
/// so `consumers` defaults to `approval` when `read` is `restricted` (and to `open`
/// otherwise); an explicit `consumers: open` with `read: restricted` is refused by
/// [`crate::Contract::validate`], since it would let any team admit itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "AccessPolicyInput")]
pub struct AccessPolicy {
    pub read: ReadAccess,
    /// How consumers are admitted; see [`AccessPolicy`] for the default.
    pub consumers: ConsumerPolicy,
    /// With `consumers: allowList`: the teams that may register as consumers. Not empty then.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub allowed_teams: BTreeSet<String>,
    /// A stream carrying PII (contract tag or field tag `PII`) needs the owner's approval
    /// for every new consumer, whatever `consumers` says.
    pub pii_requires_owner_approval: bool,
}

/// [`AccessPolicy`] as written: `consumers` may be absent, and its default depends on
/// `read`, which serde's per-field defaults cannot express.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccessPolicyInput {
    #[serde(default)]
    read: ReadAccess,
    #[serde(default)]
    consumers: Option<ConsumerPolicy>,
    #[serde(default)]
    allowed_teams: BTreeSet<String>,
    #[serde(default = "yes")]
    pii_requires_owner_approval: bool,
}

impl From<AccessPolicyInput> for AccessPolicy {
    fn from(a: AccessPolicyInput) -> AccessPolicy {
        let consumers = a.consumers.unwrap_or(match a.read {
            ReadAccess::Restricted => ConsumerPolicy::Approval,
            ReadAccess::Authenticated => ConsumerPolicy::Open,
        });
        AccessPolicy {
            read: a.read,
            consumers,
            allowed_teams: a.allowed_teams,
            pii_requires_owner_approval: a.pii_requires_owner_approval,
        }
    }
}

fn yes() -> bool {
    true
}

/// The policy of a contract without `accord.access`.
pub static DEFAULT_ACCESS: AccessPolicy = AccessPolicy {
    read: ReadAccess::Authenticated,
    consumers: ConsumerPolicy::Open,
    allowed_teams: BTreeSet::new(),
    pii_requires_owner_approval: true,
};

impl Default for AccessPolicy {
    fn default() -> Self {
        DEFAULT_ACCESS.clone()
    }
}

/// Who may read a stream's contract and schemas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReadAccess {
    /// Every authenticated principal.
    #[default]
    Authenticated,
    /// The owning team, approved consumers and admins.
    Restricted,
}

/// How consumers are admitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConsumerPolicy {
    /// Any team registers itself.
    #[default]
    Open,
    /// The owner approves each registration.
    Approval,
    /// Only `allowedTeams`; others are refused.
    AllowList,
}

/// What happens when a team asks to consume a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    NeedsOwnerApproval,
    Refused,
}

impl AccessPolicy {
    /// Whether `team` may register as a consumer; `stream_has_pii` from
    /// [`crate::Contract::has_pii`]. On a read-restricted stream an `open` policy (which
    /// validation refuses, but a contract stored before that rule may carry) needs the
    /// owner's approval too: admission there releases schemas and keys.
    pub fn admission(&self, team: &str, stream_has_pii: bool) -> Admission {
        if self.consumers == ConsumerPolicy::AllowList && !self.allowed_teams.contains(team) {
            return Admission::Refused;
        }
        if self.consumers == ConsumerPolicy::Approval
            || (self.read == ReadAccess::Restricted && self.consumers == ConsumerPolicy::Open)
            || (stream_has_pii && self.pii_requires_owner_approval)
        {
            return Admission::NeedsOwnerApproval;
        }
        Admission::Allowed
    }
}

/// `accord.lifecycle`: the end of a stream's life. Whether it is deprecated is ODCS
/// `status` (`deprecated`, `retired`); this says until when and what replaces it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// `YYYY-MM-DD`; required when `status` is `deprecated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset_date: Option<String>,
    /// The stream that replaces this one; named in the error refusing new consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The `accord.*` custom properties of a contract, typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccordProperties {
    pub stream: Option<StreamBinding>,
    pub evolution: Option<EvolutionPolicy>,
    pub rule_set: Option<RuleSet>,
    pub encryption: Option<EncryptionPolicy>,
    pub access: Option<AccessPolicy>,
    pub lifecycle: Option<LifecyclePolicy>,
}

/// The names of Accord's custom properties, in the order they are written when the
/// document did not place them.
pub const ACCORD_PROPERTIES: &[&str] = &[
    "accord.stream",
    "accord.evolution",
    "accord.ruleSet",
    "accord.encryption",
    "accord.access",
    "accord.lifecycle",
];

impl AccordProperties {
    /// The value of property `name` as JSON, if set.
    pub(crate) fn get_json(&self, name: &str) -> Option<serde_json::Value> {
        fn j<T: Serialize>(v: &Option<T>) -> Option<serde_json::Value> {
            // Serialising these plain data types into a `Value` cannot fail.
            v.as_ref().and_then(|v| serde_json::to_value(v).ok())
        }
        match name {
            "accord.stream" => j(&self.stream),
            "accord.evolution" => j(&self.evolution),
            "accord.ruleSet" => j(&self.rule_set),
            "accord.encryption" => j(&self.encryption),
            "accord.access" => j(&self.access),
            "accord.lifecycle" => j(&self.lifecycle),
            _ => None,
        }
    }

    /// Sets property `name` from `value` (found at path `at`) as far as it can be read,
    /// its problems added to `shape`; false when nothing of it could be read. Only the
    /// names in [`ACCORD_PROPERTIES`] are known.
    pub(crate) fn set_json(
        &mut self,
        name: &str,
        value: serde_json::Value,
        at: &str,
        shape: &mut Shape,
    ) -> bool {
        fn set<T: serde::de::DeserializeOwned>(
            slot: &mut Option<T>,
            at: &str,
            value: serde_json::Value,
            shape: &mut Shape,
        ) -> bool {
            *slot = shape.read(at, value);
            slot.is_some()
        }
        match name {
            "accord.stream" => set(&mut self.stream, at, value, shape),
            "accord.evolution" => set(&mut self.evolution, at, value, shape),
            "accord.ruleSet" => set(&mut self.rule_set, at, value, shape),
            "accord.encryption" => set(&mut self.encryption, at, value, shape),
            "accord.access" => set(&mut self.access, at, value, shape),
            "accord.lifecycle" => set(&mut self.lifecycle, at, value, shape),
            other => {
                shape.refuse(
                    at,
                    format!(
                        "unknown Accord property '{other}' (expected one of {})",
                        ACCORD_PROPERTIES.join(", ")
                    ),
                );
                false
            }
        }
    }
}
