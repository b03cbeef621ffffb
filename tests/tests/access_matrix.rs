//! The access matrix (issue 13): every route of the OpenAPI document, asked by each kind
//! of caller against a read-restricted stream, an open stream and a subject of no
//! stream, answers the access decision written in [`TABLE`]. A route of the document
//! with no row fails the test, and so does a row whose route no longer exists.
//!
//! How to read the table. Each row is a request (method, path, body) and where it is
//! sent: `S(r, o, l)` on the subjects of the restricted stream `orders`, of the open
//! stream `open` and on the stream-less `loose-*` subjects; `St(r, o)` on the streams
//! `orders` and `open`; `G(x)` once (registry-wide routes). Each expectation lists six
//! answers, one per caller, in this order:
//!
//! | anonymous | reader | owner | other | consumer | admin |
//!
//! - anonymous: no credentials;
//! - reader: role reader, no team;
//! - owner: a member of team `checkout`, which owns every stream here;
//! - other: a member of team `marketing`, no consumer anywhere;
//! - consumer: a member of team `payments`, which has an approved consumer on `orders`
//!   (and an active one on `open`);
//! - admin.
//!
//! An answer is `401` or `403` (exactly that status), `404` (exactly: a refusal that does
//! not confirm the resource exists), `[]` (200 with an empty list: the same, for a
//! lookup) or `ok`: allowed, i.e. any status but 401 and 403
//! (200, 201, 204, and also 404, 409 or 422 when the request passed the access check and
//! failed on its merits, e.g. a second delete of what the first one deleted). A 5xx fails
//! whatever the row says. Placeholders in `{braces}` name fixtures ([`fixtures`]):
//! `{subject}` holds one schema, `{scratch}` is a subject of the same kind that writes may
//! delete, `{doomed}` a stream that may be shredded whole, and so on.

mod common;

use common::auth::{db_url, Key};
use common::{config, Srv};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

// ---- the rules ----

/// Anyone, without credentials.
const OPEN: &str = "ok  ok  ok  ok  ok  ok";
/// Any principal.
const READ: &str = "401 ok  ok  ok  ok  ok";
/// A read-restricted stream's schemas: its owning team, its approved consumers, admins.
const RESTRICTED: &str = "401 403 ok  403 ok  ok";
/// The same refusal, answered as "not found" (a GUID is not an oracle).
const RESTRICTED_404: &str = "401 404 ok  404 ok  ok";
/// The same refusal, answered as an empty list (as for an unknown GUID).
const RESTRICTED_EMPTY: &str = "401 []  ok  []  ok  ok";
/// Key material: the stream's owning team, its approved consumers' teams, admins.
const KEY_HOLDERS: &str = "401 403 ok  403 ok  ok";
/// Key material of a subject of no stream: any principal with a team, admins.
const ANY_TEAM: &str = "401 403 ok  ok  ok  ok";
/// Members and admins (readers never write).
const MEMBERS: &str = "401 403 ok  ok  ok  ok";
/// The owning team's members and admins.
const OWNER: &str = "401 403 ok  403 403 ok";
/// The consumer's own team and admins (reviews, registering a consumer of team payments).
const CONSUMER_TEAM: &str = "401 403 403 403 ok  ok";
/// The consumer's own team, the stream's owning team and admins (removing a consumer).
const CONSUMER_OR_OWNER: &str = "401 403 ok  403 ok  ok";
/// Admins only.
const ADMIN: &str = "401 403 403 403 403 ok";

