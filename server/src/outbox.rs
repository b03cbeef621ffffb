//! The transactional outbox behind webhook notifications.
//!
//! [`emit`] writes an event into `outbox` and one `pending` row into
//! `webhook_deliveries` per matching active subscription, inside the caller's
//! [`WriteTx`]: the event commits or rolls back with the change it describes, so a
//! refused change emits nothing and a committed one is never lost. The delivery worker
//! ([`crate::webhooks`]) POSTs them afterwards, at least once, retrying for the retry
//! window that starts here (`window_start_ms`); it also prunes finished deliveries and
//! the events no delivery needs any more (see [`crate::webhooks::prune`]).
//!
//! Event types: `schema.registered`, `contract.changed`, `consumer.added`,
//! `consumer.approved`, `consumer.rejected`, `stream.deprecated`, `proposal.opened`,
//! `proposal.decided`, `keys.shredded`, `usage.undeclared-consumer`, `consumer.invited`.

use crate::error::ApiError;
use crate::storage::WriteTx;
use serde_json::Value;
use sqlx::Row;

pub const SCHEMA_REGISTERED: &str = "schema.registered";
pub const CONTRACT_CHANGED: &str = "contract.changed";
pub const CONSUMER_ADDED: &str = "consumer.added";
pub const CONSUMER_APPROVED: &str = "consumer.approved";
pub const CONSUMER_REJECTED: &str = "consumer.rejected";
pub const STREAM_DEPRECATED: &str = "stream.deprecated";
pub const PROPOSAL_OPENED: &str = "proposal.opened";
pub const PROPOSAL_DECIDED: &str = "proposal.decided";
/// Emitted by [`crate::dek`] when an entity's keys are shredded.
pub const KEYS_SHREDDED: &str = "keys.shredded";
/// Emitted by [`crate::usage`] when a principal that is not a declared consumer is first
/// seen reading a stream's schemas.
pub const USAGE_UNDECLARED_CONSUMER: &str = "usage.undeclared-consumer";
/// Emitted by [`crate::usage::invite`] when the owning team invites an undeclared reader
/// to register as a consumer.
pub const CONSUMER_INVITED: &str = "consumer.invited";

/// Every event type a subscription may name (besides `*`).
pub const EVENT_TYPES: &[&str] = &[
    SCHEMA_REGISTERED,
    CONTRACT_CHANGED,
    CONSUMER_ADDED,
    CONSUMER_APPROVED,
    CONSUMER_REJECTED,
    STREAM_DEPRECATED,
    PROPOSAL_OPENED,
    PROPOSAL_DECIDED,
    KEYS_SHREDDED,
    USAGE_UNDECLARED_CONSUMER,
    CONSUMER_INVITED,
];

/// Records an event of `stream` in the outbox, in the caller's transaction, with a
/// pending delivery for every active subscription that wants it. `payload` becomes the
/// event's `data`; a string `payload.subject` is also carried as the event's `subject`.
/// An empty `stream` means the event belongs to no stream (it then reaches only
/// subscriptions without a stream filter).
pub async fn emit(
    w: &mut WriteTx,
    event_type: &str,
    stream: &str,
    payload: &Value,
) -> Result<(), ApiError> {
    let stream = (!stream.is_empty()).then_some(stream);
    let subject = payload.get("subject").and_then(Value::as_str);
    emit_event(w, event_type, stream, subject, payload).await
}

/// `schema.registered` for a new version of `subject`, whose streams (by name, none
/// for most subjects) the registration has already read in the same transaction; with
/// the version's schema (and its parse) when it is the subject's latest version.
pub async fn emit_schema_registered_in(
    w: &mut WriteTx,
    subject: &str,
    version: i64,
    schema_id: i64,
    streams: &[&str],
    latest: Option<crate::catalog::index::Latest<'_>>,
) -> Result<(), ApiError> {
    let payload = serde_json::json!({"subject": subject, "version": version, "id": crate::context::public_id(schema_id)});
    crate::catalog::index::refresh_known(&mut w.tx, streams, subject, latest).await?;
    record_event(
        w,
        SCHEMA_REGISTERED,
        streams.first().copied(),
        Some(subject),
        &payload,
    )
    .await
}

async fn emit_event(
    w: &mut WriteTx,
    event_type: &str,
    stream: Option<&str>,
    subject: Option<&str>,
    payload: &Value,
) -> Result<(), ApiError> {
    // The catalog indexes schemas and contracts; consumers, producers, proposals and keys
    // are read live, so only these events change an index document.
    if [SCHEMA_REGISTERED, CONTRACT_CHANGED, STREAM_DEPRECATED].contains(&event_type) {
        crate::catalog::on_change(w, stream, subject).await?;
    }
    record_event(w, event_type, stream, subject, payload).await
}

/// The outbox row and its pending deliveries.
async fn record_event(
    w: &mut WriteTx,
    event_type: &str,
    stream: Option<&str>,
    subject: Option<&str>,
    payload: &Value,
) -> Result<(), ApiError> {
    let conn: &mut sqlx::AnyConnection = &mut w.tx;
    let now = crate::registry::now_ms();
    // The next sequence number and the row in one statement (writers are serialised),
    // which also says whether any subscription is active (most registries have none,
    // and then the event needs no further statement).
    let row = sqlx::query(
        "INSERT INTO outbox (seq, event_id, event_type, stream, subject, payload, created_ms) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, $6 FROM outbox \
         RETURNING seq, (SELECT COUNT(*) FROM webhook_subscriptions WHERE active = 1) AS subs",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(event_type)
    .bind(stream)
    .bind(subject)
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = row.try_get("seq")?;
    if row.try_get::<i64, _>("subs")? == 0 {
        return Ok(());
    }
    let subs = sqlx::query(
        "SELECT id, event_types, stream FROM webhook_subscriptions WHERE active = 1 ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in subs {
        let id: String = row.try_get("id")?;
        let types: String = row.try_get("event_types")?;
        let filter: Option<String> = row.try_get("stream")?;
        if !wants(&types, event_type) || filter.is_some_and(|f| Some(f.as_str()) != stream) {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (event_seq, subscription_id, status, attempts, next_attempt_ms, window_start_ms) \
             VALUES ($1, $2, 'pending', 0, $3, $3)",
        )
        .bind(seq)
        .bind(&id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether a subscription's `event_types` (a JSON array) selects `event_type`.
pub fn wants(event_types_json: &str, event_type: &str) -> bool {
    serde_json::from_str::<Vec<String>>(event_types_json)
        .map(|types| types.iter().any(|t| t == "*" || t == event_type))
        .unwrap_or(false)
}
