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
