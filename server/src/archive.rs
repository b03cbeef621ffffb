//! `accord export` / `accord restore`: everything Accord holds, as one versioned archive
//! taken from one consistent snapshot while the server keeps serving, and loaded into an
//! empty database of either backend. It is also how a deployment moves from SQLite to
//! PostgreSQL.
//!
//! # The archive (format `accord-archive`, version 1)
//!
//! A gzip-compressed file of JSON lines (UTF-8, one JSON object per line):
//!
//! 1. **Header** (line 1): `{"format":"accord-archive","formatVersion":1,
//!    "accordVersion":"0.1.0","archiveId":"<32 hex>","backend":"sqlite"|"postgres",
//!    "createdMs":<ms since the epoch>,"migrations":[{"version":1,"description":"registry",
//!    "checksum":"<hex>"},...],"tables":[{"name":"schemas","rows":N,"columns":[{"name":"id",
//!    "type":"integer","nullable":false},...]},...],"secrets":K}`. `migrations` are the
//!    source's applied migrations (those of `backend`; checksums of that backend's
//!    files); `tables` lists the exported tables in the order their rows follow (parents
//!    before the tables whose foreign keys point at them) with the row count of the
//!    snapshot and the columns in the order of each row's values. Column types are
//!    `integer` (64-bit), `real`, `text`, `blob` and `boolean`.
//! 2. **Rows**: `{"t":"<table>","r":[v1,v2,...]}`, one per row, tables in header order,
//!    each table's rows ordered by its primary key. Values: integers as JSON numbers,
//!    text as strings, blobs as base64 strings (standard alphabet, padded), booleans as
//!    `true`/`false`, SQL NULL as `null`.
//! 3. **Trailer** (last line): `{"end":true,"rows":<total rows>}`. An archive without it
//!    was cut short and is refused.
//!
//! # What is in it, and what is not
//!
//! Every table the migrations create is either in [`EXPORTED`] or in [`EXCLUDED`] with
//! the reason; a table in neither (a new migration's) makes export refuse rather than
//! drop it silently, and a test lists a migrated database's tables against both lists.
//! Columns are read from the database itself, so a column a later migration adds is
//! carried without a change here. Rows a migration seeds ([`SEEDED`]) do not make a
//! target non-empty and are replaced by the archive's.
//!
//! No secret is in the archive. API keys are stored as salted hashes and DEKs as
//! KMS-wrapped material, and both are carried as stored. The audit log's HMAC key is not
//! in the database at all (only its fingerprint): the operator copies the key file (or
//! passes the same `ACCORD_AUDIT_KEY`) to the new deployment, where `accord audit verify`
//! then passes on the restored log. A few columns do hold secrets in clear, because the
//! server must use them as they are: webhook subscriptions' signing secrets and the
//! generated entity hash key (`server_secrets.entity_hash_key`, which pseudonymises the
//! entities of per-entity keys and shred tombstones); so does an exporter's `config`
//! (the destination's credentials), kept out whole. They are written as `null` in the
//! archive and, separately, to a **secrets file** (JSON, mode 0600, default
//! `<archive>.secrets.json`: `{"format":"accord-archive-secrets","formatVersion":1,
//! "archiveId":...,"secrets":[{"table":...,"column":...,"key":[primary key values],
//! "value":...}]}`), which restore requires whenever the header counts secrets. The
//! archive can so be stored like any backup, the secrets file like a key.
//!
//! # Consistency and memory
//!
//! Export reads in one transaction: SQLite (in WAL mode, as the server runs it) with a
//! plain `BEGIN`, whose first read fixes the snapshot while the server's writer goes on;
//! PostgreSQL with `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`. It never writes to
//! the source and does not migrate it. Rows are streamed from the database into the
//! compressor, and restore inserts in batches, so neither holds a table in memory (the
//! secrets, a handful of rows, excepted).
//!
//! # Restore
//!
//! Restore refuses, changing nothing: an archive of another format or a newer format
//! version, a migration this binary does not know (by version and checksum), a table it
//! does not know, and a target database that holds any row in a table it would load or
//! that is migrated past the archive. It then migrates the target to exactly the
//! archive's migrations, loads every row in one transaction (a failure rolls it back and
//! leaves the target empty), checks the counts against the header and the trailer,
//! moves every PostgreSQL sequence past the restored ids, commits, and finally applies
//! the migrations this binary has beyond the archive's (as `accord serve` would at
//! start). Values are bound by the target's column types, so an archive of SQLite loads
//! into PostgreSQL and back. Schema, proposal and context ids are allocated as the
//! highest stored id plus one, so they are never reused after a restore.

use crate::storage::Backend;
use base64::Engine;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, Connection, Executor, Row};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The archive's format name (header `format`).
pub const FORMAT: &str = "accord-archive";
/// The newest format version this binary writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The secrets file's format name.
pub const SECRETS_FORMAT: &str = "accord-archive-secrets";

/// The tables exported, parents first: every table whose foreign keys point at another
/// comes after it, and restore loads them in this order.
pub const EXPORTED: &[&str] = &[
    // The registry (0001, 0011).
    "contexts",
    "schemas",
    "subject_versions",
    "schema_refs",
    "configs",
    "modes",
    // Identity and the audit log (0002, 0010).
    "principals",
    "api_keys",
    "audit_log",
    // Streams and contracts (0003, 0006).
    "streams",
    "stream_contracts",
    "stream_consumers",
    "stream_producers",
    // Proposals (0005).
    "proposals",
    "proposal_consumers",
    "proposal_reviews",
    // Webhooks and their outbox (0004, 0009).
    "webhook_subscriptions",
    "outbox",
    "webhook_deliveries",
    // The DEK registry, shred tombstones and the server's key fingerprints (0007).
    "keks",
    "deks",
    "entity_deks",
    "shredded",
    "server_secrets",
    // Schema exporters (0012).
    "exporters",
    "exporter_versions",
    "exporter_settings",
    // Observed usage (0013): what the registry was told about who reads what.
    "usage_daily",
    "usage_readers",
];

