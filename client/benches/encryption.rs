//! Field-level encryption cost, against a real Accord server started in-process (SQLite
//! in a temp folder) with the `local-kms` provider.
//!
//! * `avro_encrypt`: a 20-field Avro record with 3 PII fields encrypted (`ENCRYPT`, stream
//!   scope) against the same record under a subject without the rule; caches warm, so the
//!   numbers are the per-record cost (AES-256-GCM, base64, the field walk). The ratio of
//!   the two (each side's best of 20 alternating rounds of 1,000 records) is printed
//!   before the criterion runs; `ACCORD_BENCH_SPIN=<plain|noop|enc>:<w|r>` instead loops
//!   on one of them for 10 s, for a profiler, and `ACCORD_BENCH_ENTITY=0` skips the
//!   entity-scope run.
//! * `protobuf_encrypt`: the same 20 string fields as a Protobuf message (3 tagged PII
//!   inline), encrypted against plain, with its ratio printed the same way.
//! * `json_encrypt`: the same as a JSON Schema object (3 properties tagged PII inline),
//!   a `serde_json::Value`, with its ratio printed the same way.
//! * Shared KEK, printed once: the server makes and releases per-entity keys under a
//!   shared KEK (`local-kms` in the server), 1,000 entities a request: the creation and
//!   release rates (each request's new keys wrapped with one KMS call, releases within
//!   the server's cache TTL answered without one).
//! * Entity scope, printed once (not a criterion loop): 100,000 distinct entities written
//!   concurrently, i.e. 100,000 DEKs generated, wrapped, created on the server in
//!   coalesced requests and cached: the creation rate in entities/s, the number of
//!   requests, and the client cache's memory (live heap bytes, counted by the bench's
//!   allocator, with the executor and after dropping it).
//!
//! `cargo bench -p accord-client --bench encryption -- --warm-up-time 1 --measurement-time 3`

use accord_client::registry::{
    CreateKek, EntityKeysRequest, EntityMaterial, RegistryClient, RegistryConfig,
};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, EncryptionConfig, EncryptionExecutor, FieldContext,
    FieldRuleExecutor, FieldTransform, FieldValue, JsonDeserializer, JsonSerializer,
    ProtobufDeserializer, ProtobufSerializer, RuleContext, RuleRegistry, SerdeConfig,
};
use accord_client::types::SchemaSpec;
use accord_compat::SchemaFormat;
use accord_contracts::kms::local::LocalKms;
use accord_contracts::kms::KmsRegistry;
use apache_avro::types::Value as Avro;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::FutureExt;
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the entity cache's memory is measured, not estimated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Allocations made (not counting reallocations), for allocations per record.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FIELDS: usize = 20;
const ENCRYPTED: [usize; 3] = [3, 9, 15];
const ENTITIES: usize = 100_000;

fn schema() -> String {
    let fields: Vec<serde_json::Value> = (0..FIELDS)
        .map(|i| {
            let mut f = json!({"name": format!("f{i}"), "type": "string"});
            if ENCRYPTED.contains(&i) {
                f["confluent:tags"] = json!(["PII"]);
            }
            f
        })
        .collect();
    json!({"type": "record", "name": "Wide", "namespace": "bench", "fields": fields}).to_string()
}

/// The same record as Protobuf: 20 string fields, `f3`, `f9` and `f15` tagged PII inline.
fn proto_schema() -> String {
    let mut text = String::from(
        "syntax = \"proto3\";\npackage bench;\nimport \"confluent/meta.proto\";\n\nmessage Wide {\n",
    );
    for i in 0..FIELDS {
        let tag = if ENCRYPTED.contains(&i) {
            " [(confluent.field_meta).tags = \"PII\"]"
        } else {
            ""
        };
        text.push_str(&format!("  string f{i} = {}{tag};\n", i + 1));
    }
    text.push_str("}\n");
    text
}

/// The same record as JSON Schema: 20 string properties, 3 tagged PII inline.
fn json_schema() -> String {
    let props: serde_json::Map<String, serde_json::Value> = (0..FIELDS)
        .map(|i| {
            let mut p = json!({"type": "string"});
            if ENCRYPTED.contains(&i) {
                p["confluent:tags"] = json!(["PII"]);
            }
            (format!("f{i}"), p)
        })
        .collect();
    json!({"type": "object", "title": "Wide", "properties": props}).to_string()
}

