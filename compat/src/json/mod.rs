//! JSON Schema: parse and validate a schema, print its canonical and normalised text,
//! and decide whether one version can read data written with another, the way
//! Confluent's `json-schema-provider` does.
//!
//! # Shape
//!
//! * `loader` turns text into a `model::Model`: JSON syntax errors are reported
//!   with line and column; every keyword the schema's dialect (draft-04, -06, -07,
//!   2019-09, 2020-12, chosen by `$schema`, draft-07 by default as in Confluent) defines
//!   must hold the right JSON type, and errors name the JSON Pointer of the bad value,
//!   e.g. `#/properties/age/minimum`. The structural validator is written here rather
//!   than taken from the `jsonschema` crate: it also has to build the model, and one
//!   walk keeps the two in step. `$ref`s are resolved against local pointers, `$id`s and
//!   anchors, and the other subjects given as [`Reference`]s (a reference whose `name`
//!   equals the `$ref`, or the `$ref`'s part before `#`, is that document).
//! * The loader refuses only what Confluent's default registration path refuses (its
//!   loader throws: everit for draft-04 to -07, json-sKema for 2019-09 and 2020-12).
//!   What the JSON Schema specifications forbid but those loaders accept parses, with a
//!   [`crate::Warning`] (kinds in [`warning_kinds`]): negative limits, a `multipleOf` below
//!   0 (or 0 from 2019-09 on), empty `allOf`/`anyOf`/`oneOf`/`prefixItems`/`type`
//!   arrays, a type named twice, draft-04 boolean schemas, wrong-typed values of keywords
//!   the loaders never read (`$comment`, `contentMediaType`, ...), anything wrong inside
//!   a `definitions` entry no `$ref` reaches, regular expressions only Java can run,
//!   `$ref` cycles, and `http(s)` `$ref`s no reference supplies (Confluent fetches them;
//!   here they stay unresolved and equal only a `$ref` to the same URI).
//! * The model mirrors the schema classes Confluent's diff sees (its Java library,
//!   everit, splits `{"type":"string","enum":[..]}` into two parts joined by `allOf`,
//!   and a `type` array into an `anyOf`), because its verdicts depend on that shape.
//! * `diff` applies Confluent's `SchemaDiff` rules (confluent-compat.md §5.3) and
//!   `kinds` holds the difference names, the STRICT and LENIENT policies, and Confluent's
//!   message for each.
//!
//! # Confluent's messages
//!
//! A finding Confluent's diff also reports carries Confluent's verbose message
//! ([`Incompatibility::confluent`]): `{errorType:"KIND", description:"..."}`, the
//! description one of `Difference.error()`'s sentences with Confluent's own path
//! (`#/properties/a/b` with names unescaped, tuple items `#/items/N` and the items after
//! them `#/additionalItems` in every draft, `#/dependencies/N` for `dependentRequired`
//! and `dependentSchemas`), and its two `%s` filled as Confluent's checker fills them:
//! reader first. [`backward`] is not told which way a check runs and words every message
//! as BACKWARD does ("new" reads "old"); [`confluent_for_direction`] rewords one for
//! FORWARD ("old" reads "new"). Accord's own findings (see the deviations below) carry
//! none.
//!
//! # Paths
//!
//! Every [`Incompatibility`] path is a JSON Pointer into the **reader** schema (the new
//! schema for BACKWARD, the old one for FORWARD) written as a URI fragment, as Confluent
//! writes them: `#/` for the root, `#/properties/age`, `#/properties/a/maxLength`,
//! `#/items/0` (tuple items; `#/prefixItems/0` when the reader is 2020-12),
//! `#/additionalProperties`, `#/dependencies/a`, `#/properties/a/oneOf/1/...`. Two
//! exceptions follow Confluent: a `required` change is reported at
//! `#/required/<property name>`, and a property or tuple item the reader lacks is
//! reported where the reader would declare it. Property names are escaped as JSON
//! Pointer tokens (`~0`, `~1`; Confluent prints them raw).
//!
//! # Deviations from Confluent
//!
//! * Draft-04 boolean `exclusiveMinimum`/`exclusiveMaximum` are compared as the
//!   numeric bounds they make (Confluent ignores them); `exclusiveMaximum` is compared
//!   with the other `exclusiveMaximum` (Confluent compares it with `maximum`);
//!   `multipleOf` is compared exactly for fractions (Confluent truncates to integers).
//! * When both sides are the synthetic parts of one schema object and no pairing of
//!   parts is compatible, the parts are paired by class and their own differences are
//!   reported (e.g. `ENUM_ARRAY_NARROWED` at `#/properties/a/enum`) instead of
//!   Confluent's bare `COMBINED_TYPE_SUBSCHEMAS_CHANGED`; the verdict is the same, and
//!   these findings carry no Confluent message.
//! * Combined schemas otherwise follow Confluent's `CombinedSchemaDiff` exactly: a change
//!   of keyword is `COMBINED_TYPE_EXTENDED` (to `anyOf`; to `oneOf` from one subschema;
//!   to `allOf` between single subschemas) or else `COMBINED_TYPE_CHANGED`; sizes
//!   (equal subschemas once) give `PRODUCT_TYPE_*` under a reader `allOf` and
//!   `SUM_TYPE_*` under `anyOf`/`oneOf`; and a maximum matching of compatible pairs that
//!   misses a subschema of the smaller side gives `COMBINED_TYPE_SUBSCHEMAS_CHANGED`.
//!   Singleton tests count subschemas as written, repeats included, as Confluent does.
//! * `unevaluatedProperties`/`unevaluatedItems` of `true` or `{}` count as absent.
//! * Regular expressions use the `regex` crate: a pattern with Java-only syntax
//!   (look-around, back-references) is accepted but never matches a property name.
//! * As in Confluent, `contains`, `propertyNames`, `format` and `if`/`then`/`else`
//!   contents are not compared. Up to draft-07 the siblings of a `$ref` are ignored; from
//!   2019-09 on they apply next to it (a synthetic `allOf`).
//! * Limits that only pathological schemas reach: a comparison deeper than 200 nested
//!   schemas stops descending there (as at a `$ref` cycle), and an `allOf`/`anyOf`/
//!   `oneOf` pair with more than 50,000 subschema pairs is matched by position only.
//! * A property added to an open model whose schema is `{}`/`true` is
//!   `PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL` even when it is required
//!   (the 8.x source of this branch was not available; this order is assumed).

