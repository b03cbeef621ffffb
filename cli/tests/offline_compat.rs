//! `accord compat`: offline checks of OLD... NEW with the real binary, every format,
//! references and every exit code.

#[path = "offline/common.rs"]
mod common;

use common::{accord, accord_in};

#[test]
fn avro_compatible_change_exits_0() {
    let r = accord(&["compat", "avro/order_v1.avsc", "avro/order_v2_ok.avsc"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with("OK     avro/order_v2_ok.avsc  AVRO BACKWARD\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("1 schema checked: no findings\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn avro_incompatible_change_exits_1_and_prints_every_incompatibility() {
    let r = accord(&[
        "compat",
        "--level",
        "BACKWARD",
        "avro/order_v1.avsc",
        "avro/order_v3_bad.avsc",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("FAILED avro/order_v3_bad.avsc"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("error   TYPE_MISMATCH at /fields/0/type (line 7) vs version 1 [backward]: The type (path '/fields/0/type')"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("error   READER_FIELD_MISSING_DEFAULT_VALUE at /fields/3 (line 10) vs version 1 [backward]: The field 'channel'"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .ends_with("1 schema checked, 1 incompatible: 2 errors, 0 warnings\n"));
    assert_eq!(r.stderr, "");
}

#[test]
fn transitive_levels_compare_with_every_old_version_in_the_order_given() {
    let files = [
        "avro/order_v1.avsc",
        "avro/order_v2_ok.avsc",
        "avro/order_v3_bad.avsc",
    ];
    let mut args = vec!["compat", "--level", "full_transitive"];
    args.extend(files);
    let r = accord(&args);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("AVRO FULL_TRANSITIVE"));
    assert!(r.stdout.contains("vs version 1 [forward]"), "{}", r.stdout);
    assert!(r.stdout.contains("vs version 2 [backward]"), "{}", r.stdout);
    // v2 -> v3 only breaks backward; INT vs LONG only exists against version 1 (forward).
    assert!(
        r.stdout
            .contains("TYPE_MISMATCH at /fields/1/type (line 8) vs version 1 [forward]"),
        "{}",
        r.stdout
    );
    // Non-transitive levels compare with the last OLD only; transitive ones with all.
    let olds = [
        "avro/order_v3_bad.avsc",
        "avro/order_v2_ok.avsc",
        "avro/order_v2_ok.avsc",
    ];
    let r = accord(&[&["compat", "--level", "BACKWARD"][..], &olds[..]].concat());
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = accord(&[&["compat", "--level", "BACKWARD_TRANSITIVE"][..], &olds[..]].concat());
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("TYPE_MISMATCH at /fields/0/type (line 7) vs version 1 [backward]"),
        "{}",
        r.stdout
    );
}

#[test]
fn forward_findings_are_located_in_the_new_file_by_field_name() {
    // FORWARD: the old schema is the reader, so accord-compat's paths point into it;
    // they are carried over to the new file by field name.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("old.avsc"),
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[\n {\"name\":\"a\",\"type\":\"int\"},\n {\"name\":\"b\",\"type\":\"int\"}\n]}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("new.avsc"),
        "{\"type\":\"record\",\"name\":\"R\",\n\"fields\":[\n\n\n {\"name\":\"b\",\"type\":\"long\"}\n]}",
    )
    .unwrap();
    let r = accord_in(
        dir.path(),
        &["compat", "--level", "FORWARD", "old.avsc", "new.avsc"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // /fields/1/type in the old reader is field `b`, which is on line 5 of the new file.
    assert!(
        r.stdout
            .contains("TYPE_MISMATCH at /fields/1/type (line 5) vs version 1 [forward]"),
        "{}",
        r.stdout
    );
    // /fields/0 (`a`, removed) falls back to the `fields` line of the new file.
    assert!(
        r.stdout
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0 (line 2)"),
        "{}",
        r.stdout
    );
}

#[test]
fn avro_references_are_resolved_with_reference_flags() {
    let r = accord(&[
        "compat",
        "--reference",
        "com.acme.Address=avro/address.avsc",
        "avro/customer_v1.avsc",
        "avro/customer_v2.avsc",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = accord(&["compat", "avro/customer_v1.avsc", "avro/customer_v2.avsc"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("accord: avro/customer_v1.avsc: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("com.acme.Address"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn protobuf_compatible_incompatible_and_references() {
    let r = accord(&["compat", "proto/order_v1.proto", "proto/order_v2_ok.proto"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PROTOBUF BACKWARD"));
    let r = accord(&["compat", "proto/order_v1.proto", "proto/order_v3_bad.proto"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "error   FIELD_SCALAR_KIND_CHANGED at shop.v1.Line.qty (line 12) vs version 1"
        ),
        "{}",
        r.stdout
    );
    let r = accord(&[
        "compat",
        "--level",
        "FULL",
        "--reference",
        "shop/common.proto=proto/common.proto",
        "proto/invoice_v1.proto",
        "proto/invoice_v2.proto",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = accord(&["compat", "proto/invoice_v1.proto", "proto/invoice_v2.proto"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("accord: proto/invoice_v1.proto: "),
        "{}",
        r.stderr
    );
}

#[test]
fn json_schema_compatible_and_incompatible() {
    let r = accord(&["compat", "json/order_v1.json", "json/order_v1.json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = accord(&["compat", "json/order_v1.json", "json/order_v2_bad.json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("MAX_LENGTH_ADDED at #/properties/note/maxLength (line 7) vs version 1"),
        "{}",
        r.stdout
    );
}

#[test]
fn format_flag_overrides_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let f = common::fixtures();
    std::fs::copy(f.join("avro/order_v1.avsc"), dir.path().join("a.txt")).unwrap();
    std::fs::copy(f.join("avro/order_v3_bad.avsc"), dir.path().join("b.txt")).unwrap();
    let r = accord_in(dir.path(), &["compat", "a.txt", "b.txt"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("b.txt: cannot tell the format"),
        "{}",
        r.stderr
    );
    let r = accord_in(
        dir.path(),
        &["compat", "--format", "avro", "a.txt", "b.txt"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = accord_in(
        dir.path(),
        &["compat", "--format", "AVROO", "a.txt", "b.txt"],
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: --format: unknown format 'AVROO' (expected AVRO, PROTOBUF or JSON)\n"
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let r = accord(&["compat", "avro/order_v1.avsc", "avro/broken.avsc"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "accord: avro/broken.avsc: Invalid Avro schema: unknown type name \"nope\""
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    assert_eq!(r.stdout, "");

    let r = accord(&[
        "compat",
        "--level",
        "SIDEWAYS",
        "avro/order_v1.avsc",
        "avro/order_v2_ok.avsc",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("accord: --level: unknown compatibility level 'SIDEWAYS'"),
        "{}",
        r.stderr
    );

    let r = accord(&["compat", "avro/missing.avsc", "avro/order_v2_ok.avsc"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("accord: avro/missing.avsc: cannot read: "),
        "{}",
        r.stderr
    );

    let r = accord(&[
        "compat",
        "--reference",
        "noequals",
        "avro/order_v1.avsc",
        "avro/order_v2_ok.avsc",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "accord: --reference 'noequals': expected NAME=FILE\n"
    );

    // clap's own usage errors are exit 2 too.
    let r = accord(&["compat", "avro/order_v1.avsc"]);
    assert_eq!(r.code, 2);
}
