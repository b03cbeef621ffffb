//! Property tests for the Protobuf engine, over random `.proto` files (proto2 and proto3;
//! scalars, enums, message and map fields, labels, oneofs, nested types, options).
//!
//! Common properties: every schema is FULL_TRANSITIVE-compatible with itself and with its
//! normalised form; normalisation is idempotent. Protobuf-specific ones: the canonical text
//! re-parses to the same text and an equivalent descriptor; `format=serialized` (base64 of
//! the descriptor) parses back to the same normalised schema; adding a field with a fresh
//! tag is compatible both ways while adding a message only backward; no text makes `parse`
//! panic.

use accord_compat::protobuf::{self, ProtobufSchema};
use accord_compat::{check, parse, CompatibilityLevel, Existing, ParsedSchema, SchemaFormat};
use proptest::prelude::*;

const SCALARS: &[&str] = &[
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
    "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
];
const MAP_KEYS: &[&str] = &[
    "string", "int32", "int64", "uint32", "bool", "sint64", "fixed32",
];

#[derive(Debug, Clone)]
enum TySpec {
    Scalar(&'static str),
    Enum(usize),
    Msg(usize),
    Timestamp,
    Map(&'static str, Box<TySpec>),
}

#[derive(Debug, Clone)]
struct FieldSpec {
    ty: TySpec,
    /// 0 = no label (proto3) / optional (proto2), 1 = optional, 2 = repeated, 3 = required.
    label: u8,
    deprecated: bool,
    json_name: bool,
}

#[derive(Debug, Clone)]
struct MsgSpec {
    fields: Vec<FieldSpec>,
    numbers: Vec<u32>,
    /// How many of the last fields go into a oneof.
    oneof: usize,
    nested: bool,
    nested_enum: bool,
    reserved: bool,
    deprecated: bool,
}

#[derive(Debug, Clone)]
struct FileSpec {
    proto3: bool,
    package: Option<&'static str>,
    enums: Vec<Vec<i32>>,
    msgs: Vec<MsgSpec>,
}

fn ty_spec() -> impl Strategy<Value = TySpec> {
    let leaf = prop_oneof![
        6 => prop::sample::select(SCALARS).prop_map(TySpec::Scalar),
        2 => (0usize..3).prop_map(TySpec::Enum),
        2 => (0usize..4).prop_map(TySpec::Msg),
        1 => Just(TySpec::Timestamp),
    ];
    prop_oneof![
        8 => leaf.clone(),
        1 => (prop::sample::select(MAP_KEYS), leaf)
            .prop_map(|(k, v)| TySpec::Map(k, Box::new(v))),
    ]
}

fn field_spec() -> impl Strategy<Value = FieldSpec> {
    (ty_spec(), 0u8..4, any::<bool>(), prop::bool::weighted(0.2)).prop_map(
        |(ty, label, deprecated, json_name)| FieldSpec {
            ty,
            label,
            deprecated: deprecated && label == 2,
            json_name,
        },
    )
}

fn msg_spec() -> impl Strategy<Value = MsgSpec> {
    (
        prop::collection::vec(field_spec(), 0..6),
        prop::sample::subsequence((1u32..40).collect::<Vec<_>>(), 6),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(fields, mut numbers, oneof, nested, nested_enum, reserved, deprecated)| {
                // Shuffle-free but not sorted: reverse every other number pair so that
                // declaration order differs from tag order.
                numbers.reverse();
                MsgSpec {
                    fields,
                    numbers,
                    oneof,
                    nested,
                    nested_enum,
                    reserved,
                    deprecated,
                }
            },
        )
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["ex", "shop.v1", "a.b.c"])),
        prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec![-3, 1, 2, 5, 9, 100]), 0..4),
            0..3,
        ),
        prop::collection::vec(msg_spec(), 1..5),
    )
        .prop_map(|(proto3, package, enums, msgs)| FileSpec {
            proto3,
            package,
            enums,
            msgs,
        })
}

impl FileSpec {
    fn ty_text(&self, t: &TySpec) -> String {
        match t {
            TySpec::Scalar(s) => (*s).to_owned(),
            TySpec::Enum(i) if !self.enums.is_empty() => format!("E{}", i % self.enums.len()),
            TySpec::Enum(_) => "int32".to_owned(),
            TySpec::Msg(i) => format!("M{}", i % self.msgs.len()),
            TySpec::Timestamp => "google.protobuf.Timestamp".to_owned(),
            TySpec::Map(k, v) => {
                let v = match v.as_ref() {
                    TySpec::Map(..) => "string".to_owned(),
                    other => self.ty_text(other),
                };
                format!("map<{k}, {v}>")
            }
        }
    }

