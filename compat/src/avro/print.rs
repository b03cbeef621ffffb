//! The two printers: Java's `Schema.toJson` (the canonical text Confluent stores) and
//! Confluent's `AvroSchemaUtils.build` (the first step of `normalize`).

use super::json::{java_double, java_float, write_str, write_value};
use super::model::{NamedKind, NamedType, Prim, Props, Schema};
use serde_json::Value;

/// Past this depth a printer writes a named type by name instead of inlining it (only
/// reachable through very long chains of references in `resolved()`); it keeps the
/// printers from exhausting the stack.
const MAX_PRINT_DEPTH: usize = 1024;

/// Java's `Schema.toJson`: named types in full at their first occurrence and by name
/// afterwards; `namespace` only where it differs from the enclosing one.
pub(crate) struct JavaPrinter<'a> {
    types: &'a [NamedType],
    known: Vec<bool>,
    space: Option<String>,
    out: String,
    depth: usize,
}

impl<'a> JavaPrinter<'a> {
    /// `known` marks the named types to print by name from the start (Confluent
    /// pre-registers the referenced types so the main schema refers to them by name).
    pub(crate) fn new(types: &'a [NamedType], known_prefix: usize) -> Self {
        let known = (0..types.len()).map(|i| i < known_prefix).collect();
        JavaPrinter {
            types,
            known,
            space: None,
            out: String::new(),
            depth: 0,
        }
    }

    pub(crate) fn print(mut self, s: &Schema) -> String {
        self.schema(s);
        self.out
    }

    fn props(&mut self, props: &Props) {
        for (k, v) in props {
            self.out.push(',');
            write_str(&mut self.out, k);
            self.out.push(':');
            write_value(&mut self.out, v);
        }
    }

