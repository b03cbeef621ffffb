//! Issue 13, the access model: registry-wide config and mode are admin-only (a member's
//! attempt is 403 and audited), state changes a browser could be made to send from
//! another site are refused (the exact attack: a cross-site HTML form that shreds a
//! stream with the browser's cached Basic credentials), and every response carries
//! `X-Content-Type-Options: nosniff` (the catalog's pages also refuse to be framed).

mod common;

use common::auth::{call, db_url, principal_with_key, restart_with_auth, Key};
use common::{config, Srv, ORDERS_CONTRACT, USER_V1};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A response with its headers (the common `Resp` drops them).
struct Full {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Full {
    /// Asserts Confluent's error shape; returns the message.
    fn assert_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status.as_u16(), status, "body {}", self.text);
        let v: Value = serde_json::from_str(&self.text).expect("JSON error body");
        assert_eq!(v["error_code"].as_u64(), Some(code), "{}", self.text);
        v["message"].as_str().expect("message").to_string()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends a request with exactly these headers and body.
async fn send(
    srv: &Srv,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Full {
    let mut req = srv.http.request(method, format!("{}{}", srv.base, path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.expect("request sent");
    Full {
        status: resp.status(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body"),
    }
}

async fn denials(srv: &Srv) -> Vec<(String, String, String)> {
    let store = &srv.server.as_ref().expect("running").state.registry.store;
    sqlx::query_as(
        "SELECT principal, action, target FROM audit_log WHERE action LIKE '%.denied' ORDER BY seq",
    )
    .fetch_all(store.reader())
    .await
    .expect("audit rows")
}

dual!(registry_wide_config_and_mode_are_admin_only, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "checkout-svc", "role": "member", "kind": "service", "team": "checkout"}),
    )
    .await;
    let reader =
        principal_with_key(&srv, &admin, json!({"name": "viewer", "role": "reader"})).await;
    let as_member = |m: Method, p: &'static str, b: Option<Value>| {
        let basic = member.basic();
        let srv = &srv;
        async move { call(srv, m, p, Some(&basic), b).await }
    };

    // Every way to reach the global (or a context's) config and mode.
    let attempts: Vec<(Method, &str, Option<Value>, &str, &str)> = vec![
        (
            Method::PUT,
            "/mode",
            Some(json!({"mode": "READONLY"})),
            "mode.denied",
            "mode",
        ),
        (
            Method::PUT,
            "/mode?force=true",
            Some(json!({"mode": "IMPORT"})),
            "mode.denied",
            "mode",
        ),
        (Method::DELETE, "/mode", None, "mode.denied", "mode"),
        (
            Method::PUT,
            "/config",
            Some(json!({"compatibility": "NONE"})),
            "config.denied",
            "config",
        ),
        (Method::DELETE, "/config", None, "config.denied", "config"),
        // `:.:` is the default context: it unqualifies to the global scope.
        (
            Method::DELETE,
            "/config/:.:",
            None,
            "config.denied",
            "config::.:",
        ),
        (
            Method::DELETE,
            "/mode/%3A.%3A",
            None,
            "mode.denied",
            "mode::.:",
        ),
        (
            Method::PUT,
            "/config/:.other:",
            Some(json!({"compatibility": "NONE"})),
            "config.denied",
            "config::.other:",
        ),
    ];
    for (m, p, b, _, _) in &attempts {
        let msg = as_member(m.clone(), p, b.clone())
            .await
            .assert_error(403, 40301);
        assert!(
            msg.contains("checkout-svc") && msg.contains("member"),
            "{msg}"
        );
    }
    call(
        &srv,
        Method::PUT,
        "/mode",
        Some(&reader.basic()),
        Some(json!({"mode": "READONLY"})),
    )
    .await
    .assert_error(403, 40301);
    // Nothing changed.
    assert_eq!(srv.get("/mode").await.status, 401);
    let get = |p: &'static str| {
        let basic = member.basic();
        let srv = &srv;
        async move { call(srv, Method::GET, p, Some(&basic), None).await }
    };
    assert_eq!(get("/mode").await.ok()["mode"], "READWRITE");
    assert_eq!(get("/config").await.ok()["compatibilityLevel"], "BACKWARD");
    // Each refusal is in the audit log, under the caller's name.
    let mut expected: Vec<(String, String, String)> = attempts
        .iter()
        .map(|(_, _, _, a, t)| ("checkout-svc".to_string(), a.to_string(), t.to_string()))
        .collect();
    expected.push(("viewer".into(), "mode.denied".into(), "mode".into()));
    assert_eq!(denials(&srv).await, expected);
    let verify = call(
        &srv,
        Method::GET,
        "/v1/audit/verify",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(verify["ok"], true, "{verify}");

    // Subject-level config and mode stay open to members (a subject of no stream).
    as_member(
        Method::PUT,
        "/config/free-value",
        Some(json!({"compatibility": "NONE"})),
    )
    .await
    .ok();
    as_member(
        Method::PUT,
        "/mode/free-value",
        Some(json!({"mode": "READONLY"})),
    )
    .await
    .ok();
    as_member(Method::DELETE, "/mode/:.:free-value", None)
        .await
        .ok();
    as_member(Method::DELETE, "/config/free-value", None)
        .await
        .ok();
    as_member(
        Method::POST,
        "/subjects/free-value/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();

    // Admins may.
    let admin_call = |m: Method, p: &'static str, b: Option<Value>| {
        let basic = admin.basic();
        let srv = &srv;
        async move { call(srv, m, p, Some(&basic), b).await }
    };
    admin_call(
        Method::PUT,
        "/config",
        Some(json!({"compatibility": "FULL"})),
    )
    .await
    .ok();
    admin_call(Method::PUT, "/mode", Some(json!({"mode": "READONLY"})))
        .await
        .ok();
    assert_eq!(get("/mode").await.ok()["mode"], "READONLY");
    admin_call(Method::DELETE, "/mode", None).await.ok();
    admin_call(Method::DELETE, "/config", None).await.ok();
    assert_eq!(get("/mode").await.ok()["mode"], "READWRITE");
    assert_eq!(denials(&srv).await.len(), expected.len());
});

