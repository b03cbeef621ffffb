//! Streams and their data contracts: storage, the contract apply, consumers and the
//! producer, and what a contract enforces when a schema is registered.
//!
//! A stream exists once a contract has been applied to it; its row copies the subjects,
//! owner and lifecycle out of the latest contract so that [`registration_policy`] finds a
//! subject's stream with one indexed lookup inside the registration's transaction.
//! Contracts are versioned (1, 2, ...) and applied idempotently by digest: applying the
//! same document again changes nothing and writes no audit entry. Every mutation here is
//! one transaction with one audit entry.
//!
//! Who may change a stream: [`check_stream_owner`] is the stream-owner rule (owning team
//! or admin). The router's middleware ([`crate::auth::authorize`]) decides first by path;
//! this is the per-stream part it cannot decide without the store. Registration applies
//! it inside its transaction ([`registration_policy`]); [`check_subject_owner`] applies
//! it inside the transaction of the registry's other writes to a stream's subjects
//! (deletes of a subject or version, `PUT/DELETE /config/{s}` and `/mode/{s}`, imports;
//! tag edits are registrations). With auth off everything passes.
//!
//! Consumers: a member registers consumers for its own team only (admins for any team).
//! A consumer is `active`, `pending` (the contract wants the owner's approval: PII
//! streams with `piiRequiresOwnerApproval`, read-restricted streams, or
//! `consumers: approval`) or `rejected`. A service stays its registering team's: another
//! team registering the same name gets 409; the owning team or an admin may move it.
//! The owning team or an admin approves (`pending`/`rejected` -> `active`) or rejects
//! (`pending`/`active` -> `rejected`); a rejected consumer keeps its record (so its team
//! sees the decision, and registering it again does not reopen it) until it is removed
//! or approved after all. Removal: the owning team, the consumer's team or an admin.
//!
//! Reads: a contract with `accord.access.read: restricted` limits reads of its
//! subjects' schemas to admins, the owning team and teams with an `active` consumer.
//! [`check_subject_read`] is the one rule (one indexed query, only with auth on); every
//! path reaches it: a subject's versions, metadata, lookup and compatibility test; an
//! alias's *target* wherever an alias is followed; the subjects a registration
//! references and those a `format=resolved` answer inlines; a tag edit (read before
//! the edit, owner before any answer). A schema id or GUID is readable when the
//! principal may read at least one subject that holds it ([`check_holders_read`] over
//! [`id_holders`], which the registry caches per id, so an id held by no restricted
//! stream costs one cache lookup; admins and auth off cost nothing), so approved
//! consumers' deserialisers keep resolving ids. Listings (`GET /subjects`, `/schemas`,
//! an id's subjects and versions, `referencedby`) leave out what the principal may not
//! read ([`unreadable_subjects`]) rather than refusing. The contract and stream
//! metadata (`/v1/streams*`) stay readable, so teams can find the owner to ask for
//! access.
//!
//! Error codes (Accord's own, in ranges Confluent leaves free; see `crate::error`):
//!
//! | HTTP | error_code | when |
//! | --- | --- | --- |
//! | 404 | 40420 | no such stream |
//! | 404 | 40421 | no such contract version |
//! | 404 | 40422 | no such consumer |
//! | 404 | 40423 | the stream has no producer |
//! | 409 | 40920 | consumer refused: the stream is deprecated (the message names the successor and sunset) |
//! | 409 | 40923 | consumer refused: the service is registered by another team (only the owning team or an admin moves it) |
//! | 403 | 40320 | consumer refused: the contract's allow-list excludes the team |
//! | 403 | 40301 | (Accord's forbidden) not the owning team or an admin; a consumer for another team; a restricted read; a contract claiming a subject someone else registered |
//! | 422 | 42220 | invalid contract: one `path: message` per line after the first |
//! | 422 | 42221 | registration refused by the contract's lint rules at level `error` |
//! | 422 | 42210 | (Confluent's invalid ruleSet) a CEL rule that does not compile, at registration |
//! | 409 | 40901 | (Confluent's incompatible) at the contract's level, FULL_TRANSITIVE by default |

use crate::audit;
use crate::auth::{Actor, Role};
use crate::error::ApiError;
use crate::registry::now_ms;
use crate::storage::{q, Store, WriteTx};
use accord_compat::{CompatibilityLevel, ParsedSchema};
use accord_contracts::{Admission, Contract, ReadAccess, RuleSet};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use utoipa::ToSchema;

type R<T> = Result<T, ApiError>;

/// A stream as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamSummary {
    pub name: String,
    pub key_subject: String,
    pub value_subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_team: Option<String>,
    /// `active` or `deprecated`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sunset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
    /// The latest live version of the value subject, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_value_schema: Option<LatestSchema>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A subject's latest live version.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestSchema {
    pub id: i64,
    pub version: i64,
}

/// One stored contract version (without its document).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContractVersionInfo {
    pub version: i64,
    pub digest: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub created_by: String,
}

/// A stream with its current contract, consumers and producer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamDetail {
    #[serde(flatten)]
    pub stream: StreamSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<CurrentContract>,
    pub consumers: Vec<Consumer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<Producer>,
}

/// The latest contract version with its document (ODCS, as JSON).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentContract {
    #[serde(flatten)]
    pub info: ContractVersionInfo,
    #[schema(value_type = Object)]
    pub document: Value,
}

/// The answer to a contract apply.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub stream: String,
    pub version: i64,
    pub digest: String,
    /// False when the latest version already had this digest (nothing was written).
    pub changed: bool,
}

/// A consuming service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub service: String,
    pub team: String,
    /// `active`; `pending` while the owner's approval is needed; `rejected` by the owner;
    /// with `include=observed`, `undeclared` for a principal seen reading the stream
    /// that is no declared consumer (its name as `service`, first seen as
    /// `registeredAt`).
    pub status: String,
    pub registered_at: i64,
    /// With `include=observed`: when the consumer (a principal of its name or team) was
    /// seen reading the stream's schemas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
}

/// When a consumer was seen reading a stream (see [`crate::usage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    pub first_seen: String,
    pub last_seen: String,
    /// The principals seen.
    pub principals: Vec<String>,
    /// When the owning team last invited the reader to register (undeclared readers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<String>,
}

/// The single writer of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Producer {
    pub service: String,
    pub team: String,
    pub updated_at: i64,
}

/// The body of `POST .../consumers` and `PUT .../producer`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    pub service: String,
    pub team: String,
}

impl ServiceInput {
    fn check(&self) -> R<()> {
        for (what, v) in [("service", &self.service), ("team", &self.team)] {
            if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
                return Err(ApiError::Unprocessable(format!(
                    "{what}: expected a non-empty name of at most 200 characters without control characters"
                )));
            }
        }
        Ok(())
    }
}