/// Exported tables whose migration inserts rows of its own (`exporter_settings`: the
/// registry's random id). An empty database has them, so they do not make a target
/// non-empty; restore replaces them with the archive's rows (the registry keeps its
/// identity when it moves).
pub const SEEDED: &[&str] = &["exporter_settings"];

/// Tables deliberately not exported, with the reason. Anything else a migration creates
/// must be in [`EXPORTED`].
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "_sqlx_migrations",
        "the migrations applied; the header lists them and restore re-applies them",
    ),
    // The catalog search index (0008) is a cache of the tables above: a restored
    // database has catalog_state.built = 0 from its migration, so the server's first
    // start rebuilds it (catalog::ensure_built). PostgreSQL's tsvector column would not
    // carry to SQLite's FTS5 anyway.
    ("catalog_docs", "search index, rebuilt at first start"),
    ("catalog_details", "search index, rebuilt at first start"),
    ("catalog_tags", "search index, rebuilt at first start"),
    (
        "catalog_gone",
        "search index revisions (0019), rebuilt at first start",
    ),
    (
        "catalog_state",
        "search index state, rebuilt at first start",
    ),
    ("catalog_fts", "SQLite FTS5 index, rebuilt at first start"),
    ("catalog_fts_data", "SQLite FTS5 shadow table"),
    ("catalog_fts_idx", "SQLite FTS5 shadow table"),
    ("catalog_fts_content", "SQLite FTS5 shadow table"),
    ("catalog_fts_docsize", "SQLite FTS5 shadow table"),
    ("catalog_fts_config", "SQLite FTS5 shadow table"),
];

/// A column whose values are secrets in clear, kept out of the archive and written to
/// the secrets file instead; `only_when`: only in rows where that column has that value.
struct SecretColumn {
    table: &'static str,
    column: &'static str,
    only_when: Option<(&'static str, &'static str)>,
}

const SECRET_COLUMNS: &[SecretColumn] = &[
    // HMAC-SHA256 signing keys shared with the webhook receivers.
    SecretColumn {
        table: "webhook_subscriptions",
        column: "secret",
        only_when: None,
    },
    // The generated entity hash key (the fingerprints beside it are not secret).
    SecretColumn {
        table: "server_secrets",
        column: "value",
        only_when: Some(("name", "entity_hash_key")),
    },
    // An exporter's destination config, credentials included (in clear: the exporter
    // sends them).
    SecretColumn {
        table: "exporters",
        column: "config",
        only_when: None,
    },
];

/// Why an export or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Refused before anything was changed: a non-empty target, a newer format, an
    /// unknown migration or table.
    #[error("{0}")]
    Refused(String),
    /// The archive or the secrets file is malformed, cut short or does not match.
    #[error("{0}")]
    Invalid(String),
    /// The database or the file system failed.
    #[error("{0}")]
    Failed(String),
}

type R<T> = Result<T, ArchiveError>;

fn db_err(what: &str) -> impl Fn(sqlx::Error) -> ArchiveError + '_ {
    move |e| ArchiveError::Failed(format!("{what}: {e}"))
}

fn io_err(what: &Path) -> impl Fn(std::io::Error) -> ArchiveError + '_ {
    move |e| ArchiveError::Failed(format!("{}: {e}", what.display()))
}

/// A column's type as carried in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Real,
    Text,
    Blob,
    Boolean,
}

impl ColumnType {
    /// From a declared SQLite type (by SQLite's affinity rules, booleans apart) or a
    /// PostgreSQL `information_schema` data type; `None` for a type not carried.
    fn from_declared(backend: Backend, declared: &str) -> Option<ColumnType> {
        let d = declared.to_ascii_lowercase();
        match backend {
            Backend::Sqlite => {
                if d.contains("bool") {
                    Some(ColumnType::Boolean)
                } else if d.contains("int") {
                    Some(ColumnType::Integer)
                } else if d.contains("char") || d.contains("clob") || d.contains("text") {
                    Some(ColumnType::Text)
                } else if d.contains("blob") || d.is_empty() {
                    Some(ColumnType::Blob)
                } else if d.contains("real") || d.contains("floa") || d.contains("doub") {
                    Some(ColumnType::Real)
                } else {
                    None
                }
            }
            Backend::Postgres => match d.as_str() {
                "bigint" | "integer" | "smallint" => Some(ColumnType::Integer),
                "text" | "character varying" | "character" => Some(ColumnType::Text),
                "bytea" => Some(ColumnType::Blob),
                "boolean" => Some(ColumnType::Boolean),
                "double precision" | "real" => Some(ColumnType::Real),
                _ => None,
            },
        }
    }
}

/// A column as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    pub nullable: bool,
}

/// An exported table as the header lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableInfo {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<Column>,
}

/// An applied migration as the header lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationInfo {
    pub version: i64,
    pub description: String,
    /// Hex of the SQL file's checksum (SHA-384, as sqlx computes it).
    pub checksum: String,
}

/// The archive's first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub accord_version: String,
    pub archive_id: String,
    pub backend: String,
    pub created_ms: i64,
    pub migrations: Vec<MigrationInfo>,
    pub tables: Vec<TableInfo>,
    /// How many secret values were kept out of the archive (in the secrets file).
    pub secrets: u64,
}

#[derive(Serialize, Deserialize)]
struct RowLine<'a> {
    t: std::borrow::Cow<'a, str>,
    r: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: bool,
    rows: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Secret {
    table: String,
    column: String,
    key: Vec<Value>,
    value: Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretsFile {
    format: String,
    format_version: u32,
    archive_id: String,
    secrets: Vec<Secret>,
}

/// The secrets file that goes with an archive when none is named.
pub fn default_secrets_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_os_string();
    name.push(".secrets.json");
    PathBuf::from(name)
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    pub header: Header,
    /// Where the secrets went (`None`: the database held none).
    pub secrets_file: Option<PathBuf>,
}

