//! JSON text → [`model`](super::model), following Java's `Schema.Parser` (Avro 1.11):
//! the same name resolution, the same reserved attributes, the same validations, with
//! error messages that say where (a JSON pointer into the document) and what.
//!
//! # What is refused, and what only warned about
//!
//! Confluent parses with `new Schema.Parser()` (names validated) and
//! `setValidateDefaults(false)` unless the provider's `avro.validate.defaults` is true
//! or the registration asks for `normalize=true` (`AvroSchemaProvider`:
//! `validateDefaults = (avro.validate.defaults || normalize) && isNew`, passed to
//! `AvroSchema.getParser`). So by default a field default is *not* checked against its
//! type: such a schema registers and its default is stored as written. Here it parses
//! too, and the check Avro would make with validation on becomes a [`Warning`]:
//!
//! * `DEFAULT_TYPE_MISMATCH`: Avro's `isValidDefault` fails (a union's default is
//!   checked against its first branch, as Avro 1.11 does), or the field is a union
//!   with no branches, where Avro's check throws;
//! * `RECURSIVE_DEFAULT`: checking the default needs the fields of a record that is
//!   still being defined (a field of type `R` inside `R` with a record default), where
//!   Avro's check throws `Schema fields not set yet`.
//!
//! Everything else Avro refuses whatever the settings (names, duplicate fields, enum
//! symbols and defaults, unions, fixed sizes, a textual `float`/`double` default that
//! `Double.valueOf` cannot read, ...) is refused here as well.

use super::json::{java_parse_double, strip_comments, to_text};
use super::model::{
    full_name_of, validate_name, Field, FieldIndex, Name, NamedKind, NamedType, Order, Prim, Props,
    Schema, Type,
};
use crate::{SchemaError, Warning};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Deeper nesting than this is rejected (serde_json already stops at 128 JSON levels).
pub(crate) const MAX_DEPTH: usize = 256;

/// How deep default validation may recurse through records' own field defaults.
const MAX_DEFAULT_DEPTH: usize = 512;

const SCHEMA_RESERVED: [&str; 10] = [
    "doc",
    "fields",
    "items",
    "name",
    "namespace",
    "size",
    "symbols",
    "values",
    "type",
    "aliases",
];
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];

/// Parses JSON text the way Avro's Jackson setup does: comments allowed, and only the
/// first JSON value is read (Jackson's `readTree` ignores what follows it).
pub(crate) fn parse_json(text: &str) -> Result<Value, SchemaError> {
    let stripped = strip_comments(text);
    let text = stripped.as_deref().unwrap_or(text);
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(SchemaError::new(format!(
            "Invalid Avro schema: not valid JSON: {e}"
        ))),
        None => Err(SchemaError::new("Invalid Avro schema: empty schema text")),
    }
}

/// Why Java's default check would throw rather than answer.
enum DefaultProblem {
    /// A union with no branches (Java indexes its first branch).
    EmptyUnion,
    /// A record whose fields are still being parsed (`Schema fields not set yet`).
    Incomplete(String),
    /// Nested past [`MAX_DEFAULT_DEPTH`]: not checked.
    TooDeep,
}

/// One parse session: like Java's `Schema.Parser`, it accumulates named types, so the
/// references are parsed first and the main schema can use their names.
pub(crate) struct Parser {
    pub(crate) types: Vec<NamedType>,
    by_name: HashMap<String, usize>,
    /// The enclosing namespace (Java's `names.space()`).
    space: Option<String>,
    next_id: u32,
    path: Vec<String>,
    depth: usize,
    /// Prefix for error messages (which reference is being parsed).
    label: String,
    /// What the stricter checks found (see the module documentation), in document
    /// order.
    pub(crate) warnings: Vec<Warning>,
}

impl Parser {
    pub(crate) fn new() -> Parser {
        Parser::with_types(Vec::new())
    }

