//! The registry client: an async HTTP client for any Confluent-compatible schema
//! registry, with the caches that keep serializers off the network.
//!
//! - [`RegistryClient`] is the API (register, look up, fetch by id or GUID, latest and
//!   latest-by-metadata, versions, compatibility tests, config, mode, deletes) and the
//!   production [`SchemaSource`].
//! - [`RegistryConfig`] says where and how to connect (several URLs, Basic or Bearer
//!   auth, a custom CA, timeouts, retries, cache sizes and the latest-version TTL).
//! - `dek` adds the DEK-registry calls (KEKs, DEKs) and Accord's entity-key batch call,
//!   used by the `ENCRYPT` rule executor.
//! - `http` is the transport (headers, retries with back-off, fail-over), `cache` the
//!   bounded caches and the single-flight table, `wire` the JSON shapes.
//!
//! Caching follows from what the registry guarantees: a schema id or GUID never
//! changes meaning, and neither does "this schema under this subject has this id", so
//! those are cached until evicted; "the latest version" does change, but Confluent's
//! clients cache it until evicted too unless given a TTL, and so does this one
//! ([`RegistryConfig::latest_ttl`]). Concurrent first uses of one key make one request.

pub(crate) mod cache;
mod config;
mod dek;
mod http;
mod model;
mod wire;

pub use config::{Auth, CaCertificate, RegistryConfig};
pub use dek::{
    CreateDek, CreateKek, DekInfo, EntityKey, EntityKeys, EntityKeysRequest, EntityMaterial, Kek,
};
pub use model::{CompatibilityCheck, CompatibilityConfig, CompatibilityTarget};

use crate::error::{ClientError, Result};
use crate::types::{RegisteredSchema, SchemaSource, SchemaSpec};
use bytes::Bytes;
use cache::{Cache, Flights};
use futures::future::FutureExt;
use http::{encode, Transport};
use reqwest::Method;
use std::fmt::Write;
use std::sync::Arc;
use wire::SchemaResponse;

/// A client for a Confluent-compatible schema registry. Cheap to clone (clones share
/// the connection pool and the caches); use one per process.
///
/// **Caches.** Schemas by id and by GUID, registered/looked-up schemas by (subject,
/// schema, normalize) and subject versions by number are kept until evicted; the latest
/// version of a subject (plain, or by metadata) likewise, or for [`RegistryConfig::latest_ttl`]
/// when one is set. Each
/// cache holds at most [`RegistryConfig::cache_capacity`] entries and evicts by second
/// chance: the oldest entry not read since the last sweep goes first. A hit takes a
/// read lock and clones an [`Arc`]: no network, no allocation. Registering
/// invalidates the subject's latest versions; deleting a subject or version invalidates
/// everything cached under the subject. Errors are never cached.
///
/// **Single flight.** Concurrent misses of the same key (the same id, the same subject's
/// latest version, the same schema to register) share one request.
///
/// # Example
///
/// ```
/// use accord_client::registry::{RegistryClient, RegistryConfig};
/// use accord_client::SchemaSpec;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # // A real registry on a temporary SQLite file stands in for yours.
/// # let dir = std::env::temp_dir().join(format!("accord-doc-{}", uuid::Uuid::new_v4()));
/// # std::fs::create_dir_all(&dir)?;
/// # let server = accord_server::start(accord_server::ServerConfig {
/// #     listen: ([127, 0, 0, 1], 0).into(),
/// #     database_url: format!("sqlite://{}/accord.db", dir.display()),
/// #     ..Default::default()
/// # })
/// # .await?;
/// # let url = server.url();
/// // `url` is e.g. "http://localhost:8081" (or several, comma-separated).
/// let client = RegistryClient::new(RegistryConfig::new(url))?;
///
/// let spec = SchemaSpec {
///     schema: r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#
///         .to_string(),
///     ..Default::default()
/// };
/// let registered = client.register("users-value", &spec, false).await?;
/// assert_eq!(registered.version, Some(1));
///
/// // Served from the cache that `register` filled: no request.
/// let by_id = client.schema_by_id(registered.id).await?;
/// assert_eq!(by_id.schema, registered.schema);
///
/// let latest = client.latest("users-value").await?;
/// assert_eq!(latest.id, registered.id);
/// # server.stop().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("urls", &self.inner.http.bases())
            .finish_non_exhaustive()
    }
}

