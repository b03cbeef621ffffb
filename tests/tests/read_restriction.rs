//! `accord.access.read: restricted` on every path that can show a restricted stream's
//! schemas (issue 13, finding 1): subject aliases, tag edits, references (and
//! `format=resolved`), ids, GUIDs and listings. The rule: only the owning team, teams
//! with an active consumer and admins read them; an id or GUID is readable when the
//! caller may read at least one subject holding it; listings leave out what the caller
//! may not read. Approved consumers' deserialisers (accord-client, and Confluent's
//! Python client when `ACCORD_TEST_PYTHON` names a Python with `confluent-kafka`) keep
//! resolving ids.

mod common;

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::serdes::{AvroDeserializer, AvroSerializer, SerdeConfig};
use apache_avro::types::Value as Avro;
use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::Srv;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: STREAM-contract
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
    value: { name: STREAM }
";

/// The restricted stream's schema (its own id: no other subject holds it).
const SECRET_V1: &str = r#"{"type":"record","name":"Secret","namespace":"com.acme","fields":[{"name":"card","type":"string"}]}"#;
/// A second version, also registered on a free subject (an id held by both).
const SECRET_V2: &str = r#"{"type":"record","name":"Secret","namespace":"com.acme","fields":[{"name":"card","type":"string"},{"name":"note","type":"string","default":""}]}"#;
const OPEN: &str = r#"{"type":"record","name":"Open","namespace":"com.acme","fields":[{"name":"x","type":"string"}]}"#;

fn restricted_contract() -> String {
    format!("{CONTRACT}  - property: accord.access\n    value: {{ read: restricted }}\n")
}

async fn apply(srv: &Srv, who: &Key, stream: &str, yaml: &str) {
    let resp = srv
        .http
        .put(format!("{}/v1/streams/{stream}/contract", srv.base))
        .header("Authorization", who.basic())
        .header("Content-Type", "application/yaml")
        .body(yaml.replace("STREAM", stream))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn req(
    srv: &Srv,
    who: &Key,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> common::Resp {
    call(srv, method, path, Some(&who.basic()), body).await
}

/// Everyone the tests need.
struct Keys {
    admin: Key,
    /// A member of the owning team (checkout).
    owner: Key,
    /// A member of another team (payments), no consumer.
    other: Key,
    /// A reader without a team.
    reader: Key,
    /// A member of a team (analytics) with an active consumer on `orders`.
    consumer: Key,
    /// A reader of the consumer's team.
    consumer_reader: Key,
}

/// Auth on; `orders` restricted (owned by checkout, `analytics` an active consumer),
/// `open` not; `orders-value` v1 = SECRET_V1. Returns the keys and v1's id.
async fn setup(srv: &mut Srv) -> (Keys, i64) {
    let admin = restart_with_auth(srv).await;
    let member = |name: &str, role: &str, team: Option<&str>| {
        let mut body = json!({"name": name, "role": role, "kind": "service"});
        if let Some(t) = team {
            body["team"] = json!(t);
        }
        body
    };
    let owner = principal_with_key(
        srv,
        &admin,
        member("checkout-svc", "member", Some("checkout")),
    )
    .await;
    let other = principal_with_key(
        srv,
        &admin,
        member("payments-svc", "member", Some("payments")),
    )
    .await;
    let reader = principal_with_key(srv, &admin, member("viewer", "reader", None)).await;
    let consumer =
        principal_with_key(srv, &admin, member("bi-svc", "member", Some("analytics"))).await;
    let consumer_reader = principal_with_key(
        srv,
        &admin,
        member("bi-viewer", "reader", Some("analytics")),
    )
    .await;
    apply(srv, &admin, "orders", &restricted_contract()).await;
    apply(srv, &admin, "open", CONTRACT).await;
    let c = req(
        srv,
        &consumer,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "bi", "team": "analytics"})),
    )
    .await
    .ok();
    if c["status"] != "active" {
        req(
            srv,
            &owner,
            Method::POST,
            "/v1/streams/orders/consumers/bi/approve",
            None,
        )
        .await
        .ok();
    }
    let id = req(
        srv,
        &owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(json!({"schema": SECRET_V1})),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();
    let keys = Keys {
        admin,
        owner,
        other,
        reader,
        consumer,
        consumer_reader,
    };
    (keys, id)
}

/// Asserts a 403 (40301) whose message names the stream `orders`.
fn refused(r: common::Resp, what: &str) {
    let msg = r.assert_error(403, 40301);
    assert!(msg.contains("orders"), "{what}: {msg}");
}

