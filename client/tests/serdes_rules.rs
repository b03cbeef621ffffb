//! The data-contract rule hook, with user-defined executors and the shipped CEL one:
//! a field transform on tagged fields at WRITE and READ for each format, a condition
//! that rejects, an encoding rule over the payload bytes, a custom failure action, and
//! what happens to a rule whose type has no executor. Byte-level, on the in-memory
//! source; `serdes_roundtrip.rs` runs a rule through a real server.

#[path = "serdes_support.rs"]
mod support;

use accord_client::serdes::{
    AvroDeserializer, AvroSerializer, FieldContext, FieldRuleExecutor, FieldTransform, FieldValue,
    JsonDeserializer, JsonSerializer, MemorySource, ProtobufDeserializer, ProtobufSerializer,
    RuleAction, RuleContext, RuleExecutor, RuleMessage, RuleRegistry, SerdeConfig,
};
use accord_client::types::RegisteredSchema;
use accord_client::{ClientError, Result};
use accord_compat::SchemaFormat;
use apache_avro::types::Value as Avro;
use futures::future::BoxFuture;
use prost::Message;
use prost_reflect::{DynamicMessage, Value as Pb};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::registered;

/// Reverses string fields: applied at WRITE and again at READ, it round-trips, and the
/// stored bytes show it ran.
struct Reverse;

impl FieldTransform for Reverse {
    fn rule_type(&self) -> &str {
        "REVERSE"
    }

    fn transform_field(
        &self,
        _ctx: &RuleContext<'_>,
        _field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue> {
        Ok(match value {
            FieldValue::String(s) => FieldValue::String(s.chars().rev().collect()),
            other => other,
        })
    }
}

/// A condition over the whole message: the string field named by the `field` param is
/// at most `max` characters long.
struct MaxLen;

fn field_len(message: &RuleMessage<'_>, field: &str) -> Option<usize> {
    match message {
        RuleMessage::Avro { value, .. } => match &**value {
            Avro::Record(fields) => {
                fields
                    .iter()
                    .find(|(n, _)| n == field)
                    .and_then(|(_, v)| match v {
                        Avro::String(s) => Some(s.chars().count()),
                        _ => None,
                    })
            }
            _ => None,
        },
        RuleMessage::Json { value, .. } => value.get(field)?.as_str().map(|s| s.chars().count()),
        RuleMessage::Protobuf { message } => message
            .get_field_by_name(field)?
            .as_str()
            .map(|s| s.chars().count()),
    }
}

impl RuleExecutor for MaxLen {
    fn rule_type(&self) -> &str {
        "MAXLEN"
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        let max: usize = ctx
            .parameter("max")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        let field = ctx.parameter("field").unwrap_or("name");
        let ok = field_len(message, field).is_some_and(|n| n <= max);
        Box::pin(async move { Ok(ok) })
    }
}

/// An encoding rule: XORs the payload (a stand-in for payload encryption).
struct Xor;

impl RuleExecutor for Xor {
    fn rule_type(&self) -> &str {
        "XOR"
    }

    fn transform<'a>(
        &'a self,
        _ctx: &'a RuleContext<'a>,
        _message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async { Ok(true) })
    }

    fn transform_payload<'a>(
        &'a self,
        _ctx: &'a RuleContext<'a>,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move { Ok(payload.into_iter().map(|b| b ^ 0x5a).collect()) })
    }
}

/// A custom action that counts failures and lets the record through.
struct Count(Arc<AtomicUsize>);

impl RuleAction for Count {
    fn action_type(&self) -> &str {
        "COUNT"
    }

    fn run<'a>(
        &'a self,
        _ctx: &'a RuleContext<'a>,
        error: Option<&'a ClientError>,
    ) -> BoxFuture<'a, Result<()>> {
        if error.is_some() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async { Ok(()) })
    }
}

