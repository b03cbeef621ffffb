//! Byte-level tests of the serializers against the golden vectors of
//! confluent-compat.md §6.4: each worked example is written by the serializer and read
//! back by the deserializer, byte for byte. The schemas sit at the vectors' ids in the
//! in-memory `MemorySource` (a test double of the registry for fixed ids; round trips
//! through a real server are in `serdes_roundtrip.rs`). Also: malformed input is an
//! error, and a warm serde never asks the source again.

#[path = "serdes_support.rs"]
mod support;

use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, MemorySource,
    ProtobufDeserializer, ProtobufSerializer, SchemaIdFraming, SerdeConfig,
};
use accord_client::types::SchemaSpec;
use accord_client::ClientError;
use accord_compat::SchemaFormat;
use apache_avro::types::Value as Avro;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as Pb};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use support::{registered, vector, vector_parts, EX_PROTO, GUID, USER_SCHEMA};

fn user() -> Avro {
    Avro::Record(vec![
        ("name".into(), Avro::String("Ann".into())),
        ("age".into(), Avro::Int(30)),
    ])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: i32,
}

fn no_register() -> SerdeConfig {
    SerdeConfig::value().auto_register(false)
}

#[tokio::test]
async fn avro_user_record() {
    for (id, file) in [(1, "avro_user_id1.hex"), (256, "avro_user_id256.hex")] {
        let src = Arc::new(MemorySource::new());
        src.insert(
            "users-value",
            registered(id, None, SchemaFormat::Avro, USER_SCHEMA),
        );
        let ser = AvroSerializer::with_schema(src.clone(), USER_SCHEMA, no_register());
        let expected = vector(file);
        assert_eq!(
            ser.serialize("users", &user()).await.expect("ser"),
            expected
        );
        let typed = User {
            name: "Ann".into(),
            age: 30,
        };
        assert_eq!(
            ser.serialize_serde("users", &typed).await.expect("serde"),
            expected
        );

        let de = AvroDeserializer::new(src.clone(), SerdeConfig::value());
        assert_eq!(
            de.deserialize("users", &expected).await.expect("de"),
            user()
        );
        let back: User = de
            .deserialize_serde("users", &expected)
            .await
            .expect("serde de");
        assert_eq!(back, typed);
    }
}

#[tokio::test]
async fn avro_top_level_bytes_are_raw() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "blobs-value",
        registered(5, None, SchemaFormat::Avro, "\"bytes\""),
    );
    let ser = AvroSerializer::with_schema(src.clone(), "\"bytes\"", no_register());
    let expected = vector("avro_bytes_id5.hex");
    let value = Avro::Bytes(vec![0xde, 0xad]);
    assert_eq!(ser.serialize("blobs", &value).await.expect("ser"), expected);
    let de = AvroDeserializer::new(src, SerdeConfig::value());
    assert_eq!(de.deserialize("blobs", &expected).await.expect("de"), value);
}

#[tokio::test]
async fn avro_guid_prefix_and_header() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "s-value",
        registered(10, Some(GUID), SchemaFormat::Avro, "\"string\""),
    );
    let value = Avro::String("hi".into());

    let ser = AvroSerializer::with_schema(
        src.clone(),
        "\"string\"",
        no_register().framing(SchemaIdFraming::GuidPrefix),
    );
    let expected = vector("avro_guid_string.hex");
    assert_eq!(ser.serialize("s", &value).await.expect("ser"), expected);

    let de = AvroDeserializer::new(src.clone(), SerdeConfig::value());
    assert_eq!(de.deserialize("s", &expected).await.expect("de"), value);

    let parts = vector_parts("header_avro_guid_string.hex");
    let ser = AvroSerializer::with_schema(
        src.clone(),
        "\"string\"",
        no_register().framing(SchemaIdFraming::GuidHeader),
    );
    let rec = ser.serialize_record("s", &value).await.expect("record");
    assert_eq!(rec.payload, parts["payload"]);
    let header = rec.header.expect("a header in header mode");
    assert_eq!(header.name, "__value_schema_id");
    assert_eq!(header.value.as_ref(), parts["header"].as_slice());
    // `serialize` refuses header mode rather than dropping the header.
    assert!(matches!(
        ser.serialize("s", &value).await,
        Err(ClientError::Config(_))
    ));
    let back = de
        .deserialize_with_header("s", &rec.payload, Some(&header.value))
        .await
        .expect("read with header");
    assert_eq!(back, value);
}

