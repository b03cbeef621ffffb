//! JSON Schema benchmarks: a pairwise check of two 500-property schemas, and a
//! FULL_TRANSITIVE check against 100 existing versions (targets: < 5 ms and < 100 ms).

use accord_compat::json;
use accord_compat::{check, parse, CompatibilityLevel, Existing, ParsedSchema, SchemaFormat};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// A closed object schema with `props` properties of mixed kinds (strings, numbers,
/// enums, nested objects, arrays, nullable types, `$ref`s, oneOfs). `variant` changes
/// only annotations; `max_len` is every string property's maxLength.
fn big_schema(props: usize, variant: usize, max_len: usize) -> String {
    let mut fields = Vec::with_capacity(props);
    let mut required = Vec::new();
    for i in 0..props {
        let schema = match i % 10 {
            0 => format!(
                r#"{{"type":"string","maxLength":{max_len},"description":"field {i}, version {variant}"}}"#
            ),
            1 => r#"{"type":"integer","minimum":0,"maximum":1000000}"#.to_string(),
            2 => r#"{"type":"number","exclusiveMinimum":0}"#.to_string(),
            3 => r#"{"type":"boolean","default":false}"#.to_string(),
            4 => r#"{"type":"string","enum":["NEW","PAID","SHIPPED","DONE"]}"#.to_string(),
            5 => r#"{"type":"object","properties":{"x":{"type":"string"},"y":{"type":"integer"}},"required":["x"],"additionalProperties":false}"#.to_string(),
            6 => format!(r#"{{"type":"array","items":{{"type":"string","maxLength":{max_len}}},"maxItems":100}}"#),
            7 => r#"{"type":["string","null"]}"#.to_string(),
            8 => r##"{"$ref":"#/definitions/address"}"##.to_string(),
            _ => r#"{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}"#.to_string(),
        };
        fields.push(format!(r#""field_{i}":{schema}"#));
        if i % 3 == 0 {
            required.push(format!(r#""field_{i}""#));
        }
    }
    format!(
        r#"{{"$schema":"http://json-schema.org/draft-07/schema#","title":"Big v{variant}","type":"object",
"definitions":{{"address":{{"type":"object","properties":{{"street":{{"type":"string"}},"zip":{{"type":"string","pattern":"^[0-9]{{5}}$"}}}},"additionalProperties":false}}}},
"properties":{{{}}},"required":[{}],"additionalProperties":false}}"#,
        fields.join(","),
        required.join(",")
    )
}

fn json_of(s: &ParsedSchema) -> &json::JsonSchema {
    match s {
        ParsedSchema::Json(j) => j,
        _ => panic!("not JSON"),
    }
}

fn parsed(text: &str) -> ParsedSchema {
    parse(SchemaFormat::Json, text, &[]).expect("benchmark schema parses")
}

fn benches(c: &mut Criterion) {
    let old = parsed(&big_schema(500, 0, 64));
    // One more optional property in the closed model: compatible.
    let new = parsed(&big_schema(501, 1, 64));
    // Every string bound lowered: 100 incompatibilities to report.
    let narrowed = parsed(&big_schema(500, 1, 32));
    assert!(json::backward(json_of(&old), json_of(&new)).is_empty());
    assert_eq!(json::backward(json_of(&old), json_of(&narrowed)).len(), 100);

    c.bench_function("json/parse_500_properties", |b| {
        let text = big_schema(500, 0, 64);
        b.iter(|| parsed(black_box(&text)))
    });
    c.bench_function("json/backward_500_properties_compatible", |b| {
        b.iter(|| json::backward(black_box(json_of(&old)), black_box(json_of(&new))))
    });
    c.bench_function("json/backward_500_properties_100_incompatibilities", |b| {
        b.iter(|| json::backward(black_box(json_of(&old)), black_box(json_of(&narrowed))))
    });

    // 100 versions that differ in annotations only, then FULL_TRANSITIVE (both
    // directions against every version).
    let versions: Vec<ParsedSchema> = (1..=100).map(|v| parsed(&big_schema(500, v, 64))).collect();
    let existing: Vec<Existing<'_>> = versions
        .iter()
        .enumerate()
        .map(|(i, s)| Existing {
            version: i as i32 + 1,
            schema: s,
        })
        .collect();
    let latest = parsed(&big_schema(500, 101, 64));
    assert!(check(CompatibilityLevel::FullTransitive, &latest, &existing).is_compatible());
    c.bench_function("json/full_transitive_100_versions_500_properties", |b| {
        b.iter(|| {
            check(
                CompatibilityLevel::FullTransitive,
                black_box(&latest),
                black_box(&existing),
            )
        })
    });
}

criterion_group!(json_benches, benches);
criterion_main!(json_benches);
