//! accord-client against its peer, the `schema_registry_converter` crate (6.x), and the
//! direct libraries (the ceiling), in one run, on the same values.
//!
//! Both clients talk to the same real registry (an in-process `accord serve` on SQLite),
//! each is warmed before timing, so what is measured is a producer's and a consumer's
//! per-record cost once the schemas are cached: framing, cache lookups and the encoding.
//! Throughput is in messages per second. The peer covers Avro (`Value` and serde types),
//! Protobuf (`DynamicMessage`, and generated types through its raw encoder/decoder plus
//! prost) and JSON; every group below has all three contenders.
//!
//! Every future is polled once (`now_or_never`); warm, none of the three waits.

#[path = "../../benches/fixtures/mod.rs"]
mod fixtures;

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, ProtobufDeserializer,
    ProtobufSerializer, SerdeConfig,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fixtures::*;
use futures::FutureExt;
use prost::Message;
use prost_reflect::DynamicMessage;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::json::{JsonDecoder, JsonEncoder};
use schema_registry_converter::async_impl::proto_decoder::ProtoDecoder;
use schema_registry_converter::async_impl::proto_encoder::ProtoEncoder;
use schema_registry_converter::async_impl::proto_raw::{ProtoRawDecoder, ProtoRawEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("a warm serde does not wait")
}

struct Registry {
    rt: tokio::runtime::Runtime,
    url: String,
    _server: accord_server::RunningServer,
    _dir: tempfile::TempDir,
}

fn registry() -> Registry {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt
        .block_on(accord_server::start(accord_server::ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: format!("sqlite://{}/accord.db", dir.path().display()),
            max_body_bytes: 16 << 20,
            cache_capacity: 10_000,
            latest_ttl: Duration::from_secs(1),
            ..Default::default()
        }))
        .expect("registry starts");
    let url = server.url();
    Registry {
        rt,
        url,
        _server: server,
        _dir: dir,
    }
}

fn accord_source(r: &Registry) -> Arc<RegistryClient> {
    Arc::new(RegistryClient::new(RegistryConfig::new(r.url.clone())).expect("client"))
}

fn topic_strategy(topic: &str) -> SubjectNameStrategy {
    SubjectNameStrategy::TopicNameStrategy(topic.to_owned(), false)
}

