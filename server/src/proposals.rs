//! Breaking-change proposals: the human process for a schema the stream's contract
//! rejects.
//!
//! The owning team opens a proposal with a candidate schema that is incompatible at the
//! contract's level (a compatible one is simply registered). Accord stores the candidate,
//! the full compatibility report, and the impacted consumers: the stream's registered
//! consumers at opening time. Each consumer's team approves or rejects (one decision per
//! consumer; a later one replaces it while the proposal is open). The owner then releases
//! it, when every impacted consumer approved or, forced, with a written reason:
//!
//! * `new_version`: the candidate is registered on the subject with the compatibility
//!   check overridden this once (the contract's other rules still apply);
//! * `successor`: a successor stream is created with the old contract copied under its
//!   name, the candidate becomes version 1 of its subject, and the old stream is
//!   deprecated with a sunset date and the successor (new consumers are then refused
//!   there, naming the successor).
//!
//! States: `open` -> `released` | `forced` | `withdrawn`. (`rejected` is reserved for a
//! proposal closed as refused; no endpoint sets it yet.) Every mutation is one
//! transaction with one audit entry (`proposal.open`, `proposal.review`,
//! `proposal.release`, `proposal.withdraw`) and one outbox event (`proposal.opened`,
//! `proposal.decided`).
//!
//! Error codes: 404/40424 no such proposal; 409/40921 the proposal is no longer open;
//! 409/40922 release without every approval and without `force`; 422 for bad input
//! (including a candidate that is compatible: register it directly).

use crate::audit;
use crate::auth::{Actor, Role};
use crate::error::ApiError;
use crate::governance::{self, check_stream_name, check_stream_owner};
use crate::outbox;
use crate::registry::{now_ms, ReferenceInput, Registry, SchemaInput};
use crate::storage::WriteTx;
use accord_contracts::extensions::{LifecyclePolicy, StreamBinding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa::ToSchema;

type R<T> = Result<T, ApiError>;

/// The body of `POST /v1/streams/{name}/proposals`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenInput {
    /// The stream's key or value subject; its value subject when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// The candidate schema text.
    pub schema: String,
    /// AVRO (default), PROTOBUF or JSON.
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Vec<ReferenceInput>,
}

/// The body of `POST /v1/proposals/{id}/reviews`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewInput {
    /// The impacted consumer (service name) this decision is for.
    pub consumer: String,
    /// `approve` or `reject`.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// The body of `POST /v1/proposals/{id}/release`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseInput {
    /// `new_version` or `successor`.
    pub mode: String,
    /// The successor stream's name (mode `successor`).
    #[serde(default)]
    pub successor_stream: Option<String>,
    /// The old stream's sunset date, `YYYY-MM-DD` (mode `successor`).
    #[serde(default)]
    pub sunset_date: Option<String>,
    /// Release without every approval; needs a written `reason`.
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A consumer registered on the stream when the proposal was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactedConsumer {
    pub service: String,
    pub team: String,
}

/// One consumer's decision.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub consumer: String,
    pub team: String,
    /// `approved` or `rejected`.
    pub decision: String,
    pub comment: String,
    pub by: String,
    pub at: i64,
}

/// A proposal with its candidate, report, impacted consumers and reviews.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub id: i64,
    pub stream: String,
    pub subject: String,
    /// The candidate: `schema`, `schemaType`, `references`.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// The compatibility report at the contract's level when it was opened.
    #[schema(value_type = Object)]
    pub report: Value,
    /// `open`, `released`, `forced`, `withdrawn` or `rejected`.
    pub status: String,
    pub opened_by: String,
    pub opened_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    /// `new_version` or `successor`, once released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successor_stream: Option<String>,
    /// The written reason of a forced release or a withdrawal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub impacted_consumers: Vec<ImpactedConsumer>,
    /// Who was seen reading the stream's schemas in the last 30 days (see
    /// [`crate::usage`]), declared consumers or not, with when each was last seen: the
    /// impact as observed, next to the declared one.
    pub observed_readers: Vec<crate::usage::Seen>,
    pub reviews: Vec<Review>,
    /// Impacted consumers that have not approved (yet).
    pub pending: Vec<String>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(msg.into())
}

fn parse_id(id: &str) -> R<i64> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::ProposalNotFound(id.to_string()))
}

/// May `actor` speak for `team`? A member of it, or an admin (anyone with auth off).
fn check_team_member(actor: &Actor, team: &str, what: &str) -> R<()> {
    let Actor::Principal(p) = actor else {
        return Ok(());
    };
    if p.role == Role::Admin || (p.role == Role::Member && p.team.as_deref() == Some(team)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "Principal '{}' may not {what}: only a member of team '{team}' or an admin may",
            p.name
        )))
    }
}