/// A stream name as a path gives it: what Kafka allows for a topic.
pub fn check_stream_name(name: &str) -> R<()> {
    if is_stream_name(name) {
        Ok(())
    } else {
        Err(ApiError::StreamNotFound(name.to_string()))
    }
}

fn is_stream_name(name: &str) -> bool {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok
}

// ---- authorisation hook ----

/// The stream-owner rule: only the owning team (a member of it) or an admin may change
/// a stream's contract, producer or consumers' records, or register on its subjects.
/// With auth off (anonymous) everything passes, as everywhere else. `owner` is the
/// stream's current owning team, `new_owner` the team a contract is handing it to.
pub fn check_stream_owner(
    actor: &Actor,
    stream: &str,
    owner: Option<&str>,
    new_owner: Option<&str>,
) -> R<()> {
    let Actor::Principal(p) = actor else {
        return Ok(());
    };
    if p.role == Role::Admin {
        return Ok(());
    }
    let team = p.team.as_deref();
    let ok = p.role == Role::Member
        && team.is_some()
        && owner.is_none_or(|o| Some(o) == team)
        && new_owner.is_none_or(|o| Some(o) == team);
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Principal '{}' may not change stream '{stream}': only its owning team ({}) or an admin may",
            p.name,
            owner.or(new_owner).unwrap_or("none")
        )))
    }
}

/// [`check_stream_owner`] for the registry's writes, which know the caller by name
/// only. `what` completes "may not ..." in the message (e.g. "register on the
/// subjects of").
async fn check_owner_by_name(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    what: &str,
    stream: &str,
    owner: Option<&str>,
) -> R<()> {
    if actor == audit::ANONYMOUS {
        return Ok(());
    }
    let row = sqlx::query("SELECT role, team FROM principals WHERE name = $1")
        .bind(actor)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let role: String = row.try_get("role")?;
    let team: Option<String> = row.try_get("team")?;
    if role == "admin" || (role == "member" && team.is_some() && team.as_deref() == owner) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Principal '{actor}' may not {what} stream '{stream}': only its owning team ({}) or an admin may",
            owner.unwrap_or("none")
        )))
    }
}

/// The stream-owner rule for the registry's other writes to a subject (deletes of the
/// subject or a version, its config and mode, imports), inside the write's transaction
/// `conn`: when `subject` belongs to a stream, only its owning team or an admin may
/// (403, 40301, naming the stream and the owner). Other subjects pass.
pub async fn check_subject_owner(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    subject: &str,
) -> R<()> {
    if actor == audit::ANONYMOUS {
        return Ok(());
    }
    let streams = streams_of_subject(conn, subject).await?;
    check_subject_owner_of(conn, actor, subject, &streams).await
}

/// The streams `subject` belongs to (as key or value subject), by name, with their
/// owning teams: read once by a registration for its owner rule, contract, outbox
/// event and catalog document.
pub async fn streams_of_subject(
    conn: &mut sqlx::AnyConnection,
    subject: &str,
) -> R<Vec<(String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT name, owner_team FROM streams WHERE key_subject = $1 OR value_subject = $1 ORDER BY name",
    )
    .bind(subject)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("owner_team")?)))
        .collect()
}

/// [`check_subject_owner`] with the subject's streams already read.
pub async fn check_subject_owner_of(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    subject: &str,
    streams: &[(String, Option<String>)],
) -> R<()> {
    if actor == audit::ANONYMOUS {
        return Ok(());
    }
    let Some((stream, owner)) = streams.first() else {
        return Ok(());
    };
    let what = format!("change subject '{subject}' of");
    check_owner_by_name(conn, actor, &what, stream, owner.as_deref()).await
}

/// The read restriction (`accord.access.read: restricted`) on the schemas of a stream's
/// subjects: only admins, the owning team and teams with an `active` consumer on the
/// stream read them (403, 40301). With auth off, or for an admin, no query is made;
/// otherwise one indexed lookup.
pub async fn check_subject_read(store: &Store, actor: &Actor, subject: &str) -> R<()> {
    let Actor::Principal(p) = actor else {
        return Ok(());
    };
    if p.role == Role::Admin {
        return Ok(());
    }
    // `:.:orders` is `orders`: the qualified form must not slip past the rule.
    let subject = crate::registry::unqualify(subject);
    let Some(access) = team_access(store, subject, p.team.as_deref(), true).await? else {
        return Ok(());
    };
    if access.allowed {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "Principal '{}' may not read subject '{subject}': stream '{}' restricts reads to its owning team ({}), its active consumers' teams and admins",
        p.name,
        access.stream,
        access.owner.as_deref().unwrap_or("none")
    )))
}

/// What a team may do with a stream's subject: the stream, its owning team, and whether
/// the team owns it or has an `active` consumer on it (the rule for reading a
/// restricted stream's schemas and for obtaining its key material).
pub(crate) struct TeamAccess {
    pub stream: String,
    pub owner: Option<String>,
    pub allowed: bool,
}

/// [`TeamAccess`] of `team` to the stream `subject` belongs to (only a read-restricted
/// stream when `restricted_only`); `None` when there is no such stream. One indexed
/// lookup.
pub(crate) async fn team_access(
    store: &Store,
    subject: &str,
    team: Option<&str>,
    restricted_only: bool,
) -> R<Option<TeamAccess>> {
    const SQL: &str = "SELECT s.name, s.owner_team, \
         (SELECT COUNT(*) FROM stream_consumers c WHERE c.stream = s.name AND c.team = $2 AND c.status = 'active') AS n \
         FROM streams s WHERE (s.key_subject = $1 OR s.value_subject = $1)";
    let sql = if restricted_only {
        format!("{SQL} AND s.read_access = 'restricted' ORDER BY s.name LIMIT 1")
    } else {
        format!("{SQL} ORDER BY s.name LIMIT 1")
    };
    let team = team.filter(|t| !t.is_empty());
    let row = sqlx::query(&sql)
        .bind(subject)
        .bind(team.unwrap_or(""))
        .fetch_optional(store.reader())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let owner: Option<String> = row.try_get("owner_team")?;
    let consumers: i64 = row.try_get("n")?;
    let allowed = team_may_read(team, owner.as_deref(), consumers);
    Ok(Some(TeamAccess {
        stream: row.try_get("name")?,
        owner,
        allowed,
    }))
}

/// The rule itself: a team reads a restricted stream it owns or has `active`
/// consumers on (`active_consumers` of them); no team, no access.
fn team_may_read(team: Option<&str>, owner: Option<&str>, active_consumers: i64) -> bool {
    team.is_some() && (owner == team || active_consumers > 0)
}

/// Whether `actor` reads every schema without asking the store (auth off, or an
/// admin): the hot read paths skip every query for them.
pub fn reads_everything(actor: &Actor) -> bool {
    match actor {
        Actor::Anonymous => true,
        Actor::Principal(p) => p.role == Role::Admin,
    }
}

