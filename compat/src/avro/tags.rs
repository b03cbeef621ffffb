//! Inline schema tags (`"confluent:tags": [...]`) on Avro records and fields, edited the
//! way Confluent's `POST /subjects/{s}/versions/{v}/tags` does: an entity is named by
//! its path (`com.acme.Order` for a record, `com.acme.Order.ssn` for a field) and the
//! tags live in the schema text itself, so they travel with it to every client.

use crate::SchemaError;
use serde_json::{Map, Value};

const TAGS: &str = "confluent:tags";

/// One entity's tags to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEdit {
    /// `SR_RECORD` or `SR_FIELD`.
    pub entity_type: String,
    /// Record full name, or record full name + "." + field name.
    pub entity_path: String,
    pub tags: Vec<String>,
}

/// Applies `add` then `remove` to the schema JSON `text` and returns the edited JSON.
/// An entity that does not exist in the schema is an error naming it.
pub fn edit_tags(text: &str, add: &[TagEdit], remove: &[TagEdit]) -> Result<String, SchemaError> {
    let mut root: Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::new(format!("Invalid Avro schema: {e}")))?;
    for (edits, adding) in [(add, true), (remove, false)] {
        for edit in edits {
            let field = match edit.entity_type.as_str() {
                "SR_FIELD" => true,
                "SR_RECORD" => false,
                other => {
                    return Err(SchemaError::new(format!(
                        "Unsupported entityType '{other}' for an Avro schema: use SR_RECORD or SR_FIELD"
                    )))
                }
            };
            let mut found = false;
            visit(&mut root, "", 0, &mut |full_name, record| {
                if field {
                    let (rec, fname) = edit
                        .entity_path
                        .rsplit_once('.')
                        .unwrap_or(("", edit.entity_path.as_str()));
                    if rec != full_name {
                        return;
                    }
                    if let Some(Value::Array(fields)) = record.get_mut("fields") {
                        for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                            if f.get("name").and_then(Value::as_str) == Some(fname) {
                                apply(f, &edit.tags, adding);
                                found = true;
                            }
                        }
                    }
                } else if full_name == edit.entity_path {
                    apply(record, &edit.tags, adding);
                    found = true;
                }
            })?;
            if !found {
                return Err(SchemaError::new(format!(
                    "Tag entity {} '{}' not found in the schema",
                    edit.entity_type, edit.entity_path
                )));
            }
        }
    }
    serde_json::to_string(&root).map_err(|e| SchemaError::new(e.to_string()))
}

fn apply(obj: &mut Map<String, Value>, tags: &[String], adding: bool) {
    let mut current: Vec<String> = obj
        .get(TAGS)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if adding {
        for t in tags {
            if !current.contains(t) {
                current.push(t.clone());
            }
        }
    } else {
        current.retain(|t| !tags.contains(t));
    }
    if current.is_empty() {
        obj.remove(TAGS);
    } else {
        obj.insert(
            TAGS.to_string(),
            Value::Array(current.into_iter().map(Value::String).collect()),
        );
    }
}

/// Calls `f(full_name, record)` for every record defined in the schema, tracking
/// namespaces as the Avro specification does.
fn visit(
    v: &mut Value,
    namespace: &str,
    depth: usize,
    f: &mut dyn FnMut(&str, &mut Map<String, Value>),
) -> Result<(), SchemaError> {
    if depth > 256 {
        return Err(SchemaError::new("Avro schema nests deeper than 256 levels"));
    }
    match v {
        Value::Array(branches) => {
            for b in branches {
                visit(b, namespace, depth + 1, f)?;
            }
        }
        Value::Object(obj) => {
            let kind = obj
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = obj.get("name").and_then(Value::as_str).map(str::to_string);
            let (full, ns) = match &name {
                Some(n) if n.contains('.') => (
                    n.clone(),
                    n.rsplit_once('.')
                        .map(|p| p.0.to_string())
                        .unwrap_or_default(),
                ),
                Some(n) => {
                    let ns = obj
                        .get("namespace")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| namespace.to_string());
                    (
                        if ns.is_empty() {
                            n.clone()
                        } else {
                            format!("{ns}.{n}")
                        },
                        ns,
                    )
                }
                None => (String::new(), namespace.to_string()),
            };
            if kind == "record" || kind == "error" {
                f(&full, obj);
                if let Some(Value::Array(fields)) = obj.get_mut("fields") {
                    for field in fields {
                        if let Some(t) = field.get_mut("type") {
                            visit(t, &ns, depth + 1, f)?;
                        }
                    }
                }
            } else if let Some(t) = obj.get_mut("type").filter(|t| !t.is_string()) {
                visit(t, &ns, depth + 1, f)?;
            } else {
                for key in ["items", "values"] {
                    if let Some(t) = obj.get_mut(key) {
                        visit(t, &ns, depth + 1, f)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(t: &str, p: &str, tags: &[&str]) -> TagEdit {
        TagEdit {
            entity_type: t.to_string(),
            entity_path: p.to_string(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        }
    }

    const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"ssn","type":"string"},{"name":"addr","type":{"type":"record","name":"Addr","fields":[{"name":"zip","type":"string"}]}}]}"#;

    #[test]
    fn adds_and_removes_tags_on_fields_and_records() {
        let out = edit_tags(
            ORDER,
            &[
                edit("SR_FIELD", "com.acme.Order.ssn", &["PII", "GDPR"]),
                edit("SR_RECORD", "com.acme.Addr", &["LOCATION"]),
                edit("SR_FIELD", "com.acme.Addr.zip", &["PII"]),
            ],
            &[edit("SR_FIELD", "com.acme.Order.ssn", &["GDPR"])],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fields"][0]["confluent:tags"], serde_json::json!(["PII"]));
        assert_eq!(
            v["fields"][1]["type"]["confluent:tags"],
            serde_json::json!(["LOCATION"])
        );
        assert_eq!(
            v["fields"][1]["type"]["fields"][0]["confluent:tags"],
            serde_json::json!(["PII"])
        );
        // Removing the last tag removes the attribute.
        let back = edit_tags(
            &out,
            &[],
            &[edit("SR_FIELD", "com.acme.Order.ssn", &["PII"])],
        )
        .unwrap();
        let v: Value = serde_json::from_str(&back).unwrap();
        assert!(v["fields"][0].get("confluent:tags").is_none());
    }

    #[test]
    fn unknown_entities_are_errors() {
        let e = edit_tags(
            ORDER,
            &[edit("SR_FIELD", "com.acme.Order.nope", &["PII"])],
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("com.acme.Order.nope"), "{e}");
        assert!(edit_tags(ORDER, &[edit("SR_SCHEMA", "x", &["A"])], &[]).is_err());
    }
}
