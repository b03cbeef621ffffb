//! Storage faults never acknowledged: a full SQLite database (a page quota and a full
//! tmpfs), and a PostgreSQL node partitioned away mid-transaction (a black hole, not a
//! refused connection). Each asserts that every write answered 200 is stored with its
//! id and version, that no id means two schemas, and that the node recovers by itself.

mod common;
use accord_server::storage::DbOptions;
use common::proxy::{Mode, Proxy};
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A write the registry acknowledged.
#[derive(Debug, Clone)]
struct Acked {
    subject: String,
    version: i64,
    id: i64,
    schema: String,
}

/// A new Avro schema per call, padded so that a few dozen fill a page quota.
fn schema(n: usize, pad: usize) -> String {
    json!({
        "type": "record",
        "name": format!("R{n}"),
        "doc": "x".repeat(pad),
        "fields": [{"name": format!("f{n}"), "type": "string"}]
    })
    .to_string()
}

/// Registers `schema` and sorts the answer: `Ok(Some(acked))` on 200, `Ok(None)` on a
/// storage refusal (507, or 503 while the database cannot serve), `Err` on anything
/// else (a 500 is a failure of the test).
async fn register(srv: &Srv, subject: &str, schema: &str) -> Result<Option<Acked>, String> {
    let r = srv
        .post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await;
    match r.status.as_u16() {
        200 => {
            let j = r.json();
            Ok(Some(Acked {
                subject: subject.to_string(),
                version: j["version"].as_i64().expect("version"),
                id: j["id"].as_i64().expect("id"),
                schema: schema.to_string(),
            }))
        }
        507 => {
            r.assert_error(507, 50701);
            Ok(None)
        }
        503 => Ok(None),
        _ => Err(format!("{}: {}", r.status, r.text)),
    }
}

/// Compatibility NONE: the tests register unrelated records under one subject.
async fn any_schema_goes(srv: &Srv) {
    srv.put("/config", json!({"compatibility": "NONE"}))
        .await
        .ok();
}

/// Every acknowledged write is there with its id and version; no id serves two
/// schemas; each subject's versions run 1..n without gaps.
async fn assert_all_stored(srv: &Srv, acked: &[Acked]) {
    let mut by_id: HashMap<i64, String> = HashMap::new();
    for a in acked {
        let r = srv
            .get(&format!("/subjects/{}/versions/{}", a.subject, a.version))
            .await
            .ok();
        assert_eq!(r["id"].as_i64(), Some(a.id), "acknowledged {a:?} reads {r}");
        let stored = srv.get(&format!("/schemas/ids/{}", a.id)).await.ok();
        let canonical: Value = serde_json::from_str(stored["schema"].as_str().expect("schema"))
            .expect("stored schema is JSON");
        let sent: Value = serde_json::from_str(&a.schema).expect("sent schema is JSON");
        assert_eq!(canonical, sent, "id {} serves another schema", a.id);
        if let Some(prev) = by_id.insert(a.id, a.schema.clone()) {
            assert_eq!(prev, a.schema, "id {} was handed out for two schemas", a.id);
        }
    }
    let subjects: Vec<String> = acked.iter().map(|a| a.subject.clone()).collect();
    for s in subjects {
        let versions = srv.get(&format!("/subjects/{s}/versions")).await.ok();
        let versions: Vec<i64> = versions
            .as_array()
            .expect("versions")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "versions of {s} have a gap");
    }
}

/// Two writers register new schemas until `refusals` storage refusals in a row have
/// been seen by each (the database is full) or `limit` attempts.
async fn fill(srv: &Srv, start: usize, refusals: usize, limit: usize) -> Vec<Acked> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..2 {
        let srv = Srv {
            server: None,
            base: srv.base.clone(),
            http: srv.http.clone(),
        };
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut in_a_row = 0;
            for i in 0..limit {
                let n = start + i * 2 + w;
                match register(&srv, &format!("s{}", n % 3), &schema(n, 1500)).await {
                    Ok(Some(a)) => {
                        in_a_row = 0;
                        acked.lock().expect("acked").push(a);
                    }
                    Ok(None) => {
                        in_a_row += 1;
                        if in_a_row >= refusals {
                            return in_a_row;
                        }
                    }
                    Err(e) => panic!("a write neither succeeded nor was refused cleanly: {e}"),
                }
            }
            in_a_row
        }));
    }
    for t in tasks {
        let in_a_row = t.await.expect("writer");
        assert!(
            in_a_row >= refusals,
            "the database never filled up ({in_a_row} refusals at the end)"
        );
    }
    let acked = acked.lock().expect("acked").clone();
    acked
}

