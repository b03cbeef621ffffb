use super::*;
use crate::Reference;

fn p(text: &str) -> ProtobufSchema {
    parse(text, &[]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn err(text: &str) -> String {
    match parse(text, &[]) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.message,
    }
}

/// The descriptor without source info, with fields and extensions in a fixed order: the
/// printer groups oneof members and extensions, which moves them in the field list without
/// changing the schema.
fn comparable(s: &ProtobufSchema) -> prost_types::FileDescriptorProto {
    fn sort_msg(m: &mut prost_types::DescriptorProto) {
        m.field.sort_by_key(|f| f.number());
        m.extension
            .sort_by(|a, b| (a.extendee(), a.number()).cmp(&(b.extendee(), b.number())));
        m.nested_type.iter_mut().for_each(sort_msg);
    }
    let mut fd = s.file_descriptor().file_descriptor_proto().clone();
    fd.source_code_info = None;
    fd.message_type.iter_mut().for_each(sort_msg);
    fd.extension
        .sort_by(|a, b| (a.extendee(), a.number()).cmp(&(b.extendee(), b.number())));
    fd
}

fn assert_round_trip(s: &ProtobufSchema) {
    let again = p(&s.canonical());
    assert_eq!(again.canonical(), s.canonical(), "canonical is not stable");
    assert_eq!(
        comparable(&again),
        comparable(s),
        "canonical changed the descriptor"
    );
    let norm = p(&s.normalized());
    assert_eq!(
        norm.normalized(),
        s.normalized(),
        "normalized is not idempotent"
    );
    // Normalizing reorders declarations, so only the meaning must be kept.
    assert!(backward(s, &norm).is_empty() && backward(&norm, s).is_empty());
}

const ORDER: &str = r#"// Orders.
syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

option java_package = "com.shop.v1";
option java_multiple_files = true;

enum Status {
  STATUS_UNKNOWN = 0;
  OPEN = 1;
  CLOSED = 2 [deprecated = true];
}

message Order {
  string id = 1;
  google.protobuf.Timestamp created = 2;
  repeated Line lines = 3 [json_name = "items"];
  map<string, Line> by_sku = 4;
  optional int64 total_cents = 5;
  Status status = 6;
  oneof payment {
    string card = 7;
    string iban = 8;
  }
  reserved 9, 12 to 14;
  reserved "legacy";

  message Line {
    string sku = 1;
    uint32 qty = 2;
  }
}

service Orders {
  rpc Get (Order) returns (Order.Line);
  rpc Watch (stream Order) returns (stream Order) {
    option deprecated = true;
  }
}
"#;

#[test]
fn canonical_follows_confluents_layout() {
    let s = p(ORDER);
    let expected = r#"syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

option java_package = "com.shop.v1";
option java_multiple_files = true;

message Order {
  reserved 9, 12 to 14;
  reserved "legacy";

  string id = 1;
  google.protobuf.Timestamp created = 2;
  repeated Line lines = 3 [json_name = "items"];
  map<string, Line> by_sku = 4;
  optional int64 total_cents = 5;
  Status status = 6;

  oneof payment {
    string card = 7;
    string iban = 8;
  }

  message Line {
    string sku = 1;
    uint32 qty = 2;
  }
}
enum Status {
  STATUS_UNKNOWN = 0;
  OPEN = 1;
  CLOSED = 2 [deprecated = true];
}

service Orders {
  rpc Get (Order) returns (Order.Line);
  rpc Watch (stream Order) returns (stream Order) {
    option deprecated = true;
  };
}
"#;
    assert_eq!(s.canonical(), expected);
    assert_round_trip(&s);
}

#[test]
fn normalized_sorts_and_qualifies() {
    let s = p(r#"syntax = "proto3";
package ex;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
option java_package = "com.ex";
option go_package = "ex";
message B {
  reserved 20, 3;
  reserved "z", "a";
  oneof second { int32 s = 9; }
  string name = 5 [json_name = "n", deprecated = true];
  oneof first { int32 f = 7; int32 e = 6; }
  google.protobuf.Timestamp at = 1;
  map<string, A> as = 2;
  google.protobuf.Duration d = 4;
}
message A { enum E { Z = 0; N = -1; Y = 2; X = 1; } E e = 1; }
"#);
    let expected = r#"syntax = "proto3";
package ex;

import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

option go_package = "ex";
option java_package = "com.ex";

message B {
  reserved 3;
  reserved 20;
  reserved "a";
  reserved "z";

  .google.protobuf.Timestamp at = 1;
  map<string, .ex.A> as = 2;
  .google.protobuf.Duration d = 4;
  string name = 5 [
    deprecated = true,
    json_name = "n"
  ];

  oneof first {
    int32 e = 6;
    int32 f = 7;
  }
  oneof second {
    int32 s = 9;
  }
}
message A {
  .ex.A.E e = 1;

  enum E {
    Z = 0;
    N = -1;
    X = 1;
    Y = 2;
  }
}
"#;
    assert_eq!(s.normalized(), expected);
    assert_round_trip(&s);
}

#[test]
fn proto2_features_round_trip() {
    let s = p(r#"syntax = "proto2";
package ex;
message Order {
  required string id = 1;
  optional bytes blob = 2 [default = "a\001\"b"];
  optional string note = 3 [default = "line\nbreak \"quoted\""];
  optional float ratio = 4 [default = -inf];
  optional Kind kind = 5 [default = BIG];
  repeated int32 codes = 6 [packed = true];
  optional group Extra = 7 {
    optional int32 a = 1;
  }
  extensions 100 to max;
  enum Kind { SMALL = 1; BIG = 2; }
}
extend Order {
  optional string tag = 100;
}
"#);
    let c = s.canonical();
    assert!(c.starts_with("syntax = \"proto2\";\npackage ex;\n"), "{c}");
    assert!(c.contains("  required string id = 1;\n"), "{c}");
    assert!(
        c.contains("optional bytes blob = 2 [default = \"a\\001\\\"b\"];"),
        "{c}"
    );
    assert!(
        c.contains("optional string note = 3 [default = \"line\\nbreak \\\"quoted\\\"\"];"),
        "{c}"
    );
    assert!(
        c.contains("optional float ratio = 4 [default = -inf];"),
        "{c}"
    );
    assert!(c.contains("optional Kind kind = 5 [default = BIG];"), "{c}");
    assert!(
        c.contains("  optional group Extra = 7 {\n    optional int32 a = 1;\n  }\n"),
        "{c}"
    );
    assert!(c.contains("  extensions 100 to max;\n"), "{c}");
    assert!(
        c.contains("\nextend Order {\n  optional string tag = 100;\n}\n"),
        "{c}"
    );
    assert_round_trip(&s);
}

#[test]
fn proto2_without_syntax_statement() {
    let s = p("package ex; message A { optional int32 a = 1; }");
    assert!(
        s.canonical().starts_with("package ex;\n"),
        "{}",
        s.canonical()
    );
    assert!(s
        .normalized()
        .starts_with("syntax = \"proto2\";\npackage ex;\n"));
    let explicit = p("syntax = \"proto2\"; package ex; message A { optional int32 a = 1; }");
    assert!(explicit.canonical().starts_with("syntax = \"proto2\";\n"));
    assert_eq!(explicit.normalized(), s.normalized());
}

#[test]
fn custom_options_are_printed_and_reparse() {
    let s = p(r#"syntax = "proto3";
package ex;
import "confluent/meta.proto";
import "google/protobuf/descriptor.proto";
option (confluent.file_meta) = { doc: "file doc", tags: ["a", "b"] };
extend google.protobuf.FieldOptions { repeated string labels = 50001; double weight = 50002; }
message Order {
  option (confluent.message_meta).doc = "an order";
  string id = 1 [(confluent.field_meta) = { doc: "the id", params: [{key: "k", value: "v"}] }];
  string pan = 2 [(labels) = "pii", (labels) = "pci", (weight) = 0.5];
}
"#);
    let c = s.canonical();
    assert!(
        c.contains("option (confluent.file_meta) = {\n  doc: \"file doc\",\n  tags: [\n    \"a\",\n    \"b\"\n  ]\n};\n"),
        "{c}"
    );
    assert!(
        c.contains("  option (confluent.message_meta) = {\n    doc: \"an order\"\n  };\n"),
        "{c}"
    );
    assert!(c.contains("  string id = 1 [(confluent.field_meta) = {\n    doc: \"the id\",\n    params: [\n      {\n        key: \"k\",\n        value: \"v\"\n      }\n    ]\n  }];\n"), "{c}");
    assert!(
        c.contains("  string pan = 2 [\n    (ex.labels) = \"pii\",\n    (ex.labels) = \"pci\",\n    (ex.weight) = 0.5\n  ];\n"),
        "{c}"
    );
    assert!(c.contains("extend google.protobuf.FieldOptions {\n  repeated string labels = 50001;\n  double weight = 50002;\n}\n"), "{c}");
    assert_round_trip(&s);
}

#[test]
fn nested_sections_indent_blank_lines_like_confluent() {
    let s = p("syntax = \"proto3\"; message A { message B { reserved 2; int32 x = 1; } B b = 1; }");
    assert_eq!(
        s.canonical(),
        "syntax = \"proto3\";\n\nmessage A {\n  B b = 1;\n\n  message B {\n    reserved 2;\n  \n    int32 x = 1;\n  }\n}\n"
    );
    assert_round_trip(&s);
}

#[test]
fn empty_message_and_empty_file() {
    assert_eq!(
        p("syntax = \"proto3\"; message A {}").canonical(),
        "syntax = \"proto3\";\n\nmessage A {}\n"
    );
    assert_eq!(
        p("syntax = \"proto3\";").canonical(),
        "syntax = \"proto3\";\n"
    );
}

#[test]
fn serialized_is_base64_of_the_descriptor_and_parses_back() {
    let s = p(ORDER);
    let b64 = s.serialized();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .expect("standard base64");
    use prost::Message as _;
    let fd = prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor");
    assert!(fd.source_code_info.is_none());
    assert_eq!(fd.package(), "shop.v1");
    assert_eq!(
        fd.dependency,
        vec!["google/protobuf/timestamp.proto".to_owned()]
    );

    let back = p(&b64);
    assert_eq!(back.normalized(), s.normalized());
    assert_eq!(back.serialized(), b64);
    // Without source text, type names are printed fully qualified, as Confluent does for
    // descriptors.
    assert!(back
        .canonical()
        .contains("  .google.protobuf.Timestamp created = 2;\n"));
    assert!(back
        .canonical()
        .contains("  map<string, .shop.v1.Order.Line> by_sku = 4;\n"));
    assert_round_trip(&back);
    assert!(backward(&s, &back).is_empty());
    assert!(backward(&back, &s).is_empty());
}

#[test]
fn serialized_keeps_custom_options() {
    let s = p(r#"syntax = "proto3";
import "confluent/meta.proto";
message A { string id = 1 [(confluent.field_meta).doc = "kept"]; }
"#);
    let back = p(&s.serialized());
    assert!(
        back.canonical().contains("doc: \"kept\""),
        "{}",
        back.canonical()
    );
}

#[test]
fn message_names_in_declaration_order() {
    let s = p("syntax = \"proto3\"; package ex; message Z {} enum E { E0 = 0; } message A { message N {} }");
    assert_eq!(
        s.message_names(),
        vec!["ex.Z".to_owned(), "ex.A".to_owned()]
    );
    assert_eq!(s.first_message_full_name().as_deref(), Some("ex.Z"));
    assert_eq!(s.package(), "ex");
    assert!(p("syntax = \"proto3\"; enum E { A = 0; }")
        .first_message_full_name()
        .is_none());
    assert!(s.descriptor_pool().get_message_by_name("ex.A.N").is_some());
}

#[test]
fn every_builtin_file_compiles() {
    let files = [
        "google/protobuf/any.proto",
        "google/protobuf/api.proto",
        "google/protobuf/descriptor.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/empty.proto",
        "google/protobuf/field_mask.proto",
        "google/protobuf/source_context.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/type.proto",
        "google/protobuf/wrappers.proto",
        "google/type/calendar_period.proto",
        "google/type/color.proto",
        "google/type/date.proto",
        "google/type/datetime.proto",
        "google/type/dayofweek.proto",
        "google/type/decimal.proto",
        "google/type/expr.proto",
        "google/type/fraction.proto",
        "google/type/interval.proto",
        "google/type/latlng.proto",
        "google/type/money.proto",
        "google/type/month.proto",
        "google/type/phone_number.proto",
        "google/type/postal_address.proto",
        "google/type/quaternion.proto",
        "google/type/timeofday.proto",
        "confluent/meta.proto",
        "confluent/type/decimal.proto",
        "confluent/type/variant.proto",
    ];
    let mut text = String::from("syntax = \"proto3\";\n");
    for f in files {
        assert!(is_builtin(f), "{f}");
        text.push_str(&format!("import \"{f}\";\n"));
    }
    text.push_str(
        "message A {\n  google.type.Money m = 1;\n  google.type.PhoneNumber p = 2;\n  \
         google.type.DateTime d = 3;\n  confluent.type.Decimal x = 4;\n  \
         confluent.type.Variant v = 5;\n  google.type.Month mo = 6;\n}\n",
    );
    let s = p(&text);
    let pool = s.descriptor_pool();
    for name in [
        "google.type.Money",
        "google.type.PhoneNumber.ShortCode",
        "google.type.TimeZone",
        "confluent.Meta",
        "confluent.type.Decimal",
    ] {
        assert!(pool.get_message_by_name(name).is_some(), "{name}");
    }
    assert!(pool.get_extension_by_name("confluent.field_meta").is_some());
    assert!(!is_builtin("shop/order.proto"));
}

#[test]
fn references_resolve_by_import_path() {
    let refs = [
        Reference::new("base.proto", "syntax = \"proto3\"; package base; message Id { string v = 1; }"),
        Reference::new(
            "crm/customer.proto",
            "syntax = \"proto3\"; package crm; import \"base.proto\"; message Customer { base.Id id = 1; }",
        ),
    ];
    let s = parse(
        "syntax = \"proto3\"; import \"crm/customer.proto\"; message Order { crm.Customer c = 1; }",
        &refs,
    )
    .expect("parses");
    assert_eq!(s.dependencies(), vec!["crm/customer.proto".to_owned()]);
    assert!(s.canonical().contains("  crm.Customer c = 1;\n"));
    // A reference registered as a base64 descriptor is accepted too.
    let base = p("syntax = \"proto3\"; package base; message Id { string v = 1; }");
    let refs = [Reference::new("base.proto", base.serialized())];
    assert!(parse(
        "syntax = \"proto3\"; import \"base.proto\"; message A { base.Id id = 1; }",
        &refs
    )
    .is_ok());
}

#[test]
fn errors_say_what_and_where() {
    assert_eq!(
        err("syntax = \"proto3\";\nmessage Order {\n  string id = 1\n}\n"),
        "Invalid Protobuf schema: 4:1: expected ';' or '[', but found '}'"
    );
    assert_eq!(
        err("syntax = \"proto3\";\nmessage Order {\n  Customer buyer = 1;\n}\n"),
        "Invalid Protobuf schema: 3:3: name 'Customer' is not defined"
    );
    assert!(
        err("syntax = \"proto3\";\nmessage A {\n  int32 a = 1;\n  int32 b = 1;\n}")
            .contains("4:13: field number '1' is already used")
    );
    assert!(
        err("syntax = \"proto3\";\nimport \"x.proto\";\nmessage A {}")
            .contains("2:1: import 'x.proto' not found")
    );
    let refs = [Reference::new(
        "x.proto",
        "syntax = \"proto3\";\nmessage X { int32 }",
    )];
    let e = parse("syntax = \"proto3\"; import \"x.proto\";", &refs).unwrap_err();
    assert!(e.message.contains("x.proto:2:"), "{}", e.message);
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let mut text = String::from("syntax = \"proto3\";\n");
    for i in 0..40 {
        text.push_str(&format!("message M{i} {{\n"));
    }
    text.push_str(&"}\n".repeat(40));
    assert!(err(&text).contains("Invalid Protobuf schema:"));

    let deep_option = format!(
        "syntax = \"proto3\";\nmessage A {{ option (x) = {}; }}",
        "{ a ".repeat(5000)
    );
    let e = err(&deep_option);
    assert!(e.contains("2:") && e.contains("nesting deeper than"), "{e}");

    // Deep descriptors: prost refuses to decode them.
    let mut msg = prost_types::DescriptorProto {
        name: Some("M".into()),
        ..Default::default()
    };
    for _ in 0..300 {
        msg = prost_types::DescriptorProto {
            name: Some("M".into()),
            nested_type: vec![msg],
            ..Default::default()
        };
    }
    use prost::Message as _;
    let fd = prost_types::FileDescriptorProto {
        name: Some("x.proto".into()),
        message_type: vec![msg],
        ..Default::default()
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(fd.encode_to_vec());
    assert!(parse(&b64, &[]).is_err());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "\u{0}",
        "message",
        "message A { map<",
        "syntax = \"proto3\"; message A { oneof o { } }",
        "AAAA",
        "////",
        "enum E { A = 0; } enum E { B = 0; }",
        "syntax = \"proto3\"; message A { int32 a = 1 [(nope) = { x: [ } ]; }",
        "CgA=",
        "EgA=",
        "IgIKAA==",
    ] {
        let _ = parse(text, &[]);
    }
}

#[test]
fn json_name_only_when_not_default() {
    let s = p("syntax = \"proto3\"; message A { string first_name = 1 [json_name = \"firstName\"]; string b = 2 [json_name = \"bee\"]; }");
    let c = s.canonical();
    assert!(c.contains("  string first_name = 1;\n"), "{c}");
    assert!(c.contains("  string b = 2 [json_name = \"bee\"];\n"), "{c}");
}

#[test]
fn backward_reports_paths_and_messages() {
    let old =
        p("syntax = \"proto3\"; package ex; message A { int32 x = 1; map<string, int32> m = 2; }");
    let new = p(
        "syntax = \"proto3\"; package ex; message A { string x = 1; map<string, bytes> m = 2; }",
    );
    let found = backward(&old, &new);
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|i| (i.kind.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("FIELD_SCALAR_KIND_CHANGED", "ex.A.x"),
            ("FIELD_SCALAR_KIND_CHANGED", "ex.A.m.value")
        ]
    );
    assert!(found[0].message.contains("int32") && found[0].message.contains("string"));
    assert!(backward(&old, &old).is_empty());
}

/// Regression (parse_protobuf fuzzer): a file of comments only is a valid, empty proto2
/// file, and its canonical text must parse back.
#[test]
fn comment_only_file_prints_a_parsable_text() {
    let text = "// An ordhe osyntax = \"protrdo2\"; ";
    let schema = crate::parse(crate::SchemaFormat::Protobuf, text, &[]).expect("parses");
    for printed in [schema.canonical(), schema.normalized()] {
        assert!(
            crate::parse(crate::SchemaFormat::Protobuf, &printed, &[]).is_ok(),
            "{printed:?}"
        );
    }
}

/// Regression (check_pair fuzzer): a base64 descriptor whose `syntax` is misspelt makes
/// prost-reflect panic while formatting the error inside protox; parsing must still
/// answer with an error, not unwind into the caller.
#[test]
fn descriptor_that_panics_inside_protox_is_an_error() {
    let b64 = "CgtvcmRlci5wcm90bxICZXgaH2dvb2dsZS9wcm90b2J1Zi90aW1lc3RhbXAucHJvdG8iWQoFT3JkZXISCgoCaWQYASABKAkSDgoGYW1vdW50GAIgASgDEiYKAmF0GAMgASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBIMCgR0YWdzGAQgAygJYgZwcm10bzM=";
    let outcome =
        std::panic::catch_unwind(|| crate::parse(crate::SchemaFormat::Protobuf, b64, &[]));
    assert!(outcome.is_ok(), "parse unwound");
}
