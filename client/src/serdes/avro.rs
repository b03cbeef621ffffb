//! Avro: [`AvroSerializer`] and [`AvroDeserializer`], for `apache_avro::types::Value`
//! and serde types.
//!
//! **Schemas.** A registered schema and its references (fetched through
//! [`SchemaSource::version`], transitively) are parsed with apache-avro's
//! `Schema::parse_str_with_list` (the `parse_list` family, which also accepts a main
//! schema that is not itself a named type). Referenced types are then inlined at their
//! first use, so every later call works on one self-contained schema and apache-avro's
//! single-schema functions apply. The parsed schema and its name table are cached by id
//! and GUID: the hot path parses nothing.
//!
//! **Writing** uses apache-avro: `to_avro_datum` for `Value`s (validated against the
//! schema), `write_avro_datum_ref` for serde types (straight into the output buffer), or
//! `to_value` + `resolve` when the schema reuses a named type (which
//! `write_avro_datum_ref` cannot follow). A top-level `bytes` schema writes the raw bytes
//! without the Avro length prefix, as Confluent's Java and Python serializers do (§6.4
//! example 2), and reads them back the same way.
//!
//! **Reading** uses the decoder in this module, which produces the same
//! `apache_avro::types::Value`s as apache-avro's own `from_avro_datum` but checks every
//! length against the bytes actually left before allocating: apache-avro trusts block
//! counts (an array header claiming 500 million items makes it reserve tens of gigabytes
//! and abort), and turns truncated strings and booleans into `Null` instead of errors.
//! Records are untrusted input, so the reader must be strict. Writer→reader resolution
//! (fields added with defaults, removed fields, promotions) is apache-avro's
//! `Value::resolve`, against a reader schema given to the deserializer or the subject's
//! latest version (use-latest).

use super::cache::{FixedSchema, FixedWriter, SchemaCache};
use super::rules::{
    self, field_type_error, FieldContext, FieldRef, FieldType, FieldValue, FieldVisitor,
    RuleMessage, RuleMode, RulePhase, RuleTarget, SchemaRules, Subject,
};
use super::{
    expect_format, frame_payload, latest_reader, no_header, resolve_references, unframe_payload,
    MigrationCache, SchemaIdHeader, SerdeConfig, SerializedRecord, MAX_DEPTH,
};
use crate::error::{ClientError, Result};
use crate::framing;
use crate::types::{RegisteredSchema, SchemaSource, SchemaSpec};
use accord_compat::SchemaFormat;
use apache_avro::schema::{Name, Namespace, RecordSchema, ResolvedSchema, UnionSchema};
use apache_avro::types::Value;
use apache_avro::{Decimal, Duration, Schema};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A registered Avro schema, parsed and ready for the hot path.
pub(crate) struct AvroEntry {
    pub(crate) rules: Arc<SchemaRules>,
    /// Self-contained: referenced types are inlined.
    pub(crate) schema: Schema,
    /// Every named type by full name, for `Ref` nodes.
    names: HashMap<Name, Schema>,
    /// Top-level `bytes`: written and read raw.
    raw_bytes: bool,
    /// No `Ref` nodes: serde values can be written by apache-avro's schema-aware
    /// serializer directly.
    serde_direct: bool,
    record_name: Option<String>,
}

impl AvroEntry {
    fn id(&self) -> i32 {
        self.rules.registered.id
    }
}

/// Runs an apache-avro schema operation, turning errors and panics (its name parser
/// unwraps) into schema errors.
fn guarded<T>(what: &str, f: impl FnOnce() -> apache_avro::AvroResult<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ClientError::Schema(format!("{what}: {e}"))),
        Err(_) => Err(ClientError::Schema(format!(
            "{what}: apache-avro could not parse it"
        ))),
    }
}

/// Parses a registered schema with its references into an [`AvroEntry`].
pub(crate) async fn parse_entry<S: SchemaSource>(
    source: &S,
    registered: Arc<RegisteredSchema>,
) -> Result<AvroEntry> {
    expect_format(&registered, SchemaFormat::Avro)?;
    let refs = resolve_references(source, &registered.references).await?;
    let mut texts = Vec::with_capacity(refs.len());
    for (r, s) in &refs {
        if s.format != SchemaFormat::Avro {
            return Err(ClientError::Schema(format!(
                "reference {:?} of schema id {} is {}, not AVRO",
                r.name, registered.id, s.format
            )));
        }
        texts.push(s.schema.as_str());
    }
    let what = format!("Avro schema id {}", registered.id);
    let (main, schemata) = guarded(&what, || {
        Schema::parse_str_with_list(&registered.schema, texts.iter().copied())
    })?;
    let entry = build_entry(main, schemata, SchemaRules::new(registered)?, &what)?;
    Ok(entry)
}

fn build_entry(
    main: Schema,
    schemata: Vec<Schema>,
    rules: SchemaRules,
    what: &str,
) -> Result<AvroEntry> {
    let mut defs: HashMap<Name, Schema> = HashMap::new();
    for s in schemata {
        if let Some(n) = s.name() {
            defs.insert(n.clone(), s.clone());
        }
    }
    let mut schema = main;
    let mut defined = HashSet::new();
    inline_refs(&mut schema, &defs, &mut defined, &None, 0)?;
    let names = guarded(what, || {
        ResolvedSchema::try_from(&schema).map(|rs| {
            rs.get_names()
                .iter()
                .map(|(k, v)| (k.clone(), (*v).clone()))
                .collect::<HashMap<Name, Schema>>()
        })
    })?;
    let record_name = match &schema {
        Schema::Record(r) => Some(r.name.fullname(None)),
        _ => None,
    };
    Ok(AvroEntry {
        rules: Arc::new(rules),
        raw_bytes: matches!(schema, Schema::Bytes),
        serde_direct: !contains_ref(&schema, 0),
        names,
        schema,
        record_name,
    })
}

/// Replaces the first use of each referenced type with its definition.
fn inline_refs(
    schema: &mut Schema,
    defs: &HashMap<Name, Schema>,
    defined: &mut HashSet<Name>,
    ns: &Namespace,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(ClientError::Schema(format!(
            "Avro schema nests deeper than {MAX_DEPTH} levels"
        )));
    }
    match schema {
        Schema::Ref { name } => {
            let full = name.fully_qualified_name(ns);
            if !defined.contains(&full) {
                if let Some(def) = defs.get(&full) {
                    *schema = def.clone();
                    inline_refs(schema, defs, defined, ns, depth + 1)?;
                }
            }
        }
        Schema::Record(RecordSchema { name, fields, .. }) => {
            let full = name.fully_qualified_name(ns);
            let inner_ns = full.namespace.clone();
            defined.insert(full);
            for f in fields {
                inline_refs(&mut f.schema, defs, defined, &inner_ns, depth + 1)?;
            }
        }
        Schema::Enum(e) => {
            defined.insert(e.name.fully_qualified_name(ns));
        }
        Schema::Fixed(f) => {
            defined.insert(f.name.fully_qualified_name(ns));
        }
        Schema::Decimal(d) => inline_refs(&mut d.inner, defs, defined, ns, depth + 1)?,
        Schema::Array(a) => inline_refs(&mut a.items, defs, defined, ns, depth + 1)?,
        Schema::Map(m) => inline_refs(&mut m.types, defs, defined, ns, depth + 1)?,
        Schema::Union(u) => {
            let mut variants = u.variants().to_vec();
            for v in &mut variants {
                inline_refs(v, defs, defined, ns, depth + 1)?;
            }
            *u = UnionSchema::new(variants)
                .map_err(|e| ClientError::Schema(format!("Avro union: {e}")))?;
        }
        _ => {}
    }
    Ok(())
}

fn contains_ref(schema: &Schema, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match schema {
        Schema::Ref { .. } => true,
        Schema::Record(r) => r.fields.iter().any(|f| contains_ref(&f.schema, depth + 1)),
        Schema::Decimal(d) => contains_ref(&d.inner, depth + 1),
        Schema::Array(a) => contains_ref(&a.items, depth + 1),
        Schema::Map(m) => contains_ref(&m.types, depth + 1),
        Schema::Union(u) => u.variants().iter().any(|v| contains_ref(v, depth + 1)),
        _ => false,
    }
}

impl super::cache::ParsedEntry for AvroEntry {
    const FORMAT: SchemaFormat = SchemaFormat::Avro;

    async fn parse<S: SchemaSource>(source: &S, registered: Arc<RegisteredSchema>) -> Result<Self> {
        parse_entry(source, registered).await
    }

    fn rules(&self) -> &SchemaRules {
        &self.rules
    }
}

type Writer = FixedWriter<AvroEntry>;

/// Serializes Avro values and serde types into Confluent-framed records.
///
/// The writer schema is the one given to [`new`](Self::new) (registered or looked up
/// under the subject per the config), or the subject's latest version with
/// use-latest.
pub struct AvroSerializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    fixed: FixedSchema<AvroEntry>,
    schemas: SchemaCache<AvroEntry>,
}

