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

fn decoded(b64: &str) -> prost_types::FileDescriptorProto {
    use prost::Message as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("standard base64");
    prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor")
}

#[test]
fn serialized_is_confluents_descriptor_and_parses_back() {
    let s = p(ORDER);
    let b64 = s.serialized();
    let fd = decoded(&b64);
    // What Confluent's `toDynamicSchema` builds, not what protoc would.
    assert_eq!(fd.name(), "default");
    assert_eq!(fd.syntax(), "proto3");
    assert!(fd.source_code_info.is_none());
    let order = &fd.message_type[0];
    let names: Vec<&str> = order.field.iter().map(|f| f.name()).collect();
    // Oneof members first, then the other fields, each in source order.
    assert_eq!(
        names,
        [
            "card",
            "iban",
            "id",
            "created",
            "lines",
            "by_sku",
            "total_cents",
            "status"
        ]
    );
    let field = |n: &str| order.field.iter().find(|f| f.name() == n).unwrap();
    assert_eq!(field("created").type_name(), "google.protobuf.Timestamp");
    assert!(field("created").r#type.is_none() && field("created").label.is_none());
    assert_eq!(field("lines").json_name(), "items");
    assert!(field("id").json_name.is_none());
    assert_eq!(field("by_sku").type_name(), "BySkuEntry");
    assert_eq!(
        order
            .oneof_decl
            .iter()
            .map(|o| o.name())
            .collect::<Vec<_>>(),
        ["payment", "_total_cents"]
    );
    // The written nested message first, then the generated map entry.
    assert_eq!(
        order
            .nested_type
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>(),
        ["Line", "BySkuEntry"]
    );
    let service = &fd.service[0];
    assert_eq!(service.method[0].input_type(), "Order");
    assert_eq!(service.method[0].output_type(), "Order.Line");
    assert_eq!(service.method[0].client_streaming, Some(false));

    // The descriptor parses back to the same schema; serializing that one is stable.
    let back = p(&b64);
    assert_eq!(back.normalized(), s.normalized());
    assert!(backward(&s, &back).is_empty());
    assert!(backward(&back, &s).is_empty());
    let again = back.serialized();
    assert_eq!(p(&again).serialized(), again);
    // Without source text, type names are printed fully qualified, as Confluent does for
    // descriptors.
    assert!(back
        .canonical()
        .contains("  .google.protobuf.Timestamp created = 2;\n"));
}

/// `format=serialized` pinned byte for byte for three schemas. Each expected descriptor is
/// written out from what Confluent's code does with the schema text (see the comments);
/// prost, like protobuf-java, writes fields in field-number order, so encoding it gives
/// the bytes Confluent sends. The base64 is pinned as well.
#[test]
fn serialized_bytes_are_confluents() {
    use prost::Message as _;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
        FileDescriptorProto, FileOptions, MessageOptions, MethodDescriptorProto, MethodOptions,
        OneofDescriptorProto, ServiceDescriptorProto,
    };
    fn field(name: &str, number: i32) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            ..Default::default()
        }
    }
    fn b64(fd: &FileDescriptorProto) -> String {
        base64::engine::general_purpose::STANDARD.encode(fd.encode_to_vec())
    }

    // 1. proto3: nested message and enum, a oneof, a map, an import of a well-known type.
    let text = r#"syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";

