//! Issue 13 (access model), with auth on: entity-key lookups need what key release needs
//! whatever the KEK (no oracle on which entities exist or were shredded); webhook
//! subscriptions belong to their team (others neither list, see, delete nor read the
//! deliveries of them; delivery errors are generic but to admins); and an entity is
//! shredded with the entity in the request body, not the URL.

mod common;

use common::auth::{call, principal_with_key, Key};
use common::{config, Srv, ORDERS_CONTRACT};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn kms_config(url: &str) -> accord_server::ServerConfig {
    accord_server::ServerConfig {
        local_kms_secret: Some("access-keys-webhooks-secret".to_string()),
        webhook_backoff_base: Duration::from_millis(100),
        webhook_poll: Duration::from_millis(50),
        ..config(url)
    }
}

macro_rules! dual_auth {
    ($name:ident, |$srv:ident, $admin:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else {
                    return;
                };
                let mut $srv = Srv::start(kms_config(&test_db.url)).await;
                let $admin = restart_with_auth(&mut $srv).await;
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

/// Restarts `srv` with auth on (and [`kms_config`]), an admin bootstrapped offline.
async fn restart_with_auth(srv: &mut Srv) -> Key {
    let url = common::auth::db_url(srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url)
        .await
        .expect("store");
    let key = accord_server::auth::bootstrap_admin(&store, "admin", false)
        .await
        .expect("bootstrap")
        .expect("no admin yet");
    store.close().await;
    let mut cfg = kms_config(&url);
    cfg.auth = true;
    *srv = Srv::start(cfg).await;
    Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    }
}

fn store(srv: &Srv) -> &accord_server::storage::Store {
    &srv.server.as_ref().expect("running").state.registry.store
}

/// `(principal, target)` of the audit entries with `action`, oldest first.
async fn audited(srv: &Srv, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT principal, target FROM audit_log WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(store(srv).reader())
        .await
        .expect("audit")
}

async fn req(srv: &Srv, k: &Key, m: Method, path: &str, body: Option<Value>) -> common::Resp {
    call(srv, m, path, Some(&k.basic()), body).await
}

fn who(name: &str, role: &str, team: &str) -> Value {
    json!({"name": name, "role": role, "kind": "service", "team": team})
}

// ---- entity keys: no oracle ----

dual_auth!(entity_key_lookups_need_release_permission, |srv, admin| {
    let owner = principal_with_key(&srv, &admin, who("checkout-svc", "member", "checkout")).await;
    let outsider =
        principal_with_key(&srv, &admin, who("payments-reader", "reader", "payments")).await;
    let writer = principal_with_key(&srv, &admin, who("payments-svc", "member", "payments")).await;
    let fraud = principal_with_key(&srv, &admin, who("fraud-svc", "member", "fraud")).await;
    let fraud_reader =
        principal_with_key(&srv, &admin, who("fraud-reader", "reader", "fraud")).await;
    let pii = ORDERS_CONTRACT.replace("status: active", "status: active\ntags: [PII]");
    let applied = srv
        .http
        .put(format!("{}/v1/streams/orders/contract", srv.base))
        .header("Content-Type", "application/yaml")
        .header("Authorization", admin.basic())
        .body(pii)
        .send()
        .await
        .expect("sent");
    assert_eq!(applied.status(), 200);
    // A non-shared KEK: the server holds wrapped material only, yet which entities have
    // keys, and which were shredded, is no business of other teams.
    req(
        &srv,
        &admin,
        Method::POST,
        "/dek-registry/v1/keks",
        Some(json!({"name": "client", "kmsType": "local-kms", "kmsKeyId": "m"})),
    )
    .await
    .ok();
    let eks = "/v1/entity-keys/client/orders-value";
    let material = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
    req(
        &srv,
        &owner,
        Method::POST,
        eks,
        Some(json!({"create": true, "entities": [
            {"entity": "alice", "encryptedKeyMaterial": material},
            {"entity": "bob", "encryptedKeyMaterial": material}]})),
    )
    .await
    .ok();
    req(
        &srv,
        &owner,
        Method::POST,
        // The path form, so this test checks entity keys alone.
        "/v1/streams/orders/entities/bob/shred",
        Some(json!({})),
    )
    .await
    .ok();
    let lookup = json!({"create": false, "entities": [
        {"entity": "alice"}, {"entity": "bob"}, {"entity": "carol"}]});

    // Another team's reader, and another team's member (even asking to create): 403,
    // each refusal audited like a refused key release.
    let before = audited(&srv, "keys.release.denied").await.len();
    let msg = req(&srv, &outsider, Method::POST, eks, Some(lookup.clone()))
        .await
        .assert_error(403, 40301);
    assert!(!msg.contains("alice") && !msg.contains("bob"), "{msg}");
    let create_existing = json!({"create": true, "entities": [
        {"entity": "alice", "encryptedKeyMaterial": material}]});
    req(&srv, &writer, Method::POST, eks, Some(create_existing))
        .await
        .assert_error(403, 40301);
    let denied = audited(&srv, "keys.release.denied").await;
    assert_eq!(denied.len(), before + 2, "{denied:?}");
    assert_eq!(
        denied[before],
        (
            "payments-reader".to_string(),
            "entity-keys:client/orders-value".to_string()
        )
    );
    assert_eq!(denied[before + 1].0, "payments-svc");

    // The owning team and admins look keys up.
    for k in [&owner, &admin] {
        let r = req(&srv, k, Method::POST, eks, Some(lookup.clone()))
            .await
            .ok();
        assert_eq!(r["keys"][0]["entity"], "alice", "{r}");
        assert_eq!(r["keys"][0]["encryptedKeyMaterial"], material, "{r}");
        assert_eq!(r["shredded"], json!(["bob"]), "{r}");
        assert_eq!(r["missing"], json!(["carol"]), "{r}");
    }

    // A team that is only a pending consumer: refused; once approved, its reader looks up.
    let c = req(
        &srv,
        &fraud,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "fraud-svc", "team": "fraud"})),
    )
    .await;
    assert!(c.status.is_success(), "{}", c.text);
    req(&srv, &fraud_reader, Method::POST, eks, Some(lookup.clone()))
        .await
        .assert_error(403, 40301);
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/fraud-svc/approve",
        None,
    )
    .await
    .ok();
    let r = req(&srv, &fraud_reader, Method::POST, eks, Some(lookup))
        .await
        .ok();
    assert_eq!(r["keys"][0]["entity"], "alice", "{r}");
    assert_eq!(r["shredded"], json!(["bob"]), "{r}");
});

