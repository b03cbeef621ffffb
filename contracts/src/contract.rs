//! A stream's data contract: an ODCS v3.1 document ([`crate::odcs`]) whose Accord-specific
//! fields live in root `customProperties` ([`crate::extensions`]).
//!
//! Reading is two steps, and a caller sees every problem at once:
//! [`Contract::from_yaml`] / [`Contract::from_json`] check the shape (YAML/JSON syntax,
//! types, the `accord.*` values); [`Contract::validate`] then checks the meaning
//! (required fields, units, references between fields, CEL expressions, ...). A syntax
//! error stops reading, since nothing after it can be trusted; a value of the wrong type
//! or an unknown enum value does not: it is reported and left out, the rest of the
//! document is read (module `collect`), and the error also carries what `validate`
//! finds in the rest. Each [`Problem`] has the ODCS path of the offending value
//! (`slaProperties[2].unit`, `customProperties[4].value.keyScope`) and what is wrong
//! with it.
//!
//! Writing ([`Contract::to_yaml`], [`Contract::to_json`], serde) gives valid ODCS v3.1
//! that reads back into an equal `Contract`: keys Accord does not model are kept, and the
//! `accord.*` entries go back where they were in `customProperties`.
//!
//! [`Contract::digest`] hashes a canonical JSON form (keys sorted, no whitespace), so the
//! same contract gives the same digest from YAML or JSON, in any key order: applying an
//! unchanged file twice is detectably a no-op.

use crate::collect::Shape;
use crate::extensions::{
    AccessPolicy, AccordProperties, EncryptionPolicy, EvolutionPolicy, KeyScope, LifecyclePolicy,
    StreamBinding, ACCORD_PROPERTIES, DEFAULT_ACCESS, DEFAULT_EVOLUTION,
};
use crate::odcs::{
    CustomProperty, Description, Other, Role, SchemaObject, SchemaProperty, SlaProperty,
    SupportChannel, Team, TeamMember, ODCS_API_VERSION,
};
use crate::schema_meta::{Rule, RuleSet};
use crate::slo::Slo;
use accord_compat::CompatibilityLevel;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;

/// One thing wrong with a contract: where (an ODCS path, empty for the whole document)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a contract; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
pub struct ContractErrors(pub Vec<Problem>);

impl ContractErrors {
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> ContractErrors {
        ContractErrors(vec![Problem::new(path, message)])
    }

    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl fmt::Display for ContractErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// ODCS `status`, which is also the stream's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractStatus {
    Proposed,
    Draft,
    Active,
    /// Readable, but no new consumers; see `accord.lifecycle` for sunset and successor.
    Deprecated,
    Retired,
}

impl ContractStatus {
    pub const ALL: &'static [&'static str] =
        &["proposed", "draft", "active", "deprecated", "retired"];

    /// Case-insensitive, as ODCS gives no case.
    pub fn parse(s: &str) -> Option<ContractStatus> {
        Some(match s.to_ascii_lowercase().as_str() {
            "proposed" => ContractStatus::Proposed,
            "draft" => ContractStatus::Draft,
            "active" => ContractStatus::Active,
            "deprecated" => ContractStatus::Deprecated,
            "retired" => ContractStatus::Retired,
            _ => return None,
        })
    }
}

/// A field declared in the contract's `schema`, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractField {
    /// The schema object's name.
    pub object: String,
    /// Property names from the object down, joined with `.` (array `items` add nothing).
    pub path: String,
    pub tags: BTreeSet<String>,
    pub classification: Option<String>,
    pub description: Option<String>,
}