message Order {
  string id = 1;
  google.protobuf.Timestamp created = 2;
  map<string, Line> by_sku = 3;
  repeated Status history = 4;
  oneof payment {
    string card = 5;
    Line voucher = 6;
  }
  message Line {
    int64 qty = 1 [json_name = "quantity"];
  }
  enum Status {
    STATUS_UNKNOWN = 0;
    PAID = 1;
  }
}
"#;
    let expected = FileDescriptorProto {
        // `toDynamicSchema()` names the file `DEFAULT_NAME`.
        name: Some("default".into()),
        package: Some("shop.v1".into()),
        // Imports that resolve: timestamp.proto is one of `KNOWN_DEPENDENCIES`.
        dependency: vec!["google/protobuf/timestamp.proto".into()],
        message_type: vec![DescriptorProto {
            name: Some("Order".into()),
            field: vec![
                // `toDynamicMessage` adds the oneofs' members first, labelled "optional"
                // by `OneofBuilder.addField`, with the oneof's index.
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::String as i32),
                    oneof_index: Some(0),
                    ..field("card", 5)
                },
                // Message and enum types: `type_name` as written, no `type`
                // (`getFieldBuilder` sets `type` for scalars only).
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    type_name: Some("Line".into()),
                    oneof_index: Some(0),
                    ..field("voucher", 6)
                },
                // proto3 fields written without a label get none.
                FieldDescriptorProto {
                    r#type: Some(Type::String as i32),
                    ..field("id", 1)
                },
                FieldDescriptorProto {
                    type_name: Some("google.protobuf.Timestamp".into()),
                    ..field("created", 2)
                },
                // A map: "repeated" of the entry type `toMapEntry("by_sku")`.
                FieldDescriptorProto {
                    label: Some(Label::Repeated as i32),
                    type_name: Some("BySkuEntry".into()),
                    ..field("by_sku", 3)
                },
                FieldDescriptorProto {
                    label: Some(Label::Repeated as i32),
                    type_name: Some("Status".into()),
                    ..field("history", 4)
                },
            ],
            nested_type: vec![
                DescriptorProto {
                    name: Some("Line".into()),
                    field: vec![FieldDescriptorProto {
                        r#type: Some(Type::Int64 as i32),
                        // Written, so kept (Wire's `FieldElement.jsonName`).
                        json_name: Some("quantity".into()),
                        ..field("qty", 1)
                    }],
                    ..Default::default()
                },
                // Map entries are added while the fields are processed, after the
                // written nested messages; key and value get no label.
                DescriptorProto {
                    name: Some("BySkuEntry".into()),
                    field: vec![
                        FieldDescriptorProto {
                            r#type: Some(Type::String as i32),
                            ..field("key", 1)
                        },
                        FieldDescriptorProto {
                            type_name: Some("Line".into()),
                            ..field("value", 2)
                        },
                    ],
                    options: Some(MessageOptions {
                        map_entry: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Status".into()),
                value: vec![
                    EnumValueDescriptorProto {
                        name: Some("STATUS_UNKNOWN".into()),
                        number: Some(0),
                        options: None,
                    },
                    EnumValueDescriptorProto {
                        name: Some("PAID".into()),
                        number: Some(1),
                        options: None,
                    },
                ],
                ..Default::default()
            }],
            oneof_decl: vec![OneofDescriptorProto {
                name: Some("payment".into()),
                options: None,
            }],
            ..Default::default()
        }],
        // Set because the text declares it.
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    let got = p(text).serialized();
    assert_eq!(decoded(&got), expected);
    assert_eq!(got, b64(&expected));
    assert_eq!(
        got,
        "CgdkZWZhdWx0EgdzaG9wLnYxGh9nb29nbGUvcHJvdG9idWYvdGltZXN0YW1wLnByb3RvIo8CCgVPcmRlchIOCgRjYXJkGAUgASgJSAASFQoHdm91Y2hlchgGIAEyBExpbmVIABIICgJpZBgBKAkSJgoHY3JlYXRlZBgCMhlnb29nbGUucHJvdG9idWYuVGltZXN0YW1wEhgKBmJ5X3NrdRgDIAMyCkJ5U2t1RW50cnkSFQoHaGlzdG9yeRgEIAMyBlN0YXR1cxobCgRMaW5lEhMKA3F0eRgBKANSCHF1YW50aXR5GiwKCkJ5U2t1RW50cnkSCQoDa2V5GAEoCRIPCgV2YWx1ZRgCMgRMaW5lOgI4ASImCgZTdGF0dXMSEgoOU1RBVFVTX1VOS05PV04QABIICgRQQUlEEAFCCQoHcGF5bWVudGIGcHJvdG8z"
    );

    // 2. proto2: defaults, required, packed, deprecated, an extension range.
    let text = r#"syntax = "proto2";
package legacy;