impl<S: SchemaSource> AvroSerializer<S> {
    /// A serializer writing with `schema` (text and references; `None` only with
    /// use-latest).
    pub fn new(source: Arc<S>, schema: Option<SchemaSpec>, config: SerdeConfig) -> Self {
        let spec = schema.map(|mut s| {
            s.format.get_or_insert(SchemaFormat::Avro);
            s
        });
        let record_name = spec.as_ref().and_then(|s| record_full_name(&s.schema));
        AvroSerializer {
            source,
            fixed: FixedSchema::new(spec, record_name, config.cache_capacity),
            schemas: SchemaCache::new(config.cache_capacity),
            config,
        }
    }

    /// A serializer writing with the schema `text` (no references).
    pub fn with_schema(source: Arc<S>, text: &str, config: SerdeConfig) -> Self {
        Self::new(
            source,
            Some(SchemaSpec {
                format: Some(SchemaFormat::Avro),
                schema: text.to_owned(),
                ..SchemaSpec::default()
            }),
            config,
        )
    }

    async fn writer(&self, topic: &str) -> Result<Arc<Writer>> {
        self.fixed
            .writer(&*self.source, &self.config, &self.schemas, topic)
            .await
    }

    fn target<'a>(&'a self, topic: &'a str, w: &'a Writer) -> RuleTarget<'a> {
        RuleTarget {
            registry: &self.config.rules,
            topic,
            subject: &w.subject,
            serde_type: self.config.serde_type,
        }
    }

    /// Serializes `value` into a framed record.
    pub async fn serialize(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        no_header(self.serialize_into(topic, value, &mut out).await?)?;
        Ok(out)
    }

    /// Serializes `value`, returning the payload and (in header mode) the header.
    pub async fn serialize_record(&self, topic: &str, value: &Value) -> Result<SerializedRecord> {
        let mut payload = Vec::new();
        let header = self.serialize_into(topic, value, &mut payload).await?;
        Ok(SerializedRecord { payload, header })
    }

    /// Appends the framed record to `out` (reuse one buffer to avoid allocating);
    /// returns the header to attach in header mode.
    pub async fn serialize_into(
        &self,
        topic: &str,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        let w = self.writer(topic).await?;
        let target = self.target(topic, &w);
        if w.entry.rules.has_rules(RulePhase::Domain, RuleMode::Write) {
            let mut v = value.clone();
            run_domain(target, &w.entry, RuleMode::Write, &mut v).await?;
            return frame_payload(target, &w.entry.rules, &w.prefix, out, |buf| {
                encode_value(&w.entry, v, buf)
            })
            .await;
        }
        frame_payload(target, &w.entry.rules, &w.prefix, out, |buf| {
            encode_value(&w.entry, value.clone(), buf)
        })
        .await
    }

    /// Serializes a serde value into a framed record.
    pub async fn serialize_serde<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        no_header(self.serialize_serde_into(topic, value, &mut out).await?)?;
        Ok(out)
    }

    /// [`serialize_into`](Self::serialize_into) for serde values.
    pub async fn serialize_serde_into<T: Serialize>(
        &self,
        topic: &str,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        let w = self.writer(topic).await?;
        let target = self.target(topic, &w);
        let entry = &w.entry;
        if entry.rules.has_rules(RulePhase::Domain, RuleMode::Write) {
            let mut v = serde_to_value(entry, value)?;
            run_domain(target, entry, RuleMode::Write, &mut v).await?;
            return frame_payload(target, &entry.rules, &w.prefix, out, |buf| {
                encode_value(entry, v, buf)
            })
            .await;
        }
        frame_payload(target, &entry.rules, &w.prefix, out, |buf| {
            if entry.serde_direct && !entry.raw_bytes {
                apache_avro::write_avro_datum_ref(&entry.schema, value, buf)
                    .map(|_| ())
                    .map_err(|e| value_error(entry, e))
            } else {
                encode_value(entry, serde_to_value(entry, value)?, buf)
            }
        })
        .await
    }
}

fn value_error(entry: &AvroEntry, e: impl std::fmt::Display) -> ClientError {
    ClientError::Serialization(format!(
        "value does not match Avro schema id {}: {e}",
        entry.id()
    ))
}

/// A serde value as an Avro `Value` shaped by the schema (unions picked, etc.).
fn serde_to_value<T: Serialize>(entry: &AvroEntry, value: &T) -> Result<Value> {
    let v = apache_avro::to_value(value).map_err(|e| value_error(entry, e))?;
    v.resolve(&entry.schema).map_err(|e| value_error(entry, e))
}

fn encode_value(entry: &AvroEntry, value: Value, out: &mut Vec<u8>) -> Result<()> {
    if entry.raw_bytes {
        return match value {
            Value::Bytes(b) => {
                out.extend_from_slice(&b);
                Ok(())
            }
            other => Err(value_error(
                entry,
                format!("a top-level bytes schema needs Value::Bytes, got {other:?}"),
            )),
        };
    }
    let bytes =
        apache_avro::to_avro_datum(&entry.schema, value).map_err(|e| value_error(entry, e))?;
    out.extend_from_slice(&bytes);
    Ok(())
}

async fn run_domain(
    target: RuleTarget<'_>,
    entry: &AvroEntry,
    mode: RuleMode,
    value: &mut Value,
) -> Result<()> {
    let mut msg = RuleMessage::Avro {
        value,
        schema: &entry.schema,
    };
    rules::run_rules(
        target,
        RulePhase::Domain,
        mode,
        None,
        &entry.rules,
        Subject::OwnMessage(&mut msg),
    )
    .await
}

/// The full name of a record schema's JSON text, without parsing its references (the
/// record-name strategies need it before the schema is registered).
fn record_full_name(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let o = v.as_object()?;
    if o.get("type")?.as_str()? != "record" {
        return None;
    }
    let name = o.get("name")?.as_str()?;
    if name.contains('.') {
        return Some(name.to_owned());
    }
    match o.get("namespace").and_then(|n| n.as_str()) {
        Some(ns) if !ns.is_empty() => Some(format!("{ns}.{name}")),
        _ => Some(name.to_owned()),
    }
}

/// Reads Confluent-framed Avro records into `Value`s or serde types.
///
/// Without a reader schema, values come out in the writer's schema. With one (given
/// with [`with_reader_schema`](Self::with_reader_schema), or the subject's latest version
/// with use-latest), they are resolved into it, running migration rules between the
/// versions crossed.
pub struct AvroDeserializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    reader: Option<Arc<AvroEntry>>,
    schemas: SchemaCache<AvroEntry>,
    #[allow(clippy::type_complexity)]
    migrations: MigrationCache,
}

impl<S: SchemaSource> AvroDeserializer<S> {
    /// A deserializer returning values in their writer schema (or the latest, with
    /// use-latest).
    pub fn new(source: Arc<S>, config: SerdeConfig) -> Self {
        AvroDeserializer {
            source,
            schemas: SchemaCache::new(config.cache_capacity),
            migrations: MigrationCache::new(config.cache_capacity),
            config,
            reader: None,
        }
    }

    /// Resolves every value into `schema` (a self-contained apache-avro schema).
    pub fn with_reader_schema(mut self, schema: Schema) -> Result<Self> {
        let reader = RegisteredSchema {
            id: -1,
            guid: None,
            format: SchemaFormat::Avro,
            schema: schema.canonical_form(),
            references: Vec::new(),
            metadata: None,
            rule_set: None,
            subject: None,
            version: None,
        };
        let entry = build_entry(
            schema,
            Vec::new(),
            SchemaRules::new(Arc::new(reader))?,
            "reader schema",
        )?;
        self.reader = Some(Arc::new(entry));
        Ok(self)
    }

    /// Reads a record framed with a prefix.
    pub async fn deserialize(&self, topic: &str, bytes: &[u8]) -> Result<Value> {
        self.read(topic, bytes, None).await
    }

