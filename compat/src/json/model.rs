//! The typed model the diff walks: one node per schema location, shaped like the
//! schema classes of the Java library Confluent compares with (everit), because the
//! diff's verdicts depend on that shape. For example `{"type":"string","enum":[..]}` is
//! two parts (a string schema and an enum schema) joined by a synthetic `allOf`, and a
//! `type` array is a synthetic `anyOf` of one schema per type.
//!
//! Nodes live in an arena and refer to each other by index, so `$ref` cycles are plain
//! back-edges and the diff can detect them by the pair of indices it is comparing.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (as in rustc): the diff's lookups are by short property names and small
/// integer pairs, where SipHash's DoS resistance buys nothing and costs a third of
/// the comparison time.
#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
}

pub(crate) type Fx = BuildHasherDefault<FxHasher>;

pub(crate) type NodeId = usize;

/// The arena of one parsed schema (its own document plus the referenced ones it uses).
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub nodes: Vec<Node>,
    pub root: NodeId,
    /// Nodes some `$ref` points at: the only places a comparison can meet the same
    /// node twice (and so the only ones worth memoising or checking for cycles).
    pub ref_targets: Vec<bool>,
}

impl Model {
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub fn is_ref_target(&self, id: NodeId) -> bool {
        self.ref_targets.get(id).copied().unwrap_or(false)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    /// The schema object carries a `default` (used by the required-property rules).
    pub has_default: bool,
    /// The schema object carries `"connect.type": "bytes"` (Kafka Connect's bytes marker).
    pub connect_bytes: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// `{}` or `true`: anything is valid.
    Empty,
    /// `false`: nothing is valid.
    False,
    Null,
    Boolean,
    String(StringNode),
    Number(NumberNode),
    Object(Box<ObjectNode>),
    Array(Box<ArrayNode>),
    Enum(EnumNode),
    Const(ConstNode),
    Combined(CombinedNode),
    Not(NodeId),
    Ref(RefNode),
    /// `if`/`then`/`else`: compared by class only, as Confluent does.
    Conditional,
}

/// The class of a node, as the diff's "same kind of schema?" test sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Empty,
    False,
    Null,
    Boolean,
    String,
    Number,
    Object,
    Array,
    Enum,
    Const,
    Combined,
    Not,
    Ref,
    Conditional,
}

impl Class {
    pub fn describe(self) -> &'static str {
        match self {
            Class::Empty => "an empty schema (anything)",
            Class::False => "the false schema (nothing)",
            Class::Null => "null",
            Class::Boolean => "boolean",
            Class::String => "string",
            Class::Number => "number",
            Class::Object => "object",
            Class::Array => "array",
            Class::Enum => "an enum",
            Class::Const => "a const",
            Class::Combined => "a combined schema (allOf/anyOf/oneOf)",
            Class::Not => "a not schema",
            Class::Ref => "a reference",
            Class::Conditional => "a conditional schema (if/then/else)",
        }
    }
}

