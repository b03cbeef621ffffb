//! Webhook subscriptions and the delivery worker.
//!
//! Events are written to the outbox by [`crate::outbox::emit`] in the transaction of the
//! change; each matching subscription gets a `pending` row in `webhook_deliveries`. The
//! worker ([`run`]) claims due rows in a short write transaction (pushing
//! `next_attempt_ms` forward by a lease and counting the attempt, so another node skips
//! them), commits, and only then POSTs; the outcome is written in a second short
//! transaction. A delivery becomes `delivered` only after a 2xx answer; otherwise it is
//! retried with exponential backoff (base × 2^(attempt−1), capped at [`MAX_BACKOFF`]) for
//! the retry window ([`WorkerConfig::retry_window`], 24 h by default) counted from the
//! event (or from the last re-send); the last attempt is made when the window closes, and
//! if it fails too the delivery is `dead`, keeping the last error and HTTP status. A node
//! that dies mid-delivery leaves the lease to expire and the delivery is sent again (at
//! least once).
//!
//! The subscription's owner (its creator, members of the creator's team, admins) may
//! re-send a `dead` or `delivered` delivery ([`resend`]): it is pending again with a fresh
//! window. Finished deliveries (`delivered`, `dead`) are pruned once they are older than
//! the retention, and so are events that no delivery needs any more ([`prune`], run by the
//! worker in short batches), so `outbox` and `webhook_deliveries` do not grow forever.
//!
//! The request: `POST url` with the JSON event `{id, type, stream, subject?, occurredAt,
//! data}` and headers `X-Accord-Event` (type), `X-Accord-Delivery`
//! (`<event id>:<subscription id>`, the same on every retry) and `X-Accord-Signature:
//! sha256=<hex HMAC-SHA256(secret, body)>`.

use crate::audit;
use crate::auth::{Actor, Role};
use crate::error::ApiError;
use crate::outbox::EVENT_TYPES;
use crate::registry::now_ms;
use crate::storage::{Backend, Store};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::Row;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use utoipa::ToSchema;

type R<T> = Result<T, ApiError>;

/// How long a claimed delivery is hidden from other workers (well above the timeout).
const LEASE: Duration = Duration::from_secs(60);
/// The HTTP timeout of one delivery attempt.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait between two attempts. An hour rather than minutes: over a 24 h
/// window a receiver that is down gets about 35 attempts per delivery instead of ~300
/// (a backlog of a thousand events would otherwise keep it busy with several requests a
/// second),
/// while one that comes back gets its backlog within the hour, or at once by [`resend`]
/// once the deliveries are dead. The window's end bounds every wait too.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Deliveries claimed at once by one worker.
const BATCH: i64 = 16;
/// Rows deleted by one pruning transaction, so pruning never holds the write lock long.
const PRUNE_BATCH: i64 = 500;
/// The longest pause between two pruning passes (shorter when the retention is).
const PRUNE_EVERY: Duration = Duration::from_secs(300);

/// `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookInput {
    /// Where events are POSTed: an `http` or `https` URL.
    pub url: String,
    /// The HMAC-SHA256 signing key; generated (and returned once) when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Event types to receive, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// Only events of this stream (default: every event).
    #[serde(default)]
    pub stream: Option<String>,
}

/// A subscription as listed (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    pub active: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub created_by: String,
    /// The creator's team: its members see, delete and re-send deliveries of the
    /// subscription, like the creator and admins; nobody else sees it at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_team: Option<String>,
}

/// The answer to a creation: the subscription and its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    /// The event's outbox sequence number.
    pub event_seq: i64,
    /// `pending`, `delivered` or `dead` (the retry window ran out; see `lastError`).
    pub status: String,
    /// Attempts since the event, or since the last re-send.
    pub attempts: i64,
    /// When the next attempt is due (ms since the epoch); pending deliveries only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// When the delivery was given up (ms since the epoch); dead deliveries only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<i64>,
}