fn registry() -> RuleRegistry {
    RuleRegistry::new()
        .with_executor(FieldRuleExecutor(Reverse))
        .with_executor(MaxLen)
        .with_executor(Xor)
}

fn with_rules(mut s: RegisteredSchema, rules: serde_json::Value) -> RegisteredSchema {
    s.rule_set = Some(rules);
    s
}

const AVRO_PII: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"name","type":"string","confluent:tags":["PII"]},{"name":"city","type":"string"}]}"#;

fn person() -> Avro {
    Avro::Record(vec![
        ("name".into(), Avro::String("Ann".into())),
        ("city".into(), Avro::String("Oslo".into())),
    ])
}

fn reverse_rule() -> serde_json::Value {
    json!({"domainRules": [
        {"name": "reversePII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "REVERSE", "tags": ["PII"]}
    ]})
}

fn config() -> SerdeConfig {
    SerdeConfig::value().auto_register(false).rules(registry())
}

/// Decodes an Avro record written by a serializer, without any rules.
async fn plain_avro(src: &Arc<MemorySource>, bytes: &[u8]) -> Avro {
    AvroDeserializer::new(src.clone(), SerdeConfig::value().rules(RuleRegistry::new()))
        .deserialize("p", bytes)
        .await
        .expect("plain read")
}

#[tokio::test]
async fn avro_field_transform_on_tagged_fields_at_write_and_read() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(
            registered(1, None, SchemaFormat::Avro, AVRO_PII),
            reverse_rule(),
        ),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    let bytes = ser.serialize("p", &person()).await.expect("ser");
    // Stored: the tagged field reversed, the untagged one as is.
    let stored = Avro::Record(vec![
        ("name".into(), Avro::String("nnA".into())),
        ("city".into(), Avro::String("Oslo".into())),
    ]);
    let raw = apache_avro::from_avro_datum(
        &apache_avro::Schema::parse_str(AVRO_PII).expect("schema"),
        &mut &bytes[5..],
        None,
    )
    .expect("raw decode");
    assert_eq!(raw, stored);
    // Read: reversed back.
    let de = AvroDeserializer::new(src.clone(), config());
    assert_eq!(de.deserialize("p", &bytes).await.expect("de"), person());
    // Serde types take the same path.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Person {
        name: String,
        city: String,
    }
    let p = Person {
        name: "Ann".into(),
        city: "Oslo".into(),
    };
    assert_eq!(ser.serialize_serde("p", &p).await.expect("serde"), bytes);
    let back: Person = de.deserialize_serde("p", &bytes).await.expect("serde de");
    assert_eq!(back, p);
}

#[tokio::test]
async fn metadata_tags_with_wildcards_select_fields() {
    let src = Arc::new(MemorySource::new());
    let untagged = r#"{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"name","type":"string"},{"name":"city","type":"string"}]}"#;
    let mut s = with_rules(
        registered(1, None, SchemaFormat::Avro, untagged),
        reverse_rule(),
    );
    s.metadata = Some(json!({"tags": {"**.city": ["PII"]}}));
    src.insert("p-value", s);
    let ser = AvroSerializer::with_schema(src.clone(), untagged, config());
    let bytes = ser.serialize("p", &person()).await.expect("ser");
    let raw = apache_avro::from_avro_datum(
        &apache_avro::Schema::parse_str(untagged).expect("schema"),
        &mut &bytes[5..],
        None,
    )
    .expect("raw");
    assert_eq!(
        raw,
        Avro::Record(vec![
            ("name".into(), Avro::String("Ann".into())),
            ("city".into(), Avro::String("olsO".into())),
        ])
    );
}

