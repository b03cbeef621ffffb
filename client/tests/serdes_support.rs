//! Shared helpers of the serializer tests (included with `#[path]`): reading the hex
//! golden vectors under `tests/vectors/`, building registered schemas for the in-memory
//! source, and starting a real Accord server on a temporary SQLite file.
#![allow(dead_code)]

use accord_client::types::RegisteredSchema;
use accord_compat::SchemaFormat;
use accord_server::{RunningServer, ServerConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Hex tokens of a text: `#` starts a comment, `|` separates nothing.
pub fn parse_hex(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for tok in line.split(|c: char| c.is_whitespace() || c == '|') {
            if tok.is_empty() {
                continue;
            }
            out.push(
                u8::from_str_radix(tok, 16).unwrap_or_else(|e| panic!("bad hex {tok:?}: {e}")),
            );
        }
    }
    out
}

/// The bytes of a single-record vector file.
pub fn vector(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(vectors_dir().join(name))
        .unwrap_or_else(|e| panic!("vector {name}: {e}"));
    parse_hex(&text)
}

/// The `key: bytes` / `key = bytes` lines of a vector file.
pub fn vector_table(name: &str) -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(vectors_dir().join(name))
        .unwrap_or_else(|e| panic!("vector {name}: {e}"));
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .filter(|(k, _)| !k.contains('='))
            .or_else(|| line.split_once('='))
            .unwrap_or_else(|| panic!("{name}: no key in {line:?}"));
        out.push((k.trim().to_string(), parse_hex(v)));
    }
    out
}

/// A vector file of named parts (`header:`, `payload:`).
pub fn vector_parts(name: &str) -> HashMap<String, Vec<u8>> {
    vector_table(name).into_iter().collect()
}

/// A schema as the registry would return it.
pub fn registered(
    id: i32,
    guid: Option<&str>,
    format: SchemaFormat,
    text: &str,
) -> RegisteredSchema {
    RegisteredSchema {
        id,
        guid: guid.map(str::to_string),
        format,
        schema: text.to_string(),
        references: vec![],
        metadata: None,
        rule_set: None,
        subject: None,
        version: None,
    }
}

/// The GUID of §6.4 example 5.
pub const GUID: &str = "095d71cf-1255-6b9d-5e33-0ad575b3df5d";

pub const USER_SCHEMA: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;

pub const EX_PROTO: &str =
    "syntax = \"proto3\";\npackage ex;\n\nmessage A {\n  int32 x = 1;\n}\nmessage B {\n  message C {\n    string s = 1;\n  }\n}\n";

/// A real Accord server (the same `accord_server::start` that `accord serve` runs) on a
/// fresh SQLite file; removed on drop.
pub struct TestServer {
    server: Option<RunningServer>,
    pub url: String,
    dir: PathBuf,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = std::env::temp_dir().join(format!("accord-serdes-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cfg = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: format!("sqlite://{}/accord.db", dir.display()),
            ..ServerConfig::default()
        };
        let server = accord_server::start(cfg).await.expect("server starts");
        let url = server.url();
        TestServer {
            server: Some(server),
            url,
            dir,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
