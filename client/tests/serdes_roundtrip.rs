//! Round trips through a real Accord server (`accord_server::start`, as `accord serve`
//! runs it, on a fresh SQLite file) with the real HTTP `RegistryClient`: each format
//! written and read back; values written with an older version read through a newer
//! reader schema; subject name strategies; use-latest (with metadata); auto-register
//! off; references; GUID and header framing; and a user-defined rule at write and read.

#[path = "serdes_support.rs"]
mod support;

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, FieldContext, FieldRuleExecutor, FieldTransform, FieldValue,
    JsonDeserializer, JsonSerializer, ProtobufDeserializer, ProtobufSerializer, RuleContext,
    RuleRegistry, SchemaIdFraming, SerdeConfig, SerdeType, SubjectNameStrategy,
};
use accord_client::types::{SchemaReference, SchemaSpec};
use accord_client::{ClientError, Result};
use accord_compat::SchemaFormat;
use apache_avro::types::Value as Avro;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as Pb};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use support::TestServer;

/// A client with its own (cold) caches.
fn client(server: &TestServer) -> Arc<RegistryClient> {
    Arc::new(RegistryClient::new(RegistryConfig::new(server.url.clone())).expect("client"))
}

fn spec(format: SchemaFormat, text: &str) -> SchemaSpec {
    SchemaSpec {
        format: Some(format),
        schema: text.to_string(),
        ..SchemaSpec::default()
    }
}

fn id_of(bytes: &[u8]) -> i32 {
    assert_eq!(bytes[0], 0, "magic byte");
    i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
}

const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1},{"name":"note","type":["null","string"],"default":null}]}"#;

fn order_v1() -> Avro {
    Avro::Record(vec![
        ("id".into(), Avro::Long(42)),
        ("item".into(), Avro::String("book".into())),
    ])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderV2 {
    id: i64,
    item: String,
    qty: i32,
    note: Option<String>,
}

#[tokio::test]
async fn avro_round_trip_and_newer_reader() {
    let server = TestServer::start().await;
    let producer = client(&server);
    let ser = AvroSerializer::with_schema(producer.clone(), ORDER_V1, SerdeConfig::value());
    let bytes = ser.serialize("orders", &order_v1()).await.expect("ser v1");
    let id1 = id_of(&bytes);
    let latest = producer.latest("orders-value").await.expect("registered");
    assert_eq!(latest.id, id1);
    assert_eq!(latest.version, Some(1));

    // A consumer with cold caches reads it back.
    let consumer = client(&server);
    let de = AvroDeserializer::new(consumer.clone(), SerdeConfig::value());
    assert_eq!(
        de.deserialize("orders", &bytes).await.expect("de"),
        order_v1()
    );

    // v2 adds fields with defaults (BACKWARD compatible): registered by a v2 producer.
    let ser2 = AvroSerializer::with_schema(producer.clone(), ORDER_V2, SerdeConfig::value());
    let v2 = OrderV2 {
        id: 7,
        item: "pen".into(),
        qty: 3,
        note: Some("gift".into()),
    };
    let bytes2 = ser2.serialize_serde("orders", &v2).await.expect("ser v2");
    assert_ne!(id_of(&bytes2), id1);

    // The v1 record read through the latest (v2) reader schema gets the defaults.
    let latest_de = AvroDeserializer::new(client(&server), SerdeConfig::value().use_latest(true));
    let read: OrderV2 = latest_de
        .deserialize_serde("orders", &bytes)
        .await
        .expect("v1 through v2");
    assert_eq!(
        read,
        OrderV2 {
            id: 42,
            item: "book".into(),
            qty: 1,
            note: None
        }
    );
    let read2: OrderV2 = latest_de
        .deserialize_serde("orders", &bytes2)
        .await
        .expect("v2");
    assert_eq!(read2, v2);

    // The same with an explicit reader schema.
    let reader = apache_avro::Schema::parse_str(ORDER_V2).expect("v2 schema");
    let explicit = AvroDeserializer::new(client(&server), SerdeConfig::value())
        .with_reader_schema(reader)
        .expect("reader");
    let v = explicit
        .deserialize("orders", &bytes)
        .await
        .expect("explicit");
    let Avro::Record(fields) = v else {
        panic!("record")
    };
    assert_eq!(fields.len(), 4);
    assert_eq!(fields[2], ("qty".into(), Avro::Int(1)));
    assert_eq!(
        fields[3],
        ("note".into(), Avro::Union(0, Box::new(Avro::Null)))
    );
    server.stop().await;
}

#[tokio::test]
async fn avro_with_a_reference_and_a_key_serializer() {
    let server = TestServer::start().await;
    let c = client(&server);
    let address = r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}"#;
    let reg = c
        .register("acme.Address", &spec(SchemaFormat::Avro, address), false)
        .await
        .expect("address");
    let customer = r#"{"type":"record","name":"Customer","namespace":"acme","fields":[{"name":"home","type":"acme.Address"},{"name":"work","type":["null","acme.Address"],"default":null}]}"#;
    let mut s = spec(SchemaFormat::Avro, customer);
    s.references = vec![SchemaReference {
        name: "acme.Address".into(),
        subject: "acme.Address".into(),
        version: reg.version.expect("version"),
    }];
    let ser = AvroSerializer::new(c.clone(), Some(s), SerdeConfig::key());
    let value = Avro::Record(vec![
        (
            "home".into(),
            Avro::Record(vec![("city".into(), Avro::String("Oslo".into()))]),
        ),
        (
            "work".into(),
            Avro::Union(
                1,
                Box::new(Avro::Record(vec![(
                    "city".into(),
                    Avro::String("Bergen".into()),
                )])),
            ),
        ),
    ]);
    let bytes = ser.serialize("customers", &value).await.expect("ser");
    assert!(c.latest("customers-key").await.is_ok(), "key subject");
    let de = AvroDeserializer::new(client(&server), SerdeConfig::key());
    assert_eq!(
        de.deserialize("customers", &bytes).await.expect("de"),
        value
    );

    // Serde types over a schema that reuses a named type take the to_value path.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Address {
        city: String,
    }
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Customer {
        home: Address,
        work: Option<Address>,
    }
    let typed = Customer {
        home: Address {
            city: "Oslo".into(),
        },
        work: Some(Address {
            city: "Bergen".into(),
        }),
    };
    assert_eq!(
        ser.serialize_serde("customers", &typed)
            .await
            .expect("serde"),
        bytes
    );
    let back: Customer = de
        .deserialize_serde("customers", &bytes)
        .await
        .expect("serde de");
    assert_eq!(back, typed);
    server.stop().await;
}

