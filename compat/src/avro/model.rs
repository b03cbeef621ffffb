//! The typed Avro model the parser builds and the printers and the checker read.
//!
//! Named types live in one arena (`Vec<NamedType>`) and are referred to by index, so a
//! recursive record is just an index that points back at itself, and "the same named
//! type" means "the same index" — exactly the object identity Java's checker memoises on.
//! Every unnamed node carries its own `id` for the same reason: Java creates a fresh
//! `Schema` object for every occurrence of a primitive, array, map or union.

use serde_json::Value;
use std::collections::HashMap;

/// Custom properties (and logical-type attributes) in source order, as Java keeps them.
pub(crate) type Props = Vec<(String, Value)>;

/// The eight primitive types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
}

impl Prim {
    pub(crate) fn from_name(s: &str) -> Option<Prim> {
        Some(match s {
            "null" => Prim::Null,
            "boolean" => Prim::Boolean,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "bytes" => Prim::Bytes,
            "string" => Prim::String,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        self.ty().lower()
    }

    pub(crate) fn ty(self) -> Type {
        match self {
            Prim::Null => Type::Null,
            Prim::Boolean => Type::Boolean,
            Prim::Int => Type::Int,
            Prim::Long => Type::Long,
            Prim::Float => Type::Float,
            Prim::Double => Type::Double,
            Prim::Bytes => Type::Bytes,
            Prim::String => Type::String,
        }
    }
}

/// Java's `Schema.Type`: what the checker dispatches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Record,
    Enum,
    Array,
    Map,
    Union,
    Fixed,
    String,
    Bytes,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    Null,
}

impl Type {
    /// The spelling Java's messages use (`Type.toString()`).
    pub(crate) fn upper(self) -> &'static str {
        match self {
            Type::Record => "RECORD",
            Type::Enum => "ENUM",
            Type::Array => "ARRAY",
            Type::Map => "MAP",
            Type::Union => "UNION",
            Type::Fixed => "FIXED",
            Type::String => "STRING",
            Type::Bytes => "BYTES",
            Type::Int => "INT",
            Type::Long => "LONG",
            Type::Float => "FLOAT",
            Type::Double => "DOUBLE",
            Type::Boolean => "BOOLEAN",
            Type::Null => "NULL",
        }
    }

    /// The spelling of the schema language (`Type.getName()`).
    pub(crate) fn lower(self) -> &'static str {
        match self {
            Type::Record => "record",
            Type::Enum => "enum",
            Type::Array => "array",
            Type::Map => "map",
            Type::Union => "union",
            Type::Fixed => "fixed",
            Type::String => "string",
            Type::Bytes => "bytes",
            Type::Int => "int",
            Type::Long => "long",
            Type::Float => "float",
            Type::Double => "double",
            Type::Boolean => "boolean",
            Type::Null => "null",
        }
    }
}

/// One schema node. Named types are indices into [`super::AvroSchema`]'s arena.
#[derive(Debug, Clone)]
pub(crate) enum Schema {
    Prim {
        id: u32,
        prim: Prim,
        props: Props,
    },
    Array {
        id: u32,
        items: Box<Schema>,
        props: Props,
    },
    Map {
        id: u32,
        values: Box<Schema>,
        props: Props,
    },
    Union {
        id: u32,
        branches: Vec<Schema>,
    },
    Named(usize),
}

/// A resolved Avro name: the simple name, its namespace (`None` = the null namespace)
/// and the dotted full name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    pub(crate) name: String,
    pub(crate) space: Option<String>,
    pub(crate) full: String,
}

impl Name {
    /// Java's `new Name(name, space)`: a dotted `name` carries its own namespace and
    /// ignores `space`; an empty namespace is the null namespace. Only the last
    /// component is validated, as Java does.
    pub(crate) fn new(name: &str, space: Option<&str>) -> Result<Name, String> {
        let (simple, space) = match name.rfind('.') {
            Some(dot) => (&name[dot + 1..], Some(&name[..dot])),
            None => (name, space),
        };
        validate_name(simple)?;
        let space = space.filter(|s| !s.is_empty()).map(str::to_string);
        let full = match &space {
            Some(sp) => format!("{sp}.{simple}"),
            None => simple.to_string(),
        };
        Ok(Name {
            name: simple.to_string(),
            space,
            full,
        })
    }

    /// Java's `Name.getQualified(defaultSpace)`: the simple name when the namespace is
    /// null or equal to the enclosing one, else the full name.
    pub(crate) fn qualified_in(&self, enclosing: Option<&str>) -> &str {
        match &self.space {
            None => &self.name,
            Some(sp) if Some(sp.as_str()) == enclosing => &self.name,
            Some(_) => &self.full,
        }
    }
}

