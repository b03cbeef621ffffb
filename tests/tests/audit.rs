//! The audit log, end to end: one entry per mutation kind with who did it, a chain that
//! verifies, and a tampered row that is detected (over the API; the CLI's offline
//! verify is tested in cli/tests/admin_commands.rs).

mod common;

use common::auth::{call, principal_with_key, restart_with_auth};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn actions(log: &Value) -> Vec<(String, String, String)> {
    log.as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["principal"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

dual!(every_mutation_kind_is_audited_with_its_principal, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "ann", "role": "member", "team": "orders"}),
    )
    .await;
    let m = Some(member.basic());
    let m = m.as_deref();
    let send = |method: Method, path: &'static str, body: Option<Value>| {
        let srv = &srv;
        async move { call(srv, method, path, m, body).await.ok() }
    };
    // Registry-wide config and mode are admin-only (tests/tests/access_hardening.rs).
    let ad = Some(admin.basic());
    let ad = ad.as_deref();
    let send_admin = |method: Method, path: &'static str, body: Option<Value>| {
        let srv = &srv;
        async move { call(srv, method, path, ad, body).await.ok() }
    };
    send(
        Method::POST,
        "/subjects/s/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await;
    // Registering the same schema again changes nothing and writes no entry.
    send(
        Method::POST,
        "/subjects/s/versions",
        Some(json!({"schema": USER_V1})),
    )
    .await;
    send(
        Method::POST,
        "/subjects/s/versions",
        Some(json!({"schema": USER_V2_OPTIONAL})),
    )
    .await;
    send(
        Method::POST,
        "/subjects/s/versions/2/tags",
        Some(json!({"metadata": {"properties": {"owner": "ann"}}})),
    )
    .await;
    send(Method::DELETE, "/subjects/s/versions/1", None).await;
    send(
        Method::DELETE,
        "/subjects/s/versions/1?permanent=true",
        None,
    )
    .await;
    send_admin(
        Method::PUT,
        "/config",
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    send(
        Method::PUT,
        "/config/s",
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    send(Method::DELETE, "/config/s", None).await;
    send_admin(Method::DELETE, "/config", None).await;
    send(Method::PUT, "/mode/s", Some(json!({"mode": "READONLY"}))).await;
    send(Method::DELETE, "/mode/s", None).await;
    send(Method::DELETE, "/subjects/s", None).await;
    send(Method::DELETE, "/subjects/s?permanent=true", None).await;
    send(
        Method::POST,
        "/subjects/gone/versions",
        Some(json!({"schema": "\"int\""})),
    )
    .await;
    send(Method::DELETE, "/subjects/gone", None).await;
    // IMPORT purges the soft-deleted versions: its own entry, then the mode change.
    send_admin(Method::PUT, "/mode", Some(json!({"mode": "IMPORT"}))).await;
    send_admin(Method::DELETE, "/mode", None).await;

    let a = Some(admin.basic());
    let log = call(
        &srv,
        Method::GET,
        "/v1/audit?limit=1000",
        a.as_deref(),
        None,
    )
    .await
    .ok();
    let got = actions(&log);
    let k = &member.id;
    let expected: Vec<(&str, &str, String)> = vec![
        ("bootstrap", "principal.create", "principal:admin".into()),
        (
            "bootstrap",
            "key.create",
            format!("principal:admin/key:{}", admin.id),
        ),
        ("admin", "principal.create", "principal:ann".into()),
        ("admin", "key.create", format!("principal:ann/key:{k}")),
        ("ann", "subject.register", "subject:s".into()),
        ("ann", "subject.register", "subject:s".into()),
        ("ann", "subject.tags", "subject:s".into()),
        ("ann", "version.delete", "subject:s/version:1".into()),
        (
            "ann",
            "version.delete_permanent",
            "subject:s/version:1".into(),
        ),
        ("admin", "config.put", "config".into()),
        ("ann", "config.put", "config:s".into()),
        ("ann", "config.delete", "config:s".into()),
        ("admin", "config.delete", "config".into()),
        ("ann", "mode.put", "mode:s".into()),
        ("ann", "mode.delete", "mode:s".into()),
        ("ann", "subject.delete", "subject:s".into()),
        ("ann", "subject.delete_permanent", "subject:s".into()),
        ("ann", "subject.register", "subject:gone".into()),
        ("ann", "subject.delete", "subject:gone".into()),
        ("admin", "mode.import_purge", "mode".into()),
        ("admin", "mode.put", "mode".into()),
        ("admin", "mode.delete", "mode".into()),
    ];
    let expected: Vec<(String, String, String)> = expected
        .into_iter()
        .map(|(p, a, t)| (p.to_string(), a.to_string(), t))
        .collect();
    assert_eq!(got, expected);

    // Entries are numbered from 1, chained, and carry digests where state existed.
    let entries = log.as_array().unwrap();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], (i + 1) as i64);
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
        if i > 0 {
            assert_eq!(e["prevHash"], entries[i - 1]["hash"]);
        }
    }
    assert!(entries[4].get("beforeDigest").is_none());
    assert!(entries[5]["beforeDigest"].is_string() && entries[5]["afterDigest"].is_string());
    assert!(entries[8].get("afterDigest").is_none());
    // Paging.
    let page = call(
        &srv,
        Method::GET,
        "/v1/audit?after=20&limit=5",
        a.as_deref(),
        None,
    )
    .await
    .ok();
    let seqs: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [21, 22]);
    call(&srv, Method::GET, "/v1/audit?after=x", a.as_deref(), None)
        .await
        .assert_error(422, 422);

    let v = call(&srv, Method::GET, "/v1/audit/verify", a.as_deref(), None)
        .await
        .ok();
    assert_eq!(v, json!({"ok": true, "entries": 22}));
});

dual!(a_tampered_row_is_detected, |srv| {
    srv.register("t", USER_V1, json!({})).await;
    srv.put("/config", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.register("t", "\"string\"", json!({})).await;
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": true, "entries": 3})
    );
    // Rewrite history: entry 2 claims another action.
    let store = srv.server.as_ref().unwrap().state.registry.store.clone();
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("UPDATE audit_log SET action = 'config.delete' WHERE seq = 2")
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": false, "entries": 2, "firstBadSeq": 2})
    );
    // Recomputing that row's hash too does not help: the next link breaks.
    let log = srv.get("/v1/audit").await.ok();
    let mut e2: accord_server::audit::AuditEntry = accord_server::audit::AuditEntry {
        seq: 2,
        at: log[1]["at"].as_i64().unwrap(),
        principal: "anonymous".into(),
        action: "config.delete".into(),
        target: log[1]["target"].as_str().unwrap().into(),
        before_digest: log[1]["beforeDigest"].as_str().map(String::from),
        after_digest: log[1]["afterDigest"].as_str().map(String::from),
        prev_hash: log[1]["prevHash"].as_str().unwrap().into(),
        hash: String::new(),
    };
    e2.hash = accord_server::audit::entry_hash(&e2);
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 2")
        .bind(&e2.hash)
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": false, "entries": 3, "firstBadSeq": 3})
    );
    // A deleted row is a gap.
    let mut w = store.begin_write().await.unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 1")
        .execute(&mut *w.tx)
        .await
        .unwrap();
    w.commit().await.unwrap();
    assert_eq!(srv.get("/v1/audit/verify").await.ok()["firstBadSeq"], 1);
});
