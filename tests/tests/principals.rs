//! The principal lifecycle (issue 13), end to end with auth on: listing principals with
//! their keys (never secrets), role and team changes, disabling, enabling and deleting
//! principals, revoking keys, key expiry, rotation, who may do what, the audit entries,
//! and a revocation seen by a second node on the same PostgreSQL within a second.

mod common;

use common::auth::{call, db_url, principal_with_key, restart_with_auth, Key};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `(principal, action, target)` of every audit entry, oldest first.
async fn audit_actions(srv: &Srv, admin: &Key) -> Vec<(String, String, String)> {
    let log = call(
        srv,
        Method::GET,
        "/v1/audit?limit=1000",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    log.as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap_or("").to_string(),
                e["action"].as_str().unwrap_or("").to_string(),
                e["target"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Status of a GET /subjects with `key`.
async fn status_with(srv: &Srv, key: &Key) -> u16 {
    call(srv, Method::GET, "/subjects", Some(&key.basic()), None)
        .await
        .status
        .as_u16()
}

fn key_of<'a>(principal: &'a Value, key_id: &str) -> &'a Value {
    principal["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["keyId"] == key_id)
        .unwrap_or_else(|| panic!("key {key_id} listed in {principal}"))
}

dual!(list_shows_keys_without_secrets, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let bob = principal_with_key(&srv, &admin, json!({"name": "bob", "role": "reader"})).await;
    let all = call(&srv, Method::GET, "/v1/principals", a.as_deref(), None).await;
    assert!(!all.text.contains(&bob.secret) && !all.text.contains(&admin.secret));
    for word in ["secret", "salt", "hash"] {
        assert!(!all.text.to_lowercase().contains(word), "{}", all.text);
    }
    let all = all.ok();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "bob"]);
    let b = &all[1];
    assert_eq!(
        (&b["role"], &b["disabled"], &b["disabledAt"]),
        (&json!("reader"), &json!(false), &Value::Null)
    );
    assert!(b["createdAt"].as_str().unwrap().ends_with('Z'));
    let k = key_of(b, &bob.id);
    assert_eq!(
        (&k["status"], &k["expiresAt"], &k["revokedAt"]),
        (&json!("active"), &Value::Null, &Value::Null)
    );
    // Last use is recorded (in the background, at most once a minute).
    status_with(&srv, &bob).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let one = call(&srv, Method::GET, "/v1/principals/bob", a.as_deref(), None)
            .await
            .ok();
        if key_of(&one, &bob.id)["lastUsedAt"].is_string() {
            assert!(!one.to_string().contains(&bob.secret));
            break;
        }
        assert!(Instant::now() < deadline, "lastUsedAt never set: {one}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A principal reads itself, not others nor the list.
    let me = call(
        &srv,
        Method::GET,
        "/v1/principals/bob",
        Some(&bob.bearer()),
        None,
    )
    .await
    .ok();
    assert_eq!(me["name"], "bob");
    for path in ["/v1/principals", "/v1/principals/admin"] {
        call(&srv, Method::GET, path, Some(&bob.basic()), None)
            .await
            .assert_error(403, 40301);
    }
    call(
        &srv,
        Method::GET,
        "/v1/principals/nobody",
        a.as_deref(),
        None,
    )
    .await
    .assert_error(404, 40450);
});

