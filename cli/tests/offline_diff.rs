//! `accord diff --base REV` against temporary git repositories: compatible and
//! incompatible changes, changed references, new schemas, levels from the manifest, bad
//! revisions and bad manifests.

#[path = "offline/common.rs"]
mod common;

use common::{accord_in, git};
use std::path::Path;

const MANIFEST: &str = "\
compatibility: BACKWARD
schemas:
  - file: schemas/address.avsc
    subject: address-value
  - file: schemas/customer.avsc
    subject: customers-value
    references:
      - name: com.acme.Address
        file: schemas/address.avsc
  - file: schemas/order.avsc
    subject: orders-value
  - file: schemas/line.proto
    subject: lines-value
    compatibility: FULL
";

const ADDRESS: &str = r#"{
  "type": "record",
  "name": "Address",
  "namespace": "com.acme",
  "fields": [
    {"name": "street", "type": "string"},
    {"name": "zip", "type": "string"}
  ]
}
"#;

const CUSTOMER: &str = r#"{
  "type": "record",
  "name": "Customer",
  "namespace": "com.acme",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "home", "type": "com.acme.Address"}
  ]
}
"#;

const ORDER: &str = r#"{
  "type": "record",
  "name": "Order",
  "namespace": "com.acme",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "amount", "type": "int"}
  ]
}
"#;

const LINE: &str = "syntax = \"proto3\";\npackage shop;\n\nmessage Line {\n  string sku = 1;\n  int32 qty = 2;\n}\n";

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with the manifest and four schemas committed on `main`.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    write(d, "accord.yaml", MANIFEST);
    write(d, "schemas/address.avsc", ADDRESS);
    write(d, "schemas/customer.avsc", CUSTOMER);
    write(d, "schemas/order.avsc", ORDER);
    write(d, "schemas/line.proto", LINE);
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "schemas"]);
    dir
}

fn compatible_order_change(d: &Path) {
    // A new field with a default, and int promoted to long: BACKWARD-compatible.
    let text = ORDER
        .replace("\"type\": \"int\"", "\"type\": \"long\"")
        .replace(
            "{\"name\": \"amount\", \"type\": \"long\"}",
            "{\"name\": \"amount\", \"type\": \"long\"},\n    {\"name\": \"currency\", \"type\": \"string\", \"default\": \"EUR\"}",
        );
    write(d, "schemas/order.avsc", &text);
}

#[test]
fn no_change_checks_nothing_and_exits_0() {
    let dir = repo();
    let r = accord_in(dir.path(), &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "0 schemas checked: no findings\n");
}