// ---- rows ----

const COLS: &str =
    "id, stream, subject, schema, report, status, opened_by, opened_ms, decided_ms, \
                    release_mode, successor_stream, reason";

fn from_row(row: &AnyRow) -> R<Proposal> {
    let schema: String = row.try_get("schema")?;
    let report: String = row.try_get("report")?;
    Ok(Proposal {
        id: row.try_get("id")?,
        stream: row.try_get("stream")?,
        subject: row.try_get("subject")?,
        schema: serde_json::from_str(&schema).map_err(ApiError::internal)?,
        report: serde_json::from_str(&report).map_err(ApiError::internal)?,
        status: row.try_get("status")?,
        opened_by: row.try_get("opened_by")?,
        opened_at: row.try_get("opened_ms")?,
        decided_at: row.try_get("decided_ms")?,
        release_mode: row.try_get("release_mode")?,
        successor_stream: row.try_get("successor_stream")?,
        reason: row.try_get("reason")?,
        impacted_consumers: Vec::new(),
        observed_readers: Vec::new(),
        reviews: Vec::new(),
        pending: Vec::new(),
    })
}

/// The proposal with its consumers, reviews and pending list.
async fn load(conn: &mut sqlx::AnyConnection, id: i64) -> R<Proposal> {
    let row = sqlx::query(&format!("SELECT {COLS} FROM proposals WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ApiError::ProposalNotFound(id.to_string()))?;
    let mut p = from_row(&row)?;
    p.observed_readers =
        crate::usage::stream_readers(&mut *conn, &p.stream, 30 * crate::usage::DAY_MS).await?;
    let rows = sqlx::query(
        "SELECT service, team FROM proposal_consumers WHERE proposal = $1 ORDER BY service",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        p.impacted_consumers.push(ImpactedConsumer {
            service: r.try_get("service")?,
            team: r.try_get("team")?,
        });
    }
    let rows = sqlx::query(
        "SELECT service, team, decision, comment, reviewed_by, reviewed_ms FROM proposal_reviews \
         WHERE proposal = $1 ORDER BY service",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        p.reviews.push(Review {
            consumer: r.try_get("service")?,
            team: r.try_get("team")?,
            decision: r.try_get("decision")?,
            comment: r.try_get("comment")?,
            by: r.try_get("reviewed_by")?,
            at: r.try_get("reviewed_ms")?,
        });
    }
    p.pending = p
        .impacted_consumers
        .iter()
        .filter(|c| {
            !p.reviews
                .iter()
                .any(|r| r.consumer == c.service && r.decision == "approved")
        })
        .map(|c| c.service.clone())
        .collect();
    Ok(p)
}

fn state(p: &Proposal) -> Value {
    json!({"status": p.status, "stream": p.stream, "subject": p.subject})
}

fn candidate(p: &Proposal) -> SchemaInput {
    let references = p.schema["references"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| ReferenceInput {
                    name: r["name"].as_str().map(str::to_string),
                    subject: r["subject"].as_str().map(str::to_string),
                    version: r["version"].as_i64(),
                })
                .collect()
        })
        .unwrap_or_default();
    SchemaInput {
        schema: p.schema["schema"].as_str().map(str::to_string),
        schema_type: p.schema["schemaType"].as_str().map(str::to_string),
        references,
        ..SchemaInput::default()
    }
}

// ---- reads ----

/// `GET /v1/streams/{name}/proposals`, oldest first: at most `fetch` after id `after`,
/// only those with status `only` when given.
pub async fn list(
    registry: &Registry,
    stream: &str,
    only: Option<&str>,
    after: i64,
    fetch: i64,
) -> R<Vec<Proposal>> {
    governance::get_stream(&registry.store, stream).await?;
    let mut conn = registry.store.reader().acquire().await?;
    let sql = format!(
        "SELECT id FROM proposals WHERE stream = $1 AND id > $2{} ORDER BY id LIMIT {fetch}",
        if only.is_some() {
            " AND status = $3"
        } else {
            ""
        }
    );
    let mut q = sqlx::query(&sql).bind(stream).bind(after);
    if let Some(status) = only {
        q = q.bind(status);
    }
    let ids: Vec<i64> = q
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load(&mut conn, id).await?);
    }
    Ok(out)
}

/// How many proposals the stream has.
pub async fn count(registry: &Registry, stream: &str) -> R<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM proposals WHERE stream = $1")
            .bind(stream)
            .fetch_one(registry.store.reader())
            .await?
            .try_get("n")?,
    )
}

