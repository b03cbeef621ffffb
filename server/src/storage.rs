//! Storage: the registry's tables on SQLite (the embedded default) or PostgreSQL
//! (shared deployments), behind one type.
//!
//! Both databases are reached through sqlx's `Any` driver with SQL that both accept
//! (`$n` placeholders, `ON CONFLICT`, integers as 64-bit), so there is one set of
//! queries and the same test suite runs against both. What differs is confined to
//! [`Backend`]: how writers are serialised (SQLite: one writer connection; PostgreSQL:
//! a transaction-scoped advisory lock, so several nodes on one database register
//! atomically) and how other nodes learn of a change (PostgreSQL `NOTIFY`).
//!
//! Every mutation is one transaction ([`WriteTx`]); the query functions take any
//! executor so reads run the same inside a transaction and outside it.

use crate::error::ApiError;
use accord_compat::SchemaFormat;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::str::FromStr;
use std::time::Duration;

mod write;
pub use write::{ChainHead, NoticeSink, TxConn, WriteTx};

/// The channel on which nodes announce changes to each other (PostgreSQL only).
pub const NOTIFY_CHANNEL: &str = "accord_changes";

/// Key of the global config and mode rows.
pub const GLOBAL: &str = "";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A reference as stored with a schema: the name the schema uses, and the subject
/// version it points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// An immutable stored schema.
#[derive(Debug, Clone)]
pub struct SchemaRecord {
    pub id: i64,
    pub guid: String,
    pub hash: String,
    pub format: SchemaFormat,
    pub schema: String,
    pub references: Vec<SchemaReference>,
    pub metadata: Option<serde_json::Value>,
    pub rule_set: Option<serde_json::Value>,
    pub created_ms: i64,
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub subject: String,
    pub version: i64,
    pub schema_id: i64,
    pub deleted: bool,
    pub ts: i64,
}

/// What [`q::schema_lookup`] finds for a schema's hash.
#[derive(Debug)]
pub struct SchemaLookup {
    /// The id a schema with the hash has in the context (the lowest).
    pub id: Option<i64>,
    /// The context's highest stored id (its base when it has none).
    pub max_id: i64,
    /// The subject's highest live version with the hash (and the wanted id).
    pub live_version: Option<i64>,
}

/// What [`q::subject_state`] reads.
#[derive(Debug, Default, Clone)]
pub struct SubjectState {
    /// `(scope key, config body)` of the keys asked for.
    pub configs: Vec<(String, serde_json::Value)>,
    /// `(scope key, mode)` of the keys asked for.
    pub modes: Vec<(String, String)>,
    /// Every version of the subject (soft-deleted too), ascending.
    pub versions: Vec<VersionRecord>,
    /// `(stream, owner team)` of the streams the subject belongs to, by name.
    pub streams: Vec<(String, Option<String>)>,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    url: String,
    /// The writers' gate and group commit (see [`write`]). PostgreSQL: one writer of
    /// this node at a time waits for (or holds) the cluster-wide advisory lock. The
    /// lock serialises writers anyway, so this costs no throughput; what it buys is
    /// that a node cut off from the database has at most one session in the lock's
    /// queue. Without it each of its queued sessions was granted the lock in turn, into
    /// the void, and held it until the server timed it out: the other nodes stalled for
    /// that timeout times the queue's length.
    writers: std::sync::Arc<write::Writers>,
    /// This node's copy of the catalog's documents (see [`crate::catalog::meta`]).
    catalog: std::sync::Arc<crate::catalog::meta::Meta>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// How the store talks to its database: the bounds on every wait.
///
/// A registry that waits without a bound on its database stalls every request behind
/// the one that hangs (a partitioned PostgreSQL session keeps the writers' advisory
/// lock until its TCP connection times out, two hours by default). So each wait has a
/// bound here, and the PostgreSQL session bounds are set on every connection the pools
/// open.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Longest a request waits for a pooled connection before it answers 503. Short, so
    /// that during an outage health probes and requests fail fast instead of queueing.
    /// (SQLite's single writer connection is a queue of writers, not an outage signal:
    /// writers wait for it up to `sqlite_writer_wait`.)
    pub acquire_timeout: Duration,
    /// SQLite: longest a writer waits for the one writer connection.
    pub sqlite_writer_wait: Duration,
    /// PostgreSQL `statement_timeout`: no statement runs longer.
    pub statement_timeout: Duration,
    /// PostgreSQL `lock_timeout`: no statement waits longer for a lock, the writers'
    /// advisory lock included.
    pub lock_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`: a session that holds a
    /// transaction open without a statement (its node partitioned away or stalled) is
    /// ended by the server, releasing the advisory lock so other nodes keep writing.
    pub idle_in_transaction_timeout: Duration,
    /// PostgreSQL server-side TCP keepalive (`tcp_keepalives_idle`; interval 1/3 of it,
    /// 3 probes): the server notices a client that vanished without closing.
    pub keepalive_idle: Duration,
    /// SQLite: the most pages (of 4 KiB) the database may hold (`PRAGMA
    /// max_page_count`), a quota; writes beyond it answer 507. `None`: no cap but the
    /// disk's.
    pub sqlite_max_pages: Option<u64>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            acquire_timeout: Duration::from_secs(1),
            sqlite_writer_wait: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(10),
            idle_in_transaction_timeout: Duration::from_secs(5),
            keepalive_idle: Duration::from_secs(10),
            sqlite_max_pages: None,
        }
    }
}

