//! The server's one configuration struct.

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./accord-data/accord.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// The default time budget of one heavy parse or compatibility check (see `crate::work`).
pub const DEFAULT_HEAVY_WORK_BUDGET: Duration = Duration::from_secs(5);

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
    /// (capped at an hour, and at the retry window's end).
    pub webhook_backoff_base: Duration,
    /// Webhook deliveries: how long a failing delivery is retried, from its event (or
    /// its last re-send), before it is marked `dead` with its last error.
    pub webhook_retry_window: Duration,
    /// Webhook deliveries: an optional extra bound, `dead` after this many attempts
    /// (none by default: the retry window decides).
    pub webhook_max_attempts: Option<u32>,
    /// Finished webhook deliveries, and events no delivery needs, are pruned once
    /// older than this.
    pub webhook_retention: Duration,
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
    /// The audit log's HMAC key (64 hex chars); else `ACCORD_AUDIT_KEY`, else the
    /// `audit_key_file`, else the default key file (see `crate::audit`). Never stored in
    /// the database, which keeps only its fingerprint.
    pub audit_key: Option<crate::audit::SecretHex>,
    /// A file holding the audit key (`--audit-key-file` / `ACCORD_AUDIT_KEY_FILE`),
    /// created with a fresh key at first start when missing.
    pub audit_key_file: Option<std::path::PathBuf>,
    /// Webhooks may go to internal addresses (loopback, private, link-local); off by
    /// default so a subscription cannot make the server call into its own network.
    pub webhook_allow_private: bool,
    /// At most this many DEKs (Confluent DEK versions) may exist (40972 beyond).
    pub max_keys: usize,
    /// HTTP: longest time from a connection's start (or a request's first byte) until
    /// the whole request head has arrived; the connection is closed after it.
    pub header_timeout: Duration,
    /// HTTP: longest wait for the next chunk of a request body (408 after it), and
    /// longest a response write may stall on a client that does not read.
    pub body_timeout: Duration,
    /// HTTP: how long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// HTTP: most open client connections (lowered to fit the open-files limit); more
    /// wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may finish before the remaining
    /// connections are closed.
    pub shutdown_drain: Duration,
    /// The bounds on every wait for the database (see `crate::storage::DbOptions`).
    pub db: crate::storage::DbOptions,
    /// Longest a request may run before it answers 503: a bound on work stuck behind a
    /// database that stopped answering (a partition the pools cannot see).
    pub request_timeout: Duration,
    /// Heavy work (large schemas' parsing, compatibility checks that outgrow the light
    /// lane; see `crate::work`): how many run at once (0: one less than the cores).
    pub heavy_work_concurrency: usize,
    /// Heavy work: the time budget of one task, its wait for a slot included (422
    /// 42240 "schema too complex" after it).
    pub heavy_work_budget: Duration,
    /// Observed usage: recording, flush interval, retention, deletion guard (see
    /// `crate::usage`).
    pub usage: crate::usage::UsageConfig,
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
            webhook_retry_window: Duration::from_secs(24 * 3600),
            webhook_max_attempts: None,
            webhook_retention: Duration::from_secs(7 * 24 * 3600),
            webhook_poll: Duration::from_millis(500),
            local_kms_secret: None,
            local_kms_secret_file: None,
            entity_hash_key: None,
            audit_key: None,
            audit_key_file: None,
            max_keys: 20_000,
            header_timeout: Duration::from_secs(10),
            // Below `request_timeout`, so that a stalled body answers 408, not 503.
            body_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            shutdown_drain: Duration::from_secs(10),
            db: crate::storage::DbOptions::default(),
            request_timeout: Duration::from_secs(30),
            heavy_work_concurrency: 0,
            heavy_work_budget: DEFAULT_HEAVY_WORK_BUDGET,
            webhook_allow_private: false,
            usage: crate::usage::UsageConfig::default(),
        }
    }
}
