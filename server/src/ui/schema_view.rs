//! A schema as a reader sees it: the text laid out for reading (JSON pretty-printed),
//! highlighted by a small tokenizer into escaped `<span>`s, line by line (the diff needs
//! lines), and the fields as a table (name, type, doc, default, tags).
//!
//! The tokenizer knows JSON (Avro and JSON Schema) and `.proto` text; it only colours,
//! so anything it does not recognise is shown as plain (escaped) text.

use accord_compat::SchemaFormat;
use serde_json::Value;
use std::collections::BTreeSet;

/// One row of the field table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRow {
    /// Dotted path from the top-level record/message/object.
    pub name: String,
    pub ty: String,
    pub doc: Option<String>,
    pub default: Option<String>,
    pub tags: BTreeSet<String>,
}

/// The text laid out for reading: JSON schemas pretty-printed (key order kept).
pub fn display_text(format: SchemaFormat, text: &str) -> String {
    match format {
        SchemaFormat::Protobuf => text.to_string(),
        _ => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_string()),
    }
}

/// The fields of a schema, depth first; empty when the text cannot be read.
pub fn fields(format: SchemaFormat, text: &str) -> Vec<FieldRow> {
    let mut out = Vec::new();
    match format {
        SchemaFormat::Avro => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                avro_fields(&v, "", &mut out, 0);
            }
        }
        SchemaFormat::Json => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                json_fields(&v, "", &mut out, 0);
            }
        }
        SchemaFormat::Protobuf => proto_fields(text, &mut out),
    }
    out
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn string_tags(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// An Avro type for people: `string`, `null | string`, `array<Item>`, `record Address`.
fn avro_type(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        Value::Array(branches) => branches
            .iter()
            .map(avro_type)
            .collect::<Vec<_>>()
            .join(" | "),
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "array" => format!(
                    "array<{}>",
                    o.get("items").map(avro_type).unwrap_or_default()
                ),
                "map" => format!(
                    "map<{}>",
                    o.get("values").map(avro_type).unwrap_or_default()
                ),
                "record" | "enum" | "fixed" => format!(
                    "{kind} {}",
                    o.get("name").and_then(Value::as_str).unwrap_or("")
                ),
                _ => match o.get("logicalType").and_then(Value::as_str) {
                    Some(l) => format!("{kind} ({l})"),
                    None => kind.to_string(),
                },
            }
        }
        _ => String::new(),
    }
}

/// The records nested in an Avro type (through unions, arrays and maps).
fn avro_nested<'a>(t: &'a Value, out: &mut Vec<&'a Value>) {
    match t {
        Value::Array(branches) => branches.iter().for_each(|b| avro_nested(b, out)),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("record") => out.push(t),
            Some("array") => {
                if let Some(i) = o.get("items") {
                    avro_nested(i, out)
                }
            }
            Some("map") => {
                if let Some(v) = o.get("values") {
                    avro_nested(v, out)
                }
            }
            _ => {}
        },
        _ => {}
    }
}

fn avro_fields(record: &Value, prefix: &str, out: &mut Vec<FieldRow>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Some(fields) = record.get("fields").and_then(Value::as_array) else {
        return;
    };
    for f in fields {
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            continue;
        };
        let path = join(prefix, name);
        let ty = f.get("type").map(avro_type).unwrap_or_default();
        out.push(FieldRow {
            name: path.clone(),
            ty,
            doc: f.get("doc").and_then(Value::as_str).map(str::to_string),
            default: f.get("default").map(Value::to_string),
            tags: string_tags(f.get("confluent:tags")),
        });
        let mut nested = Vec::new();
        if let Some(t) = f.get("type") {
            avro_nested(t, &mut nested);
        }
        for n in nested {
            avro_fields(n, &path, out, depth + 1);
        }
    }
}

