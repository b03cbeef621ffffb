//! Protobuf: [`ProtobufSerializer`] and [`ProtobufDeserializer`], for prost-reflect
//! `DynamicMessage`s and prost-generated types that carry their descriptors
//! (`prost_reflect::ReflectMessage`).
//!
//! **What is registered.** The message's `.proto` file, sent as the base64 of its
//! `FileDescriptorProto` (as Confluent's Python client does; the registry prints and
//! stores its canonical text), with each imported file that is not built into the
//! registry (`google/protobuf/*`, `google/type/*`, `confluent/*`) registered first
//! under a subject named by its import path (Confluent's default reference subject
//! name strategy) and referenced by that name.
//!
//! **Message indexes** are the message's path in the *registered* schema file
//! (confluent-compat.md §6.3), computed once per (topic, message type) and kept with the
//! frame prefix. Each level counts only message declarations, so synthetic map-entry
//! messages are skipped, as Confluent's Java serializer does (its path comes from the
//! parsed `.proto`, which has no map entries). Confluent's Python and Go clients count
//! the descriptor's nested types including map entries: for a message declared *after* a
//! map field in the same parent they write a different index. We follow Java, the
//! reference.
//!
//! **Reading** compiles the writer schema (with its references) through
//! `accord_compat`'s Protobuf module, once per id, picks the message from the indexes
//! (cached per id and index bytes) and decodes into a `DynamicMessage`, or straight into
//! a prost type. With use-latest, the message of the same name in the latest version
//! reads the bytes (a newer reader sees added fields at their defaults).

use super::cache::{resolve_writer, BoundedMap, Resolved, SchemaCache, WriterCache};
use super::rules::{
    self, field_type_error, FieldContext, FieldRef, FieldType, FieldValue, FieldVisitor,
    RuleMessage, RuleMode, RulePhase, RuleTarget, SchemaRules, Subject,
};
use super::{
    expect_format, frame_payload, frame_plain, latest_reader, no_header, resolve_references,
    unframe_payload, MigrationCache, Prefix, SchemaIdHeader, SerdeConfig, SerializedRecord,
    MAX_DEPTH,
};
use crate::error::{ClientError, Result};
use crate::framing::{self, MessageIndexes};
use crate::types::{RegisteredSchema, SchemaReference, SchemaSource, SchemaSpec};
use accord_compat::protobuf::{is_builtin, ProtobufSchema};
use accord_compat::{Reference, SchemaFormat};
use base64::Engine as _;
use prost::Message;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use std::any::TypeId;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A registered Protobuf schema, compiled.
pub(crate) struct ProtoEntry {
    pub(crate) rules: Arc<SchemaRules>,
    schema: ProtobufSchema,
    first: Option<MessageDescriptor>,
    by_indexes: BoundedMap<Vec<u8>, MessageDescriptor>,
}

impl ProtoEntry {
    fn id(&self) -> i32 {
        self.rules.registered.id
    }

    fn file(&self) -> &FileDescriptor {
        self.schema.file_descriptor()
    }

    /// The message the indexes select.
    fn message(&self, ix: &MessageIndexes<'_>) -> Result<MessageDescriptor> {
        if ix.is_first_message() {
            return self.first.clone().ok_or_else(|| {
                ClientError::Schema(format!("Protobuf schema id {} has no messages", self.id()))
            });
        }
        if let Some(m) = self.by_indexes.get(ix.as_bytes()) {
            return Ok(m);
        }
        let mut current: Option<MessageDescriptor> = None;
        for (level, i) in ix.iter().enumerate() {
            let i = usize::try_from(i).unwrap_or(usize::MAX);
            let next = match &current {
                None => self.file().messages().nth(i),
                Some(parent) => parent.child_messages().filter(|m| !m.is_map_entry()).nth(i),
            };
            current = Some(next.ok_or_else(|| {
                ClientError::Frame(format!(
                    "message indexes {:?}: no message at index {i} (level {level}) in schema id {}",
                    ix.to_vec(),
                    self.id()
                ))
            })?);
        }
        let m = current.ok_or_else(|| ClientError::Frame("empty message indexes".into()))?;
        self.by_indexes.insert(ix.as_bytes().to_vec(), m.clone());
        Ok(m)
    }

    /// Checks that the indexes select a message, without taking its descriptor (what a
    /// read into a generated type needs).
    fn check_message(&self, ix: &MessageIndexes<'_>) -> Result<()> {
        if ix.is_first_message() && self.first.is_some() {
            return Ok(());
        }
        self.message(ix).map(|_| ())
    }

    /// The message named `full_name` in this schema's own file.
    fn find(&self, full_name: &str) -> Result<MessageDescriptor> {
        self.schema
            .descriptor_pool()
            .get_message_by_name(full_name)
            .filter(|m| m.parent_file().name() == self.file().name())
            .ok_or_else(|| {
                ClientError::Schema(format!(
                    "message {full_name} is not declared in Protobuf schema id {}",
                    self.id()
                ))
            })
    }
}

/// The path of `message` in its file: indexes among message declarations (map entries
/// skipped), outermost first.
pub fn message_indexes(message: &MessageDescriptor) -> Result<Vec<i32>> {
    let mut path = Vec::new();
    let mut current = message.clone();
    for _ in 0..MAX_DEPTH {
        let (siblings, parent): (Vec<MessageDescriptor>, Option<MessageDescriptor>) =
            match current.parent_message() {
                Some(p) => (
                    p.child_messages().filter(|m| !m.is_map_entry()).collect(),
                    Some(p),
                ),
                None => (current.parent_file().messages().collect(), None),
            };
        let pos = siblings
            .iter()
            .position(|m| m.full_name() == current.full_name())
            .ok_or_else(|| {
                ClientError::Schema(format!(
                    "message {} is not among its parent's messages",
                    current.full_name()
                ))
            })?;
        path.push(i32::try_from(pos).unwrap_or(i32::MAX));
        match parent {
            Some(p) => current = p,
            None => {
                path.reverse();
                return Ok(path);
            }
        }
    }
    Err(ClientError::Schema(format!(
        "message {} nests deeper than {MAX_DEPTH} levels",
        message.full_name()
    )))
}