fn json_record() -> serde_json::Value {
    (0..FIELDS)
        .map(|i| {
            (
                format!("f{i}"),
                json!(format!("value of field {i}: some text")),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn proto_record() -> DynamicMessage {
    let pool = accord_compat::protobuf::parse(&proto_schema(), &[])
        .expect("proto")
        .descriptor_pool()
        .clone();
    let mut m = DynamicMessage::new(pool.get_message_by_name("bench.Wide").expect("Wide"));
    for i in 0..FIELDS {
        m.set_field_by_name(
            &format!("f{i}"),
            prost_reflect::Value::String(format!("value of field {i}: some text")),
        );
    }
    m
}

fn record(entity: &str) -> Avro {
    Avro::Record(
        (0..FIELDS)
            .map(|i| {
                let v = if i == 0 {
                    entity.to_owned()
                } else {
                    format!("value of field {i}: some text")
                };
                (format!("f{i}"), Avro::String(v))
            })
            .collect(),
    )
}

fn rules(extra: serde_json::Value) -> serde_json::Value {
    let mut params = json!({
        "encrypt.kek.name": "bench-kek",
        "encrypt.kms.type": "local-kms",
        "encrypt.kms.key.id": "bench-key",
    });
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"domainRules": [{"name": "enc", "kind": "TRANSFORM", "mode": "WRITEREAD",
        "type": "ENCRYPT", "tags": ["PII"], "params": params}]})
}

struct Setup {
    rt: tokio::runtime::Runtime,
    _server: accord_server::RunningServer,
    client: Arc<RegistryClient>,
    dir: std::path::PathBuf,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("accord-enc-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let server = rt
        .block_on(accord_server::start(accord_server::ServerConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: format!("sqlite://{}/accord.db", dir.display()),
            local_kms_secret: Some("bench-server-secret".into()),
            ..Default::default()
        }))
        .expect("server");
    let client = Arc::new(RegistryClient::new(RegistryConfig::new(server.url())).expect("client"));
    let text = schema();
    rt.block_on(async {
        for (subject, rule_set) in [
            ("plain-value", None),
            (
                "noop-value",
                Some(json!({"domainRules": [{"name": "noop", "kind": "TRANSFORM",
                    "mode": "WRITEREAD", "type": "NOOP", "tags": ["PII"]}]})),
            ),
            ("enc-value", Some(rules(json!({})))),
            (
                "entity-value",
                Some(rules(json!({"accord.encrypt.key.scope": "entity",
                    "accord.encrypt.entity.field": "f0"}))),
            ),
        ] {
            let spec = SchemaSpec {
                format: Some(SchemaFormat::Avro),
                schema: text.clone(),
                rule_set,
                ..SchemaSpec::default()
            };
            client
                .register(subject, &spec, false)
                .await
                .expect("register");
        }
        for (subject, rule_set) in [
            ("jsplain-value", None),
            ("jsenc-value", Some(rules(json!({})))),
        ] {
            let spec = SchemaSpec {
                format: Some(SchemaFormat::Json),
                schema: json_schema(),
                rule_set,
                ..SchemaSpec::default()
            };
            client
                .register(subject, &spec, false)
                .await
                .expect("register");
        }
        for (subject, rule_set) in [
            ("pbplain-value", None),
            ("pbenc-value", Some(rules(json!({})))),
        ] {
            let spec = SchemaSpec {
                format: Some(SchemaFormat::Protobuf),
                schema: proto_schema(),
                rule_set,
                ..SchemaSpec::default()
            };
            client
                .register(subject, &spec, false)
                .await
                .expect("register");
        }
    });
    Setup {
        rt,
        _server: server,
        client,
        dir,
    }
}

/// A field rule that changes nothing: isolates the cost of the rule walk.
struct Noop;

impl FieldTransform for Noop {
    fn rule_type(&self) -> &str {
        "NOOP"
    }

    fn transform_field(
        &self,
        _ctx: &RuleContext<'_>,
        _field: &FieldContext<'_>,
        value: FieldValue,
    ) -> accord_client::Result<FieldValue> {
        Ok(value)
    }
}

fn executor(client: &RegistryClient) -> EncryptionExecutor {
    let kms = KmsRegistry::new().with(Arc::new(LocalKms::new("bench-secret").expect("kms")));
    EncryptionExecutor::with_config(client.clone(), kms, EncryptionConfig::default())
}

fn now<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("a warm serde does not wait")
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn bench_encrypt(c: &mut Criterion) {
    let s = setup();
    let _guard = s.rt.enter();
    let ex = executor(&s.client);
    let cfg = SerdeConfig::value().use_latest(true).rules(
        RuleRegistry::new()
            .with_executor(ex.clone())
            .with_executor(FieldRuleExecutor(Noop)),
    );
    let ser = AvroSerializer::new(s.client.clone(), None, cfg.clone());
    let de = AvroDeserializer::new(s.client.clone(), cfg);
    let value = record("e");
    let plain =
        s.rt.block_on(ser.serialize("plain", &value))
            .expect("warm plain");
    let noop =
        s.rt.block_on(ser.serialize("noop", &value))
            .expect("warm noop");
    let enc =
        s.rt.block_on(ser.serialize("enc", &value))
            .expect("warm enc");
    assert_eq!(
        s.rt.block_on(de.deserialize("enc", &enc)).expect("warm"),
        value
    );
    assert_eq!(
        s.rt.block_on(de.deserialize("plain", &plain))
            .expect("warm"),
        value
    );

    // `ACCORD_BENCH_SPIN=<topic>:<w|r>` (topic plain, noop or enc) only loops on that one
    // operation for 10 s, for a profiler (`perf record`), and skips the rest.
    if let Ok(spin) = std::env::var("ACCORD_BENCH_SPIN") {
        let (topic, op) = spin
            .split_once(':')
            .expect("ACCORD_BENCH_SPIN=<topic>:<w|r>");
        let bytes = match topic {
            "plain" => &plain,
            "noop" => &noop,
            _ => &enc,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            for _ in 0..1000 {
                if op == "w" {
                    black_box(now(ser.serialize(topic, black_box(&value))).expect("ser"));
                } else {
                    black_box(now(de.deserialize(topic, black_box(bytes))).expect("de"));
                }
            }
        }
        return;
    }

    // The ratios, measured directly (criterion reports each side below): rounds that take
    // turns between the serdes, each side keeping its best round, so that a machine busy
    // with something else for a while skews neither side.
    let rounds = 20;
    let chunk = 1_000;
    let sides: [(&str, &[u8]); 3] = [("plain", &plain), ("enc", &enc), ("noop", &noop)];
    let mut best = [[Duration::MAX; 2]; 3];
    for _ in 0..rounds {
        for (i, (topic, bytes)) in sides.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..chunk {
                black_box(now(ser.serialize(topic, black_box(&value))).expect("ser"));
            }
            best[i][0] = best[i][0].min(t.elapsed() / chunk);
            let t = Instant::now();
            for _ in 0..chunk {
                black_box(now(de.deserialize(topic, black_box(bytes))).expect("de"));
            }
            best[i][1] = best[i][1].min(t.elapsed() / chunk);
        }
    }
    let [[pw, pr], [ew, er], [nw, nr]] = best;
    // Heap allocations per record, each side (the runtime's idle workers allocate none).
    let mut allocations = [[0.0; 2]; 3];
    for (i, (topic, bytes)) in sides.iter().enumerate() {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..chunk {
            black_box(now(ser.serialize(topic, black_box(&value))).expect("ser"));
        }
        let middle = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..chunk {
            black_box(now(de.deserialize(topic, black_box(bytes))).expect("de"));
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        allocations[i] = [
            (middle - before) as f64 / chunk as f64,
            (after - middle) as f64 / chunk as f64,
        ];
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "avro 20 fields, 3 encrypted: write {:.2} µs vs plain {:.2} µs (ratio {:.2}x); \
         read {:.2} µs vs plain {:.2} µs (ratio {:.2}x)",
        us(ew),
        us(pw),
        ew.as_secs_f64() / pw.as_secs_f64(),
        us(er),
        us(pr),
        er.as_secs_f64() / pr.as_secs_f64(),
    );
    println!(
        "  of which the rule machinery (a no-op field rule on the same 3 fields): \
         write {:.2} µs (ratio {:.2}x), read {:.2} µs (ratio {:.2}x)",
        us(nw),
        nw.as_secs_f64() / pw.as_secs_f64(),
        us(nr),
        nr.as_secs_f64() / pr.as_secs_f64(),
    );
    println!(
        "  heap allocations per record: write plain {:.1}, encrypted {:.1}, no-op rule {:.1}; \
         read plain {:.1}, encrypted {:.1}, no-op rule {:.1}",
        allocations[0][0],
        allocations[1][0],
        allocations[2][0],
        allocations[0][1],
        allocations[1][1],
        allocations[2][1],
    );

    let mut g = c.benchmark_group("avro_encrypt");
    g.throughput(Throughput::Elements(1));
    for (name, topic, bytes) in [
        ("plain", "plain", &plain),
        ("noop-rule", "noop", &noop),
        ("encrypted", "enc", &enc),
    ] {
        g.bench_function(BenchmarkId::new("serialize", name), |b| {
            b.iter(|| now(ser.serialize(topic, black_box(&value))).expect("ser"))
        });
        g.bench_function(BenchmarkId::new("deserialize", name), |b| {
            b.iter(|| now(de.deserialize(topic, black_box(bytes))).expect("de"))
        });
    }
    g.finish();

    protobuf(c, &s, &ex);
    json_schema_bench(c, &s, &ex);
    shared_kek(&s);

    // `ACCORD_BENCH_ENTITY=0` skips the entity-scope run (for profiling the loops above).
    if std::env::var("ACCORD_BENCH_ENTITY").as_deref() != Ok("0") {
        entity_scope(&s);
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// The Avro comparison for Protobuf: the same 20 string fields, 3 encrypted, against the
/// plain serializer of the same message.
fn protobuf(c: &mut Criterion, s: &Setup, ex: &EncryptionExecutor) {
    let cfg = SerdeConfig::value()
        .use_latest(true)
        .rules(RuleRegistry::new().with_executor(ex.clone()));
    let ser = ProtobufSerializer::new(s.client.clone(), cfg.clone());
    let de = ProtobufDeserializer::new(s.client.clone(), cfg);
    let message = proto_record();
    let plain =
        s.rt.block_on(ser.serialize("pbplain", &message))
            .expect("warm plain");
    let enc =
        s.rt.block_on(ser.serialize("pbenc", &message))
            .expect("warm enc");
    let back = s.rt.block_on(de.deserialize("pbenc", &enc)).expect("warm");
    assert_eq!(back.encode_to_vec(), message.encode_to_vec());
    let sides: [(&str, &[u8]); 2] = [("pbplain", &plain), ("pbenc", &enc)];
    let mut best = [[Duration::MAX; 2]; 2];
    for _ in 0..20 {
        for (i, (topic, bytes)) in sides.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..1_000 {
                black_box(now(ser.serialize(topic, black_box(&message))).expect("ser"));
            }
            best[i][0] = best[i][0].min(t.elapsed() / 1_000);
            let t = Instant::now();
            for _ in 0..1_000 {
                black_box(now(de.deserialize(topic, black_box(bytes))).expect("de"));
            }
            best[i][1] = best[i][1].min(t.elapsed() / 1_000);
        }
    }
    let [[pw, pr], [ew, er]] = best;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "protobuf 20 fields, 3 encrypted: write {:.2} µs vs plain {:.2} µs (ratio {:.2}x); \
         read {:.2} µs vs plain {:.2} µs (ratio {:.2}x)",
        us(ew),
        us(pw),
        ew.as_secs_f64() / pw.as_secs_f64(),
        us(er),
        us(pr),
        er.as_secs_f64() / pr.as_secs_f64(),
    );
    let mut g = c.benchmark_group("protobuf_encrypt");
    g.throughput(Throughput::Elements(1));
    for (name, topic, bytes) in [("plain", "pbplain", &plain), ("encrypted", "pbenc", &enc)] {
        g.bench_function(BenchmarkId::new("serialize", name), |b| {
            b.iter(|| now(ser.serialize(topic, black_box(&message))).expect("ser"))
        });
        g.bench_function(BenchmarkId::new("deserialize", name), |b| {
            b.iter(|| now(de.deserialize(topic, black_box(bytes))).expect("de"))
        });
    }
    g.finish();
}

/// The Avro comparison for JSON Schema.
fn json_schema_bench(c: &mut Criterion, s: &Setup, ex: &EncryptionExecutor) {
    let cfg = SerdeConfig::value()
        .use_latest(true)
        .rules(RuleRegistry::new().with_executor(ex.clone()));
    let ser = JsonSerializer::new(s.client.clone(), None, cfg.clone());
    let de = JsonDeserializer::new(s.client.clone(), cfg);
    let value = json_record();
    let plain =
        s.rt.block_on(ser.serialize_value("jsplain", &value))
            .expect("warm plain");
    let enc =
        s.rt.block_on(ser.serialize_value("jsenc", &value))
            .expect("warm enc");
    let back: serde_json::Value = s.rt.block_on(de.deserialize("jsenc", &enc)).expect("warm");
    assert_eq!(back, value);
    let sides: [(&str, &[u8]); 2] = [("jsplain", &plain), ("jsenc", &enc)];
    let mut best = [[Duration::MAX; 2]; 2];
    for _ in 0..20 {
        for (i, (topic, bytes)) in sides.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..1_000 {
                black_box(now(ser.serialize_value(topic, black_box(&value))).expect("ser"));
            }
            best[i][0] = best[i][0].min(t.elapsed() / 1_000);
            let t = Instant::now();
            for _ in 0..1_000 {
                let v: serde_json::Value =
                    now(de.deserialize(topic, black_box(bytes))).expect("de");
                black_box(v);
            }
            best[i][1] = best[i][1].min(t.elapsed() / 1_000);
        }
    }
    let [[pw, pr], [ew, er]] = best;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "json schema 20 fields, 3 encrypted: write {:.2} µs vs plain {:.2} µs (ratio {:.2}x); \
         read {:.2} µs vs plain {:.2} µs (ratio {:.2}x)",
        us(ew),
        us(pw),
        ew.as_secs_f64() / pw.as_secs_f64(),
        us(er),
        us(pr),
        er.as_secs_f64() / pr.as_secs_f64(),
    );
    let mut g = c.benchmark_group("json_encrypt");
    g.throughput(Throughput::Elements(1));
    for (name, topic, bytes) in [("plain", "jsplain", &plain), ("encrypted", "jsenc", &enc)] {
        g.bench_function(BenchmarkId::new("serialize", name), |b| {
            b.iter(|| now(ser.serialize_value(topic, black_box(&value))).expect("ser"))
        });
        g.bench_function(BenchmarkId::new("deserialize", name), |b| {
            b.iter(|| {
                let v: serde_json::Value =
                    now(de.deserialize(topic, black_box(bytes))).expect("de");
                v
            })
        });
    }
    g.finish();
}