/// The subjects `actor` may not read (those of read-restricted streams it neither owns
/// nor consumes), for listings to leave out; `None` when it reads everything (no
/// query). One query over the restricted streams otherwise.
pub async fn unreadable_subjects(
    store: &Store,
    actor: &Actor,
) -> R<Option<std::collections::HashSet<String>>> {
    let Actor::Principal(p) = actor else {
        return Ok(None);
    };
    if p.role == Role::Admin {
        return Ok(None);
    }
    let team = p.team.as_deref().filter(|t| !t.is_empty());
    let rows = sqlx::query(
        "SELECT s.key_subject, s.value_subject, s.owner_team, \
         (SELECT COUNT(*) FROM stream_consumers c WHERE c.stream = s.name AND c.team = $1 AND c.status = 'active') AS n \
         FROM streams s WHERE s.read_access = 'restricted'",
    )
    .bind(team.unwrap_or(""))
    .fetch_all(store.reader())
    .await?;
    let mut out = std::collections::HashSet::new();
    for row in &rows {
        let owner: Option<String> = row.try_get("owner_team")?;
        let consumers: i64 = row.try_get("n")?;
        if !team_may_read(team, owner.as_deref(), consumers) {
            out.insert(row.try_get("key_subject")?);
            out.insert(row.try_get("value_subject")?);
        }
    }
    Ok(Some(out))
}

/// A subject version holding a schema id, and the read-restricted stream the subject
/// belongs to, if it does.
#[derive(Debug, Clone)]
pub struct IdHolder {
    pub subject: String,
    pub deleted: bool,
    pub restricted_stream: Option<String>,
}

/// Every subject version (soft-deleted included) that holds schema `id`, with its
/// restricted stream: one query on the `subject_versions` index by schema id. The
/// registry caches the answer per id (see `Registry::check_id_read`).
pub async fn id_holders(store: &Store, id: i64) -> R<Vec<IdHolder>> {
    let rows = sqlx::query(
        "SELECT v.subject, v.deleted, \
         (SELECT MIN(s.name) FROM streams s WHERE s.read_access = 'restricted' \
          AND (s.key_subject = v.subject OR s.value_subject = v.subject)) AS stream \
         FROM subject_versions v WHERE v.schema_id = $1 ORDER BY v.subject, v.version",
    )
    .bind(id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|row| {
            let deleted: i64 = row.try_get("deleted")?;
            Ok(IdHolder {
                subject: row.try_get("subject")?,
                deleted: deleted != 0,
                restricted_stream: row.try_get("stream")?,
            })
        })
        .collect()
}

/// Whether anyone may read a schema these subjects hold: none of them is in a stream
/// that restricts reads, or one of them is not.
pub fn holders_open(holders: &[IdHolder]) -> bool {
    holders.is_empty() || holders.iter().any(|h| h.restricted_stream.is_none())
}

/// The read rule for a schema known by id or GUID (`what`, e.g. "schema 7"): readable
/// when `actor` may read at least one subject of `holders` ([`check_subject_read`] for
/// those of restricted streams; any other holder admits at once). 403 (40301) naming
/// the streams otherwise. No holders at all passes: the caller answers 404 itself.
pub async fn check_holders_read(
    store: &Store,
    actor: &Actor,
    what: &str,
    holders: &[IdHolder],
) -> R<()> {
    if reads_everything(actor) || holders_open(holders) {
        return Ok(());
    }
    let mut streams: Vec<&str> = Vec::new();
    for h in holders {
        if check_subject_read(store, actor, &h.subject).await.is_ok() {
            return Ok(());
        }
        if let Some(s) = h.restricted_stream.as_deref() {
            if !streams.contains(&s) {
                streams.push(s);
            }
        }
    }
    if streams.is_empty() {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "Principal '{}' may not read {what}: only subjects of stream(s) '{}' hold it, which restrict reads to their owning team, their active consumers' teams and admins",
        actor.name(),
        streams.join("', '")
    )))
}

// ---- rows ----

fn stream_from_row(row: &AnyRow) -> R<StreamSummary> {
    Ok(StreamSummary {
        name: row.try_get("name")?,
        key_subject: row.try_get("key_subject")?,
        value_subject: row.try_get("value_subject")?,
        owner_team: row.try_get("owner_team")?,
        status: row.try_get("status")?,
        sunset: row.try_get("sunset")?,
        successor: row.try_get("successor")?,
        latest_value_schema: None,
        created_at: row.try_get("created_ms")?,
        updated_at: row.try_get("updated_ms")?,
    })
}

const STREAM_COLS: &str = "name, key_subject, value_subject, owner_team, status, sunset, successor, created_ms, updated_ms";

