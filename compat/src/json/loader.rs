//! Text -> [`Model`]: JSON syntax, the structure of every keyword the schema's dialect
//! defines, and `$ref` resolution (local pointers, `$id`/anchor based refs, and the
//! other subjects passed in as references).
//!
//! Only what Confluent's loaders refuse is an error here; what they accept and the
//! specifications forbid gives a warning instead (see [`warn`]).
//!
//! One walk does validation and model building together so the two cannot disagree on
//! which keywords hold subschemas. `$ref`s are recorded while walking and resolved
//! afterwards, when every `$id` and anchor of every document is known; a target that the
//! walk did not visit (a pointer into an unknown keyword, say) is built on demand then.

use super::model::*;
use super::uri;
use crate::{Reference, SchemaError};
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// The JSON Schema drafts the registry accepts, chosen by `$schema` (draft 7 when it is
/// absent or unknown, as Confluent does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    Draft4,
    Draft6,
    Draft7,
    Draft2019_09,
    Draft2020_12,
}

impl Dialect {
    /// The dialect a `$schema` URI names; unknown URIs fall back to draft 7.
    pub fn from_schema_uri(uri: &str) -> Dialect {
        let s = uri.trim();
        let s = s.strip_suffix('#').unwrap_or(s);
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        match s {
            "json-schema.org/draft-04/schema" => Dialect::Draft4,
            "json-schema.org/draft-06/schema" => Dialect::Draft6,
            "json-schema.org/draft-07/schema" => Dialect::Draft7,
            "json-schema.org/draft/2019-09/schema" => Dialect::Draft2019_09,
            "json-schema.org/draft/2020-12/schema" => Dialect::Draft2020_12,
            _ => Dialect::Draft7,
        }
    }

    /// The draft's usual name, e.g. `draft-07`, `2020-12`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Draft4 => "draft-04",
            Dialect::Draft6 => "draft-06",
            Dialect::Draft7 => "draft-07",
            Dialect::Draft2019_09 => "2019-09",
            Dialect::Draft2020_12 => "2020-12",
        }
    }

    fn id_keyword(self) -> &'static str {
        if self == Dialect::Draft4 {
            "id"
        } else {
            "$id"
        }
    }
}

/// What [`load`] returns: the root document's JSON, its dialect, the model, and the
/// warnings for what Accord accepts because Confluent does (see [`warn`]).
pub(crate) struct Loaded {
    pub value: Value,
    pub dialect: Dialect,
    pub model: Model,
    pub warnings: Vec<crate::Warning>,
}

/// The kinds of warning the loader gives. Each marks something Accord used to refuse
/// and Confluent's loaders (everit for draft-04 to -07, json-sKema for 2019-09 and
/// 2020-12) accept with default settings.
pub mod warn {
    /// A boolean schema (`true`/`false`) in a draft-04 schema (everit reads boolean
    /// schemas whatever the draft).
    pub const DRAFT4_BOOLEAN_SCHEMA: &str = "DRAFT4_BOOLEAN_SCHEMA";
    /// A negative `minLength`/`maxLength`/`minItems`/`maxItems`/`minProperties`/
    /// `maxProperties`/`minContains`/`maxContains` (the loaders only ask for an integer).
    pub const NEGATIVE_LIMIT: &str = "NEGATIVE_LIMIT";
    /// A negative `multipleOf`, or 0 from 2019-09 on (everit refuses only 0).
    pub const MULTIPLE_OF_NOT_POSITIVE: &str = "MULTIPLE_OF_NOT_POSITIVE";
    /// A `type` array that names a type twice.
    pub const TYPE_ARRAY_NOT_UNIQUE: &str = "TYPE_ARRAY_NOT_UNIQUE";
    /// `"type": []` (no value is valid).
    pub const EMPTY_TYPE_ARRAY: &str = "EMPTY_TYPE_ARRAY";
    /// An empty `allOf`/`anyOf`/`oneOf`/`prefixItems` array.
    pub const EMPTY_SUBSCHEMA_ARRAY: &str = "EMPTY_SUBSCHEMA_ARRAY";
    /// Something wrong inside a `definitions` entry (or a `$ref` in one) that nothing
    /// uses: the loaders only read definitions a `$ref` reaches.
    pub const INVALID_UNUSED_DEFINITION: &str = "INVALID_UNUSED_DEFINITION";
    /// A keyword Confluent's loader never reads holds a value of the wrong type; Accord
    /// ignores it too.
    pub const KEYWORD_VALUE_IGNORED: &str = "KEYWORD_VALUE_IGNORED";
    /// A regular expression Java accepts and the `regex` crate cannot run (look-around,
    /// back-references, Java-only escapes and classes): it never matches here.
    pub const UNSUPPORTED_REGEX: &str = "UNSUPPORTED_REGEX";
    /// An `http`/`https` `$ref` no given reference supplies: Confluent fetches it,
    /// Accord leaves it unresolved.
    pub const UNRESOLVED_REMOTE_REF: &str = "UNRESOLVED_REMOTE_REF";
    /// `$ref`s that only lead to other `$ref`s (a cycle, or a chain longer than 64).
    pub const REF_CYCLE: &str = "REF_CYCLE";
}

struct Doc {
    /// `None` for the schema being parsed; the reference name otherwise.
    name: Option<String>,
    value: Value,
    dialect: Dialect,
    /// Base URI of the document root (its `$id`, else its reference name, else "").
    base: String,
}

/// How deep the walk may go before a schema is rejected. serde_json already refuses
/// JSON nested deeper than 128 levels, so this is a second fence for the walk itself.
const MAX_DEPTH: usize = 256;
/// Longest chain of `$ref`s pointing straight at other `$ref`s.
const MAX_REF_CHAIN: usize = 64;

fn invalid(loc: &str, what: impl std::fmt::Display) -> SchemaError {
    SchemaError::new(format!("Invalid JSON Schema: {loc}: {what}"))
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses JSON text, reporting syntax errors with line and column.
pub(crate) fn parse_json(text: &str, what: Option<&str>) -> Result<Value, SchemaError> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C"; say it once, up front.
        let msg = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        let within = what
            .map(|n| format!(" in reference '{n}'"))
            .unwrap_or_default();
        if msg.contains("recursion limit") {
            SchemaError::new(format!(
                "Invalid JSON Schema{within}: nested deeper than 128 levels at line {}, column {}",
                e.line(),
                e.column()
            ))
        } else {
            SchemaError::new(format!(
                "Invalid JSON Schema{within}: JSON syntax error at line {}, column {}: {msg}",
                e.line(),
                e.column()
            ))
        }
    })
}

fn dialect_of(v: &Value, loc: &str) -> Result<Dialect, SchemaError> {
    match v.get("$schema") {
        None => Ok(Dialect::Draft7),
        Some(Value::String(s)) => Ok(Dialect::from_schema_uri(s)),
        Some(other) => Err(invalid(
            &format!("{loc}/$schema"),
            format!("\"$schema\" must be a string, found {}", json_type(other)),
        )),
    }
}

/// Parses and validates `text` and everything it references.
pub(crate) fn load(text: &str, references: &[Reference]) -> Result<Loaded, SchemaError> {
    let mut docs = Vec::with_capacity(references.len() + 1);
    let root = parse_json(text, None)?;
    docs.push(make_doc(None, root)?);
    for r in references {
        let value = parse_json(&r.schema, Some(&r.name))?;
        docs.push(make_doc(Some(r.name.clone()), value)?);
    }
    let (model, warnings) = {
        let mut loader = Loader::new(&docs);
        let root = loader.build_root(0)?;
        for i in 1..docs.len() {
            loader.build_root(i)?;
        }
        loader.resolve_pending(root)?;
        loader.check_ref_chains();
        let mut ref_targets = vec![false; loader.nodes.len()];
        for n in &loader.nodes {
            if let NodeKind::Ref(RefNode {
                target: Some(t), ..
            }) = n.kind
            {
                if let Some(flag) = ref_targets.get_mut(t) {
                    *flag = true;
                }
            }
        }
        // The root can be reached again through "#".
        if let Some(flag) = ref_targets.get_mut(root) {
            *flag = true;
        }
        let model = Model {
            nodes: loader.nodes,
            root,
            ref_targets,
        };
        (model, loader.warnings)
    };
    let root_doc = docs.swap_remove(0);
    Ok(Loaded {
        value: root_doc.value,
        dialect: root_doc.dialect,
        model,
        warnings,
    })
}

