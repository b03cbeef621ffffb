//! Avro: parse a schema into a typed model, print the text Confluent stores, normalise
//! it, and decide whether a reader schema can read a writer schema's data.
//!
//! # Why it is shaped like this
//!
//! Confluent's Schema Registry delegates all of this to Avro Java (`Schema.Parser`,
//! `Schema.toString()`, `SchemaCompatibility.checkReaderWriterCompatibility`), and
//! clients see its exact output: the stored text, the verdicts and the locations in
//! the error messages. So every part of this module is a transcription of the Java
//! behaviour (Avro 1.11, as shipped with Confluent 7.x/8.x), not a fresh reading of the
//! specification, and Java's quirks are reproduced on purpose where they change what a
//! client sees; each is documented where it is implemented.
//!
//! * [`parse`] builds the model ([`model`]): named types in one arena, referred to by
//!   index, so recursive types are plain indices and "the same type" is "the same
//!   index" (Java's object identity). References are parsed first, in the order given,
//!   into the same name table, as Confluent's `AvroSchema` does.
//! * [`AvroSchema::canonical`] is Java's `Schema.toString()` with the referenced types
//!   pre-registered, so they are written by name; [`AvroSchema::resolved`] inlines them
//!   (`format=resolved`).
//! * [`AvroSchema::normalized`] is Confluent's `normalize()` followed by
//!   `canonicalString()`: its fixed-order writer, then a re-parse and Java's printer.
//! * [`backward`] is the checker ([`check`]).
//!
//! # Paths in incompatibilities
//!
//! The `path` of each incompatibility is the JSON-pointer-like location Java reports,
//! into the **reader** schema: `/` is the root; `fields/N` is the N-th field of a record
//! (0-based, in the reader); `type` is a field's type; `items`, `values` are the element
//! types of an array and a map; `name`, `size`, `symbols` point at the attribute of a
//! named type that differs; a number after a union points at a branch of the *writer*
//! union that the reader cannot read. For example `/fields/3/type`,
//! `/fields/0/type/symbols`, `/fields/1/type/1`, `/fields/2/type/items/name`.
//!
//! Two Java quirks shape these paths (see [`check`]): a check that descends into a union
//! starts again from `/`, so a problem found inside a union branch is reported relative
//! to the root (e.g. narrowing `["null","string"]` to `"string"` reports `TYPE_MISMATCH`
//! at `/`); and a named-type pair checked twice reports the location of its first check.
//!
//! # Confluent's messages, and warnings
//!
//! * Every incompatibility Confluent also lists carries Confluent's verbose message,
//!   byte for byte ([`Incompatibility::confluent`](crate::Incompatibility)), e.g.
//!   `{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a
//!   field in the new schema does not match with the old schema',
//!   additionalInfo:'reader type: INT not compatible with writer type: STRING'}`. The
//!   checker writes the BACKWARD sense (the reader is "new"); for a FORWARD check
//!   Confluent swaps the roles, which [`confluent_forward`] does to such a message.
//!   How the messages are built, and from what, is in `confluent`.
//! * Like Confluent with its default settings, a field default that does not match its
//!   type is accepted and stored as written; the check Avro makes when default
//!   validation is on (Confluent's `avro.validate.defaults=true`, or `normalize=true`
//!   on a registration) is reported as a warning instead ([`AvroSchema::warnings`],
//!   see `parser`), so a registry can enforce it where Confluent would.
//!
//! # Deviations from Confluent (deliberate)
//!
//! * All named types defined by the references (not only each reference's top-level
//!   type) are written by name in the canonical and normalised texts; Confluent would
//!   inline a nested one, producing a text it cannot parse again.
//! * Nesting deeper than serde_json's 128 levels is rejected; pathologically long chains
//!   of named types stop the checker with the single incompatibility `SCHEMA_TOO_DEEP`,
//!   and `resolved()` writes types nested past 1,024 levels by name, instead of
//!   overflowing the stack.
//! * A check that exceeds its [`Budget`] stops with [`TooComplex`] (or, through
//!   [`backward`], the single incompatibility `SCHEMA_TOO_COMPLEX`) where Java would
//!   keep going for as long as it takes.
//! * Where Java throws during a check (a reader field matching several writer fields
//!   through its aliases) Confluent reports only the exception; so do we, as the single
//!   incompatibility `READER_FIELD_MATCHES_MULTIPLE_WRITER_FIELDS`.

mod check;
#[cfg(test)]
mod check_diff_tests;
#[cfg(test)]
mod check_oracle;
mod confluent;
mod json;
mod model;
mod parser;
mod print;
mod tags;
pub use confluent::confluent_forward;
pub use tags::{edit_tags, TagEdit};
#[cfg(test)]
mod tests;