/// Compiles a registered schema with its references.
pub(crate) async fn parse_entry<S: SchemaSource>(
    source: &S,
    registered: Arc<RegisteredSchema>,
) -> Result<ProtoEntry> {
    expect_format(&registered, SchemaFormat::Protobuf)?;
    let refs = resolve_references(source, &registered.references).await?;
    let mut references = Vec::with_capacity(refs.len());
    for (r, s) in &refs {
        if s.format != SchemaFormat::Protobuf {
            return Err(ClientError::Schema(format!(
                "reference {:?} of schema id {} is {}, not PROTOBUF",
                r.name, registered.id, s.format
            )));
        }
        references.push(Reference::new(r.name.clone(), s.schema.clone()));
    }
    let schema = accord_compat::protobuf::parse(&registered.schema, &references).map_err(|e| {
        ClientError::Schema(format!(
            "Protobuf schema id {}: {}",
            registered.id, e.message
        ))
    })?;
    let first = schema.file_descriptor().messages().next();
    Ok(ProtoEntry {
        rules: Arc::new(SchemaRules::new(registered)?),
        schema,
        first,
        by_indexes: BoundedMap::new(256),
    })
}

impl super::cache::ParsedEntry for ProtoEntry {
    const FORMAT: SchemaFormat = SchemaFormat::Protobuf;

    async fn parse<S: SchemaSource>(source: &S, registered: Arc<RegisteredSchema>) -> Result<Self> {
        parse_entry(source, registered).await
    }

    fn rules(&self) -> &SchemaRules {
        &self.rules
    }
}

struct Writer {
    entry: Arc<ProtoEntry>,
    /// The caller's descriptor this state was made for: the cache is by message name,
    /// and another pool's message of that name (another version of the file) must be
    /// registered or looked up on its own. Pool comparison is a pointer comparison.
    local: MessageDescriptor,
    /// The message in the registered schema (its field options carry the inline tags).
    message: MessageDescriptor,
    subject: String,
    prefix: Prefix,
}

/// Serializes Protobuf messages into Confluent-framed records (prefix, message indexes,
/// payload).
pub struct ProtobufSerializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    writers: WriterCache<Arc<Writer>>,
    /// The same writers by the Rust type of generated messages (see `writer_for`).
    typed: WriterCache<Arc<Writer>, TypeId>,
    schemas: SchemaCache<ProtoEntry>,
    /// Imported files already registered: file name → reference.
    dependencies: BoundedMap<String, SchemaReference>,
}

impl<S: SchemaSource> ProtobufSerializer<S> {
    /// A serializer; the schema comes from each message's descriptor (or the latest
    /// version, with use-latest).
    pub fn new(source: Arc<S>, config: SerdeConfig) -> Self {
        ProtobufSerializer {
            source,
            writers: WriterCache::new(config.cache_capacity),
            typed: WriterCache::new(config.cache_capacity),
            schemas: SchemaCache::new(config.cache_capacity),
            dependencies: BoundedMap::new(config.cache_capacity),
            config,
        }
    }

    /// Finds or makes the writer of `desc` (a cache miss, or every record with use-latest):
    /// the serializers' shared [`resolve_writer`], with the message's `.proto` file (its
    /// imports registered first) as the spec.
    async fn writer(&self, topic: &str, desc: &MessageDescriptor) -> Result<Arc<Writer>> {
        let name = desc.full_name();
        let resolved = resolve_writer(
            &*self.source,
            &self.config,
            &self.schemas,
            topic,
            Some(name),
            async { Ok(Some(Cow::Owned(self.spec_for(&desc.parent_file()).await?))) },
            |id| self.writers.get(topic, name).filter(|w| w.entry.id() == id),
        )
        .await?;
        let (subject, entry) = match resolved {
            Resolved::Current(w) => return Ok(w),
            Resolved::New { subject, entry } => (subject, entry),
        };
        let message = entry.find(name)?;
        let indexes = message_indexes(&message)?;
        let prefix = Prefix::new(&self.config, &entry.rules.registered, Some(&indexes))?;
        let w = Arc::new(Writer {
            entry,
            local: desc.clone(),
            message,
            subject,
            prefix,
        });
        self.writers.insert(topic, name.to_owned(), w.clone());
        Ok(w)
    }

