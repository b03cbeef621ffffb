//! Serialize + deserialize through the crate against the same work done directly with
//! apache-avro, prost(-reflect) and serde_json (the ceiling), in one run.
//!
//! Only the serde path is measured: the schemas come from the in-memory `MemorySource`
//! and every serde is warmed before timing, so the crate's numbers are framing, cache
//! lookups and the encoding itself (what a producer pays per record once warm).
//! `cargo bench -p accord-client --bench serdes`; throughput is in messages per second.
//! Each crate call is polled once (`now_or_never`): with warm caches nothing waits.
//!
//! The `schema_registry_converter` crate is not benchmarked as a peer: none of its
//! releases builds against this workspace's apache-avro 0.21 / reqwest 0.12 without
//! adding second copies of both.

use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, MemorySource,
    ProtobufDeserializer, ProtobufSerializer, SerdeConfig,
};
use apache_avro::types::Value as Avro;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::FutureExt;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value as Pb};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::sync::{Arc, OnceLock};

const TOPIC: &str = "bench";

/// Runs a serde future that is ready at once (warm caches, in-memory source), as it is
/// when awaited inside a producer's task: no executor round trip is measured.
fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("a warm serde does not wait")
}

const AVRO_SCHEMA: &str = r#"{"type":"record","name":"Customer","namespace":"bench","fields":[
 {"name":"id","type":"long"},
 {"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"customer_id","type":"string"},
 {"name":"email","type":"string"},
 {"name":"first_name","type":"string"},
 {"name":"last_name","type":"string"},
 {"name":"age","type":"int"},
 {"name":"score","type":"double"},
 {"name":"active","type":"boolean"},
 {"name":"country","type":"string"},
 {"name":"city","type":"string"},
 {"name":"zip","type":["null","string"],"default":null},
 {"name":"phone","type":["null","string"],"default":null},
 {"name":"plan","type":{"type":"enum","name":"Plan","symbols":["FREE","PRO","ENTERPRISE"]}},
 {"name":"seats","type":"int"},
 {"name":"mrr","type":"double"},
 {"name":"tags","type":{"type":"array","items":"string"}},
 {"name":"referrer","type":["null","string"],"default":null},
 {"name":"last_login","type":["null","long"],"default":null},
 {"name":"notes","type":"string"}]}"#;