    /// Reads a record whose schema-id header (if the record has one) is `header`.
    pub async fn deserialize_with_header(
        &self,
        topic: &str,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Result<Value> {
        self.read(topic, bytes, header).await
    }

    /// Reads a record into a serde type.
    pub async fn deserialize_serde<T: DeserializeOwned>(
        &self,
        topic: &str,
        bytes: &[u8],
    ) -> Result<T> {
        self.deserialize_serde_with_header(topic, bytes, None).await
    }

    /// Reads a record into a serde type, with its schema-id header.
    pub async fn deserialize_serde_with_header<T: DeserializeOwned>(
        &self,
        topic: &str,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Result<T> {
        let v = self.read(topic, bytes, header).await?;
        apache_avro::from_value::<T>(&v).map_err(|e| {
            ClientError::Serialization(format!("Avro value does not fit the target type: {e}"))
        })
    }

    async fn read(&self, topic: &str, bytes: &[u8], header: Option<&[u8]>) -> Result<Value> {
        let frame = framing::read_frame_with_header(bytes, header, false)?;
        let writer = self.schemas.by_id(&*self.source, frame.schema_id).await?;
        let latest = self.config.uses_latest();
        let wr = &writer.rules;
        let needs_subject = latest
            || wr.has_rules(RulePhase::Encoding, RuleMode::Read)
            || wr.has_rules(RulePhase::Domain, RuleMode::Read);
        if !needs_subject {
            // The hot path: no rules, no registry reader schema.
            let value = decode_payload(&writer, frame.payload)?;
            return match &self.reader {
                Some(r) => resolve(value, &writer, r),
                None => Ok(value),
            };
        }
        // Out of line, so the futures of the hot path above stay small.
        Box::pin(self.read_through(topic, writer, frame.payload)).await
    }

    /// Reading with a reader schema from the registry (use-latest) or rules to run.
    async fn read_through(
        &self,
        topic: &str,
        writer: Arc<AvroEntry>,
        payload: &[u8],
    ) -> Result<Value> {
        let wr = &writer.rules;
        let subject = self.config.subject_name_strategy.subject(
            topic,
            self.config.serde_type,
            writer.record_name.as_deref(),
        )?;
        let target = RuleTarget {
            registry: &self.config.rules,
            topic,
            subject: &subject,
            serde_type: self.config.serde_type,
        };
        let payload = unframe_payload(target, wr, payload).await?;
        let mut value = decode_payload(&writer, &payload)?;
        let reader = match latest_reader(&*self.source, &self.config, &subject).await? {
            Some(r) => Some(self.schemas.entry(&*self.source, r).await?),
            None => self.reader.clone(),
        };
        let Some(reader) = reader.filter(|r| r.id() != writer.id()) else {
            run_domain(target, &writer, RuleMode::Read, &mut value).await?;
            return Ok(value);
        };
        if reader.id() > 0 {
            let mut msg = RuleMessage::Avro {
                value: &mut value,
                schema: &writer.schema,
            };
            self.migrations
                .run(
                    &*self.source,
                    target,
                    &writer.rules.registered,
                    &reader.rules.registered,
                    &mut msg,
                )
                .await?;
        }
        let mut value = resolve(value, &writer, &reader)?;
        run_domain(target, &reader, RuleMode::Read, &mut value).await?;
        Ok(value)
    }
}

fn resolve(value: Value, writer: &AvroEntry, reader: &AvroEntry) -> Result<Value> {
    value.resolve(&reader.schema).map_err(|e| {
        ClientError::Serialization(format!(
            "value written with Avro schema id {} cannot be read with the reader schema: {e}",
            writer.id()
        ))
    })
}

fn decode_payload(entry: &AvroEntry, payload: &[u8]) -> Result<Value> {
    if entry.raw_bytes {
        return Ok(Value::Bytes(payload.to_vec()));
    }
    let mut input = payload;
    let d = Decoder {
        names: &entry.names,
        schema_id: entry.id(),
        items: std::cell::Cell::new(0),
        item_budget: payload.len().saturating_add(MAX_EMPTY_ITEMS),
    };
    d.decode(&entry.schema, &None, &mut input, 0)
}

/// Decodes Avro binary into apache-avro `Value`s, strictly and within the input.
struct Decoder<'s> {
    names: &'s HashMap<Name, Schema>,
    schema_id: i32,
    /// Array and map items decoded so far, across the whole datum.
    items: std::cell::Cell<usize>,
    /// At most one item per input byte, plus [`MAX_EMPTY_ITEMS`].
    item_budget: usize,
}

/// How many items may take no bytes at all (`null`, empty records), across a datum:
/// legal, but not in unbounded numbers (nested arrays of nulls would otherwise turn a
/// few kilobytes into gigabytes of values).
const MAX_EMPTY_ITEMS: usize = 1 << 20;

impl Decoder<'_> {
    fn err(&self, what: impl std::fmt::Display) -> ClientError {
        ClientError::Serialization(format!(
            "bytes do not decode with Avro schema id {}: {what}",
            self.schema_id
        ))
    }

    fn long(&self, input: &mut &[u8]) -> Result<i64> {
        let mut acc: u64 = 0;
        for i in 0..10 {
            let Some((&b, rest)) = input.split_first() else {
                return Err(self.err("truncated varint"));
            };
            *input = rest;
            acc |= u64::from(b & 0x7f) << (i * 7);
            if b & 0x80 == 0 {
                return Ok(((acc >> 1) as i64) ^ -((acc & 1) as i64));
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn int(&self, input: &mut &[u8]) -> Result<i32> {
        let v = self.long(input)?;
        i32::try_from(v).map_err(|_| self.err(format!("int out of range: {v}")))
    }

    fn take<'i>(&self, input: &mut &'i [u8], n: usize) -> Result<&'i [u8]> {
        if n > input.len() {
            return Err(self.err(format!("truncated: {n} bytes needed, {} left", input.len())));
        }
        let (head, rest) = input.split_at(n);
        *input = rest;
        Ok(head)
    }

    fn len(&self, input: &mut &[u8]) -> Result<usize> {
        let n = self.long(input)?;
        let n = usize::try_from(n).map_err(|_| self.err(format!("negative length {n}")))?;
        if n > input.len() {
            return Err(self.err(format!("length {n} exceeds the {} bytes left", input.len())));
        }
        Ok(n)
    }

    fn bytes(&self, input: &mut &[u8]) -> Result<Vec<u8>> {
        let n = self.len(input)?;
        Ok(self.take(input, n)?.to_vec())
    }

    /// The item count of the next block (0 ends the array or map); a negative count is
    /// followed by the block's byte size, which is skipped.
    fn block(
        &self,
        input: &mut &[u8],
        item: &Schema,
        ns: &Namespace,
        taken: usize,
    ) -> Result<usize> {
        let n = self.long(input)?;
        let n = if n < 0 {
            let _size = self.long(input)?;
            n.checked_neg()
                .ok_or_else(|| self.err("block count overflow"))?
        } else {
            n
        };
        let n = usize::try_from(n).map_err(|_| self.err("block count overflow"))?;
        if n > input.len() && !self.may_be_empty(item, ns, 0) {
            return Err(self.err(format!(
                "block of {n} items exceeds the {} bytes left",
                input.len()
            )));
        }
        let total = self.items.get().saturating_add(n);
        if total > self.item_budget {
            return Err(self.err(format!(
                "{total} array or map items ({taken} in this one) from a {}-byte payload",
                self.item_budget - MAX_EMPTY_ITEMS
            )));
        }
        self.items.set(total);
        Ok(n)
    }

    /// Whether a value of `schema` can encode to zero bytes.
    fn may_be_empty(&self, schema: &Schema, ns: &Namespace, depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        match schema {
            Schema::Null => true,
            Schema::Fixed(f) => f.size == 0,
            Schema::Record(r) => {
                let inner = r.name.fully_qualified_name(ns).namespace;
                r.fields
                    .iter()
                    .all(|f| self.may_be_empty(&f.schema, &inner, depth + 1))
            }
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                self.names
                    .get(&full)
                    .is_some_and(|s| self.may_be_empty(s, &full.namespace, depth + 1))
            }
            _ => false,
        }
    }

