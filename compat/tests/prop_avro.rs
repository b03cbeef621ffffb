//! Property tests for the Avro engine over generated schemas: records, enums, fixed,
//! arrays, maps, unions, recursion, namespaces (including the null namespace nested in
//! a named one), logical types, docs, aliases, custom properties and valid defaults.
//!
//! * every schema is FULL_TRANSITIVE-compatible with itself and with its normalised form;
//! * normalisation is idempotent, and the canonical text parses back to itself;
//! * adding a field with a default never breaks BACKWARD;
//! * valid defaults draw no warning; a default of another type's value still parses (as
//!   Confluent, which does not validate defaults by default, registers it), is printed
//!   as written and draws at most one warning;
//! * every finding of a check carries Confluent's message for it, which
//!   `confluent_forward` turns into the FORWARD wording.

use accord_compat::avro::confluent_forward;
use accord_compat::{
    check, parse, CompatibilityLevel, Existing, Incompatibility, ParsedSchema, SchemaFormat,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const PRIMS: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];
const NAMESPACES: [Option<&str>; 4] = [None, Some("com.acme"), Some("org.example.v1"), Some("")];

#[derive(Debug, Clone)]
enum G {
    Prim {
        which: usize,
        logical: bool,
        prop: bool,
    },
    Enum {
        symbols: usize,
        default: bool,
        ns: usize,
    },
    Fixed {
        size: usize,
        ns: usize,
    },
    Array(Box<G>),
    Map(Box<G>),
    Union(Vec<G>),
    Record {
        fields: Vec<F>,
        ns: usize,
        recursive: bool,
        doc: bool,
        alias: bool,
    },
}

#[derive(Debug, Clone)]
struct F {
    ty: G,
    default: bool,
    doc: bool,
    alias: bool,
    order: usize,
    prop: bool,
}

fn leaf() -> impl Strategy<Value = G> {
    prop_oneof![
        4 => (0..PRIMS.len(), any::<bool>(), any::<bool>())
            .prop_map(|(which, logical, prop)| G::Prim { which, logical, prop }),
        1 => (1..5usize, any::<bool>(), 0..NAMESPACES.len())
            .prop_map(|(symbols, default, ns)| G::Enum { symbols, default, ns }),
        1 => (0..20usize, 0..NAMESPACES.len()).prop_map(|(size, ns)| G::Fixed { size, ns }),
    ]
}

fn field(ty: impl Strategy<Value = G>) -> impl Strategy<Value = F> {
    (
        ty,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..3usize,
        any::<bool>(),
    )
        .prop_map(|(ty, default, doc, alias, order, prop)| F {
            ty,
            default,
            doc,
            alias,
            order,
            prop,
        })
}

fn record_of(inner: BoxedStrategy<G>) -> impl Strategy<Value = G> {
    (
        prop::collection::vec(field(inner), 0..5),
        0..NAMESPACES.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(fields, ns, recursive, doc, alias)| G::Record {
            fields,
            ns,
            recursive,
            doc,
            alias,
        })
}

fn any_type() -> BoxedStrategy<G> {
    leaf()
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                inner.clone().prop_map(|g| G::Array(Box::new(g))),
                inner.clone().prop_map(|g| G::Map(Box::new(g))),
                prop::collection::vec(inner.clone(), 1..4).prop_map(G::Union),
                record_of(inner),
            ]
        })
        .boxed()
}

fn top_record() -> BoxedStrategy<G> {
    record_of(any_type()).boxed()
}

/// Renders generated types as schema JSON, naming every named type uniquely
/// (`{prefix}{n}`), and knows a valid value of each type for defaults.
struct Render {
    prefix: &'static str,
    next: usize,
}

impl Render {
    fn name(&mut self) -> String {
        self.next += 1;
        format!("{}{}", self.prefix, self.next)
    }

