//! What Accord exports is valid ODCS: each fixture, parsed and written back as JSON (the
//! form the `/v1` API serves), validates against the official ODCS v3.1.0 JSON Schema.
//! `data/odcs-v3.1.0.schema.json` is bitol-io's schema (Apache-2.0), as shipped in the
//! `odcs` crate 0.9.1 (`schema/odcs-v3.1.0.json`).

use accord_contracts::Contract;

const SCHEMA: &str = include_str!("data/odcs-v3.1.0.schema.json");

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("the ODCS schema compiles")
}

fn assert_valid(name: &str, yaml: &str) {
    let contract = Contract::from_yaml(yaml).expect("fixture parses");
    contract.validate().expect("fixture validates");
    let exported: serde_json::Value =
        serde_json::from_str(&contract.to_json()).expect("export is JSON");
    let v = validator();
    let errors: Vec<String> = v
        .iter_errors(&exported)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: export is not valid ODCS:\n{}",
        errors.join("\n")
    );
    // The YAML export too, read back as plain data.
    let yaml_back: serde_json::Value =
        serde_yaml::from_str(&contract.to_yaml()).expect("export is YAML");
    assert!(
        v.is_valid(&yaml_back),
        "{name}: YAML export is not valid ODCS"
    );
}

#[test]
fn exports_validate_against_the_official_schema() {
    assert_valid("orders", include_str!("data/orders.odcs.yaml"));
    assert_valid("full example", include_str!("data/odcs-full-example.yaml"));
}

#[test]
fn the_schema_is_not_vacuous() {
    // A document the standard forbids is refused by the same validator.
    let bad = serde_json::json!({"apiVersion": "v3.1.0", "kind": "NotAContract", "id": 5});
    assert!(!validator().is_valid(&bad));
}
