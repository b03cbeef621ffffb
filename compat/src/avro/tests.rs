//! Unit tests: canonical, resolved and normalised texts, error messages, and the guards
//! that keep hostile inputs from exhausting the stack.
use super::*;

fn p(text: &str) -> AvroSchema {
    match parse(text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("{text} does not parse: {e}"),
    }
}

fn p_refs(text: &str, refs: &[(&str, &str)]) -> AvroSchema {
    let refs: Vec<Reference> = refs.iter().map(|(n, s)| Reference::new(*n, *s)).collect();
    match parse(text, &refs) {
        Ok(s) => s,
        Err(e) => panic!("{text} does not parse: {e}"),
    }
}

fn err(text: &str) -> String {
    match parse(text, &[]) {
        Ok(_) => panic!("{text} was accepted"),
        Err(e) => e.message,
    }
}

#[test]
fn primitives_print_as_strings_unless_they_have_properties() {
    assert_eq!(p("\"string\"").canonical(), "\"string\"");
    assert_eq!(p("{\"type\":\"int\"}").canonical(), "\"int\"");
    assert_eq!(
        p(r#"{ "type" : "long", "logicalType" : "timestamp-millis" }"#).canonical(),
        r#"{"type":"long","logicalType":"timestamp-millis"}"#
    );
    assert_eq!(
        p(r#"{"type":"string","avro.java.string":"String"}"#).canonical(),
        r#"{"type":"string","avro.java.string":"String"}"#
    );
}

#[test]
fn record_attributes_follow_java_order() {
    let s = p(
        r#"{"fields":[{"custom":true,"aliases":["aa"],"order":"DESCENDING","doc":"fd","default":1,"type":"int","name":"a"}],
        "extra":"v","aliases":["Old","x.Y"],"doc":"d","namespace":"com.acme","name":"R","type":"record"}"#,
    );
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","namespace":"com.acme","doc":"d","fields":[{"name":"a","type":"int","doc":"fd","default":1,"order":"descending","aliases":["aa"],"custom":true}],"extra":"v","aliases":["Old","x.Y"]}"#
    );
}

#[test]
fn enum_and_fixed_attributes_follow_java_order() {
    assert_eq!(
        p(r#"{"p":1,"aliases":["F"],"default":"A","symbols":["A","B"],"doc":"e","name":"E","type":"enum"}"#).canonical(),
        r#"{"type":"enum","name":"E","doc":"e","symbols":["A","B"],"default":"A","p":1,"aliases":["F"]}"#
    );
    assert_eq!(
        p(r#"{"type":"fixed","size":16,"name":"a.b.MD5","doc":"x","aliases":["Hash"],"q":[1]}"#)
            .canonical(),
        r#"{"type":"fixed","name":"MD5","namespace":"a.b","doc":"x","size":16,"q":[1],"aliases":["Hash"]}"#
    );
}

#[test]
fn namespaces_are_written_only_where_they_change() {
    let s = p(
        r#"{"type":"record","name":"R","namespace":"com.acme","fields":[
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},
        {"name":"n","type":{"type":"record","name":"N","namespace":"other","fields":[
            {"name":"x","type":{"type":"fixed","name":"F","size":4}}]}},
        {"name":"z","type":{"type":"enum","name":"Z","namespace":"","symbols":["Q"]}},
        {"name":"g","type":["null","other.N","com.acme.E","other.F","Z"],"default":null}]}"#,
    );
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","namespace":"com.acme","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"n","type":{"type":"record","name":"N","namespace":"other","fields":[{"name":"x","type":{"type":"fixed","name":"F","size":4}}]}},{"name":"z","type":{"type":"enum","name":"Z","namespace":"","symbols":["Q"]}},{"name":"g","type":["null","other.N","E","other.F","Z"],"default":null}]}"#
    );
    assert_eq!(s.full_name().as_deref(), Some("com.acme.R"));
}

#[test]
fn defaults_keep_json_but_print_numbers_like_java() {
    let s = p(r#"{"type":"record","name":"R","fields":[
        {"name":"f","type":"float","default":"1.25"},
        {"name":"n","type":"double","default":"NaN"},
        {"name":"d","type":"double","default":1e-5},
        {"name":"m","type":{"type":"map","values":"int"},"default":{"b":1,"a":2}},
        {"name":"s","type":"string","default":"tab\there"}]}"#);
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":"float","default":1.25},{"name":"n","type":"double","default":"NaN"},{"name":"d","type":"double","default":1.0E-5},{"name":"m","type":{"type":"map","values":"int"},"default":{"b":1,"a":2}},{"name":"s","type":"string","default":"tab\there"}]}"#
    );
}

