//! Inputs the fuzzers found (compat/fuzz/artifacts), kept as regression tests.

use accord_compat::{check, parse, CompatibilityLevel, Existing, SchemaFormat};

fn self_compatible(format: SchemaFormat, text: &str) {
    let schema = parse(format, text, &[]).expect("parses");
    let report = check(
        CompatibilityLevel::FullTransitive,
        &schema,
        &[Existing {
            version: 1,
            schema: &schema,
        }],
    );
    assert!(report.is_compatible(), "{:?}", report.incompatibilities);
}

/// A field whose alias is its own name still matches exactly one writer field.
#[test]
fn avro_field_aliased_to_its_own_name_is_compatible_with_itself() {
    self_compatible(
        SchemaFormat::Avro,
        r#"{"type":"record","name":"R","fields":[{"name":"a","tyme":"b","type":"int","default":7,"aliases":["a"]}]}"#,
    );
}

/// A mangled base64 descriptor is an error or a schema whose printed form parses.
#[test]
fn mangled_descriptor_does_not_panic() {
    let text = "CgtvcmRlci5wcm90bxICZAkSDgoGYW1vdW50GAIgASgDEiYKAmF0GAMgASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBIMCgR0YWdzGAQgAygJYgZwcm90bzM=";
    if let Ok(schema) = parse(SchemaFormat::Protobuf, text, &[]) {
        for printed in [schema.canonical(), schema.normalized()] {
            assert!(
                parse(SchemaFormat::Protobuf, &printed, &[]).is_ok(),
                "printed form does not parse: {printed}"
            );
        }
    }
}
