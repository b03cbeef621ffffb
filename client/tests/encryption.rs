//! Field-level encryption (the `ENCRYPT` rule) through a real Accord server
//! (`accord_server::start` on a fresh SQLite file) with the HTTP `RegistryClient` and the
//! `local-kms` provider: round trips for Avro and JSON with a PII-tagged field, what the
//! bytes on the wire hold, tampering and moved ciphertexts, the Confluent interop vector
//! (empty associated data), DEK rotation, per-entity keys with shredding, batching of
//! entity-key requests, and that no key material reaches `Debug` output.

mod common;

use accord_client::registry::{CreateDek, CreateKek, RegistryClient};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, EncryptionConfig, EncryptionExecutor, JsonDeserializer,
    JsonSerializer, OnUndecryptable, ProtobufDeserializer, ProtobufSerializer, RuleRegistry,
    SerdeConfig,
};
use accord_client::types::SchemaSpec;
use accord_client::ClientError;
use accord_compat::SchemaFormat;
use accord_contracts::kms::local::LocalKms;
use accord_contracts::kms::{Dek, DekAlgorithm, KmsRegistry};
use apache_avro::types::Value as Avro;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::TestRegistry;
use prost_reflect::{DynamicMessage, Value as Pb};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "accord-test-local-secret";
const SSN: &str = "123-45-6789";
const EMAIL: &str = "ada@example.com";

/// `id` plain, `ssn` and `email` PII strings, `blob` PII bytes, `note` plain.
const PERSON: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[
  {"name":"id","type":"string"},
  {"name":"ssn","type":"string","confluent:tags":["PII"]},
  {"name":"email","type":["null","string"],"default":null,"confluent:tags":["PII"]},
  {"name":"blob","type":"bytes","confluent:tags":["PII"]},
  {"name":"note","type":"string"}]}"#;

fn kms() -> KmsRegistry {
    KmsRegistry::new().with(Arc::new(LocalKms::new(SECRET).expect("local kms")))
}

fn encrypt_rule(kek: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut params = json!({
        "encrypt.kek.name": kek,
        "encrypt.kms.type": "local-kms",
        "encrypt.kms.key.id": "accord-test-key",
    });
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"domainRules": [{
        "name": "encryptPII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "ENCRYPT",
        "tags": ["PII"], "params": params
    }]})
}

async fn register(
    c: &RegistryClient,
    subject: &str,
    format: SchemaFormat,
    schema: &str,
    rules: serde_json::Value,
) -> i32 {
    let spec = SchemaSpec {
        format: Some(format),
        schema: schema.to_string(),
        rule_set: Some(rules),
        ..SchemaSpec::default()
    };
    let r = c.register(subject, &spec, false).await.expect("register");
    assert!(r.rule_set.is_some(), "the registry keeps the ruleSet");
    r.id
}

fn executor(reg: &TestRegistry, config: EncryptionConfig) -> EncryptionExecutor {
    EncryptionExecutor::with_config(reg.client(), kms(), config)
}

fn serde_config(ex: &EncryptionExecutor) -> SerdeConfig {
    SerdeConfig::value()
        .use_latest(true)
        .rules(RuleRegistry::new().with_executor(ex.clone()))
}

fn writer(reg: &TestRegistry, ex: &EncryptionExecutor) -> AvroSerializer<RegistryClient> {
    AvroSerializer::new(Arc::new(reg.client()), None, serde_config(ex))
}

fn reader(reg: &TestRegistry, ex: &EncryptionExecutor) -> AvroDeserializer<RegistryClient> {
    AvroDeserializer::new(Arc::new(reg.client()), serde_config(ex))
}

fn person(id: &str) -> Avro {
    Avro::Record(vec![
        ("id".into(), Avro::String(id.into())),
        ("ssn".into(), Avro::String(SSN.into())),
        (
            "email".into(),
            Avro::Union(1, Box::new(Avro::String(EMAIL.into()))),
        ),
        ("blob".into(), Avro::Bytes(b"secret-bytes".to_vec())),
        ("note".into(), Avro::String("plain note".into())),
    ])
}

fn field<'v>(v: &'v Avro, name: &str) -> &'v Avro {
    match v {
        Avro::Record(fields) => {
            let (_, f) = fields.iter().find(|(n, _)| n == name).expect("field");
            match f {
                Avro::Union(_, inner) => inner,
                other => other,
            }
        }
        other => panic!("not a record: {other:?}"),
    }
}