dual!(aliases_are_read_through_their_target, |srv| {
    let (k, _) = setup(&mut srv).await;
    // Setting an alias reveals nothing; following it is what the rule checks.
    for (who, alias) in [(&k.other, "x"), (&k.consumer, "y")] {
        req(
            &srv,
            who,
            Method::PUT,
            &format!("/config/{alias}"),
            Some(json!({"alias": "orders-value"})),
        )
        .await
        .ok();
    }
    req(
        &srv,
        &k.other,
        Method::PUT,
        "/config/:.:q",
        Some(json!({"alias": ":.:orders-value"})),
    )
    .await
    .ok();
    let lookup = json!({"schema": SECRET_V1});
    let reads: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/subjects/A/versions", None),
        (Method::GET, "/subjects/A/versions/1", None),
        (Method::GET, "/subjects/A/versions/latest", None),
        (Method::GET, "/subjects/A/versions/latest/schema", None),
        (Method::GET, "/subjects/A/versions/1/referencedby", None),
        (Method::POST, "/subjects/A", Some(lookup.clone())),
        (Method::GET, "/ui/subjects/A", None),
        (Method::GET, "/ui/subjects/A/versions/1", None),
    ];
    for alias in ["x", "y", ":.:x", "q", ":.:q"] {
        for (method, path, body) in &reads {
            let path = path.replace('A', alias);
            for who in [&k.other, &k.reader] {
                let r = req(&srv, who, method.clone(), &path, body.clone()).await;
                if path.starts_with("/ui") {
                    assert_eq!(r.status, 403, "{path}: {}", r.text);
                } else {
                    refused(r, &path);
                }
            }
            for who in [&k.owner, &k.consumer, &k.consumer_reader, &k.admin] {
                let r = req(&srv, who, method.clone(), &path, body.clone()).await;
                assert!(
                    r.status == 200 || r.status == 303,
                    "{path}: {} {}",
                    r.status,
                    r.text
                );
            }
        }
    }
    // The qualified form of the restricted subject itself, in the catalog too.
    for path in [
        "/ui/subjects/:.:orders-value/versions/1",
        "/ui/subjects/:.:orders-value",
        "/ui/subjects/:.:orders-value/diff",
    ] {
        let r = req(&srv, &k.other, Method::GET, path, None).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
    }
    refused(
        req(
            &srv,
            &k.other,
            Method::GET,
            "/subjects/:.:orders-value/versions/1",
            None,
        )
        .await,
        "qualified",
    );
    // A tag edit through the alias copies nothing.
    refused(
        req(
            &srv,
            &k.other,
            Method::POST,
            "/subjects/x/versions/latest/tags",
            Some(json!({})),
        )
        .await,
        "tags via alias",
    );
});

dual!(tag_edits_check_read_and_owner_before_answering, |srv| {
    let (k, id) = setup(&mut srv).await;
    let tags = "/subjects/orders-value/versions/latest/tags";
    let add = json!({"tagsToAdd": [{"schemaEntity": {"entityPath": "com.acme.Secret", "entityType": "SR_RECORD"}, "tags": ["PII"]}]});
    for body in [json!({}), add.clone()] {
        // Neither owner nor reader: refused before the version is read.
        refused(
            req(&srv, &k.other, Method::POST, tags, Some(body.clone())).await,
            "tags by another team",
        );
        // An approved consumer reads but does not own: the owner rule answers first,
        // even for an edit that changes nothing.
        refused(
            req(&srv, &k.consumer, Method::POST, tags, Some(body.clone())).await,
            "tags by a consumer",
        );
    }
    refused(
        req(
            &srv,
            &k.other,
            Method::POST,
            "/subjects/orders-value/versions/1/tags",
            Some(json!({"newVersion": 9})),
        )
        .await,
        "tags with a wrong newVersion",
    );
    // Registering the exact schema is no existence oracle: 403 like the lookup.
    for who in [&k.other, &k.consumer] {
        refused(
            req(
                &srv,
                who,
                Method::POST,
                "/subjects/orders-value/versions",
                Some(json!({"schema": SECRET_V1})),
            )
            .await,
            "register the same schema",
        );
    }
    refused(
        req(
            &srv,
            &k.other,
            Method::POST,
            "/subjects/orders-value",
            Some(json!({"schema": SECRET_V1})),
        )
        .await,
        "lookup",
    );
    // The owner: the no-op edit is the same version, the real one a new version.
    let same = req(&srv, &k.owner, Method::POST, tags, Some(json!({})))
        .await
        .ok();
    assert_eq!(
        (same["id"].as_i64(), same["version"].as_i64()),
        (Some(id), Some(1))
    );
    let tagged = req(&srv, &k.owner, Method::POST, tags, Some(add))
        .await
        .ok();
    assert_eq!(tagged["version"], 2, "{tagged}");
    let again = req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(json!({"schema": SECRET_V1})),
    )
    .await
    .ok();
    assert_eq!(again["id"], id);
});

