//! Serialize + deserialize through the crate against the same work done directly with
//! apache-avro, prost(-reflect) and serde_json (the ceiling), in one run.
//!
//! Only the serde path is measured: the schemas come from the in-memory `MemorySource`
//! and every serde is warmed before timing, so the crate's numbers are framing, cache
//! lookups and the encoding itself (what a producer pays per record once warm).
//! `cargo bench -p accord-client --bench serdes`; throughput is in messages per second.
//! Each crate call is polled once (`now_or_never`): with warm caches nothing waits.
//!
//! The peer, `schema_registry_converter`, is measured in its own workspace
//! (`client/peer-bench`, with its own apache-avro and reqwest) so this one does not carry
//! second copies of both: `cargo bench --manifest-path client/peer-bench/Cargo.toml`.
//!
//! `protobuf_prost/roundtrip/accord-sync` is the synchronous warm path
//! (`try_serialize_into` / `try_deserialize_message`), without a future per record.

use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, MemorySource,
    ProtobufDeserializer, ProtobufSerializer, SerdeConfig,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::FutureExt;
use prost::Message;
use prost_reflect::DynamicMessage;
use std::hint::black_box;
use std::sync::Arc;

mod fixtures;
use fixtures::*;

const TOPIC: &str = "bench";

/// Runs a serde future that is ready at once (warm caches, in-memory source), as it is
/// when awaited inside a producer's task: no executor round trip is measured.
fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("a warm serde does not wait")
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

    // Warm the generated type's writer and the writer schema, so any filter of this
    // group finds the sync path ready.
    let typed_framed = now(ser.serialize(TOPIC, &typed)).expect("warm typed ser");
    now(de.deserialize_message::<Customer>(TOPIC, &typed_framed)).expect("warm typed de");
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
    // The synchronous warm path (`try_*`), for callers that serialize outside async code.
    g.bench_function(BenchmarkId::new("roundtrip", "accord-sync"), |b| {
        b.iter(|| {
            buf.clear();
            ser.try_serialize_into(TOPIC, black_box(&typed), &mut buf)
                .expect("warm")
                .expect("ser");
            de.try_deserialize_message::<Customer>(&buf, None)
                .expect("warm")
                .expect("de")
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
