//! Request bodies read the way Confluent's Jackson reads them (issue 14, point 2).
//!
//! Jackson's default mapper coerces scalars: an integer field takes `"1"` and `1.7`
//! (truncated), a string field takes a number or a boolean (as its text), a boolean
//! field takes `"true"`/`"false"` and 0/1. What it cannot convert, or an integer
//! outside int32, is a 400 with code 400 (rest-utils' mapper) that says where. A body
//! that is JSON `null` is Confluent's missing request entity: 422 with code 422, the
//! bean-validation answer of its `@NotNull` request parameters.
//!
//! Each request type describes its fields with a [`Shape`]; the body is coerced to the
//! shape, then deserialised as usual. Fields a shape does not list pass unchanged.

use crate::error::ApiError;
use serde_json::{Map, Value};

/// What Jackson expects at a place in a request body.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A Java `Integer`.
    Int,
    /// A Java `Boolean`.
    Bool,
    /// A Java `String`.
    Str,
    /// A `Map<String, String>`.
    StrMap,
    /// A `List<T>` / `Set<T>`.
    List(&'static Shape),
    /// A `Map<String, T>`.
    Map(&'static Shape),
    /// A bean with these properties (others pass unchanged).
    Obj(&'static [(&'static str, Shape)]),
    /// Anything (left as it is).
    Any,
}

/// Confluent's `SchemaReference`.
pub const REFERENCE: Shape = Shape::Obj(&[
    ("name", Shape::Str),
    ("subject", Shape::Str),
    ("version", Shape::Int),
]);

/// Confluent's `Metadata`.
pub const METADATA: Shape = Shape::Obj(&[
    ("tags", Shape::Map(&Shape::List(&Shape::Str))),
    ("properties", Shape::StrMap),
    ("sensitive", Shape::List(&Shape::Str)),
]);

/// Confluent's `Rule`.
pub const RULE: Shape = Shape::Obj(&[
    ("name", Shape::Str),
    ("doc", Shape::Str),
    ("kind", Shape::Str),
    ("mode", Shape::Str),
    ("type", Shape::Str),
    ("tags", Shape::List(&Shape::Str)),
    ("params", Shape::StrMap),
    ("expr", Shape::Str),
    ("onSuccess", Shape::Str),
    ("onFailure", Shape::Str),
    ("disabled", Shape::Bool),
]);

/// Confluent's `RuleSet`.
pub const RULE_SET: Shape = Shape::Obj(&[
    ("migrationRules", Shape::List(&RULE)),
    ("domainRules", Shape::List(&RULE)),
    ("encodingRules", Shape::List(&RULE)),
]);

/// Confluent's `RegisterSchemaRequest` (register, lookup and compatibility bodies).
pub const REGISTER_SCHEMA: Shape = Shape::Obj(&[
    ("version", Shape::Int),
    ("id", Shape::Int),
    ("schemaType", Shape::Str),
    ("references", Shape::List(&REFERENCE)),
    ("metadata", METADATA),
    ("ruleSet", RULE_SET),
    ("schema", Shape::Str),
    ("schemaTagsToAdd", Shape::Any),
    ("schemaTagsToRemove", Shape::Any),
]);

/// Confluent's `ConfigUpdateRequest`.
pub const CONFIG_UPDATE: Shape = Shape::Obj(&[
    ("alias", Shape::Str),
    ("normalize", Shape::Bool),
    ("validateFields", Shape::Bool),
    ("validateRules", Shape::Bool),
    ("validateNewSchemas", Shape::Bool),
    ("compatibility", Shape::Str),
    ("compatibilityLevel", Shape::Str),
    ("compatibilityGroup", Shape::Str),
    ("compatibilityPolicy", Shape::Str),
    ("aliasForDeks", Shape::Str),
    ("defaultMetadata", METADATA),
    ("overrideMetadata", METADATA),
    ("defaultRuleSet", RULE_SET),
    ("overrideRuleSet", RULE_SET),
    (crate::registry::STRICT_SCHEMAS, Shape::Bool),
]);

/// Confluent's `ModeUpdateRequest`.
pub const MODE_UPDATE: Shape = Shape::Obj(&[("mode", Shape::Str)]);

/// `POST /`: a `Map<String, String>`.
pub const ROOT: Shape = Shape::StrMap;

fn java_type(shape: &Shape) -> &'static str {
    match shape {
        Shape::Int => "java.lang.Integer",
        Shape::Bool => "java.lang.Boolean",
        Shape::Str => "java.lang.String",
        Shape::StrMap | Shape::Map(_) => "java.util.Map",
        Shape::List(_) => "java.util.List",
        Shape::Obj(_) => "object",
        Shape::Any => "value",
    }
}

fn token(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "Boolean value",
        Value::Number(n) if n.is_f64() => "Floating-point value",
        Value::Number(_) => "Integer value",
        Value::String(_) => "String value",
        Value::Array(_) => "Array value (token `JsonToken.START_ARRAY`)",
        Value::Object(_) => "Object value (token `JsonToken.START_OBJECT`)",
    }
}

fn mismatch(shape: &Shape, v: &Value, path: &str) -> ApiError {
    ApiError::MalformedBody(format!(
        "Cannot deserialize value of type `{}` from {} at {}",
        java_type(shape),
        token(v),
        if path.is_empty() { "the body" } else { path }
    ))
}