/// A schema registered or looked up under a subject.
#[derive(PartialEq)]
struct SpecKey {
    subject: String,
    normalize: bool,
    spec: SchemaSpec,
}

/// Keys of requests in flight.
#[derive(Clone, PartialEq, Eq, Hash)]
enum FlightKey {
    Id(i32),
    Guid(String),
    Version(String, i32),
    Latest(String),
    Metadata(String, Vec<(String, String)>),
    Register(String, bool, Bytes),
    Lookup(String, bool, Bytes),
}

type Schema = Arc<RegisteredSchema>;

struct Inner {
    http: Transport,
    by_id: Cache<i32, Schema>,
    by_guid: Cache<String, Schema>,
    by_spec: Cache<SpecKey, Schema>,
    versions: Cache<(String, i32), Schema>,
    latest: Cache<String, Schema>,
    latest_by_metadata: Cache<(String, Vec<(String, String)>), Schema>,
    flights: Arc<Flights<FlightKey, Schema>>,
}

impl RegistryClient {
    /// A client for the registry (or registries) in `config`. Fails on a configuration
    /// that cannot work (no or malformed URL, unreadable CA); makes no request.
    pub fn new(config: RegistryConfig) -> Result<Self> {
        let http = Transport::new(&config)?;
        let cap = config.cache_capacity;
        let ttl = config.latest_ttl;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                by_id: Cache::new(cap, None),
                by_guid: Cache::new(cap, None),
                by_spec: Cache::new(cap, None),
                versions: Cache::new(cap, None),
                latest: Cache::new(cap, ttl),
                latest_by_metadata: Cache::new(cap, ttl),
                flights: Arc::new(Flights::new()),
            }),
        })
    }

    /// The registry base URLs, in fail-over order (without credentials).
    pub fn urls(&self) -> &[String] {
        self.inner.http.bases()
    }

    /// Forgets every cached answer.
    pub fn clear_caches(&self) {
        let i = &self.inner;
        i.by_id.clear();
        i.by_guid.clear();
        i.by_spec.clear();
        i.versions.clear();
        i.latest.clear();
        i.latest_by_metadata.clear();
    }

    /// Registers `spec` under `subject` (`POST /subjects/{subject}/versions`), or finds
    /// the version that already holds it; `normalize` asks the registry to normalize
    /// first. Cached per (subject, spec, normalize), shared with [`Self::lookup`].
    pub async fn register(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Schema> {
        self.by_spec(subject, spec, normalize, true).await
    }

    /// The version of `subject` that holds `spec` (`POST /subjects/{subject}`): 40401
    /// when the subject does not exist, 40403 when it does not hold the schema.
    pub async fn lookup(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Schema> {
        self.by_spec(subject, spec, normalize, false).await
    }

    /// The schema with global id `id` (`GET /schemas/ids/{id}`); `subject` and
    /// `version` are `None`. Cached until evicted.
    pub async fn schema_by_id(&self, id: i32) -> Result<Schema> {
        let cache = &self.inner.by_id;
        let hash = cache.hash(&id);
        if let Some(hit) = cache.get(hash, |k| *k == id) {
            return Ok(hit);
        }
        let inner = Arc::clone(&self.inner);
        self.inner
            .flights
            .run(
                FlightKey::Id(id),
                || cache.get(hash, |k| *k == id),
                move || async move { inner.fetch_by_id(id).await }.boxed(),
            )
            .await
    }

    /// The schema with this GUID (`GET /schemas/guids/{guid}`), with the id it has in
    /// the default context (`GET /schemas/guids/{guid}/ids`; 0 when the registry does
    /// not offer that endpoint). Cached until evicted.
    pub async fn schema_by_guid(&self, guid: &str) -> Result<Schema> {
        let cache = &self.inner.by_guid;
        let hash = cache.hash(guid);
        if let Some(hit) = cache.get(hash, |k| k == guid) {
            return Ok(hit);
        }
        let inner = Arc::clone(&self.inner);
        let owned = guid.to_string();
        self.inner
            .flights
            .run(
                FlightKey::Guid(owned.clone()),
                || cache.get(hash, |k| k == guid),
                move || async move { inner.fetch_by_guid(owned).await }.boxed(),
            )
            .await
    }

    /// The latest version of `subject` (`GET /subjects/{subject}/versions/latest`),
    /// cached for the configured TTL.
    pub async fn latest(&self, subject: &str) -> Result<Schema> {
        let cache = &self.inner.latest;
        let hash = cache.hash(subject);
        if let Some(hit) = cache.get(hash, |k| k == subject) {
            return Ok(hit);
        }
        let inner = Arc::clone(&self.inner);
        let owned = subject.to_string();
        self.inner
            .flights
            .run(
                FlightKey::Latest(owned.clone()),
                || cache.get(hash, |k| k == subject),
                move || async move { inner.fetch_latest(owned, hash).await }.boxed(),
            )
            .await
    }

    /// The latest version of `subject` whose `metadata.properties` hold every
    /// `(key, value)` pair (`GET /subjects/{subject}/metadata?key=..&value=..`),
    /// cached for the configured TTL.
    pub async fn latest_with_metadata(
        &self,
        subject: &str,
        pairs: &[(String, String)],
    ) -> Result<Schema> {
        let cache = &self.inner.latest_by_metadata;
        let hash = cache.hash(&(subject, pairs));
        let matches = |k: &(String, Vec<(String, String)>)| k.0 == subject && k.1 == pairs;
        if let Some(hit) = cache.get(hash, matches) {
            return Ok(hit);
        }
        let inner = Arc::clone(&self.inner);
        let key = (subject.to_string(), pairs.to_vec());
        self.inner
            .flights
            .run(
                FlightKey::Metadata(key.0.clone(), key.1.clone()),
                || cache.get(hash, matches),
                move || async move { inner.fetch_by_metadata(key, hash).await }.boxed(),
            )
            .await
    }

    /// Version `version` of `subject` (`GET /subjects/{subject}/versions/{version}`);
    /// `-1` means the latest (and is answered by [`Self::latest`]). Positive versions
    /// are cached until evicted or deleted through this client.
    pub async fn version(&self, subject: &str, version: i32) -> Result<Schema> {
        if version == -1 {
            return self.latest(subject).await;
        }
        if version <= 0 {
            // Not a version; the registry's answer (42202) says so.
            let path = format!("/subjects/{}/versions/{version}", encode(subject));
            let r: SchemaResponse = self.inner.http.call_json(Method::GET, &path, None).await?;
            return r.into_registered(None, &path).map(Arc::new);
        }
        let cache = &self.inner.versions;
        let hash = cache.hash(&(subject, version));
        let matches = |k: &(String, i32)| k.1 == version && k.0 == subject;
        if let Some(hit) = cache.get(hash, matches) {
            return Ok(hit);
        }
        let inner = Arc::clone(&self.inner);
        let owned = subject.to_string();
        self.inner
            .flights
            .run(
                FlightKey::Version(owned.clone(), version),
                || cache.get(hash, matches),
                move || async move { inner.fetch_version(owned, version).await }.boxed(),
            )
            .await
    }

    /// Every subject with a live version (`GET /subjects`), sorted.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        self.inner
            .http
            .call_json(Method::GET, "/subjects", None)
            .await
    }

    /// The live versions of `subject`, ascending (`GET /subjects/{subject}/versions`).
    pub async fn versions(&self, subject: &str) -> Result<Vec<i32>> {
        let path = format!("/subjects/{}/versions", encode(subject));
        self.inner.http.call_json(Method::GET, &path, None).await
    }

    /// Would `spec` be accepted under `subject`? (`POST /compatibility/subjects/...`).
    /// With `verbose`, an incompatible verdict comes with the reasons, and an invalid
    /// schema is a verdict instead of a 42201 error.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        against: CompatibilityTarget,
        normalize: bool,
        verbose: bool,
    ) -> Result<CompatibilityCheck> {
        let mut path = format!("/compatibility/subjects/{}/versions", encode(subject));
        match against {
            CompatibilityTarget::Latest => path.push_str("/latest"),
            CompatibilityTarget::Version(v) => {
                let _ = write!(path, "/{v}");
            }
            CompatibilityTarget::AllVersions => {}
        }
        path.push_str(&flags(&[("normalize", normalize), ("verbose", verbose)]));
        let body = wire::schema_body(spec)?;
        let r: wire::CompatibilityResponse = self
            .inner
            .http
            .call_json(Method::POST, &path, Some(body))
            .await?;
        Ok(r.into())
    }

    /// The compatibility config of `subject`, or the global one for `None`
    /// (`GET /config[/{subject}]`). A subject without its own config is 40408.
    pub async fn config(&self, subject: Option<&str>) -> Result<CompatibilityConfig> {
        let path = scoped("/config", subject);
        self.inner.http.call_json(Method::GET, &path, None).await
    }

    /// Updates the config of `subject`, or the global one (`PUT /config[/{subject}]`);
    /// fields left `None` keep their value. Returns the whole config after the update.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        update: &CompatibilityConfig,
    ) -> Result<CompatibilityConfig> {
        let path = scoped("/config", subject);
        let body = wire::config_body(update)?;
        self.inner
            .http
            .call_json(Method::PUT, &path, Some(body))
            .await
    }

    /// The mode (`READWRITE`, `READONLY`, `IMPORT`, ...) of `subject`, or the global
    /// one (`GET /mode[/{subject}]`). A subject without its own mode is 40409.
    pub async fn mode(&self, subject: Option<&str>) -> Result<String> {
        let path = scoped("/mode", subject);
        let r: wire::ModeBody = self.inner.http.call_json(Method::GET, &path, None).await?;
        Ok(r.mode)
    }

    /// Sets the mode of `subject`, or the global one (`PUT /mode[/{subject}]`); `force`
    /// allows IMPORT while subjects exist. Returns the mode set.
    pub async fn set_mode(&self, subject: Option<&str>, mode: &str, force: bool) -> Result<String> {
        let mut path = scoped("/mode", subject);
        path.push_str(&flags(&[("force", force)]));
        let body = serde_json::to_vec(&wire::ModeBody {
            mode: mode.to_string(),
        })
        .map_err(|e| ClientError::Config(format!("cannot encode the mode: {e}")))?;
        let r: wire::ModeBody = self
            .inner
            .http
            .call_json(Method::PUT, &path, Some(Bytes::from(body)))
            .await?;
        Ok(r.mode)
    }

    /// Deletes `subject` (`DELETE /subjects/{subject}`): soft, or with `permanent` (after
    /// a soft delete) for good. Returns the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let path = format!(
            "/subjects/{}{}",
            encode(subject),
            flags(&[("permanent", permanent)])
        );
        let result = self.inner.http.call_json(Method::DELETE, &path, None).await;
        self.inner.forget_subject(subject);
        result
    }

    /// Deletes one version (`DELETE /subjects/{subject}/versions/{version}`); `-1` is the
    /// latest. Returns the version number deleted.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: i32,
        permanent: bool,
    ) -> Result<i32> {
        let path = format!(
            "/subjects/{}/versions/{version}{}",
            encode(subject),
            flags(&[("permanent", permanent)])
        );
        let result = self.inner.http.call_json(Method::DELETE, &path, None).await;
        self.inner.forget_subject(subject);
        result
    }

    async fn by_spec(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
        register: bool,
    ) -> Result<Schema> {
        let cache = &self.inner.by_spec;
        let hash = spec_hash(cache, subject, normalize, spec);
        let matches =
            |k: &SpecKey| k.normalize == normalize && k.subject == subject && k.spec == *spec;
        if let Some(hit) = cache.get(hash, matches) {
            return Ok(hit);
        }
        let body = wire::schema_body(spec)?;
        let flight = if register {
            FlightKey::Register(subject.to_string(), normalize, body.clone())
        } else {
            FlightKey::Lookup(subject.to_string(), normalize, body.clone())
        };
        let inner = Arc::clone(&self.inner);
        let key = SpecKey {
            subject: subject.to_string(),
            normalize,
            spec: spec.clone(),
        };
        self.inner
            .flights
            .run(
                flight,
                || cache.get(hash, matches),
                move || async move { inner.fetch_by_spec(key, hash, body, register).await }.boxed(),
            )
            .await
    }
}

