//! [`Contract::validate`]: every rule a contract must meet beyond its shape, each problem
//! reported with its path. The checks, in document order:
//!
//! * ODCS: `apiVersion` is a v3 version, `kind` is `DataContract`, `id`, `version` and
//!   `status` are set; no key outside ODCS v3.1 (a typo would otherwise be kept silently);
//!   schema objects and properties have unique names and valid `logicalType`s;
//!   `contractCreatedTs` is an RFC 3339 date-time.
//! * Accord: `status` is a lifecycle state Accord knows; the owner (`team.name`) and a
//!   contact (`support` or `team.members`) are given; known SLOs have a number and a unit
//!   of their dimension ([`crate::slo`]), once per element; the `accord.*` values agree
//!   with each other and with the schema (see each check below).

use crate::cel;
use crate::contract::{Contract, ContractErrors, ContractStatus, Problem};
use crate::extensions::{ConsumerPolicy, KeyScope, ReadAccess};
use crate::odcs::{
    CustomProperty, Other, SchemaProperty, LOGICAL_TYPES, ODCS_READABLE_API_VERSIONS,
};
use crate::slo::{Slo, SloError};
use std::collections::BTreeMap;

/// Root keys of ODCS v3.1 that Accord keeps in `other`.
const ROOT_OTHER_KEYS: &[&str] = &[
    "servers",
    "price",
    "authoritativeDefinitions",
    "slaDefaultElement",
];

struct Checker {
    problems: Vec<Problem>,
}

/// `at.key`, or `key` at the root.
fn sub(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

impl Checker {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// Keys of `other` that ODCS does not define for this object.
    fn unknown_keys(&mut self, at: &str, other: &Other, odcs_keys: &[&str], what: &str) {
        for k in other.keys() {
            if !odcs_keys.contains(&k.as_str()) {
                self.push(
                    sub(at, k),
                    format!("unknown field '{k}': not an ODCS v3.1.0 field of {what}"),
                );
            }
        }
    }

    fn tags(&mut self, at: &str, tags: &[String]) {
        for (i, t) in tags.iter().enumerate() {
            if t.trim().is_empty() {
                self.push(sub(at, &format!("tags[{i}]")), "empty tag");
            }
        }
    }

    fn custom_properties(&mut self, at: &str, cps: &[CustomProperty]) {
        for (i, cp) in cps.iter().enumerate() {
            let here = sub(at, &format!("customProperties[{i}]"));
            self.custom_property(&here, cp);
        }
    }

    fn custom_property(&mut self, here: &str, cp: &CustomProperty) {
        if cp.property.trim().is_empty() {
            self.push(format!("{here}.property"), "empty property name");
        }
        self.unknown_keys(
            here,
            &cp.other,
            CustomProperty::ODCS_OTHER_KEYS,
            "a custom property",
        );
    }

    fn properties(&mut self, at: &str, props: &[SchemaProperty]) {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, p) in props.iter().enumerate() {
            let here = format!("{at}.properties[{i}]");
            match p.name.as_deref() {
                None | Some("") => self.push(format!("{here}.name"), "a property needs a name"),
                Some(name) => {
                    if let Some(first) = seen.insert(name, i) {
                        self.push(
                            format!("{here}.name"),
                            format!("duplicate property '{name}' (also {at}.properties[{first}])"),
                        );
                    }
                }
            }
            self.property_body(&here, p);
        }
    }

    fn property_body(&mut self, here: &str, p: &SchemaProperty) {
        if let Some(t) = p.logical_type.as_deref() {
            if !LOGICAL_TYPES.contains(&t) {
                self.push(
                    format!("{here}.logicalType"),
                    format!(
                        "unknown logicalType '{t}' (expected {})",
                        LOGICAL_TYPES.join(", ")
                    ),
                );
            }
        }
        if p.items.is_some() && p.logical_type.as_deref().is_some_and(|t| t != "array") {
            self.push(
                format!("{here}.items"),
                "items only apply to a property with logicalType array",
            );
        }
        self.tags(here, &p.tags);
        self.custom_properties(here, &p.custom_properties);
        self.unknown_keys(
            here,
            &p.other,
            SchemaProperty::ODCS_OTHER_KEYS,
            "a schema property",
        );
        self.properties(here, &p.properties);
        if let Some(items) = &p.items {
            self.property_body(&format!("{here}.items"), items);
        }
    }
}