/// Per-entity keys under a shared KEK, made and released by the server: 10 requests of
/// 1,000 new entities, then the same 10,000 released again (within the cache TTL).
fn shared_kek(s: &Setup) {
    let c = &s.client;
    s.rt.block_on(c.create_kek(&CreateKek {
        name: "bench-shared".into(),
        kms_type: "local-kms".into(),
        kms_key_id: "bench-shared-key".into(),
        kms_props: Default::default(),
        doc: None,
        shared: true,
    }))
    .expect("shared KEK");
    let request = |chunk: usize, create: bool| EntityKeysRequest {
        algorithm: "AES256_GCM".into(),
        create,
        entities: (0..1_000)
            .map(|i| EntityMaterial {
                entity: format!("shared-{chunk}-{i}"),
                encrypted_key_material: None,
            })
            .collect(),
    };
    let mut rates = [0.0; 2];
    for (k, create) in [true, false].into_iter().enumerate() {
        let t = Instant::now();
        for chunk in 0..10 {
            let keys = s
                .rt
                .block_on(c.entity_keys("bench-shared", "shared-value", &request(chunk, create)))
                .expect("entity keys");
            assert_eq!(keys.keys.len(), 1_000);
        }
        rates[k] = per_second(10_000, t.elapsed());
    }
    println!(
        "shared KEK, server-made entity keys: created {:.0}/s, released again {:.0}/s \
         (1,000 a request)",
        rates[0], rates[1]
    );
}