const SHOP_V1: &str = "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\n\nmessage Order {\n  int64 id = 1;\n  common.Money total = 2;\n  message Line {\n    string sku = 1;\n  }\n  repeated Line lines = 3;\n}\nmessage Refund {\n  int64 order_id = 1;\n}\n";
const SHOP_V2: &str = "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\n\nmessage Order {\n  int64 id = 1;\n  common.Money total = 2;\n  message Line {\n    string sku = 1;\n  }\n  repeated Line lines = 3;\n  string channel = 4;\n}\nmessage Refund {\n  int64 order_id = 1;\n}\n";
const MONEY: &str = "syntax = \"proto3\";\npackage common;\n\nmessage Money {\n  string currency = 1;\n  int64 units = 2;\n}\n";

fn pool(main: &str) -> prost_reflect::DescriptorPool {
    accord_compat::protobuf::parse(
        main,
        &[accord_compat::Reference::new("common/money.proto", MONEY)],
    )
    .expect("proto")
    .descriptor_pool()
    .clone()
}

fn order(pool: &prost_reflect::DescriptorPool) -> DynamicMessage {
    let desc = pool.get_message_by_name("shop.Order").expect("Order");
    let money = pool.get_message_by_name("common.Money").expect("Money");
    let line = pool.get_message_by_name("shop.Order.Line").expect("Line");
    let mut total = DynamicMessage::new(money);
    total.set_field_by_name("currency", Pb::String("EUR".into()));
    total.set_field_by_name("units", Pb::I64(12));
    let mut l = DynamicMessage::new(line);
    l.set_field_by_name("sku", Pb::String("A-1".into()));
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("id", Pb::I64(9));
    m.set_field_by_name("total", Pb::Message(total));
    m.set_field_by_name("lines", Pb::List(vec![Pb::Message(l)]));
    m
}

