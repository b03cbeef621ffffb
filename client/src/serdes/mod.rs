//! Serializers and deserializers for Avro, Protobuf and JSON Schema that frame values
//! exactly as Confluent's do (confluent-compat.md §6), with Confluent's options.
//!
//! Each format has a serializer and a deserializer generic over a
//! [`SchemaSource`](crate::SchemaSource) (the HTTP
//! [`RegistryClient`](crate::registry::RegistryClient) in production, or anything else
//! that answers the same questions), held in an `Arc` so many serdes share one client and
//! its caches:
//!
//! | Format | Serializer | Deserializer | Values |
//! |---|---|---|---|
//! | Avro | [`AvroSerializer`] | [`AvroDeserializer`] | `apache_avro::types::Value`, serde types |
//! | Protobuf | [`ProtobufSerializer`] | [`ProtobufDeserializer`] | `DynamicMessage`, prost types with descriptors |
//! | JSON Schema | [`JsonSerializer`] | [`JsonDeserializer`] | `serde_json::Value`, serde types |
//!
//! Behaviour is set by a [`SerdeConfig`]: key or value, auto-register (default on),
//! use-latest-version, use-latest-with-metadata, normalize, the
//! [`SubjectNameStrategy`], the framing written (id prefix by default; GUID prefix or the
//! schema-id header), and the [`RuleRegistry`] of data-contract rule executors.
//!
//! **Hot path.** The first record of a (topic, record type) resolves its subject and
//! schema through the source (register, look up or fetch the latest) and parses the schema
//! once; the result (frame prefix, parsed schema, compiled validator or descriptor) is
//! cached, so later records cost a read lock and a hash lookup plus the encoding itself.
//! Deserializers cache parsed writer schemas by id and GUID the same way. With
//! use-latest the source is asked for the latest version on every record (the registry
//! client answers from its TTL cache), so a new version is picked up.
//!
//! A runnable tour (register, serialize, deserialize for each format, header mode) is
//! `examples/produce_consume.rs`: `cargo run -p accord-client --example produce_consume`
//! against a registry at `ACCORD_REGISTRY_URL` (default `http://127.0.0.1:8081`).
//!
//! Readers accept every framing: magic byte 0 (id) or 1 (GUID) in the payload, or the
//! `__key_schema_id`/`__value_schema_id` header (pass its value to the
//! `*_with_header` methods).

pub(crate) mod avro;
mod cache;
mod cel;
pub mod encrypt;
pub(crate) mod json;
mod memory;
pub(crate) mod protobuf;
pub mod rules;
mod strategy;

pub use avro::{AvroDeserializer, AvroSerializer};
pub use cel::CelExecutor;
pub use encrypt::{EncryptionCacheStats, EncryptionConfig, EncryptionExecutor, OnUndecryptable};
pub use json::{JsonDeserializer, JsonSerializer};
pub use memory::MemorySource;
pub use protobuf::{ProtobufDeserializer, ProtobufSerializer};
pub use rules::{
    FieldContext, FieldRuleExecutor, FieldTransform, FieldType, FieldValue, JsonSchemaDoc,
    RuleAction, RuleContext, RuleExecutor, RuleMessage, RuleMode, RulePhase, RuleRegistry,
};
pub use strategy::{SubjectNameFn, SubjectNameStrategy};

use crate::error::{ClientError, Result};
use crate::framing;
use crate::types::{RegisteredSchema, SchemaReference, SchemaSource, SchemaSpec};
use accord_compat::SchemaFormat;
use bytes::Bytes;
use rules::SchemaRules;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// Whether a serde handles record keys or values (it picks the `-key`/`-value` subject
/// suffix and the schema-id header name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerdeType {
    Key,
    #[default]
    Value,
}

impl SerdeType {
    /// `"key"` or `"value"`.
    pub fn suffix(self) -> &'static str {
        match self {
            SerdeType::Key => "key",
            SerdeType::Value => "value",
        }
    }

    /// `__key_schema_id` or `__value_schema_id`.
    pub fn header_name(self) -> &'static str {
        framing::header_name(self == SerdeType::Key)
    }
}