    /// The writer for `message`. A prost-generated type has one descriptor for its whole
    /// life, so once known its writer is found by its Rust type, without building the
    /// descriptor (a pool lookup by name in prost-reflect's generated code) per record.
    /// `DynamicMessage`s can be of any type and go by descriptor; so does use-latest,
    /// whose writer follows the subject's latest version.
    async fn writer_for<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
    ) -> Result<Arc<Writer>> {
        let latest = self.config.uses_latest();
        let type_id = TypeId::of::<M>();
        let generated = type_id != TypeId::of::<DynamicMessage>() && !latest;
        if generated {
            if let Some(w) = self.typed.get(topic, &type_id) {
                return Ok(w);
            }
        }
        let desc = message.descriptor();
        let cached = match latest {
            false => self
                .writers
                .get(topic, desc.full_name())
                .filter(|w| w.local == desc),
            true => None,
        };
        let w = match cached {
            Some(w) => w,
            // Out of line, so the per-record futures that await this stay small.
            None => Box::pin(self.writer(topic, &desc)).await?,
        };
        if generated {
            self.typed.insert(topic, type_id, w.clone());
        }
        Ok(w)
    }

    /// The spec of `file`, its non-built-in imports registered (or looked up) first.
    async fn spec_for(&self, file: &FileDescriptor) -> Result<SchemaSpec> {
        // Imports in dependency order (post-order), each once.
        let mut order: Vec<FileDescriptor> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack: Vec<(FileDescriptor, usize)> = vec![(file.clone(), 0)];
        while let Some((f, next)) = stack.pop() {
            let deps: Vec<FileDescriptor> = f.dependencies().collect();
            if let Some(d) = deps.get(next) {
                stack.push((f.clone(), next + 1));
                if !is_builtin(d.name()) && seen.insert(d.name().to_owned()) {
                    if stack.len() > MAX_DEPTH {
                        return Err(ClientError::Schema("imports nest too deeply".into()));
                    }
                    stack.push((d.clone(), 0));
                }
            } else if f.name() != file.name() {
                order.push(f);
            }
        }
        for dep in &order {
            if self.dependencies.get(dep.name()).is_some() {
                continue;
            }
            let spec = self.file_spec(dep)?;
            let subject = dep.name();
            let registered = if self.config.auto_register_schemas {
                self.source
                    .register(subject, &spec, self.config.normalize_schemas)
                    .await?
            } else if self.config.uses_latest() {
                self.source.latest(subject).await?
            } else {
                self.source
                    .lookup(subject, &spec, self.config.normalize_schemas)
                    .await?
            };
            let version = match registered.version {
                Some(v) => v,
                None => self
                    .source
                    .lookup(subject, &spec, self.config.normalize_schemas)
                    .await?
                    .version
                    .ok_or_else(|| {
                        ClientError::BadResponse(format!(
                            "the registry gave no version for {subject}"
                        ))
                    })?,
            };
            self.dependencies.insert(
                dep.name().to_owned(),
                SchemaReference {
                    name: dep.name().to_owned(),
                    subject: subject.to_owned(),
                    version,
                },
            );
        }
        self.file_spec(file)
    }

    fn file_spec(&self, file: &FileDescriptor) -> Result<SchemaSpec> {
        let mut references = Vec::new();
        for d in file.dependencies() {
            if is_builtin(d.name()) {
                continue;
            }
            references.push(self.dependencies.get(d.name()).ok_or_else(|| {
                ClientError::Schema(format!("import {} was not registered", d.name()))
            })?);
        }
        Ok(SchemaSpec {
            format: Some(SchemaFormat::Protobuf),
            schema: base64::engine::general_purpose::STANDARD
                .encode(file.file_descriptor_proto().encode_to_vec()),
            references,
            metadata: None,
            rule_set: None,
        })
    }

    /// Serializes `message` into a framed record.
    pub async fn serialize<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        no_header(self.serialize_into(topic, message, &mut out).await?)?;
        Ok(out)
    }

    /// Serializes `message`, returning the payload and (in header mode) the header.
    pub async fn serialize_record<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
    ) -> Result<SerializedRecord> {
        let mut payload = Vec::new();
        let header = self.serialize_into(topic, message, &mut payload).await?;
        Ok(SerializedRecord { payload, header })
    }

    /// Appends the framed record to `out`; returns the header to attach in header mode.
    pub async fn serialize_into<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        if let Some(done) = self.try_serialize_into(topic, message, out) {
            return done;
        }
        // Out of line, so this future stays small.
        Box::pin(self.serialize_through(topic, message, out)).await
    }

    /// The warm path of [`serialize_into`](Self::serialize_into) without a future, for
    /// producers that serialize from synchronous code or count every nanosecond: `Some`
    /// with the result when `M` is a prost-generated type whose writer for `topic` is
    /// already known (an earlier `serialize*` call found it) and whose schema has no
    /// WRITE rules; `None`, with `out` untouched, when the record needs the async path
    /// (first use, `DynamicMessage`, use-latest, rules). The bytes are the same either way.
    ///
    /// ```no_run
    /// # async fn f<S: accord_client::SchemaSource>(ser: &accord_client::serdes::ProtobufSerializer<S>,
    /// #     m: &prost_types::Timestamp) -> accord_client::Result<()> {
    /// let mut out = Vec::new();
    /// match ser.try_serialize_into("orders", m, &mut out) {
    ///     Some(done) => done?,
    ///     None => ser.serialize_into("orders", m, &mut out).await?,
    /// };
    /// # Ok(()) }
    /// ```
    pub fn try_serialize_into<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
        out: &mut Vec<u8>,
    ) -> Option<Result<Option<SchemaIdHeader>>> {
        // A generated type whose first (topic, type) writer is cached: no lock, no count.
        let t = TypeId::of::<M>();
        if t == TypeId::of::<DynamicMessage>() || self.config.uses_latest() {
            return None;
        }
        let w = self.typed.first(topic, &t)?;
        let rules = &w.entry.rules;
        if rules.has_rules(RulePhase::Domain, RuleMode::Write)
            || rules.has_rules(RulePhase::Encoding, RuleMode::Write)
        {
            return None;
        }
        Some(frame_plain(&w.prefix, out, |buf| encode(message, buf)))
    }

    /// Serializing with a writer to find, or rules to run.
    async fn serialize_through<M: ReflectMessage + 'static>(
        &self,
        topic: &str,
        message: &M,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        let w = self.writer_for(topic, message).await?;
        let target = RuleTarget {
            registry: &self.config.rules,
            topic,
            subject: &w.subject,
            serde_type: self.config.serde_type,
        };
        if w.entry.rules.has_rules(RulePhase::Domain, RuleMode::Write) {
            // Rules see the message through the registered schema's descriptor.
            let mut dynamic = DynamicMessage::new(w.message.clone());
            dynamic.transcode_from(message).map_err(|e| {
                ClientError::Serialization(format!(
                    "message {} does not fit schema id {}: {e}",
                    w.local.full_name(),
                    w.entry.id()
                ))
            })?;
            let mut msg = RuleMessage::Protobuf {
                message: &mut dynamic,
            };
            rules::run_rules(
                target,
                RulePhase::Domain,
                RuleMode::Write,
                None,
                &w.entry.rules,
                Subject::OwnMessage(&mut msg),
            )
            .await?;
            return frame_payload(target, &w.entry.rules, &w.prefix, out, |buf| {
                encode(&dynamic, buf)
            })
            .await;
        }
        frame_payload(target, &w.entry.rules, &w.prefix, out, |buf| {
            encode(message, buf)
        })
        .await
    }
}

