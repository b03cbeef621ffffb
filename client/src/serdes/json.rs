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
            fixed: FixedSchema::new(SchemaFormat::Json, spec, record_name, config.cache_capacity),
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

impl<'a> Walk<'a> {
    /// The schema a `$ref` points at, and the document it lives in.
    fn deref(&self, root: &'a Value, r: &str) -> Option<(&'a Value, &'a Value)> {
        let (doc, fragment) = match r.split_once('#') {
            Some(("", frag)) => (root, frag),
            Some((target, frag)) => (find_reference(&self.doc.references, target)?, frag),
            None => (find_reference(&self.doc.references, r)?, ""),
        };
        let node = if fragment.is_empty() {
            doc
        } else {
            doc.pointer(fragment)?
        };
        Some((doc, node))
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
            return Err(ClientError::Serialization(format!(
                "value or schema nests deeper than {MAX_DEPTH} levels"
            )));
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
                let inline: BTreeSet<String> = prop
                    .get("confluent:tags")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let tags = self.visitor.tags(&full_name, inline);
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
                leaf(value, field_type, f, self.visitor)?;
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

fn leaf(
    value: &mut Value,
    field_type: FieldType,
    f: &Field<'_>,
    visitor: &FieldVisitor<'_>,
) -> Result<()> {
    if !visitor.applies(f.tags) {
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
        (Some(v), _) => visitor.visit(&ctx, v)?,
        (None, Value::String(s)) => visitor.visit_lent(&ctx, FieldRef::String(s))?,
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