/// Field rules reach tagged fields inside a record inside an array inside a union, by
/// inline tag and by metadata path, and each schema version has its own plan: the same
/// serializer and deserializer follow a new version whose metadata tags another field.
#[tokio::test]
async fn field_rules_follow_nested_fields_and_each_schema_version() {
    const NESTED: &str = r#"{"type":"record","name":"Person","namespace":"acme","fields":[
      {"name":"name","type":"string","confluent:tags":["PII"]},
      {"name":"homes","type":["null",{"type":"array","items":{"type":"record","name":"Home","fields":[
          {"name":"street","type":"string"},{"name":"city","type":"string"}]}}]}]}"#;
    let s = |v: &str| Avro::String(v.into());
    let home = |street: &str, city: &str| {
        Avro::Record(vec![("street".into(), s(street)), ("city".into(), s(city))])
    };
    let person = |homes: Vec<Avro>| {
        Avro::Record(vec![
            ("name".into(), s("Ann")),
            ("homes".into(), Avro::Union(1, Box::new(Avro::Array(homes)))),
        ])
    };
    let value = person(vec![home("Main", "Oslo"), home("High", "Bergen")]);
    let src = Arc::new(MemorySource::new());
    let version = |id: i32, tagged: &str| {
        let mut v = with_rules(
            registered(id, None, SchemaFormat::Avro, NESTED),
            reverse_rule(),
        );
        v.metadata = Some(json!({"tags": {format!("**.{tagged}"): ["PII"]}}));
        v
    };
    let schema = apache_avro::Schema::parse_str(NESTED).expect("schema");
    let raw = |bytes: &[u8]| {
        apache_avro::from_avro_datum(&schema, &mut &bytes[5..], None).expect("raw decode")
    };
    let ser = AvroSerializer::new(src.clone(), None, config().use_latest(true));
    let de = AvroDeserializer::new(src.clone(), config());

    src.insert("p-value", version(1, "street"));
    let v1 = ser.serialize("p", &value).await.expect("v1");
    let again = ser.serialize("p", &value).await.expect("v1 again");
    assert_eq!(
        again, v1,
        "the second record (on the kept plan) is written the same"
    );
    let stored_v1 = Avro::Record(vec![
        ("name".into(), s("nnA")),
        (
            "homes".into(),
            Avro::Union(
                1,
                Box::new(Avro::Array(vec![
                    home("niaM", "Oslo"),
                    home("hgiH", "Bergen"),
                ])),
            ),
        ),
    ]);
    assert_eq!(raw(&v1), stored_v1);

    src.insert("p-value", version(2, "city"));
    let v2 = ser.serialize("p", &value).await.expect("v2");
    let stored_v2 = Avro::Record(vec![
        ("name".into(), s("nnA")),
        (
            "homes".into(),
            Avro::Union(
                1,
                Box::new(Avro::Array(vec![
                    home("Main", "olsO"),
                    home("High", "negreB"),
                ])),
            ),
        ),
    ]);
    assert_eq!(raw(&v2), stored_v2);

    // Each read undoes its own version's fields.
    for bytes in [&v1, &v2, &v1] {
        assert_eq!(de.deserialize("p", bytes).await.expect("read"), value);
    }
}

#[tokio::test]
async fn json_field_transform() {
    let schema = r#"{"type":"object","title":"Person","properties":{"name":{"type":"string","confluent:tags":["PII"]},"city":{"type":"string"}}}"#;
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(
            registered(3, None, SchemaFormat::Json, schema),
            reverse_rule(),
        ),
    );
    let ser = JsonSerializer::with_schema(src.clone(), schema, config());
    let bytes = ser
        .serialize_value("p", &json!({"name": "Ann", "city": "Oslo"}))
        .await
        .expect("ser");
    assert_eq!(&bytes[5..], br#"{"name":"nnA","city":"Oslo"}"#);
    let de = JsonDeserializer::new(src.clone(), config());
    let back: serde_json::Value = de.deserialize("p", &bytes).await.expect("de");
    assert_eq!(back, json!({"name": "Ann", "city": "Oslo"}));
}

const PROTO_PII: &str = "syntax = \"proto3\";\npackage acme;\nimport \"confluent/meta.proto\";\n\nmessage Person {\n  string name = 1 [(confluent.field_meta).tags = \"PII\"];\n  string city = 2;\n}\n";

