//! Unit tests: canonical and normalised texts, error messages, the LENIENT policy,
//! and inputs that must neither panic nor take long.
use super::*;

fn p(text: &str) -> JsonSchema {
    match parse(text, &[]) {
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

fn kinds(found: &[Incompatibility]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = found
        .iter()
        .map(|i| (i.kind.clone(), i.path.clone()))
        .collect();
    v.sort();
    v
}

fn pair(kind: &str, path: &str) -> (String, String) {
    (kind.to_string(), path.to_string())
}

#[test]
fn canonical_is_compact_and_keeps_key_order() {
    let s = p(r#"{ "type" : "object",
        "properties": { "b": {"type": "string"}, "a": {"type": "integer", "minimum": 1.5} } }"#);
    assert_eq!(
        s.canonical(),
        r#"{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer","minimum":1.5}}}"#
    );
    assert_eq!(p(" true ").canonical(), "true");
    assert_eq!(p("false").canonical(), "false");
}

#[test]
fn normalized_sorts_keys_recursively() {
    let s = p(
        r#"{"type":"object","required":["b","a"],"properties":{"b":{"type":"string","maxLength":3},"a":{"enum":[{"y":1,"x":2}]}}}"#,
    );
    assert_eq!(
        s.normalized(),
        r#"{"properties":{"a":{"enum":[{"x":2,"y":1}]},"b":{"maxLength":3,"type":"string"}},"required":["b","a"],"type":"object"}"#
    );
    // Idempotent.
    assert_eq!(p(&s.normalized()).normalized(), s.normalized());
}

#[test]
fn normalized_orders_keys_like_java() {
    // U+10000 is a surrogate pair (D800 DC00) in UTF-16, so Java puts it before U+E000;
    // a byte-wise sort would not.
    let s = p("{\"\u{E000}\":1,\"\u{10000}\":2}");
    assert_eq!(s.normalized(), "{\"\u{10000}\":2,\"\u{E000}\":1}");
}

#[test]
fn dialect_is_reported() {
    assert_eq!(p(r#"{"type":"string"}"#).dialect(), Dialect::Draft7);
    assert_eq!(
        p(r#"{"$schema":"https://json-schema.org/draft/2020-12/schema"}"#).dialect(),
        Dialect::Draft2020_12
    );
    assert_eq!(Dialect::Draft2019_09.name(), "2019-09");
}

#[test]
fn syntax_errors_have_line_and_column() {
    let e = err("{\n  \"type\": \"string\"\n  \"maxLength\": 3\n}");
    assert!(e.contains("JSON syntax error at line 3, column 3"), "{e}");
    assert!(e.contains("expected `,` or `}`"), "{e}");
}

#[test]
fn structural_errors_name_the_pointer() {
    let e = err(r#"{"type":"object","properties":{"age":{"type":"integer","minimum":"x"}}}"#);
    assert_eq!(
        e,
        r#"Invalid JSON Schema: #/properties/age/minimum: "minimum" must be a number, found string "x""#
    );
    let e = err(r#"{"type":"object","properties":{"a":{"type":"strng"}}}"#);
    assert!(
        e.contains("#/properties/a/type: unknown type \"strng\""),
        "{e}"
    );
}

#[test]
fn unresolvable_refs_name_the_ref() {
    let e = err(r##"{"properties":{"a":{"$ref":"#/definitions/nope"}}}"##);
    assert!(
        e.contains(r##"#/properties/a/$ref: cannot resolve $ref "#/definitions/nope""##),
        "{e}"
    );
    let e = err(r#"{"$ref":"customer.json"}"#);
    assert!(e.contains(r#"no reference named "customer.json""#), "{e}");
}

#[test]
fn references_resolve_by_name_with_and_without_fragment() {
    let refs = [Reference::new(
        "common.json",
        r#"{"definitions":{"id":{"type":"string","minLength":1}}}"#,
    )];
    let old = parse(
        r#"{"type":"object","properties":{"id":{"$ref":"common.json#/definitions/id"}}}"#,
        &refs,
    )
    .expect("parses");
    let new = parse(
        r#"{"type":"object","properties":{"id":{"type":"string","minLength":2}}}"#,
        &refs,
    )
    .expect("parses");
    assert_eq!(
        kinds(&backward(&old, &new)),
        vec![pair("MIN_LENGTH_INCREASED", "#/properties/id/minLength")]
    );
    // A reference named by the whole `$ref`, fragment included, whose text is the
    // definition itself.
    let refs = [Reference::new(
        "common.json#/definitions/id",
        r#"{"type":"string","minLength":1}"#,
    )];
    let s = parse(
        r#"{"type":"object","properties":{"id":{"$ref":"common.json#/definitions/id"}}}"#,
        &refs,
    )
    .expect("parses");
    assert!(backward(&old, &s).is_empty());
}

#[test]
fn messages_name_the_field() {
    let old = p(r#"{"type":"object","properties":{"age":{"type":"integer"}}}"#);
    let new = p(r#"{"type":"object","properties":{"age":{"type":"integer"}},"required":["age"]}"#);
    let found = backward(&old, &new);
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("'age'"), "{}", found[0].message);

    let new = p(r#"{"type":"object","properties":{"age":{"type":"string"}}}"#);
    let found = backward(&old, &new);
    assert_eq!(found[0].path, "#/properties/age");
    assert!(found[0].message.contains("string"), "{}", found[0].message);
    assert!(found[0].message.contains("number"), "{}", found[0].message);
}

#[test]
fn lenient_accepts_content_model_changes() {
    let open = p(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#);
    let added =
        p(r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#);
    assert_eq!(
        kinds(&backward(&open, &added)),
        vec![pair(
            "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
            "#/properties/b"
        )]
    );
    assert!(backward_with_policy(&open, &added, JsonPolicy::Lenient).is_empty());

    // A required property without a default is refused by both.
    let required = p(
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["b"]}"#,
    );
    assert_eq!(
        kinds(&backward_with_policy(&open, &required, JsonPolicy::Lenient)),
        vec![pair(
            "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
            "#/properties/b"
        )]
    );

    let closed =
        p(r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#);
    assert_eq!(
        kinds(&backward(&open, &closed)),
        vec![pair(
            "ADDITIONAL_PROPERTIES_REMOVED",
            "#/additionalProperties"
        )]
    );
    assert!(backward_with_policy(&open, &closed, JsonPolicy::Lenient).is_empty());

    let closed_two = p(
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}"#,
    );
    assert!(backward_with_policy(&closed_two, &closed, JsonPolicy::Lenient).is_empty());

    // Not covered by a partially open model: LENIENT accepts the property itself but
    // not the type change found inside.
    let partial = p(r#"{"type":"object","additionalProperties":{"type":"string"}}"#);
    let int_prop = p(
        r#"{"type":"object","properties":{"n":{"type":"integer"}},"additionalProperties":{"type":"string"}}"#,
    );
    assert_eq!(
        kinds(&backward_with_policy(
            &partial,
            &int_prop,
            JsonPolicy::Lenient
        )),
        vec![pair("TYPE_CHANGED", "#/properties/n")]
    );
    // Type changes stay incompatible under both policies.
    let s = p(r#"{"type":"string"}"#);
    let n = p(r#"{"type":"number"}"#);
    assert_eq!(backward_with_policy(&s, &n, JsonPolicy::Lenient).len(), 1);
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let depth = 400;
    let text = format!(
        "{}{{\"type\":\"string\"}}{}",
        "{\"items\":".repeat(depth),
        "}".repeat(depth)
    );
    let e = err(&text);
    assert!(e.contains("nested deeper than"), "{e}");
}

#[test]
fn long_ref_chains_do_not_overflow_the_stack() {
    // d0 -> d1 -> ... -> d999, each an object whose property refers to the next.
    let n = 1000;
    let defs: Vec<String> = (0..n)
        .map(|i| {
            if i + 1 == n {
                format!("\"d{i}\":{{\"type\":\"string\"}}")
            } else {
                format!(
                    "\"d{i}\":{{\"type\":\"object\",\"properties\":{{\"n\":{{\"$ref\":\"#/definitions/d{}\"}}}}}}",
                    i + 1
                )
            }
        })
        .collect();
    let text = format!(
        "{{\"definitions\":{{{}}},\"$ref\":\"#/definitions/d0\"}}",
        defs.join(",")
    );
    let a = p(&text);
    let b = p(&text.replace("{\"type\":\"string\"}", "{\"type\":\"integer\"}"));
    // The difference lies deeper than the comparison goes; what matters here is that it
    // returns, on a test thread's small stack.
    let _ = backward(&a, &b);
    assert!(backward(&a, &a).is_empty());
}

#[test]
fn mutually_recursive_definitions_terminate() {
    let text = r##"{"definitions":{
        "a":{"type":"object","properties":{"b":{"$ref":"#/definitions/b"},"x":{"type":"string"}}},
        "b":{"type":"object","properties":{"a":{"$ref":"#/definitions/a"},"y":{"type":"integer"}}}},
        "$ref":"#/definitions/a"}"##;
    let old = p(text);
    let new = p(&text.replace(r#""y":{"type":"integer"}"#, r#""y":{"type":"string"}"#));
    assert_eq!(
        kinds(&backward(&old, &new)),
        vec![pair("TYPE_CHANGED", "#/properties/b/properties/y")]
    );
}

#[test]
fn huge_combined_schemas_stay_fast() {
    let branches: Vec<String> = (0..400)
        .map(|i| format!("{{\"type\":\"object\",\"properties\":{{\"k{i}\":{{\"const\":{i}}}}},\"required\":[\"k{i}\"]}}"))
        .collect();
    let text = format!("{{\"oneOf\":[{}]}}", branches.join(","));
    let s = p(&text);
    let start = std::time::Instant::now();
    assert!(backward(&s, &s).is_empty());
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn java_only_regex_is_accepted() {
    let s = p(
        r#"{"type":"object","patternProperties":{"^(?!x_).*$":{"type":"string"}},"properties":{"a":{"type":"string","pattern":"(a)\\1"}}}"#,
    );
    assert!(backward(&s, &s).is_empty());
    let mut at: Vec<(&str, &str)> = s
        .warnings()
        .iter()
        .map(|w| (w.kind.as_str(), w.path.as_str()))
        .collect();
    at.sort();
    assert_eq!(
        at,
        vec![
            ("UNSUPPORTED_REGEX", "#/patternProperties/^(?!x_).*$"),
            ("UNSUPPORTED_REGEX", "#/properties/a/pattern"),
        ]
    );
}

#[test]
fn warnings_say_what_and_where() {
    let s = p(r#"{"type":"object","properties":{"a":{"type":"string","maxLength":-1}}}"#);
    let w = &s.warnings()[0];
    assert_eq!(w.kind, "NEGATIVE_LIMIT");
    assert_eq!(w.path, "#/properties/a/maxLength");
    assert!(
        w.message
            .starts_with("#/properties/a/maxLength: \"maxLength\" is -1"),
        "{w:?}"
    );
    // Root-level warnings use `#/` like incompatibility paths.
    let s = p(r#"{"type":[]}"#);
    assert_eq!(s.warnings()[0].path, "#/type");
    let s = p(r#"{"allOf":[]}"#);
    assert_eq!(s.warnings()[0].path, "#/allOf");
    assert!(p(r#"{"type":"string"}"#).warnings().is_empty());
    // A warning in a referenced schema names the reference.
    let refs = [Reference::new(
        "a.json",
        r#"{"type":"string","minLength":-2}"#,
    )];
    let s = parse(r#"{"$ref":"a.json"}"#, &refs).expect("parses");
    assert_eq!(s.warnings()[0].path, "a.json#/minLength");
}

#[test]
fn negative_limits_compare_as_written() {
    // Confluent compares the integers it read: -1 -> 5 raises maxLength.
    let old = p(r#"{"type":"string","maxLength":-1}"#);
    let new = p(r#"{"type":"string","maxLength":5}"#);
    assert!(backward(&old, &new).is_empty());
    assert_eq!(
        kinds(&backward(&new, &old)),
        vec![pair("MAX_LENGTH_DECREASED", "#/maxLength")]
    );
}

#[test]
fn a_definition_a_ref_uses_must_be_valid() {
    // Unused: a warning. Used through a $ref, even from an `if` (which the model does
    // not link but Confluent's loader reads): an error.
    let s = p(r##"{"definitions":{"x":{"$ref":"#/definitions/gone"}},"type":"string"}"##);
    assert_eq!(s.warnings()[0].kind, "INVALID_UNUSED_DEFINITION");
    assert_eq!(s.warnings()[0].path, "#/definitions/x/$ref");
    let e = err(
        r##"{"definitions":{"x":{"$ref":"#/definitions/gone"}},"if":{"$ref":"#/definitions/x"},"then":{}}"##,
    );
    assert!(
        e.contains("cannot resolve $ref \"#/definitions/gone\""),
        "{e}"
    );
    let e = err(r##"{"definitions":{"x":{"type":"strng"}},"not":{"$ref":"#/definitions/x"}}"##);
    assert!(e.contains("#/definitions/x/type"), "{e}");
}

#[test]
fn confluent_messages_are_worded_for_backward_and_swapped_for_forward() {
    let old = p(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#);
    let new = p(r#"{"type":"object","properties":{"a":{"type":"string","maxLength":3}}}"#);
    let found = backward(&old, &new);
    let msg = found[0].confluent.clone().expect("Confluent reports it");
    assert_eq!(
        msg,
        "{errorType:\"MAX_LENGTH_ADDED\", description:\"The keyword at path '#/properties/a/maxLength' in the new schema is not present in the old schema\"}"
    );
    assert_eq!(confluent_for_direction(&msg, Direction::Backward), msg);
    assert_eq!(
        confluent_for_direction(&msg, Direction::Forward),
        "{errorType:\"MAX_LENGTH_ADDED\", description:\"The keyword at path '#/properties/a/maxLength' in the old schema is not present in the new schema\"}"
    );
    // The path is left alone even when it holds the words.
    let old = p(r#"{"type":"object","properties":{"new schema":{"type":"string"}}}"#);
    let new = p(r#"{"type":"object","properties":{"new schema":{"type":"integer"}}}"#);
    let msg = backward(&old, &new)[0].confluent.clone().expect("reported");
    assert_eq!(
        confluent_for_direction(&msg, Direction::Forward),
        "{errorType:\"TYPE_CHANGED\", description:\"A type at path '#/properties/new schema' is different between the old schema and the new schema\"}"
    );
    // An empty description, and text that is not Confluent's, come back unchanged.
    let empty = "{errorType:\"SCHEMA_ADDED\", description:\"\"}";
    assert_eq!(confluent_for_direction(empty, Direction::Forward), empty);
    assert_eq!(
        confluent_for_direction("other", Direction::Forward),
        "other"
    );
}

#[test]
fn accord_only_findings_carry_no_confluent_message() {
    // Both sides are `type` + `enum`: Confluent says COMBINED_TYPE_SUBSCHEMAS_CHANGED,
    // Accord names the enum change instead.
    let old = p(r#"{"type":"string","enum":["a","b"]}"#);
    let new = p(r#"{"type":"string","enum":["a"]}"#);
    let found = backward(&old, &new);
    assert_eq!(kinds(&found), vec![pair("ENUM_ARRAY_NARROWED", "#/enum")]);
    assert_eq!(found[0].confluent, None);
    // Confluent truncates a fractional multipleOf to an integer.
    let old = p(r#"{"type":"number","multipleOf":0.5}"#);
    let new = p(r#"{"type":"number","multipleOf":1.5}"#);
    let found = backward(&old, &new);
    assert_eq!(
        kinds(&found),
        vec![pair("MULTIPLE_OF_EXPANDED", "#/multipleOf")]
    );
    assert_eq!(found[0].confluent, None);
    // Unresolved remote references pointing at different URIs.
    let old = p(r#"{"$ref":"https://example.com/a.json"}"#);
    let new = p(r#"{"$ref":"https://example.com/b.json"}"#);
    let found = backward(&old, &new);
    assert_eq!(kinds(&found), vec![pair("TYPE_CHANGED", "#/")]);
    assert_eq!(found[0].confluent, None);
    assert_eq!(old.warnings()[0].kind, "UNRESOLVED_REMOTE_REF");
}

#[test]
fn garbage_never_panics() {
    for text in [
        "",
        " ",
        "{",
        "}",
        "null",
        "1",
        "[]",
        "{\"type\":null}",
        "{\"properties\":{\"a\":null}}",
        "{\"$ref\":\"\"}",
        "{\"$ref\":\"#\"}",
        "{\"$ref\":\"#/\"}",
        "{\"$ref\":\"#/a/0/b\"}",
        "{\"$ref\":\"%%%\"}",
        "{\"$ref\":\"#%zz\"}",
        "{\"items\":[]}",
        "{\"enum\":[]}",
        "{\"$id\":\"#\",\"$ref\":\"#\"}",
        "{\"$id\":5}",
        "{\"dependencies\":{\"a\":5}}",
        "{\"patternProperties\":{\"(\":{}}}",
        "{\"type\":[]}",
    ] {
        let _ = parse(text, &[]);
    }
    // A bare "#" reference is the document itself: a cycle, not an error.
    let s = p(r##"{"type":"object","properties":{"self":{"$ref":"#"}}}"##);
    assert!(backward(&s, &s).is_empty());
}

#[test]
fn locations_name_the_field() {
    assert_eq!(location(""), "the root schema");
    assert_eq!(
        location("/properties/addr/properties/zip"),
        "field 'addr.zip'"
    );
    assert_eq!(
        location("/properties/tags/items/maxLength"),
        "field 'tags[]'"
    );
    assert_eq!(location("/prefixItems/1"), "field '[1]'");
    assert_eq!(location("/required/a~1b"), "field 'a/b'");
    assert_eq!(
        location("/properties/a/oneOf/1/properties/b"),
        "field 'a.b'"
    );
}

#[test]
fn clone_and_debug() {
    let s = p(r#"{"type":"string"}"#);
    let c = s.clone();
    assert_eq!(c.canonical(), s.canonical());
    assert!(format!("{s:?}").contains("JsonSchema"));
    assert_eq!(s.value()["type"], "string");
}