fn validate(input: &WebhookInput, allow_private: bool) -> R<()> {
    let mut problems = Vec::new();
    match reqwest::Url::parse(input.url.trim()) {
        Ok(u) if !allow_private && internal_host(&u).is_some() => problems.push(format!(
            "url: {} is an internal address (loopback, private, link-local or \
             unspecified); webhooks go to public addresses unless the server runs with \
             --webhook-allow-private",
            internal_host(&u).unwrap_or_default()
        )),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => problems.push(format!(
            "url: scheme '{}' is not supported; use http or https",
            u.scheme()
        )),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            problems.push("url: the URL has no host".to_string())
        }
        Ok(_) if input.url.len() > 2000 => {
            problems.push("url: longer than 2000 characters".to_string())
        }
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "url: '{}' is not a valid absolute URL ({e})",
            input.url
        )),
    }
    if let Some(s) = &input.secret {
        if s.len() < 16 || s.len() > 512 || s.chars().any(char::is_control) {
            problems.push(
                "secret: expected 16 to 512 characters without control characters".to_string(),
            );
        }
    }
    if input.event_types.is_empty() {
        problems.push(format!(
            "eventTypes: name at least one of {} or \"*\"",
            EVENT_TYPES.join(", ")
        ));
    }
    for t in &input.event_types {
        if t != "*" && !EVENT_TYPES.contains(&t.as_str()) {
            problems.push(format!(
                "eventTypes: unknown event type '{t}'; known: {}, or \"*\"",
                EVENT_TYPES.join(", ")
            ));
        }
    }
    if let Some(s) = &input.stream {
        if s.trim().is_empty() || s.len() > 249 {
            problems.push("stream: expected a stream name of 1 to 249 characters".to_string());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::InvalidWebhook(format!(
            "Invalid webhook subscription: {}",
            problems.join("; ")
        )))
    }
}

/// Whether `ip` is somewhere a webhook must not reach by default: loopback, private
/// (RFC 1918, unique-local), link-local (cloud metadata at 169.254.169.254), CGNAT,
/// unspecified, multicast or broadcast, also as IPv4-mapped IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b)) // CGNAT
                || a == 0
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::new(
                    (hi >> 8) as u8,
                    hi as u8,
                    (lo >> 8) as u8,
                    lo as u8,
                ))
            };
            // Addresses that carry an IPv4 address reach it: judge that one.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            if seg[..6] == [0; 6] && (seg[6] != 0 || seg[7] > 1) {
                return is_internal(embedded(seg[6], seg[7])); // IPv4-compatible ::a.b.c.d
            }
            if seg[0] == 0x64 && seg[1] == 0xff9b && (seg[2..6] == [0; 4] || seg[2] == 1) {
                return is_internal(embedded(seg[6], seg[7])); // NAT64 64:ff9b::/96, 64:ff9b:1::/48
            }
            if seg[0] == 0x2002 {
                return is_internal(embedded(seg[1], seg[2])); // 6to4
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The URL's host when it names an internal address literally (an IP or `localhost`).
fn internal_host(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let internal = match bare.parse::<IpAddr>() {
        Ok(ip) => is_internal(ip),
        Err(_) => {
            let lower = host.to_ascii_lowercase();
            lower == "localhost" || lower.ends_with(".localhost")
        }
    };
    internal.then(|| host.to_string())
}

/// Resolves webhook hosts to public addresses only, so a public name that resolves to
/// an internal address (or is re-pointed there later) is refused at delivery too.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves only to internal addresses (see --webhook-allow-private)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn random_secret() -> R<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(hex::encode(bytes))
}

fn webhook_from_row(row: &sqlx::any::AnyRow) -> R<Webhook> {
    let types: String = row.try_get("event_types")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        event_types: serde_json::from_str(&types).map_err(ApiError::internal)?,
        stream: row.try_get("stream")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_ms")?,
        created_by: row.try_get("created_by")?,
        owner_team: row.try_get("owner_team")?,
    })
}

fn state(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "eventTypes": w.event_types, "stream": w.stream})
}

/// `POST /v1/webhooks`: one transaction, one audit entry.
pub async fn create(
    store: &Store,
    actor: &Actor,
    input: WebhookInput,
    allow_private: bool,
) -> R<CreatedWebhook> {
    validate(&input, allow_private)?;
    let secret = match input.secret {
        Some(s) => s,
        None => random_secret()?,
    };
    let mut types = input.event_types.clone();
    types.sort();
    types.dedup();
    let webhook = Webhook {
        id: uuid::Uuid::new_v4().to_string(),
        url: input.url.trim().to_string(),
        event_types: types,
        stream: input.stream.clone(),
        active: true,
        created_at: now_ms(),
        created_by: actor.name().to_string(),
        owner_team: match actor {
            Actor::Principal(p) => p.team.clone().filter(|t| !t.is_empty()),
            Actor::Anonymous => None,
        },
    };
    let mut w = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO webhook_subscriptions (id, url, secret, event_types, stream, active, created_ms, created_by, owner_team) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)",
    )
    .bind(&webhook.id)
    .bind(&webhook.url)
    .bind(&secret)
    .bind(serde_json::to_string(&webhook.event_types).map_err(ApiError::internal)?)
    .bind(webhook.stream.as_deref())
    .bind(webhook.created_at)
    .bind(&webhook.created_by)
    .bind(webhook.owner_team.as_deref())
    .execute(&mut *w.tx)
    .await?;
    audit::append(
        &mut w,
        actor.name(),
        "webhook.create",
        &format!("webhook:{}", webhook.id),
        None,
        Some(&state(&webhook)),
    )
    .await?;
    w.commit().await?;
    Ok(CreatedWebhook { webhook, secret })
}