    fn is_numeric(&self, t: &TySpec) -> bool {
        match t {
            TySpec::Scalar(s) => !matches!(*s, "string" | "bytes"),
            TySpec::Enum(_) => true,
            _ => false,
        }
    }

    fn render(&self) -> String {
        let mut s = String::new();
        if self.proto3 {
            s.push_str("syntax = \"proto3\";\n");
        } else {
            s.push_str("syntax = \"proto2\";\n");
        }
        if let Some(p) = self.package {
            s.push_str(&format!("package {p};\n"));
        }
        s.push_str("import \"google/protobuf/timestamp.proto\";\n");
        for (i, values) in self.enums.iter().enumerate() {
            s.push_str(&format!("enum E{i} {{\n  E{i}_ZERO = 0;\n"));
            let mut seen = vec![0];
            for v in values {
                if !seen.contains(v) {
                    seen.push(*v);
                    s.push_str(&format!("  E{i}_V{} = {v};\n", v.unsigned_abs()));
                }
            }
            s.push_str("}\n");
        }
        for (mi, m) in self.msgs.iter().enumerate() {
            s.push_str(&format!("message M{mi} {{\n"));
            if m.deprecated {
                s.push_str("  option deprecated = true;\n");
            }
            if m.reserved {
                s.push_str("  reserved 100 to 110, 45;\n  reserved \"gone\";\n");
            }
            let n = m.fields.len().min(m.numbers.len());
            // Fields that can go into a oneof: singular, non-map, at the end.
            let mut oneof_start = n;
            while oneof_start > 0
                && n - oneof_start < m.oneof
                && !matches!(m.fields[oneof_start - 1].ty, TySpec::Map(..))
            {
                oneof_start -= 1;
            }
            for i in 0..n {
                let f = &m.fields[i];
                let in_oneof = i >= oneof_start;
                if i == oneof_start {
                    s.push_str("  oneof choice {\n");
                }
                let ty = self.ty_text(&f.ty);
                let is_map = matches!(f.ty, TySpec::Map(..));
                let label = if in_oneof || is_map {
                    ""
                } else if self.proto3 {
                    match f.label {
                        1 => "optional ",
                        2 => "repeated ",
                        _ => "",
                    }
                } else {
                    match f.label {
                        2 => "repeated ",
                        3 => "required ",
                        _ => "optional ",
                    }
                };
                let mut opts = Vec::new();
                if label == "repeated " && self.is_numeric(&f.ty) && f.deprecated {
                    opts.push("packed = false".to_owned());
                    opts.push("deprecated = true".to_owned());
                }
                if f.json_name {
                    opts.push(format!("json_name = \"j{i}\""));
                }
                if !self.proto3
                    && label == "optional "
                    && matches!(f.ty, TySpec::Scalar("int32" | "string"))
                {
                    opts.push(match f.ty {
                        TySpec::Scalar("int32") => "default = -7".to_owned(),
                        _ => "default = \"d\\n\\\"q\\\"\"".to_owned(),
                    });
                }
                let opts = if opts.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", opts.join(", "))
                };
                let indent = if in_oneof { "    " } else { "  " };
                s.push_str(&format!(
                    "{indent}{label}{ty} f{i} = {}{opts};\n",
                    m.numbers[i]
                ));
            }
            if oneof_start < n {
                s.push_str("  }\n");
            }
            if m.nested {
                let l = if self.proto3 { "" } else { "optional " };
                s.push_str(&format!(
                    "  message Inner {{\n    {l}int64 x = 1;\n    {l}M{mi} parent = 2;\n  }}\n  {l}Inner inner = 60;\n"
                ));
            }
            if m.nested_enum {
                s.push_str("  enum Kind {\n    KIND_ZERO = 0;\n    KIND_ONE = 1;\n  }\n");
            }
            s.push_str("}\n");
        }
        s
    }
}

