//! Observed usage (issue 18): who really reads and registers each schema.
//!
//! Every authenticated request that reads a schema (by id, guid, subject and version, or
//! latest; node-cache hits too) or registers one is counted here, in memory, per
//! (principal, subject, version, schema id, kind), and a background task adds the counts
//! to `usage_daily` in one write every [`UsageConfig::flush`]: never one write per
//! request. Several nodes add to the same rows, so the table holds the sum. A refused read
//! of a read-restricted stream is counted as an attempt (`refused`).
//!
//! The first time a principal is seen reading a stream, the flush records it in
//! `usage_readers`; when that principal is neither of the owning team nor a declared
//! (active) consumer, by service name or team, the flush emits
//! `usage.undeclared-consumer` in the same transaction. Admins read everything for
//! operations: they are listed as readers, never flagged.
//!
//! A read by id does not say through which subject the reader came: it counts for every
//! subject version that holds the id. Counts of the last flush interval live in one
//! node's memory until flushed; the deletion guard reads them too, other nodes' only once
//! flushed. A failed flush puts its counts back (bounded by [`MAX_PENDING`]).

use crate::auth::{Actor, Principal, Role};
use crate::error::ApiError;
use crate::storage::Store;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use utoipa::ToSchema;

type R<T> = Result<T, ApiError>;

/// Milliseconds in a day; `usage_daily.day` is days since 1970-01-01 UTC.
pub const DAY_MS: i64 = 86_400_000;

/// Distinct entries one node keeps between flushes; beyond, new ones are dropped (and
/// counted, and logged at the flush) rather than growing without bound.
pub const MAX_PENDING: usize = 200_000;

/// How usage is recorded (`accord serve --usage-*`).
#[derive(Debug, Clone)]
pub struct UsageConfig {
    /// Record at all (`--usage-recording`).
    pub enabled: bool,
    /// How often a node adds its counts to the database.
    pub flush: Duration,
    /// Daily rows older than this many days are pruned.
    pub retention_days: u32,
    /// A version or subject read in the last this many days is deleted only with
    /// `force=true` (0: never guarded).
    pub protect_days: u32,
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            enabled: true,
            flush: Duration::from_secs(5),
            retention_days: 90,
            protect_days: 7,
        }
    }
}

/// What a request did with a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Read,
    Write,
    Refused,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "read" => Some(Kind::Read),
            "write" => Some(Kind::Write),
            "refused" => Some(Kind::Refused),
            _ => None,
        }
    }
}

/// One pending count.
struct Count {
    principal: Arc<Principal>,
    requests: i64,
    first_ms: i64,
}

/// (principal id, kind, version, schema id) of a pending count under its subject.
type Key = (i64, Kind, i64, i64);

/// A fast seeded hash for the per-request maps (foldhash; SipHash was most of the
/// recording's cost on an id lookup). Keys come from successful reads, so a caller
/// cannot fill the maps with names of its choosing.
type Fast = foldhash::fast::RandomState;

#[derive(Default)]
struct Pending {
    /// By subject (`""` for reads by id), then [`Key`].
    subjects: HashMap<String, HashMap<Key, Count, Fast>, Fast>,
    entries: usize,
    dropped: u64,
}

impl Pending {
    fn add(
        &mut self,
        subject: &str,
        key: Key,
        principal: &Arc<Principal>,
        requests: i64,
        first: i64,
    ) {
        if let Some(c) = self.subjects.get_mut(subject).and_then(|m| m.get_mut(&key)) {
            c.requests += requests;
            c.first_ms = c.first_ms.min(first);
            return;
        }
        if self.entries >= MAX_PENDING {
            self.dropped += 1;
            return;
        }
        self.entries += 1;
        self.subjects.entry(subject.to_owned()).or_default().insert(
            key,
            Count {
                principal: Arc::clone(principal),
                requests,
                first_ms: first,
            },
        );
    }
}

/// The node's usage recorder.
pub struct Usage {
    config: UsageConfig,
    pending: Mutex<Pending>,
}

impl Default for Usage {
    fn default() -> Self {
        Usage::new(UsageConfig::default())
    }
}

impl Usage {
    pub fn new(config: UsageConfig) -> Usage {
        Usage {
            config,
            pending: Mutex::default(),
        }
    }

    pub fn config(&self) -> &UsageConfig {
        &self.config
    }