#[tokio::test]
async fn protobuf_round_trip_with_an_import_and_a_newer_reader() {
    let server = TestServer::start().await;
    let c = client(&server);
    let v1 = pool(SHOP_V1);
    let ser = ProtobufSerializer::new(c.clone(), SerdeConfig::value());
    let msg = order(&v1);
    let bytes = ser.serialize("shop", &msg).await.expect("ser");
    // The import was registered under its path and referenced by it.
    let money = c
        .latest("common/money.proto")
        .await
        .expect("import subject");
    assert_eq!(money.format, SchemaFormat::Protobuf);
    let main = c.latest("shop-value").await.expect("main subject");
    assert_eq!(main.references.len(), 1);
    assert_eq!(main.references[0].name, "common/money.proto");
    assert_eq!(&bytes[5..6], &[0x00], "Order is the first message: [0]");

    // A nested message and a later top-level message carry their paths.
    let line = v1.get_message_by_name("shop.Order.Line").expect("Line");
    let mut l = DynamicMessage::new(line);
    l.set_field_by_name("sku", Pb::String("B-2".into()));
    let lb = ser.serialize("shop-lines", &l).await.expect("line");
    assert_eq!(&lb[5..8], &[0x04, 0x00, 0x00], "Order.Line is [0,0]");
    let refund = v1.get_message_by_name("shop.Refund").expect("Refund");
    let mut r = DynamicMessage::new(refund);
    r.set_field_by_name("order_id", Pb::I64(9));
    let rb = ser.serialize("shop-refunds", &r).await.expect("refund");
    assert_eq!(&rb[5..7], &[0x02, 0x02], "Refund is [1]");

    let de = ProtobufDeserializer::new(client(&server), SerdeConfig::value());
    for (topic, b, m) in [
        ("shop", &bytes, &msg),
        ("shop-lines", &lb, &l),
        ("shop-refunds", &rb, &r),
    ] {
        let back = de.deserialize(topic, b).await.expect("de");
        assert_eq!(back.descriptor().full_name(), m.descriptor().full_name());
        assert_eq!(back.encode_to_vec(), m.encode_to_vec());
    }

    // v2 adds a field; a v1 record read through the latest version sees its default.
    let v2 = pool(SHOP_V2);
    let mut m2 = order(&v2);
    m2.set_field_by_name("channel", Pb::String("web".into()));
    let b2 = ser.serialize("shop", &m2).await.expect("ser v2");
    assert_ne!(id_of(&b2), id_of(&bytes));
    let latest_de =
        ProtobufDeserializer::new(client(&server), SerdeConfig::value().use_latest(true));
    let read = latest_de
        .deserialize("shop", &bytes)
        .await
        .expect("v1 through v2");
    let fields: Vec<String> = read
        .descriptor()
        .fields()
        .map(|f| f.name().to_string())
        .collect();
    assert!(
        fields.contains(&"channel".to_string()),
        "read with the v2 descriptor"
    );
    assert_eq!(
        read.get_field_by_name("channel")
            .and_then(|v| v.as_str().map(str::to_string)),
        Some(String::new())
    );
    assert_eq!(
        read.get_field_by_name("id").and_then(|v| v.as_i64()),
        Some(9)
    );
    server.stop().await;
}

/// A prost-generated message (as `prost-build` + `prost-reflect-build` emit it).
#[derive(Clone, PartialEq, prost::Message)]
struct Refund {
    #[prost(int64, tag = "1")]
    order_id: i64,
}

impl ReflectMessage for Refund {
    fn descriptor(&self) -> MessageDescriptor {
        static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> =
            std::sync::OnceLock::new();
        POOL.get_or_init(|| pool(SHOP_V1))
            .get_message_by_name("shop.Refund")
            .expect("Refund")
    }
}

#[tokio::test]
async fn protobuf_prost_types() {
    let server = TestServer::start().await;
    let ser = ProtobufSerializer::new(client(&server), SerdeConfig::value());
    let r = Refund { order_id: 77 };
    let bytes = ser.serialize("refunds", &r).await.expect("ser");
    assert_eq!(&bytes[5..7], &[0x02, 0x02]);
    let de = ProtobufDeserializer::new(client(&server), SerdeConfig::value());
    let back: Refund = de.deserialize_message("refunds", &bytes).await.expect("de");
    assert_eq!(back, r);
    let dynamic = de.deserialize("refunds", &bytes).await.expect("dynamic");
    assert_eq!(
        dynamic
            .get_field_by_name("order_id")
            .and_then(|v| v.as_i64()),
        Some(77)
    );
    server.stop().await;
}

