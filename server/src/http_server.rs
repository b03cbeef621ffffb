//! The HTTP/1.1 accept loop: every wait on a client is bounded, the number of open
//! connections is capped, and shutdown drains for a bounded time.
//!
//! It exists because `axum::serve` offers none of that: a client that sent half a
//! request head or body was never timed out, such a connection kept a graceful shutdown
//! waiting forever, and about a thousand of them exhausted the file descriptors. Here:
//!
//! - **Header timeout**: from a connection's start (or, on a keep-alive connection, from
//!   the next request's first byte) the whole request head must arrive within
//!   `header_timeout`, else the connection is closed.
//! - **Idle timeout**: a keep-alive connection waits at most `idle_timeout` for the first
//!   byte of its next request.
//! - **Body timeout**: a request body that sends nothing for `body_timeout` ends the
//!   request with Confluent's `{"error_code":408,...}` (and `Connection: close`); a
//!   response write that stalls that long (the client does not read) closes the
//!   connection.
//! - **Connection cap**: at most `max_connections` (lowered to fit the open-files
//!   limit) are served at once. Beyond it the loop stops accepting: new clients wait in
//!   the kernel's listen backlog and are served as soon as a slot frees, which the
//!   timeouts above guarantee within `header_timeout` for stalled connections. Accepting
//!   and closing at once would instead fail every normal client while the cap is
//!   reached, and would still spend a descriptor per attempt.
//! - **Drain**: on shutdown the listener closes, idle connections close at once,
//!   in-flight requests may finish for `shutdown_drain`, then whatever is left is
//!   dropped (a request cut short rolls its transaction back).
//!
//! Why not hyper's own `http1::Builder::header_read_timeout`: in hyper 1.x (read in
//! hyper-1.12.0 `src/proto/h1/conn.rs`, `poll_read_head` and `State::idle`), its timer
//! is armed whenever the connection starts waiting for a request head — at the start
//! and, because `State::idle` sets `notify_read` when the timeout is configured, again
//! as soon as a response is finished — and cleared only once a complete head is
//! parsed. So it bounds the idle keep-alive wait as well, by the same duration: with it,
//! an idle timeout longer than the header timeout is impossible, and a keep-alive
//! connection idle for 10 s would be dropped. It also does not cover bodies nor stalled
//! response writes. (With a timer set and nothing configured, hyper applies a 30 s
//! default; here no timer is set and the option is explicitly off.) The per-connection
//! watchdog below implements the three phases, as Go's `ReadHeaderTimeout` /
//! `IdleTimeout` do.

use crate::config::ServerConfig;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::{Service, ServiceExt};

/// Descriptors kept free for everything but client connections (database pools,
/// SQLite files, webhook and KMS calls, logs) when the connection cap is derived from
/// the open-files limit.
const FD_RESERVE: u64 = 256;

/// The HTTP limits in force, from [`ServerConfig`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// The configured cap, lowered to what the open-files limit allows.
    pub max_connections: usize,
    pub shutdown_drain: Duration,
}

impl Limits {
    /// Validates the configuration and derives the connection cap.
    pub fn from_config(config: &ServerConfig) -> anyhow::Result<Limits> {
        for (name, d) in [
            ("header timeout", config.header_timeout),
            ("body timeout", config.body_timeout),
            ("idle timeout", config.idle_timeout),
        ] {
            if d.is_zero() {
                anyhow::bail!("the HTTP {name} must be above zero");
            }
        }
        if config.max_connections == 0 {
            anyhow::bail!("the maximum number of connections must be above zero");
        }
        let max_connections = match open_files_limit() {
            Some(limit) => {
                let fit = fd_fit(config.max_connections, limit);
                if fit < config.max_connections {
                    tracing::warn!(
                        configured = config.max_connections,
                        open_files_limit = limit,
                        max_connections = fit,
                        "the connection cap is lowered to fit the open-files limit \
                         (raise `ulimit -n` to allow more)"
                    );
                }
                fit
            }
            None => config.max_connections,
        };
        Ok(Limits {
            header_timeout: config.header_timeout,
            body_timeout: config.body_timeout,
            idle_timeout: config.idle_timeout,
            max_connections,
            shutdown_drain: config.shutdown_drain,
        })
    }
}

