//! Confluent's verbose compatibility messages for Avro, byte for byte.
//!
//! # How Confluent builds them
//!
//! * Avro's checker (`SchemaCompatibility.checkReaderWriterCompatibility(reader,
//!   writer)`) collects *every* incompatibility of the pair (it merges the results of
//!   all fields and branches, it does not stop at the first), each with a type, a
//!   location (the JSON-pointer-like path Accord reports as `path`) and a short message.
//!   That message is, per type:
//!   - `NAME_MISMATCH`: `expected: <writer full name>`;
//!   - `FIXED_SIZE_MISMATCH`: `expected: <writer size>, found: <reader size>`;
//!   - `MISSING_ENUM_SYMBOLS`: the missing writer symbols as a Java `TreeSet` prints
//!     them, sorted by `String.compareTo`: `[A, B]`;
//!   - `READER_FIELD_MISSING_DEFAULT_VALUE`: the reader field's name;
//!   - `TYPE_MISMATCH`: `reader type: <R> not compatible with writer type: <W>`, with
//!     `Schema.Type` names (`INT`, `RECORD`, ... never a type's own name);
//!   - `MISSING_UNION_BRANCH`: `reader union lacking writer type: <W>`, likewise.
//! * Confluent's `AvroSchema.isBackwardCompatible` wraps each in its `Difference` class:
//!   `{errorType:'<TYPE>', description:'<text>', additionalInfo:'<Avro's message>'}`,
//!   where the description is a template per type holding the location and two `%s`
//!   (the reader's and the writer's role), and `%s` is left out for `NAME_MISMATCH`.
//!   Where Avro throws during the check (a reader field matching several writer
//!   fields), Confluent lists only `Unexpected exception during compatibility check: `
//!   followed by the exception's message.
//! * Confluent's validator (`SchemaValidatorBuilder.formatErrorMessages`) then runs
//!   `String.format(message, reader, writer)` on every message: BACKWARD asks
//!   `new.isBackwardCompatible(old)` (Avro reader = the new schema) with
//!   `("new", "old")`; FORWARD asks `old.isBackwardCompatible(new)` (reader = the old
//!   schema) with `("old", "new")`; FULL does both. The checker here always runs in
//!   the backward sense (its `new` argument is the reader), so it writes
//!   `("new", "old")`; [`confluent_forward`] turns such a message into the one
//!   Confluent lists when the same pair is checked for FORWARD.
//!
//! Because of that `String.format`, a `%` in the text (possible only in a namespace,
//! which Avro does not validate, or in the JSON of the exception message) would be
//! read as a format specifier by Confluent, which then prints something else or fails
//! the request; no Confluent message is given for such a finding.
//!
//! Sources: `client/src/main/java/io/confluent/kafka/schemaregistry/avro/Difference.java`,
//! `.../avro/AvroSchema.java` (`isBackwardCompatible`) and
//! `.../schemaregistry/SchemaValidatorBuilder.java` in `confluentinc/schema-registry`;
//! `lang/java/avro/src/main/java/org/apache/avro/SchemaCompatibility.java` in
//! `apache/avro`.

/// The role words the backward sense formats with (reader first).
const READER: &str = "new";
const WRITER: &str = "old";

/// Confluent's description of an incompatibility type, as its `String.format` leaves it
/// for the backward sense (the reader's role first, then the writer's).
fn description(kind: &str, path: &str, info: &str) -> Option<String> {
    Some(match kind {
        "FIXED_SIZE_MISMATCH" => format!(
            "The size of FIXED type field at path '{path}' in the {READER} schema does not match with the {WRITER} schema"
        ),
        "TYPE_MISMATCH" => format!(
            "The type (path '{path}') of a field in the {READER} schema does not match with the {WRITER} schema"
        ),
        "NAME_MISMATCH" => format!("The name of the schema has changed (path '{path}')"),
        "MISSING_ENUM_SYMBOLS" => format!(
            "The {READER} schema is missing enum symbols '{info}' at path '{path}' in the {WRITER} schema"
        ),
        "MISSING_UNION_BRANCH" => format!(
            "The {READER} schema is missing a type inside a union field at path '{path}' in the {WRITER} schema"
        ),
        "READER_FIELD_MISSING_DEFAULT_VALUE" => format!(
            "The field '{info}' at path '{path}' in the {READER} schema has no default value and is missing in the {WRITER} schema"
        ),
        _ => return None,
    })
}

/// Confluent's message for an incompatibility Avro's checker reports: `kind` is Avro's
/// `SchemaIncompatibilityType`, `path` its location, `info` its message. `None` for a
/// kind Avro does not have, or where Confluent's `String.format` would misread a `%`.
pub(crate) fn message(kind: &str, path: &str, info: &str) -> Option<String> {
    if path.contains('%') || info.contains('%') {
        return None;
    }
    let description = description(kind, path, info)?;
    Some(format!(
        "{{errorType:'{kind}', description:'{description}', additionalInfo:'{info}'}}"
    ))
}