impl ExportSummary {
    pub fn rows(&self) -> u64 {
        self.header.tables.iter().map(|t| t.rows).sum()
    }
}

/// What a restore loaded.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    pub header: Header,
    /// Migrations applied after the load, beyond the archive's.
    pub migrated_further: Vec<i64>,
}

impl RestoreSummary {
    pub fn rows(&self) -> u64 {
        self.header.tables.iter().map(|t| t.rows).sum()
    }
}

// ---- connections and what a database holds ----

fn backend_of(url: &str) -> R<Backend> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(ArchiveError::Invalid(format!(
            "unsupported database URL {url:?}: use sqlite://PATH or postgres://..."
        )))
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Opens one connection without migrating. SQLite: `create` makes a missing file (the
/// restore target); export needs the file to exist.
async fn connect(url: &str, create: bool) -> R<(AnyConnection, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(url)?;
    let conn_url = match backend {
        Backend::Postgres => url.to_string(),
        Backend::Sqlite => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(ArchiveError::Invalid(
                    "an in-memory SQLite database cannot be exported or restored: give a file path"
                        .into(),
                ));
            }
            if create {
                if let Some(parent) = Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                    }
                }
                format!("sqlite://{path}?mode=rwc")
            } else {
                if !Path::new(path).is_file() {
                    return Err(ArchiveError::Invalid(format!(
                        "no SQLite database at {path}"
                    )));
                }
                format!("sqlite://{path}?mode=rw")
            }
        }
    };
    let mut conn = AnyConnection::connect(&conn_url)
        .await
        .map_err(|e| ArchiveError::Failed(format!("cannot open the database {url:?}: {e}")))?;
    if backend == Backend::Sqlite {
        conn.execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON")
            .await
            .map_err(db_err("cannot set up the SQLite connection"))?;
    }
    Ok((conn, backend))
}

/// The tables of the database (SQLite's own `sqlite_*` apart).
async fn list_tables(conn: &mut AnyConnection, backend: Backend) -> R<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("cannot list the tables"))?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()
        .map_err(db_err("cannot list the tables"))
}

/// Tables present in the database that are neither exported nor excluded: a migration
/// added a table this module does not know yet.
pub fn uncovered(tables: &[String]) -> Vec<String> {
    tables
        .iter()
        .filter(|t| !EXPORTED.contains(&t.as_str()) && !EXCLUDED.iter().any(|(x, _)| x == t))
        .cloned()
        .collect()
}

/// The tables of the database at `url` that are neither exported nor excluded (the
/// coverage check of a migrated database).
pub async fn uncovered_tables(url: &str) -> R<Vec<String>> {
    let (mut conn, backend) = connect(url, false).await?;
    let tables = list_tables(&mut conn, backend).await?;
    let _ = conn.close().await;
    Ok(uncovered(&tables))
}

/// A table's columns in their order, and its primary key's columns.
async fn table_columns(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
) -> R<(Vec<Column>, Vec<String>)> {
    let what = format!("cannot read the columns of table {table}");
    let (cols_sql, pk_sql) = match backend {
        Backend::Sqlite => (
            "SELECT name, type AS declared, CASE WHEN \"notnull\" = 0 AND pk = 0 THEN 1 ELSE 0 END AS nullable \
             FROM pragma_table_info($1) ORDER BY cid",
            "SELECT name FROM pragma_table_info($1) WHERE pk > 0 ORDER BY pk",
        ),
        Backend::Postgres => (
            "SELECT column_name::text AS name, data_type::text AS declared, \
             CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            "SELECT a.attname::text AS name FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
             AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        ),
    };
    let rows = sqlx::query(cols_sql)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err(&what))?;
    let mut columns = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = r.try_get("name").map_err(db_err(&what))?;
        let declared: String = r.try_get("declared").map_err(db_err(&what))?;
        let nullable: i64 = r.try_get("nullable").map_err(db_err(&what))?;
        let ty = ColumnType::from_declared(backend, &declared).ok_or_else(|| {
            ArchiveError::Refused(format!(
                "column {table}.{name} has type {declared:?}, which the archive format does not \
                 carry: extend accord_server::archive::ColumnType before exporting this database"
            ))
        })?;
        columns.push(Column {
            name,
            ty,
            nullable: nullable != 0,
        });
    }
    let pk = sqlx::query(pk_sql)
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err(&what))?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err(&what))?;
    Ok((columns, pk))
}

/// The applied migrations (`None` when the table does not exist).
async fn applied_migrations(
    conn: &mut AnyConnection,
    tables: &[String],
) -> R<Option<Vec<MigrationInfo>>> {
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        return Ok(None);
    }
    let what = "cannot read _sqlx_migrations";
    let rows = sqlx::query(
        "SELECT version, description, checksum, CASE WHEN success THEN 1 ELSE 0 END AS ok \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err(what))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let version: i64 = r.try_get("version").map_err(db_err(what))?;
        let ok: i64 = r.try_get("ok").map_err(db_err(what))?;
        if ok == 0 {
            return Err(ArchiveError::Refused(format!(
                "migration {version} of the database failed halfway (_sqlx_migrations.success \
                 is false): repair the database first"
            )));
        }
        let checksum: Vec<u8> = r.try_get("checksum").map_err(db_err(what))?;
        out.push(MigrationInfo {
            version,
            description: r.try_get("description").map_err(db_err(what))?,
            checksum: hex::encode(checksum),
        });
    }
    Ok(Some(out))
}

/// The migrations this binary carries for `backend`.
fn migrator(backend: Backend) -> Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---- values ----