impl NodeKind {
    pub fn class(&self) -> Class {
        match self {
            NodeKind::Empty => Class::Empty,
            NodeKind::False => Class::False,
            NodeKind::Null => Class::Null,
            NodeKind::Boolean => Class::Boolean,
            NodeKind::String(_) => Class::String,
            NodeKind::Number(_) => Class::Number,
            NodeKind::Object(_) => Class::Object,
            NodeKind::Array(_) => Class::Array,
            NodeKind::Enum(_) => Class::Enum,
            NodeKind::Const(_) => Class::Const,
            NodeKind::Combined(_) => Class::Combined,
            NodeKind::Not(_) => Class::Not,
            NodeKind::Ref(_) => Class::Ref,
            NodeKind::Conditional => Class::Conditional,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct StringNode {
    pub min_length: Option<i64>,
    pub max_length: Option<i64>,
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct NumberNode {
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    pub requires_integer: bool,
    /// The exclusive bounds come from draft-04's boolean flags (Confluent's diff does
    /// not compare those, so Accord's findings on them are its own).
    pub draft4_exclusive: bool,
}

/// A `patternProperties` key with its compiled regex. `regex` is `None` when the
/// pattern uses Java-only syntax the `regex` crate cannot run (look-around,
/// back-references); such a pattern never matches a property name here.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub regex: Option<regex::Regex>,
}

impl Pattern {
    pub fn matches(&self, name: &str) -> bool {
        self.regex.as_ref().is_some_and(|r| r.is_match(name))
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectNode {
    /// Declared properties, in document order.
    pub properties: Vec<(String, NodeId)>,
    /// Name -> index into `properties`.
    pub property_index: HashMap<String, usize, Fx>,
    pub required: HashSet<String, Fx>,
    /// `additionalProperties` is not `false`.
    pub permits_additional: bool,
    /// `additionalProperties` as a schema (an object, or `{}`), not a boolean.
    pub additional: Option<NodeId>,
    pub pattern_properties: Vec<(Pattern, NodeId)>,
    /// Property dependencies (`dependencies` with an array / `dependentRequired`):
    /// (property, required names, keyword it came from).
    pub property_deps: Vec<(String, Vec<String>, &'static str)>,
    /// Schema dependencies (`dependencies` with a schema / `dependentSchemas`).
    pub schema_deps: Vec<(String, NodeId, &'static str)>,
    pub min_properties: Option<i64>,
    pub max_properties: Option<i64>,
    /// `unevaluatedProperties` unless it is `true`/`{}` (which mean the same as absent).
    pub unevaluated: Option<NodeId>,
}

impl ObjectNode {
    pub fn property(&self, name: &str) -> Option<NodeId> {
        self.property_index
            .get(name)
            .and_then(|&i| self.properties.get(i))
            .map(|(_, id)| *id)
    }

    pub fn property_dep(&self, name: &str) -> Option<(&Vec<String>, &'static str)> {
        self.property_deps
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, deps, kw)| (deps, *kw))
    }

    pub fn schema_dep(&self, name: &str) -> Option<(NodeId, &'static str)> {
        self.schema_deps
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, id, kw)| (*id, *kw))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ArrayNode {
    /// `items` as one schema for every element.
    pub all_items: Option<NodeId>,
    /// Tuple items (`items` as an array up to 2019-09, `prefixItems` in 2020-12).
    pub tuple: Option<Vec<NodeId>>,
    /// The keyword the tuple came from, for paths.
    pub tuple_keyword: &'static str,
    /// Elements after the tuple are allowed (`additionalItems` / 2020-12 `items` is not
    /// `false`).
    pub permits_additional: bool,
    pub additional: Option<NodeId>,
    /// The keyword for elements after the tuple, for paths.
    pub additional_keyword: &'static str,
    pub min_items: Option<i64>,
    pub max_items: Option<i64>,
    pub unique_items: bool,
    pub min_contains: Option<i64>,
    pub max_contains: Option<i64>,
    /// `unevaluatedItems` unless it is `true`/`{}`.
    pub unevaluated: Option<NodeId>,
}

#[derive(Debug, Clone)]
pub(crate) struct EnumNode {
    /// The values, each as a canonical key (numbers normalised, object keys sorted) so
    /// `1` and `1.0` are one value, as JSON Schema says.
    pub keys: HashSet<String>,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct ConstNode {
    pub key: String,
    pub value: Value,
}

/// Named as the keywords are spelled.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criterion {
    AllOf,
    AnyOf,
    OneOf,
}

impl Criterion {
    pub fn keyword(self) -> &'static str {
        match self {
            Criterion::AllOf => "allOf",
            Criterion::AnyOf => "anyOf",
            Criterion::OneOf => "oneOf",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CombinedNode {
    pub criterion: Criterion,
    /// (index in the keyword's array, subschema); duplicates (equal JSON) dropped, as
    /// Confluent collapses them.
    pub subs: Vec<(usize, NodeId)>,
    /// How many subschemas the keyword lists, duplicates included (what Confluent's
    /// singleton tests count).
    pub total: usize,
    /// Made by the loader, not written by the user: the parts of one schema object
    /// (`type` + `enum`, a `type` array, ...). Its parts all live at the object's own
    /// path, so no `allOf/N` segment is added for them.
    pub synthetic: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefNode {
    pub target: Option<NodeId>,
    pub reference: String,
    /// For a remote (`http`/`https`) reference that no given reference supplies: its
    /// absolute URI. Such a reference is left unresolved (Confluent would fetch it), and
    /// two of them compare equal only when they name the same URI.
    pub unresolved: Option<String>,
}

/// A canonical key for a JSON value: equal keys iff the values are equal as JSON Schema
/// sees them (numbers by value, object keys in any order).
pub(crate) fn value_key(v: &Value) -> String {
    let mut out = String::new();
    write_key(v, &mut out);
    out
}

fn write_key(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    // Whole numbers written as 1.0 are the integer 1.
                    out.push_str(&format!("{}", f as i64));
                } else {
                    out.push_str(&format!("{f:e}"));
                }
            }
        }
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(x) = o.get(*k) {
                    write_key(x, out);
                }
            }
            out.push('}');
        }
    }
}
