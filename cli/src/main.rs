//! The `accord` binary: argument parsing and glue only. `accord serve` runs the
//! registry; the other subcommands are the CI and admin tools (offline checks in
//! `offline`, registry calls in `online`, framed records in `messages`).
#![forbid(unsafe_code)]

mod admin;
mod archive;
mod avro_json;
mod contract;
mod demo;
mod exit;
mod import;
mod lineage;
mod lint;
mod locate;
mod manifest;
mod messages;
mod offline;
mod online;
mod report;
mod shred;
mod usage;

use accord_server::config::{DEFAULT_DATABASE_URL, DEFAULT_LISTEN};
use accord_server::ServerConfig;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Accord: a Confluent-compatible schema registry with data-contract governance.
#[derive(Parser)]
#[command(
    name = "accord",
    version,
    after_help = "Exit codes:\n  0  ok\n  1  incompatible, lint errors, or the registry refused the change\n  2  usage or configuration error\n  3  registry unreachable, or authentication failure"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand accepts.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Registry URL; several, comma-separated, for fail-over.
    #[arg(
        long,
        env = "ACCORD_URL",
        global = true,
        default_value = "http://127.0.0.1:8081"
    )]
    pub url: String,
    /// Bearer token (an API key).
    #[arg(long, env = "ACCORD_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// User for HTTP Basic auth.
    #[arg(long, env = "ACCORD_USER", global = true)]
    pub user: Option<String>,
    /// Password for HTTP Basic auth.
    #[arg(long, env = "ACCORD_PASSWORD", global = true, hide_env_values = true)]
    pub password: Option<String>,
    /// PEM file of the CA that signs the registry's certificate.
    #[arg(long, env = "ACCORD_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Report format for check, compat, diff and lint.
    #[arg(long, global = true, value_enum, default_value_t = report::OutputFormat::Text)]
    pub output: report::OutputFormat,
    /// The repository manifest (default: accord.yaml in the current directory or above).
    #[arg(long, env = "ACCORD_MANIFEST", global = true)]
    pub manifest: Option<std::path::PathBuf>,
    /// Schema context to work in (`.ctx` or `ctx`): subjects, ids, config and mode are
    /// the context's, as under the registry's `/contexts/{ctx}/...` URLs.
    #[arg(long, env = "ACCORD_CONTEXT", global = true)]
    pub context: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Print the OpenAPI document of the server's API.
    Openapi,
    /// Check a new schema against older ones, offline (no registry).
    Compat(offline::CompatArgs),
    /// Check schemas changed since a git revision against their versions there, offline.
    Diff(offline::DiffArgs),
    /// Lint schema files with the manifest's rules.
    Lint(offline::LintArgs),
    /// Ask the registry whether a schema (or every mapped schema) is compatible.
    Check(online::CheckArgs),
    /// Register a schema under a subject; prints its id and version.
    Register(online::RegisterArgs),
    /// Print a registered schema (by subject and version, or by id).
    Get(online::GetArgs),
    /// List subjects.
    Subjects(online::SubjectsArgs),
    /// List the versions of a subject.
    Versions(online::VersionsArgs),
    /// Read or set a compatibility level.
    Config(online::ConfigArgs),
    /// Read or set a mode.
    Mode(online::ModeArgs),
    /// Delete a subject or a version (soft; --permanent for good).
    Delete(online::DeleteArgs),
    /// Register every manifest schema, references first, skipping those already registered.
    Push(online::PushArgs),
    /// A stream's data contract: `apply FILE` (idempotent) or `get STREAM`.
    Contract(contract::ContractArgs),
    /// Print a framed record (Avro, Protobuf or JSON Schema) as JSON.
    Decode(messages::DecodeArgs),
    /// Make a framed record from JSON, as Confluent's serializers would.
    Encode(messages::EncodeArgs),
    /// Who really reads and registers a stream's schemas, declared or not, per version;
    /// --unused-for lists the versions nobody read (cleanup candidates).
    Usage(usage::UsageArgs),
    /// The lineage around a stream (`export STREAM`): as OpenLineage events for lineage
    /// tools, or as Accord's graph (--format json).
    Lineage(lineage::LineageArgs),
    /// Crypto-shred: destroy one entity's keys (or all of a stream's) for good.
    Shred(shred::ShredArgs),
    /// The audit log (offline, on the database): `verify`.
    Audit(admin::AuditArgs),
    /// Administration: `bootstrap` the first admin key (offline, on the database);
    /// `principals` and `keys` (online, on --url with an admin key).
    Admin(admin::AdminArgs),
    /// Fill a running registry (--url) with a sample organisation for the web catalog.
    Demo(demo::DemoArgs),
    /// Copy another Confluent-compatible registry (--from) or a `_schemas` topic dump
    /// (--from-dump) into this one (--url), ids and versions preserved; --follow keeps
    /// copying from a live source; --verify compares the two.
    Import(import::ImportArgs),
    /// Write everything the database holds to a versioned archive, from one consistent
    /// snapshot, while servers keep serving (offline, on the database).
    Export(archive::ExportArgs),
    /// Load an archive of `accord export` into a new, empty database (SQLite or
    /// PostgreSQL): also how a deployment moves from SQLite to PostgreSQL.
    Restore(archive::RestoreArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ACCORD_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// sqlite://PATH (embedded, the default) or postgres://... (shared by several nodes).
    #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Largest accepted request body, in bytes (413 above it).
    #[arg(long, env = "ACCORD_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Entries per node cache.
    #[arg(long, env = "ACCORD_CACHE_CAPACITY", default_value_t = 100_000)]
    cache_capacity: usize,
    /// Longest time a node serves a cached latest version, in milliseconds.
    #[arg(long, env = "ACCORD_LATEST_TTL_MS", default_value_t = 1000)]
    latest_ttl_ms: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "ACCORD_LOG_JSON")]
    log_json: bool,
    /// Require an API key (HTTP Basic key_id:secret or Bearer key_id.secret) on every
    /// request but /health/* and /metrics. The first start prints an admin key once.
    #[arg(long, env = "ACCORD_AUTH")]
    auth: bool,
    /// Allow listening on a non-loopback address without --auth (everyone may write).
    #[arg(long, env = "ACCORD_INSECURE")]
    insecure: bool,
    /// A file with the `local-kms` secret that wraps the DEKs of shared KEKs (the
    /// secret itself may come from ACCORD_LOCAL_KMS_SECRET or LOCAL_SECRET; AWS KMS is
    /// used when AWS credentials are in the environment).
    #[arg(long, env = "ACCORD_LOCAL_KMS_SECRET_FILE")]
    local_kms_secret_file: Option<std::path::PathBuf>,
    /// The audit log's HMAC key file (64 hex chars; the key may instead come from
    /// ACCORD_AUDIT_KEY). Default: next to a SQLite database (`<file>.audit-key`),
    /// accord-data/audit.key for PostgreSQL; created at first start when missing. Give
    /// every node of a cluster the same file.
    #[arg(long, env = "ACCORD_AUDIT_KEY_FILE")]
    audit_key_file: Option<std::path::PathBuf>,
    /// Let webhook subscriptions name internal addresses (loopback, private, link-local);
    /// refused by default so a subscription cannot make the server call into its network.
    #[arg(long, env = "ACCORD_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// How long a failing webhook delivery is retried (exponential backoff, at most an
    /// hour apart) before it is marked dead, in seconds.
    #[arg(long, env = "ACCORD_WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 24 * 3600)]
    webhook_retry_window_secs: u64,
    /// How long finished webhook deliveries (delivered or dead) and their events are
    /// kept before they are pruned, in seconds.
    #[arg(long, env = "ACCORD_WEBHOOK_RETENTION_SECS", default_value_t = 7 * 24 * 3600)]
    webhook_retention_secs: u64,
    /// Most DEK versions the DEK registry keeps (40972 beyond; entity keys not counted).
    #[arg(long, env = "ACCORD_MAX_KEYS", default_value_t = 20_000)]
    max_keys: usize,
    /// Longest time for a request head to arrive (from the connection's start or the
    /// request's first byte) before the connection is closed, in milliseconds.
    #[arg(long, env = "ACCORD_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Longest silence within a request body before it answers 408 (also the longest a
    /// response write may wait on a client that does not read), in milliseconds.
    #[arg(long, env = "ACCORD_BODY_TIMEOUT_MS", default_value_t = 20_000)]
    body_timeout_ms: u64,
    /// How long an idle keep-alive connection waits for its next request, in milliseconds.
    #[arg(long, env = "ACCORD_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Most open client connections (lowered to fit the open-files limit); more wait in
    /// the listen backlog until one closes.
    #[arg(long, env = "ACCORD_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// On SIGTERM, how long in-flight requests may finish before the remaining
    /// connections are closed and the process exits, in milliseconds.
    #[arg(long, env = "ACCORD_SHUTDOWN_DRAIN_MS", default_value_t = 10_000)]
    shutdown_drain_ms: u64,
    /// How many heavy tasks (large schemas' parsing, compatibility checks too big to
    /// run at once) may run at the same time; 0 is one less than the cores.
    #[arg(long, env = "ACCORD_HEAVY_WORK_CONCURRENCY", default_value_t = 0)]
    heavy_work_concurrency: usize,
    /// The time budget of one heavy task, its wait for a slot included, in
    /// milliseconds; past it the request answers 422 (42240, schema too complex).
    #[arg(long, env = "ACCORD_HEAVY_WORK_BUDGET_MS", default_value_t = 5_000)]
    heavy_work_budget_ms: u64,
    /// Record who reads and registers each schema (authenticated requests only),
    /// counted in memory and written in batches; `false` records nothing.
    #[arg(long, env = "ACCORD_USAGE_RECORDING", default_value_t = true, action = clap::ArgAction::Set)]
    usage_recording: bool,
    /// How often a node writes its usage counts, in milliseconds.
    #[arg(long, env = "ACCORD_USAGE_FLUSH_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..))]
    usage_flush_ms: u64,
    /// How many days of daily usage rows are kept.
    #[arg(long, env = "ACCORD_USAGE_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
    usage_retention_days: u32,
    /// A version or subject read in the last this many days is deleted only with
    /// `force=true` (0: no guard).
    #[arg(long, env = "ACCORD_USAGE_PROTECT_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=3650))]
    usage_protect_days: u32,
    #[command(flatten)]
    db: DbArgs,
}