    fn principal<'a>(&self, actor: &'a Actor) -> Option<&'a Arc<Principal>> {
        match actor {
            Actor::Principal(p) if self.config.enabled => Some(p),
            _ => None,
        }
    }

    fn count(&self, actor: &Actor, kind: Kind, subject: &str, version: i64, schema_id: i64) {
        let Some(p) = self.principal(actor) else {
            return;
        };
        let key = (p.id, kind, version, schema_id);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = pending
            .subjects
            .get_mut(subject)
            .and_then(|m| m.get_mut(&key))
        {
            // The hot path: no allocation, no clock.
            c.requests += 1;
            return;
        }
        pending.add(subject, key, p, 1, crate::registry::now_ms());
    }

    /// A schema read by id (or guid) by `actor`.
    pub fn read_id(&self, actor: &Actor, id: i64) {
        self.count(actor, Kind::Read, "", 0, id);
    }

    /// A subject's version read by `actor` (by number or as the latest).
    pub fn read_version(&self, actor: &Actor, subject: &str, version: i64, schema_id: i64) {
        self.count(actor, Kind::Read, subject, version, schema_id);
    }

    /// A version registered by `actor` (or found already registered).
    pub fn wrote(&self, actor: &Actor, subject: &str, version: i64, schema_id: i64) {
        self.count(actor, Kind::Write, subject, version, schema_id);
    }

    /// A read of `subject` refused to `actor` (a read-restricted stream).
    pub fn refused_subject(&self, actor: &Actor, subject: &str) {
        self.count(actor, Kind::Refused, subject, 0, 0);
    }

    /// A read of schema `id` refused to `actor`.
    pub fn refused_id(&self, actor: &Actor, id: i64) {
        self.count(actor, Kind::Refused, "", 0, id);
    }

    /// Pending (unflushed) readers of `subject` (of `versions` of it, whose schema ids
    /// are `ids`; all when `versions` is `None`), but `except`.
    fn pending_readers(
        &self,
        subject: &str,
        versions: Option<&[i64]>,
        ids: &[i64],
        except: Option<i64>,
    ) -> BTreeSet<String> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = BTreeSet::new();
        let mut take = |m: &HashMap<Key, Count, Fast>, by_id: bool| {
            for ((pid, kind, version, id), c) in m {
                let wanted = *kind == Kind::Read
                    && Some(*pid) != except
                    && match by_id {
                        true => ids.contains(id),
                        false => versions.is_none_or(|vs| vs.contains(version)),
                    };
                if wanted {
                    out.insert(c.principal.name.clone());
                }
            }
        };
        if let Some(m) = pending.subjects.get(subject) {
            take(m, false);
        }
        if let Some(m) = pending.subjects.get("") {
            take(m, true);
        }
        out
    }

    /// Adds the pending counts to the database (one transaction); on failure they are
    /// kept for the next flush. Returns the number of entries written.
    pub async fn flush(&self, store: &Store) -> R<usize> {
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.dropped > 0 {
            tracing::warn!(
                dropped = taken.dropped,
                "usage: more distinct (principal, schema) pairs than --usage-* keeps between flushes; some reads were not counted"
            );
        }
        if taken.entries == 0 {
            return Ok(0);
        }
        let now = crate::registry::now_ms();
        match write(store, &taken, now).await {
            Ok(()) => Ok(taken.entries),
            Err(e) => {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for (subject, m) in taken.subjects {
                    for (key, c) in m {
                        pending.add(&subject, key, &c.principal, c.requests, c.first_ms);
                    }
                }
                Err(e)
            }
        }
    }

    /// Deletes what is older than the retention.
    pub async fn prune(&self, store: &Store) -> R<()> {
        let now = crate::registry::now_ms();
        let cutoff_day = now.div_euclid(DAY_MS) - i64::from(self.config.retention_days);
        let mut w = store.begin_write().await?;
        sqlx::query("DELETE FROM usage_daily WHERE day < $1")
            .bind(cutoff_day)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM usage_readers WHERE last_ms < $1")
            .bind(cutoff_day * DAY_MS)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(())
    }

    /// Flushes every [`UsageConfig::flush`] and prunes hourly, until `stop`; then
    /// flushes once more (what a stopping node counted is not lost).
    pub async fn run(self: Arc<Self>, store: Store, mut stop: watch::Receiver<bool>) {
        if !self.config.enabled {
            return;
        }
        let mut tick = tokio::time::interval(self.config.flush);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.flush(&store).await {
                tracing::warn!(error = %e, "usage: flush failed; the counts are kept for the next one");
            }
            if pruned.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                match self.prune(&store).await {
                    Ok(()) => pruned = Some(tokio::time::Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "usage: pruning failed"),
                }
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), self.flush(&store)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "usage: last flush failed"),
            Err(_) => tracing::warn!("usage: last flush did not finish within 5 s"),
            Ok(Ok(_)) => {}
        }
    }

    /// The principals (names) other than `except` that read `subject` (its `version`,
    /// or any version) in the guard's window, flushed or pending on this node: a delete
    /// of what they read needs `force=true`. Empty when the guard is off.
    pub async fn recent_readers(
        &self,
        store: &Store,
        subject: &str,
        version: Option<i64>,
        except: Option<i64>,
    ) -> R<Vec<String>> {
        if self.config.protect_days == 0 {
            return Ok(Vec::new());
        }
        let since = crate::registry::now_ms() - i64::from(self.config.protect_days) * DAY_MS;
        let versions = crate::storage::q::versions(store.reader(), subject, true).await?;
        let targets: Vec<_> = versions
            .iter()
            .filter(|v| version.is_none_or(|w| w == v.version))
            .collect();
        let numbers: Vec<i64> = targets.iter().map(|v| v.version).collect();
        let ids: Vec<i64> = targets.iter().map(|v| v.schema_id).collect();
        let mut names =
            self.pending_readers(subject, version.map(|_| numbers.as_slice()), &ids, except);
        let rows = sqlx::query(
            "SELECT DISTINCT principal_id, principal, subject, version, schema_id FROM usage_daily \
             WHERE kind = 'read' AND last_ms >= $1 AND (subject = $2 OR (subject = '' AND schema_id IN \
             (SELECT schema_id FROM subject_versions WHERE subject = $2)))",
        )
        .bind(since)
        .bind(subject)
        .fetch_all(store.reader())
        .await?;
        for r in rows {
            let pid: i64 = r.try_get("principal_id")?;
            let s: String = r.try_get("subject")?;
            let v: i64 = r.try_get("version")?;
            let id: i64 = r.try_get("schema_id")?;
            let hit = match s.is_empty() {
                true => ids.contains(&id),
                false => version.is_none_or(|w| w == v),
            };
            if hit && Some(pid) != except {
                names.insert(r.try_get("principal")?);
            }
        }
        Ok(names.into_iter().collect())
    }
}