fn ex_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: OnceLock<prost_reflect::DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        accord_compat::protobuf::parse(EX_PROTO, &[])
            .expect("proto")
            .descriptor_pool()
            .clone()
    })
}

fn ex(name: &str) -> MessageDescriptor {
    ex_pool().get_message_by_name(name).expect("message")
}

/// A prost-generated type (what `prost-build` + `prost-reflect-build` emit), with its
/// descriptor from the same file.
#[derive(Clone, PartialEq, prost::Message)]
struct C {
    #[prost(string, tag = "1")]
    s: String,
}

impl ReflectMessage for C {
    fn descriptor(&self) -> MessageDescriptor {
        ex("ex.B.C")
    }
}

/// Messages from different descriptor pools are never `==`; compare type and content.
fn same(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    use prost::Message;
    a.descriptor().full_name() == b.descriptor().full_name()
        && a.encode_to_vec() == b.encode_to_vec()
}

fn c_hi() -> DynamicMessage {
    let mut m = DynamicMessage::new(ex("ex.B.C"));
    m.set_field_by_name("s", Pb::String("hi".into()));
    m
}

fn a_one() -> DynamicMessage {
    let mut m = DynamicMessage::new(ex("ex.A"));
    m.set_field_by_name("x", Pb::I32(1));
    m
}

fn ex_source(guid: Option<&str>) -> Arc<MemorySource> {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "ex-value",
        registered(7, guid, SchemaFormat::Protobuf, EX_PROTO),
    );
    src
}

#[tokio::test]
async fn protobuf_message_indexes() {
    let src = ex_source(None);
    // The subject's schema (id 7) is the writer schema; indexes come from its file.
    let ser = ProtobufSerializer::new(src.clone(), SerdeConfig::value().use_latest(true));
    let de = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());

    let cases = [
        ("protobuf_nested_c_id7.hex", c_hi()),
        ("protobuf_first_a_id7.hex", a_one()),
        ("protobuf_later_b_id7.hex", DynamicMessage::new(ex("ex.B"))),
    ];
    for (file, msg) in cases {
        let expected = vector(file);
        assert_eq!(
            ser.serialize("ex", &msg).await.expect("ser"),
            expected,
            "{file}"
        );
        let back = de.deserialize("ex", &expected).await.expect("de");
        assert!(same(&back, &msg), "{file}: {back:?}");
    }

    // A prost-generated type writes the same bytes and reads back as itself.
    let typed = C { s: "hi".into() };
    let expected = vector("protobuf_nested_c_id7.hex");
    assert_eq!(
        ser.serialize("ex", &typed).await.expect("prost ser"),
        expected
    );
    let back: C = de
        .deserialize_message("ex", &expected)
        .await
        .expect("prost de");
    assert_eq!(back, typed);

    // A typed read checks the indexes too, on the cached fast path as on the first read:
    // [1, 5] selects no message of schema 7.
    let mut bad = expected[..5].to_vec();
    bad.extend_from_slice(&[0x04, 0x02, 0x0a]);
    bad.extend_from_slice(&expected[8..]);
    for reader in [
        &de,
        &ProtobufDeserializer::new(src.clone(), SerdeConfig::value()),
    ] {
        let err = reader
            .deserialize_message::<C>("ex", &bad)
            .await
            .expect_err("indexes that select no message");
        assert!(matches!(err, ClientError::Frame(_)), "{err}");
    }
}

#[tokio::test]
async fn protobuf_auto_register_uses_the_same_indexes() {
    // Registering the message's own file (as base64 of its descriptor) gives a new id;
    // the indexes and payload are the same as in the vector.
    let src = Arc::new(MemorySource::new());
    let ser = ProtobufSerializer::new(src.clone(), SerdeConfig::value());
    let bytes = ser.serialize("ex", &c_hi()).await.expect("ser");
    let expected = vector("protobuf_nested_c_id7.hex");
    assert_eq!(bytes[0], 0);
    assert_eq!(&bytes[5..], &expected[5..]);
    let id = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let de = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());
    assert!(same(
        &de.deserialize("ex", &bytes).await.expect("de"),
        &c_hi()
    ));
    let latest = accord_client::SchemaSource::latest(&*src, "ex-value")
        .await
        .expect("registered");
    assert_eq!(latest.id, id);
    assert_eq!(latest.format, SchemaFormat::Protobuf);
}

