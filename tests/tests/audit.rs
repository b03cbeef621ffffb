//! The audit log, end to end: one entry per mutation kind with who did it, a chain that
//! verifies, tampering by someone with database access but not the audit key (a
//! rewritten row re-chained with plain SHA-256, a truncated tail) that is detected,
//! refused writes in the log, and a wrong audit key refused at start (over the API; the
//! CLI's offline verify and checkpoint are tested in cli/tests/admin_commands.rs).

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

/// The attacker's tools: database access, no audit key.
mod attacker {
    use accord_server::audit::AuditEntry;
    use accord_server::storage::Store;
    use sha2::{Digest, Sha256};

    /// The plain SHA-256 chain hash (the pre-HMAC formula, which anyone can compute).
    fn plain_hash(e: &AuditEntry) -> String {
        let canonical = serde_json::json!([
            e.seq,
            e.at,
            e.principal,
            e.action,
            e.target,
            e.before_digest,
            e.after_digest
        ])
        .to_string();
        let mut h = Sha256::new();
        h.update(e.prev_hash.as_bytes());
        h.update(canonical.as_bytes());
        hex::encode(h.finalize())
    }

    /// Re-chains every entry from `from` on with plain SHA-256, as an attacker without
    /// the key would after changing an entry.
    pub async fn rechain_plain(store: &Store, from: i64) {
        let all = accord_server::audit::list(store.reader(), 0, 100_000)
            .await
            .unwrap();
        let mut prev = accord_server::audit::GENESIS.to_string();
        let mut w = store.begin_write().await.unwrap();
        for mut e in all {
            if e.seq >= from {
                e.prev_hash = prev.clone();
                e.hash = plain_hash(&e);
                sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
                    .bind(&e.prev_hash)
                    .bind(&e.hash)
                    .bind(e.seq)
                    .execute(&mut *w.tx)
                    .await
                    .unwrap();
            }
            prev = e.hash;
        }
        w.commit().await.unwrap();
    }

    pub async fn exec(store: &Store, sql: &str) {
        let mut w = store.begin_write().await.unwrap();
        sqlx::query(sql).execute(&mut *w.tx).await.unwrap();
        w.commit().await.unwrap();
    }
}

fn store_of(srv: &Srv) -> accord_server::storage::Store {
    srv.server.as_ref().unwrap().state.registry.store.clone()
}

/// Three entries: register, global config, register.
async fn three_entries(srv: &Srv) {
    srv.register("t", USER_V1, json!({})).await;
    srv.put("/config", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.register("t", "\"string\"", json!({})).await;
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": true, "entries": 3})
    );
}

// (a) Rewriting an entry and re-chaining everything after it with plain SHA-256 (all an
// attacker without the key can do) is detected at the altered entry.
dual!(a_rewrite_rechained_without_the_key_is_detected, |srv| {
    three_entries(&srv).await;
    let store = store_of(&srv);
    attacker::exec(
        &store,
        "UPDATE audit_log SET action = 'config.delete' WHERE seq = 2",
    )
    .await;
    let v = srv.get("/v1/audit/verify").await.ok();
    assert_eq!(
        (v["ok"].clone(), v["firstBadSeq"].clone()),
        (json!(false), json!(2))
    );
    attacker::rechain_plain(&store, 2).await;
    let v = srv.get("/v1/audit/verify").await.ok();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBadSeq"], 2, "{v}");
    assert!(
        v["problem"]
            .as_str()
            .unwrap()
            .contains("entry 2 was altered"),
        "{v}"
    );
    // Re-chaining the whole log does not help either: the first entry fails.
    attacker::rechain_plain(&store, 1).await;
    let v = srv.get("/v1/audit/verify").await.ok();
    assert_eq!(v["firstBadSeq"], 1, "{v}");
    // A deleted row is a gap.
    attacker::exec(&store, "DELETE FROM audit_log WHERE seq = 1").await;
    assert_eq!(srv.get("/v1/audit/verify").await.ok()["firstBadSeq"], 1);
});