/// Rows (or ids) per statement of a flush: 10 values a row keeps a statement far below
/// both databases' limits on bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// One flush's transaction: the daily rows, then the readers of each stream (the first
/// sighting of an undeclared one announced).
async fn write(store: &Store, p: &Pending, now: i64) -> R<()> {
    let day = now.div_euclid(DAY_MS);
    let mut w = store.begin_write().await?;
    // (stream, principal id) → (principal, first, last) of this flush's reads.
    let mut seen: BTreeMap<(String, i64), (Arc<Principal>, i64)> = BTreeMap::new();
    let entries: Vec<(&String, &Key, &Count)> = p
        .subjects
        .iter()
        .flat_map(|(subject, m)| m.iter().map(move |(key, c)| (subject, key, c)))
        .collect();
    // The daily rows, many per statement: a flush of a busy node's thousand counts is
    // a few statements, not a thousand round trips taking the request path's CPU.
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let values = (0..chunk.len())
            .map(|i| format!("({})", crate::storage::q::placeholders_after(i * 10, 10)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO usage_daily (day, principal_id, principal, kind, subject, version, schema_id, requests, first_ms, last_ms) \
             VALUES {values} \
             ON CONFLICT (day, principal_id, kind, subject, version, schema_id) DO UPDATE SET \
             requests = usage_daily.requests + excluded.requests, last_ms = excluded.last_ms, principal = excluded.principal"
        );
        let mut q = sqlx::query(&sql);
        for (subject, (pid, kind, version, schema_id), c) in chunk {
            q = q
                .bind(day)
                .bind(*pid)
                .bind(&c.principal.name)
                .bind(kind.as_str())
                .bind(subject.as_str())
                .bind(*version)
                .bind(*schema_id)
                .bind(c.requests)
                .bind(c.first_ms)
                .bind(now);
        }
        q.execute(&mut *w.tx).await?;
    }
    // The streams each read counts for: a subject's own, or those of every subject
    // holding an id read by id (looked up many ids per statement).
    let reads = || {
        entries
            .iter()
            .filter(|(_, (_, kind, ..), _)| *kind == Kind::Read)
    };
    let mut streams_of_subject: HashMap<&str, Vec<String>> = HashMap::new();
    for (subject, ..) in reads().filter(|(subject, ..)| !subject.is_empty()) {
        if !streams_of_subject.contains_key(subject.as_str()) {
            let names = crate::governance::streams_of_subject(&mut w.tx, subject)
                .await?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            streams_of_subject.insert(subject.as_str(), names);
        }
    }
    let ids: BTreeSet<i64> = reads()
        .filter(|(subject, ..)| subject.is_empty())
        .map(|(_, (.., schema_id), _)| *schema_id)
        .collect();
    let mut streams_of_id: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in ids
        .into_iter()
        .collect::<Vec<_>>()
        .chunks(ROWS_PER_STATEMENT)
    {
        let sql = format!(
            "SELECT DISTINCT v.schema_id AS id, s.name FROM streams s, subject_versions v \
             WHERE v.schema_id IN ({}) AND v.deleted = 0 \
             AND (v.subject = s.key_subject OR v.subject = s.value_subject)",
            crate::storage::q::placeholders(chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *w.tx).await? {
            streams_of_id
                .entry(r.try_get("id")?)
                .or_default()
                .push(r.try_get("name")?);
        }
    }
    for (subject, (pid, _, _, schema_id), c) in reads() {
        let streams = match subject.is_empty() {
            true => streams_of_id.get(schema_id),
            false => streams_of_subject.get(subject.as_str()),
        };
        for s in streams.into_iter().flatten() {
            seen.entry((s.clone(), *pid))
                .and_modify(|e| e.1 = e.1.min(c.first_ms))
                .or_insert((Arc::clone(&c.principal), c.first_ms));
        }
    }
    for ((stream, pid), (principal, first)) in &seen {
        // A first sighting inserts (once, whichever node flushes first); a later one
        // moves the last sighting.
        let new = sqlx::query(
            "INSERT INTO usage_readers (stream, principal_id, principal, first_ms, last_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream, principal_id) DO NOTHING",
        )
        .bind(stream)
        .bind(*pid)
        .bind(&principal.name)
        .bind(*first)
        .bind(now)
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            > 0;
        if !new {
            sqlx::query(
                "UPDATE usage_readers SET last_ms = $3, principal = $4 WHERE stream = $1 AND principal_id = $2",
            )
            .bind(stream)
            .bind(*pid)
            .bind(now)
            .bind(&principal.name)
            .execute(&mut *w.tx)
            .await?;
            continue;
        }
        if principal.role == Role::Admin || declared(&mut w.tx, stream, principal).await? {
            continue;
        }
        let payload = serde_json::json!({
            "stream": stream,
            "principal": principal.name,
            "team": principal.team,
            "firstSeen": crate::webhooks::rfc3339(*first),
        });
        crate::outbox::emit(
            &mut w,
            crate::outbox::USAGE_UNDECLARED_CONSUMER,
            stream,
            &payload,
        )
        .await?;
    }
    w.commit().await?;
    Ok(())
}

/// The one rule for "declared": `principal` (of `team`) is of the stream's owning team
/// `owner`, or an active consumer in `consumers` has its service name or its team.
fn is_declared(
    principal: &str,
    team: Option<&str>,
    owner: Option<&str>,
    consumers: &[crate::governance::Consumer],
) -> bool {
    let team = team.filter(|t| !t.is_empty());
    (team.is_some() && team == owner)
        || consumers.iter().any(|c| {
            c.status == "active" && (c.service == principal || Some(c.team.as_str()) == team)
        })
}

/// Whether `p` is declared on `stream` ([`is_declared`]), in the flush's transaction.
async fn declared(conn: &mut sqlx::AnyConnection, stream: &str, p: &Principal) -> R<bool> {
    let Some(s) = crate::governance::stream_row(&mut *conn, stream).await? else {
        return Ok(false);
    };
    let consumers = crate::governance::consumers_of(&mut *conn, stream).await?;
    Ok(is_declared(
        &p.name,
        p.team.as_deref(),
        s.owner_team.as_deref(),
        &consumers,
    ))
}

/// One principal's use of a stream or schema.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    pub principal: String,
    /// The principal's team now (none for a deleted principal or one without a team).
    pub team: Option<String>,
    /// Of the owning team or a declared active consumer (readers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<bool>,
    /// An admin (never flagged as undeclared).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub requests: i64,
    #[serde(skip)]
    first_ms: i64,
    #[serde(skip)]
    last_ms: i64,
}