#[tokio::test]
async fn protobuf_header_mode() {
    let src = ex_source(Some(GUID));
    let parts = vector_parts("header_protobuf_nested_c.hex");
    let ser = ProtobufSerializer::new(
        src.clone(),
        SerdeConfig::value()
            .use_latest(true)
            .framing(SchemaIdFraming::GuidHeader),
    );
    let rec = ser.serialize_record("ex", &c_hi()).await.expect("ser");
    assert_eq!(rec.payload, parts["payload"]);
    let header = rec.header.expect("header");
    assert_eq!(header.value.as_ref(), parts["header"].as_slice());

    let de = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());
    let back = de
        .deserialize_with_header("ex", &parts["payload"], Some(&parts["header"]))
        .await
        .expect("de");
    assert!(same(&back, &c_hi()));
    let typed: C = de
        .deserialize_message_with_header("ex", &parts["payload"], Some(&parts["header"]))
        .await
        .expect("typed");
    assert_eq!(typed.s, "hi");
}

const JSON_SCHEMA: &str =
    r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#;

#[tokio::test]
async fn json_value() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "j-value",
        registered(3, None, SchemaFormat::Json, JSON_SCHEMA),
    );
    let ser = JsonSerializer::with_schema(src.clone(), JSON_SCHEMA, no_register());
    let expected = vector("json_id3.hex");
    let value = serde_json::json!({"a": 1});
    assert_eq!(
        ser.serialize_value("j", &value).await.expect("ser"),
        expected
    );
    assert_eq!(ser.serialize("j", &value).await.expect("ser"), expected);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct J {
        a: i64,
    }
    assert_eq!(
        ser.serialize("j", &J { a: 1 }).await.expect("typed"),
        expected
    );

    let de = JsonDeserializer::new(src.clone(), SerdeConfig::value().validate_on_read(true));
    let back: serde_json::Value = de.deserialize("j", &expected).await.expect("de");
    assert_eq!(back, value);
    let typed: J = de.deserialize("j", &expected).await.expect("typed de");
    assert_eq!(typed, J { a: 1 });
}

#[tokio::test]
async fn values_that_do_not_match_the_schema_are_refused() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "users-value",
        registered(1, None, SchemaFormat::Avro, USER_SCHEMA),
    );
    src.insert(
        "j-value",
        registered(3, None, SchemaFormat::Json, JSON_SCHEMA),
    );

    let avro = AvroSerializer::with_schema(src.clone(), USER_SCHEMA, no_register());
    let wrong = Avro::Record(vec![
        ("name".into(), Avro::Int(1)),
        ("age".into(), Avro::Int(30)),
    ]);
    assert!(matches!(
        avro.serialize("users", &wrong).await,
        Err(ClientError::Serialization(_))
    ));
    #[derive(Serialize)]
    struct Wrong {
        name: i64,
    }
    assert!(avro
        .serialize_serde("users", &Wrong { name: 1 })
        .await
        .is_err());

    let json = JsonSerializer::with_schema(src.clone(), JSON_SCHEMA, no_register());
    let err = json
        .serialize_value("j", &serde_json::json!({"a": "one"}))
        .await
        .expect_err("invalid");
    assert!(
        matches!(err, ClientError::Serialization(ref m) if m.contains("id 3")),
        "{err}"
    );
    assert!(json
        .serialize_value("j", &serde_json::json!({}))
        .await
        .is_err());
}

