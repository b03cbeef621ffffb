//! What the index reads out of a schema: field (and record/message) names, their docs,
//! and field tags.
//!
//! Avro and JSON Schema are walked as JSON; Protobuf is compiled by accord-compat (with
//! the schema's references, which the caller resolves) and read from its declarations.
//! A registered Protobuf schema is stored as Confluent's printout, which keeps options
//! but drops comments: its docs are those of `confluent.*_meta` options (comments count
//! only in a text that has them).

use accord_compat::protobuf::DeclarationKind;
use accord_compat::{Reference, SchemaFormat};
use serde_json::Value;

/// At most this many names, docs and tags per schema.
const MAX_ITEMS: usize = 2_000;
const MAX_DEPTH: usize = 64;

/// The searchable parts of a schema (or contract), each list without duplicates.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub fields: Vec<String>,
    pub docs: Vec<String>,
    pub tags: Vec<String>,
}

impl Extracted {
    fn push(list: &mut Vec<String>, s: &str) {
        let s = s.trim();
        if !s.is_empty() && list.len() < MAX_ITEMS && !list.iter().any(|x| x == s) {
            list.push(s.to_string());
        }
    }

    pub fn field(&mut self, s: &str) {
        Self::push(&mut self.fields, s)
    }

    pub fn doc(&mut self, s: &str) {
        Self::push(&mut self.docs, s)
    }

    /// Tags dedupe case-insensitively (the first spelling stays).
    pub fn tag(&mut self, s: &str) {
        let s = s.trim();
        if !s.is_empty()
            && self.tags.len() < MAX_ITEMS
            && !self.tags.iter().any(|x| x.eq_ignore_ascii_case(s))
        {
            self.tags.push(s.to_string());
        }
    }

    pub fn merge(&mut self, other: Extracted) {
        other.fields.iter().for_each(|f| self.field(f));
        other.docs.iter().for_each(|d| self.doc(d));
        other.tags.iter().for_each(|t| self.tag(t));
    }
}

/// The parts of a stored schema of `format`; `references` (the resolved closure, as
/// accord-compat parses with) matter only to Protobuf. A text that does not parse yields
/// nothing.
pub fn schema(format: SchemaFormat, text: &str, references: &[Reference]) -> Extracted {
    let mut out = Extracted::default();
    match format {
        SchemaFormat::Avro => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                avro(&v, &mut out, 0);
            }
        }
        SchemaFormat::Json => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                json_schema(&v, &mut out, 0);
            }
        }
        SchemaFormat::Protobuf => protobuf(text, references, &mut out),
    }
    out
}

/// [`schema`] from a parse the caller already holds, where that spares a parse (a
/// Protobuf schema's); `None` for the formats read as JSON. The parse is of the text as
/// submitted, whose comments the stored reprint drops: they are left out, so the
/// document is the one a rebuild from the stored text makes.
pub fn parsed(parsed: &accord_compat::ParsedSchema) -> Option<Extracted> {
    let accord_compat::ParsedSchema::Protobuf(p) = parsed else {
        return None;
    };
    let mut out = Extracted::default();
    protobuf_declarations(p, false, &mut out);
    Some(out)
}

/// Confluent's schema metadata: `tags` (path -> tags) and the `owner` property.
pub fn metadata(metadata: Option<&Value>, out: &mut Extracted) -> Option<String> {
    let m = metadata?;
    if let Some(tags) = m.get("tags").and_then(Value::as_object) {
        for list in tags.values() {
            string_list(list, |t| out.tag(t));
        }
    }
    m.pointer("/properties/owner")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn string_list(v: &Value, mut f: impl FnMut(&str)) {
    match v {
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(f),
        Value::String(s) => f(s),
        _ => {}
    }
}

fn avro(v: &Value, out: &mut Extracted, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Array(branches) => branches.iter().for_each(|b| avro(b, out, depth + 1)),
        Value::Object(m) => {
            if let Some(tags) = m.get("confluent:tags") {
                string_list(tags, |t| out.tag(t));
            }
            if let Some(doc) = m.get("doc").and_then(Value::as_str) {
                out.doc(doc);
            }
            match m.get("type") {
                Some(Value::String(t)) => match t.as_str() {
                    "record" | "error" | "enum" | "fixed" => {
                        if let Some(name) = m.get("name").and_then(Value::as_str) {
                            out.field(name.rsplit('.').next().unwrap_or(name));
                        }
                        for f in m
                            .get("fields")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            if let Some(name) = f.get("name").and_then(Value::as_str) {
                                out.field(name);
                            }
                            if let Some(doc) = f.get("doc").and_then(Value::as_str) {
                                out.doc(doc);
                            }
                            if let Some(tags) = f.get("confluent:tags") {
                                string_list(tags, |t| out.tag(t));
                            }
                            if let Some(t) = f.get("type") {
                                avro(t, out, depth + 1);
                            }
                        }
                    }
                    "array" => {
                        if let Some(items) = m.get("items") {
                            avro(items, out, depth + 1);
                        }
                    }
                    "map" => {
                        if let Some(values) = m.get("values") {
                            avro(values, out, depth + 1);
                        }
                    }
                    _ => {}
                },
                Some(nested) => avro(nested, out, depth + 1),
                None => {}
            }
        }
        _ => {}
    }
}