/// `GET /v1/webhooks`: the subscriptions `actor` owns ([`owns`]); an admin (or anyone
/// with auth off) sees every one. Others' subscriptions are left out: their URLs often
/// carry secrets, and even their existence is the owning team's business.
///
/// Oldest first, by (creation time, id): at most `fetch` after the pair `after`, each
/// with its creation time in ms (the next page's cursor); and how many the actor owns.
pub async fn list(
    store: &Store,
    actor: &Actor,
    after: Option<(i64, String)>,
    fetch: i64,
) -> R<(Vec<(i64, Webhook)>, i64)> {
    // The same rule as [`owns`], in SQL, so that a page is read with its limit.
    let (name, team) = match actor {
        Actor::Principal(p) if p.role != Role::Admin => (Some(p.name.clone()), p.team.clone()),
        _ => (None, None),
    };
    // Its placeholders numbered after the first `k`.
    let owner = |k: usize| match name {
        Some(_) => format!(" AND (created_by = ${} OR owner_team = ${})", k + 1, k + 2),
        None => String::new(),
    };
    let (after_ms, after_id) = after.unwrap_or((i64::MIN, String::new()));
    let sql = format!(
        "SELECT id, url, event_types, stream, active, created_ms, created_by, owner_team \
         FROM webhook_subscriptions WHERE (created_ms, id) > ($1, $2){} \
         ORDER BY created_ms, id LIMIT {fetch}",
        owner(2)
    );
    let mut q = sqlx::query(&sql).bind(after_ms).bind(after_id);
    let count_sql = format!(
        "SELECT COUNT(*) AS n FROM webhook_subscriptions WHERE 1 = 1{}",
        owner(0)
    );
    let mut c = sqlx::query(&count_sql);
    if let Some(n) = name {
        q = q.bind(n.clone()).bind(team.clone());
        c = c.bind(n).bind(team);
    }
    let mut out = Vec::new();
    for row in &q.fetch_all(store.reader()).await? {
        let w = webhook_from_row(row)?;
        // The rule again, in Rust: a page never shows what `owns` would refuse.
        if owns(actor, &w) {
            out.push((row.try_get("created_ms")?, w));
        }
    }
    let total: i64 = c.fetch_one(store.reader()).await?.try_get("n")?;
    Ok((out, total))
}

/// The URL as shown to someone who does not own the subscription: scheme, host and port
/// only (`https://hooks.example.com/…`); path, query, fragment and userinfo, where
/// secrets live, are replaced by `…`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/…", u.scheme())
        }
        Err(_) => "…".to_string(),
    }
}

/// A delivery error as shown to the subscription's owners who are not admins: HTTP
/// statuses, timeouts and the refusal of a literal internal address (all of which the
/// URL alone tells) as recorded; any other failure just "connection failed" or "request
/// failed", so that the resolver's answer (a name resolving only to internal addresses,
/// or not at all) is no oracle on the server's network. Admins see the full error.
fn generic_error(e: &str) -> String {
    if e.starts_with("HTTP ")
        || e.starts_with("timed out")
        || e.ends_with("is an internal address (see --webhook-allow-private)")
    {
        e.to_string()
    } else if e.starts_with("connection failed") {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    }
}

/// `delivery` as `actor` (an owner, see [`owns`]) sees it: the last error in full for
/// admins, [`generic_error`] for the others.
fn delivery_for(actor: &Actor, mut delivery: Delivery) -> Delivery {
    if !is_admin(actor) {
        delivery.last_error = delivery.last_error.as_deref().map(generic_error);
    }
    delivery
}

fn is_admin(actor: &Actor) -> bool {
    match actor {
        Actor::Anonymous => true,
        Actor::Principal(p) => p.role == Role::Admin,
    }
}