pub(crate) async fn stream_row<'e, E: Executor<'e, Database = Any>>(
    e: E,
    name: &str,
) -> R<Option<StreamSummary>> {
    let row = sqlx::query(&format!(
        "SELECT {STREAM_COLS} FROM streams WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(stream_from_row).transpose()
}

fn info_from_row(row: &AnyRow) -> R<ContractVersionInfo> {
    Ok(ContractVersionInfo {
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        created_at: row.try_get("created_ms")?,
        created_by: row.try_get("created_by")?,
    })
}

/// A contract version and its document; the latest when `version` is `None`.
pub(crate) async fn contract_row<'e, E: Executor<'e, Database = Any>>(
    e: E,
    stream: &str,
    version: Option<i64>,
) -> R<Option<(ContractVersionInfo, Value)>> {
    let row = sqlx::query(
        "SELECT version, digest, body, created_ms, created_by FROM stream_contracts \
         WHERE stream = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1",
    )
    .bind(stream)
    .bind(version.unwrap_or(0))
    .fetch_optional(e)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let body: String = row.try_get("body")?;
    let doc = serde_json::from_str(&body).map_err(ApiError::internal)?;
    Ok(Some((info_from_row(&row)?, doc)))
}

pub(crate) fn parse_stored(doc: &Value) -> R<Contract> {
    Contract::from_value(doc.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored contract unreadable: {e}")))
}

pub(crate) async fn consumers_of<'e, E: Executor<'e, Database = Any>>(
    e: E,
    stream: &str,
) -> R<Vec<Consumer>> {
    let rows = sqlx::query(
        "SELECT service, team, status, registered_ms FROM stream_consumers \
         WHERE stream = $1 ORDER BY service",
    )
    .bind(stream)
    .fetch_all(e)
    .await?;
    rows.iter().map(consumer_from_row).collect()
}

/// A consumer from a row of `stream_consumers` (service, team, status, registered_ms).
fn consumer_from_row(row: &AnyRow) -> R<Consumer> {
    Ok(Consumer {
        service: row.try_get("service")?,
        team: row.try_get("team")?,
        status: row.try_get("status")?,
        registered_at: row.try_get("registered_ms")?,
        observed: None,
    })
}

/// A producer from a row of `stream_producers` (service, team, updated_ms).
fn producer_from_row(row: &AnyRow) -> R<Producer> {
    Ok(Producer {
        service: row.try_get("service")?,
        team: row.try_get("team")?,
        updated_at: row.try_get("updated_ms")?,
    })
}

async fn producer_of<'e, E: Executor<'e, Database = Any>>(
    e: E,
    stream: &str,
) -> R<Option<Producer>> {
    let row =
        sqlx::query("SELECT service, team, updated_ms FROM stream_producers WHERE stream = $1")
            .bind(stream)
            .fetch_optional(e)
            .await?;
    row.as_ref().map(producer_from_row).transpose()
}

// ---- reads ----

async fn with_latest(store: &Store, mut s: StreamSummary) -> R<StreamSummary> {
    if let Some(v) = q::latest_version(store.reader(), &s.value_subject, false).await? {
        s.latest_value_schema = Some(LatestSchema {
            id: crate::context::public_id(v.schema_id),
            version: v.version,
        });
    }
    Ok(s)
}

/// The most streams one page of `GET /v1/streams` holds (and the page size when none is
/// asked for).
pub const STREAM_PAGE_MAX: usize = 1000;

/// Which page of `GET /v1/streams`: the streams named after `after` (keyset paging by
/// name, stable while streams are added), at most `limit`, optionally only those with
/// `subject` as key or value subject.
#[derive(Debug, Clone, Default)]
pub struct StreamPage {
    pub after: Option<String>,
    pub limit: usize,
    pub subject: Option<String>,
}

/// One page of streams, the number of streams in all (with the same filter), and whether
/// more follow.
#[derive(Debug)]
pub struct StreamsPage {
    pub streams: Vec<StreamSummary>,
    pub total: i64,
    pub more: bool,
}

/// `GET /v1/streams`, sorted by name, a page at a time: one query for the page (one row
/// more than asked, to tell whether more follow), one for the total, and the latest
/// value versions in batches of [`q::LATEST_BATCH`].
pub async fn list_streams(store: &Store, page: &StreamPage) -> R<StreamsPage> {
    let limit = page.limit.clamp(1, STREAM_PAGE_MAX);
    let filter = match &page.subject {
        Some(_) => "(key_subject = $1 OR value_subject = $1)",
        None => "$1 = ''",
    };
    let subject = page.subject.as_deref().unwrap_or("");
    let sql = format!(
        "SELECT {STREAM_COLS} FROM streams WHERE {filter} AND name > $2 ORDER BY name LIMIT {}",
        limit + 1
    );
    let rows = sqlx::query(&sql)
        .bind(subject)
        .bind(page.after.as_deref().unwrap_or(""))
        .fetch_all(store.reader())
        .await?;
    let more = rows.len() > limit;
    let mut streams = rows
        .iter()
        .take(limit)
        .map(stream_from_row)
        .collect::<R<Vec<_>>>()?;
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM streams WHERE {filter}"))
        .bind(subject)
        .fetch_one(store.reader())
        .await?
        .try_get("n")?;
    let subjects: Vec<String> = streams.iter().map(|s| s.value_subject.clone()).collect();
    let mut latest = std::collections::HashMap::new();
    for chunk in subjects.chunks(q::LATEST_BATCH) {
        for v in q::latest_versions(store.reader(), chunk).await? {
            latest.insert(v.subject.clone(), v);
        }
    }
    for s in &mut streams {
        if let Some(v) = latest.get(&s.value_subject) {
            s.latest_value_schema = Some(LatestSchema {
                id: crate::context::public_id(v.schema_id),
                version: v.version,
            });
        }
    }
    Ok(StreamsPage {
        streams,
        total,
        more,
    })
}

/// 404 (40420) unless stream `name` exists.
pub async fn stream_exists(store: &Store, name: &str) -> R<()> {
    existing(store, name).await.map(|_| ())
}

async fn existing(store: &Store, name: &str) -> R<StreamSummary> {
    check_stream_name(name)?;
    stream_row(store.reader(), name)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.to_string()))
}

/// `GET /v1/streams/{name}`.
pub async fn get_stream(store: &Store, name: &str) -> R<StreamDetail> {
    let stream = with_latest(store, existing(store, name).await?).await?;
    let contract = contract_row(store.reader(), name, None)
        .await?
        .map(|(info, document)| CurrentContract { info, document });
    Ok(StreamDetail {
        stream,
        contract,
        consumers: consumers_of(store.reader(), name).await?,
        producer: producer_of(store.reader(), name).await?,
    })
}

/// A contract version (the latest when `version` is `None`).
pub async fn get_contract(
    store: &Store,
    name: &str,
    version: Option<i64>,
) -> R<(ContractVersionInfo, Contract)> {
    existing(store, name).await?;
    let (info, doc) = contract_row(store.reader(), name, version)
        .await?
        .ok_or_else(|| ApiError::ContractVersionNotFound {
            stream: name.to_string(),
            version: version.unwrap_or(0),
        })?;
    Ok((info, parse_stored(&doc)?))
}

/// `GET /v1/streams/{name}/contract/versions`, oldest first.
pub async fn contract_versions(store: &Store, name: &str) -> R<Vec<ContractVersionInfo>> {
    existing(store, name).await?;
    let rows = sqlx::query(
        "SELECT version, digest, created_ms, created_by FROM stream_contracts \
         WHERE stream = $1 ORDER BY version",
    )
    .bind(name)
    .fetch_all(store.reader())
    .await?;
    rows.iter().map(info_from_row).collect()
}

pub async fn list_consumers(store: &Store, name: &str) -> R<Vec<Consumer>> {
    existing(store, name).await?;
    consumers_of(store.reader(), name).await
}

/// A consumer registration with its stream (`GET /v1/consumers`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamConsumer {
    pub stream: String,
    #[serde(flatten)]
    pub consumer: Consumer,
}

/// A producer registration with its stream (`GET /v1/producers`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamProducer {
    pub stream: String,
    #[serde(flatten)]
    pub producer: Producer,
}

/// Which registrations a list keeps: by team, service or stream (each optional, all
/// that are given must hold).
#[derive(Debug, Clone, Default)]
pub struct Registrations {
    pub team: Option<String>,
    pub service: Option<String>,
    pub stream: Option<String>,
}

impl Registrations {
    /// ` AND col = $k ...` for each filter given (numbered after the first `k`
    /// placeholders), and their values in order.
    fn sql(&self, k: usize) -> (String, Vec<String>) {
        let mut text = String::new();
        let mut binds = Vec::new();
        for (col, v) in [
            ("team", &self.team),
            ("service", &self.service),
            ("stream", &self.stream),
        ] {
            if let Some(v) = v {
                binds.push(v.clone());
                text.push_str(&format!(" AND {col} = ${}", k + binds.len()));
            }
        }
        (text, binds)
    }
}

