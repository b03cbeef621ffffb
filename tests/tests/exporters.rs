//! Schema exporters (Confluent's `/exporters`, Schema Linking): a source Accord (on
//! SQLite and on PostgreSQL) pushes to a destination Accord (SQLite) over HTTP, schema
//! ids and versions preserved. Every wait for the worker is bounded ([`eventually`]);
//! nothing here measures time.

mod common;

use common::auth::{call, principal_with_key, restart_with_auth};
use common::{config, Db, Resp, Srv, TestDb, USER_V1, USER_V2_OPTIONAL};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The longest any wait for the worker may take.
const PATIENCE: Duration = Duration::from_secs(60);

const USER_V3: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"city","type":"string","default":""}]}"#;
const USER_V4: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"city","type":"string","default":""},{"name":"zip","type":"string","default":""}]}"#;
const PAYMENT: &str = r#"{"type":"record","name":"Payment","namespace":"com.acme","fields":[{"name":"amount","type":"long"}]}"#;
const OTHER: &str = r#"{"type":"record","name":"Other","namespace":"com.acme","fields":[{"name":"x","type":"int"}]}"#;
const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}"#;
const CUSTOMER: &str = r#"{"type":"record","name":"Customer","namespace":"com.acme","fields":[{"name":"address","type":"com.acme.Address"}]}"#;

/// A destination registry on a database of its own.
struct Dest {
    srv: Srv,
    db: TestDb,
}

async fn destination() -> Dest {
    let db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let srv = Srv::start(config(&db.url)).await;
    Dest { srv, db }
}

/// Polls `probe` until it answers `Some`, for at most [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `subject` percent-encoded for a path.
fn enc(s: &str) -> String {
    s.replace(':', "%3A")
}

/// The versions of `subject` at `srv` (soft-deleted ones too with `deleted`), or none.
async fn versions(srv: &Srv, subject: &str, deleted: bool) -> Option<Vec<i64>> {
    let r = srv
        .get(&format!(
            "/subjects/{}/versions?deleted={deleted}",
            enc(subject)
        ))
        .await;
    (r.status == 200).then(|| {
        r.json()
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| v.as_i64().expect("version"))
            .collect()
    })
}

/// Waits until `subject` at the destination lists exactly `expected`.
async fn wait_versions(dest: &Srv, subject: &str, expected: &[i64]) {
    eventually(
        &format!("{subject} to hold versions {expected:?}"),
        || async {
            (versions(dest, subject, false).await.as_deref() == Some(expected)).then_some(())
        },
    )
    .await
}

/// The same version at both ends: same id, same schema text, same type.
async fn assert_same(src: &Srv, subject: &str, dest: &Srv, dest_subject: &str, version: i64) {
    let a = src
        .get(&format!(
            "/subjects/{}/versions/{version}?deleted=true",
            enc(subject)
        ))
        .await
        .ok();
    let b = dest
        .get(&format!(
            "/subjects/{}/versions/{version}?deleted=true",
            enc(dest_subject)
        ))
        .await
        .ok();
    assert_eq!(a["id"], b["id"], "{subject} v{version} id: {a} vs {b}");
    assert_eq!(a["schema"], b["schema"], "{subject} v{version} schema");
    assert_eq!(a["schemaType"], b["schemaType"]);
    assert_eq!(a["version"], b["version"]);
    let by_id = dest
        .get(&format!(
            "/schemas/ids/{}?subject={}",
            b["id"],
            enc(dest_subject)
        ))
        .await
        .ok();
    assert_eq!(by_id["schema"], a["schema"], "by id at the destination");
}

async fn status(srv: &Srv, name: &str) -> Value {
    srv.get(&format!("/exporters/{name}/status")).await.ok()
}

/// Waits until the exporter's status satisfies `ok`.
async fn wait_status(srv: &Srv, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(&format!("exporter {name}: {what}"), || async {
        let s = status(srv, name).await;
        ok(&s).then_some(s)
    })
    .await
}

async fn put_empty(srv: &Srv, path: &str) -> Resp {
    srv.raw(Method::PUT, path, None).await
}

// ---- create, sync, new version, pause, resume, reset, soft delete, delete ----