/// Refuses `op` (`get`, `delete`, `deliveries`, `resend`) on `webhook` to a non-owner:
/// audited as `webhook.{op}.denied` on `target` (alone in its transaction), then 403.
/// The message names neither the URL nor anything else of the subscription but its
/// owners.
async fn refuse(
    store: &Store,
    actor: &Actor,
    op: &str,
    webhook: &Webhook,
    target: &str,
) -> ApiError {
    let audited = async {
        let mut w = store.begin_write().await?;
        audit::append(
            &mut w,
            actor.name(),
            &format!("webhook.{op}.denied"),
            target,
            None,
            None,
        )
        .await?;
        w.commit().await
    };
    if let Err(e) = audited.await {
        return e;
    }
    let what = match op {
        "get" => "see",
        "delete" => "delete",
        "deliveries" => "see the deliveries of",
        _ => "re-send deliveries of",
    };
    ApiError::Forbidden(format!(
        "Principal '{}' may not {what} webhook '{}': only its creator ('{}'){}, and admins may",
        actor.name(),
        webhook.id,
        webhook.created_by,
        webhook
            .owner_team
            .as_ref()
            .map(|t| format!(", members of team '{t}'"))
            .unwrap_or_default()
    ))
}

/// `GET /v1/webhooks/{id}`: owners ([`owns`]) only; others get 403, audited as
/// `webhook.get.denied`.
pub async fn get_one(store: &Store, actor: &Actor, id: &str) -> R<Webhook> {
    let webhook = get(store.reader(), id).await?;
    if !owns(actor, &webhook) {
        return Err(refuse(store, actor, "get", &webhook, &format!("webhook:{id}")).await);
    }
    Ok(webhook)
}

async fn get<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(e: E, id: &str) -> R<Webhook> {
    let row = sqlx::query(
        "SELECT id, url, event_types, stream, active, created_ms, created_by, owner_team \
         FROM webhook_subscriptions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(e)
    .await?
    .ok_or_else(|| ApiError::WebhookNotFound(id.to_string()))?;
    webhook_from_row(&row)
}

/// `DELETE /v1/webhooks/{id}`: the subscription and its deliveries go (pending ones
/// are never sent). Answers the removed subscription. Owners ([`owns`]) only; others get
/// 403, audited as `webhook.delete.denied`.
pub async fn delete(store: &Store, actor: &Actor, id: &str) -> R<Webhook> {
    let webhook = get(store.reader(), id).await?;
    if !owns(actor, &webhook) {
        return Err(refuse(store, actor, "delete", &webhook, &format!("webhook:{id}")).await);
    }
    let mut w = store.begin_write().await?;
    // Read again in the transaction: it may have gone since.
    let webhook = get(&mut *w.tx, id).await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    audit::append(
        &mut w,
        actor.name(),
        "webhook.delete",
        &format!("webhook:{id}"),
        Some(&state(&webhook)),
        None,
    )
    .await?;
    w.commit().await?;
    Ok(webhook)
}

/// The columns [`delivery_from_row`] reads (`d`: deliveries, `o`: outbox).
const DELIVERY_COLS: &str = "o.event_id, o.event_type, d.event_seq, d.status, d.attempts, \
     d.next_attempt_ms, d.last_status_code, d.last_error, d.delivered_ms, d.finished_ms";

fn delivery_from_row(r: &sqlx::any::AnyRow) -> R<Delivery> {
    let status: String = r.try_get("status")?;
    let next: i64 = r.try_get("next_attempt_ms")?;
    let finished: Option<i64> = r.try_get("finished_ms")?;
    Ok(Delivery {
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        event_seq: r.try_get("event_seq")?,
        next_attempt_at: (status == "pending").then_some(next),
        dead_at: finished.filter(|_| status == "dead"),
        status,
        attempts: r.try_get("attempts")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        delivered_at: r.try_get("delivered_ms")?,
    })
}

/// `GET /v1/webhooks/{id}/deliveries`: newest first, at most 1000. Owners ([`owns`])
/// only (others get 403, audited as `webhook.deliveries.denied`); the last error as
/// [`delivery_for`] shows it.
pub async fn deliveries(store: &Store, actor: &Actor, id: &str) -> R<Vec<Delivery>> {
    let webhook = get(store.reader(), id).await?;
    if !owns(actor, &webhook) {
        let target = format!("webhook:{id}");
        return Err(refuse(store, actor, "deliveries", &webhook, &target).await);
    }
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLS} \
         FROM webhook_deliveries d JOIN outbox o ON o.seq = d.event_seq \
         WHERE d.subscription_id = $1 ORDER BY d.event_seq DESC LIMIT 1000"
    ))
    .bind(id)
    .fetch_all(store.reader())
    .await?;
    rows.iter()
        .map(|r| delivery_from_row(r).map(|d| delivery_for(actor, d)))
        .collect()
}

/// Whether `actor` owns `webhook`: its creator, a member of its owner team, an admin, or
/// anyone with auth off (every request is then anonymous and nothing is checked).
fn owns(actor: &Actor, webhook: &Webhook) -> bool {
    match actor {
        Actor::Anonymous => true,
        Actor::Principal(p) => {
            p.role == Role::Admin
                || p.name == webhook.created_by
                || (p.team.is_some() && p.team == webhook.owner_team)
        }
    }
}