dual!(references_need_read_access, |srv| {
    let (k, _) = setup(&mut srv).await;
    apply(&srv, &k.admin, "ledger", &restricted_contract()).await;
    req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/ledger-value/versions",
        Some(json!({"schema": SECRET_V1})),
    )
    .await
    .ok();
    let holder = |subject: &str| {
        json!({
            "schema": r#"{"type":"record","name":"Wrap","namespace":"com.acme","fields":[{"name":"s","type":"com.acme.Secret"}]}"#,
            "references": [{"name": "com.acme.Secret", "subject": subject, "version": 1}]
        })
    };
    // Another team may not reference a restricted subject (nor pin its versions).
    for subject in ["ledger-value", ":.:ledger-value"] {
        let r = req(
            &srv,
            &k.other,
            Method::POST,
            "/subjects/wrap-value/versions",
            Some(holder(subject)),
        )
        .await;
        let msg = r.assert_error(403, 40301);
        assert!(msg.contains("ledger"), "{msg}");
        for path in [
            "/compatibility/subjects/wrap-value/versions",
            "/subjects/wrap-value",
        ] {
            let r = req(&srv, &k.other, Method::POST, path, Some(holder(subject))).await;
            let msg = r.assert_error(403, 40301);
            assert!(msg.contains("ledger"), "{path}: {msg}");
        }
    }
    // Nothing pins the owner's version: it deletes it.
    req(
        &srv,
        &k.owner,
        Method::DELETE,
        "/subjects/ledger-value/versions/1",
        None,
    )
    .await
    .ok();

    // An approved consumer may reference it; resolved output then inlines it only for
    // those who read the referenced subject too.
    let wrap = req(
        &srv,
        &k.consumer,
        Method::POST,
        "/subjects/wrap-value/versions",
        Some(holder("orders-value")),
    )
    .await
    .ok();
    let wrap_id = wrap["id"].as_i64().unwrap();
    let resolved = [
        "/subjects/wrap-value/versions/1?format=resolved".to_string(),
        "/subjects/wrap-value/versions/latest/schema?format=resolved".to_string(),
        format!("/schemas/ids/{wrap_id}?format=resolved"),
        format!("/schemas/ids/{wrap_id}/schema?format=resolved"),
    ];
    for path in &resolved {
        for who in [&k.other, &k.reader] {
            refused(req(&srv, who, Method::GET, path, None).await, path);
        }
        for who in [&k.admin, &k.owner, &k.consumer_reader] {
            let r = req(&srv, who, Method::GET, path, None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            assert!(r.text.contains("card"), "{path}: {}", r.text);
        }
    }
    // Unresolved, the holder is an ordinary readable schema.
    let plain = req(
        &srv,
        &k.other,
        Method::GET,
        &format!("/schemas/ids/{wrap_id}"),
        None,
    )
    .await
    .ok();
    assert!(
        !plain["schema"].as_str().unwrap().contains("card"),
        "{plain}"
    );
    // Its referencedby lists it for the owner, and for nobody who may not read it.
    let by = req(
        &srv,
        &k.owner,
        Method::GET,
        "/subjects/orders-value/versions/1/referencedby",
        None,
    )
    .await
    .ok();
    assert_eq!(by, json!([wrap_id]));
});