dual!(lifecycle, |srv| {
    let dest = destination().await;
    let o1 = srv.register("orders-value", USER_V1, json!({})).await;
    let o2 = srv
        .register("orders-value", USER_V2_OPTIONAL, json!({}))
        .await;
    srv.register("payments-value", PAYMENT, json!({})).await;
    srv.register("other-value", OTHER, json!({})).await;

    let created = srv
        .post(
            "/exporters",
            json!({
                "name": "mirror",
                "subjects": ["orders-value", "payments-value"],
                "subjectRenameFormat": "dc_${subject}",
                "contextType": "CUSTOM",
                "context": "dr",
                "config": {"schema.registry.url": dest.srv.base},
            }),
        )
        .await
        .ok();
    assert_eq!(created, json!({"name": "mirror"}));
    assert_eq!(srv.get("/exporters").await.ok(), json!(["mirror"]));
    let info = srv.get("/exporters/mirror").await.ok();
    assert_eq!(info["contextType"], "CUSTOM");
    assert_eq!(info["context"], ".dr");
    assert_eq!(info["subjectRenameFormat"], "dc_${subject}");
    assert_eq!(info["subjects"], json!(["orders-value", "payments-value"]));
    assert_eq!(info["config"]["schema.registry.url"], dest.srv.base);

    // Runs until the destination holds the same ids and versions.
    let orders = ":.dr:dc_orders-value";
    let payments = ":.dr:dc_payments-value";
    wait_versions(&dest.srv, orders, &[1, 2]).await;
    wait_versions(&dest.srv, payments, &[1]).await;
    for v in [1, 2] {
        assert_same(&srv, "orders-value", &dest.srv, orders, v).await;
    }
    assert_same(&srv, "payments-value", &dest.srv, payments, 1).await;
    assert_eq!(o1["id"], 1);
    assert_eq!(o2["id"], 2);
    let everything = dest.srv.get("/subjects?subjectPrefix=%3A*%3A").await.ok();
    assert_eq!(everything, json!([orders, payments]), "only the selection");
    // The destination subjects are in IMPORT mode.
    assert_eq!(
        dest.srv.get(&format!("/mode/{}", enc(orders))).await.ok()["mode"],
        "IMPORT"
    );
    let s = wait_status(&srv, "mirror", "RUNNING, offset 3", |s| {
        s["state"] == "RUNNING" && s["offset"] == 3
    })
    .await;
    assert!(s["ts"].as_i64().expect("ts") > 0);
    assert!(s.get("trace").is_none(), "{s}");

    // A new version at the source appears at the destination.
    let o3 = srv.register("orders-value", USER_V3, json!({})).await;
    wait_versions(&dest.srv, orders, &[1, 2, 3]).await;
    assert_same(&srv, "orders-value", &dest.srv, orders, 3).await;
    assert_eq!(o3["id"], 5);

    // Paused, it pushes nothing.
    assert_eq!(
        put_empty(&srv, "/exporters/mirror/pause").await.ok(),
        json!({"name": "mirror"})
    );
    assert_eq!(status(&srv, "mirror").await["state"], "PAUSED");
    // Pausing again changes nothing.
    put_empty(&srv, "/exporters/mirror/pause").await.ok();
    srv.register("orders-value", USER_V4, json!({})).await;
    // Three of the worker's ticks: a running exporter would have pushed it by then.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(versions(&dest.srv, orders, true).await, Some(vec![1, 2, 3]));
    assert_eq!(status(&srv, "mirror").await["state"], "PAUSED");

    // Resumed, it does.
    put_empty(&srv, "/exporters/mirror/resume").await.ok();
    assert_ne!(status(&srv, "mirror").await["state"], "PAUSED");
    wait_versions(&dest.srv, orders, &[1, 2, 3, 4]).await;
    assert_same(&srv, "orders-value", &dest.srv, orders, 4).await;
    wait_status(&srv, "mirror", "RUNNING, offset 5", |s| {
        s["state"] == "RUNNING" && s["offset"] == 5
    })
    .await;
    put_empty(&srv, "/exporters/mirror/resume")
        .await
        .assert_error(409, 40961);
    put_empty(&srv, "/exporters/mirror/reset")
        .await
        .assert_error(409, 40963);

    // Reset: offset 0; resumed, everything is pushed again (the destination already
    // has it: nothing changes there).
    put_empty(&srv, "/exporters/mirror/pause").await.ok();
    put_empty(&srv, "/exporters/mirror/reset").await.ok();
    let s = status(&srv, "mirror").await;
    assert_eq!(
        (s["state"].as_str(), s["offset"].as_i64()),
        (Some("PAUSED"), Some(0))
    );
    put_empty(&srv, "/exporters/mirror/resume").await.ok();
    wait_status(&srv, "mirror", "RUNNING, offset 5 again", |s| {
        s["state"] == "RUNNING" && s["offset"] == 5
    })
    .await;
    assert_eq!(
        versions(&dest.srv, orders, true).await,
        Some(vec![1, 2, 3, 4])
    );
    for v in 1..=4 {
        assert_same(&srv, "orders-value", &dest.srv, orders, v).await;
    }

    // A soft delete here is a soft delete there.
    srv.delete("/subjects/orders-value/versions/1").await.ok();
    wait_versions(&dest.srv, orders, &[2, 3, 4]).await;
    assert_eq!(
        versions(&dest.srv, orders, true).await,
        Some(vec![1, 2, 3, 4])
    );

    // Deleted: gone (the destination keeps what it has).
    let r = srv.delete("/exporters/mirror").await;
    assert_eq!(r.status, 204, "{}", r.text);
    status_404(&srv, "mirror").await;
    assert_eq!(srv.get("/exporters").await.ok(), json!([]));
    srv.register("orders-value", OTHER_USER, json!({})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        versions(&dest.srv, orders, true).await,
        Some(vec![1, 2, 3, 4])
    );
    drop(dest.db);
});