/// A data contract. Fields are the ODCS ones Accord reads (see [`crate::odcs`]) plus the
/// typed `accord.*` custom properties in [`Contract::accord`]; `other` keeps the rest.
///
/// Required ODCS strings (`apiVersion`, `kind`, `id`, `version`, `status`) are empty when
/// missing, and [`Contract::validate`] reports them, all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub api_version: String,
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
    pub version: String,
    /// See [`ContractStatus`].
    pub status: String,
    /// Accord's namespace for the stream (ODCS `domain`).
    pub domain: Option<String>,
    pub data_product: Option<String>,
    pub tenant: Option<String>,
    pub description: Option<Description>,
    /// Contract-level tags: `PII`, `financial`, or anything else.
    pub tags: Vec<String>,
    pub schema: Vec<SchemaObject>,
    /// The owner: `team.name` is the owning team.
    pub team: Option<Team>,
    pub roles: Vec<Role>,
    /// Contacts.
    pub support: Vec<SupportChannel>,
    pub sla_properties: Vec<SlaProperty>,
    /// Root custom properties other than `accord.*`.
    pub custom_properties: Vec<CustomProperty>,
    /// The `accord.*` root custom properties.
    pub accord: AccordProperties,
    pub contract_created_ts: Option<String>,
    /// Root keys Accord does not model (`servers`, `price`, ...).
    pub other: Other,
    placement: Placement,
}

/// Where the `accord.*` entries sat in `customProperties`, with the entries' own `id` and
/// `description`, so writing puts them back. Not part of a contract's meaning: equality
/// ignores it.
#[derive(Debug, Clone, Default)]
struct Placement(Vec<Placed>);

#[derive(Debug, Clone)]
struct Placed {
    name: &'static str,
    index: usize,
    id: Option<String>,
    description: Option<String>,
}

impl PartialEq for Placement {
    fn eq(&self, _: &Placement) -> bool {
        true
    }
}

/// The document as serde reads and writes it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContract {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<Description>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    schema: Vec<SchemaObject>,
    /// The v3.1 object or the deprecated v3.0 member list, told apart in `from_raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    support: Vec<SupportChannel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sla_properties: Vec<SlaProperty>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    custom_properties: Vec<CustomProperty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    contract_created_ts: Option<String>,
    #[serde(flatten)]
    other: Other,
}