/// The hash `by_spec` entries are filed under (metadata and rule set are left out of
/// the hash, not out of the equality check).
fn spec_hash(
    cache: &Cache<SpecKey, Schema>,
    subject: &str,
    normalize: bool,
    spec: &SchemaSpec,
) -> u64 {
    cache.hash(&(
        subject,
        normalize,
        spec.format,
        spec.schema.as_str(),
        spec.references.as_slice(),
    ))
}

/// `/resource` or `/resource/{subject}`.
fn scoped(resource: &str, subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("{resource}/{}", encode(s)),
        None => resource.to_string(),
    }
}

/// The query string of the flags that are set (`?a=true&b=true`, or nothing).
fn flags(flags: &[(&str, bool)]) -> String {
    let mut out = String::new();
    for (name, _) in flags.iter().filter(|(_, on)| *on) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(name);
        out.push_str("=true");
    }
    out
}

impl Inner {
    async fn fetch_by_id(&self, id: i32) -> Result<Schema> {
        let path = format!("/schemas/ids/{id}");
        let r: SchemaResponse = self.http.call_json(Method::GET, &path, None).await?;
        let schema = Arc::new(r.into_registered(Some(id), &path)?);
        self.remember(&schema);
        Ok(schema)
    }

    async fn fetch_by_guid(&self, guid: String) -> Result<Schema> {
        let path = format!("/schemas/guids/{}", encode(&guid));
        let ids_path = format!("{path}/ids");
        let (schema, ids) = futures::join!(
            self.http
                .call_json::<SchemaResponse>(Method::GET, &path, None),
            self.http
                .call_json::<Vec<wire::ContextId>>(Method::GET, &ids_path, None),
        );
        let id = match ids {
            Ok(ids) => wire::id_of_guid(&ids, &ids_path)?,
            // A registry without the endpoint: the schema is still the schema.
            Err(ClientError::Registry { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        let mut schema = schema?.into_registered(Some(id.unwrap_or(0)), &path)?;
        if schema.guid.is_none() {
            schema.guid = Some(guid.clone());
        }
        let schema = Arc::new(schema);
        let cache = &self.by_guid;
        cache.insert(cache.hash(guid.as_str()), guid, schema.clone());
        if id.is_some() {
            self.remember(&schema);
        }
        Ok(schema)
    }

    async fn fetch_version(&self, subject: String, version: i32) -> Result<Schema> {
        let path = format!("/subjects/{}/versions/{version}", encode(&subject));
        let r: SchemaResponse = self.http.call_json(Method::GET, &path, None).await?;
        let schema = Arc::new(r.into_registered(None, &path)?);
        self.remember_version(&subject, version, &schema);
        self.remember(&schema);
        Ok(schema)
    }

    async fn fetch_latest(&self, subject: String, hash: u64) -> Result<Schema> {
        let path = format!("/subjects/{}/versions/latest", encode(&subject));
        let r: SchemaResponse = self.http.call_json(Method::GET, &path, None).await?;
        let schema = Arc::new(r.into_registered(None, &path)?);
        if let Some(v) = schema.version {
            self.remember_version(&subject, v, &schema);
        }
        self.remember(&schema);
        self.latest.insert(hash, subject, schema.clone());
        Ok(schema)
    }

    async fn fetch_by_metadata(
        &self,
        key: (String, Vec<(String, String)>),
        hash: u64,
    ) -> Result<Schema> {
        let mut path = format!("/subjects/{}/metadata", encode(&key.0));
        for (i, (k, v)) in key.1.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            let _ = write!(path, "{sep}key={}&value={}", encode(k), encode(v));
        }
        let r: SchemaResponse = self.http.call_json(Method::GET, &path, None).await?;
        let schema = Arc::new(r.into_registered(None, &path)?);
        if let Some(v) = schema.version {
            self.remember_version(&key.0, v, &schema);
        }
        self.remember(&schema);
        self.latest_by_metadata.insert(hash, key, schema.clone());
        Ok(schema)
    }

    async fn fetch_by_spec(
        &self,
        key: SpecKey,
        hash: u64,
        body: Bytes,
        register: bool,
    ) -> Result<Schema> {
        let subject = encode(&key.subject);
        let normalize = flags(&[("normalize", key.normalize)]);
        let path = if register {
            format!("/subjects/{subject}/versions{normalize}")
        } else {
            format!("/subjects/{subject}{normalize}")
        };
        let r: SchemaResponse = self.http.call_json(Method::POST, &path, Some(body)).await?;
        let schema = Arc::new(r.into_registered_from(&key.subject, &key.spec, &path)?);
        if register {
            // A new version may now be the latest.
            self.forget_latest(&key.subject);
        }
        if let Some(v) = schema.version {
            self.remember_version(&key.subject, v, &schema);
        }
        self.remember(&schema);
        self.by_spec.insert(hash, key, schema.clone());
        Ok(schema)
    }

    /// Files `schema` under its id and its GUID as a by-id answer (without subject and
    /// version), where they are not cached already.
    fn remember(&self, schema: &Schema) {
        let id = schema.id;
        let id_hash = self.by_id.hash(&id);
        let id_known = self.by_id.get(id_hash, |k| *k == id).is_some();
        let guid = schema.guid.as_deref().map(|g| (g, self.by_guid.hash(g)));
        let guid_known =
            guid.is_none_or(|(g, h)| self.by_guid.get(h, |k| k.as_str() == g).is_some());
        if id_known && guid_known {
            return;
        }
        let plain = if schema.subject.is_none() && schema.version.is_none() {
            schema.clone()
        } else {
            Arc::new(RegisteredSchema {
                subject: None,
                version: None,
                ..RegisteredSchema::clone(schema)
            })
        };
        if !id_known {
            self.by_id.insert(id_hash, id, plain.clone());
        }
        if let (false, Some((g, h))) = (guid_known, guid) {
            self.by_guid.insert(h, g.to_string(), plain);
        }
    }

    fn remember_version(&self, subject: &str, version: i32, schema: &Schema) {
        let hash = self.versions.hash(&(subject, version));
        self.versions
            .insert(hash, (subject.to_string(), version), schema.clone());
    }

    fn forget_latest(&self, subject: &str) {
        self.latest.remove_where(|k| k == subject);
        self.latest_by_metadata.remove_where(|k| k.0 == subject);
    }

    /// Drops what a delete under `subject` may have made stale (ids and GUIDs stay:
    /// they never change meaning).
    fn forget_subject(&self, subject: &str) {
        self.forget_latest(subject);
        self.versions.remove_where(|k| k.0 == subject);
        self.by_spec.remove_where(|k| k.subject == subject);
    }
}

/// The production [`SchemaSource`]: every call is the inherent method of the same name.
impl SchemaSource for RegistryClient {
    async fn schema_by_id(&self, id: i32) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::schema_by_id(self, id).await
    }

    async fn schema_by_guid(&self, guid: &str) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::schema_by_guid(self, guid).await
    }