impl DbOptions {
    /// The `SET` statements that bound a PostgreSQL session.
    fn pg_session_settings(&self) -> String {
        let keepalive = self.keepalive_idle.as_secs().max(1);
        format!(
            "SET statement_timeout = {}; SET lock_timeout = {}; \
             SET idle_in_transaction_session_timeout = {}; \
             SET tcp_keepalives_idle = {keepalive}; SET tcp_keepalives_interval = {}; \
             SET tcp_keepalives_count = 3",
            self.statement_timeout.as_millis().max(1),
            self.lock_timeout.as_millis().max(1),
            self.idle_in_transaction_timeout.as_millis().max(1),
            (keepalive / 3).max(1),
        )
    }
}

impl Store {
    /// Connects with the default [`DbOptions`] (the CLI's offline admin commands).
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Store::connect_with(url, &DbOptions::default()).await
    }

    /// Connects, creating the SQLite file (and its folder) if needed, and applies the
    /// migrations of the backend.
    pub async fn connect_with(url: &str, options: &DbOptions) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://PATH or postgres://...");
        };
        let store = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url)?;
                // WAL lets readers run beside the single writer; the busy timeout covers
                // the short moments a checkpoint holds the file.
                let max_pages = options
                    .sqlite_max_pages
                    .map(|n| format!("; PRAGMA max_page_count = {n}"))
                    .unwrap_or_default();
                // Temporary storage (the sub-journal of every savepoint a group commit
                // opens, sorts) in memory: on disk each was a temporary file created,
                // written, unlinked and closed, per transaction.
                let pragmas: std::sync::Arc<str> = format!(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY{max_pages}"
                )
                .into();
                // No ping on acquire: a connection to a local file does not go stale,
                // and each ping is a round trip to the connection's thread (on one CPU,
                // two context switches) before every read and every write transaction.
                let opts = |wait: Duration, extra: &'static str| {
                    let pragmas = pragmas.clone();
                    AnyPoolOptions::new()
                        .acquire_timeout(wait)
                        .test_before_acquire(false)
                        .after_connect(move |conn, _| {
                            let pragmas = pragmas.clone();
                            Box::pin(async move {
                                conn.execute(&*pragmas).await?;
                                if !extra.is_empty() {
                                    conn.execute(extra).await?;
                                }
                                Ok(())
                            })
                        })
                };
                let write = opts(options.sqlite_writer_wait, "")
                    .max_connections(1)
                    .connect(&url)
                    .await?;
                write.execute("PRAGMA journal_mode = WAL").await?;
                // Readers keep a small page cache each (1 MiB instead of SQLite's 2 MiB
                // default): the node caches answer the hot reads, the OS caches the file,
                // and eight full caches would be most of the process's memory.
                let read = opts(options.acquire_timeout, READER_CACHE_PRAGMA)
                    .max_connections(8)
                    .connect(&url)
                    .await?;
                Store {
                    read,
                    write,
                    backend,
                    url,
                    writers: std::sync::Arc::new(write::Writers::new(
                        Backend::Sqlite,
                        options.sqlite_writer_wait,
                    )),
                    catalog: Default::default(),
                }
            }
            Backend::Postgres => {
                // Writers queue on the advisory lock holding a connection each, so they
                // get a pool of their own and can never starve reads.
                let settings: std::sync::Arc<str> = options.pg_session_settings().into();
                let pool = |n| {
                    let settings = settings.clone();
                    AnyPoolOptions::new()
                        .max_connections(n)
                        .acquire_timeout(options.acquire_timeout)
                        .after_connect(move |conn, _| {
                            let settings = settings.clone();
                            Box::pin(async move {
                                conn.execute(&*settings).await?;
                                Ok(())
                            })
                        })
                        .connect(url)
                };
                Store {
                    read: pool(16).await?,
                    // Writers pass the gate one at a time; a few spare connections let
                    // a discarded one be replaced without waiting.
                    write: pool(4).await?,
                    backend,
                    url: url.to_string(),
                    writers: std::sync::Arc::new(write::Writers::new(
                        Backend::Postgres,
                        options.lock_timeout,
                    )),
                    catalog: Default::default(),
                }
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.write.acquire().await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("../migrations/sqlite")
                    .run(&mut *conn)
                    .await?
            }
            Backend::Postgres => {
                // Several nodes may start at once; one migrates, the others wait.
                // Migrations may run long on a big database: no statement or lock bound
                // for them, so this session must not serve requests afterwards.
                conn.close_on_drop();
                conn.execute("SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0")
                    .await?;
                conn.execute("SELECT pg_advisory_lock(7302)").await?;
                let res = sqlx::migrate!("../migrations/postgres")
                    .run(&mut *conn)
                    .await;
                conn.execute("SELECT pg_advisory_unlock(7302)").await?;
                res?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool for reads outside a transaction.
    /// This node's copy of the catalog's documents.
    pub fn catalog_meta(&self) -> &std::sync::Arc<crate::catalog::meta::Meta> {
        &self.catalog
    }

    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), ApiError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// SQLite: moves the WAL into the database file and empties it (after a shred, so
    /// deleted key rows do not linger in the WAL). It runs on the single writer
    /// connection, between write transactions: run from a reader it would restart the
    /// WAL under a writer's open snapshot and fail that write. Best effort; a no-op on
    /// PostgreSQL.
    pub async fn checkpoint_wal(&self) {
        if self.backend != Backend::Sqlite {
            return;
        }
        if let Err(e) = self.write.execute("PRAGMA wal_checkpoint(TRUNCATE)").await {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The databases a unit test runs on: a fresh SQLite file named after `name`, and
/// PostgreSQL when `ACCORD_TEST_POSTGRES_URL` is set (required when
/// `ACCORD_REQUIRE_POSTGRES=1`; a skip says so).
#[cfg(test)]
pub(crate) fn test_database_urls(name: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("accord-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut urls = vec![format!("sqlite://{}/db.sqlite", dir.display())];
    match std::env::var("ACCORD_TEST_POSTGRES_URL") {
        Ok(pg) => urls.push(pg),
        Err(_) if std::env::var("ACCORD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("ACCORD_REQUIRE_POSTGRES=1 but ACCORD_TEST_POSTGRES_URL is not set")
        }
        Err(_) => eprintln!("{name}: PostgreSQL variant skipped (no ACCORD_TEST_POSTGRES_URL)"),
    }
    urls
}

fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("an in-memory SQLite database is not supported: give a file path");
    }
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    Ok(format!("sqlite://{path}?mode=rwc"))
}

/// A change other nodes must hear about, sent with the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A subject's versions, config or mode changed.
    Subject(String),
    /// Global config or mode changed.
    Global,
    /// Schemas may have lost their last version (permanent delete), or ids read
    /// inside a lost transaction may be given out again: cached schemas are forgotten.
    Schemas,
}