use crate::{Budget, Incompatibility, Reference, SchemaError, TooComplex};
use model::{NamedKind, NamedType, Schema};
use parser::{parse_json, Parser};
use print::{JavaPrinter, NormPrinter};

/// A parsed Avro schema together with the named types of its references.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    /// Every named type: the references' first, then the main schema's.
    types: Vec<NamedType>,
    /// How many of `types` come from the references.
    ref_types: usize,
    root: Schema,
    /// What Accord's stricter checks found (see [`crate::Warning`]).
    warnings: Vec<crate::Warning>,
}

/// Parses `text` with its `references` (the transitive closure, dependencies first).
///
/// Each reference is parsed in order into the same name table, so later references and
/// the main schema can use the names the earlier ones define; a reference's `name` is
/// not needed for that (as in Confluent) and is only used in error messages.
pub fn parse(text: &str, references: &[Reference]) -> Result<AvroSchema, SchemaError> {
    let mut parser = Parser::new();
    for r in references {
        let label = format!("in reference \"{}\": ", r.name);
        let v =
            parse_json(&r.schema).map_err(|e| SchemaError::new(format!("{label}{}", e.message)))?;
        parser.document(&v, label)?;
    }
    let ref_types = parser.types.len();
    // A reference's warnings belong to the reference (registered on its own).
    parser.warnings.clear();
    let v = parse_json(text)?;
    let root = parser.document(&v, String::new())?;
    Ok(AvroSchema {
        types: parser.types,
        ref_types,
        root,
        warnings: parser.warnings,
    })
}

impl AvroSchema {
    /// What Accord's stricter checks found (see [`crate::Warning`]): the checks Avro
    /// makes only when Confluent is set to validate defaults, whose findings are
    /// `DEFAULT_TYPE_MISMATCH` and `RECURSIVE_DEFAULT`, at the field's path (e.g.
    /// `/fields/2`). Only the main schema's, not its references'.
    pub fn warnings(&self) -> &[crate::Warning] {
        &self.warnings
    }

    /// The text the registry stores and returns: Java's `Schema.toString()`, compact,
    /// with referenced types written by name.
    pub fn canonical(&self) -> String {
        JavaPrinter::new(&self.types, self.ref_types).print(&self.root)
    }

    /// The schema with its referenced types inlined at their first use (Confluent's
    /// `format=resolved`).
    pub fn resolved(&self) -> String {
        JavaPrinter::new(&self.types, 0).print(&self.root)
    }

    /// The `normalize=true` text: Confluent's normalising writer (full names, fixed
    /// attribute order, sorted aliases and properties, defaults converted through their
    /// types), re-parsed and printed like [`canonical`](Self::canonical), which is what
    /// Confluent stores for a normalised registration.
    pub fn normalized(&self) -> String {
        let built = NormPrinter::new(&self.types, self.ref_types).print(&self.root);
        let reparsed = parse_json(&built).and_then(|v| {
            let refs: Vec<NamedType> = self.types.get(..self.ref_types).unwrap_or(&[]).to_vec();
            let mut parser = Parser::with_types(refs);
            let root = parser.document(&v, String::new())?;
            Ok(AvroSchema {
                types: parser.types,
                ref_types: self.ref_types,
                root,
                warnings: Vec::new(),
            })
        });
        match reparsed {
            Ok(s) => s.canonical(),
            // Confluent would fail the registration here; the canonical text is the
            // closest thing that still parses.
            Err(_) => self.canonical(),
        }
    }

    /// The full name of the top-level type when it is a record, which is what
    /// Confluent's `AvroSchema.name()` (used by the record-name subject strategies)
    /// returns; `None` for any other top-level type.
    pub fn full_name(&self) -> Option<String> {
        match &self.root {
            Schema::Named(i) => self.types.get(*i).and_then(|t| match t.kind {
                NamedKind::Record { .. } => Some(t.name.full.clone()),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// Can a reader using `new` read data written with `old`? Java's
/// `checkReaderWriterCompatibility(reader = new, writer = old)`, reporting every
/// incompatibility with its location in `new`. Within the default [`Budget`]; a check
/// that exceeds it reports the single incompatibility `SCHEMA_TOO_COMPLEX`.
pub fn backward(old: &AvroSchema, new: &AvroSchema) -> Vec<Incompatibility> {
    backward_within(old, new, &mut Budget::default()).unwrap_or_else(|e| vec![e.incompatibility()])
}

/// [`backward`] charging `budget`; `Err` when it runs out before the check ends.
pub fn backward_within(
    old: &AvroSchema,
    new: &AvroSchema,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    check::backward(old, new, budget)
}