/// `POST /v1/webhooks/{id}/deliveries/{seq}/resend`: a `dead` or `delivered` delivery is
/// `pending` again, due now, with a fresh retry window and its attempts counted anew (the
/// last error and status stay until the next attempt replaces them). Only the
/// subscription's owner ([`owns`]) may: others are refused with 403, and the refusal is
/// audited as `webhook.resend.denied`; the re-send as `webhook.resend`. A pending
/// delivery is 409 (it is being retried already), an unknown or pruned one 404.
pub async fn resend(store: &Store, actor: &Actor, id: &str, seq: i64) -> R<Delivery> {
    let mut w = store.begin_write().await?;
    let webhook = get(&mut *w.tx, id).await?;
    let target = format!("webhook:{id}/delivery:{seq}");
    if !owns(actor, &webhook) {
        drop(w);
        return Err(refuse(store, actor, "resend", &webhook, &target).await);
    }
    let select = format!(
        "SELECT {DELIVERY_COLS} \
         FROM webhook_deliveries d JOIN outbox o ON o.seq = d.event_seq \
         WHERE d.subscription_id = $1 AND d.event_seq = $2"
    );
    let before = sqlx::query(&select)
        .bind(id)
        .bind(seq)
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| ApiError::WebhookDeliveryNotFound {
            webhook: id.to_string(),
            seq,
        })
        .and_then(|r| delivery_from_row(&r))?;
    if before.status == "pending" {
        return Err(ApiError::WebhookDeliveryPending {
            webhook: id.to_string(),
            seq,
        });
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $1, \
         window_start_ms = $1, delivered_ms = NULL, finished_ms = NULL \
         WHERE subscription_id = $2 AND event_seq = $3",
    )
    .bind(now)
    .bind(id)
    .bind(seq)
    .execute(&mut *w.tx)
    .await?;
    let after = sqlx::query(&select)
        .bind(id)
        .bind(seq)
        .fetch_one(&mut *w.tx)
        .await?;
    let after = delivery_from_row(&after)?;
    let state =
        |d: &Delivery| json!({"eventId": d.event_id, "status": d.status, "attempts": d.attempts});
    audit::append(
        &mut w,
        actor.name(),
        "webhook.resend",
        &target,
        Some(&state(&before)),
        Some(&state(&after)),
    )
    .await?;
    w.commit().await?;
    Ok(delivery_for(actor, after))
}

// ---- the worker ----

/// The worker's settings (from [`crate::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    /// The wait after the first failed attempt; each next one waits twice as long.
    pub backoff_base: Duration,
    /// How long a failing delivery is retried, from its event (or its last re-send),
    /// before it is `dead`.
    pub retry_window: Duration,
    /// An optional extra bound: a delivery is also `dead` after this many attempts.
    pub max_attempts: Option<u32>,
    /// Finished deliveries (and events no delivery needs) older than this are pruned.
    pub retention: Duration,
    /// How often the worker looks for due deliveries when idle.
    pub poll: Duration,
    /// Deliver to internal addresses too (tests, or a receiver on the same network).
    pub allow_private: bool,
}

/// One claimed delivery, with what the POST needs.
struct Job {
    seq: i64,
    subscription: String,
    attempts: i64,
    /// When the retry window began (ms since the epoch).
    window_start: i64,
    url: String,
    secret: String,
    event_type: String,
    event_id: String,
    body: Vec<u8>,
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    base.saturating_mul(2u32.saturating_pow(exp))
        .min(MAX_BACKOFF)
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// RFC 3339 (UTC, milliseconds) of a Unix time in ms.
pub fn rfc3339(ms: i64) -> String {
    let u = accord_contracts::time::utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.millis
    )
}

/// The pause between two pruning passes that found nothing more to delete: the
/// retention itself (so a finished row lives at most about twice the retention; a
/// shorter pause would mostly find nothing), at least `poll`, at most [`PRUNE_EVERY`].
fn prune_every(cfg: &WorkerConfig) -> Duration {
    cfg.retention.min(PRUNE_EVERY).max(cfg.poll)
}

