//! Identity and access control, end to end with auth on: 401 without or with wrong
//! credentials (Basic and Bearer), 403 for a reader writing, members registering,
//! admins managing principals and keys, secrets shown once and stored hashed.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth, Key};
use common::*;
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

dual!(missing_or_wrong_credentials_are_401, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    // No credentials.
    let r = call(&srv, Method::GET, "/subjects", None, None).await;
    r.assert_error(401, 401);
    // Wrong secret, Basic and Bearer; unknown key; malformed header.
    let wrong = Key {
        id: admin.id.clone(),
        secret: "0".repeat(64),
    };
    for auth in [
        wrong.basic(),
        wrong.bearer(),
        "Bearer ak_0000000000000000.abc".to_string(),
        "Bearer nodot".to_string(),
        "Basic !!!".to_string(),
        "Negotiate xyz".to_string(),
    ] {
        let r = call(&srv, Method::GET, "/subjects", Some(&auth), None).await;
        r.assert_error(401, 401);
    }
    let r = call(
        &srv,
        Method::POST,
        "/subjects/s/versions",
        None,
        Some(json!({"schema": USER_V1})),
    )
    .await;
    r.assert_error(401, 401);
    // The right key, both ways.
    for auth in [admin.basic(), admin.bearer()] {
        assert_eq!(
            call(&srv, Method::GET, "/subjects", Some(&auth), None)
                .await
                .ok(),
            json!([])
        );
    }
    // Operations endpoints stay open.
    assert_eq!(
        call(&srv, Method::GET, "/health/live", None, None)
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(
        call(&srv, Method::GET, "/metrics", None, None)
            .await
            .status
            .as_u16(),
        200
    );
});

dual!(roles_reader_member_admin, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let reader = principal_with_key(
        &srv,
        &admin,
        json!({"name": "rita", "role": "reader", "kind": "user"}),
    )
    .await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "orders-svc", "role": "member", "kind": "service", "team": "orders"}),
    )
    .await;

    // A member registers (Basic, as Confluent clients send it) and sets config/mode.
    let r = call(
        &srv,
        Method::POST,
        "/subjects/orders-value/versions",
        Some(&member.basic()),
        Some(json!({"schema": USER_V1})),
    )
    .await;
    assert_eq!(r.ok()["version"], 1);
    call(
        &srv,
        Method::PUT,
        "/config/orders-value",
        Some(&member.bearer()),
        Some(json!({"compatibility": "FULL"})),
    )
    .await
    .ok();

    // A reader reads, looks up and tests compatibility, but cannot write: 403 / 40301.
    call(
        &srv,
        Method::GET,
        "/subjects/orders-value/versions/1",
        Some(&reader.basic()),
        None,
    )
    .await
    .ok();
    call(
        &srv,
        Method::POST,
        "/subjects/orders-value",
        Some(&reader.basic()),
        Some(json!({"schema": USER_V1})),
    )
    .await
    .ok();
    call(
        &srv,
        Method::POST,
        "/compatibility/subjects/orders-value/versions/latest",
        Some(&reader.basic()),
        Some(json!({"schema": USER_V2_OPTIONAL})),
    )
    .await
    .ok();
    for (method, path, body) in [
        (
            Method::POST,
            "/subjects/orders-value/versions",
            Some(json!({"schema": USER_V2_OPTIONAL})),
        ),
        (Method::DELETE, "/subjects/orders-value", None),
        (
            Method::PUT,
            "/config",
            Some(json!({"compatibility": "NONE"})),
        ),
        (Method::PUT, "/mode", Some(json!({"mode": "READONLY"}))),
    ] {
        let r = call(&srv, method, path, Some(&reader.bearer()), body).await;
        let msg = r.assert_error(403, 40301);
        assert!(msg.contains("rita"), "{msg}");
    }

    // Only admins manage principals and read the audit log.
    for who in [&reader, &member] {
        call(
            &srv,
            Method::GET,
            "/v1/principals",
            Some(&who.basic()),
            None,
        )
        .await
        .assert_error(403, 40301);
        call(
            &srv,
            Method::POST,
            "/v1/principals",
            Some(&who.basic()),
            Some(json!({"name": "eve", "role": "admin"})),
        )
        .await
        .assert_error(403, 40301);
        call(&srv, Method::GET, "/v1/audit", Some(&who.basic()), None)
            .await
            .assert_error(403, 40301);
    }
    // Spellings that dodge the prefix check must not reach admin routes.
    for path in [
        "/v1/%70rincipals",
        "/v1/principals/",
        "//v1/principals",
        "/v1/audit/",
    ] {
        let r = call(&srv, Method::GET, path, Some(&reader.basic()), None).await;
        assert!(
            matches!(r.status.as_u16(), 403 | 404),
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    let list = call(
        &srv,
        Method::GET,
        "/v1/principals",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "orders-svc", "rita"]);
    let svc = &list[1];
    assert_eq!(
        (
            svc["kind"].as_str(),
            svc["role"].as_str(),
            svc["team"].as_str()
        ),
        (Some("service"), Some("member"), Some("orders"))
    );
    assert_eq!(svc["keyIds"], json!([member.id]));
    assert!(!list.to_string().contains(&member.secret));
});