fn json_type(p: &Value) -> String {
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        return format!("ref {r}");
    }
    let base = match p.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ if p.get("enum").is_some() => "enum".to_string(),
        _ if p.get("oneOf").is_some() || p.get("anyOf").is_some() => "union".to_string(),
        _ => String::new(),
    };
    let base = match p.get("format").and_then(Value::as_str) {
        Some(f) => format!("{base} ({f})"),
        None => base,
    };
    if base.starts_with("array") {
        if let Some(items) = p.get("items") {
            return format!("array<{}>", json_type(items));
        }
    }
    base
}

fn json_fields(schema: &Value, prefix: &str, out: &mut Vec<FieldRow>, depth: usize) {
    if depth > 16 {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, p) in props {
        let path = join(prefix, name);
        out.push(FieldRow {
            name: path.clone(),
            ty: json_type(p),
            doc: p
                .get("description")
                .or_else(|| p.get("title"))
                .and_then(Value::as_str)
                .map(str::to_string),
            default: p.get("default").map(Value::to_string),
            tags: string_tags(p.get("confluent:tags")),
        });
        json_fields(p, &path, out, depth + 1);
        if let Some(items) = p.get("items") {
            json_fields(items, &path, out, depth + 1);
        }
    }
}

/// `.proto` fields by lines: `[repeated|optional] type name = N [options];` inside
/// messages; `//` comments just above a field are its doc; tags from
/// `(confluent.field_meta)` options.
fn proto_fields(text: &str, out: &mut Vec<FieldRow>) {
    let mut stack: Vec<String> = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(c) = line.strip_prefix("//") {
            comments.push(c.trim().to_string());
            continue;
        }
        let doc = (!comments.is_empty()).then(|| comments.join(" "));
        comments.clear();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if matches!(
            words.first(),
            Some(&"message") | Some(&"enum") | Some(&"oneof")
        ) && line.ends_with('{')
        {
            // Enum values are not fields; oneof members belong to the message.
            let name = words.get(1).copied().unwrap_or("").trim_end_matches('{');
            let kind = words[0];
            stack.push(if kind == "message" {
                name.to_string()
            } else {
                format!("{kind}:{name}")
            });
            continue;
        }
        if line.starts_with('}') {
            stack.pop();
            continue;
        }
        if stack.is_empty() || stack.last().is_some_and(|s| s.starts_with("enum:")) {
            continue;
        }
        let Some((decl, _)) = line.split_once('=') else {
            continue;
        };
        let parts: Vec<&str> = decl.split_whitespace().collect();
        let (label, ty, name) = match parts.as_slice() {
            [label @ ("repeated" | "optional" | "required"), ty, name] => {
                (Some(*label), *ty, *name)
            }
            [ty, name]
                if !matches!(*ty, "option" | "reserved" | "syntax" | "package" | "import") =>
            {
                (None, *ty, *name)
            }
            _ => continue,
        };
        // Messages only (skip the oneof marker in the path).
        let prefix: Vec<&str> = stack
            .iter()
            .filter(|s| !s.contains(':'))
            .map(String::as_str)
            .skip(1)
            .collect();
        let path = join(&prefix.join("."), name);
        let ty = match label {
            Some("repeated") => format!("repeated {ty}"),
            Some("optional") => format!("optional {ty}"),
            _ => ty.to_string(),
        };
        let mut tags = BTreeSet::new();
        if let Some(i) = line.find("tags") {
            let rest = &line[i..];
            for (n, piece) in rest.split('"').enumerate() {
                if n % 2 == 1 && !piece.is_empty() {
                    tags.insert(piece.to_string());
                }
            }
        }
        out.push(FieldRow {
            name: path,
            ty,
            doc,
            default: None,
            tags,
        });
    }
}

// ---- highlighting ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Key,
    Str,
    Num,
    Word,
    Comment,
    Punct,
    Plain,
}

impl Tok {
    fn class(self) -> Option<&'static str> {
        match self {
            Tok::Key => Some("k"),
            Tok::Str => Some("s"),
            Tok::Num => Some("n"),
            Tok::Word => Some("b"),
            Tok::Comment => Some("c"),
            Tok::Punct => Some("p"),
            Tok::Plain => None,
        }
    }
}