/// The bounds on waiting for the database (see `accord_server::storage::DbOptions`).
#[derive(clap::Args)]
struct DbArgs {
    /// Longest a request waits for a database connection before it answers 503.
    #[arg(long, env = "ACCORD_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000)]
    db_acquire_timeout_ms: u64,
    /// PostgreSQL statement_timeout of the registry's sessions.
    #[arg(long, env = "ACCORD_PG_STATEMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pg_statement_timeout_ms: u64,
    /// PostgreSQL lock_timeout (the writers' advisory lock included).
    #[arg(long, env = "ACCORD_PG_LOCK_TIMEOUT_MS", default_value_t = 10_000)]
    pg_lock_timeout_ms: u64,
    /// PostgreSQL idle_in_transaction_session_timeout: a node cut off mid-transaction
    /// loses its session (and the writers' lock) after this long.
    #[arg(
        long,
        env = "ACCORD_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pg_idle_in_transaction_timeout_ms: u64,
    /// SQLite: the most 4 KiB pages the database may hold (a quota; 507 beyond it).
    #[arg(long, env = "ACCORD_SQLITE_MAX_PAGES")]
    sqlite_max_pages: Option<u64>,
    /// Longest a request may run before it answers 503 (50002).
    #[arg(long, env = "ACCORD_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    request_timeout_ms: u64,
}