/// Confluent's message where Avro's checker throws: the exception's message behind a
/// fixed prefix (`AvroSchema.isBackwardCompatible`'s catch-all).
pub(crate) fn exception(text: &str) -> Option<String> {
    if text.contains('%') {
        return None;
    }
    Some(format!(
        "Unexpected exception during compatibility check: {text}"
    ))
}

/// The fixed parts of a message that name the roles, for `kind`, written with `reader`
/// and `writer` in their places. Each holds a quote, which the variable parts of a
/// message that come before or between them (paths, field names, enum symbols) never
/// do, so each marks its place exactly.
fn role_phrases(kind: &str, reader: &str, writer: &str) -> Vec<String> {
    let end = format!("' in the {writer} schema', additionalInfo:'");
    match kind {
        "TYPE_MISMATCH" => vec![format!(
            ") of a field in the {reader} schema does not match with the {writer} schema', additionalInfo:'"
        )],
        "FIXED_SIZE_MISMATCH" => vec![format!(
            "' in the {reader} schema does not match with the {writer} schema', additionalInfo:'"
        )],
        "READER_FIELD_MISSING_DEFAULT_VALUE" => vec![format!(
            "' in the {reader} schema has no default value and is missing in the {writer} schema', additionalInfo:'"
        )],
        "MISSING_ENUM_SYMBOLS" => vec![
            format!("', description:'The {reader} schema is missing enum symbols '"),
            end,
        ],
        "MISSING_UNION_BRANCH" => vec![
            format!("', description:'The {reader} schema is missing a type inside a union field at path '"),
            end,
        ],
        _ => Vec::new(),
    }
}

/// Confluent's message for a finding of the checker (which writes the BACKWARD sense:
/// reader = "new", writer = "old") when the pair is checked for FORWARD, where the
/// reader is the existing schema: Confluent formats the same template with
/// `("old", "new")`. Messages without roles (`NAME_MISMATCH`, exceptions) and texts
/// that are not such messages are returned unchanged.
pub fn confluent_forward(message: &str) -> String {
    let kind = message
        .strip_prefix("{errorType:'")
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or("");
    let mut out = message.to_string();
    let backward = role_phrases(kind, READER, WRITER);
    let forward = role_phrases(kind, WRITER, READER);
    for (b, f) in backward.iter().zip(&forward) {
        if let Some(at) = out.find(b.as_str()) {
            out.replace_range(at..at + b.len(), f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_swaps_its_roles_for_forward() {
        let cases = [
            (
                "TYPE_MISMATCH",
                "/fields/0/type",
                "reader type: INT not compatible with writer type: STRING",
                "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old schema does not match with the new schema', additionalInfo:'reader type: INT not compatible with writer type: STRING'}",
            ),
            (
                "FIXED_SIZE_MISMATCH",
                "/size",
                "expected: 4, found: 8",
                "{errorType:'FIXED_SIZE_MISMATCH', description:'The size of FIXED type field at path '/size' in the old schema does not match with the new schema', additionalInfo:'expected: 4, found: 8'}",
            ),
            (
                "NAME_MISMATCH",
                "/name",
                "expected: a.B",
                "{errorType:'NAME_MISMATCH', description:'The name of the schema has changed (path '/name')', additionalInfo:'expected: a.B'}",
            ),
            (
                "MISSING_ENUM_SYMBOLS",
                "/symbols",
                "[C, D]",
                "{errorType:'MISSING_ENUM_SYMBOLS', description:'The old schema is missing enum symbols '[C, D]' at path '/symbols' in the new schema', additionalInfo:'[C, D]'}",
            ),
            (
                "MISSING_UNION_BRANCH",
                "/1",
                "reader union lacking writer type: STRING",
                "{errorType:'MISSING_UNION_BRANCH', description:'The old schema is missing a type inside a union field at path '/1' in the new schema', additionalInfo:'reader union lacking writer type: STRING'}",
            ),
            (
                "READER_FIELD_MISSING_DEFAULT_VALUE",
                "/fields/1",
                "b",
                "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path '/fields/1' in the old schema has no default value and is missing in the new schema', additionalInfo:'b'}",
            ),
        ];
        for (kind, path, info, forward) in cases {
            let backward = message(kind, path, info).expect("a message");
            assert_eq!(confluent_forward(&backward), forward);
            // And back again: the forward text is the backward one with roles swapped.
            let swapped = forward
                .replace("old schema", "\u{0}")
                .replace("new schema", "old schema")
                .replace('\u{0}', "new schema");
            assert_eq!(backward, swapped);
        }
    }

    #[test]
    fn a_percent_sign_gives_no_message() {
        assert_eq!(message("NAME_MISMATCH", "/name", "expected: a%s.B"), None);
        assert_eq!(exception("{\"doc\":\"100%\"}"), None);
        assert_eq!(message("SCHEMA_TOO_DEEP", "/", ""), None);
    }
}
