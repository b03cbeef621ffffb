//! Property tests for the JSON Schema engine, over random nested object schemas.
//!
//! Common properties: every schema is FULL_TRANSITIVE-compatible with itself and with
//! its normalised form; normalisation is idempotent; the canonical text parses back to
//! itself. JSON-specific ones: adding an optional property is compatible for a closed
//! model and refused for an open one (and the other way round for forward), `{}` reads
//! anything and `false` is read by anything, and no input text makes `parse` panic.
//! Every finding Confluent also reports carries its message, which names its kind and
//! and whose FORWARD wording swaps the names of the reader and the writer.

use accord_compat::json::{self, JsonPolicy};
use accord_compat::{
    check, parse, CompatibilityLevel, Direction, Existing, ParsedSchema, SchemaFormat,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn string_schema() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(0u32..5),
        proptest::option::of(5u32..40),
        proptest::option::of(prop::sample::select(vec!["^[a-z]+$", "^x", "[0-9]{2}"])),
    )
        .prop_map(|(min, max, pattern)| {
            let mut o = Map::new();
            o.insert("type".into(), json!("string"));
            if let Some(v) = min {
                o.insert("minLength".into(), json!(v));
            }
            if let Some(v) = max {
                o.insert("maxLength".into(), json!(v));
            }
            if let Some(p) = pattern {
                o.insert("pattern".into(), json!(p));
            }
            Value::Object(o)
        })
}

fn number_schema() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        proptest::option::of(-100i64..0),
        proptest::option::of(0i64..100),
        proptest::option::of(prop::sample::select(vec![1.0, 2.0, 0.5, 5.0])),
    )
        .prop_map(|(integer, min, max, multiple)| {
            let mut o = Map::new();
            o.insert(
                "type".into(),
                json!(if integer { "integer" } else { "number" }),
            );
            if let Some(v) = min {
                o.insert("minimum".into(), json!(v));
            }
            if let Some(v) = max {
                o.insert("exclusiveMaximum".into(), json!(v));
            }
            if let Some(v) = multiple {
                o.insert("multipleOf".into(), json!(v));
            }
            Value::Object(o)
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        string_schema(),
        number_schema(),
        Just(json!({"type": "boolean"})),
        Just(json!({"type": "null"})),
        Just(json!({})),
        prop::collection::vec("[a-z]{1,4}", 1..4).prop_map(|v| json!({ "enum": v })),
        "[a-z]{1,3}".prop_map(|s| json!({ "const": s })),
        Just(json!({"type": ["string", "null"], "maxLength": 10, "title": "nullable"})),
        Just(json!({"type": "string", "enum": ["A", "B"], "description": "typed enum"})),
    ]
}

/// An object schema with the given property schemas (names may repeat: the first wins),
/// some of them required, and a random content model.
fn object_of(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(("[a-f]{1,2}", inner.clone(), any::<bool>()), 0..6),
        prop_oneof![
            Just(None),
            Just(Some(json!(false))),
            Just(Some(json!(true))),
            inner.prop_map(Some),
        ],
        any::<bool>(),
    )
        .prop_map(|(props, additional, with_type)| {
            let mut o = Map::new();
            if with_type {
                o.insert("type".into(), json!("object"));
            }
            let mut properties = Map::new();
            let mut required = Vec::new();
            for (name, schema, req) in props {
                if properties.contains_key(&name) {
                    continue;
                }
                if req {
                    required.push(json!(name.clone()));
                }
                properties.insert(name, schema);
            }
            o.insert("properties".into(), Value::Object(properties));
            if !required.is_empty() {
                o.insert("required".into(), Value::Array(required));
            }
            if let Some(a) = additional {
                o.insert("additionalProperties".into(), a);
            }
            Value::Object(o)
        })
}

fn nested() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(3, 40, 6, |inner| {
            let inner = inner.boxed();
            prop_oneof![
                object_of(inner.clone()),
                inner
                    .clone()
                    .prop_map(|s| json!({"type": "array", "items": s})),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| json!({"oneOf": [a, b]})),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| json!({"anyOf": [a, b]})),
                inner.prop_map(|s| json!({"not": s})),
            ]
        })
        .boxed()
}

/// A random nested object schema, as a whole document.
fn object_schema() -> impl Strategy<Value = Value> {
    (object_of(nested()), any::<bool>(), any::<bool>()).prop_map(|(mut v, defs, draft)| {
        if let Value::Object(o) = &mut v {
            if defs {
                // Route one property through a definition, to exercise $ref.
                o.insert(
                    "definitions".into(),
                    json!({"name": {"type": "string", "maxLength": 20}}),
                );
                if let Some(Value::Object(props)) = o.get_mut("properties") {
                    props.insert("ref_name".into(), json!({"$ref": "#/definitions/name"}));
                }
            }
            if draft {
                o.insert(
                    "$schema".into(),
                    json!("https://json-schema.org/draft/2020-12/schema"),
                );
            }
        }
        v
    })
}

fn parsed(v: &Value) -> ParsedSchema {
    match parse(SchemaFormat::Json, &v.to_string(), &[]) {
        Ok(s) => s,
        Err(e) => panic!("generated schema {v} does not parse: {e}"),
    }
}

fn json_of(s: &ParsedSchema) -> &json::JsonSchema {
    match s {
        ParsedSchema::Json(j) => j,
        _ => panic!("not a JSON schema"),
    }
}