fn read_value(row: &AnyRow, i: usize, col: &Column) -> Result<Value, sqlx::Error> {
    Ok(match col.ty {
        ColumnType::Integer => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColumnType::Real => row
            .try_get::<Option<f64>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColumnType::Text => row
            .try_get::<Option<String>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColumnType::Boolean => row
            .try_get::<Option<bool>, _>(i)?
            .map_or(Value::Null, Value::from),
        ColumnType::Blob => row
            .try_get::<Option<Vec<u8>>, _>(i)?
            .map_or(Value::Null, |b| {
                Value::from(base64::engine::general_purpose::STANDARD.encode(b))
            }),
    })
}

/// Binds an archived value by the target column's type. SQLite's booleans are integers,
/// so an archived integer loads into a boolean column (and back).
fn bind_value<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    v: &Value,
    col: &Column,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, String> {
    let bad = || format!("column {} ({:?}) cannot hold {v}", col.name, col.ty);
    Ok(match col.ty {
        ColumnType::Integer => q.bind(match v {
            Value::Null => None,
            Value::Bool(b) => Some(*b as i64),
            Value::Number(n) => Some(n.as_i64().ok_or_else(bad)?),
            _ => return Err(bad()),
        }),
        ColumnType::Real => q.bind(match v {
            Value::Null => None,
            Value::Number(n) => Some(n.as_f64().ok_or_else(bad)?),
            _ => return Err(bad()),
        }),
        ColumnType::Text => q.bind(match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(bad()),
        }),
        ColumnType::Boolean => q.bind(match v {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_i64().ok_or_else(bad)? != 0),
            _ => return Err(bad()),
        }),
        ColumnType::Blob => q.bind(match v {
            Value::Null => None,
            Value::String(s) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| bad())?,
            ),
            _ => return Err(bad()),
        }),
    })
}

/// The secret columns of `table` as (column index, condition column index and value).
fn secret_columns(table: &str, columns: &[Column]) -> Vec<(usize, Option<(usize, &'static str)>)> {
    let index = |name: &str| columns.iter().position(|c| c.name == name);
    SECRET_COLUMNS
        .iter()
        .filter(|s| s.table == table)
        .filter_map(|s| {
            let col = index(s.column)?;
            match s.only_when {
                None => Some((col, None)),
                Some((c, v)) => index(c).map(|ci| (col, Some((ci, v)))),
            }
        })
        .collect()
}

fn is_secret(values: &[Value], cond: Option<(usize, &str)>) -> bool {
    match cond {
        None => true,
        Some((ci, v)) => values.get(ci).and_then(Value::as_str) == Some(v),
    }
}

// ---- export ----

/// Writes the archive of the database at `url` to `out`, and its secrets (if it holds
/// any) to `secrets_out`, from one snapshot; the server may keep serving meanwhile.
/// Files are written beside their targets and renamed into place when complete.
pub async fn export(url: &str, out: &Path, secrets_out: &Path) -> R<ExportSummary> {
    let tmp = partial_path(out);
    let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    let w = BufWriter::with_capacity(
        1 << 16,
        flate2::write::GzEncoder::new(file, flate2::Compression::fast()),
    );
    let (header, secrets, w) = match export_to(url, w).await {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let finish = w
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|gz| gz.finish())
        .and_then(|f| f.sync_all());
    if let Err(e) = finish {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(out)(e));
    }
    let secrets_file = if secrets.is_empty() {
        None
    } else {
        let body = SecretsFile {
            format: SECRETS_FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            archive_id: header.archive_id.clone(),
            secrets,
        };
        let text = serde_json::to_vec_pretty(&body)
            .map_err(|e| ArchiveError::Failed(format!("cannot encode the secrets: {e}")))?;
        if let Err(e) = write_private(secrets_out, &text) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Some(secrets_out.to_path_buf())
    };
    std::fs::rename(&tmp, out).map_err(io_err(out))?;
    Ok(ExportSummary {
        header,
        secrets_file,
    })
}