fn set_field(v: &mut Avro, name: &str, value: Avro) {
    if let Avro::Record(fields) = v {
        for (n, f) in fields.iter_mut() {
            if n == name {
                *f = match f {
                    Avro::Union(i, _) => Avro::Union(*i, Box::new(value)),
                    _ => value,
                };
                return;
            }
        }
    }
    panic!("no field {name}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The raw Avro value behind a framed payload (no rules run).
fn raw_value(schema: &apache_avro::Schema, payload: &[u8]) -> Avro {
    apache_avro::from_avro_datum(schema, &mut &payload[5..], None).expect("avro datum")
}

fn reframe(schema: &apache_avro::Schema, prefix: &[u8], value: Avro) -> Vec<u8> {
    let mut out = prefix[..5].to_vec();
    out.extend(apache_avro::to_avro_datum(schema, value).expect("encode"));
    out
}

fn avro_schema() -> apache_avro::Schema {
    apache_avro::Schema::parse_str(PERSON).expect("schema")
}

#[tokio::test]
async fn avro_round_trip_hides_pii_and_survives_a_cold_cache() {
    let reg = TestRegistry::start().await;
    register(
        &reg.client(),
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = writer(&reg, &ex);
    let one = ser
        .serialize("people", &person("p1"))
        .await
        .expect("serialize");
    let two = ser
        .serialize("people", &person("p1"))
        .await
        .expect("serialize again");
    for bytes in [&one, &two] {
        assert!(!contains(bytes, SSN.as_bytes()), "ssn in clear on the wire");
        assert!(
            !contains(bytes, EMAIL.as_bytes()),
            "email in clear on the wire"
        );
        assert!(
            !contains(bytes, b"secret-bytes"),
            "bytes in clear on the wire"
        );
        assert!(contains(bytes, b"plain note"), "plain fields stay plain");
    }
    assert_ne!(one, two, "a fresh nonce per value");
    // The string field holds standard base64 of nonce ‖ ct ‖ tag: 11 + 28 bytes.
    let raw = raw_value(&avro_schema(), &one);
    let Avro::String(ssn_ct) = field(&raw, "ssn") else {
        panic!("string")
    };
    assert_eq!(B64.decode(ssn_ct).expect("base64").len(), SSN.len() + 28);
    let Avro::Bytes(blob_ct) = field(&raw, "blob") else {
        panic!("bytes")
    };
    assert_eq!(blob_ct.len(), b"secret-bytes".len() + 28);

    // Same process, warm cache.
    assert_eq!(
        reader(&reg, &ex)
            .deserialize("people", &one)
            .await
            .expect("read"),
        person("p1")
    );
    drop(ser);
    drop(ex);
    // A new client and executor: empty caches, keys come from the registry again.
    let cold = executor(&reg, EncryptionConfig::default());
    let de = reader(&reg, &cold);
    assert_eq!(
        de.deserialize("people", &one).await.expect("cold read"),
        person("p1")
    );
    assert_eq!(
        de.deserialize("people", &two).await.expect("cold read"),
        person("p1")
    );
    assert_eq!(cold.cache_stats().stream_deks, 1);
    reg.stop().await;
}

#[tokio::test]
async fn json_round_trip_hides_pii() {
    let reg = TestRegistry::start().await;
    let schema = r#"{"type":"object","properties":{
        "id":{"type":"string"},
        "ssn":{"type":"string","confluent:tags":["PII"]}},"required":["id","ssn"]}"#;
    register(
        &reg.client(),
        "jpeople-value",
        SchemaFormat::Json,
        schema,
        encrypt_rule("json-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = JsonSerializer::new(Arc::new(reg.client()), None, serde_config(&ex));
    let value = json!({"id": "p1", "ssn": SSN});
    let a = ser
        .serialize_value("jpeople", &value)
        .await
        .expect("json write");
    let b = ser
        .serialize_value("jpeople", &value)
        .await
        .expect("json write");
    assert!(!contains(&a, SSN.as_bytes()));
    assert_ne!(a, b);
    let written: serde_json::Value = serde_json::from_slice(&a[5..]).expect("json payload");
    assert_eq!(written["id"], "p1");
    assert_eq!(
        B64.decode(written["ssn"].as_str().unwrap()).unwrap().len(),
        SSN.len() + 28
    );
    let cold = executor(&reg, EncryptionConfig::default());
    let de = JsonDeserializer::new(Arc::new(reg.client()), serde_config(&cold));
    let back: serde_json::Value = de.deserialize("jpeople", &a).await.expect("json read");
    assert_eq!(back, value);
    reg.stop().await;
}

const PB_PERSON: &str = "syntax = \"proto3\";\npackage pii;\n\nmessage Person {\n  string id = 1;\n  string ssn = 2;\n  bytes blob = 3;\n}\n";

#[tokio::test]
async fn protobuf_round_trip_with_metadata_tags() {
    let reg = TestRegistry::start().await;
    let spec = SchemaSpec {
        format: Some(SchemaFormat::Protobuf),
        schema: PB_PERSON.to_string(),
        rule_set: Some(encrypt_rule("pb-kek", json!({}))),
        metadata: Some(json!({"tags": {"pii.Person.ssn": ["PII"], "pii.Person.blob": ["PII"]}})),
        ..SchemaSpec::default()
    };
    reg.client()
        .register("pbpeople-value", &spec, false)
        .await
        .expect("register");
    let pool = accord_compat::protobuf::parse(PB_PERSON, &[])
        .expect("proto")
        .descriptor_pool()
        .clone();
    let desc = pool.get_message_by_name("pii.Person").expect("Person");
    let mut msg = DynamicMessage::new(desc);
    msg.set_field_by_name("id", Pb::String("p1".into()));
    msg.set_field_by_name("ssn", Pb::String(SSN.into()));
    msg.set_field_by_name("blob", Pb::Bytes(b"secret-bytes".to_vec().into()));
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = ProtobufSerializer::new(Arc::new(reg.client()), serde_config(&ex));
    let a = ser.serialize("pbpeople", &msg).await.expect("pb write");
    let b = ser.serialize("pbpeople", &msg).await.expect("pb write");
    assert!(!contains(&a, SSN.as_bytes()) && !contains(&a, b"secret-bytes"));
    assert!(contains(&a, b"p1"));
    assert_ne!(a, b);
    let cold = executor(&reg, EncryptionConfig::default());
    let de = ProtobufDeserializer::new(Arc::new(reg.client()), serde_config(&cold));
    let back = de.deserialize("pbpeople", &a).await.expect("pb read");
    assert_eq!(
        back.get_field_by_name("ssn")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref(),
        Some(SSN)
    );
    assert_eq!(
        back.get_field_by_name("blob")
            .and_then(|v| v.as_bytes().map(|b| b.to_vec())),
        Some(b"secret-bytes".to_vec())
    );
    assert_eq!(
        back.get_field_by_name("id")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref(),
        Some("p1")
    );
    reg.stop().await;
}

#[tokio::test]
async fn tampered_or_moved_ciphertext_does_not_authenticate() {
    let reg = TestRegistry::start().await;
    register(
        &reg.client(),
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let bytes = writer(&reg, &ex)
        .serialize("people", &person("p1"))
        .await
        .expect("write");
    let de = reader(&reg, &ex);
    let schema = avro_schema();
    let raw = raw_value(&schema, &bytes);

    // Every byte of the string field's ciphertext, and of the bytes field's.
    let Avro::String(ssn_ct) = field(&raw, "ssn").clone() else {
        panic!()
    };
    let ssn_ct = B64.decode(ssn_ct).unwrap();
    for i in 0..ssn_ct.len() {
        let mut bad = ssn_ct.clone();
        bad[i] ^= 0x01;
        let mut v = raw.clone();
        set_field(&mut v, "ssn", Avro::String(B64.encode(&bad)));
        let err = de.deserialize("people", &reframe(&schema, &bytes, v)).await;
        assert!(err.is_err(), "flipped byte {i} of ssn still decrypts");
    }
    let Avro::Bytes(blob_ct) = field(&raw, "blob").clone() else {
        panic!()
    };
    for i in 0..blob_ct.len() {
        let mut bad = blob_ct.clone();
        bad[i] ^= 0x80;
        let mut v = raw.clone();
        set_field(&mut v, "blob", Avro::Bytes(bad));
        assert!(
            de.deserialize("people", &reframe(&schema, &bytes, v))
                .await
                .is_err(),
            "flipped byte {i} of blob still decrypts"
        );
    }

    // ssn's ciphertext moved into email (same key, same stream): the associated data
    // names the field, so it fails.
    let mut moved = raw.clone();
    set_field(&mut moved, "email", field(&raw, "ssn").clone());
    match de
        .deserialize("people", &reframe(&schema, &bytes, moved))
        .await
    {
        Err(ClientError::Rule { message, .. }) => {
            assert!(message.contains("acme.Person.email"), "{message}")
        }
        other => panic!("moved ciphertext: {other:?}"),
    }
    // Untouched, it reads.
    assert_eq!(
        de.deserialize("people", &reframe(&schema, &bytes, raw))
            .await
            .expect("intact"),
        person("p1")
    );

    // With PassThrough the tampered field keeps its ciphertext and the rest is read.
    let lenient = executor(
        &reg,
        EncryptionConfig::default().on_undecryptable(OnUndecryptable::PassThrough),
    );
    let mut v = raw_value(&schema, &bytes);
    let mut bad = ssn_ct.clone();
    bad[20] ^= 1;
    let bad_b64 = B64.encode(&bad);
    set_field(&mut v, "ssn", Avro::String(bad_b64.clone()));
    let got = reader(&reg, &lenient)
        .deserialize("people", &reframe(&schema, &bytes, v))
        .await
        .expect("pass through");
    assert_eq!(field(&got, "ssn"), &Avro::String(bad_b64));
    assert_eq!(field(&got, "email"), &Avro::String(EMAIL.into()));
    reg.stop().await;
}

#[tokio::test]
async fn confluent_interop_vector_with_empty_associated_data() {
    let reg = TestRegistry::start().await;
    let c = reg.client();
    let id = register(
        &c,
        "interop-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("interop-kek", json!({})),
    )
    .await;

    // What a Confluent client does: KEK (local-kms), DEK generated and wrapped with the
    // local secret, field ciphertext with empty associated data.
    c.create_kek(&CreateKek {
        name: "interop-kek".into(),
        kms_type: "local-kms".into(),
        kms_key_id: "accord-test-key".into(),
        kms_props: Default::default(),
        doc: None,
        shared: false,
    })
    .await
    .expect("kek");
    let local = LocalKms::new(SECRET).unwrap();
    let dek = Dek::generate(DekAlgorithm::Aes256Gcm).unwrap();
    c.create_dek(
        "interop-kek",
        &CreateDek {
            subject: "interop-value".into(),
            version: 1,
            algorithm: "AES256_GCM".into(),
            encrypted_key_material: Some(B64.encode(local.wrap_now(&dek.to_tink()).unwrap())),
        },
    )
    .await
    .expect("dek");
    let mut v = person("p1");
    set_field(
        &mut v,
        "ssn",
        Avro::String(B64.encode(dek.encrypt(SSN.as_bytes(), b"").unwrap())),
    );
    set_field(
        &mut v,
        "email",
        Avro::String(B64.encode(dek.encrypt(EMAIL.as_bytes(), b"").unwrap())),
    );
    set_field(
        &mut v,
        "blob",
        Avro::Bytes(dek.encrypt(b"secret-bytes", b"").unwrap()),
    );
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&id.to_be_bytes());
    let bytes = reframe(&avro_schema(), &prefix, v);
    let ex = executor(&reg, EncryptionConfig::default());
    assert_eq!(
        reader(&reg, &ex)
            .deserialize("interop", &bytes)
            .await
            .expect("confluent bytes"),
        person("p1")
    );

    // accord.encrypt.aad=none: what we write, a Confluent reader (empty AAD) decrypts.
    register(
        &c,
        "plainaad-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("interop-kek", json!({"accord.encrypt.aad": "none"})),
    )
    .await;
    let ours = writer(&reg, &ex)
        .serialize("plainaad", &person("p2"))
        .await
        .expect("write");
    let info = c
        .dek(
            "interop-kek",
            "plainaad-value",
            Some(1),
            "AES256_GCM",
            false,
        )
        .await
        .expect("our dek");
    let tink = local
        .unwrap_now(info.encrypted_key_material.as_deref().unwrap())
        .unwrap();
    let their_dek = Dek::from_tink(DekAlgorithm::Aes256Gcm, &tink).unwrap();
    let raw = raw_value(&avro_schema(), &ours);
    let Avro::String(ct) = field(&raw, "ssn") else {
        panic!()
    };
    assert_eq!(
        their_dek.decrypt(&B64.decode(ct).unwrap(), b"").unwrap(),
        SSN.as_bytes()
    );
    // The default (bound) output does not decrypt with empty associated data.
    let bound = writer(&reg, &ex)
        .serialize("interop", &person("p3"))
        .await
        .expect("bound write");
    let raw = raw_value(&avro_schema(), &bound);
    let Avro::String(ct) = field(&raw, "ssn") else {
        panic!()
    };
    assert!(dek.decrypt(&B64.decode(ct).unwrap(), b"").is_err());
    assert!(dek
        .decrypt(&B64.decode(ct).unwrap(), b"interop-value\0acme.Person.ssn")
        .is_ok());
    reg.stop().await;
}

#[tokio::test]
async fn rotated_dek_keeps_old_data_readable() {
    let reg = TestRegistry::start().await;
    let c = reg.client();
    register(
        &c,
        "rot-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("rot-kek", json!({"encrypt.dek.expiry.days": "30"})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let v1 = writer(&reg, &ex)
        .serialize("rot", &person("v1"))
        .await
        .expect("v1 write");
    let raw = raw_value(&avro_schema(), &v1);
    let Avro::Bytes(ct) = field(&raw, "blob") else {
        panic!()
    };
    assert_eq!(&ct[..5], &[0, 0, 0, 0, 1], "version prefix 1");

    // A second version appears (as after expiry): new writers use it.
    let local = LocalKms::new(SECRET).unwrap();
    let dek2 = Dek::generate(DekAlgorithm::Aes256Gcm).unwrap();
    c.create_dek(
        "rot-kek",
        &CreateDek {
            subject: "rot-value".into(),
            version: 2,
            algorithm: "AES256_GCM".into(),
            encrypted_key_material: Some(B64.encode(local.wrap_now(&dek2.to_tink()).unwrap())),
        },
    )
    .await
    .expect("dek v2");
    let fresh = executor(&reg, EncryptionConfig::default());
    let v2 = writer(&reg, &fresh)
        .serialize("rot", &person("v2"))
        .await
        .expect("v2 write");
    let raw = raw_value(&avro_schema(), &v2);
    let Avro::Bytes(ct) = field(&raw, "blob") else {
        panic!()
    };
    assert_eq!(&ct[..5], &[0, 0, 0, 0, 2], "version prefix 2");

    let cold = executor(&reg, EncryptionConfig::default());
    let de = reader(&reg, &cold);
    assert_eq!(
        de.deserialize("rot", &v1).await.expect("v1 after v2"),
        person("v1")
    );
    assert_eq!(de.deserialize("rot", &v2).await.expect("v2"), person("v2"));
    assert_eq!(cold.cache_stats().stream_deks, 2);
    reg.stop().await;
}

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
  {"name":"user_id","type":"string"},
  {"name":"email","type":"string","confluent:tags":["PII"]},
  {"name":"total","type":"long"}]}"#;

const ORDERS_CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: orders-contract
version: 1.0.0
status: active
team:
  name: checkout
support:
  - channel: checkout-oncall
    tool: email
    url: mailto:checkout@acme.example
customProperties:
  - property: accord.stream
    value: { name: orders }
";

fn order(user: &str) -> Avro {
    Avro::Record(vec![
        ("user_id".into(), Avro::String(user.into())),
        ("email".into(), Avro::String(format!("{user}@example.com"))),
        ("total".into(), Avro::Long(42)),
    ])
}

fn entity_rules() -> serde_json::Value {
    encrypt_rule(
        "orders-kek",
        json!({"accord.encrypt.key.scope": "entity", "accord.encrypt.entity.field": "user_id"}),
    )
}

async fn orders_stream(reg: &TestRegistry) {
    let r = reqwest::Client::new()
        .put(format!("{}/v1/streams/orders/contract", reg.url))
        .header("content-type", "application/yaml")
        .body(ORDERS_CONTRACT)
        .send()
        .await
        .expect("apply contract");
    assert!(
        r.status().is_success(),
        "contract: {}",
        r.text().await.unwrap_or_default()
    );
    register(
        &reg.client(),
        "orders-value",
        SchemaFormat::Avro,
        ORDER,
        entity_rules(),
    )
    .await;
}

#[tokio::test]
async fn shredding_an_entity_makes_only_its_fields_unreadable() {
    let reg = TestRegistry::start().await;
    orders_stream(&reg).await;
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = writer(&reg, &ex);
    let a = ser
        .serialize("orders", &order("alice"))
        .await
        .expect("alice");
    let b = ser.serialize("orders", &order("bob")).await.expect("bob");
    assert!(!contains(&a, b"alice@example.com"));
    assert_eq!(
        reader(&reg, &ex)
            .deserialize("orders", &a)
            .await
            .expect("alice before"),
        order("alice")
    );

    let r = reqwest::Client::new()
        .post(format!(
            "{}/v1/streams/orders/entities/alice/shred",
            reg.url
        ))
        .send()
        .await
        .expect("shred");
    assert_eq!(r.status(), 200);
    let receipt: serde_json::Value = r.json().await.unwrap();
    assert_eq!(receipt["deksDestroyed"], 1, "{receipt}");

    let fresh = executor(&reg, EncryptionConfig::default());
    let de = reader(&reg, &fresh);
    assert_eq!(
        de.deserialize("orders", &b).await.expect("bob after"),
        order("bob")
    );
    match de.deserialize("orders", &a).await {
        Err(ClientError::Shredded { subject, entity }) => {
            assert_eq!(subject, "orders-value");
            assert_eq!(entity.as_deref(), Some("alice"));
        }
        other => panic!("alice after shred: {other:?}"),
    }
    let lenient = executor(
        &reg,
        EncryptionConfig::default().on_undecryptable(OnUndecryptable::PassThrough),
    );
    let got = reader(&reg, &lenient)
        .deserialize("orders", &a)
        .await
        .expect("pass through");
    assert_eq!(field(&got, "user_id"), &Avro::String("alice".into()));
    assert_eq!(field(&got, "total"), &Avro::Long(42));
    let Avro::String(ct) = field(&got, "email") else {
        panic!()
    };
    assert_ne!(ct, "alice@example.com");
    assert!(B64.decode(ct).is_ok(), "the ciphertext is left in place");

    // Writers cannot resurrect a shredded entity.
    let w = writer(&reg, &fresh);
    assert!(matches!(
        w.serialize("orders", &order("alice")).await,
        Err(ClientError::Shredded { .. })
    ));
    // The old writer's cache still holds alice's key: the documented shred window.
    assert!(ser.serialize("orders", &order("alice")).await.is_ok());
    reg.stop().await;
}

#[tokio::test]
async fn shredding_a_stream_gives_shredded_to_stream_scoped_readers() {
    let reg = TestRegistry::start().await;
    let contract = ORDERS_CONTRACT.replace("name: orders", "name: payments");
    let r = reqwest::Client::new()
        .put(format!("{}/v1/streams/payments/contract", reg.url))
        .header("content-type", "application/yaml")
        .body(contract)
        .send()
        .await
        .expect("apply contract");
    assert!(r.status().is_success());
    register(
        &reg.client(),
        "payments-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("pay-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let bytes = writer(&reg, &ex)
        .serialize("payments", &person("p1"))
        .await
        .expect("write");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/streams/payments/shred", reg.url))
        .send()
        .await
        .expect("shred");
    assert_eq!(r.status(), 200);
    let fresh = executor(&reg, EncryptionConfig::default());
    match reader(&reg, &fresh).deserialize("payments", &bytes).await {
        Err(ClientError::Shredded { subject, entity }) => {
            assert_eq!((subject.as_str(), entity), ("payments-value", None));
        }
        other => panic!("after stream shred: {other:?}"),
    }
    let lenient = executor(
        &reg,
        EncryptionConfig::default().on_undecryptable(OnUndecryptable::PassThrough),
    );
    let got = reader(&reg, &lenient)
        .deserialize("payments", &bytes)
        .await
        .expect("pass through");
    assert_eq!(field(&got, "note"), &Avro::String("plain note".into()));
    assert_ne!(field(&got, "ssn"), &Avro::String(SSN.into()));
    reg.stop().await;
}

#[tokio::test]
async fn concurrent_new_entities_share_few_requests() {
    let reg = TestRegistry::start().await;
    orders_stream(&reg).await;
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = Arc::new(writer(&reg, &ex));
    // Warm the schema caches so that only entity keys remain to fetch.
    ser.serialize("orders", &order("warm")).await.expect("warm");
    let before = reg
        .request_count("/v1/entity-keys/{kek}/{subject}", "POST", 200)
        .await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let ser = Arc::clone(&ser);
        tasks.push(tokio::spawn(async move {
            ser.serialize("orders", &order(&format!("user-{i}"))).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("serialize");
    }
    let after = reg
        .request_count("/v1/entity-keys/{kek}/{subject}", "POST", 200)
        .await;
    let requests = after - before;
    eprintln!("1000 new entities: {requests} entity-key requests");
    assert!(
        (4..100).contains(&requests),
        "{requests} requests for 1000 entities"
    );
    assert_eq!(ex.cache_stats().entity_keys, 1001);

    // prefetch: 500 more in one request, then writing them needs none.
    let names: Vec<String> = (0..500).map(|i| format!("pre-{i}")).collect();
    ex.prefetch("orders-value", &names).await.expect("prefetch");
    let n = ex.cache_stats().entity_key_requests;
    for name in names.iter().take(20) {
        ser.serialize("orders", &order(name))
            .await
            .expect("prefetched");
    }
    assert_eq!(ex.cache_stats().entity_key_requests, n);
    reg.stop().await;
}

#[tokio::test]
async fn debug_output_never_shows_key_material() {
    let reg = TestRegistry::start().await;
    let c = reg.client();
    register(
        &c,
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let ex = executor(
        &reg,
        EncryptionConfig::default().dek_ttl(Duration::from_secs(60)),
    );
    writer(&reg, &ex)
        .serialize("people", &person("p1"))
        .await
        .expect("write");
    let info = c
        .dek("people-kek", "people-value", Some(1), "AES256_GCM", false)
        .await
        .expect("dek");
    let tink = LocalKms::new(SECRET)
        .unwrap()
        .unwrap_now(info.encrypted_key_material.as_deref().unwrap())
        .unwrap();
    let key = &tink[2..];
    let debug = format!(
        "{ex:?} {info:?} {:?}",
        Dek::from_tink(DekAlgorithm::Aes256Gcm, &tink).unwrap()
    );
    for shown in [
        hex::encode(key),
        B64.encode(key),
        B64.encode(&*tink),
        format!("{:?}", key),
        format!("{:?}", &key[..8]).trim_end_matches(']').to_string(),
    ] {
        assert!(
            !debug.contains(&shown),
            "key material in Debug output: {debug}"
        );
    }
    assert!(debug.contains("EncryptionExecutor"), "{debug}");
    reg.stop().await;
}

/// A named type used twice: the second use is a `Ref` in the parsed schema, and its
/// tagged field is encrypted too.
#[tokio::test]
async fn fields_of_a_referenced_named_type_are_encrypted() {
    const TWO_CONTACTS: &str = r#"{"type":"record","name":"Customer","namespace":"acme","fields":[
      {"name":"home","type":{"type":"record","name":"Contact","fields":[
        {"name":"email","type":"string","confluent:tags":["PII"]}]}},
      {"name":"work","type":"Contact"}]}"#;
    let reg = TestRegistry::start().await;
    register(
        &reg.client(),
        "customers-value",
        SchemaFormat::Avro,
        TWO_CONTACTS,
        encrypt_rule("customers-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let contact = |e: &str| Avro::Record(vec![("email".into(), Avro::String(e.into()))]);
    let value = Avro::Record(vec![
        ("home".into(), contact("home@example.com")),
        ("work".into(), contact("work@example.com")),
    ]);
    let bytes = writer(&reg, &ex)
        .serialize("customers", &value)
        .await
        .expect("serialize");
    assert!(!contains(&bytes, b"home@example.com"), "home in clear");
    assert!(
        !contains(&bytes, b"work@example.com"),
        "work (a Ref) in clear"
    );
    let back = reader(&reg, &ex)
        .deserialize("customers", &bytes)
        .await
        .expect("read");
    assert_eq!(back, value);
    reg.stop().await;
}

/// `local-kms` that counts its calls and can be taken down (every call then fails
/// with `KmsError::Unavailable`, as a KMS outage or throttling does).
#[derive(Debug)]
struct CountingKms {
    inner: LocalKms,
    down: std::sync::atomic::AtomicBool,
    wraps: std::sync::atomic::AtomicUsize,
    unwraps: std::sync::atomic::AtomicUsize,
}

impl CountingKms {
    fn new() -> Arc<Self> {
        Arc::new(CountingKms {
            inner: LocalKms::new(SECRET).expect("local kms"),
            down: Default::default(),
            wraps: Default::default(),
            unwraps: Default::default(),
        })
    }

    fn calls(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.wraps.load(SeqCst), self.unwraps.load(SeqCst))
    }

    fn outage(&self) -> Option<accord_contracts::kms::KmsError> {
        self.down
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| accord_contracts::kms::KmsError::Unavailable("throttled (test)".into()))
    }
}

impl accord_contracts::kms::Kms for CountingKms {
    fn kms_type(&self) -> &str {
        "local-kms"
    }

    fn wrap<'a>(
        &'a self,
        key_id: &'a str,
        plaintext: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<Vec<u8>, accord_contracts::kms::KmsError>> {
        self.wraps.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.outage() {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.wrap(key_id, plaintext),
        }
    }

    fn unwrap<'a>(
        &'a self,
        key_id: &'a str,
        wrapped: &'a [u8],
    ) -> futures::future::BoxFuture<
        'a,
        Result<zeroize::Zeroizing<Vec<u8>>, accord_contracts::kms::KmsError>,
    > {
        self.unwraps
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match self.outage() {
            Some(e) => Box::pin(async move { Err(e) }),
            None => self.inner.unwrap(key_id, wrapped),
        }
    }
}

fn counting_executor(
    reg: &TestRegistry,
    kms: &Arc<CountingKms>,
    config: EncryptionConfig,
) -> EncryptionExecutor {
    let k: Arc<dyn accord_contracts::kms::Kms> = Arc::clone(kms) as _;
    EncryptionExecutor::with_config(reg.client(), KmsRegistry::new().with(k), config)
}

/// A KMS outage (or throttling) fails the record even with `PassThrough`: only a key
/// that is gone or unusable leaves fields encrypted.
#[tokio::test]
async fn kms_outage_fails_the_record_even_with_pass_through() {
    let reg = TestRegistry::start().await;
    register(
        &reg.client(),
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let bytes = writer(&reg, &ex)
        .serialize("people", &person("p1"))
        .await
        .expect("write");
    let kms = CountingKms::new();
    kms.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let lenient = counting_executor(
        &reg,
        &kms,
        EncryptionConfig::default().on_undecryptable(OnUndecryptable::PassThrough),
    );
    let de = reader(&reg, &lenient);
    match de.deserialize("people", &bytes).await {
        // An outage keeps its kind through the rule runner: callers can retry on it.
        Err(e @ ClientError::Unreachable(_)) => {
            assert!(e.to_string().contains("KMS unavailable"), "{e}")
        }
        other => panic!("KMS down with PassThrough: {other:?}"),
    }
    kms.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        de.deserialize("people", &bytes).await.expect("KMS back"),
        person("p1")
    );
    reg.stop().await;
}

/// A writer that misses while a reader's lookup (which never creates) of the same new
/// entity is in flight gets its own request, and a key.
#[tokio::test]
async fn a_writer_does_not_join_a_readers_lookup_of_a_new_entity() {
    let reg = TestRegistry::start().await;
    orders_stream(&reg).await;
    // A wide batching window: the writer surely misses while the reader's request waits.
    let ex = executor(
        &reg,
        EncryptionConfig::default().batching(Duration::from_millis(300), 256),
    );
    let ser = writer(&reg, &ex);
    let de = reader(&reg, &ex);
    let dave = ser.serialize("orders", &order("dave")).await.expect("dave");
    // A record of an entity that has no key yet (as if its writer's key were lost).
    let schema = apache_avro::Schema::parse_str(ORDER).unwrap();
    let mut v = raw_value(&schema, &dave);
    set_field(&mut v, "user_id", Avro::String("carol-7f3a".into()));
    let carol = reframe(&schema, &dave, v);
    // Warm the reader's schema caches; and its error does not name the entity.
    match de.deserialize("orders", &carol).await {
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("no key"), "{m}");
            assert!(!m.contains("carol"), "entity in an error message: {m}");
        }
        other => panic!("reader of an entity without key: {other:?}"),
    }
    let (read, written) = tokio::join!(de.deserialize("orders", &carol), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ser.serialize("orders", &order("carol-7f3a")).await
    });
    assert!(read.is_err(), "the reader never creates a key");
    let written = written.expect("the writer creates its key");
    assert_eq!(
        reader(&reg, &ex)
            .deserialize("orders", &written)
            .await
            .expect("read back"),
        order("carol-7f3a")
    );
    reg.stop().await;
}