// (b) Truncation leaves a valid chain; the checkpoint taken before it catches it.
dual!(truncation_is_caught_by_a_checkpoint, |srv| {
    three_entries(&srv).await;
    let cp = srv.get("/v1/audit/checkpoint").await.ok();
    let head = srv.get("/v1/audit").await.ok()[2].clone();
    assert_eq!(cp["seq"], 3);
    assert_eq!(cp["hash"], head["hash"]);
    let token = cp["checkpoint"].as_str().unwrap().to_string();
    assert_eq!(token, format!("3:{}", head["hash"].as_str().unwrap()));
    let with_cp = format!("/v1/audit/verify?checkpoint={token}");
    assert_eq!(
        srv.get(&with_cp).await.ok(),
        json!({"ok": true, "entries": 3})
    );
    // Later entries do not disturb an older checkpoint.
    srv.register("u", USER_V1, json!({})).await;
    assert_eq!(
        srv.get(&with_cp).await.ok(),
        json!({"ok": true, "entries": 4})
    );
    srv.get("/v1/audit/verify?checkpoint=3:zz")
        .await
        .assert_error(422, 422);

    let store = store_of(&srv);
    attacker::exec(&store, "DELETE FROM audit_log WHERE seq >= 3").await;
    // The chain alone still verifies: a tail cut leaves no broken link...
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": true, "entries": 2})
    );
    // ...but the checkpoint's entry is gone.
    let v = srv.get(&with_cp).await.ok();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["firstBadSeq"], 3, "{v}");
    assert!(v["problem"].as_str().unwrap().contains("truncated"), "{v}");
    // An entry at the checkpoint's seq with another hash is a rewrite before it.
    let forged = format!("/v1/audit/verify?checkpoint=2:{}", "0".repeat(64));
    let v = srv.get(&forged).await.ok();
    assert_eq!(
        (v["ok"].clone(), v["firstBadSeq"].clone()),
        (json!(false), json!(2))
    );
    // No checkpoint of a broken log.
    attacker::exec(
        &store,
        "UPDATE audit_log SET principal = 'mallory' WHERE seq = 1",
    )
    .await;
    srv.get("/v1/audit/checkpoint").await.assert_error(422, 422);
});

// (c) A write refused by the access policy is in the audit log with the principal, what
// was attempted and where; refused reads and unauthenticated requests are not.
dual!(refused_writes_are_audited, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "ann", "role": "member", "team": "orders"}),
    )
    .await;
    let reader = principal_with_key(&srv, &admin, json!({"name": "rita", "role": "reader"})).await;
    let m = Some(member.basic());
    let r = Some(reader.basic());
    let a = Some(admin.basic());
    call(
        &srv,
        Method::POST,
        "/v1/principals",
        m.as_deref(),
        Some(json!({"name": "eve", "role": "admin"})),
    )
    .await
    .assert_error(403, 40301);
    call(
        &srv,
        Method::POST,
        "/subjects/x/versions",
        r.as_deref(),
        Some(json!({"schema": USER_V1})),
    )
    .await
    .assert_error(403, 40301);
    call(
        &srv,
        Method::DELETE,
        "/v1/principals/admin/keys/k1",
        m.as_deref(),
        None,
    )
    .await
    .assert_error(403, 40301);
    // Refused by the handler rather than the access policy: a member registering on a
    // subject of another team's stream.
    let contract = json!({
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders-contract",
        "version": "1.0.0", "status": "active", "team": {"name": "checkout"},
        "support": [{"channel": "checkout-oncall", "tool": "email", "url": "mailto:checkout@acme.example"}],
        "customProperties": [{"property": "accord.stream", "value": {"name": "orders"}}]
    });
    call(
        &srv,
        Method::PUT,
        "/v1/streams/orders/contract",
        a.as_deref(),
        Some(contract),
    )
    .await
    .ok();
    call(
        &srv,
        Method::POST,
        "/subjects/orders-value/versions",
        m.as_deref(),
        Some(json!({"schema": USER_V1})),
    )
    .await
    .assert_error(403, 40301);
    // Not audited: a refused read, a read-only POST, and no credentials at all.
    call(&srv, Method::GET, "/v1/audit", m.as_deref(), None)
        .await
        .assert_error(403, 40301);
    call(
        &srv,
        Method::POST,
        "/v1/principals",
        None,
        Some(json!({"name": "eve"})),
    )
    .await
    .assert_error(401, 401);
    let log = call(
        &srv,
        Method::GET,
        "/v1/audit?limit=1000",
        a.as_deref(),
        None,
    )
    .await
    .ok();
    let denied: Vec<(String, String, String)> = actions(&log)
        .into_iter()
        .filter(|(_, action, _)| action.ends_with(".denied"))
        .collect();
    let d = |p: &str, t: &str| (p.to_string(), "request.denied".to_string(), t.to_string());
    assert_eq!(
        denied,
        vec![
            d("ann", "POST /v1/principals"),
            d("rita", "POST /subjects/x/versions"),
            d("ann", "DELETE /v1/principals/admin/keys/k1"),
            d("ann", "POST /subjects/orders-value/versions"),
        ]
    );
    let v = call(&srv, Method::GET, "/v1/audit/verify", a.as_deref(), None)
        .await
        .ok();
    assert_eq!(v["ok"], true, "{v}");
});