/// An `accord.*` entry that could not be read, kept in its place among the ordinary custom
/// properties (its problems are reported; its unknown keys were, or do not matter).
fn unread(mut cp: CustomProperty) -> CustomProperty {
    cp.other.clear();
    cp
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

impl Contract {
    /// A contract with only the required ODCS fields: `apiVersion` v3.1.0, `kind`, `id`,
    /// `version`, and `status` active.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> Contract {
        Contract {
            api_version: ODCS_API_VERSION.to_string(),
            kind: "DataContract".to_string(),
            id: id.into(),
            name: None,
            version: version.into(),
            status: "active".to_string(),
            domain: None,
            data_product: None,
            tenant: None,
            description: None,
            tags: Vec::new(),
            schema: Vec::new(),
            team: None,
            roles: Vec::new(),
            support: Vec::new(),
            sla_properties: Vec::new(),
            custom_properties: Vec::new(),
            accord: AccordProperties::default(),
            contract_created_ts: None,
            other: Map::new(),
            placement: Placement::default(),
        }
    }

    /// Reads an ODCS YAML document (shape only; call [`Contract::validate`] next; see
    /// [`Contract::from_value`] for what a document with shape problems answers).
    /// Documents over the [`limits`](crate::limits) (size, nesting) are refused before
    /// parsing.
    pub fn from_yaml(text: &str) -> Result<Contract, ContractErrors> {
        crate::limits::check_yaml(text).map_err(|e| ContractErrors::one("", e.to_string()))?;
        let value: Value = serde_yaml::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default();
            let msg = e.to_string();
            ContractErrors::one("", format!("invalid YAML{at}: {msg}"))
        })?;
        Contract::from_value(value)
    }

    /// Reads an ODCS JSON document (shape only; call [`Contract::validate`] next; see
    /// [`Contract::from_value`] for what a document with shape problems answers).
    /// Documents over the [`limits`](crate::limits) (size, nesting) are refused before
    /// parsing.
    pub fn from_json(text: &str) -> Result<Contract, ContractErrors> {
        crate::limits::check_json(text).map_err(|e| ContractErrors::one("", e.to_string()))?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            ContractErrors::one(
                "",
                format!(
                    "invalid JSON at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Contract::from_value(value)
    }

    /// Reads an ODCS document already parsed into JSON (e.g. an HTTP request body).
    ///
    /// A document with shape problems is read as far as it can be (see
    /// module `collect`), and what could be read is validated too: the error lists every
    /// shape problem and every finding of [`Contract::validate`] that does not follow from
    /// one of them, so that one answer names all that is wrong.
    pub fn from_value(value: Value) -> Result<Contract, ContractErrors> {
        if !value.is_object() {
            return Err(ContractErrors::one(
                "",
                format!(
                    "expected an ODCS document (a map with apiVersion, kind, id, ...), found {}",
                    kind_of(&value)
                ),
            ));
        }
        let mut shape = Shape::default();
        let Some(raw) = shape.read::<RawContract>("", value) else {
            return Err(ContractErrors(shape.problems));
        };
        let contract = Contract::from_raw(raw, &mut shape);
        if shape.problems.is_empty() {
            return Ok(contract);
        }
        if let Err(found) = contract.validate() {
            for p in found.0 {
                let path = shape.translate(&p.path);
                if !shape.covers(&path) {
                    shape.push(&path, p.message);
                }
            }
        }
        Err(ContractErrors(shape.problems))
    }

    /// The document as ODCS YAML.
    pub fn to_yaml(&self) -> String {
        // A map of strings, numbers, lists and maps always serialises.
        serde_yaml::to_string(&self.to_raw()).unwrap_or_default()
    }

    /// The document as ODCS JSON (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_raw()).unwrap_or_default()
    }

    /// The document as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.to_raw()).unwrap_or(Value::Null)
    }

    /// Lower-case hex SHA-256 of the canonical JSON form: object keys sorted, no
    /// whitespace. Equal contracts have equal digests whatever file they came from.
    pub fn digest(&self) -> String {
        fn canonical(v: Value) -> Value {
            match v {
                Value::Object(m) => {
                    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k, canonical(v)))
                            .collect(),
                    )
                }
                Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
                other => other,
            }
        }
        let text = canonical(self.to_value()).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The contract of a document read as `raw`, its problems added to `shape`. With
    /// problems, the contract holds what could be read: an `accord.*` entry that could not
    /// be read stays an ordinary custom property in its place, so that paths stay those of
    /// the document.
    fn from_raw(raw: RawContract, shape: &mut Shape) -> Contract {
        let team = match raw.team {
            None | Some(Value::Null) => None,
            Some(Value::Array(members)) => Some(Team {
                members: shape
                    .read::<Vec<TeamMember>>("team", Value::Array(members))
                    .unwrap_or_default(),
                ..Team::default()
            }),
            Some(v @ Value::Object(_)) => shape.read::<Team>("team", v),
            Some(v) => {
                shape.refuse(
                    "team",
                    format!(
                        "expected a team (a map with name and members), found {}",
                        kind_of(&v)
                    ),
                );
                None
            }
        };
        let mut accord = AccordProperties::default();
        let mut placement = Placement::default();
        let mut custom_properties = Vec::new();
        for (i, mut cp) in raw.custom_properties.into_iter().enumerate() {
            if !cp.property.starts_with("accord.") {
                custom_properties.push(cp);
                continue;
            }
            let at = shape.translate(&format!("customProperties[{i}]"));
            let Some(&name) = ACCORD_PROPERTIES.iter().find(|n| **n == cp.property) else {
                shape.refuse(
                    &format!("{at}.property"),
                    format!(
                        "unknown Accord property '{}' (expected one of {})",
                        cp.property,
                        ACCORD_PROPERTIES.join(", ")
                    ),
                );
                custom_properties.push(unread(cp));
                continue;
            };
            if let Some(first) = placement.0.iter().find(|p| p.name == name) {
                let first = shape.translate(&format!("customProperties[{}]", first.index));
                shape.refuse(
                    &format!("{at}.property"),
                    format!("'{name}' is set twice (first at {first})"),
                );
                custom_properties.push(unread(cp));
                continue;
            }
            if let Some(k) = cp.other.keys().next() {
                shape.push(
                    &format!("{at}.{k}"),
                    format!("unknown field '{k}' (a custom property has id, property, value and description)"),
                );
            }
            let value = std::mem::take(&mut cp.value);
            if !accord.set_json(name, value, &format!("{at}.value"), shape) {
                custom_properties.push(unread(cp));
                continue;
            }
            placement.0.push(Placed {
                name,
                index: i,
                id: cp.id,
                description: cp.description,
            });
        }
        Contract {
            api_version: raw.api_version,
            kind: raw.kind,
            id: raw.id,
            name: raw.name,
            version: raw.version,
            status: raw.status,
            domain: raw.domain,
            data_product: raw.data_product,
            tenant: raw.tenant,
            description: raw.description,
            tags: raw.tags,
            schema: raw.schema,
            team,
            roles: raw.roles,
            support: raw.support,
            sla_properties: raw.sla_properties,
            custom_properties,
            accord,
            contract_created_ts: raw.contract_created_ts,
            other: raw.other,
            placement,
        }
    }

    /// Root `customProperties` as written: the others in order, each `accord.*` entry at
    /// the index it was read from (new ones after the rest, in [`ACCORD_PROPERTIES`] order).
    fn custom_properties_out(&self) -> Vec<(Option<&'static str>, CustomProperty)> {
        let mut placed: Vec<(usize, CustomProperty, &'static str)> = Vec::new();
        let mut unplaced = Vec::new();
        for &name in ACCORD_PROPERTIES {
            let Some(value) = self.accord.get_json(name) else {
                continue;
            };
            let at = self.placement.0.iter().find(|p| p.name == name);
            let cp = CustomProperty {
                id: at.and_then(|p| p.id.clone()),
                property: name.to_string(),
                value,
                description: at.and_then(|p| p.description.clone()),
                other: Map::new(),
            };
            match at {
                Some(p) => placed.push((p.index, cp, name)),
                None => unplaced.push((cp, name)),
            }
        }
        placed.sort_by_key(|p| p.0);
        let mut out = Vec::new();
        let mut others = self.custom_properties.iter().cloned();
        let mut placed = placed.into_iter().peekable();
        loop {
            let next_placed_due = placed
                .peek()
                .is_some_and(|(index, _, _)| *index <= out.len());
            if next_placed_due {
                if let Some((_, cp, name)) = placed.next() {
                    out.push((Some(name), cp));
                }
            } else if let Some(cp) = others.next() {
                out.push((None, cp));
            } else if let Some((_, cp, name)) = placed.next() {
                out.push((Some(name), cp));
            } else {
                break;
            }
        }
        out.extend(unplaced.into_iter().map(|(cp, name)| (Some(name), cp)));
        out
    }

    /// The path of `accord.*` property `name` in the written document.
    pub(crate) fn accord_path(&self, name: &str) -> String {
        let index = self
            .custom_properties_out()
            .iter()
            .position(|(n, _)| *n == Some(name))
            .unwrap_or(0);
        format!("customProperties[{index}].value")
    }

    /// The path of the `i`-th non-Accord root custom property in the written document.
    pub(crate) fn custom_property_path(&self, i: usize) -> String {
        let index = self
            .custom_properties_out()
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.is_none())
            .nth(i)
            .map_or(i, |(index, _)| index);
        format!("customProperties[{index}]")
    }

    fn to_raw(&self) -> RawContract {
        RawContract {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            status: self.status.clone(),
            domain: self.domain.clone(),
            data_product: self.data_product.clone(),
            tenant: self.tenant.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            schema: self.schema.clone(),
            team: self
                .team
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok()),
            roles: self.roles.clone(),
            support: self.support.clone(),
            sla_properties: self.sla_properties.clone(),
            custom_properties: self
                .custom_properties_out()
                .into_iter()
                .map(|(_, cp)| cp)
                .collect(),
            contract_created_ts: self.contract_created_ts.clone(),
            other: self.other.clone(),
        }
    }

    /// `accord.stream`.
    pub fn stream(&self) -> Option<&StreamBinding> {
        self.accord.stream.as_ref()
    }

    /// `accord.evolution`, or the default (`FULL_TRANSITIVE`, no lint rules).
    pub fn evolution(&self) -> &EvolutionPolicy {
        self.accord.evolution.as_ref().unwrap_or(&DEFAULT_EVOLUTION)
    }

    pub fn compatibility(&self) -> CompatibilityLevel {
        self.evolution().compatibility
    }

    /// The rules registered with the stream's schemas: `accord.ruleSet`, plus an
    /// `ENCRYPT` rule (`accord_encrypt`, in `domainRules`) when `accord.encryption` is set.
    /// The rule selects fields by the policy's tags and names the KEK in
    /// `encrypt.kek.name` ([`DEFAULT_KEK`] when the policy names none); with
    /// `keyScope: entity` it also carries `accord.encrypt.key.scope: entity` and
    /// `accord.encrypt.entity.field`, which Accord's serializers read to use one DEK per
    /// entity (other clients see a plain Confluent `ENCRYPT` rule). `None` when neither.
    pub fn rule_set(&self) -> Option<RuleSet> {
        let mut rs = self.accord.rule_set.clone();
        if let Some(rule) = self.encryption().map(encrypt_rule) {
            let set = rs.get_or_insert_with(RuleSet::default);
            set.domain_rules
                .retain(|r| r.name.as_deref() != Some(ENCRYPT_RULE));
            set.domain_rules.push(rule);
        }
        rs
    }

    /// `accord.ruleSet` as written in the contract (without the encryption rule).
    pub fn accord_rule_set(&self) -> Option<&RuleSet> {
        self.accord.rule_set.as_ref()
    }

    /// `accord.encryption`.
    pub fn encryption(&self) -> Option<&EncryptionPolicy> {
        self.accord.encryption.as_ref()
    }

    /// `accord.access`, or the default.
    pub fn access(&self) -> &AccessPolicy {
        self.accord.access.as_ref().unwrap_or(&DEFAULT_ACCESS)
    }

    /// `accord.lifecycle`.
    pub fn lifecycle(&self) -> Option<&LifecyclePolicy> {
        self.accord.lifecycle.as_ref()
    }

    /// `status` read as a lifecycle state; `None` when it is not one Accord knows
    /// (which [`Contract::validate`] reports).
    pub fn status(&self) -> Option<ContractStatus> {
        ContractStatus::parse(&self.status)
    }

    /// Deprecated or retired: new consumers are refused.
    pub fn is_deprecated(&self) -> bool {
        matches!(
            self.status(),
            Some(ContractStatus::Deprecated | ContractStatus::Retired)
        )
    }

    /// The owning team (`team.name`).
    pub fn owner_team(&self) -> Option<&str> {
        self.team.as_ref().and_then(|t| t.name.as_deref())
    }

    /// The SLOs Accord interprets, from valid `slaProperties` entries.
    pub fn slos(&self) -> Vec<Slo> {
        self.sla_properties
            .iter()
            .filter_map(|p| Slo::from_sla(p).ok().flatten())
            .collect()
    }

    /// Every property of every schema object, depth first.
    pub fn fields(&self) -> Vec<ContractField> {
        fn walk(
            object: &str,
            prefix: &str,
            props: &[SchemaProperty],
            out: &mut Vec<ContractField>,
        ) {
            for p in props {
                let name = p.name.as_deref().unwrap_or("");
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                out.push(ContractField {
                    object: object.to_string(),
                    path: path.clone(),
                    tags: p.tags.iter().cloned().collect(),
                    classification: p.classification.clone(),
                    description: p.description.clone(),
                });
                walk(object, &path, &p.properties, out);
                let mut items = p.items.as_deref();
                while let Some(item) = items {
                    walk(object, &path, &item.properties, out);
                    items = item.items.as_deref();
                }
            }
        }
        let mut out = Vec::new();
        for o in &self.schema {
            walk(o.name.as_deref().unwrap_or(""), "", &o.properties, &mut out);
        }
        out
    }

    /// Whether the stream carries personal data: tag `PII` (any case) on the contract or
    /// on a field.
    pub fn has_pii(&self) -> bool {
        let pii = |t: &String| t.eq_ignore_ascii_case("pii");
        self.tags.iter().any(pii) || self.fields().iter().any(|f| f.tags.iter().any(pii))
    }

    /// Paths of the fields `accord.encryption` encrypts, as far as the contract's own
    /// field tags say (schema annotations may tag more).
    pub fn encrypted_fields(&self) -> Vec<ContractField> {
        let Some(enc) = self.encryption() else {
            return Vec::new();
        };
        self.fields()
            .into_iter()
            .filter(|f| f.tags.iter().any(|t| enc.tags.contains(t)))
            .collect()
    }
}

