//! The HTTP transport under the registry client: one `reqwest` client (rustls) with the
//! headers Confluent's clients send, and the retry and fail-over loop.
//!
//! One request is tried in *rounds*: a round tries each base URL once, starting with
//! the one that answered last, and moves to the next URL on a connection failure, a
//! timeout or a retriable status (408, 429, 500, 502, 503, 504, the set both Confluent
//! clients retry, confluent-compat.md §2). Any other answer ends the request at once,
//! so a 4xx such as 404, 409 or 422 is never retried. After a failed round the loop
//! sleeps with exponential back-off and jitter, and starts another, up to
//! `max_retries` extra rounds. Trying every URL before sleeping makes fail-over from a
//! dead node immediate, while a registry that is briefly overloaded still gets time.

use super::config::{Auth, CaCertificate, RegistryConfig};
use crate::error::{ClientError, Result};
use base64::Engine;
use bytes::Bytes;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The media type of request bodies (Confluent's v1 type).
pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
/// What Confluent's Python client accepts, most preferred first.
pub const ACCEPT_TYPES: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";
/// `Confluent-Client-Version`: the client's language and version.
pub const CLIENT_VERSION: &str = concat!("rust/", env!("CARGO_PKG_VERSION"));

/// Statuses worth another try (on the next URL, or in the next round).
const RETRIABLE: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// How one attempt against one URL ended.
enum Attempt {
    Done(Bytes),
    /// Final: the registry answered and the answer stands (4xx, or a non-retriable
    /// status), or the request itself cannot be built.
    Final(ClientError),
    /// Worth trying elsewhere or later.
    Retry(ClientError),
}

pub(crate) struct Transport {
    http: reqwest::Client,
    bases: Vec<String>,
    /// The URL to start the next request with: the last one that answered.
    preferred: AtomicUsize,
    max_retries: u32,
    backoff: Duration,
    backoff_max: Duration,
}

impl Transport {
    pub fn new(config: &RegistryConfig) -> Result<Transport> {
        if config.urls.is_empty() {
            return Err(ClientError::Config(
                "no registry URL configured".to_string(),
            ));
        }
        let mut auth = config.auth.clone();
        let mut bases = Vec::with_capacity(config.urls.len());
        for raw in &config.urls {
            let mut url = reqwest::Url::parse(raw.trim())
                .map_err(|e| ClientError::Config(format!("registry URL '{raw}': {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(ClientError::Config(format!(
                    "registry URL '{raw}': expected http://host[:port][/path] or https://..."
                )));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ClientError::Config(format!(
                    "registry URL '{raw}': a base URL cannot carry a query or a fragment"
                )));
            }
            // Credentials in the URL (Confluent's basic.auth.credentials.source=URL)
            // become Basic auth unless auth is configured explicitly; they never travel
            // in the request line.
            if !url.username().is_empty() || url.password().is_some() {
                if auth.is_none() {
                    auth = Some(Auth::Basic {
                        username: percent_decode(url.username()),
                        password: percent_decode(url.password().unwrap_or("")),
                    });
                }
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
            bases.push(url.as_str().trim_end_matches('/').to_string());
        }

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V1));
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_TYPES));
        headers.insert(
            HeaderName::from_static("confluent-accept-unknown-properties"),
            HeaderValue::from_static("true"),
        );
        headers.insert(
            HeaderName::from_static("confluent-client-version"),
            HeaderValue::from_static(CLIENT_VERSION),
        );
        if let Some(auth) = &auth {
            let value = match auth {
                Auth::Basic { username, password } => format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
                Auth::Bearer(token) => format!("Bearer {}", token.trim()),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                ClientError::Config(
                    "credentials contain characters that cannot go in an HTTP header".to_string(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }

        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout);
        if let Some(ca) = &config.ca_certificate {
            let (pem, origin) = match ca {
                CaCertificate::File(path) => (
                    std::fs::read(path).map_err(|e| {
                        ClientError::Config(format!(
                            "cannot read CA certificate file {}: {e}",
                            path.display()
                        ))
                    })?,
                    format!("CA certificate file {}", path.display()),
                ),
                CaCertificate::Pem(bytes) => (bytes.clone(), "CA certificate PEM".to_string()),
            };
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::Config(format!("{origin}: {}", crate::error::describe(&e)))
            })?;
            if certs.is_empty() {
                return Err(ClientError::Config(format!(
                    "{origin}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| {
            ClientError::Config(format!(
                "cannot build the HTTP client: {}",
                crate::error::describe(&e)
            ))
        })?;
        Ok(Transport {
            http,
            bases,
            preferred: AtomicUsize::new(0),
            max_retries: config.max_retries,
            backoff: config.retry_backoff,
            backoff_max: config.retry_backoff_max,
        })
    }

    /// The base URLs, normalised (no credentials, no trailing slash).
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// Sends `method path` (path already percent-encoded, with its query) with retries
    /// and fail-over; the body of the 2xx answer.
    pub async fn call(&self, method: Method, path: &str, body: Option<Bytes>) -> Result<Bytes> {
        let n = self.bases.len();
        let mut last = None;
        let mut attempts = 0u64;
        for round in 0..=self.max_retries {
            if round > 0 {
                tokio::time::sleep(self.backoff(round - 1)).await;
            }
            let first = self.preferred.load(Ordering::Relaxed) % n.max(1);
            for k in 0..n {
                let i = (first + k) % n;
                attempts += 1;
                match self.once(i, &method, path, body.clone()).await {
                    Attempt::Done(bytes) => {
                        self.prefer(first, i);
                        return Ok(bytes);
                    }
                    Attempt::Final(e) => {
                        self.prefer(first, i);
                        return Err(e);
                    }
                    Attempt::Retry(e) => last = Some(e),
                }
            }
        }
        Err(match last {
            Some(ClientError::Unreachable(m)) => ClientError::Unreachable(format!(
                "{m} (gave up after {attempts} attempt(s) over {n} URL(s))"
            )),
            Some(e) => e,
            None => ClientError::Config("no registry URL configured".to_string()),
        })
    }

    /// [`Transport::call`], then the 2xx body parsed as `T`.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<T> {
        let bytes = self.call(method.clone(), path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ClientError::BadResponse(format!(
                "{method} {path}: the answer is not the expected JSON ({e}): {}",
                snippet(&bytes)
            ))
        })
    }

    fn prefer(&self, was: usize, now: usize) {
        if was != now {
            self.preferred.store(now, Ordering::Relaxed);
        }
    }

    /// The pause before retry round `round + 1`: `backoff * 2^round`, capped, with
    /// "equal jitter" (a random point in the upper half), so that clients that failed
    /// together do not retry together, yet none retries at once.
    fn backoff(&self, round: u32) -> Duration {
        let factor = 1u32.checked_shl(round.min(31)).unwrap_or(u32::MAX);
        let full = self
            .backoff
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max);
        let half = full / 2;
        half + half.mul_f64(random_unit())
    }

    async fn once(&self, i: usize, method: &Method, path: &str, body: Option<Bytes>) -> Attempt {
        let Some(base) = self.bases.get(i) else {
            return Attempt::Final(ClientError::Config(format!("no registry URL #{i}")));
        };
        let url = format!("{base}{path}");
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Attempt::Final(ClientError::Config(format!(
                    "{method} {url}: {}",
                    crate::error::describe(&e)
                )))
            }
            Err(e) => {
                return Attempt::Retry(ClientError::Unreachable(format!(
                    "{method} {url}: {}",
                    crate::error::describe(&e)
                )))
            }
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry(ClientError::Unreachable(format!(
                    "{method} {url}: reading the answer: {}",
                    crate::error::describe(&e)
                )))
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(bytes);
        }
        let error = registry_error(status, &bytes);
        if RETRIABLE.contains(&status) {
            tracing::debug!(%url, status, "retriable registry answer");
            Attempt::Retry(error)
        } else {
            Attempt::Final(error)
        }
    }
}

