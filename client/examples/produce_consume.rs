//! Producing and consuming with accord-client: register schemas, serialize values into
//! Confluent-framed bytes (what you hand to your Kafka producer as the record value),
//! and read them back (what your consumer does with each record).
//!
//! ```sh
//! accord serve &                                   # or any Confluent-compatible registry
//! ACCORD_REGISTRY_URL=http://127.0.0.1:8081 cargo run -p accord-client --example produce_consume
//! ```
//!
//! The registry URL comes from `ACCORD_REGISTRY_URL` (or `SCHEMA_REGISTRY_URL`), default
//! `http://127.0.0.1:8081`. Kafka itself is left out: the bytes printed here are exactly
//! what goes into and comes out of a record.

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, ProtobufDeserializer,
    ProtobufSerializer, SchemaIdFraming, SerdeConfig,
};
use apache_avro::types::Value;
use prost_reflect::{DynamicMessage, ReflectMessage, Value as PbValue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const ORDER_AVRO: &str = r#"{
  "type": "record", "name": "Order", "namespace": "shop",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "item", "type": "string"},
    {"name": "qty", "type": "int", "default": 1}
  ]
}"#;

/// The same record as a serde type.
#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: i64,
    item: String,
    qty: i32,
}

const ORDER_PROTO: &str = r#"syntax = "proto3";
package shop;

message Order {
  int64 id = 1;
  string item = 2;
  int32 qty = 3;
}
"#;

const ORDER_JSON: &str = r#"{
  "type": "object", "title": "Order",
  "properties": {"id": {"type": "integer"}, "item": {"type": "string"}, "qty": {"type": "integer"}},
  "required": ["id", "item"]
}"#;

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("ACCORD_REGISTRY_URL")
        .or_else(|_| std::env::var("SCHEMA_REGISTRY_URL"))
        .unwrap_or_else(|_| "http://127.0.0.1:8081".to_string());
    // One client (and its caches) shared by every serializer and deserializer.
    let registry = Arc::new(RegistryClient::new(RegistryConfig::new(url.clone()))?);
    println!("registry: {url}");

    // --- Avro, generic values. The first record registers the schema under
    // "orders-avro-value" (topic name strategy); later records use the cached id.
    let avro = AvroSerializer::with_schema(registry.clone(), ORDER_AVRO, SerdeConfig::value());
    let value = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("item".into(), Value::String("book".into())),
        ("qty".into(), Value::Int(2)),
    ]);
    let bytes = avro.serialize("orders-avro", &value).await?;
    println!("avro record value:  {}", hex(&bytes));

    let reader = AvroDeserializer::new(registry.clone(), SerdeConfig::value());
    println!(
        "avro read back:     {:?}",
        reader.deserialize("orders-avro", &bytes).await?
    );

    // --- Avro, serde types (same schema, same bytes).
    let typed = Order {
        id: 1,
        item: "book".into(),
        qty: 2,
    };
    assert_eq!(avro.serialize_serde("orders-avro", &typed).await?, bytes);
    let back: Order = reader.deserialize_serde("orders-avro", &bytes).await?;
    println!("avro as serde type: {back:?}");

    // --- Protobuf: the message's .proto file is registered; the record carries the
    // message indexes after the schema id.
    let schema = accord_compat::protobuf::parse(ORDER_PROTO, &[])?;
    let desc = schema
        .descriptor_pool()
        .get_message_by_name("shop.Order")
        .ok_or("no shop.Order")?;
    let mut msg = DynamicMessage::new(desc);
    msg.set_field_by_name("id", PbValue::I64(1));
    msg.set_field_by_name("item", PbValue::String("book".into()));
    msg.set_field_by_name("qty", PbValue::I32(2));
    let proto = ProtobufSerializer::new(registry.clone(), SerdeConfig::value());
    let bytes = proto.serialize("orders-proto", &msg).await?;
    println!("protobuf record:    {}", hex(&bytes));
    let proto_reader = ProtobufDeserializer::new(registry.clone(), SerdeConfig::value());
    let back = proto_reader.deserialize("orders-proto", &bytes).await?;
    let fields: Vec<String> = back
        .fields()
        .map(|(f, v)| format!("{}={v:?}", f.name()))
        .collect();
    println!(
        "protobuf read back: {} {{ {} }}",
        back.descriptor().full_name(),
        fields.join(", ")
    );

    // --- JSON Schema: values are validated before they are written.
    let json = JsonSerializer::with_schema(registry.clone(), ORDER_JSON, SerdeConfig::value());
    let bytes = json.serialize("orders-json", &typed).await?;
    println!("json record:        {}", hex(&bytes));
    let json_reader = JsonDeserializer::new(registry.clone(), SerdeConfig::value());
    let back: Order = json_reader.deserialize("orders-json", &bytes).await?;
    println!("json read back:     {back:?}");
    let invalid = serde_json::json!({"item": 5});
    if let Err(e) = json.serialize_value("orders-json", &invalid).await {
        println!("invalid json value: refused ({e})");
    }

    // --- Header mode (Confluent 8.x): the schema GUID travels in a record header and
    // the payload has no prefix. Attach `header.name`/`header.value` to the record.
    let header_mode = AvroSerializer::with_schema(
        registry.clone(),
        ORDER_AVRO,
        SerdeConfig::value().framing(SchemaIdFraming::GuidHeader),
    );
    let record = header_mode.serialize_record("orders-avro", &value).await?;
    if let Some(h) = &record.header {
        println!("header mode:        {} = {}", h.name, hex(&h.value));
        println!("                    payload {}", hex(&record.payload));
        let back = reader
            .deserialize_with_header("orders-avro", &record.payload, Some(&h.value))
            .await?;
        println!("                    read back {back:?}");
    }
    Ok(())
}
