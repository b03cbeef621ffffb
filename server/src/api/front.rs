//! The one service every request crosses on its way to the router: the request's edges
//! ([`crate::http_server::edge`]: body timeout, deadline, `nosniff`), its way out
//! ([`super::outer`]: catalog error pages, media type, metrics) and authentication
//! ([`super::auth_layer::middleware`]), in that order, as one future. Inside them the
//! lookups clients make most are answered from the caches ahead of the router when
//! they can be ([`super::hot`]).
//!
//! Why not `Router::layer`: axum applies a router's layers to every route separately, so
//! each layer costs each request a clone of a boxed service and a boxed future, and a
//! `from_fn` layer another boxed future and a service clone. With five such layers the
//! id lookup spent more in them than in its handler. Here the router is wrapped once:
//! one boxed future per request, and the router's clone is a reference count.
//!
//! The route template the metrics are counted under ([`MatchedPath`]) exists only
//! inside the router, so a route layer that boxes nothing ([`StampRoute`]) copies it onto
//! the response, where [`super::outer`] reads it.

use super::AppState;
use crate::http_server::Edge;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

/// The router (or any service in front of it) with the request's edges, its way out and
/// authentication around it.
#[derive(Clone)]
pub struct Front<S> {
    inner: S,
    state: Arc<AppState>,
    edge: Edge,
}

impl<S> Front<S> {
    pub fn new(inner: S, state: Arc<AppState>, edge: Edge) -> Front<S> {
        Front { inner, state, edge }
    }
}

impl<S, B> Service<axum::http::Request<B>> for Front<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is asked of the router's clone when the request gets there.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let state = self.state.clone();
        let edge = self.edge;
        Box::pin(async move {
            let req = req.map(Body::new);
            let state = &state;
            let response = crate::http_server::edge(edge, req, |req| {
                super::outer(state, req, |req| {
                    super::auth_layer::middleware(state, req, |req| async move {
                        if let Some(response) = super::hot::answer(state, &req) {
                            return response;
                        }
                        match inner.oneshot(req).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    })
                })
            })
            .await;
            Ok(response)
        })
    }
}

/// The route layer that copies the request's [`MatchedPath`] onto its response.
#[derive(Clone, Copy, Debug, Default)]
pub struct StampRouteLayer;

impl<S> Layer<S> for StampRouteLayer {
    type Service = StampRoute<S>;

    fn layer(&self, inner: S) -> StampRoute<S> {
        StampRoute { inner }
    }
}

/// See [`StampRouteLayer`].
#[derive(Clone, Debug)]
pub struct StampRoute<S> {
    inner: S,
}

impl<S> Service<Request> for StampRoute<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Stamped<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = req.extensions().get::<MatchedPath>().cloned();
        Stamped {
            inner: self.inner.call(req),
            route,
        }
    }
}

/// [`StampRoute`]'s future.
pub struct Stamped<F> {
    inner: F,
    route: Option<MatchedPath>,
}

impl<F, E> Future for Stamped<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(Ok(mut response)) => {
                if let Some(route) = this.route.take() {
                    response.extensions_mut().insert(route);
                }
                Poll::Ready(Ok(response))
            }
            other => other,
        }
    }
}