impl DbArgs {
    fn options(&self) -> accord_server::storage::DbOptions {
        accord_server::storage::DbOptions {
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            statement_timeout: Duration::from_millis(self.pg_statement_timeout_ms),
            lock_timeout: Duration::from_millis(self.pg_lock_timeout_ms),
            idle_in_transaction_timeout: Duration::from_millis(
                self.pg_idle_in_transaction_timeout_ms,
            ),
            sqlite_max_pages: self.sqlite_max_pages,
            ..Default::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cli.global;
    let result = match cli.command {
        Command::Openapi => {
            print!("{}", accord_server::openapi::document());
            return ExitCode::SUCCESS;
        }
        Command::Compat(args) => offline::compat(&global, args),
        Command::Diff(args) => offline::diff(&global, args),
        Command::Lint(args) => offline::lint(&global, args),
        Command::Check(args) => online::check(&global, args),
        Command::Register(args) => online::register(&global, args),
        Command::Get(args) => online::get(&global, args),
        Command::Subjects(args) => online::subjects(&global, args),
        Command::Versions(args) => online::versions(&global, args),
        Command::Config(args) => online::config(&global, args),
        Command::Mode(args) => online::mode(&global, args),
        Command::Delete(args) => online::delete(&global, args),
        Command::Usage(args) => usage::usage(&global, args),
        Command::Lineage(args) => lineage::lineage(&global, args),
        Command::Push(args) => online::push(&global, args),
        Command::Contract(args) => contract::contract(&global, args),
        Command::Decode(args) => messages::decode(&global, args),
        Command::Encode(args) => messages::encode(&global, args),
        Command::Audit(args) => admin::audit(args),
        Command::Admin(args) => admin::admin(&global, args),
        Command::Shred(args) => shred::shred(&global, args),
        Command::Demo(args) => demo::demo(&global, args),
        Command::Import(args) => import::import(&global, args),
        Command::Export(args) => archive::export(args),
        Command::Restore(args) => archive::restore(args),
        Command::Serve(args) => {
            init_logging(args.log_json);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("accord: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            return match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("accord: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            eprintln!("accord: {e}");
            ExitCode::from(e.code())
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"))
        // aws-sigv4 traces canonical requests, AWS session tokens included: never log it.
        .add_directive(
            "aws_sigv4=off"
                .parse()
                .expect("a constant, valid filter directive"),
        );
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        listen: args.listen,
        database_url: args.database_url,
        max_body_bytes: args.max_body_bytes,
        cache_capacity: args.cache_capacity,
        latest_ttl: Duration::from_millis(args.latest_ttl_ms),
        auth: args.auth,
        insecure: args.insecure,
        local_kms_secret_file: args.local_kms_secret_file,
        audit_key_file: args.audit_key_file,
        max_keys: args.max_keys,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        body_timeout: Duration::from_millis(args.body_timeout_ms),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        max_connections: args.max_connections,
        shutdown_drain: Duration::from_millis(args.shutdown_drain_ms),
        webhook_allow_private: args.webhook_allow_private,
        webhook_retry_window: Duration::from_secs(args.webhook_retry_window_secs),
        webhook_retention: Duration::from_secs(args.webhook_retention_secs),
        db: args.db.options(),
        request_timeout: Duration::from_millis(args.db.request_timeout_ms),
        heavy_work_concurrency: args.heavy_work_concurrency,
        heavy_work_budget: Duration::from_millis(args.heavy_work_budget_ms),
        usage: accord_server::usage::UsageConfig {
            enabled: args.usage_recording,
            flush: Duration::from_millis(args.usage_flush_ms),
            retention_days: args.usage_retention_days,
            protect_days: args.usage_protect_days,
        },
        ..ServerConfig::default()
    };
    let auth = config.auth;
    let mut server = accord_server::start(config).await?;
    if auth {
        tracing::info!(url = %server.url(), "authentication is on");
    } else if server.addr.ip().is_loopback() {
        tracing::info!(url = %server.url(), "authentication is off (local use)");
    } else {
        tracing::warn!(url = %server.url(), "authentication is OFF on a non-loopback address (--insecure)");
    }
    let stop = server.shutdown_handle();
    tokio::select! {
        r = server.wait() => return r,
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop.send(true);
    server.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
