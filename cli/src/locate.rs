//! Maps a finding's `path` (accord-compat's dialect, see below) to a 1-based line of the
//! schema file, so that reports (and GitHub annotations) point at the offending line.
//!
//! * Avro (`.avsc`) and JSON Schema are JSON texts: [`parse_json`] is a small JSON reader
//!   that keeps the line of every value and object key (serde_json drops positions). A
//!   path is a JSON pointer (`/fields/3/type` for Avro, `#/properties/a` for JSON Schema)
//!   resolved over that tree, with the detours accord-compat's paths take: through an
//!   Avro type named by reference (`"type": "Address"` then `/fields/1`), through a local
//!   `$ref`, and `#/required/<name>` (a name, not an index). A Avro field can also be
//!   addressed by name (`/fields/@id`), which is how [`SourceMap::translate_avro`] carries
//!   a path in an *older* schema (FORWARD findings point into the old reader) over to the
//!   new file.
//! * Protobuf paths are full names (`ex.Order.price`, `ex.Order.tags.key`, `shop.v1`):
//!   the declaration lines come from the compiled descriptor's source info, and a name
//!   not declared (a map's `key`, a removed field) falls back to its nearest enclosing
//!   declaration.
//!
//! Best effort by design: a path that cannot be followed to the end is located at the
//! deepest node it reached; one that reaches nothing gives `None`.

use accord_compat::protobuf::ProtobufSchema;
pub use accord_contracts::lint::tree::{parse_json, Node, ProtoLocations, Value};
use std::collections::HashMap;

/// Nesting deeper than this is not followed.
const MAX_DEPTH: usize = 512;

/// Where the declarations of one schema file are.
pub enum SourceMap {
    Json(JsonMap),
    /// Protobuf full name (no leading dot) → line.
    Proto(HashMap<String, u32>),
    /// Nothing could be read (a binary descriptor, or text the reader refused).
    Unknown,
}

pub struct JsonMap {
    root: Node,
    /// Avro named types by the name as written, full name and simple name: the route
    /// (child indices) from the root to the definition.
    named: HashMap<String, Vec<usize>>,
}

impl SourceMap {
    /// For Avro and JSON Schema texts.
    pub fn json(text: &str) -> SourceMap {
        match parse_json(text) {
            Some(root) => {
                let mut named = HashMap::new();
                collect_named(&root, &mut Vec::new(), &mut named);
                SourceMap::Json(JsonMap { root, named })
            }
            None => SourceMap::Unknown,
        }
    }

    /// For a compiled `.proto` text (its descriptor keeps source info).
    pub fn proto(schema: &ProtobufSchema) -> SourceMap {
        SourceMap::Proto(proto_lines(schema))
    }

    /// The line of `path`, best effort (see the module docs).
    pub fn locate(&self, path: &str) -> Option<u32> {
        match self {
            SourceMap::Json(map) => map.locate(path),
            SourceMap::Proto(lines) => {
                let mut name = path.trim_start_matches('.');
                loop {
                    if name.is_empty() {
                        return None;
                    }
                    if let Some(&l) = lines.get(name) {
                        return Some(l);
                    }
                    name = &name[..name.rfind('.').unwrap_or(0)];
                }
            }
            SourceMap::Unknown => None,
        }
    }

    /// An Avro path into this (older) schema with every `fields/N` replaced by the
    /// field's name (`fields/@name`), so that [`locate`](Self::locate) on the newer
    /// file finds the same field wherever it moved. Other formats: unchanged.
    pub fn translate_avro(&self, path: &str) -> String {
        let SourceMap::Json(map) = self else {
            return path.to_string();
        };
        let segments = split_pointer(path);
        let mut out: Vec<String> = Vec::with_capacity(segments.len());
        let mut cur = Some(&map.root);
        let mut i = 0;
        while i < segments.len() {
            let seg = &segments[i];
            out.push(seg.replace('~', "~0").replace('/', "~1"));
            let next = cur.and_then(|node| map.step(node, seg));
            if seg == "fields" {
                if let (Some(fields), Some(idx)) = (next, segments.get(i + 1)) {
                    if let Some(field) = idx
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| fields.as_array().and_then(|a| a.get(n)))
                    {
                        if let Some(name) = field.str_of("name") {
                            out.push(format!("@{name}"));
                            cur = Some(field);
                            i += 2;
                            continue;
                        }
                    }
                }
            }
            cur = next;
            i += 1;
        }
        if out.is_empty() {
            "/".to_string()
        } else {
            format!("/{}", out.join("/"))
        }
    }
}