fn pp(text: &str) -> ProtobufSchema {
    protobuf::parse(text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn wrap(s: &str) -> ParsedSchema {
    parse(SchemaFormat::Protobuf, s, &[]).unwrap_or_else(|e| panic!("{e}\n{s}"))
}

fn full_transitive(new: &ParsedSchema, old: &[&ParsedSchema]) -> Vec<String> {
    let existing: Vec<Existing<'_>> = old
        .iter()
        .enumerate()
        .map(|(i, s)| Existing {
            version: i32::try_from(i).unwrap_or(0) + 1,
            schema: s,
        })
        .collect();
    check(CompatibilityLevel::FullTransitive, new, &existing).messages()
}

/// The descriptor without source info and with fields sorted by tag (the printer groups
/// oneof members after plain fields, which reorders the field list but not the schema).
fn comparable(s: &ProtobufSchema) -> prost_types::FileDescriptorProto {
    fn sort(m: &mut prost_types::DescriptorProto) {
        m.field.sort_by_key(|f| f.number());
        m.nested_type.iter_mut().for_each(sort);
    }
    let mut fd = s.file_descriptor().file_descriptor_proto().clone();
    fd.source_code_info = None;
    fd.message_type.iter_mut().for_each(sort);
    fd
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn compatible_with_itself(spec in file_spec()) {
        let text = spec.render();
        let s = wrap(&text);
        let msgs = full_transitive(&s, &[&s, &s]);
        prop_assert!(msgs.is_empty(), "{text}\n{msgs:?}");
    }

    #[test]
    fn compatible_with_its_normalized_form(spec in file_spec()) {
        let text = spec.render();
        let s = wrap(&text);
        let norm = wrap(&s.normalized());
        let msgs = full_transitive(&norm, &[&s]);
        prop_assert!(msgs.is_empty(), "{text}\n{}\n{msgs:?}", s.normalized());
    }

    #[test]
    fn normalization_is_idempotent(spec in file_spec()) {
        let s = pp(&spec.render());
        let n1 = s.normalized();
        let n2 = pp(&n1).normalized();
        prop_assert_eq!(n1, n2);
    }

    #[test]
    fn canonical_round_trips(spec in file_spec()) {
        let text = spec.render();
        let s = pp(&text);
        let again = pp(&s.canonical());
        prop_assert_eq!(again.canonical(), s.canonical(), "{}", text);
        prop_assert_eq!(comparable(&again), comparable(&s), "{}", text);
    }

    #[test]
    fn serialized_round_trips(spec in file_spec()) {
        let text = spec.render();
        let s = pp(&text);
        let b64 = s.serialized();
        let back = pp(&b64);
        prop_assert_eq!(back.normalized(), s.normalized(), "{}", text);
        // Like Confluent's, the bytes of a schema registered as a descriptor are not the
        // text's (names stay as the descriptor has them, proto2 map entries get labels),
        // but a second round changes nothing.
        let again = back.serialized();
        prop_assert_eq!(pp(&again).serialized(), again);
        prop_assert!(protobuf::backward(&s, &back).is_empty());
        prop_assert!(protobuf::backward(&back, &s).is_empty());
    }

    #[test]
    fn renaming_a_oneof_is_fully_compatible(spec in file_spec()) {
        // Confluent compares the members of a renamed oneof by tag; they all come from the
        // one old oneof, so nothing is reported either way.
        let text = spec.render();
        let renamed = text.replace("oneof choice {", "oneof picked {");
        let (a, b) = (pp(&text), pp(&renamed));
        prop_assert!(protobuf::backward(&a, &b).is_empty(), "{}", text);
        prop_assert!(protobuf::backward(&b, &a).is_empty(), "{}", text);
    }

    #[test]
    fn adding_a_fresh_field_is_fully_compatible(spec in file_spec(), ty in prop::sample::select(SCALARS)) {
        let text = spec.render();
        // Tag 90 is never generated; the field goes into the first message.
        let label = if spec.proto3 { "" } else { "optional " };
        let added = text.replacen("message M0 {\n", &format!("message M0 {{\n  {label}{ty} fresh = 90;\n"), 1);
        let old = wrap(&text);
        let new = wrap(&added);
        let msgs = full_transitive(&new, &[&old]);
        prop_assert!(msgs.is_empty(), "{added}\n{msgs:?}");
    }

    #[test]
    fn adding_a_message_is_backward_only(spec in file_spec()) {
        let text = spec.render();
        let label = if spec.proto3 { "" } else { "optional " };
        let added = format!("{text}message Added {{\n  {label}string s = 1;\n}}\n");
        let old = pp(&text);
        let new = pp(&added);
        prop_assert!(protobuf::backward(&old, &new).is_empty());
        let fwd = protobuf::backward(&new, &old);
        prop_assert_eq!(fwd.len(), 1);
        prop_assert_eq!(fwd[0].kind.as_str(), "MESSAGE_REMOVED");
        let expected = match spec.package {
            Some(p) => format!("{p}.Added"),
            None => "Added".to_owned(),
        };
        prop_assert_eq!(&fwd[0].path, &expected);
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = protobuf::parse(&text, &[]);
    }

    #[test]
    fn parse_never_panics_on_mangled_schemas(spec in file_spec(), cut in 0usize..2000, junk in "[{}<>;=\\[\\]a-z0-9 \"]{0,5}") {
        let text = spec.render();
        let at = cut % (text.len() + 1);
        if text.is_char_boundary(at) {
            let mangled = format!("{}{junk}{}", &text[..at], &text[at..]);
            let _ = protobuf::parse(&mangled, &[]);
        }
    }
}