const OTHER_USER: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"city","type":"string","default":""},{"name":"zip","type":"string","default":""},{"name":"country","type":"string","default":""}]}"#;

async fn status_404(srv: &Srv, name: &str) {
    srv.get(&format!("/exporters/{name}/status"))
        .await
        .assert_error(404, 40450);
}

// ---- context types, context selection, references ----

dual!(context_types, |srv| {
    let dest = destination().await;
    let eu = srv.register(":.eu:orders-value", USER_V1, json!({})).await;
    let eu2 = srv
        .register(":.eu:orders-value", USER_V2_OPTIONAL, json!({}))
        .await;
    srv.register("address", ADDRESS, json!({})).await;
    let customer = srv
        .register(
            "customer-value",
            CUSTOMER,
            json!({"references": [{"name": "com.acme.Address", "subject": "address", "version": 1}]}),
        )
        .await;
    srv.register("loose", OTHER, json!({})).await;

    // NONE: as is, in the source's own context (ids are per context: 1 and 2 in .eu).
    srv.post(
        "/exporters",
        json!({"name": "as-is", "subjects": [":.eu:*"], "contextType": "none",
               "config": {"schema.registry.url": dest.srv.base}}),
    )
    .await
    .ok();
    wait_versions(&dest.srv, ":.eu:orders-value", &[1, 2]).await;
    assert_eq!((eu["id"].as_i64(), eu2["id"].as_i64()), (Some(1), Some(2)));
    for v in [1, 2] {
        assert_same(&srv, ":.eu:orders-value", &dest.srv, ":.eu:orders-value", v).await;
    }
    assert_eq!(
        srv.get("/exporters/as-is").await.ok()["contextType"],
        "NONE"
    );

    // AUTO (the default): a context named after this registry; a referenced subject goes
    // too, though not selected.
    srv.post(
        "/exporters",
        json!({"name": "auto", "subjects": ["customer-value"],
               "config": {"schema.registry.url": dest.srv.base}}),
    )
    .await
    .ok();
    let ctx = eventually("the AUTO context at the destination", || async {
        let contexts = dest.srv.get("/contexts").await.ok();
        contexts
            .as_array()
            .expect("contexts")
            .iter()
            .filter_map(Value::as_str)
            .find(|c| c.starts_with(".lsrc-"))
            .map(str::to_string)
    })
    .await;
    let dest_customer = format!(":{ctx}:customer-value");
    let dest_address = format!(":{ctx}:address");
    wait_versions(&dest.srv, &dest_customer, &[1]).await;
    wait_versions(&dest.srv, &dest_address, &[1]).await;
    assert_same(&srv, "customer-value", &dest.srv, &dest_customer, 1).await;
    assert_same(&srv, "address", &dest.srv, &dest_address, 1).await;
    let c = dest
        .srv
        .get(&format!("/subjects/{}/versions/1", enc(&dest_customer)))
        .await
        .ok();
    assert_eq!(c["id"], customer["id"]);
    assert_eq!(
        c["references"],
        json!([{"name": "com.acme.Address", "subject": dest_address, "version": 1}])
    );
    assert!(versions(&dest.srv, &format!(":{ctx}:loose"), true)
        .await
        .is_none());
    assert!(versions(&dest.srv, "loose", true).await.is_none());
    let info = srv.get("/exporters/auto").await.ok();
    assert_eq!(info["contextType"], "AUTO");
    assert_eq!(info["subjects"], json!(["customer-value"]));
    assert!(info.get("context").is_none());
    drop(dest);
});