/// A page of consumer registrations by (stream, service), at most `fetch` after the
/// pair `after`, and how many match in all. Index-backed for a team, a service or a
/// stream (migrations 0015 and 0018, and the primary key).
pub async fn consumers_page(
    store: &Store,
    only: &Registrations,
    after: Option<(String, String)>,
    fetch: i64,
) -> R<(Vec<StreamConsumer>, i64)> {
    let (filter, binds) = only.sql(2);
    let (a_stream, a_service) = after.unwrap_or_default();
    let sql = format!(
        "SELECT stream, service, team, status, registered_ms FROM stream_consumers \
         WHERE (stream, service) > ($1, $2){filter} \
         ORDER BY stream, service LIMIT {fetch}"
    );
    let keys = [a_stream, a_service].into_iter().chain(binds);
    let page = q::rows_bound(store, &sql, keys)
        .await?
        .iter()
        .map(|row| {
            Ok(StreamConsumer {
                stream: row.try_get("stream")?,
                consumer: consumer_from_row(row)?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    let total = count_registrations(store, "stream_consumers", only).await?;
    Ok((page, total))
}

/// A page of producer registrations by stream, at most `fetch` after stream `after`,
/// and how many match in all.
pub async fn producers_page(
    store: &Store,
    only: &Registrations,
    after: Option<String>,
    fetch: i64,
) -> R<(Vec<StreamProducer>, i64)> {
    let (filter, binds) = only.sql(1);
    let sql = format!(
        "SELECT stream, service, team, updated_ms FROM stream_producers \
         WHERE stream > $1{filter} ORDER BY stream LIMIT {fetch}"
    );
    let keys = std::iter::once(after.unwrap_or_default()).chain(binds);
    let page = q::rows_bound(store, &sql, keys)
        .await?
        .iter()
        .map(|row| {
            Ok(StreamProducer {
                stream: row.try_get("stream")?,
                producer: producer_from_row(row)?,
            })
        })
        .collect::<R<Vec<_>>>()?;
    let total = count_registrations(store, "stream_producers", only).await?;
    Ok((page, total))
}

async fn count_registrations(store: &Store, table: &str, only: &Registrations) -> R<i64> {
    let (filter, binds) = only.sql(0);
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE 1 = 1{filter}");
    let rows = q::rows_bound(store, &sql, binds).await?;
    Ok(rows
        .first()
        .map(|r| r.try_get("n"))
        .transpose()?
        .unwrap_or(0))
}

pub async fn get_producer(store: &Store, name: &str) -> R<Producer> {
    existing(store, name).await?;
    producer_of(store.reader(), name)
        .await?
        .ok_or_else(|| ApiError::ProducerNotFound(name.to_string()))
}

// ---- mutations ----

/// `PUT /v1/streams/{name}/contract`: validates, then stores a new version unless the
/// latest has the same digest. The stream row follows the contract. Returns what happened;
/// the commit's change notices reach this node's caches through the store's notice sink.
pub async fn apply_contract(
    store: &Store,
    actor: &Actor,
    name: &str,
    contract: Contract,
) -> R<Applied> {
    let mut w = store.begin_write().await?;
    let mut refused = None;
    let applied = apply_contract_checked(
        &mut w,
        actor,
        name,
        contract,
        Some("stream.contract.apply"),
        &mut refused,
    )
    .await;
    let applied = match applied {
        Ok(applied) => applied,
        Err(e) => {
            if let Some(target) = refused {
                // Nothing was written: end the transaction, then record the refusal.
                drop(w);
                audit_refusal(store, actor, SUBJECT_CLAIM_DENIED, &target).await?;
            }
            return Err(e);
        }
    };
    if applied.changed {
        w.commit().await?;
    }
    Ok(applied)
}

/// [`apply_contract`] inside the caller's write transaction `w` (which the caller
/// commits). Audited as `action` when a version is stored; `None` leaves the audit
/// entry to the caller (a proposal's release, which changes several things at once).
pub(crate) async fn apply_contract_in(
    w: &mut WriteTx,
    actor: &Actor,
    name: &str,
    contract: Contract,
    action: Option<&str>,
) -> R<Applied> {
    apply_contract_checked(w, actor, name, contract, action, &mut None).await
}

/// The audit action of a refused subject claim ([`check_subject_claim`]); its target is
/// `subject:<subject>`.
const SUBJECT_CLAIM_DENIED: &str = "stream.subject.claim.denied";

/// [`apply_contract_in`], setting `refused` to the audit target when a subject claim is
/// refused, so that [`apply_contract`] records the refusal once its transaction is gone.
async fn apply_contract_checked(
    w: &mut WriteTx,
    actor: &Actor,
    name: &str,
    contract: Contract,
    action: Option<&str>,
    refused: &mut Option<String>,
) -> R<Applied> {
    let mut problems: Vec<String> = match contract.validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    };
    if !is_stream_name(name) {
        problems.push(format!(
            "stream name '{name}' (in the path): use 1 to 249 letters, digits, '.', '_' and '-'"
        ));
    }
    let (key_subject, value_subject) = match contract.stream() {
        Some(b) => {
            if b.name != name {
                problems.push(format!(
                    "customProperties[accord.stream].value.name: the contract is for stream '{}' but was applied to '{name}'",
                    b.name
                ));
            }
            (b.key_subject(), b.value_subject())
        }
        None => (format!("{name}-key"), format!("{name}-value")),
    };
    if !problems.is_empty() {
        return Err(ApiError::InvalidContract(problems));
    }
    let digest = contract.digest();
    let document = contract.to_value();
    let body = serde_json::to_string(&document).map_err(ApiError::internal)?;
    let status = if contract.is_deprecated() {
        "deprecated"
    } else {
        "active"
    };
    let lifecycle = contract.lifecycle();
    let sunset = lifecycle.and_then(|l| l.sunset_date.clone());
    let successor = lifecycle.and_then(|l| l.successor.clone());
    let owner = contract.owner_team().map(str::to_string);
    let read_access = match contract.access().read {
        ReadAccess::Authenticated => "authenticated",
        ReadAccess::Restricted => "restricted",
    };

    let before = stream_row(&mut *w.tx, name).await?;
    check_stream_owner(
        actor,
        name,
        before.as_ref().and_then(|s| s.owner_team.as_deref()),
        owner.as_deref(),
    )?;
    let latest = contract_row(&mut *w.tx, name, None).await?;
    if let Some((info, _)) = &latest {
        if info.digest == digest {
            return Ok(Applied {
                stream: name.to_string(),
                version: info.version,
                digest,
                changed: false,
            });
        }
    }
    // A subject belongs to one stream at most.
    for subject in [&key_subject, &value_subject] {
        let other = sqlx::query(
            "SELECT name FROM streams WHERE name <> $1 AND (key_subject = $2 OR value_subject = $2) LIMIT 1",
        )
        .bind(name)
        .bind(subject)
        .fetch_optional(&mut *w.tx)
        .await?;
        if let Some(row) = other {
            let other: String = row.try_get("name")?;
            return Err(ApiError::InvalidContract(vec![format!(
                "customProperties[accord.stream].value: subject '{subject}' already belongs to stream '{other}'"
            )]));
        }
    }
    // A subject new to this stream that already has versions or keys is someone's: only
    // an admin or the principal who registered it may bind it to a stream.
    for subject in [&key_subject, &value_subject] {
        let current = before
            .as_ref()
            .is_some_and(|b| b.key_subject == *subject || b.value_subject == *subject);
        if current {
            continue;
        }
        if let Err(e) = check_subject_claim(&mut w.tx, actor, name, subject).await {
            if matches!(e, ApiError::Forbidden(_)) {
                *refused = Some(format!("subject:{subject}"));
            }
            return Err(e);
        }
    }
    // Keys follow a stream through its subjects (who may obtain them, what a shred
    // destroys): a subject that has keys cannot leave its stream.
    if let Some(b) = &before {
        for old in [&b.key_subject, &b.value_subject] {
            if *old == key_subject || *old == value_subject {
                continue;
            }
            let keys: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM deks WHERE subject = $1) \
                 + (SELECT COUNT(*) FROM entity_deks WHERE subject = $1)",
            )
            .bind(old)
            .fetch_one(&mut *w.tx)
            .await?;
            if keys > 0 {
                return Err(ApiError::InvalidContract(vec![format!(
                    "customProperties[accord.stream].value: subject '{old}' has {keys} encryption key(s) of stream '{name}' and cannot leave it; keep the subject, or shred the stream's keys first"
                )]));
            }
        }
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO streams (name, key_subject, value_subject, owner_team, status, sunset, successor, created_ms, updated_ms, read_access) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
         ON CONFLICT (name) DO UPDATE SET key_subject = $2, value_subject = $3, owner_team = $4, \
         status = $5, sunset = $6, successor = $7, updated_ms = $8, read_access = $9",
    )
    .bind(name)
    .bind(&key_subject)
    .bind(&value_subject)
    .bind(owner.as_deref())
    .bind(status)
    .bind(sunset.as_deref())
    .bind(successor.as_deref())
    .bind(now)
    .bind(read_access)
    .execute(&mut *w.tx)
    .await?;
    let version = latest.as_ref().map_or(0, |(i, _)| i.version) + 1;
    sqlx::query(
        "INSERT INTO stream_contracts (stream, version, digest, body, created_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(name)
    .bind(version)
    .bind(&digest)
    .bind(&body)
    .bind(now)
    .bind(actor.name())
    .execute(&mut *w.tx)
    .await?;
    if let Some(action) = action {
        let before_state = latest
            .as_ref()
            .map(|(i, _)| json!({"version": i.version, "digest": i.digest}));
        audit::append(
            w,
            actor.name(),
            action,
            &format!("stream:{name}"),
            before_state.as_ref(),
            Some(&json!({"version": version, "digest": digest})),
        )
        .await?;
    }
    let event = json!({"stream": name, "version": version, "digest": digest, "status": status});
    crate::outbox::emit(w, crate::outbox::CONTRACT_CHANGED, name, &event).await?;
    if status == "deprecated" && before.as_ref().is_none_or(|s| s.status != "deprecated") {
        let event = json!({"stream": name, "sunset": sunset, "successor": successor});
        crate::outbox::emit(w, crate::outbox::STREAM_DEPRECATED, name, &event).await?;
    }
    // A contract decides who may read its subjects' ids: every node forgets what it
    // cached about which ids are restricted (see `Caches::apply`).
    w.notify(crate::storage::Notice::Global);
    Ok(Applied {
        stream: name.to_string(),
        version,
        digest,
        changed: true,
    })
}

/// Whether `actor` may bind `subject` to stream `stream` by a contract (inside the
/// apply's transaction `conn`). A subject with no versions and no keys is free. One that
/// has them belongs to whoever registered it: a contract claiming it would lock its
/// registrant out (the stream-owner rule) and let the claimant obtain and shred its keys.
/// So it takes an admin, or the principal who registered every version of it, as the
/// audit log records (`subject.register`, `subject.tags` on target `subject:<s>`). A
/// subject with no recorded registrant (versions older than the audit log, or keys
/// without versions) is an admin's to claim. 403 (40301) otherwise. With auth off
/// everything passes, as everywhere else.
async fn check_subject_claim(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    stream: &str,
    subject: &str,
) -> R<()> {
    let Actor::Principal(p) = actor else {
        return Ok(());
    };
    if p.role == Role::Admin {
        return Ok(());
    }
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM subject_versions WHERE subject = $1) AS n_versions, \
         (SELECT COUNT(*) FROM deks WHERE subject = $1) \
         + (SELECT COUNT(*) FROM entity_deks WHERE subject = $1) AS n_keys",
    )
    .bind(subject)
    .fetch_one(&mut *conn)
    .await?;
    let versions: i64 = row.try_get("n_versions")?;
    let keys: i64 = row.try_get("n_keys")?;
    if versions == 0 && keys == 0 {
        return Ok(());
    }
    // Only read when a non-admin claims a subject in use: a rare write, so the audit
    // log is searched by target without an index of its own.
    let registrants: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT principal FROM audit_log \
         WHERE target = $1 AND action IN ('subject.register', 'subject.tags')",
    )
    .bind(format!("subject:{subject}"))
    .fetch_all(&mut *conn)
    .await?;
    if versions > 0 && registrants.len() == 1 && registrants[0] == p.name {
        return Ok(());
    }
    let by = if registrants.is_empty() || versions == 0 {
        "no principal on record registered it"
    } else {
        "it was registered by another principal"
    };
    Err(ApiError::Forbidden(format!(
        "Principal '{}' may not claim subject '{subject}' for stream '{stream}': the subject already has {versions} version(s) and {keys} key(s) and {by}; only an admin or the principal who registered it may bind it to a stream",
        p.name
    )))
}