/// `/a/b~1c` or `#/a/b` → `["a", "b/c"]`; `/` and `#/` → `[]`.
fn split_pointer(path: &str) -> Vec<String> {
    let p = path.strip_prefix('#').unwrap_or(path);
    p.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

impl JsonMap {
    fn locate(&self, path: &str) -> Option<u32> {
        if path.trim().is_empty() {
            return None;
        }
        let mut node = &self.root;
        let mut line = self.root.line;
        for seg in split_pointer(path) {
            match self.step_with_line(node, &seg) {
                Some((next, l)) => {
                    node = next;
                    line = l;
                }
                None => break,
            }
        }
        Some(line)
    }

    fn step<'a>(&'a self, node: &'a Node, seg: &str) -> Option<&'a Node> {
        self.step_with_line(node, seg).map(|(n, _)| n)
    }

    /// One pointer step from `node`, and the line it lands on (a member's key line).
    fn step_with_line<'a>(&'a self, node: &'a Node, seg: &str) -> Option<(&'a Node, u32)> {
        let mut node = node;
        // At most a few detours (named type, $ref) before the step itself.
        for _ in 0..8 {
            match &node.value {
                Value::Obj(members) => {
                    if let Some(m) = members.iter().find(|m| m.key == seg) {
                        return Some((&m.value, m.line));
                    }
                    let target = node
                        .str_of("$ref")
                        .and_then(|r| r.strip_prefix('#'))
                        .and_then(|r| self.resolve(r));
                    match target {
                        Some(t) => node = t,
                        None => return None,
                    }
                }
                Value::Arr(items) => {
                    if let Ok(n) = seg.parse::<usize>() {
                        return items.get(n).map(|n| (n, n.line));
                    }
                    if let Some(name) = seg.strip_prefix('@') {
                        return items
                            .iter()
                            .find(|f| {
                                f.str_of("name") == Some(name)
                                    || f.get("aliases")
                                        .and_then(|a| a.value.as_array())
                                        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(name)))
                            })
                            .map(|n| (n, n.line));
                    }
                    return items
                        .iter()
                        .find(|n| n.as_str() == Some(seg))
                        .map(|n| (n, n.line));
                }
                Value::Str(name) => {
                    let simple = name.rsplit('.').next().unwrap_or(name);
                    let def = self
                        .named
                        .get(name.as_str())
                        .or_else(|| self.named.get(simple))
                        .and_then(|route| self.at(route));
                    match def {
                        Some(def) if !std::ptr::eq(def, node) => node = def,
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        None
    }

    /// The node at `route` (child indices from the root).
    fn at(&self, route: &[usize]) -> Option<&Node> {
        let mut node = &self.root;
        for &i in route {
            node = match &node.value {
                Value::Obj(members) => &members.get(i)?.value,
                Value::Arr(items) => items.get(i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// A local JSON pointer (`/definitions/a`) from the root.
    fn resolve(&self, pointer: &str) -> Option<&Node> {
        let mut node = &self.root;
        for seg in split_pointer(pointer) {
            node = match &node.value {
                Value::Obj(members) => &members.iter().find(|m| m.key == seg)?.value,
                Value::Arr(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// Avro named types (`{"type": "record"|"enum"|"fixed", "name": ...}`) anywhere in the
/// document, by the name as written, the full name and the last dotted component.
fn collect_named(node: &Node, route: &mut Vec<usize>, out: &mut HashMap<String, Vec<usize>>) {
    if route.len() > MAX_DEPTH {
        return;
    }
    match &node.value {
        Value::Obj(members) => {
            if let (Some(ty), Some(name)) = (node.str_of("type"), node.str_of("name")) {
                if matches!(ty, "record" | "error" | "enum" | "fixed") {
                    if let Some(ns) = node.str_of("namespace").filter(|n| !n.is_empty()) {
                        if !name.contains('.') {
                            out.entry(format!("{ns}.{name}"))
                                .or_insert_with(|| route.clone());
                        }
                    }
                    out.entry(name.to_string()).or_insert_with(|| route.clone());
                    let simple = name.rsplit('.').next().unwrap_or(name);
                    out.entry(simple.to_string())
                        .or_insert_with(|| route.clone());
                }
            }
            for (i, m) in members.iter().enumerate() {
                route.push(i);
                collect_named(&m.value, route, out);
                route.pop();
            }
        }
        Value::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                route.push(i);
                collect_named(item, route, out);
                route.pop();
            }
        }
        _ => {}
    }
}

fn proto_lines(schema: &ProtobufSchema) -> HashMap<String, u32> {
    let file = schema.file_descriptor();
    let proto = file.file_descriptor_proto();
    let locs = ProtoLocations::new(proto);
    let mut out = HashMap::new();
    // FileDescriptorProto.package = 2.
    if !schema.package().is_empty() {
        if let Some(l) = locs.line(&[2]) {
            out.insert(schema.package().to_string(), l);
        }
    }
    let mut stack: Vec<prost_reflect::MessageDescriptor> = file.messages().collect();
    for e in file.enums() {
        if let Some(l) = locs.line(e.path()) {
            out.insert(e.full_name().to_string(), l);
        }
    }
    while let Some(m) = stack.pop() {
        if let Some(l) = locs.line(m.path()) {
            out.insert(m.full_name().to_string(), l);
        }
        for f in m.fields() {
            if let Some(l) = locs.line(f.path()) {
                out.insert(f.full_name().to_string(), l);
            }
        }
        for o in m.oneofs() {
            if let Some(l) = locs.line(o.path()) {
                out.insert(o.full_name().to_string(), l);
            }
        }
        for e in m.child_enums() {
            if let Some(l) = locs.line(e.path()) {
                out.insert(e.full_name().to_string(), l);
            }
        }
        stack.extend(m.child_messages());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVRO: &str = r#"{
  "type": "record",
  "name": "Order",
  "fields": [
    {"name": "id", "type": "long"},
    {
      "name": "ship_to",
      "type": {"type": "record", "name": "Address", "fields": [
        {"name": "street", "type": "string"},
        {"name": "zip", "type": "string"}
      ]}
    },
    {"name": "bill_to", "type": "Address"}
  ]
}"#;

    #[test]
    fn avro_pointers_follow_fields_and_named_references() {
        let map = SourceMap::json(AVRO);
        assert_eq!(map.locate("/"), Some(1));
        assert_eq!(map.locate("/fields/0"), Some(5));
        assert_eq!(map.locate("/fields/1/type/fields/1"), Some(10));
        assert_eq!(map.locate("/fields/2/type/fields/1"), Some(10));
        assert_eq!(map.locate("/fields/2/type"), Some(13));
        assert_eq!(map.locate("/fields/9/type"), Some(4));
        assert_eq!(map.locate(""), None);
        assert_eq!(
            map.translate_avro("/fields/1/type/fields/0"),
            "/fields/@ship_to/type/fields/@street"
        );
        assert_eq!(map.locate("/fields/@bill_to"), Some(13));
    }

    #[test]
    fn json_schema_pointers_follow_refs_and_required_names() {
        let text = "{\n \"type\": \"object\",\n \"properties\": {\n  \"a\": {\"$ref\": \"#/definitions/A\"}\n },\n \"required\": [\n  \"a\"\n ],\n \"definitions\": {\"A\": {\"properties\": {\n  \"zip\": {\"type\": \"string\"}}}}\n}";
        let map = SourceMap::json(text);
        assert_eq!(map.locate("#/properties/a"), Some(4));
        assert_eq!(map.locate("#/properties/a/properties/zip"), Some(10));
        assert_eq!(map.locate("#/required/a"), Some(7));
        assert_eq!(map.locate("#/"), Some(1));
    }

    #[test]
    fn strings_with_escapes_and_newlines() {
        let n = parse_json("{\"a\\\"b\\u00e9\\ud83d\\ude00\": [1, -2.5e3, true, null]}").unwrap();
        assert_eq!(n.members()[0].key, "a\"bé😀");
        assert!(parse_json("{\"a\": }").is_none());
        assert!(parse_json("[1] x").is_none());
    }
}