fn partial_path(p: &Path) -> PathBuf {
    let mut name = p.as_os_str().to_os_string();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> R<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Writes the archive lines of the database at `url` to `w` (uncompressed JSON lines
/// into whatever `w` is); returns the header and the secrets kept out.
async fn export_to<W: Write>(url: &str, w: W) -> R<(Header, Vec<Secret>, W)> {
    let (mut conn, backend) = connect(url, false).await?;
    let begin = match backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    conn.execute(begin)
        .await
        .map_err(db_err("cannot start the snapshot"))?;
    let result = export_in_snapshot(&mut conn, backend, w).await;
    // Read-only: ending it either way changes nothing.
    let _ = conn.execute("ROLLBACK").await;
    let _ = conn.close().await;
    result
}

async fn export_in_snapshot<W: Write>(
    conn: &mut AnyConnection,
    backend: Backend,
    mut w: W,
) -> R<(Header, Vec<Secret>, W)> {
    // The first read fixes SQLite's snapshot; everything below, the table list and the
    // counts included, sees the same state.
    let tables = list_tables(conn, backend).await?;
    let unknown = uncovered(&tables);
    if !unknown.is_empty() {
        return Err(ArchiveError::Refused(format!(
            "the database has table(s) this accord binary does not know: {} (a newer \
             version made them); export with that version",
            unknown.join(", ")
        )));
    }
    let migrations = applied_migrations(conn, &tables).await?.ok_or_else(|| {
        ArchiveError::Invalid(
            "the database has no _sqlx_migrations table: it is not an Accord database".into(),
        )
    })?;
    let mut infos = Vec::new();
    let mut pks = Vec::new();
    for &t in EXPORTED {
        // A table of a migration the source has not applied yet is not there.
        if !tables.iter().any(|x| x == t) {
            continue;
        }
        let (columns, pk) = table_columns(conn, backend, t).await?;
        let rows: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {}", quote(t)))
            .fetch_one(&mut *conn)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_err(&format!("cannot count table {t}")))?;
        infos.push(TableInfo {
            name: t.to_string(),
            rows: rows as u64,
            columns,
        });
        pks.push(pk);
    }
    // The number of secrets is in the header, which is written first: count them in the
    // snapshot (they are few).
    let mut secret_count = 0u64;
    for t in &infos {
        for s in SECRET_COLUMNS.iter().filter(|s| s.table == t.name) {
            let mut sql = format!(
                "SELECT COUNT(*) AS n FROM {} WHERE {} IS NOT NULL",
                quote(s.table),
                quote(s.column)
            );
            if let Some((c, v)) = s.only_when {
                sql.push_str(&format!(" AND {} = '{}'", quote(c), v.replace('\'', "''")));
            }
            let n: i64 = sqlx::query(&sql)
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(db_err(&format!("cannot count the secrets of {}", s.table)))?;
            secret_count += n as u64;
        }
    }
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id)
        .map_err(|e| ArchiveError::Failed(format!("no randomness for the archive id: {e}")))?;
    let header = Header {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        accord_version: env!("CARGO_PKG_VERSION").to_string(),
        archive_id: hex::encode(id),
        backend: backend_name(backend).to_string(),
        created_ms: now_ms(),
        migrations,
        tables: infos,
        secrets: secret_count,
    };
    write_line(&mut w, &header)?;
    let mut secrets = Vec::new();
    let mut total = 0u64;
    for (info, pk) in header.tables.iter().zip(&pks) {
        let cols: Vec<String> = info.columns.iter().map(|c| quote(&c.name)).collect();
        let order: Vec<String> = if pk.is_empty() {
            cols.clone()
        } else {
            pk.iter().map(|c| quote(c)).collect()
        };
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            quote(&info.name),
            order.join(", ")
        );
        let secret_cols = secret_columns(&info.name, &info.columns);
        let pk_idx: Vec<usize> = pk
            .iter()
            .filter_map(|k| info.columns.iter().position(|c| &c.name == k))
            .collect();
        let what = format!("cannot read table {}", info.name);
        let mut n = 0u64;
        let mut stream = sqlx::query(&sql).fetch(&mut *conn);
        while let Some(row) = stream.try_next().await.map_err(db_err(&what))? {
            let mut values = Vec::with_capacity(info.columns.len());
            for (i, c) in info.columns.iter().enumerate() {
                values.push(read_value(&row, i, c).map_err(db_err(&what))?);
            }
            for &(ci, cond) in &secret_cols {
                if !values[ci].is_null() && is_secret(&values, cond) {
                    let key = pk_idx.iter().map(|&k| values[k].clone()).collect();
                    secrets.push(Secret {
                        table: info.name.clone(),
                        column: info.columns[ci].name.clone(),
                        key,
                        value: std::mem::take(&mut values[ci]),
                    });
                }
            }
            write_line(
                &mut w,
                &RowLine {
                    t: std::borrow::Cow::Borrowed(&info.name),
                    r: values,
                },
            )?;
            n += 1;
        }
        drop(stream);
        if n != info.rows {
            return Err(ArchiveError::Failed(format!(
                "table {} changed during the export ({} rows counted, {n} read): the snapshot \
                 did not hold",
                info.name, info.rows
            )));
        }
        total += n;
    }
    if secrets.len() as u64 != header.secrets {
        return Err(ArchiveError::Failed(format!(
            "{} secrets counted, {} read: the snapshot did not hold",
            header.secrets,
            secrets.len()
        )));
    }
    write_line(
        &mut w,
        &Trailer {
            end: true,
            rows: total,
        },
    )?;
    Ok((header, secrets, w))
}

fn write_line<W: Write, T: Serialize>(w: &mut W, v: &T) -> R<()> {
    let err = |e: std::io::Error| ArchiveError::Failed(format!("cannot write the archive: {e}"));
    serde_json::to_writer(&mut *w, v).map_err(|e| err(std::io::Error::other(e)))?;
    w.write_all(b"\n").map_err(err)
}

// ---- restore ----

/// Reads an archive's lines.
struct Lines<Rd: BufRead> {
    r: Rd,
    buf: String,
    no: u64,
}