#[tokio::test]
async fn protobuf_field_transform_with_inline_tags() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(
            registered(7, None, SchemaFormat::Protobuf, PROTO_PII),
            reverse_rule(),
        ),
    );
    let pool = accord_compat::protobuf::parse(PROTO_PII, &[])
        .expect("proto")
        .descriptor_pool()
        .clone();
    let desc = pool.get_message_by_name("acme.Person").expect("Person");
    let mut m = DynamicMessage::new(desc.clone());
    m.set_field_by_name("name", Pb::String("Ann".into()));
    m.set_field_by_name("city", Pb::String("Oslo".into()));

    let ser = ProtobufSerializer::new(src.clone(), config().use_latest(true));
    let bytes = ser.serialize("p", &m).await.expect("ser");
    // Prefix (id 7, index [0]) in clear, then the message with `name` reversed.
    let stored = DynamicMessage::decode(desc.clone(), &bytes[6..]).expect("raw");
    assert_eq!(
        stored
            .get_field_by_name("name")
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some("nnA".into())
    );
    assert_eq!(
        stored
            .get_field_by_name("city")
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some("Oslo".into())
    );
    let de = ProtobufDeserializer::new(src.clone(), config());
    let back = de.deserialize("p", &bytes).await.expect("de");
    assert_eq!(back.encode_to_vec(), m.encode_to_vec());
}

#[tokio::test]
async fn a_failing_condition_rejects_the_record() {
    let rules = json!({"domainRules": [
        {"name": "shortName", "kind": "CONDITION", "mode": "WRITE", "type": "MAXLEN",
         "params": {"field": "name", "max": "3"}, "doc": "names are at most 3 characters"}
    ]});
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), rules),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    ser.serialize("p", &person()).await.expect("Ann passes");
    let long = Avro::Record(vec![
        ("name".into(), Avro::String("Annabel".into())),
        ("city".into(), Avro::String("Oslo".into())),
    ]);
    match ser.serialize("p", &long).await {
        Err(ClientError::Rule { rule, message }) => {
            assert_eq!(rule, "shortName");
            assert_eq!(message, "names are at most 3 characters");
        }
        other => panic!("expected a rule error, got {other:?}"),
    }
    // A WRITE rule does not run on read.
    let bytes = ser.serialize("p", &person()).await.expect("ser");
    assert_eq!(plain_avro(&src, &bytes).await, person());
}

#[tokio::test]
async fn on_failure_none_and_custom_actions() {
    let failures = Arc::new(AtomicUsize::new(0));
    let rules = json!({"domainRules": [
        {"name": "ignored", "kind": "CONDITION", "mode": "WRITE", "type": "MAXLEN",
         "params": {"max": "1"}, "onFailure": "NONE"},
        {"name": "counted", "kind": "CONDITION", "mode": "WRITEREAD", "type": "MAXLEN",
         "params": {"max": "1"}, "onFailure": "COUNT,ERROR"}
    ]});
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), rules),
    );
    let cfg = config().rules(registry().with_action(Count(failures.clone())));
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, cfg.clone());
    let bytes = ser
        .serialize("p", &person())
        .await
        .expect("both failures tolerated on write");
    assert_eq!(failures.load(Ordering::SeqCst), 1, "COUNT ran once");
    // On read the pair's second action (ERROR) applies.
    let de = AvroDeserializer::new(src.clone(), cfg);
    assert!(matches!(
        de.deserialize("p", &bytes).await,
        Err(ClientError::Rule { ref rule, .. }) if rule == "counted"
    ));
}