const PROTO_KEYWORDS: &[&str] = &[
    "syntax", "package", "import", "option", "message", "enum", "service", "rpc", "returns",
    "repeated", "optional", "required", "oneof", "map", "reserved", "extend", "public", "weak",
    "true", "false",
];

fn tokens(format: SchemaFormat, text: &str) -> Vec<(Tok, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let proto = format == SchemaFormat::Protobuf;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let tok = if c == b'"' || (proto && c == b'\'') {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            // A JSON string followed by ':' is a key.
            let mut j = i;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if !proto && j < b.len() && b[j] == b':' {
                Tok::Key
            } else {
                Tok::Str
            }
        } else if proto && c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            Tok::Comment
        } else if proto && c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
            Tok::Comment
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'+' | b'-'))
            {
                i += 1;
            }
            Tok::Num
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.')) {
                i += 1;
            }
            let w = &text[start..i];
            let known = if proto {
                PROTO_KEYWORDS.contains(&w)
            } else {
                matches!(w, "true" | "false" | "null")
            };
            if known {
                Tok::Word
            } else {
                Tok::Plain
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
            Tok::Punct
        } else {
            // Whitespace and anything else (including multi-byte characters) up to the next
            // interesting byte.
            i += 1;
            while i < b.len()
                && !b[i].is_ascii_alphanumeric()
                && !b[i].is_ascii_punctuation()
                && b[i] != b'\n'
            {
                i += 1;
            }
            if c == b'\n' {
                i = start + 1;
            }
            Tok::Plain
        };
        // Keep slices on character boundaries.
        while i < b.len() && !text.is_char_boundary(i) {
            i += 1;
        }
        out.push((tok, &text[start..i]));
    }
    out
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The text highlighted, one escaped HTML string per line (spans never cross lines).
pub fn highlight_lines(format: SchemaFormat, text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (tok, s) in tokens(format, text) {
        for (n, piece) in s.split('\n').enumerate() {
            if n > 0 {
                lines.push(String::new());
            }
            if piece.is_empty() {
                continue;
            }
            let line = lines.last_mut().expect("at least one line");
            match tok.class() {
                Some(class) => {
                    line.push_str("<span class=\"");
                    line.push_str(class);
                    line.push_str("\">");
                    escape(piece, line);
                    line.push_str("</span>");
                }
                None => escape(piece, line),
            }
        }
    }
    lines
}

// ---- side-by-side diff ----

/// A row of a side-by-side diff: the left (old) and right (new) line numbers (1-based)
/// and how the row changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffRow {
    pub left: Option<usize>,
    pub right: Option<usize>,
    pub kind: DiffKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    Same,
    Changed,
    Removed,
    Added,
}

impl DiffKind {
    pub fn class(self) -> &'static str {
        match self {
            DiffKind::Same => "same",
            DiffKind::Changed => "changed",
            DiffKind::Removed => "removed",
            DiffKind::Added => "added",
        }
    }
}