const KMS_SECRET: &str = "access-hardening-secret";

/// A server with a local KMS (for per-entity keys), as `dual!` but configured here.
macro_rules! dual_kms {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: common::Db) {
                let Some(test_db) = common::TestDb::new(db).await else {
                    return;
                };
                let mut cfg = config(&test_db.url);
                cfg.local_kms_secret = Some(KMS_SECRET.to_string());
                #[allow(unused_mut)]
                let mut $srv = Srv::start(cfg).await;
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

/// Restarts `srv` with auth on (and the local KMS), returning a bootstrapped admin key.
async fn restart_with_auth_and_kms(srv: &mut Srv) -> Key {
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
    let mut cfg = config(&url);
    cfg.auth = true;
    cfg.local_kms_secret = Some(KMS_SECRET.to_string());
    *srv = Srv::start(cfg).await;
    Key {
        id: issued.key_id.clone(),
        secret: issued.secret.to_string(),
    }
}

async fn entity_keys(srv: &Srv) -> i64 {
    let store = &srv.server.as_ref().expect("running").state.registry.store;
    sqlx::query_scalar("SELECT COUNT(*) FROM entity_deks WHERE subject = 'orders-value'")
        .fetch_one(store.reader())
        .await
        .expect("count")
}

async fn shreds(srv: &Srv) -> i64 {
    let store = &srv.server.as_ref().expect("running").state.registry.store;
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'stream.shred'")
        .fetch_one(store.reader())
        .await
        .expect("count")
}

dual_kms!(cross_site_state_changes_are_refused, |srv| {
    // A stream with per-entity keys, set up with auth off.
    let contract = send(
        &srv,
        Method::PUT,
        "/v1/streams/orders/contract",
        &[("Content-Type", "application/yaml")],
        Some(ORDERS_CONTRACT),
    )
    .await;
    assert_eq!(contract.status, 200, "{}", contract.text);
    srv.post(
        "/dek-registry/v1/keks",
        json!({"name": "shared", "kmsType": "local-kms", "kmsKeyId": "m", "shared": true}),
    )
    .await
    .ok();
    srv.post(
        "/v1/entity-keys/shared/orders-value",
        json!({"create": true, "entities": [{"entity": "alice"}, {"entity": "bob"}]}),
    )
    .await
    .ok();
    assert_eq!(entity_keys(&srv).await, 2);
    // With auth off too: a local registry is reachable from any page a developer opens.
    send(
        &srv,
        Method::POST,
        "/subjects/s/versions",
        &[
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        Some(&json!({"schema": USER_V1}).to_string()),
    )
    .await
    .assert_error(403, 40301);

    let admin = restart_with_auth_and_kms(&mut srv).await;
    let basic = admin.basic();
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    let auth = ("Authorization", basic.as_str());
    let shred = "/v1/streams/orders/shred";

    // The exact attack: a cross-site HTML form, the browser's cached Basic credentials.
    let msg = send(
        &srv,
        Method::POST,
        shred,
        &[form, auth, ("Origin", "https://evil.example")],
        Some("confirm=yes"),
    )
    .await
    .assert_error(403, 40301);
    assert!(
        msg.contains("Cross-site") && msg.contains("evil.example"),
        "{msg}"
    );
    // The same form where the browser sends Sec-Fetch-Site but no Origin.
    let msg = send(
        &srv,
        Method::POST,
        shred,
        &[form, auth, ("Sec-Fetch-Site", "cross-site")],
        Some("confirm=yes"),
    )
    .await
    .assert_error(403, 40301);
    assert!(msg.contains("Sec-Fetch-Site: cross-site"), "{msg}");
    // A sibling subdomain is another application; `Origin: null` names no host.
    for h in [("Sec-Fetch-Site", "same-site"), ("Origin", "null")] {
        send(
            &srv,
            Method::POST,
            shred,
            &[form, auth, h],
            Some("confirm=yes"),
        )
        .await
        .assert_error(403, 40301);
    }
    // Even a JSON body from another origin (a fetch the attacker's page makes).
    send(
        &srv,
        Method::POST,
        shred,
        &[
            ("Content-Type", "application/json"),
            auth,
            ("Origin", "http://evil.example"),
        ],
        Some("{}"),
    )
    .await
    .assert_error(403, 40301);
    // A form body without Origin (old browsers, or stripped): not a media type we take.
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        send(
            &srv,
            Method::POST,
            shred,
            &[("Content-Type", ct), auth],
            Some("confirm=yes"),
        )
        .await
        .assert_error(415, 415);
    }
    assert_eq!(entity_keys(&srv).await, 2, "nothing shredded");
    assert_eq!(shreds(&srv).await, 0);

    // Normal clients keep working: JSON without Origin, this registry's own origin,
    // `Sec-Fetch-Site: same-origin` or `none`, Confluent's body-less DELETE and POST.
    let json_ct = ("Content-Type", "application/vnd.schemaregistry.v1+json");
    let schema = json!({"schema": USER_V1}).to_string();
    let r = send(
        &srv,
        Method::POST,
        "/subjects/a-value/versions",
        &[json_ct, auth],
        Some(&schema),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let own_origin = srv.base.clone();
    for extra in [
        ("Origin", own_origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Site", "none"),
    ] {
        let r = send(
            &srv,
            Method::POST,
            "/subjects/b-value/versions",
            &[json_ct, auth, extra],
            Some(&schema),
        )
        .await;
        assert_eq!(r.status, 200, "{extra:?}: {}", r.text);
    }
    // A body without Content-Type is read as JSON, as Jersey does (browsers that can
    // send one cross-site send Origin with it).
    let r = send(
        &srv,
        Method::POST,
        "/subjects/c-value/versions",
        &[auth],
        Some(&schema),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(&srv, Method::DELETE, "/subjects/b-value", &[auth], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &srv,
        Method::POST,
        "/v1/principals/admin/keys",
        &[auth],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Reads are not state changes: a cross-site GET is answered (the browser keeps it
    // from the page).
    let r = send(
        &srv,
        Method::GET,
        "/subjects",
        &[auth, ("Origin", "https://evil.example")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // And the legitimate shred still works.
    let r = send(&srv, Method::POST, shred, &[json_ct, auth], Some("{}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(entity_keys(&srv).await, 0);
    assert_eq!(shreds(&srv).await, 1);
});

dual!(
    every_response_says_nosniff_and_pages_refuse_framing,
    |srv| {
        srv.register("orders-value", USER_V1, json!({})).await;
        let cases: Vec<(Method, &str, Option<&str>, u16)> = vec![
            (Method::GET, "/subjects", None, 200),
            (Method::GET, "/schemas/ids/1/schema", None, 200),
            (Method::GET, "/subjects/nope/versions", None, 404),
            (Method::GET, "/no/such/route", None, 404),
            (Method::POST, "/subjects/x/versions", Some("{"), 400),
            (Method::GET, "/metrics", None, 200),
            (Method::GET, "/health/live", None, 200),
            (Method::GET, "/ui", None, 200),
            (Method::GET, "/ui/static/accord.css", None, 200),
            (Method::GET, "/ui/streams/nope", None, 404),
        ];
        for (m, p, body, status) in cases {
            let headers: &[(&str, &str)] = if body.is_some() {
                &[("Content-Type", "application/json")]
            } else {
                &[]
            };
            let r = send(&srv, m, p, headers, body).await;
            assert_eq!(r.status.as_u16(), status, "{p}: {}", r.text);
            assert_eq!(r.header("x-content-type-options"), "nosniff", "{p}");
            if p.starts_with("/ui") {
                assert!(
                    r.header("content-security-policy")
                        .contains("frame-ancestors 'none'"),
                    "{p}: {:?}",
                    r.headers
                );
                assert_eq!(r.header("x-frame-options"), "DENY", "{p}");
            } else {
                assert_eq!(r.header("x-frame-options"), "", "{p}");
            }
        }
        // The refusals of the cross-site check too.
        let r = send(
            &srv,
            Method::DELETE,
            "/subjects/orders-value",
            &[("Origin", "https://evil.example")],
            None,
        )
        .await;
        r.assert_error(403, 40301);
        assert_eq!(r.header("x-content-type-options"), "nosniff");
    }
);
