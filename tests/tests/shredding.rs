//! Per-entity keys (`/v1/entity-keys`) and crypto-shredding (`/v1/streams/{s}/...shred`):
//! batch creation, lookups, first-writer-wins under races, shredding one entity or a
//! whole stream (rows gone, tombstones, audit by keyed hash, `keys.shredded` events),
//! and who may obtain key material with auth on.

mod common;

use base64::Engine;
use common::auth::{call, Key};
use common::{config, Srv, ORDERS_CONTRACT};
use reqwest::Method;
use serde_json::{json, Value};

const SECRET: &str = "shredding-test-secret";

fn kms_config(url: &str) -> accord_server::ServerConfig {
    let mut cfg = config(url);
    cfg.local_kms_secret = Some(SECRET.to_string());
    cfg
}

macro_rules! dual_kms {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else {
                    return;
                };
                #[allow(unused_mut)]
                let mut $srv = Srv::start(kms_config(&test_db.url)).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(common::Db::Postgres).await
            }
        }
    };
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn apply_orders(srv: &Srv, auth: Option<&Key>) {
    apply_contract(srv, auth, ORDERS_CONTRACT).await
}

async fn apply_contract(srv: &Srv, auth: Option<&Key>, yaml: &str) {
    let mut req = srv
        .http
        .put(format!("{}/v1/streams/orders/contract", srv.base))
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string());
    if let Some(k) = auth {
        req = req.header("Authorization", k.basic());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

fn store(srv: &Srv) -> &accord_server::storage::Store {
    &srv.server.as_ref().unwrap().state.registry.store
}

async fn count(srv: &Srv, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(store(srv).reader())
        .await
        .unwrap()
}

const EK: &str = "/v1/entity-keys";

dual_kms!(entity_keys_batch_lookup_and_races, |srv| {
    apply_orders(&srv, None).await;
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await
    .ok();
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "client", "kmsType": "local-kms", "kmsKeyId": "m"}),
    )
    .await
    .ok();

    // 500 entities in one request.
    let entities: Vec<Value> = (0..500)
        .map(|i| json!({"entity": format!("u{i}")}))
        .collect();
    let r = srv
        .post(
            &format!("{EK}/shared/orders-value"),
            json!({"create": true, "entities": entities}),
        )
        .await
        .ok();
    let keys = r["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 500);
    assert_eq!(r["missing"], json!([]));
    assert_eq!(r["shredded"], json!([]));
    assert_eq!(keys[7]["entity"], "u7");
    assert_eq!(keys[7]["version"], 1);
    assert_eq!(keys[7]["algorithm"], "AES256_GCM");
    let km = base64::engine::general_purpose::STANDARD
        .decode(keys[7]["keyMaterial"].as_str().unwrap())
        .unwrap();
    assert_eq!((km.len(), km[0], km[1]), (34, 0x1A, 0x20));
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE subject = $1",
            "orders-value"
        )
        .await,
        500
    );
    // The entity is never stored in clear.
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE entity_id = $1",
            "u7"
        )
        .await,
        0
    );

    // Lookup: known keys as stored, unknown ones missing, nothing created.
    let r = srv
        .post(
            &format!("{EK}/shared/orders-value"),
            json!({"create": false, "entities": [{"entity": "u7"}, {"entity": "u999"}, {"entity": "u7"}]}),
        )
        .await
        .ok();
    assert_eq!(r["keys"].as_array().unwrap().len(), 1);
    assert_eq!(r["keys"][0]["keyMaterial"], keys[7]["keyMaterial"]);
    assert_eq!(
        r["keys"][0]["encryptedKeyMaterial"],
        keys[7]["encryptedKeyMaterial"]
    );
    assert_eq!(r["missing"], json!(["u999"]));
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE subject = $1",
            "orders-value"
        )
        .await,
        500
    );

    // Non-shared KEK: a new entity needs client-wrapped material; first writer wins.
    let msg = srv
        .post(
            &format!("{EK}/client/orders-value"),
            json!({"create": true, "entities": [{"entity": "a", "encryptedKeyMaterial": b64(&[1; 62])}, {"entity": "b"}]}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("entities[1]"), "{msg}");
    let first = srv
        .post(
            &format!("{EK}/client/orders-value"),
            json!({"create": true, "entities": [{"entity": "a", "encryptedKeyMaterial": b64(&[1; 62])}]}),
        )
        .await
        .ok();
    assert!(first["keys"][0].get("keyMaterial").is_none());
    let second = srv
        .post(
            &format!("{EK}/client/orders-value"),
            json!({"create": true, "entities": [{"entity": "a", "encryptedKeyMaterial": b64(&[2; 62])}]}),
        )
        .await
        .ok();
    assert_eq!(second["keys"][0]["encryptedKeyMaterial"], b64(&[1; 62]));

    // Race: concurrent creates of the same entities return the same keys.
    let body = json!({"create": true, "entities": [{"entity": "race-1"}, {"entity": "race-2"}]});
    let path = format!("{EK}/shared/orders-value");
    let (x, y) = tokio::join!(srv.post(&path, body.clone()), srv.post(&path, body.clone()));
    let (x, y) = (x.ok(), y.ok());
    assert_eq!(x["keys"], y["keys"]);
    assert_eq!(x["keys"].as_array().unwrap().len(), 2);

    // Bad input: 4xx naming what and where.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"entity": format!("e{i}")}))
        .collect();
    srv.post(&path, json!({"create": true, "entities": many}))
        .await
        .assert_error(422, 42200);
    let msg = srv
        .post(
            &path,
            json!({"entities": [{"entity": "ok"}, {"entity": ""}]}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("entities[1].entity"), "{msg}");
    let msg = srv
        .post(
            &path,
            json!({"create": true, "entities": [{"entity": "x", "encryptedKeyMaterial": "%%%"}]}),
        )
        .await
        .assert_error(422, 42271);
    assert!(msg.contains("entities[0].encryptedKeyMaterial"), "{msg}");
    srv.post(&path, json!({"algorithm": "DES", "entities": []}))
        .await
        .assert_error(422, 42271);
    srv.post(&path, json!({"create": true}))
        .await
        .assert_error(400, 400);
    srv.post(&format!("{EK}/nokek/orders-value"), json!({"entities": []}))
        .await
        .assert_error(404, 40470);
    srv.raw(Method::POST, &path, Some(("application/json", " ".into())))
        .await
        .assert_error(422, 422);
});