/// `YYYY-MM-DD` naming a real calendar day.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub(crate) fn is_date_time(s: &str) -> bool {
    let (Some(date), Some(rest)) = (s.get(..10), s.get(10..)) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix(['T', 't', ' ']) else {
        return false;
    };
    let two = |t: &str, max: u32| {
        t.len() == 2
            && t.bytes().all(|c| c.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|n| n <= max)
    };
    let time_ok = |t: &str| {
        let b: Vec<&str> = t.split(':').collect();
        b.len() == 3 && two(b[0], 23) && two(b[1], 59) && {
            let (sec, frac) = b[2].split_once('.').unwrap_or((b[2], "0"));
            two(sec, 60) && !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit())
        }
    };
    let (time, zone_ok) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, true)
    } else if rest.len() > 6 {
        let (t, z) = rest.split_at(rest.len() - 6);
        let zb = z.as_bytes();
        let ok = (zb[0] == b'+' || zb[0] == b'-')
            && zb[3] == b':'
            && two(&z[1..3], 23)
            && two(&z[4..6], 59);
        (t, ok)
    } else {
        return false;
    };
    is_date(date) && zone_ok && time_ok(time)
}

/// A Kafka topic name: 1 to 249 of `[A-Za-z0-9._-]`, not `.` or `..`.
pub(crate) fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty stream name".to_string());
    }
    if name.len() > 249 {
        return Some(format!(
            "stream name is {} characters long (at most 249)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("'{name}' is not a valid stream name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "stream name '{name}' has '{c}': use letters, digits, '.', '_' and '-'"
        ));
    }
    None
}