mod diff;
mod kinds;
mod loader;
mod model;
mod uri;

pub use kinds::JsonPolicy;
pub use loader::warn as warning_kinds;
pub use loader::Dialect;

use crate::{Budget, Direction, Incompatibility, Reference, SchemaError, TooComplex};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// A parsed and validated JSON Schema, with everything it references resolved.
/// Cloning is cheap (the parsed form is shared).
#[derive(Debug, Clone)]
pub struct JsonSchema {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    value: Value,
    canonical: String,
    dialect: Dialect,
    model: model::Model,
    /// What Accord's stricter checks found (see [`crate::Warning`]).
    warnings: Vec<crate::Warning>,
}

/// Parses `text` as a JSON Schema. `references` are the other subjects' schemas this
/// one refers to with `$ref` (the transitive closure), each under the name the `$ref`
/// uses.
pub fn parse(text: &str, references: &[Reference]) -> Result<JsonSchema, SchemaError> {
    let loaded = loader::load(text, references)?;
    let canonical = serde_json::to_string(&loaded.value)
        .map_err(|e| SchemaError::new(format!("Invalid JSON Schema: {e}")))?;
    Ok(JsonSchema {
        inner: Arc::new(Inner {
            value: loaded.value,
            canonical,
            dialect: loaded.dialect,
            model: loaded.model,
            warnings: loaded.warnings,
        }),
    })
}

impl JsonSchema {
    /// What Accord's stricter checks found (see [`crate::Warning`]).
    pub fn warnings(&self) -> &[crate::Warning] {
        &self.inner.warnings
    }

    /// The text the registry stores: compact JSON, keys in the order written (what
    /// Confluent's Jackson printer produces).
    pub fn canonical(&self) -> String {
        self.inner.canonical.clone()
    }

    /// The `normalize=true` text: compact JSON with the keys of every object sorted
    /// (by UTF-16 code units, as Java sorts strings).
    pub fn normalized(&self) -> String {
        sorted(&self.inner.value).to_string()
    }