#[test]
fn comments_and_trailing_text_are_tolerated_like_jackson() {
    let s = p("/* header */ {\"type\": \"string\" // trailing\n} and more");
    assert_eq!(s.canonical(), "\"string\"");
}

#[test]
fn canonical_refers_to_referenced_types_by_name_and_resolved_inlines_them() {
    let address = r#"{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["NL","BE"]}}]}"#;
    let s = p_refs(
        r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"ship","type":"Address"},{"name":"bill","type":"com.acme.Address"},{"name":"c","type":"Country"}]}"#,
        &[("com.acme.Address", address)],
    );
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"ship","type":"Address"},{"name":"bill","type":"Address"},{"name":"c","type":"Country"}]}"#
    );
    assert_eq!(
        s.resolved(),
        r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"ship","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"country","type":{"type":"enum","name":"Country","symbols":["NL","BE"]}}]}},{"name":"bill","type":"Address"},{"name":"c","type":"Country"}]}"#
    );
    // The canonical text parses again with the same references, to the same text.
    let again = p_refs(&s.canonical(), &[("com.acme.Address", address)]);
    assert_eq!(again.canonical(), s.canonical());
    // The resolved text parses on its own.
    assert_eq!(p(&s.resolved()).canonical(), s.resolved());
    assert_eq!(s.full_name().as_deref(), Some("com.acme.Order"));
}

#[test]
fn full_name_is_for_records_only_like_confluent() {
    assert_eq!(
        p(r#"{"type":"enum","name":"a.E","symbols":["X"]}"#).full_name(),
        None
    );
    assert_eq!(p("\"int\"").full_name(), None);
    assert_eq!(
        p(r#"{"type":"error","name":"Oops","namespace":"x","fields":[]}"#)
            .full_name()
            .as_deref(),
        Some("x.Oops")
    );
}

#[test]
fn normalized_sorts_aliases_and_properties_and_converts_defaults() {
    let s = p(
        r#"{"type":"record","name":"R","namespace":"com.acme","doc":"",
        "zeta":1,"alpha":{"k":[true]},"aliases":["Zed","a.B"],
        "fields":[
          {"name":"a","type":"int","default":1,"order":"ascending","aliases":["y","x"],"zz":1,"aa":2},
          {"name":"d","type":{"type":"bytes","scale":2,"precision":4,"logicalType":"decimal","note":"n"}},
          {"name":"dd","type":"double","default":3},
          {"name":"ff","type":"float","default":0.1},
          {"name":"o","type":"string","order":"ignore","doc":""}]}"#,
    );
    assert_eq!(
        s.normalized(),
        r#"{"type":"record","name":"R","namespace":"com.acme","fields":[{"name":"a","type":"int","default":1,"aliases":["x","y"],"aa":2,"zz":1},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2,"note":"n"}},{"name":"dd","type":"double","default":3.0},{"name":"ff","type":"float","default":0.1},{"name":"o","type":"string","doc":"","order":"ignore"}],"alpha":{"k":[true]},"zeta":1,"aliases":["a.B","Zed"]}"#
    );
}

#[test]
fn normalized_turns_error_into_record_and_keeps_references_by_name() {
    let e = r#"{"type":"enum","name":"E","namespace":"n","symbols":["A"]}"#;
    let s = p_refs(
        r#"{"type":"error","name":"Oops","namespace":"n","fields":[{"name":"e","type":"E"}]}"#,
        &[("n.E", e)],
    );
    assert_eq!(
        s.normalized(),
        r#"{"type":"record","name":"Oops","namespace":"n","fields":[{"name":"e","type":"E"}]}"#
    );
}

#[test]
fn normalization_is_idempotent_and_compatible_on_a_rich_schema() {
    let s = p(r#"{"type":"record","name":"R","namespace":"a","fields":[
        {"name":"e","type":{"type":"enum","name":"E","namespace":"","symbols":["X","Y"],"default":"X","aliases":["b.Old"]}},
        {"name":"n","type":["null",{"type":"record","name":"N","fields":[{"name":"self","type":["null","N"],"default":null}]}],"default":null},
        {"name":"f","type":{"type":"fixed","name":"F","namespace":"c","size":12,"logicalType":"duration"}},
        {"name":"u","type":{"type":"array","items":"E"},"default":["Y"]},
        {"name":"b","type":"bytes","default":"\u00e9\u20ac"}]}"#);
    let n1 = s.normalized();
    let n2 = p(&n1).normalized();
    assert_eq!(n1, n2);
    let reparsed = p(&n1);
    assert!(backward(&s, &reparsed).is_empty(), "{n1}");
    assert!(backward(&reparsed, &s).is_empty(), "{n1}");
    // bytes defaults go through ISO-8859-1, as Java's conversion does
    assert!(n1.contains(r#""default":"é?""#), "{n1}");
}

#[test]
fn error_messages_say_what_and_where() {
    let m = err(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"Address"}]}"#,
    );
    assert!(m.contains("unknown type name \"Address\""), "{m}");
    assert!(m.contains("field \"b\" of record \"R\""), "{m}");
    assert!(m.contains("/fields/1/type"), "{m}");

    let m = err(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"double","default":"abc"}]}"#,
    );
    assert!(m.contains("invalid default for field \"a\""), "{m}");
    assert!(m.contains("/fields/0/default"), "{m}");

    let m = err("{\"type\":\n\"record\",,}");
    assert!(m.contains("line 2 column"), "{m}");

    let m = err(r#"["null",["int"]]"#);
    assert!(m.contains("nested union") && m.contains("(at /1)"), "{m}");

    let m = err(r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#);
    assert!(m.contains("\"B\"") && m.contains("(at /default)"), "{m}");

    let refs = [Reference::new(
        "x.A",
        r#"{"type":"record","name":"A","fields":[{"name":"q","type":"Nope"}]}"#,
    )];
    let m = match parse("\"string\"", &refs) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.message,
    };
    assert!(m.contains("in reference \"x.A\""), "{m}");
}