/// Writers refuse a soft-deleted KEK (by name), even when a reader of the same executor
/// has it cached; readers still read old data with it.
#[tokio::test]
async fn writers_refuse_a_soft_deleted_kek() {
    let reg = TestRegistry::start().await;
    register(
        &reg.client(),
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let ex = executor(&reg, EncryptionConfig::default());
    let bytes = writer(&reg, &ex)
        .serialize("people", &person("p1"))
        .await
        .expect("write");
    let http = reqwest::Client::new();
    for path in [
        "/dek-registry/v1/keks/people-kek/deks/people-value",
        "/dek-registry/v1/keks/people-kek",
    ] {
        let r = http
            .delete(format!("{}{path}", reg.url))
            .send()
            .await
            .expect("delete");
        assert!(
            r.status().is_success(),
            "DELETE {path}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let refused = |r: Result<Vec<u8>, ClientError>| match r {
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("people-kek") && m.contains("soft-deleted"),
                "{m}"
            )
        }
        other => panic!("writer under a soft-deleted KEK: {other:?}"),
    };
    // A fresh writer (its rule names a KMS: it must not re-create the KEK).
    let cold = executor(&reg, EncryptionConfig::default());
    refused(writer(&reg, &cold).serialize("people", &person("p2")).await);
    // A reader caches the soft-deleted KEK; the writer sharing its cache still refuses.
    let shared = executor(&reg, EncryptionConfig::default());
    assert_eq!(
        reader(&reg, &shared)
            .deserialize("people", &bytes)
            .await
            .expect("old data stays readable"),
        person("p1")
    );
    refused(
        writer(&reg, &shared)
            .serialize("people", &person("p2"))
            .await,
    );
    let kek = reg.client().kek("people-kek", true).await.expect("kek");
    assert!(kek.deleted, "the writer did not undelete the KEK");
    reg.stop().await;
}