fn encode<M: Message>(m: &M, out: &mut Vec<u8>) -> Result<()> {
    m.encode(out)
        .map_err(|e| ClientError::Serialization(format!("Protobuf encoding: {e}")))
}

/// Reads Confluent-framed Protobuf records into `DynamicMessage`s or prost types.
pub struct ProtobufDeserializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    schemas: SchemaCache<ProtoEntry>,
    migrations: MigrationCache,
}

impl<S: SchemaSource> ProtobufDeserializer<S> {
    /// A deserializer.
    pub fn new(source: Arc<S>, config: SerdeConfig) -> Self {
        ProtobufDeserializer {
            source,
            schemas: SchemaCache::new(config.cache_capacity),
            migrations: MigrationCache::new(config.cache_capacity),
            config,
        }
    }

    /// Reads a record into a `DynamicMessage` of the writer's message type (or the
    /// latest version's, with use-latest).
    pub async fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<DynamicMessage> {
        self.deserialize_with_header(topic, bytes, None).await
    }

    /// [`deserialize`](Self::deserialize) with the record's schema-id header.
    pub async fn deserialize_with_header(
        &self,
        topic: &str,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Result<DynamicMessage> {
        match self.read(topic, bytes, header, false).await? {
            Read::Dynamic(m) => Ok(m),
            Read::Raw { desc, payload } => {
                DynamicMessage::decode(desc, payload).map_err(|e| decode_error(&e))
            }
        }
    }

    /// Reads a record into the prost type `M`.
    pub async fn deserialize_message<M: ReflectMessage + Default>(
        &self,
        topic: &str,
        bytes: &[u8],
    ) -> Result<M> {
        self.deserialize_message_with_header(topic, bytes, None)
            .await
    }

    /// [`deserialize_message`](Self::deserialize_message) with the schema-id header.
    pub async fn deserialize_message_with_header<M: ReflectMessage + Default>(
        &self,
        topic: &str,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Result<M> {
        if let Some(done) = self.try_deserialize_message(bytes, header) {
            return done;
        }
        // Out of line, so this future stays small for the common case above.
        match Box::pin(self.read(topic, bytes, header, true)).await? {
            Read::Raw { payload, .. } => M::decode(payload).map_err(|e| decode_error(&e)),
            Read::Dynamic(m) => m.transcode_to::<M>().map_err(|e| decode_error(&e)),
        }
    }

    /// The warm path of [`deserialize_message_with_header`](Self::deserialize_message_with_header)
    /// without a future: `Some` with the result when the writer schema is cached, has no
    /// READ rules and no reader schema is configured (use-latest); `None` when the record
    /// needs the async path. A malformed frame is `Some(Err(..))` either way.
    pub fn try_deserialize_message<M: ReflectMessage + Default>(
        &self,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Option<Result<M>> {
        match self.plain_payload(bytes, header) {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(payload)) => Some(M::decode(payload).map_err(|e| decode_error(&e))),
        }
    }

    /// The common case of a read into a generated type, without a future: the writer
    /// schema is cached, has no READ rules, and no reader schema is configured. Then
    /// only the indexes are checked (they must select a message) and the payload is
    /// the generated type's to decode. `None` sends the read down the full path.
    fn plain_payload<'p>(
        &self,
        bytes: &'p [u8],
        header: Option<&'p [u8]>,
    ) -> Result<Option<&'p [u8]>> {
        if self.config.uses_latest() {
            return Ok(None);
        }
        let frame = framing::read_frame_with_header(bytes, header, true)?;
        let found;
        let entry = match self.schemas.first(&frame.schema_id) {
            Some(e) => e,
            None => match self.schemas.get(&frame.schema_id) {
                Some(e) => {
                    found = e;
                    &found
                }
                None => return Ok(None),
            },
        };
        let wr = &entry.rules;
        if wr.has_rules(RulePhase::Encoding, RuleMode::Read)
            || wr.has_rules(RulePhase::Domain, RuleMode::Read)
        {
            return Ok(None);
        }
        let indexes = frame
            .indexes
            .ok_or_else(|| ClientError::Frame("missing message indexes".into()))?;
        entry.check_message(&indexes)?;
        Ok(Some(frame.payload))
    }

    async fn read<'p>(
        &self,
        topic: &str,
        bytes: &'p [u8],
        header: Option<&'p [u8]>,
        typed: bool,
    ) -> Result<Read<'p>> {
        let frame = framing::read_frame_with_header(bytes, header, true)?;
        let entry = self.schemas.by_id(&*self.source, frame.schema_id).await?;
        let indexes = frame
            .indexes
            .ok_or_else(|| ClientError::Frame("missing message indexes".into()))?;
        let latest = self.config.uses_latest();
        let wr = &entry.rules;
        let read_rules = wr.has_rules(RulePhase::Encoding, RuleMode::Read)
            || wr.has_rules(RulePhase::Domain, RuleMode::Read);
        let desc = entry.message(&indexes)?;
        if !latest && !read_rules {
            return Ok(Read::Raw {
                desc,
                payload: frame.payload,
            });
        }
        // Out of line, so the futures of the common case above stay small.
        Box::pin(self.read_through(topic, entry, desc, frame.payload, typed)).await
    }

    /// Reading with a reader schema (use-latest) or rules to run.
    async fn read_through<'p>(
        &self,
        topic: &str,
        entry: Arc<ProtoEntry>,
        desc: MessageDescriptor,
        payload: &'p [u8],
        typed: bool,
    ) -> Result<Read<'p>> {
        let wr = &entry.rules;
        let subject = self.config.subject_name_strategy.subject(
            topic,
            self.config.serde_type,
            Some(desc.full_name()),
        )?;
        let target = RuleTarget {
            registry: &self.config.rules,
            topic,
            subject: &subject,
            serde_type: self.config.serde_type,
        };
        let payload = unframe_payload(target, wr, payload).await?;
        let reader = match latest_reader(&*self.source, &self.config, &subject).await? {
            Some(r) => Some(self.schemas.entry(&*self.source, r).await?),
            None => None,
        };
        let reader = reader.filter(|r| r.id() != entry.id());
        let rules_schema = reader.as_ref().unwrap_or(&entry);
        let reader_desc = match &reader {
            Some(r) => r.find(desc.full_name())?,
            None => desc.clone(),
        };
        if typed
            && !rules_schema
                .rules
                .has_rules(RulePhase::Domain, RuleMode::Read)
            && reader.is_none()
        {
            if let std::borrow::Cow::Borrowed(p) = payload {
                return Ok(Read::Raw { desc, payload: p });
            }
        }
        let mut message =
            DynamicMessage::decode(reader_desc, payload.as_ref()).map_err(|e| decode_error(&e))?;
        if let Some(r) = &reader {
            let mut msg = RuleMessage::Protobuf {
                message: &mut message,
            };
            self.migrations
                .run(
                    &*self.source,
                    target,
                    &entry.rules.registered,
                    &r.rules.registered,
                    &mut msg,
                )
                .await?;
        }
        let mut msg = RuleMessage::Protobuf {
            message: &mut message,
        };
        rules::run_rules(
            target,
            RulePhase::Domain,
            RuleMode::Read,
            None,
            &rules_schema.rules,
            Subject::OwnMessage(&mut msg),
        )
        .await?;
        Ok(Read::Dynamic(message))
    }
}