// ---- bad input, Confluent's codes, secrets masked ----

dual!(validation_and_secrets, |srv| {
    let url = "http://127.0.0.1:9";
    let post = |body: Value| srv.post("/exporters", body);
    let m = post(json!({"config": {"schema.registry.url": url}}))
        .await
        .assert_error(409, 40950);
    assert!(m.contains("name"), "{m}");
    post(json!({"name": "bad name", "config": {"schema.registry.url": url}}))
        .await
        .assert_error(409, 40950);
    let m = post(json!({"name": "x"})).await.assert_error(409, 40951);
    assert!(m.contains("config"), "{m}");
    let m = post(json!({"name": "x", "config": {"basic.auth.user.info": "a:b"}}))
        .await
        .assert_error(409, 40951);
    assert!(m.contains("schema.registry.url"), "{m}");
    let m = post(
        json!({"name": "x", "contextType": "SIDEWAYS", "config": {"schema.registry.url": url}}),
    )
    .await
    .assert_error(409, 40951);
    assert!(m.contains("contextType"), "{m}");
    let m =
        post(json!({"name": "x", "contextType": "CUSTOM", "config": {"schema.registry.url": url}}))
            .await
            .assert_error(409, 40951);
    assert!(m.contains("context"), "{m}");
    post(json!({"name": "x", "config": {"schema.registry.url": "ftp://h"}}))
        .await
        .assert_error(409, 40951);
    post(json!({"name": "x", "config": {"schema.registry.url": "http://169.254.169.254/"}}))
        .await
        .assert_error(409, 40951);
    post(json!({"name": "x", "config": {"schema.registry.url": url, "nested": {"a": 1}}}))
        .await
        .assert_error(409, 40951);
    let m =
        post(json!({"name": "x", "subjects": ["ord*"], "config": {"schema.registry.url": url}}))
            .await
            .assert_error(409, 40952);
    assert!(m.contains("ord*"), "{m}");
    let m = post(json!({"name": "x", "subjectRenameFormat": "fixed", "config": {"schema.registry.url": url}}))
        .await
        .assert_error(409, 40952);
    assert!(m.contains("${subject}"), "{m}");
    let m = post(json!({"name": "x", "subject": ["a"], "config": {"schema.registry.url": url}}))
        .await
        .assert_error(400, 400);
    assert!(m.contains("subject"), "{m}");
    post(json!({"name": "x", "subjects": "a", "config": {"schema.registry.url": url}}))
        .await
        .assert_error(400, 400);
    let r = srv
        .raw(
            Method::POST,
            "/exporters",
            Some(("application/json", "{\"name\":".to_string())),
        )
        .await;
    r.assert_error(400, 400);
    assert_eq!(srv.get("/exporters").await.ok(), json!([]), "nothing made");

    // Secrets are answered masked, and a masked one sent back keeps the stored secret.
    let body = json!({"name": "secret", "subjects": [":*:*"],
        "config": {"schema.registry.url": format!("http://key:urlpass@127.0.0.1:9"),
                   "basic.auth.credentials.source": "USER_INFO",
                   "basic.auth.user.info": "key:topsecret", "ssl.key.password": "pw"}});
    post(body.clone()).await.ok();
    post(body).await.assert_error(409, 40960);
    for path in ["/exporters/secret", "/exporters/secret/config"] {
        let r = srv.get(path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for secret in ["topsecret", "urlpass", "\"pw\""] {
            assert!(!r.text.contains(secret), "{path}: {}", r.text);
        }
    }
    let cfg = srv.get("/exporters/secret/config").await.ok();
    assert_eq!(cfg["basic.auth.user.info"], "key:********");
    assert_eq!(cfg["ssl.key.password"], "********");
    assert_eq!(
        cfg["schema.registry.url"],
        "http://key:********@127.0.0.1:9/"
    );
    // Changes need a paused exporter.
    srv.put(
        "/exporters/secret/config",
        json!({"schema.registry.url": url}),
    )
    .await
    .assert_error(409, 40963);
    srv.put("/exporters/secret", json!({"subjects": ["a"]}))
        .await
        .assert_error(409, 40963);
    put_empty(&srv, "/exporters/secret/pause").await.ok();
    srv.put("/exporters/secret", json!({"name": "renamed"}))
        .await
        .assert_error(409, 40950);
    srv.put("/exporters/secret", json!({"subjects": ["*x"]}))
        .await
        .assert_error(409, 40952);
    srv.put("/exporters/secret", json!({"contextType": "WRONG"}))
        .await
        .assert_error(409, 40951);
    srv.put(
        "/exporters/secret/config",
        json!({"basic.auth.user.info": "someone:********"}),
    )
    .await
    .assert_error(409, 40951);
    // GET, edit, PUT: the masked secrets stay as they were.
    let mut edited = cfg.clone();
    edited["extra"] = json!("1");
    srv.put("/exporters/secret/config", edited).await.ok();
    let after = srv.get("/exporters/secret/config").await.ok();
    assert_eq!(after["basic.auth.user.info"], "key:********");
    assert_eq!(after["extra"], "1");
    // null removes a key.
    srv.put("/exporters/secret/config", json!({"extra": null}))
        .await
        .ok();
    assert!(srv
        .get("/exporters/secret/config")
        .await
        .ok()
        .get("extra")
        .is_none());
    let upd = srv
        .put(
            "/exporters/secret",
            json!({"contextType": "CUSTOM", "context": ".dr", "subjects": ["a", "b"]}),
        )
        .await
        .ok();
    assert_eq!(upd, json!({"name": "secret"}));
    let info = srv.get("/exporters/secret").await.ok();
    assert_eq!(info["context"], ".dr");
    assert_eq!(info["subjects"], json!(["a", "b"]));

    // Unknown exporters.
    for (m, p) in [
        (Method::GET, "/exporters/nope"),
        (Method::GET, "/exporters/nope/config"),
        (Method::GET, "/exporters/nope/status"),
        (Method::PUT, "/exporters/nope/pause"),
        (Method::PUT, "/exporters/nope/resume"),
        (Method::PUT, "/exporters/nope/reset"),
        (Method::DELETE, "/exporters/nope"),
    ] {
        srv.raw(m, p, None).await.assert_error(404, 40450);
    }

    // Every change is in the audit log.
    let audit = srv.get("/v1/audit?limit=1000").await;
    let actions: Vec<String> = audit
        .ok()
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    for a in [
        "exporter.create",
        "exporter.pause",
        "exporter.config",
        "exporter.update",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert!(!audit.text.contains("topsecret"));
});

// ---- admins only ----

dual!(admins_only, |srv| {
    let admin = restart_with_auth(&mut srv).await;
    let member = principal_with_key(
        &srv,
        &admin,
        json!({"name": "dev", "role": "member", "team": "checkout"}),
    )
    .await;
    let body = json!({"name": "e", "config": {"schema.registry.url": "http://127.0.0.1:9"}});
    let as_member = |m: Method, p: &'static str, b: Option<Value>| {
        let auth = member.basic();
        let srv = &srv;
        async move { call(srv, m, p, Some(&auth), b).await }
    };
    as_member(Method::POST, "/exporters", Some(body.clone()))
        .await
        .assert_error(403, 40301);
    as_member(Method::GET, "/exporters", None)
        .await
        .assert_error(403, 40301);
    call(
        &srv,
        Method::POST,
        "/exporters",
        Some(&admin.basic()),
        Some(body),
    )
    .await
    .ok();
    for (m, p) in [
        (Method::GET, "/exporters/e"),
        (Method::GET, "/exporters/e/config"),
        (Method::GET, "/exporters/e/status"),
    ] {
        as_member(m, p, None).await.assert_error(403, 40301);
    }
    for (m, p) in [
        (Method::PUT, "/exporters/e/pause"),
        (Method::DELETE, "/exporters/e"),
    ] {
        as_member(m, p, None).await.assert_error(403, 40301);
    }
    call(&srv, Method::GET, "/exporters", None, None)
        .await
        .assert_error(401, 401);
    assert_eq!(
        call(&srv, Method::GET, "/exporters", Some(&admin.basic()), None)
            .await
            .ok(),
        json!(["e"])
    );
    // The refusals are audited: reads by the exporters' check, writes by the policy.
    let entries = call(
        &srv,
        Method::GET,
        "/v1/audit?limit=1000",
        Some(&admin.basic()),
        None,
    )
    .await
    .ok();
    let by_dev: Vec<&str> = entries
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["principal"] == "dev")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        by_dev
            .iter()
            .filter(|a| **a == "exporter.read.denied")
            .count(),
        4,
        "{by_dev:?}"
    );
    assert_eq!(
        by_dev.iter().filter(|a| **a == "request.denied").count(),
        3,
        "{by_dev:?}"
    );
});

