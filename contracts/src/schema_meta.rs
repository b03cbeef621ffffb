//! Confluent's `metadata` and `ruleSet`, carried on every schema (confluent-compat.md §7).
//!
//! Both are part of a schema's identity (they feed the dedup hash and the GUID), so they
//! are kept in one canonical shape: maps and sets sorted, rule defaults filled in, and
//! empty values treated as absent (Confluent serialises with `NON_EMPTY`, so `{}` and a
//! missing value are indistinguishable to clients).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetaError(pub String);

/// Schema metadata: tags by field path, free properties, and sensitive property names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, BTreeSet<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sensitive: BTreeSet<String>,
}

impl Metadata {
    /// Reads `metadata` from a request; JSON `null` and `{}` are `None`.
    pub fn from_json(v: Option<&serde_json::Value>) -> Result<Option<Metadata>, MetaError> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => {
                let m: Metadata = serde_json::from_value(v.clone())
                    .map_err(|e| MetaError(format!("Invalid metadata: {e}")))?;
                Ok((!m.is_empty()).then_some(m))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.properties.is_empty() && self.sensitive.is_empty()
    }

    /// `self` overlaid with `newer`: maps merged with the newer value winning, sets
    /// unioned (Confluent's merge for default/specific/override metadata).
    pub fn merge(&self, newer: &Metadata) -> Metadata {
        let mut out = self.clone();
        for (k, v) in &newer.tags {
            out.tags
                .entry(k.clone())
                .or_default()
                .extend(v.iter().cloned());
        }
        for (k, v) in &newer.properties {
            out.properties.insert(k.clone(), v.clone());
        }
        out.sensitive.extend(newer.sensitive.iter().cloned());
        out
    }