    /// The draft the schema is written in.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The schema as JSON.
    pub fn value(&self) -> &Value {
        &self.inner.value
    }
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut entries: Vec<(&String, &Value)> = o.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            let mut out = Map::with_capacity(entries.len());
            for (k, x) in entries {
                out.insert(k.clone(), sorted(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Can a reader using `new` read data written with `old`? Confluent's STRICT policy.
/// Returns every incompatible difference (compatible ones are not listed).
/// Within [`Budget::default`]; a comparison that exceeds it reports the single
/// incompatibility `SCHEMA_TOO_COMPLEX`.
pub fn backward(old: &JsonSchema, new: &JsonSchema) -> Vec<Incompatibility> {
    backward_with_policy(old, new, JsonPolicy::Strict)
}

/// [`backward`] charging `budget`; `Err` when it runs out before the comparison ends.
pub fn backward_within(
    old: &JsonSchema,
    new: &JsonSchema,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    backward_with_policy_within(old, new, JsonPolicy::Strict, budget)
}

/// [`backward`] under a chosen policy (`compatibilityPolicy` STRICT or LENIENT).
pub fn backward_with_policy(
    old: &JsonSchema,
    new: &JsonSchema,
    policy: JsonPolicy,
) -> Vec<Incompatibility> {
    backward_with_policy_within(old, new, policy, &mut Budget::default())
        .unwrap_or_else(|e| vec![e.incompatibility()])
}

/// [`backward_with_policy`] charging `budget`; `Err` when it runs out first.
pub fn backward_with_policy_within(
    old: &JsonSchema,
    new: &JsonSchema,
    policy: JsonPolicy,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    let diffs = diff::incompatibilities(&old.inner.model, &new.inner.model, policy, budget)?;
    let mut seen = HashSet::with_capacity(diffs.len());
    let mut out = Vec::with_capacity(diffs.len());
    for d in diffs {
        let path = if d.path.is_empty() {
            "#/".to_string()
        } else {
            format!("#{}", d.path)
        };
        if seen.insert((d.kind, path.clone())) {
            let message = format!("{}: {}", location(&d.path), d.message);
            let mut found = Incompatibility::new(d.kind.as_str(), path, message);
            if d.confluent {
                let json_path = if d.cpath.is_empty() {
                    "#/".to_string()
                } else {
                    format!("#{}", d.cpath)
                };
                found = found.with_confluent(d.kind.confluent_message(
                    &json_path,
                    READER_BACKWARD,
                    WRITER_BACKWARD,
                ));
            }
            out.push(found);
        }
    }
    Ok(out)
}

/// How Confluent names the reader and the writer in a BACKWARD check's messages (the
/// new schema reads data written with the old one); FORWARD swaps them.
const READER_BACKWARD: &str = "new";
const WRITER_BACKWARD: &str = "old";

/// Confluent's message for a finding in `direction`. [`backward`] writes every
/// Confluent message as a BACKWARD check words it (`new` reads `old`), because it is
/// not told which way the check runs; a FORWARD check (`backward(new, old)`) needs the
/// two names swapped, which this does. Any other text comes back unchanged.
pub fn confluent_for_direction(message: &str, direction: Direction) -> String {
    if direction == Direction::Backward {
        return message.to_string();
    }
    let kind = message
        .strip_prefix("{errorType:\"")
        .and_then(|rest| rest.split_once('"'))
        .and_then(|(name, _)| kinds::Kind::from_name(name));
    let Some(kind) = kind else {
        return message.to_string();
    };
    let (before, after) = kind.confluent_frame(READER_BACKWARD, WRITER_BACKWARD);
    match message
        .strip_prefix(before.as_str())
        .and_then(|rest| rest.strip_suffix(after.as_str()))
    {
        Some(path) => kind.confluent_message(path, WRITER_BACKWARD, READER_BACKWARD),
        None => message.to_string(),
    }
}

/// A readable name for the place a path points at, e.g. `field 'addr.zip'`,
/// `field 'tags[]'`, `the root schema`.
fn location(path: &str) -> String {
    let tokens: Vec<String> = path.split('/').skip(1).map(uri::unescape_token).collect();
    let mut name = String::new();
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        let next = tokens.get(i + 1);
        match (t.as_str(), next) {
            (
                "properties" | "required" | "dependencies" | "dependentRequired"
                | "dependentSchemas",
                Some(n),
            ) => {
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(n);
                i += 2;
            }
            ("items" | "prefixItems", Some(n)) if n.parse::<usize>().is_ok() => {
                name.push_str(&format!("[{n}]"));
                i += 2;
            }
            ("items", _) => {
                name.push_str("[]");
                i += 1;
            }
            ("allOf" | "anyOf" | "oneOf", Some(_)) => i += 2,
            _ => i += 1,
        }
    }
    if name.is_empty() {
        "the root schema".to_string()
    } else {
        format!("field '{name}'")
    }
}

#[cfg(test)]
mod tests;