fn json_schema(v: &Value, out: &mut Extracted, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Array(items) => items.iter().for_each(|i| json_schema(i, out, depth + 1)),
        Value::Object(m) => {
            for key in ["title", "description"] {
                if let Some(s) = m.get(key).and_then(Value::as_str) {
                    out.doc(s);
                }
            }
            if let Some(tags) = m.get("confluent:tags") {
                string_list(tags, |t| out.tag(t));
            }
            for key in ["properties", "$defs", "definitions"] {
                if let Some(props) = m.get(key).and_then(Value::as_object) {
                    for (name, sub) in props {
                        out.field(name);
                        json_schema(sub, out, depth + 1);
                    }
                }
            }
            if let Some(pp) = m.get("patternProperties").and_then(Value::as_object) {
                pp.values().for_each(|s| json_schema(s, out, depth + 1));
            }
            for key in [
                "items",
                "additionalProperties",
                "additionalItems",
                "prefixItems",
                "contains",
                "not",
                "if",
                "then",
                "else",
                "allOf",
                "anyOf",
                "oneOf",
            ] {
                if let Some(sub) = m.get(key) {
                    json_schema(sub, out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Message, enum and field names, the comments at them (as protoc attaches them, see
/// accord-compat's `ProtobufSchema::declarations`), and the docs and tags of their
/// `confluent.*_meta` options, from accord-compat's parse of the schema (so every layout
/// protoc accepts reads the same). Names are the names as declared, as for Avro's nested
/// records. A text that does not compile (an unvalidated import) yields nothing.
fn protobuf(text: &str, references: &[Reference], out: &mut Extracted) {
    let Ok(schema) = accord_compat::protobuf::parse(text, references) else {
        return;
    };
    protobuf_declarations(&schema, true, out);
}

/// [`protobuf`] of a parsed schema, its comments read only `with_comments`.
fn protobuf_declarations(
    schema: &accord_compat::protobuf::ProtobufSchema,
    with_comments: bool,
    out: &mut Extracted,
) {
    for d in schema.declarations() {
        match d.kind {
            DeclarationKind::Message | DeclarationKind::Enum | DeclarationKind::Field => {
                out.field(&d.name)
            }
            // A oneof is no field of the data; its members are.
            DeclarationKind::Oneof => {}
        }
        // Detached comments too: a search should find a block a blank line sets apart.
        if with_comments {
            d.comments
                .iter()
                .chain(&d.detached_comments)
                .for_each(|c| out.doc(c));
        }
        if let Some(doc) = &d.meta_doc {
            out.doc(doc);
        }
        d.tags.iter().for_each(|t| out.tag(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_fields_docs_tags() {
        let s = r#"{"type":"record","name":"com.acme.Order","doc":"An order.","fields":[
            {"name":"order_id","type":"string","doc":"The order's id","confluent:tags":["PII"]},
            {"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line",
                "fields":[{"name":"sku","type":"string"}]}}},
            {"name":"status","type":["null",{"type":"enum","name":"Status","symbols":["A"]}]}]}"#;
        let e = schema(SchemaFormat::Avro, s, &[]);
        assert_eq!(
            e.fields,
            ["Order", "order_id", "lines", "Line", "sku", "status", "Status"]
        );
        assert_eq!(e.docs, ["An order.", "The order's id"]);
        assert_eq!(e.tags, ["PII"]);
    }

    #[test]
    fn json_schema_properties() {
        let s = r#"{"title":"Order","type":"object","properties":{
            "order_id":{"type":"string","description":"Unique id","confluent:tags":["PII"]},
            "customer":{"type":"object","properties":{"email":{"type":"string"}}}},
            "$defs":{"Money":{"type":"object","properties":{"amount":{"type":"number"}}}}}"#;
        let e = schema(SchemaFormat::Json, s, &[]);
        assert_eq!(
            e.fields,
            ["order_id", "customer", "email", "Money", "amount"]
        );
        assert_eq!(e.docs, ["Order", "Unique id"]);
        assert_eq!(e.tags, ["PII"]);
    }

    #[test]
    fn protobuf_messages_fields_comments() {
        let s = r#"syntax = "proto3";
package acme.orders;
import "confluent/meta.proto";
option java_package = "com.acme";
// An order placed by a customer.
message Order {
  // The order's id.
  string order_id = 1 [(confluent.field_meta) = { tags: ["PII", "KEY"] }];
  map<string, int64> totals = 2; // trailing
  repeated Line lines = 3;
  oneof payment { string card = 4; string iban = 5; }
  message Line { string sku = 1; }
  enum Status { UNKNOWN = 0; PLACED = 1; }
  option deprecated = true;
  reserved 9;
}
service Orders { rpc Place (Order) returns (Order) { option idempotency_level = IDEMPOTENT; } }
"#;
        let e = schema(SchemaFormat::Protobuf, s, &[]);
        assert_eq!(
            e.fields,
            ["Order", "order_id", "totals", "lines", "card", "iban", "Line", "sku", "Status"]
        );
        assert_eq!(
            e.docs,
            [
                "An order placed by a customer.",
                "The order's id.",
                "trailing"
            ]
        );
        assert_eq!(e.tags, ["PII", "KEY"]);
    }
}