/// Runs until `stop` turns true: delivers due deliveries and, every [`prune_every`],
/// prunes what the retention lets go.
pub async fn run(store: Store, cfg: WorkerConfig, mut stop: watch::Receiver<bool>) {
    let mut builder = reqwest::Client::builder();
    if !cfg.allow_private {
        // No proxy from the environment either: a proxy would resolve and connect for us,
        // past the resolver's check.
        builder = builder.dns_resolver(Arc::new(PublicOnly)).no_proxy();
    }
    let client = match builder
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("accord-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not delivered");
            return;
        }
    };
    let mut next_prune = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        if tokio::time::Instant::now() >= next_prune {
            // A full batch means there may be more: go again on the next turn (after the
            // deliveries, so other writers get the lock in between).
            let pause = match prune(&store, cfg.retention).await {
                Ok(pruned) if pruned.more => Duration::ZERO,
                Ok(_) => prune_every(&cfg),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune webhook deliveries");
                    prune_every(&cfg)
                }
            };
            next_prune = tokio::time::Instant::now() + pause;
        }
        let jobs = match claim(&store).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim webhook deliveries");
                Vec::new()
            }
        };
        let busy = !jobs.is_empty();
        if busy {
            let work = futures::future::join_all(
                jobs.into_iter()
                    .map(|job| attempt(&store, &client, cfg, job)),
            );
            tokio::select! {
                _ = stop.changed() => return,
                _ = work => {}
            }
        } else {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(cfg.poll) => {}
            }
        }
    }
}

/// Claims up to [`BATCH`] due deliveries: counts the attempt and hides them for
/// [`LEASE`] in one short write transaction, then reads what the POST needs.
async fn claim(store: &Store) -> R<Vec<Job>> {
    let now = now_ms();
    // Cheap check on a reader first, so an idle worker never takes the write lock.
    let due: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_ms <= $1",
    )
    .bind(now)
    .fetch_one(store.reader())
    .await?
    .try_get("n")?;
    if due == 0 {
        return Ok(Vec::new());
    }
    let lock = if store.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let mut w = store.begin_write().await?;
    let rows = sqlx::query(&format!(
        "SELECT event_seq, subscription_id, attempts, window_start_ms FROM webhook_deliveries \
         WHERE status = 'pending' AND next_attempt_ms <= $1 \
         ORDER BY next_attempt_ms, event_seq LIMIT {BATCH}{lock}"
    ))
    .bind(now)
    .fetch_all(&mut *w.tx)
    .await?;
    let mut claimed = Vec::new();
    for row in rows {
        let seq: i64 = row.try_get("event_seq")?;
        let sub: String = row.try_get("subscription_id")?;
        let attempts: i64 = row.try_get::<i64, _>("attempts")? + 1;
        let window_start: i64 = row.try_get("window_start_ms")?;
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $1, next_attempt_ms = $2 \
             WHERE event_seq = $3 AND subscription_id = $4",
        )
        .bind(attempts)
        .bind(now + LEASE.as_millis() as i64)
        .bind(seq)
        .bind(&sub)
        .execute(&mut *w.tx)
        .await?;
        claimed.push((seq, sub, attempts, window_start));
    }
    w.commit().await?;
    let mut jobs = Vec::new();
    for (seq, sub, attempts, window_start) in claimed {
        let row = sqlx::query(
            "SELECT s.url, s.secret, o.event_id, o.event_type, o.stream, o.subject, o.payload, o.created_ms \
             FROM webhook_subscriptions s, outbox o WHERE s.id = $1 AND o.seq = $2",
        )
        .bind(&sub)
        .bind(seq)
        .fetch_optional(store.reader())
        .await?;
        // Gone: the subscription was deleted meanwhile.
        let Some(row) = row else { continue };
        let payload: String = row.try_get("payload")?;
        let data: Value = serde_json::from_str(&payload).map_err(ApiError::internal)?;
        let event_id: String = row.try_get("event_id")?;
        let event_type: String = row.try_get("event_type")?;
        let stream: Option<String> = row.try_get("stream")?;
        let subject: Option<String> = row.try_get("subject")?;
        let created: i64 = row.try_get("created_ms")?;
        let mut event = json!({
            "id": event_id,
            "type": event_type,
            "stream": stream,
        });
        if let Some(s) = subject {
            event["subject"] = json!(s);
        }
        event["occurredAt"] = json!(rfc3339(created));
        event["data"] = data;
        jobs.push(Job {
            seq,
            subscription: sub,
            attempts,
            window_start,
            url: row.try_get("url")?,
            secret: row.try_get("secret")?,
            event_type,
            event_id,
            body: serde_json::to_vec(&event).map_err(ApiError::internal)?,
        });
    }
    Ok(jobs)
}

