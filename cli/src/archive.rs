//! `accord export` and `accord restore`: offline tools on the database, like `accord
//! audit verify` (the logic and the archive format are in `accord_server::archive`).
//! Export reads one consistent snapshot and may run while servers serve; restore loads
//! into a new, empty database (also how a deployment moves from SQLite to PostgreSQL).

use crate::exit::{CliError, CliResult, Outcome};
use accord_server::archive::{self, ArchiveError};
use accord_server::config::DEFAULT_DATABASE_URL;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The archive to write (gzip-compressed JSON lines; see the README).
    pub file: PathBuf,
    /// The database to export: sqlite://PATH or postgres://...
    #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Where the secrets the archive leaves out (webhook signing secrets, a generated
    /// entity hash key) are written, mode 0600. Default: FILE.secrets.json.
    #[arg(long)]
    pub secrets_file: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The archive written by `accord export`.
    pub file: PathBuf,
    /// The new, empty database to load: sqlite://PATH (created) or postgres://...
    #[arg(long, env = "ACCORD_DATABASE_URL")]
    pub database_url: String,
    /// The secrets file written with the archive. Default: FILE.secrets.json.
    #[arg(long)]
    pub secrets_file: Option<PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the runtime: {e}")))
}

/// A refusal (non-empty target, newer format, unknown migration) is exit 1; a bad
/// archive or a failing database is exit 2.
fn cli_error(e: ArchiveError) -> CliError {
    match e {
        ArchiveError::Refused(m) => CliError::Refused(m),
        ArchiveError::Invalid(m) | ArchiveError::Failed(m) => CliError::Usage(m),
    }
}

pub fn export(args: ExportArgs) -> CliResult {
    let secrets = args
        .secrets_file
        .unwrap_or_else(|| archive::default_secrets_path(&args.file));
    let started = Instant::now();
    let summary = runtime()?
        .block_on(archive::export(&args.database_url, &args.file, &secrets))
        .map_err(cli_error)?;
    let h = &summary.header;
    println!(
        "exported {} rows of {} tables ({} database, migrations {}) to {} in {:.2}s",
        summary.rows(),
        h.tables.len(),
        h.backend,
        migration_range(h),
        args.file.display(),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &summary.secrets_file {
        println!(
            "wrote {} secret(s) the archive leaves out to {} (mode 0600): keep it like a key, \
             and give it to `accord restore`",
            h.secrets,
            path.display()
        );
    }
    println!(
        "the audit key is not in the archive: the restored deployment needs the same \
         --audit-key-file (or ACCORD_AUDIT_KEY)"
    );
    Ok(Outcome::Ok)
}

pub fn restore(args: RestoreArgs) -> CliResult {
    let secrets = args
        .secrets_file
        .unwrap_or_else(|| archive::default_secrets_path(&args.file));
    let started = Instant::now();
    let summary = runtime()?
        .block_on(archive::restore(&args.file, &secrets, &args.database_url))
        .map_err(cli_error)?;
    let h = &summary.header;
    println!(
        "restored {} rows of {} tables (archive of a {} database by accord {}, migrations {}) \
         in {:.2}s",
        summary.rows(),
        h.tables.len(),
        h.backend,
        h.accord_version,
        migration_range(h),
        started.elapsed().as_secs_f64()
    );
    if !summary.migrated_further.is_empty() {
        println!(
            "then applied this binary's newer migrations: {:?}",
            summary.migrated_further
        );
    }
    println!(
        "start the server with the source's audit key (--audit-key-file or ACCORD_AUDIT_KEY); \
         `accord audit verify` checks the restored log with it"
    );
    Ok(Outcome::Ok)
}

fn migration_range(h: &archive::Header) -> String {
    match (h.migrations.first(), h.migrations.last()) {
        (Some(a), Some(b)) => format!("{}..{}", a.version, b.version),
        _ => "none".to_string(),
    }
}