    fn schema(&mut self, s: &Schema) {
        match s {
            Schema::Prim { prim, props, .. } => {
                if props.is_empty() {
                    write_str(&mut self.out, prim.name());
                } else {
                    self.out.push_str("{\"type\":");
                    write_str(&mut self.out, prim.name());
                    self.props(props);
                    self.out.push('}');
                }
            }
            Schema::Array { items, props, .. } => {
                self.out.push_str("{\"type\":\"array\",\"items\":");
                self.schema(items);
                self.props(props);
                self.out.push('}');
            }
            Schema::Map { values, props, .. } => {
                self.out.push_str("{\"type\":\"map\",\"values\":");
                self.schema(values);
                self.props(props);
                self.out.push('}');
            }
            Schema::Union { branches, .. } => {
                self.out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.schema(b);
                }
                self.out.push(']');
            }
            Schema::Named(i) => self.named(*i),
        }
    }

    fn named(&mut self, i: usize) {
        let types = self.types;
        let Some(t) = types.get(i) else {
            self.out.push_str("null");
            return;
        };
        let known = self.known.get(i).copied().unwrap_or(true);
        if known || self.depth >= MAX_PRINT_DEPTH {
            let q = t.name.qualified_in(self.space.as_deref()).to_string();
            write_str(&mut self.out, &q);
            return;
        }
        if let Some(k) = self.known.get_mut(i) {
            *k = true;
        }
        self.depth += 1;
        match &t.kind {
            NamedKind::Record { error, fields, .. } => {
                let saved = self.space.clone();
                self.out.push_str(if *error {
                    "{\"type\":\"error\""
                } else {
                    "{\"type\":\"record\""
                });
                self.write_name(t);
                self.space = t.name.space.clone();
                if let Some(doc) = &t.doc {
                    self.out.push_str(",\"doc\":");
                    write_str(&mut self.out, doc);
                }
                self.out.push_str(",\"fields\":[");
                for (n, f) in fields.iter().enumerate() {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.out.push_str("{\"name\":");
                    write_str(&mut self.out, &f.name);
                    self.out.push_str(",\"type\":");
                    self.schema(&f.schema);
                    if let Some(doc) = &f.doc {
                        self.out.push_str(",\"doc\":");
                        write_str(&mut self.out, doc);
                    }
                    if let Some(d) = &f.default {
                        self.out.push_str(",\"default\":");
                        write_value(&mut self.out, d);
                    }
                    if f.order != super::model::Order::Ascending {
                        self.out.push_str(",\"order\":");
                        write_str(&mut self.out, f.order.lower());
                    }
                    if !f.aliases.is_empty() {
                        self.out.push_str(",\"aliases\":[");
                        for (k, a) in f.aliases.iter().enumerate() {
                            if k > 0 {
                                self.out.push(',');
                            }
                            write_str(&mut self.out, a);
                        }
                        self.out.push(']');
                    }
                    self.props(&f.props);
                    self.out.push('}');
                }
                self.out.push(']');
                self.props(&t.props);
                self.aliases(t);
                self.out.push('}');
                self.space = saved;
            }
            NamedKind::Enum { symbols, default } => {
                self.out.push_str("{\"type\":\"enum\"");
                self.write_name(t);
                if let Some(doc) = &t.doc {
                    self.out.push_str(",\"doc\":");
                    write_str(&mut self.out, doc);
                }
                self.out.push_str(",\"symbols\":[");
                for (k, s) in symbols.iter().enumerate() {
                    if k > 0 {
                        self.out.push(',');
                    }
                    write_str(&mut self.out, s);
                }
                self.out.push(']');
                if let Some(d) = default {
                    self.out.push_str(",\"default\":");
                    write_str(&mut self.out, d);
                }
                self.props(&t.props);
                self.aliases(t);
                self.out.push('}');
            }
            NamedKind::Fixed { size } => {
                self.out.push_str("{\"type\":\"fixed\"");
                self.write_name(t);
                if let Some(doc) = &t.doc {
                    self.out.push_str(",\"doc\":");
                    write_str(&mut self.out, doc);
                }
                self.out.push_str(",\"size\":");
                self.out.push_str(&size.to_string());
                self.props(&t.props);
                self.aliases(t);
                self.out.push('}');
            }
        }
        self.depth -= 1;
    }

    /// Java's `Name.writeName`.
    fn write_name(&mut self, t: &NamedType) {
        self.out.push_str(",\"name\":");
        write_str(&mut self.out, &t.name.name);
        match (&t.name.space, &self.space) {
            (Some(sp), enclosing) if enclosing.as_deref() != Some(sp.as_str()) => {
                self.out.push_str(",\"namespace\":");
                write_str(&mut self.out, sp);
            }
            (None, Some(_)) => self.out.push_str(",\"namespace\":\"\""),
            _ => {}
        }
    }

    /// Java's `aliasesToJson`: each alias relative to the type's own namespace.
    fn aliases(&mut self, t: &NamedType) {
        if t.aliases.is_empty() {
            return;
        }
        self.out.push_str(",\"aliases\":[");
        for (k, a) in t.aliases.iter().enumerate() {
            if k > 0 {
                self.out.push(',');
            }
            write_str(&mut self.out, a.qualified_in(t.name.space.as_deref()));
        }
        self.out.push(']');
    }
}

/// Confluent's normalising writer (`AvroSchemaUtils.build`). Its output is re-parsed and
/// printed with [`JavaPrinter`] to give the stored normalised text, as Confluent does.
pub(crate) struct NormPrinter<'a> {
    types: &'a [NamedType],
    env: Vec<bool>,
    out: String,
    depth: usize,
}

impl<'a> NormPrinter<'a> {
    pub(crate) fn new(types: &'a [NamedType], known_prefix: usize) -> Self {
        let env = (0..types.len()).map(|i| i < known_prefix).collect();
        NormPrinter {
            types,
            env,
            out: String::new(),
            depth: 0,
        }
    }

    pub(crate) fn print(mut self, s: &Schema) -> String {
        self.schema(s);
        self.out
    }

    /// `setSimpleProps`: every property, sorted by key.
    fn sorted_props(&mut self, props: &Props) {
        let mut sorted: Vec<&(String, Value)> = props.iter().collect();
        sorted.sort_by(|a, b| java_cmp(&a.0, &b.0));
        for (k, v) in sorted {
            self.out.push(',');
            write_str(&mut self.out, k);
            self.out.push(':');
            write_value(&mut self.out, v);
        }
    }

