//! Export and restore benchmark: a registry of 20,000 subjects (one small Avro version
//! each, filled by concurrent registrations over loopback into a server on SQLite) is
//! exported while its server runs, then restored into a fresh SQLite database and, with
//! `ACCORD_BENCH_POSTGRES_URL` (an admin URL; a database is created and dropped), into
//! a fresh PostgreSQL database, which is exported again.
//!
//! Run: `cargo bench -p accord-tests --bench archive` (`ACCORD_BENCH_SUBJECTS`, default
//! 20000). Reports the wall time of each step, rows and archive size.

use accord_server::archive;
use accord_server::ServerConfig;
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const FILL_WORKERS: usize = 8;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("archive bench: run with `cargo bench -p accord-tests --bench archive`");
        return;
    }
    let subjects: usize = std::env::var("ACCORD_BENCH_SUBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(subjects));
}

async fn fill(base: &str, subjects: usize) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(FILL_WORKERS)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..FILL_WORKERS {
        let (http, next, base) = (http.clone(), next.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= subjects {
                    break;
                }
                let schema = json!({
                    "type": "record", "name": format!("Rec{i}"), "namespace": "bench",
                    "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"},
                               {"name": "note", "type": ["null", "string"], "default": null}]
                })
                .to_string();
                let r = http
                    .post(format!("{base}/subjects/bench-{i}-value/versions"))
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .body(json!({ "schema": schema }).to_string())
                    .send()
                    .await
                    .expect("register");
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
}

fn size_mib(p: &Path) -> f64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

async fn count(url: &str) -> i64 {
    let store = accord_server::storage::Store::connect(url)
        .await
        .expect("store");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subject_versions")
        .fetch_one(store.reader())
        .await
        .expect("count");
    store.close().await;
    n
}

async fn run(subjects: usize) {
    let dir = std::env::temp_dir().join(format!("accord-archive-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = format!("sqlite://{}/source.db", dir.display());
    let server = accord_server::start(ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: source.clone(),
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let t = Instant::now();
    fill(&server.url(), subjects).await;
    let filled = t.elapsed();
    println!(
        "fill: {subjects} subjects over HTTP ({FILL_WORKERS} concurrent clients) in {:.1} s ({:.0}/s)",
        filled.as_secs_f64(),
        subjects as f64 / filled.as_secs_f64()
    );

    // Export while the server runs.
    let file = dir.join("bench.jsonl.gz");
    let secrets = archive::default_secrets_path(&file);
    let t = Instant::now();
    let exported = archive::export(&source, &file, &secrets)
        .await
        .expect("export");
    let e = t.elapsed();
    println!(
        "export  SQLite -> archive:     {:>7.2} s  ({} rows, {:.1} MiB, {:.0} rows/s)",
        e.as_secs_f64(),
        exported.rows(),
        size_mib(&file),
        exported.rows() as f64 / e.as_secs_f64()
    );
    server.stop().await.expect("stop");

    let target = format!("sqlite://{}/restored.db", dir.display());
    let t = Instant::now();
    let restored = archive::restore(&file, &secrets, &target)
        .await
        .expect("restore");
    let r = t.elapsed();
    println!(
        "restore archive -> SQLite:     {:>7.2} s  ({:.0} rows/s)",
        r.as_secs_f64(),
        restored.rows() as f64 / r.as_secs_f64()
    );
    assert_eq!(count(&target).await, subjects as i64);

    if let Ok(admin) = std::env::var("ACCORD_BENCH_POSTGRES_URL") {
        let name = format!("accord_archbench_{}", std::process::id());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("PostgreSQL");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let (base, query) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
        let base = &base[..base.rfind('/').unwrap_or(base.len())];
        let url = if query.is_empty() {
            format!("{base}/{name}")
        } else {
            format!("{base}/{name}?{query}")
        };
        let t = Instant::now();
        archive::restore(&file, &secrets, &url)
            .await
            .expect("restore into PostgreSQL");
        let r = t.elapsed();
        println!(
            "restore archive -> PostgreSQL: {:>7.2} s  ({:.0} rows/s)",
            r.as_secs_f64(),
            restored.rows() as f64 / r.as_secs_f64()
        );
        assert_eq!(count(&url).await, subjects as i64);
        let again = dir.join("again.jsonl.gz");
        let t = Instant::now();
        let pg = archive::export(&url, &again, &archive::default_secrets_path(&again))
            .await
            .expect("export PostgreSQL");
        let e = t.elapsed();
        println!(
            "export  PostgreSQL -> archive: {:>7.2} s  ({} rows, {:.1} MiB)",
            e.as_secs_f64(),
            pg.rows(),
            size_mib(&again)
        );
        let _ = sqlx::Executor::execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
        )
        .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
