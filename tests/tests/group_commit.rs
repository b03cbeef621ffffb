//! Concurrent writers share commits (group commit, `server/src/storage/write.rs`): what
//! a client sees must not change. Many registrations at once, some refused inside the
//! writers' transaction (an incompatible schema, a read-only subject), on SQLite and
//! PostgreSQL: every acknowledged version is stored with its id after a restart, no
//! refused one is, ids stay one per schema and versions have no gaps.

mod common;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const WRITERS: usize = 24;
const EACH: usize = 4;

/// Writer `w`'s `i`-th schema: a record with a field of its own. `required` adds a
/// field without a default (BACKWARD-incompatible with anything before it).
fn schema(w: usize, i: usize, required: bool) -> String {
    let extra = match required {
        true => r#",{"name":"must","type":"string"}"#,
        false => "",
    };
    format!(
        r#"{{"type":"record","name":"R","fields":[{{"name":"id","type":"long"}},{{"name":"f{w}_{i}","type":["null","string"],"default":null}}{extra}]}}"#
    )
}

async fn run(db: Db) {
    let Some(test_db) = TestDb::new(db).await else {
        return;
    };
    let mut srv = Srv::start(config(&test_db.url)).await;
    // Subjects open-{k} take anything; strict-{k} refuse the incompatible ones; the
    // frozen subject refuses every write.
    for k in 0..4 {
        srv.put(
            &format!("/config/open-{k}"),
            json!({"compatibility": "NONE"}),
        )
        .await
        .ok();
        srv.put(
            &format!("/config/strict-{k}"),
            json!({"compatibility": "BACKWARD"}),
        )
        .await
        .ok();
    }
    srv.register("frozen", &schema(999, 0, false), json!({}))
        .await;
    srv.put("/mode/frozen", json!({"mode": "READONLY"}))
        .await
        .ok();

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (base, http) = (srv.base.clone(), srv.http.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..EACH {
                // A mix: open subjects, strict ones with every other schema incompatible,
                // and now and then the frozen subject.
                let (subject, required) = match (w + i) % 5 {
                    0 | 1 => (format!("open-{}", w % 4), false),
                    2 | 3 => (format!("strict-{}", w % 4), (w + i) % 5 == 3),
                    _ => ("frozen".to_string(), false),
                };
                let text = schema(w, i, required);
                let resp = http
                    .post(format!("{base}/subjects/{subject}/versions"))
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .body(json!({ "schema": text }).to_string())
                    .send()
                    .await
                    .expect("answered");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.expect("JSON body");
                out.push((subject, text, status, body));
            }
            out
        }));
    }
    let mut acked: Vec<(String, String, i64, i64)> = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for t in tasks {
        for (subject, text, status, body) in t.await.expect("writer") {
            match status {
                200 => acked.push((
                    subject,
                    text,
                    body["id"].as_i64().expect("id"),
                    body["version"].as_i64().expect("version"),
                )),
                409 | 422 => {
                    assert!(
                        body["error_code"].is_u64(),
                        "Confluent's error shape: {body}"
                    );
                    refused.push((subject, text));
                }
                other => panic!("{subject}: unexpected {other}: {body}"),
            }
        }
    }
    assert!(
        acked.len() >= WRITERS,
        "most writes succeed ({} did)",
        acked.len()
    );
    assert!(
        refused.len() >= WRITERS / 2,
        "the refusals happened ({} did)",
        refused.len()
    );

    // The shared commits show in /metrics: every acknowledged write was committed,
    // in as many transactions or fewer.
    let metrics = srv.get("/metrics").await;
    let counter = |name: &str| -> u64 {
        metrics
            .text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics:\n{}", metrics.text))
    };
    let (commits, writes) = (
        counter("accord_write_commits_total"),
        counter("accord_writes_committed_total"),
    );
    assert!(
        writes >= acked.len() as u64 && commits <= writes,
        "{commits} commits, {writes} writes"
    );
    eprintln!("{writes} writes in {commits} commits");

    // Restarted: everything acknowledged is there, as acknowledged.
    srv.stop().await;
    let mut srv = Srv::start(config(&test_db.url)).await;
    let mut ids: BTreeMap<i64, String> = BTreeMap::new();
    for (subject, text, id, version) in &acked {
        let v = srv
            .get(&format!("/subjects/{subject}/versions/{version}"))
            .await
            .ok();
        assert_eq!(v["id"].as_i64(), Some(*id), "{subject} v{version}");
        assert_eq!(
            v["schema"].as_str(),
            Some(text.as_str()),
            "{subject} v{version}"
        );
        if let Some(other) = ids.insert(*id, text.clone()) {
            assert_eq!(&other, text, "id {id} was given to two schemas");
        }
    }
    // Nothing refused was stored, and no subject has a gap or an extra version.
    for (subject, text) in &refused {
        let r = srv
            .post(&format!("/subjects/{subject}"), json!({ "schema": text }))
            .await;
        assert_eq!(
            r.status.as_u16(),
            404,
            "{subject}: a refused schema is stored: {}",
            r.text
        );
    }
    let subjects: BTreeSet<&str> = acked.iter().map(|(s, ..)| s.as_str()).collect();
    for subject in subjects {
        let versions: Vec<i64> =
            serde_json::from_value(srv.get(&format!("/subjects/{subject}/versions")).await.ok())
                .expect("versions");
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "{subject}");
        let mine = acked.iter().filter(|(s, ..)| s == subject).count();
        let prior = usize::from(subject == "frozen");
        assert_eq!(
            versions.len(),
            mine + prior,
            "{subject}: versions nobody was told of"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_with_refusals_keep_every_promise_sqlite() {
    run(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_with_refusals_keep_every_promise_postgres() {
    run(Db::Postgres).await
}