#[test]
fn incompatibility_messages_name_the_field_and_types() {
    let old = p(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
    let new = p(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}"#,
    );
    let found = backward(&old, &new);
    assert_eq!(found.len(), 2);
    assert!(found.iter().any(|i| i.kind == "TYPE_MISMATCH"
        && i.message
            .contains("reader type: STRING not compatible with writer type: INT")));
    assert!(found
        .iter()
        .any(|i| i.kind == "READER_FIELD_MISSING_DEFAULT_VALUE"
            && i.message.contains("The field 'b' at path '/fields/1'")));
}

#[test]
fn hostile_inputs_do_not_panic() {
    for text in [
        "",
        "   ",
        "[]",
        "{}",
        "null",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"int\"",
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":[],"default":1}]}"#,
        r#"{"type":"fixed","name":"F","size":99999999999}"#,
        r#"{"type":"record","name":"R","fields":[1]}"#,
        r#"{"type":"enum","name":"E","symbols":[null]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"float","default":"1e999"}]}"#,
        "/* unterminated",
    ] {
        let _ = parse(text, &[]);
    }
    // An empty union is accepted (Java accepts it) and checks without panicking.
    let e = p("[]");
    let i = p("\"int\"");
    assert_eq!(backward(&i, &e).len(), 1);
    assert!(backward(&e, &i).is_empty());
    assert_eq!(e.canonical(), "[]");
}

#[test]
fn deep_json_nesting_is_rejected() {
    let mut text = String::new();
    for _ in 0..300 {
        text.push_str("{\"type\":\"array\",\"items\":");
    }
    text.push_str("\"int\"");
    for _ in 0..300 {
        text.push('}');
    }
    let m = err(&text);
    assert!(
        m.contains("recursion limit") || m.contains("nested deeper"),
        "{m}"
    );
}