// ---- a destination that is down, then back; one that wants credentials ----

dual!(destination_down_then_back, |srv| {
    let mut dest = destination().await;
    let addr = dest.srv.server.as_ref().expect("running").addr;
    dest.srv.stop().await;
    let v1 = srv.register("orders-value", USER_V1, json!({})).await;
    srv.post(
        "/exporters",
        json!({"name": "flaky", "subjects": ["*"], "contextType": "NONE",
               "config": {"schema.registry.url": format!("http://{addr}"),
                          "basic.auth.user.info": "someone:sekrit"}}),
    )
    .await
    .ok();
    let s = wait_status(&srv, "flaky", "ERROR", |s| s["state"] == "ERROR").await;
    let trace = s["trace"].as_str().expect("trace");
    assert!(trace.contains("connection"), "{trace}");
    assert!(!trace.contains("sekrit"), "{trace}");

    // Back on the same address: the exporter recovers by itself.
    let mut cfg = config(&dest.db.url);
    cfg.listen = addr;
    dest.srv = Srv::start(cfg).await;
    wait_status(&srv, "flaky", "RUNNING again", |s| {
        s["state"] == "RUNNING" && s["offset"] == 1
    })
    .await;
    wait_versions(&dest.srv, "orders-value", &[1]).await;
    assert_same(&srv, "orders-value", &dest.srv, "orders-value", 1).await;
    assert_eq!(v1["id"], 1);
});

