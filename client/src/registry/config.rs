//! [`RegistryConfig`]: everything a [`super::RegistryClient`] needs to know before its
//! first request: where the registries are, how to authenticate, which CA to trust,
//! how long to wait, how often to retry, and how much to cache.
//!
//! It is a plain struct with public fields and a `Default`, plus chainable `with_*`
//! methods, so that both `RegistryConfig { max_retries: 0, ..RegistryConfig::new(url) }`
//! and `RegistryConfig::new(url).with_max_retries(0)` read naturally. The defaults follow
//! Confluent's clients where they have one (3 retries, 1 s initial and 20 s maximum
//! back-off, 1,000 cache entries, latest versions cached without expiry); see each field.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the client authenticates to the registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP Basic (`Authorization: Basic base64(username:password)`), Confluent's
    /// `basic.auth.user.info`.
    Basic { username: String, password: String },
    /// A bearer token (`Authorization: Bearer <token>`), Confluent's
    /// `bearer.auth.token` with a static token.
    Bearer(String),
}

/// Secrets never reach logs: `Debug` shows the kind of credential and the user only.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Auth::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
        }
    }
}

/// A CA certificate (or a bundle of them, PEM) to trust for `https` registry URLs, in
/// addition to the built-in web PKI roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaCertificate {
    /// A PEM file, read when the client is built.
    File(PathBuf),
    /// PEM bytes.
    Pem(Vec<u8>),
}

/// The registry client's configuration. Start from [`RegistryConfig::new`].
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URLs, tried in order: a connection failure, a timeout or a retriable status
    /// (408, 429, 500, 502, 503, 504) moves on to the next one. The client then starts
    /// with the URL that answered last, as Confluent's Java client does. A URL may carry
    /// `user:password@` (Basic auth, used when `auth` is `None`).
    pub urls: Vec<String>,
    /// Credentials sent with every request.
    pub auth: Option<Auth>,
    /// Extra trusted CA for TLS.
    pub ca_certificate: Option<CaCertificate>,
    /// Whole-request timeout (connect, send, and read the body). Default 30 s.
    pub request_timeout: Duration,
    /// TCP + TLS connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// Extra rounds over all URLs after the first one fails retriably. Default 3
    /// (Confluent's `max.retries`).
    pub max_retries: u32,
    /// Back-off before the first retry round; doubles each round (Confluent's
    /// `retries.wait.ms`, 1 s).
    pub retry_backoff: Duration,
    /// Cap of the back-off (Confluent's `retries.max.wait.ms`, 20 s).
    pub retry_backoff_max: Duration,
    /// Entries per cache (ids, GUIDs, registered schemas, versions, latest versions).
    /// A full cache evicts by second chance: entries not read since the last sweep go
    /// first (see [`super::RegistryClient`]). 0 disables caching. Default 1,000
    /// (Confluent's `cache.capacity`).
    pub cache_capacity: usize,
    /// How long a latest version (plain or by metadata) is served from the cache:
    /// Confluent's `cache.latest.ttl.sec` (Python) / `latest.cache.ttl.sec` (Java). Default
    /// `None`, no expiry, as in Confluent's clients (unset, or `-1`): a use-latest serializer keeps the version it first saw until
    /// the cache evicts it or [`super::RegistryClient::clear_caches`] is called (registering
    /// or deleting through this client also forgets the subject's latest). `Some(ttl)`
    /// asks the registry again once an entry is older than `ttl`; `Some(Duration::ZERO)`
    /// asks every time.
    pub latest_ttl: Option<Duration>,
}

impl Default for RegistryConfig {
    /// Confluent's default registry address, `http://localhost:8081`.
    fn default() -> Self {
        RegistryConfig {
            urls: vec!["http://localhost:8081".to_string()],
            auth: None,
            ca_certificate: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 3,
            retry_backoff: Duration::from_millis(1000),
            retry_backoff_max: Duration::from_secs(20),
            cache_capacity: 1000,
            latest_ttl: None,
        }
    }
}

impl RegistryConfig {
    /// A configuration for the registry at `url`. As Confluent's `schema.registry.url`,
    /// `url` may list several URLs separated by commas (fail-over order).
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        RegistryConfig {
            urls: url
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect(),
            ..RegistryConfig::default()
        }
    }

    /// Replaces the URL list (fail-over order).
    pub fn with_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.urls = urls.into_iter().map(Into::into).collect();
        self
    }

    /// HTTP Basic authentication.
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Some(Auth::Basic {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Bearer-token authentication.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer(token.into()));
        self
    }

    /// Trusts the CA certificate(s) in this PEM file.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certificate = Some(CaCertificate::File(path.into()));
        self
    }

    /// Trusts the CA certificate(s) in these PEM bytes.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(CaCertificate::Pem(pem.into()));
        self
    }

    /// Whole-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retry rounds after a retriable failure (0: try each URL once).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Initial and maximum back-off between retry rounds.
    pub fn with_retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_backoff = initial;
        self.retry_backoff_max = max;
        self
    }

    /// Entries per cache (0 disables caching).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long latest versions are cached (`Duration::ZERO`: not at all). Without this
    /// they are kept until evicted, as Confluent's clients keep them.
    pub fn with_latest_ttl(mut self, ttl: Duration) -> Self {
        self.latest_ttl = Some(ttl);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_splits_comma_separated_urls() {
        let c = RegistryConfig::new(" http://a:8081 , http://b:8081,");
        assert_eq!(c.urls, vec!["http://a:8081", "http://b:8081"]);
        assert_eq!(c.max_retries, 3);
    }

    #[test]
    fn latest_versions_never_expire_by_default_as_in_confluent() {
        // Confluent's `cache.latest.ttl.sec` / `latest.cache.ttl.sec` default to no expiry.
        assert_eq!(RegistryConfig::default().latest_ttl, None);
        assert_eq!(RegistryConfig::new("http://a").latest_ttl, None);
        let c = RegistryConfig::new("http://a").with_latest_ttl(Duration::from_secs(5));
        assert_eq!(c.latest_ttl, Some(Duration::from_secs(5)));
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = RegistryConfig::new("http://a")
            .with_basic_auth("alice", "s3cret")
            .with_max_retries(1);
        let text = format!("{c:?}");
        assert!(text.contains("alice") && !text.contains("s3cret"), "{text}");
        let b = format!("{:?}", Auth::Bearer("tok3n".into()));
        assert!(!b.contains("tok3n"), "{b}");
    }
}