dual!(admin_manages_principals_and_keys, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let a = Some(admin.basic());
    let a = a.as_deref();
    // Validation: bad names, unknown roles, members without a team, duplicates.
    for bad in [
        json!({"name": "", "role": "reader"}),
        json!({"name": "has space", "role": "reader"}),
        json!({"name": "m", "role": "member"}),
        json!({"name": "anonymous", "role": "admin"}),
        json!({"name": "Anonymous", "role": "member", "team": "checkout"}),
    ] {
        call(&srv, Method::POST, "/v1/principals", a, Some(bad))
            .await
            .assert_error(422, 422);
    }
    for bad in [
        json!({"name": "x", "role": "owner"}),
        json!({"name": "x", "role": "reader", "kind": "robot"}),
        json!({"role": "reader"}),
    ] {
        call(&srv, Method::POST, "/v1/principals", a, Some(bad))
            .await
            .assert_error(400, 400);
    }
    let p = call(
        &srv,
        Method::POST,
        "/v1/principals",
        a,
        Some(json!({"name": "bob", "role": "reader"})),
    )
    .await
    .ok();
    assert_eq!(
        (p["name"].as_str(), p["kind"].as_str(), p["role"].as_str()),
        (Some("bob"), Some("user"), Some("reader"))
    );
    call(
        &srv,
        Method::POST,
        "/v1/principals",
        a,
        Some(json!({"name": "bob", "role": "admin"})),
    )
    .await
    .assert_error(409, 40950);
    call(&srv, Method::POST, "/v1/principals/nobody/keys", a, None)
        .await
        .assert_error(404, 40450);

    // Two keys: the secret appears once, in the creation response only.
    let k1 = Key::from_issued(
        &call(&srv, Method::POST, "/v1/principals/bob/keys", a, None)
            .await
            .ok(),
    );
    let k2 = Key::from_issued(
        &call(&srv, Method::POST, "/v1/principals/bob/keys", a, None)
            .await
            .ok(),
    );
    assert_ne!(k1.id, k2.id);
    assert_ne!(k1.secret, k2.secret);
    assert_eq!(k1.secret.len(), 64);
    let listing = call(&srv, Method::GET, "/v1/principals", a, None)
        .await
        .text;
    assert!(listing.contains(&k1.id) && !listing.contains(&k1.secret));

    // Stored hashed with a salt: the row holds neither the secret nor its plain hash.
    let store = &srv.server.as_ref().unwrap().state.registry.store;
    let row = sqlx::query("SELECT salt, secret_hash FROM api_keys WHERE key_id = $1")
        .bind(&k1.id)
        .fetch_one(store.reader())
        .await
        .unwrap();
    let salt: String = row.get("salt");
    let hash: String = row.get("secret_hash");
    assert!(!salt.is_empty() && hash.len() == 64);
    assert!(!hash.contains(&k1.secret) && !salt.contains(&k1.secret));
    let all = sqlx::query("SELECT key_id, salt, secret_hash FROM api_keys")
        .fetch_all(store.reader())
        .await
        .unwrap();
    for r in &all {
        for col in ["key_id", "salt", "secret_hash"] {
            let v: String = r.get(col);
            assert!(!v.contains(&k1.secret) && !v.contains(&k2.secret));
        }
    }

    // Both keys work; a deleted key stops working at once, the other one still works.
    for k in [&k1, &k2] {
        call(&srv, Method::GET, "/subjects", Some(&k.bearer()), None)
            .await
            .ok();
    }
    let path = format!("/v1/principals/bob/keys/{}", k1.id);
    assert_eq!(
        call(&srv, Method::DELETE, &path, a, None).await.ok()["keyId"],
        k1.id.as_str()
    );
    call(&srv, Method::DELETE, &path, a, None)
        .await
        .assert_error(404, 40451);
    call(&srv, Method::GET, "/subjects", Some(&k1.basic()), None)
        .await
        .assert_error(401, 401);
    call(&srv, Method::GET, "/subjects", Some(&k2.basic()), None)
        .await
        .ok();
    // A new admin can do admin things.
    let second = principal_with_key(&srv, &admin, json!({"name": "ops", "role": "admin"})).await;
    call(
        &srv,
        Method::GET,
        "/v1/audit/verify",
        Some(&second.basic()),
        None,
    )
    .await
    .ok();
});

dual!(auth_off_runs_as_anonymous, |srv| {
    // The default: no credentials needed, identity endpoints open (local use).
    srv.register("s", USER_V1, json!({})).await;
    let p = srv
        .post("/v1/principals", json!({"name": "local", "role": "reader"}))
        .await
        .ok();
    assert_eq!(p["name"], "local");
    let log = srv.get("/v1/audit").await.ok();
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["principal"] == "anonymous"));
});
