//! The latest-version cache's refresh ahead of expiry reads the subjects that come due
//! together in batched statements (`q::latest_versions`). Two nodes share one database:
//! A writes, B serves `versions/latest` from its cache with a short TTL. On SQLite no
//! notice reaches B, so what B answers after a change is what its refreshes (or, past
//! the TTL, its own reads) found; on PostgreSQL notices drop B's entries as well. Either
//! way, every subject must end up with A's answer, including more subjects than one
//! statement reads, a subject whose newest version was soft-deleted and one whose every
//! version was.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SUBJECTS: usize = 40;
const TTL: Duration = Duration::from_millis(400);

fn schema(n: usize, fields: usize) -> String {
    let fields: Vec<Value> = (0..fields)
        .map(|f| json!({"name": format!("f{f}"), "type": ["null", "string"], "default": null}))
        .collect();
    json!({"type": "record", "name": format!("R{n}"), "fields": fields}).to_string()
}

async fn latest(srv: &Srv, subject: &str) -> Option<(i64, i64)> {
    let r = srv
        .get(&format!("/subjects/{subject}/versions/latest"))
        .await;
    if r.status == 404 {
        return None;
    }
    let v = r.ok();
    Some((v["version"].as_i64()?, v["id"].as_i64()?))
}

async fn run(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let a = Srv::start(config(&db.url)).await;
    let mut cfg = config(&db.url);
    cfg.latest_ttl = TTL;
    let b = Srv::start(cfg).await;
    let subjects: Vec<String> = (0..SUBJECTS).map(|i| format!("r{i}-value")).collect();
    for (i, s) in subjects.iter().enumerate() {
        a.register(s, &schema(i, 1), json!({})).await;
    }
    a.register("gone-value", &schema(100, 1), json!({})).await;
    a.register("only-value", &schema(101, 1), json!({})).await;
    // B caches every subject's latest version.
    for s in subjects
        .iter()
        .chain(["gone-value".into(), "only-value".into()].iter())
    {
        assert_eq!(latest(&b, s).await.map(|(v, _)| v), Some(1), "{s}");
    }
    // A changes every subject: a new version each, a newest version soft-deleted, and
    // a subject's only version soft-deleted.
    for (i, s) in subjects.iter().enumerate() {
        a.register(s, &schema(i, 2), json!({})).await;
    }
    a.register("gone-value", &schema(100, 2), json!({})).await;
    assert_eq!(
        a.delete("/subjects/gone-value/versions/2").await.status,
        200
    );
    assert_eq!(
        a.delete("/subjects/only-value/versions/1").await.status,
        200
    );
    let mut expected = Vec::new();
    for s in &subjects {
        expected.push((s.clone(), latest(&a, s).await));
    }
    expected.push(("gone-value".into(), latest(&a, "gone-value").await));
    expected.push(("only-value".into(), None));
    assert_eq!(expected[0].1.map(|(v, _)| v), Some(2));
    assert_eq!(expected[SUBJECTS].1.map(|(v, _)| v), Some(1));
    // B is read steadily, so its entries come due for refresh; within a few TTLs it
    // answers as A does for every subject, and keeps doing so.
    let deadline = Instant::now() + TTL * 10;
    let mut agreeing_rounds = 0;
    loop {
        let mut wrong = Vec::new();
        for (s, want) in &expected {
            let got = latest(&b, s).await;
            if got != *want {
                wrong.push(format!("{s}: {got:?}, A says {want:?}"));
            }
        }
        if wrong.is_empty() {
            agreeing_rounds += 1;
            // Several TTLs of agreement: refreshed entries are right, not only fresh reads.
            if agreeing_rounds >= 8 {
                break;
            }
        } else {
            agreeing_rounds = 0;
            assert!(
                Instant::now() < deadline,
                "node B still answers differently from A after {:?}: {wrong:?}",
                TTL * 10
            );
        }
        tokio::time::sleep(TTL / 4).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_latest_versions_match_the_writer_sqlite() {
    run(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_latest_versions_match_the_writer_postgres() {
    run(Db::Postgres).await;
}
