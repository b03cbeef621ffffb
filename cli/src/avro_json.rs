//! Avro's JSON encoding (the Avro specification's "JSON Encoding", what Java's
//! `JsonEncoder`/`JsonDecoder` and so Confluent's `kafka-avro-console-consumer` and
//! `-producer` print and read), to and from apache-avro `Value`s, guided by the schema.
//!
//! - A union value is `null` for the null branch and otherwise a one-key object
//!   `{"<branch>": value}`, where the branch is the full name of a named type (record,
//!   enum, fixed) or the type name (`"string"`, `"int"`, `"array"`, `"map"`, ...;
//!   logical types by their underlying type).
//! - `bytes` and `fixed` are strings whose characters are the bytes (ISO-8859-1,
//!   code points 0–255).
//! - Logical types appear as their underlying type: a date is an `int`, a timestamp a
//!   `long`, a decimal its two's-complement bytes, a UUID its string.
//! - `NaN` and the infinities of `float`/`double` are the strings `"NaN"`, `"Infinity"`,
//!   `"-Infinity"`, as Jackson writes them.
//!
//! Reading is strict: an unknown record field, a missing field without default, an
//! out-of-range int or a character above U+00FF in bytes is an error that names the
//! path (`/user/address/zip`). Record defaults are taken from the schema.
//!
//! The one approximation: apache-avro keeps no name for a `duration` (a logical type on
//! a 12-byte fixed), so a `duration` union branch is named `"fixed"`.

use apache_avro::schema::{Name, Namespace, RecordSchema, Schema};
use apache_avro::types::Value;
use serde_json::{Map, Number, Value as Json};
use std::collections::HashMap;

/// Nesting bound (recursive schemas meet crafted input).
const MAX_DEPTH: usize = 256;

/// A parsed Avro schema with its named types, ready to convert values both ways.
pub struct AvroJson {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl AvroJson {
    /// `main` with the named types of `main` and of `referenced` (its references).
    pub fn new(main: Schema, referenced: &[Schema]) -> AvroJson {
        let mut names = HashMap::new();
        for s in referenced.iter().chain(std::iter::once(&main)) {
            collect_names(s, &None, &mut names, 0);
        }
        AvroJson {
            schema: main,
            names,
        }
    }

    /// `value` (read with this schema) in Avro's JSON encoding.
    pub fn write_json(&self, value: &Value) -> Result<Json, String> {
        self.write(&self.schema, &None, value, &mut String::new(), 0)
    }

    /// The `Value` that `json` (Avro's JSON encoding) stands for under this schema.
    pub fn read_json(&self, json: &Json) -> Result<Value, String> {
        self.read(&self.schema, &None, json, &mut String::new(), 0)
    }

    fn lookup<'a>(
        &'a self,
        name: &Name,
        ns: &Namespace,
    ) -> Result<(&'a Schema, Namespace), String> {
        let full = name.fully_qualified_name(ns);
        match self.names.get(&full) {
            Some(s) => Ok((s, full.namespace.clone())),
            None => Err(format!(
                "the schema refers to an unknown type {}",
                full.fullname(None)
            )),
        }
    }