impl Serialize for Contract {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Contract {
    /// Shape errors only, as [`Contract::from_value`]; the message lists every problem.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Contract::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// The KEK named by the encryption rule when the contract's policy names none.
pub const DEFAULT_KEK: &str = "accord-default";

/// The name of the `ENCRYPT` rule [`Contract::rule_set`] derives from `accord.encryption`.
pub const ENCRYPT_RULE: &str = "accord_encrypt";

fn encrypt_rule(policy: &EncryptionPolicy) -> Rule {
    let mut params = std::collections::BTreeMap::new();
    params.insert(
        "encrypt.kek.name".to_string(),
        policy
            .kek_name
            .clone()
            .unwrap_or_else(|| DEFAULT_KEK.to_string()),
    );
    if policy.key_scope == KeyScope::Entity {
        params.insert("accord.encrypt.key.scope".to_string(), "entity".to_string());
        if let Some(field) = &policy.entity_key_field {
            params.insert("accord.encrypt.entity.field".to_string(), field.clone());
        }
    }
    Rule {
        name: Some(ENCRYPT_RULE.to_string()),
        doc: None,
        kind: "TRANSFORM".to_string(),
        mode: "WRITEREAD".to_string(),
        rule_type: Some("ENCRYPT".to_string()),
        tags: policy.tags.clone(),
        params,
        expr: None,
        on_success: None,
        on_failure: None,
        disabled: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "apiVersion: v3.1.0
kind: DataContract
id: c
version: 1.0.0
status: active
customProperties:
  - property: accord.stream
    value: { name: orders }
";

    fn contract(extra: &str) -> Contract {
        Contract::from_yaml(&format!("{BASE}{extra}")).expect("contract")
    }

    #[test]
    fn encryption_policy_becomes_an_encrypt_rule() {
        assert!(contract("").rule_set().is_none());

        let c = contract(
            "  - property: accord.encryption
    value: { tags: [PII], keyScope: entity, entityKeyField: user_id }
  - property: accord.ruleSet
    value:
      domainRules:
        - { name: adult, kind: CONDITION, type: CEL, mode: WRITE, expr: \"message.age >= 18\" }
",
        );
        let rs = c.rule_set().expect("rules");
        assert_eq!(rs.domain_rules.len(), 2);
        assert_eq!(rs.domain_rules[0].name.as_deref(), Some("adult"));
        let json = serde_json::to_value(&rs.domain_rules[1]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"name": "accord_encrypt", "kind": "TRANSFORM", "mode": "WRITEREAD",
                "type": "ENCRYPT", "tags": ["PII"],
                "params": {"encrypt.kek.name": "accord-default",
                           "accord.encrypt.key.scope": "entity",
                           "accord.encrypt.entity.field": "user_id"}})
        );
        assert_eq!(c.accord_rule_set().map(|r| r.domain_rules.len()), Some(1));

        let c = contract(
            "  - property: accord.encryption
    value: { tags: [PII, FINANCIAL], keyScope: stream, kekName: orders-kek }
",
        );
        let rs = c.rule_set().expect("rules");
        assert_eq!(rs.domain_rules.len(), 1);
        let rule = &rs.domain_rules[0];
        assert_eq!(rule.rule_type.as_deref(), Some("ENCRYPT"));
        assert_eq!(rule.tags.len(), 2);
        assert_eq!(
            rule.params,
            [("encrypt.kek.name".to_string(), "orders-kek".to_string())].into()
        );
    }
}
