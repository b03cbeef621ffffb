//! The `accord` binary: argument parsing and glue only. `accord serve` runs the
//! registry; the CI and admin subcommands arrive with their issue.
#![forbid(unsafe_code)]

use accord_server::config::{DEFAULT_DATABASE_URL, DEFAULT_LISTEN};
use accord_server::ServerConfig;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Accord: a Confluent-compatible schema registry with data-contract governance.
///
/// Exit codes: 0 ok, 2 usage or configuration error.
#[derive(Parser)]
#[command(name = "accord", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Print the OpenAPI document of the server's API.
    Openapi,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", accord_server::openapi::document());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            init_logging(args.log_json);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("accord: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(serve(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("accord: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
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
    };
    if !config.listen.ip().is_loopback() {
        tracing::warn!("listening on a non-loopback address; authentication is not available yet");
    }
    let mut server = accord_server::start(config).await?;
    tracing::info!(url = %server.url(), "authentication is off (local use)");
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