/// Which framing serializers write. Readers accept all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SchemaIdFraming {
    /// `0x00 + id` in the payload: Confluent's default, read by every client version.
    #[default]
    IdPrefix,
    /// `0x01 + GUID` in the payload (read by 8.x clients).
    GuidPrefix,
    /// No prefix; `0x01 + GUID` in the schema-id record header (Confluent's
    /// `schema.id.serializer = header`). Use the `serialize_record`/`serialize_into`
    /// methods, which return the header to attach.
    GuidHeader,
}

/// Options of a serializer or deserializer, mirroring Confluent's.
#[derive(Debug, Clone)]
pub struct SerdeConfig {
    /// Key or value.
    pub serde_type: SerdeType,
    /// Register the writer schema when it is not yet under the subject (default `true`).
    pub auto_register_schemas: bool,
    /// Write (and, for deserializers, read into) the subject's latest version instead of
    /// the serde's own schema.
    pub use_latest_version: bool,
    /// Like `use_latest_version`, with the latest version whose metadata properties hold
    /// all these pairs. Takes precedence over `use_latest_version`.
    pub use_latest_with_metadata: Option<Vec<(String, String)>>,
    /// Ask the registry to normalize the schema when registering or looking it up.
    pub normalize_schemas: bool,
    /// How subjects are named.
    pub subject_name_strategy: SubjectNameStrategy,
    /// Which framing serializers write.
    pub framing: SchemaIdFraming,
    /// Data-contract rule executors and actions.
    pub rules: RuleRegistry,
    /// JSON Schema: validate on read too (writes are always validated). Default `false`.
    pub validate_on_read: bool,
    /// Bound on each of the serde's caches (parsed schemas, writer state).
    pub cache_capacity: usize,
}

impl Default for SerdeConfig {
    fn default() -> Self {
        SerdeConfig {
            serde_type: SerdeType::Value,
            auto_register_schemas: true,
            use_latest_version: false,
            use_latest_with_metadata: None,
            normalize_schemas: false,
            subject_name_strategy: SubjectNameStrategy::Topic,
            framing: SchemaIdFraming::IdPrefix,
            rules: RuleRegistry::default(),
            validate_on_read: false,
            cache_capacity: 1000,
        }
    }
}

impl SerdeConfig {
    /// Defaults for record values.
    pub fn value() -> Self {
        Self::default()
    }

    /// Defaults for record keys.
    pub fn key() -> Self {
        SerdeConfig {
            serde_type: SerdeType::Key,
            ..Self::default()
        }
    }

    /// Sets `auto_register_schemas`.
    pub fn auto_register(mut self, on: bool) -> Self {
        self.auto_register_schemas = on;
        self
    }

    /// Sets `use_latest_version`.
    pub fn use_latest(mut self, on: bool) -> Self {
        self.use_latest_version = on;
        self
    }

    /// Sets `use_latest_with_metadata`.
    pub fn use_latest_with_metadata(mut self, pairs: Vec<(String, String)>) -> Self {
        self.use_latest_with_metadata = Some(pairs);
        self
    }

    /// Sets `normalize_schemas`.
    pub fn normalize(mut self, on: bool) -> Self {
        self.normalize_schemas = on;
        self
    }

    /// Sets the subject name strategy.
    pub fn strategy(mut self, s: SubjectNameStrategy) -> Self {
        self.subject_name_strategy = s;
        self
    }

    /// Sets the framing serializers write.
    pub fn framing(mut self, f: SchemaIdFraming) -> Self {
        self.framing = f;
        self
    }

    /// Sets the rule registry.
    pub fn rules(mut self, r: RuleRegistry) -> Self {
        self.rules = r;
        self
    }

    /// Sets `validate_on_read` (JSON Schema).
    pub fn validate_on_read(mut self, on: bool) -> Self {
        self.validate_on_read = on;
        self
    }

    /// Whether the writer (or reader) schema comes from the subject's latest version.
    pub(crate) fn uses_latest(&self) -> bool {
        self.use_latest_version || self.use_latest_with_metadata.is_some()
    }
}