    /// `setLogicalProps`, for a logical type Java recognises on this base type.
    fn logical_props(&mut self, logical: &Logical) {
        self.out.push_str(",\"logicalType\":");
        write_str(&mut self.out, &logical.name);
        if let Some((precision, scale)) = logical.decimal {
            self.out.push_str(",\"precision\":");
            self.out.push_str(&precision.to_string());
            if scale != 0 {
                self.out.push_str(",\"scale\":");
                self.out.push_str(&scale.to_string());
            }
        }
    }

    fn schema(&mut self, s: &Schema) {
        match s {
            Schema::Union { branches, .. } => {
                self.out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.schema(b);
                }
                self.out.push(']');
            }
            Schema::Array { items, props, .. } => {
                self.out.push_str("{\"type\":\"array\",\"items\":");
                self.schema(items);
                self.sorted_props(props);
                self.out.push('}');
            }
            Schema::Map { values, props, .. } => {
                self.out.push_str("{\"type\":\"map\",\"values\":");
                self.schema(values);
                self.sorted_props(props);
                self.out.push('}');
            }
            Schema::Prim { prim, props, .. } => match logical_type(Base::Prim(*prim), props) {
                Some(logical) => {
                    self.out.push_str("{\"type\":");
                    write_str(&mut self.out, prim.name());
                    self.logical_props(&logical);
                    self.sorted_props(props);
                    self.out.push('}');
                }
                None if !props.is_empty() => {
                    self.out.push_str("{\"type\":");
                    write_str(&mut self.out, prim.name());
                    self.sorted_props(props);
                    self.out.push('}');
                }
                None => write_str(&mut self.out, prim.name()),
            },
            Schema::Named(i) => self.named(*i),
        }
    }

    fn named(&mut self, i: usize) {
        let types = self.types;
        let Some(t) = types.get(i) else {
            self.out.push_str("null");
            return;
        };
        if self.env.get(i).copied().unwrap_or(true) || self.depth >= MAX_PRINT_DEPTH {
            write_str(&mut self.out, &t.name.full);
            return;
        }
        if let Some(e) = self.env.get_mut(i) {
            *e = true;
        }
        self.depth += 1;
        self.out.push_str("{\"name\":");
        write_str(&mut self.out, &t.name.full);
        // Confluent writes "record" for error types too (`Type.getName()`).
        self.out.push_str(",\"type\":");
        write_str(&mut self.out, t.ty().lower());
        match &t.kind {
            NamedKind::Enum { symbols, .. } => {
                self.out.push_str(",\"symbols\":[");
                for (k, s) in symbols.iter().enumerate() {
                    if k > 0 {
                        self.out.push(',');
                    }
                    write_str(&mut self.out, s);
                }
                self.out.push(']');
            }
            NamedKind::Fixed { size } => {
                self.out.push_str(",\"size\":");
                self.out.push_str(&size.to_string());
                if let Some(logical) = logical_type(Base::Fixed(*size), &t.props) {
                    self.logical_props(&logical);
                }
            }
            NamedKind::Record { fields, .. } => {
                self.out.push_str(",\"fields\":[");
                for (n, f) in fields.iter().enumerate() {
                    if n > 0 {
                        self.out.push(',');
                    }
                    self.out.push_str("{\"name\":");
                    write_str(&mut self.out, &f.name);
                    self.out.push_str(",\"type\":");
                    self.schema(&f.schema);
                    // setFieldProps
                    self.out.push_str(",\"order\":");
                    write_str(&mut self.out, f.order.upper());
                    if let Some(doc) = &f.doc {
                        self.out.push_str(",\"doc\":");
                        write_str(&mut self.out, doc);
                    }
                    if !f.aliases.is_empty() {
                        let mut aliases: Vec<&String> = f.aliases.iter().collect();
                        aliases.sort_by(|a, b| java_cmp(a, b));
                        self.out.push_str(",\"aliases\":[");
                        for (k, a) in aliases.iter().enumerate() {
                            if k > 0 {
                                self.out.push(',');
                            }
                            write_str(&mut self.out, a);
                        }
                        self.out.push(']');
                    }
                    if let Some(d) = &f.default {
                        let mut text = String::new();
                        if default_value(self.types, Some(&f.schema), d, &mut text, 0) {
                            self.out.push_str(",\"default\":");
                            self.out.push_str(&text);
                        }
                    }
                    self.sorted_props(&f.props);
                    self.out.push('}');
                }
                self.out.push(']');
            }
        }
        // setComplexProps
        if let Some(doc) = t.doc.as_deref().filter(|d| !d.is_empty()) {
            self.out.push_str(",\"doc\":");
            write_str(&mut self.out, doc);
        }
        if !t.aliases.is_empty() {
            let mut aliases: Vec<&str> = t.aliases.iter().map(|a| a.full.as_str()).collect();
            aliases.sort_by(|a, b| java_cmp(a, b));
            self.out.push_str(",\"aliases\":[");
            for (k, a) in aliases.iter().enumerate() {
                if k > 0 {
                    self.out.push(',');
                }
                write_str(&mut self.out, a);
            }
            self.out.push(']');
        }
        if let NamedKind::Enum {
            default: Some(d), ..
        } = &t.kind
        {
            self.out.push_str(",\"default\":");
            write_str(&mut self.out, d);
        }
        self.sorted_props(&t.props);
        self.out.push('}');
        self.depth -= 1;
    }
}