    fn write(
        &self,
        schema: &Schema,
        ns: &Namespace,
        value: &Value,
        path: &mut String,
        depth: usize,
    ) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{}: values nest deeper than {MAX_DEPTH} levels",
                at(path)
            ));
        }
        let mismatch = || format!("{}: value {value:?} does not match the schema", at(path));
        match (schema, value) {
            (Schema::Ref { name }, _) => {
                let (s, inner) = self.lookup(name, ns)?;
                self.write(s, &inner, value, path, depth + 1)
            }
            (Schema::Union(u), Value::Union(i, inner)) => {
                let branch = u.variants().get(*i as usize).ok_or_else(mismatch)?;
                if matches!(branch, Schema::Null) {
                    return Ok(Json::Null);
                }
                let key = self.branch_name(branch, ns);
                let len = path.len();
                path.push('/');
                path.push_str(&key);
                let v = self.write(branch, ns, inner, path, depth + 1)?;
                path.truncate(len);
                let mut m = Map::new();
                m.insert(key, v);
                Ok(Json::Object(m))
            }
            (Schema::Record(r), Value::Record(fields)) => {
                let inner = r.name.fully_qualified_name(ns).namespace;
                let mut m = Map::new();
                for f in &r.fields {
                    let v = fields
                        .iter()
                        .find(|(n, _)| *n == f.name)
                        .map(|(_, v)| v)
                        .ok_or_else(|| {
                            format!("{}: the value has no field {}", at(path), f.name)
                        })?;
                    let len = path.len();
                    path.push('/');
                    path.push_str(&f.name);
                    let j = self.write(&f.schema, &inner, v, path, depth + 1)?;
                    path.truncate(len);
                    m.insert(f.name.clone(), j);
                }
                Ok(Json::Object(m))
            }
            (Schema::Array(a), Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    out.push(self.write(&a.items, ns, item, path, depth + 1)?);
                    path.truncate(len);
                }
                Ok(Json::Array(out))
            }
            (Schema::Map(m), Value::Map(entries)) => {
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                let mut out = Map::new();
                for k in keys {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    out.insert(
                        k.clone(),
                        self.write(&m.types, ns, &entries[k], path, depth + 1)?,
                    );
                    path.truncate(len);
                }
                Ok(Json::Object(out))
            }
            (_, Value::Null) => Ok(Json::Null),
            (_, Value::Boolean(b)) => Ok(Json::Bool(*b)),
            (_, Value::Int(n) | Value::Date(n) | Value::TimeMillis(n)) => Ok(Json::from(*n)),
            (
                _,
                Value::Long(n)
                | Value::TimeMicros(n)
                | Value::TimestampMillis(n)
                | Value::TimestampMicros(n)
                | Value::TimestampNanos(n)
                | Value::LocalTimestampMillis(n)
                | Value::LocalTimestampMicros(n)
                | Value::LocalTimestampNanos(n),
            ) => Ok(Json::from(*n)),
            (_, Value::Float(f)) => Ok(float(f64::from(*f))),
            (_, Value::Double(f)) => Ok(float(*f)),
            (_, Value::String(s)) => Ok(Json::String(s.clone())),
            (_, Value::Uuid(u)) => Ok(Json::String(u.to_string())),
            (_, Value::Bytes(b) | Value::Fixed(_, b)) => Ok(Json::String(latin1(b))),
            (_, Value::Enum(_, symbol)) => Ok(Json::String(symbol.clone())),
            (_, Value::Decimal(d)) => {
                let bytes: Vec<u8> =
                    Vec::try_from(d).map_err(|e| format!("{}: decimal: {e}", at(path)))?;
                Ok(Json::String(latin1(&bytes)))
            }
            (_, Value::BigDecimal(_)) => {
                let datum = apache_avro::to_avro_datum(&Schema::BigDecimal, value.clone())
                    .map_err(|e| format!("{}: big-decimal: {e}", at(path)))?;
                match apache_avro::from_avro_datum(&Schema::Bytes, &mut datum.as_slice(), None) {
                    Ok(Value::Bytes(b)) => Ok(Json::String(latin1(&b))),
                    _ => Err(format!("{}: big-decimal: cannot encode", at(path))),
                }
            }
            (_, Value::Duration(d)) => Ok(Json::String(latin1(&<[u8; 12]>::from(*d)))),
            _ => Err(mismatch()),
        }
    }

    /// The name of a union branch in the JSON encoding.
    fn branch_name(&self, schema: &Schema, ns: &Namespace) -> String {
        match schema {
            Schema::Null => "null".into(),
            Schema::Boolean => "boolean".into(),
            Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => "long".into(),
            Schema::Float => "float".into(),
            Schema::Double => "double".into(),
            Schema::Bytes | Schema::BigDecimal => "bytes".into(),
            Schema::String | Schema::Uuid => "string".into(),
            Schema::Array(_) => "array".into(),
            Schema::Map(_) => "map".into(),
            Schema::Union(_) => "union".into(),
            Schema::Record(RecordSchema { name, .. }) => {
                name.fully_qualified_name(ns).fullname(None)
            }
            Schema::Enum(e) => e.name.fully_qualified_name(ns).fullname(None),
            Schema::Fixed(f) => f.name.fully_qualified_name(ns).fullname(None),
            Schema::Decimal(d) => self.branch_name(&d.inner, ns),
            Schema::Duration => "fixed".into(),
            Schema::Ref { name } => name.fully_qualified_name(ns).fullname(None),
        }
    }

    fn read(
        &self,
        schema: &Schema,
        ns: &Namespace,
        json: &Json,
        path: &mut String,
        depth: usize,
    ) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "{}: values nest deeper than {MAX_DEPTH} levels",
                at(path)
            ));
        }
        let expected = |what: &str| format!("{}: expected {what}, found {}", at(path), kind(json));
        match schema {
            Schema::Ref { name } => {
                let (s, inner) = self.lookup(name, ns)?;
                self.read(s, &inner, json, path, depth + 1)
            }
            Schema::Null => match json {
                Json::Null => Ok(Value::Null),
                _ => Err(expected("null")),
            },
            Schema::Boolean => json
                .as_bool()
                .map(Value::Boolean)
                .ok_or_else(|| expected("a boolean")),
            Schema::Int => int(json).map(Value::Int).ok_or_else(|| expected("an int")),
            Schema::Date => int(json)
                .map(Value::Date)
                .ok_or_else(|| expected("an int (date)")),
            Schema::TimeMillis => int(json)
                .map(Value::TimeMillis)
                .ok_or_else(|| expected("an int (time-millis)")),
            Schema::Long => json
                .as_i64()
                .map(Value::Long)
                .ok_or_else(|| expected("a long")),
            Schema::TimeMicros => json
                .as_i64()
                .map(Value::TimeMicros)
                .ok_or_else(|| expected("a long")),
            Schema::TimestampMillis => json
                .as_i64()
                .map(Value::TimestampMillis)
                .ok_or_else(|| expected("a long")),
            Schema::TimestampMicros => json
                .as_i64()
                .map(Value::TimestampMicros)
                .ok_or_else(|| expected("a long")),
            Schema::TimestampNanos => json
                .as_i64()
                .map(Value::TimestampNanos)
                .ok_or_else(|| expected("a long")),
            Schema::LocalTimestampMillis => json
                .as_i64()
                .map(Value::LocalTimestampMillis)
                .ok_or_else(|| expected("a long")),
            Schema::LocalTimestampMicros => json
                .as_i64()
                .map(Value::LocalTimestampMicros)
                .ok_or_else(|| expected("a long")),
            Schema::LocalTimestampNanos => json
                .as_i64()
                .map(Value::LocalTimestampNanos)
                .ok_or_else(|| expected("a long")),
            Schema::Float => number(json)
                .map(|f| Value::Float(f as f32))
                .ok_or_else(|| expected("a float")),
            Schema::Double => number(json)
                .map(Value::Double)
                .ok_or_else(|| expected("a double")),
            Schema::String => json
                .as_str()
                .map(|s| Value::String(s.to_string()))
                .ok_or_else(|| expected("a string")),
            Schema::Uuid => {
                let s = json.as_str().ok_or_else(|| expected("a UUID string"))?;
                apache_avro::Uuid::parse_str(s)
                    .map(Value::Uuid)
                    .map_err(|e| format!("{}: invalid UUID {s:?}: {e}", at(path)))
            }
            Schema::Bytes => Ok(Value::Bytes(self.bytes(json, path)?)),
            Schema::BigDecimal => {
                let b = self.bytes(json, path)?;
                let datum = apache_avro::to_avro_datum(&Schema::Bytes, Value::Bytes(b))
                    .map_err(|e| format!("{}: {e}", at(path)))?;
                apache_avro::from_avro_datum(&Schema::BigDecimal, &mut datum.as_slice(), None)
                    .map_err(|e| format!("{}: invalid big-decimal: {e}", at(path)))
            }
            Schema::Fixed(f) => {
                let b = self.bytes(json, path)?;
                if b.len() != f.size {
                    return Err(format!(
                        "{}: fixed {} needs {} bytes, found {}",
                        at(path),
                        f.name.fullname(None),
                        f.size,
                        b.len()
                    ));
                }
                Ok(Value::Fixed(f.size, b))
            }
            Schema::Decimal(d) => {
                let b = self.bytes(json, path)?;
                if let Schema::Fixed(f) = d.inner.as_ref() {
                    if b.len() != f.size {
                        return Err(format!(
                            "{}: decimal on fixed {} needs {} bytes, found {}",
                            at(path),
                            f.name.fullname(None),
                            f.size,
                            b.len()
                        ));
                    }
                }
                Ok(Value::Decimal(apache_avro::Decimal::from(b)))
            }
            Schema::Duration => {
                let b = self.bytes(json, path)?;
                let arr: [u8; 12] = b.as_slice().try_into().map_err(|_| {
                    format!("{}: a duration needs 12 bytes, found {}", at(path), b.len())
                })?;
                Ok(Value::Duration(apache_avro::Duration::from(arr)))
            }
            Schema::Enum(e) => {
                let s = json.as_str().ok_or_else(|| expected("an enum symbol"))?;
                match e.symbols.iter().position(|x| x == s) {
                    Some(i) => Ok(Value::Enum(i as u32, s.to_string())),
                    None => Err(format!(
                        "{}: {s:?} is not a symbol of enum {} ({})",
                        at(path),
                        e.name.fullname(None),
                        e.symbols.join(", ")
                    )),
                }
            }
            Schema::Array(a) => {
                let items = json.as_array().ok_or_else(|| expected("an array"))?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    out.push(self.read(&a.items, ns, item, path, depth + 1)?);
                    path.truncate(len);
                }
                Ok(Value::Array(out))
            }
            Schema::Map(m) => {
                let obj = json
                    .as_object()
                    .ok_or_else(|| expected("an object (map)"))?;
                let mut out = HashMap::with_capacity(obj.len());
                for (k, v) in obj {
                    let len = path.len();
                    path.push('/');
                    path.push_str(k);
                    out.insert(k.clone(), self.read(&m.types, ns, v, path, depth + 1)?);
                    path.truncate(len);
                }
                Ok(Value::Map(out))
            }
            Schema::Record(r) => {
                let obj = json.as_object().ok_or_else(|| {
                    expected(&format!("an object (record {})", r.name.fullname(None)))
                })?;
                let inner = r.name.fully_qualified_name(ns).namespace;
                if let Some(unknown) = obj.keys().find(|k| !r.lookup.contains_key(*k)) {
                    return Err(format!(
                        "{}: record {} has no field {unknown:?}",
                        at(path),
                        r.name.fullname(None)
                    ));
                }
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&f.name);
                    let v = match (obj.get(&f.name), &f.default) {
                        (Some(v), _) => self.read(&f.schema, &inner, v, path, depth + 1)?,
                        (None, Some(default)) => {
                            self.default(&f.schema, &inner, default, path, depth + 1)?
                        }
                        (None, None) => {
                            return Err(format!("{}: missing field (it has no default)", at(path)))
                        }
                    };
                    path.truncate(len);
                    fields.push((f.name.clone(), v));
                }
                Ok(Value::Record(fields))
            }
            Schema::Union(u) => {
                let variants = u.variants();
                if json.is_null() {
                    return match variants.iter().position(|s| matches!(s, Schema::Null)) {
                        Some(i) => Ok(Value::Union(i as u32, Box::new(Value::Null))),
                        None => Err(format!("{}: null is not a branch of this union", at(path))),
                    };
                }
                let names: Vec<String> = variants.iter().map(|s| self.branch_name(s, ns)).collect();
                let obj = json.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                    format!(
                        "{}: a union value is null or {{\"<branch>\": value}} with a branch of [{}], found {}",
                        at(path),
                        names.join(", "),
                        kind(json)
                    )
                })?;
                let (key, inner) = obj
                    .iter()
                    .next()
                    .ok_or_else(|| expected("a union branch"))?;
                // The full name, as Avro writes it; a simple name is accepted when unique.
                let index = names.iter().position(|n| n == key).or_else(|| {
                    let simple: Vec<usize> = names
                        .iter()
                        .enumerate()
                        .filter(|(_, n)| n.rsplit('.').next() == Some(key.as_str()))
                        .map(|(i, _)| i)
                        .collect();
                    (simple.len() == 1).then(|| simple[0])
                });
                let Some(i) = index else {
                    return Err(format!(
                        "{}: {key:?} is not a branch of this union ([{}])",
                        at(path),
                        names.join(", ")
                    ));
                };
                let len = path.len();
                path.push('/');
                path.push_str(key);
                let v = self.read(&variants[i], ns, inner, path, depth + 1)?;
                path.truncate(len);
                Ok(Value::Union(i as u32, Box::new(v)))
            }
        }
    }

    /// A record field default: in the JSON encoding, except that a union's default is
    /// a bare value of its first branch.
    fn default(
        &self,
        schema: &Schema,
        ns: &Namespace,
        json: &Json,
        path: &mut String,
        depth: usize,
    ) -> Result<Value, String> {
        match schema {
            Schema::Ref { name } => {
                let (s, inner) = self.lookup(name, ns)?;
                self.default(s, &inner, json, path, depth + 1)
            }
            Schema::Union(u) => {
                let first = u
                    .variants()
                    .first()
                    .ok_or_else(|| format!("{}: empty union", at(path)))?;
                let v = self.default(first, ns, json, path, depth + 1)?;
                Ok(Value::Union(0, Box::new(v)))
            }
            _ => self.read(schema, ns, json, path, depth),
        }
    }

    fn bytes(&self, json: &Json, path: &str) -> Result<Vec<u8>, String> {
        let s = json.as_str().ok_or_else(|| {
            format!(
                "{}: expected a string of bytes, found {}",
                at(path),
                kind(json)
            )
        })?;
        s.chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    format!(
                        "{}: bytes are written as characters U+0000..U+00FF, found {c:?}",
                        at(path)
                    )
                })
            })
            .collect()
    }
}