/// Logs carry no entity values: the debug line of fields left encrypted names the
/// subject only.
#[tokio::test]
async fn pass_through_logs_do_not_name_the_entity() {
    let reg = TestRegistry::start().await;
    orders_stream(&reg).await;
    let ex = executor(&reg, EncryptionConfig::default());
    let a = writer(&reg, &ex)
        .serialize("orders", &order("alice-9c1e"))
        .await
        .expect("write");
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v1/streams/orders/entities/alice-9c1e/shred",
            reg.url
        ))
        .send()
        .await
        .expect("shred");
    assert_eq!(r.status(), 200);
    let lines = Arc::new(std::sync::Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&lines)));
    let lenient = executor(
        &reg,
        EncryptionConfig::default().on_undecryptable(OnUndecryptable::PassThrough),
    );
    reader(&reg, &lenient)
        .deserialize("orders", &a)
        .await
        .expect("pass through");
    let logged = lines.lock().unwrap().clone();
    assert!(logged.contains("fields left encrypted"), "{logged}");
    assert!(
        !logged.contains("alice"),
        "entity in the client's logs: {logged}"
    );
    reg.stop().await;
}

/// Records the client's own tracing events (not the in-process server's).
struct Capture(Arc<std::sync::Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("accord_client")
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut Fields(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut out = self.0.lock().unwrap();
        event.record(&mut Fields(&mut out));
        out.push('\n');
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Writers wrap DEKs only for entities (and streams) that need a new one, and use the
/// DEK they generated without unwrapping it again.
#[tokio::test]
async fn writers_wrap_only_new_keys_and_never_unwrap_their_own() {
    let reg = TestRegistry::start().await;
    orders_stream(&reg).await;
    register(
        &reg.client(),
        "people-value",
        SchemaFormat::Avro,
        PERSON,
        encrypt_rule("people-kek", json!({})),
    )
    .await;
    let first = executor(&reg, EncryptionConfig::default());
    writer(&reg, &first)
        .serialize("orders", &order("erin"))
        .await
        .expect("erin");

    let kms = CountingKms::new();
    let ex = counting_executor(&reg, &kms, EncryptionConfig::default());
    let ser = writer(&reg, &ex);
    ser.serialize("orders", &order("erin"))
        .await
        .expect("known entity");
    assert_eq!(kms.calls(), (0, 1), "known entity: unwrap its key only");
    ser.serialize("orders", &order("frank"))
        .await
        .expect("new entity");
    assert_eq!(kms.calls(), (1, 1), "new entity: one wrap, no unwrap");
    ser.serialize("people", &person("p1"))
        .await
        .expect("new stream");
    assert_eq!(kms.calls(), (2, 1), "new stream DEK: one wrap, no unwrap");
    let back = reader(&reg, &executor(&reg, EncryptionConfig::default()));
    let bytes = ser
        .serialize("orders", &order("frank"))
        .await
        .expect("again");
    assert_eq!(
        back.deserialize("orders", &bytes).await.expect("read"),
        order("frank")
    );
    reg.stop().await;
}

/// Tagged fields deep inside unions, arrays, maps and named types reused through a
/// `Ref` (a record inside an array inside a union, the same record as map values, a
/// second record named by reference in a union), an array of tagged strings, and a field
/// tagged by a metadata path are all encrypted; every other field stays in clear. Two
/// records, so the second runs on the field plan the first made.
#[tokio::test]
async fn nested_tagged_fields_are_encrypted_and_only_those() {
    const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
      {"name":"id","type":"string"},
      {"name":"lines","type":["null",{"type":"array","items":{"type":"record","name":"Line","fields":[
          {"name":"sku","type":"string"},
          {"name":"card","type":["null",{"type":"record","name":"Card","fields":[
              {"name":"number","type":"string","confluent:tags":["PII"]},
              {"name":"holder","type":"string"}]}]}]}}],"default":null},
      {"name":"by_sku","type":{"type":"map","values":"Line"}},
      {"name":"backup","type":["null","Card"],"default":null},
      {"name":"notes","type":{"type":"array","items":"string"},"confluent:tags":["PII"]},
      {"name":"ship_to","type":"string"}]}"#;
    let reg = TestRegistry::start().await;
    let spec = SchemaSpec {
        format: Some(SchemaFormat::Avro),
        schema: ORDER.to_string(),
        rule_set: Some(encrypt_rule("orders-nested-kek", json!({}))),
        metadata: Some(json!({"tags": {"shop.Order.ship_to": ["PII"]}})),
        ..SchemaSpec::default()
    };
    reg.client()
        .register("nested-value", &spec, false)
        .await
        .expect("register");
    let s = |v: &str| Avro::String(v.into());
    let card = |number: &str, holder: &str| {
        Avro::Record(vec![
            ("number".into(), s(number)),
            ("holder".into(), s(holder)),
        ])
    };
    let line = |sku: &str, c: Option<Avro>| {
        Avro::Record(vec![
            ("sku".into(), s(sku)),
            (
                "card".into(),
                match c {
                    Some(c) => Avro::Union(1, Box::new(c)),
                    None => Avro::Union(0, Box::new(Avro::Null)),
                },
            ),
        ])
    };
    let value = Avro::Record(vec![
        ("id".into(), s("order-1")),
        (
            "lines".into(),
            Avro::Union(
                1,
                Box::new(Avro::Array(vec![
                    line("sku-1", Some(card("4111-1111", "Ada Holder"))),
                    line("sku-2", None),
                ])),
            ),
        ),
        (
            "by_sku".into(),
            Avro::Map(
                [(
                    "k".to_string(),
                    line("sku-3", Some(card("5500-0000", "Bob Holder"))),
                )]
                .into(),
            ),
        ),
        (
            "backup".into(),
            Avro::Union(1, Box::new(card("3400-0000", "Cy Holder"))),
        ),
        (
            "notes".into(),
            Avro::Array(vec![s("note-one"), s("note-two")]),
        ),
        ("ship_to".into(), s("Main Street 1")),
    ]);
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = writer(&reg, &ex);
    let de = reader(&reg, &ex);
    let secret: [&[u8]; 6] = [
        b"4111-1111",
        b"5500-0000",
        b"3400-0000",
        b"note-one",
        b"note-two",
        b"Main Street 1",
    ];
    let clear: [&[u8]; 7] = [
        b"order-1",
        b"sku-1",
        b"sku-2",
        b"sku-3",
        b"Ada Holder",
        b"Bob Holder",
        b"Cy Holder",
    ];
    for _ in 0..2 {
        let bytes = ser.serialize("nested", &value).await.expect("serialize");
        for p in secret {
            assert!(
                !contains(&bytes, p),
                "{} in clear",
                String::from_utf8_lossy(p)
            );
        }
        for p in clear {
            assert!(
                contains(&bytes, p),
                "{} not in clear",
                String::from_utf8_lossy(p)
            );
        }
        // Each secret is there as base64 of nonce ‖ ciphertext ‖ tag.
        let raw = raw_value(
            &apache_avro::Schema::parse_str(ORDER).expect("schema"),
            &bytes,
        );
        let Avro::Record(fields) = &raw else {
            panic!("a record")
        };
        let ship_to = fields.iter().find(|(n, _)| n == "ship_to").map(|(_, v)| v);
        let Some(Avro::String(ct)) = ship_to else {
            panic!("ship_to")
        };
        let ct = B64.decode(ct).expect("base64");
        assert_eq!(ct.len(), 12 + "Main Street 1".len() + 16);
        let back = de.deserialize("nested", &bytes).await.expect("read");
        assert_eq!(back, value);
    }
    reg.stop().await;
}