fn make_doc(name: Option<String>, value: Value) -> Result<Doc, SchemaError> {
    let loc = match &name {
        Some(n) => format!("{n}#"),
        None => "#".to_string(),
    };
    if !matches!(value, Value::Object(_) | Value::Bool(_)) {
        return Err(SchemaError::new(format!(
            "Invalid JSON Schema: {loc}: a schema must be a JSON object or a boolean, found {}",
            json_type(&value)
        )));
    }
    let dialect = dialect_of(&value, &loc)?;
    let name_base = name
        .as_deref()
        .map(|n| uri::split_fragment(n).0.to_string())
        .unwrap_or_default();
    let base = match value.get(dialect.id_keyword()) {
        Some(Value::String(id)) if !uri::split_fragment(id).0.is_empty() => {
            uri::resolve(&name_base, uri::split_fragment(id).0)
        }
        _ => name_base,
    };
    Ok(Doc {
        name,
        value,
        dialect,
        base,
    })
}

struct Pending {
    node: NodeId,
    reference: String,
    doc: usize,
    ptr: String,
    keyword: &'static str,
    base: String,
    /// Met inside a `definitions` entry: a failure only counts when the model uses it.
    tolerant: bool,
}

/// A location: (document index, escaped JSON pointer).
type Loc = (usize, String);

/// A component of one schema object before it becomes a node.
enum Part {
    Node(NodeId),
    Kind(NodeKind),
}

struct Loader<'a> {
    docs: &'a [Doc],
    nodes: Vec<Node>,
    built: HashMap<Loc, NodeId>,
    /// Resource URI (or `#docN` for a document without a base) -> its location.
    resources: HashMap<String, Loc>,
    /// `<resource key>#<anchor>` -> location.
    anchors: HashMap<String, Loc>,
    /// Reference names (whole, and without fragment) -> document index.
    by_name: HashMap<String, usize>,
    pending: Vec<Pending>,
    /// Compiled patterns; `Err` holds why the `regex` crate cannot run one.
    regexes: HashMap<String, Result<Regex, String>>,
    warnings: Vec<crate::Warning>,
    warned: HashSet<(&'static str, String)>,
    /// Above 0 while building inside a `definitions` entry.
    tolerant: usize,
    /// Subschemas the model does not link (`if`/`then`/`else`, `propertyNames`,
    /// `contains`) waiting for their parent node; see `hidden_edges`.
    hidden: Vec<NodeId>,
    /// Parent node -> subschemas the model does not link, so that reachability sees
    /// every schema Confluent's loader reads.
    hidden_edges: HashMap<NodeId, Vec<NodeId>>,
}

fn resource_key(doc: usize, base: &str) -> String {
    if base.is_empty() {
        format!("#doc{doc}")
    } else {
        base.to_string()
    }
}

fn child(ptr: &str, token: &str) -> String {
    format!("{ptr}/{}", uri::escape_token(token))
}

fn child2(ptr: &str, keyword: &str, token: &str) -> String {
    format!("{ptr}/{keyword}/{}", uri::escape_token(token))
}

impl<'a> Loader<'a> {
    fn new(docs: &'a [Doc]) -> Self {
        let mut loader = Loader {
            docs,
            nodes: Vec::new(),
            built: HashMap::new(),
            resources: HashMap::new(),
            anchors: HashMap::new(),
            by_name: HashMap::new(),
            pending: Vec::new(),
            regexes: HashMap::new(),
            warnings: Vec::new(),
            warned: HashSet::new(),
            tolerant: 0,
            hidden: Vec::new(),
            hidden_edges: HashMap::new(),
        };
        let root_base = docs.first().map(|d| d.base.clone()).unwrap_or_default();
        for (i, d) in docs.iter().enumerate() {
            loader
                .resources
                .entry(resource_key(i, &d.base))
                .or_insert((i, String::new()));
            if let Some(name) = &d.name {
                loader.by_name.entry(name.clone()).or_insert(i);
                let doc_part = uri::split_fragment(name).0;
                loader.by_name.entry(doc_part.to_string()).or_insert(i);
                // A name relative to the root's `$id` also names the resolved URI.
                if !root_base.is_empty() && !doc_part.is_empty() {
                    loader
                        .resources
                        .entry(uri::resolve(&root_base, doc_part))
                        .or_insert((i, String::new()));
                }
            }
        }
        loader
    }

    fn loc(&self, doc: usize, ptr: &str) -> String {
        match self.docs.get(doc).and_then(|d| d.name.as_deref()) {
            Some(name) => format!("{name}#{ptr}"),
            None => format!("#{ptr}"),
        }
    }

    /// `loc` in the notation of [`crate::Incompatibility::path`] (`#/` for a root).
    fn warn_path(&self, doc: usize, ptr: &str) -> String {
        let l = self.loc(doc, ptr);
        if ptr.is_empty() {
            format!("{l}/")
        } else {
            l
        }
    }

    /// Records a warning (once per kind and place).
    fn warn(&mut self, kind: &'static str, doc: usize, ptr: &str, what: impl std::fmt::Display) {
        let path = self.warn_path(doc, ptr);
        if self.warned.insert((kind, path.clone())) {
            let message = format!("{path}: {what}");
            self.warnings.push(crate::Warning::new(kind, path, message));
        }
    }

    fn dialect(&self, doc: usize) -> Dialect {
        self.docs.get(doc).map_or(Dialect::Draft7, |d| d.dialect)
    }

    fn push(&mut self, kind: NodeKind) -> NodeId {
        self.nodes.push(Node {
            kind,
            has_default: false,
            connect_bytes: false,
        });
        self.nodes.len() - 1
    }

    fn build_root(&mut self, doc: usize) -> Result<NodeId, SchemaError> {
        let docs = self.docs;
        let Some(d) = docs.get(doc) else {
            return Err(SchemaError::new("Invalid JSON Schema: missing document"));
        };
        self.build(doc, "", &d.value, &d.base, 0)
    }

