//! Observed usage (issue 18), on real servers with `--auth`, on SQLite and PostgreSQL:
//! principals read through accord-client and through raw HTTP; the counts appear after
//! the flush interval, per principal and per version; an undeclared reader is flagged
//! (stream usage, `consumers?include=observed`) and announced once as the webhook event
//! `usage.undeclared-consumer`; refused reads of a read-restricted stream show as
//! attempts; a soft delete of a recently read version is refused without `force=true`
//! and allowed with it; recording off records nothing (and guards nothing); two nodes on
//! one PostgreSQL add up, and a stopping node flushes what it counted.

mod common;

use accord_client::registry::{RegistryClient, RegistryConfig};
use axum::extract::State as AxState;
use axum::routing::post;
use common::auth::{call, principal_with_key, Key};
use common::{config, Srv};
use reqwest::Method;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

const V1: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"}]}"#;
/// The restricted stream's schema (an id of its own).
const VAULT: &str = r#"{"type":"record","name":"Vault","namespace":"com.acme","fields":[{"name":"card","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}"#;

/// Restarts `srv` on its database with auth on, usage flushed every 200 ms (or as
/// `usage` says) and webhooks polled often; returns the admin key.
async fn restart(srv: &mut Srv, usage: accord_server::usage::UsageConfig) -> Key {
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
    *srv = Srv::start(node_config(&url, usage)).await;
    Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    }
}

fn node_config(url: &str, usage: accord_server::usage::UsageConfig) -> accord_server::ServerConfig {
    let mut cfg = config(url);
    cfg.auth = true;
    cfg.usage = usage;
    cfg.webhook_poll = Duration::from_millis(50);
    cfg
}

fn fast() -> accord_server::usage::UsageConfig {
    accord_server::usage::UsageConfig {
        flush: Duration::from_millis(200),
        ..Default::default()
    }
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

fn member(name: &str, team: &str) -> Value {
    json!({"name": name, "role": "member", "kind": "service", "team": team})
}

async fn register(srv: &Srv, who: &Key, subject: &str, schema: &str) -> i64 {
    req(
        srv,
        who,
        Method::POST,
        &format!("/subjects/{subject}/versions"),
        Some(json!({ "schema": schema })),
    )
    .await
    .ok()["id"]
        .as_i64()
        .expect("id")
}

/// Polls `path` (as `who`) until `f` holds on its JSON (10 s at most).
async fn until(srv: &Srv, who: &Key, path: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = req(srv, who, Method::GET, path, None).await.ok();
        if f(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}: {last}");
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e[key] == name)
}

/// Events a webhook receiver got.
type Inbox = Arc<Mutex<Vec<Value>>>;

