//! The catalog as the pages see it: streams with their latest contract, producer,
//! consumers and the format of their latest value schema, loaded with five queries for
//! the named streams ([`load_named`], a page's worth): no page reads the whole catalog.

use crate::error::ApiError;
use crate::governance::{Consumer, LatestSchema, Producer, StreamSummary};
use crate::storage::Store;
use accord_contracts::Contract;
use sqlx::Row;
use std::collections::BTreeMap;

type R<T> = Result<T, ApiError>;

/// One stream with what the pages show about it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub summary: StreamSummary,
    pub contract: Option<Contract>,
    pub producer: Option<Producer>,
    pub consumers: Vec<Consumer>,
    /// `AVRO`, `PROTOBUF` or `JSON`, of the latest live value version.
    pub format: Option<String>,
}

impl StreamInfo {
    pub fn name(&self) -> &str {
        &self.summary.name
    }

    pub fn owner(&self) -> Option<&str> {
        self.summary.owner_team.as_deref()
    }

    pub fn domain(&self) -> Option<&str> {
        self.contract.as_ref().and_then(|c| c.domain.as_deref())
    }

    /// The contract's `description.purpose`.
    pub fn description(&self) -> Option<&str> {
        self.contract
            .as_ref()
            .and_then(|c| c.description.as_ref())
            .and_then(|d| d.purpose.as_deref())
    }

    pub fn tags(&self) -> Vec<String> {
        self.contract
            .as_ref()
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }
}

/// The named streams (those that exist), sorted by name.
pub async fn load_named(store: &Store, names: &[String]) -> R<Vec<StreamInfo>> {
    let mut out = Vec::new();
    // Bounded statements: SQLite's default limit on bound values is 32,766.
    for chunk in names.chunks(500) {
        out.extend(load_where(store, chunk).await?);
    }
    out.sort_by(|a, b| a.summary.name.cmp(&b.summary.name));
    Ok(out)
}

/// The streams named in `names`, each of the five queries filtered on its stream-name
/// column.
async fn load_where(store: &Store, names: &[String]) -> R<Vec<StreamInfo>> {
    let filter = |col: &str, and: bool| {
        format!(
            " {} {col} IN ({})",
            if and { "AND" } else { "WHERE" },
            crate::storage::q::placeholders(names.len())
        )
    };
    let fetch = |sql: String| async move {
        let mut q = sqlx::query(&sql);
        for n in names {
            q = q.bind(n);
        }
        q.fetch_all(store.reader()).await
    };
    let rows = fetch(format!(
        "SELECT name, key_subject, value_subject, owner_team, status, sunset, successor, created_ms, updated_ms \
         FROM streams{} ORDER BY name",
        filter("name", false)
    ))
    .await?;
    let mut contracts: BTreeMap<String, Contract> = BTreeMap::new();
    for row in fetch(format!(
        "SELECT c.stream, c.body FROM stream_contracts c \
         WHERE c.version = (SELECT MAX(d.version) FROM stream_contracts d WHERE d.stream = c.stream){}",
        filter("c.stream", true)
    ))
    .await?
    {
        let stream: String = row.try_get("stream")?;
        let body: String = row.try_get("body")?;
        // A stored contract that no longer parses is shown without its contract rather
        // than failing the whole catalog.
        if let Ok(c) = Contract::from_json(&body) {
            contracts.insert(stream, c);
        }
    }
    let mut producers: BTreeMap<String, Producer> = BTreeMap::new();
    for row in fetch(format!(
        "SELECT stream, service, team, updated_ms FROM stream_producers{}",
        filter("stream", false)
    ))
    .await?
    {
        producers.insert(
            row.try_get("stream")?,
            Producer {
                service: row.try_get("service")?,
                team: row.try_get("team")?,
                updated_at: row.try_get("updated_ms")?,
            },
        );
    }
    let mut consumers: BTreeMap<String, Vec<Consumer>> = BTreeMap::new();
    for row in fetch(format!(
        "SELECT stream, service, team, status, registered_ms FROM stream_consumers{} ORDER BY stream, service",
        filter("stream", false)
    ))
    .await?
    {
        consumers
            .entry(row.try_get("stream")?)
            .or_default()
            .push(Consumer {
                service: row.try_get("service")?,
                team: row.try_get("team")?,
                status: row.try_get("status")?,
                registered_at: row.try_get("registered_ms")?,
                observed: None,
            });
    }
    let mut latest: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
    for row in fetch(format!(
        "SELECT sv.subject, sv.version, sv.schema_id, s.schema_type FROM subject_versions sv \
         JOIN schemas s ON s.id = sv.schema_id \
         JOIN streams st ON st.value_subject = sv.subject \
         WHERE sv.deleted = 0 AND sv.version = \
         (SELECT MAX(x.version) FROM subject_versions x WHERE x.subject = sv.subject AND x.deleted = 0){}",
        filter("st.name", true)
    ))
    .await?
    {
        latest.insert(
            row.try_get("subject")?,
            (
                row.try_get("version")?,
                row.try_get("schema_id")?,
                row.try_get("schema_type")?,
            ),
        );
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get("name")?;
        let value_subject: String = row.try_get("value_subject")?;
        let l = latest.get(&value_subject);
        out.push(StreamInfo {
            summary: StreamSummary {
                name: name.clone(),
                key_subject: row.try_get("key_subject")?,
                value_subject,
                owner_team: row.try_get("owner_team")?,
                status: row.try_get("status")?,
                sunset: row.try_get("sunset")?,
                successor: row.try_get("successor")?,
                latest_value_schema: l.map(|(version, id, _)| LatestSchema {
                    id: *id,
                    version: *version,
                }),
                created_at: row.try_get("created_ms")?,
                updated_at: row.try_get("updated_ms")?,
            },
            contract: contracts.remove(&name),
            producer: producers.remove(&name),
            consumers: consumers.remove(&name).unwrap_or_default(),
            format: l.map(|(_, _, f)| f.clone()),
        });
    }
    Ok(out)
}