    fn decode(
        &self,
        schema: &Schema,
        ns: &Namespace,
        input: &mut &[u8],
        depth: usize,
    ) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => match self.take(input, 1)? {
                [0] => Value::Boolean(false),
                [1] => Value::Boolean(true),
                other => return Err(self.err(format!("invalid boolean byte {other:?}"))),
            },
            Schema::Int => Value::Int(self.int(input)?),
            Schema::Long => Value::Long(self.long(input)?),
            Schema::Float => {
                let b = self.take(input, 4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Float(f32::from_le_bytes(a))
            }
            Schema::Double => {
                let b = self.take(input, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Double(f64::from_le_bytes(a))
            }
            Schema::Bytes => Value::Bytes(self.bytes(input)?),
            Schema::String => {
                let b = self.bytes(input)?;
                Value::String(
                    String::from_utf8(b).map_err(|e| self.err(format!("invalid UTF-8: {e}")))?,
                )
            }
            Schema::Fixed(f) => Value::Fixed(f.size, self.take(input, f.size)?.to_vec()),
            Schema::Enum(e) => {
                let i = self.int(input)?;
                let sym = usize::try_from(i)
                    .ok()
                    .and_then(|u| e.symbols.get(u))
                    .ok_or_else(|| {
                        self.err(format!(
                            "enum index {i} out of range for {} ({} symbols)",
                            e.name.fullname(None),
                            e.symbols.len()
                        ))
                    })?;
                Value::Enum(i as u32, sym.clone())
            }
            Schema::Union(u) => {
                let i = self.long(input)?;
                let variant = usize::try_from(i)
                    .ok()
                    .and_then(|x| u.variants().get(x))
                    .ok_or_else(|| {
                        self.err(format!(
                            "union index {i} out of range ({} branches)",
                            u.variants().len()
                        ))
                    })?;
                Value::Union(
                    i as u32,
                    Box::new(self.decode(variant, ns, input, depth + 1)?),
                )
            }
            Schema::Array(a) => {
                let mut items = Vec::new();
                loop {
                    let n = self.block(input, &a.items, ns, items.len())?;
                    if n == 0 {
                        break;
                    }
                    items.reserve(n.min(input.len().max(1)));
                    for _ in 0..n {
                        items.push(self.decode(&a.items, ns, input, depth + 1)?);
                    }
                }
                Value::Array(items)
            }
            Schema::Map(m) => {
                let mut items = HashMap::new();
                loop {
                    let n = self.block(input, &Schema::String, ns, items.len())?;
                    if n == 0 {
                        break;
                    }
                    items.reserve(n.min(input.len()));
                    for _ in 0..n {
                        let k = self.bytes(input)?;
                        let k = String::from_utf8(k)
                            .map_err(|e| self.err(format!("invalid UTF-8 map key: {e}")))?;
                        let v = self.decode(&m.types, ns, input, depth + 1)?;
                        items.insert(k, v);
                    }
                }
                Value::Map(items)
            }
            Schema::Record(r) => {
                let inner = r.name.fully_qualified_name(ns).namespace;
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    fields.push((
                        f.name.clone(),
                        self.decode(&f.schema, &inner, input, depth + 1)?,
                    ));
                }
                Value::Record(fields)
            }
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                let s = self
                    .names
                    .get(&full)
                    .ok_or_else(|| self.err(format!("unknown type {}", full.fullname(None))))?;
                self.decode(s, &full.namespace, input, depth + 1)?
            }
            Schema::Decimal(d) => {
                let b = match d.inner.as_ref() {
                    Schema::Fixed(f) => self.take(input, f.size)?.to_vec(),
                    Schema::Bytes => self.bytes(input)?,
                    other => return Err(self.err(format!("decimal over {other:?}"))),
                };
                Value::Decimal(Decimal::from(b))
            }
            Schema::BigDecimal => {
                let start = *input;
                let n = self.len(input)?;
                let mut inner = self.take(input, n)?;
                // Check the nested length and scale before apache-avro allocates for them.
                let m = self.len(&mut inner)?;
                self.take(&mut inner, m)?;
                self.long(&mut inner)?;
                let mut region = start.get(..start.len() - input.len()).unwrap_or_default();
                apache_avro::from_avro_datum(&Schema::BigDecimal, &mut region, None)
                    .map_err(|e| self.err(e))?
            }
            Schema::Uuid => {
                let b = self.bytes(input)?;
                let u = if b.len() == 16 {
                    uuid::Uuid::from_slice(&b).map_err(|e| self.err(e))?
                } else {
                    let s = std::str::from_utf8(&b).map_err(|e| self.err(e))?;
                    uuid::Uuid::parse_str(s).map_err(|e| self.err(e))?
                };
                Value::Uuid(u)
            }
            Schema::Date => Value::Date(self.int(input)?),
            Schema::TimeMillis => Value::TimeMillis(self.int(input)?),
            Schema::TimeMicros => Value::TimeMicros(self.long(input)?),
            Schema::TimestampMillis => Value::TimestampMillis(self.long(input)?),
            Schema::TimestampMicros => Value::TimestampMicros(self.long(input)?),
            Schema::TimestampNanos => Value::TimestampNanos(self.long(input)?),
            Schema::LocalTimestampMillis => Value::LocalTimestampMillis(self.long(input)?),
            Schema::LocalTimestampMicros => Value::LocalTimestampMicros(self.long(input)?),
            Schema::LocalTimestampNanos => Value::LocalTimestampNanos(self.long(input)?),
            Schema::Duration => {
                let b = self.take(input, 12)?;
                let mut a = [0u8; 12];
                a.copy_from_slice(b);
                Value::Duration(Duration::from(a))
            }
        })
    }
}

/// Which fields of an Avro schema a field-level rule touches, made once per (schema, rule
/// tags) and cached with the schema's rules ([`FieldPlans`](super::rules::FieldPlans)):
/// a record's walk then visits only those fields, and never looks at the others.
///
/// The plan mirrors the schema as the walk meets it: records (by index, so recursive
/// types stay finite), their fields with full names (`ns.Record.field`) and tags (inline
/// `confluent:tags` plus the metadata's tag paths), unions, arrays, maps and named types
/// (`Ref`s) resolved. Each node knows whether a leaf below it is one the rule applies to
/// (`relevant`) and how much deeper the walk can go below it (`height`, capped). A subtree
/// that is not relevant is skipped, unless a value could nest past [`MAX_DEPTH`] in it
/// (recursive types, entered deep): there the walk still descends, so such a value fails
/// as it always did.
pub(crate) struct AvroPlan {
    root: PlanNode,
    records: Vec<RecordPlan>,
}

struct RecordPlan {
    fields: Vec<PlanField>,
    /// The fields a walk not yet near [`MAX_DEPTH`] may have to visit (the others are
    /// untouched leaves): the 3 of 20 fields a rule touches, say.
    candidates: Vec<usize>,
}

struct PlanField {
    name: String,
    full_name: String,
    tags: BTreeSet<String>,
    node: PlanNode,
}

struct PlanNode {
    kind: Kind,
    relevant: bool,
    height: u32,
}

enum Kind {
    /// Nothing to descend into and nothing the rule applies to: logical types, and
    /// primitives of fields the rule does not select (or of no field at all).
    Inert,
    /// A primitive of a field the rule applies to.
    Leaf(Leaf),
    /// A named type, resolved (`None`: not a known name, which the walk passes over).
    Ref(Option<Box<PlanNode>>),
    /// A named type in a schema whose names do not resolve: the walk fails on it.
    Broken(ClientError),
    Record(usize),
    Union(Vec<PlanNode>),
    Array(Box<PlanNode>),
    Map(Box<PlanNode>),
}

/// The primitive schemas a field-level rule sees (others are left alone).
enum Leaf {
    String,
    Bytes,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    Null,
    Enum(Vec<String>),
    Fixed(usize),
}

/// Heights this high may take a walk past [`MAX_DEPTH`] wherever it starts.
const UNBOUNDED: u32 = MAX_DEPTH as u32 + 2;

/// A leaf's value as the visitor gets it: strings and bytes lent, the rest copied.
enum Current<'v> {
    Lent(FieldRef<'v>),
    Owned(FieldValue),
}

impl From<FieldValue> for Current<'_> {
    fn from(v: FieldValue) -> Self {
        Current::Owned(v)
    }
}

impl PlanNode {
    fn new(kind: Kind) -> Self {
        PlanNode {
            kind,
            relevant: false,
            height: 0,
        }
    }

    /// Whether a walk entering this node at `depth` can pass over it: nothing in it is
    /// transformed and no value in it can nest too deep.
    fn skippable(&self, depth: usize) -> bool {
        !self.relevant && depth + self.height as usize <= MAX_DEPTH
    }
}