dual_kms!(shred_entity_then_stream, |srv| {
    apply_orders(&srv, None).await;
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await
    .ok();
    let both =
        json!({"create": true, "entities": [{"entity": "alice@example.com"}, {"entity": "bob"}]});
    for s in ["orders-key", "orders-value"] {
        srv.post(&format!("{EK}/shared/{s}"), both.clone())
            .await
            .ok();
    }
    let bob_before = srv
        .post(
            &format!("{EK}/shared/orders-value"),
            json!({"entities": [{"entity": "bob"}]}),
        )
        .await
        .ok();
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE kek_name = $1",
            "shared"
        )
        .await,
        4
    );

    let alice_material = srv
        .post(
            &format!("{EK}/shared/orders-value"),
            json!({"entities": [{"entity": "alice@example.com"}]}),
        )
        .await
        .ok()["keys"][0]["encryptedKeyMaterial"]
        .as_str()
        .unwrap()
        .to_string();
    // Shred alice (the entity percent-encoded in the path).
    let r = srv
        .post(
            "/v1/streams/orders/entities/alice%40example.com/shred",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(r["stream"], "orders");
    assert_eq!(r["scope"], "entity");
    assert_eq!(r["deksDestroyed"], 2);
    assert_eq!(r["alreadyShredded"], false);
    assert!(r["shreddedAt"].as_i64().unwrap() > 0);
    let id = r["entityId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    // Alice's rows are gone, Bob's are kept; a tombstone remains.
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE entity_id = $1",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE kek_name = $1",
            "shared"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM shredded WHERE entity_id = $1",
            &id
        )
        .await,
        1
    );
    // SQLite: the wrapped material is not left in the database file or its WAL.
    let url = common::auth::db_url(&srv);
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        for file in [path.to_string(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let found = bytes
                    .windows(alice_material.len())
                    .any(|w| w == alice_material.as_bytes());
                assert!(!found, "alice's wrapped key is still in {file}");
            }
        }
    }
    // The audit entry names the keyed hash, never the entity.
    let targets: Vec<String> =
        sqlx::query_scalar("SELECT target FROM audit_log WHERE action = 'entity.shred'")
            .fetch_all(store(&srv).reader())
            .await
            .unwrap();
    assert_eq!(targets, [format!("stream:orders/entity:{id}")]);
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM audit_log WHERE target LIKE $1",
            "%alice%"
        )
        .await,
        0
    );
    // The event.
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT event_type, payload FROM outbox WHERE event_type = 'keys.shredded'")
            .fetch_all(store(&srv).reader())
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    let payload: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(payload["entityId"], id.as_str());
    assert!(!events[0].1.contains("alice"));

    // Afterwards: alice is listed as shredded and never re-created; bob is unchanged.
    let r = srv
        .post(&format!("{EK}/shared/orders-value"), both.clone())
        .await
        .ok();
    assert_eq!(r["shredded"], json!(["alice@example.com"]));
    assert_eq!(r["keys"].as_array().unwrap().len(), 1);
    assert_eq!(r["keys"][0], bob_before["keys"][0]);
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM entity_deks WHERE entity_id = $1",
            &id
        )
        .await,
        0
    );

    // Idempotent.
    let again = srv
        .post(
            "/v1/streams/orders/entities/alice%40example.com/shred",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(again["alreadyShredded"], true);
    assert_eq!(again["deksDestroyed"], 0);
    assert_eq!(again["shreddedAt"], r_shredded_at(&srv, &id).await);
    // Nothing changed: no second audit entry or event.
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "entity.shred"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM outbox WHERE event_type = $1",
            "keys.shredded"
        )
        .await,
        1
    );
    srv.post("/v1/streams/nope/entities/a/shred", json!({}))
        .await
        .assert_error(404, 40420);

    // Whole stream: Confluent DEKs and entity keys of its subjects.
    srv.post("/dek-registry/v1/keks/shared/deks/orders-value", json!({}))
        .await
        .ok();
    srv.post(
        "/dek-registry/v1/keks/shared/deks/unrelated-value",
        json!({}),
    )
    .await
    .ok();
    let r = srv.post("/v1/streams/orders/shred", json!({})).await.ok();
    assert_eq!(r["scope"], "stream");
    assert!(r.get("entityId").is_none());
    assert_eq!(r["deksDestroyed"], 3, "bob x2 + one Confluent DEK");
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM deks WHERE subject = $1",
            "orders-value"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &srv,
            "SELECT COUNT(*) FROM deks WHERE subject = $1",
            "unrelated-value"
        )
        .await,
        1
    );
    let msg = srv
        .get("/dek-registry/v1/keks/shared/deks/orders-value")
        .await
        .assert_error(410, 41070);
    assert!(msg.contains("shredded"), "{msg}");
    srv.get("/dek-registry/v1/keks/shared/deks/orders-value/versions/latest")
        .await
        .assert_error(410, 41070);
    srv.post("/dek-registry/v1/keks/shared/deks/orders-value", json!({}))
        .await
        .assert_error(410, 41070);
    let r = srv
        .post(&format!("{EK}/shared/orders-key"), both.clone())
        .await
        .ok();
    assert_eq!(r["shredded"], json!(["alice@example.com", "bob"]));
    assert_eq!(r["keys"], json!([]));
    assert_eq!(
        srv.post("/v1/streams/orders/shred", json!({})).await.ok()["alreadyShredded"],
        true
    );
    // The unrelated subject still works.
    srv.get("/dek-registry/v1/keks/shared/deks/unrelated-value")
        .await
        .ok();
});

