//! The authentication middleware: the HTTP edge of [`crate::auth`]. It resolves the
//! caller from the `Authorization` header, applies the one policy function
//! ([`crate::auth::authorize`]), audits refusals and hands the [`Actor`] to the
//! handlers. It lives here, not in `auth`, because it needs the HTTP layer's
//! [`AppState`]; `auth` itself knows nothing of `api/`.

use super::AppState;
use crate::audit;
use crate::auth::{
    audit_refusal, authorize, is_open, is_write, record_refusal, refused_target, resolve,
    touch_last_used, under, Actor, CallingKey, REQUEST_DENIED, ROTATE_PATH,
};
use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

/// The middleware: resolves the caller, applies [`authorize`], and hands the [`Actor`]
/// to the handlers. A 401 carries `WWW-Authenticate: Basic`.
pub async fn middleware<F, Fut>(state: &AppState, mut req: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    // Cross-site state changes are refused before anything else, auth on or off.
    if let Some(refusal) = super::write_refusal(&req) {
        return refusal;
    }
    if !state.auth || is_open(req.uri().path()) {
        req.extensions_mut().insert(Actor::Anonymous);
        return next(req).await;
    }
    let store = &state.registry.store;
    let resolved = match resolve(
        store,
        &state.verified,
        req.headers().get(header::AUTHORIZATION),
    )
    .await
    {
        Ok(r) => match authorize(&r.principal, req.method(), req.uri().path()) {
            Ok(()) => {
                if r.touch {
                    touch_last_used(store, &r.key_id);
                }
                Ok(r)
            }
            Err(refusal) => {
                Err(
                    audit_refusal(store, &r.principal, req.method(), req.uri().path(), refusal)
                        .await,
                )
            }
        },
        Err(e) => {
            // No principal acted: not audited (anyone could fill the log), only traced,
            // without the credentials.
            tracing::info!(method = %req.method(), path = %req.uri().path(), reason = %e, "request refused: not authenticated");
            Err(e)
        }
    };
    match resolved {
        Ok(r) => {
            // A write refused by its handler (403) is audited here unless the handler
            // audited it itself (see `audit::tracking_refusals`).
            let refused = is_write(req.method(), req.uri().path()).then(|| {
                (
                    r.principal.name.clone(),
                    refused_target(req.method(), req.uri().path()),
                )
            });
            req.extensions_mut().insert(CallingKey(r.key_id));
            req.extensions_mut().insert(Actor::Principal(r.principal));
            // A change to principals or keys made here ends every verified key's grace
            // at once (other nodes: within VERIFIED_TTL).
            let identity_write = *req.method() != Method::GET
                && (under(req.uri().path(), "/v1/principals") || req.uri().path() == ROTATE_PATH);
            let Some((name, target)) = refused else {
                let resp = next(req).await;
                if identity_write && resp.status().is_success() {
                    state.verified.clear();
                }
                return resp;
            };
            let (resp, audited) = audit::tracking_refusals(next(req)).await;
            if identity_write && resp.status().is_success() {
                state.verified.clear();
            }
            if resp.status() == axum::http::StatusCode::FORBIDDEN && !audited {
                if let Err(e) = record_refusal(store, &name, REQUEST_DENIED, &target).await {
                    tracing::warn!(error = %e, "could not audit a refused write");
                }
            }
            resp
        }
        Err(e) => {
            let challenge = matches!(e, ApiError::Unauthorized(_));
            let mut resp = e.into_response();
            if challenge {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"accord\""),
                );
            }
            resp
        }
    }
}