/// POSTs one delivery (no transaction open) and records the outcome.
async fn attempt(store: &Store, client: &reqwest::Client, cfg: WorkerConfig, job: Job) {
    // A literal IP skips the resolver: check it here (subscriptions made before the
    // server ran without --webhook-allow-private).
    let literal = reqwest::Url::parse(&job.url)
        .ok()
        .and_then(|u| internal_host(&u))
        .filter(|_| !cfg.allow_private);
    let result = match &literal {
        Some(host) => Err(format!(
            "{host} is an internal address (see --webhook-allow-private)"
        )),
        None => client
            .post(&job.url)
            .header("Content-Type", "application/json")
            .header("X-Accord-Event", &job.event_type)
            .header(
                "X-Accord-Delivery",
                format!("{}:{}", job.event_id, job.subscription),
            )
            .header("X-Accord-Signature", signature(&job.secret, &job.body))
            .body(job.body.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("timed out after {}s", TIMEOUT.as_secs())
                } else if e.is_connect() {
                    // The root cause (refused by the resolver, connection refused, no such
                    // host) is at the end of the chain.
                    let mut cause = std::error::Error::source(&e);
                    let mut root = None;
                    while let Some(c) = cause {
                        root = Some(c.to_string());
                        cause = c.source();
                    }
                    match root {
                        Some(r) => format!("connection failed: {r}"),
                        None => "connection failed".to_string(),
                    }
                } else {
                    format!("request failed: {e}")
                }
            }),
    };
    let (code, error) = match result {
        Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
        Ok(resp) => (
            Some(resp.status().as_u16()),
            Some(format!("HTTP {}", resp.status())),
        ),
        Err(e) => (None, Some(e)),
    };
    let now = now_ms();
    let (status, next, delivered) = outcome(&cfg, &job, error.is_none(), now);
    let finished = (status != "pending").then_some(now);
    if let Some(e) = &error {
        tracing::info!(url = %redact_url(&job.url), event = %job.event_id, attempts = job.attempts, error = %e, status, "webhook delivery failed");
    }
    let res = async {
        let mut w = store.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_ms = $2, last_status_code = $3, \
             last_error = $4, delivered_ms = $5, finished_ms = $6 \
             WHERE event_seq = $7 AND subscription_id = $8 AND status = 'pending'",
        )
        .bind(status)
        .bind(next)
        .bind(code.map(i64::from))
        .bind(error.as_deref())
        .bind(delivered)
        .bind(finished)
        .bind(job.seq)
        .bind(&job.subscription)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = res {
        // The lease runs out and the delivery is attempted again: at least once.
        tracing::warn!(error = %e, "cannot record a webhook delivery outcome");
    }
}

/// What an attempt made of `job` at `now`: `(status, next_attempt_ms, delivered_ms)`.
/// Delivered after a 2xx; after a failure, pending again after the backoff (but never
/// past the window's end, so the last attempt is made as the window closes), or `dead`
/// once the window is over (or `max_attempts` reached).
fn outcome(cfg: &WorkerConfig, job: &Job, ok: bool, now: i64) -> (&'static str, i64, Option<i64>) {
    let window_end = job.window_start.saturating_add(millis(cfg.retry_window));
    let exhausted = now >= window_end
        || cfg
            .max_attempts
            .is_some_and(|max| job.attempts >= i64::from(max));
    if ok {
        ("delivered", now, Some(now))
    } else if exhausted {
        ("dead", now, None)
    } else {
        let next = now
            .saturating_add(millis(backoff(cfg.backoff_base, job.attempts)))
            .min(window_end);
        ("pending", next, None)
    }
}

/// A duration in ms as stored (saturating: configured durations may be huge).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
    /// A batch was full: there may be more to prune.
    pub more: bool,
}