fn avro_value() -> Avro {
    let s = |v: &str| Avro::String(v.to_string());
    let some = |v: Avro| Avro::Union(1, Box::new(v));
    Avro::Record(vec![
        ("id".into(), Avro::Long(1_234_567)),
        (
            "created_at".into(),
            Avro::TimestampMillis(1_718_000_000_000),
        ),
        ("customer_id".into(), s("c-0042-7781")),
        ("email".into(), s("ann.example@example.com")),
        ("first_name".into(), s("Ann")),
        ("last_name".into(), s("Example")),
        ("age".into(), Avro::Int(37)),
        ("score".into(), Avro::Double(812.5)),
        ("active".into(), Avro::Boolean(true)),
        ("country".into(), s("NO")),
        ("city".into(), s("Oslo")),
        ("zip".into(), some(s("0150"))),
        ("phone".into(), Avro::Union(0, Box::new(Avro::Null))),
        ("plan".into(), Avro::Enum(1, "PRO".into())),
        ("seats".into(), Avro::Int(12)),
        ("mrr".into(), Avro::Double(1490.0)),
        (
            "tags".into(),
            Avro::Array(vec![s("beta"), s("emea"), s("annual")]),
        ),
        ("referrer".into(), some(s("partner-17"))),
        ("last_login".into(), some(Avro::Long(1_718_100_000_000))),
        ("notes".into(), s("prefers email; renewal in Q3")),
    ])
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Plan {
    #[serde(rename = "FREE")]
    Free,
    #[serde(rename = "PRO")]
    Pro,
    #[serde(rename = "ENTERPRISE")]
    Enterprise,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AvroCustomer {
    id: i64,
    created_at: i64,
    customer_id: String,
    email: String,
    first_name: String,
    last_name: String,
    age: i32,
    score: f64,
    active: bool,
    country: String,
    city: String,
    zip: Option<String>,
    phone: Option<String>,
    plan: Plan,
    seats: i32,
    mrr: f64,
    tags: Vec<String>,
    referrer: Option<String>,
    last_login: Option<i64>,
    notes: String,
}

fn avro_customer() -> AvroCustomer {
    AvroCustomer {
        id: 1_234_567,
        created_at: 1_718_000_000_000,
        customer_id: "c-0042-7781".into(),
        email: "ann.example@example.com".into(),
        first_name: "Ann".into(),
        last_name: "Example".into(),
        age: 37,
        score: 812.5,
        active: true,
        country: "NO".into(),
        city: "Oslo".into(),
        zip: Some("0150".into()),
        phone: None,
        plan: Plan::Pro,
        seats: 12,
        mrr: 1490.0,
        tags: vec!["beta".into(), "emea".into(), "annual".into()],
        referrer: Some("partner-17".into()),
        last_login: Some(1_718_100_000_000),
        notes: "prefers email; renewal in Q3".into(),
    }
}

const PROTO: &str = r#"syntax = "proto3";
package bench;

message Customer {
  int64 id = 1;
  int64 created_at = 2;
  string customer_id = 3;
  string email = 4;
  string first_name = 5;
  string last_name = 6;
  int32 age = 7;
  double score = 8;
  bool active = 9;
  string country = 10;
  string city = 11;
  string zip = 12;
  string phone = 13;
  Plan plan = 14;
  int32 seats = 15;
  double mrr = 16;
  repeated string tags = 17;
  string referrer = 18;
  int64 last_login = 19;
  string notes = 20;
}
enum Plan {
  FREE = 0;
  PRO = 1;
  ENTERPRISE = 2;
}
"#;

fn proto_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: OnceLock<prost_reflect::DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        accord_compat::protobuf::parse(PROTO, &[])
            .expect("proto")
            .descriptor_pool()
            .clone()
    })
}

fn proto_desc() -> MessageDescriptor {
    proto_pool()
        .get_message_by_name("bench.Customer")
        .expect("Customer")
}

/// The same message as a prost-generated type.
#[derive(Clone, PartialEq, prost::Message)]
struct Customer {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(int64, tag = "2")]
    created_at: i64,
    #[prost(string, tag = "3")]
    customer_id: String,
    #[prost(string, tag = "4")]
    email: String,
    #[prost(string, tag = "5")]
    first_name: String,
    #[prost(string, tag = "6")]
    last_name: String,
    #[prost(int32, tag = "7")]
    age: i32,
    #[prost(double, tag = "8")]
    score: f64,
    #[prost(bool, tag = "9")]
    active: bool,
    #[prost(string, tag = "10")]
    country: String,
    #[prost(string, tag = "11")]
    city: String,
    #[prost(string, tag = "12")]
    zip: String,
    #[prost(string, tag = "13")]
    phone: String,
    #[prost(int32, tag = "14")]
    plan: i32,
    #[prost(int32, tag = "15")]
    seats: i32,
    #[prost(double, tag = "16")]
    mrr: f64,
    #[prost(string, repeated, tag = "17")]
    tags: Vec<String>,
    #[prost(string, tag = "18")]
    referrer: String,
    #[prost(int64, tag = "19")]
    last_login: i64,
    #[prost(string, tag = "20")]
    notes: String,
}

impl ReflectMessage for Customer {
    fn descriptor(&self) -> MessageDescriptor {
        proto_desc()
    }
}

fn prost_customer() -> Customer {
    Customer {
        id: 1_234_567,
        created_at: 1_718_000_000_000,
        customer_id: "c-0042-7781".into(),
        email: "ann.example@example.com".into(),
        first_name: "Ann".into(),
        last_name: "Example".into(),
        age: 37,
        score: 812.5,
        active: true,
        country: "NO".into(),
        city: "Oslo".into(),
        zip: "0150".into(),
        phone: String::new(),
        plan: 1,
        seats: 12,
        mrr: 1490.0,
        tags: vec!["beta".into(), "emea".into(), "annual".into()],
        referrer: "partner-17".into(),
        last_login: 1_718_100_000_000,
        notes: "prefers email; renewal in Q3".into(),
    }
}