fn collect_names(schema: &Schema, ns: &Namespace, names: &mut HashMap<Name, Schema>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match schema {
        Schema::Record(r) => {
            let full = r.name.fully_qualified_name(ns);
            let inner = full.namespace.clone();
            names.insert(full, schema.clone());
            for f in &r.fields {
                collect_names(&f.schema, &inner, names, depth + 1);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fully_qualified_name(ns), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fully_qualified_name(ns), schema.clone());
        }
        Schema::Decimal(d) => collect_names(&d.inner, ns, names, depth + 1),
        Schema::Array(a) => collect_names(&a.items, ns, names, depth + 1),
        Schema::Map(m) => collect_names(&m.types, ns, names, depth + 1),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, ns, names, depth + 1);
            }
        }
        _ => {}
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn int(json: &Json) -> Option<i32> {
    json.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn number(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// Bytes as a string of code points 0–255.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(schema: &str) -> AvroJson {
        AvroJson::new(Schema::parse_str(schema).expect("schema"), &[])
    }

    #[test]
    fn unions_bytes_and_records_round_trip() {
        let c = conv(
            r#"{"type":"record","name":"R","namespace":"ex","fields":[
                {"name":"c","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"X"},
                {"name":"a","type":["null","string","ex.E"]},
                {"name":"b","type":"bytes"},
                {"name":"d","type":["null","long"],"default":null},
                {"name":"f","type":{"type":"fixed","name":"F","size":2}}]}"#,
        );
        let json: Json =
            serde_json::json!({"a": {"ex.E": "Y"}, "b": "\u{00ff}\u{0000}", "f": "ab"});
        let v = c.read_json(&json).expect("read");
        let back = c.write_json(&v).expect("write");
        assert_eq!(
            back,
            serde_json::json!({"a": {"ex.E": "Y"}, "b": "\u{00ff}\u{0000}", "c": "X", "d": null, "f": "ab"})
        );
        let v = c
            .read_json(&serde_json::json!({"a": null, "b": "", "f": "ab", "d": {"long": 5}}))
            .expect("read");
        assert_eq!(
            c.write_json(&v).expect("write")["d"],
            serde_json::json!({"long": 5})
        );
    }

    #[test]
    fn errors_name_the_path() {
        let c = conv(
            r#"{"type":"record","name":"R","fields":[{"name":"xs","type":{"type":"array","items":"int"}}]}"#,
        );
        let e = c
            .read_json(&serde_json::json!({"xs": [1, "two"]}))
            .unwrap_err();
        assert!(e.starts_with("/xs/1: expected an int"), "{e}");
        let e = c
            .read_json(&serde_json::json!({"xs": [], "y": 1}))
            .unwrap_err();
        assert!(e.contains("no field \"y\""), "{e}");
        let e = c.read_json(&serde_json::json!({})).unwrap_err();
        assert!(e.starts_with("/xs: missing field"), "{e}");
    }
}