/// `POST /v1/streams/{name}/consumers`. Refused on a deprecated stream (naming its
/// successor) and for teams the access policy excludes; recorded `pending` when the
/// owner must approve (PII streams with `piiRequiresOwnerApproval`, read-restricted
/// streams, or `consumers: approval`). Registering an existing service again with the
/// same team returns it unchanged.
///
/// A service belongs to the team that registered it: the record (its team, and its
/// status, which is what releases a restricted stream's schemas and keys to that team)
/// must not be taken over by registering the same name under another team. Only the
/// stream's owning team or an admin moves a service to another team (audited as
/// `stream.consumer.reassign`, its status decided afresh for the new team); anyone else
/// gets 409 (40923, audited as `stream.consumer.add.denied`) and nothing changes.
pub async fn add_consumer(
    store: &Store,
    actor: &Actor,
    name: &str,
    input: &ServiceInput,
) -> R<Consumer> {
    check_stream_name(name)?;
    input.check()?;
    if let Actor::Principal(p) = actor {
        if p.role != Role::Admin && p.team.as_deref() != Some(input.team.as_str()) {
            return Err(ApiError::Forbidden(format!(
                "Principal '{}' may register consumers only for its own team ({}), not for '{}'",
                p.name,
                p.team.as_deref().unwrap_or("none"),
                input.team
            )));
        }
    }
    let mut w = store.begin_write().await?;
    let stream = stream_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.to_string()))?;
    if stream.status == "deprecated" {
        return Err(ApiError::StreamDeprecated {
            stream: name.to_string(),
            successor: stream.successor.clone(),
            sunset: stream.sunset.clone(),
        });
    }
    let existing = consumers_of(&mut *w.tx, name)
        .await?
        .into_iter()
        .find(|c| c.service == input.service);
    if let Some(c) = existing.as_ref().filter(|c| c.team == input.team) {
        return Ok(c.clone());
    }
    if let Some(c) = &existing {
        if check_stream_owner(actor, name, stream.owner_team.as_deref(), None).is_err() {
            // Nothing is written: end this transaction before recording the refusal in
            // its own (one writer at a time).
            drop(w);
            let target = format!("stream:{name}/consumer:{}", input.service);
            audit_refusal(store, actor, "stream.consumer.add.denied", &target).await?;
            return Err(ApiError::ConsumerTaken(format!(
                "Consumer '{}' of stream '{name}' is registered by team '{}': team '{}' may not register a service of the same name (choose another name); only the stream's owning team ({}) or an admin may move it to another team",
                c.service,
                c.team,
                input.team,
                stream.owner_team.as_deref().unwrap_or("none")
            )));
        }
    }
    let contract = match contract_row(&mut *w.tx, name, None).await? {
        Some((_, doc)) => Some(parse_stored(&doc)?),
        None => None,
    };
    let status = match contract
        .as_ref()
        .map(|c| c.access().admission(&input.team, c.has_pii()))
    {
        None | Some(Admission::Allowed) => "active",
        Some(Admission::NeedsOwnerApproval) => "pending",
        Some(Admission::Refused) => {
            return Err(ApiError::ConsumerRefused(format!(
                "Team '{}' may not consume stream '{name}': its contract admits only the teams it lists (accord.access.allowedTeams)",
                input.team
            )))
        }
    };
    let now = now_ms();
    sqlx::query(
        "INSERT INTO stream_consumers (stream, service, team, status, registered_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (stream, service) DO UPDATE SET team = $3, status = $4, registered_ms = $5",
    )
    .bind(name)
    .bind(&input.service)
    .bind(&input.team)
    .bind(status)
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    let consumer = Consumer {
        service: input.service.clone(),
        team: input.team.clone(),
        status: status.to_string(),
        registered_at: now,
        observed: None,
    };
    let state = |c: &Consumer| json!({"service": c.service, "team": c.team, "status": c.status});
    let action = if existing.is_some() {
        "stream.consumer.reassign"
    } else {
        "stream.consumer.add"
    };
    audit::append(
        &mut w,
        actor.name(),
        action,
        &format!("stream:{name}/consumer:{}", input.service),
        existing.as_ref().map(state).as_ref(),
        Some(&state(&consumer)),
    )
    .await?;
    let event = json!({"stream": name, "service": consumer.service, "team": consumer.team, "status": consumer.status});
    crate::outbox::emit(&mut w, crate::outbox::CONSUMER_ADDED, name, &event).await?;
    w.commit().await?;
    Ok(consumer)
}