// ---- webhooks belong to their team ----

/// A port on loopback that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

dual_auth!(webhooks_belong_to_their_team, |srv, admin| {
    let creator = principal_with_key(&srv, &admin, who("orders-svc", "member", "orders")).await;
    let teammate = principal_with_key(&srv, &admin, who("olga", "member", "orders")).await;
    let other = principal_with_key(&srv, &admin, who("payments-svc", "member", "payments")).await;
    let reader = principal_with_key(
        &srv,
        &admin,
        json!({"name": "rita", "role": "reader", "kind": "user"}),
    )
    .await;
    // The URL carries a secret, as real ones often do; nothing listens there.
    let url = format!(
        "http://hook:pa55@127.0.0.1:{}/hooks/T0KEN?sig=s3cret",
        closed_port()
    );
    let created = req(
        &srv,
        &creator,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": url, "eventTypes": ["schema.registered"]})),
    )
    .await
    .ok();
    assert_eq!(created["ownerTeam"], "orders");
    let id = created["id"].as_str().expect("id").to_string();
    let one = format!("/v1/webhooks/{id}");
    let dels = format!("/v1/webhooks/{id}/deliveries");

    // Other teams and team-less readers neither list nor see it; nor read its
    // deliveries or delete it (403, audited).
    for k in [&other, &reader] {
        let listed = req(&srv, k, Method::GET, "/v1/webhooks", None).await.ok();
        assert_eq!(listed, json!([]), "{listed}");
    }
    let msg = req(&srv, &other, Method::GET, &one, None)
        .await
        .assert_error(403, 40301);
    assert!(!msg.contains("s3cret") && !msg.contains("pa55"), "{msg}");
    req(&srv, &reader, Method::GET, &one, None)
        .await
        .assert_error(403, 40301);
    req(&srv, &other, Method::GET, &dels, None)
        .await
        .assert_error(403, 40301);
    req(&srv, &other, Method::DELETE, &one, None)
        .await
        .assert_error(403, 40301);
    let target = format!("webhook:{id}");
    for action in [
        "webhook.get.denied",
        "webhook.deliveries.denied",
        "webhook.delete.denied",
    ] {
        let denied = audited(&srv, action).await;
        assert!(
            denied.contains(&("payments-svc".to_string(), target.clone())),
            "{action}: {denied:?}"
        );
    }
    assert_eq!(audited(&srv, "webhook.get.denied").await.len(), 2);

    // The creator's team and admins list and see it, URL in full.
    for k in [&creator, &teammate, &admin] {
        let listed = req(&srv, k, Method::GET, "/v1/webhooks", None).await.ok();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed[0]["url"], url.as_str());
        let got = req(&srv, k, Method::GET, &one, None).await.ok();
        assert_eq!(got["url"], url.as_str());
    }

    // A failed delivery: the admin reads the cause; the owning team only that the
    // connection failed (no resolver or socket detail).
    req(
        &srv,
        &admin,
        Method::POST,
        "/subjects/users-value/versions",
        Some(json!({"schema": common::USER_V1})),
    )
    .await
    .ok();
    let mut full = String::new();
    for _ in 0..200 {
        let d = req(&srv, &admin, Method::GET, &dels, None).await.ok();
        if let Some(e) = d[0]["lastError"].as_str() {
            full = e.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(full.starts_with("connection failed: "), "{full}");
    let d = req(&srv, &teammate, Method::GET, &dels, None).await.ok();
    assert_eq!(d[0]["lastError"], "connection failed", "{d}");

    // The creator's teammate may delete it.
    req(&srv, &teammate, Method::DELETE, &one, None).await.ok();
    req(&srv, &admin, Method::GET, &one, None)
        .await
        .assert_error(404, 40430);
});

// ---- the entity of a shred travels in the body ----

dual_auth!(shred_takes_the_entity_in_the_body, |srv, admin| {
    let applied = srv
        .http
        .put(format!("{}/v1/streams/orders/contract", srv.base))
        .header("Content-Type", "application/yaml")
        .header("Authorization", admin.basic())
        .body(ORDERS_CONTRACT)
        .send()
        .await
        .expect("sent");
    assert_eq!(applied.status(), 200);
    let owner = principal_with_key(&srv, &admin, who("checkout-svc", "member", "checkout")).await;
    let outsider =
        principal_with_key(&srv, &admin, who("payments-svc", "member", "payments")).await;
    let path = "/v1/streams/orders/entities/shred";
    let entity = json!({"entity": "alice@example.com"});
    req(&srv, &outsider, Method::POST, path, Some(entity.clone()))
        .await
        .assert_error(403, 40301);
    let r = req(&srv, &owner, Method::POST, path, Some(entity.clone()))
        .await
        .ok();
    assert_eq!(r["scope"], "entity");
    assert_eq!(r["alreadyShredded"], false);
    let id = r["entityId"].as_str().expect("entityId").to_string();
    assert_eq!(id.len(), 64, "a keyed hash: {id}");
    // The deprecated path form names the same entity.
    let again = req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/entities/alice%40example.com/shred",
        None,
    )
    .await
    .ok();
    assert_eq!(again["entityId"], id.as_str());
    assert_eq!(again["alreadyShredded"], true);
    // No entity, an empty one, or another field: refused.
    req(&srv, &owner, Method::POST, path, Some(json!({})))
        .await
        .assert_error(400, 400);
    req(
        &srv,
        &owner,
        Method::POST,
        path,
        Some(json!({"entity": ""})),
    )
    .await
    .assert_error(422, 422);
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/nope/entities/shred",
        Some(entity),
    )
    .await
    .assert_error(404, 40420);
    let shreds = audited(&srv, "entity.shred").await;
    assert_eq!(
        shreds,
        [(
            "checkout-svc".to_string(),
            format!("stream:orders/entity:{id}")
        )]
    );
});
