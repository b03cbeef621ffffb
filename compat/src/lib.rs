//! `accord-compat`: parse, normalise and compare schemas of the three formats a
//! Confluent-compatible registry stores (Avro, Protobuf and JSON Schema).
//!
//! The crate is pure: no I/O, no async, no knowledge of subjects or HTTP. The caller
//! resolves a schema's references (the transitive closure, dependencies first) and
//! hands their texts in; this crate turns text into a typed model, prints the
//! canonical text the registry stores, and decides compatibility.
//!
//! Every format defines one *backward* check `B(old, new)`: "a reader using `new` can
//! read data written with `old`". Forward is `B(new, old)` and FULL is both, exactly as
//! in Confluent's Schema Registry; [`check`] chooses which existing versions are
//! compared for each [`CompatibilityLevel`].
#![forbid(unsafe_code)]

pub mod avro;
pub mod json;
pub mod protobuf;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The three schema formats, spelled as Confluent spells them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchemaFormat {
    #[serde(rename = "AVRO")]
    Avro,
    #[serde(rename = "PROTOBUF")]
    Protobuf,
    #[serde(rename = "JSON")]
    Json,
}

impl SchemaFormat {
    pub const ALL: [SchemaFormat; 3] = [
        SchemaFormat::Json,
        SchemaFormat::Protobuf,
        SchemaFormat::Avro,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SchemaFormat::Avro => "AVRO",
            SchemaFormat::Protobuf => "PROTOBUF",
            SchemaFormat::Json => "JSON",
        }
    }
}

impl fmt::Display for SchemaFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SchemaFormat {
    type Err = SchemaError;
    /// Case-sensitive, as Confluent matches `schemaType`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AVRO" => Ok(SchemaFormat::Avro),
            "PROTOBUF" => Ok(SchemaFormat::Protobuf),
            "JSON" => Ok(SchemaFormat::Json),
            other => Err(SchemaError::new(format!("Invalid schema type {other}"))),
        }
    }
}

/// A resolved schema reference: the `name` the referencing schema uses for it (Avro: the
/// full name of a named type; Protobuf: the import path; JSON Schema: the exact `$ref`
/// value) and the referenced schema's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub schema: String,
}

impl Reference {
    pub fn new(name: impl Into<String>, schema: impl Into<String>) -> Self {
        Reference {
            name: name.into(),
            schema: schema.into(),
        }
    }
}

/// Why a schema text is not a valid schema. The message says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SchemaError {
    pub message: String,
}

impl SchemaError {
    pub fn new(message: impl Into<String>) -> Self {
        SchemaError {
            message: message.into(),
        }
    }
}

/// A parsed schema of any format.
#[derive(Debug, Clone)]
pub enum ParsedSchema {
    Avro(avro::AvroSchema),
    Protobuf(protobuf::ProtobufSchema),
    Json(json::JsonSchema),
}

/// Parses `text` as a schema of `format`. `references` is the transitive closure of the
/// schema's references, dependencies before the schemas that use them.
pub fn parse(
    format: SchemaFormat,
    text: &str,
    references: &[Reference],
) -> Result<ParsedSchema, SchemaError> {
    if text.trim().is_empty() {
        return Err(SchemaError::new("Empty schema"));
    }
    Ok(match format {
        SchemaFormat::Avro => ParsedSchema::Avro(avro::parse(text, references)?),
        SchemaFormat::Protobuf => ParsedSchema::Protobuf(protobuf::parse(text, references)?),
        SchemaFormat::Json => ParsedSchema::Json(json::parse(text, references)?),
    })
}

impl ParsedSchema {
    pub fn format(&self) -> SchemaFormat {
        match self {
            ParsedSchema::Avro(_) => SchemaFormat::Avro,
            ParsedSchema::Protobuf(_) => SchemaFormat::Protobuf,
            ParsedSchema::Json(_) => SchemaFormat::Json,
        }
    }

    /// The canonical text the registry stores and returns (Confluent's printer output:
    /// compact JSON for Avro and JSON Schema, `.proto` text for Protobuf).
    pub fn canonical(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Protobuf(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
        }
    }

    /// The normalised text (`normalize=true`): more inputs converge on one text.
    pub fn normalized(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.normalized(),
            ParsedSchema::Protobuf(s) => s.normalized(),
            ParsedSchema::Json(s) => s.normalized(),
        }
    }
}

