//! The two lookups clients make most, answered from the caches ahead of the router:
//! `GET /schemas/ids/{id}` (a deserializer meeting an id) and
//! `GET /subjects/{subject}/versions/latest` (a serializer using the latest schema), as
//! Confluent's clients send them (no query). Issue 16: the routing, the extractors and
//! their allocations cost these lookups a fifth of their time.
//!
//! Each answer is the handler's own ([`super::schemas::by_id`],
//! [`super::subjects::get_version`]): the same cached bytes, the same read rule, counted
//! in usage alike, and timed under the handler's route template ([`super::Route`]).
//! Authentication, media type negotiation and the response headers happen around this
//! as around the router. [`answer`] gives up (`None`, the router serves the request)
//! whenever the handler would do more than read a cache: a body or version not cached,
//! a path that needs decoding, a caller whose read rule needs the database.

use super::AppState;
use crate::auth::Actor;
use crate::governance::reads_everything;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;

/// The cached answer to `req`, if it is one of the two lookups and everything it needs
/// is cached.
pub(super) fn answer(state: &AppState, req: &Request) -> Option<Response> {
    if req.method() != Method::GET || req.uri().query().is_some() {
        return None;
    }
    let actor = req.extensions().get::<Actor>()?;
    let path = req.uri().path();
    let (route, body) = if let Some(raw) = path.strip_prefix("/schemas/ids/") {
        (super::schemas::BY_ID, by_id(state, actor, raw)?)
    } else {
        let subject = path
            .strip_prefix("/subjects/")?
            .strip_suffix("/versions/latest")?;
        (super::subjects::VERSION, latest(state, actor, subject)?)
    };
    let mut response = super::json_bytes(body);
    response.extensions_mut().insert(super::Route(route));
    Some(response)
}

/// [`super::schemas::by_id`] for an id in the body cache. A malformed id is left to the
/// handler, which words the error.
fn by_id(state: &AppState, actor: &Actor, raw: &str) -> Option<bytes::Bytes> {
    if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = match raw.parse::<i32>() {
        Ok(id) if id > 0 => i64::from(id),
        _ => return None,
    };
    if !reads_everything(actor) {
        // `check_holders_read` on the cached holders: readable when no holder restricts
        // reads or one holder does not; anything else needs the database.
        let holders = state.registry.cache.holders(id)?;
        if !crate::governance::holders_open(&holders) {
            return None;
        }
    }
    let body = state.registry.cache.body(id, 0)?;
    state.usage.read_id(actor, id);
    Some(body)
}

/// [`super::subjects::get_version`] of `latest` for a subject whose latest version and
/// its body are cached, read by a caller who reads every subject (anyone else's read
/// rule looks up the subject's stream).
fn latest(state: &AppState, actor: &Actor, raw: &str) -> Option<bytes::Bytes> {
    // A percent-encoded or multi-segment name is decoded (or refused) by the router.
    if raw.is_empty() || raw.contains(['/', '%']) || !reads_everything(actor) {
        return None;
    }
    let subject = crate::registry::unqualify(raw);
    // `None` inside: the subject has no live version; the handler says which error.
    let v = state.registry.latest_cached(subject)??;
    let body = state.registry.cache.version_body(&v, 0)?;
    state
        .usage
        .read_version(actor, &v.subject, v.version, v.schema_id);
    Some(body)
}
