//! Fuzz the deserializers: any record bytes (and, for header mode, any header), read by
//! the Avro (generic, serde, with a reader schema), Protobuf (dynamic) and JSON Schema
//! deserializers against a fixed set of registered schemas, give a value or an error,
//! never a panic or an abort (Avro block counts that exceed the input must not allocate).
#![no_main]
use accord_client::serdes::{
    AvroDeserializer, JsonDeserializer, MemorySource, ProtobufDeserializer, SerdeConfig,
};
use accord_client::types::RegisteredSchema;
use accord_compat::SchemaFormat;
use futures::FutureExt;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const AVRO: &str = r#"{"type":"record","name":"R","namespace":"f","fields":[
 {"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"s","type":"string"},
 {"name":"b","type":"bytes"},{"name":"f","type":"float"},{"name":"d","type":"double"},
 {"name":"t","type":"boolean"},{"name":"u","type":["null","string","long"]},
 {"name":"a","type":{"type":"array","items":"string"}},
 {"name":"n","type":{"type":"array","items":"null"}},
 {"name":"nn","type":{"type":"array","items":{"type":"array","items":"null"}}},
 {"name":"m","type":{"type":"map","values":"int"}},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
 {"name":"x","type":{"type":"fixed","name":"X","size":4}},
 {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"big","type":{"type":"bytes","logicalType":"big-decimal"}},
 {"name":"id","type":{"type":"string","logicalType":"uuid"}},
 {"name":"date","type":{"type":"int","logicalType":"date"}},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"dur","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}},
 {"name":"next","type":["null","R"],"default":null}]}"#;

const AVRO_READER: &str = r#"{"type":"record","name":"R","namespace":"f","fields":[
 {"name":"l","type":"double"},{"name":"s","type":"string"},{"name":"extra","type":"int","default":7},
 {"name":"u","type":["null","string","long"]},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}]}"#;

const PROTO: &str = "syntax = \"proto3\";\npackage f;\n\nmessage M {\n  int32 i = 1;\n  string s = 2;\n  repeated int64 r = 3;\n  map<string, N> m = 4;\n  oneof o {\n    bytes b = 5;\n    N n = 6;\n  }\n  E e = 7;\n  message N {\n    double d = 1;\n    M back = 2;\n  }\n}\nmessage Other {\n  sint64 z = 1;\n  fixed32 f = 2;\n}\nenum E {\n  ZERO = 0;\n  ONE = 1;\n}\n";

const JSON: &str = r#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"array","items":{"type":"string"}}},"required":["a"]}"#;

struct Serdes {
    avro: AvroDeserializer<MemorySource>,
    avro_reader: AvroDeserializer<MemorySource>,
    proto: ProtobufDeserializer<MemorySource>,
    json: JsonDeserializer<MemorySource>,
    json_strict: JsonDeserializer<MemorySource>,
}

fn schema(id: i32, guid: &str, format: SchemaFormat, text: &str) -> RegisteredSchema {
    RegisteredSchema {
        id,
        guid: Some(guid.to_string()),
        format,
        schema: text.to_string(),
        references: vec![],
        metadata: None,
        rule_set: None,
        subject: None,
        version: None,
    }
}

fn serdes() -> &'static Serdes {
    static S: OnceLock<Serdes> = OnceLock::new();
    S.get_or_init(|| {
        let src = Arc::new(MemorySource::new());
        // Ids 1..=5; GUIDs 00..01 .. 00..05, so 1-byte mutations find them.
        let g = |n: u8| format!("00000000-0000-0000-0000-0000000000{n:02x}");
        src.insert("t-value", schema(1, &g(1), SchemaFormat::Avro, AVRO));
        src.insert("b-value", schema(2, &g(2), SchemaFormat::Avro, "\"bytes\""));
        src.insert("p-value", schema(3, &g(3), SchemaFormat::Protobuf, PROTO));
        src.insert("j-value", schema(4, &g(4), SchemaFormat::Json, JSON));
        src.insert(
            "s-value",
            schema(5, &g(5), SchemaFormat::Avro, "\"string\""),
        );
        let reader = apache_avro_schema(AVRO_READER);
        Serdes {
            avro: AvroDeserializer::new(src.clone(), SerdeConfig::value()),
            avro_reader: AvroDeserializer::new(src.clone(), SerdeConfig::value())
                .with_reader_schema(reader)
                .expect("reader schema"),
            proto: ProtobufDeserializer::new(src.clone(), SerdeConfig::value()),
            json: JsonDeserializer::new(src.clone(), SerdeConfig::value()),
            json_strict: JsonDeserializer::new(src, SerdeConfig::value().validate_on_read(true)),
        }
    })
}

fn apache_avro_schema(text: &str) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(text).expect("reader schema parses")
}

fn run<F: std::future::Future>(f: F) -> Option<F::Output> {
    // The in-memory source never waits.
    f.now_or_never()
}

fuzz_target!(|data: &[u8]| {
    let s = serdes();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (header, payload) = if mode & 1 == 1 {
        let split = usize::from(mode >> 1).min(rest.len());
        let (h, p) = rest.split_at(split);
        (Some(h), p)
    } else {
        (None, rest)
    };
    let _ = run(s.avro.deserialize_with_header("t", payload, header));
    let _ = run(s.avro_reader.deserialize_with_header("t", payload, header));
    let _ = run(s
        .avro
        .deserialize_serde_with_header::<serde_json::Value>("t", payload, header));
    let _ = run(s.proto.deserialize_with_header("p", payload, header));
    let _ = run(s
        .json
        .deserialize_with_header::<serde_json::Value>("j", payload, header));
    let _ = run(s
        .json_strict
        .deserialize_with_header::<serde_json::Value>("j", payload, header));
});