    async fn register(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::register(self, subject, spec, normalize).await
    }

    async fn lookup(
        &self,
        subject: &str,
        spec: &SchemaSpec,
        normalize: bool,
    ) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::lookup(self, subject, spec, normalize).await
    }

    async fn latest(&self, subject: &str) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::latest(self, subject).await
    }

    async fn latest_with_metadata(
        &self,
        subject: &str,
        pairs: &[(String, String)],
    ) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::latest_with_metadata(self, subject, pairs).await
    }

    async fn version(&self, subject: &str, version: i32) -> Result<Arc<RegisteredSchema>> {
        RegistryClient::version(self, subject, version).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_compat::SchemaFormat;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_futures_are_send_and_the_client_is_shareable() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<RegistryClient>();
        let c = RegistryClient::new(RegistryConfig::new("http://127.0.0.1:1")).unwrap();
        let spec = SchemaSpec::default();
        assert_send(&c.schema_by_id(1));
        assert_send(&c.schema_by_guid("g"));
        assert_send(&c.register("s", &spec, false));
        assert_send(&c.lookup("s", &spec, false));
        assert_send(&c.latest("s"));
        assert_send(&c.latest_with_metadata("s", &[]));
        assert_send(&c.version("s", 1));
        assert_send(&c.test_compatibility("s", &spec, CompatibilityTarget::Latest, false, false));
    }

    /// A latest version cached by a client whose registry is unreachable: a hit answers,
    /// a miss fails with the connection error.
    fn cached_latest(config: RegistryConfig) -> RegistryClient {
        let c = RegistryClient::new(config.with_max_retries(0)).unwrap();
        let schema = Arc::new(RegisteredSchema {
            id: 7,
            guid: None,
            format: SchemaFormat::Avro,
            schema: "\"int\"".to_string(),
            references: Vec::new(),
            metadata: None,
            rule_set: None,
            subject: Some("s".to_string()),
            version: Some(1),
        });
        let latest = &c.inner.latest;
        latest.insert(latest.hash("s"), "s".to_string(), schema.clone());
        let by_metadata = &c.inner.latest_by_metadata;
        let pairs = vec![("owner".to_string(), "a".to_string())];
        let key = ("s", pairs.as_slice());
        by_metadata.insert(
            by_metadata.hash(&key),
            ("s".to_string(), pairs.clone()),
            schema,
        );
        c
    }

    #[tokio::test]
    async fn latest_versions_never_expire_by_default_and_a_set_ttl_expires_them() {
        // No request can succeed: port 1 refuses connections.
        let url = "http://127.0.0.1:1";
        let pairs = [("owner".to_string(), "a".to_string())];
        let default = cached_latest(RegistryConfig::new(url));
        let bounded = cached_latest(
            RegistryConfig::new(url).with_latest_ttl(std::time::Duration::from_secs(60)),
        );
        // Ten years on, the default still answers from its cache (as Confluent's clients
        // do without `cache.latest.ttl.sec`); a 60 s TTL asks the registry again.
        let decade = std::time::Duration::from_secs(10 * 365 * 24 * 3600);
        for c in [&default, &bounded] {
            c.inner.latest.age(decade);
            c.inner.latest_by_metadata.age(decade);
        }
        assert_eq!(default.latest("s").await.unwrap().id, 7);
        assert_eq!(
            default.latest_with_metadata("s", &pairs).await.unwrap().id,
            7
        );
        assert!(bounded.latest("s").await.is_err());
        assert!(bounded.latest_with_metadata("s", &pairs).await.is_err());
    }

    #[test]
    fn flags_and_scopes_build_paths() {
        assert_eq!(flags(&[("a", false), ("b", false)]), "");
        assert_eq!(flags(&[("a", true), ("b", true)]), "?a=true&b=true");
        assert_eq!(scoped("/config", Some("a/b")), "/config/a%2Fb");
        assert_eq!(scoped("/mode", None), "/mode");
    }

    #[test]
    fn format_default_is_avro() {
        // The crate's spec leaves the format open; the registry and the client agree on AVRO.
        let r: SchemaResponse = serde_json::from_str(r#"{"id":1,"schema":"\"int\""}"#).unwrap();
        assert_eq!(
            r.into_registered(None, "t").unwrap().format,
            SchemaFormat::Avro
        );
    }
}