/// The same through Protobuf: tagged fields in repeated and map-valued messages and in
/// a oneof member are encrypted, the rest stays in clear, twice (the second message on
/// the cached plan).
#[tokio::test]
async fn nested_protobuf_fields_are_encrypted_and_only_those() {
    const PB_ORDER: &str = r#"syntax = "proto3";
package shop;
import "confluent/meta.proto";

message Order {
  string id = 1;
  repeated Line lines = 2;
  map<string, Line> by_sku = 3;
  oneof pay {
    Card card = 4;
    string voucher = 5 [(confluent.field_meta).tags = "PII"];
  }
  repeated string notes = 6 [(confluent.field_meta).tags = "PII"];
}

message Line {
  string sku = 1;
  Card card = 2;
}

message Card {
  string number = 1 [(confluent.field_meta).tags = "PII"];
  string holder = 2;
}
"#;
    let reg = TestRegistry::start().await;
    let spec = SchemaSpec {
        format: Some(SchemaFormat::Protobuf),
        schema: PB_ORDER.to_string(),
        rule_set: Some(encrypt_rule("pb-nested-kek", json!({}))),
        metadata: Some(json!({"tags": {"shop.Line.sku": ["NOT_PII"]}})),
        ..SchemaSpec::default()
    };
    reg.client()
        .register("pbnested-value", &spec, false)
        .await
        .expect("register");
    let pool = accord_compat::protobuf::parse(PB_ORDER, &[])
        .expect("proto")
        .descriptor_pool()
        .clone();
    let msg = |name: &str| DynamicMessage::new(pool.get_message_by_name(name).expect(name));
    let card = |number: &str, holder: &str| {
        let mut c = msg("shop.Card");
        c.set_field_by_name("number", Pb::String(number.into()));
        c.set_field_by_name("holder", Pb::String(holder.into()));
        Pb::Message(c)
    };
    let line = |sku: &str, c: Pb| {
        let mut l = msg("shop.Line");
        l.set_field_by_name("sku", Pb::String(sku.into()));
        l.set_field_by_name("card", c);
        Pb::Message(l)
    };
    let mut order = msg("shop.Order");
    order.set_field_by_name("id", Pb::String("order-1".into()));
    order.set_field_by_name(
        "lines",
        Pb::List(vec![
            line("sku-1", card("4111-1111", "Ada Holder")),
            line("sku-2", card("4222-2222", "Bea Holder")),
        ]),
    );
    order.set_field_by_name(
        "by_sku",
        Pb::Map(
            [(
                prost_reflect::MapKey::String("k".into()),
                line("sku-3", card("5500-0000", "Bob Holder")),
            )]
            .into(),
        ),
    );
    order.set_field_by_name("voucher", Pb::String("VOUCHER-77".into()));
    order.set_field_by_name(
        "notes",
        Pb::List(vec![
            Pb::String("note-one".into()),
            Pb::String("note-two".into()),
        ]),
    );
    use prost::Message as _;
    let ex = executor(&reg, EncryptionConfig::default());
    let ser = ProtobufSerializer::new(Arc::new(reg.client()), serde_config(&ex));
    let de = ProtobufDeserializer::new(Arc::new(reg.client()), serde_config(&ex));
    for _ in 0..2 {
        let bytes = ser.serialize("pbnested", &order).await.expect("pb write");
        for p in [
            &b"4111-1111"[..],
            b"4222-2222",
            b"5500-0000",
            b"VOUCHER-77",
            b"note-one",
            b"note-two",
        ] {
            assert!(
                !contains(&bytes, p),
                "{} in clear",
                String::from_utf8_lossy(p)
            );
        }
        for p in [
            &b"order-1"[..],
            b"sku-1",
            b"sku-2",
            b"sku-3",
            b"Ada Holder",
            b"Bea Holder",
            b"Bob Holder",
        ] {
            assert!(
                contains(&bytes, p),
                "{} not in clear",
                String::from_utf8_lossy(p)
            );
        }
        let back = de.deserialize("pbnested", &bytes).await.expect("pb read");
        assert_eq!(back.encode_to_vec(), order.encode_to_vec());
    }
    reg.stop().await;
}

