//! `accord import --from-dump FILE`: a registry rebuilt from a dump of Confluent's
//! `_schemas` topic, for teams whose old registry is gone but whose topic is backed up.
//!
//! The dump is what `kafka-console-consumer --topic _schemas --from-beginning
//! --property print.key=true` prints: one record per line, the key, a tab, the value
//! (`null` for a tombstone). Leading fields that other `print.*` properties add
//! (`CreateTime:…`, `Partition:…`, `Offset:…`) are skipped. Records are replayed in
//! order, as Confluent's store reader does (`storage/KafkaStoreMessageHandler.java`,
//! `storage/InMemoryCache.java` in `confluentinc/schema-registry`); the key types are
//! `SchemaRegistryKeyType.java`'s:
//!
//! | key | value | effect |
//! | --- | --- | --- |
//! | `{"keytype":"SCHEMA","subject":s,"version":n}` | `SchemaValue`: subject, version, id, schema, schemaType (absent: AVRO), references, metadata, ruleSet, deleted | the version is set (soft-deleted when `deleted`); a later record for an id that holds another schema is ignored, as Confluent's `validateUpdate` refuses it |
//! | same | `null` | the version is removed (a permanent delete) |
//! | `{"keytype":"CONFIG","subject":s or null}` | `ConfigValue` (the GET /config shape) | the subject's (or, for null, the global) config is set |
//! | same | `null` | the config is removed |
//! | `{"keytype":"MODE","subject":s or null}` | `{"mode":m}` / `null` | the mode is set / removed |
//! | `{"keytype":"DELETE_SUBJECT","subject":s}` | `{"subject":s,"version":n}` | versions 1..=n of s are soft-deleted |
//! | `{"keytype":"CLEAR_SUBJECT","subject":s}` | `{"subject":s}` | the soft-deleted versions of s (of every subject for null) are removed |
//! | `NOOP`, `CONTEXT` | anything | nothing (contexts exist through their subjects) |
//!
//! Any other key type is counted and reported, not guessed at. A line that is not a
//! record stops the import with its line number; nothing is written then.

use super::{context, id_in, parse_schema, State, Version};
use crate::exit::CliError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// What a replay found beside the state: counts for the report.
#[derive(Debug, Default)]
pub(super) struct Replay {
    pub records: usize,
    pub tombstones: usize,
    /// Records of key types this reader does not know, by type.
    pub unknown: BTreeMap<String, usize>,
    /// SCHEMA records ignored because their id already held another schema.
    pub duplicate_ids: Vec<String>,
}

/// The config fields Confluent's `ConfigValue` carries that a registry answers in
/// `GET /config` (the `subject` it also stores is the key's).
const CONFIG_FIELDS: &[&str] = &[
    "compatibilityLevel",
    "alias",
    "normalize",
    "validateFields",
    "validateRules",
    "compatibilityGroup",
    "defaultMetadata",
    "overrideMetadata",
    "defaultRuleSet",
    "overrideRuleSet",
];

/// Reads and replays the dump at `path` (`-` is standard input).
pub(super) fn read(path: &Path) -> Result<(State, Replay), CliError> {
    let shown = path.display().to_string();
    let reader: Box<dyn BufRead> = if shown == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| CliError::usage(format!("cannot read the dump {shown}: {e}")))?;
        Box::new(std::io::BufReader::new(file))
    };
    replay(reader).map_err(|m| CliError::usage(format!("{shown}: {m}")))
}

/// The record a line holds: its key and value (None for a tombstone); None for a
/// blank line.
fn record(line: &str) -> Result<Option<(Value, Option<Value>)>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    // Skip the fields `print.timestamp`, `print.partition`, `print.offset` add.
    let mut rest = line;
    while !rest.starts_with('{') {
        match rest.split_once('\t') {
            Some((_, r)) => rest = r,
            None => return Err("no JSON key (expected: key, a tab, value)".to_string()),
        }
    }
    let (key, value) = rest
        .split_once('\t')
        .ok_or("no tab between key and value (print the dump with --property print.key=true)")?;
    let key: Value = serde_json::from_str(key).map_err(|e| format!("the key is not JSON: {e}"))?;
    let value = value.trim();
    let value = if value == "null" || value.is_empty() {
        None
    } else {
        Some(serde_json::from_str(value).map_err(|e| format!("the value is not JSON: {e}"))?)
    };
    Ok(Some((key, value)))
}