/// A writer with a chain of `n` records, each holding the previous one, and a reader
/// whose single recursive record is matched against the end of that chain: the check
/// descends the whole chain, pair by new pair.
fn chain(n: usize) -> (AvroSchema, AvroSchema) {
    let mut fields =
        vec![r#"{"name":"c0","type":{"type":"record","name":"V0","fields":[]}}"#.to_string()];
    for k in 1..n {
        fields.push(format!(
            r#"{{"name":"c{k}","type":{{"type":"record","name":"V{k}","fields":[{{"name":"s","type":["null","V{}"]}}]}}}}"#,
            k - 1
        ));
    }
    fields.push(format!(r#"{{"name":"g","type":"V{}"}}"#, n - 1));
    let writer = p(&format!(
        r#"{{"type":"record","name":"Top","fields":[{}]}}"#,
        fields.join(",")
    ));
    let reader = p(
        r#"{"type":"record","name":"Top","fields":[{"name":"g","type":{"type":"record","name":"S","fields":[{"name":"s","type":["null","S"]}]}}]}"#,
    );
    (writer, reader)
}

#[test]
fn long_named_chains_stop_instead_of_overflowing_the_stack() {
    // Test threads have 2 MiB of stack, like tokio's workers.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let (writer, reader) = chain(3000);
            let found = backward(&writer, &reader);
            let resolved = writer.resolved();
            (found, resolved.len())
        });
    let (found, _) = match handle.map(|h| h.join()) {
        Ok(Ok(r)) => r,
        _ => panic!("the check overflowed or panicked"),
    };
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, "SCHEMA_TOO_DEEP");
}

#[test]
fn moderate_named_chains_check_fully() {
    let (writer, reader) = chain(50);
    let found = backward(&writer, &reader);
    // Names differ (S vs V..) at every level of the chain.
    assert!(!found.is_empty());
    assert!(found.iter().all(|i| i.kind != "SCHEMA_TOO_DEEP"));
}