/// Java's `String.compareTo` (UTF-16 code units), which `TreeMap`/`TreeSet` sort by.
pub(crate) fn java_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// What a logical type can annotate.
enum Base {
    Prim(Prim),
    Fixed(u32),
}

/// A logical type Java's `LogicalTypes.fromSchemaIgnoreInvalid` accepts.
struct Logical {
    name: String,
    decimal: Option<(i64, i64)>,
}

/// The logical type Java would recognise from `props` on `base`; `None` for an unknown
/// or invalid one (Java then keeps `logicalType` as a plain property).
fn logical_type(base: Base, props: &Props) -> Option<Logical> {
    let name = props
        .iter()
        .find(|(k, _)| k == "logicalType")
        .and_then(|(_, v)| v.as_str())?;
    let prop_int = |key: &str| -> Option<Option<i64>> {
        match props.iter().find(|(k, _)| k == key) {
            None => Some(None),
            Some((_, v)) => v.as_i64().filter(|i| i32::try_from(*i).is_ok()).map(Some),
        }
    };
    let ok = match name {
        "decimal" => {
            let (Some(Some(precision)), Some(scale)) = (prop_int("precision"), prop_int("scale"))
            else {
                return None;
            };
            let scale = scale.unwrap_or(0);
            let fits = match base {
                Base::Prim(Prim::Bytes) => true,
                Base::Fixed(size) => {
                    // Java: floor(log10(2^(8*size-1) - 1)) digits fit.
                    let bits = 8.0 * f64::from(size) - 1.0;
                    let max = (bits * std::f64::consts::LOG10_2).floor();
                    (precision as f64) <= max
                }
                Base::Prim(_) => false,
            };
            if !(fits && precision > 0 && scale >= 0 && scale <= precision) {
                return None;
            }
            return Some(Logical {
                name: name.to_string(),
                decimal: Some((precision, scale)),
            });
        }
        "uuid" => matches!(base, Base::Prim(Prim::String) | Base::Fixed(16)),
        "date" | "time-millis" => matches!(base, Base::Prim(Prim::Int)),
        "time-micros"
        | "timestamp-millis"
        | "timestamp-micros"
        | "timestamp-nanos"
        | "local-timestamp-millis"
        | "local-timestamp-micros"
        | "local-timestamp-nanos" => matches!(base, Base::Prim(Prim::Long)),
        "duration" => matches!(base, Base::Fixed(12)),
        "big-decimal" => matches!(base, Base::Prim(Prim::Bytes)),
        _ => false,
    };
    ok.then(|| Logical {
        name: name.to_string(),
        decimal: None,
    })
}

/// Which Java number node Jackson would have made of a JSON number.
enum JNum {
    Int(i64),
    Long(i64),
    Big,
    Double(f64),
}