message Item {
  required string sku = 1;
  optional int32 count = 2 [default = 0x10];
  optional string note = 3 [default = "n/a"];
  optional Kind kind = 4 [default = SMALL];
  repeated double weights = 5 [packed = true];
  optional bool gift = 6 [deprecated = true];
  extensions 100 to max;
  enum Kind {
    SMALL = 1;
    LARGE = 2;
  }
}
"#;
    let expected = FileDescriptorProto {
        name: Some("default".into()),
        package: Some("legacy".into()),
        message_type: vec![DescriptorProto {
            name: Some("Item".into()),
            field: vec![
                // proto2 labels as written.
                FieldDescriptorProto {
                    label: Some(Label::Required as i32),
                    r#type: Some(Type::String as i32),
                    ..field("sku", 1)
                },
                // Wire keeps a default as its source token: "0x10", where protoc
                // would store "16".
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::Int32 as i32),
                    default_value: Some("0x10".into()),
                    ..field("count", 2)
                },
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::String as i32),
                    default_value: Some("n/a".into()),
                    ..field("note", 3)
                },
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    type_name: Some("Kind".into()),
                    default_value: Some("SMALL".into()),
                    ..field("kind", 4)
                },
                // `packed` and `deprecated` are among the options the builder copies.
                FieldDescriptorProto {
                    label: Some(Label::Repeated as i32),
                    r#type: Some(Type::Double as i32),
                    options: Some(prost_types::FieldOptions {
                        packed: Some(true),
                        ..Default::default()
                    }),
                    ..field("weights", 5)
                },
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::Bool as i32),
                    options: Some(prost_types::FieldOptions {
                        deprecated: Some(true),
                        ..Default::default()
                    }),
                    ..field("gift", 6)
                },
            ],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Kind".into()),
                value: vec![
                    EnumValueDescriptorProto {
                        name: Some("SMALL".into()),
                        number: Some(1),
                        options: None,
                    },
                    EnumValueDescriptorProto {
                        name: Some("LARGE".into()),
                        number: Some(2),
                        options: None,
                    },
                ],
                ..Default::default()
            }],
            // Wire reads `max` as 536870911; `addExtensionRange(start, end + 1)`.
            extension_range: vec![prost_types::descriptor_proto::ExtensionRange {
                start: Some(100),
                end: Some(536_870_912),
                options: None,
            }],
            ..Default::default()
        }],
        // protoc leaves proto2's `syntax` unset; Confluent sets what the text declares.
        syntax: Some("proto2".into()),
        ..Default::default()
    };
    let got = p(text).serialized();
    assert_eq!(decoded(&got), expected);
    assert_eq!(got, b64(&expected));
    assert_eq!(
        got,
        "CgdkZWZhdWx0EgZsZWdhY3kiowEKBEl0ZW0SCwoDc2t1GAEgAigJEhMKBWNvdW50GAIgASgFOgQweDEwEhEKBG5vdGUYAyABKAk6A24vYRIXCgRraW5kGAQgATIES2luZDoFU01BTEwSEwoHd2VpZ2h0cxgFIAMoAUICEAESEAoEZ2lmdBgGIAEoCEICGAEiHAoES2luZBIJCgVTTUFMTBABEgkKBUxBUkdFEAIqCAhkEICAgIACYgZwcm90bzI="
    );

    // 3. No syntax statement, a public import, file options, a top-level extension and a
    // service. Custom options (here `(common.owner)`) are dropped.
    let common = r#"syntax = "proto2";
package common;
import "google/protobuf/descriptor.proto";
message Stamp { optional int64 ms = 1; }
extend google.protobuf.FileOptions { optional string owner = 50000; }
"#;
    let text = r#"package svc;

import public "common.proto";

option java_package = "com.svc";
option go_package = "svc";
option (common.owner) = "team-a";

message Ping {
  optional string id = 1;
  optional common.Stamp at = 2;
  extensions 10 to 20;
}

extend Ping {
  optional int32 retries = 10;
}