enum Read<'p> {
    /// Bytes to decode with `desc` (or into a prost type), nothing else to do.
    Raw {
        desc: MessageDescriptor,
        payload: &'p [u8],
    },
    Dynamic(DynamicMessage),
}

fn decode_error(e: &prost::DecodeError) -> ClientError {
    ClientError::Serialization(format!("bytes do not decode as the Protobuf message: {e}"))
}

/// Which fields of a Protobuf message type a field-level rule touches, made once per
/// (message type, rule tags) and cached with the schema's rules
/// ([`FieldPlans`](super::rules::FieldPlans)): a message's walk then visits only those
/// fields (and the messages that lead to them), and never looks at the others.
///
/// Every message type reachable from the root has an entry (by index, so recursive types
/// stay finite) listing its fields with full names and tags (inline
/// `(confluent.field_meta).tags` plus the metadata's tag paths) and, for message-typed
/// fields (lists and map values too), the entry of that type (messages are taken to be of
/// their field's declared type, as every decoded or transcoded message is; one that is not
/// is walked in full where its field is visited). Each field knows whether a
/// leaf below it is one the rule applies to and how much deeper messages can nest below
/// it (capped): fields that are not relevant are skipped, unless a value could nest past
/// [`MAX_DEPTH`] there (recursive types, entered deep), where the walk still descends so
/// that such a message fails as it always did.
pub(crate) struct ProtoPlan {
    messages: Vec<MessagePlan>,
}

struct MessagePlan {
    desc: MessageDescriptor,
    fields: Vec<PlanField>,
}

struct PlanField {
    fd: FieldDescriptor,
    full_name: String,
    tags: BTreeSet<String>,
    /// The rule applies to this field's own (scalar) values.
    applies: bool,
    /// The plan of the field's message type (of its items, of its map values).
    message: Option<usize>,
    relevant: bool,
    /// How many more message levels a value of this field can open.
    height: u32,
}

/// Heights this high may take a walk past [`MAX_DEPTH`] wherever it starts.
const UNBOUNDED: u32 = MAX_DEPTH as u32 + 2;

impl PlanField {
    /// Whether a walk in a message at `depth` can pass over this field: nothing in it is
    /// transformed and no message in it can nest too deep.
    fn skippable(&self, depth: usize) -> bool {
        !self.relevant && depth + self.height as usize <= MAX_DEPTH
    }
}