#[tokio::test]
async fn a_rule_without_an_executor_fails_unless_on_failure_says_otherwise() {
    let src = Arc::new(MemorySource::new());
    let cel = json!({"domainRules": [
        {"name": "checkAge", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.age > 0"}
    ]});
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), cel),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    match ser.serialize("p", &person()).await {
        Err(ClientError::Rule { rule, message }) => {
            assert_eq!(rule, "checkAge");
            assert!(
                message.contains("Could not find rule executor of type CEL"),
                "{message}"
            );
        }
        other => panic!("expected a rule error, got {other:?}"),
    }

    let src = Arc::new(MemorySource::new());
    let lenient = json!({"domainRules": [
        {"name": "encryptPII", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "ENCRYPT",
         "tags": ["PII"], "onFailure": "NONE"}
    ]});
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), lenient),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    let bytes = ser
        .serialize("p", &person())
        .await
        .expect("onFailure NONE lets it through");
    let de = AvroDeserializer::new(src.clone(), config());
    assert_eq!(de.deserialize("p", &bytes).await.expect("de"), person());
}

#[tokio::test]
async fn encoding_rules_transform_the_payload_and_keep_the_prefix_in_clear() {
    let rules = json!({"encodingRules": [
        {"name": "scramble", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "XOR"}
    ]});
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), rules),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    let bytes = ser.serialize("p", &person()).await.expect("ser");
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1], "prefix in clear");
    let clear = apache_avro::to_avro_datum(
        &apache_avro::Schema::parse_str(AVRO_PII).expect("schema"),
        person(),
    )
    .expect("datum");
    let scrambled: Vec<u8> = clear.iter().map(|b| b ^ 0x5a).collect();
    assert_eq!(&bytes[5..], scrambled.as_slice());
    let de = AvroDeserializer::new(src.clone(), config());
    assert_eq!(de.deserialize("p", &bytes).await.expect("de"), person());
}

#[tokio::test]
async fn disabled_rules_and_other_modes_do_not_run() {
    let rules = json!({"domainRules": [
        {"name": "off", "kind": "CONDITION", "mode": "WRITE", "type": "MAXLEN", "params": {"max": "0"}, "disabled": true},
        {"name": "readOnly", "kind": "TRANSFORM", "mode": "READ", "type": "REVERSE", "tags": ["PII"]}
    ]});
    let src = Arc::new(MemorySource::new());
    src.insert(
        "p-value",
        with_rules(registered(1, None, SchemaFormat::Avro, AVRO_PII), rules),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, config());
    let bytes = ser.serialize("p", &person()).await.expect("ser");
    let clear = apache_avro::to_avro_datum(
        &apache_avro::Schema::parse_str(AVRO_PII).expect("schema"),
        person(),
    )
    .expect("datum");
    assert_eq!(&bytes[5..], clear.as_slice(), "nothing ran on write");
    let de = AvroDeserializer::new(src.clone(), config());
    let back = de.deserialize("p", &bytes).await.expect("de");
    assert_eq!(
        back,
        Avro::Record(vec![
            ("name".into(), Avro::String("nnA".into())),
            ("city".into(), Avro::String("Oslo".into())),
        ]),
        "the READ rule ran on read"
    );
}

/// A migration: renames a JSON property (`from` → `to` on UPGRADE, back on DOWNGRADE).
struct Rename;

impl RuleExecutor for Rename {
    fn rule_type(&self) -> &str {
        "RENAME"
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        let (from, to) = (
            ctx.parameter("from").unwrap_or(""),
            ctx.parameter("to").unwrap_or(""),
        );
        let (from, to) = match ctx.mode {
            accord_client::serdes::RuleMode::Downgrade => (to, from),
            _ => (from, to),
        };
        let ok = match message {
            RuleMessage::Json { value, .. } => match value.as_object_mut() {
                Some(obj) => match obj.remove(from) {
                    Some(v) => {
                        obj.insert(to.to_string(), v);
                        true
                    }
                    None => false,
                },
                None => false,
            },
            _ => false,
        };
        Box::pin(async move { Ok(ok) })
    }
}