dual!(role_and_team_changes_apply_to_the_next_request, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let a = a.as_deref();
    let rita = principal_with_key(&srv, &admin, json!({"name": "rita", "role": "reader"})).await;
    let register = |key: Key| {
        let srv = &srv;
        async move {
            call(
                srv,
                Method::POST,
                "/subjects/loose-value/versions",
                Some(&key.basic()),
                Some(json!({"schema": USER_V1})),
            )
            .await
        }
    };
    register(rita.clone()).await.assert_error(403, 40301);
    // A member needs a team.
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(422, 422);
    let p = call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"role": "member", "team": "orders"})),
    )
    .await
    .ok();
    assert_eq!(
        (&p["role"], &p["team"]),
        (&json!("member"), &json!("orders"))
    );
    register(rita.clone()).await.ok();
    // Team only; then removing a member's team is refused.
    let p = call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"team": "billing"})),
    )
    .await
    .ok();
    assert_eq!(
        (&p["role"], &p["team"]),
        (&json!("member"), &json!("billing"))
    );
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"team": null})),
    )
    .await
    .assert_error(422, 422);
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"team": "bad team"})),
    )
    .await
    .assert_error(422, 422);
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"role": "owner"})),
    )
    .await
    .assert_error(400, 400);
    let p = call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"role": "reader", "team": null})),
    )
    .await
    .ok();
    assert_eq!(p["role"], "reader");
    assert!(p.get("team").is_none(), "{p}");
    register(rita.clone()).await.assert_error(403, 40301);
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/nobody",
        a,
        Some(json!({"role": "reader"})),
    )
    .await
    .assert_error(404, 40450);
    // Promoted to admin, rita manages principals.
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/rita",
        a,
        Some(json!({"role": "admin"})),
    )
    .await
    .ok();
    call(
        &srv,
        Method::GET,
        "/v1/principals",
        Some(&rita.basic()),
        None,
    )
    .await
    .ok();
    let log = audit_actions(&srv, &admin).await;
    let updates = log
        .iter()
        .filter(|(p, act, t)| p == "admin" && act == "principal.update" && t == "principal:rita")
        .count();
    assert_eq!(updates, 4, "{log:?}");
});

dual!(disable_enable_delete_and_the_last_admin, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let a = a.as_deref();
    let bob = principal_with_key(&srv, &admin, json!({"name": "bob", "role": "reader"})).await;
    let p = call(&srv, Method::POST, "/v1/principals/bob/disable", a, None)
        .await
        .ok();
    assert_eq!(p["disabled"], true);
    assert!(p["disabledAt"].is_string());
    let msg = call(&srv, Method::GET, "/subjects", Some(&bob.bearer()), None)
        .await
        .assert_error(401, 401);
    assert!(msg.contains("disabled"), "{msg}");
    // Disabling again changes nothing.
    call(&srv, Method::POST, "/v1/principals/bob/disable", a, None)
        .await
        .ok();
    let p = call(&srv, Method::POST, "/v1/principals/bob/enable", a, None)
        .await
        .ok();
    assert_eq!(p["disabled"], false);
    assert_eq!(status_with(&srv, &bob).await, 200);

    // The last enabled admin stays: not disabled, demoted nor deleted (409, audited).
    call(&srv, Method::POST, "/v1/principals/admin/disable", a, None)
        .await
        .assert_error(409, 40951);
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/admin",
        a,
        Some(json!({"role": "reader"})),
    )
    .await
    .assert_error(409, 40951);
    let msg = call(&srv, Method::DELETE, "/v1/principals/admin", a, None)
        .await
        .assert_error(409, 40951);
    assert!(msg.contains("last enabled admin"), "{msg}");
    assert_eq!(status_with(&srv, &admin).await, 200);
    // With a second admin, the first may go.
    let ops = principal_with_key(&srv, &admin, json!({"name": "ops", "role": "admin"})).await;
    let o = Some(ops.basic());
    call(
        &srv,
        Method::POST,
        "/v1/principals/admin/disable",
        o.as_deref(),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&srv, &admin).await, 401);
    // Now ops is the last enabled admin (a disabled admin does not count).
    call(
        &srv,
        Method::DELETE,
        "/v1/principals/ops",
        o.as_deref(),
        None,
    )
    .await
    .assert_error(409, 40951);

    // Delete: the keys go with the principal; the name is free again.
    let d = call(
        &srv,
        Method::DELETE,
        "/v1/principals/bob",
        o.as_deref(),
        None,
    )
    .await
    .ok();
    assert_eq!(d["name"], "bob");
    assert_eq!(status_with(&srv, &bob).await, 401);
    call(&srv, Method::GET, "/v1/principals/bob", o.as_deref(), None)
        .await
        .assert_error(404, 40450);
    call(
        &srv,
        Method::DELETE,
        "/v1/principals/bob",
        o.as_deref(),
        None,
    )
    .await
    .assert_error(404, 40450);
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    let left: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE key_id = $1")
            .bind(&bob.id)
            .fetch_one(store.reader())
            .await
            .unwrap(),
        "n",
    );
    assert_eq!(left, 0);
    principal_with_key(&srv, &ops, json!({"name": "bob", "role": "reader"})).await;

    let log = audit_actions(&srv, &ops).await;
    let has = |p: &str, act: &str, t: &str| {
        log.iter()
            .any(|(lp, la, lt)| lp == p && la == act && lt == t)
    };
    assert!(
        has("admin", "principal.disable", "principal:bob"),
        "{log:?}"
    );
    assert!(has("admin", "principal.enable", "principal:bob"));
    assert!(has("admin", "principal.disable.denied", "principal:admin"));
    assert!(has("admin", "principal.update.denied", "principal:admin"));
    assert!(has("admin", "principal.delete.denied", "principal:admin"));
    assert!(has("ops", "principal.disable", "principal:admin"));
    assert!(has("ops", "principal.delete.denied", "principal:ops"));
    assert!(has("ops", "principal.delete", "principal:bob"));
    // Disabling twice recorded once.
    let disables = log
        .iter()
        .filter(|(_, act, t)| act == "principal.disable" && t == "principal:bob")
        .count();
    assert_eq!(disables, 1);
    let v = call(&srv, Method::GET, "/v1/audit/verify", o.as_deref(), None)
        .await
        .ok();
    assert_eq!(v["ok"], true, "{v}");
});