/// One pruning pass: deletes up to [`PRUNE_BATCH`] deliveries that finished (`delivered`
/// or `dead`) more than `retention` ago, then up to [`PRUNE_BATCH`] events older than
/// `retention` that no delivery refers to any more (pending deliveries, and finished
/// ones still kept, keep their event: the listing and [`resend`] need it). Each batch is
/// its own short write transaction, taken only when a read found something to delete.
/// The newest event is always kept, so event sequence numbers (`MAX(seq) + 1`) are
/// never reused.
pub async fn prune(store: &Store, retention: Duration) -> R<Pruned> {
    let cutoff = now_ms().saturating_sub(millis(retention));
    let finished = "SELECT event_seq, subscription_id FROM webhook_deliveries \
         WHERE status IN ('delivered', 'dead') AND finished_ms IS NOT NULL AND finished_ms < $1";
    let unneeded = "SELECT o.seq FROM outbox o \
         WHERE o.created_ms < $1 AND o.seq < (SELECT MAX(m.seq) FROM outbox m) \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = o.seq)";
    let mut pruned = Pruned::default();
    let any = sqlx::query(&format!("{finished} LIMIT 1"))
        .bind(cutoff)
        .fetch_optional(store.reader())
        .await?
        .is_some();
    if any {
        let mut w = store.begin_write().await?;
        pruned.deliveries = sqlx::query(&format!(
            "DELETE FROM webhook_deliveries WHERE (event_seq, subscription_id) IN \
             ({finished} ORDER BY finished_ms LIMIT {PRUNE_BATCH})"
        ))
        .bind(cutoff)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
    }
    let any = sqlx::query(&format!("{unneeded} LIMIT 1"))
        .bind(cutoff)
        .fetch_optional(store.reader())
        .await?
        .is_some();
    if any {
        let mut w = store.begin_write().await?;
        pruned.events = sqlx::query(&format!(
            "DELETE FROM outbox WHERE seq IN ({unneeded} ORDER BY o.seq LIMIT {PRUNE_BATCH})"
        ))
        .bind(cutoff)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
    }
    let batch = PRUNE_BATCH as u64;
    pruned.more = pruned.deliveries >= batch || pruned.events >= batch;
    if pruned.deliveries > 0 || pruned.events > 0 {
        tracing::debug!(
            deliveries = pruned.deliveries,
            events = pruned.events,
            "pruned webhook deliveries and events"
        );
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 1), Duration::from_secs(1));
        assert_eq!(backoff(b, 2), Duration::from_secs(2));
        assert_eq!(backoff(b, 4), Duration::from_secs(8));
        assert_eq!(backoff(b, 12), Duration::from_secs(2048));
        assert_eq!(backoff(b, 13), MAX_BACKOFF);
        assert_eq!(backoff(b, 40), MAX_BACKOFF);
    }

    fn job(attempts: i64, window_start: i64) -> Job {
        Job {
            seq: 1,
            subscription: "s".to_string(),
            attempts,
            window_start,
            url: "http://example.com/".to_string(),
            secret: "k".to_string(),
            event_type: "schema.registered".to_string(),
            event_id: "e".to_string(),
            body: Vec::new(),
        }
    }

    fn cfg(max_attempts: Option<u32>) -> WorkerConfig {
        WorkerConfig {
            backoff_base: Duration::from_secs(1),
            retry_window: Duration::from_secs(100),
            max_attempts,
            retention: Duration::from_secs(1),
            poll: Duration::from_millis(10),
            allow_private: false,
        }
    }

    #[test]
    fn failures_back_off_within_the_window_then_die() {
        let c = cfg(None);
        // Delivered whenever the receiver answers 2xx, even after the window.
        assert_eq!(
            outcome(&c, &job(3, 0), true, 200_000),
            ("delivered", 200_000, Some(200_000))
        );
        // Backoff doubles from the base.
        assert_eq!(
            outcome(&c, &job(1, 0), false, 1_000),
            ("pending", 2_000, None)
        );
        assert_eq!(
            outcome(&c, &job(4, 0), false, 10_000),
            ("pending", 18_000, None)
        );
        // Never past the window's end: the last attempt is made as it closes.
        assert_eq!(
            outcome(&c, &job(7, 0), false, 90_000),
            ("pending", 100_000, None)
        );
        // At or after the end: dead.
        assert_eq!(
            outcome(&c, &job(8, 0), false, 100_000),
            ("dead", 100_000, None)
        );
        // The window counts from the event or the last re-send.
        assert_eq!(outcome(&c, &job(8, 50_000), false, 100_000).0, "pending");
        // The optional attempt bound ends it earlier.
        assert_eq!(outcome(&cfg(Some(3)), &job(3, 0), false, 5_000).0, "dead");
        assert_eq!(
            outcome(&cfg(Some(3)), &job(2, 0), false, 5_000).0,
            "pending"
        );
        // Huge settings saturate instead of overflowing.
        let huge = WorkerConfig {
            retry_window: Duration::MAX,
            backoff_base: Duration::MAX,
            ..c
        };
        assert_eq!(outcome(&huge, &job(1, 5), false, 10).0, "pending");
    }

    #[test]
    fn pruning_waits_for_the_retention_within_bounds() {
        let c = cfg(None);
        assert_eq!(prune_every(&c), Duration::from_secs(1));
        let long = WorkerConfig {
            retention: Duration::from_secs(7 * 86_400),
            ..c
        };
        assert_eq!(prune_every(&long), PRUNE_EVERY);
        let zero = WorkerConfig {
            retention: Duration::ZERO,
            ..c
        };
        assert_eq!(prune_every(&zero), c.poll);
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let sig = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::7f00:1",
            "2002:a9fe:a9fe::1",
            "::127.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(addrs) => panic!("resolved: {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("internal addresses"), "{err}");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