fn dynamic_customer() -> DynamicMessage {
    let mut m = DynamicMessage::new(proto_desc());
    m.transcode_from(&prost_customer()).expect("transcode");
    let _ = Pb::Bool(true);
    m
}

const JSON_SCHEMA: &str = r#"{"type":"object","title":"Customer","properties":{
 "id":{"type":"integer"},"created_at":{"type":"integer"},"customer_id":{"type":"string"},
 "email":{"type":"string"},"first_name":{"type":"string"},"last_name":{"type":"string"},
 "age":{"type":"integer","minimum":0},"score":{"type":"number"},"active":{"type":"boolean"},
 "country":{"type":"string","maxLength":2},"city":{"type":"string"},"zip":{"type":["string","null"]},
 "phone":{"type":["string","null"]},"plan":{"enum":["FREE","PRO","ENTERPRISE"]},
 "seats":{"type":"integer"},"mrr":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}},
 "referrer":{"type":["string","null"]},"last_login":{"type":["integer","null"]},"notes":{"type":"string"}},
 "required":["id","customer_id","email"]}"#;

fn json_value() -> serde_json::Value {
    serde_json::to_value(avro_customer()).expect("json")
}

fn bench_avro(c: &mut Criterion) {
    let src = Arc::new(MemorySource::new());
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_SCHEMA, SerdeConfig::value());
    let de = AvroDeserializer::new(src.clone(), SerdeConfig::value());
    let schema = apache_avro::Schema::parse_str(AVRO_SCHEMA).expect("schema");
    let value = avro_value();
    let typed = avro_customer();
    let mut buf = Vec::with_capacity(256);
    let framed = now(ser.serialize("bench", &value)).expect("warm ser");
    assert_eq!(now(de.deserialize(TOPIC, &framed)).expect("warm de"), value);
    let framed_serde = now(ser.serialize_serde(TOPIC, &typed)).expect("warm serde");
    assert_eq!(framed_serde, framed);
    let datum = apache_avro::to_avro_datum(&schema, value.clone()).expect("datum");
    assert_eq!(&framed[5..], datum.as_slice());

    let mut g = c.benchmark_group("avro_value");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("serialize", "apache-avro"), |b| {
        b.iter(|| apache_avro::to_avro_datum(&schema, black_box(&value).clone()).expect("ser"))
    });
    g.bench_function(BenchmarkId::new("serialize", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(TOPIC, black_box(&value), &mut buf)).expect("ser");
        })
    });
    g.bench_function(BenchmarkId::new("deserialize", "apache-avro"), |b| {
        b.iter(|| {
            apache_avro::from_avro_datum(&schema, &mut black_box(datum.as_slice()), None)
                .expect("de")
        })
    });
    g.bench_function(BenchmarkId::new("deserialize", "accord"), |b| {
        b.iter(|| now(de.deserialize(TOPIC, black_box(&framed))).expect("de"))
    });
    g.bench_function(BenchmarkId::new("roundtrip", "apache-avro"), |b| {
        b.iter(|| {
            let d = apache_avro::to_avro_datum(&schema, black_box(&value).clone()).expect("ser");
            apache_avro::from_avro_datum(&schema, &mut d.as_slice(), None).expect("de")
        })
    });
    g.bench_function(BenchmarkId::new("roundtrip", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(TOPIC, black_box(&value), &mut buf)).expect("ser");
            now(de.deserialize(TOPIC, &buf)).expect("de")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("avro_serde");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("roundtrip", "apache-avro"), |b| {
        b.iter(|| {
            buf.clear();
            apache_avro::write_avro_datum_ref(&schema, black_box(&typed), &mut buf).expect("ser");
            let v = apache_avro::from_avro_datum(&schema, &mut buf.as_slice(), None).expect("de");
            apache_avro::from_value::<AvroCustomer>(&v).expect("typed")
        })
    });
    g.bench_function(BenchmarkId::new("roundtrip", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_serde_into(TOPIC, black_box(&typed), &mut buf)).expect("ser");
            now(de.deserialize_serde::<AvroCustomer>(TOPIC, &buf)).expect("de")
        })
    });
    g.finish();
}