    /// The schema JSON and a valid value of the type.
    fn render(&mut self, g: &G) -> (Value, Value) {
        match g {
            G::Prim {
                which,
                logical,
                prop,
            } => {
                let name = PRIMS[*which];
                let sample = match name {
                    "null" => Value::Null,
                    "boolean" => json!(true),
                    "int" => json!(1),
                    "long" => json!(2),
                    "float" => json!(1.5),
                    "double" => json!(2.5),
                    "bytes" => json!("\u{ff}a"),
                    _ => json!("s"),
                };
                let logical = match (name, logical) {
                    ("int", true) => Some(json!({"logicalType": "date"})),
                    ("long", true) => Some(json!({"logicalType": "timestamp-millis"})),
                    ("string", true) => Some(json!({"logicalType": "uuid"})),
                    ("bytes", true) => {
                        Some(json!({"scale": 2, "logicalType": "decimal", "precision": 9}))
                    }
                    _ => None,
                };
                if logical.is_none() && !prop {
                    return (json!(name), sample);
                }
                let mut m = Map::new();
                m.insert("type".into(), json!(name));
                if let Some(Value::Object(l)) = logical {
                    m.extend(l);
                }
                if *prop {
                    m.insert("z-prop".into(), json!({"b": [1, 2.5], "a": null}));
                }
                (Value::Object(m), sample)
            }
            G::Enum {
                symbols,
                default,
                ns,
            } => {
                let name = self.name();
                let symbols: Vec<String> = (0..*symbols).map(|i| format!("S{i}")).collect();
                let mut m = Map::new();
                m.insert("type".into(), json!("enum"));
                m.insert("name".into(), json!(name));
                if let Some(ns) = NAMESPACES[*ns] {
                    m.insert("namespace".into(), json!(ns));
                }
                m.insert("symbols".into(), json!(symbols));
                if *default {
                    m.insert("default".into(), json!(symbols[symbols.len() - 1]));
                }
                (Value::Object(m), json!(symbols[0]))
            }
            G::Fixed { size, ns } => {
                let name = self.name();
                let mut m = Map::new();
                m.insert("type".into(), json!("fixed"));
                m.insert("name".into(), json!(name));
                if let Some(ns) = NAMESPACES[*ns] {
                    m.insert("namespace".into(), json!(ns));
                }
                m.insert("size".into(), json!(size));
                (Value::Object(m), json!("x".repeat(*size)))
            }
            G::Array(items) => {
                let (t, s) = self.render(items);
                (json!({"type": "array", "items": t}), json!([s]))
            }
            G::Map(values) => {
                let (t, s) = self.render(values);
                (json!({"type": "map", "values": t}), json!({"k": s}))
            }
            G::Union(branches) => {
                let mut seen: Vec<String> = Vec::new();
                let mut types = Vec::new();
                let mut first_sample = None;
                for b in branches {
                    if matches!(b, G::Union(_)) {
                        continue;
                    }
                    let (t, s) = self.render(b);
                    let key = match &t {
                        Value::String(s) => s.clone(),
                        Value::Object(m) => match (m.get("name"), m.get("type")) {
                            (Some(Value::String(n)), _) => format!("named:{n}"),
                            (_, Some(Value::String(t))) => t.clone(),
                            _ => String::new(),
                        },
                        _ => String::new(),
                    };
                    if seen.contains(&key) {
                        continue;
                    }
                    seen.push(key);
                    if first_sample.is_none() {
                        first_sample = Some(s);
                    }
                    types.push(t);
                }
                match first_sample {
                    Some(s) => (Value::Array(types), s),
                    None => (json!(["null"]), Value::Null),
                }
            }
            G::Record {
                fields,
                ns,
                recursive,
                doc,
                alias,
            } => {
                let name = self.name();
                let namespace = NAMESPACES[*ns];
                let mut m = Map::new();
                m.insert("type".into(), json!("record"));
                m.insert("name".into(), json!(name));
                if let Some(ns) = namespace {
                    m.insert("namespace".into(), json!(ns));
                }
                if *doc {
                    m.insert("doc".into(), json!(format!("the \"{name}\" record")));
                }
                if *alias {
                    m.insert("aliases".into(), json!([format!("Old{name}"), "zz.Legacy"]));
                }
                let mut rendered = Vec::new();
                let mut sample = Map::new();
                for (i, f) in fields.iter().enumerate() {
                    let (t, s) = self.render(&f.ty);
                    let mut fm = Map::new();
                    fm.insert("name".into(), json!(format!("f{i}")));
                    fm.insert("type".into(), t);
                    if f.default {
                        fm.insert("default".into(), s.clone());
                    }
                    if f.doc {
                        fm.insert("doc".into(), json!("field\tdoc"));
                    }
                    if f.alias {
                        fm.insert("aliases".into(), json!([format!("old_f{i}"), "a_f"]));
                    }
                    match f.order {
                        1 => {
                            fm.insert("order".into(), json!("descending"));
                        }
                        2 => {
                            fm.insert("order".into(), json!("ignore"));
                        }
                        _ => {}
                    }
                    if f.prop {
                        fm.insert("x-field".into(), json!(7));
                    }
                    sample.insert(format!("f{i}"), s);
                    rendered.push(Value::Object(fm));
                }
                if *recursive {
                    let full = match namespace {
                        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
                        _ => name.clone(),
                    };
                    rendered.push(json!({"name": "next", "type": ["null", full], "default": null}));
                    sample.insert("next".into(), Value::Null);
                }
                m.insert("fields".into(), Value::Array(rendered));
                (Value::Object(m), Value::Object(sample))
            }
        }
    }
}