    /// The bytes this metadata adds to a schema's GUID (§6.2): tag keys and their values,
    /// property keys and values, sensitive names, each in sorted order.
    pub fn hash_bytes(&self, out: &mut Vec<u8>) {
        for (k, vs) in &self.tags {
            out.extend_from_slice(k.as_bytes());
            for v in vs {
                out.extend_from_slice(v.as_bytes());
            }
        }
        for (k, v) in &self.properties {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(v.as_bytes());
        }
        for s in &self.sensitive {
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// One rule of a ruleSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(rename = "type")]
    pub rule_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

fn default_kind() -> String {
    "TRANSFORM".to_string()
}

fn default_mode() -> String {
    "WRITEREAD".to_string()
}

/// A schema's rules: migration, domain and encoding rules, and where they are enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migration_rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encoding_rules: Vec<Rule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_at: Option<String>,
}

const MIGRATION_MODES: [&str; 3] = ["UPGRADE", "DOWNGRADE", "UPDOWN"];
const DOMAIN_MODES: [&str; 3] = ["WRITE", "READ", "WRITEREAD"];

impl RuleSet {
    /// Reads `ruleSet` from a request; JSON `null` and an empty set are `None`.
    pub fn from_json(v: Option<&serde_json::Value>) -> Result<Option<RuleSet>, MetaError> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => {
                let r: RuleSet = serde_json::from_value(v.clone())
                    .map_err(|e| MetaError(format!("Invalid ruleSet: {e}")))?;
                Ok((!r.is_empty()).then_some(r))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.migration_rules.is_empty()
            && self.domain_rules.is_empty()
            && self.encoding_rules.is_empty()
            && self.enable_at.is_none()
    }

    fn lists(&self) -> [(&'static str, &Vec<Rule>); 3] {
        [
            ("migrationRules", &self.migration_rules),
            ("domainRules", &self.domain_rules),
            ("encodingRules", &self.encoding_rules),
        ]
    }

    /// Confluent's server-side rule validation (§7.2); the error names the rule and field.
    pub fn validate(&self) -> Result<(), MetaError> {
        let mut names = BTreeSet::new();
        for (list, rules) in self.lists() {
            for (i, rule) in rules.iter().enumerate() {
                let at = format!("{list}[{i}]");
                let name = rule
                    .name
                    .as_deref()
                    .ok_or_else(|| MetaError(format!("Rule {at} has no name")))?;
                if !valid_rule_name(name) {
                    return Err(MetaError(format!(
                        "Rule name '{name}' at {at} is invalid: use 1-256 letters, digits, '_' or '-', starting with a letter or '_'"
                    )));
                }
                if !names.insert(name.to_string()) {
                    return Err(MetaError(format!(
                        "Found duplicate rule name '{name}' at {at}"
                    )));
                }
                if rule.rule_type.as_deref().is_none_or(str::is_empty) {
                    return Err(MetaError(format!("Rule '{name}' at {at} has no type")));
                }
                if !matches!(rule.kind.as_str(), "CONDITION" | "TRANSFORM") {
                    return Err(MetaError(format!(
                        "Rule '{name}' at {at} has invalid kind '{}': use CONDITION or TRANSFORM",
                        rule.kind
                    )));
                }
                let modes: &[&str] = if list == "migrationRules" {
                    &MIGRATION_MODES
                } else {
                    &DOMAIN_MODES
                };
                if !modes.contains(&rule.mode.as_str()) {
                    return Err(MetaError(format!(
                        "Rule '{name}' at {at} has mode '{}', which {list} cannot use: use one of {}",
                        rule.mode,
                        modes.join(", ")
                    )));
                }
                for action in [&rule.on_success, &rule.on_failure].into_iter().flatten() {
                    if action.contains(',') && !matches!(rule.mode.as_str(), "WRITEREAD" | "UPDOWN")
                    {
                        return Err(MetaError(format!(
                            "Rule '{name}' at {at}: a comma-separated action '{action}' needs mode WRITEREAD or UPDOWN"
                        )));
                    }
                }
            }
        }
        if let Some(e) = &self.enable_at {
            if !matches!(e.as_str(), "ALL" | "CLIENT" | "GATEWAY" | "SERVER" | "NONE") {
                return Err(MetaError(format!(
                    "Invalid enableAt '{e}': use ALL, CLIENT, GATEWAY, SERVER or NONE"
                )));
            }
        }
        Ok(())
    }

    /// `self` overlaid with `newer`: a rule of `newer` replaces the rule of the same name
    /// and is appended otherwise; the newer `enableAt` wins.
    pub fn merge(&self, newer: &RuleSet) -> RuleSet {
        fn merge_list(old: &[Rule], new: &[Rule]) -> Vec<Rule> {
            let mut out: Vec<Rule> = old.to_vec();
            for r in new {
                match out.iter_mut().find(|o| o.name == r.name) {
                    Some(slot) => *slot = r.clone(),
                    None => out.push(r.clone()),
                }
            }
            out
        }
        RuleSet {
            migration_rules: merge_list(&self.migration_rules, &newer.migration_rules),
            domain_rules: merge_list(&self.domain_rules, &newer.domain_rules),
            encoding_rules: merge_list(&self.encoding_rules, &newer.encoding_rules),
            enable_at: newer.enable_at.clone().or_else(|| self.enable_at.clone()),
        }
    }

    /// The bytes this ruleSet adds to a schema's GUID (§6.2), rule by rule in list order.
    pub fn hash_bytes(&self, out: &mut Vec<u8>) {
        for (_, rules) in self.lists() {
            for r in rules {
                for s in [&r.name, &r.doc].into_iter().flatten() {
                    out.extend_from_slice(s.as_bytes());
                }
                out.extend_from_slice(r.kind.as_bytes());
                out.extend_from_slice(r.mode.as_bytes());
                if let Some(t) = &r.rule_type {
                    out.extend_from_slice(t.as_bytes());
                }
                for t in &r.tags {
                    out.extend_from_slice(t.as_bytes());
                }
                for (k, v) in &r.params {
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
                for s in [&r.expr, &r.on_success, &r.on_failure]
                    .into_iter()
                    .flatten()
                {
                    out.extend_from_slice(s.as_bytes());
                }
                if r.disabled {
                    out.push(1);
                }
            }
        }
        if let Some(e) = &self.enable_at {
            out.extend_from_slice(e.as_bytes());
        }
    }
}

fn valid_rule_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 256
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_values_are_absent() {
        assert_eq!(Metadata::from_json(Some(&json!({}))).unwrap(), None);
        assert_eq!(RuleSet::from_json(Some(&json!(null))).unwrap(), None);
    }

    #[test]
    fn rule_defaults_and_validation() {
        let rs = RuleSet::from_json(Some(
            &json!({"domainRules":[{"name":"r1","type":"CEL","expr":"true"}]}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(rs.domain_rules[0].kind, "TRANSFORM");
        assert_eq!(rs.domain_rules[0].mode, "WRITEREAD");
        rs.validate().unwrap();

        let dup = RuleSet::from_json(Some(&json!({
            "domainRules":[{"name":"r","type":"CEL"}], "encodingRules":[{"name":"r","type":"CEL"}]})))
        .unwrap()
        .unwrap();
        assert!(dup
            .validate()
            .unwrap_err()
            .0
            .contains("duplicate rule name 'r'"));

        let bad_mode = RuleSet::from_json(Some(
            &json!({"migrationRules":[{"name":"m","type":"JSONATA","mode":"WRITE"}]}),
        ))
        .unwrap()
        .unwrap();
        assert!(bad_mode
            .validate()
            .unwrap_err()
            .0
            .contains("migrationRules cannot use"));

        let comma = RuleSet::from_json(Some(&json!({"domainRules":[{"name":"c","type":"CEL","mode":"WRITE","onFailure":"ERROR,NONE"}]})))
            .unwrap()
            .unwrap();
        assert!(comma.validate().is_err());

        let bad_name =
            RuleSet::from_json(Some(&json!({"domainRules":[{"name":"1x","type":"CEL"}]})))
                .unwrap()
                .unwrap();
        assert!(bad_name.validate().is_err());
    }

    #[test]
    fn merges_as_confluent_does() {
        let a = Metadata::from_json(Some(
            &json!({"properties":{"a":"1","b":"1"},"tags":{"f":["X"]}}),
        ))
        .unwrap()
        .unwrap();
        let b = Metadata::from_json(Some(&json!({"properties":{"b":"2"},"tags":{"f":["Y"]}})))
            .unwrap()
            .unwrap();
        let m = a.merge(&b);
        assert_eq!(m.properties["b"], "2");
        assert_eq!(m.properties["a"], "1");
        assert_eq!(m.tags["f"].len(), 2);
    }
}