impl<Rd: BufRead> Lines<Rd> {
    /// The next line's text (`None` at the end).
    fn next_line(&mut self) -> R<Option<&str>> {
        self.buf.clear();
        let n = self.r.read_line(&mut self.buf).map_err(|e| {
            ArchiveError::Invalid(format!(
                "the archive cannot be read after line {} (not gzip, or cut short): {e}",
                self.no
            ))
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.no += 1;
        Ok(Some(self.buf.trim_end_matches(['\n', '\r'])))
    }

    fn invalid(&self, what: impl std::fmt::Display) -> ArchiveError {
        ArchiveError::Invalid(format!("archive line {}: {what}", self.no))
    }
}

/// Reads and checks an archive's header: the format, its version and the migrations.
pub fn read_header(path: &Path) -> R<Header> {
    let mut lines = open_archive(path)?;
    parse_header(&mut lines)
}

fn open_archive(path: &Path) -> R<Lines<impl BufRead>> {
    let file = std::fs::File::open(path).map_err(|e| {
        ArchiveError::Invalid(format!("cannot open the archive {}: {e}", path.display()))
    })?;
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    Ok(Lines {
        r: BufReader::with_capacity(1 << 16, gz),
        buf: String::new(),
        no: 0,
    })
}

fn parse_header<Rd: BufRead>(lines: &mut Lines<Rd>) -> R<Header> {
    let text = lines
        .next_line()?
        .ok_or_else(|| ArchiveError::Invalid("the archive is empty".into()))?;
    let v: Value = serde_json::from_str(text)
        .map_err(|e| lines.invalid(format!("the header is not JSON: {e}")))?;
    if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(ArchiveError::Refused(format!(
            "not an Accord archive: its header's \"format\" is {}, not {FORMAT:?}",
            v.get("format")
                .map_or("missing".to_string(), Value::to_string)
        )));
    }
    let version = v.get("formatVersion").and_then(Value::as_u64).unwrap_or(0);
    if version > FORMAT_VERSION as u64 {
        return Err(ArchiveError::Refused(format!(
            "the archive has format version {version}, newer than the {FORMAT_VERSION} this \
             accord binary ({}) reads: restore with the accord version that wrote it ({})",
            env!("CARGO_PKG_VERSION"),
            v.get("accordVersion")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
        )));
    }
    if version == 0 {
        return Err(
            lines.invalid("the header's \"formatVersion\" is missing or not a positive integer")
        );
    }
    let header: Header =
        serde_json::from_value(v).map_err(|e| lines.invalid(format!("bad header: {e}")))?;
    let backend = match header.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => return Err(lines.invalid(format!("unknown source backend {other:?}"))),
    };
    // Every migration of the archive must be one this binary has, byte for byte.
    let known = migrator(backend);
    for m in &header.migrations {
        let ours = known.iter().find(|k| k.version == m.version);
        match ours {
            Some(k) if hex::encode(&k.checksum) == m.checksum => {}
            Some(k) => {
                return Err(ArchiveError::Refused(format!(
                    "the archive's migration {} ({}) differs from this accord binary's ({}): \
                     restore with the accord version that wrote the archive ({})",
                    m.version, m.description, k.description, header.accord_version
                )))
            }
            None => {
                return Err(ArchiveError::Refused(format!(
                    "the archive's migration {} ({}) is unknown to this accord binary ({}, which \
                     knows migrations up to {}): restore with accord {} or newer",
                    m.version,
                    m.description,
                    env!("CARGO_PKG_VERSION"),
                    known.iter().map(|k| k.version).max().unwrap_or(0),
                    header.accord_version
                )))
            }
        }
    }
    let mut seen = HashSet::new();
    for t in &header.tables {
        if !EXPORTED.contains(&t.name.as_str()) {
            return Err(ArchiveError::Refused(format!(
                "the archive has table {}, unknown to this accord binary: restore with accord {} \
                 or newer",
                t.name, header.accord_version
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(lines.invalid(format!("table {} is listed twice", t.name)));
        }
    }
    Ok(header)
}

fn read_secrets(path: &Path, header: &Header) -> R<HashMap<(String, String, String), Value>> {
    let text = std::fs::read(path).map_err(|e| {
        ArchiveError::Invalid(format!(
            "the archive kept {} secret(s) (webhook signing secrets, the entity hash key, exporter credentials) in a \
             secrets file, which cannot be read at {}: {e}; pass the file written with the \
             archive (--secrets-file)",
            header.secrets,
            path.display()
        ))
    })?;
    let file: SecretsFile = serde_json::from_slice(&text).map_err(|e| {
        ArchiveError::Invalid(format!("{} is not a secrets file: {e}", path.display()))
    })?;
    if file.format != SECRETS_FORMAT || file.format_version > FORMAT_VERSION {
        return Err(ArchiveError::Invalid(format!(
            "{} is not a secrets file of format {SECRETS_FORMAT} version {FORMAT_VERSION}",
            path.display()
        )));
    }
    if file.archive_id != header.archive_id {
        return Err(ArchiveError::Invalid(format!(
            "the secrets file {} belongs to archive {}, not to this one ({})",
            path.display(),
            file.archive_id,
            header.archive_id
        )));
    }
    if file.secrets.len() as u64 != header.secrets {
        return Err(ArchiveError::Invalid(format!(
            "the secrets file {} holds {} secret(s); the archive expects {}",
            path.display(),
            file.secrets.len(),
            header.secrets
        )));
    }
    Ok(file
        .secrets
        .into_iter()
        .map(|s| {
            (
                (s.table, s.column, Value::Array(s.key).to_string()),
                s.value,
            )
        })
        .collect())
}

/// Rows per INSERT statement (bounded by the parameters a statement may have too).
const BATCH_ROWS: usize = 500;
const MAX_PARAMS: usize = 30_000;

/// Loads the archive at `path` (and its secrets file, when it has secrets) into the
/// empty database at `url`, which is created (SQLite) or must exist (PostgreSQL).
pub async fn restore(path: &Path, secrets_path: &Path, url: &str) -> R<RestoreSummary> {
    let mut lines = open_archive(path)?;
    let header = parse_header(&mut lines)?;
    let secrets = if header.secrets > 0 {
        read_secrets(secrets_path, &header)?
    } else {
        HashMap::new()
    };
    let (mut conn, backend) = connect(url, true).await?;
    let result = restore_into(&mut conn, backend, &header, &mut lines, secrets).await;
    let _ = conn.close().await;
    result?;
    // The migrations this binary has beyond the archive's, with the server's own
    // migration path (and its lock).
    let target_migrator = migrator(backend);
    let archived: HashSet<i64> = header.migrations.iter().map(|m| m.version).collect();
    let further: Vec<i64> = target_migrator
        .iter()
        .map(|m| m.version)
        .filter(|v| !archived.contains(v))
        .collect();
    if !further.is_empty() {
        let store = crate::storage::Store::connect(url).await.map_err(|e| {
            ArchiveError::Failed(format!(
                "the archive was restored, but migrating it further failed: {e:#}"
            ))
        })?;
        store.close().await;
    }
    Ok(RestoreSummary {
        header,
        migrated_further: further,
    })
}

async fn restore_into<Rd: BufRead>(
    conn: &mut AnyConnection,
    backend: Backend,
    header: &Header,
    lines: &mut Lines<Rd>,
    secrets: HashMap<(String, String, String), Value>,
) -> R<()> {
    // 1. Refusals, before anything changes.
    let tables = list_tables(conn, backend).await?;
    if let Some(applied) = applied_migrations(conn, &tables).await? {
        let archived: HashSet<i64> = header.migrations.iter().map(|m| m.version).collect();
        if let Some(m) = applied.iter().find(|m| !archived.contains(&m.version)) {
            return Err(ArchiveError::Refused(format!(
                "the target database is migrated past the archive (migration {} {}): restore \
                 into a new, empty database",
                m.version, m.description
            )));
        }
    }
    ensure_empty(conn, &tables).await?;

    // 2. The target's schema at exactly the archive's migrations.
    let mut partial = migrator(backend);
    let wanted: HashSet<i64> = header.migrations.iter().map(|m| m.version).collect();
    // `migrations` is public (if semver-exempt) so that `migrate!` can build it; a subset
    // is how to migrate to a given set of versions rather than to the newest.
    partial.migrations = std::borrow::Cow::Owned(
        partial
            .migrations
            .iter()
            .filter(|m| wanted.contains(&m.version))
            .cloned()
            .collect(),
    );
    if backend == Backend::Sqlite {
        conn.execute("PRAGMA journal_mode = WAL")
            .await
            .map_err(db_err("cannot set the journal mode"))?;
    }
    partial
        .run(&mut *conn)
        .await
        .map_err(|e| ArchiveError::Failed(format!("cannot migrate the target database: {e}")))?;

    // 3. One transaction for every row.
    let begin = match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    conn.execute(begin)
        .await
        .map_err(db_err("cannot start the restore transaction"))?;
    let loaded = load(conn, backend, header, lines, secrets).await;
    match loaded {
        Ok(()) => conn
            .execute("COMMIT")
            .await
            .map(|_| ())
            .map_err(db_err("cannot commit the restore")),
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Refuses a target with a row in any table but the excluded ones.
async fn ensure_empty(conn: &mut AnyConnection, tables: &[String]) -> R<()> {
    for t in tables {
        if EXCLUDED.iter().any(|(x, _)| x == t) || SEEDED.contains(&t.as_str()) {
            continue;
        }
        let any = sqlx::query(&format!("SELECT 1 AS one FROM {} LIMIT 1", quote(t)))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err(&format!("cannot read table {t} of the target")))?;
        if any.is_some() {
            return Err(ArchiveError::Refused(format!(
                "the target database is not empty (table {t} has rows; a server started on it \
                 writes some at once): restore only into a new, empty database"
            )));
        }
    }
    Ok(())
}

async fn load<Rd: BufRead>(
    conn: &mut AnyConnection,
    backend: Backend,
    header: &Header,
    lines: &mut Lines<Rd>,
    mut secrets: HashMap<(String, String, String), Value>,
) -> R<()> {
    if backend == Backend::Postgres {
        // Servers on the target wait until the restore has committed (the writers'
        // lock of `Store::begin_write`); no statement bound for a long load.
        conn.execute("SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock(7301)")
            .await
            .map_err(db_err("cannot lock the target"))?;
    }
    // What the migrations seeded gives way to the archive's rows.
    for t in SEEDED {
        if header.tables.iter().any(|x| x.name == *t) {
            sqlx::query(&format!("DELETE FROM {}", quote(t)))
                .execute(&mut *conn)
                .await
                .map_err(db_err(&format!("cannot clear table {t}")))?;
        }
    }
    // The target's own columns, by which values are bound.
    let existing = list_tables(conn, backend).await?;
    let mut targets = Vec::with_capacity(header.tables.len());
    for t in &header.tables {
        if !existing.contains(&t.name) {
            return Err(ArchiveError::Invalid(format!(
                "the archive has table {}, which the target lacks after its migrations",
                t.name
            )));
        }
        let (cols, pk) = table_columns(conn, backend, &t.name).await?;
        let mut order = Vec::with_capacity(t.columns.len());
        for c in &t.columns {
            let target = cols.iter().find(|x| x.name == c.name).ok_or_else(|| {
                ArchiveError::Invalid(format!(
                    "the archive's column {}.{} is not in the target database",
                    t.name, c.name
                ))
            })?;
            let compatible = target.ty == c.ty
                || matches!(
                    (c.ty, target.ty),
                    (ColumnType::Integer, ColumnType::Boolean)
                        | (ColumnType::Boolean, ColumnType::Integer)
                );
            if !compatible {
                return Err(ArchiveError::Invalid(format!(
                    "column {}.{} is {:?} in the archive but {:?} in the target",
                    t.name, c.name, c.ty, target.ty
                )));
            }
            order.push(target.clone());
        }
        if let Some(missing) = cols
            .iter()
            .find(|x| !x.nullable && !t.columns.iter().any(|c| c.name == x.name))
        {
            return Err(ArchiveError::Invalid(format!(
                "the target's column {}.{} (NOT NULL) is not in the archive",
                t.name, missing.name
            )));
        }
        let pk_idx: Vec<usize> = pk
            .iter()
            .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
            .collect();
        targets.push((order, pk_idx));
    }

    let mut current = 0usize;
    let mut batch: Vec<Vec<Value>> = Vec::new();
    let mut counts = vec![0u64; header.tables.len()];
    let mut total = 0u64;
    let trailer = loop {
        let Some(text) = lines.next_line()? else {
            return Err(ArchiveError::Invalid(format!(
                "the archive ends after line {} without its trailer: it was cut short",
                lines.no
            )));
        };
        if text.starts_with("{\"end\"") {
            let t: Trailer = serde_json::from_str(text)
                .map_err(|e| lines.invalid(format!("bad trailer: {e}")))?;
            break t;
        }
        let row: RowLine =
            serde_json::from_str(text).map_err(|e| lines.invalid(format!("not a row: {e}")))?;
        // Rows come table after table, in the header's order.
        let at = header.tables[current.min(header.tables.len())..]
            .iter()
            .position(|t| t.name == row.t)
            .ok_or_else(|| {
                lines.invalid(format!(
                    "a row of table {} where the header's order does not allow one",
                    row.t
                ))
            })?;
        if at > 0 {
            flush(
                conn,
                backend,
                &header.tables[current],
                &targets[current].0,
                &mut batch,
            )
            .await?;
            current += at;
        }
        let info = &header.tables[current];
        let mut values = row.r;
        if values.len() != info.columns.len() {
            return Err(lines.invalid(format!(
                "a row of {} has {} values for {} columns",
                info.name,
                values.len(),
                info.columns.len()
            )));
        }
        for (ci, cond) in secret_columns(&info.name, &info.columns) {
            let (pk_idx, col) = (&targets[current].1, &info.columns[ci].name);
            if values[ci].is_null() && is_secret(&values, cond) {
                let key = Value::Array(pk_idx.iter().map(|&k| values[k].clone()).collect());
                if let Some(v) = secrets.remove(&(info.name.clone(), col.clone(), key.to_string()))
                {
                    values[ci] = v;
                } else if !info.columns[ci].nullable {
                    return Err(lines.invalid(format!(
                        "the secret {}.{} of row {key} is not in the secrets file",
                        info.name, col
                    )));
                }
            }
        }
        counts[current] += 1;
        total += 1;
        batch.push(values);
        let cols = info.columns.len().max(1);
        if batch.len() >= BATCH_ROWS || (batch.len() + 1) * cols > MAX_PARAMS {
            flush(conn, backend, info, &targets[current].0, &mut batch).await?;
        }
    };
    if let (Some(info), Some(target)) = (header.tables.get(current), targets.get(current)) {
        flush(conn, backend, info, &target.0, &mut batch).await?;
    }
    if lines.next_line()?.is_some() {
        return Err(lines.invalid("lines after the trailer"));
    }
    for (t, n) in header.tables.iter().zip(&counts) {
        if t.rows != *n {
            return Err(ArchiveError::Invalid(format!(
                "the archive holds {n} row(s) of table {} but its header counts {}",
                t.name, t.rows
            )));
        }
    }
    if trailer.rows != total || !trailer.end {
        return Err(ArchiveError::Invalid(format!(
            "the archive holds {total} row(s) but its trailer counts {}",
            trailer.rows
        )));
    }
    if !secrets.is_empty() {
        return Err(ArchiveError::Invalid(format!(
            "{} secret(s) of the secrets file match no row of the archive",
            secrets.len()
        )));
    }
    if backend == Backend::Postgres {
        advance_sequences(conn, header).await?;
    }
    Ok(())
}

/// Inserts `batch` with one multi-row INSERT. SQLite gets anonymous `?` placeholders:
/// it looks numbered ones (`$n`) up by name in a list, so binding n of them costs n^2
/// (a 500-row batch took 50 ms instead of 2).
async fn flush(
    conn: &mut AnyConnection,
    backend: Backend,
    info: &TableInfo,
    target_cols: &[Column],
    batch: &mut Vec<Vec<Value>>,
) -> R<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let cols: Vec<String> = info.columns.iter().map(|c| quote(&c.name)).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        quote(&info.name),
        cols.join(", ")
    );
    let mut p = 0usize;
    for (i, _) in batch.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for j in 0..cols.len() {
            if j > 0 {
                sql.push_str(", ");
            }
            p += 1;
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => sql.push_str(&format!("${p}")),
            }
        }
        sql.push(')');
    }
    let mut q = sqlx::query(&sql);
    for row in batch.iter() {
        for (v, c) in row.iter().zip(target_cols) {
            q = bind_value(q, v, c)
                .map_err(|e| ArchiveError::Invalid(format!("a row of table {}: {e}", info.name)))?;
        }
    }
    q.execute(&mut *conn)
        .await
        .map_err(db_err(&format!("cannot insert into table {}", info.name)))?;
    batch.clear();
    Ok(())
}