async fn r_shredded_at(srv: &Srv, id: &str) -> Value {
    let at: i64 = sqlx::query_scalar("SELECT shredded_ms FROM shredded WHERE entity_id = $1")
        .bind(id)
        .fetch_one(store(srv).reader())
        .await
        .unwrap();
    json!(at)
}

dual_kms!(key_material_only_for_owner_and_consumers, |srv| {
    // Restart with auth on (and the KMS), with an admin bootstrapped offline.
    let url = common::auth::db_url(&srv);
    srv.stop().await;
    let st = accord_server::storage::Store::connect(&url).await.unwrap();
    let key = accord_server::auth::bootstrap_admin(&st, "admin", false)
        .await
        .unwrap()
        .unwrap();
    st.close().await;
    let admin = Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    };
    let mut cfg = kms_config(&url);
    cfg.auth = true;
    srv = Srv::start(cfg).await;
    let who = |name: &str, role: &str, team: &str| json!({"name": name, "role": role, "kind": "service", "team": team});
    let owner =
        common::auth::principal_with_key(&srv, &admin, who("checkout-svc", "member", "checkout"))
            .await;
    let outsider = common::auth::principal_with_key(
        &srv,
        &admin,
        who("payments-reader", "reader", "payments"),
    )
    .await;
    let fraud =
        common::auth::principal_with_key(&srv, &admin, who("fraud-svc", "member", "fraud")).await;
    let fraud_reader =
        common::auth::principal_with_key(&srv, &admin, who("fraud-reader", "reader", "fraud"))
            .await;
    // A PII stream: consumers need the owner's approval.
    let pii = ORDERS_CONTRACT.replace("status: active", "status: active\ntags: [PII]");
    apply_contract(&srv, Some(&admin), &pii).await;
    let req = |k: &Key, m: Method, p: &str, b: Option<Value>| {
        let k = k.basic();
        let p = p.to_string();
        let srv = &srv;
        async move { call(srv, m, &p, Some(&k), b).await }
    };
    req(
        &admin,
        Method::POST,
        "/dek-registry/v1/keks",
        Some(json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true})),
    )
    .await
    .ok();
    // Another team's member may not create keys on the stream's subjects.
    req(
        &fraud,
        Method::POST,
        "/dek-registry/v1/keks/shared/deks/orders-value",
        Some(json!({})),
    )
    .await
    .assert_error(403, 40301);
    // The owner creates (and obtains) the key.
    let d = req(
        &owner,
        Method::POST,
        "/dek-registry/v1/keks/shared/deks/orders-value",
        Some(json!({})),
    )
    .await
    .ok();
    assert!(d["keyMaterial"].is_string());
    let dek = "/dek-registry/v1/keks/shared/deks/orders-value";

    // A reader of another team: 403, audited.
    req(&outsider, Method::GET, dek, None)
        .await
        .assert_error(403, 40301);
    let eks = "/v1/entity-keys/shared/orders-value";
    req(
        &owner,
        Method::POST,
        eks,
        Some(json!({"create": true, "entities": [{"entity": "u1"}]})),
    )
    .await
    .ok();
    req(
        &outsider,
        Method::POST,
        eks,
        Some(json!({"create": false, "entities": [{"entity": "u1"}]})),
    )
    .await
    .assert_error(403, 40301);
    req(
        &outsider,
        Method::POST,
        eks,
        Some(json!({"create": true, "entities": [{"entity": "u2"}]})),
    )
    .await
    .assert_error(403, 40301);
    let denied: Vec<(String, String)> = sqlx::query_as(
        "SELECT principal, target FROM audit_log WHERE action = 'keys.release.denied' ORDER BY seq",
    )
    .fetch_all(store(&srv).reader())
    .await
    .unwrap();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(
        denied[0],
        (
            "payments-reader".to_string(),
            "dek:shared/orders-value/AES256_GCM/1".to_string()
        )
    );
    // Shredding: owner or admin only.
    req(
        &outsider,
        Method::POST,
        "/v1/streams/orders/entities/u1/shred",
        None,
    )
    .await
    .assert_error(403, 40301);
    req(
        &fraud,
        Method::POST,
        "/v1/streams/orders/entities/u1/shred",
        None,
    )
    .await
    .assert_error(403, 40301);

    // Fraud registers as a consumer of orders: pending until the owner approves, then
    // its members obtain the key.
    req(&fraud, Method::GET, dek, None)
        .await
        .assert_error(403, 40301);
    let c = req(
        &fraud,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "fraud-svc", "team": "fraud"})),
    )
    .await;
    assert!(c.status.is_success(), "{}", c.text);
    assert_eq!(c.json()["status"], "pending");
    req(&fraud_reader, Method::GET, dek, None)
        .await
        .assert_error(403, 40301);
    req(
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/fraud-svc/approve",
        None,
    )
    .await
    .ok();
    let got = req(&fraud_reader, Method::GET, dek, None).await.ok();
    assert_eq!(got["keyMaterial"], d["keyMaterial"]);
    let looked = req(
        &fraud_reader,
        Method::POST,
        eks,
        Some(json!({"entities": [{"entity": "u1"}]})),
    )
    .await
    .ok();
    assert!(looked["keys"][0]["keyMaterial"].is_string());
    let released: Vec<String> = sqlx::query_scalar(
        "SELECT principal FROM audit_log WHERE action = 'keys.release' ORDER BY seq",
    )
    .fetch_all(store(&srv).reader())
    .await
    .unwrap();
    assert!(
        released.contains(&"fraud-reader".to_string()),
        "{released:?}"
    );
    assert!(
        released.contains(&"checkout-svc".to_string()),
        "{released:?}"
    );

    // The owner shreds.
    let r = req(
        &owner,
        Method::POST,
        "/v1/streams/orders/entities/u1/shred",
        None,
    )
    .await
    .ok();
    assert_eq!(r["deksDestroyed"], 1);
    let who: Vec<String> =
        sqlx::query_scalar("SELECT principal FROM audit_log WHERE action = 'entity.shred'")
            .fetch_all(store(&srv).reader())
            .await
            .unwrap();
    assert_eq!(who, ["checkout-svc"]);
});

