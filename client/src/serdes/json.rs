//! JSON Schema: [`JsonSerializer`] and [`JsonDeserializer`], for `serde_json::Value`
//! and serde types. The payload is the value's compact UTF-8 JSON.
//!
//! Every write is validated against the registered schema with `jsonschema` (the
//! compiled validator is cached by id; references are served from the registry through
//! a retriever, never fetched over the network). Reads validate only when
//! `validate_on_read` is set, as Confluent's deserializer does with
//! `json.fail.invalid.schema`. Schemas without `$schema` are read as draft 7, Confluent's
//! default.
//!
//! JSON values carry no schema, so "reading with a newer schema" is simply parsing into
//! the newer type; with use-latest, migration and READ rules run with the latest
//! version as the target.
//!
//! Field-level rules (`ENCRYPT`, `CEL_FIELD`) walk a value along a [`JsonPlan`] made once
//! per schema and rule tags: the properties a rule touches, through nested objects,
//! `items`, `$ref`s and combinator branches, so an untouched property costs nothing.

use super::cache::{FixedSchema, FixedWriter, SchemaCache};
use super::rules::{
    self, field_type_error, FieldContext, FieldRef, FieldType, FieldValue, FieldVisitor,
    JsonSchemaDoc, RuleMessage, RuleMode, RulePhase, RuleTarget, SchemaRules, Subject,
};
use super::{
    expect_format, frame_payload, latest_reader, no_header, resolve_references, unframe_payload,
    MigrationCache, SchemaIdHeader, SerdeConfig, SerializedRecord, MAX_DEPTH,
};
use crate::error::{ClientError, Result};
use crate::framing;
use crate::types::{RegisteredSchema, SchemaSource, SchemaSpec};
use accord_compat::SchemaFormat;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

/// A registered JSON Schema, parsed; the validator is compiled on first use.
pub(crate) struct JsonEntry {
    pub(crate) rules: Arc<SchemaRules>,
    doc: JsonSchemaDoc,
    validator: OnceLock<std::result::Result<jsonschema::Validator, String>>,
    record_name: Option<String>,
}

impl JsonEntry {
    fn id(&self) -> i32 {
        self.rules.registered.id
    }

    fn validator(&self) -> Result<&jsonschema::Validator> {
        self.validator
            .get_or_init(|| compile(&self.doc))
            .as_ref()
            .map_err(|e| {
                ClientError::Schema(format!(
                    "JSON Schema id {} does not compile: {e}",
                    self.id()
                ))
            })
    }

    fn validate(&self, value: &Value) -> Result<()> {
        let v = self.validator()?;
        let errors: Vec<String> = v
            .iter_errors(value)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("{e} at {}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Serialization(format!(
                "value does not match JSON Schema id {}: {}",
                self.id(),
                errors.join("; ")
            )))
        }
    }
}

/// Serves `$ref`s from the schema's references (by their `name`, as written in the
/// `$ref`, resolved or not against the base URI), and refuses anything else.
struct References(Vec<(String, Value)>);

impl jsonschema::Retrieve for References {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> std::result::Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        find_reference(&self.0, uri)
            .cloned()
            .ok_or_else(|| format!("reference {uri} is not among the schema's references").into())
    }
}

/// The reference document a `$ref` target (without fragment) names.
fn find_reference<'a>(refs: &'a [(String, Value)], target: &str) -> Option<&'a Value> {
    refs.iter()
        .find(|(name, _)| {
            let n = name.trim_start_matches("./");
            target == name
                || target == n
                || target.rsplit_once('/').is_some_and(|(_, last)| last == n)
                || target.ends_with(&format!("/{n}"))
        })
        .map(|(_, v)| v)
}

fn compile(doc: &JsonSchemaDoc) -> std::result::Result<jsonschema::Validator, String> {
    let mut options = jsonschema::options();
    if doc.root.get("$schema").is_none() {
        options = options.with_draft(jsonschema::Draft::Draft7);
    }
    options
        .with_retriever(References(doc.references.clone()))
        .build(&doc.root)
        .map_err(|e| e.to_string())
}

/// Parses a registered schema with its references.
pub(crate) async fn parse_entry<S: SchemaSource>(
    source: &S,
    registered: Arc<RegisteredSchema>,
) -> Result<JsonEntry> {
    expect_format(&registered, SchemaFormat::Json)?;
    let refs = resolve_references(source, &registered.references).await?;
    let mut references = Vec::with_capacity(refs.len());
    for (r, s) in &refs {
        if s.format != SchemaFormat::Json {
            return Err(ClientError::Schema(format!(
                "reference {:?} of schema id {} is {}, not JSON",
                r.name, registered.id, s.format
            )));
        }
        let v: Value = serde_json::from_str(&s.schema).map_err(|e| {
            ClientError::Schema(format!("reference {:?}: invalid JSON: {e}", r.name))
        })?;
        references.push((r.name.clone(), v));
    }
    let root: Value = serde_json::from_str(&registered.schema).map_err(|e| {
        ClientError::Schema(format!(
            "JSON Schema id {}: invalid JSON: {e}",
            registered.id
        ))
    })?;
    Ok(JsonEntry {
        record_name: title(&root),
        doc: JsonSchemaDoc { root, references },
        validator: OnceLock::new(),
        rules: Arc::new(SchemaRules::new(registered)?),
    })
}

fn title(schema: &Value) -> Option<String> {
    schema.get("title")?.as_str().map(str::to_owned)
}

impl super::cache::ParsedEntry for JsonEntry {
    const FORMAT: SchemaFormat = SchemaFormat::Json;

    async fn parse<S: SchemaSource>(source: &S, registered: Arc<RegisteredSchema>) -> Result<Self> {
        parse_entry(source, registered).await
    }

    fn rules(&self) -> &SchemaRules {
        &self.rules
    }

    fn ready(&self) -> Result<()> {
        self.validator().map(|_| ())
    }
}

type Writer = FixedWriter<JsonEntry>;

/// Serializes JSON values and serde types into Confluent-framed records, validated
/// against the schema.
pub struct JsonSerializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    fixed: FixedSchema<JsonEntry>,
    schemas: SchemaCache<JsonEntry>,
}