/// The connection cap that fits `limit` open files: `limit - FD_RESERVE`, but at least
/// half the limit when the limit is small, and at least one.
fn fd_fit(configured: usize, limit: u64) -> usize {
    let fit = limit.saturating_sub(FD_RESERVE).max(limit / 2).max(1);
    usize::try_from(fit).map_or(configured, |fit| configured.min(fit))
}

/// The soft open-files limit (`RLIMIT_NOFILE`) from `/proc/self/limits`; `None` where
/// that file does not exist or says "unlimited".
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&text)
}

fn parse_open_files_limit(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Serves `app` on `listener` until `stop` turns true (or its sender is dropped), then
/// drains for at most `limits.shutdown_drain` and returns.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut permit: Option<OwnedSemaphorePermit> = None;
    // At most one warning per 10 s while the cap is reached (slots free and fill again
    // many times a second then).
    let mut warned: Option<Instant> = None;
    loop {
        if permit.is_none()
            && permits.available_permits() == 0
            && warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection limit reached: new connections wait in the listen backlog"
            );
            warned = Some(Instant::now());
        }
        let mut back_off = false;
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
            }
            acquired = permits.clone().acquire_owned(), if permit.is_none() => {
                // Err only if the semaphore were closed, which it never is.
                permit = acquired.ok();
            }
            accepted = listener.accept(), if permit.is_some() => match accepted {
                Ok((stream, _peer)) => {
                    if let Some(p) = permit.take() {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(connection(
                            stream,
                            app.clone(),
                            limits,
                            drain_rx.clone(),
                            p,
                        ));
                    }
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of descriptors or the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    back_off = true;
                }
            },
        }
        if back_off {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(listener);
    let _ = drain_tx.send(true);
    if !connections.is_empty() {
        tracing::info!(
            open = connections.len(),
            drain = ?limits.shutdown_drain,
            "stopped accepting; letting in-flight requests finish"
        );
    }
    let drained = tokio::time::timeout(limits.shutdown_drain, async {
        while let Some(joined) = connections.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown drain time is over: closing the remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!(error = %e, "a connection task panicked");
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection: hyper's HTTP/1.1 state machine plus the watchdog that closes
/// it when its current phase outlives its timeout. The permit is held until it closes.
async fn connection<S>(
    stream: TcpStream,
    app: S,
    limits: Limits,
    mut drain: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let guard = InService::begin(in_service.clone());
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await?;
            Ok::<_, Infallible>(response.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Off: see the module doc (it would also cut idle keep-alive waits short); no timer
    // is set, so hyper's 30 s default does not apply either.
    builder.keep_alive(true).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    // The watchdog looks at the connection's phase on a steady tick instead of being
    // woken by every change of phase: a request then costs two uncontended lock
    // updates and no timer re-arming or task wake-up, and a timeout acts at most one
    // tick late (a quarter of the shortest timeout, at most a second).
    let mut tick = tokio::time::interval_at(Instant::now() + limits.tick(), limits.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = tick.tick() => {
                if let Some((at, why)) = activity.deadline(&limits) {
                    if Instant::now() >= at {
                        tracing::debug!(reason = why, "closing a connection");
                        return;
                    }
                }
            }
            _ = drain.wait_for(|d| *d), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
                if activity.waiting() {
                    // Nothing of a request has arrived: nothing to finish.
                    return;
                }
            }
        }
    }
}

impl Limits {
    /// How often a connection's watchdog looks at it (see [`connection`]).
    fn tick(&self) -> Duration {
        let shortest = self
            .header_timeout
            .min(self.idle_timeout)
            .min(self.body_timeout);
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// Where a connection is in its request cycle, and since when.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No byte of the next request yet; `first` for a new connection (header timeout),
    /// else a keep-alive wait (idle timeout).
    Waiting { since: Instant, first: bool },
    /// Part of a request head has arrived; the whole head is due `header_timeout`
    /// after `since`.
    Head { since: Instant },
    /// Requests handed to the router whose responses are not finished yet (their
    /// bodies are bounded by the body timeout middleware).
    Busy { in_service: usize },
}

#[derive(Debug)]
struct ActivityState {
    phase: Phase,
    /// Since when a response write has been waiting on the client.
    write_stalled_since: Option<Instant>,
}

/// A connection's phase, shared by its socket wrapper, its service and its watchdog.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                phase: Phase::Waiting {
                    since: Instant::now(),
                    first: true,
                },
                write_stalled_since: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // The critical sections cannot panic; a poisoned lock still holds valid state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the connection is due to be closed, and why; `None` while it is busy.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        let state = self.lock();
        let phase = match state.phase {
            Phase::Waiting { since, first: true } => {
                Some((since + limits.header_timeout, "no request head in time"))
            }
            Phase::Waiting {
                since,
                first: false,
            } => Some((since + limits.idle_timeout, "idle keep-alive timeout")),
            Phase::Head { since } => Some((since + limits.header_timeout, "request head timeout")),
            Phase::Busy { .. } => None,
        };
        let write = state.write_stalled_since.map(|since| {
            (
                since + limits.body_timeout,
                "client does not read the response",
            )
        });
        match (phase, write) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    fn waiting(&self) -> bool {
        matches!(self.lock().phase, Phase::Waiting { .. })
    }

    /// Bytes arrived. While waiting, that starts a request head. (Leftovers of a body
    /// the handler did not read, drained by hyper after the response, count the same:
    /// the connection then gets the header timeout rather than the idle one.)
    fn on_read(&self) {
        let mut state = self.lock();
        if let Phase::Waiting { since, first } = state.phase {
            // A new connection's head is due from its start; a keep-alive request's
            // from its first byte.
            let since = if first { since } else { Instant::now() };
            state.phase = Phase::Head { since };
        }
    }

    fn on_write(&self, stalled: bool) {
        let mut state = self.lock();
        match (stalled, state.write_stalled_since) {
            (true, None) => state.write_stalled_since = Some(Instant::now()),
            (false, Some(_)) => state.write_stalled_since = None,
            _ => {}
        }
    }
}

/// Marks a request as in service from the router's call until its response body is
/// dropped (sent, or the connection gone).
struct InService(Arc<Activity>);

impl InService {
    fn begin(activity: Arc<Activity>) -> InService {
        {
            let mut state = activity.lock();
            state.phase = match state.phase {
                Phase::Busy { in_service } => Phase::Busy {
                    in_service: in_service + 1,
                },
                _ => Phase::Busy { in_service: 1 },
            };
        }
        InService(activity)
    }
}

impl Drop for InService {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.phase = match state.phase {
            Phase::Busy { in_service } if in_service > 1 => Phase::Busy {
                in_service: in_service - 1,
            },
            _ => Phase::Waiting {
                since: Instant::now(),
                first: false,
            },
        };
    }
}