// A contract's encryption policy reaches the registered schema as an ENCRYPT rule,
// which is what the serializers read.
dual_kms!(encryption_policy_is_registered_as_an_encrypt_rule, |srv| {
    let contract = ORDERS_CONTRACT.to_string()
        + "  - property: accord.encryption\n    value: { tags: [PII], keyScope: entity, entityKeyField: user_id }\n";
    let resp = srv
        .http
        .put(format!("{}/v1/streams/orders/contract", srv.base))
        .header("Content-Type", "application/yaml")
        .body(contract)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let schema = r#"{"type":"record","name":"Order","fields":[{"name":"user_id","type":"string"},{"name":"email","type":"string","confluent:tags":["PII"]}]}"#;
    srv.register("orders-value", schema, json!({})).await;
    let v = srv.get("/subjects/orders-value/versions/latest").await.ok();
    let rules = v["ruleSet"]["domainRules"].as_array().expect("domainRules");
    let enc = rules
        .iter()
        .find(|r| r["name"] == "accord_encrypt")
        .expect("accord_encrypt");
    assert_eq!(enc["type"], "ENCRYPT");
    assert_eq!(enc["kind"], "TRANSFORM");
    assert_eq!(enc["mode"], "WRITEREAD");
    assert_eq!(enc["tags"], json!(["PII"]));
    assert_eq!(enc["params"]["encrypt.kek.name"], "accord-default");
    assert_eq!(enc["params"]["accord.encrypt.key.scope"], "entity");
    assert_eq!(enc["params"]["accord.encrypt.entity.field"], "user_id");
});