/// The schema-id record header to attach when writing with [`SchemaIdFraming::GuidHeader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIdHeader {
    /// `__key_schema_id` or `__value_schema_id`.
    pub name: &'static str,
    /// `0x01 + GUID [+ Protobuf message indexes]`.
    pub value: Bytes,
}

/// A serialized record: the bytes to send and, in header mode, the header to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializedRecord {
    pub payload: Vec<u8>,
    pub header: Option<SchemaIdHeader>,
}

/// The bytes a writer puts before (or beside) each payload, computed once per schema.
#[derive(Debug, Clone)]
pub(crate) struct Prefix {
    /// Written before the payload (empty in header mode).
    pub(crate) bytes: Vec<u8>,
    /// The header to attach (header mode only).
    pub(crate) header: Option<SchemaIdHeader>,
}

impl Prefix {
    pub(crate) fn new(
        config: &SerdeConfig,
        schema: &RegisteredSchema,
        indexes: Option<&[i32]>,
    ) -> Result<Prefix> {
        let guid = || -> Result<Uuid> {
            let g = schema.guid.as_deref().ok_or_else(|| {
                ClientError::Config(format!(
                    "GUID framing needs the schema's guid, and the registry gave none for \
                     schema id {} (it needs an 8.x-compatible registry)",
                    schema.id
                ))
            })?;
            parse_guid(g)
        };
        let mut bytes = Vec::new();
        let mut header = None;
        match config.framing {
            SchemaIdFraming::IdPrefix => framing::write_id_prefix(&mut bytes, schema.id),
            SchemaIdFraming::GuidPrefix => framing::write_guid_prefix(&mut bytes, &guid()?),
            SchemaIdFraming::GuidHeader => {
                header = Some(SchemaIdHeader {
                    name: config.serde_type.header_name(),
                    value: Bytes::from(framing::schema_id_header_value(&guid()?, indexes)),
                });
            }
        }
        if let (Some(ix), false) = (indexes, header.is_some()) {
            framing::write_message_indexes(&mut bytes, ix);
        }
        Ok(Prefix { bytes, header })
    }
}

/// Parses a registry GUID string.
pub(crate) fn parse_guid(g: &str) -> Result<Uuid> {
    Uuid::parse_str(g)
        .map_err(|e| ClientError::BadResponse(format!("invalid schema guid {g:?}: {e}")))
}

/// Fails unless `schema` has the format a serde handles.
pub(crate) fn expect_format(schema: &RegisteredSchema, format: SchemaFormat) -> Result<()> {
    if schema.format == format {
        Ok(())
    } else {
        Err(ClientError::Schema(format!(
            "schema id {} is a {} schema, not {}",
            schema.id, schema.format, format
        )))
    }
}

/// Limits on reference graphs: deep or huge graphs are registry bugs or attacks.
const MAX_REFERENCE_DEPTH: usize = 64;
const MAX_REFERENCES: usize = 10_000;