/// Builds the plan of the rule `visitor` runs for values of `schema`.
pub(crate) fn plan(schema: &Schema, visitor: &FieldVisitor<'_>) -> AvroPlan {
    let names = std::cell::OnceCell::new();
    let mut b = PlanBuilder {
        root: schema,
        names: &names,
        visitor,
        records: Vec::new(),
        memo: HashMap::new(),
    };
    let mut root = b.node(schema, &None, false, 0);
    let mut records = b.records;
    // Relevance and heights of records, to a fixed point (recursive types refer back).
    let mut state = vec![(false, 0u32); records.len()];
    loop {
        let mut changed = false;
        for i in 0..records.len() {
            let now = record_state(&records[i], &state);
            if now != state[i] {
                state[i] = now;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for r in &mut records {
        for f in &mut r.fields {
            settle(&mut f.node, &state);
        }
        r.candidates = (0..r.fields.len())
            .filter(|&i| r.fields[i].node.relevant || r.fields[i].node.height > 0)
            .collect();
    }
    settle(&mut root, &state);
    AvroPlan { root, records }
}

struct PlanBuilder<'a, 'v> {
    root: &'a Schema,
    /// The named types, resolved on the first `Ref` met (most schemas have none).
    names: &'a std::cell::OnceCell<std::result::Result<HashMap<Name, Schema>, ClientError>>,
    visitor: &'v FieldVisitor<'v>,
    records: Vec<RecordPlan>,
    /// Records planned, by schema node and full name.
    memo: HashMap<(usize, Name), usize>,
}

impl<'a> PlanBuilder<'a, '_> {
    /// The plan of `schema` met in namespace `ns`, under a field the rule applies to or
    /// not (`applies`; `false` outside any field).
    fn node(
        &mut self,
        schema: &'a Schema,
        ns: &Namespace,
        applies: bool,
        depth: usize,
    ) -> PlanNode {
        // Schemas were checked to nest at most MAX_DEPTH levels when parsed; this only
        // bounds the recursion for a schema that somehow was not.
        if depth > 4 * MAX_DEPTH {
            return PlanNode::new(Kind::Broken(ClientError::Serialization(format!(
                "value nests deeper than {MAX_DEPTH} levels"
            ))));
        }
        let leaf = |l: Leaf| {
            if applies {
                Kind::Leaf(l)
            } else {
                Kind::Inert
            }
        };
        let kind = match schema {
            Schema::Ref { name } => {
                let full = name.fully_qualified_name(ns);
                let root = self.root;
                let names = self.names.get_or_init(|| {
                    guarded("rule walk", || {
                        ResolvedSchema::try_from(root).map(|rs| {
                            rs.get_names()
                                .iter()
                                .map(|(k, v)| (k.clone(), (*v).clone()))
                                .collect::<HashMap<Name, Schema>>()
                        })
                    })
                });
                match names {
                    Err(e) => Kind::Broken(e.clone()),
                    Ok(names) => Kind::Ref(
                        names
                            .get(&full)
                            .map(|s| Box::new(self.node(s, &full.namespace, applies, depth + 1))),
                    ),
                }
            }
            Schema::Record(r) => {
                let full = r.name.fully_qualified_name(ns);
                let key = (r as *const RecordSchema as usize, full.clone());
                if let Some(&i) = self.memo.get(&key) {
                    return PlanNode::new(Kind::Record(i));
                }
                let i = self.records.len();
                self.records.push(RecordPlan {
                    fields: Vec::new(),
                    candidates: Vec::new(),
                });
                self.memo.insert(key, i);
                let record = full.fullname(None);
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    let full_name = format!("{record}.{}", f.name);
                    let tags = self.visitor.tags(
                        &full_name,
                        inline_tags(f.custom_attributes.get("confluent:tags")),
                    );
                    let applies = self.visitor.applies(&tags);
                    let node = self.node(&f.schema, &full.namespace, applies, depth + 1);
                    fields.push(PlanField {
                        name: f.name.clone(),
                        full_name,
                        tags,
                        node,
                    });
                }
                self.records[i].fields = fields;
                Kind::Record(i)
            }
            Schema::Union(u) => Kind::Union(
                u.variants()
                    .iter()
                    .map(|v| self.node(v, ns, applies, depth + 1))
                    .collect(),
            ),
            Schema::Array(a) => Kind::Array(Box::new(self.node(&a.items, ns, applies, depth + 1))),
            Schema::Map(m) => Kind::Map(Box::new(self.node(&m.types, ns, applies, depth + 1))),
            Schema::String => leaf(Leaf::String),
            Schema::Bytes => leaf(Leaf::Bytes),
            Schema::Int => leaf(Leaf::Int),
            Schema::Long => leaf(Leaf::Long),
            Schema::Float => leaf(Leaf::Float),
            Schema::Double => leaf(Leaf::Double),
            Schema::Boolean => leaf(Leaf::Boolean),
            Schema::Null => leaf(Leaf::Null),
            Schema::Enum(e) => leaf(Leaf::Enum(e.symbols.clone())),
            Schema::Fixed(f) => leaf(Leaf::Fixed(f.size)),
            _ => Kind::Inert,
        };
        PlanNode::new(kind)
    }
}

/// (relevant, height) of a record given the current state of every record.
fn record_state(r: &RecordPlan, state: &[(bool, u32)]) -> (bool, u32) {
    let mut relevant = false;
    let mut height = None;
    for f in &r.fields {
        let (rel, h) = node_state(&f.node, state);
        relevant |= rel;
        height = height.max(Some(h));
    }
    (relevant, height.map_or(0, below))
}

/// (relevant, height) of a node given the current state of every record.
fn node_state(n: &PlanNode, state: &[(bool, u32)]) -> (bool, u32) {
    match &n.kind {
        Kind::Inert | Kind::Ref(None) => (false, 0),
        Kind::Leaf(_) => (true, 0),
        // Never skipped: the walk fails there, as it did.
        Kind::Broken(_) => (true, UNBOUNDED),
        Kind::Record(i) => state[*i],
        Kind::Ref(Some(t)) | Kind::Array(t) | Kind::Map(t) => {
            let (r, h) = node_state(t, state);
            (r, below(h))
        }
        Kind::Union(vs) => {
            let mut relevant = false;
            let mut height = None;
            for v in vs {
                let (r, h) = node_state(v, state);
                relevant |= r;
                height = height.max(Some(h));
            }
            (relevant, height.map_or(0, below))
        }
    }
}

/// The height of a node whose deepest child has height `h`.
fn below(h: u32) -> u32 {
    (h + 1).min(UNBOUNDED)
}

/// Records each node's final relevance and height.
fn settle(n: &mut PlanNode, state: &[(bool, u32)]) {
    match &mut n.kind {
        Kind::Ref(Some(t)) | Kind::Array(t) | Kind::Map(t) => settle(t, state),
        Kind::Union(vs) => vs.iter_mut().for_each(|v| settle(v, state)),
        _ => {}
    }
    (n.relevant, n.height) = node_state(n, state);
}

/// Walks `value` for a field-level rule along its `plan`, calling the visitor on every
/// primitive field the rule applies to (logical types are left alone).
pub(crate) fn walk(plan: &AvroPlan, value: &mut Value, visitor: &FieldVisitor<'_>) -> Result<()> {
    PlanWalk { plan, visitor }.node(&plan.root, value, None, 0)
}

struct PlanWalk<'a> {
    plan: &'a AvroPlan,
    visitor: &'a FieldVisitor<'a>,
}

