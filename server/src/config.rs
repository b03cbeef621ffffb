//! The server's one configuration struct.

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./accord-data/accord.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Request bodies above this are refused with 413.
    pub max_body_bytes: usize,
    /// Entries per node cache (ids, parsed schemas, latest versions).
    pub cache_capacity: usize,
    /// How long a node may serve a cached latest version (the backstop behind NOTIFY).
    pub latest_ttl: Duration,
    /// Require an API key on every request but `/health/*` and `/metrics`.
    pub auth: bool,
    /// Allow binding a non-loopback address with `auth` off (otherwise refused).
    pub insecure: bool,
    /// Webhook deliveries: the first retry waits this long, each next one twice as long
    /// (capped at 5 minutes).
    pub webhook_backoff_base: Duration,
    /// Webhook deliveries: attempts before a delivery is marked `failed`.
    pub webhook_max_attempts: u32,
    /// How often the delivery worker looks for due deliveries.
    pub webhook_poll: Duration,
    /// The `local-kms` secret for shared KEKs (else `ACCORD_LOCAL_KMS_SECRET` or
    /// `LOCAL_SECRET` from the environment; see `crate::dek`).
    pub local_kms_secret: Option<String>,
    /// A file holding the `local-kms` secret (`--local-kms-secret-file`).
    pub local_kms_secret_file: Option<std::path::PathBuf>,
    /// The entity hash key (64 hex chars); else `ACCORD_ENTITY_HASH_KEY`, else one
    /// created at first start and kept in the database.
    pub entity_hash_key: Option<String>,
    /// Webhooks may go to internal addresses (loopback, private, link-local); off by
    /// default so a subscription cannot make the server call into its own network.
    pub webhook_allow_private: bool,
    /// At most this many DEKs (Confluent DEK versions) may exist (40972 beyond).
    pub max_keys: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8081))),
            database_url: DEFAULT_DATABASE_URL.to_string(),
            max_body_bytes: 16 * 1024 * 1024,
            cache_capacity: 100_000,
            latest_ttl: Duration::from_millis(1000),
            auth: false,
            insecure: false,
            webhook_backoff_base: Duration::from_secs(1),
            webhook_max_attempts: 12,
            webhook_poll: Duration::from_millis(500),
            local_kms_secret: None,
            local_kms_secret_file: None,
            entity_hash_key: None,
            max_keys: 20_000,
            webhook_allow_private: false,
        }
    }
}
