//! Context-scoped URLs, as Confluent serves them: `/contexts/{ctx}/subjects/s/...` is
//! `/subjects/:.ctx:s/...`, `/contexts/{ctx}/config` is `/config/:.ctx:`, and the id
//! and listing routes under a context get the context as their `subject` or
//! `subjectPrefix` parameter. The rewrite happens before routing, so access checks,
//! audit and handlers see one form of every request. A context name with a colon is
//! 400, as Confluent answers.

use crate::context;
use crate::error::ApiError;
use axum::http::Request;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use tower::Service;

/// Wraps the router: rewrites `/contexts/{ctx}/...` requests before routing.
#[derive(Clone)]
pub struct ContextPaths<S> {
    inner: S,
}

impl<S> ContextPaths<S> {
    pub fn new(inner: S) -> Self {
        ContextPaths { inner }
    }
}

impl<S, B> Service<Request<B>> for ContextPaths<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    // No box: this wraps every request.
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Empty path segments are dropped before routing, as Confluent's alias filter
        // rebuilds every path from its non-empty segments (`//subjects` is `/subjects`).
        if req.uri().path().contains("//") {
            if let Some(uri) = collapse_slashes(req.uri()) {
                *req.uri_mut() = uri;
            }
        }
        if req.uri().path().starts_with("/contexts/") {
            match rewrite(req.uri()) {
                Ok(Some(uri)) => *req.uri_mut() = uri,
                Ok(None) => {}
                Err(e) => return Either::Left(ready(Ok(e.into_response()))),
            }
        }
        Either::Right(self.inner.call(req))
    }
}

/// `uri` with its empty path segments removed.
fn collapse_slashes(uri: &Uri) -> Option<Uri> {
    let path: String =
        uri.path()
            .split('/')
            .filter(|s| !s.is_empty())
            .fold(String::new(), |mut acc, s| {
                acc.push('/');
                acc.push_str(s);
                acc
            });
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Whether a (raw) path segment or parameter is already context-qualified.
fn qualified(raw: &str) -> bool {
    let decoded = crate::auth::percent_decode(raw);
    decoded.starts_with(":.") || decoded.starts_with(context::WILDCARD)
}

/// A context prefix for use inside a path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The rewritten URI of a `/contexts/{ctx}/...` request, `None` for `/contexts/{ctx}`
/// itself (the context resource).
pub fn rewrite(uri: &Uri) -> Result<Option<Uri>, ApiError> {
    let path = uri.path();
    let mut segments = path.trim_start_matches('/').split('/');
    segments.next(); // "contexts"
    let Some(raw_ctx) = segments.next() else {
        return Ok(None);
    };
    let rest: Vec<&str> = segments.collect();
    if rest.is_empty() {
        return Ok(None);
    }
    let ctx = context::normalize(&crate::auth::percent_decode(raw_ctx))?;
    let prefix = context::prefix(&ctx);
    let encoded_prefix = encode_segment(&prefix);
    let mut out: Vec<String> = Vec::with_capacity(rest.len() + 1);
    let mut subject_next = false;
    let mut first = true;
    let mut config_or_mode = false;
    for seg in rest {
        let mut seg = seg.to_string();
        if subject_next {
            if !qualified(&seg) {
                seg = format!("{encoded_prefix}{seg}");
            }
            subject_next = false;
        } else {
            let root = first && (seg == "config" || seg == "mode");
            if seg == "subjects" || seg == "deks" || root {
                subject_next = true;
                config_or_mode |= root;
            }
        }
        if first && !seg.is_empty() {
            first = false;
        }
        out.push(seg);
    }
    if config_or_mode && subject_next && !prefix.is_empty() {
        out.push(encoded_prefix);
    }
    let new_path = format!("/{}", out.join("/"));
    let target = new_path.trim_start_matches('/');

    // Query parameters: the id routes get the context as `subject`, the listings as
    // `subjectPrefix` (each prefix not already qualified is qualified).
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let qualify = |v: &str| {
        if v.starts_with(":.") || v.starts_with(context::WILDCARD) {
            v.to_string()
        } else {
            format!("{prefix}{v}")
        }
    };
    if target.starts_with("schemas/ids") {
        match params.iter_mut().find(|(k, _)| k == "subject") {
            Some((_, v)) => *v = qualify(v),
            None => params.push(("subject".into(), prefix.clone())),
        }
    } else if target == "schemas" || target == "subjects" || target.starts_with("keks") {
        let mut any = false;
        for (k, v) in params.iter_mut() {
            if k == "subjectPrefix" {
                *v = qualify(v);
                any = true;
            }
        }
        if !any {
            params.push(("subjectPrefix".into(), prefix.clone()));
        }
    }
    let mut pq = new_path;
    if !params.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        pq.push('?');
        pq.push_str(&query);
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        pq.parse()
            .map_err(|_| ApiError::MalformedBody(format!("Invalid context path '{path}'")))?,
    );
    Uri::from_parts(parts)
        .map(Some)
        .map_err(|_| ApiError::MalformedBody(format!("Invalid context path '{path}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(s: &str) -> String {
        match rewrite(&s.parse().unwrap()).unwrap() {
            Some(u) => u.to_string(),
            None => s.to_string(),
        }
    }

    #[test]
    fn rewrites_like_confluent() {
        assert_eq!(
            rw("/contexts/.eu/subjects/a/versions"),
            "/subjects/:.eu:a/versions"
        );
        assert_eq!(
            rw("/contexts/eu/subjects/a/versions/1"),
            "/subjects/:.eu:a/versions/1"
        );
        assert_eq!(
            rw("/contexts/.eu/subjects/:.us:a/versions"),
            "/subjects/:.us:a/versions"
        );
        assert_eq!(rw("/contexts/.eu/config"), "/config/:.eu:");
        assert_eq!(rw("/contexts/.eu/config/a"), "/config/:.eu:a");
        assert_eq!(rw("/contexts/.eu/mode"), "/mode/:.eu:");
        assert_eq!(rw("/contexts/./config"), "/config");
        assert_eq!(
            rw("/contexts/.eu/subjects"),
            "/subjects?subjectPrefix=%3A.eu%3A"
        );
        assert_eq!(
            rw("/contexts/.eu/subjects?subjectPrefix=ab"),
            "/subjects?subjectPrefix=%3A.eu%3Aab"
        );
        assert_eq!(
            rw("/contexts/.eu/schemas/ids/3"),
            "/schemas/ids/3?subject=%3A.eu%3A"
        );
        assert_eq!(
            rw("/contexts/.eu/schemas/ids/3?subject=s"),
            "/schemas/ids/3?subject=%3A.eu%3As"
        );
        assert_eq!(
            rw("/contexts/.eu/compatibility/subjects/a/versions/latest"),
            "/compatibility/subjects/:.eu:a/versions/latest"
        );
        assert_eq!(rw("/contexts/.eu"), "/contexts/.eu");
        assert!(rewrite(&"/contexts/e:u/subjects".parse().unwrap()).is_err());
    }

    #[test]
    fn empty_segments_go() {
        let u = collapse_slashes(&"//subjects//a/versions?x=1".parse().unwrap()).unwrap();
        assert_eq!(u.to_string(), "/subjects/a/versions?x=1");
    }
}
