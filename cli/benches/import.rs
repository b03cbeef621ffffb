//! Import throughput and `--follow` lag, measured as an operator would see them: the
//! real `accord` binary copies between two real registries (started in this process,
//! release build). Run with `cargo bench -p accord --bench import`; it prints:
//! - `accord import --from` of N subjects (one Avro version each; N = 20,000 unless
//!   ACCORD_BENCH_SUBJECTS says otherwise) into a SQLite target and, when
//!   ACCORD_TEST_POSTGRES_URL is set, a PostgreSQL target: total time and schemas/s;
//! - `accord import --follow` with 1,000 subjects: the lag from a registration on the
//!   source to the version answering on the target (10 samples: median and max).

use accord_server::{RunningServer, ServerConfig};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    url: String,
    rt: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    fn sqlite() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite://{}/accord.db", dir.path().display());
        Server::start(db, Some(dir))
    }

    fn start(database_url: String, dir: Option<tempfile::TempDir>) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url,
            latest_ttl: Duration::from_millis(0),
            ..ServerConfig::default()
        };
        let server = rt
            .block_on(accord_server::start(config))
            .expect("server starts");
        Server {
            url: server.url(),
            rt,
            server: Some(server),
            _dir: dir,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = reqwest::Client::new()
                .request(method, &url)
                .header("Content-Type", "application/vnd.schemaregistry.v1+json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let resp = req.send().await.expect("registry answers");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, b) = self.call(method, path, body);
        assert_eq!(s, 200, "{method} {path}: {b}");
        b
    }

    /// `n` subjects of one version each, ids 1, 3, 5, ... (registered 16 at a time).
    fn fill(&self, n: usize) {
        self.ok("PUT", "/mode?force=true", Some(json!({"mode": "IMPORT"})));
        let url = self.url.clone();
        self.rt.block_on(async move {
            use futures::StreamExt;
            let client = reqwest::Client::new();
            futures::stream::iter(0..n)
                .map(|i| {
                    let client = client.clone();
                    let url = url.clone();
                    async move {
                        let schema = format!(
                            r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"long"}}]}}"#
                        );
                        let body = json!({"schema": schema, "id": 2 * i + 1, "version": 1});
                        let resp = client
                            .post(format!("{url}/subjects/s{i}-value/versions"))
                            .header("Content-Type", "application/json")
                            .body(body.to_string())
                            .send()
                            .await
                            .expect("registry answers");
                        assert!(resp.status().is_success(), "fill s{i}");
                    }
                })
                .buffer_unordered(16)
                .collect::<Vec<()>>()
                .await;
        });
        self.ok("PUT", "/mode", Some(json!({"mode": "READWRITE"})));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.stop());
        }
    }
}

fn accord() -> Command {
    Command::new(env!("CARGO_BIN_EXE_accord"))
}

fn import(src: &Server, target: &Server, extra: &[&str]) -> String {
    let out = accord()
        .args(["--url", &target.url, "import", "--from", &src.url])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("accord runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn import_into(name: &str, src: &Server, target: Server, n: usize) {
    let started = Instant::now();
    let out = import(src, &target, &[]);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "import {n} subjects into {name}: {secs:.1}s in all, {:.0} schemas/s (reads and process start included)",
        n as f64 / secs
    );
    for line in out.lines() {
        println!("  {line}");
    }
    let started = Instant::now();
    let out = import(src, &target, &["--verify"]);
    assert!(out.starts_with("IDENTICAL"), "{out}");
    println!("  verify: {:.1}s", started.elapsed().as_secs_f64());
}

fn follow_lag() {
    let (src, target) = (Server::sqlite(), Server::sqlite());
    src.fill(1000);
    let mut child = accord()
        .args([
            "--url",
            &target.url,
            "import",
            "--from",
            &src.url,
            "--follow",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("accord runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    while target
        .call("GET", "/subjects/s999-value/versions/1", None)
        .0
        != 200
    {
        assert!(Instant::now() < deadline, "first pass not done in 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut lags = Vec::new();
    for k in 0..10 {
        let schema = format!(
            r#"{{"type":"record","name":"R{k}","fields":[{{"name":"f","type":"long"}},{{"name":"g","type":"int","default":0}}]}}"#
        );
        let subject = format!("s{k}-value");
        src.ok(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({ "schema": schema })),
        );
        let t = Instant::now();
        while target
            .call("GET", &format!("/subjects/{subject}/versions/2"), None)
            .0
            != 200
        {
            assert!(t.elapsed() < Duration::from_secs(60), "not copied in 60 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        lags.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    lags.sort_by(f64::total_cmp);
    println!(
        "--follow at 1000 subjects (1 s interval): lag median {:.2}s, max {:.2}s over {} changes",
        lags[lags.len() / 2],
        lags[lags.len() - 1],
        lags.len()
    );
}

fn main() {
    let n: usize = std::env::var("ACCORD_BENCH_SUBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let src = Server::sqlite();
    let started = Instant::now();
    src.fill(n);
    println!(
        "source: {n} subjects registered in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    import_into("SQLite", &src, Server::sqlite(), n);
    match std::env::var("ACCORD_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let name = format!("accord_import_bench_{}", std::process::id());
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            let psql = |sql: &str| {
                let ok = Command::new("psql")
                    .args([admin.as_str(), "-qAtc", sql])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "psql {sql}");
            };
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            psql(&format!("CREATE DATABASE {name}"));
            import_into(
                "PostgreSQL",
                &src,
                Server::start(format!("{base}/{name}"), None),
                n,
            );
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
        Err(_) => println!("PostgreSQL target SKIPPED (set ACCORD_TEST_POSTGRES_URL)"),
    }
    drop(src);
    follow_lag();
}