/// A version's readers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionUsage {
    pub subject: String,
    pub version: i64,
    pub id: i64,
    pub deleted: bool,
    pub registered: String,
    /// The last read of this version, within the asked window (none: not read).
    pub last_read: Option<String>,
    pub requests: i64,
    pub readers: Vec<Seen>,
}

/// `GET /v1/streams/{name}/usage`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamUsage {
    pub stream: String,
    /// The window, in days, the figures cover.
    pub days: i64,
    pub readers: Vec<Seen>,
    /// Readers that are neither of the owning team nor declared consumers (admins
    /// aside): owners may invite them to register.
    pub undeclared: Vec<String>,
    pub writers: Vec<Seen>,
    /// Reads refused (a read-restricted stream): attempts by who may not read it.
    pub refused: Vec<Seen>,
    pub versions: Vec<VersionUsage>,
    /// With `unused-for`: versions registered before that window and read by nobody
    /// within it (cleanup candidates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused: Option<Vec<VersionUsage>>,
}

/// `GET /v1/schemas/{id}/usage`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaUsage {
    pub id: i64,
    pub days: i64,
    pub readers: Vec<Seen>,
    pub writers: Vec<Seen>,
    pub refused: Vec<Seen>,
}

struct Row_ {
    pid: i64,
    principal: String,
    kind: Kind,
    subject: String,
    version: i64,
    schema_id: i64,
    requests: i64,
    first_ms: i64,
    last_ms: i64,
    team: Option<String>,
    admin: bool,
}

const ROW_COLS: &str = "u.principal_id, u.principal, u.kind, u.subject, u.version, u.schema_id, \
     u.requests, u.first_ms, u.last_ms, p.team, p.role";

fn row_of(r: &sqlx::any::AnyRow) -> R<Option<Row_>> {
    let kind: String = r.try_get("kind")?;
    let Some(kind) = Kind::parse(&kind) else {
        return Ok(None);
    };
    let role: Option<String> = r.try_get("role")?;
    Ok(Some(Row_ {
        pid: r.try_get("principal_id")?,
        principal: r.try_get("principal")?,
        kind,
        subject: r.try_get("subject")?,
        version: r.try_get("version")?,
        schema_id: r.try_get("schema_id")?,
        requests: r.try_get("requests")?,
        first_ms: r.try_get("first_ms")?,
        last_ms: r.try_get("last_ms")?,
        team: r.try_get("team")?,
        admin: role.as_deref() == Some("admin"),
    }))
}