impl Notice {
    pub fn payload(&self) -> String {
        match self {
            Notice::Subject(s) => format!("s:{s}"),
            Notice::Global => "g".to_string(),
            Notice::Schemas => "x".to_string(),
        }
    }

    pub fn from_payload(p: &str) -> Option<Notice> {
        if let Some(s) = p.strip_prefix("s:") {
            Some(Notice::Subject(s.to_string()))
        } else {
            match p {
                "g" => Some(Notice::Global),
                "x" => Some(Notice::Schemas),
                _ => None,
            }
        }
    }
}

/// The page cache of each SQLite reader connection (negative: KiB).
const READER_CACHE_PRAGMA: &str = "PRAGMA cache_size = -1024";

/// The queries, each usable on a pool or inside a [`WriteTx`].
pub mod q {
    /// Whether `conn` is a PostgreSQL connection (where its SQL differs from SQLite's).
    pub(crate) fn is_postgres(conn: &sqlx::AnyConnection) -> bool {
        conn.backend_name().eq_ignore_ascii_case("postgresql")
    }

    /// `$1, $2, ..., $n`.
    pub(crate) fn placeholders(n: usize) -> String {
        placeholders_after(0, n)
    }

    /// The rows `sql` returns from the readers, its placeholders bound in order to
    /// `values` (the text values of a dynamic query: names, filters, cursors).
    pub(crate) async fn rows_bound(
        store: &Store,
        sql: &str,
        values: impl IntoIterator<Item = String>,
    ) -> R<Vec<AnyRow>> {
        let mut q = sqlx::query(sql);
        for v in values {
            q = q.bind(v);
        }
        Ok(q.fetch_all(store.reader()).await?)
    }

