//! Avro benchmarks: a pairwise check of two 1,000-field records, and a FULL_TRANSITIVE
//! check against 100 existing versions, each adding fields with defaults (targets:
//! < 5 ms and < 100 ms). Parsing and printing the big record are measured too.

use accord_compat::avro;
use accord_compat::{check, parse, CompatibilityLevel, Existing, ParsedSchema, SchemaFormat};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// One field of kind `i % 10`: primitives, logical types, a nullable union, an enum,
/// an array, a map, a fixed and a nested record (named types are unique per field).
fn field(i: usize, with_default: bool) -> String {
    let (ty, default) = match i % 10 {
        0 => ("\"string\"".to_string(), "\"\"".to_string()),
        1 => ("\"int\"".to_string(), "0".to_string()),
        2 => (
            r#"{"type":"long","logicalType":"timestamp-millis"}"#.to_string(),
            "0".to_string(),
        ),
        3 => (r#"["null","double"]"#.to_string(), "null".to_string()),
        4 => (
            format!(r#"{{"type":"enum","name":"E{i}","symbols":["A","B","C"],"default":"A"}}"#),
            "\"A\"".to_string(),
        ),
        5 => (
            r#"{"type":"array","items":"string"}"#.to_string(),
            "[]".to_string(),
        ),
        6 => (
            r#"{"type":"map","values":"long"}"#.to_string(),
            "{}".to_string(),
        ),
        7 => (
            format!(r#"{{"type":"fixed","name":"F{i}","size":16}}"#),
            "\"0123456789abcdef\"".to_string(),
        ),
        8 => (
            format!(
                r#"{{"type":"record","name":"N{i}","fields":[{{"name":"x","type":"int"}},{{"name":"y","type":["null","string"],"default":null}}]}}"#
            ),
            r#"{"x":1}"#.to_string(),
        ),
        _ => (
            r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#.to_string(),
            "\"\"".to_string(),
        ),
    };
    if with_default {
        format!(r#"{{"name":"field_{i}","type":{ty},"default":{default},"doc":"field {i}"}}"#)
    } else {
        format!(r#"{{"name":"field_{i}","type":{ty},"doc":"field {i}"}}"#)
    }
}

/// A record with `base` fields without defaults, plus `added` fields with defaults.
fn record(base: usize, added: usize) -> String {
    let fields: Vec<String> = (0..base)
        .map(|i| field(i, false))
        .chain((base..base + added).map(|i| field(i, true)))
        .collect();
    format!(
        r#"{{"type":"record","name":"Big","namespace":"com.acme.bench","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn avro_schema(text: &str) -> avro::AvroSchema {
    match avro::parse(text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("bench schema does not parse: {e}"),
    }
}

fn parsed(text: &str) -> ParsedSchema {
    match parse(SchemaFormat::Avro, text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("bench schema does not parse: {e}"),
    }
}

fn benches(c: &mut Criterion) {
    // Pairwise: 1,000 fields on both sides, the new one with 10 more defaulted fields.
    let old_text = record(1000, 0);
    let new_text = record(1000, 10);
    let old = avro_schema(&old_text);
    let new = avro_schema(&new_text);
    assert!(avro::backward(&old, &new).is_empty());
    c.bench_function("avro backward 1000 fields", |b| {
        b.iter(|| avro::backward(black_box(&old), black_box(&new)))
    });
    c.bench_function("avro forward 1000 fields", |b| {
        b.iter(|| avro::backward(black_box(&new), black_box(&old)))
    });
    c.bench_function("avro parse 1000 fields", |b| {
        b.iter(|| avro::parse(black_box(&new_text), &[]))
    });
    c.bench_function("avro canonical 1000 fields", |b| {
        b.iter(|| black_box(&new).canonical())
    });
    c.bench_function("avro normalized 1000 fields", |b| {
        b.iter(|| black_box(&new).normalized())
    });

    // FULL_TRANSITIVE: version k has 50 base fields and k fields with defaults.
    let versions: Vec<ParsedSchema> = (0..100).map(|k| parsed(&record(50, k))).collect();
    let existing: Vec<Existing<'_>> = versions
        .iter()
        .enumerate()
        .map(|(k, s)| Existing {
            version: k as i32 + 1,
            schema: s,
        })
        .collect();
    let candidate = parsed(&record(50, 100));
    assert!(check(CompatibilityLevel::FullTransitive, &candidate, &existing).is_compatible());
    c.bench_function("avro FULL_TRANSITIVE vs 100 versions", |b| {
        b.iter(|| {
            check(
                CompatibilityLevel::FullTransitive,
                black_box(&candidate),
                black_box(&existing),
            )
        })
    });

    // The same against 100 versions of the 1,000-field record.
    let big_versions: Vec<ParsedSchema> = (0..100).map(|k| parsed(&record(1000, k))).collect();
    let big_existing: Vec<Existing<'_>> = big_versions
        .iter()
        .enumerate()
        .map(|(k, s)| Existing {
            version: k as i32 + 1,
            schema: s,
        })
        .collect();
    let big_candidate = parsed(&record(1000, 100));
    c.bench_function("avro FULL_TRANSITIVE 1000 fields vs 100 versions", |b| {
        b.iter(|| {
            check(
                CompatibilityLevel::FullTransitive,
                black_box(&big_candidate),
                black_box(&big_existing),
            )
        })
    });
}

criterion_group!(avro_benches, benches);
criterion_main!(avro_benches);
