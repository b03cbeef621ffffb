//! Load benchmark: starts the registry in-process on a fresh SQLite file (or the
//! PostgreSQL named by `ACCORD_BENCH_POSTGRES_URL`) and drives it over loopback, next to
//! a static axum route served the same way as the ceiling.
//!
//! Run: `cargo bench -p accord-tests --bench load` (`ACCORD_BENCH_SECONDS` per read
//! scenario, default 5). Reports requests/s and p50/p99 latency per scenario, and the
//! id lookup as a ratio of the ceiling.

use accord_server::ServerConfig;
use axum::routing::get;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const READ_WORKERS: usize = 16;
const WRITE_WORKERS: usize = 4;

struct Stats {
    name: String,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }

    fn print(&self) {
        println!(
            "{:<58} {:>9.0} req/s   p50 {:>8.3} ms   p99 {:>8.3} ms   ({} requests)",
            self.name,
            self.rps(),
            self.pct(0.50).as_secs_f64() * 1e3,
            self.pct(0.99).as_secs_f64() * 1e3,
            self.requests
        );
    }
}

/// Runs `workers` loops of GET `url` for `secs`.
async fn drive_get(
    name: &str,
    http: &reqwest::Client,
    url: String,
    workers: usize,
    secs: f64,
) -> Stats {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let http = http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = http.get(&url).send().await.expect("request");
                assert_eq!(r.status(), 200);
                r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("worker"));
    }
    Stats {
        name: name.to_string(),
        requests: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    }
}

fn record_with(fields: usize) -> String {
    let mut fs = vec![json!({"name": "id", "type": "long"})];
    for i in 0..fields {
        fs.push(json!({"name": format!("f{i}"), "type": "string", "default": ""}));
    }
    json!({"type": "record", "name": "Event", "namespace": "bench", "fields": fs}).to_string()
}

async fn post(http: &reqwest::Client, url: &str, body: serde_json::Value) -> reqwest::Response {
    http.post(url)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

async fn static_ceiling(body: String) -> SocketAddr {
    let body = Arc::new(body);
    let app = axum::Router::new().route(
        "/static",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [("content-type", "application/vnd.schemaregistry.v1+json")],
                    (*body).clone(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn main() {
    let secs: f64 = std::env::var("ACCORD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    // `cargo bench` passes `--bench`; `cargo test --benches` would run us with no
    // arguments meant for us, so only run the load when asked to bench.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load bench: run with `cargo bench -p accord-tests --bench load`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(secs));
}

async fn run(secs: f64) {
    let dir = std::env::temp_dir().join(format!("accord-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = std::env::var("ACCORD_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.display()));
    let server = accord_server::start(ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: url.clone(),
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let base = server.url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    println!(
        "backend: {}",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    // Setup: a schema to look up, and 100 subjects with 50 versions each (level NONE
    // while filling, FULL_TRANSITIVE while measuring).
    let first = post(
        &http,
        &format!("{base}/subjects/lookup-value/versions"),
        json!({"schema": record_with(20)}),
    )
    .await
    .json::<serde_json::Value>()
    .await
    .expect("json");
    let id = first["id"].as_i64().expect("id");
    let subjects = 100;
    let prior = 50;
    http.put(format!("{base}/config"))
        .header("Content-Type", "application/json")
        .body(json!({"compatibility": "NONE"}).to_string())
        .send()
        .await
        .expect("config");
    let setup = Instant::now();
    for s in 0..subjects {
        for v in 0..prior {
            let r = post(
                &http,
                &format!("{base}/subjects/w{s}-value/versions"),
                json!({"schema": record_with(v)}),
            )
            .await;
            assert_eq!(r.status(), 200);
        }
    }
    println!(
        "setup: {} versions in {:.1}s",
        subjects * prior,
        setup.elapsed().as_secs_f64()
    );
    http.put(format!("{base}/config"))
        .header("Content-Type", "application/json")
        .body(json!({"compatibility": "FULL_TRANSITIVE"}).to_string())
        .send()
        .await
        .expect("config");

    let body = http
        .get(format!("{base}/schemas/ids/{id}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let ceiling_addr = static_ceiling(body).await;

    // Warm-up, then measure.
    drive_get(
        "warm-up",
        &http,
        format!("{base}/schemas/ids/{id}"),
        READ_WORKERS,
        0.5,
    )
    .await;
    drive_get(
        "warm-up",
        &http,
        format!("http://{ceiling_addr}/static"),
        READ_WORKERS,
        0.5,
    )
    .await;
    let ceiling = drive_get(
        "static axum route (ceiling)",
        &http,
        format!("http://{ceiling_addr}/static"),
        READ_WORKERS,
        secs,
    )
    .await;
    let by_id = drive_get(
        "GET /schemas/ids/{id}",
        &http,
        format!("{base}/schemas/ids/{id}"),
        READ_WORKERS,
        secs,
    )
    .await;
    let latest = drive_get(
        "GET /subjects/{s}/versions/latest",
        &http,
        format!("{base}/subjects/lookup-value/versions/latest"),
        READ_WORKERS,
        secs,
    )
    .await;

    // Writes: one new compatible version in each subject (50 prior, FULL_TRANSITIVE).
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITE_WORKERS {
        let http = http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for s in (w..subjects).step_by(WRITE_WORKERS) {
                let t = Instant::now();
                let r = post(
                    &http,
                    &format!("{base}/subjects/w{s}-value/versions"),
                    json!({"schema": record_with(prior)}),
                )
                .await;
                assert_eq!(r.status(), 200, "{:?}", r.text().await);
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("worker"));
    }
    let writes = Stats {
        name: "POST /subjects/{s}/versions (FULL_TRANSITIVE, 50 prior)".to_string(),
        requests: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    };

    println!();
    for s in [&ceiling, &by_id, &latest, &writes] {
        s.print();
    }
    println!();
    println!(
        "id lookup / ceiling: {:.1}% of the static route's requests/s",
        100.0 * by_id.rps() / ceiling.rps()
    );
    println!(
        "latest / ceiling:    {:.1}%",
        100.0 * latest.rps() / ceiling.rps()
    );
    server.stop().await.expect("stop");
    let _ = std::fs::remove_dir_all(&dir);
}