async fn receiver(inbox: Inbox) -> String {
    async fn receive(
        AxState(inbox): AxState<Inbox>,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        inbox
            .lock()
            .unwrap()
            .push(serde_json::from_slice(&body).expect("event JSON"));
        axum::http::StatusCode::NO_CONTENT
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(inbox);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/hook")
}

/// A webhook subscription (as `admin`) to `event_type`, delivered to a receiver of
/// this test; its inbox.
async fn subscribe(srv: &Srv, admin: &Key, event_type: &str) -> Inbox {
    let inbox: Inbox = Arc::default();
    let url = receiver(inbox.clone()).await;
    req(
        srv,
        admin,
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": url, "secret": "s3cr3t-s3cr3t-s3cr3t", "eventTypes": [event_type]})),
    )
    .await
    .ok();
    inbox
}

dual!(observed_usage, |srv| {
    let admin = restart(&mut srv, fast()).await;
    let owner = principal_with_key(&srv, &admin, member("checkout-svc", "checkout")).await;
    let bi = principal_with_key(&srv, &admin, member("bi-svc", "analytics")).await;
    let fraud = principal_with_key(&srv, &admin, member("fraud-svc", "fraud")).await;
    apply(&srv, &owner, "orders", CONTRACT).await;
    let restricted =
        format!("{CONTRACT}  - property: accord.access\n    value: {{ read: restricted }}\n");
    apply(&srv, &owner, "vault", &restricted).await;
    let v1 = register(&srv, &owner, "orders-value", V1).await;
    let v2 = register(&srv, &owner, "orders-value", V2).await;
    register(&srv, &owner, "vault-value", VAULT).await;
    // bi-svc is a declared consumer (its team's); fraud-svc is not.
    req(
        &srv,
        &bi,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "bi-svc", "team": "analytics"})),
    )
    .await
    .ok();
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/bi-svc/approve",
        None,
    )
    .await;
    let inbox = subscribe(&srv, &admin, "usage.undeclared-consumer").await;

    // bi-svc through accord-client: v1 by id and the latest version.
    let client = RegistryClient::new(
        RegistryConfig::new(srv.base.clone()).with_basic_auth(&bi.id, &bi.secret),
    )
    .unwrap();
    client.schema_by_id(v1 as i32).await.expect("by id");
    client.latest("orders-value").await.expect("latest");
    // fraud-svc through raw HTTP: the latest twice, v1 by id once.
    for path in [
        "/subjects/orders-value/versions/latest",
        "/subjects/orders-value/versions/latest",
        &format!("/schemas/ids/{v1}"),
    ] {
        req(&srv, &fraud, Method::GET, path, None).await.ok();
    }
    // ... and the restricted stream: refused, counted as an attempt.
    req(
        &srv,
        &fraud,
        Method::GET,
        "/subjects/vault-value/versions/1",
        None,
    )
    .await
    .assert_error(403, 40301);

    let usage = until(
        &srv,
        &owner,
        "/v1/streams/orders/usage",
        "both readers, with every read counted",
        // Each read is counted when its flush lands: wait for all of them, not only for
        // both names (fraud-svc's last read can land a flush after its first).
        |u| {
            find(&u["readers"], "principal", "bi-svc").is_some_and(|r| r["requests"] == 2)
                && find(&u["readers"], "principal", "fraud-svc").is_some_and(|r| r["requests"] == 3)
        },
    )
    .await;
    let fraud_seen = find(&usage["readers"], "principal", "fraud-svc").unwrap();
    assert_eq!(fraud_seen["requests"], 3, "{usage}");
    assert_eq!(fraud_seen["declared"], false, "{usage}");
    assert_eq!(fraud_seen["team"], "fraud", "{usage}");
    let bi_seen = find(&usage["readers"], "principal", "bi-svc").unwrap();
    assert_eq!(bi_seen["requests"], 2, "{usage}");
    assert_eq!(bi_seen["declared"], true, "{usage}");
    assert_eq!(usage["undeclared"], json!(["fraud-svc"]), "{usage}");
    // The owner's registrations.
    let writer = find(&usage["writers"], "principal", "checkout-svc").expect("writer");
    assert_eq!(writer["requests"], 2, "{usage}");
    // Per version: v2 read as the latest (fraud twice, bi once), v1 by id (once each).
    let version = |n: i64| {
        usage["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["subject"] == "orders-value" && v["version"] == n)
            .unwrap_or_else(|| panic!("version {n}: {usage}"))
            .clone()
    };
    let (u1, u2) = (version(1), version(2));
    assert_eq!((u1["id"].as_i64(), u2["id"].as_i64()), (Some(v1), Some(v2)));
    assert_eq!(u2["requests"], 3, "{u2}");
    assert_eq!(
        find(&u2["readers"], "principal", "fraud-svc").unwrap()["requests"],
        2
    );
    assert_eq!(u1["requests"], 2, "{u1}");
    assert!(u1["lastRead"].is_string(), "{u1}");

    // The schema's own usage.
    let by_id = req(
        &srv,
        &owner,
        Method::GET,
        &format!("/v1/schemas/{v1}/usage"),
        None,
    )
    .await
    .ok();
    assert!(
        find(&by_id["readers"], "principal", "fraud-svc").is_some(),
        "{by_id}"
    );
    assert!(
        find(&by_id["writers"], "principal", "checkout-svc").is_some(),
        "{by_id}"
    );

    // A breaking-change proposal's report: the declared consumers and, apart, the
    // readers seen (declared or not, with when).
    let breaking = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"string"}]}"#;
    let opened = req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/proposals",
        Some(json!({ "schema": breaking })),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let proposal = opened.json();
    assert_eq!(
        proposal["impactedConsumers"][0]["service"], "bi-svc",
        "{proposal}"
    );
    let seen = &proposal["observedReaders"];
    let f = find(seen, "principal", "fraud-svc").expect("fraud-svc observed");
    assert_eq!(f["declared"], false, "{proposal}");
    assert!(f["lastSeen"].is_string(), "{proposal}");
    assert_eq!(
        find(seen, "principal", "bi-svc").expect("bi-svc")["declared"],
        true
    );

    // The catalog's stream page: readers seen, next to the declared consumers.
    let page = req(&srv, &owner, Method::GET, "/ui/streams/orders", None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let table = page
        .text
        .split("observed-readers")
        .nth(1)
        .expect("the readers table");
    assert!(
        table.contains("fraud-svc") && table.contains("undeclared"),
        "{table}"
    );
    assert!(
        table.contains("bi-svc") && table.contains("declared"),
        "{table}"
    );
    // ... and a version's page: v2, read as the latest by both.
    let page = req(
        &srv,
        &owner,
        Method::GET,
        "/ui/subjects/orders-value/versions/2",
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let table = page
        .text
        .split("observed-readers")
        .nth(1)
        .expect("the readers table");
    assert!(
        table.contains("fraud-svc") && table.contains("undeclared"),
        "{table}"
    );

    // Declared consumers with their sightings, and the undeclared reader.
    let consumers = req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/consumers?include=observed",
        None,
    )
    .await
    .ok();
    let declared = find(&consumers, "service", "bi-svc").expect("bi-svc");
    assert_eq!(declared["status"], "active");
    assert_eq!(
        declared["observed"]["principals"],
        json!(["bi-svc"]),
        "{consumers}"
    );
    let flagged = find(&consumers, "service", "fraud-svc").expect("fraud-svc flagged");
    assert_eq!(flagged["status"], "undeclared", "{consumers}");
    assert_eq!(flagged["team"], "fraud");
    // Without include, only the declared ones (as before).
    let plain = req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/consumers",
        None,
    )
    .await
    .ok();
    assert_eq!(plain.as_array().unwrap().len(), 1, "{plain}");
    assert!(plain[0].get("observed").is_none(), "{plain}");
    req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/consumers?include=everything",
        None,
    )
    .await
    .assert_error(422, 422);

    // The refused attempt on the restricted stream, for its owner.
    let vault = until(
        &srv,
        &owner,
        "/v1/streams/vault/usage",
        "the refusal",
        |u| find(&u["refused"], "principal", "fraud-svc").is_some(),
    )
    .await;
    assert!(vault["readers"].as_array().unwrap().is_empty(), "{vault}");
    // ... whose usage fraud-svc may not see.
    req(&srv, &fraud, Method::GET, "/v1/streams/vault/usage", None)
        .await
        .assert_error(403, 40301);

    // One event for the undeclared reader, none for the declared one, however often
    // they read again.
    for _ in 0..3 {
        req(
            &srv,
            &fraud,
            Method::GET,
            "/subjects/orders-value/versions/1",
            None,
        )
        .await
        .ok();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for _ in 0..100 {
        if !inbox.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = inbox.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "usage.undeclared-consumer");
    assert_eq!(events[0]["stream"], "orders");
    assert_eq!(events[0]["data"]["principal"], "fraud-svc");
    assert_eq!(events[0]["data"]["team"], "fraud");

    // The owner invites the undeclared reader to register: recorded, announced.
    let invited = subscribe(&srv, &admin, "consumer.invited").await;
    // Only the owning team (or an admin) invites, and only readers seen.
    req(
        &srv,
        &bi,
        Method::POST,
        "/v1/streams/orders/consumers/fraud-svc/invite",
        None,
    )
    .await
    .assert_error(403, 40301);
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/nobody/invite",
        None,
    )
    .await
    .assert_error(404, 40440);
    let invitation = req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/fraud-svc/invite",
        None,
    )
    .await
    .ok();
    assert_eq!(invitation["principal"], "fraud-svc", "{invitation}");
    assert_eq!(invitation["team"], "fraud", "{invitation}");
    assert_eq!(invitation["invitedBy"], "checkout-svc", "{invitation}");
    let consumers = req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/consumers?include=observed",
        None,
    )
    .await
    .ok();
    let flagged = find(&consumers, "service", "fraud-svc").expect("fraud-svc");
    assert_eq!(flagged["status"], "undeclared", "{consumers}");
    assert_eq!(
        flagged["observed"]["invitedAt"], invitation["invitedAt"],
        "{consumers}"
    );
    for _ in 0..100 {
        if !invited.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = invited.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["type"], "consumer.invited");
    assert_eq!(got[0]["data"]["principal"], "fraud-svc");
    // Once it registers as a consumer, it is declared.
    req(
        &srv,
        &fraud,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "fraud-svc", "team": "fraud"})),
    )
    .await
    .ok();
    let usage = req(&srv, &owner, Method::GET, "/v1/streams/orders/usage", None)
        .await
        .ok();
    assert_eq!(usage["undeclared"], json!([]), "{usage}");
    assert_eq!(
        find(&usage["readers"], "principal", "fraud-svc").unwrap()["declared"],
        true,
        "{usage}"
    );

    // Deleting what was read this week needs force, and names the readers; the
    // deleter's own reads do not count.
    let refused = req(
        &srv,
        &owner,
        Method::DELETE,
        "/subjects/orders-value/versions/1",
        None,
    )
    .await;
    let msg = refused.assert_error(409, 40940);
    assert!(msg.contains("fraud-svc") && msg.contains("bi-svc"), "{msg}");
    assert!(msg.contains("force=true"), "{msg}");
    // Nothing was deleted.
    req(
        &srv,
        &owner,
        Method::GET,
        "/subjects/orders-value/versions/1",
        None,
    )
    .await
    .ok();
    let msg = req(&srv, &owner, Method::DELETE, "/subjects/orders-value", None)
        .await
        .assert_error(409, 40940);
    assert!(msg.contains("Subject 'orders-value'"), "{msg}");
    // Another team may not delete: the owner rule answers first (no readers named).
    let msg = req(
        &srv,
        &fraud,
        Method::DELETE,
        "/subjects/orders-value/versions/1",
        None,
    )
    .await
    .assert_error(403, 40301);
    assert!(!msg.contains("bi-svc"), "{msg}");
    // Forced, it goes.
    let deleted = req(
        &srv,
        &owner,
        Method::DELETE,
        "/subjects/orders-value/versions/1?force=true",
        None,
    )
    .await
    .ok();
    assert_eq!(deleted, 1);
    // The vault's versions were read by nobody (only refused): no guard.
    req(
        &srv,
        &owner,
        Method::DELETE,
        "/subjects/vault-value/versions/1",
        None,
    )
    .await
    .ok();

    // unused-for: a version registered within the window is no candidate; over an
    // empty window, every live version nobody read since is.
    let fresh = req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/usage?unused-for=1d",
        None,
    )
    .await
    .ok();
    assert_eq!(fresh["unused"], json!([]), "{fresh}");
    let all = req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/usage?unused-for=0d",
        None,
    )
    .await
    .ok();
    assert_eq!(all["unused"].as_array().unwrap().len(), 1, "{all}");
    req(
        &srv,
        &owner,
        Method::GET,
        "/v1/streams/orders/usage?days=x",
        None,
    )
    .await
    .assert_error(422, 422);
    req(&srv, &owner, Method::GET, "/v1/streams/nope/usage", None)
        .await
        .assert_error(404, 40420);
});