fn text_of(g: &G) -> String {
    Render {
        prefix: "T",
        next: 0,
    }
    .render(g)
    .0
    .to_string()
}

fn parsed(text: &str) -> ParsedSchema {
    match parse(SchemaFormat::Avro, text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("generated schema does not parse: {e}\n{text}"),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn compatible_with_itself_and_its_normal_form(g in any_type()) {
        let text = text_of(&g);
        let s = parsed(&text);
        let again = parsed(&text);
        prop_assert!(full_transitive(&s, &[&again, &s]).is_empty(), "{}", text);
        let normal = parsed(&s.normalized());
        let problems = full_transitive(&normal, &[&s]);
        prop_assert!(problems.is_empty(), "{}\n{}\n{:?}", text, s.normalized(), problems);
        let problems = full_transitive(&s, &[&normal]);
        prop_assert!(problems.is_empty(), "{}\n{}\n{:?}", text, s.normalized(), problems);
    }

    #[test]
    fn normalization_is_idempotent(g in any_type()) {
        let text = text_of(&g);
        let once = parsed(&text).normalized();
        let twice = parsed(&once).normalized();
        prop_assert_eq!(&once, &twice, "{}", text);
    }

    #[test]
    fn canonical_text_parses_back_to_itself(g in any_type()) {
        let text = text_of(&g);
        let canonical = parsed(&text).canonical();
        prop_assert_eq!(&parsed(&canonical).canonical(), &canonical, "{}", text);
    }

    #[test]
    fn adding_a_field_with_a_default_never_breaks_backward(
        g in top_record(),
        added in any_type(),
        nullable in any::<bool>(),
    ) {
        let mut top = Render { prefix: "T", next: 0 }.render(&g).0;
        let (added_type, sample) = Render { prefix: "U", next: 0 }.render(&added);
        // ["null", T] only where that is a valid union (T neither a union nor null).
        let wrappable = !added_type.is_array() && added_type != json!("null")
            && added_type.get("type") != Some(&json!("null"));
        let field = if nullable && wrappable {
            json!({"name": "zz_added", "type": ["null", added_type], "default": null})
        } else {
            json!({"name": "zz_added", "type": added_type, "default": sample})
        };
        if let Some(Value::Array(fields)) = top.get_mut("fields") {
            fields.push(field);
        }
        let old = parsed(&text_of(&g));
        let new = parsed(&top.to_string());
        let report = check(
            CompatibilityLevel::Backward,
            &new,
            &[Existing { version: 1, schema: &old }],
        );
        prop_assert!(report.is_compatible(), "{}\n{:?}", top, report.messages());
    }

    #[test]
    fn valid_defaults_draw_no_warning(g in any_type()) {
        let text = text_of(&g);
        let s = parsed(&text);
        prop_assert!(s.warnings().is_empty(), "{}\n{:?}", text, s.warnings());
    }

    #[test]
    fn a_default_of_another_type_parses_prints_as_written_and_checks(
        g in top_record(),
        added in any_type(),
        other in any_type(),
    ) {
        let mut top = Render { prefix: "T", next: 0 }.render(&g).0;
        let (added_type, _) = Render { prefix: "U", next: 0 }.render(&added);
        let (_, sample) = Render { prefix: "V", next: 0 }.render(&other);
        // Java turns a textual default of a float or double field into a number and
        // refuses what `Double.valueOf` cannot read, whatever the settings.
        let float_like = ["float", "double"].iter().any(|t| {
            added_type == json!(t) || added_type.get("type") == Some(&json!(t))
        });
        prop_assume!(!(float_like && sample.is_string()));
        if let Some(Value::Array(fields)) = top.get_mut("fields") {
            fields.push(json!({"name": "zz_added", "type": added_type, "default": sample}));
        }
        let old = parsed(&text_of(&g));
        let text = top.to_string();
        let new = parsed(&text);
        prop_assert!(new.warnings().len() <= 1, "{}\n{:?}", text, new.warnings());
        for w in new.warnings() {
            prop_assert!(
                w.kind == "DEFAULT_TYPE_MISMATCH" || w.kind == "RECURSIVE_DEFAULT",
                "{:?}", w
            );
        }
        // The stored text keeps the default as written (as JSON: Java prints numbers
        // its own way).
        let canonical: Value = serde_json::from_str(&new.canonical()).expect("canonical JSON");
        let printed = canonical["fields"]
            .as_array()
            .and_then(|f| f.last())
            .map(|f| f["default"].clone());
        prop_assert_eq!(printed, Some(sample.clone()), "{}", text);
        prop_assert_eq!(&parsed(&new.canonical()).canonical(), &new.canonical());
        let _ = new.normalized();
        let report = check(
            CompatibilityLevel::Full,
            &new,
            &[Existing { version: 1, schema: &old }],
        );
        prop_assert!(report.is_compatible(), "{}\n{:?}", text, report.messages());
    }

    #[test]
    fn every_finding_carries_confluents_message(a in top_record(), b in top_record()) {
        let (old, new) = (parsed(&text_of(&a)), parsed(&text_of(&b)));
        let existing = [Existing { version: 1, schema: &old }];
        for level in [CompatibilityLevel::Backward, CompatibilityLevel::Forward] {
            for found in check(level, &new, &existing).incompatibilities {
                check_confluent(&found, level == CompatibilityLevel::Forward)?;
            }
        }
    }
}

/// A finding's Confluent message has Confluent's shape for its kind, and
/// `confluent_forward` swaps exactly the two roles where the kind has them. A forward
/// finding's message is already worded for its direction (`check` applies
/// `confluent_forward`): only its shape is checked.
fn check_confluent(found: &Incompatibility, forward_check: bool) -> Result<(), TestCaseError> {
    if found.kind.starts_with("SCHEMA_TOO_") {
        prop_assert!(found.confluent.is_none(), "{:?}", found);
        return Ok(());
    }
    let Some(text) = found.confluent.as_deref() else {
        return Err(TestCaseError::fail(format!(
            "no Confluent message: {found:?}"
        )));
    };
    if found.kind == "READER_FIELD_MATCHES_MULTIPLE_WRITER_FIELDS" {
        prop_assert!(
            text.starts_with(
                "Unexpected exception during compatibility check: Reader record field "
            ),
            "{}",
            text
        );
        prop_assert_eq!(confluent_forward(text), text);
        return Ok(());
    }
    let head = format!("{{errorType:'{}', description:'", found.kind);
    prop_assert!(text.starts_with(&head), "{}", text);
    let path = format!("path '{}'", found.path);
    prop_assert!(text.contains(&path), "{}", text);
    prop_assert!(
        text.contains("', additionalInfo:'") && text.ends_with("'}"),
        "{}",
        text
    );
    if forward_check {
        return Ok(());
    }
    let forward = confluent_forward(text);
    if found.kind == "NAME_MISMATCH" {
        prop_assert_eq!(forward, text);
    } else {
        prop_assert_ne!(&forward, text);
        let back = forward
            .replace("new schema", "\u{0}")
            .replace("old schema", "new schema")
            .replace('\u{0}', "old schema");
        prop_assert_eq!(back, text);
    }
    Ok(())
}