    /// Builds (once) the node for the schema `v` at `ptr` in document `doc`.
    fn build(
        &mut self,
        doc: usize,
        ptr: &str,
        v: &'a Value,
        base: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        if let Some(&id) = self.built.get(&(doc, ptr.to_string())) {
            return Ok(id);
        }
        if depth > MAX_DEPTH {
            return Err(invalid(
                &self.loc(doc, ptr),
                format!("schemas nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let id = match v {
            Value::Bool(b) => {
                if self.dialect(doc) == Dialect::Draft4 {
                    self.warn(
                        warn::DRAFT4_BOOLEAN_SCHEMA,
                        doc,
                        ptr,
                        format!(
                            "the boolean schema `{b}` needs draft-06 or later (this schema is draft-04); \
                             Confluent reads it whatever the draft, and so does Accord"
                        ),
                    );
                }
                self.push(if *b { NodeKind::Empty } else { NodeKind::False })
            }
            Value::Object(o) => self.build_object(doc, ptr, o, base, depth)?,
            other => {
                return Err(invalid(
                    &self.loc(doc, ptr),
                    format!(
                        "expected a schema (a JSON object or boolean), found {}",
                        json_type(other)
                    ),
                ))
            }
        };
        self.built.insert((doc, ptr.to_string()), id);
        Ok(id)
    }

    /// Builds a keyword value that holds one schema.
    fn sub(
        &mut self,
        doc: usize,
        ptr: &str,
        keyword: &str,
        v: &'a Value,
        base: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        self.build(doc, &child(ptr, keyword), v, base, depth + 1)
    }

    fn build_object(
        &mut self,
        doc: usize,
        ptr: &str,
        o: &'a Map<String, Value>,
        base: &str,
        depth: usize,
    ) -> Result<NodeId, SchemaError> {
        let dialect = self.dialect(doc);
        let mut base = base.to_string();
        let hidden_mark = self.hidden.len();

        // `$id` changes the base for everything below; `#name` ids and anchors name this
        // location.
        let id = match o.get(dialect.id_keyword()) {
            // json-sKema skips an `$id` that is not a string (`check_keywords` warns).
            Some(id) if !id.is_string() && !read_by_confluent("$id", dialect) => None,
            other => other,
        };
        if let Some(id) = id {
            let Value::String(id) = id else {
                return Err(invalid(
                    &child(&self.loc(doc, ptr), dialect.id_keyword()),
                    format!(
                        "\"{}\" must be a string, found {}",
                        dialect.id_keyword(),
                        json_type(id)
                    ),
                ));
            };
            let (doc_part, frag) = uri::split_fragment(id);
            if !doc_part.is_empty() {
                base = uri::resolve(&base, doc_part);
                self.resources
                    .entry(base.clone())
                    .or_insert((doc, ptr.to_string()));
            }
            if let Some(f) = frag {
                if !f.is_empty() && !f.starts_with('/') {
                    self.anchors
                        .entry(format!("{}#{f}", resource_key(doc, &base)))
                        .or_insert((doc, ptr.to_string()));
                }
            }
        }
        if dialect >= Dialect::Draft2019_09 {
            for kw in ["$anchor", "$dynamicAnchor"] {
                match o.get(kw) {
                    None => {}
                    Some(Value::String(a)) => {
                        self.anchors
                            .entry(format!("{}#{a}", resource_key(doc, &base)))
                            .or_insert((doc, ptr.to_string()));
                    }
                    // json-sKema skips a `$anchor` that is not a string.
                    Some(_) if kw == "$anchor" => {}
                    Some(other) => {
                        return Err(invalid(
                            &self.loc(doc, &child(ptr, kw)),
                            format!("\"{kw}\" must be a string, found {}", json_type(other)),
                        ))
                    }
                }
            }
        }

        // `$defs` (2019-09 on) are loaded even when nothing refers to them, as
        // json-sKema does. `definitions` are read by neither loader unless a `$ref`
        // reaches them: they are built here so that their `$id`s and anchors are known,
        // but what is wrong in one only counts once a `$ref` uses it (`resolve` builds
        // it again then, and fails).
        if dialect >= Dialect::Draft2019_09 {
            if let Some(defs) = o.get("$defs") {
                let Value::Object(defs) = defs else {
                    return Err(invalid(
                        &self.loc(doc, &child(ptr, "$defs")),
                        format!("\"$defs\" must be an object, found {}", json_type(defs)),
                    ));
                };
                for (name, d) in defs {
                    self.build(doc, &child2(ptr, "$defs", name), d, &base, depth + 1)?;
                }
            }
        }
        if let Some(Value::Object(defs)) = o.get("definitions") {
            for (name, d) in defs {
                let at = child2(ptr, "definitions", name);
                let mark = self.hidden.len();
                self.tolerant += 1;
                let built = self.build(doc, &at, d, &base, depth + 1);
                self.tolerant -= 1;
                if let Err(e) = built {
                    self.hidden.truncate(mark);
                    self.warn(
                        warn::INVALID_UNUSED_DEFINITION,
                        doc,
                        &at,
                        format!(
                            "this definition is not a valid schema ({}); nothing refers to it, \
                             and Confluent only reads definitions a $ref reaches",
                            e.message
                        ),
                    );
                }
            }
        }

        let has_default = o.contains_key("default");
        let connect_bytes = o.get("connect.type").and_then(Value::as_str) == Some("bytes");

        let mut parts: Vec<Part> = Vec::new();
        let mut ref_keywords = vec!["$ref"];
        if dialect == Dialect::Draft2019_09 {
            ref_keywords.push("$recursiveRef");
        }
        if dialect == Dialect::Draft2020_12 {
            ref_keywords.push("$dynamicRef");
        }
        for kw in ref_keywords {
            let Some(r) = o.get(kw) else { continue };
            let Value::String(r) = r else {
                if kw == "$recursiveRef" {
                    // json-sKema does not know `$recursiveRef`: the check below warns.
                    continue;
                }
                return Err(invalid(
                    &self.loc(doc, &child(ptr, kw)),
                    format!("\"{kw}\" must be a string, found {}", json_type(r)),
                ));
            };
            let node = self.push(NodeKind::Ref(RefNode {
                target: None,
                reference: r.clone(),
                unresolved: None,
            }));
            self.pending.push(Pending {
                node,
                reference: r.clone(),
                doc,
                ptr: ptr.to_string(),
                keyword: kw,
                base: base.clone(),
                tolerant: self.tolerant > 0,
            });
            if dialect <= Dialect::Draft7 {
                // Up to draft 7 a `$ref` replaces its siblings: they are not even read.
                if let Some(n) = self.nodes.get_mut(node) {
                    n.has_default = has_default;
                    n.connect_bytes = connect_bytes;
                }
                return Ok(node);
            }
            parts.push(Part::Node(node));
        }

        self.check_keywords(doc, ptr, o, dialect)?;

        match o.get("type") {
            Some(Value::String(t)) => {
                let kind = self.typed(doc, ptr, o, t, &base, depth)?;
                parts.push(Part::Kind(kind));
            }
            Some(Value::Array(ts)) if ts.len() == 1 => {
                if let Some(Value::String(t)) = ts.first() {
                    let kind = self.typed(doc, ptr, o, t, &base, depth)?;
                    parts.push(Part::Kind(kind));
                }
            }
            Some(Value::Array(ts)) => {
                // A type named twice makes two equal subschemas, which count once.
                let mut subs = Vec::with_capacity(ts.len());
                let mut seen = HashSet::new();
                for (i, t) in ts.iter().enumerate() {
                    if let Value::String(t) = t {
                        if seen.insert(t.as_str()) {
                            let kind = self.typed(doc, ptr, o, t, &base, depth)?;
                            subs.push((i, self.push(kind)));
                        }
                    }
                }
                parts.push(Part::Kind(NodeKind::Combined(CombinedNode {
                    criterion: Criterion::AnyOf,
                    subs,
                    total: ts.len(),
                    synthetic: true,
                })));
            }
            _ => {
                // No `type`: each family of type-specific keywords makes a part, as
                // everit's property sniffing does.
                // Only keywords of this dialect count (`unevaluatedProperties` means
                // nothing in draft-07).
                let has = |family: &[&str]| {
                    family
                        .iter()
                        .any(|k| o.contains_key(*k) && keyword_type(k, dialect).is_some())
                };
                if has(OBJECT_KEYWORDS) {
                    let obj = self.object(doc, ptr, o, &base, depth)?;
                    parts.push(Part::Kind(NodeKind::Object(Box::new(obj))));
                }
                if has(ARRAY_KEYWORDS) {
                    let arr = self.array(doc, ptr, o, &base, depth)?;
                    parts.push(Part::Kind(NodeKind::Array(Box::new(arr))));
                }
                if has(STRING_KEYWORDS) {
                    parts.push(Part::Kind(NodeKind::String(string_node(o))));
                }
                if has(NUMBER_KEYWORDS) {
                    parts.push(Part::Kind(NodeKind::Number(number_node(o, dialect, false))));
                }
            }
        }

        if let Some(Value::Array(values)) = o.get("enum") {
            parts.push(Part::Kind(NodeKind::Enum(EnumNode {
                keys: values.iter().map(value_key).collect(),
                values: values.clone(),
            })));
        }
        if dialect >= Dialect::Draft6 {
            if let Some(c) = o.get("const") {
                parts.push(Part::Kind(NodeKind::Const(ConstNode {
                    key: value_key(c),
                    value: c.clone(),
                })));
            }
        }
        for criterion in [Criterion::AllOf, Criterion::AnyOf, Criterion::OneOf] {
            let kw = criterion.keyword();
            if let Some(Value::Array(items)) = o.get(kw) {
                let mut subs = Vec::with_capacity(items.len());
                let mut seen = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    let id = self.build(
                        doc,
                        &child2(ptr, kw, &i.to_string()),
                        item,
                        &base,
                        depth + 1,
                    )?;
                    // Equal subschemas count once, as Confluent collapses them.
                    if seen.insert(value_key(item)) {
                        subs.push((i, id));
                    }
                }
                parts.push(Part::Kind(NodeKind::Combined(CombinedNode {
                    criterion,
                    subs,
                    total: items.len(),
                    synthetic: false,
                })));
            }
        }
        if let Some(n) = o.get("not") {
            let id = self.sub(doc, ptr, "not", n, &base, depth)?;
            parts.push(Part::Kind(NodeKind::Not(id)));
        }
        if dialect >= Dialect::Draft7 && o.contains_key("if") {
            for kw in ["if", "then", "else"] {
                if let Some(s) = o.get(kw) {
                    let id = self.sub(doc, ptr, kw, s, &base, depth)?;
                    self.hidden.push(id);
                }
            }
            parts.push(Part::Kind(NodeKind::Conditional));
        }

        let outer = match parts.len() {
            0 => self.push(NodeKind::Empty),
            1 => match parts.pop() {
                Some(Part::Node(id)) => id,
                Some(Part::Kind(kind)) => self.push(kind),
                None => self.push(NodeKind::Empty),
            },
            _ => {
                let mut subs = Vec::with_capacity(parts.len());
                for (i, part) in parts.into_iter().enumerate() {
                    let id = match part {
                        Part::Node(id) => id,
                        Part::Kind(kind) => self.push(kind),
                    };
                    subs.push((i, id));
                }
                self.push(NodeKind::Combined(CombinedNode {
                    criterion: Criterion::AllOf,
                    total: subs.len(),
                    subs,
                    synthetic: true,
                }))
            }
        };
        if let Some(n) = self.nodes.get_mut(outer) {
            n.has_default = has_default;
            n.connect_bytes = connect_bytes;
        }
        if self.hidden.len() > hidden_mark {
            let mine: Vec<NodeId> = self.hidden.drain(hidden_mark..).collect();
            self.hidden_edges.entry(outer).or_default().extend(mine);
        }
        Ok(outer)
    }

    fn typed(
        &mut self,
        doc: usize,
        ptr: &str,
        o: &'a Map<String, Value>,
        t: &str,
        base: &str,
        depth: usize,
    ) -> Result<NodeKind, SchemaError> {
        let dialect = self.dialect(doc);
        Ok(match t {
            "null" => NodeKind::Null,
            "boolean" => NodeKind::Boolean,
            "string" => NodeKind::String(string_node(o)),
            "number" => NodeKind::Number(number_node(o, dialect, false)),
            "integer" => NodeKind::Number(number_node(o, dialect, true)),
            "object" => NodeKind::Object(Box::new(self.object(doc, ptr, o, base, depth)?)),
            "array" => NodeKind::Array(Box::new(self.array(doc, ptr, o, base, depth)?)),
            other => {
                return Err(invalid(
                    &self.loc(doc, &child(ptr, "type")),
                    format!("unknown type \"{other}\""),
                ))
            }
        })
    }

    fn object(
        &mut self,
        doc: usize,
        ptr: &str,
        o: &'a Map<String, Value>,
        base: &str,
        depth: usize,
    ) -> Result<ObjectNode, SchemaError> {
        let dialect = self.dialect(doc);
        let mut obj = ObjectNode {
            permits_additional: true,
            ..ObjectNode::default()
        };
        if let Some(Value::Object(props)) = o.get("properties") {
            obj.properties.reserve(props.len());
            obj.property_index.reserve(props.len());
            for (name, s) in props {
                let id = self.build(doc, &child2(ptr, "properties", name), s, base, depth + 1)?;
                obj.property_index
                    .insert(name.clone(), obj.properties.len());
                obj.properties.push((name.clone(), id));
            }
        }
        if let Some(Value::Array(req)) = o.get("required") {
            obj.required = req
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect();
        }
        match o.get("additionalProperties") {
            None => {}
            Some(Value::Bool(b)) => obj.permits_additional = *b,
            Some(s) => {
                obj.additional = Some(self.sub(doc, ptr, "additionalProperties", s, base, depth)?)
            }
        }
        if let Some(Value::Object(pats)) = o.get("patternProperties") {
            for (pat, s) in pats {
                let p = child2(ptr, "patternProperties", pat);
                let regex = self.regex(doc, &p, pat)?;
                let id = self.build(doc, &p, s, base, depth + 1)?;
                obj.pattern_properties.push((Pattern { regex }, id));
            }
        }
        let mut dep_keywords: Vec<&'static str> = vec!["dependencies"];
        if dialect >= Dialect::Draft2019_09 {
            dep_keywords.push("dependentRequired");
            dep_keywords.push("dependentSchemas");
        }
        for kw in dep_keywords {
            let Some(Value::Object(deps)) = o.get(kw) else {
                continue;
            };
            // From 2019-09 on Confluent's loader (json-sKema) does not read
            // `dependencies`: a malformed entry is skipped with a warning.
            let unread = kw == "dependencies" && dialect >= Dialect::Draft2019_09;
            for (name, d) in deps {
                let p = child2(ptr, kw, name);
                if unread && !matches!(d, Value::Array(_) | Value::Object(_) | Value::Bool(_)) {
                    self.warn(
                        warn::KEYWORD_VALUE_IGNORED,
                        doc,
                        &p,
                        format!(
                            "a dependency must be an array of property names or a schema, found {}; \
                             {} schemas do not read \"dependencies\", so it is ignored",
                            json_type(d),
                            dialect.name()
                        ),
                    );
                    continue;
                }
                if d.is_boolean() && dialect == Dialect::Draft4 {
                    // everit's draft-04 loader takes an object or an array here.
                    return Err(invalid(
                        &self.loc(doc, &p),
                        format!(
                            "a dependency must be an array of property names or a schema (an object), found {}",
                            describe(d)
                        ),
                    ));
                }
                match d {
                    Value::Array(names) if kw != "dependentSchemas" => {
                        let mut list = Vec::with_capacity(names.len());
                        let mut bad = None;
                        for (i, n) in names.iter().enumerate() {
                            match n {
                                Value::String(s) => list.push(s.clone()),
                                other => {
                                    bad = Some((i, json_type(other)));
                                    break;
                                }
                            }
                        }
                        if let Some((i, found)) = bad {
                            let what = format!(
                                "a dependency must name a property (a string), found {found}"
                            );
                            if !unread {
                                return Err(invalid(&self.loc(doc, &format!("{p}/{i}")), what));
                            }
                            self.warn(
                                warn::KEYWORD_VALUE_IGNORED,
                                doc,
                                &format!("{p}/{i}"),
                                format!(
                                    "{what}; {} schemas do not read \"dependencies\", so it is ignored",
                                    dialect.name()
                                ),
                            );
                            continue;
                        }
                        obj.property_deps.push((name.clone(), list, kw));
                    }
                    _ if kw == "dependentRequired" => {
                        return Err(invalid(
                            &self.loc(doc, &p),
                            format!(
                                "\"dependentRequired\" values must be arrays of property names, found {}",
                                json_type(d)
                            ),
                        ))
                    }
                    _ => {
                        let id = self.build(doc, &p, d, base, depth + 1)?;
                        obj.schema_deps.push((name.clone(), id, kw));
                    }
                }
            }
        }
        obj.min_properties = int_value(o.get("minProperties"));
        obj.max_properties = int_value(o.get("maxProperties"));
        if dialect >= Dialect::Draft6 {
            if let Some(s) = o.get("propertyNames") {
                let id = self.sub(doc, ptr, "propertyNames", s, base, depth)?;
                self.hidden.push(id);
            }
        }
        if dialect >= Dialect::Draft2019_09 {
            if let Some(s) = o.get("unevaluatedProperties") {
                let id = self.sub(doc, ptr, "unevaluatedProperties", s, base, depth)?;
                obj.unevaluated = self.unless_empty(id);
            }
        }
        Ok(obj)
    }

    /// `None` for a node that accepts anything, which means the same as an absent
    /// `unevaluated*` keyword.
    fn unless_empty(&self, id: NodeId) -> Option<NodeId> {
        match self.nodes.get(id).map(|n| &n.kind) {
            Some(NodeKind::Empty) => None,
            _ => Some(id),
        }
    }

    fn array(
        &mut self,
        doc: usize,
        ptr: &str,
        o: &'a Map<String, Value>,
        base: &str,
        depth: usize,
    ) -> Result<ArrayNode, SchemaError> {
        let dialect = self.dialect(doc);
        let mut arr = ArrayNode {
            all_items: None,
            tuple: None,
            tuple_keyword: "items",
            permits_additional: true,
            additional: None,
            additional_keyword: "additionalItems",
            min_items: int_value(o.get("minItems")),
            max_items: int_value(o.get("maxItems")),
            unique_items: o.get("uniqueItems") == Some(&Value::Bool(true)),
            min_contains: None,
            max_contains: None,
            unevaluated: None,
        };
        if dialect == Dialect::Draft2020_12 {
            arr.tuple_keyword = "prefixItems";
            arr.additional_keyword = "items";
            let has_prefix = if let Some(Value::Array(prefix)) = o.get("prefixItems") {
                let mut tuple = Vec::with_capacity(prefix.len());
                for (i, s) in prefix.iter().enumerate() {
                    let p = child2(ptr, "prefixItems", &i.to_string());
                    tuple.push(self.build(doc, &p, s, base, depth + 1)?);
                }
                arr.tuple = Some(tuple);
                true
            } else {
                false
            };
            match o.get("items") {
                None => {}
                Some(Value::Bool(b)) if has_prefix => arr.permits_additional = *b,
                Some(s) if has_prefix => {
                    arr.additional = Some(self.sub(doc, ptr, "items", s, base, depth)?)
                }
                Some(s) => arr.all_items = Some(self.sub(doc, ptr, "items", s, base, depth)?),
            }
        } else {
            match o.get("items") {
                None => {}
                Some(Value::Array(items)) => {
                    let mut tuple = Vec::with_capacity(items.len());
                    for (i, s) in items.iter().enumerate() {
                        let p = child2(ptr, "items", &i.to_string());
                        tuple.push(self.build(doc, &p, s, base, depth + 1)?);
                    }
                    arr.tuple = Some(tuple);
                }
                Some(s) => arr.all_items = Some(self.sub(doc, ptr, "items", s, base, depth)?),
            }
            match o.get("additionalItems") {
                None => {}
                Some(Value::Bool(b)) => arr.permits_additional = *b,
                Some(s) => {
                    arr.additional = Some(self.sub(doc, ptr, "additionalItems", s, base, depth)?)
                }
            }
        }
        if dialect >= Dialect::Draft6 {
            if let Some(s) = o.get("contains") {
                let id = self.sub(doc, ptr, "contains", s, base, depth)?;
                self.hidden.push(id);
            }
        }
        if dialect >= Dialect::Draft2019_09 {
            arr.min_contains = int_value(o.get("minContains"));
            arr.max_contains = int_value(o.get("maxContains"));
            if let Some(s) = o.get("unevaluatedItems") {
                let id = self.sub(doc, ptr, "unevaluatedItems", s, base, depth)?;
                arr.unevaluated = self.unless_empty(id);
            }
        }
        Ok(arr)
    }

    /// Compiles a `pattern`/`patternProperties` regex once per distinct source. A
    /// pattern Java refuses too (an unclosed group, say) is an error; one only the
    /// `regex` crate cannot run gives a warning and never matches here.
    fn regex(
        &mut self,
        doc: usize,
        ptr: &str,
        pattern: &str,
    ) -> Result<Option<Regex>, SchemaError> {
        let outcome = match self.regexes.get(pattern) {
            Some(r) => r.clone(),
            None => match compile_pattern(pattern) {
                Ok(r) => {
                    self.regexes.insert(pattern.to_string(), r.clone());
                    r
                }
                Err(why) => {
                    return Err(invalid(
                        &self.loc(doc, ptr),
                        format!("invalid regular expression \"{pattern}\": {why}"),
                    ))
                }
            },
        };
        match outcome {
            Ok(r) => Ok(Some(r)),
            Err(why) => {
                self.warn(
                    warn::UNSUPPORTED_REGEX,
                    doc,
                    ptr,
                    format!(
                        "Accord cannot run the regular expression \"{pattern}\" ({why}); Java \
                         accepts it, so the schema is accepted, but here it never matches"
                    ),
                );
                Ok(None)
            }
        }
    }

    /// Checks the JSON type of every non-schema keyword the dialect defines. What
    /// Confluent's loaders accept gives a warning instead of an error: a negative
    /// limit, a `multipleOf` below 0, an empty subschema array, a `type` array with
    /// repeats, and any value of a keyword they never read.
    fn check_keywords(
        &mut self,
        doc: usize,
        ptr: &str,
        o: &'a Map<String, Value>,
        dialect: Dialect,
    ) -> Result<(), SchemaError> {
        for (kw, v) in o {
            let expect = match keyword_type(kw, dialect) {
                Some(e) => e,
                None => continue,
            };
            let at_ptr = child(ptr, kw);
            let problem = match expect {
                Expect::String => (!v.is_string()).then(|| "a string".to_string()),
                Expect::Bool => (!v.is_boolean()).then(|| "a boolean".to_string()),
                Expect::Number => (!v.is_number()).then(|| "a number".to_string()),
                Expect::PositiveNumber => match v.as_f64() {
                    Some(f) if f > 0.0 => None,
                    Some(f) if f < 0.0 || dialect >= Dialect::Draft2019_09 => {
                        self.warn(
                            warn::MULTIPLE_OF_NOT_POSITIVE,
                            doc,
                            &at_ptr,
                            format!(
                                "\"{kw}\" is {}, not a number greater than 0; Confluent accepts it{}",
                                describe(v),
                                if f < 0.0 {
                                    ""
                                } else {
                                    " in a 2019-09 or 2020-12 schema"
                                }
                            ),
                        );
                        None
                    }
                    _ => Some("a number greater than 0".to_string()),
                },
                Expect::NonNegativeInteger => match int_value(Some(v)) {
                    Some(n) if n < 0 => {
                        self.warn(
                            warn::NEGATIVE_LIMIT,
                            doc,
                            &at_ptr,
                            format!(
                                "\"{kw}\" is {n}, a negative limit; Confluent accepts any integer here"
                            ),
                        );
                        None
                    }
                    Some(_) => None,
                    None => Some("a non-negative integer".to_string()),
                },
                Expect::Array => (!v.is_array()).then(|| "an array".to_string()),
                Expect::NonEmptyArray => match v {
                    Value::Array(a) if a.is_empty() => {
                        self.warn(
                            warn::EMPTY_SUBSCHEMA_ARRAY,
                            doc,
                            &at_ptr,
                            format!(
                                "\"{kw}\" is an empty array; Confluent accepts it{}",
                                match kw.as_str() {
                                    "allOf" => " (every value is valid)",
                                    "anyOf" | "oneOf" => " (no value is valid)",
                                    _ => "",
                                }
                            ),
                        );
                        None
                    }
                    Value::Array(_) => None,
                    _ => Some("a non-empty array of schemas".to_string()),
                },
                Expect::Object => (!v.is_object()).then(|| "an object".to_string()),
                Expect::StringArray => match v {
                    Value::Array(a) => {
                        if let Some((i, x)) = a.iter().enumerate().find(|(_, x)| !x.is_string()) {
                            if read_by_confluent(kw, dialect) {
                                return Err(invalid(
                                    &format!("{}/{i}", self.loc(doc, &at_ptr)),
                                    format!(
                                        "\"{kw}\" must hold strings only, found {}",
                                        describe(x)
                                    ),
                                ));
                            }
                            Some("an array of strings".to_string())
                        } else {
                            None
                        }
                    }
                    _ => Some("an array of strings".to_string()),
                },
                Expect::Type => {
                    self.check_type(doc, &at_ptr, v)?;
                    None
                }
                Expect::SchemaOrBool => (!(v.is_object() || v.is_boolean()))
                    .then(|| "a schema (an object) or a boolean".to_string()),
                // everit reads a boolean `not` even in draft-04 (`build` warns).
                Expect::Schema => (!(v.is_object() || v.is_boolean()))
                    .then(|| "a schema (an object or a boolean)".to_string()),
                Expect::Items => {
                    let ok = match v {
                        Value::Array(_) => dialect < Dialect::Draft2020_12,
                        Value::Object(_) => true,
                        Value::Bool(_) => dialect >= Dialect::Draft6,
                        _ => false,
                    };
                    (!ok).then(|| {
                        if dialect == Dialect::Draft2020_12 {
                            "a schema".to_string()
                        } else {
                            "a schema or an array of schemas".to_string()
                        }
                    })
                }
                Expect::Pattern => match v {
                    Value::String(p) => {
                        self.regex(doc, &at_ptr, p)?;
                        None
                    }
                    _ => Some("a string (a regular expression)".to_string()),
                },
                Expect::Dependencies => (!v.is_object()).then(|| "an object".to_string()),
            };
            let Some(what) = problem else { continue };
            if read_by_confluent(kw, dialect) {
                return Err(invalid(
                    &self.loc(doc, &at_ptr),
                    format!("\"{kw}\" must be {what}, found {}", describe(v)),
                ));
            }
            self.warn(
                warn::KEYWORD_VALUE_IGNORED,
                doc,
                &at_ptr,
                format!(
                    "\"{kw}\" must be {what}, found {}; Confluent does not read \"{kw}\" in a {} \
                     schema, and Accord ignores it too",
                    describe(v),
                    dialect.name()
                ),
            );
        }
        Ok(())
    }

    /// `type`: a known type name or an array of them. Repeats and an empty array give
    /// warnings (the loaders accept them).
    fn check_type(&mut self, doc: usize, at_ptr: &str, v: &Value) -> Result<(), SchemaError> {
        let at = self.loc(doc, at_ptr);
        let check_name = |name: &Value, loc: &str| -> Result<(), SchemaError> {
            match name {
                Value::String(s) if TYPE_NAMES.contains(&s.as_str()) => Ok(()),
                Value::String(s) => Err(invalid(
                    loc,
                    format!(
                        "unknown type \"{s}\" (expected one of {})",
                        TYPE_NAMES.join(", ")
                    ),
                )),
                other => Err(invalid(
                    loc,
                    format!("a type name must be a string, found {}", describe(other)),
                )),
            }
        };
        match v {
            Value::String(_) => check_name(v, &at),
            Value::Array(names) => {
                if names.is_empty() {
                    self.warn(
                        warn::EMPTY_TYPE_ARRAY,
                        doc,
                        at_ptr,
                        "\"type\" is an empty array, so no value is valid; Confluent accepts it",
                    );
                    return Ok(());
                }
                let mut seen = HashSet::new();
                let mut repeated = None;
                for (i, n) in names.iter().enumerate() {
                    check_name(n, &format!("{at}/{i}"))?;
                    if !seen.insert(n.as_str().unwrap_or_default()) && repeated.is_none() {
                        repeated = Some((i, n.as_str().unwrap_or_default().to_string()));
                    }
                }
                if let Some((i, name)) = repeated {
                    self.warn(
                        warn::TYPE_ARRAY_NOT_UNIQUE,
                        doc,
                        &format!("{at_ptr}/{i}"),
                        format!(
                            "\"type\" lists \"{name}\" twice; Confluent accepts it, and the repeat counts once"
                        ),
                    );
                }
                Ok(())
            }
            other => Err(invalid(
                &at,
                format!(
                    "\"type\" must be a type name or an array of type names, found {}",
                    describe(other)
                ),
            )),
        }
    }

    /// Resolves every recorded `$ref`, building targets the walk did not reach. A
    /// `$ref` met inside a `definitions` entry that fails only counts when the schema at
    /// `root` reaches it (Confluent's loaders never read the others); otherwise it gives
    /// a warning. A remote (`http`/`https`) `$ref` no reference supplies is left
    /// unresolved, with a warning.
    fn resolve_pending(&mut self, root: NodeId) -> Result<(), SchemaError> {
        let mut failed: Vec<(Pending, SchemaError)> = Vec::new();
        while let Some(p) = self.pending.pop() {
            // What a tolerant `$ref` builds is tolerant too.
            if p.tolerant {
                self.tolerant += 1;
            }
            let outcome = self.resolve(&p);
            if p.tolerant {
                self.tolerant -= 1;
            }
            match outcome {
                Ok(Resolved::Node(target)) => {
                    if let Some(Node {
                        kind: NodeKind::Ref(r),
                        ..
                    }) = self.nodes.get_mut(p.node)
                    {
                        r.target = Some(target);
                    }
                }
                Ok(Resolved::Remote(uri)) => {
                    if let Some(Node {
                        kind: NodeKind::Ref(r),
                        ..
                    }) = self.nodes.get_mut(p.node)
                    {
                        r.unresolved = Some(uri.clone());
                    }
                    self.warn(
                        warn::UNRESOLVED_REMOTE_REF,
                        p.doc,
                        &child(&p.ptr, p.keyword),
                        format!(
                            "no reference supplies \"{uri}\"; Confluent fetches remote schemas, \
                             Accord does not: it compares this $ref only with $refs to the same URI"
                        ),
                    );
                }
                Err(e) if p.tolerant => failed.push((p, e)),
                Err(e) => return Err(e),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        let reachable = self.reachable(root);
        for (p, e) in failed {
            if reachable.contains(&p.node) {
                return Err(e);
            }
            self.warn(
                warn::INVALID_UNUSED_DEFINITION,
                p.doc,
                &child(&p.ptr, p.keyword),
                format!(
                    "{}; this $ref lies in a definition nothing uses, which Confluent does not read",
                    e.message.trim_start_matches("Invalid JSON Schema: ")
                ),
            );
        }
        Ok(())
    }

    /// The nodes the schema at `root` reaches, through the model's links, `$ref`
    /// targets and the subschemas the model does not link (`hidden_edges`).
    fn reachable(&self, root: NodeId) -> HashSet<NodeId> {
        let mut seen = HashSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(extra) = self.hidden_edges.get(&id) {
                stack.extend(extra.iter().copied());
            }
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            match &node.kind {
                NodeKind::Object(o) => {
                    stack.extend(o.properties.iter().map(|(_, c)| *c));
                    stack.extend(o.additional);
                    stack.extend(o.pattern_properties.iter().map(|(_, c)| *c));
                    stack.extend(o.schema_deps.iter().map(|(_, c, _)| *c));
                    stack.extend(o.unevaluated);
                }
                NodeKind::Array(a) => {
                    stack.extend(a.all_items);
                    stack.extend(a.tuple.iter().flatten().copied());
                    stack.extend(a.additional);
                    stack.extend(a.unevaluated);
                }
                NodeKind::Combined(c) => stack.extend(c.subs.iter().map(|(_, c)| *c)),
                NodeKind::Not(c) => stack.push(*c),
                NodeKind::Ref(r) => stack.extend(r.target),
                _ => {}
            }
        }
        seen
    }

    fn resolve(&mut self, p: &Pending) -> Result<Resolved, SchemaError> {
        let docs = self.docs;
        let at = self.loc(p.doc, &child(&p.ptr, p.keyword));
        let unresolvable = |why: String| {
            invalid(
                &at,
                format!("cannot resolve $ref \"{}\": {why}", p.reference),
            )
        };
        let (doc_part, frag) = uri::split_fragment(&p.reference);
        let frag = uri::percent_decode(frag.unwrap_or(""));

        // The resource (document or `$id`-scoped subschema) the reference names.
        let resource: Loc = if doc_part.is_empty() {
            self.resources
                .get(&resource_key(p.doc, &p.base))
                .cloned()
                .unwrap_or((p.doc, String::new()))
        } else {
            let abs = uri::resolve(&p.base, doc_part);
            let found = self
                .resources
                .get(&abs)
                .cloned()
                .or_else(|| {
                    self.by_name
                        .get(&p.reference)
                        .or_else(|| self.by_name.get(doc_part))
                        .map(|&d| (d, String::new()))
                })
                .or_else(|| self.resources.get(doc_part).cloned());
            match found {
                Some(r) => r,
                None if is_remote(&abs) => {
                    let uri = match frag.is_empty() {
                        true => abs,
                        false => format!("{abs}#{frag}"),
                    };
                    return Ok(Resolved::Remote(uri));
                }
                None => {
                    return Err(unresolvable(format!(
                    "no reference named \"{doc_part}\" was given and no schema here has that $id"
                )))
                }
            }
        };
        let resource_base = self.base_at(resource.0, &resource.1, true);

        let target: Loc = if frag.is_empty() {
            resource
        } else if frag.starts_with('/') {
            let whole = (resource.0, format!("{}{frag}", resource.1));
            let exists = docs
                .get(whole.0)
                .and_then(|d| pointer_get(&d.value, &whole.1))
                .is_some();
            if !exists && self.by_name.get(&p.reference) == Some(&resource.0) {
                // The reference's name is the whole `$ref`: its text is the target.
                resource
            } else {
                whole
            }
        } else {
            let key = format!("{}#{frag}", resource_key(resource.0, &resource_base));
            match self.anchors.get(&key) {
                Some(l) => l.clone(),
                None => return Err(unresolvable(format!("no anchor named \"{frag}\""))),
            }
        };
        let Some(value) = docs
            .get(target.0)
            .and_then(|d| pointer_get(&d.value, &target.1))
        else {
            return Err(unresolvable(format!(
                "nothing at {}",
                self.loc(target.0, &target.1)
            )));
        };
        if let Some(&id) = self.built.get(&target) {
            return Ok(Resolved::Node(id));
        }
        let base = self.base_at(target.0, &target.1, false);
        self.build(target.0, &target.1, value, &base, 0)
            .map(Resolved::Node)
    }

    /// The base URI in force at `ptr` (including the `$id` there when `inclusive`).
    fn base_at(&self, doc: usize, ptr: &str, inclusive: bool) -> String {
        let Some(d) = self.docs.get(doc) else {
            return String::new();
        };
        let id_kw = d.dialect.id_keyword();
        let mut base = d.base.clone();
        let mut cur = &d.value;
        let tokens: Vec<&str> = if ptr.is_empty() {
            Vec::new()
        } else {
            ptr.split('/').skip(1).collect()
        };
        // The root's own `$id` is already in `d.base`.
        for (i, t) in tokens.iter().enumerate() {
            let token = uri::unescape_token(t);
            let next = match cur {
                Value::Object(o) => o.get(&token),
                Value::Array(a) => token.parse::<usize>().ok().and_then(|n| a.get(n)),
                _ => None,
            };
            let Some(next) = next else { break };
            cur = next;
            let last = i + 1 == tokens.len();
            if last && !inclusive {
                break;
            }
            if let Some(Value::String(id)) = cur.get(id_kw) {
                let doc_part = uri::split_fragment(id).0;
                if !doc_part.is_empty() {
                    base = uri::resolve(&base, doc_part);
                }
            }
        }
        base
    }

    /// Warns about `$ref`s that only lead to other `$ref`s (a cycle, or a chain longer
    /// than the comparison follows). Confluent's loaders accept them; the comparison
    /// stops following such a chain after 64 steps.
    fn check_ref_chains(&mut self) {
        let mut found = None;
        for node in &self.nodes {
            let NodeKind::Ref(r) = &node.kind else {
                continue;
            };
            let mut hops = 0;
            let mut cur = r.target;
            while let Some(id) = cur {
                match self.nodes.get(id).map(|n| &n.kind) {
                    Some(NodeKind::Ref(next)) => {
                        hops += 1;
                        if hops > MAX_REF_CHAIN {
                            found = Some(r.reference.clone());
                            break;
                        }
                        cur = next.target;
                    }
                    _ => break,
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(reference) = found {
            let path = "#/".to_string();
            if self.warned.insert((warn::REF_CYCLE, path.clone())) {
                self.warnings.push(crate::Warning::new(
                    warn::REF_CYCLE,
                    path,
                    format!(
                        "$ref \"{reference}\" only leads to other $refs (a reference cycle); \
                         Confluent accepts it, and Accord compares such a $ref as an opaque reference"
                    ),
                ));
            }
        }
    }
}

/// What a `$ref` resolves to.
enum Resolved {
    Node(NodeId),
    /// An `http`/`https` URI no reference supplies (absolute, with its fragment).
    Remote(String),
}

/// Whether an absolute URI is one Confluent would fetch over the network.
fn is_remote(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Follows an escaped JSON Pointer in `v`.
fn pointer_get<'v>(v: &'v Value, ptr: &str) -> Option<&'v Value> {
    if ptr.is_empty() {
        return Some(v);
    }
    let mut cur = v;
    for t in ptr.split('/').skip(1) {
        let token = uri::unescape_token(t);
        cur = match cur {
            Value::Object(o) => o.get(&token)?,
            Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
];
const ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

#[derive(Clone, Copy)]
enum Expect {
    String,
    Bool,
    Number,
    PositiveNumber,
    NonNegativeInteger,
    Array,
    NonEmptyArray,
    Object,
    StringArray,
    Type,
    /// `additionalProperties`/`additionalItems`: booleans even in draft-04.
    SchemaOrBool,
    Schema,
    Items,
    Pattern,
    Dependencies,
}

fn keyword_type(kw: &str, d: Dialect) -> Option<Expect> {
    use Dialect::*;
    Some(match kw {
        "$schema" | "$ref" | "title" | "description" | "format" => Expect::String,
        "$id" if d >= Draft6 => Expect::String,
        "id" if d == Draft4 => Expect::String,
        "$comment" if d >= Draft7 => Expect::String,
        "contentEncoding" | "contentMediaType" if d >= Draft7 => Expect::String,
        "$anchor" | "$recursiveRef" | "$recursiveAnchor" if d == Draft2019_09 => {
            if kw == "$recursiveAnchor" {
                Expect::Bool
            } else {
                Expect::String
            }
        }
        "$anchor" | "$dynamicRef" | "$dynamicAnchor" if d == Draft2020_12 => Expect::String,
        "$vocabulary" if d >= Draft2019_09 => Expect::Object,
        "uniqueItems" => Expect::Bool,
        "readOnly" | "writeOnly" if d >= Draft7 => Expect::Bool,
        "deprecated" if d >= Draft2019_09 => Expect::Bool,
        "examples" if d >= Draft6 => Expect::Array,
        "type" => Expect::Type,
        "enum" => Expect::Array,
        "required" => Expect::StringArray,
        "minimum" | "maximum" => Expect::Number,
        "exclusiveMinimum" | "exclusiveMaximum" => {
            if d == Draft4 {
                Expect::Bool
            } else {
                Expect::Number
            }
        }
        "multipleOf" => Expect::PositiveNumber,
        "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" => {
            Expect::NonNegativeInteger
        }
        "minContains" | "maxContains" if d >= Draft2019_09 => Expect::NonNegativeInteger,
        "pattern" => Expect::Pattern,
        "properties" | "patternProperties" | "definitions" => Expect::Object,
        "$defs" | "dependentSchemas" | "dependentRequired" if d >= Draft2019_09 => Expect::Object,
        "dependencies" => Expect::Dependencies,
        "additionalProperties" | "additionalItems" => Expect::SchemaOrBool,
        "not" => Expect::Schema,
        "propertyNames" | "contains" if d >= Draft6 => Expect::Schema,
        "if" | "then" | "else" if d >= Draft7 => Expect::Schema,
        "unevaluatedProperties" | "unevaluatedItems" if d >= Draft2019_09 => Expect::Schema,
        "items" => Expect::Items,
        "prefixItems" if d == Draft2020_12 => Expect::NonEmptyArray,
        "allOf" | "anyOf" | "oneOf" => Expect::NonEmptyArray,
        _ => return None,
    })
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() <= 40 => format!("string \"{s}\""),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("boolean {b}"),
        other => json_type(other).to_string(),
    }
}

const TYPE_NAMES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "string", "integer",
];

/// Whether Confluent's loader reads `kw` in a schema of dialect `d` (and so refuses a
/// value of the wrong type). everit (draft-04 to -07) never reads `$comment`,
/// `contentEncoding`, `contentMediaType`, nor `definitions` except where a `$ref`
/// points; json-sKema (2019-09, 2020-12) also skips `$vocabulary`, `$id` and `$anchor`
/// values that are not strings, `$recursiveRef`/`$recursiveAnchor`, `dependencies`, `examples` and
/// (2020-12) `additionalItems`.
fn read_by_confluent(kw: &str, d: Dialect) -> bool {
    use Dialect::*;
    !match kw {
        "$comment" | "contentEncoding" | "contentMediaType" | "definitions" => true,
        "$id" | "$vocabulary" | "$anchor" | "$recursiveRef" | "$recursiveAnchor"
        | "dependencies" | "examples" => d >= Draft2019_09,
        "additionalItems" => d == Draft2020_12,
        _ => false,
    }
}

/// Compiles a pattern with the `regex` crate. `Err` when Java refuses the pattern too
/// (its structure is broken); `Ok(Err(why))` when only the `regex` crate cannot run it
/// (Java-only syntax, look-around, back-references, unknown escapes or classes, or too
/// big to compile here).
fn compile_pattern(pattern: &str) -> Result<Result<Regex, String>, String> {
    if uses_java_only_syntax(pattern) {
        return Ok(Err("it uses Java-only syntax".to_string()));
    }
    match regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
    {
        Ok(r) => Ok(Ok(r)),
        Err(regex::Error::Syntax(msg)) => {
            let first = msg
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .unwrap_or("invalid syntax")
                .trim_start_matches("error:")
                .trim()
                .to_string();
            // Errors of structure, which java.util.regex reports as well.
            const BROKEN: &[&str] = &[
                "unclosed group",
                "unopened group",
                "unclosed character class",
                "invalid character class range",
                "repetition operator missing expression",
                "invalid repetition count range",
                "unclosed counted repetition",
                "repetition quantifier expects a valid decimal",
                "incomplete escape sequence",
                "duplicate capture group name",
                "empty capture group name",
                "unclosed capture group name",
                "expected flag but got end of regex",
            ];
            if BROKEN.iter().any(|b| first.contains(b)) {
                Err(first)
            } else {
                Ok(Err(first))
            }
        }
        Err(_) => Ok(Err("it is too big to compile here".to_string())),
    }
}

/// Java's regex features the `regex` crate lacks; a pattern using them is accepted
/// (Confluent accepts it) but cannot be matched here.
fn uses_java_only_syntax(p: &str) -> bool {
    const JAVA: &[&str] = &[
        "(?=", "(?!", "(?<=", "(?<!", "(?>", "\\Q", "\\G", "\\Z", "*+", "++", "?+", "}+", "\\k<",
        "\\p{java", "\\p{Is", "\\p{In",
    ];
    if JAVA.iter().any(|j| p.contains(j)) {
        return true;
    }
    // Back-references \1..\9.
    let b = p.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'\\' && w[1].is_ascii_digit() && w[1] != b'0')
}

/// An integer keyword value (`5` or `5.0`; negative ones too, which the loaders
/// accept); values beyond `i64` saturate.
fn int_value(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    let f = v.as_f64()?;
    if f.fract() == 0.0 && f.is_finite() {
        // `as` saturates at the bounds of i64.
        Some(f as i64)
    } else {
        None
    }
}

fn string_node(o: &Map<String, Value>) -> StringNode {
    StringNode {
        min_length: int_value(o.get("minLength")),
        max_length: int_value(o.get("maxLength")),
        pattern: o.get("pattern").and_then(Value::as_str).map(str::to_string),
    }
}

fn number_node(o: &Map<String, Value>, dialect: Dialect, integer: bool) -> NumberNode {
    let num = |k: &str| o.get(k).and_then(Value::as_f64);
    let mut n = NumberNode {
        minimum: num("minimum"),
        maximum: num("maximum"),
        exclusive_minimum: None,
        exclusive_maximum: None,
        multiple_of: num("multipleOf"),
        requires_integer: integer,
        draft4_exclusive: false,
    };
    if dialect == Dialect::Draft4 {
        // Draft-04's boolean flags turn the bound itself exclusive; model them as the
        // draft-06 numeric form so both spellings compare alike.
        if o.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
            n.exclusive_minimum = n.minimum.take();
            n.draft4_exclusive = true;
        }
        if o.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
            n.exclusive_maximum = n.maximum.take();
            n.draft4_exclusive = true;
        }
    } else {
        n.exclusive_minimum = num("exclusiveMinimum");
        n.exclusive_maximum = num("exclusiveMaximum");
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_from_schema_uris() {
        assert_eq!(
            Dialect::from_schema_uri("http://json-schema.org/draft-04/schema#"),
            Dialect::Draft4
        );
        assert_eq!(
            Dialect::from_schema_uri("https://json-schema.org/draft/2020-12/schema"),
            Dialect::Draft2020_12
        );
        assert_eq!(
            Dialect::from_schema_uri("https://example.com/custom"),
            Dialect::Draft7
        );
    }

    #[test]
    fn java_only_regex_syntax_is_recognised() {
        assert!(uses_java_only_syntax("^(?!foo).*$"));
        assert!(uses_java_only_syntax("(a)\\1"));
        assert!(!uses_java_only_syntax("^[a-z]+$"));
    }

    #[test]
    fn pointers_follow_arrays_and_escapes() {
        let v: Value = serde_json::json!({"a/b": [1, {"c": 2}]});
        assert_eq!(pointer_get(&v, "/a~1b/1/c"), Some(&serde_json::json!(2)));
        assert_eq!(pointer_get(&v, "/a~1b/7"), None);
    }
}