/// Records a refused change (`action`, e.g. `stream.consumer.add.denied`) in the audit
/// log in a transaction of its own, as the other refusals are (`keys.release.denied`):
/// the caller's transaction, if any, must already be dropped.
async fn audit_refusal(store: &Store, actor: &Actor, action: &str, target: &str) -> R<()> {
    let mut w = store.begin_write().await?;
    audit::append(&mut w, actor.name(), action, target, None, None).await?;
    w.commit().await?;
    Ok(())
}

/// `DELETE /v1/streams/{name}/consumers/{service}`: the removed consumer (the owning
/// team, the consumer's own team or an admin).
pub async fn remove_consumer(
    store: &Store,
    actor: &Actor,
    name: &str,
    service: &str,
) -> R<Consumer> {
    check_stream_name(name)?;
    let mut w = store.begin_write().await?;
    let stream = stream_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.to_string()))?;
    let consumer = consumers_of(&mut *w.tx, name)
        .await?
        .into_iter()
        .find(|c| c.service == service)
        .ok_or_else(|| ApiError::ConsumerNotFound {
            stream: name.to_string(),
            service: service.to_string(),
        })?;
    let own_team = matches!(actor, Actor::Principal(p) if p.role == Role::Member && p.team.as_deref() == Some(consumer.team.as_str()));
    if !own_team {
        check_stream_owner(actor, name, stream.owner_team.as_deref(), None)?;
    }
    sqlx::query("DELETE FROM stream_consumers WHERE stream = $1 AND service = $2")
        .bind(name)
        .bind(service)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        &mut w,
        actor.name(),
        "stream.consumer.remove",
        &format!("stream:{name}/consumer:{service}"),
        Some(
            &json!({"service": consumer.service, "team": consumer.team, "status": consumer.status}),
        ),
        None,
    )
    .await?;
    w.commit().await?;
    Ok(consumer)
}

