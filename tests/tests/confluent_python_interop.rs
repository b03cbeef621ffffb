//! Confluent's own Python client (`confluent-kafka`, with its schema-registry rules
//! extras) against Accord: its client-side field-level encryption creates its KEK and DEK
//! in Accord's DEK registry and round-trips a PII field; `accord-client` reads what it
//! wrote; and it reads what `accord-client` writes with `accord.encrypt.aad=none`.
//!
//! Needs a Python with `confluent-kafka[avro,schemaregistry,rules]` in
//! `ACCORD_TEST_PYTHON` (`.ci/run` makes one); without it the test says it is skipped,
//! unless `ACCORD_REQUIRE_PYTHON_INTEROP=1`.

mod common;

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, EncryptionExecutor, RuleRegistry, SerdeConfig,
};
use accord_client::types::SchemaSpec;
use accord_compat::SchemaFormat;
use accord_contracts::kms::local::LocalKms;
use accord_contracts::kms::KmsRegistry;
use apache_avro::types::Value as Avro;
use common::{config, Db, Srv, TestDb};
use serde_json::json;
use std::sync::Arc;

const SECRET: &str = "interop-secret";
const SCHEMA: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"id","type":"string"},{"name":"ssn","type":"string","confluent:tags":["PII"]}]}"#;

/// Registers the schema with Confluent's ENCRYPT rule and writes one record (argv: url,
/// out file); then reads a file back if a third argument is given.
const PY: &str = r#"
import json, sys
from confluent_kafka.schema_registry import SchemaRegistryClient, Schema, RuleSet, Rule, RuleKind, RuleMode, RuleParams
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import FieldEncryptionExecutor
from confluent_kafka.schema_registry.rules.encryption.localkms.local_driver import LocalKmsDriver
FieldEncryptionExecutor.register()
LocalKmsDriver.register()
url, mode, path = sys.argv[1], sys.argv[2], sys.argv[3]
sr = SchemaRegistryClient({'url': url})
rule_conf = {'secret': 'interop-secret'}
ctx = SerializationContext("people", MessageField.VALUE)
if mode == "write":
    rule = Rule("encryptPII", "", RuleKind.TRANSFORM, RuleMode.WRITEREAD, "ENCRYPT", ["PII"],
                RuleParams({"encrypt.kek.name": "py-kek", "encrypt.kms.type": "local-kms",
                            "encrypt.kms.key.id": "py-key"}), None, None, "ERROR,NONE", False)
    sr.register_schema("people-value", Schema(sys.argv[4], "AVRO", [], None, RuleSet(None, [rule])))
    ser = AvroSerializer(sr, schema_str=None, conf={'auto.register.schemas': False, 'use.latest.version': True}, rule_conf=rule_conf)
    data = ser({"id": "p1", "ssn": "123-45-6789"}, ctx)
    assert b"123-45-6789" not in data, "ssn in clear"
    de = AvroDeserializer(sr, schema_str=None, conf={}, rule_conf=rule_conf)
    assert de(data, ctx)["ssn"] == "123-45-6789"
    open(path, "wb").write(data)
else:
    de = AvroDeserializer(sr, schema_str=None, conf={}, rule_conf=rule_conf)
    print(json.dumps(de(open(path, "rb").read(), ctx)))
"#;

fn python() -> Option<String> {
    let required = std::env::var("ACCORD_REQUIRE_PYTHON_INTEROP").is_ok_and(|v| v == "1");
    match std::env::var("ACCORD_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                !required,
                "ACCORD_REQUIRE_PYTHON_INTEROP=1 but ACCORD_TEST_PYTHON is not set"
            );
            eprintln!(
                "SKIPPED: Confluent Python interop (set ACCORD_TEST_PYTHON to a Python with \
                 confluent-kafka[avro,schemaregistry,rules])"
            );
            None
        }
    }
}

fn run_py(python: &str, script: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_client_encrypts_and_reads_with_accord() {
    let Some(python) = python() else {
        return;
    };
    let test_db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let mut srv = Srv::start(config(&test_db.url)).await;
    let dir = std::env::temp_dir().join(format!("accord-py-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("fle.py");
    std::fs::write(&script, PY).unwrap();
    let py_bin = dir.join("py.bin");
    let rs_bin = dir.join("rs.bin");

    // Confluent's client writes: it creates its KEK and DEK in Accord's DEK registry.
    let url = srv.base.clone();
    let (p, s, out) = (python.clone(), script.clone(), py_bin.clone());
    let u = url.clone();
    tokio::task::spawn_blocking(move || {
        run_py(&p, &s, &[&u, "write", out.to_str().unwrap(), SCHEMA])
    })
    .await
    .unwrap();
    let kek = srv.get("/dek-registry/v1/keks/py-kek").await.ok();
    assert_eq!(kek["kmsType"], "local-kms");
    let dek = srv
        .get("/dek-registry/v1/keks/py-kek/deks/people-value")
        .await
        .ok();
    assert_eq!(dek["version"], 1);

    // accord-client reads it (Confluent writes with empty associated data).
    let client = || RegistryClient::new(RegistryConfig::new(url.clone())).unwrap();
    let kms = KmsRegistry::new().with(Arc::new(LocalKms::new(SECRET).unwrap()));
    let ex = EncryptionExecutor::new(client(), kms);
    let rules = || RuleRegistry::new().with_executor(ex.clone());
    let de = AvroDeserializer::new(Arc::new(client()), SerdeConfig::value().rules(rules()));
    let read = de
        .deserialize("people", &std::fs::read(&py_bin).unwrap())
        .await
        .expect("accord-client reads Confluent's ciphertext");
    let person = |id: &str, ssn: &str| {
        Avro::Record(vec![
            ("id".into(), Avro::String(id.into())),
            ("ssn".into(), Avro::String(ssn.into())),
        ])
    };
    assert_eq!(read, person("p1", "123-45-6789"));

    // accord-client writes for Confluent's readers: empty associated data by rule param.
    let spec = SchemaSpec {
        format: Some(SchemaFormat::Avro),
        schema: SCHEMA.to_string(),
        rule_set: Some(json!({"domainRules": [{
            "name": "encryptPII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "ENCRYPT",
            "tags": ["PII"], "onFailure": "ERROR,NONE",
            "params": {"encrypt.kek.name": "py-kek", "encrypt.kms.type": "local-kms",
                       "encrypt.kms.key.id": "py-key", "accord.encrypt.aad": "none"}
        }]})),
        ..SchemaSpec::default()
    };
    client()
        .register("people-value", &spec, false)
        .await
        .expect("register");
    let ser = AvroSerializer::new(
        Arc::new(client()),
        None,
        SerdeConfig::value()
            .use_latest(true)
            .auto_register(false)
            .rules(rules()),
    );
    let bytes = ser
        .serialize("people", &person("r1", "987-65-4321"))
        .await
        .expect("serialize");
    assert!(!bytes.windows(11).any(|w| w == b"987-65-4321"));
    std::fs::write(&rs_bin, &bytes).unwrap();
    let (p, s, f) = (python.clone(), script.clone(), rs_bin.clone());
    let printed =
        tokio::task::spawn_blocking(move || run_py(&p, &s, &[&url, "read", f.to_str().unwrap()]))
            .await
            .unwrap();
    let v: serde_json::Value = serde_json::from_str(printed.trim()).expect("python's JSON");
    assert_eq!(v, json!({"id": "r1", "ssn": "987-65-4321"}));

    let _ = std::fs::remove_dir_all(&dir);
    srv.stop().await;
}
