//! Shared helpers of the online and messages tests (included with `#[path]`): a real
//! Accord registry started in-process on a temporary SQLite file, the real `accord`
//! binary, and a few direct HTTP calls for setting up state the CLI does not create
//! (IMPORT-mode registrations with fixed ids).
#![allow(dead_code)]

use accord_server::{RunningServer, ServerConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A registry running on its own runtime for the whole test.
pub struct Registry {
    pub url: String,
    rt: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(|_| {}).0
    }

    /// A registry with `--auth` (usage flushed every 100 ms); returns it and its first
    /// admin's key id and secret.
    pub fn start_auth() -> (Registry, String, String) {
        let (reg, key) = Registry::start_with(|c| {
            c.auth = true;
            c.usage.flush = Duration::from_millis(100);
        });
        let key = key.expect("an admin key");
        (reg, key.0, key.1)
    }

    /// A registry with `config` changed by `change`; with auth on, an admin key is made
    /// on the database first (key id, secret).
    pub fn start_with(
        change: impl FnOnce(&mut ServerConfig),
    ) -> (Registry, Option<(String, String)>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: format!("sqlite://{}/accord.db", dir.path().display()),
            max_body_bytes: 16 << 20,
            cache_capacity: 10_000,
            latest_ttl: Duration::from_millis(0),
            auth: false,
            insecure: false,
            ..ServerConfig::default()
        };
        let mut config = config;
        change(&mut config);
        let key = match config.auth {
            false => None,
            true => rt.block_on(async {
                let store = accord_server::storage::Store::connect(&config.database_url)
                    .await
                    .expect("store");
                let key = accord_server::auth::bootstrap_admin(&store, "admin", false)
                    .await
                    .expect("bootstrap")
                    .expect("no admin yet");
                store.close().await;
                Some((key.key_id.clone(), key.secret.to_string()))
            }),
        };
        let server = rt
            .block_on(accord_server::start(config))
            .expect("server starts");
        (
            Registry {
                url: server.url(),
                rt,
                server: Some(server),
                _dir: dir,
            },
            key,
        )
    }

    /// `method path` with a JSON body and HTTP Basic `user:password`; the status and body.
    pub fn call_as(
        &self,
        user: &str,
        password: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = reqwest::Client::new()
                .request(method, &url)
                .basic_auth(user, Some(password))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json");
            if let Some(b) = body {
                req = req.body(b.to_string());
            }
            let resp = req.send().await.expect("registry answers");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        })
    }

    /// `method path` with a JSON body, straight to the registry; the status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.url);
        self.rt.block_on(async {
            let client = reqwest::Client::new();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = client
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
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            )
        })
    }

    /// Registers `schema` under `subject` with a fixed id (through IMPORT mode).
    pub fn import(&self, subject: &str, id: i32, format: &str, schema: &str) {
        let (s, b) = self.call(
            "PUT",
            "/mode?force=true",
            Some(serde_json::json!({"mode": "IMPORT"})),
        );
        assert_eq!(s, 200, "{b}");
        let (s, b) = self.call(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(
                serde_json::json!({"schema": schema, "schemaType": format, "id": id, "version": 1}),
            ),
        );
        assert_eq!(s, 200, "import {subject}: {b}");
        let (s, b) = self.call(
            "PUT",
            "/mode",
            Some(serde_json::json!({"mode": "READWRITE"})),
        );
        assert_eq!(s, 200, "{b}");
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.rt.block_on(server.stop());
        }
    }
}

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// The stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code and that stderr is one `accord: ...` line (for failures).
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        if code >= 2 {
            assert_eq!(
                self.stderr.trim_end().lines().count(),
                1,
                "one line on stderr: {:?}",
                self.stderr
            );
            assert!(self.stderr.starts_with("accord: "), "{:?}", self.stderr);
        }
        self
    }
}

fn from(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stdout_bytes: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A command for the real binary with no ACCORD_* variables from the environment.
pub fn command(dir: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ACCORD_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd
}

/// Runs `accord --url URL ARGS...`.
pub fn accord(url: &str, args: &[&str]) -> Run {
    accord_in(None, url, args, None)
}

/// Runs `accord --url URL ARGS...` in `dir`, with `stdin` as its input.
pub fn accord_in(dir: Option<&Path>, url: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = command(dir);
    cmd.arg("--url").arg(url).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("accord runs");
    let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
    let mut pipe = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("accord finishes");
    let _ = writer.join();
    from(out)
}

/// The fixtures directory `tests/online`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/online")
}

/// A fixture's path as a string.
pub fn fixture(name: &str) -> String {
    fixtures().join(name).display().to_string()
}

/// A local port nobody listens on.
pub fn dead_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    format!("http://127.0.0.1:{port}")
}

/// The bytes of a golden vector of accord-client (`client/tests/vectors`): hex tokens,
/// `#` comments and `|` separators ignored.
pub fn vector(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../client/tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for tok in line.split(|c: char| c.is_whitespace() || c == '|') {
            if !tok.is_empty() {
                out.push(u8::from_str_radix(tok, 16).expect("hex"));
            }
        }
    }
    out
}

/// The `name = bytes` lines of a vector table (e.g. `malformed_frames.hex`).
pub fn vector_table(name: &str) -> Vec<(String, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../client/tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let bytes = v
            .split_whitespace()
            .map(|t| u8::from_str_radix(t, 16).expect("hex"))
            .collect();
        out.push((k.trim().to_string(), bytes));
    }
    out
}

/// A minimal valid contract for stream `orders`, owned by team `checkout`.
#[allow(dead_code)]
pub const ORDERS: &str = "apiVersion: v3.1.0
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