fn out_of_range(text: &str, path: &str) -> ApiError {
    ApiError::MalformedBody(format!(
        "Numeric value ({text}) out of range of int (-2147483648 - 2147483647) at {path}"
    ))
}

/// `value` coerced to `shape`, as Jackson would read it; `path` names the place for
/// error messages (`references[0].version`).
pub fn coerce(value: Value, shape: &Shape, path: &str) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(value);
    }
    match shape {
        Shape::Any => Ok(value),
        Shape::Int => match &value {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    if i32::try_from(i).is_err() {
                        return Err(out_of_range(&n.to_string(), path));
                    }
                    Ok(Value::from(i))
                } else if let Some(u) = n.as_u64() {
                    Err(out_of_range(&u.to_string(), path))
                } else {
                    // ACCEPT_FLOAT_AS_INT: truncated toward zero, if it fits.
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if !f.is_finite() || f.trunc() < i32::MIN as f64 || f.trunc() > i32::MAX as f64
                    {
                        return Err(out_of_range(&n.to_string(), path));
                    }
                    Ok(Value::from(f.trunc() as i64))
                }
            }
            Value::String(s) => {
                let t = s.trim();
                if t.is_empty() {
                    // Jackson reads an empty String as null for a wrapper type.
                    return Ok(Value::Null);
                }
                match t.parse::<i64>() {
                    Ok(i) if i32::try_from(i).is_ok() => Ok(Value::from(i)),
                    Ok(_) => Err(out_of_range(t, path)),
                    Err(_) => Err(ApiError::MalformedBody(format!(
                        "Cannot deserialize value of type `java.lang.Integer` from String \"{}\": not a valid `java.lang.Integer` value at {path}",
                        s.escape_debug()
                    ))),
                }
            }
            _ => Err(mismatch(shape, &value, path)),
        },
        Shape::Bool => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
            Value::Number(n) if n.as_i64().is_some() => Ok(Value::Bool(n.as_i64() != Some(0))),
            Value::String(s) => Err(ApiError::MalformedBody(format!(
                "Cannot deserialize value of type `java.lang.Boolean` from String \"{}\": only \"true\" or \"false\" recognized at {path}",
                s.escape_debug()
            ))),
            _ => Err(mismatch(shape, &value, path)),
        },
        Shape::Str => match value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(mismatch(shape, &other, path)),
        },
        Shape::StrMap => coerce(value, &Shape::Map(&Shape::Str), path),
        Shape::Map(inner) => match value {
            Value::Object(m) => {
                let mut out = Map::with_capacity(m.len());
                for (k, v) in m {
                    let p = format!("{path}[\"{k}\"]");
                    out.insert(k, coerce(v, inner, &p)?);
                }
                Ok(Value::Object(out))
            }
            other => Err(mismatch(shape, &other, path)),
        },
        Shape::List(inner) => match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| coerce(v, inner, &format!("{path}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Err(mismatch(shape, &other, path)),
        },
        Shape::Obj(fields) => match value {
            Value::Object(m) => {
                let mut out = Map::with_capacity(m.len());
                for (k, v) in m {
                    let v = match fields.iter().find(|(name, _)| *name == k) {
                        Some((_, s)) => {
                            let p = if path.is_empty() {
                                k.clone()
                            } else {
                                format!("{path}.{k}")
                            };
                            coerce(v, s, &p)?
                        }
                        None => v,
                    };
                    out.insert(k, v);
                }
                Ok(Value::Object(out))
            }
            other => Err(mismatch(shape, &other, path)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg(v: Value) -> Result<Value, ApiError> {
        coerce(v, &REGISTER_SCHEMA, "")
    }

    #[test]
    fn scalars_coerce_as_jackson_does() {
        assert_eq!(
            reg(json!({"version": "1", "id": 1.7, "schema": 5})).unwrap(),
            json!({"version": 1, "id": 1, "schema": "5"})
        );
        assert_eq!(
            reg(json!({"metadata": {"properties": {"a": 1, "b": true}}})).unwrap(),
            json!({"metadata": {"properties": {"a": "1", "b": "true"}}})
        );
        assert_eq!(
            reg(json!({"ruleSet": {"domainRules": [{"params": {"x": 2.5}, "disabled": "true"}]}}))
                .unwrap(),
            json!({"ruleSet": {"domainRules": [{"params": {"x": "2.5"}, "disabled": true}]}})
        );
        assert_eq!(
            reg(json!({"references": [{"name": "a", "subject": "s", "version": "2"}]})).unwrap(),
            json!({"references": [{"name": "a", "subject": "s", "version": 2}]})
        );
        assert_eq!(
            reg(json!({"unknown": [1]})).unwrap(),
            json!({"unknown": [1]})
        );
    }

    #[test]
    fn what_jackson_refuses_is_400() {
        for bad in [
            json!({"version": 3000000000i64}),
            json!({"version": true}),
            json!({"version": "x"}),
            json!({"id": -2147483649i64}),
            json!({"schema": {"a": 1}}),
            json!({"references": {"name": "a"}}),
            json!({"metadata": {"properties": {"a": [1]}}}),
            json!([1]),
        ] {
            match reg(bad.clone()) {
                Err(ApiError::MalformedBody(m)) => assert!(!m.is_empty()),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let Err(ApiError::MalformedBody(m)) = reg(json!({"references": [{"version": 1e12}]}))
        else {
            panic!()
        };
        assert!(m.contains("out of range of int"), "{m}");
        assert!(m.contains("references[0].version"), "{m}");
    }
}