// A DEK created while its stream is being shredded is either destroyed by the shred or
// refused (410): the tombstone is checked again inside the create's transaction.
dual_kms!(dek_create_racing_a_stream_shred, |srv| {
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await
    .ok();
    for i in 0..25 {
        let name = format!("race{i}");
        let contract = ORDERS_CONTRACT
            .replace("{ name: orders }", &format!("{{ name: {name} }}"))
            .replace("id: orders-contract", &format!("id: {name}-contract"));
        let resp = srv
            .http
            .put(format!("{}/v1/streams/{name}/contract", srv.base))
            .header("Content-Type", "application/yaml")
            .body(contract)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let subject: String =
            sqlx::query_scalar("SELECT value_subject FROM streams WHERE name = $1")
                .bind(&name)
                .fetch_one(store(&srv).reader())
                .await
                .unwrap();
        let dek = format!("/dek-registry/v1/keks/shared/deks/{subject}");
        let shred = format!("/v1/streams/{name}/shred");
        let (created, shredded) =
            tokio::join!(srv.post(&dek, json!({})), srv.post(&shred, json!({})));
        shredded.ok();
        // Before or after the shred: created (then destroyed by it), or refused with 410.
        assert!(
            created.status.is_success() || created.status.as_u16() == 410,
            "{}",
            created.text
        );
        assert_eq!(
            count(
                &srv,
                "SELECT COUNT(*) FROM deks WHERE subject = $1",
                &subject
            )
            .await,
            0,
            "a DEK of shredded stream {name} survived (create: {})",
            created.status
        );
    }
});