/// The rows of a [`ROW_COLS`] query (rows of a kind this version does not know are
/// left out).
fn rows_of(rows: &[sqlx::any::AnyRow]) -> R<Vec<Row_>> {
    rows.iter()
        .map(row_of)
        .filter_map(|r| r.transpose())
        .collect()
}

/// Sums rows per principal, most recent first.
fn by_principal<'a>(rows: impl Iterator<Item = &'a Row_>) -> Vec<Seen> {
    let mut m: BTreeMap<i64, Seen> = BTreeMap::new();
    for r in rows {
        let e = m.entry(r.pid).or_insert_with(|| Seen {
            principal: r.principal.clone(),
            team: r.team.clone(),
            declared: None,
            admin: r.admin,
            first_seen: String::new(),
            last_seen: String::new(),
            requests: 0,
            first_ms: r.first_ms,
            last_ms: r.last_ms,
        });
        e.requests += r.requests;
        e.first_ms = e.first_ms.min(r.first_ms);
        e.last_ms = e.last_ms.max(r.last_ms);
    }
    let mut out: Vec<Seen> = m
        .into_values()
        .map(|mut s| {
            s.first_seen = crate::webhooks::rfc3339(s.first_ms);
            s.last_seen = crate::webhooks::rfc3339(s.last_ms);
            s
        })
        .collect();
    out.sort_by(|a, b| {
        b.last_ms
            .cmp(&a.last_ms)
            .then(a.principal.cmp(&b.principal))
    });
    out
}

/// Parses a window: `90d`, `12h`, `30` (days); at most ten years.
pub fn parse_window(s: &str) -> R<i64> {
    let bad = || {
        ApiError::Unprocessable(format!(
            "Invalid window '{s}': a number of days ('30', '30d') or hours ('12h'), at most 3650 days"
        ))
    };
    let s = s.trim();
    let (n, unit_ms) = match s.strip_suffix('d').or_else(|| s.strip_suffix('D')) {
        Some(n) => (n, DAY_MS),
        None => match s.strip_suffix('h').or_else(|| s.strip_suffix('H')) {
            Some(n) => (n, 3_600_000),
            None => (s, DAY_MS),
        },
    };
    let n: i64 = n.trim().parse().map_err(|_| bad())?;
    if n < 0 || n.saturating_mul(unit_ms) > 3650 * DAY_MS {
        return Err(bad());
    }
    Ok(n * unit_ms)
}

/// The usage rows of `s`'s subjects (and of the ids they hold) seen since `since`.
async fn stream_rows(
    conn: &mut sqlx::AnyConnection,
    s: &crate::governance::StreamSummary,
    since: i64,
) -> R<Vec<Row_>> {
    let rows = sqlx::query(&format!(
        "SELECT {ROW_COLS} FROM usage_daily u LEFT JOIN principals p ON p.id = u.principal_id \
         WHERE u.last_ms >= $1 AND (u.subject IN ($2, $3) OR (u.subject = '' AND u.schema_id IN \
         (SELECT schema_id FROM subject_versions WHERE subject IN ($2, $3))))"
    ))
    .bind(since)
    .bind(&s.key_subject)
    .bind(&s.value_subject)
    .fetch_all(&mut *conn)
    .await?;
    rows_of(&rows)
}

/// Sets each reader's `declared` (of team `owner`, or an active consumer in
/// `consumers` by service name or team); returns the undeclared ones, admins aside.
fn mark_declared(
    readers: &mut [Seen],
    owner: Option<&str>,
    consumers: &[crate::governance::Consumer],
) -> Vec<String> {
    let mut undeclared = Vec::new();
    for r in readers {
        let declared = is_declared(&r.principal, r.team.as_deref(), owner, consumers);
        r.declared = Some(declared);
        if !declared && !r.admin {
            undeclared.push(r.principal.clone());
        }
    }
    undeclared
}

/// Who read `stream`'s schemas in the last `window_ms`, each marked declared or not
/// (on `conn`: a proposal's report reads it in its transaction).
pub async fn stream_readers(
    conn: &mut sqlx::AnyConnection,
    stream: &str,
    window_ms: i64,
) -> R<Vec<Seen>> {
    let Some(s) = crate::governance::stream_row(&mut *conn, stream).await? else {
        return Ok(Vec::new());
    };
    let since = crate::registry::now_ms() - window_ms;
    let rows = stream_rows(conn, &s, since).await?;
    let mut readers = by_principal(rows.iter().filter(|r| r.kind == Kind::Read));
    let consumers = crate::governance::consumers_of(&mut *conn, stream).await?;
    mark_declared(&mut readers, s.owner_team.as_deref(), &consumers);
    Ok(readers)
}