#[test]
fn reference_chains_print_resolved_without_overflow() {
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut refs = vec![Reference::new("R0", r#"{"type":"record","name":"R0","fields":[]}"#)];
            for k in 1..2000 {
                refs.push(Reference::new(
                    format!("R{k}"),
                    format!(r#"{{"type":"record","name":"R{k}","fields":[{{"name":"x","type":"R{}"}}]}}"#, k - 1),
                ));
            }
            match parse(r#""R1999""#, &refs) {
                Ok(s) => (s.canonical(), s.resolved().len()),
                Err(e) => (e.message, 0),
            }
        });
    let (canonical, resolved_len) = match handle.map(|h| h.join()) {
        Ok(Ok(r)) => r,
        _ => panic!("printing overflowed or panicked"),
    };
    assert_eq!(canonical, "\"R1999\"");
    assert!(resolved_len > 1000);
}

#[test]
fn mismatched_defaults_parse_with_a_warning_and_print_as_written() {
    // Confluent parses with default validation off: the schema registers and its
    // default is stored as Java's printer writes the JSON it read.
    let s = p(
        r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","int"],"default":1},{"name":"c","type":{"type":"record","name":"P","fields":[{"name":"x","type":"long","default":1.50}]},"default":{"x":"y"}}]}"#,
    );
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","int"],"default":1},{"name":"c","type":{"type":"record","name":"P","fields":[{"name":"x","type":"long","default":1.5}]},"default":{"x":"y"}}]}"#
    );
    let w = s.warnings();
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(
        (w[0].kind.as_str(), w[0].path.as_str()),
        ("DEFAULT_TYPE_MISMATCH", "/fields/1")
    );
    assert!(
        w[0].message.contains("field \"b\" of record \"n.R\""),
        "{}",
        w[0].message
    );
    assert!(w[0].message.contains("first branch"), "{}", w[0].message);
    assert!(
        w[0].message.contains("avro.validate.defaults"),
        "{}",
        w[0].message
    );
    // Nested fields are reported where they are, in document order.
    assert_eq!(
        (w[1].kind.as_str(), w[1].path.as_str()),
        ("DEFAULT_TYPE_MISMATCH", "/fields/2/type/fields/0")
    );
    assert!(
        w[1].message.contains("1.5 is not a valid long"),
        "{}",
        w[1].message
    );
    assert_eq!(w[2].path, "/fields/2");
    // The other texts and the checks cope with it.
    let _ = s.resolved();
    let n = s.normalized();
    assert!(n.contains(r#""name":"b""#), "{n}");
    assert!(backward(&s, &s).is_empty());
    let plain =
        p(r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"}]}"#);
    assert!(backward(&plain, &s).is_empty());
    assert!(backward(&s, &plain).is_empty());
    // A schema without such defaults has no warnings.
    assert!(plain.warnings().is_empty());
}

#[test]
fn a_recursive_default_and_an_empty_union_default_are_warnings() {
    let s = p(r#"{"type":"record","name":"R","fields":[{"name":"next","type":"R","default":{}}]}"#);
    assert_eq!(s.warnings().len(), 1);
    assert_eq!(s.warnings()[0].kind, "RECURSIVE_DEFAULT");
    assert_eq!(s.warnings()[0].path, "/fields/0");
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","fields":[{"name":"next","type":"R","default":{}}]}"#
    );
    // Through a nullable union whose first branch is null, a null default never needs
    // the record: no warning, as Java would not look either.
    let s = p(
        r#"{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"],"default":null}]}"#,
    );
    assert!(s.warnings().is_empty());
    let s = p(r#"{"type":"record","name":"R","fields":[{"name":"a","type":[],"default":1}]}"#);
    assert_eq!(s.warnings()[0].kind, "DEFAULT_TYPE_MISMATCH");
}

#[test]
fn warnings_of_references_stay_with_the_references() {
    let s = p_refs(
        r#"{"type":"record","name":"R","fields":[{"name":"e","type":"E"}]}"#,
        &[(
            "E",
            r#"{"type":"record","name":"E","fields":[{"name":"x","type":"int","default":"no"}]}"#,
        )],
    );
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[test]
fn names_are_validated_one_utf16_unit_at_a_time_like_java() {
    for ok in ["caf\u{e9}", "\u{3b1}\u{3b2}", "_1", "\u{4e2d}\u{6587}"] {
        let text = format!(r#"{{"type":"enum","name":"{ok}","symbols":["{ok}"]}}"#);
        let _ = p(&text);
    }
    for bad in ["R\u{1d49c}", "\u{216b}", "a\u{2160}"] {
        let text = format!(r#"{{"type":"enum","name":"{bad}","symbols":["A"]}}"#);
        let m = err(&text);
        assert!(m.contains("Illegal"), "{m}");
    }
}

#[test]
fn confluent_messages_follow_the_check_direction() {
    use crate::{check, CompatibilityLevel, Existing, ParsedSchema};
    let old = ParsedSchema::Avro(p(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
    ));
    let new = ParsedSchema::Avro(p(r#"{"type":"record","name":"R","fields":[]}"#));
    let existing = [Existing {
        version: 1,
        schema: &old,
    }];
    // FORWARD: the old schema reads the new one's data; Confluent names the old schema
    // as the one lacking the default.
    let report = check(CompatibilityLevel::Forward, &new, &existing);
    assert_eq!(report.incompatibilities.len(), 1);
    let found = &report.incompatibilities[0];
    // `check` words it for the direction (lib.rs applies `confluent_forward`).
    assert_eq!(
        found.confluent_message(),
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'a' at path '/fields/0' in the old schema has no default value and is missing in the new schema', additionalInfo:'a'}"
    );
    // BACKWARD of the same pair the other way round keeps the backward wording.
    let backward_report = check(
        CompatibilityLevel::Backward,
        &old,
        &[Existing {
            version: 1,
            schema: &new,
        }],
    );
    assert_eq!(
        backward_report.incompatibilities[0].confluent_message(),
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'a' at path '/fields/0' in the new schema has no default value and is missing in the old schema', additionalInfo:'a'}"
    );
    assert_eq!(
        confluent_forward(&backward_report.incompatibilities[0].confluent_message()),
        found.confluent_message()
    );
}

#[test]
fn no_confluent_message_where_its_string_format_would_misread_a_percent_sign() {
    let old = p(r#"{"type":"record","name":"R","namespace":"a%s","fields":[]}"#);
    let new = p(r#"{"type":"record","name":"S","namespace":"a%s","fields":[]}"#);
    let found = backward(&old, &new);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, "NAME_MISMATCH");
    assert_eq!(found[0].confluent, None);
}

#[test]
fn the_multiple_writer_fields_exception_prints_the_writer_record_in_full() {
    let old = p_refs(
        r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":"b.E"},{"name":"y","type":{"type":"array","items":"b.E"}}]}"#,
        &[(
            "b.E",
            r#"{"type":"enum","name":"E","namespace":"b","symbols":["A"]}"#,
        )],
    );
    let new = p(
        r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"z","type":["null","int"],"aliases":["x","y"]}]}"#,
    );
    let found = backward(&old, &new);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, "READER_FIELD_MATCHES_MULTIPLE_WRITER_FIELDS");
    assert_eq!(
        found[0].confluent.as_deref(),
        Some(
            r#"Unexpected exception during compatibility check: Reader record field z type:UNION pos:0 matches multiple fields in writer record schema {"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"enum","name":"E","namespace":"b","symbols":["A"]}},{"name":"y","type":{"type":"array","items":"b.E"}}]}"#
        )
    );
}