/// Aligns two texts' lines by their longest common subsequence; a run of removed lines
/// next to a run of added ones pairs up as changed rows. Beyond 4 million line pairs
/// (huge schemas) every differing line is simply paired in order.
pub fn diff_rows(old: &[&str], new: &[&str]) -> Vec<DiffRow> {
    let (n, m) = (old.len(), new.len());
    let mut ops: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    if n.saturating_mul(m) <= 4_000_000 {
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if old[i] == new[j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && old[i] == new[j] {
                ops.push((Some(i), Some(j)));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[at(i, j + 1)] >= lcs[at(i + 1, j)]) {
                ops.push((None, Some(j)));
                j += 1;
            } else {
                ops.push((Some(i), None));
                i += 1;
            }
        }
    } else {
        for k in 0..n.max(m) {
            ops.push(((k < n).then_some(k), (k < m).then_some(k)));
        }
    }
    // Pair runs of removals and additions.
    let mut rows = Vec::new();
    let mut k = 0;
    while k < ops.len() {
        match ops[k] {
            (Some(i), Some(j)) => {
                let kind = if old[i] == new[j] {
                    DiffKind::Same
                } else {
                    DiffKind::Changed
                };
                rows.push(DiffRow {
                    left: Some(i + 1),
                    right: Some(j + 1),
                    kind,
                });
                k += 1;
            }
            _ => {
                let mut removed = Vec::new();
                let mut added = Vec::new();
                while k < ops.len() && !matches!(ops[k], (Some(_), Some(_))) {
                    match ops[k] {
                        (Some(i), None) => removed.push(i),
                        (None, Some(j)) => added.push(j),
                        _ => {}
                    }
                    k += 1;
                }
                for p in 0..removed.len().max(added.len()) {
                    let (l, r) = (removed.get(p).copied(), added.get(p).copied());
                    let kind = match (l, r) {
                        (Some(_), Some(_)) => DiffKind::Changed,
                        (Some(_), None) => DiffKind::Removed,
                        _ => DiffKind::Added,
                    };
                    rows.push(DiffRow {
                        left: l.map(|i| i + 1),
                        right: r.map(|j| j + 1),
                        kind,
                    });
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_fields_with_nested_records_docs_defaults_and_tags() {
        let text = r#"{"type":"record","name":"Order","fields":[
            {"name":"id","type":"string","doc":"The order id"},
            {"name":"email","type":["null","string"],"default":null,"confluent:tags":["PII"]},
            {"name":"address","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}}]}"#;
        let f = fields(SchemaFormat::Avro, text);
        let names: Vec<&str> = f.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["id", "email", "address", "address.city"]);
        assert_eq!(f[0].doc.as_deref(), Some("The order id"));
        assert_eq!(f[1].ty, "null | string");
        assert_eq!(f[1].default.as_deref(), Some("null"));
        assert!(f[1].tags.contains("PII"));
        assert_eq!(f[2].ty, "record Address");
    }

    #[test]
    fn json_schema_and_proto_fields() {
        let js = r#"{"type":"object","properties":{"sku":{"type":"string","description":"Stock unit"},"qty":{"type":"integer","default":1}}}"#;
        let f = fields(SchemaFormat::Json, js);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].doc.as_deref(), Some("Stock unit"));
        assert_eq!(f[1].default.as_deref(), Some("1"));

        let proto = "syntax = \"proto3\";\nmessage Payment {\n  // Amount in cents\n  int64 amount = 1;\n  repeated string notes = 2;\n  string card = 3 [(confluent.field_meta).tags = \"PII\"];\n  enum Kind {\n    CARD = 0;\n  }\n}\n";
        let f = fields(SchemaFormat::Protobuf, proto);
        let names: Vec<&str> = f.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["amount", "notes", "card"]);
        assert_eq!(f[0].doc.as_deref(), Some("Amount in cents"));
        assert_eq!(f[1].ty, "repeated string");
        assert!(f[2].tags.contains("PII"));
    }

    #[test]
    fn highlighting_escapes_and_keeps_lines() {
        let lines = highlight_lines(
            SchemaFormat::Json,
            "{\n  \"doc\": \"<script>\",\n  \"n\": 1\n}",
        );
        assert_eq!(lines.len(), 4);
        assert!(lines[1].contains("<span class=\"k\">&quot;doc&quot;</span>"));
        assert!(lines[1].contains("&lt;script&gt;"));
        assert!(!lines.concat().contains("<script>"));
        assert!(lines[2].contains("<span class=\"n\">1</span>"));
        let proto = highlight_lines(SchemaFormat::Protobuf, "// hi\nmessage A {}");
        assert!(proto[0].contains("class=\"c\""));
        assert!(proto[1].contains("<span class=\"b\">message</span>"));
    }

    #[test]
    fn diff_pairs_changes_and_marks_additions() {
        let old = ["a", "b", "c"];
        let new = ["a", "B", "c", "d"];
        let rows = diff_rows(&old, &new);
        let kinds: Vec<DiffKind> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                DiffKind::Same,
                DiffKind::Changed,
                DiffKind::Same,
                DiffKind::Added
            ]
        );
    }
}