dual!(destination_with_credentials, |srv| {
    let mut dest = destination().await;
    let key = restart_with_auth(&mut dest.srv).await;
    srv.register("orders-value", USER_V1, json!({})).await;
    let wrong = format!("{}:not-the-secret", key.id);
    srv.post(
        "/exporters",
        json!({"name": "authed", "contextType": "CUSTOM", "context": ".copy",
               "config": {"schema.registry.url": dest.srv.base,
                          "basic.auth.credentials.source": "USER_INFO",
                          "basic.auth.user.info": wrong}}),
    )
    .await
    .ok();
    let s = wait_status(&srv, "authed", "ERROR (401)", |s| s["state"] == "ERROR").await;
    let trace = s["trace"].as_str().expect("trace");
    assert!(trace.contains("401"), "{trace}");
    assert!(!trace.contains("not-the-secret"), "{trace}");

    // The right key, given while paused; then another change sends the mask back.
    put_empty(&srv, "/exporters/authed/pause").await.ok();
    srv.put(
        "/exporters/authed/config",
        json!({"basic.auth.user.info": format!("{}:{}", key.id, key.secret)}),
    )
    .await
    .ok();
    let cfg = srv.get("/exporters/authed/config").await.ok();
    srv.put("/exporters/authed/config", cfg).await.ok();
    put_empty(&srv, "/exporters/authed/resume").await.ok();
    eventually("the version at the authenticated destination", || async {
        let r = call(
            &dest.srv,
            Method::GET,
            "/subjects/%3A.copy%3Aorders-value/versions",
            Some(&key.basic()),
            None,
        )
        .await;
        (r.status == 200 && r.json() == json!([1])).then_some(())
    })
    .await;
    wait_status(&srv, "authed", "RUNNING", |s| s["state"] == "RUNNING").await;
});