fn full_transitive(new: &ParsedSchema, old: &[&ParsedSchema]) -> Vec<String> {
    let existing: Vec<Existing<'_>> = old
        .iter()
        .enumerate()
        .map(|(i, s)| Existing {
            version: i as i32 + 1,
            schema: s,
        })
        .collect();
    check(CompatibilityLevel::FullTransitive, new, &existing).messages()
}

fn pairs(found: &[accord_compat::Incompatibility]) -> Vec<(String, String)> {
    found
        .iter()
        .map(|i| (i.kind.clone(), i.path.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compatible_with_itself(v in object_schema()) {
        let s = parsed(&v);
        let same = parsed(&v);
        let found = full_transitive(&s, &[&same, &s]);
        prop_assert!(found.is_empty(), "{v}: {found:?}");
    }

    #[test]
    fn compatible_with_its_normalised_form(v in object_schema()) {
        let s = parsed(&v);
        let n = parse(SchemaFormat::Json, &s.normalized(), &[]).expect("normalised text parses");
        let found = full_transitive(&n, &[&s]);
        prop_assert!(found.is_empty(), "{v}: {found:?}");
        let found = full_transitive(&s, &[&n]);
        prop_assert!(found.is_empty(), "{v}: {found:?}");
    }

    #[test]
    fn normalisation_is_idempotent(v in object_schema()) {
        let once = parsed(&v).normalized();
        let twice = parse(SchemaFormat::Json, &once, &[]).expect("parses").normalized();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn canonical_text_round_trips(v in object_schema()) {
        let c = parsed(&v).canonical();
        let again = parse(SchemaFormat::Json, &c, &[]).expect("parses").canonical();
        prop_assert_eq!(c, again);
    }

    #[test]
    fn optional_property_follows_the_content_model(v in object_schema()) {
        let mut closed = v.clone();
        let mut open = v.clone();
        if let (Value::Object(c), Value::Object(o)) = (&mut closed, &mut open) {
            c.insert("additionalProperties".into(), json!(false));
            o.remove("additionalProperties");
        }
        let with_new = |base: &Value| {
            let mut w = base.clone();
            if let Some(Value::Object(props)) = w.get_mut("properties") {
                props.insert("zz_new".into(), json!({"type": "string"}));
            }
            w
        };
        let (c_old, c_new) = (parsed(&closed), parsed(&with_new(&closed)));
        let (o_old, o_new) = (parsed(&open), parsed(&with_new(&open)));
        let path = "#/properties/zz_new".to_string();

        prop_assert!(json::backward(json_of(&c_old), json_of(&c_new)).is_empty());
        prop_assert_eq!(
            pairs(&json::backward(json_of(&c_new), json_of(&c_old))),
            vec![("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL".to_string(), path.clone())]
        );
        prop_assert_eq!(
            pairs(&json::backward(json_of(&o_old), json_of(&o_new))),
            vec![("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL".to_string(), path)]
        );
        prop_assert!(json::backward(json_of(&o_new), json_of(&o_old)).is_empty());
        // LENIENT accepts both content-model changes.
        prop_assert!(json::backward_with_policy(
            json_of(&o_old), json_of(&o_new), JsonPolicy::Lenient).is_empty());
        prop_assert!(json::backward_with_policy(
            json_of(&c_new), json_of(&c_old), JsonPolicy::Lenient).is_empty());
    }

    #[test]
    fn empty_reads_anything_and_false_is_read_by_anything(v in object_schema()) {
        let s = parsed(&v);
        let empty = parsed(&json!({}));
        let nothing = parsed(&json!(false));
        prop_assert!(json::backward(json_of(&s), json_of(&empty)).is_empty());
        prop_assert!(json::backward(json_of(&nothing), json_of(&s)).is_empty());
    }

    #[test]
    fn confluent_messages_name_their_kind_and_reword_for_forward(a in object_schema(), b in object_schema()) {
        let (old, new) = (parsed(&a), parsed(&b));
        for found in json::backward(json_of(&old), json_of(&new)) {
            let Some(msg) = &found.confluent else { continue };
            let head = format!("{{errorType:\"{}\", description:\"", found.kind);
            prop_assert!(msg.starts_with(&head), "{msg}");
            prop_assert!(msg.ends_with("\"}"), "{msg}");
            // A backward check words the reader "new" and the writer "old"; forward swaps
            // the two words and nothing else (generated names hold neither word).
            let forward = json::confluent_for_direction(msg, Direction::Forward);
            let swapped = msg
                .replace(" new ", " \u{0} ")
                .replace(" old ", " new ")
                .replace(" \u{0} ", " old ");
            prop_assert_eq!(forward, swapped);
            prop_assert_eq!(&json::confluent_for_direction(msg, Direction::Backward), msg);
        }
    }

    #[test]
    fn generated_schemas_carry_no_warnings(v in object_schema()) {
        prop_assert!(parsed(&v).warnings().is_empty(), "{v}");
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = parse(SchemaFormat::Json, &text, &[]);
    }

    #[test]
    fn parse_never_panics_on_mangled_schemas(v in object_schema(), cut in 0usize..400, junk in "[\\[\\]{}:,\"a-z0-9#/$]{0,6}") {
        let text = v.to_string();
        let at = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
        let mangled = format!("{}{}{}", &text[..at], junk, &text[at..]);
        if let Ok(s) = parse(SchemaFormat::Json, &mangled, &[]) {
            let _ = full_transitive(&s, &[&s]);
        }
    }
}