/// The synchronous warm path: `None` (output untouched) until an async call has found
/// the writer or the writer schema, then the same bytes and values without a future.
#[tokio::test]
async fn protobuf_prost_types_sync_warm_path() {
    let server = TestServer::start().await;
    let ser = ProtobufSerializer::new(client(&server), SerdeConfig::value());
    let de = ProtobufDeserializer::new(client(&server), SerdeConfig::value());
    let r = Refund { order_id: 31 };
    let mut out = vec![0xAA];
    assert!(ser.try_serialize_into("sync", &r, &mut out).is_none());
    assert_eq!(out, vec![0xAA], "a miss leaves the buffer alone");
    let framed = ser.serialize("sync", &r).await.expect("warm-up");
    out.clear();
    let header = ser
        .try_serialize_into("sync", &r, &mut out)
        .expect("warm writer")
        .expect("serialize");
    assert!(header.is_none());
    assert_eq!(out, framed);
    assert!(
        ser.try_serialize_into("other-topic", &r, &mut out)
            .is_none(),
        "writers are per topic"
    );

    assert!(de
        .try_deserialize_message::<Refund>(&framed, None)
        .is_none());
    let back: Refund = de.deserialize_message("sync", &framed).await.expect("de");
    assert_eq!(back, r);
    let again: Refund = de
        .try_deserialize_message(&framed, None)
        .expect("cached writer schema")
        .expect("decode");
    assert_eq!(again, r);
    let bad = de.try_deserialize_message::<Refund>(&[0x07, 0, 0, 0, 1], None);
    assert!(
        matches!(bad, Some(Err(ClientError::Frame(_)))),
        "a bad magic byte is an error on the sync path too: {bad:?}"
    );
    server.stop().await;
}

/// Generated types find their writer by Rust type (no descriptor lookup per record);
/// `DynamicMessage`s of other types on the same topic still go by their descriptor, and
/// neither disturbs the other's indexes.
#[tokio::test]
async fn protobuf_generated_and_dynamic_messages_share_a_topic() {
    let server = TestServer::start().await;
    let ser = ProtobufSerializer::new(client(&server), SerdeConfig::value());
    let de = ProtobufDeserializer::new(client(&server), SerdeConfig::value());
    let refund = Refund { order_id: 5 };
    let first = ser.serialize("mixed", &refund).await.expect("refund");
    assert_eq!(&first[5..7], &[0x02, 0x02], "Refund is the second message");
    let o = ser
        .serialize("mixed", &order(&pool(SHOP_V1)))
        .await
        .expect("order");
    assert_eq!(
        o[5], 0x00,
        "Order is the first message: the single-0 shortcut"
    );
    let again = ser.serialize("mixed", &refund).await.expect("refund again");
    assert_eq!(again, first);
    let elsewhere = ser
        .serialize("elsewhere", &refund)
        .await
        .expect("other topic");
    assert_eq!(&elsewhere[5..], &first[5..]);
    let back: Refund = de
        .deserialize_message("elsewhere", &elsewhere)
        .await
        .expect("de");
    assert_eq!(back, refund);
    let dynamic = de.deserialize("mixed", &o).await.expect("order back");
    assert_eq!(dynamic.descriptor().full_name(), "shop.Order");
    server.stop().await;
}

// Closed content models: adding an optional property is then a compatible change.
const PERSON_V1: &str = r#"{"type":"object","title":"Person","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#;
const PERSON_V2: &str = r#"{"type":"object","title":"Person","properties":{"name":{"type":"string"},"email":{"type":"string"}},"required":["name"],"additionalProperties":false}"#;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PersonV2 {
    name: String,
    email: Option<String>,
}