/// `proposal` as `actor` may see it: the candidate schema and the report (which quotes
/// the stored schemas) are `null` for a principal the stream's contract does not let
/// read its schemas; the rest (status, consumers, reviews) stays.
pub async fn visible_to(
    registry: &Registry,
    actor: &crate::auth::Actor,
    mut proposal: Proposal,
) -> R<Proposal> {
    match governance::check_subject_read(&registry.store, actor, &proposal.subject).await {
        Ok(()) => {}
        Err(ApiError::Forbidden(_)) => {
            proposal.schema = Value::Null;
            proposal.report = Value::Null;
        }
        Err(e) => return Err(e),
    }
    Ok(proposal)
}

/// `GET /v1/proposals/{id}`.
pub async fn get(registry: &Registry, id: &str) -> R<Proposal> {
    let id = parse_id(id)?;
    let mut conn = registry.store.reader().acquire().await?;
    load(&mut conn, id).await
}

// ---- mutations ----

/// `POST /v1/streams/{name}/proposals`: by the owning team (or an admin). The candidate
/// must be incompatible at the contract's level (a compatible one: 422).
pub async fn open(
    registry: &Registry,
    actor: &Actor,
    stream: &str,
    input: OpenInput,
) -> R<Proposal> {
    check_stream_name(stream)?;
    let s = governance::stream_row(registry.store.reader(), stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    check_stream_owner(actor, stream, s.owner_team.as_deref(), None)?;
    let subject = input.subject.clone().unwrap_or(s.value_subject.clone());
    if subject != s.key_subject && subject != s.value_subject {
        return Err(bad(format!(
            "subject: '{subject}' is not a subject of stream '{stream}' (use '{}' or '{}')",
            s.value_subject, s.key_subject
        )));
    }
    let schema = SchemaInput {
        schema: Some(input.schema.clone()),
        schema_type: input.schema_type.clone(),
        references: input.references.clone(),
        ..SchemaInput::default()
    };
    // The same check as `POST /compatibility/subjects/{s}/versions`, which tests at the
    // contract's level for a stream's subject.
    let outcome = registry
        .test_compatibility(&subject, None, &schema, false, true)
        .await?;
    if outcome.compatible {
        return Err(bad(format!(
            "The candidate is compatible with subject '{subject}' at the contract's level: register it directly"
        )));
    }
    let level = {
        let mut conn = registry.store.reader().acquire().await?;
        governance::contract_level(&mut conn, &subject).await?
    };
    let report = json!({
        "isCompatible": false,
        "compatibilityLevel": level.map(|l| l.to_string()),
        "messages": outcome.messages,
    });
    let candidate = json!({
        "schema": input.schema,
        "schemaType": input.schema_type.as_deref().unwrap_or("AVRO"),
        "references": input.references.iter().map(|r| json!({
            "name": r.name, "subject": r.subject, "version": r.version,
        })).collect::<Vec<_>>(),
    });

    let mut w = registry.store.begin_write().await?;
    let s = governance::stream_row(&mut *w.tx, stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(stream.to_string()))?;
    check_stream_owner(actor, stream, s.owner_team.as_deref(), None)?;
    let consumers = governance::consumers_of(&mut *w.tx, stream).await?;
    let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM proposals")
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("id")?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO proposals (id, stream, subject, schema, report, status, opened_by, opened_ms) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
    )
    .bind(id)
    .bind(stream)
    .bind(&subject)
    .bind(candidate.to_string())
    .bind(report.to_string())
    .bind(actor.name())
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    for c in &consumers {
        sqlx::query("INSERT INTO proposal_consumers (proposal, service, team) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&c.service)
            .bind(&c.team)
            .execute(&mut *w.tx)
            .await?;
    }
    let p = load(&mut w.tx, id).await?;
    audit::append(
        &mut w,
        actor.name(),
        "proposal.open",
        &format!("proposal:{id}"),
        None,
        Some(&state(&p)),
    )
    .await?;
    outbox::emit(
        &mut w,
        outbox::PROPOSAL_OPENED,
        stream,
        &json!({
            "proposal": id, "stream": stream, "subject": subject, "status": "open",
            "impactedConsumers": p.impacted_consumers.iter().map(|c| &c.service).collect::<Vec<_>>(),
        }),
    )
    .await?;
    registry.commit_write(w).await?;
    Ok(p)
}

/// Loads an open proposal inside `w`.
async fn open_proposal(w: &mut WriteTx, id: i64) -> R<Proposal> {
    let p = load(&mut w.tx, id).await?;
    if p.status != "open" {
        return Err(ApiError::ProposalClosed {
            id,
            status: p.status,
        });
    }
    Ok(p)
}

/// `POST /v1/proposals/{id}/reviews`: by a member of the consumer's team (or an admin).
pub async fn review(
    registry: &Registry,
    actor: &Actor,
    id: &str,
    input: ReviewInput,
) -> R<Proposal> {
    let id = parse_id(id)?;
    let decision = match input.decision.trim().to_ascii_lowercase().as_str() {
        "approve" | "approved" => "approved",
        "reject" | "rejected" => "rejected",
        other => {
            return Err(bad(format!(
                "decision: expected 'approve' or 'reject', got '{other}'"
            )))
        }
    };
    if input.comment.len() > 10_000 {
        return Err(bad("comment: at most 10000 characters"));
    }
    let mut w = registry.store.begin_write().await?;
    let p = open_proposal(&mut w, id).await?;
    let consumer = p
        .impacted_consumers
        .iter()
        .find(|c| c.service == input.consumer)
        .cloned()
        .ok_or_else(|| {
            bad(format!(
                "consumer: '{}' is not an impacted consumer of proposal {id} (impacted: {})",
                input.consumer,
                p.impacted_consumers
                    .iter()
                    .map(|c| c.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    check_team_member(
        actor,
        &consumer.team,
        &format!("review proposal {id} for consumer '{}'", consumer.service),
    )?;
    let before = p
        .reviews
        .iter()
        .find(|r| r.consumer == consumer.service)
        .map(|r| json!({"consumer": r.consumer, "decision": r.decision, "comment": r.comment}));
    let now = now_ms();
    sqlx::query(
        "INSERT INTO proposal_reviews (proposal, service, team, decision, comment, reviewed_by, reviewed_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (proposal, service) DO UPDATE SET \
         team = $3, decision = $4, comment = $5, reviewed_by = $6, reviewed_ms = $7",
    )
    .bind(id)
    .bind(&consumer.service)
    .bind(&consumer.team)
    .bind(decision)
    .bind(&input.comment)
    .bind(actor.name())
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    let after =
        json!({"consumer": consumer.service, "decision": decision, "comment": input.comment});
    audit::append(
        &mut w,
        actor.name(),
        "proposal.review",
        &format!("proposal:{id}/consumer:{}", consumer.service),
        before.as_ref(),
        Some(&after),
    )
    .await?;
    outbox::emit(
        &mut w,
        outbox::PROPOSAL_DECIDED,
        &p.stream,
        &json!({
            "proposal": id, "stream": p.stream, "subject": p.subject,
            "consumer": consumer.service, "team": consumer.team, "decision": decision,
        }),
    )
    .await?;
    let p = load(&mut w.tx, id).await?;
    registry.commit_write(w).await?;
    Ok(p)
}

/// `POST /v1/proposals/{id}/release`: by the owning team (or an admin), once every
/// impacted consumer approved, or forced with a written reason. One transaction.
pub async fn release(
    registry: &Registry,
    actor: &Actor,
    id: &str,
    input: ReleaseInput,
) -> R<Proposal> {
    let id = parse_id(id)?;
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if input.force && reason.is_none() {
        return Err(bad(
            "reason: a forced release needs a written reason (non-empty 'reason')",
        ));
    }
    let successor = match input.mode.as_str() {
        "new_version" => None,
        "successor" => {
            let name = input
                .successor_stream
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad("successorStream: required with mode 'successor'"))?;
            if input
                .sunset_date
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
            {
                return Err(bad(
                    "sunsetDate: required with mode 'successor' (YYYY-MM-DD, when the old stream goes)",
                ));
            }
            check_stream_name(name).map_err(|_| {
                bad(format!(
                    "successorStream: '{name}' is not a valid stream name (1 to 249 letters, digits, '.', '_' and '-')"
                ))
            })?;
            Some(name.to_string())
        }
        other => {
            return Err(bad(format!(
                "mode: expected 'new_version' or 'successor', got '{other}'"
            )))
        }
    };

    let mut w = registry.store.begin_write().await?;
    let p = open_proposal(&mut w, id).await?;
    let stream = governance::stream_row(&mut *w.tx, &p.stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(p.stream.clone()))?;
    check_stream_owner(actor, &p.stream, stream.owner_team.as_deref(), None)?;
    let status = if p.pending.is_empty() {
        "released"
    } else if input.force {
        "forced"
    } else {
        return Err(ApiError::ProposalNotApproved {
            id,
            pending: p.pending.clone(),
        });
    };
    let actor_name = actor.name().to_string();
    let (registered_subject, version, schema_id) = match &successor {
        None => {
            let (v, s) = registry
                .register_in(
                    &mut w,
                    &p.subject,
                    candidate(&p),
                    false,
                    true,
                    &actor_name,
                    None,
                )
                .await?;
            (
                p.subject.clone(),
                v.version,
                crate::context::public_id(s.id),
            )
        }
        Some(name) => {
            if governance::stream_row(&mut *w.tx, name).await?.is_some() {
                return Err(bad(format!(
                    "successorStream: stream '{name}' already exists"
                )));
            }
            let (_, doc) = governance::contract_row(&mut *w.tx, &p.stream, None)
                .await?
                .ok_or_else(|| ApiError::StreamNotFound(p.stream.clone()))?;
            let old = governance::parse_stored(&doc)?;
            let mut new = old.clone();
            new.id = name.clone();
            new.status = "active".to_string();
            new.accord.lifecycle = None;
            new.accord.stream = Some(StreamBinding {
                name: name.clone(),
                key_subject: None,
                value_subject: None,
            });
            governance::apply_contract_in(&mut w, actor, name, new, None).await?;
            let subject = if p.subject == stream.key_subject {
                format!("{name}-key")
            } else {
                format!("{name}-value")
            };
            let (v, s) = registry
                .register_in(
                    &mut w,
                    &subject,
                    candidate(&p),
                    false,
                    false,
                    &actor_name,
                    None,
                )
                .await?;
            let mut deprecated = old;
            deprecated.status = "deprecated".to_string();
            deprecated.accord.lifecycle = Some(LifecyclePolicy {
                sunset_date: input.sunset_date.as_deref().map(|d| d.trim().to_string()),
                successor: Some(name.clone()),
                reason: Some(format!("breaking change released by proposal {id}")),
            });
            governance::apply_contract_in(&mut w, actor, &p.stream, deprecated, None).await?;
            (subject, v.version, crate::context::public_id(s.id))
        }
    };
    let mode = if successor.is_some() {
        "successor"
    } else {
        "new_version"
    };
    let now = now_ms();
    sqlx::query(
        "UPDATE proposals SET status = $1, decided_ms = $2, release_mode = $3, successor_stream = $4, \
         reason = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(now)
    .bind(mode)
    .bind(successor.as_deref())
    .bind(reason.as_deref())
    .bind(id)
    .execute(&mut *w.tx)
    .await?;
    let after = json!({
        "status": status, "mode": mode, "successorStream": successor,
        "sunsetDate": input.sunset_date, "reason": reason, "pending": p.pending,
        "registered": {"subject": registered_subject, "version": version, "id": schema_id},
    });
    audit::append(
        &mut w,
        &actor_name,
        "proposal.release",
        &format!("proposal:{id}"),
        Some(&state(&p)),
        Some(&after),
    )
    .await?;
    outbox::emit(
        &mut w,
        outbox::PROPOSAL_DECIDED,
        &p.stream,
        &json!({
            "proposal": id, "stream": p.stream, "subject": p.subject, "status": status,
            "mode": mode, "successorStream": successor, "reason": reason,
            "registered": {"subject": registered_subject, "version": version, "id": schema_id},
        }),
    )
    .await?;
    let p = load(&mut w.tx, id).await?;
    registry.commit_write(w).await?;
    Ok(p)
}

/// `POST /v1/proposals/{id}/withdraw`: by the owning team (or an admin).
pub async fn withdraw(registry: &Registry, actor: &Actor, id: &str) -> R<Proposal> {
    let id = parse_id(id)?;
    let mut w = registry.store.begin_write().await?;
    let p = open_proposal(&mut w, id).await?;
    let stream = governance::stream_row(&mut *w.tx, &p.stream)
        .await?
        .ok_or_else(|| ApiError::StreamNotFound(p.stream.clone()))?;
    check_stream_owner(actor, &p.stream, stream.owner_team.as_deref(), None)?;
    sqlx::query("UPDATE proposals SET status = 'withdrawn', decided_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        &mut w,
        actor.name(),
        "proposal.withdraw",
        &format!("proposal:{id}"),
        Some(&state(&p)),
        Some(&json!({"status": "withdrawn", "stream": p.stream, "subject": p.subject})),
    )
    .await?;
    outbox::emit(
        &mut w,
        outbox::PROPOSAL_DECIDED,
        &p.stream,
        &json!({"proposal": id, "stream": p.stream, "subject": p.subject, "status": "withdrawn"}),
    )
    .await?;
    let p = load(&mut w.tx, id).await?;
    registry.commit_write(w).await?;
    Ok(p)
}