// (d) The audit key may not change under a database: its fingerprint is stored at first
// start and another key is refused at start, saying why.
dual!(a_wrong_audit_key_is_refused_at_start, |srv| {
    srv.register("t", USER_V1, json!({})).await;
    let url = common::auth::db_url(&srv);
    srv.stop().await;
    let mut cfg = config(&url);
    cfg.audit_key = Some(accord_server::audit::SecretHex::new("ab".repeat(32)));
    let err = accord_server::start(cfg)
        .await
        .err()
        .expect("a different audit key is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("audit key") && msg.contains("fingerprint"),
        "{msg}"
    );
    assert!(
        !msg.contains(&"ab".repeat(32)),
        "the key is not echoed: {msg}"
    );
    let mut cfg = config(&url);
    cfg.audit_key = Some(accord_server::audit::SecretHex::new("not hex"));
    let err = accord_server::start(cfg)
        .await
        .err()
        .expect("malformed key");
    assert!(format!("{err:#}").contains("64 hex"), "{err:#}");
    // The original key (the default key file) still works.
    srv = Srv::start(config(&url)).await;
    assert_eq!(srv.get("/v1/audit/verify").await.ok()["ok"], true);
});

// A database chained before the audit key existed (plain SHA-256, no fingerprint) is
// re-keyed once at the first start with a key, which the log records.
dual!(a_plain_chain_is_rekeyed_once, |srv| {
    three_entries(&srv).await;
    let store = store_of(&srv);
    let url = common::auth::db_url(&srv);
    // Only the fingerprint missing (the log is keyed): refused, not re-keyed.
    srv.stop().await;
    let st = accord_server::storage::Store::connect(&url).await.unwrap();
    attacker::exec(
        &st,
        "DELETE FROM server_secrets WHERE name = 'audit_key_fingerprint'",
    )
    .await;
    let err = accord_server::start(config(&url))
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("tampered"), "{err:#}");
    // A log from before keys: plain SHA-256 chain.
    attacker::rechain_plain(&st, 1).await;
    st.close().await;
    drop(store);
    srv = Srv::start(config(&url)).await;
    let log = srv.get("/v1/audit").await.ok();
    assert_eq!(log.as_array().unwrap().len(), 4);
    assert_eq!(log[3]["action"], "audit.rekey");
    assert_eq!(log[3]["principal"], "(server)");
    assert_eq!(log[3]["target"], "audit:1..3 (plain chain intact)");
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": true, "entries": 4})
    );
    // Once: a restart does not re-key again.
    let url = common::auth::db_url(&srv);
    srv.stop().await;
    srv = Srv::start(config(&url)).await;
    assert_eq!(
        srv.get("/v1/audit/verify").await.ok(),
        json!({"ok": true, "entries": 4})
    );
});