#[tokio::test]
async fn migration_rules_run_between_versions() {
    let v1 = r#"{"type":"object","properties":{"fullName":{"type":"string"}}}"#;
    let v2 = r#"{"type":"object","properties":{"name":{"type":"string"}}}"#;
    let src = Arc::new(MemorySource::new());
    let mut s1 = registered(1, None, SchemaFormat::Json, v1);
    s1.metadata = Some(json!({"properties": {"major": "1"}}));
    src.insert("m-value", s1);
    let s2 = with_rules(
        registered(2, None, SchemaFormat::Json, v2),
        json!({"migrationRules": [
            {"name": "renameName", "kind": "TRANSFORM", "mode": "UPDOWN", "type": "RENAME",
             "params": {"from": "fullName", "to": "name"}}
        ]}),
    );
    src.insert("m-value", s2);
    let cfg = SerdeConfig::value().rules(RuleRegistry::new().with_executor(Rename));

    // Written with v1, read with the latest (v2): UPGRADE.
    let mut old = vec![0, 0, 0, 0, 1];
    old.extend_from_slice(br#"{"fullName":"Ann"}"#);
    let latest = JsonDeserializer::new(src.clone(), cfg.clone().use_latest(true));
    let up: serde_json::Value = latest.deserialize("m", &old).await.expect("upgrade");
    assert_eq!(up, json!({"name": "Ann"}));

    // Written with v2, read with v1 (picked by metadata): DOWNGRADE.
    let mut new = vec![0, 0, 0, 0, 2];
    new.extend_from_slice(br#"{"name":"Bo"}"#);
    let pinned = JsonDeserializer::new(
        src.clone(),
        cfg.clone()
            .use_latest_with_metadata(vec![("major".into(), "1".into())]),
    );
    let down: serde_json::Value = pinned.deserialize("m", &new).await.expect("downgrade");
    assert_eq!(down, json!({"fullName": "Bo"}));

    // Without use-latest nothing migrates.
    let plain = JsonDeserializer::new(src.clone(), cfg);
    let same: serde_json::Value = plain.deserialize("m", &old).await.expect("plain");
    assert_eq!(same, json!({"fullName": "Ann"}));
}

/// The shipped CEL executor: a data-quality condition over the whole record, for each
/// format, at WRITE; a failing record is refused with the rule's name, a passing one is
/// written; an expression that does not compile fails the record, not the process.
#[tokio::test]
async fn cel_conditions_refuse_records_that_break_them() {
    use accord_client::serdes::CelExecutor;
    let adult = |expr: &str| {
        json!({"domainRules": [
            {"name": "adult", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": expr}
        ]})
    };
    let cel = || {
        SerdeConfig::value()
            .auto_register(false)
            .rules(RuleRegistry::new().with_executor(CelExecutor::new()))
    };
    let refused = |r: Result<Vec<u8>>| match r {
        Err(ClientError::Rule { rule, .. }) => assert_eq!(rule, "adult"),
        other => panic!("expected the rule to refuse the record: {other:?}"),
    };

    // Avro (the union is seen as its value).
    const AVRO: &str = r#"{"type":"record","name":"P","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"]}]}"#;
    let src = Arc::new(MemorySource::new());
    src.insert(
        "a-value",
        with_rules(
            registered(1, None, SchemaFormat::Avro, AVRO),
            adult("message.age >= 18 && size(message.name) > 0"),
        ),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO, cel());
    let person = |age: i32| {
        Avro::Record(vec![
            ("name".into(), Avro::String("Ann".into())),
            ("age".into(), Avro::Union(1, Box::new(Avro::Int(age)))),
        ])
    };
    ser.serialize("a", &person(30))
        .await
        .expect("an adult is written");
    refused(ser.serialize("a", &person(12)).await);

    // JSON Schema.
    const JSON: &str = r#"{"type":"object","properties":{"age":{"type":"integer"}}}"#;
    src.insert(
        "j-value",
        with_rules(
            registered(2, None, SchemaFormat::Json, JSON),
            adult("message.age >= 18"),
        ),
    );
    let ser = JsonSerializer::with_schema(src.clone(), JSON, cel());
    ser.serialize_value("j", &json!({"age": 18}))
        .await
        .expect("written");
    refused(ser.serialize_value("j", &json!({"age": 17})).await);

    // Protobuf, by proto field name, 64-bit integers as numbers.
    const PROTO: &str =
        "syntax = \"proto3\";\npackage cel;\nmessage P {\n  int64 age_years = 1;\n}\n";
    src.insert(
        "p-value",
        with_rules(
            registered(3, None, SchemaFormat::Protobuf, PROTO),
            adult("message.age_years >= 18"),
        ),
    );
    let desc = accord_compat::protobuf::parse(PROTO, &[])
        .expect("proto")
        .descriptor_pool()
        .get_message_by_name("cel.P")
        .expect("P");
    let ser = ProtobufSerializer::new(src.clone(), cel().use_latest(true));
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("age_years", Pb::I64(40));
    ser.serialize("p", &m).await.expect("written");
    m.set_field_by_name("age_years", Pb::I64(3));
    refused(ser.serialize("p", &m).await);

    // An expression that does not compile fails the record with the compile error.
    src.insert(
        "b-value",
        with_rules(
            registered(4, None, SchemaFormat::Json, JSON),
            adult("message.age >="),
        ),
    );
    let ser = JsonSerializer::with_schema(src.clone(), JSON, cel());
    match ser.serialize_value("b", &json!({"age": 30})).await {
        Err(ClientError::Rule { message, .. }) => {
            assert!(message.contains("invalid CEL expression"), "{message}")
        }
        other => panic!("expected a compile error: {other:?}"),
    }
}

/// The shipped `CEL_FIELD` executor: a per-field condition runs on the fields the rule's
/// tags select, in each format (nested ones included), never on untagged fields; without
/// tags it runs on every field and a guard picks them; `typeName`, `tags` and `message`
/// are bound; a failing field is named.
#[tokio::test]
async fn cel_field_conditions_check_only_the_tagged_fields() {
    use accord_client::serdes::CelExecutor;
    let rule = |tags: serde_json::Value, expr: &str| {
        json!({"domainRules": [
            {"name": "short", "kind": "CONDITION", "mode": "WRITE", "type": "CEL_FIELD",
             "tags": tags, "expr": expr}
        ]})
    };
    let cel = || {
        SerdeConfig::value().auto_register(false).rules(
            RuleRegistry::new()
                .with_executor(CelExecutor::new())
                .with_executor(CelExecutor::field()),
        )
    };
    let refused = |r: Result<Vec<u8>>, field: &str| match r {
        Err(ClientError::Rule { rule, message }) => {
            assert_eq!(rule, "short");
            assert!(message.contains(&format!("(field {field})")), "{message}");
        }
        other => panic!("expected the rule to refuse {field}: {other:?}"),
    };
    let src = Arc::new(MemorySource::new());

    // Avro: `city` (untagged) is long, `name` (PII) short; then a long name.
    src.insert(
        "a-value",
        with_rules(
            registered(1, None, SchemaFormat::Avro, AVRO_PII),
            rule(json!(["PII"]), "size(value) <= 5"),
        ),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, cel());
    let avro = |name: &str, city: &str| {
        Avro::Record(vec![
            ("name".into(), Avro::String(name.into())),
            ("city".into(), Avro::String(city.into())),
        ])
    };
    ser.serialize("a", &avro("Ann", "Reykjavik"))
        .await
        .expect("the untagged long city is not checked");
    refused(
        ser.serialize("a", &avro("Annabelle", "Oslo")).await,
        "acme.Person.name",
    );

    // JSON Schema: a tagged property of a nested object reached through a $ref, and
    // items of a tagged array; untagged ones are left alone.
    const JSON: &str = r##"{"type":"object","definitions":{"Addr":{"type":"object","properties":{
        "street":{"type":"string","confluent:tags":["PII"]},"city":{"type":"string"}}}},
        "properties":{"home":{"$ref":"#/definitions/Addr"},
        "aliases":{"type":"array","items":{"type":"string"},"confluent:tags":["PII"]},
        "note":{"type":"string"}}}"##;
    src.insert(
        "j-value",
        with_rules(
            registered(2, None, SchemaFormat::Json, JSON),
            rule(json!(["PII"]), "size(value) <= 5"),
        ),
    );
    let ser = JsonSerializer::with_schema(src.clone(), JSON, cel());
    let ok = json!({"home": {"street": "Main", "city": "Reykjavik"}, "aliases": ["a", "b"],
        "note": "a long untagged note"});
    ser.serialize_value("j", &ok).await.expect("written");
    let mut long_street = ok.clone();
    long_street["home"]["street"] = json!("Long Street");
    refused(
        ser.serialize_value("j", &long_street).await,
        "$.home.street",
    );
    let mut long_alias = ok.clone();
    long_alias["aliases"] = json!(["a", "a very long alias"]);
    refused(ser.serialize_value("j", &long_alias).await, "$.aliases");

    // Protobuf, inline tags.
    src.insert(
        "p-value",
        with_rules(
            registered(3, None, SchemaFormat::Protobuf, PROTO_PII),
            rule(json!(["PII"]), "size(value) <= 5"),
        ),
    );
    let desc = accord_compat::protobuf::parse(PROTO_PII, &[])
        .expect("proto")
        .descriptor_pool()
        .get_message_by_name("acme.Person")
        .expect("Person");
    let ser = ProtobufSerializer::new(src.clone(), cel().use_latest(true));
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("name", Pb::String("Ann".into()));
    m.set_field_by_name("city", Pb::String("Reykjavik".into()));
    ser.serialize("p", &m).await.expect("written");
    m.set_field_by_name("name", Pb::String("Annabelle".into()));
    refused(ser.serialize("p", &m).await, "acme.Person.name");

    // No tags: every field, a guard choosing by name; the bound variables.
    for (id, expr, city, written) in [
        (4, "name == 'city' ; size(value) <= 5", "Oslo", true),
        (5, "name == 'city' ; size(value) <= 5", "Reykjavik", false),
        (
            6,
            "typeName == 'STRING' && ('PII' in tags) == (name == 'name')",
            "Oslo",
            true,
        ),
        (7, "name != 'city' || value == message.city", "Oslo", true),
        (8, "name != 'city' || value != message.city", "Oslo", false),
    ] {
        let subject = format!("n{id}-value");
        src.insert(
            &subject,
            with_rules(
                registered(id, None, SchemaFormat::Avro, AVRO_PII),
                rule(json!([]), expr),
            ),
        );
        let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, cel());
        let r = ser
            .serialize(&format!("n{id}"), &avro("Annabelle", city))
            .await;
        if written {
            r.unwrap_or_else(|e| panic!("{expr}: {e}"));
        } else {
            refused(r, "acme.Person.city");
        }
    }

    // TRANSFORM CEL_FIELD rules are refused, not silently skipped.
    src.insert(
        "t-value",
        with_rules(
            registered(9, None, SchemaFormat::Avro, AVRO_PII),
            json!({"domainRules": [{"name": "mask", "kind": "TRANSFORM", "mode": "WRITE",
                "type": "CEL_FIELD", "tags": ["PII"], "expr": "'***'"}]}),
        ),
    );
    let ser = AvroSerializer::with_schema(src.clone(), AVRO_PII, cel());
    match ser.serialize("t", &avro("Ann", "Oslo")).await {
        Err(ClientError::Rule { rule, message }) => {
            assert_eq!(rule, "mask");
            assert!(message.contains("only CONDITION"), "{message}");
        }
        other => panic!("expected a refusal: {other:?}"),
    }
}