impl PlanWalk<'_> {
    fn node(
        &self,
        n: &PlanNode,
        value: &mut Value,
        field: Option<&PlanField>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ClientError::Serialization(format!(
                "value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        if n.skippable(depth) {
            return Ok(());
        }
        match (&n.kind, value) {
            (Kind::Broken(e), _) => return Err(e.clone()),
            (Kind::Ref(Some(t)), v) => self.node(t, v, field, depth + 1)?,
            (Kind::Record(i), Value::Record(fields)) => {
                let r = &self.plan.records[*i];
                // Fields that are neither relevant nor lead deeper can be passed over
                // unless their own level is already too deep (which fails the walk).
                let all;
                let visit: &[usize] = if depth + 1 > MAX_DEPTH {
                    all = (0..r.fields.len()).collect::<Vec<_>>();
                    &all
                } else {
                    &r.candidates
                };
                for f in visit.iter().map(|&j| &r.fields[j]) {
                    if f.node.skippable(depth + 1) {
                        continue;
                    }
                    let Some((_, v)) = fields.iter_mut().find(|(n, _)| *n == f.name) else {
                        continue;
                    };
                    self.node(&f.node, v, Some(f), depth + 1)?;
                }
            }
            (Kind::Union(variants), Value::Union(i, inner)) => {
                if let Some(s) = variants.get(*i as usize) {
                    self.node(s, inner, field, depth + 1)?;
                }
            }
            (Kind::Array(items_plan), Value::Array(items)) => {
                for item in items {
                    self.node(items_plan, item, field, depth + 1)?;
                }
            }
            (Kind::Map(values_plan), Value::Map(items)) => {
                for item in items.values_mut() {
                    self.node(values_plan, item, field, depth + 1)?;
                }
            }
            (Kind::Leaf(l), v) => {
                if let Some(f) = field {
                    leaf(l, v, f, self.visitor)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Calls the visitor on a leaf of a field the rule applies to (leaves are planned only
/// for those) and writes back what it returns.
fn leaf(l: &Leaf, value: &mut Value, f: &PlanField, visitor: &FieldVisitor<'_>) -> Result<()> {
    let (field_type, current) = match (l, &*value) {
        (Leaf::String, Value::String(s)) => (FieldType::String, Current::Lent(FieldRef::String(s))),
        (Leaf::Bytes, Value::Bytes(b)) => (FieldType::Bytes, Current::Lent(FieldRef::Bytes(b))),
        (Leaf::Int, Value::Int(i)) => (FieldType::Int, FieldValue::Int(i64::from(*i)).into()),
        (Leaf::Long, Value::Long(i)) => (FieldType::Long, FieldValue::Int(*i).into()),
        (Leaf::Float, Value::Float(x)) => {
            (FieldType::Float, FieldValue::Float(f64::from(*x)).into())
        }
        (Leaf::Double, Value::Double(x)) => (FieldType::Double, FieldValue::Float(*x).into()),
        (Leaf::Boolean, Value::Boolean(b)) => (FieldType::Boolean, FieldValue::Bool(*b).into()),
        (Leaf::Null, Value::Null) => (FieldType::Null, FieldValue::Null.into()),
        (Leaf::Enum(_), Value::Enum(_, s)) => {
            (FieldType::Enum, FieldValue::String(s.clone()).into())
        }
        (Leaf::Fixed(_), Value::Fixed(_, b)) => {
            (FieldType::Fixed, FieldValue::Bytes(b.clone()).into())
        }
        _ => return Ok(()),
    };
    let ctx = FieldContext {
        full_name: &f.full_name,
        name: &f.name,
        field_type,
        tags: &f.tags,
    };
    let out = match current {
        Current::Lent(v) => visitor.visit_lent_selected(&ctx, v)?,
        Current::Owned(v) => visitor.visit_selected(&ctx, v)?,
    };
    let Some(out) = out else {
        return Ok(());
    };
    let bad = |v: &FieldValue| field_type_error(&ctx, v);
    *value = match (l, out) {
        (Leaf::String, FieldValue::String(s)) => Value::String(s),
        (Leaf::Bytes, FieldValue::Bytes(b)) => Value::Bytes(b),
        (Leaf::Int, v) => Value::Int(
            v.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad(&v))?,
        ),
        (Leaf::Long, v) => Value::Long(v.as_i64().ok_or_else(|| bad(&v))?),
        (Leaf::Float, v) => Value::Float(v.as_f64().ok_or_else(|| bad(&v))? as f32),
        (Leaf::Double, v) => Value::Double(v.as_f64().ok_or_else(|| bad(&v))?),
        (Leaf::Boolean, FieldValue::Bool(b)) => Value::Boolean(b),
        (Leaf::Null, FieldValue::Null) => Value::Null,
        (Leaf::Enum(symbols), FieldValue::String(s)) => {
            let i = symbols.iter().position(|x| *x == s).ok_or_else(|| {
                ClientError::Serialization(format!(
                    "rule transform returned {s:?} for enum field {}, which has no such symbol",
                    f.full_name
                ))
            })?;
            Value::Enum(i as u32, s)
        }
        (Leaf::Fixed(size), FieldValue::Bytes(b)) if b.len() == *size => Value::Fixed(*size, b),
        (_, other) => return Err(bad(&other)),
    };
    Ok(())
}

fn inline_tags(v: Option<&serde_json::Value>) -> BTreeSet<String> {
    v.and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The walk before field plans (every field, every record), kept as the oracle the
/// planned walk is checked against.
#[cfg(test)]
mod reference {
    use super::*;

    /// Walks `value` (of `schema`) for a field-level rule, calling the visitor on every
    /// primitive field (logical types are left alone).
    pub(crate) fn walk(
        schema: &Schema,
        value: &mut Value,
        visitor: &FieldVisitor<'_>,
    ) -> Result<()> {
        let w = Walk {
            root: schema,
            names: std::cell::OnceCell::new(),
            visitor,
        };
        w.value(schema, &None, value, None, 0)
    }

    struct Walk<'a> {
        root: &'a Schema,
        /// The named types, resolved on the first `Ref` met: most records have none, and
        /// resolving clones every named schema (per record, since walks are per record).
        names: std::cell::OnceCell<HashMap<Name, Schema>>,
        visitor: &'a FieldVisitor<'a>,
    }

    impl Walk<'_> {
        fn names(&self) -> Result<&HashMap<Name, Schema>> {
            if let Some(n) = self.names.get() {
                return Ok(n);
            }
            let names = guarded("rule walk", || {
                ResolvedSchema::try_from(self.root).map(|rs| {
                    rs.get_names()
                        .iter()
                        .map(|(k, v)| (k.clone(), (*v).clone()))
                        .collect::<HashMap<Name, Schema>>()
                })
            })?;
            Ok(self.names.get_or_init(|| names))
        }
    }

    struct FieldInfo<'a> {
        full_name: &'a str,
        name: &'a str,
        tags: &'a BTreeSet<String>,
    }

    impl Walk<'_> {
        fn value(
            &self,
            schema: &Schema,
            ns: &Namespace,
            value: &mut Value,
            field: Option<&FieldInfo<'_>>,
            depth: usize,
        ) -> Result<()> {
            if depth > MAX_DEPTH {
                return Err(ClientError::Serialization(format!(
                    "value nests deeper than {MAX_DEPTH} levels"
                )));
            }
            match (schema, value) {
                (Schema::Ref { name }, v) => {
                    let full = name.fully_qualified_name(ns);
                    if let Some(s) = self.names()?.get(&full) {
                        self.value(s, &full.namespace, v, field, depth + 1)?;
                    }
                }
                (Schema::Record(r), Value::Record(fields)) => {
                    let full = r.name.fully_qualified_name(ns);
                    let record = full.fullname(None);
                    for f in &r.fields {
                        let Some((_, v)) = fields.iter_mut().find(|(n, _)| *n == f.name) else {
                            continue;
                        };
                        // Not format!: per field and per record, its machinery cost more
                        // than the rest of the walk.
                        let mut full_name = String::with_capacity(record.len() + 1 + f.name.len());
                        full_name.push_str(&record);
                        full_name.push('.');
                        full_name.push_str(&f.name);
                        let tags = self.visitor.tags(
                            &full_name,
                            inline_tags(f.custom_attributes.get("confluent:tags")),
                        );
                        let info = FieldInfo {
                            full_name: &full_name,
                            name: &f.name,
                            tags: &tags,
                        };
                        self.value(&f.schema, &full.namespace, v, Some(&info), depth + 1)?;
                    }
                }
                (Schema::Union(u), Value::Union(i, inner)) => {
                    if let Some(s) = u.variants().get(*i as usize) {
                        self.value(s, ns, inner, field, depth + 1)?;
                    }
                }
                (Schema::Array(a), Value::Array(items)) => {
                    for item in items {
                        self.value(&a.items, ns, item, field, depth + 1)?;
                    }
                }
                (Schema::Map(m), Value::Map(items)) => {
                    for item in items.values_mut() {
                        self.value(&m.types, ns, item, field, depth + 1)?;
                    }
                }
                (s, v) => {
                    if let Some(f) = field {
                        self.leaf(s, v, f)?;
                    }
                }
            }
            Ok(())
        }

        fn leaf(&self, schema: &Schema, value: &mut Value, f: &FieldInfo<'_>) -> Result<()> {
            if !self.visitor.applies(f.tags) {
                return Ok(());
            }
            let (field_type, current) = match (schema, &*value) {
                (Schema::String, Value::String(s)) => {
                    (FieldType::String, FieldValue::String(s.clone()))
                }
                (Schema::Bytes, Value::Bytes(b)) => {
                    (FieldType::Bytes, FieldValue::Bytes(b.clone()))
                }
                (Schema::Int, Value::Int(i)) => (FieldType::Int, FieldValue::Int(i64::from(*i))),
                (Schema::Long, Value::Long(i)) => (FieldType::Long, FieldValue::Int(*i)),
                (Schema::Float, Value::Float(x)) => {
                    (FieldType::Float, FieldValue::Float(f64::from(*x)))
                }
                (Schema::Double, Value::Double(x)) => (FieldType::Double, FieldValue::Float(*x)),
                (Schema::Boolean, Value::Boolean(b)) => (FieldType::Boolean, FieldValue::Bool(*b)),
                (Schema::Null, Value::Null) => (FieldType::Null, FieldValue::Null),
                (Schema::Enum(_), Value::Enum(_, s)) => {
                    (FieldType::Enum, FieldValue::String(s.clone()))
                }
                (Schema::Fixed(_), Value::Fixed(_, b)) => {
                    (FieldType::Fixed, FieldValue::Bytes(b.clone()))
                }
                _ => return Ok(()),
            };
            let ctx = FieldContext {
                full_name: f.full_name,
                name: f.name,
                field_type,
                tags: f.tags,
            };
            let Some(out) = self.visitor.visit(&ctx, current)? else {
                return Ok(());
            };
            let bad = |v: &FieldValue| field_type_error(&ctx, v);
            *value = match (schema, out) {
                (Schema::String, FieldValue::String(s)) => Value::String(s),
                (Schema::Bytes, FieldValue::Bytes(b)) => Value::Bytes(b),
                (Schema::Int, v) => Value::Int(
                    v.as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or_else(|| bad(&v))?,
                ),
                (Schema::Long, v) => Value::Long(v.as_i64().ok_or_else(|| bad(&v))?),
                (Schema::Float, v) => Value::Float(v.as_f64().ok_or_else(|| bad(&v))? as f32),
                (Schema::Double, v) => Value::Double(v.as_f64().ok_or_else(|| bad(&v))?),
                (Schema::Boolean, FieldValue::Bool(b)) => Value::Boolean(b),
                (Schema::Null, FieldValue::Null) => Value::Null,
                (Schema::Enum(e), FieldValue::String(s)) => {
                    let i = e.symbols.iter().position(|x| *x == s).ok_or_else(|| {
                        ClientError::Serialization(format!(
                        "rule transform returned {s:?} for enum field {}, which has no such symbol",
                        f.full_name
                    ))
                    })?;
                    Value::Enum(i as u32, s)
                }
                (Schema::Fixed(fx), FieldValue::Bytes(b)) if b.len() == fx.size => {
                    Value::Fixed(fx.size, b)
                }
                (_, other) => return Err(bad(&other)),
            };
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> AvroEntry {
        let schema = Schema::parse_str(text).expect("schema");
        let reg = RegisteredSchema {
            id: 1,
            guid: None,
            format: SchemaFormat::Avro,
            schema: text.into(),
            references: vec![],
            metadata: None,
            rule_set: None,
            subject: None,
            version: None,
        };
        build_entry(
            schema,
            vec![],
            SchemaRules::new(Arc::new(reg)).expect("rules"),
            "t",
        )
        .expect("entry")
    }

    /// Our decoder agrees with apache-avro's on valid data.
    #[test]
    fn decoder_matches_apache_avro() {
        let text = r#"{"type":"record","name":"R","namespace":"n","fields":[
            {"name":"a","type":"int"},{"name":"b","type":["null","string"]},
            {"name":"c","type":{"type":"array","items":"long"}},
            {"name":"d","type":{"type":"map","values":"double"}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
            {"name":"f","type":{"type":"fixed","name":"F","size":2}},
            {"name":"g","type":"boolean"},{"name":"h","type":"float"},{"name":"i","type":"bytes"},
            {"name":"j","type":"E"},{"name":"k","type":{"type":"int","logicalType":"date"}},
            {"name":"l","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"m","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#;
        let e = entry(text);
        let v = Value::Record(vec![
            ("a".into(), Value::Int(-7)),
            (
                "b".into(),
                Value::Union(1, Box::new(Value::String("hé".into()))),
            ),
            (
                "c".into(),
                Value::Array(vec![Value::Long(1), Value::Long(i64::MIN)]),
            ),
            (
                "d".into(),
                Value::Map([("k".to_string(), Value::Double(1.5))].into()),
            ),
            ("e".into(), Value::Enum(1, "Y".into())),
            ("f".into(), Value::Fixed(2, vec![1, 2])),
            ("g".into(), Value::Boolean(true)),
            ("h".into(), Value::Float(0.25)),
            ("i".into(), Value::Bytes(vec![0, 255])),
            ("j".into(), Value::Enum(0, "X".into())),
            ("k".into(), Value::Date(19000)),
            ("l".into(), Value::TimestampMillis(1_700_000_000_000)),
            ("m".into(), Value::Decimal(Decimal::from(vec![0x01, 0x02]))),
        ]);
        let bytes = apache_avro::to_avro_datum(&e.schema, v.clone()).expect("encode");
        let ours = decode_payload(&e, &bytes).expect("ours");
        let theirs =
            apache_avro::from_avro_datum(&e.schema, &mut bytes.as_slice(), None).expect("theirs");
        assert_eq!(ours, theirs);
        assert_eq!(ours, v);
        // Every strict prefix is an error, never a panic or a silent Null.
        for cut in 0..bytes.len() {
            assert!(
                decode_payload(&e, &bytes[..cut]).is_err(),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn lying_block_counts_are_errors() {
        let e = entry(r#"{"type":"array","items":"long"}"#);
        // 2^40 items claimed, 2 bytes of data.
        let mut bytes = Vec::new();
        let n: i64 = 1 << 40;
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            bytes.push((z as u8) | 0x80);
            z >>= 7;
        }
        bytes.push(z as u8);
        bytes.extend([2, 2]);
        assert!(decode_payload(&e, &bytes).is_err());
        let nulls = entry(r#"{"type":"array","items":"null"}"#);
        // Ten nulls take no bytes: legal.
        assert_eq!(
            decode_payload(&nulls, &[20, 0]).expect("nulls"),
            Value::Array(vec![Value::Null; 10])
        );
        // But arrays of arrays of nulls cannot multiply a few bytes into millions of
        // values: the item budget is per datum.
        let nested = entry(r#"{"type":"array","items":{"type":"array","items":"null"}}"#);
        let mut bytes = vec![0xd0, 0x0f]; // 1000 inner arrays
        for _ in 0..1000 {
            bytes.extend([0x80, 0x89, 0x7a, 0x00]); // 1,000,000 nulls each, then the end
        }
        bytes.push(0);
        assert!(decode_payload(&nested, &bytes).is_err());
    }

    #[test]
    fn record_names() {
        assert_eq!(
            record_full_name(r#"{"type":"record","name":"U","namespace":"a.b","fields":[]}"#),
            Some("a.b.U".into())
        );
        assert_eq!(
            record_full_name(r#"{"type":"record","name":"x.U","namespace":"a.b","fields":[]}"#),
            Some("x.U".into())
        );
        assert_eq!(record_full_name(r#""string""#), None);
    }
}

/// The planned walk against the walk it replaced: same fields visited in the same order
/// with the same names, types and tags, same values written back, same errors.
#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::serdes::rules::testing::{rule, with_visitor, with_visitor_lending, Recorder};
    use crate::serdes::rules::LendingTransform;
    use accord_contracts::{Metadata, Rule};

    fn recorder() -> Recorder {
        Recorder::new(SchemaFormat::Avro)
    }

    /// Runs both walks on copies of `value`; panics where they differ.
    fn same(schema: &Schema, value: &Value, rule: &Rule, metadata: Option<&Metadata>) {
        let old_rec = recorder();
        let mut old = value.clone();
        let old_result = with_visitor(rule, metadata, &old_rec, |v| {
            reference::walk(schema, &mut old, v)
        });
        let old_calls = old_rec.calls.into_inner().expect("lock");
        // Values copied to the transform, then lent to it.
        for lend in [false, true] {
            let new_rec = recorder();
            let mut new = value.clone();
            let lending: Option<&dyn LendingTransform> = lend.then_some(&new_rec);
            let new_result = with_visitor_lending(rule, metadata, &new_rec, lending, |v| {
                let p = plan(schema, v);
                walk(&p, &mut new, v)
            });
            let new_calls = new_rec.calls.into_inner().expect("lock");
            assert_eq!(old_calls, new_calls, "calls differ for {value:?}");
            assert_eq!(
                format!("{old_result:?}"),
                format!("{new_result:?}"),
                "results differ for {value:?}"
            );
            assert_eq!(old, new, "values differ");
        }
    }

    /// Values of a schema, pseudo-random (xorshift), sometimes of the wrong type, with
    /// fields sometimes missing, duplicated or out of order.
    struct Gen {
        state: u64,
        names: HashMap<Name, Schema>,
    }

    impl Gen {
        fn new(schema: &Schema, seed: u64) -> Self {
            let names = ResolvedSchema::try_from(schema)
                .expect("names")
                .get_names()
                .iter()
                .map(|(k, v)| (k.clone(), (*v).clone()))
                .collect();
            Gen {
                state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                names,
            }
        }

        fn below(&mut self, n: u64) -> u64 {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state % n
        }

        fn value(&mut self, s: &Schema, ns: &Namespace, depth: usize) -> Value {
            if self.below(50) == 0 {
                return Value::Boolean(true);
            }
            let deep = depth > 30;
            match s {
                Schema::Null => Value::Null,
                Schema::Boolean => Value::Boolean(self.below(2) == 0),
                Schema::Int => Value::Int(if self.below(20) == 0 {
                    i32::MAX
                } else {
                    self.below(100) as i32
                }),
                Schema::Long => Value::Long(self.below(1000) as i64),
                Schema::Float => Value::Float(0.5),
                Schema::Double => Value::Double(2.25),
                Schema::Bytes => Value::Bytes(vec![1, 2, 3]),
                Schema::String => {
                    let pick = ["a", "bb", "", "ccc", "dd", "boom", "wrong"];
                    let i = if self.below(15) == 0 {
                        5 + self.below(2)
                    } else {
                        self.below(5)
                    };
                    Value::String(pick[i as usize].to_owned())
                }
                Schema::Enum(e) => {
                    let i = self.below(e.symbols.len() as u64) as usize;
                    Value::Enum(i as u32, e.symbols[i].clone())
                }
                Schema::Fixed(f) => Value::Fixed(f.size, (0..f.size as u8).collect()),
                Schema::Array(a) => {
                    let n = if deep { 0 } else { self.below(3) };
                    Value::Array(
                        (0..n)
                            .map(|_| self.value(&a.items, ns, depth + 1))
                            .collect(),
                    )
                }
                Schema::Map(m) => {
                    let n = if deep { 0 } else { self.below(3) };
                    Value::Map(
                        (0..n)
                            .map(|i| (format!("k{i}"), self.value(&m.types, ns, depth + 1)))
                            .collect(),
                    )
                }
                Schema::Union(u) => {
                    let vs = u.variants();
                    let null = vs.iter().position(|v| matches!(v, Schema::Null));
                    let i = match null {
                        Some(n) if deep => n,
                        _ => self.below(vs.len() as u64 + 1) as usize,
                    };
                    // One past the end: an index the schema does not have.
                    match vs.get(i) {
                        Some(v) => Value::Union(i as u32, Box::new(self.value(v, ns, depth + 1))),
                        None => Value::Union(i as u32, Box::new(Value::Null)),
                    }
                }
                Schema::Record(r) => {
                    let full = r.name.fully_qualified_name(ns);
                    let mut fields: Vec<(String, Value)> = r
                        .fields
                        .iter()
                        .map(|f| {
                            (
                                f.name.clone(),
                                self.value(&f.schema, &full.namespace, depth + 1),
                            )
                        })
                        .collect();
                    match self.below(12) {
                        0 => fields.reverse(),
                        1 if !fields.is_empty() => {
                            let i = self.below(fields.len() as u64) as usize;
                            fields.remove(i);
                        }
                        2 if !fields.is_empty() => {
                            let i = self.below(fields.len() as u64) as usize;
                            let mut dup = fields[i].clone();
                            dup.1 = Value::String("boom".into());
                            fields.push(dup);
                        }
                        _ => {}
                    }
                    Value::Record(fields)
                }
                Schema::Ref { name } => {
                    let full = name.fully_qualified_name(ns);
                    let s = self.names.get(&full).cloned().expect("named type");
                    self.value(&s, &full.namespace, depth + 1)
                }
                Schema::Date => Value::Date(3),
                Schema::TimestampMillis => Value::TimestampMillis(5),
                Schema::Decimal(_) => Value::Decimal(Decimal::from(vec![1, 2])),
                Schema::Uuid => Value::Uuid(uuid::Uuid::nil()),
                _ => Value::Null,
            }
        }
    }

    const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
      {"name":"id","type":"long"},
      {"name":"email","type":"string","confluent:tags":["PII"]},
      {"name":"lines","type":["null",{"type":"array","items":{"type":"record","name":"Line","fields":[
          {"name":"sku","type":"string"},
          {"name":"note","type":["null","string"],"confluent:tags":["PII"]},
          {"name":"card","type":{"type":"record","name":"Card","namespace":"pay","fields":[
              {"name":"number","type":"string","confluent:tags":["PII"]},
              {"name":"cvv","type":"int","confluent:tags":["PII"]},
              {"name":"holder","type":{"type":"record","name":"Holder","fields":[
                  {"name":"name","type":"string"}]}}]}}]}}]},
      {"name":"by_name","type":{"type":"map","values":"Line"}},
      {"name":"backup","type":["null","pay.Card"]},
      {"name":"holders","type":{"type":"array","items":{"type":"map","values":"pay.Holder"}}},
      {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"confluent:tags":["PII"]},
      {"name":"kinds","type":{"type":"array","items":"Kind"},"confluent:tags":["PII"]},
      {"name":"digest","type":{"type":"fixed","name":"D","size":4},"confluent:tags":["PII"]},
      {"name":"when","type":{"type":"long","logicalType":"timestamp-millis"},"confluent:tags":["PII"]},
      {"name":"day","type":{"type":"int","logicalType":"date"}},
      {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":2},"confluent:tags":["PII"]},
      {"name":"ref","type":{"type":"string","logicalType":"uuid"},"confluent:tags":["PII"]},
      {"name":"raw","type":"bytes","confluent:tags":["PII"]},
      {"name":"flags","type":{"type":"array","items":"boolean"},"confluent:tags":["PII"]},
      {"name":"score","type":["null","double","string","float"],"confluent:tags":["PII"]},
      {"name":"ratio","type":"float"},
      {"name":"nothing","type":"null","confluent:tags":["PII"]},
      {"name":"address","type":{"type":"record","name":"Addr","fields":[
          {"name":"street","type":"string"},{"name":"zip","type":"string","confluent:tags":["ZIP"]}]},
       "confluent:tags":["PII"]}]}"#;

    const TREE: &str = r#"{"type":"record","name":"Tree","namespace":"t","fields":[
      {"name":"label","type":"string","confluent:tags":["PII"]},
      {"name":"note","type":"string"},
      {"name":"children","type":{"type":"array","items":"Tree"}},
      {"name":"next","type":["null","Tree"]}]}"#;

    /// A recursive part no rule touches, beside a tagged field.
    const CELLS: &str = r#"{"type":"record","name":"Top","namespace":"t","fields":[
      {"name":"secret","type":"string","confluent:tags":["PII"]},
      {"name":"list","type":["null",{"type":"record","name":"Cell","fields":[
          {"name":"v","type":"int"},{"name":"next","type":["null","Cell"]}]}]},
      {"name":"after","type":"string","confluent:tags":["PII"]}]}"#;

    const ROOT_ARRAY: &str = r#"{"type":"array","items":{"type":"record","name":"R","fields":[
      {"name":"a","type":"string","confluent:tags":["PII"]},{"name":"b","type":"int"}]}}"#;

    fn wide() -> String {
        let fields: Vec<serde_json::Value> = (0..20)
            .map(|i| {
                let mut f = serde_json::json!({"name": format!("f{i}"), "type": "string"});
                if [3, 9, 15].contains(&i) {
                    f["confluent:tags"] = serde_json::json!(["PII"]);
                }
                f
            })
            .collect();
        serde_json::json!({"type": "record", "name": "Wide", "namespace": "bench", "fields": fields})
            .to_string()
    }

    fn metadata() -> Metadata {
        serde_json::from_value(serde_json::json!({"tags": {
            "**.street": ["PII"],
            "shop.Line.s?u": ["SKU"],
            "t.Tree.note": ["PII"],
            "t.Cell.v": ["CELL"],
            "pay.Holder.*": ["PII"],
            "bench.Wide.f1?": ["TEENS"]
        }}))
        .expect("metadata")
    }

    #[test]
    fn planned_walk_matches_the_full_walk() {
        let meta = metadata();
        let rules = [
            rule(&["PII"]),
            rule(&[]),
            rule(&["NOPE"]),
            rule(&["ZIP", "SKU"]),
            rule(&["CELL"]),
            rule(&["TEENS"]),
        ];
        for text in [ORDER, TREE, CELLS, ROOT_ARRAY, r#""string""#, &wide()] {
            let schema = Schema::parse_str(text).expect("schema");
            let mut g = Gen::new(&schema, text.len() as u64);
            for n in 0..150 {
                let value = g.value(&schema, &None, 0);
                for r in &rules {
                    same(&schema, &value, r, None);
                    if n % 3 == 0 {
                        same(&schema, &value, r, Some(&meta));
                    }
                }
            }
        }
    }

    /// A value nesting past MAX_DEPTH in a part no rule touches still fails the walk,
    /// as it did before plans; a shallow one passes, and the tagged fields around it
    /// are transformed.
    #[test]
    fn deep_values_in_untouched_recursive_parts_still_fail() {
        let schema = Schema::parse_str(CELLS).expect("schema");
        let cells = |n: usize| {
            let mut v = Value::Union(0, Box::new(Value::Null));
            for i in 0..n {
                v = Value::Union(
                    1,
                    Box::new(Value::Record(vec![
                        ("v".into(), Value::Int(i as i32)),
                        ("next".into(), v),
                    ])),
                );
            }
            Value::Record(vec![
                ("secret".into(), Value::String("s".into())),
                ("list".into(), v),
                ("after".into(), Value::String("a".into())),
            ])
        };
        let pii = rule(&["PII"]);
        for n in [0, 3, 62, 63, 64, 65, 100] {
            same(&schema, &cells(n), &pii, None);
        }
        let rec = recorder();
        let mut deep = cells(100);
        let err = with_visitor(&pii, None, &rec, |v| walk(&plan(&schema, v), &mut deep, v));
        assert!(
            matches!(&err, Err(ClientError::Serialization(m)) if m.contains("nests deeper")),
            "{err:?}"
        );
        let tree = Schema::parse_str(TREE).expect("schema");
        let mut chain = Value::Union(0, Box::new(Value::Null));
        for _ in 0..80 {
            chain = Value::Union(
                1,
                Box::new(Value::Record(vec![
                    ("label".into(), Value::String("x".into())),
                    ("note".into(), Value::String("y".into())),
                    ("children".into(), Value::Array(vec![])),
                    ("next".into(), chain),
                ])),
            );
        }
        let Value::Union(_, top) = chain else {
            unreachable!()
        };
        same(&tree, &top, &pii, None);
        same(&tree, &top, &rule(&["NOPE"]), None);
    }

    /// The plan of 3 tagged fields among 20 visits those 3, and nothing else.
    #[test]
    fn plans_keep_only_the_fields_a_rule_touches() {
        let schema = Schema::parse_str(&wide()).expect("schema");
        let rec = recorder();
        let p = with_visitor(&rule(&["PII"]), None, &rec, |v| plan(&schema, v));
        let Kind::Record(i) = p.root.kind else {
            panic!("a record")
        };
        let touched: Vec<&str> = p.records[i]
            .fields
            .iter()
            .filter(|f| !f.node.skippable(1))
            .map(|f| f.full_name.as_str())
            .collect();
        assert_eq!(
            touched,
            ["bench.Wide.f3", "bench.Wide.f9", "bench.Wide.f15"]
        );
        assert_eq!(p.records[i].candidates, [3, 9, 15]);
        let none = with_visitor(&rule(&["NOPE"]), None, &rec, |v| plan(&schema, v));
        assert!(none.root.skippable(0));
    }
}