dual!(revoked_and_expired_keys_are_401, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let a = a.as_deref();
    let bob = principal_with_key(&srv, &admin, json!({"name": "bob", "role": "reader"})).await;
    assert_eq!(status_with(&srv, &bob).await, 200);
    let path = format!("/v1/principals/bob/keys/{}", bob.id);
    call(&srv, Method::DELETE, &path, a, None).await.ok();
    let msg = call(&srv, Method::GET, "/subjects", Some(&bob.basic()), None)
        .await
        .assert_error(401, 401);
    assert!(msg.contains("revoked"), "{msg}");
    // A wrong secret for a revoked key says nothing about the key.
    let wrong = Key {
        id: bob.id.clone(),
        secret: "0".repeat(64),
    };
    let msg = call(&srv, Method::GET, "/subjects", Some(&wrong.basic()), None)
        .await
        .assert_error(401, 401);
    assert_eq!(msg, "Invalid API key");
    call(&srv, Method::DELETE, &path, a, None)
        .await
        .assert_error(404, 40451);
    let listed = call(&srv, Method::GET, "/v1/principals/bob", a, None)
        .await
        .ok();
    let k = key_of(&listed, &bob.id);
    assert_eq!(k["status"], "revoked");
    assert!(k["revokedAt"].is_string());

    // Expiry: invalid ones are refused.
    for bad in [
        json!({"expiresAt": "2001-01-01T00:00:00Z"}),
        json!({"expiresAt": "tomorrow"}),
        json!({"expiresAt": "2099-02-30T00:00:00Z"}),
        json!({"expiresInDays": 0}),
        json!({"expiresInDays": 30, "expiresAt": "2099-01-01T00:00:00Z"}),
    ] {
        call(&srv, Method::POST, "/v1/principals/bob/keys", a, Some(bad))
            .await
            .assert_error(422, 422);
    }
    call(
        &srv,
        Method::POST,
        "/v1/principals/bob/keys",
        a,
        Some(json!({"expiresIn": 3})),
    )
    .await
    .assert_error(400, 400);
    let days = call(
        &srv,
        Method::POST,
        "/v1/principals/bob/keys",
        a,
        Some(json!({"expiresInDays": 30})),
    )
    .await
    .ok();
    assert!(days["expiresAt"].as_str().unwrap().ends_with('Z'), "{days}");
    let offset = call(
        &srv,
        Method::POST,
        "/v1/principals/bob/keys",
        a,
        Some(json!({"expiresAt": "2099-06-01T12:00:00.5+02:00"})),
    )
    .await
    .ok();
    assert_eq!(offset["expiresAt"], "2099-06-01T10:00:00.500Z");
    // A key that expires in about two seconds works, then does not.
    let soon_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 2000;
    let soon = accord_server::webhooks::rfc3339(soon_ms);
    let issued = call(
        &srv,
        Method::POST,
        "/v1/principals/bob/keys",
        a,
        Some(json!({ "expiresAt": soon })),
    )
    .await
    .ok();
    assert_eq!(issued["expiresAt"], soon.as_str());
    let short = Key::from_issued(&issued);
    assert_eq!(status_with(&srv, &short).await, 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let msg = call(&srv, Method::GET, "/subjects", Some(&short.bearer()), None)
        .await
        .assert_error(401, 401);
    assert!(msg.contains("expired"), "{msg}");
    let listed = call(&srv, Method::GET, "/v1/principals/bob", a, None)
        .await
        .ok();
    assert_eq!(key_of(&listed, &short.id)["status"], "expired");
    let log = audit_actions(&srv, &admin).await;
    assert!(log.contains(&(
        "admin".into(),
        "key.revoke".into(),
        format!("principal:bob/key:{}", bob.id)
    )));
});