fn bench_protobuf(c: &mut Criterion) {
    let src = Arc::new(MemorySource::new());
    let ser = ProtobufSerializer::new(src.clone(), SerdeConfig::value());
    let de = ProtobufDeserializer::new(src.clone(), SerdeConfig::value());
    let desc = proto_desc();
    let dynamic = dynamic_customer();
    let typed = prost_customer();
    let mut buf = Vec::with_capacity(256);
    let framed = now(ser.serialize(TOPIC, &dynamic)).expect("warm ser");
    let back = now(de.deserialize(TOPIC, &framed)).expect("warm de");
    assert_eq!(back.encode_to_vec(), dynamic.encode_to_vec());
    assert_eq!(&framed[6..], typed.encode_to_vec().as_slice());
    let body = dynamic.encode_to_vec();

    let mut g = c.benchmark_group("protobuf_dynamic");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("serialize", "prost-reflect"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(&dynamic).encode(&mut buf).expect("ser");
        })
    });
    g.bench_function(BenchmarkId::new("serialize", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(TOPIC, black_box(&dynamic), &mut buf)).expect("ser");
        })
    });
    g.bench_function(BenchmarkId::new("deserialize", "prost-reflect"), |b| {
        b.iter(|| DynamicMessage::decode(desc.clone(), black_box(body.as_slice())).expect("de"))
    });
    g.bench_function(BenchmarkId::new("deserialize", "accord"), |b| {
        b.iter(|| now(de.deserialize(TOPIC, black_box(&framed))).expect("de"))
    });
    g.bench_function(BenchmarkId::new("roundtrip", "prost-reflect"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(&dynamic).encode(&mut buf).expect("ser");
            DynamicMessage::decode(desc.clone(), buf.as_slice()).expect("de")
        })
    });
    g.bench_function(BenchmarkId::new("roundtrip", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(TOPIC, black_box(&dynamic), &mut buf)).expect("ser");
            now(de.deserialize(TOPIC, &buf)).expect("de")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("protobuf_prost");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("roundtrip", "prost"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(&typed).encode(&mut buf).expect("ser");
            Customer::decode(buf.as_slice()).expect("de")
        })
    });
    g.bench_function(BenchmarkId::new("roundtrip", "accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(TOPIC, black_box(&typed), &mut buf)).expect("ser");
            now(de.deserialize_message::<Customer>(TOPIC, &buf)).expect("de")
        })
    });
    g.finish();
}

fn bench_json(c: &mut Criterion) {
    let src = Arc::new(MemorySource::new());
    let ser = JsonSerializer::with_schema(src.clone(), JSON_SCHEMA, SerdeConfig::value());
    let de = JsonDeserializer::new(src.clone(), SerdeConfig::value());
    let value = json_value();
    let mut buf = Vec::with_capacity(512);
    let framed = now(ser.serialize_value(TOPIC, &value)).expect("warm ser");
    let back: serde_json::Value = now(de.deserialize(TOPIC, &framed)).expect("warm de");
    assert_eq!(back, value);

    let mut g = c.benchmark_group("json_value");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("roundtrip", "serde_json"), |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&value)).expect("ser");
            serde_json::from_slice::<serde_json::Value>(&buf).expect("de")
        })
    });
    g.bench_function(
        BenchmarkId::new("roundtrip", "accord (validated write)"),
        |b| {
            b.iter(|| {
                buf.clear();
                now(ser.serialize_value_into(TOPIC, black_box(&value), &mut buf)).expect("ser");
                now(de.deserialize::<serde_json::Value>(TOPIC, &buf)).expect("de")
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench_avro, bench_protobuf, bench_json);
criterion_main!(benches);
