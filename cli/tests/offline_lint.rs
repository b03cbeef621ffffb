//! `accord lint`: every rule fires in every format and is silenced by what it asks for;
//! the manifest switches rules and levels; warnings exit 0, errors exit 1.

#[path = "offline/common.rs"]
mod common;

use common::{accord, accord_in, fixtures};
use std::path::Path;

/// Rule ids of the findings of one file in a text report, in order.
fn rules_of(stdout: &str, file: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in stdout.lines() {
        if !line.starts_with("  ") {
            inside = line.contains(&format!(" {file}"));
            continue;
        }
        if inside {
            out.push(line.split_whitespace().nth(1).unwrap_or("").to_string());
        }
    }
    out
}

#[test]
fn default_rules_warn_on_every_format_and_exit_0() {
    let r = accord(&["lint", "lint/bad.avsc", "lint/bad.proto", "lint/bad.json"]);
    assert_eq!(r.code, 0, "warnings only: {}{}", r.stdout, r.stderr);
    assert_eq!(
        rules_of(&r.stdout, "lint/bad.avsc"),
        [
            "record-naming",
            "doc-required",
            "field-naming",
            "doc-required",
            "pii-names",
            "union-width"
        ]
    );
    let proto = rules_of(&r.stdout, "lint/bad.proto");
    for rule in [
        "record-naming",
        "doc-required",
        "field-naming",
        "pii-names",
        "union-width",
    ] {
        assert!(proto.iter().any(|r| r == rule), "{rule} in {proto:?}");
    }
    assert_eq!(
        rules_of(&r.stdout, "lint/bad.json"),
        [
            "doc-required",
            "field-naming",
            "doc-required",
            "pii-names",
            "union-width",
            "record-naming"
        ]
    );
    assert!(r.stdout.contains("warning pii-names at /fields/1 (line 6): field 'email' looks like personal data (email) but is not tagged PII"), "{}", r.stdout);
    assert!(r.stdout.contains("warning pii-names at crm.customer.phone_number (line 6): field 'phone_number' looks like personal data (phone_number)"), "{}", r.stdout);
    assert!(r.stdout.contains("warning pii-names at #/properties/dateOfBirth (line 4): field 'dateOfBirth' looks like personal data (date_of_birth)"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "warning union-width at crm.customer.contact (line 7): oneof 'contact' has 4 branches"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("3 schemas linted: 0 errors, 23 warnings\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn docs_pii_tags_and_conventions_silence_every_rule() {
    let r = accord(&[
        "lint",
        "lint/good.avsc",
        "lint/good.proto",
        "lint/good.json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "OK     lint/good.avsc  AVRO\nOK     lint/good.proto  PROTOBUF\nOK     lint/good.json  JSON\n3 schemas linted: no findings\n");
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

fn copy(dir: &Path, fixture: &str, to: &str) {
    std::fs::copy(fixtures().join(fixture), dir.join(to)).unwrap();
}

#[test]
fn manifest_rules_turn_errors_on_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(d, "lint/bad.avsc", "customer.avsc");
    write(
        d,
        "accord.yaml",
        "schemas:\n  - {file: customer.avsc, subject: customers-value}\nlint:\n  pii-names: error\n  union-width: {level: warning, max: 4}\n",
    );
    // Rules not named are off; only the PII error remains.
    let r = accord_in(d, &["lint"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "FAILED customer.avsc (customers-value)  AVRO\n  error   pii-names at /fields/1 (line 6): field 'email' looks like personal data (email) but is not tagged PII\n1 schema linted, 1 with errors: 1 error, 0 warnings\n"
    );
    // Tagging the field PII silences it.
    let tagged = std::fs::read_to_string(d.join("customer.avsc"))
        .unwrap()
        .replace(
            "\"doc\": \"Contact address.\"",
            "\"doc\": \"Contact address.\", \"confluent:tags\": [\"PII\"]",
        );
    write(d, "customer.avsc", &tagged);
    let r = accord_in(d, &["lint", "customer.avsc"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "OK     customer.avsc (customers-value)  AVRO\n1 schema linted: no findings\n"
    );
}

#[test]
fn rule_options_style_max_and_extra_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "loyalty.avsc",
        r#"{"type": "record", "name": "Loyalty", "fields": [
  {"name": "loyaltyNumber", "type": "string"},
  {"name": "tier_name", "type": ["null", "int", "string", "bytes"]}
]}"#,
    );
    write(
        d,
        "accord.yaml",
        "schemas: []\nlint:\n  field-naming: {level: error, style: camelCase}\n  pii-names: {level: error, patterns: [loyalty_number]}\n  union-width: {level: error, max: 4}\n  record-naming: error\n",
    );
    let r = accord_in(d, &["lint", "loyalty.avsc"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "FAILED loyalty.avsc  AVRO\n  error   pii-names at /fields/0 (line 2): field 'loyaltyNumber' looks like personal data (loyalty_number) but is not tagged PII\n  error   field-naming at /fields/1 (line 3): field 'tier_name' is not camelCase\n1 schema linted, 1 with errors: 2 errors, 0 warnings\n"
    );
}

#[test]
fn lint_without_files_lints_every_mapped_schema_with_references() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy(d, "avro/address.avsc", "address.avsc");
    copy(d, "avro/customer_v1.avsc", "customer.avsc");
    write(
        d,
        "accord.yaml",
        "schemas:\n  - {file: address.avsc, subject: a}\n  - file: customer.avsc\n    subject: c\n    references: [{name: com.acme.Address, file: address.avsc}]\nlint:\n  record-naming: error\n  field-naming: error\n",
    );
    let r = accord_in(d, &["lint"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "OK     address.avsc (a)  AVRO\nOK     customer.avsc (c)  AVRO\n2 schemas linted: no findings\n");
    // The referencing file named alone still gets its references from the manifest.
    let r = accord_in(d, &["lint", "./customer.avsc"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join(".git")).unwrap();
    let r = accord_in(d, &["lint"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: lint: name the files to lint, or run it where an accord.yaml maps the schemas\n"
    );

    let r = accord(&["lint", "avro/broken.avsc"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("accord: avro/broken.avsc: Invalid Avro schema"),
        "{}",
        r.stderr
    );

    write(
        d,
        "accord.yaml",
        "schemas: []\nlint:\n  union-width: {level: error, max: 0}\n",
    );
    let r = accord_in(d, &["lint"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: accord.yaml: lint.union-width.max: expected a positive integer\n"
    );

    write(
        d,
        "accord.yaml",
        "schemas: []\nlint:\n  doc-required: loud\n",
    );
    let r = accord_in(d, &["lint"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "accord: accord.yaml: lint.doc-required: unknown level 'loud' (expected off, warning or error)\n");
}