dual!(recording_off, |srv| {
    let admin = restart(
        &mut srv,
        accord_server::usage::UsageConfig {
            enabled: false,
            flush: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await;
    let owner = principal_with_key(&srv, &admin, member("checkout-svc", "checkout")).await;
    let fraud = principal_with_key(&srv, &admin, member("fraud-svc", "fraud")).await;
    apply(&srv, &owner, "orders", CONTRACT).await;
    let id = register(&srv, &owner, "orders-value", V1).await;
    for path in [
        "/subjects/orders-value/versions/latest",
        &format!("/schemas/ids/{id}"),
    ] {
        req(&srv, &fraud, Method::GET, path, None).await.ok();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let usage = req(&srv, &owner, Method::GET, "/v1/streams/orders/usage", None)
        .await
        .ok();
    assert_eq!(usage["readers"], json!([]), "{usage}");
    assert_eq!(usage["writers"], json!([]), "{usage}");
    // Nothing recorded, nothing guarded.
    req(
        &srv,
        &owner,
        Method::DELETE,
        "/subjects/orders-value/versions/1",
        None,
    )
    .await
    .ok();
});

/// Two nodes on one PostgreSQL: their counts add up; a node that stops writes what it
/// counted since its last flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_add_up() {
    let Some(db) = common::TestDb::new(common::Db::Postgres).await else {
        return;
    };
    let mut a = Srv::start(config(&db.url)).await;
    let admin = restart(&mut a, fast()).await;
    // Node b flushes only when it stops.
    let slow = accord_server::usage::UsageConfig {
        flush: Duration::from_secs(3600),
        ..Default::default()
    };
    let mut b = Srv::start(node_config(&db.url, slow)).await;
    let owner = principal_with_key(&a, &admin, member("checkout-svc", "checkout")).await;
    let fraud = principal_with_key(&a, &admin, member("fraud-svc", "fraud")).await;
    apply(&a, &owner, "orders", CONTRACT).await;
    let id = register(&a, &owner, "orders-value", V1).await;
    let path = format!("/schemas/ids/{id}");
    for _ in 0..3 {
        req(&a, &fraud, Method::GET, &path, None).await.ok();
    }
    for _ in 0..2 {
        req(&b, &fraud, Method::GET, &path, None).await.ok();
    }
    until(
        &a,
        &owner,
        "/v1/streams/orders/usage",
        "node a's reads",
        |u| find(&u["readers"], "principal", "fraud-svc").is_some_and(|r| r["requests"] == 3),
    )
    .await;
    b.stop().await;
    let usage = until(
        &a,
        &owner,
        "/v1/streams/orders/usage",
        "both nodes' reads",
        |u| find(&u["readers"], "principal", "fraud-svc").is_some_and(|r| r["requests"] == 5),
    )
    .await;
    assert_eq!(usage["undeclared"], json!(["fraud-svc"]), "{usage}");
    a.stop().await;
    drop(db);
}