/// Builds the plan of the rule `visitor` runs for messages of type `root`.
pub(crate) fn plan(root: &MessageDescriptor, visitor: &FieldVisitor<'_>) -> ProtoPlan {
    let mut messages: Vec<MessagePlan> = Vec::new();
    // By full name: the types reachable from one message are all in its pool.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut todo = vec![root.clone()];
    index.insert(root.full_name().to_owned(), 0);
    messages.push(MessagePlan {
        desc: root.clone(),
        fields: Vec::new(),
    });
    while let Some(desc) = todo.pop() {
        let i = index[desc.full_name()];
        let mut fields = Vec::new();
        for fd in desc.fields() {
            let full_name = fd.full_name().to_owned();
            let tags = visitor.tags(&full_name, inline_tags(&fd));
            let applies = visitor.applies(&tags);
            let element = if fd.is_map() {
                match fd.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    other => other,
                }
            } else {
                fd.kind()
            };
            let message = match element {
                Kind::Message(m) => Some(match index.get(m.full_name()) {
                    Some(&j) => j,
                    None => {
                        let j = messages.len();
                        index.insert(m.full_name().to_owned(), j);
                        messages.push(MessagePlan {
                            desc: m.clone(),
                            fields: Vec::new(),
                        });
                        todo.push(m);
                        j
                    }
                }),
                _ => None,
            };
            fields.push(PlanField {
                fd,
                full_name,
                tags,
                applies,
                message,
                relevant: false,
                height: 0,
            });
        }
        messages[i].fields = fields;
    }
    // Relevance and heights of message types, to a fixed point (recursive types refer
    // back): a message is relevant when a scalar field the rule applies to, or a
    // relevant message type, is among its fields.
    let mut state = vec![(false, 0u32); messages.len()];
    loop {
        let mut changed = false;
        for i in 0..messages.len() {
            let mut relevant = false;
            let mut height = 0;
            for f in &messages[i].fields {
                let (r, h) = field_state(f, &state);
                relevant |= r;
                height = height.max(h);
            }
            if (relevant, height) != state[i] {
                state[i] = (relevant, height);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for m in &mut messages {
        for f in &mut m.fields {
            (f.relevant, f.height) = field_state(f, &state);
        }
    }
    ProtoPlan { messages }
}

/// (relevant, height) of a field given the state of every message type.
fn field_state(f: &PlanField, state: &[(bool, u32)]) -> (bool, u32) {
    match f.message {
        Some(j) => (state[j].0, (state[j].1 + 1).min(UNBOUNDED)),
        None => (f.applies, 0),
    }
}

/// Walks a message for a field-level rule along its `plan` (made for the message's type).
pub(crate) fn walk(
    plan: &ProtoPlan,
    message: &mut DynamicMessage,
    visitor: &FieldVisitor<'_>,
) -> Result<()> {
    PlanWalk {
        plan,
        visitor,
        tags_cache: HashMap::new(),
    }
    .message(0, message, 0)
}

struct PlanWalk<'a> {
    plan: &'a ProtoPlan,
    visitor: &'a FieldVisitor<'a>,
    /// For messages of a type the plan does not know (a value that is not of its field's
    /// declared type), walked in full as before plans.
    tags_cache: HashMap<String, BTreeSet<String>>,
}

impl PlanWalk<'_> {
    fn message(&mut self, i: usize, message: &mut DynamicMessage, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ClientError::Serialization(format!(
                "message nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let plan = self.plan;
        for f in &plan.messages[i].fields {
            if f.skippable(depth) {
                continue;
            }
            if f.fd.supports_presence() && !message.has_field(&f.fd) {
                continue;
            }
            let value = message.get_field_mut(&f.fd);
            self.value(value, f, depth + 1)?;
        }
        Ok(())
    }

    fn value(&mut self, value: &mut Value, f: &PlanField, depth: usize) -> Result<()> {
        match value {
            Value::Message(m) => {
                let planned = f
                    .message
                    .filter(|&j| self.plan.messages[j].desc == m.descriptor());
                match planned {
                    Some(j) => self.message(j, m, depth),
                    None => walk_message(m, self.visitor, &mut self.tags_cache, depth),
                }
            }
            Value::List(items) => {
                for item in items {
                    self.value(item, f, depth)?;
                }
                Ok(())
            }
            Value::Map(map) => {
                for item in map.values_mut() {
                    self.value(item, f, depth)?;
                }
                Ok(())
            }
            leaf => {
                let info = Field {
                    full_name: &f.full_name,
                    name: f.fd.name(),
                    tags: &f.tags,
                };
                visit_leaf(leaf, &info, self.visitor)
            }
        }
    }
}

/// Walks a message for a field-level rule, every field (a message of a type its plan does
/// not know, and the reference the planned walk is tested against).
#[cfg(test)]
pub(crate) fn walk_full(message: &mut DynamicMessage, visitor: &FieldVisitor<'_>) -> Result<()> {
    let mut tags_cache: HashMap<String, BTreeSet<String>> = HashMap::new();
    walk_message(message, visitor, &mut tags_cache, 0)
}

fn walk_message(
    message: &mut DynamicMessage,
    visitor: &FieldVisitor<'_>,
    tags_cache: &mut HashMap<String, BTreeSet<String>>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(ClientError::Serialization(format!(
            "message nests deeper than {MAX_DEPTH} levels"
        )));
    }
    let desc = message.descriptor();
    for fd in desc.fields() {
        if fd.supports_presence() && !message.has_field(&fd) {
            continue;
        }
        let full_name = fd.full_name().to_owned();
        let tags = match tags_cache.get(&full_name) {
            Some(t) => t.clone(),
            None => {
                let t = visitor.tags(&full_name, inline_tags(&fd));
                tags_cache.insert(full_name.clone(), t.clone());
                t
            }
        };
        let info = Field {
            full_name: &full_name,
            name: fd.name(),
            tags: &tags,
        };
        let value = message.get_field_mut(&fd);
        walk_value(value, &info, visitor, tags_cache, depth + 1)?;
    }
    Ok(())
}

struct Field<'a> {
    full_name: &'a str,
    name: &'a str,
    tags: &'a BTreeSet<String>,
}

fn walk_value(
    value: &mut Value,
    f: &Field<'_>,
    visitor: &FieldVisitor<'_>,
    tags_cache: &mut HashMap<String, BTreeSet<String>>,
    depth: usize,
) -> Result<()> {
    match value {
        Value::Message(m) => walk_message(m, visitor, tags_cache, depth),
        Value::List(items) => {
            for item in items {
                walk_value(item, f, visitor, tags_cache, depth)?;
            }
            Ok(())
        }
        Value::Map(map) => {
            for item in map.values_mut() {
                walk_value(item, f, visitor, tags_cache, depth)?;
            }
            Ok(())
        }
        leaf => visit_leaf(leaf, f, visitor),
    }
}

