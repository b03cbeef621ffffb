//! What the index reads out of a schema: field (and record/message) names, their docs,
//! and field tags.
//!
//! Avro and JSON Schema are walked as JSON; Protobuf is scanned as text (declarations,
//! names and the comments before them), which needs neither the referenced files nor a
//! full parse: the registry has already validated every stored schema.

use accord_compat::SchemaFormat;
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

/// The parts of a stored schema of `format`. A text that does not parse yields nothing.
pub fn schema(format: SchemaFormat, text: &str) -> Extracted {
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
        SchemaFormat::Protobuf => protobuf(text, &mut out),
    }
    out
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

// ---- Protobuf ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(char),
    Comment(String),
}

/// Tokens with the line each starts on.
fn lex(text: &str) -> Vec<(usize, Tok)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            let start = i + 2;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push((
                line,
                Tok::Comment(s.trim_start_matches('/').trim().to_string()),
            ));
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let (start, first) = (i + 2, line);
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            let s: String = chars[start..i.min(chars.len())].iter().collect();
            i += 2;
            let s = s
                .lines()
                .map(|l| l.trim().trim_start_matches('*').trim())
                .collect::<Vec<_>>()
                .join(" ");
            out.push((first, Tok::Comment(s.trim().to_string())));
        } else if c == '"' || c == '\'' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            let s: String = chars[start..i.min(chars.len())].iter().collect();
            out.push((line, Tok::Str(s)));
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.')) {
                i += 1;
            }
            out.push((line, Tok::Word(chars[start..i].iter().collect())));
        } else {
            out.push((line, Tok::Sym(c)));
            i += 1;
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Message,
    Enum,
    Other,
}

/// Message, enum and field names, the comments before them, and the tags of
/// `(confluent.field_meta)` / `(confluent.message_meta)` options.
fn protobuf(text: &str, out: &mut Extracted) {
    let mut scopes: Vec<Scope> = Vec::new();
    let mut stmt: Vec<Tok> = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let (mut literal, mut bracket, mut last_end_line) = (0usize, 0usize, 0usize);
    let words = |stmt: &[Tok]| -> Vec<String> {
        stmt.iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w.clone()),
                _ => None,
            })
            .collect()
    };
    for (line, tok) in lex(text) {
        match &tok {
            Tok::Comment(c) => {
                if stmt.is_empty() && line != last_end_line && !c.is_empty() {
                    doc.push(c.clone());
                }
                continue;
            }
            Tok::Sym('[') => bracket += 1,
            Tok::Sym(']') => bracket = bracket.saturating_sub(1),
            Tok::Sym('{') if bracket == 0 => {
                let w = words(&stmt);
                let kind = match w.first().map(String::as_str) {
                    Some("message") => Some(Scope::Message),
                    Some("enum") => Some(Scope::Enum),
                    Some("oneof") => Some(Scope::Message),
                    Some("service" | "extend" | "rpc") => Some(Scope::Other),
                    _ => None,
                };
                match kind {
                    Some(kind) if literal == 0 => {
                        if matches!(w.first().map(String::as_str), Some("message" | "enum")) {
                            if let Some(name) = w.get(1) {
                                out.field(name);
                            }
                            doc.iter().for_each(|d| out.doc(d));
                        }
                        scopes.push(kind);
                        stmt.clear();
                        doc.clear();
                        last_end_line = line;
                        continue;
                    }
                    _ => literal += 1,
                }
            }
            Tok::Sym('}') if bracket == 0 => {
                if literal > 0 {
                    literal -= 1;
                } else {
                    scopes.pop();
                    stmt.clear();
                    doc.clear();
                    last_end_line = line;
                    continue;
                }
            }
            Tok::Sym(';') if bracket == 0 && literal == 0 => {
                if scopes.last() == Some(&Scope::Message) {
                    field_statement(&stmt, &doc, out);
                }
                stmt.clear();
                doc.clear();
                last_end_line = line;
                continue;
            }
            _ => {}
        }
        stmt.push(tok);
    }
}

fn field_statement(stmt: &[Tok], doc: &[String], out: &mut Extracted) {
    let first = match stmt.first() {
        Some(Tok::Word(w)) => w.as_str(),
        _ => return,
    };
    if matches!(
        first,
        "option" | "reserved" | "extensions" | "syntax" | "package" | "import" | "edition"
    ) {
        return;
    }
    let Some(eq) = stmt.iter().position(|t| *t == Tok::Sym('=')) else {
        return;
    };
    let Some(Tok::Word(name)) = eq.checked_sub(1).and_then(|i| stmt.get(i)) else {
        return;
    };
    out.field(name);
    doc.iter().for_each(|d| out.doc(d));
    // Confluent's field tags: `[(confluent.field_meta) = { tags: ["PII"] }]` or
    // `[(confluent.field_meta).tags = "PII"]`: every string after a `tags` word.
    let meta = stmt
        .iter()
        .any(|t| matches!(t, Tok::Word(w) if w.contains("field_meta")));
    if meta {
        let mut in_tags = false;
        for t in &stmt[eq..] {
            match t {
                Tok::Word(w) if w == "tags" || w.ends_with(".tags") => in_tags = true,
                Tok::Word(_) => in_tags = false,
                Tok::Str(s) if in_tags => out.tag(s),
                _ => {}
            }
        }
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
        let e = schema(SchemaFormat::Avro, s);
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
        let e = schema(SchemaFormat::Json, s);
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
  option (x) = { a: 1 };
  reserved 9;
}
service Orders { rpc Place (Order) returns (Order) { option idempotency_level = IDEMPOTENT; } }
"#;
        let e = schema(SchemaFormat::Protobuf, s);
        assert_eq!(
            e.fields,
            ["Order", "order_id", "totals", "lines", "card", "iban", "Line", "sku", "Status"]
        );
        assert_eq!(
            e.docs,
            ["An order placed by a customer.", "The order's id."]
        );
        assert_eq!(e.tags, ["PII", "KEY"]);
    }
}