#[test]
fn compatible_uncommitted_change_exits_0() {
    let dir = repo();
    compatible_order_change(dir.path());
    let r = accord_in(dir.path(), &["diff", "--base", "main"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "OK     schemas/order.avsc (orders-value)  AVRO BACKWARD\n1 schema checked: no findings\n"
    );
}

#[test]
fn incompatible_change_exits_1_naming_the_file_and_line() {
    let dir = repo();
    let d = dir.path();
    compatible_order_change(d);
    // qty: int32 -> string, under the entry's FULL level.
    write(
        d,
        "schemas/line.proto",
        &LINE.replace("int32 qty", "string qty"),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("OK     schemas/order.avsc (orders-value)  AVRO BACKWARD\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("FAILED schemas/line.proto (lines-value)  PROTOBUF FULL\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("error   FIELD_SCALAR_KIND_CHANGED at shop.Line.qty (line 6) [backward]"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("[forward]"),
        "FULL checks both ways: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .ends_with("2 schemas checked, 1 incompatible: 2 errors, 0 warnings\n"),
        "{}",
        r.stdout
    );

    let gh = accord_in(d, &["--output", "github", "diff", "--base", "HEAD"]);
    assert_eq!(gh.code, 1);
    assert!(
        gh.stdout.contains("::error file=schemas/line.proto,line=6,title=FIELD_SCALAR_KIND_CHANGED::shop.Line.qty: "),
        "{}",
        gh.stdout
    );

    // Committed: diff against the previous commit sees the same.
    git(d, &["commit", "-qam", "break"]);
    let r = accord_in(d, &["diff", "--base", "HEAD~1"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("FAILED schemas/line.proto"),
        "{}",
        r.stdout
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn a_changed_reference_checks_the_schemas_that_use_it() {
    let dir = repo();
    let d = dir.path();
    // A new field without a default in Address breaks BACKWARD for Address and Customer.
    write(
        d,
        "schemas/address.avsc",
        &ADDRESS.replace(
            "{\"name\": \"zip\", \"type\": \"string\"}",
            "{\"name\": \"zip\", \"type\": \"string\"},\n    {\"name\": \"country\", \"type\": \"string\"}",
        ),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("FAILED schemas/address.avsc (address-value)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("FAILED schemas/customer.avsc (customers-value)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2 (line 8)"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("order.avsc"), "{}", r.stdout);
}

#[test]
fn new_untracked_schemas_pass_as_new() {
    let dir = repo();
    let d = dir.path();
    write(d, "schemas/refund.avsc", &ORDER.replace("Order", "Refund"));
    write(
        d,
        "accord.yaml",
        &format!("{MANIFEST}  - file: schemas/refund.avsc\n    subject: refunds-value\n"),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout,
        "OK     schemas/refund.avsc (refunds-value)  AVRO (new: no earlier version to compare with)\n1 schema checked: no findings\n"
    );
    let j = accord_in(d, &["--output", "json", "diff", "--base", "HEAD"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["checks"][0]["level"], serde_json::Value::Null);
    assert_eq!(v["ok"], true);
}

#[test]
fn levels_come_from_the_entry_then_the_manifest() {
    let dir = repo();
    let d = dir.path();
    // Removing a field without default breaks FORWARD, not BACKWARD.
    write(
        d,
        "schemas/order.avsc",
        &ORDER.replace(",\n    {\"name\": \"amount\", \"type\": \"int\"}", ""),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(
        r.code, 0,
        "BACKWARD allows removing a field: {}{}",
        r.stdout, r.stderr
    );
    write(
        d,
        "accord.yaml",
        &MANIFEST.replace(
            "compatibility: BACKWARD\n",
            "compatibility: FORWARD_TRANSITIVE\n",
        ),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AVRO FORWARD_TRANSITIVE"), "{}", r.stdout);
    write(
        d,
        "accord.yaml",
        &MANIFEST.replace(
            "subject: orders-value\n",
            "subject: orders-value\n    compatibility: NONE\n",
        ),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AVRO NONE"), "{}", r.stdout);
}

#[test]
fn runs_from_a_subdirectory_with_paths_relative_to_the_manifest() {
    let dir = repo();
    let d = dir.path();
    compatible_order_change(d);
    let r = accord_in(&d.join("schemas"), &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("OK     schemas/order.avsc"),
        "{}",
        r.stdout
    );
}

#[test]
fn bad_revision_exits_2_with_gits_cause() {
    let dir = repo();
    let r = accord_in(dir.path(), &["diff", "--base", "no-such-branch"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "accord: git: bad revision 'no-such-branch'\n");
    let r = accord_in(dir.path(), &["diff", "--base=--output=x"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a git revision"), "{}", r.stderr);
}

#[test]
fn missing_or_bad_manifest_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let r = accord_in(dir.path(), &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("accord: diff: no accord.yaml found"),
        "{}",
        r.stderr
    );

    let dir = repo();
    let d = dir.path();
    write(
        d,
        "accord.yaml",
        &MANIFEST.replace(
            "subject: lines-value\n",
            "subject: lines-value\n    format: PROTOBUFF\n",
        ),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: accord.yaml: schemas[3].format: unknown format 'PROTOBUFF' (expected AVRO, PROTOBUF or JSON)\n"
    );
    write(
        d,
        "accord.yaml",
        &format!("{MANIFEST}  - file: schemas/x.avsc\n    subject: orders-value\n"),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: accord.yaml: schemas[4].subject: 'orders-value' is already mapped by schemas[2]\n"
    );
    write(
        d,
        "accord.yaml",
        &MANIFEST.replace(
            "    subject: orders-value\n",
            "    subject: orders-value\n    colour: red\n",
        ),
    );
    let r = accord_in(d, &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("accord: accord.yaml: schemas[2]: unknown field `colour`"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    // An explicit --manifest that does not exist.
    let r = accord_in(d, &["--manifest", "nope.yaml", "diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("accord: nope.yaml: cannot read the manifest"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_broken_new_schema_exits_2() {
    let dir = repo();
    write(dir.path(), "schemas/order.avsc", "{\"type\": \"record\"");
    let r = accord_in(dir.path(), &["diff", "--base", "HEAD"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("accord: schemas/order.avsc: "),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
}
