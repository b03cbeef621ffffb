//! Field-level encryption end to end across a server restart, on SQLite and PostgreSQL:
//! a producer encrypts PII fields through `accord-client` (keys created in the DEK
//! registry, wrapped by the client's local KMS), the server stops and starts again on the
//! same database, and a new consumer with empty caches decrypts them.

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

const PERSON: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[
  {"name":"id","type":"string"},
  {"name":"ssn","type":"string","confluent:tags":["PII"]},
  {"name":"note","type":"string"}]}"#;
const SSN: &str = "123-45-6789";

fn person(id: &str) -> Avro {
    Avro::Record(vec![
        ("id".into(), Avro::String(id.into())),
        ("ssn".into(), Avro::String(SSN.into())),
        ("note".into(), Avro::String("plain".into())),
    ])
}

/// A fresh client, KMS and executor (empty caches) for the server at `url`.
fn serdes(
    url: &str,
) -> (
    AvroSerializer<RegistryClient>,
    AvroDeserializer<RegistryClient>,
) {
    let client = || RegistryClient::new(RegistryConfig::new(url.to_string())).expect("client");
    let kms = KmsRegistry::new().with(Arc::new(LocalKms::new("restart-secret").expect("kms")));
    let ex = EncryptionExecutor::new(client(), kms);
    let cfg = || {
        SerdeConfig::value()
            .use_latest(true)
            .rules(RuleRegistry::new().with_executor(ex.clone()))
    };
    (
        AvroSerializer::new(Arc::new(client()), None, cfg()),
        AvroDeserializer::new(Arc::new(client()), cfg()),
    )
}

async fn run(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    let mut srv = Srv::start(config(&test_db.url)).await;
    let spec = SchemaSpec {
        format: Some(SchemaFormat::Avro),
        schema: PERSON.to_string(),
        rule_set: Some(json!({"domainRules": [{
            "name": "encryptPII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "ENCRYPT",
            "tags": ["PII"],
            "params": {"encrypt.kek.name": "people-kek", "encrypt.kms.type": "local-kms",
                       "encrypt.kms.key.id": "people"}
        }]})),
        ..SchemaSpec::default()
    };
    RegistryClient::new(RegistryConfig::new(srv.base.clone()))
        .expect("client")
        .register("people-value", &spec, false)
        .await
        .expect("register");
    let (ser, _) = serdes(&srv.base);
    let bytes = ser
        .serialize("people", &person("p1"))
        .await
        .expect("encrypt");
    assert!(
        !bytes.windows(SSN.len()).any(|w| w == SSN.as_bytes()),
        "the ssn is not on the wire in clear"
    );

    srv.stop().await;
    let mut again = Srv::start(config(&test_db.url)).await;
    let (_, de) = serdes(&again.base);
    assert_eq!(
        de.deserialize("people", &bytes)
            .await
            .expect("decrypt after restart"),
        person("p1")
    );
    again.stop().await;
    drop(test_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    run(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    run(Db::Postgres).await
}