dual!(ids_guids_and_listings, |srv| {
    let (k, id) = setup(&mut srv).await;
    let guid = req(
        &srv,
        &k.admin,
        Method::GET,
        &format!("/schemas/ids/{id}"),
        None,
    )
    .await
    .ok()["guid"]
        .as_str()
        .unwrap()
        .to_string();
    // v2 of the restricted subject, also held by a free subject.
    let shared = req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(json!({"schema": SECRET_V2})),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();
    req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/copy-value/versions",
        Some(json!({"schema": SECRET_V2})),
    )
    .await
    .ok();
    let open = req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/open-value/versions",
        Some(json!({"schema": OPEN})),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();
    // A restricted key subject that references the open value.
    let key_ref = req(
        &srv,
        &k.owner,
        Method::POST,
        "/subjects/orders-key/versions",
        Some(json!({
            "schema": r#"{"type":"record","name":"Key","namespace":"com.acme","fields":[{"name":"o","type":"com.acme.Open"}]}"#,
            "references": [{"name": "com.acme.Open", "subject": "open-value", "version": 1}]
        })),
    )
    .await
    .ok()["id"]
        .as_i64()
        .unwrap();

    let by_id = [
        format!("/schemas/ids/{id}"),
        format!("/schemas/ids/{id}?subject=orders-value"),
        format!("/schemas/ids/{id}?fetchMaxId=true"),
        format!("/schemas/ids/{id}/schema"),
        format!("/schemas/ids/{id}/subjects"),
        format!("/schemas/ids/{id}/versions"),
    ];
    for _ in 0..2 {
        // Twice: the second answers come from the caches.
        for path in &by_id {
            for who in [&k.other, &k.reader] {
                refused(req(&srv, who, Method::GET, path, None).await, path);
            }
            for who in [&k.admin, &k.owner, &k.consumer, &k.consumer_reader] {
                req(&srv, who, Method::GET, path, None).await.ok();
            }
        }
        for who in [&k.other, &k.reader] {
            // A GUID is the content's digest: unreadable is unknown.
            req(
                &srv,
                who,
                Method::GET,
                &format!("/schemas/guids/{guid}"),
                None,
            )
            .await
            .assert_error(404, 40403);
            let ids = req(
                &srv,
                who,
                Method::GET,
                &format!("/schemas/guids/{guid}/ids"),
                None,
            )
            .await
            .ok();
            assert_eq!(ids, json!([]));
        }
        for who in [&k.admin, &k.consumer_reader] {
            req(
                &srv,
                who,
                Method::GET,
                &format!("/schemas/guids/{guid}"),
                None,
            )
            .await
            .ok();
            let ids = req(
                &srv,
                who,
                Method::GET,
                &format!("/schemas/guids/{guid}/ids"),
                None,
            )
            .await
            .ok();
            assert_eq!(ids[0]["id"], id);
        }
    }
    // An id held by a readable subject too: readable, its lists filtered.
    let subjects = |who: &Key, path: String| {
        let srv = &srv;
        let who = who.clone();
        async move { req(srv, &who, Method::GET, &path, None).await.ok() }
    };
    assert_eq!(
        subjects(&k.other, format!("/schemas/ids/{shared}/subjects")).await,
        json!(["copy-value"])
    );
    assert_eq!(
        subjects(&k.consumer, format!("/schemas/ids/{shared}/subjects")).await,
        json!(["copy-value", "orders-value"])
    );
    assert_eq!(
        subjects(&k.other, format!("/schemas/ids/{shared}/versions")).await,
        json!([{"subject": "copy-value", "version": 1}])
    );
    req(
        &srv,
        &k.other,
        Method::GET,
        &format!("/schemas/ids/{shared}?subject=orders-value"),
        None,
    )
    .await
    .assert_error(404, 40403);
    let s = subjects(
        &k.other,
        format!("/schemas/ids/{shared}?subject=copy-value"),
    )
    .await;
    assert_eq!(s["subject"], "copy-value");

    // Listings: filtered, not refused.
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["subject"]
                    .as_str()
                    .unwrap_or_else(|| x.as_str().unwrap())
                    .to_string()
            })
            .collect()
    };
    for who in [&k.other, &k.reader] {
        let all = subjects(who, "/subjects".into()).await;
        assert_eq!(names(&all), ["copy-value", "open-value"], "{all}");
        let all = subjects(who, "/subjects?deleted=true".into()).await;
        assert_eq!(names(&all), ["copy-value", "open-value"], "{all}");
        assert_eq!(
            subjects(who, "/schemas?subjectPrefix=orders".into()).await,
            json!([])
        );
        let all = subjects(who, "/schemas".into()).await;
        assert_eq!(names(&all), ["copy-value", "open-value"], "{all}");
        let by = subjects(who, "/subjects/open-value/versions/1/referencedby".into()).await;
        assert_eq!(by, json!([]));
    }
    for who in [&k.admin, &k.owner, &k.consumer_reader] {
        let all = subjects(who, "/subjects".into()).await;
        assert_eq!(
            names(&all),
            ["copy-value", "open-value", "orders-key", "orders-value"],
            "{all}"
        );
        let list = subjects(who, "/schemas?subjectPrefix=orders".into()).await;
        assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
        let by = subjects(who, "/subjects/open-value/versions/1/referencedby".into()).await;
        assert_eq!(by, json!([key_ref]));
    }
    // The open stream's id stays open to everyone.
    for who in [&k.other, &k.reader] {
        req(
            &srv,
            who,
            Method::GET,
            &format!("/schemas/ids/{open}"),
            None,
        )
        .await
        .ok();
    }
    // Soft-deleted holders still decide: the id is still served, to the same people.
    // (Others read it moments ago: the deletion guard wants force, issue 18.)
    req(
        &srv,
        &k.owner,
        Method::DELETE,
        "/subjects/orders-value/versions/1?force=true",
        None,
    )
    .await
    .ok();
    refused(
        req(
            &srv,
            &k.other,
            Method::GET,
            &format!("/schemas/ids/{id}"),
            None,
        )
        .await,
        "soft-deleted",
    );
    req(
        &srv,
        &k.consumer,
        Method::GET,
        &format!("/schemas/ids/{id}"),
        None,
    )
    .await
    .ok();
});