/// Who read version `version` of `subject` (schema `schema_id`, stored form) in the last
/// `window_ms`, marked declared or not when the subject belongs to a stream.
pub async fn version_readers(
    store: &Store,
    subject: &str,
    version: i64,
    schema_id: i64,
    window_ms: i64,
) -> R<Vec<Seen>> {
    let since = crate::registry::now_ms() - window_ms;
    let rows = sqlx::query(&format!(
        "SELECT {ROW_COLS} FROM usage_daily u LEFT JOIN principals p ON p.id = u.principal_id \
         WHERE u.kind = 'read' AND u.last_ms >= $1 \
         AND ((u.subject = $2 AND u.version = $3) OR (u.subject = '' AND u.schema_id = $4))"
    ))
    .bind(since)
    .bind(subject)
    .bind(version)
    .bind(schema_id)
    .fetch_all(store.reader())
    .await?;
    let rows = rows_of(&rows)?;
    let mut readers = by_principal(rows.iter());
    let mut conn = store.reader().acquire().await?;
    let streams = crate::governance::streams_of_subject(&mut conn, subject).await?;
    if let Some((name, owner)) = streams.first() {
        let consumers = crate::governance::consumers_of(&mut *conn, name).await?;
        mark_declared(&mut readers, owner.as_deref(), &consumers);
    }
    Ok(readers)
}

/// The usage of `stream` over the last `window_ms`; with `unused_ms`, the versions read
/// by nobody over that window too.
pub async fn stream_usage(
    store: &Store,
    stream: &str,
    window_ms: i64,
    unused_ms: Option<i64>,
) -> R<StreamUsage> {
    let s = crate::governance::stream_row(store.reader(), stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    let now = crate::registry::now_ms();
    let since = now - window_ms.max(unused_ms.unwrap_or(0));
    let mut conn = store.reader().acquire().await?;
    let rows = stream_rows(&mut conn, &s, since).await?;
    drop(conn);
    let mut versions = crate::storage::q::versions(store.reader(), &s.key_subject, true).await?;
    versions.extend(crate::storage::q::versions(store.reader(), &s.value_subject, true).await?);
    let in_window = |r: &&Row_| r.last_ms >= now - window_ms;
    let mut readers = by_principal(
        rows.iter()
            .filter(|r| r.kind == Kind::Read)
            .filter(in_window),
    );
    let consumers = crate::governance::consumers_of(store.reader(), stream).await?;
    let undeclared = mark_declared(&mut readers, s.owner_team.as_deref(), &consumers);
    let version_usage = |v: &crate::storage::VersionRecord, from: i64| {
        let hits: Vec<&Row_> = rows
            .iter()
            .filter(|r| r.kind == Kind::Read && r.last_ms >= from)
            .filter(|r| match r.subject.is_empty() {
                true => r.schema_id == v.schema_id,
                false => r.subject == v.subject && r.version == v.version,
            })
            .collect();
        let readers = by_principal(hits.iter().copied());
        VersionUsage {
            subject: v.subject.clone(),
            version: v.version,
            id: crate::context::public_id(v.schema_id),
            deleted: v.deleted,
            registered: crate::webhooks::rfc3339(v.ts),
            last_read: hits
                .iter()
                .map(|r| r.last_ms)
                .max()
                .map(crate::webhooks::rfc3339),
            requests: hits.iter().map(|r| r.requests).sum(),
            readers,
        }
    };
    let mut out_versions = Vec::new();
    let mut unused = unused_ms.map(|_| Vec::new());
    for v in &versions {
        out_versions.push(version_usage(v, now - window_ms));
        if let (Some(list), Some(u)) = (unused.as_mut(), unused_ms) {
            let vu = version_usage(v, now - u);
            if !v.deleted && v.ts < now - u && vu.readers.is_empty() {
                list.push(vu);
            }
        }
    }
    Ok(StreamUsage {
        stream: s.name.clone(),
        days: window_ms / DAY_MS,
        readers,
        undeclared,
        writers: by_principal(
            rows.iter()
                .filter(|r| r.kind == Kind::Write)
                .filter(in_window),
        ),
        refused: by_principal(
            rows.iter()
                .filter(|r| r.kind == Kind::Refused)
                .filter(in_window),
        ),
        versions: out_versions,
        unused,
    })
}

/// The usage of schema `id` (stored form) over the last `window_ms`: reads by id and
/// reads of the versions that hold it.
pub async fn schema_usage(store: &Store, id: i64, window_ms: i64) -> R<SchemaUsage> {
    let since = crate::registry::now_ms() - window_ms;
    let rows = sqlx::query(&format!(
        "SELECT {ROW_COLS} FROM usage_daily u LEFT JOIN principals p ON p.id = u.principal_id \
         WHERE u.last_ms >= $1 AND u.schema_id = $2"
    ))
    .bind(since)
    .bind(id)
    .fetch_all(store.reader())
    .await?;
    let rows = rows_of(&rows)?;
    Ok(SchemaUsage {
        id: crate::context::public_id(id),
        days: window_ms / DAY_MS,
        readers: by_principal(rows.iter().filter(|r| r.kind == Kind::Read)),
        writers: by_principal(rows.iter().filter(|r| r.kind == Kind::Write)),
        refused: by_principal(rows.iter().filter(|r| r.kind == Kind::Refused)),
    })
}

/// A principal seen reading a stream (`usage_readers`).
struct Reader {
    principal: String,
    team: Option<String>,
    first_ms: i64,
    last_ms: i64,
    admin: bool,
    invited_ms: Option<i64>,
}

/// The principals seen reading `stream` (ever, within the retention). For
/// `consumers?include=observed`.
async fn observed_readers(store: &Store, stream: &str) -> R<Vec<Reader>> {
    let rows = sqlx::query(
        "SELECT r.principal, r.first_ms, r.last_ms, r.invited_ms, p.team, p.role FROM usage_readers r \
         LEFT JOIN principals p ON p.id = r.principal_id WHERE r.stream = $1 ORDER BY r.principal",
    )
    .bind(stream)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| {
            let role: Option<String> = r.try_get("role")?;
            Ok(Reader {
                principal: r.try_get("principal")?,
                team: r.try_get("team")?,
                first_ms: r.try_get("first_ms")?,
                last_ms: r.try_get("last_ms")?,
                admin: role.as_deref() == Some("admin"),
                invited_ms: r.try_get("invited_ms")?,
            })
        })
        .collect()
}