fn jnum(n: &serde_json::Number) -> JNum {
    if let Some(i) = n.as_i64() {
        if i32::try_from(i).is_ok() {
            JNum::Int(i)
        } else {
            JNum::Long(i)
        }
    } else if n.as_u64().is_some() {
        JNum::Big
    } else {
        JNum::Double(n.as_f64().unwrap_or(0.0))
    }
}

/// Confluent writes a field default as `toJsonNode(field.defaultVal())`: the JSON is
/// first converted to a Java value guided by the field's schema (a union by its first
/// branch), then written back. That turns `1` into `1.0` for a `double`, rounds a
/// `float` to single precision and maps `bytes` through ISO-8859-1. Returns false where
/// Java's conversion yields null (the default is then left out).
fn default_value(
    types: &[NamedType],
    schema: Option<&Schema>,
    v: &Value,
    out: &mut String,
    depth: usize,
) -> bool {
    if depth > MAX_PRINT_DEPTH {
        return false;
    }
    let mut schema = schema;
    if let Some(Schema::Union { branches, .. }) = schema {
        schema = branches.first();
        if schema.is_none() {
            return false;
        }
    }
    enum K<'s> {
        Any,
        Int,
        Long,
        Float,
        Double,
        Text,
        Binary,
        Array(&'s Schema),
        Map(&'s Schema),
        Record(&'s [super::model::Field]),
        Other,
    }
    let kind = match schema {
        None => K::Any,
        Some(Schema::Prim { prim, .. }) => match prim {
            Prim::Int => K::Int,
            Prim::Long => K::Long,
            Prim::Float => K::Float,
            Prim::Double => K::Double,
            Prim::String => K::Text,
            Prim::Bytes => K::Binary,
            Prim::Boolean | Prim::Null => K::Other,
        },
        Some(Schema::Array { items, .. }) => K::Array(items),
        Some(Schema::Map { values, .. }) => K::Map(values),
        Some(Schema::Union { .. }) => K::Other,
        Some(Schema::Named(i)) => match types.get(*i).map(|t| &t.kind) {
            Some(NamedKind::Enum { .. }) => K::Text,
            Some(NamedKind::Fixed { .. }) => K::Binary,
            Some(NamedKind::Record { fields, .. }) => K::Record(fields),
            None => K::Other,
        },
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (jnum(n), &kind) {
            (JNum::Int(i), K::Any | K::Int | K::Long) | (JNum::Long(i), K::Any | K::Long) => {
                out.push_str(&i.to_string())
            }
            (JNum::Int(i) | JNum::Long(i), K::Float) => out.push_str(&java_float(i as f32)),
            (JNum::Int(i) | JNum::Long(i), K::Double) => out.push_str(&java_double(i as f64)),
            (JNum::Double(x), K::Any | K::Double) => out.push_str(&java_double(x)),
            (JNum::Double(x), K::Float) => out.push_str(&java_float(x as f32)),
            _ => return false,
        },
        Value::String(s) => match kind {
            K::Any | K::Text => write_str(out, s),
            K::Binary => {
                let latin1: String = s
                    .chars()
                    .map(|c| if (c as u32) <= 0xFF { c } else { '?' })
                    .collect();
                write_str(out, &latin1);
            }
            // A float/double default given as "NaN"/"Infinity": Jackson quotes it.
            K::Float | K::Double if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                write_str(out, s)
            }
            _ => return false,
        },
        Value::Array(items) => {
            let element = match kind {
                K::Array(items) => Some(items),
                K::Any => None,
                _ => return false,
            };
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                if !default_value(types, element, item, out, depth + 1) {
                    out.push_str("null");
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            if !matches!(kind, K::Any | K::Map(_) | K::Record(_)) {
                return false;
            }
            out.push('{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                let s = match &kind {
                    K::Map(values) => Some(*values),
                    K::Record(fields) => fields.iter().find(|f| &f.name == key).map(|f| &f.schema),
                    _ => None,
                };
                if !default_value(types, s, item, out, depth + 1) {
                    out.push_str("null");
                }
            }
            out.push('}');
        }
    }
    true
}