service Pinger {
  rpc Ping (Ping) returns (stream Ping) {
    option deprecated = true;
  }
}
"#;
    let expected = FileDescriptorProto {
        name: Some("default".into()),
        package: Some("svc".into()),
        // A public import: listed, and its index in `public_dependency`.
        dependency: vec!["common.proto".into()],
        public_dependency: vec![0],
        message_type: vec![DescriptorProto {
            name: Some("Ping".into()),
            field: vec![
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::String as i32),
                    ..field("id", 1)
                },
                FieldDescriptorProto {
                    label: Some(Label::Optional as i32),
                    type_name: Some("common.Stamp".into()),
                    ..field("at", 2)
                },
            ],
            extension_range: vec![prost_types::descriptor_proto::ExtensionRange {
                start: Some(10),
                end: Some(21),
                options: None,
            }],
            ..Default::default()
        }],
        service: vec![ServiceDescriptorProto {
            name: Some("Pinger".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Ping".into()),
                input_type: Some("Ping".into()),
                output_type: Some("Ping".into()),
                options: Some(MethodOptions {
                    deprecated: Some(true),
                    ..Default::default()
                }),
                // `addMethod` always sets both streaming flags.
                client_streaming: Some(false),
                server_streaming: Some(true),
            }],
            options: None,
        }],
        // `addExtendDefinition`: the extendee as written.
        extension: vec![FieldDescriptorProto {
            extendee: Some("Ping".into()),
            label: Some(Label::Optional as i32),
            r#type: Some(Type::Int32 as i32),
            ..field("retries", 10)
        }],
        options: Some(FileOptions {
            java_package: Some("com.svc".into()),
            go_package: Some("svc".into()),
            ..Default::default()
        }),
        // No `syntax` statement in the text: none in the descriptor.
        syntax: None,
        ..Default::default()
    };
    let refs = [Reference::new("common.proto", common)];
    let got = parse(text, &refs).unwrap().serialized();
    assert_eq!(decoded(&got), expected);
    assert_eq!(got, b64(&expected));
    assert_eq!(
        got,
        "CgdkZWZhdWx0EgNzdmMaDGNvbW1vbi5wcm90byIwCgRQaW5nEgoKAmlkGAEgASgJEhYKAmF0GAIgATIMY29tbW9uLlN0YW1wKgQIChAVMiUKBlBpbmdlchIbCgRQaW5nEgRQaW5nGgRQaW5nIgOIAgEoADABOhUKB3JldHJpZXMSBFBpbmcYCiABKAVCDgoHY29tLnN2Y1oDc3ZjUAA="
    );
}