fn subject_of(key: &Value) -> Option<String> {
    key.get("subject")
        .and_then(Value::as_str)
        .map(|s| context::canonical(s).to_string())
}

fn replay(reader: impl BufRead) -> Result<(State, Replay), String> {
    let mut state = State {
        global_mode: "READWRITE".to_string(),
        ..State::default()
    };
    let mut stats = Replay::default();
    for (n, line) in reader.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}", n + 1);
        let line = line.map_err(|e| at(format!("cannot be read: {e}")))?;
        let Some((key, value)) = record(&line).map_err(at)? else {
            continue;
        };
        stats.records += 1;
        if value.is_none() {
            stats.tombstones += 1;
        }
        let keytype = key
            .get("keytype")
            .and_then(Value::as_str)
            .ok_or_else(|| at("a key without keytype".to_string()))?;
        match keytype {
            "SCHEMA" => schema_record(&mut state, &mut stats, &key, value).map_err(at)?,
            "CONFIG" => match (subject_of(&key), value) {
                (None, Some(v)) => state.global_config = Some(config_value(&v)),
                (None, None) => state.global_config = None,
                (Some(s), Some(v)) => {
                    state.subject_configs.insert(s, config_value(&v));
                }
                (Some(s), None) => {
                    state.subject_configs.remove(&s);
                }
            },
            "MODE" => {
                let mode = value
                    .as_ref()
                    .map(|v| {
                        v.get("mode")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| at("a MODE value without mode".to_string()))
                    })
                    .transpose()?;
                match (subject_of(&key), mode) {
                    (None, Some(m)) => state.global_mode = m,
                    (None, None) => state.global_mode = "READWRITE".to_string(),
                    (Some(s), Some(m)) => {
                        state.subject_modes.insert(s, m);
                    }
                    (Some(s), None) => {
                        state.subject_modes.remove(&s);
                    }
                }
            }
            "DELETE_SUBJECT" => {
                // A tombstone of a delete marker changes nothing (Confluent ignores
                // non-schema tombstones).
                let Some(v) = value else { continue };
                let subject = subject_of(&v)
                    .or_else(|| subject_of(&key))
                    .ok_or_else(|| at("a DELETE_SUBJECT without subject".to_string()))?;
                let upto = v
                    .get("version")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| at("a DELETE_SUBJECT value without version".to_string()))?;
                let upto = i32::try_from(upto.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX);
                for (_, ver) in state
                    .versions
                    .range_mut((subject.clone(), i32::MIN)..=(subject, upto))
                {
                    ver.deleted = true;
                }
            }
            "CLEAR_SUBJECT" => {
                let Some(v) = value else { continue };
                match subject_of(&v).or_else(|| subject_of(&key)) {
                    Some(subject) => {
                        let cleared: Vec<_> = state
                            .versions
                            .range((subject.clone(), i32::MIN)..=(subject, i32::MAX))
                            .filter(|(_, ver)| ver.deleted)
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in cleared {
                            state.versions.remove(&k);
                        }
                    }
                    // Without a subject: every subject's soft-deleted versions.
                    None => state.versions.retain(|_, ver| !ver.deleted),
                }
            }
            "NOOP" | "CONTEXT" => {}
            other => *stats.unknown.entry(other.to_string()).or_default() += 1,
        }
    }
    // Only ids that a version still uses can be imported.
    let used: std::collections::BTreeSet<_> = state
        .versions
        .iter()
        .map(|((s, _), v)| id_in(s, v.id))
        .collect();
    state.schemas.retain(|id, _| used.contains(id));
    Ok((state, stats))
}

fn config_value(v: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for f in CONFIG_FIELDS {
        if let Some(x) = v.get(*f).filter(|x| !x.is_null()) {
            out.insert((*f).to_string(), x.clone());
        }
    }
    Value::Object(out)
}