/// Confluent's compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    fn directions(self) -> &'static [Direction] {
        match self {
            CompatibilityLevel::None => &[],
            CompatibilityLevel::Backward | CompatibilityLevel::BackwardTransitive => {
                &[Direction::Backward]
            }
            CompatibilityLevel::Forward | CompatibilityLevel::ForwardTransitive => {
                &[Direction::Forward]
            }
            CompatibilityLevel::Full | CompatibilityLevel::FullTransitive => {
                &[Direction::Backward, Direction::Forward]
            }
        }
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CompatibilityLevel {
    type Err = SchemaError;
    /// Case-insensitive, as Confluent accepts level names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "NONE" => CompatibilityLevel::None,
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            _ => return Err(SchemaError::new(format!("Invalid compatibility level {s}"))),
        })
    }
}

/// Which way data flows in a failed check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The new schema reads data written with the existing one.
    Backward,
    /// The existing schema reads data written with the new one.
    Forward,
}

/// One reason two schemas are incompatible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incompatibility {
    /// A stable machine-readable name, e.g. `READER_FIELD_MISSING_DEFAULT_VALUE`,
    /// `FIELD_SCALAR_KIND_CHANGED`, `TYPE_NARROWED` (Confluent's names where it has one).
    pub kind: String,
    /// Where in the schema: Avro `/fields/3/type`, Protobuf `Order.items.price`, JSON
    /// Schema `#/properties/age`. Points into the reader schema of the failed check.
    pub path: String,
    /// The existing version this conflicts with (set by [`check`]).
    pub version: Option<i32>,
    pub direction: Direction,
    /// One line for a person.
    pub message: String,
}

impl Incompatibility {
    /// An incompatibility found by a format's backward check; [`check`] fills in the
    /// version and flips the direction for forward checks.
    pub fn new(
        kind: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Incompatibility {
            kind: kind.into(),
            path: path.into(),
            version: None,
            direction: Direction::Backward,
            message: message.into(),
        }
    }
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{errorType:'{}', path:'{}'", self.kind, self.path)?;
        if let Some(v) = self.version {
            write!(f, ", version:{v}")?;
        }
        let dir = match self.direction {
            Direction::Backward => "new schema reading data written with the old",
            Direction::Forward => "old schema reading data written with the new",
        };
        write!(f, ", direction:'{dir}', description:'{}'}}", self.message)
    }
}

/// An existing version to compare against.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    pub version: i32,
    pub schema: &'a ParsedSchema,
}

/// The outcome of [`check`]: compatible iff `incompatibilities` is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub incompatibilities: Vec<Incompatibility>,
}

impl Report {
    pub fn is_compatible(&self) -> bool {
        self.incompatibilities.is_empty()
    }

    /// One message per incompatibility, for Confluent's `verbose=true` `messages`.
    pub fn messages(&self) -> Vec<String> {
        self.incompatibilities
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// The backward check of one pair: can a reader with `new` read data written with `old`?
pub fn backward(old: &ParsedSchema, new: &ParsedSchema) -> Vec<Incompatibility> {
    match (old, new) {
        (ParsedSchema::Avro(o), ParsedSchema::Avro(n)) => avro::backward(o, n),
        (ParsedSchema::Protobuf(o), ParsedSchema::Protobuf(n)) => protobuf::backward(o, n),
        (ParsedSchema::Json(o), ParsedSchema::Json(n)) => json::backward(o, n),
        _ => vec![Incompatibility::new(
            "SCHEMA_TYPE_CHANGED",
            "",
            format!(
                "Incompatible because of different schema type: {} and {}",
                old.format(),
                new.format()
            ),
        )],
    }
}

/// Checks `new` against the existing versions of a subject (non-deleted, in ascending
/// version order) at `level`, as Confluent does: non-transitive levels compare with the
/// latest version only; transitive levels with every version, newest first.
/// `BACKWARD_TRANSITIVE` stops at the first failing version (as Confluent does); the
/// others report every failing version. Every incompatibility of a compared pair is
/// reported, not only the first.
pub fn check(level: CompatibilityLevel, new: &ParsedSchema, existing: &[Existing<'_>]) -> Report {
    let mut report = Report::default();
    let compared: Vec<&Existing<'_>> = if level.transitive() {
        existing.iter().rev().collect()
    } else {
        existing.last().into_iter().collect()
    };
    for old in compared {
        let before = report.incompatibilities.len();
        for &direction in level.directions() {
            let found = match direction {
                Direction::Backward => backward(old.schema, new),
                Direction::Forward => backward(new, old.schema),
            };
            report
                .incompatibilities
                .extend(found.into_iter().map(|mut i| {
                    i.version = Some(old.version);
                    i.direction = direction;
                    i
                }));
        }
        if level == CompatibilityLevel::BackwardTransitive
            && report.incompatibilities.len() > before
        {
            break;
        }
    }
    report
}
