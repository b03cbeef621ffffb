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
//!
//! A check's work grows with how many pairs of types it compares, which a small but
//! contrived schema can make large; every check therefore charges a [`Budget`] (steps,
//! and optionally a deadline) and stops with [`TooComplex`] when it runs out
//! ([`check_within`], [`backward_within`]), so a caller can bound the work of one
//! request. [`check`] and [`backward`] use [`Budget::default`].
#![forbid(unsafe_code)]

pub mod avro;
pub mod json;
pub mod protobuf;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

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

/// A finding of one of Accord's checks that are stricter than Confluent's defaults (an
/// Avro default that does not match its type, say). A schema Confluent registers parses
/// here too; these findings ride along so that the lint and compatibility paths can
/// report them, and a registry configured to enforce them can refuse the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// A stable machine-readable name, e.g. `DEFAULT_TYPE_MISMATCH`.
    pub kind: String,
    /// Where in the schema, in the same notation as [`Incompatibility::path`].
    pub path: String,
    /// One line for a person, saying what and where.
    pub message: String,
}

impl Warning {
    pub fn new(
        kind: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Warning {
            kind: kind.into(),
            path: path.into(),
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

    /// What Accord's stricter checks found in this schema (see [`Warning`]); empty for a
    /// schema they have nothing to say about.
    pub fn warnings(&self) -> &[Warning] {
        match self {
            ParsedSchema::Avro(s) => s.warnings(),
            ParsedSchema::Protobuf(s) => s.warnings(),
            ParsedSchema::Json(s) => s.warnings(),
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
    /// The string Confluent's registry puts in its verbose `messages` for this finding,
    /// byte for byte (Avro: `{errorType:'..', description:'..', additionalInfo:'..'}`;
    /// Protobuf and JSON Schema: their `Difference` strings). Set by the format's check
    /// where Confluent reports the finding; `None` where only Accord does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confluent: Option<String>,
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
            confluent: None,
        }
    }

    /// The same finding with Confluent's message string for it.
    pub fn with_confluent(mut self, message: impl Into<String>) -> Self {
        self.confluent = Some(message.into());
        self
    }

    /// What Confluent's verbose `messages` would hold for this finding: its own string
    /// where the format's check set one, else Accord's (see [`fmt::Display`]).
    pub fn confluent_message(&self) -> String {
        match &self.confluent {
            Some(m) => m.clone(),
            None => self.to_string(),
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

    /// One message per incompatibility in Accord's own form (kind, path, version,
    /// direction and a description; see [`Incompatibility`]'s `Display`).
    pub fn messages(&self) -> Vec<String> {
        self.incompatibilities
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// One message per incompatibility as Confluent writes it in `messages`
    /// ([`Incompatibility::confluent_message`]), without Confluent's trailers.
    pub fn confluent_messages(&self) -> Vec<String> {
        self.incompatibilities
            .iter()
            .map(Incompatibility::confluent_message)
            .collect()
    }
}

/// How much work a check may do: a number of steps (one step is roughly one
/// comparison of two schema nodes, or one incompatibility listed) and optionally a
/// deadline. One budget is meant to be shared by everything one request checks.
#[derive(Debug, Clone)]
pub struct Budget {
    max_steps: u64,
    left: u64,
    time: Option<(Instant, Duration)>,
    /// Steps until the clock is read again.
    until_clock: u32,
}

/// How many steps between two readings of the clock.
const CLOCK_EVERY: u32 = 4096;

impl Budget {
    /// The steps of [`Budget::default`]: far more than any realistic schema needs
    /// (checking a 1,000-field record against 100 versions takes well under a
    /// million), and a few seconds of work at most.
    pub const DEFAULT_STEPS: u64 = 20_000_000;

    /// At most `max_steps` steps, and when `time` is given, no later than `time` from now.
    pub fn new(max_steps: u64, time: Option<Duration>) -> Budget {
        Budget {
            max_steps,
            left: max_steps,
            time: time.map(|t| (Instant::now() + t, t)),
            until_clock: CLOCK_EVERY,
        }
    }

    /// Charges `n` steps: `Err` once the steps are spent or the deadline has passed
    /// (the clock is read every few thousand steps).
    pub fn spend(&mut self, n: u64) -> Result<(), TooComplex> {
        if n > self.left {
            self.left = 0;
            return Err(TooComplex::Steps(self.max_steps));
        }
        self.left -= n;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if n >= self.until_clock {
            self.until_clock = CLOCK_EVERY;
            if let Some((deadline, allowed)) = self.time {
                if Instant::now() >= deadline {
                    self.left = 0;
                    return Err(TooComplex::Time(allowed));
                }
            }
        } else {
            self.until_clock -= n;
        }
        Ok(())
    }

    /// The steps spent so far.
    pub fn spent(&self) -> u64 {
        self.max_steps - self.left
    }
}

impl Default for Budget {
    /// [`Budget::DEFAULT_STEPS`] steps, no deadline.
    fn default() -> Self {
        Budget::new(Budget::DEFAULT_STEPS, None)
    }
}

/// A check stopped because its [`Budget`] ran out: which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    #[error("the compatibility check needed more than {0} steps")]
    Steps(u64),
    #[error("the compatibility check took longer than {0:?}")]
    Time(Duration),
}

impl TooComplex {
    /// The single incompatibility [`check`] and [`backward`] report in its place: a
    /// check that could not finish does not pass.
    pub fn incompatibility(&self) -> Incompatibility {
        Incompatibility::new(
            "SCHEMA_TOO_COMPLEX",
            "",
            format!("The schemas are too complex to compare: {self}"),
        )
    }
}

/// The backward check of one pair: can a reader with `new` read data written with `old`?
/// Within [`Budget::default`]; one that exceeds it reports the single incompatibility
/// `SCHEMA_TOO_COMPLEX`.
pub fn backward(old: &ParsedSchema, new: &ParsedSchema) -> Vec<Incompatibility> {
    backward_within(old, new, &mut Budget::default()).unwrap_or_else(|e| vec![e.incompatibility()])
}

/// [`backward`] charging `budget`; `Err` when it runs out before the check ends.
pub fn backward_within(
    old: &ParsedSchema,
    new: &ParsedSchema,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    Ok(match (old, new) {
        (ParsedSchema::Avro(o), ParsedSchema::Avro(n)) => avro::backward_within(o, n, budget)?,
        (ParsedSchema::Protobuf(o), ParsedSchema::Protobuf(n)) => {
            protobuf::backward_within(o, n, budget)?
        }
        (ParsedSchema::Json(o), ParsedSchema::Json(n)) => json::backward_within(o, n, budget)?,
        _ => vec![Incompatibility::new(
            "SCHEMA_TYPE_CHANGED",
            "",
            format!(
                "Incompatible because of different schema type: {} and {}",
                old.format(),
                new.format()
            ),
        )
        // Confluent's AbstractSchemaRegistry answers a change of type with this one line.
        .with_confluent("Incompatible because of different schema type")],
    })
}

/// A finding of a forward check (found as a backward check with the two schemas
/// swapped) with Confluent's message worded for that direction: Confluent fills its
/// messages' reader and writer slots with "old" and "new" for a forward check.
fn forward_wording(new: &ParsedSchema, mut i: Incompatibility) -> Incompatibility {
    if let Some(m) = &i.confluent {
        i.confluent = Some(match new {
            ParsedSchema::Avro(_) => avro::confluent_forward(m),
            ParsedSchema::Protobuf(_) => protobuf::confluent_for_direction(m, Direction::Forward),
            ParsedSchema::Json(_) => json::confluent_for_direction(m, Direction::Forward),
        });
    }
    i
}

/// Checks `new` against the existing versions of a subject (non-deleted, in ascending
/// version order) at `level`, as Confluent does: non-transitive levels compare with the
/// latest version only; transitive levels with every version, newest first.
/// `BACKWARD_TRANSITIVE` stops at the first failing version (as Confluent does); the
/// others report every failing version. Every incompatibility of a compared pair is
/// reported, not only the first. Within [`Budget::default`]: a check that exceeds it
/// reports the single incompatibility `SCHEMA_TOO_COMPLEX`.
pub fn check(level: CompatibilityLevel, new: &ParsedSchema, existing: &[Existing<'_>]) -> Report {
    check_within(level, new, existing, &mut Budget::default()).unwrap_or_else(|e| Report {
        incompatibilities: vec![e.incompatibility()],
    })
}

/// [`check`] charging `budget` for all the pairs it compares; `Err` when it runs out
/// before the check ends.
pub fn check_within(
    level: CompatibilityLevel,
    new: &ParsedSchema,
    existing: &[Existing<'_>],
    budget: &mut Budget,
) -> Result<Report, TooComplex> {
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
                Direction::Backward => backward_within(old.schema, new, budget)?,
                Direction::Forward => backward_within(new, old.schema, budget)?
                    .into_iter()
                    .map(|i| forward_wording(new, i))
                    .collect(),
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
    Ok(report)
}
