//! The end-to-end harness: real servers (the same `accord_server::start` that
//! `accord serve` runs) on real databases, driven over HTTP with reqwest.
//!
//! Every test runs on SQLite (a fresh file) and on PostgreSQL (a fresh database created
//! on the server named by `ACCORD_TEST_POSTGRES_URL`). Without that variable the
//! PostgreSQL variant says it is skipped; with `ACCORD_REQUIRE_POSTGRES=1` (as CI sets)
//! a missing or unreachable PostgreSQL fails the test instead.
#![allow(dead_code)]

use accord_server::{RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database for one test; dropped with the test (PostgreSQL databases are dropped,
/// SQLite folders removed).
pub struct TestDb {
    pub url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL is not configured (and not required).
    pub async fn new(db: Db) -> Option<TestDb> {
        match db {
            Db::Sqlite => {
                let dir =
                    std::env::temp_dir().join(format!("accord-test-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                Some(TestDb {
                    url: format!("sqlite://{}/accord.db", dir.display()),
                    dir: Some(dir),
                    pg: None,
                })
            }
            Db::Postgres => {
                let required = std::env::var("ACCORD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
                let Ok(admin) = std::env::var("ACCORD_TEST_POSTGRES_URL") else {
                    assert!(
                        !required,
                        "ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set"
                    );
                    eprintln!(
                        "SKIPPED: PostgreSQL variant (set ACCORD_TEST_POSTGRES_URL to run it)"
                    );
                    return None;
                };
                let name = format!("accord_{}", uuid::Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL at ACCORD_TEST_POSTGRES_URL is unreachable: {e}")
                    });
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let url = replace_db(&admin, &name);
                Some(TestDb {
                    url,
                    dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let base = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap_or(0) + 2 => &base[..i],
        _ => base,
    };
    format!("{base}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Best effort, on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async move {
                        if let Ok(mut conn) =
                            <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                        {
                            let _ = sqlx::Executor::execute(
                                &mut conn,
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub fn config(url: &str) -> ServerConfig {
    ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: url.to_string(),
        // The tests' webhook receivers listen on loopback (refused by default).
        webhook_allow_private: true,
        ..ServerConfig::default()
    }
}

/// A running server plus an HTTP client pointed at it.
pub struct Srv {
    pub server: Option<RunningServer>,
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts Confluent's error shape with this status and error_code.
    pub fn assert_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status.as_u16(), status, "status; body {}", self.text);
        let j = self.json();
        assert_eq!(
            j["error_code"].as_u64(),
            Some(code),
            "error_code; body {}",
            self.text
        );
        let msg = j["message"].as_str().expect("message").to_string();
        assert!(!msg.is_empty());
        msg
    }

    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body {}", self.text);
        self.json()
    }
}

impl Srv {
    pub async fn start(cfg: ServerConfig) -> Srv {
        let server = accord_server::start(cfg).await.expect("server starts");
        let base = server.url();
        Srv {
            server: Some(server),
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }

    pub async fn raw(&self, method: Method, path: &str, body: Option<(&str, String)>) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some((ct, b)) = body {
            req = req.header("Content-Type", ct).body(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        Resp {
            status,
            content_type,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.raw(
            Method::POST,
            path,
            Some(("application/vnd.schemaregistry.v1+json", body.to_string())),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.raw(
            Method::PUT,
            path,
            Some(("application/vnd.schemaregistry.v1+json", body.to_string())),
        )
        .await
    }

    /// Registers `schema` (Avro unless `schemaType` is in `extra`) and returns the body.
    pub async fn register(&self, subject: &str, schema: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({"schema": schema});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.post(&format!("/subjects/{subject}/versions"), body)
            .await
            .ok()
    }
}

/// Runs `$body` (an async block using `srv: Srv`) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! dual {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run(db: $crate::common::Db) {
                let Some(test_db) = $crate::common::TestDb::new(db).await else { return };
                #[allow(unused_mut)]
                let mut $srv = $crate::common::Srv::start($crate::common::config(&test_db.url)).await;
                $body
                $srv.stop().await;
                drop(test_db);
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::common::Db::Postgres).await
            }
        }
    };
}

pub const USER_V1: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"}]}"#;
pub const USER_V2_OPTIONAL: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
pub const USER_V2_REQUIRED: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;
pub mod auth;
pub mod browser;
pub mod catalog;
pub mod proxy;

/// A minimal valid stream contract: stream `orders`, owned by team `checkout`.
pub const ORDERS_CONTRACT: &str = "apiVersion: v3.1.0
kind: DataContract
id: orders-contract
version: 1.0.0
status: active
team:
  name: checkout
support:
  - channel: checkout-oncall
    tool: email
    url: mailto:checkout@acme.example
customProperties:
  - property: accord.stream
    value: { name: orders }
";