fn schema_record(
    state: &mut State,
    stats: &mut Replay,
    key: &Value,
    value: Option<Value>,
) -> Result<(), String> {
    let subject = subject_of(key).ok_or("a SCHEMA key without subject")?;
    let version = key
        .get("version")
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or("a SCHEMA key without a version")?;
    let Some(v) = value else {
        state.versions.remove(&(subject, version));
        return Ok(());
    };
    let id = v
        .get("id")
        .and_then(Value::as_i64)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or("a SCHEMA value without an id")?;
    let schema = parse_schema(&v)?;
    let deleted = v.get("deleted").and_then(Value::as_bool).unwrap_or(false);
    let sid = id_in(&subject, id);
    match state.schemas.get(&sid) {
        // Confluent's reader refuses a record whose id holds another schema.
        Some(held) if !held.same(&schema) => {
            stats
                .duplicate_ids
                .push(format!("{subject} version {version} (id {id})"));
            return Ok(());
        }
        Some(_) => {}
        None => {
            state.schemas.insert(sid, schema);
        }
    }
    state
        .versions
        .insert((subject, version), Version { id, deleted });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> (State, Replay) {
        replay(std::io::Cursor::new(lines.join("\n"))).expect("replays")
    }

    #[test]
    fn records_replay_in_order() {
        let (state, stats) = run(&[
            r#"{"keytype":"NOOP","magic":0}	null"#,
            r#"{"keytype":"CONFIG","subject":null,"magic":0}	{"compatibilityLevel":"FULL"}"#,
            r#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}	{"subject":"a","version":1,"id":1,"schema":"\"string\"","deleted":false}"#,
            r#"{"keytype":"SCHEMA","subject":"a","version":2,"magic":1}	{"subject":"a","version":2,"id":2,"schema":"\"long\"","deleted":false}"#,
            r#"CreateTime:1700000000000	{"keytype":"SCHEMA","subject":":.eu:b","version":1,"magic":1}	{"subject":":.eu:b","version":1,"id":1,"schemaType":"JSON","schema":"{}","deleted":false}"#,
            r#"{"keytype":"DELETE_SUBJECT","subject":"a","magic":0}	{"subject":"a","version":1}"#,
            r#"{"keytype":"CONFIG","subject":"a","magic":0}	{"compatibilityLevel":"NONE","subject":"a"}"#,
            r#"{"keytype":"MODE","subject":"a","magic":0}	{"mode":"READONLY"}"#,
            r#"{"keytype":"MODE","subject":"a","magic":0}	null"#,
            r#"{"keytype":"SCHEMA","subject":"c","version":1,"magic":1}	{"subject":"c","version":1,"id":3,"schema":"\"int\"","deleted":false}"#,
            r#"{"keytype":"SCHEMA","subject":"c","version":1,"magic":1}	null"#,
            r#"{"keytype":"SCHEMA","subject":"d","version":1,"magic":1}	{"subject":"d","version":1,"id":2,"schema":"\"bytes\"","deleted":false}"#,
            r#"{"keytype":"CLEAR_SUBJECT","subject":"a","magic":0}	{"subject":"a"}"#,
            r#"{"keytype":"WHATEVER","magic":0}	{}"#,
            "",
        ]);
        assert_eq!(stats.records, 14);
        assert_eq!(stats.tombstones, 3);
        assert_eq!(stats.unknown.get("WHATEVER"), Some(&1));
        assert_eq!(stats.duplicate_ids, vec!["d version 1 (id 2)".to_string()]);
        let versions: Vec<_> = state
            .versions
            .iter()
            .map(|((s, n), v)| (s.as_str(), *n, v.id, v.deleted))
            .collect();
        // a/1 soft-deleted then cleared; c/1 tombstoned; d/1 refused.
        assert_eq!(versions, vec![(":.eu:b", 1, 1, false), ("a", 2, 2, false)]);
        assert_eq!(
            state.schemas.keys().cloned().collect::<Vec<_>>(),
            vec![(".".to_string(), 2), (".eu".to_string(), 1)]
        );
        assert_eq!(
            state.global_config,
            Some(serde_json::json!({"compatibilityLevel": "FULL"}))
        );
        assert_eq!(
            state.subject_configs.get("a"),
            Some(&serde_json::json!({"compatibilityLevel": "NONE"}))
        );
        assert!(state.subject_modes.is_empty());
    }

    #[test]
    fn a_line_that_is_not_a_record_names_its_number() {
        let err = replay(std::io::Cursor::new(
            "{\"keytype\":\"NOOP\"}\tnull\nnot a record\n",
        ))
        .expect_err("refused");
        assert!(err.starts_with("line 2:"), "{err}");
        let err = replay(std::io::Cursor::new(
            "{\"keytype\":\"SCHEMA\",\"subject\":\"a\"}\t{}\n",
        ))
        .expect_err("refused");
        assert!(
            err.contains("line 1: a SCHEMA key without a version"),
            "{err}"
        );
    }
}