#[tokio::test]
async fn json_round_trip_and_newer_reader() {
    let server = TestServer::start().await;
    let c = client(&server);
    let ser = JsonSerializer::with_schema(c.clone(), PERSON_V1, SerdeConfig::value());
    let bytes = ser
        .serialize_value("people", &json!({"name": "Ann"}))
        .await
        .expect("ser");
    assert_eq!(&bytes[5..], br#"{"name":"Ann"}"#);
    assert!(
        ser.serialize_value("people", &json!({"name": 5}))
            .await
            .is_err(),
        "validated"
    );
    let ser2 = JsonSerializer::with_schema(c.clone(), PERSON_V2, SerdeConfig::value());
    let b2 = ser2
        .serialize(
            "people",
            &PersonV2 {
                name: "Bo".into(),
                email: Some("bo@x".into()),
            },
        )
        .await
        .expect("ser v2");
    assert_ne!(id_of(&b2), id_of(&bytes));

    let de = JsonDeserializer::new(
        client(&server),
        SerdeConfig::value().use_latest(true).validate_on_read(true),
    );
    let old: PersonV2 = de.deserialize("people", &bytes).await.expect("v1 as v2");
    assert_eq!(
        old,
        PersonV2 {
            name: "Ann".into(),
            email: None
        }
    );
    let new: PersonV2 = de.deserialize("people", &b2).await.expect("v2");
    assert_eq!(new.email.as_deref(), Some("bo@x"));
    server.stop().await;
}

#[tokio::test]
async fn subject_name_strategies() {
    let server = TestServer::start().await;
    let c = client(&server);
    let cases: Vec<(SubjectNameStrategy, &str)> = vec![
        (SubjectNameStrategy::Topic, "t1-value"),
        (SubjectNameStrategy::Record, "shop.Order"),
        (SubjectNameStrategy::TopicRecord, "t1-shop.Order"),
        (
            SubjectNameStrategy::custom(|topic, kind, record| {
                Ok(format!(
                    "custom.{topic}.{}.{}",
                    kind.suffix(),
                    record.unwrap_or("-")
                ))
            }),
            "custom.t1.value.shop.Order",
        ),
    ];
    for (strategy, subject) in cases {
        let ser = AvroSerializer::with_schema(
            c.clone(),
            ORDER_V1,
            SerdeConfig::value().strategy(strategy.clone()),
        );
        let bytes = ser.serialize("t1", &order_v1()).await.expect("ser");
        let latest = c
            .latest(subject)
            .await
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
        assert_eq!(latest.id, id_of(&bytes), "{subject}");
        // The deserializer derives the same subject (it matters for use-latest).
        let de = AvroDeserializer::new(
            client(&server),
            SerdeConfig::value().strategy(strategy).use_latest(true),
        );
        assert_eq!(de.deserialize("t1", &bytes).await.expect("de"), order_v1());
    }
    // Protobuf's record name is the message's full name; JSON's the title.
    let ser = ProtobufSerializer::new(
        c.clone(),
        SerdeConfig::value().strategy(SubjectNameStrategy::TopicRecord),
    );
    ser.serialize("t2", &Refund { order_id: 1 })
        .await
        .expect("proto");
    assert!(c.latest("t2-shop.Refund").await.is_ok());
    let ser = JsonSerializer::with_schema(
        c.clone(),
        PERSON_V1,
        SerdeConfig::value().strategy(SubjectNameStrategy::Record),
    );
    ser.serialize_value("t3", &json!({"name": "x"}))
        .await
        .expect("json");
    assert!(c.latest("Person").await.is_ok());
    // A record strategy without a record name is an error, not a guess.
    let ser = AvroSerializer::with_schema(
        c.clone(),
        "\"string\"",
        SerdeConfig::value().strategy(SubjectNameStrategy::Record),
    );
    assert!(matches!(
        ser.serialize("t4", &Avro::String("s".into())).await,
        Err(ClientError::Schema(_))
    ));
    server.stop().await;
}

#[tokio::test]
async fn use_latest_and_use_latest_with_metadata() {
    let server = TestServer::start().await;
    let c = client(&server);
    let mut s1 = spec(SchemaFormat::Avro, ORDER_V1);
    s1.metadata = Some(json!({"properties": {"app": "legacy"}}));
    let v1 = c.register("o-value", &s1, false).await.expect("v1");
    let mut s2 = spec(SchemaFormat::Avro, ORDER_V2);
    s2.metadata = Some(json!({"properties": {"app": "current"}}));
    let v2 = c.register("o-value", &s2, false).await.expect("v2");
    assert_ne!(v1.id, v2.id);

    // use-latest: writes with v2 (the serializer has no schema of its own).
    let ser = AvroSerializer::new(c.clone(), None, SerdeConfig::value().use_latest(true));
    let value = Avro::Record(vec![
        ("id".into(), Avro::Long(1)),
        ("item".into(), Avro::String("x".into())),
        ("qty".into(), Avro::Int(2)),
        ("note".into(), Avro::Union(0, Box::new(Avro::Null))),
    ]);
    assert_eq!(
        id_of(&ser.serialize("o", &value).await.expect("latest")),
        v2.id
    );
    // A v1 value does not fit the latest schema: use-latest does not fall back.
    assert!(ser.serialize("o", &order_v1()).await.is_err());

    // use-latest-with-metadata picks the version whose properties match.
    let ser = AvroSerializer::new(
        c.clone(),
        None,
        SerdeConfig::value().use_latest_with_metadata(vec![("app".into(), "legacy".into())]),
    );
    assert_eq!(
        id_of(&ser.serialize("o", &order_v1()).await.expect("legacy")),
        v1.id
    );
    let de = AvroDeserializer::new(
        client(&server),
        SerdeConfig::value().use_latest_with_metadata(vec![("app".into(), "legacy".into())]),
    );
    // A v2 record read through the v1 ("legacy") reader drops the new fields.
    let b2 = AvroSerializer::new(c.clone(), None, SerdeConfig::value().use_latest(true))
        .serialize("o", &value)
        .await
        .expect("v2 record");
    let down = de.deserialize("o", &b2).await.expect("v2 through v1");
    let Avro::Record(fields) = down else {
        panic!("record")
    };
    assert_eq!(fields.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn auto_register_off_needs_a_registered_schema() {
    let server = TestServer::start().await;
    let c = client(&server);
    let ser = AvroSerializer::with_schema(
        c.clone(),
        ORDER_V1,
        SerdeConfig::value().auto_register(false),
    );
    let err = ser
        .serialize("manual", &order_v1())
        .await
        .expect_err("not registered");
    assert!(err.is_not_found(), "{err}");
    assert!(
        c.latest("manual-value").await.is_err(),
        "nothing was registered"
    );
    let reg = c
        .register("manual-value", &spec(SchemaFormat::Avro, ORDER_V1), false)
        .await
        .expect("register");
    let bytes = ser
        .serialize("manual", &order_v1())
        .await
        .expect("now found");
    assert_eq!(id_of(&bytes), reg.id);

    let proto = ProtobufSerializer::new(c.clone(), SerdeConfig::value().auto_register(false));
    let err = proto
        .serialize("manual-proto", &Refund { order_id: 1 })
        .await
        .expect_err("imports and schema not registered");
    assert!(err.is_not_found(), "{err}");
    let json = JsonSerializer::with_schema(
        c.clone(),
        PERSON_V1,
        SerdeConfig::value().auto_register(false),
    );
    assert!(json
        .serialize_value("manual-json", &json!({"name": "x"}))
        .await
        .expect_err("not registered")
        .is_not_found());
    server.stop().await;
}

#[tokio::test]
async fn guid_framings_through_the_server() {
    let server = TestServer::start().await;
    let c = client(&server);
    let prefix = AvroSerializer::with_schema(
        c.clone(),
        ORDER_V1,
        SerdeConfig::value().framing(SchemaIdFraming::GuidPrefix),
    );
    let bytes = prefix
        .serialize("g", &order_v1())
        .await
        .expect("guid prefix");
    assert_eq!(bytes[0], 1);
    let registered = c.latest("g-value").await.expect("registered");
    let guid = uuid::Uuid::parse_str(registered.guid.as_deref().expect("the server gives guids"))
        .expect("guid");
    assert_eq!(&bytes[1..17], guid.as_bytes());
    let de = AvroDeserializer::new(client(&server), SerdeConfig::value());
    assert_eq!(
        de.deserialize("g", &bytes).await.expect("by guid"),
        order_v1()
    );

    let header = ProtobufSerializer::new(
        c.clone(),
        SerdeConfig::value().framing(SchemaIdFraming::GuidHeader),
    );
    let rec = header
        .serialize_record("gp", &Refund { order_id: 5 })
        .await
        .expect("header mode");
    let h = rec.header.expect("header");
    assert_eq!(h.name, SerdeType::Value.header_name());
    assert_eq!(
        rec.payload,
        Refund { order_id: 5 }.encode_to_vec(),
        "payload has no prefix"
    );
    let pde = ProtobufDeserializer::new(client(&server), SerdeConfig::value());
    let back: Refund = pde
        .deserialize_message_with_header("gp", &rec.payload, Some(&h.value))
        .await
        .expect("read with header");
    assert_eq!(back.order_id, 5);
    server.stop().await;
}

/// Masks every field tagged PII with `*` on write; on read, marks it as masked.
struct Mask;

impl FieldTransform for Mask {
    fn rule_type(&self) -> &str {
        "MASK"
    }

    fn transform_field(
        &self,
        ctx: &RuleContext<'_>,
        _field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        Ok(match (ctx.mode, value) {
            (accord_client::serdes::RuleMode::Write, FieldValue::String(s)) => {
                FieldValue::String("*".repeat(s.chars().count()))
            }
            (accord_client::serdes::RuleMode::Read, FieldValue::String(s)) => {
                FieldValue::String(format!("{s} (masked)"))
            }
            (_, other) => other,
        })
    }
}

#[tokio::test]
async fn a_user_rule_runs_at_write_and_read_through_the_server() {
    let server = TestServer::start().await;
    let c = client(&server);
    let schema = r#"{"type":"record","name":"Card","namespace":"pay","fields":[{"name":"holder","type":"string"},{"name":"number","type":"string","confluent:tags":["PII"]}]}"#;
    let mut s = spec(SchemaFormat::Avro, schema);
    s.rule_set = Some(json!({"domainRules": [
        {"name": "maskPII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "MASK", "tags": ["PII"]}
    ]}));
    let reg = c
        .register("cards-value", &s, false)
        .await
        .expect("with rules");
    assert!(reg.rule_set.is_some());

    let rules = RuleRegistry::new().with_executor(FieldRuleExecutor(Mask));
    let ser = AvroSerializer::new(
        c.clone(),
        None,
        SerdeConfig::value().use_latest(true).rules(rules.clone()),
    );
    let card = Avro::Record(vec![
        ("holder".into(), Avro::String("Ann".into())),
        ("number".into(), Avro::String("4111".into())),
    ]);
    let bytes = ser.serialize("cards", &card).await.expect("ser");
    assert_eq!(id_of(&bytes), reg.id);
    let plain = apache_avro::from_avro_datum(
        &apache_avro::Schema::parse_str(schema).expect("schema"),
        &mut &bytes[5..],
        None,
    )
    .expect("raw");
    assert_eq!(
        plain,
        Avro::Record(vec![
            ("holder".into(), Avro::String("Ann".into())),
            ("number".into(), Avro::String("****".into())),
        ])
    );
    let de = AvroDeserializer::new(client(&server), SerdeConfig::value().rules(rules));
    assert_eq!(
        de.deserialize("cards", &bytes).await.expect("de"),
        Avro::Record(vec![
            ("holder".into(), Avro::String("Ann".into())),
            ("number".into(), Avro::String("**** (masked)".into())),
        ])
    );
    // Without the executor, the schema's rule fails the read (onFailure defaults to ERROR).
    let bare = AvroDeserializer::new(client(&server), SerdeConfig::value());
    assert!(matches!(
        bare.deserialize("cards", &bytes).await,
        Err(ClientError::Rule { .. })
    ));
    server.stop().await;
}

#[tokio::test]
async fn normalize_converges_on_one_id() {
    let server = TestServer::start().await;
    let c = client(&server);
    let spaced = r#"{ "type": "record", "name": "N", "fields": [ {"name": "a", "type": "int"} ] }"#;
    let reordered = r#"{"fields":[{"type":"int","name":"a"}],"name":"N","type":"record"}"#;
    let a = AvroSerializer::with_schema(c.clone(), spaced, SerdeConfig::value().normalize(true));
    let b = AvroSerializer::with_schema(
        client(&server),
        reordered,
        SerdeConfig::value().normalize(true),
    );
    let v = Avro::Record(vec![("a".into(), Avro::Int(1))]);
    let ba = a.serialize("n", &v).await.expect("a");
    let bb = b.serialize("n", &v).await.expect("b");
    assert_eq!(ba, bb, "the same id for equivalent schemas");
    server.stop().await;
}