/// A response body that keeps its request [`InService`] until it is dropped.
struct GuardedBody {
    inner: Body,
    _guard: InService,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client socket, reporting reads (a request has begun) and stalled writes (the
/// client does not read) to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.on_read();
        }
        polled
    }
}

impl Watched {
    fn watch_write(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &polled {
            Poll::Pending => self.activity.on_write(true),
            Poll::Ready(Ok(n)) if *n > 0 => self.activity.on_write(false),
            Poll::Ready(_) => {}
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch_write(polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The limits [`edge`] applies to each request.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// Longest silence within the request body (408 after it).
    pub body_timeout: Duration,
    /// Longest the whole request may run (503, `error_code` 50002, after it): a bound
    /// on work stuck behind a database that stopped answering (a partition that
    /// neither side's pool notices). Dropping the handler's future rolls its
    /// transaction back (see `crate::storage::WriteTx`).
    pub request_timeout: Duration,
}

/// Whether a request carries a body (a non-zero `Content-Length` or any
/// `Transfer-Encoding`): the body-less DELETEs and POSTs of Confluent clients send no
/// Content-Type, and need none. Also how the edge middleware ([`edge`]) decides whether a request needs its body timer.
pub fn has_body(headers: &axum::http::HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers.get(header::CONTENT_LENGTH).is_some_and(|v| {
        v.to_str()
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_none_or(|n| n > 0)
    })
}

/// The request's edges, the first thing [`crate::api::front::Front`] runs: every chunk of
/// the request body must arrive within
/// `body_timeout` (else 408 with Confluent's error shape and `Connection: close`), the
/// request must finish within `request_timeout` (else 503/50002), and every response,
/// these two included, says `X-Content-Type-Options: nosniff` (a browser must not read
/// a JSON answer, which may echo user content such as a schema's doc, as HTML or
/// script).
pub async fn edge<F, Fut>(edge: Edge, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    // Only a request that announces a body gets the timed wrapper (a GET has none: it
    // saves the wrapper's allocations on the hot path).
    let timed_out = has_body(request.headers()).then(|| Arc::new(AtomicBool::new(false)));
    let request = match &timed_out {
        Some(flag) => {
            let (parts, body) = request.into_parts();
            let body = Body::new(TimedBody {
                inner: body,
                timeout: edge.body_timeout,
                sleep: None,
                armed: false,
                timed_out: flag.clone(),
            });
            Request::from_parts(parts, body)
        }
        None => request,
    };
    let body_timed_out = || {
        timed_out
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    };
    let mut response = match tokio::time::timeout(edge.request_timeout, next(request)).await {
        Ok(response) if !body_timed_out() => response,
        Ok(_) => {
            tracing::debug!(timeout = ?edge.body_timeout, "request body timed out");
            let mut response = crate::error::json_response(
                StatusCode::REQUEST_TIMEOUT,
                &crate::error::ErrorBody {
                    error_code: 408,
                    message: format!(
                        "The request body was not received in time: nothing arrived for {} ms",
                        edge.body_timeout.as_millis()
                    ),
                },
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Err(_) => {
            let limit = edge.request_timeout;
            tracing::warn!(
                limit_ms = limit.as_millis(),
                "request exceeded its deadline"
            );
            crate::error::ApiError::OperationTimeout(limit.as_millis()).into_response()
        }
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A request body whose every chunk must arrive within `timeout` of asking for it (as
/// nginx's `client_body_timeout`: between two reads, not for the whole body, so a slow
/// but moving upload of a large body is not cut off).
struct TimedBody {
    inner: Body,
    timeout: Duration,
    /// Allocated at the first wait, then re-armed.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("request body timed out")]
struct BodyTimedOut;

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame);
        }
        let deadline = Instant::now() + this.timeout;
        let sleep = match &mut this.sleep {
            Some(sleep) => {
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                }
                sleep
            }
            None => this
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        this.armed = true;
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_presence() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!has_body(&h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert!(!has_body(&h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert!(has_body(&h));
        h.remove(header::CONTENT_LENGTH);
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        assert!(has_body(&h));
    }

    #[test]
    fn reads_the_soft_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63704                63704                processes \n\
                    Max open files            20000                524288               files     \n";
        assert_eq!(parse_open_files_limit(text), Some(20000));
        assert_eq!(
            parse_open_files_limit("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(parse_open_files_limit(""), None);
    }

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        assert_eq!(fd_fit(10_000, 20_000), 10_000);
        assert_eq!(fd_fit(10_000, 1024), 768);
        assert_eq!(fd_fit(10_000, 300), 150);
        assert_eq!(fd_fit(10_000, 1), 1);
        assert_eq!(fd_fit(50, 1024), 50);
    }
}