// ---- several nodes on one PostgreSQL ----

/// Two source nodes share one PostgreSQL: an exporter made through one is paused and
/// resumed through the other, and keeps running when the node that ran it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_exporters() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let dest = destination().await;
    let mut a = Srv::start(config(&db.url)).await;
    let b = Srv::start(config(&db.url)).await;
    a.register("orders-value", USER_V1, json!({})).await;
    a.post(
        "/exporters",
        json!({"name": "shared", "contextType": "NONE",
               "config": {"schema.registry.url": dest.srv.base}}),
    )
    .await
    .ok();
    wait_versions(&dest.srv, "orders-value", &[1]).await;

    put_empty(&b, "/exporters/shared/pause").await.ok();
    assert_eq!(status(&a, "shared").await["state"], "PAUSED");
    a.register("orders-value", USER_V2_OPTIONAL, json!({}))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        versions(&dest.srv, "orders-value", true).await,
        Some(vec![1])
    );
    put_empty(&b, "/exporters/shared/resume").await.ok();
    wait_versions(&dest.srv, "orders-value", &[1, 2]).await;

    // Whichever node ran it, the one left carries on.
    a.stop().await;
    b.register("orders-value", USER_V3, json!({})).await;
    wait_versions(&dest.srv, "orders-value", &[1, 2, 3]).await;
    for v in 1..=3 {
        assert_same(&b, "orders-value", &dest.srv, "orders-value", v).await;
    }
    let mut b = b;
    b.stop().await;
    drop(db);
}

// ---- one node at a time ----

/// Sets the exporter's lease as another node would hold it (or lets it expire).
async fn set_lease(url: &str, name: &str, owner: &str, until_ms: i64) {
    let store = accord_server::storage::Store::connect(url)
        .await
        .expect("store");
    let mut w = store.begin_write().await.expect("write");
    sqlx::query("UPDATE exporters SET lease_owner = $1, lease_until_ms = $2 WHERE name = $3")
        .bind(owner)
        .bind(until_ms)
        .bind(name)
        .execute(&mut *w.tx)
        .await
        .expect("lease");
    w.commit().await.expect("commit");
    store.close().await;
}

dual!(a_lease_keeps_other_nodes_away, |srv| {
    let dest = destination().await;
    let url = common::auth::db_url(&srv);
    srv.register("orders-value", USER_V1, json!({})).await;
    srv.post(
        "/exporters",
        json!({"name": "leased", "contextType": "NONE",
               "config": {"schema.registry.url": dest.srv.base}}),
    )
    .await
    .ok();
    wait_versions(&dest.srv, "orders-value", &[1]).await;

    // Another node holds the lease: this one pushes nothing.
    let later = accord_server::registry::now_ms() + 600_000;
    set_lease(&url, "leased", "another-node", later).await;
    srv.register("orders-value", USER_V2_OPTIONAL, json!({}))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        versions(&dest.srv, "orders-value", true).await,
        Some(vec![1])
    );

    // Its lease expires (that node died): this one takes over.
    set_lease(&url, "leased", "another-node", 0).await;
    wait_versions(&dest.srv, "orders-value", &[1, 2]).await;
    assert_same(&srv, "orders-value", &dest.srv, "orders-value", 2).await;
    drop(dest);
});
