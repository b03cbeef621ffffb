//! `accord audit verify|checkpoint` and `accord admin bootstrap`: offline tools that
//! open the database directly through accord-server's store (no running registry
//! needed). They take the audit key as the server does (`--audit-key-file`,
//! `ACCORD_AUDIT_KEY`, else the default key file; see `accord_server::audit`).

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
    /// Recompute the audit log's HMAC chain with the audit key; exit 0 when intact, 1
    /// naming the first altered or removed entry.
    Verify(VerifyArgs),
    /// Verify the chain, then print its head as SEQ:HASH, to store outside the database
    /// and pass to `audit verify --checkpoint` later.
    Checkpoint(KeyedDbArgs),
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub db: KeyedDbArgs,
    /// A checkpoint (SEQ:HASH, from `accord audit checkpoint`): also fail when entry SEQ
    /// is missing (the log was truncated) or its hash differs (rewritten before it).
    #[arg(long)]
    pub checkpoint: Option<String>,
}

/// The database and its audit key.
#[derive(clap::Args)]
pub struct KeyedDbArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The audit key file (64 hex chars); else ACCORD_AUDIT_KEY, else the default key
    /// file (next to a SQLite database; accord-data/audit.key for PostgreSQL).
    #[arg(long, env = "ACCORD_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<std::path::PathBuf>,
}

impl KeyedDbArgs {
    /// The audit key; `create` makes a missing default key file (bootstrap on a new
    /// database), verification never does.
    fn key(&self, create: bool) -> Result<accord_server::audit::AuditKey, CliError> {
        accord_server::audit::KeySource::with_env(None, self.audit_key_file.clone())
            .load(&self.db.database_url, create)
            .map_err(|e| CliError::usage(format!("{e:#}")))
    }
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
    pub db: KeyedDbArgs,
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

/// Checks the database's stored fingerprint against the key given (a wrong key would
/// otherwise show as every entry altered).
async fn check_fingerprint(
    store: &Store,
    key: &accord_server::audit::AuditKey,
) -> Result<(), CliError> {
    let stored = accord_server::audit::database_fingerprint(store.reader())
        .await
        .map_err(|e| CliError::usage(format!("cannot read the database: {e}")))?;
    match stored {
        Some(fp) if fp == key.fingerprint() => Ok(()),
        Some(_) => Err(CliError::usage(
            "the audit key given is not this database's (its fingerprint differs from \
             server_secrets.audit_key_fingerprint): pass the server's --audit-key-file",
        )),
        None => Err(CliError::usage(
            "the database has no audit key fingerprint: it was never started with an audit \
             key (start the server once), or the fingerprint was removed",
        )),
    }
}

pub fn audit(args: AuditArgs) -> CliResult {
    let (keyed, checkpoint, print_head) = match args.command {
        AuditCommand::Verify(v) => (v.db, v.checkpoint, false),
        AuditCommand::Checkpoint(db) => (db, None, true),
    };
    let checkpoint = checkpoint
        .map(|c| accord_server::audit::Checkpoint::parse(&c).map_err(CliError::usage))
        .transpose()?;
    let key = keyed.key(false)?;
    runtime()?.block_on(async {
        let store = open(&keyed.db.database_url).await?;
        let result = async {
            check_fingerprint(&store, &key).await?;
            let v = accord_server::audit::verify(store.reader(), &key, checkpoint.as_ref())
                .await
                .map_err(|e| CliError::usage(format!("cannot read the audit log: {e}")))?;
            let head = accord_server::audit::head(store.reader())
                .await
                .map_err(|e| CliError::usage(format!("cannot read the audit log: {e}")))?;
            Ok::<_, CliError>((v, head))
        }
        .await;
        store.close().await;
        let (v, head) = result?;
        if let Some(seq) = v.first_bad_seq.filter(|_| !v.ok) {
            let problem = v.problem.unwrap_or_default();
            if print_head {
                eprintln!("accord: no checkpoint: the audit log is BROKEN at seq {seq}: {problem}");
            } else {
                println!("audit log BROKEN: first bad seq {seq}: {problem}");
            }
            return Ok(Outcome::Failed);
        }
        if print_head {
            return match head {
                Some(h) => {
                    println!("{}", h.checkpoint);
                    Ok(Outcome::Ok)
                }
                None => Err(CliError::usage(
                    "the audit log is empty: nothing to checkpoint",
                )),
            };
        }
        match checkpoint {
            Some(c) => println!(
                "audit log intact: {} entries; checkpoint {} matches",
                v.entries, c.seq
            ),
            None => println!("audit log intact: {} entries", v.entries),
        }
        Ok(Outcome::Ok)
    })
}

pub fn admin(args: AdminArgs) -> CliResult {
    let AdminCommand::Bootstrap(b) = args.command;
    let audit_key = b.db.key(true)?;
    runtime()?.block_on(async {
        let store = open(&b.db.db.database_url).await?;
        // The bootstrap's entries are chained with the server's audit key.
        if let Err(e) = accord_server::audit::init(&store, audit_key).await {
            store.close().await;
            return Err(CliError::usage(format!("{e:#}")));
        }
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
