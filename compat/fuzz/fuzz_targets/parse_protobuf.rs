//! Fuzz the Protobuf parser: any input is a schema or an error, never a panic; whatever
//! parses prints canonical and normalised texts that parse again.
#![no_main]
use accord_compat::{parse, SchemaFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(schema) = parse(SchemaFormat::Protobuf, text, &[]) {
        for printed in [schema.canonical(), schema.normalized()] {
            assert!(parse(SchemaFormat::Protobuf, &printed, &[]).is_ok(), "printed form does not parse: {printed}");
        }
    }
});