/// A direct connection to the SQLite file can take the write lock: the server's
/// writer connection is not left inside a transaction.
async fn writer_lock_is_free(url: &str) {
    use sqlx::Connection;
    let path = url.trim_start_matches("sqlite://");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .expect("open the database file");
    sqlx::Executor::execute(&mut conn, "PRAGMA busy_timeout = 2000")
        .await
        .expect("busy timeout");
    sqlx::Executor::execute(&mut conn, "BEGIN IMMEDIATE")
        .await
        .expect("the writer lock is free: no transaction left open by a failed write");
    sqlx::Executor::execute(&mut conn, "ROLLBACK")
        .await
        .expect("rollback");
    conn.close().await.expect("close");
}

async fn page_count(url: &str) -> u64 {
    use sqlx::{Connection, Row};
    let path = url.trim_start_matches("sqlite://");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .expect("open the database file");
    let row = sqlx::query("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await
        .expect("page_count");
    let n: i64 = row.get(0);
    conn.close().await.expect("close");
    n as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_acknowledges_only_what_it_stored() {
    let db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    // Created and migrated, then capped a little above its size.
    let mut srv = Srv::start(config(&db.url)).await;
    srv.stop().await;
    let cap = page_count(&db.url).await + 40;
    let mut capped = config(&db.url);
    capped.db = DbOptions {
        sqlite_max_pages: Some(cap),
        ..DbOptions::default()
    };
    let mut srv = Srv::start(capped).await;
    any_schema_goes(&srv).await;
    let acked = fill(&srv, 0, 15, 2000).await;
    assert!(!acked.is_empty(), "some writes fit before the cap");
    eprintln!(
        "page quota {cap}: {} writes acknowledged before the database filled",
        acked.len()
    );
    // Still full: refused, never a 200 for a write that is not stored.
    for n in 0..10 {
        assert!(
            register(&srv, "after", &schema(100_000 + n, 1500))
                .await
                .expect("clean refusal")
                .is_none(),
            "a write past the quota was acknowledged"
        );
    }
    writer_lock_is_free(&db.url).await;
    // Reads go on while the database is full.
    assert_all_stored(&srv, &acked).await;
    srv.stop().await;

    // Restarted without the cap: everything acknowledged is there, and the next id is
    // new (no id handed out before is handed out again).
    let mut srv = Srv::start(config(&db.url)).await;
    assert_all_stored(&srv, &acked).await;
    let max_acked = acked.iter().map(|a| a.id).max().unwrap_or(0);
    let next = register(&srv, "fresh", &schema(200_000, 10))
        .await
        .expect("registers")
        .expect("room again");
    assert!(
        next.id > max_acked,
        "id {} reused (max acked {max_acked})",
        next.id
    );
    srv.stop().await;
}

/// A small tmpfs mounted for the test (root only); unmounted on drop.
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("accord-tmpfs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fills the file system with a file of zeros until it is full, then gives back
/// `room` bytes so that a few writes fit before it is full again.
fn fill_disk(path: &std::path::Path, room: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 16 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let len = f.metadata().expect("filler size").len();
    f.set_len(len.saturating_sub(room))
        .expect("shrink the filler");
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_and_the_node_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("8m") else {
        assert!(
            std::env::var("ACCORD_REQUIRE_TMPFS").map_or(true, |v| v != "1"),
            "ACCORD_REQUIRE_TMPFS=1 but a tmpfs cannot be mounted (needs root)"
        );
        eprintln!("SKIPPED: full-disk test (mounting a tmpfs needs root; set ACCORD_REQUIRE_TMPFS=1 to require it)");
        return;
    };
    let url = format!("sqlite://{}/accord.db", fs.dir.display());
    let mut srv = Srv::start(config(&url)).await;
    any_schema_goes(&srv).await;
    let filler = fs.dir.join("filler");
    fill_disk(&filler, 512 * 1024);
    let acked = fill(&srv, 0, 15, 4000).await;
    eprintln!(
        "full tmpfs: {} writes acknowledged before the disk filled",
        acked.len()
    );
    writer_lock_is_free(&url).await;

    // Space returns: the node writes again by itself, without a restart.
    std::fs::remove_file(&filler).expect("free the space");
    let freed = Instant::now();
    let mut after = Vec::new();
    let mut n = 300_000;
    while after.len() < 5 {
        n += 1;
        match register(&srv, "after", &schema(n, 100)).await {
            Ok(Some(a)) => after.push(a),
            Ok(None) => {
                assert!(
                    freed.elapsed() < Duration::from_secs(10),
                    "no recovery within 10 s of space returning"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!(
        "writes succeed again {} ms after space returned",
        freed.elapsed().as_millis()
    );
    let all: Vec<Acked> = acked.iter().chain(after.iter()).cloned().collect();
    assert_all_stored(&srv, &all).await;
    srv.stop().await;
    let mut srv = Srv::start(config(&url)).await;
    assert_all_stored(&srv, &all).await;
    srv.stop().await;
    drop(fs);
}

/// The backend pid of the session holding the writers' advisory lock, with its client
/// port and state.
async fn lock_holder(admin: &mut sqlx::PgConnection) -> Option<(i32, i32, String)> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT a.pid, a.client_port, COALESCE(a.state, '') AS state FROM pg_locks l \
         JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.objid = 7301 AND l.granted \
         AND a.datname = current_database()",
    )
    .fetch_optional(&mut *admin)
    .await
    .expect("pg_locks");
    row.map(|r| (r.get("pid"), r.get("client_port"), r.get("state")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_postgres_node_does_not_stall_the_others() {
    use sqlx::Connection;
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let bounded = |url: &str| {
        let mut c = config(url);
        c.db = DbOptions {
            idle_in_transaction_timeout: Duration::from_secs(2),
            ..DbOptions::default()
        };
        c.request_timeout = Duration::from_secs(4);
        c
    };
    let (proxy, proxied) = Proxy::for_url(&db.url).await;
    let mut cut_off = Srv::start(bounded(&proxied)).await;
    let mut healthy = Srv::start(bounded(&db.url)).await;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.expect("admin");
    any_schema_goes(&healthy).await;

    // Writers on the node to be cut off, until the partition catches one of its
    // sessions holding the writers' lock mid-transaction.
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let srv = Srv {
            server: None,
            base: cut_off.base.clone(),
            http: cut_off.http.clone(),
        };
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = w;
            let mut last = String::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 3;
                let s = schema(n, 10);
                let r = srv
                    .post(&format!("/subjects/p{w}/versions"), json!({ "schema": s }))
                    .await;
                if r.status == 200 {
                    let j = r.json();
                    acked.lock().expect("acked").push(Acked {
                        subject: format!("p{w}"),
                        version: j["version"].as_i64().expect("version"),
                        id: j["id"].as_i64().expect("id"),
                        schema: s,
                    });
                } else {
                    assert!(
                        r.status == 503,
                        "a cut-off node answers 503, not {}: {}",
                        r.status,
                        r.text
                    );
                }
                last = r.status.to_string();
            }
            last
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut caught = None;
    for _ in 0..200 {
        proxy.set(Mode::BlackHole);
        tokio::time::sleep(Duration::from_millis(30)).await;
        if let Some((pid, port, state)) = lock_holder(&mut admin).await {
            if proxy.outbound_ports().contains(&(port as u16)) {
                caught = Some((pid, state));
                break;
            }
        }
        proxy.set(Mode::Pass);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (pid, state) = caught.expect("the partition caught the cut-off node holding the lock");
    let cut_at = Instant::now();
    eprintln!("partitioned session {pid} holds the writers' lock ({state})");

    // The healthy node writes while the other is cut off.
    let mut healthy_acked = Vec::new();
    for n in 0..5 {
        let t = Instant::now();
        let a = register(&healthy, "healthy", &schema(500_000 + n, 10))
            .await
            .expect("clean answer")
            .expect("the healthy node keeps writing");
        eprintln!("healthy write {n} took {} ms", t.elapsed().as_millis());
        healthy_acked.push(a);
    }
    let released = loop {
        match lock_holder(&mut admin).await {
            Some((p, _, _)) if p == pid => {
                assert!(
                    cut_at.elapsed() < Duration::from_secs(15),
                    "the partitioned session kept the lock"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => break cut_at.elapsed(),
        }
    };
    eprintln!(
        "the partitioned session's lock was released {} ms after the cut",
        released.as_millis()
    );

    // The cut-off node answers its probes and reads with 503 within the acquire
    // timeout (1 s; the bound leaves room for a loaded machine).
    for path in ["/health/ready", "/subjects"] {
        let t = Instant::now();
        cut_off.get(path).await.assert_error(503, 50001);
        eprintln!(
            "cut-off node: {path} answered 503 in {} ms",
            t.elapsed().as_millis()
        );
        assert!(
            t.elapsed() < Duration::from_millis(2500),
            "{path} took {:?}",
            t.elapsed()
        );
    }
    cut_off.get("/health/live").await.ok();

    // The cut-off node's own requests end (503) within their deadline.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    proxy.set(Mode::Pass);
    for w in writers {
        tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("the cut-off node's writers finish")
            .expect("writer");
    }

    // Healed: the cut-off node writes again by itself.
    let healed = Instant::now();
    loop {
        match register(&cut_off, "healed", &schema(600_000, 10)).await {
            Ok(Some(_)) => break,
            Ok(None) => {
                assert!(
                    healed.elapsed() < Duration::from_secs(30),
                    "no recovery after the partition healed"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let mut all = acked.lock().expect("acked").clone();
    all.extend(healthy_acked);
    assert_all_stored(&healthy, &all).await;
    let by_id: BTreeMap<i64, &str> = all.iter().map(|a| (a.id, a.schema.as_str())).collect();
    eprintln!(
        "{} acknowledged writes, {} distinct ids, all stored",
        all.len(),
        by_id.len()
    );
    cut_off.stop().await;
    healthy.stop().await;
    let _ = admin.close().await;
}