/// The full name `name` denotes in `space`, without validation (for look-ups).
pub(crate) fn full_name_of(name: &str, space: Option<&str>) -> String {
    match name.rfind('.') {
        Some(0) => name[1..].to_string(),
        Some(_) => name.to_string(),
        None => match space {
            Some(sp) if !sp.is_empty() => format!("{sp}.{name}"),
            _ => name.to_string(),
        },
    }
}

/// Java's `Schema.validateName` (Avro 1.12: `NameValidator.UTF_VALIDATOR`), which
/// Confluent's parser applies: a letter or `_`, then letters, digits or `_`, where
/// Java asks `Character.isLetter` and `Character.isLetterOrDigit` of each UTF-16 code
/// unit. So non-ASCII letters pass, but nothing outside the Basic Multilingual Plane
/// does (its surrogates are no letters).
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("Empty name".to_string());
    };
    if !(java_letter(first) || first == '_') {
        return Err(format!("Illegal initial character in name \"{name}\""));
    }
    if chars.any(|c| !(java_letter(c) || java_digit(c) || c == '_')) {
        return Err(format!("Illegal character in name \"{name}\""));
    }
    Ok(())
}

/// `Character.isLetter(char)` as near as the standard library gets: alphabetic, in the
/// Basic Multilingual Plane, and not a letter number (`Ⅻ`), which Rust counts as
/// alphabetic and Java does not. (Rust's alphabetic also takes in some combining
/// marks, which Java does not count as letters.)
fn java_letter(c: char) -> bool {
    u32::from(c) <= 0xFFFF && c.is_alphabetic() && !c.is_numeric()
}

/// `Character.isDigit(char)`, as near: numeric and no letter, in the Basic Multilingual
/// Plane. (Rust's numeric also takes in `²` or `½`, which Java does not count as
/// digits.)
fn java_digit(c: char) -> bool {
    u32::from(c) <= 0xFFFF && c.is_numeric() && !c.is_alphabetic()
}

/// A record, enum or fixed.
#[derive(Debug, Clone)]
pub(crate) struct NamedType {
    pub(crate) id: u32,
    pub(crate) name: Name,
    pub(crate) doc: Option<String>,
    /// Resolved against the type's own namespace, de-duplicated, in source order.
    pub(crate) aliases: Vec<Name>,
    pub(crate) props: Props,
    pub(crate) kind: NamedKind,
}

impl NamedType {
    pub(crate) fn ty(&self) -> Type {
        match self.kind {
            NamedKind::Record { .. } => Type::Record,
            NamedKind::Enum { .. } => Type::Enum,
            NamedKind::Fixed { .. } => Type::Fixed,
        }
    }
}

/// A record's field positions by name (and alias). Looked up for every field of every
/// compared version, so hashed with foldhash (seeded per process), not SipHash, which
/// was a tenth of a check.
pub(crate) type FieldIndex = HashMap<String, usize, foldhash::fast::RandomState>;

#[derive(Debug, Clone)]
pub(crate) enum NamedKind {
    Record {
        error: bool,
        fields: Vec<Field>,
        /// Field name → position, for the checker's writer-field look-ups.
        index: FieldIndex,
        /// False while the record's own fields are being parsed (Java's "fields not
        /// set yet"): a default cannot be validated against it then.
        complete: bool,
    },
    Enum {
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        size: u32,
    },
}

/// The sort order of a field (`order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Ascending,
    Descending,
    Ignore,
}

impl Order {
    pub(crate) fn lower(self) -> &'static str {
        match self {
            Order::Ascending => "ascending",
            Order::Descending => "descending",
            Order::Ignore => "ignore",
        }
    }

    pub(crate) fn upper(self) -> &'static str {
        match self {
            Order::Ascending => "ASCENDING",
            Order::Descending => "DESCENDING",
            Order::Ignore => "IGNORE",
        }
    }
}

/// One record field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) schema: Schema,
    pub(crate) doc: Option<String>,
    /// The default as Java holds it: JSON, except that a textual default of a `float` or
    /// `double` field was turned into a number (or `"NaN"`/`"Infinity"`/`"-Infinity"`).
    pub(crate) default: Option<Value>,
    pub(crate) order: Order,
    /// Field aliases, verbatim (Java does not resolve them), de-duplicated.
    pub(crate) aliases: Vec<String>,
    pub(crate) props: Props,
}