#[tokio::test]
async fn malformed_records_are_errors() {
    let src = ex_source(None);
    src.insert(
        "users-value",
        registered(1, None, SchemaFormat::Avro, USER_SCHEMA),
    );
    src.insert(
        "j-value",
        registered(3, None, SchemaFormat::Json, JSON_SCHEMA),
    );
    let avro = AvroDeserializer::new(src.clone(), SerdeConfig::value());
    let proto = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());
    let json = JsonDeserializer::new(src.clone(), SerdeConfig::value());

    let good = vector("avro_user_id1.hex");
    // Wrong magic byte.
    let mut bad = good.clone();
    bad[0] = 2;
    let err = avro.deserialize("users", &bad).await.expect_err("magic");
    assert!(err.to_string().contains("Unknown magic byte"), "{err}");
    // Every truncation.
    for cut in 0..good.len() {
        assert!(
            avro.deserialize("users", &good[..cut]).await.is_err(),
            "cut {cut}"
        );
    }
    // Unknown id.
    let err = avro
        .deserialize("users", &[0, 0, 0, 0, 99, 0])
        .await
        .expect_err("unknown id");
    assert!(err.is_not_found(), "{err}");
    // Bytes that do not decode with the schema: a string length beyond the payload.
    assert!(matches!(
        avro.deserialize("users", &[0, 0, 0, 0, 1, 0x7e, 0x41])
            .await,
        Err(ClientError::Serialization(_))
    ));
    // A schema of another format.
    assert!(matches!(
        avro.deserialize("users", &vector("json_id3.hex")).await,
        Err(ClientError::Schema(_))
    ));

    // Protobuf: indexes pointing nowhere, and a payload that is not the message.
    assert!(proto
        .deserialize("ex", &[0, 0, 0, 0, 7, 2, 8])
        .await
        .is_err());
    assert!(proto
        .deserialize("ex", &[0, 0, 0, 0, 7, 4, 2, 4])
        .await
        .is_err());
    assert!(proto
        .deserialize("ex", &[0, 0, 0, 0, 7, 0, 0x0a, 0x05, 0x68])
        .await
        .is_err());
    let c = vector("protobuf_nested_c_id7.hex");
    for cut in 0..8 {
        assert!(
            proto.deserialize("ex", &c[..cut]).await.is_err(),
            "cut {cut}"
        );
    }

    // JSON: not JSON, and (with validation on read) JSON that breaks the schema.
    assert!(json
        .deserialize::<serde_json::Value>("j", &[0, 0, 0, 0, 3, b'{'])
        .await
        .is_err());
    let strict = JsonDeserializer::new(src.clone(), SerdeConfig::value().validate_on_read(true));
    let mut invalid = vec![0, 0, 0, 0, 3];
    invalid.extend_from_slice(br#"{"a":"x"}"#);
    assert!(json
        .deserialize::<serde_json::Value>("j", &invalid)
        .await
        .is_ok());
    assert!(strict
        .deserialize::<serde_json::Value>("j", &invalid)
        .await
        .is_err());
}

#[tokio::test]
async fn warm_serdes_do_not_ask_the_source() {
    let src = ex_source(None);
    src.insert(
        "users-value",
        registered(1, None, SchemaFormat::Avro, USER_SCHEMA),
    );
    src.insert(
        "j-value",
        registered(3, None, SchemaFormat::Json, JSON_SCHEMA),
    );
    let avro = AvroSerializer::with_schema(src.clone(), USER_SCHEMA, no_register());
    let avro_de = AvroDeserializer::new(src.clone(), SerdeConfig::value());
    let proto = ProtobufSerializer::new(src.clone(), SerdeConfig::value());
    let proto_de = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());
    let json = JsonSerializer::with_schema(src.clone(), JSON_SCHEMA, no_register());
    let json_de = JsonDeserializer::new(src.clone(), SerdeConfig::value());
    let jv = serde_json::json!({"a": 1});

    let mut before = 0;
    for round in 0..3 {
        let a = avro.serialize("users", &user()).await.expect("avro");
        avro_de.deserialize("users", &a).await.expect("avro de");
        let p = proto.serialize("ex", &c_hi()).await.expect("proto");
        proto_de.deserialize("ex", &p).await.expect("proto de");
        let j = json.serialize_value("j", &jv).await.expect("json");
        json_de
            .deserialize::<serde_json::Value>("j", &j)
            .await
            .expect("json de");
        if round == 0 {
            before = src.calls();
            assert!(before > 0);
        } else {
            assert_eq!(src.calls(), before, "round {round} asked the source");
        }
    }
}

#[tokio::test]
async fn without_a_schema_of_its_own_a_serializer_needs_use_latest() {
    let src = Arc::new(MemorySource::new());
    let ser = AvroSerializer::new(src.clone(), None, SerdeConfig::value());
    assert!(matches!(
        ser.serialize("t", &user()).await,
        Err(ClientError::Config(_))
    ));
    src.insert(
        "t-value",
        registered(1, None, SchemaFormat::Avro, USER_SCHEMA),
    );
    let ser = AvroSerializer::new(src, None, SerdeConfig::value().use_latest(true));
    assert_eq!(
        ser.serialize("t", &user()).await.expect("latest"),
        vector("avro_user_id1.hex")
    );
    let _ = SchemaSpec::default();
}
