//! Helpers shared by the client's integration tests: a real Accord registry started
//! in-process, and ways to look at what it served.
//!
//! Tests talk to the same server `accord serve` runs (`accord_server::start`), over
//! real HTTP on 127.0.0.1, backed by a fresh SQLite file: no mocked registry.
#![allow(dead_code)]

use accord_client::registry::{RegistryClient, RegistryConfig};
use accord_client::SchemaSpec;
use accord_compat::SchemaFormat;
use accord_server::{RunningServer, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A running Accord registry on a fresh SQLite database in its own temp folder,
/// listening on an ephemeral port of 127.0.0.1.
///
/// ```ignore
/// let registry = TestRegistry::start().await;
/// let client = registry.client();            // a RegistryClient pointed at it
/// // ... use registry.url / client ...
/// registry.stop().await;                     // optional; Drop removes the folder
/// ```
pub struct TestRegistry {
    server: Option<RunningServer>,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    dir: PathBuf,
}

impl TestRegistry {
    /// Starts a registry with the server's default configuration.
    pub async fn start() -> TestRegistry {
        Self::start_with(|_| {}).await
    }

    /// Starts a registry after `adjust` has changed its configuration (the listen
    /// address and database URL are set already).
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestRegistry {
        let dir = std::env::temp_dir().join(format!("accord-client-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: format!("sqlite://{}/accord.db", dir.display()),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let server = accord_server::start(config).await.expect("registry starts");
        let url = server.url();
        TestRegistry {
            server: Some(server),
            url,
            dir,
        }
    }

    /// A client configuration for this registry that fails fast in tests (short
    /// timeouts and back-off).
    pub fn config(&self) -> RegistryConfig {
        RegistryConfig::new(self.url.clone())
            .with_request_timeout(Duration::from_secs(20))
            .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
    }

    /// A fresh client (empty caches) for this registry.
    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.config()).expect("client")
    }

    /// How many requests the registry has answered for `route` (the route template,
    /// e.g. `/schemas/ids/{id}`), `method` and `status`, from its Prometheus counters
    /// at `GET /metrics` (`accord_http_requests_total`). 0 before the first one.
    pub async fn request_count(&self, route: &str, method: &str, status: u16) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        let series = format!(
            "accord_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map(|n| n.trim().parse().expect("counter value"))
            .unwrap_or(0)
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.expect("clean stop");
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A schema spec of `format` with this text and nothing else.
pub fn spec(format: SchemaFormat, schema: &str) -> SchemaSpec {
    SchemaSpec {
        format: Some(format),
        schema: schema.to_string(),
        ..SchemaSpec::default()
    }
}

/// An Avro spec.
pub fn avro(schema: &str) -> SchemaSpec {
    spec(SchemaFormat::Avro, schema)
}

pub const USER_V1: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"}]}"#;
/// USER_V1 plus a field with a default: backward compatible.
pub const USER_V2_OPTIONAL: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
/// USER_V1 plus a field without a default: not backward compatible.
pub const USER_V2_REQUIRED: &str = r#"{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;