/// Where a row is sent.
#[derive(Clone, Copy)]
enum On {
    /// Once; registry-wide routes.
    G(&'static str),
    /// Restricted stream's subject, open stream's subject, stream-less subject.
    S(&'static str, &'static str, &'static str),
    /// Restricted stream, open stream.
    St(&'static str, &'static str),
}
use On::{St, G, S};

/// A request body (placeholders filled in).
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    /// The target stream's own contract (YAML), re-applied unchanged.
    Contract,
}
use Body::Json;

struct Row {
    method: &'static str,
    path: &'static str,
    body: Body,
    on: On,
}

macro_rules! row {
    ($m:ident $path:literal, $on:expr) => {
        Row {
            method: stringify!($m),
            path: $path,
            body: Body::None,
            on: $on,
        }
    };
    ($m:ident $path:literal, $body:expr, $on:expr) => {
        Row {
            method: stringify!($m),
            path: $path,
            body: $body,
            on: $on,
        }
    };
}

const SCHEMA: Body = Json(r#"{"schema": {schema_json}}"#);
const SET_COMPAT: Body = Json(r#"{"compatibility": "FULL_TRANSITIVE"}"#);
const SET_MODE: Body = Json(r#"{"mode": "READWRITE"}"#);
const LOOKUP_ENTITY: Body = Json(r#"{"create": false, "entities": [{"entity": "e1"}]}"#);
const CREATE_ENTITY: Body = Json(r#"{"create": true, "entities": [{"entity": "e2"}]}"#);

/// The access matrix. Rows run in this order (deletes before undeletes); within a row,
/// callers run from the least to the most privileged.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    // -- operations
    row!(GET "/health/live", G(OPEN)),
    row!(GET "/health/ready", G(OPEN)),
    row!(GET "/metrics", G(OPEN)),
    row!(GET "/", G(READ)),
    row!(POST "/", Json(r#"{"ping": "1"}"#), G(READ)),
    row!(GET "/openapi.json", G(READ)),
    row!(GET "/v1/metadata/id", G(READ)),
    row!(GET "/v1/metadata/version", G(READ)),
    row!(GET "/v1/catalog/search?q=orders", G(READ)),
    // -- registry reads: listings are filtered, so every principal may ask
    row!(GET "/subjects", G(READ)),
    row!(GET "/schemas", G(READ)),
    row!(GET "/schemas/types", G(READ)),
    row!(GET "/contexts", G(READ)),
    row!(GET "/subjects/{subject}/versions", S(RESTRICTED, READ, READ)),
    row!(GET "/subjects/{subject}/versions/latest", S(RESTRICTED, READ, READ)),
    row!(GET "/subjects/{subject}/versions/1/schema", S(RESTRICTED, READ, READ)),
    row!(GET "/subjects/{subject}/versions/1/referencedby", S(RESTRICTED, READ, READ)),
    row!(GET "/subjects/{subject}/metadata", S(RESTRICTED, READ, READ)),
    row!(POST "/subjects/{subject}", SCHEMA, S(RESTRICTED, READ, READ)),
    row!(POST "/compatibility/subjects/{subject}/versions", SCHEMA, S(RESTRICTED, READ, READ)),
    row!(POST "/compatibility/subjects/{subject}/versions/latest", SCHEMA, S(RESTRICTED, READ, READ)),
    row!(GET "/schemas/ids/{id}", S(RESTRICTED, READ, READ)),
    row!(GET "/schemas/ids/{id}/schema", S(RESTRICTED, READ, READ)),
    row!(GET "/v1/schemas/{id}/usage", S(RESTRICTED, READ, READ)),
    row!(GET "/schemas/ids/{id}/subjects", S(RESTRICTED, READ, READ)),
    row!(GET "/schemas/ids/{id}/versions", S(RESTRICTED, READ, READ)),
    row!(GET "/schemas/guids/{guid}", S(RESTRICTED_404, READ, READ)),
    row!(GET "/schemas/guids/{guid}/ids", S(RESTRICTED_EMPTY, READ, READ)),
    row!(GET "/config", G(READ)),
    row!(GET "/mode", G(READ)),
    // -- registry writes: a stream's subjects by its owning team, others by any member
    row!(POST "/subjects/{subject}/versions", SCHEMA, S(OWNER, OWNER, MEMBERS)),
    row!(POST "/subjects/{scratch}/versions/1/tags",
        Json(r#"{"tagsToAdd": [{"schemaEntity": {"entityPath": "{scratch_record}", "entityType": "SR_RECORD"}, "tags": ["MATRIX"]}]}"#),
        S(OWNER, OWNER, MEMBERS)),
    row!(PUT "/config/{subject}", SET_COMPAT, S(OWNER, OWNER, MEMBERS)),
    row!(GET "/config/{subject}", S(READ, READ, READ)),
    row!(DELETE "/config/{subject}", S(OWNER, OWNER, MEMBERS)),
    row!(PUT "/mode/{subject}", SET_MODE, S(OWNER, OWNER, MEMBERS)),
    row!(GET "/mode/{subject}", S(READ, READ, READ)),
    row!(DELETE "/mode/{subject}", S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/subjects/{scratch}/versions/1", S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/subjects/{scratch}", S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/subjects/{scratch}/versions/1?force=true", S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/subjects/{scratch}?permanent=true", S(OWNER, OWNER, MEMBERS)),
    // -- registry-wide state: admins only
    row!(PUT "/config", SET_COMPAT, G(ADMIN)),
    row!(DELETE "/config", G(ADMIN)),
    row!(PUT "/mode", SET_MODE, G(ADMIN)),
    row!(DELETE "/mode", G(ADMIN)),
    row!(DELETE "/contexts/.matrix", G(ADMIN)),
    // -- principals and the audit log: admins only
    //    ({me} is the caller itself, which reads itself and revokes its own keys)
    row!(GET "/v1/principals", G(ADMIN)),
    row!(POST "/v1/principals", Json(r#"{"name": "matrix-new", "role": "reader"}"#), G(ADMIN)),
    row!(GET "/v1/principals/{doomed_principal}", G(ADMIN)),
    row!(GET "/v1/principals/{me}", G(READ)),
    row!(PATCH "/v1/principals/matrix-new", Json(r#"{"role": "reader"}"#), G(ADMIN)),
    row!(POST "/v1/principals/matrix-new/keys", G(ADMIN)),
    row!(POST "/v1/principals/matrix-new/disable", G(ADMIN)),
    row!(POST "/v1/principals/matrix-new/enable", G(ADMIN)),
    row!(DELETE "/v1/principals/{doomed_principal}/keys/{doomed_key}", G(ADMIN)),
    row!(DELETE "/v1/principals/{me}/keys/{my_spare_key}", G(READ)),
    row!(DELETE "/v1/principals/matrix-new", G(ADMIN)),
    row!(GET "/v1/audit", G(ADMIN)),
    row!(GET "/v1/audit/verify", G(ADMIN)),
    row!(GET "/v1/audit/checkpoint", G(ADMIN)),
    // -- streams: anyone reads their records; the owning team changes them
    row!(GET "/v1/streams", G(READ)),
    // Registrations across streams: the same records the streams show, any principal.
    row!(GET "/v1/consumers", G(READ)),
    row!(GET "/v1/producers", G(READ)),
    // The lineage graph shows stream records (owners, producers, consumers): any principal.
    row!(GET "/v1/lineage?stream={stream}", St(READ, READ)),
    row!(GET "/v1/lineage/openlineage?stream={stream}", St(READ, READ)),
    row!(GET "/v1/streams/{stream}", St(READ, READ)),
    row!(GET "/v1/streams/{stream}/contract", St(READ, READ)),
    row!(GET "/v1/streams/{stream}/contract/versions", St(READ, READ)),
    row!(GET "/v1/streams/{stream}/consumers", St(READ, READ)),
    // Who was seen reading a stream is for who may read it (issue 18).
    row!(GET "/v1/streams/{stream}/consumers?include=observed", St(RESTRICTED, READ)),
    row!(GET "/v1/streams/{stream}/usage", St(RESTRICTED, READ)),
    row!(GET "/v1/streams/{stream}/usage?unused-for=90d", St(RESTRICTED, READ)),
    // Inviting a reader seen (here: none, so 404 for who may) is the owning team's.
    row!(POST "/v1/streams/{stream}/consumers/{service}/invite", St(OWNER, OWNER)),
    row!(GET "/v1/streams/{stream}/producer", St(READ, READ)),
    row!(PUT "/v1/streams/{stream}/contract", Body::Contract, St(OWNER, OWNER)),
    row!(PUT "/v1/streams/{stream}/producer", Json(r#"{"service": "shop", "team": "checkout"}"#), St(OWNER, OWNER)),
    // A member registers consumers for its own team only (here: payments).
    row!(POST "/v1/streams/{stream}/consumers", Json(r#"{"service": "{service}", "team": "payments"}"#), St(CONSUMER_TEAM, CONSUMER_TEAM)),
    row!(POST "/v1/streams/{stream}/consumers/{service}/approve", St(OWNER, OWNER)),
    row!(POST "/v1/streams/{stream}/consumers/{reject_service}/reject", St(OWNER, OWNER)),
    row!(DELETE "/v1/streams/{stream}/consumers/{spare_service}", St(CONSUMER_OR_OWNER, CONSUMER_OR_OWNER)),
    // -- proposals: anyone reads them (candidate and report hidden from who may not read
    //    the stream); the owning team opens, releases and withdraws; consumers review
    row!(GET "/v1/streams/{stream}/proposals", St(READ, READ)),
    row!(GET "/v1/proposals/{proposal}", St(READ, READ)),
    row!(POST "/v1/streams/{stream}/proposals", Json(r#"{"schema": {schema_json}}"#), St(OWNER, OWNER)),
    row!(POST "/v1/proposals/{proposal}/reviews", Json(r#"{"consumer": "{service}", "decision": "approve"}"#), St(CONSUMER_TEAM, CONSUMER_TEAM)),
    row!(POST "/v1/proposals/{proposal}/release", Json(r#"{"mode": "new_version"}"#), St(OWNER, OWNER)),
    row!(POST "/v1/proposals/{proposal}/withdraw", Json(r#"{}"#), St(OWNER, OWNER)),
    // -- KEKs: anyone reads them; members create non-shared ones; the rest is admins'
    row!(GET "/dek-registry/v1/keks", G(READ)),
    row!(GET "/dek-registry/v1/keks/{kek}", G(READ)),
    row!(GET "/dek-registry/v1/keks/{kek}/deks", G(READ)),
    row!(POST "/dek-registry/v1/keks", Json(r#"{"name": "matrix-mine", "kmsType": "local-kms", "kmsKeyId": "m"}"#), G(MEMBERS)),
    row!(POST "/dek-registry/v1/keks", Json(r#"{"name": "matrix-shared-2", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}"#), G(ADMIN)),
    row!(PUT "/dek-registry/v1/keks/{kek}", Json(r#"{"kmsProps": {}, "doc": "matrix", "shared": true}"#), G(ADMIN)),
    row!(POST "/dek-registry/v1/keks/{kek}/test", G(ADMIN)),
    row!(DELETE "/dek-registry/v1/keks/{spare_kek}", G(ADMIN)),
    row!(POST "/dek-registry/v1/keks/{spare_kek}/undelete", G(ADMIN)),
    // -- DEKs: key material to whoever may obtain it (owning team, approved consumers,
    //    admins; for a subject of no stream, any principal with a team); keys are made
    //    and deleted by whoever may write the subject
    row!(GET "/dek-registry/v1/keks/{kek}/deks/{subject}", S(KEY_HOLDERS, KEY_HOLDERS, ANY_TEAM)),
    row!(GET "/dek-registry/v1/keks/{kek}/deks/{subject}/versions/1", S(KEY_HOLDERS, KEY_HOLDERS, ANY_TEAM)),
    row!(GET "/dek-registry/v1/keks/{kek}/deks/{subject}/versions", S(READ, READ, READ)),
    row!(POST "/dek-registry/v1/keks/{kek}/deks", Json(r#"{"subject": "{subject}"}"#), S(OWNER, OWNER, MEMBERS)),
    row!(POST "/dek-registry/v1/keks/{kek}/deks/{subject}", Json(r#"{}"#), S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/dek-registry/v1/keks/{kek}/deks/{scratch}/versions/1", S(OWNER, OWNER, MEMBERS)),
    row!(POST "/dek-registry/v1/keks/{kek}/deks/{scratch}/versions/1/undelete", S(OWNER, OWNER, MEMBERS)),
    row!(DELETE "/dek-registry/v1/keks/{kek}/deks/{scratch}", S(OWNER, OWNER, MEMBERS)),
    row!(POST "/dek-registry/v1/keks/{kek}/deks/{scratch}/undelete", S(OWNER, OWNER, MEMBERS)),
    // -- entity keys and shredding
    row!(POST "/v1/entity-keys/{kek}/{subject}", LOOKUP_ENTITY, S(KEY_HOLDERS, KEY_HOLDERS, ANY_TEAM)),
    row!(POST "/v1/entity-keys/{kek}/{subject}", CREATE_ENTITY, S(OWNER, OWNER, MEMBERS)),
    row!(POST "/v1/streams/{stream}/entities/shred", Json(r#"{"entity": "e3"}"#), St(OWNER, OWNER)),
    row!(POST "/v1/streams/{stream}/entities/e4/shred", St(OWNER, OWNER)),
    row!(POST "/v1/streams/{doomed}/shred", St(OWNER, OWNER)),
    // -- webhooks: members subscribe; a subscription is its creator's team's (and admins')
    row!(GET "/v1/webhooks", G(READ)),
    row!(POST "/v1/webhooks", Json(r#"{"url": "http://127.0.0.1:9/matrix", "eventTypes": ["schema.registered"]}"#), G(MEMBERS)),
    row!(GET "/v1/webhooks/{webhook}", G(OWNER)),
    row!(GET "/v1/webhooks/{webhook}/deliveries", G(OWNER)),
    row!(POST "/v1/webhooks/{webhook}/deliveries/1/resend", G(OWNER)),
    row!(DELETE "/v1/webhooks/{spare_webhook}", G(OWNER)),
    // -- schema exporters: admins only, reads included (a config names another registry)
    row!(GET "/exporters", G(ADMIN)),
    row!(POST "/exporters", Json(r#"{"name": "matrix-new-exporter", "config": {"schema.registry.url": "http://127.0.0.1:9"}}"#), G(ADMIN)),
    row!(GET "/exporters/{exporter}", G(ADMIN)),
    row!(GET "/exporters/{exporter}/status", G(ADMIN)),
    row!(GET "/exporters/{exporter}/config", G(ADMIN)),
    row!(PUT "/exporters/{exporter}/pause", G(ADMIN)),
    row!(PUT "/exporters/{exporter}", Json(r#"{"subjects": ["*"]}"#), G(ADMIN)),
    row!(PUT "/exporters/{exporter}/config", Json(r#"{"schema.registry.url": "http://127.0.0.1:9"}"#), G(ADMIN)),
    row!(PUT "/exporters/{exporter}/reset", G(ADMIN)),
    row!(PUT "/exporters/{exporter}/resume", G(ADMIN)),
    row!(DELETE "/exporters/{spare_exporter}", G(ADMIN)),
    // -- last: every principal rotates the key it calls with (which ends that key)
    row!(POST "/v1/keys/rotate", G(READ)),
];

// ---- callers and fixtures ----

/// The callers, in the column order of the expectations.
const CALLERS: [&str; 6] = ["anonymous", "reader", "owner", "other", "consumer", "admin"];
/// The order requests are sent in: least privileged first, so that what an allowed write
/// changes (a delete) cannot turn a later refusal into a 404.
const RUN_ORDER: [usize; 6] = [0, 1, 3, 4, 2, 5];

const KMS_SECRET: &str = "access-matrix-secret";

fn restricted_contract(stream: &str) -> String {
    format!(
        "{}  - property: accord.access\n    value: {{ read: restricted }}\n",
        open_contract(stream)
    )
}

fn open_contract(stream: &str) -> String {
    common::ORDERS_CONTRACT
        .replace("orders-contract", &format!("{stream}-contract"))
        .replace("{ name: orders }", &format!("{{ name: {stream} }}"))
}

/// A record schema of its own per subject (no two subjects share an id).
fn schema(record: &str, extra_field: bool) -> String {
    let extra = if extra_field {
        r#",{"name":"added","type":"string"}"#
    } else {
        ""
    };
    format!(
        r#"{{"type":"record","name":"{record}","namespace":"com.acme","fields":[{{"name":"a","type":"string"}}{extra}]}}"#
    )
}

fn record_of(subject: &str) -> String {
    subject
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

struct World {
    keys: [Option<Key>; 6],
    /// Per caller: `me` (its principal name) and `my_spare_key` (a second key of its own).
    me: [HashMap<&'static str, String>; 6],
    global: HashMap<&'static str, String>,
    /// Per target (restricted, open, loose): placeholders beyond the global ones.
    targets: [HashMap<&'static str, String>; 3],
}

async fn send(
    srv: &Srv,
    key: Option<&Key>,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> common::Resp {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = srv.http.request(method, format!("{}{}", srv.base, path));
    if let Some(k) = key {
        req = req.header("Authorization", k.basic());
    }
    if let Some((ct, b)) = body {
        req = req.header("Content-Type", ct).body(b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    common::Resp {
        status,
        content_type: String::new(),
        text,
    }
}

/// A set-up request that must succeed (2xx).
async fn must(srv: &Srv, key: &Key, method: &str, path: &str, body: Value) -> Value {
    let b = (!body.is_null()).then(|| ("application/json", body.to_string()));
    let r = send(srv, Some(key), method, path, b).await;
    assert!(
        r.status.is_success(),
        "set-up {method} {path}: {} {}",
        r.status,
        r.text
    );
    serde_json::from_str(&r.text).unwrap_or(Value::Null)
}

async fn principal(srv: &Srv, admin: &Key, name: &str, role: &str, team: Option<&str>) -> Key {
    let mut body = json!({"name": name, "role": role, "kind": "service"});
    if let Some(t) = team {
        body["team"] = json!(t);
    }
    must(srv, admin, "POST", "/v1/principals", body).await;
    let issued = must(
        srv,
        admin,
        "POST",
        &format!("/v1/principals/{name}/keys"),
        Value::Null,
    )
    .await;
    Key::from_issued(&issued)
}

async fn apply(srv: &Srv, key: &Key, stream: &str, yaml: &str) {
    let r = send(
        srv,
        Some(key),
        "PUT",
        &format!("/v1/streams/{stream}/contract"),
        Some(("application/yaml", yaml.to_string())),
    )
    .await;
    assert_eq!(r.status, 200, "contract {stream}: {}", r.text);
}

/// Auth on (with a local KMS); the principals, streams, schemas, keys, consumers, a
/// proposal per stream and webhooks every row needs.
async fn fixtures(srv: &mut Srv) -> World {
    let url = db_url(srv);
    srv.stop().await;
    let store = accord_server::storage::Store::connect(&url)
        .await
        .expect("store");
    let issued = accord_server::auth::bootstrap_admin(&store, "admin", false)
        .await
        .expect("bootstrap")
        .expect("no admin yet");
    store.close().await;
    let admin = Key {
        id: issued.key_id.clone(),
        secret: issued.secret.to_string(),
    };
    let mut cfg = config(&url);
    cfg.auth = true;
    cfg.local_kms_secret = Some(KMS_SECRET.to_string());
    *srv = Srv::start(cfg).await;

    let names = [
        "anonymous",
        "matrix-reader",
        "checkout-svc",
        "marketing-svc",
        "payments-svc",
        "admin",
    ];
    let reader = principal(srv, &admin, names[1], "reader", None).await;
    let owner = principal(srv, &admin, names[2], "member", Some("checkout")).await;
    let other = principal(srv, &admin, names[3], "member", Some("marketing")).await;
    let consumer = principal(srv, &admin, names[4], "member", Some("payments")).await;
    let mut me: [HashMap<&'static str, String>; 6] = Default::default();
    for (i, name) in names.into_iter().enumerate() {
        me[i].insert("me", name.to_string());
        let spare = if i == 0 {
            "ak_none".to_string()
        } else {
            must(
                srv,
                &admin,
                "POST",
                &format!("/v1/principals/{name}/keys"),
                Value::Null,
            )
            .await["keyId"]
                .as_str()
                .expect("keyId")
                .to_string()
        };
        me[i].insert("my_spare_key", spare);
    }
    let doomed = principal(srv, &admin, "doomed-svc", "reader", None).await;

    for s in ["orders", "vault"] {
        apply(srv, &admin, s, &restricted_contract(s)).await;
    }
    for s in ["open", "scratch"] {
        apply(srv, &admin, s, &open_contract(s)).await;
    }
    // Consumers of team payments: the one that reads, one to reject, one to remove.
    for stream in ["orders", "open"] {
        for service in ["payments-app", "payments-reject", "payments-spare"] {
            let c = must(
                srv,
                &consumer,
                "POST",
                &format!("/v1/streams/{stream}/consumers"),
                json!({"service": service, "team": "payments"}),
            )
            .await;
            if service == "payments-app" && c["status"] != "active" {
                must(
                    srv,
                    &owner,
                    "POST",
                    &format!("/v1/streams/{stream}/consumers/{service}/approve"),
                    Value::Null,
                )
                .await;
            }
        }
        must(
            srv,
            &owner,
            "PUT",
            &format!("/v1/streams/{stream}/producer"),
            json!({"service": "shop", "team": "checkout"}),
        )
        .await;
    }

    let kek = "matrix-shared";
    must(
        srv,
        &admin,
        "POST",
        "/dek-registry/v1/keks",
        json!({"name": kek, "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await;
    must(
        srv,
        &admin,
        "POST",
        "/dek-registry/v1/keks",
        json!({"name": "matrix-spare", "kmsType": "local-kms", "kmsKeyId": "m"}),
    )
    .await;

    let mut targets: [HashMap<&'static str, String>; 3] = Default::default();
    for (i, (stream, prefix)) in [("orders", "orders"), ("open", "open"), ("", "loose")]
        .into_iter()
        .enumerate()
    {
        let t = &mut targets[i];
        let subject = format!("{prefix}-value");
        let scratch = format!("{prefix}-key");
        for s in [&subject, &scratch] {
            let r = must(
                srv,
                &owner,
                "POST",
                &format!("/subjects/{s}/versions"),
                json!({"schema": schema(&record_of(s), false)}),
            )
            .await;
            must(
                srv,
                &admin,
                "POST",
                &format!("/dek-registry/v1/keks/{kek}/deks/{s}"),
                json!({}),
            )
            .await;
            if *s == subject {
                let id = r["id"].as_i64().expect("id");
                let by_id = must(
                    srv,
                    &admin,
                    "GET",
                    &format!("/schemas/ids/{id}"),
                    Value::Null,
                )
                .await;
                t.insert("id", id.to_string());
                t.insert("guid", by_id["guid"].as_str().expect("guid").to_string());
            }
        }
        t.insert(
            "scratch_record",
            format!("com.acme.{}", record_of(&scratch)),
        );
        t.insert(
            "schema_json",
            Value::String(schema(&record_of(&subject), false)).to_string(),
        );
        t.insert("subject", subject.clone());
        t.insert("scratch", scratch);
        if stream.is_empty() {
            continue;
        }
        t.insert("stream", stream.to_string());
        t.insert(
            "doomed",
            if i == 0 { "vault" } else { "scratch" }.to_string(),
        );
        t.insert("service", "payments-app".to_string());
        t.insert("reject_service", "payments-reject".to_string());
        t.insert("spare_service", "payments-spare".to_string());
        t.insert(
            "contract",
            if i == 0 {
                restricted_contract(stream)
            } else {
                open_contract(stream)
            },
        );
        // An incompatible candidate (a required field added) opens a proposal.
        let p = must(
            srv,
            &owner,
            "POST",
            &format!("/v1/streams/{stream}/proposals"),
            json!({"schema": schema(&record_of(&subject), true)}),
        )
        .await;
        t.insert(
            "proposal",
            p["id"].as_i64().expect("proposal id").to_string(),
        );
    }

    let mut global = HashMap::new();
    global.insert("kek", kek.to_string());
    global.insert("spare_kek", "matrix-spare".to_string());
    for name in ["webhook", "spare_webhook"] {
        let w = must(
            srv,
            &owner,
            "POST",
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["schema.registered"]}),
        )
        .await;
        global.insert(name, w["id"].as_str().expect("webhook id").to_string());
    }
    for name in ["exporter", "spare_exporter"] {
        let e = must(
            srv,
            &admin,
            "POST",
            "/exporters",
            json!({"name": format!("matrix-{name}"), "config": {"schema.registry.url": "http://127.0.0.1:9"}}),
        )
        .await;
        global.insert(name, e["name"].as_str().expect("exporter name").to_string());
    }
    global.insert("doomed_principal", "doomed-svc".to_string());
    global.insert("doomed_key", doomed.id.clone());

    World {
        keys: [
            None,
            Some(reader),
            Some(owner),
            Some(other),
            Some(consumer),
            Some(admin),
        ],
        me,
        global,
        targets,
    }
}

// ---- the run ----

/// `/a/{x}/b?q` → `/a/{}/b`: routes compared whatever their placeholders are called.
fn shape(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every (METHOD, route shape) of the generated OpenAPI document.
fn documented_routes() -> BTreeSet<(String, String)> {
    let doc: Value =
        serde_json::from_str(&accord_server::openapi::document()).expect("OpenAPI JSON");
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("operations").keys() {
            if ["get", "put", "post", "delete", "patch", "head"].contains(&method.as_str()) {
                out.insert((method.to_ascii_uppercase(), shape(path)));
            }
        }
    }
    out
}

/// The documented route a row's path reaches, as the router picks it: same method and
/// segments, a literal segment of the row matching the route's literal or a parameter,
/// the most literal matches winning (`/subjects/{s}/versions/latest` is
/// `/subjects/{}/versions/{}`).
fn route_of(
    documented: &BTreeSet<(String, String)>,
    method: &str,
    path: &str,
) -> Option<(String, String)> {
    let row = shape(path);
    let row: Vec<&str> = row.split('/').collect();
    documented
        .iter()
        .filter(|(m, _)| m == method)
        .filter_map(|(m, route)| {
            let segs: Vec<&str> = route.split('/').collect();
            if segs.len() != row.len() {
                return None;
            }
            let mut literal = 0;
            for (d, r) in segs.iter().zip(&row) {
                if d == r {
                    literal += usize::from(*d != "{}");
                } else if *d != "{}" {
                    return None;
                }
            }
            Some((literal, (m.clone(), route.clone())))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, r)| r)
}

#[test]
fn every_route_has_a_row_and_every_row_a_route() {
    let documented = documented_routes();
    let mut rows = BTreeSet::new();
    let mut stale = Vec::new();
    for r in TABLE {
        match route_of(&documented, r.method, r.path) {
            Some(route) => {
                rows.insert(route);
            }
            None => stale.push(format!("{} {}", r.method, r.path)),
        }
    }
    let missing: Vec<_> = documented.difference(&rows).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row in the access matrix: {missing:?}\nrows whose route is not in the OpenAPI document: {stale:?}"
    );
    for r in TABLE {
        let exps: Vec<&str> = match r.on {
            G(x) => vec![x],
            S(a, b, c) => vec![a, b, c],
            St(a, b) => vec![a, b],
        };
        for e in exps {
            let tokens: Vec<&str> = e.split_whitespace().collect();
            assert_eq!(tokens.len(), CALLERS.len(), "{} {}: {e}", r.method, r.path);
            assert!(
                tokens
                    .iter()
                    .all(|t| ["401", "403", "404", "[]", "ok"].contains(t)),
                "{} {}: {e}",
                r.method,
                r.path
            );
        }
    }
}

fn fill(template: &str, vars: &HashMap<&'static str, String>) -> String {
    let mut s = template.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn matches(expected: &str, status: u16, body: &str) -> bool {
    match expected {
        "ok" => status != 401 && status != 403,
        "[]" => status == 200 && body.trim() == "[]",
        x => x == status.to_string(),
    }
}

dual!(access_matrix, |srv| {
    let started = std::time::Instant::now();
    let world = fixtures(&mut srv).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    let names = ["restricted", "open", "loose"];
    // ACCORD_MATRIX_VERBOSE=1 prints every cell's status (to check the fixtures).
    let verbose = std::env::var("ACCORD_MATRIX_VERBOSE").is_ok_and(|v| v == "1");
    for row in TABLE {
        let runs: Vec<(&str, Option<usize>, &str)> = match row.on {
            G(x) => vec![("global", None, x)],
            S(r, o, l) => vec![
                (names[0], Some(0), r),
                (names[1], Some(1), o),
                (names[2], Some(2), l),
            ],
            St(r, o) => vec![(names[0], Some(0), r), (names[1], Some(1), o)],
        };
        for (target, t, expectation) in runs {
            let expected: Vec<&str> = expectation.split_whitespace().collect();
            for caller in RUN_ORDER {
                let mut vars = world.global.clone();
                if let Some(t) = t {
                    vars.extend(world.targets[t].iter().map(|(k, v)| (*k, v.clone())));
                }
                vars.extend(world.me[caller].iter().map(|(k, v)| (*k, v.clone())));
                let path = fill(row.path, &vars);
                assert!(!path.contains('{'), "unfilled placeholder in {path}");
                let body = match row.body {
                    Body::None => None,
                    Body::Json(b) => Some(("application/json", fill(b, &vars))),
                    Body::Contract => Some(("application/yaml", vars["contract"].clone())),
                };
                let resp = send(&srv, world.keys[caller].as_ref(), row.method, &path, body).await;
                cells += 1;
                let status = resp.status.as_u16();
                if verbose {
                    eprintln!(
                        "{status} {} {path} [{target}] as {}",
                        row.method, CALLERS[caller]
                    );
                }
                if status >= 500 || !matches(expected[caller], status, &resp.text) {
                    failures.push(format!(
                        "{} {path} [{target}] as {}: expected {}, got {status} {}",
                        row.method,
                        CALLERS[caller],
                        expected[caller],
                        resp.text.chars().take(200).collect::<String>()
                    ));
                }
            }
        }
    }
    eprintln!(
        "access matrix: {} rows, {cells} cells in {:?}",
        TABLE.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the access matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
});
