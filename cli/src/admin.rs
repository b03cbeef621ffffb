//! `accord audit verify` and `accord admin bootstrap`: offline tools that open the
//! database directly through accord-server's store (no running registry needed).

use crate::exit::{CliError, CliResult, Outcome};
use accord_server::config::DEFAULT_DATABASE_URL;
use accord_server::storage::Store;

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 0 when intact, 1 naming the first bad seq.
    Verify(DbArgs),
}

#[derive(clap::Args)]
pub struct DbArgs {
    /// sqlite://PATH or postgres://...
    #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(clap::Subcommand)]
pub enum AdminCommand {
    /// Create an admin principal and API key offline and print the key once.
    Bootstrap(BootstrapArgs),
}

#[derive(clap::Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Name of the admin principal.
    #[arg(long, default_value = "admin")]
    pub name: String,
    /// Create a key even though an admin already exists.
    #[arg(long)]
    pub force: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the runtime: {e}")))
}

async fn open(url: &str) -> Result<Store, CliError> {
    Store::connect(url)
        .await
        .map_err(|e| CliError::usage(format!("cannot open the database {url:?}: {e:#}")))
}

pub fn audit(args: AuditArgs) -> CliResult {
    let AuditCommand::Verify(db) = args.command;
    runtime()?.block_on(async {
        let store = open(&db.database_url).await?;
        let v = accord_server::audit::verify(store.reader()).await;
        store.close().await;
        let v = v.map_err(|e| CliError::usage(format!("cannot read the audit log: {e}")))?;
        match v.first_bad_seq {
            None => {
                println!("audit log intact: {} entries", v.entries);
                Ok(Outcome::Ok)
            }
            Some(seq) => {
                println!("audit log BROKEN: first bad seq {seq}");
                Ok(Outcome::Failed)
            }
        }
    })
}

pub fn admin(args: AdminArgs) -> CliResult {
    let AdminCommand::Bootstrap(b) = args.command;
    runtime()?.block_on(async {
        let store = open(&b.db.database_url).await?;
        let key = accord_server::auth::bootstrap_admin(&store, &b.name, b.force).await;
        store.close().await;
        match key.map_err(|e| CliError::usage(e.to_string()))? {
            Some(key) => {
                eprintln!(
                    "accord: API key for admin '{}' (shown once; only its hash is stored)",
                    key.principal
                );
                println!("key id: {}", key.key_id);
                println!("secret: {}", *key.secret);
                println!("basic:  {}", *key.basic());
                println!("bearer: {}", *key.bearer());
                Ok(Outcome::Ok)
            }
            None => Err(CliError::Refused(
                "an admin already exists; pass --force to create another admin key".to_string(),
            )),
        }
    })
}
