//! Input from users never panics: arbitrary text, arbitrary YAML structures, and
//! mutations of a valid contract all end in `Ok` or in problems.

use accord_contracts::{cel, Contract};
use proptest::prelude::*;
use serde_json::Value;

const ORDERS: &str = include_str!("data/orders.odcs.yaml");

/// Reading and, if that works, validating, writing and re-reading.
fn exercise(text: &str) {
    if let Ok(c) = Contract::from_yaml(text) {
        let _ = c.validate();
        let _ = c.digest();
        let _ = (
            c.slos(),
            c.fields(),
            c.has_pii(),
            c.encrypted_fields(),
            c.is_deprecated(),
        );
        for slo in c.slos() {
            let _ = (slo.as_duration(), slo.per_second());
        }
        let again = Contract::from_yaml(&c.to_yaml()).expect("what we write, we read");
        assert_eq!(again, c);
    }
    let _ = Contract::from_json(text);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9 .:%/_-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "v3.1.0",
            "DataContract",
            "active",
            "deprecated",
            "accord.stream",
            "accord.evolution",
            "accord.encryption",
            "accord.lifecycle",
            "accord.access",
            "accord.ruleSet",
            "entity",
            "FULL_TRANSITIVE",
            "message.a > 1",
            "ms",
            "%",
            "latency",
            "availability",
            "error",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop::sample::select(vec![
            "apiVersion",
            "kind",
            "id",
            "version",
            "status",
            "team",
            "name",
            "members",
            "username",
            "schema",
            "properties",
            "items",
            "tags",
            "slaProperties",
            "property",
            "value",
            "unit",
            "customProperties",
            "keyScope",
            "entityKeyField",
            "lint",
            "doc-required",
            "domainRules",
            "expr",
            "type",
            "sunsetDate",
            "successor",
            "consumers",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        exercise(&text);
    }

    #[test]
    fn arbitrary_structures_never_panic(v in json_value()) {
        let _ = Contract::from_value(v.clone());
        exercise(&serde_yaml::to_string(&v).unwrap());
        exercise(&v.to_string());
    }

    #[test]
    fn damaged_contracts_never_panic(cut in 0usize..4000, junk in "[\\[\\]{}:, \\n\\-a-z\"']{0,8}") {
        let cut = cut.min(ORDERS.len());
        let cut = (0..=cut).rev().find(|&i| ORDERS.is_char_boundary(i)).unwrap_or(0);
        let text = format!("{}{}{}", &ORDERS[..cut], junk, &ORDERS[cut..]);
        exercise(&text);
    }

    #[test]
    fn arbitrary_cel_never_panics(expr in "[a-z .()\\[\\]{}'\"0-9+*/%<>=!&|?:,;-]{0,60}", n in any::<i64>()) {
        if let Ok(p) = cel::compile(&expr) {
            let _ = cel::evaluate(&p, &serde_json::json!({"a": n, "b": [1, "x"], "c": {"d": null}}));
        }
        let _ = cel::compile_field(&expr);
    }
}

/// Inputs that once were suspicious, kept as a table.
#[test]
fn known_awkward_inputs() {
    for text in [
        "",
        "~",
        "---\n---\n",
        "[]",
        "{}",
        "apiVersion: v3.1.0\nkind: DataContract\n",
        "a: &a [*a]",
        "customProperties: 5",
        "customProperties: [{property: accord.stream}]",
        "customProperties: [{property: accord.stream, value: null}]",
        "customProperties: [{property: accord.evolution, value: {lint: {doc-required: {}}}}]",
        "team: []",
        "team: null",
        "slaProperties: [{property: latency, value: .nan, unit: ms}]",
        "slaProperties: [{property: latency, value: 1e400, unit: ms}]",
        "slaProperties: [{property: retention, value: 1e300, unit: y}]",
        "schema: [{properties: [{items: {items: {items: {name: x}}}}]}]",
        "1: 2",
        "? [a]\n: b",
        "!tag x",
    ] {
        exercise(text);
    }
}
