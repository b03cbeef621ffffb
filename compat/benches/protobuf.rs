//! Protobuf compatibility benchmarks: a pairwise check of a 300-message file, and a
//! FULL_TRANSITIVE check of a new version against 100 existing versions of that file.

use accord_compat::{
    check, parse, protobuf, CompatibilityLevel, Existing, ParsedSchema, SchemaFormat,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const MESSAGES: usize = 300;

/// A proto3 file of `MESSAGES` messages, each with scalar, enum, message, map, repeated and
/// oneof fields and a nested message; `extra` adds that many fields (to successive
/// messages) so that consecutive versions differ compatibly.
fn big_schema(extra: usize) -> String {
    let mut s = String::from(
        "syntax = \"proto3\";\npackage bench.v1;\n\nimport \"google/protobuf/timestamp.proto\";\n\n",
    );
    s.push_str("enum Status {\n  STATUS_UNKNOWN = 0;\n  ACTIVE = 1;\n  CLOSED = 2;\n}\n\n");
    for i in 0..MESSAGES {
        let next = (i + 1) % MESSAGES;
        s.push_str(&format!("message Msg{i} {{\n"));
        s.push_str("  string id = 1;\n  int64 count = 2;\n  double ratio = 3;\n");
        s.push_str("  Status status = 4;\n  google.protobuf.Timestamp at = 5;\n");
        s.push_str(&format!(
            "  Msg{next} next = 6;\n  repeated string tags = 7;\n"
        ));
        s.push_str("  map<string, Inner> by_key = 8;\n");
        s.push_str("  oneof choice {\n    string a = 9;\n    int32 b = 10;\n  }\n");
        for e in 0..extra {
            if e % MESSAGES == i {
                s.push_str(&format!("  int64 extra_{e} = {};\n", 100 + e));
            }
        }
        s.push_str("  message Inner {\n    string k = 1;\n    bytes v = 2;\n  }\n}\n");
    }
    s
}

fn bench(c: &mut Criterion) {
    let old_text = big_schema(0);
    let new_text = big_schema(1);
    let old = protobuf::parse(&old_text, &[]).expect("old parses");
    let new = protobuf::parse(&new_text, &[]).expect("new parses");
    assert!(protobuf::backward(&old, &new).is_empty());

    c.bench_function("protobuf/backward 300 messages", |b| {
        b.iter(|| black_box(protobuf::backward(black_box(&old), black_box(&new))))
    });

    let versions: Vec<ParsedSchema> = (0..100)
        .map(|v| parse(SchemaFormat::Protobuf, &big_schema(v), &[]).expect("version parses"))
        .collect();
    let existing: Vec<Existing<'_>> = versions
        .iter()
        .enumerate()
        .map(|(i, schema)| Existing {
            version: i32::try_from(i).unwrap_or(0) + 1,
            schema,
        })
        .collect();
    let candidate = parse(SchemaFormat::Protobuf, &big_schema(100), &[]).expect("parses");
    let report = check(CompatibilityLevel::FullTransitive, &candidate, &existing);
    assert!(
        report.is_compatible(),
        "adding fields is compatible: {:?}",
        report.messages()
    );

    c.bench_function(
        "protobuf/full_transitive 100 versions x 300 messages",
        |b| {
            b.iter(|| {
                black_box(check(
                    CompatibilityLevel::FullTransitive,
                    black_box(&candidate),
                    black_box(&existing),
                ))
            })
        },
    );

    c.bench_function("protobuf/parse 300 messages", |b| {
        b.iter(|| black_box(protobuf::parse(black_box(&old_text), &[])))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