fn bench_avro(c: &mut Criterion) {
    let r = registry();
    let topic = "avro";
    let src = accord_source(&r);
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_SCHEMA, SerdeConfig::value());
    let de = AvroDeserializer::new(src, SerdeConfig::value());
    let value = avro_value();
    let typed = avro_customer();
    // Registers the schema; the peer then writes with the subject's latest version.
    let framed = r.rt.block_on(ser.serialize(topic, &value)).expect("register");
    r.rt.block_on(de.deserialize(topic, &framed)).expect("warm de");
    let schema = apache_avro::Schema::parse_str(AVRO_SCHEMA).expect("schema");
    let datum = framed[5..].to_vec();

    let peer_enc = AvroEncoder::new(SrSettings::new(r.url.clone()));
    let peer_dec = AvroDecoder::new(SrSettings::new(r.url.clone()));
    let strategy = topic_strategy(topic);
    let peer_schema = peer_avro::Schema::parse_str(AVRO_SCHEMA).expect("peer schema");
    let peer_value =
        peer_avro::from_avro_datum(&peer_schema, &mut datum.as_slice(), None).expect("peer value");
    let peer_framed = r
        .rt
        .block_on(peer_enc.encode_value(peer_value.clone(), &strategy))
        .expect("peer warm");
    assert_eq!(peer_framed, framed, "the peer writes the same bytes");
    r.rt.block_on(peer_dec.decode(Some(&framed))).expect("peer warm de");
    let peer_typed = r
        .rt
        .block_on(peer_enc.encode_struct(&typed, &strategy))
        .expect("peer warm struct");
    assert_eq!(peer_typed, framed);

    let mut buf = Vec::with_capacity(256);
    let mut g = c.benchmark_group("avro_value_roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("apache-avro (ceiling)"), |b| {
        b.iter(|| {
            let d = apache_avro::to_avro_datum(&schema, black_box(&value).clone()).expect("ser");
            apache_avro::from_avro_datum(&schema, &mut d.as_slice(), None).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(topic, black_box(&value), &mut buf)).expect("ser");
            now(de.deserialize(topic, &buf)).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("schema_registry_converter"), |b| {
        b.iter(|| {
            let bytes = now(peer_enc.encode_value(black_box(&peer_value).clone(), &strategy))
                .expect("ser");
            now(peer_dec.decode(Some(&bytes))).expect("de")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("avro_serde_roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("apache-avro (ceiling)"), |b| {
        b.iter(|| {
            buf.clear();
            apache_avro::write_avro_datum_ref(&schema, black_box(&typed), &mut buf).expect("ser");
            let v = apache_avro::from_avro_datum(&schema, &mut buf.as_slice(), None).expect("de");
            apache_avro::from_value::<AvroCustomer>(&v).expect("typed")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_serde_into(topic, black_box(&typed), &mut buf)).expect("ser");
            now(de.deserialize_serde::<AvroCustomer>(topic, &buf)).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("schema_registry_converter"), |b| {
        b.iter(|| {
            let bytes = now(peer_enc.encode_struct(black_box(&typed), &strategy)).expect("ser");
            let v = now(peer_dec.decode(Some(&bytes))).expect("de").value;
            peer_avro::from_value::<AvroCustomer>(&v).expect("typed")
        })
    });
    g.finish();
}

fn bench_protobuf(c: &mut Criterion) {
    let r = registry();
    let topic = "proto";
    let src = accord_source(&r);
    let ser = ProtobufSerializer::new(src.clone(), SerdeConfig::value());
    let de = ProtobufDeserializer::new(src, SerdeConfig::value());
    let desc = proto_desc();
    let dynamic = dynamic_customer();
    let typed = prost_customer();
    let framed = r.rt.block_on(ser.serialize(topic, &dynamic)).expect("register");
    r.rt.block_on(de.deserialize(topic, &framed)).expect("warm de");
    now(ser.serialize(topic, &typed)).expect("warm typed");

    let strategy = topic_strategy(topic);
    let peer_enc = ProtoEncoder::new(SrSettings::new(r.url.clone()));
    let peer_dec = ProtoDecoder::new(SrSettings::new(r.url.clone()));
    let peer_raw_enc = ProtoRawEncoder::new(SrSettings::new(r.url.clone()));
    let peer_raw_dec = ProtoRawDecoder::new(SrSettings::new(r.url.clone()));
    // The peer decodes into its own descriptor pool (built from the registry's text), so
    // it encodes a message of that pool: the same bytes, its own descriptor.
    let peer_desc = r
        .rt
        .block_on(peer_enc.get_message_descriptor("bench.Customer", &strategy))
        .expect("peer descriptor");
    let peer_dynamic =
        DynamicMessage::decode(peer_desc, typed.encode_to_vec().as_slice()).expect("peer msg");
    let peer_framed = r
        .rt
        .block_on(peer_enc.encode(&peer_dynamic, &strategy))
        .expect("peer warm");
    assert_eq!(peer_framed, framed, "the peer writes the same bytes");
    r.rt.block_on(peer_dec.decode(Some(&framed))).expect("peer warm de");
    let raw = r
        .rt
        .block_on(peer_raw_enc.encode(&typed.encode_to_vec(), "bench.Customer", strategy.clone()))
        .expect("peer raw warm");
    assert_eq!(raw, framed);
    r.rt.block_on(peer_raw_dec.decode(Some(&framed))).expect("peer raw warm de");

    let mut buf = Vec::with_capacity(256);
    let mut g = c.benchmark_group("protobuf_dynamic_roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("prost-reflect (ceiling)"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(&dynamic).encode(&mut buf).expect("ser");
            DynamicMessage::decode(desc.clone(), buf.as_slice()).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(topic, black_box(&dynamic), &mut buf)).expect("ser");
            now(de.deserialize(topic, &buf)).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("schema_registry_converter"), |b| {
        b.iter(|| {
            let bytes = now(peer_enc.encode(black_box(&peer_dynamic), &strategy)).expect("ser");
            now(peer_dec.decode(Some(&bytes))).expect("de")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("protobuf_prost_roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("prost (ceiling)"), |b| {
        b.iter(|| {
            buf.clear();
            black_box(&typed).encode(&mut buf).expect("ser");
            Customer::decode(buf.as_slice()).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("accord"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_into(topic, black_box(&typed), &mut buf)).expect("ser");
            now(de.deserialize_message::<Customer>(topic, &buf)).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("schema_registry_converter"), |b| {
        b.iter(|| {
            let payload = black_box(&typed).encode_to_vec();
            let bytes = now(peer_raw_enc.encode(&payload, "bench.Customer", strategy.clone()))
                .expect("ser");
            let raw = now(peer_raw_dec.decode(Some(&bytes)))
                .expect("de")
                .expect("a record");
            Customer::decode(raw.bytes.as_slice()).expect("typed")
        })
    });
    g.finish();
}

fn bench_json(c: &mut Criterion) {
    let r = registry();
    let topic = "json";
    let src = accord_source(&r);
    let ser = JsonSerializer::with_schema(src.clone(), JSON_SCHEMA, SerdeConfig::value());
    let de = JsonDeserializer::new(src, SerdeConfig::value());
    let value = json_value();
    let framed = r
        .rt
        .block_on(ser.serialize_value(topic, &value))
        .expect("register");
    let back: serde_json::Value = r.rt.block_on(de.deserialize(topic, &framed)).expect("warm");
    assert_eq!(back, value);
    let strategy = topic_strategy(topic);
    let peer_enc = JsonEncoder::new(SrSettings::new(r.url.clone()));
    let peer_dec = JsonDecoder::new(SrSettings::new(r.url.clone()));
    let peer_framed = r
        .rt
        .block_on(peer_enc.encode(&value, strategy.clone()))
        .expect("peer warm");
    assert_eq!(&peer_framed[..5], &framed[..5], "same schema id");
    r.rt.block_on(peer_dec.decode(Some(&framed))).expect("peer warm de");

    let mut buf = Vec::with_capacity(512);
    let mut g = c.benchmark_group("json_roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("serde_json (ceiling, no validation)"), |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(&value)).expect("ser");
            serde_json::from_slice::<serde_json::Value>(&buf).expect("de")
        })
    });
    g.bench_function(BenchmarkId::from_parameter("accord (validated write)"), |b| {
        b.iter(|| {
            buf.clear();
            now(ser.serialize_value_into(topic, black_box(&value), &mut buf)).expect("ser");
            now(de.deserialize::<serde_json::Value>(topic, &buf)).expect("de")
        })
    });
    g.bench_function(
        BenchmarkId::from_parameter("schema_registry_converter (validated write)"),
        |b| {
            b.iter(|| {
                let bytes = now(peer_enc.encode(black_box(&value), strategy.clone())).expect("ser");
                now(peer_dec.decode(Some(&bytes))).expect("de")
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench_avro, bench_protobuf, bench_json);
criterion_main!(benches);