/// Confluent's Python deserializer with `basic.auth.user.info` (argv: url, user:secret,
/// file): prints the record, or `REFUSED <error>`.
const PY: &str = r#"
import json, sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationContext, MessageField
url, auth, path = sys.argv[1], sys.argv[2], sys.argv[3]
sr = SchemaRegistryClient({'url': url, 'basic.auth.user.info': auth})
de = AvroDeserializer(sr)
try:
    print(json.dumps(de(open(path, "rb").read(), SerializationContext("orders", MessageField.VALUE))))
except Exception as e:
    print("REFUSED " + str(e))
"#;

dual!(approved_consumers_deserialise_by_id, |srv| {
    let (k, _) = setup(&mut srv).await;
    let client = |key: &Key| {
        Arc::new(
            RegistryClient::new(
                RegistryConfig::new(srv.base.clone()).with_basic_auth(&key.id, &key.secret),
            )
            .unwrap(),
        )
    };
    // The owner's producer writes with the latest version of orders-value.
    let ser = AvroSerializer::new(
        client(&k.owner),
        None,
        SerdeConfig::value().use_latest(true).auto_register(false),
    );
    let record = Avro::Record(vec![("card".into(), Avro::String("4111".into()))]);
    let bytes = ser.serialize("orders", &record).await.expect("serialize");
    for who in [&k.consumer, &k.consumer_reader, &k.owner, &k.admin] {
        let de = AvroDeserializer::new(client(who), SerdeConfig::value());
        let read = de
            .deserialize("orders", &bytes)
            .await
            .expect("consumer reads");
        assert_eq!(read, record);
    }
    for who in [&k.other, &k.reader] {
        let de = AvroDeserializer::new(client(who), SerdeConfig::value());
        let err = de
            .deserialize("orders", &bytes)
            .await
            .expect_err("another team may not resolve the id");
        assert!(err.to_string().contains("40301"), "{err}");
    }

    // Confluent's Python client, when there is one.
    let Ok(python) = std::env::var("ACCORD_TEST_PYTHON") else {
        eprintln!("SKIPPED: Confluent Python part (set ACCORD_TEST_PYTHON)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("accord-rr-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("read.py");
    std::fs::write(&script, PY).unwrap();
    let data = dir.join("orders.bin");
    std::fs::write(&data, &bytes).unwrap();
    for (who, ok) in [
        (&k.consumer, true),
        (&k.consumer_reader, true),
        (&k.other, false),
        (&k.reader, false),
    ] {
        let (p, s, d, url) = (
            python.clone(),
            script.clone(),
            data.clone(),
            srv.base.clone(),
        );
        let auth = format!("{}:{}", who.id, who.secret);
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(p)
                .arg(s)
                .args([url.as_str(), auth.as_str(), d.to_str().unwrap()])
                .output()
                .expect("run python")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if ok {
            let v: Value = serde_json::from_str(&stdout).expect("python's JSON");
            assert_eq!(v, json!({"card": "4111"}));
        } else {
            assert!(
                stdout.starts_with("REFUSED") && stdout.contains("40301"),
                "{stdout}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
});