fn visit_leaf(value: &mut Value, f: &Field<'_>, visitor: &FieldVisitor<'_>) -> Result<()> {
    if !visitor.applies(f.tags) {
        return Ok(());
    }
    let owned = |field_type, v| (field_type, None, Some(v));
    let (field_type, lent, current) = match &*value {
        Value::Bool(b) => owned(FieldType::Boolean, FieldValue::Bool(*b)),
        Value::I32(i) => owned(FieldType::Int, FieldValue::Int(i64::from(*i))),
        Value::I64(i) => owned(FieldType::Long, FieldValue::Int(*i)),
        Value::U32(u) => owned(FieldType::Int, FieldValue::UInt(u64::from(*u))),
        Value::U64(u) => owned(FieldType::Long, FieldValue::UInt(*u)),
        Value::F32(x) => owned(FieldType::Float, FieldValue::Float(f64::from(*x))),
        Value::F64(x) => owned(FieldType::Double, FieldValue::Float(*x)),
        Value::String(s) => (FieldType::String, Some(FieldRef::String(s)), None),
        Value::Bytes(b) => (FieldType::Bytes, Some(FieldRef::Bytes(b)), None),
        Value::EnumNumber(n) => owned(FieldType::Enum, FieldValue::Int(i64::from(*n))),
        _ => return Ok(()),
    };
    let ctx = FieldContext {
        full_name: f.full_name,
        name: f.name,
        field_type,
        tags: f.tags,
    };
    let out = match (lent, current) {
        (Some(v), _) => visitor.visit_lent(&ctx, v)?,
        (None, Some(v)) => visitor.visit(&ctx, v)?,
        (None, None) => None,
    };
    let Some(out) = out else {
        return Ok(());
    };
    let bad = |v: &FieldValue| field_type_error(&ctx, v);
    // The replacement keeps the variant, so the message stays valid for its descriptor.
    let new = match (&*value, out) {
        (Value::Bool(_), FieldValue::Bool(b)) => Value::Bool(b),
        (Value::I32(_), v) => Value::I32(
            v.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad(&v))?,
        ),
        (Value::I64(_), v) => Value::I64(v.as_i64().ok_or_else(|| bad(&v))?),
        (Value::U32(_), v) => Value::U32(
            v.as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad(&v))?,
        ),
        (Value::U64(_), v) => Value::U64(v.as_u64().ok_or_else(|| bad(&v))?),
        (Value::F32(_), v) => Value::F32(v.as_f64().ok_or_else(|| bad(&v))? as f32),
        (Value::F64(_), v) => Value::F64(v.as_f64().ok_or_else(|| bad(&v))?),
        (Value::String(_), FieldValue::String(s)) => Value::String(s),
        (Value::Bytes(_), FieldValue::Bytes(b)) => Value::Bytes(b.into()),
        (Value::EnumNumber(_), v) => Value::EnumNumber(
            v.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad(&v))?,
        ),
        (_, other) => return Err(bad(&other)),
    };
    *value = new;
    Ok(())
}