/// How many streams there are.
pub async fn count(store: &Store) -> R<usize> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM streams")
        .fetch_one(store.reader())
        .await?
        .try_get("n")?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The home page's streams: `limit` by name from `offset`, and the `recent` most
/// recently changed (latest first), read a page at a time.
pub async fn home_page(
    store: &Store,
    offset: usize,
    limit: usize,
    recent: usize,
) -> R<(Vec<StreamInfo>, Vec<StreamInfo>)> {
    let names = |sql: String| async move {
        sqlx::query(&sql)
            .fetch_all(store.reader())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("name").map_err(ApiError::from))
            .collect::<R<Vec<String>>>()
    };
    let shown = names(format!(
        "SELECT name FROM streams ORDER BY name LIMIT {limit} OFFSET {offset}"
    ))
    .await?;
    let latest = names(format!(
        "SELECT name FROM streams ORDER BY updated_ms DESC, name LIMIT {recent}"
    ))
    .await?;
    let mut recent = load_named(store, &latest).await?;
    recent.sort_by_key(|s| std::cmp::Reverse(s.summary.updated_at));
    Ok((load_named(store, &shown).await?, recent))
}

/// Every team named anywhere (owners, producers' and consumers' teams), sorted, with the
/// number of streams each owns. The distinct teams of each table come from a walk over
/// its team index, one seek per team (`MIN(team) WHERE team > previous`), not a scan of
/// every registration; each team's streams are counted over the owner index.
pub async fn team_counts(store: &Store) -> R<Vec<(String, i64)>> {
    sqlx::query(
        "WITH RECURSIVE \
         o(team) AS (SELECT MIN(owner_team) FROM streams UNION ALL \
           SELECT (SELECT MIN(owner_team) FROM streams WHERE owner_team > o.team) FROM o WHERE o.team IS NOT NULL), \
         p(team) AS (SELECT MIN(team) FROM stream_producers UNION ALL \
           SELECT (SELECT MIN(team) FROM stream_producers WHERE team > p.team) FROM p WHERE p.team IS NOT NULL), \
         c(team) AS (SELECT MIN(team) FROM stream_consumers UNION ALL \
           SELECT (SELECT MIN(team) FROM stream_consumers WHERE team > c.team) FROM c WHERE c.team IS NOT NULL), \
         t(team) AS (SELECT team FROM o WHERE team IS NOT NULL UNION SELECT team FROM p WHERE team IS NOT NULL \
           UNION SELECT team FROM c WHERE team IS NOT NULL) \
         SELECT t.team, (SELECT COUNT(*) FROM streams s WHERE s.owner_team = t.team) AS owned \
         FROM t ORDER BY t.team",
    )
    .fetch_all(store.reader())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("team")?, r.try_get("owned")?)))
    .collect()
}