dual!(rotation_replaces_the_calling_key, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let bob = principal_with_key(
        &srv,
        &admin,
        json!({"name": "bob", "role": "member", "team": "orders"}),
    )
    .await;
    let other = Key::from_issued(
        &call(
            &srv,
            Method::POST,
            "/v1/principals/bob/keys",
            a.as_deref(),
            Some(json!({"expiresInDays": 7})),
        )
        .await
        .ok(),
    );
    // Rotating `other` keeps its expiry; bob's first key is untouched.
    let before = call(&srv, Method::GET, "/v1/principals/bob", a.as_deref(), None)
        .await
        .ok();
    let expiry = key_of(&before, &other.id)["expiresAt"].clone();
    let issued = call(
        &srv,
        Method::POST,
        "/v1/keys/rotate",
        Some(&other.bearer()),
        None,
    )
    .await
    .ok();
    assert_eq!(issued["principal"], "bob");
    assert_eq!(issued["expiresAt"], expiry);
    let new = Key::from_issued(&issued);
    assert_ne!(new.id, other.id);
    assert_eq!(status_with(&srv, &new).await, 200);
    assert_eq!(status_with(&srv, &other).await, 401);
    assert_eq!(status_with(&srv, &bob).await, 200);
    // A reader rotates too; so does an admin.
    let rita = principal_with_key(&srv, &admin, json!({"name": "rita", "role": "reader"})).await;
    let rita2 = Key::from_issued(
        &call(
            &srv,
            Method::POST,
            "/v1/keys/rotate",
            Some(&rita.basic()),
            None,
        )
        .await
        .ok(),
    );
    assert_eq!(status_with(&srv, &rita).await, 401);
    assert_eq!(status_with(&srv, &rita2).await, 200);
    let admin2 = Key::from_issued(
        &call(&srv, Method::POST, "/v1/keys/rotate", a.as_deref(), None)
            .await
            .ok(),
    );
    assert_eq!(status_with(&srv, &admin).await, 401);
    let log = audit_actions(&srv, &admin2).await;
    assert!(log.contains(&(
        "bob".into(),
        "key.rotate".into(),
        format!("principal:bob/key:{}", other.id)
    )));
    assert!(log.contains(&(
        "rita".into(),
        "key.rotate".into(),
        format!("principal:rita/key:{}", rita.id)
    )));
    // The old key's listing says revoked.
    let after = call(
        &srv,
        Method::GET,
        "/v1/principals/bob",
        Some(&admin2.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(key_of(&after, &other.id)["status"], "revoked");
    assert_eq!(key_of(&after, &new.id)["status"], "active");
});

dual!(rotation_needs_a_key, |srv| {
    // Auth off: nothing to rotate.
    srv.post("/v1/keys/rotate", json!({}))
        .await
        .assert_error(422, 422);
});

dual!(non_admins_manage_only_their_own_keys, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let ann = principal_with_key(
        &srv,
        &admin,
        json!({"name": "ann", "role": "member", "team": "orders"}),
    )
    .await;
    let rita = principal_with_key(&srv, &admin, json!({"name": "rita", "role": "reader"})).await;
    let ann2 = Key::from_issued(
        &call(
            &srv,
            Method::POST,
            "/v1/principals/ann/keys",
            Some(&admin.basic()),
            None,
        )
        .await
        .ok(),
    );
    for key in [&ann, &rita] {
        let k = Some(key.basic());
        let k = k.as_deref();
        for (method, path, body) in [
            (Method::GET, "/v1/principals".to_string(), None),
            (
                Method::POST,
                "/v1/principals".to_string(),
                Some(json!({"name": "eve", "role": "admin"})),
            ),
            (Method::GET, "/v1/principals/admin".to_string(), None),
            (
                Method::PATCH,
                "/v1/principals/rita".to_string(),
                Some(json!({"role": "admin"})),
            ),
            (
                Method::PATCH,
                "/v1/principals/ann".to_string(),
                Some(json!({"role": "admin"})),
            ),
            (Method::POST, "/v1/principals/ann/disable".to_string(), None),
            (Method::POST, "/v1/principals/rita/enable".to_string(), None),
            (Method::DELETE, "/v1/principals/admin".to_string(), None),
            (Method::DELETE, "/v1/principals/ann".to_string(), None),
            (Method::POST, "/v1/principals/ann/keys".to_string(), None),
            (
                Method::DELETE,
                format!("/v1/principals/admin/keys/{}", admin.id),
                None,
            ),
        ] {
            let r = call(&srv, method.clone(), &path, k, body).await;
            assert_eq!(r.status.as_u16(), 403, "{method} {path}: {}", r.text);
        }
    }
    // rita may not revoke ann's key, even naming it under her own name.
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/principals/ann/keys/{}", ann2.id),
        Some(&rita.basic()),
        None,
    )
    .await
    .assert_error(403, 40301);
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/principals/rita/keys/{}", ann2.id),
        Some(&rita.basic()),
        None,
    )
    .await
    .assert_error(404, 40451);
    assert_eq!(status_with(&srv, &ann2).await, 200);
    // ann revokes her own second key.
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/principals/ann/keys/{}", ann2.id),
        Some(&ann.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&srv, &ann2).await, 401);
    assert_eq!(status_with(&srv, &ann).await, 200);
    let log = audit_actions(&srv, &admin).await;
    assert!(log.contains(&(
        "ann".into(),
        "key.revoke".into(),
        format!("principal:ann/key:{}", ann2.id)
    )));
    assert!(log.contains(&(
        "rita".into(),
        "request.denied".into(),
        format!("DELETE /v1/principals/ann/keys/{}", ann2.id)
    )));
    assert!(log.contains(&(
        "ann".into(),
        "request.denied".into(),
        "PATCH /v1/principals/ann".into()
    )));
});

