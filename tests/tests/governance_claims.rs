//! Issue 13's claims on what others registered, with auth on: a consumer record stays
//! the team's that registered it, a contract may not claim a subject someone else
//! registered (subject squatting), and a read-restricted stream admits consumers only
//! with its owner's approval.

mod common;

use base64::Engine;
use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::{Srv, USER_V1, USER_V2_OPTIONAL};
use reqwest::Method;
use serde_json::{json, Value};

/// A contract of stream STREAM owned by team TEAM; EXTRA is appended to its
/// `customProperties` (after `accord.stream`, whose value is BINDING).
const CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: STREAM-contract
version: 1.0.0
status: active
team:
  name: TEAM
support:
  - channel: oncall
    tool: email
    url: mailto:oncall@acme.example
customProperties:
  - property: accord.stream
    value: BINDING
";

fn contract(stream: &str, team: &str, binding: &str, extra: &str) -> String {
    CONTRACT
        .replace("BINDING", binding)
        .replace("STREAM", stream)
        .replace("TEAM", team)
        + extra
}

async fn put_contract(srv: &Srv, who: &Key, stream: &str, yaml: &str) -> common::Resp {
    let resp = srv
        .http
        .put(format!("{}/v1/streams/{stream}/contract", srv.base))
        .header("Authorization", who.basic())
        .header("Content-Type", "application/yaml")
        .body(yaml.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap();
    common::Resp {
        status,
        content_type,
        text,
    }
}

/// An admin, a member of the owning team (checkout), one of payments, one of marketing.
async fn setup(srv: &mut Srv) -> (Key, Key, Key, Key) {
    let admin = restart_with_auth(srv).await;
    let mut keys = Vec::new();
    for (name, team) in [
        ("checkout-svc", "checkout"),
        ("payments-svc", "payments"),
        ("marketing-svc", "marketing"),
    ] {
        let body = json!({"name": name, "role": "member", "kind": "service", "team": team});
        keys.push(principal_with_key(srv, &admin, body).await);
    }
    let third = keys.pop().expect("three members");
    let other = keys.pop().expect("three members");
    let owner = keys.pop().expect("three members");
    (admin, owner, other, third)
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

/// The audit entries `(principal, target)` with `action`.
async fn audited(srv: &Srv, admin: &Key, action: &str) -> Vec<(String, String)> {
    let audit = req(srv, admin, Method::GET, "/v1/audit?limit=1000", None)
        .await
        .ok();
    audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| {
            (
                e["principal"].as_str().unwrap_or("").to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn consumer(srv: &Srv, who: &Key, stream: &str, service: &str) -> Value {
    let list = req(
        srv,
        who,
        Method::GET,
        &format!("/v1/streams/{stream}/consumers"),
        None,
    )
    .await
    .ok();
    list.as_array()
        .expect("consumers")
        .iter()
        .find(|c| c["service"] == service)
        .cloned()
        .unwrap_or(Value::Null)
}

dual!(consumer_records_stay_their_teams, |srv| {
    let (admin, owner, other, third) = setup(&mut srv).await;
    let doc = contract("orders", "checkout", "{ name: orders }", "");
    put_contract(&srv, &admin, "orders", &doc).await.ok();
    let consumers = "/v1/streams/orders/consumers";
    let c = req(
        &srv,
        &other,
        Method::POST,
        consumers,
        Some(json!({"service": "ledger", "team": "payments"})),
    )
    .await
    .ok();
    assert_eq!(
        (c["team"].as_str(), c["status"].as_str()),
        (Some("payments"), Some("active"))
    );

    // Another team registering the same service name: 409, and nothing changes.
    let msg = req(
        &srv,
        &third,
        Method::POST,
        consumers,
        Some(json!({"service": "ledger", "team": "marketing"})),
    )
    .await
    .assert_error(409, 40923);
    assert!(
        msg.contains("ledger") && msg.contains("'payments'") && msg.contains("checkout"),
        "{msg}"
    );
    assert_eq!(consumer(&srv, &admin, "orders", "ledger").await, c);
    assert_eq!(
        audited(&srv, &admin, "stream.consumer.add.denied").await,
        [(
            "marketing-svc".to_string(),
            "stream:orders/consumer:ledger".to_string()
        )]
    );

    // A rejected record is not reopened by registering it under another team either.
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/ledger/reject",
        None,
    )
    .await
    .ok();
    req(
        &srv,
        &third,
        Method::POST,
        consumers,
        Some(json!({"service": "ledger", "team": "marketing"})),
    )
    .await
    .assert_error(409, 40923);
    let still = consumer(&srv, &admin, "orders", "ledger").await;
    assert_eq!(
        (still["team"].as_str(), still["status"].as_str()),
        (Some("payments"), Some("rejected"))
    );

    // The owning team (for itself) and an admin (for any team) move it, audited.
    let moved = req(
        &srv,
        &owner,
        Method::POST,
        consumers,
        Some(json!({"service": "ledger", "team": "checkout"})),
    )
    .await
    .ok();
    assert_eq!(
        (moved["team"].as_str(), moved["status"].as_str()),
        (Some("checkout"), Some("active"))
    );
    let moved = req(
        &srv,
        &admin,
        Method::POST,
        consumers,
        Some(json!({"service": "ledger", "team": "marketing"})),
    )
    .await
    .ok();
    assert_eq!(moved["team"], "marketing");
    let reassigned: Vec<String> = audited(&srv, &admin, "stream.consumer.reassign")
        .await
        .into_iter()
        .map(|(actor, _)| actor)
        .collect();
    assert_eq!(reassigned, ["checkout-svc", "admin"]);
});

dual!(contracts_cannot_claim_subjects_others_registered, |srv| {
    let (admin, owner, other, _third) = setup(&mut srv).await;
    // payments registers a subject of no stream.
    req(
        &srv,
        &other,
        Method::POST,
        "/subjects/loose-value/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();

    // checkout's contract claims it: 403, audited, nothing stored.
    let squat = contract(
        "orders",
        "checkout",
        "{ name: orders, valueSubject: loose-value }",
        "",
    );
    let msg = put_contract(&srv, &owner, "orders", &squat)
        .await
        .assert_error(403, 40301);
    assert!(
        msg.contains("loose-value") && msg.contains("admin") && msg.contains("registered"),
        "{msg}"
    );
    req(&srv, &admin, Method::GET, "/v1/streams/orders", None)
        .await
        .assert_error(404, 40420);
    assert_eq!(
        audited(&srv, &admin, "stream.subject.claim.denied").await,
        [(
            "checkout-svc".to_string(),
            "subject:loose-value".to_string()
        )]
    );
    // The key subject too.
    let squat_key = contract(
        "orders",
        "checkout",
        "{ name: orders, keySubject: loose-value }",
        "",
    );
    put_contract(&srv, &owner, "orders", &squat_key)
        .await
        .assert_error(403, 40301);
    // Its registrant is not locked out.
    req(
        &srv,
        &other,
        Method::POST,
        "/subjects/loose-value/versions",
        Some(json!({"schema": USER_V2_OPTIONAL})),
    )
    .await
    .ok();

    // Subjects with no versions and no keys are free; a stream keeps its own subjects.
    let fresh = contract("orders", "checkout", "{ name: orders }", "");
    put_contract(&srv, &owner, "orders", &fresh).await.ok();
    req(
        &srv,
        &owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();
    let again = fresh.replace("version: 1.0.0", "version: 1.1.0");
    put_contract(&srv, &owner, "orders", &again).await.ok();

    // A stream may not take over a subject through a contract update either.
    let update = contract(
        "orders",
        "checkout",
        "{ name: orders, valueSubject: loose-value }",
        "",
    )
    .replace("version: 1.0.0", "version: 2.0.0");
    put_contract(&srv, &owner, "orders", &update)
        .await
        .assert_error(403, 40301);

    // Its registrant binds it to its own stream.
    let own = contract(
        "ledger",
        "payments",
        "{ name: ledger, valueSubject: loose-value }",
        "",
    );
    put_contract(&srv, &other, "ledger", &own).await.ok();

    // A subject written by two principals, or with keys and no versions: admins only.
    for (who, schema) in [(&other, USER_V1), (&owner, USER_V2_OPTIONAL)] {
        req(
            &srv,
            who,
            Method::POST,
            "/subjects/shared-value/versions",
            Some(json!({"schema": schema})),
        )
        .await
        .ok();
    }
    let shared = contract(
        "shared",
        "payments",
        "{ name: shared, valueSubject: shared-value }",
        "",
    );
    put_contract(&srv, &other, "shared", &shared)
        .await
        .assert_error(403, 40301);
    req(
        &srv,
        &other,
        Method::POST,
        "/dek-registry/v1/keks",
        Some(json!({"name": "pk", "kmsType": "local-kms", "kmsKeyId": "id"})),
    )
    .await
    .ok();
    let material = base64::engine::general_purpose::STANDARD.encode([7u8; 62]);
    req(
        &srv,
        &other,
        Method::POST,
        "/dek-registry/v1/keks/pk/deks/keyed-value",
        Some(json!({"encryptedKeyMaterial": material})),
    )
    .await
    .ok();
    let keyed = contract(
        "keyed",
        "checkout",
        "{ name: keyed, valueSubject: keyed-value }",
        "",
    );
    let msg = put_contract(&srv, &owner, "keyed", &keyed)
        .await
        .assert_error(403, 40301);
    assert!(msg.contains("1 key(s)"), "{msg}");
    // An admin may claim either.
    put_contract(&srv, &admin, "keyed", &keyed).await.ok();
    put_contract(&srv, &admin, "shared", &shared).await.ok();
});

dual!(restricted_streams_admit_consumers_with_approval, |srv| {
    let (admin, owner, other, _third) = setup(&mut srv).await;
    let restricted = contract(
        "orders",
        "checkout",
        "{ name: orders }",
        "  - property: accord.access\n    value: { read: restricted }\n",
    );
    put_contract(&srv, &owner, "orders", &restricted).await.ok();
    req(
        &srv,
        &owner,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();
    // The stored contract says what applies.
    let stored = req(
        &srv,
        &other,
        Method::GET,
        "/v1/streams/orders/contract",
        None,
    )
    .await
    .ok();
    let access = stored["customProperties"]
        .as_array()
        .expect("customProperties")
        .iter()
        .find(|p| p["property"] == "accord.access")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(access["value"]["consumers"], "approval", "{stored}");

    // Another team registers: pending, and it reads nothing until the owner approves.
    let c = req(
        &srv,
        &other,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "ledger", "team": "payments"})),
    )
    .await
    .ok();
    assert_eq!(c["status"], "pending");
    let read = "/subjects/orders-value/versions/latest";
    req(&srv, &other, Method::GET, read, None)
        .await
        .assert_error(403, 40301);
    req(
        &srv,
        &owner,
        Method::POST,
        "/v1/streams/orders/consumers/ledger/approve",
        None,
    )
    .await
    .ok();
    req(&srv, &other, Method::GET, read, None).await.ok();

    // An explicit `consumers: open` on a restricted stream is refused, naming the path.
    let open = contract(
        "orders",
        "checkout",
        "{ name: orders }",
        "  - property: accord.access\n    value: { read: restricted, consumers: open }\n",
    )
    .replace("version: 1.0.0", "version: 2.0.0");
    let msg = put_contract(&srv, &owner, "orders", &open)
        .await
        .assert_error(422, 42220);
    assert!(
        msg.contains("value.consumers")
            && msg.contains("consumers: open")
            && msg.contains("restricted"),
        "{msg}"
    );
    // An allow-list is the owner's explicit choice: its teams are admitted.
    let listed = contract(
        "orders",
        "checkout",
        "{ name: orders }",
        "  - property: accord.access\n    value: { read: restricted, consumers: allowList, allowedTeams: [marketing] }\n",
    )
    .replace("version: 1.0.0", "version: 3.0.0");
    put_contract(&srv, &owner, "orders", &listed).await.ok();
    let c = req(
        &srv,
        &admin,
        Method::POST,
        "/v1/streams/orders/consumers",
        Some(json!({"service": "campaigns", "team": "marketing"})),
    )
    .await
    .ok();
    assert_eq!(c["status"], "active");
});