/// Confluent's error body (`{"error_code": 40401, "message": "..."}`) as a
/// [`ClientError::Registry`]. A body that is not one (a proxy's HTML page, an empty
/// body) still gives a `Registry` error with the HTTP status as `error_code`, as the
/// registry's own generic errors do, and the start of the body in the message.
pub(crate) fn registry_error(status: u16, body: &[u8]) -> ClientError {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        if let Some(code) = map.get("error_code").and_then(serde_json::Value::as_i64) {
            let message = match map.get("message") {
                Some(serde_json::Value::String(m)) => m.clone(),
                Some(other) => other.to_string(),
                None => format!("HTTP {status}"),
            };
            return ClientError::Registry {
                status,
                error_code: code,
                message,
            };
        }
    }
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    ClientError::Registry {
        status,
        error_code: i64::from(status),
        message: format!(
            "HTTP {status} {reason} without a registry error body: {}",
            snippet(body)
        ),
    }
}

/// The start of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// A uniformly random number in [0, 1) (from the OS generator behind UUID v4).
fn random_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u64_pair().0 >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// What Python's `quote(s, safe='')` leaves as it is: ASCII letters, digits and `_.-~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Percent-encodes one path segment or query value as Python's `quote(s, safe='')`:
/// everything but ASCII letters, digits and `_.-~` is encoded, so `/` becomes `%2F`.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Decodes `%XX` escapes (malformed escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python_quote_with_no_safe_characters() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a/b c:d"), "a%2Fb%20c%3Ad");
        assert_eq!(encode(":.ctx:sub_j.~"), "%3A.ctx%3Asub_j.~");
        assert_eq!(encode("é%"), "%C3%A9%25");
    }

    #[test]
    fn decodes_percent_escapes_leniently() {
        assert_eq!(percent_decode("p%40ss%3Aword"), "p@ss:word");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn error_bodies_map_to_registry_errors() {
        let e = registry_error(
            404,
            br#"{"error_code":40401,"message":"Subject 'x' not found."}"#,
        );
        assert!(e.is_not_found());
        assert!(e.to_string().contains("Subject 'x' not found."));
        match registry_error(502, b"<html>Bad Gateway</html>") {
            ClientError::Registry {
                status: 502,
                error_code: 502,
                message,
            } => assert!(message.contains("<html>Bad Gateway</html>"), "{message}"),
            other => panic!("{other:?}"),
        }
        match registry_error(500, b"") {
            ClientError::Registry { message, .. } => assert!(message.contains("(empty body)")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let t = Transport::new(
            &RegistryConfig::new("http://localhost:1")
                .with_retry_backoff(Duration::from_millis(100), Duration::from_millis(1000)),
        )
        .unwrap();
        for round in 0..40 {
            let d = t.backoff(round);
            let full = Duration::from_millis((100u64 << round.min(20)).min(1000));
            assert!(d >= full / 2 && d <= full, "round {round}: {d:?}");
        }
    }

    #[test]
    fn configuration_errors_are_reported() {
        for bad in ["", "localhost:8081", "ftp://x", "http://x/?a=1"] {
            let r = Transport::new(&RegistryConfig::default().with_urls([bad]));
            assert!(matches!(r, Err(ClientError::Config(_))), "{bad}");
        }
        let r = Transport::new(&RegistryConfig::new("http://x").with_ca_pem(b"not pem".to_vec()));
        assert!(matches!(r, Err(ClientError::Config(m)) if m.contains("no PEM certificate")));
        let r = Transport::new(&RegistryConfig::new("http://x").with_bearer_token("a\nb"));
        assert!(matches!(r, Err(ClientError::Config(_))));
    }

    #[test]
    fn url_credentials_become_basic_auth_and_leave_the_url() {
        let t = Transport::new(&RegistryConfig::new(
            "https://u%40x:p%3Aw@reg.example:8081/sr/",
        ))
        .unwrap();
        assert_eq!(t.bases(), ["https://reg.example:8081/sr"]);
    }
}