impl Contract {
    /// Checks everything [`Contract::from_yaml`] does not (see [`crate::validate`]) and
    /// returns every problem found.
    pub fn validate(&self) -> Result<(), ContractErrors> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        self.check_odcs(&mut c);
        self.check_owner(&mut c);
        self.check_slos(&mut c);
        self.check_accord(&mut c);
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(ContractErrors(c.problems))
        }
    }

    fn check_odcs(&self, c: &mut Checker) {
        if self.api_version.is_empty() {
            c.push("apiVersion", "required by ODCS (use v3.1.0)");
        } else if !ODCS_READABLE_API_VERSIONS.contains(&self.api_version.as_str()) {
            c.push(
                "apiVersion",
                format!(
                    "unsupported apiVersion '{}' (expected one of {})",
                    self.api_version,
                    ODCS_READABLE_API_VERSIONS.join(", ")
                ),
            );
        }
        if self.kind != "DataContract" {
            c.push(
                "kind",
                format!("expected 'DataContract', found '{}'", self.kind),
            );
        }
        if self.id.trim().is_empty() {
            c.push("id", "required by ODCS");
        }
        if self.version.trim().is_empty() {
            c.push("version", "required by ODCS");
        }
        if self.status.trim().is_empty() {
            c.push(
                "status",
                format!(
                    "required by ODCS (one of {})",
                    ContractStatus::ALL.join(", ")
                ),
            );
        } else if self.status().is_none() {
            c.push(
                "status",
                format!(
                    "unknown status '{}' (expected one of {})",
                    self.status,
                    ContractStatus::ALL.join(", ")
                ),
            );
        }
        if let Some(ts) = &self.contract_created_ts {
            if !is_date_time(ts) {
                c.push(
                    "contractCreatedTs",
                    format!("'{ts}' is not an RFC 3339 date-time (e.g. 2025-01-31T09:30:00Z)"),
                );
            }
        }
        c.unknown_keys("", &self.other, ROOT_OTHER_KEYS, "a data contract");
        c.tags("", &self.tags);
        if let Some(d) = &self.description {
            c.unknown_keys(
                "description",
                &d.other,
                crate::odcs::Description::ODCS_OTHER_KEYS,
                "description",
            );
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, o) in self.schema.iter().enumerate() {
            let here = format!("schema[{i}]");
            match o.name.as_deref() {
                None | Some("") => c.push(format!("{here}.name"), "a schema object needs a name"),
                Some(name) => {
                    if let Some(first) = names.insert(name, i) {
                        c.push(
                            format!("{here}.name"),
                            format!("duplicate schema object '{name}' (also schema[{first}])"),
                        );
                    }
                }
            }
            if let Some(t) = o.logical_type.as_deref() {
                if t != "object" {
                    c.push(
                        format!("{here}.logicalType"),
                        format!("a schema object's logicalType is 'object', found '{t}'"),
                    );
                }
            }
            c.tags(&here, &o.tags);
            c.custom_properties(&here, &o.custom_properties);
            c.unknown_keys(
                &here,
                &o.other,
                crate::odcs::SchemaObject::ODCS_OTHER_KEYS,
                "a schema object",
            );
            c.properties(&here, &o.properties);
        }
        for (i, r) in self.roles.iter().enumerate() {
            let here = format!("roles[{i}]");
            if r.role.trim().is_empty() {
                c.push(format!("{here}.role"), "empty role name");
            }
            c.unknown_keys(
                &here,
                &r.other,
                crate::odcs::Role::ODCS_OTHER_KEYS,
                "a role",
            );
        }
        for (i, s) in self.support.iter().enumerate() {
            let here = format!("support[{i}]");
            if s.channel.trim().is_empty() {
                c.push(format!("{here}.channel"), "empty channel name");
            }
            c.unknown_keys(
                &here,
                &s.other,
                crate::odcs::SupportChannel::ODCS_OTHER_KEYS,
                "a support channel",
            );
        }
        for (i, p) in self.sla_properties.iter().enumerate() {
            c.unknown_keys(
                &format!("slaProperties[{i}]"),
                &p.other,
                crate::odcs::SlaProperty::ODCS_OTHER_KEYS,
                "an SLA property",
            );
        }
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (i, cp) in self.custom_properties.iter().enumerate() {
            let here = self.custom_property_path(i);
            c.custom_property(&here, cp);
            if let Some(first) = seen.insert(&cp.property, here.clone()) {
                c.push(
                    format!("{here}.property"),
                    format!("'{}' is set twice (first at {first})", cp.property),
                );
            }
        }
    }

    fn check_owner(&self, c: &mut Checker) {
        match &self.team {
            None => c.push(
                "team",
                "the owning team is required: set team.name (and team.members)",
            ),
            Some(team) => {
                if team.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                    c.push("team.name", "the owning team's name is required");
                }
                for (i, m) in team.members.iter().enumerate() {
                    let here = format!("team.members[{i}]");
                    if m.username.trim().is_empty() {
                        c.push(format!("{here}.username"), "empty username");
                    }
                    for (key, value) in [("dateIn", &m.date_in), ("dateOut", &m.date_out)] {
                        if let Some(v) = value {
                            if !is_date(v) {
                                c.push(
                                    format!("{here}.{key}"),
                                    format!("'{v}' is not a date (YYYY-MM-DD)"),
                                );
                            }
                        }
                    }
                    c.unknown_keys(
                        &here,
                        &m.other,
                        crate::odcs::TeamMember::ODCS_OTHER_KEYS,
                        "a team member",
                    );
                }
                c.tags("team", &team.tags);
                c.custom_properties("team", &team.custom_properties);
                c.unknown_keys(
                    "team",
                    &team.other,
                    crate::odcs::Team::ODCS_OTHER_KEYS,
                    "team",
                );
                if team.members.is_empty() && self.support.is_empty() {
                    c.push(
                        "support",
                        "no contact: add a support channel (e.g. an e-mail or chat channel) or team.members",
                    );
                }
            }
        }
    }

    fn check_slos(&self, c: &mut Checker) {
        let mut seen: BTreeMap<(&str, Option<&str>), usize> = BTreeMap::new();
        for (i, p) in self.sla_properties.iter().enumerate() {
            let here = format!("slaProperties[{i}]");
            match Slo::from_sla(p) {
                Ok(None) => {}
                Ok(Some(_)) => {
                    let key = (p.property.as_str(), p.element.as_deref());
                    if let Some(first) = seen.insert(key, i) {
                        c.push(
                            format!("{here}.property"),
                            format!(
                                "{} is set twice for the same element (also slaProperties[{first}])",
                                p.property
                            ),
                        );
                    }
                }
                Err(SloError::Unit(m)) => c.push(format!("{here}.unit"), m),
                Err(SloError::Value(m)) => c.push(format!("{here}.value"), m),
            }
        }
    }

    fn check_accord(&self, c: &mut Checker) {
        if let Some(s) = self.stream() {
            let at = self.accord_path("accord.stream");
            if let Some(m) = topic_name_problem(&s.name) {
                c.push(format!("{at}.name"), m);
            }
            for (key, subject) in [
                ("keySubject", &s.key_subject),
                ("valueSubject", &s.value_subject),
            ] {
                if subject.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    c.push(format!("{at}.{key}"), "empty subject name");
                }
            }
            if s.key_subject.is_some() && s.key_subject == s.value_subject {
                c.push(
                    format!("{at}.valueSubject"),
                    "the key and value subjects are the same",
                );
            }
        }
        if let Some(e) = &self.accord.evolution {
            let at = self.accord_path("accord.evolution");
            for (rule, setting) in &e.lint {
                let here = format!("{at}.lint.{}", rule.as_str());
                for option in setting.options_set() {
                    if !rule.options().contains(&option) {
                        let takes = if rule.options().is_empty() {
                            "only level".to_string()
                        } else {
                            format!("level, {}", rule.options().join(", "))
                        };
                        c.push(
                            format!("{here}.{option}"),
                            format!("{} takes {takes}, not '{option}'", rule.as_str()),
                        );
                    }
                }
                if setting.max == Some(0) {
                    c.push(format!("{here}.max"), "expected a positive integer");
                }
                for (i, p) in setting.patterns.iter().enumerate() {
                    if p.trim().is_empty() {
                        c.push(format!("{here}.patterns[{i}]"), "expected a non-empty name");
                    }
                }
            }
        }
        if let Some(rs) = self.accord_rule_set() {
            let at = self.accord_path("accord.ruleSet");
            if let Err(e) = rs.validate() {
                c.push(at.clone(), e.0);
            }
            for p in cel::check_rule_set(rs) {
                c.push(format!("{at}.{}", p.path), p.message);
            }
        }
        if let Some(enc) = self.encryption() {
            let at = self.accord_path("accord.encryption");
            if enc.tags.is_empty() {
                c.push(
                    format!("{at}.tags"),
                    "name at least one tag whose fields are encrypted (e.g. PII)",
                );
            }
            if enc.tags.iter().any(|t| t.trim().is_empty()) {
                c.push(format!("{at}.tags"), "empty tag");
            }
            match (enc.key_scope, enc.entity_key_field.as_deref()) {
                (KeyScope::Entity, None) => c.push(
                    format!("{at}.entityKeyField"),
                    "keyScope entity needs entityKeyField: the field naming the entity (e.g. user_id)",
                ),
                (KeyScope::Stream, Some(_)) => c.push(
                    format!("{at}.entityKeyField"),
                    "entityKeyField only applies to keyScope: entity",
                ),
                (KeyScope::Entity, Some(field)) => {
                    let fields = self.fields();
                    if !fields.is_empty() {
                        match fields.iter().find(|f| f.path == field) {
                            None => c.push(
                                format!("{at}.entityKeyField"),
                                format!("'{field}' is not a property of any schema object"),
                            ),
                            Some(f) => {
                                if let Some(t) = f.tags.iter().find(|t| enc.tags.contains(*t)) {
                                    c.push(
                                        format!("{at}.entityKeyField"),
                                        format!("'{field}' is tagged {t}, so it would be encrypted; readers need it in clear to find the entity's key"),
                                    );
                                }
                            }
                        }
                    }
                }
                (KeyScope::Stream, None) => {}
            }
        }
        if let Some(a) = &self.accord.access {
            let at = self.accord_path("accord.access");
            if a.consumers == ConsumerPolicy::AllowList && a.allowed_teams.is_empty() {
                c.push(
                    format!("{at}.allowedTeams"),
                    "consumers: allowList needs at least one team in allowedTeams",
                );
            }
            if a.consumers != ConsumerPolicy::AllowList && !a.allowed_teams.is_empty() {
                c.push(
                    format!("{at}.allowedTeams"),
                    "allowedTeams only applies to consumers: allowList",
                );
            }
            // Admitted consumers read a restricted stream's schemas and obtain its keys:
            // letting any team admit itself would undo the restriction.
            if a.read == ReadAccess::Restricted && a.consumers == ConsumerPolicy::Open {
                c.push(
                    format!("{at}.consumers"),
                    "consumers: open cannot be combined with read: restricted (any team could admit itself and read the stream); use approval (the default with read: restricted) or allowList",
                );
            }
        }
        let lifecycle_at = self
            .lifecycle()
            .map(|_| self.accord_path("accord.lifecycle"));
        if let (Some(l), Some(at)) = (self.lifecycle(), &lifecycle_at) {
            if let Some(d) = &l.sunset_date {
                if !is_date(d) {
                    c.push(
                        format!("{at}.sunsetDate"),
                        format!("'{d}' is not a date (YYYY-MM-DD)"),
                    );
                }
            }
            if let Some(s) = &l.successor {
                if let Some(m) = topic_name_problem(s) {
                    c.push(format!("{at}.successor"), m);
                } else if self.stream().is_some_and(|own| own.name == *s) {
                    c.push(format!("{at}.successor"), "a stream cannot succeed itself");
                }
            }
        }
        if self.status() == Some(ContractStatus::Deprecated)
            && self.lifecycle().is_none_or(|l| l.sunset_date.is_none())
        {
            let path = match &lifecycle_at {
                Some(at) => format!("{at}.sunsetDate"),
                None => "status".to_string(),
            };
            c.push(
                path,
                "a deprecated stream needs a sunset date: set accord.lifecycle.sunsetDate (and successor)",
            );
        }
    }
}
