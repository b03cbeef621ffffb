//! The report formats against golden files (`tests/offline/golden/`; run with
//! `ACCORD_UPDATE_GOLDEN=1` to rewrite them after a deliberate change), and colour rules.

#[path = "offline/common.rs"]
mod common;

use common::{accord, fixtures, golden};

const COMPAT: &[&str] = &["compat", "avro/order_v1.avsc", "avro/order_v3_bad.avsc"];
const COMPAT_ALL: &[&str] = &[
    "compat",
    "--level",
    "FULL_TRANSITIVE",
    "avro/order_v1.avsc",
    "avro/order_v2_ok.avsc",
    "avro/order_v3_bad.avsc",
];
const LINT: &[&str] = &[
    "lint",
    "lint/bad.avsc",
    "lint/good.avsc",
    "lint/bad.proto",
    "lint/bad.json",
];

fn run(output: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec!["--output", output];
    all.extend_from_slice(args);
    let r = accord(&all);
    assert_eq!(r.stderr, "");
    (r.code, r.stdout)
}

#[test]
fn compat_json_golden_and_structure() {
    let (code, out) = run("json", COMPAT_ALL);
    assert_eq!(code, 1);
    golden("compat.json", &out);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["ok"], false);
    assert_eq!(v["summary"]["errors"], 7);
    assert_eq!(v["checks"][0]["findings"][0]["line"], 7);
}

#[test]
fn compat_junit_golden() {
    let (code, out) = run("junit", COMPAT_ALL);
    assert_eq!(code, 1);
    golden("compat.junit.xml", &out);
    let (code, out) = run(
        "junit",
        &["compat", "avro/order_v1.avsc", "avro/order_v2_ok.avsc"],
    );
    assert_eq!(code, 0);
    golden("compat_ok.junit.xml", &out);
}

#[test]
fn compat_github_golden_points_at_lines() {
    let (code, out) = run("github", COMPAT);
    assert_eq!(code, 1);
    golden("compat.github.txt", &out);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("::error file=avro/order_v3_bad.avsc,line=7,title=TYPE_MISMATCH::/fields/0/type vs version 1: "));
    assert!(lines[1].starts_with("::error file=avro/order_v3_bad.avsc,line=10,title=READER_FIELD_MISSING_DEFAULT_VALUE::/fields/3 vs version 1: "));
    let (_, out) = run(
        "github",
        &["compat", "proto/order_v1.proto", "proto/order_v3_bad.proto"],
    );
    assert!(out.starts_with("::error file=proto/order_v3_bad.proto,line=12,title=FIELD_SCALAR_KIND_CHANGED::shop.v1.Line.qty vs version 1: "), "{out}");
    let (_, out) = run(
        "github",
        &["compat", "json/order_v1.json", "json/order_v2_bad.json"],
    );
    assert!(
        out.starts_with("::error file=json/order_v2_bad.json,line=7,title=MAX_LENGTH_ADDED::"),
        "{out}"
    );
}

#[test]
fn compat_text_golden() {
    let (code, out) = run("text", COMPAT_ALL);
    assert_eq!(code, 1);
    golden("compat.txt", &out);
}

#[test]
fn lint_goldens() {
    for (format, name) in [
        ("json", "lint.json"),
        ("junit", "lint.junit.xml"),
        ("github", "lint.github.txt"),
        ("text", "lint.txt"),
    ] {
        let (code, out) = run(format, LINT);
        assert_eq!(code, 0, "{format}");
        golden(name, &out);
    }
    let (_, out) = run("github", LINT);
    assert!(out.contains("::warning file=lint/bad.proto,line=7,title=union-width::crm.customer.contact: oneof 'contact' has 4 branches, more than the 3 allowed\n"), "{out}");
}

#[test]
fn no_ansi_escapes_when_not_a_terminal_or_no_color_is_set() {
    for no_color in [None, Some("1"), Some("")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accord"));
        cmd.args(COMPAT).current_dir(fixtures());
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            !out.stdout.contains(&0x1b),
            "{no_color:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