    /// `$k+1, ..., $k+n`: the next `n` parameters after the first `k`.
    pub(crate) fn placeholders_after(k: usize, n: usize) -> String {
        (k + 1..=k + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    use super::*;
    use sqlx::any::Any;

    type R<T> = Result<T, ApiError>;

    fn schema_from_row(row: &AnyRow) -> R<SchemaRecord> {
        let format: String = row.try_get("schema_type")?;
        let refs: String = row.try_get("refs")?;
        let metadata: Option<String> = row.try_get("metadata")?;
        let rule_set: Option<String> = row.try_get("rule_set")?;
        let parse_json = |s: Option<String>| -> R<Option<serde_json::Value>> {
            s.map(|s| serde_json::from_str(&s).map_err(ApiError::internal))
                .transpose()
        };
        Ok(SchemaRecord {
            id: row.try_get("id")?,
            guid: row.try_get("guid")?,
            hash: row.try_get("hash")?,
            format: SchemaFormat::from_str(&format).map_err(ApiError::internal)?,
            schema: row.try_get("schema_text")?,
            references: serde_json::from_str(&refs).map_err(ApiError::internal)?,
            metadata: parse_json(metadata)?,
            rule_set: parse_json(rule_set)?,
            created_ms: row.try_get("created_ms")?,
        })
    }

    fn version_from_row(row: &AnyRow) -> R<VersionRecord> {
        Ok(VersionRecord {
            subject: row.try_get("subject")?,
            version: row.try_get("version")?,
            schema_id: row.try_get("schema_id")?,
            deleted: row.try_get::<i64, _>("deleted")? != 0,
            ts: row.try_get("ts")?,
        })
    }

    const SCHEMA_COLS: &str =
        "id, guid, hash, schema_type, schema_text, refs, metadata, rule_set, created_ms";

    /// A schema by id, whether or not any version still points at it.
    pub async fn schema_row<'e, E: Executor<'e, Database = Any>>(
        e: E,
        id: i64,
    ) -> R<Option<SchemaRecord>> {
        let sql = format!("SELECT {SCHEMA_COLS} FROM schemas WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(e).await?;
        row.as_ref().map(schema_from_row).transpose()
    }

    /// The schema rows of `ids` (those that exist, in no particular order), a few
    /// hundred to a query: what a listing of many versions reads in one go.
    pub async fn schema_rows(conn: &mut sqlx::AnyConnection, ids: &[i64]) -> R<Vec<SchemaRecord>> {
        const CHUNK: usize = 500;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {SCHEMA_COLS} FROM schemas WHERE id IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *conn).await? {
                out.push(schema_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// A schema by id, only while some version (soft-deleted included) points at it:
    /// what `GET /schemas/ids/{id}` serves.
    pub async fn live_schema<'e, E: Executor<'e, Database = Any>>(
        e: E,
        id: i64,
    ) -> R<Option<SchemaRecord>> {
        let sql = format!(
            "SELECT {SCHEMA_COLS} FROM schemas WHERE id = $1 \
             AND EXISTS (SELECT 1 FROM subject_versions v WHERE v.schema_id = schemas.id)"
        );
        let row = sqlx::query(&sql).bind(id).fetch_optional(e).await?;
        row.as_ref().map(schema_from_row).transpose()
    }

    /// Ids of live schemas with this GUID (more than one only after IMPORT).
    pub async fn ids_by_guid<'e, E: Executor<'e, Database = Any>>(e: E, guid: &str) -> R<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM schemas WHERE guid = $1 \
             AND EXISTS (SELECT 1 FROM subject_versions v WHERE v.schema_id = schemas.id) ORDER BY id",
        )
        .bind(guid)
        .fetch_all(e)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }

    /// The highest stored id in the context numbered `context`, or the context's base
    /// (see `crate::context`) when it has none: the next id is one more.
    pub async fn max_schema_id<'e, E: Executor<'e, Database = Any>>(e: E, context: i64) -> R<i64> {
        let base = crate::context::id_base(context);
        let row =
            sqlx::query("SELECT COALESCE(MAX(id), $1) AS m FROM schemas WHERE id > $1 AND id < $2")
                .bind(base)
                .bind(crate::context::id_base(context + 1))
                .fetch_one(e)
                .await?;
        Ok(row.try_get("m")?)
    }

    /// A subject's versions in ascending order.
    pub async fn versions<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        include_deleted: bool,
    ) -> R<Vec<VersionRecord>> {
        let sql =
            format!("SELECT {PACKED_VERSIONS} WHERE v.subject = $1 AND (v.deleted = 0 OR $2 = 1)");
        let packed: Option<String> = sqlx::query_scalar(&sql)
            .bind(subject)
            .bind(include_deleted as i64)
            .fetch_one(e)
            .await?;
        unpack_versions(subject, packed.as_deref())
    }

    /// A subject's versions come back as one row, `version:id:deleted:ts` joined by
    /// commas (`string_agg`, which SQLite has too): a long subject was otherwise as many
    /// rows, each a round trip between the database's thread and the caller's. This is
    /// that value (`AS v`) `FROM subject_versions v`; the caller adds the `WHERE`.
    /// [`unpack_versions`] reads it.
    const PACKED_VERSIONS: &str =
        "string_agg(v.version || ':' || v.schema_id || ':' || v.deleted || ':' || v.ts, \
             ',' ORDER BY v.version) AS v FROM subject_versions v";

    /// The versions [`PACKED_VERSIONS`] packed.
    fn unpack_versions(subject: &str, packed: Option<&str>) -> R<Vec<VersionRecord>> {
        let bad = || ApiError::internal(anyhow::anyhow!("malformed version list of {subject}"));
        let Some(packed) = packed.filter(|p| !p.is_empty()) else {
            return Ok(Vec::new());
        };
        packed
            .split(',')
            .map(|item| {
                let mut parts = item.split(':');
                let mut int =
                    || -> R<i64> { parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
                Ok(VersionRecord {
                    subject: subject.to_string(),
                    version: int()?,
                    schema_id: int()?,
                    deleted: int()? != 0,
                    ts: int()?,
                })
            })
            .collect()
    }

    pub async fn version<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        version: i64,
    ) -> R<Option<VersionRecord>> {
        let row = sqlx::query(
            "SELECT subject, version, schema_id, deleted, ts FROM subject_versions WHERE subject = $1 AND version = $2",
        )
        .bind(subject)
        .bind(version)
        .fetch_optional(e)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    pub async fn latest_version<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        include_deleted: bool,
    ) -> R<Option<VersionRecord>> {
        let row = sqlx::query(
            "SELECT subject, version, schema_id, deleted, ts FROM subject_versions \
             WHERE subject = $1 AND (deleted = 0 OR $2 = 1) ORDER BY version DESC LIMIT 1",
        )
        .bind(subject)
        .bind(include_deleted as i64)
        .fetch_optional(e)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// How many subjects [`latest_versions`] reads in one statement.
    pub const LATEST_BATCH: usize = 32;

    /// The latest live version of each of up to [`LATEST_BATCH`] subjects (more are
    /// ignored), as [`latest_version`] without deleted ones reads it for one, in one
    /// statement (the background refresh of the latest cache). A subject with no live
    /// version is absent. The statement always binds [`LATEST_BATCH`] subjects (the last
    /// one repeated), so it is prepared once.
    pub async fn latest_versions<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subjects: &[String],
    ) -> R<Vec<VersionRecord>> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let params: Vec<String> = (1..=LATEST_BATCH).map(|i| format!("${i}")).collect();
            format!(
                "SELECT subject, version, schema_id, deleted, ts FROM subject_versions v \
                 WHERE subject IN ({}) AND deleted = 0 AND version = \
                 (SELECT MAX(version) FROM subject_versions w WHERE w.subject = v.subject AND w.deleted = 0)",
                params.join(", ")
            )
        });
        let subjects = &subjects[..subjects.len().min(LATEST_BATCH)];
        let Some(last) = subjects.last() else {
            return Ok(Vec::new());
        };
        let mut query = sqlx::query(SQL.as_str());
        for i in 0..LATEST_BATCH {
            query = query.bind(subjects.get(i).unwrap_or(last).as_str());
        }
        let rows = query.fetch_all(e).await?;
        rows.iter().map(version_from_row).collect()
    }

    /// What a registration asks about its schema's dedup `hash`, in one statement:
    /// the id a schema with it already has in the context numbered `context` (the
    /// lowest), the highest stored id there (the context's base when none), and the
    /// highest live version of `subject` whose schema has it (holding id `wanted` when
    /// given): the index on the hash leads each lookup.
    pub async fn schema_lookup<'e, E: Executor<'e, Database = Any>>(
        e: E,
        hash: &str,
        context: i64,
        subject: &str,
        wanted: Option<i64>,
    ) -> R<SchemaLookup> {
        let base = crate::context::id_base(context);
        let row = sqlx::query(
            "SELECT (SELECT MIN(id) FROM schemas WHERE hash = $1 AND id > $2 AND id < $3) AS found, \
             (SELECT COALESCE(MAX(id), $2) FROM schemas WHERE id > $2 AND id < $3) AS m, \
             (SELECT MAX(v.version) FROM schemas s JOIN subject_versions v ON v.schema_id = s.id \
              WHERE s.hash = $1 AND v.subject = $4 AND v.deleted = 0 AND ($5 IS NULL OR s.id = $5)) AS live",
        )
        .bind(hash)
        .bind(base)
        .bind(crate::context::id_base(context + 1))
        .bind(subject)
        .bind(wanted)
        .fetch_one(e)
        .await?;
        Ok(SchemaLookup {
            id: row.try_get("found")?,
            max_id: row.try_get("m")?,
            live_version: row.try_get("live")?,
        })
    }

    /// The highest version number ever given in the subject, soft-deleted included.
    pub async fn max_version<'e, E: Executor<'e, Database = Any>>(e: E, subject: &str) -> R<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS m FROM subject_versions WHERE subject = $1",
        )
        .bind(subject)
        .fetch_one(e)
        .await?;
        Ok(row.try_get("m")?)
    }

    /// Subjects, sorted. `deleted`: also subjects whose versions are all soft-deleted;
    /// `deleted_only`: only those.
    pub async fn subjects<'e, E: Executor<'e, Database = Any>>(
        e: E,
        deleted: bool,
        deleted_only: bool,
    ) -> R<Vec<String>> {
        let having = if deleted_only {
            "HAVING MIN(deleted) = 1"
        } else if deleted {
            ""
        } else {
            "HAVING MIN(deleted) = 0"
        };
        let sql = format!(
            "SELECT subject FROM subject_versions GROUP BY subject {having} ORDER BY subject"
        );
        let rows = sqlx::query(&sql).fetch_all(e).await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("subject")?))
            .collect()
    }

    /// (subject, version) pairs that use a schema.
    pub async fn versions_of_schema<'e, E: Executor<'e, Database = Any>>(
        e: E,
        id: i64,
        include_deleted: bool,
    ) -> R<Vec<VersionRecord>> {
        let rows = sqlx::query(
            "SELECT subject, version, schema_id, deleted, ts FROM subject_versions \
             WHERE schema_id = $1 AND (deleted = 0 OR $2 = 1) ORDER BY subject, version",
        )
        .bind(id)
        .bind(include_deleted as i64)
        .fetch_all(e)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Ids of schemas that reference `subject` `version` and are used by a version
    /// (non-deleted only unless `include_deleted`), optionally ignoring referrers that
    /// live in `except_subject`.
    pub async fn referrers<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        version: i64,
        include_deleted: bool,
        except_subject: Option<&str>,
    ) -> R<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT DISTINCT r.schema_id AS id FROM schema_refs r \
             JOIN subject_versions v ON v.schema_id = r.schema_id \
             WHERE r.ref_subject = $1 AND r.ref_version = $2 AND (v.deleted = 0 OR $3 = 1) \
             AND ($4 = '' OR v.subject <> $4) ORDER BY r.schema_id",
        )
        .bind(subject)
        .bind(version)
        .bind(include_deleted as i64)
        .bind(except_subject.unwrap_or_default())
        .fetch_all(e)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("id")?))
            .collect()
    }

    /// Every version row joined with its schema, for `GET /schemas`.
    pub async fn all_versions<'e, E: Executor<'e, Database = Any>>(
        e: E,
        include_deleted: bool,
    ) -> R<Vec<VersionRecord>> {
        let rows = sqlx::query(
            "SELECT subject, version, schema_id, deleted, ts FROM subject_versions \
             WHERE (deleted = 0 OR $1 = 1) ORDER BY subject, version",
        )
        .bind(include_deleted as i64)
        .fetch_all(e)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    pub async fn config<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
    ) -> R<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT body FROM configs WHERE subject = $1")
            .bind(subject)
            .fetch_optional(e)
            .await?;
        match row {
            Some(r) => {
                let body: String = r.try_get("body")?;
                Ok(Some(
                    serde_json::from_str(&body).map_err(ApiError::internal)?,
                ))
            }
            None => Ok(None),
        }
    }

    /// The stored configs of `keys` (subjects, contexts, the global key), in one query;
    /// keys without one are left out.
    pub async fn configs<'e, E: Executor<'e, Database = Any>>(
        e: E,
        keys: &[String],
    ) -> R<Vec<(String, serde_json::Value)>> {
        scoped(e, "SELECT subject, body AS v FROM configs", keys)
            .await?
            .into_iter()
            .map(|(k, body)| Ok((k, serde_json::from_str(&body).map_err(ApiError::internal)?)))
            .collect()
    }

    /// The stored modes of `keys`, in one query; keys without one are left out.
    pub async fn modes<'e, E: Executor<'e, Database = Any>>(
        e: E,
        keys: &[String],
    ) -> R<Vec<(String, String)>> {
        scoped(e, "SELECT subject, mode AS v FROM modes", keys).await
    }

    /// What a registration reads about `subject` before anything else, in one
    /// statement (each statement is a round trip to the database's thread, and a
    /// registration's are serialised): the configs and modes of `keys` (as [`configs`]
    /// and [`modes`] give them), every version of the subject, soft-deleted ones too,
    /// ascending, and the streams it belongs to (name and owner team, by name). The
    /// versions' schemas are not joined: their hashes are asked for only where needed
    /// ([`schema_lookup`]), and a join on PostgreSQL scanned every schema.
    pub async fn subject_state(
        conn: &mut sqlx::AnyConnection,
        keys: &[String],
        subject: &str,
    ) -> R<SubjectState> {
        let n = keys.len();
        let (subject_at, settings) = match n {
            0 => (1, String::new()),
            _ => (
                2 * n + 1,
                format!(
                    "SELECT 'c' AS kind, subject AS k, body AS v FROM configs WHERE subject IN ({}) \
                     UNION ALL SELECT 'm', subject, mode FROM modes WHERE subject IN ({}) UNION ALL ",
                    placeholders(n),
                    placeholders_after(n, n)
                ),
            ),
        };
        let sql = format!(
            "{settings}SELECT 'v' AS kind, '' AS k, {PACKED_VERSIONS} WHERE v.subject = ${subject_at} \
             UNION ALL SELECT 's', name, owner_team FROM streams \
             WHERE key_subject = ${subject_at} OR value_subject = ${subject_at}"
        );
        let mut q = sqlx::query(&sql);
        for k in keys.iter().chain(keys) {
            q = q.bind(k);
        }
        let mut state = SubjectState::default();
        for r in q.bind(subject).fetch_all(&mut *conn).await? {
            let (kind, k, v): (String, String, Option<String>) =
                (r.try_get("kind")?, r.try_get("k")?, r.try_get("v")?);
            match (kind.as_str(), v) {
                ("c", Some(v)) => state
                    .configs
                    .push((k, serde_json::from_str(&v).map_err(ApiError::internal)?)),
                ("m", Some(v)) => state.modes.push((k, v)),
                ("v", v) => state.versions = unpack_versions(subject, v.as_deref())?,
                ("s", owner) => state.streams.push((k, owner)),
                _ => {}
            }
        }
        state.streams.sort();
        Ok(state)
    }

    /// `(subject, v)` of the rows `select` reads whose subject is one of `keys`.
    async fn scoped<'e, E: Executor<'e, Database = Any>>(
        e: E,
        select: &str,
        keys: &[String],
    ) -> R<Vec<(String, String)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{select} WHERE subject IN ({})", placeholders(keys.len()));
        let mut q = sqlx::query(&sql);
        for k in keys {
            q = q.bind(k);
        }
        let rows = q.fetch_all(e).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("subject")?, r.try_get("v")?)))
            .collect()
    }

    pub async fn mode<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
    ) -> R<Option<String>> {
        let row = sqlx::query("SELECT mode FROM modes WHERE subject = $1")
            .bind(subject)
            .fetch_optional(e)
            .await?;
        Ok(row.map(|r| r.try_get::<String, _>("mode")).transpose()?)
    }

    /// (schemas, live subjects) for `/metrics`.
    pub async fn counts<'e, E: Executor<'e, Database = Any> + Copy>(e: E) -> R<(i64, i64)> {
        let schemas: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schemas")
            .fetch_one(e)
            .await?
            .try_get("n")?;
        let subjects: i64 = sqlx::query(
            "SELECT COUNT(DISTINCT subject) AS n FROM subject_versions WHERE deleted = 0",
        )
        .fetch_one(e)
        .await?
        .try_get("n")?;
        Ok((schemas, subjects))
    }

    // ---- writes (only ever called inside a WriteTx) ----

    const INSERT_SCHEMA: &str = "INSERT INTO schemas (id, guid, hash, schema_type, schema_text, refs, metadata, rule_set, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

    pub async fn insert_schema<'e, E: Executor<'e, Database = Any>>(
        e: E,
        s: &SchemaRecord,
    ) -> R<()> {
        schema_values(sqlx::query(INSERT_SCHEMA), s)?
            .execute(e)
            .await?;
        Ok(())
    }

    /// A new schema and the version that first holds it, in one round trip: on SQLite
    /// two statements sent together, on PostgreSQL one (the version inserted from the
    /// schema insert's result).
    pub async fn insert_schema_and_version(
        conn: &mut sqlx::AnyConnection,
        s: &SchemaRecord,
        v: &VersionRecord,
    ) -> R<()> {
        let sql = if is_postgres(conn) {
            format!(
                "WITH s AS ({INSERT_SCHEMA} RETURNING id) \
                 INSERT INTO subject_versions (subject, version, schema_id, deleted, ts) \
                 SELECT $10, $11, $12, $13, $14 FROM s"
            )
        } else {
            format!(
                "{INSERT_SCHEMA}; INSERT INTO subject_versions (subject, version, schema_id, deleted, ts) \
                 VALUES ($10, $11, $12, $13, $14)"
            )
        };
        version_values(schema_values(sqlx::query(&sql), s)?, v)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// `q` with a version row's columns bound next (subject, version, schema id,
    /// deleted, timestamp).
    fn version_values<'q>(
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
        v: &'q VersionRecord,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        q.bind(&v.subject)
            .bind(v.version)
            .bind(v.schema_id)
            .bind(v.deleted as i64)
            .bind(v.ts)
    }

    /// `q` with a schema row's columns bound as $1..$9 (see [`INSERT_SCHEMA`]).
    fn schema_values<'q>(
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
        s: &'q SchemaRecord,
    ) -> R<sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>> {
        Ok(q.bind(s.id)
            .bind(&s.guid)
            .bind(&s.hash)
            .bind(s.format.as_str())
            .bind(&s.schema)
            .bind(serde_json::to_string(&s.references).map_err(ApiError::internal)?)
            .bind(s.metadata.as_ref().map(|v| v.to_string()))
            .bind(s.rule_set.as_ref().map(|v| v.to_string()))
            .bind(s.created_ms))
    }

    pub async fn insert_ref<'e, E: Executor<'e, Database = Any>>(
        e: E,
        id: i64,
        r: &SchemaReference,
    ) -> R<()> {
        sqlx::query(
            "INSERT INTO schema_refs (schema_id, name, ref_subject, ref_version) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (schema_id, name) DO NOTHING",
        )
        .bind(id)
        .bind(&r.name)
        .bind(&r.subject)
        .bind(r.version)
        .execute(e)
        .await?;
        Ok(())
    }

    pub async fn insert_version<'e, E: Executor<'e, Database = Any>>(
        e: E,
        v: &VersionRecord,
    ) -> R<()> {
        version_values(sqlx::query("INSERT INTO subject_versions (subject, version, schema_id, deleted, ts) VALUES ($1, $2, $3, $4, $5)"), v)
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn set_version_deleted<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        version: i64,
    ) -> R<()> {
        sqlx::query("UPDATE subject_versions SET deleted = 1 WHERE subject = $1 AND version = $2")
            .bind(subject)
            .bind(version)
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn delete_version<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        version: i64,
    ) -> R<()> {
        sqlx::query("DELETE FROM subject_versions WHERE subject = $1 AND version = $2")
            .bind(subject)
            .bind(version)
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn put_config<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        body: &serde_json::Value,
    ) -> R<()> {
        sqlx::query("INSERT INTO configs (subject, body) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET body = excluded.body")
            .bind(subject)
            .bind(body.to_string())
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn delete_config<'e, E: Executor<'e, Database = Any>>(e: E, subject: &str) -> R<()> {
        sqlx::query("DELETE FROM configs WHERE subject = $1")
            .bind(subject)
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn put_mode<'e, E: Executor<'e, Database = Any>>(
        e: E,
        subject: &str,
        mode: &str,
    ) -> R<()> {
        sqlx::query("INSERT INTO modes (subject, mode) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET mode = excluded.mode")
            .bind(subject)
            .bind(mode)
            .execute(e)
            .await?;
        Ok(())
    }

    pub async fn delete_mode<'e, E: Executor<'e, Database = Any>>(e: E, subject: &str) -> R<()> {
        sqlx::query("DELETE FROM modes WHERE subject = $1")
            .bind(subject)
            .execute(e)
            .await?;
        Ok(())
    }

    /// Removes every subject-level mode (`DELETE /mode?recursive=true`).
    pub async fn delete_all_modes<'e, E: Executor<'e, Database = Any>>(e: E) -> R<()> {
        sqlx::query("DELETE FROM modes").execute(e).await?;
        Ok(())
    }
}