/// `POST /v1/streams/{name}/consumers/{principal}/invite`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub stream: String,
    pub principal: String,
    pub team: Option<String>,
    pub invited_at: String,
    pub invited_by: String,
}

/// The owning team (or an admin) invites `principal`, seen reading `stream`, to register
/// as a consumer: recorded on its sighting, audited (`stream.consumer.invite`) and sent
/// as the webhook event `consumer.invited` (to the stream's subscribers, the reader's
/// team's tooling among them). Asking again invites again. 404 when the principal was
/// not seen reading the stream.
pub async fn invite(store: &Store, actor: &Actor, stream: &str, principal: &str) -> R<Invitation> {
    crate::governance::check_stream_name(stream)?;
    let mut w = store.begin_write().await?;
    let s = crate::governance::stream_row(&mut *w.tx, stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    crate::governance::check_stream_owner(actor, stream, s.owner_team.as_deref(), None)?;
    let row = sqlx::query(
        "SELECT r.principal_id, r.invited_ms, p.team FROM usage_readers r \
         LEFT JOIN principals p ON p.id = r.principal_id WHERE r.stream = $1 AND r.principal = $2",
    )
    .bind(stream)
    .bind(principal)
    .fetch_optional(&mut *w.tx)
    .await?
    .ok_or_else(|| {
        ApiError::NotObserved(format!(
            "Principal '{principal}' was not seen reading stream '{stream}' (within --usage-retention-days): only readers seen may be invited"
        ))
    })?;
    let pid: i64 = row.try_get("principal_id")?;
    let before: Option<i64> = row.try_get("invited_ms")?;
    let team: Option<String> = row.try_get("team")?;
    let now = crate::registry::now_ms();
    sqlx::query(
        "UPDATE usage_readers SET invited_ms = $3, invited_by = $4 WHERE stream = $1 AND principal_id = $2",
    )
    .bind(stream)
    .bind(pid)
    .bind(now)
    .bind(actor.name())
    .execute(&mut *w.tx)
    .await?;
    let invitation = Invitation {
        stream: stream.to_string(),
        principal: principal.to_string(),
        team,
        invited_at: crate::webhooks::rfc3339(now),
        invited_by: actor.name().to_string(),
    };
    let state = serde_json::to_value(&invitation).map_err(ApiError::internal)?;
    crate::audit::append(
        &mut w,
        actor.name(),
        "stream.consumer.invite",
        &format!("stream:{stream}/reader:{principal}"),
        before
            .map(|b| serde_json::json!({"invitedAt": crate::webhooks::rfc3339(b)}))
            .as_ref(),
        Some(&state),
    )
    .await?;
    crate::outbox::emit(&mut w, crate::outbox::CONSUMER_INVITED, stream, &state).await?;
    w.commit().await?;
    Ok(invitation)
}

/// `consumers` (a stream's declared consumers) with when each was seen reading, and the
/// undeclared readers appended (status `undeclared`; admins left out).
pub async fn with_observed(
    store: &Store,
    stream: &str,
    mut consumers: Vec<crate::governance::Consumer>,
) -> R<Vec<crate::governance::Consumer>> {
    let owner = crate::governance::stream_row(store.reader(), stream)
        .await?
        .and_then(|s| s.owner_team);
    let readers = observed_readers(store, stream).await?;
    let observed = |names: Vec<&Reader>| {
        let first = names.iter().map(|r| r.first_ms).min()?;
        let last = names.iter().map(|r| r.last_ms).max()?;
        Some(crate::governance::Observed {
            first_seen: crate::webhooks::rfc3339(first),
            last_seen: crate::webhooks::rfc3339(last),
            principals: names.iter().map(|r| r.principal.clone()).collect(),
            invited_at: names
                .iter()
                .filter_map(|r| r.invited_ms)
                .max()
                .map(crate::webhooks::rfc3339),
        })
    };
    for c in &mut consumers {
        let mine: Vec<_> = readers
            .iter()
            .filter(|r| r.principal == c.service || r.team.as_deref() == Some(c.team.as_str()))
            .collect();
        c.observed = observed(mine);
    }
    for r in &readers {
        let declared = is_declared(
            &r.principal,
            r.team.as_deref(),
            owner.as_deref(),
            &consumers,
        );
        if declared || r.admin {
            continue;
        }
        consumers.push(crate::governance::Consumer {
            service: r.principal.clone(),
            team: r.team.clone().unwrap_or_default(),
            status: "undeclared".to_string(),
            registered_at: r.first_ms,
            observed: observed(vec![r]),
        });
    }
    Ok(consumers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("90d").unwrap(), 90 * DAY_MS);
        assert_eq!(parse_window("30").unwrap(), 30 * DAY_MS);
        assert_eq!(parse_window("12h").unwrap(), 12 * 3_600_000);
        for bad in ["", "d", "-1d", "x", "4000d", "1w"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }

    fn actor(id: i64) -> Actor {
        Actor::Principal(Arc::new(Principal {
            id,
            name: format!("p{id}"),
            kind: crate::auth::Kind::Service,
            role: Role::Reader,
            team: None,
        }))
    }

    /// A flush of more counts than one statement carries: every count lands once, and
    /// a second flush adds to the same rows (SQLite, and PostgreSQL when
    /// `ACCORD_TEST_POSTGRES_URL` is set).
    #[tokio::test]
    async fn flush_writes_counts_in_batches() {
        let urls = crate::storage::test_database_urls("usage-flush");
        // A principal id no other test uses (the PostgreSQL database is shared).
        let pid = 7_000_000 + i64::from(std::process::id() % 1_000_000);
        let ids = ROWS_PER_STATEMENT as i64 * 2 + 34;
        for url in urls {
            let store = Store::connect(&url).await.unwrap();
            let u = Usage::default();
            let a = actor(pid);
            for round in 1..=2 {
                for id in 1..=ids {
                    u.read_id(&a, id);
                    u.read_id(&a, id);
                }
                u.read_version(&a, "orders-value", 3, 1);
                assert_eq!(u.flush(&store).await.unwrap(), ids as usize + 1, "{url}");
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, CAST(SUM(requests) AS BIGINT) AS r FROM usage_daily WHERE principal_id = $1",
                )
                .bind(pid)
                .fetch_one(store.reader())
                .await
                .unwrap();
                let (n, r): (i64, i64) = (row.try_get("n").unwrap(), row.try_get("r").unwrap());
                assert_eq!((n, r), (ids + 1, round * (2 * ids + 1)), "{url}");
            }
            assert_eq!(u.flush(&store).await.unwrap(), 0);
            let mut w = store.begin_write().await.unwrap();
            sqlx::query("DELETE FROM usage_daily WHERE principal_id = $1")
                .bind(pid)
                .execute(&mut *w.tx)
                .await
                .unwrap();
            w.commit().await.unwrap();
        }
    }

    #[test]
    fn counts_in_memory_and_bounds_entries() {
        let u = Usage::default();
        let a = actor(1);
        u.read_id(&a, 7);
        u.read_id(&a, 7);
        u.read_version(&a, "s", 1, 7);
        u.read_id(&Actor::Anonymous, 7);
        let p = u.pending.lock().unwrap();
        assert_eq!(p.entries, 2);
        assert_eq!(p.subjects[""][&(1, Kind::Read, 0, 7)].requests, 2);
        drop(p);
        assert_eq!(
            u.pending_readers("s", Some(&[1]), &[], None),
            BTreeSet::from(["p1".to_string()])
        );
        assert!(u.pending_readers("s", Some(&[2]), &[], None).is_empty());
        assert_eq!(
            u.pending_readers("t", Some(&[1]), &[7], None),
            BTreeSet::from(["p1".to_string()])
        );
        assert!(u.pending_readers("t", None, &[7], Some(1)).is_empty());

        let off = Usage::new(UsageConfig {
            enabled: false,
            ..UsageConfig::default()
        });
        off.read_id(&a, 7);
        assert_eq!(off.pending.lock().unwrap().entries, 0);

        let mut p = Pending::default();
        let principal = match &a {
            Actor::Principal(p) => p.clone(),
            Actor::Anonymous => unreachable!(),
        };
        for i in 0..(MAX_PENDING as i64 + 10) {
            p.add("", (1, Kind::Read, 0, i), &principal, 1, 0);
        }
        assert_eq!(p.entries, MAX_PENDING);
        assert_eq!(p.dropped, 10);
    }
}
