//! Shared deployments: several nodes on one PostgreSQL behave as one registry; a
//! database outage gives 503 and the node recovers by itself; a SQLite registry
//! survives a restart.

mod common;
use common::proxy::{Mode, Proxy};
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

async fn two_nodes() -> Option<(TestDb, Srv, Srv)> {
    let db = TestDb::new(Db::Postgres).await?;
    let a = Srv::start(config(&db.url)).await;
    let b = Srv::start(config(&db.url)).await;
    Some((db, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registration_through_two_nodes_yields_one_version() {
    let Some((_db, mut a, mut b)) = two_nodes().await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (base, http) = if i % 2 == 0 {
            (a.base.clone(), a.http.clone())
        } else {
            (b.base.clone(), b.http.clone())
        };
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{base}/subjects/race-value/versions"))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .body(json!({"schema": USER_V1}).to_string())
                .send()
                .await
                .expect("sent");
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.expect("json");
            (
                body["id"].as_i64().unwrap(),
                body["version"].as_i64().unwrap(),
            )
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results.dedup();
    assert_eq!(
        results.len(),
        1,
        "one id and one version for all 32: {results:?}"
    );
    assert_eq!(
        a.get("/subjects/race-value/versions").await.ok(),
        json!([1])
    );
    assert_eq!(
        b.get("/subjects/race-value/versions").await.ok(),
        json!([1])
    );

    // Different schemas at once through both nodes: distinct ids, no version lost.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (base, http) = if i % 2 == 0 {
            (a.base.clone(), a.http.clone())
        } else {
            (b.base.clone(), b.http.clone())
        };
        tasks.push(tokio::spawn(async move {
            let schema = format!(
                "{{\"type\":\"fixed\",\"name\":\"F{i}\",\"size\":{}}}",
                i + 1
            );
            let r = http
                .post(format!("{base}/subjects/many-{i}/versions"))
                .header("Content-Type", "application/json")
                .body(json!({"schema": schema}).to_string())
                .send()
                .await
                .expect("sent");
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16, "16 distinct ids: {ids:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_see_each_others_writes() {
    let Some((_db, mut a, mut b)) = two_nodes().await else {
        return;
    };
    let r = a.register("x-value", USER_V1, json!({})).await;
    let id = r["id"].as_i64().unwrap();
    // Read through B at once.
    assert_eq!(
        b.get(&format!("/schemas/ids/{id}")).await.ok()["schema"],
        r["schema"]
    );
    assert_eq!(
        b.get("/subjects/x-value/versions/latest").await.ok()["version"],
        1
    );

    // B's latest is cached now; a new version through A must show on B within a second.
    a.register("x-value", USER_V2_OPTIONAL, json!({})).await;
    wait_until(|| async { b.get("/subjects/x-value/versions/latest").await.ok()["version"] == 2 })
        .await;

    // Config and mode changes through A are seen by B within a second.
    a.put("/config/x-value", json!({"compatibility": "NONE"}))
        .await
        .ok();
    wait_until(|| async { b.get("/config/x-value").await.status == 200 }).await;
    assert_eq!(
        b.register("x-value", "\"int\"", json!({})).await["version"],
        3
    );
    a.put("/mode", json!({"mode": "READONLY"})).await.ok();
    wait_until(|| async {
        b.post("/subjects/x-value/versions", json!({"schema": "\"long\""}))
            .await
            .status
            == 422
    })
    .await;
    a.put("/mode", json!({"mode": "READWRITE"})).await.ok();

    // A soft delete through A: B's latest moves back within a second.
    a.delete("/subjects/x-value/versions/3").await.ok();
    wait_until(|| async { b.get("/subjects/x-value/versions/latest").await.ok()["version"] == 2 })
        .await;

    // B serves schema 3 from its id cache; once A removes the last version using it
    // for good, B answers 40403 within a second.
    let gone = b
        .get("/subjects/x-value/versions/3?deleted=true")
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(b.get(&format!("/schemas/ids/{gone}")).await.status, 200);
    a.delete("/subjects/x-value/versions/3?permanent=true")
        .await
        .ok();
    wait_until(|| async { b.get(&format!("/schemas/ids/{gone}")).await.status == 404 }).await;
    a.stop().await;
    b.stop().await;
}

/// Polls `cond` for at most one second (the promise to other nodes).
async fn wait_until<F, Fut>(cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "not seen within one second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_gives_503_and_the_node_recovers() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (proxy, proxied) = Proxy::for_url(&db.url).await;
    let mut srv = Srv::start(config(&proxied)).await;
    srv.register("o", USER_V1, json!({})).await;

    proxy.set(Mode::Refuse);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Each answers 503 within the acquire timeout (1 s), not after a long wait; the
    // bound asserted leaves room for a loaded machine.
    let timed = |started: Instant| {
        let took = started.elapsed();
        eprintln!("outage answer in {} ms", took.as_millis());
        assert!(took < Duration::from_millis(2500), "503 took {took:?}");
    };
    let t = Instant::now();
    let r = srv
        .post("/subjects/o/versions", json!({"schema": USER_V2_OPTIONAL}))
        .await;
    r.assert_error(503, 50001);
    timed(t);
    let t = Instant::now();
    srv.get("/health/ready").await.assert_error(503, 50001);
    timed(t);
    let t = Instant::now();
    srv.get("/subjects").await.assert_error(503, 50001);
    timed(t);

    proxy.set(Mode::Pass);
    let start = Instant::now();
    loop {
        let r = srv.get("/health/ready").await;
        if r.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not recover: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        srv.register("o", USER_V2_OPTIONAL, json!({})).await["version"],
        2
    );
    srv.stop().await;
}

#[tokio::test]
async fn sqlite_registry_survives_a_restart() {
    let db = TestDb::new(Db::Sqlite).await.unwrap();
    let mut srv = Srv::start(config(&db.url)).await;
    let r = srv.register("keep", USER_V1, json!({})).await;
    srv.register("keep", USER_V2_OPTIONAL, json!({})).await;
    srv.put("/config/keep", json!({"compatibility": "FULL"}))
        .await
        .ok();
    srv.put("/mode/keep", json!({"mode": "READONLY"}))
        .await
        .ok();
    srv.stop().await;

    let mut srv = Srv::start(config(&db.url)).await;
    assert_eq!(srv.get("/subjects/keep/versions").await.ok(), json!([1, 2]));
    assert_eq!(
        srv.get(&format!("/schemas/ids/{}", r["id"])).await.ok()["schema"],
        r["schema"]
    );
    assert_eq!(
        srv.get("/config/keep").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        srv.get("/mode/keep").await.ok(),
        json!({"mode": "READONLY"})
    );
    srv.delete("/mode/keep").await.ok();
    let next = srv.register("fresh", "\"bytes\"", json!({})).await;
    assert!(
        next["id"].as_i64().unwrap() > 2,
        "ids continue after a restart: {next}"
    );
    srv.stop().await;
}