/// `POST /v1/streams/{name}/consumers/{service}/approve` (`approve`) or `.../reject`:
/// the owning team's or an admin's decision on a consumer. Approving an active consumer
/// or rejecting a rejected one changes nothing (no audit entry, no event).
pub async fn decide_consumer(
    store: &Store,
    actor: &Actor,
    name: &str,
    service: &str,
    approve: bool,
) -> R<Consumer> {
    check_stream_name(name)?;
    let mut w = store.begin_write().await?;
    let stream = stream_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.to_string()))?;
    check_stream_owner(actor, name, stream.owner_team.as_deref(), None)?;
    let before = consumers_of(&mut *w.tx, name)
        .await?
        .into_iter()
        .find(|c| c.service == service)
        .ok_or_else(|| ApiError::ConsumerNotFound {
            stream: name.to_string(),
            service: service.to_string(),
        })?;
    let status = if approve { "active" } else { "rejected" };
    if before.status == status {
        return Ok(before);
    }
    sqlx::query("UPDATE stream_consumers SET status = $3 WHERE stream = $1 AND service = $2")
        .bind(name)
        .bind(service)
        .bind(status)
        .execute(&mut *w.tx)
        .await?;
    let after = Consumer {
        status: status.to_string(),
        ..before.clone()
    };
    let state = |c: &Consumer| json!({"service": c.service, "team": c.team, "status": c.status});
    let (action, event_type) = if approve {
        ("stream.consumer.approve", crate::outbox::CONSUMER_APPROVED)
    } else {
        ("stream.consumer.reject", crate::outbox::CONSUMER_REJECTED)
    };
    audit::append(
        &mut w,
        actor.name(),
        action,
        &format!("stream:{name}/consumer:{service}"),
        Some(&state(&before)),
        Some(&state(&after)),
    )
    .await?;
    let event = json!({"stream": name, "service": after.service, "team": after.team, "status": after.status});
    crate::outbox::emit(&mut w, event_type, name, &event).await?;
    w.commit().await?;
    Ok(after)
}

/// `PUT /v1/streams/{name}/producer`: sets the single writer (owning team or admin).
pub async fn put_producer(
    store: &Store,
    actor: &Actor,
    name: &str,
    input: &ServiceInput,
) -> R<Producer> {
    check_stream_name(name)?;
    input.check()?;
    let mut w = store.begin_write().await?;
    let stream = stream_row(&mut *w.tx, name)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(name.to_string()))?;
    check_stream_owner(actor, name, stream.owner_team.as_deref(), None)?;
    let before = producer_of(&mut *w.tx, name).await?;
    if let Some(p) = before
        .as_ref()
        .filter(|p| p.service == input.service && p.team == input.team)
    {
        return Ok(p.clone());
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO stream_producers (stream, service, team, updated_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stream) DO UPDATE SET service = $2, team = $3, updated_ms = $4",
    )
    .bind(name)
    .bind(&input.service)
    .bind(&input.team)
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    let producer = Producer {
        service: input.service.clone(),
        team: input.team.clone(),
        updated_at: now,
    };
    let state = |p: &Producer| json!({"service": p.service, "team": p.team});
    audit::append(
        &mut w,
        actor.name(),
        "stream.producer.set",
        &format!("stream:{name}"),
        before.as_ref().map(state).as_ref(),
        Some(&state(&producer)),
    )
    .await?;
    w.commit().await?;
    Ok(producer)
}

// ---- enforcement at registration ----

/// The compatibility level of the contract of the stream `subject` belongs to, if it
/// belongs to one: what a registration there is checked at, so the compatibility
/// endpoint (`accord check`) answers what registration would.
pub async fn contract_level(
    conn: &mut sqlx::AnyConnection,
    subject: &str,
) -> R<Option<CompatibilityLevel>> {
    let row = sqlx::query(
        "SELECT c.body FROM streams s JOIN stream_contracts c ON c.stream = s.name \
         WHERE s.key_subject = $1 OR s.value_subject = $1 ORDER BY c.version DESC LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let body: String = row.try_get("body")?;
    let doc: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    Ok(Some(parse_stored(&doc)?.compatibility()))
}

/// What a registration must additionally satisfy, computed inside its transaction.
///
/// * Independent of contracts: every CEL rule of the schema's (effective) ruleSet must
///   compile, else 422 `InvalidRuleSet` (42210) naming the rule and the error.
/// * When `subject` is a subject of a stream with a contract: the caller must be the
///   owning team or an admin; the contract's lint rules at level `error` must pass
///   (else 422 `LintViolation`, 42221); and the returned level replaces the subject's
///   configured compatibility level.
///
/// `text` is the schema as sent (lint reads docs that the canonical form drops).
pub async fn registration_policy(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    subject: &str,
    contract: Option<&SubjectContract>,
    text: Option<&str>,
    parsed: Option<&ParsedSchema>,
    rule_set: Option<&RuleSet>,
) -> R<Option<CompatibilityLevel>> {
    if let Some(rs) = rule_set {
        let problems = accord_contracts::cel::check_rule_set(rs);
        if !problems.is_empty() {
            let list: Vec<String> = problems
                .iter()
                .map(|p| format!("ruleSet.{}: {}", p.path, p.message))
                .collect();
            return Err(ApiError::InvalidRuleSet(format!(
                "Invalid ruleSet: {}",
                list.join("; ")
            )));
        }
    }
    let Some(SubjectContract {
        stream,
        owner,
        contract,
    }) = contract
    else {
        return Ok(None);
    };
    check_owner_by_name(
        conn,
        actor,
        "register on the subjects of",
        stream,
        owner.as_deref(),
    )
    .await?;
    if let (Some(text), Some(parsed)) = (text, parsed) {
        let findings = accord_contracts::lint::lint_errors(contract.evolution(), text, parsed);
        if !findings.is_empty() {
            return Err(ApiError::LintViolation {
                subject: subject.to_string(),
                stream: stream.clone(),
                findings,
            });
        }
    }
    Ok(Some(contract.compatibility()))
}

/// The latest contract of the stream `subject` belongs to, read once per registration
/// (inside its transaction) for the owner rule, the level, lint and the rules.
pub struct SubjectContract {
    pub stream: String,
    pub owner: Option<String>,
    pub contract: Contract,
}

impl SubjectContract {
    /// The contract's data-quality rules as a ruleSet to lay over the schema's own (as
    /// Confluent's `overrideRuleSet` is): every version registered on a contracted
    /// stream carries them, so the serializers run them. `None` without rules.
    pub fn rule_set(&self) -> R<Option<Value>> {
        match self.contract.rule_set() {
            Some(rs) if !rs.is_empty() => {
                Ok(Some(serde_json::to_value(rs).map_err(|e| {
                    ApiError::internal(anyhow::anyhow!("contract ruleSet: {e}"))
                })?))
            }
            _ => Ok(None),
        }
    }
}

/// [`SubjectContract`] of `subject`, or `None` when it belongs to no stream with a contract.
pub async fn subject_contract(
    conn: &mut sqlx::AnyConnection,
    subject: &str,
) -> R<Option<SubjectContract>> {
    let row = sqlx::query(
        "SELECT s.name, s.owner_team, c.body FROM streams s JOIN stream_contracts c ON c.stream = s.name \
         WHERE s.key_subject = $1 OR s.value_subject = $1 ORDER BY c.version DESC LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let body: String = row.try_get("body")?;
    let doc: Value = serde_json::from_str(&body).map_err(ApiError::internal)?;
    Ok(Some(SubjectContract {
        stream: row.try_get("name")?,
        owner: row.try_get("owner_team")?,
        contract: parse_stored(&doc)?,
    }))
}