impl<S: SchemaSource> JsonSerializer<S> {
    /// A serializer writing with `schema` (`None` only with use-latest).
    pub fn new(source: Arc<S>, schema: Option<SchemaSpec>, config: SerdeConfig) -> Self {
        let spec = schema.map(|mut s| {
            s.format = Some(SchemaFormat::Json);
            s
        });
        let record_name = spec
            .as_ref()
            .and_then(|s| serde_json::from_str::<Value>(&s.schema).ok())
            .and_then(|v| title(&v));
        JsonSerializer {
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
                format: Some(SchemaFormat::Json),
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

    /// Serializes a serde value into a framed record.
    pub async fn serialize<T: Serialize>(&self, topic: &str, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        no_header(self.serialize_into(topic, value, &mut out).await?)?;
        Ok(out)
    }

    /// Serializes a `serde_json::Value` without converting it first.
    pub async fn serialize_value(&self, topic: &str, value: &Value) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        no_header(self.write(topic, Cow::Borrowed(value), &mut out).await?)?;
        Ok(out)
    }

    /// [`serialize_value`](Self::serialize_value) into `out`; returns the header to
    /// attach in header mode.
    pub async fn serialize_value_into(
        &self,
        topic: &str,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        self.write(topic, Cow::Borrowed(value), out).await
    }

    /// Serializes `value`, returning the payload and (in header mode) the header.
    pub async fn serialize_record<T: Serialize>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<SerializedRecord> {
        let mut payload = Vec::new();
        let header = self.serialize_into(topic, value, &mut payload).await?;
        Ok(SerializedRecord { payload, header })
    }

    /// Appends the framed record to `out`; returns the header to attach in header mode.
    pub async fn serialize_into<T: Serialize>(
        &self,
        topic: &str,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        let v = serde_json::to_value(value)
            .map_err(|e| ClientError::Serialization(format!("value is not JSON: {e}")))?;
        self.write(topic, Cow::Owned(v), out).await
    }

    async fn write(
        &self,
        topic: &str,
        value: Cow<'_, Value>,
        out: &mut Vec<u8>,
    ) -> Result<Option<SchemaIdHeader>> {
        let w = self.writer(topic).await?;
        let target = RuleTarget {
            registry: &self.config.rules,
            topic,
            subject: &w.subject,
            serde_type: self.config.serde_type,
        };
        let mut value = value;
        if w.entry.rules.has_rules(RulePhase::Domain, RuleMode::Write) {
            let mut owned = value.into_owned();
            run_domain(target, &w.entry, RuleMode::Write, &mut owned).await?;
            value = Cow::Owned(owned);
        }
        w.entry.validate(&value)?;
        frame_payload(target, &w.entry.rules, &w.prefix, out, |buf| {
            serde_json::to_writer(buf, value.as_ref())
                .map_err(|e| ClientError::Serialization(format!("JSON encoding: {e}")))
        })
        .await
    }
}

async fn run_domain(
    target: RuleTarget<'_>,
    entry: &JsonEntry,
    mode: RuleMode,
    value: &mut Value,
) -> Result<()> {
    let mut msg = RuleMessage::Json {
        value,
        schema: &entry.doc,
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

/// Reads Confluent-framed JSON records into `serde_json::Value` or serde types.
pub struct JsonDeserializer<S> {
    source: Arc<S>,
    config: SerdeConfig,
    schemas: SchemaCache<JsonEntry>,
    migrations: MigrationCache,
}

impl<S: SchemaSource> JsonDeserializer<S> {
    /// A deserializer.
    pub fn new(source: Arc<S>, config: SerdeConfig) -> Self {
        JsonDeserializer {
            source,
            schemas: SchemaCache::new(config.cache_capacity),
            migrations: MigrationCache::new(config.cache_capacity),
            config,
        }
    }

    /// Reads a record into `T` (`serde_json::Value` for the generic form).
    pub async fn deserialize<T: DeserializeOwned>(&self, topic: &str, bytes: &[u8]) -> Result<T> {
        self.deserialize_with_header(topic, bytes, None).await
    }

    /// [`deserialize`](Self::deserialize) with the record's schema-id header.
    pub async fn deserialize_with_header<T: DeserializeOwned>(
        &self,
        topic: &str,
        bytes: &[u8],
        header: Option<&[u8]>,
    ) -> Result<T> {
        let frame = framing::read_frame_with_header(bytes, header, false)?;
        let writer = self.schemas.by_id(&*self.source, frame.schema_id).await?;
        let latest = self.config.uses_latest();
        let wr = &writer.rules;
        let plain = !latest
            && !self.config.validate_on_read
            && !wr.has_rules(RulePhase::Encoding, RuleMode::Read)
            && !wr.has_rules(RulePhase::Domain, RuleMode::Read);
        if plain {
            return serde_json::from_slice(frame.payload).map_err(|e| parse_error(&writer, &e));
        }
        // Out of line, so the futures of the common case above stay small.
        let value = Box::pin(self.read_through(topic, &writer, frame.payload)).await?;
        serde_json::from_value(value).map_err(|e| parse_error(&writer, &e))
    }

    /// Reading with validation, a reader schema (use-latest) or rules to run.
    async fn read_through(
        &self,
        topic: &str,
        writer: &Arc<JsonEntry>,
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
        let mut value: Value =
            serde_json::from_slice(&payload).map_err(|e| parse_error(writer, &e))?;
        if self.config.validate_on_read {
            writer.validate(&value)?;
        }
        let reader = match latest_reader(&*self.source, &self.config, &subject).await? {
            Some(r) => Some(self.schemas.entry(&*self.source, r).await?),
            None => None,
        };
        let reader = reader.filter(|r| r.id() != writer.id());
        if let Some(r) = &reader {
            let mut msg = RuleMessage::Json {
                value: &mut value,
                schema: &writer.doc,
            };
            self.migrations
                .run(
                    &*self.source,
                    target,
                    &writer.rules.registered,
                    &r.rules.registered,
                    &mut msg,
                )
                .await?;
        }
        let rules_schema = reader.as_ref().unwrap_or(writer);
        run_domain(target, rules_schema, RuleMode::Read, &mut value).await?;
        Ok(value)
    }
}

fn parse_error(entry: &JsonEntry, e: &serde_json::Error) -> ClientError {
    ClientError::Serialization(format!(
        "payload written with JSON Schema id {} does not parse into the target type: {e}",
        entry.id()
    ))
}

/// Walks `value` for a field-level rule: properties of objects (following `$ref`s,
/// `items`, the first applicable `allOf`/`anyOf`/`oneOf` branch and type lists), calling
/// the visitor on primitive fields. Paths start at `$`, as in Confluent.
pub(crate) fn walk(
    doc: &JsonSchemaDoc,
    value: &mut Value,
    visitor: &FieldVisitor<'_>,
) -> Result<()> {
    let w = Walk { doc, visitor };
    w.node(&doc.root, &doc.root, value, "$", None, 0)
}

struct Walk<'a> {
    doc: &'a JsonSchemaDoc,
    visitor: &'a FieldVisitor<'a>,
}

struct Field<'a> {
    full_name: &'a str,
    name: &'a str,
    tags: &'a BTreeSet<String>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `schema`'s declared `type` (if any) admits `value`.
fn admits(schema: &Value, value: &Value) -> bool {
    let t = json_type(value);
    let ok = |s: &str| s == t || (s == "number" && t == "integer");
    match schema.get("type") {
        None => true,
        Some(Value::String(s)) => ok(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).any(ok),
        Some(_) => false,
    }
}

/// The schema a `$ref` in document `root` points at, and the document it lives in.
fn deref<'a>(
    schema: &'a JsonSchemaDoc,
    root: &'a Value,
    r: &str,
) -> Option<(&'a Value, &'a Value)> {
    let (doc, fragment) = match r.split_once('#') {
        Some(("", frag)) => (root, frag),
        Some((target, frag)) => (find_reference(&schema.references, target)?, frag),
        None => (find_reference(&schema.references, r)?, ""),
    };
    let node = if fragment.is_empty() {
        doc
    } else {
        doc.pointer(fragment)?
    };
    Some((doc, node))
}

/// The tags a property's schema carries inline (`confluent:tags`).
fn inline_tags(prop: &Value) -> BTreeSet<String> {
    prop.get("confluent:tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn too_deep() -> ClientError {
    ClientError::Serialization(format!(
        "value or schema nests deeper than {MAX_DEPTH} levels"
    ))
}

impl<'a> Walk<'a> {
    /// The schema a `$ref` points at, and the document it lives in.
    fn deref(&self, root: &'a Value, r: &str) -> Option<(&'a Value, &'a Value)> {
        deref(self.doc, root, r)
    }

    fn node(
        &self,
        root: &'a Value,
        schema: &'a Value,
        value: &mut Value,
        path: &str,
        field: Option<&Field<'_>>,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if value.is_null() || !schema.is_object() {
            return Ok(());
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some((doc, target)) = self.deref(root, r) {
                return self.node(doc, target, value, path, field, depth + 1);
            }
            return Ok(());
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(key) {
                let chosen = branches.iter().find(|b| {
                    let b = match b.get("$ref").and_then(Value::as_str) {
                        Some(r) => self.deref(root, r).map(|(_, t)| t),
                        None => Some(*b),
                    };
                    b.is_some_and(|b| admits(b, value))
                });
                if let Some(b) = chosen {
                    return self.node(root, b, value, path, field, depth + 1);
                }
            }
        }
        if let (Some(items), Value::Array(values)) = (schema.get("items"), &mut *value) {
            for v in values {
                self.node(root, items, v, path, field, depth + 1)?;
            }
            return Ok(());
        }
        let field_type = field_type_of(schema);
        if field_type == FieldType::Record {
            let (Some(Value::Object(props)), Value::Object(obj)) =
                (schema.get("properties"), &mut *value)
            else {
                return Ok(());
            };
            for (name, prop) in props {
                let Some(child) = obj.get_mut(name) else {
                    continue;
                };
                let mut full_name = String::with_capacity(path.len() + 1 + name.len());
                full_name.push_str(path);
                full_name.push('.');
                full_name.push_str(name);
                let tags = self.visitor.tags(&full_name, inline_tags(prop));
                let info = Field {
                    full_name: &full_name,
                    name,
                    tags: &tags,
                };
                self.node(root, prop, child, &full_name, Some(&info), depth + 1)?;
            }
            return Ok(());
        }
        if let Some(f) = field {
            if matches!(
                field_type,
                FieldType::Enum
                    | FieldType::String
                    | FieldType::Int
                    | FieldType::Double
                    | FieldType::Boolean
            ) {
                leaf(value, field_type, f, self.visitor, false)?;
            }
        }
        Ok(())
    }
}

/// Confluent's `get_type` for JSON Schema nodes.
fn field_type_of(schema: &Value) -> FieldType {
    if schema.get("const").is_some() || schema.get("enum").is_some() {
        return FieldType::Enum;
    }
    let props = schema.get("properties").and_then(Value::as_object);
    match schema.get("type").and_then(Value::as_str) {
        Some("object") if props.is_some_and(|p| !p.is_empty()) => FieldType::Record,
        Some("object") => FieldType::Map,
        Some("array") => FieldType::Array,
        Some("string") => FieldType::String,
        Some("integer") => FieldType::Int,
        Some("number") => FieldType::Double,
        Some("boolean") => FieldType::Boolean,
        Some("null") => FieldType::Null,
        _ if props.is_some() => FieldType::Record,
        _ => FieldType::Null,
    }
}

/// Calls the visitor on a primitive value of field `f` and writes back what it returns;
/// `selected`: the field is known to be one the rule applies to (a planned leaf).
fn leaf(
    value: &mut Value,
    field_type: FieldType,
    f: &Field<'_>,
    visitor: &FieldVisitor<'_>,
    selected: bool,
) -> Result<()> {
    if !selected && !visitor.applies(f.tags) {
        return Ok(());
    }
    let ctx = FieldContext {
        full_name: f.full_name,
        name: f.name,
        field_type,
        tags: f.tags,
    };
    // Strings are lent to the transform, the rest copied.
    let owned = match &*value {
        Value::String(_) => None,
        Value::Bool(b) => Some(FieldValue::Bool(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(FieldValue::Int(i)),
            (_, Some(u), _) => Some(FieldValue::UInt(u)),
            (_, _, Some(x)) => Some(FieldValue::Float(x)),
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let out = match (owned, &*value) {
        (Some(v), _) => visitor.visit_selected(&ctx, v)?,
        (None, Value::String(s)) => visitor.visit_lent_selected(&ctx, FieldRef::String(s))?,
        (None, _) => return Ok(()),
    };
    let Some(out) = out else {
        return Ok(());
    };
    *value = match out {
        FieldValue::Null => Value::Null,
        FieldValue::Bool(b) => Value::Bool(b),
        FieldValue::Int(i) => Value::from(i),
        FieldValue::UInt(u) => Value::from(u),
        FieldValue::Float(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| field_type_error(&ctx, &FieldValue::Float(x)))?,
        FieldValue::String(s) => Value::String(s),
        other @ FieldValue::Bytes(_) => return Err(field_type_error(&ctx, &other)),
    };
    Ok(())
}

/// Plan nodes one JSON Schema plan may hold. Recursive `$ref`s are expanded as deep as a
/// walk can go (`MAX_DEPTH`); a schema whose expansion needs more nodes (a recursive
/// type with several recursive properties, say) is expanded less deep (`DEPTH_CAPS`),
/// and values reaching past that depth are walked in full there, as before plans.
const PLAN_NODES: usize = 8192;

/// The depths a plan is unrolled to, tried in turn until one fits in [`PLAN_NODES`].
const DEPTH_CAPS: [usize; 9] = [MAX_DEPTH, 64, 32, 16, 8, 4, 2, 1, 0];

/// The field plan of a rule for one JSON Schema (see `FieldPlans` in rules.rs): the
/// walker's decisions that depend on the schema alone, made once, so that a value's walk
/// enters only the parts where a field the rule applies to can be, and a property costs
/// nothing when nothing under it is touched.
///
/// It is the walk of [`walk`] unrolled over the schema: each node stands for one schema
/// node met at one path (full names are paths, `$.a.b`, so a schema reached by two paths
/// is planned twice) and one depth. What depends on the value stays in the walk: which
/// `allOf`/`anyOf`/`oneOf` branch the value's JSON type selects (each branch is planned,
/// with the types it admits), whether the value is an array (`items`) or an object
/// (`properties`), which properties it has. Past the depth the plan was unrolled to, the
/// walk goes on in full (`Kind::Full`). `None`: the schema is too large to unroll even
/// one level (more than [`PLAN_NODES`] properties); its values are walked in full.
pub(crate) struct JsonPlan(Option<PlanNode>);

struct PlanNode {
    kind: Kind,
    /// Whether a walk entering this node can do anything: transform a field, or fail for
    /// nesting too deep. A node that cannot is passed over.
    relevant: bool,
}

enum Kind {
    /// Deeper than `MAX_DEPTH`: entering it fails the walk, whatever the value.
    TooDeep,
    /// Nothing to do for any value: not an object schema, a `$ref` that does not
    /// resolve, a schema with neither properties nor items nor a leaf the rule applies to.
    Inert,
    /// A `$ref`, resolved.
    Ref(Box<PlanNode>),
    Body(Box<Body>),
    /// Past the depth the plan was unrolled to: [`walk`]'s own step from here.
    Full(Box<FullWalk>),
}

/// Where [`walk`] takes over: the schema node (by document and JSON pointer) and the path.
struct FullWalk {
    /// `None`: the root document; else the index of a reference document.
    doc: Option<usize>,
    pointer: String,
    path: String,
}

struct Body {
    /// `allOf`, `anyOf`, `oneOf` (those present as arrays, in that order): each branch
    /// that can be chosen, with the JSON types it admits.
    combinators: Vec<Vec<(Admits, PlanNode)>>,
    /// The plan of `items`, when the schema has them (used for array values).
    items: Option<PlanNode>,
    /// The properties, when the schema is a record (`field_type_of`).
    record: Option<Vec<PlanField>>,
    /// The properties a walk enters (relevant ones), by index in `record`.
    candidates: Vec<usize>,
    /// The field type of a primitive leaf of a field the rule applies to.
    leaf: Option<FieldType>,
}

/// A property as the walk reports it to the visitor.
struct PlanField {
    name: String,
    full_name: String,
    tags: BTreeSet<String>,
    node: PlanNode,
}

impl PlanField {
    fn info(&self) -> Field<'_> {
        Field {
            full_name: &self.full_name,
            name: &self.name,
            tags: &self.tags,
        }
    }
}

/// The JSON types a combinator branch's `type` admits (what [`admits`] checks), as a
/// bit set over [`json_type`]'s names.
#[derive(Clone, Copy)]
struct Admits(u8);

impl Admits {
    const ANY: Admits = Admits(0x7F);

    fn bit(t: &str) -> u8 {
        match t {
            "null" => 1,
            "boolean" => 2,
            "integer" => 4,
            // "number" admits integers too.
            "number" => 4 | 8,
            "string" => 16,
            "array" => 32,
            "object" => 64,
            _ => 0,
        }
    }

    fn of(schema: &Value) -> Admits {
        match schema.get("type") {
            None => Admits::ANY,
            Some(Value::String(s)) => Admits(Self::bit(s)),
            Some(Value::Array(a)) => Admits(
                a.iter()
                    .filter_map(Value::as_str)
                    .fold(0, |m, s| m | Self::bit(s)),
            ),
            Some(_) => Admits(0),
        }
    }

    fn admits(self, value: &Value) -> bool {
        let t = match json_type(value) {
            "number" => 8,
            other => Self::bit(other),
        };
        self.0 & t != 0
    }
}

/// The schema is too large to unroll.
struct Exhausted;

struct PlanBuilder<'a, 'v> {
    doc: &'a JsonSchemaDoc,
    visitor: &'v FieldVisitor<'v>,
    nodes: usize,
    /// Nodes deeper than this are `Kind::Full`.
    cap: usize,
}

/// Builds the plan of the rule `visitor` runs for values of `doc`.
pub(crate) fn plan(doc: &JsonSchemaDoc, visitor: &FieldVisitor<'_>) -> JsonPlan {
    for cap in DEPTH_CAPS {
        let mut b = PlanBuilder {
            doc,
            visitor,
            nodes: 0,
            cap,
        };
        if let Ok(root) = b.node(&doc.root, &doc.root, "", "$", None, 0) {
            return JsonPlan(Some(root));
        }
    }
    JsonPlan(None)
}

/// `pointer` extended by the reference token `token` (escaped as RFC 6901 says).
fn pointer_to(pointer: &str, token: &str) -> String {
    let mut p = String::with_capacity(pointer.len() + 1 + token.len());
    p.push_str(pointer);
    p.push('/');
    for c in token.chars() {
        match c {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
    p
}

impl<'a> PlanBuilder<'a, '_> {
    /// The plan of `schema` (at JSON pointer `at` in document `root`) met at `path`,
    /// inside a field the rule applies to or not (`field`; `None` outside any property),
    /// at `depth`: what `Walk::node` would do there, for every value.
    fn node(
        &mut self,
        root: &'a Value,
        schema: &'a Value,
        at: &str,
        path: &str,
        field: Option<bool>,
        depth: usize,
    ) -> std::result::Result<PlanNode, Exhausted> {
        self.nodes += 1;
        if self.nodes > PLAN_NODES {
            return Err(Exhausted);
        }
        let inert = PlanNode {
            kind: Kind::Inert,
            relevant: false,
        };
        if depth > MAX_DEPTH {
            return Ok(PlanNode {
                kind: Kind::TooDeep,
                relevant: true,
            });
        }
        if depth > self.cap {
            let doc = if std::ptr::eq(root, &self.doc.root) {
                None
            } else {
                self.doc
                    .references
                    .iter()
                    .position(|(_, d)| std::ptr::eq(root, d))
            };
            return Ok(PlanNode {
                kind: Kind::Full(Box::new(FullWalk {
                    doc,
                    pointer: at.to_owned(),
                    path: path.to_owned(),
                })),
                relevant: true,
            });
        }
        if !schema.is_object() {
            return Ok(inert);
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return Ok(match deref(self.doc, root, r) {
                Some((doc, target)) => {
                    let fragment = r.split_once('#').map_or("", |(_, f)| f);
                    let t = self.node(doc, target, fragment, path, field, depth + 1)?;
                    PlanNode {
                        relevant: t.relevant,
                        kind: Kind::Ref(Box::new(t)),
                    }
                }
                None => inert,
            });
        }
        let mut relevant = false;
        let mut combinators = Vec::new();
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(key) {
                let mut planned = Vec::with_capacity(branches.len());
                let under = pointer_to(at, key);
                for (i, b) in branches.iter().enumerate() {
                    let target = match b.get("$ref").and_then(Value::as_str) {
                        Some(r) => deref(self.doc, root, r).map(|(_, t)| t),
                        None => Some(b),
                    };
                    // A branch whose `$ref` does not resolve is never chosen.
                    let Some(target) = target else { continue };
                    let n = self.node(
                        root,
                        b,
                        &pointer_to(&under, &i.to_string()),
                        path,
                        field,
                        depth + 1,
                    )?;
                    relevant |= n.relevant;
                    planned.push((Admits::of(target), n));
                }
                combinators.push(planned);
            }
        }
        let items = match schema.get("items") {
            Some(items) => {
                let n = self.node(
                    root,
                    items,
                    &pointer_to(at, "items"),
                    path,
                    field,
                    depth + 1,
                )?;
                relevant |= n.relevant;
                Some(n)
            }
            None => None,
        };
        let field_type = field_type_of(schema);
        let mut record = None;
        let mut candidates = Vec::new();
        let mut leaf = None;
        if field_type == FieldType::Record {
            let props = schema.get("properties").and_then(Value::as_object);
            let mut fields = Vec::with_capacity(props.map_or(0, |p| p.len()));
            let under = pointer_to(at, "properties");
            for (name, prop) in props.into_iter().flatten() {
                let mut full_name = String::with_capacity(path.len() + 1 + name.len());
                full_name.push_str(path);
                full_name.push('.');
                full_name.push_str(name);
                let tags = self.visitor.tags(&full_name, inline_tags(prop));
                let applies = self.visitor.applies(&tags);
                let node = self.node(
                    root,
                    prop,
                    &pointer_to(&under, name),
                    &full_name,
                    Some(applies),
                    depth + 1,
                )?;
                if node.relevant {
                    candidates.push(fields.len());
                    relevant = true;
                }
                fields.push(PlanField {
                    name: name.clone(),
                    full_name,
                    tags,
                    node,
                });
            }
            record = Some(fields);
        } else if field == Some(true)
            && matches!(
                field_type,
                FieldType::Enum
                    | FieldType::String
                    | FieldType::Int
                    | FieldType::Double
                    | FieldType::Boolean
            )
        {
            leaf = Some(field_type);
            relevant = true;
        }
        if !relevant {
            return Ok(inert);
        }
        Ok(PlanNode {
            kind: Kind::Body(Box::new(Body {
                combinators,
                items,
                record,
                candidates,
                leaf,
            })),
            relevant,
        })
    }
}

/// [`walk`] along `plan` (made for `doc` by the same rule): the same fields visited in
/// the same order with the same names and tags, the same values written back and the
/// same errors, but parts of the value where the rule cannot do anything are not entered.
pub(crate) fn walk_planned(
    plan: &JsonPlan,
    doc: &JsonSchemaDoc,
    value: &mut Value,
    visitor: &FieldVisitor<'_>,
) -> Result<()> {
    match &plan.0 {
        Some(root) => PlanWalk { doc, visitor }.node(root, value, None, 0),
        None => walk(doc, value, visitor),
    }
}

struct PlanWalk<'a> {
    doc: &'a JsonSchemaDoc,
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
        let b = match &n.kind {
            Kind::TooDeep => return Err(too_deep()),
            Kind::Inert => return Ok(()),
            Kind::Full(at) => return self.full(at, value, field, depth),
            _ if value.is_null() => return Ok(()),
            Kind::Ref(target) => return self.node(target, value, field, depth + 1),
            Kind::Body(b) => b,
        };
        for branches in &b.combinators {
            if let Some((_, chosen)) = branches.iter().find(|(a, _)| a.admits(value)) {
                if !chosen.relevant {
                    return Ok(());
                }
                return self.node(chosen, value, field, depth + 1);
            }
        }
        if let (Some(items), Value::Array(values)) = (&b.items, &mut *value) {
            if items.relevant {
                for v in values {
                    self.node(items, v, field, depth + 1)?;
                }
            }
            return Ok(());
        }
        if let Some(fields) = &b.record {
            let Value::Object(obj) = value else {
                return Ok(());
            };
            for f in b.candidates.iter().map(|&i| &fields[i]) {
                if let Some(child) = obj.get_mut(&f.name) {
                    self.node(&f.node, child, Some(f), depth + 1)?;
                }
            }
            return Ok(());
        }
        if let (Some(field_type), Some(f)) = (b.leaf, field) {
            leaf(value, field_type, &f.info(), self.visitor, true)?;
        }
        Ok(())
    }

    /// The full walk from a node past the plan's depth, as [`walk`] would go on there.
    fn full(
        &self,
        at: &FullWalk,
        value: &mut Value,
        field: Option<&PlanField>,
        depth: usize,
    ) -> Result<()> {
        let root = match at.doc {
            None => Some(&self.doc.root),
            Some(i) => self.doc.references.get(i).map(|(_, d)| d),
        };
        let schema = root.and_then(|r| {
            if at.pointer.is_empty() {
                Some(r)
            } else {
                r.pointer(&at.pointer)
            }
        });
        let (Some(root), Some(schema)) = (root, schema) else {
            return Err(ClientError::Serialization(format!(
                "the field plan lost its place in the schema at {}",
                at.path
            )));
        };
        let info = field.map(PlanField::info);
        Walk {
            doc: self.doc,
            visitor: self.visitor,
        }
        .node(root, schema, value, &at.path, info.as_ref(), depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_by_name() {
        let refs = vec![(
            "address.json".to_string(),
            serde_json::json!({"type":"object"}),
        )];
        assert!(find_reference(&refs, "address.json").is_some());
        assert!(find_reference(&refs, "json-schema:///address.json").is_some());
        assert!(find_reference(&refs, "http://example.com/schemas/address.json").is_some());
        assert!(find_reference(&refs, "other.json").is_none());
    }
}

/// The planned walk against the full walk: same fields visited in the same order with the
/// same names, types and tags, same values written back, same errors; and plans that
/// enter only the tagged fields.
#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::serdes::rules::testing::{rule, with_visitor, with_visitor_lending, Recorder};
    use crate::serdes::rules::LendingTransform;
    use accord_contracts::{Metadata, Rule};
    use serde_json::json;

    fn recorder() -> Recorder {
        Recorder::new(SchemaFormat::Json)
    }

    fn doc(root: Value, references: Vec<(&str, Value)>) -> JsonSchemaDoc {
        JsonSchemaDoc {
            root,
            references: references
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        }
    }

    /// Runs both walks on copies of `value`; panics where they differ. Returns the calls.
    fn same(
        doc: &JsonSchemaDoc,
        value: &Value,
        rule: &Rule,
        metadata: Option<&Metadata>,
    ) -> Vec<String> {
        let rec = recorder();
        let p = with_visitor(rule, metadata, &rec, |v| plan(doc, v));
        same_with(&p, doc, value, rule, metadata)
    }

    /// [`same`] with the plan made before.
    fn same_with(
        p: &JsonPlan,
        doc: &JsonSchemaDoc,
        value: &Value,
        rule: &Rule,
        metadata: Option<&Metadata>,
    ) -> Vec<String> {
        let old_rec = recorder();
        let mut old = value.clone();
        let old_result = with_visitor(rule, metadata, &old_rec, |v| walk(doc, &mut old, v));
        let old_calls = old_rec.calls.into_inner().expect("lock");
        for lend in [false, true] {
            let new_rec = recorder();
            let mut new = value.clone();
            let lending: Option<&dyn LendingTransform> = lend.then_some(&new_rec);
            let new_result = with_visitor_lending(rule, metadata, &new_rec, lending, |v| {
                walk_planned(p, doc, &mut new, v)
            });
            let new_calls = new_rec.calls.into_inner().expect("lock");
            assert_eq!(old_calls, new_calls, "calls differ for {value}");
            assert_eq!(
                format!("{old_result:?}"),
                format!("{new_result:?}"),
                "results differ for {value}"
            );
            assert_eq!(old, new, "values differ for {value}");
        }
        old_calls
    }

    /// Values for a schema, pseudo-random (xorshift): sometimes of another type, null, or
    /// with properties missing or unknown ones added.
    struct Gen<'a> {
        state: u64,
        doc: &'a JsonSchemaDoc,
        /// Schema depth past which values are scalars.
        max: usize,
    }

    impl<'a> Gen<'a> {
        fn below(&mut self, n: u64) -> u64 {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            self.state % n
        }

        fn scalar(&mut self) -> Value {
            match self.below(9) {
                0 => Value::Null,
                1 => json!(true),
                2 => json!(-3),
                3 => json!(2.5),
                4 => json!(u64::MAX),
                5 => json!("boom"),
                6 => json!("wrong"),
                7 => json!([]),
                _ => json!("s"),
            }
        }

        fn value(&mut self, root: &'a Value, schema: &'a Value, depth: usize) -> Value {
            if self.below(25) == 0 || depth > self.max {
                return self.scalar();
            }
            if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
                return match deref(self.doc, root, r) {
                    Some((d, t)) => self.value(d, t, depth + 1),
                    None => self.scalar(),
                };
            }
            for key in ["allOf", "anyOf", "oneOf"] {
                if let Some(Value::Array(bs)) = schema.get(key) {
                    if !bs.is_empty() && self.below(4) != 0 {
                        let i = self.below(bs.len() as u64) as usize;
                        return self.value(root, &bs[i], depth + 1);
                    }
                }
            }
            if let Some(items) = schema.get("items") {
                if self.below(3) != 0 {
                    let n = self.below(4);
                    return Value::Array(
                        (0..n).map(|_| self.value(root, items, depth + 1)).collect(),
                    );
                }
            }
            if let Some(e) = schema.get("enum").and_then(Value::as_array) {
                if !e.is_empty() {
                    return e[self.below(e.len() as u64) as usize].clone();
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let mut obj = serde_json::Map::new();
                for (name, prop) in props {
                    if self.below(6) != 0 {
                        obj.insert(name.clone(), self.value(root, prop, depth + 1));
                    }
                }
                if self.below(5) == 0 {
                    obj.insert("extra".into(), json!("x"));
                }
                return Value::Object(obj);
            }
            let t = match schema.get("type") {
                Some(Value::Array(ts)) if !ts.is_empty() => ts
                    [self.below(ts.len() as u64) as usize]
                    .as_str()
                    .unwrap_or(""),
                Some(Value::String(t)) => t.as_str(),
                _ => "",
            };
            match t {
                "string" => json!(["a", "bb", "", "ccc", "boom", "wrong"][self.below(6) as usize]),
                "integer" => json!(self.below(100)),
                "number" => json!(0.5),
                "boolean" => json!(self.below(2) == 0),
                "null" => Value::Null,
                "object" => json!({"k": "v"}),
                _ => self.scalar(),
            }
        }
    }

    fn schemas() -> Vec<JsonSchemaDoc> {
        let address = json!({"type": "object", "properties": {
            "street": {"type": "string", "confluent:tags": ["PII"]},
            "city": {"type": "string"},
            "zip": {"type": "integer", "confluent:tags": ["ZIP"]}}});
        vec![
            // Nested objects, arrays, a local $ref, a reference document, combinators.
            doc(
                json!({
                    "type": "object",
                    "definitions": {
                        "Card": {"type": "object", "properties": {
                            "number": {"type": "string", "confluent:tags": ["PII"]},
                            "cvv": {"type": "integer", "confluent:tags": ["PII"]},
                            "brand": {"enum": ["visa", "amex"], "confluent:tags": ["PII"]}}},
                    },
                    "properties": {
                        "id": {"type": "integer"},
                        "email": {"type": "string", "confluent:tags": ["PII"]},
                        "nick": {"type": ["string", "null"], "confluent:tags": ["PII"]},
                        "home": {"$ref": "address.json"},
                        "work": {"$ref": "json-schema:///address.json#"},
                        "cards": {"type": "array", "items": {"$ref": "#/definitions/Card"}},
                        "phones": {"type": "array", "items": {"type": "string"},
                                   "confluent:tags": ["PII"]},
                        "score": {"type": "number", "confluent:tags": ["PII"]},
                        "vip": {"type": "boolean", "confluent:tags": ["PII"]},
                        "note": {"type": "string"},
                        "contact": {"oneOf": [
                            {"type": "null"},
                            {"type": "string", "confluent:tags": ["PII"]},
                            {"$ref": "#/definitions/Card"},
                            {"$ref": "#/definitions/Missing"}]},
                        "mixed": {"anyOf": [
                            {"type": ["integer", "string"]},
                            {"type": "object", "properties": {"secret": {"type": "string", "confluent:tags": ["PII"]}}}],
                            "confluent:tags": ["PII"]},
                        "all": {"allOf": [{"$ref": "#/definitions/Card"}, {"type": "object"}]},
                        "bag": {"type": "object"},
                        "const": {"const": 3, "confluent:tags": ["PII"]},
                        "yes": true,
                        "gone": {"$ref": "#/definitions/Nope"},
                        "matrix": {"type": "array", "items": {"type": "array", "items": {
                            "type": "object", "properties": {"cell": {"type": "string", "confluent:tags": ["CELL"]}}}}}
                    }
                }),
                vec![("address.json", address.clone())],
            ),
            // Recursion through $ref: a linked list and a tree (children in an array).
            doc(
                json!({"type": "object", "properties": {
                    "label": {"type": "string"},
                    "secret": {"type": "string", "confluent:tags": ["PII"]},
                    "next": {"$ref": "#"},
                    "children": {"type": "array", "items": {"$ref": "#"}}}}),
                vec![],
            ),
            // Recursion with nothing tagged: still walked where it can nest too deep.
            doc(
                json!({"type": "object", "properties": {
                    "v": {"type": "string"},
                    "next": {"$ref": "#/definitions/Node"}},
                    "definitions": {"Node": {"type": "object", "properties": {
                        "v": {"type": "integer"}, "next": {"$ref": "#/definitions/Node"}}}}}),
                vec![],
            ),
            // A root array and a root that is a reference.
            doc(
                json!({"type": "array", "items": {"$ref": "address.json"}}),
                vec![("address.json", address)],
            ),
            doc(json!({"type": "string"}), vec![]),
            doc(wide_schema(), vec![]),
        ]
    }

    /// 20 string properties, 3 of them tagged PII.
    fn wide_schema() -> Value {
        let props: serde_json::Map<String, Value> = (0..20)
            .map(|i| {
                let mut p = json!({"type": "string"});
                if [3, 9, 15].contains(&i) {
                    p["confluent:tags"] = json!(["PII"]);
                }
                (format!("f{i}"), p)
            })
            .collect();
        json!({"type": "object", "properties": props})
    }

    fn metadata() -> Metadata {
        serde_json::from_value(json!({"tags": {
            "**.city": ["PII"],
            "$.next.label": ["PII"],
            "$.matrix.cell": ["PII"],
            "$.f1?": ["TEENS"]
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
            rule(&["ZIP", "CELL"]),
            rule(&["TEENS"]),
        ];
        for (k, d) in schemas().iter().enumerate() {
            // All planned; the tree with two recursive properties (`next` and `children`)
            // is too large to unroll 128 levels deep, and is unrolled less deep.
            let rec = recorder();
            let planned = with_visitor(&rules[0], None, &rec, |v| plan(d, v).0.is_some());
            assert!(planned, "schema {k}");
            let plans: Vec<[JsonPlan; 2]> = rules
                .iter()
                .map(|r| [None, Some(&meta)].map(|m| with_visitor(r, m, &rec, |v| plan(d, v))))
                .collect();
            let mut g = Gen {
                state: (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                doc: d,
                // Shallow enough that recursive schemas make small values.
                max: 14,
            };
            for n in 0..300 {
                let value = g.value(&d.root, &d.root, 0);
                for (r, [bare, with_meta]) in rules.iter().zip(&plans) {
                    same_with(bare, d, &value, r, None);
                    if n % 3 == 0 {
                        same_with(with_meta, d, &value, r, Some(&meta));
                    }
                }
            }
        }
    }

    /// Tagged fields are visited wherever they are (nested objects, arrays, `$ref`s into
    /// the schema and into a reference, combinator branches) and untagged ones never.
    #[test]
    fn tagged_fields_only_wherever_they_are() {
        let d = &schemas()[0];
        let value = json!({
            "id": 7, "email": "e", "nick": "n", "note": "plain", "bag": {"email": "x"},
            "home": {"street": "s1", "city": "c1", "zip": 1},
            "work": {"street": "s2", "city": "c2"},
            "cards": [{"number": "4111", "cvv": 123, "brand": "visa"}, {"number": "5500"}],
            "phones": ["p1", "p2"],
            "contact": "c@x", "mixed": {"secret": "m"},
            "matrix": [[{"cell": "a"}], [{"cell": "b"}, {"cell": "c"}]]
        });
        let calls = same(d, &value, &rule(&["PII"]), None);
        let visited: Vec<&str> = calls
            .iter()
            .map(|c| c.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            visited,
            [
                "$.email",
                "$.home.street",
                "$.work.street",
                "$.cards.number",
                "$.cards.cvv",
                "$.cards.brand",
                "$.cards.number",
                "$.phones",
                "$.phones",
                "$.mixed.secret",
            ]
        );
        // As before plans: a type list (`nick`) is no primitive field, and a combinator
        // branch's own tags (`contact`) are not the property's.
        assert!(!calls
            .iter()
            .any(|c| c.starts_with("$.nick ") || c.starts_with("$.contact ")));
        // Metadata tags by path reach untagged properties, nested and in arrays.
        let meta = metadata();
        let calls = same(d, &value, &rule(&["PII"]), Some(&meta));
        for path in ["$.home.city", "$.work.city", "$.matrix.cell"] {
            assert!(
                calls.iter().any(|c| c.starts_with(&format!("{path} "))),
                "{path}"
            );
        }
        for untagged in ["$.id ", "$.note ", "$.bag", "$.home.zip "] {
            assert!(!calls.iter().any(|c| c.starts_with(untagged)), "{untagged}");
        }
        // Recursion: the secret at every level, the label only where metadata tags it.
        let list = &schemas()[1];
        let value = json!({"label": "a", "secret": "1", "next": {"label": "b", "secret": "2",
            "children": [{"secret": "3", "label": "c"}]}});
        let calls = same(list, &value, &rule(&["PII"]), Some(&meta));
        let visited: Vec<&str> = calls
            .iter()
            .map(|c| c.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            visited,
            [
                "$.secret",
                "$.next.label",
                "$.next.secret",
                "$.next.children.secret"
            ]
        );
    }

    /// The plan of 3 tagged fields among 20 enters those 3 and nothing else.
    #[test]
    fn plans_keep_only_the_fields_a_rule_touches() {
        let d = doc(wide_schema(), vec![]);
        let rec = recorder();
        let p = with_visitor(&rule(&["PII"]), None, &rec, |v| plan(&d, v));
        let Some(PlanNode {
            kind: Kind::Body(b),
            ..
        }) = &p.0
        else {
            panic!("a planned record")
        };
        let fields = b.record.as_ref().expect("a record");
        let touched: Vec<&str> = b
            .candidates
            .iter()
            .map(|&i| fields[i].full_name.as_str())
            .collect();
        assert_eq!(touched, ["$.f3", "$.f9", "$.f15"]);
        let none = with_visitor(&rule(&["NOPE"]), None, &rec, |v| plan(&d, v));
        assert!(matches!(
            none.0,
            Some(PlanNode {
                kind: Kind::Inert,
                relevant: false
            })
        ));
    }

    /// Values nesting past MAX_DEPTH fail as they did, in touched and untouched parts; a
    /// schema too large to unroll is walked in full.
    #[test]
    fn deep_values_and_huge_schemas() {
        let list = &schemas()[2];
        let chain = |n: usize| {
            let mut v = json!({"v": 1});
            for _ in 0..n {
                v = json!({"v": 2, "next": v});
            }
            json!({"v": "top", "next": v})
        };
        for n in [0, 10, 62, 63, 64, 65, 100] {
            same(list, &chain(n), &rule(&["PII"]), None);
        }
        let rec = recorder();
        let mut deep = chain(100);
        let err = with_visitor(&rule(&["PII"]), None, &rec, |v| {
            walk_planned(&plan(list, v), list, &mut deep, v)
        });
        assert!(
            matches!(&err, Err(ClientError::Serialization(m)) if m.contains("nests deeper")),
            "{err:?}"
        );
        // A binary tree unrolled 128 levels deep is too large: unrolled less deep, and
        // walked in full below that.
        let tree = doc(
            json!({"type": "object", "properties": {
                "secret": {"type": "string", "confluent:tags": ["PII"]},
                "left": {"$ref": "#"}, "right": {"$ref": "#"}}}),
            vec![],
        );
        let p = with_visitor(&rule(&["PII"]), None, &rec, |v| plan(&tree, v));
        fn fulls(n: &PlanNode) -> usize {
            match &n.kind {
                Kind::Full(_) => 1,
                Kind::Ref(t) => fulls(t),
                Kind::Body(b) => {
                    b.combinators
                        .iter()
                        .flatten()
                        .map(|(_, n)| fulls(n))
                        .sum::<usize>()
                        + b.items.as_ref().map_or(0, fulls)
                        + b.record
                            .iter()
                            .flatten()
                            .map(|f| fulls(&f.node))
                            .sum::<usize>()
                }
                _ => 0,
            }
        }
        assert!(p.0.as_ref().is_some_and(|root| fulls(root) > 0));
        // Deep enough to pass where the plan stops (its depth cap).
        let mut g = Gen {
            state: 7,
            doc: &tree,
            max: 30,
        };
        for _ in 0..200 {
            let value = g.value(&tree.root, &tree.root, 0);
            same(&tree, &value, &rule(&["PII"]), None);
        }
        let mut deep = json!({"secret": "x"});
        for i in 0..70 {
            deep = if i % 2 == 0 {
                json!({"secret": "l", "left": deep})
            } else {
                json!({"right": deep})
            };
        }
        same(&tree, &deep, &rule(&["PII"]), None);
        let mut value =
            json!({"secret": "a", "left": {"secret": "b"}, "right": {"right": {"secret": "c"}}});
        let rec = recorder();
        with_visitor(&rule(&["PII"]), None, &rec, |v| {
            walk_planned(&p, &tree, &mut value, v)
        })
        .expect("walk");
        assert_eq!(
            value,
            json!({"secret": "<a>", "left": {"secret": "<b>"}, "right": {"right": {"secret": "<c>"}}})
        );
    }
}