/// Confluent's own `confluent.*_meta` options are the custom options it keeps.
#[test]
fn serialized_keeps_confluent_meta() {
    let s = p(r#"syntax = "proto3";
import "confluent/meta.proto";
message A {
  option (confluent.message_meta).tags = "PII";
  string id = 1 [(confluent.field_meta) = { doc: "the id", params: [{key: "k", value: "v"}] }];
}
"#);
    let b64 = s.serialized();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .unwrap();
    let pool = s.descriptor_pool();
    let fdp = pool
        .get_message_by_name("google.protobuf.FileDescriptorProto")
        .expect("descriptor.proto is imported by meta.proto");
    // The bytes decode as a descriptor with both options in place.
    let msg = prost_reflect::DynamicMessage::decode(fdp, bytes.as_slice()).unwrap();
    let text = format!("{msg:?}");
    assert!(
        text.contains("1088") && text.contains("PII") && text.contains("the id"),
        "{text}"
    );
    // Kept byte for byte: message meta { tags 3 }; field meta { doc 1, params 2 { key 1,
    // value 2 } }, each under extension 1088 of the options.
    assert!(bytes
        .windows(5)
        .any(|w| w == [0x1a, 0x03, b'P', b'I', b'I']));
    assert!(bytes
        .windows(8)
        .any(|w| w == [0x0a, 0x06, b't', b'h', b'e', b' ', b'i', b'd']));
    assert!(bytes
        .windows(8)
        .any(|w| w == [0x12, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v']));
    assert_eq!(
        b64,
        "CgdkZWZhdWx0GhRjb25mbHVlbnQvbWV0YS5wcm90byIsCgFBEh0KAmlkGAEoCUITgkQQCgZ0aGUgaWQSBgoBaxIBdjoIgkQFGgNQSUliBnByb3RvMw=="
    );
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
    // An import without a reference is accepted (Confluent does not check imports) with
    // a warning; using a type from it fails.
    let s = p("syntax = \"proto3\";\nimport \"x.proto\";\nmessage A {}");
    assert_eq!(s.warnings()[0].kind, "IMPORT_NOT_FOUND");
    assert_eq!(s.warnings()[0].path, "x.proto");
    let e = err("syntax = \"proto3\";\nimport \"x.proto\";\nmessage A { X x = 1; }");
    assert!(
        e.contains("3:13: name 'X' is not defined") && e.contains("'x.proto'"),
        "{e}"
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

#[test]
fn every_finding_carries_confluents_message() {
    let pairs = [
        (
            "syntax = \"proto3\"; package a; message M { int32 x = 1; oneof o { string s = 2; string t = 3; } }",
            "syntax = \"proto3\"; package b; message M { string x = 1; oneof o { string s = 2; } }",
        ),
        (
            "syntax = \"proto2\"; message M { required int32 r = 1; optional int32 n = 2; message N {} }",
            "syntax = \"proto2\"; message M { repeated int32 n = 2; required int32 q = 3; }",
        ),
    ];
    let mut kinds = Vec::new();
    for (old, new) in pairs {
        for found in backward(&p(old), &p(new)) {
            let c = found.confluent.as_deref().unwrap_or_default();
            assert!(
                c.starts_with(&format!("{{errorType:\"{}\", description:\"", found.kind)),
                "{found:?}"
            );
            kinds.push(found.kind);
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "FIELD_NUMERIC_LABEL_CHANGED",
            "FIELD_SCALAR_KIND_CHANGED",
            "MESSAGE_REMOVED",
            "ONEOF_FIELD_REMOVED",
            "PACKAGE_CHANGED",
            "REQUIRED_FIELD_ADDED",
            "REQUIRED_FIELD_REMOVED"
        ]
    );
}

/// A forward check runs the backward check with the schemas swapped; Confluent words its
/// findings with the roles swapped too.
#[test]
fn forward_wording_swaps_the_roles() {
    let old = p(
        "syntax = \"proto3\"; package ex; message Pay { oneof m { string a = 1; string b = 2; } }",
    );
    let new = p("syntax = \"proto3\"; package ex; message Pay { oneof m { string a = 1; } }");
    // Forward: the old schema reads what the new one writes.
    let found = backward(&new, &old);
    assert!(found.is_empty());
    let found = backward(&old, &new);
    let backward_text = found[0].confluent.clone().unwrap();
    assert_eq!(
        backward_text,
        "{errorType:\"ONEOF_FIELD_REMOVED\", description:\"The new schema is missing a oneof field at path '#/Pay/m/2' in the old schema\"}"
    );
    assert_eq!(
        confluent_for_direction(&backward_text, crate::Direction::Forward),
        "{errorType:\"ONEOF_FIELD_REMOVED\", description:\"The old schema is missing a oneof field at path '#/Pay/m/2' in the new schema\"}"
    );
    assert_eq!(
        confluent_for_direction(&backward_text, crate::Direction::Backward),
        backward_text
    );
    // Every kind is reworded; other text is left alone.
    for kind in [
        "PACKAGE_CHANGED",
        "MESSAGE_REMOVED",
        "FIELD_KIND_CHANGED",
        "FIELD_SCALAR_KIND_CHANGED",
        "FIELD_NAMED_TYPE_CHANGED",
        "FIELD_NUMERIC_LABEL_CHANGED",
        "REQUIRED_FIELD_ADDED",
        "REQUIRED_FIELD_REMOVED",
        "ONEOF_FIELD_REMOVED",
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
        "FIELD_MOVED_TO_EXISTING_ONEOF",
    ] {
        let b = diff::confluent(kind, "#/A/1");
        let f = confluent_for_direction(&b, crate::Direction::Forward);
        assert_ne!(f, b, "{kind}");
        assert_eq!(f, diff::confluent_worded(kind, "#/A/1", "old", "new"));
    }
    assert_eq!(
        confluent_for_direction("not Confluent's", crate::Direction::Forward),
        "not Confluent's"
    );
}

/// Types used without their import resolve as Confluent resolves them; the imports Accord
/// adds for that are never shown.
#[test]
fn implicit_imports_are_not_printed() {
    let s = p("syntax = \"proto3\";\npackage ex;\nmessage Order {\n  google.protobuf.Timestamp at = 1;\n}\n");
    assert_eq!(
        s.canonical(),
        "syntax = \"proto3\";\npackage ex;\n\nmessage Order {\n  google.protobuf.Timestamp at = 1;\n}\n"
    );
    assert!(s.dependencies().is_empty());
    assert!(decoded(&s.serialized()).dependency.is_empty());
    let w: Vec<(&str, &str)> = s
        .warnings()
        .iter()
        .map(|w| (w.kind.as_str(), w.path.as_str()))
        .collect();
    assert_eq!(w, [("TYPE_NOT_IMPORTED", "ex.Order.at")]);
    // It compares like the same schema with the import written.
    let written = p("syntax = \"proto3\";\npackage ex;\nimport \"google/protobuf/timestamp.proto\";\nmessage Order {\n  google.protobuf.Timestamp at = 1;\n}\n");
    assert!(backward(&s, &written).is_empty() && backward(&written, &s).is_empty());
    assert!(written.warnings().is_empty());
}

fn decl<'a>(ds: &'a [Declaration], full_name: &str) -> &'a Declaration {
    ds.iter()
        .find(|d| d.full_name == full_name)
        .unwrap_or_else(|| panic!("no declaration {full_name} in {ds:#?}"))
}

#[test]
fn declarations_read_names_comments_and_meta_from_awkward_layouts() {
    let s = p(
        r#"// License header: detached from what follows, documents nothing.

syntax = "proto3";
package acme.orders;
import "confluent/meta.proto";

/**
 * An order placed
 * by a customer.
 */
message Order {
  option (confluent.message_meta) = {
    doc: "Orders as placed"
    tags: ["SALES"]
  };
  // The order's id.
  // Unique per shop.
  string order_id = 1 [
    (confluent.field_meta) = { tags: ["PII", "KEY"], doc: "order key" },
    deprecated = false
  ]; string shop = 2; /* trailing block */ int32 qty = 3; // qty trailing
  message Line { string sku = 1; /* the article */ }
  repeated Line lines = 4;
  map<string, int64> totals = 5;
  // How it was paid.
  oneof payment {
    // Card number.
    string card = 6 [(confluent.field_meta).tags = "PCI"];
    string iban = 7;
  }
  enum Status { UNKNOWN = 0; PLACED = 1; }
  Status status = 8;
}

// Section: shipping.

/* Where an order goes. */ message Address { string city = 1; }
enum Channel { WEB = 0; }
"#,
    );
    let ds = s.declarations();
    let names: Vec<(DeclarationKind, &str)> =
        ds.iter().map(|d| (d.kind, d.name.as_str())).collect();
    use DeclarationKind::*;
    assert_eq!(
        names,
        [
            (Message, "Order"),
            (Field, "order_id"),
            (Field, "shop"),
            (Field, "qty"),
            (Field, "lines"),
            (Field, "totals"),
            (Oneof, "payment"),
            (Field, "card"),
            (Field, "iban"),
            (Field, "status"),
            (Message, "Line"),
            (Field, "sku"),
            (Enum, "Status"),
            (Message, "Address"),
            (Field, "city"),
            (Enum, "Channel"),
        ]
    );
    let order = decl(&ds, "acme.orders.Order");
    assert_eq!(order.comments, ["An order placed by a customer."]);
    assert_eq!(order.meta_doc.as_deref(), Some("Orders as placed"));
    assert_eq!(order.tags, ["SALES"]);
    let id = decl(&ds, "acme.orders.Order.order_id");
    assert_eq!(id.comments, ["The order's id. Unique per shop."]);
    assert_eq!(id.meta_doc.as_deref(), Some("order key"));
    assert_eq!(id.tags, ["PII", "KEY"]);
    // As protoc: a comment with more code after it on its line documents nothing.
    assert!(decl(&ds, "acme.orders.Order.shop").comments.is_empty());
    assert!(decl(&ds, "acme.orders.Order.qty")
        .detached_comments
        .is_empty());
    assert!(decl(&ds, "acme.orders.Order.Line.sku").comments.is_empty());
    assert_eq!(
        decl(&ds, "acme.orders.Order.qty").comments,
        ["qty trailing"]
    );
    assert_eq!(
        decl(&ds, "acme.orders.Order.payment").comments,
        ["How it was paid."]
    );
    let card = decl(&ds, "acme.orders.Order.card");
    assert_eq!(card.comments, ["Card number."]);
    assert_eq!(card.tags, ["PCI"]);
    assert!(decl(&ds, "acme.orders.Order.iban").comments.is_empty());
    let address = decl(&ds, "acme.orders.Address");
    assert_eq!(address.comments, ["Where an order goes."]);
    assert_eq!(address.detached_comments, ["Section: shipping."]);
    // The licence header above `syntax` belongs to no declaration.
    assert!(
        ds.iter().all(|d| d
            .comments
            .iter()
            .chain(&d.detached_comments)
            .all(|c| !c.contains("License"))),
        "{ds:#?}"
    );
}

#[test]
fn declarations_of_a_descriptor_have_names_but_no_comments() {
    let text = "syntax = \"proto3\";\n// The thing.\nmessage T { string a = 1; }\n";
    let b64 = p(text).serialized();
    let ds = p(&b64).declarations();
    let names: Vec<&str> = ds.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["T", "a"]);
    assert!(ds.iter().all(|d| d.comments.is_empty()));
    assert_eq!(p(text).declarations()[0].comments, ["The thing."]);
}