/// Two nodes on one PostgreSQL: a key revoked on node A is refused by node B within a
/// second (nothing caches keys; every request reads them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_reaches_every_node_within_a_second() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let mut a = Srv::start(config(&db.url)).await;
    let admin = restart_with_auth(&mut a).await;
    let mut cfg = config(&db_url(&a));
    cfg.auth = true;
    let mut b = Srv::start(cfg).await;
    let bob = principal_with_key(&a, &admin, json!({"name": "bob", "role": "reader"})).await;
    assert_eq!(status_with(&b, &bob).await, 200);
    // Disabling on B is seen by A too.
    call(
        &b,
        Method::POST,
        "/v1/principals/bob/disable",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&a, &bob).await, 401);
    call(
        &b,
        Method::POST,
        "/v1/principals/bob/enable",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&a, &bob).await, 200);
    call(
        &a,
        Method::DELETE,
        &format!("/v1/principals/bob/keys/{}", bob.id),
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    let revoked = Instant::now();
    loop {
        if status_with(&b, &bob).await == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "node B still accepts the revoked key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(revoked.elapsed() < Duration::from_secs(1));
    a.stop().await;
    b.stop().await;
}

dual!(bootstrap_reenables_a_disabled_admin, |srv| {
    // Every admin disabled (only possible behind the API's back): bootstrap is the way
    // back in, enabling the admin again with a new key.
    let admin = restart_with_auth(&mut srv).await;
    let url = db_url(&srv);
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    sqlx::query("UPDATE principals SET disabled_ms = 1")
        .execute(store.reader())
        .await
        .unwrap();
    assert_eq!(status_with(&srv, &admin).await, 401);
    let offline = accord_server::storage::Store::connect(&url)
        .await
        .expect("store");
    let key = accord_server::auth::bootstrap_admin(&offline, "admin", false)
        .await
        .expect("bootstrap")
        .expect("no enabled admin, so a key is made");
    offline.close().await;
    let key = Key {
        id: key.key_id.clone(),
        secret: key.secret.to_string(),
    };
    assert_eq!(status_with(&srv, &key).await, 200);
    assert_eq!(status_with(&srv, &admin).await, 200);
    let log = audit_actions(&srv, &key).await;
    assert!(log.contains(&(
        "bootstrap".into(),
        "principal.enable".into(),
        "principal:admin".into()
    )));
});

dual!(verified_keys_skip_the_database_but_never_a_check, |srv| {
    // A verified key is remembered for a second (issue 16); the cache must never let
    // a wrong secret in, and a change made through this node applies at once.
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let bob = principal_with_key(&srv, &admin, json!({"name": "bob", "role": "reader"})).await;
    assert_eq!(status_with(&srv, &bob).await, 200);
    assert_eq!(status_with(&srv, &bob).await, 200);
    // The right key id with a wrong secret, right after a verified request: 401.
    for wrong in [
        format!("{}x", bob.secret),
        bob.secret[..bob.secret.len() - 1].to_string(),
        String::new(),
    ] {
        let forged = Key {
            id: bob.id.clone(),
            secret: wrong,
        };
        assert_eq!(status_with(&srv, &forged).await, 401);
    }
    assert_eq!(status_with(&srv, &bob).await, 200);
    // A role change applies to the very next request.
    let write = |key: &Key| {
        let basic = key.basic();
        let srv = &srv;
        async move {
            call(
                srv,
                Method::PUT,
                "/config/bobs-value",
                Some(&basic),
                Some(json!({"compatibility": "NONE"})),
            )
            .await
            .status
            .as_u16()
        }
    };
    assert_eq!(write(&bob).await, 403);
    call(
        &srv,
        Method::PATCH,
        "/v1/principals/bob",
        a.as_deref(),
        Some(json!({"role": "member", "team": "bobs"})),
    )
    .await
    .ok();
    assert_eq!(write(&bob).await, 200);
    // So do a disable and a revocation.
    call(
        &srv,
        Method::POST,
        "/v1/principals/bob/disable",
        a.as_deref(),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&srv, &bob).await, 401);
    call(
        &srv,
        Method::POST,
        "/v1/principals/bob/enable",
        a.as_deref(),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&srv, &bob).await, 200);
    call(
        &srv,
        Method::DELETE,
        &format!("/v1/principals/bob/keys/{}", bob.id),
        a.as_deref(),
        None,
    )
    .await
    .ok();
    assert_eq!(status_with(&srv, &bob).await, 401);
});