    /// A parser that already knows `types` (used to re-parse with the references of an
    /// already parsed schema without reading their texts again).
    pub(crate) fn with_types(types: Vec<NamedType>) -> Parser {
        let by_name = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.full.clone(), i))
            .collect();
        let next_id = types.iter().map(|t| t.id + 1).max().unwrap_or(0);
        Parser {
            types,
            by_name,
            space: None,
            next_id,
            path: Vec::new(),
            depth: 0,
            label: String::new(),
            warnings: Vec::new(),
        }
    }

    /// Parses one whole schema document (a reference's or the main one).
    pub(crate) fn document(&mut self, v: &Value, label: String) -> Result<Schema, SchemaError> {
        self.label = label;
        self.space = None;
        self.path.clear();
        self.depth = 0;
        self.schema(v)
    }

    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn here(&self) -> String {
        if self.path.is_empty() {
            "/".to_string()
        } else {
            let mut s = String::new();
            for p in &self.path {
                s.push('/');
                s.push_str(&p.replace('~', "~0").replace('/', "~1"));
            }
            s
        }
    }

    fn err(&self, msg: impl AsRef<str>) -> SchemaError {
        SchemaError::new(format!(
            "Invalid Avro schema: {}{} (at {})",
            self.label,
            msg.as_ref(),
            self.here()
        ))
    }

    fn schema(&mut self, v: &Value) -> Result<Schema, SchemaError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!("schema nested deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let result = match v {
            Value::String(s) => match self.lookup(s) {
                Some(schema) => Ok(schema),
                None => Err(self.unknown_type(s)),
            },
            Value::Object(m) => self.object(m),
            Value::Array(items) => self.union(items),
            other => Err(self.err(format!(
                "a schema must be a type name, a JSON object or a JSON array (a union), not {}",
                to_text(other)
            ))),
        };
        self.depth -= 1;
        result
    }

    fn unknown_type(&self, name: &str) -> SchemaError {
        let context = match &self.space {
            Some(sp) => format!(
                " (looked up as \"{}\" and \"{name}\")",
                full_name_of(name, Some(sp))
            ),
            None => String::new(),
        };
        self.err(format!(
            "unknown type name \"{name}\"{context}: not a primitive type nor a named type defined before this point"
        ))
    }

    /// Java's `Names.get(String)`: primitives first, then the name in the enclosing
    /// namespace, then in the null namespace.
    fn lookup(&mut self, name: &str) -> Option<Schema> {
        if let Some(prim) = Prim::from_name(name) {
            return Some(Schema::Prim {
                id: self.id(),
                prim,
                props: Vec::new(),
            });
        }
        let in_space = full_name_of(name, self.space.as_deref());
        if let Some(&i) = self.by_name.get(&in_space) {
            return Some(Schema::Named(i));
        }
        self.by_name
            .get(&full_name_of(name, None))
            .map(|&i| Schema::Named(i))
    }

    fn props(m: &Map<String, Value>, reserved: &[&str]) -> Props {
        m.iter()
            .filter(|(k, _)| !reserved.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn object(&mut self, m: &Map<String, Value>) -> Result<Schema, SchemaError> {
        let ty = match m.get("type") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                self.path.push("type".into());
                let e = self.err(format!(
                    "\"type\" of a schema object must be a string naming the type, not {}",
                    to_text(other)
                ));
                return Err(e);
            }
            None => return Err(self.err("schema object without a \"type\"")),
        };
        match ty {
            "record" | "error" | "enum" | "fixed" => self.named(m, ty),
            "array" => {
                let Some(items) = m.get("items") else {
                    return Err(self.err("array without \"items\""));
                };
                self.path.push("items".into());
                let items = self.schema(items)?;
                self.path.pop();
                Ok(Schema::Array {
                    id: self.id(),
                    items: Box::new(items),
                    props: Self::props(m, &SCHEMA_RESERVED),
                })
            }
            "map" => {
                let Some(values) = m.get("values") else {
                    return Err(self.err("map without \"values\""));
                };
                self.path.push("values".into());
                let values = self.schema(values)?;
                self.path.pop();
                Ok(Schema::Map {
                    id: self.id(),
                    values: Box::new(values),
                    props: Self::props(m, &SCHEMA_RESERVED),
                })
            }
            other => {
                if let Some(prim) = Prim::from_name(other) {
                    return Ok(Schema::Prim {
                        id: self.id(),
                        prim,
                        props: Self::props(m, &SCHEMA_RESERVED),
                    });
                }
                // Java resolves `{"type": "Name"}` in the enclosing namespace only, and
                // drops the object's other attributes.
                let full = full_name_of(other, self.space.as_deref());
                match self.by_name.get(&full) {
                    Some(&i) => Ok(Schema::Named(i)),
                    None => {
                        self.path.push("type".into());
                        let e = self.unknown_type(other);
                        Err(e)
                    }
                }
            }
        }
    }

    fn define(&mut self, t: NamedType) -> Result<usize, SchemaError> {
        if self.by_name.contains_key(&t.name.full) {
            return Err(self.err(format!(
                "can't redefine \"{}\": a named type may be defined only once",
                t.name.full
            )));
        }
        let i = self.types.len();
        self.by_name.insert(t.name.full.clone(), i);
        self.types.push(t);
        Ok(i)
    }

    fn named(&mut self, m: &Map<String, Value>, ty: &str) -> Result<Schema, SchemaError> {
        // Java reads these with `textValue()`: a non-string is as good as absent.
        let namespace = m.get("namespace").and_then(Value::as_str);
        let doc = m.get("doc").and_then(Value::as_str).map(str::to_string);
        let Some(simple) = m.get("name").and_then(Value::as_str) else {
            return Err(self.err(format!("{ty} without a \"name\"")));
        };
        let space = namespace.map(str::to_string).or_else(|| self.space.clone());
        let name = match Name::new(simple, space.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                self.path.push("name".into());
                let err = self.err(format!("invalid {ty} name: {e}"));
                return Err(err);
            }
        };
        if Prim::from_name(&name.full).is_some() {
            return Err(self.err(format!(
                "a named type may not be named after a primitive type: \"{}\"",
                name.full
            )));
        }
        let aliases = self.type_aliases(m, &name)?;
        let saved_space = std::mem::replace(&mut self.space, name.space.clone());
        let reserved: &[&str] = &SCHEMA_RESERVED;
        let index = match ty {
            "record" | "error" => {
                // Registered before its fields, so the fields can refer to the record.
                let id = self.id();
                let index = self.define(NamedType {
                    id,
                    name: name.clone(),
                    doc,
                    aliases,
                    props: Vec::new(),
                    kind: NamedKind::Record {
                        error: ty == "error",
                        fields: Vec::new(),
                        index: FieldIndex::default(),
                        complete: false,
                    },
                })?;
                let Some(fields_json) = m.get("fields").and_then(Value::as_array) else {
                    return Err(
                        self.err(format!("record \"{}\" has no \"fields\" array", name.full))
                    );
                };
                self.path.push("fields".into());
                let mut fields = Vec::with_capacity(fields_json.len());
                let mut by_field =
                    FieldIndex::with_capacity_and_hasher(fields_json.len(), Default::default());
                for (pos, fj) in fields_json.iter().enumerate() {
                    self.path.push(pos.to_string());
                    let field = self.field(fj, &name.full)?;
                    if by_field.insert(field.name.clone(), pos).is_some() {
                        return Err(self.err(format!(
                            "duplicate field \"{}\" in record \"{}\"",
                            field.name, name.full
                        )));
                    }
                    fields.push(field);
                    self.path.pop();
                }
                self.path.pop();
                if let Some(t) = self.types.get_mut(index) {
                    t.kind = NamedKind::Record {
                        error: ty == "error",
                        fields,
                        index: by_field,
                        complete: true,
                    };
                }
                index
            }
            "enum" => {
                let Some(symbols_json) = m.get("symbols").and_then(Value::as_array) else {
                    return Err(
                        self.err(format!("enum \"{}\" has no \"symbols\" array", name.full))
                    );
                };
                let mut symbols = Vec::with_capacity(symbols_json.len());
                let mut seen = HashSet::with_capacity(symbols_json.len());
                self.path.push("symbols".into());
                for (i, s) in symbols_json.iter().enumerate() {
                    self.path.push(i.to_string());
                    let Some(s) = s.as_str() else {
                        return Err(
                            self.err(format!("enum symbol must be a string, not {}", to_text(s)))
                        );
                    };
                    if let Err(e) = validate_name(s) {
                        return Err(self.err(format!("invalid enum symbol: {e}")));
                    }
                    if !seen.insert(s) {
                        return Err(self.err(format!("duplicate enum symbol \"{s}\"")));
                    }
                    symbols.push(s.to_string());
                    self.path.pop();
                }
                self.path.pop();
                // Java: `textValue()`, so a non-string default is ignored.
                let default = m.get("default").and_then(Value::as_str).map(str::to_string);
                if let Some(d) = &default {
                    if !seen.contains(d.as_str()) {
                        self.path.push("default".into());
                        let e = self.err(format!(
                            "the enum default \"{d}\" of enum \"{}\" is not one of its symbols {:?}",
                            name.full, symbols
                        ));
                        return Err(e);
                    }
                }
                let id = self.id();
                self.define(NamedType {
                    id,
                    name: name.clone(),
                    doc,
                    aliases,
                    props: Vec::new(),
                    kind: NamedKind::Enum { symbols, default },
                })?
            }
            _ => {
                let size = match m.get("size") {
                    Some(Value::Number(n)) => n
                        .as_i64()
                        .filter(|s| i32::try_from(*s).is_ok())
                        .ok_or_else(|| self.err(format!("invalid fixed size {n}: not an int")))?,
                    Some(other) => {
                        return Err(self.err(format!("invalid fixed size {}", to_text(other))))
                    }
                    None => {
                        return Err(self.err(format!("fixed \"{}\" has no \"size\"", name.full)))
                    }
                };
                let size = u32::try_from(size)
                    .map_err(|_| self.err(format!("invalid fixed size {size}: negative")))?;
                let id = self.id();
                self.define(NamedType {
                    id,
                    name: name.clone(),
                    doc,
                    aliases,
                    props: Vec::new(),
                    kind: NamedKind::Fixed { size },
                })?
            }
        };
        let props = if ty == "enum" {
            let mut r: Vec<&str> = reserved.to_vec();
            r.push("default");
            Self::props(m, &r)
        } else {
            Self::props(m, reserved)
        };
        if let Some(t) = self.types.get_mut(index) {
            t.props = props;
        }
        self.space = saved_space;
        Ok(Schema::Named(index))
    }

    fn alias_strings(&mut self, m: &Map<String, Value>) -> Result<Vec<String>, SchemaError> {
        let Some(v) = m.get("aliases") else {
            return Ok(Vec::new());
        };
        let Some(items) = v.as_array() else {
            self.path.push("aliases".into());
            let e = self.err(format!("\"aliases\" must be an array, not {}", to_text(v)));
            return Err(e);
        };
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for (i, a) in items.iter().enumerate() {
            let Some(a) = a.as_str() else {
                self.path.push("aliases".into());
                self.path.push(i.to_string());
                let e = self.err(format!("alias must be a string, not {}", to_text(a)));
                return Err(e);
            };
            if !out.iter().any(|x| x == a) {
                out.push(a.to_string());
            }
        }
        Ok(out)
    }

    fn type_aliases(
        &mut self,
        m: &Map<String, Value>,
        name: &Name,
    ) -> Result<Vec<Name>, SchemaError> {
        let mut out: Vec<Name> = Vec::new();
        for (i, a) in self.alias_strings(m)?.into_iter().enumerate() {
            match Name::new(&a, name.space.as_deref()) {
                Ok(n) => {
                    if !out.iter().any(|x| x.full == n.full) {
                        out.push(n);
                    }
                }
                Err(e) => {
                    self.path.push("aliases".into());
                    self.path.push(i.to_string());
                    let err = self.err(format!("invalid alias of \"{}\": {e}", name.full));
                    return Err(err);
                }
            }
        }
        Ok(out)
    }

    fn field(&mut self, v: &Value, record: &str) -> Result<Field, SchemaError> {
        let Some(m) = v.as_object() else {
            return Err(self.err(format!(
                "a field of record \"{record}\" must be a JSON object, not {}",
                to_text(v)
            )));
        };
        let Some(name) = m.get("name").and_then(Value::as_str) else {
            return Err(self.err(format!("field of record \"{record}\" without a \"name\"")));
        };
        if let Err(e) = validate_name(name) {
            self.path.push("name".into());
            let err = self.err(format!("invalid field name in record \"{record}\": {e}"));
            return Err(err);
        }
        let doc = m.get("doc").and_then(Value::as_str).map(str::to_string);
        let Some(type_json) = m.get("type") else {
            return Err(self.err(format!(
                "field \"{name}\" of record \"{record}\" has no \"type\""
            )));
        };
        self.path.push("type".into());
        if let Value::String(s) = type_json {
            if self.lookup(s).is_none() {
                let e = self.err(format!(
                    "unknown type name \"{s}\" used as the type of field \"{name}\" of record \"{record}\": not a primitive type nor a named type defined before this point"
                ));
                return Err(e);
            }
        }
        let schema = self.schema(type_json)?;
        self.path.pop();
        let order = match m.get("order") {
            None => Order::Ascending,
            Some(Value::String(s)) => match s.to_uppercase().as_str() {
                "ASCENDING" => Order::Ascending,
                "DESCENDING" => Order::Descending,
                "IGNORE" => Order::Ignore,
                _ => {
                    self.path.push("order".into());
                    let e = self.err(format!(
                        "invalid order \"{s}\" of field \"{name}\": expected ascending, descending or ignore"
                    ));
                    return Err(e);
                }
            },
            Some(other) => {
                self.path.push("order".into());
                let e = self.err(format!(
                    "invalid order {} of field \"{name}\": expected a string",
                    to_text(other)
                ));
                return Err(e);
            }
        };
        let mut default = m.get("default").cloned();
        // Java turns a textual default of a float/double field into a number (a Java
        // double, which may be NaN or infinite: those are kept as their names here).
        let mut converted = false;
        if let (
            Some(Value::String(s)),
            Schema::Prim {
                prim: Prim::Float | Prim::Double,
                ..
            },
        ) = (&default, &schema)
        {
            let Some(x) = java_parse_double(s) else {
                self.path.push("default".into());
                let e = self.err(format!(
                    "invalid default for field \"{name}\": \"{s}\" is not a number"
                ));
                return Err(e);
            };
            default = Some(match serde_json::Number::from_f64(x) {
                Some(n) => Value::Number(n),
                None if x.is_nan() => Value::String("NaN".into()),
                None if x > 0.0 => Value::String("Infinity".into()),
                None => Value::String("-Infinity".into()),
            });
            converted = true;
        }
        if let (Some(d), false) = (&default, converted) {
            self.check_default(&schema, d, name, record);
        }
        let aliases = self.alias_strings(m)?;
        Ok(Field {
            name: name.to_string(),
            schema,
            doc,
            default,
            order,
            aliases,
            props: Self::props(m, &FIELD_RESERVED),
        })
    }

    /// Avro's default validation, which Confluent leaves off by default: what it would
    /// refuse becomes a warning (see the module documentation).
    fn check_default(&mut self, schema: &Schema, d: &Value, name: &str, record: &str) {
        let shown = || {
            // Enough to recognise the value; a default may be large.
            let text = to_text(d);
            match text.char_indices().nth(120) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        };
        let (kind, why) = match self.valid_default(schema, d, 0) {
            Ok(true) | Err(DefaultProblem::TooDeep) => return,
            Ok(false) => (
                "DEFAULT_TYPE_MISMATCH",
                format!(
                    "{} is not a valid {}",
                    shown(),
                    self.describe_for_default(schema)
                ),
            ),
            Err(DefaultProblem::EmptyUnion) => (
                "DEFAULT_TYPE_MISMATCH",
                format!("{} cannot be a value of a union with no branches", shown()),
            ),
            Err(DefaultProblem::Incomplete(r)) => (
                "RECURSIVE_DEFAULT",
                format!(
                    "{} cannot be checked against record \"{r}\" while that record's own fields are being defined",
                    shown()
                ),
            ),
        };
        let path = self.here();
        self.warnings.push(Warning::new(
            kind,
            path.clone(),
            format!(
                "{}the default of field \"{name}\" of record \"{record}\" (at {path}): {why}; Confluent stores it as written (it checks defaults only with avro.validate.defaults=true or normalize=true, and then refuses the schema)",
                self.label
            ),
        ));
    }

    fn describe_for_default(&self, s: &Schema) -> String {
        match s {
            Schema::Union { branches, .. } => match branches.first() {
                Some(first) => format!(
                    "{} (a union's default must match its first branch)",
                    self.describe(first)
                ),
                None => "value of an empty union".to_string(),
            },
            other => self.describe(other),
        }
    }

    pub(crate) fn describe(&self, s: &Schema) -> String {
        match s {
            Schema::Prim { prim, .. } => prim.name().to_string(),
            Schema::Array { .. } => "array".into(),
            Schema::Map { .. } => "map".into(),
            Schema::Union { .. } => "union".into(),
            Schema::Named(i) => match self.types.get(*i) {
                Some(t) => format!("{} \"{}\"", t.ty().lower(), t.name.full),
                None => "named type".into(),
            },
        }
    }

    /// Java's `Schema.isValidDefault` (1.11: a union's default against its first
    /// branch). `Err` where Java's check throws instead of answering.
    fn valid_default(&self, s: &Schema, v: &Value, depth: usize) -> Result<bool, DefaultProblem> {
        if depth > MAX_DEFAULT_DEPTH {
            return Err(DefaultProblem::TooDeep);
        }
        Ok(match s {
            Schema::Prim { prim, .. } => match prim {
                Prim::String | Prim::Bytes => v.is_string(),
                Prim::Int => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                Prim::Long => v.as_i64().is_some(),
                Prim::Float | Prim::Double => v.is_number(),
                Prim::Boolean => v.is_boolean(),
                Prim::Null => v.is_null(),
            },
            Schema::Array { items, .. } => match v.as_array() {
                Some(elements) => {
                    for e in elements {
                        if !self.valid_default(items, e, depth + 1)? {
                            return Ok(false);
                        }
                    }
                    true
                }
                None => false,
            },
            Schema::Map { values, .. } => match v.as_object() {
                Some(entries) => {
                    for e in entries.values() {
                        if !self.valid_default(values, e, depth + 1)? {
                            return Ok(false);
                        }
                    }
                    true
                }
                None => false,
            },
            Schema::Union { branches, .. } => match branches.first() {
                Some(first) => self.valid_default(first, v, depth + 1)?,
                None => return Err(DefaultProblem::EmptyUnion),
            },
            Schema::Named(i) => {
                let Some(t) = self.types.get(*i) else {
                    return Ok(false);
                };
                match &t.kind {
                    NamedKind::Enum { .. } | NamedKind::Fixed { .. } => v.is_string(),
                    NamedKind::Record {
                        fields, complete, ..
                    } => {
                        if !complete {
                            return Err(DefaultProblem::Incomplete(t.name.full.clone()));
                        }
                        let Some(obj) = v.as_object() else {
                            return Ok(false);
                        };
                        for f in fields {
                            let ok = match obj.get(&f.name) {
                                Some(x) => self.valid_default(&f.schema, x, depth + 1)?,
                                None => match &f.default {
                                    Some(d) => self.valid_default(&f.schema, d, depth + 1)?,
                                    None => false,
                                },
                            };
                            if !ok {
                                return Ok(false);
                            }
                        }
                        true
                    }
                }
            }
        })
    }

    fn union(&mut self, items: &[Value]) -> Result<Schema, SchemaError> {
        let mut branches = Vec::with_capacity(items.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            self.path.push(i.to_string());
            let b = self.schema(item)?;
            let key = match &b {
                Schema::Union { .. } => {
                    return Err(
                        self.err("nested union: a union may not directly contain another union")
                    );
                }
                Schema::Named(idx) => match self.types.get(*idx) {
                    Some(t) => t.name.full.clone(),
                    None => String::new(),
                },
                Schema::Prim { prim, .. } => prim.name().to_string(),
                Schema::Array { .. } => Type::Array.lower().to_string(),
                Schema::Map { .. } => Type::Map.lower().to_string(),
            };
            if !seen.insert(key.clone()) {
                return Err(self.err(format!("duplicate type \"{key}\" in union")));
            }
            branches.push(b);
            self.path.pop();
        }
        Ok(Schema::Union {
            id: self.id(),
            branches,
        })
    }
}