/// 100,000 new entities, written 2,000 at a time concurrently.
fn entity_scope(s: &Setup) {
    let ex = executor(&s.client);
    let cfg = SerdeConfig::value()
        .use_latest(true)
        .rules(RuleRegistry::new().with_executor(ex.clone()));
    let ser = Arc::new(AvroSerializer::new(s.client.clone(), None, cfg));
    s.rt.block_on(ser.serialize("entity", &record("warm")))
        .expect("warm");
    let names: Vec<String> = (0..ENTITIES).map(|i| format!("user-{i:08}")).collect();
    let started = Instant::now();
    s.rt.block_on(async {
        for chunk in names.chunks(2_000) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|n| {
                    let ser = Arc::clone(&ser);
                    let v = record(n);
                    tokio::spawn(async move { ser.serialize("entity", &v).await })
                })
                .collect();
            for t in tasks {
                t.await.expect("task").expect("serialize");
            }
        }
    });
    let took = started.elapsed();
    let stats = ex.cache_stats();
    // The cache's memory: live heap bytes with the executor (and its caches), then
    // without (the in-process server is idle by then; the serializer goes too, its
    // own caches hold one schema).
    let with_cache = LIVE.load(Ordering::Relaxed);
    drop(ser);
    drop(ex);
    let without = LIVE.load(Ordering::Relaxed);
    let bytes = with_cache.saturating_sub(without);
    println!(
        "entity scope: {ENTITIES} new entities in {:.2} s = {:.0} entities/s, {} entity-key requests; \
         client cache {} entries, {:.1} MiB measured ({} B per entity)",
        took.as_secs_f64(),
        per_second(ENTITIES, took),
        stats.entity_key_requests,
        stats.entity_keys,
        bytes as f64 / (1024.0 * 1024.0),
        bytes / stats.entity_keys.max(1),
    );
}

criterion_group!(benches, bench_encrypt);
criterion_main!(benches);
