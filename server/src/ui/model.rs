//! The catalog as the pages see it: every stream with its latest contract, producer,
//! consumers and the format of its latest value schema, loaded with five queries
//! whatever the number of streams (the lineage and team pages need all of them).

use crate::error::ApiError;
use crate::governance::{Consumer, LatestSchema, Producer, StreamSummary};
use crate::storage::Store;
use accord_contracts::Contract;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

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

/// Every stream, sorted by name.
pub async fn load(store: &Store) -> R<Vec<StreamInfo>> {
    let db = store.reader();
    let rows = sqlx::query(
        "SELECT name, key_subject, value_subject, owner_team, status, sunset, successor, created_ms, updated_ms \
         FROM streams ORDER BY name",
    )
    .fetch_all(db)
    .await?;
    let mut contracts: BTreeMap<String, Contract> = BTreeMap::new();
    for row in sqlx::query(
        "SELECT c.stream, c.body FROM stream_contracts c \
         WHERE c.version = (SELECT MAX(d.version) FROM stream_contracts d WHERE d.stream = c.stream)",
    )
    .fetch_all(db)
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
    for row in sqlx::query("SELECT stream, service, team, updated_ms FROM stream_producers")
        .fetch_all(db)
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
    for row in sqlx::query(
        "SELECT stream, service, team, status, registered_ms FROM stream_consumers ORDER BY stream, service",
    )
    .fetch_all(db)
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
    for row in sqlx::query(
        "SELECT sv.subject, sv.version, sv.schema_id, s.schema_type FROM subject_versions sv \
         JOIN schemas s ON s.id = sv.schema_id \
         JOIN streams st ON st.value_subject = sv.subject \
         WHERE sv.deleted = 0 AND sv.version = \
         (SELECT MAX(x.version) FROM subject_versions x WHERE x.subject = sv.subject AND x.deleted = 0)",
    )
    .fetch_all(db)
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

/// Every team named anywhere: owners, producers' and consumers' teams.
pub fn teams(streams: &[StreamInfo]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in streams {
        if let Some(o) = s.owner() {
            out.insert(o.to_string());
        }
        if let Some(p) = &s.producer {
            out.insert(p.team.clone());
        }
        for c in &s.consumers {
            out.insert(c.team.clone());
        }
    }
    out
}