/// Per-entity keys under a shared KEK, made by the server: a request's new keys are
/// wrapped under one KMS-wrapped batch key (every key of the request carries the same
/// wrapped batch key, so the KMS wrapped once), each key still its own; they unwrap with
/// the KMS secret alone; releases give the same keys; and once an entity is shredded its
/// key is never released again, while the cache is warm with its batch key and its
/// siblings stay readable.
#[tokio::test]
async fn shared_kek_entity_keys_are_batch_wrapped_and_shredded_ones_never_released() {
    use accord_client::registry::{EntityKeysRequest, EntityMaterial};
    use accord_contracts::kms::{CachingWrapper, BATCH_MAGIC};
    const SERVER_SECRET: &str = "accord-test-server-secret";
    let reg = TestRegistry::start_with(|c| c.local_kms_secret = Some(SERVER_SECRET.into())).await;
    orders_stream(&reg).await;
    let c = reg.client();
    c.create_kek(&CreateKek {
        name: "orders-shared".into(),
        kms_type: "local-kms".into(),
        kms_key_id: "orders-shared-key".into(),
        kms_props: Default::default(),
        doc: None,
        shared: true,
    })
    .await
    .expect("shared KEK");
    let request = |create: bool, names: &[String]| EntityKeysRequest {
        algorithm: "AES256_GCM".into(),
        create,
        entities: names
            .iter()
            .map(|e| EntityMaterial {
                entity: e.clone(),
                encrypted_key_material: None,
            })
            .collect(),
    };
    let users: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
    let made = c
        .entity_keys("orders-shared", "orders-value", &request(true, &users))
        .await
        .expect("create");
    assert_eq!(made.keys.len(), 50);
    let material = |k: &accord_client::registry::EntityKey| {
        k.encrypted_key_material.clone().expect("wrapped material")
    };
    let first = material(&made.keys[0]);
    assert_eq!(&first[..8], BATCH_MAGIC);
    let header = 10 + usize::from(u16::from_be_bytes([first[8], first[9]]));
    let server_kms = LocalKms::new(SERVER_SECRET).expect("kms");
    let unwrapper = CachingWrapper::new(Duration::from_secs(30), 100);
    let mut clear = std::collections::HashMap::new();
    for k in &made.keys {
        let m = material(k);
        assert_eq!(
            m[..header],
            first[..header],
            "one batch key for the request"
        );
        let key = k.key_material.clone().expect("released");
        assert_eq!(
            *unwrapper
                .unwrap(&server_kms, "orders-shared-key", &m)
                .await
                .expect("unwraps with the KMS secret"),
            *key
        );
        clear.insert(k.entity.clone(), key);
    }
    assert_eq!(clear.len(), 50);
    let distinct: std::collections::HashSet<Vec<u8>> = clear.values().map(|k| k.to_vec()).collect();
    assert_eq!(distinct.len(), 50, "independent keys");

    // Released again (from the server's cache): the same keys.
    let again = c
        .entity_keys("orders-shared", "orders-value", &request(false, &users))
        .await
        .expect("release");
    for k in &again.keys {
        assert_eq!(
            k.key_material.as_ref().map(|v| v.as_slice()),
            clear.get(&k.entity).map(|v| &v[..])
        );
    }

    let r = reqwest::Client::new()
        .post(format!("{}/v1/streams/orders/entities/u7/shred", reg.url))
        .send()
        .await
        .expect("shred");
    assert_eq!(r.status(), 200);
    for create in [false, true] {
        let after = c
            .entity_keys("orders-shared", "orders-value", &request(create, &users))
            .await
            .expect("after shred");
        assert_eq!(after.shredded, ["u7"], "create: {create}");
        assert_eq!(after.keys.len(), 49);
        for k in &after.keys {
            assert_ne!(k.entity, "u7");
            assert_eq!(
                k.key_material.as_ref().map(|v| v.as_slice()),
                clear.get(&k.entity).map(|v| &v[..])
            );
            assert_ne!(
                k.key_material.as_ref().map(|v| v.as_slice()),
                clear.get("u7").map(|v| &v[..])
            );
        }
    }
    reg.stop().await;
}