/// `(confluent.field_meta).tags` of a field, when the schema imports `confluent/meta.proto`.
fn inline_tags(fd: &FieldDescriptor) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(ext) = fd
        .parent_pool()
        .get_extension_by_name("confluent.field_meta")
    else {
        return out;
    };
    let options = fd.options();
    if !options.has_extension(&ext) {
        return out;
    }
    if let Value::Message(meta) = options.get_extension(&ext).as_ref() {
        if let Some(tags) = meta.get_field_by_name("tags") {
            if let Value::List(items) = tags.as_ref() {
                out.extend(items.iter().filter_map(|t| t.as_str().map(str::to_owned)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> ProtobufSchema {
        accord_compat::protobuf::parse(text, &[]).expect("parses")
    }

    #[test]
    fn indexes_skip_map_entries() {
        let s = schema(
            "syntax = \"proto3\"; package p;
             message A { map<string, int32> m = 1; message B { string s = 1; } message C {} }
             message D { message E { message F {} } }",
        );
        let pool = s.descriptor_pool();
        let get = |n: &str| pool.get_message_by_name(n).expect("message");
        assert_eq!(message_indexes(&get("p.A")).ok(), Some(vec![0]));
        assert_eq!(message_indexes(&get("p.A.B")).ok(), Some(vec![0, 0]));
        assert_eq!(message_indexes(&get("p.A.C")).ok(), Some(vec![0, 1]));
        assert_eq!(message_indexes(&get("p.D")).ok(), Some(vec![1]));
        assert_eq!(message_indexes(&get("p.D.E.F")).ok(), Some(vec![1, 0, 0]));
    }
}

/// The planned walk against the full one: same fields visited in the same order with the
/// same names, types and tags, same bytes after, same errors.
#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::serdes::rules::testing::{rule, with_visitor, with_visitor_lending, Recorder};
    use crate::serdes::rules::LendingTransform;
    use accord_contracts::{Metadata, Rule};
    use prost_reflect::MapKey;

    const PROTO: &str = r#"syntax = "proto3";
package t;
import "confluent/meta.proto";

message Order {
  int64 id = 1;
  string email = 2 [(confluent.field_meta).tags = "PII"];
  repeated Line lines = 3;
  map<string, Line> by_sku = 4;
  map<string, string> labels = 5 [(confluent.field_meta).tags = "PII"];
  optional string note = 6 [(confluent.field_meta).tags = "PII"];
  oneof contact {
    string phone = 7 [(confluent.field_meta).tags = "PII"];
    Card card = 8;
  }
  Kind kind = 9 [(confluent.field_meta).tags = "PII"];
  bytes raw = 10 [(confluent.field_meta).tags = "PII"];
  repeated int32 nums = 11 [(confluent.field_meta).tags = "PII"];
  Node tree = 12;
  Empty nothing = 13 [(confluent.field_meta).tags = "PII"];
  uint64 big = 14 [(confluent.field_meta).tags = "PII"];
  double score = 15 [(confluent.field_meta).tags = "PII"];
  bool flag = 16 [(confluent.field_meta).tags = "PII"];
  uint32 small = 17 [(confluent.field_meta).tags = "PII"];
  float ratio = 18 [(confluent.field_meta).tags = "PII"];
  map<int32, Node> nodes = 19;
  repeated Kind kinds = 20 [(confluent.field_meta).tags = "PII"];
}

message Line {
  string sku = 1;
  string secret = 2 [(confluent.field_meta).tags = "PII"];
  Card card = 3;
}

message Card {
  string number = 1 [(confluent.field_meta).tags = "PII"];
  int32 cvv = 2;
}

message Node {
  string label = 1;
  repeated Node children = 2;
  Node next = 3;
  int32 v = 4 [(confluent.field_meta).tags = "CELL"];
}

message Empty {}

enum Kind {
  A = 0;
  B = 1;
}
"#;

    fn recorder() -> Recorder {
        Recorder::new(SchemaFormat::Protobuf)
    }

    /// Runs both walks on copies of `message`; panics where they differ.
    fn same(message: &DynamicMessage, rule: &Rule, metadata: Option<&Metadata>) {
        let old_rec = recorder();
        let mut old = message.clone();
        let old_result = with_visitor(rule, metadata, &old_rec, |v| walk_full(&mut old, v));
        let old_calls = old_rec.calls.into_inner().expect("lock");
        // Values copied to the transform, then lent to it.
        for lend in [false, true] {
            let new_rec = recorder();
            let mut new = message.clone();
            let lending: Option<&dyn LendingTransform> = lend.then_some(&new_rec);
            let new_result = with_visitor_lending(rule, metadata, &new_rec, lending, |v| {
                let p = plan(&new.descriptor(), v);
                walk(&p, &mut new, v)
            });
            let new_calls = new_rec.calls.into_inner().expect("lock");
            assert_eq!(old_calls, new_calls, "calls differ for {message}");
            assert_eq!(format!("{old_result:?}"), format!("{new_result:?}"));
            assert_eq!(old.encode_to_vec(), new.encode_to_vec(), "bytes differ");
        }
    }

    struct Gen(u64);

    impl Gen {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn message(&mut self, desc: &MessageDescriptor, depth: usize) -> DynamicMessage {
            let mut m = DynamicMessage::new(desc.clone());
            for fd in desc.fields() {
                if self.below(4) == 0 {
                    continue;
                }
                let v = if fd.is_map() {
                    let Kind::Message(entry) = fd.kind() else {
                        unreachable!()
                    };
                    let n = if depth > 5 { 0 } else { self.below(3) };
                    let mut map = std::collections::HashMap::new();
                    for i in 0..n {
                        let key = match entry.map_entry_key_field().kind() {
                            Kind::String => MapKey::String(format!("k{i}")),
                            _ => MapKey::I32(i as i32),
                        };
                        let v = self.single(entry.map_entry_value_field().kind(), depth);
                        map.insert(key, v);
                    }
                    Value::Map(map)
                } else if fd.is_list() {
                    let n = if depth > 5 { 0 } else { self.below(3) };
                    Value::List((0..n).map(|_| self.single(fd.kind(), depth)).collect())
                } else {
                    self.single(fd.kind(), depth)
                };
                m.set_field(&fd, v);
            }
            m
        }

        fn single(&mut self, kind: Kind, depth: usize) -> Value {
            match kind {
                Kind::Double => Value::F64(1.5),
                Kind::Float => Value::F32(0.5),
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(if self.below(20) == 0 {
                    i32::MAX
                } else {
                    self.below(10) as i32
                }),
                Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(self.below(10) as i64),
                Kind::Uint32 | Kind::Fixed32 => Value::U32(self.below(10) as u32),
                Kind::Uint64 | Kind::Fixed64 => Value::U64(self.below(10)),
                Kind::Bool => Value::Bool(self.below(2) == 0),
                Kind::String => {
                    let pick = ["a", "", "bb", "ccc", "boom", "wrong"];
                    let i = if self.below(15) == 0 {
                        4 + self.below(2)
                    } else {
                        self.below(4)
                    };
                    Value::String(pick[i as usize].to_owned())
                }
                Kind::Bytes => Value::Bytes(vec![1, 2].into()),
                Kind::Enum(_) => Value::EnumNumber(self.below(2) as i32),
                Kind::Message(m) => Value::Message(if depth > 5 {
                    DynamicMessage::new(m)
                } else {
                    self.message(&m, depth + 1)
                }),
            }
        }
    }

    fn order() -> MessageDescriptor {
        accord_compat::protobuf::parse(PROTO, &[])
            .expect("proto")
            .descriptor_pool()
            .get_message_by_name("t.Order")
            .expect("Order")
    }

    #[test]
    fn planned_walk_matches_the_full_walk() {
        let desc = order();
        let meta: Metadata = serde_json::from_value(serde_json::json!({"tags": {
            "t.Card.cvv": ["PII"], "**.label": ["LBL"], "t.Line.s?u": ["SKU"]
        }}))
        .expect("metadata");
        let rules = [
            rule(&["PII"]),
            rule(&[]),
            rule(&["NOPE"]),
            rule(&["CELL"]),
            rule(&["LBL", "SKU"]),
        ];
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        for _ in 0..200 {
            let m = g.message(&desc, 0);
            for r in &rules {
                same(&m, r, None);
                same(&m, r, Some(&meta));
            }
        }
    }

    /// A message of another type than its field declares (which no decoded or transcoded
    /// message has: only an executor writing one through `get_field_mut` could) is walked
    /// in full when its field is one the plan visits.
    #[test]
    fn a_message_of_an_undeclared_type_is_walked_in_full() {
        let desc = order();
        let line = desc
            .parent_pool()
            .get_message_by_name("t.Line")
            .expect("Line");
        let card = desc.get_field_by_name("card").expect("card");
        let mut m = DynamicMessage::new(desc.clone());
        let mut l = DynamicMessage::new(line);
        l.set_field_by_name("secret", Value::String("s".into()));
        *m.get_field_mut(&card) = Value::Message(l);
        same(&m, &rule(&["PII"]), None);
    }

    /// Messages nesting past MAX_DEPTH in a part no rule touches still fail the walk.
    #[test]
    fn deep_messages_in_untouched_recursive_parts_still_fail() {
        let desc = order();
        let node = desc
            .parent_pool()
            .get_message_by_name("t.Node")
            .expect("Node");
        let next = node.get_field_by_name("next").expect("next");
        let chain = |n: usize| {
            let mut v = DynamicMessage::new(node.clone());
            for _ in 0..n {
                let mut outer = DynamicMessage::new(node.clone());
                outer.set_field(&next, Value::Message(v));
                v = outer;
            }
            let mut m = DynamicMessage::new(desc.clone());
            m.set_field_by_name("email", Value::String("e".into()));
            m.set_field_by_name("tree", Value::Message(v));
            m
        };
        for n in [0, 5, 125, 126, 127, 128, 200] {
            same(&chain(n), &rule(&["PII"]), None);
        }
        let rec = recorder();
        let mut deep = chain(200);
        let err = with_visitor(&rule(&["PII"]), None, &rec, |v| {
            walk(&plan(&desc, v), &mut deep, v)
        });
        assert!(
            matches!(&err, Err(ClientError::Serialization(m)) if m.contains("nests deeper")),
            "{err:?}"
        );
    }
}