/// The transitive closure of `refs`, dependencies before the schemas that use them,
/// each reference once (by subject and version). Cycles are errors.
pub(crate) async fn resolve_references<S: SchemaSource>(
    source: &S,
    refs: &[SchemaReference],
) -> Result<Vec<(SchemaReference, Arc<RegisteredSchema>)>> {
    struct Pending {
        reference: SchemaReference,
        schema: Option<Arc<RegisteredSchema>>,
        next_child: usize,
    }
    let mut out = Vec::new();
    let mut done: HashSet<(String, i32)> = HashSet::new();
    for root in refs {
        let mut stack = vec![Pending {
            reference: root.clone(),
            schema: None,
            next_child: 0,
        }];
        while let Some(top) = stack.last_mut() {
            let key = (top.reference.subject.clone(), top.reference.version);
            if top.schema.is_none() {
                if done.contains(&key) {
                    stack.pop();
                    continue;
                }
                let fetched = source
                    .version(&top.reference.subject, top.reference.version)
                    .await
                    .map_err(|e| {
                        ClientError::Schema(format!(
                            "reference {:?} (subject {:?} version {}): {e}",
                            top.reference.name, top.reference.subject, top.reference.version
                        ))
                    })?;
                top.schema = Some(fetched);
            }
            // Set just above, so this never skips.
            let Some(schema) = top.schema.clone() else {
                continue;
            };
            if let Some(child) = schema.references.get(top.next_child) {
                top.next_child += 1;
                let child_key = (child.subject.clone(), child.version);
                if done.contains(&child_key) {
                    continue;
                }
                if stack.iter().any(|p| {
                    p.reference.subject == child.subject && p.reference.version == child.version
                }) {
                    return Err(ClientError::Schema(format!(
                        "reference cycle through subject {:?} version {}",
                        child.subject, child.version
                    )));
                }
                if stack.len() >= MAX_REFERENCE_DEPTH {
                    return Err(ClientError::Schema(format!(
                        "references nest deeper than {MAX_REFERENCE_DEPTH} levels"
                    )));
                }
                stack.push(Pending {
                    reference: child.clone(),
                    schema: None,
                    next_child: 0,
                });
                continue;
            }
            let finished = stack.pop();
            if let Some(p) = finished {
                done.insert(key);
                if let Some(s) = p.schema {
                    out.push((p.reference, s));
                }
                if out.len() > MAX_REFERENCES {
                    return Err(ClientError::Schema(format!(
                        "more than {MAX_REFERENCES} referenced schemas"
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// How a serializer obtains the writer schema for a subject (register, look up, or
/// latest), per the config.
pub(crate) async fn writer_schema<S: SchemaSource>(
    source: &S,
    config: &SerdeConfig,
    subject: &str,
    spec: Option<&SchemaSpec>,
) -> Result<Arc<RegisteredSchema>> {
    // Boxed: this runs on a cache miss (or once per record with use-latest); kept out
    // of line so the per-record futures that await it stay small.
    Box::pin(async move {
        if let Some(pairs) = &config.use_latest_with_metadata {
            return source.latest_with_metadata(subject, pairs).await;
        }
        if config.use_latest_version {
            return source.latest(subject).await;
        }
        let spec = spec.ok_or_else(|| {
            ClientError::Config(
                "the serializer has no schema of its own: give it one, or set use_latest_version"
                    .into(),
            )
        })?;
        if config.auto_register_schemas {
            source
                .register(subject, spec, config.normalize_schemas)
                .await
        } else {
            source.lookup(subject, spec, config.normalize_schemas).await
        }
    })
    .await
}

/// The reader schema a deserializer uses for `subject` when configured for latest.
pub(crate) async fn latest_reader<S: SchemaSource>(
    source: &S,
    config: &SerdeConfig,
    subject: &str,
) -> Result<Option<Arc<RegisteredSchema>>> {
    // Boxed: this runs on a cache miss (or once per record with use-latest); kept out
    // of line so the per-record futures that await it stay small.
    Box::pin(async move {
        if let Some(pairs) = &config.use_latest_with_metadata {
            return source.latest_with_metadata(subject, pairs).await.map(Some);
        }
        if config.use_latest_version {
            return source.latest(subject).await.map(Some);
        }
        Ok(None)
    })
    .await
}

/// The migration steps between a writer and a reader version of `subject`
/// (Confluent's `getMigrations`): each version crossed that has migration rules, with
/// the version before it, in the order to run them.
pub(crate) async fn migrations<S: SchemaSource>(
    source: &S,
    subject: &str,
    writer: &Arc<RegisteredSchema>,
    reader: &Arc<RegisteredSchema>,
) -> Result<Vec<Migration>> {
    // Boxed: this runs on a cache miss (or once per record with use-latest); kept out
    // of line so the per-record futures that await it stay small.
    Box::pin(async move {
        let writer_version = match writer.version {
            Some(v) if writer.subject.as_deref() == Some(subject) => v,
            _ => {
                let spec = SchemaSpec {
                    format: Some(writer.format),
                    schema: writer.schema.clone(),
                    references: writer.references.clone(),
                    metadata: writer.metadata.clone(),
                    rule_set: writer.rule_set.clone(),
                };
                match source.lookup(subject, &spec, false).await {
                    Ok(found) => found.version.unwrap_or(0),
                    // A writer schema not under the reader's subject has no versions to
                    // migrate across; read it as is.
                    Err(e) if e.is_not_found() => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        };
        let Some(reader_version) = reader.version else {
            return Ok(Vec::new());
        };
        let (mode, first, last) = match writer_version.cmp(&reader_version) {
            std::cmp::Ordering::Less => (rules::RuleMode::Upgrade, writer_version, reader_version),
            std::cmp::Ordering::Greater => {
                (rules::RuleMode::Downgrade, reader_version, writer_version)
            }
            std::cmp::Ordering::Equal => return Ok(Vec::new()),
        };
        let mut versions: HashMap<i32, Arc<RegisteredSchema>> = HashMap::new();
        versions.insert(writer_version, writer.clone());
        versions.insert(reader_version, reader.clone());
        let mut chain = Vec::new();
        for v in first..=last {
            let s = match versions.get(&v) {
                Some(s) => s.clone(),
                None => source.version(subject, v).await?,
            };
            chain.push(Arc::new(SchemaRules::new(s)?));
        }
        let mut steps = Vec::new();
        for pair in chain.windows(2) {
            let [previous, current] = pair else { continue };
            if current.has_rules(rules::RulePhase::Migration, mode) {
                if mode == rules::RuleMode::Upgrade {
                    steps.push((mode, previous.clone(), current.clone()));
                } else {
                    steps.push((mode, current.clone(), previous.clone()));
                }
            }
        }
        if mode == rules::RuleMode::Downgrade {
            steps.reverse();
        }
        Ok(steps)
    })
    .await
}

/// One migration step: the mode, and the schemas (with rules) before and after it.
pub(crate) type Migration = (rules::RuleMode, Arc<SchemaRules>, Arc<SchemaRules>);

/// The migration steps of each (writer id, reader id) pair, found once.
pub(crate) struct MigrationCache(cache::BoundedMap<(i32, i32), Arc<Vec<Migration>>>);

impl MigrationCache {
    pub(crate) fn new(capacity: usize) -> Self {
        MigrationCache(cache::BoundedMap::new(capacity))
    }

    /// Runs the migration rules from `writer` to `reader` on `message`, in order.
    pub(crate) async fn run<S: SchemaSource>(
        &self,
        source: &S,
        target: rules::RuleTarget<'_>,
        writer: &Arc<RegisteredSchema>,
        reader: &Arc<RegisteredSchema>,
        message: &mut rules::RuleMessage<'_>,
    ) -> Result<()> {
        let steps = self.steps(source, target.subject, writer, reader).await?;
        for (mode, from, to) in steps.iter() {
            rules::run_rules(
                target,
                rules::RulePhase::Migration,
                *mode,
                Some(from),
                to,
                rules::Subject::Message(&mut *message),
            )
            .await?;
        }
        Ok(())
    }

    /// The steps from `writer` to `reader` under `subject` (see [`migrations`]).
    async fn steps<S: SchemaSource>(
        &self,
        source: &S,
        subject: &str,
        writer: &Arc<RegisteredSchema>,
        reader: &Arc<RegisteredSchema>,
    ) -> Result<Arc<Vec<Migration>>> {
        let key = (writer.id, reader.id);
        if let Some(m) = self.0.get(&key) {
            return Ok(m);
        }
        let steps = Arc::new(migrations(source, subject, writer, reader).await?);
        self.0.insert(key, steps.clone());
        Ok(steps)
    }
}

/// How deep the rule walkers and the Avro decoder follow nested values. Recursive
/// schemas could otherwise recurse without bound on crafted input; real data nests far
/// less (and deeper values are errors, not crashes).
pub(crate) const MAX_DEPTH: usize = 128;

/// Appends the frame prefix and the payload `encode` writes to `out`, running the
/// schema's WRITE encoding rules on the payload first when it has any (§6.6: the prefix
/// stays in clear). On error `out` is left as it was.
pub(crate) async fn frame_payload(
    target: rules::RuleTarget<'_>,
    schema: &SchemaRules,
    prefix: &Prefix,
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<Option<SchemaIdHeader>> {
    if schema.has_rules(rules::RulePhase::Encoding, rules::RuleMode::Write) {
        let mut payload = Vec::new();
        encode(&mut payload)?;
        rules::run_rules(
            target,
            rules::RulePhase::Encoding,
            rules::RuleMode::Write,
            None,
            schema,
            rules::Subject::Payload(&mut payload),
        )
        .await?;
        out.extend_from_slice(&prefix.bytes);
        out.extend_from_slice(&payload);
        Ok(prefix.header.clone())
    } else {
        frame_plain(prefix, out, encode)
    }
}

/// Appends the prefix and the encoded payload to `out` (nothing of either on an error);
/// returns the header to attach in header mode. No rules run.
pub(crate) fn frame_plain(
    prefix: &Prefix,
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<Option<SchemaIdHeader>> {
    let start = out.len();
    out.extend_from_slice(&prefix.bytes);
    if let Err(e) = encode(out) {
        out.truncate(start);
        return Err(e);
    }
    Ok(prefix.header.clone())
}

/// The payload after the READ encoding rules of the writer schema (borrowed when it
/// has none).
pub(crate) async fn unframe_payload<'p>(
    target: rules::RuleTarget<'_>,
    schema: &SchemaRules,
    payload: &'p [u8],
) -> Result<std::borrow::Cow<'p, [u8]>> {
    if !schema.has_rules(rules::RulePhase::Encoding, rules::RuleMode::Read) {
        return Ok(std::borrow::Cow::Borrowed(payload));
    }
    let mut owned = payload.to_vec();
    rules::run_rules(
        target,
        rules::RulePhase::Encoding,
        rules::RuleMode::Read,
        None,
        schema,
        rules::Subject::Payload(&mut owned),
    )
    .await?;
    Ok(std::borrow::Cow::Owned(owned))
}

/// Convenience for the `serialize` methods: a framed record as one byte vector, refused
/// in header mode (whose header would be lost).
pub(crate) fn no_header(header: Option<SchemaIdHeader>) -> Result<()> {
    match header {
        None => Ok(()),
        Some(_) => Err(ClientError::Config(
            "the serializer writes the schema id in a record header (GuidHeader framing): \
             use serialize_record or serialize_into, which return the header"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Serializer futures are `Send` (they can be spawned on a multi-threaded runtime)
    /// whenever the source's are.
    #[test]
    fn futures_are_send() {
        let source = Arc::new(MemorySource::new());
        let avro = AvroSerializer::with_schema(source.clone(), "\"string\"", SerdeConfig::value());
        let value = apache_avro::types::Value::String("x".into());
        let f = avro.serialize("t", &value);
        assert_send(&f);
        let de = AvroDeserializer::new(source.clone(), SerdeConfig::value());
        let g = de.deserialize("t", &[]);
        assert_send(&g);
        let p = ProtobufSerializer::new(source.clone(), SerdeConfig::value());
        let pd = ProtobufDeserializer::new(source.clone(), SerdeConfig::value());
        let msg = prost_reflect::DynamicMessage::new(
            prost_reflect::DescriptorPool::global()
                .all_messages()
                .next()
                .unwrap_or_else(|| {
                    accord_compat::protobuf::parse("syntax = \"proto3\"; message M {}", &[])
                        .ok()
                        .and_then(|s| s.file_descriptor().messages().next())
                        .expect("a message")
                }),
        );
        let h = p.serialize("t", &msg);
        assert_send(&h);
        let i = pd.deserialize("t", &[]);
        assert_send(&i);
        let j = JsonSerializer::with_schema(source.clone(), "{}", SerdeConfig::value());
        let jv = serde_json::json!({});
        let k = j.serialize_value("t", &jv);
        assert_send(&k);
        let jd = JsonDeserializer::new(source, SerdeConfig::value());
        let l = jd.deserialize::<serde_json::Value>("t", &[]);
        assert_send(&l);
    }
}