/// PostgreSQL: every sequence owned by a column of a restored table (serial and
/// identity columns) continues after the highest restored value, so new rows never
/// reuse an id. (Accord allocates its ids as max + 1 today; this keeps any future
/// sequence-backed table right too.)
async fn advance_sequences(conn: &mut AnyConnection, header: &Header) -> R<()> {
    for t in &header.tables {
        for c in &t.columns {
            let seq: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence(quote_ident($1), $2)::text")
                    .bind(&t.name)
                    .bind(&c.name)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err("cannot read the sequences"))?;
            if let Some(seq) = seq {
                sqlx::query(&format!(
                    "SELECT setval($1::regclass, COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)::text",
                    quote(&c.name),
                    quote(&t.name)
                ))
                .bind(&seq)
                .execute(&mut *conn)
                .await
                .map_err(db_err(&format!("cannot advance the sequence {seq}")))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_and_exclusion_lists_are_disjoint_and_unique() {
        let mut seen = HashSet::new();
        for t in EXPORTED.iter().chain(EXCLUDED.iter().map(|(t, _)| t)) {
            assert!(seen.insert(*t), "{t} is listed twice");
        }
    }

    #[test]
    fn secret_columns_name_exported_tables() {
        for s in SECRET_COLUMNS {
            assert!(EXPORTED.contains(&s.table), "{}", s.table);
        }
    }

    #[test]
    fn declared_types_map_per_backend() {
        use ColumnType::*;
        for (d, t) in [
            ("INTEGER", Integer),
            ("BIGINT", Integer),
            ("TEXT", Text),
            ("BLOB", Blob),
            ("BOOLEAN", Boolean),
            ("REAL", Real),
        ] {
            assert_eq!(
                ColumnType::from_declared(Backend::Sqlite, d),
                Some(t),
                "{d}"
            );
        }
        for (d, t) in [
            ("bigint", Integer),
            ("text", Text),
            ("bytea", Blob),
            ("boolean", Boolean),
        ] {
            assert_eq!(
                ColumnType::from_declared(Backend::Postgres, d),
                Some(t),
                "{d}"
            );
        }
        assert_eq!(
            ColumnType::from_declared(Backend::Postgres, "tsvector"),
            None
        );
        assert_eq!(
            ColumnType::from_declared(Backend::Postgres, "timestamp with time zone"),
            None
        );
    }

    #[test]
    fn the_binary_knows_the_same_migration_versions_on_both_backends() {
        let s: Vec<i64> = migrator(Backend::Sqlite)
            .iter()
            .map(|m| m.version)
            .collect();
        let p: Vec<i64> = migrator(Backend::Postgres)
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(s, p);
    }
}
